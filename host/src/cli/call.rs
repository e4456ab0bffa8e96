//! `call`: one request to a mini-app's handler, run in this process.

use super::{CliError, Settings, open};
use crate::fsutil::read_bounded;
use crate::{CallRequest, Caller, Superapp};
use clap::Args;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

// No doc comment: `Command::Call`'s is the command's help.
#[derive(Args)]
pub(super) struct CallArgs {
    /// The app id.
    app: String,
    /// Path inside the app, with an optional query: `/greet/ann?x=1`.
    path: String,
    /// HTTP method.
    #[arg(long, short = 'X', default_value = "GET")]
    method: String,
    /// Run the call as the person with this handle (the app sees only
    /// their open id).
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

/// Runs the call on the data folder itself (not through a running server:
/// the admin routes do not call apps). Exits 1 for an HTTP error status.
pub(super) fn run(
    settings: &Settings,
    args: CallArgs,
    out: &mut dyn Write,
) -> Result<ExitCode, CliError> {
    // Check the arguments before touching the data folder.
    let req = request(&args, settings.config().max_request_bytes)?;
    settings.require_data()?;
    if let Some(server) = super::remote::Remote::connect(&settings.data) {
        return Err(served_elsewhere(server.base(), &args, &req));
    }
    call(open(settings)?, args, req, out)
}

/// `call` runs the app in this process, on the folder a running server
/// holds: the person calls it over HTTP instead, and this says how.
fn served_elsewhere(base: &str, args: &CallArgs, req: &CallRequest) -> CliError {
    let query = match req.query.is_empty() {
        true => String::new(),
        false => format!("?{}", req.query),
    };
    CliError::new(
        "server-running",
        format!(
            "`superapp serve` holds this data folder, so call the app over HTTP as a \
             signed-in person: {method} {base}/apps/{app}/call{path}{query} with \
             `Authorization: Bearer <token>` (the token from POST {base}/auth/login), or stop \
             the server to call it here",
            method = req.method,
            app = args.app,
            path = req.path,
        ),
    )
}

fn request(args: &CallArgs, max_body: usize) -> Result<CallRequest, CliError> {
    let (path, query) = match args.path.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (args.path.clone(), String::new()),
    };
    let mut headers = Vec::new();
    for h in &args.headers {
        let (name, value) = h.split_once(':').ok_or_else(|| {
            CliError::plain(format!("--header `{h}` must look like `name: value`"))
        })?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let body = match (&args.body, &args.body_file) {
        (Some(json), _) => {
            serde_json::from_str::<serde_json::Value>(json)
                .map_err(|e| CliError::plain(format!("--body is not valid JSON: {e}")))?;
            headers.push(("content-type".into(), "application/json".into()));
            json.as_bytes().to_vec()
        }
        // The flag goes before the code: `--body-file: [code] message`.
        (None, Some(file)) => read_bounded(file, "request body", max_body as u64)
            .map_err(|e| CliError::plain(format!("--body-file: {}", CliError::from(e))))?,
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
) -> Result<ExitCode, CliError> {
    let user = match &args.user {
        Some(handle) => Some(host.identity().user_by_handle(handle)?.id),
        None => None,
    };
    let caller = Caller {
        user,
        scene: args.scene,
    };
    let resp = host.call(&args.app, caller, req)?;
    w!(out, "{}", resp.status);
    w!(out, "{}", String::from_utf8_lossy(&resp.body).trim_end());
    Ok(if resp.status < 400 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
