//! Starting the export of a table or a named query as a [`ChunkStream`]: the one pipeline
//! behind both `rowstream serve` ([`crate::http`]) and `rowstream export`
//! ([`crate::export`]).
//!
//! The fetcher depends on the database and the table's [`Plan`] (keyset pagination or a
//! single query); the encoder is the caller's choice, so the same rows come out in any
//! format under the encoder's value policy.

use rowstream::keyset::Keyset;
use rowstream::mysql::RecordOptions;
use rowstream::{ChunkStream, Encoder, Identity, Streamer};
use sqlx::Arguments;

use super::Database;
use super::catalog::{Plan, Table};
use crate::config::{NamedQuery, Value};

/// Starts the export of `table` from `db` through `streamer`, encoded by `encoder`.
///
/// A [`Plan::Keyset`] table is read `batch_size` rows per page (`0` for the default); a
/// [`Plan::Single`] table in one query, [`Table::select_sql`] — from an SQLite file with
/// [`rowstream::sqlite::direct::rows`], on a connection of its own.
pub fn table_chunks<Enc: Encoder>(
    db: &Database,
    streamer: &Streamer,
    table: &Table,
    batch_size: usize,
    encoder: Enc,
) -> ChunkStream {
    let keyset = |key: &str| {
        let keyset = Keyset::new(&table.name, key)
            .schema(&table.schema)
            .batch_size(batch_size);
        match &table.select_list {
            Some(list) => keyset.select_list(list.clone()),
            None => keyset,
        }
    };
    match (db, &table.plan) {
        (Database::Sqlite(pool), Plan::Keyset { key }) => {
            let pages = rowstream::sqlite::keyset(pool.clone(), keyset(key));
            streamer.stream_batches(pages, Identity, encoder)
        }
        (Database::Postgres(pool), Plan::Keyset { key }) => {
            let pages = rowstream::postgres::keyset(pool.clone(), keyset(key));
            streamer.stream_batches(pages, Identity, encoder)
        }
        (Database::MySql { pool, .. }, Plan::Keyset { key }) => {
            let options = RecordOptions::default().json_columns(table.json_columns.clone());
            let pages = rowstream::mysql::keyset(pool.clone(), keyset(key), options);
            streamer.stream_batches(pages, Identity, encoder)
        }
        (Database::Sqlite(pool), Plan::Single { .. }) => {
            // A database file is read on its own connection, in batches; an in-memory
            // database only exists in the pool's connections.
            let options = pool.connect_options();
            let file = options.get_filename();
            if file.is_file() {
                let rows = rowstream::sqlite::direct::rows(file, table.select_sql(db));
                streamer.stream(rows, Identity, encoder)
            } else {
                let rows = rowstream::sqlite::rows(pool.clone(), table.select_sql(db));
                streamer.stream(rows, Identity, encoder)
            }
        }
        (Database::Postgres(pool), Plan::Single { .. }) => {
            let rows = rowstream::postgres::rows(pool.clone(), table.select_sql(db));
            streamer.stream(rows, Identity, encoder)
        }
        (Database::MySql { pool, .. }, Plan::Single { .. }) => {
            let options = RecordOptions::default().json_columns(table.json_columns.clone());
            let rows = rowstream::mysql::rows_with(
                pool.clone(),
                table.select_sql(db),
                Default::default(),
                options,
            );
            streamer.stream(rows, Identity, encoder)
        }
    }
}

/// Starts the named `query` from `db` with `values` bound in placeholder order (from
/// [`NamedQuery::bind_values`]), through `streamer` with the query's own limits over its
/// limits ([`NamedQuery::limits`]), encoded by `encoder`.
///
/// # Errors
///
/// If a value cannot be bound; nothing runs then.
pub fn query_chunks<Enc: Encoder>(
    db: &Database,
    streamer: &Streamer,
    query: &NamedQuery,
    values: &[Value],
    encoder: Enc,
) -> Result<ChunkStream, sqlx::error::BoxDynError> {
    let limits = query.limits(*streamer.limits());
    let own;
    let streamer = if limits == *streamer.limits() {
        streamer
    } else {
        own = streamer.clone().with_limits(limits);
        &own
    };
    Ok(match db {
        Database::Sqlite(pool) => {
            let args = bind::<sqlx::sqlite::SqliteArguments<'static>>(values)?;
            let rows = rowstream::sqlite::rows_with(pool.clone(), query.sql.clone(), args);
            streamer.stream(rows, Identity, encoder)
        }
        Database::Postgres(pool) => {
            let args = bind::<sqlx::postgres::PgArguments>(values)?;
            let rows = rowstream::postgres::rows_with(pool.clone(), query.sql.clone(), args);
            streamer.stream(rows, Identity, encoder)
        }
        Database::MySql { pool, .. } => {
            let args = bind::<sqlx::mysql::MySqlArguments>(values)?;
            let rows = rowstream::mysql::rows_with(
                pool.clone(),
                query.sql.clone(),
                args,
                RecordOptions::default(),
            );
            streamer.stream(rows, Identity, encoder)
        }
    })
}

/// Binds parsed values, in order, as a database's arguments.
fn bind<'q, A>(values: &[Value]) -> Result<A, sqlx::error::BoxDynError>
where
    A: Arguments<'q>,
    i64: sqlx::Encode<'q, A::Database> + sqlx::Type<A::Database>,
    f64: sqlx::Encode<'q, A::Database> + sqlx::Type<A::Database>,
    bool: sqlx::Encode<'q, A::Database> + sqlx::Type<A::Database>,
    String: sqlx::Encode<'q, A::Database> + sqlx::Type<A::Database>,
{
    let mut args = A::default();
    for value in values {
        match value {
            Value::Int(v) => args.add(*v)?,
            Value::Float(v) => args.add(*v)?,
            Value::Bool(v) => args.add(*v)?,
            Value::Text(v) => args.add(v.clone())?,
        }
    }
    Ok(args)
}
