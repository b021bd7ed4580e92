//! A draw batch, orchestrated by the customer's wallet: the per-minute window, a spin on the
//! PrizeWheel (which checks the campaign, the balance and the daily cap, and reserves limited
//! prizes), one transaction for the whole batch through group commit, then the reservation is
//! settled and the results are published.

use std::time::Instant;

use super::{redemption_code, Caller, DrawOutcome, WalletState};
use crate::actors::failure::Reply;
use crate::actors::prize_wheel::SpinRequest;
use crate::actors::reservations::Settled;
use crate::domain::draw::DEFAULT_CAMPAIGN_ID;
use crate::domain::points::LedgerEntry;
use crate::domain::time::now_ms;
use crate::domain::wheel::{is_notable_win, PrizeKind};
use crate::events::Committed;
use crate::notify::event::{LotteryResult, WheelWin};
use crate::notify::ServerEvent;
use crate::store::wheel::{CommittedBatch, DrawBatchWrite, DrawWrite};

/// A draw request: `count` spins paid as one batch.
#[derive(Debug, Clone)]
pub struct DrawRequest {
    pub count: usize,
    pub idempotency_key: Option<String>,
    /// The customer's own client seed (validated); `None` is the default, their user id.
    pub client_seed: Option<String>,
}

impl WalletState {
    pub(super) async fn draw(&mut self, req: DrawRequest, caller: Caller<'_>) -> Reply<DrawOutcome> {
        let key = req.idempotency_key.as_deref();
        self.draw_window.admit(Instant::now())?;
        let spun = self
            .deps
            .wheel
            .spin(SpinRequest {
                user_id: self.user_id,
                first_nonce: self.next_nonce,
                client_seed: req.client_seed.clone(),
                count: req.count,
                pity_count: self.pity_count,
                // Frozen points cannot be spent: the wheel sees (and refuses with) the available ones.
                balance: self.available(),
                drawn_today: self.drawn_today.today(now_ms()),
                default_daily_limit: self.deps.default_daily_limit,
            })
            .await?;
        if let Err(gone) = caller.still_waiting(self.user_id) {
            self.deps.wheel.settle(spun.reservation, Settled::Released);
            return Err(gone);
        }
        let write = DrawBatchWrite {
            user_id: self.user_id,
            batch_id: crate::auth::tokens::new_id(),
            at: now_ms(),
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
                })
                .collect(),
            pity_before: self.pity_count,
            pity_after: spun.spins.last().map(|(_, s, _)| s.pity_after).unwrap_or(self.pity_count),
            pity_limit: spun.pity_limit,
            idempotency_key: req.idempotency_key.clone(),
            campaign_id: DEFAULT_CAMPAIGN_ID,
            seed_id: Some(spun.seed_id),
            client_seed: req.client_seed,
        };
        let write_at = write.at;
        match self.deps.draws.commit(write).await {
            Ok(batch) => {
                self.deps.wheel.settle(spun.reservation, Settled::Committed);
                self.pity_count = batch.pity_count;
                self.next_nonce += batch.draws.len() as i64;
                self.drawn_today.add(batch.draws.len() as i64);
                self.record_commit(batch.balance_after, req.idempotency_key, batch.clone());
                self.publish_draw(&batch);
                let (user_id, at) = (self.user_id, write_at);
                self.deps.events.publish(Committed::Drew { user_id, count: batch.draws.len() as i64, at });
                self.deps.events.publish(Committed::Spent { user_id, points: batch.points_cost, at });
                self.earned(batch.points_won, at).await;
                Ok(DrawOutcome { batch, replayed: false })
            }
            Err(e) => {
                self.deps.wheel.settle(spun.reservation, Settled::after_failed_commit(&e));
                self.recover(e, key).await
            }
        }
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
