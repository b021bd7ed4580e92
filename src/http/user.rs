//! `/api/user`: the signed-in customer's account, profile, points history and totals.

use crate::domain::DomainError;
use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::extract::DefaultBodyLimit;
use axum::extract::State;
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

use super::auth::{avatar_url, user_detail, user_info, UserDetail, UserInfo, AVATAR_OBJECT_PREFIX};
use super::envelope::{ok, Answer, Envelope, Timestamp};
use super::error::{ApiError, Operation};
use super::extract::{clean_text, ApiJson, ApiQuery, AuthUser};
use super::photo::check_declared_length;
use super::upload::{object_key, read_form, MAX_UPLOAD_BODY};
use super::AppState;
use crate::domain::page::{Page, PageParams};
use crate::domain::time::now_ms;
use crate::domain::{PointsSource, RecordDirection};
use crate::store::ledger::LedgerFilter;
use crate::store::users::UserRow;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(info))
        .routes(routes!(profile))
        .routes(routes!(points_records))
        .routes(routes!(statistics))
        .routes(routes!(avatar).layer(DefaultBodyLimit::max(MAX_UPLOAD_BODY)))
}

/// The account with the live balance (the wallet actor is the authority while it runs).
async fn current_user(state: &AppState, user_id: i64) -> Result<UserRow, ApiError> {
    let mut user = state.store.user(user_id).await?.ok_or(ApiError::TokenInvalid)?;
    user.points = state.wallets.snapshot(user_id).await?.balance;
    Ok(user)
}

/// The signed-in customer
///
/// The account with its live balance and dates.
///
/// Errors: 2005
#[utoipa::path(get, path = "/info", tag = "user", security(("bearerAuth" = [])),
    responses((status = 200, description = "The account", body = Envelope<UserDetail>)))]
async fn info(State(state): State<AppState>, auth: AuthUser) -> Answer<UserDetail> {
    Ok(ok(user_detail(&state, &current_user(&state, auth.user_id).await?).await))
}

#[derive(Deserialize, ToSchema)]
struct Profile {
    /// 1–20 characters.
    nickname: Option<String>,
    /// An http(s) URL or a server path; empty clears it.
    avatar: Option<String>,
}

/// Change the nickname or avatar
///
/// At least one of the two. Answers the updated `user_info` (`POST` is accepted too).
///
/// Errors: 1003 1003/413 2005
#[utoipa::path(method(put, post), path = "/profile", tag = "user", security(("bearerAuth" = [])),
    request_body = Profile,
    responses((status = 200, description = "The updated account", body = Envelope<UserInfo>)))]
async fn profile(State(state): State<AppState>, auth: AuthUser, ApiJson(body): ApiJson<Profile>) -> Answer<UserInfo> {
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

/// One ledger entry as the customer sees it.
#[derive(Debug, Serialize, ToSchema)]
struct PointsRecord {
    id: i64,
    /// Signed: positive for earning, negative for spending.
    points: i64,
    balance_after: i64,
    /// The ledger source (register, lottery, lottery_win, exchange, photo_review, admin_adjust, …).
    source: String,
    #[serde(rename = "type")]
    direction: RecordDirection,
    /// The entry's Chinese text, e.g. 抽奖消费.
    description: String,
    related_id: Option<String>,
    created_at: Timestamp,
}

#[derive(Debug, Serialize, ToSchema)]
struct PointsRecords {
    records: Vec<PointsRecord>,
    pagination: Page,
}

/// The customer's points history
///
/// Newest first; `type` narrows to earning or spending, `source` to one ledger source.
///
/// Errors: 1003 2005
#[utoipa::path(get, path = "/points-records", tag = "user", security(("bearerAuth" = [])),
    params(
        ("type" = Option<RecordDirection>, Query, description = "earn or spend"),
        ("source" = Option<String>, Query, description = "A ledger source"),
        PageParams,
    ),
    responses((status = 200, description = "One page of the ledger", body = Envelope<PointsRecords>)))]
async fn points_records(State(state): State<AppState>, auth: AuthUser, q: ApiQuery) -> Answer<PointsRecords> {
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
    let records = rows
        .into_iter()
        .map(|r| PointsRecord {
            id: r.id,
            points: r.points,
            balance_after: r.balance_after,
            direction: if r.points >= 0 { RecordDirection::Earn } else { RecordDirection::Spend },
            source: r.source,
            description: r.description,
            related_id: r.related_id,
            created_at: Timestamp(r.created_at),
        })
        .collect();
    Ok(ok(PointsRecords { records, pagination: page.of(total) }))
}

#[derive(Debug, Serialize, ToSchema)]
struct UserStatistics {
    total_points: i64,
    total_earned: i64,
    total_spent: i64,
    /// Ledger entries.
    records: i64,
    draws: i64,
    exchanges: i64,
    uploads: i64,
    approved_uploads: i64,
}

/// The customer's totals
///
/// Errors: 2005
#[utoipa::path(get, path = "/statistics", tag = "user", security(("bearerAuth" = [])),
    responses((status = 200, description = "Totals", body = Envelope<UserStatistics>)))]
async fn statistics(State(state): State<AppState>, auth: AuthUser) -> Answer<UserStatistics> {
    let totals = state.store.ledger_totals(auth.user_id).await?;
    let activity = state.store.activity_counts(auth.user_id).await?;
    let balance = state.wallets.snapshot(auth.user_id).await?.balance;
    Ok(ok(UserStatistics {
        total_points: balance,
        total_earned: totals.earned,
        total_spent: totals.spent,
        records: totals.records,
        draws: activity.draws,
        exchanges: activity.exchanges,
        uploads: activity.uploads,
        approved_uploads: activity.approved_uploads,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
struct AvatarAnswer {
    /// The new avatar's URL (signed, time-limited).
    avatar: String,
}

/// The multipart form of an avatar upload.
#[derive(ToSchema)]
#[allow(dead_code)]
struct AvatarForm {
    /// A JPEG, PNG or GIF of at most 5 MB (`photo`, `image` and `file` are accepted too).
    #[schema(value_type = String, format = Binary)]
    avatar: Vec<u8>,
}

/// Upload an avatar
///
/// An image stored like receipt photos; the previous uploaded avatar is removed.
///
/// Errors: 2005 5000 5001 5003 5003/413
#[utoipa::path(post, path = "/avatar", tag = "user", security(("bearerAuth" = [])),
    request_body(content = AvatarForm, content_type = "multipart/form-data"),
    responses((status = 200, description = "The new avatar", body = Envelope<AvatarAnswer>)))]
async fn avatar(
    State(state): State<AppState>,
    auth: AuthUser,
    headers: HeaderMap,
    form: Result<Multipart, MultipartRejection>,
) -> Answer<AvatarAnswer> {
    check_declared_length(&headers)?;
    let form =
        read_form(form.map_err(|_| ApiError::Refused(DomainError::NoImage))?, &["avatar", "photo", "image", "file"])
            .await?;
    let image = form.image.ok_or(ApiError::Refused(DomainError::NoImage))?;
    let key = object_key(&format!("avatars/{}", auth.user_id), image.kind);
    if let Err(e) = state.objects.put(&key, image.bytes, image.kind.content_type()).await {
        return Err(ApiError::Internal {
            during: Operation::Upload,
            context: "storing an avatar".into(),
            source: Some(e.into()),
        });
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
    Ok(ok(AvatarAnswer { avatar: avatar_url(&state, &stored).await }))
}
