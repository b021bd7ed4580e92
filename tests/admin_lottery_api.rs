//! `/api/admin/lottery` as the back office sees it: the wheel's sectors and settings can be read,
//! edited and written back; every invalid wheel or setting is refused with 1003 naming the field
//! and leaves the live wheel untouched; a valid change is live for customers at once (odds, cost);
//! limited prize stock is restocked only where it makes sense; only admins get in; and every
//! change is in the audit log.

mod common;

use common::*;
use reqwest::Method;
use serde_json::{json, Value};

const PUT_FIELDS: [&str; 10] =
    ["name", "type", "value", "angle", "color", "probability", "is_activity", "stock", "is_pity_prize", "is_fallback"];

async fn admin_wheel(server: &TestServer, admin: &str) -> Value {
    assert_ok(&server.get("/api/admin/lottery/prizes", Some(admin)).await)
}

fn prizes_of(data: &Value) -> Vec<Value> {
    data["prizes"].as_array().expect("prizes").clone()
}

async fn customer_config(server: &TestServer, c: &Customer) -> Value {
    assert_ok(&server.get("/api/lottery/config", Some(&c.token)).await)
}

/// The config without sector ids (a replaced wheel gets new ids).
fn without_ids(config: &Value) -> Value {
    let mut c = config.clone();
    for p in c["prizes"].as_array_mut().unwrap() {
        p.as_object_mut().unwrap().remove("id");
    }
    c["pity"].as_object_mut().unwrap().remove("prize_id");
    c
}

fn by_name(prizes: &[Value], name: &str) -> Value {
    prizes.iter().find(|p| p["name"] == name).cloned().unwrap_or_else(|| panic!("no sector {name}"))
}

fn index_of(prizes: &[Value], name: &str) -> usize {
    prizes.iter().position(|p| p["name"] == name).unwrap_or_else(|| panic!("no sector {name}"))
}

async fn audit_actions(server: &TestServer, admin: &str) -> Vec<Value> {
    let data = assert_ok(&server.get("/api/admin/audit-log?limit=50", Some(admin)).await);
    data["entries"].as_array().expect("entries").clone()
}

async fn the_admin_wheel_has_every_field_put_takes_and_the_settings(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let data = admin_wheel(&server, &admin).await;
    let prizes = prizes_of(&data);
    assert_eq!(prizes.len(), 8);
    for p in &prizes {
        for f in PUT_FIELDS.iter().chain(&["id", "stock_left"]) {
            assert!(p.get(*f).is_some(), "{f} missing in {p}");
        }
        assert_eq!(p["stock"], p["stock_left"], "GET shows the units left as both: {p}");
    }
    assert_eq!(by_name(&prizes, "甜品一份")["stock"].as_i64(), Some(100));
    assert_eq!(by_name(&prizes, "免单券")["stock"].as_i64(), Some(10));
    assert_eq!(by_name(&prizes, "50积分")["stock"], Value::Null);
    assert_eq!(prizes.iter().filter(|p| p["is_pity_prize"] == true).count(), 1);
    assert_eq!(by_name(&prizes, "九八折券")["is_pity_prize"], json!(true));
    assert_eq!(prizes.iter().filter(|p| p["is_fallback"] == true).count(), 1);
    assert_eq!(by_name(&prizes, "谢谢参与")["is_fallback"], json!(true));
    let s = &data["settings"];
    assert_eq!(s["cost_points"].as_i64(), Some(100), "{s}");
    assert_eq!(s["pity_enabled"], json!(true), "{s}");
    assert_eq!(s["pity_limit"].as_i64(), Some(10), "{s}");
    assert_eq!(s["daily_limit"].as_i64(), Some(0), "{s}");
    for key in ["starts_at", "ends_at"] {
        assert!(s.get(key).is_some(), "{key} in {s}");
    }

    // What GET returns can be PUT back unchanged.
    let c = server.login(&phone(340, 1)).await;
    let before = customer_config(&server, &c).await;
    assert_ok(&server.put("/api/admin/lottery/prizes", Some(&admin), json!({ "prizes": prizes })).await);
    assert_eq!(without_ids(&customer_config(&server, &c).await), without_ids(&before));
    server.assert_reconciled();
}

async fn invalid_wheels_are_refused_naming_the_field_and_change_nothing(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let c = server.login(&phone(341, 1)).await;
    let good = prizes_of(&admin_wheel(&server, &admin).await);
    let before = customer_config(&server, &c).await;
    let dessert = index_of(&good, "甜品一份");
    let fallback = index_of(&good, "谢谢参与");

    let mut cases: Vec<(&str, Value, &str)> = Vec::new();
    cases.push(("seven sectors", json!({ "prizes": good[..7].to_vec() }), "prizes"));
    let mut nine = good.clone();
    nine.push(good[0].clone());
    cases.push(("nine sectors", json!({ "prizes": nine }), "prizes"));
    cases.push(("no prizes", json!({}), "prizes"));
    let mut edit = |what: &'static str, field: &'static str, f: &dyn Fn(&mut Vec<Value>)| {
        let mut p = good.clone();
        f(&mut p);
        cases.push((what, json!({ "prizes": p }), field));
    };
    edit("a duplicate angle", "angle", &|p| p[dessert]["angle"] = p[0]["angle"].clone());
    edit("an angle of 30", "angle", &|p| p[dessert]["angle"] = json!(30));
    edit("colour red", "color", &|p| p[dessert]["color"] = json!("red"));
    edit("colour #GGGGGG", "color", &|p| p[dessert]["color"] = json!("#GGGGGG"));
    edit("probabilities summing to 0.9", "probability", &|p| {
        let f = p[fallback]["probability"].as_f64().unwrap();
        p[fallback]["probability"] = json!(f - 0.1);
    });
    edit("a negative probability", "probability", &|p| {
        let f = p[fallback]["probability"].as_f64().unwrap();
        p[dessert]["probability"] = json!(-0.08);
        p[fallback]["probability"] = json!(f + 0.16);
    });
    edit("two pity prizes", "is_pity_prize", &|p| p[dessert]["is_pity_prize"] = json!(true));
    edit("no pity prize", "is_pity_prize", &|p| {
        for s in p.iter_mut() {
            s["is_pity_prize"] = json!(false);
        }
    });
    edit("no fallback", "is_fallback", &|p| p[fallback]["is_fallback"] = json!(false));
    edit("two fallbacks", "is_fallback", &|p| p[dessert]["is_fallback"] = json!(true));
    edit("an unknown type", "type", &|p| p[dessert]["type"] = json!("cash"));

    for (what, body, field) in cases {
        let got = server.put("/api/admin/lottery/prizes", Some(&admin), body).await;
        assert_error(&got, 400, 1003);
        let msg = got.1["msg"].as_str().unwrap();
        assert!(msg.contains(field), "{what}: the message should name `{field}`: {msg}");
        assert_eq!(customer_config(&server, &c).await, before, "{what} changed the wheel");
    }
    assert_eq!(prizes_of(&admin_wheel(&server, &admin).await), good);
    server.assert_reconciled();
}

async fn a_valid_wheel_is_answered_and_live_for_customers_at_once(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let c = server.login(&phone(342, 1)).await;
    let mut prizes = prizes_of(&admin_wheel(&server, &admin).await);
    for p in prizes.iter_mut() {
        let fallback = p["is_fallback"] == true;
        p["probability"] = json!(if fallback { 1.0 } else { 0.0 });
        if fallback {
            p["name"] = json!("再来一次");
            p["color"] = json!("#123456");
        }
        if p["name"] == "甜品一份" {
            // `stock` is what counts; the stale stock_left beside it is ignored.
            p["stock"] = json!(7);
            p["stock_left"] = json!(999);
            p["id"] = json!(123_456);
        }
    }
    let answer = assert_ok(&server.put("/api/admin/lottery/prizes", Some(&admin), json!({ "prizes": prizes })).await);
    let answered = prizes_of(&answer);
    assert_eq!(answered.len(), 8, "{answer}");
    assert_eq!(by_name(&answered, "再来一次")["probability"].as_f64(), Some(1.0));
    assert_eq!(by_name(&answered, "甜品一份")["stock_left"].as_i64(), Some(7));

    let cfg = customer_config(&server, &c).await;
    let live = prizes_of(&cfg);
    let again = by_name(&live, "再来一次");
    assert_eq!(again["probability"].as_f64(), Some(1.0));
    assert_eq!(again["color"].as_str().map(str::to_ascii_uppercase), Some("#123456".to_string()));
    assert!(live.iter().all(|p| p["name"] != "谢谢参与"));
    assert_eq!(by_name(&live, "甜品一份")["stock_left"].as_i64(), Some(7));
    assert_ne!(by_name(&live, "甜品一份")["id"].as_i64(), Some(123_456), "ids in the body are ignored");

    let data = assert_ok(&server.post("/api/lottery/draw", Some(&c.token), json!({ "draw_type": "triple" })).await);
    let names: Vec<&str> =
        data["results"].as_array().unwrap().iter().map(|r| r["prize_name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["再来一次"; 3], "the next spin uses the new odds");
    server.assert_reconciled();
}

async fn the_cost_setting_prices_the_next_draw(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let c = server.login(&phone(343, 1)).await;
    let answer =
        assert_ok(&server.put("/api/admin/lottery/settings", Some(&admin), json!({ "cost_points": 200 })).await);
    assert_eq!(answer["settings"]["cost_points"].as_i64(), Some(200), "{answer}");
    assert_eq!(customer_config(&server, &c).await["cost_points"].as_i64(), Some(200));
    let data = assert_ok(&server.post("/api/lottery/draw", Some(&c.token), json!({ "draw_type": "single" })).await);
    assert_eq!(data["points_cost"].as_i64(), Some(200), "{data}");
    let won: i64 = data["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["prize_type"] == "points")
        .map(|r| r["prize_value"].as_i64().unwrap())
        .sum();
    assert_eq!(data["remaining_points"].as_i64(), Some(800 + won));
    assert_eq!(server.balance(&c).await, 800 + won);
    let got = server.post("/api/lottery/draw", Some(&c.token), json!({ "draw_type": "decade" })).await;
    assert_error(&got, 409, 3001);
    assert_eq!(got.1["data"], json!({ "required": 2000, "current": 800 + won }));
    server.assert_reconciled();
}

async fn invalid_settings_are_refused_naming_the_field(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let c = server.login(&phone(344, 1)).await;
    let before = admin_wheel(&server, &admin).await["settings"].clone();
    let config_before = customer_config(&server, &c).await;
    for (body, field) in [
        (json!({ "cost_points": 0 }), "cost_points"),
        (json!({ "cost_points": -100 }), "cost_points"),
        (json!({ "cost_points": "100" }), "cost_points"),
        (json!({ "pity_limit": 1 }), "pity_limit"),
        (json!({ "pity_limit": 0 }), "pity_limit"),
        (json!({ "daily_limit": -1 }), "daily_limit"),
        (json!({ "pity_enabled": "yes" }), "pity_enabled"),
        (json!({ "starts_at": "2026-06-01T00:00:00Z", "ends_at": "2026-05-01T00:00:00Z" }), "ends_at"),
        (json!({ "starts_at": "yesterday" }), "starts_at"),
        (json!({ "ends_at": "31/12/2026" }), "ends_at"),
    ] {
        let got = server.put("/api/admin/lottery/settings", Some(&admin), body.clone()).await;
        assert_error(&got, 400, 1003);
        assert!(got.1["msg"].as_str().unwrap().contains(field), "{body} → {}", got.1);
    }
    assert_eq!(admin_wheel(&server, &admin).await["settings"], before);
    assert_eq!(customer_config(&server, &c).await, config_before);
    let data = assert_ok(&server.post("/api/lottery/draw", Some(&c.token), json!({ "draw_type": "single" })).await);
    assert_eq!(data["points_cost"].as_i64(), Some(100));
    server.assert_reconciled();
}

async fn restocking_needs_a_limited_prize_and_a_positive_amount(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let c = server.login(&phone(345, 1)).await;
    let prizes = prizes_of(&admin_wheel(&server, &admin).await);
    let unlimited = by_name(&prizes, "50积分")["id"].as_i64().unwrap();
    let free_meal = by_name(&prizes, "免单券")["id"].as_i64().unwrap();
    let stock = |id: i64| format!("/api/admin/lottery/prizes/{id}/stock");

    assert_error(&server.post(&stock(unlimited), Some(&admin), json!({ "add": 5 })).await, 400, 1003);
    let missing = server.post(&stock(987_654), Some(&admin), json!({ "add": 5 })).await;
    assert_eq!(missing.0.as_u16(), 404, "{}", missing.1);
    assert!(missing.1["code"].as_i64().is_some_and(|c| c != 0), "{}", missing.1);
    assert!(missing.1["msg"].as_str().is_some_and(|m| !m.is_empty()), "{}", missing.1);
    assert_eq!(missing.1["data"], Value::Null);
    for body in [json!({ "add": 0 }), json!({ "add": -3 }), json!({}), json!({ "add": "5" })] {
        let got = server.post(&stock(free_meal), Some(&admin), body.clone()).await;
        assert_error(&got, 400, 1003);
        assert!(got.1["msg"].as_str().unwrap().contains("add"), "{body} → {}", got.1);
    }
    let cfg = customer_config(&server, &c).await;
    assert_eq!(by_name(&prizes_of(&cfg), "免单券")["stock_left"].as_i64(), Some(10));
    assert_eq!(by_name(&prizes_of(&cfg), "50积分")["stock_left"], Value::Null);

    let got = assert_ok(&server.post(&stock(free_meal), Some(&admin), json!({ "add": 5 })).await);
    assert_eq!(got["stock_left"].as_i64(), Some(15), "{got}");
    let cfg = customer_config(&server, &c).await;
    assert_eq!(by_name(&prizes_of(&cfg), "免单券")["stock_left"].as_i64(), Some(15));
    assert_eq!(by_name(&prizes_of(&admin_wheel(&server, &admin).await), "免单券")["stock"].as_i64(), Some(15));
    server.assert_reconciled();
}

async fn only_admins_may_read_or_change_the_wheel(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let c = server.login(&phone(346, 1)).await;
    let prizes = prizes_of(&admin_wheel(&server, &admin).await);
    let before = customer_config(&server, &c).await;
    let free_meal = by_name(&prizes, "免单券")["id"].as_i64().unwrap();
    let requests = [
        (Method::GET, "/api/admin/lottery/prizes".to_string(), None),
        (Method::PUT, "/api/admin/lottery/prizes".to_string(), Some(json!({ "prizes": prizes }))),
        (Method::PUT, "/api/admin/lottery/settings".to_string(), Some(json!({ "cost_points": 1 }))),
        (Method::POST, format!("/api/admin/lottery/prizes/{free_meal}/stock"), Some(json!({ "add": 100 }))),
    ];
    for (method, path, body) in requests {
        assert_error(&server.call(method.clone(), &path, Some(&c.token), body.clone()).await, 403, 2004);
        assert_error(&server.call(method.clone(), &path, None, body.clone()).await, 401, 2001);
    }
    assert_eq!(customer_config(&server, &c).await, before);
    assert!(audit_actions(&server, &admin).await.iter().all(|e| !e["action"].as_str().unwrap().starts_with("wheel.")));
    server.assert_reconciled();
}

async fn every_wheel_change_is_in_the_audit_log(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let prizes = prizes_of(&admin_wheel(&server, &admin).await);
    let mut edited = prizes.clone();
    for p in edited.iter_mut().filter(|p| p["name"] == "八八折券") {
        p["name"] = json!("八五折券");
    }
    assert_ok(&server.put("/api/admin/lottery/prizes", Some(&admin), json!({ "prizes": edited })).await);
    assert_ok(&server.put("/api/admin/lottery/settings", Some(&admin), json!({ "cost_points": 150 })).await);
    // The replaced wheel has new ids; restock the current 免单券.
    let current = prizes_of(&admin_wheel(&server, &admin).await);
    let free_meal_now = by_name(&current, "免单券")["id"].as_i64().unwrap();
    assert_ok(
        &server
            .post(&format!("/api/admin/lottery/prizes/{free_meal_now}/stock"), Some(&admin), json!({ "add": 4 }))
            .await,
    );

    let wheel: Vec<Value> = audit_actions(&server, &admin)
        .await
        .into_iter()
        .filter(|e| e["action"].as_str().is_some_and(|a| a.starts_with("wheel.")))
        .collect();
    assert_eq!(wheel.len(), 3, "one entry per change: {wheel:?}");
    let mut actions: Vec<String> = wheel.iter().map(|e| e["action"].as_str().unwrap().to_string()).collect();
    actions.sort();
    actions.dedup();
    assert_eq!(actions.len(), 3, "each kind of change is named: {actions:?}");
    for e in &wheel {
        assert_eq!(e["actor"]["name"], json!(ADMIN_USER), "{e}");
        assert!(chrono::DateTime::parse_from_rfc3339(e["created_at"].as_str().unwrap()).is_ok(), "{e}");
        assert!(!e["after"].is_null(), "{e}");
    }
    let replace = wheel.iter().find(|e| e.to_string().contains("八五折券")).expect("the replace entry");
    assert!(replace["before"].to_string().contains("八八折券"), "before shows the old wheel: {replace}");
    let settings = wheel.iter().find(|e| e["after"]["cost_points"] == 150).expect("the settings entry");
    assert_eq!(settings["before"]["cost_points"].as_i64(), Some(100), "{settings}");
    server.assert_reconciled();
}

both_backends!(
    the_admin_wheel_has_every_field_put_takes_and_the_settings,
    invalid_wheels_are_refused_naming_the_field_and_change_nothing,
    a_valid_wheel_is_answered_and_live_for_customers_at_once,
    the_cost_setting_prices_the_next_draw,
    invalid_settings_are_refused_naming_the_field,
    restocking_needs_a_limited_prize_and_a_positive_amount,
    only_admins_may_read_or_change_the_wheel,
    every_wheel_change_is_in_the_audit_log,
);
