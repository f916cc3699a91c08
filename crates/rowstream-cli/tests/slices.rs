//! Slices of the nycflights13 flights (`select=`, filters, `order=`, `limit=`) through the
//! real server from SQLite, PostgreSQL and MariaDB, each compared row for row with the
//! same query written by hand in SQL and run through sqlx; and hostile slices, answered
//! `400` (or run with their values bound), never `5xx`.
//!
//! The flights are loaded once per database; most cases run on `small`, the flights of
//! January 1st and 2nd (typed columns, `id` key, read 100 rows per keyset page), a few on
//! the whole table. Row counts (`Prefer: count=…`) are checked on the same tables.

mod common;

use common::Server;
use common::flights;
use common::sql::Scratch;
use rowstream_cli::db::{self, OpenOptions};
use rowstream_cli::{Database, Settings};
use serde::de::{MapAccess, Visitor};
use serde_json::Value;
use sqlx::{ConnectOptions as _, Connection as _, Row as _};

/// A row as served or as read by hand: column names and values, in order.
type Row = Vec<(String, Value)>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Sqlite,
    Postgres,
    MariaDb,
}

/// One slice and the same query by hand: the request's query string, the hand query's
/// select list (empty: every column), `WHERE` (may be empty), `ORDER BY` (the key last),
/// `LIMIT`. `{like}` is the case-sensitive LIKE, `{ts}` 2013-01-01 12:00 UTC as the
/// database writes it, `{key}` the full table's key (`id`, SQLite's `rowid`).
struct Case {
    table: &'static str,
    query: &'static str,
    select: &'static [&'static str],
    filter: &'static str,
    order: &'static str,
    limit: Option<u32>,
}

const fn case(
    table: &'static str,
    query: &'static str,
    select: &'static [&'static str],
    filter: &'static str,
    order: &'static str,
    limit: Option<u32>,
) -> Case {
    Case {
        table,
        query,
        select,
        filter,
        order,
        limit,
    }
}

const CASES: &[Case] = &[
    case("small", "format=json", &[], "", "id", None),
    case(
        "small",
        "dep_delay=eq.0&format=ndjson",
        &[],
        "dep_delay = 0",
        "id",
        None,
    ),
    case(
        "small",
        "carrier=neq.UA&select=id,carrier&format=csv",
        &["id", "carrier"],
        "carrier <> 'UA'",
        "id",
        None,
    ),
    case(
        "small",
        "dep_delay=gt.60&select=dep_delay,id&format=msgpack",
        &["dep_delay", "id"],
        "dep_delay > 60",
        "id",
        None,
    ),
    case(
        "small",
        "dep_delay=gte.10&dep_delay=lt.60&format=jsonseq",
        &[],
        "dep_delay >= 10 AND dep_delay < 60",
        "id",
        None,
    ),
    case(
        "small",
        "arr_delay=lte.-30&select=id,arr_delay",
        &["id", "arr_delay"],
        "arr_delay <= -30",
        "id",
        None,
    ),
    case(
        "small",
        "tailnum=like.N5*&select=tailnum,id&format=csv",
        &["tailnum", "id"],
        "tailnum {like} 'N5%'",
        "id",
        None,
    ),
    case(
        "small",
        "tailnum=like.n5*&select=id",
        &["id"],
        "tailnum {like} 'n5%'",
        "id",
        None,
    ),
    case(
        "small",
        "tailnum=ilike.n5*2*&select=id,tailnum&format=ndjson",
        &["id", "tailnum"],
        "LOWER(tailnum) LIKE LOWER('n5%2%')",
        "id",
        None,
    ),
    case(
        "small",
        "tailnum=like.N_2*&select=id,tailnum",
        &["id", "tailnum"],
        "tailnum {like} 'N_2%'",
        "id",
        None,
    ),
    case(
        "small",
        "dest=in.(ANC,HNL,SFO)&format=msgpack",
        &[],
        "dest IN ('ANC', 'HNL', 'SFO')",
        "id",
        None,
    ),
    case(
        "small",
        "dest=in.(\"SFO\",\"a,b\",\"LA)X\",LAX)&select=dest,id",
        &["dest", "id"],
        "dest IN ('SFO', 'a,b', 'LA)X', 'LAX')",
        "id",
        None,
    ),
    case(
        "small",
        "dest=not.in.(BOS,ATL,ORD,LAX,MCO)&select=id,dest&format=jsonseq",
        &["id", "dest"],
        "NOT (dest IN ('BOS', 'ATL', 'ORD', 'LAX', 'MCO'))",
        "id",
        None,
    ),
    case(
        "small",
        "dep_time=is.null&format=csv",
        &[],
        "dep_time IS NULL",
        "id",
        None,
    ),
    case(
        "small",
        "arr_delay=not.is.null&select=id&arr_delay=not.gt.0",
        &["id"],
        "arr_delay IS NOT NULL AND NOT (arr_delay > 0)",
        "id",
        None,
    ),
    case(
        "small",
        "carrier=not.eq.UA&carrier=not.eq.AA&select=carrier,id",
        &["carrier", "id"],
        "NOT (carrier = 'UA') AND NOT (carrier = 'AA')",
        "id",
        None,
    ),
    case(
        "small",
        "order=dep_delay.desc&select=id,dep_delay&format=csv",
        &["id", "dep_delay"],
        "",
        "(dep_delay IS NULL) DESC, dep_delay DESC, id",
        None,
    ),
    case(
        "small",
        "order=dep_delay.desc.nullslast&select=id,dep_delay&limit=40",
        &["id", "dep_delay"],
        "",
        "(dep_delay IS NULL), dep_delay DESC, id",
        Some(40),
    ),
    case(
        "small",
        "order=arr_delay.asc.nullsfirst,carrier.desc&select=carrier,arr_delay,id&format=ndjson",
        &["carrier", "arr_delay", "id"],
        "",
        "(arr_delay IS NULL) DESC, arr_delay, carrier DESC, id",
        None,
    ),
    case(
        "small",
        "order=carrier,origin.desc&select=origin,carrier,id&limit=150&format=jsonseq",
        &["origin", "carrier", "id"],
        "",
        "carrier, origin DESC, id",
        Some(150),
    ),
    case(
        "small",
        "order=arr_delay&select=id,arr_delay&format=msgpack",
        &["id", "arr_delay"],
        "",
        "(arr_delay IS NULL), arr_delay, id",
        None,
    ),
    case(
        "small",
        "origin=eq.EWR&limit=250&format=ndjson",
        &[],
        "origin = 'EWR'",
        "id",
        Some(250),
    ),
    case(
        "small",
        "time_hour=gte.2013-01-02T12:00:00Z&select=id,time_hour&format=csv",
        &["id", "time_hour"],
        "time_hour >= {ts}",
        "id",
        None,
    ),
    case(
        "small",
        "select=time_hour,id&order=time_hour.desc&limit=7",
        &["time_hour", "id"],
        "",
        "time_hour DESC, id",
        Some(7),
    ),
    case(
        "small",
        "carrier=eq.';%20DROP%20TABLE%20small;%20--&select=id",
        &["id"],
        "carrier = '''; DROP TABLE small; --'",
        "id",
        None,
    ),
    case(
        "small",
        "order=id&limit=3&id=gt.100",
        &[],
        "id > 100",
        "id",
        Some(3),
    ),
    case(
        "small",
        "order=id.desc&limit=5&format=csv",
        &[],
        "",
        "id DESC",
        Some(5),
    ),
    case(
        "flights",
        "carrier=eq.HA&select=dep_delay,tailnum&order=dep_delay.desc.nullslast&format=csv",
        &["dep_delay", "tailnum"],
        "carrier = 'HA'",
        "(dep_delay IS NULL), dep_delay DESC, {key}",
        None,
    ),
    case(
        "flights",
        "origin=eq.LGA&dep_delay=gte.600&select=origin,dep_delay,flight",
        &["origin", "dep_delay", "flight"],
        "origin = 'LGA' AND dep_delay >= 600",
        "{key}",
        None,
    ),
    case(
        "flights",
        "dest=in.(ANC,LEX)&format=ndjson",
        &[],
        "dest IN ('ANC', 'LEX')",
        "{key}",
        None,
    ),
];

/// The columns of `small` (and of the PostgreSQL and MariaDB `flights`).
fn all_columns() -> Vec<&'static str> {
    std::iter::once("id").chain(flights::COLUMNS).collect()
}

/// The hand-written SQL of `case` for `kind`.
fn hand_sql(kind: Kind, case: &Case) -> String {
    let columns: Vec<&str> = if case.select.is_empty() {
        if case.table == "flights" && kind == Kind::Sqlite {
            flights::COLUMNS.to_vec()
        } else {
            all_columns()
        }
    } else {
        case.select.to_vec()
    };
    let list: Vec<String> = columns
        .iter()
        .map(|c| match (*c, kind) {
            ("time_hour", Kind::Postgres) => "to_char(time_hour AT TIME ZONE 'UTC', \
                 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS time_hour"
                .to_owned(),
            ("time_hour", Kind::MariaDb) => {
                "DATE_FORMAT(time_hour, '%Y-%m-%dT%H:%i:%sZ') AS time_hour".to_owned()
            }
            (c, _) => c.to_owned(),
        })
        .collect();
    let render = |sql: &str| {
        sql.replace(
            "{like}",
            if kind == Kind::MariaDb {
                "LIKE BINARY"
            } else {
                "LIKE"
            },
        )
        .replace(
            "{ts}",
            if kind == Kind::MariaDb {
                "'2013-01-02 12:00:00'"
            } else {
                "'2013-01-02T12:00:00Z'"
            },
        )
        .replace("{key}", if kind == Kind::Sqlite { "rowid" } else { "id" })
    };
    let mut sql = format!("SELECT {} FROM {}", list.join(", "), case.table);
    if !case.filter.is_empty() {
        sql.push_str(&format!(" WHERE {}", render(case.filter)));
    }
    sql.push_str(&format!(" ORDER BY {}", render(case.order)));
    if let Some(limit) = case.limit {
        sql.push_str(&format!(" LIMIT {limit}"));
    }
    sql
}

/// A database value as JSON, by its own type: integer, text, float, NULL.
fn json_value<R: sqlx::Row>(row: &R, i: usize) -> Value
where
    usize: sqlx::ColumnIndex<R>,
    for<'r> Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<f64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    if let Ok(v) = row.try_get::<Option<i64>, _>(i) {
        v.map_or(Value::Null, Value::from)
    } else if let Ok(v) = row.try_get::<Option<String>, _>(i) {
        v.map_or(Value::Null, Value::from)
    } else if let Ok(v) = row.try_get::<Option<f64>, _>(i) {
        v.map_or(Value::Null, Value::from)
    } else {
        panic!("column {i}: a type this test does not read")
    }
}

/// A database row as JSON values.
fn json_row<R: sqlx::Row>(row: &R) -> Row
where
    usize: sqlx::ColumnIndex<R>,
    for<'r> Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<f64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    use sqlx::Column as _;
    (0..row.len())
        .map(|i| (row.columns()[i].name().to_owned(), json_value(row, i)))
        .collect()
}

/// A PostgreSQL row as JSON values: integers of every width.
fn pg_row(row: &sqlx::postgres::PgRow) -> Row {
    use sqlx::Column as _;
    (0..row.len())
        .map(|i| {
            let value = match row.try_get::<Option<i32>, _>(i) {
                Ok(v) => v.map_or(Value::Null, Value::from),
                Err(_) => json_value(row, i),
            };
            (row.columns()[i].name().to_owned(), value)
        })
        .collect()
}

/// A served object with its keys in order.
struct Ordered(Row);

impl<'de> serde::Deserialize<'de> for Ordered {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Ordered;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Ordered, A::Error> {
                let mut row = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, Value>()? {
                    row.push((k, v));
                }
                Ok(Ordered(row))
            }
        }
        d.deserialize_map(V)
    }
}

/// The rows of a served body in `format`; CSV values are text.
fn served_rows(format: &str, body: &[u8]) -> Vec<Row> {
    let rows = |objects: Vec<Ordered>| objects.into_iter().map(|o| o.0).collect();
    match format {
        "json" => rows(serde_json::from_slice(body).expect("a JSON array")),
        "ndjson" => rows(
            body.split(|b| *b == b'\n')
                .filter(|line| !line.is_empty())
                .map(|line| serde_json::from_slice(line).expect("an NDJSON line"))
                .collect(),
        ),
        "jsonseq" => rows(
            body.split(|b| *b == 0x1E)
                .filter(|record| !record.is_empty())
                .map(|record| serde_json::from_slice(record).expect("a JSON text"))
                .collect(),
        ),
        "msgpack" => {
            // One map per row, one after the other.
            let mut cursor = std::io::Cursor::new(body);
            let mut objects = Vec::new();
            while usize::try_from(cursor.position()).expect("a position") < body.len() {
                let mut de = rmp_serde::Deserializer::new(&mut cursor);
                objects.push(serde::Deserialize::deserialize(&mut de).expect("a MessagePack map"));
            }
            rows(objects)
        }
        "csv" => {
            let mut reader = csv::Reader::from_reader(body);
            let headers: Vec<String> = reader
                .headers()
                .expect("a header")
                .iter()
                .map(str::to_owned)
                .collect();
            reader
                .records()
                .map(|r| {
                    let r = r.expect("a CSV record");
                    headers
                        .iter()
                        .cloned()
                        .zip(r.iter().map(Value::from))
                        .collect()
                })
                .collect()
        }
        other => panic!("format {other}"),
    }
}

/// `rows` as CSV writes them: text, NULL empty.
fn as_text(rows: Vec<Row>) -> Vec<Row> {
    rows.into_iter()
        .map(|row| {
            row.into_iter()
                .map(|(k, v)| {
                    let text = match v {
                        Value::Null => String::new(),
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    (k, Value::from(text))
                })
                .collect()
        })
        .collect()
}

/// The format of a query string (`json` without one).
fn format_of(query: &str) -> &str {
    query
        .split('&')
        .find_map(|p| p.strip_prefix("format="))
        .unwrap_or("json")
}

/// GETs `path`: status, content type, body.
async fn get(server: &Server, path: &str) -> (u16, String, Vec<u8>) {
    let response = reqwest::get(server.url(path)).await.expect("GET");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().expect("ASCII").to_owned())
        .unwrap_or_default();
    (
        status,
        content_type,
        response.bytes().await.expect("a body").to_vec(),
    )
}

/// Every case served and compared with `hand(sql)`; returns the rows compared.
async fn compare_cases(
    server: &Server,
    kind: Kind,
    hand: &mut impl AsyncFnMut(String) -> Vec<Row>,
) -> usize {
    let mut compared = 0;
    for case in CASES {
        let path = format!("/tables/{}?{}", case.table, case.query);
        let (status, _, body) = get(server, &path).await;
        assert_eq!(
            status,
            200,
            "{kind:?} {path}: {}",
            String::from_utf8_lossy(&body)
        );
        let format = format_of(case.query);
        let served = served_rows(format, &body);
        let sql = hand_sql(kind, case);
        let mut expected = hand(sql.clone()).await;
        if format == "csv" {
            expected = as_text(expected);
        }
        assert_eq!(served.len(), expected.len(), "{kind:?} {path}\n{sql}");
        for (i, (s, e)) in served.iter().zip(&expected).enumerate() {
            assert_eq!(s, e, "{kind:?} {path}, row {i}\n{sql}");
        }
        compared += served.len();
    }
    compared
}

/// A server on `db` reading 100 rows per keyset page.
async fn serve(db: Database) -> Server {
    let settings = Settings {
        batch_size: 100,
        ..Settings::default()
    };
    Server::start_app(rowstream_cli::router_with(db, settings)).await
}

#[path = "slices/counts.rs"]
mod counts;
#[path = "slices/hostile.rs"]
mod hostile;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_slices_match_hand_written_sql() {
    let Some(csv_bytes) = flights::csv_bytes() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("flights.sqlite");
    flights::load_sqlite(&csv_bytes, &path).await;
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .expect("connect");
    let typed: Vec<String> = flights::COLUMNS
        .iter()
        .map(|c| match *c {
            "carrier" | "tailnum" | "origin" | "dest" | "time_hour" => format!("{c} TEXT"),
            c => format!("{c} INTEGER"),
        })
        .collect();
    for sql in [
        format!(
            "CREATE TABLE small (id INTEGER PRIMARY KEY, {})",
            typed.join(", ")
        ),
        "INSERT INTO small SELECT rowid, * FROM flights WHERE month = 1 AND day <= 2".to_owned(),
        hostile::RESERVED_TABLE.to_owned(),
        hostile::RESERVED_ROWS.to_owned(),
        // The hand-written LIKE is case-sensitive, as like. is.
        "PRAGMA case_sensitive_like = ON".to_owned(),
    ]
    .into_iter()
    .chain(hostile::rename(Kind::Sqlite))
    {
        sqlx::query(&sql).execute(&mut conn).await.expect(&sql);
    }
    let pool = rowstream_cli::open_readonly_path(&path)
        .await
        .expect("open read-only");
    let server = serve(Database::Sqlite(pool)).await;
    let mut hand = async |sql: String| -> Vec<Row> {
        let rows = sqlx::query(&sql).fetch_all(&mut conn).await.expect(&sql);
        rows.iter().map(json_row).collect()
    };
    let compared = compare_cases(&server, Kind::Sqlite, &mut hand).await;
    eprintln!("SQLite: {} slices, {compared} rows compared", CASES.len());
    hostile::check(&server, Kind::Sqlite, &mut hand).await;
    counts::check(&server, Kind::Sqlite, &mut hand).await;
    server.stop().await;

    // limit= is bounded by --max-rows.
    let pool = rowstream_cli::open_readonly_path(&path)
        .await
        .expect("open read-only");
    let streamer =
        rowstream::Streamer::default().with_limits(rowstream::Limits::default().max_items(10));
    let settings = Settings {
        streamer,
        ..Settings::default()
    };
    let server =
        Server::start_app(rowstream_cli::router_with(Database::Sqlite(pool), settings)).await;
    let (status, _, body) = get(&server, "/tables/small?limit=11&origin=eq.JFK").await;
    let problem: Value = serde_json::from_slice(&body).expect("problem+json");
    assert_eq!(
        (status, &problem["parameter"]),
        (400, &Value::from("limit")),
        "{problem}"
    );
    let (status, _, body) = get(&server, "/tables/small?limit=10&origin=eq.JFK").await;
    assert_eq!((status, served_rows("json", &body).len()), (200, 10));

    // A parameter that takes one value, given twice: a 400 naming it, not one of the two.
    for (query, name) in [
        ("limit=1&limit=2", "limit"),
        ("limit=5&origin=eq.JFK&limit=5", "limit"),
        ("after=1&after=2", "after"),
        ("select=id&select=id", "select"),
        ("order=id&order=id.desc", "order"),
    ] {
        let (status, content_type, body) = get(&server, &format!("/tables/small?{query}")).await;
        let problem: Value = serde_json::from_slice(&body).expect("problem+json");
        assert_eq!(
            (status, content_type.as_str()),
            (400, "application/problem+json")
        );
        assert_eq!(problem["parameter"], name, "{query}: {problem}");
        assert_eq!(problem["title"], "Repeated parameter", "{query}");
        assert_eq!(
            problem["detail"],
            format!("\"{name}\" is given more than once; give each parameter once"),
            "{query}"
        );
    }
    // Filters may repeat: ANDed (the first ten rows by id differ with either alone).
    let (status, _, body) = get(
        &server,
        "/tables/small?select=id,dep_delay&dep_delay=gte.10&dep_delay=lte.12&order=id&limit=10",
    )
    .await;
    assert_eq!(status, 200);
    let sql = |filter: &str| {
        format!("SELECT id, dep_delay FROM small WHERE {filter} ORDER BY id LIMIT 10")
    };
    let expected = hand(sql("dep_delay >= 10 AND dep_delay <= 12")).await;
    assert_eq!(expected.len(), 10);
    assert_ne!(hand(sql("dep_delay >= 10")).await, expected);
    assert_ne!(hand(sql("dep_delay <= 12")).await, expected);
    assert_eq!(served_rows("json", &body), expected);
    server.stop().await;

    // `rowstream export --slice`: the same query string, the same rows.
    let db = format!("sqlite://{}", path.display());
    let run = |slice: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_rowstream"))
            .args([
                "export", "--db", &db, "--table", "small", "--format", "ndjson",
            ])
            .args(["--batch-size", "100", "--slice", slice])
            .env_remove("DATABASE_URL")
            .env_remove("ROWSTREAM_CONFIG")
            .output()
            .expect("run rowstream export")
    };
    for (slice, sql) in [
        (
            "select=carrier,dep_delay,id&origin=eq.JFK&dep_delay=gte.10&limit=120",
            "SELECT carrier, dep_delay, id FROM small WHERE origin = 'JFK' AND dep_delay >= 10 \
             ORDER BY id LIMIT 120",
        ),
        (
            "select=id,arr_delay&order=arr_delay.desc&dest=in.(LAX,SFO)",
            "SELECT id, arr_delay FROM small WHERE dest IN ('LAX', 'SFO') \
             ORDER BY (arr_delay IS NULL) DESC, arr_delay DESC, id",
        ),
    ] {
        let output = run(slice);
        assert!(
            output.status.success(),
            "{slice}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let expected = hand(sql.to_owned()).await;
        assert!(!expected.is_empty(), "{sql}");
        assert_eq!(served_rows("ndjson", &output.stdout), expected, "{slice}");
    }
    // Errors the database shows exit with 1; a --slice that does not parse is a usage
    // error, 2.
    for (slice, says, code) in [
        ("dep_delay=eq.x", "dep_delay", 1),
        ("nope=eq.1", "nope", 1),
        ("format=csv", "format", 2),
        ("limit=-1", "limit", 2),
        ("limit=1&limit=2", "\"limit\" is given more than once", 2),
        (
            "select=id&origin=eq.JFK&select=id",
            "\"select\" is given more than once",
            2,
        ),
        ("order=id&order=id", "\"order\" is given more than once", 2),
    ] {
        let output = run(slice);
        assert_eq!(output.status.code(), Some(code), "{slice}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(says), "{slice}: {stderr}");
        assert!(output.stdout.is_empty(), "{slice}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_slices_match_hand_written_sql() {
    let Some(csv_bytes) = flights::csv_bytes() else {
        return;
    };
    let Some(scratch) = Scratch::postgres("rowstream_slices").await else {
        return;
    };
    let mut conn = scratch.pg_options().connect().await.expect("connect");
    flights::load_postgres(&csv_bytes, &mut conn).await;
    for sql in [
        "CREATE TABLE small (LIKE flights INCLUDING ALL)",
        "INSERT INTO small SELECT * FROM flights WHERE month = 1 AND day <= 2",
        "ANALYZE",
        hostile::RESERVED_TABLE,
        hostile::RESERVED_ROWS,
    ]
    .into_iter()
    .map(str::to_owned)
    .chain(hostile::rename(Kind::Postgres))
    {
        sqlx::query(&sql).execute(&mut conn).await.expect(&sql);
    }
    let pool = db::open_postgres(scratch.pg_options(), &OpenOptions::default())
        .await
        .expect("open read-only");
    let server = serve(Database::Postgres(pool)).await;
    let mut hand = async |sql: String| -> Vec<Row> {
        let rows = sqlx::query(&sql).fetch_all(&mut conn).await.expect(&sql);
        rows.iter().map(pg_row).collect()
    };
    let compared = compare_cases(&server, Kind::Postgres, &mut hand).await;
    eprintln!(
        "PostgreSQL: {} slices, {compared} rows compared",
        CASES.len()
    );
    hostile::check(&server, Kind::Postgres, &mut hand).await;
    counts::check(&server, Kind::Postgres, &mut hand).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_slices_match_hand_written_sql() {
    let Some(csv_bytes) = flights::csv_bytes() else {
        return;
    };
    let Some(scratch) = Scratch::mysql("rowstream_slices").await else {
        return;
    };
    let mut conn = scratch.mysql_options().connect().await.expect("connect");
    flights::load_mysql(&csv_bytes, &mut conn).await;
    for sql in [
        "CREATE TABLE small LIKE flights",
        "INSERT INTO small SELECT * FROM flights WHERE month = 1 AND day <= 2",
        hostile::RESERVED_TABLE,
        hostile::RESERVED_ROWS,
        "SET time_zone = '+00:00'",
    ]
    .into_iter()
    .map(str::to_owned)
    .chain(hostile::rename(Kind::MariaDb))
    {
        sqlx::query(&sql).execute(&mut conn).await.expect(&sql);
    }
    let (pool, mariadb) = db::open_mysql(scratch.mysql_options(), &OpenOptions::default())
        .await
        .expect("open read-only");
    let server = serve(Database::MySql { pool, mariadb }).await;
    let mut hand = async |sql: String| -> Vec<Row> {
        let rows = sqlx::query(&sql).fetch_all(&mut conn).await.expect(&sql);
        rows.iter().map(json_row).collect()
    };
    let compared = compare_cases(&server, Kind::MariaDb, &mut hand).await;
    eprintln!("MariaDB: {} slices, {compared} rows compared", CASES.len());
    hostile::check(&server, Kind::MariaDb, &mut hand).await;
    counts::check(&server, Kind::MariaDb, &mut hand).await;
    server.stop().await;
}
