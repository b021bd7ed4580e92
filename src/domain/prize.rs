//! A won prize's life (API.md "Prize lifecycle"): its cash value ceiling, when a coupon
//! expires, and the status a customer sees.

use super::wheel::PrizeKind;

/// ¥50,000 in cents: the legal ceiling of one prize in a prize promotion in China.
pub const MAX_CASH_VALUE_CENTS: i64 = 5_000_000;
/// Days a won coupon stays valid unless `COUPON_VALID_DAYS` says otherwise.
pub const COUPON_VALID_DAYS: i64 = 30;
const DAY_MS: i64 = 86_400_000;

/// When a prize won at `won_at` expires: coupons `valid_days` later; physical prizes (and
/// anything not in the inventory) never.
pub fn expires_at(kind: PrizeKind, won_at: i64, valid_days: i64) -> Option<i64> {
    (kind == PrizeKind::Coupon).then_some(won_at + valid_days * DAY_MS)
}

/// `unused|claimed|used|expired` at `now`: an unused or claimed prize past its expiry is expired.
pub fn status_at(stored: Option<&str>, expires_at: Option<i64>, now: i64) -> &'static str {
    let expired = expires_at.is_some_and(|e| now >= e);
    match stored {
        Some("used") => "used",
        Some("claimed") if expired => "expired",
        Some("claimed") => "claimed",
        _ if expired => "expired",
        _ => "unused",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coupons_expire_after_thirty_days_and_physical_prizes_never() {
        assert_eq!(expires_at(PrizeKind::Coupon, 1_000, COUPON_VALID_DAYS), Some(1_000 + 30 * 86_400_000));
        assert_eq!(expires_at(PrizeKind::Coupon, 1_000, 7), Some(1_000 + 7 * 86_400_000));
        assert_eq!(expires_at(PrizeKind::Physical, 1_000, 7), None);
        assert_eq!(expires_at(PrizeKind::Points, 1_000, 7), None);
    }

    #[test]
    fn the_status_a_customer_sees() {
        let end = Some(100);
        assert_eq!(status_at(Some("unused"), end, 99), "unused");
        assert_eq!(status_at(Some("unused"), end, 100), "expired");
        assert_eq!(status_at(Some("claimed"), end, 100), "expired");
        assert_eq!(status_at(Some("claimed"), None, 1_000_000), "claimed");
        assert_eq!(status_at(Some("used"), end, 1_000), "used");
        assert_eq!(status_at(None, None, 5), "unused");
    }
}
