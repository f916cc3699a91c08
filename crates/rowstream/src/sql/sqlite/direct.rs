//! A fetcher that reads an SQLite file on its own connection, on a blocking thread, in
//! batches (feature `sqlite`).
//!
//! [`rows`] opens the file read-only with SQLite's own API (through `rusqlite`, on the
//! same bundled SQLite as sqlx), steps the statement on a blocking thread and hands the
//! rows over in batches of up to [`BATCH_ROWS`] rows (or about [`BATCH_BYTES`] of text,
//! or [`BATCH_CELLS`] values), at most [`BATCHES_AHEAD`] batches ahead of the export,
//! within [`MEMORY_BOUND`] per reader. A batch is two allocations —
//! its cells and one buffer holding every text and blob of its rows — where sqlx's
//! driver copies and reference-counts each value and hands rows over one at a time:
//! a whole-table export reads several times faster (BENCHMARKS.md).
//!
//! Each [`DirectRow`] serializes exactly as a [`SqliteRecord`](super::SqliteRecord) (the
//! value mapping in the [module docs](super)): one object keyed by column name, in
//! column order.
//!
//! Use it for a query without parameters over a database file, when the export is the
//! only thing that matters; use [`rows`](super::rows) for a pool's connections, parameters,
//! or an in-memory database.
//!
//! Dropping the stream stops the reader: SQLite's progress callback, run every
//! 10,000 virtual-machine steps, interrupts the statement once the stream is gone (even
//! one still sorting or scanning before its first row), and the connection is closed.

use crate::encode::item_limit::admit;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_core::Stream;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use serde::ser::{Error as _, SerializeMap};
use serde::{Serialize, Serializer};
use tokio::sync::mpsc;

/// Rows per batch at most.
pub const BATCH_ROWS: usize = 512;
/// Text and blob bytes after which a batch is handed over early (64 KiB).
pub const BATCH_BYTES: usize = 64 * 1024;
/// Batches the reader may hold ready ahead of the export.
pub const BATCHES_AHEAD: usize = 2;
/// Cells (values) after which a batch is handed over early, whatever the width of the
/// rows: 4,096 cells of 16 bytes, 64 KiB (a table of 9 columns or more gets batches of
/// fewer than [`BATCH_ROWS`] rows).
pub const BATCH_CELLS: usize = 4 * 1024;
/// SQLite's page cache of the reader's connection, in KiB: 256 KiB (`PRAGMA cache_size
/// = -256`), against SQLite's default of 2,000 KiB. An export reads each page once, so a
/// larger cache buys nothing but memory per stream; the operating system's file cache
/// still keeps the file warm. It also bounds what a sort (`ORDER BY` without an index)
/// holds in memory before it spills to a temporary file.
pub const PAGE_CACHE_KIB: usize = 256;
/// What one reader may hold, in bytes, besides a single text or blob larger than
/// [`BATCH_BYTES`] and SQLite's own per-connection state (schema, lookaside, a few
/// hundred KiB): the page cache ([`PAGE_CACHE_KIB`]) and `BATCHES_AHEAD + 2` batches
/// (queued, being filled, being encoded) of at most [`BATCH_CELLS`] cells and
/// `BATCH_BYTES × 1.25` bytes of text each: 832 KiB.
pub const MEMORY_BOUND: usize =
    PAGE_CACHE_KIB * 1024 + (BATCHES_AHEAD + 2) * (BATCH_CELLS * 16 + BATCH_BYTES * 5 / 4);
/// SQLite virtual-machine steps between two checks that the export is still there.
const PROGRESS_OPS: std::os::raw::c_int = 10_000;

/// Why reading failed: opening the file, preparing the statement, or stepping it.
#[derive(Debug, thiserror::Error)]
#[error("SQLite: {0}")]
pub struct DirectError(#[from] rusqlite::Error);

/// One value of a batch.
#[derive(Debug, Clone, Copy)]
enum Cell {
    Null,
    Integer(i64),
    Real(f64),
    /// UTF-8 text at `start..start + len` of the batch's bytes.
    Text(u32, u32),
    /// A blob at `start..start + len` of the batch's bytes.
    Blob(u32, u32),
}

// `MEMORY_BOUND` counts 16 bytes per cell.
const _: () = assert!(std::mem::size_of::<Cell>() == 16);

/// Rows read together: `width` cells per row, their text and blobs in one buffer.
#[derive(Debug)]
struct Batch {
    columns: Arc<[String]>,
    cells: Vec<Cell>,
    bytes: Vec<u8>,
}

impl Batch {
    fn rows(&self) -> usize {
        self.cells
            .len()
            .checked_div(self.columns.len())
            .unwrap_or_default()
    }
}

/// One row of a [`rows`] stream, serialized as `{"column": value, …}` in column order.
pub struct DirectRow {
    batch: Arc<Batch>,
    row: usize,
}

impl std::fmt::Debug for DirectRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirectRow")
            .field("columns", &self.batch.columns)
            .field("row", &self.row)
            .finish()
    }
}

impl DirectRow {
    /// The column names, in order.
    pub fn columns(&self) -> &[String] {
        &self.batch.columns
    }
}

impl Serialize for DirectRow {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let batch = &*self.batch;
        let width = batch.columns.len();
        let cells = &batch.cells[self.row * width..(self.row + 1) * width];
        let mut map = serializer.serialize_map(Some(width))?;
        for (name, cell) in batch.columns.iter().zip(cells) {
            map.serialize_entry(name.as_str(), &Value { cell, batch })?;
        }
        map.end()
    }
}

/// One cell with the batch its text lives in.
struct Value<'a> {
    cell: &'a Cell,
    batch: &'a Batch,
}

impl Serialize for Value<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let slice = |start: u32, len: u32| {
            let start = start as usize;
            &self.batch.bytes[start..start + len as usize]
        };
        match *self.cell {
            Cell::Null => serializer.serialize_unit(),
            Cell::Integer(value) => serializer.serialize_i64(value),
            Cell::Real(value) => serializer.serialize_f64(value),
            Cell::Text(start, len) => match admit::<S::Error>(len as usize)
                .map(|()| std::str::from_utf8(slice(start, len)))?
            {
                Ok(text) => serializer.serialize_str(text),
                // Text is made valid when read; this cannot happen, but is no panic.
                Err(e) => Err(S::Error::custom(e)),
            },
            Cell::Blob(start, len) => {
                use base64::Engine as _;
                admit::<S::Error>(len as usize)?;
                let encoded = base64::engine::general_purpose::STANDARD.encode(slice(start, len));
                serializer.serialize_str(&encoded)
            }
        }
    }
}

/// Streams every row of `sql` (no parameters) from the SQLite file at `path`, opened
/// read-only, as [`DirectRow`]s. See the [module docs](self).
///
/// The stream yields `Err(DirectError)` once and ends if the file cannot be opened, the
/// SQL does not prepare, or a step fails (a text or blob beyond 4 GiB included).
///
/// # Panics
///
/// If called outside a tokio runtime (the reader runs on its blocking pool).
///
/// ```no_run
/// # async fn demo() {
/// use rowstream::{Identity, JsonArray, Streamer};
///
/// let rows = rowstream::sqlite::direct::rows("flights.sqlite", "SELECT * FROM flights");
/// let chunks = Streamer::default().stream(rows, Identity, JsonArray::new());
/// # drop(chunks); }
/// ```
pub fn rows(path: impl Into<PathBuf>, sql: impl Into<String>) -> DirectRows {
    let (tx, rx) = mpsc::channel(BATCHES_AHEAD);
    let reader = Reader {
        path: path.into(),
        sql: sql.into(),
        tx,
    };
    tokio::task::spawn_blocking(move || reader.run());
    DirectRows { rx, current: None }
}

/// The stream of [`rows`]: `Stream<Item = Result<DirectRow, DirectError>>`.
#[derive(Debug)]
pub struct DirectRows {
    rx: mpsc::Receiver<Result<Batch, DirectError>>,
    /// The batch being handed out and its next row.
    current: Option<(Arc<Batch>, usize)>,
}

impl Stream for DirectRows {
    type Item = Result<DirectRow, DirectError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if let Some((batch, row)) = &mut self.current {
                if *row < batch.rows() {
                    let item = DirectRow {
                        batch: Arc::clone(batch),
                        row: *row,
                    };
                    *row += 1;
                    return Poll::Ready(Some(Ok(item)));
                }
                self.current = None;
            }
            match std::task::ready!(self.rx.poll_recv(cx)) {
                Some(Ok(batch)) => self.current = Some((Arc::new(batch), 0)),
                Some(Err(err)) => return Poll::Ready(Some(Err(err))),
                None => return Poll::Ready(None),
            }
        }
    }
}

/// The blocking half: opens, prepares, steps, and sends batches.
struct Reader {
    path: PathBuf,
    sql: String,
    tx: mpsc::Sender<Result<Batch, DirectError>>,
}

impl Reader {
    fn run(self) {
        if let Err(err) = self.read() {
            // The receiver may be gone; then nobody is waiting for the error.
            let _ = self.tx.blocking_send(Err(err));
        }
    }

    fn read(&self) -> Result<(), DirectError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI;
        let connection = Connection::open_with_flags(&self.path, flags)?;
        connection.pragma_update(None, "cache_size", -(PAGE_CACHE_KIB as i64))?;
        // A statement can step a long time before its next row (a sort, a scan that
        // filters everything out): every PROGRESS_OPS steps SQLite asks whether the
        // export is still there, and interrupts the statement when it is not.
        let watched = self.tx.clone();
        connection.progress_handler(PROGRESS_OPS, Some(move || watched.is_closed()));
        let mut statement = connection.prepare(&self.sql)?;
        let columns: Arc<[String]> = statement
            .column_names()
            .into_iter()
            .map(str::to_owned)
            .collect();
        let width = columns.len();
        let mut rows = statement.query([])?;
        let mut batch = new_batch(&columns);
        while let Some(row) = rows.next()? {
            for index in 0..width {
                let cell = match row.get_ref(index)? {
                    ValueRef::Null => Cell::Null,
                    ValueRef::Integer(value) => Cell::Integer(value),
                    ValueRef::Real(value) => Cell::Real(value),
                    ValueRef::Text(bytes) => {
                        if let Err(err) = std::str::from_utf8(bytes) {
                            // The rows before this one still reach the export.
                            batch.cells.truncate(batch.cells.len() - index);
                            if !batch.cells.is_empty() {
                                let _ = self.tx.blocking_send(Ok(batch));
                            }
                            return Err(DirectError(rusqlite::Error::ToSqlConversionFailure(
                                format!(
                                    "column \"{}\": {}",
                                    columns[index],
                                    super::super::invalid_utf8(&err)
                                )
                                .into(),
                            )));
                        }
                        let (start, len) = push(&mut batch.bytes, bytes)?;
                        Cell::Text(start, len)
                    }
                    ValueRef::Blob(bytes) => {
                        let (start, len) = push(&mut batch.bytes, bytes)?;
                        Cell::Blob(start, len)
                    }
                };
                batch.cells.push(cell);
            }
            if batch.rows() >= BATCH_ROWS
                || batch.bytes.len() >= BATCH_BYTES
                || batch.cells.len() >= BATCH_CELLS
            {
                let full = std::mem::replace(&mut batch, new_batch(&columns));
                if self.tx.blocking_send(Ok(full)).is_err() {
                    // The export is gone: stop reading.
                    return Ok(());
                }
            }
        }
        if !batch.cells.is_empty() {
            let _ = self.tx.blocking_send(Ok(batch));
        }
        Ok(())
    }
}

fn new_batch(columns: &Arc<[String]>) -> Batch {
    Batch {
        columns: Arc::clone(columns),
        cells: Vec::with_capacity((BATCH_ROWS * columns.len()).min(BATCH_CELLS + columns.len())),
        bytes: Vec::with_capacity(BATCH_BYTES + BATCH_BYTES / 4),
    }
}

/// Appends `data` to the batch's bytes; its offset and length.
fn push(bytes: &mut Vec<u8>, data: &[u8]) -> Result<(u32, u32), DirectError> {
    let too_large = || {
        DirectError(rusqlite::Error::ToSqlConversionFailure(
            "a batch's text and blobs exceed 4 GiB".into(),
        ))
    };
    let start = u32::try_from(bytes.len()).map_err(|_| too_large())?;
    let len = u32::try_from(data.len()).map_err(|_| too_large())?;
    start.checked_add(len).ok_or_else(too_large)?;
    bytes.extend_from_slice(data);
    Ok((start, len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    fn database(rows: i64) -> (tempfile_path::Guard, PathBuf) {
        let guard = tempfile_path::Guard::new();
        let path = guard.path().to_owned();
        let conn = Connection::open(&path).expect("a new database");
        conn.execute_batch("CREATE TABLE t (id INTEGER, name TEXT, score REAL, data BLOB, note);")
            .expect("table");
        let mut insert = conn
            .prepare("INSERT INTO t VALUES (?1, ?2, ?3, ?4, ?5)")
            .expect("insert");
        for i in 0..rows {
            let note: Option<&str> = (i % 3 == 0).then_some("n");
            insert
                .execute(rusqlite::params![
                    i,
                    format!("row \"{i}\""),
                    i as f64 / 4.0,
                    vec![i as u8, 0, 255],
                    note
                ])
                .expect("row");
        }
        (guard, path)
    }

    /// A temporary file path removed on drop.
    mod tempfile_path {
        pub(super) struct Guard(std::path::PathBuf);
        impl Guard {
            pub(super) fn new() -> Self {
                use std::sync::atomic::{AtomicU32, Ordering};
                static NEXT: AtomicU32 = AtomicU32::new(0);
                let n = NEXT.fetch_add(1, Ordering::Relaxed);
                Self(std::env::temp_dir().join(format!(
                    "rowstream-direct-{}-{n}.sqlite",
                    std::process::id()
                )))
            }
            pub(super) fn path(&self) -> &std::path::Path {
                &self.0
            }
        }
        impl Drop for Guard {
            fn drop(&mut self) {
                let _ = std::fs::remove_file(&self.0);
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rows_serialize_like_records_across_batches() {
        let count = BATCH_ROWS as i64 * 2 + 7;
        let (_guard, path) = database(count);
        let rows: Vec<DirectRow> = rows(&path, "SELECT * FROM t ORDER BY id")
            .map(|row| row.expect("a row"))
            .collect()
            .await;
        assert_eq!(rows.len(), count as usize);
        assert_eq!(rows[0].columns(), ["id", "name", "score", "data", "note"]);
        for (i, row) in rows.iter().enumerate() {
            let json = serde_json::to_value(row).expect("serializes");
            use base64::Engine as _;
            let data = base64::engine::general_purpose::STANDARD.encode([i as u8, 0, 255]);
            let note = if i % 3 == 0 {
                serde_json::json!("n")
            } else {
                serde_json::Value::Null
            };
            assert_eq!(
                json,
                serde_json::json!({
                    "id": i, "name": format!("row \"{i}\""), "score": i as f64 / 4.0,
                    "data": data, "note": note,
                })
            );
        }
    }

    #[tokio::test]
    async fn errors_are_items_not_panics() {
        let missing = rows("/nonexistent/dir/x.sqlite", "SELECT 1")
            .collect::<Vec<_>>()
            .await;
        assert!(matches!(missing.as_slice(), [Err(_)]), "{missing:?}");
        let (_guard, path) = database(1);
        let bad = rows(&path, "SELECT * FROM no_such_table")
            .collect::<Vec<_>>()
            .await;
        match bad.as_slice() {
            [Err(err)] => assert!(err.to_string().contains("no_such_table"), "{err}"),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn invalid_utf8_fails_naming_the_column_and_the_file_is_not_written() {
        let (_guard, path) = database(0);
        {
            let conn = Connection::open(&path).expect("open");
            conn.execute(
                "INSERT INTO t (id, name) VALUES (1, CAST(x'41ff42' AS TEXT))",
                [],
            )
            .expect("insert");
        }
        let read: Vec<_> = rows(&path, "SELECT id, name FROM t").collect().await;
        match read.as_slice() {
            [Err(err)] => assert!(
                err.to_string().contains("\"name\"") && err.to_string().contains("UTF-8"),
                "{err}"
            ),
            other => panic!("{other:?}"),
        }
        let write: Vec<_> = rows(&path, "DELETE FROM t").collect().await;
        assert!(matches!(write.as_slice(), [Err(_)]), "{write:?}");
    }

    #[tokio::test]
    async fn rows_before_invalid_text_arrive_and_a_character_split_across_cells_is_no_text() {
        let (_guard, path) = database(3);
        {
            let conn = Connection::open(&path).expect("open");
            // 'é' is C3 A9: each half alone is not UTF-8, though the two together are.
            conn.execute(
                "INSERT INTO t (id, name, note) VALUES (3, CAST(x'41c3' AS TEXT), CAST(x'a9' AS TEXT))",
                [],
            )
            .expect("insert");
        }
        let read: Vec<_> = rows(&path, "SELECT id, name, note FROM t ORDER BY id")
            .collect()
            .await;
        assert_eq!(read.len(), 4, "{read:?}");
        for (i, row) in read[..3].iter().enumerate() {
            let json = serde_json::to_value(row.as_ref().expect("a row")).expect("serializes");
            assert_eq!(json["id"], i as i64);
        }
        match &read[3] {
            Err(err) => assert!(
                err.to_string().contains("\"name\"") && err.to_string().contains("UTF-8"),
                "{err}"
            ),
            Ok(row) => panic!("{:?}", serde_json::to_value(row)),
        }
    }

    /// A runtime with one blocking thread: the reader's. A closure queued behind it runs
    /// only once the reader has ended.
    fn one_blocking_thread() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(1)
            .enable_all()
            .build()
            .expect("a runtime")
    }

    /// How long, from now, until the reader has ended; `None` if it still runs after
    /// 10 s.
    async fn reader_end() -> Option<std::time::Duration> {
        let started = std::time::Instant::now();
        let queued = tokio::task::spawn_blocking(|| ());
        tokio::time::timeout(std::time::Duration::from_secs(10), queued)
            .await
            .ok()
            .map(|_| started.elapsed())
    }

    /// Counts to 10^12 before its first row: only an interrupt ends it soon.
    const ENDLESS: &str = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c \
                           WHERE x < 1000000000000) SELECT max(x) FROM c";

    #[test]
    fn a_statement_the_stream_was_dropped_before_stops_too() {
        let (_guard, path) = database(1);
        let runtime = one_blocking_thread();
        let ended = runtime.block_on(async {
            // Dropped at once: the statement starts after the stream is gone.
            drop(rows(&path, ENDLESS));
            reader_end().await
        });
        // Never wait for a reader that did not stop: the assertion reports it.
        runtime.shutdown_timeout(std::time::Duration::from_millis(100));
        assert!(ended.is_some(), "the reader still runs 10 s after the drop");
    }

    #[test]
    fn dropping_the_stream_interrupts_a_long_statement() {
        let (_guard, path) = database(1);
        let runtime = one_blocking_thread();
        let elapsed = runtime.block_on(async {
            let stream = rows(&path, ENDLESS);
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            drop(stream);
            reader_end().await
        });
        runtime.shutdown_timeout(std::time::Duration::from_millis(100));
        let elapsed = elapsed.expect("the reader stops within 10 s of the drop");
        assert!(elapsed < std::time::Duration::from_secs(5), "{elapsed:?}");
    }
}
