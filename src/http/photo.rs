//! `/api/photo`: receipt photo upload, the customer's upload history, one review, totals, and
//! withdrawing a pending upload.

use crate::domain::DomainError;
use std::time::Duration;

use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::HeaderMap;
use axum::routing::{delete, get, post};
use axum::Router;
use serde_json::{json, Value};

use super::envelope::{ok, Answer};
use super::error::{ApiError, Operation};
use super::extract::{ApiPath, ApiQuery, AuthUser};
use super::upload::{object_key, read_form, MAX_UPLOAD_BODY};
use super::AppState;
use crate::actors::review_queue::NewUpload;
use crate::domain::money::{parse_cents, MAX_RECEIPT_CENTS, MIN_RECEIPT_CENTS};
use crate::domain::time::{iso, iso_opt};
use crate::objects::ObjectStore;
use crate::store::reviews::UploadRow;
use utoipa_axum::router::OpenApiRouter;

/// How long an image link handed to a client works.
pub const IMAGE_URL_TTL: Duration = Duration::from_secs(3600);

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::from(
        Router::new()
            .route("/upload", post(upload).layer(DefaultBodyLimit::max(MAX_UPLOAD_BODY)))
            .route("/history", get(history))
            .route("/review/{upload_id}", get(review))
            .route("/statistics", get(statistics))
            .route("/{upload_id}", delete(withdraw)),
    )
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

pub fn cents_json(cents: i64) -> Value {
    json!(cents as f64 / 100.0)
}

/// An upload as its owner (or a merchant) sees it, with a freshly signed image link.
pub async fn upload_json(objects: &ObjectStore, u: &UploadRow) -> Value {
    let image_url = objects.signed_url(&u.object_key, IMAGE_URL_TTL).await.unwrap_or_default();
    json!({
        "upload_id": u.id,
        "user_id": u.user_id,
        "amount": cents_json(u.amount_cents),
        "status": u.status,
        "actual_amount": u.actual_amount_cents.map(cents_json),
        "points_awarded": u.points_awarded,
        "review_reason": u.review_reason,
        "reviewer_id": u.reviewer_id,
        "image_url": image_url,
        "created_at": iso(u.created_at),
        "reviewed_at": u.reviewed_at.and_then(iso_opt),
    })
}

async fn upload(
    State(state): State<AppState>,
    user: AuthUser,
    headers: HeaderMap,
    form: Result<Multipart, MultipartRejection>,
) -> Answer<Value> {
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
        .submit(NewUpload {
            user_id: user.user_id,
            object_key: key.clone(),
            content_type: image.kind.content_type().into(),
            size,
            amount_cents,
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
    Ok(ok(json!({
        "upload_id": row.id,
        "image_url": image_url,
        "amount": cents_json(amount_cents),
        "status": "pending",
        "message": "上传成功，等待商家审核",
        "estimated_review_time": "24小时内",
    })))
}

async fn history(State(state): State<AppState>, user: AuthUser, q: ApiQuery) -> Answer<Value> {
    let page = q.page()?;
    let status = q.one_of("status", &["pending", "approved", "rejected"])?;
    let (rows, total) = state.store.uploads_page(Some(user.user_id), status, page).await?;
    let mut uploads = Vec::with_capacity(rows.len());
    for u in &rows {
        uploads.push(upload_json(&state.objects, u).await);
    }
    Ok(ok(json!({ "uploads": uploads, "pagination": page.of(total) })))
}

async fn review(State(state): State<AppState>, user: AuthUser, ApiPath(upload_id): ApiPath<i64>) -> Answer<Value> {
    match state.store.upload(upload_id).await? {
        Some(u) if u.user_id == user.user_id => Ok(ok(upload_json(&state.objects, &u).await)),
        // Someone else's upload is "not found", not "forbidden": ids reveal nothing.
        _ => Err(ApiError::Refused(DomainError::ReviewNotFound)),
    }
}

async fn statistics(State(state): State<AppState>, user: AuthUser) -> Answer<Value> {
    let t = state.store.upload_totals(Some(user.user_id)).await?;
    let count = |s: &str| t.by_status.iter().find(|(k, _)| k == s).map(|(_, n)| *n).unwrap_or(0);
    Ok(ok(json!({
        "total_uploads": t.by_status.iter().map(|(_, n)| n).sum::<i64>(),
        "pending": count("pending"),
        "approved": count("approved"),
        "rejected": count("rejected"),
        "total_points_awarded": t.points_awarded,
        "total_amount": cents_json(t.amount_cents),
    })))
}

async fn withdraw(State(state): State<AppState>, user: AuthUser, ApiPath(upload_id): ApiPath<i64>) -> Answer<Value> {
    let key = state.reviews.withdraw(upload_id, user.user_id).await?;
    if let Err(e) = state.objects.delete(&key).await {
        // The review is gone; an orphaned object is only storage, so the request still succeeds.
        tracing::warn!(error = %e, "deleting a withdrawn photo failed");
    }
    Ok(ok(json!({ "upload_id": upload_id, "deleted": true })))
}
