//! The loyalty writes of a wallet: the daily check-in, a task's reward, and an admin's freeze or
//! unfreeze; and what every earning does afterwards (experience, and a level-up written and
//! pushed once it committed). The wallet owns frozen points, the level and the experience beside
//! the balance, so a spend can never use frozen points and a level can never be raised twice.

use std::sync::{Arc, RwLock};

use serde_json::json;

use super::{Caller, WalletState};
use crate::actors::failure::Reply;
use crate::domain::loyalty::{check_in, month_start, multiply, BusinessTz, Checkin, LastCheckin, LevelTable};
use crate::domain::points::LedgerEntry;
use crate::domain::time::now_ms;
use crate::domain::DomainError;
use crate::events::Committed;
use crate::notify::event::LevelUp;
use crate::notify::ServerEvent;
use crate::store::audit::AuditEntry;
use crate::store::ledger::CommittedChange;
use crate::store::loyalty::{CreditRecord, CreditWrite, FreezeWrite};

/// The loyalty settings every wallet reads: the business time zone, the check-in base and the
/// level table (which admins edit while the server runs).
pub struct LoyaltyRules {
    pub tz: BusinessTz,
    pub checkin_base: i64,
    levels: RwLock<Arc<LevelTable>>,
}

impl LoyaltyRules {
    pub fn new(tz: BusinessTz, checkin_base: i64, levels: LevelTable) -> LoyaltyRules {
        LoyaltyRules { tz, checkin_base, levels: RwLock::new(Arc::new(levels)) }
    }

    pub fn levels(&self) -> Arc<LevelTable> {
        // A poisoned lock only means a writer panicked between two whole values.
        match self.levels.read() {
            Ok(l) => l.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// After the store saved a new table.
    pub fn set_levels(&self, table: LevelTable) {
        match self.levels.write() {
            Ok(mut l) => *l = Arc::new(table),
            Err(p) => *p.into_inner() = Arc::new(table),
        }
    }
}

/// A check-in at the caller's clock.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct CheckinRequest {
    pub now: i64,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct CheckinOutcome {
    pub checkin: Checkin,
    pub committed: CommittedChange,
}

/// The reward of a task the caller found completed in round `round_key`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TaskClaimRequest {
    pub task_key: String,
    pub name: String,
    pub points: i64,
    pub round_key: String,
}

/// An admin's freeze (`points` > 0) or unfreeze (`points` < 0).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct FreezeRequest {
    pub points: i64,
    pub reason: String,
    pub admin_id: i64,
    pub admin_name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FreezeOutcome {
    pub record_id: i64,
    pub total_points: i64,
    pub frozen_points: i64,
}

impl WalletState {
    pub(super) fn available(&self) -> i64 {
        self.balance - self.frozen
    }

    pub(super) async fn checkin(&mut self, req: CheckinRequest, caller: Caller<'_>) -> Reply<CheckinOutcome> {
        self.refresh_if_stale().await?;
        let rules = self.deps.loyalty.clone();
        let tz = &rules.tz;
        let today = tz.day(req.now);
        if self.last_checkin.is_some_and(|l| l.day >= today) {
            return Err(DomainError::AlreadyCheckedIn.into());
        }
        let month_before = self.deps.store.checkin_days(self.user_id, month_start(today), today).await?.len() as i64;
        let pct = rules.levels().get(self.level).multiplier_pct;
        let Some(c) = check_in(tz, req.now, self.last_checkin, month_before, rules.checkin_base, pct) else {
            return Err(DomainError::AlreadyCheckedIn.into());
        };
        let entry = LedgerEntry::Checkin { streak: c.streak, bonus: c.bonus };
        let write = CreditWrite {
            fence: self.fence,
            user_id: self.user_id,
            balance_before: self.balance,
            points: c.points + c.bonus,
            source: entry.source(),
            description: entry.description(),
            record: CreditRecord::Checkin { day: c.day, streak: c.streak, points: c.points, bonus: c.bonus },
            at: now_ms(),
        };
        caller.still_waiting(self.user_id)?;
        match self.deps.store.commit_credit(&write).await {
            Ok(committed) => {
                self.balance = committed.balance_after;
                self.last_checkin = Some(LastCheckin { day: c.day, streak: c.streak });
                self.tell_balance(committed.delta, entry.source(), write.description, committed.record_id.to_string());
                self.deps.events.publish(Committed::CheckedIn {
                    user_id: self.user_id,
                    streak: c.streak,
                    at: write.at,
                });
                self.earned(committed.delta, write.at).await;
                Ok(CheckinOutcome { checkin: c, committed })
            }
            Err(e) => {
                self.stale = true;
                if e.is_unique_violation() {
                    Err(DomainError::AlreadyCheckedIn.into())
                } else {
                    Err(e.into())
                }
            }
        }
    }

    pub(super) async fn claim_task(&mut self, req: TaskClaimRequest, caller: Caller<'_>) -> Reply<CommittedChange> {
        self.refresh_if_stale().await?;
        let entry = LedgerEntry::Task { name: &req.name };
        let write = CreditWrite {
            fence: self.fence,
            user_id: self.user_id,
            balance_before: self.balance,
            points: req.points,
            source: entry.source(),
            description: entry.description(),
            record: CreditRecord::TaskClaim { task_key: req.task_key.clone(), round_key: req.round_key.clone() },
            at: now_ms(),
        };
        caller.still_waiting(self.user_id)?;
        match self.deps.store.commit_credit(&write).await {
            Ok(committed) => {
                self.balance = committed.balance_after;
                self.tell_balance(committed.delta, entry.source(), write.description, committed.record_id.to_string());
                self.earned(committed.delta, write.at).await;
                Ok(committed)
            }
            Err(e) => {
                self.stale = true;
                if e.is_unique_violation() {
                    Err(DomainError::TaskClaimed.into())
                } else {
                    Err(e.into())
                }
            }
        }
    }

    pub(super) async fn freeze(&mut self, req: FreezeRequest, caller: Caller<'_>) -> Reply<FreezeOutcome> {
        self.refresh_if_stale().await?;
        if req.points == 0 {
            return Err(DomainError::invalid("points", "must be a positive integer").into());
        }
        if req.points > self.available() {
            return Err(DomainError::invalid(
                "points",
                format!("only {} points are available to freeze", self.available()),
            )
            .into());
        }
        if -req.points > self.frozen {
            return Err(DomainError::invalid("points", format!("only {} points are frozen", self.frozen)).into());
        }
        let at = now_ms();
        let frozen_after = self.frozen + req.points;
        let action = if req.points > 0 { "user.points.freeze" } else { "user.points.unfreeze" };
        let write = FreezeWrite {
            fence: self.fence,
            user_id: self.user_id,
            frozen_before: self.frozen,
            points: req.points,
            reason: req.reason.clone(),
            admin_id: req.admin_id,
            admin_name: req.admin_name.clone(),
            audit: AuditEntry {
                actor_kind: "admin".into(),
                actor_id: req.admin_id,
                actor_name: req.admin_name,
                action: action.into(),
                target_type: "user".into(),
                target_id: self.user_id.to_string(),
                before: Some(json!({ "total_points": self.balance, "frozen_points": self.frozen })),
                after: Some(
                    json!({ "total_points": self.balance, "frozen_points": frozen_after, "reason": req.reason }),
                ),
                at,
            },
            at,
        };
        caller.still_waiting(self.user_id)?;
        match self.deps.store.commit_freeze(&write).await {
            Ok(record_id) => {
                self.frozen = frozen_after;
                Ok(FreezeOutcome { record_id, total_points: self.balance, frozen_points: self.frozen })
            }
            Err(e) => {
                self.stale = true;
                Err(e.into())
            }
        }
    }

    /// A receipt's points at the customer's level, after the receipt clamp.
    pub(super) fn at_level(&self, points: i64) -> i64 {
        multiply(points, self.deps.loyalty.levels().get(self.level).multiplier_pct)
    }

    /// After an earning committed: experience grows, the leaderboards hear of it, and a level
    /// reached is written and then pushed. Levels never go down.
    pub(super) async fn earned(&mut self, points: i64, at: i64) {
        if points <= 0 {
            return;
        }
        self.deps.events.publish(Committed::Earned { user_id: self.user_id, points, at });
        self.lifetime_earned += points;
        let levels = self.deps.loyalty.levels();
        let reached = levels.after_earning(self.level, self.lifetime_earned);
        if reached <= self.level {
            return;
        }
        match self.deps.store.raise_level(self.user_id, reached).await {
            Ok(()) => {
                self.level = reached;
                let l = levels.get(reached);
                self.deps.hub.to_user(
                    self.user_id,
                    ServerEvent::LevelUp(LevelUp {
                        level: l.level,
                        name: l.name.clone(),
                        multiplier: l.multiplier_pct as f64 / 100.0,
                    }),
                );
            }
            // The level is derived again from the experience on the next earning or reload.
            Err(e) => tracing::warn!(user_id = self.user_id, error = %e, "could not write a level-up"),
        }
    }
}
