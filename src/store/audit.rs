//! The audit log: every admin mutation, written in the same transaction as the change itself.

use std::borrow::Cow;

use serde_json::Value;
use sqlx::FromRow;

use super::{Store, StoreResult, WriteTx};
use crate::domain::PageRequest;

/// Who did what to which thing, with the state before and after.
/// Serializable so that a change forwarded to the node owning the customer's wallet carries it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct AuditEntry {
    pub actor_kind: Cow<'static, str>,
    pub actor_id: i64,
    pub actor_name: String,
    pub action: String,
    pub target_type: Cow<'static, str>,
    pub target_id: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub at: i64,
}

#[derive(Debug, Clone, FromRow)]
pub struct AuditRow {
    pub id: i64,
    pub actor_kind: String,
    pub actor_id: i64,
    pub actor_name: String,
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    #[sqlx(rename = "before_state")]
    pub before: Option<String>,
    #[sqlx(rename = "after_state")]
    pub after: Option<String>,
    pub created_at: i64,
}

/// Audit states are capped to the column's size; a longer one keeps a marker instead of failing
/// the admin's change.
fn render(v: &Option<Value>) -> Option<String> {
    v.as_ref().map(|v| {
        let s = v.to_string();
        if s.chars().count() > 4000 {
            r#"{"truncated":true}"#.to_string()
        } else {
            s
        }
    })
}

pub async fn insert(tx: &mut WriteTx, e: &AuditEntry) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO audit_log (actor_kind, actor_id, actor_name, action, target_type, target_id, before_state, after_state, created_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(e.actor_kind.as_ref())
    .bind(e.actor_id)
    .bind(e.actor_name.clone())
    .bind(e.action.clone())
    .bind(e.target_type.as_ref())
    .bind(e.target_id.clone())
    .bind(render(&e.before))
    .bind(render(&e.after))
    .bind(e.at)
    .execute(tx.conn())
    .await?;
    Ok(())
}

impl Store {
    pub async fn audit_log(&self, action: Option<&str>, page: PageRequest) -> StoreResult<(Vec<AuditRow>, i64)> {
        let filter = if action.is_some() { " WHERE action = ?" } else { "" };
        let count_sql = format!("SELECT COUNT(*) FROM audit_log{filter}");
        let list_sql = format!(
            "SELECT id, actor_kind, actor_id, actor_name, action, target_type, target_id, before_state, after_state, created_at \
             FROM audit_log{filter} ORDER BY id DESC LIMIT ? OFFSET ?"
        );
        let mut count = sqlx::query_scalar::<_, i64>(&count_sql);
        let mut list = sqlx::query_as::<_, AuditRow>(&list_sql);
        if let Some(a) = action {
            count = count.bind(a.to_string());
            list = list.bind(a.to_string());
        }
        let total = count.fetch_one(self.pool()).await?;
        let rows = list.bind(page.limit).bind(page.offset()).fetch_all(self.pool()).await?;
        Ok((rows, total))
    }
}
