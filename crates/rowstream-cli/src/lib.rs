//! The `rowstream` server: serves the tables and named queries of a PostgreSQL,
//! MySQL/MariaDB or SQLite database as streaming exports.
//!
//! - [`access`]: the bearer token, the tables allowed or denied, the warning for a server
//!   reachable from other hosts without a token;
//! - [`db`]: everything that differs per database: read-only pools ([`db::open`],
//!   [`db::open_readonly`]), the [`db::catalog`] of tables (which exist, and whether each
//!   is read by keyset pagination), the named queries' checks ([`db::check_queries`]), the
//!   export of a table or a named query as a chunk stream in any format ([`db::chunks`]),
//!   and the embedded demo database ([`db::seed_demo`], [`db::demo_db_path`]);
//! - [`config`]: the TOML configuration file and its named queries;
//! - [`http`]: the axum [`http::router`] with its endpoints;
//! - [`server`]: [`server::serve`], the accept loop with its timeouts and graceful
//!   shutdown, and the Prometheus recorder;
//! - [`index`]: the HTML index page;
//! - [`url`]: the query parameters the server reads itself, path segment encoding;
//! - [`slice`]: a table's slice as a request asks it (`select=`, filters, `order=`),
//!   parsed without a database (`db::slice` makes it SQL);
//! - [`cli`]: `rowstream serve` and `rowstream export`;
//! - [`settings`]: the flags both commands take, settled once against the config file;
//! - [`export`]: `rowstream export`, one table or named query to a file or stdout;
//! - [`resume`]: where a partial NDJSON or CSV export file stops (`export --resume`);
//! - [`stdout`]: writes to stdout, and [`stdout::Closed`] when its reader has gone;
//! - [`demo`]: the deterministic `tickets` generator.
//!
//! Modules import downward only (`tests/layout.rs` checks it): `url`, `access`, `demo`,
//! `stdout`, `resume` and `server` nothing of the crate; `slice` only `url`; `config` the first two; `db` the config, the slice and the
//! demo generator; `index` and `http` (the router) what they serve from; `settings`,
//! `export` and `cli` (the commands) sit on top. Only `db` tells the backends apart.

pub mod access;
pub mod cli;
pub mod config;
pub mod db;
pub mod demo;
pub mod export;
pub mod http;
pub mod index;
mod progress;
pub mod resume;
pub mod server;
pub mod settings;
pub mod slice;
pub mod stdout;
pub mod url;

pub use db::{Database, open, open_readonly, open_readonly_path, seed_demo};
pub use http::{Settings, router, router_with};
pub use server::serve;
