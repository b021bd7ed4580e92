//! A realtime points-and-lottery server for a restaurant chain's WeChat mini-program.
//!
//! How the pieces fit (see `DESIGN.md` in the shared folder for the full picture):
//!
//! - [`config`] reads and validates the environment; production refuses weak secrets.
//! - [`domain`] holds the pure rules and types: phone numbers, points sources, pagination, the
//!   business errors. No I/O.
//! - [`store`] is the only place with SQL. Every write is a transaction that commits before the
//!   caller is answered; SQLite (embedded default) and MySQL/MariaDB share one code path.
//! - [`actors`] own the mutable business state. Each user's wallet is a `UserSession` actor, so a
//!   user's balance is changed by one task at a time and can never race with itself.
//! - [`auth`] issues and checks tokens, sign-in codes and admin passwords.
//! - [`http`] is the axum adapter: extractors, the response envelope, limits, one module per API
//!   area. Handlers parse, send one message, render the reply.
//! - [`app`] wires it all together from a [`config::Config`]; `main.rs`, the tests and the benches
//!   all build the server through it.

pub mod actors;
pub mod app;
pub mod auth;
pub mod config;
pub mod domain;
pub mod http;
pub mod notify;
pub mod objects;
pub mod store;
pub mod telemetry;

pub use app::Application;
pub use config::Config;
