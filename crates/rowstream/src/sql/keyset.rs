//! Keyset pagination: a long export as a series of short queries.
//!
//! A [`Keyset`] describes a table read in the order of a unique key column, one page at a
//! time:
//!
//! ```sql
//! SELECT * FROM "table" ORDER BY "key" LIMIT 1000                  -- the first page
//! SELECT * FROM "table" WHERE "key" > $last ORDER BY "key" LIMIT 1000  -- every next page
//! ```
//!
//! [`Keyset::filter`] narrows the read to the rows whose column equals a bound value (a
//! tenant's rows: `WHERE "tenant" = $1 AND "key" > $2`).
//!
//! Each page is its own statement, in autocommit: no transaction and no snapshot stays
//! open between pages, so an export of any length does not hold back vacuum or purge, and
//! a page costs an index range scan whatever its position. The key of the last row read is
//! the whole state: an export can resume after any page from that key
//! ([`Keyset::after`]). Rows inserted behind the cursor (keys below the last one read) are
//! not read, and no row is read twice, whatever is inserted or deleted during the export —
//! unlike `OFFSET` pagination, which repeats or skips rows when rows move.
//!
//! The database fetchers — `postgres::keyset`, `mysql::keyset`, `sqlite::keyset` (with
//! their cargo features) — yield one `Vec` of records per page: stream them with
//! [`Streamer::stream_batches`](crate::Streamer::stream_batches). Table, schema and key
//! names are always quoted as identifiers, never pasted into SQL as they are.
//!
//! Keys: integer columns (bound as `i64`) and text columns (bound as strings, compared in
//! the column's collation, as `ORDER BY` sorts them). The key must be unique and not
//! NULL, as a primary key is; a NULL key in the last row of a page fails the export.

use std::fmt;
use std::pin::pin;
use std::sync::Arc;

use futures_core::Stream;
use futures_util::StreamExt;
use sqlx::{Column as _, Row as _, TypeInfo as _, ValueRef as _};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::session::Session;
use super::{Backend, Record};
use crate::{ConfigError, DEFAULT_BATCH_SIZE, MAX_BATCH_SIZE};

/// A key value: where a page ends and the next one starts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    /// An integer key (`smallint`, `integer`, `bigint` …), bound as `i64`.
    Int(i64),
    /// A text key (`text`, `varchar`, `char` …), bound as a string.
    Text(String),
}

impl From<i64> for Key {
    fn from(value: i64) -> Self {
        Self::Int(value)
    }
}

impl From<i32> for Key {
    fn from(value: i32) -> Self {
        Self::Int(i64::from(value))
    }
}

impl From<String> for Key {
    fn from(value: String) -> Self {
        Self::Text(value)
    }
}

impl From<&str> for Key {
    fn from(value: &str) -> Self {
        Self::Text(value.to_owned())
    }
}

impl fmt::Display for Key {
    /// The integer's digits, or the text as it is.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Int(value) => write!(f, "{value}"),
            Self::Text(value) => f.write_str(value),
        }
    }
}

/// What a keyset fetcher reports after each query (see [`Keyset::on_page`]).
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Page<'a> {
    /// 1 for the first query, then 2, 3 …
    pub number: u64,
    /// Rows the query returned: the batch size, fewer on the last page (possibly 0).
    pub rows: usize,
    /// The key of the page's last row (resume after it), `None` for an empty page.
    pub last_key: Option<&'a Key>,
}

type PageHook = Arc<dyn Fn(&Page<'_>) + Send + Sync>;

/// A table read in key order, one page per query. See the [module docs](self).
///
/// ```
/// use rowstream::keyset::{Key, Keyset};
///
/// let flights = Keyset::new("flights", "id").batch_size(5_000).after(Key::Int(120_000));
/// assert_eq!(flights.page_size(), 5_000);
/// ```
#[derive(Clone)]
#[must_use]
pub struct Keyset {
    schema: Option<String>,
    table: String,
    key: String,
    batch_size: usize,
    after: Option<Key>,
    on_page: Option<PageHook>,
    select_list: Option<String>,
    filters: Vec<(String, Key)>,
}

impl fmt::Debug for Keyset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyset")
            .field("schema", &self.schema)
            .field("table", &self.table)
            .field("key", &self.key)
            .field("batch_size", &self.batch_size)
            .field("after", &self.after)
            .field("on_page", &self.on_page.is_some())
            .field("select_list", &self.select_list)
            .field("filters", &self.filters)
            .finish()
    }
}

impl Keyset {
    /// Every row of `table` (in the connection's current schema or database), in the order
    /// of the unique column `key`, [`DEFAULT_BATCH_SIZE`] rows per query, from the start.
    /// Both names are identifiers as the catalog spells them; they are quoted in SQL.
    pub fn new(table: impl Into<String>, key: impl Into<String>) -> Self {
        Self {
            schema: None,
            table: table.into(),
            key: key.into(),
            batch_size: DEFAULT_BATCH_SIZE,
            after: None,
            on_page: None,
            select_list: None,
            filters: Vec::new(),
        }
    }

    /// Reads only the rows whose `column` equals `value`: `"column" = $n` in every page's
    /// `WHERE`, the value bound as a parameter (an integer as `i64`, text as a string),
    /// never written into the SQL; the column name is quoted. Several filters are ANDed.
    /// An index on `(column, key)` keeps each page an index range scan.
    ///
    /// ```
    /// use rowstream::keyset::Keyset;
    ///
    /// let tickets = Keyset::new("tickets", "id").filter("tenant", 7).filter("state", "open");
    /// # drop(tickets);
    /// ```
    pub fn filter(mut self, column: impl Into<String>, value: impl Into<Key>) -> Self {
        self.filters.push((column.into(), value.into()));
        self
    }

    /// The select list of every page's `SELECT`, as SQL text written in place of `*`:
    /// e.g. `"id", "addr"::text AS "addr"` to read a column through a cast. Default: `*`.
    /// It is SQL, written as it is: build it from catalog names, quoted, never from
    /// request input. The key column must be among its result columns, under its name.
    pub fn select_list(mut self, sql: impl Into<String>) -> Self {
        self.select_list = Some(sql.into());
        self
    }

    /// Qualifies the table with a schema (PostgreSQL), a database (MySQL) or an attached
    /// database (SQLite). Default: none, so the connection's current one.
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = Some(schema.into());
        self
    }

    /// Rows per query. `0` means the default, [`DEFAULT_BATCH_SIZE`] (1,000); at most
    /// [`MAX_BATCH_SIZE`] (1,000,000) — the rule of the size knobs of
    /// [`ChunkConfig`](crate::ChunkConfig). A page is held in memory whole, so memory
    /// grows with `batch_size × row size`.
    ///
    /// A value above the maximum is an error, reported where the fetcher starts, since
    /// this builder cannot return one: the fetcher's stream yields one
    /// `sqlx::Error::Configuration`, whose source is a [`ConfigError`] naming
    /// `batch_size`, and ends before any query.
    pub fn batch_size(mut self, rows: usize) -> Self {
        self.batch_size = rows;
        self
    }

    /// Starts after `key` (exclusive): resumes an export whose last row had this key.
    /// Default: from the first row.
    pub fn after(mut self, key: impl Into<Key>) -> Self {
        self.after = Some(key.into());
        self
    }

    /// Calls `hook` after each query, with its number, its row count and its last key —
    /// for progress, checkpoints to resume from, or metrics. Called on the fetcher's
    /// task: keep it short and never block in it.
    pub fn on_page(mut self, hook: impl Fn(&Page<'_>) + Send + Sync + 'static) -> Self {
        self.on_page = Some(Arc::new(hook));
        self
    }

    /// The rows per query, with the default applied: [`DEFAULT_BATCH_SIZE`] for `0`, else
    /// the value given to [`batch_size`](Self::batch_size) (which the fetchers refuse
    /// above [`MAX_BATCH_SIZE`]).
    pub fn page_size(&self) -> usize {
        match self.batch_size {
            0 => DEFAULT_BATCH_SIZE,
            rows => rows,
        }
    }

    /// Checks the page size against [`MAX_BATCH_SIZE`], as a fetcher does before its
    /// first query.
    fn validate(&self) -> Result<(), ConfigError> {
        let rows = self.page_size();
        if rows > MAX_BATCH_SIZE {
            return Err(ConfigError::new(
                "batch_size",
                format!("{rows} rows is above the maximum of {MAX_BATCH_SIZE}"),
            ));
        }
        Ok(())
    }

    /// The `SELECT` of one page: after the last key when `with_key`, else from the start.
    fn page_sql(&self, dialect: Dialect, with_key: bool) -> String {
        let quote = |name: &str| dialect.quote(name);
        let mut sql = String::from("SELECT ");
        sql.push_str(self.select_list.as_deref().unwrap_or("*"));
        sql.push_str(" FROM ");
        if let Some(schema) = &self.schema {
            sql.push_str(&quote(schema));
            sql.push('.');
        }
        sql.push_str(&quote(&self.table));
        let key = quote(&self.key);
        let mut conditions: Vec<String> = Vec::with_capacity(self.filters.len() + 1);
        for (column, _) in &self.filters {
            let n = conditions.len() + 1;
            conditions.push(format!("{} = {}", quote(column), dialect.placeholder(n)));
        }
        if with_key {
            let n = conditions.len() + 1;
            conditions.push(format!("{key} > {}", dialect.placeholder(n)));
        }
        if !conditions.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&conditions.join(" AND "));
        }
        sql.push_str(" ORDER BY ");
        sql.push_str(&key);
        // A number from this struct, not text from outside; a literal lets the planner
        // see how few rows are wanted.
        sql.push_str(&format!(" LIMIT {}", self.page_size()));
        sql
    }

    /// Reports a finished query to the hook; returns whether another page may follow.
    fn page_done(&self, number: u64, rows: usize, last_key: Option<&Key>) -> bool {
        if let Some(hook) = &self.on_page {
            hook(&Page {
                number,
                rows,
                last_key,
            });
        }
        rows >= self.page_size() && last_key.is_some()
    }
}

/// The keyset page loop of every backend: streams `keyset`'s table one page (`Vec`) per
/// query on one [`Session`], each row made a record by `record`, reading the next page
/// ahead ([`read_ahead`]). The session is finished after each page, so a drop cancels a
/// page being read and, between pages, returns the connection as it is.
///
/// The stream yields an error, and ends, if the batch size is above [`MAX_BATCH_SIZE`]
/// (before any query), if a query fails, or if the key of a page's last row is missing,
/// NULL or of a type the backend does not read as a key.
pub(crate) fn pages<DB, R>(
    pool: sqlx::Pool<DB>,
    keyset: Keyset,
    record: impl Fn(DB::Row) -> R + Send + 'static,
) -> impl Stream<Item = Result<Vec<R>, sqlx::Error>> + Send + 'static
where
    DB: Backend,
    R: Record<DB> + Send + 'static,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    usize: sqlx::ColumnIndex<DB::Row>,
{
    read_ahead(async_stream::stream! {
        if let Err(err) = keyset.validate() {
            yield Err(sqlx::Error::Configuration(err.into()));
            return;
        }
        let mut session = match Session::<DB>::open(&pool).await {
            Ok(session) => session,
            Err(err) => {
                yield Err(err);
                return;
            }
        };
        let first_sql = keyset.page_sql(DB::DIALECT, false);
        let next_sql = keyset.page_sql(DB::DIALECT, true);
        let mut after = keyset.after.clone();
        let mut number = 0_u64;
        loop {
            number += 1;
            let mut page = Vec::with_capacity(keyset.page_size());
            let mut failure = None;
            {
                let sql = if after.is_some() { &next_sql } else { &first_sql };
                let mut query = sqlx::query::<DB>(sql);
                for value in keyset.filters.iter().map(|(_, value)| value).chain(&after) {
                    query = match value {
                        Key::Int(value) => query.bind(*value),
                        Key::Text(value) => query.bind(value.clone()),
                    };
                }
                let mut rows = query.fetch(session.conn());
                while let Some(row) = rows.next().await {
                    match row {
                        Ok(row) => page.push(record(row)),
                        Err(err) => {
                            failure = Some(err);
                            break;
                        }
                    }
                }
            }
            session.finish();
            if let Some(err) = failure {
                yield Err(err);
                return;
            }
            let last_key = match page.last() {
                Some(last) => match page_key::<DB>(last.row(), &keyset.key) {
                    Ok(key) => Some(key),
                    Err(err) => {
                        yield Err(err);
                        return;
                    }
                },
                None => None,
            };
            let more = keyset.page_done(number, page.len(), last_key.as_ref());
            if !more {
                // Before the last page is encoded: what the driver grew for its rows is
                // freed now, not while the rows are encoded.
                session.end().await;
                if !page.is_empty() {
                    yield Ok(page);
                }
                return;
            }
            if !page.is_empty() {
                yield Ok(page);
            }
            after = last_key;
        }
    })
}

/// The key of a page's last row: the column named `key` (see [`key_index`]), not NULL,
/// read by the backend ([`Backend::key`]).
fn page_key<DB>(row: &DB::Row, key: &str) -> Result<Key, sqlx::Error>
where
    DB: Backend,
    usize: sqlx::ColumnIndex<DB::Row>,
{
    let index = key_index(row.columns().iter().map(|column| column.name()), key)
        .ok_or_else(|| key_error(key, "not among the result's columns"))?;
    let value = row.try_get_raw(index)?;
    if value.is_null() {
        return Err(key_error(key, "NULL in the last row of a page"));
    }
    let type_name = value.type_info().name().to_owned();
    DB::key(value, &type_name).map_err(|err| key_error(key, err))
}

/// Reads `pages` on a task of its own, one page ahead of the consumer: the next query runs
/// while the current page is being encoded and sent. At most three pages are held (one
/// being read, one queued, one being consumed). Dropping the returned stream aborts the
/// task, which drops `pages` — and so cancels a page being read, as the fetchers do.
fn read_ahead<T>(
    pages: impl Stream<Item = Result<T, sqlx::Error>> + Send + 'static,
) -> impl Stream<Item = Result<T, sqlx::Error>> + Send + 'static
where
    T: Send + 'static,
{
    async_stream::stream! {
        let (tx, mut rx) = mpsc::channel(1);
        let mut task = AbortOnDrop(Some(tokio::spawn(async move {
            let mut pages = pin!(pages);
            while let Some(page) = pages.next().await {
                let failed = page.is_err();
                if tx.send(page).await.is_err() || failed {
                    break;
                }
            }
        })));
        while let Some(page) = rx.recv().await {
            yield page;
        }
        // The channel closed: the reader finished, or panicked.
        if let Some(handle) = task.0.take() {
            if handle.await.is_err() {
                yield Err(sqlx::Error::WorkerCrashed);
            }
        }
    }
}

/// Aborts the task when dropped before it was awaited.
struct AbortOnDrop(Option<JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(handle) = &self.0 {
            handle.abort();
        }
    }
}

/// How a database spells identifiers and parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Dialect {
    /// The character an identifier is wrapped in, and doubled inside it.
    pub(crate) quote: char,
    /// Parameters are numbered (`$1`, `$2` …, PostgreSQL), not all `?`.
    pub(crate) numbered: bool,
}

impl Dialect {
    /// The placeholder of the `n`th parameter (from 1).
    fn placeholder(self, n: usize) -> String {
        if self.numbered {
            format!("${n}")
        } else {
            "?".to_owned()
        }
    }

    /// Quotes an identifier: wrapped in the dialect's quote character, which is doubled
    /// inside.
    fn quote(self, name: &str) -> String {
        let q = self.quote;
        let mut out = String::with_capacity(name.len() + 2);
        out.push(q);
        for c in name.chars() {
            if c == q {
                out.push(q);
            }
            out.push(c);
        }
        out.push(q);
        out
    }
}

/// The index of the key column among `names`: an exact match, else (MySQL column names
/// are case-insensitive) an ASCII case-insensitive one.
fn key_index<'a>(mut names: impl Iterator<Item = &'a str> + Clone, key: &str) -> Option<usize> {
    names
        .clone()
        .position(|name| name == key)
        .or_else(|| names.position(|name| name.eq_ignore_ascii_case(key)))
}

/// The error of a page whose last row has no usable key.
fn key_error(key: &str, problem: impl fmt::Display) -> sqlx::Error {
    sqlx::Error::Decode(format!("keyset key column \"{key}\": {problem}").into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(all(feature = "postgres", feature = "mysql", feature = "sqlite"))]
    fn page_sql_quotes_names() {
        let postgres = <sqlx::Postgres as Backend>::DIALECT;
        let mysql = <sqlx::MySql as Backend>::DIALECT;
        let sqlite = <sqlx::Sqlite as Backend>::DIALECT;
        let keyset = Keyset::new(r#"we"ird"#, "id`x").batch_size(10);
        assert_eq!(
            keyset.page_sql(postgres, false),
            r#"SELECT * FROM "we""ird" ORDER BY "id`x" LIMIT 10"#
        );
        assert_eq!(
            keyset.page_sql(postgres, true),
            r#"SELECT * FROM "we""ird" WHERE "id`x" > $1 ORDER BY "id`x" LIMIT 10"#
        );
        assert_eq!(
            keyset.clone().schema("s").page_sql(mysql, true),
            r#"SELECT * FROM `s`.`we"ird` WHERE `id``x` > ? ORDER BY `id``x` LIMIT 10"#
        );
        assert_eq!(
            keyset.page_sql(sqlite, true),
            r#"SELECT * FROM "we""ird" WHERE "id`x" > ? ORDER BY "id`x" LIMIT 10"#
        );
        assert_eq!(
            Keyset::new("t", "k").batch_size(0).page_sql(sqlite, false),
            r#"SELECT * FROM "t" ORDER BY "k" LIMIT 1000"#
        );
        assert_eq!(
            Keyset::new("t", "k")
                .select_list(r#""k", "v"::text AS "v""#)
                .page_sql(sqlite, true),
            r#"SELECT "k", "v"::text AS "v" FROM "t" WHERE "k" > ? ORDER BY "k" LIMIT 1000"#
        );
        let filtered = Keyset::new("t", "k").filter("ten\"ant", 7).filter("s", "x");
        assert_eq!(
            filtered.page_sql(postgres, true),
            r#"SELECT * FROM "t" WHERE "ten""ant" = $1 AND "s" = $2 AND "k" > $3 ORDER BY "k" LIMIT 1000"#
        );
        assert_eq!(
            filtered.page_sql(mysql, false),
            r#"SELECT * FROM `t` WHERE `ten"ant` = ? AND `s` = ? ORDER BY `k` LIMIT 1000"#
        );
    }

    #[test]
    fn batch_size_zero_is_the_default_and_above_the_maximum_an_error() {
        assert_eq!(Keyset::new("t", "k").page_size(), DEFAULT_BATCH_SIZE);
        let zero = Keyset::new("t", "k").batch_size(0);
        assert_eq!(zero.page_size(), DEFAULT_BATCH_SIZE);
        let max = Keyset::new("t", "k").batch_size(MAX_BATCH_SIZE);
        assert_eq!(max.page_size(), MAX_BATCH_SIZE);
        assert_eq!(max.validate(), Ok(()));
        for rows in [MAX_BATCH_SIZE + 1, usize::MAX] {
            let err = Keyset::new("t", "k")
                .batch_size(rows)
                .validate()
                .unwrap_err();
            assert_eq!(err.field(), "batch_size");
            assert!(err.to_string().contains(&rows.to_string()), "{err}");
        }
    }

    #[cfg(feature = "sqlite")]
    #[tokio::test]
    async fn a_fetcher_refuses_a_batch_size_above_the_maximum_before_any_query() {
        // No such table: a query that ran would fail with another error.
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .connect_lazy("sqlite::memory:")
            .unwrap();
        let keyset = Keyset::new("missing", "k").batch_size(MAX_BATCH_SIZE + 1);
        let pages: Vec<_> = crate::sqlite::keyset(pool.clone(), keyset).collect().await;
        assert_eq!(pages.len(), 1);
        let Err(sqlx::Error::Configuration(err)) = &pages[0] else {
            panic!("not a configuration error: {:?}", pages[0]);
        };
        let err = err.downcast_ref::<ConfigError>().unwrap();
        assert_eq!(err.field(), "batch_size");
        assert_eq!(pool.size(), 0, "a connection was opened");
    }

    #[test]
    fn last_page_is_short_or_empty() {
        let keyset = Keyset::new("t", "k").batch_size(2);
        let key = Key::Int(2);
        assert!(keyset.page_done(1, 2, Some(&key)));
        assert!(!keyset.page_done(2, 1, Some(&key)));
        assert!(!keyset.page_done(3, 0, None));
    }

    #[test]
    fn hook_sees_every_page() {
        use std::sync::Mutex;
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let keyset = Keyset::new("t", "k").batch_size(2).on_page(move |page| {
            log.lock()
                .unwrap()
                .push((page.number, page.rows, page.last_key.cloned()));
        });
        keyset.page_done(1, 2, Some(&Key::from("b")));
        keyset.page_done(2, 0, None);
        assert_eq!(
            *seen.lock().unwrap(),
            [(1, 2, Some(Key::Text("b".into()))), (2, 0, None)]
        );
    }

    #[test]
    fn key_lookup() {
        let names = ["a", "ID", "id"];
        assert_eq!(key_index(names.iter().copied(), "id"), Some(2));
        assert_eq!(key_index(names.iter().copied(), "Id"), Some(1));
        assert_eq!(key_index(names.iter().copied(), "x"), None);
    }

    #[tokio::test]
    async fn read_ahead_turns_a_panic_into_an_error() {
        let pages = futures_util::stream::iter(0..3).map(|i| {
            assert!(i < 1, "page {i} broke");
            Ok::<_, sqlx::Error>(vec![i])
        });
        let read: Vec<_> = read_ahead(pages).collect().await;
        assert_eq!(read.len(), 2);
        assert_eq!(*read[0].as_ref().unwrap(), vec![0]);
        assert!(matches!(read[1], Err(sqlx::Error::WorkerCrashed)));
    }

    #[tokio::test]
    async fn dropping_read_ahead_drops_the_pages() {
        use std::sync::atomic::{AtomicBool, Ordering};
        struct Flag(Arc<AtomicBool>);
        impl Drop for Flag {
            fn drop(&mut self) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let dropped = Arc::new(AtomicBool::new(false));
        let flag = Flag(dropped.clone());
        let pages = futures_util::stream::unfold((0, flag), |(i, flag)| async move {
            Some((Ok::<_, sqlx::Error>(vec![i]), (i + 1, flag)))
        });
        let mut read = Box::pin(read_ahead(pages));
        assert_eq!(read.next().await.unwrap().unwrap(), vec![0]);
        drop(read);
        for _ in 0..100 {
            if dropped.load(Ordering::SeqCst) {
                return;
            }
            tokio::task::yield_now().await;
        }
        panic!("the pages were not dropped with the stream");
    }
}
