//! `/api/auth` as a mini-program and an admin client see it: sign-in codes and their limits,
//! customer login (sign-up grant, masked profile), refresh-token rotation with reuse detection,
//! token checks, logout, the admin login, production hardening (no development code, no weak
//! JWT secret) and that sign-in never leaks tokens or full phone numbers into the log.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// Sends a prepared request; returns status, headers and the JSON body.
async fn send(req: reqwest::RequestBuilder) -> (StatusCode, HeaderMap, Value) {
    let resp = req.send().await.expect("request");
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("non-JSON body ({status}): {text}"));
    (status, headers, body)
}

fn masked(phone: &str) -> String {
    format!("{}****{}", &phone[..3], &phone[7..])
}

async fn send_code_returns_expires_in_300_and_accepts_the_mobile_alias(backend: Backend) {
    let server = TestServer::start(backend).await;
    let data = assert_ok(&server.post("/api/auth/send-code", None, json!({ "phone": phone(100, 1) })).await);
    assert_eq!(data["expires_in"].as_i64(), Some(300), "{data}");
    let data = assert_ok(&server.post("/api/auth/send-code", None, json!({ "mobile": phone(100, 2) })).await);
    assert_eq!(data["expires_in"].as_i64(), Some(300), "{data}");
}

async fn send_code_validates_the_phone(backend: Backend) {
    let server = TestServer::start(backend).await;
    assert_error(&server.post("/api/auth/send-code", None, json!({})).await, 400, 1003);
    assert_error(&server.post("/api/auth/send-code", None, json!({ "code": "123456" })).await, 400, 1003);
    for bad in [
        "12800138000",    // second digit 2
        "11800138000",    // second digit 1
        "1380013800",     // 10 digits
        "138001380000",   // 12 digits
        "1380013800a",    // a letter
        "+8613800138000", // country code
        "23800138000",    // does not start with 1
        "138 0013 8000",  // spaces inside
        "１3800138000",   // full-width digit
    ] {
        let got = server.post("/api/auth/send-code", None, json!({ "phone": bad })).await;
        assert_error(&got, 400, 1001);
        assert!(got.1["data"].is_null(), "{}", got.1);
    }
}

async fn a_second_code_within_a_minute_is_refused_with_retry_after(backend: Backend) {
    let server = TestServer::start(backend).await;
    let p = phone(101, 1);
    assert_ok(&server.post("/api/auth/send-code", None, json!({ "phone": p })).await);
    let (status, headers, body) =
        send(server.http.post(server.url("/api/auth/send-code")).json(&json!({ "phone": p }))).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["code"].as_i64(), Some(1004), "{body}");
    assert!(body["msg"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    let retry: u64 = headers
        .get(RETRY_AFTER)
        .expect("Retry-After header")
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After in seconds");
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    // Through the alias too: the limit is per phone, not per field name.
    assert_error(&server.post("/api/auth/send-code", None, json!({ "mobile": p })).await, 429, 1004);
    // Another phone is not affected.
    assert_ok(&server.post("/api/auth/send-code", None, json!({ "phone": phone(101, 2) })).await);
}

/// At the contract's default of 10 codes per address an hour, the 11th is refused (other phones
/// alike), with a Retry-After.
async fn an_address_gets_at_most_ten_codes_an_hour(backend: Backend) {
    let server = TestServer::start_with(backend, &[("SMS_PER_IP_PER_HOUR", "10")]).await;
    for i in 0..10 {
        assert_ok(&server.post("/api/auth/send-code", None, json!({ "phone": phone(113, i) })).await);
    }
    let (status, headers, body) =
        send(server.http.post(server.url("/api/auth/send-code")).json(&json!({ "phone": phone(113, 10) }))).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["code"].as_i64(), Some(1004), "{body}");
    assert!(headers.get(RETRY_AFTER).is_some(), "Retry-After");
    // Signing in with the development code is not a send and still works.
    assert_ok(&server.post("/api/auth/login", None, json!({ "phone": phone(113, 10), "code": "123456" })).await);
}

/// Logout and reuse detection are remembered by the store: a restart does not bring a revoked
/// session back, and does not sign anyone else out.
async fn revoked_sessions_stay_revoked_after_a_restart(backend: Backend) {
    let mut server = TestServer::start(backend).await;
    let logged_out = server.login(&phone(114, 1)).await;
    let reused = server.login(&phone(114, 2)).await;
    let untouched = server.login(&phone(114, 3)).await;
    assert_ok(&server.post("/api/auth/logout", Some(&logged_out.token), json!({})).await);
    let pair = assert_ok(&server.post("/api/auth/refresh", None, json!({ "refresh_token": reused.refresh })).await);
    assert_error(&server.post("/api/auth/refresh", None, json!({ "refresh_token": reused.refresh })).await, 401, 2000);

    server.kill9();
    server.start_again().await;

    assert_error(&server.get("/api/user/info", Some(&logged_out.token)).await, 401, 2002);
    assert_error(
        &server.post("/api/auth/refresh", None, json!({ "refresh_token": logged_out.refresh })).await,
        401,
        2000,
    );
    assert_error(&server.get("/api/user/info", pair["access_token"].as_str()).await, 401, 2002);
    assert_error(
        &server.post("/api/auth/refresh", None, json!({ "refresh_token": pair["refresh_token"] })).await,
        401,
        2000,
    );
    assert_ok(&server.get("/api/user/info", Some(&untouched.token)).await);
    assert_ok(&server.post("/api/auth/refresh", None, json!({ "refresh_token": untouched.refresh })).await);
}

/// The default SMS provider logs the code in development; that code signs the customer in once.
async fn a_code_from_send_code_signs_in_once(backend: Backend) {
    let server = TestServer::start_with(backend, &[("RUST_LOG", "info")]).await;
    let p = phone(102, 1);
    assert_ok(&server.post("/api/auth/send-code", None, json!({ "phone": p })).await);
    let deadline = Instant::now() + Duration::from_secs(5);
    let code = loop {
        let found = server.log().lines().find_map(|line| {
            let v: Value = serde_json::from_str(line).ok()?;
            let fields = &v["fields"];
            if fields["message"].as_str()?.contains("sign-in code") {
                fields["code"].as_str().map(str::to_string)
            } else {
                None
            }
        });
        if let Some(c) = found {
            break c;
        }
        assert!(Instant::now() < deadline, "no sign-in code in the log:\n{}", server.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(code.len(), 6, "{code}");
    assert!(code.bytes().all(|b| b.is_ascii_digit()), "{code}");
    let data = assert_ok(&server.post("/api/auth/login", None, json!({ "phone": p, "code": code })).await);
    assert_eq!(data["is_new_user"], json!(true));
    // Single use.
    assert_error(&server.post("/api/auth/login", None, json!({ "phone": p, "code": code })).await, 400, 1002);
}

async fn login_creates_a_new_user_with_the_sign_up_grant(backend: Backend) {
    let server = TestServer::start(backend).await;
    // phone(108, 8000) = 13801008000, so the contract's own example applies: 138****8000, 用户8000.
    let p = phone(108, 8000);
    assert_eq!(p, "13801008000");
    let data = assert_ok(&server.post("/api/auth/login", None, json!({ "phone": p, "code": "123456" })).await);
    assert_eq!(data["is_new_user"], json!(true));
    assert_eq!(data["expires_in"].as_i64(), Some(7200));
    let access = data["access_token"].as_str().expect("access_token");
    let refresh = data["refresh_token"].as_str().expect("refresh_token");
    assert!(!access.is_empty() && !refresh.is_empty() && access != refresh);
    let info = &data["user_info"];
    assert!(info["user_id"].as_i64().is_some_and(|id| id > 0), "{info}");
    assert_eq!(info["mobile"], json!("138****8000"));
    assert_eq!(info["nickname"], json!("用户8000"));
    assert!(info.get("avatar").is_some(), "{info}");
    assert_eq!(info["total_points"].as_i64(), Some(1000));
    assert_eq!(info["is_merchant"], json!(false));
    assert_eq!(info["is_admin"], json!(false));
    assert!(!info.to_string().contains(&p), "the full phone must not be returned: {info}");

    // The grant is a ledger entry with source `register`.
    let records = assert_ok(&server.get("/api/user/points-records", Some(access)).await);
    let rows = records["records"].as_array().expect("records");
    assert_eq!(rows.len(), 1, "{records}");
    assert_eq!(rows[0]["source"], json!("register"));
    assert_eq!(rows[0]["points"].as_i64(), Some(1000));
    assert_eq!(rows[0]["balance_after"].as_i64(), Some(1000));
    assert_eq!(records["pagination"]["total"].as_i64(), Some(1));

    // Signing in again finds the same account, without a second grant.
    let again = assert_ok(&server.post("/api/auth/login", None, json!({ "phone": p, "code": "123456" })).await);
    assert_eq!(again["is_new_user"], json!(false));
    assert_eq!(again["user_info"]["user_id"], info["user_id"]);
    assert_eq!(again["user_info"]["total_points"].as_i64(), Some(1000));
    let records = assert_ok(&server.get("/api/user/points-records?source=register", Some(access)).await);
    assert_eq!(records["pagination"]["total"].as_i64(), Some(1), "{records}");
    server.assert_reconciled();
}

async fn login_accepts_the_mobile_alias(backend: Backend) {
    let server = TestServer::start(backend).await;
    let p = phone(103, 1);
    let data = assert_ok(&server.post("/api/auth/login", None, json!({ "mobile": p, "code": "123456" })).await);
    assert_eq!(data["is_new_user"], json!(true));
    assert_eq!(data["user_info"]["mobile"], json!(masked(&p)));
    let again = assert_ok(&server.post("/api/auth/login", None, json!({ "phone": p, "code": "123456" })).await);
    assert_eq!(again["is_new_user"], json!(false));
    assert_eq!(again["user_info"]["user_id"], data["user_info"]["user_id"]);
}

async fn login_refuses_wrong_or_missing_codes_and_creates_nobody(backend: Backend) {
    let server = TestServer::start(backend).await;
    let p = phone(104, 1);
    assert_error(&server.post("/api/auth/login", None, json!({ "phone": p, "code": "000000" })).await, 400, 1002);
    assert_error(&server.post("/api/auth/login", None, json!({ "phone": p, "code": "654321" })).await, 400, 1002);
    assert_error(&server.post("/api/auth/login", None, json!({ "phone": p })).await, 400, 1003);
    assert_error(&server.post("/api/auth/login", None, json!({ "code": "123456" })).await, 400, 1003);
    assert_error(&server.post("/api/auth/login", None, json!({ "phone": "12345", "code": "123456" })).await, 400, 1001);
    // After a sent code, a wrong guess is still refused.
    assert_ok(&server.post("/api/auth/send-code", None, json!({ "phone": p })).await);
    let wrong = server.post("/api/auth/login", None, json!({ "phone": p, "code": "1234567" })).await;
    assert_error(&wrong, 400, 1002);
    // None of that created the account: the first real sign-in is a new user.
    let data = assert_ok(&server.post("/api/auth/login", None, json!({ "phone": p, "code": "123456" })).await);
    assert_eq!(data["is_new_user"], json!(true));
}

async fn refresh_rotates_through_body_and_bearer_header(backend: Backend) {
    let server = TestServer::start(backend).await;
    let c = server.login(&phone(105, 1)).await;

    // Body form.
    let pair1 = assert_ok(&server.post("/api/auth/refresh", None, json!({ "refresh_token": c.refresh })).await);
    let access1 = pair1["access_token"].as_str().expect("access_token").to_string();
    let refresh1 = pair1["refresh_token"].as_str().expect("refresh_token").to_string();
    assert_ne!(refresh1, c.refresh);
    assert_ne!(access1, c.token);
    assert_eq!(pair1["expires_in"].as_i64(), Some(7200));
    let v = assert_ok(&server.get("/api/auth/verify-token", Some(&access1)).await);
    assert_eq!(v["user_info"]["user_id"].as_i64(), Some(c.user_id));

    // Header form, with no body at all.
    let pair2 = assert_ok(&server.call(Method::POST, "/api/auth/refresh", Some(&refresh1), None).await);
    let access2 = pair2["access_token"].as_str().expect("access_token").to_string();
    let refresh2 = pair2["refresh_token"].as_str().expect("refresh_token").to_string();
    assert_ne!(refresh2, refresh1);
    let v = assert_ok(&server.get("/api/auth/verify-token", Some(&access2)).await);
    assert_eq!(v["user_info"]["user_id"].as_i64(), Some(c.user_id));
    // The newest refresh token keeps working.
    assert_ok(&server.post("/api/auth/refresh", None, json!({ "refresh_token": refresh2 })).await);
}

async fn reused_refresh_token_revokes_the_family(backend: Backend) {
    let server = TestServer::start(backend).await;
    let c = server.login(&phone(106, 1)).await;
    let other = server.login(&phone(106, 2)).await;
    let pair = assert_ok(&server.post("/api/auth/refresh", None, json!({ "refresh_token": c.refresh })).await);
    let newest_refresh = pair["refresh_token"].as_str().unwrap().to_string();
    let newest_access = pair["access_token"].as_str().unwrap().to_string();

    // The old one again: refused, and the whole family with it.
    assert_error(&server.post("/api/auth/refresh", None, json!({ "refresh_token": c.refresh })).await, 401, 2000);
    assert_error(&server.post("/api/auth/refresh", None, json!({ "refresh_token": newest_refresh })).await, 401, 2000);
    assert_error(&server.get("/api/auth/verify-token", Some(&newest_access)).await, 401, 2002);

    // Another session is untouched, and the customer can sign in afresh.
    assert_ok(&server.post("/api/auth/refresh", None, json!({ "refresh_token": other.refresh })).await);
    let fresh = server.login(&c.phone).await;
    assert_ok(&server.get("/api/auth/verify-token", Some(&fresh.token)).await);
}

async fn refresh_refuses_access_tokens_and_garbage(backend: Backend) {
    let server = TestServer::start(backend).await;
    let c = server.login(&phone(107, 1)).await;
    assert_error(&server.post("/api/auth/refresh", None, json!({ "refresh_token": c.token })).await, 401, 2000);
    assert_error(&server.call(Method::POST, "/api/auth/refresh", Some(&c.token), None).await, 401, 2000);
    assert_error(&server.post("/api/auth/refresh", None, json!({ "refresh_token": "garbage" })).await, 401, 2000);
    assert_error(&server.post("/api/auth/refresh", None, json!({ "refresh_token": "a.b.c" })).await, 401, 2000);
    assert_error(&server.call(Method::POST, "/api/auth/refresh", Some("not-a-token"), None).await, 401, 2000);
    // The refused attempts did not burn the real refresh token.
    assert_ok(&server.post("/api/auth/refresh", None, json!({ "refresh_token": c.refresh })).await);
}

async fn verify_token_answers_valid_or_401(backend: Backend) {
    let server = TestServer::start(backend).await;
    let p = phone(109, 1);
    let c = server.login(&p).await;
    let data = assert_ok(&server.get("/api/auth/verify-token", Some(&c.token)).await);
    assert_eq!(data["valid"], json!(true));
    assert_eq!(data["user_info"]["user_id"].as_i64(), Some(c.user_id));
    assert_eq!(data["user_info"]["mobile"], json!(masked(&p)));
    assert_eq!(data["user_info"]["total_points"].as_i64(), Some(1000));
    assert_error(&server.get("/api/auth/verify-token", None).await, 401, 2001);
    assert_error(&server.get("/api/auth/verify-token", Some("garbage")).await, 401, 2002);
    // A refresh token is not an access token.
    assert_error(&server.get("/api/auth/verify-token", Some(&c.refresh)).await, 401, 2002);
    // A tampered signature (a middle character, so every bit of it counts).
    let (head, sig) = c.token.rsplit_once('.').unwrap();
    let mut sig: Vec<char> = sig.chars().collect();
    sig[5] = if sig[5] == 'A' { 'B' } else { 'A' };
    let forged = format!("{head}.{}", sig.into_iter().collect::<String>());
    assert_error(&server.get("/api/auth/verify-token", Some(&forged)).await, 401, 2002);
}

async fn logout_kills_the_access_and_refresh_tokens_at_once(backend: Backend) {
    let server = TestServer::start(backend).await;
    let c = server.login(&phone(110, 1)).await;
    let other = server.login(&phone(110, 2)).await;
    assert_ok(&server.get("/api/user/info", Some(&c.token)).await);
    assert_ok(&server.post("/api/auth/logout", Some(&c.token), json!({})).await);
    assert_error(&server.get("/api/auth/verify-token", Some(&c.token)).await, 401, 2002);
    assert_error(&server.get("/api/user/info", Some(&c.token)).await, 401, 2002);
    assert_error(&server.post("/api/auth/refresh", None, json!({ "refresh_token": c.refresh })).await, 401, 2000);
    // Logout without a token is a 2001.
    assert_error(&server.post("/api/auth/logout", None, json!({})).await, 401, 2001);
    // Others stay signed in.
    assert_ok(&server.get("/api/user/info", Some(&other.token)).await);
}

async fn admin_login_checks_the_password(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.admin().await;
    assert!(!token.is_empty());
    let data = assert_ok(
        &server
            .post("/api/auth/admin-login", None, json!({ "username": ADMIN_USER, "password": ADMIN_PASSWORD }))
            .await,
    );
    assert!(data["access_token"].as_str().is_some_and(|t| !t.is_empty()), "{data}");
    assert!(data["refresh_token"].as_str().is_some_and(|t| !t.is_empty()), "{data}");
    // The admin token opens the admin API.
    assert_ok(&server.get("/api/admin/users", data["access_token"].as_str()).await);

    for body in [
        json!({ "username": ADMIN_USER, "password": "wrong-password-123" }),
        json!({ "username": "nobody-here", "password": ADMIN_PASSWORD }),
        json!({ "username": ADMIN_USER, "password": ADMIN_PASSWORD.to_uppercase() }),
    ] {
        let (status, resp) = server.post("/api/auth/admin-login", None, body.clone()).await;
        assert!(status.is_client_error(), "{body} → {status} {resp}");
        assert!(resp["code"].as_i64().is_some_and(|c| c != 0), "{resp}");
        assert!(resp["msg"].as_str().is_some_and(|m| !m.is_empty()), "{resp}");
        assert!(resp["data"].is_null(), "no token for bad credentials: {resp}");
    }
    assert_error(&server.post("/api/auth/admin-login", None, json!({})).await, 400, 1003);
    assert_error(&server.post("/api/auth/admin-login", None, json!({ "username": ADMIN_USER })).await, 400, 1003);
    assert_error(&server.post("/api/auth/admin-login", None, json!({ "password": ADMIN_PASSWORD })).await, 400, 1003);
}

async fn production_never_accepts_the_development_code(backend: Backend) {
    // Production needs a sign-in path to start; WeChat's (never called here) is the cheapest.
    let server = TestServer::start_with(
        backend,
        &[
            ("APP_ENV", "production"),
            ("ENABLE_TEST_HOOKS", "0"),
            ("WECHAT_APPID", "wx0000000000000000"),
            ("WECHAT_SECRET", "not-used-by-this-test"),
            ("WECHAT_API_BASE", "http://127.0.0.1:9"),
        ],
    )
    .await;
    let p = phone(111, 1);
    assert_error(&server.post("/api/auth/login", None, json!({ "phone": p, "code": "123456" })).await, 400, 1002);
    assert_ok(&server.post("/api/auth/send-code", None, json!({ "phone": p })).await);
    assert_error(&server.post("/api/auth/login", None, json!({ "phone": p, "code": "123456" })).await, 400, 1002);
    // The server itself is up and serving: the admin path works.
    let admin = server.admin().await;
    let users = assert_ok(&server.get("/api/admin/users", Some(&admin)).await);
    assert_eq!(users["pagination"]["total"].as_i64(), Some(0), "nobody was signed up: {users}");
}

async fn sign_in_never_logs_tokens_or_full_phone_numbers(backend: Backend) {
    let server = TestServer::start_with(backend, &[("RUST_LOG", "debug")]).await;
    let p = phone(112, 1);
    assert_ok(&server.post("/api/auth/send-code", None, json!({ "phone": p })).await);
    let c = server.login(&p).await;
    let pair = assert_ok(&server.post("/api/auth/refresh", None, json!({ "refresh_token": c.refresh })).await);
    assert_ok(&server.get("/api/auth/verify-token", Some(&c.token)).await);
    assert_ok(&server.get("/api/user/info", Some(&c.token)).await);
    assert_error(&server.post("/api/auth/refresh", None, json!({ "refresh_token": c.refresh })).await, 401, 2000);
    let admin = server.admin().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let log = server.log();
    assert!(log.contains("signed in"), "the sign-in should have been logged:\n{log}");
    for (what, secret) in [
        ("access token", c.token.as_str()),
        ("refresh token", c.refresh.as_str()),
        ("rotated access token", pair["access_token"].as_str().unwrap()),
        ("rotated refresh token", pair["refresh_token"].as_str().unwrap()),
        ("admin token", admin.as_str()),
        ("admin password", ADMIN_PASSWORD),
        ("full phone", p.as_str()),
    ] {
        assert!(!log.contains(secret), "the log contains the {what}");
    }
    // A JWT's signature alone is enough to leak it.
    for t in [&c.token, &c.refresh] {
        let sig = t.rsplit('.').next().unwrap();
        assert!(!log.contains(sig), "the log contains a token signature");
    }
}

/// Runs the binary with exactly `env`; it must exit by itself within a few seconds.
fn run_to_exit(env: &[(&str, &str)]) -> (std::process::ExitStatus, String) {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("out.log");
    let out = std::fs::File::create(&out_path).unwrap();
    let db = format!("sqlite://{}", dir.path().join("prod.db").display());
    let mut child = Command::new(BIN)
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOST", "127.0.0.1")
        .env("PORT", "0")
        .env("DATABASE_URL", db)
        .env("UPLOAD_DIR", dir.path().join("uploads"))
        .envs(env.iter().copied())
        .stdout(Stdio::from(out.try_clone().unwrap()))
        .stderr(Stdio::from(out))
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the server started instead of refusing ({env:?}):\n{}",
                std::fs::read_to_string(&out_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    (status, std::fs::read_to_string(&out_path).unwrap_or_default())
}

#[test]
fn production_refuses_to_start_without_a_strong_jwt_secret() {
    let base = [("APP_ENV", "production"), ("JWT_REFRESH_SECRET", JWT_REFRESH_SECRET), ("LOG_FORMAT", "json")];
    let cases: [(&str, Option<&str>); 4] = [
        ("missing", None),
        ("empty", Some("")),
        ("short", Some("Zq8vL2xN4mR7")),
        ("placeholder", Some("your-secret-key-change-me-in-production")),
    ];
    for (what, secret) in cases {
        let mut env = base.to_vec();
        if let Some(s) = secret {
            env.push(("JWT_SECRET", s));
        }
        let (status, out) = run_to_exit(&env);
        assert!(!status.success(), "{what} JWT_SECRET: exit {status}\n{out}");
        assert!(out.contains("JWT_SECRET"), "{what} JWT_SECRET: the message must name it:\n{out}");
    }
}

both_backends!(
    send_code_returns_expires_in_300_and_accepts_the_mobile_alias,
    send_code_validates_the_phone,
    a_second_code_within_a_minute_is_refused_with_retry_after,
    a_code_from_send_code_signs_in_once,
    an_address_gets_at_most_ten_codes_an_hour,
    revoked_sessions_stay_revoked_after_a_restart,
    login_creates_a_new_user_with_the_sign_up_grant,
    login_accepts_the_mobile_alias,
    login_refuses_wrong_or_missing_codes_and_creates_nobody,
    refresh_rotates_through_body_and_bearer_header,
    reused_refresh_token_revokes_the_family,
    refresh_refuses_access_tokens_and_garbage,
    verify_token_answers_valid_or_401,
    logout_kills_the_access_and_refresh_tokens_at_once,
    admin_login_checks_the_password,
    production_never_accepts_the_development_code,
    sign_in_never_logs_tokens_or_full_phone_numbers,
);
