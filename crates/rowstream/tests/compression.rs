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
