//! `/api/photo`: receipt photo upload, the customer's upload history, one review, totals, and
//! withdrawing a pending upload.

use crate::domain::DomainError;
use std::time::Duration;

use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::HeaderMap;
use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

use super::envelope::{ok, Answer, Envelope, Timestamp};
use super::error::{ApiError, Operation};
use super::extract::{ApiPath, ApiQuery, AuthUser};
use super::upload::{object_key, read_form, MAX_UPLOAD_BODY};
use super::AppState;
use crate::actors::review_queue::{admit, image_digest, NewReceipt, UploadLimits};
use crate::config::Config;
use crate::domain::money::{parse_cents, yuan, MAX_RECEIPT_CENTS, MIN_RECEIPT_CENTS};
use crate::domain::page::{Page, PageParams};
use crate::domain::review::ReviewStatus;
use crate::domain::time::now_ms;
use crate::objects::ObjectStore;
use crate::store::reviews::ReceiptRow;

/// How long an image link handed to a client works.
pub const IMAGE_URL_TTL: Duration = Duration::from_secs(3600);

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(upload).layer(DefaultBodyLimit::max(MAX_UPLOAD_BODY)))
        .routes(routes!(history))
        .routes(routes!(review))
        .routes(routes!(statistics))
        .routes(routes!(withdraw))
}

/// The per-customer receipt upload caps, from the settings.
pub fn upload_limits(config: &Config) -> UploadLimits {
    UploadLimits { pending: config.limits.pending_uploads, per_day: config.limits.daily_uploads }
}

/// Refuses a declared body larger than the limit before reading any of it.
pub fn check_declared_length(headers: &HeaderMap) -> Result<(), ApiError> {
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    match declared {
        Some(n) if n > MAX_UPLOAD_BODY => Err(ApiError::Refused(DomainError::ImageTooLarge)),
        _ => Ok(()),
    }
}

/// An amount in yuan as a JSON number (88.5), for the messages still built by hand.
pub fn cents_json(cents: i64) -> Value {
    json!(yuan(cents))
}

/// A receipt upload as its owner (or a merchant) sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct UploadInfo {
    pub upload_id: i64,
    pub user_id: i64,
    /// The amount the customer claimed, in yuan.
    #[schema(example = 88.5)]
    pub amount: f64,
    #[schema(value_type = ReviewStatus, example = "pending")]
    pub status: String,
    /// The amount the merchant confirmed, in yuan; null until approved.
    pub actual_amount: Option<f64>,
    /// Null until reviewed (0 when rejected).
    pub points_awarded: Option<i64>,
    pub review_reason: Option<String>,
    pub reviewer_id: Option<i64>,
    /// The photo: a signed link that works for an hour.
    pub image_url: String,
    pub created_at: Timestamp,
    pub reviewed_at: Option<Timestamp>,
}

impl UploadInfo {
    /// The upload with a freshly signed image link.
    pub async fn of(objects: &ObjectStore, u: &ReceiptRow) -> UploadInfo {
        UploadInfo {
            upload_id: u.id,
            user_id: u.user_id,
            amount: yuan(u.amount_cents),
            status: u.status.clone(),
            actual_amount: u.actual_amount_cents.map(yuan),
            points_awarded: u.points_awarded,
            review_reason: u.review_reason.clone(),
            reviewer_id: u.reviewer_id,
            image_url: objects.signed_url(&u.object_key, IMAGE_URL_TTL).await.unwrap_or_default(),
            created_at: Timestamp(u.created_at),
            reviewed_at: u.reviewed_at.and_then(Timestamp::opt),
        }
    }
}

/// [`UploadInfo`] as a JSON value, for the merchant area's answers that are still built by hand.
pub async fn upload_json(objects: &ObjectStore, u: &ReceiptRow) -> Value {
    serde_json::to_value(UploadInfo::of(objects, u).await).unwrap_or(Value::Null)
}

/// The multipart form of a receipt upload.
#[derive(ToSchema)]
#[allow(dead_code)]
struct ReceiptForm {
    /// A JPEG, PNG or GIF of at most 5 MB, by content (`image` and `file` are accepted too).
    #[schema(value_type = String, format = Binary)]
    photo: Vec<u8>,
    /// What the receipt says, in yuan: 0.01–10000, at most two decimals.
    #[schema(example = "88.50")]
    amount: String,
}

#[derive(Debug, Serialize, ToSchema)]
struct Uploaded {
    upload_id: i64,
    /// A signed link to the photo that works for an hour.
    image_url: String,
    /// In yuan.
    #[schema(example = 88.5)]
    amount: f64,
    /// Always `pending`.
    status: ReviewStatus,
    #[schema(value_type = String, example = "上传成功，等待商家审核")]
    message: &'static str,
    #[schema(value_type = String, example = "24小时内")]
    estimated_review_time: &'static str,
}

/// Upload a receipt
///
/// The photo is stored, then a review is queued for the merchants, who are told at once.
/// A customer may have at most `UPLOAD_PENDING_LIMIT` (20) receipts waiting and upload at most
/// `UPLOAD_DAILY_LIMIT` (50) in any 24 hours (9001 with `Retry-After`); the same photo twice is
/// 1003 naming `photo`; a form of more than 8 fields is 1003 naming `multipart`.
///
/// Errors: 1003 2005 5000 5001 5002 5003 5003/413
#[utoipa::path(post, path = "/upload", tag = "photo", security(("bearerAuth" = [])),
    request_body(content = ReceiptForm, content_type = "multipart/form-data"),
    responses((status = 200, description = "Queued for review", body = Envelope<Uploaded>)))]
async fn upload(
    State(state): State<AppState>,
    user: AuthUser,
    headers: HeaderMap,
    form: Result<Multipart, MultipartRejection>,
) -> Answer<Uploaded> {
    check_declared_length(&headers)?;
    let form =
        read_form(form.map_err(|_| ApiError::Refused(DomainError::NoImage))?, &["photo", "image", "file"]).await?;
    let image = form.image.ok_or(ApiError::Refused(DomainError::NoImage))?;
    let amount_cents = form
        .fields
        .get("amount")
        .and_then(|a| parse_cents(a))
        .filter(|c| (MIN_RECEIPT_CENTS..=MAX_RECEIPT_CENTS).contains(c))
        .ok_or(ApiError::Refused(DomainError::BadAmount))?;
    let digest = image_digest(&image.bytes);
    // Asked before the photo is stored, so a flood or a repeat writes nothing; the queue asks
    // again when it queues the upload.
    admit(&state.store, upload_limits(&state.config), user.user_id, &digest, now_ms())
        .await
        .map_err(ApiError::during(Operation::Upload))?;
    let key = object_key("receipts", image.kind);
    let size = image.bytes.len() as i64;
    if let Err(e) = state.objects.put(&key, image.bytes, image.kind.content_type()).await {
        return Err(ApiError::Internal {
            during: Operation::Upload,
            context: "storing a receipt photo".into(),
            source: Some(e.into()),
        });
    }
    let queued = state
        .reviews
        .submit(NewReceipt {
            user_id: user.user_id,
            object_key: key.clone(),
            content_type: image.kind.content_type().into(),
            size,
            amount_cents,
            image_sha256: digest,
        })
        .await;
    let row = match queued {
        Ok(row) => row,
        Err(e) => {
            // No review, no photo: do not leave an orphan object behind.
            if let Err(del) = state.objects.delete(&key).await {
                tracing::warn!(error = %del, "removing the photo of a failed upload failed");
            }
            return Err(ApiError::during(Operation::Upload)(e));
        }
    };
    let image_url = state.objects.signed_url(&key, IMAGE_URL_TTL).await.unwrap_or_default();
    Ok(ok(Uploaded {
        upload_id: row.id,
        image_url,
        amount: yuan(amount_cents),
        status: ReviewStatus::Pending,
        message: "上传成功，等待商家审核",
        estimated_review_time: "24小时内",
    }))
}

#[derive(Debug, Serialize, ToSchema)]
struct Uploads {
    uploads: Vec<UploadInfo>,
    pagination: Page,
}

/// The customer's receipts
///
/// Newest first; `status` narrows to one status.
///
/// Errors: 1003 2005
#[utoipa::path(get, path = "/history", tag = "photo", security(("bearerAuth" = [])),
    params(("status" = Option<ReviewStatus>, Query, description = "pending, approved or rejected"), PageParams),
    responses((status = 200, description = "One page of uploads", body = Envelope<Uploads>)))]
async fn history(State(state): State<AppState>, user: AuthUser, q: ApiQuery) -> Answer<Uploads> {
    let page = q.page()?;
    let status = q.one_of("status", &ReviewStatus::ALL.map(ReviewStatus::as_str))?;
    let (rows, total) = state.store.uploads_page(Some(user.user_id), status, page).await?;
    let mut uploads = Vec::with_capacity(rows.len());
    for u in &rows {
        uploads.push(UploadInfo::of(&state.objects, u).await);
    }
    Ok(ok(Uploads { uploads, pagination: page.of(total) }))
}

/// One of the customer's receipts
///
/// Another customer's upload is not found, like one that does not exist.
///
/// Errors: 1003 2005 6001
#[utoipa::path(get, path = "/review/{upload_id}", tag = "photo", operation_id = "photo_review", security(("bearerAuth" = [])),
    params(("upload_id" = i64, Path, description = "The upload")),
    responses((status = 200, description = "The upload", body = Envelope<UploadInfo>)))]
async fn review(State(state): State<AppState>, user: AuthUser, ApiPath(upload_id): ApiPath<i64>) -> Answer<UploadInfo> {
    match state.store.upload(upload_id).await? {
        Some(u) if u.user_id == user.user_id => Ok(ok(UploadInfo::of(&state.objects, &u).await)),
        // Someone else's upload is "not found", not "forbidden": ids reveal nothing.
        _ => Err(ApiError::Refused(DomainError::ReviewNotFound)),
    }
}

#[derive(Debug, Serialize, ToSchema)]
struct UploadStatistics {
    total_uploads: i64,
    pending: i64,
    approved: i64,
    rejected: i64,
    total_points_awarded: i64,
    /// The claimed amounts together, in yuan.
    total_amount: f64,
}

/// The customer's receipt totals
///
/// Errors: 2005
#[utoipa::path(get, path = "/statistics", tag = "photo", operation_id = "photo_statistics", security(("bearerAuth" = [])),
    responses((status = 200, description = "Totals", body = Envelope<UploadStatistics>)))]
async fn statistics(State(state): State<AppState>, user: AuthUser) -> Answer<UploadStatistics> {
    let t = state.store.upload_totals(Some(user.user_id)).await?;
    let count = |s: ReviewStatus| t.by_status.iter().find(|(k, _)| k == s.as_str()).map_or(0, |(_, n)| *n);
    Ok(ok(UploadStatistics {
        total_uploads: t.by_status.iter().map(|(_, n)| n).sum::<i64>(),
        pending: count(ReviewStatus::Pending),
        approved: count(ReviewStatus::Approved),
        rejected: count(ReviewStatus::Rejected),
        total_points_awarded: t.points_awarded,
        total_amount: yuan(t.amount_cents),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
struct Withdrawn {
    upload_id: i64,
    /// Always true.
    deleted: bool,
}

/// Withdraw a receipt
///
/// Only its owner, only while it waits for review; the photo is deleted too.
///
/// Errors: 1003 2005 6001 6004
#[utoipa::path(delete, path = "/{upload_id}", tag = "photo", security(("bearerAuth" = [])),
    params(("upload_id" = i64, Path, description = "The upload")),
    responses((status = 200, description = "Withdrawn", body = Envelope<Withdrawn>)))]
async fn withdraw(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(upload_id): ApiPath<i64>,
) -> Answer<Withdrawn> {
    let key = state.reviews.withdraw(upload_id, user.user_id).await?;
    if let Err(e) = state.objects.delete(&key).await {
        // The review is gone; an orphaned object is only storage, so the request still succeeds.
        tracing::warn!(error = %e, "deleting a withdrawn photo failed");
    }
    Ok(ok(Withdrawn { upload_id, deleted: true }))
}
