//! `serve`: the HTTP API on this data folder, and the serve-info file
//! through which other CLI runs reach its admin routes meanwhile.

use super::remote::ServeInfo;
use super::{CliError, Settings, open};
use crate::Superapp;
use crate::config::check_admin_token;
use clap::Args;
use std::io::Write;
use std::sync::Arc;

// No doc comment: `Command::Serve`'s is the command's help.
#[derive(Args)]
pub(super) struct ServeArgs {
    /// Address to listen on (default: the config file's, else 127.0.0.1:8080).
    #[arg(long)]
    listen: Option<String>,
    /// The operator token for /admin routes (at least 32 characters).
    /// Default: the config file's, else a fresh one per run.
    #[arg(long, env = "SUPERAPP_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Also serve GET /metrics on this address, without the admin token
    /// (keep it private to the scraper). Default: the config file's
    /// `metrics_listen`, else /metrics only on --listen with the token.
    #[arg(long, value_name = "ADDR")]
    metrics_listen: Option<String>,
}

pub(super) fn run(
    settings: &Settings,
    args: ServeArgs,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let listen = args
        .listen
        .or_else(|| settings.file.listen.clone())
        .unwrap_or_else(|| "127.0.0.1:8080".to_string());
    let admin_token = match args
        .admin_token
        .or_else(|| settings.file.admin_token.clone())
    {
        Some(t) => {
            check_admin_token(&t).map_err(|e| CliError::new("invalid-config", e))?;
            t
        }
        // A fresh operator token per run, readable only through the
        // data folder: whoever may touch the folder may administer.
        None => crate::identity::random_token(),
    };
    let metrics = args
        .metrics_listen
        .or_else(|| settings.file.metrics_listen.clone());
    serve(
        open(settings)?,
        &listen,
        metrics.as_deref(),
        admin_token,
        out,
    )
}

fn serve(
    host: Superapp,
    listen: &str,
    metrics: Option<&str>,
    token: String,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let loaded = host.load_all().map_err(CliError::plain)?;
    let data = host.config().data_dir.clone();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::plain(format!("cannot start the async runtime: {e}")))?;
    let result = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| CliError::plain(format!("cannot listen on {listen}: {e}")))?;
        let addr = listener.local_addr().map_err(CliError::plain)?;
        let metrics = match metrics {
            Some(at) => {
                let l = tokio::net::TcpListener::bind(at).await.map_err(|e| {
                    CliError::plain(format!("cannot listen on {at} (metrics_listen): {e}"))
                })?;
                Some(l)
            }
            None => None,
        };
        ServeInfo {
            addr: addr.to_string(),
            token: token.clone(),
            pid: std::process::id(),
        }
        .write(&data)
        .map_err(|e| {
            CliError::plain(format!("cannot write {}/serve.json: {e}", data.display()))
        })?;
        w!(
            out,
            "superapp listening on http://{addr} with {loaded} app(s); API description: http://{addr}/openapi.json"
        );
        let _ = out.flush();
        let pooling = host.runtime().pooling();
        tracing::info!(%addr, apps = loaded, pooling, "serving");
        let host = Arc::new(host);
        if let Some(l) = metrics {
            let at = l.local_addr().map_err(CliError::plain)?;
            w!(out, "metrics on http://{at}/metrics");
            let _ = out.flush();
            tokio::spawn(crate::http::serve_metrics(host.clone(), l));
        }
        let issuer = host
            .config()
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{addr}"));
        let options = crate::http::ServeOptions {
            admin_token: Some(token),
            issuer,
        };
        crate::http::serve(host, listener, options, shutdown_signal())
            .await
            .map_err(|e| CliError::plain(format!("server failed: {e}")))
    });
    ServeInfo::remove(&data);
    result
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}
