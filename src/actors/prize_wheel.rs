//! `PrizeWheel`: owns the sectors, the sampling table, the random generator, limited prize stock
//! and the campaign rules. It answers "spin n times for this customer" and reserves any limited
//! prize it hands out; the customer's wallet commits the batch and then settles the reservation
//! (committed → the units are gone; released → they return to the wheel).

use std::collections::HashMap;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;
use serde_json::json;

use super::failure::{Failure, Reply};
use super::supervision::Supervised;
use crate::domain::time::now_ms;
use crate::domain::wheel::{spin, SamplingTable, Sector, Spin, WheelSettings};
use crate::domain::DomainError;
use crate::notify::event::PrizeStockUpdate;
use crate::notify::{Hub, ServerEvent};
use crate::store::audit::AuditEntry;
use crate::store::Store;

/// A spun batch, with the prizes it reserved.
#[derive(Debug, Clone)]
pub struct SpunBatch {
    pub reservation: u64,
    pub cost_per_draw: i64,
    pub pity_limit: i64,
    pub spins: Vec<(Sector, Spin)>,
}

#[derive(Debug, Clone, Copy)]
pub struct SpinRequest {
    pub count: usize,
    pub pity_count: i64,
    pub balance: i64,
    pub drawn_today: i64,
    /// The server's daily cap (0 = none), used when the wheel's own setting is 0.
    pub default_daily_limit: i64,
}

/// The wheel as customers and admins see it.
#[derive(Debug, Clone)]
pub struct WheelView {
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
    /// The batch behind `reservation` committed (its units are gone) or failed (they return).
    Settle {
        reservation: u64,
        committed: bool,
    },
    View(RpcReplyPort<Reply<WheelView>>),
    Replace(Vec<Sector>, Box<AuditEntry>, RpcReplyPort<Reply<WheelView>>),
    Settings(WheelSettings, Box<AuditEntry>, RpcReplyPort<Reply<WheelView>>),
    AddStock {
        prize_id: i64,
        add: i64,
        audit: Box<AuditEntry>,
        reply: RpcReplyPort<Reply<i64>>,
    },
    /// Test hook (only reachable when the server runs with test hooks): panic inside the actor.
    InjectPanic,
}

#[derive(Clone)]
pub struct PrizeWheel;

#[derive(Clone)]
pub struct PrizeWheelArgs {
    pub store: Store,
    pub hub: Hub,
    /// A fixed seed makes the sequence of draws repeatable (tests); `None` seeds from the OS.
    pub seed: Option<u64>,
}

pub struct PrizeWheelState {
    wheel: Option<(Vec<Sector>, WheelSettings, SamplingTable)>,
    rng: Pcg64Mcg,
    reservations: HashMap<u64, Vec<i64>>,
    next_reservation: u64,
    store: Store,
    hub: Hub,
}

impl Actor for PrizeWheel {
    type Msg = PrizeWheelMessage;
    type State = PrizeWheelState;
    type Arguments = PrizeWheelArgs;

    async fn pre_start(&self, _: ActorRef<Self::Msg>, args: PrizeWheelArgs) -> Result<Self::State, ActorProcessingErr> {
        let wheel = args.store.wheel().await?.map(|(sectors, settings)| {
            let table = SamplingTable::build(&sectors);
            (sectors, settings, table)
        });
        let rng = match args.seed {
            Some(seed) => Pcg64Mcg::seed_from_u64(seed),
            None => Pcg64Mcg::from_rng(&mut rand::rng()),
        };
        Ok(PrizeWheelState {
            wheel,
            rng,
            reservations: HashMap::new(),
            next_reservation: 1,
            store: args.store,
            hub: args.hub,
        })
    }

    async fn handle(
        &self,
        _: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            PrizeWheelMessage::Spin { request, reply } => {
                let _ = reply.send(state.spin(request).map_err(Failure::from));
            }
            PrizeWheelMessage::Settle { reservation, committed } => state.settle(reservation, committed),
            PrizeWheelMessage::View(reply) => {
                let _ = reply.send(state.view().map_err(Failure::from));
            }
            PrizeWheelMessage::Replace(sectors, audit, reply) => {
                let result = match state.store.replace_sectors(&sectors, &audit).await {
                    Ok(saved) => {
                        let settings = state.wheel.as_ref().map(|w| w.1.clone()).unwrap_or_else(WheelSettings::demo);
                        let table = SamplingTable::build(&saved);
                        state.wheel = Some((saved, settings, table));
                        // Reservations of retired sectors no longer return units to the wheel.
                        state.reservations.clear();
                        state.publish_all_stock();
                        state.view().map_err(Failure::from)
                    }
                    Err(e) => Err(e.into()),
                };
                let _ = reply.send(result);
            }
            PrizeWheelMessage::Settings(settings, audit, reply) => {
                let result = match (&mut state.wheel, settings.validate()) {
                    (_, Err(e)) => Err(Failure::from(e)),
                    (None, _) => Err(DomainError::WheelClosed.into()),
                    (Some(w), Ok(())) => match state.store.save_wheel_settings(&settings, &audit).await {
                        Ok(()) => {
                            w.1 = settings;
                            Ok(())
                        }
                        Err(e) => Err(e.into()),
                    },
                };
                let _ = reply.send(result.and_then(|_| state.view().map_err(Failure::from)));
            }
            PrizeWheelMessage::AddStock { prize_id, add, audit, reply } => {
                let result = state.add_stock(prize_id, add, &audit).await;
                let _ = reply.send(result);
            }
            PrizeWheelMessage::InjectPanic => panic!("test hook: injected panic in the prize wheel"),
        }
        Ok(())
    }
}

impl PrizeWheelState {
    fn view(&self) -> Result<WheelView, DomainError> {
        let (sectors, settings, _) = self.wheel.as_ref().ok_or(DomainError::WheelClosed)?;
        Ok(WheelView { sectors: sectors.clone(), settings: settings.clone() })
    }

    fn spin(&mut self, req: SpinRequest) -> Result<SpunBatch, DomainError> {
        let SpinRequest { count, pity_count, balance, drawn_today, default_daily_limit } = req;
        let Some((sectors, settings, table)) = &mut self.wheel else {
            return Err(DomainError::WheelClosed);
        };
        if !settings.is_open(now_ms()) {
            return Err(DomainError::WheelClosed);
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
        for _ in 0..count {
            let s = spin(sectors, table, settings.pity(), pity, self.rng.random::<f64>());
            pity = s.pity_after;
            let sector = &mut sectors[s.sector];
            if let Some(left) = &mut sector.stock_left {
                *left -= 1;
                reserved.push(sector.id);
                if *left == 0 {
                    *table = SamplingTable::build(sectors);
                }
            }
            spins.push((sectors[s.sector].clone(), s));
        }
        let reservation = self.next_reservation;
        self.next_reservation += 1;
        if !reserved.is_empty() {
            self.reservations.insert(reservation, reserved);
        }
        Ok(SpunBatch { reservation, cost_per_draw: settings.cost_points, pity_limit: settings.pity_limit, spins })
    }

    fn settle(&mut self, reservation: u64, committed: bool) {
        let Some(prizes) = self.reservations.remove(&reservation) else {
            return;
        };
        if committed {
            for id in prizes {
                self.publish_stock(id);
            }
            return;
        }
        let Some((sectors, _, table)) = &mut self.wheel else {
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
        let Some((sectors, _, _)) = &self.wheel else {
            return Err(DomainError::WheelClosed.into());
        };
        let Some(sector) = sectors.iter().find(|s| s.id == prize_id) else {
            return Err(DomainError::NotFound("奖品").into());
        };
        if sector.stock_left.is_none() {
            return Err(DomainError::invalid("prize_id", "this prize has unlimited stock").into());
        }
        let mut audit = audit.clone();
        audit.before = Some(json!({ "stock_left": sector.stock_left }));
        audit.after = Some(json!({ "add": add }));
        self.store.add_prize_stock(prize_id, add, &audit).await?.ok_or(DomainError::NotFound("奖品"))?;
        let Some((sectors, _, table)) = &mut self.wheel else {
            return Err(DomainError::WheelClosed.into());
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
        let Some((sectors, _, _)) = &self.wheel else {
            return;
        };
        if let Some(s) = sectors.iter().find(|s| s.id == prize_id) {
            self.hub.broadcast_latest(ServerEvent::PrizeStockUpdate(PrizeStockUpdate {
                prize_id: s.id,
                stock_left: s.stock_left,
            }));
        }
    }

    fn publish_all_stock(&self) {
        if let Some((sectors, _, _)) = &self.wheel {
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
    pub async fn start(args: PrizeWheelArgs) -> anyhow::Result<WheelHandle> {
        Ok(WheelHandle { actor: Supervised::start("prize_wheel", PrizeWheel, args).await? })
    }

    pub async fn spin(&self, request: SpinRequest) -> Reply<SpunBatch> {
        self.actor.call(|reply| PrizeWheelMessage::Spin { request, reply }).await
    }

    pub fn settle(&self, reservation: u64, committed: bool) {
        // If the wheel is being restarted the reservation dies with it; the store holds the truth.
        let _ = self.actor.cast(PrizeWheelMessage::Settle { reservation, committed });
    }

    pub async fn view(&self) -> Reply<WheelView> {
        self.actor.call(PrizeWheelMessage::View).await
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

    /// Test hook: makes the wheel actor panic.
    pub fn inject_panic(&self) -> Reply<()> {
        self.actor.cast(PrizeWheelMessage::InjectPanic)
    }

    pub fn stop(&self) {
        self.actor.stop();
    }
}
