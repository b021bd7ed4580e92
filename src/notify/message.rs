//! Server → client WebSocket messages: `{type, data, timestamp, message_id}`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde_json::{json, Value};

use crate::domain::time::{iso, now_ms};

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A message rendered once, shared by every socket it goes to.
#[derive(Debug, Clone)]
pub struct ServerMessage {
    pub kind: &'static str,
    pub text: Arc<str>,
}

impl ServerMessage {
    pub fn new(kind: &'static str, data: Value) -> ServerMessage {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let text = json!({
            "type": kind,
            "data": data,
            "timestamp": iso(now_ms()),
            "message_id": format!("m{id}"),
        })
        .to_string();
        ServerMessage { kind, text: text.into() }
    }

    pub fn points_update(
        user_id: i64,
        total_points: i64,
        change_points: i64,
        reason: &str,
        operation_id: &str,
    ) -> ServerMessage {
        ServerMessage::new(
            "points_update",
            json!({
                "user_id": user_id,
                "total_points": total_points,
                "change_points": change_points,
                "reason": reason,
                "operation_id": operation_id,
            }),
        )
    }
}
