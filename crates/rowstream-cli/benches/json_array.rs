//! 1,000,000 demo tickets encoded as one JSON array through the streamer, beside the
//! limit: a plain loop that serde_json-serializes the same tickets into one reused buffer.
//!
//! Run: `cargo bench -p rowstream-cli --bench json_array`
//!
//! The `observer_*` cases measure what observing a stream costs: the same encoding-only
//! pipeline with no observer, a no-op [`StreamObserver`], and the server's
//! [`MetricsObserver`] recording into the server's Prometheus recorder.
//! On a shared machine the whole-export cases cannot resolve a difference of a few percent,
//! so the hooks are also measured alone (`observer_on_chunk_*`, called once per chunk, about
//! 11,450 times for the export) and per stream (`observer_one_row_*`: a one-row export,
//! where registering the metric handles and recording the end are the difference).
//! Run them alone: `cargo bench -p rowstream-cli --bench json_array -- observer_`

use std::hint::black_box;
use std::sync::Arc;

use futures_util::StreamExt;
use rowstream::metrics::MetricsObserver;
use rowstream::{ChunkStream, Identity, JsonArray, StreamObserver, Streamer, fetch};
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

/// Encoding only, rowstream's JSON serializer (`write_json`) in the same loop as
/// `serde_json_pregenerated`.
#[divan::bench(sample_count = 10, sample_size = 1)]
fn write_json_pregenerated(bencher: divan::Bencher<'_, '_>) {
    let tickets = pregenerated();
    bencher.bench_local(|| {
        let mut buf = bytes::BytesMut::with_capacity(48 * 1024);
        let mut bytes = 0usize;
        buf.extend_from_slice(b"[");
        for (i, ticket) in tickets.iter().enumerate() {
            if i > 0 {
                buf.extend_from_slice(b",");
            }
            rowstream::write_json(ticket, &mut buf).expect("tickets serialize");
            if buf.len() >= 32 * 1024 {
                bytes += black_box(&buf).len();
                buf.clear();
            }
        }
        buf.extend_from_slice(b"]");
        bytes + black_box(&buf).len()
    });
}

/// Samples per observer case: the differences looked for are a few percent, below the
/// noise of 10 samples on a shared machine.
const OBSERVER_SAMPLES: u32 = 40;

/// An observer whose hooks do nothing: the cost of the observation machinery itself.
#[derive(Debug)]
struct Noop;

impl StreamObserver for Noop {}

/// Consumes `chunks`, returning the bytes seen.
async fn drain(mut chunks: ChunkStream) -> usize {
    let mut bytes = 0usize;
    while let Some(chunk) = chunks.next().await {
        bytes += black_box(chunk.expect("no error")).len();
    }
    bytes
}

/// Encoding only, no observer (the baseline of the `observer_*` cases).
#[divan::bench(sample_count = OBSERVER_SAMPLES, sample_size = 1)]
fn observer_none(bencher: divan::Bencher<'_, '_>) {
    let rt = runtime();
    let streamer = Streamer::default();
    let tickets = pregenerated();
    bencher.bench_local(|| {
        rt.block_on(async {
            drain(streamer.stream(fetch::from_iter(tickets.iter()), Identity, JsonArray::new()))
                .await
        })
    });
}

/// Encoding only, observed by an observer that does nothing.
#[divan::bench(sample_count = OBSERVER_SAMPLES, sample_size = 1)]
fn observer_noop(bencher: divan::Bencher<'_, '_>) {
    let rt = runtime();
    let streamer = Streamer::default();
    let tickets = pregenerated();
    bencher.bench_local(|| {
        rt.block_on(async {
            let chunks = streamer
                .stream(fetch::from_iter(tickets.iter()), Identity, JsonArray::new())
                .with_observer(Arc::new(Noop));
            drain(chunks).await
        })
    });
}

/// Encoding only, observed as `rowstream serve` observes an export: a `MetricsObserver`
/// built per stream with the server's labels, recording into the Prometheus recorder the
/// server installs.
#[divan::bench(sample_count = OBSERVER_SAMPLES, sample_size = 1)]
fn observer_metrics(bencher: divan::Bencher<'_, '_>) {
    let handle = rowstream_cli::server::install_metrics().expect("the Prometheus recorder");
    let rt = runtime();
    let streamer = Streamer::default();
    let tickets = pregenerated();
    bencher.bench_local(|| {
        rt.block_on(async {
            let chunks = streamer
                .stream(fetch::from_iter(tickets.iter()), Identity, JsonArray::new())
                .with_observer(Arc::new(metrics_observer()));
            drain(chunks).await
        })
    });
    // The recorder saw the rows: the observer was not recording into a no-op recorder.
    let rendered = handle.render();
    assert!(
        rendered
            .lines()
            .any(|line| line.starts_with("rowstream_rows_total{") && !line.ends_with(" 0")),
        "no rows recorded:\n{rendered}"
    );
}

/// The server's metrics observer, built after the Prometheus recorder is installed (so its
/// handles record into it rather than into the no-op recorder).
fn metrics_observer() -> MetricsObserver {
    rowstream_cli::server::install_metrics().expect("the Prometheus recorder");
    MetricsObserver::new([
        ("source", "tickets".to_owned()),
        ("format", "json".to_owned()),
    ])
}

/// One `on_chunk` through `Arc<dyn StreamObserver>`, as a stream calls it: no-op observer.
#[divan::bench(sample_count = 1000, sample_size = 1000)]
fn observer_on_chunk_noop(bencher: divan::Bencher<'_, '_>) {
    let observer: Arc<dyn StreamObserver> = Arc::new(Noop);
    bencher.bench_local(|| observer.on_chunk(black_box(32_950), black_box(87)));
}

/// One `on_chunk` through `Arc<dyn StreamObserver>`: the metrics observer (three counter
/// increments).
#[divan::bench(sample_count = 1000, sample_size = 1000)]
fn observer_on_chunk_metrics(bencher: divan::Bencher<'_, '_>) {
    let observer: Arc<dyn StreamObserver> = Arc::new(metrics_observer());
    bencher.bench_local(|| observer.on_chunk(black_box(32_950), black_box(87)));
}

/// Building the metrics observer: six handles registered with the recorder, once per
/// request in the server.
#[divan::bench(sample_count = 1000, sample_size = 100)]
fn observer_metrics_new(bencher: divan::Bencher<'_, '_>) {
    rowstream_cli::server::install_metrics().expect("the Prometheus recorder");
    bencher.bench_local(|| {
        MetricsObserver::new([
            ("source", "tickets".to_owned()),
            ("format", "json".to_owned()),
        ])
    });
}

/// A one-row export, no observer: the fixed cost of a stream.
#[divan::bench(sample_count = 1000)]
fn observer_one_row_none(bencher: divan::Bencher<'_, '_>) {
    let rt = runtime();
    let streamer = Streamer::default();
    let tickets = &pregenerated()[..1];
    bencher.bench_local(|| {
        rt.block_on(async {
            drain(streamer.stream(fetch::from_iter(tickets.iter()), Identity, JsonArray::new()))
                .await
        })
    });
}

/// A one-row export with the no-op observer.
#[divan::bench(sample_count = 1000)]
fn observer_one_row_noop(bencher: divan::Bencher<'_, '_>) {
    let rt = runtime();
    let streamer = Streamer::default();
    let tickets = &pregenerated()[..1];
    bencher.bench_local(|| {
        rt.block_on(async {
            let chunks = streamer
                .stream(fetch::from_iter(tickets.iter()), Identity, JsonArray::new())
                .with_observer(Arc::new(Noop));
            drain(chunks).await
        })
    });
}

/// A one-row export with a metrics observer built for it, as the server does per request:
/// the handles are registered (labels hashed, registry looked up) and the end recorded.
#[divan::bench(sample_count = 1000)]
fn observer_one_row_metrics(bencher: divan::Bencher<'_, '_>) {
    let rt = runtime();
    let streamer = Streamer::default();
    let tickets = &pregenerated()[..1];
    bencher.bench_local(|| {
        rt.block_on(async {
            let chunks = streamer
                .stream(fetch::from_iter(tickets.iter()), Identity, JsonArray::new())
                .with_observer(Arc::new(metrics_observer()));
            drain(chunks).await
        })
    });
}
