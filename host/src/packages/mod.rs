//! Installed mini-apps: manifests, the import rule (deny by default), where
//! components and their precompiled artifacts live, and the install record
//! that makes an app visible only once everything it needs is on disk.

mod format;
mod keys;
mod manifest;

pub use format::{Package, PackageError, decode as decode_package, encode as encode_package};
pub use keys::{
    KeyError, TrustStore, TrustedKey, fingerprint, generate_key_file, load_signing_key,
    parse_public_key, public_key_text,
};
pub use manifest::{
    Capability, CapabilityRequest, ImportNeed, Manifest, ManifestError, ManifestLimits,
    check_app_id,
};

use crate::fsutil::write_atomic;
use crate::store::{Db, StoreError, Tree};
use crate::text::hex;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// How many earlier versions `rollback` can return to.
pub const KEPT_PREVIOUS_VERSIONS: usize = 5;

/// One installed version of an app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppVersion {
    pub manifest: Manifest,
    /// Hex SHA-256 of the component bytes.
    pub component_sha256: String,
    pub component_bytes: u64,
    /// The component and its precompiled artifact, relative to the data folder.
    pub wasm_file: PathBuf,
    pub artifact_file: PathBuf,
    /// Unix seconds.
    pub installed_at: u64,
    /// The developer key that signed the package (text form); `None` for an
    /// unsigned developer install.
    pub signer: Option<String>,
}

/// An installed app: the version that runs and the ones it can roll back to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppRecord {
    pub current: AppVersion,
    /// Newest first, at most [`KEPT_PREVIOUS_VERSIONS`].
    pub previous: Vec<AppVersion>,
}

impl AppRecord {
    pub fn id(&self) -> &str {
        &self.current.manifest.id
    }
}

/// What a commit may do to an existing app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitMode {
    /// A new id only.
    Install,
    /// An installed id, strictly higher version; the old one is kept for rollback.
    Upgrade,
    /// Developer reinstall: replaces the running version in place (any version).
    Replace,
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
    #[error(
        "an app with id `{0}` is already installed (use `superapp apps upgrade` for a new version)"
    )]
    AlreadyInstalled(String),
    #[error(
        "`{id}` {offered} is not newer than the installed {installed}; upgrade needs a higher version"
    )]
    NotNewer {
        id: String,
        installed: String,
        offered: String,
    },
    #[error("`{0}` has no earlier version to roll back to")]
    NoPreviousVersion(String),
    #[error(transparent)]
    Package(#[from] PackageError),
    #[error(transparent)]
    Key(#[from] KeyError),
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
            InstallError::NotNewer { .. } => "not-newer",
            InstallError::NoPreviousVersion(_) => "no-previous-version",
            InstallError::Package(e) => e.code(),
            InstallError::Key(e) => e.code(),
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

pub(crate) fn now_secs() -> u64 {
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

    /// Whether `mode` may apply `manifest` to what is installed: a new id
    /// for install, an installed id at a strictly lower version for upgrade.
    /// Returns the installed record, if any. Callers check this before
    /// compiling; `commit` checks it again.
    pub fn check_mode(
        &self,
        manifest: &Manifest,
        mode: CommitMode,
    ) -> Result<Option<AppRecord>, InstallError> {
        let id = &manifest.id;
        let existing = self.apps.get(id)?;
        match (&existing, mode) {
            (Some(_), CommitMode::Install) => Err(InstallError::AlreadyInstalled(id.clone())),
            (None, CommitMode::Upgrade) => Err(InstallError::NotInstalled(id.clone())),
            (Some(r), CommitMode::Upgrade) if manifest.version <= r.current.manifest.version => {
                Err(InstallError::NotNewer {
                    id: id.clone(),
                    installed: r.current.manifest.version.to_string(),
                    offered: manifest.version.to_string(),
                })
            }
            _ => Ok(existing),
        }
    }

    /// Writes the component and its artifact, then the record (flushed).
    /// Until the record is written nothing is visible; on any failure the
    /// files written so far are removed and the installed set is unchanged.
    pub fn commit(
        &self,
        manifest: &Manifest,
        wasm: &[u8],
        artifact: &[u8],
        signer: Option<String>,
        mode: CommitMode,
    ) -> Result<AppRecord, InstallError> {
        let id = manifest.id.clone();
        let existing = self.check_mode(manifest, mode)?;
        let sha = hex(&Sha256::digest(wasm));
        let stem = format!("{}-{}", manifest.version, &sha[..16]);
        let folder = PathBuf::from("components").join(&id);
        let version = AppVersion {
            manifest: manifest.clone(),
            component_sha256: sha,
            component_bytes: wasm.len() as u64,
            wasm_file: folder.join(format!("{stem}.wasm")),
            artifact_file: folder.join(format!("{stem}.cwasm")),
            installed_at: now_secs(),
            signer,
        };
        let in_use = |f: &PathBuf| {
            existing.as_ref().is_some_and(|r| {
                std::iter::once(&r.current)
                    .chain(&r.previous)
                    .any(|v| &v.wasm_file == f)
            })
        };
        let files_shared = in_use(&version.wasm_file);
        let (record, dropped) = match (existing.clone(), mode) {
            (Some(mut r), CommitMode::Upgrade) => {
                r.previous
                    .insert(0, std::mem::replace(&mut r.current, version.clone()));
                let dropped = r
                    .previous
                    .split_off(r.previous.len().min(KEPT_PREVIOUS_VERSIONS));
                (r, dropped)
            }
            (Some(r), _) => {
                let old = r.current.clone();
                (
                    AppRecord {
                        current: version.clone(),
                        previous: r.previous,
                    },
                    vec![old],
                )
            }
            (None, _) => (
                AppRecord {
                    current: version.clone(),
                    previous: Vec::new(),
                },
                Vec::new(),
            ),
        };
        let wasm_path = self.path(&version.wasm_file);
        let artifact_path = self.path(&version.artifact_file);
        let written = write_atomic(&wasm_path, wasm)
            .and_then(|()| write_atomic(&artifact_path, artifact))
            .map_err(|e| InstallError::Io(e.to_string()));
        let stored = written.and_then(|()| {
            let ok = match existing {
                None => self.apps.insert_new(&id, &record)?,
                Some(_) => {
                    self.apps.insert(&id, &record)?;
                    true
                }
            };
            if !ok {
                return Err(InstallError::AlreadyInstalled(id.clone()));
            }
            self.db.flush()?;
            Ok(())
        });
        if let Err(e) = stored {
            if !files_shared {
                let _ = std::fs::remove_file(&wasm_path);
                let _ = std::fs::remove_file(&artifact_path);
            }
            return Err(e);
        }
        for old in dropped.iter().filter(|v| v.wasm_file != version.wasm_file) {
            self.remove_files(old);
        }
        Ok(record)
    }

    /// Makes the newest previous version current again; the version rolled
    /// back from is discarded.
    pub fn rollback(&self, id: &str) -> Result<AppRecord, InstallError> {
        let mut record = self
            .apps
            .get(id)?
            .ok_or_else(|| InstallError::NotInstalled(id.to_string()))?;
        if record.previous.is_empty() {
            return Err(InstallError::NoPreviousVersion(id.to_string()));
        }
        let back = record.previous.remove(0);
        let discarded = std::mem::replace(&mut record.current, back);
        self.apps.insert(id, &record)?;
        self.db.flush()?;
        if discarded.wasm_file != record.current.wasm_file {
            self.remove_files(&discarded);
        }
        Ok(record)
    }

    /// Removes the app's record (flushed), then the files of every version.
    pub fn remove(&self, id: &str) -> Result<AppRecord, InstallError> {
        let record = self
            .apps
            .remove(id)?
            .ok_or_else(|| InstallError::NotInstalled(id.to_string()))?;
        self.db.flush()?;
        for v in std::iter::once(&record.current).chain(&record.previous) {
            self.remove_files(v);
        }
        Ok(record)
    }

    fn remove_files(&self, version: &AppVersion) {
        for f in [&version.wasm_file, &version.artifact_file] {
            if let Err(e) = std::fs::remove_file(self.path(f)) {
                tracing::warn!(file = %f.display(), error = %e, "could not remove an old component file");
            }
        }
    }
}
