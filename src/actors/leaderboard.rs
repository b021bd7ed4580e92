//! The **Leaderboard**: sorted in-memory standings of points earned this day, week and month
//! (`BUSINESS_TZ`, weeks from Monday). Rebuilt from the ledger at start; afterwards it follows the
//! event stream, so it is current as soon as an earning is published after its commit. A read
//! takes a read lock and walks the top of an ordered set: it never touches the ledger.
//!
//! Ties go to whoever reached the total first: the order is points (high first), then the time
//! the total was reached, then the customer id. A customer's own rank counts the customers above
//! them by distinct totals (a count per total), then walks only the ties ahead of them, so it costs
//! the number of distinct totals above, not the number of customers.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use tokio::sync::broadcast::error::RecvError;

use crate::domain::loyalty::{BusinessTz, Period};
use crate::domain::time::now_ms;
use crate::events::{Committed, EventBus};
use crate::store::loyalty::Earnings;
use crate::store::{Store, StoreResult};

type Key = (Reverse<i64>, i64, i64);

/// One period's standings.
#[derive(Debug, Default)]
pub struct Standings {
    /// `[starts_at, ends_at)` in epoch ms.
    pub starts_at: i64,
    pub ends_at: i64,
    by_user: HashMap<i64, (i64, i64)>,
    order: BTreeSet<Key>,
    /// How many customers stand at each total, highest first.
    at_total: BTreeMap<Reverse<i64>, u64>,
}

impl Standings {
    fn new(starts_at: i64, ends_at: i64) -> Standings {
        Standings { starts_at, ends_at, ..Default::default() }
    }

    /// Adds `points` earned at `at` by `user_id`.
    pub fn add(&mut self, user_id: i64, points: i64, at: i64) {
        let entry = self.by_user.entry(user_id).or_insert((0, at));
        if entry.0 > 0 {
            self.order.remove(&(Reverse(entry.0), entry.1, user_id));
            if let Some(n) = self.at_total.get_mut(&Reverse(entry.0)) {
                *n -= 1;
                if *n == 0 {
                    self.at_total.remove(&Reverse(entry.0));
                }
            }
        }
        entry.0 += points;
        entry.1 = at;
        self.order.insert((Reverse(entry.0), entry.1, user_id));
        *self.at_total.entry(Reverse(entry.0)).or_insert(0) += 1;
    }

    /// The top `limit`: `(user_id, points)` in rank order.
    pub fn top(&self, limit: usize) -> Vec<(i64, i64)> {
        self.order.iter().take(limit).map(|(Reverse(p), _, u)| (*u, *p)).collect()
    }

    /// The customer's rank (1-based) and points, or `None` without earnings this period.
    pub fn rank_of(&self, user_id: i64) -> Option<(usize, i64)> {
        let &(points, at) = self.by_user.get(&user_id)?;
        let above: u64 = self.at_total.range(..Reverse(points)).map(|(_, n)| n).sum();
        let ties_ahead =
            self.order.range((Reverse(points), i64::MIN, i64::MIN)..(Reverse(points), at, user_id)).count();
        Some((above as usize + ties_ahead + 1, points))
    }

    pub fn len(&self) -> usize {
        self.by_user.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_user.is_empty()
    }

    /// The sum of every customer's points (what the ledger must agree with).
    pub fn total(&self) -> i64 {
        self.by_user.values().map(|(p, _)| p).sum()
    }
}

#[derive(Debug, Default)]
struct Boards {
    day: Standings,
    week: Standings,
    month: Standings,
}

impl Boards {
    fn get(&self, period: Period) -> &Standings {
        match period {
            Period::Day => &self.day,
            Period::Week => &self.week,
            Period::Month => &self.month,
        }
    }

    fn get_mut(&mut self, period: Period) -> &mut Standings {
        match period {
            Period::Day => &mut self.day,
            Period::Week => &mut self.week,
            Period::Month => &mut self.month,
        }
    }
}

/// The leaderboards; cheap to clone.
#[derive(Clone)]
pub struct Leaderboard {
    boards: Arc<RwLock<Boards>>,
    tz: BusinessTz,
}

impl Leaderboard {
    /// Empty standings for the periods holding `now` (benches fill them with [`Leaderboard::add`]).
    pub fn empty(tz: BusinessTz, now: i64) -> Leaderboard {
        let mut boards = Boards::default();
        for p in Period::ALL {
            let (from, to) = p.bounds(&tz, now);
            *boards.get_mut(p) = Standings::new(from, to);
        }
        Leaderboard { boards: Arc::new(RwLock::new(boards)), tz }
    }

    /// Rebuilds from the ledger, then follows `events` in a task of its own.
    pub async fn start(store: Store, events: &EventBus, tz: BusinessTz) -> StoreResult<Leaderboard> {
        let rx = events.subscribe_everywhere();
        let board = Leaderboard::empty(tz, now_ms());
        board.rebuild(&store).await?;
        tokio::spawn(board.clone().follow(store, rx));
        Ok(board)
    }

    async fn rebuild(&self, store: &Store) -> StoreResult<()> {
        let now = now_ms();
        let mut fresh = Vec::new();
        for p in Period::ALL {
            let (from, to) = p.bounds(&self.tz, now);
            fresh.push((p, from, to, store.earnings_between(from, to).await?));
        }
        let mut boards = self.write();
        for (p, from, to, earnings) in fresh {
            let mut s = Standings::new(from, to);
            for Earnings { user_id, points, reached_at } in earnings {
                s.add(user_id, points, reached_at);
            }
            *boards.get_mut(p) = s;
        }
        Ok(())
    }

    async fn follow(self, store: Store, mut rx: tokio::sync::broadcast::Receiver<Committed>) {
        loop {
            match rx.recv().await {
                Ok(Committed::Earned { user_id, points, at }) => self.add(user_id, points, at),
                Ok(_) => {}
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "the leaderboard fell behind; rebuilding from the ledger");
                    if let Err(e) = self.rebuild(&store).await {
                        tracing::error!(error = %e, "rebuilding the leaderboard failed");
                    }
                }
                Err(RecvError::Closed) => return,
            }
        }
    }

    /// An earning of `points` by `user_id` at `at`, counted in every period that holds `at`.
    pub fn add(&self, user_id: i64, points: i64, at: i64) {
        let mut boards = self.write();
        for p in Period::ALL {
            let s = boards.get_mut(p);
            if at >= s.ends_at {
                let (from, to) = p.bounds(&self.tz, at);
                *s = Standings::new(from, to);
            }
            if at >= s.starts_at {
                s.add(user_id, points, at);
            }
        }
    }

    /// Reads the standings of `period` as of `now` (a period that has ended reads as empty).
    pub fn read<T>(&self, period: Period, now: i64, f: impl FnOnce(&Standings) -> T) -> T {
        {
            let boards = self.read_lock();
            let s = boards.get(period);
            if now < s.ends_at {
                return f(s);
            }
        }
        let (from, to) = period.bounds(&self.tz, now);
        f(&Standings::new(from, to))
    }

    fn read_lock(&self) -> RwLockReadGuard<'_, Boards> {
        // A poisoned lock means a panic mid-update; the standings are still whole values.
        self.boards.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Boards> {
        self.boards.write().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_by_points_then_by_who_reached_the_total_first() {
        let mut s = Standings::new(0, 100);
        s.add(1, 50, 10);
        s.add(2, 80, 11);
        s.add(3, 30, 12);
        s.add(3, 20, 13); // 50, reached after user 1
        assert_eq!(s.top(10), vec![(2, 80), (1, 50), (3, 50)]);
        assert_eq!(s.rank_of(3), Some((3, 50)));
        assert_eq!(s.rank_of(2), Some((1, 80)));
        assert_eq!(s.rank_of(9), None);
        assert_eq!(s.top(1), vec![(2, 80)]);
        assert_eq!(s.total(), 180);
        assert_eq!(s.len(), 3);
    }

    #[test]
    fn the_own_rank_is_the_position_in_the_full_order() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(3);
        let mut s = Standings::new(0, i64::MAX);
        for _ in 0..5000 {
            // Few distinct totals, so ties are common.
            s.add(rng.random_range(1..800), rng.random_range(1..4) * 10, rng.random_range(0..50));
        }
        let everyone = s.top(usize::MAX);
        for (i, (user, points)) in everyone.iter().enumerate() {
            assert_eq!(s.rank_of(*user), Some((i + 1, *points)), "user {user}");
        }
    }

    #[test]
    fn a_new_day_starts_an_empty_day_board_but_keeps_the_week() {
        let tz = BusinessTz::default();
        // Wednesday 2026-12-02 10:00 in Shanghai.
        let wed = tz.day_start(tz.parse_date("2026-12-02").expect("date")) + 10 * 3_600_000;
        let board = Leaderboard::empty(tz.clone(), wed);
        board.add(1, 100, wed);
        let thu = wed + 86_400_000;
        board.add(2, 30, thu);
        assert_eq!(board.read(Period::Day, thu, |s| s.top(10)), vec![(2, 30)]);
        assert_eq!(board.read(Period::Week, thu, |s| s.top(10)), vec![(1, 100), (2, 30)]);
        // Reading on the next Monday: the week has ended and reads empty.
        let monday = tz.day_start(tz.parse_date("2026-12-07").expect("date"));
        assert!(board.read(Period::Week, monday, |s| s.is_empty()));
        assert_eq!(board.read(Period::Month, monday, |s| s.total()), 130);
    }
}
