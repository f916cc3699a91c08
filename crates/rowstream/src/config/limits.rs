//! [`Limits`]: how long, how much and how fast one stream may run.

use std::num::NonZeroU32;
use std::time::Duration;

/// Default [`Limits::write_timeout`]: 30 s.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// Per-stream limits, checked by the [`Streamer`](crate::Streamer). Each one that trips ends
/// the stream as a failure — a cut transfer over HTTP, like any mid-stream error — with a
/// [`StreamError`](crate::StreamError) of kind
/// [`TimedOut`](crate::StreamErrorKind::TimedOut) or
/// [`LimitReached`](crate::StreamErrorKind::LimitReached).
///
/// | limit | default | kind when it trips |
/// |---|---|---|
/// | [`write_timeout`](Self::write_timeout) | 30 s | `TimedOut` |
/// | [`deadline`](Self::deadline) | none | `TimedOut` |
/// | [`max_items`](Self::max_items) | none | `LimitReached` |
/// | [`max_item_size`](Self::max_item_size) | none | `LimitReached` |
/// | [`items_per_second`](Self::items_per_second) | none (unlimited) | — (it slows the stream) |
/// | [`bytes_per_second`](Self::bytes_per_second) | none (unlimited) | — (it slows the stream) |
///
/// ```
/// use std::time::Duration;
/// use rowstream::{Limits, Streamer};
///
/// let streamer = Streamer::default().with_limits(
///     Limits::default()
///         .deadline(Duration::from_secs(600))
///         .max_items(5_000_000)
///         .items_per_second(10_000),
/// );
/// assert_eq!(streamer.limits().max_items_value(), Some(5_000_000));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub struct Limits {
    pub(crate) write_timeout: Option<Duration>,
    pub(crate) deadline: Option<Duration>,
    pub(crate) max_items: Option<u64>,
    pub(crate) max_item_size: Option<usize>,
    pub(crate) items_per_second: Option<NonZeroU32>,
    pub(crate) bytes_per_second: Option<NonZeroU32>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            write_timeout: Some(DEFAULT_WRITE_TIMEOUT),
            deadline: None,
            max_items: None,
            max_item_size: None,
            items_per_second: None,
            bytes_per_second: None,
        }
    }
}

impl Limits {
    /// No limits at all, not even the default write timeout.
    pub fn none() -> Self {
        Self {
            write_timeout: None,
            ..Self::default()
        }
    }

    /// Longest time a chunk may wait for room in the channel to the response writer, that
    /// is, between two chunks the client actually took. Measured between successful
    /// writes, not over the whole response, so a long export of a reading client never
    /// trips it; a client that stops reading does. Default 30 s; `Duration::ZERO` turns
    /// it off.
    ///
    /// A stalled socket is not polled by the HTTP server at all: to close such a
    /// connection, also wrap the listener (the `axum` feature's
    /// [`WriteTimeoutListener`](crate::axum::WriteTimeoutListener)).
    pub fn write_timeout(mut self, timeout: Duration) -> Self {
        self.write_timeout = (!timeout.is_zero()).then_some(timeout);
        self
    }

    /// Longest time the whole stream may take, from the call to
    /// [`stream`](crate::Streamer::stream). Default: none.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Most items one stream may carry; the next one fails the stream. Default: none.
    pub fn max_items(mut self, items: u64) -> Self {
        self.max_items = Some(items);
        self
    }

    /// Largest encoded size of one item in bytes, with its separator or framing (a JSON
    /// array item's `,`, an NDJSON line's `\n`); a larger item fails the stream instead
    /// of growing a buffer to its size. Default: none (an item of any size streams
    /// through, in a chunk of its own).
    pub fn max_item_size(mut self, bytes: usize) -> Self {
        self.max_item_size = Some(bytes);
        self
    }

    /// Most items per second: a steady rate, with bursts of at most a tenth of a second's
    /// worth.
    /// Default: unlimited.
    pub fn items_per_second(mut self, items: u32) -> Self {
        self.items_per_second = NonZeroU32::new(items);
        self
    }

    /// Most encoded bytes per second, counted per chunk. Default: unlimited.
    pub fn bytes_per_second(mut self, bytes: u32) -> Self {
        self.bytes_per_second = NonZeroU32::new(bytes);
        self
    }

    /// The write timeout, if any.
    pub fn write_timeout_value(&self) -> Option<Duration> {
        self.write_timeout
    }

    /// The deadline, if any.
    pub fn deadline_value(&self) -> Option<Duration> {
        self.deadline
    }

    /// The item count limit, if any.
    pub fn max_items_value(&self) -> Option<u64> {
        self.max_items
    }

    /// The item size limit in bytes, if any.
    pub fn max_item_size_value(&self) -> Option<usize> {
        self.max_item_size
    }
}
