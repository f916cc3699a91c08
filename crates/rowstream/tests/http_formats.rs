//! Formats over a real server on loopback: content negotiation and 406, completion
//! records on success and failure, and HTTP trailers for `TE: trailers` requests, read
//! with a raw TCP client that dechunks the body and parses the trailer section.

#![cfg(all(feature = "axum", feature = "csv", feature = "msgpack"))]

mod support;

use std::net::SocketAddr;

use axum::Router;
use axum::response::IntoResponse;
use axum::routing::get;
use futures_util::StreamExt;
use rowstream::axum::Negotiated;
use rowstream::{BoxError, Identity, Streamer, fetch};
use serde_json::{Value, json};
use support::{
    RawResponse, decode_json_seq, decode_msgpack, decode_ndjson, parse_csv_strict, parse_response,
    raw_get, serve,
};

const ROWS: u64 = 5000;
const FAIL_AT: u64 = 1000;

#[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
struct Row {
    id: u64,
    text: String,
}

/// Rows 0, 1, 2, … of `ROWS`; row `fail_at` is an error.
fn rows(fail_at: Option<u64>) -> impl futures_core::Stream<Item = Result<Row, BoxError>> + Send {
    fetch::from_iter(0..ROWS).map(move |i| {
        let i = i.unwrap_or_else(|never| match never {});
        if Some(i) == fail_at {
            Err(format!("database went away at row {i}").into())
        } else {
            Ok(Row {
                id: i,
                text: format!("row {i}, \"quoted\"\nsecond line"),
            })
        }
    })
}

/// The handler a service would write: negotiated format, completion record on, trailers
/// when asked for.
async fn export(negotiated: Negotiated, fail_at: Option<u64>) -> impl IntoResponse {
    let encoder = negotiated.encoder().completion_record(true);
    let chunks = Streamer::default().stream(rows(fail_at), Identity, encoder);
    negotiated.stream_response().respond(chunks).await
}

async fn server() -> SocketAddr {
    let app = Router::new()
        .route("/ok", get(|n: Negotiated| export(n, None)))
        .route("/fail", get(|n: Negotiated| export(n, Some(FAIL_AT))))
        .route("/fail-first", get(|n: Negotiated| export(n, Some(0))))
        .route(
            "/plain",
            get(|n: Negotiated| async move { n.respond(rows(None)).await }),
        );
    serve(app).await
}

async fn get_raw(addr: SocketAddr, path: &str, headers: &[&str]) -> RawResponse {
    parse_response(&raw_get(addr, path, headers).await)
}

/// The completion record of each record format: the last record, parsed.
fn last_record(format: &str, body: &[u8]) -> (usize, Value) {
    match format {
        "ndjson" => {
            let mut values: Vec<Value> = decode_ndjson(body);
            let last = values.pop().unwrap();
            (values.len(), last)
        }
        "jsonseq" => {
            let mut values: Vec<Value> = decode_json_seq(body);
            let last = values.pop().unwrap();
            (values.len(), last)
        }
        "csv" => {
            let mut records = parse_csv_strict(body, b',').unwrap();
            let last = records.pop().unwrap();
            assert_eq!(last.len(), 2, "the marker row has the header's width");
            assert_eq!(last[1], None);
            (
                records.len() - 1,
                serde_json::from_str(last[0].as_deref().unwrap()).unwrap(),
            )
        }
        other => unreachable!("{other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_header_and_format_value_choose_the_format() {
    let addr = server().await;
    let cases: &[(&[&str], &str, &str)] = &[
        (&[], "/plain", "application/json"),
        (&["Accept: */*"], "/plain", "application/json"),
        (
            &["Accept: application/x-ndjson"],
            "/plain",
            "application/x-ndjson",
        ),
        (
            &["Accept: application/jsonl"],
            "/plain",
            "application/x-ndjson",
        ),
        (
            &["Accept: application/json-seq"],
            "/plain",
            "application/json-seq",
        ),
        (
            &["Accept: text/csv;q=0.9, application/json;q=0.8"],
            "/plain",
            "text/csv; charset=utf-8; header=present",
        ),
        (
            &["Accept: application/vnd.msgpack"],
            "/plain",
            "application/vnd.msgpack",
        ),
        (
            &["Accept: text/csv"],
            "/plain?format=ndjson",
            "application/x-ndjson",
        ),
        (
            &["Accept: image/png"],
            "/plain?format=msgpack",
            "application/vnd.msgpack",
        ),
        (
            &["Accept: text/html", "Accept: text/*;q=0.5"],
            "/plain",
            "text/csv; charset=utf-8; header=present",
        ),
    ];
    for (headers, path, content_type) in cases {
        let response = get_raw(addr, path, headers).await;
        assert!(
            response.head.starts_with("http/1.1 200"),
            "{headers:?} {path}: {}",
            response.head
        );
        assert_eq!(
            response.header("content-type"),
            Some(*content_type),
            "{headers:?} {path}"
        );
        assert_eq!(
            response.header("vary"),
            Some("accept"),
            "{headers:?} {path}"
        );
        assert!(response.terminated);
        // Every format holds all the rows.
        let count = match *content_type {
            "application/json" => serde_json::from_slice::<Vec<Row>>(&response.body)
                .unwrap()
                .len(),
            "application/x-ndjson" => decode_ndjson::<Row>(&response.body).len(),
            "application/json-seq" => decode_json_seq::<Row>(&response.body).len(),
            "application/vnd.msgpack" => decode_msgpack::<Row>(&response.body).len(),
            _ => parse_csv_strict(&response.body, b',').unwrap().len() - 1,
        };
        assert_eq!(count as u64, ROWS, "{headers:?} {path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_acceptable_is_406_problem_json() {
    let addr = server().await;
    for (headers, path) in [
        (&["Accept: image/png, text/html;q=0.9"][..], "/plain"),
        (&["Accept: application/json;q=0"][..], "/plain"),
        (&[][..], "/plain?format=xml"),
    ] {
        let raw = raw_get(addr, path, headers).await;
        let end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
        assert!(head.starts_with("http/1.1 406"), "{head}");
        assert!(
            head.contains("content-type: application/problem+json"),
            "{head}"
        );
        assert!(head.contains("vary: accept"), "{head}");
        let problem: Value = serde_json::from_slice(&raw[end + 4..]).unwrap();
        assert_eq!(problem["status"], 406);
        assert_eq!(problem["title"], "Not Acceptable");
        assert_eq!(
            problem["supported"],
            json!([
                "application/json",
                "application/x-ndjson",
                "application/json-seq",
                "text/csv; charset=utf-8; header=present",
                "application/vnd.msgpack"
            ])
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completion_record_on_success() {
    let addr = server().await;
    for format in ["ndjson", "jsonseq", "csv"] {
        let response = get_raw(addr, &format!("/ok?format={format}"), &[]).await;
        assert!(response.terminated, "{format}");
        assert!(
            response.trailers.is_empty(),
            "no trailers without TE: trailers"
        );
        assert!(response.header("trailer").is_none());
        let (rows, last) = last_record(format, &response.body);
        assert_eq!(rows as u64, ROWS, "{format}");
        assert_eq!(
            last,
            json!({"$rowstream": {"complete": true, "rows": ROWS}}),
            "{format}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completion_record_on_failure_then_the_cut() {
    let addr = server().await;
    for format in ["ndjson", "jsonseq", "csv"] {
        let response = get_raw(addr, &format!("/fail?format={format}"), &[]).await;
        assert!(
            response.head.starts_with("http/1.1 200"),
            "{}",
            response.head
        );
        assert!(!response.terminated, "{format}: a failed stream is cut");
        let (rows, last) = last_record(format, &response.body);
        assert_eq!(
            rows as u64, FAIL_AT,
            "{format}: every row before the failure"
        );
        assert_eq!(
            last,
            json!({"$rowstream": {
                "complete": false,
                "rows": FAIL_AT,
                "error": {
                    "kind": "fetch",
                    "message": "fetch error after 1000 items: database went away at row 1000"
                }
            }}),
            "{format}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trailers_on_success() {
    let addr = server().await;
    for format in ["json", "ndjson", "msgpack", "csv"] {
        let response = get_raw(addr, &format!("/ok?format={format}"), &["TE: trailers"]).await;
        assert_eq!(
            response.header("trailer"),
            Some("rowstream-outcome, rowstream-rows, rowstream-error"),
            "{format}"
        );
        assert!(response.terminated, "{format}");
        assert_eq!(
            response.trailer("rowstream-outcome"),
            Some("complete"),
            "{format}"
        );
        assert_eq!(response.trailer("rowstream-rows"), Some("5000"), "{format}");
        assert_eq!(response.trailer("rowstream-error"), None, "{format}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trailers_on_failure() {
    let addr = server().await;
    // JSON array: the array stays unclosed, the trailer says why.
    let response = get_raw(addr, "/fail?format=json", &["TE: gzip, trailers"]).await;
    assert!(
        response.terminated,
        "with trailers the transfer itself completes"
    );
    assert_eq!(response.trailer("rowstream-outcome"), Some("error"));
    assert_eq!(response.trailer("rowstream-rows"), Some("1000"));
    assert_eq!(
        response.trailer("rowstream-error"),
        Some("fetch error after 1000 items: database went away at row 1000")
    );
    assert!(serde_json::from_slice::<Value>(&response.body).is_err());
    assert!(response.body.starts_with(b"[{\"id\":0,"));
    assert!(response.body.ends_with(b"second line\"}"));

    // NDJSON: the error record and the trailers both arrive.
    let response = get_raw(addr, "/fail?format=ndjson", &["TE: trailers"]).await;
    assert!(response.terminated);
    assert_eq!(response.trailer("rowstream-outcome"), Some("error"));
    let (rows, last) = last_record("ndjson", &response.body);
    assert_eq!(rows as u64, FAIL_AT);
    assert_eq!(last["$rowstream"]["complete"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn early_failure_is_problem_json_even_with_trailers() {
    let addr = server().await;
    let raw = raw_get(addr, "/fail-first?format=ndjson", &["TE: trailers"]).await;
    let text = String::from_utf8_lossy(&raw).to_ascii_lowercase();
    assert!(text.starts_with("http/1.1 500"), "{text}");
    assert!(
        text.contains("content-type: application/problem+json"),
        "{text}"
    );
    assert!(!text.contains("rowstream-outcome"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_answers_the_headers_without_running_the_query() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let ran = Arc::new(AtomicBool::new(false));
    let ran_in_get = ran.clone();
    let app = Router::new().route(
        "/",
        get(move |n: Negotiated| {
            ran_in_get.store(true, Ordering::SeqCst);
            export(n, None)
        })
        .head(|n: Negotiated| async move { n.head() }),
    );
    let addr = serve(app).await;
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    tcp.write_all(
        b"HEAD /?format=csv HTTP/1.1\r\nHost: x\r\nTE: trailers\r\nConnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    let mut raw = Vec::new();
    tcp.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8(raw).unwrap().to_ascii_lowercase();
    assert!(text.starts_with("http/1.1 200"), "{text}");
    assert!(
        text.contains("content-type: text/csv; charset=utf-8; header=present"),
        "{text}"
    );
    assert!(text.contains("vary: accept"), "{text}");
    // hyper never frames a HEAD response as chunked, so it leaves `Trailer` out too.
    assert!(!text.contains("content-length"), "{text}");
    assert!(text.ends_with("\r\n\r\n"), "no body: {text}");
    assert!(!ran.load(Ordering::SeqCst), "HEAD must not run the export");
}
