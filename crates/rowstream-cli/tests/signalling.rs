//! Through `rowstream serve` with curl: a client can always tell a failed export from a
//! complete one — with `TE: trailers`, over HTTP/1.0, over HTTP/2, compressed, and when
//! the query fails before its first row — and row 1 never waits for the rest.
//! (`scripts/failure-matrix.sh` walks every transport × format × coding, proxies included.)

mod common;

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::binary::Binary;
use common::sql;

const QUERIES: &str = r#"
[queries.fail_early]
description = "Fails before its first row, 300 ms in"
sql = "SELECT i, 1 / (i - i) AS q FROM generate_series(1, 10) i, pg_sleep(0.3)"

[queries.fail_late]
description = "Fails on row 100,001"
sql = "SELECT i, 1 / (100001 - i) AS q FROM generate_series(1, 200000) i"

[queries.fail_tenth]
description = "Fails on row 11, at once"
sql = "SELECT i, 10 / (11 - i) AS q FROM generate_series(1, 20) i"

[queries.complete]
description = "100,000 rows"
sql = "SELECT i, 'row ' || i AS label FROM generate_series(1, 100000) i"

[queries.pause]
description = "Row 1, then 3 s of work, then rows 2 to 5"
sql = "SELECT 1 AS i UNION ALL SELECT i FROM @SCHEMA@.pause(3) p, generate_series(2, 5) i"
"#;

/// Raises a notice, which makes PostgreSQL send the rows it holds (row 1), then sleeps.
const PAUSE: &str = "CREATE FUNCTION pause(secs float8) RETURNS int LANGUAGE plpgsql AS $$
BEGIN RAISE NOTICE 'pausing'; PERFORM pg_sleep(secs); RETURN 0; END $$";

/// What a test keeps alive: the server, its config's folder, the scratch schema.
type Running = (Binary, tempfile::TempDir, sql::Scratch);

/// The PostgreSQL URL, a scratch schema holding the pause function, and a config file
/// with [`QUERIES`] in a temporary folder.
fn setup() -> Option<(String, sql::Scratch, tempfile::TempDir, std::path::PathBuf)> {
    let url = sql::postgres_url()?;
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let scratch = runtime.block_on(async {
        let scratch = sql::Scratch::postgres("rowstream_signal").await?;
        let pool = scratch.pg_pool(1).await;
        sqlx::query(PAUSE)
            .execute(&pool)
            .await
            .expect("create the function");
        pool.close().await;
        Some(scratch)
    })?;
    let dir = tempfile::tempdir().expect("a temporary folder");
    let config = dir.path().join("rowstream.toml");
    std::fs::write(&config, QUERIES.replace("@SCHEMA@", &scratch.name)).expect("write the config");
    Some((url, scratch, dir, config))
}

/// One `rowstream serve` on PostgreSQL with [`QUERIES`], with HTTP/2 beside HTTP/1.
fn server() -> Option<Running> {
    let (url, scratch, dir, config) = setup()?;
    let server = Binary::serve(
        &[
            "--db",
            &url,
            "--config",
            config.to_str().expect("a UTF-8 path"),
            "--bind",
            "127.0.0.1:0",
            "--http2",
        ],
        &[],
    );
    Some((server, dir, scratch))
}

/// What curl saw: its exit code, the headers and trailers it wrote with `-D`, the body.
struct Seen {
    exit: i32,
    head: String,
    body: Vec<u8>,
}

impl Seen {
    fn status(&self) -> u16 {
        let line = self.head.lines().next().unwrap_or_default();
        line.split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }

    /// The last value of the header or trailer `name` (trailers come after the headers).
    fn field(&self, name: &str) -> Option<String> {
        self.head
            .lines()
            .rev()
            .filter_map(|line| line.split_once(':'))
            .find(|(key, _)| key.trim().eq_ignore_ascii_case(name))
            .map(|(_, value)| value.trim().to_owned())
    }

    fn lines(&self) -> usize {
        self.body.iter().filter(|&&b| b == b'\n').count()
    }
}

fn curl(url: &str, args: &[&str]) -> Seen {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let head = dir.path().join("head");
    let Output { status, stdout, .. } = Command::new("curl")
        .args(["-sS", "--max-time", "60", "-D"])
        .arg(&head)
        .args(args)
        .arg(url)
        .output()
        .expect("run curl");
    Seen {
        exit: status.code().unwrap_or(-1),
        head: std::fs::read_to_string(&head).unwrap_or_default(),
        body: stdout,
    }
}

#[test]
fn trailers_through_the_server_tell_failure_from_completion() {
    let Some((server, _dir, _scratch)) = server() else {
        return;
    };
    let failed = curl(
        &format!("{}/queries/fail_late?format=ndjson", server.base),
        &["-H", "TE: trailers"],
    );
    assert_eq!(failed.status(), 200);
    assert_eq!(failed.lines(), 100_000);
    assert_eq!(
        failed.field("rowstream-outcome").as_deref(),
        Some("error"),
        "{}",
        failed.head
    );
    assert_eq!(failed.field("rowstream-rows").as_deref(), Some("100000"));
    assert!(
        failed
            .field("rowstream-error")
            .is_some_and(|e| e.contains("division by zero")),
        "{}",
        failed.head
    );

    let complete = curl(
        &format!("{}/queries/complete?format=ndjson", server.base),
        &["-H", "TE: trailers"],
    );
    assert_eq!(complete.exit, 0);
    assert_eq!(complete.lines(), 100_000);
    assert_eq!(
        complete.field("rowstream-outcome").as_deref(),
        Some("complete"),
        "{}",
        complete.head
    );
    assert_eq!(complete.field("rowstream-rows").as_deref(), Some("100000"));
}

#[test]
fn http_1_0_failure_is_a_reset_not_a_clean_close() {
    let Some((server, _dir, _scratch)) = server() else {
        return;
    };
    for format in ["ndjson", "json", "csv"] {
        let failed = curl(
            &format!("{}/queries/fail_late?format={format}", server.base),
            &["--http1.0"],
        );
        assert_eq!(failed.status(), 200, "{format}");
        assert_ne!(
            failed.exit, 0,
            "{format}: a cut HTTP/1.0 body ended cleanly"
        );
        if format == "ndjson" {
            // The reset waits for the rows before the failure to be delivered.
            assert_eq!(failed.lines(), 100_000);
        }
    }
    // HTTP/1.1 bodies are chunked: the missing terminating chunk is the signal, and the
    // connection closes normally (curl: 18, a transfer closed with data outstanding).
    let chunked = curl(
        &format!("{}/queries/fail_late?format=ndjson", server.base),
        &["--http1.1"],
    );
    assert_eq!(chunked.exit, 18);
    assert_eq!(chunked.lines(), 100_000);
    let complete = curl(
        &format!("{}/queries/complete?format=ndjson", server.base),
        &["--http1.0", "-H", "Connection: keep-alive"],
    );
    assert_eq!(complete.exit, 0);
    assert_eq!(complete.lines(), 100_000);
    // The body's end is the connection's: it is not kept alive.
    assert_ne!(
        complete
            .field("connection")
            .map(|v| v.to_ascii_lowercase())
            .as_deref(),
        Some("keep-alive"),
        "{}",
        complete.head
    );
}

#[test]
fn http2_failure_resets_the_stream() {
    let Some((server, _dir, _scratch)) = server() else {
        return;
    };
    let failed = curl(
        &format!("{}/queries/fail_late?format=ndjson", server.base),
        &["--http2-prior-knowledge"],
    );
    assert!(failed.head.starts_with("HTTP/2 200"), "{}", failed.head);
    assert_ne!(failed.exit, 0, "a failed HTTP/2 export ended cleanly");
    // The reset must not drop the data frames still queued for the stream.
    assert_eq!(failed.lines(), 100_000);
    for _ in 0..3 {
        let record = curl(
            &format!(
                "{}/queries/fail_late?format=ndjson&complete=true",
                server.base
            ),
            &["--http2-prior-knowledge"],
        );
        assert_ne!(record.exit, 0);
        let text = String::from_utf8_lossy(&record.body);
        let last = text.lines().last().unwrap_or_default();
        assert!(
            last.contains("\"complete\":false"),
            "the error record is missing: {} lines, last {last:?}",
            record.lines()
        );
    }
    let complete = curl(
        &format!("{}/queries/complete?format=ndjson", server.base),
        &["--http2-prior-knowledge"],
    );
    assert!(complete.head.starts_with("HTTP/2 200"), "{}", complete.head);
    assert_eq!(complete.exit, 0);
    assert_eq!(complete.lines(), 100_000);
}

#[test]
fn failures_before_the_first_row_get_a_status_in_every_format() {
    let Some((server, _dir, _scratch)) = server() else {
        return;
    };
    for format in ["json", "csv", "ndjson", "jsonseq", "msgpack"] {
        let seen = curl(
            &format!("{}/queries/fail_early?format={format}", server.base),
            &[],
        );
        assert_eq!(seen.status(), 500, "{format}: {}", seen.head);
        assert_eq!(
            seen.field("content-type").as_deref(),
            Some("application/problem+json"),
            "{format}"
        );
    }
    // Compressed: the failure comes while the response still looks ahead.
    let seen = curl(
        &format!("{}/queries/fail_tenth?format=json", server.base),
        &["-H", "Accept-Encoding: gzip"],
    );
    assert_eq!(seen.status(), 500, "{}", seen.head);
}

#[test]
fn compressed_row_1_does_not_wait_for_the_rest() {
    let Some((server, _dir, _scratch)) = server() else {
        return;
    };
    for coding in ["gzip", "zstd", "br"] {
        // curl reports when the first body byte arrived.
        let started = Instant::now();
        let output = Command::new("curl")
            .args(["-sS", "-o", "/dev/null", "-w", "%{time_starttransfer}"])
            .args(["-H", &format!("Accept-Encoding: {coding}")])
            .arg(format!("{}/queries/pause?format=ndjson", server.base))
            .output()
            .expect("run curl");
        let first_byte: f64 = String::from_utf8_lossy(&output.stdout)
            .trim()
            .parse()
            .expect("a time");
        assert!(output.status.success(), "{coding}");
        assert!(started.elapsed() >= Duration::from_secs(3), "{coding}");
        assert!(
            first_byte < 1.5,
            "{coding}: row 1 arrived after {first_byte} s, with the 3 s pause"
        );
    }
}

#[test]
fn export_compressed_to_a_pipe_sends_row_1_before_the_pause_ends() {
    use std::io::Read as _;

    let Some((url, _scratch, _dir, config)) = setup() else {
        return;
    };
    for coding in ["gzip", "zstd"] {
        let started = Instant::now();
        let mut child = common::binary::command(&[
            "export",
            "--db",
            &url,
            "--config",
            config.to_str().expect("a UTF-8 path"),
            "--query",
            "pause",
            "--format",
            "ndjson",
            "--compress",
            coding,
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run rowstream export");
        let mut stdout = child.stdout.take().expect("stdout");
        let mut first = [0u8; 1];
        stdout.read_exact(&mut first).expect("a first byte");
        let first_byte = started.elapsed();
        let mut rest = Vec::new();
        stdout.read_to_end(&mut rest).expect("the rest");
        assert!(child.wait().expect("exit").success(), "{coding}");
        assert!(started.elapsed() >= Duration::from_secs(3), "{coding}");
        assert!(
            first_byte < Duration::from_millis(2500),
            "{coding}: the first byte came after {first_byte:?}, with the 3 s pause"
        );
    }
}
