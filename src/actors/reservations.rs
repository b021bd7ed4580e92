//! What the PrizeWheel and the StockLedger hold for a draw or a redemption that is being
//! committed: units taken off memory stock, each under a reservation id, until the customer's
//! wallet settles it.
//!
//! Three things can go wrong with a hold, and each is answered here:
//! - its requester gave up before the answer arrived, so nobody will settle it: the actor
//!   releases it at once when its reply cannot be delivered, and [`Holds::expire`] drops any hold
//!   older than the TTL;
//! - the actor restarted while the hold was out: ids carry the instance's random generation, so
//!   a settle from an earlier instance is recognised ([`Taken::Foreign`]) and never matches a hold
//!   of this one;
//! - the commit's outcome is unknown (a lost acknowledgement): units are neither kept nor
//!   returned; the item is re-read from the store ([`Settled::Unknown`]).
//!
//! Expired, foreign and unknown settles leave memory behind the store; the owner then resyncs
//! from the store (its stock minus what this instance still holds) instead of guessing. A hold
//! that was live during a resync may have committed just before the store was read, so it was
//! subtracted twice; when it settles as committed the owner resyncs once more.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::store::StoreError;

/// How a reservation ended, as the wallet that asked for it knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// The draw or order committed: the units are gone.
    Committed,
    /// Nothing was written (refused, or never sent): the units return.
    Released,
    /// The commit may or may not have happened: the store decides.
    Unknown,
}

impl Settled {
    /// How a reservation ends when its commit failed with `e`.
    pub fn after_failed_commit(e: &StoreError) -> Settled {
        if e.nothing_written() {
            Settled::Released
        } else {
            Settled::Unknown
        }
    }
}

/// What [`Holds::take`] found under an id.
#[derive(Debug, PartialEq, Eq)]
pub enum Taken<T> {
    /// A live hold of this instance.
    Held(T),
    /// An id of this instance that is no longer held (settled, expired or cleared).
    Gone,
    /// An id handed out by an earlier instance of the actor.
    Foreign,
}

#[derive(Debug)]
struct Hold<T> {
    what: T,
    since: Instant,
}

/// The holds of one actor instance.
#[derive(Debug)]
pub struct Holds<T> {
    /// Random per instance: the high 32 bits of every id it hands out.
    generation: u32,
    next: u32,
    held: HashMap<u64, Hold<T>>,
}

impl<T> Default for Holds<T> {
    fn default() -> Self {
        Holds::with_generation(rand::random())
    }
}

impl<T> Holds<T> {
    fn with_generation(generation: u32) -> Holds<T> {
        Holds { generation, next: 0, held: HashMap::new() }
    }

    /// Holds `what` from `now`; answers its id.
    pub fn hold(&mut self, what: T, now: Instant) -> u64 {
        self.next = self.next.wrapping_add(1);
        let id = (u64::from(self.generation) << 32) | u64::from(self.next);
        self.held.insert(id, Hold { what, since: now });
        id
    }

    /// When the live hold `id` was taken, if it is live.
    pub fn since(&self, id: u64) -> Option<Instant> {
        self.held.get(&id).map(|h| h.since)
    }

    pub fn take(&mut self, id: u64) -> Taken<T> {
        if (id >> 32) as u32 != self.generation {
            return Taken::Foreign;
        }
        match self.held.remove(&id) {
            Some(h) => Taken::Held(h.what),
            None => Taken::Gone,
        }
    }

    /// Drops every hold older than `ttl` at `now` and answers them: their requester never
    /// settled them (it gave up, or died).
    pub fn expire(&mut self, now: Instant, ttl: Duration) -> Vec<T> {
        let old: Vec<u64> = self
            .held
            .iter()
            .filter(|(_, h)| now.saturating_duration_since(h.since) >= ttl)
            .map(|(id, _)| *id)
            .collect();
        old.into_iter().filter_map(|id| self.held.remove(&id)).map(|h| h.what).collect()
    }

    pub fn held(&self) -> impl Iterator<Item = &T> {
        self.held.values().map(|h| &h.what)
    }

    pub fn clear(&mut self) {
        self.held.clear();
    }

    pub fn len(&self) -> usize {
        self.held.len()
    }

    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hold_is_taken_once() {
        let mut holds = Holds::default();
        let now = Instant::now();
        let a = holds.hold("dessert", now);
        let b = holds.hold("coupon", now);
        assert_ne!(a, b);
        assert_eq!(holds.take(a), Taken::Held("dessert"));
        assert_eq!(holds.take(a), Taken::Gone, "a second settle of the same hold changes nothing");
        assert_eq!(holds.held().collect::<Vec<_>>(), [&"coupon"]);
    }

    #[test]
    fn ids_of_another_instance_never_match() {
        let now = Instant::now();
        let mut before = Holds::with_generation(7);
        let mut after = Holds::with_generation(8);
        let old = before.hold("dessert", now);
        let new = after.hold("coupon", now);
        // Both instances count from the same place; the generation keeps their ids apart.
        assert_eq!(old & 0xffff_ffff, new & 0xffff_ffff);
        assert_eq!(after.take(old), Taken::Foreign);
        assert_eq!(after.len(), 1, "the foreign settle took nothing");
        assert_eq!(after.take(new), Taken::Held("coupon"));
    }

    #[test]
    fn fresh_instances_draw_different_generations() {
        let gens: std::collections::HashSet<u32> = (0..50).map(|_| Holds::<()>::default().generation).collect();
        assert!(gens.len() > 45, "random enough: {}", gens.len());
    }

    #[test]
    fn a_failed_commit_returns_units_only_when_nothing_can_have_been_written() {
        let refused = StoreError::Conflict("guard refused".into());
        assert_eq!(Settled::after_failed_commit(&refused), Settled::Released);
        let no_connection = StoreError::Unavailable(sqlx::Error::PoolTimedOut);
        assert_eq!(Settled::after_failed_commit(&no_connection), Settled::Released);
        let broken = StoreError::Unavailable(sqlx::Error::Io(std::io::ErrorKind::UnexpectedEof.into()));
        assert_eq!(Settled::after_failed_commit(&broken), Settled::Unknown, "the COMMIT may have landed");
    }

    #[test]
    fn holds_expire_after_the_ttl_and_not_before() {
        let mut holds = Holds::default();
        let start = Instant::now();
        let old = holds.hold(1, start);
        holds.hold(2, start + Duration::from_secs(30));
        let ttl = Duration::from_secs(60);
        assert!(holds.expire(start + Duration::from_secs(59), ttl).is_empty());
        assert_eq!(holds.expire(start + Duration::from_secs(60), ttl), [1]);
        assert_eq!(holds.take(old), Taken::Gone, "a late settle of an expired hold finds nothing");
        assert_eq!(holds.expire(start + Duration::from_secs(90), ttl), [2]);
        assert!(holds.is_empty());
    }
}
