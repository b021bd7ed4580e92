//! `Wheels`: the running PrizeWheel of every campaign that can be drawn on (API.md
//! "Campaigns"), one supervised actor each, so that campaigns never share stock, seeds or a
//! queue. The default campaign's wheel always runs (today's clients draw there without naming
//! a campaign). Another campaign's wheel starts when the campaign becomes active (or at boot,
//! when it is active or paused) and stops when the campaign ends or its window has closed; a
//! campaign without a running wheel (a draft, an ended one) is read from the store.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use super::failure::Reply;
use super::prize_wheel::{PrizeWheelArgs, WheelHandle, WheelView};
use crate::domain::campaign::CampaignStatus;
use crate::domain::draw::DEFAULT_CAMPAIGN_ID;
use crate::domain::time::now_ms;
use crate::domain::DomainError;
use crate::store::campaigns::CampaignRow;

#[derive(Clone)]
pub struct Wheels {
    inner: Arc<Inner>,
}

struct Inner {
    /// The default campaign's wheel, reached without a lock on the hot path.
    default: WheelHandle,
    /// The other campaigns' running wheels.
    running: RwLock<HashMap<i64, WheelHandle>>,
    /// Starts and stops one at a time, so a campaign never gets two wheels.
    changing: tokio::sync::Mutex<()>,
    /// What every wheel starts from (its `campaign_id` is set per campaign).
    template: PrizeWheelArgs,
    call_timeout: Duration,
}

/// Whether a campaign should have a running wheel at `now`: it can be drawn on, now or later.
fn should_run(row: &CampaignRow, now: i64) -> bool {
    let live = matches!(CampaignStatus::parse(&row.status), Some(CampaignStatus::Active | CampaignStatus::Paused));
    live && row.ends_at.is_none_or(|end| now < end)
}

impl Wheels {
    /// Starts the default campaign's wheel and the wheel of every other campaign that is active
    /// or paused and not past its window.
    pub async fn start(template: PrizeWheelArgs, call_timeout: Duration) -> anyhow::Result<Wheels> {
        let default =
            WheelHandle::start(PrizeWheelArgs { campaign_id: DEFAULT_CAMPAIGN_ID, ..template.clone() }, call_timeout)
                .await?;
        let wheels = Wheels {
            inner: Arc::new(Inner {
                default,
                running: RwLock::new(HashMap::new()),
                changing: tokio::sync::Mutex::new(()),
                template,
                call_timeout,
            }),
        };
        let now = now_ms();
        for row in wheels.inner.template.store.campaigns(&["active", "paused"]).await? {
            if row.id != DEFAULT_CAMPAIGN_ID && should_run(&row, now) {
                wheels.ensure_running(row.id).await?;
            }
        }
        Ok(wheels)
    }

    /// The default campaign's wheel.
    pub fn default_wheel(&self) -> &WheelHandle {
        &self.inner.default
    }

    /// The campaign's running wheel, if it has one.
    pub fn running(&self, campaign_id: i64) -> Option<WheelHandle> {
        if campaign_id == DEFAULT_CAMPAIGN_ID {
            return Some(self.inner.default.clone());
        }
        self.inner.running.read().unwrap_or_else(|p| p.into_inner()).get(&campaign_id).cloned()
    }

    /// The wheel to draw on: a campaign without a running wheel (unknown, a draft, ended, past
    /// its window) cannot be drawn on (3004).
    pub fn for_draw(&self, campaign_id: i64) -> Reply<WheelHandle> {
        self.running(campaign_id).ok_or_else(|| DomainError::WheelClosed.into())
    }

    /// Starts or stops the campaign's wheel to match its row (after a status change or an
    /// edit of its window).
    pub async fn follow(&self, row: &CampaignRow) -> anyhow::Result<()> {
        if row.id == DEFAULT_CAMPAIGN_ID {
            return Ok(());
        }
        if should_run(row, now_ms()) {
            self.ensure_running(row.id).await?;
        } else {
            self.stop_one(row.id).await;
        }
        Ok(())
    }

    async fn ensure_running(&self, campaign_id: i64) -> anyhow::Result<WheelHandle> {
        let _one_at_a_time = self.inner.changing.lock().await;
        if let Some(running) = self.running(campaign_id) {
            return Ok(running);
        }
        let args = PrizeWheelArgs { campaign_id, ..self.inner.template.clone() };
        let wheel = WheelHandle::start(args, self.inner.call_timeout).await?;
        self.inner.running.write().unwrap_or_else(|p| p.into_inner()).insert(campaign_id, wheel.clone());
        tracing::info!(campaign_id, "campaign wheel started");
        Ok(wheel)
    }

    async fn stop_one(&self, campaign_id: i64) {
        let _one_at_a_time = self.inner.changing.lock().await;
        let stopped = self.inner.running.write().unwrap_or_else(|p| p.into_inner()).remove(&campaign_id);
        if let Some(wheel) = stopped {
            wheel.stop();
            tracing::info!(campaign_id, "campaign wheel stopped");
        }
    }

    /// Cluster mode: another node changed the campaign. Its wheel here starts, stops or reads
    /// it again, as its row now says.
    pub async fn changed_elsewhere(&self, campaign_id: i64) {
        if campaign_id != DEFAULT_CAMPAIGN_ID {
            match self.inner.template.store.campaign(campaign_id).await {
                Ok(Some(row)) => {
                    if let Err(e) = self.follow(&row).await {
                        tracing::warn!(error = %e, campaign_id, "could not follow a campaign changed on another node");
                    }
                }
                Ok(None) => return,
                Err(e) => {
                    tracing::warn!(error = %e, campaign_id, "could not read a campaign changed on another node");
                    return;
                }
            }
        }
        if let Some(wheel) = self.running(campaign_id) {
            wheel.reload();
        }
    }

    /// Every running wheel reads its campaign again (cluster mode: this node's lease lapsed, so
    /// its stock blocks may have been returned).
    pub fn reload_all(&self) {
        self.inner.default.reload();
        for wheel in self.inner.running.read().unwrap_or_else(|p| p.into_inner()).values() {
            wheel.reload();
        }
    }

    /// The campaign's wheel as it is now: from its actor when it runs, else from the store.
    /// `None` when there is no such campaign.
    pub async fn view(&self, campaign_id: i64) -> Reply<Option<WheelView>> {
        if let Some(wheel) = self.running(campaign_id) {
            let mut view = wheel.view().await?;
            if self.inner.template.stock_node.is_some() {
                // Cluster mode: the wheel's memory holds this node's stock blocks; what is left
                // in all (the pool and every node's blocks) is the store's.
                if let Some((stored, _)) = self.inner.template.store.campaign_wheel(campaign_id).await? {
                    for s in view.sectors.iter_mut().filter(|s| s.stock_left.is_some()) {
                        if let Some(left) = stored.iter().find(|t| t.id == s.id).and_then(|t| t.stock_left) {
                            s.stock_left = Some(left);
                        }
                    }
                }
            }
            return Ok(Some(view));
        }
        let store = &self.inner.template.store;
        let Some(row) = store.campaign(campaign_id).await? else { return Ok(None) };
        let Some((sectors, settings)) = store.campaign_wheel(campaign_id).await? else { return Ok(None) };
        let status = CampaignStatus::parse(&row.status).unwrap_or(CampaignStatus::Ended);
        Ok(Some(WheelView { campaign_id, status, sectors, settings }))
    }

    /// Periodic: stops the wheels of campaigns whose window has closed (their last seed was
    /// revealed when its period ended with the window).
    pub async fn sweep(&self) {
        let ids: Vec<i64> = self.inner.running.read().unwrap_or_else(|p| p.into_inner()).keys().copied().collect();
        let now = now_ms();
        for id in ids {
            match self.inner.template.store.campaign(id).await {
                Ok(Some(row)) if should_run(&row, now) => {}
                Ok(_) => self.stop_one(id).await,
                Err(e) => tracing::warn!(error = %e, campaign_id = id, "could not check a campaign's window"),
            }
        }
    }

    pub fn stop(&self) {
        self.inner.default.stop();
        for (_, wheel) in self.inner.running.write().unwrap_or_else(|p| p.into_inner()).drain() {
            wheel.stop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(status: &str, ends_at: Option<i64>) -> CampaignRow {
        CampaignRow {
            id: 2,
            name: "周末转盘".into(),
            description: String::new(),
            status: status.into(),
            starts_at: None,
            ends_at,
            cost_points: 100,
            daily_limit: 0,
            min_level: 1,
            pity_enabled: true,
            pity_limit: 10,
            banner_image: String::new(),
        }
    }

    #[test]
    fn a_wheel_runs_while_its_campaign_can_be_drawn_on_now_or_later() {
        let now = 1_000_000;
        assert!(should_run(&row("active", None), now));
        assert!(should_run(&row("paused", Some(now + 1)), now), "a paused campaign resumes without a restart");
        assert!(!should_run(&row("active", Some(now)), now), "the window has closed");
        assert!(!should_run(&row("draft", None), now));
        assert!(!should_run(&row("ended", None), now));
    }
}
