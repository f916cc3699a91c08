//! [`ChunkStream`]: the consumer's side of a stream, and the observation of what it
//! takes.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use futures_core::Stream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::produce::panic_message;
use crate::observe::{Outcome, StreamObserver, StreamSummary};
use crate::{StreamError, StreamErrorKind};

/// The chunks of one stream: `Stream<Item = Result<Bytes, StreamError>>`.
///
/// Made by [`Streamer::stream`](crate::Streamer::stream). Yields `Ok` chunks in order until the document is
/// complete; a failed stream ends with exactly one `Err` and is never a complete document.
/// Dropping it drops the producer (aborting its task, if it has one) and the fetcher
/// (cancelling a database query). Serve it over HTTP with the `axum` feature's
/// [`into_response`](crate::axum::into_response), the `http` feature's
/// [`into_response`](crate::http::into_response) (hyper, tower), or write it anywhere else.
#[derive(Debug)]
pub struct ChunkStream {
    rx: mpsc::Receiver<Chunk>,
    observed: Option<Observed>,
    producer: Producer,
    content_type: String,
    completed_items: Option<u64>,
    flush_interval: std::time::Duration,
    last_key: Option<crate::LastKey>,
}

/// The producer's future, boxed so that it can move onto a task of its own.
pub(super) type ProducerFuture = Pin<Box<dyn Future<Output = Result<u64, StreamError>> + Send>>;

/// Where the producer runs.
///
/// It starts inside the consumer's first poll: a result that is ready at once (a small
/// export from memory, a cached page) is produced there and then, every chunk into the
/// channel, with no task, no wake-up of another thread and no context switch. The first
/// time it would wait (for the fetcher, a full channel, its first yield after the first
/// chunk, a rate limit), it moves onto a task of its own and runs beside the consumer,
/// with backpressure from the channel as before.
enum Producer {
    /// Not started, or started inside the consumer's poll and not yet waiting. (A
    /// `Mutex` only to keep the stream `Sync`: it is reached through `&mut`, never
    /// locked.)
    Inline(std::sync::Mutex<ProducerFuture>),
    /// Running on its own task.
    Spawned(JoinHandle<Result<u64, StreamError>>),
    /// Finished inside the consumer's poll; its result until the consumer takes it.
    Finished(Option<Result<u64, StreamError>>),
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Inline(_) => f.write_str("Inline"),
            Self::Spawned(task) => f.debug_tuple("Spawned").field(task).finish(),
            Self::Finished(result) => f.debug_tuple("Finished").field(result).finish(),
        }
    }
}

impl ChunkStream {
    /// The consumer's side of the stream `producer` produces into `rx`, observed by
    /// `observer` (if any) from `started` on.
    pub(super) fn new(
        rx: mpsc::Receiver<Chunk>,
        producer: ProducerFuture,
        content_type: String,
        observer: Option<Arc<dyn StreamObserver>>,
        started: tokio::time::Instant,
        flush_interval: std::time::Duration,
    ) -> Self {
        Self {
            rx,
            producer: Producer::Inline(std::sync::Mutex::new(producer)),
            content_type,
            completed_items: None,
            flush_interval,
            last_key: None,
            observed: observer.map(|observer| Observed::new(observer, started)),
        }
    }

    /// The encoder's media type, for a `Content-Type` header.
    pub fn content_type(&self) -> &str {
        &self.content_type
    }

    /// The longest a chunk's data waits in the producer's buffer
    /// ([`ChunkConfig::flush_interval`](crate::ChunkConfig::flush_interval)): whoever
    /// holds chunks back (a response choosing whether to compress) waits no longer.
    pub fn flush_interval(&self) -> std::time::Duration {
        self.flush_interval
    }

    /// How many items the complete document holds: `Some(n)` once the stream has ended
    /// successfully (yielded `None`), `None` before that and after a failure (where
    /// [`StreamError::items_before`] counts them). For a row count in a trailer or a log.
    pub fn completed_items(&self) -> Option<u64> {
        self.completed_items
    }

    /// Attaches the [`LastKey`](crate::LastKey) its rows' keys are recorded in (by its
    /// transformer), so that a [`StreamBody`](crate::http::StreamBody) with trailers
    /// sends `rowstream-last-key`.
    #[must_use]
    pub fn with_last_key(mut self, last: crate::LastKey) -> Self {
        self.last_key = Some(last);
        self
    }

    /// The [`LastKey`](crate::LastKey) attached with [`with_last_key`](Self::with_last_key).
    pub fn last_key(&self) -> Option<&crate::LastKey> {
        self.last_key.as_ref()
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
        if let Producer::Inline(producer) = &mut self.producer {
            let producer = producer
                .get_mut()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let polled = catch_unwind(AssertUnwindSafe(|| producer.as_mut().poll(cx)));
            self.producer = match polled {
                Ok(Poll::Ready(result)) => Producer::Finished(Some(result)),
                Ok(Poll::Pending) => {
                    let Producer::Inline(producer) =
                        std::mem::replace(&mut self.producer, Producer::Finished(None))
                    else {
                        unreachable!("matched above")
                    };
                    let producer = producer
                        .into_inner()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    Producer::Spawned(tokio::spawn(producer))
                }
                Err(payload) => Producer::Finished(Some(Err(StreamError::new(
                    StreamErrorKind::Panic,
                    0,
                    Some(panic_message(payload).into()),
                )))),
            };
        }
        if let Some(chunk) = ready!(self.rx.poll_recv(cx)) {
            if let Some(observed) = &mut self.observed {
                observed.chunk(&chunk);
            }
            return Poll::Ready(Some(Ok(chunk.bytes)));
        }
        // Every chunk was received; the producer has finished or is finishing.
        let result = match &mut self.producer {
            Producer::Spawned(task) => {
                let joined = ready!(Pin::new(task).poll(cx));
                producer_result(joined)
            }
            Producer::Finished(result) => match result.take() {
                Some(result) => result,
                None => return Poll::Ready(None),
            },
            Producer::Inline(_) => unreachable!("started above"),
        };
        self.producer = Producer::Finished(None);
        let ended = match result {
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
        let failed = match std::mem::replace(&mut self.producer, Producer::Finished(None)) {
            // Never started, or not waiting yet: dropping it drops the fetcher.
            Producer::Inline(_) => None,
            Producer::Finished(result) => result.and_then(Result::err),
            Producer::Spawned(mut task) => {
                if task.is_finished() {
                    let mut cx = Context::from_waker(std::task::Waker::noop());
                    match Pin::new(&mut task).poll(&mut cx) {
                        Poll::Ready(joined) => producer_result(joined).err(),
                        Poll::Pending => None,
                    }
                } else {
                    task.abort();
                    None
                }
            }
        };
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

/// A chunk on its way to the consumer, with how many complete items it holds.
#[derive(Debug)]
pub(super) struct Chunk {
    pub(super) bytes: Bytes,
    pub(super) items: u64,
}
