//! The actors that own mutable business state. A message to the owner is the only way to change
//! that state, so changes are serialized in memory without locks, and each is written through to
//! the store before it is acknowledged.

pub mod failure;
pub mod prize_wheel;
pub mod review_queue;
pub mod stock_ledger;
pub mod supervision;
pub mod user_session;
pub mod wallets;

pub use failure::{Failure, Reply};
pub use prize_wheel::WheelHandle;
pub use review_queue::ReviewHandle;
pub use stock_ledger::StockHandle;
pub use user_session::{PointsChange, WalletSnapshot};
pub use wallets::Wallets;

/// How long any caller waits for an actor's reply before giving up (the actor may still finish).
pub const CALL_TIMEOUT_MS: u64 = 15_000;
