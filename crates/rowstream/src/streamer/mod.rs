//! The [`Streamer`]: fetch → transform → encode → chunk, on its own task, with
//! backpressure, and the [`ChunkStream`] it returns.

mod error;

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use futures_core::Stream;
use futures_util::TryStreamExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub use error::{BoxError, EncodeError, StreamError, StreamErrorKind};

use crate::config::rate::RateLimiter;
use crate::observe::{Outcome, StreamObserver, StreamSummary};
use crate::pool::{BoundedPool, BufferPool, DEFAULT_MAX_IDLE, Ring, default_pool};
use crate::{ChunkConfig, ConfigError, Encoder, Limits, Transformer, ValidConfig};

/// Runs the pipeline `fetcher → transformer → encoder` and hands out encoded bytes in
/// chunks of about [`chunk_threshold`](ValidConfig::chunk_threshold) bytes.
///
/// Cheap to clone and share: one `Streamer` per service (or per configuration) serves
/// every request. Each call to [`stream`](Self::stream) spawns one tokio task that pulls
/// from the fetcher, encodes into pooled buffers, and sends chunks through a channel of
/// [`channel_buffer`](ValidConfig::channel_buffer) slots to the returned [`ChunkStream`].
///
/// Chunking rules:
/// - the first chunk leaves as soon as the first item is encoded (the client sees data
///   without waiting for the threshold);
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
    /// ends with one `Err(StreamError)` after which it yields nothing. Dropping it stops the
    /// work at once: the task is aborted and the fetcher dropped.
    ///
    /// # Panics
    ///
    /// If called outside a tokio runtime with timers enabled (`#[tokio::main]` has them).
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
        let task = tokio::spawn(produce(
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
        ChunkStream {
            rx,
            task: Some(task),
            content_type,
            completed_items: None,
            observed: self
                .observer
                .clone()
                .map(|observer| Observed::new(observer, started)),
        }
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

/// The chunks of one stream: `Stream<Item = Result<Bytes, StreamError>>`.
///
/// Made by [`Streamer::stream`]. Yields `Ok` chunks in order until the document is
/// complete; a failed stream ends with exactly one `Err` and is never a complete document.
/// Dropping it aborts the producer task and drops the fetcher (cancelling a database
/// query). Serve it over HTTP with the `axum` feature's
/// [`into_response`](crate::axum::into_response), the `http` feature's
/// [`into_response`](crate::http::into_response) (hyper, tower), or write it anywhere else.
#[derive(Debug)]
pub struct ChunkStream {
    rx: mpsc::Receiver<Chunk>,
    observed: Option<Observed>,
    task: Option<JoinHandle<Result<u64, StreamError>>>,
    content_type: String,
    completed_items: Option<u64>,
}

impl ChunkStream {
    /// The encoder's media type, for a `Content-Type` header.
    pub fn content_type(&self) -> &str {
        &self.content_type
    }

    /// How many items the complete document holds: `Some(n)` once the stream has ended
    /// successfully (yielded `None`), `None` before that and after a failure (where
    /// [`StreamError::items_before`] counts them). For a row count in a trailer or a log.
    pub fn completed_items(&self) -> Option<u64> {
        self.completed_items
    }

    /// Adds `observer` to this stream's observers (after the streamer's own, if any).
    /// Its hooks see every chunk taken from now on; attach it before reading.
    #[must_use]
    pub fn with_observer(mut self, observer: Arc<dyn StreamObserver>) -> Self {
        self.observed = Some(match self.observed.take() {
            None => Observed::new(observer, tokio::time::Instant::now()),
            Some(mut observed) => {
                observer.on_start();
                observed.observer = Arc::new((observed.observer, observer));
                observed
            }
        });
        self
    }
}

/// The observation of one stream: its observer and running totals.
struct Observed {
    observer: Arc<dyn StreamObserver>,
    started: tokio::time::Instant,
    first_byte: Option<std::time::Duration>,
    items: u64,
    bytes: u64,
    chunks: u64,
    done: bool,
}

impl std::fmt::Debug for Observed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Observed")
            .field("items", &self.items)
            .field("bytes", &self.bytes)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl Observed {
    fn new(observer: Arc<dyn StreamObserver>, started: tokio::time::Instant) -> Self {
        observer.on_start();
        Self {
            observer,
            started,
            first_byte: None,
            items: 0,
            bytes: 0,
            chunks: 0,
            done: false,
        }
    }

    fn chunk(&mut self, chunk: &Chunk) {
        if self.first_byte.is_none() {
            let ttfb = self.started.elapsed();
            self.first_byte = Some(ttfb);
            self.observer.on_first_byte(ttfb);
        }
        self.items += chunk.items;
        self.bytes += chunk.bytes.len() as u64;
        self.chunks += 1;
        self.observer.on_chunk(chunk.bytes.len(), chunk.items);
    }

    fn end(&mut self, outcome: Outcome) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        self.observer.on_complete(&StreamSummary {
            outcome,
            items: self.items,
            bytes: self.bytes,
            chunks: self.chunks,
            duration: self.started.elapsed(),
            time_to_first_byte: self.first_byte,
        });
    }
}

impl Stream for ChunkStream {
    type Item = Result<Bytes, StreamError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(chunk) = ready!(self.rx.poll_recv(cx)) {
            if let Some(observed) = &mut self.observed {
                observed.chunk(&chunk);
            }
            return Poll::Ready(Some(Ok(chunk.bytes)));
        }
        // Every chunk was received; the task has finished or is finishing.
        let Some(task) = self.task.as_mut() else {
            return Poll::Ready(None);
        };
        let joined = ready!(Pin::new(task).poll(cx));
        self.task = None;
        let ended = match producer_result(joined) {
            Ok(items) => {
                self.completed_items = Some(items);
                None
            }
            Err(err) => Some(Err(err)),
        };
        if let Some(observed) = &mut self.observed {
            match &ended {
                None => observed.end(Outcome::Completed),
                Some(Err(err)) => {
                    observed.observer.on_error(err);
                    observed.end(Outcome::of_error(err.kind()));
                }
                Some(Ok(_)) => {}
            }
        }
        Poll::Ready(ended)
    }
}

/// The producer task's result: its item count, or why it failed (its own error, a panic,
/// or being cancelled).
fn producer_result(
    joined: Result<Result<u64, StreamError>, tokio::task::JoinError>,
) -> Result<u64, StreamError> {
    match joined {
        Ok(result) => result,
        Err(join) if join.is_panic() => Err(StreamError::new(
            StreamErrorKind::Panic,
            0,
            Some(panic_message(join.into_panic()).into()),
        )),
        Err(_) => Err(StreamError::new(StreamErrorKind::Cancelled, 0, None)),
    }
}

impl Drop for ChunkStream {
    fn drop(&mut self) {
        // A producer that already failed on its own — the write timeout of a client that
        // stopped reading, a deadline, a fetch error — ended the stream before the
        // consumer took the error: that failure is the outcome, not the client leaving.
        let failed = self.task.take().and_then(|mut task| {
            if !task.is_finished() {
                task.abort();
                return None;
            }
            let mut cx = Context::from_waker(std::task::Waker::noop());
            match Pin::new(&mut task).poll(&mut cx) {
                Poll::Ready(joined) => producer_result(joined).err(),
                Poll::Pending => None,
            }
        });
        if let Some(observed) = &mut self.observed {
            match failed {
                Some(err) => {
                    observed.observer.on_error(&err);
                    observed.end(Outcome::of_error(err.kind()));
                }
                None => observed.end(Outcome::ClientGone),
            }
        }
    }
}

/// What the producer's wait returned: an item from the fetcher, or the flush timer.
enum Next<T> {
    Fetched(Option<T>),
    Flush,
}

/// What to do after an item was encoded.
enum Encoded {
    /// The buffer should leave as a chunk now (first item, or threshold reached).
    SendChunk,
    /// The item alone exceeds the threshold: send what came before it (up to this byte
    /// offset) as one chunk, then the item as the next.
    SendSplit(usize),
    /// Keep filling the buffer.
    Keep,
}

/// What a producer runs under: its configuration, limits and start time.
#[derive(Debug, Clone, Copy)]
struct Settings {
    config: ValidConfig,
    limits: Limits,
    started: tokio::time::Instant,
}

/// The synchronous half of the producer: transform and encode one item; and the sending
/// of chunks under the write timeout and byte rate.
struct Pipeline<X, Enc> {
    transformer: X,
    encoder: Enc,
    ring: Ring,
    threshold: usize,
    limits: Limits,
    byte_rate: Option<RateLimiter>,
    items: u64,
    /// Items in chunks already handed to the consumer.
    items_sent: u64,
    chunks: u64,
}

/// A chunk on its way to the consumer, with how many complete items it holds.
#[derive(Debug)]
struct Chunk {
    bytes: Bytes,
    items: u64,
}

impl<X, Enc: Encoder> Pipeline<X, Enc> {
    fn encode<T, E>(&mut self, fetched: Result<T, E>) -> Result<Encoded, StreamError>
    where
        X: Transformer<T>,
        E: Into<BoxError>,
    {
        let items = self.items;
        let item = fetched.map_err(|err| fetch_error(err.into(), items))?;
        if let Some(max) = self.limits.max_items {
            if items >= max {
                return Err(StreamError::new(
                    StreamErrorKind::LimitReached,
                    items,
                    Some(format!("the stream holds more than max_items ({max}) items").into()),
                ));
            }
        }
        let output = guard(items, || self.transformer.transform(item))?
            .map_err(|e| StreamError::new(StreamErrorKind::Transform, items, Some(e.into())))?;
        let encoder = &mut self.encoder;
        let buf = self.ring.current();
        let mark = buf.len();
        let encoded = match guard(items, || encoder.item(&output, buf)) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(err)) => Err(StreamError::new(
                StreamErrorKind::Encode,
                items,
                Some(err.into()),
            )),
            Err(panic) => Err(panic),
        };
        if let Err(err) = encoded {
            buf.truncate(mark);
            return Err(err);
        }
        let size = buf.len() - mark;
        if let Some(max) = self.limits.max_item_size {
            if size > max {
                buf.truncate(mark);
                return Err(StreamError::new(
                    StreamErrorKind::LimitReached,
                    items,
                    Some(
                        format!("an item of {size} bytes exceeds max_item_size ({max} bytes)")
                            .into(),
                    ),
                ));
            }
        }
        self.items += 1;
        if self.chunks > 0 && mark > 0 && size > self.threshold {
            Ok(Encoded::SendSplit(mark))
        } else if self.chunks == 0 || buf.len() >= self.threshold {
            Ok(Encoded::SendChunk)
        } else {
            Ok(Encoded::Keep)
        }
    }

    /// Encodes the document's beginning.
    fn begin(&mut self) -> Result<(), StreamError> {
        let encoder = &mut self.encoder;
        let buf = self.ring.current();
        guard(0, || encoder.begin(buf))?
            .map_err(|e| StreamError::new(StreamErrorKind::Encode, 0, Some(e.into())))
    }

    /// Encodes the document's end.
    fn end(&mut self) -> Result<(), StreamError> {
        let items = self.items;
        let encoder = &mut self.encoder;
        let buf = self.ring.current();
        guard(items, || encoder.end(items, buf))?
            .map_err(|e| StreamError::new(StreamErrorKind::Encode, items, Some(e.into())))
    }

    /// Lets the encoder write its error record. A failure here changes nothing: the
    /// stream fails with the original error either way.
    fn error_record(&mut self, err: &StreamError) {
        let encoder = &mut self.encoder;
        let buf = self.ring.current();
        let mark = buf.len();
        if !matches!(guard(self.items, || encoder.error(err, buf)), Ok(Ok(()))) {
            buf.truncate(mark);
        }
    }

    /// Sends the current buffer as a chunk; `Ok(false)` when the client is gone.
    async fn send(&mut self, tx: &mpsc::Sender<Chunk>) -> Result<bool, StreamError> {
        let chunk = self.ring.take_chunk();
        let items = self.items - self.items_sent;
        self.deliver(chunk, items, tx).await
    }

    /// Sends the first `mark` bytes of the current buffer as one chunk and the rest as
    /// another.
    async fn send_split(
        &mut self,
        mark: usize,
        tx: &mpsc::Sender<Chunk>,
    ) -> Result<bool, StreamError> {
        let before = self.ring.current().split_to(mark).freeze();
        // Everything but the item just encoded, which stays for the next chunk.
        let items = self.items - self.items_sent - 1;
        if !self.deliver(before, items, tx).await? {
            return Ok(false);
        }
        self.send(tx).await
    }

    /// Hands one chunk to the consumer, at the byte rate and within the write timeout.
    async fn deliver(
        &mut self,
        bytes: Bytes,
        items: u64,
        tx: &mpsc::Sender<Chunk>,
    ) -> Result<bool, StreamError> {
        if let Some(rate) = &self.byte_rate {
            rate.acquire(bytes.len()).await;
        }
        self.chunks += 1;
        self.items_sent += items;
        let first = self.chunks == 1;
        let chunk = Chunk { bytes, items };
        let sent = match self.limits.write_timeout {
            None => Ok(tx.send(chunk).await.is_ok()),
            Some(timeout) => match tokio::time::timeout(timeout, tx.send(chunk)).await {
                Ok(sent) => Ok(sent.is_ok()),
                Err(_) => Err(StreamError::new(
                    StreamErrorKind::TimedOut,
                    self.items,
                    Some(
                        format!(
                            "the client took no data for {} ms (write_timeout)",
                            timeout.as_millis()
                        )
                        .into(),
                    ),
                )),
            },
        };
        if first {
            // Sending woke the consumer, which the scheduler parks in this worker's
            // next-task slot: it runs only when this task yields. Without a yield here the
            // first chunk would wait until the channel is full (time to first byte).
            tokio::task::yield_now().await;
        }
        sent
    }
}

/// The producer task: owns the fetcher, transformer, encoder and buffers.
async fn produce<S, T, E, X, Enc>(
    fetcher: S,
    transformer: X,
    encoder: Enc,
    settings: Settings,
    ring: Ring,
    tx: mpsc::Sender<Chunk>,
) -> Result<u64, StreamError>
where
    S: Stream<Item = Result<T, E>> + Send,
    T: Send,
    E: Into<BoxError> + Send,
    X: Transformer<T>,
    Enc: Encoder,
{
    let Settings {
        config,
        limits,
        started,
    } = settings;
    let mut fetcher = pin!(fetcher);
    let mut pipeline = Pipeline {
        transformer,
        encoder,
        ring,
        threshold: config.chunk_threshold(),
        limits,
        byte_rate: limits.bytes_per_second.map(RateLimiter::new),
        items: 0,
        items_sent: 0,
        chunks: 0,
    };
    let item_rate = limits.items_per_second.map(RateLimiter::new);
    pipeline.begin()?;

    // The flush timer runs while the buffer holds data that has not been sent.
    let flush_interval = config.flush_interval();
    let flush = tokio::time::sleep(flush_interval);
    let mut flush = pin!(flush);

    let pumped = pump(
        &mut fetcher,
        &mut pipeline,
        &mut flush,
        flush_interval,
        item_rate.as_ref(),
        &tx,
    );
    let result = match limits.deadline {
        None => pumped.await,
        Some(deadline) => match tokio::time::timeout_at(started + deadline, pumped).await {
            Ok(result) => result,
            Err(_) => Err(StreamError::new(
                StreamErrorKind::TimedOut,
                pipeline.items,
                Some(
                    format!(
                        "the stream ran past its deadline of {} ms",
                        deadline.as_millis()
                    )
                    .into(),
                ),
            )),
        },
    };
    if let Err(err) = result {
        // Deliver the complete items encoded before the failure and the encoder's error
        // record, unless nothing was sent yet: then the error alone reaches the consumer
        // and can become a real status.
        if pipeline.chunks > 0 {
            pipeline.error_record(&err);
            if !pipeline.ring.current().is_empty() {
                // Best effort: a stalled client gets the error without this chunk.
                let _ = pipeline.send(&tx).await;
            }
        }
        return Err(err);
    }
    Ok(pipeline.items)
}

/// The producer loop; returns when the document is complete, the client is gone, or a
/// stage failed.
async fn pump<S, T, E, X, Enc>(
    fetcher: &mut Pin<&mut S>,
    pipeline: &mut Pipeline<X, Enc>,
    flush: &mut Pin<&mut tokio::time::Sleep>,
    flush_interval: std::time::Duration,
    item_rate: Option<&RateLimiter>,
    tx: &mpsc::Sender<Chunk>,
) -> Result<(), StreamError>
where
    S: Stream<Item = Result<T, E>> + Send,
    T: Send,
    E: Into<BoxError> + Send,
    X: Transformer<T>,
    Enc: Encoder,
{
    let mut armed = !pipeline.ring.current().is_empty();
    loop {
        let next = std::future::poll_fn(|cx| {
            match catch_unwind(AssertUnwindSafe(|| fetcher.as_mut().poll_next(cx))) {
                Ok(Poll::Ready(item)) => return Poll::Ready(Ok(Next::Fetched(item))),
                Ok(Poll::Pending) => {}
                Err(payload) => return Poll::Ready(Err(payload)),
            }
            if armed && flush.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Ok(Next::Flush));
            }
            Poll::Pending
        })
        .await;
        let action = match next {
            Err(payload) => return Err(panicked(pipeline.items, payload)),
            Ok(Next::Fetched(None)) => break,
            Ok(Next::Fetched(Some(fetched))) => {
                if let Some(rate) = item_rate {
                    rate.acquire(1).await;
                }
                match pipeline.encode(fetched)? {
                    Encoded::Keep => {
                        if !armed {
                            flush
                                .as_mut()
                                .reset(tokio::time::Instant::now() + flush_interval);
                            armed = true;
                        }
                        None
                    }
                    other => Some(other),
                }
            }
            Ok(Next::Flush) => {
                armed = false;
                (!pipeline.ring.current().is_empty()).then_some(Encoded::SendChunk)
            }
        };
        let delivered = match action {
            None => true,
            Some(Encoded::SendSplit(mark)) => pipeline.send_split(mark, tx).await?,
            Some(_) => pipeline.send(tx).await?,
        };
        if action.is_some() {
            armed = false;
        }
        if !delivered {
            return Ok(());
        }
    }

    pipeline.end()?;
    if !pipeline.ring.current().is_empty() {
        pipeline.send(tx).await?;
    }
    Ok(())
}

/// An error of a stage that runs before the streamer sees the item (the parallel
/// transform): the streamer keeps its kind and fills in the item count.
fn staged(kind: StreamErrorKind, source: Option<BoxError>) -> BoxError {
    Box::new(StreamError::new(kind, 0, source))
}

/// A fetcher's error as a [`StreamError`]: of kind `Fetch`, unless it is already a
/// [`StreamError`] from an earlier stage, whose kind is kept.
fn fetch_error(err: BoxError, items: u64) -> StreamError {
    match err.downcast::<StreamError>() {
        Ok(staged) => staged.at(items),
        Err(err) => StreamError::new(StreamErrorKind::Fetch, items, Some(err)),
    }
}

/// Runs user code (transformer, encoder), turning a panic into a [`StreamError`].
#[inline]
fn guard<R>(items: u64, f: impl FnOnce() -> R) -> Result<R, StreamError> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| panicked(items, payload))
}

fn panicked(items: u64, payload: Box<dyn std::any::Any + Send>) -> StreamError {
    StreamError::new(
        StreamErrorKind::Panic,
        items,
        Some(panic_message(payload).into()),
    )
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    let text = if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a non-string panic payload".to_owned()
    };
    format!("panicked: {text}")
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
