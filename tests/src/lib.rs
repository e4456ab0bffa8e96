//! Helpers for the end-to-end tests and benchmarks: where the built guest
//! components are, writing manifests, opening hosts on temporary folders and
//! serving the real HTTP API on 127.0.0.1.

// As in the `superapp` binary (host/src/main.rs); not under the fuzzer,
// whose sanitizer watches the system allocator.
#[cfg(not(fuzzing))]
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

// A fuzz harness reports a broken rule by panicking.
#[allow(clippy::panic)]
pub mod http_fuzz;
pub mod load;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use superapp_host::{HostConfig, Superapp};

/// The folder holding the built guest components (`hello.wasm`, `fixture_*.wasm`).
pub fn guest_dir() -> PathBuf {
    PathBuf::from(env!("SUPERAPP_GUEST_DIR"))
}

/// The workspace root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("SUPERAPP_ROOT"))
}

/// The built component `name` (crate name with `_`, e.g. `fixture_loop`).
pub fn guest(name: &str) -> PathBuf {
    guest_dir().join(format!("{name}.wasm"))
}

/// Writes a manifest for `component` under `dir` and returns its path.
/// `extra` is appended verbatim (capabilities, limits). A component from
/// elsewhere is copied into `dir` first: the command line reads only a
/// component inside the manifest's folder.
pub fn manifest(dir: &Path, id: &str, component: &Path, extra: &str) -> PathBuf {
    let path = dir.join(format!("{id}.toml"));
    let component = match component.file_name() {
        Some(name) if component.is_file() && !component.starts_with(dir) => {
            let copy = dir.join(name);
            std::fs::copy(component, &copy).unwrap_or_else(|e| unreachable_io(&copy, e));
            copy
        }
        _ => component.to_path_buf(),
    };
    let text = format!(
        "id = \"{id}\"\nname = \"Test {id}\"\nversion = \"1.0.0\"\ndeveloper = \"Tests\"\ncomponent = \"{}\"\n{extra}\n",
        component.display()
    );
    std::fs::write(&path, text).unwrap_or_else(|e| unreachable_io(&path, e));
    path
}

#[allow(clippy::panic)]
fn unreachable_io(path: &Path, e: std::io::Error) -> ! {
    panic!("cannot write {}: {e}", path.display())
}

/// The storage capability declaration, for `manifest`'s `extra`.
pub const STORAGE: &str = "[capabilities.storage]\npurpose = \"tests\"\n";

/// What the example app `hello` imports: storage and the profile scope.
pub const HELLO_CAPS: &str = "[capabilities.storage]\npurpose = \"tests\"\n[capabilities.profile]\npurpose = \"greet by name\"\n";

/// Whether the end-to-end tests run on the database backend:
/// `SUPERAPP_TEST_STORE=postgres` (CI runs the suite both ways) puts each
/// data folder's data on a fresh database of the test server
/// (`SUPERAPP_TEST_POSTGRES`, or a throwaway cluster the tests start).
pub fn on_postgres() -> bool {
    std::env::var("SUPERAPP_TEST_STORE").is_ok_and(|v| v == "postgres")
}

/// The database a data folder's data lives in when the tests run on
/// PostgreSQL (the same one each time the folder is opened again); none on
/// the embedded backend.
type Stores = std::sync::Mutex<std::collections::HashMap<PathBuf, String>>;
static STORES: std::sync::OnceLock<Stores> = std::sync::OnceLock::new();

fn register_store(data: &Path, url: String) {
    STORES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(data.to_path_buf(), url);
}

pub fn store_for(data: &Path) -> Option<String> {
    if !on_postgres() {
        return None;
    }
    let mut stores = STORES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    Some(
        stores
            .entry(data.to_path_buf())
            .or_insert_with(superapp_store::pg::testing::fresh_database)
            .clone(),
    )
}

/// The installed apps' blobs (components, UI sections) of a data folder,
/// on whichever backend holds them: files in the folder, or rows in the
/// folder's database.
pub fn blobs(data: &Path) -> anyhow::Result<Arc<dyn superapp_store::BlobStore>> {
    use superapp_store::Backend;
    Ok(match store_for(data) {
        Some(url) => superapp_store::pg::Postgres::connect(&url)?.blob_store(),
        None => Arc::new(superapp_store::FileBlobs::new(data)),
    })
}

/// Names of the blobs under `prefix` (`components/hello/`) in a data
/// folder, on whichever backend holds them.
pub fn blob_names(data: &Path, prefix: &str) -> anyhow::Result<Vec<String>> {
    Ok(match store_for(data) {
        // Connecting first brings the schema up, for a folder never opened.
        Some(url) => superapp_store::pg::Postgres::connect(&url)
            .map_err(|e| e.to_string())
            .and_then(|_| {
                superapp_store::pg::testing::query_texts(
                    &url,
                    &format!(
                        "SELECT name FROM blobs WHERE starts_with(name, '{prefix}') ORDER BY name"
                    ),
                )
            })
            .map_err(|e| anyhow::anyhow!("cannot list blobs: {e}"))?,
        None => {
            let mut names: Vec<String> = std::fs::read_dir(data.join(prefix))
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| format!("{prefix}{}", e.file_name().to_string_lossy()))
                .filter(|n| !n.ends_with(".cwasm"))
                .collect();
            names.sort();
            names
        }
    })
}

/// How many component files a data folder keeps: its apps' components
/// (files or database rows) and this host's compiled artifacts.
pub fn component_files(data: &Path) -> usize {
    let local = count_files(&data.join("components"));
    match store_for(data) {
        Some(_) => local + blob_names(data, "components/").map_or(0, |n| n.len()),
        None => local,
    }
}

/// Copies a data folder that no host has open, with its database when the
/// tests run on PostgreSQL (a new database made from it).
pub fn copy_data(from: &Path, to: &Path) -> anyhow::Result<()> {
    copy_dir(from, to)?;
    let Some(source) = store_for(from) else {
        return Ok(());
    };
    let name = source.rsplit('/').next().unwrap_or_default().to_string();
    let copy = format!("{name}_{:08x}", rand_u32());
    let base = superapp_store::pg::testing::server_url();
    let sql = format!("CREATE DATABASE {copy} TEMPLATE {name}");
    // The closed host's connections end a moment after it is dropped; a
    // template must have none.
    let mut last = String::new();
    wait_until(
        "the source database to be free to copy",
        std::time::Duration::from_secs(30),
        || match superapp_store::pg::testing::run_sql(&format!("{base}/postgres"), &sql) {
            Ok(()) => true,
            Err(e) => {
                last = e;
                false
            }
        },
    )
    .map_err(|e| anyhow::anyhow!("{e}: {last}"))?;
    register_store(to, format!("{base}/{copy}"));
    Ok(())
}

fn rand_u32() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() ^ (d.as_secs() as u32))
        .unwrap_or(0)
        ^ std::process::id()
}

/// Copies folder `from` into `to`, subfolders included.
pub fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

/// A `superapp serve` process (the test binary), killed when dropped.
pub struct HostProcess {
    child: std::process::Child,
    pub base: String,
    pub data: PathBuf,
}

impl HostProcess {
    /// Starts `bin --store store --data data serve` on a free port (with
    /// the operator token `admin`, if given) and waits for the line it
    /// prints once it listens.
    pub fn start(
        bin: &Path,
        store: &str,
        data: &Path,
        admin: Option<&str>,
    ) -> anyhow::Result<HostProcess> {
        Self::start_with_env(bin, store, data, admin, &[])
    }

    /// `start`, with `env` set for the process.
    pub fn start_with_env(
        bin: &Path,
        store: &str,
        data: &Path,
        admin: Option<&str>,
        env: &[(&str, &str)],
    ) -> anyhow::Result<HostProcess> {
        use std::io::BufRead;
        let mut cmd = std::process::Command::new(bin);
        cmd.envs(env.iter().copied());
        cmd.args(["--store", store, "--data"])
            .arg(data)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null());
        if let Some(token) = admin {
            cmd.env("SUPERAPP_ADMIN_TOKEN", token);
        }
        let mut child = cmd.spawn()?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
        let mut line = String::new();
        std::io::BufReader::new(stdout).read_line(&mut line)?;
        let Some(base) = line.split_whitespace().find(|w| w.starts_with("http://")) else {
            let _ = child.kill();
            anyhow::bail!("the host said: {line}");
        };
        Ok(HostProcess {
            base: base.to_string(),
            child,
            data: data.to_path_buf(),
        })
    }

    /// `kill -9`.
    pub fn kill(&mut self) -> std::io::Result<()> {
        self.child.kill()?;
        self.child.wait().map(|_| ())
    }
}

impl Drop for HostProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A host config for tests: a small instance pool so many hosts can exist
/// in one test process; on the backend the run asks for.
pub fn test_config(data: &Path) -> HostConfig {
    let mut c = HostConfig::new(data);
    c.max_concurrent_calls = 16;
    if let Some(url) = store_for(data) {
        c.store = superapp_store::StoreSpec::Postgres(url);
    }
    c
}

/// Opens a host on `data` with the test config.
pub fn open_host(data: &Path) -> anyhow::Result<Superapp> {
    Ok(Superapp::open(test_config(data))?)
}

/// Waits until `condition` holds, checking every few milliseconds, for at
/// most `timeout`; fails naming `what` if it never does. Tests wait on a
/// condition, never for a fixed time.
pub fn wait_until(
    what: &str,
    timeout: std::time::Duration,
    mut condition: impl FnMut() -> bool,
) -> anyhow::Result<()> {
    let start = std::time::Instant::now();
    while !condition() {
        anyhow::ensure!(
            start.elapsed() < timeout,
            "waited {timeout:?} for {what}, and it never happened"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    Ok(())
}

/// The built hostile fixture's manifest text (waits, floods, odd answers;
/// storage and wallet declared), with `extra` appended.
pub fn hostile_manifest(dir: &Path, id: &str, extra: &str) -> PathBuf {
    let caps = format!(
        "[capabilities.storage]\npurpose = \"tests\"\n[capabilities.wallet]\npurpose = \"tests\"\n{extra}"
    );
    manifest(dir, id, &guest("fixture_hostile"), &caps)
}

/// Serves the HTTP API for `host` on 127.0.0.1 (a free port) on a
/// background runtime; returns the base URL and the runtime keeping it alive.
pub fn serve(host: Superapp) -> anyhow::Result<(String, tokio::runtime::Runtime)> {
    let (base, _, rt) = spawn_server(host, None)?;
    Ok((base, rt))
}

/// `serve`, keeping a handle on the host (to add people, read state).
pub fn serve_shared(
    host: Superapp,
) -> anyhow::Result<(String, Arc<Superapp>, tokio::runtime::Runtime)> {
    spawn_server(host, None)
}

/// Serves `host` the way `superapp serve` does, admin routes and
/// `DATA/serve.json` included, so CLI commands on the same data folder go
/// to this server. Returns the base URL, the host and the runtime.
pub fn serve_with_admin(
    host: Superapp,
) -> anyhow::Result<(String, Arc<Superapp>, tokio::runtime::Runtime)> {
    spawn_server(host, Some(superapp_host::identity::random_token()))
}

fn spawn_server(
    host: Superapp,
    admin_token: Option<String>,
) -> anyhow::Result<(String, Arc<Superapp>, tokio::runtime::Runtime)> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("api-server")
        .enable_all()
        .build()?;
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let addr = listener.local_addr()?;
    if let Some(token) = &admin_token {
        superapp_host::remote::ServeInfo {
            addr: addr.to_string(),
            token: token.clone(),
            pid: std::process::id(),
        }
        .write(&host.config().data_dir)?;
    }
    let host = Arc::new(host);
    let options = superapp_host::http::ServeOptions {
        admin_token,
        issuer: format!("http://{addr}"),
    };
    rt.spawn(superapp_host::http::serve(
        host.clone(),
        listener,
        options,
        std::future::pending(),
    ));
    Ok((format!("http://{addr}"), host, rt))
}

/// Where the tests build readers' own crates (the tutorial, what
/// `superapp new` makes): one folder for all of them and every run, so the
/// SDK and its dependencies are compiled once and later builds are
/// incremental.
pub fn readers_target() -> PathBuf {
    root().join("target/tutorial")
}

/// Runs `cargo args` in `dir` into [`readers_target`], with this process's
/// environment minus what belongs to the outer build; answers its standard
/// output, or fails with all it printed.
pub fn reader_cargo(dir: &Path, args: &[&str]) -> anyhow::Result<String> {
    let bin = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(bin)
        .current_dir(dir)
        .args(args)
        .env("CARGO_TARGET_DIR", readers_target())
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    anyhow::ensure!(
        out.status.success(),
        "`cargo {}` in {} failed ({}):\n{stdout}\n{}",
        args.join(" "),
        dir.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(stdout.into_owned())
}

/// `cargo build --release --target wasm32-wasip2` of the crate in `dir`,
/// whose library is `name`, with the component then put under `target`
/// where the reader's own build (into that folder) would leave it.
pub fn reader_build(dir: &Path, name: &str, target: &Path) -> anyhow::Result<()> {
    reader_cargo(dir, &["build", "--release", "--target", "wasm32-wasip2"])?;
    let built = format!("wasm32-wasip2/release/{name}.wasm");
    std::fs::create_dir_all(target.join("wasm32-wasip2/release"))?;
    std::fs::copy(readers_target().join(&built), target.join(&built))?;
    Ok(())
}

/// How many files lie under `dir`, in all subfolders (0 if it is missing).
pub fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| match e.file_type().map(|t| t.is_dir()) {
                    Ok(true) => count_files(&e.path()),
                    _ => 1,
                })
                .sum()
        })
        .unwrap_or(0)
}

/// Runs the `superapp` command line in-process; returns (exit ok, stdout, stderr).
pub fn cli(args: &[&str]) -> (bool, String, String) {
    cli_with_input(args, "")
}

/// `cli` with `input` as standard input.
pub fn cli_with_input(args: &[&str], input: &str) -> (bool, String, String) {
    let mut out = Vec::new();
    let mut err = Vec::new();
    // On the database backend, the folder's database goes along.
    let store = args
        .iter()
        .position(|a| *a == "--data")
        .and_then(|i| args.get(i + 1))
        .and_then(|d| store_for(Path::new(d)));
    let store_args: Vec<&str> = match &store {
        Some(url) if !args.contains(&"--store") => vec!["--store", url.as_str()],
        _ => Vec::new(),
    };
    let code = superapp_host::cli::run_with_input(
        std::iter::once("superapp")
            .chain(store_args.iter().copied())
            .chain(args.iter().copied()),
        &mut input.as_bytes(),
        &mut out,
        &mut err,
    );
    (
        code == std::process::ExitCode::SUCCESS,
        String::from_utf8_lossy(&out).into_owned(),
        String::from_utf8_lossy(&err).into_owned(),
    )
}

/// A served host for end-to-end tests: apps installed from manifests (paths
/// relative to the workspace root, developer installs), people with
/// `PASSWORD`, and the HTTP API with its admin routes on 127.0.0.1.
pub struct TestServer {
    _dir: tempfile::TempDir,
    pub data: PathBuf,
    pub base: String,
    pub host: Arc<Superapp>,
    /// More hosts on the same database (`start_many`): requests go to each
    /// host in turn.
    others: Vec<HostProcess>,
    turn: std::sync::atomic::AtomicUsize,
    /// The operator token for `/admin` routes.
    pub admin: String,
    _rt: tokio::runtime::Runtime,
}

impl TestServer {
    /// Serves the apps of `manifests` to the people `(handle, display name)`.
    pub fn start(manifests: &[&str], people: &[(&str, &str)]) -> anyhow::Result<TestServer> {
        Self::start_with(manifests, people, |_| {})
    }

    /// `start`, with the test config changed by `configure` first.
    pub fn start_with(
        manifests: &[&str],
        people: &[(&str, &str)],
        configure: impl FnOnce(&mut HostConfig),
    ) -> anyhow::Result<TestServer> {
        let dir = tempfile::tempdir()?;
        let data = dir.path().join("data");
        let mut config = test_config(&data);
        configure(&mut config);
        let host = Superapp::open(config)?;
        for m in manifests {
            host.install_dev(&root().join(m), false)?;
        }
        for (handle, name) in people {
            host.identity()
                .add_user(handle, Some(name), Some(PASSWORD))?;
        }
        let (base, host, rt) = serve_with_admin(host)?;
        let admin = superapp_host::remote::ServeInfo::read(&data)
            .map(|i| i.token)
            .ok_or_else(|| anyhow::anyhow!("no serve.json"))?;
        Ok(TestServer {
            _dir: dir,
            data,
            base,
            host,
            admin,
            _rt: rt,
            others: Vec::new(),
            turn: Default::default(),
        })
    }

    /// `start`, on PostgreSQL with `hosts` hosts on one database: this
    /// process's and `hosts - 1` `superapp serve` processes of `bin` (the
    /// test binary `superapp-under-test`). Each request goes to the next
    /// host in turn. On the embedded backend there is one host.
    pub fn start_many(
        manifests: &[&str],
        people: &[(&str, &str)],
        hosts: usize,
        bin: &Path,
    ) -> anyhow::Result<TestServer> {
        Self::start_many_with(manifests, people, hosts, bin, |_| {})
    }

    /// `start_many`, with the test config changed by `configure` first
    /// (multi-host tests put it on a database of their own).
    pub fn start_many_with(
        manifests: &[&str],
        people: &[(&str, &str)],
        hosts: usize,
        bin: &Path,
        configure: impl FnOnce(&mut HostConfig),
    ) -> anyhow::Result<TestServer> {
        let mut t = Self::start_with(manifests, people, configure)?;
        if let superapp_store::StoreSpec::Postgres(url) = t.host.config().store.clone() {
            for i in 1..hosts {
                let data = t._dir.path().join(format!("host{i}"));
                t.others
                    .push(HostProcess::start(bin, &url, &data, Some(&t.admin))?);
            }
        }
        Ok(t)
    }

    /// How many hosts serve this test.
    pub fn hosts(&self) -> usize {
        1 + self.others.len()
    }

    /// The base URL of host `i` (0: this process's).
    pub fn base_of(&self, i: usize) -> &str {
        match i {
            0 => &self.base,
            i => &self.others[i - 1].base,
        }
    }

    /// The `superapp serve` process behind host `i` (from 1).
    pub fn process(&mut self, i: usize) -> &mut HostProcess {
        &mut self.others[i - 1]
    }

    /// The URL of `path` on the next host in turn.
    pub fn url(&self, path: &str) -> String {
        let n = self.turn.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % self.hosts();
        match n {
            0 => format!("{}{path}", self.base),
            i => format!("{}{path}", self.others[i - 1].base),
        }
    }

    /// The operator tops `handle`'s wallet up (`POST /admin/wallet/topup`).
    pub fn top_up(&self, handle: &str, amount: u64, key: &str) -> anyhow::Result<Reply> {
        post_keyed(
            &self.url("/admin/wallet/topup"),
            Some(&self.admin),
            key,
            &serde_json::json!({ "handle": handle, "amount": amount }),
        )
    }

    /// The balance of the person with `token` (`GET /me/wallet`).
    pub fn balance(&self, token: &str) -> anyhow::Result<u64> {
        let r = send("GET", &self.url("/me/wallet"), Some(token), None)?;
        anyhow::ensure!(r.status == 200, "balance: {}", r.body);
        r.json()["balance"]
            .as_u64()
            .ok_or_else(|| anyhow::anyhow!("no balance in {}", r.body))
    }

    /// App `app`'s merchant balance (0 before its first payment).
    pub fn merchant(&self, app: &str) -> anyhow::Result<u64> {
        let r = send(
            "GET",
            &self.url("/admin/wallet/merchants"),
            Some(&self.admin),
            None,
        )?;
        anyhow::ensure!(r.status == 200, "merchants: {}", r.body);
        Ok(r.json()
            .as_array()
            .and_then(|a| a.iter().find(|m| m["app"] == app))
            .and_then(|m| m["balance"].as_u64())
            .unwrap_or(0))
    }

    /// Calls mini-app `app` as the person with `token`, with a JSON body.
    pub fn app(
        &self,
        app: &str,
        method: &str,
        path: &str,
        token: &str,
        body: serde_json::Value,
    ) -> anyhow::Result<Reply> {
        send_json(
            method,
            &self.url(&format!("/apps/{app}/call{path}")),
            Some(token),
            &body,
        )
    }

    /// The ledger audit (the journal replayed against the running ledger).
    pub fn audit(&self) -> anyhow::Result<serde_json::Value> {
        let r = send(
            "GET",
            &self.url("/admin/wallet/audit"),
            Some(&self.admin),
            None,
        )?;
        anyhow::ensure!(r.status == 200, "audit failed: {}", r.body);
        Ok(r.json())
    }

    /// Delivers every due event to the apps now (the background deliverer
    /// may have delivered some already; delivery is at least once).
    pub fn deliver(&self) -> anyhow::Result<()> {
        superapp_host::platform::block_on(
            self.host.deliver_events(superapp_host::identity::now()),
        )?;
        if !self.others.is_empty() {
            // Other hosts may hold some events, claimed: wait for them.
            let mut trouble = None;
            wait_until(
                "every wallet event to reach its app",
                std::time::Duration::from_secs(30),
                || {
                    let _ = superapp_host::platform::block_on(
                        self.host.deliver_events(superapp_host::identity::now()),
                    );
                    match self.host.undelivered_events() {
                        Ok(n) => n == 0,
                        Err(e) => {
                            trouble = Some(e.to_string());
                            true
                        }
                    }
                },
            )?;
            if let Some(e) = trouble {
                anyhow::bail!("cannot read the outbox: {e}");
            }
        }
        Ok(())
    }
}

/// The `p`th percentile of `v` (sorts it), for benchmarks; 0 when empty.
pub fn percentile(v: &mut [f64], p: usize) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get((v.len() * p / 100).min(v.len().saturating_sub(1)))
        .copied()
        .unwrap_or(0.0)
}

/// The median of `v`, for benchmarks; 0 when empty.
pub fn median(mut v: Vec<f64>) -> f64 {
    percentile(&mut v, 50)
}

/// The password every test person gets.
pub const PASSWORD: &str = "test password 1";

/// Adds the person `handle` (password `PASSWORD`); returns their internal id.
pub fn person(host: &Superapp, handle: &str) -> anyhow::Result<String> {
    Ok(host.identity().add_user(handle, None, Some(PASSWORD))?.id)
}

/// One HTTP answer.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    /// The body as JSON (null if it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_default()
    }

    /// The problem+json `type`, or "" for other bodies.
    pub fn problem(&self) -> String {
        self.json()["type"]
            .as_str()
            .unwrap_or("")
            .trim_start_matches("urn:superapp:problem:")
            .to_string()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Sends a request; `token` goes in `authorization: Bearer`, `body` is
/// (bytes, content type).
pub fn send(
    method: &str,
    url: &str,
    token: Option<&str>,
    body: Option<(&[u8], &str)>,
) -> anyhow::Result<Reply> {
    send_with(method, url, token, body, &[])
}

/// `send` with extra request headers.
pub fn send_with(
    method: &str,
    url: &str,
    token: Option<&str>,
    body: Option<(&[u8], &str)>,
    headers: &[(&str, &str)],
) -> anyhow::Result<Reply> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut builder = ureq::http::Request::builder().method(method).uri(url);
    if let Some(t) = token {
        builder = builder.header("authorization", format!("Bearer {t}"));
    }
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let mut resp = match body {
        Some((bytes, content_type)) => agent.run(
            builder
                .header("content-type", content_type)
                .body(bytes.to_vec())?,
        )?,
        None => agent.run(builder.body(())?)?,
    };
    let headers = resp
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
        .collect::<Vec<_>>();
    let content_type = headers
        .iter()
        .find(|(n, _)| n == "content-type")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    Ok(Reply {
        status: resp.status().as_u16(),
        content_type,
        headers,
        body: resp
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_string()?,
    })
}

/// Sends `value` as a JSON body.
pub fn send_json(
    method: &str,
    url: &str,
    token: Option<&str>,
    value: &serde_json::Value,
) -> anyhow::Result<Reply> {
    let body = serde_json::to_vec(value)?;
    send(method, url, token, Some((&body, "application/json")))
}

/// POSTs `value` as JSON with an `Idempotency-Key` header (money routes).
pub fn post_keyed(
    url: &str,
    token: Option<&str>,
    key: &str,
    value: &serde_json::Value,
) -> anyhow::Result<Reply> {
    let body = serde_json::to_vec(value)?;
    send_with(
        "POST",
        url,
        token,
        Some((&body, "application/json")),
        &[("idempotency-key", key)],
    )
}

/// Logs `handle` in with `PASSWORD`; returns the session token.
pub fn login(base: &str, handle: &str) -> anyhow::Result<String> {
    let reply = send_json(
        "POST",
        &format!("{base}/auth/login"),
        None,
        &serde_json::json!({ "handle": handle, "password": PASSWORD }),
    )?;
    anyhow::ensure!(reply.status == 200, "login failed: {}", reply.body);
    Ok(reply.json()["token"].as_str().unwrap_or("").to_string())
}

/// One server-sent event.
#[derive(Debug, Clone)]
pub struct SseEvent {
    pub id: String,
    pub event: String,
    pub data: serde_json::Value,
}

/// A client of `GET /me/events`, reading events as they arrive.
pub struct EventStream {
    lines: std::io::Lines<std::io::BufReader<Box<dyn std::io::Read + Send>>>,
}

impl EventStream {
    /// Opens the stream; `last_event_id` resumes after that event. Returns
    /// the status too: a refused stream is an error reply, not a stream.
    pub fn open(
        base: &str,
        token: &str,
        last_event_id: Option<&str>,
    ) -> anyhow::Result<Result<EventStream, Reply>> {
        // A broken stream fails the test instead of hanging it.
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_recv_body(Some(std::time::Duration::from_secs(60)))
            .build()
            .into();
        let mut builder = ureq::http::Request::builder()
            .method("GET")
            .uri(format!("{base}/me/events"))
            .header("authorization", format!("Bearer {token}"));
        if let Some(id) = last_event_id {
            builder = builder.header("last-event-id", id);
        }
        let resp = agent.run(builder.body(())?)?;
        if resp.status() != 200 {
            let status = resp.status().as_u16();
            let body = resp.into_body().read_to_string()?;
            return Ok(Err(Reply {
                status,
                content_type: String::new(),
                headers: Vec::new(),
                body,
            }));
        }
        let reader: Box<dyn std::io::Read + Send> = Box::new(resp.into_body().into_reader());
        use std::io::BufRead;
        Ok(Ok(EventStream {
            lines: std::io::BufReader::new(reader).lines(),
        }))
    }

    /// The next event (keep-alive comments skipped).
    pub fn next_event(&mut self) -> anyhow::Result<SseEvent> {
        let (mut id, mut event, mut data) = (String::new(), String::new(), String::new());
        loop {
            let line = self
                .lines
                .next()
                .ok_or_else(|| anyhow::anyhow!("the event stream ended"))??;
            if line.is_empty() {
                if data.is_empty() {
                    continue;
                }
                return Ok(SseEvent {
                    id,
                    event,
                    data: serde_json::from_str(&data)?,
                });
            }
            if let Some(v) = line.strip_prefix("id:") {
                id = v.trim().to_string();
            } else if let Some(v) = line.strip_prefix("event:") {
                event = v.trim().to_string();
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push_str(v.trim_start());
            }
        }
    }
}
