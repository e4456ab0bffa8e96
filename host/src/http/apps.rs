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
    /// The running version's UI; null for an app without one.
    pub ui: Option<UiLinks>,
}

/// Where an app's UI is served (the tag names the running version's UI).
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UiLinks {
    /// The page the shell's frame opens: `/ui/{app}/{tag}/{entry}`.
    pub entry: String,
    /// The app's icon, `/ui/{app}/{tag}/{icon}`; null when it has none.
    pub icon: Option<String>,
}

/// The catalogue.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AppList {
    pub apps: Vec<AppSummary>,
}

/// Installed mini-apps with the capabilities and scopes each asks for, and
/// where each one's UI is.
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
                ui: match (&r.current.ui, &m.ui) {
                    (Some(installed), Some(spec)) => {
                        let base = format!("/ui/{}/{}/", m.id, installed.tag);
                        Some(UiLinks {
                            entry: format!("{base}{}", spec.entry),
                            icon: spec.icon.as_ref().map(|i| format!("{base}{i}")),
                        })
                    }
                    _ => None,
                },
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
    #[schema(value_type = Vec<crate::schemas::Jwk>)]
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
pub(super) async fn call_root(State(s): State<AppState>, who: Authed, req: Request) -> Response {
    call(s, who, req).await
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
pub(super) async fn call_path(State(s): State<AppState>, who: Authed, req: Request) -> Response {
    call(s, who, req).await
}

/// Headers that carry the host's own credentials or describe this hop; a
/// mini-app never sees them.
const STRIPPED_REQUEST_HEADERS: &[&str] = &[
    "authorization",
    "cookie",
    "x-csrf-token",
    "connection",
    "keep-alive",
    "transfer-encoding",
    "upgrade",
    SCENE_HEADER,
];

const SCENE_HEADER: &str = "x-superapp-scene";

async fn call(s: AppState, who: Authed, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    // From the raw path, not axum's decoded captures: the app's part must
    // be split before it is decoded.
    let (id, path) = match call_target(parts.uri.path()) {
        Ok(target) => target,
        Err(problem) => return problem.into_response(),
    };
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
        path,
        query: parts.uri.query().unwrap_or("").to_string(),
        headers,
        body: body.to_vec(),
    };
    let caller = Caller {
        user: Some(who.user_id),
        scene,
    };
    // The guest runs right here on this async worker, yielding at every
    // epoch tick, so no hand-off to another thread.
    match s.host.call_async(&id, caller, call_req).await {
        Ok(resp) => app_response(&id, resp),
        Err(e) => Problem::from(e).into_response(),
    }
}

/// The app id and the path the app receives, from the raw request path
/// `/apps/{id}/call{path}`: the path is percent-decoded segment by segment.
/// An encoded `/` (which would change where the path splits) or bytes that
/// are not UTF-8 are refused here; dot segments and control characters by
/// the runtime's rule for every call path. App ids are plain `a-z 0-9 -`,
/// so an id that is not is no installed app.
fn call_target(raw: &str) -> Result<(String, String), Problem> {
    let invalid = |why: &str| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid-path",
            format!("the path inside the app {why}"),
        )
    };
    let after = raw.strip_prefix("/apps/").unwrap_or("");
    let (id, rest) = after.split_once('/').unwrap_or((after, ""));
    if crate::packages::check_app_id(id).is_err() {
        return Err(Problem::from(CallError::AppNotFound(id.to_string())));
    }
    let rest = rest
        .strip_prefix("call")
        .ok_or_else(|| invalid("cannot be found in the request path"))?;
    Ok((id.to_string(), app_path(rest)?))
}

/// `rest` (what follows `/call`, raw) as the app receives it.
fn app_path(rest: &str) -> Result<String, Problem> {
    let invalid = |why: &str| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid-path",
            format!("the path inside the app {why}"),
        )
    };
    if rest.is_empty() {
        return Ok("/".into());
    }
    let mut path = String::with_capacity(rest.len());
    for segment in rest.split('/').skip(1) {
        let decoded = percent_encoding::percent_decode_str(segment)
            .decode_utf8()
            .map_err(|_| invalid("is not UTF-8 once percent-decoded"))?;
        if decoded.contains('/') {
            return Err(invalid("contains an encoded `/` (%2F)"));
        }
        path.push('/');
        path.push_str(&decoded);
    }
    crate::runtime::check_call_path(&path).map_err(|e| invalid(&e))?;
    Ok(path)
}

/// Response headers an app may set; everything else it sends is dropped.
/// Its answers come from the host's own origin, so cookies, CORS grants,
/// security policies and the like stay the host's to set.
const PASSED_RESPONSE_HEADERS: &[&str] = &[
    "content-type",
    "content-language",
    "content-disposition",
    "cache-control",
    "etag",
    "last-modified",
    "expires",
    "vary",
    "retry-after",
];

/// `x-` headers that are still the host's.
const RESERVED_X_HEADERS: &[&str] = &[
    "x-request-id",
    "x-content-type-options",
    "x-frame-options",
    "x-xss-protection",
    "x-dns-prefetch-control",
    "x-permitted-cross-domain-policies",
    "x-download-options",
];

/// Sent with every app answer: it is data, never a document that runs on
/// the host's origin (no scripts, forms, plugins or framing; no sniffing a
/// type the app did not declare).
const APP_RESPONSE_CSP: &str =
    "sandbox; default-src 'none'; form-action 'none'; frame-ancestors 'none'";

/// Types a browser would render as an active document.
const ACTIVE_TYPES: &[&str] = &["text/html", "application/xhtml+xml", "image/svg+xml"];

fn passes(name: &str, value: &str, id: &str) -> bool {
    match name {
        // A redirect may only lead elsewhere inside the same app.
        "location" => {
            let own = format!("/apps/{id}/call");
            (value == own || value.starts_with(&format!("{own}/")))
                && !value.contains("//")
                && !value.contains('\\')
        }
        _ if PASSED_RESPONSE_HEADERS.contains(&name) => true,
        _ => {
            name.starts_with("x-")
                && !name.starts_with("x-superapp-")
                && !RESERVED_X_HEADERS.contains(&name)
        }
    }
}

fn app_response(id: &str, resp: crate::runtime::CallResponse) -> Response {
    let mut out = Response::new(Body::from(resp.body));
    *out.status_mut() =
        StatusCode::from_u16(resp.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut dropped = Vec::new();
    for (name, value) in resp.headers {
        let (Ok(name), Ok(mut value)) = (
            HeaderName::try_from(name.as_str()),
            HeaderValue::try_from(value.as_str()),
        ) else {
            dropped.push(name);
            continue;
        };
        if !passes(name.as_str(), value.to_str().unwrap_or(""), id) {
            dropped.push(name.to_string());
            continue;
        }
        if name == header::CONTENT_TYPE {
            let mime = value.to_str().unwrap_or("").split(';').next().unwrap_or("");
            if ACTIVE_TYPES
                .iter()
                .any(|t| mime.trim().eq_ignore_ascii_case(t))
            {
                value = HeaderValue::from_static("text/plain; charset=utf-8");
            }
        }
        out.headers_mut().append(name, value);
    }
    if !dropped.is_empty() {
        tracing::debug!(app = %id, ?dropped, "response headers the app may not set were dropped");
    }
    let h = out.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(APP_RESPONSE_CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("same-origin"),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_paths_are_decoded_per_segment_and_tricks_are_refused() {
        let ok = |raw: &str| call_target(raw).map(|(_, p)| p).map_err(|p| p.detail);
        assert_eq!(ok("/apps/shop/call"), Ok("/".into()));
        assert_eq!(ok("/apps/shop/call/"), Ok("/".into()));
        assert_eq!(ok("/apps/shop/call/orders/o1"), Ok("/orders/o1".into()));
        assert_eq!(
            ok("/apps/shop/call/tea%20tins/%E8%8C%B6"),
            Ok("/tea tins/茶".into())
        );
        for bad in [
            "/apps/shop/call/..%2f..%2fme",
            "/apps/shop/call/a%2Fb",
            "/apps/shop/call/../../me",
            "/apps/shop/call/%2e%2e/me",
            "/apps/shop/call/./x",
            "/apps/shop/call/a%00b",
            "/apps/shop/call/a%0d%0ab",
            "/apps/shop/call/a%5cb",
            "/apps/shop/call/%ff",
        ] {
            assert!(ok(bad).is_err(), "{bad} must be refused");
        }
    }

    #[test]
    fn apps_set_only_their_own_headers_and_redirects() {
        assert!(passes("content-type", "application/json", "shop"));
        assert!(passes("x-order-count", "3", "shop"));
        for (name, value) in [
            ("set-cookie", "sid=evil"),
            ("access-control-allow-origin", "*"),
            ("access-control-allow-credentials", "true"),
            ("content-security-policy", "default-src *"),
            ("strict-transport-security", "max-age=0"),
            ("clear-site-data", "\"*\""),
            ("refresh", "0;url=https://evil.example/"),
            ("link", "</me/export>; rel=preload"),
            ("x-frame-options", "ALLOWALL"),
            ("x-request-id", "forged"),
            ("x-superapp-scene", "forged"),
            ("location", "https://evil.example/"),
            ("location", "/me/export"),
            ("location", "/apps/bank/call/pay"),
            ("location", "//evil.example/x"),
            ("location", "/apps/shop/call//evil.example"),
        ] {
            assert!(
                !passes(name, value, "shop"),
                "{name}: {value} must be dropped"
            );
        }
        assert!(passes("location", "/apps/shop/call/orders/o1", "shop"));
    }
}
