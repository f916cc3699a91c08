//! JSONTestSuite (`test_parsing/y_*.json`): every document a conforming parser must
//! accept, pushed through the JSON array, NDJSON, JSON-seq and MessagePack encoders,
//! parses back equal; and nothing an encoder writes looks like the `n_` files: no bare
//! NaN/Infinity, no raw control characters inside strings, only valid UTF-8.

#![cfg(feature = "msgpack")]

mod support;

use std::path::PathBuf;

use rowstream::{JsonArray, JsonEnvelope, JsonSeq, Msgpack, Ndjson, NonFinite, ValuePolicy};
use serde_json::Value;
use support::{decode_json, decode_json_seq, decode_msgpack, decode_ndjson, encode_all};

const SUITE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/data/JSONTestSuite/test_parsing"
);

/// The accepted documents, by file name; `None` when the suite is not there.
fn accepted_documents() -> Option<Vec<(String, Value)>> {
    let dir = PathBuf::from(SUITE);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "JSONTestSuite is missing at {}",
            dir.display()
        );
        eprintln!("skipped: JSONTestSuite not found at {}", dir.display());
        return None;
    };
    let mut names: Vec<String> = entries
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("y_") && n.ends_with(".json"))
        .collect();
    names.sort();
    let mut documents = Vec::new();
    let mut rejected = Vec::new();
    for name in names {
        let bytes = std::fs::read(dir.join(&name)).unwrap();
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(value) => documents.push((name, value)),
            Err(_) => rejected.push(name),
        }
    }
    eprintln!(
        "JSONTestSuite: {} accepted documents; {} that serde_json itself rejects are left out: {:?}",
        documents.len(),
        rejected.len(),
        rejected
    );
    assert!(documents.len() >= 90, "expected the ~95 y_ files");
    Some(documents)
}

/// No byte below 0x20 except the format's own framing bytes, and valid UTF-8.
fn assert_clean_json_text(body: &[u8], framing: &[u8], name: &str) {
    let text = std::str::from_utf8(body).unwrap_or_else(|e| panic!("{name}: invalid UTF-8: {e}"));
    for (i, b) in text.bytes().enumerate() {
        assert!(
            b >= 0x20 || framing.contains(&b),
            "{name}: raw control byte {b:#04x} at {i}"
        );
    }
}

#[tokio::test]
async fn accepted_documents_round_trip_through_every_encoder() {
    let Some(documents) = accepted_documents() else {
        return;
    };
    let values: Vec<Value> = documents.iter().map(|(_, v)| v.clone()).collect();

    // All documents in one stream per format, with small chunks.
    let body = encode_all(values.clone(), JsonArray::new(), 64).await;
    assert_clean_json_text(&body, b"", "json array");
    assert_eq!(decode_json::<Value>(&body), values);

    let body = encode_all(values.clone(), JsonEnvelope::new(()), 64).await;
    assert_clean_json_text(&body, b"", "envelope");
    let doc: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(doc["data"], Value::Array(values.clone()));

    let body = encode_all(values.clone(), Ndjson::new(), 64).await;
    assert_clean_json_text(&body, b"\n", "ndjson");
    assert_eq!(decode_ndjson::<Value>(&body), values);

    let body = encode_all(values.clone(), JsonSeq::new(), 64).await;
    assert_clean_json_text(&body, b"\x1e\n", "json-seq");
    assert_eq!(decode_json_seq::<Value>(&body), values);

    let body = encode_all(values.clone(), Msgpack::new(), 64).await;
    assert_eq!(decode_msgpack::<Value>(&body), values);

    // And each document alone, as a one-item stream.
    for (name, value) in &documents {
        let one = vec![value.clone()];
        let body = encode_all(one.clone(), Ndjson::new(), 64).await;
        assert_eq!(decode_ndjson::<Value>(&body), one, "{name}");
        let body = encode_all(one.clone(), Msgpack::new(), 64).await;
        assert_eq!(decode_msgpack::<Value>(&body), one, "{name}");
    }
}

/// The inputs JSON cannot hold as they are: non-finite floats, every control character
/// and lone-surrogate-free non-BMP text. Each policy's output is strict JSON.
#[tokio::test]
async fn no_encoder_writes_what_the_n_files_hold() {
    #[derive(serde::Serialize, Clone)]
    struct Hostile {
        floats: [f64; 4],
        f32s: [f32; 2],
        controls: String,
        non_bmp: &'static str,
    }
    let hostile = Hostile {
        floats: [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0],
        f32s: [f32::NAN, f32::NEG_INFINITY],
        controls: (0u8..0x20)
            .map(char::from)
            .chain(['\u{7f}', '"', '\\'])
            .collect(),
        non_bmp: "😀𝄞\u{10ffff}",
    };
    let items = vec![hostile; 3];
    for (label, policy) in [
        ("null", ValuePolicy::default()),
        (
            "string",
            ValuePolicy::default().non_finite(NonFinite::String),
        ),
    ] {
        let bodies = [
            (
                "json array",
                encode_all(items.clone(), JsonArray::new().policy(policy), 32).await,
                &b""[..],
            ),
            (
                "ndjson",
                encode_all(items.clone(), Ndjson::new().policy(policy), 32).await,
                b"\n",
            ),
            (
                "json-seq",
                encode_all(items.clone(), JsonSeq::new().policy(policy), 32).await,
                b"\x1e\n",
            ),
        ];
        for (format, body, framing) in bodies {
            let name = format!("{format} ({label})");
            assert_clean_json_text(&body, framing, &name);
            let text = std::str::from_utf8(&body).unwrap();
            // serde_json is strict: it rejects NaN, Infinity and raw control characters.
            let values: Vec<Value> = match format {
                "json array" => decode_json(&body),
                "ndjson" => decode_ndjson(&body),
                _ => decode_json_seq(&body),
            };
            assert_eq!(values.len(), 3, "{name}");
            for value in values {
                let expected_floats = match label {
                    "null" => serde_json::json!([null, null, null, -0.0]),
                    _ => serde_json::json!(["NaN", "Infinity", "-Infinity", -0.0]),
                };
                assert_eq!(value["floats"], expected_floats, "{name}");
                assert_eq!(value["controls"].as_str().unwrap().len(), 35, "{name}");
                assert_eq!(value["non_bmp"], "😀𝄞\u{10ffff}", "{name}");
            }
            // No bare tokens: every NaN/Infinity in the text is inside quotes.
            for token in ["NaN", "Infinity"] {
                for (at, _) in text.match_indices(token) {
                    let before = &text[..at];
                    assert!(
                        before.ends_with('"') || before.ends_with("\"-"),
                        "{name}: bare {token} at {at}"
                    );
                }
            }
        }
        let body = encode_all(items.clone(), Msgpack::new().policy(policy), 32).await;
        let values = decode_msgpack::<Value>(&body);
        assert_eq!(values.len(), 3);
        assert_eq!(values[0]["controls"].as_str().unwrap().len(), 35);
    }
}
