//! WeChat bindings: which account an openid signs in to, and finding or creating the account a
//! WeChat-verified phone number belongs to. Both survive two first sign-ins of one customer
//! arriving at once: the unique keys (the phone on `users`, the openid here) let exactly one
//! insert win, and the loser reads what the winner wrote.

use super::users::UserRow;
use super::{Store, StoreError, StoreResult};

impl Store {
    /// The account `openid` is bound to, if any.
    pub async fn user_id_by_openid(&self, openid: &str) -> StoreResult<Option<i64>> {
        Ok(sqlx::query_scalar("SELECT user_id FROM wechat_bindings WHERE openid = ?")
            .bind(openid)
            .fetch_optional(self.pool())
            .await?)
    }

    /// Binds `openid` to `user_id`; returns the account it is bound to afterwards, which is
    /// another one only if a concurrent sign-in bound it first.
    pub async fn bind_openid(&self, openid: &str, unionid: Option<&str>, user_id: i64, now: i64) -> StoreResult<i64> {
        let mut tx = self.begin_write().await?;
        let inserted =
            sqlx::query("INSERT INTO wechat_bindings (openid, user_id, unionid, created_at) VALUES (?, ?, ?, ?)")
                .bind(openid)
                .bind(user_id)
                .bind(unionid)
                .bind(now)
                .execute(tx.conn())
                .await;
        match inserted {
            Ok(_) => {
                tx.commit().await?;
                Ok(user_id)
            }
            Err(e) if super::is_unique_violation(&e) => {
                drop(tx);
                self.user_id_by_openid(openid)
                    .await?
                    .ok_or_else(|| StoreError::Conflict("a WeChat binding vanished after a unique violation".into()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The account of `phone`, or a new one with the sign-up grant; `true` when it was created
    /// by this call. A concurrent sign-up of the same phone makes one account, not two.
    pub async fn customer_by_phone_or_new(
        &self,
        phone: &str,
        nickname: &str,
        grant: i64,
        now: i64,
    ) -> StoreResult<(UserRow, bool)> {
        if let Some(user) = self.user_by_phone(phone).await? {
            return Ok((user, false));
        }
        match self.create_user(phone, nickname, grant, now).await {
            Ok(user) => Ok((user, true)),
            Err(e) if e.is_unique_violation() => {
                let user = self.user_by_phone(phone).await?;
                Ok((
                    user.ok_or_else(|| StoreError::Conflict("a user vanished after a unique violation".into()))?,
                    false,
                ))
            }
            Err(e) => Err(e),
        }
    }
}
