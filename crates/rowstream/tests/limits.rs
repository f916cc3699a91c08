//! Flow control on tokio's paused clock: rates, deadlines, write timeouts, item limits,
//! huge items and backpressure.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use rowstream::{
    BoundedPool, BufferPool, ChunkConfig, Identity, JsonArray, Limits, StreamErrorKind, Streamer,
    fetch,
};
use tokio::time::Instant;

/// Counts how many items the streamer pulled from the fetcher, and whether it was dropped.
struct Probe {
    pulled: Arc<AtomicU64>,
    dropped: Arc<AtomicU64>,
}

impl Drop for Probe {
    fn drop(&mut self) {
        self.dropped.store(1, Ordering::SeqCst);
    }
}

fn counted(
    count: u64,
) -> (
    impl futures_core::Stream<Item = Result<String, std::convert::Infallible>> + Send,
    Arc<AtomicU64>,
    Arc<AtomicU64>,
) {
    let pulled = Arc::new(AtomicU64::new(0));
    let dropped = Arc::new(AtomicU64::new(0));
    let probe = Probe {
        pulled: pulled.clone(),
        dropped: dropped.clone(),
    };
    let stream = futures_util::stream::iter(0..count).map(move |i| {
        probe.pulled.fetch_add(1, Ordering::SeqCst);
        Ok(format!("row {i:>8} with forty bytes of padding text....."))
    });
    (stream, pulled, dropped)
}

#[tokio::test(start_paused = true)]
async fn items_per_second() {
    let streamer = Streamer::default().with_limits(Limits::default().items_per_second(500));
    let start = Instant::now();
    let mut chunks = streamer.stream(fetch::from_iter(0..1000u32), Identity, JsonArray::new());
    let mut body = Vec::new();
    while let Some(chunk) = chunks.next().await {
        body.extend_from_slice(&chunk.unwrap());
    }
    let values: Vec<u32> = serde_json::from_slice(&body).unwrap();
    assert_eq!(values.len(), 1000);
    // A burst of a tenth of a second's worth (50), then 950 more at 500/s: 1.9 s.
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(1_890), "{took:?}");
    assert!(took <= Duration::from_millis(1_910), "{took:?}");
}

#[tokio::test(start_paused = true)]
async fn bytes_per_second() {
    let streamer = Streamer::new(ChunkConfig::default().chunk_threshold(1000))
        .unwrap()
        .with_limits(Limits::default().bytes_per_second(10_000));
    let start = Instant::now();
    let (fetcher, _, _) = counted(1_000);
    let mut chunks = streamer.stream(fetcher, Identity, JsonArray::new());
    let mut bytes = 0;
    while let Some(chunk) = chunks.next().await {
        bytes += chunk.unwrap().len();
    }
    // About 50 KB at 10 KB/s with a 1 KB burst: about 5 s.
    let expected = Duration::from_secs_f64((bytes - 1_000) as f64 / 10_000.0);
    let took = start.elapsed();
    assert!(
        took + Duration::from_millis(150) >= expected,
        "{took:?} for {bytes} bytes"
    );
    assert!(
        took <= expected + Duration::from_millis(300),
        "{took:?} for {bytes} bytes"
    );
}

#[tokio::test(start_paused = true)]
async fn deadline_fails_the_stream() {
    let slow = futures_util::stream::unfold(0u32, |i| async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        Some((Ok::<_, std::convert::Infallible>(i), i + 1))
    });
    let streamer =
        Streamer::default().with_limits(Limits::default().deadline(Duration::from_secs(1)));
    let start = Instant::now();
    let chunks: Vec<_> = streamer
        .stream(slow, Identity, JsonArray::new())
        .collect()
        .await;
    let err = chunks.last().unwrap().as_ref().unwrap_err();
    assert_eq!(err.kind(), StreamErrorKind::TimedOut);
    assert_eq!(start.elapsed(), Duration::from_secs(1));
    // Items before the deadline arrived; the array is not closed.
    let body: Vec<u8> = chunks[..chunks.len() - 1]
        .iter()
        .flat_map(|c| c.as_ref().unwrap().to_vec())
        .collect();
    assert!(body.starts_with(b"[0,1,2,3,4,5,6,7,8"));
    assert!(!body.ends_with(b"]"));
}

#[tokio::test]
async fn max_items_fails_after_the_limit() {
    let streamer = Streamer::default().with_limits(Limits::default().max_items(100));
    let ok: Vec<_> = streamer
        .stream(fetch::from_iter(0..100u32), Identity, JsonArray::new())
        .collect()
        .await;
    assert!(ok.iter().all(Result::is_ok), "exactly the limit is fine");
    let over: Vec<_> = streamer
        .stream(fetch::from_iter(0..101u32), Identity, JsonArray::new())
        .collect()
        .await;
    let err = over.last().unwrap().as_ref().unwrap_err();
    assert_eq!(err.kind(), StreamErrorKind::LimitReached);
    assert_eq!(err.items_before(), 100);
}

#[tokio::test]
async fn max_item_size_fails_instead_of_growing() {
    let streamer = Streamer::default().with_limits(Limits::default().max_item_size(1024));
    let items = vec!["a".repeat(10), "b".repeat(2000), "c".repeat(10)];
    let out: Vec<_> = streamer
        .stream(fetch::from_iter(items), Identity, JsonArray::new())
        .collect()
        .await;
    let err = out.last().unwrap().as_ref().unwrap_err();
    assert_eq!(err.kind(), StreamErrorKind::LimitReached);
    assert_eq!(err.items_before(), 1);
    assert!(err.to_string().contains("2003 bytes"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_item_streams_in_a_chunk_of_its_own_and_is_not_pooled() {
    const HUGE: usize = 64 * 1024 * 1024;
    let pool = Arc::new(BoundedPool::new(48 * 1024, 16));
    let streamer = Streamer::default().with_pool(pool.clone());
    let small = "s".repeat(1024);
    let mut items = vec![small.clone(); 10];
    items.push("h".repeat(HUGE));
    items.extend(vec![small.clone(); 10]);
    let mut chunks = streamer.stream(fetch::from_iter(items), Identity, JsonArray::new());
    let mut sizes = Vec::new();
    let mut body = Vec::new();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.unwrap();
        sizes.push(chunk.len());
        body.extend_from_slice(&chunk);
    }
    // `[` + the ten small items before the huge one (all ready at once: the first chunk
    // takes them), flushed first; the huge item (with its separator) alone; the tail.
    assert_eq!(sizes[0], 1 + 1026 + 9 * 1027);
    assert_eq!(sizes[1], 1 + HUGE + 2);
    let parsed: Vec<String> = serde_json::from_slice(&body).unwrap();
    assert_eq!(parsed.len(), 21);
    assert_eq!(parsed[10].len(), HUGE);
    // Every buffer went back to the pool except the one that grew for the huge item.
    drop(chunks);
    let mut idle = Vec::new();
    while pool.idle() > 0 {
        idle.push(pool.get());
    }
    assert!(!idle.is_empty());
    assert!(
        idle.iter()
            .all(|b| b.capacity() <= pool.max_retained_capacity())
    );
}

#[tokio::test(start_paused = true)]
async fn stalled_consumer_pauses_the_fetcher_then_times_out() {
    let config = ChunkConfig::default()
        .chunk_threshold(4096)
        .channel_buffer(2);
    let streamer = Streamer::new(config)
        .unwrap()
        .with_limits(Limits::default().write_timeout(Duration::from_secs(5)));
    let (fetcher, pulled, dropped) = counted(1_000_000);
    let mut chunks = streamer.stream(fetcher, Identity, JsonArray::new());
    // Read one chunk, then stall.
    let first = chunks.next().await.unwrap().unwrap();
    assert!(!first.is_empty());
    tokio::time::sleep(Duration::from_secs(1)).await;
    let stalled_at = pulled.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(2)).await;
    // Backpressure: nothing more was pulled while the consumer stalled, and what was
    // pulled is bounded by the channel: (channel_buffer + 2) chunks of ~4 KiB.
    assert_eq!(pulled.load(Ordering::SeqCst), stalled_at);
    assert!(
        stalled_at < 5 * 4096 / 40,
        "pulled {stalled_at} rows while stalled"
    );
    assert_eq!(dropped.load(Ordering::SeqCst), 0);
    // After the write timeout the producer gives up and drops the fetcher.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        dropped.load(Ordering::SeqCst),
        1,
        "fetcher dropped after the write timeout"
    );
    let mut last = None;
    while let Some(item) = chunks.next().await {
        last = Some(item);
    }
    let err = last.unwrap().unwrap_err();
    assert_eq!(err.kind(), StreamErrorKind::TimedOut);
}

#[tokio::test(start_paused = true)]
async fn durations_too_long_to_add_to_now_never_trip() {
    // A deadline or write timeout of Duration::MAX is "never", not an overflow: the
    // stream completes as without the limit.
    let limits = Limits::default()
        .deadline(Duration::MAX)
        .write_timeout(Duration::MAX);
    let body: Vec<u8> = Streamer::default()
        .with_limits(limits)
        .stream(fetch::from_iter(0..3u32), Identity, JsonArray::new())
        .map(|chunk| chunk.unwrap().to_vec())
        .concat()
        .await;
    assert_eq!(body, b"[0,1,2]");
}
