//! `/api/auth`: sign-in codes, customer login (creating the account with its sign-up grant),
//! refresh-token rotation, token checks, logout and the admin login.

use crate::domain::DomainError;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::Router;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::envelope::{ok, Answer, Timestamp};
use super::error::ApiError;
use super::extract::{bearer, verify_access, ApiJson, ClientIp};
use super::AppState;
use crate::actors::Failure;
use crate::auth::tokens::{new_id, Subject, ACCESS_TTL_S};
use crate::auth::{passwords, SubjectKind, TokenPair};
use crate::domain::phone::mask_phone;
use crate::domain::time::now_ms;
use crate::domain::Phone;
use crate::store::tokens::Rotation;
use crate::store::users::UserRow;
use utoipa_axum::router::OpenApiRouter;

/// Points every new customer starts with.
pub const SIGN_UP_GRANT: i64 = 1000;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::from(
        Router::new()
            .route("/send-code", post(send_code))
            .route("/login", post(login))
            .route("/refresh", post(refresh))
            .route("/verify-token", get(verify_token))
            .route("/logout", post(logout))
            .route("/admin-login", post(admin_login)),
    )
}

/// Avatars uploaded to object storage are stored as `object:<key>` and shown as signed links.
pub const AVATAR_OBJECT_PREFIX: &str = "object:";
const AVATAR_URL_TTL: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// The avatar as a client can load it.
pub async fn avatar_url(state: &AppState, stored: &str) -> String {
    match stored.strip_prefix(AVATAR_OBJECT_PREFIX) {
        Some(key) => state.objects.signed_url(key, AVATAR_URL_TTL).await.unwrap_or_default(),
        None => stored.to_string(),
    }
}

/// The customer as the mini-program shows them (`user_info`).
#[derive(Debug, Serialize, ToSchema)]
pub struct UserInfo {
    pub user_id: i64,
    /// Masked: 138****8000.
    #[schema(example = "138****8000")]
    pub mobile: String,
    #[schema(example = "用户8000")]
    pub nickname: String,
    /// A URL (signed and time-limited for an uploaded avatar), or empty.
    pub avatar: String,
    pub total_points: i64,
    pub is_merchant: bool,
    pub is_admin: bool,
}

/// [`UserInfo`] plus the account's dates (`GET /api/user/info`).
#[derive(Debug, Serialize, ToSchema)]
pub struct UserDetail {
    #[serde(flatten)]
    pub info: UserInfo,
    pub created_at: Timestamp,
    pub last_login: Option<Timestamp>,
}

pub async fn user_info(state: &AppState, u: &UserRow) -> UserInfo {
    UserInfo {
        user_id: u.id,
        mobile: mask_phone(&u.phone),
        nickname: u.nickname.clone(),
        avatar: avatar_url(state, &u.avatar).await,
        total_points: u.points,
        is_merchant: u.is_merchant,
        is_admin: false,
    }
}

pub async fn user_detail(state: &AppState, u: &UserRow) -> UserDetail {
    UserDetail {
        info: user_info(state, u).await,
        created_at: Timestamp(u.created_at),
        last_login: Timestamp::opt(u.last_login),
    }
}

fn phone_of(phone: Option<String>, mobile: Option<String>) -> Result<Phone, ApiError> {
    let raw = phone.or(mobile).ok_or_else(|| ApiError::bad("phone", "is required"))?;
    Phone::parse(raw.trim()).ok_or(ApiError::Refused(DomainError::BadPhone))
}

#[derive(Deserialize)]
struct SendCode {
    phone: Option<String>,
    mobile: Option<String>,
}

async fn send_code(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<SendCode>,
) -> Answer<Value> {
    let phone = phone_of(body.phone, body.mobile)?;
    state.codes.send(&phone, ip).await.map_err(DomainError::from)?;
    Ok(ok(json!({ "expires_in": 300 })))
}

#[derive(Deserialize)]
struct Login {
    phone: Option<String>,
    mobile: Option<String>,
    code: Option<String>,
}

async fn login(State(state): State<AppState>, ApiJson(body): ApiJson<Login>) -> Answer<Value> {
    let phone = phone_of(body.phone, body.mobile)?;
    let code = body.code.ok_or_else(|| ApiError::bad("code", "is required"))?;
    if !state.codes.verify(&phone, code.trim()) {
        return Err(ApiError::Refused(DomainError::BadCode));
    }
    let now = now_ms();
    let (mut user, is_new_user) = match state.store.user_by_phone(phone.as_str()).await? {
        Some(u) => (u, false),
        None => match state.store.create_user(phone.as_str(), &phone.default_nickname(), SIGN_UP_GRANT, now).await {
            Ok(u) => (u, true),
            // The same phone signed up concurrently: that account is this customer's.
            Err(e) if e.is_unique_violation() => {
                let u = state.store.user_by_phone(phone.as_str()).await?;
                (u.ok_or_else(|| ApiError::from(Failure::fault("user vanished after a unique violation")))?, false)
            }
            Err(e) => return Err(e.into()),
        },
    };
    if user.is_banned {
        return Err(ApiError::Refused(DomainError::Banned));
    }
    if !is_new_user {
        state.store.touch_login(user.id, now).await?;
        user.last_login = now;
        // The wallet actor, when alive, is the authority on the balance.
        if let Ok(w) = state.wallets.snapshot(user.id).await {
            user.points = w.balance;
        }
    }
    let pair = open_session(&state, &user_subject(&user)).await?;
    tracing::info!(user_id = user.id, is_new_user, "customer signed in");
    Ok(ok(json!({
        "access_token": pair.access_token,
        "refresh_token": pair.refresh_token,
        "token_type": "Bearer",
        "expires_in": ACCESS_TTL_S,
        "user_info": user_info(&state, &user).await,
        "is_new_user": is_new_user,
    })))
}

pub(crate) fn user_subject(u: &UserRow) -> Subject {
    Subject { kind: SubjectKind::User, id: u.id, mobile: mask_phone(&u.phone), is_merchant: u.is_merchant }
}

/// Starts a new token family for `subject`.
pub(crate) async fn open_session(state: &AppState, subject: &Subject) -> Result<TokenPair, ApiError> {
    let family = new_id();
    let pair = state.tokens.issue(subject, &family).map_err(|e| ApiError::internal("issuing tokens", e))?;
    state
        .store
        .open_token_family(
            &family,
            subject.kind.as_str(),
            subject.id,
            &pair.refresh_jti,
            now_ms(),
            pair.refresh_expires_at_ms,
        )
        .await?;
    Ok(pair)
}

#[derive(Deserialize)]
struct Refresh {
    refresh_token: Option<String>,
}

async fn refresh(State(state): State<AppState>, headers: HeaderMap, ApiJson(body): ApiJson<Refresh>) -> Answer<Value> {
    let token = body
        .refresh_token
        .filter(|t| !t.trim().is_empty())
        .or_else(|| bearer(&headers).map(str::to_string))
        .ok_or(ApiError::Refused(DomainError::RefreshInvalid))?;
    let claims =
        state.tokens.verify_refresh(token.trim()).map_err(|_| ApiError::Refused(DomainError::RefreshInvalid))?;
    let id: i64 = claims.sub.parse().map_err(|_| ApiError::Refused(DomainError::RefreshInvalid))?;
    let subject = match claims.kind {
        SubjectKind::User => {
            let user = state.store.user(id).await?.ok_or(ApiError::Refused(DomainError::RefreshInvalid))?;
            if user.is_banned {
                return Err(ApiError::Refused(DomainError::Banned));
            }
            user_subject(&user)
        }
        SubjectKind::Admin => {
            let admin = state.store.admin(id).await?.ok_or(ApiError::Refused(DomainError::RefreshInvalid))?;
            Subject { kind: SubjectKind::Admin, id, mobile: admin.username, is_merchant: false }
        }
    };
    let pair = state.tokens.issue(&subject, &claims.fam).map_err(|e| ApiError::internal("issuing tokens", e))?;
    match state
        .store
        .rotate_refresh(&claims.fam, &claims.jti, &pair.refresh_jti, now_ms(), pair.refresh_expires_at_ms)
        .await?
    {
        Rotation::Rotated => Ok(ok(json!({
            "access_token": pair.access_token,
            "refresh_token": pair.refresh_token,
            "token_type": "Bearer",
            "expires_in": ACCESS_TTL_S,
        }))),
        Rotation::Reused => {
            state.tokens.mark_revoked(&claims.fam);
            tracing::warn!(subject_id = id, "refresh token reused; its family is revoked");
            Err(ApiError::Refused(DomainError::RefreshInvalid))
        }
        Rotation::Rejected => Err(ApiError::Refused(DomainError::RefreshInvalid)),
    }
}

async fn verify_token(State(state): State<AppState>, headers: HeaderMap) -> Answer<Value> {
    let claims = verify_access(&state, &headers)?;
    match claims.kind {
        SubjectKind::User => {
            if state.banned.contains(&claims.user_id) {
                return Err(ApiError::Refused(DomainError::Banned));
            }
            let mut user = state.store.user(claims.user_id).await?.ok_or(ApiError::TokenInvalid)?;
            if let Ok(w) = state.wallets.snapshot(user.id).await {
                user.points = w.balance;
            }
            Ok(ok(json!({ "valid": true, "user_info": user_info(&state, &user).await })))
        }
        SubjectKind::Admin => Ok(ok(json!({
            "valid": true,
            "user_info": { "user_id": claims.user_id, "nickname": claims.mobile, "is_admin": true, "is_merchant": false },
        }))),
    }
}

async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Answer<Value> {
    let claims = verify_access(&state, &headers)?;
    state.store.revoke_token_family(&claims.fam, "logout", now_ms()).await?;
    state.tokens.mark_revoked(&claims.fam);
    Ok(ok(Value::Null))
}

#[derive(Deserialize)]
struct AdminLogin {
    username: Option<String>,
    password: Option<String>,
}

/// A hash of a random password nobody knows, so an unknown username costs as much time as a
/// wrong password and does not reveal which admin names exist.
static DECOY_HASH: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| passwords::hash(&new_id()).unwrap_or_default());

async fn admin_login(State(state): State<AppState>, ApiJson(body): ApiJson<AdminLogin>) -> Answer<Value> {
    let username =
        body.username.filter(|u| !u.trim().is_empty()).ok_or_else(|| ApiError::bad("username", "is required"))?;
    let password = body.password.filter(|p| !p.is_empty()).ok_or_else(|| ApiError::bad("password", "is required"))?;
    if username.len() > 64 || password.len() > 256 {
        return Err(ApiError::Refused(DomainError::BadCredentials));
    }
    let admin = state.store.admin_by_username(username.trim()).await?;
    let stored = admin.as_ref().map(|a| a.password_hash.clone()).unwrap_or_else(|| DECOY_HASH.clone());
    let verified = passwords::verify_blocking(password, stored).await;
    let Some(admin) = admin.filter(|_| verified) else {
        return Err(ApiError::Refused(DomainError::BadCredentials));
    };
    state.store.touch_admin_login(admin.id, now_ms()).await?;
    let subject =
        Subject { kind: SubjectKind::Admin, id: admin.id, mobile: admin.username.clone(), is_merchant: false };
    let pair = open_session(&state, &subject).await?;
    tracing::info!(admin_id = admin.id, "admin signed in");
    Ok(ok(json!({
        "access_token": pair.access_token,
        "refresh_token": pair.refresh_token,
        "token_type": "Bearer",
        "expires_in": ACCESS_TTL_S,
        "admin_info": { "admin_id": admin.id, "username": admin.username },
        "user_info": { "user_id": admin.id, "nickname": admin.username, "is_admin": true, "is_merchant": false },
    })))
}
