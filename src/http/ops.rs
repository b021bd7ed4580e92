//! Operations endpoints: `/health` (checks the store and object storage, at most about once a
//! second), `/metrics` (Prometheus text, for loopback or `METRICS_TOKEN` only) and `/files/…`
//! (objects of the local store, behind signed links).

use std::time::Duration;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::envelope::{ok, Envelope};
use super::error::ApiError;
use super::extract::ClientIp;
use super::AppState;
use crate::domain::image::ImageKind;
use crate::objects::ObjectStore;
use axum::http::HeaderMap;

/// How long `/health` waits for each dependency.
const CHECK_TIMEOUT: Duration = Duration::from_secs(3);
/// How long one health result is reused: a flood of `/health` must not become a flood of store
/// pings and S3 `HeadBucket`s (which cost money).
const HEALTH_FRESH: Duration = Duration::from_secs(1);

/// The last checks and when they ran. Callers that arrive while a check runs wait for it and
/// share its result.
#[derive(Default)]
pub struct HealthCache(tokio::sync::Mutex<Option<(std::time::Instant, Checked)>>);

/// What one round of checks found.
#[derive(Clone)]
struct Checked {
    store_ok: bool,
    objects_ok: bool,
    /// Cluster mode: the membership table as the database has it (`None` if unreadable).
    nodes: Option<Vec<crate::store::cluster::NodeRow>>,
}

impl HealthCache {
    async fn checks(&self, state: &AppState) -> Checked {
        let mut last = self.0.lock().await;
        if let Some((at, checked)) = &*last {
            if at.elapsed() < HEALTH_FRESH {
                return checked.clone();
            }
        }
        let store_ok = tokio::time::timeout(CHECK_TIMEOUT, state.store.ping()).await.is_ok_and(|r| r.is_ok());
        let objects_ok = tokio::time::timeout(CHECK_TIMEOUT, state.objects.healthy()).await.unwrap_or(false);
        let nodes = match &state.cluster {
            Some(c) => tokio::time::timeout(CHECK_TIMEOUT, c.view()).await.ok().and_then(Result::ok),
            None => None,
        };
        let checked = Checked { store_ok, objects_ok, nodes };
        *last = Some((std::time::Instant::now(), checked.clone()));
        checked
    }
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(health)).routes(routes!(metrics_text)).routes(routes!(signed_file))
}

/// The server as a whole.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum HealthStatus {
    Ok,
    /// The store is unreachable, or (cluster) this node's lease lapsed or NATS is disconnected;
    /// the answer is then 503.
    Degraded,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum StoreCheck {
    Ok,
    Unreachable,
}

/// Object storage does not decide `status`: uploads fail without it, everything else works.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum ObjectStorageCheck {
    Ok,
    Unavailable,
}

#[derive(Debug, Serialize, ToSchema)]
struct HealthChecks {
    store: StoreCheck,
    object_storage: ObjectStorageCheck,
}

/// This node's view of the cluster (cluster mode only).
#[derive(Debug, Serialize, ToSchema)]
struct ClusterView {
    /// This node (`NODE_ID`).
    node_id: String,
    /// Grows at every start of a node with this id.
    epoch: i64,
    /// Whether this node's lease runs: without it the node serves no customer's wallet (and
    /// `/health` answers 503, so the balancer sends nobody here).
    lease_valid: bool,
    nats_connected: bool,
    /// Every node that ever joined, as the database has it now.
    nodes: Vec<NodeView>,
}

#[derive(Debug, Serialize, ToSchema)]
struct NodeView {
    node_id: String,
    epoch: i64,
    /// Its lease runs now (database clock).
    alive: bool,
    /// Milliseconds since it last renewed its lease.
    renewed_ms_ago: i64,
}

#[derive(Debug, Serialize, ToSchema)]
struct Health {
    status: HealthStatus,
    checks: HealthChecks,
    /// `null` on a single node.
    cluster: Option<ClusterView>,
    /// Seconds since the server started.
    uptime_s: u64,
    #[schema(example = "0.1.0")]
    version: &'static str,
}

/// What `/health` answers with 503: code 1000 and the same `data` as a healthy answer.
#[derive(Debug, Serialize, ToSchema)]
struct Degraded {
    #[schema(example = 1000)]
    code: u32,
    #[schema(value_type = String, example = "系统异常，请稍后重试")]
    msg: &'static str,
    data: Health,
}

/// Health check
///
/// 200 while the store answers (and, in a cluster, while this node's lease runs and NATS is
/// connected); 503 (code 1000, with the same `data`) when not. Object
/// storage is reported but does not decide the status. Results are reused for about a second.
///
/// Errors: 9001
#[utoipa::path(get, path = "/health", tag = "ops",
    responses(
        (status = 200, description = "The store answers", body = Envelope<Health>),
        (status = 503, description = "The store is unreachable", body = Degraded),
    ))]
async fn health(State(state): State<AppState>) -> Response {
    let Checked { store_ok, objects_ok, nodes } = state.health.checks(&state).await;
    let cluster = state.cluster.as_ref().map(|c| ClusterView {
        node_id: c.node_id().to_string(),
        epoch: c.epoch(),
        lease_valid: c.lease_valid(),
        nats_connected: c.nats_connected(),
        nodes: nodes
            .unwrap_or_default()
            .into_iter()
            .map(|n| NodeView { node_id: n.node_id, epoch: n.epoch, alive: n.alive, renewed_ms_ago: n.renewed_ms_ago })
            .collect(),
    });
    let serving = cluster.as_ref().is_none_or(|c| c.lease_valid && c.nats_connected);
    let healthy = store_ok && serving;
    let health = Health {
        cluster,
        status: if healthy { HealthStatus::Ok } else { HealthStatus::Degraded },
        checks: HealthChecks {
            store: if store_ok { StoreCheck::Ok } else { StoreCheck::Unreachable },
            object_storage: if objects_ok { ObjectStorageCheck::Ok } else { ObjectStorageCheck::Unavailable },
        },
        uptime_s: state.started.elapsed().as_secs(),
        version: env!("CARGO_PKG_VERSION"),
    };
    if healthy {
        ok(health).into_response()
    } else {
        let body = Degraded { code: 1000, msg: "系统异常，请稍后重试", data: health };
        (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
    }
}

/// Prometheus metrics
///
/// The text exposition format: requests by route and status, latency, wallet actors. Answers
/// only loopback clients, or `Authorization: Bearer $METRICS_TOKEN`.
///
/// Errors: 2001 2002 9001
#[utoipa::path(get, path = "/metrics", tag = "ops",
    responses((status = 200, description = "Prometheus text format", body = String,
        content_type = "text/plain; version=0.0.4")))]
async fn metrics_text(State(state): State<AppState>, ClientIp(ip): ClientIp, headers: HeaderMap) -> Response {
    if !ip.is_loopback() {
        let presented = super::extract::bearer(&headers);
        let expected = state.config.metrics_token.as_ref().map(|t| t.expose());
        match (presented, expected) {
            (Some(p), Some(e)) if constant_time_eq(p.as_bytes(), e.as_bytes()) => {}
            (None, _) => return ApiError::TokenMissing.into_response(),
            _ => return ApiError::TokenInvalid.into_response(),
        }
    }
    metrics::gauge!("wallet_actors_active").set(state.wallets.active() as f64);
    metrics::gauge!("wallet_actor_restarts_total").set(state.wallets.restarts() as f64);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render()).into_response()
}

/// The two halves of a signed link.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct Signed {
    /// When the link stops working, in epoch seconds.
    expires: Option<i64>,
    /// The server's signature over the key and `expires`.
    sig: Option<String>,
}

/// An image file's bytes, as the response body (not JSON).
struct ImageBytes;

impl utoipa::PartialSchema for ImageBytes {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .description(Some("The image file (JPEG, PNG or GIF, as its key's extension says)"))
            .into()
    }
}

impl ToSchema for ImageBytes {}

/// A stored image
///
/// Serves an object of the local object store (receipt photos, avatars) to whoever holds a
/// valid, unexpired signed link, as handed out in `image_url` and `avatar` fields. With S3 storage
/// links point at S3 itself and this route answers 404. The key may contain `/`.
///
/// Errors: 2002/403 9001 9004
#[utoipa::path(get, path = "/files/{*key}", tag = "ops",
    params(("key" = String, Path, description = "The object key, e.g. `receipts/2026/11/<uuid>.jpg` (may contain `/`)"), Signed),
    responses((status = 200, description = "The image", content(
        (ImageBytes = "image/jpeg"),
        (ImageBytes = "image/png"),
        (ImageBytes = "image/gif"),
    ))))]
async fn signed_file(
    State(state): State<AppState>,
    key: Result<Path<String>, PathRejection>,
    q: Result<Query<Signed>, QueryRejection>,
) -> Response {
    let ObjectStore::Local(local) = &state.objects else {
        return ApiError::RouteNotFound.into_response();
    };
    // A link this server signed always parses; anything else is simply not a valid link (and
    // gets the envelope, not axum's plain-text 400).
    let (Ok(Path(key)), Ok(Query(Signed { expires: Some(expires), sig: Some(sig) }))) = (key, q) else {
        return ApiError::LinkInvalid.into_response();
    };
    let kind = key.rsplit_once('.').and_then(|(_, ext)| ImageKind::from_extension(ext));
    match (local.read_signed(&key, expires, &sig).await, kind) {
        (Ok(bytes), Some(kind)) => {
            ([(header::CONTENT_TYPE, kind.content_type()), (header::CACHE_CONTROL, "private, max-age=300")], bytes)
                .into_response()
        }
        _ => ApiError::LinkInvalid.into_response(),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
