//! A realtime points-and-lottery server for a restaurant chain's WeChat mini-program.
//!
//! How the pieces fit (see `DESIGN.md` in the shared folder for the full picture):
//!
//! - [`config`] reads and validates the environment; production refuses weak secrets.
//! - [`domain`] holds the pure rules and types: the prize wheel (sectors, odds, pity, notable
//!   wins), the points shop, points sources and the ledger's wording, money, the draw limits,
//!   receipt review status, phone numbers, pagination, the business errors. No I/O.
//! - [`store`] is the only place with SQL. Every write is a transaction that commits before the
//!   caller is answered; SQLite (embedded default) and MySQL/MariaDB share one code path.
//! - [`actors`] own the mutable business state. Each customer's wallet is a `WalletActor`, so a
//!   balance is changed by one task at a time and can never race with itself; the PrizeWheel,
//!   the StockLedger and the ReviewQueue own the wheel, the shop's stock and pending receipts.
//! - [`events`] is the in-process stream of committed facts (draws, earnings, check-ins …) that
//!   task progress and the leaderboards follow.
//! - [`notify`] is the live channel's fan-out: the Hub maps customers to their sockets, and
//!   actors publish typed events to it after commit.
//! - [`objects`] stores receipt photos and avatars: S3-compatible, or a local directory.
//! - [`auth`] issues and checks tokens, sign-in codes and admin passwords.
//! - [`http`] is the axum adapter: extractors, the response envelope, limits, the generated
//!   OpenAPI document, one module per API area, and the WebSocket. Handlers parse, send one
//!   message, render the reply.
//! - [`telemetry`] sets up logging and the Prometheus metrics.
//! - [`cluster`] is cluster mode (`CLUSTER_NATS_URL`): the node's lease, which node owns each
//!   customer's wallet (with a fencing number every wallet write carries), wallet calls forwarded
//!   to the owner over NATS, and socket events and facts relayed between nodes.
//! - [`app`] wires it all together from a [`config::Config`]; `main.rs`, the tests and the benches
//!   all build the server through it.

pub mod actors;
pub mod app;
pub mod auth;
pub mod cluster;
pub mod config;
pub mod domain;
pub mod events;
pub mod http;
pub mod notify;
pub mod objects;
pub mod store;
pub mod telemetry;

pub use app::Application;
pub use config::Config;
