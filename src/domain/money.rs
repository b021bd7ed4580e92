//! Money is integer cents; receipt points follow from the confirmed amount.

/// Parses a decimal amount of yuan ("88", "88.5", "88.50") into cents. At most two decimals,
/// no sign, no exponent; `None` for anything else.
pub fn parse_cents(raw: &str) -> Option<i64> {
    let s = raw.trim();
    let (whole, frac) = match s.split_once('.') {
        Some((w, f)) => (w, f),
        None => (s, ""),
    };
    if whole.is_empty() || whole.len() > 9 || frac.len() > 2 {
        return None;
    }
    if !whole.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if s.contains('.') && frac.is_empty() {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let frac: i64 = match frac.len() {
        0 => 0,
        1 => frac.parse::<i64>().ok()? * 10,
        _ => frac.parse().ok()?,
    };
    whole.checked_mul(100)?.checked_add(frac)
}

/// Receipt amounts a customer may claim: 0.01–10000 yuan.
pub const MIN_RECEIPT_CENTS: i64 = 1;
pub const MAX_RECEIPT_CENTS: i64 = 1_000_000;

/// Points for a confirmed receipt: floor(amount × 10), clamped to 50–2000.
pub fn review_points(actual_cents: i64) -> i64 {
    (actual_cents / 10).clamp(50, 2000)
}

/// Cents as yuan, the number the wire shows (`88.5` for 8850).
pub fn yuan(cents: i64) -> f64 {
    cents as f64 / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_yuan_into_cents() {
        assert_eq!(parse_cents("88.50"), Some(8850));
        assert_eq!(parse_cents("88.5"), Some(8850));
        assert_eq!(parse_cents("88"), Some(8800));
        assert_eq!(parse_cents("0.01"), Some(1));
        assert_eq!(parse_cents(" 10000 "), Some(1_000_000));
        for bad in ["", ".5", "5.", "1.234", "-1", "+1", "1e3", "abc", "1,5", "1.5.5", "１"] {
            assert_eq!(parse_cents(bad), None, "{bad}");
        }
    }

    #[test]
    fn receipt_points_clamp_at_both_edges() {
        assert_eq!(review_points(300), 50, "3.00 → 30, raised to 50");
        assert_eq!(review_points(8850), 885, "88.50 → 885");
        assert_eq!(review_points(50_000), 2000, "500 → 5000, capped at 2000");
        assert_eq!(review_points(8859), 885, "floor, not round");
        assert_eq!(review_points(500), 50);
        assert_eq!(review_points(20_000), 2000);
    }
}
