//! Operations endpoints: `/health` (checks the store) and `/metrics` (Prometheus text).

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use super::error::ApiError;
use super::AppState;
use crate::domain::image::ImageKind;
use crate::objects::ObjectStore;
use utoipa_axum::router::OpenApiRouter;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::from(
        Router::new()
            .route("/health", get(health))
            .route("/metrics", get(metrics_text))
            .route("/files/{*key}", get(signed_file)),
    )
}

async fn health(State(state): State<AppState>) -> Response {
    let store_ok =
        tokio::time::timeout(std::time::Duration::from_secs(3), state.store.ping()).await.is_ok_and(|r| r.is_ok());
    let objects_ok =
        tokio::time::timeout(std::time::Duration::from_secs(3), state.objects.healthy()).await.unwrap_or(false);
    let status = if store_ok { "ok" } else { "degraded" };
    let body = json!({
        "code": if store_ok { 0 } else { 1000 },
        "msg": if store_ok { "success" } else { "系统异常，请稍后重试" },
        "data": {
            "status": status,
            "checks": {
                "store": if store_ok { "ok" } else { "unreachable" },
                "object_storage": if objects_ok { "ok" } else { "unavailable" },
            },
            "uptime_s": state.started.elapsed().as_secs(),
            "version": env!("CARGO_PKG_VERSION"),
        },
    });
    let code = if store_ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, Json(body)).into_response()
}

async fn metrics_text(State(state): State<AppState>) -> Response {
    metrics::gauge!("wallet_actors_active").set(state.wallets.active() as f64);
    metrics::gauge!("wallet_actor_restarts_total").set(state.wallets.restarts() as f64);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render()).into_response()
}

#[derive(serde::Deserialize)]
struct Signed {
    expires: Option<i64>,
    sig: Option<String>,
}

/// Serves an object of the local store to whoever holds a valid, unexpired signed link.
async fn signed_file(
    State(state): State<AppState>,
    axum::extract::Path(key): axum::extract::Path<String>,
    axum::extract::Query(q): axum::extract::Query<Signed>,
) -> Response {
    let ObjectStore::Local(local) = &state.objects else {
        return ApiError::RouteNotFound.into_response();
    };
    let (Some(expires), Some(sig)) = (q.expires, q.sig) else {
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
