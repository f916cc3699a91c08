//! An observer that logs progress: rows and bytes every N chunks, and a summary at the end.
//!
//! Run: `cargo run -p rowstream --example progress_observer`

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::StreamExt;
use rowstream::{Identity, JsonArray, StreamObserver, StreamSummary, Streamer, fetch};

/// Logs a line every `every` chunks and one at the end, into `lines`.
#[derive(Debug, Default)]
pub struct Progress {
    every: u64,
    chunks: AtomicU64,
    rows: AtomicU64,
    pub lines: Mutex<Vec<String>>,
}

impl Progress {
    pub fn every(chunks: u64) -> Self {
        Self {
            every: chunks.max(1),
            ..Self::default()
        }
    }

    fn log(&self, line: String) {
        println!("{line}");
        if let Ok(mut lines) = self.lines.lock() {
            lines.push(line);
        }
    }
}

impl StreamObserver for Progress {
    fn on_chunk(&self, _bytes: usize, items: u64) {
        let rows = self.rows.fetch_add(items, Ordering::Relaxed) + items;
        let chunks = self.chunks.fetch_add(1, Ordering::Relaxed) + 1;
        if chunks % self.every == 0 {
            self.log(format!("{rows} rows in {chunks} chunks"));
        }
    }

    fn on_complete(&self, summary: &StreamSummary) {
        self.log(format!(
            "{}: {} rows, {} bytes in {:?}",
            summary.outcome.as_str(),
            summary.items,
            summary.bytes,
            summary.duration
        ));
    }
}

/// Streams `rows` numbers with `progress` attached; returns when the stream is done.
pub async fn run(rows: u64, progress: Arc<Progress>) {
    let mut chunks = Streamer::default()
        .stream(fetch::from_iter(0..rows), Identity, JsonArray::new())
        .with_observer(progress);
    while chunks.next().await.is_some() {}
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    run(1_000_000, Arc::new(Progress::every(50))).await;
}
