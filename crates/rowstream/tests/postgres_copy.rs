//! `rowstream::postgres::copy_rows` against the real server (`ROWSTREAM_TEST_POSTGRES_URL`):
//! the same bytes as `rows` in every format, errors, the statement timeout, and the
//! cancellation of the COPY when the client leaves.

#![cfg(all(
    feature = "postgres",
    feature = "axum",
    feature = "csv",
    feature = "msgpack"
))]

#[path = "support/disconnect.rs"]
mod disconnect;
use disconnect::{assert_cancelled, leave_early, serve_app};

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use futures_util::{Stream, TryStreamExt};
use rowstream::{Csv, Encoder, Identity, JsonArray, Msgpack, StreamErrorKind, Streamer};
use serde::Serialize;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgSslMode};

/// A pool of at most `max` connections to the test server (over TLS when `tls`), with
/// `options` in every session; `None` when the server is not configured locally (an
/// error in CI).
async fn pool_with(max: u32, tls: bool, options: &[(&str, &str)]) -> Option<PgPool> {
    let Ok(url) = std::env::var("ROWSTREAM_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "ROWSTREAM_TEST_POSTGRES_URL must be set in CI"
        );
        eprintln!("skipped: ROWSTREAM_TEST_POSTGRES_URL is not set");
        return None;
    };
    let connect: PgConnectOptions = url.parse().expect("a PostgreSQL URL");
    let connect = connect
        .ssl_mode(if tls {
            PgSslMode::Require
        } else {
            PgSslMode::Disable
        })
        .options(options.iter().copied());
    Some(
        PgPoolOptions::new()
            .max_connections(max)
            .connect_with(connect)
            .await
            .expect("the PostgreSQL test server accepts connections"),
    )
}

async fn pool(max: u32) -> Option<PgPool> {
    pool_with(max, false, &[]).await
}

async fn encode<T, E>(
    rows: impl Stream<Item = Result<T, sqlx::Error>> + Send + 'static,
    encoder: E,
) -> Result<Vec<u8>, rowstream::StreamError>
where
    T: Serialize + Send + 'static,
    E: Encoder,
{
    Streamer::default()
        .stream(rows, Identity, encoder)
        .map_ok(Vec::from)
        .try_concat()
        .await
}

/// Exports `sql` through `rows` and through `copy_rows` in JSON, CSV and MessagePack and
/// asserts the same bytes (or the same error); returns the JSON text.
async fn same_both_ways(pool: &PgPool, sql: &str) -> Result<String, String> {
    use rowstream::postgres::{copy_rows, rows};
    let both = |a: Result<Vec<u8>, rowstream::StreamError>,
                b: Result<Vec<u8>, rowstream::StreamError>,
                format: &str| {
        match (a, b) {
            (Ok(a), Ok(b)) => {
                assert_eq!(
                    String::from_utf8_lossy(&a),
                    String::from_utf8_lossy(&b),
                    "{format}"
                );
                assert_eq!(a, b, "{format}");
                Ok(a)
            }
            (Err(a), Err(b)) => {
                assert_eq!(a.kind(), b.kind(), "{format}");
                assert_eq!(a.to_string(), b.to_string(), "{format}");
                Err(a.to_string())
            }
            (a, b) => panic!("{format}: rows gave {a:?}, copy_rows gave {b:?}"),
        }
    };
    let (p, s) = (pool.clone(), sql.to_owned());
    both(
        encode(rows(p.clone(), s.clone()), Csv::new()).await,
        encode(copy_rows(p, s), Csv::new()).await,
        "csv",
    )?;
    let (p, s) = (pool.clone(), sql.to_owned());
    both(
        encode(rows(p.clone(), s.clone()), Msgpack::new()).await,
        encode(copy_rows(p, s), Msgpack::new()).await,
        "msgpack",
    )?;
    let (p, s) = (pool.clone(), sql.to_owned());
    let json = both(
        encode(rows(p.clone(), s.clone()), JsonArray::new()).await,
        encode(copy_rows(p, s), JsonArray::new()).await,
        "json",
    )?;
    Ok(String::from_utf8(json).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_type_is_written_as_rows_writes_it() {
    let Some(pool) = pool(2).await else { return };
    sqlx::query("DO $$ BEGIN CREATE TYPE rowstream_mood AS ENUM ('sad', 'happy'); EXCEPTION WHEN duplicate_object THEN NULL; END $$")
        .execute(&pool)
        .await
        .unwrap();
    let sql = include_str!("support/pg_types.sql");
    let json = same_both_ways(&pool, sql).await.unwrap();
    assert!(
        json.starts_with(r#"[{"i64_min":-9223372036854775808,"#),
        "{json}"
    );
    assert!(json.contains(r#""mood":"happy""#), "{json}");

    // Many rows, NULLs among them, a value over a protocol buffer's size, empty results.
    let json = same_both_ways(
        &pool,
        "SELECT g AS id, CASE WHEN g % 3 = 0 THEN NULL ELSE 'row ' || g END AS label, \
         CASE WHEN g = 7 THEN repeat('x', 200000) END AS big, g * 0.5 AS half \
         FROM generate_series(1, 5000) g",
    )
    .await
    .unwrap();
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value.as_array().unwrap().len(), 5000);
    assert_eq!(value[2]["label"], serde_json::Value::Null);
    assert_eq!(value[6]["big"].as_str().unwrap().len(), 200_000);
    assert_eq!(value[4999]["half"], "2500.0");
    assert_eq!(
        same_both_ways(&pool, "SELECT 1 AS a WHERE false")
            .await
            .unwrap(),
        "[]"
    );
    // No columns at all.
    assert_eq!(same_both_ways(&pool, "SELECT").await.unwrap(), "[{}]");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsupported_type_fails_the_same_way() {
    let Some(pool) = pool(1).await else { return };
    let message = same_both_ways(&pool, "SELECT 1 AS ok, point(1, 2) AS location")
        .await
        .unwrap_err();
    assert!(message.contains("location"), "{message}");
    assert!(message.contains("POINT"), "{message}");
}

/// The query's text as COPY needs it: a trailing `;` and a last-line comment are fine;
/// parameters and several statements are errors, and the connection stays usable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_text_and_errors() {
    use rowstream::postgres::copy_rows;
    let Some(pool) = pool(1).await else { return };
    let json = |sql: &'static str| encode(copy_rows(pool.clone(), sql), JsonArray::new());
    assert_eq!(json("SELECT 1 AS a;\n").await.unwrap(), br#"[{"a":1}]"#);
    assert_eq!(json("SELECT 1 AS a -- one").await.unwrap(), br#"[{"a":1}]"#);
    for bad in [
        "SELECT $1::int AS a",
        "SELECT 1 AS a; SELECT 2 AS b",
        "SELECT 1) TO STDOUT; SELECT (1",
        "SELECT * FROM rowstream_no_such_table",
        "SELECT 1 / 0 AS a",
    ] {
        let err = json(bad).await.unwrap_err();
        assert_eq!(err.kind(), StreamErrorKind::Fetch, "{bad}: {err}");
    }
    let err = json("SELECT 1 / 0 AS a").await.unwrap_err();
    assert!(err.to_string().contains("division by zero"), "{err}");
    // The pool's one connection still answers correctly.
    let answer: i32 = sqlx::query_scalar("SELECT 41 + 1")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(answer, 42);
    assert_eq!(
        json("SELECT 'after' AS t").await.unwrap(),
        br#"[{"t":"after"}]"#
    );
}

/// What follows the query's last token — semicolons, comments — is not the query's:
/// `COPY (…)` gets the query alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trailing_semicolons_and_comments() {
    use rowstream::postgres::copy_rows;
    let Some(pool) = pool(1).await else { return };
    for sql in [
        "SELECT 1 AS a; -- trailing comment",
        "SELECT 1 AS a; /* c */",
        "SELECT 1 AS a\n;\n-- comment\n",
        "SELECT 1 AS a;\r\n-- x\r\n",
        "/* lead */ SELECT 1 AS a /* a ; b */ ; ;",
    ] {
        let json = encode(copy_rows(pool.clone(), sql), JsonArray::new()).await;
        assert_eq!(
            json.as_deref().ok(),
            Some(&br#"[{"a":1}]"#[..]),
            "{sql:?}: {json:?}"
        );
    }
    let json = encode(
        copy_rows(pool.clone(), "SELECT ';--' AS a; -- c"),
        JsonArray::new(),
    )
    .await;
    assert_eq!(json.as_deref().ok(), Some(&br#"[{"a":";--"}]"#[..]));
}

/// After `ALTER TABLE` changes a column's type or name, the next COPY on the same
/// connection reads the values by the new type and names them by the new name (the
/// types are not taken from a statement prepared before the change).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_table_is_read_by_its_new_types() {
    use rowstream::postgres::copy_rows;
    // One connection: every export below runs on the one that prepared the first.
    let Some(pool) = pool(1).await else { return };
    let table = "rowstream_copy_altered";
    sqlx::raw_sql(&format!(
        "DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (a int4, t timestamp, b int8); \
         INSERT INTO {table} VALUES (1, '2020-01-01 00:00', 5), (2, '2021-06-15 12:00', 6)"
    ))
    .execute(&pool)
    .await
    .unwrap();
    let sql: &'static str = "SELECT * FROM rowstream_copy_altered ORDER BY a";
    let json = || encode(copy_rows(pool.clone(), sql), JsonArray::new());
    let before = String::from_utf8(json().await.unwrap()).unwrap();
    assert_eq!(
        before,
        r#"[{"a":1,"t":"2020-01-01T00:00:00","b":5},{"a":2,"t":"2021-06-15T12:00:00","b":6}]"#
    );
    sqlx::raw_sql(&format!(
        "ALTER TABLE {table} ALTER COLUMN a TYPE float4 USING a::float4, \
         ALTER COLUMN t TYPE timestamptz USING t AT TIME ZONE 'UTC', \
         ALTER COLUMN b TYPE float8 USING b::float8"
    ))
    .execute(&pool)
    .await
    .unwrap();
    let after = String::from_utf8(json().await.unwrap()).unwrap();
    assert_eq!(
        after,
        r#"[{"a":1.0,"t":"2020-01-01T00:00:00Z","b":5.0},{"a":2.0,"t":"2021-06-15T12:00:00Z","b":6.0}]"#
    );
    sqlx::raw_sql(&format!("ALTER TABLE {table} RENAME COLUMN b TO renamed_b"))
        .execute(&pool)
        .await
        .unwrap();
    let renamed = String::from_utf8(json().await.unwrap()).unwrap();
    assert!(renamed.contains(r#""renamed_b":5.0"#), "{renamed}");
    sqlx::raw_sql(&format!("DROP TABLE {table}"))
        .execute(&pool)
        .await
        .unwrap();
}

/// A COPY that runs past the session's `statement_timeout` fails with the server's
/// cancellation (SQLSTATE 57014), after rows have been sent; a read-only session runs
/// it; the connection serves the next query.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_statement_timeout_applies() {
    use rowstream::postgres::copy_rows;
    let Some(pool) = pool_with(
        1,
        false,
        &[
            ("statement_timeout", "300ms"),
            ("default_transaction_read_only", "on"),
        ],
    )
    .await
    else {
        return;
    };
    let started = Instant::now();
    let rows = copy_rows(
        pool.clone(),
        "SELECT g, pg_sleep(0.01) AS pause FROM generate_series(1, 1000) g",
    );
    let seen: Vec<Result<_, sqlx::Error>> = futures_util::StreamExt::collect(rows).await;
    assert!(started.elapsed() < Duration::from_secs(5));
    let (last, rows) = seen.split_last().unwrap();
    assert!(rows.iter().all(Result::is_ok));
    match last {
        Err(sqlx::Error::Database(err)) => {
            assert_eq!(err.code().as_deref(), Some("57014"), "{err}");
        }
        other => panic!("expected the timeout, got {other:?}"),
    }
    let answer: i32 = sqlx::query_scalar("SELECT 41 + 1")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(answer, 42);
    let json = encode(copy_rows(pool.clone(), "SELECT 2 AS b"), JsonArray::new())
        .await
        .unwrap();
    assert_eq!(json, br#"[{"b":2}]"#);
}

async fn serve(pool: PgPool, sql: &'static str) -> SocketAddr {
    serve_app(
        Router::new().route(
            "/",
            get(move || {
                let pool = pool.clone();
                async move {
                    rowstream::axum::json_array(rowstream::postgres::copy_rows(pool, sql)).await
                }
            }),
        ),
    )
    .await
}

async fn disconnect(tls: bool, after_first_chunk: bool, sql: &'static str, marker: &str) {
    let Some(pool) = pool_with(1, tls, &[]).await else {
        return;
    };
    let Some(observer) = self::pool(1).await else {
        return;
    };
    let addr = serve(pool.clone(), sql).await;
    leave_early(addr, after_first_chunk).await;
    let took = assert_cancelled(&observer, &pool, marker).await;
    eprintln!("COPY gone and connection let go {took:?} after the disconnect (tls: {tls})");
    // The pool serves the next statements correctly.
    let answer: i32 = sqlx::query_scalar("SELECT 41 + 1")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(answer, 42);
    let json = encode(
        rowstream::postgres::copy_rows(pool.clone(), "SELECT 'after' AS t"),
        JsonArray::new(),
    )
    .await
    .unwrap();
    assert_eq!(json, br#"[{"t":"after"}]"#);
}

/// 3,000 rows, one every 10 ms: 30 s if nobody stops it (each test its own marker, as
/// they may run at the same time).
const SLOW_ROWS: &str = "SELECT g, pg_sleep(0.01) AS pause /* rowstream-copy-cancel-rows */ FROM generate_series(1, 3000) g";
const SLOW_ROWS_TLS: &str = "SELECT g, pg_sleep(0.01) AS pause /* rowstream-copy-cancel-tls */ FROM generate_series(1, 3000) g";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_after_first_chunk_cancels_the_copy() {
    disconnect(false, true, SLOW_ROWS, "rowstream-copy-cancel-rows").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_after_first_chunk_cancels_the_copy_over_tls() {
    disconnect(true, true, SLOW_ROWS_TLS, "rowstream-copy-cancel-tls").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_before_first_row_cancels_the_copy() {
    let sql = "SELECT pg_sleep(30) AS pause /* rowstream-copy-cancel-first */";
    disconnect(false, false, sql, "rowstream-copy-cancel-first").await;
}
