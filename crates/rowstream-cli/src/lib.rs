//! The `rowstream` server: serves the tables of a SQLite database as streaming exports.
//!
//! - [`db`]: read-only pools ([`db::open_readonly`]) and the embedded demo database
//!   ([`db::seed_demo`], [`db::demo_db_path`]);
//! - [`http`]: the axum [`http::router`] and [`http::serve`];
//! - [`cli`]: `rowstream serve`;
//! - [`demo`]: the deterministic `tickets` generator.

pub mod cli;
pub mod db;
pub mod demo;
pub mod http;

pub use db::{open_readonly, open_readonly_path, seed_demo};
pub use http::{router, serve};
