//! The ordered parallel transform: output order is input order, with random per-item
//! delays on several workers; errors and panics keep their kinds.

use std::num::NonZeroUsize;
use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt};
use rowstream::{JsonArray, StreamErrorKind, Streamer, fetch};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_order_is_input_order() {
    let slow = |i: u64| {
        // A pseudo-random delay of 0–199 µs per item, different for neighbours.
        let delay = (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) % 200;
        std::thread::sleep(Duration::from_micros(delay));
        Ok::<_, std::convert::Infallible>(i * 2)
    };
    let workers = NonZeroUsize::new(4).unwrap();
    let body = Streamer::default()
        .stream_parallel(
            fetch::from_iter(0..10_000u64),
            slow,
            JsonArray::new(),
            workers,
        )
        .map_ok(Vec::from)
        .try_concat()
        .await
        .unwrap();
    let values: Vec<u64> = serde_json::from_slice(&body).unwrap();
    assert_eq!(values, (0..10_000).map(|i| i * 2).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_on_several_threads_at_once() {
    // 64 items of 20 ms each on 8 workers: well under the 1.28 s one worker would need.
    let sleepy = |i: u32| {
        std::thread::sleep(Duration::from_millis(20));
        Ok::<_, std::convert::Infallible>(i)
    };
    let start = std::time::Instant::now();
    let workers = NonZeroUsize::new(8).unwrap();
    let out: Vec<_> = Streamer::default()
        .stream_parallel(
            fetch::from_iter(0..64u32),
            sleepy,
            JsonArray::new(),
            workers,
        )
        .collect()
        .await;
    assert!(out.iter().all(Result::is_ok));
    assert!(
        start.elapsed() < Duration::from_millis(640),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_and_panics_keep_their_kind_and_position() {
    let workers = NonZeroUsize::new(3).unwrap();
    let failing = |i: u32| {
        if i == 7 {
            Err(std::io::Error::other("bad row"))
        } else {
            Ok(i)
        }
    };
    let out: Vec<_> = Streamer::default()
        .stream_parallel(
            fetch::from_iter(0..20u32),
            failing,
            JsonArray::new(),
            workers,
        )
        .collect()
        .await;
    let err = out.last().unwrap().as_ref().unwrap_err();
    assert_eq!(err.kind(), StreamErrorKind::Transform);
    assert_eq!(err.items_before(), 7);

    let panicking = |i: u32| -> Result<u32, std::io::Error> {
        assert!(i != 500, "row {i} is cursed");
        Ok(i)
    };
    let out: Vec<_> = Streamer::default()
        .stream_parallel(
            fetch::from_iter(0..1000u32),
            panicking,
            JsonArray::new(),
            workers,
        )
        .collect()
        .await;
    let err = out.last().unwrap().as_ref().unwrap_err();
    assert_eq!(err.kind(), StreamErrorKind::Panic);
    assert_eq!(err.items_before(), 500);
    assert!(err.to_string().contains("row 500 is cursed"), "{err}");
}
