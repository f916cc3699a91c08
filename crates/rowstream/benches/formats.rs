//! Encoding cost per format: 200,000 rows shaped like an export (integers, a float, text
//! with quotes and commas, a NULL-able column) through each encoder into one reused
//! buffer, beside the limits — `serde_json` alone, and the `csv` crate's own serde writer —
//! and the 336,776 real nycflights13 flights (19 columns, NA as NULL) through each encoder.
//! Divan prints items/s and bytes/s per case.
//!
//! The flights come from `../shared/data/nycflights13/flights.csv.zip` beside the
//! checkout (or `FLIGHTS_ZIP`).
//!
//! Run: `cargo bench -p rowstream --all-features --bench formats`
//!
//! Allocations are counted too (divan's allocation profiler): an encoder that allocates
//! per row shows it in the `alloc` rows.

use std::hint::black_box;

use bytes::BytesMut;
use rowstream::{Csv, Encoder, JsonArray, JsonSeq, Msgpack, Ndjson, NonFinite, ValuePolicy};
use serde::Serialize;

const ROWS: usize = 200_000;
const CHUNK: usize = 32 * 1024;

#[global_allocator]
static ALLOC: divan::AllocProfiler = divan::AllocProfiler::system();

fn main() {
    divan::main();
}

#[derive(Serialize)]
struct Row {
    id: i64,
    account: u64,
    amount: f64,
    subject: String,
    note: Option<String>,
    status: &'static str,
}

fn rows() -> &'static [Row] {
    static ROWS_VEC: std::sync::OnceLock<Vec<Row>> = std::sync::OnceLock::new();
    ROWS_VEC.get_or_init(|| {
        (0..ROWS)
            .map(|i| Row {
                id: i as i64,
                account: 1_000_000_007 * i as u64,
                amount: i as f64 * 1.25 - 17.0,
                subject: if i % 5 == 0 {
                    format!("Printer \"{i}\" on fire, again")
                } else {
                    format!("Ticket number {i} about the coffee machine")
                },
                note: (i % 3 == 0).then(|| format!("note {i}")),
                status: ["open", "closed", "pending"][i % 3],
            })
            .collect()
    })
}

/// Encodes every row with `encoder` into one buffer, cleared at each chunk threshold as
/// the streamer would hand it out.
fn run<E: Encoder>(encoder: E) -> usize {
    run_on(encoder, rows())
}

fn run_on<E: Encoder, T: Serialize>(mut encoder: E, items: &[T]) -> usize {
    let mut out = BytesMut::with_capacity(CHUNK * 3 / 2);
    let mut bytes = 0;
    encoder.begin(&mut out).expect("begin");
    for item in items {
        encoder.item(item, &mut out).expect("row encodes");
        if out.len() >= CHUNK {
            bytes += black_box(&out).len();
            out.clear();
        }
    }
    encoder.end(items.len() as u64, &mut out).expect("end");
    bytes + black_box(&out).len()
}

#[path = "support/flights.rs"]
mod flights_data;
use flights_data::Flight;

/// The flights, read once for every case.
fn flights() -> &'static [Flight] {
    static FLIGHTS: std::sync::OnceLock<Vec<Flight>> = std::sync::OnceLock::new();
    FLIGHTS.get_or_init(flights_data::load)
}

/// The flights through each encoder (`format` names it), and serde_json alone.
#[divan::bench(args = ["json_array", "ndjson", "json_seq", "csv", "msgpack", "limit_serde_json", "write_json"])]
fn flights_rows(bencher: divan::Bencher<'_, '_>, format: &str) {
    let flights = flights();
    let bytes = encode_flights(format, flights);
    bencher
        .counter(divan::counter::ItemsCount::new(flights.len()))
        .counter(divan::counter::BytesCount::new(bytes))
        .bench(|| encode_flights(format, flights));
}

fn encode_flights(format: &str, flights: &[Flight]) -> usize {
    match format {
        "json_array" => run_on(JsonArray::new(), flights),
        "ndjson" => run_on(Ndjson::new(), flights),
        "json_seq" => run_on(JsonSeq::new(), flights),
        "csv" => run_on(Csv::new(), flights),
        "msgpack" => run_on(Msgpack::new(), flights),
        "limit_serde_json" => {
            let mut buf = Vec::with_capacity(CHUNK * 3 / 2);
            let mut bytes = 0;
            for flight in flights {
                serde_json::to_writer(&mut buf, flight).expect("a flight serializes");
                buf.push(b'\n');
                if buf.len() >= CHUNK {
                    bytes += black_box(&buf).len();
                    buf.clear();
                }
            }
            bytes + black_box(&buf).len()
        }
        "write_json" => write_json_loop(flights),
        other => unreachable!("no format {other}"),
    }
}

#[divan::bench(counters = [divan::counter::ItemsCount::new(ROWS)])]
fn json_array() -> usize {
    run(JsonArray::new())
}

#[divan::bench(counters = [divan::counter::ItemsCount::new(ROWS)])]
fn json_array_string_policy() -> usize {
    run(JsonArray::new().policy(ValuePolicy::default().non_finite(NonFinite::String)))
}

#[divan::bench(counters = [divan::counter::ItemsCount::new(ROWS)])]
fn ndjson() -> usize {
    run(Ndjson::new())
}

#[divan::bench(counters = [divan::counter::ItemsCount::new(ROWS)])]
fn json_seq() -> usize {
    run(JsonSeq::new())
}

#[divan::bench(counters = [divan::counter::ItemsCount::new(ROWS)])]
fn csv() -> usize {
    run(Csv::new())
}

#[divan::bench(counters = [divan::counter::ItemsCount::new(ROWS)])]
fn msgpack() -> usize {
    run(Msgpack::new())
}

/// The JSON limit: serde_json straight into a reused buffer.
#[divan::bench(counters = [divan::counter::ItemsCount::new(ROWS)])]
fn limit_serde_json() -> usize {
    let mut buf = Vec::with_capacity(CHUNK * 3 / 2);
    let mut bytes = 0;
    for row in rows() {
        serde_json::to_writer(&mut buf, row).expect("row serializes");
        buf.push(b'\n');
        if buf.len() >= CHUNK {
            bytes += black_box(&buf).len();
            buf.clear();
        }
    }
    bytes + black_box(&buf).len()
}

/// The CSV limit: the csv crate's own serde writer (with its internal buffer) into a
/// reused buffer.
#[divan::bench(counters = [divan::counter::ItemsCount::new(ROWS)])]
fn limit_csv_writer() -> usize {
    /// Appends to a buffer cleared at each chunk threshold.
    struct Drain {
        buf: Vec<u8>,
        bytes: usize,
    }
    impl std::io::Write for Drain {
        fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
            self.buf.extend_from_slice(data);
            if self.buf.len() >= CHUNK {
                self.bytes += black_box(&self.buf).len();
                self.buf.clear();
            }
            Ok(data.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Drain {
            buf: Vec::with_capacity(CHUNK * 3 / 2),
            bytes: 0,
        });
    for row in rows() {
        writer.serialize(row).expect("row serializes");
    }
    let drain = writer.into_inner().expect("flush to a Vec");
    drain.bytes + black_box(&drain.buf).len()
}

/// The MessagePack limit: rmp-serde (structs as maps) into a reused buffer.
#[divan::bench(counters = [divan::counter::ItemsCount::new(ROWS)])]
fn limit_rmp_serde() -> usize {
    let mut buf = Vec::with_capacity(CHUNK * 3 / 2);
    let mut bytes = 0;
    for row in rows() {
        row.serialize(&mut rmp_serde::Serializer::new(&mut buf).with_struct_map())
            .expect("row serializes");
        if buf.len() >= CHUNK {
            bytes += black_box(&buf).len();
            buf.clear();
        }
    }
    bytes + black_box(&buf).len()
}

/// rowstream's JSON serializer alone (`write_json`), as `limit_serde_json` runs serde_json:
/// one item and a newline at a time into a buffer cleared at each chunk threshold.
fn write_json_loop<T: Serialize>(items: &[T]) -> usize {
    let mut buf = BytesMut::with_capacity(CHUNK * 3 / 2);
    let mut bytes = 0;
    for item in items {
        rowstream::write_json(item, &mut buf).expect("an item serializes");
        buf.extend_from_slice(b"\n");
        if buf.len() >= CHUNK {
            bytes += black_box(&buf).len();
            buf.clear();
        }
    }
    bytes + black_box(&buf).len()
}

/// The serializer alone on the export-shaped rows, beside `limit_serde_json`.
#[divan::bench(counters = [divan::counter::ItemsCount::new(ROWS)])]
fn write_json() -> usize {
    write_json_loop(rows())
}
