//! Time behaviour on tokio's paused clock: a slow source still delivers within
//! `flush_interval`, and the first item leaves at once.

use std::time::Duration;

use futures_util::StreamExt;
use rowstream::{ChunkConfig, Identity, JsonArray, Streamer};
use tokio::time::Instant;

/// Yields `a`, `b` at once, then waits `pause` before `c`.
fn slow_source(
    pause: Duration,
) -> impl futures_core::Stream<Item = Result<&'static str, std::convert::Infallible>> + Send {
    futures_util::stream::unfold(0u8, move |step| async move {
        match step {
            0 => Some((Ok("a"), 1)),
            1 => Some((Ok("b"), 2)),
            2 => {
                tokio::time::sleep(pause).await;
                Some((Ok("c"), 3))
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

    // The first item leaves at once, without waiting for the 32 KiB threshold.
    let first = chunks.next().await.unwrap().unwrap();
    assert_eq!(&first[..], b"[\"a\"");
    assert_eq!(start.elapsed(), Duration::ZERO);

    // `b` is below the threshold, and the source then stalls for 10 s: the buffer is
    // flushed when flush_interval has passed, not when the next item comes.
    let second = chunks.next().await.unwrap().unwrap();
    assert_eq!(&second[..], b",\"b\"");
    assert_eq!(start.elapsed(), flush);

    let rest = chunks.next().await.unwrap().unwrap();
    assert_eq!(&rest[..], b",\"c\"]");
    assert_eq!(start.elapsed(), Duration::from_secs(10));
    assert!(chunks.next().await.is_none());
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
