//! `UserSession`: one actor per active customer, owning the wallet — balance, pity counter, the
//! per-customer draw limits and the recent idempotency keys. Every points change for that
//! customer is a message here, so the balance can never race with itself; each change commits
//! (balance + ledger rows, and the idempotency record and audit entry when given) before the
//! reply, and only then is it published to the customer's sockets.
//!
//! A draw is orchestrated here: limits, a spin on the PrizeWheel (which reserves limited
//! prizes), one transaction for the whole batch, then the reservation is settled.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

use rand::Rng;

use super::failure::{Failure, Reply};
use super::prize_wheel::{SpinRequest, WheelHandle};
use super::stock_ledger::{ReserveRequest, StockHandle};
use crate::domain::points::{apply_delta, LedgerEntry};
use crate::domain::time::now_ms;
use crate::domain::wheel::{is_notable_win, local_day, PrizeKind};
use crate::domain::{DomainError, PointsSource};
use crate::notify::event::{LotteryResult, PointsUpdate, WheelWin};
use crate::notify::{Hub, ServerEvent};
use crate::store::audit::AuditEntry;
use crate::store::group_commit::{DrawCommitter, ExchangeCommitter};
use crate::store::ledger::{CommittedChange, PointsChangeWrite};
use crate::store::reviews::{ApprovalWrite, CommittedApproval};
use crate::store::shop::{CommittedOrder, ExchangeWrite, EXCHANGE_OPERATION};
use crate::store::wheel::{CommittedBatch, DrawBatchWrite, DrawWrite, DRAW_OPERATION};
use crate::store::{Store, StoreError};

/// How many idempotency keys a wallet remembers in memory (the store remembers them all).
const RECENT_KEYS: usize = 64;
const CHANGE_OPERATION: &str = "points_change";
/// Redemption codes avoid characters that are easily confused when read out at the counter.
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// A result kept for a retried request.
#[derive(Debug, Clone)]
enum Remembered {
    Change(CommittedChange),
    Draw(CommittedBatch),
    Order(CommittedOrder),
}

fn key_reused() -> DomainError {
    DomainError::invalid("Idempotency-Key", "already used for a different kind of request")
}

/// A fresh redemption code for a won coupon or physical prize.
pub fn redemption_code() -> String {
    let mut rng = rand::rng();
    (0..10).map(|_| CODE_ALPHABET[rng.random_range(0..CODE_ALPHABET.len())] as char).collect()
}

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

/// A draw request: `count` spins paid as one batch.
#[derive(Debug, Clone)]
pub struct DrawRequest {
    pub count: usize,
    pub idempotency_key: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DrawOutcome {
    pub batch: CommittedBatch,
    pub replayed: bool,
}

/// A points-shop redemption.
#[derive(Debug, Clone)]
pub struct RedeemRequest {
    pub product_id: i64,
    pub quantity: i64,
    pub delivery_info: Option<String>,
    pub idempotency_key: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RedeemOutcome {
    pub order: CommittedOrder,
    pub replayed: bool,
}

/// A merchant's approval of a receipt, as the customer's wallet applies it.
#[derive(Debug, Clone)]
pub struct ApprovalRequest {
    pub upload_id: i64,
    pub points: i64,
    pub actual_amount_cents: i64,
    pub reviewer_id: i64,
    pub reason: Option<String>,
}

/// What every wallet actor shares.
#[derive(Clone)]
pub struct WalletDeps {
    pub store: Store,
    pub hub: Hub,
    pub wheel: WheelHandle,
    pub stock: StockHandle,
    /// Draw batches and redemptions are written through group commit.
    pub draws: DrawCommitter,
    pub exchanges: ExchangeCommitter,
    pub draws_per_min: u32,
    pub default_daily_limit: i64,
    pub idle_after: Duration,
}

pub enum UserSessionMessage {
    Snapshot(RpcReplyPort<Reply<WalletSnapshot>>),
    /// The flag is raised when the actor starts on the change, so a caller whose reply never came
    /// knows whether retrying could apply the change twice.
    Change(Box<PointsChange>, Arc<AtomicBool>, RpcReplyPort<Reply<ChangeOutcome>>),
    /// Same contract as `Change`, for a draw batch.
    Draw(DrawRequest, Arc<AtomicBool>, RpcReplyPort<Reply<DrawOutcome>>),
    /// Same contract as `Change`, for a shop redemption.
    Redeem(RedeemRequest, Arc<AtomicBool>, RpcReplyPort<Reply<RedeemOutcome>>),
    /// Same contract as `Change`: credit an approved receipt together with its status change.
    Approve(ApprovalRequest, Arc<AtomicBool>, RpcReplyPort<Reply<CommittedApproval>>),
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
    /// How the live ticker names this customer (masked phone).
    pub display_name: String,
    pub drawn_today: i64,
    pub deps: WalletDeps,
    /// Called just before an idle stop, so the registry forgets this actor first.
    pub on_idle: OnIdle,
}

pub struct UserSessionState {
    user_id: i64,
    balance: i64,
    pity_count: i64,
    display_name: String,
    /// (local day, draws made that day), for the daily cap.
    drawn_today: (i64, i64),
    /// When recent draw requests arrived, for the per-minute limit.
    recent_draws: VecDeque<Instant>,
    store: Store,
    deps: WalletDeps,
    /// Set after a store failure whose outcome is unknown: reload before the next change.
    stale: bool,
    recent_keys: HashMap<String, Remembered>,
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
        let period = (args.deps.idle_after / 2).max(Duration::from_millis(100));
        myself.send_interval(period, || UserSessionMessage::IdleCheck);
        Ok(UserSessionState {
            user_id: args.user_id,
            balance: args.balance,
            pity_count: args.pity_count,
            display_name: args.display_name,
            drawn_today: (local_day(now_ms()), args.drawn_today),
            recent_draws: VecDeque::new(),
            store: args.deps.store.clone(),
            idle_after: args.deps.idle_after,
            deps: args.deps,
            stale: false,
            recent_keys: HashMap::new(),
            recent_order: VecDeque::new(),
            last_active: Instant::now(),
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
            UserSessionMessage::Draw(request, started, reply) => {
                started.store(true, Ordering::SeqCst);
                state.last_active = Instant::now();
                let result = state.draw(request).await;
                let _ = reply.send(result);
            }
            UserSessionMessage::Redeem(request, started, reply) => {
                started.store(true, Ordering::SeqCst);
                state.last_active = Instant::now();
                let result = state.redeem(request).await;
                let _ = reply.send(result);
            }
            UserSessionMessage::Approve(request, started, reply) => {
                started.store(true, Ordering::SeqCst);
                state.last_active = Instant::now();
                let result = state.approve(request).await;
                let _ = reply.send(result);
            }
            UserSessionMessage::IdleCheck => {
                if state.last_active.elapsed() >= state.idle_after {
                    (state.on_idle)(&myself);
                    myself.stop(Some("idle".into()));
                }
            }
            UserSessionMessage::InjectPanic => {
                panic!("test hook: injected panic in the wallet of user {}", state.user_id);
            }
        }
        Ok(())
    }
}

impl UserSessionState {
    fn snapshot(&self) -> WalletSnapshot {
        WalletSnapshot { user_id: self.user_id, balance: self.balance, pity_count: self.pity_count }
    }

    async fn refresh_if_stale(&mut self) -> Reply<()> {
        if self.stale {
            let (balance, pity) = self.store.wallet(self.user_id).await?.ok_or(DomainError::UserNotFound)?;
            self.balance = balance;
            self.pity_count = pity;
            self.stale = false;
        }
        Ok(())
    }

    async fn apply(&mut self, change: PointsChange) -> Reply<ChangeOutcome> {
        if change.delta == 0 {
            return Err(DomainError::invalid("delta", "must not be zero").into());
        }
        self.refresh_if_stale().await?;
        if let Some(key) = &change.idempotency_key {
            if let Some(earlier) = self.earlier_result(key).await? {
                return Ok(ChangeOutcome { committed: earlier, replayed: true });
            }
        }
        let Some(after) = apply_delta(self.balance, change.delta) else {
            return Err(DomainError::InsufficientPoints { required: -change.delta, current: self.balance }.into());
        };
        let audit = change.audit.map(|mut a| {
            a.before = Some(serde_json::json!({ "total_points": self.balance }));
            let mut after_state = serde_json::json!({ "total_points": after, "delta": change.delta });
            // The caller's own "after" fields (the admin's reason, say) are kept beside the balance.
            if let (Some(obj), Some(serde_json::Value::Object(extra))) = (after_state.as_object_mut(), a.after.take()) {
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
            description: change.description.clone(),
            related_id: change.related_id,
            idempotency: change.idempotency_key.clone().map(|k| (k, CHANGE_OPERATION)),
            audit,
            at: now_ms(),
        };
        match self.store.commit_points_change(&write).await {
            Ok(committed) => {
                self.balance = committed.balance_after;
                if let Some(key) = change.idempotency_key {
                    self.remember(key, Remembered::Change(committed.clone()));
                }
                let operation_id = committed.record_id.to_string();
                self.tell_balance(committed.delta, change.source, change.description, operation_id);
                Ok(ChangeOutcome { committed, replayed: false })
            }
            Err(e) if e.is_unique_violation() && change.idempotency_key.is_some() => {
                // Another path recorded this key first: its result is the answer.
                self.stale = true;
                let key = change.idempotency_key.unwrap_or_default();
                match self.earlier_result(&key).await? {
                    Some(earlier) => Ok(ChangeOutcome { committed: earlier, replayed: true }),
                    None => Err(Failure::fault("idempotency key vanished")),
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

    async fn draw(&mut self, req: DrawRequest) -> Reply<DrawOutcome> {
        self.refresh_if_stale().await?;
        if let Some(key) = &req.idempotency_key {
            if let Some(batch) = self.earlier_draw(key).await? {
                return Ok(DrawOutcome { batch, replayed: true });
            }
        }
        let now = Instant::now();
        while self.recent_draws.front().is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(60)) {
            self.recent_draws.pop_front();
        }
        if self.recent_draws.len() >= self.deps.draws_per_min as usize {
            // The window frees a place when its oldest request turns a minute old.
            let oldest = self.recent_draws.front().copied().unwrap_or(now);
            let wait = Duration::from_secs(60).saturating_sub(now.duration_since(oldest));
            return Err(DomainError::DrawTooFrequent { retry_after_ms: wait.as_millis() as u64 }.into());
        }
        self.recent_draws.push_back(now);
        let today = local_day(now_ms());
        if self.drawn_today.0 != today {
            self.drawn_today = (today, 0);
        }
        let spun = self
            .deps
            .wheel
            .spin(SpinRequest {
                count: req.count,
                pity_count: self.pity_count,
                balance: self.balance,
                drawn_today: self.drawn_today.1,
                default_daily_limit: self.deps.default_daily_limit,
            })
            .await?;
        let write = DrawBatchWrite {
            user_id: self.user_id,
            batch_id: crate::auth::tokens::new_id(),
            balance_before: self.balance,
            cost_per_draw: spun.cost_per_draw,
            draws: spun
                .spins
                .iter()
                .map(|(sector, s)| DrawWrite {
                    prize: sector.clone(),
                    is_pity: s.is_pity,
                    is_near_miss: s.is_near_miss,
                    redemption_code: sector.kind.is_inventory().then(redemption_code),
                })
                .collect(),
            pity_before: self.pity_count,
            pity_after: spun.spins.last().map(|(_, s)| s.pity_after).unwrap_or(self.pity_count),
            pity_limit: spun.pity_limit,
            idempotency_key: req.idempotency_key.clone(),
            at: now_ms(),
        };
        match self.deps.draws.commit(write).await {
            Ok(batch) => {
                self.deps.wheel.settle(spun.reservation, true);
                self.balance = batch.balance_after;
                self.pity_count = batch.pity_count;
                self.drawn_today.1 += batch.draws.len() as i64;
                if let Some(key) = req.idempotency_key {
                    self.remember(key, Remembered::Draw(batch.clone()));
                }
                self.publish_draw(&batch);
                Ok(DrawOutcome { batch, replayed: false })
            }
            Err(e) => {
                self.deps.wheel.settle(spun.reservation, false);
                self.stale = true;
                if e.is_unique_violation() {
                    if let Some(key) = &req.idempotency_key {
                        if let Some(batch) = self.earlier_draw(key).await? {
                            return Ok(DrawOutcome { batch, replayed: true });
                        }
                    }
                }
                Err(Failure::from(e))
            }
        }
    }

    /// After a commit: the customer's sockets hear of the new balance, with the ledger's words.
    fn tell_balance(&self, change_points: i64, reason: PointsSource, description: String, operation_id: String) {
        self.deps.hub.to_user(
            self.user_id,
            ServerEvent::PointsUpdate(PointsUpdate {
                user_id: self.user_id,
                total_points: self.balance,
                change_points,
                reason,
                description,
                operation_id,
            }),
        );
    }

    /// After commit: the customer's own updates, and the ticker for everyone.
    fn publish_draw(&self, batch: &CommittedBatch) {
        let debit = LedgerEntry::Draws { count: batch.draws.len() as i64 };
        let net = batch.points_won - batch.points_cost;
        self.tell_balance(net, debit.source(), debit.description(), batch.batch_id.clone());
        let hub = &self.deps.hub;
        for d in &batch.draws {
            // The store wrote `prize_type` from a PrizeKind, so it reads back.
            let Some(kind) = PrizeKind::parse(&d.prize_type) else {
                tracing::error!(draw_id = d.draw_id, prize_type = %d.prize_type, "a committed draw has an unknown prize type");
                continue;
            };
            hub.to_user(
                self.user_id,
                ServerEvent::LotteryResult(LotteryResult {
                    draw_id: d.draw_id,
                    batch_id: batch.batch_id.clone(),
                    prize_id: d.prize_id,
                    prize_name: d.prize_name.clone(),
                    prize_type: kind,
                    prize_value: d.prize_value,
                    is_pity: d.is_pity,
                    remaining_points: batch.balance_after,
                }),
            );
            if is_notable_win(kind, d.prize_value, d.is_activity) {
                // A ticker: everyone sees the latest notable win at each flush, not every win.
                hub.broadcast_latest(ServerEvent::WheelWin(WheelWin {
                    masked_user: self.display_name.clone(),
                    prize_name: d.prize_name.clone(),
                    prize_type: kind,
                }));
            }
        }
    }

    async fn earlier_result(&mut self, key: &str) -> Reply<Option<CommittedChange>> {
        match self.remembered(key).await? {
            None => Ok(None),
            Some(Remembered::Change(c)) => Ok(Some(c)),
            Some(_) => Err(key_reused().into()),
        }
    }

    async fn earlier_draw(&mut self, key: &str) -> Reply<Option<CommittedBatch>> {
        match self.remembered(key).await? {
            None => Ok(None),
            Some(Remembered::Draw(b)) => Ok(Some(b)),
            Some(_) => Err(key_reused().into()),
        }
    }

    async fn earlier_order(&mut self, key: &str) -> Reply<Option<CommittedOrder>> {
        match self.remembered(key).await? {
            None => Ok(None),
            Some(Remembered::Order(o)) => Ok(Some(o)),
            Some(_) => Err(key_reused().into()),
        }
    }

    async fn redeem(&mut self, req: RedeemRequest) -> Reply<RedeemOutcome> {
        self.refresh_if_stale().await?;
        if let Some(key) = &req.idempotency_key {
            if let Some(order) = self.earlier_order(key).await? {
                return Ok(RedeemOutcome { order, replayed: true });
            }
        }
        let held = self
            .deps
            .stock
            .reserve(ReserveRequest { product_id: req.product_id, quantity: req.quantity, balance: self.balance })
            .await?;
        let write = ExchangeWrite {
            user_id: self.user_id,
            balance_before: self.balance,
            product_id: held.product_id,
            product_name: held.product_name.clone(),
            quantity: held.quantity,
            points_cost: held.unit_points * held.quantity,
            exchange_code: redemption_code(),
            delivery_info: req.delivery_info,
            idempotency_key: req.idempotency_key.clone(),
            at: now_ms(),
        };
        match self.deps.exchanges.commit(write).await {
            Ok(order) => {
                self.deps.stock.settle(held.reservation, true);
                self.balance = order.balance_after;
                if let Some(key) = req.idempotency_key {
                    self.remember(key, Remembered::Order(order.clone()));
                }
                let debit = LedgerEntry::Redemption { product: &order.product_name, quantity: order.quantity };
                self.tell_balance(-order.points_cost, debit.source(), debit.description(), order.order_id.to_string());
                Ok(RedeemOutcome { order, replayed: false })
            }
            Err(e) => {
                self.deps.stock.settle(held.reservation, false);
                self.stale = true;
                if e.is_unique_violation() {
                    if let Some(key) = &req.idempotency_key {
                        if let Some(order) = self.earlier_order(key).await? {
                            return Ok(RedeemOutcome { order, replayed: true });
                        }
                    }
                }
                Err(Failure::from(e))
            }
        }
    }

    async fn approve(&mut self, req: ApprovalRequest) -> Reply<CommittedApproval> {
        self.refresh_if_stale().await?;
        let write = ApprovalWrite {
            upload_id: req.upload_id,
            user_id: self.user_id,
            balance_before: self.balance,
            points: req.points,
            actual_amount_cents: req.actual_amount_cents,
            reviewer_id: req.reviewer_id,
            reason: req.reason,
            at: now_ms(),
        };
        match self.store.commit_approval(&write).await {
            Ok(done) => {
                self.balance = done.balance_after;
                let credit = LedgerEntry::ApprovedReceipt;
                self.tell_balance(done.points, credit.source(), credit.description(), done.upload_id.to_string());
                Ok(done)
            }
            Err(e) => {
                self.stale = true;
                Err(Failure::from(e))
            }
        }
    }

    /// The result of an earlier request with this key: from memory, else from the store.
    async fn remembered(&mut self, key: &str) -> Reply<Option<Remembered>> {
        if let Some(r) = self.recent_keys.get(key) {
            return Ok(Some(r.clone()));
        }
        let Some((op, response)) = self.store.idempotent_result(self.user_id, key).await? else {
            return Ok(None);
        };
        let parsed = match op.as_str() {
            CHANGE_OPERATION => serde_json::from_str(&response).map(Remembered::Change),
            DRAW_OPERATION => serde_json::from_str(&response).map(Remembered::Draw),
            EXCHANGE_OPERATION => serde_json::from_str(&response).map(Remembered::Order),
            _ => return Err(key_reused().into()),
        };
        parsed.map(Some).map_err(|e| Failure::caused_by("reading a stored idempotent result", e))
    }

    fn remember(&mut self, key: String, committed: Remembered) {
        if self.recent_order.len() >= RECENT_KEYS {
            if let Some(old) = self.recent_order.pop_front() {
                self.recent_keys.remove(&old);
            }
        }
        self.recent_order.push_back(key.clone());
        self.recent_keys.insert(key, committed);
    }
}
