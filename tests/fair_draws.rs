//! Fair draws, black-box (API.md "Campaigns and fair draws"): the commitment shown before the
//! draws is the seed revealed after them, and every draw recomputes from the revealed seed, its
//! nonce and its client seed to the prize the customer got.

mod common;

use std::collections::HashMap;

use common::{assert_error, assert_ok, phone, Backend, TestServer};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// The draw's number as an auditor computes it, from the contract alone.
fn recompute(seed_hex: &str, campaign: i64, user: i64, client_seed: &str, nonce: i64) -> f64 {
    let key = hex::decode(seed_hex).expect("the seed is hex");
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).expect("any key length");
    mac.update(format!("{campaign}:{user}:{client_seed}:{nonce}").as_bytes());
    let digest = mac.finalize().into_bytes();
    u64::from_be_bytes(digest[..8].try_into().expect("8 bytes")) as f64 / 2f64.powi(64)
}

fn commitment_of(seed_hex: &str) -> String {
    hex::encode(Sha256::digest(hex::decode(seed_hex).expect("hex")))
}

async fn fairness(server: &TestServer, token: &str) -> Value {
    assert_ok(&server.get("/api/lottery/campaigns/1", Some(token)).await)["fairness"].clone()
}

async fn a_finished_campaign_recomputes_draw_by_draw(backend: Backend) {
    let server = TestServer::start_with(backend, &[("DRAW_LIMIT_PER_MIN", "1000")]).await;
    let admin = server.admin().await;
    // One point a spin, so that ten customers can afford a hundred spins each.
    assert_ok(&server.put("/api/admin/lottery/settings", Some(&admin), json!({ "cost_points": 1 })).await);
    // A limited prize that sells out on the way: its mass moves to the fallback mid-campaign.
    let (_, wheel) = server.get("/api/admin/lottery/prizes", Some(&admin)).await;
    let mut prizes: Vec<Value> = wheel["data"]["prizes"].as_array().expect("prizes").clone();
    for p in prizes.iter_mut() {
        if p["name"] == "甜品一份" {
            p["stock"] = json!(5);
        }
    }
    assert_ok(&server.put("/api/admin/lottery/prizes", Some(&admin), json!({ "prizes": prizes })).await);

    let mut customers = Vec::new();
    for i in 0..10 {
        customers.push(server.login(&phone(71, i)).await);
    }
    let before = fairness(&server, &customers[0].token).await;
    let commitment = before["seed_commitment"].as_str().expect("commitment").to_string();
    assert_eq!(commitment.len(), 64);
    assert!(before["seed_period"]["ends_at"].is_string(), "{before}");

    // 10 customers × 10 decades = 1,000 draws; half of them with a client seed of their own.
    let mut draws: Vec<(i64, i64, Option<String>)> = Vec::new();
    for (i, c) in customers.iter().enumerate() {
        let client_seed = (i % 2 == 0).then(|| format!("table {i}, lucky!"));
        for _ in 0..10 {
            let mut body = json!({ "draw_type": "decade" });
            if let Some(s) = &client_seed {
                body["client_seed"] = json!(s);
            }
            let batch = assert_ok(&server.post("/api/lottery/draw", Some(&c.token), body).await);
            for r in batch["results"].as_array().expect("results") {
                draws.push((c.user_id, r["draw_id"].as_i64().expect("draw_id"), client_seed.clone()));
            }
        }
    }
    assert_eq!(draws.len(), 1000);
    // The same commitment stood for every draw of the period.
    assert_eq!(fairness(&server, &customers[0].token).await["seed_commitment"], json!(commitment));

    // Before the period ends, verify shows the commitment but not the seed.
    let (user, first, _) = &draws[0];
    let owner = customers.iter().find(|c| c.user_id == *user).expect("owner");
    let early = assert_ok(&server.get(&format!("/api/lottery/verify/{first}"), Some(&owner.token)).await);
    assert_eq!(early["server_seed"], Value::Null, "{early}");
    assert_eq!(early["seed_commitment"], json!(commitment));

    // Changing the rules ends the period: the seed is revealed, a new commitment follows.
    assert_ok(&server.put("/api/admin/lottery/settings", Some(&admin), json!({ "cost_points": 2 })).await);
    let seeds = assert_ok(&server.get("/api/lottery/campaigns/1/seeds", Some(&owner.token)).await);
    let revealed = seeds["seeds"]
        .as_array()
        .expect("seeds")
        .iter()
        .find(|s| s["seed_commitment"] == json!(commitment))
        .unwrap_or_else(|| panic!("the committed seed is listed: {seeds}"))
        .clone();
    let seed_hex = revealed["server_seed"].as_str().expect("server_seed").to_string();
    assert_eq!(seed_hex.len(), 64);
    assert_eq!(seed_hex, seed_hex.to_lowercase());
    assert_eq!(commitment_of(&seed_hex), commitment, "the revealed seed is the committed one");
    assert_ne!(fairness(&server, &owner.token).await["seed_commitment"], json!(commitment));

    let mut nonces: HashMap<i64, i64> = HashMap::new();
    let mut pity = 0;
    let mut sold_out_seen = false;
    for (user, draw_id, client_seed) in &draws {
        // Half the proofs are read by the owner, half by an administrator.
        let token = if draw_id % 2 == 0 {
            admin.clone()
        } else {
            customers.iter().find(|c| c.user_id == *user).expect("owner").token.clone()
        };
        let proof = assert_ok(&server.get(&format!("/api/lottery/verify/{draw_id}"), Some(&token)).await);
        assert_eq!(proof["campaign_id"], json!(1));
        assert_eq!(proof["server_seed"], json!(seed_hex), "{proof}");
        let expected_nonce = nonces.entry(*user).or_insert(0);
        *expected_nonce += 1;
        assert_eq!(proof["nonce"].as_i64(), Some(*expected_nonce), "nonces count 1, 2, 3, … per customer");
        let client = client_seed.clone().unwrap_or_else(|| user.to_string());
        assert_eq!(proof["client_seed"], json!(client));
        let value = recompute(&seed_hex, 1, *user, &client, *expected_nonce);
        // serde_json's default parser (the test's, not the server's) may be one ulp off.
        let shown = proof["random_value"].as_f64().expect("random_value");
        assert!((shown - value).abs() <= 2.0 * f64::EPSILON, "draw {draw_id}: {shown} vs {value}");
        let intervals = proof["intervals"].as_array().expect("intervals");
        assert_eq!(intervals.len(), 8);
        sold_out_seen |= intervals.iter().any(|i| i["from"] == i["to"]);
        if proof["is_pity"] == json!(true) {
            pity += 1;
            continue;
        }
        let holder = intervals
            .iter()
            .find(|i| i["from"].as_f64().unwrap() <= value && value < i["to"].as_f64().unwrap())
            .unwrap_or_else(|| panic!("an interval holds {value}: {proof}"));
        assert_eq!(holder["prize_id"], proof["prize_id"], "draw {draw_id} is the prize its number says");
    }
    assert!(pity < 1000 / 3, "pity overrides only some draws ({pity})");
    assert!(sold_out_seen, "five desserts at 8 % sell out within 1,000 draws, and the proofs show it");
    server.assert_reconciled();
}

async fn proofs_are_private_and_client_seeds_are_checked(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let alice = server.login(&phone(72, 1)).await;
    let bob = server.login(&phone(72, 2)).await;

    let batch = assert_ok(
        &server
            .post("/api/lottery/draw", Some(&alice.token), json!({ "count": 3, "client_seed": "alice's seed" }))
            .await,
    );
    let draw_id = batch["results"][0]["draw_id"].as_i64().expect("draw_id");
    // Someone else's draw does not exist for them; the owner and an administrator see it.
    assert_error(&server.get(&format!("/api/lottery/verify/{draw_id}"), Some(&bob.token)).await, 404, 9004);
    assert_error(&server.get("/api/lottery/verify/99999999", Some(&alice.token)).await, 404, 9004);
    assert_error(&server.get(&format!("/api/lottery/verify/{draw_id}"), None).await, 401, 2001);
    assert_error(&server.get("/api/lottery/verify/abc", Some(&alice.token)).await, 400, 1003);
    let mine = assert_ok(&server.get(&format!("/api/lottery/verify/{draw_id}"), Some(&alice.token)).await);
    assert_eq!(mine["client_seed"], json!("alice's seed"));
    assert_eq!(mine["nonce"], json!(1));
    assert_eq!(mine["user_id"], json!(alice.user_id));
    assert_ok(&server.get(&format!("/api/lottery/verify/{draw_id}"), Some(&admin)).await);

    // A bad client seed is refused by name and nothing is drawn or charged.
    let before = server.balance(&alice).await;
    for bad in [json!(""), json!("x".repeat(65)), json!("福气"), json!("tab\tin")] {
        let got = server.post("/api/lottery/draw", Some(&alice.token), json!({ "client_seed": bad })).await;
        assert_error(&got, 400, 1003);
        assert!(got.1["msg"].as_str().unwrap_or_default().contains("client_seed"), "{}", got.1);
    }
    assert_eq!(server.balance(&alice).await, before);
    // The next draw takes the next nonce: refusals used none.
    let next = assert_ok(&server.post("/api/lottery/draw", Some(&alice.token), json!({})).await);
    let next_id = next["results"][0]["draw_id"].as_i64().expect("draw_id");
    let proof = assert_ok(&server.get(&format!("/api/lottery/verify/{next_id}"), Some(&alice.token)).await);
    assert_eq!(proof["nonce"], json!(4));
    assert_eq!(proof["client_seed"], json!(alice.user_id.to_string()));

    // Campaigns: the default wheel is campaign 1, active; unknown campaigns are 3004.
    let list = assert_ok(&server.get("/api/lottery/campaigns", Some(&alice.token)).await);
    assert_eq!(list["campaigns"][0]["id"], json!(1), "{list}");
    assert_eq!(list["campaigns"][0]["status"], json!("active"));
    let active = assert_ok(&server.get("/api/lottery/campaigns?status=active", Some(&alice.token)).await);
    assert_eq!(active["campaigns"].as_array().map(Vec::len), Some(1));
    let ended = assert_ok(&server.get("/api/lottery/campaigns?status=ended", Some(&alice.token)).await);
    assert_eq!(ended["campaigns"].as_array().map(Vec::len), Some(0));
    assert_error(&server.get("/api/lottery/campaigns?status=over", Some(&alice.token)).await, 400, 1003);
    assert_error(&server.get("/api/lottery/campaigns/999", Some(&alice.token)).await, 409, 3004);
    assert_error(&server.get("/api/lottery/campaigns/999/seeds", Some(&alice.token)).await, 409, 3004);
    let detail = assert_ok(&server.get("/api/lottery/campaigns/1", Some(&alice.token)).await);
    assert_eq!(detail["me"]["draws_today"], json!(4), "{detail}");
    assert_eq!(detail["me"]["total_draws"], json!(4));
    assert_eq!(detail["wheel"]["prizes"].as_array().map(Vec::len), Some(8));
    assert_eq!(detail["campaign"]["cost_points"], json!(100));
    // Every wheel endpoint takes campaign_id: 1 is the default wheel, others have none here.
    for path in [
        "/api/lottery/config",
        "/api/lottery/records",
        "/api/lottery/statistics",
        "/api/lottery/pity-status",
        "/api/lottery/my-prizes",
    ] {
        assert_ok(&server.get(&format!("{path}?campaign_id=1"), Some(&alice.token)).await);
        assert_error(&server.get(&format!("{path}?campaign_id=999"), Some(&alice.token)).await, 409, 3004);
        assert_error(&server.get(&format!("{path}?campaign_id=x"), Some(&alice.token)).await, 400, 1003);
    }
    let before = server.balance(&alice).await;
    assert_error(&server.post("/api/lottery/draw", Some(&alice.token), json!({ "campaign_id": 999 })).await, 409, 3004);
    assert_error(
        &server.post("/api/lottery/draw", Some(&alice.token), json!({ "campaign_id": "abc" })).await,
        400,
        1003,
    );
    assert_eq!(server.balance(&alice).await, before);
    assert_ok(&server.post("/api/lottery/draw", Some(&alice.token), json!({ "campaign_id": 1 })).await);

    // Nothing is revealed while the first period runs.
    let seeds = assert_ok(&server.get("/api/lottery/campaigns/1/seeds", Some(&alice.token)).await);
    assert_eq!(seeds["seeds"].as_array().map(Vec::len), Some(0), "{seeds}");
}

async fn nonces_continue_across_a_restart(backend: Backend) {
    let mut server = TestServer::start(backend).await;
    let c = server.login(&phone(73, 1)).await;
    assert_ok(&server.post("/api/lottery/draw", Some(&c.token), json!({ "count": 3 })).await);
    server.start_again().await;
    let batch = assert_ok(&server.post("/api/lottery/draw", Some(&c.token), json!({ "count": 1 })).await);
    let id = batch["results"][0]["draw_id"].as_i64().expect("draw_id");
    let proof = assert_ok(&server.get(&format!("/api/lottery/verify/{id}"), Some(&c.token)).await);
    assert_eq!(proof["nonce"], json!(4), "{proof}");
}

both_backends!(
    a_finished_campaign_recomputes_draw_by_draw,
    proofs_are_private_and_client_seeds_are_checked,
    nonces_continue_across_a_restart
);
