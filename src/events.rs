//! The in-process event stream (the seeds' event bus, typed): what was committed, published by
//! whoever committed it — after the commit, never before. Consumers (task progress, the
//! leaderboards) never sit on a producer's path: publishing is a push onto a bounded broadcast
//! ring that never blocks, and a consumer that falls behind is told how much it missed and
//! rebuilds from the store instead of slowing anyone down.

use std::sync::{Arc, OnceLock};

use tokio::sync::broadcast;

use crate::cluster::relay::Relay;

/// How many events a slow consumer may fall behind before it must rebuild from the store.
const CAPACITY: usize = 1 << 16;

/// A committed fact about one customer, stamped with the commit's time (epoch ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Committed {
    /// Points earned: any credit except an admin's adjustment or a refund (experience,
    /// leaderboards).
    Earned { user_id: i64, points: i64, at: i64 },
    /// Points spent on the wheel or in the shop (a positive number).
    Spent { user_id: i64, points: i64, at: i64 },
    /// A draw batch of `count` draws.
    Drew { user_id: i64, count: i64, at: i64 },
    /// A shop order.
    Exchanged { user_id: i64, at: i64 },
    /// A receipt approved.
    ReceiptApproved { user_id: i64, at: i64 },
    /// A check-in, on day `streak` of a streak.
    CheckedIn { user_id: i64, streak: i64, at: i64 },
}

impl Committed {
    pub fn user_id(&self) -> i64 {
        match *self {
            Committed::Earned { user_id, .. }
            | Committed::Spent { user_id, .. }
            | Committed::Drew { user_id, .. }
            | Committed::Exchanged { user_id, .. }
            | Committed::ReceiptApproved { user_id, .. }
            | Committed::CheckedIn { user_id, .. } => user_id,
        }
    }
}

/// The publishing end; cheap to clone. Consumers [`subscribe`](EventBus::subscribe) to this
/// node's facts, or [`subscribe_everywhere`](EventBus::subscribe_everywhere) to every node's.
#[derive(Clone)]
pub struct EventBus(Arc<Channels>);

struct Channels {
    /// Facts committed by this node (task progress: announced by the node that owns the wallet).
    here: broadcast::Sender<Committed>,
    /// Facts committed by any node (the leaderboards, which every node serves).
    everywhere: broadcast::Sender<Committed>,
    /// Cluster mode: this node's facts also go to the other nodes.
    relay: OnceLock<Relay>,
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus(Arc::new(Channels {
            here: broadcast::channel(CAPACITY).0,
            everywhere: broadcast::channel(CAPACITY).0,
            relay: OnceLock::new(),
        }))
    }
}

impl EventBus {
    /// Never blocks; with no consumer the event is simply dropped.
    pub fn publish(&self, event: Committed) {
        let _ = self.0.here.send(event);
        let _ = self.0.everywhere.send(event);
        if let Some(relay) = self.0.relay.get() {
            relay.fact(&event);
        }
    }

    /// A fact another node committed.
    pub fn publish_from_elsewhere(&self, event: Committed) {
        let _ = self.0.everywhere.send(event);
    }

    pub fn set_relay(&self, relay: Relay) {
        let _ = self.0.relay.set(relay);
    }

    /// This node's facts.
    pub fn subscribe(&self) -> broadcast::Receiver<Committed> {
        self.0.here.subscribe()
    }

    /// Every node's facts (the same as [`EventBus::subscribe`] on a single node).
    pub fn subscribe_everywhere(&self) -> broadcast::Receiver<Committed> {
        self.0.everywhere.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_consumer_sees_each_event_in_order() {
        let bus = EventBus::default();
        let mut a = bus.subscribe();
        let mut b = bus.subscribe();
        bus.publish(Committed::Drew { user_id: 1, count: 3, at: 10 });
        bus.publish(Committed::Earned { user_id: 1, points: 50, at: 11 });
        for rx in [&mut a, &mut b] {
            assert_eq!(rx.recv().await.ok(), Some(Committed::Drew { user_id: 1, count: 3, at: 10 }));
            assert_eq!(rx.recv().await.ok().map(|e| e.user_id()), Some(1));
        }
    }

    #[tokio::test]
    async fn a_consumer_that_falls_behind_is_told_how_much_it_missed() {
        let bus = EventBus::default();
        let mut slow = bus.subscribe();
        for i in 0..(CAPACITY as i64 + 5) {
            bus.publish(Committed::Exchanged { user_id: i, at: i });
        }
        assert!(matches!(slow.recv().await, Err(broadcast::error::RecvError::Lagged(5))));
    }
}
