//! Metrics through the `metrics` facade (feature `metrics`): a [`MetricsObserver`] that
//! records every stream it observes, for any exporter (Prometheus, StatsD, …).
//!
//! | metric | type | labels | meaning |
//! |---|---|---|---|
//! | `rowstream_streams_in_flight` | gauge | yours | streams started and not yet ended |
//! | `rowstream_streams_total` | counter | yours + `outcome` | streams ended, by [`Outcome`] (`completed`, `failed`, `client_gone`, `timed_out`, `limit_reached`) |
//! | `rowstream_stream_errors_total` | counter | yours + `kind` | failed streams by [`StreamErrorKind`](crate::StreamErrorKind) |
//! | `rowstream_rows_total` | counter | yours | items in chunks taken by clients |
//! | `rowstream_bytes_total` | counter | yours | bytes in chunks taken by clients (before compression) |
//! | `rowstream_chunks_total` | counter | yours | chunks taken by clients |
//! | `rowstream_stream_duration_seconds` | histogram | yours | from start to end of a stream |
//! | `rowstream_time_to_first_byte_seconds` | histogram | yours | from start to the first chunk taken |
//!
//! Names follow the Prometheus conventions (`_total`, `_seconds`, `_bytes`). Handles are
//! registered once per stream; each chunk costs three atomic additions. Call [`describe`]
//! once after installing a recorder to give each metric its help text and unit.

use std::time::Duration;

use metrics::{Counter, Gauge, Histogram, Label};

use crate::{Outcome, StreamError, StreamObserver, StreamSummary};

/// Registers the help text and unit of every metric in the table above with the installed
/// recorder (Prometheus writes them as `# HELP` lines). Optional; call it once after
/// installing the recorder.
pub fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};

    describe_gauge!(
        "rowstream_streams_in_flight",
        Unit::Count,
        "Streams started and not yet ended."
    );
    describe_counter!(
        "rowstream_streams_total",
        Unit::Count,
        "Streams ended, by outcome: completed, failed, client_gone, timed_out, limit_reached."
    );
    describe_counter!(
        "rowstream_stream_errors_total",
        Unit::Count,
        "Failed streams, by error kind."
    );
    describe_counter!(
        "rowstream_rows_total",
        Unit::Count,
        "Rows in chunks taken by clients."
    );
    describe_counter!(
        "rowstream_bytes_total",
        Unit::Bytes,
        "Bytes in chunks taken by clients, before compression."
    );
    describe_counter!(
        "rowstream_chunks_total",
        Unit::Count,
        "Chunks taken by clients."
    );
    describe_histogram!(
        "rowstream_stream_duration_seconds",
        Unit::Seconds,
        "Time from the start to the end of a stream."
    );
    describe_histogram!(
        "rowstream_time_to_first_byte_seconds",
        Unit::Seconds,
        "Time from the start of a stream to its first chunk taken."
    );
}

/// Records metrics for the streams it observes, with a fixed set of labels (for example
/// the route or table and the format).
///
/// ```
/// use std::sync::Arc;
/// use rowstream::metrics::MetricsObserver;
/// use rowstream::{Identity, JsonArray, Streamer, fetch};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let observer = MetricsObserver::new([("table", "tickets".to_owned()), ("format", "json".to_owned())]);
/// let chunks = Streamer::default()
///     .stream(fetch::from_iter(0..10), Identity, JsonArray::new())
///     .with_observer(Arc::new(observer));
/// # drop(chunks);
/// # }
/// ```
#[derive(Debug)]
pub struct MetricsObserver {
    labels: Vec<Label>,
    in_flight: Gauge,
    rows: Counter,
    bytes: Counter,
    chunks: Counter,
    duration: Histogram,
    ttfb: Histogram,
}

impl MetricsObserver {
    /// An observer recording with `labels` on every metric.
    pub fn new<K, I>(labels: I) -> Self
    where
        I: IntoIterator<Item = (K, String)>,
        K: Into<metrics::SharedString>,
    {
        let labels: Vec<Label> = labels
            .into_iter()
            .map(|(key, value)| Label::new(key, value))
            .collect();
        Self {
            in_flight: metrics::gauge!("rowstream_streams_in_flight", labels.clone()),
            rows: metrics::counter!("rowstream_rows_total", labels.clone()),
            bytes: metrics::counter!("rowstream_bytes_total", labels.clone()),
            chunks: metrics::counter!("rowstream_chunks_total", labels.clone()),
            duration: metrics::histogram!("rowstream_stream_duration_seconds", labels.clone()),
            ttfb: metrics::histogram!("rowstream_time_to_first_byte_seconds", labels.clone()),
            labels,
        }
    }

    fn with(&self, key: &'static str, value: &'static str) -> Vec<Label> {
        let mut labels = self.labels.clone();
        labels.push(Label::new(key, value));
        labels
    }
}

impl StreamObserver for MetricsObserver {
    fn on_start(&self) {
        self.in_flight.increment(1.0);
    }

    fn on_first_byte(&self, time_to_first_byte: Duration) {
        self.ttfb.record(time_to_first_byte.as_secs_f64());
    }

    fn on_chunk(&self, bytes: usize, items: u64) {
        self.rows.increment(items);
        self.bytes.increment(bytes as u64);
        self.chunks.increment(1);
    }

    fn on_error(&self, error: &StreamError) {
        metrics::counter!(
            "rowstream_stream_errors_total",
            self.with("kind", error.kind().as_str())
        )
        .increment(1);
    }

    fn on_complete(&self, summary: &StreamSummary) {
        self.in_flight.decrement(1.0);
        self.duration.record(summary.duration.as_secs_f64());
        let outcome: Outcome = summary.outcome;
        metrics::counter!(
            "rowstream_streams_total",
            self.with("outcome", outcome.as_str())
        )
        .increment(1);
    }
}
