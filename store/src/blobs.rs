//! Installed apps' files (components and UI sections) by name, in the data
//! folder: the embedded backend of [`BlobStore`]. Writes go through a
//! temporary file, an fsync and a rename, so a reader never sees half a file
//! and a write that returned survives a crash.

use crate::{BlobStore, StoreError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` through a temporary file in the same folder, an
/// fsync and a rename, so a reader never sees a half-written file and a
/// write that returned survives a crash. The blobs' writes, and the other
/// files the host keeps (compiled artifacts, packed packages).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Files under one folder.
#[derive(Debug, Clone)]
pub struct FileBlobs {
    root: PathBuf,
}

impl FileBlobs {
    pub fn new(root: impl Into<PathBuf>) -> FileBlobs {
        FileBlobs { root: root.into() }
    }

    /// The file of `name`.
    fn file(&self, name: &str) -> Result<PathBuf, StoreError> {
        check_name(name)?;
        Ok(self.root.join(name))
    }
}

/// A blob's name must be a relative path of plain segments, on every
/// backend (so a folder backend can never be steered outside its folder).
pub(crate) fn check_name(name: &str) -> Result<(), StoreError> {
    // Checked segment by segment: `Path::components` would drop a `.`.
    let plain = name
        .split('/')
        .all(|seg| !matches!(seg, "" | "." | "..") && !seg.contains(['\\', '\0']));
    if !plain {
        return Err(StoreError::Io(format!(
            "blob name `{name}` is not a relative path of plain segments"
        )));
    }
    Ok(())
}

fn io(name: &str, e: std::io::Error) -> StoreError {
    StoreError::Io(format!("{name}: {e}"))
}

impl BlobStore for FileBlobs {
    fn put(&self, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
        write_atomic(&self.file(name)?, bytes).map_err(|e| io(name, e))
    }

    fn get(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match std::fs::read(self.file(name)?) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(name, e)),
        }
    }

    fn read_at(&self, name: &str, offset: u64, len: usize) -> Result<Option<Vec<u8>>, StoreError> {
        let mut f = match std::fs::File::open(self.file(name)?) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(name, e)),
        };
        f.seek(std::io::SeekFrom::Start(offset))
            .map_err(|e| io(name, e))?;
        let mut bytes = vec![0; len];
        f.read_exact(&mut bytes).map_err(|e| io(name, e))?;
        Ok(Some(bytes))
    }

    fn remove(&self, name: &str) -> Result<bool, StoreError> {
        match std::fs::remove_file(self.file(name)?) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io(name, e)),
        }
    }
}
