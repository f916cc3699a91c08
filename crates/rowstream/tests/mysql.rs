//! MySQL/MariaDB against the real server (`ROWSTREAM_TEST_MYSQL_URL`): the type mapping
//! value by value, and `KILL QUERY` when the client leaves.

#![cfg(all(feature = "mysql", feature = "axum"))]
#![recursion_limit = "256"]

#[path = "support/disconnect.rs"]
mod disconnect;
use disconnect::{assert_killed, leave_early, serve_app};

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use futures_util::TryStreamExt;
use rowstream::mysql::RecordOptions;
use rowstream::{Identity, JsonArray, Streamer};
use serde_json::json;
use sqlx::mysql::{MySqlArguments, MySqlPool, MySqlPoolOptions};

async fn pool(max: u32) -> Option<MySqlPool> {
    let Ok(url) = std::env::var("ROWSTREAM_TEST_MYSQL_URL") else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "ROWSTREAM_TEST_MYSQL_URL must be set in CI"
        );
        eprintln!("skipped: ROWSTREAM_TEST_MYSQL_URL is not set");
        return None;
    };
    Some(
        MySqlPoolOptions::new()
            .max_connections(max)
            .connect(&url)
            .await
            .expect("the MySQL test server accepts connections"),
    )
}

async fn export(pool: MySqlPool, sql: &str, options: RecordOptions) -> String {
    let rows = rowstream::mysql::rows_with(pool, sql, MySqlArguments::default(), options);
    let bytes = Streamer::default()
        .stream(rows, Identity, JsonArray::new())
        .map_ok(Vec::from)
        .try_concat()
        .await
        .unwrap();
    String::from_utf8(bytes).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn type_torture() {
    let Some(pool) = pool(2).await else { return };
    sqlx::query("DROP TABLE IF EXISTS rowstream_types")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query(
        "CREATE TABLE rowstream_types (
            id INT PRIMARY KEY,
            i64_min BIGINT, i64_max BIGINT, beyond BIGINT, u64_max BIGINT UNSIGNED,
            tiny TINYINT, flag TINYINT(1), small SMALLINT UNSIGNED, yr YEAR,
            f FLOAT, d DOUBLE,
            num DECIMAL(38,10), neg DECIMAL(10,2),
            dt DATETIME(6), ts TIMESTAMP(6) NULL, old_date DATE, far_date DATE,
            t TIME(6), long_t TIME,
            empty VARCHAR(10), nothing VARCHAR(10), txt TEXT, ch CHAR(4),
            bin VARBINARY(8), blb BLOB, bits BIT(12),
            mood ENUM('sad','happy'), doc JSON
        ) CHARACTER SET utf8mb4",
    )
    .execute(&pool)
    .await
    .unwrap();
    // TIMESTAMP literals are read in the session's zone: make it UTC.
    let mut conn = pool.acquire().await.unwrap();
    sqlx::query("SET time_zone = '+00:00'")
        .execute(&mut *conn)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO rowstream_types VALUES (
            1, -9223372036854775808, 9223372036854775807, 9007199254740993, 18446744073709551615,
            -128, 1, 65535, 2024,
            1.5, 0.1,
            '123456789012345678.0123456789', -12.50,
            '1969-07-20 20:17:40.5', '2038-01-19 03:14:07.123456', '1000-01-01', '9999-12-31',
            '-838:59:59.000000', '100:00:00',
            '', NULL, 'ünïcødé 😀 \"q\"', 'ab',
            X'DEADBEEF', X'', b'101010101010',
            'happy', '{\"a\": [1, [2, {\"b\": null}]], \"n\": 12345678901234567890123}'
        )",
    )
    .execute(&mut *conn)
    .await
    .unwrap();
    drop(conn);

    let text = export(
        pool,
        "SELECT * FROM rowstream_types",
        RecordOptions::default().json_columns(["doc"]),
    )
    .await;
    for exact in [
        "-9223372036854775808",
        "9223372036854775807",
        "9007199254740993",
        "18446744073709551615",
        "12345678901234567890123",
    ] {
        assert!(text.contains(exact), "{exact} missing from {text}");
    }
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    let expected = json!({
        "id": 1, "i64_min": i64::MIN, "i64_max": i64::MAX, "beyond": 9007199254740993_i64,
        "u64_max": u64::MAX, "tiny": -128, "flag": true, "small": 65535, "yr": 2024,
        "f": 1.5, "d": 0.1,
        "num": "123456789012345678.0123456789", "neg": "-12.50",
        "dt": "1969-07-20T20:17:40.5", "ts": "2038-01-19T03:14:07.123456Z",
        "old_date": "1000-01-01", "far_date": "9999-12-31",
        "t": "-838:59:59", "long_t": "100:00:00",
        "empty": "", "nothing": null, "txt": "ünïcødé 😀 \"q\"", "ch": "ab",
        "bin": "3q2+7w==", "blb": "", "bits": 2730,
        "mood": "happy",
        "doc": {"a": [1, [2, {"b": null}]], "n": 12345678901234567890123.0},
    });
    assert_eq!(value[0], expected, "{text}");
    assert!(text.starts_with(r#"[{"id":1,"i64_min":"#), "{text}");
}

/// `TINYINT(1)` is `BOOLEAN` to the driver, signed or not: 0 and 1 are `false`/`true`, any
/// other value its number — with its own sign (an unsigned 200 is 200, not -56).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tinyint1_beyond_0_and_1_is_its_number_signed_or_unsigned() {
    let Some(pool) = pool(2).await else { return };
    let table = format!("rowstream_tinyint1_{}", std::process::id());
    sqlx::query(&format!("DROP TABLE IF EXISTS {table}"))
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query(&format!(
        "CREATE TABLE {table} (id INT PRIMARY KEY, s TINYINT(1), u TINYINT(1) UNSIGNED)"
    ))
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(&format!(
        "INSERT INTO {table} VALUES (1, 0, 0), (2, 1, 1), (3, -1, 200), (4, 127, 255), (5, -128, 128), (6, 2, 2)"
    ))
    .execute(&pool)
    .await
    .unwrap();
    let text = export(
        pool.clone(),
        &format!("SELECT s, u FROM {table} ORDER BY id"),
        RecordOptions::default(),
    )
    .await;
    sqlx::query(&format!("DROP TABLE {table}"))
        .execute(&pool)
        .await
        .unwrap();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        value,
        json!([
            {"s": false, "u": false},
            {"s": true, "u": true},
            {"s": -1, "u": 200},
            {"s": 127, "u": 255},
            {"s": -128, "u": 128},
            {"s": 2, "u": 2},
        ]),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_dates_are_zero_dates_not_null() {
    let Some(pool) = pool(2).await else { return };
    let mut conn = pool.acquire().await.unwrap();
    for sql in [
        "SET SESSION sql_mode = ''",
        "DROP TABLE IF EXISTS rowstream_zero_dates",
        "CREATE TABLE rowstream_zero_dates (
            id INT PRIMARY KEY, d DATE NULL, dt DATETIME NULL, dt6 DATETIME(6) NULL,
            ts TIMESTAMP NULL DEFAULT NULL, part DATE NULL
        )",
        "INSERT INTO rowstream_zero_dates VALUES
            (1, '0000-00-00', '0000-00-00 00:00:00', '0000-00-00 00:00:00', '0000-00-00 00:00:00', '2024-00-00'),
            (2, NULL, NULL, NULL, NULL, NULL)",
    ] {
        sqlx::query(sql).execute(&mut *conn).await.unwrap();
    }
    drop(conn);
    let text = export(
        pool,
        "SELECT * FROM rowstream_zero_dates ORDER BY id",
        RecordOptions::default(),
    )
    .await;
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        value,
        json!([
            {"id": 1, "d": "0000-00-00", "dt": "0000-00-00T00:00:00",
             "dt6": "0000-00-00T00:00:00", "ts": "0000-00-00T00:00:00", "part": "2024-00-00"},
            {"id": 2, "d": null, "dt": null, "dt6": null, "ts": null, "part": null},
        ]),
        "{text}"
    );
}

async fn serve(pool: MySqlPool, sql: &'static str) -> SocketAddr {
    serve_app(Router::new().route(
        "/",
        get(move || {
            let pool = pool.clone();
            async move { rowstream::axum::json_array(rowstream::mysql::rows(pool, sql)).await }
        }),
    ))
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_after_first_chunk_kills_the_query() {
    let Some(pool) = pool(1).await else { return };
    let Some(observer) = self::pool(1).await else {
        return;
    };
    // One row every 10 ms from a 3,000-row sequence: 30 s if nobody stops it.
    let sql = "SELECT seq, SLEEP(0.01) AS pause /* rowstream-kill-rows */ FROM seq_1_to_3000";
    let addr = serve(pool.clone(), sql).await;
    leave_early(addr, true).await;
    let took = assert_killed(&observer, &pool, "rowstream-kill-rows").await;
    eprintln!("statement gone and connection released {took:?} after the disconnect");
    let answer: i64 = sqlx::query_scalar("SELECT 41 + 1")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(answer, 42);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_before_first_row_kills_the_query() {
    let Some(pool) = pool(1).await else { return };
    let Some(observer) = self::pool(1).await else {
        return;
    };
    let sql = "SELECT SLEEP(30) AS pause /* rowstream-kill-first */";
    let addr = serve(pool.clone(), sql).await;
    leave_early(addr, false).await;
    let took = assert_killed(&observer, &pool, "rowstream-kill-first").await;
    eprintln!("statement gone and connection released {took:?} after the disconnect");
    let answer: i64 = sqlx::query_scalar("SELECT 41 + 1")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(answer, 42);
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{prefix}_{}_{nanos}", std::process::id())
}

async fn keyset_keys(
    pool: MySqlPool,
    keyset: rowstream::keyset::Keyset,
) -> Result<(Vec<usize>, Vec<serde_json::Value>, u64), sqlx::Error> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    let queries = Arc::new(AtomicU64::new(0));
    let counter = queries.clone();
    let keyset = keyset.on_page(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    let pages: Vec<Vec<rowstream::mysql::MySqlRecord>> =
        rowstream::mysql::keyset(pool, keyset, RecordOptions::default())
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
    let texts = format!("{}`q", unique("rowstream_ks_text"));
    let quoted_texts = format!("`{}`", texts.replace('`', "``"));
    for sql in [
        format!("CREATE TABLE {ints} (k INT UNSIGNED PRIMARY KEY, v TEXT)"),
        format!(
            "INSERT INTO {ints} VALUES (5,'x'),(3,'x'),(12,'x'),(1,'x'),(7,'x'),(2,'x'),(30,'x'),(4294967295,'x'),(8,'x'),(9,'x')"
        ),
        format!(
            "CREATE TABLE {quoted_texts} (k VARCHAR(10) PRIMARY KEY, v INT) CHARACTER SET utf8mb4"
        ),
        format!(
            "INSERT INTO {quoted_texts} VALUES ('b',1),('a',1),('é',1),('C',1),('ab',1),('',1)"
        ),
    ] {
        sqlx::query(&sql).execute(&pool).await.unwrap();
    }

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
        *json!([1, 2, 3, 5, 7, 8, 9, 12, 30, 4294967295_u64])
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
    assert_eq!(
        keys,
        *json!([8, 9, 12, 30, 4294967295_u64]).as_array().unwrap()
    );

    // Text keys in the column's collation (case-insensitive here): as ORDER BY sorts.
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

    for sql in [
        format!("DROP TABLE {ints}"),
        format!("DROP TABLE {quoted_texts}"),
    ] {
        sqlx::query(&sql).execute(&pool).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_keyset_export_kills_its_page() {
    use rowstream::keyset::Keyset;
    let Some(pool) = pool(1).await else { return };
    let Some(observer) = self::pool(1).await else {
        return;
    };
    // A view whose first page takes 30 s to compute.
    let view = unique("rowstream_ks_slow");
    sqlx::query(&format!(
        "CREATE VIEW {view} AS SELECT seq AS k, SLEEP(0.01) AS pause FROM seq_1_to_3000"
    ))
    .execute(&pool)
    .await
    .unwrap();
    let pages = rowstream::mysql::keyset(
        pool.clone(),
        Keyset::new(&view, "k"),
        RecordOptions::default(),
    );
    let chunks = Streamer::default().stream_batches(pages, Identity, JsonArray::new());
    let waited =
        tokio::time::timeout(Duration::from_millis(300), chunks.try_collect::<Vec<_>>()).await;
    assert!(waited.is_err(), "the first page should still be computing");
    let took = assert_killed(&observer, &pool, &view).await;
    eprintln!("page statement gone and connection released {took:?} after the drop");
    let answer: i64 = sqlx::query_scalar("SELECT 41 + 1")
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
    g: i64,
    tenant: i64,
}

impl<'r> sqlx::FromRow<'r, sqlx::mysql::MySqlRow> for Tick {
    fn from_row(row: &'r sqlx::mysql::MySqlRow) -> Result<Self, sqlx::Error> {
        use sqlx::Row as _;
        Ok(Self {
            g: row.try_get("g")?,
            tenant: row.try_get("tenant")?,
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_built_the_sqlx_way_bind_their_parameters() {
    let Some(pool) = pool(1).await else { return };
    let sql = String::from(
        "SELECT CAST(seq AS SIGNED) AS g, CAST(? AS SIGNED) AS tenant FROM seq_1_to_10 WHERE seq <= ?",
    );
    let typed = rowstream::mysql::fetch_as(
        pool.clone(),
        sqlx::query_as::<_, Tick>(&sql).bind(7_i64).bind(3_i64),
    );
    drop(sql);
    let ticks: Vec<Tick> = typed.try_collect().await.unwrap();
    assert_eq!(ticks, [1, 2, 3].map(|g| Tick { g, tenant: 7 }));
    let dynamic = rowstream::mysql::fetch_with(
        pool,
        sqlx::query("SELECT ? AS t, ? AS j")
            .bind("x")
            .bind(r#"{"a":1}"#),
        RecordOptions::default().json_columns(["j"]),
    );
    let records: Vec<rowstream::mysql::MySqlRecord> = dynamic.try_collect().await.unwrap();
    assert_eq!(
        serde_json::to_value(&records).unwrap(),
        json!([{"t": "x", "j": {"a": 1}}])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_kills_a_typed_query_with_parameters() {
    let Some(pool) = pool(1).await else { return };
    let Some(observer) = self::pool(1).await else {
        return;
    };
    let served = pool.clone();
    let addr = serve_app(Router::new().route(
        "/",
        get(move || {
            let pool = served.clone();
            async move {
                // One row every 10 ms from a 3,000-row sequence: 30 s if nobody stops it.
                let query = sqlx::query_as::<_, Tick>(
                    "SELECT CAST(seq AS SIGNED) AS g, CAST(? AS SIGNED) AS tenant, SLEEP(0.01) AS pause \
                     /* rowstream-kill-typed */ FROM seq_1_to_3000 WHERE seq <= ?",
                )
                .bind(7_i64)
                .bind(3000_i64);
                rowstream::axum::json_array(rowstream::mysql::fetch_as(pool, query)).await
            }
        }),
    ))
    .await;
    leave_early(addr, true).await;
    let took = assert_killed(&observer, &pool, "rowstream-kill-typed").await;
    eprintln!("typed statement gone and connection released {took:?} after the disconnect");
    let answer: i64 = sqlx::query_scalar("SELECT 41 + 1")
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
        "CREATE TABLE {table} (k BIGINT PRIMARY KEY, tenant INT, state VARCHAR(10));
         INSERT INTO {table} SELECT seq, seq % 3, IF(seq % 2 = 0, 'open', 'closed') FROM seq_1_to_30;"
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
    let injected = Keyset::new(&table, "k").filter("state", "open' OR '1'='1");
    let (_, keys, _) = keyset_keys(pool.clone(), injected).await.unwrap();
    assert!(keys.is_empty(), "{keys:?}");
    sqlx::query(&format!("DROP TABLE {table}"))
        .execute(&pool)
        .await
        .unwrap();
}
