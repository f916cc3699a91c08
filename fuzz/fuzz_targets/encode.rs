//! The encoders: arbitrary values in, output parsed back and compared with the input.
//!
//! Items are built from an arbitrary value tree (null, bool, i64, u64, f64 including
//! NaN/±Infinity, text, bytes, sequences, maps) and encoded the way the streamer drives
//! an encoder: `begin`, `item` per item (an item that fails is truncated away), `end`.
//! Then:
//! - JSON array, NDJSON, JSON-seq: parsed back with `serde_json`, each item equals the
//!   input under the value policy (non-finite floats, big integers); the completion
//!   record, when on, carries the item count;
//! - MessagePack (concatenated values, or one array of a declared length): decoded with
//!   `rmpv`, each value equals the input under the policy;
//! - CSV (maps, tuples or single values as records; header from the first record, given
//!   up front or absent; every delimiter; formula guard; completion record): read back
//!   with the `csv` crate, the header and every field equal what the input asks for,
//!   nested values as their JSON text;
//! - an item fails exactly when the policy rejects one of its values (or, in CSV, when its
//!   columns differ from the header's), and a failed item leaves no trace.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use rowstream::{
    BigIntegers, Csv, Delimiter, Encoder, JsonArray, JsonSeq, MAX_SAFE_INTEGER, Msgpack, Ndjson,
    NonFinite, ValuePolicy,
};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::Value as Json;

#[derive(Debug, Clone)]
enum V {
    Null,
    Bool(bool),
    I64(i64),
    U64(u64),
    F64(f64),
    Str(String),
    Bytes(Vec<u8>),
    Seq(Vec<V>),
    Map(Vec<(String, V)>),
}

const MAX_DEPTH: usize = 6;

fn value(u: &mut Unstructured<'_>, depth: usize) -> arbitrary::Result<V> {
    let kind = u.int_in_range(0..=if depth >= MAX_DEPTH { 6 } else { 8 })?;
    Ok(match kind {
        0 => V::Null,
        1 => V::Bool(u.arbitrary()?),
        2 => V::I64(u.arbitrary()?),
        3 => V::U64(u.arbitrary()?),
        4 => V::F64(float(u)?),
        5 => V::Str(u.arbitrary()?),
        6 => V::Bytes(u.arbitrary()?),
        7 => {
            let n = u.int_in_range(0..=4)?;
            V::Seq(
                (0..n)
                    .map(|_| value(u, depth + 1))
                    .collect::<Result<_, _>>()?,
            )
        }
        _ => V::Map(map(u, depth + 1)?),
    })
}

fn float(u: &mut Unstructured<'_>) -> arbitrary::Result<f64> {
    Ok(match u.int_in_range(0..=7)? {
        0 => f64::NAN,
        1 => f64::INFINITY,
        2 => f64::NEG_INFINITY,
        3 => -0.0,
        4 => f64::from(u.arbitrary::<i32>()?),
        _ => u.arbitrary()?,
    })
}

fn map(u: &mut Unstructured<'_>, depth: usize) -> arbitrary::Result<Vec<(String, V)>> {
    let n = u.int_in_range(0..=4)?;
    let mut entries: Vec<(String, V)> = Vec::new();
    for _ in 0..n {
        let key: String = u.arbitrary()?;
        let v = value(u, depth)?;
        if !entries.iter().any(|(k, _)| *k == key) {
            entries.push((key, v));
        }
    }
    Ok(entries)
}

impl Serialize for V {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            V::Null => s.serialize_none(),
            V::Bool(b) => s.serialize_bool(*b),
            V::I64(i) => s.serialize_i64(*i),
            V::U64(u) => s.serialize_u64(*u),
            V::F64(f) => s.serialize_f64(*f),
            V::Str(t) => s.serialize_str(t),
            V::Bytes(b) => s.serialize_bytes(b),
            V::Seq(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            V::Map(entries) => {
                let mut map = s.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

/// A CSV record as a map with the given keys.
struct Row<'a>(&'a [String], &'a [V]);

impl Serialize for Row<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.1.len()))?;
        for (k, v) in self.0.iter().zip(self.1) {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

fn is_big(magnitude: u64) -> bool {
    magnitude > MAX_SAFE_INTEGER
}

/// The JSON the policy asks for, `None` if the policy rejects a value.
fn expected_json(v: &V, policy: ValuePolicy) -> Option<Json> {
    let big = policy.get_big_integers() == BigIntegers::String;
    Some(match v {
        V::Null => Json::Null,
        V::Bool(b) => Json::Bool(*b),
        V::I64(i) if big && is_big(i.unsigned_abs()) => Json::String(i.to_string()),
        V::I64(i) => Json::from(*i),
        V::U64(u) if big && is_big(*u) => Json::String(u.to_string()),
        V::U64(u) => Json::from(*u),
        V::F64(f) if f.is_finite() => Json::from(*f),
        V::F64(f) => match policy.get_non_finite() {
            NonFinite::Null => Json::Null,
            NonFinite::String => Json::String(non_finite_text(*f).to_owned()),
            _ => return None,
        },
        V::Str(t) => Json::String(t.clone()),
        V::Bytes(b) => Json::Array(b.iter().map(|&x| Json::from(x)).collect()),
        V::Seq(items) => Json::Array(
            items
                .iter()
                .map(|i| expected_json(i, policy))
                .collect::<Option<_>>()?,
        ),
        V::Map(entries) => Json::Object(
            entries
                .iter()
                .map(|(k, v)| Some((k.clone(), expected_json(v, policy)?)))
                .collect::<Option<_>>()?,
        ),
    })
}

fn non_finite_text(f: f64) -> &'static str {
    if f.is_nan() {
        "NaN"
    } else if f > 0.0 {
        "Infinity"
    } else {
        "-Infinity"
    }
}

fn expected_msgpack(v: &V, policy: ValuePolicy) -> Option<rmpv::Value> {
    use rmpv::Value as M;
    let big = policy.get_big_integers() == BigIntegers::String;
    Some(match v {
        V::Null => M::Nil,
        V::Bool(b) => M::Boolean(*b),
        V::I64(i) if big && is_big(i.unsigned_abs()) => M::String(i.to_string().into()),
        V::I64(i) => M::Integer((*i).into()),
        V::U64(u) if big && is_big(*u) => M::String(u.to_string().into()),
        V::U64(u) => M::Integer((*u).into()),
        V::F64(f) if f.is_finite() => M::F64(*f),
        // MessagePack carries them natively, unless the policy refuses them.
        V::F64(f) => match policy.get_non_finite() {
            NonFinite::Null | NonFinite::String => M::F64(*f),
            _ => return None,
        },
        V::Str(t) => M::String(t.clone().into()),
        V::Bytes(b) => M::Binary(b.clone()),
        V::Seq(items) => M::Array(
            items
                .iter()
                .map(|i| expected_msgpack(i, policy))
                .collect::<Option<_>>()?,
        ),
        V::Map(entries) => M::Map(
            entries
                .iter()
                .map(|(k, v)| Some((M::String(k.clone().into()), expected_msgpack(v, policy)?)))
                .collect::<Option<_>>()?,
        ),
    })
}

fn policy(u: &mut Unstructured<'_>) -> arbitrary::Result<ValuePolicy> {
    let non_finite = *u.choose(&[NonFinite::Null, NonFinite::String, NonFinite::Error])?;
    let big = *u.choose(&[BigIntegers::Number, BigIntegers::String])?;
    Ok(ValuePolicy::new().non_finite(non_finite).big_integers(big))
}

/// Drives `enc` as the streamer does; returns the output and which items succeeded.
fn drive<E: Encoder, T: Serialize>(enc: &mut E, items: &[T]) -> (BytesMut, Vec<bool>) {
    let mut out = BytesMut::new();
    enc.begin(&mut out).expect("begin");
    let mut ok = Vec::new();
    let mut count = 0;
    for item in items {
        let before = out.len();
        match enc.item(item, &mut out) {
            Ok(()) => {
                ok.push(true);
                count += 1;
            }
            Err(_) => {
                out.truncate(before);
                ok.push(false);
            }
        }
    }
    enc.end(count, &mut out).expect("end");
    (out, ok)
}

fn completion(rows: usize) -> Json {
    serde_json::json!({"$rowstream": {"complete": true, "rows": rows}})
}

fn check_json_items(parsed: Vec<Json>, items: &[V], policy: ValuePolicy, ok: &[bool]) {
    let expected: Vec<Json> = items
        .iter()
        .zip(ok)
        .filter_map(|(item, &ok)| {
            let want = expected_json(item, policy);
            assert_eq!(
                want.is_some(),
                ok,
                "item {item:?} success {ok} under {policy:?}"
            );
            want
        })
        .collect();
    assert_eq!(parsed, expected);
}

fn json_formats(u: &mut Unstructured<'_>) -> arbitrary::Result<()> {
    let policy = policy(u)?;
    let complete: bool = u.arbitrary()?;
    let n = u.int_in_range(0..=6)?;
    let items: Vec<V> = (0..n).map(|_| value(u, 0)).collect::<Result<_, _>>()?;

    // JSON array.
    let (out, ok) = drive(&mut JsonArray::new().policy(policy), &items);
    let parsed: Vec<Json> = serde_json::from_slice(&out).expect("JSON array parses");
    check_json_items(parsed, &items, policy, &ok);

    // NDJSON.
    let (out, ok) = drive(
        &mut Ndjson::new().policy(policy).completion_record(complete),
        &items,
    );
    let text = std::str::from_utf8(&out).expect("UTF-8");
    assert!(text.is_empty() || text.ends_with('\n'));
    let mut parsed: Vec<Json> = text
        .split_terminator('\n')
        .map(|line| serde_json::from_str(line).expect("NDJSON line parses"))
        .collect();
    let successes = ok.iter().filter(|&&o| o).count();
    if complete {
        assert_eq!(parsed.pop(), Some(completion(successes)));
    }
    check_json_items(parsed, &items, policy, &ok);

    // JSON-seq.
    let (out, ok) = drive(
        &mut JsonSeq::new().policy(policy).completion_record(complete),
        &items,
    );
    assert!(out.is_empty() || out[0] == 0x1E);
    let mut parsed: Vec<Json> = out[..]
        .split(|&b| b == 0x1E)
        .skip(1)
        .map(|text| {
            assert_eq!(text.last(), Some(&b'\n'), "JSON-seq text ends with LF");
            serde_json::from_slice(text).expect("JSON-seq text parses")
        })
        .collect();
    if complete {
        assert_eq!(parsed.pop(), Some(completion(successes)));
    }
    check_json_items(parsed, &items, policy, &ok);

    // MessagePack, concatenated values.
    let (out, ok) = drive(&mut Msgpack::new().policy(policy), &items);
    let mut rest = &out[..];
    let mut decoded = Vec::new();
    while !rest.is_empty() {
        decoded.push(rmpv::decode::read_value(&mut rest).expect("MessagePack decodes"));
    }
    let expected: Vec<rmpv::Value> = items
        .iter()
        .zip(&ok)
        .filter_map(|(item, &ok)| {
            let want = expected_msgpack(item, policy);
            assert_eq!(want.is_some(), ok);
            want
        })
        .collect();
    // Compared as Debug text, where NaN equals NaN.
    assert_eq!(format!("{decoded:?}"), format!("{expected:?}"));

    // MessagePack, one array of the declared length.
    if expected.len() == items.len() {
        let len = u32::try_from(items.len()).unwrap();
        let (out, ok) = drive(&mut Msgpack::array(len).policy(policy), &items);
        assert!(ok.iter().all(|&o| o));
        let mut rest = &out[..];
        let array = rmpv::decode::read_value(&mut rest).expect("MessagePack array decodes");
        assert!(rest.is_empty());
        assert_eq!(
            format!("{array:?}"),
            format!("{:?}", rmpv::Value::Array(expected))
        );
    }
    Ok(())
}

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq)]
enum Shape {
    Map,
    Tuple,
    Single,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum HeaderMode {
    FromFirst,
    UpFront,
    Absent,
}

const TRIGGERS: &[u8] = b"=+-@\t\r";

fn guarded(text: &str, guard: bool) -> String {
    if guard && text.bytes().next().is_some_and(|b| TRIGGERS.contains(&b)) {
        format!("'{text}")
    } else {
        text.to_owned()
    }
}

/// Checks one CSV field against its value; `None` if the policy rejects the value.
fn check_field(field: &str, v: &V, policy: ValuePolicy, guard: bool) -> Option<()> {
    let field_policy = policy.big_integers(BigIntegers::Number);
    match v {
        V::Null => assert_eq!(field, ""),
        V::Bool(b) => assert_eq!(field, b.to_string()),
        V::I64(i) => assert_eq!(field, i.to_string()),
        V::U64(n) => assert_eq!(field, n.to_string()),
        V::F64(f) if f.is_finite() => {
            let back: f64 = field.parse().expect("a float field parses");
            assert_eq!(back, *f, "float field {field:?}");
        }
        // CSV fields carry them as text, unless the policy refuses them.
        V::F64(f) => match policy.get_non_finite() {
            NonFinite::Null | NonFinite::String => assert_eq!(field, non_finite_text(*f)),
            _ => return None,
        },
        V::Str(t) => assert_eq!(field, guarded(t, guard), "text field"),
        V::Bytes(_) | V::Seq(_) | V::Map(_) => {
            let want = expected_json(v, field_policy)?;
            let got: Json = serde_json::from_str(field).expect("a nested field is JSON");
            assert_eq!(got, want, "nested field {field:?}");
        }
    }
    Some(())
}

fn csv_format(u: &mut Unstructured<'_>) -> arbitrary::Result<()> {
    let policy = policy(u)?;
    let shape: Shape = u.arbitrary()?;
    let header: HeaderMode = u.arbitrary()?;
    let delimiter = *u.choose(&[Delimiter::Comma, Delimiter::Semicolon, Delimiter::Tab])?;
    let guard: bool = u.arbitrary()?;
    let complete: bool = u.arbitrary()?;
    let width = match shape {
        Shape::Single => 1,
        _ => u.int_in_range(0..=4)?,
    };
    let mut names: Vec<String> = Vec::new();
    for _ in 0..width {
        let name: String = u.arbitrary()?;
        if !names.contains(&name) {
            names.push(name);
        }
    }
    let width = names.len();
    let default_names: Vec<String> = match shape {
        Shape::Map => names.clone(),
        Shape::Tuple => (1..=width).map(|i| i.to_string()).collect(),
        Shape::Single => vec!["value".to_owned()],
    };
    let n = u.int_in_range(0..=5)?;
    let mut rows: Vec<Vec<V>> = Vec::new();
    for _ in 0..n {
        // Mostly the header's width; sometimes another, which must fail.
        let mut w = if u.ratio(1, 8)? && shape != Shape::Single {
            u.int_in_range(0..=5)?
        } else {
            width
        };
        if shape == Shape::Map {
            w = w.min(width); // a map has one entry per name at most
        }
        // A single value is a scalar: a sequence or map would be a record of its own.
        let depth = if shape == Shape::Single { MAX_DEPTH } else { 1 };
        rows.push((0..w).map(|_| value(u, depth)).collect::<Result<_, _>>()?);
    }

    let mut enc = Csv::new()
        .policy(policy)
        .delimiter(delimiter)
        .formula_guard(guard)
        .completion_record(complete);
    enc = match header {
        HeaderMode::FromFirst => enc,
        HeaderMode::UpFront => enc.header(default_names.clone()),
        HeaderMode::Absent => enc.without_header(),
    };
    let (out, ok) = match shape {
        Shape::Map => {
            let items: Vec<Row<'_>> = rows.iter().map(|r| Row(&names, r)).collect();
            drive(&mut enc, &items)
        }
        Shape::Tuple => drive(&mut enc, &rows),
        Shape::Single => {
            let items: Vec<&V> = rows.iter().map(|r| &r[0]).collect();
            drive(&mut enc, &items)
        }
    };

    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter.byte())
        .from_reader(&out[..]);
    let mut records: Vec<Vec<String>> = reader
        .records()
        .map(|r| {
            r.expect("CSV parses")
                .iter()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    let text = std::str::from_utf8(&out).expect("UTF-8");
    assert!(text.is_empty() || text.ends_with("\r\n"), "CRLF line ends");

    // The first successful row decides the columns unless given up front.
    let first_ok = rows
        .iter()
        .zip(&ok)
        .find(|(_, o)| **o)
        .map(|(r, _)| r.len());
    let columns: Option<usize> = match header {
        HeaderMode::UpFront => Some(default_names.len()),
        _ => first_ok,
    };
    let header_written = match header {
        HeaderMode::UpFront => true,
        HeaderMode::FromFirst => first_ok.is_some(),
        HeaderMode::Absent => false,
    };
    let mut records = records.drain(..);
    if header_written {
        let got = records.next().expect("a header row");
        let want: Vec<String> = if columns == Some(0) {
            vec![String::new()]
        } else {
            let c = columns.unwrap_or(0);
            let names: Vec<String> = match (shape, header) {
                (_, HeaderMode::UpFront) | (Shape::Map | Shape::Single, _) => {
                    default_names.iter().take(c).cloned().collect()
                }
                // Tuples are named by position, as many as the first record has.
                (Shape::Tuple, _) => (1..=c).map(|i| i.to_string()).collect(),
            };
            names.iter().map(|n| guarded(n, guard)).collect()
        };
        assert_eq!(got, want, "header row");
    }
    for (row, &row_ok) in rows.iter().zip(&ok) {
        let policy_ok = row
            .iter()
            .all(|v| expected_json(v, policy.big_integers(BigIntegers::Number)).is_some());
        let width_ok = columns.is_none_or(|c| c == row.len());
        assert_eq!(
            row_ok,
            policy_ok && width_ok,
            "row {row:?} success {row_ok}"
        );
        if !row_ok {
            continue;
        }
        let got = records.next().expect("a record per successful row");
        if row.is_empty() {
            assert_eq!(got, vec![String::new()], "empty record");
            continue;
        }
        assert_eq!(got.len(), row.len(), "fields of {row:?}: {got:?}");
        for (field, v) in got.iter().zip(row) {
            check_field(field, v, policy, guard).expect("checked above");
        }
    }
    if complete {
        let got = records.next().expect("the completion record");
        let rows = ok.iter().filter(|&&o| o).count();
        let json: Json = serde_json::from_str(&got[0]).expect("completion JSON");
        assert_eq!(json, completion(rows));
        assert_eq!(got.len(), columns.unwrap_or(1).max(1));
        assert!(got[1..].iter().all(String::is_empty));
    }
    assert_eq!(records.next(), None, "no extra records");
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let _ = match u.arbitrary::<bool>() {
        Ok(true) => csv_format(&mut u),
        _ => json_formats(&mut u),
    };
});
