//! Hostile requests against the real server on the demo database (and PostgreSQL where
//! the database matters): odd table names, SQL in parameters, oversized headers, range and
//! conditional headers, unknown routes and methods, and hundreds of slow-loris
//! connections. Each gets a clear 4xx or is ignored safely: never a 5xx, a hang, or SQL
//! built from the request.

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::Server;
use common::sql::Scratch;
use indicatif::ProgressBar;
use rowstream_cli::config::ConfigFile;
use rowstream_cli::db::{self, seed_demo_with_progress};
use rowstream_cli::server::ServeOptions;
use rowstream_cli::{Database, Settings, demo, router_with};
use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// Tickets in the demo database of these tests.
const ROWS: u64 = 300;

const CONFIG: &str = r#"
[queries.by_status]
description = "Tickets with a status and at least a priority"
sql = "SELECT id, status, priority FROM tickets WHERE status = ? AND priority >= ? ORDER BY id"
params = [
  { name = "status", type = "text" },
  { name = "min_priority", type = "int" },
]
"#;

/// A served demo database.
struct Demo {
    server: Server,
    path: PathBuf,
    _dir: tempfile::TempDir,
}

async fn demo_server(options: ServeOptions) -> Demo {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("demo.sqlite");
    seed_demo_with_progress(&path, ROWS, ProgressBar::hidden())
        .await
        .expect("seed");
    let pool = db::open_readonly_path(&path).await.expect("open");
    let settings = Settings {
        queries: ConfigFile::parse(CONFIG).expect("config").queries,
        ..Settings::default()
    };
    let server = Server::start_with(router_with(pool, settings), options).await;
    Demo {
        server,
        path,
        _dir: dir,
    }
}

/// A response read off the wire.
#[derive(Debug)]
struct Raw {
    status: u16,
    /// The status line and headers, header names lowercased.
    head: String,
    body: Vec<u8>,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|err| {
            panic!(
                "invalid JSON ({err}): {}\n{}",
                self.head,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// A `404`/`400`… problem+json with this title.
    fn assert_problem(&self, status: u16, title: &str, what: &str) {
        assert_eq!(self.status, status, "{what}: {}", self.head);
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{what}"
        );
        let body = self.json();
        assert_eq!(body["status"], status, "{what}: {body}");
        assert_eq!(body["title"], title, "{what}: {body}");
    }
}

/// Sends `request` as is (no normalisation by a client library) and reads the response
/// until the server closes the connection; fails after 10 s. A write the server cut short
/// (it answered and closed before reading everything) is not an error.
async fn raw(server: &Server, request: &[u8]) -> Raw {
    let exchange = async {
        let mut stream = TcpStream::connect(server.addr).await.expect("connect");
        let _ = stream.write_all(request).await;
        let mut response = Vec::new();
        let mut buf = [0_u8; 16 * 1024];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => response.extend_from_slice(&buf[..n]),
                // A reset after the answer (unread request bytes) still leaves the answer.
                Err(err) if !response.is_empty() => {
                    eprintln!("read ended with {err} after the response");
                    break;
                }
                Err(err) => panic!("no response: {err}"),
            }
        }
        response
    };
    let response = tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .expect("the server must answer within 10 s");
    parse(&response)
}

fn parse(response: &[u8]) -> Raw {
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end: {}", String::from_utf8_lossy(response)));
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line: {head}"));
    let mut body = response[split + 4..].to_vec();
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase()
            .replace(' ', "")
            .starts_with("transfer-encoding:chunked")
    });
    if chunked {
        body = dechunk(&body);
    }
    Raw { status, head, body }
}

fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = body
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("chunk size line");
        let size_text = String::from_utf8_lossy(&body[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .expect("chunk size");
        body = &body[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&body[..size]);
        body = &body[size + 2..];
    }
}

/// `GET target` with `Connection: close` and extra header lines.
fn get_request(target: &str, headers: &str) -> Vec<u8> {
    format!("GET {target} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n{headers}\r\n")
        .into_bytes()
}

/// Every ticket is still there, unchanged: nothing was written.
async fn assert_demo_intact(demo: &Demo) {
    let response = raw(&demo.server, &get_request("/tables/tickets", "")).await;
    assert_eq!(response.status, 200);
    let rows = response.json();
    assert_eq!(rows.as_array().map(Vec::len), Some(ROWS as usize));
    let pool = db::open_readonly_path(&demo.path).await.expect("open");
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM tickets")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(count, ROWS as i64);
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_schema WHERE type = 'table'")
            .fetch_all(&pool)
            .await
            .expect("tables");
    assert_eq!(tables, ["tickets"]);
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_table_and_query_names_are_not_found() {
    let demo = demo_server(ServeOptions::default()).await;
    let long = "a".repeat(10 * 1024);
    let long_target = format!("/tables/{long}");
    let targets = [
        "/tables/nope",
        "/tables/TICKETS",
        "/tables/tickets%20",
        "/tables/tickets%22",
        "/tables/%22tickets%22",
        "/tables/tickets'",
        "/tables/tickets%27%20OR%20%271%27=%271",
        "/tables/tickets;",
        "/tables/tickets%3B%20DROP%20TABLE%20tickets%3B--",
        "/tables/tickets%22%3B%20DROP%20TABLE%20tickets%3B--",
        "/tables/..",
        "/tables/%2E%2E",
        "/tables/..%2Ftickets",
        "/tables/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/tables/tickets%00",
        "/tables/%00",
        "/tables/tickets%00.json",
        "/tables/%ZZ",
        "/tables/main.tickets",
        "/tables/sqlite_schema",
        "/tables/sqlite_master",
        long_target.as_str(),
    ];
    for target in targets {
        let response = raw(&demo.server, &get_request(target, "")).await;
        response.assert_problem(404, "No such table", target);
        // HEAD answers the same status, without a body.
        let head = raw(
            &demo.server,
            format!("HEAD {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await;
        assert_eq!(head.status, 404, "HEAD {target}");
    }
    let query_targets = [
        "/queries/nope",
        "/queries/by_status%22",
        "/queries/by_status;%20DROP%20TABLE%20tickets",
        "/queries/..",
        "/queries/%00",
        "/queries/BY_STATUS",
    ];
    for target in query_targets {
        let response = raw(&demo.server, &get_request(target, "")).await;
        response.assert_problem(404, "No such query", target);
    }
    // A name that is not UTF-8 is refused before any lookup.
    let response = raw(&demo.server, &get_request("/tables/%FF", "")).await;
    response.assert_problem(400, "Invalid table name", "%FF");
    let response = raw(&demo.server, &get_request("/queries/%C3%28", "")).await;
    response.assert_problem(400, "Invalid query name", "%C3%28");

    // Paths no route matches: 404 problem+json, as every other error.
    for target in [
        "/tables/tickets/extra",
        "/tables/a/../tickets",
        "/tables/",
        "/nope",
        "/..%2F..%2Fetc%2Fpasswd",
    ] {
        let response = raw(&demo.server, &get_request(target, "")).await;
        response.assert_problem(404, "Not found", target);
    }
    // A request line past the header limit: 414 or 431, never a lookup.
    let huge = format!("/tables/{}", "a".repeat(64 * 1024));
    let response = raw(&demo.server, &get_request(&huge, "")).await;
    assert!(
        matches!(response.status, 414 | 431),
        "64 KiB name: {}",
        response.head
    );

    assert_demo_intact(&demo).await;
    demo.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_and_unknown_methods_are_refused() {
    let demo = demo_server(ServeOptions::default()).await;
    for (method, target) in [
        ("POST", "/tables/tickets"),
        ("PUT", "/tables/tickets"),
        ("DELETE", "/tables/tickets"),
        ("PATCH", "/queries/by_status"),
        ("DELETE", "/tables"),
        ("POST", "/"),
        ("TRACE", "/healthz"),
    ] {
        let request = format!(
            "{method} {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: 18\r\n\r\nDROP TABLE tickets"
        );
        let response = raw(&demo.server, request.as_bytes()).await;
        response.assert_problem(405, "Method not allowed", &format!("{method} {target}"));
        let allow = response.header("allow").unwrap_or_default();
        assert!(allow.contains("GET"), "{method} {target}: Allow {allow:?}");
    }
    // Not HTTP at all.
    let response = raw(&demo.server, b"DROP TABLE tickets;\r\n\r\n").await;
    assert_eq!(response.status, 400, "{}", response.head);
    assert_demo_intact(&demo).await;
    demo.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_in_parameters_is_bound_as_a_value() {
    let demo = demo_server(ServeOptions::default()).await;
    let query = |pairs: &[(&str, &str)]| {
        let mut url = reqwest::Url::parse(&demo.server.url("/queries/by_status")).expect("url");
        url.query_pairs_mut().extend_pairs(pairs);
        url
    };
    let open_tickets = demo::tickets(ROWS)
        .filter(|t| t.status == "open" && t.priority >= 2)
        .count();
    assert!(open_tickets > 0);
    let response = reqwest::get(query(&[("status", "open"), ("min_priority", "2")]))
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    let rows: Vec<Value> =
        serde_json::from_slice(&response.bytes().await.expect("body")).expect("rows");
    assert_eq!(rows.len(), open_tickets);

    // Text that would change the statement were it pasted in: it is a status nothing has.
    for status in [
        "' OR '1'='1",
        "open' OR '1'='1",
        "open'; DROP TABLE tickets; --",
        "open\"; DROP TABLE tickets; --",
        "open' UNION SELECT name, sql, 1 FROM sqlite_schema --",
        "1; DROP TABLE x",
        "?",
        "%",
    ] {
        let response = reqwest::get(query(&[("status", status), ("min_priority", "0")]))
            .await
            .expect("request");
        assert_eq!(response.status(), 200, "{status}");
        let rows: Vec<Value> =
            serde_json::from_slice(&response.bytes().await.expect("body")).expect("rows");
        assert!(rows.is_empty(), "{status}: {rows:?}");
    }

    // Mistyped values: 400 naming the parameter, before anything runs.
    for min_priority in [
        "1; DROP TABLE x",
        "' OR '1'='1",
        "1 OR 1=1",
        "1.5",
        "0x10",
        "99999999999999999999",
        "",
        " 1",
    ] {
        let response = reqwest::get(query(&[("status", "open"), ("min_priority", min_priority)]))
            .await
            .expect("request");
        assert_eq!(response.status(), 400, "{min_priority:?}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let body: Value =
            serde_json::from_slice(&response.bytes().await.expect("body")).expect("problem");
        assert!(
            body["detail"]
                .as_str()
                .is_some_and(|d| d.contains("\"min_priority\" (int)")),
            "{min_priority:?}: {body}"
        );
    }
    for (pairs, needle) in [
        (
            &[("status", "open")][..],
            "missing parameter \"min_priority\"",
        ),
        (
            &[
                ("status", "open"),
                ("min_priority", "0"),
                ("min_priority", "1"),
            ][..],
            "\"min_priority\" is given more than once",
        ),
        (
            &[
                ("status", "open"),
                ("min_priority", "0"),
                ("sql", "DROP TABLE tickets"),
            ][..],
            "unknown parameter \"sql\"",
        ),
        (
            &[("status", "open\0"), ("min_priority", "0")][..],
            "\"status\" (text) must not contain NUL",
        ),
    ] {
        let response = reqwest::get(query(pairs)).await.expect("request");
        assert_eq!(response.status(), 400, "{pairs:?}");
        let body: Value =
            serde_json::from_slice(&response.bytes().await.expect("body")).expect("problem");
        assert!(
            body["detail"].as_str().is_some_and(|d| d.contains(needle)),
            "{pairs:?}: {body}"
        );
    }

    // Query strings that do not decode, and unknown formats.
    for (target, status) in [
        ("/queries/by_status?status=%FF&min_priority=0", 400),
        (
            "/queries/by_status?status=open&min_priority=0&complete=maybe",
            400,
        ),
        (
            "/queries/by_status?status=open&min_priority=0&format=..%2F..%2Fetc%2Fpasswd",
            406,
        ),
        ("/tables/tickets?format=%00", 406),
        ("/tables/tickets?complete=%FF", 400),
    ] {
        let response = raw(&demo.server, &get_request(target, "")).await;
        assert_eq!(response.status, status, "{target}: {}", response.head);
        assert_eq!(
            response.header("content-type"),
            Some("application/problem+json"),
            "{target}"
        );
    }
    assert_demo_intact(&demo).await;
    demo.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_parameters_are_bound_as_values() {
    let Some(scratch) = Scratch::postgres("rowstream_hostile").await else {
        return;
    };
    sqlx::raw_sql(
        "CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, n int NOT NULL); \
         INSERT INTO items VALUES (1, 'a', 1), (2, 'b', 2), (3, 'a', 3)",
    )
    .execute(&scratch.pg_pool(1).await)
    .await
    .expect("fixture");
    let pool = db::open_postgres(scratch.pg_options(), &db::OpenOptions::default())
        .await
        .expect("open");
    let config = ConfigFile::parse(
        "[queries.named]\nsql = \"SELECT id FROM items WHERE name = $1 AND n >= $2 ORDER BY id\"\n\
         params = [{ name = \"name\", type = \"text\" }, { name = \"min\", type = \"int\" }]\n",
    )
    .expect("config");
    let settings = Settings {
        queries: config.queries,
        ..Settings::default()
    };
    let server = Server::start_app(router_with(Database::Postgres(pool.clone()), settings)).await;
    let get = async |pairs: &[(&str, &str)]| {
        let mut url = reqwest::Url::parse(&server.url("/queries/named")).expect("url");
        url.query_pairs_mut().extend_pairs(pairs);
        let response = reqwest::get(url).await.expect("request");
        let status = response.status().as_u16();
        let body: Value =
            serde_json::from_slice(&response.bytes().await.expect("body")).expect("JSON");
        (status, body)
    };
    assert_eq!(
        get(&[("name", "a"), ("min", "0")]).await,
        (200, serde_json::json!([{"id": 1}, {"id": 3}]))
    );
    for name in [
        "' OR '1'='1",
        "a' OR '1'='1",
        "a'; DROP TABLE items; --",
        "$1",
        "a\\",
    ] {
        assert_eq!(
            get(&[("name", name), ("min", "0")]).await,
            (200, serde_json::json!([])),
            "{name}"
        );
    }
    for min in ["1; DROP TABLE items", "' OR '1'='1", "1e3"] {
        let (status, body) = get(&[("name", "a"), ("min", min)]).await;
        assert_eq!(status, 400, "{min}: {body}");
    }
    // PostgreSQL refuses NUL in text: the server says so with a 400, not a database error.
    let (status, body) = get(&[("name", "a\0"), ("min", "0")]).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["detail"].as_str().is_some_and(|d| d.contains("NUL")),
        "{body}"
    );
    // And table names with NUL or quotes are simply not there.
    for target in [
        "/tables/items%00",
        "/tables/items%22",
        "/tables/%22items%22",
    ] {
        let response = raw(&server, &get_request(target, "")).await;
        response.assert_problem(404, "No such table", target);
    }
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM items")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(count, 3);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_and_numerous_headers_get_431() {
    let demo = demo_server(ServeOptions::default()).await;
    // A header a proxy might send: served.
    let header = format!("X-Padding: {}\r\n", "a".repeat(8 * 1024));
    let response = raw(&demo.server, &get_request("/tables/tickets", &header)).await;
    assert_eq!(response.status, 200);

    for size in [40 * 1024, 100 * 1024, 1024 * 1024] {
        let header = format!("X-Padding: {}\r\n", "a".repeat(size));
        let response = raw(&demo.server, &get_request("/tables/tickets", &header)).await;
        assert_eq!(response.status, 431, "{size} bytes: {}", response.head);
    }
    let many: String = (0..200).map(|i| format!("X-H{i}: v\r\n")).collect();
    let response = raw(&demo.server, &get_request("/tables/tickets", &many)).await;
    assert_eq!(response.status, 431, "200 headers: {}", response.head);

    assert_demo_intact(&demo).await;
    demo.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ranges_are_served_from_the_spool_and_conditionals_on_streams_ignored() {
    let demo = demo_server(ServeOptions::default()).await;
    for target in [
        "/tables/tickets?format=csv",
        "/queries/by_status?status=open&min_priority=0&format=ndjson",
    ] {
        let full = raw(&demo.server, &get_request(target, "")).await;
        assert_eq!(full.status, 200);
        let len = full.body.len();
        assert!(len > 1000, "{target}");
        // A stream ignores conditional headers: it has no validator to compare.
        for headers in [
            "If-None-Match: *\r\n",
            "If-None-Match: \"x\"\r\n",
            "If-Match: \"nope\"\r\n",
            "If-Modified-Since: Sat, 01 Jan 2100 00:00:00 GMT\r\n",
            "If-Unmodified-Since: Sat, 01 Jan 2000 00:00:00 GMT\r\n",
        ] {
            let response = raw(&demo.server, &get_request(target, headers)).await;
            assert_eq!(
                response.status, 200,
                "{target} {headers}: {}",
                response.head
            );
            assert_eq!(response.header("content-range"), None, "{headers}");
            assert_eq!(response.header("accept-ranges"), None, "{headers}");
            assert_eq!(response.body, full.body, "{target} {headers}");
        }
        // A Range is served from the spooled export: exactly those bytes, or the whole
        // (another unit, several ranges, an If-Range for another file), or 416.
        let last = len - 1;
        for (headers, status, part) in [
            ("Range: bytes=0-10\r\n", 206, Some((0, 10))),
            ("Range: bytes=-5\r\n", 206, Some((len - 5, last))),
            ("Range: bytes=0-10,20-30\r\n", 200, None),
            ("Range: lines=1-2\r\n", 200, None),
            ("If-Range: \"x\"\r\nRange: bytes=0-10\r\n", 200, None),
            ("Range: bytes=999999999-\r\n", 416, None),
        ] {
            let response = raw(&demo.server, &get_request(target, headers)).await;
            assert_eq!(
                response.status, status,
                "{target} {headers}: {}",
                response.head
            );
            assert_eq!(response.header("accept-ranges"), Some("bytes"), "{headers}");
            match (status, part) {
                (206, Some((first, end))) => {
                    assert_eq!(response.body, full.body[first..=end], "{target} {headers}");
                    assert_eq!(
                        response.header("content-range"),
                        Some(format!("bytes {first}-{end}/{len}").as_str())
                    );
                }
                (200, _) => assert_eq!(response.body, full.body, "{target} {headers}"),
                _ => assert_eq!(
                    response.header("content-range"),
                    Some(format!("bytes */{len}").as_str())
                ),
            }
        }
    }
    demo.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_loris_connections_are_cut_and_do_not_block_others() {
    const SLOW: usize = 500;
    const SILENT: usize = 20;
    let header_read_timeout = Duration::from_secs(4);
    let demo = demo_server(ServeOptions {
        header_read_timeout,
        ..ServeOptions::default()
    })
    .await;
    let addr = demo.server.addr;
    let connected = Arc::new(AtomicUsize::new(0));
    let closed = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut clients = tokio::task::JoinSet::new();
    for i in 0..SLOW + SILENT {
        let connected = connected.clone();
        let closed = closed.clone();
        clients.spawn(async move {
            let mut stream = TcpStream::connect(addr).await.expect("connect");
            let since = Instant::now();
            let (mut read, mut write) = stream.split();
            if i < SLOW {
                write
                    .write_all(b"GET /tables/tickets HTTP/1.1\r\nHo")
                    .await
                    .expect("first bytes");
            }
            connected.fetch_add(1, Ordering::SeqCst);
            // One byte every 250 ms, never finishing the headers; stop when the server
            // closes the connection, or after 20 s.
            let drip = async {
                for _ in 0..80 {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    if i < SLOW && write.write_all(b"x").await.is_err() {
                        break;
                    }
                }
                std::future::pending::<()>().await;
            };
            let mut answer = Vec::new();
            let cut = tokio::select! {
                _ = read.read_to_end(&mut answer) => true,
                () = drip => false,
                () = tokio::time::sleep(Duration::from_secs(20)) => false,
            };
            closed.fetch_add(1, Ordering::SeqCst);
            (cut, since.elapsed(), answer)
        });
    }
    while connected.load(Ordering::SeqCst) < SLOW + SILENT {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "connecting took too long"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let connecting = started.elapsed();

    // A normal request is served promptly while they hang on.
    let before = Instant::now();
    let response = reqwest::get(demo.server.url("/tables/tickets"))
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    let rows: Vec<Value> =
        serde_json::from_slice(&response.bytes().await.expect("body")).expect("rows");
    assert_eq!(rows.len(), ROWS as usize);
    let took = before.elapsed();
    assert_eq!(
        closed.load(Ordering::SeqCst),
        0,
        "the slow connections must still be open (connecting took {connecting:?})"
    );
    assert!(took < Duration::from_secs(3), "the request took {took:?}");

    // Then the server cuts every one of them at the header read timeout, dripping or
    // silent, without an answer.
    while let Some(result) = clients.join_next().await {
        let (cut, elapsed, answer) = result.expect("client task");
        assert!(cut, "a slow connection was still open after {elapsed:?}");
        assert!(
            elapsed >= header_read_timeout - Duration::from_millis(500)
                && elapsed < header_read_timeout + Duration::from_secs(4),
            "cut after {elapsed:?}"
        );
        assert!(
            answer.is_empty(),
            "unexpected answer: {}",
            String::from_utf8_lossy(&answer)
        );
    }
    // And the server is as good as new.
    assert_demo_intact(&demo).await;
    demo.server.stop().await;
}
