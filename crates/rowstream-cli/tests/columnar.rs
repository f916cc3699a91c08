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

/// The PostgreSQL type-torture rows: extremes, NaN/±Infinity, empty text and NULL, bytes,
/// emoji, offsets.
const PG_TORTURE: &str = r#"
CREATE TABLE torture (id int PRIMARY KEY, i2 smallint, i8 bigint, n numeric(38,10),
  f float8, tz timestamptz, ts timestamp, d date, t text, b bytea, bo boolean);
INSERT INTO torture VALUES
 (1, -32768, -9223372036854775808, -9999999999999999999999999999.9999999999, 'NaN',
  '2024-03-10 01:30:00.123456-08', '2024-02-29 23:59:59.999999', '0001-01-01', '', '\x00ff', true),
 (2, 32767, 9223372036854775807, 9999999999999999999999999999.9999999999, 'Infinity',
  '1969-12-31 23:59:59.999999+05:30', '1970-01-01 00:00:00', '9999-12-31',
  E'😀 "q",\n\ttab', '\x', false),
 (3, NULL, NULL, 0.0000000001, '-Infinity', NULL, NULL, NULL, NULL, NULL, NULL),
 (4, 0, 0, NULL, NULL, '2013-01-01 05:00:00+00', NULL, '1970-01-01', 'NULL', NULL, NULL);
"#;

/// One torture row as PostgreSQL's own driver reads it, in the units Arrow stores.
type PgTortureRow = (
    i32,
    Option<i16>,
    Option<i64>,
    Option<String>,
    Option<f64>,
    Option<i64>,
    Option<i64>,
    Option<i32>,
    Option<String>,
    Option<Vec<u8>>,
    Option<bool>,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_type_torture_as_arrow_and_parquet_is_exact() {
    use arrow_array::types::{Date32Type, Decimal128Type, Int16Type};
    use sqlx::ConnectOptions as _;
    let Some(scratch) = common::sql::Scratch::postgres("rowstream_columnar_torture").await else {
        return;
    };
    let mut conn = scratch.pg_options().connect().await.expect("connect");
    sqlx::raw_sql(PG_TORTURE)
        .execute(&mut conn)
        .await
        .expect("create torture");
    let expected: Vec<PgTortureRow> = sqlx::query_as(
        "SELECT id, i2, i8, n::text, f, (extract(epoch FROM tz) * 1000000)::int8, \
         (extract(epoch FROM ts) * 1000000)::int8, d - date '1970-01-01', t, b, bo \
         FROM torture ORDER BY id",
    )
    .fetch_all(&mut conn)
    .await
    .expect("the driver's values");
    assert_eq!(expected.len(), 4);
    let pool = rowstream_cli::db::open_postgres(scratch.pg_options(), &Default::default())
        .await
        .expect("open read-only");
    let server = Server::start(rowstream_cli::Database::Postgres(pool)).await;
    for format in ["arrow", "parquet"] {
        let (status, _, body) = get(&server, &format!("/tables/torture?format={format}")).await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        let batches = match format {
            "arrow" => read_arrow(&body).expect("a whole Arrow stream"),
            _ => read_parquet(body).expect("a whole Parquet file"),
        };
        let batch = arrow_select_concat(&batches);
        let schema = batch.schema();
        assert_eq!(
            schema.field_with_name("n").unwrap().data_type(),
            &DataType::Decimal128(38, 10)
        );
        assert_eq!(batch.num_rows(), expected.len());
        let opt = |c: &dyn Array, r: usize| c.is_valid(r);
        for (r, want) in expected.iter().enumerate() {
            let col = |name: &str| batch.column_by_name(name).unwrap().clone();
            let i2 = col("i2");
            assert_eq!(
                opt(&i2, r).then(|| i2.as_primitive::<Int16Type>().value(r)),
                want.1
            );
            let i8 = col("i8");
            assert_eq!(
                opt(&i8, r).then(|| i8.as_primitive::<Int64Type>().value(r)),
                want.2
            );
            let n = col("n");
            let digits = want
                .3
                .as_ref()
                .map(|s| s.replace('.', "").parse::<i128>().unwrap());
            assert_eq!(
                opt(&n, r).then(|| n.as_primitive::<Decimal128Type>().value(r)),
                digits,
                "{format} n row {r}"
            );
            let f = col("f");
            let got = opt(&f, r).then(|| f.as_primitive::<Float64Type>().value(r));
            match (got, want.4) {
                (Some(g), Some(w)) if w.is_nan() => assert!(g.is_nan()),
                (g, w) => assert_eq!(g, w, "{format} f row {r}"),
            }
            for (name, want) in [("tz", want.5), ("ts", want.6)] {
                let c = col(name);
                assert_eq!(
                    opt(&c, r).then(|| c.as_primitive::<TimestampMicrosecondType>().value(r)),
                    want,
                    "{format} {name} row {r}"
                );
            }
            let d = col("d");
            assert_eq!(
                opt(&d, r).then(|| d.as_primitive::<Date32Type>().value(r)),
                want.7
            );
            let t = col("t");
            assert_eq!(
                opt(&t, r).then(|| t.as_string::<i32>().value(r).to_owned()),
                want.8
            );
            let b = col("b");
            assert_eq!(
                opt(&b, r).then(|| b.as_binary::<i32>().value(r).to_vec()),
                want.9
            );
            let bo = col("bo");
            assert_eq!(opt(&bo, r).then(|| bo.as_boolean().value(r)), want.10);
        }
    }
    server.stop().await;
}

/// The batches as one.
fn arrow_select_concat(batches: &[RecordBatch]) -> RecordBatch {
    let schema = batches[0].schema();
    arrow_select::concat::concat_batches(&schema, batches).expect("one schema")
}

/// The MariaDB type-torture rows.
const MARIADB_TORTURE: [&str; 2] = [
    "CREATE TABLE torture (id int PRIMARY KEY, ti tinyint, bu bigint unsigned, i8 bigint, \
     n decimal(38,10), f double, dt datetime(6), ts timestamp(6) NULL DEFAULT NULL, d date, \
     t varchar(50) CHARACTER SET utf8mb4, b varbinary(10)) CHARACTER SET utf8mb4",
    "INSERT INTO torture VALUES \
     (1, -128, 18446744073709551615, -9223372036854775808, \
      -9999999999999999999999999999.9999999999, -1.7976931348623157e308, \
      '1000-01-01 00:00:00.000001', '1970-01-01 00:00:01.5', '1000-01-01', '', X'00ff'), \
     (2, 127, 0, 9223372036854775807, 0.0000000001, 5e-324, \
      '9999-12-31 23:59:59.999999', '2038-01-19 03:14:07.999999', '9999-12-31', \
      '😀 \"q\",\\n\\ttab', X''), \
     (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
];

/// One torture row as the MySQL driver reads it, in the units Arrow stores.
type MariadbTortureRow = (
    i32,
    Option<i8>,
    Option<u64>,
    Option<i64>,
    Option<String>,
    Option<f64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<Vec<u8>>,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_type_torture_as_arrow_and_parquet_is_exact() {
    use arrow_array::types::{Date32Type, Decimal128Type, Int8Type, UInt64Type};
    use sqlx::ConnectOptions as _;
    let Some(scratch) = common::sql::Scratch::mysql("rowstream_columnar_torture").await else {
        return;
    };
    let mut conn = scratch.mysql_options().connect().await.expect("connect");
    sqlx::query("SET time_zone = '+00:00'")
        .execute(&mut conn)
        .await
        .expect("UTC");
    for sql in MARIADB_TORTURE {
        sqlx::query(sql).execute(&mut conn).await.expect(sql);
    }
    let expected: Vec<MariadbTortureRow> = sqlx::query_as(
        "SELECT id, ti, bu, i8, CAST(n AS CHAR), f, \
         TIMESTAMPDIFF(MICROSECOND, '1970-01-01', dt), \
         TIMESTAMPDIFF(MICROSECOND, '1970-01-01', ts), DATEDIFF(d, '1970-01-01'), t, b \
         FROM torture ORDER BY id",
    )
    .fetch_all(&mut conn)
    .await
    .expect("the driver's values");
    assert_eq!(expected.len(), 3);
    let (pool, mariadb) =
        rowstream_cli::db::open_mysql(scratch.mysql_options(), &Default::default())
            .await
            .expect("open read-only");
    let server = Server::start(rowstream_cli::Database::MySql { pool, mariadb }).await;
    for format in ["arrow", "parquet"] {
        let (status, _, body) = get(&server, &format!("/tables/torture?format={format}")).await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        let batches = match format {
            "arrow" => read_arrow(&body).expect("a whole Arrow stream"),
            _ => read_parquet(body).expect("a whole Parquet file"),
        };
        let batch = arrow_select_concat(&batches);
        assert_eq!(batch.num_rows(), expected.len());
        let opt = |c: &dyn Array, r: usize| c.is_valid(r);
        for (r, want) in expected.iter().enumerate() {
            let col = |name: &str| batch.column_by_name(name).unwrap().clone();
            let c = col("ti");
            assert_eq!(
                opt(&c, r).then(|| c.as_primitive::<Int8Type>().value(r)),
                want.1
            );
            let c = col("bu");
            assert_eq!(
                opt(&c, r).then(|| c.as_primitive::<UInt64Type>().value(r)),
                want.2
            );
            let c = col("i8");
            assert_eq!(
                opt(&c, r).then(|| c.as_primitive::<Int64Type>().value(r)),
                want.3
            );
            let c = col("n");
            let digits = want
                .4
                .as_ref()
                .map(|s| s.replace('.', "").parse::<i128>().unwrap());
            assert_eq!(
                opt(&c, r).then(|| c.as_primitive::<Decimal128Type>().value(r)),
                digits,
                "{format} n row {r}"
            );
            let c = col("f");
            assert_eq!(
                opt(&c, r).then(|| c.as_primitive::<Float64Type>().value(r)),
                want.5
            );
            for (name, want) in [("dt", want.6), ("ts", want.7)] {
                let c = col(name);
                assert_eq!(
                    opt(&c, r).then(|| c.as_primitive::<TimestampMicrosecondType>().value(r)),
                    want,
                    "{format} {name} row {r}"
                );
            }
            let c = col("d");
            assert_eq!(
                opt(&c, r).then(|| i64::from(c.as_primitive::<Date32Type>().value(r))),
                want.8
            );
            let c = col("t");
            assert_eq!(
                opt(&c, r).then(|| c.as_string::<i32>().value(r).to_owned()),
                want.9
            );
            let c = col("b");
            assert_eq!(
                opt(&c, r).then(|| c.as_binary::<i32>().value(r).to_vec()),
                want.10
            );
        }
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_type_torture_as_arrow_and_parquet_is_exact() {
    let dir = tempfile::tempdir().expect("tempdir");
    // `mixed` holds integers, reals and text: Utf8, each value as its text; the other
    // columns one storage class each (and NULLs).
    let path = common::sqlite_file(
        dir.path().join("torture.sqlite"),
        &[
            "CREATE TABLE torture (id INTEGER PRIMARY KEY, i INTEGER, r REAL, mixed, b BLOB, t TEXT)",
            "INSERT INTO torture VALUES \
             (1, -9223372036854775808, 9e999, 7, X'00FF', ''), \
             (2, 9223372036854775807, -9e999, 1.5, X'', '😀 \"q\",' || char(10)), \
             (3, NULL, 0.1, 'seven', NULL, NULL), \
             (4, 0, NULL, NULL, X'80', 'NULL')",
        ],
    )
    .await;
    let server = Server::start(
        rowstream_cli::open_readonly_path(&path)
            .await
            .expect("open read-only"),
    )
    .await;
    for format in ["arrow", "parquet"] {
        let (status, _, body) = get(&server, &format!("/tables/torture?format={format}")).await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        let batches = match format {
            "arrow" => read_arrow(&body).expect("a whole Arrow stream"),
            _ => read_parquet(body).expect("a whole Parquet file"),
        };
        let batch = arrow_select_concat(&batches);
        let types: Vec<DataType> = batch
            .schema()
            .fields()
            .iter()
            .map(|f| f.data_type().clone())
            .collect();
        assert_eq!(
            types,
            [
                DataType::Int64,
                DataType::Int64,
                DataType::Float64,
                DataType::Utf8,
                DataType::Binary,
                DataType::Utf8
            ]
        );
        let i = batch.column(1).as_primitive::<Int64Type>();
        let i: Vec<Option<i64>> = (0..4).map(|r| i.is_valid(r).then(|| i.value(r))).collect();
        assert_eq!(i, [Some(i64::MIN), Some(i64::MAX), None, Some(0)]);
        let r = batch.column(2).as_primitive::<Float64Type>();
        let r: Vec<Option<f64>> = (0..4).map(|x| r.is_valid(x).then(|| r.value(x))).collect();
        assert_eq!(
            r,
            [
                Some(f64::INFINITY),
                Some(f64::NEG_INFINITY),
                Some(0.1),
                None
            ]
        );
        let m = batch.column(3).as_string::<i32>();
        let m: Vec<Option<&str>> = (0..4).map(|x| m.is_valid(x).then(|| m.value(x))).collect();
        assert_eq!(m, [Some("7"), Some("1.5"), Some("seven"), None]);
        let b = batch.column(4).as_binary::<i32>();
        let b: Vec<Option<&[u8]>> = (0..4).map(|x| b.is_valid(x).then(|| b.value(x))).collect();
        assert_eq!(
            b,
            [Some(&[0, 255][..]), Some(&[][..]), None, Some(&[0x80][..])]
        );
        let t = batch.column(5).as_string::<i32>();
        let t: Vec<Option<&str>> = (0..4).map(|x| t.is_valid(x).then(|| t.value(x))).collect();
        assert_eq!(t, [Some(""), Some("😀 \"q\",\n"), None, Some("NULL")]);
    }
    server.stop().await;
}

/// On SQLite the Arrow types come from the storage classes of the rows the export reads
/// (its filters, order and limit, the key it resumes after), not from the whole table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_types_come_from_the_rows_the_export_reads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = common::sqlite_file(
        dir.path().join("mix.sqlite"),
        &[
            "CREATE TABLE mix (id INTEGER PRIMARY KEY, v)",
            "INSERT INTO mix VALUES (1, 10), (2, 20), (3, 'thirty'), (4, 40)",
        ],
    )
    .await;
    let server = Server::start(
        rowstream_cli::open_readonly_path(&path)
            .await
            .expect("open read-only"),
    )
    .await;
    for (query, want_type, want) in [
        ("", DataType::Utf8, "10,20,thirty,40"),
        ("limit=2", DataType::Int64, "10,20"),
        ("id=gte.4", DataType::Int64, "40"),
        ("after=3", DataType::Int64, "40"),
        ("order=id.desc&limit=1", DataType::Int64, "40"),
        ("order=id.desc&limit=2", DataType::Utf8, "40,thirty"),
        ("v=neq.thirty&limit=3", DataType::Int64, "10,20,40"),
    ] {
        for format in ["arrow", "parquet"] {
            let (status, _, body) =
                get(&server, &format!("/tables/mix?format={format}&{query}")).await;
            assert_eq!(status, 200, "{query}: {}", String::from_utf8_lossy(&body));
            let batches = match format {
                "arrow" => read_arrow(&body).expect("a whole Arrow stream"),
                _ => read_parquet(body).expect("a whole Parquet file"),
            };
            let batch = arrow_select_concat(&batches);
            let v = batch.column_by_name("v").expect("v");
            assert_eq!(v.data_type(), &want_type, "{format} {query}");
            let values: Vec<String> = (0..v.len())
                .map(|r| match v.data_type() {
                    DataType::Int64 => v.as_primitive::<Int64Type>().value(r).to_string(),
                    _ => v.as_string::<i32>().value(r).to_owned(),
                })
                .collect();
            assert_eq!(values.join(","), want, "{format} {query}");
        }
    }
    server.stop().await;
}
