//! The **Wallet**: one actor per active customer, owning the balance, the pity counter, the
//! per-customer draw limits and the recent idempotency keys. Every points change for that
//! customer is a message here, so the balance can never race with itself; each change commits
//! (balance and ledger rows, and the idempotency record and audit entry when given) before the
//! reply, and only then is it published to the customer's sockets.
//!
//! - this file: the actor, its messages, and the one path every write takes through it;
//! - [`registry`]: [`Wallets`], which finds or spawns a customer's wallet, retries safely, and
//!   supervises;
//! - [`replay`]: idempotency, the answer to a request that was already made (every write with
//!   a key is looked up there first);
//! - `draw`, `redeem`, `change`: one orchestration each for a new request (a draw batch on the
//!   PrizeWheel, a redemption on the StockLedger, a direct change or a receipt approval);
//! - [`loyalty`]: check-ins, task rewards, freezes, and the level-up after every earning.

mod change;
mod draw;
pub mod loyalty;
mod redeem;
pub mod registry;
mod replay;

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use rand::Rng;

use super::failure::{caller_gone, Failure, Reply};
use crate::domain::draw::DEFAULT_CAMPAIGN_ID;
use crate::domain::limits::{DailyDraws, DrawWindow};
use crate::domain::loyalty::BusinessTz;
use crate::domain::loyalty::LastCheckin;
use crate::domain::time::now_ms;
use crate::domain::{DomainError, PointsSource};
use crate::notify::event::PointsUpdate;
use crate::notify::ServerEvent;
use crate::store::ledger::CommittedChange;
use crate::store::reviews::CommittedApproval;
use replay::RecentKeys;

pub use change::{ApprovalRequest, PointsChange};
pub use draw::DrawRequest;
pub use loyalty::{CheckinOutcome, CheckinRequest, FreezeOutcome, FreezeRequest, LoyaltyRules, TaskClaimRequest};
pub use redeem::RedeemRequest;
pub use registry::{WalletDeps, Wallets};
pub use replay::{ChangeOutcome, DrawOutcome, RedeemOutcome};

/// Redemption codes avoid characters that are easily confused when read out at the counter.
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
const CODE_LENGTH: usize = 10;

/// A fresh redemption code for a won coupon or physical prize, or a shop order.
fn redemption_code() -> String {
    let mut rng = rand::rng();
    (0..CODE_LENGTH).map(|_| CODE_ALPHABET[rng.random_range(0..CODE_ALPHABET.len())] as char).collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WalletSnapshot {
    pub user_id: i64,
    pub balance: i64,
    pub pity_count: i64,
    /// Part of `balance` that cannot be spent.
    pub frozen: i64,
    pub level: i64,
    /// Experience: every earning except admin adjustments and refunds.
    pub lifetime_earned: i64,
    /// The last check-in, for the streak.
    pub last_checkin: Option<LastCheckin>,
}

/// Raised by the wallet when it begins on a write. A caller whose reply never came (the actor
/// died) reads it to know whether retrying on a fresh actor could apply the write twice.
#[derive(Debug, Clone, Default)]
pub struct Started(Arc<AtomicBool>);

impl Started {
    fn raise(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    fn is_raised(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

pub enum WalletMessage {
    Snapshot(RpcReplyPort<Reply<WalletSnapshot>>),
    /// An administrator's (or any direct) change of the balance.
    Change(Box<PointsChange>, Started, RpcReplyPort<Reply<ChangeOutcome>>),
    /// A draw batch.
    Draw(DrawRequest, Started, RpcReplyPort<Reply<DrawOutcome>>),
    /// A shop redemption.
    Redeem(RedeemRequest, Started, RpcReplyPort<Reply<RedeemOutcome>>),
    /// The credit of an approved receipt, together with its status change.
    Approve(ApprovalRequest, Started, RpcReplyPort<Reply<CommittedApproval>>),
    Checkin(CheckinRequest, Started, RpcReplyPort<Reply<CheckinOutcome>>),
    ClaimTask(TaskClaimRequest, Started, RpcReplyPort<Reply<CommittedChange>>),
    Freeze(FreezeRequest, Started, RpcReplyPort<Reply<FreezeOutcome>>),
    /// Periodic: stop when idle, so memory follows active customers, not all customers.
    IdleCheck,
    /// Test hook (only reachable when the server runs with test hooks): panic inside the actor.
    InjectPanic,
    /// Test hook: keep the wallet busy, as a slow store would.
    Block(Duration),
    /// Test hook: the next write waits this long after it began (a process paused mid-write).
    HoldNextWrite(Duration),
    /// Cluster mode: stop now and let go of the customer (this node took them only to serve
    /// an administrator's or merchant's change).
    Release,
}

/// Whoever asked for the write being served: whether they still wait for the answer. A caller
/// that stopped waiting was answered "failed" and may retry, so the write must not pass a point
/// of no return (a reservation, a commit) for them.
#[derive(Clone, Copy)]
pub(crate) struct Caller<'a>(&'a (dyn Fn() -> bool + Sync));

impl Caller<'_> {
    fn still_waiting(&self, user_id: i64) -> Reply<()> {
        if (self.0)() {
            metrics::counter!("abandoned_requests_total", "actor" => "wallet").increment(1);
            return Err(Failure::TimedOut(format!("the caller of wallet {user_id} stopped waiting")));
        }
        Ok(())
    }
}

/// A request that changes the wallet. The four share one path through the actor ([`serve`]:
/// raise `started`, note the activity, run, reply) and one through the registry (its retry rule).
///
/// [`serve`]: WalletState::serve
pub(crate) trait WalletWrite: Clone + Send + 'static {
    type Done: Send + 'static;
    /// Names the write in the fault a caller gets when the wallet died during it.
    const WHAT: &'static str;
    fn message(self, started: Started, reply: RpcReplyPort<Reply<Self::Done>>) -> WalletMessage;
    fn run(self, wallet: &mut WalletState, caller: Caller<'_>) -> impl Future<Output = Reply<Self::Done>> + Send;
}

/// For each write: what it answers, its message (a request converts into the variant's payload,
/// which boxes the large one), what a fault calls it, and how it runs: a write that carries an
/// idempotency key is first looked up ([`WalletState::replay`]), and only a new one reaches its
/// orchestration.
macro_rules! wallet_writes {
    ($($request:ty => $done:ty, $variant:ident, $what:literal, $run:ident $(, replayed by $key:ident)?;)+) => {$(
        impl WalletWrite for $request {
            type Done = $done;
            const WHAT: &'static str = $what;

            fn message(self, started: Started, reply: RpcReplyPort<Reply<$done>>) -> WalletMessage {
                WalletMessage::$variant(self.into(), started, reply)
            }

            fn run(self, wallet: &mut WalletState, caller: Caller<'_>) -> impl Future<Output = Reply<$done>> + Send {
                async move {
                    $(if let Some(replayed) = wallet.replay(self.$key.as_deref()).await? {
                        return Ok(replayed);
                    })?
                    wallet.$run(self, caller).await
                }
            }
        }
    )+};
}

wallet_writes! {
    PointsChange => ChangeOutcome, Change, "a change", change, replayed by idempotency_key;
    DrawRequest => DrawOutcome, Draw, "a draw", draw, replayed by idempotency_key;
    RedeemRequest => RedeemOutcome, Redeem, "a redemption", redeem, replayed by idempotency_key;
    ApprovalRequest => CommittedApproval, Approve, "an approval", approve;
    CheckinRequest => CheckinOutcome, Checkin, "a check-in", checkin;
    TaskClaimRequest => CommittedChange, ClaimTask, "a task claim", claim_task;
    FreezeRequest => FreezeOutcome, Freeze, "a freeze", freeze;
}

pub struct WalletActor;

/// Called by a wallet just before it stops for idleness.
pub type OnIdle = Box<dyn Fn(&ActorRef<WalletMessage>) + Send + Sync>;

pub struct WalletArgs {
    pub user_id: i64,
    /// The fence this actor's writes carry (`users.owner_fence` as it took the customer).
    pub fence: i64,
    pub balance: i64,
    pub loyalty: crate::store::loyalty::LoyaltyState,
    pub last_checkin: Option<LastCheckin>,
    /// How the live ticker names this customer (masked phone).
    pub display_name: String,
    /// The customer's counters in the default campaign.
    pub default_campaign: CampaignCounters,
    pub deps: WalletDeps,
    /// Called just before an idle stop, so the registry forgets this actor first.
    pub on_idle: OnIdle,
}

/// A customer's standing in one campaign (API.md "Campaigns"): pity counter, daily draws and
/// the nonce of the next fair draw are all per campaign.
#[derive(Debug, Clone)]
pub struct CampaignCounters {
    pub pity_count: i64,
    pub drawn_today: DailyDraws,
    /// The nonce of the next draw (API.md "Fair draws"); the store's unique key on
    /// (campaign, user, nonce) refuses a reuse even if memory were wrong.
    pub next_nonce: i64,
}

impl CampaignCounters {
    /// Read from the store when the wallet first draws in the campaign.
    pub async fn load(
        store: &crate::store::Store,
        tz: &BusinessTz,
        user_id: i64,
        campaign_id: i64,
    ) -> Reply<CampaignCounters> {
        let now = now_ms();
        let (drawn_today, next_nonce) = store.draw_counters(user_id, campaign_id, tz.day_start(tz.day(now))).await?;
        let pity_count = store.campaign_pity(user_id, campaign_id).await?;
        Ok(CampaignCounters { pity_count, drawn_today: DailyDraws::new(tz, now, drawn_today), next_nonce })
    }
}

pub struct WalletState {
    user_id: i64,
    /// Every write is guarded by it: once another node takes the customer (raising the fence),
    /// nothing this actor writes can commit.
    fence: i64,
    /// Set when a write found the customer taken by another node: the actor stops.
    moved: bool,
    /// Test hook: how long the next write waits after it began.
    hold_next_write: Option<Duration>,
    balance: i64,
    frozen: i64,
    level: i64,
    lifetime_earned: i64,
    last_checkin: Option<LastCheckin>,
    display_name: String,
    /// The default campaign's counters, always loaded.
    default_campaign: CampaignCounters,
    /// Other campaigns' counters, loaded at the customer's first draw there.
    campaigns: HashMap<i64, CampaignCounters>,
    draw_window: DrawWindow,
    deps: WalletDeps,
    /// Set after a store failure whose outcome is unknown: reload before the next change.
    stale: bool,
    recent: RecentKeys,
    last_active: Instant,
    on_idle: OnIdle,
}

impl Actor for WalletActor {
    type Msg = WalletMessage;
    type State = WalletState;
    type Arguments = WalletArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<WalletMessage>,
        args: WalletArgs,
    ) -> Result<WalletState, ActorProcessingErr> {
        let period = (args.deps.idle_after / 2).max(Duration::from_millis(100));
        myself.send_interval(period, || WalletMessage::IdleCheck);
        Ok(WalletState {
            user_id: args.user_id,
            fence: args.fence,
            moved: false,
            hold_next_write: None,
            balance: args.balance,
            frozen: args.loyalty.frozen,
            level: args.loyalty.level,
            lifetime_earned: args.loyalty.lifetime_earned,
            last_checkin: args.last_checkin,
            display_name: args.display_name,
            default_campaign: args.default_campaign,
            campaigns: HashMap::new(),
            draw_window: DrawWindow::new(args.deps.draws_per_min),
            deps: args.deps,
            stale: false,
            recent: RecentKeys::default(),
            last_active: Instant::now(),
            on_idle: args.on_idle,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<WalletMessage>,
        msg: WalletMessage,
        state: &mut WalletState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            WalletMessage::Snapshot(reply) => {
                if caller_gone(&reply, "wallet") {
                    return Ok(());
                }
                state.last_active = Instant::now();
                let result = Box::pin(state.refresh_if_stale()).await.map(|_| state.snapshot());
                // A dropped reply port means the caller gave up; nothing to do about it.
                let _ = reply.send(result);
            }
            // Each write's future is boxed: otherwise the largest of them (a draw's, with every
            // store call it awaits) sits inline in every wallet's task for as long as the wallet
            // lives, which is what an idle customer cost.
            WalletMessage::Change(change, started, reply) => Box::pin(state.serve(*change, started, reply)).await,
            WalletMessage::Draw(request, started, reply) => Box::pin(state.serve(request, started, reply)).await,
            WalletMessage::Redeem(request, started, reply) => Box::pin(state.serve(request, started, reply)).await,
            WalletMessage::Approve(request, started, reply) => Box::pin(state.serve(request, started, reply)).await,
            WalletMessage::Checkin(request, started, reply) => Box::pin(state.serve(request, started, reply)).await,
            WalletMessage::ClaimTask(request, started, reply) => Box::pin(state.serve(request, started, reply)).await,
            WalletMessage::Freeze(request, started, reply) => Box::pin(state.serve(request, started, reply)).await,
            WalletMessage::IdleCheck => {
                if state.last_active.elapsed() >= state.deps.idle_after {
                    (state.on_idle)(&myself);
                    myself.stop(Some("idle".into()));
                }
            }
            WalletMessage::InjectPanic => {
                panic!("test hook: injected panic in the wallet of user {}", state.user_id);
            }
            WalletMessage::Block(pause) => tokio::time::sleep(pause).await,
            WalletMessage::HoldNextWrite(pause) => state.hold_next_write = Some(pause),
            WalletMessage::Release => {
                (state.on_idle)(&myself);
                myself.stop(Some("released".into()));
            }
        }
        if state.moved {
            // Another node holds the customer now: this actor must never serve them again.
            (state.on_idle)(&myself);
            myself.stop(Some("moved to another node".into()));
        }
        Ok(())
    }
}

impl WalletState {
    async fn serve<W: WalletWrite>(&mut self, write: W, started: Started, reply: RpcReplyPort<Reply<W::Done>>) {
        // Its caller timed out while it was queued: it was answered "failed", so it never runs.
        if caller_gone(&reply, "wallet") {
            return;
        }
        started.raise();
        self.last_active = Instant::now();
        if let Some(pause) = self.hold_next_write.take() {
            tokio::time::sleep(pause).await;
        }
        let waiting = || reply.is_closed();
        let mut result = write.run(self, Caller(&waiting)).await;
        if let Err(failure) = &result {
            if self.stale && failure.nothing_written() && self.deps.cluster.is_some() && self.fenced_out().await {
                tracing::warn!(
                    user_id = self.user_id,
                    fence = self.fence,
                    "a write was refused by the fence: the customer is on another node now"
                );
                metrics::counter!("cluster_fenced_writes_total").increment(1);
                self.moved = true;
                result = Err(Failure::Elsewhere(format!("the wallet of user {} moved to another node", self.user_id)));
            }
        }
        // A dropped reply port means the caller gave up; nothing to do about it.
        let _ = reply.send(result);
    }

    fn snapshot(&self) -> WalletSnapshot {
        WalletSnapshot {
            user_id: self.user_id,
            balance: self.balance,
            pity_count: self.default_campaign.pity_count,
            frozen: self.frozen,
            level: self.level,
            lifetime_earned: self.lifetime_earned,
            last_checkin: self.last_checkin,
        }
    }

    /// Whether another actor (on another node, or a newer one here) has taken the customer
    /// since this one did.
    async fn fenced_out(&self) -> bool {
        match self.deps.store.owner_fence(self.user_id).await {
            Ok(Some(fence)) => fence != self.fence,
            Ok(None) => false,
            Err(e) => {
                tracing::warn!(user_id = self.user_id, error = %e, "could not read the wallet's fence");
                false
            }
        }
    }

    async fn refresh_if_stale(&mut self) -> Reply<()> {
        if self.stale {
            let (balance, pity) = self.deps.store.wallet(self.user_id).await?.ok_or(DomainError::UserNotFound)?;
            let (_, next_nonce) = self.deps.store.draw_counters(self.user_id, DEFAULT_CAMPAIGN_ID, 0).await?;
            self.balance = balance;
            self.default_campaign.pity_count = pity;
            self.default_campaign.next_nonce = next_nonce;
            // The other campaigns' counters are read again at the next draw there.
            self.campaigns.clear();
            let loyalty = self.deps.store.loyalty_state(self.user_id).await?.ok_or(DomainError::UserNotFound)?;
            self.frozen = loyalty.frozen;
            self.lifetime_earned = loyalty.lifetime_earned;
            self.level =
                self.deps.loyalty.levels().after_earning(loyalty.level.max(self.level), loyalty.lifetime_earned);
            self.last_checkin =
                self.deps.store.last_checkin(self.user_id).await?.map(|(day, streak)| LastCheckin { day, streak });
            self.stale = false;
        }
        Ok(())
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redemption_codes_are_ten_unambiguous_characters() {
        let codes: std::collections::HashSet<String> = (0..200).map(|_| redemption_code()).collect();
        assert_eq!(codes.len(), 200, "random enough not to repeat in a small sample");
        for code in &codes {
            assert_eq!(code.len(), CODE_LENGTH);
            assert!(code.bytes().all(|b| CODE_ALPHABET.contains(&b)), "{code}");
            assert!(!code.contains(['0', 'O', '1', 'I']), "{code}");
        }
    }

    #[test]
    fn started_is_shared_by_its_clones() {
        let started = Started::default();
        let seen_by_caller = started.clone();
        assert!(!seen_by_caller.is_raised());
        started.raise();
        assert!(seen_by_caller.is_raised());
    }
}
