//! Times are UTC epoch milliseconds in the store and ISO 8601 on the wire ([`Timestamp`]).

use chrono::{DateTime, SecondsFormat, Utc};

pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// `2026-11-21T10:00:00.000Z`; 0 (never) renders as `null` through [`iso_opt`].
pub fn iso(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default().to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub fn iso_opt(ms: i64) -> Option<String> {
    (ms > 0).then(|| iso(ms))
}

/// A point in time on the wire: ISO 8601 in UTC with milliseconds (`2026-12-01T08:00:00.000Z`),
/// as every answer gives times. Held as epoch milliseconds, like the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timestamp(pub i64);

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&iso(self.0))
    }
}

impl utoipa::PartialSchema for Timestamp {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
            .description(Some("ISO 8601 time in UTC, with milliseconds"))
            .examples([serde_json::json!("2026-12-01T08:00:00.000Z")])
            .into()
    }
}

impl utoipa::ToSchema for Timestamp {}

impl Timestamp {
    /// The store writes 0 for "never": that is `null` on the wire.
    pub fn opt(ms: i64) -> Option<Timestamp> {
        (ms > 0).then_some(Timestamp(ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_utc_millis() {
        assert_eq!(iso(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(iso_opt(0), None);
    }
}
