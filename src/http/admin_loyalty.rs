//! `/api/admin` (admin token required), loyalty: the level table, task rewards, freezing a
//! customer's points, and the operator's analytics. Every change is audited in the same
//! transaction as the change itself; a freeze goes through the customer's wallet, which owns
//! the frozen points.

use std::collections::BTreeMap;

use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::envelope::{ok, Answer, Envelope, Timestamp};
use super::error::ApiError;
use super::extract::{clean_text, AdminUser, ApiJson, ApiPath, ApiQuery};
use super::AppState;
use crate::actors::wallet::FreezeRequest;
use crate::domain::loyalty::{month_start, week_start, Level, LevelTable, Period, TaskPeriod};
use crate::domain::page::{Page, PageParams};
use crate::domain::time::now_ms;
use crate::domain::DomainError;
use crate::store::audit::AuditEntry;

/// The largest single freeze or unfreeze.
const MAX_FREEZE: i64 = 100_000_000;
/// The longest analytics range, in days.
const MAX_RANGE_DAYS: i64 = 366;
/// The largest task reward.
const MAX_TASK_POINTS: i64 = 1_000_000;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(levels, save_levels))
        .routes(routes!(task_rewards))
        .routes(routes!(save_task_reward))
        .routes(routes!(freeze))
        .routes(routes!(unfreeze))
        .routes(routes!(freezes))
        .routes(routes!(overview))
        .routes(routes!(points_flow))
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

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LevelRow {
    /// 1, 2, 3 … without gaps.
    pub level: i64,
    #[schema(example = "白银会员")]
    pub name: String,
    /// The experience at which the level starts; level 1 starts at 0.
    pub experience: i64,
    /// The earning multiplier, 1.0–10.0 (kept to two decimals).
    #[schema(example = 1.1)]
    pub multiplier: f64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Levels {
    pub levels: Vec<LevelRow>,
}

fn levels_view(t: &LevelTable) -> Levels {
    Levels {
        levels: t
            .levels()
            .iter()
            .map(|l| LevelRow {
                level: l.level,
                name: l.name.clone(),
                experience: l.experience,
                multiplier: l.multiplier_pct as f64 / 100.0,
            })
            .collect(),
    }
}

/// The member levels
///
/// Errors: 2004
#[utoipa::path(get, path = "/levels", tag = "admin", security(("bearerAuth" = [])),
    responses((status = 200, description = "The level table", body = Envelope<Levels>)))]
async fn levels(State(state): State<AppState>, _admin: AdminUser) -> Answer<Levels> {
    Ok(ok(levels_view(&state.loyalty.levels())))
}

/// Replace the member levels
///
/// The whole table: levels numbered from 1, level 1 at 0 experience, thresholds strictly
/// increasing, multipliers 1.0–10.0. Customers keep the levels they hold (levels never go down);
/// higher thresholds apply to the next level-up. Audited.
///
/// Errors: 1003 1003/413 2004
#[utoipa::path(put, path = "/levels", tag = "admin", security(("bearerAuth" = [])),
    request_body = Levels,
    responses((status = 200, description = "The saved table", body = Envelope<Levels>)))]
async fn save_levels(
    State(state): State<AppState>,
    admin: AdminUser,
    ApiJson(body): ApiJson<Levels>,
) -> Answer<Levels> {
    let mut rows = Vec::with_capacity(body.levels.len());
    for l in body.levels {
        if !l.multiplier.is_finite() {
            return Err(ApiError::bad("levels", "multiplier must be a number"));
        }
        rows.push(Level {
            level: l.level,
            name: clean_text("levels", &l.name, 1, 32)?,
            experience: l.experience,
            multiplier_pct: (l.multiplier * 100.0).round() as i64,
        });
    }
    let table = LevelTable::new(rows).map_err(|reason| ApiError::bad("levels", reason))?;
    let before = levels_view(&state.loyalty.levels());
    let mut entry = audit(&admin, "levels.update", "levels", "all".into());
    entry.before = serde_json::to_value(&before).ok();
    entry.after = serde_json::to_value(levels_view(&table)).ok();
    state.store.save_level_table(&table, &entry).await?;
    state.loyalty.set_levels(table.clone());
    Ok(ok(levels_view(&table)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TaskReward {
    pub id: i64,
    pub key: String,
    pub name: String,
    pub description: String,
    pub period: TaskPeriod,
    pub target: i64,
    pub points: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TaskRewards {
    pub tasks: Vec<TaskReward>,
}

/// The tasks and their rewards
///
/// Errors: 2004
#[utoipa::path(get, path = "/tasks", tag = "admin", security(("bearerAuth" = [])),
    responses((status = 200, description = "Every built-in task", body = Envelope<TaskRewards>)))]
async fn task_rewards(State(state): State<AppState>, _admin: AdminUser) -> Answer<TaskRewards> {
    let tasks = state
        .store
        .tasks()
        .await?
        .into_iter()
        .map(|t| TaskReward {
            id: t.id,
            period: t.period(),
            key: t.task_key,
            name: t.name,
            description: t.description,
            target: t.target,
            points: t.points,
        })
        .collect();
    Ok(ok(TaskRewards { tasks }))
}

#[derive(Debug, Deserialize, ToSchema)]
struct NewReward {
    /// 1–1000000.
    #[schema(example = 30)]
    points: Option<i64>,
}

/// Change a task's reward
///
/// Claims made from now on credit the new reward. Audited.
///
/// Errors: 1003 1003/413 2004 7004
#[utoipa::path(put, path = "/tasks/{id}", tag = "admin", security(("bearerAuth" = [])),
    params(("id" = i64, Path, description = "The task")),
    request_body = NewReward,
    responses((status = 200, description = "The task with its new reward", body = Envelope<TaskRewards>)))]
async fn save_task_reward(
    State(state): State<AppState>,
    admin: AdminUser,
    ApiPath(task_id): ApiPath<i64>,
    ApiJson(body): ApiJson<NewReward>,
) -> Answer<TaskRewards> {
    let points = body.points.ok_or_else(|| ApiError::bad("points", "is required"))?;
    if !(1..=MAX_TASK_POINTS).contains(&points) {
        return Err(ApiError::bad("points", format!("must be between 1 and {MAX_TASK_POINTS}")));
    }
    let before = state.store.tasks().await?.into_iter().find(|t| t.id == task_id).ok_or(DomainError::TaskNotFound)?;
    let mut entry = audit(&admin, "task.reward.update", "task", task_id.to_string());
    entry.before = Some(json!({ "points": before.points }));
    entry.after = Some(json!({ "points": points }));
    if !state.store.set_task_points(task_id, points, &entry).await? {
        return Err(DomainError::TaskNotFound.into());
    }
    task_rewards(State(state), admin).await
}

#[derive(Debug, Deserialize, ToSchema)]
struct Freeze {
    /// A positive integer.
    #[schema(example = 500)]
    points: Option<i64>,
    /// Up to 200 characters.
    reason: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FreezeRecord {
    pub id: i64,
    pub user_id: i64,
    /// Positive for a freeze, negative for an unfreeze.
    pub points: i64,
    pub reason: String,
    /// The admin's username.
    pub admin: String,
    pub created_at: Timestamp,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Frozen {
    pub record: FreezeRecord,
    /// Unchanged by a freeze.
    pub total_points: i64,
    pub available_points: i64,
    pub frozen_points: i64,
}

async fn move_points(state: AppState, admin: AdminUser, user_id: i64, body: Freeze, sign: i64) -> Answer<Frozen> {
    let points = body.points.ok_or_else(|| ApiError::bad("points", "is required"))?;
    if !(1..=MAX_FREEZE).contains(&points) {
        return Err(ApiError::bad("points", format!("must be an integer between 1 and {MAX_FREEZE}")));
    }
    let reason = body.reason.as_deref().map(|r| clean_text("reason", r, 1, 200)).transpose()?.unwrap_or_default();
    let done = state
        .wallets
        .freeze(
            user_id,
            FreezeRequest {
                points: sign * points,
                reason: reason.clone(),
                admin_id: admin.admin_id,
                admin_name: admin.username.clone(),
            },
        )
        .await?;
    Ok(ok(Frozen {
        record: FreezeRecord {
            id: done.record_id,
            user_id,
            points: sign * points,
            reason,
            admin: admin.username,
            created_at: Timestamp(now_ms()),
        },
        total_points: done.total_points,
        available_points: done.total_points - done.frozen_points,
        frozen_points: done.frozen_points,
    }))
}

/// Freeze some of a customer's points
///
/// Moves points from available to frozen; `total_points` does not change and frozen points
/// cannot be spent. More than is available is 1003 naming `points`, and changes nothing. Audited,
/// and listed in the customer's freeze records.
///
/// Errors: 1003 1003/413 2004 9004
#[utoipa::path(post, path = "/users/{id}/freeze", tag = "admin", security(("bearerAuth" = [])),
    params(("id" = i64, Path, description = "The customer")),
    request_body = Freeze,
    responses((status = 200, description = "The freeze record and the account after it", body = Envelope<Frozen>)))]
async fn freeze(
    State(state): State<AppState>,
    admin: AdminUser,
    ApiPath(user_id): ApiPath<i64>,
    ApiJson(body): ApiJson<Freeze>,
) -> Answer<Frozen> {
    move_points(state, admin, user_id, body, 1).await
}

/// Unfreeze some of a customer's points
///
/// Moves points from frozen back to available. More than is frozen is 1003 naming `points`.
/// Audited.
///
/// Errors: 1003 1003/413 2004 9004
#[utoipa::path(post, path = "/users/{id}/unfreeze", tag = "admin", security(("bearerAuth" = [])),
    params(("id" = i64, Path, description = "The customer")),
    request_body = Freeze,
    responses((status = 200, description = "The unfreeze record and the account after it", body = Envelope<Frozen>)))]
async fn unfreeze(
    State(state): State<AppState>,
    admin: AdminUser,
    ApiPath(user_id): ApiPath<i64>,
    ApiJson(body): ApiJson<Freeze>,
) -> Answer<Frozen> {
    move_points(state, admin, user_id, body, -1).await
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FreezeRecords {
    pub freezes: Vec<FreezeRecord>,
    pub pagination: Page,
}

/// A customer's freeze records
///
/// Newest first.
///
/// Errors: 1003 2004 9004
#[utoipa::path(get, path = "/users/{id}/freezes", tag = "admin", security(("bearerAuth" = [])),
    params(("id" = i64, Path, description = "The customer"), PageParams),
    responses((status = 200, description = "Freezes and unfreezes", body = Envelope<FreezeRecords>)))]
async fn freezes(
    State(state): State<AppState>,
    _admin: AdminUser,
    ApiPath(user_id): ApiPath<i64>,
    q: ApiQuery,
) -> Answer<FreezeRecords> {
    let page = q.page()?;
    if state.store.user(user_id).await?.is_none() {
        return Err(DomainError::UserNotFound.into());
    }
    let (rows, total) = state.store.freezes(user_id, page).await?;
    Ok(ok(FreezeRecords {
        freezes: rows
            .into_iter()
            .map(|r| FreezeRecord {
                id: r.id,
                user_id: r.user_id,
                points: r.points,
                reason: r.reason,
                admin: r.admin_name,
                created_at: Timestamp(r.created_at),
            })
            .collect(),
        pagination: page.of(total),
    }))
}

/// `[first, last]` business days of `from`/`to` (inclusive; default the last 30 days).
fn date_range(state: &AppState, q: &ApiQuery) -> Result<(i64, i64), ApiError> {
    let tz = &state.loyalty.tz;
    let today = tz.day(now_ms());
    let day = |field: &str, default: i64| match q.get(field) {
        None => Ok(default),
        Some(text) => tz.parse_date(text.trim()).ok_or_else(|| ApiError::bad(field, "must be a date YYYY-MM-DD")),
    };
    let last = day("to", today)?;
    let first = day("from", last - 29)?;
    if first > last {
        return Err(ApiError::bad("from", "must not be after `to`"));
    }
    if last - first >= MAX_RANGE_DAYS {
        return Err(ApiError::bad("from", format!("the range is at most {MAX_RANGE_DAYS} days")));
    }
    Ok((first, last))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Receipts {
    pub approved: i64,
    pub rejected: i64,
    /// Points credited for approved receipts.
    pub points: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Overview {
    /// The first and last day (inclusive), YYYY-MM-DD in BUSINESS_TZ.
    pub from: String,
    pub to: String,
    pub new_users: i64,
    /// Customers with any ledger entry in the range.
    pub active_users: i64,
    pub draws: i64,
    /// Positive ledger entries by source.
    #[schema(value_type = Object, example = json!({"register": 1000, "checkin": 30}))]
    pub points_earned_by_source: BTreeMap<String, i64>,
    /// Debits by source (lottery, exchange, …), as positive numbers.
    #[schema(value_type = Object, example = json!({"lottery": 300}))]
    pub points_spent_by_use: BTreeMap<String, i64>,
    pub exchanges: i64,
    pub receipts: Receipts,
}

/// The operator's overview
///
/// From the ledger and the activity tables over `from`–`to` (dates in BUSINESS_TZ, inclusive;
/// default the last 30 days; at most 366 days).
///
/// Errors: 1003 2004
#[utoipa::path(get, path = "/analytics/overview", tag = "admin", security(("bearerAuth" = [])),
    params(
        ("from" = Option<String>, Query, description = "YYYY-MM-DD"),
        ("to" = Option<String>, Query, description = "YYYY-MM-DD"),
    ),
    responses((status = 200, description = "Totals over the range", body = Envelope<Overview>)))]
async fn overview(State(state): State<AppState>, _admin: AdminUser, q: ApiQuery) -> Answer<Overview> {
    let (first, last) = date_range(&state, &q)?;
    let tz = &state.loyalty.tz;
    let o = state.store.overview(tz.day_start(first), tz.day_start(last + 1)).await?;
    Ok(ok(Overview {
        from: tz.date(first),
        to: tz.date(last),
        new_users: o.new_users,
        active_users: o.active_users,
        draws: o.draws,
        points_earned_by_source: o.earned_by_source.into_iter().collect(),
        points_spent_by_use: o.spent_by_use.into_iter().collect(),
        exchanges: o.exchanges,
        receipts: Receipts { approved: o.receipts_approved, rejected: o.receipts_rejected, points: o.receipt_points },
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FlowPoint {
    /// The bucket's first day, YYYY-MM-DD in BUSINESS_TZ.
    pub date: String,
    /// Points earned (every source except admin adjustments and refunds).
    pub earned: i64,
    /// Points spent, as a positive number.
    pub spent: i64,
    /// earned − spent.
    pub net: i64,
    /// Customers with any ledger entry in the bucket.
    pub active_users: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PointsFlow {
    pub period: Period,
    pub series: Vec<FlowPoint>,
}

/// Points earned and spent over time
///
/// One point per day, week (from Monday) or month of `from`–`to` (dates in BUSINESS_TZ,
/// inclusive; default the last 30 days), every bucket present even when empty.
///
/// Errors: 1003 2004
#[utoipa::path(get, path = "/analytics/points-flow", tag = "admin", security(("bearerAuth" = [])),
    params(
        ("period" = Option<Period>, Query, description = "day (default), week or month"),
        ("from" = Option<String>, Query, description = "YYYY-MM-DD"),
        ("to" = Option<String>, Query, description = "YYYY-MM-DD"),
    ),
    responses((status = 200, description = "The series", body = Envelope<PointsFlow>)))]
async fn points_flow(State(state): State<AppState>, _admin: AdminUser, q: ApiQuery) -> Answer<PointsFlow> {
    let period = match q.get("period") {
        None => Period::Day,
        Some(p) => Period::parse(p).ok_or_else(|| ApiError::bad("period", "must be one of day, week, month"))?,
    };
    let (first, last) = date_range(&state, &q)?;
    let tz = &state.loyalty.tz;
    let (from, until) = (tz.day_start(first), tz.day_start(last + 1));
    let bucket_of = |day: i64| match period {
        Period::Day => day,
        Period::Week => week_start(day),
        Period::Month => month_start(day),
    };
    let mut buckets: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
    let mut day = first;
    while day <= last {
        buckets.entry(bucket_of(day)).or_default();
        day += 1;
    }
    let offset = tz.day_start(0).wrapping_neg();
    for (day, flow) in state.store.flow_by_day(from, until, offset).await? {
        let b = buckets.entry(bucket_of(day)).or_default();
        b.0 += flow.earned;
        b.1 += flow.spent;
    }
    let mut series = Vec::with_capacity(buckets.len());
    for (start, (earned, spent)) in buckets {
        let (_, end) = period.days(start);
        // The bucket, clipped to the range asked for.
        let active =
            state.store.active_users_between(tz.day_start(start).max(from), tz.day_start(end).min(until)).await?;
        series.push(FlowPoint { date: tz.date(start), earned, spent, net: earned - spent, active_users: active });
    }
    Ok(ok(PointsFlow { period, series }))
}
