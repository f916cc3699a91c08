//! What a first-time user meets, through the real binary: an unreachable database fails
//! at once in one line naming where and why; a closed stdout (`| head`) ends a command
//! quietly; `--bind` is checked before any database is touched; errors stay one line
//! whatever `RUST_BACKTRACE` says; unknown query parameters are refused.

mod common;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::str::FromStr as _;
use std::time::{Duration, Instant};

use common::binary::{Binary, command};
use serde_json::{Value, json};

/// Rows of the `numbers` table: a few megabytes as NDJSON, far more than a pipe holds.
const NUMBERS: u64 = 100_000;

/// A SQLite file with the table `numbers (n INTEGER PRIMARY KEY, label TEXT)`.
async fn numbers(dir: &Path) -> PathBuf {
    common::sqlite_file(
        dir.join("numbers.sqlite"),
        &[
            "CREATE TABLE numbers (n INTEGER PRIMARY KEY, label TEXT)",
            &format!(
                "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {NUMBERS}) \
                 INSERT INTO numbers SELECT i, 'row ' || i FROM s"
            ),
        ],
    )
    .await
}

fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

/// `rowstream ARGS…` with backtraces asked for in every way Rust knows, waited for.
fn run(args: &[&str]) -> Output {
    command(args)
        .env("RUST_BACKTRACE", "full")
        .env("RUST_LIB_BACKTRACE", "1")
        .output()
        .expect("run rowstream")
}

/// The only line of `output`'s stderr, after checking that it failed with exit code 1.
fn one_error_line(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line expected: {stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    lines[0].to_owned()
}

/// `rowstream export --table t` on `url`: how long it took and its one error line.
fn export_from(url: &str, extra: &[&str]) -> (Duration, String) {
    let started = Instant::now();
    let mut args = vec!["export", "--db", url, "--table", "t"];
    args.extend_from_slice(extra);
    let output = run(&args);
    (started.elapsed(), one_error_line(&output))
}

#[test]
fn an_unreachable_server_fails_at_once_naming_host_port_and_cause() {
    for (scheme, name) in [("postgres", "PostgreSQL"), ("mysql", "MySQL/MariaDB")] {
        // Nothing listens: refused at once, not after the pool's 30 s.
        let port = closed_port();
        let (took, line) = export_from(&format!("{scheme}://u@127.0.0.1:{port}/db"), &[]);
        assert_eq!(
            line,
            format!("error: cannot connect to {name} at 127.0.0.1:{port}: connection refused")
        );
        assert!(took < Duration::from_secs(5), "{scheme}: took {took:?}");

        // A host name that cannot exist (RFC 6761).
        let (took, line) = export_from(&format!("{scheme}://u@nosuchhost.invalid:4321/db"), &[]);
        assert!(
            line.starts_with(&format!(
                "error: cannot connect to {name} at nosuchhost.invalid:4321: \
                 the host name does not resolve (DNS: "
            )),
            "{line}"
        );
        assert!(took < Duration::from_secs(5), "{scheme}: took {took:?}");

        // Something listens but never answers: the connect timeout.
        let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = silent.local_addr().expect("local addr").port();
        let (took, line) = export_from(
            &format!("{scheme}://u@127.0.0.1:{port}/db"),
            &["--connect-timeout", "500ms"],
        );
        assert_eq!(
            line,
            format!(
                "error: cannot connect to {name} at 127.0.0.1:{port}: no answer within 500ms \
                 (--connect-timeout)"
            )
        );
        assert!(took < Duration::from_secs(5), "{scheme}: took {took:?}");
    }
}

#[test]
fn the_default_connect_timeout_is_five_seconds() {
    let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("local addr").port();
    let (took, line) = export_from(&format!("postgres://u@127.0.0.1:{port}/db"), &[]);
    assert_eq!(
        line,
        format!(
            "error: cannot connect to PostgreSQL at 127.0.0.1:{port}: no answer within 5s \
             (--connect-timeout)"
        )
    );
    assert!(took < Duration::from_secs(15), "took {took:?}");
}

/// A PostgreSQL server that asks for a password and refuses it, as PostgreSQL does
/// (SQLSTATE 28P01); serves one connection.
fn refusing_postgres() -> u16 {
    fn read_message(stream: &mut TcpStream, tagged: bool) -> (Option<u8>, Vec<u8>) {
        let tag = tagged.then(|| {
            let mut tag = [0u8];
            stream.read_exact(&mut tag).expect("tag");
            tag[0]
        });
        let mut len = [0u8; 4];
        stream.read_exact(&mut len).expect("length");
        let mut body = vec![0u8; u32::from_be_bytes(len) as usize - 4];
        stream.read_exact(&mut body).expect("body");
        (tag, body)
    }
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("local addr").port();
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("accept");
        let (_, mut startup) = read_message(&mut stream, false);
        if startup.starts_with(&80_877_103u32.to_be_bytes()) {
            // SSLRequest: no TLS here.
            stream.write_all(b"N").expect("write");
            startup = read_message(&mut stream, false).1;
        }
        assert!(
            startup.starts_with(&196_608u32.to_be_bytes()),
            "protocol 3.0"
        );
        // AuthenticationCleartextPassword, then the password, then FATAL 28P01.
        stream.write_all(b"R\0\0\0\x08\0\0\0\x03").expect("write");
        assert_eq!(read_message(&mut stream, true).0, Some(b'p'));
        let mut fields = Vec::new();
        for (code, value) in [
            (b'S', "FATAL"),
            (b'V', "FATAL"),
            (b'C', "28P01"),
            (b'M', "password authentication failed for user \"u\""),
        ] {
            fields.push(code);
            fields.extend_from_slice(value.as_bytes());
            fields.push(0);
        }
        fields.push(0);
        let mut error = vec![b'E'];
        error.extend_from_slice(&(fields.len() as u32 + 4).to_be_bytes());
        error.extend_from_slice(&fields);
        stream.write_all(&error).expect("write");
    });
    port
}

#[test]
fn a_wrong_password_is_named_as_such() {
    let port = refusing_postgres();
    let (took, line) = export_from(&format!("postgres://u:wrong@127.0.0.1:{port}/db"), &[]);
    assert_eq!(
        line,
        format!(
            "error: cannot connect to PostgreSQL at 127.0.0.1:{port}: authentication failed: \
             password authentication failed for user \"u\""
        )
    );
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

/// An HTTP server that answers its first connection with `400`, whatever it is sent.
fn http_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("local addr").port();
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("accept");
        let mut request = [0u8; 4096];
        let _ = stream.read(&mut request);
        let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
    });
    port
}

#[test]
fn another_service_on_the_port_is_named_as_such() {
    let port = http_server();
    let (took, line) = export_from(&format!("postgres://u@127.0.0.1:{port}/db"), &[]);
    assert!(
        line.starts_with(&format!(
            "error: cannot connect to PostgreSQL at 127.0.0.1:{port}: the answer is not in \
             this database's protocol (another service on this port?): "
        )),
        "{line}"
    );
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

#[test]
fn the_real_servers_name_auth_tls_and_missing_databases() {
    use sqlx::mysql::MySqlConnectOptions;
    use sqlx::postgres::PgConnectOptions;

    if let Some(url) = common::sql::postgres_url() {
        let pg = PgConnectOptions::from_str(&url).expect("a PostgreSQL URL");
        let at = format!("{}:{}", pg.get_host(), pg.get_port());
        let db = pg.get_database().unwrap_or("postgres");
        let base = format!("postgres://{}@{at}", pg.get_username());

        let (_, line) = export_from(&format!("postgres://rowstream_s15_nobody@{at}/{db}"), &[]);
        assert_eq!(
            line,
            format!(
                "error: cannot connect to PostgreSQL at {at}: authentication failed: \
                 role \"rowstream_s15_nobody\" does not exist"
            )
        );
        let (_, line) = export_from(&format!("{base}/rowstream_s15_no_such_db"), &[]);
        assert_eq!(
            line,
            format!(
                "error: cannot connect to PostgreSQL at {at}: the server refused: \
                 database \"rowstream_s15_no_such_db\" does not exist"
            )
        );
        // The server's certificate is self-signed: no trusted root vouches for it.
        let (_, line) = export_from(&format!("{base}/{db}?sslmode=verify-full"), &[]);
        assert!(
            line.starts_with(&format!(
                "error: cannot connect to PostgreSQL at {at}: TLS failed: "
            )),
            "{line}"
        );
    }
    if let Some(url) = common::sql::mysql_url() {
        let my = MySqlConnectOptions::from_str(&url).expect("a MySQL URL");
        let at = format!("{}:{}", my.get_host(), my.get_port());
        let user = my.get_username();
        let (_, line) = export_from(&format!("mysql://{user}:rowstream-wrong@{at}/test"), &[]);
        assert!(
            line.starts_with(&format!(
                "error: cannot connect to MySQL/MariaDB at {at}: authentication failed: \
                 Access denied for user '{user}'@"
            )),
            "{line}"
        );
        let (_, line) = export_from(&format!("mysql://{user}@{at}/test?ssl-mode=required"), &[]);
        assert!(
            line.starts_with(&format!(
                "error: cannot connect to MySQL/MariaDB at {at}: TLS failed: "
            )),
            "{line}"
        );
    }
}

#[tokio::test]
async fn user_errors_are_one_line_whatever_rust_backtrace_says() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = sqlite_url(&numbers(dir.path()).await);
    let output = run(&["export", "--db", &db, "--table", "nope"]);
    assert_eq!(
        one_error_line(&output),
        "error: no table or view named \"nope\" in the database"
    );
    let missing = sqlite_url(&dir.path().join("missing.sqlite"));
    let line = one_error_line(&run(&["export", "--db", &missing, "--table", "t"]));
    assert!(
        line.starts_with(&format!("error: cannot open {missing}: ")),
        "{line}"
    );
}

/// A local port nothing listens on.
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("local addr").port()
}

/// `child`'s output once it exits; killed (and the test failed) if it runs on for 30 s.
fn exited(mut child: Child) -> Output {
    let started = Instant::now();
    while child.try_wait().expect("try_wait").is_none() {
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("still running after 30 s: {:?}", child.wait_with_output());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("the output")
}

#[tokio::test]
async fn a_closed_stdout_ends_an_export_quietly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = sqlite_url(&numbers(dir.path()).await);
    for extra in [&[][..], &["--compress", "gzip"][..]] {
        // `rowstream export … | head -1`: one line read, then the pipe is closed.
        let mut args = vec!["export", "--db", &db, "--table", "numbers"];
        args.extend_from_slice(&["--format", "ndjson"]);
        args.extend_from_slice(extra);
        let mut child = command(&args)
            .env("RUST_BACKTRACE", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run rowstream export");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut first = Vec::new();
        stdout.read_until(b'\n', &mut first).expect("read");
        assert!(!first.is_empty(), "{extra:?}: some output");
        drop(stdout);
        let output = exited(child);
        assert_eq!(
            (
                output.status.code(),
                String::from_utf8_lossy(&output.stderr)
            ),
            (Some(0), "".into()),
            "{extra:?}"
        );
    }
}

#[tokio::test]
async fn a_closed_stdout_ends_serve_quietly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = sqlite_url(&numbers(dir.path()).await);
    let serve = ["serve", "--bind", "127.0.0.1:0", "--db", &db];

    // `rowstream serve | head -0`: stdout is closed before the banner is written.
    let mut child = command(&serve)
        .env("RUST_BACKTRACE", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run rowstream serve");
    drop(child.stdout.take());
    let output = exited(child);
    assert_eq!(
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr)
        ),
        (Some(0), "".into())
    );

    // `rowstream serve 2>&1 | head -0`, with a warning logged before the banner: the
    // lost log line is no reason to panic either.
    let mut shell = std::process::Command::new("sh");
    shell
        .args([
            "-c",
            "exec \"$0\" \"$@\" 2>&1",
            env!("CARGO_BIN_EXE_rowstream"),
        ])
        .args(serve)
        .args(["--statement-timeout", "1s"]);
    common::binary::clean(&mut shell);
    let mut child = shell
        .env("RUST_BACKTRACE", "1")
        .stdout(Stdio::piped())
        .spawn()
        .expect("run rowstream serve");
    drop(child.stdout.take());
    assert_eq!(exited(child).status.code(), Some(0));

    // `rowstream serve | head -2`, which leaves once the banner is out: the server
    // stops, though it has nothing more to write.
    let mut child = command(&serve)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run rowstream serve");
    let stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let banner: Vec<String> = stdout
        .lines()
        .map(|line| line.expect("a line"))
        .take_while(|line| line != "Press Ctrl-C to stop.")
        .collect();
    assert!(
        banner[0].starts_with("rowstream listening on "),
        "{banner:?}"
    );
    let output = exited(child);
    assert_eq!(
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr)
        ),
        (Some(0), "".into())
    );
}

#[tokio::test]
async fn bind_is_checked_before_any_database_is_touched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let demo = dir.path().join("demo.sqlite");
    let demo_env = demo.to_str().expect("UTF-8 path");
    let line = one_error_line(
        &command(&["serve", "--bind", "nonsense:abc", "--demo-rows", "10"])
            .env("ROWSTREAM_DEMO_DB", demo_env)
            .env("RUST_BACKTRACE", "1")
            .output()
            .expect("run rowstream serve"),
    );
    assert!(
        line.starts_with("error: cannot listen on nonsense:abc: "),
        "{line}"
    );
    assert!(!demo.exists(), "the demo database was seeded");

    // A taken address wins over an unreachable database: nothing is opened.
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("local addr").to_string();
    let unreachable = format!("postgres://u@127.0.0.1:{}/db", closed_port());
    let line = one_error_line(&run(&["serve", "--bind", &addr, "--db", &unreachable]));
    assert!(
        line.starts_with(&format!("error: cannot listen on {addr}: ")),
        "{line}"
    );
}

/// The parameters a table export takes.
const TABLE_KNOWN: [&str; 14] = [
    "limit",
    "after",
    "select",
    "order",
    "format",
    "complete",
    "non_finite",
    "big_integers",
    "formula_guard",
    "download",
    "bom",
    "header",
    "delimiter",
    "spool",
];

#[tokio::test]
async fn a_named_query_with_two_columns_of_one_name_is_refused_before_serving() {
    // Each row is an object keyed by column name (JSON, MessagePack): a second `a` would
    // hide the first from any reader of the object.
    let dir = tempfile::tempdir().expect("tempdir");
    let db = sqlite_url(&numbers(dir.path()).await);
    let config = dir.path().join("rowstream.toml");
    std::fs::write(
        &config,
        "[queries.twice]\nsql = \"SELECT n AS a, label AS a FROM numbers\"\n",
    )
    .expect("write the config");
    let config = config.to_str().expect("UTF-8 path");
    let serve = command(&[
        "serve",
        "--bind",
        "127.0.0.1:0",
        "--db",
        &db,
        "--config",
        config,
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("spawn rowstream serve");
    let export = run(&[
        "export", "--db", &db, "--config", config, "--query", "twice",
    ]);
    for output in [exited(serve), export] {
        let line = one_error_line(&output);
        assert!(
            line.contains("\"twice\"") && line.contains("two columns named \"a\""),
            "{line}"
        );
    }
}

const CONFIG: &str = r#"
[queries.from]
sql = "SELECT n FROM numbers WHERE n >= ? ORDER BY n LIMIT 2"
params = [{ name = "start", type = "int" }]
"#;

/// Status, content type and body (as JSON) of `GET url`, or of `HEAD url`.
async fn fetch(method: reqwest::Method, url: &str) -> (u16, String, Value) {
    let response = reqwest::Client::new()
        .request(method, url)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    let content_type = response.headers()["content-type"]
        .to_str()
        .expect("ASCII")
        .to_owned();
    let body = response.bytes().await.expect("body");
    let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
    (status, content_type, json)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_query_parameters_are_refused_naming_the_known_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = sqlite_url(&numbers(dir.path()).await);
    let config = dir.path().join("rowstream.toml");
    std::fs::write(&config, CONFIG).expect("write the config");
    let config = config.to_str().expect("UTF-8 path");
    let server = Binary::serve(
        &["--bind", "127.0.0.1:0", "--db", &db, "--config", config],
        &[],
    );
    let base = &server.base;

    let refused = [
        ("/tables/numbers?fromat=csv", "fromat", json!(TABLE_KNOWN)),
        ("/tables/numbers?offset=2", "offset", json!(TABLE_KNOWN)),
        (
            "/tables/numbers?format=csv&Format=csv",
            "Format",
            json!(TABLE_KNOWN),
        ),
        (
            "/queries/from?start=1&fromat=csv",
            "fromat",
            json!([
                "start",
                "format",
                "complete",
                "non_finite",
                "big_integers",
                "formula_guard",
                "download",
                "bom",
                "header",
                "delimiter",
                "spool"
            ]),
        ),
        (
            "/queries/from?start=1&n=2",
            "n",
            json!([
                "start",
                "format",
                "complete",
                "non_finite",
                "big_integers",
                "formula_guard",
                "download",
                "bom",
                "header",
                "delimiter",
                "spool"
            ]),
        ),
    ];
    for (path, name, known) in refused {
        let url = format!("{base}{path}");
        let (status, content_type, body) = fetch(reqwest::Method::GET, &url).await;
        assert_eq!(
            (status, content_type.as_str()),
            (400, "application/problem+json"),
            "{path}"
        );
        assert_eq!(body["title"], "Unknown parameter", "{path}");
        assert_eq!(body["parameter"], name, "{path}");
        assert_eq!(body["known"], known, "{path}");
        let detail = body["detail"].as_str().expect("a detail");
        assert!(detail.contains(&format!("\"{name}\"")), "{path}: {detail}");
        let (status, _, _) = fetch(reqwest::Method::HEAD, &url).await;
        assert_eq!(status, 400, "HEAD {path}");
    }

    // The known ones still work; a table whose export was refused is not half sent.
    let (status, _, body) = fetch(
        reqwest::Method::GET,
        &format!("{base}/queries/from?start=7&format=json"),
    )
    .await;
    assert_eq!((status, body), (200, json!([{"n": 7}, {"n": 8}])));
    let (status, content_type, _) = fetch(
        reqwest::Method::GET,
        &format!("{base}/tables/numbers?format=csv&complete=false"),
    )
    .await;
    assert_eq!(
        (status, content_type.as_str()),
        (200, "text/csv; charset=utf-8; header=present")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_tables_offer_a_preview_of_limited_rows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = common::sqlite_file(
        dir.path().join("preview.sqlite"),
        &[
            "CREATE TABLE big (n INTEGER PRIMARY KEY, label TEXT)",
            "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 2500) \
             INSERT INTO big SELECT i, 'row ' || i FROM s",
            "CREATE VIEW big_view AS SELECT n * 2 AS m FROM big",
        ],
    )
    .await;
    let db = sqlite_url(&path);
    let server = Binary::serve(&["--bind", "127.0.0.1:0", "--db", &db], &[]);
    let base = &server.base;

    // The index page: SQLite keeps no estimates, so every table offers a preview.
    let index = reqwest::get(format!("{base}/"))
        .await
        .expect("index")
        .text()
        .await
        .expect("HTML");
    assert!(
        index.contains(r#"<a href="tables/big?format=json&amp;limit=100">preview</a>"#),
        "{index}"
    );
    assert!(
        index.contains(r#"<a href="tables/big?format=csv" download>csv</a>"#),
        "{index}"
    );

    // Keyset pages (a table) and one query (a view), cut at the limit, across pages.
    for (path, column, step) in [("big", "n", 1_u64), ("big_view", "m", 2)] {
        for limit in [1_u64, 100, 2_499, 2_500, 1_000_000] {
            let url = format!("{base}/tables/{path}?format=json&limit={limit}");
            let (status, _, body) = fetch(reqwest::Method::GET, &url).await;
            assert_eq!(status, 200, "{url}");
            let rows = body.as_array().expect("an array");
            let want = limit.min(2_500);
            assert_eq!(rows.len() as u64, want, "{url}");
            assert_eq!(rows[0][column], step, "{url}");
            assert_eq!(rows.last().unwrap()[column], json!(want * step), "{url}");
        }
    }
    let csv = reqwest::get(format!("{base}/tables/big?format=csv&limit=2"))
        .await
        .expect("csv")
        .text()
        .await
        .expect("text");
    assert_eq!(csv, "n,label\r\n1,row 1\r\n2,row 2\r\n");

    for bad in ["0", "-1", "two", "1000001", ""] {
        let url = format!("{base}/tables/big?limit={bad}");
        let (status, content_type, body) = fetch(reqwest::Method::GET, &url).await;
        assert_eq!(
            (status, content_type.as_str()),
            (400, "application/problem+json"),
            "{url}"
        );
        assert_eq!(body["parameter"], "limit", "{url}");
        let detail = body["detail"].as_str().expect("a detail");
        assert!(detail.contains("from 1 to 1000000"), "{detail}");
    }
}
