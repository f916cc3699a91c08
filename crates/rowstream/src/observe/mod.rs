//! Observing streams: [`StreamObserver`] hooks for chunks, the first byte, errors and
//! completion, with a [`StreamSummary`] of each stream. The `metrics` feature's observer
//! is its own integration module, `metrics.rs` (`rowstream::metrics`): the rest of the
//! core never depends on the `metrics` crate.
//!
//! Hooks run on the consumer's side of the [`ChunkStream`](crate::ChunkStream), when the
//! HTTP layer (or whoever reads the stream) takes a chunk, so an observer sees exactly the
//! chunks, bytes and items the client received. They cost nothing when no observer is set
//! (one branch per chunk) and one dynamic call per chunk — never per item — when one is.

#[cfg(feature = "metrics")]
pub mod metrics;

use std::sync::Arc;
use std::time::Duration;

use crate::{StreamError, StreamErrorKind};

/// Hooks called as a stream is consumed. Every method has an empty default.
///
/// Implement it for logs, metrics or progress bars, and attach it with
/// [`Streamer::with_observer`](crate::Streamer::with_observer) (every stream) or
/// [`ChunkStream::with_observer`](crate::ChunkStream::with_observer) (one stream, e.g.
/// with per-request labels). Several observers combine as a tuple `(A, B)` or through
/// `Vec<Arc<dyn StreamObserver>>`.
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use rowstream::{StreamObserver, StreamSummary};
///
/// #[derive(Debug, Default)]
/// struct Rows(AtomicU64);
///
/// impl StreamObserver for Rows {
///     fn on_chunk(&self, _bytes: usize, items: u64) {
///         self.0.fetch_add(items, Ordering::Relaxed);
///     }
///     fn on_complete(&self, summary: &StreamSummary) {
///         println!("{:?} after {} rows", summary.outcome, summary.items);
///     }
/// }
/// ```
pub trait StreamObserver: Send + Sync + std::fmt::Debug + 'static {
    /// The stream started (or, for an observer attached to a running stream, the
    /// observation started). Called exactly once, before any other hook.
    fn on_start(&self) {}

    /// The first chunk was taken, `time_to_first_byte` after the stream started.
    fn on_first_byte(&self, time_to_first_byte: Duration) {
        let _ = time_to_first_byte;
    }

    /// A chunk of `bytes` bytes holding `items` complete items was taken (an error record
    /// counts 0 items).
    fn on_chunk(&self, bytes: usize, items: u64) {
        let _ = (bytes, items);
    }

    /// The stream failed with `error` (called before [`on_complete`](Self::on_complete)).
    fn on_error(&self, error: &StreamError) {
        let _ = error;
    }

    /// The stream ended, for whatever reason; called exactly once per stream.
    fn on_complete(&self, summary: &StreamSummary) {
        let _ = summary;
    }
}

/// How a stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Outcome {
    /// Every item was sent and the document is complete.
    Completed,
    /// A fetcher, transformer or encoder failed or panicked (the error's kind).
    Failed(StreamErrorKind),
    /// The consumer dropped the stream before its end while the stream was still going:
    /// over HTTP, the client left. A stream whose producer had already failed on its own
    /// (for example the write timeout of a client that stopped reading, before the server
    /// closed the connection) ends with that failure instead.
    ClientGone,
    /// The write timeout or the deadline tripped ([`Limits`](crate::Limits)).
    TimedOut,
    /// `max_items` or `max_item_size` tripped ([`Limits`](crate::Limits)).
    LimitReached,
}

impl Outcome {
    /// The outcome of a stream that failed with an error of `kind`.
    pub fn of_error(kind: StreamErrorKind) -> Self {
        match kind {
            StreamErrorKind::TimedOut => Self::TimedOut,
            StreamErrorKind::LimitReached => Self::LimitReached,
            other => Self::Failed(other),
        }
    }

    /// A short stable name: `completed`, `failed`, `client_gone`, `timed_out`,
    /// `limit_reached` — for a metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::Failed(_) => "failed",
            Self::ClientGone => "client_gone",
            Self::TimedOut => "timed_out",
            Self::LimitReached => "limit_reached",
        }
    }
}

/// What one stream did, given to [`StreamObserver::on_complete`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamSummary {
    /// How it ended.
    pub outcome: Outcome,
    /// Items in the chunks taken by the consumer.
    pub items: u64,
    /// Bytes in the chunks taken by the consumer (before any compression).
    pub bytes: u64,
    /// Chunks taken by the consumer.
    pub chunks: u64,
    /// From the call to [`Streamer::stream`](crate::Streamer::stream) to the end.
    pub duration: Duration,
    /// From the call to [`Streamer::stream`](crate::Streamer::stream) to the first chunk
    /// taken; `None` if none was.
    pub time_to_first_byte: Option<Duration>,
}

impl<O: StreamObserver + ?Sized> StreamObserver for Arc<O> {
    fn on_start(&self) {
        (**self).on_start();
    }
    fn on_first_byte(&self, ttfb: Duration) {
        (**self).on_first_byte(ttfb);
    }
    fn on_chunk(&self, bytes: usize, items: u64) {
        (**self).on_chunk(bytes, items);
    }
    fn on_error(&self, error: &StreamError) {
        (**self).on_error(error);
    }
    fn on_complete(&self, summary: &StreamSummary) {
        (**self).on_complete(summary);
    }
}

impl<A: StreamObserver, B: StreamObserver> StreamObserver for (A, B) {
    fn on_start(&self) {
        self.0.on_start();
        self.1.on_start();
    }
    fn on_first_byte(&self, ttfb: Duration) {
        self.0.on_first_byte(ttfb);
        self.1.on_first_byte(ttfb);
    }
    fn on_chunk(&self, bytes: usize, items: u64) {
        self.0.on_chunk(bytes, items);
        self.1.on_chunk(bytes, items);
    }
    fn on_error(&self, error: &StreamError) {
        self.0.on_error(error);
        self.1.on_error(error);
    }
    fn on_complete(&self, summary: &StreamSummary) {
        self.0.on_complete(summary);
        self.1.on_complete(summary);
    }
}

impl StreamObserver for Vec<Arc<dyn StreamObserver>> {
    fn on_start(&self) {
        self.iter().for_each(|o| o.on_start());
    }
    fn on_first_byte(&self, ttfb: Duration) {
        self.iter().for_each(|o| o.on_first_byte(ttfb));
    }
    fn on_chunk(&self, bytes: usize, items: u64) {
        self.iter().for_each(|o| o.on_chunk(bytes, items));
    }
    fn on_error(&self, error: &StreamError) {
        self.iter().for_each(|o| o.on_error(error));
    }
    fn on_complete(&self, summary: &StreamSummary) {
        self.iter().for_each(|o| o.on_complete(summary));
    }
}
