//! The host as one object: opens the store, builds the services and the
//! runtime, and offers the operations both edges (CLI and HTTP) call:
//! install, remove, list, call. Orchestration only; rules live in services.

use crate::capabilities::{AppGrants, CallCaps, CallUser};
use crate::config::HostConfig;
use crate::identity::{Identity, check_user_id};
use crate::kv::AppStorage;
use crate::packages::{
    AppRecord, CommitMode, InstallError, Manifest, PackageError, Packages, TrustStore,
    decode_package, public_key_text,
};
use crate::runtime::{CallError, CallRequest, CallResponse, CompileError, LoadedApp, Runtime};
use crate::store::{Db, StoreError};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, RwLock};

/// Why the host could not start.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot start the WebAssembly runtime: {0}")]
    Runtime(#[from] CompileError),
}

/// Who a call runs for, as the edge established it.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    /// The internal user id, if the call has a user.
    pub user: Option<String>,
    /// The launch scene, if any.
    pub scene: Option<String>,
}

/// The running host.
pub struct Superapp {
    config: HostConfig,
    packages: Packages,
    trust: TrustStore,
    storage: AppStorage,
    identity: Identity,
    runtime: Runtime,
    loaded: RwLock<HashMap<String, Arc<LoadedApp>>>,
}

impl Superapp {
    /// Opens the data folder named in `config` and starts the runtime.
    pub fn open(config: HostConfig) -> Result<Superapp, OpenError> {
        let db = Db::open(&config.data_dir)?;
        Ok(Superapp {
            packages: Packages::open(&db)?,
            trust: TrustStore::open(&db)?,
            storage: AppStorage::new(db.kv()?),
            identity: Identity::open(&db)?,
            runtime: Runtime::new(&config)?,
            config,
            loaded: RwLock::new(HashMap::new()),
        })
    }

    pub fn config(&self) -> &HostConfig {
        &self.config
    }

    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// The operator's trusted developer keys.
    pub fn trust(&self) -> &TrustStore {
        &self.trust
    }

    /// Installs (or, with `CommitMode::Upgrade`, upgrades to) a signed
    /// package: size limits → parse and verify the signature → the signer
    /// must be trusted → validate the manifest → compile, check imports,
    /// precompile → activate atomically.
    pub fn install_package(
        &self,
        bytes: &[u8],
        mode: CommitMode,
    ) -> Result<AppRecord, InstallError> {
        PackageError::check_size("package", bytes.len(), self.config.max_package_bytes)?;
        let package = decode_package(bytes)?;
        let signer = package.signer.ok_or(PackageError::Unsigned)?;
        if !self.trust.is_trusted(&signer)? {
            return Err(PackageError::UnknownSigner(public_key_text(&signer)).into());
        }
        let manifest = Manifest::parse(&package.manifest_toml, "package manifest")?;
        let label = format!("component of package `{}`", manifest.id);
        self.activate(
            manifest,
            "package manifest",
            &label,
            package.component,
            Some(public_key_text(&signer)),
            mode,
        )
    }

    /// Installs an unsigned package made by `superapp install --dev` on
    /// another process (the CLI forwarding to a running server). Any
    /// signature is ignored: this is the developer flow, marked unsigned.
    pub fn install_dev_package(
        &self,
        bytes: &[u8],
        replace: bool,
    ) -> Result<AppRecord, InstallError> {
        let package = decode_package(bytes)?;
        let manifest = Manifest::parse(&package.manifest_toml, "package manifest")?;
        let label = format!("component of `{}`", manifest.id);
        let mode = if replace {
            CommitMode::Replace
        } else {
            CommitMode::Install
        };
        self.activate(
            manifest,
            "package manifest",
            &label,
            package.component,
            None,
            mode,
        )
    }

    /// Installs from a manifest and a built component on disk, unsigned: the
    /// developer flow (`install --dev`). `replace` reinstalls an installed
    /// id in place, keeping its data.
    pub fn install_dev(
        &self,
        manifest_path: &Path,
        replace: bool,
    ) -> Result<AppRecord, InstallError> {
        let file = manifest_path.display().to_string();
        let manifest = Manifest::load(manifest_path)?;
        let component_file = manifest.component.display().to_string();
        let wasm = std::fs::read(&manifest.component).map_err(|e| InstallError::Component {
            file: component_file.clone(),
            detail: format!("cannot read the component (field `component` of {file}): {e}"),
        })?;
        let mode = if replace {
            CommitMode::Replace
        } else {
            CommitMode::Install
        };
        self.activate(manifest, &file, &component_file, wasm, None, mode)
    }

    fn activate(
        &self,
        manifest: Manifest,
        manifest_label: &str,
        component_label: &str,
        wasm: Vec<u8>,
        signer: Option<String>,
        mode: CommitMode,
    ) -> Result<AppRecord, InstallError> {
        let err = |detail: String| InstallError::Component {
            file: component_label.to_string(),
            detail,
        };
        manifest.effective_limits(&self.config, manifest_label)?;
        // Refuse what the commit would refuse before spending a compile on it.
        self.packages.check_mode(&manifest, mode)?;
        PackageError::check_size("component", wasm.len(), self.config.max_component_bytes)?;
        let (component, imports) = self
            .runtime
            .compile(&wasm)
            .map_err(|e| err(e.to_string()))?;
        Packages::check_imports(&manifest, &imports)?;
        self.runtime
            .check_linkable(&component)
            .map_err(|e| err(e.to_string()))?;
        let artifact = self
            .runtime
            .serialize(&component)
            .map_err(|e| err(e.to_string()))?;
        let record = self
            .packages
            .commit(&manifest, &wasm, &artifact, signer, mode)?;
        self.reload(record.id());
        tracing::info!(app = %record.id(), version = %record.current.manifest.version, ?mode, "activated");
        Ok(record)
    }

    /// Returns `id` to its previous version.
    pub fn rollback(&self, id: &str) -> Result<AppRecord, InstallError> {
        let record = self.packages.rollback(id)?;
        self.reload(id);
        tracing::info!(app = %id, version = %record.current.manifest.version, "rolled back");
        Ok(record)
    }

    /// Removes an app; its storage is kept unless `purge_data`.
    pub fn remove(&self, id: &str, purge_data: bool) -> Result<AppRecord, InstallError> {
        let record = self.packages.remove(id)?;
        self.forget(id);
        if purge_data {
            self.storage.purge_app(id).map_err(|e| match e {
                crate::kv::KvError::Store(s) => InstallError::Store(s),
                other => InstallError::Io(other.to_string()),
            })?;
        }
        tracing::info!(app = %id, purge_data, "removed");
        Ok(record)
    }

    /// Every installed app.
    pub fn apps(&self) -> Result<Vec<AppRecord>, StoreError> {
        self.packages.list()
    }

    /// The installed app `id`.
    pub fn app(&self, id: &str) -> Result<Option<AppRecord>, StoreError> {
        self.packages.get(id)
    }

    /// Bytes of storage the app uses.
    pub fn storage_usage(&self, id: &str) -> Result<u64, crate::kv::KvError> {
        self.storage.usage(id)
    }

    fn forget(&self, id: &str) {
        if let Ok(mut loaded) = self.loaded.write() {
            loaded.remove(id);
        }
    }

    /// Swaps in the app's current version. Calls in flight keep the
    /// `LoadedApp` they started with (an `Arc`), so they finish on it.
    fn reload(&self, id: &str) {
        self.forget(id);
        if let Err(e) = self.loaded_app(id) {
            tracing::error!(app = %id, error = %e, "cannot load the new version");
        }
    }

    /// Loads every installed app (precompiled artifact → `InstancePre`), so
    /// the first call to each is as fast as the rest. An app that cannot be
    /// loaded is logged and skipped (its calls answer with the reason); the
    /// others still serve. Returns how many loaded.
    pub fn load_all(&self) -> Result<usize, StoreError> {
        let mut loaded = 0;
        for record in self.packages.list()? {
            match self.loaded_app(record.id()) {
                Ok(_) => loaded += 1,
                Err(e) => {
                    tracing::error!(app = %record.id(), error = %e, "cannot load app")
                }
            }
        }
        Ok(loaded)
    }

    fn loaded_app(&self, id: &str) -> Result<Arc<LoadedApp>, CallError> {
        if let Some(app) = self.loaded.read().ok().and_then(|m| m.get(id).cloned()) {
            return Ok(app);
        }
        let record = self
            .packages
            .get(id)
            .map_err(|e| CallError::Internal(e.to_string()))?
            .ok_or_else(|| CallError::AppNotFound(id.to_string()))?
            .current;
        let file = format!("manifest of installed app `{id}`");
        let (limits, storage) = record
            .manifest
            .effective_limits(&self.config, &file)
            .map_err(|e| CallError::Internal(e.to_string()))?;
        let grants = Arc::new(AppGrants {
            app_id: record.manifest.id.clone(),
            declared: record.manifest.capabilities.keys().copied().collect(),
            storage,
        });
        let app = self
            .runtime
            .load(
                &self.packages.path(&record.artifact_file),
                &self.packages.path(&record.wasm_file),
                grants,
                limits,
            )
            .map_err(|e| CallError::Internal(format!("loading `{id}`: {e}")))?;
        let app = Arc::new(app);
        if let Ok(mut loaded) = self.loaded.write() {
            loaded.insert(id.to_string(), app.clone());
        }
        Ok(app)
    }

    /// Calls `app_id`'s `handle` with `req`, for `caller`.
    pub fn call(
        &self,
        app_id: &str,
        caller: Caller,
        req: CallRequest,
    ) -> Result<CallResponse, CallError> {
        let app = self.loaded_app(app_id)?;
        let user = match caller.user {
            Some(user_id) => {
                check_user_id(&user_id).map_err(|e| CallError::BadRequest(e.to_string()))?;
                let open_id = self.identity.open_id(&user_id, app_id);
                Some(CallUser { user_id, open_id })
            }
            None => None,
        };
        let caps = CallCaps {
            grants: app.grants.clone(),
            user,
            scene: caller.scene,
            storage: self.storage.clone(),
            log_budget: self.config.max_log_lines_per_call,
        };
        self.runtime.call(&app, caps, req)
    }
}
