//! Times are UTC epoch milliseconds in the store and ISO 8601 on the wire ([`Timestamp`]).
//!
//! Owns the server's two clocks:
//! - [`now_ms`], business time: what every dated fact is stamped with and what decides its
//!   `BUSINESS_TZ` day, week and month (check-ins, task rounds, leaderboard periods, daily draw
//!   counts, seed rotation, ledger and audit times).
//! - [`wall_ms`], the machine's clock: sessions only (access and refresh token expiry, refresh
//!   rotation, revocation), because `jsonwebtoken` checks `exp` against the system clock itself.
//!
//! They differ only when the test hook `POST /api/admin/test-hooks/clock` (registered only with
//! `ENABLE_TEST_HOOKS=1`, which production refuses) has set an offset, so black-box tests can
//! cross midnight, a week or a month without waiting. Sessions stay on the wall clock so that a
//! shift never expires the tokens a test already holds, nor issues tokens `jsonwebtoken` would
//! find expired (a backwards shift would).

use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, SecondsFormat, Utc};

/// Milliseconds added to the wall clock to give business time; 0 unless a test hook set it.
static OFFSET_MS: AtomicI64 = AtomicI64::new(0);

/// The largest shift the test hook accepts either way: ten years.
pub const MAX_OFFSET_MS: i64 = 10 * 366 * 86_400_000;

/// Business time, epoch ms (the wall clock plus the test offset).
pub fn now_ms() -> i64 {
    // Relaxed: the offset is one independent value; a request racing the hook may see either.
    wall_ms() + OFFSET_MS.load(Ordering::Relaxed)
}

/// The machine's clock, epoch ms, never shifted: for session tokens only.
pub fn wall_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// Test hook only: business time becomes the wall clock plus `offset_ms` (clamped to
/// ±[`MAX_OFFSET_MS`]). Returns the offset in force.
pub fn set_offset_ms(offset_ms: i64) -> i64 {
    let offset = clamp_offset(offset_ms);
    OFFSET_MS.store(offset, Ordering::Relaxed);
    offset
}

fn clamp_offset(offset_ms: i64) -> i64 {
    offset_ms.clamp(-MAX_OFFSET_MS, MAX_OFFSET_MS)
}

pub fn offset_ms() -> i64 {
    OFFSET_MS.load(Ordering::Relaxed)
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

    #[test]
    fn an_offset_is_clamped_to_ten_years() {
        // The offset itself is process-wide, so unit tests never set it (other tests read the
        // clock in parallel); the black-box tests in tests/loyalty_days.rs drive it.
        assert_eq!(clamp_offset(86_400_000), 86_400_000);
        assert_eq!(clamp_offset(-86_400_000), -86_400_000);
        assert_eq!(clamp_offset(i64::MAX), MAX_OFFSET_MS);
        assert_eq!(clamp_offset(i64::MIN), -MAX_OFFSET_MS);
    }
}
