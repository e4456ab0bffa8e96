//! The HTTP edge on hyper (through axum's router): authenticates people,
//! maps requests to platform and identity calls, and maps every error, once,
//! to `application/problem+json` with a stable `type`. Each request gets a
//! request id (echoed in `x-request-id`) and a tracing span; public routes
//! have a time limit and JSON bodies a size limit; connections have a cap
//! and a time limit on sending a request's head. Mini-app calls run on the
//! async workers (the guest yields at every epoch tick) in the runtime's
//! call slots.

pub mod admin;
mod apps;
mod auth;
mod me;
mod messaging;
mod openapi;
mod problem;
mod shell;
mod ui;
pub mod wallet;

pub use me::GrantList;
pub use openapi::openapi_json;
pub use problem::{JsonBody, Problem};

use crate::platform::Superapp;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tracing::Instrument;

/// How the API is served.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The operator token; `None` turns the `/admin` routes off.
    pub admin_token: Option<String>,
    /// The `iss` of launch tokens: the URL the host is reached at.
    pub issuer: String,
}

#[derive(Clone)]
struct AppState {
    host: Arc<Superapp>,
    admin_token: Option<Arc<str>>,
    issuer: Arc<str>,
    /// Open live streams per person.
    streams: Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>>,
}

impl problem::AsLimit for AppState {
    fn json_limit(&self) -> usize {
        self.host.config().max_json_body_bytes
    }
}

/// Registers routes and records each (method, path) as it does, so the
/// list of what is served is read off the registration itself (the
/// OpenAPI test compares the document with it). `ANY` takes every method.
macro_rules! routes {
    ($($method:ident $path:literal => $handler:expr),* $(,)?) => {{
        let mut router = Router::<AppState>::new();
        let mut table: Vec<(&'static str, &'static str)> = Vec::new();
        $(
            router = router.route($path, $crate::http::routes!(@on $method $handler));
            table.push((stringify!($method), $path));
        )*
        (router, table)
    }};
    (@on ANY $handler:expr) => { axum::routing::any($handler) };
    (@on $method:ident $handler:expr) => {
        axum::routing::on(axum::routing::MethodFilter::$method, $handler)
    };
}
pub(crate) use routes;

/// Every route of the API with a time limit (all but the live stream).
fn timed_routes() -> (Router<AppState>, Vec<(&'static str, &'static str)>) {
    routes! {
        GET "/healthz" => healthz,
        GET "/openapi.json" => openapi::serve,
        GET "/.well-known/jwks.json" => apps::jwks,
        GET "/apps" => apps::list_apps,
        POST "/apps/{id}/launch" => apps::launch,
        GET "/ui/{app}/{tag}/{*path}" => ui::file,
        ANY "/apps/{id}/call" => apps::call_root,
        ANY "/apps/{id}/call/" => apps::call_root,
        ANY "/apps/{id}/call/{*path}" => apps::call_path,
        POST "/auth/login" => auth::login,
        POST "/auth/logout" => auth::logout,
        POST "/auth/session" => auth::open_session,
        GET "/auth/session" => auth::current_session,
        DELETE "/auth/session" => auth::close_session,
        GET "/" => shell::index,
        GET "/index.html" => shell::index,
        GET "/shell/{*path}" => shell::file,
        GET "/bridge/v1.js" => shell::bridge,
        GET "/me" => me::me,
        GET "/me/apps/{id}/grants" => me::grants,
        PUT "/me/apps/{id}/grants/{scope}" => me::decide,
        DELETE "/me/apps/{id}/data" => me::erase,
        GET "/me/access-log" => me::access_log,
        GET "/me/export" => me::export,
        GET "/me/wallet" => wallet::balance,
        GET "/me/wallet/transactions" => wallet::transactions,
        POST "/me/transfers" => wallet::transfer,
        GET "/me/payments/pending" => wallet::pending,
        GET "/me/payments/{id}" => wallet::payment,
        POST "/me/payments/{id}/confirm" => wallet::confirm,
        POST "/me/payments/{id}/decline" => wallet::decline,
        POST "/me/payments/{id}/confirm-receipt" => wallet::confirm_receipt,
        POST "/me/red-packets" => wallet::send_packet,
        GET "/me/red-packets/{id}" => wallet::packet,
        POST "/me/red-packets/{id}/claim" => wallet::claim,
        GET "/me/conversations" => messaging::list,
        POST "/me/conversations" => messaging::create,
        GET "/me/conversations/{id}" => messaging::detail,
        POST "/me/conversations/{id}/members" => messaging::invite,
        POST "/me/conversations/{id}/leave" => messaging::leave,
        GET "/me/conversations/{id}/messages" => messaging::history,
        POST "/me/conversations/{id}/messages" => messaging::send,
        POST "/me/conversations/{id}/read" => messaging::read,
        GET "/me/apps/{id}/subscriptions" => messaging::subscriptions,
        POST "/me/apps/{id}/subscriptions" => messaging::subscribe,
        DELETE "/me/apps/{id}/subscriptions/{topic}" => messaging::unsubscribe,
        POST "/apps/{id}/messages" => messaging::to_app,
    }
}

/// Live streams stay open for as long as the client listens: no time limit.
fn live_routes() -> (Router<AppState>, Vec<(&'static str, &'static str)>) {
    routes! {
        GET "/me/events" => messaging::events,
    }
}

/// Every (method, path) the API serves, as registered (`ANY`: every
/// method; paths in axum's syntax, `{*rest}` for a wildcard).
pub fn route_table() -> Vec<(&'static str, &'static str)> {
    let mut table = admin::routes().1;
    table.extend(timed_routes().1);
    table.extend(live_routes().1);
    table
}

/// The API's routes.
pub fn router(host: Arc<Superapp>, options: ServeOptions) -> Router {
    // Recording starts with the first router, so /metrics counts from here.
    crate::telemetry::metrics();
    let state = AppState {
        host,
        admin_token: options.admin_token.map(Arc::from),
        issuer: Arc::from(options.issuer),
        streams: Default::default(),
    };
    let public = timed_routes()
        .0
        .layer(middleware::from_fn_with_state(state.clone(), time_limit));
    let admin = admin::routes()
        .0
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            admin::require_token,
        ));
    Router::new()
        .merge(admin)
        .merge(public)
        .merge(live_routes().0)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn(observe))
        .with_state(state)
}

/// Serves the API on `listener` until `shutdown` resolves.
pub async fn serve(
    host: Arc<Superapp>,
    listener: TcpListener,
    options: ServeOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Expiries and event delivery run while the API serves.
    let background = tokio::spawn(host.clone().run_wallet_background());
    let others = tokio::spawn(host.clone().follow_other_hosts());
    let config = host.config().clone();
    let app = router(host, options);
    // hyper directly rather than `axum::serve`, which sets no time limit on
    // reading a request's head and no cap on connections.
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(config.header_read_timeout)
        .max_buf_size(config.max_request_head_bytes.max(8192));
    let connections = Arc::new(Semaphore::new(config.max_connections.max(1)));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: pause rather
                    // than spin, then accept again.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        // At the cap a new connection is closed at once: it learns now,
        // instead of waiting unanswered in the backlog.
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            tracing::warn!(
                limit = config.max_connections,
                "connection refused: too many open"
            );
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        let conn =
            graceful.watch(http.serve_connection(hyper_util::rt::TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    // Requests in flight finish; live streams never would, so not forever.
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await;
    background.abort();
    others.abort();
    Ok(())
}

/// Serves `GET /metrics` alone, without a token, on `listener` (the
/// operator's `metrics_listen`: an address only the scraper reaches).
pub async fn serve_metrics(host: Arc<Superapp>, listener: TcpListener) -> std::io::Result<()> {
    let app = Router::new()
        .route(
            "/metrics",
            axum::routing::get(move || {
                let host = host.clone();
                async move { admin::metrics_text(&host) }
            }),
        )
        .fallback(not_found);
    axum::serve(listener, app).await
}

/// How long a shutdown waits for open connections.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// The request id: the client's `x-request-id` when it is a sane token,
/// else a fresh one (a per-process random prefix and a counter).
fn request_id(req: &Request) -> String {
    let given = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            (1..=64).contains(&v.len())
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        });
    match given {
        Some(id) => id.to_string(),
        None => {
            static PREFIX: std::sync::OnceLock<String> = std::sync::OnceLock::new();
            static NEXT: AtomicU64 = AtomicU64::new(1);
            let prefix = PREFIX.get_or_init(|| crate::identity::random_token()[..8].to_string());
            format!("{prefix}-{:x}", NEXT.fetch_add(1, Ordering::Relaxed))
        }
    }
}

/// One span per request, tagged with its id, method and path; the id is
/// echoed to the client so a report can be matched to the log.
async fn observe(req: Request, next: Next) -> Response {
    let id = request_id(&req);
    // The route's template, not the path: a label per app id or handle
    // would grow without bound.
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = req.method().clone();
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %req.method(),
        path = %req.uri().path(),
    );
    let started = std::time::Instant::now();
    let mut response = next.run(req).instrument(span.clone()).await;
    let took = started.elapsed();
    span.in_scope(|| {
        tracing::debug!(
            status = response.status().as_u16(),
            micros = took.as_micros() as u64,
            "answered"
        )
    });
    let method = method.as_str().to_string();
    metrics::counter!(
        "superapp_http_requests_total",
        "route" => route.clone(),
        "method" => method.clone(),
        "status" => response.status().as_u16().to_string(),
    )
    .increment(1);
    metrics::histogram!(
        "superapp_http_request_duration_seconds",
        "route" => route,
        "method" => method,
    )
    .record(took);
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::try_from(id) {
        headers.insert("x-request-id", value);
    }
    // Every answer of the API is data: never sniffed into a type that runs.
    headers.insert(
        axum::http::header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// Ends a public request that takes longer than `request_timeout` (a slow
/// upload, a queue of calls) with 503 `request-timeout`.
async fn time_limit(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let limit = s.host.config().request_timeout;
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "request-timeout",
            format!(
                "the request took longer than {} s and was abandoned",
                limit.as_secs()
            ),
        )
        .into_response(),
    }
}

/// Whether the host is up, and how many apps it has.
#[utoipa::path(get, path = "/healthz", tag = "host",
    responses((status = 200, description = "The host is serving", body = Object)))]
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

/// A known path asked with a method it does not take (axum keeps `Allow`).
async fn method_not_allowed(req: Request) -> Response {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        format!(
            "{} does not take {}; `allow` lists what it takes",
            req.uri().path(),
            req.method()
        ),
    )
    .into_response()
}

/// Runs blocking work (argon2, sled scans, compiling) off the async workers.
async fn blocking<T: Send + 'static>(
    host: &Arc<Superapp>,
    f: impl FnOnce(&Superapp) -> Result<T, Problem> + Send + 'static,
) -> Result<T, Problem> {
    let host = host.clone();
    tokio::task::spawn_blocking(move || f(&host))
        .await
        .map_err(Problem::internal)?
}

/// Parses the query string into `T`, or a problem naming what was wrong.
fn query<T: serde::de::DeserializeOwned>(uri: &axum::http::Uri) -> Result<T, Problem> {
    axum::extract::Query::<T>::try_from_uri(uri)
        .map(|q| q.0)
        .map_err(|e| Problem::new(StatusCode::BAD_REQUEST, "invalid-query", e.body_text()))
}

/// `query` as an extractor, for handlers that take the query as an argument.
pub(super) struct QueryOf<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> axum::extract::FromRequestParts<S>
    for QueryOf<T>
{
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Problem> {
        query(&parts.uri).map(QueryOf)
    }
}

/// `?limit=` on every paged route (access log, messages, transactions): one
/// rule, checked here and declared with these bounds in the document. Out of
/// range is 400 `invalid-query` naming `limit`.
#[derive(Debug, Clone, Copy, serde::Deserialize)]
#[serde(try_from = "u64")]
pub(super) struct PageLimit(usize);

impl PageLimit {
    pub const MIN: usize = 1;
    pub const MAX: usize = 200;
    pub const DEFAULT: usize = 50;

    /// The page size asked for, or the default.
    pub fn or_default(limit: Option<PageLimit>) -> usize {
        limit.map_or(Self::DEFAULT, |l| l.0)
    }
}

impl TryFrom<u64> for PageLimit {
    type Error = String;

    fn try_from(n: u64) -> Result<Self, String> {
        usize::try_from(n)
            .ok()
            .filter(|n| (Self::MIN..=Self::MAX).contains(n))
            .map(PageLimit)
            .ok_or_else(|| format!("must be {}–{}, is {n}", Self::MIN, Self::MAX))
    }
}

impl utoipa::PartialSchema for PageLimit {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(Self::MIN as f64))
            .maximum(Some(Self::MAX as f64))
            .default(Some(Self::DEFAULT.into()))
            .description(Some(format!(
                "At most this many: {}–{}, default {}",
                Self::MIN,
                Self::MAX,
                Self::DEFAULT
            )))
            .into()
    }
}

impl utoipa::ToSchema for PageLimit {}
