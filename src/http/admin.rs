//! `/api/admin` (admin token required): customers — search, points adjustments, bans, merchant
//! role — and the audit log. Every mutation is audited in the same transaction as the change.

use crate::domain::DomainError;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};

use super::envelope::{ok, Answer};
use super::error::ApiError;
use super::extract::{clean_text, idempotency_key, AdminUser, ApiJson, ApiPath, ApiQuery};
use super::AppState;
use crate::actors::PointsChange;
use crate::domain::phone::mask_phone;
use crate::domain::time::{iso, iso_opt, now_ms};
use crate::domain::PointsSource;
use crate::store::audit::AuditEntry;
use crate::store::reviews::ApplicationDecision;
use crate::store::users::UserFlag;
use utoipa_axum::router::OpenApiRouter;

/// The largest single manual adjustment; bigger corrections are several audited steps.
const MAX_ADJUST: i64 = 1_000_000;

pub fn router(test_hooks: bool) -> OpenApiRouter<AppState> {
    let r = Router::new()
        .route("/users", get(users))
        .route("/users/{id}/points", post(adjust_points))
        .route("/users/{id}/ban", post(ban))
        .route("/users/{id}/merchant", post(merchant))
        .route("/audit-log", get(audit_log))
        .route("/merchant-applications", get(applications))
        .route("/merchant-applications/{id}/approve", post(approve_application))
        .route("/merchant-applications/{id}/reject", post(reject_application));
    if test_hooks {
        r.route("/test-hooks/wallets/{id}/panic", post(inject_wallet_panic))
            .route("/test-hooks/wheel/panic", post(inject_wheel_panic))
            .route("/test-hooks/stock-ledger/panic", post(inject_stock_panic))
            .into()
    } else {
        r.into()
    }
}

fn audit(admin: &AdminUser, action: &str, target_type: &'static str, target_id: String) -> AuditEntry {
    AuditEntry {
        actor_kind: "admin",
        actor_id: admin.admin_id,
        actor_name: admin.username.clone(),
        action: action.to_string(),
        target_type,
        target_id,
        before: None,
        after: None,
        at: now_ms(),
    }
}

async fn users(State(state): State<AppState>, _admin: AdminUser, q: ApiQuery) -> Answer<Value> {
    let page = q.page()?;
    let search = q.get("q").map(|s| clean_text("q", s, 1, 64)).transpose()?;
    let (rows, total) = state.store.search_users(search.as_deref(), page).await?;
    let users: Vec<Value> = rows
        .iter()
        .map(|u| {
            json!({
                "user_id": u.id,
                "mobile": mask_phone(&u.phone),
                "nickname": u.nickname,
                "avatar": u.avatar,
                "total_points": u.points,
                "is_merchant": u.is_merchant,
                "is_banned": u.is_banned,
                "created_at": iso(u.created_at),
                "last_login": iso_opt(u.last_login),
            })
        })
        .collect();
    Ok(ok(json!({ "users": users, "pagination": page.of(total) })))
}

#[derive(Deserialize)]
struct Adjust {
    delta: Option<i64>,
    reason: Option<String>,
    request_id: Option<String>,
}

async fn adjust_points(
    State(state): State<AppState>,
    admin: AdminUser,
    ApiPath(user_id): ApiPath<i64>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Adjust>,
) -> Answer<Value> {
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
    Ok(ok(json!({
        "user_id": c.user_id,
        "record_id": c.record_id,
        "change_points": c.delta,
        "total_points": c.balance_after,
        "replayed": outcome.replayed,
    })))
}

#[derive(Deserialize)]
struct Ban {
    banned: Option<bool>,
}

async fn ban(
    State(state): State<AppState>,
    admin: AdminUser,
    ApiPath(user_id): ApiPath<i64>,
    ApiJson(body): ApiJson<Ban>,
) -> Answer<Value> {
    let banned = body.banned.ok_or_else(|| ApiError::bad("banned", "is required (true or false)"))?;
    let action = if banned { "user.ban" } else { "user.unban" };
    let entry = audit(&admin, action, "user", user_id.to_string());
    let before = state
        .store
        .set_user_flag(user_id, UserFlag::Banned, banned, entry)
        .await?
        .ok_or(ApiError::Refused(DomainError::NotFound("用户")))?;
    if banned {
        state.banned.insert(user_id);
    } else {
        state.banned.remove(&user_id);
    }
    Ok(ok(json!({ "user_id": user_id, "is_banned": banned, "was_banned": before })))
}

#[derive(Deserialize)]
struct Merchant {
    is_merchant: Option<bool>,
}

async fn merchant(
    State(state): State<AppState>,
    admin: AdminUser,
    ApiPath(user_id): ApiPath<i64>,
    ApiJson(body): ApiJson<Merchant>,
) -> Answer<Value> {
    let on = body.is_merchant.ok_or_else(|| ApiError::bad("is_merchant", "is required (true or false)"))?;
    let action = if on { "user.merchant.grant" } else { "user.merchant.revoke" };
    let entry = audit(&admin, action, "user", user_id.to_string());
    let before = state
        .store
        .set_user_flag(user_id, UserFlag::Merchant, on, entry)
        .await?
        .ok_or(ApiError::Refused(DomainError::NotFound("用户")))?;
    Ok(ok(json!({ "user_id": user_id, "is_merchant": on, "was_merchant": before })))
}

async fn audit_log(State(state): State<AppState>, _admin: AdminUser, q: ApiQuery) -> Answer<Value> {
    let page = q.page()?;
    let action = q.get("action").map(|a| clean_text("action", a, 1, 64)).transpose()?;
    let (rows, total) = state.store.audit_log(action.as_deref(), page).await?;
    let parse = |s: &Option<String>| s.as_deref().and_then(|s| serde_json::from_str::<Value>(s).ok());
    let entries: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "actor": { "kind": r.actor_kind, "id": r.actor_id, "name": r.actor_name },
                "action": r.action,
                "target_type": r.target_type,
                "target_id": r.target_id,
                "before": parse(&r.before),
                "after": parse(&r.after),
                "created_at": iso(r.created_at),
            })
        })
        .collect();
    Ok(ok(json!({ "entries": entries, "pagination": page.of(total) })))
}

async fn applications(State(state): State<AppState>, _admin: AdminUser, q: ApiQuery) -> Answer<Value> {
    let page = q.page()?;
    let status = q.one_of("status", &["pending", "approved", "rejected"])?;
    let (rows, total) = state.store.applications_page(status, page).await?;
    let list: Vec<Value> = rows
        .iter()
        .map(|a| {
            json!({
                "application_id": a.id,
                "user_id": a.user_id,
                "shop_name": a.shop_name,
                "contact": a.contact,
                "status": a.status,
                "created_at": iso(a.created_at),
                "reviewed_at": a.reviewed_at.and_then(iso_opt),
            })
        })
        .collect();
    Ok(ok(json!({ "applications": list, "pagination": page.of(total) })))
}

async fn decide_application(state: &AppState, admin: &AdminUser, id: i64, approve: bool) -> Answer<Value> {
    let action = if approve { "merchant_application.approve" } else { "merchant_application.reject" };
    let mut entry = audit(admin, action, "merchant_application", id.to_string());
    entry.before = Some(json!({ "status": "pending" }));
    entry.after = Some(json!({ "status": if approve { "approved" } else { "rejected" } }));
    match state.store.decide_application(id, approve, &entry).await? {
        ApplicationDecision::Done(user_id) => Ok(ok(json!({
            "application_id": id,
            "user_id": user_id,
            "status": if approve { "approved" } else { "rejected" },
            "is_merchant": approve,
        }))),
        ApplicationDecision::NotFound => Err(ApiError::Refused(DomainError::NotFound("申请"))),
        ApplicationDecision::AlreadyDecided(status) => {
            Err(DomainError::AlreadyReviewed { current_status: status }.into())
        }
    }
}

async fn approve_application(
    State(state): State<AppState>,
    admin: AdminUser,
    ApiPath(id): ApiPath<i64>,
) -> Answer<Value> {
    decide_application(&state, &admin, id, true).await
}

async fn reject_application(
    State(state): State<AppState>,
    admin: AdminUser,
    ApiPath(id): ApiPath<i64>,
) -> Answer<Value> {
    decide_application(&state, &admin, id, false).await
}

/// Test hook (the server must run with ENABLE_TEST_HOOKS, never in production): panics the
/// customer's wallet actor so supervision can be observed from outside.
async fn inject_wallet_panic(
    State(state): State<AppState>,
    _admin: AdminUser,
    ApiPath(user_id): ApiPath<i64>,
) -> Answer<Value> {
    state.wallets.inject_panic(user_id).await?;
    Ok(ok(json!({ "user_id": user_id, "injected": true })))
}

/// Test hook: panics the PrizeWheel actor (its supervisor restarts it from the store).
async fn inject_wheel_panic(State(state): State<AppState>, _admin: AdminUser) -> Answer<Value> {
    state.wheel.inject_panic()?;
    Ok(ok(json!({ "actor": "prize_wheel", "injected": true })))
}

/// Test hook: panics the StockLedger actor (its supervisor restarts it from the store).
async fn inject_stock_panic(State(state): State<AppState>, _admin: AdminUser) -> Answer<Value> {
    state.stock.inject_panic()?;
    Ok(ok(json!({ "actor": "stock_ledger", "injected": true })))
}
