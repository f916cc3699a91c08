//! Compression (feature `compression`): gzip, zstd and brotli chosen from
//! `Accept-Encoding` (RFC 9110 §12.5.3), applied to a chunk stream and **flushed at every
//! chunk boundary**, so compression never holds data back: each chunk that leaves the
//! streamer leaves the compressor as a complete, decodable block.
//!
//! The codecs are async-compression's (`async_compression::tokio::write`), writing into a
//! `Vec` and flushed with each algorithm's sync flush (zlib `Z_SYNC_FLUSH`, zstd
//! `ZSTD_e_flush`, brotli `BROTLI_OPERATION_FLUSH`); [`ChunkCompressor`] drives them
//! synchronously, [`compress`] over a chunk stream.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use futures_util::{FutureExt, StreamExt};
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
use futures_util::{FutureExt, StreamExt};
use tokio::io::AsyncWriteExt;

pub use async_compression::Level;

/// The level [`StreamResponse::for_request`](crate::http::StreamResponse::for_request)
/// uses: [`Level::Fastest`] (gzip 1, zstd 1, brotli 0). An export is large and leaves as
/// fast as it is made: a fast level keeps compression from becoming the bottleneck.
pub const DEFAULT_LEVEL: Level = Level::Fastest;

/// The brotli quality [`Level::Default`] stands for here (brotli's scale is 0–11): see
/// [`ChunkCompressor::new`].
pub const BROTLI_DEFAULT_QUALITY: i32 = 4;

use crate::BoxError;
pub use crate::negotiate::ContentCoding;

/// One codec writing into a `Vec`.
enum Codec {
    Gzip(GzipEncoder<Vec<u8>>),
    Zstd(ZstdEncoder<Vec<u8>>),
    Brotli(Box<BrotliEncoder<Vec<u8>>>),
}

/// Compresses chunk by chunk, flushing after each: the output so far always decodes to
/// the input so far. Synchronous: the codecs write into memory, so their futures are
/// ready at once.
///
/// ```
/// use rowstream::compress::{ChunkCompressor, ContentCoding, Level};
///
/// let mut gzip = ChunkCompressor::new(ContentCoding::Gzip, Level::Fastest).expect("gzip compresses");
/// let block = gzip.compress(b"[1,2,3")?;
/// assert!(!block.is_empty()); // flushed: decodable now
/// let end = gzip.finish()?;   // the gzip trailer
/// assert!(!end.is_empty());
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct ChunkCompressor {
    codec: Codec,
}

impl std::fmt::Debug for ChunkCompressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let coding = match self.codec {
            Codec::Gzip(_) => ContentCoding::Gzip,
            Codec::Zstd(_) => ContentCoding::Zstd,
            Codec::Brotli(_) => ContentCoding::Brotli,
        };
        f.debug_struct("ChunkCompressor")
            .field("coding", &coding)
            .finish()
    }
}

impl ChunkCompressor {
    /// A compressor for `coding` at `level`; `None` for [`ContentCoding::Identity`].
    ///
    /// [`Level::Default`] is each coding's own default (gzip 6, zstd 3), except brotli's:
    /// its library default, quality 11, is meant for files compressed once and served
    /// many times and compresses an export at a fraction of a megabyte per CPU-second, so
    /// here it means quality [`BROTLI_DEFAULT_QUALITY`] (4), the usual choice for
    /// responses compressed as they are sent. `Level::Best` still means 11.
    pub fn new(coding: ContentCoding, level: Level) -> Option<Self> {
        let codec = match coding {
            ContentCoding::Gzip => Codec::Gzip(GzipEncoder::with_quality(Vec::new(), level)),
            ContentCoding::Zstd => Codec::Zstd(ZstdEncoder::with_quality(Vec::new(), level)),
            ContentCoding::Brotli => {
                let level = match level {
                    Level::Default => Level::Precise(BROTLI_DEFAULT_QUALITY),
                    other => other,
                };
                Codec::Brotli(Box::new(BrotliEncoder::with_quality(Vec::new(), level)))
            }
            ContentCoding::Identity => return None,
        };
        Some(Self { codec })
    }

    /// Compresses `chunk` and flushes; returns the compressed block (possibly empty).
    ///
    /// # Errors
    ///
    /// The codec's error; none is expected while writing into memory.
    pub fn compress(&mut self, chunk: &[u8]) -> std::io::Result<Bytes> {
        match &mut self.codec {
            Codec::Gzip(e) => write_flush(e, chunk),
            Codec::Zstd(e) => write_flush(e, chunk),
            Codec::Brotli(e) => write_flush(e.as_mut(), chunk),
        }
    }

    /// Ends the compressed stream (gzip trailer, zstd frame end, brotli last block).
    ///
    /// # Errors
    ///
    /// The codec's error; none is expected while writing into memory.
    pub fn finish(&mut self) -> std::io::Result<Bytes> {
        match &mut self.codec {
            Codec::Gzip(e) => shutdown(e),
            Codec::Zstd(e) => shutdown(e),
            Codec::Brotli(e) => shutdown(e.as_mut()),
        }
    }
}

/// The encoders' inner writer is a `Vec`, so every future below is ready on its first
/// poll; `now_or_never` runs it to completion without an executor.
fn write_flush<W>(encoder: &mut W, chunk: &[u8]) -> std::io::Result<Bytes>
where
    W: tokio::io::AsyncWrite + Unpin + InnerVec,
{
    let done = async {
        encoder.write_all(chunk).await?;
        encoder.flush().await
    }
    .now_or_never();
    finish_io(done)?;
    Ok(Bytes::from(std::mem::take(encoder.inner_vec())))
}

fn shutdown<W>(encoder: &mut W) -> std::io::Result<Bytes>
where
    W: tokio::io::AsyncWrite + Unpin + InnerVec,
{
    finish_io(encoder.shutdown().now_or_never())?;
    Ok(Bytes::from(std::mem::take(encoder.inner_vec())))
}

fn finish_io(done: Option<std::io::Result<()>>) -> std::io::Result<()> {
    done.unwrap_or_else(|| {
        Err(std::io::Error::other(
            "the compressor did not complete in memory",
        ))
    })
}

/// Access to the `Vec` an encoder writes into.
trait InnerVec {
    fn inner_vec(&mut self) -> &mut Vec<u8>;
}

impl InnerVec for GzipEncoder<Vec<u8>> {
    fn inner_vec(&mut self) -> &mut Vec<u8> {
        self.get_mut()
    }
}

impl InnerVec for ZstdEncoder<Vec<u8>> {
    fn inner_vec(&mut self) -> &mut Vec<u8> {
        self.get_mut()
    }
}

impl InnerVec for BrotliEncoder<Vec<u8>> {
    fn inner_vec(&mut self) -> &mut Vec<u8> {
        self.get_mut()
    }
}

/// A compressed chunk stream, made by [`compress`].
pub type Compressed<E> = Pin<Box<dyn Stream<Item = Result<Bytes, E>> + Send>>;

/// Compresses `chunks` with `coding` at `level`, one flushed block per chunk, and the
/// coding's end (gzip trailer, zstd frame end) after the last.
///
/// An error from `chunks` passes through as the last item, without the coding's end: a
/// failed stream never decodes as complete, and `chunks` is not polled again. A
/// compressor error (none is expected while writing into memory) ends the stream with
/// that error converted into `E`. [`ContentCoding::Identity`] passes the chunks through
/// unchanged.
pub fn compress<S, E>(chunks: S, coding: ContentCoding, level: Level) -> Compressed<E>
where
    S: Stream<Item = Result<Bytes, E>> + Send + 'static,
    E: From<CompressionError> + Send + 'static,
{
    let Some(compressor) = ChunkCompressor::new(coding, level) else {
        return Box::pin(chunks);
    };
    let state = (Box::pin(chunks), Some(compressor));
    Box::pin(futures_util::stream::unfold(
        state,
        |(mut chunks, mut compressor)| async move {
            loop {
                let codec = compressor.as_mut()?;
                match chunks.next().await {
                    Some(Ok(chunk)) => match codec.compress(&chunk) {
                        Ok(out) if out.is_empty() => continue,
                        Ok(out) => return Some((Ok(out), (chunks, compressor))),
                        Err(err) => {
                            return Some((
                                Err(E::from(CompressionError(err.into()))),
                                (chunks, None),
                            ));
                        }
                    },
                    Some(Err(err)) => return Some((Err(err), (chunks, None))),
                    None => {
                        let end = codec.finish();
                        return match end {
                            Ok(out) if out.is_empty() => None,
                            Ok(out) => Some((Ok(out), (chunks, None))),
                            Err(err) => {
                                Some((Err(E::from(CompressionError(err.into()))), (chunks, None)))
                            }
                        };
                    }
                }
            }
        },
    ))
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

    /// Compresses `data` as one chunk with brotli at `level`.
    fn brotli(level: Level, data: &[u8]) -> Vec<u8> {
        let mut compressor = ChunkCompressor::new(Brotli, level).expect("brotli compresses");
        let mut out = compressor.compress(data).expect("compresses").to_vec();
        out.extend_from_slice(&compressor.finish().expect("finishes"));
        out
    }

    #[test]
    fn brotli_default_level_is_a_streaming_quality_not_11() {
        let data: Vec<u8> = (0..20_000u32)
            .flat_map(|i| format!("{{\"id\":{i},\"subject\":\"ticket {}\"}},", i % 97).into_bytes())
            .collect();
        let default = brotli(Level::Default, &data);
        assert_eq!(
            default,
            brotli(Level::Precise(BROTLI_DEFAULT_QUALITY), &data)
        );
        assert_ne!(default, brotli(Level::Precise(11), &data));
        assert_eq!(
            brotli(Level::Best, &data),
            brotli(Level::Precise(11), &data)
        );
    }
}
