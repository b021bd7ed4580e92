//! A [`ServerEvent`] as it goes out: `{type, data, timestamp, message_id}`, serialized once into
//! shared bytes that every socket it goes to sends as they are (a clone is a reference count).

use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::ws::Utf8Bytes;
use serde::Serialize;
use utoipa::ToSchema;

use super::event::ServerEvent;
use crate::domain::time::{now_ms, Timestamp};

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Every server message on the wire: the event's `type` and `data`, when it was sent, and an id
/// unique within the server's run.
#[derive(Debug, Serialize, ToSchema)]
pub struct WsServerMessage {
    #[serde(flatten)]
    pub event: ServerEvent,
    pub timestamp: Timestamp,
    /// Unique per message, e.g. `m42`.
    #[schema(example = "m42")]
    pub message_id: String,
}

/// A message rendered once, shared by every socket it goes to.
#[derive(Debug, Clone)]
pub struct ServerMessage {
    pub kind: &'static str,
    pub text: Utf8Bytes,
}

impl From<ServerEvent> for ServerMessage {
    fn from(event: ServerEvent) -> ServerMessage {
        let kind = event.kind();
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let timestamp = Timestamp(now_ms());
        let message = WsServerMessage { event, timestamp, message_id: format!("m{id}") };
        let text = serde_json::to_string(&message).unwrap_or_else(|e| {
            // Numbers and strings only: this cannot fail, but a socket should still get JSON.
            tracing::error!(kind, error = %e, "rendering a server message failed");
            serde_json::json!({ "type": kind, "data": {}, "timestamp": timestamp, "message_id": format!("m{id}") })
                .to_string()
        });
        ServerMessage { kind, text: text.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::event::tests::every_event;
    use serde_json::Value;

    #[test]
    fn the_envelope_is_type_data_timestamp_and_a_unique_id() {
        let mut ids = std::collections::HashSet::new();
        for event in every_event() {
            let data = serde_json::to_value(&event).unwrap()["data"].clone();
            let msg = ServerMessage::from(event);
            let v: Value = serde_json::from_str(&msg.text).unwrap();
            let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
            keys.sort_unstable();
            assert_eq!(keys, ["data", "message_id", "timestamp", "type"], "{v}");
            assert!(msg.text.starts_with(r#"{"type":"#), "the type comes first: {}", msg.text);
            assert_eq!((v["type"].as_str(), &v["data"]), (Some(msg.kind), &data));
            assert!(v["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')), "{v}");
            assert!(ids.insert(v["message_id"].as_str().unwrap().to_string()));
        }
    }
}
