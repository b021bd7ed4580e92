//! A [`ServerEvent`] as it goes out: `{type, data, timestamp, message_id}`, serialized once into
//! shared bytes that every socket it goes to sends as they are (a clone is a reference count).
//! A `batch` is put together from messages already rendered ([`batch_frame`]): its items are
//! those very bytes, so batching never serializes an event again.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::ws::Utf8Bytes;
use serde::Serialize;
use utoipa::ToSchema;

use super::event::ServerEvent;
use crate::domain::time::{now_ms, Timestamp};

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Every server message on the wire: the event's `type` and `data`, when it was sent, and an id
/// unique within the server's run.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
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

/// `{"type":"batch","data":[items…],"timestamp":…,"message_id":…}` from rendered messages, by
/// concatenation: the same text serde would write for [`ServerEvent::Batch`] of those messages.
pub fn batch_frame<'a>(items: impl IntoIterator<Item = &'a Utf8Bytes>) -> Utf8Bytes {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let timestamp = serde_json::to_string(&Timestamp(now_ms())).unwrap_or_else(|_| "null".into());
    let mut text = String::with_capacity(256);
    text.push_str(r#"{"type":"batch","data":["#);
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        text.push_str(item.as_str());
    }
    text.push_str(r#"],"timestamp":"#);
    text.push_str(&timestamp);
    text.push_str(r#","message_id":"m"#);
    text.push_str(&id.to_string());
    text.push_str(r#""}"#);
    text.into()
}

impl From<ServerEvent> for ServerMessage {
    fn from(event: ServerEvent) -> ServerMessage {
        ServerMessage::at(event, now_ms())
    }
}

impl ServerMessage {
    /// Rendered with the time it happened (`at_ms`), for a broadcast that waited for its flush:
    /// the timestamp says when the change was committed, not when it was sent.
    pub fn at(event: ServerEvent, at_ms: i64) -> ServerMessage {
        let kind = event.kind();
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let timestamp = Timestamp(at_ms);
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

    #[test]
    fn a_batch_put_together_from_rendered_messages_is_what_serde_writes_for_the_typed_batch() {
        let items: Vec<ServerMessage> = every_event().into_iter().take(8).map(ServerMessage::from).collect();
        let frame = batch_frame(items.iter().map(|m| &m.text));
        let got: Value = serde_json::from_str(&frame).unwrap();
        assert_eq!(got["type"], "batch");
        let typed: Vec<Value> = items.iter().map(|m| serde_json::from_str(&m.text).unwrap()).collect();
        assert_eq!(got["data"], Value::Array(typed), "each item is the message as sent alone");
        assert!(got["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')), "{got}");
        assert!(got["message_id"].as_str().is_some_and(|id| id.starts_with('m')), "{got}");
        let empty: Value = serde_json::from_str(&batch_frame([])).unwrap();
        assert_eq!(empty["data"], serde_json::json!([]));
    }
}
