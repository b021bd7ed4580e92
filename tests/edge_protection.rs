//! Attacks on the edge, performed against the real server: admin password guessing and argon2
//! floods, spoofed client addresses, and the operator's defaults. Each test ends with
//! `reconcile`.

mod common;

use common::*;
use reqwest::header::RETRY_AFTER;
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn admin_login(server: &TestServer, username: &str, password: &str) -> (StatusCode, Option<u64>, Value) {
    let resp = server
        .http
        .post(server.url("/api/auth/admin-login"))
        .json(&json!({ "username": username, "password": password }))
        .send()
        .await
        .expect("admin-login");
    let status = resp.status();
    let retry = resp.headers().get(RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
    (status, retry, resp.json().await.expect("JSON body"))
}

async fn five_wrong_admin_passwords_lock_the_username_even_for_the_right_one(backend: Backend) {
    let server = TestServer::start(backend).await;
    server.admin().await;
    for i in 0..5 {
        let (status, _, body) = admin_login(&server, ADMIN_USER, &format!("guess-number-{i}")).await;
        assert_eq!((status.as_u16(), body["code"].as_i64()), (401, Some(2002)), "guess {i}: {body}");
    }
    let (status, retry, body) = admin_login(&server, ADMIN_USER, ADMIN_PASSWORD).await;
    assert_eq!((status.as_u16(), body["code"].as_i64()), (429, Some(2006)), "{body}");
    assert!(retry.is_some_and(|s| (800..=900).contains(&s)), "Retry-After {retry:?}");
    assert!(body["data"].is_null(), "no token while locked: {body}");

    // An unknown username answers like a wrong password, and locks the same way.
    for i in 0..5 {
        let (status, _, body) = admin_login(&server, "nobody-here", &format!("guess-{i}")).await;
        assert_eq!((status.as_u16(), body["code"].as_i64()), (401, Some(2002)), "{body}");
    }
    let (status, _, body) = admin_login(&server, "nobody-here", "guess-6").await;
    assert_eq!((status.as_u16(), body["code"].as_i64()), (429, Some(2006)), "{body}");
    server.assert_reconciled();
}

async fn a_flood_of_admin_sign_ins_is_shed_with_9002_not_queued(backend: Backend) {
    let server = TestServer::start(backend).await;
    server.admin().await;
    // Distinct usernames, so the lockout stays out of the way; only the hashing bound answers.
    let attempts = (0..48).map(|i| {
        let server = &server;
        async move { admin_login(server, &format!("flood-{i}"), "wrong-password-123").await }
    });
    let answers = futures_util::future::join_all(attempts).await;
    let mut shed = 0;
    for (status, retry, body) in &answers {
        match body["code"].as_i64() {
            Some(2002) => assert_eq!(status.as_u16(), 401),
            Some(9002) => {
                assert_eq!((status.as_u16(), *retry), (503, Some(1)), "{body}");
                shed += 1;
            }
            other => panic!("unexpected {status} {other:?}: {body}"),
        }
    }
    assert!(shed > 0, "48 parallel password checks on a few cores must shed some");
    // The server is still fine afterwards.
    let (status, _, _) = admin_login(&server, ADMIN_USER, ADMIN_PASSWORD).await;
    assert_eq!(status, StatusCode::OK);
    server.assert_reconciled();
}

both_backends!(
    five_wrong_admin_passwords_lock_the_username_even_for_the_right_one,
    a_flood_of_admin_sign_ins_is_shed_with_9002_not_queued,
);
