//! Observers see exactly what the consumer received, and the right outcome.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use rowstream::{
    BoxError, ChunkConfig, Identity, JsonArray, Limits, Outcome, StreamErrorKind, StreamObserver,
    StreamSummary, Streamer, fetch,
};

#[derive(Debug, Default)]
struct Record {
    first_byte: Vec<Duration>,
    chunks: Vec<(usize, u64)>,
    errors: Vec<StreamErrorKind>,
    summaries: Vec<StreamSummary>,
}

#[derive(Debug, Default)]
struct Recorder(Mutex<Record>);

impl StreamObserver for Recorder {
    fn on_first_byte(&self, ttfb: Duration) {
        self.0.lock().unwrap().first_byte.push(ttfb);
    }
    fn on_chunk(&self, bytes: usize, items: u64) {
        self.0.lock().unwrap().chunks.push((bytes, items));
    }
    fn on_error(&self, error: &rowstream::StreamError) {
        self.0.lock().unwrap().errors.push(error.kind());
    }
    fn on_complete(&self, summary: &StreamSummary) {
        self.0.lock().unwrap().summaries.push(*summary);
    }
}

fn small_chunks() -> Streamer {
    Streamer::new(ChunkConfig::default().chunk_threshold(256)).unwrap()
}

/// Reads the whole stream; returns the chunk sizes received and the error kind, if any.
async fn consume(chunks: rowstream::ChunkStream) -> (Vec<usize>, Option<StreamErrorKind>) {
    let mut sizes = Vec::new();
    let mut chunks = std::pin::pin!(chunks);
    while let Some(chunk) = chunks.next().await {
        match chunk {
            Ok(bytes) => sizes.push(bytes.len()),
            Err(err) => return (sizes, Some(err.kind())),
        }
    }
    (sizes, None)
}

#[tokio::test]
async fn completed_stream_totals_match_what_was_received() {
    let recorder = Arc::new(Recorder::default());
    let streamer = small_chunks().with_observer(recorder.clone());
    let (sizes, err) =
        consume(streamer.stream(fetch::from_iter(0..1000u32), Identity, JsonArray::new())).await;
    assert!(err.is_none());
    let record = recorder.0.lock().unwrap();
    assert_eq!(record.chunks.iter().map(|c| c.0).collect::<Vec<_>>(), sizes);
    assert_eq!(record.chunks.iter().map(|c| c.1).sum::<u64>(), 1000);
    assert_eq!(record.first_byte.len(), 1);
    assert_eq!(record.summaries.len(), 1);
    let summary = record.summaries[0];
    assert_eq!(summary.outcome, Outcome::Completed);
    assert_eq!(summary.items, 1000);
    assert_eq!(summary.bytes, sizes.iter().sum::<usize>() as u64);
    assert_eq!(summary.chunks, sizes.len() as u64);
    assert!(summary.time_to_first_byte.is_some());
}

#[tokio::test]
async fn fetch_and_transform_errors() {
    let recorder = Arc::new(Recorder::default());
    let streamer = small_chunks().with_observer(recorder.clone());
    let failing = fetch::from_iter(0..1000u32).map(|r| {
        let i = r.unwrap_or_else(|never| match never {});
        if i == 600 {
            Err::<u32, BoxError>("gone".into())
        } else {
            Ok(i)
        }
    });
    let (sizes, err) = consume(streamer.stream(failing, Identity, JsonArray::new())).await;
    assert_eq!(err, Some(StreamErrorKind::Fetch));
    let transform = |i: u32| {
        if i == 10 {
            Err(std::io::Error::other("bad"))
        } else {
            Ok(i)
        }
    };
    consume(streamer.stream(fetch::from_iter(0..100u32), transform, JsonArray::new())).await;

    let record = recorder.0.lock().unwrap();
    assert_eq!(
        record.errors,
        [StreamErrorKind::Fetch, StreamErrorKind::Transform]
    );
    let fetch = record.summaries[0];
    assert_eq!(fetch.outcome, Outcome::Failed(StreamErrorKind::Fetch));
    // The 600 items before the failure reached the consumer, in the chunks it received.
    assert_eq!(fetch.items, 600);
    assert_eq!(fetch.bytes, sizes.iter().sum::<usize>() as u64);
    assert_eq!(
        record.summaries[1].outcome,
        Outcome::Failed(StreamErrorKind::Transform)
    );
    assert_eq!(record.summaries[1].items, 10);
}

#[tokio::test]
async fn dropping_early_is_client_gone() {
    let recorder = Arc::new(Recorder::default());
    let streamer = small_chunks().with_observer(recorder.clone());
    let mut chunks = streamer.stream(fetch::from_iter(0u64..), Identity, JsonArray::new());
    let mut received = 0;
    for _ in 0..3 {
        received += chunks.next().await.unwrap().unwrap().len();
    }
    drop(chunks);
    let record = recorder.0.lock().unwrap();
    assert_eq!(record.summaries.len(), 1);
    assert_eq!(record.summaries[0].outcome, Outcome::ClientGone);
    assert_eq!(record.summaries[0].chunks, 3);
    assert_eq!(record.summaries[0].bytes, received as u64);
}

/// A client that stops taking chunks: the producer gives up after the write timeout, and
/// when the response is then dropped (the server closing the stalled connection) the
/// outcome is the timeout, not "client gone".
#[tokio::test(start_paused = true)]
async fn a_stalled_consumer_dropped_after_the_write_timeout_is_timed_out() {
    let recorder = Arc::new(Recorder::default());
    let streamer = small_chunks()
        .with_limits(Limits::default().write_timeout(Duration::from_secs(2)))
        .with_observer(recorder.clone());
    let mut chunks = streamer.stream(fetch::from_iter(0u64..), Identity, JsonArray::new());
    let first = chunks.next().await.unwrap().unwrap().len();
    tokio::time::sleep(Duration::from_secs(3)).await;
    drop(chunks);
    {
        let record = recorder.0.lock().unwrap();
        assert_eq!(record.summaries.len(), 1);
        assert_eq!(record.summaries[0].outcome, Outcome::TimedOut);
        assert_eq!(record.errors, [StreamErrorKind::TimedOut]);
        // What the client took, not what was queued for it.
        assert_eq!(record.summaries[0].chunks, 1);
        assert_eq!(record.summaries[0].bytes, first as u64);
    }

    // Dropped before the timeout: the client left.
    let recorder = Arc::new(Recorder::default());
    let streamer = small_chunks()
        .with_limits(Limits::default().write_timeout(Duration::from_secs(2)))
        .with_observer(recorder.clone());
    let mut chunks = streamer.stream(fetch::from_iter(0u64..), Identity, JsonArray::new());
    chunks.next().await.unwrap().unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    drop(chunks);
    let record = recorder.0.lock().unwrap();
    assert_eq!(record.summaries[0].outcome, Outcome::ClientGone);
    assert!(record.errors.is_empty());
}

#[tokio::test(start_paused = true)]
async fn timeouts_and_limits() {
    let recorder = Arc::new(Recorder::default());
    let slow = futures_util::stream::unfold(0u32, |i| async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        Some((Ok::<_, std::convert::Infallible>(i), i + 1))
    });
    let streamer = Streamer::default()
        .with_limits(Limits::default().deadline(Duration::from_secs(1)))
        .with_observer(recorder.clone());
    consume(streamer.stream(slow, Identity, JsonArray::new())).await;
    let streamer = Streamer::default()
        .with_limits(Limits::default().max_items(5))
        .with_observer(recorder.clone());
    consume(streamer.stream(fetch::from_iter(0..10u8), Identity, JsonArray::new())).await;

    let record = recorder.0.lock().unwrap();
    assert_eq!(record.summaries[0].outcome, Outcome::TimedOut);
    assert_eq!(record.summaries[0].duration, Duration::from_secs(1));
    assert_eq!(record.summaries[1].outcome, Outcome::LimitReached);
    assert_eq!(record.summaries[1].items, 5);
}

#[tokio::test]
async fn per_stream_observers_combine_with_the_streamers() {
    let all = Arc::new(Recorder::default());
    let one = Arc::new(Recorder::default());
    let streamer = small_chunks().with_observer(all.clone());
    let chunks = streamer
        .stream(fetch::from_iter(0..50u8), Identity, JsonArray::new())
        .with_observer(one.clone());
    consume(chunks).await;
    consume(streamer.stream(fetch::from_iter(0..50u8), Identity, JsonArray::new())).await;
    assert_eq!(all.0.lock().unwrap().summaries.len(), 2);
    assert_eq!(one.0.lock().unwrap().summaries.len(), 1);
    assert_eq!(one.0.lock().unwrap().summaries[0].items, 50);
}
