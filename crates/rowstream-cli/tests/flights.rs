//! All 336,776 nycflights13 flights through the real server from SQLite, PostgreSQL and
//! MariaDB, compared value by value with the CSV; and keyset pagination over them while
//! rows are inserted behind the cursor.

mod common;

use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use common::Server;
use common::flights::{self, FLIGHTS, IdColumn};
use common::sql::Scratch;
use futures_util::{Stream, StreamExt as _};
use rowstream::keyset::Keyset;
use rowstream_cli::Database;
use rowstream_cli::db::{self, OpenOptions};
use serde_json::json;
use sqlx::{ConnectOptions as _, Row as _};

/// GETs `/tables/flights` and checks every row against the CSV.
async fn assert_serves_flights(server: &Server, csv_bytes: &[u8], id: IdColumn) {
    let tables = reqwest::get(server.url("/tables"))
        .await
        .expect("GET /tables")
        .bytes()
        .await
        .expect("a body");
    let tables: serde_json::Value = serde_json::from_slice(&tables).expect("a JSON list");
    assert!(
        tables
            .as_array()
            .is_some_and(|t| t.contains(&json!("flights"))),
        "{tables}"
    );
    let response = reqwest::get(server.url("/tables/flights"))
        .await
        .expect("GET /tables/flights");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.headers()["transfer-encoding"], "chunked");
    let mut chunks = 0_usize;
    let mut body = Vec::with_capacity(128 << 20);
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        body.extend_from_slice(&chunk.expect("a body chunk"));
        chunks += 1;
    }
    assert!(chunks > 1, "the body came in {chunks} chunk(s)");
    assert_eq!(flights::assert_matches_csv(&body, csv_bytes, id), FLIGHTS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_serves_every_flight_exactly() {
    let Some(csv_bytes) = flights::csv_bytes() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("flights.sqlite");
    flights::load_sqlite(&csv_bytes, &path).await;
    let pool = rowstream_cli::open_readonly_path(&path)
        .await
        .expect("open read-only");
    let server = Server::start(pool).await;
    assert_serves_flights(&server, &csv_bytes, IdColumn::None).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_serves_every_flight_in_key_order() {
    let Some(csv_bytes) = flights::csv_bytes() else {
        return;
    };
    let Some(scratch) = Scratch::postgres("rowstream_flights").await else {
        return;
    };
    let mut conn = scratch.pg_options().connect().await.expect("connect");
    flights::load_postgres(&csv_bytes, &mut conn).await;
    let pool = db::open_postgres(scratch.pg_options(), &OpenOptions::default())
        .await
        .expect("open read-only");
    let server = Server::start(Database::Postgres(pool)).await;
    assert_serves_flights(&server, &csv_bytes, IdColumn::Sequential).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_serves_every_flight_in_key_order() {
    let Some(csv_bytes) = flights::csv_bytes() else {
        return;
    };
    let Some(scratch) = Scratch::mysql("rowstream_flights").await else {
        return;
    };
    let mut conn = scratch.mysql_options().connect().await.expect("connect");
    flights::load_mysql(&csv_bytes, &mut conn).await;
    let (pool, mariadb) = db::open_mysql(scratch.mysql_options(), &OpenOptions::default())
        .await
        .expect("open read-only");
    let server = Server::start(Database::MySql { pool, mariadb }).await;
    assert_serves_flights(&server, &csv_bytes, IdColumn::Sequential).await;
    server.stop().await;
}

/// A keyset with batch size 1,000 whose queries are counted.
fn counted_keyset(table: &str) -> (Keyset, Arc<AtomicU64>) {
    let queries = Arc::new(AtomicU64::new(0));
    let counter = queries.clone();
    let keyset = Keyset::new(table, "id")
        .batch_size(1_000)
        .on_page(move |_| {
            counter.fetch_add(1, Ordering::SeqCst);
        });
    (keyset, queries)
}

/// Reads every page; after each one, inserts a row with a key below every key read so far
/// (`-page`) from another connection. Asserts each flight comes exactly once, in key
/// order, none of the inserted rows does, and the export took at least 337 queries.
async fn assert_each_row_once<S, R>(
    pages: S,
    queries: &AtomicU64,
    id_of: impl Fn(&R) -> i64,
    mut insert_behind: impl AsyncFnMut(i64),
) where
    S: Stream<Item = Result<Vec<R>, sqlx::Error>>,
{
    let mut pages = pin!(pages);
    let mut expected = 1_i64;
    let mut page_count = 0_i64;
    while let Some(page) = pages.next().await {
        let page = page.expect("a page");
        page_count += 1;
        for record in &page {
            assert_eq!(id_of(record), expected, "page {page_count}");
            expected += 1;
        }
        insert_behind(-page_count).await;
    }
    assert_eq!(expected - 1, FLIGHTS as i64, "every flight, once");
    assert_eq!(page_count, 337);
    let queries = queries.load(Ordering::SeqCst);
    assert!(queries >= 337, "{queries} queries");
    eprintln!(
        "{page_count} pages in {queries} queries; {page_count} rows inserted behind the cursor"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_keyset_reads_each_flight_once_while_rows_are_inserted_behind() {
    let Some(csv_bytes) = flights::csv_bytes() else {
        return;
    };
    let Some(scratch) = Scratch::postgres("rowstream_keyset").await else {
        return;
    };
    let mut writer = scratch.pg_options().connect().await.expect("connect");
    flights::load_postgres(&csv_bytes, &mut writer).await;
    let served = db::open_postgres(scratch.pg_options(), &OpenOptions::default())
        .await
        .expect("open read-only");
    let (keyset, queries) = counted_keyset("flights");
    assert_each_row_once(
        rowstream::postgres::keyset(served, keyset),
        &queries,
        |record| i64::from(record.row().get::<i32, _>("id")),
        async |id| {
            sqlx::query("INSERT INTO flights (id, year, carrier) VALUES ($1, 2099, 'ZZ')")
                .bind(id as i32)
                .execute(&mut writer)
                .await
                .expect("insert behind the cursor");
        },
    )
    .await;
    let behind: i64 = sqlx::query_scalar("SELECT count(*) FROM flights WHERE id < 0")
        .fetch_one(&mut writer)
        .await
        .expect("count");
    assert_eq!(behind, 337, "the rows inserted during the export are there");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_keyset_reads_each_flight_once_while_rows_are_inserted_behind() {
    let Some(csv_bytes) = flights::csv_bytes() else {
        return;
    };
    let Some(scratch) = Scratch::mysql("rowstream_keyset").await else {
        return;
    };
    let mut writer = scratch.mysql_options().connect().await.expect("connect");
    flights::load_mysql(&csv_bytes, &mut writer).await;
    let (served, _) = db::open_mysql(scratch.mysql_options(), &OpenOptions::default())
        .await
        .expect("open read-only");
    let (keyset, queries) = counted_keyset("flights");
    assert_each_row_once(
        rowstream::mysql::keyset(served, keyset, Default::default()),
        &queries,
        |record| i64::from(record.row().get::<i32, _>("id")),
        async |id| {
            sqlx::query("INSERT INTO flights (id, year, carrier) VALUES (?, 2099, 'ZZ')")
                .bind(id)
                .execute(&mut writer)
                .await
                .expect("insert behind the cursor");
        },
    )
    .await;
    let behind: i64 = sqlx::query_scalar("SELECT count(*) FROM flights WHERE id < 0")
        .fetch_one(&mut writer)
        .await
        .expect("count");
    assert_eq!(behind, 337, "the rows inserted during the export are there");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_keyset_reads_each_flight_once_while_rows_are_inserted_behind() {
    let Some(csv_bytes) = flights::csv_bytes() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("flights.sqlite");
    flights::load_sqlite(&csv_bytes, &path).await;
    let mut writer = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&path)
        .connect()
        .await
        .expect("connect");
    sqlx::query("CREATE TABLE keyed (id INTEGER PRIMARY KEY, year, carrier)")
        .execute(&mut writer)
        .await
        .expect("create");
    sqlx::query("INSERT INTO keyed SELECT rowid, year, carrier FROM flights ORDER BY rowid")
        .execute(&mut writer)
        .await
        .expect("copy");
    let served = rowstream_cli::open_readonly_path(&path)
        .await
        .expect("open read-only");
    let (keyset, queries) = counted_keyset("keyed");
    assert_each_row_once(
        rowstream::sqlite::keyset(served, keyset),
        &queries,
        |record| record.row().get::<i64, _>("id"),
        async |id| {
            sqlx::query("INSERT INTO keyed (id, year, carrier) VALUES (?, 2099, 'ZZ')")
                .bind(id)
                .execute(&mut writer)
                .await
                .expect("insert behind the cursor");
        },
    )
    .await;
}

#[test]
fn typing_rules() {
    use flights::{Typed, typed};
    assert_eq!(typed("dep_time", "NA"), Typed::Null);
    assert_eq!(typed("dep_delay", "-5"), Typed::Integer(-5));
    assert_eq!(typed("x", "1.5"), Typed::Real(1.5));
    assert_eq!(typed("carrier", "9E"), Typed::Text("9E".into()));
    assert_eq!(typed("tailnum", "inf"), Typed::Text("inf".into()));
    assert_eq!(
        typed("time_hour", "2013-01-01T10:00:00Z"),
        Typed::Text("2013-01-01T10:00:00Z".into())
    );
    assert_eq!(typed("time_hour", "2013"), Typed::Text("2013".into()));
}
