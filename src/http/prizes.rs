//! `POST /api/lottery/claim`: a customer gives delivery details for a physical prize they won
//! (API.md "Prize lifecycle"). Coupons are honoured at the counter and need no claim.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::envelope::{ok, Answer, Envelope};
use super::error::ApiError;
use super::extract::{clean_text, ApiJson, AuthUser, IdInput};
use super::AppState;
use crate::domain::phone::Phone;
use crate::domain::time::now_ms;
use crate::domain::wheel::PrizeKind;
use crate::domain::DomainError;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(claim))
}

/// Where the prize goes.
#[derive(Deserialize, ToSchema)]
struct DeliveryInfo {
    /// 1–20 characters.
    name: Option<String>,
    /// A mainland mobile number.
    #[schema(example = "13800138000")]
    phone: Option<String>,
    /// 1–200 characters.
    address: Option<String>,
}

#[derive(Deserialize, ToSchema)]
struct Claim {
    draw_id: Option<IdInput>,
    delivery_info: Option<DeliveryInfo>,
}

#[derive(Debug, Serialize, ToSchema)]
struct PrizeClaimed {
    draw_id: i64,
    /// `claimed`.
    #[schema(example = "claimed")]
    status: String,
}

/// Claim a physical prize
///
/// Records the delivery details of the caller's unused physical prize, which becomes `claimed`
/// (the counter's verify later turns it `used`). Someone else's or an unknown draw is 4004; a
/// prize that is not physical or not unused is 1003 naming `draw_id`.
///
/// Errors: 1001 1003 1003/413 2005 4004
#[utoipa::path(post, path = "/claim", tag = "lottery", security(("bearerAuth" = [])),
    request_body = Claim,
    responses((status = 200, description = "The prize is claimed", body = Envelope<PrizeClaimed>)))]
async fn claim(State(state): State<AppState>, user: AuthUser, ApiJson(body): ApiJson<Claim>) -> Answer<PrizeClaimed> {
    let draw_id = body.draw_id.as_ref().ok_or_else(|| ApiError::bad("draw_id", "is required"))?.parse("draw_id")?;
    let info = body.delivery_info.ok_or_else(|| ApiError::bad("delivery_info", "is required"))?;
    let name = clean_text("delivery_info.name", info.name.as_deref().unwrap_or_default(), 1, 20)?;
    let address = clean_text("delivery_info.address", info.address.as_deref().unwrap_or_default(), 1, 200)?;
    let phone = Phone::parse(info.phone.as_deref().unwrap_or_default()).ok_or(DomainError::BadPhone)?;
    let delivery = json!({ "name": name, "phone": phone.as_str(), "address": address }).to_string();
    let found = state.store.claim_prize(user.user_id, draw_id, &delivery, now_ms()).await?;
    let Some((kind, status, _)) = found else {
        return Err(DomainError::OrderNotFound.into());
    };
    if kind != PrizeKind::Physical.as_str() {
        return Err(ApiError::bad("draw_id", "only a physical prize is claimed"));
    }
    if status.as_deref() != Some("unused") {
        return Err(ApiError::bad("draw_id", "this prize is not unused"));
    }
    Ok(ok(PrizeClaimed { draw_id, status: "claimed".into() }))
}
