//! A supervisor for the singleton actors (PrizeWheel, StockLedger, ReviewQueue): when the actor
//! fails it is spawned again from its arguments, which makes it reload from the store — correct,
//! because every acknowledged change is already there. Callers reach the current instance
//! through [`Supervised::get`].
//!
//! ractor's default supervision stops the parent when a child fails; this one never does.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use ractor::rpc::CallResult;
use ractor::{Actor, ActorProcessingErr, ActorRef, MessagingErr, RpcReplyPort, SupervisionEvent};

use super::failure::{Failure, Reply};

type Slot<M> = Arc<RwLock<Option<ActorRef<M>>>>;

/// The current instance of a supervised singleton actor.
pub struct Supervised<A: Actor> {
    name: &'static str,
    current: Slot<A::Msg>,
    supervisor: ActorRef<()>,
    /// How long a caller waits for an answer; the actor skips work whose caller stopped waiting.
    call_timeout: Duration,
}

impl<A: Actor> Clone for Supervised<A> {
    fn clone(&self) -> Self {
        Supervised {
            name: self.name,
            current: self.current.clone(),
            supervisor: self.supervisor.clone(),
            call_timeout: self.call_timeout,
        }
    }
}

/// How long [`Supervised::deliver`] keeps trying to reach a restarting actor.
const DELIVERY_ATTEMPTS: u32 = 100;
const DELIVERY_PAUSE: Duration = Duration::from_millis(50);

impl<A> Supervised<A>
where
    A: Actor + Clone,
    A::Arguments: Clone + Sync,
{
    /// Spawns the actor under a new supervisor; fails when the first start fails.
    pub async fn start(
        name: &'static str,
        actor: A,
        args: A::Arguments,
        call_timeout: Duration,
    ) -> anyhow::Result<Supervised<A>> {
        let current: Slot<A::Msg> = Arc::new(RwLock::new(None));
        let state = RestarterState { name, actor: actor.clone(), args: args.clone(), current: current.clone() };
        let (supervisor, _) = Actor::spawn(None, Restarter::<A>(std::marker::PhantomData), state).await?;
        let (child, _) = Actor::spawn_linked(None, actor, args, supervisor.get_cell()).await?;
        *current.write().unwrap_or_else(|p| p.into_inner()) = Some(child);
        Ok(Supervised { name, current, supervisor, call_timeout })
    }

    /// The live instance, or an error while it is being restarted.
    pub fn get(&self) -> Reply<ActorRef<A::Msg>> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| Failure::fault("the actor is restarting"))
    }

    /// Asks the live instance and waits (bounded) for its answer. After a timeout the message
    /// may still be queued; the actor skips it then, since its reply port is closed.
    pub async fn call<T: Send + 'static>(&self, message: impl FnOnce(RpcReplyPort<Reply<T>>) -> A::Msg) -> Reply<T> {
        let actor = self.get()?;
        match actor.call(message, Some(self.call_timeout)).await {
            Ok(CallResult::Success(result)) => result,
            Ok(CallResult::Timeout) => Err(Failure::TimedOut(format!("{} did not answer in time", self.name))),
            Ok(CallResult::SenderError) | Err(_) => {
                Err(Failure::fault(format!("{} failed or is restarting", self.name)))
            }
        }
    }

    /// Tells the live instance something without waiting; lost while it restarts.
    pub fn cast(&self, message: A::Msg) -> Reply<()> {
        self.get()?.cast(message).map_err(|_| Failure::fault(format!("{} is restarting", self.name)))
    }

    /// Tells the actor something that must survive a restart (a settle): while the actor is
    /// being restarted, a background task hands it to the new instance when it is up.
    pub fn deliver(&self, message: A::Msg) {
        let message = match self.get() {
            Ok(actor) => match actor.cast(message) {
                Ok(()) => return,
                // The instance just died; its successor is on the way.
                Err(MessagingErr::SendErr(message)) => message,
                Err(_) => return,
            },
            Err(_) => message,
        };
        let (name, current) = (self.name, self.current.clone());
        tokio::spawn(async move {
            let mut message = message;
            for _ in 0..DELIVERY_ATTEMPTS {
                tokio::time::sleep(DELIVERY_PAUSE).await;
                let actor = current.read().unwrap_or_else(|p| p.into_inner()).clone();
                let Some(actor) = actor else { continue };
                match actor.cast(message) {
                    Ok(()) => return,
                    Err(MessagingErr::SendErr(m)) => message = m,
                    Err(_) => return,
                }
            }
            tracing::warn!(actor = name, "a message could not be delivered after a restart");
        });
    }

    pub fn stop(&self) {
        self.supervisor.stop_children(None);
        self.supervisor.stop(None);
    }
}

struct Restarter<A>(std::marker::PhantomData<fn() -> A>);

struct RestarterState<A: Actor> {
    name: &'static str,
    actor: A,
    args: A::Arguments,
    current: Slot<A::Msg>,
}

impl<A> Actor for Restarter<A>
where
    A: Actor + Clone,
    A::Arguments: Clone + Sync,
{
    type Msg = ();
    type State = RestarterState<A>;
    type Arguments = RestarterState<A>;

    async fn pre_start(
        &self,
        _: ActorRef<()>,
        state: RestarterState<A>,
    ) -> Result<RestarterState<A>, ActorProcessingErr> {
        Ok(state)
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<()>,
        event: SupervisionEvent,
        state: &mut RestarterState<A>,
    ) -> Result<(), ActorProcessingErr> {
        let SupervisionEvent::ActorFailed(_, err) = event else { return Ok(()) };
        tracing::error!(actor = state.name, error = %err, "actor failed; restarting it from the store");
        metrics::counter!("actor_restarts_total", "actor" => state.name).increment(1);
        *state.current.write().unwrap_or_else(|p| p.into_inner()) = None;
        let mut delay = Duration::from_millis(50);
        loop {
            match Actor::spawn_linked(None, state.actor.clone(), state.args.clone(), myself.get_cell()).await {
                Ok((child, _)) => {
                    *state.current.write().unwrap_or_else(|p| p.into_inner()) = Some(child);
                    return Ok(());
                }
                Err(e) => {
                    // Typically the store is down: keep trying rather than leave nobody in charge.
                    tracing::error!(actor = state.name, error = %e, "restart failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
    }
}
