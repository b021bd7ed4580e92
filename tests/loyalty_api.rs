//! Loyalty, black-box on SQLite and MariaDB: the points account, check-in, frozen points (and
//! that they cannot be spent), member levels and their multipliers with `level_up`, tasks with
//! `task_completed` and exactly-once claims, the leaderboards, admin levels and task rewards, and
//! the operator's analytics. Every test ends with `reconcile` passing.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(5);

fn int(v: &Value, key: &str) -> i64 {
    v[key].as_i64().unwrap_or_else(|| panic!("{key} in {v}"))
}

async fn account(server: &TestServer, c: &Customer) -> Value {
    assert_ok(&server.get("/api/points/account", Some(&c.token)).await)
}

fn task<'a>(tasks: &'a Value, key: &str) -> &'a Value {
    tasks["tasks"].as_array().expect("tasks").iter().find(|t| t["key"] == key).unwrap_or_else(|| panic!("{key}"))
}

async fn make_merchant(server: &TestServer, admin: &str, phone: &str) -> Customer {
    let m = server.login(phone).await;
    let path = format!("/api/admin/users/{}/merchant", m.user_id);
    assert_ok(&server.post(&path, Some(admin), json!({ "is_merchant": true })).await);
    m
}

async fn approve(server: &TestServer, m: &Customer, id: i64, amount: f64) -> Value {
    let body = json!({ "upload_id": id, "action": "approve", "actual_amount": amount });
    assert_ok(&server.post("/api/merchant/review", Some(&m.token), body).await)
}

async fn account_starts_with_the_sign_up_grant_at_level_one(backend: Backend) {
    let server = TestServer::start(backend).await;
    let c = server.login(&phone(601, 1)).await;
    let a = account(&server, &c).await;
    assert_eq!(
        (int(&a, "total_points"), int(&a, "available_points"), int(&a, "frozen_points"), int(&a, "lifetime_earned")),
        (1000, 1000, 0, 1000)
    );
    let l = &a["level"];
    assert_eq!((int(l, "level"), l["name"].as_str(), int(l, "experience")), (1, Some("普通会员"), 1000));
    assert_eq!((int(l, "next_level"), int(l, "next_level_experience")), (2, 2000));
    assert_eq!(l["multiplier"].as_f64(), Some(1.0));
    assert_error(&server.get("/api/points/account", None).await, 401, 2001);
    server.assert_reconciled();
}

async fn check_in_once_a_day(backend: Backend) {
    let server = TestServer::start(backend).await;
    let c = server.login(&phone(602, 1)).await;
    let before = assert_ok(&server.get("/api/checkin/status", Some(&c.token)).await);
    assert_eq!(
        (before["checked_in_today"].as_bool(), int(&before, "streak"), int(&before, "month_count")),
        (Some(false), 0, 0)
    );
    assert_eq!(int(&before, "next_reward"), 10);

    let done = assert_ok(&server.post("/api/checkin", Some(&c.token), json!({})).await);
    assert_eq!((int(&done, "streak"), int(&done, "points_awarded"), int(&done, "bonus_points")), (1, 10, 0));
    assert_eq!((int(&done, "month_count"), int(&done, "next_reward")), (1, 20));
    assert_eq!(server.balance(&c).await, 1010);

    let again = server.post("/api/checkin", Some(&c.token), json!({})).await;
    assert_error(&again, 409, 7001);
    assert_eq!(server.balance(&c).await, 1010, "a refused check-in credits nothing");

    let status = assert_ok(&server.get("/api/checkin/status", Some(&c.token)).await);
    assert_eq!(
        (status["checked_in_today"].as_bool(), int(&status, "streak"), int(&status, "month_count")),
        (Some(true), 1, 1)
    );
    assert_eq!(status["days"].as_array().map(|d| d.len()), Some(1));
    let records = assert_ok(&server.get("/api/user/points-records?source=checkin", Some(&c.token)).await);
    assert_eq!(records["records"].as_array().map(|r| r.len()), Some(1), "{records}");
    assert_eq!(int(&account(&server, &c).await, "lifetime_earned"), 1010);
    server.assert_reconciled();
}

async fn frozen_points_cannot_be_spent_and_every_freeze_is_recorded(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let c = server.login(&phone(603, 1)).await;
    let path = |what: &str| format!("/api/admin/users/{}/{what}", c.user_id);

    let frozen =
        assert_ok(&server.post(&path("freeze"), Some(&admin), json!({ "points": 300, "reason": "风控" })).await);
    assert_eq!(
        (int(&frozen, "total_points"), int(&frozen, "available_points"), int(&frozen, "frozen_points")),
        (1000, 700, 300)
    );
    let a = account(&server, &c).await;
    assert_eq!((int(&a, "total_points"), int(&a, "available_points"), int(&a, "frozen_points")), (1000, 700, 300));

    // A decade costs 1000: the total would do, the available points do not.
    let draw = server.post("/api/lottery/draw", Some(&c.token), json!({ "draw_type": "decade" })).await;
    assert_error(&draw, 409, 3001);
    assert_eq!((int(&draw.1["data"], "required"), int(&draw.1["data"], "current")), (1000, 700));

    // Freezing more than is available, or unfreezing more than is frozen, changes nothing.
    let too_much = server.post(&path("freeze"), Some(&admin), json!({ "points": 701 })).await;
    assert_error(&too_much, 400, 1003);
    assert!(too_much.1["msg"].as_str().is_some_and(|m| m.contains("points")), "{}", too_much.1);
    assert_error(&server.post(&path("unfreeze"), Some(&admin), json!({ "points": 301 })).await, 400, 1003);
    assert_error(&server.post(&path("freeze"), Some(&admin), json!({ "points": 0 })).await, 400, 1003);
    assert_error(&server.post(&path("freeze"), Some(&admin), json!({})).await, 400, 1003);
    assert_error(&server.post(&path("freeze"), Some(&c.token), json!({ "points": 1 })).await, 403, 2004);
    assert_error(&server.post("/api/admin/users/999999/freeze", Some(&admin), json!({ "points": 1 })).await, 404, 9004);

    let back =
        assert_ok(&server.post(&path("unfreeze"), Some(&admin), json!({ "points": 100, "reason": "复核" })).await);
    assert_eq!((int(&back, "available_points"), int(&back, "frozen_points")), (800, 200));
    assert_eq!(int(&back["record"], "points"), -100);

    let list = assert_ok(&server.get(&path("freezes"), Some(&admin)).await);
    let records = list["freezes"].as_array().expect("freezes");
    assert_eq!(records.iter().map(|r| int(r, "points")).collect::<Vec<_>>(), vec![-100, 300]);
    assert_eq!(records[1]["reason"], "风控");
    assert_eq!(records[1]["admin"], ADMIN_USER);
    assert_eq!(int(&list["pagination"], "total"), 2);
    let audit = assert_ok(&server.get("/api/admin/audit-log?action=user.points.freeze", Some(&admin)).await);
    assert_eq!(int(&audit["pagination"], "total"), 1, "{audit}");

    // A debit by an admin may not reach into the frozen points either.
    let adjust =
        server.post(&format!("/api/admin/users/{}/points", c.user_id), Some(&admin), json!({ "delta": -801 })).await;
    assert_error(&adjust, 409, 3001);
    assert_eq!(int(&adjust.1["data"], "current"), 800);
    assert_eq!(server.balance(&c).await, 1000, "total_points never changed");
    server.assert_reconciled();
}

async fn a_redemption_cannot_use_frozen_points(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let c = server.login(&phone(609, 1)).await;
    let products = assert_ok(&server.get("/api/exchange/products?limit=50", Some(&c.token)).await);
    let product = products["products"]
        .as_array()
        .expect("products")
        .iter()
        .find(|p| int(p, "exchange_points") <= 1000 && int(p, "stock") > 0)
        .expect("a demo product the total could pay for")
        .clone();
    let price = int(&product, "exchange_points");
    let freeze = json!({ "points": 1000 - price + 1 });
    assert_ok(&server.post(&format!("/api/admin/users/{}/freeze", c.user_id), Some(&admin), freeze).await);
    let redeem = json!({ "product_id": int(&product, "id"), "quantity": 1 });
    let refused = server.post("/api/exchange/redeem", Some(&c.token), redeem).await;
    assert_error(&refused, 409, 4003);
    assert_eq!((int(&refused.1["data"], "required"), int(&refused.1["data"], "current")), (price, price - 1));
    let after = assert_ok(&server.get("/api/exchange/products?limit=50", Some(&c.token)).await);
    let same = after["products"].as_array().expect("products").iter().find(|p| p["id"] == product["id"]).cloned();
    assert_eq!(same.map(|p| int(&p, "stock")), Some(int(&product, "stock")), "no stock moved");
    assert_eq!(server.balance(&c).await, 1000);
    server.assert_reconciled();
}

async fn receipts_earn_at_the_level_and_a_level_up_is_pushed(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let m = make_merchant(&server, &admin, &phone(604, 9)).await;
    let c = server.login(&phone(604, 1)).await;
    let mut ws = server.ws(&c.token).await;

    // ¥100 earns 1000: experience reaches 2000, level 2.
    let first = server.upload_receipt(&c, "a", "100").await;
    assert_eq!(int(&approve(&server, &m, first, 100.0).await, "points_awarded"), 1000);
    let up = ws.next_of("level_up", WAIT).await.expect("level_up pushed");
    assert_eq!((int(&up["data"], "level"), up["data"]["name"].as_str()), (2, Some("白银会员")));
    assert_eq!(up["data"]["multiplier"].as_f64(), Some(1.1));
    let a = account(&server, &c).await;
    assert_eq!((int(&a["level"], "level"), int(&a["level"], "next_level_experience")), (2, 10000));

    // The contract's example: a level-2 receipt of ¥500 earns floor(2000 × 1.1) = 2200.
    let second = server.upload_receipt(&c, "b", "500").await;
    assert_eq!(int(&approve(&server, &m, second, 500.0).await, "points_awarded"), 2200);
    assert_eq!(server.balance(&c).await, 1000 + 1000 + 2200);
    // Check-in at level 2: floor(10 × 1 × 1.1) = 11.
    let done = assert_ok(&server.post("/api/checkin", Some(&c.token), json!({})).await);
    assert_eq!(int(&done, "points_awarded"), 11);

    // Raising the thresholds later never demotes anyone.
    let mut levels = assert_ok(&server.get("/api/admin/levels", Some(&admin)).await);
    levels["levels"][1]["experience"] = json!(50000);
    levels["levels"][2]["experience"] = json!(60000);
    levels["levels"][3]["experience"] = json!(70000);
    assert_ok(&server.put("/api/admin/levels", Some(&admin), levels).await);
    assert_eq!(int(&account(&server, &c).await["level"], "level"), 2);
    server.assert_reconciled();
}

async fn admins_edit_levels_with_validation_and_audit(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let c = server.login(&phone(605, 1)).await;
    let levels = assert_ok(&server.get("/api/admin/levels", Some(&admin)).await);
    let rows = levels["levels"].as_array().expect("levels");
    assert_eq!(rows.iter().map(|l| int(l, "experience")).collect::<Vec<_>>(), vec![0, 2000, 10000, 30000, 100000]);
    assert_eq!(
        rows.iter().map(|l| l["multiplier"].as_f64().unwrap_or(0.0)).collect::<Vec<_>>(),
        vec![1.0, 1.1, 1.2, 1.3, 1.5]
    );

    let gap = json!({ "levels": [
        { "level": 1, "name": "a", "experience": 0, "multiplier": 1.0 },
        { "level": 3, "name": "c", "experience": 10, "multiplier": 1.2 } ] });
    let refused = server.put("/api/admin/levels", Some(&admin), gap).await;
    assert_error(&refused, 400, 1003);
    assert!(refused.1["msg"].as_str().is_some_and(|m| m.contains("levels")), "{}", refused.1);
    let not_zero = json!({ "levels": [{ "level": 1, "name": "a", "experience": 5, "multiplier": 1.0 }] });
    assert_error(&server.put("/api/admin/levels", Some(&admin), not_zero).await, 400, 1003);
    assert_error(&server.get("/api/admin/levels", Some(&c.token)).await, 403, 2004);

    let lower = json!({ "levels": [
        { "level": 1, "name": "新客", "experience": 0, "multiplier": 1.0 },
        { "level": 2, "name": "熟客", "experience": 1005, "multiplier": 2.0 } ] });
    assert_ok(&server.put("/api/admin/levels", Some(&admin), lower).await);
    let a = account(&server, &c).await;
    assert_eq!((int(&a["level"], "level"), int(&a["level"], "next_level_experience")), (1, 1005));
    // The check-in's 10 points lift this customer to level 2, at once.
    let mut ws = server.ws(&c.token).await;
    assert_ok(&server.post("/api/checkin", Some(&c.token), json!({})).await);
    let up = ws.next_of("level_up", WAIT).await.expect("level_up pushed");
    assert_eq!((int(&up["data"], "level"), up["data"]["name"].as_str()), (2, Some("熟客")));
    let a = account(&server, &c).await;
    assert!(a["level"]["next_level"].is_null() && a["level"]["next_level_experience"].is_null(), "{a}");
    let audit = assert_ok(&server.get("/api/admin/audit-log?action=levels.update", Some(&admin)).await);
    assert_eq!(int(&audit["pagination"], "total"), 1);
    server.assert_reconciled();
}

async fn tasks_follow_commits_and_pay_once(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    server.wheel_all_on(&admin, "谢谢参与", None).await;
    let c = server.login(&phone(606, 1)).await;
    let mut ws = server.ws(&c.token).await;

    let tasks = assert_ok(&server.get("/api/tasks", Some(&c.token)).await);
    assert_eq!(tasks["tasks"].as_array().map(|t| t.len()), Some(6));
    for t in tasks["tasks"].as_array().expect("tasks") {
        assert_eq!((t["status"].as_str(), int(t, "progress")), (Some("in_progress"), 0), "{t}");
    }
    assert!(task(&tasks, "first_draw")["resets_at"].is_null());
    assert!(task(&tasks, "daily_draw")["resets_at"].is_string());
    let first_draw = int(task(&tasks, "first_draw"), "id");
    let daily_draw = int(task(&tasks, "daily_draw"), "id");
    let streak = int(task(&tasks, "checkin_streak_7"), "id");

    assert_error(&server.post(&format!("/api/tasks/{first_draw}/claim"), Some(&c.token), json!({})).await, 409, 7003);

    // One batch of three draws counts three.
    assert_ok(&server.post("/api/lottery/draw", Some(&c.token), json!({ "draw_type": "triple" })).await);
    let mut completed = Vec::new();
    while let Some(m) = ws.next_of("task_completed", WAIT).await {
        completed.push(m["data"]["key"].as_str().unwrap_or_default().to_string());
        if completed.len() == 2 {
            break;
        }
    }
    completed.sort();
    assert_eq!(completed, vec!["daily_draw", "first_draw"]);
    let tasks = assert_ok(&server.get("/api/tasks", Some(&c.token)).await);
    assert_eq!(
        (int(task(&tasks, "daily_draw"), "progress"), task(&tasks, "daily_draw")["status"].as_str()),
        (3, Some("completed"))
    );
    assert_eq!(int(task(&tasks, "weekly_spender"), "progress"), 300);

    let balance = server.balance(&c).await;
    let claimed = assert_ok(&server.post(&format!("/api/tasks/{first_draw}/claim"), Some(&c.token), json!({})).await);
    assert_eq!((int(&claimed, "points_awarded"), int(&claimed, "total_points")), (50, balance + 50));
    assert_error(&server.post(&format!("/api/tasks/{first_draw}/claim"), Some(&c.token), json!({})).await, 409, 7002);
    assert_error(&server.post(&format!("/api/tasks/{streak}/claim"), Some(&c.token), json!({})).await, 409, 7003);
    assert_error(&server.post("/api/tasks/999/claim", Some(&c.token), json!({})).await, 404, 7004);
    assert_error(&server.post("/api/tasks/abc/claim", Some(&c.token), json!({})).await, 400, 1003);

    // An admin's new reward applies to the next claim, and is audited.
    let path = format!("/api/admin/tasks/{daily_draw}");
    assert_error(&server.put(&path, Some(&admin), json!({ "points": 0 })).await, 400, 1003);
    assert_error(&server.put("/api/admin/tasks/999", Some(&admin), json!({ "points": 5 })).await, 404, 7004);
    let edited = assert_ok(&server.put(&path, Some(&admin), json!({ "points": 25 })).await);
    assert_eq!(int(task(&edited, "daily_draw"), "points"), 25);
    let claimed = assert_ok(&server.post(&format!("/api/tasks/{daily_draw}/claim"), Some(&c.token), json!({})).await);
    assert_eq!(int(&claimed, "points_awarded"), 25);
    let tasks = assert_ok(&server.get("/api/tasks", Some(&c.token)).await);
    assert_eq!(task(&tasks, "first_draw")["status"], "claimed");
    assert_eq!(task(&tasks, "daily_draw")["status"], "claimed");
    let records = assert_ok(&server.get("/api/user/points-records?source=task", Some(&c.token)).await);
    assert_eq!(int(&records["pagination"], "total"), 2);
    server.assert_reconciled();
}

async fn leaderboards_rank_earnings_with_masked_identities(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let a = server.login(&phone(607, 1)).await;
    let b = server.login(&phone(607, 2)).await;
    let c = server.login(&phone(607, 3)).await;
    assert_ok(&server.post("/api/checkin", Some(&b.token), json!({})).await);
    // An admin's adjustment is not earning: c stays behind a, who reached 1000 first.
    let adjust = json!({ "delta": 5000, "reason": "补偿" });
    assert_ok(&server.post(&format!("/api/admin/users/{}/points", c.user_id), Some(&admin), adjust).await);

    let board = assert_ok(&server.get("/api/points/leaderboard", Some(&c.token)).await);
    assert_eq!(board["period"], "week");
    let entries = board["entries"].as_array().expect("entries");
    let seen: Vec<(i64, i64, String)> = entries
        .iter()
        .map(|e| {
            (int(e, "rank"), int(e, "points_earned"), e["user"]["masked_mobile"].as_str().unwrap_or("").to_string())
        })
        .collect();
    let masked = |p: &str| format!("{}****{}", &p[..3], &p[7..]);
    assert_eq!(seen, vec![(1, 1010, masked(&b.phone)), (2, 1000, masked(&a.phone)), (3, 1000, masked(&c.phone))]);
    assert!(!board.to_string().contains(&a.phone), "no full phone number on the board");
    assert_eq!((int(&board["me"], "rank"), int(&board["me"], "points_earned")), (3, 1000));
    assert!(board["starts_at"].as_str().is_some_and(|s| s.ends_with("T16:00:00.000Z")), "{board}");

    let day = assert_ok(&server.get("/api/points/leaderboard?period=day&limit=1", Some(&a.token)).await);
    assert_eq!(day["entries"].as_array().map(|e| e.len()), Some(1));
    assert_eq!(int(&day["me"], "rank"), 2);
    assert_ok(&server.get("/api/points/leaderboard?period=month", Some(&a.token)).await);
    for bad in ["period=year", "limit=0", "limit=101", "limit=x"] {
        assert_error(&server.get(&format!("/api/points/leaderboard?{bad}"), Some(&a.token)).await, 400, 1003);
    }
    server.assert_reconciled();
}

async fn analytics_come_from_the_ledger(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    server.wheel_all_on(&admin, "谢谢参与", None).await;
    let a = server.login(&phone(608, 1)).await;
    let b = server.login(&phone(608, 2)).await;
    assert_ok(&server.post("/api/checkin", Some(&a.token), json!({})).await);
    assert_ok(&server.post("/api/lottery/draw", Some(&b.token), json!({ "draw_type": "single" })).await);

    let o = assert_ok(&server.get("/api/admin/analytics/overview", Some(&admin)).await);
    assert_eq!((int(&o, "new_users"), int(&o, "active_users"), int(&o, "draws")), (2, 2, 1));
    assert_eq!(o["points_earned_by_source"], json!({ "checkin": 10, "register": 2000 }));
    assert_eq!(o["points_spent_by_use"], json!({ "lottery": 100 }));
    assert_eq!(int(&o, "exchanges"), 0);

    let flow = assert_ok(&server.get("/api/admin/analytics/points-flow", Some(&admin)).await);
    let series = flow["series"].as_array().expect("series");
    assert_eq!(series.len(), 30, "one point per day of the default 30 days");
    let last = &series[29];
    assert_eq!(last["date"], o["to"]);
    assert_eq!(
        (int(last, "earned"), int(last, "spent"), int(last, "net"), int(last, "active_users")),
        (2010, 100, 1910, 2)
    );
    assert!(series[..29].iter().all(|p| int(p, "earned") == 0 && int(p, "active_users") == 0));

    let to = o["to"].as_str().expect("to");
    for period in ["week", "month"] {
        let f = assert_ok(
            &server
                .get(&format!("/api/admin/analytics/points-flow?period={period}&from={to}&to={to}"), Some(&admin))
                .await,
        );
        let s = f["series"].as_array().expect("series");
        assert_eq!(s.len(), 1);
        assert_eq!((int(&s[0], "earned"), int(&s[0], "spent")), (2010, 100));
    }
    for bad in ["from=2026-13-01", "from=2026-12-02&to=2026-12-01", "from=2020-01-01&to=2026-01-01", "period=year"] {
        assert_error(&server.get(&format!("/api/admin/analytics/points-flow?{bad}"), Some(&admin)).await, 400, 1003);
    }
    assert_error(&server.get("/api/admin/analytics/overview?to=yesterday", Some(&admin)).await, 400, 1003);
    assert_error(&server.get("/api/admin/analytics/overview", Some(&a.token)).await, 403, 2004);
    server.assert_reconciled();
}

both_backends!(
    account_starts_with_the_sign_up_grant_at_level_one,
    check_in_once_a_day,
    frozen_points_cannot_be_spent_and_every_freeze_is_recorded,
    a_redemption_cannot_use_frozen_points,
    receipts_earn_at_the_level_and_a_level_up_is_pushed,
    admins_edit_levels_with_validation_and_audit,
    tasks_follow_commits_and_pay_once,
    leaderboards_rank_earnings_with_masked_identities,
    analytics_come_from_the_ledger,
);
