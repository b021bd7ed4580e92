//! Live updates: the Hub maps customers to their sockets and fans events out. Actors build a
//! typed [`ServerEvent`] after commit and never wait on a socket: the Hub serializes it once,
//! each socket has a bounded outbox, stock values coalesce to the latest per product or prize, a
//! customer's own events stay in order, and a socket that cannot keep up is closed instead of
//! slowing anyone down.

pub mod event;
pub mod hub;
pub mod message;
pub mod ticker;

pub use event::{ServerEvent, Topic, Topics};
pub use hub::{CloseReason, Grant, Hub, Listen, Offered, Outbox, Wire};
pub use message::{ServerMessage, WsServerMessage};
