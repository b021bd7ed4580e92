//! 200 customers at once, on SQLite and MariaDB: each checks in twice in parallel, draws a batch,
//! claims a task twice in parallel and another once, and every fourth has a receipt (uploaded
//! beforehand) approved by the merchant in the same burst, racing that customer's own check-in,
//! draw and claims. Every reward must be credited exactly once, every customer's leaderboard
//! figures (day, week, month) must equal their ledger's earnings, the boards' total must equal
//! the ledger's total in the operator's analytics, and `reconcile` (frozen points, check-ins and
//! task claims included) must pass.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

const CUSTOMERS: u32 = 200;

fn int(v: &Value, key: &str) -> i64 {
    v[key].as_i64().unwrap_or_else(|| panic!("{key} in {v}"))
}

/// What one customer does; answers the points they must have earned (the ledger's view).
async fn busy_customer(server: Arc<TestServer>, c: Customer, ids: (i64, i64)) {
    let checkin = || server.post("/api/checkin", Some(&c.token), json!({}));
    let (a, b) = tokio::join!(checkin(), checkin());
    let oks = [&a, &b].iter().filter(|r| r.1["code"] == 0).count();
    assert_eq!(oks, 1, "exactly one check-in of two: {} / {}", a.1, b.1);
    let refused = if a.1["code"] == 0 { &b } else { &a };
    assert_error(refused, 409, 7001);

    assert_ok(&server.post("/api/lottery/draw", Some(&c.token), json!({ "draw_type": "triple" })).await);

    let (first_draw, daily_draw) = ids;
    let claim = |id: i64| {
        let (server, token) = (server.clone(), c.token.clone());
        async move { server.post(&format!("/api/tasks/{id}/claim"), Some(&token), json!({})).await }
    };
    let (x, y, z) = tokio::join!(claim(first_draw), claim(first_draw), claim(daily_draw));
    let oks = [&x, &y].iter().filter(|r| r.1["code"] == 0).count();
    assert_eq!(oks, 1, "exactly one claim of two: {} / {}", x.1, y.1);
    assert_error(if x.1["code"] == 0 { &y } else { &x }, 409, 7002);
    assert_ok(&z);
}

async fn every_reward_is_credited_exactly_once_under_load(backend: Backend) {
    let server = Arc::new(TestServer::start_with(backend, &[("RATE_LIMIT_PER_IP_PER_MIN", "1000000")]).await);
    let admin = server.admin().await;
    // Every draw wins 50 points: draws earn, so the leaderboards move with them.
    server.wheel_all_on(&admin, "50积分", None).await;
    let merchant = server.login(&phone(690, 999)).await;
    let path = format!("/api/admin/users/{}/merchant", merchant.user_id);
    assert_ok(&server.post(&path, Some(&admin), json!({ "is_merchant": true })).await);

    let mut logins = Vec::new();
    for i in 0..CUSTOMERS {
        let s = server.clone();
        logins.push(tokio::spawn(async move { s.login(&phone(691, i)).await }));
    }
    let mut customers = Vec::new();
    for l in logins {
        customers.push(l.await.expect("login task"));
    }
    let tasks = assert_ok(&server.get("/api/tasks", Some(&customers[0].token)).await);
    let id_of = |key: &str| {
        tasks["tasks"].as_array().expect("tasks").iter().find(|t| t["key"] == key).map(|t| int(t, "id")).expect("task")
    };
    let ids = (id_of("first_draw"), id_of("daily_draw"));
    let mut uploads = Vec::new();
    for c in customers.iter().step_by(4) {
        let (s, c) = (server.clone(), c.clone());
        uploads.push(tokio::spawn(async move { s.upload_receipt(&c, "r", "10").await }));
    }
    let mut upload_ids = Vec::new();
    for u in uploads {
        upload_ids.push(u.await.expect("upload task"));
    }

    // Everything at once: the customers' own work and the merchant's approvals.
    let mut work = Vec::new();
    for c in &customers {
        work.push(tokio::spawn(busy_customer(server.clone(), c.clone(), ids)));
    }
    for upload_id in upload_ids {
        let (s, token) = (server.clone(), merchant.token.clone());
        work.push(tokio::spawn(async move {
            let body = json!({ "upload_id": upload_id, "action": "approve", "actual_amount": 10.0 });
            assert_ok(&s.post("/api/merchant/review", Some(&token), body).await);
        }));
    }
    for w in work {
        w.await.expect("customer or approval task");
    }

    // 1000 sign-up + 10 check-in + 3 × 50 won + 50 + 20 tasks (+ 100 for a ¥10 receipt).
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut board_total = 0;
    for (i, c) in customers.iter().enumerate() {
        let receipt = if i % 4 == 0 { 100 } else { 0 };
        let earned = 1000 + 10 + 150 + 70 + receipt;
        assert_eq!(server.balance(c).await, earned - 300, "customer {i}");
        for (source, n) in [("checkin", 1), ("task", 2), ("photo_review", i64::from(receipt > 0))] {
            let r = assert_ok(&server.get(&format!("/api/user/points-records?source={source}"), Some(&c.token)).await);
            assert_eq!(int(&r["pagination"], "total"), n, "customer {i}: {source} rows");
        }
        for period in ["day", "week", "month"] {
            let path = format!("/api/points/leaderboard?period={period}");
            let board = assert_ok(&server.get(&path, Some(&c.token)).await);
            assert_eq!(int(&board["me"], "points_earned"), earned, "customer {i}: the {period} board and the ledger");
        }
        board_total += earned;
        let account = assert_ok(&server.get("/api/points/account", Some(&c.token)).await);
        assert_eq!(int(&account, "lifetime_earned"), earned);
    }
    let per_customer = 1000 + 10 + 150 + 70;
    assert_eq!(board_total, per_customer * i64::from(CUSTOMERS) + 100 * i64::from(CUSTOMERS / 4));
    let top = assert_ok(&server.get("/api/points/leaderboard?period=day&limit=100", Some(&merchant.token)).await);
    let entries = top["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 100);
    let points: Vec<i64> = entries.iter().map(|e| int(e, "points_earned")).collect();
    assert!(points.windows(2).all(|w| w[0] >= w[1]), "ranked high to low: {points:?}");
    assert_eq!(points[0], per_customer + 100, "the receipt holders lead");

    // The ledger's own total (the operator's analytics read it) is the boards' total, the
    // merchant's sign-up grant included.
    let merchant_board = assert_ok(&server.get("/api/points/leaderboard?period=day", Some(&merchant.token)).await);
    let merchant_earned = int(&merchant_board["me"], "points_earned");
    assert_eq!(merchant_earned, 1000);
    let overview = assert_ok(&server.get("/api/admin/analytics/overview", Some(&admin)).await);
    let by_source = overview["points_earned_by_source"].as_object().expect("points_earned_by_source");
    let ledger_total: i64 = by_source.values().map(|v| v.as_i64().unwrap_or(0)).sum();
    assert_eq!(ledger_total, board_total + merchant_earned, "{overview}");
    server.assert_reconciled();
}

both_backends!(every_reward_is_credited_exactly_once_under_load);
