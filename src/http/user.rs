//! `/api/user`: the signed-in customer's account, profile, points history and totals.

use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::extract::DefaultBodyLimit;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post, put};
use axum::Router;
use serde::Deserialize;
use serde_json::json;

use super::auth::{avatar_url, user_detail, user_info, AVATAR_OBJECT_PREFIX};
use super::error::{ok, ApiError, ApiResult};
use super::extract::{clean_text, ApiJson, ApiQuery, AuthUser};
use super::photo::check_declared_length;
use super::upload::{object_key, read_form, MAX_UPLOAD_BODY};
use super::AppState;
use crate::domain::time::{iso, now_ms};
use crate::domain::{PointsSource, RecordDirection};
use crate::store::ledger::LedgerFilter;
use crate::store::users::UserRow;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/info", get(info))
        .route("/profile", put(profile).post(profile))
        .route("/points-records", get(points_records))
        .route("/statistics", get(statistics))
        .route("/avatar", post(avatar).layer(DefaultBodyLimit::max(MAX_UPLOAD_BODY)))
}

/// The account with the live balance (the wallet actor is the authority while it runs).
async fn current_user(state: &AppState, user_id: i64) -> Result<UserRow, ApiError> {
    let mut user = state.store.user(user_id).await?.ok_or(ApiError::TokenInvalid)?;
    user.points = state.wallets.snapshot(user_id).await?.balance;
    Ok(user)
}

async fn info(State(state): State<AppState>, auth: AuthUser) -> ApiResult {
    Ok(ok(user_detail(&state, &current_user(&state, auth.user_id).await?).await))
}

#[derive(Deserialize)]
struct Profile {
    nickname: Option<String>,
    avatar: Option<String>,
}

async fn profile(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(body): ApiJson<Profile>,
) -> ApiResult<Response> {
    let nickname = body.nickname.as_deref().map(|n| clean_text("nickname", n, 1, 20)).transpose()?;
    let avatar = match body.avatar.as_deref() {
        None => None,
        Some(a) => {
            let a = clean_text("avatar", a, 0, 512)?;
            if !(a.is_empty() || a.starts_with("https://") || a.starts_with("http://") || a.starts_with('/')) {
                return Err(ApiError::bad("avatar", "must be an http(s) URL or a server path"));
            }
            Some(a)
        }
    };
    if nickname.is_none() && avatar.is_none() {
        return Err(ApiError::bad("nickname", "nickname or avatar is required"));
    }
    state.store.update_profile(auth.user_id, nickname.as_deref(), avatar.as_deref(), now_ms()).await?;
    Ok(ok(user_info(&state, &current_user(&state, auth.user_id).await?).await))
}

async fn points_records(State(state): State<AppState>, auth: AuthUser, q: ApiQuery) -> ApiResult {
    let page = q.page()?;
    let direction = q
        .one_of("type", &["earn", "spend"])?
        .map(|t| t.parse::<RecordDirection>().map_err(|_| ApiError::bad("type", "must be earn or spend")))
        .transpose()?;
    let source = match q.get("source") {
        None => None,
        Some(s) => Some(s.parse::<PointsSource>().map_err(|_| {
            let all: Vec<&str> = PointsSource::ALL.iter().map(|p| p.as_str()).collect();
            ApiError::bad("source", format!("must be one of {}", all.join(", ")))
        })?),
    };
    let (rows, total) = state.store.ledger_page(auth.user_id, &LedgerFilter { direction, source }, page).await?;
    let records: Vec<_> = rows
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "points": r.points,
                "balance_after": r.balance_after,
                "source": r.source,
                "type": if r.points >= 0 { "earn" } else { "spend" },
                "description": r.description,
                "related_id": r.related_id,
                "created_at": iso(r.created_at),
            })
        })
        .collect();
    Ok(ok(json!({ "records": records, "pagination": page.of(total) })))
}

async fn statistics(State(state): State<AppState>, auth: AuthUser) -> ApiResult {
    let totals = state.store.ledger_totals(auth.user_id).await?;
    let activity = state.store.activity_counts(auth.user_id).await?;
    let balance = state.wallets.snapshot(auth.user_id).await?.balance;
    Ok(ok(json!({
        "total_points": balance,
        "total_earned": totals.earned,
        "total_spent": totals.spent,
        "records": totals.records,
        "draws": activity.draws,
        "exchanges": activity.exchanges,
        "uploads": activity.uploads,
        "approved_uploads": activity.approved_uploads,
    })))
}

/// `POST /api/user/avatar`: an image (field `avatar`, or `photo`/`image`/`file`) stored like
/// receipt photos; the previous uploaded avatar is removed.
async fn avatar(
    State(state): State<AppState>,
    auth: AuthUser,
    headers: HeaderMap,
    form: Result<Multipart, MultipartRejection>,
) -> ApiResult<Response> {
    check_declared_length(&headers)?;
    let form = read_form(form.map_err(|_| ApiError::NoImage)?, &["avatar", "photo", "image", "file"]).await?;
    let image = form.image.ok_or(ApiError::NoImage)?;
    let key = object_key(&format!("avatars/{}", auth.user_id), image.kind);
    if let Err(e) = state.objects.put(&key, image.bytes, image.kind.content_type()).await {
        tracing::error!(error = %e, "storing an avatar failed");
        return Err(ApiError::UploadFailed);
    }
    let previous = state.store.user(auth.user_id).await?.map(|u| u.avatar).unwrap_or_default();
    let stored = format!("{AVATAR_OBJECT_PREFIX}{key}");
    if let Err(e) = state.store.update_profile(auth.user_id, None, Some(&stored), now_ms()).await {
        let _ = state.objects.delete(&key).await;
        return Err(e.into());
    }
    if let Some(old) = previous.strip_prefix(AVATAR_OBJECT_PREFIX) {
        if let Err(e) = state.objects.delete(old).await {
            tracing::warn!(error = %e, "removing the previous avatar failed");
        }
    }
    Ok(ok(json!({ "avatar": avatar_url(&state, &stored).await })))
}
