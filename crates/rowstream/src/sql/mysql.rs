//! MySQL and MariaDB fetchers through sqlx (feature `mysql`): dynamic and typed rows,
//! keyset pagination ([`keyset()`]), and `KILL QUERY` when a stream is dropped early.
//!
//! # Value mapping of dynamic rows ([`MySqlRecord`])
//!
//! Values are read in the binary protocol (every fetcher here runs a prepared statement)
//! and written straight into the encoder.
//!
//! | MySQL / MariaDB | JSON |
//! |---|---|
//! | `TINYINT` … `BIGINT`, signed and `UNSIGNED`, `YEAR` | number, exact digits (`BIGINT UNSIGNED` up to 2^64−1) |
//! | `BOOLEAN` (`TINYINT(1)`) | `true`/`false` for 1/0; any other value as a number |
//! | `FLOAT`, `DOUBLE` | number |
//! | `DECIMAL` | string with the exact digits and scale (`"12.50"`), never through `f64` |
//! | `CHAR`, `VARCHAR`, `TEXT` types, `ENUM`, `SET` | string; text that is not valid UTF-8 fails the export at that row, naming the column (cast it to `BINARY` to export its bytes as base64) |
//! | `BINARY`, `VARBINARY`, `BLOB` types | string, standard base64 with padding (RFC 4648 §4) |
//! | `BIT(n)` | number |
//! | `DATE` | `"YYYY-MM-DD"`; a zero date as `"0000-00-00"` and a date with zero parts as they are (`"2024-00-00"`), never `null` |
//! | `DATETIME` | `"YYYY-MM-DDTHH:MM:SS[.ffffff]"` — ISO 8601 local date-time **without an offset** (DATETIME has no zone); a zero one as `"0000-00-00T00:00:00"` |
//! | `TIMESTAMP` | RFC 3339 in UTC, `"…Z"`: the fetchers set the session's `time_zone` to `+00:00`; a zero one as `"0000-00-00T00:00:00"` (no instant, no `Z`) |
//! | `TIME` | `"[-]HH:MM:SS[.ffffff]"`, hours beyond 24 kept (it is a duration in MySQL) |
//! | `JSON` (MySQL), and the columns named in [`RecordOptions::json_columns`] | embedded JSON (not a string) |
//! | `NULL` | `null` |
//!
//! MariaDB stores `JSON` as `LONGTEXT` and reports it as such on the wire; name those
//! columns in [`RecordOptions::json_columns`] to embed them. `GEOMETRY` fails the row with an
//! error naming the column and the type.
//!
//! # Cancellation
//!
//! Dropping a fetcher from [`fetch`], [`fetch_with`], [`fetch_as`], [`rows`], [`rows_with`],
//! [`query_as`] or [`keyset()`] in the middle of a statement runs
//! `KILL QUERY <connection id>` over a separate short-lived connection and then closes the
//! pooled connection instead of returning it: a MySQL connection abandoned in the middle of
//! a result is never handed to the next request.
//!
//! # Queries with parameters
//!
//! [`fetch_as`], [`fetch`] and [`fetch_with`] take a query built the sqlx way,
//! `sqlx::query_as::<_, T>(sql)` or `sqlx::query(sql)` with its `.bind(…)`s, and run it
//! with the cancellation above. The query may borrow its SQL: its text is copied and its
//! arguments taken (`MySqlArguments` own their values), so the fetcher is `'static`. A
//! value that fails to bind is the stream's first and only item, `sqlx::Error::Encode`,
//! before a connection is taken.

use crate::encode::item_limit::admit;
use std::sync::Arc;

use futures_core::Stream;
use serde::ser::Error as _;
use serde::{Serialize, Serializer};
use sqlx::error::BoxDynError;
use sqlx::mysql::{
    MySqlArguments, MySqlConnectOptions, MySqlConnection, MySqlPool, MySqlRow, MySqlValueRef,
};
use sqlx::query::{Query, QueryAs};
use sqlx::{Column, ConnectOptions as _, Connection as _, Decode, MySql, Row, TypeInfo, ValueRef};

use super::keyset::{Dialect, Key, Keyset};
use super::temporal;
use super::{Backend, OnDrop, Record, Statement, session};

/// Options for [`MySqlRecord`]s: which text columns hold JSON.
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct RecordOptions {
    json_columns: Arc<[String]>,
}

impl RecordOptions {
    /// Columns to embed as JSON although the server reports them as text (MariaDB's `JSON`
    /// is `LONGTEXT` with a `json_valid` check). Default: none.
    pub fn json_columns<I, S>(mut self, columns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.json_columns = columns.into_iter().map(Into::into).collect();
        self
    }
}

/// One row of any query, serialized as an object `{"column": value, …}` in column order.
/// See the [module docs](self) for the value mapping.
pub struct MySqlRecord {
    row: MySqlRow,
    options: RecordOptions,
}

impl MySqlRecord {
    /// A record with default [`RecordOptions`].
    pub fn new(row: MySqlRow) -> Self {
        Self {
            row,
            options: RecordOptions::default(),
        }
    }

    /// The underlying sqlx row.
    pub fn row(&self) -> &MySqlRow {
        &self.row
    }
}

impl std::fmt::Debug for MySqlRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        super::debug_row(f, "MySqlRecord", &self.row)
    }
}

impl Serialize for MySqlRecord {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        super::serialize_row(&self.row, serializer, |index, name| Cell {
            row: &self.row,
            index,
            json: self.options.json_columns.iter().any(|c| c == name),
        })
    }
}

struct Cell<'r> {
    row: &'r MySqlRow,
    index: usize,
    json: bool,
}

impl Cell<'_> {
    fn decode<'r, T: Decode<'r, MySql>>(&'r self) -> Result<T, sqlx::error::BoxDynError> {
        T::decode(self.row.try_get_raw(self.index)?)
    }

    /// A `TINYINT`'s value, signed or unsigned as its column is.
    fn tinyint(&self) -> Result<i64, sqlx::error::BoxDynError> {
        let ty = self.row.columns()[self.index].type_info();
        if <u8 as sqlx::Type<MySql>>::compatible(ty) {
            self.decode::<u8>().map(i64::from)
        } else {
            self.decode::<i64>()
        }
    }

    fn write<S: Serializer>(&self, serializer: S, ty: &str) -> Result<S::Ok, CellError<S::Error>> {
        let bytes: &[u8] = self.decode().map_err(CellError::Decode)?;
        let ok = |r: Result<S::Ok, S::Error>| r.map_err(CellError::Output);
        if self.json || ty == "JSON" {
            let text = std::str::from_utf8(bytes).map_err(|e| CellError::Decode(e.into()))?;
            return ok(crate::sql::json_text::serialize_json(serializer, text));
        }
        match ty {
            // The driver calls `TINYINT(1)` BOOLEAN whether or not it is UNSIGNED: read
            // its byte with the column's own sign (an unsigned 200 is not -56).
            "BOOLEAN" => match self.tinyint().map_err(CellError::Decode)? {
                0 => ok(serializer.serialize_bool(false)),
                1 => ok(serializer.serialize_bool(true)),
                other => ok(serializer.serialize_i64(other)),
            },
            "TINYINT" | "SMALLINT" | "MEDIUMINT" | "INT" | "BIGINT" | "YEAR" => {
                ok(serializer.serialize_i64(self.decode().map_err(CellError::Decode)?))
            }
            "TINYINT UNSIGNED" | "SMALLINT UNSIGNED" | "MEDIUMINT UNSIGNED" | "INT UNSIGNED"
            | "BIGINT UNSIGNED" => {
                ok(serializer.serialize_u64(self.decode().map_err(CellError::Decode)?))
            }
            "FLOAT" => ok(serializer.serialize_f32(self.decode().map_err(CellError::Decode)?)),
            "DOUBLE" => ok(serializer.serialize_f64(self.decode().map_err(CellError::Decode)?)),
            "BIT" => {
                if bytes.len() > 8 {
                    return Err(CellError::Decode("BIT value wider than 64 bits".into()));
                }
                let value = bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
                ok(serializer.serialize_u64(value))
            }
            "DECIMAL" | "CHAR" | "VARCHAR" | "TEXT" | "TINYTEXT" | "MEDIUMTEXT" | "LONGTEXT"
            | "ENUM" | "SET" => match admit::<S::Error>(bytes.len())
                .map_err(CellError::Output)
                .map(|()| std::str::from_utf8(bytes))?
            {
                Ok(text) => ok(serializer.serialize_str(text)),
                Err(err) => Err(CellError::Decode(super::invalid_utf8(&err).into())),
            },
            "BINARY" | "VARBINARY" | "BLOB" | "TINYBLOB" | "MEDIUMBLOB" | "LONGBLOB" => {
                use base64::Engine as _;
                admit::<S::Error>(bytes.len()).map_err(CellError::Output)?;
                ok(serializer
                    .serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes)))
            }
            "DATE" | "DATETIME" | "TIMESTAMP" => {
                let text = datetime_text(bytes, ty).map_err(|e| CellError::Decode(e.into()))?;
                ok(serializer.serialize_str(&text))
            }
            "TIME" => {
                let text = time_text(bytes).map_err(|e| CellError::Decode(e.into()))?;
                ok(serializer.serialize_str(&text))
            }
            other => Err(CellError::Decode(
                format!("unsupported MySQL type {other}").into(),
            )),
        }
    }
}

enum CellError<E> {
    Decode(sqlx::error::BoxDynError),
    Output(E),
}

impl Serialize for Cell<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let column = &self.row.columns()[self.index];
        let ty = column.type_info().name();
        let context = |e: &dyn std::fmt::Display| {
            S::Error::custom(format_args!("column \"{}\" ({ty}): {e}", column.name()))
        };
        let value = self.row.try_get_raw(self.index).map_err(|e| context(&e))?;
        // sqlx reports zero dates (`0000-00-00`) as NULL too: only a value without bytes
        // is SQL NULL.
        if value.is_null() && <&[u8] as Decode<MySql>>::decode(value).is_err() {
            return serializer.serialize_unit();
        }
        match self.write(serializer, ty) {
            Ok(ok) => Ok(ok),
            Err(CellError::Decode(e)) => Err(context(&e)),
            Err(CellError::Output(e)) => Err(context(&e)),
        }
    }
}

/// Binary DATE/DATETIME/TIMESTAMP: a length byte (0, 4, 7 or 11), then `year: u16 LE,
/// month, day`, then `hour, minute, second`, then `microsecond: u32 LE`.
fn datetime_text(bytes: &[u8], ty: &str) -> Result<String, String> {
    let (&len, data) = bytes.split_first().ok_or("empty value")?;
    if data.len() != usize::from(len) || !matches!(len, 0 | 4 | 7 | 11) {
        return Err(format!("malformed {ty} value of {} bytes", bytes.len()));
    }
    let year = if len >= 4 {
        u16::from_le_bytes([data[0], data[1]])
    } else {
        0
    };
    let (month, day) = if len >= 4 { (data[2], data[3]) } else { (0, 0) };
    let mut out = String::with_capacity(27);
    temporal::write_date(&mut out, i64::from(year), u32::from(month), u32::from(day));
    if ty == "DATE" {
        return Ok(out);
    }
    let (h, m, s) = if len >= 7 {
        (data[4], data[5], data[6])
    } else {
        (0, 0, 0)
    };
    let micros = if len == 11 {
        u32::from_le_bytes([data[7], data[8], data[9], data[10]])
    } else {
        0
    };
    out.push('T');
    temporal::write_time(
        &mut out,
        u64::from(h),
        u64::from(m),
        u64::from(s),
        u64::from(micros),
    );
    // A zero TIMESTAMP is no instant: no `Z`.
    if ty == "TIMESTAMP" && len > 0 {
        out.push('Z');
    }
    Ok(out)
}

/// Binary TIME: a length byte (0, 8 or 12), then `negative: u8, days: u32 LE, hour,
/// minute, second`, then `microsecond: u32 LE`.
fn time_text(bytes: &[u8]) -> Result<String, String> {
    let (&len, data) = bytes.split_first().ok_or("empty value")?;
    if data.len() != usize::from(len) || !matches!(len, 0 | 8 | 12) {
        return Err(format!("malformed TIME value of {} bytes", bytes.len()));
    }
    if len == 0 {
        return Ok("00:00:00".to_owned());
    }
    let negative = data[0] == 1;
    let days = u64::from(u32::from_le_bytes([data[1], data[2], data[3], data[4]]));
    let hours = days * 24 + u64::from(data[5]);
    let micros = if len == 12 {
        u64::from(u32::from_le_bytes([data[8], data[9], data[10], data[11]]))
    } else {
        0
    };
    let mut out = String::with_capacity(18);
    if negative {
        out.push('-');
    }
    temporal::write_time(
        &mut out,
        hours,
        u64::from(data[6]),
        u64::from(data[7]),
        micros,
    );
    Ok(out)
}

/// Streams every row of `sql` as a [`MySqlRecord`]; the statement is killed in the server
/// when the stream is dropped early.
pub fn rows(
    pool: MySqlPool,
    sql: impl Into<String>,
) -> impl Stream<Item = Result<MySqlRecord, sqlx::Error>> + Send + 'static {
    rows_with(
        pool,
        sql,
        MySqlArguments::default(),
        RecordOptions::default(),
    )
}

/// Streams every row of `sql` with bound parameters `args` (`?`) as a [`MySqlRecord`]
/// written with `options`; killed in the server when dropped early.
pub fn rows_with(
    pool: MySqlPool,
    sql: impl Into<String>,
    args: MySqlArguments,
    options: RecordOptions,
) -> impl Stream<Item = Result<MySqlRecord, sqlx::Error>> + Send + 'static {
    session::fetch(pool, Statement::new(sql.into(), args), move |row| {
        Ok(MySqlRecord {
            row,
            options: options.clone(),
        })
    })
}

/// Streams every row of `sql` decoded as `T` (`sqlx::FromRow`); killed in the server when
/// dropped early.
pub fn query_as<T>(
    pool: MySqlPool,
    sql: impl Into<String>,
) -> impl Stream<Item = Result<T, sqlx::Error>> + Send + 'static
where
    T: for<'r> sqlx::FromRow<'r, MySqlRow> + Send + Unpin + 'static,
{
    session::fetch(
        pool,
        Statement::new(sql.into(), MySqlArguments::default()),
        |row| T::from_row(&row),
    )
}

/// Streams the rows of `query` — `sqlx::query_as::<_, T>(sql).bind(…)…` — decoded as `T`;
/// killed in the server when dropped early.
///
/// The query is taken as sqlx users build it rather than as SQL plus an arguments value:
/// its SQL is copied and its `MySqlArguments` (which own their values) are moved into the
/// stream, so any query, even one borrowing its SQL, makes a `'static` fetcher.
///
/// ```no_run
/// # async fn demo(pool: sqlx::MySqlPool, tenant: i64) {
/// // Any `FromRow` type: a tuple here, or a struct with `#[derive(sqlx::FromRow)]`.
/// let tickets = rowstream::mysql::fetch_as(
///     pool,
///     sqlx::query_as::<_, (i64, String)>("SELECT id, subject FROM tickets WHERE tenant = ?")
///         .bind(tenant),
/// );
/// # }
/// ```
pub fn fetch_as<T>(
    pool: MySqlPool,
    query: QueryAs<'_, MySql, T, MySqlArguments>,
) -> impl Stream<Item = Result<T, sqlx::Error>> + Send + 'static + use<T>
where
    T: for<'r> sqlx::FromRow<'r, MySqlRow> + Send + Unpin + 'static,
{
    session::fetch(pool, super::take(query), |row| T::from_row(&row))
}

/// Streams the rows of `query` — `sqlx::query(sql).bind(…)…` — as [`MySqlRecord`]s with
/// default [`RecordOptions`]; killed in the server when dropped early. See [`fetch_as`]
/// for how the query is taken.
pub fn fetch(
    pool: MySqlPool,
    query: Query<'_, MySql, MySqlArguments>,
) -> impl Stream<Item = Result<MySqlRecord, sqlx::Error>> + Send + 'static + use<> {
    fetch_with(pool, query, RecordOptions::default())
}

/// [`fetch`] with the records written with `options` (MariaDB's JSON columns, say).
pub fn fetch_with(
    pool: MySqlPool,
    query: Query<'_, MySql, MySqlArguments>,
    options: RecordOptions,
) -> impl Stream<Item = Result<MySqlRecord, sqlx::Error>> + Send + 'static + use<> {
    session::fetch(pool, super::take(query), move |row| {
        Ok(MySqlRecord {
            row,
            options: options.clone(),
        })
    })
}

/// Streams `keyset`'s table one page (`Vec`) per query, in key order, each record written
/// with `options` — see [`crate::keyset`]. Stream it with
/// [`Streamer::stream_batches`](crate::Streamer::stream_batches).
///
/// One pooled connection serves every page, in autocommit: no transaction stays open
/// between pages. The next page is read, on a task of its own, while the current one is
/// consumed: at most three pages are in memory. Dropping the stream while a page is being read kills that statement and
/// closes the connection (as [`rows`] does); between pages the connection simply goes
/// back to the pool. Integer keys (`TINYINT` … `BIGINT`, signed or unsigned up to
/// 2^63−1) and text keys (`CHAR`, `VARCHAR`, `TEXT` types, compared in the column's
/// collation) are supported.
///
/// # Errors
///
/// The stream yields an error, and ends, if a query fails (no such table or column …) or
/// if the key of a page's last row is NULL, of another type, or an unsigned value above
/// `i64::MAX`.
/// A batch size above [`MAX_BATCH_SIZE`](crate::MAX_BATCH_SIZE) fails it before any
/// query, with a `sqlx::Error::Configuration` ([`Keyset::batch_size`]).
///
/// ```no_run
/// # async fn demo(pool: sqlx::MySqlPool) {
/// use rowstream::keyset::Keyset;
/// use rowstream::mysql::RecordOptions;
/// use rowstream::{Identity, JsonArray, Streamer};
///
/// let pages = rowstream::mysql::keyset(pool, Keyset::new("flights", "id"), RecordOptions::default());
/// let chunks = Streamer::default().stream_batches(pages, Identity, JsonArray::new());
/// # }
/// ```
pub fn keyset(
    pool: MySqlPool,
    keyset: Keyset,
    options: RecordOptions,
) -> impl Stream<Item = Result<Vec<MySqlRecord>, sqlx::Error>> + Send + 'static {
    super::keyset::pages(pool, keyset, move |row| MySqlRecord {
        row,
        options: options.clone(),
    })
}

impl Record<MySql> for MySqlRecord {
    fn row(&self) -> &MySqlRow {
        &self.row
    }
}

/// A session runs in UTC and knows its connection id; a statement is stopped with
/// `KILL QUERY`, and its connection is closed, never pooled again.
impl Backend for MySql {
    const DIALECT: Dialect = Dialect {
        quote: '`',
        numbered: false,
    };
    const ON_DROP: OnDrop = OnDrop::CancelThenClose;
    type Id = u64;

    async fn open(conn: &mut MySqlConnection) -> Result<u64, sqlx::Error> {
        sqlx::query("SET time_zone = '+00:00'")
            .execute(&mut *conn)
            .await?;
        sqlx::query_scalar("SELECT CONNECTION_ID()")
            .fetch_one(conn)
            .await
    }

    async fn cancel(options: &MySqlConnectOptions, id: u64) -> Result<(), sqlx::Error> {
        let mut admin = options.connect().await?;
        sqlx::query(&format!("KILL QUERY {id}"))
            .execute(&mut admin)
            .await?;
        admin.close().await
    }

    /// `TINYINT` … `BIGINT` keys, signed or unsigned up to `i64::MAX`, and `CHAR`,
    /// `VARCHAR` and `TEXT` keys.
    fn key(value: MySqlValueRef<'_>, type_name: &str) -> Result<Key, BoxDynError> {
        match type_name {
            "TINYINT" | "SMALLINT" | "MEDIUMINT" | "INT" | "BIGINT" => {
                <i64 as Decode<MySql>>::decode(value).map(Key::Int)
            }
            "TINYINT UNSIGNED" | "SMALLINT UNSIGNED" | "MEDIUMINT UNSIGNED" | "INT UNSIGNED"
            | "BIGINT UNSIGNED" => <u64 as Decode<MySql>>::decode(value)
                .and_then(|v| i64::try_from(v).map_err(Into::into))
                .map(Key::Int),
            "CHAR" | "VARCHAR" | "TEXT" | "TINYTEXT" | "MEDIUMTEXT" | "LONGTEXT" => {
                <String as Decode<MySql>>::decode(value).map(Key::Text)
            }
            other => Err(format!("type {other} is not an integer or text type").into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes() {
        assert_eq!(datetime_text(&[0], "DATE").unwrap(), "0000-00-00");
        let d = [4, 0xE8, 0x07, 2, 29];
        assert_eq!(datetime_text(&d, "DATE").unwrap(), "2024-02-29");
        let dt = [11, 0xE8, 0x07, 2, 29, 12, 34, 56, 0x40, 0xE2, 0x01, 0];
        assert_eq!(
            datetime_text(&dt, "DATETIME").unwrap(),
            "2024-02-29T12:34:56.123456"
        );
        assert_eq!(
            datetime_text(&dt, "TIMESTAMP").unwrap(),
            "2024-02-29T12:34:56.123456Z"
        );
        assert!(datetime_text(&[7, 1], "DATETIME").is_err());
    }

    #[test]
    fn times() {
        assert_eq!(time_text(&[0]).unwrap(), "00:00:00");
        let t = [8, 1, 1, 0, 0, 0, 2, 3, 4];
        assert_eq!(time_text(&t).unwrap(), "-26:03:04");
        let t = [12, 0, 0, 0, 0, 0, 23, 59, 59, 0x20, 0xA1, 0x07, 0];
        assert_eq!(time_text(&t).unwrap(), "23:59:59.5");
    }
}
