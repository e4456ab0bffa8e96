//! Operator routes under `/admin`, for the `superapp` command line talking
//! to a running server (the data folder is locked by the server, so the CLI
//! forwards installs, upgrades, rollbacks, removals, trust changes, user
//! management and key rotation here).
//! Every route needs the bearer token the server wrote to `DATA/serve.json`.

use super::{AppState, JsonBody, Problem};
use crate::identity::{IdentityError, UserView};
use crate::packages::{AppRecord, CommitMode, InstallError, KeyError, TrustedKey};
use crate::platform::Superapp;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// One installed app as the admin API shows it.
#[derive(Debug, Serialize, Deserialize)]
pub struct AdminApp {
    pub record: AppRecord,
    pub storage_used: u64,
}

pub(super) fn routes(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/admin/apps", get(list_apps).post(install))
        .route("/admin/apps/{id}", get(show_app).delete(remove))
        .route("/admin/apps/{id}/rollback", post(rollback))
        .route("/admin/trust", get(list_trust).post(add_trust))
        .route("/admin/trust/{key}", delete(remove_trust))
        .route("/admin/users", get(list_users).post(add_user))
        .route("/admin/users/{handle}/verify", post(verify_user))
        .route("/admin/host-keys", get(list_host_keys))
        .route("/admin/host-keys/rotate", post(rotate_host_keys))
        .route("/admin/wallet/topup", post(super::wallet::topup))
        .route("/admin/wallet/withdraw", post(super::wallet::withdraw))
        .route(
            "/admin/wallet/users/{handle}",
            get(super::wallet::user_balance),
        )
        .route("/admin/wallet/merchants", get(super::wallet::merchants))
        .route("/admin/wallet/audit", get(super::wallet::audit))
        .route(
            "/admin/wallet/payments/{id}",
            get(super::wallet::admin_payment),
        )
        .route(
            "/admin/wallet/payments/{id}/refund",
            post(super::wallet::admin_refund),
        )
        .route(
            "/admin/wallet/payments/{id}/capture",
            post(super::wallet::admin_capture),
        )
        .route(
            "/admin/wallet/payments/{id}/void",
            post(super::wallet::admin_void),
        )
        .route_layer(middleware::from_fn_with_state(state, require_token))
}

async fn require_token(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let ok = match (s.admin_token.as_deref(), given) {
        (Some(expected), Some(given)) => constant_time_eq(expected.as_bytes(), given.as_bytes()),
        _ => false,
    };
    if !ok {
        return Problem::new(
            StatusCode::UNAUTHORIZED,
            "admin-token-required",
            "operator routes need the admin bearer token",
        )
        .into_response();
    }
    next.run(req).await
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl From<InstallError> for Problem {
    fn from(e: InstallError) -> Self {
        let status = match &e {
            InstallError::NotInstalled(_) => StatusCode::NOT_FOUND,
            InstallError::AlreadyInstalled(_)
            | InstallError::NotNewer { .. }
            | InstallError::NoPreviousVersion(_) => StatusCode::CONFLICT,
            InstallError::Io(_) | InstallError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
            InstallError::Key(k) => return Problem::from_key(k),
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        Problem::new(status, e.code(), e.to_string())
    }
}

impl Problem {
    fn from_key(e: &KeyError) -> Problem {
        let status = match e {
            KeyError::NotTrusted(_) => StatusCode::NOT_FOUND,
            KeyError::BadPublicKey(_) => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Problem::new(status, e.code(), e.to_string())
    }
}

impl From<KeyError> for Problem {
    fn from(e: KeyError) -> Self {
        Problem::from_key(&e)
    }
}

/// Runs a blocking platform operation (compiling takes a while) off the
/// async workers.
async fn blocking<T: Serialize + Send + 'static>(
    host: Arc<Superapp>,
    status: StatusCode,
    f: impl FnOnce(&Superapp) -> Result<T, Problem> + Send + 'static,
) -> Response {
    match super::blocking(&host, f).await {
        Ok(value) => (status, axum::Json(value)).into_response(),
        Err(p) => p.into_response(),
    }
}

fn store_problem(e: impl std::fmt::Display) -> Problem {
    Problem::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "storage-io",
        e.to_string(),
    )
}

fn admin_app(host: &Superapp, record: AppRecord) -> Result<AdminApp, Problem> {
    let storage_used = host.storage_usage(record.id()).map_err(store_problem)?;
    Ok(AdminApp {
        record,
        storage_used,
    })
}

async fn list_apps(State(s): State<AppState>) -> Response {
    blocking(s.host, StatusCode::OK, |h| {
        h.apps()
            .map_err(store_problem)?
            .into_iter()
            .map(|r| admin_app(h, r))
            .collect::<Result<Vec<_>, _>>()
    })
    .await
}

async fn show_app(State(s): State<AppState>, Path(id): Path<String>) -> Response {
    blocking(s.host, StatusCode::OK, move |h| {
        let r = h
            .app(&id)
            .map_err(store_problem)?
            .ok_or(InstallError::NotInstalled(id))?;
        admin_app(h, r)
    })
    .await
}

/// How `POST /admin/apps` treats the package in the body.
#[derive(Debug, Deserialize)]
struct InstallQuery {
    /// `install` (default), `upgrade`, `dev` or `dev-replace`.
    mode: Option<String>,
}

async fn install(
    State(s): State<AppState>,
    Query(q): Query<InstallQuery>,
    body: Bytes,
) -> Response {
    let mode = q.mode.unwrap_or_else(|| "install".into());
    blocking(s.host, StatusCode::CREATED, move |h| {
        let record = match mode.as_str() {
            "install" => h.install_package(&body, CommitMode::Install),
            "upgrade" => h.install_package(&body, CommitMode::Upgrade),
            "dev" => h.install_dev_package(&body, false),
            "dev-replace" => h.install_dev_package(&body, true),
            other => {
                return Err(Problem::new(
                    StatusCode::BAD_REQUEST,
                    "bad-mode",
                    format!("mode `{other}` is not one of install, upgrade, dev, dev-replace"),
                ));
            }
        }?;
        admin_app(h, record)
    })
    .await
}

async fn rollback(State(s): State<AppState>, Path(id): Path<String>) -> Response {
    blocking(s.host, StatusCode::OK, move |h| {
        let r = h.rollback(&id)?;
        admin_app(h, r)
    })
    .await
}

#[derive(Debug, Deserialize)]
struct RemoveQuery {
    purge_data: Option<bool>,
}

async fn remove(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<RemoveQuery>,
) -> Response {
    blocking(s.host, StatusCode::OK, move |h| {
        Ok(h.remove(&id, q.purge_data.unwrap_or(false))?)
    })
    .await
}

/// A key to trust.
#[derive(Debug, Serialize, Deserialize)]
pub struct TrustRequest {
    pub public_key: String,
    pub name: Option<String>,
}

async fn list_trust(State(s): State<AppState>) -> Response {
    blocking(s.host, StatusCode::OK, |h| {
        h.trust().list().map_err(store_problem)
    })
    .await
}

async fn add_trust(State(s): State<AppState>, JsonBody(t): JsonBody<TrustRequest>) -> Response {
    blocking(
        s.host,
        StatusCode::CREATED,
        move |h| -> Result<TrustedKey, Problem> { Ok(h.trust().add(&t.public_key, t.name)?) },
    )
    .await
}

async fn remove_trust(State(s): State<AppState>, Path(key): Path<String>) -> Response {
    blocking(
        s.host,
        StatusCode::OK,
        move |h| -> Result<TrustedKey, Problem> { Ok(h.trust().remove(&key)?) },
    )
    .await
}

/// A person to add.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub handle: String,
    pub display_name: Option<String>,
    /// None: an account that cannot log in yet.
    pub password: Option<String>,
}

/// A verification to record.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    /// `YYYY-MM-DD`.
    pub birth_date: String,
}

fn identity_result<T: Serialize>(status: StatusCode, r: Result<T, IdentityError>) -> Response {
    match r {
        Ok(v) => (status, axum::Json(v)).into_response(),
        Err(e) => Problem::from(e).into_response(),
    }
}

/// Every person, by handle.
#[utoipa::path(get, path = "/admin/users", tag = "admin", security(("admin" = [])),
    responses((status = 200, body = Vec<UserView>), (status = 401, body = super::problem::ProblemBody)))]
pub(super) async fn list_users(State(s): State<AppState>) -> Response {
    identity_result(
        StatusCode::OK,
        s.host
            .identity()
            .users()
            .map(|u| u.iter().map(|u| u.view()).collect::<Vec<_>>()),
    )
}

/// Adds a person (password hashed with argon2).
#[utoipa::path(post, path = "/admin/users", tag = "admin", security(("admin" = [])),
    request_body = NewUser,
    responses((status = 201, body = UserView), (status = 409, body = super::problem::ProblemBody), (status = 422, body = super::problem::ProblemBody)))]
pub(super) async fn add_user(
    State(s): State<AppState>,
    JsonBody(u): JsonBody<NewUser>,
) -> Response {
    // Hashing the password takes a while: off the async workers.
    blocking(s.host, StatusCode::CREATED, move |h| {
        Ok(h.identity()
            .add_user(&u.handle, u.display_name.as_deref(), u.password.as_deref())?
            .view())
    })
    .await
}

/// Records the operator's real-name verification of a person.
#[utoipa::path(post, path = "/admin/users/{handle}/verify", tag = "admin", security(("admin" = [])),
    params(("handle" = String, Path, description = "The person's handle")),
    request_body = VerifyRequest,
    responses((status = 200, body = UserView), (status = 404, body = super::problem::ProblemBody), (status = 422, body = super::problem::ProblemBody)))]
pub(super) async fn verify_user(
    State(s): State<AppState>,
    Path(handle): Path<String>,
    JsonBody(v): JsonBody<VerifyRequest>,
) -> Response {
    identity_result(
        StatusCode::OK,
        s.host
            .identity()
            .verify_user(&handle, &v.birth_date)
            .map(|u| u.view()),
    )
}

/// The launch-token signing keys, newest first.
#[utoipa::path(get, path = "/admin/host-keys", tag = "admin", security(("admin" = [])),
    responses((status = 200, body = Object)))]
pub(super) async fn list_host_keys(State(s): State<AppState>) -> Response {
    identity_result(StatusCode::OK, s.host.identity().host_keys())
}

/// Starts signing launch tokens with a new key; the old one stays published
/// until its tokens have expired.
#[utoipa::path(post, path = "/admin/host-keys/rotate", tag = "admin", security(("admin" = [])),
    responses((status = 200, body = Object)))]
pub(super) async fn rotate_host_keys(State(s): State<AppState>) -> Response {
    identity_result(StatusCode::OK, s.host.identity().rotate_host_key())
}
