//! What the server says it serves: `GET /tables/{table}/schema` on the three databases,
//! and `GET /openapi.json` through the real `rowstream serve`, with every table, column
//! and named query in it. (`scripts/real-clients.sh` validates the document with
//! `openapi-spec-validator`.)

mod common;

use common::Server;
use common::binary::Binary;
use common::sql::Scratch;
use rowstream_cli::Database;
use rowstream_cli::db::{self, OpenOptions};
use serde_json::{Value, json};

async fn get_json(url: &str) -> (u16, Value) {
    let response = reqwest::get(url).await.expect("request");
    let status = response.status().as_u16();
    let body = response.bytes().await.expect("body");
    (
        status,
        serde_json::from_slice(&body).unwrap_or_else(|e| {
            panic!("{url}: not JSON ({e}): {}", String::from_utf8_lossy(&body))
        }),
    )
}

/// `(name, type, json_type, nullable, key)` of each column of a schema document.
fn columns(schema: &Value) -> Vec<(String, String, String, bool, bool)> {
    schema["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .map(|c| {
            (
                c["name"].as_str().expect("name").to_owned(),
                c["type"].as_str().expect("type").to_lowercase(),
                c["json_type"].as_str().expect("json_type").to_owned(),
                c["nullable"].as_bool().expect("nullable"),
                c["key"].as_bool().expect("key"),
            )
        })
        .collect()
}

fn col(
    name: &str,
    ty: &str,
    json: &str,
    nullable: bool,
    key: bool,
) -> (String, String, String, bool, bool) {
    (name.into(), ty.into(), json.into(), nullable, key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_lists_every_table_column_and_query() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = common::sqlite_file(
        dir.path().join("api.sqlite"),
        &[
            "CREATE TABLE flights (id INTEGER PRIMARY KEY, origin TEXT NOT NULL, \
             dep_delay REAL, \"limit\" INTEGER, payload BLOB, misc)",
            "CREATE TABLE \"vols été\" (code TEXT PRIMARY KEY, n INT) WITHOUT ROWID",
            "CREATE VIEW late AS SELECT id, dep_delay FROM flights WHERE dep_delay > 60",
        ],
    )
    .await;
    let config = dir.path().join("rowstream.toml");
    std::fs::write(
        &config,
        "[queries.since]\nsql = \"SELECT id FROM flights WHERE id > ?\"\n\
         description = \"flights after an id\"\n\
         params = [{ name = \"id\", type = \"int\" }]\n",
    )
    .expect("config");
    let db = format!("sqlite://{}", path.display());
    let config = config.display().to_string();
    let server = Binary::serve(
        &["--bind", "127.0.0.1:0", "--db", &db, "--config", &config],
        &[],
    );
    let base = &server.base;

    // The schema of each table.
    let (status, flights) = get_json(&format!("{base}/tables/flights/schema")).await;
    assert_eq!(status, 200);
    assert_eq!(flights["table"], "flights");
    assert_eq!(flights["order"], json!(["id"]));
    assert_eq!(flights["keyset"], true);
    assert_eq!(
        columns(&flights),
        vec![
            col("id", "integer", "integer", false, true),
            col("origin", "text", "string", false, false),
            col("dep_delay", "real", "number", true, false),
            col("limit", "integer", "integer", true, false),
            col("payload", "blob", "string", true, false),
            col("misc", "", "any", true, false),
        ]
    );
    let (status, vols) = get_json(&format!("{base}/tables/vols%20%C3%A9t%C3%A9/schema")).await;
    assert_eq!(status, 200);
    assert_eq!(vols["order"], json!(["code"]));
    assert_eq!(
        columns(&vols),
        vec![
            col("code", "text", "string", false, true),
            col("n", "int", "integer", true, false),
        ]
    );
    let (status, problem) = get_json(&format!("{base}/tables/nope/schema")).await;
    assert_eq!((status, problem["status"].as_u64()), (404, Some(404)));

    // Both take no parameters: one is refused naming it, as an export refuses a typo.
    for (path, name) in [
        ("/tables/flights/schema?format=csv", "format"),
        ("/tables/flights/schema?x", "x"),
        ("/openapi.json?fromat=yaml", "fromat"),
        ("/openapi.json?&download&x=1", "download"),
    ] {
        let (status, problem) = get_json(&format!("{base}{path}")).await;
        assert_eq!(status, 400, "{path}: {problem}");
        assert_eq!(problem["title"], "Unknown parameter", "{path}");
        assert_eq!(problem["parameter"], name, "{path}");
        assert_eq!(problem["known"], json!([]), "{path}");
    }
    // An empty query string is none.
    for path in ["/tables/flights/schema?", "/openapi.json?&"] {
        let (status, _) = get_json(&format!("{base}{path}")).await;
        assert_eq!(status, 200, "{path}");
    }

    // The document: every table with its row schema and a filter per column; the query.
    let (status, api) = get_json(&format!("{base}/openapi.json")).await;
    assert_eq!(status, 200);
    assert_eq!(api["openapi"], "3.1.0");
    let paths = api["paths"].as_object().expect("paths");
    for path in [
        "/tables/flights",
        "/tables/flights/schema",
        "/tables/vols%20%C3%A9t%C3%A9",
        "/tables/late",
        "/queries/since",
        "/openapi.json",
        "/slice",
    ] {
        assert!(paths.contains_key(path), "{path} in {:?}", paths.keys());
    }
    let row = &api["components"]["schemas"]["table.flights"];
    let properties: Vec<&str> = row["properties"]
        .as_object()
        .expect("properties")
        .keys()
        .map(String::as_str)
        .collect();
    for column in ["id", "origin", "dep_delay", "limit", "payload", "misc"] {
        assert!(properties.contains(&column), "{column} in {properties:?}");
    }
    assert_eq!(row["properties"]["origin"]["type"], "string");
    assert_eq!(
        row["properties"]["dep_delay"]["type"],
        json!(["number", "null"])
    );
    let params: Vec<&str> = paths["/tables/flights"]["get"]["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .map(|p| p["name"].as_str().expect("name"))
        .collect();
    for param in [
        "format",
        "select",
        "order",
        "limit",
        "after",
        "spool",
        "origin",
        "\"limit\"",
        "Prefer",
    ] {
        assert!(params.contains(&param), "{param} in {params:?}");
    }
    // Every format the server answers, as a media type of the export.
    let content = paths["/tables/flights"]["get"]["responses"]["200"]["content"]
        .as_object()
        .expect("content");
    for media in [
        "application/json",
        "application/x-ndjson",
        "text/csv",
        "application/vnd.apache.arrow.stream",
        "application/vnd.apache.parquet",
        "application/x-protobuf; delimited=true",
    ] {
        assert!(
            content.keys().any(|k| k.starts_with(media)),
            "{media} in {:?}",
            content.keys()
        );
    }
    // The message of protobuf exports.
    assert_eq!(
        paths["/tables/flights.proto"]["get"]["responses"]["200"]["content"]["text/plain"]["schema"]
            ["type"],
        "string"
    );
    let query = &paths["/queries/since"]["get"];
    assert_eq!(query["summary"], "flights after an id");
    assert!(
        query["parameters"]
            .as_array()
            .expect("parameters")
            .iter()
            .any(|p| p["name"] == "id"
                && p["required"] == true
                && p["schema"]["type"] == "integer")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_and_mariadb_schemas() {
    if let Some(scratch) = Scratch::postgres("rowstream_schema").await {
        let fixtures = scratch.pg_pool(1).await;
        sqlx::raw_sql(
            "CREATE TABLE t (id bigint PRIMARY KEY, amount numeric(12,2) NOT NULL, \
             at timestamptz, tags text[], doc jsonb, ok boolean NOT NULL, addr inet);
             CREATE VIEW v AS SELECT id, ok FROM t;",
        )
        .execute(&fixtures)
        .await
        .expect("fixtures");
        let db = Database::Postgres(
            db::open_postgres(scratch.pg_options(), &OpenOptions::default())
                .await
                .expect("open"),
        );
        let server = Server::start(db).await;
        let (status, t) = get_json(&server.url("/tables/t/schema")).await;
        assert_eq!(status, 200);
        assert_eq!(t["keyset"], true);
        assert_eq!(
            columns(&t),
            vec![
                col("id", "bigint", "integer", false, true),
                col("amount", "numeric", "string", false, false),
                col("at", "timestamp with time zone", "string", true, false),
                col("tags", "text[]", "array", true, false),
                col("doc", "jsonb", "any", true, false),
                col("ok", "boolean", "boolean", false, false),
                col("addr", "inet", "string", true, false),
            ]
        );
        let (_, v) = get_json(&server.url("/tables/v/schema")).await;
        assert_eq!(v["order"], json!([]));
        assert_eq!(
            columns(&v),
            vec![
                col("id", "bigint", "integer", true, false),
                col("ok", "boolean", "boolean", true, false),
            ]
        );
        server.stop().await;
    } else {
        assert!(!common::on_ci(), "PostgreSQL is needed in CI");
    }

    if let Some(scratch) = Scratch::mysql("rowstream_schema").await {
        let fixtures = scratch.mysql_pool(1).await;
        sqlx::raw_sql(
            "CREATE TABLE t (id INT PRIMARY KEY, amount DECIMAL(12,2) NOT NULL, \
             at DATETIME(6), doc JSON, name VARCHAR(20) NOT NULL, n DOUBLE)",
        )
        .execute(&fixtures)
        .await
        .expect("fixtures");
        let (pool, mariadb) = db::open_mysql(scratch.mysql_options(), &OpenOptions::default())
            .await
            .expect("open");
        let db = Database::MySql { pool, mariadb };
        let server = Server::start(db).await;
        let (status, t) = get_json(&server.url("/tables/t/schema")).await;
        assert_eq!(status, 200);
        assert_eq!(
            columns(&t),
            vec![
                col("id", "int", "integer", false, true),
                col("amount", "decimal", "string", false, false),
                col("at", "datetime", "string", true, false),
                col("doc", "longtext", "any", true, false),
                col("name", "varchar", "string", false, false),
                col("n", "double", "number", true, false),
            ]
        );
        server.stop().await;
    } else {
        assert!(!common::on_ci(), "MariaDB is needed in CI");
    }
}
