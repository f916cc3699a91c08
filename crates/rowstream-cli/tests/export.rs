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

#[tokio::test]
async fn a_failed_export_leaves_no_file() {
    let fixture = Fixture::new().await;
    let (db, config) = (fixture.db_url(), fixture.config());
    let out = fixture.out_dir();
    let target = out.join("export.csv");
    let target_arg = target.to_str().expect("a UTF-8 path");

    // Fails mid-way, after many chunks were written.
    let output = export(&[
        "--db",
        &db,
        "--config",
        &config,
        "--query",
        "fails_midway",
        "--format",
        "csv",
        "-o",
        target_arg,
    ]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(message.contains("failed after"), "{message}");
    assert!(message.contains("was not written"), "{message}");
    assert!(listing(&out).is_empty(), "{:?}", listing(&out));

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

/// Runs `rowstream [--log-format F] serve` on the fixture and returns the stderr line that
/// announces the listening address.
fn serve_log_line(fixture: &Fixture, format: Option<&str>) -> String {
    use std::io::BufRead as _;

    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rowstream"));
    if let Some(format) = format {
        cmd.args(["--log-format", format]);
    }
    let mut child = cmd
        .args(["serve", "--bind", "127.0.0.1:0", "--db", &fixture.db_url()])
        .env_remove("ROWSTREAM_CONFIG")
        .env_remove("ROWSTREAM_LOG_FORMAT")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start rowstream serve");
    let stderr = std::io::BufReader::new(child.stderr.take().expect("stderr"));
    let line = stderr
        .lines()
        .map(|line| line.expect("read stderr"))
        .find(|line| line.contains("listening"))
        .expect("a line saying the server listens");
    child.kill().expect("stop the server");
    child.wait().expect("wait for the server");
    line
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_format_json_writes_one_object_per_line() {
    let fixture = Fixture::new().await;

    let line = serve_log_line(&fixture, Some("json"));
    let event: serde_json::Value = serde_json::from_str(&line)
        .unwrap_or_else(|err| panic!("not a JSON log line ({err}): {line}"));
    assert_eq!(event["level"], "INFO", "{line}");
    assert_eq!(event["fields"]["message"], "listening", "{line}");
    assert_eq!(event["fields"]["database"], "sqlite", "{line}");
    let addr = event["fields"]["addr"].as_str().expect("addr field");
    assert!(addr.starts_with("127.0.0.1:"), "{line}");
    assert!(event["timestamp"].is_string(), "{line}");

    // Text is the default: a line for people, not JSON.
    let line = serve_log_line(&fixture, None);
    assert!(
        serde_json::from_str::<serde_json::Value>(&line).is_err(),
        "{line}"
    );
    assert!(
        line.contains("INFO") && line.contains("addr=127.0.0.1:"),
        "{line}"
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
