//! MariaDB's `BOOLEAN` (`TINYINT(1)`) through the real server: every view of the column
//! agrees that it is a boolean — the JSON values, the schema endpoint, the OpenAPI row
//! schema, the Arrow and Parquet types, and the slice filters `eq.true` / `is.false`;
//! a plain `TINYINT` stays an integer everywhere.

mod common;

use arrow_array::cast::AsArray;
use arrow_array::types::Int8Type;
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;
use common::Server;
use common::sql::Scratch;
use rowstream_cli::Database;
use rowstream_cli::db::{self, OpenOptions};
use serde_json::{Value, json};

async fn get(server: &Server, path: &str) -> (u16, Vec<u8>) {
    let response = reqwest::get(server.url(path)).await.expect("GET");
    let status = response.status().as_u16();
    (
        status,
        response.bytes().await.expect("a whole body").to_vec(),
    )
}

async fn get_json(server: &Server, path: &str) -> Value {
    let (status, body) = get(server, path).await;
    assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).expect("JSON")
}

fn read_arrow(body: &[u8]) -> Vec<RecordBatch> {
    arrow_ipc::reader::StreamReader::try_new(body, None)
        .expect("an Arrow stream")
        .collect::<Result<_, _>>()
        .expect("a whole Arrow stream")
}

fn read_parquet(body: Vec<u8>) -> Vec<RecordBatch> {
    parquet::arrow::arrow_reader::ParquetRecordBatchReader::try_new(bytes::Bytes::from(body), 64)
        .expect("a Parquet file")
        .collect::<Result<_, _>>()
        .expect("whole row groups")
}

/// The `flag` and `ti` columns of the batches, as booleans and integers.
fn flags_and_tinys(batches: &[RecordBatch]) -> (Vec<Option<bool>>, Vec<Option<i8>>) {
    let mut flags = Vec::new();
    let mut tinys = Vec::new();
    for batch in batches {
        let schema = batch.schema();
        assert_eq!(
            schema.field_with_name("flag").unwrap().data_type(),
            &DataType::Boolean
        );
        assert_eq!(
            schema.field_with_name("ti").unwrap().data_type(),
            &DataType::Int8
        );
        let flag = batch.column_by_name("flag").unwrap().as_boolean();
        let ti = batch
            .column_by_name("ti")
            .unwrap()
            .as_primitive::<Int8Type>();
        for row in 0..batch.num_rows() {
            flags.push((!flag.is_null(row)).then(|| flag.value(row)));
            tinys.push((!ti.is_null(row)).then(|| ti.value(row)));
        }
    }
    (flags, tinys)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_tinyint1_is_a_boolean_in_every_view() {
    let Some(scratch) = Scratch::mysql("rowstream_booleans").await else {
        return;
    };
    let fixtures = scratch.mysql_pool(1).await;
    for sql in [
        "CREATE TABLE t (id INT PRIMARY KEY, flag TINYINT(1), b BOOLEAN NOT NULL, ti TINYINT)",
        "INSERT INTO t VALUES (1, 1, false, 1), (2, 0, true, 0), (3, NULL, true, -7), (4, 1, true, NULL)",
        "CREATE TABLE odd (id INT PRIMARY KEY, flag TINYINT(1))",
        "INSERT INTO odd VALUES (1, 2)",
    ] {
        sqlx::query(sql).execute(&fixtures).await.expect(sql);
    }
    let (pool, mariadb) = db::open_mysql(scratch.mysql_options(), &OpenOptions::default())
        .await
        .expect("open");
    let server = Server::start(Database::MySql { pool, mariadb }).await;

    // JSON: true/false, as documented; the plain TINYINT as numbers.
    let rows = get_json(&server, "/tables/t?format=json").await;
    assert_eq!(
        rows,
        json!([
            {"id": 1, "flag": true, "b": false, "ti": 1},
            {"id": 2, "flag": false, "b": true, "ti": 0},
            {"id": 3, "flag": null, "b": true, "ti": -7},
            {"id": 4, "flag": true, "b": true, "ti": null},
        ])
    );

    // The schema endpoint and the OpenAPI row schema say the same.
    let schema = get_json(&server, "/tables/t/schema").await;
    let described: Vec<(String, String)> = schema["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_owned(),
                c["json_type"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        described,
        [
            ("id".to_owned(), "integer".to_owned()),
            ("flag".to_owned(), "boolean".to_owned()),
            ("b".to_owned(), "boolean".to_owned()),
            ("ti".to_owned(), "integer".to_owned()),
        ]
    );
    let openapi = get_json(&server, "/openapi.json").await;
    let properties = &openapi["components"]["schemas"]["table.t"]["properties"];
    assert_eq!(properties["flag"]["type"], json!(["boolean", "null"]));
    assert_eq!(properties["b"]["type"], json!("boolean"));
    assert_eq!(properties["ti"]["type"], json!(["integer", "null"]));

    // Arrow and Parquet: Boolean, with the same values.
    let want_flags = vec![Some(true), Some(false), None, Some(true)];
    let want_tinys = vec![Some(1), Some(0), Some(-7), None];
    let (status, body) = get(&server, "/tables/t?format=arrow").await;
    assert_eq!(status, 200);
    assert_eq!(
        flags_and_tinys(&read_arrow(&body)),
        (want_flags.clone(), want_tinys.clone())
    );
    let (status, body) = get(&server, "/tables/t?format=parquet").await;
    assert_eq!(status, 200);
    assert_eq!(
        flags_and_tinys(&read_parquet(body)),
        (want_flags, want_tinys)
    );

    // Filters take the booleans the JSON shows.
    let ids = |rows: Value| -> Vec<i64> {
        rows.as_array()
            .expect("an array")
            .iter()
            .map(|r| r["id"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(
        ids(get_json(&server, "/tables/t?flag=eq.true&format=json").await),
        [1, 4]
    );
    assert_eq!(
        ids(get_json(&server, "/tables/t?flag=eq.false&format=json").await),
        [2]
    );
    assert_eq!(
        ids(get_json(&server, "/tables/t?b=is.false&format=json").await),
        [1]
    );
    assert_eq!(
        ids(get_json(&server, "/tables/t?ti=eq.-7&format=json").await),
        [3]
    );
    let (status, body) = get(&server, "/tables/t?flag=eq.yes").await;
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&body));

    // A TINYINT(1) holding 2: the JSON number, and no Arrow stream that claims a boolean.
    assert_eq!(
        get_json(&server, "/tables/odd?format=json").await,
        json!([{"id": 1, "flag": 2}])
    );
    let (status, body) = get(&server, "/tables/odd?format=arrow").await;
    assert_ne!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert!(
        String::from_utf8_lossy(&body).contains("flag"),
        "the problem names the column: {}",
        String::from_utf8_lossy(&body)
    );
    server.stop().await;
}
