//! The signed-in person's own routes: their account, their consent per app,
//! what apps did with their data, and exporting and erasing it.

use super::auth::Authed;
use super::{AppState, JsonBody, PageLimit, Problem, blocking, query};
use crate::identity::{Decision, UserView};
use crate::platform::{AccessView, Erased, Export, ScopeView};
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

/// The signed-in person's account.
#[utoipa::path(get, path = "/me", tag = "me", security(("bearer" = [])),
    responses((status = 200, body = crate::schemas::UserView)))]
pub(super) async fn me(
    State(s): State<AppState>,
    who: Authed,
) -> Result<axum::Json<UserView>, Problem> {
    let user = s.host.identity().user(&who.user_id)?.ok_or_else(|| {
        Problem::new(
            StatusCode::UNAUTHORIZED,
            "invalid-token",
            "the account is gone",
        )
    })?;
    Ok(axum::Json(user.view()))
}

/// The scopes one app requests and the person's decisions.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GrantList {
    pub app: String,
    pub scopes: Vec<ScopeView>,
}

/// The scopes an app requests (with its purposes) and the person's decision
/// on each: `granted`, `denied` or `undecided`.
#[utoipa::path(get, path = "/me/apps/{id}/grants", tag = "me", security(("bearer" = [])),
    params(("id" = String, Path, description = "App id", example = "hello")),
    responses((status = 200, body = GrantList), (status = 404, description = "`app-not-found`")))]
pub(super) async fn grants(
    State(s): State<AppState>,
    who: Authed,
    Path(id): Path<String>,
) -> Result<axum::Json<GrantList>, Problem> {
    let scopes = s.host.scopes(&who.user_id, &id)?;
    Ok(axum::Json(GrantList { app: id, scopes }))
}

/// A decision on one scope.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecideRequest {
    /// `grant`, `deny` (sticks: the app is told not to ask again) or
    /// `revoke` (back to undecided).
    #[schema(value_type = crate::schemas::Decision)]
    pub decision: Decision,
}

/// Grants, denies or revokes one scope for one app.
#[utoipa::path(put, path = "/me/apps/{id}/grants/{scope}", tag = "me", security(("bearer" = [])),
    params(("id" = String, Path, description = "App id", example = "hello"), ("scope" = String, Path, description = "profile or real-name", example = "profile")),
    request_body = DecideRequest,
    responses(
        (status = 200, body = ScopeView),
        (status = 400, description = "An unknown `decision` is `invalid-json` too"),
        (status = 404, description = "`app-not-found`, `unknown-scope`"),
        (status = 409, description = "`scope-not-requested`: the app does not request this scope")))]
pub(super) async fn decide(
    State(s): State<AppState>,
    who: Authed,
    Path((id, scope)): Path<(String, String)>,
    JsonBody(req): JsonBody<DecideRequest>,
) -> Result<axum::Json<ScopeView>, Problem> {
    Ok(axum::Json(s.host.decide_scope(
        &who.user_id,
        &id,
        &scope,
        req.decision,
    )?))
}

/// Which entries to show.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AccessQuery {
    /// Only this app's entries.
    #[param(nullable = false)]
    pub app: Option<String>,
    /// At most this many, newest first.
    #[param(inline)]
    pub(super) limit: Option<PageLimit>,
}

/// The log.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AccessLog {
    pub entries: Vec<AccessView>,
}

/// What mini-apps did with the person's data: each capability use, when,
/// and whether the host allowed it. Newest first.
#[utoipa::path(get, path = "/me/access-log", tag = "me", security(("bearer" = [])),
    params(AccessQuery),
    responses((status = 200, body = AccessLog), (status = 404, description = "`app-not-found`: `app` is not an app id")))]
pub(super) async fn access_log(
    State(s): State<AppState>,
    who: Authed,
    uri: Uri,
) -> Result<axum::Json<AccessLog>, Problem> {
    let q: AccessQuery = query(&uri)?;
    let limit = PageLimit::or_default(q.limit);
    let entries = blocking(&s.host, move |h| {
        Ok(h.access_log(&who.user_id, q.app.as_deref(), limit)?)
    })
    .await?;
    Ok(axum::Json(AccessLog { entries }))
}

/// Everything the host holds about the person, as one JSON document.
#[utoipa::path(get, path = "/me/export", tag = "me", security(("bearer" = [])),
    responses((status = 200, body = Export,
        headers(("content-disposition" = String, description = "`attachment; filename=\"superapp-export.json\"`")))))]
pub(super) async fn export(State(s): State<AppState>, who: Authed) -> Result<Response, Problem> {
    let export = blocking(&s.host, move |h| Ok(h.export(&who.user_id)?)).await?;
    Ok((
        [(
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"superapp-export.json\"",
        )],
        axum::Json(export),
    )
        .into_response())
}

/// Erases the person's data in one app: their user-scoped storage and their
/// consent decisions. The app's shared data and the access log stay.
#[utoipa::path(delete, path = "/me/apps/{id}/data", tag = "me", security(("bearer" = [])),
    params(("id" = String, Path, description = "App id", example = "hello")),
    responses((status = 200, body = Erased), (status = 404, description = "`app-not-found`")))]
pub(super) async fn erase(
    State(s): State<AppState>,
    who: Authed,
    Path(id): Path<String>,
) -> Result<axum::Json<Erased>, Problem> {
    let erased = blocking(&s.host, move |h| Ok(h.erase_app_data(&who.user_id, &id)?)).await?;
    Ok(axum::Json(erased))
}
