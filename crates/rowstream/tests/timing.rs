//! Time behaviour on tokio's paused clock: a slow source still delivers within
//! `flush_interval`, and the first chunk leaves at once with what is ready.

use std::time::Duration;

use futures_util::StreamExt;
use futures_util::TryStreamExt;
use rowstream::{ChunkConfig, Identity, JsonArray, Streamer, fetch};
use tokio::time::Instant;

/// Yields `a`, `b` at once, `c` after 1 ms, then waits `pause` before `d`.
fn slow_source(
    pause: Duration,
) -> impl futures_core::Stream<Item = Result<&'static str, std::convert::Infallible>> + Send {
    futures_util::stream::unfold(0u8, move |step| async move {
        match step {
            0 => Some((Ok("a"), 1)),
            1 => Some((Ok("b"), 2)),
            2 => {
                tokio::time::sleep(Duration::from_millis(1)).await;
                Some((Ok("c"), 3))
            }
            3 => {
                tokio::time::sleep(pause).await;
                Some((Ok("d"), 4))
            }
            _ => None,
        }
    })
}

#[tokio::test(start_paused = true)]
async fn slow_source_is_flushed_within_flush_interval() {
    let flush = Duration::from_millis(100);
    let streamer = Streamer::new(ChunkConfig::default().flush_interval(flush)).unwrap();
    let start = Instant::now();
    let mut chunks = streamer.stream(
        slow_source(Duration::from_secs(10)),
        Identity,
        JsonArray::new(),
    );

    // The first chunk leaves at once, without waiting for the 32 KiB threshold, with
    // every item that was ready: `a` and `b`, not `c`, which takes 1 ms.
    let first = chunks.next().await.unwrap().unwrap();
    assert_eq!(&first[..], b"[\"a\",\"b\"");
    assert_eq!(start.elapsed(), Duration::ZERO);

    // `c` is below the threshold, and the source then stalls for 10 s: the buffer is
    // flushed when flush_interval has passed, not when the next item comes.
    let second = chunks.next().await.unwrap().unwrap();
    assert_eq!(&second[..], b",\"c\"");
    assert_eq!(start.elapsed(), Duration::from_millis(1) + flush);

    let rest = chunks.next().await.unwrap().unwrap();
    assert_eq!(&rest[..], b",\"d\"]");
    assert_eq!(
        start.elapsed(),
        Duration::from_millis(1) + Duration::from_secs(10)
    );
    assert!(chunks.next().await.is_none());
}

#[tokio::test(start_paused = true)]
async fn a_small_ready_result_is_one_chunk() {
    // Everything is ready at once and fits under the threshold: one write, so the
    // response never meets Nagle's algorithm between a lone first item and the rest.
    let items: Vec<u32> = (0..100).collect();
    let chunks: Vec<bytes::Bytes> = Streamer::default()
        .stream(fetch::from_iter(items.clone()), Identity, JsonArray::new())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(chunks.len(), 1);
    assert_eq!(&chunks[0][..], &serde_json::to_vec(&items).unwrap()[..]);
}

#[tokio::test]
async fn an_always_ready_but_slow_source_still_sends_its_first_chunk_within_flush_interval() {
    // Each item is ready when polled but costs 10 ms of work first (a CPU-bound
    // generator): the first chunk leaves once flush_interval has passed, with the items
    // made by then, not after all 200 items (2 s) that fit under the 32 KiB threshold.
    let flush = Duration::from_millis(100);
    let streamer = Streamer::new(ChunkConfig::default().flush_interval(flush)).unwrap();
    let busy = futures_util::stream::iter(0..200u32).map(|i| {
        std::thread::sleep(Duration::from_millis(10));
        Ok::<_, std::convert::Infallible>(i)
    });
    let mut chunks = streamer.stream(busy, Identity, JsonArray::new());
    let first = chunks.next().await.unwrap().unwrap();
    let items = first.iter().filter(|&&b| b == b',').count() + 1;
    assert!(
        (1..100).contains(&items),
        "{items} items in the first chunk"
    );
    assert!(first.starts_with(b"[0,1"));
}

#[tokio::test(start_paused = true)]
async fn no_flush_while_items_keep_coming() {
    // A source that yields an item every 10 ms: below the 100 ms interval the buffer
    // still leaves at least every flush_interval.
    let flush = Duration::from_millis(100);
    let streamer = Streamer::new(ChunkConfig::default().flush_interval(flush)).unwrap();
    let ticking = futures_util::stream::unfold(0u32, |i| async move {
        if i == 50 {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        Some((Ok::<_, std::convert::Infallible>(i), i + 1))
    });
    let start = Instant::now();
    let mut chunks = streamer.stream(ticking, Identity, JsonArray::new());
    let mut arrivals = Vec::new();
    let mut body = Vec::new();
    while let Some(chunk) = chunks.next().await {
        arrivals.push(start.elapsed());
        body.extend_from_slice(&chunk.unwrap());
    }
    let values: Vec<u32> = serde_json::from_slice(&body).unwrap();
    assert_eq!(values, (0..50).collect::<Vec<_>>());
    // First chunk at the first item (10 ms); then no gap between chunks above the interval.
    assert_eq!(arrivals[0], Duration::from_millis(10));
    for pair in arrivals.windows(2) {
        assert!(
            pair[1] - pair[0] <= flush + Duration::from_millis(10),
            "{arrivals:?}"
        );
    }
    assert!(arrivals.len() >= 5, "{arrivals:?}");
}

/// Yields nothing for `wait`, then fails.
fn failing_after(
    wait: Duration,
) -> impl futures_core::Stream<Item = Result<u32, std::io::Error>> + Send {
    futures_util::stream::once(async move {
        tokio::time::sleep(wait).await;
        Err(std::io::Error::other("statement timeout"))
    })
}

#[tokio::test(start_paused = true)]
async fn framing_alone_is_never_sent_before_the_first_item() {
    // The opening `[` waits for the first item or the end: sent alone at flush_interval it
    // would commit a 200 to a stream that then fails before any row.
    let streamer = Streamer::default();
    let mut chunks = streamer.stream(
        failing_after(Duration::from_secs(1)),
        Identity,
        JsonArray::new(),
    );
    let first = chunks.next().await.unwrap();
    assert!(first.is_err(), "{first:?}");
}

#[tokio::test(start_paused = true)]
async fn an_empty_document_still_arrives_whole() {
    let streamer = Streamer::default();
    let start = Instant::now();
    let empty = futures_util::stream::once(async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        Ok::<u32, std::convert::Infallible>(0)
    })
    .filter(|_| std::future::ready(false));
    let mut chunks = streamer.stream(empty, Identity, JsonArray::new());
    let first = chunks.next().await.unwrap().unwrap();
    assert_eq!(&first[..], b"[]");
    assert_eq!(start.elapsed(), Duration::from_secs(1));
    assert!(chunks.next().await.is_none());
}

#[tokio::test(start_paused = true)]
async fn rows_held_by_the_item_rate_leave_within_flush_interval() {
    // One item a second: each item must reach the consumer about when it is let through,
    // not wait in the buffer while the producer waits for the next one's turn.
    let flush = Duration::from_millis(100);
    let streamer = Streamer::new(ChunkConfig::default().flush_interval(flush))
        .unwrap()
        .with_limits(rowstream::Limits::none().items_per_second(1));
    let start = Instant::now();
    let mut chunks = streamer.stream(
        futures_util::stream::iter((1..=5u32).map(Ok::<_, std::convert::Infallible>)),
        Identity,
        JsonArray::new(),
    );
    let mut arrivals = Vec::new();
    let mut body = Vec::new();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.unwrap();
        if chunk.iter().any(u8::is_ascii_digit) {
            arrivals.push(start.elapsed());
        }
        body.extend_from_slice(&chunk);
    }
    assert_eq!(&body[..], b"[1,2,3,4,5]");
    assert_eq!(arrivals.len(), 5, "one chunk per item: {arrivals:?}");
    for (i, at) in arrivals.iter().enumerate() {
        let due = Duration::from_secs(i as u64);
        assert!(
            *at <= due + flush + Duration::from_millis(1),
            "item {} arrived at {at:?}, due by {due:?} + flush_interval: {arrivals:?}",
            i + 1
        );
    }
}
