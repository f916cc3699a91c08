//! Every example, run: each example file is compiled into this test and its functions
//! are called on loopback or in memory, and their output checked.

#![allow(dead_code, unreachable_pub)]

#[path = "../examples/custom_encoder.rs"]
mod custom_encoder;
#[path = "../examples/custom_fetcher.rs"]
mod custom_fetcher;
#[path = "../examples/custom_pool.rs"]
mod custom_pool;
#[cfg(feature = "http")]
#[path = "../examples/hyper_service.rs"]
mod hyper_service;
#[cfg(all(feature = "axum", feature = "tower"))]
#[path = "../examples/limited_exports.rs"]
mod limited_exports;
#[path = "../examples/progress_observer.rs"]
mod progress_observer;
#[cfg(feature = "axum")]
#[path = "../examples/same_handler.rs"]
mod same_handler;
#[cfg(all(feature = "axum", feature = "postgres", feature = "metrics"))]
#[path = "../examples/tenant_export.rs"]
mod tenant_export;
#[cfg(all(feature = "axum", feature = "sqlite", feature = "csv"))]
#[path = "../examples/tickets_service.rs"]
mod tickets_service;
#[path = "../examples/to_file.rs"]
mod to_file;

use std::sync::Arc;
use std::sync::atomic::Ordering;

#[tokio::test]
async fn custom_encoder_writes_tsv() {
    let body = String::from_utf8(custom_encoder::tsv(2).await.unwrap()).unwrap();
    assert_eq!(body, "id\tsubject\n1\tticket\\t1\n2\tticket\\t2\n");
}

#[tokio::test]
async fn custom_fetcher_reads_every_page() {
    let body = custom_fetcher::orders_ndjson(250).await.unwrap();
    let lines: Vec<serde_json::Value> = body
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 250);
    assert_eq!(lines[0]["id"], 1);
    assert_eq!(lines[249]["id"], 250);
    assert_eq!(lines[100]["total_cents"], (101 * 1_999) % 100_000);
}

#[tokio::test]
async fn custom_pool_gets_its_buffers_back() {
    let pool = Arc::new(custom_pool::CountingPool::new());
    let bytes = custom_pool::stream_with(pool.clone(), 100_000).await;
    assert!(bytes > 500_000);
    // Give the producer task a moment to finish returning its buffers.
    for _ in 0..100 {
        if pool.gets.load(Ordering::SeqCst) == pool.puts.load(Ordering::SeqCst) {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(pool.gets.load(Ordering::SeqCst) > 0);
    assert_eq!(
        pool.gets.load(Ordering::SeqCst),
        pool.puts.load(Ordering::SeqCst)
    );
}

#[tokio::test]
async fn progress_observer_logs_and_summarizes() {
    let progress = Arc::new(progress_observer::Progress::every(10));
    progress_observer::run(200_000, progress.clone()).await;
    let lines = progress.lines.lock().unwrap();
    assert!(lines.len() > 2, "{lines:?}");
    assert!(
        lines.last().unwrap().starts_with("completed: 200000 rows"),
        "{lines:?}"
    );
}

#[tokio::test]
async fn to_file_writes_ndjson() {
    let dir = std::env::temp_dir().join(format!("rowstream-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("numbers.ndjson");
    let mut file = tokio::fs::File::create(&path).await.unwrap();
    let written = to_file::export(1000, &mut file).await.unwrap();
    drop(file);
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.len() as u64, written);
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last, serde_json::json!({"n": 999, "square": 998001}));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[cfg(all(feature = "axum", feature = "sqlite", feature = "csv"))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tickets_service_redacts_and_negotiates() {
    let pool = tickets_service::demo_pool(50).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, tickets_service::app(pool))
            .await
            .unwrap()
    });

    let json: Vec<serde_json::Value> = serde_json::from_slice(
        &reqwest::get(format!("http://{addr}/tickets"))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(json.len(), 50);
    assert_eq!(json[0]["reporter_domain"], "example.org");
    assert!(json[0].get("reporter").is_none(), "the address is redacted");

    let client = reqwest::Client::new();
    let csv = client
        .get(format!("http://{addr}/tickets"))
        .header("Accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let text = csv.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    assert_eq!(
        reader.headers().unwrap(),
        vec!["id", "subject", "reporter_domain"]
    );
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), 50);
    assert_eq!(
        &records[0][1],
        "Printer on floor 1 says \"PC LOAD LETTER\", again"
    );
}

#[cfg(feature = "http")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hyper_service_streams_negotiates_and_sends_trailers() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(hyper_service::serve(listener));
    let client = reqwest::Client::new();

    // JSON array by default, every row once, in order.
    let response = client
        .get(format!("http://{addr}/squares?rows=2500"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.headers()["vary"], "Accept");
    assert_eq!(response.headers()["x-accel-buffering"], "no");
    let rows: Vec<serde_json::Value> =
        serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    assert_eq!(rows.len(), 2500);
    assert_eq!(rows[0], serde_json::json!({"n": 1, "square": 1}));
    assert_eq!(
        rows[2499],
        serde_json::json!({"n": 2500, "square": 6_250_000})
    );

    // NDJSON by Accept.
    let response = client
        .get(format!("http://{addr}/squares?rows=3"))
        .header("Accept", "application/x-ndjson")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    assert_eq!(
        response.text().await.unwrap(),
        "{\"n\":1,\"square\":1}\n{\"n\":2,\"square\":4}\n{\"n\":3,\"square\":9}\n"
    );

    // HEAD: the headers of the GET, no body.
    let response = client
        .head(format!("http://{addr}/squares?format=jsonseq"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json-seq");
    assert!(response.bytes().await.unwrap().is_empty());

    // An unknown format: 406 problem+json listing what this build offers.
    let response = client
        .get(format!("http://{addr}/squares?format=xml"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 406);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    assert_eq!(response.headers()["vary"], "Accept");
    let problem: serde_json::Value =
        serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    assert!(
        problem["supported"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("application/json"))
    );

    // A source that fails before its first row: its Problem's status, not a cut 200.
    let response = client
        .get(format!("http://{addr}/broken"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem: serde_json::Value =
        serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    assert_eq!(problem["title"], "Upstream unavailable");

    let response = client
        .get(format!("http://{addr}/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);

    // TE: trailers: the chunked body ends with the outcome and the row count.
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    socket
        .write_all(
            b"GET /squares?rows=3&format=ndjson HTTP/1.1\r\nHost: localhost\r\n\
              TE: trailers\r\nConnection: close\r\n\r\n",
        )
        .await
        .unwrap();
    let mut raw = String::new();
    socket.read_to_string(&mut raw).await.unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let head = head.to_ascii_lowercase();
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
    assert!(
        head.contains("trailer: rowstream-outcome, rowstream-rows, rowstream-error"),
        "{head}"
    );
    assert!(body.contains("{\"n\":3,\"square\":9}\n"), "{body}");
    let (_, trailers) = body.rsplit_once("\r\n0\r\n").unwrap();
    let mut trailers: Vec<&str> = trailers.lines().filter(|l| !l.is_empty()).collect();
    trailers.sort_unstable();
    assert_eq!(
        trailers,
        ["rowstream-outcome: complete", "rowstream-rows: 3"],
        "{body:?}"
    );
}

#[cfg(all(feature = "axum", feature = "postgres", feature = "metrics"))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_export_binds_the_tenant_and_shares_the_limits() {
    let Ok(url) = std::env::var("ROWSTREAM_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "ROWSTREAM_TEST_POSTGRES_URL must be set in CI"
        );
        eprintln!("skipped: ROWSTREAM_TEST_POSTGRES_URL is not set");
        return;
    };
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let table = format!("rowstream_example_tickets_{}_{nanos}", std::process::id());
    // Tenant 1, 2 and 3 have one row more each than one export may carry.
    let per_tenant = i64::try_from(tenant_export::MAX_ROWS).unwrap() + 1;
    tenant_export::seed(&pool, &table, per_tenant)
        .await
        .unwrap();
    sqlx::query(&format!(
        "DELETE FROM {table} WHERE tenant = 2 AND subject <> 'ticket 7'"
    ))
    .execute(&pool)
    .await
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = tenant_export::app(pool.clone(), &table);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let client = reqwest::Client::new();

    // The bound tenant selects its rows; the typed rows come out as objects, as NDJSON.
    let response = client
        .get(format!("http://{addr}/tenants/2/tickets"))
        .header("Accept", "application/x-ndjson")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    let text = response.text().await.unwrap();
    let rows: Vec<serde_json::Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(rows.len(), 1, "{text}");
    assert_eq!(rows[0]["tenant"], 2);
    assert_eq!(rows[0]["subject"], "ticket 7");
    assert!(rows[0]["id"].as_i64().unwrap() > 0);

    // The shared limit: tenant 3's export fails at row MAX_ROWS + 1, after the rows before
    // it: the chunked body ends without its last chunk, which the client sees as an error.
    let response = client
        .get(format!("http://{addr}/tenants/3/tickets?format=ndjson"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let err = response.bytes().await.unwrap_err();
    assert!(err.is_body() || err.is_decode(), "{err:?}");

    // A tenant id that is not a number: 400 before any query.
    let response = client
        .get(format!("http://{addr}/tenants/x/tickets"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    sqlx::query(&format!("DROP TABLE {table}"))
        .execute(&pool)
        .await
        .unwrap();
}

#[cfg(all(feature = "axum", feature = "tower"))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limited_exports_caps_streams_not_other_routes() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let layer = rowstream::tower::StreamLimitLayer::new(2);
    let slots = layer.slots().clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = limited_exports::app(layer);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    // Two clients start long exports and stop reading after their first bytes.
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        tcp.write_all(b"GET /export HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut head = [0_u8; 12];
        tcp.read_exact(&mut head).await.unwrap();
        assert_eq!(&head, b"HTTP/1.1 200");
        held.push(tcp);
    }
    assert_eq!(slots.available(), 0);
    let client = reqwest::Client::new();
    let busy = client
        .get(format!("http://{addr}/export?rows=3"))
        .send()
        .await
        .unwrap();
    assert_eq!(busy.status(), 503);
    assert_eq!(busy.headers()["retry-after"], "1");
    let health = client
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200, "other routes take no slot");

    drop(held);
    let start = std::time::Instant::now();
    while slots.available() < 2 {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(2),
            "the slots did not come back"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let rows = client
        .get(format!("http://{addr}/export?rows=3&format=ndjson"))
        .send()
        .await
        .unwrap();
    assert_eq!(rows.status(), 200);
    assert_eq!(
        rows.text().await.unwrap(),
        "{\"n\":0}\n{\"n\":1}\n{\"n\":2}\n"
    );
}

#[cfg(feature = "axum")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_handler_answers_alike_under_axum_and_hyper() {
    let streamer = Arc::new(rowstream::Streamer::default());
    let axum_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hyper_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let axum_addr = axum_listener.local_addr().unwrap();
    let hyper_addr = hyper_listener.local_addr().unwrap();
    let app = same_handler::axum_app(streamer.clone());
    tokio::spawn(async move { axum::serve(axum_listener, app).await.unwrap() });
    tokio::spawn(same_handler::serve_hyper(hyper_listener, streamer));

    let client = reqwest::Client::new();
    let mut answers = Vec::new();
    for addr in [axum_addr, hyper_addr] {
        for accept in ["application/x-ndjson", "application/json", "image/png"] {
            let response = client
                .get(format!("http://{addr}/numbers"))
                .header("Accept", accept)
                .send()
                .await
                .unwrap();
            let status = response.status();
            let content_type = response.headers()["content-type"].clone();
            answers.push((status, content_type, response.bytes().await.unwrap()));
        }
    }
    let (axum_answers, hyper_answers) = answers.split_at(3);
    assert_eq!(axum_answers, hyper_answers);
    assert_eq!(axum_answers[0].0, 200);
    let lines: Vec<&[u8]> = axum_answers[0].2.split(|b| *b == b'\n').collect();
    assert_eq!(lines[0], br#"{"n":1,"square":1}"#);
    assert_eq!(lines[99], br#"{"n":100,"square":10000}"#);
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&axum_answers[1].2).unwrap();
    assert_eq!(rows.len(), 100);
    assert_eq!(axum_answers[2].0, 406);
}
