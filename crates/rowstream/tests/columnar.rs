//! The Arrow and Parquet encoders through the streamer: decoded by arrow-rs's own IPC
//! stream reader and Parquet reader back to exactly the rows given, one record batch per
//! chunk, and a failed stream that no reader accepts.

#![cfg(feature = "parquet")]

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Decimal128Type, Float64Type, Int8Type, Int64Type, TimestampMicrosecondType,
    UInt64Type,
};
use arrow_array::{Array, RecordBatch};
use futures_util::TryStreamExt;
use rowstream::arrow::{DataType, Field, Schema, SchemaRef, TimeUnit};
use rowstream::{Arrow, ChunkConfig, Encoder, Identity, Parquet, Streamer, fetch};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
struct Row {
    id: i64,
    small: Option<i8>,
    big: u64,
    text: Option<String>,
    score: f64,
    price: Option<String>,
    day: &'static str,
    at: String,
    #[serde(with = "bytes_as_bytes")]
    blob: Vec<u8>,
    flag: bool,
}

mod bytes_as_bytes {
    pub(super) fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }
}

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("small", DataType::Int8, true),
        Field::new("big", DataType::UInt64, false),
        Field::new("text", DataType::Utf8, true),
        Field::new("score", DataType::Float64, false),
        Field::new("price", DataType::Decimal128(38, 10), true),
        Field::new("day", DataType::Date32, false),
        Field::new(
            "at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("blob", DataType::Binary, false),
        Field::new("flag", DataType::Boolean, false),
    ]))
}

fn row(i: i64) -> Row {
    Row {
        id: i - 500,
        small: (i % 5 != 0).then(|| (i % 256 - 128) as i8),
        big: u64::MAX - i as u64,
        text: match i % 3 {
            0 => None,
            1 => Some(String::new()),
            _ => Some(format!("row {i} \"q\", 😀")),
        },
        score: if i == 3 { f64::NAN } else { i as f64 / 7.0 },
        price: (i % 4 != 0).then(|| format!("-{i}.{:010}", i * 7)),
        day: "2013-01-01",
        at: format!("2013-01-01T00:00:{:02}.25+01:00", i % 60),
        blob: vec![i as u8, 0, 255],
        flag: i % 2 == 0,
    }
}

fn check(batches: &[RecordBatch], rows: &[Row]) {
    let mut i = 0;
    for batch in batches {
        let id = batch.column(0).as_primitive::<Int64Type>();
        let small = batch.column(1).as_primitive::<Int8Type>();
        let big = batch.column(2).as_primitive::<UInt64Type>();
        let text = batch.column(3).as_string::<i32>();
        let score = batch.column(4).as_primitive::<Float64Type>();
        let price = batch.column(5).as_primitive::<Decimal128Type>();
        let day = batch.column(6).as_primitive::<Date32Type>();
        let at = batch.column(7).as_primitive::<TimestampMicrosecondType>();
        let blob = batch.column(8).as_binary::<i32>();
        let flag = batch.column(9).as_boolean();
        for r in 0..batch.num_rows() {
            let want = &rows[i];
            assert_eq!(id.value(r), want.id);
            assert_eq!(small.is_valid(r).then(|| small.value(r)), want.small);
            assert_eq!(big.value(r), want.big);
            assert_eq!(
                text.is_valid(r).then(|| text.value(r).to_owned()),
                want.text
            );
            if want.score.is_nan() {
                assert!(score.value(r).is_nan());
            } else {
                assert_eq!(score.value(r), want.score);
            }
            let n = want.id + 500;
            assert_eq!(
                price.is_valid(r).then(|| price.value(r)),
                want.price
                    .as_ref()
                    .map(|_| -(i128::from(n) * 10_000_000_000 + i128::from(n * 7)))
            );
            assert_eq!(day.value(r), 15_706);
            // 2013-01-01T00:00:SS.25+01:00 is 2012-12-31T23:00:SS.25Z.
            assert_eq!(
                at.value(r),
                (1_356_994_800 + (n % 60)) * 1_000_000 + 250_000
            );
            assert_eq!(blob.value(r), &want.blob[..]);
            assert_eq!(flag.value(r), want.flag);
            i += 1;
        }
    }
    assert_eq!(i, rows.len());
}

async fn encode<E: Encoder>(rows: Vec<Row>, encoder: E, threshold: usize) -> Vec<bytes::Bytes> {
    let config = ChunkConfig::default().chunk_threshold(threshold);
    Streamer::new(config)
        .unwrap()
        .stream(fetch::from_iter(rows), Identity, encoder)
        .try_collect()
        .await
        .unwrap()
}

#[tokio::test]
async fn arrow_stream_round_trips_one_batch_per_chunk() {
    for n in [0, 1, 1000] {
        let rows: Vec<Row> = (0..n).map(row).collect();
        let chunks = encode(rows.clone(), Arrow::new(schema()).unwrap(), 4096).await;
        let body: Vec<u8> = chunks.iter().flat_map(|c| c.to_vec()).collect();
        let reader = arrow_ipc::reader::StreamReader::try_new(&body[..], None).unwrap();
        assert_eq!(reader.schema(), schema());
        let batches: Vec<RecordBatch> = reader.collect::<Result<_, _>>().unwrap();
        check(&batches, &rows);
        if n == 1000 {
            // Batches are cut at the chunk threshold: many, each well under 1000 rows.
            assert!(batches.len() > 5, "{} batches", batches.len());
            assert!(batches.iter().all(|b| b.num_rows() > 0));
        }
        // The end-of-stream marker ends the stream.
        assert!(body.ends_with(&[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]));
    }
}

#[tokio::test]
async fn arrow_batches_are_bounded_by_a_row_count_too() {
    let rows: Vec<Row> = (0..100).map(row).collect();
    let chunks = encode(
        rows.clone(),
        Arrow::new(schema()).unwrap().batch_rows(10),
        1 << 20,
    )
    .await;
    let body: Vec<u8> = chunks.iter().flat_map(|c| c.to_vec()).collect();
    let reader = arrow_ipc::reader::StreamReader::try_new(&body[..], None).unwrap();
    let batches: Vec<RecordBatch> = reader.collect::<Result<_, _>>().unwrap();
    assert_eq!(
        batches
            .iter()
            .map(RecordBatch::num_rows)
            .collect::<Vec<_>>(),
        vec![10; 10]
    );
    check(&batches, &rows);
}

#[tokio::test]
async fn parquet_round_trips_with_row_groups_as_they_fill() {
    for n in [0, 1, 5000] {
        let rows: Vec<Row> = (0..n).map(row).collect();
        let encoder = Parquet::new(schema()).unwrap().row_group_rows(1000);
        let chunks = encode(rows.clone(), encoder, 4096).await;
        let body = bytes::Bytes::from(chunks.iter().flat_map(|c| c.to_vec()).collect::<Vec<u8>>());
        let builder =
            parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(body.clone())
                .unwrap();
        assert_eq!(builder.schema(), &schema());
        let meta = builder.metadata().clone();
        let batches: Vec<RecordBatch> = builder.build().unwrap().collect::<Result<_, _>>().unwrap();
        check(&batches, &rows);
        if n == 5000 {
            assert_eq!(meta.num_row_groups(), 5);
            let column = meta.row_group(0).column(0);
            assert_eq!(column.compression().to_string(), "ZSTD(ZstdLevel(1))");
            // Row groups left in chunks before the end: the last chunk is not the file.
            assert!(chunks.len() > 2);
            assert!(chunks.last().unwrap().len() < body.len() / 2);
        }
    }
}

/// A fetcher that fails after `n` rows.
fn failing(n: i64) -> impl futures_core::Stream<Item = Result<Row, std::io::Error>> + Send {
    futures_util::stream::iter((0..=n).map(move |i| {
        if i == n {
            Err(std::io::Error::other("the database went away"))
        } else {
            Ok(row(i))
        }
    }))
}

async fn failed_body<E: Encoder>(encoder: E) -> Vec<u8> {
    let config = ChunkConfig::default().chunk_threshold(4096);
    let mut stream = Streamer::new(config)
        .unwrap()
        .stream(failing(3000), Identity, encoder);
    let mut body = Vec::new();
    loop {
        match stream.try_next().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) => panic!("the stream completed"),
            Err(_) => break,
        }
    }
    assert!(!body.is_empty(), "chunks left before the failure");
    body
}

#[tokio::test]
async fn a_failed_arrow_stream_has_no_end_marker_and_readers_raise() {
    let body = failed_body(Arrow::new(schema()).unwrap()).await;
    let reader = arrow_ipc::reader::StreamReader::try_new(&body[..], None).unwrap();
    let results: Vec<_> = reader.collect();
    // The batches that left are whole, but the stream ends in a message cut short, never
    // at a message boundary (which readers take for the end): the reader fails.
    assert!(results.iter().any(Result::is_ok));
    assert!(results.last().unwrap().is_err(), "no error at the cut");
    assert!(!body.ends_with(&[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]));
}

#[tokio::test]
async fn a_failed_parquet_file_has_no_footer() {
    let body = failed_body(Parquet::new(schema()).unwrap().row_group_rows(500)).await;
    assert!(body.starts_with(b"PAR1"));
    let body = bytes::Bytes::from(body);
    assert!(parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(body).is_err());
}

#[test]
fn values_that_do_not_fit_fail_the_item_and_leave_no_row() {
    let mut enc = Arrow::new(schema()).unwrap();
    let mut out = bytes::BytesMut::new();
    enc.begin(&mut out).unwrap();
    let mut bad = row(1);
    bad.price = Some("1.00000000001".into()); // 11 fraction digits in a scale of 10
    let err = enc.item(&bad, &mut out).unwrap_err();
    assert!(err.to_string().contains("`price`"), "{err}");
    let mut bad = row(1);
    bad.at = "2013-01-01".into();
    assert!(enc.item(&bad, &mut out).is_err());
    assert!(
        enc.item(&serde_json::json!({"id": 1, "nope": 2}), &mut out)
            .is_err()
    );
    enc.item(&row(2), &mut out).unwrap();
    enc.end(1, &mut out).unwrap();
    let reader = arrow_ipc::reader::StreamReader::try_new(&out[..], None).unwrap();
    let batches: Vec<RecordBatch> = reader.collect::<Result<_, _>>().unwrap();
    check(&batches, &[row(2)]);
}
