//! The host as one object: opens the store, builds the services and the
//! runtime, and offers the operations both edges (CLI and HTTP) call:
//! install, remove, list, call. Orchestration only; rules live in services.

use crate::capabilities::{AppGrants, CallCaps, CallUser};
use crate::config::HostConfig;
use crate::identity::{
    AccessEntry, Decision, Grant, GrantState, Identity, IdentityError, LaunchClaims, SessionInfo,
    UserView, check_user_id,
};
use crate::kv::AppStorage;
use crate::packages::{
    AppRecord, Capability, CommitMode, ComponentFile, DevApp, InstallError, KeyBinding, Manifest,
    PackageError, Packages, Removal, TrustStore, Ui, UiAsset, UiFolder, UiLookupError,
    check_component_header, check_ui, decode_package, parse_public_key, public_key_text,
};
use crate::runtime::{CallError, CallRequest, CallResponse, CompileError, LoadedApp, Runtime};
use crate::store::{Backend, StoreError};
use crate::wallet::{Wallet, WalletError};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Why the host could not start.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot start the WebAssembly runtime: {0}")]
    Runtime(#[from] CompileError),
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error("cannot open the wallet: {0}")]
    Wallet(#[from] WalletError),
}

mod delivery;
mod messaging;
mod wallet;

/// A developer install never upgrades: anything but a replace is an install.
fn dev_mode(mode: CommitMode) -> CommitMode {
    match mode {
        CommitMode::Replace | CommitMode::ReplaceSigned => mode,
        CommitMode::Install | CommitMode::Upgrade => CommitMode::Install,
    }
}

fn kv_error(e: crate::kv::KvError) -> InstallError {
    match e {
        crate::kv::KvError::Store(s) => InstallError::Store(s),
        other => InstallError::Io(other.to_string()),
    }
}

pub use delivery::DeliveryReport;
pub use messaging::{
    CardView, ConversationView, HistoryView, LiveEventView, MemberView, MessageView, NewMessage,
    PacketCardView, SubscriptionView, live_event_view,
};

pub use wallet::{
    ClaimResultView, ClaimView, HolderRef, MerchantAction, MerchantBalance, PacketView,
    PaymentDecision, PaymentView, RefundView, TransactionPage, TransactionView, WalletView,
    block_on,
};

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
    /// The backend every service persists through.
    store: Arc<dyn Backend>,
    packages: Packages,
    trust: TrustStore,
    storage: AppStorage,
    identity: Identity,
    wallet: Wallet,
    messaging: crate::messaging::Messaging,
    runtime: Runtime,
    /// Loaded apps by id, each with the compiled artifact it was loaded
    /// from (which names its version).
    loaded: RwLock<HashMap<String, (std::path::PathBuf, Arc<LoadedApp>)>>,
    /// The store's apps counter when this host last reconciled its loaded
    /// apps with the installed ones (other hosts install too).
    apps_seen: std::sync::atomic::AtomicU64,
    /// This process, as a holder of the store's leases.
    instance: String,
    /// Held by each delivery pass (see `deliver`).
    delivering: tokio::sync::Mutex<()>,
}

impl Superapp {
    /// Opens the data folder named in `config` and starts the runtime.
    pub fn open(config: HostConfig) -> Result<Superapp, OpenError> {
        let db = crate::store::open(&config.store, &config.data_dir)?;
        Ok(Superapp {
            packages: Packages::open(&db, &config.data_dir)?,
            trust: TrustStore::open(&db)?,
            storage: AppStorage::new(db.kv_store()?),
            identity: Identity::open(db.as_ref())?,
            wallet: Wallet::open(db.ledger_store()?, config.wallet.clone())?,
            messaging: crate::messaging::Messaging::new(
                db.messaging_store()?,
                config.app_messages_per_minute,
            ),
            store: db,
            runtime: Runtime::new(&config)?,
            config,
            loaded: RwLock::new(HashMap::new()),
            apps_seen: std::sync::atomic::AtomicU64::new(0),
            delivering: tokio::sync::Mutex::new(()),
            instance: format!(
                "{}-{}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos())
                    .unwrap_or(0)
            ),
        })
    }

    /// People, sessions, consent, the access log and launch-token keys.
    pub fn identity(&self) -> &Identity {
        &self.identity
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
    /// must be trusted → validate the manifest → check the UI against it →
    /// the signer must be the key the app is bound to → compile, check
    /// imports, precompile → activate the component and UI atomically.
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
        let ui = check_ui(manifest.ui.as_ref(), package.ui, self.config.max_ui_bytes)?;
        let label = format!("component of package `{}`", manifest.id);
        self.activate(
            manifest,
            "package manifest",
            &label,
            package.component,
            ui,
            Some(public_key_text(&signer)),
            mode,
        )
    }

    /// Installs an unsigned package made by `superapp install --dev` on
    /// another process (the CLI forwarding to a running server). Any
    /// signature is ignored: this is the developer flow, marked unsigned.
    /// `mode` is `Install`, `Replace` or `ReplaceSigned`.
    pub fn install_dev_package(
        &self,
        bytes: &[u8],
        mode: CommitMode,
    ) -> Result<AppRecord, InstallError> {
        PackageError::check_size("package", bytes.len(), self.config.max_package_bytes)?;
        let package = decode_package(bytes)?;
        let manifest = Manifest::parse(&package.manifest_toml, "package manifest")?;
        let ui = check_ui(manifest.ui.as_ref(), package.ui, self.config.max_ui_bytes)?;
        let label = format!("component of `{}`", manifest.id);
        self.activate(
            manifest,
            "package manifest",
            &label,
            package.component,
            ui,
            None,
            dev_mode(mode),
        )
    }

    /// Installs from a manifest, a built component and a UI folder on disk,
    /// unsigned: the developer flow. `replace` reinstalls an installed id in
    /// place, keeping its data (never an app bound to a developer key: see
    /// [`Superapp::install_dev_app`]). The component and the UI folder are
    /// read where the manifest says, wherever that is: for programs that
    /// wrote the manifest themselves. The command line confines them
    /// (`DevApp::read`).
    pub fn install_dev(
        &self,
        manifest_path: &Path,
        replace: bool,
    ) -> Result<AppRecord, InstallError> {
        let app = DevApp::read(
            manifest_path,
            ComponentFile::AsWritten,
            UiFolder::AsWritten,
            &self.config,
        )?;
        let mode = if replace {
            CommitMode::Replace
        } else {
            CommitMode::Install
        };
        self.install_dev_app(app, mode)
    }

    /// Installs a developer app already read from disk, unsigned. `mode` is
    /// `Install`, `Replace`, or `ReplaceSigned` to replace even an app bound
    /// to a developer key.
    pub fn install_dev_app(
        &self,
        app: DevApp,
        mode: CommitMode,
    ) -> Result<AppRecord, InstallError> {
        let file = app.manifest_path.display().to_string();
        let component_file = app.manifest.component.display().to_string();
        // Read under this host's limits, or another's (a CLI forwarding to
        // a server): checked here again against this host's.
        let ui = check_ui(
            app.manifest.ui.as_ref(),
            app.ui.map(|u| u.body().to_vec()),
            self.config.max_ui_bytes,
        )?;
        self.activate(
            app.manifest,
            &file,
            &component_file,
            app.component,
            ui,
            None,
            dev_mode(mode),
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn activate(
        &self,
        manifest: Manifest,
        manifest_label: &str,
        component_label: &str,
        wasm: Vec<u8>,
        ui: Option<Ui>,
        signer: Option<String>,
        mode: CommitMode,
    ) -> Result<AppRecord, InstallError> {
        let err = |detail: String| InstallError::Component {
            file: component_label.to_string(),
            detail,
        };
        manifest.effective_limits(&self.config, manifest_label)?;
        // Refuse what the commit would refuse before spending a compile on it.
        self.packages.check(&manifest, signer.as_deref(), mode)?;
        PackageError::check_size("component", wasm.len(), self.config.max_component_bytes)?;
        check_component_header(&wasm).map_err(err)?;
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
        let record =
            self.packages
                .commit(&manifest, &wasm, &artifact, ui.as_ref(), signer, mode)?;
        self.reload(record.id());
        tracing::info!(app = %record.id(), version = %record.current.manifest.version, ?mode, "activated");
        Ok(record)
    }

    /// Returns `id` to its previous version — component and UI — whichever
    /// key signed it; the app stays bound to its current developer key.
    pub fn rollback(&self, id: &str) -> Result<AppRecord, InstallError> {
        let record = self.packages.rollback(id)?;
        self.reload(id);
        tracing::info!(app = %id, version = %record.current.manifest.version, "rolled back");
        Ok(record)
    }

    /// Removes an app. Its storage and developer-key binding are kept unless
    /// `purge_data`; with it, the id is free for a fresh start. Purging also
    /// works on an app removed earlier whose data or binding was kept.
    pub fn remove(&self, id: &str, purge_data: bool) -> Result<Removal, InstallError> {
        let record = match self.packages.remove(id) {
            Ok(r) => Some(r),
            Err(InstallError::NotInstalled(_)) if purge_data => {
                let kept = self.packages.developer_key(id)?.is_some()
                    || self.storage.usage(id).map_err(kv_error)? > 0;
                if !kept {
                    return Err(InstallError::NotInstalled(id.to_string()));
                }
                None
            }
            Err(e) => return Err(e),
        };
        self.forget(id);
        if purge_data {
            self.storage.purge_app(id).map_err(kv_error)?;
            self.packages.forget_developer_key(id)?;
        }
        tracing::info!(app = %id, purge_data, "removed");
        Ok(Removal {
            app: id.to_string(),
            record,
            data_purged: purge_data,
            developer_key: self.packages.developer_key(id)?,
        })
    }

    /// The developer key `id` is bound to (installed, or removed with its
    /// data kept).
    pub fn developer_key(&self, id: &str) -> Result<Option<KeyBinding>, StoreError> {
        self.packages.developer_key(id)
    }

    /// The operator's explicit change of `id`'s developer key: its next
    /// signed package must be signed with `key`, which must be trusted.
    pub fn rekey(&self, id: &str, key: &str) -> Result<KeyBinding, InstallError> {
        let parsed = parse_public_key(key)?;
        if !self.trust.is_trusted(&parsed)? {
            return Err(InstallError::UntrustedKey {
                key: public_key_text(&parsed),
            });
        }
        let binding = self.packages.rekey(id, key)?;
        tracing::info!(app = %id, key = %binding.key, "developer key changed");
        Ok(binding)
    }

    /// Every installed app.
    pub fn apps(&self) -> Result<Vec<AppRecord>, StoreError> {
        self.packages.list()
    }

    /// The installed app `id`.
    pub fn app(&self, id: &str) -> Result<Option<AppRecord>, StoreError> {
        self.packages.get(id)
    }

    /// The file `path` of app `app`'s UI `tag`, if that is the UI of the
    /// version it runs now.
    pub fn ui_file(&self, app: &str, tag: &str, path: &str) -> Result<UiAsset, UiLookupError> {
        self.packages.ui_file(app, tag, path)
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
        if let Some((_, app)) = self.loaded.read().ok().and_then(|m| m.get(id).cloned()) {
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
            signer: record.signer.clone(),
        });
        let app = self
            .runtime
            .load(
                &self.packages.path(&record.artifact_file),
                &|| self.packages.component(&record).map_err(|e| e.to_string()),
                grants,
                limits,
            )
            .map_err(|e| CallError::Internal(format!("loading `{id}`: {e}")))?;
        let app = Arc::new(app);
        if let Ok(mut loaded) = self.loaded.write() {
            loaded.insert(id.to_string(), (record.artifact_file.clone(), app.clone()));
        }
        Ok(app)
    }

    /// The backend the host's data is in.
    pub fn store(&self) -> &Arc<dyn Backend> {
        &self.store
    }

    /// On a store other hosts share: forgets every loaded app whose
    /// installed version changed there (or that was removed), so the next
    /// call loads what is installed now. Cheap when nothing changed.
    pub fn sync_apps(&self) -> Result<(), StoreError> {
        use std::sync::atomic::Ordering;
        let version = self.store.apps_version()?;
        if self.apps_seen.swap(version, Ordering::SeqCst) == version {
            return Ok(());
        }
        let loaded: Vec<(String, std::path::PathBuf)> = match self.loaded.read() {
            Ok(m) => m
                .iter()
                .map(|(id, (f, _))| (id.clone(), f.clone()))
                .collect(),
            Err(_) => return Ok(()),
        };
        for (id, artifact) in loaded {
            let now = self.packages.get(&id)?.map(|r| r.current.artifact_file);
            if now.as_ref() != Some(&artifact) {
                tracing::info!(app = %id, "changed on another host; reloading");
                self.forget(&id);
            }
        }
        Ok(())
    }

    /// Runs the background work only one host of those sharing a store may
    /// do at a time (expiry sweeps, delivery to apps): whether this host
    /// holds that lease now. Always true on the embedded store.
    pub fn leads(&self, now: i64) -> bool {
        match self.store.lease("background", &self.instance, now, 15) {
            Ok(held) => held,
            Err(e) => {
                tracing::warn!(error = %e, "cannot take the background lease");
                false
            }
        }
    }

    /// What only matters when hosts share a store: waking this host's live
    /// streams for events other hosts wrote, and reloading apps other hosts
    /// changed. Waits on the database's notifications where it has them,
    /// else polls; returns at once on the embedded store.
    pub async fn follow_other_hosts(self: Arc<Self>) {
        if !self.store.shared() {
            return;
        }
        let changes = self.store.changes();
        tracing::info!(
            how = if changes.is_some() {
                "LISTEN/NOTIFY"
            } else {
                "polling"
            },
            "following other hosts' changes"
        );
        let mut seen = loop {
            match self.store.newest_live_event() {
                Ok(n) => break n,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the live events");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        };
        loop {
            match self.store.live_events_after(seen) {
                Ok(events) => {
                    if let Some((_, last)) = events.last() {
                        seen = *last;
                    }
                    self.messaging
                        .wake_streams(events.iter().map(|(u, id)| (u.as_str(), *id)));
                }
                Err(e) => tracing::warn!(error = %e, "cannot read other hosts' live events"),
            }
            if let Err(e) = self.sync_apps() {
                tracing::warn!(error = %e, "cannot check other hosts' installs");
            }
            match &changes {
                // Notified at once; the timeout covers a listener that
                // reconnects (and so may have missed a notification).
                Some(n) => {
                    let _ = tokio::time::timeout(Duration::from_secs(1), n.notified()).await;
                }
                None => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }

    /// Calls `app_id`'s `handle` with `req`, for `caller`, blocking the
    /// thread until it answers. For threads outside async tasks (the CLI,
    /// tests); inside one, await `call_async` instead.
    pub fn call(
        &self,
        app_id: &str,
        caller: Caller,
        req: CallRequest,
    ) -> Result<CallResponse, CallError> {
        wasmtime_wasi::runtime::in_tokio(self.call_async(app_id, caller, req))
    }

    /// Calls `app_id`'s `handle` with `req`, for `caller`, as a future (the
    /// guest yields to the executor at every epoch tick).
    pub async fn call_async(
        &self,
        app_id: &str,
        caller: Caller,
        req: CallRequest,
    ) -> Result<CallResponse, CallError> {
        let app = self.loaded_app(app_id)?;
        if let Some(scene) = &caller.scene {
            crate::identity::check_scene(scene)
                .map_err(|e| CallError::BadRequest(e.to_string()))?;
        }
        let caps = self.caps_for(&app, caller.user, caller.scene)?;
        let started = std::time::Instant::now();
        let result = self.runtime.call_async(&app, caps, req).await;
        // Labelled only once the app is known to be installed: ids from
        // requests for apps that do not exist would grow without bound.
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) => e.code(),
        };
        let app_id = app.grants.app_id.clone();
        metrics::counter!("superapp_app_calls_total", "app" => app_id.clone(), "outcome" => outcome)
            .increment(1);
        metrics::histogram!("superapp_app_call_duration_seconds", "app" => app_id)
            .record(started.elapsed());
        result
    }

    /// The capability state of one call of `app` for `user`.
    fn caps_for(
        &self,
        app: &LoadedApp,
        user: Option<String>,
        scene: Option<String>,
    ) -> Result<CallCaps, CallError> {
        let app_id = app.grants.app_id.as_str();
        let user = match user {
            Some(user_id) => {
                check_user_id(&user_id).map_err(|e| CallError::BadRequest(e.to_string()))?;
                let open_id = self.identity.open_id(&user_id, app_id);
                // Only wallet and messaging apps name a person back by open
                // id (`request-transfer`, `notify`, `reply`); others skip it.
                if app.grants.declared.contains(&Capability::Wallet)
                    || app.grants.declared.contains(&Capability::Notify)
                {
                    self.identity
                        .remember_open_id(&user_id, app_id, &open_id)
                        .map_err(|e| CallError::Internal(e.to_string()))?;
                }
                let union_id =
                    self.identity
                        .union_id(&user_id, app.grants.signer.as_deref(), app_id);
                Some(CallUser {
                    user_id,
                    open_id,
                    union_id,
                })
            }
            None => None,
        };
        Ok(CallCaps {
            grants: app.grants.clone(),
            user,
            scene,
            storage: self.storage.clone(),
            identity: self.identity.clone(),
            wallet: self.wallet.clone(),
            messaging: self.messaging.clone(),
            log_budget: self.config.max_log_lines_per_call,
            accesses: Vec::new(),
        })
    }
}

/// One scope an app requests, with the person's standing decision.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ScopeView {
    /// `profile` or `real-name`.
    pub scope: String,
    /// Why the app asks, from its manifest.
    pub purpose: String,
    /// `granted`, `denied`, or `undecided`.
    pub state: String,
    /// When the person decided (RFC 3339), if they did.
    pub decided_at: Option<String>,
}

impl ScopeView {
    /// `scope` with its `purpose` and the person's standing decision.
    fn new(scope: Capability, purpose: &str, grant: Option<&Grant>) -> ScopeView {
        ScopeView {
            scope: scope.to_string(),
            purpose: purpose.to_string(),
            state: match grant.map(|g| g.state) {
                Some(GrantState::Granted) => "granted",
                Some(GrantState::Denied) => "denied",
                None => "undecided",
            }
            .to_string(),
            decided_at: grant.map(Grant::decided_at_text),
        }
    }
}

/// What the person erased in one app.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Erased {
    pub app: String,
    /// User-scoped storage keys deleted.
    pub storage_keys: usize,
    /// Consent decisions forgotten.
    pub grants: usize,
}

/// One stored value in an export: text when it is UTF-8, else base64.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ExportedValue {
    pub key: String,
    pub text: Option<String>,
    pub base64: Option<String>,
}

/// Everything the host holds about a person in one app.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ExportedApp {
    pub app: String,
    /// False for an app removed since, whose data about the person remains.
    pub installed: bool,
    /// The id this app knows the person by.
    pub open_id: String,
    /// None when the app is no longer installed (its signer is gone).
    pub union_id: Option<String>,
    pub grants: Vec<ScopeView>,
    pub storage: Vec<ExportedValue>,
}

/// One access-log entry as the person reads it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct AccessView {
    pub app: String,
    /// e.g. `identity.profile`, `storage.user`.
    pub capability: String,
    /// `allowed`, `denied` or `failed`.
    #[schema(value_type = crate::schemas::AccessOutcome)]
    pub outcome: crate::identity::AccessOutcome,
    /// How many such uses one call made.
    pub count: u32,
    /// RFC 3339.
    pub at: String,
}

impl From<AccessEntry> for AccessView {
    fn from(e: AccessEntry) -> Self {
        AccessView {
            at: e.at_text(),
            app: e.app,
            capability: e.capability,
            outcome: e.outcome,
            count: e.count,
        }
    }
}

/// Everything the host holds about a person.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Export {
    #[schema(value_type = crate::schemas::UserView)]
    pub user: UserView,
    #[schema(value_type = Vec<crate::schemas::SessionInfo>)]
    pub sessions: Vec<SessionInfo>,
    pub apps: Vec<ExportedApp>,
    pub access_log: Vec<AccessView>,
}

/// The most access-log entries an export includes.
const EXPORT_ACCESS_LIMIT: usize = 100_000;

impl Superapp {
    fn installed(&self, app_id: &str) -> Result<AppRecord, IdentityError> {
        self.packages
            .get(app_id)?
            .ok_or_else(|| IdentityError::UnknownApp(app_id.to_string()))
    }

    /// Signs a launch token for `user_id` opening `app_id` at `path` from
    /// `scene`, issued by `issuer` (the host's public URL).
    pub fn launch(
        &self,
        user_id: &str,
        app_id: &str,
        scene: &str,
        path: &str,
        issuer: &str,
    ) -> Result<(String, LaunchClaims), IdentityError> {
        let record = self.installed(app_id)?;
        let open_id = self.identity.open_id(user_id, app_id);
        let union_id = self
            .identity
            .union_id(user_id, record.current.signer.as_deref(), app_id);
        self.identity
            .launch_token(issuer, app_id, &open_id, &union_id, scene, path)
    }

    /// The scopes `app_id` requests and the person's decision on each.
    pub fn scopes(&self, user_id: &str, app_id: &str) -> Result<Vec<ScopeView>, IdentityError> {
        let record = self.installed(app_id)?;
        let decided = self.identity.grants_in(user_id, app_id)?;
        Ok(record
            .current
            .manifest
            .capabilities
            .iter()
            .filter(|(c, _)| c.needs_consent())
            .map(|(c, req)| {
                let grant = decided.iter().find(|(d, _)| d == c).map(|(_, g)| g);
                ScopeView::new(*c, &req.purpose, grant)
            })
            .collect())
    }

    /// Records the person's decision on `scope` in `app_id`; the app must
    /// request the scope in its manifest.
    pub fn decide_scope(
        &self,
        user_id: &str,
        app_id: &str,
        scope: &str,
        decision: Decision,
    ) -> Result<ScopeView, IdentityError> {
        let record = self.installed(app_id)?;
        let cap = Capability::parse(scope)
            .filter(|c| c.needs_consent())
            .ok_or_else(|| IdentityError::UnknownScope(scope.to_string()))?;
        let request = record
            .current
            .manifest
            .capabilities
            .get(&cap)
            .ok_or_else(|| IdentityError::ScopeNotRequested {
                app: app_id.to_string(),
                scope: scope.to_string(),
            })?;
        let grant = self.identity.decide(user_id, app_id, cap, decision)?;
        tracing::info!(app = %app_id, %scope, ?decision, "consent changed");
        Ok(ScopeView::new(cap, &request.purpose, grant.as_ref()))
    }

    /// The person's access log, newest first.
    pub fn access_log(
        &self,
        user_id: &str,
        app_id: Option<&str>,
        limit: usize,
    ) -> Result<Vec<AccessView>, IdentityError> {
        if let Some(app) = app_id {
            crate::packages::check_app_id(app)
                .map_err(|_| IdentityError::UnknownApp(app.into()))?;
        }
        Ok(self
            .identity
            .access_log(user_id, app_id, limit)?
            .into_iter()
            .map(AccessView::from)
            .collect())
    }

    /// Erases the person's user-scoped storage and consent decisions in
    /// `app_id` (which may have been removed since, if data remains).
    pub fn erase_app_data(&self, user_id: &str, app_id: &str) -> Result<Erased, IdentityError> {
        let installed = self.packages.get(app_id)?.is_some();
        let storage_keys = self.storage.purge_user(app_id, user_id)?;
        let grants = self.identity.erase_grants(user_id, app_id)?;
        if !installed && storage_keys == 0 && grants == 0 {
            return Err(IdentityError::UnknownApp(app_id.to_string()));
        }
        tracing::info!(app = %app_id, storage_keys, grants, "person erased their data");
        Ok(Erased {
            app: app_id.to_string(),
            storage_keys,
            grants,
        })
    }

    /// Everything the host holds about the person: account, sessions, and
    /// per installed app their ids, decisions and stored data, and the
    /// access log.
    pub fn export(&self, user_id: &str) -> Result<Export, IdentityError> {
        use base64::Engine;
        let user = self
            .identity
            .user(user_id)?
            .ok_or_else(|| IdentityError::UnknownUser(user_id.to_string()))?;
        // Installed apps, and any other app that still holds the person's
        // data or decisions (removed without purging).
        let decisions = self.identity.grants_of(user_id)?;
        let mut ids: std::collections::BTreeSet<String> = self
            .packages
            .list()?
            .iter()
            .map(|r| r.id().to_string())
            .collect();
        ids.extend(self.storage.apps_with_user_data(user_id)?);
        ids.extend(decisions.iter().map(|(app, _, _)| app.clone()));
        let mut apps = Vec::new();
        for id in ids {
            let storage = self
                .storage
                .user_entries(&id, user_id)?
                .into_iter()
                .map(|(key, value)| match String::from_utf8(value) {
                    Ok(text) => ExportedValue {
                        key,
                        text: Some(text),
                        base64: None,
                    },
                    Err(e) => ExportedValue {
                        key,
                        text: None,
                        base64: Some(
                            base64::engine::general_purpose::STANDARD.encode(e.into_bytes()),
                        ),
                    },
                })
                .collect();
            let record = self.packages.get(&id)?;
            let grants = match &record {
                Some(_) => self.scopes(user_id, &id)?,
                None => decisions
                    .iter()
                    .filter(|(app, _, _)| *app == id)
                    .map(|(_, scope, g)| {
                        ScopeView::new(*scope, "(the app is no longer installed)", Some(g))
                    })
                    .collect(),
            };
            apps.push(ExportedApp {
                installed: record.is_some(),
                open_id: self.identity.open_id(user_id, &id),
                union_id: record.as_ref().map(|r| {
                    self.identity
                        .union_id(user_id, r.current.signer.as_deref(), &id)
                }),
                grants,
                storage,
                app: id,
            });
        }
        Ok(Export {
            user: user.view(),
            sessions: self.identity.sessions_of(user_id)?,
            apps,
            access_log: self.access_log(user_id, None, EXPORT_ACCESS_LIMIT)?,
        })
    }
}
