//! Refresh-token families: rotation with reuse detection and an absolute lifetime, revocation
//! (one family, or every family of a subject), and deleting families whose tokens all expired.

use std::time::Duration;

use sqlx::Row;

use crate::auth::tokens::family_outlived;

use super::{Store, StoreResult};

/// What presenting a refresh token led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// The old token is now used; the new one is recorded in the same family.
    Rotated,
    /// The token had been used before: the whole family is now revoked.
    Reused,
    /// Unknown token, or its family was revoked earlier.
    Rejected,
}

impl Store {
    /// Opens a family with its first refresh token.
    pub async fn open_token_family(
        &self,
        family_id: &str,
        subject_kind: &str,
        subject_id: i64,
        jti: &str,
        now: i64,
        expires_at: i64,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO token_families (family_id, subject_kind, subject_id, revoked_at, revoke_reason, created_at, expires_at) \
             VALUES (?, ?, ?, NULL, NULL, ?, ?)",
        )
        .bind(family_id)
        .bind(subject_kind)
        .bind(subject_id)
        .bind(now)
        .bind(expires_at)
        .execute(tx.conn())
        .await?;
        insert_refresh(&mut tx, jti, family_id, now, expires_at).await?;
        tx.commit().await
    }

    /// Exchanges refresh token `old_jti` of `family_id` for `new_jti`, exactly once, while the
    /// family is younger than `max_age` (counted from its sign-in, not its last rotation).
    pub async fn rotate_refresh(
        &self,
        family_id: &str,
        old_jti: &str,
        new_jti: &str,
        now: i64,
        expires_at: i64,
        max_age: Duration,
    ) -> StoreResult<Rotation> {
        let mut tx = self.begin_write().await?;
        let family = sqlx::query("SELECT revoked_at, created_at FROM token_families WHERE family_id = ?")
            .bind(family_id)
            .fetch_optional(tx.conn())
            .await?;
        let Some(family) = family else {
            return Ok(Rotation::Rejected);
        };
        if family.try_get::<Option<i64>, _>("revoked_at")?.is_some() {
            return Ok(Rotation::Rejected);
        }
        let created_at: i64 = family.try_get("created_at")?;
        if family_outlived(created_at, now, max_age) {
            return Ok(Rotation::Rejected);
        }
        let max_ms = i64::try_from(max_age.as_millis()).unwrap_or(i64::MAX);
        let expires_at = expires_at.min(created_at.saturating_add(max_ms));
        let token = sqlx::query("SELECT used_at FROM refresh_tokens WHERE jti = ? AND family_id = ?")
            .bind(old_jti)
            .bind(family_id)
            .fetch_optional(tx.conn())
            .await?;
        let Some(token) = token else {
            return Ok(Rotation::Rejected);
        };
        // The conditional update is what decides a race between two uses of the same token.
        let first_use = token.try_get::<Option<i64>, _>("used_at")?.is_none()
            && sqlx::query("UPDATE refresh_tokens SET used_at = ? WHERE jti = ? AND used_at IS NULL")
                .bind(now)
                .bind(old_jti)
                .execute(tx.conn())
                .await?
                .rows_affected()
                == 1;
        if !first_use {
            revoke(&mut tx, family_id, "reuse", now).await?;
            tx.commit().await?;
            return Ok(Rotation::Reused);
        }
        insert_refresh(&mut tx, new_jti, family_id, now, expires_at).await?;
        sqlx::query("UPDATE token_families SET expires_at = ? WHERE family_id = ?")
            .bind(expires_at)
            .bind(family_id)
            .execute(tx.conn())
            .await?;
        tx.commit().await?;
        Ok(Rotation::Rotated)
    }

    pub async fn revoke_token_family(&self, family_id: &str, reason: &str, now: i64) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        revoke(&mut tx, family_id, reason, now).await?;
        tx.commit().await
    }

    /// Revokes every live family of one subject (sign out everywhere, a ban, a password reset).
    /// Returns the families revoked, each with the time its tokens all expire by.
    pub async fn revoke_subject_families(
        &self,
        subject_kind: &str,
        subject_id: i64,
        reason: &str,
        now: i64,
    ) -> StoreResult<Vec<(String, i64)>> {
        let mut tx = self.begin_write().await?;
        let revoked = revoke_subject(&mut tx, subject_kind, subject_id, reason, now).await?;
        tx.commit().await?;
        Ok(revoked)
    }

    /// Whether a family is still live in the store (it exists and is not revoked).
    pub async fn token_family_live(&self, family_id: &str) -> StoreResult<bool> {
        let revoked: Option<Option<i64>> =
            sqlx::query_scalar("SELECT revoked_at FROM token_families WHERE family_id = ?")
                .bind(family_id)
                .fetch_optional(self.pool())
                .await?;
        Ok(matches!(revoked, Some(None)))
    }

    /// Families revoked while some of their tokens could still be unexpired, each with the time
    /// they all expire by.
    pub async fn revoked_token_families(&self, now: i64) -> StoreResult<Vec<(String, i64)>> {
        let rows = sqlx::query(
            "SELECT family_id, expires_at FROM token_families WHERE revoked_at IS NOT NULL AND expires_at > ?",
        )
        .bind(now)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|r| Ok((r.try_get("family_id")?, r.try_get("expires_at")?))).collect()
    }

    /// Deletes refresh tokens that expired before `now`, and families none of whose tokens can
    /// still be unexpired. Returns how many rows went.
    pub async fn delete_expired_tokens(&self, now: i64) -> StoreResult<u64> {
        let mut tx = self.begin_write().await?;
        let tokens =
            sqlx::query("DELETE FROM refresh_tokens WHERE expires_at < ?").bind(now).execute(tx.conn()).await?;
        let families =
            sqlx::query("DELETE FROM token_families WHERE expires_at < ?").bind(now).execute(tx.conn()).await?;
        tx.commit().await?;
        Ok(tokens.rows_affected() + families.rows_affected())
    }
}

/// Revokes every live family of one subject inside `tx`; the families and their expiry.
pub(super) async fn revoke_subject(
    tx: &mut super::WriteTx,
    subject_kind: &str,
    subject_id: i64,
    reason: &str,
    now: i64,
) -> StoreResult<Vec<(String, i64)>> {
    let rows = sqlx::query(
        "SELECT family_id, expires_at FROM token_families \
         WHERE subject_kind = ? AND subject_id = ? AND revoked_at IS NULL AND expires_at > ?",
    )
    .bind(subject_kind)
    .bind(subject_id)
    .bind(now)
    .fetch_all(tx.conn())
    .await?;
    let mut revoked = Vec::with_capacity(rows.len());
    for r in &rows {
        let family: String = r.try_get("family_id")?;
        revoke(tx, &family, reason, now).await?;
        revoked.push((family, r.try_get("expires_at")?));
    }
    Ok(revoked)
}

async fn insert_refresh(
    tx: &mut super::WriteTx,
    jti: &str,
    family_id: &str,
    now: i64,
    expires_at: i64,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO refresh_tokens (jti, family_id, used_at, created_at, expires_at) VALUES (?, ?, NULL, ?, ?)",
    )
    .bind(jti)
    .bind(family_id)
    .bind(now)
    .bind(expires_at)
    .execute(tx.conn())
    .await?;
    Ok(())
}

async fn revoke(tx: &mut super::WriteTx, family_id: &str, reason: &str, now: i64) -> StoreResult<()> {
    sqlx::query(
        "UPDATE token_families SET revoked_at = ?, revoke_reason = ? WHERE family_id = ? AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(reason)
    .bind(family_id)
    .execute(tx.conn())
    .await?;
    Ok(())
}
