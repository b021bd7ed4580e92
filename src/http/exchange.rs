//! `/api/exchange`: the points shop catalogue, redemptions and the customer's orders.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};

use super::envelope::{ok, Answer};
use super::error::{ApiError, Operation};
use super::extract::{idempotency_key, ApiJson, ApiQuery, AuthUser, IdInput};
use super::AppState;
use crate::actors::Failure;
use crate::actors::RedeemRequest;
use crate::domain::shop::{Product, ProductQuery};
use crate::domain::time::{iso, iso_opt};
use crate::store::shop::CommittedOrder;
use utoipa_axum::router::OpenApiRouter;

/// A sanity bound against overflow, far above any real order; stock and points decide the rest.
const MAX_QUANTITY: i64 = 1_000_000;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::from(
        Router::new()
            .route("/products", get(products))
            .route("/categories", get(categories))
            .route("/hot-products", get(hot_products))
            .route("/redeem", post(redeem))
            .route("/submit", post(redeem))
            .route("/orders", get(orders)),
    )
}

pub fn product_json(p: &Product) -> Value {
    json!({
        "id": p.id,
        "name": p.name,
        "description": p.description,
        "category": p.category,
        "exchange_points": p.exchange_points,
        "stock": p.stock,
        "image": p.image,
        "is_hot": p.is_hot,
        "rating": p.rating,
        "sales_count": p.sales_count,
        "sort_order": p.sort_order,
        "status": if !p.active { "delisted" } else if p.stock > 0 { "available" } else { "sold_out" },
        "created_at": iso(p.created_at),
    })
}

async fn products(State(state): State<AppState>, _user: AuthUser, q: ApiQuery) -> Answer<Value> {
    let page = q.page()?;
    let query = ProductQuery::parse(|k| q.get(k), page)?;
    let (rows, total) = state.store.list_products(&query).await?;
    Ok(ok(json!({ "products": rows.iter().map(product_json).collect::<Vec<_>>(), "pagination": page.of(total) })))
}

async fn categories(State(state): State<AppState>) -> Answer<Value> {
    let cats = state.store.categories().await?;
    Ok(ok(
        json!({ "categories": cats.iter().map(|(name, count)| json!({ "name": name, "count": count })).collect::<Vec<_>>() }),
    ))
}

async fn hot_products(State(state): State<AppState>, _user: AuthUser, q: ApiQuery) -> Answer<Value> {
    let limit = match q.get("limit") {
        None => 10,
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=50).contains(n))
            .ok_or_else(|| ApiError::bad("limit", "must be 1-50"))?,
    };
    let rows = state.store.hot_products(limit).await?;
    Ok(ok(json!({ "products": rows.iter().map(product_json).collect::<Vec<_>>() })))
}

#[derive(Deserialize)]
struct Redeem {
    product_id: Option<IdInput>,
    commodity_id: Option<IdInput>,
    quantity: Option<i64>,
    delivery_info: Option<Value>,
    request_id: Option<String>,
}

pub fn order_json(o: &CommittedOrder, replayed: bool) -> Value {
    json!({
        "order_id": o.order_id,
        "exchange_code": o.exchange_code,
        "product_id": o.product_id,
        "product_name": o.product_name,
        "quantity": o.quantity,
        "points_cost": o.points_cost,
        "remaining_points": o.balance_after,
        "status": o.status,
        "replayed": replayed,
    })
}

async fn redeem(
    State(state): State<AppState>,
    user: AuthUser,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Redeem>,
) -> Answer<Value> {
    let product_id = match (&body.product_id, &body.commodity_id) {
        (Some(id), _) => id.parse("product_id")?,
        (None, Some(id)) => id.parse("commodity_id")?,
        (None, None) => return Err(ApiError::bad("product_id", "is required")),
    };
    let quantity = body.quantity.unwrap_or(1);
    if !(1..=MAX_QUANTITY).contains(&quantity) {
        return Err(ApiError::bad("quantity", format!("must be 1-{MAX_QUANTITY}")));
    }
    let delivery_info = match &body.delivery_info {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(super::extract::clean_text("delivery_info", s, 0, 500)?),
        Some(v @ Value::Object(_)) => {
            let text = v.to_string();
            if text.chars().count() > 1000 {
                return Err(ApiError::bad("delivery_info", "must be at most 1000 characters"));
            }
            Some(text)
        }
        Some(_) => return Err(ApiError::bad("delivery_info", "must be an object or a string")),
    };
    let key = idempotency_key(&headers, body.request_id.as_deref())?;
    let outcome = state
        .wallets
        .redeem(user.user_id, RedeemRequest { product_id, quantity, delivery_info, idempotency_key: key })
        .await
        .map_err(|e| match e {
            Failure::Refused(refusal) => ApiError::Refused(refusal.for_redemption()),
            fault => ApiError::during(Operation::Redemption)(fault),
        })?;
    Ok(ok(order_json(&outcome.order, outcome.replayed)))
}

async fn orders(State(state): State<AppState>, user: AuthUser, q: ApiQuery) -> Answer<Value> {
    let page = q.page()?;
    let status = q.one_of("status", &["pending", "completed", "cancelled"])?;
    let (rows, total) = state.store.orders_page(user.user_id, status, page).await?;
    let orders: Vec<Value> = rows
        .iter()
        .map(|o| {
            json!({
                "order_id": o.id,
                "product_id": o.product_id,
                "product_name": o.product_name,
                "quantity": o.quantity,
                "points_cost": o.points_cost,
                "exchange_code": o.exchange_code,
                "status": o.status,
                "delivery_info": o.delivery_info.as_deref().map(|d| serde_json::from_str::<Value>(d).unwrap_or_else(|_| json!(d))),
                "created_at": iso(o.created_at),
                "verified_at": o.verified_at.and_then(iso_opt),
            })
        })
        .collect();
    Ok(ok(json!({ "orders": orders, "pagination": page.of(total) })))
}
