//! Mini-apps as people reach them: the catalogue, launching (a signed launch
//! token for the app's backend), calling an app as the signed-in person, and
//! the public keys that verify launch tokens.

use super::auth::Authed;
use super::{AppState, JsonBody, Problem, blocking};
use crate::identity::Jwk;
use crate::platform::Caller;
use crate::runtime::{CallError, CallRequest};
use axum::body::{Body, to_bytes};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

/// An installed app as people and clients see it.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AppSummary {
    pub id: String,
    pub name: String,
    pub version: String,
    pub description: String,
    pub developer: String,
    /// SHA-256 fingerprint of the signing key; none for developer installs.
    pub developer_key_fingerprint: Option<String>,
    pub signed: bool,
    /// Each declared capability (and scope) with the purpose the app gives.
    #[schema(value_type = Object)]
    pub capabilities: serde_json::Map<String, serde_json::Value>,
}

/// The catalogue.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AppList {
    pub apps: Vec<AppSummary>,
}

/// Installed mini-apps with the capabilities and scopes each asks for.
#[utoipa::path(get, path = "/apps", tag = "apps",
    responses((status = 200, body = AppList)))]
pub(super) async fn list_apps(State(s): State<AppState>) -> Result<axum::Json<AppList>, Problem> {
    let apps = blocking(&s.host, |h| {
        h.apps()
            .map_err(|e| Problem::new(StatusCode::INTERNAL_SERVER_ERROR, e.code(), e.to_string()))
    })
    .await?;
    let apps = apps
        .iter()
        .map(|r| {
            let m = &r.current.manifest;
            let fingerprint = r
                .current
                .signer
                .as_deref()
                .and_then(|k| crate::packages::parse_public_key(k).ok())
                .map(|k| crate::packages::fingerprint(&k));
            AppSummary {
                id: m.id.clone(),
                name: m.name.clone(),
                version: m.version.to_string(),
                description: m.description.clone(),
                developer: m.developer.clone(),
                signed: fingerprint.is_some(),
                developer_key_fingerprint: fingerprint,
                capabilities: m
                    .capabilities
                    .iter()
                    .map(|(c, req)| {
                        (
                            c.to_string(),
                            serde_json::json!({
                                "purpose": req.purpose,
                                "needs_consent": c.needs_consent(),
                            }),
                        )
                    })
                    .collect(),
            }
        })
        .collect();
    Ok(axum::Json(AppList { apps }))
}

/// Where and how the person opens the app.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LaunchRequest {
    /// The page to open, starting with `/`. Default `/`.
    #[serde(default = "default_path")]
    pub path: String,
    /// Where the launch came from (`qr`, `chat-card`, `search`…), 1–32 of
    /// `a-z A-Z 0-9 _ -`. Default `direct`.
    #[serde(default = "default_scene")]
    pub scene: String,
}

fn default_path() -> String {
    "/".into()
}

fn default_scene() -> String {
    "direct".into()
}

/// A signed launch token.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LaunchResponse {
    /// An EdDSA JWT (header `kid`); verify it with `/.well-known/jwks.json`.
    pub token: String,
    /// RFC 3339.
    pub expires_at: String,
    /// The person's open id in this app (the token's `sub`).
    pub open_id: String,
}

/// Opens an app for the signed-in person: a launch token the app's backend
/// can verify, valid for 5 minutes.
#[utoipa::path(post, path = "/apps/{id}/launch", tag = "apps",
    params(("id" = String, Path, description = "App id", example = "hello")),
    request_body = LaunchRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, body = LaunchResponse),
        (status = 404, description = "`app-not-found`: no such app"),
        (status = 422, description = "`invalid-launch`: bad path or scene")))]
pub(super) async fn launch(
    State(s): State<AppState>,
    who: Authed,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<LaunchRequest>,
) -> Result<axum::Json<LaunchResponse>, Problem> {
    let issuer = s.issuer.clone();
    let (token, claims) = blocking(&s.host, move |h| {
        Ok(h.launch(&who.user_id, &id, &req.scene, &req.path, &issuer)?)
    })
    .await?;
    Ok(axum::Json(LaunchResponse {
        token,
        expires_at: crate::identity::rfc3339(claims.exp),
        open_id: claims.sub,
    }))
}

/// The key set.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JwkSet {
    pub keys: Vec<Jwk>,
}

/// The public keys that verify launch tokens (RFC 7517; OKP / Ed25519).
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "apps",
    responses((status = 200, body = JwkSet,
        headers(("cache-control" = String, description = "`public, max-age=60`")))))]
pub(super) async fn jwks(State(s): State<AppState>) -> Result<Response, Problem> {
    let keys = s.host.identity().jwks()?;
    Ok((
        [(header::CACHE_CONTROL, "public, max-age=60")],
        axum::Json(JwkSet { keys }),
    )
        .into_response())
}

#[utoipa::path(method(get, post, put, patch, delete), path = "/apps/{id}/call", tag = "apps",
    params(("id" = String, Path, description = "App id", example = "hello")),
    security(("bearer" = [])),
    responses(
        (status = "default", description = "The app's own answer: its status, headers and body", content_type = "*/*"),
        (status = 400, description = "`bad-request`: the host cannot pass the request on; `invalid-path`: the path is not one the host passes on"),
        (status = 404, description = "`app-not-found`: no such app"),
        (status = 413, description = "`request-too-large`: the body is over the call limit (1 MiB)"),
        (status = 431, description = "`headers-too-large`: the request headers are over the call limit"),
        (status = 502, description = "`trap`, `out-of-memory`, `response-too-large`, `bad-response`: the app failed or answered badly"),
        (status = 503, description = "`busy`: every call slot is taken"),
        (status = 504, description = "`timeout`: the app ran past its deadline")))]
pub(super) async fn call_root(
    State(s): State<AppState>,
    who: Authed,
    Path(id): Path<String>,
    req: Request,
) -> Response {
    call(s, who, id, String::new(), req).await
}

/// Calls the app's request handler as the signed-in person: the app sees
/// their open id in `context`, never who they are. Any method; the status,
/// headers and body are the app's. The header `x-superapp-scene` passes the
/// launch scene on.
#[utoipa::path(method(get, post, put, patch, delete), path = "/apps/{id}/call/{path}", tag = "apps",
    params(("id" = String, Path, description = "App id", example = "hello"), ("path" = String, Path, description = "Path inside the app", example = "greet/Ann")),
    security(("bearer" = [])),
    responses(
        (status = "default", description = "The app's own answer: its status, headers and body", content_type = "*/*"),
        (status = 400, description = "`bad-request`: the host cannot pass the request on; `invalid-path`: the path is not one the host passes on"),
        (status = 404, description = "`app-not-found`: no such app"),
        (status = 413, description = "`request-too-large`: the body is over the call limit (1 MiB)"),
        (status = 431, description = "`headers-too-large`: the request headers are over the call limit"),
        (status = 502, description = "`trap`, `out-of-memory`, `response-too-large`, `bad-response`: the app failed or answered badly"),
        (status = 503, description = "`busy`: every call slot is taken"),
        (status = 504, description = "`timeout`: the app ran past its deadline")))]
pub(super) async fn call_path(
    State(s): State<AppState>,
    who: Authed,
    Path((id, path)): Path<(String, String)>,
    req: Request,
) -> Response {
    call(s, who, id, path, req).await
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
    SCENE_HEADER,
];

const SCENE_HEADER: &str = "x-superapp-scene";

async fn call(s: AppState, who: Authed, id: String, path: String, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let scene = parts
        .headers
        .get(SCENE_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
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
    let caller = Caller {
        user: Some(who.user_id),
        scene,
    };
    // The guest runs right here on this async worker, yielding at every
    // epoch tick, so no hand-off to another thread.
    match s.host.call_async(&id, caller, call_req).await {
        Ok(resp) => {
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
        Err(e) => Problem::from(e).into_response(),
    }
}
