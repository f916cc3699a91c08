//! Buffer pooling: where a stream gets the [`BytesMut`] buffers it encodes into.
//!
//! A chunk leaves a stream as a [`Bytes`](bytes::Bytes) split off a pooled [`BytesMut`]
//! (`split().freeze()`, no copy). Once the HTTP layer has written and dropped that chunk,
//! [`BytesMut::reserve`] on the same buffer reclaims the whole allocation in place, so a
//! stream in steady state cycles through a fixed set of allocations and allocates nothing
//! per chunk: that cycle is the stream's [`Ring`] (`ring.rs`). Between streams the buffers
//! rest in a [`BufferPool`]. Both follow one rule for a buffer that grew too big to keep
//! ([`outgrown`]).

mod ring;

use std::sync::{Arc, Mutex};

use bytes::BytesMut;

pub(crate) use ring::Ring;

/// How far past its size a buffer may grow and still be kept for the next chunk or the
/// next stream: 4×.
const MAX_GROWTH: usize = 4;

/// The one rule for a buffer that grew too big to keep, in a pool and in a stream's
/// [`Ring`]: its capacity is more than [`MAX_GROWTH`] times the `size` it was made for.
/// Such a buffer held one huge item; it is freed instead of kept, so a rare huge item does
/// not raise the memory of every later stream.
pub(crate) fn outgrown(capacity: usize, size: usize) -> bool {
    capacity > size.saturating_mul(MAX_GROWTH)
}

/// Where streams get their buffers and return them when they end.
///
/// Implement it to plug your own pool (for example one shared with other parts of a
/// service, or one with per-tenant limits) and pass it to
/// [`Streamer::with_pool`](crate::Streamer::with_pool).
///
/// ```
/// use bytes::BytesMut;
/// use rowstream::BufferPool;
///
/// /// A pool that keeps nothing: every stream allocates fresh buffers.
/// #[derive(Debug)]
/// struct NoPool;
///
/// impl BufferPool for NoPool {
///     fn get(&self) -> BytesMut {
///         BytesMut::with_capacity(self.initial_size())
///     }
///     fn put(&self, _buf: BytesMut) {}
///     fn initial_size(&self) -> usize {
///         48 * 1024
///     }
/// }
/// # let _ = rowstream::Streamer::default().with_pool(std::sync::Arc::new(NoPool));
/// ```
pub trait BufferPool: Send + Sync + std::fmt::Debug + 'static {
    /// An empty buffer (`len() == 0`). Its capacity may be anything; the stream reserves
    /// what it needs.
    fn get(&self) -> BytesMut;

    /// Returns a buffer the stream no longer needs. The pool may drop it. Chunks split off
    /// it earlier may still be alive; a later [`BytesMut::reserve`] reclaims the
    /// allocation once they are gone.
    fn put(&self, buf: BytesMut);

    /// The capacity, in bytes, of a new buffer from this pool.
    fn initial_size(&self) -> usize;
}

/// Default number of idle buffers a [`BoundedPool`] keeps: 64.
pub const DEFAULT_MAX_IDLE: usize = 64;

/// The default [`BufferPool`]: a mutex-guarded stack of idle buffers, bounded in count,
/// that drops buffers which grew far past their initial size.
///
/// A buffer is kept on [`put`](BufferPool::put) only while fewer than `max_idle` buffers
/// are idle and its capacity is at most `4 × initial_size` (a buffer that grew to hold one
/// huge item is freed, not kept).
///
/// ```
/// use rowstream::{BoundedPool, BufferPool};
///
/// let pool = BoundedPool::new(1024, 2);
/// let buf = pool.get();
/// assert!(buf.capacity() >= 1024);
/// pool.put(buf);
/// assert_eq!(pool.idle(), 1);
///
/// let mut grown = pool.get();
/// grown.reserve(1 << 20); // one huge item
/// pool.put(grown);
/// assert_eq!(pool.idle(), 0); // not kept
/// ```
#[derive(Debug)]
pub struct BoundedPool {
    idle: Mutex<Vec<BytesMut>>,
    initial_size: usize,
    max_idle: usize,
}

impl BoundedPool {
    /// A pool whose new buffers have `initial_size` bytes of capacity and which keeps at
    /// most `max_idle` idle buffers.
    pub fn new(initial_size: usize, max_idle: usize) -> Self {
        Self {
            idle: Mutex::new(Vec::with_capacity(max_idle)),
            initial_size,
            max_idle,
        }
    }

    /// How many idle buffers the pool holds now.
    pub fn idle(&self) -> usize {
        self.lock().len()
    }

    /// The largest capacity, in bytes, of a buffer the pool keeps: `4 × initial_size`.
    pub fn max_retained_capacity(&self) -> usize {
        self.initial_size.saturating_mul(MAX_GROWTH)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<BytesMut>> {
        // A panic while the lock is held cannot leave the Vec inconsistent (push/pop only).
        self.idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl BufferPool for BoundedPool {
    fn get(&self) -> BytesMut {
        match self.lock().pop() {
            Some(buf) => buf,
            None => BytesMut::with_capacity(self.initial_size),
        }
    }

    fn put(&self, mut buf: BytesMut) {
        if outgrown(buf.capacity(), self.initial_size) {
            return;
        }
        buf.clear();
        let mut idle = self.lock();
        if idle.len() < self.max_idle {
            idle.push(buf);
        }
    }

    fn initial_size(&self) -> usize {
        self.initial_size
    }
}

/// The pool shared by every [`Streamer`](crate::Streamer) built without
/// [`with_pool`](crate::Streamer::with_pool): buffers of the default `buffer_size`
/// (48 KiB), at most [`DEFAULT_MAX_IDLE`] idle.
pub fn default_pool() -> Arc<dyn BufferPool> {
    static POOL: std::sync::OnceLock<Arc<BoundedPool>> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        Arc::new(BoundedPool::new(
            crate::ValidConfig::default().buffer_size(),
            DEFAULT_MAX_IDLE,
        ))
    })
    .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserve_reclaims_after_chunk_dropped() {
        let pool = BoundedPool::new(4096, 4);
        let mut buf = pool.get();
        buf.extend_from_slice(&[b'x'; 3000]);
        let first_ptr = buf.as_ptr();
        let chunk = buf.split().freeze();
        drop(chunk);
        buf.reserve(4000);
        assert_eq!(buf.as_ptr(), first_ptr, "allocation reused in place");
    }

    #[test]
    fn pool_is_bounded() {
        let pool = BoundedPool::new(16, 2);
        for _ in 0..5 {
            pool.put(BytesMut::with_capacity(16));
        }
        assert_eq!(pool.idle(), 2);
        let _a = pool.get();
        assert_eq!(pool.idle(), 1);
    }
}
