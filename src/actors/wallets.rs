//! `Wallets`: the registry of `UserSession` actors and their supervisor.
//!
//! A wallet actor is spawned on demand from the store's row, found through a concurrent map, and
//! stops itself when idle. At most one actor exists per user: spawning goes through a per-user
//! `OnceCell`, and the actor is named after the user, which ractor keeps unique. When an actor
//! panics the supervisor drops it from the map; the next request re-spawns it from the store,
//! which already holds every acknowledged change.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use ractor::rpc::CallResult;
use ractor::{call_t, Actor, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use tokio::sync::OnceCell;

use crate::store::reviews::CommittedApproval;

use super::failure::{Failure, Reply};
use super::user_session::{
    ApprovalRequest, ChangeOutcome, DrawOutcome, DrawRequest, PointsChange, RedeemOutcome, RedeemRequest, UserSession,
    UserSessionArgs, UserSessionMessage, WalletDeps, WalletSnapshot,
};
use super::CALL_TIMEOUT_MS;
use crate::domain::phone::mask_phone;
use crate::domain::time::now_ms;
use crate::domain::wheel::{local_day, local_day_start};
use crate::domain::DomainError;

type Slot = Arc<OnceCell<ActorRef<UserSessionMessage>>>;
type Slots = Arc<DashMap<i64, Slot>>;

/// Distinguishes actor names when several servers share one process (tests, benches).
static INSTANCES: AtomicU64 = AtomicU64::new(0);

#[derive(Clone)]
pub struct Wallets {
    inner: Arc<Inner>,
}

struct Inner {
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
        Ok(Wallets { inner: Arc::new(Inner { slots, deps, supervisor, instance, restarts }) })
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
        for _ in 0..3 {
            let actor = self.actor(user_id).await?;
            match call_t!(actor, UserSessionMessage::Snapshot, CALL_TIMEOUT_MS) {
                Ok(result) => return result,
                Err(ractor::RactorErr::Timeout) => return Err(timeout(user_id)),
                // A read is always safe to retry on a fresh actor.
                Err(_) => self.forget(user_id, &actor),
            }
        }
        Err(unavailable(user_id))
    }

    /// Applies a points change through the user's wallet actor; answers after it committed.
    pub async fn change(&self, user_id: i64, change: PointsChange) -> Reply<ChangeOutcome> {
        self.write(user_id, "a change", |started, reply| {
            UserSessionMessage::Change(Box::new(change.clone()), started, reply)
        })
        .await
    }

    /// Runs a draw batch through the user's wallet actor; answers after it committed.
    pub async fn draw(&self, user_id: i64, request: DrawRequest) -> Reply<DrawOutcome> {
        self.write(user_id, "a draw", |started, reply| UserSessionMessage::Draw(request.clone(), started, reply)).await
    }

    /// Runs a shop redemption through the user's wallet actor; answers after it committed.
    pub async fn redeem(&self, user_id: i64, request: RedeemRequest) -> Reply<RedeemOutcome> {
        self.write(user_id, "a redemption", |started, reply| {
            UserSessionMessage::Redeem(request.clone(), started, reply)
        })
        .await
    }

    /// Credits an approved receipt through the customer's wallet, in one transaction with the
    /// upload's status change.
    pub async fn approve(&self, user_id: i64, request: ApprovalRequest) -> Reply<CommittedApproval> {
        self.write(user_id, "an approval", |started, reply| {
            UserSessionMessage::Approve(request.clone(), started, reply)
        })
        .await
    }

    /// Sends a write to the user's wallet actor and waits for its answer. If the actor stopped
    /// (idle) or died before it began on the write, retrying on a fresh actor cannot apply it
    /// twice; once it had begun (the `started` flag), the outcome is unknown and not retried.
    async fn write<T, F>(&self, user_id: i64, what: &str, message: F) -> Reply<T>
    where
        T: Send + 'static,
        F: Fn(Arc<AtomicBool>, RpcReplyPort<Reply<T>>) -> UserSessionMessage,
    {
        for _ in 0..3 {
            let actor = self.actor(user_id).await?;
            let started = Arc::new(AtomicBool::new(false));
            let flag = started.clone();
            match actor.call(|reply| message(flag, reply), Some(Duration::from_millis(CALL_TIMEOUT_MS))).await {
                Ok(CallResult::Success(result)) => return result,
                Ok(CallResult::Timeout) => return Err(timeout(user_id)),
                Ok(CallResult::SenderError) | Err(_) => {
                    self.forget(user_id, &actor);
                    if started.load(Ordering::SeqCst) {
                        return Err(Failure::fault(format!("wallet {user_id} failed during {what}")));
                    }
                }
            }
        }
        Err(unavailable(user_id))
    }

    /// Test hook: makes the user's wallet actor panic.
    pub async fn inject_panic(&self, user_id: i64) -> Reply<()> {
        let actor = self.actor(user_id).await?;
        actor.cast(UserSessionMessage::InjectPanic).map_err(|e| Failure::fault(e.to_string()))
    }

    /// Stops every wallet actor and the supervisor (shutdown).
    pub fn stop(&self) {
        self.inner.supervisor.stop_children(None);
        self.inner.supervisor.stop(None);
    }

    async fn actor(&self, user_id: i64) -> Reply<ActorRef<UserSessionMessage>> {
        for _ in 0..3 {
            // Most requests find a live slot: a read lock, not the shard's write lock.
            let existing = self.inner.slots.get(&user_id).map(|s| s.clone());
            let slot = existing.unwrap_or_else(|| self.inner.slots.entry(user_id).or_default().clone());
            let spawned = slot.get_or_try_init(|| self.spawn(user_id)).await;
            match spawned {
                Ok(actor) => return Ok(actor.clone()),
                Err(SpawnFailure::Failed(e)) => {
                    self.inner.slots.remove_if(&user_id, |_, s| Arc::ptr_eq(s, &slot) && s.get().is_none());
                    return Err(e);
                }
                Err(SpawnFailure::NameTaken) => {
                    // The previous actor of this user is still shutting down; give it a moment.
                    self.inner.slots.remove_if(&user_id, |_, s| Arc::ptr_eq(s, &slot) && s.get().is_none());
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        }
        Err(Failure::fault(format!("could not start the wallet of user {user_id}")))
    }

    async fn spawn(&self, user_id: i64) -> Result<ActorRef<UserSessionMessage>, SpawnFailure> {
        let store = &self.inner.deps.store;
        let user = store
            .user(user_id)
            .await
            .map_err(|e| SpawnFailure::Failed(e.into()))?
            .ok_or(SpawnFailure::Failed(DomainError::UserNotFound.into()))?;
        let drawn_today = store
            .draws_since(user_id, local_day_start(local_day(now_ms())))
            .await
            .map_err(|e| SpawnFailure::Failed(e.into()))?;
        let slots = self.inner.slots.clone();
        let args = UserSessionArgs {
            user_id,
            balance: user.points,
            pity_count: user.pity_count,
            display_name: mask_phone(&user.phone),
            drawn_today,
            deps: self.inner.deps.clone(),
            on_idle: Box::new(move |me| {
                slots.remove_if(&user_id, |_, s| s.get().is_some_and(|a| a.get_id() == me.get_id()));
            }),
        };
        let name = actor_name(self.inner.instance, user_id);
        match Actor::spawn_linked(Some(name), UserSession, args, self.inner.supervisor.get_cell()).await {
            Ok((actor, _)) => Ok(actor),
            Err(ractor::SpawnErr::ActorAlreadyRegistered(_)) => Err(SpawnFailure::NameTaken),
            Err(e) => Err(SpawnFailure::Failed(Failure::fault(format!("spawning wallet {user_id}: {e}")))),
        }
    }

    fn forget(&self, user_id: i64, actor: &ActorRef<UserSessionMessage>) {
        self.inner.slots.remove_if(&user_id, |_, s| s.get().is_some_and(|a| a.get_id() == actor.get_id()));
    }
}

fn timeout(user_id: i64) -> Failure {
    Failure::fault(format!("wallet {user_id} did not answer in time"))
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
        let id = cell.get_id();
        state.slots.remove_if(&user_id, |_, s| s.get().is_some_and(|a| a.get_id() == id));
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
