//! `/api/admin/products`: list (delisted ones too), create, edit, delist and restock. Changes go through the StockLedger,
//! which publishes `stock_update` after each commit; all are audited.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::envelope::{ok, Answer, Envelope, Timestamp};
use super::error::ApiError;
use super::extract::{AdminUser, ApiJson, ApiPath, ApiQuery};
use super::AppState;
use crate::domain::page::{Page, PageParams};
use crate::domain::shop::{Product, ProductInput};
use crate::domain::time::now_ms;
use crate::store::audit::AuditEntry;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list, create)).routes(routes!(update, delist)).routes(routes!(restock))
}

fn audit(admin: &AdminUser, action: &str, id: i64) -> AuditEntry {
    AuditEntry {
        actor_kind: "admin".into(),
        actor_id: admin.admin_id,
        actor_name: admin.username.clone(),
        action: action.to_string(),
        target_type: "product".into(),
        target_id: id.to_string(),
        before: None,
        after: None,
        at: now_ms(),
    }
}

/// Whether a product can be redeemed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum ShopProductStatus {
    Available,
    SoldOut,
    /// Taken off sale by an admin.
    Delisted,
}

/// A product of the points shop, as the catalogue lists it.
#[derive(Debug, Serialize, ToSchema)]
struct ShopProduct {
    id: i64,
    name: String,
    description: String,
    category: String,
    /// The price in points.
    exchange_points: i64,
    /// Units on sale.
    stock: i64,
    /// A URL or server path; empty for none.
    image: String,
    is_hot: bool,
    /// 0–5.
    rating: f64,
    sales_count: i64,
    sort_order: i64,
    status: ShopProductStatus,
    created_at: Timestamp,
}

impl ShopProduct {
    fn of(p: Product) -> ShopProduct {
        let status = if !p.active {
            ShopProductStatus::Delisted
        } else if p.stock > 0 {
            ShopProductStatus::Available
        } else {
            ShopProductStatus::SoldOut
        };
        ShopProduct {
            id: p.id,
            name: p.name,
            description: p.description,
            category: p.category,
            exchange_points: p.exchange_points,
            stock: p.stock,
            image: p.image,
            is_hot: p.is_hot,
            rating: p.rating,
            sales_count: p.sales_count,
            sort_order: p.sort_order,
            status,
            created_at: Timestamp(p.created_at),
        }
    }
}

/// One page of every product, delisted ones included.
#[derive(Debug, Serialize, ToSchema)]
struct ShopProducts {
    products: Vec<ShopProduct>,
    pagination: Page,
}

/// Every product (for the console)
///
/// Listed, sold-out and delisted products alike, by `sort_order` then id; the customer's
/// catalogue (`/api/exchange/products`) shows the listed ones only.
///
/// Errors: 1003 2004
#[utoipa::path(get, path = "/products", tag = "admin", security(("bearerAuth" = [])),
    params(PageParams),
    responses((status = 200, description = "One page of products", body = Envelope<ShopProducts>)))]
async fn list(State(state): State<AppState>, _admin: AdminUser, q: ApiQuery) -> Answer<ShopProducts> {
    let page = q.page()?;
    // A shop has tens of products: one read of them all, paged here, keeps the store untouched.
    let mut all = state.store.products_for_ledger().await?;
    all.sort_by_key(|p| (p.sort_order, p.id));
    let total = i64::try_from(all.len()).unwrap_or(i64::MAX);
    let skip = usize::try_from(page.offset()).unwrap_or(usize::MAX);
    let take = usize::try_from(page.limit).unwrap_or(0);
    let products = all.into_iter().skip(skip).take(take).map(ShopProduct::of).collect();
    Ok(ok(ShopProducts { products, pagination: page.of(total) }))
}

/// Add a product
///
/// `name`, `category`, `exchange_points` and `stock` are required.
///
/// Errors: 1003 1003/413 2004
#[utoipa::path(post, path = "/products", tag = "admin", security(("bearerAuth" = [])),
    request_body = ProductInput,
    responses((status = 200, description = "The new product", body = Envelope<ShopProduct>)))]
async fn create(
    State(state): State<AppState>,
    admin: AdminUser,
    ApiJson(body): ApiJson<ProductInput>,
) -> Answer<ShopProduct> {
    let patch = body.into_patch()?;
    patch.require_new()?;
    let mut entry = audit(&admin, "product.create", 0);
    entry.after = Some(json!({ "name": patch.name, "exchange_points": patch.exchange_points, "stock": patch.stock }));
    let product = state.stock.create(patch, entry).await?;
    Ok(ok(ShopProduct::of(product)))
}

/// Edit a product
///
/// Only the fields sent change; a changed stock is broadcast as `stock_update`.
///
/// Errors: 1003 1003/413 2004 4001
#[utoipa::path(put, path = "/products/{id}", tag = "admin", security(("bearerAuth" = [])),
    params(("id" = i64, Path, description = "The product")),
    request_body = ProductInput,
    responses((status = 200, description = "The product now", body = Envelope<ShopProduct>)))]
async fn update(
    State(state): State<AppState>,
    admin: AdminUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<ProductInput>,
) -> Answer<ShopProduct> {
    let patch = body.into_patch()?;
    if patch.is_empty() {
        return Err(ApiError::bad("body", "nothing to change"));
    }
    let product = state.stock.update(id, patch, audit(&admin, "product.update", id)).await?;
    Ok(ok(ShopProduct::of(product)))
}

/// Delist a product
///
/// Takes it off sale (`status: delisted`); orders already placed are kept.
///
/// Errors: 1003 2004 4001
#[utoipa::path(delete, path = "/products/{id}", tag = "admin", security(("bearerAuth" = [])),
    params(("id" = i64, Path, description = "The product")),
    responses((status = 200, description = "The delisted product", body = Envelope<ShopProduct>)))]
async fn delist(State(state): State<AppState>, admin: AdminUser, ApiPath(id): ApiPath<i64>) -> Answer<ShopProduct> {
    let product = state.stock.delist(id, audit(&admin, "product.delist", id)).await?;
    Ok(ok(ShopProduct::of(product)))
}

#[derive(Deserialize, ToSchema)]
struct Restock {
    /// Units to add, 1–1000000.
    quantity: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
struct Restocked {
    product_id: i64,
    /// Units on sale after the addition.
    stock: i64,
    /// The units added (the request's `quantity`).
    added: i64,
}

/// Restock a product
///
/// Adds units; customers get `stock_update` with `operation: restock`.
///
/// Errors: 1003 1003/413 2004 4001
#[utoipa::path(post, path = "/products/{id}/restock", tag = "admin", security(("bearerAuth" = [])),
    params(("id" = i64, Path, description = "The product")),
    request_body = Restock,
    responses((status = 200, description = "The new stock", body = Envelope<Restocked>)))]
async fn restock(
    State(state): State<AppState>,
    admin: AdminUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<Restock>,
) -> Answer<Restocked> {
    let quantity = body.quantity.ok_or_else(|| ApiError::bad("quantity", "is required"))?;
    if !(1..=1_000_000).contains(&quantity) {
        return Err(ApiError::bad("quantity", "must be 1-1000000"));
    }
    let stock = state.stock.restock(id, quantity, audit(&admin, "product.restock", id)).await?;
    Ok(ok(Restocked { product_id: id, stock, added: quantity }))
}
