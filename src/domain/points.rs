//! Where points come from and go to. Every ledger row names its source, and says in Chinese what
//! happened ([`LedgerEntry::description`]): the one place for that wording, which the points
//! history shows and `points_update` carries.

use std::fmt;
use std::str::FromStr;

/// Points every new customer starts with, booked as one `register` entry in their ledger.
pub const SIGN_UP_GRANT: i64 = 1000;

/// A ledger row's `source` (the wire's `reason` in `points_update`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, utoipa::ToSchema, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
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
    /// The daily check-in (with the month's bonus on the 20th).
    Checkin,
    /// A completed task's reward.
    Task,
}

impl PointsSource {
    pub const ALL: [PointsSource; 8] = [
        PointsSource::Register,
        PointsSource::Lottery,
        PointsSource::LotteryWin,
        PointsSource::Exchange,
        PointsSource::PhotoReview,
        PointsSource::AdminAdjust,
        PointsSource::Checkin,
        PointsSource::Task,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PointsSource::Register => "register",
            PointsSource::Lottery => "lottery",
            PointsSource::LotteryWin => "lottery_win",
            PointsSource::Exchange => "exchange",
            PointsSource::PhotoReview => "photo_review",
            PointsSource::AdminAdjust => "admin_adjust",
            PointsSource::Checkin => "checkin",
            PointsSource::Task => "task",
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

/// What one ledger row records, with the details its wording needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LedgerEntry<'a> {
    /// The sign-up grant.
    SignUp,
    /// The debit of a draw batch of `count` draws.
    Draws { count: i64 },
    /// Points won on the wheel.
    Win { prize: &'a str },
    /// A points-shop redemption.
    Redemption { product: &'a str, quantity: i64 },
    /// The credit for a merchant-approved receipt.
    ApprovedReceipt,
    /// An administrator's correction, with the reason given (possibly empty).
    Adjustment { reason: &'a str },
    /// A check-in on day `streak` of a streak, with the month's bonus when it is the 20th.
    Checkin { streak: i64, bonus: i64 },
    /// A task's reward.
    Task { name: &'a str },
}

impl LedgerEntry<'_> {
    pub fn source(&self) -> PointsSource {
        match self {
            LedgerEntry::SignUp => PointsSource::Register,
            LedgerEntry::Draws { .. } => PointsSource::Lottery,
            LedgerEntry::Win { .. } => PointsSource::LotteryWin,
            LedgerEntry::Redemption { .. } => PointsSource::Exchange,
            LedgerEntry::ApprovedReceipt => PointsSource::PhotoReview,
            LedgerEntry::Adjustment { .. } => PointsSource::AdminAdjust,
            LedgerEntry::Checkin { .. } => PointsSource::Checkin,
            LedgerEntry::Task { .. } => PointsSource::Task,
        }
    }

    /// The row's `description`: the text the mini-program shows for it.
    pub fn description(&self) -> String {
        match self {
            LedgerEntry::SignUp => "新用户注册奖励".to_string(),
            LedgerEntry::Draws { count } => format!("抽奖 {count} 次"),
            LedgerEntry::Win { prize } => format!("抽中 {prize}"),
            LedgerEntry::Redemption { product, quantity } => format!("兑换 {product} ×{quantity}"),
            LedgerEntry::ApprovedReceipt => "消费小票审核通过".to_string(),
            LedgerEntry::Adjustment { reason: "" } => "管理员调整".to_string(),
            LedgerEntry::Adjustment { reason } => format!("管理员调整: {reason}"),
            LedgerEntry::Checkin { streak, bonus: 0 } => format!("每日签到 (连续{streak}天)"),
            LedgerEntry::Checkin { streak, bonus } => format!("每日签到 (连续{streak}天, 本月第20次奖励{bonus})"),
            LedgerEntry::Task { name } => format!("任务奖励: {name}"),
        }
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
    fn the_wire_names_sources_as_the_ledger_does() {
        for s in PointsSource::ALL {
            assert_eq!(serde_json::to_value(s).unwrap(), serde_json::json!(s.as_str()));
        }
    }

    #[test]
    fn each_entry_says_what_happened() {
        let said = |e: LedgerEntry| (e.source(), e.description());
        assert_eq!(said(LedgerEntry::SignUp), (PointsSource::Register, "新用户注册奖励".into()));
        assert_eq!(said(LedgerEntry::Draws { count: 10 }), (PointsSource::Lottery, "抽奖 10 次".into()));
        assert_eq!(said(LedgerEntry::Win { prize: "500积分" }), (PointsSource::LotteryWin, "抽中 500积分".into()));
        let redemption = LedgerEntry::Redemption { product: "奶茶", quantity: 2 };
        assert_eq!(said(redemption), (PointsSource::Exchange, "兑换 奶茶 ×2".into()));
        assert_eq!(said(LedgerEntry::ApprovedReceipt), (PointsSource::PhotoReview, "消费小票审核通过".into()));
        assert_eq!(said(LedgerEntry::Adjustment { reason: "" }), (PointsSource::AdminAdjust, "管理员调整".into()));
        assert_eq!(LedgerEntry::Adjustment { reason: "补偿" }.description(), "管理员调整: 补偿");
    }

    #[test]
    fn balance_never_goes_negative() {
        assert_eq!(apply_delta(100, -100), Some(0));
        assert_eq!(apply_delta(100, -101), None);
        assert_eq!(apply_delta(0, 5), Some(5));
        assert_eq!(apply_delta(i64::MAX, 1), None);
    }
}
