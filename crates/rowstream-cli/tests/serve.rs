//! The server end to end: catalog, hostile names, ordering, the demo database, read-only.

mod common;

use std::path::Path;
use std::time::Duration;

use common::Server;
use indicatif::ProgressBar;
use rowstream_cli::db::{self, demo_rows_in, seed_demo_with_progress};
use rowstream_cli::demo;
use serde_json::{Value, json};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const WEIRD: &str = r#"we"ird name, with "quotes""#;

/// A writable database with a rowid table, a quoted name, a WITHOUT ROWID table, a view
/// and a table whose column shadows `rowid`.
async fn fixture(dir: &Path) -> std::path::PathBuf {
    common::sqlite_file(
        dir.join("fixture.sqlite"),
        &[
            "CREATE TABLE t (a INTEGER, b TEXT)",
            "CREATE INDEX t_b ON t (b, a)",
            "INSERT INTO t (a, b) VALUES (1, 'z'), (2, 'y'), (3, 'x'), (4, NULL)",
            r#"CREATE TABLE "we""ird name, with ""quotes""" (v REAL)"#,
            r#"INSERT INTO "we""ird name, with ""quotes""" VALUES (1.5), (-0.25)"#,
            "CREATE TABLE kv (k TEXT PRIMARY KEY, v INTEGER) WITHOUT ROWID",
            "INSERT INTO kv VALUES ('b', 2), ('a', 1), ('c', 3)",
            "CREATE VIEW t_big AS SELECT a, b FROM t WHERE a >= 3",
            "CREATE TABLE shadow (rowid TEXT, v INTEGER)",
            "INSERT INTO shadow VALUES ('z', 1), ('a', 2)",
        ],
    )
    .await
}

async fn get_json(url: &str) -> (u16, String, Value) {
    let response = reqwest::get(url).await.expect("request");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = response.bytes().await.expect("body");
    let value = serde_json::from_slice(&body).unwrap_or_else(|err| {
        panic!(
            "{url}: invalid JSON ({err}): {}",
            String::from_utf8_lossy(&body)
        )
    });
    (status, content_type, value)
}

fn assert_not_found(url: &str, (status, content_type, body): (u16, String, Value)) {
    assert_eq!(status, 404, "{url}");
    assert_eq!(content_type, "application/problem+json", "{url}");
    assert_eq!(body["status"], 404, "{url}");
    assert_eq!(body["title"], "No such table", "{url}");
}

/// Sends a raw HTTP/1.1 request line (no URL normalisation on the way) and returns the
/// status and body.
async fn raw_get(server: &Server, target: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    let request = format!("GET {target} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("write request");
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .await
        .expect("read response");
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad response: {response}"));
    (status, response)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_tables_and_health() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pool = db::open_readonly_path(&fixture(dir.path()).await)
        .await
        .expect("open");
    let server = Server::start(pool).await;

    let (status, content_type, tables) = get_json(&server.url("/tables")).await;
    assert_eq!(status, 200);
    assert_eq!(content_type, "application/json");
    assert_eq!(tables, json!(["kv", "shadow", "t", "t_big", WEIRD]));

    let health = reqwest::get(server.url("/healthz")).await.expect("healthz");
    assert_eq!(health.status(), 200);
    assert_eq!(health.text().await.expect("body"), "ok");

    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_are_quoted_and_ordered() {
    let dir = tempfile::tempdir().expect("tempdir");
    // SQLite returns the rows of any SELECT without ORDER BY backwards on this pool, so
    // a missing or wrong ORDER BY shows in what the pool reads (keyset pages). Tables
    // read in one query come from the file on a connection of their own, without the
    // pragma; their ORDER BY is checked by the catalog's plan tests.
    let pool = SqlitePool::connect_with(
        SqliteConnectOptions::new()
            .filename(fixture(dir.path()).await)
            .read_only(true)
            .pragma("reverse_unordered_selects", "ON"),
    )
    .await
    .expect("open");
    let server = Server::start(pool).await;

    // Rowid order.
    let (status, content_type, rows) = get_json(&server.url("/tables/t")).await;
    assert_eq!((status, content_type.as_str()), (200, "application/json"));
    assert_eq!(
        rows,
        json!([{"a": 1, "b": "z"}, {"a": 2, "b": "y"}, {"a": 3, "b": "x"}, {"a": 4, "b": null}])
    );

    // A name with quotes, commas and spaces, percent-encoded in the URL.
    let url = reqwest::Url::parse(&server.url("/tables/"))
        .and_then(|base| base.join(&WEIRD.replace('"', "%22").replace(' ', "%20")))
        .expect("url");
    let (status, _, rows) = get_json(url.as_str()).await;
    assert_eq!(status, 200, "{url}");
    assert_eq!(rows, json!([{"v": 1.5}, {"v": -0.25}]));

    // WITHOUT ROWID: primary key order.
    let (_, _, rows) = get_json(&server.url("/tables/kv")).await;
    assert_eq!(
        rows,
        json!([{"k": "a", "v": 1}, {"k": "b", "v": 2}, {"k": "c", "v": 3}])
    );

    // A column named `rowid` does not change the order: the real rowid does.
    let (_, _, rows) = get_json(&server.url("/tables/shadow")).await;
    assert_eq!(
        rows,
        json!([{"rowid": "z", "v": 1}, {"rowid": "a", "v": 2}])
    );

    // A view: no ORDER BY of its own, so its rows come in no promised order.
    let (_, _, rows) = get_json(&server.url("/tables/t_big")).await;
    let mut rows = rows.as_array().expect("an array").clone();
    rows.sort_by_key(|row| row["a"].as_i64());
    assert_eq!(
        rows,
        [json!({"a": 3, "b": "x"}), json!({"a": 4, "b": null})]
    );

    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_and_hostile_names_are_not_found() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = fixture(dir.path()).await;
    let pool = db::open_readonly_path(&path).await.expect("open");
    let server = Server::start(pool).await;

    let long = "a".repeat(10 * 1024);
    let hostile = [
        "nope",
        "T", // the catalog match is exact, not case-insensitive
        "t ",
        "t\"",
        "x\"; DROP TABLE t; --",
        "t\" UNION SELECT name, sql FROM sqlite_schema --",
        "sqlite_schema",
        "sqlite_master",
        "main.t",
        long.as_str(),
    ];
    for name in hostile {
        let mut url = reqwest::Url::parse(&server.url("/tables/x")).expect("url");
        url.path_segments_mut().expect("base").pop().push(name);
        assert_not_found(url.as_str(), get_json(url.as_str()).await);
    }

    // `..` sent as is (a client would normalise it away) and percent-encoded.
    for target in ["/tables/..", "/tables/%2E%2E", "/tables/%2e%2e%2ft"] {
        let (status, response) = raw_get(&server, target).await;
        assert_eq!(status, 404, "{target}: {response}");
        assert!(
            response.contains("application/problem+json"),
            "{target}: {response}"
        );
    }

    // Everything is still there.
    let (status, _, rows) = get_json(&server.url("/tables/t")).await;
    assert_eq!(status, 200);
    assert_eq!(rows.as_array().map(Vec::len), Some(4));
    let (_, _, tables) = get_json(&server.url("/tables")).await;
    assert_eq!(tables, json!(["kv", "shadow", "t", "t_big", WEIRD]));

    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_database_is_served_exactly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("demo.sqlite");
    let seeded = seed_demo_with_progress(&path, 500, ProgressBar::hidden())
        .await
        .expect("seed");
    assert!(!seeded.reused);
    assert_eq!(seeded.rows, 500);

    let pool = db::open_readonly_path(&path).await.expect("open");
    let server = Server::start(pool).await;
    let (status, content_type, body) = get_json(&server.url("/tables/tickets")).await;
    assert_eq!((status, content_type.as_str()), (200, "application/json"));
    let served = body.as_array().expect("a JSON array");
    assert_eq!(served.len(), 500);
    for (row, ticket) in served.iter().zip(demo::tickets(500)) {
        let expected = serde_json::to_value(&ticket).expect("ticket serializes");
        assert_eq!(row, &expected, "ticket {}", ticket.id);
    }
    server.stop().await;
}

#[cfg(unix)]
fn identity(path: &Path) -> (u64, std::time::SystemTime) {
    use std::os::unix::fs::MetadataExt as _;
    let meta = std::fs::metadata(path).expect("metadata");
    (meta.ino(), meta.modified().expect("mtime"))
}

fn dir_entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_database_is_reused_or_reseeded() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A directory that does not exist yet.
    let path = dir.path().join("nested").join("demo.sqlite");

    let first = seed_demo_with_progress(&path, 50, ProgressBar::hidden())
        .await
        .expect("seed");
    assert!(!first.reused);
    let before = identity(&path);
    assert_eq!(demo_rows_in(&path).await, Some(50));

    let second = seed_demo_with_progress(&path, 50, ProgressBar::hidden())
        .await
        .expect("reuse");
    assert!(second.reused);
    assert_eq!(second.elapsed, Duration::ZERO);
    assert_eq!(identity(&path), before, "the file must not be rewritten");

    let third = seed_demo_with_progress(&path, 60, ProgressBar::hidden())
        .await
        .expect("reseed");
    assert!(!third.reused);
    assert_ne!(
        identity(&path).0,
        before.0,
        "a new file replaces the old one"
    );
    assert_eq!(demo_rows_in(&path).await, Some(60));
    let pool = db::open_readonly_path(&path).await.expect("open");
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM tickets")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(count, 60);
    pool.close().await;
    assert_eq!(dir_entries(path.parent().expect("dir")), ["demo.sqlite"]);

    // A file that is not a demo database is replaced.
    std::fs::write(&path, b"not a database").expect("write");
    assert_eq!(demo_rows_in(&path).await, None);
    let fourth = seed_demo_with_progress(&path, 60, ProgressBar::hidden())
        .await
        .expect("reseed over garbage");
    assert!(!fourth.reused);
    assert_eq!(demo_rows_in(&path).await, Some(60));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_seed_leaves_no_partial_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("demo.sqlite");

    // Nothing there yet: an interrupted seed leaves nothing at all.
    let cancelled = tokio::time::timeout(
        Duration::from_millis(200),
        seed_demo_with_progress(&path, 5_000_000, ProgressBar::hidden()),
    )
    .await;
    assert!(cancelled.is_err(), "the seed should still be running");
    assert!(!path.exists());
    assert_eq!(dir_entries(dir.path()), Vec::<String>::new());

    // A good database stays as it was when a reseed is interrupted.
    seed_demo_with_progress(&path, 20, ProgressBar::hidden())
        .await
        .expect("seed");
    let cancelled = tokio::time::timeout(
        Duration::from_millis(200),
        seed_demo_with_progress(&path, 5_000_000, ProgressBar::hidden()),
    )
    .await;
    assert!(cancelled.is_err(), "the seed should still be running");
    assert_eq!(demo_rows_in(&path).await, Some(20));
    assert_eq!(dir_entries(dir.path()), ["demo.sqlite"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn served_pool_is_read_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = fixture(dir.path()).await;
    let url = format!("sqlite://{}", path.display());
    for pool in [
        db::open_readonly_path(&path).await.expect("open path"),
        db::open_readonly(&url).await.expect("open url"),
        // Asking for read-write-create in the URL does not make it writable.
        db::open_readonly(&format!("{url}?mode=rwc"))
            .await
            .expect("open rwc url"),
    ] {
        for sql in [
            "INSERT INTO t (a, b) VALUES (9, 'w')",
            "DELETE FROM t",
            "DROP TABLE t",
            "CREATE TABLE u (a)",
        ] {
            let err = sqlx::query(sql)
                .execute(&pool)
                .await
                .expect_err("a read-only pool must not write");
            assert!(
                err.to_string().contains("readonly"),
                "{sql}: unexpected error {err}"
            );
        }
        let count: i64 = sqlx::query_scalar("SELECT count(*) FROM t")
            .fetch_one(&pool)
            .await
            .expect("count");
        assert_eq!(count, 4);
        pool.close().await;
    }

    // Opening never creates a database.
    let missing = dir.path().join("missing.sqlite");
    assert!(db::open_readonly_path(&missing).await.is_err());
    let rwc = format!("sqlite://{}?mode=rwc", missing.display());
    assert!(db::open_readonly(&rwc).await.is_err());
    assert!(!missing.exists());
    assert!(db::open_readonly("postgres://localhost/db").await.is_err());
}

/// Reads a whole raw response: the head (status line and headers, lower-cased names) and
/// the body bytes up to the close of the connection.
async fn raw_exchange(server: &Server, request: &str) -> (String, Vec<(String, String)>, Vec<u8>) {
    let mut stream = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("write request");
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut response))
        .await
        .expect("the server must close the connection")
        .expect("read response");
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of head");
    let head = String::from_utf8(response[..split].to_vec()).expect("ASCII head");
    let body = response[split + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().expect("status line").to_owned();
    let headers = lines
        .map(|line| {
            let (name, value) = line.split_once(':').expect("header line");
            (name.to_ascii_lowercase(), value.trim().to_owned())
        })
        .collect();
    (status_line, headers, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_1_0_gets_a_close_delimited_body() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = fixture(dir.path()).await;
    // 20,000 rows: about 500 KB of JSON, many chunks.
    {
        let pool = SqlitePool::connect_with(SqliteConnectOptions::new().filename(&path))
            .await
            .expect("open writable");
        sqlx::query(
            "CREATE TABLE big AS WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n \
             WHERE i < 20000) SELECT i, 'row ' || i || ' ' || hex(randomblob(4)) AS label FROM n",
        )
        .execute(&pool)
        .await
        .expect("create big");
        pool.close().await;
    }
    let server = Server::start(db::open_readonly_path(&path).await.expect("open")).await;

    for (target, format) in [
        ("/tables/big", "json"),
        ("/tables/big?format=ndjson&complete=true", "ndjson"),
        ("/tables/big?format=csv", "csv"),
    ] {
        let (status_line, headers, body) = raw_exchange(
            &server,
            &format!("GET {target} HTTP/1.0\r\nHost: test\r\n\r\n"),
        )
        .await;
        assert!(status_line.ends_with(" 200 OK"), "{target}: {status_line}");
        let header = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        // No chunked coding for an HTTP/1.0 client and no length known in advance: the
        // body ends when the server closes the connection (RFC 9112 §6.3).
        assert_eq!(header("transfer-encoding"), None, "{target}: {headers:?}");
        assert_eq!(header("content-length"), None, "{target}: {headers:?}");
        assert_ne!(header("connection"), Some("keep-alive"), "{target}");

        let text = String::from_utf8(body).expect("UTF-8 body");
        match format {
            "json" => {
                let rows: Vec<Value> = serde_json::from_str(&text).expect("JSON array");
                assert_eq!(rows.len(), 20_000);
                assert_eq!(rows[0]["i"], 1);
                assert_eq!(rows[19_999]["i"], 20_000);
            }
            "ndjson" => {
                let lines: Vec<Value> = text
                    .lines()
                    .map(|l| serde_json::from_str(l).expect("NDJSON line"))
                    .collect();
                assert_eq!(lines.len(), 20_001, "rows and the completion record");
                assert_eq!(lines[19_999]["i"], 20_000);
                assert_eq!(lines[20_000]["$rowstream"]["rows"], 20_000);
            }
            _ => {
                let mut reader = csv::Reader::from_reader(text.as_bytes());
                let records: Vec<csv::StringRecord> =
                    reader.records().map(|r| r.expect("CSV record")).collect();
                assert_eq!(reader.headers().expect("header"), vec!["i", "label"]);
                assert_eq!(records.len(), 20_000);
                assert_eq!(&records[19_999][0], "20000");
            }
        }
    }

    // The same request over HTTP/1.1 is chunked: the difference is the client's version.
    let (status_line, headers, _) = raw_exchange(
        &server,
        "GET /tables/big HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(status_line.starts_with("HTTP/1.1 200"), "{status_line}");
    assert!(
        headers
            .iter()
            .any(|(n, v)| n == "transfer-encoding" && v == "chunked"),
        "{headers:?}"
    );

    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_page_links_every_table_and_query_escaped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("index.sqlite");
    let pool = SqlitePool::connect_with(
        SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true),
    )
    .await
    .expect("create");
    for sql in [
        r#"CREATE TABLE "a<b&c""d" (v INTEGER)"#,
        r#"INSERT INTO "a<b&c""d" VALUES (7)"#,
        r#"CREATE TABLE "<script>alert('x')</script>" (v INTEGER)"#,
        "CREATE TABLE plain (id INTEGER PRIMARY KEY, name TEXT)",
        "INSERT INTO plain VALUES (1, 'one')",
    ] {
        sqlx::query(sql).execute(&pool).await.expect(sql);
    }
    pool.close().await;
    let config = rowstream_cli::config::ConfigFile::parse(
        "[queries.everything]\nsql = \"SELECT * FROM plain\"\ndescription = \"All <b>plain</b> & more\"\n\
         [queries.by_id]\nsql = \"SELECT * FROM plain WHERE id = ?\"\nparams = [{ name = \"id\", type = \"int\" }]\n",
    )
    .expect("config");
    let pool = db::open_readonly_path(&path).await.expect("open");
    let settings = rowstream_cli::Settings {
        queries: config.queries,
        ..rowstream_cli::Settings::default()
    };
    let server = Server::start_app(rowstream_cli::router_with(pool, settings)).await;

    let response = reqwest::get(server.url("/")).await.expect("index");
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(
        headers["content-security-policy"]
            .to_str()
            .unwrap()
            .starts_with("default-src 'none'")
    );
    let page = response.text().await.expect("body");
    assert!(page.starts_with("<!doctype html>"), "{page}");
    assert!(
        !page.contains("<script"),
        "no script, and names are escaped: {page}"
    );
    assert!(
        page.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"),
        "{page}"
    );
    assert!(page.contains("<td>a&lt;b&amp;c&quot;d</td>"), "{page}");
    assert!(!page.contains("a<b"), "{page}");
    assert!(
        page.contains("rows (not counted)"),
        "SQLite keeps no counts: {page}"
    );
    assert!(
        page.contains("All &lt;b&gt;plain&lt;/b&gt; &amp; more"),
        "{page}"
    );
    assert!(
        page.contains(r#"<form method="get" action="queries/by_id">"#),
        "{page}"
    );

    // Every link works, from the page's own address, and gives that format.
    let hrefs: Vec<String> = page
        .split("href=\"")
        .skip(1)
        .map(|rest| rest[..rest.find('"').expect("closing quote")].replace("&amp;", "&"))
        .collect();
    let base = reqwest::Url::parse(&server.url("/")).expect("url");
    for (table, encoded) in [
        ("a<b&c\"d", "a%3Cb%26c%22d"),
        ("plain", "plain"),
        (
            "<script>alert('x')</script>",
            "%3Cscript%3Ealert%28%27x%27%29%3C%2Fscript%3E",
        ),
    ] {
        for format in ["json", "ndjson", "jsonseq", "csv", "msgpack"] {
            let href = format!("tables/{encoded}?format={format}");
            assert!(hrefs.contains(&href), "{table}: {href} not in {hrefs:?}");
        }
    }
    for format in ["json", "ndjson", "jsonseq", "csv", "msgpack"] {
        assert!(hrefs.contains(&format!("queries/everything?format={format}")));
    }
    let expected_types = [
        ("json", "application/json"),
        ("ndjson", "application/x-ndjson"),
        ("jsonseq", "application/json-seq"),
        ("csv", "text/csv"),
        ("msgpack", "application/vnd.msgpack"),
    ];
    for href in &hrefs {
        let url = base.join(href).expect("relative link");
        let response = reqwest::get(url.clone()).await.expect("link");
        assert_eq!(response.status(), 200, "{url}");
        if let Some((_, content_type)) = expected_types
            .iter()
            .find(|(format, _)| href.ends_with(&format!("format={format}")))
        {
            let got = response.headers()["content-type"]
                .to_str()
                .unwrap()
                .to_owned();
            assert!(got.starts_with(content_type), "{url}: {got}");
        }
    }
    let url = base.join("tables/a%3Cb%26c%22d?format=csv").expect("url");
    let body = reqwest::get(url)
        .await
        .expect("csv")
        .text()
        .await
        .expect("body");
    assert_eq!(body, "v\r\n7\r\n");
    // The form's action with its inputs.
    let url = base.join("queries/by_id?id=1&format=ndjson").expect("url");
    let body = reqwest::get(url)
        .await
        .expect("form")
        .text()
        .await
        .expect("body");
    assert_eq!(body, "{\"id\":1,\"name\":\"one\"}\n");
    server.stop().await;
}
