//! `UserSession`: one actor per active customer, owning the wallet — balance, pity counter and
//! the recent idempotency keys. Every points change for that customer is a message here, so the
//! balance can never race with itself; each change commits (balance + ledger row, and the
//! idempotency record and audit entry when given) before the reply.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

use crate::domain::points::apply_delta;
use crate::domain::time::now_ms;
use crate::domain::{DomainError, PointsSource};
use crate::store::audit::AuditEntry;
use crate::store::ledger::{CommittedChange, PointsChangeWrite};
use crate::store::{Store, StoreError};

/// How many idempotency keys a wallet remembers in memory (the store remembers them all).
const RECENT_KEYS: usize = 64;

/// A requested change to a customer's points.
#[derive(Debug, Clone)]
pub struct PointsChange {
    pub delta: i64,
    pub source: PointsSource,
    pub description: String,
    pub related_id: Option<String>,
    pub idempotency_key: Option<String>,
    /// Recorded with the change; the wallet fills in the balances before and after.
    pub audit: Option<AuditEntry>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChangeOutcome {
    pub committed: CommittedChange,
    /// True when this answers a retry of an earlier request with the same key.
    pub replayed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalletSnapshot {
    pub user_id: i64,
    pub balance: i64,
    pub pity_count: i64,
}

pub enum UserSessionMessage {
    Snapshot(RpcReplyPort<Result<WalletSnapshot, DomainError>>),
    /// The flag is raised when the actor starts on the change, so a caller whose reply never came
    /// knows whether retrying could apply the change twice.
    Change(
        Box<PointsChange>,
        Arc<AtomicBool>,
        RpcReplyPort<Result<ChangeOutcome, DomainError>>,
    ),
    /// Periodic: stop when idle, so memory follows active users, not all users.
    IdleCheck,
    /// Test hook (only reachable when the server runs with test hooks): panic inside the actor.
    InjectPanic,
}

pub struct UserSession;

/// Called by a wallet just before it stops for idleness.
pub type OnIdle = Box<dyn Fn(&ActorRef<UserSessionMessage>) + Send + Sync>;

pub struct UserSessionArgs {
    pub user_id: i64,
    pub balance: i64,
    pub pity_count: i64,
    pub store: Store,
    pub idle_after: Duration,
    /// Called just before an idle stop, so the registry forgets this actor first.
    pub on_idle: OnIdle,
}

pub struct UserSessionState {
    user_id: i64,
    balance: i64,
    pity_count: i64,
    store: Store,
    /// Set after a store failure whose outcome is unknown: reload before the next change.
    stale: bool,
    recent_keys: HashMap<String, CommittedChange>,
    recent_order: VecDeque<String>,
    last_active: Instant,
    idle_after: Duration,
    on_idle: OnIdle,
}

impl Actor for UserSession {
    type Msg = UserSessionMessage;
    type State = UserSessionState;
    type Arguments = UserSessionArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: UserSessionArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let period = (args.idle_after / 2).max(Duration::from_millis(100));
        myself.send_interval(period, || UserSessionMessage::IdleCheck);
        Ok(UserSessionState {
            user_id: args.user_id,
            balance: args.balance,
            pity_count: args.pity_count,
            store: args.store,
            stale: false,
            recent_keys: HashMap::new(),
            recent_order: VecDeque::new(),
            last_active: Instant::now(),
            idle_after: args.idle_after,
            on_idle: args.on_idle,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            UserSessionMessage::Snapshot(reply) => {
                state.last_active = Instant::now();
                let result = state.refresh_if_stale().await.map(|_| state.snapshot());
                // A dropped reply port means the caller gave up; nothing to do about it.
                let _ = reply.send(result);
            }
            UserSessionMessage::Change(change, started, reply) => {
                started.store(true, Ordering::SeqCst);
                state.last_active = Instant::now();
                let result = state.apply(*change).await;
                let _ = reply.send(result);
            }
            UserSessionMessage::IdleCheck => {
                if state.last_active.elapsed() >= state.idle_after {
                    (state.on_idle)(&myself);
                    myself.stop(Some("idle".into()));
                }
            }
            UserSessionMessage::InjectPanic => {
                panic!(
                    "test hook: injected panic in the wallet of user {}",
                    state.user_id
                );
            }
        }
        Ok(())
    }
}

impl UserSessionState {
    fn snapshot(&self) -> WalletSnapshot {
        WalletSnapshot {
            user_id: self.user_id,
            balance: self.balance,
            pity_count: self.pity_count,
        }
    }

    async fn refresh_if_stale(&mut self) -> Result<(), DomainError> {
        if self.stale {
            let (balance, pity) = self
                .store
                .wallet(self.user_id)
                .await?
                .ok_or(DomainError::UserNotFound)?;
            self.balance = balance;
            self.pity_count = pity;
            self.stale = false;
        }
        Ok(())
    }

    async fn apply(&mut self, change: PointsChange) -> Result<ChangeOutcome, DomainError> {
        if change.delta == 0 {
            return Err(DomainError::invalid("delta", "must not be zero"));
        }
        self.refresh_if_stale().await?;
        if let Some(key) = &change.idempotency_key {
            if let Some(earlier) = self.earlier_result(key).await? {
                return Ok(ChangeOutcome {
                    committed: earlier,
                    replayed: true,
                });
            }
        }
        let Some(after) = apply_delta(self.balance, change.delta) else {
            return Err(DomainError::InsufficientPoints {
                required: -change.delta,
                current: self.balance,
            });
        };
        let audit = change.audit.map(|mut a| {
            a.before = Some(serde_json::json!({ "total_points": self.balance }));
            let mut after_state =
                serde_json::json!({ "total_points": after, "delta": change.delta });
            // The caller's own "after" fields (the admin's reason, say) are kept beside the balance.
            if let (Some(obj), Some(serde_json::Value::Object(extra))) =
                (after_state.as_object_mut(), a.after.take())
            {
                obj.extend(extra);
            }
            a.after = Some(after_state);
            a
        });
        let write = PointsChangeWrite {
            user_id: self.user_id,
            balance_before: self.balance,
            delta: change.delta,
            source: change.source,
            description: change.description,
            related_id: change.related_id,
            idempotency: change.idempotency_key.clone().map(|k| (k, "points_change")),
            audit,
            at: now_ms(),
        };
        match self.store.commit_points_change(&write).await {
            Ok(committed) => {
                self.balance = committed.balance_after;
                if let Some(key) = change.idempotency_key {
                    self.remember(key, committed.clone());
                }
                Ok(ChangeOutcome {
                    committed,
                    replayed: false,
                })
            }
            Err(e) if e.is_unique_violation() && change.idempotency_key.is_some() => {
                // Another path recorded this key first: its result is the answer.
                self.stale = true;
                let key = change.idempotency_key.unwrap_or_default();
                match self.earlier_result(&key).await? {
                    Some(earlier) => Ok(ChangeOutcome {
                        committed: earlier,
                        replayed: true,
                    }),
                    None => Err(DomainError::Internal("idempotency key vanished".into())),
                }
            }
            Err(e) => {
                // Unknown outcome (the commit may or may not have happened): trust only the store.
                self.stale = true;
                if !matches!(e, StoreError::Unavailable(_)) {
                    tracing::error!(user_id = self.user_id, error = %e, "points change failed");
                }
                Err(e.into())
            }
        }
    }

    async fn earlier_result(&mut self, key: &str) -> Result<Option<CommittedChange>, DomainError> {
        if let Some(c) = self.recent_keys.get(key) {
            return Ok(Some(c.clone()));
        }
        match self.store.idempotent_result(self.user_id, key).await? {
            None => Ok(None),
            Some((op, response)) if op == "points_change" => serde_json::from_str(&response)
                .map(Some)
                .map_err(|e| DomainError::Internal(format!("stored idempotent result: {e}"))),
            Some(_) => Err(DomainError::invalid(
                "Idempotency-Key",
                "already used for a different kind of request",
            )),
        }
    }

    fn remember(&mut self, key: String, committed: CommittedChange) {
        if self.recent_order.len() >= RECENT_KEYS {
            if let Some(old) = self.recent_order.pop_front() {
                self.recent_keys.remove(&old);
            }
        }
        self.recent_order.push_back(key.clone());
        self.recent_keys.insert(key, committed);
    }
}
