//! Opening databases for serving (read-only sessions, a statement timeout), and the
//! embedded demo database: where it lives, and seeding it from [`crate::demo::tickets`].

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlPool, MySqlPoolOptions};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqliteLockingMode,
    SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{ConnectOptions as _, Connection as _, Executor as _, SqlitePool};
use tokio::sync::mpsc;

use crate::demo::{self, Ticket};

/// Default number of demo tickets (`--demo-rows`).
pub const DEFAULT_DEMO_ROWS: u64 = 1_000_000;

/// Rows per `INSERT` statement while seeding (11 parameters each).
pub const SEED_ROWS_PER_STATEMENT: usize = 100;

/// `PRAGMA application_id` of a demo database written by [`seed_demo`] ("RSDM"): a file at
/// the demo path without it is not ours and is replaced.
pub const DEMO_APPLICATION_ID: i32 = 0x5253_444D;

/// The demo `tickets` table.
pub const TICKETS_SCHEMA: &str = "CREATE TABLE tickets (
    id INTEGER PRIMARY KEY,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL,
    priority INTEGER NOT NULL,
    assignee TEXT NULL,
    reporter TEXT NOT NULL,
    tags TEXT NOT NULL,
    score REAL NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
)";

const TICKET_COLUMNS: usize = 11;

/// Default connections per pool (`--pool-size`).
pub const DEFAULT_POOL_SIZE: u32 = 10;

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

/// How [`open`] sets up the sessions of a pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenOptions {
    /// Connections in the pool (at least 1). Default [`DEFAULT_POOL_SIZE`].
    pub pool_size: u32,
    /// Longest a statement may run before the server cancels it; `None` for no limit.
    /// PostgreSQL `statement_timeout`, MariaDB `max_statement_time`, MySQL
    /// `max_execution_time`; SQLite has none (a warning is logged).
    pub statement_timeout: Option<Duration>,
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self {
            pool_size: DEFAULT_POOL_SIZE,
            statement_timeout: None,
        }
    }
}

/// Opens a read-only pool on a database URL: `sqlite:PATH`, `postgres://…`
/// (`postgresql://`), or `mysql://…` (`mariadb://`, for MySQL and MariaDB).
///
/// - SQLite: the file is opened read-only and never created.
/// - PostgreSQL: every session starts with `default_transaction_read_only = on` (set in
///   the startup packet, after any `options` in the URL, so the URL cannot turn it off)
///   and, with a timeout, `statement_timeout`.
/// - MySQL/MariaDB: every new connection runs `SET SESSION TRANSACTION READ ONLY` and,
///   with a timeout, `SET SESSION max_statement_time` (MariaDB, seconds) or
///   `max_execution_time` (MySQL, milliseconds).
///
/// Statement logging is off: an export runs as long as its client reads and is not a
/// slow statement to warn about. One query checks the pool before it is returned.
///
/// # Errors
///
/// If the URL's scheme is none of these, the URL is invalid, or the database cannot be
/// reached.
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
            let pool = open_postgres(connect, options)
                .await
                .context("cannot open the PostgreSQL database")?;
            Ok(Database::Postgres(pool))
        }
        "mysql" | "mariadb" => {
            let url = match url.strip_prefix("mariadb:") {
                Some(rest) => format!("mysql:{rest}"),
                None => url.to_owned(),
            };
            let connect =
                MySqlConnectOptions::from_str(&url).context("invalid MySQL/MariaDB URL")?;
            let (pool, mariadb) = open_mysql(connect, options)
                .await
                .context("cannot open the MySQL/MariaDB database")?;
            Ok(Database::MySql { pool, mariadb })
        }
        _ => bail!("unsupported database URL: it must start with sqlite:, postgres:// or mysql://"),
    }
}

/// A PostgreSQL pool whose sessions are read-only, with `options`' timeout.
///
/// # Errors
///
/// If the server cannot be reached.
pub async fn open_postgres(
    connect: PgConnectOptions,
    options: &OpenOptions,
) -> Result<PgPool, sqlx::Error> {
    let mut connect = connect
        .options([("default_transaction_read_only", "on")])
        .disable_statement_logging();
    if let Some(timeout) = options.statement_timeout {
        connect = connect.options([("statement_timeout", format!("{}ms", timeout.as_millis()))]);
    }
    let pool = PgPoolOptions::new()
        .max_connections(options.pool_size.max(1))
        .connect_with(connect)
        .await?;
    sqlx::query("SELECT 1").execute(&pool).await?;
    Ok(pool)
}

/// A MySQL/MariaDB pool whose sessions are read-only, with `options`' timeout, and whether
/// the server is MariaDB.
///
/// # Errors
///
/// If the server cannot be reached.
pub async fn open_mysql(
    connect: MySqlConnectOptions,
    options: &OpenOptions,
) -> Result<(MySqlPool, bool), sqlx::Error> {
    let connect = connect.disable_statement_logging();
    let mut probe = MySqlConnection::connect_with(&connect).await?;
    let version: String = sqlx::query_scalar("SELECT VERSION()")
        .fetch_one(&mut probe)
        .await?;
    probe.close().await?;
    let mariadb = version.contains("MariaDB");

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
    Ok((pool, mariadb))
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

/// Where the demo database lives: `$ROWSTREAM_DEMO_DB` if set, else
/// `${XDG_DATA_HOME:-$HOME/.local/share}/rowstream/demo.sqlite`.
///
/// # Errors
///
/// If none of `ROWSTREAM_DEMO_DB`, `XDG_DATA_HOME` and `HOME` is usable.
pub fn demo_db_path() -> anyhow::Result<PathBuf> {
    demo_db_path_from(
        std::env::var_os("ROWSTREAM_DEMO_DB"),
        std::env::var_os("XDG_DATA_HOME"),
        std::env::var_os("HOME"),
    )
}

/// [`demo_db_path`] from explicit values of `ROWSTREAM_DEMO_DB`, `XDG_DATA_HOME` and
/// `HOME`. Empty values count as unset; a relative `XDG_DATA_HOME` is ignored, as the XDG
/// base directory specification asks.
///
/// # Errors
///
/// If no value is usable.
pub fn demo_db_path_from(
    demo_db: Option<OsString>,
    xdg_data_home: Option<OsString>,
    home: Option<OsString>,
) -> anyhow::Result<PathBuf> {
    let set = |value: Option<OsString>| value.filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(path) = set(demo_db) {
        return Ok(path);
    }
    let data_home = set(xdg_data_home)
        .filter(|p| p.is_absolute())
        .or_else(|| set(home).map(|home| home.join(".local").join("share")))
        .context("cannot place the demo database: set ROWSTREAM_DEMO_DB, XDG_DATA_HOME or HOME")?;
    Ok(data_home.join("rowstream").join("demo.sqlite"))
}

/// What [`seed_demo`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seeded {
    /// The demo database file.
    pub path: PathBuf,
    /// Rows in its `tickets` table.
    pub rows: u64,
    /// `true` when an existing file with the same row count was reused as it was.
    pub reused: bool,
    /// Time spent seeding (zero when reused).
    pub elapsed: Duration,
}

impl Seeded {
    /// Rows written per second, if anything was seeded.
    pub fn rows_per_sec(&self) -> Option<f64> {
        let secs = self.elapsed.as_secs_f64();
        (!self.reused && secs > 0.0).then(|| self.rows as f64 / secs)
    }
}

/// Makes sure `path` holds a demo database of `rows` tickets (`demo::tickets(rows)`).
///
/// A file written earlier by this function for the same `rows` is reused untouched.
/// Otherwise a new database is written to a temporary file next to `path` (one
/// transaction, multi-row `INSERT`s, no journal, no syncs until the end), synced, and
/// renamed over `path`, so an interrupted or failed seed — or this future dropped midway —
/// never leaves a partial database at `path`. The row count is kept in
/// `PRAGMA user_version`.
///
/// A progress bar is drawn on stderr while seeding, when stderr is a terminal.
///
/// # Errors
///
/// If `rows` exceeds `i32::MAX`, or on any I/O or database error.
pub async fn seed_demo(path: &Path, rows: u64) -> anyhow::Result<Seeded> {
    let progress = ProgressBar::with_draw_target(Some(rows), ProgressDrawTarget::stderr());
    seed_demo_with_progress(path, rows, progress).await
}

/// [`seed_demo`] reporting to `progress` (for example [`ProgressBar::hidden`]).
///
/// # Errors
///
/// As [`seed_demo`].
pub async fn seed_demo_with_progress(
    path: &Path,
    rows: u64,
    progress: ProgressBar,
) -> anyhow::Result<Seeded> {
    let version = i32::try_from(rows)
        .with_context(|| format!("--demo-rows {rows} is too large (at most {})", i32::MAX))?;
    if demo_rows_in(path).await == Some(rows) {
        return Ok(Seeded {
            path: path.to_owned(),
            rows,
            reused: true,
            elapsed: Duration::ZERO,
        });
    }

    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the directory {}", dir.display()))?;
    let file_name = path
        .file_name()
        .with_context(|| format!("{} is not a file path", path.display()))?;
    // Deleted on drop: an error or a cancelled seed leaves nothing behind.
    let partial = tempfile::Builder::new()
        .prefix(&{
            let mut prefix = OsString::from(".");
            prefix.push(file_name);
            prefix.push(".");
            prefix
        })
        .suffix(".partial")
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;

    progress.set_style(
        ProgressStyle::with_template(
            "{spinner} seeding {human_pos}/{human_len} tickets [{wide_bar}] {rate} ETA {eta}",
        )
        .map(|style| {
            style.with_key(
                "rate",
                |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = write!(w, "{:.0} rows/s", state.per_sec());
                },
            )
        })
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let started = Instant::now();
    write_demo(partial.path(), rows, version, &progress)
        .await
        .with_context(|| format!("cannot seed {}", partial.path().display()))?;
    partial
        .as_file()
        .sync_all()
        .with_context(|| format!("cannot sync {}", partial.path().display()))?;
    partial
        .persist(path)
        .with_context(|| format!("cannot move the seeded database to {}", path.display()))?;
    let elapsed = started.elapsed();
    progress.finish_and_clear();
    Ok(Seeded {
        path: path.to_owned(),
        rows,
        reused: false,
        elapsed,
    })
}

/// The row count recorded in an existing demo database at `path`, or `None` if there is
/// no file, or it is not a demo database written by [`seed_demo`].
pub async fn demo_rows_in(path: &Path) -> Option<u64> {
    if !path.is_file() {
        return None;
    }
    let options = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .create_if_missing(false);
    let result = async {
        let mut conn = SqliteConnection::connect_with(&options).await?;
        let app_id: i32 = sqlx::query_scalar("PRAGMA application_id")
            .fetch_one(&mut conn)
            .await?;
        let version: i32 = sqlx::query_scalar("PRAGMA user_version")
            .fetch_one(&mut conn)
            .await?;
        let has_table: bool = sqlx::query_scalar(
            "SELECT count(*) > 0 FROM sqlite_schema WHERE type = 'table' AND name = 'tickets'",
        )
        .fetch_one(&mut conn)
        .await?;
        conn.close().await?;
        Ok::<_, sqlx::Error>((app_id == DEMO_APPLICATION_ID && has_table).then_some(version))
    }
    .await;
    match result {
        Ok(version) => version.and_then(|v| u64::try_from(v).ok()),
        Err(err) => {
            tracing::warn!(path = %path.display(), %err, "existing demo database is unreadable; reseeding");
            None
        }
    }
}

/// Writes the demo database into the empty file at `path`.
async fn write_demo(
    path: &Path,
    rows: u64,
    version: i32,
    progress: &ProgressBar,
) -> anyhow::Result<()> {
    // 16 KiB pages: fewer pages to write and to walk when serving (measured ~10% faster
    // to seed than 4 KiB); set before the first write, so it applies to the new file.
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .page_size(16_384)
        .locking_mode(SqliteLockingMode::Exclusive)
        .journal_mode(SqliteJournalMode::Off)
        .synchronous(SqliteSynchronous::Off)
        .foreign_keys(false)
        .pragma("cache_size", "-65536");
    let mut conn = SqliteConnection::connect_with(&options).await?;

    // Tickets are generated on a blocking thread while SQLite inserts the previous batch.
    let (tx, mut batches) = mpsc::channel::<Vec<Ticket>>(4);
    let generator = tokio::task::spawn_blocking(move || {
        let mut all = demo::tickets(rows).peekable();
        while all.peek().is_some() {
            let batch: Vec<Ticket> = all.by_ref().take(SEED_ROWS_PER_STATEMENT).collect();
            if tx.blocking_send(batch).is_err() {
                return; // the writer stopped
            }
        }
    });

    let mut tx = conn.begin().await?;
    sqlx::query(TICKETS_SCHEMA).execute(&mut *tx).await?;
    let full_insert = insert_sql(SEED_ROWS_PER_STATEMENT);
    let mut written = 0_u64;
    while let Some(batch) = batches.recv().await {
        let len = batch.len();
        let partial_insert;
        let sql = if len == SEED_ROWS_PER_STATEMENT {
            &full_insert
        } else {
            partial_insert = insert_sql(len);
            &partial_insert
        };
        let mut query = sqlx::query(sql);
        for t in batch {
            query = query
                .bind(t.id)
                .bind(t.subject)
                .bind(t.body)
                .bind(t.status)
                .bind(t.priority)
                .bind(t.assignee)
                .bind(t.reporter)
                .bind(t.tags)
                .bind(t.score)
                .bind(t.created_at)
                .bind(t.updated_at);
        }
        query.execute(&mut *tx).await?;
        written += len as u64;
        progress.inc(len as u64);
    }
    generator.await.context("the ticket generator failed")?;
    if written != rows {
        bail!("generated {written} tickets instead of {rows}");
    }
    // Both values are integers, not text from outside.
    sqlx::query(&format!("PRAGMA user_version = {version}"))
        .execute(&mut *tx)
        .await?;
    sqlx::query(&format!("PRAGMA application_id = {DEMO_APPLICATION_ID}"))
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    conn.close().await?;
    Ok(())
}

/// `INSERT INTO tickets VALUES (?, …), …` for `rows` rows.
fn insert_sql(rows: usize) -> String {
    let one = format!("({})", ["?"; TICKET_COLUMNS].join(","));
    format!("INSERT INTO tickets VALUES {}", vec![one; rows].join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_path_precedence() {
        let path = |a: Option<&str>, b: Option<&str>, c: Option<&str>| {
            demo_db_path_from(a.map(Into::into), b.map(Into::into), c.map(Into::into)).ok()
        };
        assert_eq!(
            path(Some("/tmp/x.db"), Some("/xdg"), Some("/home/u")),
            Some(PathBuf::from("/tmp/x.db"))
        );
        assert_eq!(
            path(None, Some("/xdg"), Some("/home/u")),
            Some(PathBuf::from("/xdg/rowstream/demo.sqlite"))
        );
        assert_eq!(
            path(Some(""), Some(""), Some("/home/u")),
            Some(PathBuf::from("/home/u/.local/share/rowstream/demo.sqlite"))
        );
        assert_eq!(
            path(None, Some("relative"), Some("/home/u")),
            Some(PathBuf::from("/home/u/.local/share/rowstream/demo.sqlite"))
        );
        assert_eq!(path(None, None, None), None);
    }

    #[test]
    fn insert_statement_shape() {
        assert_eq!(
            insert_sql(2),
            "INSERT INTO tickets VALUES (?,?,?,?,?,?,?,?,?,?,?),(?,?,?,?,?,?,?,?,?,?,?)"
        );
    }
}
