//! The two writes that go straight to the store rather than through group commit: a direct
//! change of the balance (an administrator's correction), and the credit for an approved receipt,
//! which commits together with the receipt's status change.

use serde_json::{json, Value};

use super::replay::CHANGE_OPERATION;
use super::{Caller, ChangeOutcome, WalletState};
use crate::actors::failure::Reply;
use crate::domain::points::{apply_delta, LedgerEntry};
use crate::domain::time::now_ms;
use crate::domain::{DomainError, PointsSource};
use crate::store::audit::AuditEntry;
use crate::store::ledger::PointsChangeWrite;
use crate::store::reviews::{ApprovalWrite, CommittedApproval};

/// A requested change to a customer's points.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct PointsChange {
    pub delta: i64,
    pub source: PointsSource,
    /// The ledger row's text ([`LedgerEntry::description`]).
    pub description: String,
    pub related_id: Option<String>,
    pub idempotency_key: Option<String>,
    /// Recorded with the change; the wallet fills in the balances before and after.
    pub audit: Option<AuditEntry>,
}

/// A merchant's approval of a receipt, as the customer's wallet applies it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ApprovalRequest {
    pub upload_id: i64,
    pub points: i64,
    pub actual_amount_cents: i64,
    pub reviewer_id: i64,
    pub reason: Option<String>,
}

/// The audit entry's before and after, with the balances; the caller's own "after" fields (the
/// admin's reason, say) are kept beside them.
fn with_balances(mut audit: AuditEntry, before: i64, after: i64, delta: i64) -> AuditEntry {
    audit.before = Some(json!({ "total_points": before }));
    let mut after_state = json!({ "total_points": after, "delta": delta });
    if let (Some(obj), Some(Value::Object(extra))) = (after_state.as_object_mut(), audit.after.take()) {
        obj.extend(extra);
    }
    audit.after = Some(after_state);
    audit
}

impl WalletState {
    pub(super) async fn change(&mut self, change: PointsChange, caller: Caller<'_>) -> Reply<ChangeOutcome> {
        if change.delta == 0 {
            return Err(DomainError::invalid("delta", "must not be zero").into());
        }
        let key = change.idempotency_key.as_deref();
        // Frozen points stay: a debit may take only the available ones.
        let (Some(after), Some(_)) =
            (apply_delta(self.balance, change.delta), apply_delta(self.available(), change.delta))
        else {
            return Err(DomainError::InsufficientPoints { required: -change.delta, current: self.available() }.into());
        };
        let write = PointsChangeWrite {
            fence: self.fence,
            user_id: self.user_id,
            balance_before: self.balance,
            delta: change.delta,
            source: change.source,
            description: change.description.clone(),
            related_id: change.related_id,
            idempotency: change.idempotency_key.clone().map(|k| (k, CHANGE_OPERATION)),
            audit: change.audit.map(|a| with_balances(a, self.balance, after, change.delta)),
            at: now_ms(),
        };
        caller.still_waiting(self.user_id)?;
        match self.deps.store.commit_points_change(&write).await {
            Ok(committed) => {
                let key = write.idempotency.map(|(key, _)| key);
                self.record_commit(committed.balance_after, key, committed.clone());
                let operation_id = committed.record_id.to_string();
                self.tell_balance(committed.delta, change.source, change.description, operation_id);
                Ok(ChangeOutcome { committed, replayed: false })
            }
            Err(e) => self.recover(e, key).await,
        }
    }

    pub(super) async fn approve(&mut self, req: ApprovalRequest, caller: Caller<'_>) -> Reply<CommittedApproval> {
        self.refresh_if_stale().await?;
        let write = ApprovalWrite {
            fence: self.fence,
            upload_id: req.upload_id,
            user_id: self.user_id,
            balance_before: self.balance,
            // The level multiplier applies after the receipt clamp.
            points: self.at_level(req.points),
            actual_amount_cents: req.actual_amount_cents,
            reviewer_id: req.reviewer_id,
            reason: req.reason,
            at: now_ms(),
        };
        caller.still_waiting(self.user_id)?;
        let done = match self.deps.store.commit_approval(&write).await {
            Ok(done) => done,
            Err(e) => {
                // The outcome may be unknown: only the store knows the balance now.
                self.stale = true;
                return Err(e.into());
            }
        };
        self.balance = done.balance_after;
        let credit = LedgerEntry::ApprovedReceipt;
        self.tell_balance(done.points, credit.source(), credit.description(), done.upload_id.to_string());
        self.deps.events.publish(crate::events::Committed::ReceiptApproved { user_id: self.user_id, at: write.at });
        self.earned(done.points, write.at).await;
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_audit_records_the_balances_beside_the_callers_own_fields() {
        let audit = AuditEntry {
            actor_kind: "admin".into(),
            actor_id: 1,
            actor_name: "root".into(),
            action: "user.points.adjust".into(),
            target_type: "user".into(),
            target_id: "7".into(),
            before: None,
            after: Some(json!({ "reason": "补偿" })),
            at: 0,
        };
        let audit = with_balances(audit, 100, 350, 250);
        assert_eq!(audit.before, Some(json!({ "total_points": 100 })));
        assert_eq!(audit.after, Some(json!({ "total_points": 350, "delta": 250, "reason": "补偿" })));
    }
}
