//! The embedded demo database: where it lives ([`demo_db_path`]), and seeding it from
//! [`crate::demo::tickets`] ([`seed_demo`]) so that a half-written file is never left at
//! its path.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sqlx::Connection as _;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqliteLockingMode, SqliteSynchronous,
};
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
