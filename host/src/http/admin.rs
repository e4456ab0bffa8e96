//! Operator routes under `/admin`, for the `superapp` command line talking
//! to a running server (the data folder is locked by the server, so the CLI
//! forwards installs, upgrades, rollbacks, removals, trust changes, user
//! management and key rotation here).
//! Every route needs the bearer token the server wrote to `DATA/serve.json`.
//! A package upload may be as large as the host's package cap
//! (`max_package_bytes`), not axum's default body limit.

use super::{AppState, JsonBody, Problem, QueryOf};
use crate::identity::IdentityError;
use crate::packages::{AppRecord, CommitMode, InstallError, KeyBinding, KeyError, TrustedKey};
use crate::platform::Superapp;
use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// One installed app as the admin API shows it.
#[derive(Debug, Serialize, Deserialize)]
pub struct AdminApp {
    pub record: AppRecord,
    pub storage_used: u64,
    /// The developer key the app is bound to (None: never signed, not rekeyed).
    #[serde(default)]
    pub developer_key: Option<KeyBinding>,
}

/// The operator's routes (behind [`require_token`], applied by the router).
pub(super) fn routes() -> (Router<AppState>, Vec<(&'static str, &'static str)>) {
    super::routes! {
        GET "/admin/apps" => list_apps,
        POST "/admin/apps" => install,
        GET "/admin/apps/{id}" => show_app,
        DELETE "/admin/apps/{id}" => remove,
        POST "/admin/apps/{id}/rollback" => rollback,
        PUT "/admin/apps/{id}/developer-key" => rekey,
        GET "/admin/trust" => list_trust,
        POST "/admin/trust" => add_trust,
        DELETE "/admin/trust/{key}" => remove_trust,
        GET "/admin/users" => list_users,
        POST "/admin/users" => add_user,
        POST "/admin/users/{handle}/verify" => verify_user,
        GET "/metrics" => metrics,
        GET "/admin/host-keys" => list_host_keys,
        POST "/admin/host-keys/rotate" => rotate_host_keys,
        POST "/admin/wallet/topup" => super::wallet::topup,
        POST "/admin/wallet/withdraw" => super::wallet::withdraw,
        GET "/admin/wallet/users/{handle}" => super::wallet::user_balance,
        GET "/admin/wallet/merchants" => super::wallet::merchants,
        GET "/admin/wallet/audit" => super::wallet::audit,
        GET "/admin/wallet/payments/{id}" => super::wallet::admin_payment,
        POST "/admin/wallet/payments/{id}/refund" => super::wallet::admin_refund,
        POST "/admin/wallet/payments/{id}/capture" => super::wallet::admin_capture,
        POST "/admin/wallet/payments/{id}/void" => super::wallet::admin_void,
    }
}

pub(super) async fn require_token(State(s): State<AppState>, req: Request, next: Next) -> Response {
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
            InstallError::AlreadyInstalled { .. }
            | InstallError::Changed(_)
            | InstallError::NotNewer { .. }
            | InstallError::NoPreviousVersion(_)
            | InstallError::KeyMismatch { .. }
            | InstallError::SignedApp { .. } => StatusCode::CONFLICT,
            InstallError::Io(_) | InstallError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
            InstallError::Key(k) => return Problem::from_key(k),
            // What the package, manifest or its files say is wrong.
            InstallError::Manifest(_)
            | InstallError::Component { .. }
            | InstallError::UndeclaredImport { .. }
            | InstallError::UnknownImport(_)
            | InstallError::PlatformVersion { .. }
            | InstallError::Package(_)
            | InstallError::UntrustedKey { .. }
            | InstallError::ComponentOutside { .. }
            | InstallError::Ui(_)
            | InstallError::File(_) => StatusCode::UNPROCESSABLE_ENTITY,
        };
        Problem::new(status, e.code(), e.to_string())
    }
}

impl Problem {
    fn from_key(e: &KeyError) -> Problem {
        let status = match e {
            KeyError::NotTrusted(_) => StatusCode::NOT_FOUND,
            KeyError::BadPublicKey(_) => StatusCode::BAD_REQUEST,
            // The host's own key files and store: never the client's fault.
            KeyError::Exists(_)
            | KeyError::Io { .. }
            | KeyError::BadKeyFile { .. }
            | KeyError::File(_)
            | KeyError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
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
    let developer_key = host.developer_key(record.id()).map_err(store_problem)?;
    Ok(AdminApp {
        record,
        storage_used,
        developer_key,
    })
}

/// Every installed app.
#[utoipa::path(get, path = "/admin/apps", tag = "admin", security(("admin" = [])),
    responses((status = 200, description = "Every installed app with its record and storage used", body = Vec<Object>)))]
pub(super) async fn list_apps(State(s): State<AppState>) -> Response {
    blocking(s.host, StatusCode::OK, |h| {
        h.apps()
            .map_err(store_problem)?
            .into_iter()
            .map(|r| admin_app(h, r))
            .collect::<Result<Vec<_>, _>>()
    })
    .await
}

/// One installed app: its manifest, signer, versions to roll back to and storage used.
#[utoipa::path(get, path = "/admin/apps/{id}", tag = "admin", security(("admin" = [])),
    params(("id" = String, Path, description = "App id", example = "hello")),
    responses((status = 200, description = "The app's record and storage used", body = Object),
        (status = 404, description = "`not-installed`")))]
pub(super) async fn show_app(State(s): State<AppState>, Path(id): Path<String>) -> Response {
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
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct InstallQuery {
    /// `install` (default), `upgrade`, `dev`, `dev-replace` or
    /// `dev-replace-signed`.
    #[param(nullable = false)]
    mode: Option<String>,
}

/// How much of a refused upload is still read (and dropped) so the client
/// gets the answer instead of a reset connection. Only an operator holding
/// the token gets this far.
const DRAIN_FACTOR: u64 = 4;

/// Reads a package upload of at most `limit` bytes (the host's package
/// cap): past it, 413 `request-too-large` as problem+json.
async fn package_body(req: Request, limit: u64) -> Result<Vec<u8>, Problem> {
    use futures_util::StreamExt;
    let too_large = || {
        Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request-too-large",
            format!("the package is over this host's limit of {limit} bytes (max_package_bytes)"),
        )
    };
    let declared = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let mut body = Vec::with_capacity(declared.unwrap_or(0).min(limit) as usize);
    let mut seen: u64 = 0;
    let mut stream = req.into_body().into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            Problem::new(
                StatusCode::BAD_REQUEST,
                "bad-request",
                format!("the upload broke off: {e}"),
            )
        })?;
        seen = seen.saturating_add(chunk.len() as u64);
        if seen > limit.saturating_mul(DRAIN_FACTOR) {
            return Err(too_large());
        }
        if seen <= limit {
            body.extend_from_slice(&chunk);
        }
    }
    if seen > limit {
        return Err(too_large());
    }
    Ok(body)
}

/// Installs, upgrades or developer-installs the package in the body.
#[utoipa::path(post, path = "/admin/apps", tag = "admin", security(("admin" = [])),
    params(InstallQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "A package (`superapp pack`); for `dev` modes, a developer package"),
    responses((status = 201, description = "The installed app", body = Object),
        (status = 400, description = "`bad-mode`, `bad-public-key`"),
        (status = 404, description = "`not-trusted`: the signing key is not trusted; `not-installed`: nothing to upgrade"),
        (status = 409, description = "`already-installed`, `not-newer`, `developer-key-mismatch`: signed by another key than the app's; `signed-app`: a developer install over a signed app needs `dev-replace-signed`"),
        (status = 413, description = "`request-too-large`: the package is over the upload limit"),
        (status = 422, description = "`invalid-manifest`, `invalid-component`, `undeclared-import`, `unknown-import`, and the package format's codes")))]
pub(super) async fn install(
    State(s): State<AppState>,
    QueryOf(q): QueryOf<InstallQuery>,
    req: Request,
) -> Response {
    let mode = q.mode.unwrap_or_else(|| "install".into());
    let body = match package_body(req, s.host.config().max_package_bytes).await {
        Ok(b) => b,
        Err(p) => return p.into_response(),
    };
    blocking(s.host, StatusCode::CREATED, move |h| {
        let record = match mode.as_str() {
            "install" => h.install_package(&body, CommitMode::Install),
            "upgrade" => h.install_package(&body, CommitMode::Upgrade),
            "dev" => h.install_dev_package(&body, CommitMode::Install),
            "dev-replace" => h.install_dev_package(&body, CommitMode::Replace),
            "dev-replace-signed" => h.install_dev_package(&body, CommitMode::ReplaceSigned),
            other => {
                return Err(Problem::new(
                    StatusCode::BAD_REQUEST,
                    "bad-mode",
                    format!(
                        "mode `{other}` is not one of install, upgrade, dev, dev-replace, dev-replace-signed"
                    ),
                ));
            }
        }?;
        admin_app(h, record)
    })
    .await
}

/// The developer key an app's next signed package must be signed with.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RekeyRequest {
    /// `ed25519:…`, a key in the trust store.
    pub public_key: String,
}

/// Changes the developer key an app is bound to: its next upgrade (or its
/// install after a removal that kept its data) must be signed with this
/// key, which must be trusted. The running version and those kept for
/// rollback are untouched; a rollback never moves the binding back.
#[utoipa::path(put, path = "/admin/apps/{id}/developer-key", tag = "admin", security(("admin" = [])),
    params(("id" = String, Path, description = "The app id")),
    request_body = RekeyRequest,
    responses(
        (status = 200, description = "The app's binding, with the keys it had before", body = crate::schemas::KeyBinding),
        (status = 400, description = "`bad-public-key`"),
        (status = 404, description = "`not-installed`: no such app, nor a binding kept after its removal"),
        (status = 422, description = "`untrusted-key`: trust the key first")))]
pub(super) async fn rekey(
    State(s): State<AppState>,
    Path(id): Path<String>,
    JsonBody(r): JsonBody<RekeyRequest>,
) -> Response {
    blocking(s.host, StatusCode::OK, move |h| {
        Ok(h.rekey(&id, &r.public_key)?)
    })
    .await
}

/// Moves an app back to its previous version.
#[utoipa::path(post, path = "/admin/apps/{id}/rollback", tag = "admin", security(("admin" = [])),
    params(("id" = String, Path, description = "App id")),
    responses((status = 200, description = "The app, back on its previous version", body = Object),
        (status = 404, description = "`not-installed`"),
        (status = 409, description = "`no-previous-version`")))]
pub(super) async fn rollback(State(s): State<AppState>, Path(id): Path<String>) -> Response {
    blocking(s.host, StatusCode::OK, move |h| {
        let r = h.rollback(&id)?;
        admin_app(h, r)
    })
    .await
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct RemoveQuery {
    /// Also erase the app's storage (default false).
    #[param(nullable = false)]
    purge_data: Option<bool>,
}

/// Removes every version of an app; its storage stays unless `purge_data`.
#[utoipa::path(delete, path = "/admin/apps/{id}", tag = "admin", security(("admin" = [])),
    params(("id" = String, Path, description = "App id"), RemoveQuery),
    responses((status = 200, description = "The removed app's record", body = Object),
        (status = 404, description = "`not-installed`")))]
pub(super) async fn remove(
    State(s): State<AppState>,
    Path(id): Path<String>,
    QueryOf(q): QueryOf<RemoveQuery>,
) -> Response {
    blocking(s.host, StatusCode::OK, move |h| {
        Ok(h.remove(&id, q.purge_data.unwrap_or(false))?)
    })
    .await
}

/// A key to trust.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TrustRequest {
    pub public_key: String,
    pub name: Option<String>,
}

/// The operator's trusted developer keys.
#[utoipa::path(get, path = "/admin/trust", tag = "admin", security(("admin" = [])),
    responses((status = 200, description = "The trusted developer keys", body = Vec<Object>)))]
pub(super) async fn list_trust(State(s): State<AppState>) -> Response {
    blocking(s.host, StatusCode::OK, |h| {
        h.trust().list().map_err(store_problem)
    })
    .await
}

/// Trusts a developer key.
#[utoipa::path(post, path = "/admin/trust", tag = "admin", security(("admin" = [])),
    request_body = TrustRequest,
    responses((status = 201, description = "The trusted key", body = Object),
        (status = 400, description = "`bad-public-key`")))]
pub(super) async fn add_trust(
    State(s): State<AppState>,
    JsonBody(t): JsonBody<TrustRequest>,
) -> Response {
    blocking(
        s.host,
        StatusCode::CREATED,
        move |h| -> Result<TrustedKey, Problem> { Ok(h.trust().add(&t.public_key, t.name)?) },
    )
    .await
}

/// Stops trusting a developer key (installed apps keep running).
#[utoipa::path(delete, path = "/admin/trust/{key}", tag = "admin", security(("admin" = [])),
    params(("key" = String, Path, description = "The public key")),
    responses((status = 200, description = "The key no longer trusted", body = Object),
        (status = 400, description = "`bad-public-key`"),
        (status = 404, description = "`not-trusted`")))]
pub(super) async fn remove_trust(State(s): State<AppState>, Path(key): Path<String>) -> Response {
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
    responses((status = 200, body = Vec<crate::schemas::UserView>)))]
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
    responses((status = 201, body = crate::schemas::UserView),
        (status = 409, description = "`handle-taken`"),
        (status = 422, description = "`invalid-handle`, `invalid-display-name`, `invalid-password`")))]
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
    params(("handle" = String, Path, description = "The person's handle", example = "ann")),
    request_body = VerifyRequest,
    responses((status = 200, body = crate::schemas::UserView),
        (status = 404, description = "`unknown-user`"),
        (status = 422, description = "`invalid-birth-date`")))]
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

/// The host's metrics in the Prometheus text format: HTTP requests by
/// route template and status with latency histograms, mini-app calls by
/// app and outcome, ledger and messaging batches, live streams, event
/// deliveries, resident memory. Needs the admin token here; `metrics_listen`
/// serves it on an address of its own without one.
#[utoipa::path(get, path = "/metrics", tag = "admin", security(("admin" = [])),
    responses((status = 200, description = "Prometheus text exposition format 0.0.4", content_type = "text/plain", body = String)))]
pub(super) async fn metrics(State(s): State<AppState>) -> Response {
    metrics_text(&s.host)
}

/// `/metrics`'s answer, for either listener.
pub(crate) fn metrics_text(host: &crate::Superapp) -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::telemetry::render(host),
    )
        .into_response()
}

/// The launch-token signing keys, newest first.
#[utoipa::path(get, path = "/admin/host-keys", tag = "admin", security(("admin" = [])),
    responses((status = 200, description = "The signing keys, newest first: `kid`, `created_at`, `retired_at`, `active`, `published`", body = Vec<Object>)))]
pub(super) async fn list_host_keys(State(s): State<AppState>) -> Response {
    identity_result(StatusCode::OK, s.host.identity().host_keys())
}

/// Starts signing launch tokens with a new key; the old one stays published
/// until its tokens have expired.
#[utoipa::path(post, path = "/admin/host-keys/rotate", tag = "admin", security(("admin" = [])),
    responses((status = 200, description = "The signing keys, newest first: `kid`, `created_at`, `retired_at`, `active`, `published`", body = Vec<Object>)))]
pub(super) async fn rotate_host_keys(State(s): State<AppState>) -> Response {
    identity_result(StatusCode::OK, s.host.identity().rotate_host_key())
}
