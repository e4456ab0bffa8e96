//! Installed mini-apps: manifests, the import rule (deny by default), where
//! components, their precompiled artifacts and their UIs live, the install
//! record that makes an app visible only once everything it needs is on
//! disk (one record names a version's component and UI, so both switch
//! together), the UI files as the host serves them, and
//! the developer key each app id is bound to (signature continuity: only the
//! key that first signed an app may upgrade it, until the operator rekeys).

mod dev;
mod format;
mod keys;
mod manifest;
mod ui;

pub use crate::fsutil::FileError;
pub use dev::{ComponentFile, DevApp, UiFolder, check_component_header};
pub use format::{
    Package, PackageError, decode as decode_package, encode as encode_package,
    encode_with_ui as encode_package_with_ui,
};
pub use keys::{
    KeyError, TrustStore, TrustedKey, fingerprint, generate_key_file, load_signing_key,
    parse_public_key, public_key_text,
};
pub use manifest::{
    Capability, CapabilityRequest, ImportNeed, MAX_MANIFEST_BYTES, Manifest, ManifestError,
    ManifestLimits, PLATFORM_VERSION, UiManifest, check_app_id,
};
pub use ui::{
    MAX_UI_FILES, Ui, UiError, check_path as check_ui_path, check_ui,
    content_type as ui_content_type, tag_of,
};

use crate::fsutil::write_atomic;
use crate::store::{Backend, BlobStore, StoreError, Tree};
use crate::text::hex;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

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
    /// The version's UI, if it has one.
    #[serde(default)]
    pub ui: Option<InstalledUi>,
}

/// A version's UI on disk: its package section, as one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstalledUi {
    /// The first 16 hex digits of the SHA-256 of the section: names this
    /// UI in URLs (`/ui/{app}/{tag}/…`).
    pub tag: String,
    /// The section's bytes, relative to the data folder.
    pub file: PathBuf,
    pub files: u32,
    /// The files' sizes added up.
    pub bytes: u64,
}

impl AppVersion {
    /// Every file of this version, relative to the data folder.
    fn files(&self) -> Vec<&PathBuf> {
        let mut files = vec![&self.wasm_file, &self.artifact_file];
        files.extend(self.ui.as_ref().map(|u| &u.file));
        files
    }
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

    /// Whether any version of this record uses `file`.
    fn uses(&self, file: &Path) -> bool {
        std::iter::once(&self.current)
            .chain(&self.previous)
            .any(|v| v.files().iter().any(|f| f.as_path() == file))
    }
}

/// What a commit may do to an existing app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitMode {
    /// A new id only.
    Install,
    /// An installed id, strictly higher version; the old one is kept for rollback.
    Upgrade,
    /// Developer reinstall: replaces the running version in place (any
    /// version). Refused for an app bound to a developer key.
    Replace,
    /// `Replace`, also over an app bound to a developer key (the operator
    /// said so: `--replace-signed`). The binding is kept.
    ReplaceSigned,
}

/// The developer key an app id is bound to. Set by the app's first signed
/// install and changed only by the operator (`apps rekey`); it outlives a
/// removal that keeps the app's data (that data is the developer's users'),
/// and is forgotten only with the data (`--purge-data`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyBinding {
    /// The key every signed package for this id must be signed with
    /// (`ed25519:…`).
    pub key: String,
    /// Unix seconds: the first signed install, or the rekey that set it.
    pub bound_at: u64,
    /// The keys it was bound to before, oldest first.
    #[serde(default)]
    pub earlier: Vec<EarlierKey>,
}

/// A key an app was bound to before a rekey.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EarlierKey {
    pub key: String,
    /// Unix seconds: when the rekey replaced it.
    pub until: u64,
}

/// The short fingerprint of a key in text form (the text itself if it does
/// not parse, which only a damaged record could cause).
pub fn key_fingerprint(text: &str) -> String {
    parse_public_key(text)
        .map(|k| fingerprint(&k))
        .unwrap_or_else(|_| text.to_string())
}

/// What `remove` did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Removal {
    pub app: String,
    /// The removed record; None when the app was already removed and only
    /// its kept data and key binding were purged.
    pub record: Option<AppRecord>,
    pub data_purged: bool,
    /// The developer key the id stays bound to (None once purged).
    pub developer_key: Option<KeyBinding>,
}

/// An import the manifest does not declare the capability for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undeclared {
    pub import: String,
    pub capability: Capability,
}

/// Names each undeclared import, then the manifest lines that declare them.
fn undeclared_text(all: &[Undeclared]) -> String {
    let named: Vec<String> = all
        .iter()
        .map(|u| format!("`{}` needs the `{}` capability", u.import, u.capability))
        .collect();
    let mut caps: Vec<&Capability> = all.iter().map(|u| &u.capability).collect();
    caps.dedup();
    let lines: Vec<String> = caps
        .iter()
        .map(|c| {
            format!(
                "[capabilities.{c}]\npurpose = \"why the app needs it, as people will read it\""
            )
        })
        .collect();
    format!(
        "the component imports what its manifest does not declare: {}; add to the manifest:\n\n{}",
        named.join(", "),
        lines.join("\n\n")
    )
}

/// What to do instead of installing an id that is already installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reinstall {
    /// A developer build: `install --dev --replace` keeps the data.
    DevReplace,
    /// A signed package: a higher version goes through `apps upgrade`.
    Upgrade,
    /// Forgetting the key of an installed app: remove it first.
    RemoveFirst,
}

impl Reinstall {
    fn for_signer(signer: Option<&str>) -> Reinstall {
        match signer {
            Some(_) => Reinstall::Upgrade,
            None => Reinstall::DevReplace,
        }
    }
}

impl std::fmt::Display for Reinstall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Reinstall::DevReplace => {
                "to reinstall a developer build over it, keeping its data, add `--replace` (`superapp install --dev --replace <manifest>`; admin API: mode=dev-replace)"
            }
            Reinstall::Upgrade => {
                "install a higher version of its package with `superapp apps upgrade <package>`, which keeps its data (admin API: mode=upgrade)"
            }
            Reinstall::RemoveFirst => {
                "remove it first (`superapp apps remove <id>`; admin API: DELETE /admin/apps/<id>)"
            }
        })
    }
}

/// Why an install or removal was refused. Codes are stable.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error("{file}: {detail}")]
    Component { file: String, detail: String },
    /// Every import the manifest lacks a capability for, in one error.
    #[error("{}", undeclared_text(.0))]
    UndeclaredImport(Vec<Undeclared>),
    #[error("the component imports `{0}`, which this host does not provide")]
    UnknownImport(String),
    #[error(
        "the component imports `{import}`, from version {found} of the platform contract; this host speaks superapp:platform@{supported}: rebuild the app with the SDK of that version"
    )]
    PlatformVersion {
        import: String,
        found: String,
        supported: &'static str,
    },
    #[error("an app with id `{id}` is already installed: {next}")]
    AlreadyInstalled { id: String, next: Reinstall },
    #[error("`{0}` changed while this install ran (on another host, say): try again")]
    Changed(String),
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
    #[error(
        "`{id}` is bound to developer key {bound} and this package is signed by another key, {offered}: only the app's developer may upgrade it. If its developer really moved to a new key (ask them), record it with `superapp apps rekey {id} --key <their new public key>` and try again"
    )]
    KeyMismatch {
        id: String,
        /// Fingerprints.
        bound: String,
        offered: String,
    },
    #[error(
        "`{id}` is a signed app, bound to developer key {bound}; a developer install would replace it with unsigned code. Pass --replace-signed to do it anyway (admin API: mode=dev-replace-signed); its data and key binding are kept"
    )]
    SignedApp { id: String, bound: String },
    #[error(
        "{key} is not a trusted developer key; trust it first (`superapp trust add {key}`), then rekey"
    )]
    UntrustedKey { key: String },
    #[error(
        "{manifest}: field `component`: `{component}` resolves to {resolved}, outside the manifest's folder {folder}; move the component under that folder, or name it on the command line with --component PATH"
    )]
    ComponentOutside {
        manifest: String,
        component: String,
        resolved: String,
        folder: String,
    },
    #[error(transparent)]
    Ui(#[from] UiError),
    #[error(transparent)]
    File(#[from] FileError),
    #[error("cannot write the app's files: {0}")]
    Io(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl InstallError {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            InstallError::Manifest(ManifestError::File(f)) => f.code(),
            InstallError::Manifest(_) => "invalid-manifest",
            InstallError::Component { .. } => "invalid-component",
            InstallError::UndeclaredImport { .. } => "undeclared-import",
            InstallError::UnknownImport(_) => "unknown-import",
            InstallError::PlatformVersion { .. } => "unsupported-platform-version",
            InstallError::AlreadyInstalled { .. } => "already-installed",
            InstallError::Changed(_) => "app-changed",
            InstallError::NotNewer { .. } => "not-newer",
            InstallError::NoPreviousVersion(_) => "no-previous-version",
            InstallError::Package(e) => e.code(),
            InstallError::Key(e) => e.code(),
            InstallError::NotInstalled(_) => "not-installed",
            InstallError::KeyMismatch { .. } => "developer-key-mismatch",
            InstallError::SignedApp { .. } => "signed-app",
            InstallError::UntrustedKey { .. } => "untrusted-key",
            InstallError::ComponentOutside { .. } => "component-outside-folder",
            InstallError::Ui(e) => e.code(),
            InstallError::File(f) => f.code(),
            InstallError::Io(_) => "io",
            InstallError::Store(e) => e.code(),
        }
    }
}

/// The packages service.
#[derive(Clone)]
pub struct Packages {
    db: Arc<dyn Backend>,
    /// This host's own folder for compiled artifacts.
    cache_dir: PathBuf,
    /// The components and UI sections; compiled artifacts are this host's
    /// own cache, files in the data folder.
    blobs: Arc<dyn BlobStore>,
    apps: Tree<AppRecord>,
    /// App id → its developer key; outlives the app's record (see [`KeyBinding`]).
    keys: Tree<KeyBinding>,
    /// App id → the index of the UI it last served.
    ui_cache: Arc<Mutex<HashMap<String, Arc<UiIndex>>>>,
}

/// Whether `file` is a compiled artifact: this host's own cache, a file in
/// its data folder, not one of the app's blobs.
fn is_artifact(file: &Path) -> bool {
    file.extension().is_some_and(|e| e == "cwasm")
}

/// A file named in a record as a blob name (records keep relative paths).
fn blob_name(file: &Path) -> String {
    file.to_string_lossy().replace('\\', "/")
}

pub(crate) fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Packages {
    /// The packages kept in `db`; compiled artifacts go under `cache_dir`.
    pub fn open(db: &Arc<dyn Backend>, cache_dir: &Path) -> Result<Packages, StoreError> {
        Ok(Packages {
            db: db.clone(),
            cache_dir: cache_dir.to_path_buf(),
            blobs: db.blob_store(),
            apps: db.tree("apps")?,
            keys: db.tree("app-keys")?,
            ui_cache: Arc::default(),
        })
    }

    /// The blob names of every installed app's files (components and UI
    /// sections of every kept version; not this host's compiled artifacts).
    pub fn blob_names(&self) -> Result<Vec<String>, StoreError> {
        let mut names: Vec<String> = self
            .list()?
            .iter()
            .flat_map(|r| std::iter::once(&r.current).chain(&r.previous))
            .flat_map(AppVersion::files)
            .filter(|f| !is_artifact(f))
            .map(|f| blob_name(f))
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    /// The installed app `id`.
    pub fn get(&self, id: &str) -> Result<Option<AppRecord>, StoreError> {
        self.apps.get(id)
    }

    /// Every installed app, by id.
    pub fn list(&self) -> Result<Vec<AppRecord>, StoreError> {
        Ok(self.apps.all()?.into_iter().map(|(_, r)| r).collect())
    }

    /// Absolute path of a file named in a record (the compiled artifact).
    pub fn path(&self, relative: &Path) -> PathBuf {
        self.cache_dir.join(relative)
    }

    /// The component of `version`, from the blob store.
    pub fn component(&self, version: &AppVersion) -> Result<Vec<u8>, StoreError> {
        let name = blob_name(&version.wasm_file);
        self.blobs
            .get(&name)?
            .ok_or_else(|| StoreError::Io(format!("component `{name}` is missing")))
    }

    /// Writes a version's file: the artifact into this host's folder, the
    /// rest into the blob store.
    fn put_file(&self, file: &Path, bytes: &[u8]) -> Result<(), String> {
        if is_artifact(file) {
            write_atomic(&self.path(file), bytes).map_err(|e| e.to_string())
        } else {
            self.blobs
                .put(&blob_name(file), bytes)
                .map_err(|e| e.to_string())
        }
    }

    fn discard_file(&self, file: &Path) -> Result<(), String> {
        if is_artifact(file) {
            match std::fs::remove_file(self.path(file)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.to_string()),
                _ => Ok(()),
            }
        } else {
            self.blobs
                .remove(&blob_name(file))
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
    }

    /// Deny by default: every import must be a host interface, and every
    /// capability interface must be declared in the manifest.
    pub fn check_imports(manifest: &Manifest, imports: &[String]) -> Result<(), InstallError> {
        let mut undeclared = Vec::new();
        for import in imports {
            match Capability::for_import(import) {
                ImportNeed::Nothing => {}
                ImportNeed::Capability(cap) if manifest.capabilities.contains_key(&cap) => {}
                ImportNeed::Capability(cap) => undeclared.push(Undeclared {
                    import: import.clone(),
                    capability: cap,
                }),
                ImportNeed::Unknown => return Err(InstallError::UnknownImport(import.clone())),
                ImportNeed::OtherVersion(found) => {
                    return Err(InstallError::PlatformVersion {
                        import: import.clone(),
                        found: if found.is_empty() {
                            "(none)".into()
                        } else {
                            found
                        },
                        supported: PLATFORM_VERSION,
                    });
                }
            }
        }
        match undeclared.is_empty() {
            true => Ok(()),
            false => Err(InstallError::UndeclaredImport(undeclared)),
        }
    }

    /// The developer key `id` is bound to, if any. Records from before
    /// bindings were kept on their own are bound to the key of their newest
    /// signed version.
    pub fn developer_key(&self, id: &str) -> Result<Option<KeyBinding>, StoreError> {
        self.binding(id, self.apps.get(id)?.as_ref())
    }

    /// `developer_key` for `id`, whose record (if installed) is `record`.
    fn binding(
        &self,
        id: &str,
        record: Option<&AppRecord>,
    ) -> Result<Option<KeyBinding>, StoreError> {
        Ok(self
            .keys
            .get(id)?
            .or_else(|| record.and_then(implied_binding)))
    }

    /// Whether `mode` may apply `manifest`, signed by `signer` (None: a
    /// developer install), to what is installed. Returns the installed
    /// record, if any. Callers check this before compiling; `commit` checks
    /// it again.
    ///
    /// - The signer must be the key the id is bound to, if it is bound
    ///   (installed, or removed with its data kept).
    /// - A developer install may not touch a bound id unless the mode is
    ///   `ReplaceSigned`.
    /// - Then: a new id for install, an installed id at a strictly lower
    ///   version for upgrade.
    pub fn check(
        &self,
        manifest: &Manifest,
        signer: Option<&str>,
        mode: CommitMode,
    ) -> Result<Option<AppRecord>, InstallError> {
        let id = &manifest.id;
        let existing = self.apps.get(id)?;
        let binding = self.binding(id, existing.as_ref())?;
        check_key(id, binding.as_ref(), signer, mode)?;
        match (&existing, mode) {
            (Some(_), CommitMode::Install) => Err(InstallError::AlreadyInstalled {
                id: id.clone(),
                next: Reinstall::for_signer(signer),
            }),
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

    /// Writes the component, its artifact and its UI, then the key binding
    /// (on the app's first signed install) and the record (flushed). Until
    /// the record is written nothing is visible; on any failure the files
    /// and binding written so far are removed and the installed set is
    /// unchanged.
    pub fn commit(
        &self,
        manifest: &Manifest,
        wasm: &[u8],
        artifact: &[u8],
        ui: Option<&Ui>,
        signer: Option<String>,
        mode: CommitMode,
    ) -> Result<AppRecord, InstallError> {
        let id = manifest.id.clone();
        let existing = self.check(manifest, signer.as_deref(), mode)?;
        let reinstall = Reinstall::for_signer(signer.as_deref());
        // The binding to write: none yet stored, and this package is signed
        // (its first signed install) or the record implies one.
        let new_binding = match self.keys.get(&id)? {
            Some(_) => None,
            None => signer
                .as_deref()
                .map(|key| KeyBinding {
                    key: key.to_string(),
                    bound_at: now_secs(),
                    earlier: Vec::new(),
                })
                .or_else(|| existing.as_ref().and_then(implied_binding)),
        };
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
            ui: ui.map(|u| {
                let tag = u.tag();
                InstalledUi {
                    file: folder.join(format!("{}-{tag}.ui", manifest.version)),
                    tag,
                    files: u.file_count() as u32,
                    bytes: u.total_bytes(),
                }
            }),
        };
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
        let mut writes: Vec<(&PathBuf, &[u8])> = vec![
            (&version.wasm_file, wasm),
            (&version.artifact_file, artifact),
        ];
        if let (Some(ui), Some(installed)) = (ui, &version.ui) {
            writes.push((&installed.file, ui.body()));
        }
        let written = writes
            .iter()
            .try_for_each(|(file, bytes)| self.put_file(file, bytes))
            .map_err(InstallError::Io);
        let mut bound_now = false;
        let stored = written.and_then(|()| {
            if let Some(b) = &new_binding {
                // Bound first: a crash before the record leaves the id bound
                // and not installed, never installed and unbound.
                bound_now = self.keys.insert_new(&id, b)?;
                if !bound_now {
                    // Another install bound it meanwhile: check again.
                    self.check(manifest, version.signer.as_deref(), mode)?;
                }
            }
            let ok = match &existing {
                None => self.apps.insert_new(&id, &record)?,
                // Only over the record this was checked against: another
                // host's upgrade meanwhile makes this one fail, not vanish.
                Some(before) => self.apps.update(&id, |now| match now {
                    Some(now) if &now == before => (Some(record.clone()), true),
                    other => (other, false),
                })?,
            };
            if !ok {
                return Err(match existing {
                    None => InstallError::AlreadyInstalled {
                        id: id.clone(),
                        next: reinstall,
                    },
                    Some(_) => InstallError::Changed(id.clone()),
                });
            }
            self.db.flush_all()?;
            // Other hosts sharing the store reload the app from this.
            self.db.bump_apps_version()?;
            Ok(())
        });
        if let Err(e) = stored {
            if bound_now {
                let _ = self.keys.remove(&id);
            }
            // Files an installed version names too (a developer reinstall
            // of the same bytes) stay.
            for (file, _) in &writes {
                if !existing.as_ref().is_some_and(|r| r.uses(file)) {
                    let _ = self.discard_file(file);
                }
            }
            return Err(e);
        }
        for old in &dropped {
            self.remove_unused(old, &record);
        }
        Ok(record)
    }

    /// Makes the newest previous version current again — its component and
    /// its UI together; the version rolled back from is discarded. The key
    /// binding does not move: rolling back past a rekey runs the old key's
    /// version, and the next upgrade must still be signed by the new key.
    pub fn rollback(&self, id: &str) -> Result<AppRecord, InstallError> {
        let mut record = self
            .apps
            .get(id)?
            .ok_or_else(|| InstallError::NotInstalled(id.to_string()))?;
        if record.previous.is_empty() {
            return Err(InstallError::NoPreviousVersion(id.to_string()));
        }
        self.keep_implied_binding(id, &record)?;
        let back = record.previous.remove(0);
        let discarded = std::mem::replace(&mut record.current, back);
        self.apps.insert(id, &record)?;
        self.db.flush_all()?;
        // Other hosts sharing the store reload the app from this.
        self.db.bump_apps_version()?;
        self.remove_unused(&discarded, &record);
        Ok(record)
    }

    /// Removes the app's record (flushed), then the files of every version.
    /// Its key binding stays (see [`KeyBinding`]); `forget_developer_key`
    /// drops it with the data.
    pub fn remove(&self, id: &str) -> Result<AppRecord, InstallError> {
        if let Some(record) = self.apps.get(id)? {
            self.keep_implied_binding(id, &record)?;
        }
        let record = self
            .apps
            .remove(id)?
            .ok_or_else(|| InstallError::NotInstalled(id.to_string()))?;
        self.db.flush_all()?;
        // Other hosts sharing the store reload the app from this.
        self.db.bump_apps_version()?;
        if let Ok(mut cache) = self.ui_cache.lock() {
            cache.remove(id);
        }
        let mut files: Vec<&PathBuf> = std::iter::once(&record.current)
            .chain(&record.previous)
            .flat_map(AppVersion::files)
            .collect();
        files.sort();
        files.dedup();
        for f in files {
            self.remove_file(f);
        }
        Ok(record)
    }

    /// Forgets the key binding of an app that is not installed (its data
    /// was purged: the id is free for anyone). Returns whether there was one.
    pub fn forget_developer_key(&self, id: &str) -> Result<bool, InstallError> {
        if self.apps.get(id)?.is_some() {
            return Err(InstallError::AlreadyInstalled {
                id: id.to_string(),
                next: Reinstall::RemoveFirst,
            });
        }
        let forgotten = self.keys.remove(id)?.is_some();
        self.db.flush_all()?;
        Ok(forgotten)
    }

    /// The operator's explicit change of developer key: from now on, signed
    /// packages for `id` (upgrades, or an install after a removal) must be
    /// signed with `key` instead. The running version and those kept for
    /// rollback stay as they are. Works on an installed app, or on a removed
    /// one whose binding was kept; rekeying to the bound key changes nothing.
    pub fn rekey(&self, id: &str, key: &str) -> Result<KeyBinding, InstallError> {
        let key = public_key_text(&parse_public_key(key)?);
        let current = self.developer_key(id)?;
        if current.is_none() && self.apps.get(id)?.is_none() {
            return Err(InstallError::NotInstalled(id.to_string()));
        }
        let now = now_secs();
        let next = match current {
            Some(b) if b.key == key => b,
            Some(mut b) => {
                let old = std::mem::replace(&mut b.key, key);
                b.earlier.push(EarlierKey {
                    key: old,
                    until: now,
                });
                b.bound_at = now;
                b
            }
            None => KeyBinding {
                key,
                bound_at: now,
                earlier: Vec::new(),
            },
        };
        self.keys.insert(id, &next)?;
        self.db.flush_all()?;
        Ok(next)
    }

    /// Stores the binding an older record implies before the record changes
    /// or goes (it would otherwise be lost with it).
    fn keep_implied_binding(&self, id: &str, record: &AppRecord) -> Result<(), InstallError> {
        if let Some(b) = implied_binding(record) {
            self.keys.insert_new(id, &b)?;
        }
        Ok(())
    }

    /// Removes the files of `version` that no version of `keep` uses.
    fn remove_unused(&self, version: &AppVersion, keep: &AppRecord) {
        for f in version.files() {
            if !keep.uses(f) {
                self.remove_file(f);
            }
        }
    }

    fn remove_file(&self, f: &Path) {
        if let Err(e) = self.discard_file(f) {
            tracing::warn!(file = %f.display(), error = %e, "could not remove an old app file");
        }
    }

    /// The file `path` of the UI `tag` of app `app`, if `tag` is its
    /// running version's UI. An older tag is gone the moment a commit or
    /// rollback switches the version: the record is read on every lookup.
    pub fn ui_file(&self, app: &str, tag: &str, path: &str) -> Result<UiAsset, UiLookupError> {
        let record = self
            .apps
            .get(app)?
            .ok_or_else(|| UiLookupError::AppNotFound(app.to_string()))?;
        let no_ui = || UiLookupError::NoSuchUi {
            app: app.to_string(),
            tag: tag.to_string(),
        };
        let installed = record.current.ui.as_ref().ok_or_else(no_ui)?;
        if installed.tag != tag {
            return Err(no_ui());
        }
        let cached = self
            .ui_cache
            .lock()
            .ok()
            .and_then(|c| c.get(app).cloned())
            .filter(|index| index.tag == tag);
        let index = match cached {
            Some(index) => index,
            None => {
                let index = Arc::new(UiIndex::build(app, installed, self.blobs.as_ref())?);
                if let Ok(mut cache) = self.ui_cache.lock() {
                    cache.insert(app.to_string(), index.clone());
                }
                index
            }
        };
        match index.read(app, path, self.blobs.as_ref()) {
            // Switched away meanwhile (a rollback removes the old file).
            Err(UiLookupError::Io { .. })
                if self
                    .apps
                    .get(app)?
                    .and_then(|r| r.current.ui)
                    .is_none_or(|u| u.tag != tag) =>
            {
                Err(no_ui())
            }
            other => other,
        }
    }
}

/// One file of an app's UI, ready to serve.
#[derive(Debug, Clone)]
pub struct UiAsset {
    pub bytes: Vec<u8>,
    pub content_type: &'static str,
    /// A strong entity tag (quoted), from the file's SHA-256.
    pub etag: String,
}

/// Why a UI file cannot be served. Codes are stable.
#[derive(Debug, thiserror::Error)]
pub enum UiLookupError {
    #[error("no app with id `{0}` is installed")]
    AppNotFound(String),
    #[error(
        "`{app}` has no UI `{tag}` (it has no UI, or another version's UI is the one it runs now)"
    )]
    NoSuchUi { app: String, tag: String },
    #[error("the UI of `{app}` has no file `{path}`")]
    NoSuchFile { app: String, path: String },
    #[error("cannot read the UI of `{app}`: {detail}")]
    Io { app: String, detail: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl UiLookupError {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            UiLookupError::AppNotFound(_) => "app-not-found",
            UiLookupError::NoSuchUi { .. } | UiLookupError::NoSuchFile { .. } => "ui-not-found",
            UiLookupError::Io { .. } => "io",
            UiLookupError::Store(e) => e.code(),
        }
    }
}

/// Where each file of one installed UI lies in its file, so a request
/// reads only the bytes it serves.
#[derive(Debug)]
struct UiIndex {
    tag: String,
    /// The UI section's blob.
    name: String,
    /// Path → (offset, length, entity tag).
    entries: HashMap<String, (u64, usize, String)>,
}

impl UiIndex {
    /// Reads the UI's file once, checks it is the UI the record names (its
    /// tag is its hash), and notes where each file lies.
    fn build(
        app: &str,
        installed: &InstalledUi,
        blobs: &dyn BlobStore,
    ) -> Result<UiIndex, UiLookupError> {
        let io = |detail: String| UiLookupError::Io {
            app: app.to_string(),
            detail,
        };
        let name = blob_name(&installed.file);
        let body = blobs
            .get(&name)
            .map_err(|e| io(e.to_string()))?
            .ok_or_else(|| io(format!("{name}: the UI is missing")))?;
        if tag_of(&body) != installed.tag {
            return Err(io(format!(
                "{name} does not hold UI {} (the file was changed or damaged)",
                installed.tag
            )));
        }
        let ui = Ui::parse(body, u64::MAX).map_err(|e| io(e.to_string()))?;
        let entries = ui
            .files()
            .iter()
            .map(|(path, range)| {
                let etag = format!("\"{}\"", tag_of(&ui.body()[range.clone()]));
                (path.clone(), (range.start as u64, range.len(), etag))
            })
            .collect();
        Ok(UiIndex {
            tag: installed.tag.clone(),
            name,
            entries,
        })
    }

    fn read(&self, app: &str, path: &str, blobs: &dyn BlobStore) -> Result<UiAsset, UiLookupError> {
        let (offset, len, etag) =
            self.entries
                .get(path)
                .ok_or_else(|| UiLookupError::NoSuchFile {
                    app: app.to_string(),
                    path: path.to_string(),
                })?;
        let content_type = ui_content_type(path).ok_or_else(|| UiLookupError::NoSuchFile {
            app: app.to_string(),
            path: path.to_string(),
        })?;
        let io = |detail: String| UiLookupError::Io {
            app: app.to_string(),
            detail,
        };
        let bytes = blobs
            .read_at(&self.name, *offset, *len)
            .map_err(|e| io(e.to_string()))?
            .ok_or_else(|| io(format!("{}: the UI is missing", self.name)))?;
        Ok(UiAsset {
            bytes,
            content_type,
            etag: etag.clone(),
        })
    }
}

/// The binding a record implies: the key of its newest signed version.
fn implied_binding(record: &AppRecord) -> Option<KeyBinding> {
    std::iter::once(&record.current)
        .chain(&record.previous)
        .find_map(|v| {
            v.signer.as_ref().map(|key| KeyBinding {
                key: key.clone(),
                bound_at: v.installed_at,
                earlier: Vec::new(),
            })
        })
}

/// The signature-continuity rule: a signed package must be signed by the
/// key the id is bound to; a developer install may touch a bound id only
/// when the operator said so.
fn check_key(
    id: &str,
    binding: Option<&KeyBinding>,
    signer: Option<&str>,
    mode: CommitMode,
) -> Result<(), InstallError> {
    let Some(binding) = binding else {
        return Ok(());
    };
    match signer {
        Some(s) if s == binding.key => Ok(()),
        Some(s) => Err(InstallError::KeyMismatch {
            id: id.to_string(),
            bound: key_fingerprint(&binding.key),
            offered: key_fingerprint(s),
        }),
        None if mode == CommitMode::ReplaceSigned => Ok(()),
        None => Err(InstallError::SignedApp {
            id: id.to_string(),
            bound: key_fingerprint(&binding.key),
        }),
    }
}
