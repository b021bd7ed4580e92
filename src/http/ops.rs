//! Operations endpoints: `/health` (checks the store and object storage), `/metrics`
//! (Prometheus text) and `/files/…` (objects of the local store, behind signed links).

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
use super::AppState;
use crate::domain::image::ImageKind;
use crate::objects::ObjectStore;

/// How long `/health` waits for each dependency.
const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(health)).routes(routes!(metrics_text)).routes(routes!(signed_file))
}

/// The server as a whole.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum HealthStatus {
    Ok,
    /// The store is unreachable (the answer is then 503).
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

#[derive(Debug, Serialize, ToSchema)]
struct Health {
    status: HealthStatus,
    checks: HealthChecks,
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
/// 200 while the store answers; 503 (code 1000, with the same `data`) when it does not. Object
/// storage is reported but does not decide the status.
#[utoipa::path(get, path = "/health", tag = "ops",
    responses(
        (status = 200, description = "The store answers", body = Envelope<Health>),
        (status = 503, description = "The store is unreachable", body = Degraded),
    ))]
async fn health(State(state): State<AppState>) -> Response {
    let store_ok = tokio::time::timeout(CHECK_TIMEOUT, state.store.ping()).await.is_ok_and(|r| r.is_ok());
    let objects_ok = tokio::time::timeout(CHECK_TIMEOUT, state.objects.healthy()).await.unwrap_or(false);
    let health = Health {
        status: if store_ok { HealthStatus::Ok } else { HealthStatus::Degraded },
        checks: HealthChecks {
            store: if store_ok { StoreCheck::Ok } else { StoreCheck::Unreachable },
            object_storage: if objects_ok { ObjectStorageCheck::Ok } else { ObjectStorageCheck::Unavailable },
        },
        uptime_s: state.started.elapsed().as_secs(),
        version: env!("CARGO_PKG_VERSION"),
    };
    if store_ok {
        ok(health).into_response()
    } else {
        let body = Degraded { code: 1000, msg: "系统异常，请稍后重试", data: health };
        (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
    }
}

/// Prometheus metrics
///
/// The text exposition format: requests by route and status, latency, wallet actors.
#[utoipa::path(get, path = "/metrics", tag = "ops",
    responses((status = 200, description = "Prometheus text format", body = String,
        content_type = "text/plain; version=0.0.4")))]
async fn metrics_text(State(state): State<AppState>) -> Response {
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
/// Errors: 2002/403 9004
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
