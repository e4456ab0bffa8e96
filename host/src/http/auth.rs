//! Signing in and out, and the check every `/me` and call route runs first
//! (`Authed`): a bearer token, or the web shell's session cookie — which,
//! because a browser attaches it by itself, also needs the session's CSRF
//! token on every request that may change something, and a same-origin
//! `Origin`.

use super::{AppState, JsonBody, Problem, blocking};
use crate::identity::{IdentityError, NewSession};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

/// The shell's session cookie: the session token itself, out of reach of
/// scripts (`HttpOnly`) and of other sites (`SameSite=Strict`).
pub(super) const SESSION_COOKIE: &str = "superapp_session";

/// The header a cookie-authenticated request proves itself with.
const CSRF_HEADER: &str = "x-csrf-token";

/// The signed-in person making this request.
pub(super) struct Authed {
    /// Internal id: for services only, never echoed to a mini-app.
    pub user_id: String,
    pub token: String,
    /// When the session ends (Unix seconds).
    pub expires_at: i64,
}

/// How a request names its session.
enum Credential<'a> {
    Bearer(&'a str),
    Cookie(&'a str),
}

fn bearer(value: &header::HeaderValue) -> Result<&str, Problem> {
    value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            Problem::new(
                StatusCode::UNAUTHORIZED,
                "invalid-token",
                "the authorization header must be `Bearer <token>`",
            )
            .with_header(header::WWW_AUTHENTICATE, "Bearer error=\"invalid_request\"")
        })
}

/// The session cookie's value, from any of the request's `cookie` headers.
fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim())
        .filter(|v| !v.is_empty())
}

/// A bearer header wins over the cookie: browsers never add one by
/// themselves, so a request that carries one was made on purpose.
fn credential(parts: &Parts) -> Result<Credential<'_>, Problem> {
    if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
        return bearer(value).map(Credential::Bearer);
    }
    session_cookie(&parts.headers)
        .map(Credential::Cookie)
        .ok_or_else(|| {
            Problem::new(
                StatusCode::UNAUTHORIZED,
                "token-required",
                "this route needs `authorization: Bearer <token>` from POST /auth/login (or the web shell's session cookie from POST /auth/session)",
            )
            .with_header(header::WWW_AUTHENTICATE, "Bearer realm=\"superapp\"")
        })
}

fn csrf_failed(detail: impl Into<String>) -> Problem {
    Problem::new(StatusCode::FORBIDDEN, "csrf-failed", detail)
}

/// The host's origin: the scheme and authority of its public URL.
fn public_origin(issuer: &str) -> &str {
    let after_scheme = issuer.find("://").map(|i| i + 3).unwrap_or(0);
    let end = issuer[after_scheme..]
        .find('/')
        .map(|i| after_scheme + i)
        .unwrap_or(issuer.len());
    &issuer[..end]
}

/// An `Origin` header, if present, must be this host: its public URL's
/// origin, or the origin the request reached it at (the public URL's scheme
/// and the `Host` header — a page on another site cannot set either).
pub(super) fn check_origin(headers: &HeaderMap, issuer: &str) -> Result<(), Problem> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin.to_str().unwrap_or("");
    let public = public_origin(issuer);
    if origin.eq_ignore_ascii_case(public) {
        return Ok(());
    }
    let scheme = public.split("://").next().unwrap_or("http");
    let reached = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(|host| format!("{scheme}://{host}"));
    if reached.is_some_and(|r| origin.eq_ignore_ascii_case(&r)) {
        return Ok(());
    }
    Err(csrf_failed(format!(
        "the request comes from `{origin}`, not from this host ({public})"
    )))
}

/// Whether a method only reads (and so needs no CSRF token).
fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Checks a cookie request: its session, and for a method that may change
/// something, the session's CSRF token and a same-origin `Origin`.
fn cookie_session(
    parts: &Parts,
    s: &AppState,
    token: &str,
) -> Result<crate::identity::Session, Problem> {
    let identity = s.host.identity();
    // A stale cookie is told so first: the shell signs in again.
    let session = identity.authenticate(token)?;
    if !is_safe(&parts.method) {
        check_origin(&parts.headers, &s.issuer)?;
        let given = parts
            .headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                csrf_failed(format!(
                    "a {} with the session cookie needs the `{CSRF_HEADER}` header (the `csrf` of GET /auth/session)",
                    parts.method
                ))
            })?;
        if !identity.csrf_matches(token, given.trim()) {
            return Err(csrf_failed(format!(
                "`{CSRF_HEADER}` is not this session's CSRF token"
            )));
        }
    }
    Ok(session)
}

impl FromRequestParts<AppState> for Authed {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, Problem> {
        let (token, session) = match credential(parts)? {
            Credential::Bearer(token) => (token, s.host.identity().authenticate(token)?),
            Credential::Cookie(token) => (token, cookie_session(parts, s, token)?),
        };
        Ok(Authed {
            user_id: session.user_id,
            token: token.to_string(),
            expires_at: session.expires_at,
        })
    }
}

/// The shell's own session routes take the cookie only: a bearer client
/// has `/auth/login` and `/auth/logout`.
pub(super) struct CookieAuthed(Authed);

impl FromRequestParts<AppState> for CookieAuthed {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, Problem> {
        let Some(token) = session_cookie(&parts.headers) else {
            return Err(Problem::new(
                StatusCode::UNAUTHORIZED,
                "token-required",
                "this route needs the web shell's session cookie from POST /auth/session (bearer sessions use /auth/logout)",
            ));
        };
        let session = cookie_session(parts, s, token)?;
        Ok(CookieAuthed(Authed {
            user_id: session.user_id,
            token: token.to_string(),
            expires_at: session.expires_at,
        }))
    }
}

/// A login.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub handle: String,
    pub password: String,
}

/// A new session.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LoginResponse {
    /// Send as `authorization: Bearer <token>`. Shown once; the host keeps
    /// only its hash.
    pub token: String,
    /// RFC 3339.
    pub expires_at: String,
}

/// Checks the password (with the login throttle) and opens a session; both
/// sign-in routes take this one path.
async fn sign_in(s: &AppState, req: LoginRequest) -> Result<NewSession, Problem> {
    let ttl = s.host.config().session_ttl.as_secs() as i64;
    let handle = req.handle.clone();
    let session = blocking(&s.host, move |h| {
        Ok(h.identity().login(&req.handle, &req.password, ttl)?)
    })
    .await;
    match &session {
        Ok(_) => tracing::info!(%handle, "logged in"),
        Err(p) => tracing::info!(%handle, code = p.code, "login refused"),
    }
    session
}

/// Signs a person in. After 5 failed tries in a row the account pauses
/// (30 s, doubling with each further failure, at most 15 min): tries during
/// the pause get 429 with `Retry-After` and are not checked.
#[utoipa::path(post, path = "/auth/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, body = LoginResponse),
        (status = 401, description = "`invalid-credentials`: wrong handle or password"),
        (status = 429, description = "`login-throttled`: the account is paused after failed logins (`Retry-After`)")))]
pub(super) async fn login(
    axum::extract::State(s): axum::extract::State<AppState>,
    JsonBody(req): JsonBody<LoginRequest>,
) -> Result<axum::Json<LoginResponse>, Problem> {
    let session = sign_in(&s, req).await?;
    Ok(axum::Json(LoginResponse {
        token: session.token,
        expires_at: crate::identity::rfc3339(session.expires_at),
    }))
}

/// Ends the session whose token authorizes this request.
#[utoipa::path(post, path = "/auth/logout", tag = "auth",
    security(("bearer" = [])),
    responses((status = 204, description = "Logged out")))]
pub(super) async fn logout(
    axum::extract::State(s): axum::extract::State<AppState>,
    who: Authed,
) -> Result<Response, Problem> {
    s.host
        .identity()
        .logout(&who.token)
        .map_err(|e: IdentityError| Problem::from(e))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The web shell's session: who is signed in and the CSRF token its
/// requests carry. Never the session token (that stays in the cookie).
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ShellSession {
    pub handle: String,
    pub display_name: String,
    /// Send as `x-csrf-token` with every cookie request that is not
    /// GET/HEAD/OPTIONS.
    pub csrf: String,
    /// RFC 3339.
    pub expires_at: String,
}

fn shell_session(
    s: &AppState,
    user_id: &str,
    token: &str,
    expires_at: i64,
) -> Result<ShellSession, Problem> {
    let identity = s.host.identity();
    let user = identity.user(user_id)?.ok_or_else(|| {
        Problem::new(
            StatusCode::UNAUTHORIZED,
            "invalid-token",
            "the account is gone",
        )
    })?;
    Ok(ShellSession {
        handle: user.handle,
        display_name: user.display_name,
        csrf: identity.csrf_token(token),
        expires_at: crate::identity::rfc3339(expires_at),
    })
}

/// The `Set-Cookie` value: the session for as long as it lasts (`Secure`
/// when the host is reached over https), or, with no token, its removal.
fn session_cookie_header(issuer: &str, token: Option<&str>, max_age: i64) -> String {
    let secure = if issuer.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let (value, max_age) = match token {
        Some(t) => (t, max_age.max(0)),
        None => ("", 0),
    };
    format!(
        "{SESSION_COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}{secure}"
    )
}

/// Answers the shell's session, with headers that keep it out of caches.
fn session_answer(body: ShellSession, cookie: Option<String>) -> Response {
    let mut response = ([(header::CACHE_CONTROL, "no-store")], axum::Json(body)).into_response();
    if let Some(cookie) = cookie
        && let Ok(value) = header::HeaderValue::try_from(cookie)
    {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// The web shell signs a person in: the same checks and throttle as
/// `/auth/login`, but the session token goes into an `HttpOnly` cookie
/// (`superapp_session`, `SameSite=Strict`, `Path=/`, `Secure` on https)
/// instead of the answer, which carries the CSRF token instead.
#[utoipa::path(post, path = "/auth/session", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, body = ShellSession, description = "Signed in; `Set-Cookie: superapp_session=…`"),
        (status = 400, description = "Malformed JSON", body = super::problem::ProblemBody),
        (status = 401, description = "Wrong handle or password", body = super::problem::ProblemBody),
        (status = 403, description = "`Origin` is another site (`csrf-failed`)", body = super::problem::ProblemBody),
        (status = 429, description = "Account paused after failed logins", body = super::problem::ProblemBody)))]
pub(super) async fn open_session(
    axum::extract::State(s): axum::extract::State<AppState>,
    headers: HeaderMap,
    JsonBody(req): JsonBody<LoginRequest>,
) -> Result<Response, Problem> {
    // Another site must not sign the browser into an account of its choice.
    check_origin(&headers, &s.issuer)?;
    let session = sign_in(&s, req).await?;
    let body = shell_session(&s, &session.user_id, &session.token, session.expires_at)?;
    let lasts = session.expires_at - crate::identity::now();
    let cookie = session_cookie_header(&s.issuer, Some(&session.token), lasts);
    Ok(session_answer(body, Some(cookie)))
}

/// The shell's current session (so a reload stays signed in).
#[utoipa::path(get, path = "/auth/session", tag = "auth",
    security(("cookie" = [])),
    responses((status = 200, body = ShellSession), (status = 401, body = super::problem::ProblemBody)))]
pub(super) async fn current_session(
    axum::extract::State(s): axum::extract::State<AppState>,
    CookieAuthed(who): CookieAuthed,
) -> Result<Response, Problem> {
    let body = shell_session(&s, &who.user_id, &who.token, who.expires_at)?;
    Ok(session_answer(body, None))
}

/// Signs the shell out: revokes the session and clears the cookie. Needs
/// the CSRF header like every other cookie request that changes something.
#[utoipa::path(delete, path = "/auth/session", tag = "auth",
    security(("cookie" = [])),
    params(("x-csrf-token" = String, Header, description = "The session's `csrf`")),
    responses((status = 204, description = "Signed out; the cookie is cleared"),
        (status = 401, body = super::problem::ProblemBody),
        (status = 403, description = "Missing or wrong CSRF token, or another site's `Origin`", body = super::problem::ProblemBody)))]
pub(super) async fn close_session(
    axum::extract::State(s): axum::extract::State<AppState>,
    who: Result<CookieAuthed, Problem>,
) -> Response {
    let clear = session_cookie_header(&s.issuer, None, 0);
    let with_clear = |mut response: Response| {
        if let Ok(value) = header::HeaderValue::try_from(clear.as_str()) {
            response.headers_mut().insert(header::SET_COOKIE, value);
        }
        response
    };
    match who {
        Ok(CookieAuthed(who)) => match s.host.identity().logout(&who.token) {
            Ok(()) => with_clear(StatusCode::NO_CONTENT.into_response()),
            Err(e) => Problem::from(e).into_response(),
        },
        // A session that is gone already: the browser drops the dead
        // cookie too. A CSRF refusal leaves it, so another site cannot
        // sign the person out.
        Err(p) if p.status == StatusCode::UNAUTHORIZED => with_clear(p.into_response()),
        Err(p) => p.into_response(),
    }
}
