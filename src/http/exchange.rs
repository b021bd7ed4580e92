//! `/api/exchange`: the points shop catalogue, redemptions and the customer's orders.

use axum::extract::State;
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::envelope::{ok, Answer, Envelope, Timestamp};
use super::error::{ApiError, Operation};
use super::extract::{clean_text, idempotency_key, ApiJson, ApiQuery, AuthUser, IdInput};
use super::AppState;
use crate::actors::Failure;
use crate::actors::RedeemRequest;
use crate::domain::page::{Page, PageParams};
use crate::domain::shop::{Product, ProductQuery, ProductStatus};
use crate::store::shop::{CommittedOrder, OrderRow};

/// A sanity bound against overflow, far above any real order; stock and points decide the rest.
const MAX_QUANTITY: i64 = 1_000_000;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(products))
        .routes(routes!(categories))
        .routes(routes!(hot_products))
        .routes(routes!(redeem))
        .routes(routes!(submit))
        .routes(routes!(orders))
}

/// A product of the points shop.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProductInfo {
    pub id: i64,
    #[schema(example = "珍珠奶茶")]
    pub name: String,
    pub description: String,
    #[schema(example = "饮品")]
    pub category: String,
    /// The price in points, per unit.
    #[schema(example = 400)]
    pub exchange_points: i64,
    /// Units left.
    pub stock: i64,
    /// An image URL or server path; may be empty.
    pub image: String,
    pub is_hot: bool,
    /// 0–5.
    #[schema(example = 4.8)]
    pub rating: f64,
    /// Units redeemed so far.
    pub sales_count: i64,
    /// The catalogue's default order, ascending.
    pub sort_order: i64,
    pub status: ProductStatus,
    pub created_at: Timestamp,
}

impl ProductInfo {
    pub fn of(p: &Product) -> ProductInfo {
        ProductInfo {
            id: p.id,
            name: p.name.clone(),
            description: p.description.clone(),
            category: p.category.clone(),
            exchange_points: p.exchange_points,
            stock: p.stock,
            image: p.image.clone(),
            is_hot: p.is_hot,
            rating: p.rating,
            sales_count: p.sales_count,
            sort_order: p.sort_order,
            status: p.status(),
            created_at: Timestamp(p.created_at),
        }
    }
}

/// [`ProductInfo`] as a JSON value, for the admin area's answers that are still built by hand.
pub fn product_json(p: &Product) -> Value {
    serde_json::to_value(ProductInfo::of(p)).unwrap_or(Value::Null)
}

#[derive(Debug, Serialize, ToSchema)]
struct Catalogue {
    products: Vec<ProductInfo>,
    pagination: Page,
}

/// The catalogue
///
/// Products on sale, filtered and sorted. `sort_order` defaults to ASC for `sort_order` and
/// `exchange_points` (cheapest first) and to DESC for `sales_count` and `created_at`.
///
/// Errors: 1003 2005
#[utoipa::path(get, path = "/products", tag = "exchange", security(("bearerAuth" = [])),
    params(
        ("category" = Option<String>, Query, description = "One category; empty or 全部 means every one"),
        ("min_points" = Option<i64>, Query, description = "At least this price (≥ 0)"),
        ("max_points" = Option<i64>, Query, description = "At most this price (≥ min_points)"),
        ("stock_status" = Option<String>, Query, description = "in_stock or out_of_stock"),
        ("sort_by" = Option<String>, Query, description = "sort_order (default), exchange_points, sales_count or created_at"),
        ("sort_order" = Option<String>, Query, description = "ASC or DESC"),
        PageParams,
    ),
    responses((status = 200, description = "One page of products", body = Envelope<Catalogue>)))]
async fn products(State(state): State<AppState>, _user: AuthUser, q: ApiQuery) -> Answer<Catalogue> {
    let page = q.page()?;
    let query = ProductQuery::parse(|k| q.get(k), page)?;
    let (rows, total) = state.store.list_products(&query).await?;
    Ok(ok(Catalogue { products: rows.iter().map(ProductInfo::of).collect(), pagination: page.of(total) }))
}

#[derive(Debug, Serialize, ToSchema)]
struct Category {
    #[schema(example = "饮品")]
    name: String,
    /// Products on sale in it.
    count: i64,
}

#[derive(Debug, Serialize, ToSchema)]
struct Categories {
    categories: Vec<Category>,
}

/// The shop's categories
///
/// Every category with products on sale, by name. Needs no token.
#[utoipa::path(get, path = "/categories", tag = "exchange",
    responses((status = 200, description = "The categories", body = Envelope<Categories>)))]
async fn categories(State(state): State<AppState>) -> Answer<Categories> {
    let cats = state.store.categories().await?;
    Ok(ok(Categories { categories: cats.into_iter().map(|(name, count)| Category { name, count }).collect() }))
}

#[derive(Debug, Serialize, ToSchema)]
struct HotProducts {
    products: Vec<ProductInfo>,
}

/// Hot products
///
/// Products on sale, hot ones first, then by sales.
///
/// Errors: 1003 2005
#[utoipa::path(get, path = "/hot-products", tag = "exchange", security(("bearerAuth" = [])),
    params(("limit" = Option<i64>, Query, description = "1–50, default 10")),
    responses((status = 200, description = "The products", body = Envelope<HotProducts>)))]
async fn hot_products(State(state): State<AppState>, _user: AuthUser, q: ApiQuery) -> Answer<HotProducts> {
    let limit = match q.get("limit") {
        None => 10,
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=50).contains(n))
            .ok_or_else(|| ApiError::bad("limit", "must be 1-50"))?,
    };
    let rows = state.store.hot_products(limit).await?;
    Ok(ok(HotProducts { products: rows.iter().map(ProductInfo::of).collect() }))
}

/// What to redeem: `product_id` (or its other name, `commodity_id`) and how many.
#[derive(Deserialize, ToSchema)]
struct Redeem {
    product_id: Option<IdInput>,
    /// The same as `product_id`.
    commodity_id: Option<IdInput>,
    /// 1 or more; default 1.
    #[schema(example = 1)]
    quantity: Option<i64>,
    /// Where to deliver: an object (at most 1000 characters as JSON) or text (at most 500).
    delivery_info: Option<Value>,
    /// An idempotency key, when the `Idempotency-Key` header cannot be set (the header wins).
    request_id: Option<String>,
}

/// A shop order's status: pending until a merchant verifies its code at the counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    Pending,
    Completed,
    Cancelled,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 3] = [OrderStatus::Pending, OrderStatus::Completed, OrderStatus::Cancelled];

    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Pending => "pending",
            OrderStatus::Completed => "completed",
            OrderStatus::Cancelled => "cancelled",
        }
    }
}

/// A committed redemption: points and stock changed together.
#[derive(Debug, Serialize, ToSchema)]
pub struct RedeemedOrder {
    pub order_id: i64,
    /// The code a merchant verifies at the counter.
    pub exchange_code: String,
    pub product_id: i64,
    pub product_name: String,
    pub quantity: i64,
    /// Points debited: price × quantity.
    pub points_cost: i64,
    /// The balance after the order.
    pub remaining_points: i64,
    #[schema(value_type = OrderStatus, example = "pending")]
    pub status: String,
    /// True when this answers a repeated idempotency key: nothing was redeemed again.
    pub replayed: bool,
}

impl RedeemedOrder {
    pub fn of(o: &CommittedOrder, replayed: bool) -> RedeemedOrder {
        RedeemedOrder {
            order_id: o.order_id,
            exchange_code: o.exchange_code.clone(),
            product_id: o.product_id,
            product_name: o.product_name.clone(),
            quantity: o.quantity,
            points_cost: o.points_cost,
            remaining_points: o.balance_after,
            status: o.status.clone(),
            replayed,
        }
    }
}

/// Redeem a product
///
/// Spends points on a product; points and stock change together or not at all. With an
/// idempotency key (header or `request_id`), a repeat answers the first order with
/// `replayed: true`. `/submit` is the same operation under its other name.
///
/// Errors: 1003 1003/413 2005 4000 4001 4002 4003
#[utoipa::path(post, path = "/redeem", tag = "exchange", security(("bearerAuth" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "1–128 visible ASCII characters; a repeat answers the first result")),
    request_body = Redeem,
    responses((status = 200, description = "The committed order", body = Envelope<RedeemedOrder>)))]
async fn redeem(
    State(state): State<AppState>,
    user: AuthUser,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Redeem>,
) -> Answer<RedeemedOrder> {
    place_order(&state, &user, &headers, body).await
}

/// Redeem a product (`/redeem` under its other name)
///
/// The same operation as `/redeem`, for clients that submit an exchange.
///
/// Errors: 1003 1003/413 2005 4000 4001 4002 4003
#[utoipa::path(post, path = "/submit", tag = "exchange", security(("bearerAuth" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "1–128 visible ASCII characters; a repeat answers the first result")),
    request_body = Redeem,
    responses((status = 200, description = "The committed order", body = Envelope<RedeemedOrder>)))]
async fn submit(
    State(state): State<AppState>,
    user: AuthUser,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Redeem>,
) -> Answer<RedeemedOrder> {
    place_order(&state, &user, &headers, body).await
}

async fn place_order(state: &AppState, user: &AuthUser, headers: &HeaderMap, body: Redeem) -> Answer<RedeemedOrder> {
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
        Some(Value::String(s)) => Some(clean_text("delivery_info", s, 0, 500)?),
        Some(v @ Value::Object(_)) => {
            let text = v.to_string();
            if text.chars().count() > 1000 {
                return Err(ApiError::bad("delivery_info", "must be at most 1000 characters"));
            }
            Some(text)
        }
        Some(_) => return Err(ApiError::bad("delivery_info", "must be an object or a string")),
    };
    let key = idempotency_key(headers, body.request_id.as_deref())?;
    let outcome = state
        .wallets
        .redeem(user.user_id, RedeemRequest { product_id, quantity, delivery_info, idempotency_key: key })
        .await
        .map_err(|e| match e {
            Failure::Refused(refusal) => ApiError::Refused(refusal.for_redemption()),
            fault => ApiError::during(Operation::Redemption)(fault),
        })?;
    Ok(ok(RedeemedOrder::of(&outcome.order, outcome.replayed)))
}

/// One of the customer's orders.
#[derive(Debug, Serialize, ToSchema)]
struct OrderInfo {
    order_id: i64,
    product_id: i64,
    product_name: String,
    quantity: i64,
    points_cost: i64,
    exchange_code: String,
    #[schema(value_type = OrderStatus, example = "pending")]
    status: String,
    /// As sent when redeeming: an object, or text; null when none was given.
    delivery_info: Option<Value>,
    created_at: Timestamp,
    /// When a merchant verified the code; null until then.
    verified_at: Option<Timestamp>,
}

impl OrderInfo {
    fn of(o: OrderRow) -> OrderInfo {
        // Stored as the JSON text of an object, or as the plain text the customer sent.
        let delivery_info = o.delivery_info.map(|d| serde_json::from_str::<Value>(&d).unwrap_or(Value::String(d)));
        OrderInfo {
            order_id: o.id,
            product_id: o.product_id,
            product_name: o.product_name,
            quantity: o.quantity,
            points_cost: o.points_cost,
            exchange_code: o.exchange_code,
            status: o.status,
            delivery_info,
            created_at: Timestamp(o.created_at),
            verified_at: o.verified_at.and_then(Timestamp::opt),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
struct Orders {
    orders: Vec<OrderInfo>,
    pagination: Page,
}

/// The customer's orders
///
/// Newest first; `status` narrows to one status.
///
/// Errors: 1003 2005
#[utoipa::path(get, path = "/orders", tag = "exchange", security(("bearerAuth" = [])),
    params(("status" = Option<OrderStatus>, Query, description = "pending, completed or cancelled"), PageParams),
    responses((status = 200, description = "One page of orders", body = Envelope<Orders>)))]
async fn orders(State(state): State<AppState>, user: AuthUser, q: ApiQuery) -> Answer<Orders> {
    let page = q.page()?;
    let status = q.one_of("status", &OrderStatus::ALL.map(OrderStatus::as_str))?;
    let (rows, total) = state.store.orders_page(user.user_id, status, page).await?;
    Ok(ok(Orders { orders: rows.into_iter().map(OrderInfo::of).collect(), pagination: page.of(total) }))
}
