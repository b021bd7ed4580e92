//! `StockLedger`: owns the shop's product stock. A redemption reserves units here (checking the
//! product is on sale, the stock and the customer's points), the customer's wallet commits the
//! order, and the reservation is settled: committed units are gone, released ones return. Every
//! stock change is published (`stock_update`, coalesced per product) after it commits.
//!
//! Work whose caller stopped waiting is skipped; a reservation whose answer cannot be delivered
//! is released at once, and one never settled expires (see [`super::reservations`]).
//!
//! Cluster mode: the stock this ledger sells from is this node's blocks of each product (lent by
//! the store, see `store::cluster`), refilled from the shelf's pool when an order needs more.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

use super::failure::{caller_gone, Failure, Reply};
use super::reservations::{Holds, Settled, Taken};
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
        outcome: Settled,
    },
    /// Periodic: expire reservations never settled, and resync from the store when memory may
    /// have fallen behind it.
    Sweep,
    /// Cluster mode: another node changed the shop (a product, a restock): read it again.
    Resync,
    Create(Box<ProductPatch>, Box<AuditEntry>, RpcReplyPort<Reply<Product>>),
    Update(i64, Box<ProductPatch>, Box<AuditEntry>, RpcReplyPort<Reply<Product>>),
    Delist(i64, Box<AuditEntry>, RpcReplyPort<Reply<Product>>),
    Restock(i64, i64, Box<AuditEntry>, RpcReplyPort<Reply<i64>>),
    /// Test hook (only reachable when the server runs with test hooks): panic inside the actor.
    InjectPanic,
    /// Test hook: keep the actor busy, as a slow store would.
    Block(Duration),
}

impl StockLedgerMessage {
    /// True when this asks for an answer nobody waits for any more.
    fn caller_gone(&self) -> bool {
        match self {
            StockLedgerMessage::Reserve(_, r) => caller_gone(r, "stock_ledger"),
            StockLedgerMessage::Create(_, _, r)
            | StockLedgerMessage::Update(_, _, _, r)
            | StockLedgerMessage::Delist(_, _, r) => caller_gone(r, "stock_ledger"),
            StockLedgerMessage::Restock(_, _, _, r) => caller_gone(r, "stock_ledger"),
            StockLedgerMessage::Settle { .. }
            | StockLedgerMessage::Sweep
            | StockLedgerMessage::Resync
            | StockLedgerMessage::InjectPanic
            | StockLedgerMessage::Block(_) => false,
        }
    }
}

#[derive(Clone)]
pub struct StockLedger;

#[derive(Clone)]
pub struct StockLedgerArgs {
    pub store: Store,
    pub hub: Hub,
    /// A reservation not settled within this long is dropped and its product re-read.
    pub reservation_ttl: Duration,
    /// Cluster mode: this node's id; its orders come out of its own stock blocks.
    pub stock_node: Option<Arc<str>>,
}

/// The most units of a product a node takes into its block at a time (more when one order asks
/// for more).
const TAKE_AT_MOST: i64 = 50;

/// Cluster mode: this node's share of the shop's stock.
struct ShopBlocks {
    node: Arc<str>,
    /// Products whose shelf was found empty: not asked again before the next sweep.
    pool_empty: HashSet<i64>,
    /// Per product, units outside this node's block as last seen (only for what is shown).
    elsewhere: HashMap<i64, i64>,
}

impl ShopBlocks {
    /// Turns products read from the store (whole stock) into this node's view: its blocks.
    async fn mine(&mut self, store: &Store, products: &mut [Product]) -> crate::store::StoreResult<()> {
        let mine = store.product_blocks(&self.node).await?;
        for p in products.iter_mut() {
            let block = mine.get(&p.id).copied().unwrap_or(0);
            self.elsewhere.insert(p.id, p.stock - block);
            p.stock = block;
        }
        Ok(())
    }
}

struct Shelf {
    name: String,
    points: i64,
    stock: i64,
    on_sale: bool,
}

pub struct StockLedgerState {
    shelves: HashMap<i64, Shelf>,
    /// (product, quantity) per reservation.
    holds: Holds<(i64, i64)>,
    ttl: Duration,
    /// Memory may be behind the store (an expired hold, a settle of unknown outcome or from an
    /// earlier instance): resync at the next chance.
    behind: bool,
    /// When memory was last read from the store; holds older than that may be counted twice.
    resynced_at: Instant,
    store: Store,
    hub: Hub,
    /// Cluster mode only.
    blocks: Option<ShopBlocks>,
}

impl Actor for StockLedger {
    type Msg = StockLedgerMessage;
    type State = StockLedgerState;
    type Arguments = StockLedgerArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: StockLedgerArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let mut products = args.store.products_for_ledger().await?;
        let mut blocks = args.stock_node.clone().map(|node| ShopBlocks {
            node,
            pool_empty: HashSet::new(),
            elsewhere: HashMap::new(),
        });
        if let Some(b) = blocks.as_mut() {
            b.mine(&args.store, &mut products).await?;
        }
        let shelves = products.into_iter().map(|p| (p.id, shelf(&p))).collect();
        myself.send_interval(sweep_period(args.reservation_ttl), || StockLedgerMessage::Sweep);
        Ok(StockLedgerState {
            shelves,
            holds: Holds::default(),
            ttl: args.reservation_ttl,
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
            StockLedgerMessage::Reserve(req, reply) => {
                state.refill(req.product_id, req.quantity).await;
                let result = state.reserve(req, Instant::now());
                if let Err(ractor::MessagingErr::SendErr(Ok(held))) = reply.send(result.map_err(Failure::from)) {
                    // The caller left between our check and the answer: nobody will settle it.
                    state.settle(held.reservation, Settled::Released).await;
                }
            }
            StockLedgerMessage::Settle { reservation, outcome } => state.settle(reservation, outcome).await,
            StockLedgerMessage::Sweep => state.sweep(Instant::now()).await,
            StockLedgerMessage::Resync => {
                state.behind = true;
                state.resync().await;
            }
            StockLedgerMessage::Block(pause) => tokio::time::sleep(pause).await,
            StockLedgerMessage::Create(patch, audit, reply) => {
                let result = match state.store.create_product(&patch, &audit).await {
                    Ok(p) => {
                        if !state.after_admin_change().await {
                            state.shelves.insert(p.id, shelf(&p));
                            state.publish(p.id, StockChange::AdminAdjust);
                        }
                        Ok(p)
                    }
                    Err(e) => Err(e.into()),
                };
                if result.is_ok() {
                    state.tell_other_nodes();
                }
                if result.is_ok() {
                    state.tell_other_nodes();
                }
                if result.is_ok() {
                    state.tell_other_nodes();
                }
                if result.is_ok() {
                    state.tell_other_nodes();
                }
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
                    // Cluster mode: the units went onto the shelf (the pool), not this block.
                    Ok(Some(total)) if state.blocks.is_some() => {
                        state.after_admin_change().await;
                        Ok(total)
                    }
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

/// How often a singleton looks for expired reservations.
pub(crate) fn sweep_period(ttl: Duration) -> Duration {
    (ttl / 4).clamp(Duration::from_millis(100), Duration::from_secs(15))
}

impl StockLedgerState {
    fn reserve(&mut self, req: ReserveRequest, now: Instant) -> Result<StockReservation, DomainError> {
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
        let (product_name, unit_points) = (shelf.name.clone(), shelf.points);
        let reservation = self.holds.hold((req.product_id, req.quantity), now);
        Ok(StockReservation {
            reservation,
            product_id: req.product_id,
            product_name,
            unit_points,
            quantity: req.quantity,
        })
    }

    async fn settle(&mut self, reservation: u64, outcome: Settled) {
        let straddled = self.holds.since(reservation).is_some_and(|since| since <= self.resynced_at);
        match (self.holds.take(reservation), outcome) {
            (Taken::Held(_), Settled::Committed) if straddled => {
                self.behind = true;
                self.resync().await;
            }
            (Taken::Held((product_id, _)), Settled::Committed) => self.publish(product_id, StockChange::Purchase),
            (Taken::Held((product_id, quantity)), Settled::Released) => {
                if let Some(s) = self.shelves.get_mut(&product_id) {
                    s.stock += quantity;
                }
            }
            // Released units of an expired or earlier hold are already what the store says.
            (Taken::Gone | Taken::Foreign, Settled::Released) => {}
            // The store may have taken units memory does not know about: it decides.
            (_, Settled::Unknown) | (Taken::Gone | Taken::Foreign, Settled::Committed) => {
                self.behind = true;
                self.resync().await;
            }
        }
    }

    /// Cluster mode: the other nodes' ledgers read the shop again.
    fn tell_other_nodes(&self) {
        if let Some(relay) = self.hub.relay() {
            relay.catalog(crate::cluster::relay::CatalogChange::Shop);
        }
    }

    /// Drops reservations nobody settled, then catches up with the store if memory may be behind.
    async fn sweep(&mut self, now: Instant) {
        if let Some(b) = self.blocks.as_mut() {
            b.pool_empty.clear();
        }
        let expired = self.holds.expire(now, self.ttl);
        if !expired.is_empty() {
            tracing::warn!(count = expired.len(), "stock reservations expired unsettled; re-reading the store");
            self.behind = true;
        }
        if self.behind {
            self.resync().await;
        }
    }

    /// Memory = the store's stock minus what this instance still holds. Left `behind` (and
    /// retried at the next sweep) when the store cannot be read.
    async fn resync(&mut self) {
        let mut products = match self.store.products_for_ledger().await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "could not re-read product stock; will retry");
                return;
            }
        };
        if let Some(b) = self.blocks.as_mut() {
            b.pool_empty.clear();
            if let Err(e) = b.mine(&self.store, &mut products).await {
                tracing::warn!(error = %e, "could not re-read this node's stock blocks; will retry");
                return;
            }
        }
        for p in products {
            let held: i64 = self.holds.held().filter(|(id, _)| *id == p.id).map(|(_, q)| q).sum();
            let mut fresh = shelf(&p);
            fresh.stock = p.stock - held;
            let changed = self.shelves.get(&p.id).is_none_or(|s| s.stock != fresh.stock);
            self.shelves.insert(p.id, fresh);
            if changed {
                self.publish(p.id, StockChange::AdminAdjust);
            }
        }
        self.behind = false;
        self.resynced_at = Instant::now();
    }

    async fn update(&mut self, id: i64, patch: &ProductPatch, audit: &AuditEntry) -> Reply<Product> {
        let held: i64 = self.holds.held().filter(|(p, _)| *p == id).map(|(_, q)| q).sum();
        if patch.stock.is_some() && held > 0 {
            // Setting an absolute stock while units are mid-commit would double count them.
            return Err(DomainError::invalid(
                "stock",
                "redemptions of this product are in progress; use restock or retry",
            )
            .into());
        }
        let p = self.store.update_product(id, patch, audit).await?.ok_or(DomainError::ProductUnavailable)?;
        if self.after_admin_change().await {
            return Ok(p);
        }
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
            // Cluster mode: this node's block and what it last saw elsewhere.
            let elsewhere = self.blocks.as_ref().and_then(|b| b.elsewhere.get(&product_id)).copied().unwrap_or(0);
            let stock = s.stock + elsewhere;
            self.hub.broadcast_latest(ServerEvent::StockUpdate(StockUpdate { product_id, stock, operation }));
        }
    }

    /// Cluster mode, before a reservation: when this node's block of the product cannot cover
    /// the order, take another block from the shelf (unless it was found empty since the last
    /// sweep).
    async fn refill(&mut self, product_id: i64, quantity: i64) {
        let (Some(b), Some(shelf)) = (self.blocks.as_mut(), self.shelves.get_mut(&product_id)) else {
            return;
        };
        if !shelf.on_sale || quantity <= 0 || shelf.stock >= quantity || b.pool_empty.contains(&product_id) {
            return;
        }
        let short = quantity - shelf.stock;
        match self.store.take_product_block(product_id, &b.node, short, TAKE_AT_MOST.max(short)).await {
            Ok((0, _)) => {
                b.pool_empty.insert(product_id);
            }
            Ok((n, pool)) => {
                shelf.stock += n;
                let others = b.elsewhere.entry(product_id).or_default();
                *others = (*others - n).max(pool);
            }
            Err(e) => {
                tracing::warn!(error = %e, product_id, "could not take a stock block; the product stays sold out here until the next sweep");
                b.pool_empty.insert(product_id);
            }
        }
    }

    /// Cluster mode, after an admin changed a product's stock in the store: read this node's
    /// view again (its blocks may have gone back to the shelf).
    async fn after_admin_change(&mut self) -> bool {
        if self.blocks.is_none() {
            return false;
        }
        self.behind = true;
        self.resync().await;
        true
    }
}

/// The live StockLedger, restarted from the store by its supervisor after a failure.
#[derive(Clone)]
pub struct StockHandle {
    actor: Supervised<StockLedger>,
}

impl StockHandle {
    pub async fn start(args: StockLedgerArgs, call_timeout: Duration) -> anyhow::Result<StockHandle> {
        Ok(StockHandle { actor: Supervised::start("stock_ledger", StockLedger, args, call_timeout).await? })
    }

    pub async fn reserve(&self, req: ReserveRequest) -> Reply<StockReservation> {
        self.actor.call(|reply| StockLedgerMessage::Reserve(req, reply)).await
    }

    pub fn settle(&self, reservation: u64, outcome: Settled) {
        self.actor.deliver(StockLedgerMessage::Settle { reservation, outcome });
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

    /// Test hook: keeps the stock ledger busy for `pause`.
    pub fn block(&self, pause: Duration) -> Reply<()> {
        self.actor.cast(StockLedgerMessage::Block(pause))
    }

    /// Cluster mode: another node changed the shop.
    pub fn resync(&self) {
        self.actor.deliver(StockLedgerMessage::Resync);
    }

    pub fn stop(&self) {
        self.actor.stop();
    }
}
