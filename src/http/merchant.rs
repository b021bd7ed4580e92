//! `/api/merchant` (merchant role): verifying exchange codes and prize redemption codes at the
//! counter. (Receipt reviews join this module with the review queue.)

use axum::extract::State;
use axum::routing::post;
use axum::Router;
use serde::Deserialize;
use serde_json::json;

use super::error::{ok, ApiError, ApiResult};
use super::extract::{ApiJson, MerchantUser};
use super::AppState;
use crate::domain::time::{iso, now_ms};
use crate::store::shop::Verification;

pub fn router() -> Router<AppState> {
    Router::new().route("/orders/verify", post(verify))
}

#[derive(Deserialize)]
struct Verify {
    exchange_code: Option<String>,
}

async fn verify(State(state): State<AppState>, merchant: MerchantUser, ApiJson(body): ApiJson<Verify>) -> ApiResult {
    let code = body.exchange_code.map(|c| c.trim().to_ascii_uppercase()).unwrap_or_default();
    if code.is_empty() || code.len() > 16 || !code.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(ApiError::bad("exchange_code", "must be the 10-character code shown to the customer"));
    }
    let now = now_ms();
    match state.store.verify_code(&code, merchant.user_id, now).await? {
        Verification::Order { order_id, user_id, product_name, quantity } => Ok(ok(json!({
            "type": "order",
            "order_id": order_id,
            "user_id": user_id,
            "product_name": product_name,
            "quantity": quantity,
            "status": "completed",
            "verified_at": iso(now),
        }))),
        Verification::Prize { draw_id, user_id, prize_name } => Ok(ok(json!({
            "type": "prize",
            "draw_id": draw_id,
            "user_id": user_id,
            "prize_name": prize_name,
            "status": "used",
            "verified_at": iso(now),
        }))),
        Verification::AlreadyUsed { .. } => Err(ApiError::AlreadyUsed),
        Verification::Unknown => Err(ApiError::OrderNotFound),
    }
}
