//! Every example, run: each example file is compiled into this test and its functions
//! are called on loopback or in memory, and their output checked.

#![allow(dead_code, unreachable_pub)]

#[path = "../examples/custom_encoder.rs"]
mod custom_encoder;
#[path = "../examples/custom_fetcher.rs"]
mod custom_fetcher;
#[path = "../examples/custom_pool.rs"]
mod custom_pool;
#[path = "../examples/progress_observer.rs"]
mod progress_observer;
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
