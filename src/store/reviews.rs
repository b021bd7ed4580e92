//! Receipt uploads and their review, and merchant applications. An approval is written here in
//! one transaction: the upload's status change (guarded: only from pending, and never by the
//! uploader), the points ledger row that names the upload, the balance, and the audit row.
//! Every merchant decision (approve, reject, and verifying a code in `shop.rs`) is audited in
//! the transaction that makes it, under the merchant's user id and nickname.

use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::{FromRow, Row};

use super::audit::{self, AuditEntry};
use super::{inserted_id, Store, StoreError, StoreResult, WriteTx};
use crate::domain::points::LedgerEntry;
use crate::domain::{PageRequest, PointsSource};

#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct ReceiptRow {
    pub id: i64,
    pub user_id: i64,
    pub object_key: String,
    pub amount_cents: i64,
    pub status: String,
    pub actual_amount_cents: Option<i64>,
    pub points_awarded: Option<i64>,
    pub review_reason: Option<String>,
    pub reviewer_id: Option<i64>,
    pub reviewed_at: Option<i64>,
    pub created_at: i64,
}

const UPLOAD_COLUMNS: &str = "id, user_id, object_key, amount_cents, status, actual_amount_cents, points_awarded, review_reason, reviewer_id, reviewed_at, created_at";

/// A new receipt upload as the ReviewQueue writes it.
#[derive(Debug, Clone)]
pub struct UploadWrite {
    pub user_id: i64,
    pub object_key: String,
    pub content_type: String,
    pub size: i64,
    pub amount_cents: i64,
    /// Lowercase hex SHA-256 of the photo's bytes.
    pub image_sha256: String,
    pub at: i64,
}

/// A customer's uploads as the caps count them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadHistory {
    /// Waiting for review now.
    pub pending: i64,
    /// Uploaded within the window asked for.
    pub recent: i64,
    /// When the oldest of those was uploaded (epoch ms); None when there are none.
    pub oldest_recent: Option<i64>,
}

/// An approval as the customer's wallet writes it.
#[derive(Debug, Clone)]
pub struct ApprovalWrite {
    pub upload_id: i64,
    pub user_id: i64,
    pub balance_before: i64,
    /// The fence of the wallet actor that made this write (`users.owner_fence` when it started):
    /// a wallet that lost its customer to another node can never commit.
    pub fence: i64,
    pub points: i64,
    pub actual_amount_cents: i64,
    pub reviewer_id: i64,
    pub reason: Option<String>,
    pub at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommittedApproval {
    pub upload_id: i64,
    pub points: i64,
    pub balance_after: i64,
    pub record_id: i64,
}

/// Counts and totals per review status.
#[derive(Debug, Clone, Default)]
pub struct StatusTotals {
    pub by_status: Vec<(String, i64)>,
    pub points_awarded: i64,
    pub amount_cents: i64,
}

#[derive(Debug, Clone)]
pub struct ReviewerTotals {
    pub reviewer_id: i64,
    pub approved: i64,
    pub rejected: i64,
    pub points_awarded: i64,
}

#[derive(Debug, Clone, FromRow)]
pub struct ApplicationRow {
    pub id: i64,
    pub user_id: i64,
    pub shop_name: String,
    pub contact: String,
    pub status: String,
    pub reviewed_at: Option<i64>,
    pub created_at: i64,
}

/// How an application decision went.
#[derive(Debug, Clone, PartialEq)]
pub enum ApplicationDecision {
    Done(i64),
    NotFound,
    AlreadyDecided(String),
}

/// An audit entry for a merchant's action; [`audit_merchant`] fills in the name and states.
pub(super) fn merchant_entry(
    merchant_id: i64,
    action: &str,
    target_type: &'static str,
    target_id: String,
    at: i64,
) -> AuditEntry {
    AuditEntry {
        actor_kind: "merchant".into(),
        actor_id: merchant_id,
        actor_name: String::new(),
        action: action.to_string(),
        target_type: target_type.into(),
        target_id,
        before: None,
        after: None,
        at,
    }
}

/// Writes a merchant's audit row in `tx`, under the merchant's nickname as it is now.
pub(super) async fn audit_merchant(
    tx: &mut WriteTx,
    mut entry: AuditEntry,
    before: serde_json::Value,
    after: serde_json::Value,
) -> StoreResult<()> {
    let name: Option<String> = sqlx::query_scalar("SELECT nickname FROM users WHERE id = ?")
        .bind(entry.actor_id)
        .fetch_optional(tx.conn())
        .await?;
    entry.actor_name = name.unwrap_or_default();
    entry.before = Some(before);
    entry.after = Some(after);
    audit::insert(tx, &entry).await
}

impl Store {
    /// Queues a receipt as pending. The photo's digest is unique per customer: the same photo
    /// twice is a conflict (the ReviewQueue checks first; this is the backstop).
    pub async fn insert_upload(&self, u: &UploadWrite) -> StoreResult<ReceiptRow> {
        let mut tx = self.begin_write().await?;
        let result = sqlx::query(
            "INSERT INTO photo_uploads (user_id, object_key, content_type, size_bytes, amount_cents, image_sha256, status, created_at) \
             VALUES (?, ?, ?, ?, ?, ?, 'pending', ?)",
        )
        .bind(u.user_id)
        .bind(u.object_key.clone())
        .bind(u.content_type.clone())
        .bind(u.size)
        .bind(u.amount_cents)
        .bind(u.image_sha256.clone())
        .bind(u.at)
        .execute(tx.conn())
        .await?;
        let id = inserted_id(&mut tx, result).await?;
        tx.commit().await?;
        Ok(ReceiptRow {
            id,
            user_id: u.user_id,
            object_key: u.object_key.clone(),
            amount_cents: u.amount_cents,
            status: "pending".into(),
            actual_amount_cents: None,
            points_awarded: None,
            review_reason: None,
            reviewer_id: None,
            reviewed_at: None,
            created_at: u.at,
        })
    }

    /// What the upload caps look at: the customer's pending uploads, and their uploads since
    /// `since` (epoch ms) with the oldest one's time.
    pub async fn upload_history(&self, user_id: i64, since: i64) -> StoreResult<UploadHistory> {
        let pending: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM photo_uploads WHERE user_id = ? AND status = 'pending'")
                .bind(user_id)
                .fetch_one(self.pool())
                .await?;
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM photo_uploads WHERE user_id = ? AND created_at > ?",
        )
        .bind(user_id)
        .bind(since)
        .fetch_one(self.pool())
        .await?;
        Ok(UploadHistory { pending, recent: row.try_get("n")?, oldest_recent: row.try_get("oldest")? })
    }

    /// Whether the customer already uploaded a photo with this digest (withdrawn ones are gone).
    pub async fn has_uploaded_image(&self, user_id: i64, image_sha256: &str) -> StoreResult<bool> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM photo_uploads WHERE user_id = ? AND image_sha256 = ?")
            .bind(user_id)
            .bind(image_sha256.to_string())
            .fetch_one(self.pool())
            .await?;
        Ok(n > 0)
    }

    pub async fn upload(&self, id: i64) -> StoreResult<Option<ReceiptRow>> {
        let sql = format!("SELECT {UPLOAD_COLUMNS} FROM photo_uploads WHERE id = ?");
        Ok(sqlx::query_as(&sql).bind(id).fetch_optional(self.pool()).await?)
    }

    /// Pending uploads, for the ReviewQueue to load at start: `(upload id, owner)`.
    pub async fn pending_uploads(&self) -> StoreResult<Vec<(i64, i64)>> {
        sqlx::query("SELECT id, user_id FROM photo_uploads WHERE status = 'pending'")
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("user_id")?)))
            .collect()
    }

    /// A customer's uploads (newest first), or with `user_id = None` the pending queue (oldest first).
    pub async fn uploads_page(
        &self,
        user_id: Option<i64>,
        status: Option<&str>,
        page: PageRequest,
    ) -> StoreResult<(Vec<ReceiptRow>, i64)> {
        let mut filter = String::from(" WHERE 1 = 1");
        if user_id.is_some() {
            filter.push_str(" AND user_id = ?");
        }
        if status.is_some() {
            filter.push_str(" AND status = ?");
        }
        let order = if user_id.is_some() { "DESC" } else { "ASC" };
        let count_sql = format!("SELECT COUNT(*) FROM photo_uploads{filter}");
        let list_sql =
            format!("SELECT {UPLOAD_COLUMNS} FROM photo_uploads{filter} ORDER BY id {order} LIMIT ? OFFSET ?");
        let mut count = sqlx::query_scalar::<_, i64>(&count_sql);
        let mut list = sqlx::query_as::<_, ReceiptRow>(&list_sql);
        if let Some(u) = user_id {
            count = count.bind(u);
            list = list.bind(u);
        }
        if let Some(s) = status {
            count = count.bind(s.to_string());
            list = list.bind(s.to_string());
        }
        let total = count.fetch_one(self.pool()).await?;
        let rows = list.bind(page.limit).bind(page.offset()).fetch_all(self.pool()).await?;
        Ok((rows, total))
    }

    /// Rejects a pending upload (never the reviewer's own), audited; false when it was no
    /// longer pending.
    pub async fn reject_upload(&self, id: i64, reviewer_id: i64, reason: Option<&str>, now: i64) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let n = sqlx::query(
            "UPDATE photo_uploads SET status = 'rejected', review_reason = ?, reviewer_id = ?, reviewed_at = ?, points_awarded = 0 \
             WHERE id = ? AND status = 'pending' AND user_id <> ?",
        )
        .bind(reason)
        .bind(reviewer_id)
        .bind(now)
        .bind(id)
        .bind(reviewer_id)
        .execute(tx.conn())
        .await?
        .rows_affected();
        if n != 1 {
            return Ok(false);
        }
        let (user_id, amount_cents): (i64, i64) =
            sqlx::query_as("SELECT user_id, amount_cents FROM photo_uploads WHERE id = ?")
                .bind(id)
                .fetch_one(tx.conn())
                .await?;
        let entry = merchant_entry(reviewer_id, "receipt.reject", "photo_upload", id.to_string(), now);
        let before = json!({ "status": "pending", "user_id": user_id, "amount_cents": amount_cents });
        let after = json!({ "status": "rejected", "points_awarded": 0, "reason": reason });
        audit_merchant(&mut tx, entry, before, after).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The approval: status change, ledger credit naming the upload, balance — one transaction.
    pub async fn commit_approval(&self, w: &ApprovalWrite) -> StoreResult<CommittedApproval> {
        let balance_after = w.balance_before + w.points;
        let mut tx = self.begin_write().await?;
        // `user_id <> reviewer_id`: the uploader never credits themselves, whatever a caller did.
        let moved = sqlx::query(
            "UPDATE photo_uploads SET status = 'approved', actual_amount_cents = ?, points_awarded = ?, review_reason = ?, reviewer_id = ?, reviewed_at = ? \
             WHERE id = ? AND user_id = ? AND status = 'pending' AND user_id <> ?",
        )
        .bind(w.actual_amount_cents)
        .bind(w.points)
        .bind(w.reason.clone())
        .bind(w.reviewer_id)
        .bind(w.at)
        .bind(w.upload_id)
        .bind(w.user_id)
        .bind(w.reviewer_id)
        .execute(tx.conn())
        .await?
        .rows_affected();
        if moved != 1 {
            return Err(StoreError::Conflict(format!(
                "upload {} is no longer pending, or reviewer {} uploaded it",
                w.upload_id, w.reviewer_id
            )));
        }
        let amount_cents: i64 = sqlx::query_scalar("SELECT amount_cents FROM photo_uploads WHERE id = ?")
            .bind(w.upload_id)
            .fetch_one(tx.conn())
            .await?;
        let entry = merchant_entry(w.reviewer_id, "receipt.approve", "photo_upload", w.upload_id.to_string(), w.at);
        let before = json!({ "status": "pending", "user_id": w.user_id, "amount_cents": amount_cents });
        let after = json!({
            "status": "approved",
            "actual_amount_cents": w.actual_amount_cents,
            "points_awarded": w.points,
            "reason": w.reason,
        });
        audit_merchant(&mut tx, entry, before, after).await?;
        let credit = sqlx::query(
            "INSERT INTO points_records (user_id, points, balance_after, source, description, related_id, idempotency_key, created_at) \
             VALUES (?, ?, ?, ?, ?, ?, NULL, ?)",
        )
        .bind(w.user_id)
        .bind(w.points)
        .bind(balance_after)
        .bind(PointsSource::PhotoReview.as_str())
        .bind(LedgerEntry::ApprovedReceipt.description())
        .bind(w.upload_id.to_string())
        .bind(w.at)
        .execute(tx.conn())
        .await?;
        let record_id = inserted_id(&mut tx, credit).await?;
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
            return Err(StoreError::Conflict(format!("user {} wallet changed underneath the approval", w.user_id)));
        }
        tx.commit().await?;
        Ok(CommittedApproval { upload_id: w.upload_id, points: w.points, balance_after, record_id })
    }

    /// Removes a pending upload of `user_id`; returns its object key, or `None` when there was
    /// no such pending upload or it stopped being pending before the row went (then the caller
    /// must keep the photo).
    pub async fn delete_pending_upload(&self, id: i64, user_id: i64) -> StoreResult<Option<String>> {
        let mut tx = self.begin_write().await?;
        let key: Option<String> = sqlx::query_scalar(
            "SELECT object_key FROM photo_uploads WHERE id = ? AND user_id = ? AND status = 'pending'",
        )
        .bind(id)
        .bind(user_id)
        .fetch_optional(tx.conn())
        .await?;
        let Some(key) = key else { return Ok(None) };
        // An approval may commit between the SELECT and the DELETE (a timed-out one finishing
        // late): then nothing is deleted, and the photo of an approved receipt must stay.
        let deleted = sqlx::query("DELETE FROM photo_uploads WHERE id = ? AND user_id = ? AND status = 'pending'")
            .bind(id)
            .bind(user_id)
            .execute(tx.conn())
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok((deleted == 1).then_some(key))
    }

    /// Totals by status; for one customer or, with `None`, everybody.
    pub async fn upload_totals(&self, user_id: Option<i64>) -> StoreResult<StatusTotals> {
        let filter = if user_id.is_some() { " WHERE user_id = ?" } else { "" };
        let sql = format!(
            "SELECT status, COUNT(*) AS n, CAST(COALESCE(SUM(points_awarded), 0) AS SIGNED) AS pts, \
             CAST(COALESCE(SUM(amount_cents), 0) AS SIGNED) AS amt FROM photo_uploads{filter} GROUP BY status"
        );
        let mut q = sqlx::query(&sql);
        if let Some(u) = user_id {
            q = q.bind(u);
        }
        let mut totals = StatusTotals::default();
        for r in q.fetch_all(self.pool()).await? {
            totals.by_status.push((r.try_get("status")?, r.try_get("n")?));
            totals.points_awarded += r.try_get::<i64, _>("pts")?;
            totals.amount_cents += r.try_get::<i64, _>("amt")?;
        }
        Ok(totals)
    }

    pub async fn reviewer_totals(&self) -> StoreResult<Vec<ReviewerTotals>> {
        sqlx::query(
            "SELECT reviewer_id, \
               CAST(COALESCE(SUM(CASE WHEN status = 'approved' THEN 1 ELSE 0 END), 0) AS SIGNED) AS approved, \
               CAST(COALESCE(SUM(CASE WHEN status = 'rejected' THEN 1 ELSE 0 END), 0) AS SIGNED) AS rejected, \
               CAST(COALESCE(SUM(points_awarded), 0) AS SIGNED) AS pts \
             FROM photo_uploads WHERE reviewer_id IS NOT NULL GROUP BY reviewer_id ORDER BY reviewer_id",
        )
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|r| {
            Ok(ReviewerTotals {
                reviewer_id: r.try_get("reviewer_id")?,
                approved: r.try_get("approved")?,
                rejected: r.try_get("rejected")?,
                points_awarded: r.try_get("pts")?,
            })
        })
        .collect()
    }

    /// Files an application, or returns the customer's pending one.
    pub async fn apply_merchant(
        &self,
        user_id: i64,
        shop_name: &str,
        contact: &str,
        now: i64,
    ) -> StoreResult<ApplicationRow> {
        let mut tx = self.begin_write().await?;
        let existing: Option<ApplicationRow> = sqlx::query_as(
            "SELECT id, user_id, shop_name, contact, status, reviewed_at, created_at FROM merchant_applications WHERE user_id = ? AND status = 'pending'",
        )
        .bind(user_id)
        .fetch_optional(tx.conn())
        .await?;
        if let Some(e) = existing {
            return Ok(e);
        }
        let result = sqlx::query("INSERT INTO merchant_applications (user_id, shop_name, contact, status, created_at) VALUES (?, ?, ?, 'pending', ?)")
            .bind(user_id)
            .bind(shop_name)
            .bind(contact)
            .bind(now)
            .execute(tx.conn())
            .await?;
        let id = inserted_id(&mut tx, result).await?;
        tx.commit().await?;
        Ok(ApplicationRow {
            id,
            user_id,
            shop_name: shop_name.to_string(),
            contact: contact.to_string(),
            status: "pending".into(),
            reviewed_at: None,
            created_at: now,
        })
    }

    pub async fn applications_page(
        &self,
        status: Option<&str>,
        page: PageRequest,
    ) -> StoreResult<(Vec<ApplicationRow>, i64)> {
        let filter = if status.is_some() { " WHERE status = ?" } else { "" };
        let count_sql = format!("SELECT COUNT(*) FROM merchant_applications{filter}");
        let list_sql = format!(
            "SELECT id, user_id, shop_name, contact, status, reviewed_at, created_at FROM merchant_applications{filter} ORDER BY id ASC LIMIT ? OFFSET ?"
        );
        let mut count = sqlx::query_scalar::<_, i64>(&count_sql);
        let mut list = sqlx::query_as::<_, ApplicationRow>(&list_sql);
        if let Some(s) = status {
            count = count.bind(s.to_string());
            list = list.bind(s.to_string());
        }
        let total = count.fetch_one(self.pool()).await?;
        let rows = list.bind(page.limit).bind(page.offset()).fetch_all(self.pool()).await?;
        Ok((rows, total))
    }

    /// Approves (granting the merchant role) or rejects a pending application, audited. Only
    /// the write that moves the row from `pending` grants the role, so two admins deciding at
    /// once leave one decision, and the role exactly when it is `approved`.
    pub async fn decide_application(
        &self,
        id: i64,
        approve: bool,
        audit_entry: &AuditEntry,
    ) -> StoreResult<ApplicationDecision> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query("SELECT user_id, status FROM merchant_applications WHERE id = ?")
            .bind(id)
            .fetch_optional(tx.conn())
            .await?;
        let Some(row) = row else { return Ok(ApplicationDecision::NotFound) };
        let status: String = row.try_get("status")?;
        if status != "pending" {
            return Ok(ApplicationDecision::AlreadyDecided(status));
        }
        let user_id: i64 = row.try_get("user_id")?;
        let moved = sqlx::query("UPDATE merchant_applications SET status = ?, reviewed_by = ?, reviewed_at = ? WHERE id = ? AND status = 'pending'")
            .bind(if approve { "approved" } else { "rejected" })
            .bind(audit_entry.actor_id)
            .bind(audit_entry.at)
            .bind(id)
            .execute(tx.conn())
            .await?
            .rows_affected();
        if moved != 1 {
            // Another admin decided it after our SELECT (MySQL's READ COMMITTED lets both read
            // `pending`): theirs stands, and neither the role nor the audit row is written.
            drop(tx);
            let status: Option<String> = sqlx::query_scalar("SELECT status FROM merchant_applications WHERE id = ?")
                .bind(id)
                .fetch_optional(self.pool())
                .await?;
            return Ok(match status {
                Some(s) => ApplicationDecision::AlreadyDecided(s),
                None => ApplicationDecision::NotFound,
            });
        }
        if approve {
            sqlx::query("UPDATE users SET is_merchant = 1, updated_at = ? WHERE id = ?")
                .bind(audit_entry.at)
                .bind(user_id)
                .execute(tx.conn())
                .await?;
        }
        audit::insert(&mut tx, audit_entry).await?;
        tx.commit().await?;
        Ok(ApplicationDecision::Done(user_id))
    }
}
