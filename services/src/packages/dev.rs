//! A developer's app on disk — a manifest, its built component and its UI
//! folder — read the way `install --dev` and `pack` read it: every file
//! bounded, only regular files, and the component and UI folder confined to
//! the manifest's folder unless the operator named them on the command line
//! (and no symlink leads out of the UI folder). A manifest from elsewhere
//! must not make the command line read, sign or upload an arbitrary file.

use super::ui::{MAX_UI_FILES, check_segment, over_limit};
use super::{InstallError, Manifest, Ui, UiError};
use crate::config::HostConfig;
use crate::fsutil::{FileError, read_bounded};
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

/// Which UI folder a developer install or `pack` reads (for a manifest with
/// a `[ui]` table; without one there is no UI).
#[derive(Debug, Clone, Copy)]
pub enum UiFolder<'a> {
    /// The manifest's `[ui] dir`, which must resolve inside the manifest's
    /// folder. What the command line uses.
    Confined,
    /// The manifest's `[ui] dir`, wherever it points.
    AsWritten,
    /// This folder, named on the command line (`--ui`); the manifest's
    /// `[ui] dir` is not used (its `entry` and `icon` are).
    Given(&'a Path),
}

/// A manifest, its component and its UI, read and size-checked.
#[derive(Debug, Clone)]
pub struct DevApp {
    /// The manifest as written (what a package carries).
    pub manifest_toml: String,
    /// The parsed manifest; its `component` is the file that was read, and
    /// its `[ui] dir` the folder that was.
    pub manifest: Manifest,
    pub component: Vec<u8>,
    /// The UI, checked against the manifest's `[ui]` table.
    pub ui: Option<Ui>,
    /// The manifest file, for messages.
    pub manifest_path: PathBuf,
}

impl DevApp {
    /// Reads the manifest at `manifest_path`, the component `which` names
    /// and the UI folder `ui` names. A component over the host's
    /// `max_component_bytes`, or a UI over its `max_ui_bytes`, is refused
    /// before it is read (and never read more than one byte past the limit).
    pub fn read(
        manifest_path: &Path,
        which: ComponentFile<'_>,
        ui: UiFolder<'_>,
        config: &HostConfig,
    ) -> Result<DevApp, InstallError> {
        let (mut manifest, manifest_toml) = Manifest::load_with_text(manifest_path)?;
        let path = match which {
            ComponentFile::Given(p) => p.to_path_buf(),
            ComponentFile::AsWritten => manifest.component.clone(),
            ComponentFile::Confined => confined(manifest_path, &manifest.component)?,
        };
        let component = read_bounded(&path, "component", config.max_component_bytes)?;
        check_component_header(&component).map_err(|detail| InstallError::Component {
            file: path.display().to_string(),
            detail,
        })?;
        manifest.component = path;
        let ui = match (&mut manifest.ui, ui) {
            (None, UiFolder::Given(dir)) => {
                return Err(UiError::Whole(format!(
                    "folder {} is given with --ui, but {} has no [ui] table to say its entry page",
                    dir.display(),
                    manifest_path.display()
                ))
                .into());
            }
            (None, _) => None,
            (Some(spec), which) => {
                let dir = match which {
                    UiFolder::Given(dir) => dir.to_path_buf(),
                    UiFolder::AsWritten => spec.dir.clone(),
                    UiFolder::Confined => confined_ui(manifest_path, &spec.dir)?,
                };
                let ui = read_ui_folder(&dir, config.max_ui_bytes)?;
                ui.check_manifest(spec)?;
                spec.dir = dir;
                Some(ui)
            }
        };
        Ok(DevApp {
            manifest_toml,
            manifest,
            component,
            ui,
            manifest_path: manifest_path.to_path_buf(),
        })
    }
}

/// The manifest's folder, resolved.
fn manifest_folder(manifest_path: &Path) -> Result<PathBuf, InstallError> {
    let folder = manifest_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::canonicalize(folder).map_err(|e| unreadable(folder, e))
}

fn unreadable(path: &Path, e: std::io::Error) -> InstallError {
    InstallError::File(FileError::Unreadable {
        path: path.display().to_string(),
        detail: e.to_string(),
    })
}

/// The UI folder `dir` (already joined to the manifest's folder) if it
/// resolves inside that folder.
fn confined_ui(manifest_path: &Path, dir: &Path) -> Result<PathBuf, InstallError> {
    let folder = manifest_folder(manifest_path)?;
    let resolved = std::fs::canonicalize(dir).map_err(|e| unreadable(dir, e))?;
    if !resolved.starts_with(&folder) {
        return Err(UiError::Whole(format!(
            "folder {} ({}: field `ui.dir`) resolves to {}, outside the manifest's folder {}; move the UI under that folder, or name it on the command line with --ui DIR",
            dir.display(),
            manifest_path.display(),
            resolved.display(),
            folder.display()
        ))
        .into());
    }
    Ok(resolved)
}

/// Reads every file under `dir` as a UI of at most `limit` bytes: names
/// checked before anything is read, each file's size checked against what
/// is left of the limit before and while reading it, symlinks followed
/// only to files inside `dir`, and at most [`MAX_UI_FILES`] files.
pub(crate) fn read_ui_folder(dir: &Path, limit: u64) -> Result<Ui, InstallError> {
    let root = std::fs::canonicalize(dir).map_err(|e| unreadable(dir, e))?;
    if !root.is_dir() {
        return Err(UiError::Whole(format!("folder {} is not a folder", dir.display())).into());
    }
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let mut total: u64 = 0;
    // (folder on disk, its path inside the UI)
    let mut folders = vec![(root.clone(), String::new())];
    while let Some((folder, prefix)) = folders.pop() {
        let listing = std::fs::read_dir(&folder).map_err(|e| unreadable(&folder, e))?;
        let mut entries = Vec::new();
        for entry in listing {
            entries.push(entry.map_err(|e| unreadable(&folder, e))?);
        }
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let disk = entry.path();
            let shown = disk.display().to_string();
            let name = entry.file_name();
            let name = name
                .to_str()
                .ok_or_else(|| UiError::file(shown.clone(), "the name is not UTF-8"))?;
            check_segment(name).map_err(|d| UiError::file(shown.clone(), d))?;
            let path = format!("{prefix}{name}");
            // Not followed: a symlink is judged by where it leads.
            let kind = entry.file_type().map_err(|e| unreadable(&disk, e))?;
            let source = if kind.is_symlink() {
                let target = std::fs::canonicalize(&disk).map_err(|e| unreadable(&disk, e))?;
                if !target.starts_with(&root) {
                    return Err(UiError::file(
                        shown,
                        format!(
                            "is a symlink to {}, outside the UI folder {}",
                            target.display(),
                            root.display()
                        ),
                    )
                    .into());
                }
                if target.is_dir() {
                    return Err(UiError::file(
                        shown,
                        "is a symlink to a folder; a UI's folders must be real folders",
                    )
                    .into());
                }
                target
            } else if kind.is_dir() {
                folders.push((disk, format!("{path}/")));
                continue;
            } else {
                disk
            };
            super::ui::check_path(&path).map_err(|d| UiError::file(shown.clone(), d))?;
            if files.len() == MAX_UI_FILES {
                return Err(UiError::Whole(format!(
                    "folder {} has more than {MAX_UI_FILES} files",
                    root.display()
                ))
                .into());
            }
            let left = limit.saturating_sub(total);
            let bytes = read_bounded(&source, "UI file", left).map_err(|e| match e {
                FileError::TooLarge { size, .. } => over_limit(
                    &shown,
                    total.saturating_add(size.unwrap_or(left.saturating_add(1))),
                    limit,
                ),
                other => UiError::file(shown.clone(), other.to_string()),
            })?;
            total += bytes.len() as u64;
            files.push((path, bytes));
        }
    }
    Ok(Ui::from_files(files, limit)?)
}

/// `component` (already joined to the manifest's folder) if it resolves
/// inside that folder.
fn confined(manifest_path: &Path, component: &Path) -> Result<PathBuf, InstallError> {
    let folder = manifest_folder(manifest_path)?;
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
