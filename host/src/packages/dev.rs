//! A developer's app on disk — a manifest and its built component — read
//! the way `install --dev` and `pack` read it: every file bounded, only
//! regular files, and the component confined to the manifest's folder unless
//! the operator named it on the command line. A manifest from elsewhere must
//! not make the command line read, sign or upload an arbitrary file.

use super::{InstallError, Manifest};
use crate::fsutil::read_bounded;
use std::path::{Path, PathBuf};

/// Which component file a developer install or `pack` reads.
#[derive(Debug, Clone, Copy)]
pub enum ComponentFile<'a> {
    /// The manifest's `component`, which must resolve (after `..` and
    /// symlinks) inside the manifest's folder. What the command line uses.
    Confined,
    /// The manifest's `component`, wherever it points: for programs that
    /// wrote the manifest themselves (tests, embedding the host).
    AsWritten,
    /// This file, named on the command line (`--component`); the manifest's
    /// `component` field is not used.
    Given(&'a Path),
}

/// A manifest and its component, read and size-checked.
#[derive(Debug, Clone)]
pub struct DevApp {
    /// The manifest as written (what a package carries).
    pub manifest_toml: String,
    /// The parsed manifest; its `component` is the file that was read.
    pub manifest: Manifest,
    pub component: Vec<u8>,
    /// The manifest file, for messages.
    pub manifest_path: PathBuf,
}

impl DevApp {
    /// Reads the manifest at `manifest_path` and the component `which`
    /// names, refusing a component over `max_component_bytes` before
    /// reading it (and never reading more than one byte past it).
    pub fn read(
        manifest_path: &Path,
        which: ComponentFile<'_>,
        max_component_bytes: u64,
    ) -> Result<DevApp, InstallError> {
        let (mut manifest, manifest_toml) = Manifest::load_with_text(manifest_path)?;
        let path = match which {
            ComponentFile::Given(p) => p.to_path_buf(),
            ComponentFile::AsWritten => manifest.component.clone(),
            ComponentFile::Confined => confined(manifest_path, &manifest.component)?,
        };
        let component = read_bounded(&path, "component", max_component_bytes)?;
        check_component_header(&component).map_err(|detail| InstallError::Component {
            file: path.display().to_string(),
            detail,
        })?;
        manifest.component = path;
        Ok(DevApp {
            manifest_toml,
            manifest,
            component,
            manifest_path: manifest_path.to_path_buf(),
        })
    }
}

/// `component` (already joined to the manifest's folder) if it resolves
/// inside that folder.
fn confined(manifest_path: &Path, component: &Path) -> Result<PathBuf, InstallError> {
    let unreadable = |path: &Path, e: std::io::Error| {
        InstallError::File(crate::fsutil::FileError::Unreadable {
            path: path.display().to_string(),
            detail: e.to_string(),
        })
    };
    let folder = manifest_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let folder = std::fs::canonicalize(folder).map_err(|e| unreadable(folder, e))?;
    let resolved = std::fs::canonicalize(component).map_err(|e| unreadable(component, e))?;
    if !resolved.starts_with(&folder) {
        return Err(InstallError::ComponentOutside {
            manifest: manifest_path.display().to_string(),
            component: component.display().to_string(),
            resolved: resolved.display().to_string(),
            folder: folder.display().to_string(),
        });
    }
    Ok(resolved)
}

/// Whether `bytes` start like a WebAssembly component. Checked before the
/// compiler sees them, so a wrong file gets a plain answer that quotes none
/// of its bytes.
pub fn check_component_header(bytes: &[u8]) -> Result<(), String> {
    match bytes.get(..8) {
        Some([0, b'a', b's', b'm', _, _, 1, 0]) => Ok(()),
        Some([0, b'a', b's', b'm', _, _, 0, 0]) => Err(
            "a core WebAssembly module, not a component: build it for wasm32-wasip2 (or wrap it with `wasm-tools component new`)"
                .into(),
        ),
        _ => Err(format!(
            "not a WebAssembly component ({} bytes that do not start with the `\\0asm` header)",
            bytes.len()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_component_headers_pass() {
        assert!(check_component_header(b"\0asm\x0d\0\x01\0rest").is_ok());
        let core = check_component_header(b"\0asm\x01\0\0\0")
            .err()
            .unwrap_or_default();
        assert!(core.contains("core WebAssembly module"), "{core}");
        let text = check_component_header(b"password=hunter2")
            .err()
            .unwrap_or_default();
        assert!(
            !text.contains("hunter2") && text.contains("16 bytes"),
            "{text}"
        );
        assert!(check_component_header(b"").is_err());
    }
}
