//! [`Ring`]: the buffers one stream encodes into, reused chunk after chunk.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use super::{BufferPool, outgrown};

/// The buffers of one stream: `slots` buffers (`channel_buffer + 2`: one being filled,
/// `channel_buffer` chunks queued, one being written) used in turn.
///
/// A chunk is split off the current slot (`split().freeze()`, no copy) and the stream
/// moves to the next slot. By the time it comes back to a slot, the chunk split off it has
/// usually been written and dropped, and `reserve` reclaims the allocation in place: no
/// allocation per chunk. Slots are taken from the pool lazily and returned on drop. A slot
/// that grew to hold a huge item ([`outgrown`]) hands its whole allocation out with the
/// chunk, to be freed once the chunk is written, rather than keep it.
#[derive(Debug)]
pub(crate) struct Ring {
    slots: Vec<BytesMut>,
    current: usize,
    max_slots: usize,
    buffer_size: usize,
    pool: Arc<dyn BufferPool>,
}

impl Ring {
    /// A ring of at most `slots` buffers (at least one) of `buffer_size` bytes each, taken
    /// from `pool`.
    pub(crate) fn new(pool: Arc<dyn BufferPool>, slots: usize, buffer_size: usize) -> Self {
        let max_slots = slots.max(1);
        let mut first = pool.get();
        first.reserve(buffer_size);
        let mut ring = Vec::with_capacity(max_slots);
        ring.push(first);
        Self {
            slots: ring,
            current: 0,
            max_slots,
            buffer_size,
            pool,
        }
    }

    /// The buffer being filled.
    #[inline]
    pub(crate) fn current(&mut self) -> &mut BytesMut {
        &mut self.slots[self.current]
    }

    /// Hands out the current buffer's contents and moves to the next slot.
    pub(crate) fn take_chunk(&mut self) -> Bytes {
        let slot = &mut self.slots[self.current];
        let chunk = if outgrown(slot.capacity(), self.buffer_size) {
            std::mem::take(slot).freeze()
        } else {
            slot.split().freeze()
        };
        self.current += 1;
        if self.current == self.max_slots {
            self.current = 0;
        } else if self.current == self.slots.len() {
            self.slots.push(self.pool.get());
        }
        self.slots[self.current].reserve(self.buffer_size);
        chunk
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        for slot in self.slots.drain(..) {
            self.pool.put(slot);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BoundedPool;

    const SIZE: usize = 1536;

    fn ring(slots: usize) -> Ring {
        Ring::new(Arc::new(BoundedPool::new(SIZE, 4)), slots, SIZE)
    }

    #[test]
    fn ring_reuses_allocations_once_chunks_are_dropped() {
        let mut ring = ring(3);
        let mut first_ptrs = Vec::new();
        for _ in 0..3 {
            first_ptrs.push(ring.current().as_ptr());
            ring.current().extend_from_slice(&[b'a'; 1000]);
            drop(ring.take_chunk());
        }
        // Second lap: every slot reuses its allocation.
        for expected in first_ptrs {
            assert_eq!(ring.current().as_ptr(), expected);
            ring.current().extend_from_slice(&[b'a'; 1000]);
            drop(ring.take_chunk());
        }
    }

    /// Fills the current slot with `bytes` bytes, hands it out as a chunk that is written
    /// and dropped at once, and goes once round a ring of two slots back to it; returns
    /// where the slot's data was.
    fn round_trip(ring: &mut Ring, bytes: usize) -> *const u8 {
        ring.current().extend_from_slice(&vec![b'a'; bytes]);
        let filled = ring.current().as_ptr();
        let chunk = ring.take_chunk();
        assert_eq!((chunk.len(), chunk.as_ptr()), (bytes, filled));
        drop(chunk);
        ring.current().extend_from_slice(b"x");
        drop(ring.take_chunk());
        filled
    }

    #[test]
    fn a_slot_within_the_growth_limit_is_kept() {
        let mut ring = ring(2);
        let filled = round_trip(&mut ring, 3 * SIZE);
        // Within 4× the buffer size: the grown allocation is reclaimed in place.
        assert_eq!(ring.current().as_ptr(), filled);
        assert!(ring.current().capacity() >= 3 * SIZE);
    }

    #[test]
    fn an_outgrown_slot_leaves_with_its_chunk() {
        let mut ring = ring(2);
        round_trip(&mut ring, 100 * SIZE);
        // The huge allocation left with the chunk (and was freed with it); the slot
        // starts afresh at the buffer size.
        let capacity = ring.current().capacity();
        assert!((SIZE..=4 * SIZE).contains(&capacity), "{capacity}");
    }
}
