//! `/api/admin` for customers as a back-office client sees it: search and pagination, manual
//! points adjustments (ledger row, the no-negative rule with its details, input validation,
//! idempotency that survives a crash), bans and the merchant role, the audit trail of every
//! mutation, and that only admin tokens get in.

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

fn masked(phone: &str) -> String {
    format!("{}****{}", &phone[..3], &phone[7..])
}

async fn ledger(server: &TestServer, c: &Customer) -> Vec<Value> {
    let data = assert_ok(&server.get("/api/user/points-records?limit=50", Some(&c.token)).await);
    data["records"].as_array().expect("records").clone()
}

async fn audit_entries(server: &TestServer, admin: &str) -> Vec<Value> {
    let data = assert_ok(&server.get("/api/admin/audit-log?limit=50", Some(admin)).await);
    data["entries"].as_array().expect("entries").clone()
}

async fn points_with_key(server: &TestServer, admin: &str, user_id: i64, key: &str, delta: i64) -> Value {
    let resp = server
        .http
        .post(server.url(&format!("/api/admin/users/{user_id}/points")))
        .bearer_auth(admin)
        .header("Idempotency-Key", key)
        .json(&json!({ "delta": delta, "reason": "补偿" }))
        .send()
        .await
        .expect("request");
    let status = resp.status();
    let body: Value = resp.json().await.expect("json");
    assert_ok(&(status, body))
}

async fn user_search_matches_phone_digits_and_nicknames(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let mut customers = Vec::new();
    for i in 0..3 {
        customers.push(server.login(&phone(160, i)).await);
    }
    assert_ok(&server.put("/api/user/profile", Some(&customers[1].token), json!({ "nickname": "王小明" })).await);

    let all = assert_ok(&server.get("/api/admin/users", Some(&admin)).await);
    assert_eq!(all["pagination"], json!({ "total": 3, "page": 1, "limit": 20, "total_pages": 1 }));
    let users = all["users"].as_array().unwrap();
    assert_eq!(users.len(), 3);
    for u in users {
        let id = u["user_id"].as_i64().unwrap();
        let c = customers.iter().find(|c| c.user_id == id).expect("a known customer");
        assert_eq!(u["mobile"], json!(masked(&c.phone)), "{u}");
        assert_eq!(u["total_points"].as_i64(), Some(1000));
        assert_eq!(u["is_banned"], json!(false));
        assert_eq!(u["is_merchant"], json!(false));
        assert!(!u.to_string().contains(&c.phone), "full phone in {u}");
    }

    // Full phone and a run of its digits.
    for q in [customers[2].phone.clone(), customers[2].phone[4..].to_string()] {
        let got = assert_ok(&server.get(&format!("/api/admin/users?q={q}"), Some(&admin)).await);
        assert_eq!(got["pagination"]["total"].as_i64(), Some(1), "q={q}: {got}");
        assert_eq!(got["users"][0]["user_id"].as_i64(), Some(customers[2].user_id));
    }
    // Part of a nickname.
    let got = assert_ok(&server.get("/api/admin/users?q=小明", Some(&admin)).await);
    assert_eq!(got["pagination"]["total"].as_i64(), Some(1), "{got}");
    assert_eq!(got["users"][0]["user_id"].as_i64(), Some(customers[1].user_id));
    assert_eq!(got["users"][0]["nickname"], json!("王小明"));
    // The default nickname 用户NNNN matches everyone.
    let got = assert_ok(&server.get("/api/admin/users?q=用户", Some(&admin)).await);
    assert_eq!(got["pagination"]["total"].as_i64(), Some(2), "{got}");
    // No match; and LIKE wildcards are literal.
    for q in ["13999999999", "%25", "_"] {
        let got = assert_ok(&server.get(&format!("/api/admin/users?q={q}"), Some(&admin)).await);
        assert_eq!(got["pagination"]["total"].as_i64(), Some(0), "q={q}: {got}");
        assert_eq!(got["users"], json!([]));
    }

    // Pagination: 2 + 1, every customer once.
    let p1 = assert_ok(&server.get("/api/admin/users?limit=2&page=1", Some(&admin)).await);
    let p2 = assert_ok(&server.get("/api/admin/users?limit=2&page=2", Some(&admin)).await);
    assert_eq!(p1["pagination"], json!({ "total": 3, "page": 1, "limit": 2, "total_pages": 2 }));
    assert_eq!(p2["pagination"], json!({ "total": 3, "page": 2, "limit": 2, "total_pages": 2 }));
    let mut ids: Vec<i64> = p1["users"]
        .as_array()
        .unwrap()
        .iter()
        .chain(p2["users"].as_array().unwrap())
        .map(|u| u["user_id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids.len(), 3);
    ids.sort_unstable();
    let mut expected: Vec<i64> = customers.iter().map(|c| c.user_id).collect();
    expected.sort_unstable();
    assert_eq!(ids, expected);
    for q in ["page=0", "limit=0", "limit=51", "limit=x"] {
        assert_error(&server.get(&format!("/api/admin/users?{q}"), Some(&admin)).await, 400, 1003);
    }
}

async fn adjustments_change_the_balance_through_the_ledger(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let c = server.login(&phone(161, 1)).await;
    let up = assert_ok(
        &server
            .post(
                &format!("/api/admin/users/{}/points", c.user_id),
                Some(&admin),
                json!({ "delta": 250, "reason": "生日礼" }),
            )
            .await,
    );
    assert_eq!(up["change_points"].as_i64(), Some(250));
    assert_eq!(up["total_points"].as_i64(), Some(1250));
    assert_eq!(server.balance(&c).await, 1250);
    let down = assert_ok(
        &server.post(&format!("/api/admin/users/{}/points", c.user_id), Some(&admin), json!({ "delta": -300 })).await,
    );
    assert_eq!(down["total_points"].as_i64(), Some(950));
    assert_eq!(server.balance(&c).await, 950);

    let rows = ledger(&server, &c).await;
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert_eq!(rows[0]["id"], down["record_id"]);
    assert_eq!(rows[0]["source"], json!("admin_adjust"));
    assert_eq!(rows[0]["points"].as_i64(), Some(-300));
    assert_eq!(rows[0]["balance_after"].as_i64(), Some(950));
    assert_eq!(rows[1]["id"], up["record_id"]);
    assert_eq!(rows[1]["source"], json!("admin_adjust"));
    assert_eq!(rows[1]["points"].as_i64(), Some(250));
    assert_eq!(rows[1]["balance_after"].as_i64(), Some(1250));
    assert!(rows[1]["description"].as_str().unwrap().contains("生日礼"), "{}", rows[1]);
    // Down to exactly zero is allowed.
    assert_ok(
        &server.post(&format!("/api/admin/users/{}/points", c.user_id), Some(&admin), json!({ "delta": -950 })).await,
    );
    assert_eq!(server.balance(&c).await, 0);
    server.assert_reconciled();
}

async fn an_adjustment_below_zero_is_refused_and_changes_nothing(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let c = server.login(&phone(162, 1)).await;
    assert_ok(
        &server.post(&format!("/api/admin/users/{}/points", c.user_id), Some(&admin), json!({ "delta": -50 })).await,
    );
    let audit_before = audit_entries(&server, &admin).await.len();
    let got =
        server.post(&format!("/api/admin/users/{}/points", c.user_id), Some(&admin), json!({ "delta": -951 })).await;
    assert_error(&got, 409, 3001);
    assert_eq!(got.1["data"], json!({ "required": 951, "current": 950 }));
    assert_eq!(server.balance(&c).await, 950);
    assert_eq!(ledger(&server, &c).await.len(), 2);
    assert_eq!(audit_entries(&server, &admin).await.len(), audit_before, "a refused change is not a mutation");
    server.assert_reconciled();
}

async fn adjustments_validate_the_delta_and_the_user(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let c = server.login(&phone(163, 1)).await;
    let path = format!("/api/admin/users/{}/points", c.user_id);
    for body in [
        json!({ "delta": 0 }),
        json!({}),
        json!({ "reason": "no delta" }),
        json!({ "delta": null }),
        json!({ "delta": "100" }),
        json!({ "delta": 1.5 }),
        json!({ "delta": true }),
        json!({ "delta": [100] }),
        json!({ "delta": 1e30 }),
    ] {
        let got = server.post(&path, Some(&admin), body.clone()).await;
        assert_error(&got, 400, 1003);
    }
    let (status, body) = server.post("/api/admin/users/99999999/points", Some(&admin), json!({ "delta": 10 })).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(body["code"].as_i64().is_some_and(|c| c != 0), "{body}");
    assert!(body["msg"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    assert!(body["data"].is_null(), "{body}");
    for (path, payload) in [
        ("/api/admin/users/99999999/ban", json!({ "banned": true })),
        ("/api/admin/users/99999999/merchant", json!({ "is_merchant": true })),
    ] {
        let (status, body) = server.post(path, Some(&admin), payload).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        assert!(body["code"].as_i64().is_some_and(|c| c != 0), "{body}");
    }
    assert_eq!(server.balance(&c).await, 1000);
    assert_eq!(ledger(&server, &c).await.len(), 1);
}

async fn a_repeated_idempotency_key_charges_once_even_across_a_restart(backend: Backend) {
    let mut server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let c = server.login(&phone(164, 1)).await;
    let first = points_with_key(&server, &admin, c.user_id, "adj-164-a", -200).await;
    let second = points_with_key(&server, &admin, c.user_id, "adj-164-a", -200).await;
    assert_eq!(first["record_id"], second["record_id"]);
    assert_eq!(second["total_points"].as_i64(), Some(800));
    assert_eq!(server.balance(&c).await, 800);
    // A different key is a different change.
    let other = points_with_key(&server, &admin, c.user_id, "adj-164-b", -200).await;
    assert_ne!(other["record_id"], first["record_id"]);
    assert_eq!(server.balance(&c).await, 600);

    server.kill9();
    server.start_again().await;
    let third = points_with_key(&server, &admin, c.user_id, "adj-164-a", -200).await;
    assert_eq!(third["record_id"], first["record_id"]);
    let c = server.login(&c.phone).await;
    assert_eq!(server.balance(&c).await, 600);
    let rows = ledger(&server, &c).await;
    assert_eq!(rows.iter().filter(|r| r["source"] == "admin_adjust").count(), 2, "{rows:?}");
    let audits = audit_entries(&server, &admin).await;
    assert_eq!(audits.iter().filter(|e| e["action"] == "user.points.adjust").count(), 2, "{audits:?}");
    server.assert_reconciled();
}

async fn ban_and_merchant_flags_take_effect(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let c = server.login(&phone(165, 1)).await;
    let uid = c.user_id;

    let got = assert_ok(
        &server.post(&format!("/api/admin/users/{uid}/merchant"), Some(&admin), json!({ "is_merchant": true })).await,
    );
    assert_eq!(got["is_merchant"], json!(true));
    let info = assert_ok(&server.get("/api/user/info", Some(&c.token)).await);
    assert_eq!(info["is_merchant"], json!(true));
    let listed = assert_ok(&server.get(&format!("/api/admin/users?q={}", c.phone), Some(&admin)).await);
    assert_eq!(listed["users"][0]["is_merchant"], json!(true));
    assert_ok(
        &server.post(&format!("/api/admin/users/{uid}/merchant"), Some(&admin), json!({ "is_merchant": false })).await,
    );
    let info = assert_ok(&server.get("/api/user/info", Some(&c.token)).await);
    assert_eq!(info["is_merchant"], json!(false));

    assert_ok(&server.post(&format!("/api/admin/users/{uid}/ban"), Some(&admin), json!({ "banned": true })).await);
    assert_error(&server.get("/api/user/info", Some(&c.token)).await, 403, 2005);
    let listed = assert_ok(&server.get(&format!("/api/admin/users?q={}", c.phone), Some(&admin)).await);
    assert_eq!(listed["users"][0]["is_banned"], json!(true));
    assert_ok(&server.post(&format!("/api/admin/users/{uid}/ban"), Some(&admin), json!({ "banned": false })).await);
    // The ban revoked every session (API.md): the customer signs in again.
    assert_error(&server.get("/api/user/info", Some(&c.token)).await, 401, 2002);
    let c = server.login(&c.phone).await;
    assert_ok(&server.get("/api/user/info", Some(&c.token)).await);

    for (path, body) in [
        ("ban", json!({})),
        ("ban", json!({ "banned": "yes" })),
        ("merchant", json!({})),
        ("merchant", json!({ "is_merchant": 1 })),
    ] {
        assert_error(&server.post(&format!("/api/admin/users/{uid}/{path}"), Some(&admin), body).await, 400, 1003);
    }
}

/// Two admins toggling one customer's ban at the same moment: whichever change the store keeps,
/// the server refuses the customer exactly when the store says banned (the in-memory copy follows
/// the store's order, not the order the two answers happen to come back in).
async fn racing_ban_toggles_leave_the_lockout_as_the_store_has_it(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let mut c = server.login(&phone(165, 2)).await;
    let path = format!("/api/admin/users/{}/ban", c.user_id);
    for round in 0..25 {
        let (a, b) = tokio::join!(
            server.post(&path, Some(&admin), json!({ "banned": true })),
            server.post(&path, Some(&admin), json!({ "banned": false })),
        );
        assert_ok(&a);
        assert_ok(&b);
        let listed = assert_ok(&server.get(&format!("/api/admin/users?q={}", c.phone), Some(&admin)).await);
        let stored = listed["users"][0]["is_banned"].as_bool().expect("is_banned");
        let info = server.get("/api/user/info", Some(&c.token)).await;
        if stored {
            assert_error(&info, 403, 2005);
        } else {
            // Each round's ban revoked the session (API.md); a new sign-in works.
            assert_error(&info, 401, 2002);
            c = server.login(&c.phone).await;
            assert_ok(&server.get("/api/user/info", Some(&c.token)).await);
        }
        let was = [&a.1["data"]["was_banned"], &b.1["data"]["was_banned"]];
        assert!(was.iter().all(|w| w.is_boolean()), "round {round}: {was:?}");
    }
}

async fn every_mutation_is_in_the_audit_log(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let c = server.login(&phone(166, 1)).await;
    let uid = c.user_id;
    assert_eq!(audit_entries(&server, &admin).await.len(), 0);
    assert_ok(
        &server
            .post(&format!("/api/admin/users/{uid}/points"), Some(&admin), json!({ "delta": 40, "reason": "补录" }))
            .await,
    );
    assert_ok(&server.post(&format!("/api/admin/users/{uid}/points"), Some(&admin), json!({ "delta": -15 })).await);
    assert_ok(&server.post(&format!("/api/admin/users/{uid}/ban"), Some(&admin), json!({ "banned": true })).await);
    assert_ok(&server.post(&format!("/api/admin/users/{uid}/ban"), Some(&admin), json!({ "banned": false })).await);
    assert_ok(
        &server.post(&format!("/api/admin/users/{uid}/merchant"), Some(&admin), json!({ "is_merchant": true })).await,
    );
    assert_ok(
        &server.post(&format!("/api/admin/users/{uid}/merchant"), Some(&admin), json!({ "is_merchant": false })).await,
    );

    let data = assert_ok(&server.get("/api/admin/audit-log", Some(&admin)).await);
    assert_eq!(data["pagination"]["total"].as_i64(), Some(6), "{data}");
    let mut entries = data["entries"].as_array().unwrap().clone();
    entries.sort_by_key(|e| e["id"].as_i64().unwrap());
    let actions: Vec<&str> = entries.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        [
            "user.points.adjust",
            "user.points.adjust",
            "user.ban",
            "user.unban",
            "user.merchant.grant",
            "user.merchant.revoke"
        ]
    );
    for e in &entries {
        assert_eq!(e["actor"]["name"], json!(ADMIN_USER), "{e}");
        assert_eq!(e["actor"]["kind"], json!("admin"), "{e}");
        assert_eq!(e["target_id"].to_string().trim_matches('"'), uid.to_string(), "{e}");
        assert!(e["created_at"].as_str().is_some_and(|t| chrono::DateTime::parse_from_rfc3339(t).is_ok()), "{e}");
        assert!(e["before"].is_object() && e["after"].is_object(), "{e}");
    }
    assert_eq!(entries[0]["before"]["total_points"].as_i64(), Some(1000));
    assert_eq!(entries[0]["after"]["total_points"].as_i64(), Some(1040));
    assert_eq!(entries[0]["after"]["reason"], json!("补录"));
    assert_eq!(entries[1]["before"]["total_points"].as_i64(), Some(1040));
    assert_eq!(entries[1]["after"]["total_points"].as_i64(), Some(1025));
    assert_eq!(
        (entries[2]["before"]["is_banned"].clone(), entries[2]["after"]["is_banned"].clone()),
        (json!(false), json!(true))
    );
    assert_eq!(
        (entries[3]["before"]["is_banned"].clone(), entries[3]["after"]["is_banned"].clone()),
        (json!(true), json!(false))
    );
    assert_eq!(
        (entries[4]["before"]["is_merchant"].clone(), entries[4]["after"]["is_merchant"].clone()),
        (json!(false), json!(true))
    );
    assert_eq!(
        (entries[5]["before"]["is_merchant"].clone(), entries[5]["after"]["is_merchant"].clone()),
        (json!(true), json!(false))
    );

    // The filter by action.
    let bans = assert_ok(&server.get("/api/admin/audit-log?action=user.ban", Some(&admin)).await);
    assert_eq!(bans["pagination"]["total"].as_i64(), Some(1), "{bans}");
    // Reads are not mutations.
    assert_ok(&server.get("/api/admin/users", Some(&admin)).await);
    assert_eq!(audit_entries(&server, &admin).await.len(), 6);
}

async fn admin_endpoints_require_an_admin_token(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let c = server.login(&phone(167, 1)).await;
    let uid = c.user_id;
    let endpoints: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, "/api/admin/users".into(), None),
        (Method::POST, format!("/api/admin/users/{uid}/points"), Some(json!({ "delta": 500 }))),
        (Method::POST, format!("/api/admin/users/{uid}/ban"), Some(json!({ "banned": true }))),
        (Method::POST, format!("/api/admin/users/{uid}/merchant"), Some(json!({ "is_merchant": true }))),
        (Method::GET, "/api/admin/audit-log".into(), None),
    ];
    for (method, path, body) in &endpoints {
        assert_error(&server.call(method.clone(), path, Some(&c.token), body.clone()).await, 403, 2004);
        assert_error(&server.call(method.clone(), path, None, body.clone()).await, 401, 2001);
        assert_error(&server.call(method.clone(), path, Some("garbage"), body.clone()).await, 401, 2002);
    }
    // None of it happened.
    let info = assert_ok(&server.get("/api/user/info", Some(&c.token)).await);
    assert_eq!(info["total_points"].as_i64(), Some(1000));
    assert_eq!(info["is_merchant"], json!(false));
    assert_eq!(audit_entries(&server, &admin).await.len(), 0);
}

both_backends!(
    user_search_matches_phone_digits_and_nicknames,
    adjustments_change_the_balance_through_the_ledger,
    an_adjustment_below_zero_is_refused_and_changes_nothing,
    adjustments_validate_the_delta_and_the_user,
    a_repeated_idempotency_key_charges_once_even_across_a_restart,
    ban_and_merchant_flags_take_effect,
    racing_ban_toggles_leave_the_lockout_as_the_store_has_it,
    every_mutation_is_in_the_audit_log,
    admin_endpoints_require_an_admin_token,
);
