//! The value policies through the real `rowstream serve`: the server's `--non-finite`,
//! `--big-integers` and `--formula-guard`, the request parameters of the same names over
//! them, and `complete=true` where a format has no completion record.

mod common;

use std::path::Path;

use common::binary::Binary;
use serde_json::{Value, json};

/// A table with ±Infinity, a big integer and text a spreadsheet would run.
async fn cells(dir: &Path) -> String {
    let path = common::sqlite_file(
        dir.join("cells.sqlite"),
        &[
            "CREATE TABLE cells (id INTEGER PRIMARY KEY, r REAL, big INTEGER, t TEXT)",
            "INSERT INTO cells VALUES (1, 9e999, 9223372036854775807, '=HYPERLINK(\"x\")'), \
             (2, -9e999, 42, '@SUM(A1)'), (3, 1.5, NULL, '+1')",
        ],
    )
    .await;
    format!("sqlite://{}", path.display())
}

async fn get(url: &str) -> (u16, String, Vec<u8>) {
    let response = reqwest::get(url).await.expect("request");
    let status = response.status().as_u16();
    let content_type = response.headers()["content-type"]
        .to_str()
        .expect("ASCII")
        .to_owned();
    (
        status,
        content_type,
        response.bytes().await.expect("body").to_vec(),
    )
}

async fn json(url: &str) -> Value {
    let (status, _, body) = get(url).await;
    assert_eq!(status, 200, "{url}: {}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).expect("JSON")
}

async fn text(url: &str) -> String {
    let (status, _, body) = get(url).await;
    assert_eq!(status, 200, "{url}");
    String::from_utf8(body).expect("UTF-8")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defaults_and_request_parameters() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = cells(dir.path()).await;
    let server = Binary::serve(&["--bind", "127.0.0.1:0", "--db", &db], &[]);
    let table = format!("{}/tables/cells", server.base);

    // Defaults: null in JSON, exact digits, CSV as it is, ±Infinity native in CSV.
    assert_eq!(
        json(&table).await,
        json!([
            {"id": 1, "r": null, "big": 9223372036854775807_i64, "t": "=HYPERLINK(\"x\")"},
            {"id": 2, "r": null, "big": 42, "t": "@SUM(A1)"},
            {"id": 3, "r": 1.5, "big": null, "t": "+1"},
        ])
    );
    assert_eq!(
        text(&format!("{table}?format=csv")).await,
        "id,r,big,t\r\n1,Infinity,9223372036854775807,\"=HYPERLINK(\"\"x\"\")\"\r\n\
         2,-Infinity,42,@SUM(A1)\r\n3,1.5,,+1\r\n"
    );

    // A request chooses for itself.
    let lines = text(&format!(
        "{table}?format=ndjson&non_finite=string&big_integers=string"
    ))
    .await;
    let rows: Vec<Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(rows[0]["r"], "Infinity");
    assert_eq!(rows[1]["r"], "-Infinity");
    assert_eq!(rows[0]["big"], "9223372036854775807");
    assert_eq!(rows[1]["big"], 42, "small integers stay numbers");
    assert_eq!(
        text(&format!("{table}?format=csv&formula_guard=true")).await,
        "id,r,big,t\r\n1,Infinity,9223372036854775807,\"'=HYPERLINK(\"\"x\"\")\"\r\n\
         2,-Infinity,42,'@SUM(A1)\r\n3,1.5,,'+1\r\n"
    );

    // `error`: the export fails before its first byte, naming the column.
    let (status, content_type, body) = get(&format!("{table}?non_finite=error")).await;
    let body: Value = serde_json::from_slice(&body).expect("problem+json");
    assert_eq!(
        (status, content_type.as_str()),
        (500, "application/problem+json")
    );
    let detail = body["detail"].as_str().expect("a detail");
    assert!(
        detail.contains("non-finite float Infinity in field r"),
        "{detail}"
    );

    // Values a parameter does not take, and `complete` where there is no record.
    for (query, parameter, name) in [
        (
            "non_finite=NaN",
            "non_finite must be null, string or error",
            "non_finite",
        ),
        (
            "non_finite=",
            "non_finite must be null, string or error",
            "non_finite",
        ),
        (
            "big_integers=yes",
            "big_integers must be number or string",
            "big_integers",
        ),
        (
            "formula_guard=on",
            "formula_guard must be true or false",
            "formula_guard",
        ),
        (
            "formula_guard=",
            "formula_guard must be true or false",
            "formula_guard",
        ),
        (
            "formula_guard=1",
            "formula_guard must be true or false",
            "formula_guard",
        ),
        (
            "format=ndjson&complete=yes",
            "complete must be true or false",
            "complete",
        ),
        (
            "format=json&complete=true",
            "complete=true is for ndjson, jsonseq and csv",
            "complete",
        ),
        (
            "format=msgpack&complete=true",
            "a failed MessagePack export is cut",
            "complete",
        ),
        (
            "format=arrow&complete=true",
            "end-of-stream marker only on success",
            "complete",
        ),
        (
            "format=parquet&complete=true",
            "footer only on success",
            "complete",
        ),
        (
            "format=protobuf&complete=true",
            "ends with a cut message",
            "complete",
        ),
        ("limit=2&limit=3", "given more than once", "limit"),
        (
            "non_finite=null&non_finite=string",
            "given more than once",
            "non_finite",
        ),
        ("format=csv&format=json", "given more than once", "format"),
    ] {
        let (status, content_type, body) = get(&format!("{table}?{query}")).await;
        let body: Value = serde_json::from_slice(&body).expect("problem+json");
        assert_eq!(
            (status, content_type.as_str()),
            (400, "application/problem+json"),
            "{query}"
        );
        let detail = body["detail"].as_str().expect("a detail");
        assert!(detail.contains(parameter), "{query}: {detail}");
        assert_eq!(body["parameter"], name, "{query}: {body}");
    }
    let (status, _, _) = get(&format!("{table}?format=json&complete=false")).await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_flags_set_the_defaults() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = cells(dir.path()).await;
    let server = Binary::serve(
        &[
            "--bind",
            "127.0.0.1:0",
            "--db",
            &db,
            "--non-finite",
            "string",
            "--big-integers",
            "string",
            "--formula-guard",
            "true",
        ],
        &[],
    );
    let table = format!("{}/tables/cells", server.base);
    let rows = json(&table).await;
    assert_eq!(rows[0]["r"], "Infinity");
    assert_eq!(rows[0]["big"], "9223372036854775807");
    assert!(
        text(&format!("{table}?format=csv"))
            .await
            .contains("'@SUM(A1)")
    );
    // A request may still say otherwise.
    let rows = json(&format!("{table}?non_finite=null&big_integers=number")).await;
    assert_eq!(rows[0]["r"], Value::Null);
    assert_eq!(rows[0]["big"], 9223372036854775807_i64);
    assert!(
        text(&format!("{table}?format=csv&formula_guard=false"))
            .await
            .contains("\n2,-Infinity,42,@SUM(A1)\r\n")
    );

    // A value the flag does not take stops the server at start (clap's usage error).
    let out = common::binary::command(&["serve", "--db", &db, "--non-finite", "nan"])
        .output()
        .expect("run rowstream");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--non-finite"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_takes_the_same_flags() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = cells(dir.path()).await;
    let out = export_stdout(&[
        "export",
        "--db",
        &db,
        "--table",
        "cells",
        "--format",
        "csv",
        "--formula-guard",
        "true",
    ]);
    assert_eq!(
        out,
        "id,r,big,t\r\n1,Infinity,9223372036854775807,\"'=HYPERLINK(\"\"x\"\")\"\r\n\
         2,-Infinity,42,'@SUM(A1)\r\n3,1.5,,'+1\r\n"
    );
    let out = export_stdout(&[
        "export",
        "--db",
        &db,
        "--table",
        "cells",
        "--format",
        "ndjson",
        "--non-finite",
        "string",
        "--big-integers",
        "string",
    ]);
    let first: Value = serde_json::from_str(out.lines().next().expect("a line")).expect("JSON");
    assert_eq!(
        first,
        json!({"id": 1, "r": "Infinity", "big": "9223372036854775807", "t": "=HYPERLINK(\"x\")"})
    );
}

/// `rowstream ARGS…`'s stdout, once it has exited successfully.
fn export_stdout(args: &[&str]) -> String {
    let out = common::binary::command(args)
        .output()
        .expect("run rowstream export");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}
