//! Back-office accounts. Replacing an admin's password revokes every session of that admin in
//! the same transaction (the running server sees it on the admin's next request).

use sqlx::Row;

use super::{inserted_id, Store, StoreResult};

#[derive(Debug, Clone)]
pub struct AdminRow {
    pub id: i64,
    pub username: String,
    pub password_hash: String,
}

impl Store {
    /// Creates an admin, or replaces the password of an existing one (and revokes its sessions).
    /// Returns the id.
    pub async fn upsert_admin(&self, username: &str, password_hash: &str, now: i64) -> StoreResult<i64> {
        let mut tx = self.begin_write().await?;
        let existing: Option<i64> = sqlx::query_scalar("SELECT id FROM admins WHERE username = ?")
            .bind(username)
            .fetch_optional(tx.conn())
            .await?;
        let id = match existing {
            Some(id) => {
                sqlx::query("UPDATE admins SET password_hash = ? WHERE id = ?")
                    .bind(password_hash)
                    .bind(id)
                    .execute(tx.conn())
                    .await?;
                super::tokens::revoke_subject(&mut tx, "admin", id, "password_reset", now).await?;
                id
            }
            None => {
                let result = sqlx::query(
                    "INSERT INTO admins (username, password_hash, created_at, last_login) VALUES (?, ?, ?, 0)",
                )
                .bind(username)
                .bind(password_hash)
                .bind(now)
                .execute(tx.conn())
                .await?;
                inserted_id(&mut tx, result).await?
            }
        };
        tx.commit().await?;
        Ok(id)
    }

    pub async fn admin_by_username(&self, username: &str) -> StoreResult<Option<AdminRow>> {
        let row = sqlx::query("SELECT id, username, password_hash FROM admins WHERE username = ?")
            .bind(username)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(|r| admin_row(&r)).transpose()?)
    }

    pub async fn admin(&self, id: i64) -> StoreResult<Option<AdminRow>> {
        let row = sqlx::query("SELECT id, username, password_hash FROM admins WHERE id = ?")
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(|r| admin_row(&r)).transpose()?)
    }

    pub async fn touch_admin_login(&self, id: i64, now: i64) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE admins SET last_login = ? WHERE id = ?").bind(now).bind(id).execute(tx.conn()).await?;
        tx.commit().await
    }
}

fn admin_row(r: &sqlx::any::AnyRow) -> Result<AdminRow, sqlx::Error> {
    Ok(AdminRow { id: r.try_get("id")?, username: r.try_get("username")?, password_hash: r.try_get("password_hash")? })
}
