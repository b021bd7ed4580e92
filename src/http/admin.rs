//! `/api/admin` (admin token required): customers — search, points adjustments, bans, merchant
//! role — merchant applications, and the audit log. Every mutation is audited in the same
//! transaction as the change.
//!
//! Points go through the customer's wallet actor, which owns the balance. Three writes go to the
//! store directly, on purpose; each is one transaction with its audit entry, and none changes
//! state an actor holds:
//! - The merchant role: the `MerchantUser` extractor reads it from the store on every request,
//!   so there is no copy to keep in step.
//! - A ban: the request path refuses banned customers from an in-memory copy
//!   ([`crate::auth::BanList`]). The handler holds the copy's write lock across the store write
//!   and the copy, so concurrent changes reach the copy in the order the store committed them;
//!   when the write fails the copy is re-read from the store, since the commit may have happened.
//! - Deciding a merchant application: the store checks it is still pending inside the
//!   transaction that grants the role.
//!
//! The test hooks (`/test-hooks/…`) exist, and are documented, only when the server runs with
//! `ENABLE_TEST_HOOKS=1`, never in production.
//!
//! Longer than most files: each operation carries its OpenAPI documentation and typed
//! answers beside the handler; the test-hook routes live here too, registered only when enabled.

use axum::extract::State;
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::envelope::{ok, Answer, Envelope, Timestamp};
use super::error::ApiError;
use super::extract::{clean_text, idempotency_key, AdminUser, ApiJson, ApiPath, ApiQuery};
use super::merchant::ApplicationStatus;
use super::AppState;
use crate::actors::PointsChange;
use crate::auth::SubjectKind;
use crate::domain::page::{Page, PageParams};
use crate::domain::phone::mask_phone;
use crate::domain::time::{now_ms, set_offset_ms, MAX_OFFSET_MS};
use crate::domain::{DomainError, PointsSource};
use crate::store::audit::AuditEntry;
use crate::store::reviews::ApplicationDecision;
use crate::store::users::UserFlag;

/// The largest single manual adjustment; bigger corrections are several audited steps.
const MAX_ADJUST: i64 = 1_000_000;

pub fn router(test_hooks: bool) -> OpenApiRouter<AppState> {
    let r = OpenApiRouter::new()
        .routes(routes!(users))
        .routes(routes!(adjust_points))
        .routes(routes!(ban))
        .routes(routes!(merchant))
        .routes(routes!(audit_log))
        .routes(routes!(applications))
        .routes(routes!(approve_application))
        .routes(routes!(reject_application));
    if test_hooks {
        r.routes(routes!(inject_wallet_panic))
            .routes(routes!(inject_wheel_panic))
            .routes(routes!(inject_stock_panic))
            .routes(routes!(block_wallet))
            .routes(routes!(hold_wallet_write))
            .routes(routes!(block_actor))
            .routes(routes!(shift_clock))
    } else {
        r
    }
}

fn audit(admin: &AdminUser, action: &str, target_type: &'static str, target_id: String) -> AuditEntry {
    AuditEntry {
        actor_kind: "admin".into(),
        actor_id: admin.admin_id,
        actor_name: admin.username.clone(),
        action: action.to_string(),
        target_type: target_type.into(),
        target_id,
        before: None,
        after: None,
        at: now_ms(),
    }
}

/// A customer as the admin's list shows them.
#[derive(Debug, Serialize, ToSchema)]
struct UserSummary {
    user_id: i64,
    /// Masked: the first three and last four digits.
    #[schema(example = "138****5678")]
    mobile: String,
    nickname: String,
    /// As stored: a URL, a server path, or empty.
    avatar: String,
    total_points: i64,
    is_merchant: bool,
    is_banned: bool,
    created_at: Timestamp,
    /// Null if they never signed in.
    last_login: Option<Timestamp>,
}

#[derive(Debug, Serialize, ToSchema)]
struct UserList {
    users: Vec<UserSummary>,
    pagination: Page,
}

/// Find customers
///
/// Newest first; `q` matches an exact user id, part of the phone number or part of the nickname.
///
/// Errors: 1003 2004
#[utoipa::path(get, path = "/users", tag = "admin", security(("bearerAuth" = [])),
    params(("q" = Option<String>, Query, description = "1–64 characters"), PageParams),
    responses((status = 200, description = "One page of customers", body = Envelope<UserList>)))]
async fn users(State(state): State<AppState>, _admin: AdminUser, q: ApiQuery) -> Answer<UserList> {
    let page = q.page()?;
    let search = q.get("q").map(|s| clean_text("q", s, 1, 64)).transpose()?;
    let (rows, total) = state.store.search_users(search.as_deref(), page).await?;
    let users = rows
        .into_iter()
        .map(|u| UserSummary {
            user_id: u.id,
            mobile: mask_phone(&u.phone),
            nickname: u.nickname,
            avatar: u.avatar,
            total_points: u.points,
            is_merchant: u.is_merchant,
            is_banned: u.is_banned,
            created_at: Timestamp(u.created_at),
            last_login: Timestamp::opt(u.last_login),
        })
        .collect();
    Ok(ok(UserList { users, pagination: page.of(total) }))
}

#[derive(Deserialize, ToSchema)]
struct Adjust {
    /// Points to add (positive) or take away (negative); non-zero, at most 1000000 either way.
    #[schema(example = 500)]
    delta: Option<i64>,
    /// Up to 200 characters; shown in the customer's points history.
    reason: Option<String>,
    /// An idempotency key, if the `Idempotency-Key` header is not sent.
    request_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
struct PointsAdjusted {
    user_id: i64,
    /// The ledger entry.
    record_id: i64,
    change_points: i64,
    /// The balance after the change.
    total_points: i64,
    /// True when this answers a retry with the same idempotency key (nothing changed again).
    replayed: bool,
}

/// Adjust a customer's points
///
/// One ledger entry (source `admin_adjust`) through the customer's wallet; the customer gets
/// `points_update`. A change that would make the balance negative is refused with 3001.
///
/// Errors: 1003 1003/413 2004 3001 9004
#[utoipa::path(post, path = "/users/{id}/points", tag = "admin", security(("bearerAuth" = [])),
    params(
        ("id" = i64, Path, description = "The customer"),
        ("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key change the balance once"),
    ),
    request_body = Adjust,
    responses((status = 200, description = "The committed change", body = Envelope<PointsAdjusted>)))]
async fn adjust_points(
    State(state): State<AppState>,
    admin: AdminUser,
    ApiPath(user_id): ApiPath<i64>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Adjust>,
) -> Answer<PointsAdjusted> {
    let delta = body.delta.ok_or_else(|| ApiError::bad("delta", "is required"))?;
    if delta == 0 || delta.abs() > MAX_ADJUST {
        return Err(ApiError::bad("delta", format!("must be a non-zero integer within ±{MAX_ADJUST}")));
    }
    let reason = body.reason.as_deref().map(|r| clean_text("reason", r, 1, 200)).transpose()?.unwrap_or_default();
    let key = idempotency_key(&headers, body.request_id.as_deref())?;
    let mut entry = audit(&admin, "user.points.adjust", "user", user_id.to_string());
    entry.after = Some(json!({ "reason": reason }));
    let description =
        if reason.is_empty() { "管理员调整".to_string() } else { format!("管理员调整: {reason}") };
    let outcome = state
        .wallets
        .change(
            user_id,
            PointsChange {
                delta,
                source: PointsSource::AdminAdjust,
                description,
                related_id: Some(format!("admin:{}", admin.admin_id)),
                idempotency_key: key,
                audit: Some(entry),
            },
        )
        .await?;
    let c = outcome.committed;
    Ok(ok(PointsAdjusted {
        user_id: c.user_id,
        record_id: c.record_id,
        change_points: c.delta,
        total_points: c.balance_after,
        replayed: outcome.replayed,
    }))
}

#[derive(Deserialize, ToSchema)]
struct Ban {
    /// True to ban, false to lift the ban.
    banned: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
struct BanChanged {
    user_id: i64,
    is_banned: bool,
    /// The flag before this change.
    was_banned: bool,
}

/// Ban or unban a customer
///
/// A banned customer's requests are refused with 2005 from the next request on; a ban also
/// revokes every token family of the customer and closes their sockets with 4003.
///
/// Errors: 1003 1003/413 2004 9004
#[utoipa::path(post, path = "/users/{id}/ban", tag = "admin", security(("bearerAuth" = [])),
    params(("id" = i64, Path, description = "The customer")),
    request_body = Ban,
    responses((status = 200, description = "The flag now", body = Envelope<BanChanged>)))]
async fn ban(
    State(state): State<AppState>,
    admin: AdminUser,
    ApiPath(user_id): ApiPath<i64>,
    ApiJson(body): ApiJson<Ban>,
) -> Answer<BanChanged> {
    let banned = body.banned.ok_or_else(|| ApiError::bad("banned", "is required (true or false)"))?;
    let action = if banned { "user.ban" } else { "user.unban" };
    let entry = audit(&admin, action, "user", user_id.to_string());
    let change = state.banned.change().await;
    let before = match state.store.set_user_flag(user_id, UserFlag::Banned, banned, entry).await {
        Ok(before) => before.ok_or(ApiError::Refused(DomainError::NotFound("用户".into())))?,
        Err(e) => {
            // The commit may have happened before the error: copy what the store now holds.
            if let Ok(Some(user)) = state.store.user(user_id).await {
                change.set(user_id, user.is_banned);
            }
            return Err(e.into());
        }
    };
    change.set(user_id, banned);
    if banned {
        // The copy already refuses every request and socket tick; revoking the families (under
        // the change's lock, so a later unban and sign-in is never revoked by this ban) keeps
        // stolen sessions dead after an unban, and closes the open sockets now.
        super::auth::revoke_everywhere(&state, SubjectKind::User, user_id, "ban").await?;
    }
    drop(change);
    Ok(ok(BanChanged { user_id, is_banned: banned, was_banned: before }))
}

#[derive(Deserialize, ToSchema)]
struct Merchant {
    /// True to grant the merchant role, false to revoke it.
    is_merchant: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
struct MerchantRoleChanged {
    user_id: i64,
    is_merchant: bool,
    /// The role before this change.
    was_merchant: bool,
}

/// Grant or revoke the merchant role
///
/// Takes effect on the customer's next merchant request (the role is read live). Revoking it
/// stops `new_review` at once and closes the customer's merchant sockets with 4003.
///
/// Errors: 1003 1003/413 2004 9004
#[utoipa::path(post, path = "/users/{id}/merchant", tag = "admin", security(("bearerAuth" = [])),
    params(("id" = i64, Path, description = "The customer")),
    request_body = Merchant,
    responses((status = 200, description = "The role now", body = Envelope<MerchantRoleChanged>)))]
async fn merchant(
    State(state): State<AppState>,
    admin: AdminUser,
    ApiPath(user_id): ApiPath<i64>,
    ApiJson(body): ApiJson<Merchant>,
) -> Answer<MerchantRoleChanged> {
    let on = body.is_merchant.ok_or_else(|| ApiError::bad("is_merchant", "is required (true or false)"))?;
    let action = if on { "user.merchant.grant" } else { "user.merchant.revoke" };
    let entry = audit(&admin, action, "user", user_id.to_string());
    let before = state
        .store
        .set_user_flag(user_id, UserFlag::Merchant, on, entry)
        .await?
        .ok_or(ApiError::Refused(DomainError::NotFound("用户".into())))?;
    state.hub.set_merchant(user_id, on);
    Ok(ok(MerchantRoleChanged { user_id, is_merchant: on, was_merchant: before }))
}

/// Who made an audited change.
#[derive(Debug, Serialize, ToSchema)]
struct AuditActor {
    /// `admin`.
    kind: String,
    id: i64,
    /// The admin's username.
    name: String,
}

/// One audited change.
#[derive(Debug, Serialize, ToSchema)]
struct AuditLogEntry {
    id: i64,
    actor: AuditActor,
    /// What was done, e.g. `user.ban`, `user.points.adjust`, `wheel.prizes.replace`, `product.restock`.
    action: String,
    /// `user`, `merchant_application`, `wheel` or `product`.
    target_type: String,
    target_id: String,
    /// What changed as it was before: an object of the relevant fields, or a list for a
    /// whole-wheel replacement; null when not recorded.
    #[schema(value_type = Value)]
    before: Option<Value>,
    /// As `before`, after the change.
    #[schema(value_type = Value)]
    after: Option<Value>,
    created_at: Timestamp,
}

#[derive(Debug, Serialize, ToSchema)]
struct AuditLog {
    entries: Vec<AuditLogEntry>,
    pagination: Page,
}

/// The audit log
///
/// Every admin change (who, what, before, after, when), newest first; `action` narrows to one
/// action.
///
/// Errors: 1003 2004
#[utoipa::path(get, path = "/audit-log", tag = "admin", security(("bearerAuth" = [])),
    params(("action" = Option<String>, Query, description = "One action, e.g. `user.ban`"), PageParams),
    responses((status = 200, description = "One page of the log", body = Envelope<AuditLog>)))]
async fn audit_log(State(state): State<AppState>, _admin: AdminUser, q: ApiQuery) -> Answer<AuditLog> {
    let page = q.page()?;
    let action = q.get("action").map(|a| clean_text("action", a, 1, 64)).transpose()?;
    let (rows, total) = state.store.audit_log(action.as_deref(), page).await?;
    let parse = |s: Option<String>| s.as_deref().and_then(|s| serde_json::from_str::<Value>(s).ok());
    let entries = rows
        .into_iter()
        .map(|r| AuditLogEntry {
            id: r.id,
            actor: AuditActor { kind: r.actor_kind, id: r.actor_id, name: r.actor_name },
            action: r.action,
            target_type: r.target_type,
            target_id: r.target_id,
            before: parse(r.before),
            after: parse(r.after),
            created_at: Timestamp(r.created_at),
        })
        .collect();
    Ok(ok(AuditLog { entries, pagination: page.of(total) }))
}

/// An application for the merchant role.
#[derive(Debug, Serialize, ToSchema)]
struct MerchantApplication {
    application_id: i64,
    /// The applicant.
    user_id: i64,
    shop_name: String,
    contact: String,
    status: ApplicationStatus,
    created_at: Timestamp,
    /// Null while pending.
    reviewed_at: Option<Timestamp>,
}

#[derive(Debug, Serialize, ToSchema)]
struct ApplicationList {
    applications: Vec<MerchantApplication>,
    pagination: Page,
}

/// Applications for the merchant role
///
/// Oldest first; `status` narrows to one status.
///
/// Errors: 1003 2004
#[utoipa::path(get, path = "/merchant-applications", tag = "admin", security(("bearerAuth" = [])),
    params(("status" = Option<ApplicationStatus>, Query, description = "pending, approved or rejected"), PageParams),
    responses((status = 200, description = "One page of applications", body = Envelope<ApplicationList>)))]
async fn applications(State(state): State<AppState>, _admin: AdminUser, q: ApiQuery) -> Answer<ApplicationList> {
    let page = q.page()?;
    let status = q.one_of("status", &["pending", "approved", "rejected"])?;
    let (rows, total) = state.store.applications_page(status, page).await?;
    let mut applications = Vec::with_capacity(rows.len());
    for a in rows {
        applications.push(MerchantApplication {
            application_id: a.id,
            user_id: a.user_id,
            status: a.status.parse()?,
            shop_name: a.shop_name,
            contact: a.contact,
            created_at: Timestamp(a.created_at),
            reviewed_at: a.reviewed_at.and_then(Timestamp::opt),
        });
    }
    Ok(ok(ApplicationList { applications, pagination: page.of(total) }))
}

#[derive(Debug, Serialize, ToSchema)]
struct ApplicationDecided {
    application_id: i64,
    user_id: i64,
    /// `approved` or `rejected`.
    status: ApplicationStatus,
    /// True when approved (the applicant now holds the role).
    is_merchant: bool,
}

async fn decide_application(state: &AppState, admin: &AdminUser, id: i64, approve: bool) -> Answer<ApplicationDecided> {
    let (action, status) = if approve {
        ("merchant_application.approve", ApplicationStatus::Approved)
    } else {
        ("merchant_application.reject", ApplicationStatus::Rejected)
    };
    let mut entry = audit(admin, action, "merchant_application", id.to_string());
    entry.before = Some(json!({ "status": ApplicationStatus::Pending }));
    entry.after = Some(json!({ "status": status }));
    match state.store.decide_application(id, approve, &entry).await? {
        ApplicationDecision::Done(user_id) => {
            if approve {
                state.hub.set_merchant(user_id, true);
            }
            Ok(ok(ApplicationDecided { application_id: id, user_id, status, is_merchant: approve }))
        }
        ApplicationDecision::NotFound => Err(ApiError::Refused(DomainError::NotFound("申请".into()))),
        ApplicationDecision::AlreadyDecided(status) => {
            Err(DomainError::AlreadyReviewed { current_status: status }.into())
        }
    }
}

/// Approve an application
///
/// The applicant gets the merchant role in the same transaction. An application already decided
/// answers 6004 with its status.
///
/// Errors: 1003 2004 6004 9004
#[utoipa::path(post, path = "/merchant-applications/{id}/approve", tag = "admin", security(("bearerAuth" = [])),
    params(("id" = i64, Path, description = "The application")),
    responses((status = 200, description = "The decision", body = Envelope<ApplicationDecided>)))]
async fn approve_application(
    State(state): State<AppState>,
    admin: AdminUser,
    ApiPath(id): ApiPath<i64>,
) -> Answer<ApplicationDecided> {
    decide_application(&state, &admin, id, true).await
}

/// Reject an application
///
/// An application already decided answers 6004 with its status.
///
/// Errors: 1003 2004 6004 9004
#[utoipa::path(post, path = "/merchant-applications/{id}/reject", tag = "admin", security(("bearerAuth" = [])),
    params(("id" = i64, Path, description = "The application")),
    responses((status = 200, description = "The decision", body = Envelope<ApplicationDecided>)))]
async fn reject_application(
    State(state): State<AppState>,
    admin: AdminUser,
    ApiPath(id): ApiPath<i64>,
) -> Answer<ApplicationDecided> {
    decide_application(&state, &admin, id, false).await
}

#[derive(Debug, Serialize, ToSchema)]
struct WalletPanicInjected {
    user_id: i64,
    /// Always true.
    injected: bool,
}

/// A singleton actor a test hook can panic.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum SupervisedActor {
    PrizeWheel,
    StockLedger,
}

#[derive(Debug, Serialize, ToSchema)]
struct ActorPanicInjected {
    actor: SupervisedActor,
    /// Always true.
    injected: bool,
}

/// Test hook: panic a customer's wallet actor
///
/// Only with `ENABLE_TEST_HOOKS=1`, never in production: lets a test watch supervision from
/// outside (the next request starts the wallet again from the store).
///
/// Errors: 1003 2004 9004
#[utoipa::path(post, path = "/test-hooks/wallets/{id}/panic", tag = "admin", security(("bearerAuth" = [])),
    params(("id" = i64, Path, description = "The customer")),
    responses((status = 200, description = "The panic was injected", body = Envelope<WalletPanicInjected>)))]
async fn inject_wallet_panic(
    State(state): State<AppState>,
    _admin: AdminUser,
    ApiPath(user_id): ApiPath<i64>,
) -> Answer<WalletPanicInjected> {
    state.wallets.inject_panic(user_id).await?;
    Ok(ok(WalletPanicInjected { user_id, injected: true }))
}

/// Test hook: panic the PrizeWheel actor
///
/// Only with `ENABLE_TEST_HOOKS=1`: its supervisor restarts it from the store.
///
/// Errors: 2004
#[utoipa::path(post, path = "/test-hooks/wheel/panic", tag = "admin", security(("bearerAuth" = [])),
    responses((status = 200, description = "The panic was injected", body = Envelope<ActorPanicInjected>)))]
async fn inject_wheel_panic(State(state): State<AppState>, _admin: AdminUser) -> Answer<ActorPanicInjected> {
    state.wheels.default_wheel().inject_panic()?;
    Ok(ok(ActorPanicInjected { actor: SupervisedActor::PrizeWheel, injected: true }))
}

/// Test hook: panic the StockLedger actor
///
/// Only with `ENABLE_TEST_HOOKS=1`: its supervisor restarts it from the store.
///
/// Errors: 2004
#[utoipa::path(post, path = "/test-hooks/stock-ledger/panic", tag = "admin", security(("bearerAuth" = [])),
    responses((status = 200, description = "The panic was injected", body = Envelope<ActorPanicInjected>)))]
async fn inject_stock_panic(State(state): State<AppState>, _admin: AdminUser) -> Answer<ActorPanicInjected> {
    state.stock.inject_panic()?;
    Ok(ok(ActorPanicInjected { actor: SupervisedActor::StockLedger, injected: true }))
}

/// How long a test hook keeps an actor busy.
#[derive(Debug, Deserialize, ToSchema)]
struct BlockFor {
    /// 1…30000 ms.
    ms: u64,
}

impl BlockFor {
    fn pause(&self) -> Result<std::time::Duration, ApiError> {
        if !(1..=30_000).contains(&self.ms) {
            return Err(ApiError::bad("ms", "must be 1…30000"));
        }
        Ok(std::time::Duration::from_millis(self.ms))
    }
}

#[derive(Debug, Serialize, ToSchema)]
struct Blocked {
    /// Always true.
    blocked: bool,
    ms: u64,
}

/// Test hook: keep a customer's wallet actor busy
///
/// Only with `ENABLE_TEST_HOOKS=1`, never in production: the wallet handles nothing else for
/// `ms`, as behind a stalled store, so a test can make requests time out and watch that they are
/// never carried out later.
///
/// Errors: 1003 2004 9004
#[utoipa::path(post, path = "/test-hooks/wallets/{id}/block", tag = "admin", security(("bearerAuth" = [])),
    params(("id" = i64, Path, description = "The customer")),
    request_body = BlockFor,
    responses((status = 200, description = "The wallet is busy", body = Envelope<Blocked>)))]
async fn block_wallet(
    State(state): State<AppState>,
    _admin: AdminUser,
    ApiPath(user_id): ApiPath<i64>,
    ApiJson(body): ApiJson<BlockFor>,
) -> Answer<Blocked> {
    state.wallets.block(user_id, body.pause()?).await?;
    Ok(ok(Blocked { blocked: true, ms: body.ms }))
}

/// Test hook: hold a customer's next write half-way
///
/// Only with `ENABLE_TEST_HOOKS=1`, never in production: the wallet's next write waits `ms`
/// after it began (its checks done, its commit not yet sent), as a process paused at the worst
/// moment would. The cluster tests pause the node meanwhile, so that another node takes the
/// customer and the held write meets the fence.
///
/// Errors: 1003 2004 9004
#[utoipa::path(post, path = "/test-hooks/wallets/{id}/hold-next-write", tag = "admin", security(("bearerAuth" = [])),
    params(("id" = i64, Path, description = "The customer")),
    request_body = BlockFor,
    responses((status = 200, description = "The next write will wait", body = Envelope<Blocked>)))]
async fn hold_wallet_write(
    State(state): State<AppState>,
    _admin: AdminUser,
    ApiPath(user_id): ApiPath<i64>,
    ApiJson(body): ApiJson<BlockFor>,
) -> Answer<Blocked> {
    state.wallets.hold_next_write(user_id, body.pause()?).await?;
    Ok(ok(Blocked { blocked: true, ms: body.ms }))
}

/// Test hook: keep the PrizeWheel or the StockLedger busy
///
/// Only with `ENABLE_TEST_HOOKS=1`: the actor handles nothing else for `ms`.
///
/// Errors: 1003 2004 9004
#[utoipa::path(post, path = "/test-hooks/{actor}/block", tag = "admin", security(("bearerAuth" = [])),
    params(("actor" = String, Path, description = "`wheel` or `stock-ledger`")),
    request_body = BlockFor,
    responses((status = 200, description = "The actor is busy", body = Envelope<Blocked>)))]
async fn block_actor(
    State(state): State<AppState>,
    _admin: AdminUser,
    ApiPath(actor): ApiPath<String>,
    ApiJson(body): ApiJson<BlockFor>,
) -> Answer<Blocked> {
    let pause = body.pause()?;
    match actor.as_str() {
        "wheel" => state.wheels.default_wheel().block(pause)?,
        "stock-ledger" => state.stock.block(pause)?,
        _ => return Err(DomainError::NotFound("actor".into()).into()),
    }
    Ok(ok(Blocked { blocked: true, ms: body.ms }))
}

/// How far business time runs ahead of (or behind) the wall clock.
#[derive(Debug, Deserialize, ToSchema)]
struct ClockOffset {
    /// Milliseconds, at most ten years either way; 0 puts the clock back.
    offset_ms: i64,
}

#[derive(Debug, Serialize, ToSchema)]
struct ClockShifted {
    offset_ms: i64,
    /// Business time now, with the offset.
    now: Timestamp,
}

/// Test hook: shift the business clock
///
/// Only with `ENABLE_TEST_HOOKS=1`, never in production: from now on the server dates every fact
/// (check-ins, task rounds, leaderboard periods, daily draw counts, ledger times) at the wall
/// clock plus `offset_ms`, so a test can cross midnight, a week or a month in `BUSINESS_TZ`
/// without waiting. The offset replaces the previous one. Sessions stay on the wall clock: tokens
/// already held keep working and new ones are not born expired.
///
/// Errors: 1003 2004 9004
#[utoipa::path(post, path = "/test-hooks/clock", tag = "admin", security(("bearerAuth" = [])),
    request_body = ClockOffset,
    responses((status = 200, description = "The clock is shifted", body = Envelope<ClockShifted>)))]
async fn shift_clock(_admin: AdminUser, ApiJson(body): ApiJson<ClockOffset>) -> Answer<ClockShifted> {
    if !(-MAX_OFFSET_MS..=MAX_OFFSET_MS).contains(&body.offset_ms) {
        return Err(ApiError::bad("offset_ms", "must be within ten years either way"));
    }
    let offset_ms = set_offset_ms(body.offset_ms);
    tracing::warn!(offset_ms, "test hook: business clock shifted");
    Ok(ok(ClockShifted { offset_ms, now: Timestamp(now_ms()) }))
}
