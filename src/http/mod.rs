//! The HTTP adapter (axum): routing, middleware, and one module per API area. Handlers
//! authenticate through extractors, parse, send one message to an actor (or read the store), and
//! render the envelope.

pub mod admin;
pub mod admin_campaigns;
pub mod admin_lottery;
pub mod admin_loyalty;
pub mod admin_shop;
pub mod auth;
pub mod campaigns;
pub mod console;
pub mod docs;
pub mod envelope;
pub mod error;
pub mod exchange;
pub mod extract;
pub mod limits;
pub mod live;
pub mod lottery;
pub mod loyalty;
pub mod merchant;
pub mod ops;
pub mod photo;
pub mod prizes;
pub mod upload;
pub mod user;
pub mod wechat;
pub mod ws;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::HeaderName;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::actors::{ReviewHandle, StockHandle, Wallets, Wheels};
use crate::auth::wechat::Wechat;
use crate::auth::{BanList, SignInCodes, Tokens};
use crate::config::Config;
use crate::notify::Hub;
use crate::objects::ObjectStore;
use crate::store::Store;
pub use envelope::{ok, Answer, Envelope};
pub use error::{ApiError, ApiResult};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// JSON bodies are small; uploads get their own limit.
const JSON_BODY_LIMIT: usize = 64 * 1024;

/// Everything a handler can reach. One shared allocation: axum clones the state for every
/// extractor of every request, so a clone must be one reference count, not a dozen.
#[derive(Clone)]
pub struct AppState(Arc<Services>);

impl AppState {
    pub fn new(services: Services) -> AppState {
        AppState(Arc::new(services))
    }
}

impl std::ops::Deref for AppState {
    type Target = Services;
    fn deref(&self) -> &Services {
        &self.0
    }
}

pub struct Services {
    pub config: Arc<Config>,
    pub store: Store,
    pub wallets: Wallets,
    /// Committed facts (task progress and the leaderboards follow them).
    pub events: crate::events::EventBus,
    /// The business time zone, the check-in base and the level table.
    pub loyalty: Arc<crate::actors::wallet::LoyaltyRules>,
    pub leaderboard: crate::actors::leaderboard::Leaderboard,
    /// Every campaign's running wheel.
    pub wheels: Wheels,
    pub stock: StockHandle,
    pub reviews: ReviewHandle,
    pub objects: ObjectStore,
    pub hub: Hub,
    /// Cancelled when the server starts shutting down (sockets close with 1001).
    pub shutdown: CancellationToken,
    /// Every WebSocket task, so shutdown can wait for them.
    pub sockets: TaskTracker,
    pub tokens: Arc<Tokens>,
    /// Cluster mode: this node's lease and the other nodes; `None` on a single node.
    pub cluster: Option<crate::cluster::Cluster>,
    pub codes: Arc<SignInCodes>,
    /// WeChat sign-in, when `WECHAT_APPID` and `WECHAT_SECRET` are set.
    pub wechat: Option<Arc<Wechat>>,
    /// Banned customers, mirrored from the store so every request can check without a query.
    pub banned: Arc<BanList>,
    pub ip_limiter: Arc<limits::IpLimiter>,
    /// Requests being processed now, bounded by `MAX_IN_FLIGHT` (9002).
    pub in_flight: limits::InFlight,
    /// Failed admin sign-ins per username (2006).
    pub admin_lockout: Arc<crate::auth::passwords::AdminLockout>,
    pub metrics: PrometheusHandle,
    /// The last `/health` result, reused for about a second.
    pub health: ops::HealthCache,
    pub started: Instant,
}

/// The whole HTTP surface: every API area, the WebSocket, ops and the docs, with the layers
/// every request passes through. The OpenAPI document is assembled from the same routers.
pub fn router(state: AppState) -> Router {
    let (routes, document) = documented_routes(&state);
    let request_id = HeaderName::from_static("x-request-id");
    docs::mount(routes, &document)
        .fallback(|body: axum::body::Body| async move {
            drain(body).await;
            ApiError::RouteNotFound
        })
        .method_not_allowed_fallback(|body: axum::body::Body| async move {
            drain(body).await;
            ApiError::MethodNotAllowed
        })
        .layer(DefaultBodyLimit::max(JSON_BODY_LIMIT))
        .layer(middleware::from_fn_with_state(state.clone(), limits::admit))
        .layer(middleware::from_fn(record_metrics))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::from(crate::actors::Failure::fault("handler panicked")).into_response()
        }))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            // Only the path: query strings can carry tokens (the WebSocket's ?token=).
            let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
        }))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .with_state(state)
}

/// Every route with its documentation, and the finished OpenAPI document. The per-IP limiter
/// covers the `/api` areas, the socket, `/health`, `/metrics` and `/files` (each costs a store
/// read or more); only the docs and the console's files stay outside it.
pub fn documented_routes(state: &AppState) -> (Router<AppState>, serde_json::Value) {
    let api = OpenApiRouter::new()
        .nest("/api/auth", auth::router().merge(wechat::router()))
        .nest("/api/user", user::router())
        .nest("/api/lottery", lottery::router().merge(campaigns::router()).merge(prizes::router()))
        .nest("/api/exchange", exchange::router())
        .nest("/api/photo", photo::router())
        .nest("/api/merchant", merchant::router())
        .nest("/api", loyalty::router())
        .nest(
            "/api/admin",
            admin::router(state.config.test_hooks)
                .merge(admin_lottery::router())
                .merge(admin_shop::router())
                .merge(admin_loyalty::router())
                .merge(admin_campaigns::router()),
        );
    let (routes, openapi) = OpenApiRouter::with_openapi(docs::ApiDoc::openapi())
        .merge(
            api.merge(ops::router())
                .merge(ws::router())
                .layer(middleware::from_fn_with_state(state.clone(), limits::per_ip)),
        )
        // Static files compiled in: outside the per-IP limiter, like the docs.
        .merge(console::router())
        .split_for_parts();
    let document = docs::finish(openapi, ws::documentation());
    (routes, document)
}

/// Requests by route and status, and latency by route, for `/metrics`.
async fn record_metrics(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let method = method_label(req.method());
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("http_requests_total", "method" => method, "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("http_request_duration_seconds", "route" => route).record(start.elapsed());
    response
}

/// Reads and drops a body nobody wanted (up to the JSON limit), so the answer can go out on a
/// connection that stays usable: hyper closes a keep-alive connection whose request body was
/// left unread, and a client reusing it then sees "disconnected without a response". A larger
/// body is left, and that one connection closes.
async fn drain(body: axum::body::Body) {
    let _ = axum::body::to_bytes(body, JSON_BODY_LIMIT).await;
}

/// A fixed set, so a client inventing methods (`AAAA1`, `AAAA2`, …) cannot grow the registry.
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        _ => "OTHER",
    }
}

/// How often background housekeeping runs (expired codes, limiter entries, old idempotency keys).
pub const SWEEP_EVERY: Duration = Duration::from_secs(60);

#[cfg(test)]
mod tests {
    #[test]
    fn the_method_label_is_one_of_five() {
        use axum::http::Method;
        for (m, label) in [(Method::GET, "GET"), (Method::PATCH, "OTHER"), (Method::DELETE, "DELETE")] {
            assert_eq!(super::method_label(&m), label);
        }
        let invented = Method::from_bytes(b"AAAA1").expect("a token");
        assert_eq!(super::method_label(&invented), "OTHER");
    }
}
