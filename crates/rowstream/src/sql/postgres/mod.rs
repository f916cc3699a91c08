//! PostgreSQL fetchers through sqlx (feature `postgres`): dynamic and typed rows, real
//! cancellation when the stream is dropped, keyset pagination ([`keyset()`]), and whole
//! results through `COPY (…) TO STDOUT (FORMAT binary)` ([`copy_rows`]).
//!
//! # Value mapping of dynamic rows ([`PgRecord`], [`PgCopyRecord`])
//!
//! Values are read in PostgreSQL's binary format and written straight into the encoder.
//! [`copy_rows`]' records are COPY's binary tuples — the same binary format — and are
//! written exactly as [`rows`]' are: same bytes, same errors.
//!
//! | PostgreSQL | JSON |
//! |---|---|
//! | `smallint`, `integer`, `bigint`, `oid` | number, exact digits |
//! | `real`, `double precision` | number; NaN/±Infinity by the encoder's [`NonFinite`](crate::NonFinite) policy (`null` in JSON by default, native in MessagePack and CSV) |
//! | `numeric`/`decimal` | string with the exact decimal digits and the column's scale (`"12.50"`), never through `f64`; NaN/±Infinity by the float policy |
//! | `text`, `varchar`, `char(n)`, `name`, `"char"`, `xml` | string |
//! | `bytea` | string, standard base64 with padding (RFC 4648 §4) |
//! | `boolean` | `true`/`false` |
//! | `date` | `"YYYY-MM-DD"`; `"infinity"`/`"-infinity"`; years before 1 AD and after 9999 in ISO 8601's expanded form with astronomical numbering (1 BC is `0000`, 4713 BC is `-4712`; `+10000-01-01`), every date PostgreSQL holds (4713 BC to 5874897 AD) exact |
//! | `time` | `"HH:MM:SS[.ffffff]"` |
//! | `timetz` | `"HH:MM:SS[.ffffff]+hh:mm"` |
//! | `timestamp` (without time zone) | `"YYYY-MM-DDTHH:MM:SS[.ffffff]"` — ISO 8601 local date-time **without an offset**, since the zone is unknown; `"infinity"`/`"-infinity"`; years as for `date`, exact from 4713 BC to 294276 AD |
//! | `timestamptz` | RFC 3339 in UTC: `"YYYY-MM-DDTHH:MM:SS[.ffffff]Z"` |
//! | `interval` | ISO 8601 duration as PostgreSQL's `iso_8601` style writes it: `"P1Y2M3DT4H5M6.5S"` |
//! | `uuid` | string, lowercase hyphenated |
//! | `json`, `jsonb` | embedded JSON (not a string), the text as PostgreSQL returns it; in CSV the JSON text as one field; in MessagePack maps and arrays, integers beyond 64 bits as strings of their digits |
//! | arrays of any of these | arrays, nested for several dimensions, `null` elements kept |
//! | enums | string (the label) |
//! | domains | as their base type |
//! | `void` (e.g. `pg_sleep()`'s result) | `null` |
//! | `NULL` | `null` |
//!
//! Fractions of a second are written without trailing zeros. Any other type (geometric,
//! network, range, composite, money …) fails the row with an error naming the column and
//! the type — never a silent `null`; cast it in SQL (`col::text`) to export it in
//! PostgreSQL's own text form (the `rowstream` binary does so for tables by itself).
//!
//! # Cancellation
//!
//! Dropping a fetcher from [`fetch`], [`fetch_as`], [`rows`], [`rows_with`], [`query_as`] or
//! [`keyset()`] in the middle of a statement (the client left)
//! cancels the statement in the server with `pg_cancel_backend` over a separate short-lived
//! connection, then reads the cancelled statement's end on the pooled connection (a ping,
//! at most 5 s) and only then lets it go back to the pool. The server stops computing
//! instead of producing rows nobody reads, and the pool gets a clean connection; one that
//! does not become ready in time (or whose cancel failed) is closed, never pooled busy,
//! and never holds its pool slot.
//!
//! Dropping [`copy_rows`]' stream in the middle of its COPY cancels it the same way; its
//! connection is then closed rather than pooled (the pool opens another when needed).

//!
//! # Queries with parameters
//!
//! [`fetch_as`] and [`fetch`] take a query built the sqlx way, `sqlx::query_as::<_, T>(sql)`
//! or `sqlx::query(sql)` with its `.bind(…)`s, and run it with the cancellation above. The
//! query may borrow its SQL (`&format!(…)`): its text is copied and its arguments taken
//! (PostgreSQL's `PgArguments` own their values), so the fetcher is `'static`. A value that
//! fails to bind is the stream's first and only item, `sqlx::Error::Encode`, before a
//! connection is taken.

mod copy;
mod sql_text;
mod types;

pub use copy::{PgCopyRecord, copy_rows};

use futures_core::Stream;
use serde::{Serialize, Serializer};
use sqlx::error::BoxDynError;
use sqlx::postgres::{
    PgArguments, PgColumn, PgConnectOptions, PgConnection, PgPool, PgRow, PgValueFormat, PgValueRef,
};
use sqlx::query::{Query, QueryAs};
use sqlx::{
    Column, ConnectOptions as _, Connection as _, Decode, Postgres, Row, TypeInfo, ValueRef,
};

use super::keyset::{Dialect, Key, Keyset};
use super::{Backend, OnDrop, Record, Statement, session};

/// One row of any query, serialized as an object `{"column": value, …}` in column order.
/// See the [module docs](self) for the value mapping.
pub struct PgRecord(PgRow);

impl PgRecord {
    /// The underlying sqlx row.
    pub fn row(&self) -> &PgRow {
        &self.0
    }

    /// Takes the underlying sqlx row.
    pub fn into_row(self) -> PgRow {
        self.0
    }
}

impl std::fmt::Debug for PgRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        super::debug_row(f, "PgRecord", &self.0)
    }
}

impl From<PgRow> for PgRecord {
    fn from(row: PgRow) -> Self {
        Self(row)
    }
}

impl Serialize for PgRecord {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        super::serialize_row(&self.0, serializer, |index, _| Cell {
            row: &self.0,
            index,
        })
    }
}

struct Cell<'r> {
    row: &'r PgRow,
    index: usize,
}

impl Serialize for Cell<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let column = &self.row.columns()[self.index];
        let value = self
            .row
            .try_get_raw(self.index)
            .map_err(|e| column_error::<S::Error>(column, &e))?;
        if value.is_null() {
            return serializer.serialize_unit();
        }
        let bytes = value.as_bytes().map_err(|e| column_error(column, &e))?;
        if value.format() == PgValueFormat::Text {
            // Only simple-protocol queries return text; it is written as it came.
            let text = std::str::from_utf8(bytes).map_err(|e| column_error(column, &e))?;
            return serializer.serialize_str(text);
        }
        BinaryCell {
            column,
            value: Some(bytes),
        }
        .serialize(serializer)
    }
}

/// A value of `column` in binary format (`None`: NULL), as [`PgRecord`] and
/// [`PgCopyRecord`] write it.
struct BinaryCell<'r> {
    column: &'r PgColumn,
    value: Option<&'r [u8]>,
}

impl Serialize for BinaryCell<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let Some(bytes) = self.value else {
            return serializer.serialize_unit();
        };
        // Errors from the value encoder get the column's name; errors from the output
        // serializer itself (e.g. a full writer) pass through unchanged in meaning.
        types::PgBinary {
            ty: self.column.type_info(),
            bytes,
        }
        .serialize(serializer)
        .map_err(|e| column_error(self.column, &e))
    }
}

/// An error of a value of `column`, naming the column and its type.
fn column_error<E: serde::ser::Error>(column: &PgColumn, e: &dyn std::fmt::Display) -> E {
    E::custom(format_args!(
        "column \"{}\" ({}): {e}",
        column.name(),
        column.type_info().name()
    ))
}

/// Streams every row of `sql` as a [`PgRecord`]; the statement is cancelled in the server
/// when the stream is dropped early.
///
/// ```no_run
/// # async fn demo(pool: sqlx::PgPool) {
/// let rows = rowstream::postgres::rows(pool, "SELECT * FROM flights ORDER BY id");
/// # }
/// ```
pub fn rows(
    pool: PgPool,
    sql: impl Into<String>,
) -> impl Stream<Item = Result<PgRecord, sqlx::Error>> + Send + 'static {
    rows_with(pool, sql, PgArguments::default())
}

/// Streams every row of `sql` with bound parameters `args` (`$1`, `$2`, …) as a
/// [`PgRecord`]; cancelled in the server when dropped early.
pub fn rows_with(
    pool: PgPool,
    sql: impl Into<String>,
    args: PgArguments,
) -> impl Stream<Item = Result<PgRecord, sqlx::Error>> + Send + 'static {
    session::fetch(pool, Statement::new(sql.into(), args), |row| {
        Ok(PgRecord(row))
    })
}

/// Streams every row of `sql` decoded as `T` (`sqlx::FromRow`); cancelled in the server
/// when dropped early.
pub fn query_as<T>(
    pool: PgPool,
    sql: impl Into<String>,
) -> impl Stream<Item = Result<T, sqlx::Error>> + Send + 'static
where
    T: for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin + 'static,
{
    session::fetch(
        pool,
        Statement::new(sql.into(), PgArguments::default()),
        |row| T::from_row(&row),
    )
}

/// Streams the rows of `query` — `sqlx::query_as::<_, T>(sql).bind(…)…` — decoded as `T`;
/// the statement is cancelled in the server when the stream is dropped early.
///
/// The query is taken as sqlx users build it rather than as SQL plus an arguments value:
/// its SQL is copied and its `PgArguments` (which own their values) are moved into the
/// stream, so any query, even one borrowing its SQL, makes a `'static` fetcher.
///
/// ```no_run
/// # async fn demo(pool: sqlx::PgPool, tenant: i64) {
/// // Any `FromRow` type: a tuple here, or a struct with `#[derive(sqlx::FromRow)]`.
/// let tickets = rowstream::postgres::fetch_as(
///     pool,
///     sqlx::query_as::<_, (i64, String)>("SELECT id, subject FROM tickets WHERE tenant = $1")
///         .bind(tenant),
/// );
/// # }
/// ```
pub fn fetch_as<T>(
    pool: PgPool,
    query: QueryAs<'_, Postgres, T, PgArguments>,
) -> impl Stream<Item = Result<T, sqlx::Error>> + Send + 'static + use<T>
where
    T: for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin + 'static,
{
    session::fetch(pool, super::take(query), |row| T::from_row(&row))
}

/// Streams the rows of `query` — `sqlx::query(sql).bind(…)…` — as [`PgRecord`]s; the
/// statement is cancelled in the server when the stream is dropped early. See
/// [`fetch_as`] for how the query is taken.
///
/// ```no_run
/// # async fn demo(pool: sqlx::PgPool) {
/// let rows = rowstream::postgres::fetch(pool, sqlx::query("SELECT * FROM flights WHERE origin = $1").bind("JFK"));
/// # }
/// ```
pub fn fetch(
    pool: PgPool,
    query: Query<'_, Postgres, PgArguments>,
) -> impl Stream<Item = Result<PgRecord, sqlx::Error>> + Send + 'static + use<> {
    session::fetch(pool, super::take(query), |row| Ok(PgRecord(row)))
}

/// Streams `keyset`'s table one page (`Vec`) per query, in key order — see
/// [`crate::keyset`]. Stream it with
/// [`Streamer::stream_batches`](crate::Streamer::stream_batches).
///
/// One pooled connection serves every page, in autocommit: no transaction stays open
/// between pages. The next page is read, on a task of its own, while the current one is
/// consumed: at most three pages are in memory. Dropping the stream while a page is being read cancels that statement in
/// the server (as [`rows`] does); between pages the connection simply goes back to the
/// pool. Integer keys (`smallint`, `integer`, `bigint`) and text keys (`text`, `varchar`)
/// are supported; `char(n)` is not (its padding compares differently as a parameter).
///
/// # Errors
///
/// The stream yields an error, and ends, if a query fails (no such table or column, a
/// start key of the wrong type …) or if the key of a page's last row is NULL or of
/// another type.
/// A batch size above [`MAX_BATCH_SIZE`](crate::MAX_BATCH_SIZE) fails it before any
/// query, with a `sqlx::Error::Configuration` ([`Keyset::batch_size`]).
///
/// ```no_run
/// # async fn demo(pool: sqlx::PgPool) {
/// use rowstream::keyset::Keyset;
/// use rowstream::{Identity, JsonArray, Streamer};
///
/// let streamer = Streamer::default();
/// let pages = rowstream::postgres::keyset(pool, Keyset::new("flights", "id").batch_size(1000));
/// let chunks = streamer.stream_batches(pages, Identity, JsonArray::new());
/// let response = rowstream::axum::into_response(chunks).await;
/// # }
/// ```
pub fn keyset(
    pool: PgPool,
    keyset: Keyset,
) -> impl Stream<Item = Result<Vec<PgRecord>, sqlx::Error>> + Send + 'static {
    super::keyset::pages(pool, keyset, PgRecord)
}

impl Record<Postgres> for PgRecord {
    fn row(&self) -> &PgRow {
        &self.0
    }
}

/// A session knows its backend's process id; a statement is cancelled with
/// `pg_cancel_backend`, and the connection then goes back to the pool.
impl Backend for Postgres {
    const DIALECT: Dialect = Dialect {
        quote: '"',
        numbered: true,
    };
    const ON_DROP: OnDrop = OnDrop::CancelThenRelease;
    type Id = i32;

    async fn open(conn: &mut PgConnection) -> Result<i32, sqlx::Error> {
        sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(conn)
            .await
    }

    async fn cancel(options: &PgConnectOptions, pid: i32) -> Result<(), sqlx::Error> {
        let mut admin = options.connect().await?;
        sqlx::query("SELECT pg_cancel_backend($1)")
            .bind(pid)
            .execute(&mut admin)
            .await?;
        admin.close().await
    }

    /// `smallint`, `integer`, `bigint` and `text`, `varchar` keys.
    fn key(value: PgValueRef<'_>, type_name: &str) -> Result<Key, BoxDynError> {
        match type_name {
            "INT2" => <i16 as Decode<Postgres>>::decode(value).map(|v| Key::Int(v.into())),
            "INT4" => <i32 as Decode<Postgres>>::decode(value).map(|v| Key::Int(v.into())),
            "INT8" => <i64 as Decode<Postgres>>::decode(value).map(Key::Int),
            "TEXT" | "VARCHAR" => <String as Decode<Postgres>>::decode(value).map(Key::Text),
            other => Err(format!("type {other} is not an integer or text type").into()),
        }
    }
}
