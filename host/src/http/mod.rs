//! The HTTP edge on hyper (through axum's router): maps requests to platform
//! calls and every error, once, to `application/problem+json` with a stable
//! `type`. Mini-app calls run on the blocking pool, at most
//! `max_concurrent_calls` at a time (the rest wait their turn).

pub mod admin;
mod problem;

pub use problem::Problem;

use crate::platform::{Caller, Superapp};
use crate::runtime::{CallError, CallRequest};
use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

#[derive(Clone)]
struct AppState {
    host: Arc<Superapp>,
    calls: Arc<Semaphore>,
    /// The operator token; `None` turns the `/admin` routes off.
    admin_token: Option<String>,
}

/// The API's routes. `admin_token` enables the operator routes.
pub fn router(host: Arc<Superapp>, admin_token: Option<String>) -> Router {
    let calls = Arc::new(Semaphore::new(host.config().max_concurrent_calls as usize));
    let state = AppState {
        host,
        calls,
        admin_token,
    };
    Router::new()
        .merge(admin::routes(state.clone()))
        .route("/healthz", get(healthz))
        .route("/apps", get(list_apps))
        .route("/apps/{id}/call", any(call_root))
        .route("/apps/{id}/call/", any(call_root))
        .route("/apps/{id}/call/{*path}", any(call_path))
        .fallback(not_found)
        .with_state(state)
}

/// Serves the API on `listener` until `shutdown` resolves.
pub async fn serve(
    host: Arc<Superapp>,
    listener: TcpListener,
    admin_token: Option<String>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(host, admin_token))
        .with_graceful_shutdown(shutdown)
        .await
}

/// `GET /apps`: the installed apps as people and clients see them.
async fn list_apps(State(s): State<AppState>) -> Response {
    match s.host.apps() {
        Ok(apps) => {
            let list: Vec<serde_json::Value> = apps
                .iter()
                .map(|r| {
                    let m = &r.current.manifest;
                    let fingerprint = r
                        .current
                        .signer
                        .as_deref()
                        .and_then(|k| crate::packages::parse_public_key(k).ok())
                        .map(|k| crate::packages::fingerprint(&k));
                    let capabilities: serde_json::Map<String, serde_json::Value> = m
                        .capabilities
                        .iter()
                        .map(|(c, req)| {
                            (c.to_string(), serde_json::json!({ "purpose": req.purpose }))
                        })
                        .collect();
                    serde_json::json!({
                        "id": m.id,
                        "name": m.name,
                        "version": m.version.to_string(),
                        "description": m.description,
                        "developer": m.developer,
                        "developer_key_fingerprint": fingerprint,
                        "signed": fingerprint.is_some(),
                        "capabilities": capabilities,
                    })
                })
                .collect();
            axum::Json(serde_json::json!({ "apps": list })).into_response()
        }
        Err(e) => {
            Problem::new(StatusCode::INTERNAL_SERVER_ERROR, e.code(), e.to_string()).into_response()
        }
    }
}

async fn healthz(State(s): State<AppState>) -> Response {
    let apps = s.host.apps().map(|a| a.len()).unwrap_or(0);
    axum::Json(serde_json::json!({ "status": "ok", "apps": apps })).into_response()
}

async fn not_found(req: Request) -> Response {
    Problem::new(
        StatusCode::NOT_FOUND,
        "not-found",
        format!("no route for {} {}", req.method(), req.uri().path()),
    )
    .into_response()
}

async fn call_root(State(s): State<AppState>, Path(id): Path<String>, req: Request) -> Response {
    call(s, id, String::new(), req).await
}

async fn call_path(
    State(s): State<AppState>,
    Path((id, path)): Path<(String, String)>,
    req: Request,
) -> Response {
    call(s, id, path, req).await
}

/// Headers that carry the host's own credentials or describe this hop; a
/// mini-app never sees them.
const STRIPPED_REQUEST_HEADERS: &[&str] = &[
    "authorization",
    "cookie",
    "connection",
    "keep-alive",
    "transfer-encoding",
    "upgrade",
];

async fn call(s: AppState, id: String, path: String, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let limit = s.host.config().max_request_bytes;
    let body = match to_bytes(body, limit).await {
        Ok(b) => b,
        Err(_) => {
            return Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request-too-large",
                format!("the request body is over the limit of {limit} bytes"),
            )
            .into_response();
        }
    };
    let headers = parts
        .headers
        .iter()
        .filter(|(name, _)| !STRIPPED_REQUEST_HEADERS.contains(&name.as_str()))
        .filter_map(|(name, value)| {
            Some((name.as_str().to_string(), value.to_str().ok()?.to_string()))
        })
        .collect();
    let call_req = CallRequest {
        method: parts.method.as_str().to_string(),
        path: format!("/{path}"),
        query: parts.uri.query().unwrap_or("").to_string(),
        headers,
        body: body.to_vec(),
    };
    let Ok(_permit) = s.calls.clone().acquire_owned().await else {
        return Problem::from(CallError::Busy).into_response();
    };
    let host = s.host.clone();
    let result =
        tokio::task::spawn_blocking(move || host.call(&id, Caller::default(), call_req)).await;
    match result {
        Ok(Ok(resp)) => {
            let mut out = Response::new(Body::from(resp.body));
            *out.status_mut() =
                StatusCode::from_u16(resp.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            for (name, value) in resp.headers {
                let (Ok(name), Ok(value)) = (
                    HeaderName::try_from(name.as_str()),
                    HeaderValue::try_from(value.as_str()),
                ) else {
                    continue;
                };
                if !matches!(
                    name.as_str(),
                    "content-length" | "transfer-encoding" | "connection"
                ) {
                    out.headers_mut().append(name, value);
                }
            }
            out
        }
        Ok(Err(e)) => Problem::from(e).into_response(),
        Err(join) => Problem::from(CallError::Internal(join.to_string())).into_response(),
    }
}
