//! A customer's draw limits, as rules over a clock the caller passes in: at most
//! `DRAW_LIMIT_PER_MIN` draw requests in any sliding minute ([`DrawWindow`]), and today's draw
//! count for the daily cap ([`DailyDraws`]), which starts again at midnight in the restaurants'
//! time zone (`BUSINESS_TZ`, Asia/Shanghai by default). The wallet owns one of each; the
//! PrizeWheel compares the count with the campaign's cap. Taking `now` as an argument is what
//! lets the tests cross a minute or a midnight without waiting.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::loyalty::BusinessTz;
use super::DomainError;

const MINUTE: Duration = Duration::from_secs(60);

/// The draw requests of a customer's last minute.
#[derive(Debug, Clone)]
pub struct DrawWindow {
    per_minute: usize,
    /// When each counted request arrived, oldest first. A monotonic clock, so a change of the
    /// wall clock neither frees nor blocks the window.
    recent: VecDeque<Instant>,
}

impl DrawWindow {
    pub fn new(per_minute: u32) -> DrawWindow {
        let per_minute = usize::try_from(per_minute).unwrap_or(usize::MAX);
        DrawWindow { per_minute, recent: VecDeque::with_capacity(per_minute.min(64)) }
    }

    /// Counts a draw request arriving at `now`; refuses it (uncounted) while the last minute is
    /// full, saying how long until the oldest request turns a minute old and frees a place.
    pub fn admit(&mut self, now: Instant) -> Result<(), DomainError> {
        while self.recent.front().is_some_and(|t| now.saturating_duration_since(*t) >= MINUTE) {
            self.recent.pop_front();
        }
        if self.recent.len() >= self.per_minute {
            let oldest = self.recent.front().copied().unwrap_or(now);
            let wait = MINUTE.saturating_sub(now.saturating_duration_since(oldest));
            let retry_after_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
            return Err(DomainError::DrawTooFrequent { retry_after_ms });
        }
        self.recent.push_back(now);
        Ok(())
    }
}

/// How many draws a customer made on one local day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DailyDraws {
    /// The business day ([`BusinessTz::day`]) the count belongs to.
    day: i64,
    count: i64,
}

impl DailyDraws {
    /// `count` draws made so far on the business day of `now_ms` (as the store counted them).
    pub fn new(tz: &BusinessTz, now_ms: i64, count: i64) -> DailyDraws {
        DailyDraws { day: tz.day(now_ms), count }
    }

    /// The draws made on the business day of `now_ms`: on a new day the count starts from zero.
    pub fn today(&mut self, tz: &BusinessTz, now_ms: i64) -> i64 {
        let day = tz.day(now_ms);
        if day != self.day {
            *self = DailyDraws { day, count: 0 };
        }
        self.count
    }

    /// Counts `n` committed draws on the day last asked about, the day they were allowed on.
    pub fn add(&mut self, n: i64) {
        self.count += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn wait_of(e: DomainError) -> u64 {
        match e {
            DomainError::DrawTooFrequent { retry_after_ms } => retry_after_ms,
            other => panic!("expected DrawTooFrequent, got {other:?}"),
        }
    }

    #[test]
    fn a_full_minute_refuses_until_its_oldest_request_is_a_minute_old() {
        let t0 = Instant::now();
        let mut window = DrawWindow::new(3);
        for s in [0, 10, 20] {
            assert!(window.admit(t0 + secs(s)).is_ok(), "request at {s}s");
        }
        assert_eq!(wait_of(window.admit(t0 + secs(30)).unwrap_err()), 30_000);
        assert_eq!(wait_of(window.admit(t0 + secs(59)).unwrap_err()), 1_000);
        // The refusals were not counted: at 60 s the first request has left the window.
        assert!(window.admit(t0 + secs(60)).is_ok());
        assert_eq!(wait_of(window.admit(t0 + secs(61)).unwrap_err()), 9_000);
        assert!(window.admit(t0 + secs(70)).is_ok());
    }

    #[test]
    fn a_quiet_minute_empties_the_window() {
        let t0 = Instant::now();
        let mut window = DrawWindow::new(2);
        window.admit(t0).unwrap();
        window.admit(t0).unwrap();
        assert!(window.admit(t0 + Duration::from_millis(59_999)).is_err());
        for _ in 0..2 {
            assert!(window.admit(t0 + secs(125)).is_ok());
        }
    }

    #[test]
    fn a_zero_limit_refuses_every_request_for_a_minute() {
        let mut window = DrawWindow::new(0);
        assert_eq!(wait_of(window.admit(Instant::now()).unwrap_err()), 60_000);
    }

    /// Epoch ms of a time written with its offset.
    fn at(rfc3339: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(rfc3339).unwrap().timestamp_millis()
    }

    #[test]
    fn the_daily_count_starts_again_at_midnight_in_shanghai() {
        let tz = BusinessTz::default();
        let evening = at("2026-12-01T23:59:59.999+08:00");
        let mut drawn = DailyDraws::new(&tz, at("2026-12-01T09:00:00+08:00"), 7);
        assert_eq!(drawn.today(&tz, evening), 7);
        drawn.add(3);
        assert_eq!(drawn.today(&tz, evening), 10);
        // 16:00 UTC is midnight in Shanghai: a new day, while it is still 1 December in UTC.
        let midnight = at("2026-12-01T16:00:00Z");
        assert_eq!(midnight, at("2026-12-02T00:00:00+08:00"));
        assert_eq!(drawn.today(&tz, midnight), 0);
        drawn.add(1);
        assert_eq!(drawn.today(&tz, at("2026-12-02T23:00:00+08:00")), 1);
    }

    #[test]
    fn draws_allowed_before_midnight_count_for_the_day_they_were_allowed_on() {
        let tz = BusinessTz::default();
        let mut drawn = DailyDraws::new(&tz, at("2026-12-01T23:59:59+08:00"), 0);
        assert_eq!(drawn.today(&tz, at("2026-12-01T23:59:59.500+08:00")), 0);
        // The batch commits just after midnight; the next request sees a fresh day.
        drawn.add(10);
        assert_eq!(drawn.today(&tz, at("2026-12-02T00:00:01+08:00")), 0);
    }

    #[test]
    fn the_daily_count_follows_the_business_time_zone() {
        let tz = BusinessTz::parse("+09:00").expect("an offset");
        let mut drawn = DailyDraws::new(&tz, at("2026-12-01T23:30:00+09:00"), 4);
        // 23:30 in Shanghai is already the next day in Tokyo's offset.
        assert_eq!(drawn.today(&tz, at("2026-12-01T23:30:00+08:00")), 0);
    }
}
