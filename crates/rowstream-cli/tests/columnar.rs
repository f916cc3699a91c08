//! Arrow and Parquet through the real server and `rowstream export`: every flight from
//! SQLite decoded by arrow-rs's own readers and compared value by value with the CSV; a
//! cut export that no reader accepts and that leaves no file.

mod common;

use std::fmt::Write as _;
use std::process::Command;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;
use common::Server;
use common::flights::{self, FLIGHTS, IdColumn};

/// The batches as the JSON array the JSON export writes (object keys in column order),
/// for [`flights::assert_matches_csv`].
fn as_json(batches: &[RecordBatch]) -> Vec<u8> {
    let mut out = String::from("[");
    let mut first = true;
    for batch in batches {
        let schema = batch.schema();
        for row in 0..batch.num_rows() {
            out.push_str(if first { "{" } else { ",{" });
            first = false;
            for (i, field) in schema.fields().iter().enumerate() {
                let column = batch.column(i);
                let value = if column.is_null(row) {
                    serde_json::Value::Null
                } else {
                    match field.data_type() {
                        DataType::Int64 => column.as_primitive::<Int64Type>().value(row).into(),
                        DataType::Int32 => column.as_primitive::<Int32Type>().value(row).into(),
                        DataType::Timestamp(_, Some(_)) => {
                            rfc3339(column.as_primitive::<TimestampMicrosecondType>().value(row))
                                .into()
                        }
                        DataType::Float64 => column.as_primitive::<Float64Type>().value(row).into(),
                        DataType::Utf8 => column.as_string::<i32>().value(row).into(),
                        other => panic!("column {} has the type {other}", field.name()),
                    }
                };
                let sep = if i == 0 { "" } else { "," };
                let _ = write!(
                    out,
                    "{sep}{}:{value}",
                    serde_json::Value::from(field.name().as_str())
                );
            }
            out.push('}');
        }
    }
    out.push(']');
    out.into_bytes()
}

/// Microseconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ` (whole seconds, as the flights
/// have them), with the civil-from-days algorithm of H. Hinnant.
fn rfc3339(micros: i64) -> String {
    assert_eq!(micros % 1_000_000, 0, "a whole second");
    let secs = micros / 1_000_000;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn read_arrow(body: &[u8]) -> Result<Vec<RecordBatch>, arrow_schema::ArrowError> {
    arrow_ipc::reader::StreamReader::try_new(body, None)?.collect()
}

fn read_parquet(body: Vec<u8>) -> Result<Vec<RecordBatch>, parquet::errors::ParquetError> {
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReader::try_new(
        bytes::Bytes::from(body),
        8192,
    )?;
    Ok(reader.collect::<Result<_, _>>()?)
}

async fn get(server: &Server, path: &str) -> (reqwest::StatusCode, String, Vec<u8>) {
    let response = reqwest::get(server.url(path)).await.expect("GET");
    let status = response.status();
    let content_type = response.headers()["content-type"]
        .to_str()
        .expect("ASCII")
        .to_owned();
    let body = response.bytes().await.expect("a whole body").to_vec();
    (status, content_type, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_flights_as_arrow_and_parquet_equal_the_csv() {
    let Some(csv_bytes) = flights::csv_bytes() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("flights.sqlite");
    flights::load_sqlite(&csv_bytes, &path).await;
    let pool = rowstream_cli::open_readonly_path(&path)
        .await
        .expect("open read-only");
    let server = Server::start(pool).await;

    let (status, content_type, body) = get(&server, "/tables/flights?format=arrow").await;
    assert_eq!(status, 200);
    assert_eq!(content_type, "application/vnd.apache.arrow.stream");
    let batches = read_arrow(&body).expect("a whole Arrow stream");
    assert!(batches.len() > 10, "{} batches", batches.len());
    assert_eq!(
        flights::assert_matches_csv(&as_json(&batches), &csv_bytes, IdColumn::None),
        FLIGHTS
    );
    let schema = batches[0].schema();
    assert_eq!(
        schema.field_with_name("year").unwrap().data_type(),
        &DataType::Int64
    );
    assert_eq!(
        schema.field_with_name("carrier").unwrap().data_type(),
        &DataType::Utf8
    );
    eprintln!("flights as Arrow: {} bytes", body.len());

    let response = reqwest::Client::new()
        .get(server.url("/tables/flights"))
        .header("accept", "application/vnd.apache.parquet")
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/vnd.apache.parquet"
    );
    let body = response.bytes().await.expect("a body").to_vec();
    eprintln!("flights as Parquet: {} bytes", body.len());
    let batches = read_parquet(body).expect("a whole Parquet file");
    assert_eq!(
        flights::assert_matches_csv(&as_json(&batches), &csv_bytes, IdColumn::None),
        FLIGHTS
    );

    server.stop().await;

    // `rowstream export`: the same file; cut by --max-rows, no file at all.
    let db = format!("sqlite:{}", path.display());
    for format in ["arrow", "parquet"] {
        let target = dir.path().join(format!("flights.{format}"));
        let output = Command::new(env!("CARGO_BIN_EXE_rowstream"))
            .args([
                "export", "--db", &db, "--table", "flights", "--format", format, "-o",
            ])
            .arg(&target)
            .env("RUST_LOG", "warn")
            .output()
            .expect("run rowstream export");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let file = std::fs::read(&target).expect("the file");
        let batches = match format {
            "arrow" => read_arrow(&file).expect("a whole Arrow stream"),
            _ => read_parquet(file).expect("a whole Parquet file"),
        };
        assert_eq!(
            batches.iter().map(RecordBatch::num_rows).sum::<usize>(),
            FLIGHTS
        );

        let cut = dir.path().join(format!("cut.{format}"));
        let output = Command::new(env!("CARGO_BIN_EXE_rowstream"))
            .args([
                "export", "--db", &db, "--table", "flights", "--format", format,
            ])
            .args(["--max-rows", "100000", "-o"])
            .arg(&cut)
            .env("RUST_LOG", "warn")
            .output()
            .expect("run rowstream export");
        assert!(!output.status.success());
        assert!(!cut.exists(), "a cut {format} export left a file");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains("cut"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
}

/// GETs the flights as Arrow and as Parquet and checks every value against the CSV.
async fn assert_serves_typed_flights(server: &Server, csv_bytes: &[u8]) {
    let (status, _, body) = get(server, "/tables/flights?format=arrow").await;
    assert_eq!(status, 200);
    let batches = read_arrow(&body).expect("a whole Arrow stream");
    let schema = batches[0].schema();
    assert_eq!(
        schema.field_with_name("id").unwrap().data_type(),
        &DataType::Int32
    );
    assert_eq!(
        schema.field_with_name("time_hour").unwrap().data_type(),
        &DataType::Timestamp(arrow_schema::TimeUnit::Microsecond, Some("UTC".into()))
    );
    assert_eq!(
        flights::assert_matches_csv(&as_json(&batches), csv_bytes, IdColumn::Sequential),
        FLIGHTS
    );
    let (status, _, body) = get(server, "/tables/flights?format=parquet").await;
    assert_eq!(status, 200);
    let batches = read_parquet(body).expect("a whole Parquet file");
    assert_eq!(
        flights::assert_matches_csv(&as_json(&batches), csv_bytes, IdColumn::Sequential),
        FLIGHTS
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_flights_as_arrow_and_parquet_equal_the_csv() {
    use sqlx::ConnectOptions as _;
    let Some(csv_bytes) = flights::csv_bytes() else {
        return;
    };
    let Some(scratch) = common::sql::Scratch::postgres("rowstream_columnar").await else {
        return;
    };
    let mut conn = scratch.pg_options().connect().await.expect("connect");
    flights::load_postgres(&csv_bytes, &mut conn).await;
    let pool = rowstream_cli::db::open_postgres(scratch.pg_options(), &Default::default())
        .await
        .expect("open read-only");
    let server = Server::start(rowstream_cli::Database::Postgres(pool)).await;
    assert_serves_typed_flights(&server, &csv_bytes).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_flights_as_arrow_and_parquet_equal_the_csv() {
    use sqlx::ConnectOptions as _;
    let Some(csv_bytes) = flights::csv_bytes() else {
        return;
    };
    let Some(scratch) = common::sql::Scratch::mysql("rowstream_columnar").await else {
        return;
    };
    let mut conn = scratch.mysql_options().connect().await.expect("connect");
    flights::load_mysql(&csv_bytes, &mut conn).await;
    let (pool, mariadb) =
        rowstream_cli::db::open_mysql(scratch.mysql_options(), &Default::default())
            .await
            .expect("open read-only");
    let server = Server::start(rowstream_cli::Database::MySql { pool, mariadb }).await;
    assert_serves_typed_flights(&server, &csv_bytes).await;
    server.stop().await;
}
