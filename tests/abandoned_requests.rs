//! Work whose caller gave up is never carried out later (issue 10, item 6; C9 and C11).
//!
//! A test hook keeps an actor busy, as a stalled store would; the server runs with a short
//! actor-call timeout, so a draw or redemption queued behind it times out and the client gets the
//! contract's 1000/503. When the actor is free again it must not run that request: no points
//! charged, no draw or order recorded, no prize or product unit held — the customer's retry is
//! the only one that counts.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

/// Short enough to time out quickly, long enough that a free actor always answers in time.
const CALL_TIMEOUT_MS: &str = "600";
/// How long the hook keeps an actor busy: well past the call timeout.
const BLOCK_MS: u64 = 2500;

async fn start(backend: Backend) -> TestServer {
    TestServer::start_with(backend, &[("ACTOR_CALL_TIMEOUT_MS", CALL_TIMEOUT_MS)]).await
}

/// What a customer can see of their own account: balance, draw records, points records, orders.
async fn account(server: &TestServer, c: &Customer) -> (i64, i64, i64, i64) {
    let total = |v: Value| v["pagination"]["total"].as_i64().expect("pagination.total");
    let draws = total(assert_ok(&server.get("/api/lottery/records", Some(&c.token)).await));
    let points = total(assert_ok(&server.get("/api/user/points-records", Some(&c.token)).await));
    let orders = total(assert_ok(&server.get("/api/exchange/orders", Some(&c.token)).await));
    (server.balance(c).await, draws, points, orders)
}

/// A request that times out answers 1000/503, in about the call timeout, not after the block.
async fn assert_timed_out(server: &TestServer, path: &str, token: &str, body: Value) {
    let sent = Instant::now();
    let got = server.post(path, Some(token), body).await;
    assert_error(&got, 503, 1000);
    assert!(sent.elapsed() < Duration::from_millis(BLOCK_MS), "answered after {:?}", sent.elapsed());
}

async fn product(server: &TestServer, admin: &str, stock: i64) -> i64 {
    let body = json!({ "name": "测试奶茶", "category": "饮品", "exchange_points": 50, "stock": stock });
    assert_ok(&server.post("/api/admin/products", Some(admin), body).await)["id"].as_i64().expect("id")
}

/// The product's units the StockLedger would still sell, as a too-large order's 4002 tells.
async fn ledger_stock(server: &TestServer, token: &str, id: i64) -> i64 {
    let got = server.post("/api/exchange/redeem", Some(token), json!({ "product_id": id, "quantity": 9999 })).await;
    assert_error(&got, 409, 4002);
    got.1["data"]["available"].as_i64().expect("available")
}

/// The prize's stock as the wheel shows it (the PrizeWheel's memory).
async fn wheel_stock(server: &TestServer, token: &str, name: &str) -> i64 {
    let config = assert_ok(&server.get("/api/lottery/config", Some(token)).await);
    let prizes = config["prizes"].as_array().expect("prizes");
    prizes.iter().find(|p| p["name"] == name).expect("prize")["stock_left"].as_i64().expect("limited stock")
}

async fn wait_out_the_block() {
    tokio::time::sleep(Duration::from_millis(BLOCK_MS + 700)).await;
}

async fn a_draw_that_timed_out_is_never_charged(backend: Backend) {
    let server = start(backend).await;
    let admin = server.admin().await;
    let c = server.login(&phone(91, 1)).await;
    let id = product(&server, &admin, 10).await;
    let before = account(&server, &c).await;

    let hook = format!("/api/admin/test-hooks/wallets/{}/block", c.user_id);
    assert_ok(&server.post(&hook, Some(&admin), json!({ "ms": BLOCK_MS })).await);
    assert_timed_out(&server, "/api/lottery/draw", &c.token, json!({ "draw_type": "single" })).await;
    assert_timed_out(&server, "/api/lottery/draw", &c.token, json!({ "draw_type": "triple" })).await;
    let redeem = json!({ "product_id": id, "quantity": 2 });
    assert_timed_out(&server, "/api/exchange/redeem", &c.token, redeem).await;

    wait_out_the_block().await;
    assert_eq!(account(&server, &c).await, before, "nothing the customer was told failed happened later");
    assert_eq!(ledger_stock(&server, &c.token, id).await, 10, "no units held for the abandoned redemption");

    // The retry is the one that counts, exactly once.
    assert_ok(&server.post("/api/lottery/draw", Some(&c.token), json!({ "draw_type": "single" })).await);
    let after = account(&server, &c).await;
    assert_eq!(after.1, before.1 + 1, "one draw recorded");
    assert_eq!(after.0, before.0 - 100 + won_points(&server, &c).await);
    server.assert_reconciled();
}

/// Points the customer's only draw won (0 unless it was a points prize).
async fn won_points(server: &TestServer, c: &Customer) -> i64 {
    let data = assert_ok(&server.get("/api/lottery/records", Some(&c.token)).await);
    let records = data["records"].as_array().expect("records");
    assert_eq!(records.len(), 1);
    if records[0]["prize_type"] == "points" {
        records[0]["prize_value"].as_i64().expect("prize_value")
    } else {
        0
    }
}

async fn a_draw_stuck_behind_a_busy_wheel_holds_no_prize(backend: Backend) {
    let server = start(backend).await;
    let admin = server.admin().await;
    server.wheel_all_on(&admin, "甜品一份", Some(5)).await;
    let c = server.login(&phone(92, 1)).await;
    let before = account(&server, &c).await;

    assert_ok(&server.post("/api/admin/test-hooks/wheel/block", Some(&admin), json!({ "ms": BLOCK_MS })).await);
    assert_timed_out(&server, "/api/lottery/draw", &c.token, json!({ "draw_type": "triple" })).await;

    wait_out_the_block().await;
    assert_eq!(wheel_stock(&server, &c.token, "甜品一份").await, 5, "no dessert held for the abandoned spin");
    assert_eq!(account(&server, &c).await, before);
    let won = assert_ok(&server.post("/api/lottery/draw", Some(&c.token), json!({ "draw_type": "triple" })).await);
    assert!(won["results"].as_array().expect("results").iter().all(|r| r["prize_name"] == "甜品一份"));
    assert_eq!(wheel_stock(&server, &c.token, "甜品一份").await, 2);
    server.assert_reconciled();
}

async fn a_redemption_stuck_behind_a_busy_stock_ledger_holds_no_units(backend: Backend) {
    let server = start(backend).await;
    let admin = server.admin().await;
    let id = product(&server, &admin, 4).await;
    let c = server.login(&phone(93, 1)).await;
    let before = account(&server, &c).await;

    let hook = "/api/admin/test-hooks/stock-ledger/block";
    assert_ok(&server.post(hook, Some(&admin), json!({ "ms": BLOCK_MS })).await);
    let redeem = json!({ "product_id": id, "quantity": 3 });
    assert_timed_out(&server, "/api/exchange/redeem", &c.token, redeem.clone()).await;

    wait_out_the_block().await;
    assert_eq!(ledger_stock(&server, &c.token, id).await, 4, "no units held for the abandoned redemption");
    assert_eq!(account(&server, &c).await, before);
    // All four units are still for sale: an absolute stock edit is not blocked by a leaked hold.
    assert_ok(&server.put(&format!("/api/admin/products/{id}"), Some(&admin), json!({ "stock": 4 })).await);
    assert_ok(&server.post("/api/exchange/redeem", Some(&c.token), json!({ "product_id": id, "quantity": 4 })).await);
    assert_eq!(server.balance(&c).await, before.0 - 4 * 50);
    server.assert_reconciled();
}

/// The setting that makes these tests fast is refused in production.
#[test]
fn the_short_call_timeout_is_for_tests_only() {
    let db = fresh_database(Backend::Sqlite);
    let (ok, out) = db.cli(&["migrate"]);
    assert!(ok, "{out}");
    for (name, value) in [("ACTOR_CALL_TIMEOUT_MS", "600"), ("RESERVATION_TTL_MS", "1000")] {
        let out = std::process::Command::new(BIN)
            .arg("migrate")
            .env_clear()
            .env("APP_ENV", "production")
            .env("DATABASE_URL", &db.url)
            .env("JWT_SECRET", JWT_SECRET)
            .env("JWT_REFRESH_SECRET", JWT_REFRESH_SECRET)
            .env("WECHAT_APPID", "wx1234567890")
            .env("WECHAT_SECRET", "s3cr3t-wechat-app-secret-value-0001")
            .env(name, value)
            .output()
            .expect("run");
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(!out.status.success(), "{name} accepted in production: {text}");
        assert!(text.contains(name), "the refusal names {name}: {text}");
    }
}

both_backends!(
    a_draw_that_timed_out_is_never_charged,
    a_draw_stuck_behind_a_busy_wheel_holds_no_prize,
    a_redemption_stuck_behind_a_busy_stock_ledger_holds_no_units
);
