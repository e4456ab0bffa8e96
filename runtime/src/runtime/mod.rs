//! The wasmtime side of the host: one Engine (pooling allocator when the
//! machine allows it), the epoch ticker behind deadlines, compiling and
//! precompiling components, `InstancePre` per installed app, and one fresh
//! Store per call with memory, time and boundary limits. It knows nothing of
//! wallets or users: capabilities and services supply the per-call state.

mod limits;
mod output;

use crate::capabilities::{self, CallCaps, GuestRequest, GuestResponse, Miniapp, MiniappPre};
use crate::config::{EPOCH_TICK, HostConfig};
use limits::CallLimiter;
use output::GuestOutput;
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, Trap};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// A request to a mini-app, as the edges hand it over.
#[derive(Debug, Clone, Default)]
pub struct CallRequest {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// A mini-app's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Why a call produced no response. Codes are stable.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum CallError {
    #[error("no mini-app `{0}` is installed")]
    AppNotFound(String),
    #[error("the request is too large: {0}")]
    RequestTooLarge(String),
    #[error("the request's headers are too large: {size} bytes, the limit is {limit}")]
    HeadersTooLarge { size: usize, limit: usize },
    #[error("the request is malformed: {0}")]
    BadRequest(String),
    #[error("the mini-app ran past its deadline of {deadline_ms} ms")]
    Timeout { deadline_ms: u64 },
    #[error("the mini-app exceeded its memory limit of {limit_bytes} bytes")]
    OutOfMemory { limit_bytes: u64 },
    #[error("the mini-app trapped: {0}")]
    Trap(String),
    #[error("the mini-app's response is too large: {size} bytes, the limit is {limit}")]
    ResponseTooLarge { size: usize, limit: usize },
    #[error("the mini-app's response is malformed: {0}")]
    BadResponse(String),
    #[error("the host is at its limit of concurrent calls; try again")]
    Busy,
    #[error("the host failed: {0}")]
    Internal(String),
}

impl CallError {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            CallError::AppNotFound(_) => "app-not-found",
            CallError::RequestTooLarge(_) => "request-too-large",
            CallError::HeadersTooLarge { .. } => "headers-too-large",
            CallError::BadRequest(_) => "bad-request",
            CallError::Timeout { .. } => "timeout",
            CallError::OutOfMemory { .. } => "out-of-memory",
            CallError::Trap(_) => "trap",
            CallError::ResponseTooLarge { .. } => "response-too-large",
            CallError::BadResponse(_) => "bad-response",
            CallError::Busy => "busy",
            CallError::Internal(_) => "internal",
        }
    }
}

/// What a call's path must be, whichever edge it came through: it starts
/// with `/`, has no `.` or `..` segment (an app that joins it to a prefix
/// must not be walked out of it) and no control character or backslash.
/// Says what is wrong.
pub fn check_call_path(path: &str) -> Result<(), String> {
    if !path.starts_with('/') {
        return Err("must start with `/`".into());
    }
    if path.split('/').any(|seg| seg == "." || seg == "..") {
        return Err("must not have `.` or `..` segments".into());
    }
    if path.chars().any(|c| c.is_control() || c == '\\') {
        return Err("must not contain control characters or `\\`".into());
    }
    Ok(())
}

fn header_bytes(headers: &[(String, String)]) -> usize {
    headers.iter().map(|(n, v)| n.len() + v.len()).sum()
}

/// Why a component could not be compiled or loaded.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    #[error("not a valid WebAssembly component: {0}")]
    Invalid(String),
    #[error(
        "the component's imports do not match this host's interfaces (was it built against another SDK version?): {0}"
    )]
    ImportMismatch(String),
    #[error(
        "the component was built against another version of the platform contract (it imports `{import}`); this host speaks superapp:platform@{supported}: reinstall the app rebuilt with the SDK of that version"
    )]
    PlatformVersion {
        import: String,
        supported: &'static str,
    },
    #[error("cannot read or write {path}: {detail}")]
    Io { path: String, detail: String },
}

// Core's, so the package rules that compute them need not import the runtime.
pub use superapp_core::limits::CallLimits;

/// An installed app, compiled and pre-linked, ready to instantiate.
pub struct LoadedApp {
    pub grants: Arc<capabilities::AppGrants>,
    pub limits: CallLimits,
    pre: MiniappPre<CallState>,
}

/// Which export one instance runs.
enum Invocation {
    Handle(GuestRequest),
    Event(capabilities::GuestEvent),
}

enum Invoked {
    Response(GuestResponse),
    Event(Result<(), String>),
}

/// What a Store carries during one call.
pub struct CallState {
    wasi: WasiCtx,
    table: ResourceTable,
    limiter: CallLimiter,
    caps: CallCaps,
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Stops the epoch ticker thread when the runtime goes away.
struct Ticker {
    stop: Arc<AtomicBool>,
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The instance slots every call needs one of (the pooling allocator's),
/// and each app's share of them, so one app's stuck or flooding calls can
/// never take the slots other apps need.
struct CallSlots {
    total: Arc<Semaphore>,
    per_app: Mutex<HashMap<String, Arc<Semaphore>>>,
    share: usize,
}

/// A call's hold on its slots; dropped after its store is.
struct SlotPermit {
    _app: OwnedSemaphorePermit,
    _total: OwnedSemaphorePermit,
}

impl CallSlots {
    fn new(config: &HostConfig) -> CallSlots {
        let total = config.max_concurrent_calls.max(1) as usize;
        CallSlots {
            total: Arc::new(Semaphore::new(total)),
            per_app: Mutex::new(HashMap::new()),
            share: (config.max_concurrent_calls_per_app.max(1) as usize).min(total),
        }
    }

    fn app(&self, app_id: &str) -> Arc<Semaphore> {
        match self.per_app.lock() {
            Ok(mut map) => map
                .entry(app_id.to_string())
                .or_insert_with(|| Arc::new(Semaphore::new(self.share)))
                .clone(),
            // A poisoned map still gives the call a bounded semaphore.
            Err(_) => Arc::new(Semaphore::new(self.share)),
        }
    }

    /// Waits at most `wait` for the app's share first (a flooding app queues
    /// behind itself), then for a slot of the pool.
    async fn acquire(&self, app_id: &str, wait: Duration) -> Result<SlotPermit, CallError> {
        let app = self.app(app_id);
        let total = self.total.clone();
        let both = async move {
            let app = app.acquire_owned().await.ok()?;
            let total = total.acquire_owned().await.ok()?;
            Some(SlotPermit {
                _app: app,
                _total: total,
            })
        };
        match tokio::time::timeout(wait, both).await {
            Ok(Some(permit)) => Ok(permit),
            _ => Err(CallError::Busy),
        }
    }

    fn in_flight(&self, app_id: &str) -> usize {
        let available = self
            .per_app
            .lock()
            .ok()
            .and_then(|m| m.get(app_id).map(|s| s.available_permits()))
            .unwrap_or(self.share);
        self.share - available
    }
}

/// The engine, the linker and the limits every call shares.
pub struct Runtime {
    engine: Engine,
    linker: Linker<CallState>,
    config: HostConfig,
    pooling: bool,
    slots: CallSlots,
    _ticker: Ticker,
}

fn engine_config(config: &HostConfig, pooling: bool) -> Config {
    let mut c = Config::new();
    c.wasm_component_model(true);
    c.epoch_interruption(true);
    c.memory_init_cow(true);
    c.parallel_compilation(true);
    if pooling {
        let slots = config.max_concurrent_calls.max(1);
        let mut p = PoolingAllocationConfig::default();
        // A Rust wasip2 component holds a handful of core instances, one or
        // two memories and a few tables; leave headroom per slot.
        p.total_component_instances(slots);
        p.total_core_instances(slots * 8);
        p.total_memories(slots * 2);
        p.total_tables(slots * 8);
        p.max_core_instances_per_component(16);
        p.max_memories_per_component(4);
        p.max_tables_per_component(16);
        p.max_memory_size(config.max_memory_bytes as usize);
        p.total_stacks(slots);
        // A slot's first MiB of memory and 64 KiB of tables are zeroed in
        // place when it is reused, not handed back with madvise: small guests
        // then reset without a page-table flush on every core (the decommit
        // IPIs perf showed), which the http benchmark measured at 1.6× the
        // calls/s over HTTP and 1.7× in-process. Keeping stacks resident
        // too measured slower; batching decommits ran out of slots.
        p.linear_memory_keep_resident(1 << 20);
        p.table_keep_resident(64 << 10);
        c.allocation_strategy(InstanceAllocationStrategy::Pooling(p));
    }
    c
}

impl Runtime {
    /// Builds the engine (probing for the pooling allocator), the linker with
    /// WASI and every capability, and starts the epoch ticker.
    pub fn new(config: &HostConfig) -> Result<Runtime, CompileError> {
        let (engine, pooling) = match config.pooling {
            true => match Engine::new(&engine_config(config, true)) {
                Ok(e) => (e, true),
                Err(e) => {
                    tracing::warn!(error = %e, "pooling allocator unavailable; using on-demand allocation");
                    (Self::plain_engine(config)?, false)
                }
            },
            false => (Self::plain_engine(config)?, false),
        };
        let mut linker = Linker::<CallState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| CompileError::Invalid(format!("linking WASI: {e}")))?;
        capabilities::add_to_linker(&mut linker, |s: &mut CallState| &mut s.caps)
            .map_err(|e| CompileError::Invalid(format!("linking capabilities: {e}")))?;

        let stop = Arc::new(AtomicBool::new(false));
        let ticker_engine = engine.clone();
        let ticker_stop = stop.clone();
        std::thread::Builder::new()
            .name("superapp-epoch".into())
            .spawn(move || {
                while !ticker_stop.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    ticker_engine.increment_epoch();
                }
            })
            .map_err(|e| CompileError::Invalid(format!("starting the epoch ticker: {e}")))?;

        Ok(Runtime {
            engine,
            linker,
            config: config.clone(),
            pooling,
            slots: CallSlots::new(config),
            _ticker: Ticker { stop },
        })
    }

    fn plain_engine(config: &HostConfig) -> Result<Engine, CompileError> {
        Engine::new(&engine_config(config, false))
            .map_err(|e| CompileError::Invalid(format!("creating the engine: {e}")))
    }

    /// Whether the pooling allocator is in use.
    pub fn pooling(&self) -> bool {
        self.pooling
    }

    /// The shared engine (benchmarks build their baseline on the same one).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// How many calls (and event deliveries) of `app_id` hold a slot now.
    pub fn calls_in_flight(&self, app_id: &str) -> usize {
        self.slots.in_flight(app_id)
    }

    /// Compiles a component, returning it with the names of its imports.
    pub fn compile(&self, wasm: &[u8]) -> Result<(Component, Vec<String>), CompileError> {
        let component = Component::new(&self.engine, wasm)
            .map_err(|e| CompileError::Invalid(format!("{e:#}")))?;
        let imports = component
            .component_type()
            .imports(&self.engine)
            .map(|(name, _)| name.to_string())
            .collect();
        Ok((component, imports))
    }

    /// Checks that every import of `component` is provided by this host.
    pub fn check_linkable(&self, component: &Component) -> Result<(), CompileError> {
        self.linker
            .instantiate_pre(component)
            .map(|_| ())
            .map_err(|e| CompileError::ImportMismatch(format!("{e:#}")))
    }

    /// The precompiled form of a component, to be written at install.
    pub fn serialize(&self, component: &Component) -> Result<Vec<u8>, CompileError> {
        component
            .serialize()
            .map_err(|e| CompileError::Invalid(format!("serializing: {e:#}")))
    }

    /// Loads an app from its precompiled artifact, recompiling from the
    /// component `wasm` gives (and rewriting the artifact) if the artifact
    /// is missing or was made by another engine configuration or wasmtime
    /// version. The artifact is this host's cache; the component comes from
    /// wherever the packages keep it.
    pub fn load(
        &self,
        artifact: &Path,
        wasm: &dyn Fn() -> Result<Vec<u8>, String>,
        grants: Arc<capabilities::AppGrants>,
        limits: CallLimits,
    ) -> Result<LoadedApp, CompileError> {
        // SAFETY: the artifact was written by `serialize` of this host into
        // its own data folder; wasmtime still checks its header and engine
        // compatibility and we fall back to compiling the wasm if it refuses.
        #[allow(unsafe_code)]
        let loaded = unsafe { Component::deserialize_file(&self.engine, artifact) };
        let component = match loaded {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(artifact = %artifact.display(), error = %e, "recompiling component");
                let bytes = wasm().map_err(|detail| CompileError::Io {
                    path: artifact.with_extension("wasm").display().to_string(),
                    detail,
                })?;
                let (component, _) = self.compile(&bytes)?;
                let serialized = self.serialize(&component)?;
                if let Err(e) = crate::fsutil::write_atomic(artifact, &serialized) {
                    tracing::warn!(artifact = %artifact.display(), error = %e, "could not rewrite artifact");
                }
                component
            }
        };
        self.prepare(&component, grants, limits)
    }

    /// Pre-links a compiled component for fast per-call instantiation.
    pub fn prepare(
        &self,
        component: &Component,
        grants: Arc<capabilities::AppGrants>,
        limits: CallLimits,
    ) -> Result<LoadedApp, CompileError> {
        let pre = self.linker.instantiate_pre(component).map_err(|e| {
            // An app installed under an earlier contract: say so, by name.
            let engine = component.engine();
            let other = component
                .component_type()
                .imports(engine)
                .map(|(name, _)| name.to_string())
                .find(|name| {
                    matches!(
                        crate::packages::Capability::for_import(name),
                        crate::packages::ImportNeed::OtherVersion(_)
                    )
                });
            match other {
                Some(import) => CompileError::PlatformVersion {
                    import,
                    supported: crate::packages::PLATFORM_VERSION,
                },
                None => CompileError::ImportMismatch(format!("{e:#}")),
            }
        })?;
        let pre = MiniappPre::new(pre).map_err(|e| CompileError::Invalid(format!("{e:#}")))?;
        Ok(LoadedApp {
            grants,
            limits,
            pre,
        })
    }

    /// Runs one request through a fresh instance of `app`, blocking the
    /// thread (for the CLI and other synchronous callers).
    pub fn call(
        &self,
        app: &LoadedApp,
        caps: CallCaps,
        req: CallRequest,
    ) -> Result<CallResponse, CallError> {
        wasmtime_wasi::runtime::in_tokio(self.call_async(app, caps, req))
    }

    /// Runs one request through a fresh instance of `app`, as a future that
    /// yields to its executor at every epoch tick until the deadline.
    pub async fn call_async(
        &self,
        app: &LoadedApp,
        caps: CallCaps,
        req: CallRequest,
    ) -> Result<CallResponse, CallError> {
        let cfg = &self.config;
        if req.body.len() > cfg.max_request_bytes {
            return Err(CallError::RequestTooLarge(format!(
                "the body has {} bytes, the limit is {}",
                req.body.len(),
                cfg.max_request_bytes
            )));
        }
        if req.headers.len() > cfg.max_headers {
            return Err(CallError::RequestTooLarge(format!(
                "{} headers, the limit is {}",
                req.headers.len(),
                cfg.max_headers
            )));
        }
        let header_bytes = header_bytes(&req.headers);
        if header_bytes > cfg.max_request_header_bytes {
            return Err(CallError::HeadersTooLarge {
                size: header_bytes,
                limit: cfg.max_request_header_bytes,
            });
        }
        check_call_path(&req.path).map_err(|why| {
            CallError::BadRequest(format!("the path `{}` {why}", req.path.escape_debug()))
        })?;
        let request = GuestRequest {
            method: req.method,
            path: req.path,
            query: req.query,
            headers: req.headers,
            body: req.body,
        };
        match self.invoke(app, caps, Invocation::Handle(request)).await? {
            Invoked::Response(response) => self.check_response(response),
            Invoked::Event(_) => Err(CallError::BadResponse("wrong export answered".into())),
        }
    }

    /// Hands one event to `app`'s `on-event` export, in a fresh instance
    /// with the same limits as a call. The inner result is the app's answer.
    pub async fn deliver_event(
        &self,
        app: &LoadedApp,
        caps: CallCaps,
        event: capabilities::GuestEvent,
    ) -> Result<Result<(), String>, CallError> {
        match self.invoke(app, caps, Invocation::Event(event)).await? {
            Invoked::Event(answer) => Ok(answer),
            Invoked::Response(_) => Err(CallError::BadResponse("wrong export answered".into())),
        }
    }

    /// Instantiates `app` in a fresh store and runs one export in it, in
    /// one of the app's call slots, within its deadline.
    async fn invoke(
        &self,
        app: &LoadedApp,
        caps: CallCaps,
        what: Invocation,
    ) -> Result<Invoked, CallError> {
        let cfg = &self.config;
        let app_id = app.grants.app_id.clone();
        // Declared before the store, so the slot is released after it.
        let _slot = match self.slots.acquire(&app_id, app.limits.deadline).await {
            Ok(slot) => slot,
            Err(e) => {
                tracing::warn!(app = %app_id, code = e.code(), "no call slot free within the deadline");
                return Err(e);
            }
        };
        let stdout = GuestOutput::new(cfg.max_guest_output_bytes);
        let stderr = GuestOutput::new(cfg.max_guest_output_bytes);
        let wasi = WasiCtx::builder()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let mut store = Store::new(
            &self.engine,
            CallState {
                wasi,
                table: ResourceTable::new(),
                limiter: CallLimiter::new(app.limits.memory_bytes),
                caps,
            },
        );
        store.limiter(|s| &mut s.limiter);
        // Each tick, yield to the executor (other requests run) until the
        // deadline has passed, then trap with `Interrupt`.
        let started = tokio::time::Instant::now();
        let deadline = started + app.limits.deadline;
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            Ok(if tokio::time::Instant::now() >= deadline {
                wasmtime::UpdateDeadline::Interrupt
            } else {
                wasmtime::UpdateDeadline::Yield(1)
            })
        });

        let run = async {
            let instance: Miniapp = app.pre.instantiate_async(&mut store).await?;
            match &what {
                Invocation::Handle(request) => instance
                    .call_handle(&mut store, request)
                    .await
                    .map(Invoked::Response),
                Invocation::Event(event) => instance
                    .call_on_event(&mut store, event)
                    .await
                    .map(Invoked::Event),
            }
        };
        // Epoch interruption only reaches a guest running wasm code; one
        // parked in a host call (a WASI sleep or poll, a wait for the
        // ledger) is stopped by dropping the whole call at the deadline,
        // which unwinds its fiber. The store is dropped right after.
        let result = tokio::time::timeout_at(deadline, run).await;

        stdout.emit(&app_id, "stdout", cfg.max_log_lines_per_call);
        stderr.emit(&app_id, "stderr", cfg.max_log_lines_per_call);
        let checked = match result {
            Ok(result) => result.map_err(|e| self.classify(&store, app, e, &stderr.text())),
            Err(_) => Err(CallError::Timeout {
                deadline_ms: app.limits.deadline.as_millis() as u64,
            }),
        };
        if let Err(err) = &checked {
            tracing::warn!(app = %app_id, code = err.code(), error = %err, "mini-app call failed");
        }
        checked
    }

    /// Holds the guest's answer to the boundary limits.
    fn check_response(&self, response: GuestResponse) -> Result<CallResponse, CallError> {
        let cfg = &self.config;
        if response.body.len() > cfg.max_response_bytes {
            return Err(CallError::ResponseTooLarge {
                size: response.body.len(),
                limit: cfg.max_response_bytes,
            });
        }
        // 1xx are protocol signals of the hop itself (101 would switch
        // the client's connection), never an app's answer.
        if !(200..=599).contains(&response.status) {
            return Err(CallError::BadResponse(format!(
                "status {} is not a final HTTP status (200–599)",
                response.status
            )));
        }
        if response.headers.len() > cfg.max_headers {
            return Err(CallError::BadResponse(format!(
                "{} headers, the limit is {}",
                response.headers.len(),
                cfg.max_headers
            )));
        }
        let header_bytes = header_bytes(&response.headers);
        if header_bytes > cfg.max_response_header_bytes {
            return Err(CallError::BadResponse(format!(
                "{header_bytes} bytes of headers, the limit is {}",
                cfg.max_response_header_bytes
            )));
        }
        Ok(CallResponse {
            status: response.status,
            headers: response.headers,
            body: response.body,
        })
    }

    fn classify(
        &self,
        store: &Store<CallState>,
        app: &LoadedApp,
        e: wasmtime::Error,
        stderr: &str,
    ) -> CallError {
        if store.data().limiter.hit_memory_limit() {
            return CallError::OutOfMemory {
                limit_bytes: app.limits.memory_bytes,
            };
        }
        match e.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => CallError::Timeout {
                deadline_ms: app.limits.deadline.as_millis() as u64,
            },
            Some(Trap::AllocationTooLarge) => CallError::OutOfMemory {
                limit_bytes: app.limits.memory_bytes,
            },
            Some(Trap::StackOverflow) => {
                CallError::Trap(format!("stack overflow ({})", Trap::StackOverflow))
            }
            Some(trap) => {
                // A Rust panic prints its message to stderr before it traps;
                // that message is what the developer wants to see.
                let panic = stderr
                    .lines()
                    .skip_while(|l| !l.contains("panicked at"))
                    .take(2)
                    .collect::<Vec<_>>()
                    .join(" ");
                if panic.is_empty() {
                    CallError::Trap(trap.to_string())
                } else {
                    CallError::Trap(format!("{trap}: {panic}"))
                }
            }
            None => {
                let text = format!("{e:#}");
                if text.contains("concurrent") && text.contains("limit") {
                    CallError::Busy
                } else {
                    CallError::Trap(text)
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn a_component_built_against_another_platform_version_is_named_when_it_loads() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let mut config = HostConfig::new(dir.path());
        config.pooling = false;
        let runtime = Runtime::new(&config).unwrap_or_else(|e| panic!("runtime: {e}"));
        // What an app built with the 0.1 SDK imports: the log interface of 0.1.0.
        let wasm = wat::parse_str(
            r#"(component
                (import "superapp:platform/log@0.1.0" (instance
                    (export "log" (func (param "message" string)))))
            )"#,
        )
        .unwrap_or_else(|e| panic!("wat: {e}"));
        let (component, _) = runtime
            .compile(&wasm)
            .unwrap_or_else(|e| panic!("compile: {e}"));
        let grants = Arc::new(capabilities::AppGrants {
            app_id: "old".into(),
            declared: Default::default(),
            storage: crate::kv::StorageLimits {
                quota_bytes: 0,
                value_bytes: 0,
            },
            signer: None,
        });
        let limits = CallLimits {
            memory_bytes: 1 << 20,
            deadline: Duration::from_secs(1),
        };
        match runtime.prepare(&component, grants, limits) {
            Err(e @ CompileError::PlatformVersion { .. }) => {
                let text = e.to_string();
                assert!(text.contains("superapp:platform/log@0.1.0"), "{text}");
                assert!(
                    text.contains(&format!(
                        "superapp:platform@{}",
                        crate::packages::PLATFORM_VERSION
                    )),
                    "{text}"
                );
            }
            Err(other) => panic!("another error: {other}"),
            Ok(_) => panic!("an old component was linked"),
        }
    }
}
