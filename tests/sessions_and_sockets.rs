//! Sessions and sockets end when their authority ends, attacked from outside:
//! - a socket is closed with 4003 within 1 s of logout, logout-all, refresh-token reuse, a ban or
//!   the loss of the merchant role, and at its access token's expiry; other sessions' sockets
//!   stay open;
//! - a refresh family lives at most `REFRESH_MAX_AGE_DAYS` from its sign-in however often it
//!   rotates; logout-all and a ban revoke every family; resetting an admin's password, or
//!   removing the admin, ends the admin's sessions;
//! - a client that stops reading while the server floods it is dropped (write timeout);
//! - housekeeping deletes expired families and refresh tokens;
//! - idempotency keys that differ only in case are two requests on both backends.

mod common;

use std::time::{Duration, Instant};

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The contract's bound on closing a socket after its authority is revoked.
const CLOSE_WITHIN: Duration = Duration::from_secs(1);
/// How long to listen for a close that must not come.
const QUIET: Duration = Duration::from_millis(1500);
const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// The socket is closed with 4003 before `deadline` (messages before the close are skipped).
async fn assert_closed_4003(ws: &mut WsClient, deadline: Instant, what: &str) {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match ws.next(left).await {
            WsEvent::Json(_) => continue,
            WsEvent::Closed(Some((4003, _))) => return,
            other => panic!("{what}: expected close 4003 within {CLOSE_WITHIN:?}, got {other:?}"),
        }
    }
}

/// The socket stays open (nothing but messages for `QUIET`).
async fn assert_open(ws: &mut WsClient, what: &str) {
    let deadline = Instant::now() + QUIET;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match ws.next(left).await {
            WsEvent::Json(_) => continue,
            WsEvent::Timeout => return,
            WsEvent::Closed(c) => panic!("{what}: the socket was closed: {c:?}"),
        }
    }
}

async fn refresh(server: &TestServer, refresh_token: &str) -> (StatusCode, Value) {
    server.post("/api/auth/refresh", None, json!({ "refresh_token": refresh_token })).await
}

/// Runs one statement against the server's database behind its back.
async fn sql(server: &TestServer, statement: &str, binds: &[Value]) -> u64 {
    let store = restaurant_lottery::store::Store::connect(&server.database_url, 1).await.expect("connect");
    let mut q = sqlx::query(statement);
    for b in binds {
        q = match b {
            Value::Number(n) => q.bind(n.as_i64().expect("integer")),
            Value::String(s) => q.bind(s.clone()),
            other => panic!("bind {other}"),
        };
    }
    let n = q.execute(store.pool()).await.expect(statement).rows_affected();
    store.pool().close().await;
    n
}

async fn count(server: &TestServer, query: &str, id: i64) -> i64 {
    let store = restaurant_lottery::store::Store::connect(&server.database_url, 1).await.expect("connect");
    let n: i64 = sqlx::query_scalar(query).bind(id).fetch_one(store.pool()).await.expect(query);
    store.pool().close().await;
    n
}

// ---------------------------------------------------------------------------------------------
// C2: sockets end with their authority
// ---------------------------------------------------------------------------------------------

/// Logout closes the sockets of that sign-in only; the same customer's other sign-in keeps its
/// socket, and the logged-out token opens no new one.
async fn logout_closes_that_sign_ins_sockets_within_a_second(backend: Backend) {
    let server = TestServer::start(backend).await;
    let mine = phone(401, 1);
    let phone_session = server.login(&mine).await;
    let tablet_session = server.login(&mine).await;
    let mut stolen = server.ws(&phone_session.token).await;
    let mut also_stolen = server.ws(&phone_session.token).await;
    let mut tablet = server.ws(&tablet_session.token).await;

    assert_ok(&server.post("/api/auth/logout", Some(&phone_session.token), json!({})).await);
    let deadline = Instant::now() + CLOSE_WITHIN;
    assert_closed_4003(&mut stolen, deadline, "the logged-out family's socket").await;
    assert_closed_4003(&mut also_stolen, deadline, "its second socket").await;
    assert_open(&mut tablet, "the other sign-in's socket").await;

    let refused = tokio_tungstenite::connect_async(format!("{}?token={}", server.ws_url(), phone_session.token)).await;
    assert!(refused.is_err(), "a logged-out token opens no socket");
    server.assert_reconciled();
}

/// `POST /api/auth/logout-all` revokes every family of the caller: every socket closes with
/// 4003, every access and refresh token stops working; another customer is untouched.
async fn logout_all_ends_every_session_and_socket(backend: Backend) {
    let server = TestServer::start(backend).await;
    let mine = phone(402, 1);
    let sessions = [server.login(&mine).await, server.login(&mine).await, server.login(&mine).await];
    let other = server.login(&phone(402, 2)).await;
    let mut sockets = Vec::new();
    for s in &sessions {
        sockets.push(server.ws(&s.token).await);
    }
    let mut bystander = server.ws(&other.token).await;

    assert_ok(&server.post("/api/auth/logout-all", Some(&sessions[1].token), json!({})).await);
    let deadline = Instant::now() + CLOSE_WITHIN;
    for ws in sockets.iter_mut() {
        assert_closed_4003(ws, deadline, "a socket of the signed-out customer").await;
    }
    for s in &sessions {
        assert_error(&server.get("/api/user/info", Some(&s.token)).await, 401, 2002);
        assert_error(&refresh(&server, &s.refresh).await, 401, 2000);
    }
    assert_error(&server.post("/api/auth/logout-all", None, json!({})).await, 401, 2001);
    assert_open(&mut bystander, "another customer's socket").await;
    assert_ok(&server.get("/api/user/info", Some(&other.token)).await);
    assert_ok(&refresh(&server, &other.refresh).await);
    server.assert_reconciled();
}

/// A refresh token presented twice revokes its family; the sockets that family opened close
/// with 4003 at once.
async fn refresh_reuse_closes_the_familys_sockets(backend: Backend) {
    let server = TestServer::start(backend).await;
    let victim = server.login(&phone(403, 1)).await;
    let mut ws = server.ws(&victim.token).await;
    assert_ok(&refresh(&server, &victim.refresh).await);
    assert_open(&mut ws, "a rotation alone closes nothing").await;

    assert_error(&refresh(&server, &victim.refresh).await, 401, 2000);
    assert_closed_4003(&mut ws, Instant::now() + CLOSE_WITHIN, "the reused family's socket").await;
    server.assert_reconciled();
}

/// A ban closes every socket of the customer and revokes every family, so lifting the ban does
/// not revive a stolen session.
async fn a_ban_closes_every_socket_and_revokes_every_family(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let mine = phone(404, 1);
    let (a, b) = (server.login(&mine).await, server.login(&mine).await);
    let (mut ws_a, mut ws_b) = (server.ws(&a.token).await, server.ws(&b.token).await);

    let ban = format!("/api/admin/users/{}/ban", a.user_id);
    assert_ok(&server.post(&ban, Some(&admin), json!({ "banned": true })).await);
    let deadline = Instant::now() + CLOSE_WITHIN;
    assert_closed_4003(&mut ws_a, deadline, "the banned customer's first socket").await;
    assert_closed_4003(&mut ws_b, deadline, "the banned customer's second socket").await;

    assert_ok(&server.post(&ban, Some(&admin), json!({ "banned": false })).await);
    for s in [&a, &b] {
        assert_error(&server.get("/api/user/info", Some(&s.token)).await, 401, 2002);
        assert_error(&refresh(&server, &s.refresh).await, 401, 2000);
    }
    let again = server.login(&mine).await;
    assert_ok(&server.get("/api/user/info", Some(&again.token)).await);
    server.assert_reconciled();
}

async fn set_role(server: &TestServer, admin: &str, id: i64, on: bool) -> (StatusCode, Value) {
    server.post(&format!("/api/admin/users/{id}/merchant"), Some(admin), json!({ "is_merchant": on })).await
}

/// A merchant who loses the role has their open sockets closed with 4003 and hears of no new
/// receipt afterwards, while another merchant still does.
async fn losing_the_merchant_role_closes_the_merchants_sockets(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let demoted = server.login(&phone(405, 1)).await;
    let kept = server.login(&phone(405, 2)).await;
    let customer = server.login(&phone(405, 3)).await;
    assert_ok(&set_role(&server, &admin, demoted.user_id, true).await);
    assert_ok(&set_role(&server, &admin, kept.user_id, true).await);
    let mut ws_demoted = server.ws(&demoted.token).await;
    let mut ws_kept = server.ws(&kept.token).await;

    assert_ok(&set_role(&server, &admin, demoted.user_id, false).await);
    assert_closed_4003(&mut ws_demoted, Instant::now() + CLOSE_WITHIN, "the demoted merchant's socket").await;

    // Reconnected as a customer: no `new_review` with the customer's receipt photo.
    let mut ws_demoted = server.ws(&demoted.token).await;
    let mut receipt = vec![0xFF, 0xD8, 0xFF, 0xE0];
    receipt.extend(b" receipt for the demoted merchant test ");
    receipt.extend(0..=255u8);
    let form = reqwest::multipart::Form::new().text("amount", "66.00").part(
        "photo",
        reqwest::multipart::Part::bytes(receipt).file_name("receipt.jpg").mime_str("image/jpeg").expect("mime"),
    );
    let resp = server
        .http
        .post(server.url("/api/photo/upload"))
        .bearer_auth(&customer.token)
        .multipart(form)
        .send()
        .await
        .expect("upload");
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(ws_kept.next_of("new_review", Duration::from_secs(5)).await.is_some(), "a merchant still hears of it");
    let got = ws_demoted.drain(QUIET).await;
    assert!(got.iter().all(|m| m["type"] != "new_review"), "the demoted merchant got new_review: {got:?}");
    server.assert_reconciled();
}

/// A socket is closed with 4003 when the access token that opened it expires.
async fn a_socket_closes_when_its_access_token_expires(backend: Backend) {
    let server = TestServer::start_with(backend, &[("ACCESS_TTL_SECS", "2")]).await;
    let (status, body) =
        server.post("/api/auth/login", None, json!({ "phone": phone(406, 1), "code": "123456" })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["expires_in"].as_i64(), Some(2), "{body}");
    let token = body["data"]["access_token"].as_str().expect("access_token").to_string();
    let mut ws = server.ws(&token).await;
    // Issued within the last second; expires two seconds after issue, closed at expiry.
    assert_closed_4003(&mut ws, Instant::now() + Duration::from_secs(2) + CLOSE_WITHIN, "an expired token's socket")
        .await;
    server.assert_reconciled();
}

// ---------------------------------------------------------------------------------------------
// C10: sessions end
// ---------------------------------------------------------------------------------------------

/// A family rotated every day still dies `REFRESH_MAX_AGE_DAYS` after its sign-in.
async fn a_refresh_family_dies_at_its_maximum_age_however_often_it_rotates(backend: Backend) {
    let server = TestServer::start_with(backend, &[("REFRESH_MAX_AGE_DAYS", "30")]).await;
    let c = server.login(&phone(407, 1)).await;
    let backdate =
        "UPDATE token_families SET created_at = created_at - ? WHERE subject_kind = 'user' AND subject_id = ?";
    assert_eq!(sql(&server, backdate, &[json!(29 * DAY_MS), json!(c.user_id)]).await, 1);
    let rotated = assert_ok(&refresh(&server, &c.refresh).await);
    let next = rotated["refresh_token"].as_str().expect("refresh_token").to_string();
    assert_eq!(sql(&server, backdate, &[json!(DAY_MS), json!(c.user_id)]).await, 1);
    assert_error(&refresh(&server, &next).await, 401, 2000);
    // A fresh sign-in is a fresh family.
    let again = server.login(&c.phone).await;
    assert_ok(&refresh(&server, &again.refresh).await);
    server.assert_reconciled();
}

/// Running `create-admin` again for an existing admin (a password reset) ends that admin's
/// sessions: the old access token is refused within seconds and its refresh token at once.
async fn an_admin_password_reset_ends_the_admins_sessions(backend: Backend) {
    let server = TestServer::start(backend).await;
    let first = server.admin().await;
    let (status, body) =
        server.post("/api/auth/admin-login", None, json!({ "username": ADMIN_USER, "password": ADMIN_PASSWORD })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let second_refresh = body["data"]["refresh_token"].as_str().expect("refresh_token").to_string();
    assert_ok(&server.get("/api/admin/users", Some(&first)).await);

    let (ok, out) = server.cli(&["create-admin", "--username", ADMIN_USER, "--password", "a-new-long-password"], None);
    assert!(ok, "create-admin: {out}");
    assert_error(&refresh(&server, &second_refresh).await, 401, 2000);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let got = server.get("/api/admin/users", Some(&first)).await;
        if got.0 == StatusCode::UNAUTHORIZED {
            assert_error(&got, 401, 2002);
            break;
        }
        assert!(Instant::now() < deadline, "the old admin token still works: {}", got.1);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (status, body) = server
        .post("/api/auth/admin-login", None, json!({ "username": ADMIN_USER, "password": "a-new-long-password" }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let fresh = body["data"]["access_token"].as_str().expect("access_token");
    assert_ok(&server.get("/api/admin/users", Some(fresh)).await);
    server.assert_reconciled();
}

/// The token of an admin who no longer exists is refused.
async fn a_removed_admins_token_is_refused(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    assert_ok(&server.get("/api/admin/users", Some(&admin)).await);
    assert_eq!(sql(&server, "DELETE FROM admins WHERE username = ?", &[json!(ADMIN_USER)]).await, 1);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let got = server.get("/api/admin/users", Some(&admin)).await;
        if got.0 == StatusCode::UNAUTHORIZED {
            assert_error(&got, 401, 2002);
            break;
        }
        assert!(Instant::now() < deadline, "a removed admin's token still works: {}", got.1);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    server.assert_reconciled();
}

// ---------------------------------------------------------------------------------------------
// C15: a client that stops reading
// ---------------------------------------------------------------------------------------------

/// One masked client text frame (clients must mask).
fn client_frame(text: &[u8]) -> Vec<u8> {
    assert!(text.len() < 126);
    let mask = [0x37, 0xfa, 0x21, 0x3d];
    let mut frame = vec![0x81, 0x80 | text.len() as u8];
    frame.extend(mask);
    frame.extend(text.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

/// A raw client completes the upgrade with a tiny receive buffer, then never reads while it
/// makes the server answer tens of thousands of pings and restocks flood every socket. The
/// server drops it after its write timeout (the connection is reset), and stays healthy.
async fn a_client_that_stops_reading_is_dropped(backend: Backend) {
    let server = TestServer::start_with(backend, &[("WS_WRITE_TIMEOUT_SECS", "1")]).await;
    let admin = server.admin().await;
    let c = server.login(&phone(408, 1)).await;
    let addr: std::net::SocketAddr =
        server.url("").trim_start_matches("http://").trim_end_matches('/').parse().expect("address");
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("small receive buffer");
    let mut stream = socket.connect(addr).await.expect("connect");
    let request = format!(
        "GET /ws?token={} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        c.token
    );
    stream.write_all(request.as_bytes()).await.expect("upgrade request");
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        assert_eq!(stream.read(&mut byte).await.expect("upgrade answer"), 1, "closed during the upgrade");
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&head));

    // From here on the client only writes.
    let (_reader, mut writer) = stream.into_split();
    let flood = tokio::spawn(async move {
        let ping = client_frame(br#"{"type":"ping"}"#);
        let mut burst = Vec::new();
        for _ in 0..256 {
            burst.extend_from_slice(&ping);
        }
        loop {
            if let Err(e) = writer.write_all(&burst).await {
                return e;
            }
        }
    });
    let (_, products) = server.get("/api/exchange/products", Some(&c.token)).await;
    let ids: Vec<i64> =
        products["data"]["products"].as_array().into_iter().flatten().filter_map(|p| p["id"].as_i64()).collect();
    assert!(!ids.is_empty(), "the demo shop has products: {products}");
    for round in 0..5 {
        for id in &ids {
            let restock = format!("/api/admin/products/{id}/restock");
            assert_ok(&server.post(&restock, Some(&admin), json!({ "quantity": 1 + round })).await);
        }
    }

    let dropped = tokio::time::timeout(Duration::from_secs(20), flood).await;
    let error = dropped.expect("the server never dropped a client that stopped reading").expect("flood task");
    assert!(
        matches!(error.kind(), std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe),
        "the connection ended with {error:?}"
    );
    // The server is fine and a well-behaved client still gets its socket.
    let mut ws = server.ws(&c.token).await;
    ws.send_json(json!({ "type": "ping" })).await;
    assert!(ws.next_of("pong", Duration::from_secs(5)).await.is_some());
    server.assert_reconciled();
}

// ---------------------------------------------------------------------------------------------
// C17: expired token state is deleted
// ---------------------------------------------------------------------------------------------

/// Families and refresh tokens whose time has passed are deleted by housekeeping (which also
/// runs at start); live sessions are untouched.
async fn housekeeping_deletes_expired_families_and_refresh_tokens(backend: Backend) {
    let mut server = TestServer::start(backend).await;
    let old = server.login(&phone(409, 1)).await;
    assert_ok(&refresh(&server, &old.refresh).await);
    assert_ok(&server.post("/api/auth/logout", Some(&old.token), json!({})).await);
    let live = server.login(&phone(409, 2)).await;
    let families = "SELECT COUNT(*) FROM token_families WHERE subject_kind = 'user' AND subject_id = ?";
    let tokens = "SELECT COUNT(*) FROM refresh_tokens WHERE family_id IN \
                  (SELECT family_id FROM token_families WHERE subject_kind = 'user' AND subject_id = ?)";
    assert_eq!(count(&server, families, old.user_id).await, 1);
    assert_eq!(count(&server, tokens, old.user_id).await, 2);
    // Long past: every token of the family expired.
    sql(
        &server,
        "UPDATE refresh_tokens SET expires_at = 1 WHERE family_id IN \
         (SELECT family_id FROM token_families WHERE subject_kind = 'user' AND subject_id = ?)",
        &[json!(old.user_id)],
    )
    .await;
    sql(
        &server,
        "UPDATE token_families SET expires_at = 1 WHERE subject_kind = 'user' AND subject_id = ?",
        &[json!(old.user_id)],
    )
    .await;

    server.start_again().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while count(&server, families, old.user_id).await > 0 {
        assert!(Instant::now() < deadline, "the expired family is still stored");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let orphans = "SELECT COUNT(*) FROM refresh_tokens WHERE expires_at < ?";
    assert_eq!(count(&server, orphans, 2).await, 0, "expired refresh tokens are deleted");
    assert_eq!(count(&server, families, live.user_id).await, 1);
    assert_ok(&refresh(&server, &live.refresh).await);
    server.assert_reconciled();
}

// ---------------------------------------------------------------------------------------------
// C18: idempotency keys are case-sensitive everywhere
// ---------------------------------------------------------------------------------------------

async fn draw_with_key(server: &TestServer, c: &Customer, key: &str) -> Value {
    let got = server
        .call_with(
            reqwest::Method::POST,
            "/api/lottery/draw",
            Some(&c.token),
            Some(json!({ "draw_type": "single" })),
            &[("Idempotency-Key", key)],
        )
        .await;
    assert_ok(&got)
}

fn draw_id(data: &Value) -> i64 {
    data["results"][0]["draw_id"].as_i64().unwrap_or_else(|| panic!("draw_id in {data}"))
}

/// Two keys that differ only in case are two draws, charged twice, and each replays its own
/// result, also after a restart (when the answer comes from the database, not the cache).
async fn idempotency_keys_that_differ_in_case_are_different_requests(backend: Backend) {
    let mut server = TestServer::start(backend).await;
    let c = server.login(&phone(410, 1)).await;
    let upper = draw_with_key(&server, &c, "Q2FzZS1LZXk=").await;
    let lower = draw_with_key(&server, &c, "q2FzZS1LZXk=").await;
    assert_ne!(draw_id(&upper), draw_id(&lower), "two keys, two draws");
    assert_eq!(
        lower["remaining_points"].as_i64(),
        Some(upper["remaining_points"].as_i64().expect("remaining_points") - 100 + points(&lower)),
        "{upper}\n{lower}"
    );

    server.kill9();
    server.start_again().await;
    assert_eq!(draw_id(&draw_with_key(&server, &c, "Q2FzZS1LZXk=").await), draw_id(&upper));
    assert_eq!(draw_id(&draw_with_key(&server, &c, "q2FzZS1LZXk=").await), draw_id(&lower));
    server.assert_reconciled();
}

/// Points a single draw won (0 for anything but a points prize).
fn points(data: &Value) -> i64 {
    let r = &data["results"][0];
    if r["prize_type"] == "points" {
        r["prize_value"].as_i64().expect("prize_value")
    } else {
        0
    }
}

both_backends!(
    logout_closes_that_sign_ins_sockets_within_a_second,
    logout_all_ends_every_session_and_socket,
    refresh_reuse_closes_the_familys_sockets,
    a_ban_closes_every_socket_and_revokes_every_family,
    losing_the_merchant_role_closes_the_merchants_sockets,
    a_socket_closes_when_its_access_token_expires,
    a_refresh_family_dies_at_its_maximum_age_however_often_it_rotates,
    an_admin_password_reset_ends_the_admins_sessions,
    a_removed_admins_token_is_refused,
    a_client_that_stops_reading_is_dropped,
    housekeeping_deletes_expired_families_and_refresh_tokens,
    idempotency_keys_that_differ_in_case_are_different_requests,
);
