//! Heap use of the streamer, counted by divan's allocation profiler (a counting global
//! allocator): allocations per chunk in steady state, and the heap one small request
//! costs.
//!
//! Run: `cargo bench -p rowstream --bench allocations`
//!
//! Each case streams rows shaped like an export (integers, a float, text, a NULL-able
//! column; about 150 bytes each as JSON) from memory through a [`Streamer`] that lives
//! across iterations, as a service holds one, so its buffer pool is warm. Divan prints
//! allocations and bytes per iteration:
//!
//! - `stream_rows(N)` for N = 1,000 and 101,000: the difference between the two, divided by
//!   the chunks between them (`chunks_between` prints the count), is the cost of one more
//!   chunk in a long export — the target is 0 allocations per chunk;
//! - `request_100_items`: a whole 100-item stream, from `stream()` to the last chunk
//!   consumed — the heap a small request costs (target ≤ 8 KiB).

use std::hint::black_box;

use futures_util::StreamExt;
use rowstream::{Identity, JsonArray, Streamer, fetch};
use serde::Serialize;

#[global_allocator]
static ALLOC: divan::AllocProfiler = divan::AllocProfiler::system();

fn main() {
    divan::main();
}

#[derive(Serialize)]
struct Row {
    id: u64,
    account: u64,
    amount: f64,
    subject: &'static str,
    note: Option<&'static str>,
    status: &'static str,
}

fn row(i: u64) -> Row {
    Row {
        id: i,
        account: 1_000_000_007 * i,
        amount: i as f64 * 1.25 - 17.0,
        subject: "Ticket about the coffee machine, \"again\"",
        note: (i % 3 == 0).then_some("note"),
        status: ["open", "closed", "pending"][(i % 3) as usize],
    }
}

/// A current-thread runtime: the producer task runs on the benchmark's thread, where
/// divan's profiler counts (it counts per thread).
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// Streams rows `0..n` as a JSON array and returns (bytes, chunks).
async fn stream(streamer: &Streamer, n: u64) -> (usize, usize) {
    let mut chunks = streamer.stream(
        fetch::from_iter((0..n).map(row)),
        Identity,
        JsonArray::new(),
    );
    let (mut bytes, mut count) = (0, 0);
    while let Some(chunk) = chunks.next().await {
        bytes += black_box(chunk.expect("no error")).len();
        count += 1;
    }
    (bytes, count)
}

#[divan::bench(args = [1_000, 101_000], sample_count = 20, sample_size = 1)]
fn stream_rows(bencher: divan::Bencher<'_, '_>, n: u64) {
    let rt = runtime();
    let streamer = Streamer::default();
    // Warm the buffer pool and the runtime before counting.
    rt.block_on(stream(&streamer, n));
    bencher.bench_local(|| rt.block_on(stream(&streamer, n)));
}

/// Prints the chunks between the two `stream_rows` sizes (run once, no allocations to
/// compare).
#[divan::bench(sample_count = 1, sample_size = 1)]
fn chunks_between() -> usize {
    let rt = runtime();
    let streamer = Streamer::default();
    let (_, small) = rt.block_on(stream(&streamer, 1_000));
    let (_, large) = rt.block_on(stream(&streamer, 101_000));
    println!(
        "chunks: 1,000 rows {small}, 101,000 rows {large}, between {}",
        large - small
    );
    large - small
}

#[divan::bench(sample_count = 200, sample_size = 1)]
fn request_100_items(bencher: divan::Bencher<'_, '_>) {
    let rt = runtime();
    let streamer = Streamer::default();
    rt.block_on(stream(&streamer, 100));
    bencher.bench_local(|| rt.block_on(stream(&streamer, 100)));
}
