//! SQLite fetchers through sqlx (feature `sqlite`).
//!
//! Two shapes:
//!
//! - **Typed**: [`query_as`] streams rows decoded by your `sqlx::FromRow` type, which you
//!   then serialize with serde as usual; [`fetch_as`] does so for a query with parameters,
//!   built the sqlx way (`sqlx::query_as::<_, T>(sql).bind(…)`).
//! - **Dynamic**: [`rows`] streams any query as [`SqliteRecord`]s, each serialized as one
//!   object keyed by column name, in column order. Values are written straight from the
//!   row into the encoder, without a `serde_json::Value` per row; [`fetch`] takes a
//!   `sqlx::query(sql).bind(…)`.
//!
//! Value mapping of dynamic rows, by each value's SQLite storage class:
//!
//! | storage class | JSON |
//! |---|---|
//! | `INTEGER` | number, exact 64-bit digits |
//! | `REAL` | number (shortest round-trip form); ±Infinity by the encoder's [`NonFinite`](crate::NonFinite) policy (`null` in JSON by default, native in MessagePack and CSV) |
//! | `TEXT` | string; text that is not valid UTF-8 fails the export at that row, naming the column (never a changed value; `CAST(col AS BLOB)` exports its bytes as base64) |
//! | `BLOB` | string, standard base64 with padding (RFC 4648 §4) |
//! | `NULL` | `null` |
//!
//! [`keyset()`] reads a table a page per query in key order (see [`crate::keyset`]).
//!
//! [`direct::rows`] reads a query without parameters from a database file on its own
//! connection in batches, bypassing sqlx's per-row handoff: the fastest way to export a
//! whole table.
//!
//! The fetchers own a clone of the pool and the SQL text, so they are `'static` and can be
//! handed to a [`Streamer`](crate::Streamer). Dropping one drops the running statement:
//! sqlx resets it and the connection returns to the pool.
//!
//! Each stream holds one connection of the pool from its first query until it ends or is
//! dropped, so the pool's `max_connections` bounds the exports that can run at once; a
//! further export waits for a free connection (up to the pool's `acquire_timeout`, then
//! fails before its first row). Keep a connection or two for the rest of the service.
//!
//! A database error is a fetch error whose text — the database's message — is the
//! `detail` of the problem+json answer (the `http` module docs show how to hide it).

use crate::encode::item_limit::admit;
use futures_core::Stream;
use futures_util::StreamExt;
use serde::ser::Error as _;
use serde::{Serialize, Serializer};
use sqlx::error::BoxDynError;
use sqlx::query::{Query, QueryAs};
use sqlx::sqlite::{SqliteArguments, SqlitePool, SqliteRow, SqliteValueRef};
use sqlx::{Decode, Row, Sqlite, TypeInfo, ValueRef};

use super::keyset::{Dialect, Key, Keyset};
use super::{Backend, ConnectOptions, OnDrop, Record};

pub mod direct;

/// One row of any query, serialized as an object `{"column": value, …}` in column order.
///
/// See the [module docs](self) for how each storage class is written. A record
/// serializes all of its columns: to leave out, rename or compute columns, do it in the
/// SQL, or stream typed rows with [`query_as`] and a transformer; [`row`](Self::row)
/// gives the sqlx row for reading values with `sqlx::Row::try_get`.
pub struct SqliteRecord(SqliteRow);

impl std::fmt::Debug for SqliteRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        super::debug_row(f, "SqliteRecord", &self.0)
    }
}

impl SqliteRecord {
    /// The underlying sqlx row.
    pub fn row(&self) -> &SqliteRow {
        &self.0
    }

    /// Takes the underlying sqlx row.
    pub fn into_row(self) -> SqliteRow {
        self.0
    }
}

impl From<SqliteRow> for SqliteRecord {
    fn from(row: SqliteRow) -> Self {
        Self(row)
    }
}

impl Serialize for SqliteRecord {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        super::serialize_row(&self.0, serializer, |index, _| Cell {
            row: &self.0,
            index,
        })
    }
}

/// One value, serialized by its runtime storage class.
struct Cell<'r> {
    row: &'r SqliteRow,
    index: usize,
}

impl Cell<'_> {
    fn decode<'r, T: Decode<'r, sqlx::Sqlite>, E: serde::ser::Error>(&'r self) -> Result<T, E> {
        let value = self.row.try_get_raw(self.index).map_err(E::custom)?;
        T::decode(value).map_err(E::custom)
    }
}

impl Serialize for Cell<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let value = self.row.try_get_raw(self.index).map_err(S::Error::custom)?;
        if value.is_null() {
            return serializer.serialize_unit();
        }
        match value.type_info().name() {
            "INTEGER" => serializer.serialize_i64(self.decode::<i64, S::Error>()?),
            "REAL" => serializer.serialize_f64(self.decode::<f64, S::Error>()?),
            "TEXT" => {
                let bytes = self.decode::<&[u8], S::Error>()?;
                admit::<S::Error>(bytes.len())?;
                match std::str::from_utf8(bytes) {
                    Ok(text) => serializer.serialize_str(text),
                    Err(err) => Err(S::Error::custom(format_args!(
                        "column \"{}\": {}",
                        sqlx::Column::name(&self.row.columns()[self.index]),
                        super::invalid_utf8(&err)
                    ))),
                }
            }
            "BLOB" => {
                use base64::Engine as _;
                let bytes = self.decode::<&[u8], S::Error>()?;
                admit::<S::Error>(bytes.len())?;
                serializer.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
            }
            other => Err(S::Error::custom(format_args!(
                "unexpected SQLite storage class {other}"
            ))),
        }
    }
}

/// Streams every row of `sql` as a [`SqliteRecord`].
///
/// ```no_run
/// # async fn demo(pool: sqlx::SqlitePool) {
/// let rows = rowstream::sqlite::rows(pool, "SELECT id, subject FROM tickets ORDER BY id");
/// let response = rowstream::axum::json_array(rows).await;
/// # }
/// ```
pub fn rows(
    pool: SqlitePool,
    sql: impl Into<String>,
) -> impl Stream<Item = Result<SqliteRecord, sqlx::Error>> + Send + 'static {
    rows_with(pool, sql, SqliteArguments::default())
}

/// Streams every row of `sql`, with bound parameters `args`, as a [`SqliteRecord`].
///
/// ```no_run
/// # async fn demo(pool: sqlx::SqlitePool) {
/// use sqlx::Arguments;
///
/// let mut args = sqlx::sqlite::SqliteArguments::default();
/// args.add(42_i64).expect("an i64 binds");
/// let rows = rowstream::sqlite::rows_with(pool, "SELECT * FROM tickets WHERE priority = ?", args);
/// # }
/// ```
pub fn rows_with(
    pool: SqlitePool,
    sql: impl Into<String>,
    args: SqliteArguments<'static>,
) -> impl Stream<Item = Result<SqliteRecord, sqlx::Error>> + Send + 'static {
    let sql = sql.into();
    async_stream::stream! {
        let mut rows = sqlx::query_with(&sql, args).fetch(&pool);
        while let Some(row) = rows.next().await {
            yield row.map(SqliteRecord);
        }
    }
}

/// Streams every row of `sql` decoded as `T` (`sqlx::FromRow`).
///
/// ```no_run
/// # async fn demo(pool: sqlx::SqlitePool) {
/// // Any `FromRow` type: a tuple here, or a struct with `#[derive(sqlx::FromRow)]`.
/// let tickets = rowstream::sqlite::query_as::<(i64, String)>(pool, "SELECT id, subject FROM tickets");
/// let response = rowstream::axum::json_array(tickets).await;
/// # }
/// ```
pub fn query_as<T>(
    pool: SqlitePool,
    sql: impl Into<String>,
) -> impl Stream<Item = Result<T, sqlx::Error>> + Send + 'static
where
    T: for<'r> sqlx::FromRow<'r, SqliteRow> + Send + Unpin + 'static,
{
    let sql = sql.into();
    async_stream::stream! {
        let mut rows = sqlx::query_as::<_, T>(&sql).fetch(&pool);
        while let Some(row) = rows.next().await {
            yield row;
        }
    }
}

/// Streams the rows of `query` — `sqlx::query_as::<_, T>(sql).bind(…)…` — decoded as `T`.
/// Dropping the stream drops the statement, as for [`query_as`].
///
/// The query must be `'static`: SQL text that lives as long as the program (a literal) and
/// owned bound values (`i64`, `String` …, not a borrowed `&str`). SQLite's arguments may
/// borrow the values bound to them, and sqlx has no public way to make them owned, so the
/// stream keeps the query as it is. For SQL built at run time, use [`rows_with`] with
/// `SqliteArguments<'static>`.
///
/// ```no_run
/// # async fn demo(pool: sqlx::SqlitePool, tenant: i64) {
/// // Any `FromRow` type: a tuple here, or a struct with `#[derive(sqlx::FromRow)]`.
/// let tickets = rowstream::sqlite::fetch_as(
///     pool,
///     sqlx::query_as::<_, (i64, String)>("SELECT id, subject FROM tickets WHERE tenant = ?")
///         .bind(tenant),
/// );
/// # }
/// ```
pub fn fetch_as<T>(
    pool: SqlitePool,
    query: QueryAs<'static, Sqlite, T, SqliteArguments<'static>>,
) -> impl Stream<Item = Result<T, sqlx::Error>> + Send + 'static
where
    T: for<'r> sqlx::FromRow<'r, SqliteRow> + Send + Unpin + 'static,
{
    async_stream::stream! {
        let mut rows = query.fetch(&pool);
        while let Some(row) = rows.next().await {
            yield row;
        }
    }
}

/// Streams the rows of `query` — `sqlx::query(sql).bind(…)…`, `'static` as for
/// [`fetch_as`] — as [`SqliteRecord`]s.
pub fn fetch(
    pool: SqlitePool,
    query: Query<'static, Sqlite, SqliteArguments<'static>>,
) -> impl Stream<Item = Result<SqliteRecord, sqlx::Error>> + Send + 'static {
    async_stream::stream! {
        let mut rows = query.fetch(&pool);
        while let Some(row) = rows.next().await {
            yield row.map(SqliteRecord);
        }
    }
}

/// Streams `keyset`'s table one page (`Vec`) per query, in key order — see
/// [`crate::keyset`]. Stream it with
/// [`Streamer::stream_batches`](crate::Streamer::stream_batches).
///
/// One pooled connection serves every page, each page its own statement: no read
/// transaction stays open between pages (so WAL checkpoints are not held back). The next
/// page is read, on a task of its own, while the current one is consumed: at most three
/// pages are in memory. Keys are
/// read by their storage class: `INTEGER` keys are bound as `i64`, `TEXT` keys as text.
/// Use it on an `INTEGER PRIMARY KEY` or on the key of a `WITHOUT ROWID` table: in other
/// tables a `PRIMARY KEY` column may hold NULLs, which `key > ?` never reads.
///
/// # Errors
///
/// The stream yields an error, and ends, if a query fails, or if the key of a page's last
/// row is NULL, a REAL or a BLOB.
/// A batch size above [`MAX_BATCH_SIZE`](crate::MAX_BATCH_SIZE) fails it before any
/// query, with a `sqlx::Error::Configuration` ([`Keyset::batch_size`]).
///
/// ```no_run
/// # async fn demo(pool: sqlx::SqlitePool) {
/// use rowstream::keyset::Keyset;
/// use rowstream::{Identity, JsonArray, Streamer};
///
/// let pages = rowstream::sqlite::keyset(pool, Keyset::new("tickets", "id"));
/// let chunks = Streamer::default().stream_batches(pages, Identity, JsonArray::new());
/// # }
/// ```
pub fn keyset(
    pool: SqlitePool,
    keyset: Keyset,
) -> impl Stream<Item = Result<Vec<SqliteRecord>, sqlx::Error>> + Send + 'static {
    super::keyset::pages(pool, keyset, SqliteRecord)
}

impl Record<Sqlite> for SqliteRecord {
    fn row(&self) -> &SqliteRow {
        &self.0
    }
}

/// A statement stops when sqlx drops it, and there is no server to tell: a session
/// only holds its connection.
impl Backend for Sqlite {
    const DIALECT: Dialect = Dialect {
        quote: '"',
        numbered: false,
    };
    const ON_DROP: OnDrop = OnDrop::Release;
    type Id = ();

    async fn open(_: &mut Self::Connection) -> Result<(), sqlx::Error> {
        Ok(())
    }

    async fn cancel(_: &ConnectOptions<Self>, (): ()) -> Result<(), sqlx::Error> {
        Ok(())
    }

    /// Keys by their storage class: `INTEGER` and `TEXT`.
    fn key(value: SqliteValueRef<'_>, class: &str) -> Result<Key, BoxDynError> {
        match class {
            "INTEGER" => <i64 as Decode<Sqlite>>::decode(value).map(Key::Int),
            "TEXT" => <String as Decode<Sqlite>>::decode(value).map(Key::Text),
            other => {
                Err(format!("a {other} value; only INTEGER and TEXT keys are supported").into())
            }
        }
    }
}
