//! 1,000,000 demo tickets encoded as one JSON array through the streamer, beside the
//! limit: a plain loop that serde_json-serializes the same tickets into one reused buffer.
//!
//! Run: `cargo bench -p rowstream-cli --bench json_array`

use std::hint::black_box;

use futures_util::StreamExt;
use rowstream::{Identity, JsonArray, Streamer, fetch};
use rowstream_cli::demo;

const TICKETS: u64 = 1_000_000;

fn main() {
    divan::main();
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// The pipeline: generate → Streamer (JsonArray, default 32 KiB chunks) → chunks consumed.
#[divan::bench(sample_count = 10, sample_size = 1)]
fn streamer_json_array(bencher: divan::Bencher<'_, '_>) {
    let rt = runtime();
    let streamer = Streamer::default();
    bencher.bench_local(|| {
        rt.block_on(async {
            let mut chunks = streamer.stream(
                fetch::from_iter(demo::tickets(TICKETS)),
                Identity,
                JsonArray::new(),
            );
            let mut bytes = 0usize;
            while let Some(chunk) = chunks.next().await {
                bytes += black_box(chunk.expect("no error")).len();
            }
            bytes
        })
    });
}

/// The limit: generate → serde_json into one reused buffer, cleared every 32 KiB.
#[divan::bench(sample_count = 10, sample_size = 1)]
fn serde_json_loop(bencher: divan::Bencher<'_, '_>) {
    bencher.bench_local(|| {
        let mut buf = Vec::with_capacity(48 * 1024);
        let mut bytes = 0usize;
        buf.push(b'[');
        for (i, ticket) in demo::tickets(TICKETS).enumerate() {
            if i > 0 {
                buf.push(b',');
            }
            serde_json::to_writer(&mut buf, &ticket).expect("tickets serialize");
            if buf.len() >= 32 * 1024 {
                bytes += black_box(&buf).len();
                buf.clear();
            }
        }
        buf.push(b']');
        bytes + black_box(&buf).len()
    });
}

/// Generation alone, to see what the encoders add on top of it.
#[divan::bench(sample_count = 10, sample_size = 1)]
fn generate_only(bencher: divan::Bencher<'_, '_>) {
    bencher.bench_local(|| demo::tickets(TICKETS).map(|t| black_box(t).id).sum::<i64>());
}

/// The same tickets, generated once: what encoding and chunking cost without generation.
fn pregenerated() -> &'static [demo::Ticket] {
    static TICKETS_VEC: std::sync::OnceLock<Vec<demo::Ticket>> = std::sync::OnceLock::new();
    TICKETS_VEC.get_or_init(|| demo::tickets(TICKETS).collect())
}

/// Encoding only: pre-generated tickets → Streamer (JsonArray) → chunks consumed.
#[divan::bench(sample_count = 10, sample_size = 1)]
fn streamer_pregenerated(bencher: divan::Bencher<'_, '_>) {
    let rt = runtime();
    let streamer = Streamer::default();
    let tickets = pregenerated();
    bencher.bench_local(|| {
        rt.block_on(async {
            let mut chunks =
                streamer.stream(fetch::from_iter(tickets.iter()), Identity, JsonArray::new());
            let mut bytes = 0usize;
            while let Some(chunk) = chunks.next().await {
                bytes += black_box(chunk.expect("no error")).len();
            }
            bytes
        })
    });
}

/// Encoding only, the limit: pre-generated tickets → serde_json into one reused buffer.
#[divan::bench(sample_count = 10, sample_size = 1)]
fn serde_json_pregenerated(bencher: divan::Bencher<'_, '_>) {
    let tickets = pregenerated();
    bencher.bench_local(|| {
        let mut buf = Vec::with_capacity(48 * 1024);
        let mut bytes = 0usize;
        buf.push(b'[');
        for (i, ticket) in tickets.iter().enumerate() {
            if i > 0 {
                buf.push(b',');
            }
            serde_json::to_writer(&mut buf, ticket).expect("tickets serialize");
            if buf.len() >= 32 * 1024 {
                bytes += black_box(&buf).len();
                buf.clear();
            }
        }
        buf.push(b']');
        bytes + black_box(&buf).len()
    });
}
