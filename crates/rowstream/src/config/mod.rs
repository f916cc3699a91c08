//! The knobs of a [`Streamer`](crate::Streamer): [`ChunkConfig`] (this file: when a chunk
//! is cut, how large buffers start, how many chunks may queue) and [`Limits`]
//! (`limits.rs`: how long, how much and how fast one stream may run, with the rate
//! limiter in `rate.rs`).
//!
//! One rule for every knob: `0` (or `Duration::ZERO`) means the default; a value above
//! a documented maximum is a [`ConfigError`]; a limit that can be off is off when `None`.

mod limits;
pub(crate) mod rate;

use std::time::Duration;

pub use limits::{DEFAULT_WRITE_TIMEOUT, Limits};

/// Default [`ChunkConfig::chunk_threshold`]: 32 KiB.
pub const DEFAULT_CHUNK_THRESHOLD: usize = 32 * 1024;
/// Default rows per page of keyset pagination (`keyset::Keyset::batch_size`, features
/// `sqlite`, `postgres`, `mysql`): 1,000. The streamer itself never pages: a page size is
/// its fetcher's.
pub const DEFAULT_BATCH_SIZE: usize = 1_000;
/// Default [`ChunkConfig::channel_buffer`]: 4 chunks.
pub const DEFAULT_CHANNEL_BUFFER: usize = 4;
/// Default [`ChunkConfig::flush_interval`]: 100 ms.
pub const DEFAULT_FLUSH_INTERVAL: Duration = Duration::from_millis(100);

/// Scratch space an encoder keeps between items to serialize one item into, in bytes:
/// 64 KiB. A larger item's scratch space leaves with the item (no copy) and is freed
/// once it has been written. Part of [`ValidConfig::memory_bound`].
pub const SCRATCH_BYTES: usize = 64 * 1024;

/// Largest accepted [`ChunkConfig::chunk_threshold`]: 64 MiB.
pub const MAX_CHUNK_THRESHOLD: usize = 64 * 1024 * 1024;
/// Largest accepted [`ChunkConfig::channel_buffer`]: 1,024 chunks.
pub const MAX_CHANNEL_BUFFER: usize = 1_024;
/// Largest accepted [`ChunkConfig::buffer_size`]: 256 MiB (4 × [`MAX_CHUNK_THRESHOLD`]).
pub const MAX_BUFFER_SIZE: usize = 4 * MAX_CHUNK_THRESHOLD;
/// Longest accepted [`ChunkConfig::flush_interval`]: 1 hour.
pub const MAX_FLUSH_INTERVAL: Duration = Duration::from_secs(3600);
/// Largest rows per page of keyset pagination (`keyset::Keyset::batch_size`): 1,000,000.
pub const MAX_BATCH_SIZE: usize = 1_000_000;

/// How a [`Streamer`](crate::Streamer) packs encoded items into chunks.
///
/// Every field has a documented default and maximum: `0` (or [`Duration::ZERO`]) means
/// "use the default", as in the design this crate follows, and a value above the maximum
/// is a [`ConfigError`] (the rule of every knob in this crate; see
/// [`Limits`](crate::Limits) for limits that can be off). Values are checked by
/// [`ChunkConfig::validate`], which [`Streamer::new`](crate::Streamer::new) calls.
///
/// Memory per stream is bounded by [`ValidConfig::memory_bound`]: `buffer_size ×
/// (channel_buffer + 2)` (one buffer being filled, `channel_buffer` chunks queued, one
/// chunk being written to the socket) plus the encoder's scratch space, and the largest
/// single encoded item while it is in flight.
///
/// ```
/// use std::time::Duration;
/// use rowstream::ChunkConfig;
///
/// let config = ChunkConfig::default()
///     .chunk_threshold(64 * 1024)
///     .flush_interval(Duration::from_millis(50));
/// let valid = config.validate()?;
/// assert_eq!(valid.chunk_threshold(), 64 * 1024);
/// assert_eq!(valid.buffer_size(), 96 * 1024); // derived: threshold × 1.5
/// # Ok::<(), rowstream::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub struct ChunkConfig {
    chunk_threshold: usize,
    buffer_size: usize,
    channel_buffer: usize,
    flush_interval: Duration,
}

impl Default for ChunkConfig {
    /// All fields unset (zero): [`validate`](Self::validate) fills in the defaults.
    fn default() -> Self {
        Self {
            chunk_threshold: 0,
            buffer_size: 0,
            channel_buffer: 0,
            flush_interval: Duration::ZERO,
        }
    }
}

impl ChunkConfig {
    /// Bytes a buffer holds before it is handed out as a chunk. Default 32 KiB
    /// ([`DEFAULT_CHUNK_THRESHOLD`]); at most [`MAX_CHUNK_THRESHOLD`].
    ///
    /// A chunk exceeds the threshold by at most one item: the item that crossed it.
    pub fn chunk_threshold(mut self, bytes: usize) -> Self {
        self.chunk_threshold = bytes;
        self
    }

    /// Initial capacity of each buffer, in bytes. Default: `chunk_threshold × 1.5`, so a
    /// chunk that crosses the threshold by one ordinary item needs no reallocation.
    /// Must not be below `chunk_threshold`; at most [`MAX_BUFFER_SIZE`].
    pub fn buffer_size(mut self, bytes: usize) -> Self {
        self.buffer_size = bytes;
        self
    }

    /// Chunks that may wait between the encoder and the response writer. Default 4
    /// ([`DEFAULT_CHANNEL_BUFFER`]); at most [`MAX_CHANNEL_BUFFER`]. When the queue is full
    /// the fetcher is no longer polled: this is the backpressure from a slow client.
    pub fn channel_buffer(mut self, chunks: usize) -> Self {
        self.channel_buffer = chunks;
        self
    }

    /// Longest time encoded data waits in a buffer that has not reached the threshold.
    /// Default 100 ms ([`DEFAULT_FLUSH_INTERVAL`]); at most [`MAX_FLUSH_INTERVAL`]. A slow
    /// source still delivers what it has at least this often.
    pub fn flush_interval(mut self, interval: Duration) -> Self {
        self.flush_interval = interval;
        self
    }

    /// Applies the defaults and checks the values against each other.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the offending field when a value is out of range
    /// (`chunk_threshold` above [`MAX_CHUNK_THRESHOLD`], `channel_buffer` above
    /// [`MAX_CHANNEL_BUFFER`], `buffer_size` above [`MAX_BUFFER_SIZE`], `flush_interval`
    /// above [`MAX_FLUSH_INTERVAL`]) or contradicts another (`buffer_size` below
    /// `chunk_threshold`).
    pub fn validate(self) -> Result<ValidConfig, ConfigError> {
        let chunk_threshold = or_default(self.chunk_threshold, DEFAULT_CHUNK_THRESHOLD);
        if chunk_threshold > MAX_CHUNK_THRESHOLD {
            return Err(ConfigError::new(
                "chunk_threshold",
                format!("{chunk_threshold} bytes is above the maximum of {MAX_CHUNK_THRESHOLD}"),
            ));
        }
        let channel_buffer = or_default(self.channel_buffer, DEFAULT_CHANNEL_BUFFER);
        if channel_buffer > MAX_CHANNEL_BUFFER {
            return Err(ConfigError::new(
                "channel_buffer",
                format!("{channel_buffer} chunks is above the maximum of {MAX_CHANNEL_BUFFER}"),
            ));
        }
        let buffer_size = or_default(self.buffer_size, chunk_threshold + chunk_threshold / 2);
        if buffer_size < chunk_threshold {
            return Err(ConfigError::new(
                "buffer_size",
                format!(
                    "{buffer_size} bytes is below chunk_threshold ({chunk_threshold} bytes): \
                     every chunk would reallocate its buffer"
                ),
            ));
        }
        if buffer_size > MAX_BUFFER_SIZE {
            return Err(ConfigError::new(
                "buffer_size",
                format!("{buffer_size} bytes is above the maximum of {MAX_BUFFER_SIZE}"),
            ));
        }
        let flush_interval = if self.flush_interval.is_zero() {
            DEFAULT_FLUSH_INTERVAL
        } else {
            self.flush_interval
        };
        if flush_interval > MAX_FLUSH_INTERVAL {
            return Err(ConfigError::new(
                "flush_interval",
                format!(
                    "{} ms is above the maximum of {} ms",
                    flush_interval.as_millis(),
                    MAX_FLUSH_INTERVAL.as_millis()
                ),
            ));
        }
        Ok(ValidConfig {
            chunk_threshold,
            buffer_size,
            channel_buffer,
            flush_interval,
        })
    }
}

fn or_default(value: usize, default: usize) -> usize {
    if value == 0 { default } else { value }
}

/// A [`ChunkConfig`] with its defaults applied and its values checked; made by
/// [`ChunkConfig::validate`] and returned by [`Streamer::config`](crate::Streamer::config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValidConfig {
    chunk_threshold: usize,
    buffer_size: usize,
    channel_buffer: usize,
    flush_interval: Duration,
}

impl ValidConfig {
    /// Bytes a buffer holds before it is handed out as a chunk.
    pub fn chunk_threshold(&self) -> usize {
        self.chunk_threshold
    }
    /// Initial capacity of each buffer, in bytes.
    pub fn buffer_size(&self) -> usize {
        self.buffer_size
    }
    /// Chunks that may wait between the encoder and the response writer.
    pub fn channel_buffer(&self) -> usize {
        self.channel_buffer
    }
    /// Longest time encoded data waits before it is flushed.
    pub fn flush_interval(&self) -> Duration {
        self.flush_interval
    }
    /// What the pipeline of one stream holds at most, in bytes, while its items are
    /// smaller than `buffer_size − chunk_threshold` (16 KiB with the defaults):
    /// `buffer_size × (channel_buffer + 2) + 64 KiB`, that is 352 KiB with the defaults.
    ///
    /// - `channel_buffer + 2` buffers of `buffer_size` bytes, the stream's ring: one being
    ///   filled, `channel_buffer` chunks queued, one chunk being written to the client;
    /// - the encoder's scratch space, at most [`SCRATCH_BYTES`] kept between items.
    ///
    /// Not counted, because the pipeline does not own it: what the fetcher holds (a
    /// database driver's rows and read-ahead, a connection's caches) and the HTTP
    /// layer's compressor. An item larger than `buffer_size − chunk_threshold` grows the
    /// buffer it is encoded into: a buffer up to 4 × `buffer_size` is kept for later
    /// chunks, a larger one leaves with its chunk and is freed once written, so one huge
    /// item costs about its encoded size once (plus its size in the fetcher), for as long
    /// as it is in flight. [`Limits::max_item_size`](crate::Limits::max_item_size)
    /// bounds that too.
    pub fn memory_bound(&self) -> usize {
        self.buffer_size * (self.channel_buffer + 2) + SCRATCH_BYTES
    }
}

impl Default for ValidConfig {
    fn default() -> Self {
        match ChunkConfig::default().validate() {
            Ok(valid) => valid,
            // The defaults are constants that pass every check (see the unit test below).
            Err(_) => unreachable!("the default ChunkConfig is valid"),
        }
    }
}

/// A configuration value that is out of range or contradicts another value: of a
/// [`ChunkConfig`], or of a keyset fetcher ([`Keyset::batch_size`](crate::keyset::Keyset::batch_size)).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid config: `{field}`: {reason}")]
pub struct ConfigError {
    field: &'static str,
    reason: String,
}

impl ConfigError {
    pub(crate) fn new(field: &'static str, reason: String) -> Self {
        Self { field, reason }
    }

    /// The name of the offending field, e.g. `"buffer_size"`.
    pub fn field(&self) -> &'static str {
        self.field
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_means_default() {
        let v = ChunkConfig::default().validate().unwrap();
        assert_eq!(v.chunk_threshold(), 32 * 1024);
        assert_eq!(v.buffer_size(), 48 * 1024);
        assert_eq!(v.channel_buffer(), 4);
        assert_eq!(v.flush_interval(), Duration::from_millis(100));
        assert_eq!(ValidConfig::default(), v);
        assert_eq!(v.memory_bound(), 48 * 1024 * 6 + 64 * 1024);
        assert_eq!(v.memory_bound(), 352 * 1024);
    }

    #[test]
    fn contradictions_name_the_field() {
        let err = ChunkConfig::default()
            .chunk_threshold(1024)
            .buffer_size(512)
            .validate()
            .unwrap_err();
        assert_eq!(err.field(), "buffer_size");
        let err = ChunkConfig::default()
            .chunk_threshold(MAX_CHUNK_THRESHOLD + 1)
            .validate()
            .unwrap_err();
        assert_eq!(err.field(), "chunk_threshold");
        let err = ChunkConfig::default()
            .channel_buffer(MAX_CHANNEL_BUFFER + 1)
            .validate()
            .unwrap_err();
        assert_eq!(err.field(), "channel_buffer");
        assert!(err.to_string().contains("channel_buffer"));
    }

    #[test]
    fn sizes_and_durations_above_their_maximum_are_errors() {
        for (config, field) in [
            (
                ChunkConfig::default().buffer_size(usize::MAX),
                "buffer_size",
            ),
            (
                ChunkConfig::default().buffer_size(MAX_BUFFER_SIZE + 1),
                "buffer_size",
            ),
            (
                ChunkConfig::default().flush_interval(Duration::MAX),
                "flush_interval",
            ),
            (
                ChunkConfig::default().flush_interval(MAX_FLUSH_INTERVAL + Duration::from_nanos(1)),
                "flush_interval",
            ),
        ] {
            assert_eq!(config.validate().unwrap_err().field(), field);
        }
        let largest = ChunkConfig::default()
            .chunk_threshold(MAX_CHUNK_THRESHOLD)
            .buffer_size(MAX_BUFFER_SIZE)
            .channel_buffer(MAX_CHANNEL_BUFFER)
            .flush_interval(MAX_FLUSH_INTERVAL)
            .validate()
            .unwrap();
        assert_eq!(
            largest.memory_bound(),
            MAX_BUFFER_SIZE * (MAX_CHANNEL_BUFFER + 2) + SCRATCH_BYTES
        );
    }

    #[test]
    fn derived_buffer_size_follows_threshold() {
        let v = ChunkConfig::default()
            .chunk_threshold(1_000_000)
            .validate()
            .unwrap();
        assert_eq!(v.buffer_size(), 1_500_000);
    }
}
