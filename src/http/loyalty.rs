//! The customer's loyalty endpoints: the points account (available, frozen, lifetime earned,
//! level), the daily check-in, tasks and their claims, and the leaderboards. Writes go to the
//! customer's wallet; progress is read from the store; standings from the in-memory leaderboard.

use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::avatar_url;
use super::envelope::{ok, Answer, Envelope, Timestamp};
use super::error::ApiError;
use super::extract::{ApiPath, ApiQuery, AuthUser};
use super::AppState;
use crate::actors::tasks;
use crate::actors::wallet::{CheckinRequest, TaskClaimRequest};
use crate::domain::loyalty::{
    current_streak, month_start, next_month_start, streak_reward, Period, TaskPeriod, TaskStatus,
};
use crate::domain::phone::mask_phone;
use crate::domain::time::now_ms;
use crate::domain::DomainError;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(account))
        .routes(routes!(leaderboard))
        .routes(routes!(check_in))
        .routes(routes!(checkin_status))
        .routes(routes!(task_list))
        .routes(routes!(claim))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LevelView {
    pub level: i64,
    #[schema(example = "普通会员")]
    pub name: String,
    /// Equals `lifetime_earned`.
    pub experience: i64,
    /// The next level's number; null at the top level.
    pub next_level: Option<i64>,
    /// The experience at which the next level starts; null at the top level.
    pub next_level_experience: Option<i64>,
    /// The earning multiplier applied to check-in and receipt points, e.g. 1.1.
    pub multiplier: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Account {
    /// available + frozen.
    pub total_points: i64,
    /// What can be spent.
    pub available_points: i64,
    /// Frozen by an admin; cannot be spent.
    pub frozen_points: i64,
    /// Every positive ledger entry except admin adjustments and refunds, the sign-up grant included.
    pub lifetime_earned: i64,
    pub level: LevelView,
}

/// The customer's points account
///
/// The live balance split into available and frozen points, the lifetime earnings, and the
/// member level with the next level's threshold.
///
/// Errors: 2005
#[utoipa::path(get, path = "/points/account", tag = "loyalty", security(("bearerAuth" = [])),
    responses((status = 200, description = "The account", body = Envelope<Account>)))]
async fn account(State(state): State<AppState>, auth: AuthUser) -> Answer<Account> {
    let w = state.wallets.snapshot(auth.user_id).await?;
    let levels = state.loyalty.levels();
    let level = levels.get(w.level);
    let next = levels.next(level.level);
    Ok(ok(Account {
        total_points: w.balance,
        available_points: w.balance - w.frozen,
        frozen_points: w.frozen,
        lifetime_earned: w.lifetime_earned,
        level: LevelView {
            level: level.level,
            name: level.name.clone(),
            experience: w.lifetime_earned,
            next_level: next.map(|n| n.level),
            next_level_experience: next.map(|n| n.experience),
            multiplier: level.multiplier_pct as f64 / 100.0,
        },
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CheckedIn {
    /// Consecutive days, this one included.
    pub streak: i64,
    /// Base × min(streak, 7) × the level multiplier, rounded down.
    pub points_awarded: i64,
    /// 200 on the 20th check-in of the month, else 0.
    pub bonus_points: i64,
    /// Check-ins this calendar month, this one included.
    pub month_count: i64,
    /// What tomorrow's check-in earns if the streak holds.
    pub next_reward: i64,
    /// The balance after the check-in.
    pub total_points: i64,
}

/// Check in for today
///
/// Once per calendar day in `BUSINESS_TZ`. Credits the streak reward (and the month's bonus on
/// the 20th check-in) as one ledger entry, source `checkin`.
///
/// Errors: 2005 7001
#[utoipa::path(post, path = "/checkin", tag = "loyalty", security(("bearerAuth" = [])),
    responses((status = 200, description = "Checked in", body = Envelope<CheckedIn>)))]
async fn check_in(State(state): State<AppState>, auth: AuthUser) -> Answer<CheckedIn> {
    let done = state.wallets.check_in(auth.user_id, CheckinRequest { now: now_ms() }).await?;
    let c = done.checkin;
    Ok(ok(CheckedIn {
        streak: c.streak,
        points_awarded: c.points,
        bonus_points: c.bonus,
        month_count: c.month_count,
        next_reward: c.next_reward,
        total_points: done.committed.balance_after,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CheckinStatus {
    pub checked_in_today: bool,
    /// The standing streak (0 once a day was missed).
    pub streak: i64,
    pub month_count: i64,
    /// The days of this month with a check-in.
    #[schema(example = json!(["2026-12-01", "2026-12-02"]))]
    pub days: Vec<String>,
    /// What the next check-in earns.
    pub next_reward: i64,
}

/// Today's check-in status
///
/// Errors: 2005
#[utoipa::path(get, path = "/checkin/status", tag = "loyalty", security(("bearerAuth" = [])),
    responses((status = 200, description = "The check-in calendar of this month", body = Envelope<CheckinStatus>)))]
async fn checkin_status(State(state): State<AppState>, auth: AuthUser) -> Answer<CheckinStatus> {
    let now = now_ms();
    let w = state.wallets.snapshot(auth.user_id).await?;
    let tz = &state.loyalty.tz;
    let today = tz.day(now);
    let days = state.store.checkin_days(auth.user_id, month_start(today), next_month_start(today)).await?;
    let streak = current_streak(tz, now, w.last_checkin);
    let checked_in_today = w.last_checkin.is_some_and(|l| l.day == today);
    let pct = state.loyalty.levels().get(w.level).multiplier_pct;
    let next_streak = if checked_in_today { streak } else { streak + 1 };
    Ok(ok(CheckinStatus {
        checked_in_today,
        streak,
        month_count: days.len() as i64,
        days: days.iter().map(|d| tz.date(*d)).collect(),
        next_reward: streak_reward(state.loyalty.checkin_base, next_streak, pct),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Task {
    pub id: i64,
    #[schema(example = "daily_draw")]
    pub key: String,
    pub name: String,
    pub description: String,
    pub period: TaskPeriod,
    pub target: i64,
    /// Capped at `target`.
    pub progress: i64,
    /// What claiming it credits.
    pub points: i64,
    pub status: TaskStatus,
    /// When the task starts over (null for a once-only task).
    pub resets_at: Option<Timestamp>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Tasks {
    pub tasks: Vec<Task>,
}

/// The customer's tasks
///
/// Progress counts what the server committed in the task's current round (daily and weekly
/// rounds reset at midnight and on Monday in `BUSINESS_TZ`).
///
/// Errors: 2005
#[utoipa::path(get, path = "/tasks", tag = "loyalty", security(("bearerAuth" = [])),
    responses((status = 200, description = "Every task with its progress", body = Envelope<Tasks>)))]
async fn task_list(State(state): State<AppState>, auth: AuthUser) -> Answer<Tasks> {
    let views = tasks::board(&state.store, &state.loyalty.tz, auth.user_id, now_ms()).await?;
    Ok(ok(Tasks {
        tasks: views
            .into_iter()
            .map(|v| Task {
                id: v.task.id,
                period: v.task.period(),
                key: v.task.task_key,
                name: v.task.name,
                description: v.task.description,
                target: v.task.target,
                progress: v.progress,
                points: v.task.points,
                status: v.status,
                resets_at: v.round.resets_at.map(Timestamp),
            })
            .collect(),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TaskClaimed {
    pub points_awarded: i64,
    /// The balance after the reward.
    pub total_points: i64,
}

/// Claim a completed task's reward
///
/// Credited once per task round (ledger source `task`).
///
/// Errors: 1003 2005 7002 7003 7004
#[utoipa::path(post, path = "/tasks/{id}/claim", tag = "loyalty", security(("bearerAuth" = [])),
    params(("id" = i64, Path, description = "The task")),
    responses((status = 200, description = "The reward was credited", body = Envelope<TaskClaimed>)))]
async fn claim(State(state): State<AppState>, auth: AuthUser, ApiPath(task_id): ApiPath<i64>) -> Answer<TaskClaimed> {
    let views = tasks::board(&state.store, &state.loyalty.tz, auth.user_id, now_ms()).await?;
    let view = views.into_iter().find(|v| v.task.id == task_id).ok_or(DomainError::TaskNotFound)?;
    match view.status {
        TaskStatus::Claimed => return Err(DomainError::TaskClaimed.into()),
        TaskStatus::InProgress => return Err(DomainError::TaskNotCompleted.into()),
        TaskStatus::Completed => {}
    }
    let committed = state
        .wallets
        .claim_task(
            auth.user_id,
            TaskClaimRequest {
                task_key: view.task.task_key,
                name: view.task.name,
                points: view.task.points,
                round_key: view.round.key,
            },
        )
        .await?;
    Ok(ok(TaskClaimed { points_awarded: committed.delta, total_points: committed.balance_after }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RankedUser {
    pub nickname: String,
    #[schema(example = "138****8000")]
    pub masked_mobile: String,
    pub avatar: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RankEntry {
    pub rank: i64,
    pub user: RankedUser,
    pub level: i64,
    pub points_earned: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MyRank {
    /// Null without earnings this period.
    pub rank: Option<i64>,
    pub points_earned: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Leaderboard {
    pub period: Period,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub entries: Vec<RankEntry>,
    pub me: MyRank,
}

/// The points leaderboard
///
/// Ranked by points earned in the period (`BUSINESS_TZ`, weeks from Monday) from every source
/// except admin adjustments and refunds; ties go to whoever reached the total first. Current
/// within a second of a commit; identities are masked.
///
/// Errors: 1003 2005
#[utoipa::path(get, path = "/points/leaderboard", tag = "loyalty", security(("bearerAuth" = [])),
    params(
        ("period" = Option<Period>, Query, description = "day, week (default) or month"),
        ("limit" = Option<i64>, Query, description = "1–100, default 50"),
    ),
    responses((status = 200, description = "The standings", body = Envelope<Leaderboard>)))]
async fn leaderboard(State(state): State<AppState>, auth: AuthUser, q: ApiQuery) -> Answer<Leaderboard> {
    let period = match q.get("period") {
        None => Period::Week,
        Some(p) => Period::parse(p).ok_or_else(|| ApiError::bad("period", "must be one of day, week, month"))?,
    };
    let limit = match q.get("limit") {
        None => 50,
        Some(raw) => match raw.trim().parse::<usize>() {
            Ok(n @ 1..=100) => n,
            _ => return Err(ApiError::bad("limit", "must be an integer between 1 and 100")),
        },
    };
    let now = now_ms();
    let (starts_at, ends_at, top, me) =
        state.leaderboard.read(period, now, |s| (s.starts_at, s.ends_at, s.top(limit), s.rank_of(auth.user_id)));
    let ids: Vec<i64> = top.iter().map(|(u, _)| *u).collect();
    let people = state.store.standings(&ids).await?;
    let mut entries = Vec::with_capacity(top.len());
    for (i, (user_id, points)) in top.into_iter().enumerate() {
        let p = people.get(&user_id);
        let avatar = match p {
            Some(p) => avatar_url(&state, &p.avatar).await,
            None => String::new(),
        };
        entries.push(RankEntry {
            rank: i as i64 + 1,
            user: RankedUser {
                nickname: p.map(|p| p.nickname.clone()).unwrap_or_default(),
                masked_mobile: p.map(|p| mask_phone(&p.phone)).unwrap_or_default(),
                avatar,
            },
            level: p.map(|p| p.member_level).unwrap_or(1),
            points_earned: points,
        });
    }
    Ok(ok(Leaderboard {
        period,
        starts_at: Timestamp(starts_at),
        ends_at: Timestamp(ends_at),
        entries,
        me: MyRank { rank: me.map(|(r, _)| r as i64), points_earned: me.map(|(_, p)| p).unwrap_or(0) },
    }))
}
