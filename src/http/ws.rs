//! `GET /ws`: the live channel. Auth happens before the upgrade (a bad token is a plain 401
//! envelope). Each socket is one task that sends what the Hub queued for it, answers the client's
//! messages, pings on a timer, closes a socket that went silent, and says 1001 on shutdown.
//!
//! Close codes: 1001 server shutting down, 1013 the client could not keep up, 4001 replaced by
//! the customer's newer connection (at most three per customer), 4002 no answer to pings.

use crate::domain::DomainError;
use std::collections::HashSet;
use std::time::Instant;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::{bearer, ApiQuery};
use super::AppState;
use crate::auth::SubjectKind;
use crate::domain::time::{iso, now_ms};
use crate::notify::{CloseReason, Outbox, ServerMessage};

const MAX_CLIENT_MESSAGE: usize = 16 * 1024;

/// `GET /ws`, documented like every other route.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(upgrade))
}

/// The messages each way and the close codes, for the document's `x-websocket-messages`.
pub fn documentation() -> Value {
    serde_json::from_str(include_str!("ws_messages.json")).unwrap_or(Value::Null)
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
/// (default all) → `subscribed`. Unknown or malformed messages (and binary frames) get an
/// `error` message; the socket stays open. Client messages are at most 16 KB.
///
/// The server pings every 30 s and closes a socket silent for 90 s. At most 3 sockets per
/// customer; a 4th closes the oldest. Coalesced values (`stock_update` per product,
/// `prize_stock_update` per prize, the `wheel_win` ticker) go out at the next flush, latest value
/// only. Close codes: 1001 server shutting down; 1013 too slow (queue overflowed); 4001 replaced
/// by a newer connection; 4002 no answer to pings. Not behind the per-IP limiter.
///
/// Errors: 1003 2005
#[utoipa::path(
    get,
    path = "/ws",
    tag = "websocket",
    params(("token" = Option<String>, Query, description = "The access token (or send `Authorization: Bearer`)")),
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
    let claims = match state.tokens.verify_access(token) {
        Ok(c) if c.kind == SubjectKind::User => c,
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
    let user_id = claims.user_id;
    let guard = state.sockets.token();
    // tungstenite's default buffers are 128 KiB each way; clients send a few bytes and receive
    // small JSON, and ten thousand sockets at the defaults would hold over a gigabyte.
    ws.max_message_size(MAX_CLIENT_MESSAGE)
        .max_frame_size(MAX_CLIENT_MESSAGE)
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .on_upgrade(move |socket| async move {
            run(socket, state, user_id, is_merchant).await;
            drop(guard);
        })
}

async fn run(socket: WebSocket, state: AppState, user_id: i64, is_merchant: bool) {
    let outbox = state.hub.register(user_id, is_merchant);
    metrics::gauge!("ws_sockets").set(state.hub.sockets() as f64);
    let (mut tx, mut rx) = socket.split();
    let connected = ServerMessage::new("connected", json!({ "user_id": user_id, "server_time": iso(now_ms()) }));
    let mut close: Option<(u16, &str)> = None;
    if tx.send(Message::Text(connected.text.as_ref().into())).await.is_ok() {
        let ws = &state.config.ws;
        let mut ping = tokio::time::interval(ws.ping_every);
        ping.tick().await;
        let mut last_seen = Instant::now();
        close = loop {
            tokio::select! {
                _ = state.shutdown.cancelled() => break Some((1001, "server shutting down")),
                _ = outbox.ready() => {
                    let batch = outbox.take();
                    let mut failed = false;
                    for m in batch.messages {
                        if tx.send(Message::Text(m.as_ref().into())).await.is_err() {
                            failed = true;
                            break;
                        }
                    }
                    if failed {
                        break None;
                    }
                    if let Some(reason) = batch.close {
                        break Some(match reason {
                            CloseReason::Overflow => (1013, "too slow: message queue overflowed"),
                            CloseReason::Replaced => (4001, "replaced by a newer connection"),
                            CloseReason::Shutdown => (1001, "server shutting down"),
                        });
                    }
                }
                _ = ping.tick() => {
                    if last_seen.elapsed() > ws.idle_timeout {
                        break Some((4002, "no answer to pings"));
                    }
                    if tx.send(Message::Ping(Default::default())).await.is_err() {
                        break None;
                    }
                }
                incoming = rx.next() => {
                    let Some(Ok(msg)) = incoming else { break None };
                    last_seen = Instant::now();
                    let reply = match msg {
                        Message::Text(text) => answer(&outbox, text.as_str()),
                        Message::Binary(_) => Some(error("binary messages are not supported")),
                        Message::Close(_) => break None,
                        Message::Ping(_) | Message::Pong(_) => None,
                    };
                    if let Some(reply) = reply {
                        if tx.send(Message::Text(reply.text.as_ref().into())).await.is_err() {
                            break None;
                        }
                    }
                }
            }
        };
    }
    if let Some((code, reason)) = close {
        let frame = CloseFrame { code, reason: reason.into() };
        let _ = tx.send(Message::Close(Some(frame))).await;
    }
    state.hub.unregister(&outbox);
    metrics::gauge!("ws_sockets").set(state.hub.sockets() as f64);
}

fn error(msg: &str) -> ServerMessage {
    ServerMessage::new("error", json!({ "code": 1003, "msg": msg }))
}

/// The server's answer to one client message, if any.
fn answer(outbox: &Outbox, text: &str) -> Option<ServerMessage> {
    let Ok(value) = serde_json::from_str::<Value>(text) else {
        return Some(error("消息格式错误: not JSON"));
    };
    match value.get("type").and_then(Value::as_str) {
        Some("ping") => Some(ServerMessage::new("pong", json!({ "server_time": iso(now_ms()) }))),
        Some("subscribe_product") => {
            let Some(ids) = value.get("product_ids").and_then(Value::as_array) else {
                return Some(error("product_ids must be an array of product ids"));
            };
            let parsed: Option<HashSet<i64>> = ids.iter().map(Value::as_i64).collect();
            match parsed {
                Some(set) if set.len() <= 1000 => {
                    let mut list: Vec<i64> = set.iter().copied().collect();
                    list.sort_unstable();
                    outbox.subscribe_products(set);
                    Some(ServerMessage::new("subscribed", json!({ "product_ids": list })))
                }
                _ => Some(error("product_ids must be an array of at most 1000 integer ids")),
            }
        }
        Some(other) => Some(error(&format!("unknown message type `{}`", other.chars().take(32).collect::<String>()))),
        None => Some(error("a message needs a string `type`")),
    }
}
