//! Small file helpers shared by packages, the command line and runtime:
//! atomic writes, and bounded reads of files the operator points at (which
//! may be huge, growing, or not files at all).

use std::io::Read;
use std::path::Path;

// Atomic writes are the store's (its blobs use them too).
pub use superapp_store::write_atomic;

/// Why a file could not be read. Codes are stable. No variant carries any
/// of the file's bytes: a file given by mistake may be a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    #[error("{path}: cannot read: {detail}")]
    Unreadable { path: String, detail: String },
    #[error("{path}: not a regular file (it is a {kind}); name a file")]
    NotAFile { path: String, kind: &'static str },
    #[error("{path}: the {what} is {}over the limit of {limit} bytes", size_text(*.size))]
    TooLarge {
        path: String,
        what: &'static str,
        /// None when the file grew past the limit while being read.
        size: Option<u64>,
        limit: u64,
    },
    #[error("{path}: the {what} is not UTF-8 text")]
    NotText { path: String, what: &'static str },
}

fn size_text(size: Option<u64>) -> String {
    size.map(|s| format!("{s} bytes, ")).unwrap_or_default()
}

impl FileError {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            FileError::Unreadable { .. } => "unreadable-file",
            FileError::NotAFile { .. } => "not-a-file",
            FileError::TooLarge { .. } => "too-large",
            FileError::NotText { .. } => "not-text",
        }
    }
}

fn kind_of(t: std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_char_device() {
            return "character device";
        }
        if t.is_block_device() {
            return "block device";
        }
        if t.is_fifo() {
            return "named pipe";
        }
        if t.is_socket() {
            return "socket";
        }
    }
    if t.is_dir() { "folder" } else { "special file" }
}

/// Reads the regular file at `path` (`what` names it in errors), refusing
/// anything else and anything over `limit` bytes: the size is checked before
/// reading, and at most `limit + 1` bytes are ever read, so a file that grows
/// meanwhile is refused too.
pub fn read_bounded(path: &Path, what: &'static str, limit: u64) -> Result<Vec<u8>, FileError> {
    let shown = path.display().to_string();
    let unreadable = |e: std::io::Error| FileError::Unreadable {
        path: shown.clone(),
        detail: e.to_string(),
    };
    let not_a_file = |t: std::fs::FileType| FileError::NotAFile {
        path: shown.clone(),
        kind: kind_of(t),
    };
    let too_large = |size: Option<u64>| FileError::TooLarge {
        path: shown.clone(),
        what,
        size,
        limit,
    };
    // Checked before opening: opening a named pipe would wait for a writer.
    let meta = std::fs::metadata(path).map_err(unreadable)?;
    if !meta.is_file() {
        return Err(not_a_file(meta.file_type()));
    }
    let file = std::fs::File::open(path).map_err(unreadable)?;
    // Again on the open file, in case the path was swapped in between.
    let meta = file.metadata().map_err(unreadable)?;
    if !meta.is_file() {
        return Err(not_a_file(meta.file_type()));
    }
    if meta.len() > limit {
        return Err(too_large(Some(meta.len())));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    if bytes.len() as u64 > limit {
        return Err(too_large(None));
    }
    Ok(bytes)
}

/// [`read_bounded`] for text files (manifests, key files).
pub fn read_text_bounded(path: &Path, what: &'static str, limit: u64) -> Result<String, FileError> {
    String::from_utf8(read_bounded(path, what, limit)?).map_err(|_| FileError::NotText {
        path: path.display().to_string(),
        what,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_over_the_limit_and_special_files_are_refused() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let small = dir.path().join("small");
        std::fs::write(&small, b"12345")?;
        assert_eq!(read_bounded(&small, "file", 5)?, b"12345");
        assert!(matches!(
            read_bounded(&small, "file", 4),
            Err(FileError::TooLarge { size: Some(5), .. })
        ));
        let e = read_bounded(dir.path(), "file", 4).err();
        assert!(
            matches!(e, Some(FileError::NotAFile { kind: "folder", .. })),
            "{e:?}"
        );
        #[cfg(unix)]
        {
            let e = read_bounded(Path::new("/dev/zero"), "file", 4).err();
            assert!(
                matches!(
                    e,
                    Some(FileError::NotAFile {
                        kind: "character device",
                        ..
                    })
                ),
                "{e:?}"
            );
        }
        let e = read_bounded(&dir.path().join("none"), "file", 4).err();
        assert!(matches!(e, Some(FileError::Unreadable { .. })), "{e:?}");
        Ok(())
    }
}
