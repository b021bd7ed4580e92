//! The invariant check behind `restaurant-lottery reconcile`: for every user the ledger deltas
//! sum to the stored balance, `balance_after` chains row by row, and no balance is negative.
//! Later areas (prize stock, shop stock, loyalty) add their own checks here.

use futures_util::TryStreamExt;
use sqlx::Row;

use super::{Store, StoreResult};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub subject: String,
    pub problem: String,
}

#[derive(Debug, Clone, Default)]
pub struct ReconcileReport {
    pub users_checked: i64,
    pub ledger_rows_checked: i64,
    pub violations: Vec<Violation>,
}

impl Store {
    /// Limited wheel prizes: units left (in the pool, and lent to nodes in blocks) + units won =
    /// units ever stocked, and never below zero.
    async fn reconcile_prize_stock(&self) -> StoreResult<Vec<Violation>> {
        let rows = sqlx::query(
            "SELECT p.id, p.stock_total, p.stock_left + CAST(COALESCE((SELECT SUM(b.units) FROM stock_blocks b \
               WHERE b.item_kind = 'prize' AND b.item_id = p.id), 0) AS SIGNED) AS stock_left, \
               (SELECT COUNT(*) FROM lottery_draws d WHERE d.prize_id = p.id) AS won \
             FROM wheel_prizes p WHERE p.stock_total IS NOT NULL",
        )
        .fetch_all(self.pool())
        .await?;
        let mut out = Vec::new();
        for r in rows {
            let id: i64 = r.try_get("id")?;
            let total: i64 = r.try_get("stock_total")?;
            let left: i64 = r.try_get("stock_left")?;
            let won: i64 = r.try_get("won")?;
            if left < 0 || left + won != total {
                out.push(Violation {
                    subject: format!("wheel prize {id}"),
                    problem: format!("stock_left {left} + won {won} != stocked {total}"),
                });
            }
        }
        Ok(out)
    }

    /// Cluster mode's rows: every stock block lends a non-negative number of units of a limited
    /// prize or a product that exists, and every customer held by a node is held by one that
    /// joined the cluster, with a fence that never went below zero.
    async fn reconcile_cluster(&self) -> StoreResult<Vec<Violation>> {
        let blocks = sqlx::query(
            "SELECT b.item_kind, b.item_id, b.node_id, b.units, \
               CASE WHEN b.item_kind = 'prize' THEN (SELECT COUNT(*) FROM wheel_prizes p \
                      WHERE p.id = b.item_id AND p.stock_total IS NOT NULL) \
                    WHEN b.item_kind = 'product' THEN (SELECT COUNT(*) FROM products p WHERE p.id = b.item_id) \
                    ELSE 0 END AS known \
             FROM stock_blocks b WHERE b.units < 0 OR b.item_kind NOT IN ('prize', 'product') \
               OR (b.item_kind = 'prize' AND NOT EXISTS (SELECT 1 FROM wheel_prizes p WHERE p.id = b.item_id \
                     AND p.stock_total IS NOT NULL)) \
               OR (b.item_kind = 'product' AND NOT EXISTS (SELECT 1 FROM products p WHERE p.id = b.item_id))",
        )
        .fetch_all(self.pool())
        .await?;
        let mut out = Vec::new();
        for r in blocks {
            let (kind, id, node): (String, i64, String) =
                (r.try_get("item_kind")?, r.try_get("item_id")?, r.try_get("node_id")?);
            let units: i64 = r.try_get("units")?;
            let known: i64 = r.try_get("known")?;
            out.push(Violation {
                subject: format!("stock block of {kind} {id} on node {node}"),
                problem: if known == 0 {
                    format!("lends {units} units of a limited item that does not exist")
                } else {
                    format!("lends {units} units")
                },
            });
        }
        let owners = sqlx::query(
            "SELECT u.id, u.owner_node, u.owner_fence FROM users u WHERE u.owner_fence < 0 \
               OR (u.owner_node IS NOT NULL AND NOT EXISTS (SELECT 1 FROM cluster_nodes c WHERE c.node_id = u.owner_node))",
        )
        .fetch_all(self.pool())
        .await?;
        for r in owners {
            let id: i64 = r.try_get("id")?;
            let node: Option<String> = r.try_get("owner_node")?;
            let fence: i64 = r.try_get("owner_fence")?;
            out.push(Violation {
                subject: format!("user {id}"),
                problem: format!("held by node {node:?} with fence {fence}: no such node, or a negative fence"),
            });
        }
        Ok(out)
    }

    /// Shop products: stock (on the shelf, and lent to nodes in blocks) + units in orders = units
    /// ever stocked; sales_count = units sold.
    async fn reconcile_product_stock(&self) -> StoreResult<Vec<Violation>> {
        let rows = sqlx::query(
            "SELECT p.id, p.stock + CAST(COALESCE((SELECT SUM(b.units) FROM stock_blocks b \
               WHERE b.item_kind = 'product' AND b.item_id = p.id), 0) AS SIGNED) AS stock, p.stock_total, p.sales_count, \
               (SELECT CAST(COALESCE(SUM(o.quantity), 0) AS SIGNED) FROM exchange_orders o WHERE o.product_id = p.id) AS sold \
             FROM products p",
        )
        .fetch_all(self.pool())
        .await?;
        let mut out = Vec::new();
        for r in rows {
            let id: i64 = r.try_get("id")?;
            let stock: i64 = r.try_get("stock")?;
            let total: i64 = r.try_get("stock_total")?;
            let sales: i64 = r.try_get("sales_count")?;
            let sold: i64 = r.try_get("sold")?;
            if stock < 0 || stock + sold != total || sales != sold {
                out.push(Violation {
                    subject: format!("product {id}"),
                    problem: format!("stock {stock} + sold {sold} != stocked {total} (sales_count {sales})"),
                });
            }
        }
        Ok(out)
    }

    /// Receipt reviews: every approved upload is credited exactly once with its points, and no
    /// other upload is credited at all.
    async fn reconcile_reviews(&self) -> StoreResult<Vec<Violation>> {
        let mut credits: std::collections::HashMap<String, (i64, i64)> = std::collections::HashMap::new();
        let rows = sqlx::query("SELECT related_id, points FROM points_records WHERE source = 'photo_review'")
            .fetch_all(self.pool())
            .await?;
        for r in rows {
            let related: Option<String> = r.try_get("related_id")?;
            let e = credits.entry(related.unwrap_or_default()).or_default();
            e.0 += 1;
            e.1 += r.try_get::<i64, _>("points")?;
        }
        let mut out = Vec::new();
        let uploads =
            sqlx::query("SELECT id, status, points_awarded FROM photo_uploads").fetch_all(self.pool()).await?;
        for u in uploads {
            let id: i64 = u.try_get("id")?;
            let status: String = u.try_get("status")?;
            let awarded: Option<i64> = u.try_get("points_awarded")?;
            let (n, sum) = credits.remove(&id.to_string()).unwrap_or((0, 0));
            let expected = if status == "approved" { (1, awarded.unwrap_or(0)) } else { (0, 0) };
            if (n, sum) != expected {
                out.push(Violation {
                    subject: format!("upload {id}"),
                    problem: format!(
                        "status {status}: credited {n} time(s) with {sum} points, expected {} with {}",
                        expected.0, expected.1
                    ),
                });
            }
        }
        for (related, (n, _)) in credits {
            out.push(Violation {
                subject: format!("upload {related}"),
                problem: format!("{n} credit(s) for an upload that does not exist"),
            });
        }
        Ok(out)
    }

    /// Loyalty: frozen points lie within the balance and equal the sum of the customer's freeze
    /// records; every check-in and every task claim is credited by exactly one ledger row of its
    /// own source with its points, and no such row exists without one.
    async fn reconcile_loyalty(&self) -> StoreResult<Vec<Violation>> {
        let mut out = Vec::new();
        let rows = sqlx::query(
            "SELECT u.id, u.points, u.frozen_points, \
               (SELECT CAST(COALESCE(SUM(f.points), 0) AS SIGNED) FROM point_freezes f WHERE f.user_id = u.id) AS recorded \
             FROM users u WHERE u.frozen_points <> 0 OR EXISTS (SELECT 1 FROM point_freezes f WHERE f.user_id = u.id)",
        )
        .fetch_all(self.pool())
        .await?;
        for r in rows {
            let id: i64 = r.try_get("id")?;
            let points: i64 = r.try_get("points")?;
            let frozen: i64 = r.try_get("frozen_points")?;
            let recorded: i64 = r.try_get("recorded")?;
            if frozen < 0 || frozen > points || frozen != recorded {
                out.push(Violation {
                    subject: format!("user {id}"),
                    problem: format!("frozen {frozen} of {points} points, freeze records sum to {recorded}"),
                });
            }
        }
        for (table, source, credited) in
            [("checkins", "checkin", "c.points + c.bonus"), ("task_claims", "task", "c.points")]
        {
            let sql = format!(
                "SELECT c.id, c.user_id, {credited} AS credited, p.user_id AS ledger_user, p.points AS ledger_points, p.source \
                 FROM {table} c LEFT JOIN points_records p ON p.id = c.record_id"
            );
            let rows = sqlx::query(&sql).fetch_all(self.pool()).await?;
            let linked = rows.len() as i64;
            for r in rows {
                let id: i64 = r.try_get("id")?;
                let user: i64 = r.try_get("user_id")?;
                let credited: i64 = r.try_get("credited")?;
                let ledger_user: Option<i64> = r.try_get("ledger_user")?;
                let ledger_points: Option<i64> = r.try_get("ledger_points")?;
                let ledger_source: Option<String> = r.try_get("source")?;
                if ledger_user != Some(user)
                    || ledger_points != Some(credited)
                    || ledger_source.as_deref() != Some(source)
                {
                    out.push(Violation {
                        subject: format!("{table} {id}"),
                        problem: format!(
                            "credits {credited} to user {user}, but its ledger row is {ledger_points:?} to {ledger_user:?} ({ledger_source:?})"
                        ),
                    });
                }
            }
            let ledger: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM points_records WHERE source = ?")
                .bind(source)
                .fetch_one(self.pool())
                .await?;
            if ledger != linked {
                out.push(Violation {
                    subject: table.to_string(),
                    problem: format!("{ledger} ledger rows of source {source} but {linked} {table} rows"),
                });
            }
        }
        Ok(out)
    }

    pub async fn reconcile(&self) -> StoreResult<ReconcileReport> {
        let mut report = ReconcileReport::default();
        let mut balances = std::collections::HashMap::new();
        {
            let mut users = sqlx::query("SELECT id, points FROM users").fetch(self.pool());
            while let Some(row) = users.try_next().await? {
                let id: i64 = row.try_get("id")?;
                let points: i64 = row.try_get("points")?;
                if points < 0 {
                    report.violations.push(Violation {
                        subject: format!("user {id}"),
                        problem: format!("negative balance {points}"),
                    });
                }
                balances.insert(id, points);
            }
        }
        report.users_checked = balances.len() as i64;

        // One ordered pass over the ledger: running sum and chain per user.
        let mut sums: std::collections::HashMap<i64, i64> = std::collections::HashMap::new();
        let mut rows =
            sqlx::query("SELECT id, user_id, points, balance_after FROM points_records ORDER BY user_id, id")
                .fetch(self.pool());
        while let Some(row) = rows.try_next().await? {
            report.ledger_rows_checked += 1;
            let id: i64 = row.try_get("id")?;
            let user: i64 = row.try_get("user_id")?;
            let delta: i64 = row.try_get("points")?;
            let after: i64 = row.try_get("balance_after")?;
            let sum = sums.entry(user).or_insert(0);
            *sum += delta;
            if *sum != after {
                report.violations.push(Violation {
                    subject: format!("user {user}"),
                    problem: format!("ledger row {id}: balance_after {after} but the running sum is {sum}"),
                });
                // Re-anchor so one broken row is reported once, not on every later row.
                *sum = after;
            }
        }
        drop(rows);
        let mut sums_by_user = std::collections::HashMap::new();
        let mut totals = sqlx::query(
            "SELECT user_id, CAST(COALESCE(SUM(points), 0) AS SIGNED) AS total FROM points_records GROUP BY user_id",
        )
        .fetch(self.pool());
        while let Some(row) = totals.try_next().await? {
            sums_by_user.insert(row.try_get::<i64, _>("user_id")?, row.try_get::<i64, _>("total")?);
        }
        let mut ids: Vec<_> = balances.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            let balance = balances[&id];
            let total = sums_by_user.get(&id).copied().unwrap_or(0);
            if total != balance {
                report.violations.push(Violation {
                    subject: format!("user {id}"),
                    problem: format!("balance {balance} but the ledger sums to {total}"),
                });
            }
        }
        drop(totals);
        report.violations.extend(self.reconcile_prize_stock().await?);
        report.violations.extend(self.reconcile_product_stock().await?);
        report.violations.extend(self.reconcile_cluster().await?);
        report.violations.extend(self.reconcile_reviews().await?);
        report.violations.extend(self.reconcile_loyalty().await?);
        report.violations.extend(self.reconcile_campaigns().await?);
        for user in sums_by_user.keys() {
            if !balances.contains_key(user) {
                report.violations.push(Violation {
                    subject: format!("user {user}"),
                    problem: "ledger rows for a user that does not exist".into(),
                });
            }
        }
        Ok(report)
    }
}
