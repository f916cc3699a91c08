//! Running a [`SliceQuery`]: one statement, or keyset pages with the filters on every
//! page, each page its own statement after the last key of the one before.

use std::convert::Infallible;
use std::sync::Arc;

use futures_util::stream::{self, BoxStream};
use futures_util::{Stream, StreamExt as _};
use rowstream::keyset::Key;
use rowstream::mysql::{MySqlRecord, RecordOptions};
use rowstream::postgres::PgRecord;
use rowstream::sqlite::SqliteRecord;
use rowstream::{AnyEncoder, ChunkStream, Identity, LastKey, Streamer};
use sqlx::{Arguments, Column as _, Row as _, TypeInfo as _};

use super::super::Database;
use super::super::catalog::{Plan, Table};
use super::super::chunks::{first_pages, keyed};
use super::{Bound, SliceQuery};

/// Starts the export of `query`, a slice of `table`, from `db` through `streamer`,
/// encoded by `encoder`. Keyset pages hold `batch_size` rows (`0` for the default, no
/// more than the slice's limit) and start after `after`; a single statement carries its
/// own `LIMIT` and `after` condition ([`super::build`]).
pub fn slice_chunks(
    db: &Database,
    streamer: &Streamer,
    table: &Table,
    query: &SliceQuery,
    batch_size: usize,
    after: Option<Key>,
    encoder: AnyEncoder,
) -> ChunkStream {
    let limit = query
        .limit
        .map(|n| usize::try_from(n).unwrap_or(usize::MAX));
    let page = match batch_size {
        0 => rowstream::DEFAULT_BATCH_SIZE,
        rows => rows,
    };
    let page = limit.map_or(page, |n| page.min(n));
    let key = match (&table.plan, query.paged()) {
        (Plan::Keyset { key }, true) => Some(key.clone()),
        _ => None,
    };
    let Some(key) = key else {
        let sql = query.sql(None);
        let binds = query.binds();
        return match db {
            Database::Sqlite(pool) => {
                let rows = one_statement(binds, |args| {
                    rowstream::sqlite::rows_with(pool.clone(), sql, args)
                });
                streamer.stream(rows, Identity, encoder)
            }
            Database::Postgres(pool) => {
                let rows = one_statement(binds, |args| {
                    rowstream::postgres::rows_with(pool.clone(), sql, args)
                });
                streamer.stream(rows, Identity, encoder)
            }
            Database::MySql { pool, .. } => {
                let options = RecordOptions::default().json_columns(table.json_columns.clone());
                let rows = one_statement(binds, |args| {
                    rowstream::mysql::rows_with(pool.clone(), sql, args, options)
                });
                streamer.stream(rows, Identity, encoder)
            }
        };
    };
    let first = query.sql(Some((page, false)));
    let next = query.sql(Some((page, true)));
    let binds: Arc<[Bound]> = query.binds().into();
    let last = LastKey::new();
    let record_key = |key: Option<Key>, recorder: &LastKey| match key {
        Some(Key::Int(n)) => recorder.record(&n),
        Some(Key::Text(text)) => recorder.record(&text),
        None => {}
    };
    match db {
        Database::Sqlite(pool) => {
            let pool = pool.clone();
            let fetch = move |after: Option<&Key>| {
                let sql = if after.is_some() { &next } else { &first };
                paged_statement(&binds, after, |args| {
                    rowstream::sqlite::rows_with(pool.clone(), sql.clone(), args)
                })
            };
            let key_of = {
                let key = key.clone();
                move |r: &SqliteRecord| sqlite_key(r, &key)
            };
            let recorder = last.clone();
            let record = move |r: SqliteRecord| {
                record_key(sqlite_key(&r, &key), &recorder);
                Ok::<_, Infallible>(r)
            };
            let pages = first_pages(pages(page, after, fetch, key_of), limit, page);
            keyed(streamer, pages, record, encoder, last)
        }
        Database::Postgres(pool) => {
            let pool = pool.clone();
            let fetch = move |after: Option<&Key>| {
                let sql = if after.is_some() { &next } else { &first };
                paged_statement(&binds, after, |args| {
                    rowstream::postgres::rows_with(pool.clone(), sql.clone(), args)
                })
            };
            let key_of = {
                let key = key.clone();
                move |r: &PgRecord| pg_key(r, &key)
            };
            let recorder = last.clone();
            let record = move |r: PgRecord| {
                record_key(pg_key(&r, &key), &recorder);
                Ok::<_, Infallible>(r)
            };
            let pages = first_pages(pages(page, after, fetch, key_of), limit, page);
            keyed(streamer, pages, record, encoder, last)
        }
        Database::MySql { pool, .. } => {
            let pool = pool.clone();
            let options = RecordOptions::default().json_columns(table.json_columns.clone());
            let fetch = move |after: Option<&Key>| {
                let sql = if after.is_some() { &next } else { &first };
                paged_statement(&binds, after, |args| {
                    rowstream::mysql::rows_with(pool.clone(), sql.clone(), args, options.clone())
                })
            };
            let key_of = {
                let key = key.clone();
                move |r: &MySqlRecord| mysql_key(r, &key)
            };
            let recorder = last.clone();
            let record = move |r: MySqlRecord| {
                record_key(mysql_key(&r, &key), &recorder);
                Ok::<_, Infallible>(r)
            };
            let pages = first_pages(pages(page, after, fetch, key_of), limit, page);
            keyed(streamer, pages, record, encoder, last)
        }
    }
}

fn sqlite_key(record: &SqliteRecord, key: &str) -> Option<Key> {
    let row = record.row();
    match row.try_get::<i64, _>(key) {
        Ok(n) => Some(Key::Int(n)),
        Err(_) => row.try_get::<String, _>(key).ok().map(Key::Text),
    }
}

fn pg_key(record: &PgRecord, key: &str) -> Option<Key> {
    let row = record.row();
    let ty = row.try_column(key).ok()?.type_info().name();
    match ty {
        "INT2" => row.try_get::<i16, _>(key).ok().map(|n| Key::Int(n.into())),
        "INT4" => row.try_get::<i32, _>(key).ok().map(|n| Key::Int(n.into())),
        "INT8" => row.try_get::<i64, _>(key).ok().map(Key::Int),
        _ => row.try_get::<String, _>(key).ok().map(Key::Text),
    }
}

fn mysql_key(record: &MySqlRecord, key: &str) -> Option<Key> {
    let row = record.row();
    match row.try_get::<i64, _>(key) {
        Ok(n) => Some(Key::Int(n)),
        Err(_) => row.try_get::<String, _>(key).ok().map(Key::Text),
    }
}

/// The arguments of a statement: `binds`, then `after` when there is one.
pub(super) fn arguments<'q, A>(binds: &[Bound], after: Option<&Key>) -> Result<A, sqlx::Error>
where
    A: Arguments<'q>,
    i64: sqlx::Encode<'q, A::Database> + sqlx::Type<A::Database>,
    f64: sqlx::Encode<'q, A::Database> + sqlx::Type<A::Database>,
    bool: sqlx::Encode<'q, A::Database> + sqlx::Type<A::Database>,
    String: sqlx::Encode<'q, A::Database> + sqlx::Type<A::Database>,
{
    let mut args = A::default();
    let after = after.map(|key| match key {
        Key::Int(n) => Bound::Int(*n),
        Key::Text(text) => Bound::Text(text.clone()),
    });
    for value in binds.iter().chain(after.as_ref()) {
        match value {
            Bound::Int(v) => args.add(*v),
            Bound::Float(v) => args.add(*v),
            Bound::Bool(v) => args.add(*v),
            Bound::Text(v) => args.add(v.clone()),
        }
        .map_err(sqlx::Error::Encode)?;
    }
    Ok(args)
}

/// The rows of one statement run with `binds` by `run`; an argument that cannot be bound
/// is the stream's one error.
fn one_statement<'q, A, R, S>(
    binds: &[Bound],
    run: impl FnOnce(A) -> S,
) -> impl Stream<Item = Result<R, sqlx::Error>> + Send + 'static
where
    A: Arguments<'q>,
    i64: sqlx::Encode<'q, A::Database> + sqlx::Type<A::Database>,
    f64: sqlx::Encode<'q, A::Database> + sqlx::Type<A::Database>,
    bool: sqlx::Encode<'q, A::Database> + sqlx::Type<A::Database>,
    String: sqlx::Encode<'q, A::Database> + sqlx::Type<A::Database>,
    R: Send + 'static,
    S: Stream<Item = Result<R, sqlx::Error>> + Send + 'static,
{
    match arguments::<A>(binds, None) {
        Ok(args) => run(args).left_stream(),
        Err(err) => stream::iter([Err(err)]).right_stream(),
    }
}

/// [`one_statement`] for a keyset page, boxed.
fn paged_statement<'q, A, R, S>(
    binds: &[Bound],
    after: Option<&Key>,
    run: impl FnOnce(A) -> S,
) -> BoxStream<'static, Result<R, sqlx::Error>>
where
    A: Arguments<'q>,
    i64: sqlx::Encode<'q, A::Database> + sqlx::Type<A::Database>,
    f64: sqlx::Encode<'q, A::Database> + sqlx::Type<A::Database>,
    bool: sqlx::Encode<'q, A::Database> + sqlx::Type<A::Database>,
    String: sqlx::Encode<'q, A::Database> + sqlx::Type<A::Database>,
    R: Send + 'static,
    S: Stream<Item = Result<R, sqlx::Error>> + Send + 'static,
{
    match arguments::<A>(binds, after) {
        Ok(args) => run(args).boxed(),
        Err(err) => stream::iter([Err(err)]).boxed(),
    }
}

/// Keyset pages of `page` rows: `fetch(after)` runs one page's statement (after the last
/// key of the page before, from `after`); `key_of` reads a row's key. Ends after a short
/// page; a full page whose last key cannot be read ends with an error.
fn pages<R, F, K>(
    page: usize,
    after: Option<Key>,
    fetch: F,
    key_of: K,
) -> impl Stream<Item = Result<Vec<R>, sqlx::Error>> + Send + 'static
where
    R: Send + 'static,
    F: Fn(Option<&Key>) -> BoxStream<'static, Result<R, sqlx::Error>> + Send + Sync + 'static,
    K: Fn(&R) -> Option<Key> + Send + Sync + 'static,
{
    let (fetch, key_of) = (Arc::new(fetch), Arc::new(key_of));
    stream::unfold(Some(after), move |state| {
        let (fetch, key_of) = (fetch.clone(), key_of.clone());
        async move {
            let after = state?;
            let mut rows = fetch(after.as_ref());
            let mut batch = Vec::with_capacity(page.min(64 * 1024));
            while let Some(row) = rows.next().await {
                match row {
                    Ok(row) => batch.push(row),
                    Err(err) => return Some((Err(err), None)),
                }
            }
            drop(rows);
            if batch.is_empty() {
                return None;
            }
            if batch.len() < page {
                return Some((Ok(batch), None));
            }
            match batch.last().and_then(|row| key_of(row)) {
                Some(key) => Some((Ok(batch), Some(Some(key)))),
                None => Some((
                    Err(sqlx::Error::Decode(
                        "the key of a page's last row is NULL or unreadable".into(),
                    )),
                    None,
                )),
            }
        }
    })
}
