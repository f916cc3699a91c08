//! Flow control over a real server on loopback: compression negotiated and flushed per
//! chunk, tiny bodies left alone, panics at row 0 and row 500, a 64 MiB item, and a
//! stalled client cut by the write timeout.

#![cfg(all(feature = "axum", feature = "compression"))]

mod support;

use std::time::{Duration, Instant};

use async_compression::tokio::write::{BrotliDecoder, GzipDecoder, ZstdDecoder};
use axum::Router;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::StreamExt;
use rowstream::axum::StreamResponse;
use rowstream::{Identity, JsonArray, Limits, Streamer, fetch};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn decode(coding: &str, data: &[u8]) -> Vec<u8> {
    async fn run<W: tokio::io::AsyncWrite + Unpin>(mut w: W, data: &[u8]) -> W {
        w.write_all(data).await.unwrap();
        w.flush().await.unwrap();
        w
    }
    match coding {
        "gzip" => run(GzipDecoder::new(Vec::new()), data).await.into_inner(),
        "zstd" => run(ZstdDecoder::new(Vec::new()), data).await.into_inner(),
        "br" => run(BrotliDecoder::new(Vec::new()), data).await.into_inner(),
        other => panic!("unexpected coding {other}"),
    }
}

/// A source that yields one row, waits `pause`, then yields another.
fn pausing(
    pause: Duration,
) -> impl futures_core::Stream<Item = Result<String, std::convert::Infallible>> + Send {
    futures_util::stream::unfold(0u8, move |step| async move {
        match step {
            0 => Some((Ok("first row ".repeat(200)), 1)),
            1 => {
                tokio::time::sleep(pause).await;
                Some((Ok("second row".to_owned()), 2))
            }
            _ => None,
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressed_first_row_arrives_before_the_second_exists() {
    async fn handler(headers: HeaderMap) -> impl IntoResponse {
        let chunks =
            Streamer::default().stream(pausing(Duration::from_secs(2)), Identity, JsonArray::new());
        StreamResponse::for_request(&headers).respond(chunks).await
    }
    let addr = support::serve(Router::new().route("/", get(handler))).await;
    for coding in ["gzip", "zstd", "br"] {
        let start = Instant::now();
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        let request = format!(
            "GET / HTTP/1.1\r\nHost: x\r\nAccept-Encoding: {coding}\r\nConnection: close\r\n\r\n"
        );
        tcp.write_all(request.as_bytes()).await.unwrap();
        // Read until the first row decodes.
        let mut raw = Vec::new();
        let mut buf = vec![0u8; 65536];
        let first_row_at = loop {
            let n = tcp.read(&mut buf).await.unwrap();
            assert!(n > 0, "{coding}: closed before the first row");
            raw.extend_from_slice(&buf[..n]);
            if raw.windows(4).any(|w| w == b"\r\n\r\n") {
                let response = support::parse_response(&raw);
                if !response.body.is_empty() {
                    let plain = decode(coding, &response.body).await;
                    if plain.starts_with(b"[\"first row") {
                        break start.elapsed();
                    }
                }
            }
        };
        assert!(
            first_row_at < Duration::from_secs(1),
            "{coding}: first row after {first_row_at:?}"
        );
        let _ = tcp.read_to_end(&mut raw).await;
        let response = support::parse_response(&raw);
        assert!(start.elapsed() >= Duration::from_secs(2));
        assert_eq!(response.header("content-encoding"), Some(coding));
        assert_eq!(response.header("vary"), Some("accept, accept-encoding"));
        assert!(response.terminated);
        let plain = decode(coding, &response.body).await;
        let values: Vec<String> = serde_json::from_slice(&plain).unwrap();
        assert_eq!(values, ["first row ".repeat(200), "second row".to_owned()]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiny_bodies_and_identity_are_not_compressed() {
    async fn handler(headers: HeaderMap) -> impl IntoResponse {
        let chunks =
            Streamer::default().stream(fetch::from_iter(0..3u8), Identity, JsonArray::new());
        StreamResponse::for_request(&headers).respond(chunks).await
    }
    let addr = support::serve(Router::new().route("/", get(handler))).await;
    let raw = support::raw_get(addr, "/", &["Accept-Encoding: gzip"]).await;
    let response = support::parse_response(&raw);
    assert_eq!(response.header("content-encoding"), None);
    assert_eq!(response.body, b"[0,1,2]");
    let raw = support::raw_get(addr, "/", &["Accept-Encoding: gzip;q=0, identity"]).await;
    assert_eq!(support::parse_response(&raw).body, b"[0,1,2]");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panics_fail_only_their_own_stream() {
    async fn handler(axum::extract::Path(at): axum::extract::Path<u32>) -> Response {
        let transformer = move |i: u32| -> Result<u32, std::io::Error> {
            assert!(i != at, "bad row {i}");
            Ok(i)
        };
        let chunks =
            Streamer::default().stream(fetch::from_iter(0..1000u32), transformer, JsonArray::new());
        rowstream::axum::into_response(chunks).await
    }
    let addr = support::serve(Router::new().route("/{at}", get(handler))).await;
    // At row 0: nothing was sent, so a real 500 with problem+json.
    let raw = support::raw_get(addr, "/0", &[]).await;
    let response = support::parse_response(&raw);
    assert!(
        response.head.starts_with("http/1.1 500"),
        "{}",
        response.head
    );
    assert_eq!(
        response.header("content-type"),
        Some("application/problem+json")
    );
    // A problem body has a Content-Length, not chunks.
    let body_at = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let problem: serde_json::Value = serde_json::from_slice(&raw[body_at..]).unwrap();
    assert!(
        problem["detail"].as_str().unwrap().contains("bad row 0"),
        "{problem}"
    );
    // At row 500: a 200 cut without the terminating chunk, rows 0..500 delivered.
    let response = support::parse_response(&support::raw_get(addr, "/500", &[]).await);
    assert!(response.head.starts_with("http/1.1 200"));
    assert!(!response.terminated);
    let expected = format!(
        "[{}",
        (0..500)
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(",")
    );
    assert_eq!(String::from_utf8(response.body).unwrap(), expected);
    // The server goes on serving.
    let response = support::parse_response(&support::raw_get(addr, "/5000", &[]).await);
    assert!(response.terminated);
    let values: Vec<u32> = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(values.len(), 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_64_mib_item_between_small_ones() {
    async fn handler() -> Response {
        let mut items = vec!["s".repeat(1024); 5];
        items.push("h".repeat(64 * 1024 * 1024));
        items.extend(vec!["t".repeat(1024); 5]);
        rowstream::axum::json_array(fetch::from_iter(items)).await
    }
    let addr = support::serve(Router::new().route("/", get(handler))).await;
    let response = support::parse_response(&support::raw_get(addr, "/", &[]).await);
    assert!(response.terminated);
    let values: Vec<String> = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(values.len(), 11);
    assert_eq!(values[5].len(), 64 * 1024 * 1024);
    assert_eq!(values[10], "t".repeat(1024));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_client_is_disconnected_after_the_write_timeout() {
    let (dropped_tx, dropped_rx) = tokio::sync::oneshot::channel::<()>();
    let dropped_tx = std::sync::Arc::new(std::sync::Mutex::new(Some(dropped_tx)));
    let app = Router::new().route(
        "/",
        get(move || {
            let guard = DropSignal(dropped_tx.lock().unwrap().take());
            async move {
                let endless = futures_util::stream::iter(0u64..).map(move |i| {
                    let _keep = &guard;
                    Ok::<_, std::convert::Infallible>(format!(
                        "row {i} with padding to make it longer"
                    ))
                });
                let streamer = Streamer::default()
                    .with_limits(Limits::default().write_timeout(Duration::from_millis(500)));
                rowstream::axum::into_response(streamer.stream(endless, Identity, JsonArray::new()))
                    .await
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let listener = rowstream::axum::WriteTimeoutListener::new(listener, Duration::from_millis(500));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    // Send the request, read a little, then stop reading (but keep the socket open).
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 16 * 1024];
    let n = tcp.read(&mut buf).await.unwrap();
    assert!(n > 0);
    let stalled = Instant::now();
    tokio::time::timeout(Duration::from_secs(5), dropped_rx)
        .await
        .expect("the fetcher is dropped within 5 s of the client stalling")
        .unwrap();
    let took = stalled.elapsed();
    assert!(took >= Duration::from_millis(400), "{took:?}");
    // And the server closed the connection: reading drains what was buffered, then ends.
    let drained = tokio::time::timeout(Duration::from_secs(5), async {
        let mut total = 0usize;
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => return total,
                Ok(n) => total += n,
            }
        }
    })
    .await
    .expect("the connection is closed");
    assert!(drained < 64 * 1024 * 1024);
    drop(tcp);
}

struct DropSignal(Option<tokio::sync::oneshot::Sender<()>>);

impl Drop for DropSignal {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(());
        }
    }
}
