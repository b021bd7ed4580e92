//! Supervision of the singleton actors: a panic in the PrizeWheel or the StockLedger restarts it
//! from the store's state — limited stock neither forgotten nor double counted — and customers
//! keep drawing and redeeming. Restarts in the middle of a burst (C14): reservations of the old
//! instance settle without touching the new one's, memory ends equal to the store, nothing is
//! oversold.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};

/// Retries `f` until it answers code 0 (the actor is back) or a few seconds pass.
async fn until_ok<F, Fut>(mut f: F) -> Value
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = (reqwest::StatusCode, Value)>,
{
    for _ in 0..100 {
        let got = f().await;
        if got.1["code"] == 0 {
            return got.1["data"].clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the actor did not come back");
}

async fn a_panicking_wheel_restarts_with_its_stock(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    server.wheel_all_on(&admin, "甜品一份", Some(5)).await;
    let c = server.login(&phone(81, 1)).await;
    let first = assert_ok(&server.post("/api/lottery/draw", Some(&c.token), json!({ "draw_type": "triple" })).await);
    assert!(first["results"].as_array().unwrap().iter().all(|r| r["prize_name"] == "甜品一份"));

    assert_ok(&server.post("/api/admin/test-hooks/wheel/panic", Some(&admin), json!({})).await);
    let config = until_ok(|| server.get("/api/lottery/config", Some(&c.token))).await;
    let dessert = config["prizes"].as_array().unwrap().iter().find(|p| p["name"] == "甜品一份").cloned().unwrap();
    assert_eq!(dessert["stock_left"], 2, "the restarted wheel reloaded the stock from the store");

    // Two units left: a triple gives two desserts and then the fallback.
    let after = assert_ok(&server.post("/api/lottery/draw", Some(&c.token), json!({ "draw_type": "triple" })).await);
    let names: Vec<&str> =
        after["results"].as_array().unwrap().iter().map(|r| r["prize_name"].as_str().unwrap()).collect();
    assert_eq!(names, ["甜品一份", "甜品一份", "谢谢参与"]);
    server.assert_reconciled();
}

async fn a_panicking_stock_ledger_restarts_with_its_stock(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let product = assert_ok(
        &server
            .post(
                "/api/admin/products",
                Some(&admin),
                json!({ "name": "测试奶茶", "category": "饮品", "exchange_points": 50, "stock": 10 }),
            )
            .await,
    );
    let id = product["id"].as_i64().unwrap();
    let c = server.login(&phone(82, 1)).await;
    assert_ok(&server.post("/api/exchange/redeem", Some(&c.token), json!({ "product_id": id, "quantity": 3 })).await);

    assert_ok(&server.post("/api/admin/test-hooks/stock-ledger/panic", Some(&admin), json!({})).await);
    until_ok(|| server.post("/api/exchange/redeem", Some(&c.token), json!({ "product_id": id, "quantity": 2 }))).await;
    let refused = server.post("/api/exchange/redeem", Some(&c.token), json!({ "product_id": id, "quantity": 6 })).await;
    assert_error(&refused, 409, 4002);
    assert_eq!(refused.1["data"], json!({ "available": 5, "requested": 6 }), "3 + 2 sold of 10, across the restart");
    assert_eq!(server.balance(&c).await, 1000 - 5 * 50);
    server.assert_reconciled();
}

/// Draws a single, ignoring the answers a restart can give; `false` once the customer is out of
/// points.
async fn keep_drawing(server: &TestServer, token: &str) -> bool {
    let got = server.post("/api/lottery/draw", Some(token), json!({ "draw_type": "single" })).await;
    got.1["code"] != 3001
}

/// The wheel's limited stock of `name` as the store holds it.
async fn stored_prize_stock(server: &TestServer, name: &str) -> i64 {
    let store = restaurant_lottery::store::Store::connect(&server.database_url, 1).await.expect("connect");
    let (sectors, _) = store.wheel().await.expect("wheel").expect("a wheel");
    sectors.iter().find(|s| s.name == name).and_then(|s| s.stock_left).expect("limited")
}

async fn shown_prize_stock(server: &TestServer, token: &str, name: &str) -> i64 {
    let config = until_ok(|| server.get("/api/lottery/config", Some(token))).await;
    let prizes = config["prizes"].as_array().expect("prizes").clone();
    prizes.iter().find(|p| p["name"] == name).and_then(|p| p["stock_left"].as_i64()).expect("limited")
}

/// Memory catches up with the store within a few sweeps (a restarted actor re-reads it once the
/// settles of its predecessor's reservations have arrived).
async fn until_equal<F, Fut>(mut shown: F, stored: i64) -> i64
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = i64>,
{
    let mut last = shown().await;
    for _ in 0..50 {
        if last == stored {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        last = shown().await;
    }
    last
}

async fn restarting_the_wheel_mid_burst_keeps_memory_equal_to_the_store(backend: Backend) {
    let server = std::sync::Arc::new(
        TestServer::start_with(backend, &[("DRAW_LIMIT_PER_MIN", "100000"), ("RESERVATION_TTL_MS", "2000")]).await,
    );
    let admin = server.admin().await;
    server.wheel_all_on(&admin, "甜品一份", Some(30)).await;
    let mut customers = Vec::new();
    for i in 0..5 {
        customers.push(server.login(&phone(83, i)).await);
    }
    // Five customers with ten draws each want fifty desserts; there are thirty.
    let mut bursts = Vec::new();
    for c in customers.clone() {
        let server = server.clone();
        bursts.push(tokio::spawn(async move {
            while keep_drawing(&server, &c.token).await {
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
        }));
    }
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(bursts.iter().any(|b| !b.is_finished()), "the restart comes in the middle of the burst");
        assert_ok(&server.post("/api/admin/test-hooks/wheel/panic", Some(&admin), json!({})).await);
    }
    for b in bursts {
        b.await.expect("burst");
    }

    let mut desserts = 0;
    for c in &customers {
        let data = assert_ok(&server.get("/api/lottery/records?limit=50", Some(&c.token)).await);
        let records = data["records"].as_array().expect("records").clone();
        desserts += records.iter().filter(|r| r["prize_name"] == "甜品一份").count() as i64;
    }
    let stored = stored_prize_stock(&server, "甜品一份").await;
    assert!(desserts <= 30, "oversold: {desserts} desserts of 30");
    assert_eq!(stored, 30 - desserts, "the store counts every dessert won");
    let token = customers[0].token.clone();
    let shown = until_equal(|| shown_prize_stock(&server, &token, "甜品一份"), stored).await;
    assert_eq!(shown, stored, "the wheel shows the store's stock");
    server.assert_reconciled();
}

async fn restarting_the_stock_ledger_mid_burst_keeps_memory_equal_to_the_store(backend: Backend) {
    let server = std::sync::Arc::new(TestServer::start_with(backend, &[("RESERVATION_TTL_MS", "2000")]).await);
    let admin = server.admin().await;
    let product = json!({ "name": "测试奶茶", "category": "饮品", "exchange_points": 50, "stock": 60 });
    let id = assert_ok(&server.post("/api/admin/products", Some(&admin), product).await)["id"].as_i64().expect("id");
    let mut customers = Vec::new();
    for i in 0..5 {
        customers.push(server.login(&phone(84, i)).await);
    }
    // Five customers who could each buy twenty; there are sixty.
    let mut bursts = Vec::new();
    for c in customers.clone() {
        let server = server.clone();
        bursts.push(tokio::spawn(async move {
            for _ in 0..40 {
                let got = server
                    .post("/api/exchange/redeem", Some(&c.token), json!({ "product_id": id, "quantity": 1 }))
                    .await;
                if got.1["code"] == 4002 || got.1["code"] == 4003 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
        }));
    }
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(bursts.iter().any(|b| !b.is_finished()), "the restart comes in the middle of the burst");
        assert_ok(&server.post("/api/admin/test-hooks/stock-ledger/panic", Some(&admin), json!({})).await);
    }
    for b in bursts {
        b.await.expect("burst");
    }

    let mut sold = 0;
    for c in &customers {
        let data = assert_ok(&server.get("/api/exchange/orders?limit=50", Some(&c.token)).await);
        let orders = data["orders"].as_array().or_else(|| data["records"].as_array()).expect("orders").clone();
        sold += orders.iter().map(|o| o["quantity"].as_i64().unwrap_or(0)).sum::<i64>();
    }
    let store = restaurant_lottery::store::Store::connect(&server.database_url, 1).await.expect("connect");
    let stored = store.products_for_ledger().await.expect("products").iter().find(|p| p.id == id).expect("p").stock;
    assert!(sold <= 60, "oversold: {sold} of 60");
    assert_eq!(stored, 60 - sold, "the store counts every unit sold");
    let token = customers[0].token.clone();
    let available = || async {
        let got = server.post("/api/exchange/redeem", Some(&token), json!({ "product_id": id, "quantity": 999 })).await;
        got.1["data"]["available"].as_i64().unwrap_or(-1)
    };
    assert_eq!(until_equal(available, stored).await, stored, "the ledger sells what the store holds");
    server.assert_reconciled();
}

both_backends!(
    a_panicking_wheel_restarts_with_its_stock,
    a_panicking_stock_ledger_restarts_with_its_stock,
    restarting_the_wheel_mid_burst_keeps_memory_equal_to_the_store,
    restarting_the_stock_ledger_mid_burst_keeps_memory_equal_to_the_store
);
