//! Compression flushed per chunk: the first row decodes on the client long before the
//! second exists, for gzip, zstd and brotli; the decoded body equals the plain one.

#![cfg(feature = "compression")]

use std::time::Duration;

use async_compression::tokio::write::{BrotliDecoder, GzipDecoder, ZstdDecoder};
use bytes::Bytes;
use futures_util::StreamExt;
use rowstream::compress::{ContentCoding, Level, compress};
use rowstream::{Identity, JsonArray, StreamError, Streamer, fetch};
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

/// Decodes whatever complete blocks have arrived so far.
enum Decoder {
    Gzip(GzipDecoder<Vec<u8>>),
    Zstd(ZstdDecoder<Vec<u8>>),
    Brotli(BrotliDecoder<Vec<u8>>),
}

impl Decoder {
    fn new(coding: ContentCoding) -> Self {
        match coding {
            ContentCoding::Gzip => Self::Gzip(GzipDecoder::new(Vec::new())),
            ContentCoding::Zstd => Self::Zstd(ZstdDecoder::new(Vec::new())),
            ContentCoding::Brotli => Self::Brotli(BrotliDecoder::new(Vec::new())),
            _ => unreachable!(),
        }
    }

    async fn feed(&mut self, input: &[u8]) -> Vec<u8> {
        match self {
            Self::Gzip(d) => {
                d.write_all(input).await.unwrap();
                d.flush().await.unwrap();
                std::mem::take(d.get_mut())
            }
            Self::Zstd(d) => {
                d.write_all(input).await.unwrap();
                d.flush().await.unwrap();
                std::mem::take(d.get_mut())
            }
            Self::Brotli(d) => {
                d.write_all(input).await.unwrap();
                d.flush().await.unwrap();
                std::mem::take(d.get_mut())
            }
        }
    }
}

async fn first_row_before_second(coding: ContentCoding) {
    let source = futures_util::stream::unfold(0u8, |step| async move {
        match step {
            0 => Some((Ok::<_, std::convert::Infallible>("first row"), 1)),
            1 => {
                tokio::time::sleep(Duration::from_secs(5)).await;
                Some((Ok("second row"), 2))
            }
            _ => None,
        }
    });
    let start = Instant::now();
    let chunks = Streamer::default().stream(source, Identity, JsonArray::new());
    let mut compressed = compress(chunks, coding, Level::Default);
    let mut decode = Decoder::new(coding);

    // The first row is decodable at once, with the source still waiting.
    let first = compressed.next().await.unwrap().unwrap();
    assert_eq!(start.elapsed(), Duration::ZERO, "{coding:?}");
    let mut plain = decode.feed(&first).await;
    assert_eq!(plain, b"[\"first row\"", "{coding:?}");

    let mut wire = first.to_vec();
    while let Some(chunk) = compressed.next().await {
        let chunk = chunk.unwrap();
        wire.extend_from_slice(&chunk);
        plain.extend(decode.feed(&chunk).await);
    }
    assert_eq!(start.elapsed(), Duration::from_secs(5));
    assert_eq!(plain, b"[\"first row\",\"second row\"]", "{coding:?}");
    assert!(!wire.is_empty());
}

#[tokio::test(start_paused = true)]
async fn gzip_flushes_per_chunk() {
    first_row_before_second(ContentCoding::Gzip).await;
}

#[tokio::test(start_paused = true)]
async fn zstd_flushes_per_chunk() {
    first_row_before_second(ContentCoding::Zstd).await;
}

#[tokio::test(start_paused = true)]
async fn brotli_flushes_per_chunk() {
    first_row_before_second(ContentCoding::Brotli).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_body_round_trips_in_every_coding() {
    let items: Vec<String> = (0..20_000)
        .map(|i| format!("row {i}, \"quoted\", ünïcødé 😀"))
        .collect();
    let plain: Vec<u8> = serde_json::to_vec(&items).unwrap();
    for coding in [
        ContentCoding::Gzip,
        ContentCoding::Zstd,
        ContentCoding::Brotli,
    ] {
        let chunks =
            Streamer::default().stream(fetch::from_iter(items.clone()), Identity, JsonArray::new());
        let mut compressed = compress(chunks, coding, Level::Fastest);
        let mut decode = Decoder::new(coding);
        let mut decoded = Vec::new();
        let mut wire = 0;
        while let Some(chunk) = compressed.next().await {
            let chunk = chunk.unwrap();
            wire += chunk.len();
            decoded.extend(decode.feed(&chunk).await);
        }
        assert_eq!(decoded, plain, "{coding:?}");
        assert!(
            wire < plain.len() / 3,
            "{coding:?}: {wire} of {}",
            plain.len()
        );
    }
}

#[tokio::test]
async fn an_error_ends_the_stream_without_the_trailer_and_without_polling_again() {
    let source = futures_util::stream::iter(vec![
        Ok(Bytes::from_static(b"[1,2,3")),
        Err(StreamError::new(rowstream::StreamErrorKind::Fetch, 3, None)),
    ])
    .chain(futures_util::stream::poll_fn(
        |_| -> std::task::Poll<Option<Result<Bytes, StreamError>>> {
            panic!("polled after the error")
        },
    ));
    let out: Vec<_> = compress(source, ContentCoding::Gzip, Level::Default)
        .collect()
        .await;
    assert_eq!(out.len(), 2);
    assert!(out[0].is_ok());
    assert!(out[1].is_err());
}

/// Row 1 at once, then `pause`, then `then` (a row, or a failure).
fn row_then(
    pause: Duration,
    fail: bool,
) -> impl futures_core::Stream<Item = Result<u32, std::io::Error>> + Send {
    futures_util::stream::unfold(0u8, move |step| async move {
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

fn gzip_request() -> http::HeaderMap {
    let mut headers = http::HeaderMap::new();
    headers.insert(
        http::header::ACCEPT_ENCODING,
        http::HeaderValue::from_static("gzip"),
    );
    headers
}

#[tokio::test(start_paused = true)]
async fn the_compression_look_ahead_ends_at_flush_interval() {
    // A small row 1, then the database works for 5 s: the response (and row 1) must not
    // wait for the next chunk beyond flush_interval.
    let streamer = Streamer::default();
    let flush = streamer.config().flush_interval();
    let chunks = streamer.stream(
        row_then(Duration::from_secs(5), false),
        Identity,
        JsonArray::new(),
    );
    let start = Instant::now();
    let response = rowstream::http::StreamResponse::for_request(&gzip_request())
        .respond(chunks)
        .await;
    assert!(start.elapsed() <= flush, "{:?}", start.elapsed());
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-encoding"], "gzip");
    let mut body = http_body_util::BodyDataStream::new(response.into_body());
    let mut decode = Decoder::new(ContentCoding::Gzip);
    let first = body.next().await.unwrap().unwrap();
    assert_eq!(decode.feed(&first).await, b"[1");
    assert!(start.elapsed() <= flush, "{:?}", start.elapsed());
    let mut rest = Vec::new();
    while let Some(chunk) = body.next().await {
        rest.extend(decode.feed(&chunk.unwrap()).await);
    }
    assert_eq!(rest, b",2]");
}

#[tokio::test(start_paused = true)]
async fn a_failure_seen_during_the_look_ahead_is_a_problem_response() {
    // Nothing has been sent when the look-ahead sees the failure: the answer is a 500
    // problem+json, not a 200 with the first rows and a cut.
    let chunks = Streamer::default().stream(
        row_then(Duration::from_millis(10), true),
        Identity,
        JsonArray::new(),
    );
    let response = rowstream::http::StreamResponse::for_request(&gzip_request())
        .respond(chunks)
        .await;
    assert_eq!(response.status(), 500);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
}
