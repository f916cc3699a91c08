//! The SQL backends: fetchers for SQLite, PostgreSQL and MySQL through sqlx, keyset
//! pagination, and the value helpers their record encoders share. The public modules are
//! re-exported at the crate root (`rowstream::sqlite`, `rowstream::postgres`,
//! `rowstream::mysql`, `rowstream::keyset`).
//!
//! What differs between the databases is one [`Backend`] implementation each, beside its
//! fetchers; the code the fetchers share is written once against it: the session that
//! stops a dropped statement in the server ([`session`]) and the keyset page loop
//! ([`keyset`]).

use std::fmt;
use std::future::Future;

use serde::ser::{Serialize, SerializeMap, Serializer};
use sqlx::Column as _;
use sqlx::error::BoxDynError;

use self::keyset::{Dialect, Key};

#[cfg(any(feature = "postgres", feature = "mysql"))]
mod json_text;
pub mod keyset;
#[cfg(feature = "mysql")]
pub mod mysql;
#[cfg(feature = "postgres")]
pub mod postgres;
mod session;
#[cfg(feature = "sqlite")]
pub mod sqlite;
#[cfg(any(feature = "postgres", feature = "mysql"))]
mod temporal;

/// A sqlx query taken apart into what a `'static` stream owns: its SQL text (copied), its
/// bound arguments (or the error binding one of them raised, reported as sqlx reports it,
/// `sqlx::Error::Encode`), and whether its prepared statement is cached.
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub(crate) struct Statement<A> {
    pub(crate) sql: String,
    pub(crate) args: Result<A, sqlx::Error>,
    pub(crate) persistent: bool,
}

#[cfg(any(feature = "postgres", feature = "mysql"))]
impl<A> Statement<A> {
    /// `sql` with `args`, cached as sqlx caches a `query_with`.
    pub(crate) fn new(sql: String, args: A) -> Self {
        Self {
            sql,
            args: Ok(args),
            persistent: true,
        }
    }
}

/// Takes `query` (a `sqlx::query(…)` or `sqlx::query_as(…)` with its `.bind(…)`s) apart.
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub(crate) fn take<'q, DB: sqlx::Database>(
    mut query: impl sqlx::Execute<'q, DB>,
) -> Statement<DB::Arguments<'q>> {
    let sql = query.sql().to_owned();
    let persistent = query.persistent();
    let args = match query.take_arguments() {
        Ok(args) => Ok(args.unwrap_or_default()),
        Err(err) => Err(sqlx::Error::Encode(err)),
    };
    Statement {
        sql,
        args,
        persistent,
    }
}

/// The options a new connection of database `DB` is made with.
pub(crate) type ConnectOptions<DB> =
    <<DB as sqlx::Database>::Connection as sqlx::Connection>::Options;

/// A database as the shared fetcher code sees it: its SQL spelling, how a statement
/// running on a pooled connection is stopped, and how it reads a key.
pub(crate) trait Backend: sqlx::Database {
    /// How the database quotes identifiers and spells parameters.
    const DIALECT: Dialect;

    /// What dropping a session in the middle of a statement does.
    const ON_DROP: OnDrop;

    /// The server's id of a connection: what a cancel names.
    type Id: Copy + Send + Sync + 'static;

    /// Prepares a session's connection (its time zone, for example) and reads its id.
    fn open(
        conn: &mut Self::Connection,
    ) -> impl Future<Output = Result<Self::Id, sqlx::Error>> + Send;

    /// Stops the statement running on connection `id`, over a new connection made with
    /// `options`, outside the pool, so a full pool cannot delay it. Called only when
    /// [`ON_DROP`](Self::ON_DROP) cancels.
    fn cancel(
        options: &ConnectOptions<Self>,
        id: Self::Id,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send;

    /// The keyset key in `value`, a value of the type named `type_name` (never NULL).
    ///
    /// # Errors
    ///
    /// The type is not one of the database's integer or text types, or the value does
    /// not decode as one.
    fn key(value: Self::ValueRef<'_>, type_name: &str) -> Result<Key, BoxDynError>;
}

/// What a session dropped in the middle of a statement does with the statement and its
/// connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnDrop {
    /// Dropping the statement stops it (sqlx resets a SQLite statement); the connection
    /// goes back to the pool at once.
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    Release,
    /// The statement is cancelled in the server first; the cancelled statement's end is
    /// read (a ping, within 5 s), and then the connection goes back to the pool. If the
    /// cancel fails or the connection does not become ready, it is closed instead
    /// (PostgreSQL).
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    CancelThenRelease,
    /// The connection leaves the pool at once, never to be handed out again; the
    /// statement is cancelled in the server, then the connection is closed (MySQL).
    /// PostgreSQL's `COPY … TO STDOUT` sessions do the same.
    #[cfg_attr(not(any(feature = "mysql", feature = "postgres")), allow(dead_code))]
    CancelThenClose,
}

/// A backend's record type: a row that serializes as an object.
pub(crate) trait Record<DB: sqlx::Database> {
    /// The sqlx row the record writes.
    fn row(&self) -> &DB::Row;
}

/// Serializes `row` as an object `{"column": value, …}` in column order, each value as
/// `cell(index, column name)` writes it: the `Serialize` of every record type.
fn serialize_row<R, S, C>(
    row: &R,
    serializer: S,
    cell: impl Fn(usize, &str) -> C,
) -> Result<S::Ok, S::Error>
where
    R: sqlx::Row,
    S: Serializer,
    C: Serialize,
{
    let columns = row.columns();
    let mut map = serializer.serialize_map(Some(columns.len()))?;
    for (index, column) in columns.iter().enumerate() {
        map.serialize_entry(column.name(), &cell(index, column.name()))?;
    }
    map.end()
}

/// Formats a record as `Name { columns: ["a", "b", …] }`: the `Debug` of every record type.
fn debug_row<R: sqlx::Row>(f: &mut fmt::Formatter<'_>, name: &str, row: &R) -> fmt::Result {
    let names: Vec<&str> = row.columns().iter().map(|column| column.name()).collect();
    f.debug_struct(name).field("columns", &names).finish()
}

/// The error for text that is not valid UTF-8: never replaced (a changed value), it fails
/// the export at that row.
#[cfg(any(feature = "sqlite", feature = "mysql"))]
fn invalid_utf8(err: &std::str::Utf8Error) -> String {
    format!(
        "text that is not valid UTF-8 ({err}); cast the column to a binary type to export \
         its bytes as base64"
    )
}
