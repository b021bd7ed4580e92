//! The wheel under the load it is built for: hundreds of customers drawing at once, each with a
//! live socket; limited stock shared by many; a SIGKILL in the middle of a burst; a wallet actor
//! panicking while everyone else keeps drawing. Afterwards every point is accounted for.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use tokio::sync::Semaphore;

/// Points won in a draw response, from its own results.
fn points_won(data: &Value) -> i64 {
    data["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter(|r| r["prize_type"] == "points")
        .map(|r| r["prize_value"].as_i64().expect("prize_value"))
        .sum()
}

/// 500 customers × 10 concurrent single draws, each customer watching their own socket.
async fn five_hundred_customers_drawing_at_once_are_all_accounted_for(backend: Backend) {
    let server = Arc::new(TestServer::start(backend).await);
    let logins = Arc::new(Semaphore::new(32));
    let mut joins = Vec::new();
    for i in 0..500 {
        let (server, logins) = (server.clone(), logins.clone());
        joins.push(tokio::spawn(async move {
            let _p = logins.acquire().await.expect("permit");
            let c = server.login(&phone(51, i)).await;
            let ws = server.ws(&c.token).await;
            (c, ws)
        }));
    }
    let mut customers = Vec::new();
    for j in joins {
        customers.push(j.await.expect("login"));
    }

    // Bound the requests in flight (file descriptors), not the concurrency that matters: the
    // server still sees hundreds of draws at once, many for the same customer.
    let in_flight = Arc::new(Semaphore::new(400));
    let mut draws = Vec::new();
    for (c, _) in &customers {
        for _ in 0..10 {
            let (server, in_flight, token, uid) = (server.clone(), in_flight.clone(), c.token.clone(), c.user_id);
            draws.push(tokio::spawn(async move {
                let _p = in_flight.acquire().await.expect("permit");
                (uid, server.post("/api/lottery/draw", Some(&token), json!({ "draw_type": "single" })).await)
            }));
        }
    }
    let mut net: HashMap<i64, i64> = HashMap::new();
    for d in draws {
        let (uid, got) = d.await.expect("draw task");
        let data = assert_ok(&got);
        assert_eq!(data["points_cost"], 100);
        *net.entry(uid).or_default() += points_won(&data) - 100;
    }

    for (c, ws) in customers.iter_mut() {
        let expected = 1000 + net[&c.user_id];
        assert_eq!(server.balance(c).await, expected, "user {}", c.user_id);
        // The socket saw every change, in order: the last update shows the final balance and
        // the changes add up to it.
        let mut last_total = None;
        let mut changes = 0;
        let mut updates = 0;
        while updates < 10 {
            let Some(msg) = ws.next_of("points_update", Duration::from_secs(10)).await else { break };
            assert_eq!(msg["data"]["user_id"], c.user_id);
            changes += msg["data"]["change_points"].as_i64().expect("change_points");
            last_total = msg["data"]["total_points"].as_i64();
            updates += 1;
        }
        assert_eq!(updates, 10, "user {} got {updates} points_update messages", c.user_id);
        assert_eq!(last_total, Some(expected), "user {}", c.user_id);
        assert_eq!(1000 + changes, expected, "user {}", c.user_id);
    }
    server.assert_reconciled();
}

/// A limited prize with N units and many customers drawing at once: exactly N winners.
async fn limited_stock_gives_exactly_n_winners(backend: Backend) {
    let server = Arc::new(TestServer::start(backend).await);
    let admin = server.admin().await;
    // All the odds on 甜品一份 (physical) with 20 units; when they are gone the mass falls to 谢谢参与.
    server.wheel_all_on(&admin, "甜品一份", Some(20)).await;

    let mut customers = Vec::new();
    for i in 0..60 {
        customers.push(server.login(&phone(52, i)).await);
    }
    let mut tasks = Vec::new();
    for c in &customers {
        let (server, token) = (server.clone(), c.token.clone());
        tasks.push(tokio::spawn(async move {
            server.post("/api/lottery/draw", Some(&token), json!({ "draw_type": "triple" })).await
        }));
    }
    let mut winners = 0;
    let mut codes = HashSet::new();
    for t in tasks {
        let data = assert_ok(&t.await.expect("task"));
        for r in data["results"].as_array().expect("results") {
            if r["prize_name"] == "甜品一份" {
                winners += 1;
                assert!(codes.insert(r["redemption_code"].as_str().expect("code").to_string()));
            } else {
                assert_eq!(r["prize_name"], "谢谢参与", "{r}");
            }
        }
    }
    assert_eq!(winners, 20, "exactly the stocked units are won");
    let (_, config) = server.get("/api/lottery/config", Some(&customers[0].token)).await;
    let dessert =
        config["data"]["prizes"].as_array().unwrap().iter().find(|p| p["name"] == "甜品一份").cloned().unwrap();
    assert_eq!(dessert["stock_left"], 0);
    server.assert_reconciled();
}

/// SIGKILL while hundreds of draws are in flight: after a restart the ledger reconciles and every
/// acknowledged draw is there exactly once.
async fn sigkill_during_a_draw_burst_keeps_every_acknowledged_draw(backend: Backend) {
    let server = TestServer::start_with(backend, &[("DRAW_LIMIT_PER_MIN", "1000")]).await;
    let mut customers = Vec::new();
    for i in 0..60 {
        customers.push(server.login(&phone(53, i)).await);
    }
    let shared = Arc::new(server);
    let mut tasks = Vec::new();
    for c in &customers {
        let (server, c) = (shared.clone(), c.clone());
        tasks.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for _ in 0..40 {
                let resp = server
                    .http
                    .post(server.url("/api/lottery/draw"))
                    .bearer_auth(&c.token)
                    .json(&json!({ "count": 1 }))
                    .send()
                    .await;
                let Ok(resp) = resp else { break };
                let Ok(body) = resp.json::<Value>().await else { break };
                match body["code"].as_i64() {
                    Some(0) => acked.extend(
                        body["data"]["results"].as_array().unwrap().iter().map(|r| r["draw_id"].as_i64().unwrap()),
                    ),
                    Some(3001) => break,
                    _ => {}
                }
            }
            (c, acked)
        }));
    }
    tokio::time::sleep(Duration::from_millis(1200)).await;
    shared.sigkill();
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.expect("task"));
    }
    let mut server = Arc::try_unwrap(shared).unwrap_or_else(|_| panic!("server still shared"));
    let acked_total: usize = results.iter().map(|(_, a)| a.len()).sum();
    assert!(acked_total > 0, "the burst was under way when the server died");
    server.start_again().await;
    server.assert_reconciled();
    for (c, acked) in results {
        let c = server.login(&c.phone).await;
        let mut seen = HashSet::new();
        for page in 1..=10 {
            let (_, body) = server.get(&format!("/api/lottery/records?limit=50&page={page}"), Some(&c.token)).await;
            let records = body["data"]["records"].as_array().expect("records").clone();
            for r in &records {
                assert!(seen.insert(r["draw_id"].as_i64().unwrap()), "a draw is listed twice");
            }
            if records.len() < 50 {
                break;
            }
        }
        for id in acked {
            assert!(seen.contains(&id), "acknowledged draw {id} of user {} is missing", c.user_id);
        }
    }
}

/// One customer's wallet actor panics while 30 others draw: they are unaffected, the victim's
/// wallet is rebuilt from the store with every point, and the books balance.
async fn a_wallet_panic_does_not_disturb_other_customers(backend: Backend) {
    let server = Arc::new(TestServer::start(backend).await);
    let admin = server.admin().await;
    let victim = server.login(&phone(54, 0)).await;
    let first =
        assert_ok(&server.post("/api/lottery/draw", Some(&victim.token), json!({ "draw_type": "triple" })).await);
    let victim_balance = first["remaining_points"].as_i64().unwrap();
    let mut others = Vec::new();
    for i in 1..=30 {
        others.push(server.login(&phone(54, i)).await);
    }
    let mut tasks = Vec::new();
    for c in &others {
        let (server, token) = (server.clone(), c.token.clone());
        tasks.push(tokio::spawn(async move {
            let mut answers = Vec::new();
            for _ in 0..5 {
                answers.push(server.post("/api/lottery/draw", Some(&token), json!({ "draw_type": "single" })).await);
            }
            answers
        }));
    }
    assert_ok(
        &server.post(&format!("/api/admin/test-hooks/wallets/{}/panic", victim.user_id), Some(&admin), json!({})).await,
    );
    for t in tasks {
        for got in t.await.expect("task") {
            assert_ok(&got);
        }
    }
    assert_eq!(server.balance(&victim).await, victim_balance);
    let (_, pity) = server.get("/api/lottery/pity-status", Some(&victim.token)).await;
    assert_eq!(pity["data"]["count"], first["pity"]["count"], "the pity counter came back from the store");
    let again =
        assert_ok(&server.post("/api/lottery/draw", Some(&victim.token), json!({ "draw_type": "single" })).await);
    assert_eq!(again["remaining_points"].as_i64().unwrap(), victim_balance - 100 + points_won(&again));
    server.assert_reconciled();
}

both_backends!(
    five_hundred_customers_drawing_at_once_are_all_accounted_for,
    limited_stock_gives_exactly_n_winners,
    sigkill_during_a_draw_burst_keeps_every_acknowledged_draw,
    a_wallet_panic_does_not_disturb_other_customers,
);
