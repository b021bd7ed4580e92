//! The ticker of notable wins: at most `per_sec` a second on the wire, the same for every socket,
//! however many customers win meanwhile. Only the latest win waits: at each slot the ticker shows
//! the freshest win (a person reads a handful a second, not a backlog, and a win shown late is
//! news no more); at most one goes out per flush. Time is an argument, so the rule is tested
//! without waiting.

use std::collections::VecDeque;

use super::event::ServerEvent;

/// Releases wins evenly, at most `per_sec` in any one-second window.
#[derive(Debug)]
pub struct Ticker {
    per_sec: usize,
    /// Milliseconds between two wins when the ticker runs at its rate.
    spacing_ms: i64,
    /// How early a win may go relative to its slot: one flush interval, so that a rate that does
    /// not divide the flush interval is still reached.
    tolerance_ms: i64,
    /// The slot of the next win (epoch ms).
    next_slot_ms: i64,
    /// When the wins of the last second went out.
    sent: VecDeque<i64>,
    /// The latest win not yet shown, with when it was committed.
    waiting: Option<(ServerEvent, i64)>,
}

impl Ticker {
    /// `per_sec` 0 turns the ticker off; `flush_every_ms` is how often [`Ticker::release`] runs.
    pub fn new(per_sec: u32, flush_every_ms: u64) -> Ticker {
        let per_sec = per_sec as usize;
        Ticker {
            per_sec,
            spacing_ms: if per_sec == 0 { i64::MAX } else { (1000 / per_sec as i64).max(1) },
            tolerance_ms: i64::try_from(flush_every_ms).unwrap_or(0),
            next_slot_ms: i64::MIN,
            sent: VecDeque::new(),
            waiting: None,
        }
    }

    /// A notable win was committed at `at_ms`; it replaces a win still waiting.
    pub fn offer(&mut self, win: ServerEvent, at_ms: i64) {
        if self.per_sec > 0 {
            self.waiting = Some((win, at_ms));
        }
    }

    /// The win that may go out at `now_ms`, if any, with when it was committed.
    pub fn release(&mut self, now_ms: i64) -> Option<(ServerEvent, i64)> {
        while self.sent.front().is_some_and(|&t| t <= now_ms - 1000) {
            self.sent.pop_front();
        }
        if self.waiting.is_none()
            || self.sent.len() >= self.per_sec
            || self.next_slot_ms > now_ms.saturating_add(self.tolerance_ms)
        {
            return None;
        }
        self.sent.push_back(now_ms);
        self.next_slot_ms = self.next_slot_ms.max(now_ms).saturating_add(self.spacing_ms);
        self.waiting.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::wheel::PrizeKind;
    use crate::notify::event::WheelWin;

    fn win(n: usize) -> ServerEvent {
        ServerEvent::WheelWin(WheelWin {
            masked_user: format!("138****{n:04}"),
            prize_name: "500积分".into(),
            prize_type: PrizeKind::Points,
        })
    }

    fn name(e: &ServerEvent) -> String {
        match e {
            ServerEvent::WheelWin(w) => w.masked_user.clone(),
            other => panic!("not a win: {other:?}"),
        }
    }

    /// Wins offered on every 10 ms for `seconds`, flushes every `flush` ms; the release times.
    fn run(per_sec: u32, flush: i64, seconds: i64) -> Vec<i64> {
        let mut ticker = Ticker::new(per_sec, flush as u64);
        let start = 1_700_000_000_000;
        let mut released = Vec::new();
        for (n, t) in (start..start + seconds * 1000).step_by(10).enumerate() {
            ticker.offer(win(n), t);
            if (t - start) % flush == 0 {
                released.extend(ticker.release(t).map(|_| t));
            }
        }
        released
    }

    fn most_in_any_second(times: &[i64]) -> usize {
        times.iter().map(|&t| times.iter().filter(|&&u| u >= t && u < t + 1000).count()).max().unwrap_or(0)
    }

    #[test]
    fn a_burst_of_wins_goes_out_at_the_rate_and_no_faster() {
        for (per_sec, flush) in [(3, 100), (3, 250), (1, 100), (5, 100), (20, 100), (3, 1000)] {
            let times = run(per_sec, flush, 10);
            assert!(most_in_any_second(&times) <= per_sec as usize, "{per_sec}/s with {flush} ms flushes: {times:?}");
            // Reaches the rate, or one a flush when that is lower (less 20 % for the flush grid).
            let floor = (per_sec as usize * 10).min((10_000 / flush) as usize) * 8 / 10;
            assert!(times.len() >= floor, "{per_sec}/s with {flush} ms flushes released only {}", times.len());
        }
    }

    #[test]
    fn wins_are_spread_over_the_second_not_bunched_at_its_start() {
        let times = run(3, 100, 3);
        let gaps: Vec<i64> = times.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(gaps.iter().all(|&g| g >= 200), "{times:?}");
    }

    #[test]
    fn each_slot_shows_the_latest_win_and_each_win_goes_out_once() {
        let mut ticker = Ticker::new(3, 100);
        for n in 0..10 {
            ticker.offer(win(n), n as i64);
        }
        let (first, at) = ticker.release(10).expect("a win at once");
        assert_eq!((name(&first), at), ("138****0009".into(), 9), "the freshest, with its commit time");
        ticker.offer(win(10), 50);
        ticker.offer(win(11), 150);
        assert!(ticker.release(100).is_none(), "the next slot is a third of a second later");
        let shown: Vec<String> =
            [200, 300, 400, 500].iter().filter_map(|&t| ticker.release(t)).map(|(e, _)| name(&e)).collect();
        assert_eq!(shown, ["138****0011"], "win 10 was superseded before its slot");
        assert!(ticker.release(5000).is_none(), "a win goes out once");
    }

    #[test]
    fn a_quiet_ticker_lets_the_next_win_go_at_once() {
        let mut ticker = Ticker::new(3, 100);
        ticker.offer(win(1), 0);
        assert!(ticker.release(0).is_some());
        ticker.offer(win(2), 60_000);
        assert!(ticker.release(60_000).is_some());
    }

    #[test]
    fn zero_turns_the_ticker_off() {
        let mut ticker = Ticker::new(0, 100);
        ticker.offer(win(1), 0);
        assert!(ticker.release(0).is_none());
        assert!(ticker.release(10_000).is_none());
    }
}
