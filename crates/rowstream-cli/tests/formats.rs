//! `rowstream serve` formats, HEAD, compression and request ids over a real loopback
//! server: all 336,776 flights in every format, parsed by independent parsers.

mod common;

use std::io::Read as _;
use std::path::Path;

use common::Server;
use common::flights::{self, COLUMNS, FLIGHTS, IdColumn, Typed, typed};
use rowstream_cli::config::ConfigFile;
use rowstream_cli::{Settings, router_with};

async fn get(url: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let client = reqwest::Client::new();
    let mut request = client.get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("request")
}

/// A JSON array of the values of a stream of JSON texts (NDJSON, JSON-seq).
fn texts_to_array(body: &[u8], separator: Option<u8>) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 2);
    out.push(b'[');
    let mut first = true;
    for line in body.split(|b| *b == b'\n') {
        if line.is_empty() {
            continue;
        }
        let text = match separator {
            Some(rs) => line.strip_prefix(&[rs]).expect("RS before every text"),
            None => line,
        };
        // Each text parses on its own.
        let _: serde_json::Value = serde_json::from_slice(text).expect("a JSON text");
        if !first {
            out.push(b',');
        }
        first = false;
        out.extend_from_slice(text);
    }
    out.push(b']');
    out
}

/// A map that keeps its keys in the order they came (MessagePack rows → JSON objects).
struct Ordered(Vec<(String, serde_json::Value)>);

impl<'de> serde::Deserialize<'de> for Ordered {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Ordered;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a map")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Ordered, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(Ordered(entries))
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

impl serde::Serialize for Ordered {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in &self.0 {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// Checks a served CSV against the original, field by field.
fn assert_csv_matches(body: &[u8], csv_bytes: &[u8]) -> usize {
    let mut served = csv::Reader::from_reader(body);
    let headers: Vec<String> = served
        .headers()
        .expect("a header row")
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(headers, COLUMNS);
    let mut original = csv::Reader::from_reader(csv_bytes);
    let mut rows = 0;
    for (served, original) in served.records().zip(original.records()) {
        let (served, original) = (served.expect("a record"), original.expect("a record"));
        assert_eq!(served.len(), original.len(), "row {rows}");
        for (i, (s, o)) in served.iter().zip(original.iter()).enumerate() {
            match typed(COLUMNS[i], o) {
                Typed::Null => assert_eq!(s, "", "row {rows} {}", COLUMNS[i]),
                Typed::Integer(v) => assert_eq!(s.parse::<i64>().ok(), Some(v), "row {rows}"),
                Typed::Real(v) => assert_eq!(s.parse::<f64>().ok(), Some(v), "row {rows}"),
                Typed::Text(v) => assert_eq!(s, v, "row {rows} {}", COLUMNS[i]),
            }
        }
        rows += 1;
    }
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flights_in_every_format() {
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
    for (format, media_type) in [
        ("json", "application/json"),
        ("ndjson", "application/x-ndjson"),
        ("jsonseq", "application/json-seq"),
        ("csv", "text/csv; charset=utf-8; header=present"),
        ("msgpack", "application/vnd.msgpack"),
    ] {
        let response = get(
            &server.url(&format!("/tables/flights?format={format}")),
            &[],
        )
        .await;
        assert_eq!(response.status(), 200, "{format}");
        assert_eq!(response.headers()["content-type"], media_type);
        let body = response.bytes().await.expect("a body");
        let rows = match format {
            "json" => flights::assert_matches_csv(&body, &csv_bytes, IdColumn::None),
            "ndjson" => flights::assert_matches_csv(
                &texts_to_array(&body, None),
                &csv_bytes,
                IdColumn::None,
            ),
            "jsonseq" => flights::assert_matches_csv(
                &texts_to_array(&body, Some(0x1e)),
                &csv_bytes,
                IdColumn::None,
            ),
            "csv" => assert_csv_matches(&body, &csv_bytes),
            _ => {
                let mut reader = &body[..];
                let mut values = Vec::with_capacity(FLIGHTS);
                while !reader.is_empty() {
                    let value: Ordered =
                        rmp_serde::from_read(&mut reader).expect("a MessagePack value");
                    values.push(value);
                }
                let array = serde_json::to_vec(&values).expect("JSON");
                flights::assert_matches_csv(&array, &csv_bytes, IdColumn::None)
            }
        };
        assert_eq!(rows, FLIGHTS, "{format}");
    }
    // Accept negotiates the same way.
    let response = get(&server.url("/tables/flights"), &[("accept", "text/csv")]).await;
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    drop(response);
    server.stop().await;
}

/// A small database: `t` (2 rows), `empty` (no rows), `broken` (a view whose table is gone).
async fn fixture(dir: &Path) -> std::path::PathBuf {
    common::sqlite_file(
        dir.join("fixture.sqlite"),
        &[
            "CREATE TABLE t (a INTEGER, b TEXT)",
            "INSERT INTO t VALUES (1, 'x'), (2, 'y, \"z\"')",
            "CREATE TABLE empty (id INTEGER, name TEXT, \"odd, name\" REAL)",
            "CREATE TABLE gone (v INTEGER)",
            "CREATE VIEW broken AS SELECT v FROM gone",
            "DROP TABLE gone",
            "CREATE TABLE big (n INTEGER PRIMARY KEY, s TEXT)",
            "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 5000) \
             INSERT INTO big SELECT n, 'row number ' || n FROM c",
        ],
    )
    .await
}

async fn fixture_server(dir: &Path, settings: Settings) -> Server {
    let pool = rowstream_cli::open_readonly_path(&fixture(dir).await)
        .await
        .expect("open");
    Server::start_app(router_with(pool, settings)).await
}

#[tokio::test]
async fn csv_of_an_empty_table_is_its_header() {
    let dir = tempfile::tempdir().unwrap();
    let server = fixture_server(dir.path(), Settings::default()).await;
    let response = get(&server.url("/tables/empty?format=csv"), &[]).await;
    assert_eq!(response.status(), 200);
    let body = response.text().await.unwrap();
    assert_eq!(body, "id,name,\"odd, name\"\r\n");
    let response = get(&server.url("/tables/t?format=csv&complete=true"), &[]).await;
    let body = response.text().await.unwrap();
    assert!(
        body.starts_with("a,b\r\n1,x\r\n2,\"y, \"\"z\"\"\"\r\n"),
        "{body}"
    );
    assert!(body.contains("$rowstream"), "a completion record: {body}");
    let response = get(&server.url("/tables/t"), &[("accept", "image/png")]).await;
    assert_eq!(response.status(), 406);
    server.stop().await;
}

#[tokio::test]
async fn named_queries_take_format_and_parameters() {
    let dir = tempfile::tempdir().unwrap();
    let config = ConfigFile::parse(
        "[queries.above]\nsql = \"SELECT a, b FROM t WHERE a > ?\"\nparams = [{ name = \"min\", type = \"int\" }]\n",
    )
    .expect("config");
    let settings = Settings {
        queries: config.queries,
        ..Settings::default()
    };
    let server = fixture_server(dir.path(), settings).await;
    let response = get(
        &server.url("/queries/above?min=1&format=ndjson&complete=true"),
        &[],
    )
    .await;
    assert_eq!(response.status(), 200);
    let body = response.text().await.unwrap();
    let lines: Vec<serde_json::Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0], serde_json::json!({"a": 2, "b": "y, \"z\""}));
    assert_eq!(lines[1]["$rowstream"]["rows"], 1);
    let response = get(&server.url("/queries/above?min=5&format=csv"), &[]).await;
    assert_eq!(response.text().await.unwrap(), "a,b\r\n");
    let response = get(&server.url("/queries/above?min=1&format=xml"), &[]).await;
    assert_eq!(response.status(), 406);
    server.stop().await;
}

#[tokio::test]
async fn head_answers_the_get_headers_without_running_the_query() {
    let dir = tempfile::tempdir().unwrap();
    // 1,000 rows/s: `big` (5,000 rows, about 150 KB) takes 5 s, so the GET that holds the
    // only export slot below is still running when the others come — even though its
    // whole body would fit in the socket buffers unread.
    let streamer = rowstream::Streamer::default();
    let limits = streamer.limits().items_per_second(1000);
    let settings = Settings {
        max_streams: Some(1),
        streamer: streamer.with_limits(limits),
        ..Settings::default()
    };
    let server = fixture_server(dir.path(), settings).await;
    let client = reqwest::Client::new();
    for format in ["json", "csv", "ndjson"] {
        let url = server.url(&format!("/tables/t?format={format}"));
        let get = client.get(&url).send().await.unwrap();
        let head = client.head(&url).send().await.unwrap();
        assert_eq!(head.status(), 200);
        for name in ["content-type", "vary", "cache-control", "trailer"] {
            assert_eq!(head.headers().get(name), get.headers().get(name), "{name}");
        }
        assert!(head.bytes().await.unwrap().is_empty());
    }
    // The view's query would fail: GET is a 500, HEAD never runs it.
    let get = client
        .get(server.url("/tables/broken"))
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 500);
    let head = client
        .head(server.url("/tables/broken"))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    // A HEAD takes no export slot: with the only one held by a stalled GET, it still answers.
    let held = client.get(server.url("/tables/big")).send().await.unwrap();
    let head = client.head(server.url("/tables/big")).send().await.unwrap();
    assert_eq!(head.status(), 200);
    let busy = client.get(server.url("/tables/big")).send().await.unwrap();
    assert_eq!(busy.status(), 503);
    drop(held);
    server.stop().await;
}

#[tokio::test]
async fn gzip_over_the_server_decodes_to_the_plain_body() {
    let dir = tempfile::tempdir().unwrap();
    let server = fixture_server(dir.path(), Settings::default()).await;
    let url = server.url("/tables/big?format=ndjson");
    let plain = get(&url, &[]).await;
    assert!(plain.headers().get("content-encoding").is_none());
    let plain = plain.bytes().await.unwrap();
    let gzip = get(&url, &[("accept-encoding", "gzip")]).await;
    assert_eq!(gzip.headers()["content-encoding"], "gzip");
    assert!(
        gzip.headers()["vary"]
            .to_str()
            .unwrap()
            .contains("Accept-Encoding")
    );
    let compressed = gzip.bytes().await.unwrap();
    assert!(compressed.len() < plain.len());
    let mut decoded = Vec::new();
    flate2::read::MultiGzDecoder::new(&compressed[..])
        .read_to_end(&mut decoded)
        .expect("gzip");
    assert_eq!(decoded, plain);
    // A tiny body stays plain.
    let tiny = get(&server.url("/tables/t"), &[("accept-encoding", "gzip")]).await;
    assert!(tiny.headers().get("content-encoding").is_none());
    server.stop().await;
}

#[tokio::test]
async fn request_ids_are_echoed_or_made() {
    let dir = tempfile::tempdir().unwrap();
    let server = fixture_server(dir.path(), Settings::default()).await;
    let response = get(&server.url("/tables/t"), &[("x-request-id", "abc-123")]).await;
    assert_eq!(response.headers()["x-request-id"], "abc-123");
    let a = get(&server.url("/healthz"), &[]).await;
    let b = get(&server.url("/nope"), &[]).await;
    let (a, b) = (&a.headers()["x-request-id"], &b.headers()["x-request-id"]);
    assert!(!a.is_empty());
    assert_ne!(a, b);
    server.stop().await;
}
