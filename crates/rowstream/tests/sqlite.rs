//! Dynamic SQLite rows: each storage class written as documented, straight from the row.

#![cfg(feature = "sqlite")]

use futures_util::{StreamExt, TryStreamExt};
use rowstream::{Identity, JsonArray, StreamErrorKind, Streamer};
use serde_json::json;
use sqlx::sqlite::SqlitePoolOptions;

async fn pool() -> sqlx::SqlitePool {
    // One connection: an in-memory database lives as long as its connection.
    SqlitePoolOptions::new()
        .max_connections(1)
        .connect("sqlite::memory:")
        .await
        .unwrap()
}

async fn body(chunks: rowstream::ChunkStream) -> Result<serde_json::Value, rowstream::StreamError> {
    let bytes = chunks.map_ok(Vec::from).try_concat().await?;
    Ok(serde_json::from_slice(&bytes).unwrap())
}

#[tokio::test]
async fn storage_classes_map_to_json() {
    let pool = pool().await;
    // No declared types: every value keeps the storage class it was inserted with.
    sqlx::query("CREATE TABLE t (a, b, c, d, e)")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO t VALUES
           (9223372036854775807, -9223372036854775808, 9007199254740993, 0, NULL),
           (1.5, -0.0, 1e308, 2.5e-7, 9e999),
           ('text \"q\" \\ \n', '', 'émoji 😀', CAST(x'41c3a942' AS TEXT), NULL),
           (x'00ff10', x'', NULL, 'NULL', '')",
    )
    .execute(&pool)
    .await
    .unwrap();

    let rows = rowstream::sqlite::rows(pool, "SELECT * FROM t ORDER BY rowid");
    let chunks = Streamer::default().stream(rows, Identity, JsonArray::new());
    let raw = chunks.map_ok(Vec::from).try_concat().await.unwrap();
    let text = String::from_utf8(raw).unwrap();
    // Exact digits, not through f64.
    assert!(text.contains("9223372036854775807"), "{text}");
    assert!(text.contains("-9223372036854775808"), "{text}");
    assert!(text.contains("9007199254740993"), "{text}");

    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        value,
        json!([
            {"a": 9223372036854775807_i64, "b": -9223372036854775808_i64, "c": 9007199254740993_i64, "d": 0, "e": null},
            {"a": 1.5, "b": -0.0, "c": 1e308, "d": 2.5e-7, "e": null},
            {"a": "text \"q\" \\ \n", "b": "", "c": "émoji 😀", "d": "AéB", "e": null},
            {"a": "AP8Q", "b": "", "c": null, "d": "NULL", "e": ""},
        ])
    );
    // Column order is the query's.
    let first_keys: Vec<&str> = text[2..].split(':').take(1).collect();
    assert_eq!(first_keys, ["\"a\""]);
}

#[tokio::test]
async fn text_that_is_not_utf8_fails_its_row_naming_the_column() {
    // Never replaced by U+FFFD: a changed value must come with an error.
    let pool = pool().await;
    sqlx::query("CREATE TABLE t (id INTEGER, name TEXT)")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO t VALUES (1, 'fine'), (2, CAST(x'41ff42' AS TEXT)), (3, 'never')")
        .execute(&pool)
        .await
        .unwrap();
    let rows = rowstream::sqlite::rows(pool, "SELECT * FROM t ORDER BY id");
    let mut chunks = Streamer::default().stream(rows, Identity, rowstream::Ndjson::new());
    let mut body = Vec::new();
    let err = loop {
        match chunks.next().await {
            Some(Ok(chunk)) => body.extend_from_slice(&chunk),
            Some(Err(err)) => break err,
            None => panic!("the export completed: {}", String::from_utf8_lossy(&body)),
        }
    };
    assert_eq!(body, b"{\"id\":1,\"name\":\"fine\"}\n");
    assert_eq!(err.items_before(), 1);
    let text = err.to_string();
    assert!(
        text.contains("\"name\"") && text.contains("UTF-8"),
        "{text}"
    );
}

#[tokio::test]
async fn typed_rows_and_empty_results() {
    let pool = pool().await;
    sqlx::query("CREATE TABLE tickets (id INTEGER PRIMARY KEY, subject TEXT)")
        .execute(&pool)
        .await
        .unwrap();
    let empty = rowstream::sqlite::rows(pool.clone(), "SELECT * FROM tickets");
    let value = body(Streamer::default().stream(empty, Identity, JsonArray::new()))
        .await
        .unwrap();
    assert_eq!(value, json!([]));

    sqlx::query("INSERT INTO tickets (subject) VALUES ('a'), ('b, \"c\"')")
        .execute(&pool)
        .await
        .unwrap();
    let typed =
        rowstream::sqlite::query_as::<(i64, String)>(pool, "SELECT id, subject FROM tickets");
    let value = body(Streamer::default().stream(typed, Identity, JsonArray::new()))
        .await
        .unwrap();
    assert_eq!(value, json!([[1, "a"], [2, "b, \"c\""]]));
}

#[tokio::test]
async fn bad_sql_fails_before_the_first_chunk() {
    let rows = rowstream::sqlite::rows(pool().await, "SELECT * FROM missing_table");
    let err = body(Streamer::default().stream(rows, Identity, JsonArray::new()))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), StreamErrorKind::Fetch);
    assert_eq!(err.items_before(), 0);
    assert!(err.to_string().contains("no such table"), "{err}");
}

/// Collects a keyset export as `(pages, ids)` and counts the queries through the hook.
async fn keyset_ids(
    pool: sqlx::SqlitePool,
    keyset: rowstream::keyset::Keyset,
) -> (Vec<usize>, Vec<serde_json::Value>, u64) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    let queries = Arc::new(AtomicU64::new(0));
    let counter = queries.clone();
    let keyset = keyset.on_page(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    let pages: Vec<Vec<rowstream::sqlite::SqliteRecord>> = rowstream::sqlite::keyset(pool, keyset)
        .try_collect()
        .await
        .unwrap();
    let sizes = pages.iter().map(Vec::len).collect();
    let keys = pages
        .iter()
        .flatten()
        .map(|record| serde_json::to_value(record).unwrap()["k"].clone())
        .collect();
    (sizes, keys, queries.load(Ordering::SeqCst))
}

#[tokio::test]
async fn keyset_pages_integer_and_text_keys() {
    use rowstream::keyset::{Key, Keyset};
    let pool = pool().await;
    sqlx::query("CREATE TABLE n (k INTEGER PRIMARY KEY, v TEXT)")
        .execute(&pool)
        .await
        .unwrap();
    // Inserted out of order, with a gap and negative keys.
    for k in [5, -3, 12, 1, 7, 2, 30, -10, 8, 9] {
        sqlx::query("INSERT INTO n VALUES (?, 'x')")
            .bind(k)
            .execute(&pool)
            .await
            .unwrap();
    }
    let (pages, keys, queries) =
        keyset_ids(pool.clone(), Keyset::new("n", "k").batch_size(4)).await;
    assert_eq!(pages, [4, 4, 2]);
    assert_eq!(
        queries, 3,
        "a short page ends the export without another query"
    );
    assert_eq!(
        keys,
        json!([-10, -3, 1, 2, 5, 7, 8, 9, 12, 30])
            .as_array()
            .unwrap()
            .clone()
    );

    // A full last page needs one more (empty) query.
    let (pages, _, queries) = keyset_ids(pool.clone(), Keyset::new("n", "k").batch_size(5)).await;
    assert_eq!((pages, queries), (vec![5, 5], 3));

    // Resumed after a key.
    let (pages, keys, _) = keyset_ids(
        pool.clone(),
        Keyset::new("n", "k").batch_size(4).after(Key::Int(7)),
    )
    .await;
    assert_eq!(pages, [4]);
    assert_eq!(keys, json!([8, 9, 12, 30]).as_array().unwrap().clone());

    sqlx::query("CREATE TABLE \"s\"\"q\" (k TEXT PRIMARY KEY, v INTEGER) WITHOUT ROWID")
        .execute(&pool)
        .await
        .unwrap();
    for k in ["b", "a", "é", "B", "ab", ""] {
        sqlx::query("INSERT INTO \"s\"\"q\" VALUES (?, 1)")
            .bind(k)
            .execute(&pool)
            .await
            .unwrap();
    }
    let (pages, keys, _) = keyset_ids(pool.clone(), Keyset::new("s\"q", "k").batch_size(2)).await;
    assert_eq!(pages, [2, 2, 2]);
    assert_eq!(
        keys,
        json!(["", "B", "a", "ab", "b", "é"])
            .as_array()
            .unwrap()
            .clone()
    );
    let (_, keys, _) = keyset_ids(pool.clone(), Keyset::new("s\"q", "k").after("ab")).await;
    assert_eq!(keys, json!(["b", "é"]).as_array().unwrap().clone());

    // Through the streamer, as one JSON array.
    let pages = rowstream::sqlite::keyset(pool.clone(), Keyset::new("n", "k").batch_size(3));
    let value = body(Streamer::default().stream_batches(pages, Identity, JsonArray::new()))
        .await
        .unwrap();
    assert_eq!(value.as_array().unwrap().len(), 10);
    assert_eq!(value[0], json!({"k": -10, "v": "x"}));
}

#[tokio::test]
async fn keyset_errors_name_the_key() {
    use rowstream::keyset::Keyset;
    let pool = pool().await;
    sqlx::query("CREATE TABLE r (k REAL PRIMARY KEY)")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO r VALUES (1.5)")
        .execute(&pool)
        .await
        .unwrap();
    let pages = rowstream::sqlite::keyset(pool.clone(), Keyset::new("r", "k"));
    let err = body(Streamer::default().stream_batches(pages, Identity, JsonArray::new()))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), StreamErrorKind::Fetch);
    assert!(err.to_string().contains("\"k\""), "{err}");
    assert!(err.to_string().contains("REAL"), "{err}");

    let pages = rowstream::sqlite::keyset(pool.clone(), Keyset::new("missing", "k"));
    let err = body(Streamer::default().stream_batches(pages, Identity, JsonArray::new()))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("missing"), "{err}");
    let pages = rowstream::sqlite::keyset(pool, Keyset::new("r", "nope"));
    let err = body(Streamer::default().stream_batches(pages, Identity, JsonArray::new()))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
}

/// A text or blob value whose length alone passes `max_item_size` is refused before it is
/// encoded, in every format: the stream fails with `LimitReached`, naming the value's
/// size, after the rows before it.
#[tokio::test]
async fn a_value_above_max_item_size_is_refused_before_it_is_encoded() {
    use rowstream::{AnyEncoder, Format, Limits};

    const BIG: usize = 4 * 1024 * 1024;
    let pool = pool().await;
    sqlx::query("CREATE TABLE t (id INTEGER PRIMARY KEY, v)")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO t VALUES (1, 'small'), (2, ?), (3, ?)")
        .bind("x".repeat(BIG))
        .bind(vec![7_u8; BIG])
        .execute(&pool)
        .await
        .unwrap();
    let streamer = Streamer::default().with_limits(Limits::default().max_item_size(1024 * 1024));
    for format in [Format::Json, Format::Ndjson, Format::Csv, Format::Msgpack] {
        for id in [2, 3] {
            let sql = format!("SELECT * FROM t WHERE id IN (1, {id}) ORDER BY id");
            let rows = rowstream::sqlite::rows(pool.clone(), sql);
            let chunks = streamer.stream(rows, Identity, AnyEncoder::new(format).unwrap());
            let out: Vec<_> = futures_util::StreamExt::collect(chunks).await;
            let err = out.last().unwrap().as_ref().unwrap_err();
            assert_eq!(err.kind(), StreamErrorKind::LimitReached, "{format}: {err}");
            assert_eq!(err.items_before(), 1, "{format}: {err}");
            let text = err.to_string();
            assert!(
                text.contains(&format!(
                    "a value of {BIG} bytes exceeds max_item_size (1048576 bytes)"
                )) && text.contains("not encoded"),
                "{format}: {text}"
            );
        }
    }
    // Under the limit, the same value streams.
    let rows = rowstream::sqlite::rows(pool, "SELECT * FROM t WHERE id = 2");
    let limits = Limits::default().max_item_size(BIG + 100);
    let chunks = Streamer::default()
        .with_limits(limits)
        .stream(rows, Identity, JsonArray::new());
    let value = body(chunks).await.unwrap();
    assert_eq!(value[0]["v"].as_str().unwrap().len(), BIG);
}

/// A typed row of the parameterized queries.
#[derive(Debug, PartialEq, serde::Serialize)]
struct Ticket {
    id: i64,
    tenant: i64,
    subject: String,
}

impl<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow> for Ticket {
    fn from_row(row: &'r sqlx::sqlite::SqliteRow) -> Result<Self, sqlx::Error> {
        use sqlx::Row as _;
        Ok(Self {
            id: row.try_get("id")?,
            tenant: row.try_get("tenant")?,
            subject: row.try_get("subject")?,
        })
    }
}

#[tokio::test]
async fn queries_built_the_sqlx_way_bind_their_parameters() {
    let pool = pool().await;
    sqlx::raw_sql(
        "CREATE TABLE tickets (id INTEGER PRIMARY KEY, tenant INTEGER, subject TEXT);
         INSERT INTO tickets VALUES (1, 7, 'a'), (2, 8, 'b'), (3, 7, 'c'), (4, 7, 'd');",
    )
    .execute(&pool)
    .await
    .unwrap();
    let typed = rowstream::sqlite::fetch_as(
        pool.clone(),
        sqlx::query_as::<_, Ticket>(
            "SELECT id, tenant, subject FROM tickets WHERE tenant = ? AND subject <> ? ORDER BY id",
        )
        .bind(7_i64)
        .bind(String::from("c")),
    );
    let tickets: Vec<Ticket> = typed.try_collect().await.unwrap();
    assert_eq!(
        tickets,
        [
            Ticket {
                id: 1,
                tenant: 7,
                subject: "a".into()
            },
            Ticket {
                id: 4,
                tenant: 7,
                subject: "d".into()
            },
        ]
    );
    let dynamic = rowstream::sqlite::fetch(
        pool,
        sqlx::query("SELECT id, subject FROM tickets WHERE tenant = ? ORDER BY id").bind(8_i64),
    );
    let chunks = Streamer::default().stream(dynamic, Identity, JsonArray::new());
    assert_eq!(
        body(chunks).await.unwrap(),
        json!([{"id": 2, "subject": "b"}])
    );
}

#[tokio::test]
async fn keyset_filters_are_bound_parameters() {
    use rowstream::keyset::Keyset;
    let pool = pool().await;
    sqlx::raw_sql(
        "CREATE TABLE t (k INTEGER PRIMARY KEY, tenant INTEGER, state TEXT);
         WITH RECURSIVE n(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM n WHERE k < 30)
         INSERT INTO t SELECT k, k % 3, CASE WHEN k % 2 = 0 THEN 'open' ELSE 'closed' END FROM n;",
    )
    .execute(&pool)
    .await
    .unwrap();
    let tenant = Keyset::new("t", "k").filter("tenant", 1).batch_size(4);
    let (pages, keys, _) = keyset_ids(pool.clone(), tenant).await;
    assert_eq!(
        keys,
        (1..=28).step_by(3).map(|k| json!(k)).collect::<Vec<_>>()
    );
    assert_eq!(pages, [4, 4, 2]);
    let open = Keyset::new("t", "k")
        .filter("tenant", 1)
        .filter("state", "open")
        .batch_size(2);
    let (_, keys, _) = keyset_ids(pool.clone(), open).await;
    assert_eq!(keys, [4, 10, 16, 22, 28].map(|k| json!(k)));
    let injected = Keyset::new("t", "k").filter("state", "open' OR '1'='1");
    let (_, keys, _) = keyset_ids(pool, injected).await;
    assert!(keys.is_empty(), "{keys:?}");
}
