//! `tower::StreamLimitLayer` under load: the cap holds while streams run, requests over it
//! get a 503 problem+json with `Retry-After` at once without running the handler, and
//! slots come back when a body ends or its client leaves.

#![cfg(all(feature = "tower", feature = "axum"))]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response};
use http_body_util::{BodyExt, StreamBody as FrameStream};
use rowstream::tower::StreamLimitLayer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::ServiceExt;

const CAP: usize = 3;

/// What the handler saw: how often it ran, how many of its streams are running, the most
/// that ever ran at once.
#[derive(Default)]
struct Load {
    calls: AtomicUsize,
    active: AtomicUsize,
    most: AtomicUsize,
}

/// Counts a running stream from its start until its producer is dropped.
struct Running(Arc<Load>);

impl Running {
    fn start(load: Arc<Load>) -> Self {
        let now = load.active.fetch_add(1, Ordering::SeqCst) + 1;
        load.most.fetch_max(now, Ordering::SeqCst);
        Self(load)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::SeqCst);
    }
}

/// One row, then nothing until the client leaves.
async fn endless(State(load): State<Arc<Load>>) -> impl IntoResponse {
    load.calls.fetch_add(1, Ordering::SeqCst);
    let running = Running::start(load);
    let rows = rowstream::fetch::from_channel(1, move |tx| async move {
        let _running = running;
        tx.send(1_u32).await?;
        std::future::pending::<()>().await;
        Ok::<_, rowstream::fetch::Closed>(())
    });
    rowstream::axum::json_array(rows).await
}

async fn serve(layer: StreamLimitLayer, load: Arc<Load>) -> SocketAddr {
    let app = Router::new()
        .route("/endless", get(endless))
        .route(
            "/three",
            get(|| rowstream::axum::json_array(rowstream::fetch::from_iter(1..=3_u8))),
        )
        .route_layer(layer)
        .with_state(load);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// A client that sent a GET and read the head and the first row of its stream; dropping
/// it closes the connection.
async fn hold_stream(addr: SocketAddr) -> tokio::net::TcpStream {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET /endless HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut seen = Vec::new();
    let mut buf = [0_u8; 1024];
    while !String::from_utf8_lossy(&seen).contains("[1") {
        let n = tcp.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed: {}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    assert!(
        seen.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&seen)
    );
    tcp
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "after 2 s: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cap_holds_under_load_and_slots_come_back_on_disconnect() {
    let load = Arc::new(Load::default());
    let layer = StreamLimitLayer::new(CAP);
    let slots = layer.slots().clone();
    let addr = serve(layer, load.clone()).await;

    let held: Vec<_> = futures_util::future::join_all((0..CAP).map(|_| hold_stream(addr))).await;
    assert_eq!(slots.available(), 0);

    // 60 requests at once while every slot is taken: each a 503 problem+json with
    // Retry-After, none reaching the handler.
    let client = reqwest::Client::new();
    let start = Instant::now();
    let rejected = futures_util::future::join_all((0..60).map(|_| {
        let client = client.clone();
        async move {
            let response = client
                .get(format!("http://{addr}/endless"))
                .send()
                .await
                .unwrap();
            let headers = response.headers().clone();
            (response.status(), headers, response.text().await.unwrap())
        }
    }))
    .await;
    let took = start.elapsed();
    eprintln!("60 rejections answered in {took:?} while {CAP} streams ran");
    for (status, headers, body) in &rejected {
        assert_eq!(*status, 503, "{body}");
        assert_eq!(headers["retry-after"], "1");
        assert_eq!(headers["content-type"], "application/problem+json");
        let problem: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(problem["status"], 503);
        assert_eq!(problem["title"], "Too many streams");
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .starts_with("3 streams are in flight"),
            "{problem}"
        );
    }
    // The held streams never end: every 503 came while they ran, not after.
    assert_eq!(load.active.load(Ordering::SeqCst), CAP);
    assert_eq!(
        load.calls.load(Ordering::SeqCst),
        CAP,
        "a rejected request ran the handler"
    );
    assert_eq!(load.most.load(Ordering::SeqCst), CAP);

    // The clients leave: their slots come back, and new streams start.
    drop(held);
    wait_until("the slots did not come back", || slots.available() == CAP).await;
    wait_until("the streams did not stop", || {
        load.active.load(Ordering::SeqCst) == 0
    })
    .await;
    let again: Vec<_> = futures_util::future::join_all((0..CAP).map(|_| hold_stream(addr))).await;
    assert_eq!(load.calls.load(Ordering::SeqCst), 2 * CAP);
    assert_eq!(load.most.load(Ordering::SeqCst), CAP, "the cap held");
    drop(again);
    wait_until("the slots did not come back", || slots.available() == CAP).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_body_frees_its_slot_on_a_kept_alive_connection() {
    let load = Arc::new(Load::default());
    let layer = StreamLimitLayer::new(1);
    let slots = layer.slots().clone();
    let addr = serve(layer, load).await;
    // One client, one connection, one request after the other: each finds the slot free.
    let client = reqwest::Client::new();
    for _ in 0..5 {
        let response = client
            .get(format!("http://{addr}/three"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.text().await.unwrap(), "[1,2,3]");
    }
    wait_until("the slot did not come back", || slots.available() == 1).await;
}

#[tokio::test]
async fn the_slot_is_held_until_the_last_frame_and_trailers_pass_through() {
    let layer = StreamLimitLayer::new(1).retry_after(Duration::from_millis(2500));
    let slots = layer.slots().clone();
    let service = tower::ServiceBuilder::new()
        .layer(layer)
        .service_fn(|_: Request<()>| async {
            let mut trailers = HeaderMap::new();
            trailers.insert("rowstream-outcome", HeaderValue::from_static("complete"));
            let frames = futures_util::stream::iter([
                Ok::<_, Infallible>(http_body::Frame::data(Bytes::from_static(b"[1]"))),
                Ok(http_body::Frame::trailers(trailers)),
            ]);
            Ok::<_, Infallible>(Response::new(FrameStream::new(frames)))
        });
    let mut body = service
        .clone()
        .oneshot(Request::new(()))
        .await
        .unwrap()
        .into_body();
    assert_eq!(slots.available(), 0, "the response's body holds the slot");

    // Over the cap: a 503 with Retry-After rounded up to whole seconds.
    let busy = service.clone().oneshot(Request::new(())).await.unwrap();
    assert_eq!(busy.status(), 503);
    assert_eq!(busy.headers()["retry-after"], "3");

    let data = body.frame().await.unwrap().unwrap();
    assert_eq!(data.into_data().unwrap(), Bytes::from_static(b"[1]"));
    assert_eq!(slots.available(), 0, "not before the last frame");
    let trailers = body
        .frame()
        .await
        .unwrap()
        .unwrap()
        .into_trailers()
        .unwrap();
    assert_eq!(trailers["rowstream-outcome"], "complete");
    assert!(body.frame().await.is_none());
    assert_eq!(
        slots.available(),
        1,
        "free at the end, before the body is dropped"
    );
    drop(body);

    // Dropped before its end (the client left): free too.
    let body = service.oneshot(Request::new(())).await.unwrap().into_body();
    assert_eq!(slots.available(), 0);
    drop(body);
    assert_eq!(slots.available(), 1);
}
