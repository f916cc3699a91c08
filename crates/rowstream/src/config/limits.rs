//! [`Limits`]: how long, how much and how fast one stream may run.

use std::num::NonZeroU32;
use std::time::Duration;

/// Default [`Limits::write_timeout`]: 30 s (also what `write_timeout(Duration::ZERO)`
/// means).
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// Per-stream limits, checked by the [`Streamer`](crate::Streamer). Each one that trips ends
/// the stream as a failure — a cut transfer over HTTP, like any mid-stream error — with a
/// [`StreamError`](crate::StreamError) of kind
/// [`TimedOut`](crate::StreamErrorKind::TimedOut) or
/// [`LimitReached`](crate::StreamErrorKind::LimitReached).
///
/// | limit | unit | default | kind when it trips |
/// |---|---|---|---|
/// | [`write_timeout`](Self::write_timeout) | `Duration` | 30 s | `TimedOut` |
/// | [`deadline`](Self::deadline) | `Duration` | none | `TimedOut` |
/// | [`max_items`](Self::max_items) | items | none | `LimitReached` |
/// | [`max_item_size`](Self::max_item_size) | bytes | none | `LimitReached` |
/// | [`items_per_second`](Self::items_per_second) | items per second | none (unlimited) | — (it slows the stream) |
/// | [`bytes_per_second`](Self::bytes_per_second) | bytes per second | none (unlimited) | — (it slows the stream) |
///
/// **Zero and none**, the rule of every knob in this crate (as of
/// [`ChunkConfig`](crate::ChunkConfig)): `0` or [`Duration::ZERO`] means the default. A
/// limit is off when it is `None`, which is the default of every limit but the write
/// timeout; the duration setters take `impl Into<Option<Duration>>`, so
/// `write_timeout(None)` turns the write timeout off. Each setter has a getter named
/// after it with `get_` (as `std::process::Command::get_program`), answering `None` for a
/// limit that is off.
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
/// assert_eq!(streamer.limits().get_max_items(), Some(5_000_000));
/// assert_eq!(streamer.limits().get_write_timeout(), Some(Duration::from_secs(30)));
///
/// let unguarded = Limits::default().write_timeout(None);
/// assert_eq!(unguarded.get_write_timeout(), None);
/// assert_eq!(Limits::default().write_timeout(Duration::ZERO), Limits::default());
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
    /// trips it; a client that stops reading does. Default 30 s
    /// ([`DEFAULT_WRITE_TIMEOUT`]); `Duration::ZERO` means the default, `None` turns it
    /// off.
    ///
    /// A stalled socket is not polled by the HTTP server at all: to close such a
    /// connection, also wrap the listener (the `axum` feature's
    /// [`WriteTimeoutListener`](crate::axum::WriteTimeoutListener)).
    pub fn write_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.write_timeout = timeout.into().map(|timeout| {
            if timeout.is_zero() {
                DEFAULT_WRITE_TIMEOUT
            } else {
                timeout
            }
        });
        self
    }

    /// Longest time the whole stream may take, from the call to
    /// [`stream`](crate::Streamer::stream). Default: none; `Duration::ZERO` or `None`
    /// means none.
    pub fn deadline(mut self, deadline: impl Into<Option<Duration>>) -> Self {
        self.deadline = deadline.into().filter(|deadline| !deadline.is_zero());
        self
    }

    /// Most items one stream may carry; the next one fails the stream. Default: none;
    /// `0` means none.
    pub fn max_items(mut self, items: u64) -> Self {
        self.max_items = (items > 0).then_some(items);
        self
    }

    /// Largest encoded size of one item in bytes, with its separator or framing (a JSON
    /// array item's `,`, an NDJSON line's `\n`). Default: none (an item of any size
    /// streams through, in a chunk of its own); `0` means none.
    ///
    /// Checked at two points, each failing the stream with
    /// [`LimitReached`](crate::StreamErrorKind::LimitReached):
    ///
    /// - **before a value is encoded**, for the text and binary values of this crate's SQL
    ///   fetchers (features `sqlite`, `postgres`, `mysql`): a value whose length alone
    ///   passes the limit — every format writes at least that many bytes for it — is
    ///   refused before any of it is encoded, and the error names the value's size;
    /// - **after the item is encoded**, for every item: a larger one is removed from the
    ///   buffer before it is sent.
    ///
    /// It bounds what the stream encodes and holds, not what the fetcher read: a database
    /// driver has received the whole row by then.
    pub fn max_item_size(mut self, bytes: usize) -> Self {
        self.max_item_size = (bytes > 0).then_some(bytes);
        self
    }

    /// Most items per second: a steady rate, with bursts of at most a tenth of a second's
    /// worth. Default: unlimited; `0` means unlimited.
    pub fn items_per_second(mut self, items: u32) -> Self {
        self.items_per_second = NonZeroU32::new(items);
        self
    }

    /// Most encoded bytes per second, counted per chunk, with bursts of at most a tenth
    /// of a second's worth. Default: unlimited; `0` means unlimited.
    pub fn bytes_per_second(mut self, bytes: u32) -> Self {
        self.bytes_per_second = NonZeroU32::new(bytes);
        self
    }

    /// The write timeout; `None` when it is off.
    pub fn get_write_timeout(&self) -> Option<Duration> {
        self.write_timeout
    }

    /// The deadline, if any.
    pub fn get_deadline(&self) -> Option<Duration> {
        self.deadline
    }

    /// The item count limit, if any.
    pub fn get_max_items(&self) -> Option<u64> {
        self.max_items
    }

    /// The item size limit in bytes, if any.
    pub fn get_max_item_size(&self) -> Option<usize> {
        self.max_item_size
    }

    /// The item rate in items per second, if limited.
    pub fn get_items_per_second(&self) -> Option<u32> {
        self.items_per_second.map(NonZeroU32::get)
    }

    /// The byte rate in bytes per second, if limited.
    pub fn get_bytes_per_second(&self) -> Option<u32> {
        self.bytes_per_second.map(NonZeroU32::get)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_means_the_default_and_none_turns_a_limit_off() {
        let zeros = Limits::default()
            .write_timeout(Duration::ZERO)
            .deadline(Duration::ZERO)
            .max_items(0)
            .max_item_size(0)
            .items_per_second(0)
            .bytes_per_second(0);
        assert_eq!(zeros, Limits::default());
        assert_eq!(zeros.get_write_timeout(), Some(DEFAULT_WRITE_TIMEOUT));
        assert_eq!(
            (
                zeros.get_deadline(),
                zeros.get_max_items(),
                zeros.get_max_item_size()
            ),
            (None, None, None)
        );
        assert_eq!(
            (zeros.get_items_per_second(), zeros.get_bytes_per_second()),
            (None, None)
        );
        let off = Limits::default().write_timeout(None).deadline(None);
        assert_eq!(off, Limits::none());
        assert_eq!(off.get_write_timeout(), None);
    }

    #[test]
    fn getters_answer_what_the_setters_set() {
        let second = Duration::from_secs(1);
        let limits = Limits::none()
            .write_timeout(second)
            .deadline(Some(2 * second))
            .max_items(3)
            .max_item_size(4)
            .items_per_second(5)
            .bytes_per_second(6);
        assert_eq!(limits.get_write_timeout(), Some(second));
        assert_eq!(limits.get_deadline(), Some(2 * second));
        assert_eq!(limits.get_max_items(), Some(3));
        assert_eq!(limits.get_max_item_size(), Some(4));
        assert_eq!(limits.get_items_per_second(), Some(5));
        assert_eq!(limits.get_bytes_per_second(), Some(6));
        // Unset again with the default's value.
        let reset = limits.max_items(0).deadline(None).items_per_second(0);
        assert_eq!(
            (
                reset.get_max_items(),
                reset.get_deadline(),
                reset.get_items_per_second()
            ),
            (None, None, None)
        );
    }
}
