//! Bursts with everyone listening, as a client sees them: a socket that asks for batches
//! (`?batch=1`) gets at most one `batch` frame per flush carrying the latest value of every change
//! it listens to, while a socket that did not ask still gets the usual messages one by one;
//! `subscribe` chooses the broadcasts (and refuses an unknown topic without changing anything);
//! the ticker of wins stays within `TICKER_MAX_PER_SEC` however many customers win; a customer's
//! own updates do not wait for the flush and keep their order.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(5);

/// Opens `/ws?token=…&batch=1` and returns the socket after its `connected` message.
async fn batch_socket(server: &TestServer, token: &str) -> WsClient {
    let url = format!("{}?token={token}&batch=1", server.ws_url());
    let (stream, _) = tokio_tungstenite::connect_async(url).await.expect("websocket connect");
    let mut ws = WsClient { stream };
    match ws.next(WAIT).await {
        WsEvent::Json(v) if v["type"] == "connected" => ws,
        other => panic!("expected `connected`, got {other:?}"),
    }
}

/// Every server message is `{type, data, timestamp, message_id}`, inside a batch too.
#[track_caller]
fn assert_envelope(v: &Value) {
    assert!(v["type"].as_str().is_some_and(|t| !t.is_empty()), "type in {v}");
    assert!(v.get("data").is_some_and(|d| !d.is_null()), "data in {v}");
    assert!(v["timestamp"].as_str().is_some_and(|t| chrono::DateTime::parse_from_rfc3339(t).is_ok()), "{v}");
    assert!(v["message_id"].as_str().is_some_and(|id| !id.is_empty()), "message_id in {v}");
}

/// The items of a batch frame, envelopes checked.
#[track_caller]
fn items(frame: &Value) -> Vec<Value> {
    assert_envelope(frame);
    assert_eq!(frame["type"], "batch", "{frame}");
    let items = frame["data"].as_array().unwrap_or_else(|| panic!("a batch's data is a list: {frame}")).clone();
    assert!(!items.is_empty(), "an empty batch is never sent: {frame}");
    items.iter().for_each(assert_envelope);
    items
}

async fn product(server: &TestServer, admin: &str, name: &str) -> i64 {
    let body = json!({ "name": name, "description": "live", "category": "直播", "exchange_points": 10,
                       "stock": 100, "sort_order": 1 });
    assert_ok(&server.post("/api/admin/products", Some(admin), body).await)["id"].as_i64().expect("product id")
}

/// Adds one unit; the stock after it.
async fn restock(server: &TestServer, admin: &str, id: i64) -> i64 {
    let path = format!("/api/admin/products/{id}/restock");
    assert_ok(&server.post(&path, Some(admin), json!({ "quantity": 1 })).await)["stock"].as_i64().expect("stock")
}

async fn draw(server: &TestServer, c: &Customer, draw_type: &str) -> Value {
    assert_ok(&server.post("/api/lottery/draw", Some(&c.token), json!({ "draw_type": draw_type })).await)
}

fn stock_of(msgs: &[Value], product: i64) -> Vec<i64> {
    msgs.iter()
        .filter(|m| m["type"] == "stock_update" && m["data"]["product_id"].as_i64() == Some(product))
        .filter_map(|m| m["data"]["stock"].as_i64())
        .collect()
}

async fn batches_carry_the_latest_of_each_change_once_per_flush_and_plain_sockets_are_unchanged(backend: Backend) {
    let flush = Duration::from_millis(500);
    let server = TestServer::start_with(backend, &[("WS_FLUSH_MS", "500")]).await;
    let admin = server.admin().await;
    let (a, b) = (product(&server, &admin, "奶茶").await, product(&server, &admin, "薯条").await);
    let batched_customer = server.login(&phone(430, 1)).await;
    let plain_customer = server.login(&phone(430, 2)).await;
    let mut batched = batch_socket(&server, &batched_customer.token).await;
    let mut plain = server.ws(&plain_customer.token).await;

    let started = Instant::now();
    let (mut last_a, mut last_b, mut changes) = (0, 0, 0);
    while started.elapsed() < Duration::from_millis(2500) {
        last_a = restock(&server, &admin, a).await;
        last_b = restock(&server, &admin, b).await;
        changes += 2;
    }
    let frames = batched.drain(flush * 3).await;
    let window = started.elapsed();
    let singles = plain.drain(Duration::from_millis(200)).await;

    // At most one frame per flush, each a batch, each value at most once per frame.
    let flushes = (window.as_millis() / flush.as_millis()) as usize + 2;
    assert!(!frames.is_empty(), "no batch within {window:?}");
    assert!(frames.len() <= flushes, "{} frames in {window:?} with a flush every {flush:?}", frames.len());
    let mut all = Vec::new();
    for frame in &frames {
        let inside = items(frame);
        for p in [a, b] {
            assert!(stock_of(&inside, p).len() <= 1, "product {p} twice in one batch: {frame}");
        }
        all.extend(inside);
    }
    assert!(stock_of(&all, a).len() < changes / 4, "{changes} changes were not coalesced: {:?}", stock_of(&all, a));
    assert_eq!(stock_of(&all, a).last(), Some(&last_a), "the batches end on the latest stock of {a}");
    assert_eq!(stock_of(&all, b).last(), Some(&last_b), "the batches end on the latest stock of {b}");

    // The socket that did not ask gets the same values as single messages, as before.
    assert!(singles.iter().all(|m| m["type"] != "batch"), "a batch reached a socket that did not ask: {singles:?}");
    singles.iter().for_each(assert_envelope);
    assert_eq!(stock_of(&singles, a).last(), Some(&last_a), "{singles:?}");
    assert_eq!(stock_of(&singles, b).last(), Some(&last_b), "{singles:?}");
    assert!(stock_of(&singles, a).len() < changes / 4, "plain sockets get coalesced values too");
    server.assert_reconciled();
}

async fn a_bad_batch_parameter_refuses_the_upgrade(backend: Backend) {
    let server = TestServer::start(backend).await;
    let c = server.login(&phone(431, 1)).await;
    let url = format!("{}?token={}&batch=maybe", server.ws_url(), c.token);
    match tokio_tungstenite::connect_async(url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status().as_u16(), 400);
            let body: Value = serde_json::from_slice(resp.body().as_deref().unwrap_or_default()).expect("envelope");
            assert_eq!(body["code"], 1003, "{body}");
            assert!(body["msg"].as_str().is_some_and(|m| m.contains("batch")), "{body}");
        }
        other => panic!("expected a refused upgrade, got {:?}", other.map(|_| "an open socket")),
    }
}

async fn subscribe_chooses_the_broadcasts_and_an_unknown_topic_changes_nothing(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    server.wheel_all_on(&admin, "甜品一份", Some(50)).await;
    let shop = product(&server, &admin, "可乐").await;
    let (s, t, drawer) =
        (server.login(&phone(432, 1)).await, server.login(&phone(432, 2)).await, server.login(&phone(432, 3)).await);

    let mut prizes_only = server.ws(&s.token).await;
    prizes_only.send_json(json!({ "type": "subscribe", "topics": ["prize_stock"] })).await;
    let ok = prizes_only.next_of("subscribed", WAIT).await.expect("subscribed");
    assert_eq!(ok["data"], json!({ "topics": ["prize_stock"], "batch": false }), "{ok}");
    prizes_only.send_json(json!({ "type": "subscribe", "topics": ["stock", "jackpot"], "batch": true })).await;
    let refused = prizes_only.next_of("error", WAIT).await.expect("error");
    assert_eq!(refused["data"]["code"], 1003, "{refused}");
    let msg = refused["data"]["msg"].as_str().unwrap_or_default();
    assert!(msg.contains("jackpot") && msg.contains("ticker, stock, prize_stock"), "{refused}");

    let mut shop_and_ticker = batch_socket(&server, &t.token).await;
    shop_and_ticker.send_json(json!({ "type": "subscribe", "topics": ["stock", "ticker"] })).await;
    let ok = shop_and_ticker.next_of("subscribed", WAIT).await.expect("subscribed");
    assert_eq!(ok["data"], json!({ "topics": ["ticker", "stock"], "batch": true }), "{ok}");

    let won = draw(&server, &drawer, "single").await;
    assert_eq!(won["results"][0]["prize_name"], "甜品一份", "{won}");
    let left = restock(&server, &admin, shop).await;

    let got = prizes_only.drain(Duration::from_millis(1500)).await;
    // campaign_update is not a topic: every socket hears that the wheel it shows changed.
    let kinds: Vec<&str> = got.iter().filter_map(|m| m["type"].as_str()).filter(|k| *k != "campaign_update").collect();
    assert!(kinds.contains(&"prize_stock_update"), "{got:?}");
    assert!(
        kinds.iter().all(|k| *k == "prize_stock_update"),
        "the refused subscribe changed nothing: still prize stock only, one by one: {got:?}"
    );
    let got: Vec<Value> = shop_and_ticker.drain(Duration::from_millis(1500)).await.iter().flat_map(items).collect();
    let kinds: Vec<&str> = got.iter().filter_map(|m| m["type"].as_str()).collect();
    assert!(kinds.contains(&"wheel_win"), "the dessert is a notable win: {got:?}");
    // The setup's own stock change may still be in a flush that reaches the new socket; what it
    // must end on is the restock.
    assert_eq!(stock_of(&got, shop).last(), Some(&left), "{got:?}");
    assert!(!kinds.contains(&"prize_stock_update"), "not subscribed to prize stock: {got:?}");
}

async fn the_ticker_stays_within_its_rate_over_a_burst_of_wins(backend: Backend) {
    let per_sec = 2;
    let server =
        TestServer::start_with(backend, &[("TICKER_MAX_PER_SEC", "2"), ("DRAW_LIMIT_PER_MIN", "1000000")]).await;
    let admin = server.admin().await;
    server.wheel_all_on(&admin, "500积分", None).await;
    let listener = server.login(&phone(433, 0)).await;
    let mut ws = server.ws(&listener.token).await;
    let mut drawers = Vec::new();
    for i in 1..=6 {
        drawers.push(server.login(&phone(433, i)).await);
    }

    let burst = Duration::from_secs(4);
    let started = Instant::now();
    let reader = tokio::spawn(async move {
        let mut wins = Vec::new();
        while started.elapsed() < burst + Duration::from_secs(1) {
            match ws.next(Duration::from_millis(200)).await {
                WsEvent::Json(v) if v["type"] == "wheel_win" => wins.push(started.elapsed()),
                WsEvent::Closed(c) => panic!("closed: {c:?}"),
                _ => {}
            }
        }
        wins
    });
    let mut spinners = Vec::new();
    for c in drawers {
        let server_url = server.url("/api/lottery/draw");
        let http = server.http.clone();
        spinners.push(tokio::spawn(async move {
            let mut wins = 0;
            while started.elapsed() < burst {
                let resp =
                    http.post(&server_url).bearer_auth(&c.token).json(&json!({ "draw_type": "triple" })).send().await;
                let body: Value = resp.expect("draw").json().await.expect("json");
                assert_eq!(body["code"], 0, "{body}");
                wins += body["data"]["results"].as_array().map_or(0, Vec::len);
            }
            wins
        }));
    }
    let mut committed = 0;
    for s in spinners {
        committed += s.await.expect("spinner");
    }
    let shown = reader.await.expect("reader");
    assert!(committed >= 30, "the burst won only {committed} times");
    assert!(shown.len() >= 3, "{committed} wins, {} on the ticker: {shown:?}", shown.len());
    // Arrival times jitter a little around the server's slots: one message of margin.
    for (i, t) in shown.iter().enumerate() {
        let in_window = shown[i..].iter().take_while(|u| **u < *t + Duration::from_secs(1)).count();
        assert!(in_window <= per_sec + 1, "{in_window} wins within a second of {t:?}: {shown:?}");
    }
    assert!(shown.len() <= (per_sec + 1) * 5, "{} wins in 5 s at {per_sec}/s", shown.len());
    server.assert_reconciled();
}

async fn own_updates_do_not_wait_for_the_flush_and_keep_their_order(backend: Backend) {
    let server = TestServer::start_with(backend, &[("WS_FLUSH_MS", "3000")]).await;
    let c = server.login(&phone(434, 1)).await;
    let mut ws = batch_socket(&server, &c.token).await;
    let mut seen = Vec::new();
    let mut answers = Vec::new();
    for _ in 0..4 {
        let data = draw(&server, &c, "single").await;
        let answered = Instant::now();
        // Broadcasts wait up to 3 s for their flush; the drawer's own update must not.
        loop {
            match ws.next(Duration::from_secs(1).saturating_sub(answered.elapsed())).await {
                WsEvent::Json(m) => {
                    let done = m["type"] == "points_update" && m["data"]["total_points"] == data["remaining_points"];
                    seen.push(m);
                    if done {
                        break;
                    }
                }
                other => panic!("no points_update within 1 s of the answer {data}: {other:?} after {seen:?}"),
            }
        }
        answers.push(data);
    }
    seen.extend(ws.drain(Duration::from_millis(500)).await);
    seen.iter().for_each(assert_envelope);
    assert!(seen.iter().all(|m| m["type"] != "batch"), "a customer's own updates never wait in a batch: {seen:?}");

    // In the order of the draws: each draw's points_update, then its lottery_result.
    let expected: Vec<(String, i64)> = answers
        .iter()
        .flat_map(|d| {
            [
                ("points_update".to_string(), d["remaining_points"].as_i64().expect("remaining_points")),
                ("lottery_result".to_string(), d["results"][0]["draw_id"].as_i64().expect("draw_id")),
            ]
        })
        .collect();
    let got: Vec<(String, i64)> = seen
        .iter()
        .filter_map(|m| match m["type"].as_str() {
            Some("points_update") => Some(("points_update".to_string(), m["data"]["total_points"].as_i64()?)),
            Some("lottery_result") => Some(("lottery_result".to_string(), m["data"]["draw_id"].as_i64()?)),
            _ => None,
        })
        .collect();
    assert_eq!(got, expected, "{seen:?}");
    assert_eq!(answers.last().map(|d| d["remaining_points"].clone()), Some(json!(server.balance(&c).await)));
    server.assert_reconciled();
}

both_backends!(
    batches_carry_the_latest_of_each_change_once_per_flush_and_plain_sockets_are_unchanged,
    a_bad_batch_parameter_refuses_the_upgrade,
    subscribe_chooses_the_broadcasts_and_an_unknown_topic_changes_nothing,
    the_ticker_stays_within_its_rate_over_a_burst_of_wins,
    own_updates_do_not_wait_for_the_flush_and_keep_their_order,
);
