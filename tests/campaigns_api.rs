//! Campaigns, black-box (API.md "Campaigns"): the admin lifecycle draft → active ⇄ paused →
//! ended with its refusals, what customers see of it, the draws it allows, and the
//! `campaign_update` every socket hears.

mod common;

use std::time::Duration;

use common::{assert_error, assert_ok, phone, Backend, TestServer};
use serde_json::{json, Value};

async fn status(server: &TestServer, admin: &str, id: i64, to: &str) -> (reqwest::StatusCode, Value) {
    server.post(&format!("/api/admin/campaigns/{id}/status"), Some(admin), json!({ "status": to })).await
}

async fn the_default_wheel_pauses_resumes_and_ends_for_good(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let c = server.login(&phone(75, 1)).await;
    let mut ws = server.ws(&c.token).await;
    let commitment =
        assert_ok(&server.get("/api/lottery/campaigns/1", Some(&c.token)).await)["fairness"]["seed_commitment"].clone();
    assert_ok(&server.post("/api/lottery/draw", Some(&c.token), json!({})).await);

    let paused = assert_ok(&status(&server, &admin, 1, "paused").await);
    assert_eq!(paused["status"], json!("paused"));
    let update = ws.next_of("campaign_update", Duration::from_secs(5)).await.expect("campaign_update");
    assert_eq!(update["data"], json!({ "campaign_id": 1, "status": "paused" }), "{update}");
    let before = server.balance(&c).await;
    assert_error(&server.post("/api/lottery/draw", Some(&c.token), json!({})).await, 409, 3004);
    assert_eq!(server.balance(&c).await, before, "a refused draw charges nothing");
    let listed = assert_ok(&server.get("/api/lottery/campaigns?status=paused", Some(&c.token)).await);
    assert_eq!(listed["campaigns"][0]["id"], json!(1), "{listed}");

    // paused → paused and paused → draft are not transitions.
    for bad in ["paused", "draft"] {
        let got = status(&server, &admin, 1, bad).await;
        assert_error(&got, 400, 1003);
        assert!(got.1["msg"].as_str().unwrap_or_default().contains("status"), "{}", got.1);
    }
    assert_error(&status(&server, &admin, 1, "over").await, 400, 1003);
    assert_error(&status(&server, &admin, 999, "active").await, 409, 3004);

    assert_ok(&status(&server, &admin, 1, "active").await);
    assert_ok(&server.post("/api/lottery/draw", Some(&c.token), json!({})).await);

    // Ending is final, refuses draws, and reveals the seed the campaign committed to.
    assert_ok(&status(&server, &admin, 1, "ended").await);
    // Updates are coalesced per campaign, so the resumption may or may not arrive on its own
    // before the end; nothing else may.
    let mut update = ws.next_of("campaign_update", Duration::from_secs(5)).await.expect("campaign_update");
    if update["data"]["status"] == json!("active") {
        update = ws.next_of("campaign_update", Duration::from_secs(5)).await.expect("campaign_update");
    }
    assert_eq!(update["data"]["status"], json!("ended"), "{update}");
    assert_error(&server.post("/api/lottery/draw", Some(&c.token), json!({})).await, 409, 3004);
    for bad in ["active", "paused", "ended"] {
        assert_error(&status(&server, &admin, 1, bad).await, 400, 1003);
    }
    let seeds = assert_ok(&server.get("/api/lottery/campaigns/1/seeds", Some(&c.token)).await);
    assert!(
        seeds["seeds"].as_array().expect("seeds").iter().any(|s| s["seed_commitment"] == commitment),
        "the ended campaign's seed is revealed: {seeds}"
    );
    let ended = assert_ok(&server.get("/api/lottery/campaigns?status=ended", Some(&c.token)).await);
    assert_eq!(ended["campaigns"][0]["status"], json!("ended"));

    // Statistics: two draws by one customer today, each sector's odds beside what came up.
    let stats = assert_ok(&server.get("/api/admin/campaigns/1/stats", Some(&admin)).await);
    assert_eq!(stats["draws"], json!(2), "{stats}");
    assert_eq!(stats["unique_users"], json!(1));
    assert_eq!(stats["points_spent"], json!(200));
    let prizes = stats["prizes"].as_array().expect("prizes");
    assert_eq!(prizes.len(), 8);
    let configured: f64 = prizes.iter().map(|p| p["configured_probability"].as_f64().unwrap()).sum();
    assert!((configured - 1.0).abs() < 1e-9);
    assert_eq!(prizes.iter().map(|p| p["won"].as_i64().unwrap()).sum::<i64>(), 2);
    let observed: f64 = prizes.iter().map(|p| p["observed_frequency"].as_f64().unwrap()).sum();
    assert!((observed - 1.0).abs() < 1e-9, "{stats}");
    let today = (chrono::Utc::now() + chrono::Duration::hours(8)).format("%Y-%m-%d").to_string();
    assert_eq!(stats["by_day"], json!([{ "date": today, "draws": 2, "users": 1 }]));
    assert_error(&server.get("/api/admin/campaigns/999/stats", Some(&admin)).await, 409, 3004);

    // Every change is in the audit log.
    let log = assert_ok(&server.get("/api/admin/audit-log?limit=50", Some(&admin)).await);
    let text = log.to_string();
    assert!(text.matches("campaign.status").count() >= 3, "{log}");
    server.assert_reconciled();
}

async fn new_campaigns_start_as_hidden_drafts(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let c = server.login(&phone(76, 1)).await;
    let body = json!({
        "name": "周末大转盘", "description": "周末限定", "starts_at": "2026-12-05T00:00:00Z",
        "ends_at": 1_800_000_000_000_i64, "cost_points": 50, "daily_limit": 20, "min_level": 2,
        "pity_enabled": true, "pity_limit": 8, "banner_image": "https://example.com/b.png"
    });
    let created = assert_ok(&server.post("/api/admin/campaigns", Some(&admin), body).await);
    let id = created["id"].as_i64().expect("id");
    assert_ne!(id, 1);
    assert_eq!(created["status"], json!("draft"));
    assert_eq!(created["min_level"], json!(2));
    assert_eq!(created["starts_at"], json!("2026-12-05T00:00:00.000Z"));

    // Customers never see drafts; admins do.
    let customer_list = assert_ok(&server.get("/api/lottery/campaigns", Some(&c.token)).await);
    assert!(customer_list["campaigns"].as_array().expect("list").iter().all(|x| x["id"] != json!(id)));
    assert_error(&server.get(&format!("/api/lottery/campaigns/{id}"), Some(&c.token)).await, 409, 3004);
    let drafts = assert_ok(&server.get("/api/admin/campaigns?status=draft", Some(&admin)).await);
    assert_eq!(drafts["campaigns"].as_array().map(Vec::len), Some(1), "{drafts}");
    let all = assert_ok(&server.get("/api/admin/campaigns", Some(&admin)).await);
    assert_eq!(all["campaigns"].as_array().map(Vec::len), Some(2));

    // A draft cannot pause; it can start; then customers see it.
    assert_error(&status(&server, &admin, id, "paused").await, 400, 1003);
    assert_eq!(assert_ok(&status(&server, &admin, id, "active").await)["status"], json!("active"));
    let visible = assert_ok(&server.get("/api/lottery/campaigns", Some(&c.token)).await);
    assert!(visible["campaigns"].as_array().expect("list").iter().any(|x| x["id"] == json!(id)), "{visible}");

    // Bad input names its field and creates nothing.
    for (bad, field) in [
        (json!({ "name": "" }), "name"),
        (json!({ "name": "x", "min_level": 9 }), "min_level"),
        (json!({ "name": "x", "cost_points": 0 }), "cost_points"),
        (json!({ "name": "x", "starts_at": 2000, "ends_at": 1000 }), "ends_at"),
        (json!({ "name": "x", "starts_at": "yesterday" }), "starts_at"),
    ] {
        let got = server.post("/api/admin/campaigns", Some(&admin), bad.clone()).await;
        assert_error(&got, 400, 1003);
        assert!(got.1["msg"].as_str().unwrap_or_default().contains(field), "{bad} → {}", got.1);
    }
    let after = assert_ok(&server.get("/api/admin/campaigns", Some(&admin)).await);
    assert_eq!(after["campaigns"].as_array().map(Vec::len), Some(2));
    assert_error(&server.get("/api/admin/campaigns", Some(&c.token)).await, 403, 2004);
}

both_backends!(the_default_wheel_pauses_resumes_and_ends_for_good, new_campaigns_start_as_hidden_drafts);
