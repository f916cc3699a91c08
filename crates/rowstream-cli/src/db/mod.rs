//! Everything that differs per database: opening a read-only pool ([`open()`], which
//! names the address and the cause when a server cannot be reached: [`ConnectError`]), the
//! [`Database`] value whose methods answer what differs, the [`catalog`] of tables, the
//! fetchers an export reads through ([`chunks`]), and the embedded demo database
//! ([`seed_demo`], [`demo_db_path`]). No other module of the crate matches on the backend.

pub mod catalog;
pub mod chunks;
pub mod columns;
mod connect;
mod open;
mod prepare;
pub mod proto;
mod seed;
pub mod slice;

use sqlx::SqlitePool;
use sqlx::mysql::MySqlPool;
use sqlx::postgres::PgPool;

pub use connect::{Cause, ConnectError, DEFAULT_CONNECT_TIMEOUT};
pub use open::{
    DEFAULT_POOL_SIZE, OpenOptions, open, open_demo, open_mysql, open_postgres, open_readonly,
    open_readonly_path, open_readonly_path_with,
};
pub use prepare::{check_queries, column_names};
pub use seed::{
    DEFAULT_DEMO_ROWS, DEMO_APPLICATION_ID, SEED_ROWS_PER_STATEMENT, Seeded, TICKETS_SCHEMA,
    demo_db_path, demo_db_path_from, demo_rows_in, seed_demo, seed_demo_with_progress,
};

/// A served database: one of the three pools, each opened read-only.
#[derive(Debug, Clone)]
pub enum Database {
    /// A SQLite file, opened read-only.
    Sqlite(SqlitePool),
    /// A PostgreSQL server, with `default_transaction_read_only = on` in every session.
    Postgres(PgPool),
    /// A MySQL or MariaDB server, with `SET SESSION TRANSACTION READ ONLY` in every session.
    MySql {
        /// The pool.
        pool: MySqlPool,
        /// `true` for MariaDB (its JSON columns are `LONGTEXT` with a `json_valid` check).
        mariadb: bool,
    },
}

/// A pool's open connections at one moment ([`Database::connections`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connections {
    /// Connections lent out (to an export or a catalog query).
    pub in_use: u32,
    /// Connections open and waiting in the pool.
    pub idle: u32,
}

impl From<SqlitePool> for Database {
    fn from(pool: SqlitePool) -> Self {
        Self::Sqlite(pool)
    }
}

impl From<PgPool> for Database {
    fn from(pool: PgPool) -> Self {
        Self::Postgres(pool)
    }
}

/// What an SQLite export's reader holds besides its page cache and batches, in bytes:
/// 768 KiB. SQLite's own state of the reader's connection (lookaside slots, 120 KiB; the
/// schema; the prepared statement), the touched part of the reader thread's stack, and
/// what glibc's arena of that thread keeps free between two trims (up to 256 KiB at the
/// top of its heap, and free chunks smaller than a page in between).
pub const SQLITE_READER_OVERHEAD: usize = 768 * 1024;

impl Database {
    /// `sqlite`, `postgres`, `mysql` or `mariadb`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgres",
            Self::MySql { mariadb: true, .. } => "mariadb",
            Self::MySql { mariadb: false, .. } => "mysql",
        }
    }

    /// The most connections the pool opens.
    pub fn pool_size(&self) -> u32 {
        match self {
            Self::Sqlite(pool) => pool.options().get_max_connections(),
            Self::Postgres(pool) => pool.options().get_max_connections(),
            Self::MySql { pool, .. } => pool.options().get_max_connections(),
        }
    }

    /// The pool's open connections now, in use and idle.
    pub fn connections(&self) -> Connections {
        let (size, idle) = match self {
            Self::Sqlite(pool) => (pool.size(), pool.num_idle()),
            Self::Postgres(pool) => (pool.size(), pool.num_idle()),
            Self::MySql { pool, .. } => (pool.size(), pool.num_idle()),
        };
        // Two readings, not one snapshot: idle may briefly exceed the size.
        let idle = u32::try_from(idle).unwrap_or(u32::MAX);
        Connections {
            in_use: size.saturating_sub(idle),
            idle,
        }
    }

    /// `name` quoted as an SQL identifier of this database: [`catalog::quote_ident`]
    /// (double quotes) for PostgreSQL and SQLite, [`catalog::quote_mysql_ident`]
    /// (backticks) for MySQL/MariaDB.
    pub fn quote_ident(&self, name: &str) -> String {
        match self {
            Self::MySql { .. } => catalog::quote_mysql_ident(name),
            Self::Sqlite(_) | Self::Postgres(_) => catalog::quote_ident(name),
        }
    }

    /// What one export's reader holds at most, in bytes, besides its rows: for an SQLite
    /// file read in one query, the direct reader's page cache and batches
    /// ([`rowstream::sqlite::direct::MEMORY_BOUND`], 832 KiB) and
    /// [`SQLITE_READER_OVERHEAD`] (768 KiB); for PostgreSQL and
    /// MySQL/MariaDB, the connection's read and write buffers (8 KiB each, given back
    /// after a larger row when the export ends). A table read by keyset pagination adds
    /// up to three pages of `batch_size` rows (the page being encoded and two read
    /// ahead), which depends on its rows' size and is not counted here.
    pub fn reader_memory_bound(&self) -> usize {
        const DRIVER_BUFFERS: usize = 2 * 8 * 1024;
        match self {
            Self::Sqlite(_) => rowstream::sqlite::direct::MEMORY_BOUND + SQLITE_READER_OVERHEAD,
            Self::Postgres(_) | Self::MySql { .. } => DRIVER_BUFFERS,
        }
    }

    /// One round trip to the database on a pooled connection (opened if none is idle):
    /// what readiness asks.
    ///
    /// # Errors
    ///
    /// If no connection can be had or the server does not answer.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        use sqlx::Connection as _;
        match self {
            Self::Sqlite(pool) => pool.acquire().await?.ping().await,
            Self::Postgres(pool) => pool.acquire().await?.ping().await,
            Self::MySql { pool, .. } => pool.acquire().await?.ping().await,
        }
    }

    /// Closes the pool, waiting for connections in use to come back.
    pub async fn close(&self) {
        match self {
            Self::Sqlite(pool) => pool.close().await,
            Self::Postgres(pool) => pool.close().await,
            Self::MySql { pool, .. } => pool.close().await,
        }
    }
}
