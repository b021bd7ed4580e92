//! Customer accounts: creation with the sign-up grant, profile, roles, bans, search.

use sqlx::FromRow;

use super::audit::{self, AuditEntry};
use super::{inserted_id, Flag, Store, StoreResult};
use crate::domain::points::LedgerEntry;
use crate::domain::{PageRequest, PointsSource};

#[derive(Debug, Clone, FromRow)]
pub struct UserRow {
    pub id: i64,
    pub phone: String,
    pub nickname: String,
    pub avatar: String,
    pub points: i64,
    pub pity_count: i64,
    #[sqlx(try_from = "Flag")]
    pub is_merchant: bool,
    #[sqlx(try_from = "Flag")]
    pub is_banned: bool,
    pub created_at: i64,
    pub last_login: i64,
    /// The fencing number of the customer's wallet ownership (cluster mode; see migration 0016).
    pub owner_fence: i64,
}

const COLUMNS: &str =
    "id, phone, nickname, avatar, points, pity_count, is_merchant, is_banned, created_at, last_login, owner_fence";

/// A role or ban flag that admins switch.
#[derive(Debug, Clone, Copy)]
pub enum UserFlag {
    Banned,
    Merchant,
}

impl UserFlag {
    fn column(self) -> &'static str {
        match self {
            UserFlag::Banned => "is_banned",
            UserFlag::Merchant => "is_merchant",
        }
    }
}

impl Store {
    pub async fn user(&self, id: i64) -> StoreResult<Option<UserRow>> {
        let sql = format!("SELECT {COLUMNS} FROM users WHERE id = ?");
        Ok(sqlx::query_as(&sql).bind(id).fetch_optional(self.pool()).await?)
    }

    pub async fn user_by_phone(&self, phone: &str) -> StoreResult<Option<UserRow>> {
        let sql = format!("SELECT {COLUMNS} FROM users WHERE phone = ?");
        Ok(sqlx::query_as(&sql).bind(phone).fetch_optional(self.pool()).await?)
    }

    /// Creates a customer with the sign-up grant as the first ledger row, in one transaction.
    /// A concurrent sign-up of the same phone surfaces as a unique violation.
    pub async fn create_user(&self, phone: &str, nickname: &str, grant: i64, now: i64) -> StoreResult<UserRow> {
        let mut tx = self.begin_write().await?;
        let result = sqlx::query(
            "INSERT INTO users (phone, nickname, avatar, points, pity_count, is_merchant, is_banned, created_at, updated_at, last_login) \
             VALUES (?, ?, '', ?, 0, 0, 0, ?, ?, ?)",
        )
        .bind(phone)
        .bind(nickname)
        .bind(grant)
        .bind(now)
        .bind(now)
        .bind(now)
        .execute(tx.conn())
        .await?;
        let id = inserted_id(&mut tx, result).await?;
        sqlx::query(
            "INSERT INTO points_records (user_id, points, balance_after, source, description, related_id, idempotency_key, created_at) \
             VALUES (?, ?, ?, ?, ?, NULL, NULL, ?)",
        )
        .bind(id)
        .bind(grant)
        .bind(grant)
        .bind(PointsSource::Register.as_str())
        .bind(LedgerEntry::SignUp.description())
        .bind(now)
        .execute(tx.conn())
        .await?;
        tx.commit().await?;
        Ok(UserRow {
            id,
            phone: phone.to_string(),
            nickname: nickname.to_string(),
            avatar: String::new(),
            points: grant,
            pity_count: 0,
            is_merchant: false,
            is_banned: false,
            created_at: now,
            last_login: now,
            owner_fence: 0,
        })
    }

    pub async fn touch_login(&self, id: i64, now: i64) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE users SET last_login = ? WHERE id = ?").bind(now).bind(id).execute(tx.conn()).await?;
        tx.commit().await
    }

    pub async fn update_profile(
        &self,
        id: i64,
        nickname: Option<&str>,
        avatar: Option<&str>,
        now: i64,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        if let Some(n) = nickname {
            sqlx::query("UPDATE users SET nickname = ?, updated_at = ? WHERE id = ?")
                .bind(n)
                .bind(now)
                .bind(id)
                .execute(tx.conn())
                .await?;
        }
        if let Some(a) = avatar {
            sqlx::query("UPDATE users SET avatar = ?, updated_at = ? WHERE id = ?")
                .bind(a)
                .bind(now)
                .bind(id)
                .execute(tx.conn())
                .await?;
        }
        tx.commit().await
    }

    /// Sets a flag and records the audit entry in the same transaction. Returns the previous
    /// value, or `None` when the user does not exist.
    /// The audit entry's before/after states are filled in here, from what the transaction saw.
    pub async fn set_user_flag(
        &self,
        id: i64,
        which: UserFlag,
        on: bool,
        mut audit: AuditEntry,
    ) -> StoreResult<Option<bool>> {
        let mut tx = self.begin_write().await?;
        let sql = format!("SELECT {} FROM users WHERE id = ?", which.column());
        let Some(before) = sqlx::query_scalar::<_, i64>(&sql).bind(id).fetch_optional(tx.conn()).await? else {
            return Ok(None);
        };
        let sql = format!("UPDATE users SET {} = ?, updated_at = ? WHERE id = ?", which.column());
        sqlx::query(&sql).bind(on as i64).bind(audit.at).bind(id).execute(tx.conn()).await?;
        audit.before = Some(serde_json::json!({ which.column(): before != 0 }));
        audit.after = Some(serde_json::json!({ which.column(): on }));
        audit::insert(&mut tx, &audit).await?;
        tx.commit().await?;
        Ok(Some(before != 0))
    }

    pub async fn banned_user_ids(&self) -> StoreResult<Vec<i64>> {
        Ok(sqlx::query_scalar("SELECT id FROM users WHERE is_banned = 1").fetch_all(self.pool()).await?)
    }

    /// Admin search: `q` matches an exact id, a phone prefix or part of a nickname.
    pub async fn search_users(&self, q: Option<&str>, page: PageRequest) -> StoreResult<(Vec<UserRow>, i64)> {
        let (filter, like, id) = match q {
            Some(q) => (
                " WHERE id = ? OR phone LIKE ? ESCAPE '!' OR nickname LIKE ? ESCAPE '!'",
                Some(format!("%{}%", escape_like(q))),
                q.parse::<i64>().unwrap_or(-1),
            ),
            None => ("", None, -1),
        };
        let count_sql = format!("SELECT COUNT(*) FROM users{filter}");
        let list_sql = format!("SELECT {COLUMNS} FROM users{filter} ORDER BY id DESC LIMIT ? OFFSET ?");
        let mut count = sqlx::query_scalar::<_, i64>(&count_sql);
        let mut list = sqlx::query_as::<_, UserRow>(&list_sql);
        if let Some(like) = &like {
            count = count.bind(id).bind(like.clone()).bind(like.clone());
            list = list.bind(id).bind(like.clone()).bind(like.clone());
        }
        let total = count.fetch_one(self.pool()).await?;
        let rows = list.bind(page.limit).bind(page.offset()).fetch_all(self.pool()).await?;
        Ok((rows, total))
    }
}

/// Escapes LIKE wildcards so a search for `50%` finds that text, not everything.
fn escape_like(q: &str) -> String {
    // `!` rather than backslash: the two dialects disagree on backslashes in string literals.
    q.replace('!', "!!").replace('%', "!%").replace('_', "!_")
}
