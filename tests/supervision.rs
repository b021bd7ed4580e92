//! Supervision of the singleton actors: a panic in the PrizeWheel or the StockLedger restarts it
//! from the store's state — limited stock neither forgotten nor double counted — and customers
//! keep drawing and redeeming.

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

both_backends!(a_panicking_wheel_restarts_with_its_stock, a_panicking_stock_ledger_restarts_with_its_stock);
