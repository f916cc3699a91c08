//! Dynamic SQLite rows: each storage class written as documented, straight from the row.

#![cfg(feature = "sqlite")]

use futures_util::TryStreamExt;
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
           ('text \"q\" \\ \n', '', 'émoji 😀', CAST(x'41ff42' AS TEXT), NULL),
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
            {"a": "text \"q\" \\ \n", "b": "", "c": "émoji 😀", "d": "A\u{FFFD}B", "e": null},
            {"a": "AP8Q", "b": "", "c": null, "d": "NULL", "e": ""},
        ])
    );
    // Column order is the query's.
    let first_keys: Vec<&str> = text[2..].split(':').take(1).collect();
    assert_eq!(first_keys, ["\"a\""]);
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
