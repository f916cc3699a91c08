//! rowstream inside a tower-http stack: each claim of the README's "Inside a tower-http
//! stack" section, shown on an axum router called in memory.

#![cfg(all(feature = "axum", feature = "compression"))]

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_compression::tokio::write::GzipDecoder;
use axum::Router;
use axum::body::Body;
use axum::routing::get;
use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use rowstream::axum::Negotiated;
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;
use tower::ServiceExt;
use tower_http::classify::ServerErrorsFailureClass;
use tower_http::compression::CompressionLayer;
use tower_http::cors::CorsLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

/// Row 1 at once, then `pause`, then row 2 (or a failure), then the end.
fn row_then(
    pause: Duration,
    fail: bool,
) -> impl futures_core::Stream<Item = Result<u32, std::io::Error>> + Send + 'static {
    futures_util::stream::unfold(0_u8, move |step| async move {
        match step {
            0 => Some((Ok(1), 1)),
            1 => {
                tokio::time::sleep(pause).await;
                let next = if fail {
                    Err(std::io::Error::other("division by zero"))
                } else {
                    Ok(2)
                };
                Some((next, 2))
            }
            _ => None,
        }
    })
}

fn request(method: Method, headers: &[(&'static str, &'static str)]) -> Request<Body> {
    let mut request = Request::builder().method(method).uri("/");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.body(Body::empty()).unwrap()
}

/// The next data frame of `body`, skipping trailers; `None` at the end.
async fn next_data(body: &mut Body) -> Option<Bytes> {
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.unwrap().into_data() {
            return Some(data);
        }
    }
    None
}

async fn gunzip(decoder: &mut GzipDecoder<Vec<u8>>, input: &[u8]) -> Vec<u8> {
    decoder.write_all(input).await.unwrap();
    decoder.flush().await.unwrap();
    std::mem::take(decoder.get_mut())
}

#[tokio::test(start_paused = true)]
async fn compression_layer_leaves_rowstreams_compressed_stream_alone() {
    let app = Router::new()
        .route(
            "/",
            get(|negotiated: Negotiated| async move {
                negotiated
                    .respond(row_then(Duration::from_secs(5), false))
                    .await
            }),
        )
        .layer(CompressionLayer::new());
    let start = Instant::now();
    let response = app
        .oneshot(request(Method::GET, &[("accept-encoding", "gzip")]))
        .await
        .unwrap();
    let codings: Vec<_> = response
        .headers()
        .get_all(header::CONTENT_ENCODING)
        .iter()
        .collect();
    assert_eq!(codings, ["gzip"], "one coding, rowstream's");
    let mut body = response.into_body();
    let mut decoder = GzipDecoder::new(Vec::new());
    // Decoded once, it is the JSON: not compressed twice. Row 1 arrives while row 2 is
    // still 5 s away: not buffered.
    let first = next_data(&mut body).await.unwrap();
    assert_eq!(gunzip(&mut decoder, &first).await, b"[1");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    let mut rest = Vec::new();
    while let Some(data) = next_data(&mut body).await {
        rest.extend(gunzip(&mut decoder, &data).await);
    }
    assert_eq!(rest, b",2]");
}

#[tokio::test(start_paused = true)]
async fn compression_layer_compressing_a_stream_flushes_when_it_waits() {
    // No rowstream compression (`json_array` never compresses): tower-http compresses.
    // Its encoder (async-compression) flushes when the body has nothing more for now, so
    // row 1 is not held back until row 2, 5 s later.
    let app = Router::new()
        .route(
            "/",
            get(|| rowstream::axum::json_array(row_then(Duration::from_secs(5), false))),
        )
        .layer(CompressionLayer::new());
    let start = Instant::now();
    let response = app
        .oneshot(request(Method::GET, &[("accept-encoding", "gzip")]))
        .await
        .unwrap();
    assert_eq!(response.headers()["content-encoding"], "gzip");
    let mut body = response.into_body();
    let mut decoder = GzipDecoder::new(Vec::new());
    let mut decoded = Vec::new();
    while decoded.is_empty() {
        let data = next_data(&mut body).await.expect("a body");
        decoded = gunzip(&mut decoder, &data).await;
    }
    assert_eq!(decoded, b"[1");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    while let Some(data) = next_data(&mut body).await {
        decoded.extend(gunzip(&mut decoder, &data).await);
    }
    assert_eq!(decoded, b"[1,2]");
}

#[tokio::test(start_paused = true)]
async fn timeout_layer_bounds_only_the_time_to_the_first_row() {
    let rows_every_second = || {
        futures_util::stream::unfold(0_u32, |n| async move {
            if n == 5 {
                return None;
            }
            if n > 0 {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Some((Ok::<_, Infallible>(n), n + 1))
        })
    };
    let first_row_after_3_s = || {
        futures_util::stream::once(async {
            tokio::time::sleep(Duration::from_secs(3)).await;
            Ok::<_, Infallible>(0_u32)
        })
    };
    let app = Router::new()
        .route(
            "/rows",
            get(move || rowstream::axum::json_array(rows_every_second())),
        )
        .route(
            "/late",
            get(move || rowstream::axum::json_array(first_row_after_3_s())),
        )
        .layer(TimeoutLayer::with_status_code(
            StatusCode::GATEWAY_TIMEOUT,
            Duration::from_secs(2),
        ));
    // 4 s of rows under a 2 s timeout: every row arrives.
    let start = Instant::now();
    let get = |path: &str| Request::get(path).body(Body::empty()).unwrap();
    let response = app.clone().oneshot(get("/rows")).await.unwrap();
    assert_eq!(response.status(), 200);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"[0,1,2,3,4]");
    assert!(start.elapsed() >= Duration::from_secs(4));
    // No first row within 2 s: the layer's answer, not the stream's.
    let start = Instant::now();
    let response = app.oneshot(get("/late")).await.unwrap();
    assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
    assert!(start.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn trace_layer_on_eos_is_the_end_of_the_export() {
    // TraceLayer measures with the system clock: a real pause, 400 ms.
    const PAUSE: Duration = Duration::from_millis(400);
    let events = Arc::new(Mutex::new(Vec::<String>::new()));
    let (on_response, on_eos, on_failure) = (events.clone(), events.clone(), events.clone());
    let trace = TraceLayer::new_for_http()
        .on_response(
            move |response: &Response<Body>, latency: Duration, _: &tracing::Span| {
                let when = if latency < PAUSE {
                    "with row 1"
                } else {
                    "late"
                };
                let line = format!("response {} {when}", response.status());
                on_response.lock().unwrap().push(line);
            },
        )
        .on_eos(
            move |trailers: Option<&HeaderMap>, duration: Duration, _: &tracing::Span| {
                let outcome = trailers.map(|t| t["rowstream-outcome"].to_str().unwrap().to_owned());
                let when = if duration >= PAUSE {
                    "at the end"
                } else {
                    "early"
                };
                on_eos
                    .lock()
                    .unwrap()
                    .push(format!("eos {outcome:?} {when}"));
            },
        )
        .on_failure(
            move |class: ServerErrorsFailureClass, _: Duration, _: &tracing::Span| {
                on_failure.lock().unwrap().push(format!("failure {class}"));
            },
        );
    let app =
        Router::new()
            .route(
                "/",
                get(|negotiated: Negotiated| async move {
                    negotiated.respond(row_then(PAUSE, false)).await
                }),
            )
            .route(
                "/fails",
                get(|negotiated: Negotiated| async move {
                    negotiated.respond(row_then(PAUSE, true)).await
                }),
            )
            .layer(trace);
    let run = |path: &'static str, te: bool| {
        let app = app.clone();
        let events = events.clone();
        async move {
            let mut request = Request::get(path);
            if te {
                request = request.header("te", "trailers");
            }
            let response = app
                .oneshot(request.body(Body::empty()).unwrap())
                .await
                .unwrap();
            let collected = response.into_body().collect().await;
            (
                collected.is_ok(),
                std::mem::take(&mut *events.lock().unwrap()),
            )
        }
    };
    let strings = |lines: &[&str]| lines.iter().map(|l| (*l).to_owned()).collect::<Vec<_>>();
    // The headers leave with row 1; on_eos comes at the end of the export, with
    // rowstream's trailers for a client that asked for them.
    assert_eq!(
        run("/", true).await,
        (
            true,
            strings(&[
                "response 200 OK with row 1",
                "eos Some(\"complete\") at the end"
            ])
        )
    );
    assert_eq!(
        run("/", false).await,
        (
            true,
            strings(&["response 200 OK with row 1", "eos None at the end"])
        )
    );
    // A failed export with trailers ends with them: on_eos sees the outcome.
    assert_eq!(
        run("/fails", true).await,
        (
            true,
            strings(&[
                "response 200 OK with row 1",
                "eos Some(\"error\") at the end"
            ])
        )
    );
    // Without trailers it is cut (a body error): neither on_eos nor on_failure runs with
    // the HTTP classifier, which judges the status only.
    assert_eq!(
        run("/fails", false).await,
        (false, strings(&["response 200 OK with row 1"]))
    );
    // The client leaves after row 1: the body is dropped, neither runs either.
    let response = app
        .clone()
        .oneshot(Request::get("/").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let mut body = response.into_body();
    assert_eq!(next_data(&mut body).await.unwrap(), "[1");
    drop(body);
    tokio::time::sleep(PAUSE * 2).await;
    assert_eq!(
        std::mem::take(&mut *events.lock().unwrap()),
        strings(&["response 200 OK with row 1"])
    );
}

#[tokio::test]
async fn cors_layer_adds_its_headers_and_answers_preflights_itself() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let app = Router::new()
        .route(
            "/",
            get(move || {
                counted.fetch_add(1, Ordering::SeqCst);
                rowstream::axum::json_array(rowstream::fetch::from_iter(0..1000_u32))
            }),
        )
        .layer(
            CorsLayer::new()
                .allow_origin(http::HeaderValue::from_static("https://app.example"))
                .allow_methods([Method::GET]),
        );
    let response = app
        .clone()
        .oneshot(request(Method::GET, &[("origin", "https://app.example")]))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let rows: Vec<u32> = serde_json::from_slice(&body).unwrap();
    assert_eq!(rows, (0..1000).collect::<Vec<_>>());

    let preflight = app
        .oneshot(request(
            Method::OPTIONS,
            &[
                ("origin", "https://app.example"),
                ("access-control-request-method", "GET"),
            ],
        ))
        .await
        .unwrap();
    assert_eq!(preflight.status(), 200);
    assert_eq!(preflight.headers()["access-control-allow-methods"], "GET");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "the preflight ran no export"
    );
}

#[tokio::test]
async fn request_body_limit_layer_limits_requests_not_streams() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let app = Router::new()
        .route(
            "/",
            get(move || {
                counted.fetch_add(1, Ordering::SeqCst);
                rowstream::axum::json_array(rowstream::fetch::from_iter(0..10_000_u32))
            }),
        )
        .layer(RequestBodyLimitLayer::new(1024));
    // A 100 KiB response streams through a 1 KiB request limit.
    let response = app
        .clone()
        .oneshot(request(Method::GET, &[]))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert!(body.len() > 40_000, "{}", body.len());
    let rows: Vec<u32> = serde_json::from_slice(&body).unwrap();
    assert_eq!(rows.len(), 10_000);
    // A request declaring a larger body: 413 before the handler runs.
    let large = Request::get("/")
        .header("content-length", "4096")
        .body(Body::from(vec![b'x'; 4096]))
        .unwrap();
    let response = app.oneshot(large).await.unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "the rejected request ran no export"
    );
}
