//! The producer: the task that pulls from the fetcher, transforms and encodes each item
//! into the ring's buffers, and sends chunks under the flush interval, the limits and
//! backpressure.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::{Pin, pin};
use std::task::Poll;

use bytes::Bytes;
use futures_core::Stream;
use tokio::sync::mpsc;

use super::chunks::Chunk;
use crate::config::rate::RateLimiter;
use crate::encode::item_limit;
use crate::pool::Ring;
use crate::{BoxError, Encoder, Limits, StreamError, StreamErrorKind, Transformer, ValidConfig};

/// What the producer's wait returned: an item from the fetcher, the flush timer, or (while
/// the first chunk gathers what is ready) a fetcher with nothing ready.
enum Next<T> {
    Fetched(Option<T>),
    Flush,
    Idle,
}

/// What to do after an item was encoded.
enum Encoded {
    /// The buffer should leave as a chunk now (threshold reached).
    SendChunk,
    /// An item of the first chunk: the chunk takes what else the fetcher has ready and
    /// leaves as soon as it has nothing more at hand (or at the threshold).
    First,
    /// The item alone exceeds the threshold: send what came before it (up to this byte
    /// offset) as one chunk, then the item as the next.
    SendSplit(usize),
    /// Keep filling the buffer.
    Keep,
}

/// What a producer runs under: its configuration, limits and start time.
#[derive(Debug, Clone, Copy)]
pub(super) struct Settings {
    pub(super) config: ValidConfig,
    pub(super) limits: Limits,
    pub(super) started: tokio::time::Instant,
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
    /// After how many chunks the producer yields once, to let the consumer take what was
    /// sent (see [`Pipeline::deliver`]).
    yield_after: u64,
    /// That chunk was sent: the producer yields before it encodes its next item (not at
    /// the end of the stream, where finishing lets the consumer run anyway).
    yield_due: bool,
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
        let max_item_size = self.limits.max_item_size;
        let (encoded, refused) = item_limit::scope(max_item_size, || {
            guard(items, || encoder.item(&output, buf))
        });
        let encoded = match (encoded, refused, max_item_size) {
            (Ok(Ok(())), _, _) => Ok(()),
            // A value refused to be encoded: its size alone passes the limit.
            (Ok(Err(_)), Some(size), Some(max)) => Err(StreamError::new(
                StreamErrorKind::LimitReached,
                items,
                Some(
                    format!(
                        "a value of {size} bytes exceeds max_item_size ({max} bytes); \
                         it was not encoded"
                    )
                    .into(),
                ),
            )),
            (Ok(Err(err)), _, _) => Err(StreamError::new(
                StreamErrorKind::Encode,
                items,
                Some(err.into()),
            )),
            (Err(panic), _, _) => Err(panic),
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
        // Items before this one in the buffer, not yet sent.
        let earlier = self.items - self.items_sent > 1;
        if earlier && size > self.threshold {
            Ok(Encoded::SendSplit(mark))
        } else if buf.len().saturating_add(self.encoder.held()) >= self.threshold {
            if self.chunks == 0 {
                // Items were still coming: hand this chunk over with the next one.
                self.yield_after = 2;
            }
            Ok(Encoded::SendChunk)
        } else if self.chunks == 0 {
            Ok(Encoded::First)
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
        // The rows a columnar encoder holds go first, whole, before the record.
        let mark = buf.len();
        if !matches!(guard(self.items, || encoder.flush(buf)), Ok(Ok(()))) {
            buf.truncate(mark);
        }
        let mark = buf.len();
        if !matches!(guard(self.items, || encoder.error(err, buf)), Ok(Ok(()))) {
            buf.truncate(mark);
        }
    }

    /// Whether the buffer or the encoder holds encoded items not yet sent.
    fn has_pending(&mut self) -> bool {
        !self.ring.current().is_empty() || self.encoder.held() > 0
    }

    /// Sends the current buffer as a chunk, after the encoder wrote what it held back;
    /// `Ok(false)` when the client is gone. A buffer still empty then (a columnar
    /// encoder that keeps gathering) is not sent: its items leave with a later chunk.
    async fn send(&mut self, tx: &mpsc::Sender<Chunk>) -> Result<bool, StreamError> {
        let items = self.items;
        let encoder = &mut self.encoder;
        let buf = self.ring.current();
        guard(items, || encoder.flush(buf))?
            .map_err(|e| StreamError::new(StreamErrorKind::Encode, items, Some(e.into())))?;
        if self.ring.current().is_empty() {
            return Ok(true);
        }
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
        if let Some(rate) = &mut self.byte_rate {
            rate.acquire(bytes.len()).await;
        }
        self.chunks += 1;
        self.items_sent += items;
        let first = self.chunks == self.yield_after;
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
            // next-task slot: it runs only when this task yields. Without a yield the
            // first chunk would wait until the channel is full (time to first byte); the
            // yield comes before the next item is encoded (`yield_due`), so a stream that
            // ends here finishes without one. A first chunk cut at the threshold while
            // items were still ready waits for the second (`yield_after` 2), so a
            // response just over the threshold reaches the server in one write too, not
            // as a full chunk and then a small one that Nagle's algorithm would hold
            // until the client's delayed ACK.
            self.yield_due = true;
        }
        sent
    }
}

/// The producer task: owns the fetcher, transformer, encoder and buffers.
pub(super) async fn produce<S, T, E, X, Enc>(
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
        yield_after: 1,
        yield_due: false,
    };
    let mut item_rate = limits.items_per_second.map(RateLimiter::new);
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
        item_rate.as_mut(),
        &tx,
    );
    // A deadline too far to add to the start is never reached: no deadline.
    let deadline = limits
        .deadline
        .and_then(|deadline| Some((deadline, started.checked_add(deadline)?)));
    let result = match deadline {
        None => pumped.await,
        Some((deadline, at)) => match tokio::time::timeout_at(at, pumped).await {
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
        // record, unless there are none yet: then the error alone reaches the consumer
        // and can become a real status. (Items the first chunk gathered count: the
        // first item commits the response, whether or not its chunk had left.)
        if pipeline.chunks > 0 || pipeline.items > 0 {
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
    mut item_rate: Option<&mut RateLimiter>,
    tx: &mpsc::Sender<Chunk>,
) -> Result<(), StreamError>
where
    S: Stream<Item = Result<T, E>> + Send,
    T: Send,
    E: Into<BoxError> + Send,
    X: Transformer<T>,
    Enc: Encoder,
{
    // The flush timer is armed while the buffer holds items not yet sent. The document's
    // beginning alone (`[`, a CSV header) does not arm it: it leaves with the first item
    // or the end, so framing never commits a response's status before there is a row.
    let mut armed = false;
    // The first chunk holds items and waits only for what the fetcher has ready: it
    // leaves the moment the fetcher would make it wait (or at the threshold, or when
    // flush_interval passes). A small or fast result is then one write, so the response
    // never leaves as a lone first item followed by a second small write that Nagle's
    // algorithm holds until the client's delayed ACK. Under an item rate the first item
    // leaves alone at once, as the next one must wait for its turn anyway.
    let mut gathering = false;
    loop {
        let next = std::future::poll_fn(|cx| {
            match catch_unwind(AssertUnwindSafe(|| fetcher.as_mut().poll_next(cx))) {
                Ok(Poll::Ready(item)) => return Poll::Ready(Ok(Next::Fetched(item))),
                Ok(Poll::Pending) => {}
                Err(payload) => return Poll::Ready(Err(payload)),
            }
            if gathering {
                return Poll::Ready(Ok(Next::Idle));
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
                if std::mem::take(&mut pipeline.yield_due) {
                    tokio::task::yield_now().await;
                }
                if let Some(rate) = item_rate.as_deref_mut() {
                    let mut acquire = pin!(rate.acquire(1));
                    if armed {
                        // Items already in the buffer still leave within flush_interval
                        // while this one waits for its turn.
                        tokio::select! {
                            biased;
                            () = acquire.as_mut() => {}
                            () = flush.as_mut() => {
                                armed = false;
                                if !pipeline.send(tx).await? {
                                    return Ok(());
                                }
                                acquire.await;
                            }
                        }
                    } else {
                        acquire.await;
                    }
                }
                match pipeline.encode(fetched)? {
                    Encoded::First if item_rate.is_some() => Some(Encoded::SendChunk),
                    Encoded::First => {
                        if !gathering {
                            flush
                                .as_mut()
                                .reset(tokio::time::Instant::now() + flush_interval);
                            gathering = true;
                        }
                        // A fetcher that is always ready but slow still lets the first
                        // chunk go within flush_interval.
                        (tokio::time::Instant::now() >= flush.deadline())
                            .then_some(Encoded::SendChunk)
                    }
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
                pipeline.has_pending().then_some(Encoded::SendChunk)
            }
            Ok(Next::Idle) => Some(Encoded::SendChunk),
        };
        let delivered = match action {
            None => true,
            Some(Encoded::SendSplit(mark)) => pipeline.send_split(mark, tx).await?,
            Some(_) => pipeline.send(tx).await?,
        };
        if action.is_some() {
            armed = false;
            gathering = false;
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
pub(super) fn staged(kind: StreamErrorKind, source: Option<BoxError>) -> BoxError {
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

pub(super) fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    let text = if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a non-string panic payload".to_owned()
    };
    format!("panicked: {text}")
}
