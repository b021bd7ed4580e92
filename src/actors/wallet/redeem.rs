//! A points-shop redemption, orchestrated by the customer's wallet: units are reserved on the
//! StockLedger (which checks the product, its stock and the balance), the order and the debit
//! commit together through group commit, then the reservation is settled. Points and stock change
//! together or not at all.

use super::{redemption_code, Caller, RedeemOutcome, WalletState};
use crate::actors::failure::Reply;
use crate::actors::reservations::Settled;
use crate::actors::stock_ledger::ReserveRequest;
use crate::domain::points::LedgerEntry;
use crate::domain::time::now_ms;
use crate::domain::DomainError;
use crate::events::Committed;
use crate::store::shop::RedemptionWrite;

/// A points-shop redemption.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RedeemRequest {
    pub product_id: i64,
    pub quantity: i64,
    pub delivery_info: Option<String>,
    pub idempotency_key: Option<String>,
}

impl WalletState {
    /// After a refused order: whether the store now holds fewer units than were asked, because
    /// another node sold them first (each node's shop ledger learns of the others' orders only
    /// from the store). The customer then hears "sold out", and this node's ledger reads again.
    async fn sold_out_elsewhere(&self, product_id: i64, quantity: i64) -> Option<DomainError> {
        let product = self.deps.store.product(product_id).await.ok().flatten()?;
        if product.stock >= quantity {
            return None;
        }
        self.deps.stock.resync();
        Some(DomainError::OutOfStock { available: product.stock.max(0), requested: quantity })
    }

    pub(super) async fn redeem(&mut self, req: RedeemRequest, caller: Caller<'_>) -> Reply<RedeemOutcome> {
        let key = req.idempotency_key.as_deref();
        let held = self
            .deps
            .stock
            .reserve(ReserveRequest { product_id: req.product_id, quantity: req.quantity, balance: self.available() })
            .await?;
        if let Err(gone) = caller.still_waiting(self.user_id) {
            self.deps.stock.settle(held.reservation, Settled::Released);
            return Err(gone);
        }
        let write = RedemptionWrite {
            fence: self.fence,
            user_id: self.user_id,
            balance_before: self.balance,
            product_id: held.product_id,
            product_name: held.product_name.clone(),
            quantity: held.quantity,
            points_cost: held.unit_points * held.quantity,
            exchange_code: redemption_code(),
            delivery_info: req.delivery_info,
            idempotency_key: req.idempotency_key.clone(),
            at: now_ms(),
            stock_node: self.deps.cluster.as_ref().map(|c| c.node_arc()),
        };
        let at = write.at;
        match self.deps.exchanges.commit(write).await {
            Ok(order) => {
                self.deps.stock.settle(held.reservation, Settled::Committed);
                self.record_commit(order.balance_after, req.idempotency_key, order.clone());
                let debit = LedgerEntry::Redemption { product: &order.product_name, quantity: order.quantity };
                self.tell_balance(-order.points_cost, debit.source(), debit.description(), order.order_id.to_string());
                let user_id = self.user_id;
                self.deps.events.publish(Committed::Exchanged { user_id, at });
                self.deps.events.publish(Committed::Spent { user_id, points: order.points_cost, at });
                Ok(RedeemOutcome { order, replayed: false })
            }
            Err(e) => {
                self.deps.stock.settle(held.reservation, Settled::after_failed_commit(&e));
                if e.nothing_written() && !e.is_unique_violation() {
                    if let Some(sold_out) = self.sold_out_elsewhere(held.product_id, held.quantity).await {
                        self.stale = true;
                        return Err(sold_out.into());
                    }
                }
                self.recover(e, key).await
            }
        }
    }
}
