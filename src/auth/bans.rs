//! Banned customers, mirrored from the store so every request can refuse them without a query.
//!
//! The store is the authority (`users.is_banned`); this is a copy that must never disagree with
//! it for longer than one ban change takes. Readers only ask [`BanList::contains`]. A change takes
//! the list's one write lock ([`BanList::change`]) for as long as it writes the store and then the
//! copy, so changes are applied to the copy in the order the store committed them: two admins
//! toggling the same customer at once cannot leave the copy holding the loser's value.
//!
//! Each server process keeps a copy, loaded from the store at start. In a cluster a change is
//! also relayed to the other nodes' copies (`cluster::relay`), which apply it within moments.

use std::sync::OnceLock;

use dashmap::DashSet;
use tokio::sync::{Mutex, MutexGuard};

use crate::cluster::relay::Relay;

#[derive(Debug)]
pub struct BanList {
    banned: DashSet<i64>,
    /// Held across a change's store write and its copy, so changes never interleave.
    changing: Mutex<()>,
    relay: OnceLock<Relay>,
}

impl BanList {
    /// The copy as the store has it at start.
    pub fn from_store(banned: impl IntoIterator<Item = i64>) -> BanList {
        BanList { banned: banned.into_iter().collect(), changing: Mutex::new(()), relay: OnceLock::new() }
    }

    /// Cluster mode: changes also go to the other nodes (set once, at start).
    pub fn set_relay(&self, relay: Relay) {
        let _ = self.relay.set(relay);
    }

    /// A change another node committed.
    pub fn set_here(&self, user_id: i64, banned: bool) {
        if banned {
            self.banned.insert(user_id);
        } else {
            self.banned.remove(&user_id);
        }
    }

    pub fn contains(&self, user_id: &i64) -> bool {
        self.banned.contains(user_id)
    }

    /// Starts a change: until the returned guard is dropped, no other change runs. Write the
    /// store first, then record what it committed with [`BanChange::set`].
    pub async fn change(&self) -> BanChange<'_> {
        BanChange { list: self, _serial: self.changing.lock().await }
    }
}

/// One change in progress (see [`BanList::change`]).
pub struct BanChange<'a> {
    list: &'a BanList,
    _serial: MutexGuard<'a, ()>,
}

impl BanChange<'_> {
    /// The store now holds `banned` for `user_id`.
    pub fn set(&self, user_id: i64, banned: bool) {
        self.list.set_here(user_id, banned);
        if let Some(relay) = self.list.relay.get() {
            relay.ban(user_id, banned);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[tokio::test]
    async fn changes_apply_in_the_order_they_hold_the_lock() {
        let list = Arc::new(BanList::from_store([7]));
        assert!(list.contains(&7));
        // The first change holds the lock while "its store write" is slow; the second waits,
        // so the second's value is the one left in the copy, as it is in the store.
        let first = {
            let list = list.clone();
            tokio::spawn(async move {
                let change = list.change().await;
                tokio::time::sleep(Duration::from_millis(50)).await;
                change.set(7, true);
            })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        let second = {
            let list = list.clone();
            tokio::spawn(async move {
                let change = list.change().await;
                change.set(7, false);
            })
        };
        first.await.expect("first change");
        second.await.expect("second change");
        assert!(!list.contains(&7));
    }
}
