//! Refresh-token families: rotation with reuse detection, and revocation.

use sqlx::Row;

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

    /// Exchanges refresh token `old_jti` of `family_id` for `new_jti`, exactly once.
    pub async fn rotate_refresh(
        &self,
        family_id: &str,
        old_jti: &str,
        new_jti: &str,
        now: i64,
        expires_at: i64,
    ) -> StoreResult<Rotation> {
        let mut tx = self.begin_write().await?;
        let family = sqlx::query("SELECT revoked_at FROM token_families WHERE family_id = ?")
            .bind(family_id)
            .fetch_optional(tx.conn())
            .await?;
        let Some(family) = family else {
            return Ok(Rotation::Rejected);
        };
        if family.try_get::<Option<i64>, _>("revoked_at")?.is_some() {
            return Ok(Rotation::Rejected);
        }
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

    /// Families revoked while some of their tokens could still be unexpired.
    pub async fn revoked_token_families(&self, now: i64) -> StoreResult<Vec<String>> {
        Ok(sqlx::query_scalar("SELECT family_id FROM token_families WHERE revoked_at IS NOT NULL AND expires_at > ?")
            .bind(now)
            .fetch_all(self.pool())
            .await?)
    }
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
