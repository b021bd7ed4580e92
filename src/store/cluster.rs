//! Cluster membership and wallet ownership (migration 0016): each node's lease on being alive,
//! and which node's wallet actor owns each customer, with the fencing number that every wallet
//! write is guarded by (see `GUARDED_BALANCE_UPDATE`).
//!
//! It also lends limited stock (wheel prizes, shop products) to nodes in blocks (`stock_blocks`).
//!
//! Cluster mode runs on MySQL/MariaDB (or TiDB) only, so the statements here may use its clock:
//! leases are compared with the database's time, never a node's, and nodes whose clocks drift
//! still agree on who is alive.

use std::collections::HashMap;

use sqlx::Row;

use super::{Store, StoreError, StoreResult};

/// The database's clock in epoch milliseconds, as an expression.
const DB_NOW_MS: &str = "CAST(ROUND(UNIX_TIMESTAMP(NOW(3)) * 1000) AS SIGNED)";

/// One node as the database sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRow {
    pub node_id: String,
    pub epoch: i64,
    /// Whether its lease runs now (database clock).
    pub alive: bool,
    /// Milliseconds since its last renewal.
    pub renewed_ms_ago: i64,
    pub started_at: i64,
}

/// Who owns a customer's wallet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// `None`: nobody (never served in cluster mode, or released when idle).
    pub node_id: Option<String>,
    /// Whether that node's lease runs now.
    pub alive: bool,
    pub fence: i64,
}

/// What asking for a customer's wallet gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This node now owns the wallet; its writes carry this fence.
    Owned(i64),
    /// A live node holds it.
    Held(String),
    NoSuchUser,
}

impl Store {
    /// Registers this node (a new epoch at every start) with a lease of `lease_ms`. Returns the
    /// epoch, which every renewal must present.
    pub async fn join_cluster(&self, node_id: &str, lease_ms: i64, now: i64) -> StoreResult<i64> {
        let mut tx = self.begin_write().await?;
        let sql = format!(
            "INSERT INTO cluster_nodes (node_id, epoch, lease_until, started_at, renewed_at) \
             VALUES (?, 1, {DB_NOW_MS} + ?, ?, {DB_NOW_MS}) \
             ON DUPLICATE KEY UPDATE epoch = epoch + 1, lease_until = {DB_NOW_MS} + ?, started_at = ?, renewed_at = {DB_NOW_MS}"
        );
        sqlx::query(&sql).bind(node_id).bind(lease_ms).bind(now).bind(lease_ms).bind(now).execute(tx.conn()).await?;
        let epoch: i64 = sqlx::query_scalar("SELECT epoch FROM cluster_nodes WHERE node_id = ?")
            .bind(node_id)
            .fetch_one(tx.conn())
            .await?;
        tx.commit().await?;
        Ok(epoch)
    }

    /// Extends this node's lease. False when another process has joined under the same node id
    /// since (a newer epoch): this one must stop serving.
    pub async fn renew_lease(&self, node_id: &str, epoch: i64, lease_ms: i64) -> StoreResult<bool> {
        let sql = format!(
            "UPDATE cluster_nodes SET lease_until = {DB_NOW_MS} + ?, renewed_at = {DB_NOW_MS} WHERE node_id = ? AND epoch = ?"
        );
        let mut tx = self.begin_write().await?;
        let n = sqlx::query(&sql).bind(lease_ms).bind(node_id).bind(epoch).execute(tx.conn()).await?.rows_affected();
        tx.commit().await?;
        Ok(n == 1)
    }

    /// Gives up the lease at a clean shutdown, so this node's customers move at once.
    pub async fn leave_cluster(&self, node_id: &str, epoch: i64) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE cluster_nodes SET lease_until = 0 WHERE node_id = ? AND epoch = ?")
            .bind(node_id)
            .bind(epoch)
            .execute(tx.conn())
            .await?;
        sqlx::query("UPDATE users SET owner_node = NULL WHERE owner_node = ?").bind(node_id).execute(tx.conn()).await?;
        tx.commit().await
    }

    /// Every node that ever joined, alive or not.
    pub async fn cluster_nodes(&self) -> StoreResult<Vec<NodeRow>> {
        let sql = format!(
            "SELECT node_id, epoch, started_at, CASE WHEN lease_until > {DB_NOW_MS} THEN 1 ELSE 0 END AS alive, \
             {DB_NOW_MS} - renewed_at AS ago FROM cluster_nodes ORDER BY node_id"
        );
        let rows = sqlx::query(&sql).fetch_all(self.pool()).await?;
        rows.iter()
            .map(|r| {
                Ok(NodeRow {
                    node_id: r.try_get("node_id")?,
                    epoch: r.try_get("epoch")?,
                    alive: r.try_get::<i64, _>("alive")? == 1,
                    renewed_ms_ago: r.try_get("ago")?,
                    started_at: r.try_get("started_at")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Who owns the customer's wallet now. `None` when there is no such customer.
    pub async fn wallet_owner(&self, user_id: i64) -> StoreResult<Option<Owner>> {
        let sql = format!(
            "SELECT u.owner_node, u.owner_fence, CASE WHEN c.lease_until > {DB_NOW_MS} THEN 1 ELSE 0 END AS alive \
             FROM users u LEFT JOIN cluster_nodes c ON c.node_id = u.owner_node WHERE u.id = ?"
        );
        let Some(r) = sqlx::query(&sql).bind(user_id).fetch_optional(self.pool()).await? else {
            return Ok(None);
        };
        Ok(Some(Owner {
            node_id: r.try_get("owner_node")?,
            fence: r.try_get("owner_fence")?,
            alive: r.try_get::<i64, _>("alive")? == 1,
        }))
    }

    /// The fence the customer's wallet ownership carries now (single node and cluster alike).
    pub async fn owner_fence(&self, user_id: i64) -> StoreResult<Option<i64>> {
        Ok(sqlx::query_scalar("SELECT owner_fence FROM users WHERE id = ?")
            .bind(user_id)
            .fetch_optional(self.pool())
            .await?)
    }

    /// Takes the customer's wallet for `node_id` unless another node with a running lease holds
    /// it. Every take raises the fence, which shuts out every earlier holder's writes — including
    /// an earlier actor of this same node. Row locks order it after any write in flight under the
    /// old fence: that write commits before, or is refused after.
    pub async fn claim_wallet(&self, user_id: i64, node_id: &str) -> StoreResult<Claim> {
        let mut tx = self.begin_write().await?;
        let sql = format!(
            "UPDATE users SET owner_node = ?, owner_fence = owner_fence + 1 WHERE id = ? AND (owner_node IS NULL \
             OR owner_node = ? OR NOT EXISTS (SELECT 1 FROM cluster_nodes c WHERE c.node_id = users.owner_node \
             AND c.lease_until > {DB_NOW_MS}))"
        );
        let taken =
            sqlx::query(&sql).bind(node_id).bind(user_id).bind(node_id).execute(tx.conn()).await?.rows_affected();
        let row = sqlx::query("SELECT owner_node, owner_fence FROM users WHERE id = ?")
            .bind(user_id)
            .fetch_optional(tx.conn())
            .await?;
        tx.commit().await?;
        let Some(row) = row else { return Ok(Claim::NoSuchUser) };
        let owner: Option<String> = row.try_get("owner_node")?;
        let fence: i64 = row.try_get("owner_fence")?;
        Ok(match (taken, owner) {
            (1, _) => Claim::Owned(fence),
            (_, Some(other)) => Claim::Held(other),
            // Released between the two statements: the caller asks again.
            (_, None) => Claim::Held(String::new()),
        })
    }

    /// Lets go of the customer when its wallet stops for idleness, so that whichever node
    /// serves them next takes them without a hop. Only while nobody took them since.
    pub async fn release_wallet(&self, user_id: i64, fence: i64) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE users SET owner_node = NULL WHERE id = ? AND owner_fence = ?")
            .bind(user_id)
            .bind(fence)
            .execute(tx.conn())
            .await?;
        tx.commit().await
    }
}

/// `(item_id, units)` rows as a map.
fn units_by_item(rows: &[sqlx::any::AnyRow]) -> StoreResult<HashMap<i64, i64>> {
    rows.iter()
        .map(|r| Ok((r.try_get::<i64, _>("item_id")?, r.try_get::<i64, _>("units")?)))
        .collect::<Result<_, sqlx::Error>>()
        .map_err(StoreError::from)
}

/// Which kind of limited stock a block holds.
const PRIZE: &str = "prize";

/// The two kinds of limited stock lent to nodes in blocks, and where each one's pool is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stocked {
    Prize,
    Product,
}

impl Stocked {
    fn kind(self) -> &'static str {
        match self {
            Stocked::Prize => PRIZE,
            Stocked::Product => "product",
        }
    }

    fn of(kind: &str) -> Option<Stocked> {
        [Stocked::Prize, Stocked::Product].into_iter().find(|s| s.kind() == kind)
    }

    /// (table, stock column, what makes a row a live pool).
    fn pool(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Stocked::Prize => ("wheel_prizes", "stock_left", "active = 1 AND stock_left IS NOT NULL"),
            Stocked::Product => ("products", "stock", "active = 1"),
        }
    }
}

/// Puts every unit of a product lent to nodes back on its shelf, inside `tx` (an admin sets an
/// absolute stock). The subquery's rows stay locked until `tx` ends, so a node's order cannot
/// take a unit from a block between the sum and the delete.
pub(crate) async fn return_product_blocks(tx: &mut super::WriteTx, product_id: i64) -> StoreResult<()> {
    sqlx::query(
        "UPDATE products SET stock = stock + CAST(COALESCE((SELECT SUM(b.units) FROM stock_blocks b \
         WHERE b.item_kind = 'product' AND b.item_id = products.id), 0) AS SIGNED) WHERE id = ?",
    )
    .bind(product_id)
    .execute(tx.conn())
    .await?;
    sqlx::query("DELETE FROM stock_blocks WHERE item_kind = 'product' AND item_id = ?")
        .bind(product_id)
        .execute(tx.conn())
        .await?;
    Ok(())
}

impl Store {
    /// This node's blocks of the given prizes: prize id → units.
    pub async fn prize_blocks(&self, node_id: &str, prize_ids: &[i64]) -> StoreResult<HashMap<i64, i64>> {
        if prize_ids.is_empty() {
            return Ok(HashMap::new());
        }
        let marks = vec!["?"; prize_ids.len()].join(", ");
        let sql = format!(
            "SELECT item_id, units FROM stock_blocks WHERE item_kind = '{PRIZE}' AND node_id = ? AND item_id IN ({marks})"
        );
        let mut q = sqlx::query(&sql).bind(node_id);
        for id in prize_ids {
            q = q.bind(*id);
        }
        let rows = q.fetch_all(self.pool()).await?;
        units_by_item(&rows)
    }

    /// Units of each given prize lent out to nodes (for the stock a customer or admin is shown:
    /// the pool plus every block).
    pub async fn prize_units_in_blocks(&self, prize_ids: &[i64]) -> StoreResult<HashMap<i64, i64>> {
        if prize_ids.is_empty() {
            return Ok(HashMap::new());
        }
        let marks = vec!["?"; prize_ids.len()].join(", ");
        let sql = format!(
            "SELECT item_id, CAST(SUM(units) AS SIGNED) AS units FROM stock_blocks WHERE item_kind = '{PRIZE}' AND item_id IN ({marks}) \
             GROUP BY item_id"
        );
        let mut q = sqlx::query(&sql);
        for id in prize_ids {
            q = q.bind(*id);
        }
        let rows = q.fetch_all(self.pool()).await?;
        units_by_item(&rows)
    }

    /// Moves units of a limited prize from its pool to this node's block. Returns how many
    /// moved (0 when the pool is empty) and what the pool holds after.
    pub async fn take_prize_block(&self, prize_id: i64, node_id: &str, want: i64) -> StoreResult<(i64, i64)> {
        self.take_block(Stocked::Prize, prize_id, node_id, 1, want).await
    }

    /// As [`Store::take_prize_block`] for a product, taking at least `at_least` units if the
    /// shelf has them (an order of several units).
    pub async fn take_product_block(
        &self,
        product_id: i64,
        node_id: &str,
        at_least: i64,
        at_most: i64,
    ) -> StoreResult<(i64, i64)> {
        self.take_block(Stocked::Product, product_id, node_id, at_least, at_most).await
    }

    /// An eighth of the pool (at least `at_least`, at most `at_most`, never more than the pool):
    /// nodes that sell more take more, and a small stock is not all lent to the first node.
    async fn take_block(
        &self,
        what: Stocked,
        id: i64,
        node_id: &str,
        at_least: i64,
        at_most: i64,
    ) -> StoreResult<(i64, i64)> {
        let (table, column, live) = what.pool();
        let mut tx = self.begin_write().await?;
        let left: Option<Option<i64>> =
            sqlx::query_scalar(&format!("SELECT {column} FROM {table} WHERE id = ? AND {live} FOR UPDATE"))
                .bind(id)
                .fetch_optional(tx.conn())
                .await?;
        let left = left.flatten().unwrap_or(0);
        let n = (left / 8).max(at_least).min(at_most.max(at_least)).min(left).max(0);
        if n == 0 {
            tx.rollback().await?;
            return Ok((0, left));
        }
        let moved = sqlx::query(&format!("UPDATE {table} SET {column} = {column} - ? WHERE id = ? AND {column} >= ?"))
            .bind(n)
            .bind(id)
            .bind(n)
            .execute(tx.conn())
            .await?
            .rows_affected();
        if moved != 1 {
            return Err(StoreError::Conflict(format!("{} {id}'s pool moved while a block was taken", what.kind())));
        }
        sqlx::query(
            "INSERT INTO stock_blocks (item_kind, item_id, node_id, units) VALUES (?, ?, ?, ?) \
             ON DUPLICATE KEY UPDATE units = units + VALUES(units)",
        )
        .bind(what.kind())
        .bind(id)
        .bind(node_id)
        .bind(n)
        .execute(tx.conn())
        .await?;
        tx.commit().await?;
        Ok((n, left - n))
    }

    /// This node's blocks of products: product id → units.
    pub async fn product_blocks(&self, node_id: &str) -> StoreResult<HashMap<i64, i64>> {
        let rows = sqlx::query("SELECT item_id, units FROM stock_blocks WHERE item_kind = 'product' AND node_id = ?")
            .bind(node_id)
            .fetch_all(self.pool())
            .await?;
        units_by_item(&rows)
    }

    /// Puts every block of `node_id` back into its pool (the node left, or its lease expired).
    /// Returns how many units went back. Each pool row is locked before its block (the order
    /// every statement touching both keeps), so a draw or order committing against the block
    /// either commits before (and its unit is not returned) or is refused after.
    pub async fn return_blocks(&self, node_id: &str) -> StoreResult<i64> {
        let held =
            sqlx::query("SELECT item_kind, item_id FROM stock_blocks WHERE node_id = ? ORDER BY item_kind, item_id")
                .bind(node_id)
                .fetch_all(self.pool())
                .await?;
        let mut returned = 0;
        for r in &held {
            let kind: String = r.try_get("item_kind")?;
            let id: i64 = r.try_get("item_id")?;
            let Some(what) = Stocked::of(&kind) else { continue };
            let (table, column, _) = what.pool();
            let mut tx = self.begin_write().await?;
            sqlx::query(&format!("SELECT {column} FROM {table} WHERE id = ? FOR UPDATE"))
                .bind(id)
                .fetch_optional(tx.conn())
                .await?;
            let units: Option<i64> = sqlx::query_scalar(
                "SELECT units FROM stock_blocks WHERE item_kind = ? AND item_id = ? AND node_id = ? FOR UPDATE",
            )
            .bind(what.kind())
            .bind(id)
            .bind(node_id)
            .fetch_optional(tx.conn())
            .await?;
            let Some(units) = units else { continue };
            sqlx::query(&format!("UPDATE {table} SET {column} = {column} + ? WHERE id = ?"))
                .bind(units)
                .bind(id)
                .execute(tx.conn())
                .await?;
            sqlx::query("DELETE FROM stock_blocks WHERE item_kind = ? AND item_id = ? AND node_id = ?")
                .bind(what.kind())
                .bind(id)
                .bind(node_id)
                .execute(tx.conn())
                .await?;
            tx.commit().await?;
            returned += units;
        }
        Ok(returned)
    }

    /// Nodes that hold blocks while their lease has expired (their blocks must go back).
    pub async fn nodes_with_stale_blocks(&self) -> StoreResult<Vec<String>> {
        let sql = format!(
            "SELECT DISTINCT b.node_id FROM stock_blocks b LEFT JOIN cluster_nodes c ON c.node_id = b.node_id \
             WHERE c.node_id IS NULL OR c.lease_until <= {DB_NOW_MS}"
        );
        Ok(sqlx::query_scalar(&sql).fetch_all(self.pool()).await?)
    }
}
