//! A custom buffer pool: counts how many buffers streams take and return, on top of the
//! default bounded pool.
//!
//! Run: `cargo run -p rowstream --example custom_pool`

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::BytesMut;
use futures_util::StreamExt;
use rowstream::{BoundedPool, BufferPool, Identity, JsonArray, Streamer, fetch};

/// A pool that counts `get` and `put` calls and delegates to a [`BoundedPool`].
#[derive(Debug)]
pub struct CountingPool {
    inner: BoundedPool,
    pub gets: AtomicUsize,
    pub puts: AtomicUsize,
}

impl Default for CountingPool {
    fn default() -> Self {
        Self::new()
    }
}

impl CountingPool {
    pub fn new() -> Self {
        Self {
            inner: BoundedPool::new(48 * 1024, 16),
            gets: AtomicUsize::new(0),
            puts: AtomicUsize::new(0),
        }
    }
}

impl BufferPool for CountingPool {
    fn get(&self) -> BytesMut {
        self.gets.fetch_add(1, Ordering::Relaxed);
        self.inner.get()
    }

    fn put(&self, buf: BytesMut) {
        self.puts.fetch_add(1, Ordering::Relaxed);
        self.inner.put(buf);
    }

    fn initial_size(&self) -> usize {
        self.inner.initial_size()
    }
}

/// Streams `items` numbers through a streamer using `pool`; returns the bytes produced.
pub async fn stream_with(pool: Arc<CountingPool>, items: u64) -> usize {
    let streamer = Streamer::default().with_pool(pool);
    let mut chunks = streamer.stream(fetch::from_iter(0..items), Identity, JsonArray::new());
    let mut bytes = 0;
    while let Some(chunk) = chunks.next().await {
        bytes += chunk.map(|c| c.len()).unwrap_or(0);
    }
    bytes
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let pool = Arc::new(CountingPool::new());
    for _ in 0..3 {
        stream_with(pool.clone(), 100_000).await;
    }
    println!(
        "buffers taken: {}, returned: {}",
        pool.gets.load(Ordering::Relaxed),
        pool.puts.load(Ordering::Relaxed)
    );
}
