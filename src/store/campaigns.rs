//! Campaigns and fair draws in the store: the campaigns table, server seeds per period, a
//! customer's counters in a campaign, and what `verify` needs to rebuild a draw.

use sqlx::Row;

use super::audit::{self, AuditEntry};
use super::reconcile::Violation;
use super::{flag, inserted_id, Store, StoreResult};
use crate::domain::fairness::{commitment_matches, SeedPeriod};
use crate::domain::wheel::{PrizeKind, Sector};
use crate::domain::PageRequest;

/// A server seed as stored. `seed` is secret until the period is over; callers check.
#[derive(Debug, Clone)]
pub struct SeedRow {
    pub id: i64,
    pub campaign_id: i64,
    pub period: SeedPeriod,
    pub seed: String,
    pub commitment: String,
}

fn seed_row(r: &sqlx::any::AnyRow) -> Result<SeedRow, sqlx::Error> {
    Ok(SeedRow {
        id: r.try_get("id")?,
        campaign_id: r.try_get("campaign_id")?,
        period: SeedPeriod { starts_at: r.try_get("starts_at")?, ends_at: r.try_get("ends_at")? },
        seed: r.try_get("seed")?,
        commitment: r.try_get("commitment")?,
    })
}

const SEED_COLUMNS: &str = "id, campaign_id, starts_at, ends_at, seed, commitment";

/// Everything needed to recompute one draw.
#[derive(Debug, Clone)]
pub struct DrawProof {
    pub draw_id: i64,
    pub user_id: i64,
    pub campaign_id: i64,
    pub nonce: Option<i64>,
    pub client_seed: Option<String>,
    pub random_value: Option<f64>,
    pub prize_id: i64,
    pub is_pity: bool,
    pub sold_out_mask: i64,
    pub seed: Option<SeedRow>,
    /// The wheel the draw was made on, by angle.
    pub sectors: Vec<Sector>,
}

/// What a campaign's statistics are made of.
#[derive(Debug, Clone, Default)]
pub struct CampaignTotals {
    pub draws: i64,
    pub unique_users: i64,
    pub points_spent: i64,
    pub points_awarded: i64,
    /// (prize id, draws won on it).
    pub wins: Vec<(i64, i64)>,
    /// (business day, draws, customers).
    pub days: Vec<(i64, i64, i64)>,
}

/// A campaign row as listed (API.md "Campaigns").
#[derive(Debug, Clone)]
pub struct CampaignRow {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub status: String,
    pub starts_at: Option<i64>,
    pub ends_at: Option<i64>,
    pub cost_points: i64,
    pub daily_limit: i64,
    pub min_level: i64,
    pub pity_enabled: bool,
    pub pity_limit: i64,
    pub banner_image: String,
}

const CAMPAIGN_COLUMNS: &str = "id, name, description, status, starts_at, ends_at, cost_points, daily_limit, \
     min_level, pity_enabled, pity_limit, banner_image";

fn campaign_row(r: &sqlx::any::AnyRow) -> Result<CampaignRow, sqlx::Error> {
    Ok(CampaignRow {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        description: r.try_get("description")?,
        status: r.try_get("status")?,
        starts_at: r.try_get("starts_at")?,
        ends_at: r.try_get("ends_at")?,
        cost_points: r.try_get("cost_points")?,
        daily_limit: r.try_get("daily_limit")?,
        min_level: r.try_get("min_level")?,
        pity_enabled: flag(r, "pity_enabled")?,
        pity_limit: r.try_get("pity_limit")?,
        banner_image: r.try_get("banner_image")?,
    })
}

impl Store {
    /// Campaigns and fair draws: every seed matches its commitment; every fair draw names a
    /// seed and a sector of its own campaign and a number in [0, 1]; no draw or pity counter
    /// belongs to an unknown campaign or a draft; a customer's nonces in a campaign run 1, 2,
    /// 3, … without a gap or a repeat.
    pub(super) async fn reconcile_campaigns(&self) -> StoreResult<Vec<Violation>> {
        let mut out = Vec::new();
        let seeds = sqlx::query("SELECT id, seed, commitment FROM lottery_seeds").fetch_all(self.pool()).await?;
        for r in seeds {
            let id: i64 = r.try_get("id")?;
            let seed: String = r.try_get("seed")?;
            let commitment: String = r.try_get("commitment")?;
            if !commitment_matches(&seed, &commitment) {
                out.push(Violation {
                    subject: format!("seed {id}"),
                    problem: "commitment is not SHA-256 of the seed".into(),
                });
            }
        }
        let bad = sqlx::query(
            "SELECT d.id FROM lottery_draws d \
             LEFT JOIN lottery_seeds s ON s.id = d.seed_id \
             LEFT JOIN wheel_prizes p ON p.id = d.prize_id \
             WHERE d.nonce IS NOT NULL AND (s.id IS NULL OR s.campaign_id <> d.campaign_id \
               OR p.id IS NULL OR p.campaign_id <> d.campaign_id \
               OR d.random_value IS NULL OR d.random_value < 0 OR d.random_value > 1) \
             ORDER BY d.id LIMIT 100",
        )
        .fetch_all(self.pool())
        .await?;
        for r in bad {
            let id: i64 = r.try_get("id")?;
            out.push(Violation {
                subject: format!("draw {id}"),
                problem: "its seed, sector or random value does not belong to its campaign".into(),
            });
        }
        let gaps = sqlx::query(
            "SELECT user_id, campaign_id, COUNT(*) AS n, MIN(nonce) AS lo, MAX(nonce) AS hi FROM lottery_draws \
             WHERE nonce IS NOT NULL GROUP BY user_id, campaign_id HAVING MIN(nonce) <> 1 OR MAX(nonce) <> COUNT(*)",
        )
        .fetch_all(self.pool())
        .await?;
        // A draft has never been drawn on, and every counter and draw names a campaign.
        let orphans = sqlx::query(
            "SELECT 'draw' AS kind, d.campaign_id AS campaign_id, COUNT(*) AS n FROM lottery_draws d \
             LEFT JOIN lottery_campaigns c ON c.id = d.campaign_id \
             WHERE c.id IS NULL OR c.status = 'draft' GROUP BY d.campaign_id \
             UNION ALL SELECT 'pity counter' AS kind, p.campaign_id AS campaign_id, COUNT(*) AS n FROM campaign_pity p \
             LEFT JOIN lottery_campaigns c ON c.id = p.campaign_id WHERE c.id IS NULL GROUP BY p.campaign_id",
        )
        .fetch_all(self.pool())
        .await?;
        for r in orphans {
            let kind: String = r.try_get("kind")?;
            let campaign: i64 = r.try_get("campaign_id")?;
            let n: i64 = r.try_get("n")?;
            out.push(Violation {
                subject: format!("campaign {campaign}"),
                problem: format!("{n} {kind} row(s) of a campaign that is unknown or still a draft"),
            });
        }
        for r in gaps {
            let user: i64 = r.try_get("user_id")?;
            let campaign: i64 = r.try_get("campaign_id")?;
            let (n, hi): (i64, i64) = (r.try_get("n")?, r.try_get("hi")?);
            out.push(Violation {
                subject: format!("user {user} in campaign {campaign}"),
                problem: format!("{n} fair draws but nonces up to {hi}"),
            });
        }
        Ok(out)
    }

    /// A customer's draws in a campaign since `since` (the daily cap) and their next nonce.
    /// One query, when the wallet starts: the draw path itself reads nothing.
    pub async fn draw_counters(&self, user_id: i64, campaign_id: i64, since: i64) -> StoreResult<(i64, i64)> {
        let r = sqlx::query(
            "SELECT CAST(COALESCE(SUM(CASE WHEN created_at >= ? THEN 1 ELSE 0 END), 0) AS SIGNED) AS today, \
             CAST(COALESCE(MAX(nonce), 0) AS SIGNED) AS last_nonce \
             FROM lottery_draws WHERE user_id = ? AND campaign_id = ?",
        )
        .bind(since)
        .bind(user_id)
        .bind(campaign_id)
        .fetch_one(self.pool())
        .await?;
        Ok((r.try_get("today")?, r.try_get::<i64, _>("last_nonce")? + 1))
    }

    /// A customer's pity counter in a campaign: the default campaign's is kept beside the
    /// balance, the others' in their own table (no row: 0).
    pub async fn campaign_pity(&self, user_id: i64, campaign_id: i64) -> StoreResult<i64> {
        let sql = if campaign_id == crate::domain::draw::DEFAULT_CAMPAIGN_ID {
            "SELECT pity_count FROM users WHERE id = ? AND ? > 0"
        } else {
            "SELECT pity_count FROM campaign_pity WHERE user_id = ? AND campaign_id = ?"
        };
        let count: Option<i64> =
            sqlx::query_scalar(sql).bind(user_id).bind(campaign_id).fetch_optional(self.pool()).await?;
        Ok(count.unwrap_or(0))
    }

    /// The campaign's seed whose period holds `now`, if one was started.
    pub async fn current_seed(&self, campaign_id: i64, now: i64) -> StoreResult<Option<SeedRow>> {
        let sql = format!(
            "SELECT {SEED_COLUMNS} FROM lottery_seeds WHERE campaign_id = ? AND starts_at <= ? AND ends_at > ? \
             ORDER BY starts_at DESC LIMIT 1"
        );
        let row = sqlx::query(&sql).bind(campaign_id).bind(now).bind(now).fetch_optional(self.pool()).await?;
        Ok(row.as_ref().map(seed_row).transpose()?)
    }

    /// The campaign's latest seed (current or revealed), if it ever had one.
    pub async fn latest_seed(&self, campaign_id: i64) -> StoreResult<Option<SeedRow>> {
        let sql =
            format!("SELECT {SEED_COLUMNS} FROM lottery_seeds WHERE campaign_id = ? ORDER BY starts_at DESC LIMIT 1");
        let row = sqlx::query(&sql).bind(campaign_id).fetch_optional(self.pool()).await?;
        Ok(row.as_ref().map(seed_row).transpose()?)
    }

    /// Records a new seed before any draw uses it; answers its id.
    pub async fn insert_seed(
        &self,
        campaign_id: i64,
        period: SeedPeriod,
        seed_hex: &str,
        commitment: &str,
    ) -> StoreResult<i64> {
        let mut tx = self.begin_write().await?;
        let result = sqlx::query(
            "INSERT INTO lottery_seeds (campaign_id, starts_at, ends_at, seed, commitment, created_at) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(campaign_id)
        .bind(period.starts_at)
        .bind(period.ends_at)
        .bind(seed_hex)
        .bind(commitment)
        .bind(period.starts_at)
        .execute(tx.conn())
        .await?;
        let id = inserted_id(&mut tx, result).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Ends a seed's period early (the rules changed, or the campaign ended): it is revealed.
    pub async fn end_seed(&self, seed_id: i64, now: i64) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE lottery_seeds SET ends_at = ? WHERE id = ? AND ends_at > ?")
            .bind(now)
            .bind(seed_id)
            .bind(now)
            .execute(tx.conn())
            .await?;
        tx.commit().await
    }

    /// Past periods of a campaign (revealed at `now`), newest first.
    pub async fn revealed_seeds(
        &self,
        campaign_id: i64,
        now: i64,
        page: PageRequest,
    ) -> StoreResult<(Vec<SeedRow>, i64)> {
        let total: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM lottery_seeds WHERE campaign_id = ? AND ends_at <= ?")
                .bind(campaign_id)
                .bind(now)
                .fetch_one(self.pool())
                .await?;
        let sql = format!(
            "SELECT {SEED_COLUMNS} FROM lottery_seeds WHERE campaign_id = ? AND ends_at <= ? \
             ORDER BY starts_at DESC LIMIT ? OFFSET ?"
        );
        let rows = sqlx::query(&sql)
            .bind(campaign_id)
            .bind(now)
            .bind(page.limit)
            .bind(page.offset())
            .fetch_all(self.pool())
            .await?;
        Ok((rows.iter().map(seed_row).collect::<Result<_, _>>()?, total))
    }

    /// The draw, its seed and the wheel it was made on. The eight sectors of one wheel were
    /// written in one transaction with one `created_at`, which is how they are found again
    /// after the wheel has been replaced.
    pub async fn draw_proof(&self, draw_id: i64) -> StoreResult<Option<DrawProof>> {
        let row = sqlx::query(
            "SELECT id, user_id, campaign_id, nonce, client_seed, random_value, prize_id, is_pity, sold_out_mask, seed_id \
             FROM lottery_draws WHERE id = ?",
        )
        .bind(draw_id)
        .fetch_optional(self.pool())
        .await?;
        let Some(r) = row else { return Ok(None) };
        let prize_id: i64 = r.try_get("prize_id")?;
        let campaign_id: i64 = r.try_get("campaign_id")?;
        let seed_id: Option<i64> = r.try_get("seed_id")?;
        let seed = match seed_id {
            Some(id) => {
                let sql = format!("SELECT {SEED_COLUMNS} FROM lottery_seeds WHERE id = ?");
                sqlx::query(&sql).bind(id).fetch_optional(self.pool()).await?.as_ref().map(seed_row).transpose()?
            }
            None => None,
        };
        let sectors = sqlx::query(
            "SELECT p.id, p.name, p.prize_type, p.prize_value, p.angle, p.color, p.probability, p.is_activity, \
             p.stock_left, p.is_pity_prize, p.is_fallback FROM wheel_prizes p \
             JOIN wheel_prizes won ON won.id = ? AND p.campaign_id = won.campaign_id AND p.created_at = won.created_at \
             ORDER BY p.angle",
        )
        .bind(prize_id)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|r| {
            let kind: String = r.try_get("prize_type")?;
            Ok(Sector {
                id: r.try_get("id")?,
                name: r.try_get("name")?,
                kind: PrizeKind::parse(&kind).unwrap_or(PrizeKind::Empty),
                value: r.try_get("prize_value")?,
                angle: r.try_get("angle")?,
                color: r.try_get("color")?,
                probability: r.try_get("probability")?,
                is_activity: flag(r, "is_activity")?,
                stock_left: None,
                is_pity_prize: flag(r, "is_pity_prize")?,
                is_fallback: flag(r, "is_fallback")?,
                cash_value_cents: 0,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
        Ok(Some(DrawProof {
            draw_id,
            user_id: r.try_get("user_id")?,
            campaign_id,
            nonce: r.try_get("nonce")?,
            client_seed: r.try_get("client_seed")?,
            random_value: r.try_get("random_value")?,
            prize_id,
            is_pity: flag(&r, "is_pity")?,
            sold_out_mask: r.try_get("sold_out_mask")?,
            seed,
            sectors,
        }))
    }

    /// Campaigns with one of `statuses` (all when empty), by id.
    pub async fn campaigns(&self, statuses: &[&str]) -> StoreResult<Vec<CampaignRow>> {
        let filter = if statuses.is_empty() {
            String::new()
        } else {
            format!(" WHERE status IN ({})", vec!["?"; statuses.len()].join(", "))
        };
        let sql = format!("SELECT {CAMPAIGN_COLUMNS} FROM lottery_campaigns{filter} ORDER BY id");
        let mut q = sqlx::query(&sql);
        for s in statuses {
            q = q.bind(*s);
        }
        Ok(q.fetch_all(self.pool()).await?.iter().map(campaign_row).collect::<Result<_, _>>()?)
    }

    /// Moves a campaign from status `from` to `to`, with its audit entry, in one transaction.
    /// False when the campaign is unknown or no longer in `from` (someone moved it first).
    pub async fn set_campaign_status(
        &self,
        id: i64,
        from: &str,
        to: &str,
        audit_entry: &AuditEntry,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let n = sqlx::query("UPDATE lottery_campaigns SET status = ?, updated_at = ? WHERE id = ? AND status = ?")
            .bind(to)
            .bind(audit_entry.at)
            .bind(id)
            .bind(from)
            .execute(tx.conn())
            .await?
            .rows_affected();
        if n != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        audit::insert(&mut tx, audit_entry).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// A new campaign, as a draft; answers its id.
    pub async fn create_campaign(&self, c: &CampaignRow, audit_entry: &AuditEntry) -> StoreResult<i64> {
        let mut tx = self.begin_write().await?;
        let result = sqlx::query(
            "INSERT INTO lottery_campaigns (name, description, status, starts_at, ends_at, cost_points, daily_limit, \
             min_level, pity_enabled, pity_limit, banner_image, created_at, updated_at) \
             VALUES (?, ?, 'draft', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(c.name.clone())
        .bind(c.description.clone())
        .bind(c.starts_at)
        .bind(c.ends_at)
        .bind(c.cost_points)
        .bind(c.daily_limit)
        .bind(c.min_level)
        .bind(c.pity_enabled as i64)
        .bind(c.pity_limit)
        .bind(c.banner_image.clone())
        .bind(audit_entry.at)
        .bind(audit_entry.at)
        .execute(tx.conn())
        .await?;
        let id = inserted_id(&mut tx, result).await?;
        let mut entry = audit_entry.clone();
        entry.target_id = id.to_string();
        audit::insert(&mut tx, &entry).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// A campaign's totals for its statistics: draws, customers, points spent and awarded,
    /// wins per sector, and draws and customers per business day (days since 1970-01-01 in a
    /// time zone `offset_ms` ahead of UTC).
    pub async fn campaign_totals(&self, campaign_id: i64, offset_ms: i64) -> StoreResult<CampaignTotals> {
        let r = sqlx::query(
            "SELECT COUNT(*) AS draws, COUNT(DISTINCT user_id) AS users, \
             CAST(COALESCE(SUM(points_cost), 0) AS SIGNED) AS spent, \
             CAST(COALESCE(SUM(CASE WHEN prize_type = 'points' THEN prize_value ELSE 0 END), 0) AS SIGNED) AS awarded \
             FROM lottery_draws WHERE campaign_id = ?",
        )
        .bind(campaign_id)
        .fetch_one(self.pool())
        .await?;
        let wins =
            sqlx::query("SELECT prize_id, COUNT(*) AS n FROM lottery_draws WHERE campaign_id = ? GROUP BY prize_id")
                .bind(campaign_id)
                .fetch_all(self.pool())
                .await?
                .iter()
                .map(|r| Ok((r.try_get("prize_id")?, r.try_get("n")?)))
                .collect::<Result<Vec<(i64, i64)>, sqlx::Error>>()?;
        // `x / day` after the offset is the same integer division in both dialects.
        let days = sqlx::query(
            "SELECT (created_at + ?) - ((created_at + ?) % 86400000) AS day_start, \
             COUNT(*) AS draws, COUNT(DISTINCT user_id) AS users \
             FROM lottery_draws WHERE campaign_id = ? GROUP BY day_start ORDER BY day_start",
        )
        .bind(offset_ms)
        .bind(offset_ms)
        .bind(campaign_id)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|r| {
            Ok((r.try_get::<i64, _>("day_start")?.div_euclid(86_400_000), r.try_get("draws")?, r.try_get("users")?))
        })
        .collect::<Result<Vec<(i64, i64, i64)>, sqlx::Error>>()?;
        Ok(CampaignTotals {
            draws: r.try_get("draws")?,
            unique_users: r.try_get("users")?,
            points_spent: r.try_get("spent")?,
            points_awarded: r.try_get("awarded")?,
            wins,
            days,
        })
    }

    pub async fn campaign(&self, id: i64) -> StoreResult<Option<CampaignRow>> {
        let sql = format!("SELECT {CAMPAIGN_COLUMNS} FROM lottery_campaigns WHERE id = ?");
        Ok(sqlx::query(&sql).bind(id).fetch_optional(self.pool()).await?.as_ref().map(campaign_row).transpose()?)
    }
}
