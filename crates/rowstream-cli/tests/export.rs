//! `rowstream export`, run as the real binary: the same bytes as the HTTP export, no file
//! left behind by a failed or interrupted export, compressed output that decodes to the
//! plain one.

mod common;

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::Server;
use common::flights::{self, FLIGHTS};
use sqlx::Connection as _;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};

/// Rows of the `numbers` table and of the `numbers` named query.
const NUMBERS: u64 = 20_000;

/// Named queries over `numbers`: one that works, one that fails after `fail_after` rows
/// (`abs` of the smallest integer overflows), one that takes a while.
const CONFIG: &str = r#"
[queries.numbers]
sql = "SELECT n, label FROM numbers WHERE n >= ? ORDER BY n"
params = [{ name = "from", type = "int" }]

[queries.fails_midway]
sql = """
WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 200000)
SELECT i, CASE WHEN i < 150000 THEN i ELSE abs(-9223372036854775807 - 1) END AS v FROM s
"""

[queries.fails_at_once]
sql = "SELECT abs(-9223372036854775807 - 1) AS v"

[queries.slow]
sql = """
WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 100000000)
SELECT i, 'some text to make the rows longer' AS t FROM s
"""
"#;

/// `rowstream export ARGS…` with a clean environment, waited for.
fn export(args: &[&str]) -> Output {
    command(args).output().expect("run rowstream export")
}

fn command(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rowstream"));
    cmd.arg("export")
        .args(args)
        .env_remove("DATABASE_URL")
        .env_remove("ROWSTREAM_CONFIG")
        .env_remove("ROWSTREAM_STATEMENT_TIMEOUT")
        .env_remove("ROWSTREAM_BATCH_SIZE")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null());
    cmd
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Each parameter of the server's own that `--slice` does not take is refused (a usage
/// error, exit code 2) with what to use instead: a flag `rowstream export --help` lists.
#[tokio::test]
async fn slice_errors_name_flags_that_exist() {
    let help = export(&["--help"]);
    assert!(help.status.success(), "{}", stderr(&help));
    let help = String::from_utf8(help.stdout).expect("UTF-8 help");
    let flags_in = |text: &str| -> Vec<String> {
        text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .filter(|word| word.starts_with("--") && word.len() > 2)
            .map(str::to_owned)
            .collect()
    };
    let offered = flags_in(&help);
    for param in rowstream_cli::url::RESERVED_PARAMS.iter().chain(&["after"]) {
        let output = export(&[
            "--db",
            "sqlite:///nonexistent/never-opened.sqlite",
            "--table",
            "t",
            "--slice",
            &format!("id=eq.1&{param}=x"),
        ]);
        let said = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{param}: {said}");
        assert!(
            said.contains(&format!("{param} is not part of a slice")),
            "{said}"
        );
        // The first line; clap's own hint (`try '--help'`) follows it.
        let first = said.lines().next().unwrap_or("");
        let usable = flags_in(first.split("is not part of a slice").nth(1).unwrap_or(""));
        for flag in &usable {
            assert!(
                offered.contains(flag),
                "{param}: {flag} is not in --help: {said}"
            );
        }
        let flagged = !matches!(*param, "complete" | "spool");
        assert_eq!(!usable.is_empty(), flagged, "{param}: {said}");
    }

    // `after` comes from the file --resume continues: a --slice in another order is
    // refused naming --resume, not a parameter the command line does not have.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = common::sqlite_file(
        dir.path().join("t.sqlite"),
        &[
            "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)",
            "INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c')",
        ],
    )
    .await;
    let db = format!("sqlite://{}", path.display());
    let out = dir.path().join("t.ndjson");
    std::fs::write(&out, "{\"id\":1,\"v\":\"a\"}\n").expect("a partial file");
    let out = out.display().to_string();
    let output = export(&[
        "--db",
        &db,
        "--table",
        "t",
        "--format",
        "ndjson",
        "--slice",
        "order=v.desc",
        "-o",
        &out,
        "--resume",
    ]);
    let said = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{said}");
    assert_eq!(
        said,
        "error: --resume with --slice: a resumed export is read in key order: it cannot go \
         with order= other than id\n"
    );
    assert_eq!(
        std::fs::read_to_string(&out).expect("the file"),
        "{\"id\":1,\"v\":\"a\"}\n"
    );
}

/// A directory with `numbers.sqlite` (table `numbers`, `NUMBERS` rows) and
/// `rowstream.toml` (the named queries above).
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    async fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut conn = SqliteConnection::connect_with(
            &SqliteConnectOptions::new()
                .filename(dir.path().join("numbers.sqlite"))
                .create_if_missing(true),
        )
        .await
        .expect("create the database");
        sqlx::query("CREATE TABLE numbers (n INTEGER PRIMARY KEY, label TEXT, half REAL)")
            .execute(&mut conn)
            .await
            .expect("create table");
        sqlx::query(&format!(
            "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {NUMBERS}) \
             INSERT INTO numbers SELECT i, 'row \"' || i || '\", ok', i / 2.0 FROM s"
        ))
        .execute(&mut conn)
        .await
        .expect("insert");
        conn.close().await.expect("close");
        std::fs::write(dir.path().join("rowstream.toml"), CONFIG).expect("write the config");
        Self { dir }
    }

    fn db_url(&self) -> String {
        format!(
            "sqlite://{}",
            self.dir.path().join("numbers.sqlite").display()
        )
    }

    fn config(&self) -> String {
        self.dir.path().join("rowstream.toml").display().to_string()
    }

    /// An empty directory for outputs.
    fn out_dir(&self) -> PathBuf {
        let out = self.dir.path().join("out");
        std::fs::create_dir_all(&out).expect("create out/");
        out
    }
}

/// The names in `dir`.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|entry| {
            entry
                .expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flights_export_equals_the_http_export_byte_for_byte() {
    let Some(csv_bytes) = flights::csv_bytes() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("flights.sqlite");
    flights::load_sqlite(&csv_bytes, &path).await;
    let pool = rowstream_cli::open_readonly_path(&path)
        .await
        .expect("open read-only");
    let server = Server::start(pool).await;
    let db = format!("sqlite://{}", path.display());

    for format in ["json", "csv", "ndjson"] {
        let response = reqwest::get(server.url(&format!("/tables/flights?format={format}")))
            .await
            .expect("GET /tables/flights");
        assert_eq!(response.status(), 200, "{format}");
        let served = response.bytes().await.expect("a body");

        let target = dir.path().join(format!("flights.{format}"));
        let output = export(&[
            "--db",
            &db,
            "--table",
            "flights",
            "--format",
            format,
            "-o",
            target.to_str().expect("a UTF-8 path"),
        ]);
        assert!(output.status.success(), "{format}: {}", stderr(&output));
        let exported = std::fs::read(&target).expect("the exported file");
        assert!(
            exported == served[..],
            "{format}: the export ({} bytes) differs from the HTTP body ({} bytes)",
            exported.len(),
            served.len()
        );
        if format == "csv" {
            // A header line and one line per flight.
            assert_eq!(
                exported.iter().filter(|&&b| b == b'\n').count(),
                FLIGHTS + 1
            );
        }
    }
    // Without -o, the same bytes on stdout.
    let output = export(&["--db", &db, "--table", "flights", "--format", "ndjson"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        output.stdout,
        std::fs::read(dir.path().join("flights.ndjson")).expect("the NDJSON file")
    );
    // `-f` is `--format`.
    let short = export(&["--db", &db, "--table", "flights", "-f", "ndjson"]);
    assert!(short.status.success(), "{}", stderr(&short));
    assert_eq!(short.stdout, output.stdout);
    server.stop().await;
}

#[tokio::test]
async fn named_queries_take_parameters() {
    let fixture = Fixture::new().await;
    let (db, config) = (fixture.db_url(), fixture.config());
    let output = export(&[
        "--db",
        &db,
        "--config",
        &config,
        "--query",
        "numbers",
        "--param",
        "from=19999",
        "--format",
        "ndjson",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        String::from_utf8(output.stdout).expect("UTF-8"),
        "{\"n\":19999,\"label\":\"row \\\"19999\\\", ok\"}\n{\"n\":20000,\"label\":\"row \\\"20000\\\", ok\"}\n"
    );

    // A bad parameter, an unknown query, a query without --config: refused, nothing runs.
    for (args, expected) in [
        (vec!["--query", "numbers", "--param", "from=x"], "from"),
        (
            vec!["--query", "numbers", "--param", "form=1"],
            "query \"numbers\": unknown parameter \"form\"; it takes from",
        ),
        (vec!["--query", "numbers"], "missing parameter"),
        (vec!["--query", "nope"], "nope"),
    ] {
        let mut all = vec!["--db", &db, "--config", &config];
        all.extend(args);
        let output = export(&all);
        assert!(!output.status.success());
        assert!(stderr(&output).contains(expected), "{}", stderr(&output));
    }
    let output = export(&["--db", &db, "--query", "numbers"]);
    assert!(!output.status.success());
    assert!(stderr(&output).contains("--config"), "{}", stderr(&output));
}

/// The config file's settings are bounded as `rowstream serve` bounds them; the pool
/// settings of a server's config file do not apply to an export.
#[tokio::test]
async fn the_config_file_settings_are_checked() {
    let fixture = Fixture::new().await;
    let db = fixture.db_url();
    let out = fixture.out_dir();
    let target = out.join("numbers.json");
    let config = fixture.dir.path().join("settings.toml");
    let too_large = rowstream::MAX_BATCH_SIZE + 1;
    for (settings, expected) in [
        (
            "batch_size = 0",
            "batch_size (0) must be between 1 and".to_owned(),
        ),
        (
            &format!("batch_size = {too_large}"),
            format!("batch_size ({too_large}) must be between 1 and"),
        ),
    ] {
        std::fs::write(&config, settings).expect("write the config");
        let output = export(&[
            "--db",
            &db,
            "--config",
            &config.display().to_string(),
            "--table",
            "numbers",
            "-o",
            &target.display().to_string(),
        ]);
        assert!(!output.status.success(), "{settings}: accepted");
        assert!(stderr(&output).contains(&expected), "{}", stderr(&output));
        assert!(listing(&out).is_empty(), "{:?}", listing(&out));
    }

    // A server's pool settings (more streams than an export's two connections) are fine.
    std::fs::write(
        &config,
        "pool_size = 20\nmax_streams = 12\nbatch_size = 7\n",
    )
    .expect("write the config");
    let output = export(&[
        "--db",
        &db,
        "--config",
        &config.display().to_string(),
        "--table",
        "numbers",
        "--format",
        "ndjson",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let lines = String::from_utf8(output.stdout).expect("UTF-8");
    assert_eq!(lines.lines().count() as u64, NUMBERS);
}

#[tokio::test]
async fn a_slice_is_refused_for_a_named_query() {
    // A named query's rows are its SQL's: a slice would be ignored, and the export would
    // look like the slice asked for.
    let fixture = Fixture::new().await;
    let (db, config) = (fixture.db_url(), fixture.config());
    let output = export(&[
        "--db",
        &db,
        "--config",
        &config,
        "--query",
        "fails_at_once",
        "--slice",
        "limit=1",
    ]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(output.stdout.is_empty(), "{output:?}");
    assert_eq!(stderr(&output), "error: --slice is for tables (--table)\n");
}

#[tokio::test]
async fn a_failed_export_leaves_no_file() {
    let fixture = Fixture::new().await;
    let (db, config) = (fixture.db_url(), fixture.config());
    let out = fixture.out_dir();
    let target = out.join("export.csv");
    let target_arg = target.to_str().expect("a UTF-8 path");

    // Fails mid-way, after many chunks were written; and at its first row, where nothing
    // was written and the message says so.
    for (query, says) in [
        ("fails_midway", "failed after"),
        ("fails_at_once", "failed before its first row"),
    ] {
        let output = export(&[
            "--db", &db, "--config", &config, "--query", query, "--format", "csv", "-o", target_arg,
        ]);
        assert!(!output.status.success(), "{query}");
        let message = stderr(&output);
        assert!(message.contains(says), "{message}");
        assert!(!message.contains("after 0 rows"), "{message}");
        assert!(message.contains("was not written"), "{message}");
        assert!(listing(&out).is_empty(), "{query}: {:?}", listing(&out));
    }

    // A table that does not exist.
    let output = export(&["--db", &db, "--table", "nope", "-o", target_arg]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("no table or view"),
        "{}",
        stderr(&output)
    );
    assert!(listing(&out).is_empty(), "{:?}", listing(&out));

    // A file already at the target stays as it was.
    std::fs::write(&target, b"earlier export").expect("write");
    let output = export(&[
        "--db",
        &db,
        "--config",
        &config,
        "--query",
        "fails_midway",
        "-o",
        target_arg,
    ]);
    assert!(!output.status.success());
    assert_eq!(std::fs::read(&target).expect("read"), b"earlier export");
    assert_eq!(listing(&out), ["export.csv"]);
}

#[cfg(unix)]
#[tokio::test]
async fn an_interrupted_export_leaves_no_file() {
    let fixture = Fixture::new().await;
    let (db, config) = (fixture.db_url(), fixture.config());
    let out = fixture.out_dir();
    let target = out.join("slow.ndjson");
    let mut child = command(&[
        "--db",
        &db,
        "--config",
        &config,
        "--query",
        "slow",
        "--format",
        "ndjson",
        "-o",
        target.to_str().expect("a UTF-8 path"),
    ])
    .stderr(Stdio::piped())
    .spawn()
    .expect("spawn rowstream export");
    // Wait until the partial file holds data.
    let started = std::time::Instant::now();
    loop {
        let written = std::fs::read_dir(&out)
            .expect("read_dir")
            .filter_map(Result::ok)
            .any(|e| e.metadata().is_ok_and(|m| m.len() > 0));
        if written {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "nothing was written"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill -INT");
    assert!(status.success());
    let status = child.wait().expect("wait");
    let mut message = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut message)
        .expect("read stderr");
    assert!(!status.success());
    assert!(message.contains("interrupted"), "{message}");
    assert!(listing(&out).is_empty(), "{:?}", listing(&out));
}

#[tokio::test]
async fn gzip_output_decodes_to_the_plain_output() {
    let fixture = Fixture::new().await;
    let db = fixture.db_url();
    let out = fixture.out_dir();
    for format in ["csv", "json", "msgpack"] {
        let plain = export(&["--db", &db, "--table", "numbers", "--format", format]);
        assert!(plain.status.success(), "{}", stderr(&plain));
        assert!(plain.stdout.len() > 100_000, "{format}");

        let target = out.join(format!("numbers.{format}.gz"));
        let output = export(&[
            "--db",
            &db,
            "--table",
            "numbers",
            "--format",
            format,
            "--compress",
            "gzip",
            "-o",
            target.to_str().expect("a UTF-8 path"),
        ]);
        assert!(output.status.success(), "{}", stderr(&output));
        let compressed = std::fs::read(&target).expect("the compressed file");
        assert!(compressed.len() < plain.stdout.len(), "{format}");
        let mut decoded = Vec::new();
        flate2::read::GzDecoder::new(&compressed[..])
            .read_to_end(&mut decoded)
            .expect("a complete gzip stream");
        assert!(
            decoded == plain.stdout,
            "{format}: gzip decodes to another output"
        );
    }
}

/// Runs `rowstream [--log-format F] serve` on the fixture, exports `numbers` once with
/// request id `req-42`, and returns the stderr line that announces the listening address
/// and the one that logs the end of the export.
fn serve_log_lines(fixture: &Fixture, format: Option<&str>) -> (String, String) {
    use std::io::{BufRead as _, Write as _};

    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rowstream"));
    if let Some(format) = format {
        cmd.args(["--log-format", format]);
    }
    let mut child = cmd
        .args(["serve", "--bind", "127.0.0.1:0", "--db", &fixture.db_url()])
        .env_remove("ROWSTREAM_CONFIG")
        .env_remove("ROWSTREAM_LOG_FORMAT")
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start rowstream serve");
    let mut lines = std::io::BufReader::new(child.stderr.take().expect("stderr"))
        .lines()
        .map(|line| line.expect("read stderr"));
    let listening = lines
        .by_ref()
        .find(|line| line.contains("listening"))
        .expect("a line saying the server listens");
    let addr = listening
        .split(|c: char| c.is_whitespace() || c == '"')
        .find_map(|word| {
            let word = word.trim_start_matches("addr=");
            word.starts_with("127.0.0.1:").then(|| word.to_owned())
        })
        .expect("the address in the line");
    let mut stream = std::net::TcpStream::connect(&addr).expect("connect");
    stream
        .write_all(
            b"GET /tables/numbers?format=ndjson HTTP/1.1\r\nHost: t\r\n\
              X-Request-Id: req-42\r\nConnection: close\r\n\r\n",
        )
        .expect("request");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).expect("response");
    assert!(response.starts_with(b"HTTP/1.1 200 OK"));
    let ended = lines
        .find(|line| line.contains("export ended"))
        .expect("a line logging the end of the export");
    child.kill().expect("stop the server");
    child.wait().expect("wait for the server");
    (listening, ended)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_format_json_writes_one_object_per_line() {
    let fixture = Fixture::new().await;

    let (listening, ended) = serve_log_lines(&fixture, Some("json"));
    let event: serde_json::Value = serde_json::from_str(&listening)
        .unwrap_or_else(|err| panic!("not a JSON log line ({err}): {listening}"));
    assert_eq!(event["level"], "INFO", "{listening}");
    assert_eq!(event["fields"]["message"], "listening", "{listening}");
    assert_eq!(event["fields"]["database"], "sqlite", "{listening}");
    assert!(event["timestamp"].is_string(), "{listening}");

    // The end of an export: its outcome and totals, in its stream span, under the
    // request's span with the request id.
    let event: serde_json::Value = serde_json::from_str(&ended)
        .unwrap_or_else(|err| panic!("not a JSON log line ({err}): {ended}"));
    let fields = &event["fields"];
    assert_eq!(fields["outcome"], "completed", "{ended}");
    assert_eq!(fields["rows"], NUMBERS, "{ended}");
    assert!(
        fields["bytes"].as_u64().expect("bytes") > NUMBERS * 10,
        "{ended}"
    );
    assert!(
        fields["duration_ms"].as_f64().expect("duration") > 0.0,
        "{ended}"
    );
    assert_eq!(event["span"]["name"], "stream", "{ended}");
    assert_eq!(event["span"]["source"], "numbers", "{ended}");
    assert_eq!(event["span"]["format"], "ndjson", "{ended}");
    assert_eq!(event["span"]["encoding"], "identity", "{ended}");
    assert_eq!(event["spans"][0]["name"], "request", "{ended}");
    assert_eq!(event["spans"][0]["request_id"], "req-42", "{ended}");
    assert_eq!(event["spans"][1]["name"], "stream", "{ended}");

    // Text is the default: lines for people, not JSON.
    let (listening, ended) = serve_log_lines(&fixture, None);
    assert!(serde_json::from_str::<serde_json::Value>(&listening).is_err());
    assert!(
        listening.contains("INFO") && listening.contains("addr=127.0.0.1:"),
        "{listening}"
    );
    assert!(
        ended.contains("req-42") && ended.contains("outcome=\"completed\""),
        "{ended}"
    );

    // Anything else is refused before the server starts.
    let output = Command::new(env!("CARGO_BIN_EXE_rowstream"))
        .args(["--log-format", "xml", "serve"])
        .output()
        .expect("run rowstream");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("possible values: text, json"),
        "{}",
        stderr(&output)
    );
}
