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
