//! `/api/user` as the mini-program sees it: the account with its dates, profile edits and their
//! validation (refused edits change nothing), the points history with its filters and strict
//! pagination, the totals, and who may call these endpoints at all (no token, a bad token, an
//! admin token, a banned customer).

mod common;

use common::*;
use reqwest::Method;
use serde_json::{json, Value};

fn masked(phone: &str) -> String {
    format!("{}****{}", &phone[..3], &phone[7..])
}

fn parse_time(v: &Value) -> chrono::DateTime<chrono::FixedOffset> {
    let s = v.as_str().unwrap_or_else(|| panic!("expected an ISO 8601 string, got {v}"));
    chrono::DateTime::parse_from_rfc3339(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

async fn adjust(server: &TestServer, admin: &str, user_id: i64, delta: i64) -> Value {
    assert_ok(
        &server
            .post(
                &format!("/api/admin/users/{user_id}/points"),
                Some(admin),
                json!({ "delta": delta, "reason": "test" }),
            )
            .await,
    )
}

async fn nickname(server: &TestServer, c: &Customer) -> String {
    let info = assert_ok(&server.get("/api/user/info", Some(&c.token)).await);
    info["nickname"].as_str().expect("nickname").to_string()
}

async fn info_shows_the_account_with_its_dates(backend: Backend) {
    let server = TestServer::start(backend).await;
    let before = chrono::Utc::now() - chrono::Duration::seconds(60);
    let p = phone(130, 1);
    let c = server.login(&p).await;
    let info = assert_ok(&server.get("/api/user/info", Some(&c.token)).await);
    assert_eq!(info["user_id"].as_i64(), Some(c.user_id));
    assert_eq!(info["mobile"], json!(masked(&p)));
    assert_eq!(info["nickname"], json!(format!("用户{}", &p[7..])));
    assert!(info.get("avatar").is_some(), "{info}");
    assert_eq!(info["total_points"].as_i64(), Some(1000));
    assert_eq!(info["is_merchant"], json!(false));
    assert_eq!(info["is_admin"], json!(false));
    let after = chrono::Utc::now() + chrono::Duration::seconds(60);
    let created = parse_time(&info["created_at"]);
    let last_login = parse_time(&info["last_login"]);
    assert!(created > before && created < after, "created_at {created}");
    assert!(last_login >= created && last_login < after, "last_login {last_login}");
    assert!(!info.to_string().contains(&p), "full phone in {info}");

    // Signing in again moves last_login forward, never created_at.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let again = server.login(&p).await;
    let info2 = assert_ok(&server.get("/api/user/info", Some(&again.token)).await);
    assert_eq!(info2["created_at"], info["created_at"]);
    assert!(parse_time(&info2["last_login"]) > last_login, "{info2}");
}

async fn profile_changes_are_visible_in_info(backend: Backend) {
    let server = TestServer::start(backend).await;
    let c = server.login(&phone(131, 1)).await;
    let data = assert_ok(&server.put("/api/user/profile", Some(&c.token), json!({ "nickname": "小王" })).await);
    assert_eq!(data["nickname"], json!("小王"));
    assert_eq!(nickname(&server, &c).await, "小王");

    // 20 characters is the maximum, counted as characters (not bytes).
    let twenty = "好".repeat(20);
    assert_ok(&server.put("/api/user/profile", Some(&c.token), json!({ "nickname": twenty })).await);
    assert_eq!(nickname(&server, &c).await, twenty);

    let avatar = "https://cdn.example.com/a/b.png";
    assert_ok(&server.put("/api/user/profile", Some(&c.token), json!({ "avatar": avatar })).await);
    let info = assert_ok(&server.get("/api/user/info", Some(&c.token)).await);
    assert_eq!(info["avatar"], json!(avatar));
    assert_eq!(info["nickname"], json!(twenty), "changing the avatar keeps the nickname");
    // Both at once.
    assert_ok(
        &server
            .put("/api/user/profile", Some(&c.token), json!({ "nickname": "阿明", "avatar": "http://x.cn/1.jpg" }))
            .await,
    );
    let info = assert_ok(&server.get("/api/user/info", Some(&c.token)).await);
    assert_eq!((info["nickname"].clone(), info["avatar"].clone()), (json!("阿明"), json!("http://x.cn/1.jpg")));
}

async fn invalid_profile_edits_are_refused_and_change_nothing(backend: Backend) {
    let server = TestServer::start(backend).await;
    let c = server.login(&phone(132, 1)).await;
    assert_ok(
        &server
            .put("/api/user/profile", Some(&c.token), json!({ "nickname": "原名", "avatar": "https://a.cn/x.png" }))
            .await,
    );
    for nick in [
        "a".repeat(21),
        "好".repeat(21),
        String::new(),
        "   ".to_string(),
        "bad\u{0007}name".to_string(),
        "two\nlines".to_string(),
        "nul\u{0000}byte".to_string(),
        "tab\there".to_string(),
    ] {
        let got = server.put("/api/user/profile", Some(&c.token), json!({ "nickname": nick })).await;
        assert_error(&got, 400, 1003);
        assert!(got.1["data"].is_null(), "{}", got.1);
    }
    for avatar in ["javascript:alert(1)", "ftp://example.com/a.png", "data:image/png;base64,AAAA", "example.com/a.png"]
    {
        assert_error(&server.put("/api/user/profile", Some(&c.token), json!({ "avatar": avatar })).await, 400, 1003);
    }
    // A valid nickname beside an invalid avatar is refused as a whole.
    assert_error(
        &server
            .put("/api/user/profile", Some(&c.token), json!({ "nickname": "新名字", "avatar": "javascript:x" }))
            .await,
        400,
        1003,
    );
    let info = assert_ok(&server.get("/api/user/info", Some(&c.token)).await);
    assert_eq!(info["nickname"], json!("原名"));
    assert_eq!(info["avatar"], json!("https://a.cn/x.png"));
}

/// Six ledger rows: the sign-up grant and five adjustments, newest first.
async fn points_records_filter_and_paginate(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let c = server.login(&phone(133, 1)).await;
    for d in [100, -30, 200, -50, 5] {
        adjust(&server, &admin, c.user_id, d).await;
    }
    let all = assert_ok(&server.get("/api/user/points-records", Some(&c.token)).await);
    let rows = all["records"].as_array().unwrap();
    assert_eq!(all["pagination"], json!({ "total": 6, "page": 1, "limit": 20, "total_pages": 1 }));
    let points: Vec<i64> = rows.iter().map(|r| r["points"].as_i64().unwrap()).collect();
    assert_eq!(points, vec![5, -50, 200, -30, 100, 1000], "newest first");
    let after: Vec<i64> = rows.iter().map(|r| r["balance_after"].as_i64().unwrap()).collect();
    assert_eq!(after, vec![1225, 1220, 1270, 1070, 1100, 1000]);
    for r in rows {
        for field in ["id", "points", "balance_after", "source", "description", "related_id", "created_at"] {
            assert!(r.get(field).is_some(), "{field} missing in {r}");
        }
        parse_time(&r["created_at"]);
    }

    let earn = assert_ok(&server.get("/api/user/points-records?type=earn", Some(&c.token)).await);
    assert_eq!(earn["pagination"]["total"].as_i64(), Some(4));
    assert!(earn["records"].as_array().unwrap().iter().all(|r| r["points"].as_i64().unwrap() > 0), "{earn}");
    let spend = assert_ok(&server.get("/api/user/points-records?type=spend", Some(&c.token)).await);
    assert_eq!(spend["pagination"]["total"].as_i64(), Some(2));
    let spent: Vec<i64> = spend["records"].as_array().unwrap().iter().map(|r| r["points"].as_i64().unwrap()).collect();
    assert_eq!(spent, vec![-50, -30]);

    let adj = assert_ok(&server.get("/api/user/points-records?source=admin_adjust", Some(&c.token)).await);
    assert_eq!(adj["pagination"]["total"].as_i64(), Some(5));
    assert!(adj["records"].as_array().unwrap().iter().all(|r| r["source"] == "admin_adjust"), "{adj}");
    let reg = assert_ok(&server.get("/api/user/points-records?source=register", Some(&c.token)).await);
    assert_eq!(reg["pagination"]["total"].as_i64(), Some(1));
    assert_eq!(reg["records"][0]["points"].as_i64(), Some(1000));
    let both = assert_ok(&server.get("/api/user/points-records?source=admin_adjust&type=earn", Some(&c.token)).await);
    assert_eq!(both["pagination"]["total"].as_i64(), Some(3));
    let none = assert_ok(&server.get("/api/user/points-records?source=lottery", Some(&c.token)).await);
    assert_eq!(none["pagination"], json!({ "total": 0, "page": 1, "limit": 20, "total_pages": 0 }));
    assert_eq!(none["records"], json!([]));

    // Pages of 4: 4 + 2 + 0, no row twice, none missing.
    let mut seen = Vec::new();
    for (page, len) in [(1, 4), (2, 2), (3, 0)] {
        let got =
            assert_ok(&server.get(&format!("/api/user/points-records?page={page}&limit=4"), Some(&c.token)).await);
        assert_eq!(got["pagination"], json!({ "total": 6, "page": page, "limit": 4, "total_pages": 2 }));
        let rows = got["records"].as_array().unwrap();
        assert_eq!(rows.len(), len, "page {page}: {got}");
        seen.extend(rows.iter().map(|r| r["id"].as_i64().unwrap()));
    }
    let all_ids: Vec<i64> = rows.iter().map(|r| r["id"].as_i64().unwrap()).collect();
    assert_eq!(seen, all_ids);

    // Another customer sees only their own grant.
    let other = server.login(&phone(133, 2)).await;
    let theirs = assert_ok(&server.get("/api/user/points-records", Some(&other.token)).await);
    assert_eq!(theirs["pagination"]["total"].as_i64(), Some(1));
}

async fn points_records_refuse_bad_filters_and_paging(backend: Backend) {
    let server = TestServer::start(backend).await;
    let c = server.login(&phone(134, 1)).await;
    for q in [
        "source=bogus",
        "source=REGISTER",
        "type=bogus",
        "type=all",
        "page=0",
        "page=-1",
        "page=abc",
        "page=1.5",
        "limit=0",
        "limit=51",
        "limit=abc",
        "limit=-5",
        "limit=2.5",
    ] {
        let got = server.get(&format!("/api/user/points-records?{q}"), Some(&c.token)).await;
        assert_error(&got, 400, 1003);
    }
    // The bounds themselves are fine.
    let got = assert_ok(&server.get("/api/user/points-records?page=1&limit=50", Some(&c.token)).await);
    assert_eq!(got["pagination"]["limit"].as_i64(), Some(50));
    let got = assert_ok(&server.get("/api/user/points-records?limit=1", Some(&c.token)).await);
    assert_eq!(got["pagination"], json!({ "total": 1, "page": 1, "limit": 1, "total_pages": 1 }));
}

async fn statistics_total_the_ledger(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let c = server.login(&phone(135, 1)).await;
    let s = assert_ok(&server.get("/api/user/statistics", Some(&c.token)).await);
    assert_eq!(s["total_points"].as_i64(), Some(1000));
    assert_eq!(s["total_earned"].as_i64(), Some(1000));
    assert_eq!(s["total_spent"].as_i64(), Some(0));
    for d in [300, -120, -80, 45] {
        adjust(&server, &admin, c.user_id, d).await;
    }
    let s = assert_ok(&server.get("/api/user/statistics", Some(&c.token)).await);
    assert_eq!(s["total_points"].as_i64(), Some(1145), "{s}");
    assert_eq!(s["total_earned"].as_i64(), Some(1345), "{s}");
    assert_eq!(s["total_spent"].as_i64(), Some(200), "{s}");
    assert_eq!(s["draws"].as_i64(), Some(0), "{s}");
    assert_eq!(s["exchanges"].as_i64(), Some(0), "{s}");
    assert_eq!(s["uploads"].as_i64(), Some(0), "{s}");
    assert_eq!(server.balance(&c).await, 1145);

    // A triple draw counts three draws; a redemption counts one exchange.
    let drawn = assert_ok(&server.post("/api/lottery/draw", Some(&c.token), json!({ "draw_type": "triple" })).await);
    let product = assert_ok(
        &server.get("/api/exchange/products?sort_by=exchange_points&sort_order=ASC&limit=1", Some(&c.token)).await,
    )["products"][0]["id"]
        .as_i64()
        .expect("a product");
    let order = assert_ok(&server.post("/api/exchange/redeem", Some(&c.token), json!({ "product_id": product })).await);
    let s = assert_ok(&server.get("/api/user/statistics", Some(&c.token)).await);
    assert_eq!(s["draws"].as_i64(), Some(3), "{s}");
    assert_eq!(s["exchanges"].as_i64(), Some(1), "{s}");
    assert_eq!(s["total_points"].as_i64(), order["remaining_points"].as_i64(), "{s}");
    let won = drawn["points_won"].as_i64().unwrap();
    assert_eq!(s["total_earned"].as_i64(), Some(1345 + won), "{s}");
    assert_eq!(s["total_spent"].as_i64(), Some(200 + 300 + order["points_cost"].as_i64().unwrap()), "{s}");
    server.assert_reconciled();
}

/// (method, path, body) of every customer endpoint.
fn user_endpoints() -> Vec<(Method, &'static str, Option<Value>)> {
    vec![
        (Method::GET, "/api/user/info", None),
        (Method::PUT, "/api/user/profile", Some(json!({ "nickname": "入侵者" }))),
        (Method::GET, "/api/user/points-records", None),
        (Method::GET, "/api/user/statistics", None),
    ]
}

async fn user_endpoints_require_a_customer_token(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let c = server.login(&phone(136, 1)).await;
    for (method, path, body) in user_endpoints() {
        let got = server.call(method.clone(), path, None, body.clone()).await;
        assert_error(&got, 401, 2001);
        let got = server.call(method.clone(), path, Some("garbage.token.here"), body.clone()).await;
        assert_error(&got, 401, 2002);
        let got = server.call(method.clone(), path, Some(&c.refresh), body.clone()).await;
        assert_error(&got, 401, 2002);
        // Admin tokens are not customer tokens.
        let got = server.call(method.clone(), path, Some(&admin), body.clone()).await;
        assert_error(&got, 401, 2002);
    }
    assert_ne!(nickname(&server, &c).await, "入侵者");
}

async fn banned_customers_are_locked_out_until_unbanned(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let c = server.login(&phone(137, 1)).await;
    let other = server.login(&phone(137, 2)).await;
    assert_ok(
        &server.post(&format!("/api/admin/users/{}/ban", c.user_id), Some(&admin), json!({ "banned": true })).await,
    );
    for (method, path, body) in user_endpoints() {
        let got = server.call(method, path, Some(&c.token), body).await;
        assert_error(&got, 403, 2005);
    }
    assert_error(&server.post("/api/auth/login", None, json!({ "phone": c.phone, "code": "123456" })).await, 403, 2005);
    assert_ok(&server.get("/api/user/info", Some(&other.token)).await);
    assert_ne!(nickname(&server, &other).await, "入侵者");

    assert_ok(
        &server.post(&format!("/api/admin/users/{}/ban", c.user_id), Some(&admin), json!({ "banned": false })).await,
    );
    // The ban revoked every session of the customer (API.md): the old token stays dead.
    assert_error(&server.get("/api/user/info", Some(&c.token)).await, 401, 2002);
    let again = server.login(&c.phone).await;
    assert_eq!(again.user_id, c.user_id);
    let info = assert_ok(&server.get("/api/user/info", Some(&again.token)).await);
    assert_eq!(info["total_points"].as_i64(), Some(1000));
    assert_ne!(info["nickname"], json!("入侵者"), "the profile edit while banned must not have applied");
}

async fn a_ban_survives_a_restart(backend: Backend) {
    let mut server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let c = server.login(&phone(138, 1)).await;
    assert_ok(
        &server.post(&format!("/api/admin/users/{}/ban", c.user_id), Some(&admin), json!({ "banned": true })).await,
    );
    server.kill9();
    server.start_again().await;
    assert_error(&server.get("/api/user/info", Some(&c.token)).await, 403, 2005);
    assert_error(&server.post("/api/auth/login", None, json!({ "phone": c.phone, "code": "123456" })).await, 403, 2005);
    assert_ok(
        &server.post(&format!("/api/admin/users/{}/ban", c.user_id), Some(&admin), json!({ "banned": false })).await,
    );
    // Unbanned, the customer signs in again: the ban revoked the old sessions for good.
    assert_error(&server.get("/api/user/info", Some(&c.token)).await, 401, 2002);
    let again = server.login(&c.phone).await;
    assert_ok(&server.get("/api/user/info", Some(&again.token)).await);
}

both_backends!(
    info_shows_the_account_with_its_dates,
    profile_changes_are_visible_in_info,
    invalid_profile_edits_are_refused_and_change_nothing,
    points_records_filter_and_paginate,
    points_records_refuse_bad_filters_and_paging,
    statistics_total_the_ledger,
    user_endpoints_require_a_customer_token,
    banned_customers_are_locked_out_until_unbanned,
    a_ban_survives_a_restart,
);
