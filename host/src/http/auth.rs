//! Signing in and out, and the bearer-token check every `/me` and call route
//! runs first (`Authed`).

use super::{AppState, JsonBody, Problem, blocking};
use crate::identity::IdentityError;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

/// The signed-in person making this request.
pub(super) struct Authed {
    /// Internal id: for services only, never echoed to a mini-app.
    pub user_id: String,
    pub token: String,
}

fn bearer(parts: &Parts) -> Result<&str, Problem> {
    let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
        return Err(Problem::new(
            StatusCode::UNAUTHORIZED,
            "token-required",
            "this route needs `authorization: Bearer <token>` from POST /auth/login",
        )
        .with_header(header::WWW_AUTHENTICATE, "Bearer realm=\"superapp\""));
    };
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

impl FromRequestParts<AppState> for Authed {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, Problem> {
        let token = bearer(parts)?.to_string();
        let session = s.host.identity().authenticate(&token)?;
        Ok(Authed {
            user_id: session.user_id,
            token,
        })
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
    let session = session?;
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
