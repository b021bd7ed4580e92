//! `/api/lottery` as the mini-program sees it: the wheel's configuration, draws of every size
//! (cost, results, the balance they leave, the ledger rows they write), the refusals (bad input,
//! not enough points, per-minute and daily limits, a closed campaign) that never charge,
//! idempotent retries that survive a crash, pity on the tenth draw that survives a restart,
//! limited prize stock that falls to the fallback and comes back when restocked, and the
//! customer's records, statistics and prize inventory with their pagination.

mod common;

use std::collections::{HashMap, HashSet};

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

const COST: i64 = 100;

async fn draw(server: &TestServer, c: &Customer, body: Value) -> (StatusCode, Value) {
    server.post("/api/lottery/draw", Some(&c.token), body).await
}

/// A draw that must succeed; returns `data`.
async fn draw_ok(server: &TestServer, c: &Customer, body: Value) -> Value {
    assert_ok(&draw(server, c, body).await)
}

/// A draw sent with an `Idempotency-Key` header.
async fn draw_with_key(server: &TestServer, c: &Customer, key: &str, body: Value) -> Value {
    let resp = server
        .http
        .post(server.url("/api/lottery/draw"))
        .bearer_auth(&c.token)
        .header("Idempotency-Key", key)
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = resp.status();
    let body: Value = resp.json().await.expect("json");
    assert_ok(&(status, body))
}

fn results(data: &Value) -> Vec<Value> {
    data["results"].as_array().expect("results").clone()
}

/// Points credited by the points prizes among `results`.
fn points_won(results: &[Value]) -> i64 {
    results
        .iter()
        .filter(|r| r["prize_type"] == "points")
        .map(|r| r["prize_value"].as_i64().expect("prize_value"))
        .sum()
}

fn draw_ids(results: &[Value]) -> Vec<i64> {
    results.iter().map(|r| r["draw_id"].as_i64().expect("draw_id")).collect()
}

fn names(results: &[Value]) -> Vec<String> {
    results.iter().map(|r| r["prize_name"].as_str().expect("prize_name").to_string()).collect()
}

async fn config(server: &TestServer, c: &Customer) -> Value {
    assert_ok(&server.get("/api/lottery/config", Some(&c.token)).await)
}

/// The config sector named `name`.
fn sector(config: &Value, name: &str) -> Value {
    config["prizes"].as_array().expect("prizes").iter().find(|p| p["name"] == name).cloned().expect(name)
}

async fn records_total(server: &TestServer, c: &Customer) -> i64 {
    let data = assert_ok(&server.get("/api/lottery/records", Some(&c.token)).await);
    data["pagination"]["total"].as_i64().expect("total")
}

async fn pity_count(server: &TestServer, c: &Customer) -> i64 {
    let data = assert_ok(&server.get("/api/lottery/pity-status", Some(&c.token)).await);
    assert_eq!(data["limit"].as_i64(), Some(10), "{data}");
    let count = data["count"].as_i64().expect("count");
    assert_eq!(data["remaining"].as_i64(), Some(10 - count), "{data}");
    count
}

/// Ledger rows of one source, as the customer sees them.
async fn ledger(server: &TestServer, c: &Customer, source: &str) -> Vec<Value> {
    let data =
        assert_ok(&server.get(&format!("/api/user/points-records?source={source}&limit=50"), Some(&c.token)).await);
    data["records"].as_array().expect("records").clone()
}

/// Replaces the wheel with the demo one edited by `edit` (GET, edit, PUT back).
async fn edit_wheel(server: &TestServer, admin: &str, edit: impl Fn(&mut Value)) {
    let data = assert_ok(&server.get("/api/admin/lottery/prizes", Some(admin)).await);
    let mut prizes = data["prizes"].as_array().expect("prizes").clone();
    for p in &mut prizes {
        edit(p);
    }
    assert_ok(&server.put("/api/admin/lottery/prizes", Some(admin), json!({ "prizes": prizes })).await);
}

/// All probability on the sector named `name`, none on the others.
async fn force_wheel(server: &TestServer, admin: &str, name: &'static str) {
    edit_wheel(server, admin, |p| p["probability"] = json!(if p["name"] == name { 1.0 } else { 0.0 })).await
}

/// Asserts one draw response: `n` results whose prizes are the config's, cost n × 100, and the
/// balance it reports is `before − cost + won`; returns the points won.
fn check_draw(data: &Value, n: usize, before: i64, cfg: &Value) -> i64 {
    let rs = results(data);
    assert_eq!(rs.len(), n, "{data}");
    assert_eq!(data["points_cost"].as_i64(), Some(n as i64 * COST), "{data}");
    let won = points_won(&rs);
    assert_eq!(data["remaining_points"].as_i64(), Some(before - n as i64 * COST + won), "{data}");
    assert_eq!(data["pity"]["limit"].as_i64(), Some(10), "{data}");
    let prizes = cfg["prizes"].as_array().unwrap();
    for r in &rs {
        let p = prizes.iter().find(|p| p["id"] == r["prize_id"]).unwrap_or_else(|| panic!("unknown prize in {r}"));
        assert_eq!(r["prize_name"], p["name"], "{r}");
        assert_eq!(r["prize_type"], p["type"], "{r}");
        assert_eq!(r["prize_value"], p["value"], "{r}");
        assert_eq!(r["angle"], p["angle"], "{r}");
        assert!(r["is_near_miss"].is_boolean() && r["is_pity"].is_boolean(), "{r}");
    }
    won
}

async fn config_shows_eight_sectors_odds_pity_and_draw_types(backend: Backend) {
    let server = TestServer::start(backend).await;
    let c = server.login(&phone(300, 1)).await;
    let cfg = config(&server, &c).await;
    assert_eq!(cfg["cost_points"].as_i64(), Some(100));
    let prizes = cfg["prizes"].as_array().expect("prizes");
    assert_eq!(prizes.len(), 8);
    let mut angles: Vec<i64> = prizes.iter().map(|p| p["angle"].as_i64().unwrap()).collect();
    angles.sort_unstable();
    assert_eq!(angles, vec![0, 45, 90, 135, 180, 225, 270, 315]);
    let sum: f64 = prizes.iter().map(|p| p["probability"].as_f64().unwrap()).sum();
    assert!((sum - 1.0).abs() < 1e-6, "probabilities sum to {sum}");
    let ids: HashSet<i64> = prizes.iter().map(|p| p["id"].as_i64().expect("id")).collect();
    assert_eq!(ids.len(), 8, "ids are distinct");
    for p in prizes {
        assert!(["points", "coupon", "physical", "empty"].contains(&p["type"].as_str().unwrap()), "{p}");
        let color = p["color"].as_str().unwrap();
        assert!(color.len() == 7 && color.starts_with('#'), "{p}");
        assert!(p["is_activity"].is_boolean() && p["value"].is_i64(), "{p}");
        assert!(p.get("stock_left").is_some(), "stock_left is always present (null = unlimited): {p}");
    }
    // The demo wheel of the contract.
    let expect = [
        ("50积分", "points", 50, 0.20, false, None),
        ("九八折券", "coupon", 98, 0.15, false, None),
        ("100积分", "points", 100, 0.10, false, None),
        ("甜品一份", "physical", 1, 0.08, false, Some(100)),
        ("八八折券", "coupon", 88, 0.05, false, None),
        ("500积分", "points", 500, 0.015, true, None),
        ("免单券", "coupon", 100, 0.005, true, Some(10)),
        ("谢谢参与", "empty", 0, 0.40, false, None),
    ];
    for (name, kind, value, p, activity, stock) in expect {
        let s = sector(&cfg, name);
        assert_eq!(s["type"], json!(kind), "{s}");
        if kind == "points" {
            assert_eq!(s["value"].as_i64(), Some(value), "{s}");
        }
        assert!((s["probability"].as_f64().unwrap() - p).abs() < 1e-9, "{s}");
        assert_eq!(s["is_activity"], json!(activity), "{s}");
        assert_eq!(s["stock_left"], json!(stock), "{s}");
    }
    let pity = &cfg["pity"];
    assert_eq!(pity["enabled"], json!(true));
    assert_eq!(pity["limit"].as_i64(), Some(10));
    assert_eq!(pity["prize_name"], json!("九八折券"));
    assert_eq!(pity["prize_id"], sector(&cfg, "九八折券")["id"]);
    assert_eq!(cfg["draw_types"], json!({ "single": 1, "triple": 3, "quintuple": 5, "decade": 10 }));
    let campaign = &cfg["campaign"];
    for key in ["id", "name", "starts_at", "ends_at"] {
        assert!(campaign.get(key).is_some(), "campaign.{key} in {campaign}");
    }
    assert!(campaign["name"].as_str().is_some_and(|n| !n.is_empty()), "{campaign}");
}

async fn every_draw_size_charges_its_count_and_reports_the_true_balance(backend: Backend) {
    let server = TestServer::start(backend).await;
    // By draw_type and by count, each on its own customer (1000 points = 10 draws each).
    let plans: [Vec<Value>; 4] = [
        vec![json!({ "draw_type": "single" }), json!({ "draw_type": "triple" }), json!({ "draw_type": "quintuple" })],
        vec![json!({ "draw_type": "decade" })],
        vec![json!({ "count": 1 }), json!({ "count": 3 }), json!({ "count": 5 })],
        vec![json!({ "count": 10 })],
    ];
    for (i, plan) in plans.iter().enumerate() {
        let c = server.login(&phone(301, i as u32)).await;
        let cfg = config(&server, &c).await;
        let mut balance = 1000;
        let mut total_cost = 0;
        let mut total_won = 0;
        let mut wins = 0;
        for body in plan {
            let n = body["count"].as_i64().map(|n| n as usize).unwrap_or_else(|| {
                match body["draw_type"].as_str().unwrap() {
                    "single" => 1,
                    "triple" => 3,
                    "quintuple" => 5,
                    _ => 10,
                }
            });
            let data = draw_ok(&server, &c, body.clone()).await;
            let won = check_draw(&data, n, balance, &cfg);
            let rs = results(&data);
            wins += rs.iter().filter(|r| r["prize_type"] == "points").count();
            if n == 10 {
                assert!(names(&rs).iter().any(|n| n == "九八折券"), "ten draws always hold a 九八折券 (pity): {data}");
            }
            balance = data["remaining_points"].as_i64().unwrap();
            assert_eq!(server.balance(&c).await, balance, "remaining_points is the balance /api/user/info shows");
            total_cost += n as i64 * COST;
            total_won += won;
        }
        assert_eq!(balance, 1000 - total_cost + total_won);
        assert_eq!(records_total(&server, &c).await, total_cost / COST);
        // One debit per batch of −cost × n, one credit per points prize.
        let debits = ledger(&server, &c, "lottery").await;
        assert_eq!(debits.len(), plan.len(), "{debits:?}");
        let debited: i64 = debits.iter().map(|r| r["points"].as_i64().unwrap()).sum();
        assert_eq!(debited, -total_cost);
        let credits = ledger(&server, &c, "lottery_win").await;
        assert_eq!(credits.len(), wins, "{credits:?}");
        assert_eq!(credits.iter().map(|r| r["points"].as_i64().unwrap()).sum::<i64>(), total_won);
    }
    server.assert_reconciled();
}

async fn unknown_draw_types_and_counts_are_refused_without_charge(backend: Backend) {
    let server = TestServer::start(backend).await;
    let c = server.login(&phone(302, 1)).await;
    for (body, field) in [
        (json!({ "draw_type": "mega" }), "draw_type"),
        (json!({ "draw_type": "" }), "draw_type"),
        (json!({ "draw_type": 3 }), "draw_type"),
        (json!({ "count": 2 }), "count"),
        (json!({ "count": 0 }), "count"),
        (json!({ "count": -1 }), "count"),
        (json!({ "count": 100 }), "count"),
        (json!({ "count": "three" }), "count"),
        (json!({ "draw_type": "single", "count": 10 }), "count"),
    ] {
        let got = draw(&server, &c, body.clone()).await;
        assert_error(&got, 400, 1003);
        assert!(got.1["msg"].as_str().unwrap().contains(field), "{body} → {}", got.1);
        assert_eq!(got.1["data"], Value::Null);
    }
    assert_eq!(server.balance(&c).await, 1000);
    assert_eq!(records_total(&server, &c).await, 0);
    server.assert_reconciled();
}

async fn not_enough_points_is_409_with_required_and_current_and_charges_nothing(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    force_wheel(&server, &admin, "谢谢参与").await;

    // Spent down to 0 by ten draws that win no points (the tenth is the pity coupon).
    let c = server.login(&phone(303, 1)).await;
    let data = draw_ok(&server, &c, json!({ "draw_type": "decade" })).await;
    assert_eq!(data["remaining_points"].as_i64(), Some(0), "{data}");
    let got = draw(&server, &c, json!({ "draw_type": "single" })).await;
    assert_error(&got, 409, 3001);
    assert_eq!(got.1["data"], json!({ "required": 100, "current": 0 }));
    assert_eq!(server.balance(&c).await, 0);
    assert_eq!(records_total(&server, &c).await, 10);

    // 900 points cannot pay for a decade (1000) but can for a quintuple.
    let d = server.login(&phone(303, 2)).await;
    assert_ok(
        &server.post(&format!("/api/admin/users/{}/points", d.user_id), Some(&admin), json!({ "delta": -100 })).await,
    );
    let got = draw(&server, &d, json!({ "count": 10 })).await;
    assert_error(&got, 409, 3001);
    assert_eq!(got.1["data"], json!({ "required": 1000, "current": 900 }));
    assert_eq!(server.balance(&d).await, 900);
    assert_eq!(records_total(&server, &d).await, 0);
    assert!(ledger(&server, &d, "lottery").await.is_empty(), "a refused draw writes no ledger row");
    let data = draw_ok(&server, &d, json!({ "draw_type": "quintuple" })).await;
    assert_eq!(data["remaining_points"].as_i64(), Some(400));
    server.assert_reconciled();
}

async fn the_eleventh_draw_request_in_a_minute_is_refused_with_429(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    force_wheel(&server, &admin, "谢谢参与").await;
    let c = server.login(&phone(304, 1)).await;
    // Ten requests, however small, are allowed (the balance would cover many more).
    assert_ok(
        &server.post(&format!("/api/admin/users/{}/points", c.user_id), Some(&admin), json!({ "delta": 5000 })).await,
    );
    for _ in 0..10 {
        draw_ok(&server, &c, json!({ "draw_type": "single" })).await;
    }
    assert_eq!(server.balance(&c).await, 5000);
    let resp = server
        .http
        .post(server.url("/api/lottery/draw"))
        .bearer_auth(&c.token)
        .json(&json!({ "draw_type": "single" }))
        .send()
        .await
        .expect("request");
    let retry_after = resp.headers().get("retry-after").map(|v| v.to_str().unwrap_or_default().to_string());
    let got = (resp.status(), resp.json::<Value>().await.expect("json"));
    assert_error(&got, 429, 3002);
    assert_eq!(server.balance(&c).await, 5000, "a refused draw charges nothing");
    assert_eq!(records_total(&server, &c).await, 10);
    // Another customer is not limited by this one.
    let other = server.login(&phone(304, 2)).await;
    draw_ok(&server, &other, json!({ "draw_type": "single" })).await;
    // The contract: a 429 carries Retry-After.
    assert!(
        retry_after.as_deref().and_then(|v| v.parse::<u64>().ok()).is_some_and(|s| (1..=60).contains(&s)),
        "3002 must carry a Retry-After header in seconds, got {retry_after:?}"
    );
    server.assert_reconciled();
}

async fn the_daily_cap_refuses_the_fourth_draw_with_3003(backend: Backend) {
    let server = TestServer::start_with(backend, &[("DAILY_DRAW_LIMIT", "3")]).await;
    let c = server.login(&phone(305, 1)).await;
    let mut balance = 1000;
    for _ in 0..3 {
        let data = draw_ok(&server, &c, json!({ "draw_type": "single" })).await;
        balance = data["remaining_points"].as_i64().unwrap();
    }
    for body in [json!({ "draw_type": "single" }), json!({ "draw_type": "triple" })] {
        assert_error(&draw(&server, &c, body).await, 409, 3003);
    }
    assert_eq!(server.balance(&c).await, balance, "refused draws charge nothing");
    assert_eq!(records_total(&server, &c).await, 3);
    // The cap is per customer.
    let other = server.login(&phone(305, 2)).await;
    draw_ok(&server, &other, json!({ "draw_type": "triple" })).await;
    assert_error(&draw(&server, &other, json!({ "draw_type": "single" })).await, 409, 3003);
    server.assert_reconciled();
}

async fn a_closed_or_unstarted_campaign_refuses_draws_with_3004(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let c = server.login(&phone(306, 1)).await;
    assert_ok(
        &server.put("/api/admin/lottery/settings", Some(&admin), json!({ "ends_at": "2020-01-01T00:00:00Z" })).await,
    );
    let cfg = config(&server, &c).await;
    let ends = chrono::DateTime::parse_from_rfc3339(cfg["campaign"]["ends_at"].as_str().expect("ends_at")).unwrap();
    assert_eq!(ends.timestamp(), 1_577_836_800, "{cfg}");
    for body in [json!({ "draw_type": "single" }), json!({ "count": 10 })] {
        assert_error(&draw(&server, &c, body).await, 409, 3004);
    }
    assert_eq!(server.balance(&c).await, 1000);
    assert_eq!(records_total(&server, &c).await, 0);

    // Reopened until 2099: draws work again.
    assert_ok(
        &server.put("/api/admin/lottery/settings", Some(&admin), json!({ "ends_at": "2099-12-31T00:00:00Z" })).await,
    );
    draw_ok(&server, &c, json!({ "draw_type": "single" })).await;
    let balance = server.balance(&c).await;

    // Not started yet.
    assert_ok(
        &server.put("/api/admin/lottery/settings", Some(&admin), json!({ "starts_at": "2099-01-01T00:00:00Z" })).await,
    );
    assert_error(&draw(&server, &c, json!({ "draw_type": "single" })).await, 409, 3004);
    assert_eq!(server.balance(&c).await, balance);
    assert_eq!(records_total(&server, &c).await, 1);
    server.assert_reconciled();
}

async fn a_repeated_idempotency_key_replays_the_batch_and_charges_once_even_after_a_crash(backend: Backend) {
    let mut server = TestServer::start(backend).await;
    let c = server.login(&phone(307, 1)).await;
    let first = draw_with_key(&server, &c, "draw-key-1", json!({ "draw_type": "triple" })).await;
    let again = draw_with_key(&server, &c, "draw-key-1", json!({ "draw_type": "triple" })).await;
    assert_eq!(draw_ids(&results(&again)), draw_ids(&results(&first)));
    assert_eq!(again["results"], first["results"]);
    assert_eq!(again["remaining_points"], first["remaining_points"]);
    assert_eq!(again["points_cost"].as_i64(), Some(300));
    // The body's request_id works the same way.
    let by_body = draw_ok(&server, &c, json!({ "draw_type": "single", "request_id": "body-key-1" })).await;
    let by_body_again = draw_ok(&server, &c, json!({ "draw_type": "single", "request_id": "body-key-1" })).await;
    assert_eq!(by_body_again["results"], by_body["results"]);
    let balance = by_body["remaining_points"].as_i64().unwrap();
    assert_eq!(balance, 1000 - 400 + points_won(&results(&first)) + points_won(&results(&by_body)));
    assert_eq!(server.balance(&c).await, balance, "charged once per key");
    assert_eq!(records_total(&server, &c).await, 4);
    assert_eq!(ledger(&server, &c, "lottery").await.len(), 2);

    server.kill9();
    server.start_again().await;
    let after = draw_with_key(&server, &c, "draw-key-1", json!({ "draw_type": "triple" })).await;
    assert_eq!(after["results"], first["results"], "the replay survives a crash");
    let after = draw_ok(&server, &c, json!({ "draw_type": "single", "request_id": "body-key-1" })).await;
    assert_eq!(after["results"], by_body["results"]);
    assert_eq!(server.balance(&c).await, balance);
    assert_eq!(records_total(&server, &c).await, 4);
    // A new key is a new draw.
    let fresh = draw_with_key(&server, &c, "draw-key-2", json!({ "draw_type": "single" })).await;
    let fresh_id = draw_ids(&results(&fresh))[0];
    assert!(!draw_ids(&results(&first)).contains(&fresh_id) && !draw_ids(&results(&by_body)).contains(&fresh_id));
    assert_eq!(records_total(&server, &c).await, 5);
    server.assert_reconciled();
}

async fn the_tenth_losing_draw_is_the_pity_coupon_and_the_counter_survives_a_restart(backend: Backend) {
    let mut server = TestServer::start(backend).await;
    let admin = server.admin().await;
    force_wheel(&server, &admin, "谢谢参与").await;
    let c = server.login(&phone(308, 1)).await;
    let pity_id = config(&server, &c).await["pity"]["prize_id"].clone();
    assert_eq!(pity_count(&server, &c).await, 0);
    for k in 1..=4 {
        let data = draw_ok(&server, &c, json!({ "draw_type": "single" })).await;
        let r = &results(&data)[0];
        assert_eq!((r["prize_name"].as_str(), r["is_pity"].as_bool()), (Some("谢谢参与"), Some(false)), "{data}");
        assert_eq!(data["pity"]["count"].as_i64(), Some(k), "{data}");
        assert_eq!(pity_count(&server, &c).await, k);
    }
    server.kill9();
    server.start_again().await;
    assert_eq!(pity_count(&server, &c).await, 4, "the counter survives a restart");
    for k in 5..=9 {
        let data = draw_ok(&server, &c, json!({ "draw_type": "single" })).await;
        assert_eq!(results(&data)[0]["prize_name"], json!("谢谢参与"), "{data}");
        assert_eq!(pity_count(&server, &c).await, k);
    }
    let data = draw_ok(&server, &c, json!({ "draw_type": "single" })).await;
    let tenth = &results(&data)[0];
    assert_eq!(tenth["prize_name"], json!("九八折券"), "{data}");
    assert_eq!(tenth["prize_id"], pity_id);
    assert_eq!(tenth["prize_type"], json!("coupon"));
    assert_eq!(tenth["is_pity"], json!(true));
    assert_eq!(data["pity"]["count"].as_i64(), Some(0));
    assert_eq!(pity_count(&server, &c).await, 0, "the pity prize resets the counter");
    assert_eq!(server.balance(&c).await, 0);

    // Inside a batch pity applies draw by draw: the tenth of a decade.
    let d = server.login(&phone(308, 2)).await;
    let data = draw_ok(&server, &d, json!({ "draw_type": "decade" })).await;
    let rs = results(&data);
    assert_eq!(names(&rs[..9]), vec!["谢谢参与".to_string(); 9], "{data}");
    assert_eq!((rs[9]["prize_name"].as_str(), rs[9]["is_pity"].as_bool()), (Some("九八折券"), Some(true)));
    assert!(rs[..9].iter().all(|r| r["is_pity"] == false));
    assert_eq!(pity_count(&server, &d).await, 0);
    // …and counts on afterwards.
    assert_ok(
        &server.post(&format!("/api/admin/users/{}/points", d.user_id), Some(&admin), json!({ "delta": 300 })).await,
    );
    draw_ok(&server, &d, json!({ "draw_type": "triple" })).await;
    assert_eq!(pity_count(&server, &d).await, 3);
    server.assert_reconciled();
}

async fn an_exhausted_prize_falls_to_the_fallback_until_restocked(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    edit_wheel(&server, &admin, |p| {
        let dessert = p["name"] == "甜品一份";
        p["probability"] = json!(if dessert { 1.0 } else { 0.0 });
        if dessert {
            p["stock"] = json!(3);
        }
    })
    .await;
    let c = server.login(&phone(309, 1)).await;
    let cfg = config(&server, &c).await;
    let dessert = sector(&cfg, "甜品一份");
    assert_eq!(dessert["stock_left"].as_i64(), Some(3));
    let dessert_id = dessert["id"].as_i64().unwrap();

    // Five draws, three units: never oversold, the rest falls to 谢谢参与.
    let data = draw_ok(&server, &c, json!({ "draw_type": "quintuple" })).await;
    let mut expected = vec!["甜品一份".to_string(); 3];
    expected.extend(vec!["谢谢参与".to_string(); 2]);
    assert_eq!(names(&results(&data)), expected, "{data}");
    assert_eq!(sector(&config(&server, &c).await, "甜品一份")["stock_left"].as_i64(), Some(0));
    let admin_view = assert_ok(&server.get("/api/admin/lottery/prizes", Some(&admin)).await);
    let row = admin_view["prizes"].as_array().unwrap().iter().find(|p| p["id"] == dessert_id).cloned().unwrap();
    assert_eq!(row["stock_left"].as_i64(), Some(0), "{row}");
    let data = draw_ok(&server, &c, json!({ "draw_type": "single" })).await;
    assert_eq!(names(&results(&data)), vec!["谢谢参与"], "an exhausted prize cannot be won");

    // Restocked with two units: exactly two more wins.
    let got = assert_ok(
        &server.post(&format!("/api/admin/lottery/prizes/{dessert_id}/stock"), Some(&admin), json!({ "add": 2 })).await,
    );
    assert_eq!(got["stock_left"].as_i64(), Some(2), "{got}");
    assert_eq!(sector(&config(&server, &c).await, "甜品一份")["stock_left"].as_i64(), Some(2));
    for _ in 0..2 {
        let data = draw_ok(&server, &c, json!({ "draw_type": "single" })).await;
        assert_eq!(names(&results(&data)), vec!["甜品一份"], "{data}");
    }
    let data = draw_ok(&server, &c, json!({ "draw_type": "single" })).await;
    assert_eq!(names(&results(&data)), vec!["谢谢参与"]);
    assert_eq!(sector(&config(&server, &c).await, "甜品一份")["stock_left"].as_i64(), Some(0));
    let inventory = assert_ok(&server.get("/api/lottery/my-prizes", Some(&c.token)).await);
    assert_eq!(inventory["pagination"]["total"].as_i64(), Some(5), "{inventory}");
    server.assert_reconciled();
}

async fn records_are_newest_first_and_paginated(backend: Backend) {
    let server = TestServer::start(backend).await;
    let c = server.login(&phone(310, 1)).await;
    let mut drawn = Vec::new();
    for body in [json!({ "draw_type": "triple" }), json!({ "draw_type": "single" }), json!({ "count": 5 })] {
        drawn.extend(results(&draw_ok(&server, &c, body).await));
    }
    let mut newest_first = drawn.clone();
    newest_first.reverse();

    let all = assert_ok(&server.get("/api/lottery/records", Some(&c.token)).await);
    assert_eq!(all["pagination"], json!({ "total": 9, "page": 1, "limit": 20, "total_pages": 1 }));
    let mut listed = Vec::new();
    for page in 1..=3 {
        let data = assert_ok(&server.get(&format!("/api/lottery/records?page={page}&limit=4"), Some(&c.token)).await);
        assert_eq!(data["pagination"], json!({ "total": 9, "page": page, "limit": 4, "total_pages": 3 }));
        let records = data["records"].as_array().unwrap();
        assert_eq!(records.len(), if page < 3 { 4 } else { 1 });
        listed.extend(records.iter().cloned());
    }
    assert_eq!(draw_ids(&listed), draw_ids(&newest_first), "newest first, no overlap between pages");
    for (rec, res) in listed.iter().zip(&newest_first) {
        for key in ["prize_id", "prize_name", "prize_type", "prize_value", "is_pity"] {
            assert_eq!(rec[key], res[key], "{key}: {rec} vs {res}");
        }
        assert!(chrono::DateTime::parse_from_rfc3339(rec["created_at"].as_str().unwrap()).is_ok(), "{rec}");
    }
    let beyond = assert_ok(&server.get("/api/lottery/records?page=4&limit=4", Some(&c.token)).await);
    assert_eq!(beyond["records"], json!([]));

    for path in ["/api/lottery/records", "/api/lottery/my-prizes"] {
        for query in ["page=0", "page=-1", "page=x", "limit=0", "limit=51", "limit=2.5", "limit=ten"] {
            let got = server.get(&format!("{path}?{query}"), Some(&c.token)).await;
            assert_error(&got, 400, 1003);
            let field = query.split('=').next().unwrap();
            assert!(got.1["msg"].as_str().unwrap().contains(field), "{path}?{query}: {}", got.1);
        }
    }
    let fifty = assert_ok(&server.get("/api/lottery/records?limit=50", Some(&c.token)).await);
    assert_eq!(fifty["records"].as_array().unwrap().len(), 9);
}

async fn statistics_report_totals_and_configured_beside_observed_odds(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let c = server.login(&phone(311, 1)).await;
    assert_ok(
        &server.post(&format!("/api/admin/users/{}/points", c.user_id), Some(&admin), json!({ "delta": 2000 })).await,
    );
    let empty = assert_ok(&server.get("/api/lottery/statistics", Some(&c.token)).await);
    assert_eq!(empty["total_draws"].as_i64(), Some(0), "{empty}");

    let mut drawn = Vec::new();
    for body in
        [json!({ "draw_type": "decade" }), json!({ "draw_type": "decade" }), json!({ "draw_type": "quintuple" })]
    {
        drawn.extend(results(&draw_ok(&server, &c, body).await));
    }
    let cfg = config(&server, &c).await;
    let stats = assert_ok(&server.get("/api/lottery/statistics", Some(&c.token)).await);
    assert_eq!(stats["total_draws"].as_i64(), Some(25), "{stats}");
    assert_eq!(stats["points_spent"].as_i64(), Some(2500), "{stats}");
    assert_eq!(stats["points_won"].as_i64(), Some(points_won(&drawn)), "{stats}");
    for kind in ["points", "coupon", "physical", "empty"] {
        let n = drawn.iter().filter(|r| r["prize_type"] == kind).count() as i64;
        assert_eq!(stats["wins_by_type"][kind].as_i64(), Some(n), "{kind}: {stats}");
    }
    let odds = stats["probabilities"]["prizes"].as_array().expect("probabilities.prizes");
    assert_eq!(odds.len(), 8);
    let mut times: HashMap<i64, i64> = HashMap::new();
    for r in &drawn {
        *times.entry(r["prize_id"].as_i64().unwrap()).or_default() += 1;
    }
    let mut observed_sum = 0.0;
    for o in odds {
        let id = o["prize_id"].as_i64().unwrap();
        let p = cfg["prizes"].as_array().unwrap().iter().find(|p| p["id"] == id).cloned().expect("a config prize");
        assert_eq!(o["prize_name"], p["name"]);
        assert_eq!(o["configured_probability"], p["probability"], "{o}");
        let n = times.get(&id).copied().unwrap_or(0);
        assert_eq!(o["times_drawn"].as_i64(), Some(n), "{o}");
        let f = o["observed_frequency"].as_f64().unwrap();
        assert!((f - n as f64 / 25.0).abs() < 1e-9, "{o}");
        observed_sum += f;
    }
    assert!((observed_sum - 1.0).abs() < 1e-9);
    server.assert_reconciled();
}

async fn my_prizes_lists_coupon_and_physical_wins_with_redemption_codes(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let c = server.login(&phone(312, 1)).await;
    let none = assert_ok(&server.get("/api/lottery/my-prizes", Some(&c.token)).await);
    assert_eq!(none["prizes"], json!([]));
    assert_eq!(none["pagination"]["total"].as_i64(), Some(0));

    // Nine 50积分 wins and the pity coupon; then a dessert; then nothing.
    force_wheel(&server, &admin, "50积分").await;
    let decade = draw_ok(&server, &c, json!({ "draw_type": "decade" })).await;
    let coupon = results(&decade).into_iter().find(|r| r["prize_type"] == "coupon").expect("the pity coupon");
    assert_eq!(decade["remaining_points"].as_i64(), Some(450));
    force_wheel(&server, &admin, "甜品一份").await;
    let dessert = results(&draw_ok(&server, &c, json!({ "draw_type": "single" })).await)[0].clone();
    assert_eq!(dessert["prize_type"], json!("physical"));
    force_wheel(&server, &admin, "谢谢参与").await;
    let nothing = results(&draw_ok(&server, &c, json!({ "draw_type": "single" })).await)[0].clone();
    assert_eq!(nothing["prize_type"], json!("empty"));

    let data = assert_ok(&server.get("/api/lottery/my-prizes", Some(&c.token)).await);
    assert_eq!(data["pagination"], json!({ "total": 2, "page": 1, "limit": 20, "total_pages": 1 }));
    let prizes = data["prizes"].as_array().unwrap();
    assert_eq!(prizes.len(), 2, "only coupon and physical wins: {data}");
    let expected = [&dessert, &coupon];
    let mut codes = HashSet::new();
    for (p, won) in prizes.iter().zip(expected) {
        assert_eq!(p["draw_id"], won["draw_id"], "newest first: {p}");
        assert_eq!(p["prize_id"], won["prize_id"]);
        assert_eq!(p["prize_name"], won["prize_name"]);
        assert_eq!(p["prize_type"], won["prize_type"]);
        assert_eq!(p["status"], json!("unused"));
        let code = p["redemption_code"].as_str().expect("redemption_code");
        assert_eq!(code.len(), 10, "{p}");
        assert!(code.chars().all(|ch| ch.is_ascii_alphanumeric()), "{p}");
        assert!(codes.insert(code.to_string()), "codes are distinct");
        assert!(chrono::DateTime::parse_from_rfc3339(p["won_at"].as_str().unwrap()).is_ok(), "{p}");
    }
    let page2 = assert_ok(&server.get("/api/lottery/my-prizes?page=2&limit=1", Some(&c.token)).await);
    assert_eq!(page2["pagination"], json!({ "total": 2, "page": 2, "limit": 1, "total_pages": 2 }));
    assert_eq!(page2["prizes"][0]["draw_id"], coupon["draw_id"]);
    server.assert_reconciled();
}

async fn every_lottery_endpoint_requires_a_token(backend: Backend) {
    let server = TestServer::start(backend).await;
    let c = server.login(&phone(313, 1)).await;
    let endpoints = [
        ("GET", "/api/lottery/config"),
        ("POST", "/api/lottery/draw"),
        ("GET", "/api/lottery/records"),
        ("GET", "/api/lottery/statistics"),
        ("GET", "/api/lottery/pity-status"),
        ("GET", "/api/lottery/my-prizes"),
    ];
    for (method, path) in endpoints {
        for (token, code) in [(None, 2001), (Some("not-a-token"), 2002)] {
            let got = if method == "GET" {
                server.get(path, token).await
            } else {
                server.post(path, token, json!({ "draw_type": "single" })).await
            };
            assert_error(&got, 401, code);
        }
    }
    assert_eq!(server.balance(&c).await, 1000);
    assert_eq!(records_total(&server, &c).await, 0);
}

both_backends!(
    config_shows_eight_sectors_odds_pity_and_draw_types,
    every_draw_size_charges_its_count_and_reports_the_true_balance,
    unknown_draw_types_and_counts_are_refused_without_charge,
    not_enough_points_is_409_with_required_and_current_and_charges_nothing,
    the_eleventh_draw_request_in_a_minute_is_refused_with_429,
    the_daily_cap_refuses_the_fourth_draw_with_3003,
    a_closed_or_unstarted_campaign_refuses_draws_with_3004,
    a_repeated_idempotency_key_replays_the_batch_and_charges_once_even_after_a_crash,
    the_tenth_losing_draw_is_the_pity_coupon_and_the_counter_survives_a_restart,
    an_exhausted_prize_falls_to_the_fallback_until_restocked,
    records_are_newest_first_and_paginated,
    statistics_report_totals_and_configured_beside_observed_odds,
    my_prizes_lists_coupon_and_physical_wins_with_redemption_codes,
    every_lottery_endpoint_requires_a_token,
);
