//! `rowstream serve`'s limit flags and per-query limits, run as the real binary: each ends
//! an export as a failure the client can see (a cut transfer, a tagged completion record),
//! and the server goes on serving.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use sqlx::Connection as _;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};

/// Rows of `numbers`: about 9 MB as NDJSON, far more than socket buffers hold.
const NUMBERS: u64 = 200_000;

/// The size of the one large value of `big_first` and `big_second`: 4 MiB.
const BIG: usize = 4 * 1024 * 1024;

const CONFIG: &str = r#"
[queries.paced]
sql = "SELECT n FROM numbers WHERE n <= ? ORDER BY n"
params = [{ name = "upto", type = "int" }]
rate_items = 1000

[queries.capped]
sql = "SELECT n FROM numbers ORDER BY n"
max_rows = 10
"#;

async fn fixture(dir: &Path) -> String {
    let path = dir.join("numbers.sqlite");
    let mut conn = SqliteConnection::connect_with(
        &SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true),
    )
    .await
    .expect("create the database");
    sqlx::query("CREATE TABLE numbers (n INTEGER PRIMARY KEY, label TEXT)")
        .execute(&mut conn)
        .await
        .expect("create table");
    sqlx::query(&format!(
        "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {NUMBERS}) \
         INSERT INTO numbers SELECT i, 'row number ' || i FROM s"
    ))
    .execute(&mut conn)
    .await
    .expect("insert");
    // Tables without a key (read by the direct reader) with one value of BIG bytes: in
    // the first row, and after a small one.
    for (table, rows) in [
        ("big_first", "(1, ?), (2, 'small')"),
        ("big_second", "(1, 'small'), (2, ?)"),
    ] {
        sqlx::query(&format!("CREATE TABLE {table} (id INTEGER, v TEXT)"))
            .execute(&mut conn)
            .await
            .expect("create table");
        sqlx::query(&format!("INSERT INTO {table} VALUES {rows}"))
            .bind("x".repeat(BIG))
            .execute(&mut conn)
            .await
            .expect("insert");
    }
    conn.close().await.expect("close");
    std::fs::write(dir.join("rowstream.toml"), CONFIG).expect("write the config");
    format!("sqlite://{}", path.display())
}

/// The real binary serving the fixture with `flags`; killed on drop.
struct Serve {
    child: Child,
    addr: SocketAddr,
}

impl Serve {
    fn start(dir: &Path, db: &str, flags: &[&str]) -> Self {
        let config = dir.join("rowstream.toml");
        let mut child = Command::new(env!("CARGO_BIN_EXE_rowstream"))
            .args(["--log-format", "json", "serve", "--bind", "127.0.0.1:0"])
            .args(["--db", db, "--config"])
            .arg(&config)
            .args(flags)
            .env("RUST_LOG", "info")
            .env_remove("ROWSTREAM_WRITE_TIMEOUT")
            .env_remove("ROWSTREAM_DEADLINE")
            .env_remove("ROWSTREAM_MAX_ROWS")
            .env_remove("ROWSTREAM_RATE_ITEMS")
            .env_remove("ROWSTREAM_RATE_BYTES")
            .env_remove("ROWSTREAM_MAX_ITEM_SIZE")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start rowstream serve");
        let stderr = BufReader::new(child.stderr.take().expect("stderr"));
        let mut lines = stderr.lines();
        let addr = lines
            .by_ref()
            .map(|line| line.expect("read stderr"))
            .find_map(|line| {
                let event: Value = serde_json::from_str(&line).ok()?;
                (event["fields"]["message"] == "listening")
                    .then(|| event["fields"]["addr"].as_str().map(str::to_owned))?
            })
            .expect("the server announces its address")
            .parse()
            .expect("an address");
        // Keep reading stderr so the server never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Self { child, addr }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// `GET path`: status, the body bytes received, and whether the body ended cleanly
    /// (`false`: the transfer was cut).
    async fn get(&self, path: &str) -> (u16, Vec<u8>, bool) {
        let mut response = reqwest::get(self.url(path)).await.expect("request");
        let status = response.status().as_u16();
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                Ok(None) => return (status, body, true),
                Err(_) => return (status, body, false),
            }
        }
    }

    /// The sum of the samples of metric `name` in `/metrics` whose labels contain each of
    /// `labels` (0 when there are none).
    async fn metric(&self, name: &str, labels: &[&str]) -> f64 {
        let text = reqwest::get(self.url("/metrics"))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics body");
        text.lines()
            .filter(|line| !line.starts_with('#'))
            .filter_map(|line| line.rsplit_once(' '))
            .filter(|(key, _)| key == &name || key.starts_with(&format!("{name}{{")))
            .filter(|(key, _)| labels.iter().all(|label| key.contains(label)))
            .map(|(_, value)| value.parse::<f64>().expect("a sample value"))
            .sum()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// NDJSON lines as JSON values.
fn ndjson(body: &[u8]) -> Vec<Value> {
    std::str::from_utf8(body)
        .expect("UTF-8")
        .lines()
        .map(|line| serde_json::from_str(line).expect("an NDJSON line"))
        .collect()
}

fn assert_failed_with(last: &Value, kind: &str, rows: u64) {
    let record = &last["$rowstream"];
    assert_eq!(record["complete"], false, "{last}");
    assert_eq!(record["rows"], rows, "{last}");
    assert_eq!(record["error"]["kind"], kind, "{last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_rows_flag_cuts_exports_after_that_many_rows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = fixture(dir.path()).await;
    let server = Serve::start(dir.path(), &db, &["--max-rows", "1000"]);

    let (status, body, clean) = server
        .get("/tables/numbers?format=ndjson&complete=true")
        .await;
    assert_eq!(status, 200);
    assert!(!clean, "the transfer must be cut");
    let lines = ndjson(&body);
    assert_eq!(lines.len(), 1001, "1000 rows and the error record");
    assert_eq!(lines[999]["n"], 1000);
    assert_failed_with(&lines[1000], "limit_reached", 1000);

    // A JSON array is left open: no client can mistake it for the whole table.
    let (status, body, clean) = server.get("/tables/numbers").await;
    assert_eq!(status, 200);
    assert!(!clean);
    assert!(serde_json::from_slice::<Value>(&body).is_err());
    assert!(body.starts_with(b"[{\"n\":1,"), "{:?}", &body[..20]);

    // Within the limit: complete.
    let (status, body, clean) = server
        .get("/queries/paced?upto=5&format=ndjson&complete=true")
        .await;
    assert_eq!((status, clean), (200, true));
    assert_eq!(ndjson(&body)[5]["$rowstream"]["complete"], true);

    let limited = server
        .metric(
            "rowstream_streams_total",
            &[r#"source="numbers""#, r#"outcome="limit_reached""#],
        )
        .await;
    assert_eq!(limited, 2.0, "the NDJSON and the JSON export");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadline_flag_cuts_long_exports() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = fixture(dir.path()).await;
    // 1,000 rows/s: the whole table would take 200 s.
    let server = Serve::start(
        dir.path(),
        &db,
        &["--deadline", "1s", "--rate-items", "1000"],
    );

    let started = Instant::now();
    let (status, body, clean) = server
        .get("/tables/numbers?format=ndjson&complete=true")
        .await;
    let took = started.elapsed();
    assert_eq!(status, 200);
    assert!(!clean, "the transfer must be cut");
    assert!(took < Duration::from_secs(10), "cut after {took:?}");
    let lines = ndjson(&body);
    let last = lines.last().expect("some lines");
    let rows = lines.len() as u64 - 1;
    assert_failed_with(last, "timed_out", rows);
    // About a second's worth at 1,000 rows/s, plus the burst.
    assert!(
        (500..=1_500).contains(&rows),
        "{rows} rows before the deadline"
    );
    for (i, line) in lines[..lines.len() - 1].iter().enumerate() {
        assert_eq!(line["n"], i as u64 + 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_timeout_flag_disconnects_a_stalled_client() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = fixture(dir.path()).await;
    let server = Serve::start(dir.path(), &db, &["--write-timeout", "1s"]);

    // A client that sends its request, reads a little and then stops reading.
    let mut stalled = TcpStream::connect(server.addr).expect("connect");
    stalled
        .write_all(b"GET /tables/numbers?format=ndjson HTTP/1.1\r\nHost: test\r\n\r\n")
        .expect("request");
    let mut head = [0u8; 1024];
    let n = stalled.read(&mut head).expect("read the head");
    assert!(head[..n].starts_with(b"HTTP/1.1 200 OK"));

    // The server fills the socket buffers, then waits for the write timeout.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        server
            .metric(
                "rowstream_streams_total",
                &[r#"source="numbers""#, r#"outcome="timed_out""#],
            )
            .await,
        1.0,
        "the stalled stream ends as timed out"
    );
    assert_eq!(server.metric("rowstream_streams_in_flight", &[]).await, 0.0);

    // What is left in the buffers drains, then the connection ends without the final
    // chunk of the chunked coding.
    stalled
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    let mut rest = Vec::new();
    let _ = stalled.read_to_end(&mut rest);
    let received = n + rest.len();
    assert!(
        received < 9_000_000,
        "the client got {received} bytes: the whole export"
    );
    assert!(!rest.ends_with(b"0\r\n\r\n"), "the transfer must be cut");

    // The server keeps serving.
    let (status, body, clean) = server.get("/queries/capped?format=ndjson").await;
    assert_eq!(status, 200);
    assert!(!clean, "capped stops at its max_rows");
    assert_eq!(ndjson(&body).len(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn named_queries_carry_their_own_limits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = fixture(dir.path()).await;
    let server = Serve::start(dir.path(), &db, &[]);

    // `paced` runs at 1,000 rows/s: 2,000 rows take about 2 s (the first 100 are a burst).
    let started = Instant::now();
    let (status, body, clean) = server
        .get("/queries/paced?upto=2000&format=ndjson&complete=true")
        .await;
    let took = started.elapsed();
    assert_eq!((status, clean), (200, true));
    let lines = ndjson(&body);
    assert_eq!(lines.len(), 2001);
    assert_eq!(lines[2000]["$rowstream"]["rows"], 2000);
    assert!(took >= Duration::from_millis(1_700), "took {took:?}");

    // The table itself is not paced: all 200,000 rows arrive well before 1,000 rows/s
    // would allow (200 s).
    let started = Instant::now();
    let (status, body, clean) = server
        .get("/tables/numbers?format=ndjson&complete=true")
        .await;
    assert_eq!((status, clean), (200, true));
    assert_eq!(ndjson(&body).len() as u64, NUMBERS + 1);
    assert!(started.elapsed() < Duration::from_secs(60));

    // `capped` stops after its max_rows = 10, as a failure.
    let (status, body, clean) = server
        .get("/queries/capped?format=ndjson&complete=true")
        .await;
    assert_eq!(status, 200);
    assert!(!clean);
    let lines = ndjson(&body);
    assert_eq!(lines.len(), 11);
    assert_failed_with(&lines[10], "limit_reached", 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_item_size_flag_refuses_a_large_value_before_encoding_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = fixture(dir.path()).await;
    let server = Serve::start(dir.path(), &db, &["--max-item-size", "1MiB"]);

    // The first row: nothing was sent, so the client gets a 500 naming the limit.
    for format in ["json", "ndjson", "csv"] {
        let response = reqwest::get(server.url(&format!("/tables/big_first?format={format}")))
            .await
            .expect("request");
        assert_eq!(response.status().as_u16(), 500, "{format}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json",
            "{format}"
        );
        let problem: Value =
            serde_json::from_slice(&response.bytes().await.expect("body")).expect("problem+json");
        let detail = problem["detail"].as_str().expect("a detail");
        assert!(
            detail.contains(&format!(
                "a value of {BIG} bytes exceeds max_item_size (1048576 bytes)"
            )),
            "{problem}"
        );
    }

    // After the first row: a cut transfer, with the error record when asked for.
    let (status, body, clean) = server
        .get("/tables/big_second?format=ndjson&complete=true")
        .await;
    assert_eq!(status, 200);
    assert!(!clean, "the transfer must be cut");
    let lines = ndjson(&body);
    assert_eq!(lines.len(), 2, "the small row and the error record");
    assert_eq!(lines[0]["v"], "small");
    assert_failed_with(&lines[1], "limit_reached", 1);
    let message = lines[1]["$rowstream"]["error"]["message"]
        .as_str()
        .expect("a message");
    assert!(message.contains("not encoded"), "{message}");

    // Rows within the limit stream as before.
    let (status, body, clean) = server.get("/tables/numbers?format=ndjson").await;
    assert_eq!((status, clean), (200, true));
    assert_eq!(ndjson(&body).len() as u64, NUMBERS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_item_size_is_read_from_the_environment_and_checked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = fixture(dir.path()).await;

    // A malformed size is refused before anything starts, naming the flag.
    for bad in ["1XB", "MiB", "-5", "99999999999999999999"] {
        let output = Command::new(env!("CARGO_BIN_EXE_rowstream"))
            .args(["serve", "--bind", "127.0.0.1:0", "--db", &db])
            .arg(format!("--max-item-size={bad}"))
            .stdin(Stdio::null())
            .output()
            .expect("run rowstream");
        assert!(!output.status.success(), "{bad} accepted");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("--max-item-size"), "{bad}: {stderr}");
    }

    // ROWSTREAM_MAX_ITEM_SIZE, in bytes.
    let config = dir.path().join("rowstream.toml");
    let mut child = Command::new(env!("CARGO_BIN_EXE_rowstream"))
        .args([
            "export",
            "--db",
            &db,
            "--table",
            "big_first",
            "--format",
            "ndjson",
        ])
        .arg("--config")
        .arg(&config)
        .env("ROWSTREAM_MAX_ITEM_SIZE", "65536")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run rowstream export");
    let mut stdout = Vec::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_end(&mut stdout)
        .expect("read stdout");
    let output = child.wait_with_output().expect("wait");
    assert!(!output.status.success(), "the export must fail");
    assert!(stdout.is_empty(), "{} bytes written", stdout.len());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "a value of {BIG} bytes exceeds max_item_size (65536 bytes)"
        )),
        "{stderr}"
    );

    // `0` is no limit: the whole table.
    let output = Command::new(env!("CARGO_BIN_EXE_rowstream"))
        .args([
            "export",
            "--db",
            &db,
            "--table",
            "big_second",
            "--format",
            "ndjson",
        ])
        .args(["--max-item-size", "0"])
        .stdin(Stdio::null())
        .output()
        .expect("run rowstream export");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        output.stdout.len(),
        BIG + "{\"id\":1,\"v\":\"small\"}\n{\"id\":2,\"v\":\"\"}\n".len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_expose_the_memory_bound_and_the_resident_memory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = fixture(dir.path()).await;
    let server = Serve::start(dir.path(), &db, &["--pool-size", "5"]);

    // The pipeline's 352 KiB and the SQLite reader's 832 + 768 KiB, per stream; times the
    // 4 exports in flight at most.
    let per_stream = (352 * 1024
        + rowstream::sqlite::direct::MEMORY_BOUND
        + rowstream_cli::db::SQLITE_READER_OVERHEAD) as f64;
    assert_eq!(per_stream, 1952.0 * 1024.0);
    assert_eq!(rowstream::ValidConfig::default().memory_bound(), 352 * 1024);
    assert_eq!(
        server
            .metric("rowstream_stream_memory_bound_bytes", &[])
            .await,
        per_stream
    );
    assert_eq!(
        server.metric("rowstream_memory_bound_bytes", &[]).await,
        4.0 * per_stream
    );
    let resident = server.metric("process_resident_memory_bytes", &[]).await;
    let peak = server
        .metric("process_resident_memory_peak_bytes", &[])
        .await;
    assert!(resident > 1024.0 * 1024.0, "{resident}");
    assert!(peak >= resident, "{peak} < {resident}");
}
