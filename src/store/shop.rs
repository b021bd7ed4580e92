//! The shop's tables: products (with stock) and exchange orders. A redemption is written here in
//! one transaction: the order, the guarded stock decrement, the ledger debit and the balance.
//! Verifying a code at the counter records the merchant (`verified_by` on orders, `used_by` on
//! won prizes) and an audit row, in the transaction that marks it fulfilled.
//!
//! Longer than most files: the catalogue query, the redemption transaction and code
//! verification share the products and orders tables; splitting them would split one table's SQL.

use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{FromRow, Row};

use super::audit::{self, AuditEntry};
use super::reviews::{audit_merchant, merchant_entry};
use std::collections::BTreeMap;

use super::{
    bind_all, flag, idempotency_row, insert_rows, inserted_id, update_wallets, Bind, Store, StoreError, StoreResult,
    WalletUpdate, WriteTx, IDEMPOTENCY_INSERT_COLUMNS, LEDGER_INSERT_COLUMNS,
};
use crate::domain::points::LedgerEntry;
use crate::domain::prize::status_at;
use crate::domain::shop::{demo_products, Product, ProductPatch, ProductQuery, StockStatus};
use crate::domain::{PageRequest, PointsSource};

/// A product's stock as customers and admins are shown it: the shelf's own units and every unit
/// lent to a node in a block (cluster mode; none on a single node).
macro_rules! product_stock {
    () => {
        "(stock + CAST(COALESCE((SELECT SUM(b.units) FROM stock_blocks b WHERE b.item_kind = 'product' \
         AND b.item_id = products.id), 0) AS SIGNED))"
    };
}

const PRODUCT_COLUMNS: &str = concat!(
    "id, name, description, category, exchange_points, ",
    product_stock!(),
    " AS stock, sales_count, image, is_hot, rating, sort_order, active, created_at"
);

// Mapped by hand rather than derived: `Product` belongs to the domain, which knows no sqlx.
impl<'r> FromRow<'r, AnyRow> for Product {
    fn from_row(row: &'r AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Product {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            description: row.try_get("description")?,
            category: row.try_get("category")?,
            exchange_points: row.try_get("exchange_points")?,
            stock: row.try_get("stock")?,
            sales_count: row.try_get("sales_count")?,
            image: row.try_get("image")?,
            is_hot: flag(row, "is_hot")?,
            rating: row.try_get("rating")?,
            sort_order: row.try_get("sort_order")?,
            active: flag(row, "active")?,
            created_at: row.try_get("created_at")?,
        })
    }
}

/// A redemption as the wallet decided it.
#[derive(Debug, Clone)]
pub struct RedemptionWrite {
    pub user_id: i64,
    pub balance_before: i64,
    /// The fence of the wallet actor that made this write (`users.owner_fence` when it started):
    /// a wallet that lost its customer to another node can never commit.
    pub fence: i64,
    pub product_id: i64,
    pub product_name: String,
    pub quantity: i64,
    pub points_cost: i64,
    pub exchange_code: String,
    pub delivery_info: Option<String>,
    pub idempotency_key: Option<String>,
    pub at: i64,
    /// Cluster mode: the node whose stock blocks the units come out of (every write of a group
    /// comes from one node).
    pub stock_node: Option<std::sync::Arc<str>>,
}

/// A committed redemption; stored as the idempotent result too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommittedOrder {
    pub order_id: i64,
    pub user_id: i64,
    pub exchange_code: String,
    pub product_id: i64,
    pub product_name: String,
    pub quantity: i64,
    pub points_cost: i64,
    pub balance_after: i64,
    pub status: String,
}

pub const EXCHANGE_OPERATION: &str = "exchange";

#[derive(Debug, Clone, FromRow)]
pub struct OrderRow {
    pub id: i64,
    pub product_id: i64,
    pub product_name: String,
    pub quantity: i64,
    pub points_cost: i64,
    pub exchange_code: String,
    pub status: String,
    pub delivery_info: Option<String>,
    pub created_at: i64,
    pub verified_at: Option<i64>,
}

/// What a merchant's code verification found.
#[derive(Debug, Clone, PartialEq)]
pub enum Verification {
    Order { order_id: i64, user_id: i64, product_name: String, quantity: i64 },
    Prize { draw_id: i64, user_id: i64, prize_name: String },
    AlreadyUsed { kind: &'static str, used_at: Option<i64> },
    Unknown,
}

impl Store {
    pub async fn products_for_ledger(&self) -> StoreResult<Vec<Product>> {
        let sql = format!("SELECT {PRODUCT_COLUMNS} FROM products");
        Ok(sqlx::query_as(&sql).fetch_all(self.pool()).await?)
    }

    pub async fn product(&self, id: i64) -> StoreResult<Option<Product>> {
        let sql = format!("SELECT {PRODUCT_COLUMNS} FROM products WHERE id = ?");
        Ok(sqlx::query_as(&sql).bind(id).fetch_optional(self.pool()).await?)
    }

    /// The listed catalogue (active products) filtered, sorted and paginated.
    pub async fn list_products(&self, q: &ProductQuery) -> StoreResult<(Vec<Product>, i64)> {
        let mut filter = String::from(" WHERE active = 1");
        if q.category.is_some() {
            filter.push_str(" AND category = ?");
        }
        if q.min_points.is_some() {
            filter.push_str(" AND exchange_points >= ?");
        }
        if q.max_points.is_some() {
            filter.push_str(" AND exchange_points <= ?");
        }
        match q.stock_status {
            Some(StockStatus::InStock) => filter.push_str(concat!(" AND ", product_stock!(), " > 0")),
            Some(StockStatus::OutOfStock) => filter.push_str(concat!(" AND ", product_stock!(), " = 0")),
            None => {}
        }
        let direction = if q.descending { "DESC" } else { "ASC" };
        // The column comes from the SortBy whitelist, never from the client's text.
        let order = format!(" ORDER BY {} {direction}, id ASC", q.sort_by.column());
        let count_sql = format!("SELECT COUNT(*) FROM products{filter}");
        let list_sql = format!("SELECT {PRODUCT_COLUMNS} FROM products{filter}{order} LIMIT ? OFFSET ?");
        let mut count = sqlx::query_scalar::<_, i64>(&count_sql);
        let mut list = sqlx::query_as::<_, Product>(&list_sql);
        if let Some(c) = &q.category {
            count = count.bind(c.clone());
            list = list.bind(c.clone());
        }
        for v in [q.min_points, q.max_points].into_iter().flatten() {
            count = count.bind(v);
            list = list.bind(v);
        }
        let total = count.fetch_one(self.pool()).await?;
        let rows = list.bind(q.page.limit).bind(q.page.offset()).fetch_all(self.pool()).await?;
        Ok((rows, total))
    }

    pub async fn categories(&self) -> StoreResult<Vec<(String, i64)>> {
        sqlx::query("SELECT category, COUNT(*) AS n FROM products WHERE active = 1 GROUP BY category ORDER BY category")
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(|r| Ok((r.try_get("category")?, r.try_get("n")?)))
            .collect()
    }

    /// Hot products first, then best sellers.
    pub async fn hot_products(&self, limit: i64) -> StoreResult<Vec<Product>> {
        let sql = format!(
            "SELECT {PRODUCT_COLUMNS} FROM products WHERE active = 1 ORDER BY is_hot DESC, sales_count DESC, sort_order ASC, id ASC LIMIT ?"
        );
        Ok(sqlx::query_as(&sql).bind(limit).fetch_all(self.pool()).await?)
    }

    pub async fn seed_demo_shop(&self, now: i64) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let existing: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM products").fetch_one(tx.conn()).await?;
        if existing > 0 {
            return Ok(false);
        }
        for p in demo_products() {
            insert_product(&mut tx, &p, now).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    pub async fn create_product(&self, p: &ProductPatch, audit_entry: &AuditEntry) -> StoreResult<Product> {
        let mut tx = self.begin_write().await?;
        let id = insert_product(&mut tx, p, audit_entry.at).await?;
        let mut entry = audit_entry.clone();
        entry.target_id = id.to_string();
        audit::insert(&mut tx, &entry).await?;
        let product = fetch_product(&mut tx, id).await?;
        tx.commit().await?;
        Ok(product)
    }

    /// Applies the patch; a new stock value also moves `stock_total` by the difference, so the
    /// units-stocked ledger stays true. `None` when the product does not exist.
    pub async fn update_product(
        &self,
        id: i64,
        p: &ProductPatch,
        audit_entry: &AuditEntry,
    ) -> StoreResult<Option<Product>> {
        let mut tx = self.begin_write().await?;
        let Some(before) = fetch_product_opt(&mut tx, id).await? else { return Ok(None) };
        let mut entry = audit_entry.clone();
        entry.before = Some(product_json(&before));
        let mut sets: Vec<(&str, Bind)> = Vec::new();
        for (clause, v) in [
            ("name = ?", &p.name),
            ("description = ?", &p.description),
            ("category = ?", &p.category),
            ("image = ?", &p.image),
        ] {
            if let Some(v) = v {
                sets.push((clause, Bind::Text(v.clone())));
            }
        }
        for (clause, v) in [
            ("exchange_points = ?", p.exchange_points),
            ("is_hot = ?", p.is_hot.map(i64::from)),
            ("sort_order = ?", p.sort_order),
        ] {
            if let Some(v) = v {
                sets.push((clause, Bind::Int(v)));
            }
        }
        if let Some(stock) = p.stock {
            // An absolute stock replaces every unit, those lent to nodes too: the blocks come
            // back first (the nodes holding them re-read the shop).
            super::cluster::return_product_blocks(&mut tx, id).await?;
            sets.push(("stock = ?", Bind::Int(stock)));
            sets.push(("stock_total = stock_total + ?", Bind::Int(stock - before.stock)));
        }
        if let Some(r) = p.rating {
            sets.push(("rating = ?", Bind::Real(r)));
        }
        sets.push(("updated_at = ?", Bind::Int(audit_entry.at)));
        let sql =
            format!("UPDATE products SET {} WHERE id = ?", sets.iter().map(|(c, _)| *c).collect::<Vec<_>>().join(", "));
        let q = bind_all(sqlx::query(&sql), sets.into_iter().map(|(_, b)| b).collect());
        q.bind(id).execute(tx.conn()).await?;
        let after = fetch_product(&mut tx, id).await?;
        entry.after = Some(product_json(&after));
        audit::insert(&mut tx, &entry).await?;
        tx.commit().await?;
        Ok(Some(after))
    }

    /// Takes a product off the shelf (orders keep pointing at it). `None` when it does not exist.
    pub async fn delist_product(&self, id: i64, audit_entry: &AuditEntry) -> StoreResult<Option<Product>> {
        let mut tx = self.begin_write().await?;
        let Some(before) = fetch_product_opt(&mut tx, id).await? else { return Ok(None) };
        sqlx::query("UPDATE products SET active = 0, updated_at = ? WHERE id = ?")
            .bind(audit_entry.at)
            .bind(id)
            .execute(tx.conn())
            .await?;
        let mut entry = audit_entry.clone();
        entry.before = Some(json!({ "active": before.active }));
        entry.after = Some(json!({ "active": false }));
        audit::insert(&mut tx, &entry).await?;
        let after = fetch_product(&mut tx, id).await?;
        tx.commit().await?;
        Ok(Some(after))
    }

    /// Adds units; returns the new stock, or `None` when the product does not exist.
    pub async fn restock_product(&self, id: i64, quantity: i64, audit_entry: &AuditEntry) -> StoreResult<Option<i64>> {
        let mut tx = self.begin_write().await?;
        let Some(before) = fetch_product_opt(&mut tx, id).await? else { return Ok(None) };
        sqlx::query(
            "UPDATE products SET stock = stock + ?, stock_total = stock_total + ?, updated_at = ? WHERE id = ?",
        )
        .bind(quantity)
        .bind(quantity)
        .bind(audit_entry.at)
        .bind(id)
        .execute(tx.conn())
        .await?;
        let mut entry = audit_entry.clone();
        entry.before = Some(json!({ "stock": before.stock }));
        entry.after = Some(json!({ "stock": before.stock + quantity, "added": quantity }));
        audit::insert(&mut tx, &entry).await?;
        tx.commit().await?;
        Ok(Some(before.stock + quantity))
    }

    /// Writes redemptions of several customers in one transaction: the orders, one guarded
    /// stock decrement per product (never below zero), the debits, and one guarded update of all
    /// the wallets. All of it happens or none does. Each customer has at most one redemption here.
    pub async fn commit_redemption_group(&self, writes: &[RedemptionWrite]) -> StoreResult<Vec<CommittedOrder>> {
        // Reserving ids takes its own transaction, so it comes before ours.
        let mut next_id = self.order_ids.allocate(self, writes.len() as i64).await?;
        let mut orders: Vec<Vec<Bind>> = Vec::with_capacity(writes.len());
        let mut ledger: Vec<Vec<Bind>> = Vec::with_capacity(writes.len());
        let mut idempotency: Vec<Vec<Bind>> = Vec::new();
        let mut units: BTreeMap<i64, i64> = BTreeMap::new();
        let mut committed = Vec::with_capacity(writes.len());
        for w in writes {
            let order_id = next_id;
            next_id += 1;
            let balance_after = w.balance_before - w.points_cost;
            orders.push(vec![
                Bind::Int(order_id),
                Bind::Int(w.user_id),
                Bind::Int(w.product_id),
                Bind::Text(w.product_name.clone()),
                Bind::Int(w.quantity),
                Bind::Int(w.points_cost),
                Bind::Text(w.exchange_code.clone()),
                Bind::Text("pending".into()),
                Bind::OptText(w.delivery_info.clone()),
                Bind::Int(w.at),
            ]);
            ledger.push(vec![
                Bind::Int(w.user_id),
                Bind::Int(-w.points_cost),
                Bind::Int(balance_after),
                Bind::Text(PointsSource::Exchange.as_str().into()),
                Bind::Text(LedgerEntry::Redemption { product: &w.product_name, quantity: w.quantity }.description()),
                Bind::OptText(Some(order_id.to_string())),
                Bind::OptText(w.idempotency_key.clone()),
                Bind::Int(w.at),
            ]);
            *units.entry(w.product_id).or_default() += w.quantity;
            let order = CommittedOrder {
                order_id,
                user_id: w.user_id,
                exchange_code: w.exchange_code.clone(),
                product_id: w.product_id,
                product_name: w.product_name.clone(),
                quantity: w.quantity,
                points_cost: w.points_cost,
                balance_after,
                status: "pending".into(),
            };
            if let Some(key) = &w.idempotency_key {
                idempotency.push(idempotency_row(w.user_id, key, EXCHANGE_OPERATION, &order, w.at)?);
            }
            committed.push(order);
        }

        let mut tx = self.begin_write().await?;
        let at = writes.first().map(|w| w.at).unwrap_or_default();
        // Cluster mode: each node's orders come out of its own stock blocks.
        let block_of = writes.first().and_then(|w| w.stock_node.clone());
        for (product, quantity) in units {
            // The guard is what makes overselling impossible, whatever memory believed.
            let took = match &block_of {
                None => sqlx::query(
                    "UPDATE products SET stock = stock - ?, sales_count = sales_count + ?, updated_at = ? WHERE id = ? AND active = 1 AND stock >= ?",
                )
                .bind(quantity)
                .bind(quantity)
                .bind(at)
                .bind(product)
                .bind(quantity)
                .execute(tx.conn())
                .await?
                .rows_affected(),
                Some(node) => {
                    // The product row before the block row, the order every statement that
                    // touches both keeps (taking a block, returning blocks): no deadlock.
                    let counted = sqlx::query(
                        "UPDATE products SET sales_count = sales_count + ?, updated_at = ? WHERE id = ? AND active = 1",
                    )
                    .bind(quantity)
                    .bind(at)
                    .bind(product)
                    .execute(tx.conn())
                    .await?
                    .rows_affected();
                    let took = sqlx::query(
                        "UPDATE stock_blocks SET units = units - ? WHERE item_kind = 'product' AND item_id = ? \
                         AND node_id = ? AND units >= ?",
                    )
                    .bind(quantity)
                    .bind(product)
                    .bind(node.as_ref())
                    .bind(quantity)
                    .execute(tx.conn())
                    .await?
                    .rows_affected();
                    took.min(counted)
                }
            };
            if took != 1 {
                return Err(StoreError::Conflict(format!("product {product} cannot supply {quantity}")));
            }
        }
        insert_rows(
            &mut tx,
            "exchange_orders",
            &[
                "id",
                "user_id",
                "product_id",
                "product_name",
                "quantity",
                "points_cost",
                "exchange_code",
                "status",
                "delivery_info",
                "created_at",
            ],
            orders,
        )
        .await?;
        insert_rows(&mut tx, "points_records", LEDGER_INSERT_COLUMNS, ledger).await?;
        insert_rows(&mut tx, "idempotency_keys", IDEMPOTENCY_INSERT_COLUMNS, idempotency).await?;
        let wallets: Vec<WalletUpdate> = writes
            .iter()
            .zip(&committed)
            .map(|(w, c)| WalletUpdate {
                user_id: w.user_id,
                points_before: w.balance_before,
                points_after: c.balance_after,
                fence: w.fence,
                pity: None,
            })
            .collect();
        update_wallets(&mut tx, &wallets, at).await?;
        tx.commit().await?;
        Ok(committed)
    }

    pub async fn orders_page(
        &self,
        user_id: i64,
        status: Option<&str>,
        page: PageRequest,
    ) -> StoreResult<(Vec<OrderRow>, i64)> {
        let filter = if status.is_some() { " AND status = ?" } else { "" };
        let count_sql = format!("SELECT COUNT(*) FROM exchange_orders WHERE user_id = ?{filter}");
        let list_sql = format!(
            "SELECT id, product_id, product_name, quantity, points_cost, exchange_code, status, delivery_info, created_at, verified_at \
             FROM exchange_orders WHERE user_id = ?{filter} ORDER BY id DESC LIMIT ? OFFSET ?"
        );
        let mut count = sqlx::query_scalar::<_, i64>(&count_sql).bind(user_id);
        let mut list = sqlx::query_as::<_, OrderRow>(&list_sql).bind(user_id);
        if let Some(s) = status {
            count = count.bind(s.to_string());
            list = list.bind(s.to_string());
        }
        let total = count.fetch_one(self.pool()).await?;
        let rows = list.bind(page.limit).bind(page.offset()).fetch_all(self.pool()).await?;
        Ok((rows, total))
    }

    /// Marks the order or won prize behind `code` as fulfilled — exactly once, even when two
    /// merchants scan the same code at the same moment.
    pub async fn verify_code(&self, code: &str, merchant_id: i64, now: i64) -> StoreResult<Verification> {
        let mut tx = self.begin_write().await?;
        let order = sqlx::query("SELECT id, user_id, product_name, quantity, status, verified_at FROM exchange_orders WHERE exchange_code = ?")
            .bind(code)
            .fetch_optional(tx.conn())
            .await?;
        if let Some(o) = order {
            let id: i64 = o.try_get("id")?;
            let done = sqlx::query("UPDATE exchange_orders SET status = 'completed', verified_at = ?, verified_by = ? WHERE id = ? AND status = 'pending'")
                .bind(now)
                .bind(merchant_id)
                .bind(id)
                .execute(tx.conn())
                .await?
                .rows_affected();
            if done != 1 {
                let used_at = o.try_get("verified_at")?;
                tx.rollback().await?;
                return Ok(Verification::AlreadyUsed { kind: "order", used_at });
            }
            let entry = merchant_entry(merchant_id, "order.verify", "exchange_order", id.to_string(), now);
            let before = json!({ "status": "pending", "user_id": o.try_get::<i64, _>("user_id")? });
            audit_merchant(&mut tx, entry, before, json!({ "status": "completed", "verified_by": merchant_id }))
                .await?;
            tx.commit().await?;
            return Ok(Verification::Order {
                order_id: id,
                user_id: o.try_get("user_id")?,
                product_name: o.try_get("product_name")?,
                quantity: o.try_get("quantity")?,
            });
        }
        let prize = sqlx::query(
            "SELECT id, user_id, prize_name, used_at, status, expires_at FROM lottery_draws WHERE redemption_code = ?",
        )
        .bind(code)
        .fetch_optional(tx.conn())
        .await?;
        let Some(p) = prize else {
            tx.rollback().await?;
            return Ok(Verification::Unknown);
        };
        let id: i64 = p.try_get("id")?;
        let status: Option<String> = p.try_get("status")?;
        if status_at(status.as_deref(), p.try_get("expires_at")?, now) == "expired" {
            // An expired coupon is no longer a prize the counter can honour.
            tx.rollback().await?;
            return Ok(Verification::Unknown);
        }
        let done = sqlx::query(
            "UPDATE lottery_draws SET status = 'used', used_at = ?, used_by = ? \
             WHERE id = ? AND status IN ('unused', 'claimed')",
        )
        .bind(now)
        .bind(merchant_id)
        .bind(id)
        .execute(tx.conn())
        .await?
        .rows_affected();
        if done != 1 {
            let used_at = p.try_get("used_at")?;
            tx.rollback().await?;
            return Ok(Verification::AlreadyUsed { kind: "prize", used_at });
        }
        let entry = merchant_entry(merchant_id, "prize.verify", "lottery_draw", id.to_string(), now);
        let before = json!({ "status": status, "user_id": p.try_get::<i64, _>("user_id")? });
        audit_merchant(&mut tx, entry, before, json!({ "status": "used", "used_by": merchant_id })).await?;
        tx.commit().await?;
        Ok(Verification::Prize { draw_id: id, user_id: p.try_get("user_id")?, prize_name: p.try_get("prize_name")? })
    }
}

/// A product's audit snapshot.
pub fn product_json(p: &Product) -> serde_json::Value {
    json!({
        "name": p.name,
        "category": p.category,
        "exchange_points": p.exchange_points,
        "stock": p.stock,
        "is_hot": p.is_hot,
        "sort_order": p.sort_order,
        "active": p.active,
    })
}

async fn fetch_product_opt(tx: &mut WriteTx, id: i64) -> StoreResult<Option<Product>> {
    let sql = format!("SELECT {PRODUCT_COLUMNS} FROM products WHERE id = ?");
    Ok(sqlx::query_as(&sql).bind(id).fetch_optional(tx.conn()).await?)
}

async fn fetch_product(tx: &mut WriteTx, id: i64) -> StoreResult<Product> {
    fetch_product_opt(tx, id).await?.ok_or_else(|| StoreError::Conflict(format!("product {id} vanished")))
}

async fn insert_product(tx: &mut WriteTx, p: &ProductPatch, now: i64) -> StoreResult<i64> {
    let stock = p.stock.unwrap_or(0);
    let result = sqlx::query(
        "INSERT INTO products (name, description, category, exchange_points, stock, stock_total, sales_count, image, is_hot, rating, sort_order, active, created_at, updated_at) \
         VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, 1, ?, ?)",
    )
    .bind(p.name.clone().unwrap_or_default())
    .bind(p.description.clone().unwrap_or_default())
    .bind(p.category.clone().unwrap_or_default())
    .bind(p.exchange_points.unwrap_or(1))
    .bind(stock)
    .bind(stock)
    .bind(p.image.clone().unwrap_or_default())
    .bind(p.is_hot.unwrap_or(false) as i64)
    .bind(p.rating.unwrap_or(5.0))
    .bind(p.sort_order.unwrap_or(0))
    .bind(now)
    .bind(now)
    .execute(tx.conn())
    .await?;
    inserted_id(tx, result).await
}
