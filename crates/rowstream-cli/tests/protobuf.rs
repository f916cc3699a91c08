//! Protocol Buffers through the real server and `rowstream export`: the served `.proto`
//! read by a small parser here, every message of `?format=protobuf` decoded by a wire
//! format reader here (not the library's) against it and compared value by value with
//! the CSV (flights from SQLite, PostgreSQL and MariaDB) or with the driver's and the
//! JSON export's values (the type-torture tables); a cut export whose last message is
//! truncated, and that leaves no file.

mod common;

use std::process::Command;

use common::Server;
use common::flights::{self, FLIGHTS, IdColumn};
use rowstream_cli::{Database, Settings};
use serde_json::Value;
use wire::{Decoded, Field, Message, decode, frames, parse_proto, to_json};

#[path = "protobuf/wire.rs"]
mod wire;

/// A torture row's floats and bytes as the database's driver reads them: a `double`,
/// a `real`/`float`, a `bytea`/`VARBINARY`.
type DriverValues = (Option<f64>, Option<f32>, Option<Vec<u8>>);

/// Every message of a whole body as a JSON array of objects, the `.proto`'s field names
/// as keys in field order (as the JSON export writes rows), for
/// [`flights::assert_matches_csv`].
fn as_json_array(body: &[u8], message: &Message) -> Vec<u8> {
    let (messages, cut) = frames(body);
    assert!(!cut, "the stream ends inside a message");
    let mut out = Vec::with_capacity(body.len() * 3);
    out.push(b'[');
    for (i, m) in messages.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let values = decode(m, message);
        // Written by hand: a `serde_json::Map` sorts its keys.
        out.push(b'{');
        for (j, (field, value)) in message.fields.iter().zip(&values).enumerate() {
            if j > 0 {
                out.push(b',');
            }
            serde_json::to_writer(&mut out, &field.name).expect("JSON");
            out.push(b':');
            serde_json::to_writer(&mut out, &to_json(value.as_ref())).expect("JSON");
        }
        out.push(b'}');
    }
    out.push(b']');
    out
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

/// The served `.proto` of `table`, parsed, after checking its response.
async fn served_message(server: &Server, table: &str) -> Message {
    let (status, content_type, body) = get(server, &format!("/tables/{table}.proto")).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(content_type, "text/plain; charset=utf-8");
    let message = parse_proto(std::str::from_utf8(&body).expect("UTF-8"));
    assert_eq!(message.package, "rowstream");
    message
}

/// GETs the flights' message and rows and checks every value against the CSV; returns
/// the body.
async fn assert_serves_flights(server: &Server, csv_bytes: &[u8], id: IdColumn) -> Vec<u8> {
    let message = served_message(server, "flights").await;
    assert_eq!(message.name, "Flights");
    let names: Vec<&str> = message.fields.iter().map(|f| f.name.as_str()).collect();
    let skip = usize::from(id == IdColumn::Sequential);
    assert_eq!(names[skip..], flights::COLUMNS);
    let numbers: Vec<u64> = message.fields.iter().map(|f| f.number).collect();
    assert_eq!(numbers, (1..=names.len() as u64).collect::<Vec<_>>());
    let field = |name: &str| message.fields.iter().find(|f| f.name == name).unwrap();
    assert_eq!(field("carrier").ty, "string");
    assert_eq!(field("time_hour").ty, "string");
    // NULL-able: the CSV has NA in dep_time.
    assert!(field("dep_time").optional);

    let response = reqwest::Client::new()
        .get(server.url("/tables/flights"))
        .header("accept", "application/x-protobuf")
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/x-protobuf; delimited=true; messageType=\"rowstream.Flights\""
    );
    let body = response.bytes().await.expect("a whole body").to_vec();
    eprintln!("flights as protobuf: {} bytes", body.len());
    assert_eq!(
        flights::assert_matches_csv(&as_json_array(&body, &message), csv_bytes, id),
        FLIGHTS
    );
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_flights_as_protobuf_equal_the_csv() {
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
    let body = assert_serves_flights(&server, &csv_bytes, IdColumn::None).await;
    let message = served_message(&server, "flights").await;
    assert_eq!(
        message.fields.iter().find(|f| f.name == "year").unwrap().ty,
        "int64"
    );

    // HEAD names the message too; an unknown table's .proto is a 404 problem.
    let head = reqwest::Client::new()
        .head(server.url("/tables/flights?format=protobuf"))
        .send()
        .await
        .expect("HEAD");
    assert_eq!(
        head.headers()["content-type"],
        "application/x-protobuf; delimited=true; messageType=\"rowstream.Flights\""
    );
    let (status, content_type, problem) = get(&server, "/tables/nope.proto").await;
    assert_eq!(
        (status.as_u16(), content_type.as_str()),
        (404, "application/problem+json")
    );
    let problem: Value = serde_json::from_slice(&problem).expect("problem+json");
    assert_eq!(problem["title"], "No such table");

    // A selection: only those fields, with the whole message's numbers.
    let (status, _, selected) = get(
        &server,
        "/tables/flights?format=protobuf&select=carrier,year&limit=3",
    )
    .await;
    assert_eq!(status, 200);
    let (messages, cut) = frames(&selected);
    assert!(!cut);
    assert_eq!(messages.len(), 3);
    let values = decode(messages[0], &message);
    assert_eq!(values[0], Some(Decoded::Int(2013)));
    assert_eq!(values[9], Some(Decoded::Text("UA".into())));
    assert!(values.iter().filter(|v| v.is_some()).count() == 2);
    server.stop().await;

    // `rowstream export`: the same bytes; cut by --max-rows, no file at all.
    let db = format!("sqlite:{}", path.display());
    let target = dir.path().join("flights.binpb");
    let output = Command::new(env!("CARGO_BIN_EXE_rowstream"))
        .args([
            "export", "--db", &db, "--table", "flights", "--format", "protobuf", "-o",
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
    assert!(
        std::fs::read(&target).expect("the file") == body,
        "the file differs from the response"
    );
    let cut = dir.path().join("cut.binpb");
    let output = Command::new(env!("CARGO_BIN_EXE_rowstream"))
        .args([
            "export", "--db", &db, "--table", "flights", "--format", "protobuf",
        ])
        .args(["--max-rows", "100000", "-o"])
        .arg(&cut)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run rowstream export");
    assert!(!output.status.success());
    assert!(!cut.exists(), "a cut protobuf export left a file");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("cut"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // Over HTTP, a server cutting exports after 100,000 rows: the transfer fails, and
    // what came ends inside a message.
    let pool = rowstream_cli::open_readonly_path(&path)
        .await
        .expect("open read-only");
    let settings = Settings {
        streamer: rowstream::Streamer::default()
            .with_limits(rowstream::Limits::default().max_items(100_000)),
        ..Settings::default()
    };
    let server =
        Server::start_app(rowstream_cli::router_with(Database::Sqlite(pool), settings)).await;
    let mut response = reqwest::get(server.url("/tables/flights?format=protobuf"))
        .await
        .expect("GET");
    assert_eq!(response.status(), 200);
    let mut received = Vec::new();
    let transport = loop {
        match response.chunk().await {
            Ok(Some(chunk)) => received.extend_from_slice(&chunk),
            Ok(None) => break None,
            Err(err) => break Some(err),
        }
    };
    assert!(transport.is_some(), "the cut transfer ended cleanly");
    let (messages, truncated) = frames(&received);
    assert!(truncated, "the last message of a cut export is whole");
    assert!(
        !messages.is_empty() && messages.len() <= 100_000,
        "{} messages",
        messages.len()
    );
    // Every whole message before the cut is a flight of the CSV, in order.
    let mut csv = csv::Reader::from_reader(&csv_bytes[..]);
    for (m, record) in messages.iter().zip(csv.records()) {
        let record = record.expect("a CSV record");
        let values = decode(m, &message);
        let year = &record[0];
        assert_eq!(values[0], Some(Decoded::Int(year.parse().unwrap())));
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_flights_as_protobuf_equal_the_csv() {
    use sqlx::ConnectOptions as _;
    let Some(csv_bytes) = flights::csv_bytes() else {
        return;
    };
    let Some(scratch) = common::sql::Scratch::postgres("rowstream_protobuf").await else {
        return;
    };
    let mut conn = scratch.pg_options().connect().await.expect("connect");
    flights::load_postgres(&csv_bytes, &mut conn).await;
    let pool = rowstream_cli::db::open_postgres(scratch.pg_options(), &Default::default())
        .await
        .expect("open read-only");
    let server = Server::start(Database::Postgres(pool)).await;
    assert_serves_flights(&server, &csv_bytes, IdColumn::Sequential).await;
    let message = served_message(&server, "flights").await;
    // The key is NOT NULL: a plain field.
    assert_eq!(
        message.fields[0],
        Field {
            column: "id".into(),
            name: "id".into(),
            number: 1,
            ty: "int32".into(),
            optional: false
        }
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_flights_as_protobuf_equal_the_csv() {
    use sqlx::ConnectOptions as _;
    let Some(csv_bytes) = flights::csv_bytes() else {
        return;
    };
    let Some(scratch) = common::sql::Scratch::mysql("rowstream_protobuf").await else {
        return;
    };
    let mut conn = scratch.mysql_options().connect().await.expect("connect");
    flights::load_mysql(&csv_bytes, &mut conn).await;
    let (pool, mariadb) =
        rowstream_cli::db::open_mysql(scratch.mysql_options(), &Default::default())
            .await
            .expect("open read-only");
    let server = Server::start(Database::MySql { pool, mariadb }).await;
    assert_serves_flights(&server, &csv_bytes, IdColumn::Sequential).await;
    server.stop().await;
}

/// Decodes `table`'s protobuf export and checks it against its JSON export
/// (`non_finite=string`), value by value, except the `apart` fields (bytes, floats),
/// which are returned for the caller's checks against the driver.
async fn assert_matches_json(
    server: &Server,
    table: &str,
    apart: &[&str],
) -> (Message, Vec<Vec<Option<Decoded>>>) {
    let message = served_message(server, table).await;
    let (status, _, body) = get(server, &format!("/tables/{table}?format=protobuf")).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let (messages, cut) = frames(&body);
    assert!(!cut);
    let rows: Vec<Vec<Option<Decoded>>> = messages.iter().map(|m| decode(m, &message)).collect();
    let (status, _, json) = get(server, &format!("/tables/{table}?non_finite=string")).await;
    assert_eq!(status, 200);
    let json: Vec<serde_json::Map<String, Value>> = serde_json::from_slice(&json).expect("JSON");
    assert_eq!(rows.len(), json.len());
    let mut checked = 0;
    for (r, (row, object)) in rows.iter().zip(&json).enumerate() {
        assert_eq!(object.len(), message.fields.len(), "{table} row {r}");
        for (field, value) in message.fields.iter().zip(row) {
            let column = &field.column;
            assert!(object.contains_key(column), "{table} row {r}: {column}");
            if apart.contains(&column.as_str()) {
                continue;
            }
            let served = match (&object[column], value) {
                // JSON and arrays: their JSON text in a string field.
                (Value::Array(_) | Value::Object(_), Some(Decoded::Text(text))) => {
                    serde_json::from_str(text).expect("JSON text")
                }
                _ => to_json(value.as_ref()),
            };
            assert_eq!(served, object[column], "{table} row {r}, {column}");
            checked += 1;
        }
    }
    eprintln!("{table}: {checked} values equal the JSON export's");
    (message, rows)
}

/// The field types of `message`, `optional` marked with `?`.
fn types(message: &Message) -> Vec<String> {
    message
        .fields
        .iter()
        .map(|f| format!("{}{}", f.ty, if f.optional { "?" } else { "" }))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_type_torture_as_protobuf_is_exact() {
    use sqlx::ConnectOptions as _;
    let Some(scratch) = common::sql::Scratch::postgres("rowstream_protobuf_torture").await else {
        return;
    };
    let mut conn = scratch.pg_options().connect().await.expect("connect");
    sqlx::raw_sql(
        r#"
CREATE TABLE torture (id int PRIMARY KEY, i2 smallint, i8 bigint NOT NULL, n numeric(38,10),
  f float8, r real, tz timestamptz, ts timestamp, d date, t text, b bytea, bo boolean,
  "dep time" int, "depTime" int, "2nd" text, js jsonb, arr int[]);
INSERT INTO torture VALUES
 (1, -32768, -9223372036854775808, -9999999999999999999999999999.9999999999, 'NaN', 0.1,
  '2024-03-10 01:30:00.123456-08', '2024-02-29 23:59:59.999999', '0001-01-01', '', '\x00ff', true,
  1, 2, 'x', '{"a": [1, 12345678901234567890]}', '{1,NULL,3}'),
 (2, 32767, 9223372036854775807, 9999999999999999999999999999.9999999999, 'Infinity', '-Infinity',
  '1969-12-31 23:59:59.999999+05:30', '1970-01-01 00:00:00', 'infinity',
  E'😀 "q",\n\ttab', '\x', false, NULL, NULL, NULL, NULL, NULL),
 (3, NULL, 0, 0.0000000001, '-Infinity', NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL),
 (4, 0, 0, NULL, '-0', 0, '2013-01-01 05:00:00+00', NULL, '1970-01-01', 'NULL', NULL, NULL,
  NULL, NULL, NULL, NULL, NULL);
"#,
    )
    .execute(&mut conn)
    .await
    .expect("create torture");
    let expected: Vec<DriverValues> = sqlx::query_as("SELECT f, r, b FROM torture ORDER BY id")
        .fetch_all(&mut conn)
        .await
        .expect("the driver's values");
    let pool = rowstream_cli::db::open_postgres(scratch.pg_options(), &Default::default())
        .await
        .expect("open read-only");
    let server = Server::start(Database::Postgres(pool)).await;
    let (message, rows) = assert_matches_json(&server, "torture", &["f", "r", "b"]).await;
    assert_eq!(
        types(&message),
        [
            "int32", "int32?", "int64", "string?", "double?", "double?", "string?", "string?",
            "string?", "string?", "bytes?", "bool?", "int32?", "int32?", "string?", "string?",
            "string?"
        ]
    );
    let names: Vec<&str> = message.fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names[12..15], ["dep_time", "depTime_2", "c_2nd"]);
    assert_eq!(message.fields[12].column, "dep time");
    assert_eq!(rows.len(), expected.len());
    for (r, (row, (f, real, b))) in rows.iter().zip(&expected).enumerate() {
        match (&row[4], f) {
            (Some(Decoded::Double(g)), Some(w)) if w.is_nan() => assert!(g.is_nan()),
            (got, want) => assert_eq!(got, &want.map(Decoded::Double), "f row {r}"),
        }
        if let (Some(Decoded::Double(g)), Some(w)) = (&row[4], f) {
            // -0.0 keeps its sign.
            assert!(w.is_nan() || g.to_bits() == w.to_bits(), "f row {r}");
        }
        assert_eq!(
            row[5],
            real.map(|v| Decoded::Double(f64::from(v))),
            "r row {r}"
        );
        assert_eq!(row[10], b.clone().map(Decoded::Bytes), "b row {r}");
    }
    // Empty text and bytes are there (set), NULL is not.
    assert_eq!(rows[0][9], Some(Decoded::Text(String::new())));
    assert_eq!(rows[1][10], Some(Decoded::Bytes(Vec::new())));
    assert_eq!(rows[2][9], None);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_type_torture_as_protobuf_is_exact() {
    use sqlx::ConnectOptions as _;
    let Some(scratch) = common::sql::Scratch::mysql("rowstream_protobuf_torture").await else {
        return;
    };
    let mut conn = scratch.mysql_options().connect().await.expect("connect");
    for sql in [
        "CREATE TABLE torture (id int PRIMARY KEY, ti tinyint, bu bigint unsigned NOT NULL, \
         i8 bigint, mi mediumint unsigned, n decimal(38,10), wide decimal(65,30), f double, \
         fl float, dt datetime(6), ts timestamp(6) NULL DEFAULT NULL, d date, \
         t varchar(50) CHARACTER SET utf8mb4, b varbinary(10), j json) CHARACTER SET utf8mb4",
        "INSERT INTO torture VALUES \
         (1, -128, 18446744073709551615, -9223372036854775808, 16777215, \
          -9999999999999999999999999999.9999999999, 12345678901234567890123456789012345.123456789012345678901234567890, \
          -1.7976931348623157e308, 0.1, \
          '1000-01-01 00:00:00.000001', '1970-01-01 00:00:01.5', '1000-01-01', '', X'00ff', '{\"a\": 1}'), \
         (2, 127, 0, 9223372036854775807, 0, 0.0000000001, 0, 5e-324, -3.5, \
          '9999-12-31 23:59:59.999999', '2038-01-19 03:14:07.999999', '9999-12-31', \
          '😀 \"q\",\\n\\ttab', X'', '[1, null]'), \
         (3, NULL, 7, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
    ] {
        sqlx::query(sql).execute(&mut conn).await.expect(sql);
    }
    let expected: Vec<DriverValues> = sqlx::query_as("SELECT f, fl, b FROM torture ORDER BY id")
        .fetch_all(&mut conn)
        .await
        .expect("the driver's values");
    let (pool, mariadb) =
        rowstream_cli::db::open_mysql(scratch.mysql_options(), &Default::default())
            .await
            .expect("open read-only");
    let server = Server::start(Database::MySql { pool, mariadb }).await;
    let (message, rows) = assert_matches_json(&server, "torture", &["f", "fl", "b"]).await;
    assert_eq!(
        types(&message),
        [
            "int32", "int32?", "uint64", "int64?", "uint32?", "string?", "string?", "double?",
            "double?", "string?", "string?", "string?", "string?", "bytes?", "string?"
        ]
    );
    for (r, (row, (f, fl, b))) in rows.iter().zip(&expected).enumerate() {
        assert_eq!(row[7], f.map(Decoded::Double), "f row {r}");
        assert_eq!(
            row[8],
            fl.map(|v| Decoded::Double(f64::from(v))),
            "fl row {r}"
        );
        assert_eq!(row[13], b.clone().map(Decoded::Bytes), "b row {r}");
    }
    assert_eq!(rows[0][2], Some(Decoded::Int(i128::from(u64::MAX))));
    // A NOT NULL zero is a plain field's default: not written, read as 0.
    assert_eq!(rows[1][2], Some(Decoded::Int(0)));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_type_torture_as_protobuf_is_exact() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = common::sqlite_file(
        dir.path().join("torture.sqlite"),
        &[
            "CREATE TABLE torture (id INTEGER PRIMARY KEY, i INTEGER, r REAL, mixed, b BLOB, \
             t TEXT, \"n n\" INTEGER NOT NULL)",
            "INSERT INTO torture VALUES \
             (1, -9223372036854775808, 9e999, 7, X'00FF', '', 0), \
             (2, 9223372036854775807, -9e999, 1.5, X'', '😀 \"q\",' || char(10), -1), \
             (3, NULL, 0.1, 'seven', NULL, NULL, 2), \
             (4, 0, NULL, NULL, X'80', 'NULL', 3)",
        ],
    )
    .await;
    let server = Server::start(
        rowstream_cli::open_readonly_path(&path)
            .await
            .expect("open read-only"),
    )
    .await;
    let (message, rows) = assert_matches_json(&server, "torture", &["mixed", "b"]).await;
    assert_eq!(
        types(&message),
        [
            "int64?", "int64?", "double?", "string?", "bytes?", "string?", "int64"
        ]
    );
    assert_eq!(
        (
            message.fields[6].name.as_str(),
            message.fields[6].column.as_str()
        ),
        ("n_n", "n n")
    );
    let column = |i: usize| rows.iter().map(|row| row[i].clone()).collect::<Vec<_>>();
    assert_eq!(
        column(1),
        [
            Some(Decoded::Int(i64::MIN.into())),
            Some(Decoded::Int(i64::MAX.into())),
            None,
            Some(Decoded::Int(0))
        ]
    );
    assert_eq!(
        column(2),
        [
            Some(Decoded::Double(f64::INFINITY)),
            Some(Decoded::Double(f64::NEG_INFINITY)),
            Some(Decoded::Double(0.1)),
            None
        ]
    );
    assert_eq!(
        column(3),
        ["7", "1.5", "seven"]
            .map(|s| Some(Decoded::Text(s.into())))
            .into_iter()
            .chain([None])
            .collect::<Vec<_>>()
    );
    assert_eq!(
        column(4),
        [
            Some(Decoded::Bytes(vec![0, 255])),
            Some(Decoded::Bytes(vec![])),
            None,
            Some(Decoded::Bytes(vec![0x80]))
        ]
    );
    assert_eq!(
        column(5),
        [
            Some(Decoded::Text(String::new())),
            Some(Decoded::Text("😀 \"q\",\n".into())),
            None,
            Some(Decoded::Text("NULL".into()))
        ]
    );
    server.stop().await;

    // A named query has no column types before it runs: 406, naming what it can have.
    let config = rowstream_cli::config::ConfigFile::parse(
        "[queries.all]\nsql = \"SELECT * FROM torture ORDER BY id\"\n",
    )
    .expect("config");
    let settings = Settings {
        queries: config.queries,
        ..Settings::default()
    };
    let pool = rowstream_cli::open_readonly_path(&path)
        .await
        .expect("open read-only");
    let server =
        Server::start_app(rowstream_cli::router_with(Database::Sqlite(pool), settings)).await;
    let (status, content_type, body) = get(&server, "/queries/all?format=protobuf").await;
    assert_eq!(
        (status.as_u16(), content_type.as_str()),
        (406, "application/problem+json")
    );
    let problem: Value = serde_json::from_slice(&body).expect("problem+json");
    let supported = problem["supported"].as_array().expect("supported").clone();
    assert!(
        supported.contains(&Value::from("application/json")),
        "{problem}"
    );
    assert!(
        !supported
            .iter()
            .any(|m| m.as_str().unwrap().contains("protobuf")),
        "{problem}"
    );
    let (status, _, _) = get(&server, "/queries/all?format=json").await;
    assert_eq!(status, 200);
    server.stop().await;
}
