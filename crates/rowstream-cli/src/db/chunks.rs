//! Starting the export of a table or a named query as a [`ChunkStream`]: the one pipeline
//! behind both `rowstream serve` ([`crate::http`]) and `rowstream export`
//! ([`crate::export`]).
//!
//! The fetcher depends on the database and the table's [`Plan`] (keyset pagination or a
//! single query); the encoder is the caller's choice, so the same rows come out in any
//! format under the encoder's value policy.

use std::convert::Infallible;

use futures_util::{Stream, StreamExt as _};
use rowstream::keyset::{Key, Keyset};
use rowstream::mysql::{MySqlRecord, RecordOptions};
use rowstream::postgres::PgRecord;
use rowstream::sqlite::SqliteRecord;
use rowstream::{AnyEncoder, ChunkStream, Encoder, Identity, LastKey, Streamer};
use sqlx::{Arguments, Column as _, Row as _, TypeInfo as _};

use super::Database;
use super::catalog::{Plan, Table};
use crate::config::{NamedQuery, Value};

/// Starts the export of `table` from `db` through `streamer`, encoded by `encoder`: the
/// first `limit` rows only when there is one (a preview); of a [`Plan::Keyset`] table,
/// only the rows whose key comes after `after` when there is one (a resumed export; the
/// other plans ignore it, so callers refuse it for them).
///
/// A [`Plan::Keyset`] table is read `batch_size` rows per page (`0` for the default; no
/// more than `limit`); a [`Plan::Single`] table in one query, [`Table::select_sql`] —
/// from an SQLite file with [`rowstream::sqlite::direct::rows`], on a connection of its
/// own; from PostgreSQL, without a limit, through `COPY … TO STDOUT (FORMAT binary)`
/// ([`rowstream::postgres::copy_rows`]) — which is dropped, and so stopped, once `limit`
/// rows are read.
///
/// A keyset export records each row's key in a [`LastKey`], which the encoder's
/// completion record (`"last_key"`) and the stream's `rowstream-last-key` trailer report.
pub fn table_chunks(
    db: &Database,
    streamer: &Streamer,
    table: &Table,
    batch_size: usize,
    limit: Option<u64>,
    after: Option<Key>,
    encoder: AnyEncoder,
) -> ChunkStream {
    let page = match batch_size {
        0 => rowstream::DEFAULT_BATCH_SIZE,
        rows => rows,
    };
    let limit = limit.map(|n| usize::try_from(n).unwrap_or(usize::MAX));
    let batch_size = limit.map_or(page, |n| page.min(n));
    let keyset = |key: &str| {
        let keyset = Keyset::new(&table.name, key)
            .schema(&table.schema)
            .batch_size(batch_size);
        let keyset = match &after {
            Some(key) => keyset.after(key.clone()),
            None => keyset,
        };
        match &table.select_list {
            Some(list) => keyset.select_list(list.clone()),
            None => keyset,
        }
    };
    let last = LastKey::new();
    match (db, &table.plan) {
        (Database::Sqlite(pool), Plan::Keyset { key }) => {
            let pages = rowstream::sqlite::keyset(pool.clone(), keyset(key));
            let (key, recorder) = (key.clone(), last.clone());
            let record = move |record: SqliteRecord| {
                let row = record.row();
                match row.try_get::<i64, _>(key.as_str()) {
                    Ok(id) => recorder.record(&id),
                    Err(_) => record_text(&recorder, row.try_get(key.as_str())),
                }
                Ok::<_, Infallible>(record)
            };
            keyed(
                streamer,
                first_pages(pages, limit, batch_size),
                record,
                encoder,
                last,
            )
        }
        (Database::Postgres(pool), Plan::Keyset { key }) => {
            let pages = rowstream::postgres::keyset(pool.clone(), keyset(key));
            let (key, recorder) = (key.clone(), last.clone());
            let record = move |record: PgRecord| {
                let row = record.row();
                let ty = row.try_column(key.as_str()).map(|c| c.type_info().name());
                let int = match ty {
                    Ok("INT2") => row.try_get::<i16, _>(key.as_str()).map(i64::from),
                    Ok("INT4") => row.try_get::<i32, _>(key.as_str()).map(i64::from),
                    _ => row.try_get::<i64, _>(key.as_str()),
                };
                match (ty, int) {
                    (Ok("INT2" | "INT4" | "INT8"), Ok(id)) => recorder.record(&id),
                    _ => record_text(&recorder, row.try_get(key.as_str())),
                }
                Ok::<_, Infallible>(record)
            };
            keyed(
                streamer,
                first_pages(pages, limit, batch_size),
                record,
                encoder,
                last,
            )
        }
        (Database::MySql { pool, .. }, Plan::Keyset { key }) => {
            let options = RecordOptions::default().json_columns(table.json_columns.clone());
            let pages = rowstream::mysql::keyset(pool.clone(), keyset(key), options);
            let (key, recorder) = (key.clone(), last.clone());
            let record = move |record: MySqlRecord| {
                let row = record.row();
                match row.try_get::<i64, _>(key.as_str()) {
                    Ok(id) => recorder.record(&id),
                    Err(_) => record_text(&recorder, row.try_get(key.as_str())),
                }
                Ok::<_, Infallible>(record)
            };
            keyed(
                streamer,
                first_pages(pages, limit, batch_size),
                record,
                encoder,
                last,
            )
        }
        (Database::Sqlite(pool), Plan::Single { .. }) => {
            // A database file is read on its own connection, in batches; an in-memory
            // database only exists in the pool's connections.
            let options = pool.connect_options();
            let file = options.get_filename();
            if file.is_file() {
                let rows = rowstream::sqlite::direct::rows(file, table.select_sql(db));
                streamer.stream(first_rows(rows, limit), Identity, encoder)
            } else {
                let rows = rowstream::sqlite::rows(pool.clone(), table.select_sql(db));
                streamer.stream(first_rows(rows, limit), Identity, encoder)
            }
        }
        // The whole table through COPY's binary format, PostgreSQL's fastest way out; a
        // preview in a query of its own, whose statement simply stops after `limit`
        // rows (a COPY stopped early costs its connection).
        (Database::Postgres(pool), Plan::Single { .. }) if limit.is_none() => {
            let rows = rowstream::postgres::copy_rows(pool.clone(), table.select_sql(db));
            streamer.stream(rows, Identity, encoder)
        }
        (Database::Postgres(pool), Plan::Single { .. }) => {
            let rows = rowstream::postgres::rows(pool.clone(), table.select_sql(db));
            streamer.stream(first_rows(rows, limit), Identity, encoder)
        }
        (Database::MySql { pool, .. }, Plan::Single { .. }) => {
            let options = RecordOptions::default().json_columns(table.json_columns.clone());
            let rows = rowstream::mysql::rows_with(
                pool.clone(),
                table.select_sql(db),
                Default::default(),
                options,
            );
            streamer.stream(first_rows(rows, limit), Identity, encoder)
        }
    }
}

/// Whether `sql` reads as a query `COPY (…) TO STDOUT` runs: it starts with `SELECT`,
/// `WITH`, `VALUES` or `TABLE` (any case, after white space). Others (`SHOW`, `EXPLAIN`,
/// a leading comment …) run as they are.
fn copyable(sql: &str) -> bool {
    let word = sql
        .trim_start()
        .split(|c: char| !c.is_ascii_alphabetic())
        .next()
        .unwrap_or_default();
    ["select", "with", "values", "table"]
        .iter()
        .any(|w| word.eq_ignore_ascii_case(w))
}

/// Records a text key; a key that does not decode is not recorded, so the rows after it
/// report no key rather than a wrong one.
fn record_text(last: &LastKey, key: Result<String, sqlx::Error>) {
    if let Ok(key) = key {
        last.record(&key);
    }
}

/// The first `limit` items of `rows` (all without a limit); the fetcher is dropped, and
/// its statement stopped, after the last one.
fn first_rows<T, E>(
    rows: impl Stream<Item = Result<T, E>> + Send + 'static,
    limit: Option<usize>,
) -> impl Stream<Item = Result<T, E>> + Send + 'static {
    rows.take(limit.unwrap_or(usize::MAX))
}

/// A keyset export: the pages through `record` (which notes each row's key in `last`),
/// the encoder's completion record and the stream's trailer reporting `last`.
pub(super) fn keyed<T, E, X>(
    streamer: &Streamer,
    pages: impl Stream<Item = Result<Vec<T>, E>> + Send + 'static,
    record: X,
    encoder: AnyEncoder,
    last: LastKey,
) -> ChunkStream
where
    T: Send + 'static,
    E: Into<rowstream::BoxError> + Send + 'static,
    X: rowstream::Transformer<T>,
{
    streamer
        .stream_batches(pages, record, encoder.last_key(last.clone()))
        .with_last_key(last)
}

/// The pages of `page` rows that hold the first `limit` rows, the last one cut to size
/// (all pages without a limit): no page past them is queried.
pub(super) fn first_pages<T: Send + 'static, E: Send + 'static>(
    pages: impl Stream<Item = Result<Vec<T>, E>> + Send + 'static,
    limit: Option<usize>,
    page: usize,
) -> impl Stream<Item = Result<Vec<T>, E>> + Send + 'static {
    let left = limit.unwrap_or(usize::MAX);
    pages
        .take(limit.map_or(usize::MAX, |n| n.div_ceil(page.max(1))))
        .scan(left, |left, page| {
            let page = page.map(|mut rows| {
                rows.truncate(*left);
                *left -= rows.len();
                rows
            });
            std::future::ready(Some(page))
        })
}

/// Starts the named `query` from `db` with `values` bound in placeholder order (from
/// [`NamedQuery::bind_values`]; a PostgreSQL query without any through
/// [`rowstream::postgres::copy_rows`]), through `streamer` with the query's own limits over its
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
        // Without parameters through COPY's binary format (COPY takes none), when it is
        // a query COPY accepts.
        Database::Postgres(pool) if values.is_empty() && copyable(&query.sql) => {
            let rows = rowstream::postgres::copy_rows(pool.clone(), query.sql.clone());
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

#[cfg(test)]
mod tests {
    #[test]
    fn copyable_queries() {
        for sql in [
            "SELECT 1",
            "  select * from t",
            "WITH a AS (SELECT 1) SELECT * FROM a",
            "VALUES (1)",
            "TABLE t",
            "\n\tSelect(1)",
        ] {
            assert!(super::copyable(sql), "{sql}");
        }
        for sql in [
            "SHOW timezone",
            "EXPLAIN SELECT 1",
            "-- note\nSELECT 1",
            "/* x */ SELECT 1",
            "",
            "selected",
        ] {
            assert!(!super::copyable(sql), "{sql}");
        }
    }
}
