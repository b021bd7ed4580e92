//! Several campaigns at once, black-box (API.md "Campaigns"): each has its own wheel, prizes,
//! limited stock, pity counters, daily limits, nonces and statistics; its rules and odds are
//! edited through the admin API and announced while it runs; `min_level` keeps lower levels
//! out (3005). Then 500 customers draw on three campaigns at once with limited stock in each:
//! nothing is oversold and `reconcile` passes.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

/// A campaign's prizes: the demo wheel's eight sectors with every draw's odds on `name`,
/// which gets `stock` (null: unlimited).
async fn prizes_all_on(server: &TestServer, admin: &str, name: &str, stock: Option<i64>) -> Vec<Value> {
    let wheel = assert_ok(&server.get("/api/admin/lottery/prizes", Some(admin)).await);
    let mut prizes = wheel["prizes"].as_array().expect("prizes").clone();
    for p in prizes.iter_mut() {
        let chosen = p["name"] == name;
        p["probability"] = json!(if chosen { 1.0 } else { 0.0 });
        p["stock"] = if chosen { json!(stock) } else { Value::Null };
    }
    prizes
}

/// A new campaign with `rules`, every draw's odds on `name` (with `stock`), made active.
async fn running_campaign(server: &TestServer, admin: &str, rules: Value, name: &str, stock: Option<i64>) -> i64 {
    let created = assert_ok(&server.post("/api/admin/campaigns", Some(admin), rules).await);
    let id = created["id"].as_i64().expect("id");
    let prizes = prizes_all_on(server, admin, name, stock).await;
    let path = format!("/api/admin/campaigns/{id}/prizes");
    assert_ok(&server.put(&path, Some(admin), json!({ "prizes": prizes })).await);
    let path = format!("/api/admin/campaigns/{id}/status");
    assert_ok(&server.post(&path, Some(admin), json!({ "status": "active" })).await);
    id
}

fn prize<'a>(wheel: &'a Value, name: &str) -> &'a Value {
    wheel["prizes"].as_array().expect("prizes").iter().find(|p| p["name"] == name).expect("prize")
}

async fn draw_in(server: &TestServer, c: &Customer, campaign: i64, draw_type: &str) -> (reqwest::StatusCode, Value) {
    server.post("/api/lottery/draw", Some(&c.token), json!({ "campaign_id": campaign, "draw_type": draw_type })).await
}

async fn each_campaign_keeps_its_own_wheel_pity_limits_stock_and_numbers(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let c = server.login(&phone(80, 1)).await;

    // A draft has a wheel the admin edits, but nobody draws on it.
    let rules = json!({ "name": "周末甜品轮", "cost_points": 10, "daily_limit": 4, "pity_limit": 3 });
    let created = assert_ok(&server.post("/api/admin/campaigns", Some(&admin), rules).await);
    let b = created["id"].as_i64().expect("id");
    assert_error(&draw_in(&server, &c, b, "single").await, 409, 3004);
    let empty = assert_ok(&server.get(&format!("/api/admin/campaigns/{b}/prizes"), Some(&admin)).await);
    assert_eq!(empty["prizes"], json!([]), "a new campaign has no prizes yet: {empty}");
    let prizes = prizes_all_on(&server, &admin, "甜品一份", Some(2)).await;
    let mut unbalanced = prizes.clone();
    unbalanced[0]["probability"] = json!(0.5);
    let refused =
        server.put(&format!("/api/admin/campaigns/{b}/prizes"), Some(&admin), json!({ "prizes": unbalanced })).await;
    assert_error(&refused, 400, 1003);
    let still = assert_ok(&server.get(&format!("/api/admin/campaigns/{b}/prizes"), Some(&admin)).await);
    assert_eq!(still["prizes"], json!([]), "a refused wheel changes nothing");
    let set = assert_ok(
        &server.put(&format!("/api/admin/campaigns/{b}/prizes"), Some(&admin), json!({ "prizes": prizes })).await,
    );
    assert_eq!(prize(&set, "甜品一份")["stock_left"], json!(2));
    assert_error(&draw_in(&server, &c, b, "single").await, 409, 3004);
    assert_ok(
        &server.post(&format!("/api/admin/campaigns/{b}/status"), Some(&admin), json!({ "status": "active" })).await,
    );

    // The campaign's own price, stock and pity: two desserts, then the pity prize at the third.
    let before = server.balance(&c).await;
    let got = assert_ok(&draw_in(&server, &c, b, "triple").await);
    let names: Vec<&str> =
        got["results"].as_array().expect("results").iter().map(|r| r["prize_name"].as_str().unwrap()).collect();
    assert_eq!(names, ["甜品一份", "甜品一份", "九八折券"], "{got}");
    assert_eq!(got["results"][2]["is_pity"], json!(true), "{got}");
    assert_eq!(got["points_cost"], json!(30), "this campaign's price: {got}");
    assert_eq!(server.balance(&c).await, before - 30);
    let b_wheel = assert_ok(&server.get(&format!("/api/admin/campaigns/{b}/prizes"), Some(&admin)).await);
    assert_eq!(prize(&b_wheel, "甜品一份")["stock_left"], json!(0), "{b_wheel}");
    let default_wheel = assert_ok(&server.get("/api/admin/lottery/prizes", Some(&admin)).await);
    assert_eq!(prize(&default_wheel, "甜品一份")["stock_left"], json!(100), "the default wheel's stock is its own");
    let pity_b = assert_ok(&server.get(&format!("/api/lottery/pity-status?campaign_id={b}"), Some(&c.token)).await);
    assert_eq!((pity_b["count"].clone(), pity_b["limit"].clone()), (json!(0), json!(3)), "{pity_b}");

    // The default campaign: its own counters, untouched by the other's draws.
    let pity_1 = assert_ok(&server.get("/api/lottery/pity-status", Some(&c.token)).await);
    assert_eq!((pity_1["count"].clone(), pity_1["limit"].clone()), (json!(0), json!(10)), "{pity_1}");
    assert_ok(&server.post("/api/lottery/draw", Some(&c.token), json!({})).await);

    // The daily limit counts this campaign's draws only: one more, then 3003; the default
    // campaign (no limit) still draws.
    assert_ok(&draw_in(&server, &c, b, "single").await);
    let balance = server.balance(&c).await;
    assert_error(&draw_in(&server, &c, b, "single").await, 409, 3003);
    assert_eq!(server.balance(&c).await, balance, "a refused draw charges nothing");
    assert_ok(&server.post("/api/lottery/draw", Some(&c.token), json!({ "campaign_id": 1 })).await);

    // What the customer reads is per campaign.
    let records = assert_ok(&server.get(&format!("/api/lottery/records?campaign_id={b}"), Some(&c.token)).await);
    assert_eq!(records["pagination"]["total"], json!(4), "{records}");
    let default_records = assert_ok(&server.get("/api/lottery/records", Some(&c.token)).await);
    assert_eq!(default_records["pagination"]["total"], json!(2), "{default_records}");
    let mine = assert_ok(&server.get(&format!("/api/lottery/my-prizes?campaign_id={b}"), Some(&c.token)).await);
    assert_eq!(mine["pagination"]["total"], json!(3), "two desserts and a coupon: {mine}");
    let detail = assert_ok(&server.get(&format!("/api/lottery/campaigns/{b}"), Some(&c.token)).await);
    assert_eq!(detail["me"]["draws_today"], json!(4), "{detail}");
    assert_eq!(detail["me"]["total_draws"], json!(4));
    assert_eq!(detail["me"]["pity"], json!({ "count": 1, "limit": 3 }));
    assert_eq!(detail["wheel"]["campaign"]["id"], json!(b));
    assert_eq!(detail["fairness"]["seed_commitment"].as_str().map(str::len), Some(64), "{detail}");

    // Nonces run per customer per campaign, and each draw proves itself with its campaign's seed.
    let mut nonces = Vec::new();
    for r in records["records"].as_array().expect("records") {
        let proof = assert_ok(&server.get(&format!("/api/lottery/verify/{}", r["draw_id"]), Some(&c.token)).await);
        assert_eq!(proof["campaign_id"], json!(b));
        nonces.push(proof["nonce"].as_i64().expect("nonce"));
    }
    nonces.sort();
    assert_eq!(nonces, [1, 2, 3, 4]);

    // Statistics per campaign.
    let stats = assert_ok(&server.get(&format!("/api/admin/campaigns/{b}/stats"), Some(&admin)).await);
    assert_eq!((stats["draws"].clone(), stats["points_spent"].clone()), (json!(4), json!(40)), "{stats}");
    let dessert =
        stats["prizes"].as_array().expect("prizes").iter().find(|p| p["name"] == "甜品一份").expect("dessert");
    assert_eq!((dessert["won"].clone(), dessert["stock_left"].clone()), (json!(2), json!(0)), "{stats}");
    let default_stats = assert_ok(&server.get("/api/admin/campaigns/1/stats", Some(&admin)).await);
    assert_eq!(default_stats["draws"], json!(2), "{default_stats}");
    server.assert_reconciled();
}

async fn rules_odds_and_stock_change_while_a_campaign_runs(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let c = server.login(&phone(81, 1)).await;
    let rules = json!({ "name": "会员轮", "cost_points": 20, "min_level": 2 });
    let id = running_campaign(&server, &admin, rules, "甜品一份", Some(1)).await;
    let mut ws = server.ws(&c.token).await;

    // Below the campaign's level: 3005 with both levels, and nothing is charged.
    let before = server.balance(&c).await;
    let refused = draw_in(&server, &c, id, "single").await;
    assert_error(&refused, 403, 3005);
    assert_eq!(refused.1["data"], json!({ "required_level": 2, "current_level": 1 }), "{}", refused.1);
    assert_eq!(server.balance(&c).await, before);

    // New rules: everyone may draw, at a new price, announced to every socket.
    let path = format!("/api/admin/campaigns/{id}");
    let changed = assert_ok(
        &server.put(&path, Some(&admin), json!({ "min_level": 1, "cost_points": 30, "description": "人人可抽" })).await,
    );
    assert_eq!((changed["min_level"].clone(), changed["cost_points"].clone()), (json!(1), json!(30)), "{changed}");
    assert_eq!(changed["description"], json!("人人可抽"));
    assert_eq!(changed["name"], json!("会员轮"), "absent fields keep their value");
    let update = ws.next_of("campaign_update", Duration::from_secs(5)).await.expect("campaign_update");
    assert_eq!(update["data"]["campaign_id"], json!(id), "{update}");
    let won = assert_ok(&draw_in(&server, &c, id, "single").await);
    assert_eq!(won["results"][0]["prize_name"], json!("甜品一份"));
    assert_eq!(won["points_cost"], json!(30));

    // Bad rules name their field and change nothing.
    for (bad, field) in [
        (json!({ "pity_limit": 1 }), "pity_limit"),
        (json!({ "min_level": 0 }), "min_level"),
        (json!({ "name": "" }), "name"),
        (json!({ "starts_at": 2_000_000_000_000_i64, "ends_at": 1_900_000_000_000_i64 }), "ends_at"),
    ] {
        let got = server.put(&path, Some(&admin), bad.clone()).await;
        assert_error(&got, 400, 1003);
        assert!(got.1["msg"].as_str().unwrap_or_default().contains(field), "{bad} → {}", got.1);
    }
    let listed = assert_ok(&server.get("/api/admin/campaigns", Some(&admin)).await);
    let row = listed["campaigns"].as_array().expect("list").iter().find(|x| x["id"] == json!(id)).expect("row").clone();
    assert_eq!((row["cost_points"].clone(), row["min_level"].clone()), (json!(30), json!(1)), "{row}");

    // The sold-out prize is restocked for this campaign only; sockets hear of it.
    let wheel = assert_ok(&server.get(&format!("/api/admin/campaigns/{id}/prizes"), Some(&admin)).await);
    let dessert = prize(&wheel, "甜品一份")["id"].as_i64().expect("id");
    assert_eq!(prize(&wheel, "甜品一份")["stock_left"], json!(0));
    let restock = format!("/api/admin/campaigns/{id}/prizes/{dessert}/stock");
    let added = assert_ok(&server.post(&restock, Some(&admin), json!({ "add": 2 })).await);
    assert_eq!(added, json!({ "prize_id": dessert, "stock_left": 2 }));
    let mut heard = false;
    for _ in 0..20 {
        let Some(m) = ws.next_of("prize_stock_update", Duration::from_secs(5)).await else { break };
        if m["data"]["prize_id"] == json!(dessert) && m["data"]["stock_left"] == json!(2) {
            heard = true;
            break;
        }
    }
    assert!(heard, "the restock reaches the socket");
    let default_wheel = assert_ok(&server.get("/api/admin/lottery/prizes", Some(&admin)).await);
    let other = prize(&default_wheel, "甜品一份")["id"].as_i64().expect("id");
    let wrong = format!("/api/admin/campaigns/{id}/prizes/{other}/stock");
    assert_error(&server.post(&wrong, Some(&admin), json!({ "add": 1 })).await, 404, 9004);
    assert_eq!(
        prize(&assert_ok(&server.get("/api/admin/lottery/prizes", Some(&admin)).await), "甜品一份")["stock_left"],
        json!(100)
    );

    // New odds on the running campaign: announced, and the next draw follows them.
    let prizes = prizes_all_on(&server, &admin, "100积分", None).await;
    assert_ok(
        &server.put(&format!("/api/admin/campaigns/{id}/prizes"), Some(&admin), json!({ "prizes": prizes })).await,
    );
    let update = ws.next_of("campaign_update", Duration::from_secs(5)).await.expect("campaign_update");
    assert_eq!(update["data"]["campaign_id"], json!(id), "{update}");
    let won = assert_ok(&draw_in(&server, &c, id, "single").await);
    assert_eq!(won["results"][0]["prize_name"], json!("100积分"), "{won}");

    // Paused: no draws, and resumed; ended: final, and nothing can change any more.
    let status = format!("/api/admin/campaigns/{id}/status");
    assert_ok(&server.post(&status, Some(&admin), json!({ "status": "paused" })).await);
    assert_error(&draw_in(&server, &c, id, "single").await, 409, 3004);
    assert_ok(&server.post(&status, Some(&admin), json!({ "status": "active" })).await);
    assert_ok(&draw_in(&server, &c, id, "single").await);
    assert_ok(&server.post(&status, Some(&admin), json!({ "status": "ended" })).await);
    assert_error(&draw_in(&server, &c, id, "single").await, 409, 3004);
    assert_error(&server.put(&path, Some(&admin), json!({ "cost_points": 1 })).await, 400, 1003);
    assert_error(&server.post(&restock, Some(&admin), json!({ "add": 1 })).await, 400, 1003);
    let seeds = assert_ok(&server.get(&format!("/api/lottery/campaigns/{id}/seeds"), Some(&c.token)).await);
    assert!(!seeds["seeds"].as_array().expect("seeds").is_empty(), "the ended campaign's seeds are revealed: {seeds}");
    let ended = assert_ok(&server.get(&format!("/api/lottery/campaigns/{id}"), Some(&c.token)).await);
    assert_eq!(ended["campaign"]["status"], json!("ended"));
    assert_eq!(ended["me"]["total_draws"], json!(3), "{ended}");
    // The console reads the same as an administrator: the commitment and seeds, no `me`.
    let seen = assert_ok(&server.get(&format!("/api/lottery/campaigns/{id}"), Some(&admin)).await);
    assert_eq!(seen["me"], Value::Null, "{seen}");
    assert_eq!(seen["fairness"], ended["fairness"]);
    let seeds_seen = assert_ok(&server.get(&format!("/api/lottery/campaigns/{id}/seeds"), Some(&admin)).await);
    assert_eq!(seeds_seen["seeds"], seeds["seeds"]);

    // Unknown campaigns are 3004 everywhere.
    assert_error(&draw_in(&server, &c, 999, "single").await, 409, 3004);
    assert_error(&server.get("/api/lottery/config?campaign_id=999", Some(&c.token)).await, 409, 3004);
    assert_error(&server.put("/api/admin/campaigns/999", Some(&admin), json!({ "cost_points": 1 })).await, 409, 3004);
    assert_error(&server.get("/api/admin/campaigns/999/prizes", Some(&admin)).await, 409, 3004);

    let log = assert_ok(&server.get("/api/admin/audit-log?limit=50", Some(&admin)).await).to_string();
    for action in ["campaign.update", "wheel.prizes.replace", "wheel.prize.restock", "campaign.status"] {
        assert!(log.contains(action), "{action} is audited: {log}");
    }
    server.assert_reconciled();
}

const CUSTOMERS: u32 = 500;
const STOCK: i64 = 120;

/// 500 customers each draw a triple on three campaigns at once (4,500 spins), every spin's
/// odds on the campaign's limited prize: exactly its stock is won in each campaign, the rest
/// falls to the fallback, and the store agrees with every answer.
async fn five_hundred_customers_on_three_campaigns_never_oversell(backend: Backend) {
    let server = Arc::new(TestServer::start_with(backend, &[("RATE_LIMIT_PER_IP_PER_MIN", "1000000")]).await);
    let admin = server.admin().await;
    server.wheel_all_on(&admin, "甜品一份", Some(STOCK)).await;
    let mut campaigns = vec![1];
    for name in ["午市转盘", "晚市转盘"] {
        let rules = json!({ "name": name, "cost_points": 10 });
        campaigns.push(running_campaign(&server, &admin, rules, "甜品一份", Some(STOCK)).await);
    }

    let mut logins = Vec::new();
    for i in 0..CUSTOMERS {
        let s = server.clone();
        logins.push(tokio::spawn(async move { s.login(&phone(82, i)).await }));
    }
    let mut customers = Vec::new();
    for l in logins {
        customers.push(l.await.expect("login"));
    }
    let mut draws = Vec::new();
    for c in &customers {
        for &campaign in &campaigns {
            let (s, c) = (server.clone(), c.clone());
            draws.push(tokio::spawn(async move { (campaign, draw_in(&s, &c, campaign, "triple").await) }));
        }
    }
    let mut desserts = std::collections::HashMap::<i64, i64>::new();
    for d in draws {
        let (campaign, got) = d.await.expect("draw");
        let batch = assert_ok(&got);
        let won =
            batch["results"].as_array().expect("results").iter().filter(|r| r["prize_name"] == "甜品一份").count();
        *desserts.entry(campaign).or_default() += won as i64;
    }
    for &campaign in &campaigns {
        assert_eq!(desserts.get(&campaign).copied(), Some(STOCK), "campaign {campaign} gave exactly its stock");
        let path = format!("/api/admin/campaigns/{campaign}/prizes");
        let wheel = assert_ok(&server.get(&path, Some(&admin)).await);
        assert_eq!(prize(&wheel, "甜品一份")["stock_left"], json!(0), "campaign {campaign}: {wheel}");
        let stats = assert_ok(&server.get(&format!("/api/admin/campaigns/{campaign}/stats"), Some(&admin)).await);
        assert_eq!(stats["draws"], json!(CUSTOMERS * 3), "campaign {campaign}: {stats}");
        assert_eq!(stats["unique_users"], json!(CUSTOMERS));
    }
    server.assert_reconciled();
}

both_backends!(
    each_campaign_keeps_its_own_wheel_pity_limits_stock_and_numbers,
    rules_odds_and_stock_change_while_a_campaign_runs,
    five_hundred_customers_on_three_campaigns_never_oversell
);
