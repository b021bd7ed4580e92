//! `/api/admin/products`: create, edit, delist and restock. Changes go through the StockLedger,
//! which publishes `stock_update` after each commit; all are audited.

use axum::extract::State;
use axum::routing::{post, put};
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};

use super::envelope::{ok, Answer};
use super::error::ApiError;
use super::exchange::product_json;
use super::extract::{AdminUser, ApiJson, ApiPath};
use super::AppState;
use crate::domain::shop::ProductInput;
use crate::domain::time::now_ms;
use crate::store::audit::AuditEntry;
use utoipa_axum::router::OpenApiRouter;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::from(
        Router::new()
            .route("/products", post(create))
            .route("/products/{id}", put(update).delete(delist))
            .route("/products/{id}/restock", post(restock)),
    )
}

fn audit(admin: &AdminUser, action: &str, id: i64) -> AuditEntry {
    AuditEntry {
        actor_kind: "admin",
        actor_id: admin.admin_id,
        actor_name: admin.username.clone(),
        action: action.to_string(),
        target_type: "product",
        target_id: id.to_string(),
        before: None,
        after: None,
        at: now_ms(),
    }
}

async fn create(
    State(state): State<AppState>,
    admin: AdminUser,
    ApiJson(body): ApiJson<ProductInput>,
) -> Answer<Value> {
    let patch = body.into_patch()?;
    patch.require_new()?;
    let mut entry = audit(&admin, "product.create", 0);
    entry.after = Some(json!({ "name": patch.name, "exchange_points": patch.exchange_points, "stock": patch.stock }));
    let product = state.stock.create(patch, entry).await?;
    Ok(ok(product_json(&product)))
}

async fn update(
    State(state): State<AppState>,
    admin: AdminUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<ProductInput>,
) -> Answer<Value> {
    let patch = body.into_patch()?;
    if patch.is_empty() {
        return Err(ApiError::bad("body", "nothing to change"));
    }
    let product = state.stock.update(id, patch, audit(&admin, "product.update", id)).await?;
    Ok(ok(product_json(&product)))
}

async fn delist(State(state): State<AppState>, admin: AdminUser, ApiPath(id): ApiPath<i64>) -> Answer<Value> {
    let product = state.stock.delist(id, audit(&admin, "product.delist", id)).await?;
    Ok(ok(product_json(&product)))
}

#[derive(Deserialize)]
struct Restock {
    quantity: Option<i64>,
}

async fn restock(
    State(state): State<AppState>,
    admin: AdminUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<Restock>,
) -> Answer<Value> {
    let quantity = body.quantity.ok_or_else(|| ApiError::bad("quantity", "is required"))?;
    if !(1..=1_000_000).contains(&quantity) {
        return Err(ApiError::bad("quantity", "must be 1-1000000"));
    }
    let stock = state.stock.restock(id, quantity, audit(&admin, "product.restock", id)).await?;
    Ok(ok(json!({ "product_id": id, "stock": stock, "added": quantity })))
}
