//! Loyalty across days, black-box on SQLite and MariaDB: the server's business clock is moved
//! with the test hook `POST /api/admin/test-hooks/clock` (only with `ENABLE_TEST_HOOKS=1`), so
//! check-in streaks, the month's bonus, task rounds and leaderboard periods are seen to turn at
//! midnight, on Monday and on the 1st in `BUSINESS_TZ` (the default, Asia/Shanghai: UTC+8, no
//! daylight saving), as a customer would see them over days. Every test ends with `reconcile`.
//!
//! The dates are fixed (2027), so the weekdays are known: 2027-01-30 is a Saturday, 2027-01-31 a
//! Sunday, 2027-02-01 a Monday and the 1st of a month, 2027-03-31 a Wednesday.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(5);
const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

fn int(v: &Value, key: &str) -> i64 {
    v[key].as_i64().unwrap_or_else(|| panic!("{key} in {v}"))
}

/// Epoch ms of a wall time in Shanghai, `2027-01-30 12:00:00`.
fn shanghai(local: &str) -> i64 {
    let naive = chrono::NaiveDateTime::parse_from_str(local, "%Y-%m-%d %H:%M:%S").expect("a local time");
    naive.and_utc().timestamp_millis() - 8 * HOUR
}

fn epoch_ms(iso: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(iso).map(|t| t.timestamp_millis()).unwrap_or_else(|e| panic!("{iso}: {e}"))
}

/// Sets the server's business clock so that it reads `local` (Shanghai) now, and checks it does.
async fn travel(server: &TestServer, admin: &str, local: &str) {
    let target = shanghai(local);
    let offset = target - chrono::Utc::now().timestamp_millis();
    let v = assert_ok(&server.post("/api/admin/test-hooks/clock", Some(admin), json!({ "offset_ms": offset })).await);
    assert_eq!(int(&v, "offset_ms"), offset);
    let now = epoch_ms(v["now"].as_str().expect("now"));
    assert!((now - target).abs() < 5_000, "the server reads {} for {local}", v["now"]);
}

async fn check_in(server: &TestServer, c: &Customer) -> Value {
    assert_ok(&server.post("/api/checkin", Some(&c.token), json!({})).await)
}

async fn status(server: &TestServer, c: &Customer) -> Value {
    assert_ok(&server.get("/api/checkin/status", Some(&c.token)).await)
}

fn days(status: &Value) -> Vec<String> {
    status["days"].as_array().expect("days").iter().map(|d| d.as_str().unwrap_or_default().to_string()).collect()
}

fn task<'a>(tasks: &'a Value, key: &str) -> &'a Value {
    tasks["tasks"].as_array().expect("tasks").iter().find(|t| t["key"] == key).unwrap_or_else(|| panic!("{key}"))
}

/// (progress, status, resets_at) of one task.
fn round(tasks: &Value, key: &str) -> (i64, String, Option<String>) {
    let t = task(tasks, key);
    (
        int(t, "progress"),
        t["status"].as_str().unwrap_or_default().to_string(),
        t["resets_at"].as_str().map(String::from),
    )
}

async fn claim(server: &TestServer, c: &Customer, id: i64) -> (reqwest::StatusCode, Value) {
    server.post(&format!("/api/tasks/{id}/claim"), Some(&c.token), json!({})).await
}

/// The board of `period` as `viewer` reads it: `[(masked mobile, points)]` in rank order, and
/// the viewer's own `(rank, points)`.
type Board = (Vec<(String, i64)>, (Option<i64>, i64));

async fn board(server: &TestServer, viewer: &Customer, period: &str) -> (Board, Value) {
    let v = assert_ok(&server.get(&format!("/api/points/leaderboard?period={period}"), Some(&viewer.token)).await);
    let entries = v["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| (e["user"]["masked_mobile"].as_str().unwrap_or_default().to_string(), int(e, "points_earned")))
        .collect();
    ((entries, (v["me"]["rank"].as_i64(), int(&v["me"], "points_earned"))), v)
}

/// Waits (the contract's 1 s, with room for a loaded machine) until the board reads `want`.
async fn board_reads(server: &TestServer, viewer: &Customer, period: &str, want: Board) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (got, raw) = board(server, viewer, period).await;
        if got == want {
            return raw;
        }
        assert!(tokio::time::Instant::now() < deadline, "{period} board: {got:?}, expected {want:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn masked(c: &Customer) -> String {
    format!("{}****{}", &c.phone[..3], &c.phone[7..])
}

async fn the_clock_hook_shifts_business_time_and_sessions_survive(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let c = server.login(&phone(621, 1)).await;
    let hook = "/api/admin/test-hooks/clock";
    assert_error(&server.post(hook, None, json!({ "offset_ms": DAY })).await, 401, 2001);
    assert_error(&server.post(hook, Some(&c.token), json!({ "offset_ms": DAY })).await, 403, 2004);
    assert_error(&server.post(hook, Some(&admin), json!({})).await, 400, 1003);
    let refused = server.post(hook, Some(&admin), json!({ "offset_ms": 11 * 366 * DAY })).await;
    assert_error(&refused, 400, 1003);
    assert!(refused.1["msg"].as_str().is_some_and(|m| m.contains("offset_ms")), "{}", refused.1);

    // Forty days on: the tokens held from before still work, a socket opened now stays open,
    // and the check-in is dated forty days on.
    let ahead = assert_ok(&server.post(hook, Some(&admin), json!({ "offset_ms": 40 * DAY })).await);
    let now = epoch_ms(ahead["now"].as_str().expect("now"));
    assert!((now - chrono::Utc::now().timestamp_millis() - 40 * DAY).abs() < 5_000, "{ahead}");
    let mut ws = server.ws(&c.token).await;
    check_in(&server, &c).await;
    let update = ws.next_of("points_update", WAIT).await.expect("points_update on a socket opened after the shift");
    assert_eq!(int(&update["data"], "total_points"), 1010, "{update}");
    let s = status(&server, &c).await;
    let expected =
        chrono::DateTime::from_timestamp_millis(now + 8 * HOUR).expect("date").format("%Y-%m-%d").to_string();
    assert_eq!(days(&s), vec![expected]);
    let refreshed = assert_ok(&server.post("/api/auth/refresh", None, json!({ "refresh_token": c.refresh })).await);
    let token = refreshed["access_token"].as_str().expect("access_token");
    assert_eq!(int(&assert_ok(&server.get("/api/user/info", Some(token)).await), "total_points"), 1010);

    // Forty days back: a customer signing in now gets tokens that work (tokens run on the wall
    // clock, which `jsonwebtoken` checks expiry against).
    assert_ok(&server.post(hook, Some(&admin), json!({ "offset_ms": -40 * DAY })).await);
    let d = server.login(&phone(621, 2)).await;
    assert_eq!(server.balance(&d).await, 1000);
    assert_ok(&server.post(hook, Some(&admin), json!({ "offset_ms": 0 })).await);
    server.assert_reconciled();

    // Without test hooks (as in production) the route does not exist.
    let plain = TestServer::start_with(backend, &[("ENABLE_TEST_HOOKS", "0")]).await;
    let admin = plain.admin().await;
    assert_error(&plain.post(hook, Some(&admin), json!({ "offset_ms": DAY })).await, 404, 9004);
}

async fn streaks_follow_business_days_and_a_missed_day_starts_over(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let c = server.login(&phone(622, 1)).await;

    travel(&server, &admin, "2027-01-30 12:00:00").await;
    let first = check_in(&server, &c).await;
    assert_eq!((int(&first, "streak"), int(&first, "points_awarded"), int(&first, "month_count")), (1, 10, 1));
    assert_eq!(int(&first, "next_reward"), 20);
    // Later the same business day: refused, nothing credited.
    travel(&server, &admin, "2027-01-30 23:00:00").await;
    assert_error(&server.post("/api/checkin", Some(&c.token), json!({})).await, 409, 7001);
    assert_eq!(server.balance(&c).await, 1010);

    travel(&server, &admin, "2027-01-31 09:00:00").await;
    let s = status(&server, &c).await;
    assert_eq!((s["checked_in_today"].as_bool(), int(&s, "streak"), int(&s, "next_reward")), (Some(false), 1, 20));
    let second = check_in(&server, &c).await;
    assert_eq!((int(&second, "streak"), int(&second, "points_awarded"), int(&second, "month_count")), (2, 20, 2));

    // A new month: the streak goes on, the month's count starts again.
    travel(&server, &admin, "2027-02-01 08:00:00").await;
    let third = check_in(&server, &c).await;
    assert_eq!((int(&third, "streak"), int(&third, "points_awarded"), int(&third, "month_count")), (3, 30, 1));
    assert_eq!(days(&status(&server, &c).await), vec!["2027-02-01"]);

    // 2027-02-02 is missed: on the 3rd the standing streak is 0 and the check-in starts at 1.
    travel(&server, &admin, "2027-02-03 10:00:00").await;
    let s = status(&server, &c).await;
    assert_eq!((s["checked_in_today"].as_bool(), int(&s, "streak"), int(&s, "next_reward")), (Some(false), 0, 10));
    let fourth = check_in(&server, &c).await;
    assert_eq!((int(&fourth, "streak"), int(&fourth, "points_awarded"), int(&fourth, "month_count")), (1, 10, 2));
    assert_eq!(days(&status(&server, &c).await), vec!["2027-02-01", "2027-02-03"]);

    assert_eq!(server.balance(&c).await, 1000 + 10 + 20 + 30 + 10);
    let records = assert_ok(&server.get("/api/user/points-records?source=checkin", Some(&c.token)).await);
    assert_eq!(int(&records["pagination"], "total"), 4);
    server.assert_reconciled();
}

async fn check_ins_either_side_of_midnight_count_on_two_days(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let c = server.login(&phone(623, 1)).await;
    // 23:59:30 and 00:00:10 in Shanghai are 15:59:30 and 16:00:10 UTC of the same UTC date:
    // only the business time zone tells them apart.
    travel(&server, &admin, "2027-01-30 23:59:30").await;
    let before = check_in(&server, &c).await;
    assert_eq!((int(&before, "streak"), int(&before, "points_awarded")), (1, 10));
    travel(&server, &admin, "2027-01-31 00:00:10").await;
    let after = check_in(&server, &c).await;
    assert_eq!((int(&after, "streak"), int(&after, "points_awarded"), int(&after, "month_count")), (2, 20, 2));
    assert_eq!(days(&status(&server, &c).await), vec!["2027-01-30", "2027-01-31"]);
    assert_error(&server.post("/api/checkin", Some(&c.token), json!({})).await, 409, 7001);
    assert_eq!(server.balance(&c).await, 1030);
    server.assert_reconciled();
}

async fn twenty_days_cap_the_streak_raise_the_level_and_pay_the_month_bonus(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let c = server.login(&phone(624, 1)).await;
    let mut ws = server.ws(&c.token).await;
    // From the contract: 10 × min(streak, 7) at level 1 (experience starts at the 1000 of the
    // sign-up grant, level 2 at 2000). After day 18 the experience is 2050: level 2, so days 19
    // and 20 earn floor(70 × 1.1) = 77, and day 20, the month's 20th check-in, adds 200.
    let expected = [10, 20, 30, 40, 50, 60, 70, 70, 70, 70, 70, 70, 70, 70, 70, 70, 70, 70, 77, 77];
    let mut total = 1000;
    for (i, points) in expected.iter().enumerate() {
        let day = i as i64 + 1;
        travel(&server, &admin, &format!("2027-03-{day:02} 10:00:00")).await;
        let done = check_in(&server, &c).await;
        let bonus = if day == 20 { 200 } else { 0 };
        assert_eq!(
            (int(&done, "streak"), int(&done, "points_awarded"), int(&done, "bonus_points"), int(&done, "month_count")),
            (day, *points, bonus, day),
            "day {day}"
        );
        total += points + bonus;
        assert_eq!(int(&done, "total_points"), total, "day {day}");
        if day == 18 {
            let up = ws.next_of("level_up", WAIT).await.expect("level_up after day 18");
            assert_eq!((int(&up["data"], "level"), up["data"]["multiplier"].as_f64()), (2, Some(1.1)));
        }
    }
    let s = status(&server, &c).await;
    assert_eq!((int(&s, "month_count"), days(&s).len(), int(&s, "next_reward")), (20, 20, 77));
    assert_eq!(days(&s)[19], "2027-03-20");

    // The 7-day streak task completed on day 7 and pays once.
    let tasks = assert_ok(&server.get("/api/tasks", Some(&c.token)).await);
    let (progress, state, _) = round(&tasks, "checkin_streak_7");
    assert_eq!((progress, state.as_str()), (7, "completed"));
    let claimed = assert_ok(&claim(&server, &c, int(task(&tasks, "checkin_streak_7"), "id")).await);
    assert_eq!((int(&claimed, "points_awarded"), int(&claimed, "total_points")), (100, total + 100));
    assert_error(&claim(&server, &c, int(task(&tasks, "checkin_streak_7"), "id")).await, 409, 7002);
    let a = assert_ok(&server.get("/api/points/account", Some(&c.token)).await);
    assert_eq!((int(&a, "lifetime_earned"), int(&a["level"], "level")), (total + 100, 2));
    server.assert_reconciled();
}

async fn daily_and_weekly_tasks_start_over_in_business_time(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    // Draws win nothing, so the balance is the arithmetic of costs and rewards.
    server.wheel_all_on(&admin, "谢谢参与", None).await;
    let c = server.login(&phone(625, 1)).await;
    let triple = || server.post("/api/lottery/draw", Some(&c.token), json!({ "draw_type": "triple" }));

    // Saturday.
    travel(&server, &admin, "2027-01-30 12:00:00").await;
    assert_ok(&triple().await);
    let tasks = assert_ok(&server.get("/api/tasks", Some(&c.token)).await);
    let daily = int(task(&tasks, "daily_draw"), "id");
    assert_eq!(round(&tasks, "daily_draw"), (3, "completed".into(), Some("2027-01-30T16:00:00.000Z".into())));
    assert_eq!(round(&tasks, "weekly_spender"), (300, "in_progress".into(), Some("2027-01-31T16:00:00.000Z".into())));
    assert_eq!(int(&assert_ok(&claim(&server, &c, daily).await), "points_awarded"), 20);
    assert_error(&claim(&server, &c, daily).await, 409, 7002);

    // Sunday: a new daily round (nothing done yet, so not claimable), the same week.
    travel(&server, &admin, "2027-01-31 12:00:00").await;
    let tasks = assert_ok(&server.get("/api/tasks", Some(&c.token)).await);
    assert_eq!(round(&tasks, "daily_draw"), (0, "in_progress".into(), Some("2027-01-31T16:00:00.000Z".into())));
    assert_eq!(round(&tasks, "weekly_spender").0, 300);
    assert_eq!(round(&tasks, "first_draw"), (1, "completed".into(), None));
    assert_error(&claim(&server, &c, daily).await, 409, 7003);
    assert_ok(&triple().await);
    let tasks = assert_ok(&server.get("/api/tasks", Some(&c.token)).await);
    assert_eq!(round(&tasks, "daily_draw").1, "completed");
    assert_eq!(round(&tasks, "weekly_spender").0, 600);
    assert_eq!(int(&assert_ok(&claim(&server, &c, daily).await), "points_awarded"), 20, "the second round pays");

    // Just after midnight on Monday: a new day and a new week; the once-only task stays done.
    travel(&server, &admin, "2027-02-01 00:00:30").await;
    let tasks = assert_ok(&server.get("/api/tasks", Some(&c.token)).await);
    assert_eq!(round(&tasks, "daily_draw"), (0, "in_progress".into(), Some("2027-02-01T16:00:00.000Z".into())));
    assert_eq!(round(&tasks, "weekly_spender"), (0, "in_progress".into(), Some("2027-02-07T16:00:00.000Z".into())));
    assert_eq!(round(&tasks, "first_draw"), (1, "completed".into(), None));

    let records = assert_ok(&server.get("/api/user/points-records?source=task", Some(&c.token)).await);
    assert_eq!(int(&records["pagination"], "total"), 2);
    assert_eq!(server.balance(&c).await, 1000 - 600 + 40);
    server.assert_reconciled();
}

async fn leaderboards_roll_over_by_day_week_and_month(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let a = server.login(&phone(626, 1)).await;
    let b = server.login(&phone(626, 2)).await;
    let (ma, mb) = (masked(&a), masked(&b));
    let empty: Board = (vec![], (None, 0));

    // Saturday 2027-01-30. The sign-up grants were earned today (real time), outside every board.
    travel(&server, &admin, "2027-01-30 12:00:00").await;
    check_in(&server, &a).await;
    let day = board_reads(&server, &a, "day", (vec![(ma.clone(), 10)], (Some(1), 10))).await;
    assert_eq!(
        (day["starts_at"].as_str(), day["ends_at"].as_str()),
        (Some("2027-01-29T16:00:00.000Z"), Some("2027-01-30T16:00:00.000Z"))
    );
    let week = board_reads(&server, &a, "week", (vec![(ma.clone(), 10)], (Some(1), 10))).await;
    assert_eq!(
        (week["starts_at"].as_str(), week["ends_at"].as_str()),
        (Some("2027-01-24T16:00:00.000Z"), Some("2027-01-31T16:00:00.000Z"))
    );
    let month = board_reads(&server, &a, "month", (vec![(ma.clone(), 10)], (Some(1), 10))).await;
    assert_eq!(
        (month["starts_at"].as_str(), month["ends_at"].as_str()),
        (Some("2026-12-31T16:00:00.000Z"), Some("2027-01-31T16:00:00.000Z"))
    );

    // Sunday: a new day board; the week and the month go on.
    travel(&server, &admin, "2027-01-31 12:00:00").await;
    board_reads(&server, &a, "day", empty.clone()).await;
    check_in(&server, &b).await;
    check_in(&server, &a).await;
    board_reads(&server, &b, "day", (vec![(ma.clone(), 20), (mb.clone(), 10)], (Some(2), 10))).await;
    board_reads(&server, &b, "week", (vec![(ma.clone(), 30), (mb.clone(), 10)], (Some(2), 10))).await;
    board_reads(&server, &a, "month", (vec![(ma.clone(), 30), (mb.clone(), 10)], (Some(1), 30))).await;

    // Monday 2027-02-01, just after midnight: day, week and month all start empty.
    travel(&server, &admin, "2027-02-01 00:00:30").await;
    for period in ["day", "week", "month"] {
        board_reads(&server, &a, period, empty.clone()).await;
    }
    check_in(&server, &b).await;
    for period in ["day", "week", "month"] {
        board_reads(&server, &a, period, (vec![(mb.clone(), 20)], (None, 0))).await;
    }

    // Wednesday 2027-03-31, then Thursday 2027-04-01: the month turns inside a week.
    travel(&server, &admin, "2027-03-31 12:00:00").await;
    check_in(&server, &a).await;
    board_reads(&server, &a, "week", (vec![(ma.clone(), 10)], (Some(1), 10))).await;
    travel(&server, &admin, "2027-04-01 12:00:00").await;
    board_reads(&server, &a, "month", empty.clone()).await;
    board_reads(&server, &a, "week", (vec![(ma.clone(), 10)], (Some(1), 10))).await;
    check_in(&server, &b).await;
    board_reads(&server, &b, "month", (vec![(mb.clone(), 10)], (Some(1), 10))).await;
    // A tie goes to whoever reached the total first.
    board_reads(&server, &b, "week", (vec![(ma.clone(), 10), (mb.clone(), 10)], (Some(2), 10))).await;
    server.assert_reconciled();
}

both_backends!(
    the_clock_hook_shifts_business_time_and_sessions_survive,
    streaks_follow_business_days_and_a_missed_day_starts_over,
    check_ins_either_side_of_midnight_count_on_two_days,
    twenty_days_cap_the_streak_raise_the_level_and_pay_the_month_bonus,
    daily_and_weekly_tasks_start_over_in_business_time,
    leaderboards_roll_over_by_day_week_and_month,
);

#[test]
fn the_fixed_dates_fall_on_the_weekdays_the_tests_rely_on() {
    use chrono::{Datelike, NaiveDate, Weekday};
    let weekday = |d: &str| NaiveDate::parse_from_str(d, "%Y-%m-%d").expect("date").weekday();
    assert_eq!(weekday("2027-01-30"), Weekday::Sat);
    assert_eq!(weekday("2027-02-01"), Weekday::Mon);
    assert_eq!(weekday("2027-03-29"), Weekday::Mon);
    assert_eq!(weekday("2027-04-01"), Weekday::Thu);
    assert_eq!(shanghai("2027-02-01 00:00:00"), epoch_ms("2027-01-31T16:00:00.000Z"));
    assert_eq!(DAY, 86_400_000);
}
