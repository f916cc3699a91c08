//! The axum integration over a real server on loopback: headers, early errors as
//! problem+json, late errors as cut transfers, and disconnects that stop the fetcher.

#![cfg(feature = "axum")]

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::response::Response;
use axum::routing::get;
use futures_util::StreamExt;
use rowstream::{BoxError, fetch};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

async fn serve(app: Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// Items 0, 1, 2, … as JSON numbers; item `fail_at` is an error.
fn failing_at(fail_at: u64) -> impl futures_core::Stream<Item = Result<u64, BoxError>> + Send {
    fetch::from_iter(0..10_000u64).map(move |i| {
        let i = i.unwrap_or_else(|never| match never {});
        if i == fail_at {
            Err(format!("database went away at row {i}").into())
        } else {
            Ok(i)
        }
    })
}

/// A raw HTTP/1.1 GET; returns everything the server sent until it closed.
async fn raw_get(addr: SocketAddr, path: &str) -> Vec<u8> {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut raw = Vec::new();
    let _ = tcp.read_to_end(&mut raw).await; // a reset also ends the transfer
    raw
}

/// Decodes a chunked body; returns the data and whether the terminating chunk came.
fn dechunk(body: &[u8]) -> (Vec<u8>, bool) {
    let mut data = Vec::new();
    let mut rest = body;
    loop {
        let Some(line_end) = rest.windows(2).position(|w| w == b"\r\n") else {
            return (data, false);
        };
        let size =
            usize::from_str_radix(std::str::from_utf8(&rest[..line_end]).unwrap(), 16).unwrap();
        rest = &rest[line_end + 2..];
        if size == 0 {
            return (data, rest.starts_with(b"\r\n"));
        }
        if rest.len() < size + 2 {
            data.extend_from_slice(&rest[..rest.len().min(size)]);
            return (data, false);
        }
        data.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

fn split_head(raw: &[u8]) -> (String, &[u8]) {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    (
        String::from_utf8_lossy(&raw[..end]).into_owned(),
        &raw[end + 4..],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn complete_stream_has_headers_and_terminating_chunk() {
    async fn handler() -> Response {
        rowstream::axum::json_array(fetch::from_iter(0..5000u64)).await
    }
    let addr = serve(Router::new().route("/", get(handler))).await;
    let raw = raw_get(addr, "/").await;
    let (head, body) = split_head(&raw);
    let head = head.to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("content-type: application/json"), "{head}");
    assert!(head.contains("x-accel-buffering: no"), "{head}");
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
    let (data, terminated) = dechunk(body);
    assert!(
        terminated,
        "a complete stream ends with the zero-length chunk"
    );
    let values: Vec<u64> = serde_json::from_slice(&data).unwrap();
    assert_eq!(values, (0..5000).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_after_first_byte_cuts_the_transfer() {
    async fn handler() -> Response {
        rowstream::axum::json_array(failing_at(1000)).await
    }
    let addr = serve(Router::new().route("/", get(handler))).await;

    // On the wire: a 200, then the chunks, then a close without the zero-length chunk.
    let raw = raw_get(addr, "/").await;
    let (head, body) = split_head(&raw);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let (data, terminated) = dechunk(body);
    assert!(
        !terminated,
        "a failed stream must not end with the terminating chunk"
    );
    assert!(serde_json::from_slice::<serde_json::Value>(&data).is_err());
    // Every item before the failure arrived, once, in order; the array is never closed.
    let expected = format!(
        "[{}",
        (0..1000)
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(",")
    );
    assert_eq!(String::from_utf8(data).unwrap(), expected);

    // A real HTTP client reports the truncation as an error.
    let response = reqwest::get(format!("http://{addr}/")).await.unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream();
    let mut saw_error = false;
    while let Some(chunk) = body.next().await {
        if chunk.is_err() {
            saw_error = true;
            break;
        }
    }
    assert!(saw_error, "the client must see an incomplete transfer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_before_first_byte_is_problem_json() {
    async fn handler() -> Response {
        rowstream::axum::json_array(failing_at(0)).await
    }
    let addr = serve(Router::new().route("/", get(handler))).await;
    let response = reqwest::get(format!("http://{addr}/")).await.unwrap();
    assert_eq!(response.status(), 500);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem: serde_json::Value =
        serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    assert_eq!(problem["status"], 500);
    assert_eq!(problem["type"], "about:blank");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("database went away at row 0"),
        "{problem}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn problem_error_from_fetcher_keeps_its_status() {
    use rowstream::axum::Problem;
    async fn handler() -> Response {
        let fetcher = futures_util::stream::once(async {
            Err::<u8, _>(Problem::new(http::StatusCode::BAD_REQUEST, "bad cursor"))
        });
        rowstream::axum::json_array(fetcher).await
    }
    let addr = serve(Router::new().route("/", get(handler))).await;
    let response = reqwest::get(format!("http://{addr}/")).await.unwrap();
    assert_eq!(response.status(), 400);
    let problem: serde_json::Value =
        serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    assert_eq!(problem["title"], "bad cursor");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_disconnect_drops_the_fetcher_within_one_second() {
    struct DropSignal(Option<tokio::sync::oneshot::Sender<()>>);
    impl Drop for DropSignal {
        fn drop(&mut self) {
            if let Some(tx) = self.0.take() {
                let _ = tx.send(());
            }
        }
    }
    let (dropped_tx, dropped_rx) = tokio::sync::oneshot::channel();
    let signal = std::sync::Arc::new(std::sync::Mutex::new(Some(DropSignal(Some(dropped_tx)))));

    let app = Router::new().route(
        "/",
        get(move || {
            let signal = signal.lock().unwrap().take();
            async move {
                // An endless source that owns the drop signal.
                let guard = signal;
                let endless = futures_util::stream::iter(0u64..).map(move |i| {
                    let _keep = &guard;
                    Ok::<_, std::convert::Infallible>(format!("row {i} with some padding text"))
                });
                rowstream::axum::json_array(endless).await
            }
        }),
    );
    let addr = serve(app).await;

    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    let mut got = 0;
    while got < 200_000 {
        let n = tcp.read(&mut buf).await.unwrap();
        assert!(n > 0);
        got += n;
    }
    drop(tcp);
    tokio::time::timeout(Duration::from_secs(1), dropped_rx)
        .await
        .expect("the fetcher must be dropped within 1 s of the disconnect")
        .unwrap();
}
