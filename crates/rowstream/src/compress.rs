//! Compression (feature `compression`): gzip, zstd and brotli chosen from
//! `Accept-Encoding` (RFC 9110 §12.5.3), applied to a chunk stream and **flushed at every
//! chunk boundary**, so compression never holds data back: each chunk that leaves the
//! streamer leaves the compressor as a complete, decodable block.
//!
//! The codecs are async-compression's (`async_compression::tokio::write`), writing into a
//! `Vec` and flushed with each algorithm's sync flush (zlib `Z_SYNC_FLUSH`, zstd
//! `ZSTD_e_flush`, brotli `BROTLI_OPERATION_FLUSH`).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use futures_util::StreamExt;
//! use rowstream::compress::{ContentCoding, Level, compress};
//! use rowstream::{Identity, JsonArray, Streamer, fetch};
//!
//! let coding = ContentCoding::negotiate("gzip;q=0.5, zstd", ContentCoding::ALL);
//! assert_eq!(coding, ContentCoding::Zstd);
//!
//! let chunks = Streamer::default().stream(fetch::from_iter(0..1000), Identity, JsonArray::new());
//! let compressed: Vec<_> = compress(chunks, coding, Level::Fastest).collect().await;
//! assert!(compressed.iter().all(Result::is_ok));
//! # }
//! ```

use std::pin::Pin;

use async_compression::tokio::write::{BrotliEncoder, GzipEncoder, ZstdEncoder};
use bytes::Bytes;
use futures_core::Stream;
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

pub use async_compression::Level;

use crate::BoxError;

/// A content coding (RFC 9110 §8.4.1) this crate can apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ContentCoding {
    /// `gzip` (RFC 1952).
    Gzip,
    /// `zstd` (RFC 8878).
    Zstd,
    /// `br`, brotli (RFC 7932).
    Brotli,
    /// `identity`: no compression.
    Identity,
}

impl ContentCoding {
    /// Every coding, in the server's order of preference when the client's q-values tie:
    /// zstd, brotli, gzip, identity.
    pub const ALL: &'static [ContentCoding] = &[
        ContentCoding::Zstd,
        ContentCoding::Brotli,
        ContentCoding::Gzip,
        ContentCoding::Identity,
    ];

    /// The token for `Content-Encoding`: `gzip`, `zstd`, `br` or `identity`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Gzip => "gzip",
            Self::Zstd => "zstd",
            Self::Brotli => "br",
            Self::Identity => "identity",
        }
    }

    /// Chooses a coding from an `Accept-Encoding` header value (RFC 9110 §12.5.3), among
    /// `supported` (in the server's order of preference).
    ///
    /// - The highest q-value wins; ties go to the earlier entry of `supported`.
    /// - `*` gives its q-value to every coding not listed; `q=0` excludes a coding.
    /// - `identity` is acceptable unless excluded (`identity;q=0`, or `*;q=0` without an
    ///   `identity` entry); if everything is excluded the answer is still `Identity`: a
    ///   server may always send an unencoded body rather than fail (§12.5.3).
    /// - Malformed elements and unknown codings are ignored; `x-gzip` counts as `gzip`.
    /// - An empty or absent header means `Identity`.
    pub fn negotiate(accept_encoding: &str, supported: &[ContentCoding]) -> ContentCoding {
        let mut listed: Vec<(ContentCoding, u16)> = Vec::new();
        let mut star: Option<u16> = None;
        for element in accept_encoding.split(',') {
            let mut parts = element.split(';');
            let name = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            if name.is_empty() {
                continue;
            }
            let mut q = Some(1000);
            for param in parts {
                let Some((key, value)) = param.split_once('=') else {
                    continue;
                };
                if key.trim().eq_ignore_ascii_case("q") {
                    q = parse_qvalue(value.trim());
                }
            }
            let Some(q) = q else { continue }; // a malformed q-value voids the element
            let coding = match name.as_str() {
                "gzip" | "x-gzip" => ContentCoding::Gzip,
                "zstd" => ContentCoding::Zstd,
                "br" => ContentCoding::Brotli,
                "identity" => ContentCoding::Identity,
                "*" => {
                    star = Some(q);
                    continue;
                }
                _ => continue,
            };
            listed.push((coding, q));
        }
        let weight = |coding: ContentCoding| -> u16 {
            if let Some(&(_, q)) = listed.iter().find(|(c, _)| *c == coding) {
                return q;
            }
            match (coding, star) {
                (_, Some(q)) => q,
                // identity is acceptable by default, with the lowest preference.
                (ContentCoding::Identity, None) => 1,
                (_, None) => 0,
            }
        };
        let mut best = (ContentCoding::Identity, 0u16);
        for &coding in supported {
            let q = weight(coding);
            if q > best.1 {
                best = (coding, q);
            }
        }
        best.0
    }
}

/// Parses a qvalue (`0`, `0.5`, `1.000`) into thousandths; `None` if malformed.
fn parse_qvalue(text: &str) -> Option<u16> {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole = match int {
        "0" => 0,
        "1" => 1000,
        _ => return None,
    };
    let mut thousandths = 0u16;
    for (i, b) in frac.bytes().enumerate() {
        thousandths += u16::from(b - b'0') * [100, 10, 1][i];
    }
    let q = whole + thousandths;
    (q <= 1000).then_some(q)
}

/// One codec writing into a `Vec`.
enum Codec {
    Gzip(GzipEncoder<Vec<u8>>),
    Zstd(ZstdEncoder<Vec<u8>>),
    Brotli(Box<BrotliEncoder<Vec<u8>>>),
}

impl Codec {
    fn new(coding: ContentCoding, level: Level) -> Option<Self> {
        match coding {
            ContentCoding::Gzip => Some(Self::Gzip(GzipEncoder::with_quality(Vec::new(), level))),
            ContentCoding::Zstd => Some(Self::Zstd(ZstdEncoder::with_quality(Vec::new(), level))),
            ContentCoding::Brotli => Some(Self::Brotli(Box::new(BrotliEncoder::with_quality(
                Vec::new(),
                level,
            )))),
            ContentCoding::Identity => None,
        }
    }

    /// Compresses `chunk` and flushes: the output decodes to everything written so far.
    async fn chunk(&mut self, chunk: &[u8]) -> std::io::Result<Bytes> {
        match self {
            Self::Gzip(e) => {
                e.write_all(chunk).await?;
                e.flush().await?;
                Ok(Bytes::from(std::mem::take(e.get_mut())))
            }
            Self::Zstd(e) => {
                e.write_all(chunk).await?;
                e.flush().await?;
                Ok(Bytes::from(std::mem::take(e.get_mut())))
            }
            Self::Brotli(e) => {
                e.write_all(chunk).await?;
                e.flush().await?;
                Ok(Bytes::from(std::mem::take(e.get_mut())))
            }
        }
    }

    /// Ends the compressed stream (trailer, checksum).
    async fn finish(&mut self) -> std::io::Result<Bytes> {
        match self {
            Self::Gzip(e) => {
                e.shutdown().await?;
                Ok(Bytes::from(std::mem::take(e.get_mut())))
            }
            Self::Zstd(e) => {
                e.shutdown().await?;
                Ok(Bytes::from(std::mem::take(e.get_mut())))
            }
            Self::Brotli(e) => {
                e.shutdown().await?;
                Ok(Bytes::from(std::mem::take(e.get_mut())))
            }
        }
    }
}

/// A compressed chunk stream, made by [`compress`].
pub type Compressed<E> = Pin<Box<dyn Stream<Item = Result<Bytes, E>> + Send>>;

/// Compresses `chunks` with `coding` at `level`, one flushed block per chunk, and the
/// coding's end (gzip trailer, zstd frame end) after the last.
///
/// An error from `chunks` passes through as the last item, without the coding's end: a
/// failed stream never decodes as complete. A compressor error (none is expected while
/// writing into memory) ends the stream with that error converted into `E`.
/// [`ContentCoding::Identity`] passes the chunks through unchanged.
pub fn compress<S, E>(chunks: S, coding: ContentCoding, level: Level) -> Compressed<E>
where
    S: Stream<Item = Result<Bytes, E>> + Send + 'static,
    E: From<CompressionError> + Send + 'static,
{
    let Some(mut codec) = Codec::new(coding, level) else {
        return Box::pin(chunks);
    };
    Box::pin(async_stream::stream! {
        let mut chunks = std::pin::pin!(chunks);
        while let Some(chunk) = chunks.next().await {
            match chunk {
                Ok(chunk) => match codec.chunk(&chunk).await {
                    Ok(out) if out.is_empty() => {}
                    Ok(out) => yield Ok(out),
                    Err(err) => {
                        yield Err(E::from(CompressionError(err.into())));
                        return;
                    }
                },
                Err(err) => {
                    yield Err(err);
                    return;
                }
            }
        }
        match codec.finish().await {
            Ok(out) if out.is_empty() => {}
            Ok(out) => yield Ok(out),
            Err(err) => yield Err(E::from(CompressionError(err.into()))),
        }
    })
}

/// The compressor failed.
#[derive(Debug, thiserror::Error)]
#[error("compression failed: {0}")]
pub struct CompressionError(#[source] BoxError);

impl From<CompressionError> for crate::StreamError {
    fn from(err: CompressionError) -> Self {
        crate::StreamError::new(crate::StreamErrorKind::Encode, 0, Some(Box::new(err)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ContentCoding::*;

    #[test]
    fn negotiation() {
        let all = ContentCoding::ALL;
        let cases: &[(&str, ContentCoding)] = &[
            ("", Identity),
            ("gzip", Gzip),
            ("x-gzip", Gzip),
            ("gzip, deflate, br", Brotli),
            ("gzip, deflate, br, zstd", Zstd),
            ("gzip;q=1.0, br;q=0.9", Gzip),
            ("br;q=0.5, gzip;q=0.50", Brotli),
            ("*", Zstd),
            ("*;q=0.5, zstd;q=0", Brotli),
            ("gzip;q=0", Identity),
            ("identity;q=0, gzip;q=0.1", Gzip),
            ("*;q=0", Identity),
            ("deflate", Identity),
            ("gzip;q=2", Identity),
            ("gzip;q=abc, br", Brotli),
            ("GZIP;Q=0.8", Gzip),
            (" , ;, gzip ;q=0.001", Gzip),
            ("zstd;q=0.1, identity", Identity),
        ];
        for (header, expected) in cases {
            assert_eq!(
                ContentCoding::negotiate(header, all),
                *expected,
                "{header:?}"
            );
        }
        assert_eq!(
            ContentCoding::negotiate("zstd, gzip", &[Gzip, Identity]),
            Gzip
        );
    }
}
