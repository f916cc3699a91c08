//! PostgreSQL against the real server (`ROWSTREAM_TEST_POSTGRES_URL`): the type mapping
//! value by value, and cancellation of the statement when the client leaves.

#![cfg(all(feature = "postgres", feature = "axum"))]
#![recursion_limit = "256"]

#[path = "support/disconnect.rs"]
mod disconnect;
use disconnect::{assert_cancelled, leave_early, serve_app};

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use futures_util::TryStreamExt;
use rowstream::{Identity, JsonArray, StreamErrorKind, Streamer};
use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgSslMode};

/// The test database, or `None` (with a note) when it is not configured locally.
async fn pool(max: u32) -> Option<PgPool> {
    pool_with(max, false).await
}

/// A pool of at most `max` connections to the test server: over TLS when `tls`
/// (`sslmode=require`: the test fails if the server does not offer it), else in plain
/// TCP (`sslmode=disable`).
async fn pool_with(max: u32, tls: bool) -> Option<PgPool> {
    let Ok(url) = std::env::var("ROWSTREAM_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "ROWSTREAM_TEST_POSTGRES_URL must be set in CI"
        );
        eprintln!("skipped: ROWSTREAM_TEST_POSTGRES_URL is not set");
        return None;
    };
    let options: PgConnectOptions = url.parse().expect("a PostgreSQL URL");
    let options = options.ssl_mode(if tls {
        PgSslMode::Require
    } else {
        PgSslMode::Disable
    });
    Some(
        PgPoolOptions::new()
            .max_connections(max)
            .connect_with(options)
            .await
            .expect("the PostgreSQL test server accepts connections"),
    )
}

async fn export(pool: PgPool, sql: &str) -> Result<String, rowstream::StreamError> {
    let rows = rowstream::postgres::rows(pool, sql);
    let bytes = Streamer::default()
        .stream(rows, Identity, JsonArray::new())
        .map_ok(Vec::from)
        .try_concat()
        .await?;
    Ok(String::from_utf8(bytes).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn type_torture() {
    let Some(pool) = pool(2).await else { return };
    sqlx::query("DO $$ BEGIN CREATE TYPE rowstream_mood AS ENUM ('sad', 'happy'); EXCEPTION WHEN duplicate_object THEN NULL; END $$")
        .execute(&pool)
        .await
        .unwrap();
    // Every supported type, one column each (also exported through COPY in postgres_copy.rs).
    let sql = include_str!("support/pg_types.sql");
    let text = export(pool.clone(), sql).await.unwrap();
    // Exact digits in the text itself, not only after a lossy parse.
    for exact in [
        "-9223372036854775808",
        "9223372036854775807",
        "9007199254740993",
        "12345678901234567890123",
    ] {
        assert!(text.contains(exact), "{exact} missing from {text}");
    }
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    let row = &value[0];
    let tiny = format!("0.{}1", "0".repeat(399));
    let expected = json!({
        "i64_min": i64::MIN, "i64_max": i64::MAX, "beyond_2_53": 9007199254740993_i64,
        "i2": -32768, "i4": 2147483647,
        "f4": 1.5, "f8": 0.1, "nan": null, "inf": null, "ninf": null,
        "num": "123456789012345678.0123456789", "tiny": tiny, "neg": "-12.50",
        "num_nan": null, "zero": "0",
        "tstz": "2024-02-29T12:34:56.789012Z",
        "moon": "1969-07-20T20:17:40", "future": "2100-01-01T00:00:00.5", "ts_inf": "infinity",
        "d_old": "1900-01-01", "d_new": "2040-12-31",
        "t": "23:59:59.5", "ttz": "12:00:00+05:30",
        "iv": "P1Y2M3DT4H5M6.5S", "iv_neg": "P-1D",
        "empty": "", "null_text": null, "txt": "ünïcødé 😀 \"q\" \\ done",
        "ch": "ab  ", "vc": "v", "nm": "nm",
        "by": "3q2+7w==", "by_empty": "", "yes": true, "no": false,
        "u": "550e8400-e29b-41d4-a716-446655440000",
        "jb": {"a": [1, [2, {"b": null}]], "n": 12345678901234567890123.0},
        "j": [1, 2.5, "x"],
        "arr": [1, null, 3], "arr2": [["a", "b"], ["c", "d"]], "arr_empty": [],
        "arr_date": ["2024-01-01"], "arr_num": ["1.5", null],
        "mood": "happy",
    });
    assert_eq!(row, &expected, "{text}");
    // Column order is the query's.
    assert!(text.starts_with(r#"[{"i64_min":"#), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsupported_type_names_the_column() {
    let Some(pool) = pool(1).await else { return };
    let err = export(pool, "SELECT 1 AS ok, point(1, 2) AS location")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), StreamErrorKind::Encode);
    let message = err.to_string();
    assert!(message.contains("location"), "{message}");
    assert!(message.contains("POINT"), "{message}");
}

async fn serve(pool: PgPool, sql: &'static str) -> SocketAddr {
    serve_app(Router::new().route(
        "/",
        get(move || {
            let pool = pool.clone();
            async move { rowstream::axum::json_array(rowstream::postgres::rows(pool, sql)).await }
        }),
    ))
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_after_first_chunk_cancels_the_statement() {
    disconnect_after_first_chunk(false).await;
}

/// Over TLS the cancelled statement's rows are still arriving through the TLS layer when
/// the connection is handed back: it must come back to the pool all the same (it used
/// to hang there for good, holding the pool's only slot).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_after_first_chunk_cancels_the_statement_over_tls() {
    disconnect_after_first_chunk(true).await;
}

async fn disconnect_after_first_chunk(tls: bool) {
    let Some(pool) = pool_with(1, tls).await else {
        return;
    };
    let Some(observer) = self::pool(1).await else {
        return;
    };
    // 3,000 rows, one every 10 ms: 30 s if nobody stops it; a marker of its own for
    // each of the two tests, which may run at the same time.
    let (sql, marker) = if tls {
        (
            "SELECT g, pg_sleep(0.01) AS pause /* rowstream-cancel-rows-tls */ FROM generate_series(1, 3000) g",
            "rowstream-cancel-rows-tls",
        )
    } else {
        (
            "SELECT g, pg_sleep(0.01) AS pause /* rowstream-cancel-rows-plain */ FROM generate_series(1, 3000) g",
            "rowstream-cancel-rows-plain",
        )
    };
    let addr = serve(pool.clone(), sql).await;
    leave_early(addr, true).await;
    let took = assert_cancelled(&observer, &pool, marker).await;
    eprintln!("statement gone and connection back {took:?} after the disconnect (tls: {tls})");
    // The pool's only connection is clean: the next query returns correct results.
    let answer: i32 = sqlx::query_scalar("SELECT 41 + 1")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(answer, 42);
    let text = export(pool, "SELECT 'after' AS t").await.unwrap();
    assert_eq!(text, r#"[{"t":"after"}]"#);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_before_first_row_cancels_the_statement() {
    disconnect_before_first_row(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_before_first_row_cancels_the_statement_over_tls() {
    disconnect_before_first_row(true).await;
}

async fn disconnect_before_first_row(tls: bool) {
    let Some(pool) = pool_with(1, tls).await else {
        return;
    };
    let Some(observer) = self::pool(1).await else {
        return;
    };
    let sql = "SELECT pg_sleep(30) /* rowstream-cancel-first */";
    let addr = serve(pool.clone(), sql).await;
    leave_early(addr, false).await;
    let took = assert_cancelled(&observer, &pool, "rowstream-cancel-first").await;
    eprintln!("statement gone and connection back {took:?} after the disconnect (tls: {tls})");
    let answer: i32 = sqlx::query_scalar("SELECT 41 + 1")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(answer, 42);
}

/// A table name no other test process uses.
fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{prefix}_{}_{nanos}", std::process::id())
}

/// Runs a keyset export to the end: page sizes, the `k` values in order, and the number of
/// queries counted by the hook.
async fn keyset_keys(
    pool: PgPool,
    keyset: rowstream::keyset::Keyset,
) -> Result<(Vec<usize>, Vec<serde_json::Value>, u64), sqlx::Error> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    let queries = Arc::new(AtomicU64::new(0));
    let counter = queries.clone();
    let keyset = keyset.on_page(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    let pages: Vec<Vec<rowstream::postgres::PgRecord>> = rowstream::postgres::keyset(pool, keyset)
        .try_collect()
        .await?;
    let sizes = pages.iter().map(Vec::len).collect();
    let keys = pages
        .iter()
        .flatten()
        .map(|record| serde_json::to_value(record).unwrap()["k"].clone())
        .collect();
    Ok((sizes, keys, queries.load(Ordering::SeqCst)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyset_pages_integer_and_text_keys() {
    use rowstream::keyset::{Key, Keyset};
    let Some(pool) = pool(2).await else { return };
    let ints = unique("rowstream_ks_int");
    let texts = format!("{}\"q", unique("rowstream_ks_text"));
    let quoted_texts = format!("\"{}\"", texts.replace('"', "\"\""));
    sqlx::raw_sql(&format!(
        "CREATE TABLE {ints} (k int4 PRIMARY KEY, v text);
         INSERT INTO {ints} SELECT k, 'x' FROM unnest(ARRAY[5, -3, 12, 1, 7, 2, 30, -10, 8, 9]) k;
         CREATE TABLE {quoted_texts} (k varchar(10) PRIMARY KEY, v int);
         INSERT INTO {quoted_texts} SELECT k, 1 FROM unnest(ARRAY['b', 'a', 'é', 'B', 'ab', '']) k;"
    ))
    .execute(&pool)
    .await
    .unwrap();

    let (pages, keys, queries) = keyset_keys(pool.clone(), Keyset::new(&ints, "k").batch_size(4))
        .await
        .unwrap();
    assert_eq!(pages, [4, 4, 2]);
    assert_eq!(
        queries, 3,
        "a short page ends the export without another query"
    );
    assert_eq!(
        keys,
        *json!([-10, -3, 1, 2, 5, 7, 8, 9, 12, 30])
            .as_array()
            .unwrap()
    );
    let (pages, _, queries) = keyset_keys(pool.clone(), Keyset::new(&ints, "k").batch_size(5))
        .await
        .unwrap();
    assert_eq!(
        (pages, queries),
        (vec![5, 5], 3),
        "a full last page needs an empty one"
    );
    let (_, keys, _) = keyset_keys(pool.clone(), Keyset::new(&ints, "k").after(Key::Int(7)))
        .await
        .unwrap();
    assert_eq!(keys, *json!([8, 9, 12, 30]).as_array().unwrap());

    // Text keys in the column's collation: the same order as ORDER BY.
    let expected: Vec<String> =
        sqlx::query_scalar(&format!("SELECT k FROM {quoted_texts} ORDER BY k"))
            .fetch_all(&pool)
            .await
            .unwrap();
    let (pages, keys, _) = keyset_keys(pool.clone(), Keyset::new(&texts, "k").batch_size(2))
        .await
        .unwrap();
    assert_eq!(pages, [2, 2, 2]);
    assert_eq!(keys, expected.iter().map(|k| json!(k)).collect::<Vec<_>>());
    let (_, keys, _) = keyset_keys(
        pool.clone(),
        Keyset::new(&texts, "k").after(expected[2].as_str()),
    )
    .await
    .unwrap();
    assert_eq!(
        keys,
        expected[3..].iter().map(|k| json!(k)).collect::<Vec<_>>()
    );

    // A start key of the wrong type is the database's error, not a panic.
    assert!(
        keyset_keys(pool.clone(), Keyset::new(&ints, "k").after("seven"))
            .await
            .is_err()
    );

    sqlx::raw_sql(&format!("DROP TABLE {ints}; DROP TABLE {quoted_texts}"))
        .execute(&pool)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyset_key_of_another_type_names_the_column() {
    use rowstream::keyset::Keyset;
    let Some(pool) = pool(1).await else { return };
    let table = unique("rowstream_ks_numeric");
    sqlx::raw_sql(&format!(
        "CREATE TABLE {table} (k numeric PRIMARY KEY); INSERT INTO {table} VALUES (1.5)"
    ))
    .execute(&pool)
    .await
    .unwrap();
    let err = keyset_keys(pool.clone(), Keyset::new(&table, "k"))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("\"k\"") && err.contains("NUMERIC"), "{err}");
    sqlx::query(&format!("DROP TABLE {table}"))
        .execute(&pool)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_keyset_export_cancels_its_page() {
    use rowstream::keyset::Keyset;
    let Some(pool) = pool(1).await else { return };
    let Some(observer) = self::pool(1).await else {
        return;
    };
    // A view whose first page takes 30 s to compute (3,000 rows sorted after a 10 ms pause each).
    let view = unique("rowstream_ks_slow");
    sqlx::query(&format!(
        "CREATE VIEW {view} AS SELECT g AS k, pg_sleep(0.01)::text AS pause FROM generate_series(1, 3000) g"
    ))
    .execute(&pool)
    .await
    .unwrap();
    let pages = rowstream::postgres::keyset(pool.clone(), Keyset::new(&view, "k"));
    let chunks = Streamer::default().stream_batches(pages, Identity, JsonArray::new());
    let waited =
        tokio::time::timeout(Duration::from_millis(300), chunks.try_collect::<Vec<_>>()).await;
    assert!(waited.is_err(), "the first page should still be computing");
    // The stream was dropped with the timeout.
    let took = assert_cancelled(&observer, &pool, &view).await;
    eprintln!("page statement gone and connection back {took:?} after the drop");
    let answer: i32 = sqlx::query_scalar("SELECT 41 + 1")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(answer, 42);
    sqlx::query(&format!("DROP VIEW {view}"))
        .execute(&pool)
        .await
        .unwrap();
}

/// A typed row of the parameterized queries.
#[derive(Debug, PartialEq, serde::Serialize)]
struct Tick {
    g: i32,
    tenant: i64,
}

impl<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> for Tick {
    fn from_row(row: &'r sqlx::postgres::PgRow) -> Result<Self, sqlx::Error> {
        use sqlx::Row as _;
        Ok(Self {
            g: row.try_get("g")?,
            tenant: row.try_get("tenant")?,
        })
    }
}

/// A value whose encoding always fails.
struct Unencodable;

impl sqlx::Type<sqlx::Postgres> for Unencodable {
    fn type_info() -> sqlx::postgres::PgTypeInfo {
        <i32 as sqlx::Type<sqlx::Postgres>>::type_info()
    }
}

impl sqlx::Encode<'_, sqlx::Postgres> for Unencodable {
    fn encode_by_ref(
        &self,
        _: &mut sqlx::postgres::PgArgumentBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        Err("this value does not encode".into())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_built_the_sqlx_way_bind_their_parameters() {
    let Some(pool) = pool(1).await else { return };
    // The SQL is borrowed from a String that is dropped before the stream runs.
    let sql = String::from("SELECT g, $1::int8 AS tenant FROM generate_series(1, $2) g");
    let typed = rowstream::postgres::fetch_as(
        pool.clone(),
        sqlx::query_as::<_, Tick>(&sql).bind(7_i64).bind(3_i32),
    );
    drop(sql);
    let ticks: Vec<Tick> = typed.try_collect().await.unwrap();
    assert_eq!(
        ticks,
        [1, 2, 3].map(|g| Tick { g, tenant: 7 }),
        "every row, with the bound tenant"
    );
    let dynamic = rowstream::postgres::fetch(
        pool.clone(),
        sqlx::query("SELECT $1::text AS t, $2::int4 AS n")
            .bind("x")
            .bind(5_i32),
    );
    let records: Vec<rowstream::postgres::PgRecord> = dynamic.try_collect().await.unwrap();
    assert_eq!(
        serde_json::to_value(&records).unwrap(),
        json!([{"t": "x", "n": 5}])
    );
    // A value that fails to bind is the stream's only item, and takes no connection: a
    // lazy pool still has none afterwards.
    let lazy = PgPoolOptions::new()
        .max_connections(1)
        .connect_lazy(&std::env::var("ROWSTREAM_TEST_POSTGRES_URL").unwrap())
        .unwrap();
    let failed = rowstream::postgres::fetch_as(
        lazy.clone(),
        sqlx::query_as::<_, Tick>("SELECT $1::int4 AS g, 1::int8 AS tenant").bind(Unencodable),
    );
    let items: Vec<Result<Tick, sqlx::Error>> = futures_util::StreamExt::collect(failed).await;
    assert_eq!(items.len(), 1);
    let err = items.into_iter().next().unwrap().unwrap_err();
    assert!(matches!(err, sqlx::Error::Encode(_)), "{err:?}");
    assert!(err.to_string().contains("does not encode"), "{err}");
    assert_eq!(lazy.size(), 0, "no connection was opened");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_cancels_a_typed_query_with_parameters() {
    disconnect_typed_query(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_cancels_a_typed_query_with_parameters_over_tls() {
    disconnect_typed_query(true).await;
}

async fn disconnect_typed_query(tls: bool) {
    let Some(pool) = pool_with(1, tls).await else {
        return;
    };
    let Some(observer) = self::pool(1).await else {
        return;
    };
    let served = pool.clone();
    let addr = serve_app(Router::new().route(
        "/",
        get(move || {
            let pool = served.clone();
            async move {
                // 3,000 rows, one every 10 ms: 30 s if nobody stops it.
                let query = sqlx::query_as::<_, Tick>(
                    "SELECT g, $1::int8 AS tenant, pg_sleep(0.01) AS pause \
                     /* rowstream-cancel-typed */ FROM generate_series(1, $2) g",
                )
                .bind(7_i64)
                .bind(3000_i32);
                rowstream::axum::json_array(rowstream::postgres::fetch_as(pool, query)).await
            }
        }),
    ))
    .await;
    leave_early(addr, true).await;
    let took = assert_cancelled(&observer, &pool, "rowstream-cancel-typed").await;
    eprintln!(
        "typed statement gone and connection back {took:?} after the disconnect (tls: {tls})"
    );
    let answer: i32 = sqlx::query_scalar("SELECT 41 + 1")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(answer, 42);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyset_filters_are_bound_parameters() {
    use rowstream::keyset::Keyset;
    let Some(pool) = pool(2).await else { return };
    let table = unique("rowstream_ks_filter");
    sqlx::raw_sql(&format!(
        "CREATE TABLE {table} (k int8 PRIMARY KEY, tenant int4, state text);
         INSERT INTO {table} SELECT k, k % 3, CASE WHEN k % 2 = 0 THEN 'open' ELSE 'closed' END
           FROM generate_series(1, 30) k;"
    ))
    .execute(&pool)
    .await
    .unwrap();
    let tenant = Keyset::new(&table, "k").filter("tenant", 1).batch_size(4);
    let (pages, keys, _) = keyset_keys(pool.clone(), tenant).await.unwrap();
    assert_eq!(
        keys,
        (1..=28).step_by(3).map(|k| json!(k)).collect::<Vec<_>>()
    );
    assert_eq!(pages, [4, 4, 2]);
    let open = Keyset::new(&table, "k")
        .filter("tenant", 1)
        .filter("state", "open")
        .batch_size(2);
    let (_, keys, _) = keyset_keys(pool.clone(), open).await.unwrap();
    assert_eq!(keys, [4, 10, 16, 22, 28].map(|k| json!(k)));
    // A value is a value, never SQL.
    let injected = Keyset::new(&table, "k").filter("state", "open' OR '1'='1");
    let (_, keys, _) = keyset_keys(pool.clone(), injected).await.unwrap();
    assert!(keys.is_empty(), "{keys:?}");
    sqlx::query(&format!("DROP TABLE {table}"))
        .execute(&pool)
        .await
        .unwrap();
}
