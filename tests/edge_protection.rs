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

/// Behind one proxy, a client that writes a fresh `X-Forwarded-For` on every request still counts
/// as the address the proxy appended (the right-most entry).
async fn spoofed_forwarded_for_entries_do_not_escape_the_per_ip_limit(backend: Backend) {
    let server =
        TestServer::start_with(backend, &[("RATE_LIMIT_PER_IP_PER_MIN", "5"), ("TRUST_PROXY_HOPS", "1")]).await;
    let mut codes = vec![];
    for i in 0..8 {
        let xff = format!("10.{i}.{i}.{i}, 172.16.0.{i}, 203.0.113.7");
        let (_, body) =
            server.call_with(reqwest::Method::GET, "/api/user/info", None, None, &[("x-forwarded-for", &xff)]).await;
        codes.push(body["code"].as_i64());
    }
    assert_eq!(&codes[..5], &[Some(2001); 5], "{codes:?}");
    assert_eq!(&codes[5..], &[Some(9001); 3], "spoofed left-most entries must not reset the limit: {codes:?}");
    // Another real client (another right-most entry) has its own budget.
    let (_, body) = server
        .call_with(
            reqwest::Method::GET,
            "/api/user/info",
            None,
            None,
            &[("x-forwarded-for", "203.0.113.7, 198.51.100.9")],
        )
        .await;
    assert_eq!(body["code"].as_i64(), Some(2001), "{body}");
    // IPv6 clients count per /64: rotating the interface id buys nothing.
    let mut v6 = vec![];
    for i in 0..7 {
        let xff = format!("2001:db8:77:1:{i:x}::{i:x}");
        let (_, body) =
            server.call_with(reqwest::Method::GET, "/api/user/info", None, None, &[("x-forwarded-for", &xff)]).await;
        v6.push(body["code"].as_i64());
    }
    assert_eq!(&v6[5..], &[Some(9001); 2], "{v6:?}");
    server.assert_reconciled();
}

/// Invented methods all count as `OTHER`; `/metrics` answers loopback or the token only.
async fn metrics_keep_a_fixed_method_set_and_answer_only_loopback_or_the_token(backend: Backend) {
    let token = "metrics-scrape-token-4f7c2a9d";
    let server = TestServer::start_with(backend, &[("TRUST_PROXY_HOPS", "1"), ("METRICS_TOKEN", token)]).await;
    for i in 0..20 {
        let method = reqwest::Method::from_bytes(format!("AAAA{i}").as_bytes()).expect("a method token");
        let _ = server.http.request(method, server.url("/api/user/info")).send().await.expect("request");
    }
    let text = server.http.get(server.url("/metrics")).send().await.expect("metrics").text().await.expect("text");
    assert!(!text.contains("AAAA"), "invented methods must not become labels:\n{text}");
    assert!(text.contains("method=\"OTHER\""), "{text}");

    // A client outside (as the proxy reports it) gets nothing without the token.
    let outside = |auth: Option<&str>| {
        let mut req = server.http.get(server.url("/metrics")).header("x-forwarded-for", "203.0.113.9");
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        req.send()
    };
    let resp = outside(None).await.expect("metrics");
    assert_eq!(resp.status().as_u16(), 401);
    assert_eq!(resp.json::<Value>().await.expect("JSON")["code"].as_i64(), Some(2001));
    let resp = outside(Some("Bearer not-the-token")).await.expect("metrics");
    assert_eq!(resp.status().as_u16(), 401);
    assert_eq!(resp.json::<Value>().await.expect("JSON")["code"].as_i64(), Some(2002));
    let resp = outside(Some(&format!("Bearer {token}"))).await.expect("metrics");
    assert_eq!(resp.status().as_u16(), 200);
    assert!(resp.text().await.expect("text").contains("http_requests_total"));
    server.assert_reconciled();
}

/// `/ws`, `/health` and `/files` share the per-IP budget with the API.
async fn the_socket_health_and_files_are_behind_the_per_ip_limit(backend: Backend) {
    let server = TestServer::start_with(backend, &[("RATE_LIMIT_PER_IP_PER_MIN", "3")]).await;
    for _ in 0..3 {
        assert_ok(&server.get("/health", None).await);
    }
    assert_error(&server.get("/health", None).await, 429, 9001);
    assert_error(&server.get("/ws?token=x", None).await, 429, 9001);
    assert_error(&server.get("/files/receipts/x.jpg?e=1&s=x", None).await, 429, 9001);
    server.assert_reconciled();
}

/// A client that never finishes its headers is cut off after `HTTP_HEADER_TIMEOUT_SECS`.
async fn a_client_that_never_finishes_its_headers_is_disconnected(backend: Backend) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = TestServer::start_with(backend, &[("HTTP_HEADER_TIMEOUT_SECS", "1")]).await;
    let addr = server.base.trim_start_matches("http://").to_string();
    let mut slow = tokio::net::TcpStream::connect(&addr).await.expect("connect");
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ").await.expect("write");
    let started = std::time::Instant::now();
    let mut buf = [0u8; 1024];
    // Whatever hyper writes first (a 408 or nothing), the connection ends.
    let closed = tokio::time::timeout(std::time::Duration::from_secs(6), async {
        loop {
            match slow.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => continue,
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the connection was still open after 6 s");
    assert!(started.elapsed() >= std::time::Duration::from_millis(800), "closed too early: {:?}", started.elapsed());
    // Everybody else is served as usual.
    assert_ok(&server.get("/health", None).await);
    server.assert_reconciled();
}

/// With `MAX_IN_FLIGHT=4`, a burst of draws gets 9002 at once for what is over the bound, and a
/// refused draw never runs later: its customer keeps every point.
async fn a_burst_over_max_in_flight_is_refused_at_once_and_never_runs_later(backend: Backend) {
    let server = TestServer::start_with(backend, &[("MAX_IN_FLIGHT", "4"), ("DRAW_LIMIT_PER_MIN", "1000")]).await;
    let mut customers = Vec::new();
    for i in 0..40 {
        customers.push(server.login(&phone(420, i)).await);
    }
    // One at a time: the bound applies to the test's own calls too.
    let mut before = Vec::new();
    for c in &customers {
        before.push(server.balance(c).await);
    }
    let draws = customers.iter().map(|c| {
        let server = &server;
        async move {
            let started = std::time::Instant::now();
            let resp = server
                .http
                .post(server.url("/api/lottery/draw"))
                .bearer_auth(&c.token)
                .json(&json!({ "count": 1 }))
                .send()
                .await
                .expect("draw");
            let status = resp.status();
            let retry = resp.headers().get(RETRY_AFTER).and_then(|v| v.to_str().ok().map(str::to_string));
            let body: Value = resp.json().await.expect("JSON");
            (status, retry, body, started.elapsed())
        }
    });
    let answers = futures_util::future::join_all(draws).await;
    let mut refused = vec![];
    for (i, (status, retry, body, took)) in answers.iter().enumerate() {
        match body["code"].as_i64() {
            Some(0) => {}
            Some(9002) => {
                assert_eq!((status.as_u16(), retry.as_deref()), (503, Some("1")), "{body}");
                assert!(*took < std::time::Duration::from_secs(2), "9002 must come at once, took {took:?}");
                refused.push(i);
            }
            other => panic!("draw {i}: {status} {other:?} {body}"),
        }
    }
    assert!(!refused.is_empty(), "40 draws at once over a bound of 4 must refuse some");
    // Nothing a refused request carried runs later.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    for i in refused {
        assert_eq!(server.balance(&customers[i]).await, before[i], "refused draw {i} changed the balance");
    }
    server.assert_reconciled();
}

/// Reads one HTTP/1.1 response with a `Content-Length` from `stream`; returns its status line.
async fn read_response(stream: &mut tokio::net::TcpStream) -> String {
    use tokio::io::AsyncReadExt;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = stream.read(&mut byte).await.expect("read");
        assert!(n == 1, "disconnected without a response after {:?}", String::from_utf8_lossy(&head));
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_string();
    let length: usize = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap_or(0)))
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).await.expect("body");
    head.lines().next().unwrap_or_default().to_string()
}

/// Several POSTs with bodies to unknown routes on one keep-alive connection each get their 404,
/// and the connection stays usable for the next.
async fn a_404_to_an_unread_post_body_keeps_the_connection_usable(backend: Backend) {
    use tokio::io::AsyncWriteExt;
    let server = TestServer::start(backend).await;
    let addr = server.base.trim_start_matches("http://").to_string();
    let mut conn = tokio::net::TcpStream::connect(&addr).await.expect("connect");
    let body = format!("{{\"pad\":\"{}\"}}", "x".repeat(20_000));
    for (i, path) in ["/api/nowhere", "/nothing/here", "/api/auth/verify-token", "/api/nowhere/else"].iter().enumerate()
    {
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        conn.write_all(request.as_bytes()).await.expect("write");
        let status = read_response(&mut conn).await;
        assert!(status.contains(" 404 ") || status.contains(" 405 "), "request {i} to {path}: {status}");
    }
    conn.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n").await.expect("write");
    assert!(read_response(&mut conn).await.contains(" 200 "));
    server.assert_reconciled();
}

both_backends!(
    a_404_to_an_unread_post_body_keeps_the_connection_usable,
    a_client_that_never_finishes_its_headers_is_disconnected,
    a_burst_over_max_in_flight_is_refused_at_once_and_never_runs_later,
    metrics_keep_a_fixed_method_set_and_answer_only_loopback_or_the_token,
    the_socket_health_and_files_are_behind_the_per_ip_limit,
    spoofed_forwarded_for_entries_do_not_escape_the_per_ip_limit,
    five_wrong_admin_passwords_lock_the_username_even_for_the_right_one,
    a_flood_of_admin_sign_ins_is_shed_with_9002_not_queued,
);
