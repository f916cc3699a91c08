//! Everything that differs per database: opening a read-only pool ([`open`]), the
//! [`Database`] value whose methods answer what differs, the [`catalog`] of tables, the
//! fetchers an export reads through ([`chunks`]), and the embedded demo database
//! ([`seed_demo`], [`demo_db_path`]). No other module of the crate matches on the backend.

pub mod catalog;
pub mod chunks;
mod open;
mod prepare;
mod seed;

use sqlx::SqlitePool;
use sqlx::mysql::MySqlPool;
use sqlx::postgres::PgPool;

pub use open::{
    DEFAULT_POOL_SIZE, OpenOptions, open, open_mysql, open_postgres, open_readonly,
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

    /// Closes the pool, waiting for connections in use to come back.
    pub async fn close(&self) {
        match self {
            Self::Sqlite(pool) => pool.close().await,
            Self::Postgres(pool) => pool.close().await,
            Self::MySql { pool, .. } => pool.close().await,
        }
    }
}
