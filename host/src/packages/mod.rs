//! Installed mini-apps: manifests, the import rule (deny by default), where
//! components and their precompiled artifacts live, and the install record
//! that makes an app visible only once everything it needs is on disk.

mod manifest;

pub use manifest::{
    Capability, CapabilityRequest, ImportNeed, Manifest, ManifestError, ManifestLimits,
    check_app_id,
};

use crate::fsutil::write_atomic;
use crate::store::{Db, StoreError, Tree};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// One installed app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppRecord {
    pub manifest: Manifest,
    /// Hex SHA-256 of the component bytes.
    pub component_sha256: String,
    pub component_bytes: u64,
    /// The component and its precompiled artifact, relative to the data folder.
    pub wasm_file: PathBuf,
    pub artifact_file: PathBuf,
    /// Unix seconds.
    pub installed_at: u64,
}

/// Why an install or removal was refused. Codes are stable.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error("{file}: {detail}")]
    Component { file: String, detail: String },
    #[error(
        "the component imports `{import}`, which needs the `{capability}` capability; declare it under [capabilities.{capability}] with a purpose"
    )]
    UndeclaredImport { import: String, capability: String },
    #[error("the component imports `{0}`, which this host does not provide")]
    UnknownImport(String),
    #[error("an app with id `{0}` is already installed (remove it first, or use --replace)")]
    AlreadyInstalled(String),
    #[error("no app with id `{0}` is installed")]
    NotInstalled(String),
    #[error("cannot write the app's files: {0}")]
    Io(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl InstallError {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            InstallError::Manifest(_) => "invalid-manifest",
            InstallError::Component { .. } => "invalid-component",
            InstallError::UndeclaredImport { .. } => "undeclared-import",
            InstallError::UnknownImport(_) => "unknown-import",
            InstallError::AlreadyInstalled(_) => "already-installed",
            InstallError::NotInstalled(_) => "not-installed",
            InstallError::Io(_) => "io",
            InstallError::Store(e) => e.code(),
        }
    }
}

/// The packages service.
#[derive(Clone)]
pub struct Packages {
    db: Db,
    apps: Tree<AppRecord>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Packages {
    pub fn open(db: &Db) -> Result<Packages, StoreError> {
        Ok(Packages {
            db: db.clone(),
            apps: db.tree("apps")?,
        })
    }

    /// The installed app `id`.
    pub fn get(&self, id: &str) -> Result<Option<AppRecord>, StoreError> {
        self.apps.get(id)
    }

    /// Every installed app, by id.
    pub fn list(&self) -> Result<Vec<AppRecord>, StoreError> {
        Ok(self.apps.all()?.into_iter().map(|(_, r)| r).collect())
    }

    /// Absolute path of a file named in a record.
    pub fn path(&self, relative: &Path) -> PathBuf {
        self.db.data_dir().join(relative)
    }

    /// Deny by default: every import must be a host interface, and every
    /// capability interface must be declared in the manifest.
    pub fn check_imports(manifest: &Manifest, imports: &[String]) -> Result<(), InstallError> {
        for import in imports {
            match Capability::for_import(import) {
                ImportNeed::Nothing => {}
                ImportNeed::Capability(cap) if manifest.capabilities.contains_key(&cap) => {}
                ImportNeed::Capability(cap) => {
                    return Err(InstallError::UndeclaredImport {
                        import: import.clone(),
                        capability: cap.to_string(),
                    });
                }
                ImportNeed::Unknown => return Err(InstallError::UnknownImport(import.clone())),
            }
        }
        Ok(())
    }

    /// Writes the component and its artifact, then the record (flushed).
    /// Until the record is written nothing is visible; on any failure the
    /// files written so far are removed.
    pub fn commit(
        &self,
        manifest: &Manifest,
        wasm: &[u8],
        artifact: &[u8],
        replace: bool,
    ) -> Result<AppRecord, InstallError> {
        let previous = self.apps.get(&manifest.id)?;
        if previous.is_some() && !replace {
            return Err(InstallError::AlreadyInstalled(manifest.id.clone()));
        }
        let sha = hex(&Sha256::digest(wasm));
        let stem = format!("{}-{}", manifest.version, &sha[..16]);
        let folder = PathBuf::from("components").join(&manifest.id);
        let record = AppRecord {
            manifest: manifest.clone(),
            component_sha256: sha,
            component_bytes: wasm.len() as u64,
            wasm_file: folder.join(format!("{stem}.wasm")),
            artifact_file: folder.join(format!("{stem}.cwasm")),
            installed_at: now_secs(),
        };
        let wasm_path = self.path(&record.wasm_file);
        let artifact_path = self.path(&record.artifact_file);
        let same_files = previous
            .as_ref()
            .is_some_and(|p| p.wasm_file == record.wasm_file);
        let cleanup = || {
            if !same_files {
                let _ = std::fs::remove_file(&wasm_path);
                let _ = std::fs::remove_file(&artifact_path);
            }
        };
        let written = write_atomic(&wasm_path, wasm)
            .and_then(|()| write_atomic(&artifact_path, artifact))
            .map_err(|e| InstallError::Io(e.to_string()));
        let stored = written.and_then(|()| {
            let ok = if replace {
                self.apps.insert(&manifest.id, &record).map(|()| true)
            } else {
                self.apps.insert_new(&manifest.id, &record)
            }?;
            if !ok {
                return Err(InstallError::AlreadyInstalled(manifest.id.clone()));
            }
            self.db.flush()?;
            Ok(())
        });
        if let Err(e) = stored {
            cleanup();
            return Err(e);
        }
        if let Some(old) = previous.filter(|_| !same_files) {
            self.remove_files(&old);
        }
        Ok(record)
    }

    /// Removes the app's record (flushed), then its files.
    pub fn remove(&self, id: &str) -> Result<AppRecord, InstallError> {
        let record = self
            .apps
            .remove(id)?
            .ok_or_else(|| InstallError::NotInstalled(id.to_string()))?;
        self.db.flush()?;
        self.remove_files(&record);
        Ok(record)
    }

    fn remove_files(&self, record: &AppRecord) {
        for f in [&record.wasm_file, &record.artifact_file] {
            if let Err(e) = std::fs::remove_file(self.path(f)) {
                tracing::warn!(file = %f.display(), error = %e, "could not remove an old component file");
            }
        }
    }
}
