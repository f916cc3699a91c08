//! The real PostgreSQL and MariaDB servers: URLs from the environment, and a scratch
//! schema or database per test, dropped when the test ends (even when it fails), so
//! parallel test processes never see each other's tables.

use std::str::FromStr as _;
use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions as _, Connection as _};

/// The URL in `var`, or `None` with a note; with `CI=true` a missing URL fails the test.
fn url(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) => Some(url),
        Err(_) => {
            assert!(!super::on_ci(), "{var} must be set in CI");
            eprintln!("skipped: {var} is not set");
            None
        }
    }
}

/// `ROWSTREAM_TEST_POSTGRES_URL`.
pub fn postgres_url() -> Option<String> {
    url("ROWSTREAM_TEST_POSTGRES_URL")
}

/// `ROWSTREAM_TEST_MYSQL_URL`.
pub fn mysql_url() -> Option<String> {
    url("ROWSTREAM_TEST_MYSQL_URL")
}

/// A name no other test process uses: `prefix_<pid>_<n>_<nanos>`, lowercase ASCII.
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}_{}_{}_{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

enum Admin {
    Postgres(PgConnectOptions),
    MySql(MySqlConnectOptions),
}

/// A scratch PostgreSQL schema or MariaDB database, dropped on drop.
pub struct Scratch {
    /// The schema or database name.
    pub name: String,
    admin: Admin,
}

impl Scratch {
    /// A new PostgreSQL schema; `None` when the URL is not set (outside CI).
    pub async fn postgres(prefix: &str) -> Option<Self> {
        let url = postgres_url()?;
        let admin = PgConnectOptions::from_str(&url).expect("a PostgreSQL URL");
        let name = unique(prefix);
        let mut conn = admin.connect().await.expect("connect to PostgreSQL");
        sqlx::query(&format!("CREATE SCHEMA {name}"))
            .execute(&mut conn)
            .await
            .expect("create schema");
        conn.close().await.expect("close");
        Some(Self {
            name,
            admin: Admin::Postgres(admin),
        })
    }

    /// A new MariaDB/MySQL database; `None` when the URL is not set (outside CI).
    pub async fn mysql(prefix: &str) -> Option<Self> {
        let url = mysql_url()?;
        let admin = MySqlConnectOptions::from_str(&url).expect("a MySQL URL");
        let name = unique(prefix);
        let mut conn = admin.connect().await.expect("connect to MariaDB");
        sqlx::query(&format!(
            "CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci"
        ))
        .execute(&mut conn)
        .await
        .expect("create database");
        conn.close().await.expect("close");
        Some(Self {
            name,
            admin: Admin::MySql(admin),
        })
    }

    /// Connect options whose current schema (PostgreSQL) is this one.
    pub fn pg_options(&self) -> PgConnectOptions {
        match &self.admin {
            Admin::Postgres(admin) => admin.clone().options([("search_path", self.name.as_str())]),
            Admin::MySql(_) => panic!("not a PostgreSQL scratch schema"),
        }
    }

    /// Connect options whose current database (MySQL) is this one.
    pub fn mysql_options(&self) -> MySqlConnectOptions {
        match &self.admin {
            Admin::MySql(admin) => admin.clone().database(&self.name),
            Admin::Postgres(_) => panic!("not a MySQL scratch database"),
        }
    }

    /// A writable pool in this schema, for fixtures.
    pub async fn pg_pool(&self, max: u32) -> PgPool {
        PgPoolOptions::new()
            .max_connections(max)
            .connect_with(self.pg_options())
            .await
            .expect("connect to PostgreSQL")
    }

    /// A writable pool in this database, for fixtures.
    pub async fn mysql_pool(&self, max: u32) -> MySqlPool {
        MySqlPoolOptions::new()
            .max_connections(max)
            .connect_with(self.mysql_options())
            .await
            .expect("connect to MariaDB")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let name = self.name.clone();
        let admin = match &self.admin {
            Admin::Postgres(options) => Admin::Postgres(options.clone()),
            Admin::MySql(options) => Admin::MySql(options.clone()),
        };
        // On a thread of its own with its own runtime: this may run while a test panics,
        // inside or outside a runtime.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async move {
                match admin {
                    Admin::Postgres(options) => {
                        let mut conn = options.connect().await?;
                        sqlx::query(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
                            .execute(&mut conn)
                            .await?;
                        conn.close().await
                    }
                    Admin::MySql(options) => {
                        let mut conn = options.connect().await?;
                        sqlx::query(&format!("DROP DATABASE IF EXISTS {name}"))
                            .execute(&mut conn)
                            .await?;
                        conn.close().await
                    }
                }
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!(
                "could not drop the scratch schema or database {}",
                self.name
            );
        }
    }
}
