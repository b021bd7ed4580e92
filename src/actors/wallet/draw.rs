//! A draw batch, orchestrated by the customer's wallet: the per-minute window, a spin on the
//! PrizeWheel (which checks the campaign, the balance and the daily cap, and reserves limited
//! prizes), one transaction for the whole batch through group commit, then the reservation is
//! settled and the results are published.

use std::time::Instant;

use super::{redemption_code, Caller, CampaignCounters, DrawOutcome, WalletState};
use crate::actors::failure::{Failure, Reply};
use crate::actors::prize_wheel::SpinRequest;
use crate::actors::reservations::Settled;
use crate::domain::draw::DEFAULT_CAMPAIGN_ID;
use crate::domain::points::LedgerEntry;
use crate::domain::prize::expires_at;
use crate::domain::time::now_ms;
use crate::domain::wheel::{is_notable_win, PrizeKind};
use crate::events::Committed;
use crate::notify::event::{LotteryResult, WheelWin};
use crate::notify::ServerEvent;
use crate::store::wheel::{CommittedBatch, DrawBatchWrite, DrawWrite};

/// A draw request: `count` spins paid as one batch, in one campaign.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct DrawRequest {
    pub campaign_id: i64,
    pub count: usize,
    pub idempotency_key: Option<String>,
    /// The customer's own client seed (validated); `None` is the default, their user id.
    pub client_seed: Option<String>,
}

impl WalletState {
    pub(super) async fn draw(&mut self, req: DrawRequest, caller: Caller<'_>) -> Reply<DrawOutcome> {
        let key = req.idempotency_key.as_deref();
        let campaign_id = req.campaign_id;
        // Unknown, draft, ended: refused before the per-minute window counts the request.
        let wheel = self.deps.wheels.for_draw(campaign_id)?;
        self.draw_window.admit(Instant::now())?;
        let (user_id, balance, level) = (self.user_id, self.available(), self.level);
        let default_daily_limit = self.deps.default_daily_limit;
        let tz = self.deps.loyalty.tz.clone();
        let counters = self.counters(campaign_id).await?;
        let pity_before = counters.pity_count;
        let request = SpinRequest {
            user_id,
            level,
            first_nonce: counters.next_nonce,
            client_seed: req.client_seed.clone(),
            count: req.count,
            pity_count: pity_before,
            // Frozen points cannot be spent: the wheel sees (and refuses with) the available ones.
            balance,
            drawn_today: counters.drawn_today.today(&tz, now_ms()),
            default_daily_limit,
        };
        let spun = wheel.spin(request).await?;
        if let Err(gone) = caller.still_waiting(self.user_id) {
            wheel.settle(spun.reservation, Settled::Released);
            return Err(gone);
        }
        let at = now_ms();
        let write = DrawBatchWrite {
            fence: self.fence,
            user_id: self.user_id,
            batch_id: crate::auth::tokens::new_id(),
            at,
            balance_before: self.balance,
            cost_per_draw: spun.cost_per_draw,
            draws: spun
                .spins
                .iter()
                .map(|(sector, s, fair)| DrawWrite {
                    prize: sector.clone(),
                    is_pity: s.is_pity,
                    is_near_miss: s.is_near_miss,
                    redemption_code: sector.kind.is_inventory().then(redemption_code),
                    fair: Some(*fair),
                    expires_at: expires_at(sector.kind, at, self.deps.coupon_valid_days),
                })
                .collect(),
            pity_before,
            pity_after: spun.spins.last().map(|(_, s, _)| s.pity_after).unwrap_or(pity_before),
            pity_limit: spun.pity_limit,
            idempotency_key: req.idempotency_key.clone(),
            campaign_id,
            seed_id: Some(spun.seed_id),
            client_seed: req.client_seed,
            stock_node: self.deps.cluster.as_ref().map(|c| c.node_arc()),
        };
        let write_at = write.at;
        match self.deps.draws.commit(write).await {
            Ok(batch) => {
                wheel.settle(spun.reservation, Settled::Committed);
                if let Ok(counters) = self.counters(campaign_id).await {
                    counters.pity_count = batch.pity_count;
                    counters.next_nonce += batch.draws.len() as i64;
                    counters.drawn_today.add(batch.draws.len() as i64);
                }
                self.record_commit(batch.balance_after, req.idempotency_key, batch.clone());
                self.publish_draw(&batch);
                let (user_id, at) = (self.user_id, write_at);
                self.deps.events.publish(Committed::Drew { user_id, count: batch.draws.len() as i64, at });
                self.deps.events.publish(Committed::Spent { user_id, points: batch.points_cost, at });
                self.earned(batch.points_won, at).await;
                Ok(DrawOutcome { batch, replayed: false })
            }
            Err(e) => {
                wheel.settle(spun.reservation, Settled::after_failed_commit(&e));
                self.recover(e, key).await
            }
        }
    }

    /// The customer's counters in the campaign, read from the store at their first draw there.
    async fn counters(&mut self, campaign_id: i64) -> Reply<&mut CampaignCounters> {
        if campaign_id == DEFAULT_CAMPAIGN_ID {
            return Ok(&mut self.default_campaign);
        }
        if !self.campaigns.contains_key(&campaign_id) {
            let loaded =
                CampaignCounters::load(&self.deps.store, &self.deps.loyalty.tz, self.user_id, campaign_id).await?;
            self.campaigns.insert(campaign_id, loaded);
        }
        self.campaigns.get_mut(&campaign_id).ok_or_else(|| Failure::fault("campaign counters vanished"))
    }

    /// After commit: the customer's own updates, and the ticker for everyone.
    fn publish_draw(&self, batch: &CommittedBatch) {
        let debit = LedgerEntry::Draws { count: batch.draws.len() as i64 };
        let net = batch.points_won - batch.points_cost;
        self.tell_balance(net, debit.source(), debit.description(), batch.batch_id.clone());
        let hub = &self.deps.hub;
        for d in &batch.draws {
            // The store wrote `prize_type` from a PrizeKind, so it reads back.
            let Some(kind) = PrizeKind::parse(&d.prize_type) else {
                tracing::error!(draw_id = d.draw_id, prize_type = %d.prize_type, "a committed draw has an unknown prize type");
                continue;
            };
            hub.to_user(
                self.user_id,
                ServerEvent::LotteryResult(LotteryResult {
                    draw_id: d.draw_id,
                    batch_id: batch.batch_id.clone(),
                    prize_id: d.prize_id,
                    prize_name: d.prize_name.clone(),
                    prize_type: kind,
                    prize_value: d.prize_value,
                    is_pity: d.is_pity,
                    remaining_points: batch.balance_after,
                }),
            );
            if is_notable_win(kind, d.prize_value, d.is_activity) {
                // A ticker: everyone sees the latest notable win at each flush, not every win.
                hub.broadcast_latest(ServerEvent::WheelWin(WheelWin {
                    masked_user: self.display_name.clone(),
                    prize_name: d.prize_name.clone(),
                    prize_type: kind,
                }));
            }
        }
    }
}
