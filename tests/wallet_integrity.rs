//! Wallet integrity under real concurrency and real crashes: many concurrent points changes per
//! customer, a SIGKILL in the middle of a burst, a panicking wallet actor. Afterwards the ledger
//! must reconcile and every acknowledged change must be there exactly once.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use common::*;
use serde_json::json;

/// 200 customers, each hit by 12 concurrent admin adjustments (up and down, some of which would
/// go negative). Every balance must equal 1000 plus the acknowledged deltas.
async fn concurrent_adjustments_keep_every_ledger_exact(backend: Backend) {
    let server = Arc::new(TestServer::start(backend).await);
    let admin = Arc::new(server.admin().await);
    let mut customers = Vec::new();
    for i in 0..200 {
        customers.push(server.login(&phone(41, i)).await);
    }
    // Per customer: +300, -500 ×4, +50 ×3, -900 ×2, +10, -1 — the sum of the negatives exceeds
    // what any ordering can afford, so some must be refused with 3001.
    let deltas: [i64; 12] = [300, -500, -500, -500, -500, 50, 50, 50, -900, -900, 10, -1];
    let mut tasks = Vec::new();
    for c in &customers {
        for (k, d) in deltas.iter().enumerate() {
            let (server, admin, uid, d) = (server.clone(), admin.clone(), c.user_id, *d);
            tasks.push(tokio::spawn(async move {
                let got = server
                    .post(
                        &format!("/api/admin/users/{uid}/points"),
                        Some(&admin),
                        json!({ "delta": d, "reason": format!("burst {k}") }),
                    )
                    .await;
                (uid, d, got)
            }));
        }
    }
    let mut acknowledged: HashMap<i64, i64> = HashMap::new();
    let mut refused = 0;
    for t in tasks {
        let (uid, d, (status, body)) = t.await.expect("task");
        match body["code"].as_i64() {
            Some(0) => {
                assert_eq!(body["data"]["change_points"].as_i64(), Some(d));
                *acknowledged.entry(uid).or_default() += d;
            }
            Some(3001) => {
                assert_eq!(status.as_u16(), 409);
                assert_eq!(body["data"]["required"].as_i64(), Some(-d), "{body}");
                assert!(body["data"]["current"].as_i64().unwrap() < -d, "{body}");
                refused += 1;
            }
            other => panic!("unexpected answer {other:?}: {body}"),
        }
    }
    assert!(refused > 0, "some changes must have been refused for lack of points");
    for c in &customers {
        let expected = 1000 + acknowledged.get(&c.user_id).copied().unwrap_or(0);
        assert!(expected >= 0);
        assert_eq!(server.balance(c).await, expected, "user {}", c.user_id);
    }
    server.assert_reconciled();
}

/// The server is killed with SIGKILL in the middle of a burst of changes. After a restart every
/// change that had been acknowledged is in the ledger exactly once, and the ledger reconciles.
async fn sigkill_mid_burst_loses_no_acknowledged_change(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let mut customers = Vec::new();
    for i in 0..40 {
        customers.push(server.login(&phone(42, i)).await);
    }
    let shared = Arc::new(server);
    let admin = Arc::new(admin);
    let mut tasks = Vec::new();
    for c in &customers {
        let (server, admin, uid) = (shared.clone(), admin.clone(), c.user_id);
        tasks.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for k in 0..200 {
                let delta = if k % 2 == 0 { 7 } else { -3 };
                let resp = server
                    .http
                    .post(server.url(&format!("/api/admin/users/{uid}/points")))
                    .bearer_auth(admin.as_str())
                    .json(&json!({ "delta": delta }))
                    .send()
                    .await;
                // Once the server is gone requests fail: that is the point of the test.
                let Ok(resp) = resp else { break };
                let Ok(body) = resp.json::<serde_json::Value>().await else {
                    break;
                };
                if body["code"].as_i64() == Some(0) {
                    acked.push((body["data"]["record_id"].as_i64().expect("record_id"), delta));
                }
            }
            (uid, acked)
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    shared.sigkill();
    let mut acked_all = Vec::new();
    for t in tasks {
        acked_all.push(t.await.expect("task"));
    }
    let server = Arc::try_unwrap(shared).unwrap_or_else(|_| panic!("server handle still shared"));
    after_crash(server, acked_all, &customers).await
}

async fn after_crash(mut server: TestServer, acked_all: Vec<(i64, Vec<(i64, i64)>)>, customers: &[Customer]) {
    let total_acked: usize = acked_all.iter().map(|(_, a)| a.len()).sum();
    assert!(total_acked > 0, "the burst should have been under way when the server died");
    server.start_again().await;
    server.assert_reconciled();
    for c in customers {
        let acked: Vec<(i64, i64)> =
            acked_all.iter().find(|(u, _)| *u == c.user_id).map(|(_, a)| a.clone()).unwrap_or_default();
        let c = server.login(&c.phone).await;
        let mut ids = HashSet::new();
        let mut page = 1;
        loop {
            let (_, body) = server
                .get(&format!("/api/user/points-records?source=admin_adjust&limit=50&page={page}"), Some(&c.token))
                .await;
            let records = body["data"]["records"].as_array().expect("records").clone();
            for r in &records {
                assert!(ids.insert(r["id"].as_i64().unwrap()), "ledger row listed twice");
            }
            if records.len() < 50 {
                break;
            }
            page += 1;
        }
        for (record_id, _) in &acked {
            assert!(ids.contains(record_id), "acknowledged ledger row {record_id} of user {} is missing", c.user_id);
        }
    }
}

/// A panic inside one customer's wallet actor: the actor is rebuilt from the store, the
/// customer's balance is intact, and other customers keep being served meanwhile.
async fn a_panicking_wallet_is_rebuilt_from_the_store(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let victim = server.login(&phone(43, 1)).await;
    let other = server.login(&phone(43, 2)).await;
    assert_ok(
        &server
            .post(&format!("/api/admin/users/{}/points", victim.user_id), Some(&admin), json!({ "delta": 250 }))
            .await,
    );
    assert_eq!(server.balance(&victim).await, 1250);

    assert_ok(
        &server.post(&format!("/api/admin/test-hooks/wallets/{}/panic", victim.user_id), Some(&admin), json!({})).await,
    );
    // The other customer is unaffected.
    assert_ok(
        &server
            .post(&format!("/api/admin/users/{}/points", other.user_id), Some(&admin), json!({ "delta": -100 }))
            .await,
    );
    assert_eq!(server.balance(&other).await, 900);
    // The victim's wallet comes back with every acknowledged point and keeps working.
    assert_eq!(server.balance(&victim).await, 1250);
    assert_ok(
        &server
            .post(&format!("/api/admin/users/{}/points", victim.user_id), Some(&admin), json!({ "delta": -50 }))
            .await,
    );
    assert_eq!(server.balance(&victim).await, 1200);
    let metrics = server.http.get(server.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("wallet_actor_restarts_total 1"), "{metrics}");
    server.assert_reconciled();
}

both_backends!(
    concurrent_adjustments_keep_every_ledger_exact,
    sigkill_mid_burst_loses_no_acknowledged_change,
    a_panicking_wallet_is_rebuilt_from_the_store,
);
