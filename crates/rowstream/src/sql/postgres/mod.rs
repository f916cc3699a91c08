//! PostgreSQL fetchers through sqlx (feature `postgres`): dynamic and typed rows, real
//! cancellation when the stream is dropped, and keyset pagination ([`keyset()`]).
//!
//! # Value mapping of dynamic rows ([`PgRecord`])
//!
//! Values are read in PostgreSQL's binary format and written straight into the encoder.
//!
//! | PostgreSQL | JSON |
//! |---|---|
//! | `smallint`, `integer`, `bigint`, `oid` | number, exact digits |
//! | `real`, `double precision` | number; NaN/±Infinity by the encoder's float policy (default `null`) |
//! | `numeric`/`decimal` | string with the exact decimal digits and the column's scale (`"12.50"`), never through `f64`; NaN/±Infinity by the float policy |
//! | `text`, `varchar`, `char(n)`, `name`, `"char"`, `xml` | string |
//! | `bytea` | string, standard base64 with padding (RFC 4648 §4) |
//! | `boolean` | `true`/`false` |
//! | `date` | `"YYYY-MM-DD"`; `"infinity"`/`"-infinity"` |
//! | `time` | `"HH:MM:SS[.ffffff]"` |
//! | `timetz` | `"HH:MM:SS[.ffffff]+hh:mm"` |
//! | `timestamp` (without time zone) | `"YYYY-MM-DDTHH:MM:SS[.ffffff]"` — ISO 8601 local date-time **without an offset**, since the zone is unknown; `"infinity"`/`"-infinity"` |
//! | `timestamptz` | RFC 3339 in UTC: `"YYYY-MM-DDTHH:MM:SS[.ffffff]Z"` |
//! | `interval` | ISO 8601 duration as PostgreSQL's `iso_8601` style writes it: `"P1Y2M3DT4H5M6.5S"` |
//! | `uuid` | string, lowercase hyphenated |
//! | `json`, `jsonb` | embedded JSON (not a string) |
//! | arrays of any of these | arrays, nested for several dimensions, `null` elements kept |
//! | enums | string (the label) |
//! | domains | as their base type |
//! | `void` (e.g. `pg_sleep()`'s result) | `null` |
//! | `NULL` | `null` |
//!
//! Fractions of a second are written without trailing zeros. Any other type (geometric,
//! network, range, composite, money …) fails the row with an error naming the column and
//! the type — never a silent `null`; cast it in SQL (`col::text`) to export it.
//!
//! # Cancellation
//!
//! Dropping a fetcher from [`rows`], [`rows_with`], [`query_as`] or [`keyset()`] in the middle
//! of a statement (the client left)
//! cancels the statement in the server with `pg_cancel_backend` over a separate short-lived
//! connection, and only then lets the pooled connection go back to the pool, where sqlx
//! reads the cancelled statement's end before reusing it. The server stops computing
//! instead of producing rows nobody reads, and the pool gets a clean connection.

mod types;

use std::sync::Arc;

use futures_core::Stream;
use futures_util::StreamExt;
use serde::ser::{Error as _, SerializeMap};
use serde::{Serialize, Serializer};
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgArguments, PgConnectOptions, PgPool, PgRow, PgValueFormat};
use sqlx::{Column, ConnectOptions, Connection, Decode, Postgres, Row, TypeInfo, ValueRef};

use crate::sql::keyset::{Dialect, Key, Keyset, key_error};

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
        let names: Vec<&str> = self.0.columns().iter().map(Column::name).collect();
        f.debug_struct("PgRecord").field("columns", &names).finish()
    }
}

impl From<PgRow> for PgRecord {
    fn from(row: PgRow) -> Self {
        Self(row)
    }
}

impl Serialize for PgRecord {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let columns = self.0.columns();
        let mut map = serializer.serialize_map(Some(columns.len()))?;
        for (index, column) in columns.iter().enumerate() {
            map.serialize_entry(
                column.name(),
                &Cell {
                    row: &self.0,
                    index,
                },
            )?;
        }
        map.end()
    }
}

struct Cell<'r> {
    row: &'r PgRow,
    index: usize,
}

impl Serialize for Cell<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let column = &self.row.columns()[self.index];
        let context = |e: &dyn std::fmt::Display| {
            S::Error::custom(format_args!(
                "column \"{}\" ({}): {e}",
                column.name(),
                column.type_info().name()
            ))
        };
        let value = self.row.try_get_raw(self.index).map_err(|e| context(&e))?;
        if value.is_null() {
            return serializer.serialize_unit();
        }
        let bytes = value.as_bytes().map_err(|e| context(&e))?;
        if value.format() == PgValueFormat::Text {
            // Only simple-protocol queries return text; it is written as it came.
            let text = std::str::from_utf8(bytes).map_err(|e| context(&e))?;
            return serializer.serialize_str(text);
        }
        // Errors from the value encoder get the column's name; errors from the output
        // serializer itself (e.g. a full writer) pass through unchanged in meaning.
        types::PgBinary {
            ty: column.type_info(),
            bytes,
        }
        .serialize(serializer)
        .map_err(|e| context(&e))
    }
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
    let sql = sql.into();
    async_stream::stream! {
        let mut session = match Session::open(&pool).await {
            Ok(session) => session,
            Err(err) => {
                yield Err(err);
                return;
            }
        };
        {
            let mut rows = sqlx::query_with(&sql, args).fetch(session.conn());
            while let Some(row) = rows.next().await {
                let failed = row.is_err();
                yield row.map(PgRecord);
                if failed {
                    break;
                }
            }
        }
        session.finish();
    }
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
    let sql = sql.into();
    async_stream::stream! {
        let mut session = match Session::open(&pool).await {
            Ok(session) => session,
            Err(err) => {
                yield Err(err);
                return;
            }
        };
        {
            let mut rows = sqlx::query_as::<_, T>(&sql).fetch(session.conn());
            while let Some(row) = rows.next().await {
                let failed = row.is_err();
                yield row;
                if failed {
                    break;
                }
            }
        }
        session.finish();
    }
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
    crate::sql::keyset::read_ahead(async_stream::stream! {
        let mut session = match Session::open(&pool).await {
            Ok(session) => session,
            Err(err) => {
                yield Err(err);
                return;
            }
        };
        let first_sql = keyset.page_sql(Dialect::Postgres, false);
        let next_sql = keyset.page_sql(Dialect::Postgres, true);
        let mut after = keyset.after.clone();
        let mut number = 0_u64;
        loop {
            number += 1;
            let mut page = Vec::with_capacity(keyset.page_size());
            let mut failure = None;
            {
                let query = match &after {
                    None => sqlx::query(&first_sql),
                    Some(Key::Int(key)) => sqlx::query(&next_sql).bind(*key),
                    Some(Key::Text(key)) => sqlx::query(&next_sql).bind(key.clone()),
                };
                let mut rows = query.fetch(session.conn());
                while let Some(row) = rows.next().await {
                    match row {
                        Ok(row) => page.push(PgRecord(row)),
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
                Some(last) => match page_key(&last.0, &keyset.key) {
                    Ok(key) => Some(key),
                    Err(err) => {
                        yield Err(err);
                        return;
                    }
                },
                None => None,
            };
            let more = keyset.page_done(number, page.len(), last_key.as_ref());
            if !page.is_empty() {
                yield Ok(page);
            }
            if !more {
                return;
            }
            after = last_key;
        }
    })
}

/// The key of a page's last row.
fn page_key(row: &PgRow, key: &str) -> Result<Key, sqlx::Error> {
    let index = crate::sql::keyset::key_index(row.columns().iter().map(Column::name), key)
        .ok_or_else(|| key_error(key, "not among the result's columns"))?;
    let value = row.try_get_raw(index)?;
    if value.is_null() {
        return Err(key_error(key, "NULL in the last row of a page"));
    }
    let name = value.type_info().name().to_owned();
    let decoded = match name.as_str() {
        "INT2" => <i16 as Decode<Postgres>>::decode(value).map(|v| Key::Int(v.into())),
        "INT4" => <i32 as Decode<Postgres>>::decode(value).map(|v| Key::Int(v.into())),
        "INT8" => <i64 as Decode<Postgres>>::decode(value).map(Key::Int),
        "TEXT" | "VARCHAR" => <String as Decode<Postgres>>::decode(value).map(Key::Text),
        other => {
            return Err(key_error(
                key,
                format_args!("type {other} is not an integer or text type"),
            ));
        }
    };
    decoded.map_err(|err| key_error(key, err))
}

/// A pooled connection with its backend process id. Dropped while a statement may be
/// running on it (after [`conn`](Session::conn), before [`finish`](Session::finish)), it
/// cancels the backend's statement and then releases the connection; dropped between
/// statements, it releases the connection as it is.
struct Session {
    conn: Option<PoolConnection<Postgres>>,
    pid: i32,
    options: Arc<PgConnectOptions>,
    busy: bool,
}

impl Session {
    async fn open(pool: &PgPool) -> Result<Self, sqlx::Error> {
        let mut conn = pool.acquire().await?;
        let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(&mut *conn)
            .await?;
        Ok(Self {
            conn: Some(conn),
            pid,
            options: pool.connect_options(),
            busy: false,
        })
    }

    /// The connection, for a statement: from now until [`finish`](Self::finish) a drop
    /// cancels.
    fn conn(&mut self) -> &mut sqlx::PgConnection {
        self.busy = true;
        match self.conn.as_mut() {
            Some(conn) => conn,
            None => unreachable!("the connection is only taken on drop"),
        }
    }

    /// The statement ran to its end: nothing to cancel.
    fn finish(&mut self) {
        self.busy = false;
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else { return };
        if !self.busy {
            return; // back to the pool as usual
        }
        let (pid, options) = (self.pid, self.options.clone());
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // No runtime to run the cancel on: close the connection instead of
            // returning a busy one.
            drop(conn.detach());
            return;
        };
        runtime.spawn(async move {
            if cancel_backend(&options, pid).await.is_err() {
                // The cancel did not get through: never hand out a busy connection.
                let _ = conn.close().await;
                return;
            }
            // sqlx reads the cancelled statement's end on release (ping), then pools it.
            drop(conn);
        });
    }
}

/// Runs `pg_cancel_backend(pid)` over a new connection outside the pool, so a full pool
/// cannot delay the cancel.
async fn cancel_backend(options: &PgConnectOptions, pid: i32) -> Result<(), sqlx::Error> {
    let mut admin = options.connect().await?;
    sqlx::query("SELECT pg_cancel_backend($1)")
        .bind(pid)
        .execute(&mut admin)
        .await?;
    admin.close().await
}
