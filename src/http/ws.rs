//! `GET /ws`: the live channel. Auth happens before the upgrade (a bad token is a plain 401
//! envelope). Each socket is one task that sends what the Hub queued for it, answers the client's
//! messages, pings on a timer, closes a socket that went silent, and says 1001 on shutdown. The
//! Hub's flusher writes broadcasts itself to a socket with nothing queued ([`SocketWire`]): with
//! ten thousand sockets listening, waking ten thousand tasks each flush would cost more than the
//! writes.
//!
//! Close codes ([`Close`]): 1001 server shutting down, 1013 the client could not keep up, 4001
//! replaced by the customer's newer connection (at most three per customer), 4002 no answer to
//! pings, 4003 the authority that opened the socket is gone (signed out, family revoked, banned,
//! merchant role lost, or the access token expired).
//!
//! A socket lives no longer than that authority: the revoking paths close it through the Hub at
//! once, the socket's own timer closes it when its access token expires, and every ping tick
//! re-checks revocation and bans in case a path forgot. Every send has a write timeout, so a
//! client that stops reading is dropped instead of pinning its task.
//!
//! The server's messages are [`ServerEvent`]s; the document's `x-websocket-messages` is built
//! from that enum's schema ([`documentation`]), and the enum and the envelope are component
//! schemas of the document (registered by [`router`]).

use std::collections::HashSet;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use futures_util::stream::SplitSink;
use futures_util::{Sink, SinkExt, StreamExt};
use serde_json::{json, Value};
use utoipa::{OpenApi, PartialSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::{bearer, ApiQuery};
use super::AppState;
use crate::auth::SubjectKind;
use crate::domain::time::{now_ms, wall_ms, Timestamp};
use crate::domain::DomainError;
use crate::notify::event::{BadMessage, Connected, Pong, Subscribed};
use crate::notify::{
    CloseReason, Grant, Listen, Offered, Outbox, ServerEvent, ServerMessage, Topic, Topics, Wire, WsServerMessage,
};

const MAX_CLIENT_MESSAGE: usize = 16 * 1024;
/// At most this many products in one `subscribe_product`.
const MAX_SUBSCRIBED: usize = 1000;
/// At most this many names in one `subscribe` (there are three topics; repeats are allowed).
const MAX_TOPICS: usize = 16;

/// The WebSocket's messages as component schemas: `WsServerMessage` (the envelope) and
/// `ServerEvent` (every `type` with its `data`).
#[derive(OpenApi)]
#[openapi(components(schemas(WsServerMessage, ServerEvent, Topic)))]
struct WsSchemas;

/// `GET /ws`, documented like every other route, with the message schemas.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(WsSchemas::openapi()).routes(routes!(upgrade))
}

/// How a socket is closed by the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Close {
    Shutdown,
    TooSlow,
    Replaced,
    Silent,
    Revoked,
}

impl Close {
    pub const ALL: [Close; 5] = [Close::Shutdown, Close::TooSlow, Close::Replaced, Close::Silent, Close::Revoked];

    pub fn code(self) -> u16 {
        match self {
            Close::Shutdown => 1001,
            Close::TooSlow => 1013,
            Close::Replaced => 4001,
            Close::Silent => 4002,
            Close::Revoked => 4003,
        }
    }

    /// The reason sent in the close frame.
    pub(super) fn reason(self) -> &'static str {
        match self {
            Close::Shutdown => "server shutting down",
            Close::TooSlow => "too slow: message queue overflowed",
            Close::Replaced => "replaced by a newer connection",
            Close::Silent => "no answer to pings",
            Close::Revoked => "authority revoked or expired: reconnect with a fresh token",
        }
    }

    /// What the document says it means.
    fn meaning(self) -> &'static str {
        match self {
            Close::Shutdown => "Server shutting down (going away)",
            Close::TooSlow => "Too slow: the socket's message queue overflowed",
            Close::Replaced => {
                "Replaced by a newer connection (at most 3 sockets per customer; a 4th closes the oldest)"
            }
            Close::Silent => "No answer to pings (server pings every 30 s; silent for 90 s)",
            Close::Revoked => {
                "The authority that opened the socket is gone: logout, logout-all, the token family revoked (refresh reuse), a ban, the loss of the merchant role (within 1 s), or the access token expired (at expiry); reconnect with a fresh token"
            }
        }
    }
}

impl From<CloseReason> for Close {
    fn from(reason: CloseReason) -> Close {
        match reason {
            CloseReason::Overflow => Close::TooSlow,
            CloseReason::Replaced => Close::Replaced,
            CloseReason::Shutdown => Close::Shutdown,
            CloseReason::Revoked => Close::Revoked,
        }
    }
}

/// The messages each way and the close codes, for the document's `x-websocket-messages`:
/// `{envelope, server: [{type, when, data}], client: [{type, when, message}], close_codes}`.
/// The server's part is read off [`ServerEvent`]'s schema (one `oneOf` item per variant, the
/// variant's doc comment as its `when`).
pub fn documentation() -> Value {
    let events = serde_json::to_value(ServerEvent::schema()).unwrap_or(Value::Null);
    let server: Vec<Value> = events["oneOf"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|variant| {
            // utoipa gives the data schema the variant's doc comment by wrapping it in a one-item
            // `oneOf`; the schema itself is that item.
            let data = &variant["properties"]["data"];
            let when = variant.get("description").unwrap_or(&data["description"]);
            let data = match data["oneOf"].as_array() {
                Some(only) if only.len() == 1 => &only[0],
                _ => data,
            };
            json!({ "type": variant.pointer("/properties/type/enum/0"), "when": when, "data": data })
        })
        .collect();
    let close_codes: Vec<Value> =
        Close::ALL.iter().map(|c| json!({ "code": c.code(), "meaning": c.meaning() })).collect();
    json!({
        "envelope": { "$ref": "#/components/schemas/WsServerMessage" },
        "server": server,
        "client": [
            {
                "type": "ping",
                "when": "Answered with pong",
                "message": {
                    "type": "object",
                    "properties": { "type": { "type": "string", "const": "ping" } },
                    "required": ["type"],
                },
            },
            {
                "type": "subscribe",
                "when": "Chooses the broadcasts this socket hears (default: every topic) and, with batch, whether they come as one batch message per flush; answered with subscribed. An unknown topic is an error and changes nothing",
                "message": {
                    "type": "object",
                    "properties": {
                        "type": { "type": "string", "const": "subscribe" },
                        "topics": {
                            "type": "array",
                            "items": { "$ref": "#/components/schemas/Topic" },
                            "maxItems": MAX_TOPICS,
                        },
                        "batch": { "type": "boolean" },
                    },
                    "required": ["type", "topics"],
                },
            },
            {
                "type": "subscribe_product",
                "when": "Narrows stock_update to these products (default: all); answered with subscribed",
                "message": {
                    "type": "object",
                    "properties": {
                        "type": { "type": "string", "const": "subscribe_product" },
                        "product_ids": { "type": "array", "items": { "type": "integer" }, "maxItems": MAX_SUBSCRIBED },
                    },
                    "required": ["type", "product_ids"],
                },
            },
        ],
        "close_codes": close_codes,
    })
}

/// WebSocket live updates (实时推送)
///
/// The live channel. Upgrade with `?token=<access token>` (the mini-program cannot set headers
/// on connectSocket) or `Authorization: Bearer`. A missing token is 2001, a bad or non-customer
/// token 2002, a banned customer 2005: the upgrade is refused with a plain envelope.
///
/// Every server message is `{type, data, timestamp (ISO 8601), message_id}`; the types and their
/// `data` are listed in `x-websocket-messages`. Client → server: `{type: "ping"}` → `pong`;
/// `{type: "subscribe_product", product_ids: [..]}` narrows stock updates to those products
/// (default all) → `subscribed`; `{type: "subscribe", topics: ["ticker", "stock",
/// "prize_stock"], batch?: bool}` chooses the broadcasts the socket hears (default all three,
/// what the mini-program shows) → `subscribed`, and an unknown topic is an `error` that changes
/// nothing. Unknown or malformed messages (and binary frames) get an `error` message; the socket
/// stays open. Client messages are at most 16 KB.
///
/// Batches: with `?batch=1` (or `batch: true` in subscribe) the broadcasts of each flush come as
/// one `batch` message whose `data` lists them, each exactly as it would have come alone; a
/// customer's own messages still come one by one, at once. Without it nothing changes. The
/// `wheel_win` ticker carries at most `TICKER_MAX_PER_SEC` (3) wins a second, the same for everyone.
///
/// The server pings every 30 s and closes a socket silent for 90 s. At most 3 sockets per
/// customer; a 4th closes the oldest. Coalesced values (`stock_update` per product,
/// `prize_stock_update` per prize) go out at the next flush, latest value only. Close codes: 1001 server shutting down; 1013 too slow (queue overflowed); 4001 replaced
/// by a newer connection; 4002 no answer to pings; 4003 the authority that opened the socket is
/// gone (logout, logout-all, family revoked, ban, merchant role lost: within 1 s; the access
/// token's expiry: at expiry), reconnect with a fresh token. Not behind the per-IP limiter.
///
/// Admins (the console): a socket opened with an admin token gets `connected`, then
/// `live_stats {draws_per_minute, draws_since_open, open_sockets, server_time}` every 2 s, and
/// answers `ping`; it gets no customer events and no broadcasts, and closes with 4003 when the
/// admin's session is revoked or its token expires.
///
/// Errors: 1003 2005
#[utoipa::path(
    get,
    path = "/ws",
    tag = "websocket",
    params(
        ("token" = Option<String>, Query, description = "The access token (or send `Authorization: Bearer`)"),
        ("batch" = Option<String>, Query, description = "`1` or `true`: broadcasts come as one `batch` message per flush (default `0`)"),
    ),
    responses((status = 101, description = "Switching Protocols: the socket is open; the first message is `connected`")),
    security(("bearerAuth" = []))
)]
pub async fn upgrade(
    State(state): State<AppState>,
    q: ApiQuery,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let token = q.get("token").or_else(|| bearer(&headers));
    let Some(token) = token else { return ApiError::TokenMissing.into_response() };
    let batch = match q.one_of("batch", &["1", "true", "0", "false"]) {
        Ok(b) => matches!(b, Some("1" | "true")),
        Err(e) => return e.into_response(),
    };
    let claims = match state.tokens.verify_access(token) {
        Ok(c) if c.kind == SubjectKind::User => c,
        // The console's live figures (`live_stats`); see `super::live`.
        Ok(c) if c.kind == SubjectKind::Admin => return super::live::upgrade(state, c, ws).await,
        _ => return ApiError::TokenInvalid.into_response(),
    };
    if state.banned.contains(&claims.user_id) {
        return ApiError::Refused(DomainError::Banned).into_response();
    }
    let ws = match ws {
        Ok(ws) => ws,
        Err(_) => return ApiError::bad("upgrade", "a WebSocket upgrade request is required").into_response(),
    };
    // The role can change after the token was issued; the store has the live value.
    let is_merchant = match state.store.user(claims.user_id).await {
        Ok(Some(u)) => u.is_merchant,
        Ok(None) => return ApiError::TokenInvalid.into_response(),
        Err(e) => return ApiError::from(e).into_response(),
    };
    let grant = Grant {
        user_id: claims.user_id,
        family: claims.fam.clone(),
        expires_at_ms: claims.exp.saturating_mul(1000),
        is_merchant,
    };
    let guard = state.sockets.token();
    // tungstenite's default buffers are 128 KiB each way; clients send a few bytes and receive
    // small JSON, and ten thousand sockets at the defaults would hold over a gigabyte.
    ws.max_message_size(MAX_CLIENT_MESSAGE)
        .max_frame_size(MAX_CLIENT_MESSAGE)
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .on_upgrade(move |socket| async move {
            run(socket, state, grant, Listen { batch, ..Listen::default() }).await;
            drop(guard);
        })
}

async fn run(socket: WebSocket, state: AppState, grant: Grant, listen: Listen) {
    let user_id = grant.user_id;
    let family = grant.family.clone();
    let was_merchant = grant.is_merchant;
    let outbox = state.hub.open_listening(grant, listen);
    metrics::gauge!("ws_sockets").set(state.hub.sockets() as f64);
    // A revocation between the upgrade's checks and `open` found no socket to close: look again
    // now that the socket is where the revoking paths will find it.
    let demoted = was_merchant && !matches!(state.store.user(user_id).await, Ok(Some(u)) if u.is_merchant);
    if state.tokens.is_revoked(&family) || state.banned.contains(&user_id) || demoted {
        outbox.close(CloseReason::Revoked);
    }
    let (tx, mut rx) = socket.split();
    let wire = Arc::new(SocketWire(tokio::sync::Mutex::new(tx)));
    let ws = &state.config.ws;
    let write_timeout = ws.write_timeout;
    let connected =
        ServerMessage::from(ServerEvent::Connected(Connected { user_id, server_time: Timestamp(now_ms()) }));
    let mut close: Option<Close> = None;
    if send(&mut *wire.0.lock().await, write_timeout, Message::Text(connected.text)).await {
        // `connected` comes first; from here on the flusher may write broadcasts itself.
        outbox.attach(wire.clone());
        let mut ping = tokio::time::interval(ws.ping_every);
        ping.tick().await;
        let expiry = tokio::time::sleep_until(until(outbox.expires_at_ms));
        tokio::pin!(expiry);
        let mut last_seen = Instant::now();
        // Made once: a fresh one per wake-up would register with the shutdown token (shared by
        // every socket) and unregister again each time.
        let shutdown = state.shutdown.cancelled();
        tokio::pin!(shutdown);
        close = loop {
            tokio::select! {
                _ = &mut shutdown => break Some(Close::Shutdown),
                _ = &mut expiry => break Some(Close::Revoked),
                _ = outbox.ready() => {
                    // Held from the take to the last write, so that the flusher cannot write a
                    // newer broadcast between them.
                    let mut tx = wire.0.lock().await;
                    let batch = outbox.take();
                    if batch.flush && !matches!(tokio::time::timeout(write_timeout, tx.flush()).await, Ok(Ok(()))) {
                        break None;
                    }
                    let mut failed = false;
                    for m in batch.messages {
                        if !send(&mut tx, write_timeout, Message::Text(m)).await {
                            failed = true;
                            break;
                        }
                    }
                    if failed {
                        break None;
                    }
                    if let Some(reason) = batch.close {
                        break Some(Close::from(reason));
                    }
                }
                _ = ping.tick() => {
                    if last_seen.elapsed() > ws.idle_timeout {
                        break Some(Close::Silent);
                    }
                    if state.tokens.is_revoked(&outbox.family) || state.banned.contains(&user_id) {
                        break Some(Close::Revoked);
                    }
                    if !send(&mut *wire.0.lock().await, write_timeout, Message::Ping(Default::default())).await {
                        break None;
                    }
                }
                incoming = rx.next() => {
                    let Some(Ok(msg)) = incoming else { break None };
                    last_seen = Instant::now();
                    let reply = match msg {
                        Message::Text(text) => answer(&outbox, text.as_str()),
                        Message::Binary(_) => Some(BadMessage::event("binary messages are not supported")),
                        Message::Close(_) => break None,
                        Message::Ping(_) | Message::Pong(_) => None,
                    };
                    if let Some(reply) = reply {
                        let reply = Message::Text(ServerMessage::from(reply).text);
                        if !send(&mut *wire.0.lock().await, write_timeout, reply).await {
                            break None;
                        }
                    }
                }
            }
        };
    }
    if let Some(close) = close {
        let frame = CloseFrame { code: close.code(), reason: close.reason().into() };
        send(&mut *wire.0.lock().await, write_timeout, Message::Close(Some(frame))).await;
    }
    state.hub.unregister(&outbox);
    metrics::gauge!("ws_sockets").set(state.hub.sockets() as f64);
}

/// A socket's write half, shared by its task (which waits on it) and the Hub's flusher (which
/// only ever tries it: [`Wire::offer`]).
struct SocketWire(tokio::sync::Mutex<SplitSink<WebSocket, Message>>);

impl Wire for SocketWire {
    fn offer(&self, frame: &Utf8Bytes) -> Offered {
        let Ok(mut tx) = self.0.try_lock() else { return Offered::Busy };
        // Polled once and never again with this context: a write that would wait is left to the
        // socket task, which the Hub wakes for it.
        let mut cx = Context::from_waker(Waker::noop());
        match Pin::new(&mut *tx).poll_ready(&mut cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Pending => return Offered::Busy,
            Poll::Ready(Err(_)) => return Offered::Unflushed,
        }
        if Pin::new(&mut *tx).start_send(Message::Text(frame.clone())).is_err() {
            return Offered::Unflushed;
        }
        match Pin::new(&mut *tx).poll_flush(&mut cx) {
            Poll::Ready(Ok(())) => Offered::Sent,
            Poll::Pending | Poll::Ready(Err(_)) => Offered::Unflushed,
        }
    }
}

/// Sends one message; false when it failed or the client did not take it within `timeout` (a
/// client that stops reading would otherwise make the send pend forever).
pub(super) async fn send(tx: &mut SplitSink<WebSocket, Message>, timeout: std::time::Duration, m: Message) -> bool {
    matches!(tokio::time::timeout(timeout, tx.send(m)).await, Ok(Ok(())))
}

/// The instant of an epoch-ms time on the wall clock, as token expiry is (now, when it has
/// passed; far away, when it is `i64::MAX`).
pub(super) fn until(at_ms: i64) -> tokio::time::Instant {
    let left = u64::try_from(at_ms.saturating_sub(wall_ms())).unwrap_or(0);
    // Capped at a year: `Instant + Duration` must not overflow.
    tokio::time::Instant::now() + std::time::Duration::from_millis(left.min(365 * 24 * 3600 * 1000))
}

/// The server's answer to one client message, if any.
fn answer(outbox: &Outbox, text: &str) -> Option<ServerEvent> {
    let Ok(value) = serde_json::from_str::<Value>(text) else {
        return Some(BadMessage::event("消息格式错误: not JSON"));
    };
    match value.get("type").and_then(Value::as_str) {
        Some("ping") => Some(ServerEvent::Pong(Pong { server_time: Timestamp(now_ms()) })),
        Some("subscribe_product") => {
            let Some(ids) = value.get("product_ids").and_then(Value::as_array) else {
                return Some(BadMessage::event("product_ids must be an array of product ids"));
            };
            let parsed: Option<HashSet<i64>> = ids.iter().map(Value::as_i64).collect();
            match parsed {
                Some(set) if set.len() <= MAX_SUBSCRIBED => {
                    outbox.subscribe_products(set);
                    Some(subscribed(outbox.listening()))
                }
                _ => Some(BadMessage::event("product_ids must be an array of at most 1000 integer ids")),
            }
        }
        Some("subscribe") => Some(match subscription(&value) {
            Ok((topics, batch)) => subscribed(outbox.subscribe(topics, batch)),
            Err(msg) => BadMessage::event(msg),
        }),
        Some(other) => {
            Some(BadMessage::event(format!("unknown message type `{}`", other.chars().take(32).collect::<String>())))
        }
        None => Some(BadMessage::event("a message needs a string `type`")),
    }
}

/// The topics and batching a `subscribe` message asks for, or what is wrong with it.
fn subscription(value: &Value) -> Result<(Topics, Option<bool>), String> {
    let known = || Topic::ALL.map(Topic::name).join(", ");
    let Some(names) = value.get("topics").and_then(Value::as_array).filter(|t| t.len() <= MAX_TOPICS) else {
        return Err(format!("topics must be an array of at most {MAX_TOPICS} of: {}", known()));
    };
    let mut topics = Vec::with_capacity(names.len());
    for name in names {
        let Some(name) = name.as_str() else { return Err(format!("topics are strings, one of: {}", known())) };
        match Topic::parse(name) {
            Some(t) => topics.push(t),
            None => {
                let shown: String = name.chars().take(32).collect();
                return Err(format!("unknown topic `{shown}`; topics are: {}", known()));
            }
        }
    }
    let batch = match value.get("batch") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => return Err("batch must be true or false".into()),
    };
    Ok((Topics::of(topics), batch))
}

fn subscribed(listen: Listen) -> ServerEvent {
    let product_ids = listen.products.map(|set| {
        let mut ids: Vec<i64> = set.into_iter().collect();
        ids.sort_unstable();
        ids
    });
    ServerEvent::Subscribed(Subscribed { product_ids, topics: listen.topics.list(), batch: listen.batch })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// Every `$ref` under `v`.
    fn refs(v: &Value, out: &mut BTreeSet<String>) {
        match v {
            Value::Object(o) => {
                if let Some(r) = o.get("$ref").and_then(Value::as_str) {
                    out.insert(r.to_string());
                }
                o.values().for_each(|x| refs(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
            _ => {}
        }
    }

    #[test]
    fn the_document_lists_every_event_with_its_data_and_when() {
        let doc = documentation();
        let server = doc["server"].as_array().unwrap();
        let kinds: Vec<&str> = server.iter().filter_map(|m| m["type"].as_str()).collect();
        let expected: Vec<&str> = crate::notify::event::tests::every_event().iter().map(ServerEvent::kind).collect();
        assert_eq!(kinds, expected);
        for m in server {
            assert!(m["when"].as_str().is_some_and(|w| !w.is_empty()), "{m}");
            assert!(m["data"].is_object(), "{m}");
        }
        let points = server.iter().find(|m| m["type"] == "points_update").unwrap();
        let required = points["data"]["required"].as_array().unwrap_or_else(|| panic!("{points}"));
        let required: BTreeSet<&str> = required.iter().filter_map(Value::as_str).collect();
        assert_eq!(
            required,
            BTreeSet::from(["user_id", "total_points", "change_points", "reason", "description", "operation_id"])
        );
        let codes: Vec<u64> =
            doc["close_codes"].as_array().unwrap().iter().filter_map(|c| c["code"].as_u64()).collect();
        assert_eq!(codes, [1001, 1013, 4001, 4002, 4003]);
    }

    #[test]
    fn every_schema_the_messages_name_is_a_component() {
        let openapi = serde_json::to_value(WsSchemas::openapi()).unwrap();
        let mut named = BTreeSet::new();
        refs(&documentation(), &mut named);
        refs(&openapi, &mut named);
        assert!(named.contains("#/components/schemas/WsServerMessage"));
        for r in named {
            assert!(openapi.pointer(r.trim_start_matches('#')).is_some(), "{r} is not registered");
        }
    }

    #[test]
    fn client_messages_get_typed_answers() {
        let hub = crate::notify::Hub::new(4);
        let outbox = hub.register(1, false);
        let kind = |text: &str| answer(&outbox, text).map(|e| e.kind());
        assert_eq!(kind(r#"{"type":"ping"}"#), Some("pong"));
        assert_eq!(kind("nonsense"), Some("error"));
        assert_eq!(kind(r#"{"type":"dance"}"#), Some("error"));
        assert_eq!(kind(r#"{"type":"subscribe_product","product_ids":[3,1,3]}"#), Some("subscribed"));
        let Some(ServerEvent::Subscribed(s)) = answer(&outbox, r#"{"type":"subscribe_product","product_ids":[3,1]}"#)
        else {
            panic!("expected subscribed")
        };
        assert_eq!(s.product_ids, Some(vec![1, 3]));
        assert_eq!(s.topics, Topic::ALL, "narrowing products keeps the topics");
    }

    #[test]
    fn subscribe_chooses_topics_and_refuses_unknown_ones_without_changing_anything() {
        let hub = crate::notify::Hub::new(4);
        let outbox = hub.register(1, false);
        let sub = |text: &str| match answer(&outbox, text) {
            Some(ServerEvent::Subscribed(s)) => Ok((s.topics, s.batch, s.product_ids)),
            Some(ServerEvent::Error(e)) => Err(e.msg),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            sub(r#"{"type":"subscribe","topics":["ticker","prize_stock"],"batch":true}"#),
            Ok((vec![Topic::Ticker, Topic::PrizeStock], true, None))
        );
        assert_eq!(sub(r#"{"type":"subscribe","topics":[]}"#), Ok((vec![], true, None)), "batch unchanged");
        let refused = sub(r#"{"type":"subscribe","topics":["stock","lottery"],"batch":false}"#).unwrap_err();
        assert!(
            refused.contains("unknown topic `lottery`") && refused.contains("ticker, stock, prize_stock"),
            "{refused}"
        );
        for bad in [
            r#"{"type":"subscribe"}"#,
            r#"{"type":"subscribe","topics":"stock"}"#,
            r#"{"type":"subscribe","topics":[1]}"#,
            r#"{"type":"subscribe","topics":[],"batch":"yes"}"#,
        ] {
            assert!(sub(bad).is_err(), "{bad}");
        }
        assert_eq!(
            outbox.listening(),
            Listen { topics: Topics::of([]), products: None, batch: true },
            "refusals changed nothing"
        );
    }
}
