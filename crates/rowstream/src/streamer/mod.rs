//! The [`Streamer`]: fetch → transform → encode → chunk, beside the consumer, with
//! backpressure (this file); the producer that does it (`produce.rs`); the
//! [`ChunkStream`] it returns (`chunks.rs`); and why a stream failed (`error.rs`).

mod chunks;
mod error;
mod produce;

use std::sync::Arc;

use futures_core::Stream;
use futures_util::TryStreamExt;
use tokio::sync::mpsc;

pub use chunks::ChunkStream;
pub use error::{BoxError, EncodeError, StreamError, StreamErrorKind};

use crate::observe::StreamObserver;
use crate::pool::{BoundedPool, BufferPool, DEFAULT_MAX_IDLE, Ring, default_pool};
use crate::{ChunkConfig, ConfigError, Encoder, Limits, Transformer, ValidConfig};
use produce::{Settings, panic_message, produce, staged};

/// Runs the pipeline `fetcher → transformer → encoder` and hands out encoded bytes in
/// chunks of about [`chunk_threshold`](ValidConfig::chunk_threshold) bytes.
///
/// Cheap to clone and share: one `Streamer` per service (or per configuration) serves
/// every request. Each call to [`stream`](Self::stream) makes one producer that pulls
/// from the fetcher, encodes into pooled buffers, and sends chunks through a channel of
/// [`channel_buffer`](ValidConfig::channel_buffer) slots to the returned [`ChunkStream`].
/// The producer starts inside the first poll of the [`ChunkStream`] and moves onto a
/// tokio task of its own the first time it would wait (for the fetcher, a full channel,
/// a rate limit, or its yield after the first chunk): a result that is ready at once is
/// produced in that poll, with no task and no thread hand-off; a larger or slower one
/// runs on its task, beside the consumer.
///
/// Chunking rules:
/// - the first chunk leaves as soon as the fetcher has no further item ready after the
///   first (the client sees data without waiting for the threshold, and a small result
///   leaves whole, in one write), at the threshold, or when `flush_interval` has passed
///   since the first item, whichever comes first;
/// - after that, a chunk leaves when the buffer reaches the chunk threshold, so a chunk
///   exceeds it by at most one item;
/// - encoded data never waits in a buffer longer than
///   [`flush_interval`](ValidConfig::flush_interval), however slow the source;
/// - when the channel is full (the client reads slowly) the fetcher is not polled
///   (backpressure), so memory stays within [`ValidConfig::memory_bound`] plus the largest
///   item.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use futures_util::TryStreamExt;
/// use rowstream::{Identity, JsonArray, Streamer, fetch};
///
/// let streamer = Streamer::default();
/// let chunks = streamer.stream(fetch::from_iter(vec![1, 2, 3]), Identity, JsonArray::new());
/// let body: Vec<u8> = chunks.map_ok(Vec::from).try_concat().await?;
/// assert_eq!(body, b"[1,2,3]");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Streamer {
    config: ValidConfig,
    limits: Limits,
    pool: Arc<dyn BufferPool>,
    observer: Option<Arc<dyn StreamObserver>>,
}

impl Default for Streamer {
    /// A streamer with the default [`ChunkConfig`] and the shared default pool.
    fn default() -> Self {
        Self {
            config: ValidConfig::default(),
            limits: Limits::default(),
            pool: default_pool(),
            observer: None,
        }
    }
}

impl Streamer {
    /// A streamer with `config`. Its buffers come from the shared default pool when
    /// `buffer_size` is the default, otherwise from a new [`BoundedPool`] of that size.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the field when `config` does not validate.
    pub fn new(config: ChunkConfig) -> Result<Self, ConfigError> {
        let config = config.validate()?;
        let pool = if config.buffer_size() == ValidConfig::default().buffer_size() {
            default_pool()
        } else {
            Arc::new(BoundedPool::new(config.buffer_size(), DEFAULT_MAX_IDLE))
        };
        Ok(Self {
            config,
            limits: Limits::default(),
            pool,
            observer: None,
        })
    }

    /// Uses `limits` (timeouts, deadline, item count and size, rates) for every stream.
    /// Default: [`Limits::default`], a 30 s write timeout and nothing else.
    #[must_use]
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Observes every stream of this streamer with `observer` (see [`StreamObserver`]);
    /// add per-stream observers with [`ChunkStream::with_observer`].
    #[must_use]
    pub fn with_observer(mut self, observer: Arc<dyn StreamObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// The limits every stream of this streamer runs under.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Uses `pool` for this streamer's buffers.
    #[must_use]
    pub fn with_pool(mut self, pool: Arc<dyn BufferPool>) -> Self {
        self.pool = pool;
        self
    }

    /// The validated configuration, with defaults applied.
    pub fn config(&self) -> &ValidConfig {
        &self.config
    }

    /// Streams every item of `fetcher`, passed through `transformer`, encoded by
    /// `encoder`, as chunks.
    ///
    /// The returned [`ChunkStream`] yields `Ok(chunk)` until the document is complete, or
    /// ends with one `Err(StreamError)` after which it yields nothing. Nothing is fetched
    /// before its first poll. Dropping it stops the work at once: the producer (its task
    /// aborted, if it has one) and the fetcher are dropped.
    ///
    /// # Panics
    ///
    /// The returned stream, if it is polled outside a tokio runtime with timers enabled
    /// (`#[tokio::main]` has them).
    pub fn stream<S, T, E, X, Enc>(&self, fetcher: S, transformer: X, encoder: Enc) -> ChunkStream
    where
        S: Stream<Item = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Into<BoxError> + Send + 'static,
        X: Transformer<T>,
        Enc: Encoder,
    {
        let content_type = encoder.content_type().to_owned();
        let (tx, rx) = mpsc::channel(self.config.channel_buffer());
        let ring = Ring::new(
            self.pool.clone(),
            self.config.channel_buffer() + 2,
            self.config.buffer_size(),
        );
        let started = tokio::time::Instant::now();
        let producer = Box::pin(produce(
            fetcher,
            transformer,
            encoder,
            Settings {
                config: self.config,
                limits: self.limits,
                started,
            },
            ring,
            tx,
        ));
        ChunkStream::new(
            rx,
            producer,
            content_type,
            self.observer.clone(),
            started,
            self.config.flush_interval(),
        )
    }

    /// Like [`stream`](Self::stream), with the transformer run on `workers` threads at
    /// once (tokio's blocking pool) for CPU-heavy transforms. The output order stays the
    /// input order, and at most `workers` items are in flight, so memory stays bounded as
    /// with [`stream`](Self::stream). Each item costs a hand-off to a blocking thread (a few
    /// microseconds): use it when the transform itself takes longer than that.
    ///
    /// A transformer error fails the stream with
    /// [`StreamErrorKind::Transform`], a panic with [`StreamErrorKind::Panic`].
    ///
    /// # Panics
    ///
    /// As [`stream`](Self::stream).
    ///
    /// ```
    /// # #[tokio::main(flavor = "multi_thread", worker_threads = 2)] async fn main() -> Result<(), rowstream::StreamError> {
    /// use std::num::NonZeroUsize;
    /// use futures_util::TryStreamExt;
    /// use rowstream::{JsonArray, Streamer, fetch};
    ///
    /// let expensive = |n: u64| Ok::<_, std::convert::Infallible>((1..=n).product::<u64>());
    /// let workers = NonZeroUsize::new(4).unwrap();
    /// let chunks = Streamer::default().stream_parallel(fetch::from_iter(1..=5u64), expensive, JsonArray::new(), workers);
    /// let body = chunks.map_ok(Vec::from).try_concat().await?;
    /// assert_eq!(body, b"[1,2,6,24,120]");
    /// # Ok(()) }
    /// ```
    pub fn stream_parallel<S, T, E, X, Enc>(
        &self,
        fetcher: S,
        transformer: X,
        encoder: Enc,
        workers: std::num::NonZeroUsize,
    ) -> ChunkStream
    where
        S: Stream<Item = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Into<BoxError> + Send + 'static,
        X: Transformer<T>,
        X::Output: Send + 'static,
        Enc: Encoder,
    {
        use futures_util::StreamExt;
        let transformer = Arc::new(transformer);
        let transformed = fetcher
            .map(move |fetched| {
                let transformer = transformer.clone();
                async move {
                    let item = fetched.map_err(Into::<BoxError>::into)?;
                    let work = move || transformer.transform(item).map_err(Into::<BoxError>::into);
                    match tokio::task::spawn_blocking(work).await {
                        Ok(Ok(output)) => Ok(output),
                        Ok(Err(err)) => Err(staged(StreamErrorKind::Transform, Some(err))),
                        Err(join) if join.is_panic() => Err(staged(
                            StreamErrorKind::Panic,
                            Some(panic_message(join.into_panic()).into()),
                        )),
                        Err(_) => Err(staged(StreamErrorKind::Cancelled, None)),
                    }
                }
            })
            .buffered(workers.get());
        self.stream(transformed, crate::Identity, encoder)
    }

    /// Streams a fetcher of pages (batches) — for example keyset pagination, which yields
    /// one `Vec` per query — item by item, as [`stream`](Self::stream) does.
    ///
    /// # Panics
    ///
    /// As [`stream`](Self::stream).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use futures_util::TryStreamExt;
    /// use rowstream::{Identity, JsonArray, Streamer, fetch};
    ///
    /// let pages = fetch::from_iter(vec![vec![1, 2], vec![], vec![3]]);
    /// let body = Streamer::default().stream_batches(pages, Identity, JsonArray::new()).map_ok(Vec::from).try_concat().await?;
    /// assert_eq!(&body[..], b"[1,2,3]");
    /// # Ok(()) }
    /// ```
    pub fn stream_batches<S, B, T, E, X, Enc>(
        &self,
        fetcher: S,
        transformer: X,
        encoder: Enc,
    ) -> ChunkStream
    where
        S: Stream<Item = Result<B, E>> + Send + 'static,
        B: IntoIterator<Item = T>,
        B::IntoIter: Send + 'static,
        T: Send + 'static,
        E: Into<BoxError> + Send + 'static,
        X: Transformer<T>,
        Enc: Encoder,
    {
        let items = fetcher
            .map_ok(|page| futures_util::stream::iter(page.into_iter().map(Ok::<T, E>)))
            .try_flatten();
        self.stream(items, transformer, encoder)
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Identity, JsonArray, fetch};
    use futures_util::StreamExt;

    #[tokio::test]
    async fn panicking_transformer_fails_only_its_stream() {
        let transformer = |i: u32| -> Result<u32, std::io::Error> {
            if i == 3 {
                panic!("bad row {i}");
            }
            Ok(i)
        };
        let chunks: Vec<_> = Streamer::default()
            .stream(fetch::from_iter(0..10u32), transformer, JsonArray::new())
            .collect()
            .await;
        let err = chunks.last().unwrap().as_ref().unwrap_err();
        assert_eq!(err.kind(), StreamErrorKind::Panic);
        assert_eq!(err.items_before(), 3);
        assert!(err.to_string().contains("bad row 3"), "{err}");
        assert!(chunks[..chunks.len() - 1].iter().all(Result::is_ok));
    }

    #[tokio::test]
    async fn empty_source_is_an_empty_array() {
        let body: Vec<u8> = Streamer::default()
            .stream(
                fetch::from_iter(Vec::<u8>::new()),
                Identity,
                JsonArray::new(),
            )
            .map(Result::unwrap)
            .collect::<Vec<_>>()
            .await
            .concat();
        assert_eq!(body, b"[]");
    }
}
