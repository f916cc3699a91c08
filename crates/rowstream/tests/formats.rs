//! Every format round-trips through an independent parser back to exactly the input:
//! empty results, one row, many rows, and a row far larger than the chunk threshold;
//! then a property test per format over hostile strings, 64-bit integers and floats.

#![cfg(all(feature = "csv", feature = "msgpack"))]

mod support;

use proptest::prelude::*;
use rowstream::{Csv, JsonArray, JsonEnvelope, JsonSeq, Msgpack, Ndjson};
use serde::{Deserialize, Serialize};
use support::{
    decode_json, decode_json_seq, decode_msgpack, decode_ndjson, encode_all, parse_csv_strict,
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Row {
    id: i64,
    big: u64,
    text: String,
    note: Option<String>,
    score: f64,
    tags: Vec<i32>,
}

const THRESHOLD: usize = 1024;

fn row(i: i64) -> Row {
    Row {
        id: i - 500,
        big: u64::MAX - i as u64,
        text: format!("row {i}: \"quoted\", comma; tab\t CR\r LF\n 😀 \u{1}"),
        note: match i % 3 {
            0 => None,
            1 => Some(String::new()),
            _ => Some(format!(" spaced {i} ")),
        },
        score: i as f64 / 7.0,
        tags: (0..(i % 4) as i32).map(|t| t - 1).collect(),
    }
}

/// The cases every format must pass: (name, rows).
fn cases() -> Vec<(&'static str, Vec<Row>)> {
    let mut huge = row(1);
    huge.text = "x\"😀,\r\n".repeat(20 * THRESHOLD);
    vec![
        ("empty", vec![]),
        ("one row", vec![row(1)]),
        ("many rows", (0..2000).map(row).collect()),
        (
            "one row larger than the threshold",
            vec![row(0), huge, row(2)],
        ),
    ]
}

/// Reads the CSV of [`Row`]s with the strict reader (NULL vs "") and cross-checks with
/// the `csv` crate's reader.
fn decode_csv(body: &[u8]) -> Vec<Row> {
    let records = parse_csv_strict(body, b',').unwrap_or_else(|e| {
        panic!(
            "not strict RFC 4180 ({e}): {}",
            String::from_utf8_lossy(body)
        )
    });
    if records.is_empty() {
        return Vec::new();
    }
    let header: Vec<_> = records[0].iter().map(|f| f.clone().unwrap()).collect();
    assert_eq!(header, ["id", "big", "text", "note", "score", "tags"]);
    let rows: Vec<Row> = records[1..]
        .iter()
        .map(|r| {
            let text = |i: usize| r[i].clone().expect("a non-NULL field");
            Row {
                id: text(0).parse().unwrap(),
                big: text(1).parse().unwrap(),
                text: text(2),
                note: r[3].clone(),
                score: text(4).parse().unwrap(),
                tags: serde_json::from_str(&text(5)).unwrap(),
            }
        })
        .collect();

    // The csv crate agrees, except that it reads NULL and "" alike.
    let mut reader = csv::ReaderBuilder::new().from_reader(body);
    let mut n = 0;
    for (record, row) in reader.records().zip(&rows) {
        let record = record.unwrap();
        assert_eq!(&record[2], row.text);
        assert_eq!(&record[3], row.note.as_deref().unwrap_or(""));
        assert_eq!(record[4].parse::<f64>().unwrap(), row.score);
        n += 1;
    }
    assert_eq!(n, rows.len());
    rows
}

#[tokio::test]
async fn json_array_cases() {
    for (name, rows) in cases() {
        let body = encode_all(rows.clone(), JsonArray::new(), THRESHOLD).await;
        assert_eq!(decode_json::<Row>(&body), rows, "{name}");
    }
}

#[tokio::test]
async fn envelope_cases() {
    #[derive(Debug, Deserialize, PartialEq)]
    struct Doc {
        meta: serde_json::Value,
        data: Vec<Row>,
        count: u64,
    }
    for (name, rows) in cases() {
        let encoder = JsonEnvelope::new(serde_json::json!({"table": "rows", "nan": f64::NAN}))
            .count_key("count");
        let body = encode_all(rows.clone(), encoder, THRESHOLD).await;
        let doc: Doc = serde_json::from_slice(&body).unwrap();
        assert_eq!(doc.data, rows, "{name}");
        assert_eq!(doc.count, rows.len() as u64, "{name}");
        assert_eq!(doc.meta, serde_json::json!({"table": "rows", "nan": null}));
    }
}

#[tokio::test]
async fn ndjson_cases() {
    for (name, rows) in cases() {
        let body = encode_all(rows.clone(), Ndjson::new(), THRESHOLD).await;
        assert_eq!(
            body.iter().filter(|&&b| b == b'\n').count(),
            rows.len(),
            "{name}"
        );
        assert_eq!(decode_ndjson::<Row>(&body), rows, "{name}");
    }
}

#[tokio::test]
async fn json_seq_cases() {
    for (name, rows) in cases() {
        let body = encode_all(rows.clone(), JsonSeq::new(), THRESHOLD).await;
        assert_eq!(decode_json_seq::<Row>(&body), rows, "{name}");
    }
}

#[tokio::test]
async fn csv_cases() {
    for (name, rows) in cases() {
        let body = encode_all(rows.clone(), Csv::new(), THRESHOLD).await;
        assert_eq!(decode_csv(&body), rows, "{name}");
    }
    // An empty result with the names given up front is a header row alone.
    let encoder = Csv::new().header(["id", "big", "text", "note", "score", "tags"]);
    let body = encode_all(Vec::<Row>::new(), encoder, THRESHOLD).await;
    assert_eq!(body, b"id,big,text,note,score,tags\r\n");
    assert_eq!(decode_csv(&body), vec![]);
}

#[tokio::test]
async fn msgpack_cases() {
    for (name, rows) in cases() {
        let body = encode_all(rows.clone(), Msgpack::new(), THRESHOLD).await;
        assert_eq!(decode_msgpack::<Row>(&body), rows, "{name}");
        // Structs are maps keyed by field name, so a generic reader sees the names.
        if let Some(first) = decode_msgpack::<serde_json::Value>(&body).first() {
            assert!(first.get("text").is_some(), "{name}: {first}");
        }
    }
}

#[tokio::test]
async fn msgpack_one_array() {
    let rows: Vec<Row> = (0..300).map(row).collect();
    let body = encode_all(rows.clone(), Msgpack::array(300), THRESHOLD).await;
    let decoded: Vec<Row> = rmp_serde::from_slice(&body).unwrap();
    assert_eq!(decoded, rows);

    // A count that does not match the declared length fails the stream.
    use futures_util::StreamExt;
    let results: Vec<_> = rowstream::Streamer::default()
        .stream(
            rowstream::fetch::from_iter(rows),
            rowstream::Identity,
            Msgpack::array(301),
        )
        .collect()
        .await;
    let err = results.last().unwrap().as_ref().unwrap_err();
    assert_eq!(err.kind(), rowstream::StreamErrorKind::Encode);
    assert!(err.to_string().contains("declared 301"), "{err}");
}

/// Python's own parsers (`json`, `csv`) read the same values, when python3 is there.
#[tokio::test]
async fn python_reads_every_text_format() {
    if std::process::Command::new("python3")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "python3 is needed in CI"
        );
        eprintln!("skipped: python3 not found");
        return;
    }
    let rows: Vec<Row> = (0..50).map(row).collect();
    let dir = std::env::temp_dir().join(format!("rowstream-python-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let files = [
        (
            "json",
            encode_all(rows.clone(), JsonArray::new(), THRESHOLD).await,
        ),
        (
            "ndjson",
            encode_all(rows.clone(), Ndjson::new(), THRESHOLD).await,
        ),
        (
            "jsonseq",
            encode_all(rows.clone(), JsonSeq::new(), THRESHOLD).await,
        ),
        ("csv", encode_all(rows.clone(), Csv::new(), THRESHOLD).await),
    ];
    for (name, body) in &files {
        std::fs::write(dir.join(name), body).unwrap();
    }
    let script = r#"
import csv, json, sys
d = sys.argv[1]
out = {}
out["json"] = json.load(open(d + "/json", encoding="utf-8"))
out["ndjson"] = [json.loads(l) for l in open(d + "/ndjson", encoding="utf-8", newline="\n").read().split("\n") if l]
out["jsonseq"] = [json.loads(t) for t in open(d + "/jsonseq", encoding="utf-8", newline="").read().split("\x1e") if t]
rows = []
with open(d + "/csv", encoding="utf-8", newline="") as f:
    for r in csv.DictReader(f, strict=True):
        rows.append({"id": int(r["id"]), "big": int(r["big"]), "text": r["text"],
                     "note": r["note"], "score": float(r["score"]), "tags": json.loads(r["tags"])})
out["csv"] = rows
json.dump(out, sys.stdout)
"#;
    let output = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&dir)
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).ok();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let parsed: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let expected = serde_json::to_value(&rows).unwrap();
    for name in ["json", "ndjson", "jsonseq"] {
        assert_eq!(parsed[name], expected, "python reads {name}");
    }
    // Python's csv reads NULL and "" alike, as the empty string.
    let mut csv_expected = expected.clone();
    for row in csv_expected.as_array_mut().unwrap() {
        if row["note"].is_null() {
            row["note"] = "".into();
        }
    }
    assert_eq!(parsed["csv"], csv_expected, "python reads csv");
}

fn hard_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        // Quotes, backslashes, delimiters, every control character, non-BMP and
        // combining characters, formula starters.
        "[\"\\\\,;=+@\\-\u{0}-\u{1f}\u{7f}\u{2028}\u{2029}😀𝄞é\u{301}a-z ]{0,40}",
    ]
}

fn arb_row() -> impl Strategy<Value = Row> {
    (
        any::<i64>(),
        any::<u64>(),
        hard_text(),
        proptest::option::of(hard_text()),
        any::<f64>().prop_filter("finite", |f| f.is_finite()),
        proptest::collection::vec(any::<i32>(), 0..4),
    )
        .prop_map(|(id, big, text, note, score, tags)| Row {
            id,
            big,
            text,
            note,
            score,
            tags,
        })
}

fn arb_rows() -> impl Strategy<Value = Vec<Row>> {
    proptest::collection::vec(arb_row(), 0..40)
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn ndjson_round_trips(rows in arb_rows(), threshold in 16usize..2048) {
        let body = block_on(encode_all(rows.clone(), Ndjson::new(), threshold));
        prop_assert_eq!(decode_ndjson::<Row>(&body), rows);
    }

    #[test]
    fn json_seq_round_trips(rows in arb_rows(), threshold in 16usize..2048) {
        let body = block_on(encode_all(rows.clone(), JsonSeq::new(), threshold));
        prop_assert_eq!(decode_json_seq::<Row>(&body), rows);
    }

    #[test]
    fn envelope_round_trips(rows in arb_rows(), threshold in 16usize..2048) {
        let body = block_on(encode_all(rows.clone(), JsonEnvelope::new(()), threshold));
        let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let data: Vec<Row> = serde_json::from_value(doc["data"].clone()).unwrap();
        prop_assert_eq!(data, rows);
    }

    #[test]
    fn csv_round_trips(rows in arb_rows(), threshold in 16usize..2048) {
        let body = block_on(encode_all(rows.clone(), Csv::new(), threshold));
        prop_assert_eq!(decode_csv(&body), rows);
    }

    #[test]
    fn msgpack_round_trips(rows in arb_rows(), threshold in 16usize..2048) {
        let body = block_on(encode_all(rows.clone(), Msgpack::new(), threshold));
        prop_assert_eq!(decode_msgpack::<Row>(&body), rows);
    }
}
