//! `PrizeWheel`: owns the sectors, the sampling table, the random generator, limited prize stock
//! and the campaign rules. It answers "spin n times for this customer" and reserves any limited
//! prize it hands out; the customer's wallet commits the batch and then settles the reservation
//! (committed → the units are gone; released → they return to the wheel).
//!
//! The wheel also keeps its campaign's server seed (API.md "Fair draws"): each spin's number is
//! the seed's HMAC of the customer's draw, and a new seed, recorded with its commitment before
//! any draw uses it, starts at 00:00 in the business time zone, at the campaign's end, and
//! whenever the wheel or its rules change (which reveals the old one).
//!
//! Work whose caller stopped waiting is skipped; a reservation whose answer cannot be delivered
//! is released at once, and one never settled expires (see [`super::reservations`]).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use rand::SeedableRng;
use rand_pcg::Pcg64Mcg;
use serde_json::json;

use super::failure::{caller_gone, Failure, Reply};
use super::reservations::{Holds, Settled, Taken};
use super::stock_ledger::sweep_period;
use super::supervision::Supervised;
use crate::domain::campaign::CampaignStatus;
use crate::domain::draw::DEFAULT_CAMPAIGN_ID;
use crate::domain::fairness::{sold_out_mask, ClientSeed, FairSampler, SeedPeriod, ServerSeed};
use crate::domain::loyalty::BusinessTz;
use crate::domain::time::now_ms;
use crate::domain::wheel::{spin, SamplingTable, Sector, Spin, WheelSettings};
use crate::domain::DomainError;
use crate::notify::event::{CampaignUpdate, PrizeStockUpdate};
use crate::notify::{Hub, ServerEvent};
use crate::store::audit::AuditEntry;
use crate::store::wheel::FairDraw;
use crate::store::Store;

/// A spun batch, with the prizes it reserved.
#[derive(Debug, Clone)]
pub struct SpunBatch {
    pub reservation: u64,
    pub cost_per_draw: i64,
    pub pity_limit: i64,
    pub spins: Vec<(Sector, Spin, FairDraw)>,
    /// The server seed every number of the batch came from.
    pub seed_id: i64,
}

#[derive(Debug, Clone)]
pub struct SpinRequest {
    pub user_id: i64,
    /// The customer's member level, against the campaign's `min_level`.
    pub level: i64,
    /// The customer's nonce for the batch's first spin; the others follow in order.
    pub first_nonce: i64,
    /// `None`: the default client seed, the customer's user id.
    pub client_seed: Option<String>,
    pub count: usize,
    pub pity_count: i64,
    pub balance: i64,
    pub drawn_today: i64,
    /// The server's daily cap (0 = none), used when the wheel's own setting is 0.
    pub default_daily_limit: i64,
}

/// The current seed's public side.
#[derive(Debug, Clone)]
pub struct SeedView {
    pub commitment: String,
    pub period: SeedPeriod,
}

/// The seed in use: its row, and its HMAC key schedule.
struct ActiveSeed {
    id: i64,
    period: SeedPeriod,
    commitment: String,
    sampler: FairSampler,
}

/// The wheel as customers and admins see it.
#[derive(Debug, Clone)]
pub struct WheelView {
    pub campaign_id: i64,
    pub status: CampaignStatus,
    /// By angle; empty until an admin gives the campaign its prizes.
    pub sectors: Vec<Sector>,
    pub settings: WheelSettings,
}

pub enum PrizeWheelMessage {
    /// Spin for a customer: the wheel checks the campaign window, the cost against `balance` and
    /// the daily cap against `drawn_today` before it reserves anything.
    Spin {
        request: SpinRequest,
        reply: RpcReplyPort<Reply<SpunBatch>>,
    },
    /// The batch behind `reservation` committed (its units are gone), failed (they return), or
    /// its outcome is unknown (the store decides).
    Settle {
        reservation: u64,
        outcome: Settled,
    },
    /// Periodic: expire reservations never settled, and resync from the store when memory may
    /// have fallen behind it.
    Sweep,
    /// Cluster mode: another node changed this campaign (odds, rules, status, stock): read it
    /// all again from the store.
    Reload,
    View(RpcReplyPort<Reply<WheelView>>),
    /// The current seed's commitment and period, starting a period when none is running.
    Fairness(RpcReplyPort<Reply<SeedView>>),
    Replace(Vec<Sector>, Box<AuditEntry>, RpcReplyPort<Reply<WheelView>>),
    Settings(WheelSettings, Box<AuditEntry>, RpcReplyPort<Reply<WheelView>>),
    AddStock {
        prize_id: i64,
        add: i64,
        audit: Box<AuditEntry>,
        reply: RpcReplyPort<Reply<i64>>,
    },
    /// An admin moves the campaign along its lifecycle (draft → active ⇄ paused → ended).
    SetStatus {
        to: CampaignStatus,
        audit: Box<AuditEntry>,
        reply: RpcReplyPort<Reply<CampaignStatus>>,
    },
    /// Test hook (only reachable when the server runs with test hooks): panic inside the actor.
    InjectPanic,
    /// Test hook: keep the actor busy, as a slow store would.
    Block(Duration),
}

impl PrizeWheelMessage {
    /// True when this asks for an answer nobody waits for any more.
    fn caller_gone(&self) -> bool {
        match self {
            PrizeWheelMessage::Spin { reply, .. } => caller_gone(reply, "prize_wheel"),
            PrizeWheelMessage::View(reply)
            | PrizeWheelMessage::Replace(_, _, reply)
            | PrizeWheelMessage::Settings(_, _, reply) => caller_gone(reply, "prize_wheel"),
            PrizeWheelMessage::AddStock { reply, .. } => caller_gone(reply, "prize_wheel"),
            PrizeWheelMessage::Fairness(reply) => caller_gone(reply, "prize_wheel"),
            PrizeWheelMessage::SetStatus { reply, .. } => caller_gone(reply, "prize_wheel"),
            PrizeWheelMessage::Settle { .. }
            | PrizeWheelMessage::Sweep
            | PrizeWheelMessage::Reload
            | PrizeWheelMessage::InjectPanic
            | PrizeWheelMessage::Block(_) => false,
        }
    }
}

#[derive(Clone)]
pub struct PrizeWheel;

#[derive(Clone)]
pub struct PrizeWheelArgs {
    /// The campaign this wheel runs.
    pub campaign_id: i64,
    pub store: Store,
    pub hub: Hub,
    /// A fixed seed makes the sequence of draws repeatable (tests); `None` seeds from the OS.
    pub seed: Option<u64>,
    /// A reservation not settled within this long is dropped and the prize stock re-read.
    pub reservation_ttl: Duration,
    /// Seeds rotate at its midnight.
    pub business_tz: BusinessTz,
    /// Cluster mode: this node's id; its wins of limited prizes come out of its own stock
    /// blocks. `None` on a single node (wins come out of the pool).
    pub stock_node: Option<Arc<str>>,
}

/// Cluster mode: the most units of a prize a node takes into its block at a time.
const TAKE_AT_MOST: i64 = 50;

/// Cluster mode: this node's share of the campaign's limited stock (see `store::cluster`). The
/// wheel's `stock_left` of a limited sector is then this node's block, less what it holds.
struct Blocks {
    node: Arc<str>,
    /// Prizes whose pool was found empty: not asked again before the next sweep.
    pool_empty: HashSet<i64>,
    /// Per prize, units outside this node's block as last seen (the pool and other nodes'
    /// blocks); only for the stock customers are shown.
    elsewhere: HashMap<i64, i64>,
}

impl Blocks {
    /// Turns sectors read from the store (whole stock) into this node's view: its blocks.
    async fn mine(&mut self, store: &Store, sectors: &mut [Sector]) -> crate::store::StoreResult<()> {
        let limited: Vec<i64> = sectors.iter().filter(|s| s.stock_left.is_some()).map(|s| s.id).collect();
        let mine = store.prize_blocks(&self.node, &limited).await?;
        for s in sectors.iter_mut() {
            if let Some(left) = s.stock_left.as_mut() {
                let block = mine.get(&s.id).copied().unwrap_or(0);
                self.elsewhere.insert(s.id, *left - block);
                *left = block;
            }
        }
        Ok(())
    }
}

pub struct PrizeWheelState {
    campaign_id: i64,
    status: CampaignStatus,
    settings: WheelSettings,
    /// The sectors and their sampling table; `None` while the campaign has no prizes.
    wheel: Option<(Vec<Sector>, SamplingTable)>,
    seed: Option<ActiveSeed>,
    /// Only with a fixed `WHEEL_SEED` (tests): server seeds come from it, so runs repeat. Otherwise
    /// seeds come from the operating system's generator: PCG's output can be run backwards,
    /// and a revealed seed must not tell anything about the next one.
    fixed_rng: Option<Pcg64Mcg>,
    /// The limited prizes (by id, one entry per unit) each reservation holds.
    holds: Holds<Vec<i64>>,
    ttl: Duration,
    business_tz: BusinessTz,
    /// Memory may be behind the store (an expired hold, a settle of unknown outcome or from an
    /// earlier instance): resync at the next chance.
    behind: bool,
    /// When memory was last read from the store; holds older than that may be counted twice.
    resynced_at: Instant,
    store: Store,
    hub: Hub,
    /// Cluster mode only.
    blocks: Option<Blocks>,
}

impl Actor for PrizeWheel {
    type Msg = PrizeWheelMessage;
    type State = PrizeWheelState;
    type Arguments = PrizeWheelArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: PrizeWheelArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let campaign_id = args.campaign_id;
        let (mut sectors, settings) = match args.store.campaign_wheel(campaign_id).await? {
            Some(found) => found,
            // Migration 0011 makes the default campaign; anything else must exist to run.
            None if campaign_id == DEFAULT_CAMPAIGN_ID => (Vec::new(), WheelSettings::demo()),
            None => return Err(format!("campaign {campaign_id} does not exist").into()),
        };
        let mut blocks =
            args.stock_node.clone().map(|node| Blocks { node, pool_empty: HashSet::new(), elsewhere: HashMap::new() });
        if let Some(b) = blocks.as_mut() {
            b.mine(&args.store, &mut sectors).await?;
        }
        let wheel = (!sectors.is_empty()).then(|| {
            let table = SamplingTable::build(&sectors);
            (sectors, table)
        });
        // Only with a fixed seed (tests) do campaigns differ by it, so each repeats on its own.
        let fixed_rng =
            args.seed.map(|s| Pcg64Mcg::seed_from_u64(s.wrapping_add((campaign_id as u64).wrapping_sub(1))));
        let seed = args.store.current_seed(campaign_id, now_ms()).await?.and_then(|row| {
            let seed = ServerSeed::from_hex(&row.seed)?;
            Some(ActiveSeed { id: row.id, period: row.period, commitment: row.commitment, sampler: seed.sampler() })
        });
        let status = args
            .store
            .campaign(campaign_id)
            .await?
            .and_then(|c| CampaignStatus::parse(&c.status))
            .unwrap_or(CampaignStatus::Active);
        myself.send_interval(sweep_period(args.reservation_ttl), || PrizeWheelMessage::Sweep);
        Ok(PrizeWheelState {
            campaign_id,
            status,
            settings,
            wheel,
            seed,
            fixed_rng,
            holds: Holds::default(),
            ttl: args.reservation_ttl,
            business_tz: args.business_tz,
            // Settles of the previous instance's reservations may have been lost in its restart:
            // the first sweep re-reads the store once they have had time to commit.
            behind: true,
            resynced_at: Instant::now(),
            store: args.store,
            hub: args.hub,
            blocks,
        })
    }

    async fn handle(
        &self,
        _: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if msg.caller_gone() {
            return Ok(());
        }
        match msg {
            PrizeWheelMessage::Spin { request, reply } => {
                state.refill().await;
                let now = now_ms();
                let result = match state.ensure_seed(now).await {
                    Ok(()) => state.spin(request, now, Instant::now()).map_err(Failure::from),
                    Err(e) => Err(e),
                };
                if let Err(ractor::MessagingErr::SendErr(Ok(spun))) = reply.send(result) {
                    // The caller left between our check and the answer: nobody will settle it.
                    state.settle(spun.reservation, Settled::Released).await;
                }
            }
            PrizeWheelMessage::Fairness(reply) => {
                let now = now_ms();
                let result = state.ensure_seed(now).await.and_then(|()| {
                    state
                        .seed
                        .as_ref()
                        .map(|s| SeedView { commitment: s.commitment.clone(), period: s.period })
                        .ok_or_else(|| DomainError::WheelClosed.into())
                });
                let _ = reply.send(result);
            }
            PrizeWheelMessage::Settle { reservation, outcome } => state.settle(reservation, outcome).await,
            PrizeWheelMessage::Sweep => state.sweep(Instant::now()).await,
            PrizeWheelMessage::Reload => state.reload().await,
            PrizeWheelMessage::Block(pause) => tokio::time::sleep(pause).await,
            PrizeWheelMessage::View(reply) => {
                let _ = reply.send(state.view().map_err(Failure::from));
            }
            PrizeWheelMessage::Replace(sectors, audit, reply) => {
                let result = match state.store.replace_sectors(state.campaign_id, &sectors, &audit).await {
                    Ok(mut saved) => {
                        if let Some(b) = state.blocks.as_mut() {
                            // New sectors: their stock is all in the pool; this node takes
                            // blocks of it as it draws.
                            for s in saved.iter_mut() {
                                if let Some(left) = s.stock_left.as_mut() {
                                    b.elsewhere.insert(s.id, *left);
                                    *left = 0;
                                }
                            }
                            b.pool_empty.clear();
                        }
                        let table = SamplingTable::build(&saved);
                        state.wheel = Some((saved, table));
                        // Reservations of retired sectors no longer return units to the wheel.
                        state.holds.clear();
                        state.publish_all_stock();
                        state.end_seed().await;
                        // New odds on a live campaign are announced.
                        state.announce();
                        state.tell_other_nodes();
                        state.view().map_err(Failure::from)
                    }
                    Err(e) => Err(e.into()),
                };
                let _ = reply.send(result);
            }
            PrizeWheelMessage::Settings(settings, audit, reply) => {
                let result = match settings.validate() {
                    Err(e) => Err(Failure::from(e)),
                    Ok(()) => match state.store.save_wheel_settings(state.campaign_id, &settings, &audit).await {
                        Ok(()) => {
                            state.settings = settings;
                            state.end_seed().await;
                            // New rules on a live campaign are announced, as new odds are.
                            state.announce();
                            state.tell_other_nodes();
                            Ok(())
                        }
                        Err(e) => Err(e.into()),
                    },
                };
                let _ = reply.send(result.and_then(|_| state.view().map_err(Failure::from)));
            }
            PrizeWheelMessage::AddStock { prize_id, add, audit, reply } => {
                let result = state.add_stock(prize_id, add, &audit).await;
                if result.is_ok() {
                    state.tell_other_nodes();
                }
                let _ = reply.send(result);
            }
            PrizeWheelMessage::SetStatus { to, audit, reply } => {
                let result = state.set_status(to, *audit).await;
                if result.is_ok() {
                    state.tell_other_nodes();
                }
                let _ = reply.send(result);
            }
            PrizeWheelMessage::InjectPanic => panic!("test hook: injected panic in the prize wheel"),
        }
        Ok(())
    }
}

impl PrizeWheelState {
    /// Cluster mode: the other nodes' wheels of this campaign read it again.
    fn tell_other_nodes(&self) {
        if let Some(relay) = self.hub.relay() {
            relay.catalog(crate::cluster::relay::CatalogChange::Campaign { campaign_id: self.campaign_id });
        }
    }

    /// Everything from the store again (another node changed the campaign). Units this wheel
    /// still holds for draws being committed stay subtracted, as in [`Self::resync`]; the seed
    /// in use ends, as after an edit here.
    async fn reload(&mut self) {
        let (mut sectors, settings) = match self.store.campaign_wheel(self.campaign_id).await {
            Ok(Some(found)) => found,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, campaign_id = self.campaign_id, "could not reload the campaign; the next sweep resyncs");
                self.behind = true;
                return;
            }
        };
        if let Some(b) = self.blocks.as_mut() {
            b.pool_empty.clear();
            if let Err(e) = b.mine(&self.store, &mut sectors).await {
                tracing::warn!(error = %e, campaign_id = self.campaign_id, "could not read this node's stock blocks; the next sweep resyncs");
                self.behind = true;
                return;
            }
        }
        if let Ok(Some(row)) = self.store.campaign(self.campaign_id).await {
            if let Some(status) = CampaignStatus::parse(&row.status) {
                self.status = status;
            }
        }
        let held: Vec<i64> = self.holds.held().flatten().copied().collect();
        for s in sectors.iter_mut() {
            if let Some(left) = s.stock_left.as_mut() {
                *left -= held.iter().filter(|id| **id == s.id).count() as i64;
            }
        }
        let odds_changed = self.settings != settings
            || self.wheel.as_ref().is_none_or(|(old, _)| {
                old.len() != sectors.len()
                    || old.iter().zip(&sectors).any(|(a, b)| a.id != b.id || a.probability != b.probability)
            });
        self.settings = settings;
        self.wheel = (!sectors.is_empty()).then(|| {
            let table = SamplingTable::build(&sectors);
            (sectors, table)
        });
        if odds_changed {
            self.end_seed().await;
        }
        self.publish_all_stock();
    }

    fn view(&self) -> Result<WheelView, DomainError> {
        Ok(WheelView {
            campaign_id: self.campaign_id,
            status: self.status,
            sectors: self.wheel.as_ref().map(|(sectors, _)| sectors.clone()).unwrap_or_default(),
            settings: self.settings.clone(),
        })
    }

    /// Makes sure a seed covers `now`: a new one is recorded (with its commitment) before any
    /// draw uses it. Nothing to do while there is no wheel.
    async fn ensure_seed(&mut self, now: i64) -> Reply<()> {
        if self.wheel.is_none() || self.seed.as_ref().is_some_and(|s| s.period.covers(now)) {
            return Ok(());
        }
        // Cluster mode: another node's wheel of this campaign may have opened the period's
        // seed already; every node then draws from it (one commitment per period).
        if self.adopt_stored_seed(now).await? {
            return Ok(());
        }
        let period = SeedPeriod::starting(now, self.settings.ends_at, &self.business_tz);
        let seed = match &mut self.fixed_rng {
            Some(rng) => ServerSeed::generate(rng),
            None => ServerSeed::generate(&mut rand::rng()),
        };
        let commitment = seed.commitment();
        let id = match self.store.insert_seed(self.campaign_id, period, &seed.to_hex(), &commitment).await {
            Ok(id) => id,
            // Another node opened it between the look and the insert (the unique period key).
            Err(e) if e.is_unique_violation() && self.adopt_stored_seed(now).await? => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        self.seed = Some(ActiveSeed { id, period, commitment, sampler: seed.sampler() });
        Ok(())
    }

    /// Takes the campaign's seed covering `now` from the store, when there is one.
    async fn adopt_stored_seed(&mut self, now: i64) -> Reply<bool> {
        let Some(row) = self.store.current_seed(self.campaign_id, now).await? else { return Ok(false) };
        if !row.period.covers(now) {
            return Ok(false);
        }
        let Some(seed) = ServerSeed::from_hex(&row.seed) else { return Ok(false) };
        self.seed =
            Some(ActiveSeed { id: row.id, period: row.period, commitment: row.commitment, sampler: seed.sampler() });
        Ok(true)
    }

    /// Ends the current seed's period now (the wheel or its rules changed), revealing it; the
    /// next draw starts a new one. If the store cannot record it, the period simply runs on.
    async fn end_seed(&mut self) {
        if let Some(seed) = self.seed.take() {
            if let Err(e) = self.store.end_seed(seed.id, now_ms()).await {
                tracing::warn!(error = %e, seed_id = seed.id, "could not end the seed's period early");
            }
        }
    }

    async fn set_status(&mut self, to: CampaignStatus, mut audit: AuditEntry) -> Reply<CampaignStatus> {
        let to = self.status.transition(to)?;
        audit.before = Some(json!({ "status": self.status.as_str() }));
        audit.after = Some(json!({ "status": to.as_str() }));
        if !self.store.set_campaign_status(self.campaign_id, self.status.as_str(), to.as_str(), &audit).await? {
            return Err(DomainError::WheelClosed.into());
        }
        self.status = to;
        if to == CampaignStatus::Ended {
            // The campaign's last seed is revealed as it ends.
            self.end_seed().await;
        }
        self.announce();
        Ok(to)
    }

    fn announce(&self) {
        self.hub.broadcast_latest(ServerEvent::CampaignUpdate(CampaignUpdate {
            campaign_id: self.campaign_id,
            status: self.status,
        }));
    }

    fn spin(&mut self, req: SpinRequest, now: i64, at: Instant) -> Result<SpunBatch, DomainError> {
        let SpinRequest {
            user_id,
            level,
            first_nonce,
            client_seed,
            count,
            pity_count,
            balance,
            drawn_today,
            default_daily_limit,
        } = req;
        let settings = &self.settings;
        let Some((sectors, table)) = &mut self.wheel else {
            return Err(DomainError::WheelClosed);
        };
        let Some(seed) = &self.seed else {
            return Err(DomainError::WheelClosed);
        };
        if self.status != CampaignStatus::Active || !settings.is_open(now) {
            return Err(DomainError::WheelClosed);
        }
        if level < settings.min_level {
            return Err(DomainError::LevelTooLow { required_level: settings.min_level, current_level: level });
        }
        let daily = if settings.daily_limit > 0 { settings.daily_limit } else { default_daily_limit };
        if daily > 0 && drawn_today + count as i64 > daily {
            return Err(DomainError::DailyLimitReached);
        }
        let cost = settings.cost_points * count as i64;
        if balance < cost {
            return Err(DomainError::InsufficientPoints { required: cost, current: balance });
        }
        let mut spins = Vec::with_capacity(count);
        let mut reserved = Vec::new();
        let mut pity = pity_count;
        let client = client_seed.as_deref().map_or(ClientSeed::UserId, ClientSeed::Given);
        for nonce in (first_nonce..).take(count) {
            let random_value = seed.sampler.value(self.campaign_id, user_id, client, nonce);
            let fair = FairDraw { nonce, random_value, sold_out_mask: sold_out_mask(sectors) };
            let s = spin(sectors, table, settings.pity(), pity, random_value);
            pity = s.pity_after;
            let sector = &mut sectors[s.sector];
            if let Some(left) = &mut sector.stock_left {
                *left -= 1;
                reserved.push(sector.id);
                if *left == 0 {
                    *table = SamplingTable::build(sectors);
                }
            }
            spins.push((sectors[s.sector].clone(), s, fair));
        }
        // Every batch gets an id, so its settle is told apart from another instance's.
        let reservation = self.holds.hold(reserved, at);
        Ok(SpunBatch {
            reservation,
            cost_per_draw: settings.cost_points,
            pity_limit: settings.pity_limit,
            spins,
            seed_id: seed.id,
        })
    }

    async fn settle(&mut self, reservation: u64, outcome: Settled) {
        let straddled = self.holds.since(reservation).is_some_and(|since| since <= self.resynced_at);
        match (self.holds.take(reservation), outcome) {
            (Taken::Held(prizes), Settled::Committed) if straddled && !prizes.is_empty() => {
                self.behind = true;
                self.resync().await;
            }
            (Taken::Held(prizes), Settled::Committed) => {
                for id in prizes {
                    self.publish_stock(id);
                }
            }
            (Taken::Held(prizes), Settled::Released) => self.give_back(prizes),
            // Released units of an expired or earlier hold are already what the store says.
            (Taken::Gone | Taken::Foreign, Settled::Released) => {}
            // A batch without limited prizes changed no stock, whatever happened to it.
            (Taken::Held(prizes), Settled::Unknown) if prizes.is_empty() => {}
            // The store may have taken units memory does not know about: it decides.
            (_, Settled::Unknown) | (Taken::Gone | Taken::Foreign, Settled::Committed) => {
                self.behind = true;
                self.resync().await;
            }
        }
    }

    /// Drops reservations nobody settled, then catches up with the store if memory may be behind.
    async fn sweep(&mut self, now: Instant) {
        if let Some(b) = self.blocks.as_mut() {
            b.pool_empty.clear();
        }
        let expired = self.holds.expire(now, self.ttl);
        if expired.iter().any(|prizes| !prizes.is_empty()) {
            tracing::warn!(count = expired.len(), "prize reservations expired unsettled; re-reading the store");
            self.behind = true;
        }
        if self.behind {
            self.resync().await;
        }
    }

    /// Limited stock = the store's minus what this instance still holds. Left `behind` (and
    /// retried at the next sweep) when the store cannot be read.
    async fn resync(&mut self) {
        let mut stored = match self.store.campaign_wheel(self.campaign_id).await {
            Ok(w) => w.map(|(sectors, _)| sectors).unwrap_or_default(),
            Err(e) => {
                tracing::warn!(error = %e, "could not re-read prize stock; will retry");
                return;
            }
        };
        if let Some(b) = self.blocks.as_mut() {
            if let Err(e) = b.mine(&self.store, &mut stored).await {
                tracing::warn!(error = %e, "could not re-read this node's stock blocks; will retry");
                return;
            }
        }
        let held: Vec<i64> = self.holds.held().flatten().copied().collect();
        let mut changed = Vec::new();
        if let Some((sectors, table)) = &mut self.wheel {
            for s in sectors.iter_mut() {
                let Some(left) = stored.iter().find(|t| t.id == s.id).and_then(|t| t.stock_left) else { continue };
                let fresh = left - held.iter().filter(|id| **id == s.id).count() as i64;
                if s.stock_left != Some(fresh) {
                    s.stock_left = Some(fresh);
                    changed.push(s.id);
                }
            }
            if !changed.is_empty() {
                *table = SamplingTable::build(sectors);
            }
        }
        for id in changed {
            self.publish_stock(id);
        }
        self.behind = false;
        self.resynced_at = Instant::now();
    }

    /// Cluster mode, before a spin: every limited sector whose block ran out takes another
    /// block from its pool (an eighth of what the pool holds, 1–50 units), unless the pool was
    /// found empty since the last sweep.
    async fn refill(&mut self) {
        let (Some(b), Some((sectors, table))) = (self.blocks.as_mut(), self.wheel.as_mut()) else {
            return;
        };
        let mut took = Vec::new();
        for s in sectors.iter_mut() {
            let Some(left) = s.stock_left.as_mut() else { continue };
            if *left > 0 || b.pool_empty.contains(&s.id) {
                continue;
            }
            match self.store.take_prize_block(s.id, &b.node, TAKE_AT_MOST).await {
                Ok((0, _)) => {
                    b.pool_empty.insert(s.id);
                }
                Ok((n, pool)) => {
                    *left += n;
                    let others = b.elsewhere.entry(s.id).or_default();
                    *others = (*others - n).max(pool);
                    took.push(s.id);
                }
                Err(e) => {
                    tracing::warn!(error = %e, prize_id = s.id, "could not take a stock block; the prize stays sold out here until the next sweep");
                    b.pool_empty.insert(s.id);
                }
            }
        }
        if !took.is_empty() {
            *table = SamplingTable::build(sectors);
        }
    }

    fn give_back(&mut self, prizes: Vec<i64>) {
        let Some((sectors, table)) = &mut self.wheel else {
            return;
        };
        let mut rebuild = false;
        for id in prizes {
            if let Some(s) = sectors.iter_mut().find(|s| s.id == id) {
                if let Some(left) = &mut s.stock_left {
                    rebuild |= *left == 0;
                    *left += 1;
                }
            }
        }
        if rebuild {
            *table = SamplingTable::build(sectors);
        }
    }

    async fn add_stock(&mut self, prize_id: i64, add: i64, audit: &AuditEntry) -> Reply<i64> {
        let Some((sectors, _)) = &self.wheel else {
            return Err(DomainError::NotFound("奖品".into()).into());
        };
        let Some(sector) = sectors.iter().find(|s| s.id == prize_id) else {
            return Err(DomainError::NotFound("奖品".into()).into());
        };
        if sector.stock_left.is_none() {
            return Err(DomainError::invalid("prize_id", "this prize has unlimited stock").into());
        }
        let mut audit = audit.clone();
        // The whole stock left (cluster mode: this node's block and what it last saw elsewhere).
        let elsewhere = self.blocks.as_ref().and_then(|b| b.elsewhere.get(&prize_id)).copied().unwrap_or(0);
        audit.before = Some(json!({ "stock_left": sector.stock_left.map(|l| l + elsewhere) }));
        audit.after = Some(json!({ "add": add }));
        let total = self
            .store
            .add_prize_stock(self.campaign_id, prize_id, add, &audit)
            .await?
            .ok_or(DomainError::NotFound("奖品".into()))?;
        if let Some(b) = self.blocks.as_mut() {
            // Cluster mode: the units went to the pool; this node takes blocks of them as it draws.
            *b.elsewhere.entry(prize_id).or_default() += add;
            b.pool_empty.remove(&prize_id);
            self.publish_stock(prize_id);
            return Ok(total);
        }
        let Some((sectors, table)) = &mut self.wheel else {
            return Err(DomainError::NotFound("奖品".into()).into());
        };
        let mut left = 0;
        if let Some(s) = sectors.iter_mut().find(|s| s.id == prize_id) {
            // Memory may be ahead of the store by reservations still in flight: add, don't copy.
            let l = s.stock_left.get_or_insert(0);
            *l += add;
            left = *l;
        }
        *table = SamplingTable::build(sectors);
        self.publish_stock(prize_id);
        Ok(left)
    }

    fn publish_stock(&self, prize_id: i64) {
        let Some((sectors, _)) = &self.wheel else {
            return;
        };
        if let Some(s) = sectors.iter().find(|s| s.id == prize_id) {
            // Cluster mode: this node's block and what it last saw of the rest.
            let elsewhere = self.blocks.as_ref().and_then(|b| b.elsewhere.get(&s.id)).copied().unwrap_or(0);
            self.hub.broadcast_latest(ServerEvent::PrizeStockUpdate(PrizeStockUpdate {
                prize_id: s.id,
                stock_left: s.stock_left.map(|left| left + elsewhere),
            }));
        }
    }

    fn publish_all_stock(&self) {
        if let Some((sectors, _)) = &self.wheel {
            for s in sectors.iter().filter(|s| s.stock_left.is_some()) {
                self.publish_stock(s.id);
            }
        }
    }
}

/// The current PrizeWheel, restarted from the store by its supervisor after a failure.
#[derive(Clone)]
pub struct WheelHandle {
    actor: Supervised<PrizeWheel>,
}

impl WheelHandle {
    pub async fn start(args: PrizeWheelArgs, call_timeout: Duration) -> anyhow::Result<WheelHandle> {
        Ok(WheelHandle { actor: Supervised::start("prize_wheel", PrizeWheel, args, call_timeout).await? })
    }

    pub async fn spin(&self, request: SpinRequest) -> Reply<SpunBatch> {
        self.actor.call(|reply| PrizeWheelMessage::Spin { request, reply }).await
    }

    pub fn settle(&self, reservation: u64, outcome: Settled) {
        // Delivered to a restarted wheel too: it then re-reads the store, which by then holds
        // this batch's outcome.
        self.actor.deliver(PrizeWheelMessage::Settle { reservation, outcome });
    }

    pub async fn view(&self) -> Reply<WheelView> {
        self.actor.call(PrizeWheelMessage::View).await
    }

    /// The commitment of the seed in use (a period starts if none is running).
    pub async fn fairness(&self) -> Reply<SeedView> {
        self.actor.call(PrizeWheelMessage::Fairness).await
    }

    pub async fn replace(&self, sectors: Vec<Sector>, audit: AuditEntry) -> Reply<WheelView> {
        self.actor.call(|reply| PrizeWheelMessage::Replace(sectors, Box::new(audit), reply)).await
    }

    pub async fn update_settings(&self, settings: WheelSettings, audit: AuditEntry) -> Reply<WheelView> {
        self.actor.call(|reply| PrizeWheelMessage::Settings(settings, Box::new(audit), reply)).await
    }

    pub async fn add_stock(&self, prize_id: i64, add: i64, audit: AuditEntry) -> Reply<i64> {
        self.actor.call(|reply| PrizeWheelMessage::AddStock { prize_id, add, audit: Box::new(audit), reply }).await
    }

    pub async fn set_status(&self, to: CampaignStatus, audit: AuditEntry) -> Reply<CampaignStatus> {
        self.actor.call(|reply| PrizeWheelMessage::SetStatus { to, audit: Box::new(audit), reply }).await
    }

    /// Test hook: makes the wheel actor panic.
    pub fn inject_panic(&self) -> Reply<()> {
        self.actor.cast(PrizeWheelMessage::InjectPanic)
    }

    /// Test hook: keeps the wheel busy for `pause`.
    pub fn block(&self, pause: Duration) -> Reply<()> {
        self.actor.cast(PrizeWheelMessage::Block(pause))
    }

    /// Cluster mode: another node changed this campaign.
    pub fn reload(&self) {
        self.actor.deliver(PrizeWheelMessage::Reload);
    }

    pub fn stop(&self) {
        self.actor.stop();
    }
}
