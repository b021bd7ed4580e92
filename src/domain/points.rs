//! Where points come from and go to. Every ledger row names its source.

use std::fmt;
use std::str::FromStr;

/// Points every new customer starts with, booked as one `register` entry in their ledger.
pub const SIGN_UP_GRANT: i64 = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PointsSource {
    /// The sign-up grant.
    Register,
    /// A draw batch's debit.
    Lottery,
    /// Points won on the wheel.
    LotteryWin,
    /// A points-shop redemption.
    Exchange,
    /// A merchant-approved receipt photo.
    PhotoReview,
    /// An administrator's manual correction.
    AdminAdjust,
}

impl PointsSource {
    pub const ALL: [PointsSource; 6] = [
        PointsSource::Register,
        PointsSource::Lottery,
        PointsSource::LotteryWin,
        PointsSource::Exchange,
        PointsSource::PhotoReview,
        PointsSource::AdminAdjust,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PointsSource::Register => "register",
            PointsSource::Lottery => "lottery",
            PointsSource::LotteryWin => "lottery_win",
            PointsSource::Exchange => "exchange",
            PointsSource::PhotoReview => "photo_review",
            PointsSource::AdminAdjust => "admin_adjust",
        }
    }
}

impl fmt::Display for PointsSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PointsSource {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        PointsSource::ALL.into_iter().find(|p| p.as_str() == s).ok_or(())
    }
}

/// The `type` filter of the points history: earned (positive) or spent (negative) rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RecordDirection {
    Earn,
    Spend,
}

impl FromStr for RecordDirection {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "earn" => Ok(RecordDirection::Earn),
            "spend" => Ok(RecordDirection::Spend),
            _ => Err(()),
        }
    }
}

/// The balance after applying `delta`, or `None` when it would go negative or overflow.
pub fn apply_delta(balance: i64, delta: i64) -> Option<i64> {
    balance.checked_add(delta).filter(|b| *b >= 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_round_trip() {
        for s in PointsSource::ALL {
            assert_eq!(s.as_str().parse::<PointsSource>(), Ok(s));
        }
        assert!("bonus".parse::<PointsSource>().is_err());
    }

    #[test]
    fn a_new_customer_starts_with_the_contracts_thousand_points() {
        assert_eq!(SIGN_UP_GRANT, 1000);
        assert_eq!(apply_delta(0, SIGN_UP_GRANT), Some(1000));
    }

    #[test]
    fn balance_never_goes_negative() {
        assert_eq!(apply_delta(100, -100), Some(0));
        assert_eq!(apply_delta(100, -101), None);
        assert_eq!(apply_delta(0, 5), Some(5));
        assert_eq!(apply_delta(i64::MAX, 1), None);
    }
}
