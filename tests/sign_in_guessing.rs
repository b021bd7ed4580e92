//! Guessing sign-in codes and flooding a phone with them, against the real server: wrong codes
//! from many addresses lock the phone (1006) even for the right code; burning a code does not
//! lift the one-a-minute rule; a phone gets at most ten codes a day. Each test ends with
//! `reconcile`.

mod common;

use common::*;
use reqwest::header::RETRY_AFTER;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// A login for `phone` that reaches the server through one proxy, as `client`.
async fn login_from(server: &TestServer, phone: &str, code: &str, client: &str) -> (StatusCode, Option<u64>, Value) {
    let resp = server
        .http
        .post(server.url("/api/auth/login"))
        .header("x-forwarded-for", format!("6.6.6.6, {client}"))
        .json(&json!({ "phone": phone, "code": code }))
        .send()
        .await
        .expect("login");
    let status = resp.status();
    let retry = resp.headers().get(RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
    (status, retry, resp.json().await.expect("JSON body"))
}

async fn ten_wrong_codes_from_many_addresses_lock_the_phone_even_for_the_right_code(backend: Backend) {
    let server = TestServer::start_with(backend, &[("TRUST_PROXY_HOPS", "1")]).await;
    let victim = phone(410, 1);
    for i in 0..10 {
        let client = format!("198.51.100.{i}");
        let (status, _, body) = login_from(&server, &victim, &format!("{:06}", 900_000 + i), &client).await;
        assert_eq!((status.as_u16(), body["code"].as_i64()), (400, Some(1002)), "guess {i}: {body}");
    }
    // The right code (the development code here), from an address that never guessed.
    let (status, retry, body) = login_from(&server, &victim, "123456", "203.0.113.50").await;
    assert_eq!((status.as_u16(), body["code"].as_i64()), (429, Some(1006)), "{body}");
    assert!(retry.is_some_and(|s| (3500..=3600).contains(&s)), "Retry-After {retry:?}");
    assert!(body["data"].is_null(), "{body}");
    // Nobody was created for the victim's phone; another phone is unaffected.
    let other = server.login(&phone(410, 2)).await;
    assert_eq!(server.balance(&other).await, 1000);
    let (status, _, _) = login_from(&server, &victim, "123456", "203.0.113.51").await;
    assert_eq!(status.as_u16(), 429);
    server.assert_reconciled();
}

async fn burning_a_code_does_not_lift_the_one_a_minute_rule(backend: Backend) {
    let server = TestServer::start(backend).await;
    let victim = phone(411, 1);
    assert_ok(&server.post("/api/auth/send-code", None, json!({ "phone": victim })).await);
    for i in 0..6 {
        let got = server
            .post("/api/auth/login", None, json!({ "phone": victim, "code": format!("{:06}", 700_000 + i) }))
            .await;
        assert_error(&got, 400, 1002);
    }
    // The code is dead, but the phone's interval is not.
    assert_error(&server.post("/api/auth/send-code", None, json!({ "phone": victim })).await, 429, 1004);
    // Nor after a code was used.
    let used = phone(411, 2);
    assert_ok(&server.post("/api/auth/send-code", None, json!({ "phone": used })).await);
    server.login(&used).await;
    assert_error(&server.post("/api/auth/send-code", None, json!({ "phone": used })).await, 429, 1004);
    server.assert_reconciled();
}

async fn a_phone_gets_at_most_ten_codes_a_day(backend: Backend) {
    let server = TestServer::start_with(backend, &[("SMS_PHONE_INTERVAL_SECS", "0")]).await;
    let victim = phone(412, 1);
    for i in 0..10 {
        let got = server.post("/api/auth/send-code", None, json!({ "phone": victim })).await;
        assert!(got.0.is_success(), "code {i}: {got:?}");
    }
    let (status, body) = server.call(Method::POST, "/api/auth/send-code", None, Some(json!({ "phone": victim }))).await;
    assert_eq!((status.as_u16(), body["code"].as_i64()), (429, Some(1004)), "{body}");
    // Another phone from the same address still gets its code.
    assert_ok(&server.post("/api/auth/send-code", None, json!({ "phone": phone(412, 2) })).await);
    server.assert_reconciled();
}

both_backends!(
    ten_wrong_codes_from_many_addresses_lock_the_phone_even_for_the_right_code,
    burning_a_code_does_not_lift_the_one_a_minute_rule,
    a_phone_gets_at_most_ten_codes_a_day,
);
