//! `/api/merchant`: applying for the role, and for merchants the receipt review queue (pending
//! list, single and batch decisions, statistics) and verifying codes at the counter.

use crate::domain::DomainError;
use axum::extract::State;
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};

use super::envelope::{ok, Answer};
use super::error::ApiError;
use super::extract::{clean_text, ApiJson, ApiPath, ApiQuery, AuthUser, MerchantUser};
use super::photo::{cents_json, upload_json};
use super::AppState;
use crate::actors::review_queue::{Decided, Decision, Verdict};
use crate::domain::money::{parse_cents, MAX_RECEIPT_CENTS, MIN_RECEIPT_CENTS};
use crate::domain::time::{iso, now_ms};
use crate::store::shop::Verification;
use utoipa_axum::router::OpenApiRouter;

const MAX_BATCH: usize = 50;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::from(
        Router::new()
            .route("/apply", post(apply))
            .route("/reviews/pending", get(pending))
            .route("/review", post(review))
            .route("/reviews/batch", post(batch))
            .route("/reviews/{upload_id}/approve", post(approve))
            .route("/reviews/{upload_id}/reject", post(reject))
            .route("/statistics", get(statistics))
            .route("/orders/verify", post(verify)),
    )
}

#[derive(Deserialize)]
struct Apply {
    shop_name: Option<String>,
    contact: Option<String>,
}

async fn apply(State(state): State<AppState>, user: AuthUser, ApiJson(body): ApiJson<Apply>) -> Answer<Value> {
    let shop = clean_text("shop_name", body.shop_name.as_deref().unwrap_or_default(), 1, 64)?;
    let contact = clean_text("contact", body.contact.as_deref().unwrap_or_default(), 1, 64)?;
    let app = state.store.apply_merchant(user.user_id, &shop, &contact, now_ms()).await?;
    Ok(ok(json!({
        "application_id": app.id,
        "shop_name": app.shop_name,
        "contact": app.contact,
        "status": app.status,
        "created_at": iso(app.created_at),
    })))
}

async fn pending(State(state): State<AppState>, _m: MerchantUser, q: ApiQuery) -> Answer<Value> {
    let page = q.page()?;
    let (rows, total) = state.store.uploads_page(None, Some("pending"), page).await?;
    let mut reviews = Vec::with_capacity(rows.len());
    for u in &rows {
        reviews.push(upload_json(&state.objects, u).await);
    }
    Ok(ok(json!({ "reviews": reviews, "pagination": page.of(total) })))
}

/// An amount as a JSON number (88.5) or text ("88.50").
#[derive(Deserialize, Clone)]
#[serde(untagged)]
enum Amount {
    Number(serde_json::Number),
    Text(String),
}

#[derive(Deserialize, Clone)]
struct ReviewBody {
    upload_id: Option<super::extract::IdInput>,
    action: Option<String>,
    actual_amount: Option<Amount>,
    reason: Option<String>,
}

/// Turns a review request into a decision; `upload_id` comes from the path or the body.
fn decision(
    merchant: &MerchantUser,
    upload_id: Option<i64>,
    body: &ReviewBody,
    action: Option<&str>,
) -> Result<Decision, ApiError> {
    let upload_id = match (upload_id, &body.upload_id) {
        (Some(id), _) => id,
        (None, Some(id)) => id.parse("upload_id")?,
        (None, None) => return Err(ApiError::bad("upload_id", "is required")),
    };
    let action = action.or(body.action.as_deref()).ok_or_else(|| ApiError::bad("action", "is required"))?;
    let reason = body.reason.as_deref().map(|r| clean_text("reason", r, 0, 200)).transpose()?.filter(|r| !r.is_empty());
    let verdict = match action {
        "approve" | "approved" => {
            let raw = match &body.actual_amount {
                None => return Err(ApiError::Refused(DomainError::ActualAmountRequired)),
                Some(Amount::Number(n)) => n.to_string(),
                Some(Amount::Text(t)) => t.clone(),
            };
            let cents = parse_cents(&raw)
                .filter(|c| (MIN_RECEIPT_CENTS..=MAX_RECEIPT_CENTS).contains(c))
                .ok_or(ApiError::Refused(DomainError::ActualAmountRequired))?;
            Verdict::Approve { actual_amount_cents: cents }
        }
        "reject" | "rejected" => Verdict::Reject,
        _ => return Err(ApiError::bad("action", "must be approve, approved, reject or rejected")),
    };
    Ok(Decision { upload_id, reviewer_id: merchant.user_id, verdict, reason })
}

fn decided_json(d: &Decided) -> Value {
    json!({
        "upload_id": d.upload_id,
        "user_id": d.user_id,
        "status": d.status,
        "points_awarded": d.points_awarded,
        "actual_amount": d.actual_amount_cents.map(cents_json),
        "review_reason": d.reason,
    })
}

async fn review(State(state): State<AppState>, m: MerchantUser, ApiJson(body): ApiJson<ReviewBody>) -> Answer<Value> {
    let d = decision(&m, None, &body, None)?;
    Ok(ok(decided_json(&state.reviews.decide(d).await?)))
}

async fn approve(
    State(state): State<AppState>,
    m: MerchantUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<ReviewBody>,
) -> Answer<Value> {
    let d = decision(&m, Some(id), &body, Some("approve"))?;
    Ok(ok(decided_json(&state.reviews.decide(d).await?)))
}

async fn reject(
    State(state): State<AppState>,
    m: MerchantUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<ReviewBody>,
) -> Answer<Value> {
    let d = decision(&m, Some(id), &body, Some("reject"))?;
    Ok(ok(decided_json(&state.reviews.decide(d).await?)))
}

#[derive(Deserialize)]
struct Batch {
    items: Option<Vec<ReviewBody>>,
}

/// Each item is decided on its own; one bad item does not stop the others.
async fn batch(State(state): State<AppState>, m: MerchantUser, ApiJson(body): ApiJson<Batch>) -> Answer<Value> {
    let items = body.items.ok_or_else(|| ApiError::bad("items", "is required"))?;
    if items.is_empty() || items.len() > MAX_BATCH {
        return Err(ApiError::bad("items", format!("must hold 1-{MAX_BATCH} reviews")));
    }
    let mut results = Vec::with_capacity(items.len());
    let mut succeeded = 0;
    for item in &items {
        let upload_id = item.upload_id.as_ref().and_then(|i| i.parse("upload_id").ok());
        let outcome = match decision(&m, None, item, None) {
            Ok(d) => state.reviews.decide(d).await.map_err(ApiError::from),
            Err(e) => Err(e),
        };
        results.push(match outcome {
            Ok(d) => {
                succeeded += 1;
                json!({ "upload_id": d.upload_id, "success": true, "code": 0, "msg": "success", "data": decided_json(&d) })
            }
            Err(e) => {
                let (code, msg, data) = e.public_parts();
                json!({ "upload_id": upload_id, "success": false, "code": code, "msg": msg, "data": data })
            }
        });
    }
    Ok(ok(
        json!({ "total": items.len(), "succeeded": succeeded, "failed": items.len() - succeeded, "results": results }),
    ))
}

async fn statistics(State(state): State<AppState>, _m: MerchantUser) -> Answer<Value> {
    let t = state.store.upload_totals(None).await?;
    let count = |s: &str| t.by_status.iter().find(|(k, _)| k == s).map(|(_, n)| *n).unwrap_or(0);
    let reviewers: Vec<Value> = state
        .store
        .reviewer_totals()
        .await?
        .iter()
        .map(|r| json!({ "reviewer_id": r.reviewer_id, "approved": r.approved, "rejected": r.rejected, "points_awarded": r.points_awarded }))
        .collect();
    Ok(ok(json!({
        "by_status": { "pending": count("pending"), "approved": count("approved"), "rejected": count("rejected") },
        "total_uploads": t.by_status.iter().map(|(_, n)| n).sum::<i64>(),
        "points_awarded": t.points_awarded,
        "reviewers": reviewers,
    })))
}

#[derive(Deserialize)]
struct Verify {
    exchange_code: Option<String>,
}

async fn verify(
    State(state): State<AppState>,
    merchant: MerchantUser,
    ApiJson(body): ApiJson<Verify>,
) -> Answer<Value> {
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
        Verification::AlreadyUsed { .. } => Err(ApiError::Refused(DomainError::AlreadyUsed)),
        Verification::Unknown => Err(ApiError::Refused(DomainError::OrderNotFound)),
    }
}
