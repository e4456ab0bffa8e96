//! The `superapp` command line: parses arguments with clap, calls the
//! library, prints. Lives in the library so tests drive it as a user would;
//! `main.rs` only sets up logging and the exit code.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
/// `writeln!` whose I/O error ends the command (a closed pipe, say).
macro_rules! w {
    ($out:expr, $($arg:tt)*) => {
        writeln!($out, $($arg)*).map_err(|e| format!("cannot write output: {e}"))?
    };
}

use crate::{CallRequest, Caller, HostConfig, Superapp};
use std::io::Write;

/// Run and manage a Superapp host: sandboxed mini-apps with one identity,
/// one wallet and one messenger.
#[derive(Parser)]
#[command(name = "superapp", version, about)]
struct Cli {
    /// Data folder: the sled database and compiled components.
    #[arg(
        long,
        global = true,
        env = "SUPERAPP_DATA",
        default_value = "./superapp-data"
    )]
    data: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Install a mini-app from its manifest (a local, unsigned developer install).
    Install {
        /// The app's manifest (TOML).
        manifest: PathBuf,
        /// Replace an installed app with the same id, keeping its data.
        #[arg(long)]
        replace: bool,
    },
    /// List, show and remove installed mini-apps.
    Apps {
        #[command(subcommand)]
        command: AppsCommand,
    },
    /// Call a mini-app's handler once and print the status and body.
    Call(CallArgs),
    /// Serve the HTTP API.
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
    },
}

#[derive(Subcommand)]
enum AppsCommand {
    /// List installed apps.
    List,
    /// Show one app: manifest, limits, capabilities, storage use.
    Show {
        /// The app id.
        id: String,
    },
    /// Remove an app. Its storage is kept unless --purge-data.
    Remove {
        /// The app id.
        id: String,
        /// Also erase everything the app stored.
        #[arg(long)]
        purge_data: bool,
    },
}

#[derive(Args)]
struct CallArgs {
    /// The app id.
    app: String,
    /// Path inside the app, with an optional query: `/greet/ann?x=1`.
    path: String,
    /// HTTP method.
    #[arg(long, short = 'X', default_value = "GET")]
    method: String,
    /// Run the call as this user (the app sees only its open id).
    #[arg(long)]
    user: Option<String>,
    /// Launch scene passed to the app.
    #[arg(long)]
    scene: Option<String>,
    /// JSON request body.
    #[arg(long, conflicts_with = "body_file")]
    body: Option<String>,
    /// Request body read from a file, as is.
    #[arg(long)]
    body_file: Option<PathBuf>,
    /// Extra request header, `name: value` (repeatable).
    #[arg(long = "header", short = 'H')]
    headers: Vec<String>,
}

/// Runs the command line `args` (the first item is the program name),
/// writing results to `out` and errors to `err`.
pub fn run<I, T>(args: I, out: &mut dyn Write, err: &mut dyn Write) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            return match e.use_stderr() {
                true => {
                    let _ = write!(err, "{}", e.render());
                    ExitCode::from(2)
                }
                false => {
                    let _ = write!(out, "{}", e.render());
                    ExitCode::SUCCESS
                }
            };
        }
    };
    match dispatch(cli, out) {
        Ok(code) => code,
        Err(message) => {
            let _ = writeln!(err, "error: {message}");
            ExitCode::from(2)
        }
    }
}

fn open(data: PathBuf) -> Result<Superapp, String> {
    Superapp::open(HostConfig::new(data)).map_err(|e| e.to_string())
}

fn dispatch(cli: Cli, out: &mut dyn Write) -> Result<ExitCode, String> {
    match cli.command {
        Command::Install { manifest, replace } => {
            let host = open(cli.data)?;
            let r = host
                .install(&manifest, replace)
                .map_err(|e| format!("[{}] {e}", e.code()))?;
            w!(
                out,
                "installed {} {} ({} bytes, sha256 {})",
                r.manifest.id,
                r.manifest.version,
                r.component_bytes,
                &r.component_sha256[..16]
            );
        }
        Command::Apps { command } => {
            let host = open(cli.data)?;
            apps(&host, command, out)?;
        }
        Command::Call(args) => {
            // Check the arguments before touching the data folder.
            let req = call_request(&args)?;
            return call(open(cli.data)?, args, req, out);
        }
        Command::Serve { listen } => serve(open(cli.data)?, &listen, out)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn apps(host: &Superapp, command: AppsCommand, out: &mut dyn Write) -> Result<(), String> {
    match command {
        AppsCommand::List => {
            let apps = host.apps().map_err(|e| e.to_string())?;
            if apps.is_empty() {
                w!(out, "no apps installed");
            }
            w!(
                out,
                "{:<24} {:<10} {:<24} CAPABILITIES",
                "ID",
                "VERSION",
                "NAME"
            );
            for r in apps {
                let m = &r.manifest;
                let caps: Vec<String> = m.capabilities.keys().map(|c| c.to_string()).collect();
                w!(
                    out,
                    "{:<24} {:<10} {:<24} {}",
                    m.id,
                    m.version.to_string(),
                    m.name,
                    if caps.is_empty() {
                        "-".to_string()
                    } else {
                        caps.join(",")
                    }
                );
            }
        }
        AppsCommand::Show { id } => {
            let r = host
                .app(&id)
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("no app with id `{id}` is installed"))?;
            let m = &r.manifest;
            let (limits, storage) = m
                .effective_limits(host.config(), &id)
                .map_err(|e| e.to_string())?;
            let used = host.storage_usage(&id).map_err(|e| e.to_string())?;
            w!(out, "id:          {}", m.id);
            w!(out, "name:        {}", m.name);
            w!(out, "version:     {}", m.version);
            w!(out, "developer:   {}", m.developer);
            w!(out, "description: {}", m.description);
            w!(
                out,
                "component:   {} bytes, sha256 {}",
                r.component_bytes,
                r.component_sha256
            );
            w!(out, "signed:      no (local developer install)");
            w!(
                out,
                "memory:      {} MiB per call",
                limits.memory_bytes >> 20
            );
            w!(
                out,
                "deadline:    {} ms per call",
                limits.deadline.as_millis()
            );
            w!(
                out,
                "storage:     {used} of {} bytes used, values up to {} bytes",
                storage.quota_bytes,
                storage.value_bytes
            );
            w!(out, "capabilities:");
            if m.capabilities.is_empty() {
                w!(out, "  (none)");
            }
            for (cap, req) in &m.capabilities {
                w!(out, "  {cap}: {}", req.purpose);
            }
        }
        AppsCommand::Remove { id, purge_data } => {
            let r = host
                .remove(&id, purge_data)
                .map_err(|e| format!("[{}] {e}", e.code()))?;
            w!(
                out,
                "removed {} {}{}",
                r.manifest.id,
                r.manifest.version,
                if purge_data {
                    " and its data"
                } else {
                    " (its data is kept)"
                }
            );
        }
    }
    Ok(())
}

fn call_request(args: &CallArgs) -> Result<CallRequest, String> {
    let (path, query) = match args.path.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (args.path.clone(), String::new()),
    };
    let mut headers = Vec::new();
    for h in &args.headers {
        let (name, value) = h
            .split_once(':')
            .ok_or_else(|| format!("--header `{h}` must look like `name: value`"))?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let body = match (&args.body, &args.body_file) {
        (Some(json), _) => {
            serde_json::from_str::<serde_json::Value>(json)
                .map_err(|e| format!("--body is not valid JSON: {e}"))?;
            headers.push(("content-type".into(), "application/json".into()));
            json.as_bytes().to_vec()
        }
        (None, Some(file)) => {
            std::fs::read(file).map_err(|e| format!("--body-file {}: {e}", file.display()))?
        }
        (None, None) => Vec::new(),
    };
    Ok(CallRequest {
        method: args.method.to_ascii_uppercase(),
        path: if path.starts_with('/') {
            path
        } else {
            format!("/{path}")
        },
        query,
        headers,
        body,
    })
}

fn call(
    host: Superapp,
    args: CallArgs,
    req: CallRequest,
    out: &mut dyn Write,
) -> Result<ExitCode, String> {
    let caller = Caller {
        user: args.user,
        scene: args.scene,
    };
    match host.call(&args.app, caller, req) {
        Ok(resp) => {
            w!(out, "{}", resp.status);
            w!(out, "{}", String::from_utf8_lossy(&resp.body).trim_end());
            Ok(if resp.status < 400 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Err(e) => Err(format!("[{}] {e}", e.code())),
    }
}

fn serve(host: Superapp, listen: &str, out: &mut dyn Write) -> Result<(), String> {
    let loaded = host.load_all().map_err(|e| e.to_string())?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        w!(
            out,
            "superapp listening on http://{addr} with {loaded} app(s); try: curl http://{addr}/apps/hello/call/"
        );
        let pooling = host.runtime().pooling();
        tracing::info!(%addr, apps = loaded, pooling, "serving");
        crate::http::serve(Arc::new(host), listener)
            .await
            .map_err(|e| format!("server failed: {e}"))
    })
}
