//! Opening a database for serving: read-only sessions, a statement timeout, one check
//! query before the pool is handed out.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context as _, bail};
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::{ConnectOptions as _, Connection as _, Executor as _, SqlitePool};

use super::Database;
use super::connect::{DEFAULT_CONNECT_TIMEOUT, Target, reach};

/// Default connections per pool (`--pool-size`).
pub const DEFAULT_POOL_SIZE: u32 = 10;

/// How [`open`] sets up the sessions of a pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenOptions {
    /// Connections in the pool (at least 1). Default [`DEFAULT_POOL_SIZE`].
    pub pool_size: u32,
    /// Longest a statement may run before the server cancels it; `None` for no limit.
    /// PostgreSQL `statement_timeout`, MariaDB `max_statement_time`, MySQL
    /// `max_execution_time`; SQLite has none (a warning is logged).
    pub statement_timeout: Option<Duration>,
    /// Longest wait for a PostgreSQL or MySQL/MariaDB server to accept a connection,
    /// answer and authenticate; `None` for no limit. Default
    /// [`DEFAULT_CONNECT_TIMEOUT`] (5 s). SQLite opens a file and has none.
    pub connect_timeout: Option<Duration>,
    /// PEM file of the certificate authorities a PostgreSQL or MySQL/MariaDB server's
    /// certificate must chain to (`--db-ca`), on top of the Mozilla roots built in; it
    /// replaces the URL's `sslrootcert` (PostgreSQL) or `ssl-ca` (MySQL/MariaDB). Checked
    /// under `sslmode=verify-ca`/`verify-full` (`ssl-mode=VERIFY_CA`/`VERIFY_IDENTITY`).
    /// Default `None`.
    pub ca_file: Option<PathBuf>,
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self {
            pool_size: DEFAULT_POOL_SIZE,
            statement_timeout: None,
            connect_timeout: Some(DEFAULT_CONNECT_TIMEOUT),
            ca_file: None,
        }
    }
}

/// Opens a read-only pool on a database URL: `sqlite:PATH`, `postgres://…`
/// (`postgresql://`), or `mysql://…` (`mariadb://`, for MySQL and MariaDB).
///
/// - SQLite: the file is opened read-only and never created.
/// - TLS: as `psql` and `mysql` do it, from the URL: `sslmode=disable|prefer|require|
///   verify-ca|verify-full` for PostgreSQL (`allow` is read as `disable`),
///   `ssl-mode=DISABLED|PREFERRED|REQUIRED|VERIFY_CA|VERIFY_IDENTITY` for MySQL/MariaDB;
///   `prefer`/`PREFERRED` when absent (TLS when the server offers it). Certificates are
///   checked against the Mozilla roots built in (`webpki-roots`) plus the URL's
///   `sslrootcert`/`ssl-ca` file or [`OpenOptions::ca_file`].
/// - PostgreSQL: every session starts with `default_transaction_read_only = on` (set in
///   the startup packet, after any `options` in the URL, so the URL cannot turn it off)
///   and, with a timeout, `statement_timeout`.
/// - MySQL/MariaDB: every new connection runs `SET SESSION TRANSACTION READ ONLY` and,
///   with a timeout, `SET SESSION max_statement_time` (MariaDB, seconds) or
///   `max_execution_time` (MySQL, milliseconds).
///
/// Statement logging is off: an export runs as long as its client reads and is not a
/// slow statement to warn about. A server is reached once, within
/// `options.connect_timeout`, before the pool opens; one query checks the pool before it
/// is returned.
///
/// # Errors
///
/// If the URL's scheme is none of these, the URL is invalid, or the database cannot be
/// reached: for a server, a [`ConnectError`](super::ConnectError) naming its address and
/// the cause (connection refused, DNS, timeout, TLS, authentication).
pub async fn open(url: &str, options: &OpenOptions) -> anyhow::Result<Database> {
    let scheme = url.split_once(':').map(|(scheme, _)| scheme).unwrap_or("");
    match scheme {
        "sqlite" => {
            let connect = SqliteConnectOptions::from_str(url)
                .with_context(|| format!("invalid SQLite URL {url:?}"))?;
            if options.statement_timeout.is_some() {
                tracing::warn!("SQLite has no statement timeout; --statement-timeout is ignored");
            }
            let pool = open_readonly_with(connect, options.pool_size)
                .await
                .with_context(|| format!("cannot open {url}"))?;
            Ok(Database::Sqlite(pool))
        }
        "postgres" | "postgresql" => {
            let connect = PgConnectOptions::from_str(url).context("invalid PostgreSQL URL")?;
            Ok(Database::Postgres(open_postgres(connect, options).await?))
        }
        "mysql" | "mariadb" => {
            let url = match url.strip_prefix("mariadb:") {
                Some(rest) => format!("mysql:{rest}"),
                None => url.to_owned(),
            };
            let connect =
                MySqlConnectOptions::from_str(&url).context("invalid MySQL/MariaDB URL")?;
            let (pool, mariadb) = open_mysql(connect, options).await?;
            Ok(Database::MySql { pool, mariadb })
        }
        _ => bail!("unsupported database URL: it must start with sqlite:, postgres:// or mysql://"),
    }
}

/// A PostgreSQL pool whose sessions are read-only, with `options`' timeouts.
///
/// # Errors
///
/// A [`ConnectError`](super::ConnectError) if the server cannot be reached within
/// `options.connect_timeout`; any error of the pool's first query.
pub async fn open_postgres(
    connect: PgConnectOptions,
    options: &OpenOptions,
) -> anyhow::Result<PgPool> {
    let mut connect = match &options.ca_file {
        Some(path) => connect.ssl_root_cert(path),
        None => connect,
    };
    connect = connect
        .options([("default_transaction_read_only", "on")])
        .disable_statement_logging();
    if let Some(timeout) = options.statement_timeout {
        connect = connect.options([("statement_timeout", format!("{}ms", timeout.as_millis()))]);
    }
    let target = Target::new(
        "PostgreSQL",
        connect.get_host(),
        connect.get_port(),
        connect
            .get_socket()
            .map(|dir| dir.join(format!(".s.PGSQL.{}", connect.get_port()))),
    );
    let probe = reach(&connect, &target, options.connect_timeout).await?;
    // Reached; a failure to say goodbye changes nothing.
    let _ = probe.close().await;
    let opened = async {
        let pool = PgPoolOptions::new()
            .max_connections(options.pool_size.max(1))
            .connect_with(connect)
            .await?;
        sqlx::query("SELECT 1").execute(&pool).await?;
        Ok::<_, sqlx::Error>(pool)
    };
    opened
        .await
        .with_context(|| format!("cannot open the PostgreSQL database at {}", target.at))
}

/// A MySQL/MariaDB pool whose sessions are read-only, with `options`' timeouts, and
/// whether the server is MariaDB.
///
/// # Errors
///
/// A [`ConnectError`](super::ConnectError) if the server cannot be reached within
/// `options.connect_timeout`; any error of the first queries.
pub async fn open_mysql(
    connect: MySqlConnectOptions,
    options: &OpenOptions,
) -> anyhow::Result<(MySqlPool, bool)> {
    let connect = match &options.ca_file {
        Some(path) => connect.ssl_ca(path),
        None => connect,
    }
    .disable_statement_logging();
    let target = Target::new(
        "MySQL/MariaDB",
        connect.get_host(),
        connect.get_port(),
        connect.get_socket().cloned(),
    );
    let mut probe = reach(&connect, &target, options.connect_timeout).await?;
    let opened = async {
        let version: String = sqlx::query_scalar("SELECT VERSION()")
            .fetch_one(&mut probe)
            .await?;
        probe.close().await?;
        let mariadb = version.contains("MariaDB");
        let pool = mysql_pool(connect, options, mariadb).await?;
        Ok::<_, sqlx::Error>((pool, mariadb))
    };
    opened
        .await
        .with_context(|| format!("cannot open the MySQL/MariaDB database at {}", target.at))
}

/// The pool of [`open_mysql`], once the server is known to be MariaDB or not.
async fn mysql_pool(
    connect: MySqlConnectOptions,
    options: &OpenOptions,
    mariadb: bool,
) -> Result<MySqlPool, sqlx::Error> {
    let mut session = vec!["SET SESSION TRANSACTION READ ONLY".to_owned()];
    if let Some(timeout) = options.statement_timeout {
        session.push(if mariadb {
            // Seconds, with microsecond precision.
            format!(
                "SET SESSION max_statement_time = {}.{:06}",
                timeout.as_secs(),
                timeout.subsec_micros()
            )
        } else {
            // Milliseconds; applies to SELECT, which is all that runs here.
            format!(
                "SET SESSION max_execution_time = {}",
                timeout.as_millis().max(1)
            )
        });
    }
    let session: std::sync::Arc<[String]> = session.into();
    let pool = MySqlPoolOptions::new()
        .max_connections(options.pool_size.max(1))
        .after_connect(move |conn, _meta| {
            let session = session.clone();
            Box::pin(async move {
                for sql in session.iter() {
                    conn.execute(sql.as_str()).await?;
                }
                Ok(())
            })
        })
        .connect_with(connect)
        .await?;
    sqlx::query("SELECT 1").execute(&pool).await?;
    Ok(pool)
}

/// Opens a read-only connection pool on a `sqlite:` URL (`sqlite://PATH`, `sqlite:PATH`,
/// with optional `?` parameters as sqlx reads them).
///
/// Whatever the URL says, the pool is read-only and never creates the file.
///
/// # Errors
///
/// If the URL is not a `sqlite:` URL, or the database cannot be opened and read.
pub async fn open_readonly(url: &str) -> anyhow::Result<SqlitePool> {
    if !url.starts_with("sqlite:") {
        bail!("unsupported database URL {url:?}: only sqlite:// URLs are supported");
    }
    let options = SqliteConnectOptions::from_str(url)
        .with_context(|| format!("invalid SQLite URL {url:?}"))?;
    open_readonly_with(options, DEFAULT_POOL_SIZE)
        .await
        .with_context(|| format!("cannot open {url}"))
}

/// Opens a read-only connection pool on the SQLite file at `path`.
///
/// # Errors
///
/// If the file does not exist or is not a readable SQLite database.
pub async fn open_readonly_path(path: &Path) -> anyhow::Result<SqlitePool> {
    open_readonly_with(
        SqliteConnectOptions::new().filename(path),
        DEFAULT_POOL_SIZE,
    )
    .await
    .with_context(|| format!("cannot open {}", path.display()))
}

/// [`open_readonly_path`] with `pool_size` connections.
///
/// # Errors
///
/// As [`open_readonly_path`].
pub async fn open_readonly_path_with(path: &Path, pool_size: u32) -> anyhow::Result<SqlitePool> {
    open_readonly_with(SqliteConnectOptions::new().filename(path), pool_size)
        .await
        .with_context(|| format!("cannot open {}", path.display()))
}

/// The demo database at `path` (written by [`super::seed_demo`]), opened read-only with
/// `pool_size` connections.
///
/// # Errors
///
/// As [`open_readonly_path`].
pub async fn open_demo(path: &Path, pool_size: u32) -> anyhow::Result<Database> {
    open_readonly_path_with(path, pool_size)
        .await
        .map(Database::Sqlite)
}

/// Rows the SQLite connection's worker thread may read ahead of the export (sqlx's
/// default is 50). Each handoff between that thread and the export wakes a task; a deeper
/// channel lets the worker read a run of rows per wake-up, which makes a whole-table
/// export faster (BENCHMARKS.md) for a few hundred kilobytes of rows held per export.
const SQLITE_ROW_BUFFER: usize = 1024;

async fn open_readonly_with(
    options: SqliteConnectOptions,
    pool_size: u32,
) -> anyhow::Result<SqlitePool> {
    // Exports run as long as the client reads: not a "slow statement" to warn about.
    let options = options
        .read_only(true)
        .create_if_missing(false)
        .row_buffer_size(SQLITE_ROW_BUFFER)
        .disable_statement_logging();
    let pool = SqlitePoolOptions::new()
        .max_connections(pool_size.max(1))
        .connect_with(options)
        .await?;
    // Fail now, not on the first request, if the file is not a database.
    sqlx::query("SELECT count(*) FROM sqlite_schema")
        .execute(&pool)
        .await?;
    Ok(pool)
}
