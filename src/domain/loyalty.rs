//! The loyalty rules, pure and clocked by the caller: the business day (`BUSINESS_TZ`), member
//! levels and their earning multipliers, the daily check-in and its streak, the periods that
//! tasks reset on, and the leaderboard's periods. Every function that depends on time takes
//! `now` (epoch milliseconds) and the business time zone as arguments, so tests cross midnight,
//! weeks and months without waiting.

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

const DAY_MS: i64 = 86_400_000;

/// The restaurant's time zone, as a fixed offset from UTC. The zones the chain runs in keep no
/// daylight saving time, so a fixed offset is exact for them; a zone that does is refused rather
/// than answered wrong half the year.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusinessTz {
    offset_ms: i64,
}

impl Default for BusinessTz {
    fn default() -> Self {
        BusinessTz { offset_ms: 8 * 3_600_000 }
    }
}

impl BusinessTz {
    /// `Asia/Shanghai` (and the other named zones without daylight saving time), `UTC`, or a
    /// fixed offset `+08:00` / `-05:30`.
    pub fn parse(name: &str) -> Result<BusinessTz, String> {
        let hours = |h: i64| Ok(BusinessTz { offset_ms: h * 3_600_000 });
        match name {
            "Asia/Shanghai" | "Asia/Chongqing" | "Asia/Harbin" | "Asia/Hong_Kong" | "Asia/Macau" | "Asia/Taipei"
            | "Asia/Singapore" | "Asia/Kuala_Lumpur" | "PRC" => hours(8),
            "Asia/Tokyo" | "Asia/Seoul" => hours(9),
            "UTC" | "Etc/UTC" | "Z" => hours(0),
            _ => {
                let bytes = name.as_bytes();
                let sign = match bytes.first() {
                    Some(b'+') => 1,
                    Some(b'-') => -1,
                    _ => return Err(format!("unknown time zone {name:?}: use a zone without daylight saving time (Asia/Shanghai) or an offset like +08:00")),
                };
                let (h, m) =
                    name[1..].split_once(':').ok_or_else(|| format!("offset {name:?} must look like +08:00"))?;
                let h: i64 = h.parse().map_err(|_| format!("offset {name:?} must look like +08:00"))?;
                let m: i64 = m.parse().map_err(|_| format!("offset {name:?} must look like +08:00"))?;
                if !(0..=14).contains(&h) || !(0..60).contains(&m) {
                    return Err(format!("offset {name:?} is out of range"));
                }
                Ok(BusinessTz { offset_ms: sign * (h * 3_600_000 + m * 60_000) })
            }
        }
    }

    /// The business day holding `at`, counted in days since 1970-01-01.
    pub fn day(&self, at: i64) -> i64 {
        (at + self.offset_ms).div_euclid(DAY_MS)
    }

    /// How far the business day runs ahead of UTC, in milliseconds.
    pub fn offset_ms(&self) -> i64 {
        self.offset_ms
    }

    /// When business day `day` starts, in UTC epoch milliseconds.
    pub fn day_start(&self, day: i64) -> i64 {
        day * DAY_MS - self.offset_ms
    }

    /// `YYYY-MM-DD` of a business day.
    pub fn date(&self, day: i64) -> String {
        date_of(day).format("%Y-%m-%d").to_string()
    }

    /// The business day of a `YYYY-MM-DD` date.
    pub fn parse_date(&self, text: &str) -> Option<i64> {
        let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
        Some(date.signed_duration_since(epoch()).num_days())
    }
}

fn epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default()
}

fn date_of(day: i64) -> NaiveDate {
    epoch() + chrono::Duration::days(day)
}

/// The Monday that starts the week holding `day` (1970-01-01 was a Thursday).
pub fn week_start(day: i64) -> i64 {
    day - (day + 3).rem_euclid(7)
}

/// The first day of the month holding `day`.
pub fn month_start(day: i64) -> i64 {
    day - i64::from(date_of(day).day0())
}

/// The first day of the month after the one holding `day`.
pub fn next_month_start(day: i64) -> i64 {
    let d = date_of(day);
    let (y, m) = if d.month() == 12 { (d.year() + 1, 1) } else { (d.year(), d.month() + 1) };
    NaiveDate::from_ymd_opt(y, m, 1).map(|n| n.signed_duration_since(epoch()).num_days()).unwrap_or(day + 31)
}

/// A leaderboard's (or a chart's) period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    Day,
    Week,
    Month,
}

impl Period {
    pub const ALL: [Period; 3] = [Period::Day, Period::Week, Period::Month];

    pub fn parse(s: &str) -> Option<Period> {
        match s {
            "day" => Some(Period::Day),
            "week" => Some(Period::Week),
            "month" => Some(Period::Month),
            _ => None,
        }
    }

    /// The business days `[first, end)` of the period holding `day`.
    pub fn days(self, day: i64) -> (i64, i64) {
        match self {
            Period::Day => (day, day + 1),
            Period::Week => (week_start(day), week_start(day) + 7),
            Period::Month => (month_start(day), next_month_start(day)),
        }
    }

    /// `[starts_at, ends_at)` in epoch milliseconds of the period holding `now`.
    pub fn bounds(self, tz: &BusinessTz, now: i64) -> (i64, i64) {
        let (first, end) = self.days(tz.day(now));
        (tz.day_start(first), tz.day_start(end))
    }
}

/// One row of the level table. The multiplier is kept in hundredths so that "floor" is exact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Level {
    pub level: i64,
    pub name: String,
    /// The experience at which this level starts.
    pub experience: i64,
    /// The earning multiplier in hundredths: 110 is 1.1×.
    pub multiplier_pct: i64,
}

/// The level table: level 1 starts at 0, levels are numbered 1, 2, 3 … and start at strictly
/// increasing experience.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LevelTable(Vec<Level>);

impl Default for LevelTable {
    fn default() -> Self {
        let row = |level, name: &str, experience, multiplier_pct| Level {
            level,
            name: name.into(),
            experience,
            multiplier_pct,
        };
        LevelTable(vec![
            row(1, "普通会员", 0, 100),
            row(2, "白银会员", 2000, 110),
            row(3, "黄金会员", 10000, 120),
            row(4, "铂金会员", 30000, 130),
            row(5, "钻石会员", 100000, 150),
        ])
    }
}

impl LevelTable {
    /// Checks a table an admin wants to save; the error names what is wrong.
    pub fn new(mut levels: Vec<Level>) -> Result<LevelTable, String> {
        levels.sort_by_key(|l| l.level);
        if levels.is_empty() || levels.len() > 20 {
            return Err("between 1 and 20 levels".into());
        }
        for (i, l) in levels.iter().enumerate() {
            if l.level != i as i64 + 1 {
                return Err("levels are numbered 1, 2, 3 … without gaps".into());
            }
            if l.name.trim().is_empty() || l.name.chars().count() > 32 {
                return Err(format!("level {} needs a name of 1–32 characters", l.level));
            }
            if !(100..=1000).contains(&l.multiplier_pct) {
                return Err(format!("level {}: the multiplier must be between 1.0 and 10.0", l.level));
            }
            if i == 0 && l.experience != 0 {
                return Err("level 1 starts at 0 experience".into());
            }
            if i > 0 && l.experience <= levels[i - 1].experience {
                return Err(format!("level {} must start above level {}", l.level, l.level - 1));
            }
        }
        Ok(LevelTable(levels))
    }

    pub fn levels(&self) -> &[Level] {
        &self.0
    }

    /// The level that `experience` reaches.
    pub fn reached(&self, experience: i64) -> &Level {
        self.0.iter().rev().find(|l| experience >= l.experience).unwrap_or(&self.0[0])
    }

    /// Level `n`, or the top one when the table has shrunk below a level a customer holds.
    pub fn get(&self, level: i64) -> &Level {
        self.0.iter().find(|l| l.level == level).unwrap_or_else(|| &self.0[self.0.len() - 1])
    }

    pub fn next(&self, level: i64) -> Option<&Level> {
        self.0.iter().find(|l| l.level == level + 1)
    }

    /// A customer's level after earning: what the experience reaches, never below the level
    /// already held (levels never go down, even when an admin raises the thresholds).
    pub fn after_earning(&self, held: i64, experience: i64) -> i64 {
        held.max(self.reached(experience).level)
    }
}

/// `points × multiplier`, rounded down.
pub fn multiply(points: i64, multiplier_pct: i64) -> i64 {
    points.saturating_mul(multiplier_pct) / 100
}

/// Whether a ledger source counts as earning (experience, leaderboards, `lifetime_earned`):
/// every positive entry except an admin's adjustment and a refund.
pub fn counts_as_earning(source: &str, points: i64) -> bool {
    points > 0 && source != "admin_adjust" && source != "refund"
}

/// The one-off bonus of the 20th check-in in a calendar month.
pub const MONTH_BONUS: i64 = 200;
pub const MONTH_BONUS_AT: i64 = 20;
/// The streak multiplier stops growing here.
pub const STREAK_CAP: i64 = 7;

/// The customer's previous check-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LastCheckin {
    pub day: i64,
    pub streak: i64,
}

/// What a check-in earns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Checkin {
    pub day: i64,
    pub streak: i64,
    /// Base × min(streak, 7) × the level multiplier, rounded down.
    pub points: i64,
    /// 200 on the 20th check-in of the month, else 0.
    pub bonus: i64,
    /// Check-ins this month, this one included.
    pub month_count: i64,
    /// What tomorrow's check-in would earn, at today's level.
    pub next_reward: i64,
}

/// The check-in at `now`: refused (`None`) when there already is one today. `month_before` is
/// the number of check-ins earlier in the current month.
pub fn check_in(
    tz: &BusinessTz,
    now: i64,
    last: Option<LastCheckin>,
    month_before: i64,
    base: i64,
    multiplier_pct: i64,
) -> Option<Checkin> {
    let day = tz.day(now);
    let streak = match last {
        Some(l) if l.day >= day => return None,
        Some(l) if l.day == day - 1 => l.streak + 1,
        _ => 1,
    };
    let month_count = month_before + 1;
    Some(Checkin {
        day,
        streak,
        points: streak_reward(base, streak, multiplier_pct),
        bonus: if month_count == MONTH_BONUS_AT { MONTH_BONUS } else { 0 },
        month_count,
        next_reward: streak_reward(base, streak + 1, multiplier_pct),
    })
}

/// The streak at `now` as the customer sees it: it still stands when the last check-in was
/// today or yesterday, and is 0 once a day was missed.
pub fn current_streak(tz: &BusinessTz, now: i64, last: Option<LastCheckin>) -> i64 {
    match last {
        Some(l) if l.day >= tz.day(now) - 1 => l.streak,
        _ => 0,
    }
}

pub fn streak_reward(base: i64, streak: i64, multiplier_pct: i64) -> i64 {
    multiply(base.saturating_mul(streak.clamp(1, STREAK_CAP)), multiplier_pct)
}

/// How often a task can be done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TaskPeriod {
    Once,
    Daily,
    Weekly,
}

impl TaskPeriod {
    pub fn parse(s: &str) -> Option<TaskPeriod> {
        match s {
            "once" => Some(TaskPeriod::Once),
            "daily" => Some(TaskPeriod::Daily),
            "weekly" => Some(TaskPeriod::Weekly),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TaskPeriod::Once => "once",
            TaskPeriod::Daily => "daily",
            TaskPeriod::Weekly => "weekly",
        }
    }

    /// The current round of the task at `now`: its key in the store (one claim per key), the
    /// window its progress counts in, and when it resets (`None` for a once-only task).
    pub fn round(self, tz: &BusinessTz, now: i64) -> TaskRound {
        let day = tz.day(now);
        match self {
            TaskPeriod::Once => TaskRound { key: "once".into(), from: 0, until: i64::MAX, resets_at: None },
            TaskPeriod::Daily => TaskRound {
                key: format!("d{}", tz.date(day)),
                from: tz.day_start(day),
                until: tz.day_start(day + 1),
                resets_at: Some(tz.day_start(day + 1)),
            },
            TaskPeriod::Weekly => {
                let monday = week_start(day);
                TaskRound {
                    key: format!("w{}", tz.date(monday)),
                    from: tz.day_start(monday),
                    until: tz.day_start(monday + 7),
                    resets_at: Some(tz.day_start(monday + 7)),
                }
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRound {
    pub key: String,
    pub from: i64,
    pub until: i64,
    pub resets_at: Option<i64>,
}

/// What a built-in task counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskMeasure {
    /// Draws made (a batch of n counts n).
    Draws,
    /// Receipts approved.
    ApprovedReceipts,
    /// The longest check-in streak reached.
    CheckinStreak,
    /// Shop orders placed.
    Exchanges,
    /// Points spent on the wheel and in the shop.
    PointsSpent,
}

impl TaskMeasure {
    /// The measure of a built-in task key.
    pub fn of(key: &str) -> Option<TaskMeasure> {
        match key {
            "first_draw" | "daily_draw" => Some(TaskMeasure::Draws),
            "upload_receipt" => Some(TaskMeasure::ApprovedReceipts),
            "checkin_streak_7" => Some(TaskMeasure::CheckinStreak),
            "first_exchange" => Some(TaskMeasure::Exchanges),
            "weekly_spender" => Some(TaskMeasure::PointsSpent),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    InProgress,
    Completed,
    Claimed,
}

pub fn task_status(progress: i64, target: i64, claimed: bool) -> TaskStatus {
    if claimed {
        TaskStatus::Claimed
    } else if progress >= target {
        TaskStatus::Completed
    } else {
        TaskStatus::InProgress
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shanghai() -> BusinessTz {
        BusinessTz::parse("Asia/Shanghai").expect("known zone")
    }

    /// Epoch ms of a wall-clock time in Shanghai.
    fn at(date: &str, h: i64, m: i64) -> i64 {
        let tz = shanghai();
        tz.day_start(tz.parse_date(date).expect("date")) + h * 3_600_000 + m * 60_000
    }

    #[test]
    fn the_business_day_turns_at_local_midnight_not_utc() {
        let tz = shanghai();
        // 15:59 UTC is 23:59 in Shanghai; 16:00 UTC is the next day there.
        let before = at("2026-12-01", 23, 59);
        let after = at("2026-12-02", 0, 0);
        assert_eq!(after - before, 60_000);
        assert_eq!(tz.date(tz.day(before)), "2026-12-01");
        assert_eq!(tz.date(tz.day(after)), "2026-12-02");
        assert_eq!(crate::domain::time::iso(after), "2026-12-01T16:00:00.000Z");
        let utc = BusinessTz::parse("UTC").expect("utc");
        assert_eq!(utc.date(utc.day(after)), "2026-12-01");
    }

    #[test]
    fn zones_with_daylight_saving_are_refused_and_offsets_parse() {
        assert!(BusinessTz::parse("Europe/Berlin").is_err());
        assert_eq!(BusinessTz::parse("-05:30").expect("offset").day_start(0), 5 * 3_600_000 + 30 * 60_000);
        assert!(BusinessTz::parse("+15:00").is_err());
        assert!(BusinessTz::parse("+8").is_err());
    }

    #[test]
    fn weeks_start_on_monday_and_months_on_the_first() {
        let tz = shanghai();
        // 2026-12-06 is a Sunday, 2026-12-07 a Monday.
        let sunday = tz.parse_date("2026-12-06").expect("date");
        assert_eq!(tz.date(week_start(sunday)), "2026-11-30");
        assert_eq!(tz.date(week_start(sunday + 1)), "2026-12-07");
        assert_eq!(tz.date(month_start(sunday)), "2026-12-01");
        assert_eq!(tz.date(next_month_start(sunday)), "2027-01-01");
        let feb = tz.parse_date("2028-02-29").expect("leap day");
        assert_eq!(tz.date(next_month_start(feb)), "2028-03-01");
        let (from, to) = Period::Week.bounds(&tz, at("2026-12-06", 23, 59));
        assert_eq!(
            (crate::domain::time::iso(from), crate::domain::time::iso(to)),
            ("2026-11-29T16:00:00.000Z".to_string(), "2026-12-06T16:00:00.000Z".to_string())
        );
        let (from, to) = Period::Month.bounds(&tz, at("2026-12-01", 0, 0));
        assert_eq!(tz.date(tz.day(from)), "2026-12-01");
        assert_eq!(tz.date(tz.day(to)), "2027-01-01");
        let (from, to) = Period::Day.bounds(&tz, at("2026-12-01", 7, 59));
        assert_eq!(to - from, DAY_MS);
        assert_eq!(crate::domain::time::iso(from), "2026-11-30T16:00:00.000Z");
    }

    #[test]
    fn default_levels_and_multipliers_round_down() {
        let t = LevelTable::default();
        assert_eq!(t.reached(0).level, 1);
        assert_eq!(t.reached(1999).level, 1);
        assert_eq!(t.reached(2000).level, 2);
        assert_eq!(t.reached(99_999).level, 4);
        assert_eq!(t.reached(100_000).name, "钻石会员");
        assert_eq!(t.next(1).map(|l| l.experience), Some(2000));
        assert_eq!(t.next(5), None);
        // The contract's example: a level-2 receipt clamped to 2000 earns 2200.
        assert_eq!(multiply(2000, t.get(2).multiplier_pct), 2200);
        assert_eq!(multiply(15, 110), 16, "16.5 rounds down");
        assert_eq!(multiply(10, 150), 15);
    }

    #[test]
    fn levels_never_go_down() {
        let raised = LevelTable::new(vec![
            Level { level: 1, name: "a".into(), experience: 0, multiplier_pct: 100 },
            Level { level: 2, name: "b".into(), experience: 5000, multiplier_pct: 110 },
        ])
        .expect("valid");
        assert_eq!(raised.after_earning(2, 3000), 2, "a threshold raised later does not demote");
        assert_eq!(raised.after_earning(1, 5000), 2);
    }

    #[test]
    fn bad_level_tables_are_refused() {
        let l = |level, experience, multiplier_pct| Level { level, name: "x".into(), experience, multiplier_pct };
        assert!(LevelTable::new(vec![]).is_err());
        assert!(LevelTable::new(vec![l(1, 10, 100)]).is_err(), "level 1 starts at 0");
        assert!(LevelTable::new(vec![l(1, 0, 100), l(3, 10, 100)]).is_err(), "gap");
        assert!(LevelTable::new(vec![l(1, 0, 100), l(2, 0, 100)]).is_err(), "not increasing");
        assert!(LevelTable::new(vec![l(1, 0, 99)]).is_err(), "below 1.0");
        assert!(LevelTable::new(vec![l(2, 10, 110), l(1, 0, 100)]).is_ok(), "order does not matter");
    }

    #[test]
    fn the_streak_grows_by_day_and_caps_at_seven() {
        let tz = shanghai();
        let mut last = None;
        let mut rewards = Vec::new();
        for d in 1..=9 {
            let now = at(&format!("2026-11-{d:02}"), 9, 0);
            let c = check_in(&tz, now, last, d - 1, 10, 100).expect("first of the day");
            rewards.push(c.points);
            last = Some(LastCheckin { day: c.day, streak: c.streak });
        }
        assert_eq!(rewards, vec![10, 20, 30, 40, 50, 60, 70, 70, 70]);
    }

    #[test]
    fn a_second_check_in_the_same_local_day_is_refused_even_across_utc_midnight() {
        let tz = shanghai();
        // 07:00 and 08:30 Shanghai are on both sides of UTC midnight, yet one business day.
        let first = check_in(&tz, at("2026-12-01", 7, 0), None, 0, 10, 100).expect("first");
        let last = Some(LastCheckin { day: first.day, streak: first.streak });
        assert_eq!(check_in(&tz, at("2026-12-01", 8, 30), last, 1, 10, 100), None);
        assert_eq!(check_in(&tz, at("2026-12-01", 23, 59), last, 1, 10, 100), None);
        let next = check_in(&tz, at("2026-12-02", 0, 0), last, 1, 10, 100).expect("after local midnight");
        assert_eq!(next.streak, 2);
    }

    #[test]
    fn a_missed_day_resets_the_streak() {
        let tz = shanghai();
        let last = Some(LastCheckin { day: tz.day(at("2026-12-01", 9, 0)), streak: 5 });
        let c = check_in(&tz, at("2026-12-03", 9, 0), last, 5, 10, 100).expect("new day");
        assert_eq!((c.streak, c.points), (1, 10));
        assert_eq!(current_streak(&tz, at("2026-12-02", 23, 0), last), 5, "yesterday's streak still stands");
        assert_eq!(current_streak(&tz, at("2026-12-03", 0, 0), last), 0, "a whole day missed");
    }

    #[test]
    fn the_streak_carries_over_the_month_boundary_but_the_month_count_restarts() {
        let tz = shanghai();
        let last = Some(LastCheckin { day: tz.day(at("2026-11-30", 23, 59)), streak: 3 });
        // The caller counts this month's check-ins: none yet on 1 December.
        let c = check_in(&tz, at("2026-12-01", 0, 1), last, 0, 10, 100).expect("new day");
        assert_eq!((c.streak, c.month_count, c.bonus), (4, 1, 0));
    }

    #[test]
    fn the_twentieth_check_in_of_the_month_adds_the_bonus_once() {
        let tz = shanghai();
        let c = check_in(&tz, at("2026-12-25", 9, 0), None, 19, 10, 100).expect("new day");
        assert_eq!((c.month_count, c.bonus), (20, MONTH_BONUS));
        let c = check_in(&tz, at("2026-12-26", 9, 0), None, 20, 10, 100).expect("new day");
        assert_eq!(c.bonus, 0);
    }

    #[test]
    fn the_level_multiplies_the_check_in_reward_rounding_down() {
        let tz = shanghai();
        let last = Some(LastCheckin { day: tz.day(at("2026-12-01", 9, 0)), streak: 2 });
        let c = check_in(&tz, at("2026-12-02", 9, 0), last, 1, 15, 110).expect("new day");
        // 15 × 3 × 1.1 = 49.5
        assert_eq!((c.points, c.next_reward), (49, 66));
    }

    #[test]
    fn task_rounds_reset_at_local_midnight_and_on_monday() {
        let tz = shanghai();
        let sunday_night = at("2026-12-06", 23, 59);
        let monday = at("2026-12-07", 0, 0);
        let daily = TaskPeriod::Daily.round(&tz, sunday_night);
        assert_eq!(daily.key, "d2026-12-06");
        assert_eq!(daily.resets_at, Some(monday));
        assert_eq!(TaskPeriod::Daily.round(&tz, monday).key, "d2026-12-07");
        let weekly = TaskPeriod::Weekly.round(&tz, sunday_night);
        assert_eq!(weekly.key, "w2026-11-30");
        assert_eq!((weekly.from, weekly.until), (at("2026-11-30", 0, 0), monday));
        assert_eq!(TaskPeriod::Weekly.round(&tz, monday).key, "w2026-12-07");
        let once = TaskPeriod::Once.round(&tz, monday);
        assert_eq!((once.key.as_str(), once.resets_at), ("once", None));
    }

    #[test]
    fn task_status_follows_progress_and_claims() {
        assert_eq!(task_status(2, 3, false), TaskStatus::InProgress);
        assert_eq!(task_status(3, 3, false), TaskStatus::Completed);
        assert_eq!(task_status(5, 3, true), TaskStatus::Claimed);
        assert_eq!(TaskMeasure::of("daily_draw"), Some(TaskMeasure::Draws));
        assert_eq!(TaskMeasure::of("nope"), None);
    }

    #[test]
    fn earning_excludes_adjustments_and_refunds() {
        assert!(counts_as_earning("register", 1000));
        assert!(counts_as_earning("lottery_win", 50));
        assert!(!counts_as_earning("admin_adjust", 50));
        assert!(!counts_as_earning("refund", 50));
        assert!(!counts_as_earning("lottery", -100));
    }
}
