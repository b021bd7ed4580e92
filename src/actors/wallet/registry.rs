//! [`Wallets`]: finds a customer's wallet actor, spawning it from the store on demand, and
//! supervises them all.
//!
//! ```text
//!   Wallets::draw(user 42, request)
//!        │
//!        ▼
//!   slots: DashMap<user id, Arc<OnceCell<ActorRef>>>      one slot per customer with a wallet
//!        │  slot empty? ── get_or_try_init ──► spawn: read the user's row and today's draws,
//!        │  (one spawner per slot; the others       spawn_linked "wallet-{instance}-42" under
//!        │   wait on the same cell)                  the supervisor (ractor keeps names unique)
//!        ▼
//!   call(message, timeout) ──► WalletActor ── commit ──► reply
//!        │
//!        └─ no reply (the actor had stopped or died): forget the slot, then
//!             `started` not raised → the write never began: retry on a fresh actor (≤ 3 tries)
//!             `started` raised     → the outcome is unknown: answer a fault, never retry
//! ```
//!
//! A slot is emptied three ways: the wallet stops when idle (it removes itself first, through
//! `on_idle`), it panics (the supervisor removes it and counts a restart), or a caller finds it
//! dead. Every removal checks the actor id, so a newer wallet in the same slot is never dropped.
//! Spawning can meet the previous actor of the same customer still shutting down (its name is
//! taken): the slot is dropped and the spawn tried again a moment later. A fresh wallet reloads
//! from the store, which already holds every acknowledged change.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use ractor::rpc::CallResult;
use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};
use tokio::sync::OnceCell;

use crate::cluster::wire::{self, WalletCall, WalletDone};
use crate::cluster::{Cluster, Route};

use super::{
    ApprovalRequest, CampaignCounters, ChangeOutcome, CheckinOutcome, CheckinRequest, DrawOutcome, DrawRequest,
    FreezeOutcome, FreezeRequest, PointsChange, RedeemOutcome, RedeemRequest, Started, TaskClaimRequest, WalletActor,
    WalletArgs, WalletMessage, WalletSnapshot, WalletWrite,
};
use crate::actors::failure::{Failure, Reply};
use crate::actors::stock_ledger::StockHandle;
use crate::actors::wheels::Wheels;
use crate::domain::draw::DEFAULT_CAMPAIGN_ID;
use crate::domain::limits::DailyDraws;
use crate::domain::phone::mask_phone;
use crate::domain::time::now_ms;
use crate::domain::DomainError;
use crate::notify::Hub;
use crate::store::cluster::Claim;
use crate::store::group_commit::{DrawCommitter, RedemptionCommitter};
use crate::store::ledger::CommittedChange;
use crate::store::reviews::CommittedApproval;
use crate::store::Store;

/// How many times a caller looks for a live wallet before giving up.
const ATTEMPTS: usize = 3;

/// Cluster mode: how long a caller waits before each new look for the customer's wallet after
/// it was found moved, or on a node that did not answer (a node that died keeps its customers
/// until its lease expires; the client is then asked to try again).
const ROUTE_BACKOFF_MS: [u64; 4] = [0, 10, 50, 200];

/// What every wallet actor shares.
#[derive(Clone)]
pub struct WalletDeps {
    pub store: Store,
    pub hub: Hub,
    /// Every campaign's running wheel.
    pub wheels: Wheels,
    /// How long a won coupon can be used (`COUPON_VALID_DAYS`).
    pub coupon_valid_days: i64,
    pub stock: StockHandle,
    /// Draw batches and redemptions are written through group commit.
    pub draws: DrawCommitter,
    pub exchanges: RedemptionCommitter,
    pub draws_per_min: u32,
    pub default_daily_limit: i64,
    pub idle_after: Duration,
    /// Committed facts, for task progress and the leaderboards.
    pub events: crate::events::EventBus,
    pub loyalty: Arc<super::LoyaltyRules>,
    /// How long a caller waits for its wallet; the wallet skips work whose caller gave up.
    pub call_timeout: Duration,
    /// Cluster mode: this node's lease and the other nodes; `None` on a single node.
    pub cluster: Option<Cluster>,
}

type Slot = Arc<OnceCell<ActorRef<WalletMessage>>>;
type Slots = Arc<DashMap<i64, Slot>>;

/// Distinguishes actor names when several servers share one process (tests, benches).
static INSTANCES: AtomicU64 = AtomicU64::new(0);

#[derive(Clone)]
pub struct Wallets {
    inner: Arc<Registry>,
}

struct Registry {
    slots: Slots,
    deps: WalletDeps,
    supervisor: ActorRef<()>,
    instance: u64,
    restarts: Arc<AtomicU64>,
}

impl Wallets {
    pub async fn start(deps: WalletDeps) -> anyhow::Result<Wallets> {
        let instance = INSTANCES.fetch_add(1, Ordering::Relaxed);
        let slots: Slots = Arc::new(DashMap::new());
        let restarts = Arc::new(AtomicU64::new(0));
        let (supervisor, _) = Actor::spawn(
            Some(format!("wallets-{instance}")),
            WalletSupervisor,
            SupervisorState { slots: slots.clone(), instance, restarts: restarts.clone() },
        )
        .await?;
        Ok(Wallets { inner: Arc::new(Registry { slots, deps, supervisor, instance, restarts }) })
    }

    /// Wallet actors alive right now.
    pub fn active(&self) -> usize {
        self.inner.slots.len()
    }

    /// Wallet actors that failed and were dropped for a reload since start.
    pub fn restarts(&self) -> u64 {
        self.inner.restarts.load(Ordering::Relaxed)
    }

    pub async fn snapshot(&self, user_id: i64) -> Reply<WalletSnapshot> {
        if self.inner.deps.cluster.is_some() && !self.inner.slots.contains_key(&user_id) {
            // Every acknowledged change is in the store (write-through), so a read needs no
            // wallet here; and it must not take the customer from the node serving their writes
            // (a sign-in would otherwise pull every wallet to whichever node took the sign-ins).
            return self.snapshot_from_store(user_id).await;
        }
        self.routed(user_id, SnapshotCall).await
    }

    /// The wallet as a fresh actor would load it, without one (cluster mode reads).
    async fn snapshot_from_store(&self, user_id: i64) -> Reply<WalletSnapshot> {
        let store = &self.inner.deps.store;
        let user = store.user(user_id).await?.ok_or(DomainError::UserNotFound)?;
        let loyalty = store.loyalty_state(user_id).await?.ok_or(DomainError::UserNotFound)?;
        let last_checkin =
            store.last_checkin(user_id).await?.map(|(day, streak)| crate::domain::loyalty::LastCheckin { day, streak });
        Ok(WalletSnapshot {
            user_id,
            balance: user.points,
            pity_count: user.pity_count,
            frozen: loyalty.frozen,
            level: self.inner.deps.loyalty.levels().after_earning(loyalty.level, loyalty.lifetime_earned),
            lifetime_earned: loyalty.lifetime_earned,
            last_checkin,
        })
    }

    /// Applies a points change through the customer's wallet; answers after it committed.
    pub async fn change(&self, user_id: i64, change: PointsChange) -> Reply<ChangeOutcome> {
        self.routed(user_id, change).await
    }

    /// Runs a draw batch through the customer's wallet; answers after it committed.
    pub async fn draw(&self, user_id: i64, request: DrawRequest) -> Reply<DrawOutcome> {
        self.routed(user_id, request).await
    }

    /// Runs a shop redemption through the customer's wallet; answers after it committed.
    pub async fn redeem(&self, user_id: i64, request: RedeemRequest) -> Reply<RedeemOutcome> {
        self.routed(user_id, request).await
    }

    /// Credits an approved receipt through the customer's wallet, in one transaction with the
    /// upload's status change.
    pub async fn approve(&self, user_id: i64, request: ApprovalRequest) -> Reply<CommittedApproval> {
        self.routed(user_id, request).await
    }

    pub async fn check_in(&self, user_id: i64, request: CheckinRequest) -> Reply<CheckinOutcome> {
        self.routed(user_id, request).await
    }

    pub async fn claim_task(&self, user_id: i64, request: TaskClaimRequest) -> Reply<CommittedChange> {
        self.routed(user_id, request).await
    }

    pub async fn freeze(&self, user_id: i64, request: FreezeRequest) -> Reply<FreezeOutcome> {
        self.routed(user_id, request).await
    }

    /// Runs a call on the customer's wallet wherever it lives: here on a single node; in a
    /// cluster, here when this node holds (or can take) the customer, else on the node that
    /// does. A call found moved, or whose node did not answer, changed nothing and is routed
    /// again; any other answer is final.
    async fn routed<R: Routed>(&self, user_id: i64, call: R) -> Reply<R::Done> {
        let Some(cluster) = &self.inner.deps.cluster else {
            return call.here(self, user_id).await;
        };
        let mut why = String::new();
        for pause in ROUTE_BACKOFF_MS {
            if pause > 0 {
                tokio::time::sleep(Duration::from_millis(pause)).await;
            }
            if !cluster.lease_valid() {
                return Err(Failure::Elsewhere("this node's lease is not running".into()));
            }
            let had_wallet = self.inner.slots.contains_key(&user_id);
            let route = if had_wallet { Route::Here } else { cluster.route(user_id).await? };
            let result = match route {
                Route::Here => {
                    let result = call.clone().here(self, user_id).await;
                    if R::ON_BEHALF && !had_wallet {
                        // Taken only for an administrator's or merchant's change: let go, so the
                        // customer's own next request takes the wallet where it lands.
                        self.release(user_id);
                    }
                    result
                }
                Route::Node(node) => {
                    cluster.forward(&node, user_id, call.clone().into_call()).await.and_then(R::from_done)
                }
            };
            match result {
                Err(Failure::Elsewhere(e)) => {
                    cluster.forget_owner(user_id);
                    why = e;
                }
                other => return other,
            }
        }
        Err(Failure::Elsewhere(why))
    }

    /// A call another node forwarded here: run on this node's wallets only, never forwarded
    /// again (the caller routes anew when this node no longer holds the customer).
    pub async fn serve_forwarded(&self, user_id: i64, call: WalletCall) -> Reply<WalletDone> {
        if let Some(cluster) = &self.inner.deps.cluster {
            if !cluster.lease_valid() {
                return Err(Failure::Elsewhere("the owning node's lease is not running".into()));
            }
        }
        Ok(match call {
            WalletCall::Snapshot => WalletDone::Snapshot(self.snapshot_here(user_id).await?),
            WalletCall::Change(c) => WalletDone::Change(self.write(user_id, *c).await?),
            WalletCall::Draw(r) => WalletDone::Draw(self.write(user_id, r).await?),
            WalletCall::Redeem(r) => WalletDone::Redeem(self.write(user_id, r).await?),
            WalletCall::Approve(r) => WalletDone::Approve(self.write(user_id, r).await?),
            WalletCall::Checkin(r) => WalletDone::Checkin(self.write(user_id, r).await?),
            WalletCall::ClaimTask(r) => WalletDone::ClaimTask(self.write(user_id, r).await?),
            WalletCall::Freeze(r) => WalletDone::Freeze(self.write(user_id, r).await?),
        })
    }

    /// Stops every wallet of this node at once (its lease lapsed: other nodes may hold them now).
    pub fn drop_all(&self) {
        self.inner.slots.clear();
        self.inner.supervisor.stop_children(None);
    }

    async fn snapshot_here(&self, user_id: i64) -> Reply<WalletSnapshot> {
        for _ in 0..ATTEMPTS {
            let actor = self.actor(user_id).await?;
            match actor.call(WalletMessage::Snapshot, Some(self.inner.deps.call_timeout)).await {
                Ok(CallResult::Success(result)) => return result,
                Ok(CallResult::Timeout) => return Err(timeout(user_id)),
                // A read is always safe to retry on a fresh actor.
                Ok(CallResult::SenderError) | Err(_) => self.forget(user_id, &actor),
            }
        }
        Err(unavailable(user_id))
    }

    /// Sends a write to the customer's wallet and waits for its answer, retrying on a fresh actor
    /// only while the write cannot have begun (see the module's diagram).
    async fn write<W: WalletWrite>(&self, user_id: i64, write: W) -> Reply<W::Done> {
        let wait = Some(self.inner.deps.call_timeout);
        for _ in 0..ATTEMPTS {
            let actor = self.actor(user_id).await?;
            let started = Started::default();
            let message = |reply| write.clone().message(started.clone(), reply);
            match actor.call(message, wait).await {
                Ok(CallResult::Success(result)) => {
                    if matches!(result, Err(Failure::Elsewhere(_))) {
                        // Fenced out: the actor stops itself; the caller routes again.
                        self.forget(user_id, &actor);
                    }
                    return result;
                }
                Ok(CallResult::Timeout) => return Err(timeout(user_id)),
                Ok(CallResult::SenderError) | Err(_) => {
                    self.forget(user_id, &actor);
                    if started.is_raised() {
                        return Err(Failure::fault(format!("wallet {user_id} failed during {}", W::WHAT)));
                    }
                }
            }
        }
        Err(unavailable(user_id))
    }

    /// Test hook: makes the customer's wallet actor panic.
    pub async fn inject_panic(&self, user_id: i64) -> Reply<()> {
        let actor = self.actor(user_id).await?;
        actor.cast(WalletMessage::InjectPanic).map_err(|e| Failure::fault(e.to_string()))
    }

    /// Test hook: keeps the customer's wallet actor busy for `pause`.
    pub async fn block(&self, user_id: i64, pause: Duration) -> Reply<()> {
        let actor = self.actor(user_id).await?;
        actor.cast(WalletMessage::Block(pause)).map_err(|e| Failure::fault(e.to_string()))
    }

    /// Stops the customer's wallet here and lets go of the customer (cluster mode).
    fn release(&self, user_id: i64) {
        if let Some(actor) = self.inner.slots.get(&user_id).and_then(|s| s.get().cloned()) {
            let _ = actor.cast(WalletMessage::Release);
        }
    }

    /// Test hook: makes the customer's next write wait `pause` once it began.
    pub async fn hold_next_write(&self, user_id: i64, pause: Duration) -> Reply<()> {
        let actor = self.actor(user_id).await?;
        actor.cast(WalletMessage::HoldNextWrite(pause)).map_err(|e| Failure::fault(e.to_string()))
    }

    /// Stops every wallet actor and the supervisor (shutdown).
    pub fn stop(&self) {
        self.inner.supervisor.stop_children(None);
        self.inner.supervisor.stop(None);
    }

    async fn actor(&self, user_id: i64) -> Reply<ActorRef<WalletMessage>> {
        for _ in 0..ATTEMPTS {
            // Most requests find a live slot: a read lock, not the shard's write lock.
            let existing = self.inner.slots.get(&user_id).map(|s| s.clone());
            let slot = existing.unwrap_or_else(|| self.inner.slots.entry(user_id).or_default().clone());
            let spawned = slot.get_or_try_init(|| self.spawn(user_id)).await;
            let unborn = |_: &i64, s: &Slot| Arc::ptr_eq(s, &slot) && s.get().is_none();
            match spawned {
                Ok(actor) => return Ok(actor.clone()),
                Err(SpawnFailure::Failed(e)) => {
                    self.inner.slots.remove_if(&user_id, unborn);
                    return Err(e);
                }
                Err(SpawnFailure::NameTaken) => {
                    // The previous wallet of this customer is still shutting down; give it a moment.
                    self.inner.slots.remove_if(&user_id, unborn);
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        }
        Err(Failure::fault(format!("could not start the wallet of user {user_id}")))
    }

    async fn spawn(&self, user_id: i64) -> Result<ActorRef<WalletMessage>, SpawnFailure> {
        let store = &self.inner.deps.store;
        let failed = |e: crate::store::StoreError| SpawnFailure::Failed(e.into());
        // In a cluster the wallet is taken before it is read, so the read sees every write of
        // the previous holder that can still commit (the take waits on their row locks).
        let claimed = match &self.inner.deps.cluster {
            None => None,
            Some(cluster) => match store.claim_wallet(user_id, cluster.node_id()).await.map_err(failed)? {
                Claim::Owned(fence) => Some(fence),
                Claim::Held(node) => {
                    let why = format!("the wallet of user {user_id} is held by node {node}");
                    cluster.found_owner(user_id, node);
                    return Err(SpawnFailure::Failed(Failure::Elsewhere(why)));
                }
                Claim::NoSuchUser => return Err(SpawnFailure::Failed(DomainError::UserNotFound.into())),
            },
        };
        let user =
            store.user(user_id).await.map_err(failed)?.ok_or(SpawnFailure::Failed(DomainError::UserNotFound.into()))?;
        let fence = match claimed {
            Some(fence) if fence != user.owner_fence => {
                return Err(SpawnFailure::Failed(Failure::Elsewhere(format!(
                    "the wallet of user {user_id} moved while it was loading"
                ))))
            }
            Some(fence) => fence,
            None => user.owner_fence,
        };
        let mut loyalty = store
            .loyalty_state(user_id)
            .await
            .map_err(failed)?
            .ok_or(SpawnFailure::Failed(DomainError::UserNotFound.into()))?;
        loyalty.level = self.inner.deps.loyalty.levels().after_earning(loyalty.level, loyalty.lifetime_earned);
        let last_checkin = store
            .last_checkin(user_id)
            .await
            .map_err(failed)?
            .map(|(day, streak)| crate::domain::loyalty::LastCheckin { day, streak });
        let (tz, now) = (&self.inner.deps.loyalty.tz, now_ms());
        let (drawn_today, next_nonce) =
            store.draw_counters(user_id, DEFAULT_CAMPAIGN_ID, tz.day_start(tz.day(now))).await.map_err(failed)?;
        let default_campaign = CampaignCounters {
            pity_count: user.pity_count,
            drawn_today: DailyDraws::new(tz, now, drawn_today),
            next_nonce,
        };
        let slots = self.inner.slots.clone();
        let release = self.inner.deps.cluster.is_some().then(|| store.clone());
        let args = WalletArgs {
            user_id,
            fence,
            balance: user.points,
            loyalty,
            last_checkin,
            display_name: mask_phone(&user.phone),
            default_campaign,
            deps: self.inner.deps.clone(),
            on_idle: Box::new(move |me| {
                forget(&slots, user_id, me.get_id());
                // Let go of the customer, so whichever node they reach next takes them there.
                if let Some(store) = release.clone() {
                    tokio::spawn(async move {
                        if let Err(e) = store.release_wallet(user_id, fence).await {
                            tracing::debug!(user_id, error = %e, "releasing an idle wallet failed; its fence stands");
                        }
                    });
                }
            }),
        };
        let name = actor_name(self.inner.instance, user_id);
        match Actor::spawn_linked(Some(name), WalletActor, args, self.inner.supervisor.get_cell()).await {
            Ok((actor, _)) => Ok(actor),
            Err(ractor::SpawnErr::ActorAlreadyRegistered(_)) => Err(SpawnFailure::NameTaken),
            Err(e) => Err(SpawnFailure::Failed(Failure::fault(format!("spawning wallet {user_id}: {e}")))),
        }
    }

    fn forget(&self, user_id: i64, actor: &ActorRef<WalletMessage>) {
        forget(&self.inner.slots, user_id, actor.get_id());
    }
}

/// Empties the customer's slot if it still holds the actor `id` (not a newer one).
fn forget(slots: &Slots, user_id: i64, id: ractor::ActorId) {
    slots.remove_if(&user_id, |_, s| s.get().is_some_and(|a| a.get_id() == id));
}

fn timeout(user_id: i64) -> Failure {
    Failure::TimedOut(format!("wallet {user_id} did not answer in time"))
}

fn unavailable(user_id: i64) -> Failure {
    Failure::fault(format!("wallet {user_id} could not be reached"))
}

enum SpawnFailure {
    Failed(Failure),
    NameTaken,
}

fn actor_name(instance: u64, user_id: i64) -> String {
    format!("wallet-{instance}-{user_id}")
}

fn user_of(name: &str, instance: u64) -> Option<i64> {
    name.strip_prefix(&format!("wallet-{instance}-"))?.parse().ok()
}

/// Supervises the wallet actors. Overrides ractor's default, which would stop the supervisor
/// (and with it every wallet) when one child fails.
struct WalletSupervisor;

struct SupervisorState {
    slots: Slots,
    instance: u64,
    restarts: Arc<AtomicU64>,
}

impl Actor for WalletSupervisor {
    type Msg = ();
    type State = SupervisorState;
    type Arguments = SupervisorState;

    async fn pre_start(&self, _: ActorRef<()>, state: SupervisorState) -> Result<SupervisorState, ActorProcessingErr> {
        Ok(state)
    }

    async fn handle_supervisor_evt(
        &self,
        _: ActorRef<()>,
        event: SupervisionEvent,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        let (cell, failure) = match &event {
            SupervisionEvent::ActorFailed(cell, err) => (cell, Some(err.to_string())),
            SupervisionEvent::ActorTerminated(cell, _, _) => (cell, None),
            _ => return Ok(()),
        };
        let Some(user_id) = cell.get_name().and_then(|n| user_of(&n, state.instance)) else {
            return Ok(());
        };
        forget(&state.slots, user_id, cell.get_id());
        if let Some(err) = failure {
            state.restarts.fetch_add(1, Ordering::Relaxed);
            tracing::error!(user_id, error = %err, "wallet actor failed; it will be reloaded from the store");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_user() {
        assert_eq!(user_of(&actor_name(3, 42), 3), Some(42));
        assert_eq!(user_of(&actor_name(3, 42), 4), None);
        assert_eq!(user_of("wallets-3", 3), None);
    }
}

/// A wallet call that can run on this node or be forwarded to the node owning the customer.
trait Routed: Clone + Send + Sync + 'static {
    type Done: Send + 'static;
    /// Made by an administrator or a merchant for the customer (not by the customer): a node
    /// that takes the wallet only for it lets go afterwards.
    const ON_BEHALF: bool = false;
    fn into_call(self) -> WalletCall;
    fn from_done(done: WalletDone) -> Reply<Self::Done>;
    fn here(self, wallets: &Wallets, user_id: i64) -> impl std::future::Future<Output = Reply<Self::Done>> + Send;
}

/// A read of the wallet's balance and counters.
#[derive(Clone, Copy)]
struct SnapshotCall;

impl Routed for SnapshotCall {
    type Done = WalletSnapshot;

    fn into_call(self) -> WalletCall {
        WalletCall::Snapshot
    }

    fn from_done(done: WalletDone) -> Reply<WalletSnapshot> {
        match done {
            WalletDone::Snapshot(s) => Ok(s),
            _ => Err(wire::mismatched()),
        }
    }

    async fn here(self, wallets: &Wallets, user_id: i64) -> Reply<WalletSnapshot> {
        wallets.snapshot_here(user_id).await
    }
}

/// Each write travels as the [`WalletCall`] variant of its name and comes back as the
/// [`WalletDone`] one.
macro_rules! routed_writes {
    ($($request:ty => $variant:ident $(, $behalf:ident)?;)+) => {$(
        impl Routed for $request {
            type Done = <$request as WalletWrite>::Done;
            // `on_behalf` after a request marks it (see `Routed::ON_BEHALF`).
            $(const ON_BEHALF: bool = stringify!($behalf).len() > 0;)?

            fn into_call(self) -> WalletCall {
                WalletCall::$variant(self)
            }

            fn from_done(done: WalletDone) -> Reply<Self::Done> {
                match done {
                    WalletDone::$variant(d) => Ok(d),
                    _ => Err(wire::mismatched()),
                }
            }

            async fn here(self, wallets: &Wallets, user_id: i64) -> Reply<Self::Done> {
                wallets.write(user_id, self).await
            }
        }
    )+};
}

impl Routed for PointsChange {
    type Done = ChangeOutcome;
    const ON_BEHALF: bool = true;

    fn into_call(self) -> WalletCall {
        WalletCall::Change(Box::new(self))
    }

    fn from_done(done: WalletDone) -> Reply<ChangeOutcome> {
        match done {
            WalletDone::Change(d) => Ok(d),
            _ => Err(wire::mismatched()),
        }
    }

    async fn here(self, wallets: &Wallets, user_id: i64) -> Reply<ChangeOutcome> {
        wallets.write(user_id, self).await
    }
}

routed_writes! {
    DrawRequest => Draw;
    RedeemRequest => Redeem;
    ApprovalRequest => Approve, on_behalf;
    CheckinRequest => Checkin;
    TaskClaimRequest => ClaimTask;
    FreezeRequest => Freeze, on_behalf;
}
