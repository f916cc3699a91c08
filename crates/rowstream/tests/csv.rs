//! CSV (RFC 4180): fields that need quoting, NULL next to the empty string, formula-like
//! text, other delimiters and dynamic SQLite rows, read back by a strict reader.

#![cfg(feature = "csv")]

mod support;

use rowstream::{Csv, Delimiter};
use support::{Field, encode_all, parse_csv_strict};

/// Values that need every CSV rule, with the text a reader must get back.
fn hard_values() -> Vec<Option<&'static str>> {
    vec![
        Some("plain"),
        Some("say \"hi\""),
        Some("\""),
        Some("\"\""),
        Some("a,b"),
        Some("carriage\rreturn"),
        Some("line\nfeed"),
        Some("crlf\r\ninside"),
        Some("  leading and trailing  "),
        Some(" "),
        Some(""),
        None,
        Some("=1+2"),
        Some("+33 1 23"),
        Some("-2"),
        Some("@SUM(A1:A2)"),
        Some("\tindented"),
        Some("\rcr first"),
        Some("=HYPERLINK(\"http://x\",\"y\")"),
        Some("😀 non-BMP 𝄞"),
        Some("semi;colon"),
        Some("tab\there"),
        Some("#not a comment"),
    ]
}

#[derive(serde::Serialize, Clone)]
struct Cell {
    id: u32,
    value: Option<&'static str>,
    n: i64,
    x: f64,
}

fn cells() -> Vec<Cell> {
    hard_values()
        .into_iter()
        .enumerate()
        .map(|(i, value)| Cell {
            id: i as u32,
            value,
            n: -(i as i64),
            x: -(i as f64) - 0.5,
        })
        .collect()
}

fn owned(value: Option<&str>) -> Field {
    value.map(str::to_owned)
}

#[tokio::test]
async fn hard_fields_round_trip_through_a_strict_reader() {
    let body = encode_all(cells(), Csv::new(), 64).await;
    let records = parse_csv_strict(&body, b',').unwrap();
    assert_eq!(
        records[0],
        ["id", "value", "n", "x"].map(|s| Some(s.to_owned()))
    );
    assert_eq!(records.len(), cells().len() + 1);
    for (record, cell) in records[1..].iter().zip(cells()) {
        assert_eq!(record[0], Some(cell.id.to_string()));
        // NULL stays an empty field, "" stays an empty string: distinct.
        assert_eq!(record[1], owned(cell.value), "row {}", cell.id);
        assert_eq!(record[2], Some(cell.n.to_string()));
        assert_eq!(
            record[3].as_deref().unwrap().parse::<f64>().unwrap(),
            cell.x
        );
    }
    // On the wire: NULL is nothing, the empty string is a pair of quotes.
    let text = String::from_utf8(body.clone()).unwrap();
    assert!(text.contains("\r\n10,\"\",-10,-10.5\r\n"), "{text}");
    assert!(text.contains("\r\n11,,-11,-11.5\r\n"), "{text}");

    // The csv crate reads the same text (it cannot tell NULL from "").
    let mut reader = csv::ReaderBuilder::new().from_reader(&body[..]);
    for (record, cell) in reader.records().zip(cells()) {
        assert_eq!(&record.unwrap()[1], cell.value.unwrap_or(""));
    }
}

#[tokio::test]
async fn formula_guard_prefixes_text_and_leaves_numbers() {
    let body = encode_all(cells(), Csv::new().formula_guard(true), 64).await;
    let records = parse_csv_strict(&body, b',').unwrap();
    for (record, cell) in records[1..].iter().zip(cells()) {
        let expected = cell.value.map(|v| {
            if v.starts_with(['=', '+', '-', '@', '\t', '\r']) {
                format!("'{v}")
            } else {
                v.to_owned()
            }
        });
        assert_eq!(record[1], expected, "row {}", cell.id);
        // Negative numbers are numbers: untouched.
        assert_eq!(record[2], Some(cell.n.to_string()));
        assert!(record[3].as_deref().unwrap().starts_with('-'));
    }
}

#[tokio::test]
async fn other_delimiters() {
    for (delimiter, byte) in [(Delimiter::Semicolon, b';'), (Delimiter::Tab, b'\t')] {
        let body = encode_all(cells(), Csv::new().delimiter(delimiter), 64).await;
        let records = parse_csv_strict(&body, byte).unwrap();
        for (record, cell) in records[1..].iter().zip(cells()) {
            assert_eq!(record[1], owned(cell.value));
        }
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(byte)
            .from_reader(&body[..]);
        assert_eq!(reader.records().count(), cells().len());
    }
}

#[tokio::test]
async fn completion_record_is_a_full_width_last_row() {
    let body = encode_all(cells(), Csv::new().completion_record(true), 64).await;
    let records = parse_csv_strict(&body, b',').unwrap();
    let last = records.last().unwrap();
    assert_eq!(last.len(), 4, "same number of fields as the header");
    assert_eq!(&last[1..], [None, None, None]);
    let marker: serde_json::Value = serde_json::from_str(last[0].as_deref().unwrap()).unwrap();
    assert_eq!(
        marker,
        serde_json::json!({"$rowstream": {"complete": true, "rows": cells().len()}})
    );
    // A strict reader that checks record lengths accepts it.
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(&body[..]);
    assert_eq!(reader.records().count(), cells().len() + 1);
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn dynamic_sqlite_rows_flatten_by_column() {
    use futures_util::TryStreamExt;
    use rowstream::{Identity, Streamer};

    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect("sqlite::memory:")
        .await
        .unwrap();
    sqlx::query("CREATE TABLE t (id INTEGER, name TEXT, score REAL, blob BLOB)")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO t VALUES (1, 'a,\"b\"', 1.5, x'00ff'), (2, '', NULL, NULL),
           (9007199254740993, NULL, -0.25, x''), (4, '=cmd', 9e999, NULL)",
    )
    .execute(&pool)
    .await
    .unwrap();
    let rows = rowstream::sqlite::rows(pool, "SELECT * FROM t ORDER BY rowid");
    let encoder = Csv::new().formula_guard(true);
    let body = Streamer::default()
        .stream(rows, Identity, encoder)
        .map_ok(Vec::from)
        .try_concat()
        .await
        .unwrap();
    let records = parse_csv_strict(&body, b',').unwrap();
    let s = |v: &str| Some(v.to_owned());
    assert_eq!(
        records,
        vec![
            vec![s("id"), s("name"), s("score"), s("blob")],
            vec![s("1"), s("a,\"b\""), s("1.5"), s("AP8=")],
            vec![s("2"), s(""), None, None],
            vec![s("9007199254740993"), None, s("-0.25"), s("")],
            // +Infinity is written as CSV text carries it.
            vec![s("4"), s("'=cmd"), s("Infinity"), None],
        ]
    );
}

#[tokio::test]
async fn header_names_up_front_check_every_record() {
    use futures_util::StreamExt;
    let encoder = Csv::new().header(["id", "value", "n", "y"]);
    let results: Vec<_> = rowstream::Streamer::default()
        .stream(
            rowstream::fetch::from_iter(cells()),
            rowstream::Identity,
            encoder,
        )
        .collect()
        .await;
    let err = results.last().unwrap().as_ref().unwrap_err();
    assert_eq!(err.kind(), rowstream::StreamErrorKind::Encode);
    assert_eq!(err.items_before(), 0);
    assert!(
        err.to_string()
            .contains("field `x` where the header has `y` (column 4)"),
        "{err}"
    );
}
