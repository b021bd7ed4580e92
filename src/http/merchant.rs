//! `/api/merchant`: applying for the role, and for merchants the receipt review queue (pending
//! list, single and batch decisions, statistics) and verifying codes at the counter.
//!
//! Decisions go through the ReviewQueue actor, which owns a receipt's review. Two writes go to
//! the store directly, on purpose:
//! - Verifying a code marks an exchange order `completed` or a won prize `used`. No actor holds
//!   that state (orders and prizes are rows, not in memory), and the store does it in one
//!   transaction with a guarded `UPDATE … WHERE status = 'pending'` (`'unused'` for prizes), so
//!   of two merchants scanning the same code at once exactly one succeeds and the other gets 4005.
//! - An application for the role is one row that only admins read; the store inserts it unless
//!   the customer already has one pending (then that one is answered again). Deciding it is the
//!   admin area's business.
//!
//! Longer than most files: each of the area's eight operations carries its OpenAPI
//! documentation and typed answers beside the handler, which is what keeps the document honest.

use std::str::FromStr;

use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::envelope::{ok, Answer, Envelope, Timestamp};
use super::error::{ApiError, Operation};
use super::extract::{clean_text, ApiJson, ApiPath, ApiQuery, AuthUser, IdInput, MerchantUser};
use super::photo::IMAGE_URL_TTL;
use super::AppState;
use crate::actors::review_queue::{Decided, Decision, Verdict};
use crate::domain::money::{parse_cents, MAX_RECEIPT_CENTS, MIN_RECEIPT_CENTS};
use crate::domain::page::{Page, PageParams};
use crate::domain::review::ReviewStatus;
use crate::domain::time::now_ms;
use crate::domain::DomainError;
use crate::objects::ObjectStore;
use crate::store::reviews::ReceiptRow;
use crate::store::shop::Verification;

const MAX_BATCH: usize = 50;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(apply))
        .routes(routes!(pending))
        .routes(routes!(review))
        .routes(routes!(batch))
        .routes(routes!(approve))
        .routes(routes!(reject))
        .routes(routes!(statistics))
        .routes(routes!(verify))
}

/// Where an application for the merchant role is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApplicationStatus {
    Pending,
    Approved,
    Rejected,
}

impl FromStr for ApplicationStatus {
    type Err = ApiError;
    fn from_str(s: &str) -> Result<Self, ApiError> {
        match s {
            "pending" => Ok(ApplicationStatus::Pending),
            "approved" => Ok(ApplicationStatus::Approved),
            "rejected" => Ok(ApplicationStatus::Rejected),
            other => Err(unknown_status("merchant application", other)),
        }
    }
}

/// A status the store holds that this server never writes: the data is damaged, not the request.
fn unknown_status(what: &str, status: &str) -> ApiError {
    ApiError::Internal {
        during: Operation::Request,
        context: format!("unknown {what} status {status:?} in the store"),
        source: None,
    }
}

/// Yuan as a JSON number (88.5), from the store's cents.
fn yuan(cents: i64) -> f64 {
    cents as f64 / 100.0
}

#[derive(Deserialize, ToSchema)]
struct Apply {
    /// 1–64 characters.
    #[schema(example = "老王面馆 人民路店")]
    shop_name: Option<String>,
    /// A phone number or other way to reach the applicant; 1–64 characters.
    contact: Option<String>,
}

/// The application as it now stands.
#[derive(Debug, Serialize, ToSchema)]
struct ApplicationReceived {
    application_id: i64,
    shop_name: String,
    contact: String,
    /// `pending` (an application already pending is answered again rather than duplicated).
    status: ApplicationStatus,
    created_at: Timestamp,
}

/// Apply for the merchant role
///
/// Any signed-in customer may apply; an admin approves or rejects. While one application is
/// pending, applying again answers that one.
///
/// Errors: 1003 1003/413 2005
#[utoipa::path(post, path = "/apply", tag = "merchant", security(("bearerAuth" = [])),
    request_body = Apply,
    responses((status = 200, description = "The pending application", body = Envelope<ApplicationReceived>)))]
async fn apply(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(body): ApiJson<Apply>,
) -> Answer<ApplicationReceived> {
    let shop = clean_text("shop_name", body.shop_name.as_deref().unwrap_or_default(), 1, 64)?;
    let contact = clean_text("contact", body.contact.as_deref().unwrap_or_default(), 1, 64)?;
    let app = state.store.apply_merchant(user.user_id, &shop, &contact, now_ms()).await?;
    Ok(ok(ApplicationReceived {
        application_id: app.id,
        status: app.status.parse()?,
        shop_name: app.shop_name,
        contact: app.contact,
        created_at: Timestamp(app.created_at),
    }))
}

/// A receipt upload as a merchant reviews it.
#[derive(Debug, Serialize, ToSchema)]
struct ReceiptUpload {
    upload_id: i64,
    /// The customer who uploaded it.
    user_id: i64,
    /// What the customer claimed, in yuan.
    #[schema(example = 88.5)]
    amount: f64,
    status: ReviewStatus,
    /// What the reviewer confirmed, in yuan; null until approved.
    actual_amount: Option<f64>,
    /// Null until reviewed; 0 when rejected.
    points_awarded: Option<i64>,
    review_reason: Option<String>,
    reviewer_id: Option<i64>,
    /// A signed link to the photo that works for an hour; empty if it could not be signed.
    image_url: String,
    created_at: Timestamp,
    reviewed_at: Option<Timestamp>,
}

impl ReceiptUpload {
    async fn of(objects: &ObjectStore, u: &ReceiptRow) -> Result<ReceiptUpload, ApiError> {
        Ok(ReceiptUpload {
            upload_id: u.id,
            user_id: u.user_id,
            amount: yuan(u.amount_cents),
            status: u.status.parse().map_err(|_| unknown_status("receipt", &u.status))?,
            actual_amount: u.actual_amount_cents.map(yuan),
            points_awarded: u.points_awarded,
            review_reason: u.review_reason.clone(),
            reviewer_id: u.reviewer_id,
            image_url: objects.signed_url(&u.object_key, IMAGE_URL_TTL).await.unwrap_or_default(),
            created_at: Timestamp(u.created_at),
            reviewed_at: u.reviewed_at.and_then(Timestamp::opt),
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
struct PendingReviews {
    reviews: Vec<ReceiptUpload>,
    pagination: Page,
}

/// The receipts waiting for review
///
/// Oldest first, each with a signed, time-limited image link.
///
/// Errors: 1003 2003 2005
#[utoipa::path(get, path = "/reviews/pending", tag = "merchant", security(("bearerAuth" = [])),
    params(PageParams),
    responses((status = 200, description = "One page of pending receipts", body = Envelope<PendingReviews>)))]
async fn pending(State(state): State<AppState>, _m: MerchantUser, q: ApiQuery) -> Answer<PendingReviews> {
    let page = q.page()?;
    let (rows, total) = state.store.uploads_page(None, Some("pending"), page).await?;
    let mut reviews = Vec::with_capacity(rows.len());
    for u in &rows {
        reviews.push(ReceiptUpload::of(&state.objects, u).await?);
    }
    Ok(ok(PendingReviews { reviews, pagination: page.of(total) }))
}

/// An amount as a JSON number (88.5) or text ("88.50").
#[derive(Deserialize, Clone, ToSchema)]
#[serde(untagged)]
enum Amount {
    #[schema(value_type = f64)]
    Number(serde_json::Number),
    Text(String),
}

/// One decision on a receipt.
#[derive(Deserialize, Clone, ToSchema)]
struct ReviewBody {
    /// Required here; the `/reviews/{upload_id}/…` routes take it from the path instead.
    upload_id: Option<IdInput>,
    /// `approve`, `approved`, `reject` or `rejected` (the per-upload routes imply it).
    #[schema(example = "approve")]
    action: Option<String>,
    /// Yuan, 0.01–10000; required to approve. Points = clamp(floor(amount × 10), 50, 2000).
    actual_amount: Option<Amount>,
    /// Up to 200 characters, shown to the customer.
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

/// A receipt just decided.
#[derive(Debug, Serialize, ToSchema)]
struct ReviewDecision {
    upload_id: i64,
    user_id: i64,
    /// `approved` or `rejected`.
    status: ReviewStatus,
    /// Credited to the customer; 0 when rejected.
    points_awarded: i64,
    /// The confirmed amount in yuan; null when rejected.
    actual_amount: Option<f64>,
    review_reason: Option<String>,
}

impl ReviewDecision {
    fn of(d: Decided) -> Result<ReviewDecision, ApiError> {
        Ok(ReviewDecision {
            upload_id: d.upload_id,
            user_id: d.user_id,
            status: d.status,
            points_awarded: d.points_awarded,
            actual_amount: d.actual_amount_cents.map(yuan),
            review_reason: d.reason,
        })
    }
}

/// The ReviewQueue decides; its faults answer the review's own code (6000).
async fn decide(state: &AppState, d: Decision) -> Result<ReviewDecision, ApiError> {
    ReviewDecision::of(state.reviews.decide(d).await.map_err(ApiError::during(Operation::Review))?)
}

/// Approve or reject a receipt
///
/// The first decision wins; later ones get 6004 with the status found. A merchant never decides
/// a receipt they uploaded themselves (6005). An approval credits the points in the same
/// transaction and the customer gets `review_result` on the WebSocket. Every decision is in the
/// audit log.
///
/// Errors: 1003 1003/413 2003 2005 6000 6001 6002 6004 6005
#[utoipa::path(post, path = "/review", tag = "merchant", security(("bearerAuth" = [])),
    request_body = ReviewBody,
    responses((status = 200, description = "The decision", body = Envelope<ReviewDecision>)))]
async fn review(
    State(state): State<AppState>,
    m: MerchantUser,
    ApiJson(body): ApiJson<ReviewBody>,
) -> Answer<ReviewDecision> {
    let d = decision(&m, None, &body, None)?;
    Ok(ok(decide(&state, d).await?))
}

/// Approve a receipt
///
/// As `POST /review` with `action: approve`; the body needs `actual_amount`.
///
/// Errors: 1003 1003/413 2003 2005 6000 6001 6002 6004 6005
#[utoipa::path(post, path = "/reviews/{upload_id}/approve", tag = "merchant", security(("bearerAuth" = [])),
    params(("upload_id" = i64, Path, description = "The receipt upload")),
    request_body = ReviewBody,
    responses((status = 200, description = "The decision", body = Envelope<ReviewDecision>)))]
async fn approve(
    State(state): State<AppState>,
    m: MerchantUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<ReviewBody>,
) -> Answer<ReviewDecision> {
    let d = decision(&m, Some(id), &body, Some("approve"))?;
    Ok(ok(decide(&state, d).await?))
}

/// Reject a receipt
///
/// As `POST /review` with `action: reject`; `reason` is optional.
///
/// Errors: 1003 1003/413 2003 2005 6000 6001 6004 6005
#[utoipa::path(post, path = "/reviews/{upload_id}/reject", tag = "merchant", security(("bearerAuth" = [])),
    params(("upload_id" = i64, Path, description = "The receipt upload")),
    request_body = ReviewBody,
    responses((status = 200, description = "The decision", body = Envelope<ReviewDecision>)))]
async fn reject(
    State(state): State<AppState>,
    m: MerchantUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<ReviewBody>,
) -> Answer<ReviewDecision> {
    let d = decision(&m, Some(id), &body, Some("reject"))?;
    Ok(ok(decide(&state, d).await?))
}

#[derive(Deserialize, ToSchema)]
struct Batch {
    /// 1–50 decisions, each as `POST /review` takes it.
    items: Option<Vec<ReviewBody>>,
}

/// The `ErrorCode` schema (added to the document by `docs::finish`).
fn error_code() -> utoipa::openapi::Ref {
    utoipa::openapi::Ref::from_schema_name("ErrorCode")
}

/// One item's outcome: the envelope a single `POST /review` would have answered, beside the
/// item's `upload_id` and `success`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
enum BatchItem {
    Decided {
        upload_id: i64,
        /// Always true here.
        success: bool,
        /// Always 0 here.
        code: u32,
        #[schema(value_type = String, example = "success")]
        msg: &'static str,
        data: ReviewDecision,
    },
    Refused {
        /// Null when the item's `upload_id` was missing or not an id.
        upload_id: Option<i64>,
        /// Always false here.
        success: bool,
        #[schema(schema_with = error_code)]
        code: u32,
        msg: String,
        /// Null unless the code carries details (6004: `{current_status}`).
        #[schema(value_type = Option<Object>)]
        data: Value,
    },
}

#[derive(Debug, Serialize, ToSchema)]
struct BatchOutcome {
    total: usize,
    succeeded: usize,
    failed: usize,
    /// In the order of `items`.
    results: Vec<BatchItem>,
}

/// Decide several receipts
///
/// Each item is decided on its own, in order; one refused item does not stop the others, and
/// its refusal is in its result (the request itself still succeeds): a merchant's own receipt,
/// for one, is refused in its item with 6005.
///
/// Errors: 1003 1003/413 2003 2005
#[utoipa::path(post, path = "/reviews/batch", tag = "merchant", security(("bearerAuth" = [])),
    request_body = Batch,
    responses((status = 200, description = "One result per item", body = Envelope<BatchOutcome>)))]
async fn batch(State(state): State<AppState>, m: MerchantUser, ApiJson(body): ApiJson<Batch>) -> Answer<BatchOutcome> {
    let items = body.items.ok_or_else(|| ApiError::bad("items", "is required"))?;
    if items.is_empty() || items.len() > MAX_BATCH {
        return Err(ApiError::bad("items", format!("must hold 1-{MAX_BATCH} reviews")));
    }
    let mut results = Vec::with_capacity(items.len());
    let mut succeeded = 0;
    for item in &items {
        let upload_id = item.upload_id.as_ref().and_then(|i| i.parse("upload_id").ok());
        let outcome = match decision(&m, None, item, None) {
            Ok(d) => decide(&state, d).await,
            Err(e) => Err(e),
        };
        results.push(match outcome {
            Ok(d) => {
                succeeded += 1;
                BatchItem::Decided { upload_id: d.upload_id, success: true, code: 0, msg: "success", data: d }
            }
            Err(e) => {
                let (code, msg, data) = e.public_parts();
                BatchItem::Refused { upload_id, success: false, code, msg, data }
            }
        });
    }
    Ok(ok(BatchOutcome { total: items.len(), succeeded, failed: items.len() - succeeded, results }))
}

/// Receipts by status, across all customers.
#[derive(Debug, Serialize, ToSchema)]
struct ReceiptCounts {
    pending: i64,
    approved: i64,
    rejected: i64,
}

/// One reviewer's decisions.
#[derive(Debug, Serialize, ToSchema)]
struct ReviewerTotal {
    /// The merchant's user id.
    reviewer_id: i64,
    approved: i64,
    rejected: i64,
    points_awarded: i64,
}

#[derive(Debug, Serialize, ToSchema)]
struct ReviewStatistics {
    by_status: ReceiptCounts,
    total_uploads: i64,
    /// Points credited for approved receipts, in all.
    points_awarded: i64,
    reviewers: Vec<ReviewerTotal>,
}

/// Review totals
///
/// Receipts by status, points awarded, and each reviewer's decisions.
///
/// Errors: 2003 2005
#[utoipa::path(get, path = "/statistics", tag = "merchant", security(("bearerAuth" = [])),
    responses((status = 200, description = "Totals", body = Envelope<ReviewStatistics>)))]
async fn statistics(State(state): State<AppState>, _m: MerchantUser) -> Answer<ReviewStatistics> {
    let t = state.store.upload_totals(None).await?;
    let count = |s: &str| t.by_status.iter().find(|(k, _)| k == s).map(|(_, n)| *n).unwrap_or(0);
    let reviewers = state
        .store
        .reviewer_totals()
        .await?
        .iter()
        .map(|r| ReviewerTotal {
            reviewer_id: r.reviewer_id,
            approved: r.approved,
            rejected: r.rejected,
            points_awarded: r.points_awarded,
        })
        .collect();
    Ok(ok(ReviewStatistics {
        by_status: ReceiptCounts {
            pending: count("pending"),
            approved: count("approved"),
            rejected: count("rejected"),
        },
        total_uploads: t.by_status.iter().map(|(_, n)| n).sum::<i64>(),
        points_awarded: t.points_awarded,
        reviewers,
    }))
}

#[derive(Deserialize, ToSchema)]
struct Verify {
    /// The code shown to the customer (case and surrounding spaces do not matter).
    #[schema(example = "K7Q2M9X4PA")]
    exchange_code: Option<String>,
}

/// An exchange order, once verified.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum OrderFulfilled {
    Completed,
}

/// A won prize, once verified.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum PrizeFulfilled {
    Used,
}

/// What the code belonged to, now fulfilled: `type` tells an exchange order from a won prize.
#[derive(Debug, Serialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Verified {
    Order {
        order_id: i64,
        user_id: i64,
        product_name: String,
        quantity: i64,
        status: OrderFulfilled,
        verified_at: Timestamp,
    },
    Prize {
        /// The draw that won the prize.
        draw_id: i64,
        user_id: i64,
        prize_name: String,
        status: PrizeFulfilled,
        verified_at: Timestamp,
    },
}

/// Verify a code at the counter
///
/// Marks the exchange order (or won prize) behind the code as fulfilled, exactly once: a code
/// already used answers 4005, an unknown one 4004. The merchant is recorded on the order or
/// prize and in the audit log.
///
/// Errors: 1003 1003/413 2003 2005 4004 4005
#[utoipa::path(post, path = "/orders/verify", tag = "merchant", security(("bearerAuth" = [])),
    request_body = Verify,
    responses((status = 200, description = "What was fulfilled", body = Envelope<Verified>)))]
async fn verify(
    State(state): State<AppState>,
    merchant: MerchantUser,
    ApiJson(body): ApiJson<Verify>,
) -> Answer<Verified> {
    let code = body.exchange_code.map(|c| c.trim().to_ascii_uppercase()).unwrap_or_default();
    if code.is_empty() || code.len() > 16 || !code.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(ApiError::bad("exchange_code", "must be the 10-character code shown to the customer"));
    }
    let now = now_ms();
    match state.store.verify_code(&code, merchant.user_id, now).await? {
        Verification::Order { order_id, user_id, product_name, quantity } => Ok(ok(Verified::Order {
            order_id,
            user_id,
            product_name,
            quantity,
            status: OrderFulfilled::Completed,
            verified_at: Timestamp(now),
        })),
        Verification::Prize { draw_id, user_id, prize_name } => Ok(ok(Verified::Prize {
            draw_id,
            user_id,
            prize_name,
            status: PrizeFulfilled::Used,
            verified_at: Timestamp(now),
        })),
        Verification::AlreadyUsed { .. } => Err(ApiError::Refused(DomainError::AlreadyUsed)),
        Verification::Unknown => Err(ApiError::Refused(DomainError::OrderNotFound)),
    }
}
