//! `GET /ws` as the mini-program sees it: token auth in the query or a Bearer header (a bad one
//! refuses the upgrade with 401), the `connected` greeting, the envelope of every server message,
//! ping/pong, errors for bad client messages that keep the socket open, what a draw pushes to
//! the drawer (with the ledger's own wording) and to everyone else (masked wins, prize stock),
//! admin points adjustments, the three-sockets-per-customer rule, closing silent clients, and
//! 1001 on shutdown.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::*;
use futures_util::SinkExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

const WAIT: Duration = Duration::from_secs(5);
/// How long to listen for something that must not arrive.
const QUIET: Duration = Duration::from_millis(1500);

fn masked(phone: &str) -> String {
    format!("{}****{}", &phone[..3], &phone[7..])
}

fn is_iso(v: &Value) -> bool {
    v.as_str().is_some_and(|s| chrono::DateTime::parse_from_rfc3339(s).is_ok())
}

/// Every server message is `{type, data, timestamp (ISO 8601), message_id}`.
#[track_caller]
fn assert_envelope(v: &Value) {
    assert!(v["type"].as_str().is_some_and(|t| !t.is_empty()), "type in {v}");
    assert!(v.get("data").is_some_and(|d| !d.is_null()), "data in {v}");
    assert!(is_iso(&v["timestamp"]), "timestamp in {v}");
    let id = &v["message_id"];
    assert!(id.as_str().is_some_and(|s| !s.is_empty()) || id.is_u64(), "message_id in {v}");
}

/// The next message of `kind`, envelope checked; panics when it does not come in time.
async fn expect(ws: &mut WsClient, kind: &str) -> Value {
    let v = ws.next_of(kind, WAIT).await.unwrap_or_else(|| panic!("no `{kind}` message within {WAIT:?}"));
    assert_envelope(&v);
    v
}

/// Waits for one wheel prize's stock to be announced as `stock_left`. Stock values are
/// coalesced and flushed periodically, so a socket that connected just after an earlier change
/// may first get that earlier (then still latest) value; other prizes' updates are skipped too.
async fn expect_prize_stock(ws: &mut WsClient, prize_id: i64, stock_left: i64) -> Value {
    loop {
        let v = expect(ws, "prize_stock_update").await;
        if v["data"]["prize_id"].as_i64() == Some(prize_id) && v["data"]["stock_left"].as_i64() == Some(stock_left) {
            return v;
        }
    }
}

/// Everything that arrives within `window`, envelopes checked.
async fn drain(ws: &mut WsClient, window: Duration) -> Vec<Value> {
    let got = ws.drain(window).await;
    for v in &got {
        assert_envelope(v);
    }
    got
}

fn of_type<'a>(msgs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    msgs.iter().filter(|m| m["type"] == kind).collect()
}

async fn ping_pong(ws: &mut WsClient) {
    ws.send_json(json!({ "type": "ping" })).await;
    let pong = expect(ws, "pong").await;
    assert!(is_iso(&pong["data"]["server_time"]), "{pong}");
}

/// Waits until the socket closes; returns the close code and reason.
async fn closed(ws: &mut WsClient, timeout: Duration) -> Option<(u16, String)> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match ws.next(left).await {
            WsEvent::Json(_) => continue,
            WsEvent::Closed(frame) => return frame,
            WsEvent::Timeout => panic!("the socket was not closed within {timeout:?}"),
        }
    }
}

async fn force_wheel(server: &TestServer, admin: &str, edit: impl Fn(&mut Value)) {
    let data = assert_ok(&server.get("/api/admin/lottery/prizes", Some(admin)).await);
    let mut prizes = data["prizes"].as_array().expect("prizes").clone();
    for p in &mut prizes {
        edit(p);
    }
    assert_ok(&server.put("/api/admin/lottery/prizes", Some(admin), json!({ "prizes": prizes })).await);
}

async fn draw(server: &TestServer, c: &Customer, draw_type: &str) -> Value {
    assert_ok(&server.post("/api/lottery/draw", Some(&c.token), json!({ "draw_type": draw_type })).await)
}

async fn a_query_token_or_a_bearer_header_opens_the_socket_with_a_greeting(backend: Backend) {
    let server = TestServer::start(backend).await;
    let c = server.login(&phone(370, 1)).await;

    let (stream, _) = tokio_tungstenite::connect_async(format!("{}?token={}", server.ws_url(), c.token))
        .await
        .expect("connect with ?token=");
    let mut by_query = WsClient { stream };
    let mut req = server.ws_url().into_client_request().expect("request");
    req.headers_mut().insert("Authorization", format!("Bearer {}", c.token).parse().unwrap());
    let (stream, _) = tokio_tungstenite::connect_async(req).await.expect("connect with a Bearer header");
    let mut by_header = WsClient { stream };

    let mut ids = HashSet::new();
    for ws in [&mut by_query, &mut by_header] {
        let first = match ws.next(WAIT).await {
            WsEvent::Json(v) => v,
            other => panic!("expected `connected` first, got {other:?}"),
        };
        assert_envelope(&first);
        assert_eq!(first["type"], json!("connected"), "{first}");
        assert_eq!(first["data"]["user_id"].as_i64(), Some(c.user_id), "{first}");
        assert!(is_iso(&first["data"]["server_time"]), "{first}");
        assert!(ids.insert(first["message_id"].to_string()), "message ids are unique");
        ping_pong(ws).await;
    }
}

async fn a_bad_or_missing_token_refuses_the_upgrade_with_401(backend: Backend) {
    let server = TestServer::start(backend).await;
    let c = server.login(&phone(371, 1)).await;
    let tampered = format!("{}x", c.token);
    let urls = [
        server.ws_url(),
        format!("{}?token=", server.ws_url()),
        format!("{}?token=not-a-jwt", server.ws_url()),
        format!("{}?token={tampered}", server.ws_url()),
        // A refresh token is not an access token.
        format!("{}?token={}", server.ws_url(), c.refresh),
    ];
    for url in urls {
        match tokio_tungstenite::connect_async(url.as_str()).await {
            Err(WsError::Http(resp)) => {
                assert_eq!(resp.status().as_u16(), 401, "{url}");
                let body: Value = serde_json::from_slice(resp.body().as_deref().unwrap_or_default())
                    .unwrap_or_else(|_| panic!("a JSON envelope for {url}"));
                assert!([2001, 2002].contains(&body["code"].as_i64().unwrap_or_default()), "{url}: {body}");
            }
            Ok(_) => panic!("{url}: the upgrade must be refused"),
            Err(e) => panic!("{url}: expected an HTTP 401, got {e}"),
        }
    }
    let mut req = server.ws_url().into_client_request().unwrap();
    req.headers_mut().insert("Authorization", "Bearer garbage".parse().unwrap());
    match tokio_tungstenite::connect_async(req).await {
        Err(WsError::Http(resp)) => assert_eq!(resp.status().as_u16(), 401),
        other => panic!("a bad Bearer header must be refused with 401, got {:?}", other.map(|_| ())),
    }
}

async fn pings_get_pongs_and_bad_messages_get_errors_without_closing(backend: Backend) {
    let server = TestServer::start(backend).await;
    let c = server.login(&phone(372, 1)).await;
    let mut ws = server.ws(&c.token).await;
    ping_pong(&mut ws).await;
    let bad: Vec<Message> = vec![
        Message::Text("this is not json".into()),
        Message::Text("{\"type\":".into()),
        Message::Text(json!({ "type": "dance" }).to_string().into()),
        Message::Text(json!({ "hello": "world" }).to_string().into()),
        Message::Text(json!([1, 2, 3]).to_string().into()),
        Message::Binary(vec![0u8, 159, 146, 150].into()),
    ];
    for m in bad {
        let shown = format!("{m:?}");
        ws.stream.send(m).await.expect("send");
        let err = expect(&mut ws, "error").await;
        assert_eq!(err["data"]["code"].as_i64(), Some(1003), "{shown}: {err}");
        assert!(err["data"]["msg"].as_str().is_some_and(|m| !m.is_empty()), "{shown}: {err}");
        // Still open and answering.
        ping_pong(&mut ws).await;
    }
}

async fn a_draw_pushes_the_balance_and_each_result_to_the_drawer_only(backend: Backend) {
    let server = TestServer::start(backend).await;
    let a = server.login(&phone(373, 1)).await;
    let b = server.login(&phone(373, 2)).await;
    let mut wa = server.ws(&a.token).await;
    let mut wb = server.ws(&b.token).await;

    let data = draw(&server, &a, "triple").await;
    let results = data["results"].as_array().unwrap().clone();
    let remaining = data["remaining_points"].as_i64().unwrap();
    let won: i64 =
        results.iter().filter(|r| r["prize_type"] == "points").map(|r| r["prize_value"].as_i64().unwrap()).sum();

    let update = expect(&mut wa, "points_update").await;
    let d = &update["data"];
    assert_eq!(d["user_id"].as_i64(), Some(a.user_id), "{update}");
    assert_eq!(d["total_points"].as_i64(), Some(remaining), "{update}");
    assert_eq!(d["change_points"].as_i64(), Some(won - 300), "{update}");
    assert!(d.get("reason").is_some() && d.get("operation_id").is_some(), "{update}");
    let mut pushed = Vec::new();
    for _ in 0..3 {
        pushed.push(expect(&mut wa, "lottery_result").await);
    }
    let rest = drain(&mut wa, QUIET).await;
    assert!(of_type(&rest, "lottery_result").is_empty(), "one lottery_result per draw: {rest:?}");
    assert!(of_type(&rest, "points_update").is_empty(), "one points_update per batch: {rest:?}");
    let mut pushed_ids: Vec<i64> = pushed.iter().map(|m| m["data"]["draw_id"].as_i64().unwrap()).collect();
    let mut drawn_ids: Vec<i64> = results.iter().map(|r| r["draw_id"].as_i64().unwrap()).collect();
    pushed_ids.sort_unstable();
    drawn_ids.sort_unstable();
    assert_eq!(pushed_ids, drawn_ids);
    for m in &pushed {
        let r = results.iter().find(|r| r["draw_id"] == m["data"]["draw_id"]).unwrap();
        assert_eq!(m["data"]["prize_name"], r["prize_name"], "{m}");
        assert_eq!(m["data"]["prize_value"], r["prize_value"], "{m}");
        assert_eq!(m["data"]["remaining_points"].as_i64(), Some(remaining), "{m}");
    }

    let others = drain(&mut wb, QUIET).await;
    assert!(of_type(&others, "points_update").is_empty(), "another customer's balance leaked: {others:?}");
    assert!(of_type(&others, "lottery_result").is_empty(), "another customer's results leaked: {others:?}");
    server.assert_reconciled();
}

/// A draw's `points_update` says what the points history says: `reason` is the ledger row's
/// source and `description` its text, the row being the batch's debit (`related_id` is the
/// update's `operation_id`).
async fn a_draws_points_update_carries_the_ledger_rows_description(backend: Backend) {
    let server = TestServer::start(backend).await;
    let a = server.login(&phone(380, 1)).await;
    let mut wa = server.ws(&a.token).await;

    draw(&server, &a, "triple").await;
    let update = expect(&mut wa, "points_update").await;
    let d = &update["data"];
    assert_eq!(d["reason"], json!("lottery"), "{update}");
    let description = d["description"].as_str().filter(|t| !t.is_empty());
    assert!(description.is_some(), "points_update carries the ledger's text: {update}");

    let history = assert_ok(&server.get("/api/user/points-records?source=lottery", Some(&a.token)).await);
    let rows = history["records"].as_array().expect("records");
    let debit = rows.iter().find(|r| r["related_id"] == d["operation_id"]).unwrap_or_else(|| {
        panic!("no ledger row for the batch {}: {history}", d["operation_id"]);
    });
    assert_eq!(debit["description"].as_str(), description, "{debit} vs {update}");
    assert_eq!(debit["source"], d["reason"], "{debit} vs {update}");
    server.assert_reconciled();
}

async fn a_notable_win_reaches_everyone_with_a_masked_phone(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    force_wheel(&server, &admin, |p| p["probability"] = json!(if p["name"] == "500积分" { 1.0 } else { 0.0 })).await;
    let a = server.login(&phone(374, 1)).await;
    let b = server.login(&phone(374, 2)).await;
    let mut wb = server.ws(&b.token).await;

    let data = draw(&server, &a, "single").await;
    assert_eq!(data["results"][0]["prize_name"], json!("500积分"), "{data}");
    let win = expect(&mut wb, "wheel_win").await;
    assert_eq!(win["data"]["masked_user"], json!(masked(&a.phone)), "{win}");
    assert_eq!(win["data"]["prize_name"], json!("500积分"), "{win}");
    let mut all = vec![win];
    all.extend(drain(&mut wb, QUIET).await);
    for m in &all {
        assert!(!m.to_string().contains(&a.phone), "the full phone number must never be broadcast: {m}");
    }
    server.assert_reconciled();
}

async fn limited_prize_stock_changes_reach_every_socket(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    force_wheel(&server, &admin, |p| {
        let dessert = p["name"] == "甜品一份";
        p["probability"] = json!(if dessert { 1.0 } else { 0.0 });
        if dessert {
            p["stock"] = json!(5);
        }
    })
    .await;
    let a = server.login(&phone(375, 1)).await;
    let b = server.login(&phone(375, 2)).await;
    let cfg = assert_ok(&server.get("/api/lottery/config", Some(&b.token)).await);
    let dessert = cfg["prizes"].as_array().unwrap().iter().find(|p| p["name"] == "甜品一份").cloned().unwrap();
    let dessert_id = dessert["id"].as_i64().unwrap();
    let mut wb = server.ws(&b.token).await;

    let data = draw(&server, &a, "single").await;
    assert_eq!(data["results"][0]["prize_id"].as_i64(), Some(dessert_id), "{data}");
    let update = expect_prize_stock(&mut wb, dessert_id, 4).await;
    assert_eq!(update["data"], json!({ "prize_id": dessert_id, "stock_left": 4 }), "{update}");

    assert_ok(
        &server.post(&format!("/api/admin/lottery/prizes/{dessert_id}/stock"), Some(&admin), json!({ "add": 3 })).await,
    );
    let update = expect_prize_stock(&mut wb, dessert_id, 7).await;
    assert_eq!(update["data"], json!({ "prize_id": dessert_id, "stock_left": 7 }), "{update}");
    server.assert_reconciled();
}

async fn an_admin_points_adjustment_pushes_the_new_balance_to_that_customer(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let a = server.login(&phone(376, 1)).await;
    let b = server.login(&phone(376, 2)).await;
    let mut wa = server.ws(&a.token).await;
    let mut wb = server.ws(&b.token).await;
    assert_ok(
        &server
            .post(
                &format!("/api/admin/users/{}/points", a.user_id),
                Some(&admin),
                json!({ "delta": 250, "reason": "补偿" }),
            )
            .await,
    );
    let update = expect(&mut wa, "points_update").await;
    assert_eq!(update["data"]["user_id"].as_i64(), Some(a.user_id), "{update}");
    assert_eq!(update["data"]["total_points"].as_i64(), Some(1250), "{update}");
    assert_eq!(update["data"]["change_points"].as_i64(), Some(250), "{update}");
    assert!(of_type(&drain(&mut wb, QUIET).await, "points_update").is_empty());
    server.assert_reconciled();
}

async fn a_fourth_socket_closes_the_oldest_and_the_other_three_keep_working(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let a = server.login(&phone(377, 1)).await;
    let mut oldest = server.ws(&a.token).await;
    let mut kept = Vec::new();
    for _ in 0..2 {
        kept.push(server.ws(&a.token).await);
    }
    // Three are allowed.
    ping_pong(&mut oldest).await;
    kept.push(server.ws(&a.token).await);
    let frame = closed(&mut oldest, WAIT).await;
    assert_eq!(frame.as_ref().map(|f| f.0), Some(4001), "{frame:?}");
    for ws in kept.iter_mut() {
        ping_pong(ws).await;
    }
    assert_ok(
        &server.post(&format!("/api/admin/users/{}/points", a.user_id), Some(&admin), json!({ "delta": 5 })).await,
    );
    for ws in kept.iter_mut() {
        let update = expect(ws, "points_update").await;
        assert_eq!(update["data"]["total_points"].as_i64(), Some(1005));
    }
    server.assert_reconciled();
}

/// Opens `/ws` by a hand-written handshake on a plain TCP stream, so nothing answers pings.
async fn raw_socket(server: &TestServer, token: &str) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let addr = server.base.trim_start_matches("http://").to_string();
    let mut tcp = tokio::net::TcpStream::connect(&addr).await.expect("tcp connect");
    let request = format!(
        "GET /ws?token={token} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).await.expect("handshake");
    tcp
}

/// Splits what the server sent on a raw socket into the HTTP head and (opcode, payload) frames.
fn frames(bytes: &[u8]) -> (String, Vec<(u8, Vec<u8>)>) {
    let head_end = bytes.windows(4).position(|w| w == b"\r\n\r\n").expect("an HTTP response head") + 4;
    let head = String::from_utf8_lossy(&bytes[..head_end]).to_string();
    let mut out = Vec::new();
    let mut i = head_end;
    while i + 2 <= bytes.len() {
        let opcode = bytes[i] & 0x0f;
        assert_eq!(bytes[i + 1] & 0x80, 0, "server frames are not masked");
        let (len, skip) = match bytes[i + 1] & 0x7f {
            126 => (u16::from_be_bytes([bytes[i + 2], bytes[i + 3]]) as usize, 4),
            127 => (u64::from_be_bytes(bytes[i + 2..i + 10].try_into().unwrap()) as usize, 10),
            n => (n as usize, 2),
        };
        let start = i + skip;
        assert!(start + len <= bytes.len(), "a truncated frame");
        out.push((opcode, bytes[start..start + len].to_vec()));
        i = start + len;
    }
    (head, out)
}

async fn a_client_that_never_answers_pings_is_closed_while_a_live_one_stays(backend: Backend) {
    use tokio::io::AsyncReadExt;
    let server = TestServer::start_with(backend, &[("WS_PING_SECS", "1"), ("WS_IDLE_SECS", "2")]).await;
    let a = server.login(&phone(378, 1)).await;
    let b = server.login(&phone(378, 2)).await;
    // The silent client is never read during these 5 s; the live one keeps reading, and its
    // library answers every ping.
    let mut silent = raw_socket(&server, &a.token).await;
    let mut live = server.ws(&b.token).await;
    let got = drain(&mut live, Duration::from_secs(5)).await;
    assert!(got.is_empty(), "nothing but pings expected: {got:?}");

    let mut bytes = Vec::new();
    let read = tokio::time::timeout(WAIT, silent.read_to_end(&mut bytes)).await;
    assert!(read.is_ok(), "the server should have closed the silent socket");
    let (head, frames) = frames(&bytes);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let connected: Value = serde_json::from_slice(&frames[0].1).expect("a JSON text frame");
    assert_eq!((frames[0].0, connected["type"].as_str()), (1, Some("connected")), "{connected}");
    assert!(frames.iter().any(|(op, _)| *op == 9), "the server pinged: {frames:?}");
    let (op, payload) = frames.last().expect("frames");
    assert_eq!(*op, 8, "the last frame is a close frame: {frames:?}");
    assert_eq!(u16::from_be_bytes([payload[0], payload[1]]), 4002, "{:?}", String::from_utf8_lossy(payload));

    // The live socket is still open after several ping intervals.
    ping_pong(&mut live).await;
}

async fn shutdown_closes_every_socket_with_1001_and_exits_cleanly(backend: Backend) {
    let mut server = TestServer::start(backend).await;
    let a = server.login(&phone(379, 1)).await;
    let b = server.login(&phone(379, 2)).await;
    let mut readers = Vec::new();
    for token in [&a.token, &a.token, &b.token] {
        let mut ws = server.ws(token).await;
        readers.push(tokio::spawn(async move { closed(&mut ws, Duration::from_secs(15)).await }));
    }
    let status = tokio::task::block_in_place(|| server.terminate());
    assert!(status.success(), "the server must exit 0 on SIGTERM, got {status}");
    for r in readers {
        let frame = r.await.expect("reader");
        assert_eq!(frame.as_ref().map(|f| f.0), Some(1001), "{frame:?}");
    }
}

both_backends!(
    a_query_token_or_a_bearer_header_opens_the_socket_with_a_greeting,
    a_bad_or_missing_token_refuses_the_upgrade_with_401,
    pings_get_pongs_and_bad_messages_get_errors_without_closing,
    a_draw_pushes_the_balance_and_each_result_to_the_drawer_only,
    a_draws_points_update_carries_the_ledger_rows_description,
    a_notable_win_reaches_everyone_with_a_masked_phone,
    limited_prize_stock_changes_reach_every_socket,
    an_admin_points_adjustment_pushes_the_new_balance_to_that_customer,
    a_fourth_socket_closes_the_oldest_and_the_other_three_keep_working,
    a_client_that_never_answers_pings_is_closed_while_a_live_one_stays,
    shutdown_closes_every_socket_with_1001_and_exits_cleanly,
);
