//! PostgreSQL fetchers through sqlx (feature `postgres`): dynamic and typed rows, real
//! cancellation when the stream is dropped, and keyset pagination.
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
//! Dropping a fetcher from [`rows`] or [`rows_with`] before its end (the client left)
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
use sqlx::{Column, ConnectOptions, Connection, Postgres, Row, TypeInfo, ValueRef};

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

/// A pooled connection with its backend process id. Dropped before [`finish`]
/// (Session::finish), it cancels the backend's statement and then releases the connection.
struct Session {
    conn: Option<PoolConnection<Postgres>>,
    pid: i32,
    options: Arc<PgConnectOptions>,
    done: bool,
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
            done: false,
        })
    }

    fn conn(&mut self) -> &mut sqlx::PgConnection {
        match self.conn.as_mut() {
            Some(conn) => conn,
            None => unreachable!("the connection is only taken on drop"),
        }
    }

    /// The statement ran to its end: nothing to cancel.
    fn finish(&mut self) {
        self.done = true;
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else { return };
        if self.done {
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
