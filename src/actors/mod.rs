//! The actors that own mutable business state. A message to the owner is the only way to change
//! that state, so changes are serialized in memory without locks, and each is written through to
//! the store before it is acknowledged.
//!
//! ```text
//!   handlers ──► ReviewQueue ──► Wallet ─┬─► PrizeWheel
//!                                        └─► StockLedger
//!   every actor: commit through store/, then publish to the Hub (notify/)
//! ```
//!
//! Handlers send each request to the one actor that owns it (a draw to the customer's Wallet, a
//! receipt decision to the ReviewQueue, a wheel edit to the PrizeWheel); the owners call down
//! this graph and never up it, so no actor ever waits on one that is waiting on it.
//!
//! - [`wallet`]: one `WalletActor` per active customer (balance, pity, draw limits, idempotency),
//!   found or spawned through [`Wallets`]. It orchestrates draws (spinning the PrizeWheel) and
//!   redemptions (reserving on the StockLedger).
//! - [`prize_wheel`]: a campaign's sectors, their odds, limited prize stock and server seed
//!   (one per campaign that can be drawn on, kept by [`wheels`]).
//! - [`stock_ledger`]: the shop's product stock (one singleton).
//! - [`review_queue`]: the pending receipt reviews; an approval asks the customer's wallet to
//!   credit the points (one singleton).
//! - [`leaderboard`]: the day/week/month standings, rebuilt from the ledger at start and then
//!   following the event stream (`events`).
//! - [`tasks`]: task progress from the store, and the watcher that pushes `task_completed`.
//! - [`supervision`]: restarts a failed singleton from the store; the wallets have their own
//!   supervisor in [`wallet::registry`].

pub mod failure;
pub mod leaderboard;
pub mod prize_wheel;
pub mod reservations;
pub mod review_queue;
pub mod stock_ledger;
pub mod supervision;
pub mod tasks;
pub mod wallet;
pub mod wheels;

pub use failure::{Failure, Reply};
pub use prize_wheel::WheelHandle;
pub use review_queue::{Decided, Decision, NewReceipt, ReviewHandle, Verdict};
pub use stock_ledger::StockHandle;
pub use wallet::{
    ApprovalRequest, ChangeOutcome, DrawOutcome, DrawRequest, PointsChange, RedeemOutcome, RedeemRequest, WalletDeps,
    WalletSnapshot, Wallets,
};
pub use wheels::Wheels;

/// How long a caller waits for an actor's reply before giving up, unless `ACTOR_CALL_TIMEOUT_MS`
/// (tests only) says otherwise. Work whose caller gave up is skipped, never done late.
pub const CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

/// How long a reservation on the PrizeWheel or the StockLedger may stay unsettled before it
/// expires, unless `RESERVATION_TTL_MS` (tests only) says otherwise.
pub const RESERVATION_TTL: std::time::Duration = std::time::Duration::from_secs(60);
