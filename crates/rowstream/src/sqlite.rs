//! SQLite fetchers through sqlx (feature `sqlite`).
//!
//! Two shapes:
//!
//! - **Typed**: [`query_as`] streams rows decoded by your `sqlx::FromRow` type, which you
//!   then serialize with serde as usual.
//! - **Dynamic**: [`rows`] streams any query as [`SqliteRecord`]s, each serialized as one
//!   object keyed by column name, in column order. Values are written straight from the
//!   row into the encoder, without a `serde_json::Value` per row.
//!
//! Value mapping of dynamic rows, by each value's SQLite storage class:
//!
//! | storage class | JSON |
//! |---|---|
//! | `INTEGER` | number, exact 64-bit digits |
//! | `REAL` | number (shortest round-trip form); ±Infinity → `null` |
//! | `TEXT` | string; invalid UTF-8 is replaced by U+FFFD (the one policy: never a panic, never an error) |
//! | `BLOB` | string, standard base64 with padding (RFC 4648 §4) |
//! | `NULL` | `null` |
//!
//! The fetchers own a clone of the pool and the SQL text, so they are `'static` and can be
//! handed to a [`Streamer`](crate::Streamer). Dropping one drops the running statement:
//! sqlx resets it and the connection returns to the pool.

use futures_core::Stream;
use futures_util::StreamExt;
use serde::ser::{Error as _, SerializeMap};
use serde::{Serialize, Serializer};
use sqlx::sqlite::{SqliteArguments, SqlitePool, SqliteRow};
use sqlx::{Column, Decode, Row, TypeInfo, ValueRef};

/// One row of any query, serialized as an object `{"column": value, …}` in column order.
///
/// See the [module docs](self) for how each storage class is written.
pub struct SqliteRecord(SqliteRow);

impl std::fmt::Debug for SqliteRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.0.columns().iter().map(Column::name).collect();
        f.debug_struct("SqliteRecord")
            .field("columns", &names)
            .finish()
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
                match std::str::from_utf8(bytes) {
                    Ok(text) => serializer.serialize_str(text),
                    Err(_) => serializer.serialize_str(&String::from_utf8_lossy(bytes)),
                }
            }
            "BLOB" => {
                use base64::Engine as _;
                let bytes = self.decode::<&[u8], S::Error>()?;
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
