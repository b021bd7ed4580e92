//! Hostile and broken input at the HTTP edge, and the operational surface: malformed JSON, wrong
//! shapes and types, overlong and hostile strings each get a 4xx envelope and change nothing;
//! oversized bodies get 413; unknown routes and methods get 9004; every response carries a request
//! id; `/health` and `/metrics` answer; the per-IP limiter answers 429/9001 with `Retry-After`
//! (on `/health` too); and `reconcile` catches a ledger tampered with behind the server's back.

mod common;

use common::*;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// Sends `body` verbatim as JSON; returns status, headers and the parsed body.
async fn raw(
    server: &TestServer,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Vec<u8>,
) -> (StatusCode, HeaderMap, Value) {
    let mut req = server.http.request(method, server.url(path)).header("content-type", "application/json").body(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.expect("body");
    let value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("non-JSON body for {path} ({status}): {text}"));
    (status, headers, value)
}

/// What a customer's account looks like from outside: balance, nickname, avatar, ledger size.
async fn snapshot(server: &TestServer, c: &Customer) -> (i64, String, String, i64) {
    let info = assert_ok(&server.get("/api/user/info", Some(&c.token)).await);
    let records = assert_ok(&server.get("/api/user/points-records", Some(&c.token)).await);
    (
        info["total_points"].as_i64().unwrap(),
        info["nickname"].as_str().unwrap().to_string(),
        info["avatar"].as_str().unwrap_or_default().to_string(),
        records["pagination"]["total"].as_i64().unwrap(),
    )
}

async fn user_count(server: &TestServer, admin: &str) -> i64 {
    let users = assert_ok(&server.get("/api/admin/users", Some(admin)).await);
    users["pagination"]["total"].as_i64().unwrap()
}

const HOSTILE: [&str; 6] = [
    "'; DROP TABLE users; --",
    "1' OR '1'='1",
    "<script>alert(1)</script>",
    "😀😀😀😀😀😀😀😀😀😀😀",
    "13800138000\u{0000}",
    "1380013800\u{0007}0",
];

async fn malformed_and_misshapen_json_is_refused_and_changes_nothing(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let c = server.login(&phone(190, 1)).await;
    let before = snapshot(&server, &c).await;
    let points = format!("/api/admin/users/{}/points", c.user_id);
    let ban = format!("/api/admin/users/{}/ban", c.user_id);
    let bodies: [&[u8]; 9] = [
        b"{not json",
        b"{\"phone\": ",
        b"{\"nickname\": \"x\",}",
        b"[]",
        b"[{\"delta\": 5}]",
        b"\"a string\"",
        b"42",
        b"null",
        b"\xff\xfe\x00garbage",
    ];
    for body in bodies {
        for (method, path, token) in [
            (Method::POST, "/api/auth/login", None),
            (Method::POST, "/api/auth/send-code", None),
            (Method::POST, "/api/auth/admin-login", None),
            (Method::PUT, "/api/user/profile", Some(c.token.as_str())),
            (Method::POST, points.as_str(), Some(admin.as_str())),
            (Method::POST, ban.as_str(), Some(admin.as_str())),
        ] {
            let (status, _, resp) = raw(&server, method, path, token, body.to_vec()).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {:?}: {resp}", String::from_utf8_lossy(body));
            assert_eq!(resp["code"].as_i64(), Some(1003), "{path}: {resp}");
            assert!(resp["data"].is_null(), "{resp}");
            assert!(resp["msg"].as_str().is_some_and(|m| !m.is_empty()), "{resp}");
        }
    }
    assert_eq!(snapshot(&server, &c).await, before);
    assert_ok(&server.get("/api/user/info", Some(&c.token)).await);
    assert_eq!(user_count(&server, &admin).await, 1);
    server.assert_reconciled();
}

async fn wrong_field_types_are_refused_with_1003(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let c = server.login(&phone(191, 1)).await;
    let before = snapshot(&server, &c).await;
    let p = phone(191, 2);
    for body in [
        json!({ "phone": 13800138000u64, "code": "123456" }),
        json!({ "phone": p, "code": 123456 }),
        json!({ "phone": [p], "code": "123456" }),
        json!({ "phone": { "n": p }, "code": "123456" }),
        json!({ "mobile": true, "code": "123456" }),
    ] {
        assert_error(&server.post("/api/auth/login", None, body).await, 400, 1003);
    }
    for body in
        [json!({ "nickname": 123 }), json!({ "nickname": true }), json!({ "nickname": ["x"] }), json!({ "avatar": 5 })]
    {
        assert_error(&server.put("/api/user/profile", Some(&c.token), body).await, 400, 1003);
    }
    let path = format!("/api/admin/users/{}/points", c.user_id);
    for body in [
        json!({ "delta": "5" }),
        json!({ "delta": 5, "reason": 5 }),
        json!({ "delta": 5, "reason": ["x"] }),
        json!({ "delta": { "n": 5 } }),
        json!({ "delta": 18446744073709551615u64 }),
    ] {
        assert_error(&server.post(&path, Some(&admin), body).await, 400, 1003);
    }
    assert_eq!(snapshot(&server, &c).await, before);
    assert_eq!(user_count(&server, &admin).await, 1, "no account was created for {p}");
}

async fn overlong_and_hostile_strings_are_refused_and_change_nothing(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let c = server.login(&phone(192, 1)).await;
    let before = snapshot(&server, &c).await;
    let big = "x".repeat(10 * 1024);
    let big_digits = "1".repeat(10 * 1024);

    // Phones.
    for bad in HOSTILE.iter().copied().chain([big.as_str(), big_digits.as_str()]) {
        assert_error(&server.post("/api/auth/login", None, json!({ "phone": bad, "code": "123456" })).await, 400, 1001);
        assert_error(&server.post("/api/auth/send-code", None, json!({ "phone": bad })).await, 400, 1001);
        assert_error(
            &server.post("/api/auth/login", None, json!({ "mobile": bad, "code": "123456" })).await,
            400,
            1001,
        );
    }
    // Codes: never a sign-in.
    let p = phone(192, 2);
    for bad in HOSTILE.iter().copied().chain([big.as_str(), "123456\u{0000}", " 12345 6"]) {
        assert_error(&server.post("/api/auth/login", None, json!({ "phone": p, "code": bad })).await, 400, 1002);
    }
    // Nicknames.
    for bad in [
        big.clone(),
        "'; DROP TABLE users; --".to_string(),
        "<script>alert(1)</script>".to_string(),
        "😀".repeat(21),
        "ab\u{0000}cd".to_string(),
        "\u{001b}[31mred".to_string(),
        "mid\u{0085}dle".to_string(),
    ] {
        assert_error(&server.put("/api/user/profile", Some(&c.token), json!({ "nickname": bad })).await, 400, 1003);
    }
    assert_error(
        &server.put("/api/user/profile", Some(&c.token), json!({ "avatar": format!("https://a.cn/{big}") })).await,
        400,
        1003,
    );
    // Admin adjustments.
    let path = format!("/api/admin/users/{}/points", c.user_id);
    for body in [
        json!({ "delta": "'; DROP TABLE users; --" }),
        json!({ "delta": "<script>" }),
        json!({ "delta": 5, "reason": big }),
        json!({ "delta": 5, "reason": "ok\u{0000}" }),
        json!({ "delta": 5, "reason": "line\nbreak" }),
    ] {
        assert_error(&server.post(&path, Some(&admin), body).await, 400, 1003);
    }
    let long_key = "k".repeat(10 * 1024);
    let (status, _, resp) = raw(
        &server,
        Method::POST,
        &path,
        Some(&admin),
        serde_json::to_vec(&json!({ "delta": 5, "request_id": long_key })).unwrap(),
    )
    .await;
    assert_eq!((status.as_u16(), resp["code"].as_i64()), (400, Some(1003)), "{resp}");

    assert_eq!(snapshot(&server, &c).await, before);
    assert_eq!(user_count(&server, &admin).await, 1);
    server.assert_reconciled();
}

/// Strings that are hostile-looking but valid are stored and returned verbatim, and the store is
/// none the worse for them.
async fn hostile_but_valid_text_round_trips_verbatim(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let c = server.login(&phone(193, 1)).await;
    for nick in ["'; DROP TABLE users;", "Robert'); --", "<b>x</b>&amp;\"", "😀🎉👍", "50%_off!"] {
        assert_ok(&server.put("/api/user/profile", Some(&c.token), json!({ "nickname": nick })).await);
        let info = assert_ok(&server.get("/api/user/info", Some(&c.token)).await);
        assert_eq!(info["nickname"], json!(nick));
    }
    let reason = "'; DROP TABLE points_records; -- <script>x</script> 😀";
    let got = assert_ok(
        &server
            .post(
                &format!("/api/admin/users/{}/points", c.user_id),
                Some(&admin),
                json!({ "delta": 7, "reason": reason }),
            )
            .await,
    );
    let rows = assert_ok(&server.get("/api/user/points-records", Some(&c.token)).await);
    assert_eq!(rows["records"][0]["id"], got["record_id"]);
    assert!(rows["records"][0]["description"].as_str().unwrap().contains(reason), "{rows}");
    // The tables are all still there and working.
    let other = server.login(&phone(193, 2)).await;
    assert_eq!(server.balance(&other).await, 1000);
    assert_eq!(server.balance(&c).await, 1007);
    assert_eq!(user_count(&server, &admin).await, 2);
    server.assert_reconciled();
}

async fn bodies_over_64_kib_get_413(backend: Backend) {
    let server = TestServer::start(backend).await;
    let c = server.login(&phone(194, 1)).await;
    let before = snapshot(&server, &c).await;
    let huge = "y".repeat(70 * 1024);
    for (method, path, token, body) in [
        (Method::POST, "/api/auth/login", None, json!({ "phone": phone(194, 2), "code": "123456", "pad": huge })),
        (Method::PUT, "/api/user/profile", Some(c.token.as_str()), json!({ "nickname": huge })),
    ] {
        let (status, headers, resp) = raw(&server, method, path, token, serde_json::to_vec(&body).unwrap()).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{path}: {resp}");
        assert!(resp["code"].as_i64().is_some_and(|c| c != 0), "{resp}");
        assert!(resp["msg"].as_str().is_some_and(|m| !m.is_empty()), "{resp}");
        assert!(resp["data"].is_null(), "{resp}");
        assert!(headers.get("x-request-id").is_some(), "no x-request-id on the 413");
    }
    assert_eq!(snapshot(&server, &c).await, before);
    // Just under the limit is read (and then judged on its content).
    let padded = json!({ "phone": phone(194, 3), "code": "123456", "pad": "z".repeat(60 * 1024) });
    let (status, _, resp) =
        raw(&server, Method::POST, "/api/auth/login", None, serde_json::to_vec(&padded).unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{resp}");
}

async fn unknown_routes_and_methods_get_9004(backend: Backend) {
    let server = TestServer::start(backend).await;
    let c = server.login(&phone(195, 1)).await;
    for (method, path) in [
        (Method::GET, "/api/nope"),
        (Method::GET, "/nope"),
        (Method::POST, "/api/auth/nope"),
        (Method::GET, "/api/user/info/extra"),
        (Method::GET, "/api/admin/users/1/nothing"),
    ] {
        let got = server.call(method, path, Some(&c.token), None).await;
        assert_error(&got, 404, 9004);
    }
    for (method, path) in [
        (Method::GET, "/api/auth/login"),
        (Method::DELETE, "/api/user/info"),
        (Method::PATCH, "/api/user/points-records"),
        (Method::DELETE, "/api/auth/send-code"),
        (Method::POST, "/health"),
    ] {
        let got = server.call(method.clone(), path, Some(&c.token), None).await;
        assert_error(&got, 405, 9004);
    }
}

async fn every_response_carries_a_request_id(backend: Backend) {
    let server = TestServer::start(backend).await;
    let c = server.login(&phone(196, 1)).await;
    let mut seen = std::collections::HashSet::new();
    for (path, token) in [
        ("/api/user/info", Some(c.token.as_str())),
        ("/api/user/info", None),
        ("/api/nope", None),
        ("/health", None),
        ("/metrics", None),
    ] {
        let mut req = server.http.get(server.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.unwrap();
        let id = resp.headers().get("x-request-id").unwrap_or_else(|| panic!("no x-request-id on {path}"));
        let id = id.to_str().unwrap().to_string();
        assert!(!id.is_empty(), "{path}");
        assert!(seen.insert(id), "request ids must differ between requests");
    }
    // Ours is echoed back, on success and on error.
    for (path, token) in [("/api/user/info", Some(c.token.as_str())), ("/api/user/info", None), ("/nope", None)] {
        let mut req = server.http.get(server.url(path)).header("x-request-id", "client-trace-196");
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(
            resp.headers().get("x-request-id").and_then(|v| v.to_str().ok()),
            Some("client-trace-196"),
            "{path}"
        );
    }
}

async fn health_and_metrics_answer(backend: Backend) {
    let server = TestServer::start(backend).await;
    let c = server.login(&phone(197, 1)).await;
    assert_ok(&server.get("/api/user/info", Some(&c.token)).await);
    let data = assert_ok(&server.get("/health", None).await);
    assert_eq!(data["status"], json!("ok"), "{data}");
    assert_eq!(data["checks"]["store"], json!("ok"), "{data}");
    assert!(data["checks"].get("object_storage").is_some(), "{data}");
    assert!(data["uptime_s"].as_u64().is_some(), "{data}");
    assert!(data["version"].as_str().is_some_and(|v| !v.is_empty()), "{data}");

    let resp = server.http.get(server.url("/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let ctype = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    assert!(ctype.starts_with("text/plain"), "{ctype}");
    let text = resp.text().await.unwrap();
    assert!(text.contains("http_requests_total"), "{text}");
    assert!(text.contains("http_request_duration_seconds"), "{text}");
    // The request above is counted under its route.
    assert!(
        text.lines().any(|l| l.starts_with("http_requests_total") && l.contains("/api/user/info") && l.contains("200")),
        "{text}"
    );
}

async fn the_per_ip_limit_answers_429_with_retry_after_on_health_too(backend: Backend) {
    let server = TestServer::start_with(backend, &[("RATE_LIMIT_PER_IP_PER_MIN", "5")]).await;
    for _ in 0..5 {
        let got = server.get("/api/user/info", None).await;
        assert_error(&got, 401, 2001);
    }
    for _ in 0..3 {
        let resp = server.http.get(server.url("/api/user/info")).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
        let retry: u64 =
            resp.headers().get(RETRY_AFTER).expect("Retry-After").to_str().unwrap().parse().expect("seconds");
        assert!((1..=60).contains(&retry), "Retry-After {retry}");
        assert!(resp.headers().get("x-request-id").is_some());
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["code"].as_i64(), Some(9001), "{body}");
        assert!(body["msg"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    }
    // Every API route shares the limit.
    let got = server.post("/api/auth/login", None, json!({ "phone": phone(198, 1), "code": "123456" })).await;
    assert_error(&got, 429, 9001);
    // `/health` shares it too (API.md, "Protection against overload and spoofing").
    assert_error(&server.get("/health", None).await, 429, 9001);
}

async fn reconcile_names_the_user_whose_ledger_was_tampered_with(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let victim = server.login(&phone(199, 1)).await;
    let bystander = server.login(&phone(199, 2)).await;
    assert_ok(
        &server
            .post(&format!("/api/admin/users/{}/points", victim.user_id), Some(&admin), json!({ "delta": 30 }))
            .await,
    );
    server.assert_reconciled();

    // Behind the server's back: points that no ledger row explains.
    let store = restaurant_lottery::store::Store::connect(&server.database_url, 2).await.expect("connect");
    let changed = sqlx::query("UPDATE users SET points = points + 5 WHERE id = ?")
        .bind(victim.user_id)
        .execute(store.pool())
        .await
        .expect("tamper")
        .rows_affected();
    assert_eq!(changed, 1);
    store.pool().close().await;

    let (ok, out) = server.cli(&["reconcile"], None);
    assert!(!ok, "reconcile must fail:\n{out}");
    assert!(out.contains(&format!("user {}", victim.user_id)), "{out}");
    assert!(!out.contains(&format!("user {}:", bystander.user_id)), "only the victim is named:\n{out}");
}

/// Cluster rows tampered with: a block lending units of a prize that does not exist, and a
/// customer held by a node that never joined. `reconcile` names both; a sound block (one that
/// took its units from the pool) passes.
async fn reconcile_names_stock_blocks_and_owners_that_cannot_be(backend: Backend) {
    let server = TestServer::start(backend).await;
    let c = server.login(&phone(199, 3)).await;
    server.assert_reconciled();
    let store = restaurant_lottery::store::Store::connect(&server.database_url, 2).await.expect("connect");
    let (sectors, _) = store.wheel().await.expect("wheel").expect("configured");
    let limited = sectors.iter().find(|s| s.stock_left.is_some()).expect("a limited prize").id;
    // A block taken the way a node takes one: out of the pool.
    sqlx::query("UPDATE wheel_prizes SET stock_left = stock_left - 2 WHERE id = ?")
        .bind(limited)
        .execute(store.pool())
        .await
        .expect("pool");
    for (item, units) in [(limited, 2_i64), (987_654, 3)] {
        sqlx::query("INSERT INTO stock_blocks (item_kind, item_id, node_id, units) VALUES ('prize', ?, 'n1', ?)")
            .bind(item)
            .bind(units)
            .execute(store.pool())
            .await
            .expect("block");
    }
    sqlx::query("UPDATE users SET owner_node = 'ghost' WHERE id = ?")
        .bind(c.user_id)
        .execute(store.pool())
        .await
        .expect("owner");
    store.pool().close().await;

    let (ok, out) = server.cli(&["reconcile"], None);
    assert!(!ok, "reconcile must fail:\n{out}");
    assert!(out.contains("stock block of prize 987654 on node n1"), "{out}");
    assert!(!out.contains(&format!("stock block of prize {limited} ")), "a sound block passes:\n{out}");
    assert!(out.contains(&format!("user {}", c.user_id)) && out.contains("ghost"), "{out}");
}

both_backends!(
    reconcile_names_stock_blocks_and_owners_that_cannot_be,
    malformed_and_misshapen_json_is_refused_and_changes_nothing,
    wrong_field_types_are_refused_with_1003,
    overlong_and_hostile_strings_are_refused_and_change_nothing,
    hostile_but_valid_text_round_trips_verbatim,
    bodies_over_64_kib_get_413,
    unknown_routes_and_methods_get_9004,
    every_response_carries_a_request_id,
    health_and_metrics_answer,
    the_per_ip_limit_answers_429_with_retry_after_on_health_too,
    reconcile_names_the_user_whose_ledger_was_tampered_with,
);
