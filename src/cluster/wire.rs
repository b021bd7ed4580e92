//! What travels between nodes when a wallet call is forwarded to the customer's owning node:
//! the call (one variant per wallet request), its answer, and a failure in a form that keeps
//! what the caller must know — a business refusal as itself, and whether anything may have been
//! written (which decides whether the call may be asked again).

use serde::{Deserialize, Serialize};

use crate::actors::wallet::{CheckinOutcome, CheckinRequest, FreezeOutcome, FreezeRequest, TaskClaimRequest};
use crate::actors::{
    ApprovalRequest, ChangeOutcome, DrawOutcome, DrawRequest, Failure, PointsChange, RedeemOutcome, RedeemRequest,
    WalletSnapshot,
};
use crate::domain::DomainError;
use crate::store::ledger::CommittedChange;
use crate::store::reviews::CommittedApproval;

#[derive(Debug, Serialize, Deserialize)]
pub struct Forwarded {
    pub user_id: i64,
    pub call: WalletCall,
}

/// A call on a customer's wallet.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum WalletCall {
    Snapshot,
    Change(Box<PointsChange>),
    Draw(DrawRequest),
    Redeem(RedeemRequest),
    Approve(ApprovalRequest),
    Checkin(CheckinRequest),
    ClaimTask(TaskClaimRequest),
    Freeze(FreezeRequest),
}

/// The answer to a [`WalletCall`], the same variant.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum WalletDone {
    Snapshot(WalletSnapshot),
    Change(ChangeOutcome),
    Draw(DrawOutcome),
    Redeem(RedeemOutcome),
    Approve(CommittedApproval),
    Checkin(CheckinOutcome),
    ClaimTask(CommittedChange),
    Freeze(FreezeOutcome),
}

/// A [`Failure`] on the wire.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum WireFailure {
    Refused(DomainError),
    /// Certainly nothing written (the owner's store refused or was unreachable before the
    /// write, or the wallet was not there): the caller may ask again.
    NothingDone(String),
    /// The outcome is unknown (a timeout, a broken connection at commit).
    Unknown(String),
    Fault(String),
}

impl From<Failure> for WireFailure {
    fn from(f: Failure) -> WireFailure {
        match f {
            Failure::Refused(d) => WireFailure::Refused(d),
            Failure::Elsewhere(m) => WireFailure::NothingDone(m),
            ref other if other.nothing_written() && !matches!(other, Failure::Fault { .. }) => {
                WireFailure::NothingDone(other.to_string())
            }
            Failure::TimedOut(m) => WireFailure::Unknown(m),
            Failure::StoreUnavailable(e) => WireFailure::Unknown(e.to_string()),
            Failure::Fault { context, source } => WireFailure::Fault(match source {
                Some(s) => format!("{context}: {s}"),
                None => context,
            }),
        }
    }
}

impl From<WireFailure> for Failure {
    fn from(f: WireFailure) -> Failure {
        match f {
            WireFailure::Refused(d) => Failure::Refused(d),
            WireFailure::NothingDone(m) => Failure::Elsewhere(m),
            WireFailure::Unknown(m) => Failure::TimedOut(m),
            WireFailure::Fault(m) => Failure::fault(format!("on the owning node: {m}")),
        }
    }
}

/// Why an answer of the wrong variant came back (a bug, never a client's doing).
pub fn mismatched() -> Failure {
    Failure::fault("a forwarded wallet call was answered with another call's result")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_crosses_as_itself_and_a_timeout_is_never_retryable() {
        let refused = Failure::from(DomainError::InsufficientPoints { required: 100, current: 5 });
        let back = Failure::from(WireFailure::from(refused));
        assert!(matches!(back, Failure::Refused(DomainError::InsufficientPoints { required: 100, current: 5 })));

        let timed_out = Failure::from(WireFailure::from(Failure::TimedOut("slow".into())));
        assert!(!timed_out.nothing_written(), "a timeout may have committed: the caller must not retry");

        let moved = Failure::from(WireFailure::from(Failure::Elsewhere("moved".into())));
        assert!(moved.nothing_written());

        let fault = Failure::from(WireFailure::from(Failure::fault("boom")));
        assert!(matches!(fault, Failure::Fault { .. }) && !fault.nothing_written());
    }

    #[test]
    fn calls_survive_the_round_trip() {
        let call = WalletCall::Draw(DrawRequest {
            campaign_id: 3,
            count: 10,
            idempotency_key: Some("k-1".into()),
            client_seed: None,
        });
        let json = serde_json::to_vec(&Forwarded { user_id: 42, call }).expect("encodes");
        let back: Forwarded = serde_json::from_slice(&json).expect("decodes");
        assert_eq!(back.user_id, 42);
        assert!(matches!(back.call, WalletCall::Draw(DrawRequest { campaign_id: 3, count: 10, .. })));
    }
}
