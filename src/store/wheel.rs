//! The wheel's tables: sectors (retired, never updated in place, when the wheel is replaced),
//! settings, and draws. A draw batch is written here in one transaction.
//!
//! Longer than most files: the draw batch transaction, the sector history and the
//! statistics queries share the draws table; splitting them would split one table's SQL.

use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{FromRow, Row};

use super::audit::{self, AuditEntry};
use std::collections::BTreeMap;

use super::{
    flag, idempotency_row, insert_rows, inserted_id, update_wallets, Bind, Flag, Store, StoreError, StoreResult,
    WalletUpdate, WriteTx, IDEMPOTENCY_INSERT_COLUMNS, LEDGER_INSERT_COLUMNS,
};
use crate::domain::draw::DEFAULT_CAMPAIGN_ID;
use crate::domain::points::LedgerEntry;
use crate::domain::wheel::{demo_sectors, PrizeKind, Sector, WheelSettings};
use crate::domain::{PageRequest, PointsSource};

const SECTOR_COLUMNS: &str =
    "id, name, prize_type, prize_value, angle, color, probability, is_activity, stock_left, is_pity_prize, is_fallback, cash_value_cents";

fn sector_row(row: &AnyRow) -> Result<Sector, sqlx::Error> {
    let kind: String = row.try_get("prize_type")?;
    Ok(Sector {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        kind: PrizeKind::parse(&kind)
            .ok_or_else(|| sqlx::Error::Decode(format!("unknown prize type {kind}").into()))?,
        value: row.try_get("prize_value")?,
        angle: row.try_get("angle")?,
        color: row.try_get("color")?,
        probability: row.try_get("probability")?,
        is_activity: flag(row, "is_activity")?,
        stock_left: row.try_get("stock_left")?,
        is_pity_prize: flag(row, "is_pity_prize")?,
        is_fallback: flag(row, "is_fallback")?,
        cash_value_cents: row.try_get("cash_value_cents")?,
    })
}

/// One draw of a batch as the wheel decided it.
#[derive(Debug, Clone)]
pub struct DrawWrite {
    pub prize: Sector,
    pub is_pity: bool,
    pub is_near_miss: bool,
    pub redemption_code: Option<String>,
    /// What lets anyone recompute the draw; `None` only for writes made without a seed.
    pub fair: Option<FairDraw>,
    /// When a won coupon stops being valid (`COUPON_VALID_DAYS` after the win); `None` never.
    pub expires_at: Option<i64>,
}

/// A fair draw's own numbers (API.md "Fair draws").
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FairDraw {
    /// The customer's n-th draw in the campaign.
    pub nonce: i64,
    pub random_value: f64,
    /// Sectors sold out when it was drawn, one bit per sector in angle order.
    pub sold_out_mask: i64,
}

#[derive(Debug, Clone)]
pub struct DrawBatchWrite {
    pub user_id: i64,
    pub batch_id: String,
    pub balance_before: i64,
    /// The fence of the wallet actor that made this write (`users.owner_fence` when it started):
    /// a wallet that lost its customer to another node can never commit.
    pub fence: i64,
    pub cost_per_draw: i64,
    pub draws: Vec<DrawWrite>,
    pub pity_before: i64,
    pub pity_after: i64,
    pub pity_limit: i64,
    pub idempotency_key: Option<String>,
    pub at: i64,
    pub campaign_id: i64,
    /// The server seed the batch's numbers came from.
    pub seed_id: Option<i64>,
    /// The customer's own client seed; `None` is the default (their user id).
    pub client_seed: Option<String>,
    /// Cluster mode: the node whose stock blocks this batch's limited prizes come out of (every
    /// write of a group comes from one node).
    pub stock_node: Option<std::sync::Arc<str>>,
}

/// A committed draw, as the customer is told about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommittedDraw {
    pub draw_id: i64,
    pub prize_id: i64,
    pub prize_name: String,
    pub prize_type: String,
    pub prize_value: i64,
    pub angle: i64,
    pub is_near_miss: bool,
    pub is_pity: bool,
    pub redemption_code: Option<String>,
    pub is_activity: bool,
}

/// What a committed batch produced; stored as the idempotent result too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommittedBatch {
    pub batch_id: String,
    pub user_id: i64,
    pub draws: Vec<CommittedDraw>,
    pub points_cost: i64,
    pub points_won: i64,
    pub balance_after: i64,
    pub pity_count: i64,
    pub pity_limit: i64,
}

pub const DRAW_OPERATION: &str = "lottery_draw";

const DRAW_INSERT_COLUMNS: &[&str] = &[
    "id",
    "user_id",
    "batch_id",
    "prize_id",
    "prize_name",
    "prize_type",
    "prize_value",
    "angle",
    "is_pity",
    "is_near_miss",
    "points_cost",
    "redemption_code",
    "status",
    "created_at",
    "campaign_id",
    "nonce",
    "client_seed",
    "random_value",
    "seed_id",
    "sold_out_mask",
    "expires_at",
];

#[derive(Debug, Clone, FromRow)]
pub struct DrawRow {
    pub id: i64,
    pub prize_id: i64,
    pub prize_name: String,
    pub prize_type: String,
    pub prize_value: i64,
    pub angle: i64,
    #[sqlx(try_from = "Flag")]
    pub is_pity: bool,
    #[sqlx(try_from = "Flag")]
    pub is_near_miss: bool,
    pub points_cost: i64,
    pub redemption_code: Option<String>,
    pub status: Option<String>,
    pub used_at: Option<i64>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
}

const DRAW_COLUMNS: &str = "id, prize_id, prize_name, prize_type, prize_value, angle, is_pity, is_near_miss, points_cost, redemption_code, status, used_at, created_at, expires_at";

/// A customer's draw totals.
#[derive(Debug, Clone, Default)]
pub struct DrawTotals {
    pub draws: i64,
    pub by_type: Vec<(String, i64)>,
    pub points_spent: i64,
    pub points_won: i64,
}

impl Store {
    /// The default campaign's current sectors (by angle) and settings.
    pub async fn wheel(&self) -> StoreResult<Option<(Vec<Sector>, WheelSettings)>> {
        self.campaign_wheel(DEFAULT_CAMPAIGN_ID).await
    }

    /// A campaign's current sectors (by angle; none until an admin sets them) and settings;
    /// `None` when there is no such campaign.
    pub async fn campaign_wheel(&self, campaign_id: i64) -> StoreResult<Option<(Vec<Sector>, WheelSettings)>> {
        let settings = sqlx::query(
            "SELECT name AS campaign_name, description, banner_image, min_level, cost_points, pity_enabled, \
             pity_limit, daily_limit, starts_at, ends_at FROM lottery_campaigns WHERE id = ?",
        )
        .bind(campaign_id)
        .fetch_optional(self.pool())
        .await?;
        let Some(s) = settings else { return Ok(None) };
        let sql =
            format!("SELECT {SECTOR_COLUMNS} FROM wheel_prizes WHERE campaign_id = ? AND active = 1 ORDER BY angle");
        let mut sectors = sqlx::query(&sql)
            .bind(campaign_id)
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(sector_row)
            .collect::<Result<Vec<_>, _>>()?;
        // Cluster mode lends limited units to nodes in blocks: what is left is the pool and
        // every block.
        let limited: Vec<i64> = sectors.iter().filter(|s| s.stock_left.is_some()).map(|s| s.id).collect();
        let lent = self.prize_units_in_blocks(&limited).await?;
        for s in sectors.iter_mut() {
            if let (Some(left), Some(units)) = (s.stock_left.as_mut(), lent.get(&s.id)) {
                *left += units;
            }
        }
        Ok(Some((
            sectors,
            WheelSettings {
                campaign_name: s.try_get("campaign_name")?,
                description: s.try_get("description")?,
                banner_image: s.try_get("banner_image")?,
                min_level: s.try_get("min_level")?,
                cost_points: s.try_get("cost_points")?,
                pity_enabled: flag(&s, "pity_enabled")?,
                pity_limit: s.try_get("pity_limit")?,
                daily_limit: s.try_get("daily_limit")?,
                starts_at: s.try_get("starts_at")?,
                ends_at: s.try_get("ends_at")?,
            },
        )))
    }

    /// Seeds the contract's demo wheel when no wheel exists. Returns whether it seeded.
    pub async fn seed_demo_wheel(&self, now: i64) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let existing: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM wheel_prizes").fetch_one(tx.conn()).await?;
        if existing > 0 {
            return Ok(false);
        }
        insert_sectors(&mut tx, DEFAULT_CAMPAIGN_ID, &demo_sectors(), now).await?;
        write_settings(&mut tx, DEFAULT_CAMPAIGN_ID, &WheelSettings::demo(), now).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Replaces a campaign's eight sectors at once; returns them with their new ids.
    pub async fn replace_sectors(
        &self,
        campaign_id: i64,
        sectors: &[Sector],
        audit_entry: &AuditEntry,
    ) -> StoreResult<Vec<Sector>> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE wheel_prizes SET active = 0 WHERE campaign_id = ? AND active = 1")
            .bind(campaign_id)
            .execute(tx.conn())
            .await?;
        let saved = insert_sectors(&mut tx, campaign_id, sectors, audit_entry.at).await?;
        audit::insert(&mut tx, audit_entry).await?;
        tx.commit().await?;
        Ok(saved)
    }

    /// A campaign's rules (the caller has read the campaign, so it exists).
    pub async fn save_wheel_settings(
        &self,
        campaign_id: i64,
        settings: &WheelSettings,
        audit_entry: &AuditEntry,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        write_settings(&mut tx, campaign_id, settings, audit_entry.at).await?;
        audit::insert(&mut tx, audit_entry).await?;
        tx.commit().await
    }

    /// Adds units to a limited sector of the campaign; returns the new stock_left, or `None`
    /// when the sector is not one of the campaign's current ones or is unlimited.
    pub async fn add_prize_stock(
        &self,
        campaign_id: i64,
        prize_id: i64,
        add: i64,
        audit_entry: &AuditEntry,
    ) -> StoreResult<Option<i64>> {
        let mut tx = self.begin_write().await?;
        let updated = sqlx::query(
            "UPDATE wheel_prizes SET stock_left = stock_left + ?, stock_total = stock_total + ? \
             WHERE id = ? AND campaign_id = ? AND active = 1 AND stock_left IS NOT NULL",
        )
        .bind(add)
        .bind(add)
        .bind(prize_id)
        .bind(campaign_id)
        .execute(tx.conn())
        .await?
        .rows_affected();
        if updated != 1 {
            tx.rollback().await?;
            return Ok(None);
        }
        // What is left in all: the pool and the blocks lent to nodes (cluster mode).
        let left: i64 = sqlx::query_scalar(
            "SELECT stock_left + CAST(COALESCE((SELECT SUM(units) FROM stock_blocks WHERE item_kind = 'prize' \
             AND item_id = ?), 0) AS SIGNED) FROM wheel_prizes WHERE id = ?",
        )
        .bind(prize_id)
        .bind(prize_id)
        .fetch_one(tx.conn())
        .await?;
        audit::insert(&mut tx, audit_entry).await?;
        tx.commit().await?;
        Ok(Some(left))
    }

    /// Writes draw batches of several customers in one transaction: per batch the debit, a
    /// row per draw, a credit per points prize; per limited prize one guarded stock decrement;
    /// one guarded update of all the wallets (balance and pity counter). All of it happens or
    /// none does. Each customer has at most one batch here (their wallet actor waits for it).
    pub async fn commit_draw_group(&self, writes: &[DrawBatchWrite]) -> StoreResult<Vec<CommittedBatch>> {
        let total: usize = writes.iter().map(|w| w.draws.len()).sum();
        // Reserving ids takes its own transaction, so it comes before ours.
        let mut next_id = self.draw_ids.allocate(self, total as i64).await?;
        let mut draw_rows: Vec<Vec<Bind>> = Vec::with_capacity(total);
        let mut ledger_rows: Vec<Vec<Bind>> = Vec::with_capacity(writes.len() * 2);
        let mut idempotency_rows: Vec<Vec<Bind>> = Vec::new();
        let mut prize_units: BTreeMap<i64, i64> = BTreeMap::new();
        let mut committed = Vec::with_capacity(writes.len());
        for w in writes {
            let n = w.draws.len() as i64;
            let cost = w.cost_per_draw * n;
            let mut balance = w.balance_before - cost;
            ledger_rows.push(vec![
                Bind::Int(w.user_id),
                Bind::Int(-cost),
                Bind::Int(balance),
                Bind::Text(PointsSource::Lottery.as_str().into()),
                Bind::Text(LedgerEntry::Draws { count: n }.description()),
                Bind::OptText(Some(w.batch_id.clone())),
                Bind::OptText(w.idempotency_key.clone()),
                Bind::Int(w.at),
            ]);
            let mut draws = Vec::with_capacity(w.draws.len());
            let mut won = 0;
            for d in &w.draws {
                let draw_id = next_id;
                next_id += 1;
                draw_rows.push(vec![
                    Bind::Int(draw_id),
                    Bind::Int(w.user_id),
                    Bind::Text(w.batch_id.clone()),
                    Bind::Int(d.prize.id),
                    Bind::Text(d.prize.name.clone()),
                    Bind::Text(d.prize.kind.as_str().into()),
                    Bind::Int(d.prize.value),
                    Bind::Int(d.prize.angle),
                    Bind::Int(d.is_pity as i64),
                    Bind::Int(d.is_near_miss as i64),
                    Bind::Int(w.cost_per_draw),
                    Bind::OptText(d.redemption_code.clone()),
                    Bind::OptText(d.prize.kind.is_inventory().then(|| "unused".to_string())),
                    Bind::Int(w.at),
                    Bind::Int(w.campaign_id),
                    Bind::OptInt(d.fair.map(|f| f.nonce)),
                    Bind::OptText(w.client_seed.clone()),
                    Bind::OptReal(d.fair.map(|f| f.random_value)),
                    Bind::OptInt(w.seed_id),
                    Bind::Int(d.fair.map_or(0, |f| f.sold_out_mask)),
                    Bind::OptInt(d.expires_at),
                ]);
                if d.prize.stock_left.is_some() {
                    *prize_units.entry(d.prize.id).or_default() += 1;
                }
                if d.prize.kind == PrizeKind::Points {
                    balance += d.prize.value;
                    won += d.prize.value;
                    ledger_rows.push(vec![
                        Bind::Int(w.user_id),
                        Bind::Int(d.prize.value),
                        Bind::Int(balance),
                        Bind::Text(PointsSource::LotteryWin.as_str().into()),
                        Bind::Text(LedgerEntry::Win { prize: &d.prize.name }.description()),
                        Bind::OptText(Some(draw_id.to_string())),
                        Bind::OptText(None),
                        Bind::Int(w.at),
                    ]);
                }
                draws.push(CommittedDraw {
                    draw_id,
                    prize_id: d.prize.id,
                    prize_name: d.prize.name.clone(),
                    prize_type: d.prize.kind.as_str().to_string(),
                    prize_value: d.prize.value,
                    angle: d.prize.angle,
                    is_near_miss: d.is_near_miss,
                    is_pity: d.is_pity,
                    redemption_code: d.redemption_code.clone(),
                    is_activity: d.prize.is_activity,
                });
            }
            let batch = CommittedBatch {
                batch_id: w.batch_id.clone(),
                user_id: w.user_id,
                draws,
                points_cost: cost,
                points_won: won,
                balance_after: balance,
                pity_count: w.pity_after,
                pity_limit: w.pity_limit,
            };
            if let Some(key) = &w.idempotency_key {
                idempotency_rows.push(idempotency_row(w.user_id, key, DRAW_OPERATION, &batch, w.at)?);
            }
            committed.push(batch);
        }

        let mut tx = self.begin_write().await?;
        insert_rows(&mut tx, "lottery_draws", DRAW_INSERT_COLUMNS, draw_rows).await?;
        insert_rows(&mut tx, "points_records", LEDGER_INSERT_COLUMNS, ledger_rows).await?;
        insert_rows(&mut tx, "idempotency_keys", IDEMPOTENCY_INSERT_COLUMNS, idempotency_rows).await?;
        // Cluster mode: each node's wins come out of its own block, not the shared pool.
        let block_of = writes.first().and_then(|w| w.stock_node.clone());
        for (prize, units) in prize_units {
            // The guard makes overselling impossible even if memory and store disagreed.
            let took = match &block_of {
                None => {
                    sqlx::query("UPDATE wheel_prizes SET stock_left = stock_left - ? WHERE id = ? AND stock_left >= ?")
                        .bind(units)
                        .bind(prize)
                        .bind(units)
                        .execute(tx.conn())
                        .await?
                }
                Some(node) => {
                    sqlx::query(
                        "UPDATE stock_blocks SET units = units - ? WHERE item_kind = 'prize' AND item_id = ? \
                         AND node_id = ? AND units >= ?",
                    )
                    .bind(units)
                    .bind(prize)
                    .bind(node.as_ref())
                    .bind(units)
                    .execute(tx.conn())
                    .await?
                }
            }
            .rows_affected();
            if took != 1 {
                return Err(StoreError::Conflict(format!("prize {prize} cannot give {units} more units")));
            }
        }
        let at = writes.first().map(|w| w.at).unwrap_or_default();
        let wallets: Vec<WalletUpdate> = writes
            .iter()
            .zip(&committed)
            .map(|(w, c)| WalletUpdate {
                user_id: w.user_id,
                points_before: w.balance_before,
                points_after: c.balance_after,
                fence: w.fence,
                // The default campaign's counter is kept beside the balance; the others have
                // their own table.
                pity: (w.campaign_id == DEFAULT_CAMPAIGN_ID).then_some((w.pity_before, c.pity_count)),
            })
            .collect();
        update_wallets(&mut tx, &wallets, at).await?;
        for (w, c) in writes.iter().zip(&committed) {
            if w.campaign_id != DEFAULT_CAMPAIGN_ID {
                write_campaign_pity(&mut tx, w.user_id, w.campaign_id, w.pity_before, c.pity_count, w.at).await?;
            }
        }
        tx.commit().await?;
        Ok(committed)
    }

    /// Records delivery details for the customer's unused physical prize (unused → claimed).
    /// Answers `None` when the draw is not theirs, else the status it had (unchanged unless
    /// it was `unused` and physical: then it is claimed).
    pub async fn claim_prize(
        &self,
        user_id: i64,
        draw_id: i64,
        delivery_info: &str,
        now: i64,
    ) -> StoreResult<Option<(String, Option<String>, Option<i64>)>> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query("SELECT prize_type, status, expires_at FROM lottery_draws WHERE id = ? AND user_id = ?")
            .bind(draw_id)
            .bind(user_id)
            .fetch_optional(tx.conn())
            .await?;
        let Some(r) = row else { return Ok(None) };
        let kind: String = r.try_get("prize_type")?;
        let status: Option<String> = r.try_get("status")?;
        let expires: Option<i64> = r.try_get("expires_at")?;
        if kind == PrizeKind::Physical.as_str() && status.as_deref() == Some("unused") {
            sqlx::query(
                "UPDATE lottery_draws SET status = 'claimed', claimed_at = ?, delivery_info = ? \
                 WHERE id = ? AND status = 'unused'",
            )
            .bind(now)
            .bind(delivery_info)
            .bind(draw_id)
            .execute(tx.conn())
            .await?;
            tx.commit().await?;
        }
        Ok(Some((kind, status, expires)))
    }

    /// A customer's draws in a campaign, newest first (only won coupons and physical prizes
    /// when `inventory_only`).
    pub async fn draw_page(
        &self,
        user_id: i64,
        campaign_id: i64,
        inventory_only: bool,
        page: PageRequest,
    ) -> StoreResult<(Vec<DrawRow>, i64)> {
        let filter = if inventory_only { " AND redemption_code IS NOT NULL" } else { "" };
        let total: i64 = sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM lottery_draws WHERE user_id = ? AND campaign_id = ?{filter}"
        ))
        .bind(user_id)
        .bind(campaign_id)
        .fetch_one(self.pool())
        .await?;
        let rows = sqlx::query_as::<_, DrawRow>(&format!(
            "SELECT {DRAW_COLUMNS} FROM lottery_draws WHERE user_id = ? AND campaign_id = ?{filter} \
             ORDER BY id DESC LIMIT ? OFFSET ?"
        ))
        .bind(user_id)
        .bind(campaign_id)
        .bind(page.limit)
        .bind(page.offset())
        .fetch_all(self.pool())
        .await?;
        Ok((rows, total))
    }

    /// A customer's draw totals in a campaign.
    pub async fn draw_totals(&self, user_id: i64, campaign_id: i64) -> StoreResult<DrawTotals> {
        let mut totals = DrawTotals::default();
        let rows = sqlx::query(
            "SELECT prize_type, COUNT(*) AS n, CAST(COALESCE(SUM(points_cost), 0) AS SIGNED) AS spent, \
             CAST(COALESCE(SUM(CASE WHEN prize_type = 'points' THEN prize_value ELSE 0 END), 0) AS SIGNED) AS won \
             FROM lottery_draws WHERE user_id = ? AND campaign_id = ? GROUP BY prize_type",
        )
        .bind(user_id)
        .bind(campaign_id)
        .fetch_all(self.pool())
        .await?;
        for r in rows {
            let n: i64 = r.try_get("n")?;
            totals.draws += n;
            totals.points_spent += r.try_get::<i64, _>("spent")?;
            totals.points_won += r.try_get::<i64, _>("won")?;
            totals.by_type.push((r.try_get("prize_type")?, n));
        }
        Ok(totals)
    }

    /// How often each of these sectors has been drawn, across all customers.
    pub async fn draw_counts(&self, prize_ids: &[i64]) -> StoreResult<Vec<(i64, i64)>> {
        if prize_ids.is_empty() {
            return Ok(vec![]);
        }
        let marks = vec!["?"; prize_ids.len()].join(", ");
        let sql =
            format!("SELECT prize_id, COUNT(*) AS n FROM lottery_draws WHERE prize_id IN ({marks}) GROUP BY prize_id");
        let mut q = sqlx::query(&sql);
        for id in prize_ids {
            q = q.bind(*id);
        }
        q.fetch_all(self.pool()).await?.iter().map(|r| Ok((r.try_get("prize_id")?, r.try_get("n")?))).collect()
    }
}

/// Moves a customer's pity counter in a campaign other than the default one from `before` to
/// `after`, guarded like the wallet: a counter that moved underneath refuses the whole group.
/// The row appears with the customer's first draw there.
async fn write_campaign_pity(
    tx: &mut WriteTx,
    user_id: i64,
    campaign_id: i64,
    before: i64,
    after: i64,
    at: i64,
) -> StoreResult<()> {
    if before == after {
        return Ok(());
    }
    let moved = sqlx::query(
        "UPDATE campaign_pity SET pity_count = ?, updated_at = ? WHERE user_id = ? AND campaign_id = ? AND pity_count = ?",
    )
    .bind(after)
    .bind(at)
    .bind(user_id)
    .bind(campaign_id)
    .bind(before)
    .execute(tx.conn())
    .await?
    .rows_affected();
    if moved == 1 {
        return Ok(());
    }
    if before != 0 {
        return Err(StoreError::Conflict(format!(
            "the pity counter of user {user_id} in campaign {campaign_id} moved"
        )));
    }
    // A second first row for the same customer and campaign breaks the primary key.
    sqlx::query("INSERT INTO campaign_pity (user_id, campaign_id, pity_count, updated_at) VALUES (?, ?, ?, ?)")
        .bind(user_id)
        .bind(campaign_id)
        .bind(after)
        .bind(at)
        .execute(tx.conn())
        .await?;
    Ok(())
}

async fn insert_sectors(tx: &mut WriteTx, campaign_id: i64, sectors: &[Sector], now: i64) -> StoreResult<Vec<Sector>> {
    let mut saved = Vec::with_capacity(sectors.len());
    for s in sectors {
        let result = sqlx::query(
            "INSERT INTO wheel_prizes (name, prize_type, prize_value, angle, color, probability, is_activity, stock_total, stock_left, is_pity_prize, is_fallback, active, created_at, campaign_id, cash_value_cents) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?)",
        )
        .bind(s.name.clone())
        .bind(s.kind.as_str())
        .bind(s.value)
        .bind(s.angle)
        .bind(s.color.clone())
        .bind(s.probability)
        .bind(s.is_activity as i64)
        .bind(s.stock_left)
        .bind(s.stock_left)
        .bind(s.is_pity_prize as i64)
        .bind(s.is_fallback as i64)
        .bind(now)
        .bind(campaign_id)
        .bind(s.cash_value_cents)
        .execute(tx.conn())
        .await?;
        let id = inserted_id(tx, result).await?;
        saved.push(Sector { id, ..s.clone() });
    }
    Ok(saved)
}

/// A campaign's rules. (Not checked by rows affected: MySQL counts an update that changes
/// nothing as none.)
async fn write_settings(tx: &mut WriteTx, campaign_id: i64, s: &WheelSettings, now: i64) -> StoreResult<()> {
    sqlx::query(
        "UPDATE lottery_campaigns SET name = ?, description = ?, banner_image = ?, min_level = ?, cost_points = ?, \
         pity_enabled = ?, pity_limit = ?, daily_limit = ?, starts_at = ?, ends_at = ?, updated_at = ? WHERE id = ?",
    )
    .bind(s.campaign_name.clone())
    .bind(s.description.clone())
    .bind(s.banner_image.clone())
    .bind(s.min_level)
    .bind(s.cost_points)
    .bind(s.pity_enabled as i64)
    .bind(s.pity_limit)
    .bind(s.daily_limit)
    .bind(s.starts_at)
    .bind(s.ends_at)
    .bind(now)
    .bind(campaign_id)
    .execute(tx.conn())
    .await?;
    Ok(())
}
