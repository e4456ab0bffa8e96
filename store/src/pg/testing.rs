//! A PostgreSQL server for tests, and a fresh database on it per test.
//! `SUPERAPP_TEST_POSTGRES` names a server where tests may create
//! databases (CI starts one for the whole run); without it the first test
//! that asks starts a throwaway cluster of its own — `initdb` in a
//! temporary folder, on a free port, as the `postgres` user when run as
//! root — which dies with the test process. With neither a URL nor the
//! server's binaries a test fails saying so: it never passes silently.

#![allow(clippy::panic, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The variable naming a server tests may use.
pub const ENV: &str = "SUPERAPP_TEST_POSTGRES";

/// Where this machine's PostgreSQL server binaries are, newest version
/// first: `/usr/lib/postgresql/<version>/bin`, or `pg_config --bindir`.
pub fn server_binaries() -> Option<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    found.sort();
    if let Some((_, bin)) = found.pop() {
        return Some(bin);
    }
    let out = Command::new("pg_config").arg("--bindir").output().ok()?;
    let bin = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    bin.join("initdb").exists().then_some(bin)
}

struct Server {
    /// `postgres://user@host:port` with no database.
    base: String,
}

static SERVER: OnceLock<Server> = OnceLock::new();

/// The server's URL without a database (`postgres://postgres@127.0.0.1:PORT`).
pub fn server_url() -> String {
    SERVER.get_or_init(start_or_find).base.clone()
}

/// A new, empty database on the test server; its URL.
pub fn fresh_database() -> String {
    let base = server_url();
    let name = format!("t_{:016x}", rand::random::<u64>());
    let admin = format!("{base}/postgres");
    let sql = format!("CREATE DATABASE {name} ENCODING 'UTF8' TEMPLATE template0");
    run_sql(&admin, &sql).unwrap_or_else(|e| panic!("cannot create a test database: {e}"));
    format!("{base}/{name}")
}

/// Runs `f` with a client connected to `url`, from a thread of its own
/// (tests call this from inside and outside async runtimes alike).
fn with_client<T: Send + 'static>(
    url: &str,
    f: impl for<'c> FnOnce(
        &'c tokio_postgres::Client,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<T, tokio_postgres::Error>> + Send + 'c>,
    > + Send
    + 'static,
) -> Result<T, String> {
    let url = url.to_string();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        rt.block_on(async move {
            let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .map_err(|e| e.to_string())?;
            let task = tokio::spawn(conn);
            let r = f(&client).await.map_err(|e| e.to_string());
            drop(client);
            let _ = task.await;
            r
        })
    })
    .join()
    .map_err(|_| "the SQL thread panicked".to_string())?
}

/// Runs `sql` on `url`.
pub fn run_sql(url: &str, sql: &str) -> Result<(), String> {
    let sql = sql.to_string();
    with_client(url, move |c| {
        Box::pin(async move { c.batch_execute(&sql).await })
    })
}

/// The first column of every row `sql` returns on `url`, as text.
pub fn query_texts(url: &str, sql: &str) -> Result<Vec<String>, String> {
    let sql = sql.to_string();
    with_client(url, move |c| {
        Box::pin(async move {
            Ok(c.simple_query(&sql)
                .await?
                .into_iter()
                .filter_map(|m| match m {
                    tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
                    _ => None,
                })
                .collect())
        })
    })
}

fn start_or_find() -> Server {
    if let Ok(url) = std::env::var(ENV) {
        let base = url.trim_end_matches('/').to_string();
        return Server { base };
    }
    let Some(bin) = server_binaries() else {
        panic!(
            "these tests need PostgreSQL, and there is none: {ENV} is not set and no server \
             binaries were found under /usr/lib/postgresql/*/bin. Install them \
             (apt-get install postgresql) or set {ENV}=postgres://user@host:port for a server \
             where tests may create databases."
        );
    };
    start_cluster(&bin, "tests", false)
        .unwrap_or_else(|e| panic!("cannot start a throwaway PostgreSQL: {e}"))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Clusters of test processes that are gone (they die with their process
/// but cannot remove their folder).
fn sweep(root: &Path) {
    for entry in std::fs::read_dir(root).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let pid = name.split('-').next().unwrap_or_default().to_string();
        if !Path::new("/proc").join(&pid).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// A throwaway cluster of this process's own with PostgreSQL's durable
/// defaults (fsync, synchronous commit): for benchmarks, which must pay
/// what production pays. Returns its URL without a database.
pub fn durable_cluster() -> Result<String, String> {
    let bin = server_binaries().ok_or("no PostgreSQL server binaries on this machine")?;
    start_cluster(&bin, "durable", true).map(|s| s.base)
}

fn start_cluster(bin: &Path, name: &str, durable: bool) -> Result<Server, String> {
    let root = std::env::temp_dir().join("superapp-test-postgres");
    std::fs::create_dir_all(&root).map_err(|e| e.to_string())?;
    sweep(&root);
    let dir = root.join(format!("{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let data = dir.join("data");
    let root_user = is_root();
    if root_user {
        // initdb refuses to run as root: the cluster belongs to `postgres`.
        let status = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(&dir)
            .status()
            .map_err(|e| format!("chown: {e}"))?;
        if !status.success() {
            return Err(format!(
                "cannot give {} to the postgres user",
                dir.display()
            ));
        }
    }
    let as_owner = |program: &Path| {
        if root_user {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        }
    };
    let out = as_owner(&bin.join("initdb"))
        .args(["-D"])
        .arg(&data)
        .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])
        .output()
        .map_err(|e| format!("initdb: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let port = free_port()?;
    // setpriv execs the server in place with a parent-death signal, so
    // the cluster stops when this test process ends, however it ends. The
    // spawning thread must outlive the tests: the signal follows the
    // thread that made the child.
    let (tx, rx) = std::sync::mpsc::channel();
    let server = bin.join("postgres");
    let log = dir.join("server.log");
    std::thread::Builder::new()
        .name("test-postgres".into())
        .spawn(move || {
            let mut c = Command::new("setpriv");
            if root_user {
                c.args(["--reuid=postgres", "--regid=postgres", "--init-groups"]);
            }
            c.args(["--pdeathsig=TERM"])
                .arg(&server)
                .arg("-D")
                .arg(&data);
            c.args(["-p", &port.to_string(), "-k", ""]);
            c.args(["-c", "listen_addresses=127.0.0.1"]);
            // A test server: durability across an OS crash is not tested
            // here, speed is wanted; kill -9 of a host is still real.
            let fast: &[&str] = if durable {
                &[]
            } else {
                &[
                    "fsync=off",
                    "synchronous_commit=off",
                    "full_page_writes=off",
                ]
            };
            for setting in fast
                .iter()
                .chain(&["max_connections=500", "shared_buffers=128MB"])
            {
                c.args(["-c", setting]);
            }
            let log = std::fs::File::create(&log);
            c.stdin(Stdio::null()).stdout(Stdio::null());
            match log {
                Ok(f) => c.stderr(f),
                Err(_) => c.stderr(Stdio::null()),
            };
            match c.spawn() {
                Ok(mut child) => {
                    let _ = tx.send(Ok(()));
                    let _ = child.wait();
                    // Keep the thread (and so the signal's anchor) alive
                    // until the process ends.
                    loop {
                        std::thread::park();
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(format!("cannot start postgres: {e}")));
                }
            }
        })
        .map_err(|e| e.to_string())?;
    rx.recv().map_err(|e| e.to_string())??;
    let base = format!("postgres://postgres@127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match run_sql(&format!("{base}/postgres"), "SELECT 1") {
            Ok(()) => return Ok(Server { base }),
            Err(e) if Instant::now() > deadline => {
                let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
                return Err(format!(
                    "the server did not answer in 60 s ({e}); its log:\n{log}"
                ));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}
