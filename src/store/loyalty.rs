//! The loyalty tables: frozen points and their audited records, member levels, check-ins, tasks
//! and their claims, and the ledger reads behind the leaderboards and the operator's analytics.
//!
//! A check-in and a task claim are credits that commit in one transaction with their own row,
//! whose unique key (one check-in per customer per day, one claim per task round) makes a second
//! one impossible whatever the actors believe.

use std::collections::HashMap;

use sqlx::{FromRow, Row};

use super::audit::{self, AuditEntry};
use super::ledger::CommittedChange;
use super::{inserted_id, Backend, Store, StoreError, StoreResult};
use crate::domain::loyalty::{Level, LevelTable, TaskMeasure, TaskPeriod};
use crate::domain::PageRequest;
use crate::domain::PointsSource;

/// The SQL condition for "counts as earning" (`domain::loyalty::counts_as_earning`).
pub const EARNING: &str = "points > 0 AND source <> 'admin_adjust' AND source <> 'refund'";

/// The loyalty part of a wallet, as the store has it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoyaltyState {
    pub frozen: i64,
    pub level: i64,
    pub lifetime_earned: i64,
}

/// What a loyalty credit records beside its ledger row.
#[derive(Debug, Clone)]
pub enum CreditRecord {
    Checkin { day: i64, streak: i64, points: i64, bonus: i64 },
    TaskClaim { task_key: String, round_key: String },
}

/// A check-in or a task reward, as the wallet decided it.
#[derive(Debug, Clone)]
pub struct CreditWrite {
    pub user_id: i64,
    pub balance_before: i64,
    /// The fence of the wallet actor that made this write (`users.owner_fence` when it started):
    /// a wallet that lost its customer to another node can never commit.
    pub fence: i64,
    pub points: i64,
    pub source: PointsSource,
    pub description: String,
    pub record: CreditRecord,
    pub at: i64,
}

/// A freeze (positive) or unfreeze (negative).
#[derive(Debug, Clone)]
pub struct FreezeWrite {
    pub user_id: i64,
    pub frozen_before: i64,
    /// The fence of the wallet actor that made this write (`users.owner_fence` when it started):
    /// a wallet that lost its customer to another node can never commit.
    pub fence: i64,
    pub points: i64,
    pub reason: String,
    pub admin_id: i64,
    pub admin_name: String,
    pub audit: AuditEntry,
    pub at: i64,
}

#[derive(Debug, Clone, FromRow)]
pub struct FreezeRow {
    pub id: i64,
    pub user_id: i64,
    pub points: i64,
    pub reason: String,
    pub admin_id: i64,
    pub admin_name: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, FromRow)]
pub struct TaskRow {
    pub id: i64,
    pub task_key: String,
    pub name: String,
    pub description: String,
    pub period: String,
    pub target: i64,
    pub points: i64,
}

impl TaskRow {
    pub fn period(&self) -> TaskPeriod {
        TaskPeriod::parse(&self.period).unwrap_or(TaskPeriod::Once)
    }
}

/// One task round to measure for one customer ([`Store::task_progress`]).
#[derive(Debug, Clone, Copy)]
pub struct TaskProbe<'a> {
    pub measure: Option<TaskMeasure>,
    pub from: i64,
    pub until: i64,
    pub task_key: &'a str,
    pub round_key: &'a str,
}

/// How a customer shows on a leaderboard.
#[derive(Debug, Clone, FromRow)]
pub struct Standing {
    pub id: i64,
    pub phone: String,
    pub nickname: String,
    pub avatar: String,
    pub member_level: i64,
}

/// One period's earnings of one customer: the total and when it was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Earnings {
    pub user_id: i64,
    pub points: i64,
    pub reached_at: i64,
}

/// Points earned and spent on one day, for the points-flow chart.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DayFlow {
    pub earned: i64,
    pub spent: i64,
}

#[derive(Debug, Clone, Default)]
pub struct Overview {
    pub new_users: i64,
    pub active_users: i64,
    pub draws: i64,
    pub earned_by_source: Vec<(String, i64)>,
    pub spent_by_use: Vec<(String, i64)>,
    pub exchanges: i64,
    pub receipts_approved: i64,
    pub receipts_rejected: i64,
    pub receipt_points: i64,
}

impl Store {
    pub async fn loyalty_state(&self, user_id: i64) -> StoreResult<Option<LoyaltyState>> {
        let Some(row) = sqlx::query("SELECT frozen_points, member_level FROM users WHERE id = ?")
            .bind(user_id)
            .fetch_optional(self.pool())
            .await?
        else {
            return Ok(None);
        };
        let sql = format!(
            "SELECT CAST(COALESCE(SUM(points), 0) AS SIGNED) FROM points_records WHERE user_id = ? AND {EARNING}"
        );
        let lifetime_earned: i64 = sqlx::query_scalar(&sql).bind(user_id).fetch_one(self.pool()).await?;
        Ok(Some(LoyaltyState {
            frozen: row.try_get("frozen_points")?,
            level: row.try_get("member_level")?,
            lifetime_earned,
        }))
    }

    /// Credits a check-in or a task reward with its own row, in one transaction. A second
    /// check-in of the day or claim of the round fails with a unique violation and changes nothing.
    pub async fn commit_credit(&self, w: &CreditWrite) -> StoreResult<CommittedChange> {
        let balance_after = w.balance_before + w.points;
        let mut tx = self.begin_write().await?;
        let updated = sqlx::query(super::GUARDED_BALANCE_UPDATE)
            .bind(balance_after)
            .bind(w.at)
            .bind(w.user_id)
            .bind(w.balance_before)
            .bind(w.fence)
            .execute(tx.conn())
            .await?
            .rows_affected();
        if updated != 1 {
            return Err(StoreError::Conflict(format!(
                "user {} balance is not {} in the store",
                w.user_id, w.balance_before
            )));
        }
        let related = match &w.record {
            CreditRecord::Checkin { day, .. } => format!("checkin:{day}"),
            CreditRecord::TaskClaim { task_key, round_key } => format!("{task_key}:{round_key}"),
        };
        let result = sqlx::query(
            "INSERT INTO points_records (user_id, points, balance_after, source, description, related_id, idempotency_key, created_at) \
             VALUES (?, ?, ?, ?, ?, ?, NULL, ?)",
        )
        .bind(w.user_id)
        .bind(w.points)
        .bind(balance_after)
        .bind(w.source.as_str())
        .bind(w.description.clone())
        .bind(related)
        .bind(w.at)
        .execute(tx.conn())
        .await?;
        let record_id = inserted_id(&mut tx, result).await?;
        match &w.record {
            CreditRecord::Checkin { day, streak, points, bonus } => {
                sqlx::query(
                    "INSERT INTO checkins (user_id, day, streak, points, bonus, record_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                )
                .bind(w.user_id)
                .bind(*day)
                .bind(*streak)
                .bind(*points)
                .bind(*bonus)
                .bind(record_id)
                .bind(w.at)
                .execute(tx.conn())
                .await?;
            }
            CreditRecord::TaskClaim { task_key, round_key } => {
                sqlx::query(
                    "INSERT INTO task_claims (user_id, task_key, round_key, points, record_id, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                )
                .bind(w.user_id)
                .bind(task_key.clone())
                .bind(round_key.clone())
                .bind(w.points)
                .bind(record_id)
                .bind(w.at)
                .execute(tx.conn())
                .await?;
            }
        }
        tx.commit().await?;
        Ok(CommittedChange {
            record_id,
            user_id: w.user_id,
            delta: w.points,
            balance_after,
            source: w.source.as_str().to_string(),
        })
    }

    /// Raises a customer's level (never lowers it). Written by the wallet after an earning.
    /// On MySQL the one statement commits on its own (autocommit, durable when it returns): a
    /// transaction around it cost a `BEGIN` and a `COMMIT` round trip per level-up, about one per
    /// customer in a draw burst. SQLite's writes go through the write gate.
    pub async fn raise_level(&self, user_id: i64, level: i64) -> StoreResult<()> {
        let raise = sqlx::query("UPDATE users SET member_level = ? WHERE id = ? AND member_level < ?")
            .bind(level)
            .bind(user_id)
            .bind(level);
        match self.backend() {
            Backend::MySql => {
                raise.execute(self.pool()).await?;
                Ok(())
            }
            Backend::Sqlite => {
                let mut tx = self.begin_write().await?;
                raise.execute(tx.conn()).await?;
                tx.commit().await
            }
        }
    }

    /// Moves points between available and frozen; `points` never changes. Guarded by the frozen
    /// amount the wallet started from and by the balance, so frozen never exceeds the total.
    pub async fn commit_freeze(&self, w: &FreezeWrite) -> StoreResult<i64> {
        let frozen_after = w.frozen_before + w.points;
        let mut tx = self.begin_write().await?;
        let updated = sqlx::query(
            "UPDATE users SET frozen_points = ?, updated_at = ? WHERE id = ? AND frozen_points = ? AND points >= ? AND ? >= 0 AND owner_fence = ?",
        )
        .bind(frozen_after)
        .bind(w.at)
        .bind(w.user_id)
        .bind(w.frozen_before)
        .bind(frozen_after)
        .bind(frozen_after)
        .bind(w.fence)
        .execute(tx.conn())
        .await?
        .rows_affected();
        if updated != 1 {
            return Err(StoreError::Conflict(format!("user {} frozen points are not {}", w.user_id, w.frozen_before)));
        }
        let result = sqlx::query(
            "INSERT INTO point_freezes (user_id, points, reason, admin_id, admin_name, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(w.user_id)
        .bind(w.points)
        .bind(w.reason.clone())
        .bind(w.admin_id)
        .bind(w.admin_name.clone())
        .bind(w.at)
        .execute(tx.conn())
        .await?;
        let id = inserted_id(&mut tx, result).await?;
        audit::insert(&mut tx, &w.audit).await?;
        tx.commit().await?;
        Ok(id)
    }

    pub async fn freeze_record(&self, id: i64) -> StoreResult<Option<FreezeRow>> {
        Ok(sqlx::query_as(
            "SELECT id, user_id, points, reason, admin_id, admin_name, created_at FROM point_freezes WHERE id = ?",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?)
    }

    pub async fn freezes(&self, user_id: i64, page: PageRequest) -> StoreResult<(Vec<FreezeRow>, i64)> {
        let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM point_freezes WHERE user_id = ?")
            .bind(user_id)
            .fetch_one(self.pool())
            .await?;
        let rows = sqlx::query_as(
            "SELECT id, user_id, points, reason, admin_id, admin_name, created_at FROM point_freezes \
             WHERE user_id = ? ORDER BY id DESC LIMIT ? OFFSET ?",
        )
        .bind(user_id)
        .bind(page.limit)
        .bind(page.offset())
        .fetch_all(self.pool())
        .await?;
        Ok((rows, total))
    }

    /// The last check-in: `(day, streak)`.
    pub async fn last_checkin(&self, user_id: i64) -> StoreResult<Option<(i64, i64)>> {
        let row = sqlx::query("SELECT day, streak FROM checkins WHERE user_id = ? ORDER BY day DESC LIMIT 1")
            .bind(user_id)
            .fetch_optional(self.pool())
            .await?;
        Ok(match row {
            Some(r) => Some((r.try_get("day")?, r.try_get("streak")?)),
            None => None,
        })
    }

    /// The days in `[from, until)` on which the customer checked in, in order.
    pub async fn checkin_days(&self, user_id: i64, from: i64, until: i64) -> StoreResult<Vec<i64>> {
        Ok(sqlx::query_scalar("SELECT day FROM checkins WHERE user_id = ? AND day >= ? AND day < ? ORDER BY day")
            .bind(user_id)
            .bind(from)
            .bind(until)
            .fetch_all(self.pool())
            .await?)
    }

    pub async fn level_table(&self) -> StoreResult<LevelTable> {
        let levels: Vec<Level> =
            sqlx::query("SELECT level, name, experience, multiplier_pct FROM member_levels ORDER BY level")
                .fetch_all(self.pool())
                .await?
                .into_iter()
                .map(|r| -> Result<Level, sqlx::Error> {
                    Ok(Level {
                        level: r.try_get("level")?,
                        name: r.try_get("name")?,
                        experience: r.try_get("experience")?,
                        multiplier_pct: r.try_get("multiplier_pct")?,
                    })
                })
                .collect::<Result<_, sqlx::Error>>()?;
        // The migration seeds the table and saving validates it; an emptied table falls back.
        Ok(LevelTable::new(levels).unwrap_or_default())
    }

    pub async fn save_level_table(&self, table: &LevelTable, audit: &AuditEntry) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM member_levels").execute(tx.conn()).await?;
        for l in table.levels() {
            sqlx::query("INSERT INTO member_levels (level, name, experience, multiplier_pct) VALUES (?, ?, ?, ?)")
                .bind(l.level)
                .bind(l.name.clone())
                .bind(l.experience)
                .bind(l.multiplier_pct)
                .execute(tx.conn())
                .await?;
        }
        audit::insert(&mut tx, audit).await?;
        tx.commit().await
    }

    pub async fn tasks(&self) -> StoreResult<Vec<TaskRow>> {
        Ok(sqlx::query_as("SELECT id, task_key, name, description, period, target, points FROM tasks ORDER BY id")
            .fetch_all(self.pool())
            .await?)
    }

    pub async fn set_task_points(&self, id: i64, points: i64, audit: &AuditEntry) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let n = sqlx::query("UPDATE tasks SET points = ? WHERE id = ?")
            .bind(points)
            .bind(id)
            .execute(tx.conn())
            .await?
            .rows_affected();
        if n == 0 {
            return Ok(false);
        }
        audit::insert(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Several tasks' progress and claims in one statement (one round trip instead of one per
    /// task and one for the claims): for each probe, the measure's value in `[from, until)` and
    /// whether the round was claimed. Each value is a scalar subquery over the customer's own rows
    /// (draws made, orders placed, receipts approved, points spent on the wheel and in the shop,
    /// the longest check-in streak), read through the table's `user_id` index.
    pub async fn task_progress(&self, user_id: i64, probes: &[TaskProbe<'_>]) -> StoreResult<Vec<(i64, bool)>> {
        if probes.is_empty() {
            return Ok(Vec::new());
        }
        let mut sql = String::with_capacity(200 * probes.len());
        sql.push_str("SELECT ");
        for (i, p) in probes.iter().enumerate() {
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(match p.measure {
                // A task the server cannot measure (not a built-in key) never progresses.
                None => "CAST(0 AS SIGNED)",
                Some(TaskMeasure::Draws) => {
                    "(SELECT COUNT(*) FROM lottery_draws WHERE user_id = ? AND created_at >= ? AND created_at < ?)"
                }
                Some(TaskMeasure::Exchanges) => {
                    "(SELECT COUNT(*) FROM exchange_orders WHERE user_id = ? AND created_at >= ? AND created_at < ?)"
                }
                Some(TaskMeasure::ApprovedReceipts) => {
                    "(SELECT COUNT(*) FROM photo_uploads WHERE user_id = ? AND status = 'approved' \
                     AND reviewed_at >= ? AND reviewed_at < ?)"
                }
                Some(TaskMeasure::PointsSpent) => {
                    "(SELECT CAST(COALESCE(SUM(-points), 0) AS SIGNED) FROM points_records WHERE user_id = ? \
                     AND points < 0 AND source IN ('lottery', 'exchange') AND created_at >= ? AND created_at < ?)"
                }
                // The longest streak ever reached: a streak is not bounded by the task's round.
                Some(TaskMeasure::CheckinStreak) => "(SELECT COALESCE(MAX(streak), 0) FROM checkins WHERE user_id = ?)",
            });
            sql.push_str(", (SELECT COUNT(*) FROM task_claims WHERE user_id = ? AND task_key = ? AND round_key = ?)");
        }
        let mut q = sqlx::query(&sql);
        for p in probes {
            q = match p.measure {
                None => q,
                Some(TaskMeasure::CheckinStreak) => q.bind(user_id),
                Some(_) => q.bind(user_id).bind(p.from).bind(p.until),
            };
            q = q.bind(user_id).bind(p.task_key).bind(p.round_key);
        }
        let row = q.fetch_one(self.pool()).await?;
        (0..probes.len())
            .map(|i| {
                let value: i64 = row.try_get(2 * i)?;
                let claims: i64 = row.try_get(2 * i + 1)?;
                Ok((value, claims > 0))
            })
            .collect()
    }

    /// Every customer's earnings in `[from, until)`, for rebuilding a leaderboard at start.
    pub async fn earnings_between(&self, from: i64, until: i64) -> StoreResult<Vec<Earnings>> {
        let sql = format!(
            "SELECT user_id, CAST(SUM(points) AS SIGNED) AS earned, MAX(created_at) AS reached_at FROM points_records \
             WHERE created_at >= ? AND created_at < ? AND {EARNING} GROUP BY user_id"
        );
        let rows = sqlx::query(&sql).bind(from).bind(until).fetch_all(self.pool()).await?;
        rows.into_iter()
            .map(|r| {
                Ok(Earnings {
                    user_id: r.try_get("user_id")?,
                    points: r.try_get("earned")?,
                    reached_at: r.try_get("reached_at")?,
                })
            })
            .collect()
    }

    /// How the leaderboard shows these customers (primary-key lookups, never the ledger).
    pub async fn standings(&self, ids: &[i64]) -> StoreResult<HashMap<i64, Standing>> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let marks = vec!["?"; ids.len()].join(", ");
        let sql = format!("SELECT id, phone, nickname, avatar, member_level FROM users WHERE id IN ({marks})");
        let mut q = sqlx::query_as::<_, Standing>(&sql);
        for id in ids {
            q = q.bind(id);
        }
        Ok(q.fetch_all(self.pool()).await?.into_iter().map(|s| (s.id, s)).collect())
    }

    /// The operator's overview of `[from, until)`.
    pub async fn overview(&self, from: i64, until: i64) -> StoreResult<Overview> {
        let mut o = Overview::default();
        let count = |sql: &'static str| sqlx::query_scalar::<sqlx::Any, i64>(sql).bind(from).bind(until);
        o.new_users =
            count("SELECT COUNT(*) FROM users WHERE created_at >= ? AND created_at < ?").fetch_one(self.pool()).await?;
        o.active_users =
            count("SELECT COUNT(DISTINCT user_id) FROM points_records WHERE created_at >= ? AND created_at < ?")
                .fetch_one(self.pool())
                .await?;
        o.draws = count("SELECT COUNT(*) FROM lottery_draws WHERE created_at >= ? AND created_at < ?")
            .fetch_one(self.pool())
            .await?;
        o.exchanges = count("SELECT COUNT(*) FROM exchange_orders WHERE created_at >= ? AND created_at < ?")
            .fetch_one(self.pool())
            .await?;
        let rows = sqlx::query(
            "SELECT source, CAST(SUM(CASE WHEN points > 0 THEN points ELSE 0 END) AS SIGNED) AS earned, \
               CAST(SUM(CASE WHEN points < 0 THEN -points ELSE 0 END) AS SIGNED) AS spent \
             FROM points_records WHERE created_at >= ? AND created_at < ? GROUP BY source ORDER BY source",
        )
        .bind(from)
        .bind(until)
        .fetch_all(self.pool())
        .await?;
        for r in rows {
            let source: String = r.try_get("source")?;
            let earned: i64 = r.try_get("earned")?;
            let spent: i64 = r.try_get("spent")?;
            if earned > 0 {
                o.earned_by_source.push((source.clone(), earned));
            }
            if spent > 0 {
                o.spent_by_use.push((source, spent));
            }
        }
        let r = sqlx::query(
            "SELECT CAST(COALESCE(SUM(CASE WHEN status = 'approved' THEN 1 ELSE 0 END), 0) AS SIGNED) AS approved, \
               CAST(COALESCE(SUM(CASE WHEN status = 'rejected' THEN 1 ELSE 0 END), 0) AS SIGNED) AS rejected, \
               CAST(COALESCE(SUM(CASE WHEN status = 'approved' THEN points_awarded ELSE 0 END), 0) AS SIGNED) AS points \
             FROM photo_uploads WHERE reviewed_at >= ? AND reviewed_at < ?",
        )
        .bind(from)
        .bind(until)
        .fetch_one(self.pool())
        .await?;
        o.receipts_approved = r.try_get("approved")?;
        o.receipts_rejected = r.try_get("rejected")?;
        o.receipt_points = r.try_get("points")?;
        Ok(o)
    }

    /// Ledger rows of `[from, until)` by business day (`offset_ms` is BUSINESS_TZ's): earned
    /// and spent per day. Read from the covering time index.
    pub async fn flow_by_day(&self, from: i64, until: i64, offset_ms: i64) -> StoreResult<Vec<(i64, DayFlow)>> {
        let rows = sqlx::query(
            "SELECT CAST((created_at + ? - (created_at + ?) % 86400000) / 86400000 AS SIGNED) AS bucket, \
               CAST(SUM(CASE WHEN points > 0 AND source <> 'admin_adjust' AND source <> 'refund' THEN points ELSE 0 END) AS SIGNED) AS earned, \
               CAST(SUM(CASE WHEN points < 0 THEN -points ELSE 0 END) AS SIGNED) AS spent \
             FROM points_records WHERE created_at >= ? AND created_at < ? GROUP BY bucket ORDER BY bucket",
        )
        .bind(offset_ms)
        .bind(offset_ms)
        .bind(from)
        .bind(until)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|r| Ok((r.try_get("bucket")?, DayFlow { earned: r.try_get("earned")?, spent: r.try_get("spent")? })))
            .collect()
    }

    /// Distinct customers with a ledger row in `[from, until)`.
    pub async fn active_users_between(&self, from: i64, until: i64) -> StoreResult<i64> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(DISTINCT user_id) FROM points_records WHERE created_at >= ? AND created_at < ?",
        )
        .bind(from)
        .bind(until)
        .fetch_one(self.pool())
        .await?)
    }
}
