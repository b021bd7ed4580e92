//! The admin's side of `GET /ws`: a socket opened with an admin token gets `connected`, then a
//! `live_stats` message every [`LIVE_EVERY`] (draws per minute, open sockets) for the console's
//! live page, answers `ping`, and nothing else (no customer events, no broadcasts).
//!
//! Cost: the figures are read from what the server keeps anyway. Draws are counted by this
//! socket's own receiver of the committed-facts stream ([`crate::events`]): publishing there is
//! one ring write whatever the number of receivers, so a draw pays nothing for an open console,
//! and a console that falls behind is told how much it missed instead of slowing a draw. The
//! socket count is the Hub's map length. No Hub registration: an admin is not a customer and
//! must never receive a customer's messages.
//!
//! The admin's authority is checked like every admin request (the account exists, the token
//! family is live) before the upgrade, and the socket closes with 4003 when that family is
//! revoked (checked on every tick) or the access token expires, and with 1001 on shutdown.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::broadcast::error::RecvError;

use super::error::ApiError;
use super::ws::{send, until, Close};
use super::AppState;
use crate::auth::AccessClaims;
use crate::domain::time::{now_ms, Timestamp};
use crate::events::Committed;
use crate::notify::event::{BadMessage, Connected, LiveStats, Pong};
use crate::notify::{ServerEvent, ServerMessage};

/// How often an admin socket gets `live_stats`.
pub const LIVE_EVERY: Duration = Duration::from_secs(2);

/// The window of "draws per minute".
const WINDOW_MS: i64 = 60_000;

/// Draws seen by one console socket: the last minute's, and the total since it opened.
#[derive(Debug, Default)]
pub struct DrawWindow {
    /// (committed at, draws), oldest first.
    recent: VecDeque<(i64, i64)>,
    since_open: i64,
}

impl DrawWindow {
    pub fn record(&mut self, at_ms: i64, count: i64) {
        self.recent.push_back((at_ms, count));
        self.since_open += count;
    }

    /// Draws committed within the minute before `now_ms` (older entries are forgotten).
    pub fn per_minute(&mut self, now_ms: i64) -> i64 {
        while self.recent.front().is_some_and(|(at, _)| *at <= now_ms - WINDOW_MS) {
            self.recent.pop_front();
        }
        self.recent.iter().map(|(_, n)| n).sum()
    }

    pub fn since_open(&self) -> i64 {
        self.since_open
    }
}

/// The upgrade for an admin token (already verified as an access token of kind admin).
pub async fn upgrade(
    state: AppState,
    claims: AccessClaims,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    // As every admin request: the account may have been removed or its password reset.
    let live = match state.store.admin(claims.user_id).await {
        Ok(Some(_)) => state.store.token_family_live(&claims.fam).await,
        Ok(None) => Ok(false),
        Err(e) => Err(e),
    };
    match live {
        Ok(true) => {}
        Ok(false) => return ApiError::TokenInvalid.into_response(),
        Err(e) => return ApiError::from(e).into_response(),
    }
    let Ok(ws) = ws else {
        return ApiError::bad("upgrade", "a WebSocket upgrade request is required").into_response();
    };
    let guard = state.sockets.token();
    ws.max_message_size(16 * 1024).max_frame_size(16 * 1024).read_buffer_size(4 * 1024).write_buffer_size(0).on_upgrade(
        move |socket| async move {
            run(socket, state, claims).await;
            drop(guard);
        },
    )
}

fn live_stats(state: &AppState, window: &mut DrawWindow) -> ServerEvent {
    let now = now_ms();
    ServerEvent::LiveStats(LiveStats {
        draws_per_minute: window.per_minute(now),
        draws_since_open: window.since_open(),
        open_sockets: i64::try_from(state.hub.sockets()).unwrap_or(i64::MAX),
        server_time: Timestamp(now),
    })
}

async fn run(socket: WebSocket, state: AppState, claims: AccessClaims) {
    // Subscribed before anything is sent, so no draw committed after `connected` is missed.
    let mut events = state.events.subscribe_everywhere();
    let (mut tx, mut rx) = socket.split();
    let ws = &state.config.ws;
    let write_timeout = ws.write_timeout;
    let mut window = DrawWindow::default();
    let connected = ServerMessage::from(ServerEvent::Connected(Connected {
        user_id: claims.user_id,
        server_time: Timestamp(now_ms()),
    }));
    let mut close: Option<Close> = None;
    if send(&mut tx, write_timeout, Message::Text(connected.text)).await
        && send(&mut tx, write_timeout, Message::Text(ServerMessage::from(live_stats(&state, &mut window)).text)).await
    {
        let mut tick = tokio::time::interval(LIVE_EVERY);
        tick.tick().await;
        let mut ping = tokio::time::interval(ws.ping_every);
        ping.tick().await;
        let expiry = tokio::time::sleep_until(until(claims.exp.saturating_mul(1000)));
        tokio::pin!(expiry);
        let shutdown = state.shutdown.cancelled();
        tokio::pin!(shutdown);
        let mut last_seen = Instant::now();
        let mut events_open = true;
        close = loop {
            tokio::select! {
                _ = &mut shutdown => break Some(Close::Shutdown),
                _ = &mut expiry => break Some(Close::Revoked),
                event = events.recv(), if events_open => match event {
                    Ok(Committed::Drew { count, at, .. }) => window.record(at, count),
                    Ok(_) => {}
                    // Missed draws are only missing from the figure; a console must never slow
                    // the stream down.
                    Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => events_open = false,
                },
                _ = tick.tick() => {
                    if state.tokens.is_revoked(&claims.fam) {
                        break Some(Close::Revoked);
                    }
                    let stats = ServerMessage::from(live_stats(&state, &mut window));
                    if !send(&mut tx, write_timeout, Message::Text(stats.text)).await {
                        break None;
                    }
                }
                _ = ping.tick() => {
                    if last_seen.elapsed() > ws.idle_timeout {
                        break Some(Close::Silent);
                    }
                    if !send(&mut tx, write_timeout, Message::Ping(Default::default())).await {
                        break None;
                    }
                }
                incoming = rx.next() => {
                    let Some(Ok(msg)) = incoming else { break None };
                    last_seen = Instant::now();
                    let reply = match msg {
                        Message::Text(text) => Some(answer(text.as_str())),
                        Message::Binary(_) => Some(BadMessage::event("binary messages are not supported")),
                        Message::Close(_) => break None,
                        Message::Ping(_) | Message::Pong(_) => None,
                    };
                    if let Some(reply) = reply {
                        if !send(&mut tx, write_timeout, Message::Text(ServerMessage::from(reply).text)).await {
                            break None;
                        }
                    }
                }
            }
        };
    }
    if let Some(close) = close {
        let frame = CloseFrame { code: close.code(), reason: close.reason().into() };
        send(&mut tx, write_timeout, Message::Close(Some(frame))).await;
    }
    let _ = tx.close().await;
}

/// An admin socket answers `ping`; anything else is an `error` (it has nothing to subscribe to).
fn answer(text: &str) -> ServerEvent {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(v) if v.get("type").and_then(|t| t.as_str()) == Some("ping") => {
            ServerEvent::Pong(Pong { server_time: Timestamp(now_ms()) })
        }
        Ok(_) => BadMessage::event("an admin socket only answers ping"),
        Err(_) => BadMessage::event("消息格式错误: not JSON"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_per_minute_counts_the_last_sixty_seconds_and_forgets_older_ones() {
        let mut w = DrawWindow::default();
        w.record(1_000, 10);
        w.record(30_000, 3);
        w.record(61_500, 1);
        assert_eq!(w.per_minute(61_500), 4, "the draw at 1 s is more than a minute before 61.5 s");
        assert_eq!(w.per_minute(95_000), 1);
        assert_eq!(w.per_minute(200_000), 0);
        assert_eq!(w.since_open(), 14, "the total keeps everything");
    }

    #[test]
    fn an_admin_socket_answers_ping_and_refuses_the_rest() {
        assert_eq!(answer(r#"{"type":"ping"}"#).kind(), "pong");
        assert_eq!(answer(r#"{"type":"subscribe","topics":[]}"#).kind(), "error");
        assert_eq!(answer("nonsense").kind(), "error");
    }
}
