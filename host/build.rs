//! Embeds the web shell (`host/shell/`) in the binary: writes a table of
//! `include_bytes!` entries, one per file, that `src/http/shell.rs`
//! includes. Cargo reruns this when anything under `shell/` changes (a
//! directory given to `rerun-if-changed` is scanned whole), so an added,
//! changed or removed file is always picked up — and no Node is needed.

use std::path::{Path, PathBuf};

fn main() -> std::io::Result<()> {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let shell = manifest_dir.join("shell");
    println!("cargo:rerun-if-changed={}", shell.display());
    println!("cargo:rerun-if-changed=build.rs");
    let mut files = Vec::new();
    if shell.is_dir() {
        collect(&shell, &shell, &mut files)?;
    }
    files.sort();
    let mut out = String::from(
        "/// The shell's files: (path under host/shell, contents), sorted by path.\n\
         pub static FILES: &[(&str, &[u8])] = &[\n",
    );
    for (rel, abs) in &files {
        out.push_str(&format!("    ({rel:?}, include_bytes!({abs:?})),\n"));
    }
    out.push_str("];\n");
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default());
    std::fs::write(out_dir.join("shell_files.rs"), out)
}

/// Every file under `dir` (hidden ones skipped), as (`/`-separated path
/// relative to `root`, absolute path).
fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, String)>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            collect(root, &path, files)?;
        } else {
            let rel = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            files.push((rel, path.display().to_string()));
        }
    }
    Ok(())
}
