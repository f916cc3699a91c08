//! The cost of rate limiting when it does not throttle: a stream of 101,000 small rows
//! with `items_per_second` and `bytes_per_second` set far above what it reaches, against
//! the same stream without rates. The difference is the limiter's own work (one check per
//! item, one per chunk).
//!
//! Run: `cargo bench -p rowstream --bench rate`

use futures_util::StreamExt;
use rowstream::{Identity, JsonArray, Limits, Streamer, fetch};

fn main() {
    divan::main();
}

const ROWS: u64 = 101_000;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

fn bench(bencher: divan::Bencher<'_, '_>, limits: Limits) {
    let runtime = runtime();
    let streamer = Streamer::default().with_limits(limits);
    bencher.bench_local(|| {
        runtime.block_on(async {
            let mut chunks = streamer.stream(
                fetch::from_iter((0..ROWS).map(|i| (i, i * 7, "row"))),
                Identity,
                JsonArray::new(),
            );
            let mut bytes = 0;
            while let Some(chunk) = chunks.next().await {
                bytes += chunk.expect("the stream completes").len();
            }
            bytes
        })
    });
}

#[divan::bench(sample_count = 30)]
fn without_rates(bencher: divan::Bencher<'_, '_>) {
    bench(bencher, Limits::default());
}

#[divan::bench(sample_count = 30)]
fn with_rates_that_never_throttle(bencher: divan::Bencher<'_, '_>) {
    bench(
        bencher,
        Limits::default()
            .items_per_second(1_000_000_000)
            .bytes_per_second(u32::MAX),
    );
}
