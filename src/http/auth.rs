//! `/api/auth`: sign-in codes, customer login (creating the account with its sign-up grant),
//! refresh-token rotation, token checks, logout and the admin login.
//!
//! Longer than most files: the sign-in answers are typed and documented beside their
//! handlers, and the sign-in ending shared with WeChat (`signed_in`) lives here.

use crate::cluster::codes::CodeCall;
use crate::domain::DomainError;
use axum::extract::State;
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::envelope::{ok, Answer, Envelope, Timestamp};
use super::error::ApiError;
use super::extract::{bearer, verify_access, ApiJson, ClientIp};
use super::AppState;
use crate::auth::codes::CODE_TTL;
use crate::auth::tokens::{new_id, Subject};
use crate::auth::{passwords, SubjectKind, TokenPair};
use crate::domain::phone::mask_phone;
use crate::domain::points::SIGN_UP_GRANT;
use crate::domain::time::{now_ms, wall_ms};
use crate::domain::Phone;
use crate::store::tokens::Rotation;
use crate::store::users::UserRow;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(send_code))
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(verify_token))
        .routes(routes!(logout))
        .routes(routes!(logout_all))
        .routes(routes!(admin_login))
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

/// A fresh token pair, as every sign-in and refresh answers it.
#[derive(Debug, Serialize, ToSchema)]
pub struct IssuedTokens {
    /// Sent as `Authorization: Bearer …`; lives `expires_in` seconds.
    pub access_token: String,
    /// Single use: `/refresh` answers a new pair and retires this one.
    pub refresh_token: String,
    #[schema(value_type = String, example = "Bearer")]
    pub token_type: &'static str,
    /// The access token's lifetime in seconds.
    #[schema(example = 7200)]
    pub expires_in: i64,
}

impl IssuedTokens {
    fn of(pair: TokenPair) -> IssuedTokens {
        IssuedTokens {
            access_token: pair.access_token,
            refresh_token: pair.refresh_token,
            token_type: "Bearer",
            expires_in: pair.expires_in_s,
        }
    }
}

/// An administrator in the shape clients read `user_info` in.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminUserInfo {
    /// The admin's id.
    pub user_id: i64,
    /// The admin's username.
    pub nickname: String,
    /// Always true.
    pub is_admin: bool,
    /// Always false.
    pub is_merchant: bool,
}

impl AdminUserInfo {
    fn of(admin_id: i64, username: String) -> AdminUserInfo {
        AdminUserInfo { user_id: admin_id, nickname: username, is_admin: true, is_merchant: false }
    }
}

/// The phone to text (`phone` or, for clients that use that name, `mobile`).
#[derive(Deserialize, ToSchema)]
struct SendCode {
    /// A mainland mobile number, `^1[3-9]\d{9}$`.
    #[schema(example = "13800138000")]
    phone: Option<String>,
    /// The same as `phone`.
    mobile: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
struct CodeSent {
    /// Seconds the code stays valid.
    #[schema(example = 300)]
    expires_in: u64,
}

/// Send a sign-in code
///
/// A 6-digit code, valid 5 minutes, through the SMS provider (the default one only writes it to
/// the log, outside production). At most one per phone a minute (whatever became of the last
/// code), ten per phone a day and ten per address an hour.
///
/// Errors: 1001 1003 1003/413 1004
#[utoipa::path(post, path = "/send-code", tag = "auth",
    request_body = SendCode,
    responses((status = 200, description = "The code is on its way", body = Envelope<CodeSent>)))]
async fn send_code(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<SendCode>,
) -> Answer<CodeSent> {
    let phone = phone_of(body.phone, body.mobile)?;
    match &state.cluster {
        // Every node asks the phone's home node, so one phone has one code and one guess count.
        Some(cluster) => {
            let call = CodeCall::Send { phone: phone.as_str().to_string(), ip };
            cluster.codes(&state.codes, call).await??;
        }
        None => state.codes.send(&phone, ip).await.map_err(DomainError::from)?,
    }
    Ok(ok(CodeSent { expires_in: CODE_TTL.as_secs() }))
}

#[derive(Deserialize, ToSchema)]
struct Login {
    /// A mainland mobile number (`mobile` is accepted too).
    #[schema(example = "13800138000")]
    phone: Option<String>,
    /// The same as `phone`.
    mobile: Option<String>,
    /// The code from `/send-code` (`123456` outside production).
    #[schema(example = "123456")]
    code: Option<String>,
}

/// A customer's session: the token pair, who they are, and whether the account is new.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SignedIn {
    #[serde(flatten)]
    tokens: IssuedTokens,
    user_info: UserInfo,
    /// True when this sign-in created the account (with its sign-up points).
    is_new_user: bool,
}

/// Sign in with a phone and its code
///
/// An unknown phone gets a new account with 1000 points (a `register` entry in its ledger).
/// A code dies after 5 wrong tries; after 10 wrong codes for one phone within an hour, sign-in for
/// that phone answers 1006 for an hour (`Retry-After`), whatever the address.
///
/// Errors: 1001 1002 1003 1003/413 1006 2005
#[utoipa::path(post, path = "/login", tag = "auth",
    request_body = Login,
    responses((status = 200, description = "Signed in", body = Envelope<SignedIn>)))]
async fn login(State(state): State<AppState>, ApiJson(body): ApiJson<Login>) -> Answer<SignedIn> {
    let phone = phone_of(body.phone, body.mobile)?;
    let code = body.code.ok_or_else(|| ApiError::bad("code", "is required"))?;
    match &state.cluster {
        Some(cluster) => {
            let call = CodeCall::Verify { phone: phone.as_str().to_string(), code: code.trim().to_string() };
            cluster.codes(&state.codes, call).await??;
        }
        None => state.codes.verify(&phone, code.trim())?,
    }
    let (user, is_new_user) = state
        .store
        .customer_by_phone_or_new(phone.as_str(), &phone.default_nickname(), SIGN_UP_GRANT, now_ms())
        .await?;
    signed_in(&state, user, is_new_user, "an SMS code").await
}

/// The end of every customer sign-in (SMS code or WeChat): a banned account stops here; a
/// returning one gets its last-login time and live balance; then a new token family.
pub(crate) async fn signed_in(state: &AppState, mut user: UserRow, is_new_user: bool, how: &str) -> Answer<SignedIn> {
    if is_new_user {
        // The sign-up grant is the customer's first earning (leaderboards follow the events).
        let (user_id, points, at) = (user.id, user.points, user.created_at);
        state.events.publish(crate::events::Committed::Earned { user_id, points, at });
    }
    if user.is_banned {
        return Err(ApiError::Refused(DomainError::Banned));
    }
    if !is_new_user {
        let now = now_ms();
        state.store.touch_login(user.id, now).await?;
        user.last_login = now;
        // The wallet actor, when alive, is the authority on the balance.
        if let Ok(w) = state.wallets.snapshot(user.id).await {
            user.points = w.balance;
        }
    }
    let pair = open_session(state, &user_subject(&user)).await?;
    tracing::info!(user_id = user.id, is_new_user, how, "customer signed in");
    Ok(ok(SignedIn { tokens: IssuedTokens::of(pair), user_info: user_info(state, &user).await, is_new_user }))
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
            wall_ms(),
            pair.refresh_expires_at_ms,
        )
        .await?;
    Ok(pair)
}

#[derive(Deserialize, ToSchema)]
struct Refresh {
    /// The refresh token; it may come as `Authorization: Bearer …` instead.
    refresh_token: Option<String>,
}

/// Trade a refresh token for a new pair
///
/// The refresh token comes in the body or as `Authorization: Bearer <refresh token>`. Each one
/// works once: presenting a used one again revokes its whole family (every token descended from
/// that sign-in, and the sockets they opened) and answers 2000. A family lives at most
/// `REFRESH_MAX_AGE_DAYS` (30) from its sign-in, however often it rotates; after that, 2000.
///
/// Errors: 1003 1003/413 2000 2005
#[utoipa::path(post, path = "/refresh", tag = "auth",
    request_body = Refresh,
    responses((status = 200, description = "A new pair; the presented refresh token is spent", body = Envelope<IssuedTokens>)))]
async fn refresh(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Refresh>,
) -> Answer<IssuedTokens> {
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
        .rotate_refresh(
            &claims.fam,
            &claims.jti,
            &pair.refresh_jti,
            wall_ms(),
            pair.refresh_expires_at_ms,
            state.config.sessions.refresh_max_age,
        )
        .await?
    {
        Rotation::Rotated => Ok(ok(IssuedTokens::of(pair))),
        Rotation::Reused => {
            state.tokens.mark_revoked(&claims.fam);
            if claims.kind == SubjectKind::User {
                state.hub.close_family(id, &claims.fam);
            }
            tracing::warn!(subject_id = id, "refresh token reused; its family is revoked");
            Err(ApiError::Refused(DomainError::RefreshInvalid))
        }
        Rotation::Rejected => Err(ApiError::Refused(DomainError::RefreshInvalid)),
    }
}

/// Whom an access token signs in: a customer, or an administrator.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
enum TokenHolder {
    Customer(UserInfo),
    Admin(AdminUserInfo),
}

#[derive(Debug, Serialize, ToSchema)]
struct TokenCheck {
    /// Always true (an invalid token is an error).
    valid: bool,
    user_info: TokenHolder,
}

/// Check an access token
///
/// Answers who holds it: a customer's `user_info` with the live balance, or an administrator's.
///
/// Errors: 2005
#[utoipa::path(get, path = "/verify-token", tag = "auth", security(("bearerAuth" = [])),
    responses((status = 200, description = "The token is valid", body = Envelope<TokenCheck>)))]
async fn verify_token(State(state): State<AppState>, headers: HeaderMap) -> Answer<TokenCheck> {
    let claims = verify_access(&state, &headers)?;
    let holder = match claims.kind {
        SubjectKind::User => {
            if state.banned.contains(&claims.user_id) {
                return Err(ApiError::Refused(DomainError::Banned));
            }
            let mut user = state.store.user(claims.user_id).await?.ok_or(ApiError::TokenInvalid)?;
            if let Ok(w) = state.wallets.snapshot(user.id).await {
                user.points = w.balance;
            }
            TokenHolder::Customer(user_info(&state, &user).await)
        }
        SubjectKind::Admin => TokenHolder::Admin(AdminUserInfo::of(claims.user_id, claims.mobile)),
    };
    Ok(ok(TokenCheck { valid: true, user_info: holder }))
}

/// Nothing: a sign-out answers `data: null`.
#[derive(Debug, Serialize, ToSchema)]
struct SignedOut;

/// Sign out
///
/// Revokes the caller's token family: this access token and its refresh token stop working at
/// once, and the sockets this family opened are closed with 4003.
#[utoipa::path(post, path = "/logout", tag = "auth", security(("bearerAuth" = [])),
    responses((status = 200, description = "Signed out; `data` is null", body = Envelope<SignedOut>)))]
async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Answer<SignedOut> {
    let claims = verify_access(&state, &headers)?;
    state.store.revoke_token_family(&claims.fam, "logout", wall_ms()).await?;
    state.tokens.mark_revoked(&claims.fam);
    if claims.kind == SubjectKind::User {
        state.hub.close_family(claims.user_id, &claims.fam);
    }
    Ok(ok(SignedOut))
}

/// Sign out on every device
///
/// Revokes every token family of the caller (every sign-in, on every device): all their access
/// and refresh tokens stop working at once, and all the caller's sockets are closed with 4003.
#[utoipa::path(post, path = "/logout-all", tag = "auth", security(("bearerAuth" = [])),
    responses((status = 200, description = "Signed out everywhere; `data` is null", body = Envelope<SignedOut>)))]
async fn logout_all(State(state): State<AppState>, headers: HeaderMap) -> Answer<SignedOut> {
    let claims = verify_access(&state, &headers)?;
    revoke_everywhere(&state, claims.kind, claims.user_id, "logout_all").await?;
    Ok(ok(SignedOut))
}

/// Revokes every family of a subject, in the store and in memory, and closes a customer's
/// sockets. Shared by sign-out-everywhere and the ban.
pub(crate) async fn revoke_everywhere(
    state: &AppState,
    kind: SubjectKind,
    subject_id: i64,
    reason: &str,
) -> Result<(), ApiError> {
    let revoked = state.store.revoke_subject_families(kind.as_str(), subject_id, reason, wall_ms()).await?;
    for (family, until) in &revoked {
        state.tokens.mark_revoked_until(family, *until);
    }
    if kind == SubjectKind::User {
        state.hub.close_user(subject_id);
    }
    Ok(())
}

#[derive(Deserialize, ToSchema)]
struct AdminLogin {
    username: Option<String>,
    password: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
struct AdminInfo {
    admin_id: i64,
    username: String,
}

#[derive(Debug, Serialize, ToSchema)]
struct AdminSignedIn {
    #[serde(flatten)]
    tokens: IssuedTokens,
    admin_info: AdminInfo,
    /// The same admin as `admin_info`, for clients that read `user_info`.
    user_info: AdminUserInfo,
}

/// A hash of a random password nobody knows, so an unknown username costs as much time as a
/// wrong password and does not reveal which admin names exist.
static DECOY_HASH: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| passwords::hash(&new_id()).unwrap_or_default());

/// Sign in as an administrator
///
/// Admin accounts are made with the `create-admin` command. An unknown username answers exactly
/// like a wrong password. After 5 failures for one username within 15 minutes that username
/// answers 2006 for 15 minutes (`Retry-After`), from any address. Password checks run at most one
/// per core at once; beyond that the answer is 9002 (`Retry-After: 1`).
///
/// Errors: 1003 1003/413 2002 2006 9002
#[utoipa::path(post, path = "/admin-login", tag = "auth",
    request_body = AdminLogin,
    responses((status = 200, description = "Signed in", body = Envelope<AdminSignedIn>)))]
async fn admin_login(State(state): State<AppState>, ApiJson(body): ApiJson<AdminLogin>) -> Answer<AdminSignedIn> {
    let username =
        body.username.filter(|u| !u.trim().is_empty()).ok_or_else(|| ApiError::bad("username", "is required"))?;
    let password = body.password.filter(|p| !p.is_empty()).ok_or_else(|| ApiError::bad("password", "is required"))?;
    if username.len() > 64 || password.len() > 256 {
        return Err(ApiError::Refused(DomainError::BadCredentials));
    }
    state
        .admin_lockout
        .check(&username, now_ms())
        .map_err(|retry_after_ms| DomainError::AdminLocked { retry_after_ms })?;
    let admin = state.store.admin_by_username(username.trim()).await?;
    let stored = admin.as_ref().map(|a| a.password_hash.clone()).unwrap_or_else(|| DECOY_HASH.clone());
    let verified = passwords::verify_blocking(password, stored).await.map_err(|_| ApiError::Overloaded)?;
    let Some(admin) = admin.filter(|_| verified) else {
        state.admin_lockout.failed(&username, now_ms());
        return Err(ApiError::Refused(DomainError::BadCredentials));
    };
    state.admin_lockout.succeeded(&username);
    state.store.touch_admin_login(admin.id, now_ms()).await?;
    let subject =
        Subject { kind: SubjectKind::Admin, id: admin.id, mobile: admin.username.clone(), is_merchant: false };
    let pair = open_session(&state, &subject).await?;
    tracing::info!(admin_id = admin.id, "admin signed in");
    Ok(ok(AdminSignedIn {
        tokens: IssuedTokens::of(pair),
        admin_info: AdminInfo { admin_id: admin.id, username: admin.username.clone() },
        user_info: AdminUserInfo::of(admin.id, admin.username),
    }))
}
