//! The points ledger and the write-through of a wallet change.
//!
//! A change is one transaction: the balance update (guarded by the balance the actor believes
//! in, so two writers can never interleave unnoticed), the ledger row, and, when present, the
//! idempotency record and the audit entry.

use serde::{Deserialize, Serialize};
use sqlx::{FromRow, Row};

use super::audit::{self, AuditEntry};
use super::{idempotency_row, insert_rows, inserted_id, Store, StoreError, StoreResult, IDEMPOTENCY_INSERT_COLUMNS};
use crate::domain::{PageRequest, PointsSource, RecordDirection};

/// A points change as the wallet actor decided it.
#[derive(Debug, Clone)]
pub struct PointsChangeWrite {
    pub user_id: i64,
    pub balance_before: i64,
    /// The fence of the wallet actor that made this write (`users.owner_fence` when it started):
    /// a wallet that lost its customer to another node can never commit.
    pub fence: i64,
    pub delta: i64,
    pub source: PointsSource,
    pub description: String,
    pub related_id: Option<String>,
    /// `(key, operation)` when the request carried an Idempotency-Key.
    pub idempotency: Option<(String, &'static str)>,
    pub audit: Option<AuditEntry>,
    pub at: i64,
}

/// What a committed change produced; also what a retried request with the same key gets back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommittedChange {
    pub record_id: i64,
    pub user_id: i64,
    pub delta: i64,
    pub balance_after: i64,
    pub source: String,
}

#[derive(Debug, Clone, FromRow)]
pub struct LedgerRow {
    pub id: i64,
    pub user_id: i64,
    pub points: i64,
    pub balance_after: i64,
    pub source: String,
    pub description: String,
    pub related_id: Option<String>,
    pub created_at: i64,
}

/// Filters of the points history.
#[derive(Debug, Clone, Default)]
pub struct LedgerFilter {
    pub direction: Option<RecordDirection>,
    pub source: Option<PointsSource>,
}

/// Lifetime totals of a user's ledger.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LedgerTotals {
    pub earned: i64,
    pub spent: i64,
    pub records: i64,
}

/// How much a customer has done: draws, shop orders, receipt uploads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActivityCounts {
    pub draws: i64,
    pub exchanges: i64,
    pub uploads: i64,
    pub approved_uploads: i64,
}

impl Store {
    /// Writes a wallet change through. Fails with `Conflict` when the stored balance is not the
    /// one the actor started from, and with a unique violation when the idempotency key exists.
    pub async fn commit_points_change(&self, w: &PointsChangeWrite) -> StoreResult<CommittedChange> {
        let balance_after = w.balance_before + w.delta;
        let mut tx = self.begin_write().await?;
        let updated = sqlx::query(super::GUARDED_BALANCE_UPDATE)
            .bind(balance_after)
            .bind(w.at)
            .bind(w.user_id)
            .bind(w.balance_before)
            .bind(w.fence)
            .execute(tx.conn())
            .await?
            .rows_affected();
        if updated != 1 {
            return Err(StoreError::Conflict(format!(
                "user {} balance is not {} in the store",
                w.user_id, w.balance_before
            )));
        }
        let result = sqlx::query(
            "INSERT INTO points_records (user_id, points, balance_after, source, description, related_id, idempotency_key, created_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(w.user_id)
        .bind(w.delta)
        .bind(balance_after)
        .bind(w.source.as_str())
        .bind(w.description.clone())
        .bind(w.related_id.clone())
        .bind(w.idempotency.as_ref().map(|(k, _)| k.clone()))
        .bind(w.at)
        .execute(tx.conn())
        .await?;
        let record_id = inserted_id(&mut tx, result).await?;
        let committed = CommittedChange {
            record_id,
            user_id: w.user_id,
            delta: w.delta,
            balance_after,
            source: w.source.as_str().to_string(),
        };
        if let Some((key, operation)) = &w.idempotency {
            let row = idempotency_row(w.user_id, key, operation, &committed, w.at)?;
            insert_rows(&mut tx, "idempotency_keys", IDEMPOTENCY_INSERT_COLUMNS, vec![row]).await?;
        }
        if let Some(entry) = &w.audit {
            audit::insert(&mut tx, entry).await?;
        }
        tx.commit().await?;
        Ok(committed)
    }

    /// The stored result of an earlier request with this key: `(operation, response JSON)`.
    pub async fn idempotent_result(&self, user_id: i64, key: &str) -> StoreResult<Option<(String, String)>> {
        let row = sqlx::query("SELECT operation, response FROM idempotency_keys WHERE user_id = ? AND idem_key = ?")
            .bind(user_id)
            .bind(key)
            .fetch_optional(self.pool())
            .await?;
        Ok(match row {
            Some(r) => Some((r.try_get("operation")?, r.try_get("response")?)),
            None => None,
        })
    }

    /// Drops idempotency records older than `before` (they are kept at least 24 h).
    pub async fn expire_idempotency(&self, before: i64) -> StoreResult<u64> {
        let mut tx = self.begin_write().await?;
        let n = sqlx::query("DELETE FROM idempotency_keys WHERE created_at < ?")
            .bind(before)
            .execute(tx.conn())
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(n)
    }

    /// The wallet as the store has it: `(balance, pity counter)`.
    pub async fn wallet(&self, user_id: i64) -> StoreResult<Option<(i64, i64)>> {
        let row = sqlx::query("SELECT points, pity_count FROM users WHERE id = ?")
            .bind(user_id)
            .fetch_optional(self.pool())
            .await?;
        Ok(match row {
            Some(r) => Some((r.try_get("points")?, r.try_get("pity_count")?)),
            None => None,
        })
    }

    pub async fn ledger_page(
        &self,
        user_id: i64,
        f: &LedgerFilter,
        page: PageRequest,
    ) -> StoreResult<(Vec<LedgerRow>, i64)> {
        let mut filter = String::from(" WHERE user_id = ?");
        match f.direction {
            Some(RecordDirection::Earn) => filter.push_str(" AND points > 0"),
            Some(RecordDirection::Spend) => filter.push_str(" AND points < 0"),
            None => {}
        }
        if f.source.is_some() {
            filter.push_str(" AND source = ?");
        }
        let count_sql = format!("SELECT COUNT(*) FROM points_records{filter}");
        let list_sql = format!(
            "SELECT id, user_id, points, balance_after, source, description, related_id, created_at \
             FROM points_records{filter} ORDER BY id DESC LIMIT ? OFFSET ?"
        );
        let mut count = sqlx::query_scalar::<_, i64>(&count_sql).bind(user_id);
        let mut list = sqlx::query_as::<_, LedgerRow>(&list_sql).bind(user_id);
        if let Some(s) = f.source {
            count = count.bind(s.as_str());
            list = list.bind(s.as_str());
        }
        let total = count.fetch_one(self.pool()).await?;
        let rows = list.bind(page.limit).bind(page.offset()).fetch_all(self.pool()).await?;
        Ok((rows, total))
    }

    pub async fn ledger_totals(&self, user_id: i64) -> StoreResult<LedgerTotals> {
        // CAST: MySQL sums BIGINT into DECIMAL, which the Any driver does not decode.
        let row = sqlx::query(
            "SELECT \
               CAST(COALESCE(SUM(CASE WHEN points > 0 THEN points ELSE 0 END), 0) AS SIGNED) AS earned, \
               CAST(COALESCE(SUM(CASE WHEN points < 0 THEN -points ELSE 0 END), 0) AS SIGNED) AS spent, \
               COUNT(*) AS records \
             FROM points_records WHERE user_id = ?",
        )
        .bind(user_id)
        .fetch_one(self.pool())
        .await?;
        Ok(LedgerTotals {
            earned: row.try_get("earned")?,
            spent: row.try_get("spent")?,
            records: row.try_get("records")?,
        })
    }

    pub async fn activity_counts(&self, user_id: i64) -> StoreResult<ActivityCounts> {
        let row = sqlx::query(
            "SELECT \
               (SELECT COUNT(*) FROM lottery_draws WHERE user_id = ?) AS draws, \
               (SELECT COUNT(*) FROM exchange_orders WHERE user_id = ?) AS exchanges, \
               (SELECT COUNT(*) FROM photo_uploads WHERE user_id = ?) AS uploads, \
               (SELECT COUNT(*) FROM photo_uploads WHERE user_id = ? AND status = 'approved') AS approved_uploads",
        )
        .bind(user_id)
        .bind(user_id)
        .bind(user_id)
        .bind(user_id)
        .fetch_one(self.pool())
        .await?;
        Ok(ActivityCounts {
            draws: row.try_get("draws")?,
            exchanges: row.try_get("exchanges")?,
            uploads: row.try_get("uploads")?,
            approved_uploads: row.try_get("approved_uploads")?,
        })
    }
}
