//! Encoding cost per format: 200,000 rows shaped like an export (integers, a float, text
//! with quotes and commas, a NULL-able column) through each encoder into one reused
//! buffer, beside the limits — `serde_json` alone, and the `csv` crate's own serde writer.
//!
//! Run: `cargo bench -p rowstream --all-features --bench formats`

use std::hint::black_box;

use bytes::BytesMut;
use rowstream::{Csv, Encoder, JsonArray, JsonSeq, Msgpack, Ndjson, NonFinite, ValuePolicy};
use serde::Serialize;

const ROWS: usize = 200_000;
const CHUNK: usize = 32 * 1024;

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
fn run<E: Encoder>(mut encoder: E) -> usize {
    let mut out = BytesMut::with_capacity(CHUNK * 3 / 2);
    let mut bytes = 0;
    encoder.begin(&mut out).expect("begin");
    for row in rows() {
        encoder.item(row, &mut out).expect("row encodes");
        if out.len() >= CHUNK {
            bytes += black_box(&out).len();
            out.clear();
        }
    }
    encoder.end(ROWS as u64, &mut out).expect("end");
    bytes + black_box(&out).len()
}

#[divan::bench]
fn json_array() -> usize {
    run(JsonArray::new())
}

#[divan::bench]
fn json_array_string_policy() -> usize {
    run(JsonArray::new().policy(ValuePolicy::default().non_finite(NonFinite::String)))
}

#[divan::bench]
fn ndjson() -> usize {
    run(Ndjson::new())
}

#[divan::bench]
fn json_seq() -> usize {
    run(JsonSeq::new())
}

#[divan::bench]
fn csv() -> usize {
    run(Csv::new())
}

#[divan::bench]
fn msgpack() -> usize {
    run(Msgpack::new())
}

/// The JSON limit: serde_json straight into a reused buffer.
#[divan::bench]
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
#[divan::bench]
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
#[divan::bench]
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
