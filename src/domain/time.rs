//! Times are UTC epoch milliseconds in the store and ISO 8601 on the wire.

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
