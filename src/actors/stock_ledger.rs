//! `StockLedger`: owns the shop's product stock. A redemption reserves units here (checking the
//! product is on sale, the stock and the customer's points), the customer's wallet commits the
//! order, and the reservation is settled: committed units are gone, released ones return. Every
//! stock change is published (`stock_update`, coalesced per product) after it commits.

use std::collections::HashMap;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

use super::failure::{Failure, Reply};
use super::supervision::Supervised;
use crate::domain::shop::{Product, ProductPatch};
use crate::domain::DomainError;
use crate::notify::event::{StockChange, StockUpdate};
use crate::notify::{Hub, ServerEvent};
use crate::store::audit::AuditEntry;
use crate::store::Store;

/// Units held for a redemption that is being committed.
#[derive(Debug, Clone)]
pub struct StockReservation {
    pub reservation: u64,
    pub product_id: i64,
    pub product_name: String,
    pub unit_points: i64,
    pub quantity: i64,
}

#[derive(Debug, Clone)]
pub struct ReserveRequest {
    pub product_id: i64,
    pub quantity: i64,
    pub balance: i64,
}

pub enum StockLedgerMessage {
    Reserve(ReserveRequest, RpcReplyPort<Reply<StockReservation>>),
    Settle {
        reservation: u64,
        committed: bool,
    },
    Create(Box<ProductPatch>, Box<AuditEntry>, RpcReplyPort<Reply<Product>>),
    Update(i64, Box<ProductPatch>, Box<AuditEntry>, RpcReplyPort<Reply<Product>>),
    Delist(i64, Box<AuditEntry>, RpcReplyPort<Reply<Product>>),
    Restock(i64, i64, Box<AuditEntry>, RpcReplyPort<Reply<i64>>),
    /// Test hook (only reachable when the server runs with test hooks): panic inside the actor.
    InjectPanic,
}

#[derive(Clone)]
pub struct StockLedger;

#[derive(Clone)]
pub struct StockLedgerArgs {
    pub store: Store,
    pub hub: Hub,
}

struct Shelf {
    name: String,
    points: i64,
    stock: i64,
    on_sale: bool,
}

pub struct StockLedgerState {
    shelves: HashMap<i64, Shelf>,
    reservations: HashMap<u64, (i64, i64)>,
    next: u64,
    store: Store,
    hub: Hub,
}

impl Actor for StockLedger {
    type Msg = StockLedgerMessage;
    type State = StockLedgerState;
    type Arguments = StockLedgerArgs;

    async fn pre_start(
        &self,
        _: ActorRef<Self::Msg>,
        args: StockLedgerArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let shelves = args.store.products_for_ledger().await?.into_iter().map(|p| (p.id, shelf(&p))).collect();
        Ok(StockLedgerState { shelves, reservations: HashMap::new(), next: 1, store: args.store, hub: args.hub })
    }

    async fn handle(
        &self,
        _: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            StockLedgerMessage::Reserve(req, reply) => {
                let _ = reply.send(state.reserve(req).map_err(Failure::from));
            }
            StockLedgerMessage::Settle { reservation, committed } => state.settle(reservation, committed),
            StockLedgerMessage::Create(patch, audit, reply) => {
                let result = match state.store.create_product(&patch, &audit).await {
                    Ok(p) => {
                        state.shelves.insert(p.id, shelf(&p));
                        state.publish(p.id, StockChange::AdminAdjust);
                        Ok(p)
                    }
                    Err(e) => Err(e.into()),
                };
                let _ = reply.send(result);
            }
            StockLedgerMessage::Update(id, patch, audit, reply) => {
                let result = state.update(id, &patch, &audit).await;
                let _ = reply.send(result);
            }
            StockLedgerMessage::Delist(id, audit, reply) => {
                let result = match state.store.delist_product(id, &audit).await {
                    Ok(Some(p)) => {
                        if let Some(s) = state.shelves.get_mut(&id) {
                            s.on_sale = false;
                        }
                        Ok(p)
                    }
                    Ok(None) => Err(DomainError::ProductUnavailable.into()),
                    Err(e) => Err(e.into()),
                };
                let _ = reply.send(result);
            }
            StockLedgerMessage::InjectPanic => panic!("test hook: injected panic in the stock ledger"),
            StockLedgerMessage::Restock(id, quantity, audit, reply) => {
                let result = match state.store.restock_product(id, quantity, &audit).await {
                    Ok(Some(_)) => {
                        let shelf = state.shelves.get_mut(&id);
                        let stock = shelf.map(|s| {
                            // Add rather than copy: memory is ahead of the store by reservations
                            // still being committed.
                            s.stock += quantity;
                            s.stock
                        });
                        state.publish(id, StockChange::Restock);
                        Ok(stock.unwrap_or(quantity))
                    }
                    Ok(None) => Err(DomainError::ProductUnavailable.into()),
                    Err(e) => Err(e.into()),
                };
                let _ = reply.send(result);
            }
        }
        Ok(())
    }
}

fn shelf(p: &Product) -> Shelf {
    Shelf { name: p.name.clone(), points: p.exchange_points, stock: p.stock, on_sale: p.active }
}

impl StockLedgerState {
    fn reserve(&mut self, req: ReserveRequest) -> Result<StockReservation, DomainError> {
        let shelf =
            self.shelves.get_mut(&req.product_id).filter(|s| s.on_sale).ok_or(DomainError::ProductUnavailable)?;
        if shelf.stock < req.quantity {
            return Err(DomainError::OutOfStock { available: shelf.stock, requested: req.quantity });
        }
        let cost = shelf.points.saturating_mul(req.quantity);
        if req.balance < cost {
            return Err(DomainError::InsufficientPoints { required: cost, current: req.balance });
        }
        shelf.stock -= req.quantity;
        let reservation = self.next;
        self.next += 1;
        self.reservations.insert(reservation, (req.product_id, req.quantity));
        Ok(StockReservation {
            reservation,
            product_id: req.product_id,
            product_name: shelf.name.clone(),
            unit_points: shelf.points,
            quantity: req.quantity,
        })
    }

    fn settle(&mut self, reservation: u64, committed: bool) {
        let Some((product_id, quantity)) = self.reservations.remove(&reservation) else { return };
        if committed {
            self.publish(product_id, StockChange::Purchase);
        } else if let Some(s) = self.shelves.get_mut(&product_id) {
            s.stock += quantity;
        }
    }

    async fn update(&mut self, id: i64, patch: &ProductPatch, audit: &AuditEntry) -> Reply<Product> {
        let held: i64 = self.reservations.values().filter(|(p, _)| *p == id).map(|(_, q)| q).sum();
        if patch.stock.is_some() && held > 0 {
            // Setting an absolute stock while units are mid-commit would double count them.
            return Err(DomainError::invalid(
                "stock",
                "redemptions of this product are in progress; use restock or retry",
            )
            .into());
        }
        let p = self.store.update_product(id, patch, audit).await?.ok_or(DomainError::ProductUnavailable)?;
        let mut updated = shelf(&p);
        if patch.stock.is_none() {
            // The store's stock still counts units reserved by redemptions being committed;
            // memory already took them off, so it stays the authority on what is available.
            if let Some(current) = self.shelves.get(&id) {
                updated.stock = current.stock;
            }
        }
        self.shelves.insert(id, updated);
        if patch.stock.is_some() {
            self.publish(id, StockChange::AdminAdjust);
        }
        Ok(p)
    }

    fn publish(&self, product_id: i64, operation: StockChange) {
        if let Some(s) = self.shelves.get(&product_id) {
            self.hub.broadcast_latest(ServerEvent::StockUpdate(StockUpdate { product_id, stock: s.stock, operation }));
        }
    }
}

/// The live StockLedger, restarted from the store by its supervisor after a failure.
#[derive(Clone)]
pub struct StockHandle {
    actor: Supervised<StockLedger>,
}

impl StockHandle {
    pub async fn start(args: StockLedgerArgs) -> anyhow::Result<StockHandle> {
        Ok(StockHandle { actor: Supervised::start("stock_ledger", StockLedger, args).await? })
    }

    pub async fn reserve(&self, req: ReserveRequest) -> Reply<StockReservation> {
        self.actor.call(|reply| StockLedgerMessage::Reserve(req, reply)).await
    }

    pub fn settle(&self, reservation: u64, committed: bool) {
        let _ = self.actor.cast(StockLedgerMessage::Settle { reservation, committed });
    }

    pub async fn create(&self, patch: ProductPatch, audit: AuditEntry) -> Reply<Product> {
        self.actor.call(|reply| StockLedgerMessage::Create(Box::new(patch), Box::new(audit), reply)).await
    }

    pub async fn update(&self, id: i64, patch: ProductPatch, audit: AuditEntry) -> Reply<Product> {
        self.actor.call(|reply| StockLedgerMessage::Update(id, Box::new(patch), Box::new(audit), reply)).await
    }

    pub async fn delist(&self, id: i64, audit: AuditEntry) -> Reply<Product> {
        self.actor.call(|reply| StockLedgerMessage::Delist(id, Box::new(audit), reply)).await
    }

    pub async fn restock(&self, id: i64, quantity: i64, audit: AuditEntry) -> Reply<i64> {
        self.actor.call(|reply| StockLedgerMessage::Restock(id, quantity, Box::new(audit), reply)).await
    }

    /// Test hook: makes the stock ledger actor panic.
    pub fn inject_panic(&self) -> Reply<()> {
        self.actor.cast(StockLedgerMessage::InjectPanic)
    }

    pub fn stop(&self) {
        self.actor.stop();
    }
}
