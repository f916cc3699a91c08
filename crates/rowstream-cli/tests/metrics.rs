//! `GET /metrics` over a real server: strict Prometheus text parsing, and counters that
//! move by exactly the requests made. One test per binary: the recorder is process-wide.

mod common;

use std::collections::BTreeMap;

use common::Server;
use rowstream_cli::{Settings, router_with};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};

/// Samples by `name{labels}` (labels sorted), from a strict parse of the text format:
/// every line is a `# HELP`/`# TYPE` comment or `name[{k="v",…}] value`, names and label
/// names valid, label values properly escaped, values floats, each sample after its TYPE.
fn parse(text: &str) -> BTreeMap<String, f64> {
    fn valid_name(name: &str) -> bool {
        let mut chars = name.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    }
    let mut samples = BTreeMap::new();
    let mut typed = std::collections::HashSet::new();
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix("# ") {
            let mut parts = comment.splitn(3, ' ');
            let kind = parts.next().unwrap();
            let name = parts.next().expect("a metric name");
            assert!(valid_name(name), "{line}");
            if kind == "TYPE" {
                let ty = parts.next().expect("a type");
                assert!(
                    ["counter", "gauge", "histogram", "summary", "untyped"].contains(&ty),
                    "{line}"
                );
                assert!(typed.insert(name.to_owned()), "TYPE twice: {line}");
            } else {
                assert_eq!(kind, "HELP", "{line}");
            }
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("name and value");
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("a float: {line}")),
        };
        let (name, labels) = match series.split_once('{') {
            None => (series, Vec::new()),
            Some((name, rest)) => {
                let body = rest.strip_suffix('}').expect("closing brace");
                let mut labels = Vec::new();
                let mut chars = body.chars().peekable();
                while chars.peek().is_some() {
                    let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
                    assert!(valid_name(&key), "label name {key:?}: {line}");
                    assert_eq!(chars.next(), Some('"'), "{line}");
                    let mut value = String::new();
                    loop {
                        match chars.next().expect("an unterminated label value") {
                            '"' => break,
                            '\\' => match chars.next() {
                                Some('n') => value.push('\n'),
                                Some(c @ ('\\' | '"')) => value.push(c),
                                other => panic!("bad escape {other:?}: {line}"),
                            },
                            c => value.push(c),
                        }
                    }
                    labels.push(format!("{key}={value:?}"));
                    match chars.next() {
                        None => break,
                        Some(',') => {}
                        other => panic!("unexpected {other:?}: {line}"),
                    }
                }
                (name, labels)
            }
        };
        assert!(valid_name(name), "{line}");
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s).filter(|f| typed.contains(*f)))
            .unwrap_or(name);
        assert!(typed.contains(family), "sample before its TYPE: {line}");
        let mut labels = labels;
        labels.sort();
        samples.insert(format!("{name}{{{}}}", labels.join(",")), value);
    }
    samples
}

fn sum(samples: &BTreeMap<String, f64>, name: &str, contains: &[&str]) -> f64 {
    samples
        .iter()
        .filter(|(k, _)| k.starts_with(&format!("{name}{{")))
        .filter(|(k, _)| contains.iter().all(|c| k.contains(c)))
        .map(|(_, v)| v)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_exactly_the_requests_made() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.sqlite");
    let pool = SqlitePool::connect_with(
        SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true),
    )
    .await
    .unwrap();
    sqlx::query(
        "CREATE TABLE n (i INTEGER PRIMARY KEY); \
         WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 250) \
         INSERT INTO n SELECT i FROM c",
    )
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    let served = rowstream_cli::open_readonly_path(&path).await.unwrap();
    let settings = Settings {
        metrics: Some(rowstream_cli::server::install_metrics().expect("recorder")),
        ..Settings::default()
    };
    let server = Server::start_app(router_with(served, settings)).await;
    let scrape = async || {
        let response = reqwest::get(server.url("/metrics")).await.unwrap();
        assert_eq!(response.status(), 200);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/plain; version=0.0.4")
        );
        parse(&response.text().await.unwrap())
    };
    let before = scrape().await;
    for format in ["json", "ndjson", "csv"] {
        let body = reqwest::get(server.url(&format!("/tables/n?format={format}")))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert!(!body.is_empty());
    }
    let after = scrape().await;
    let moved =
        |name: &str, contains: &[&str]| sum(&after, name, contains) - sum(&before, name, contains);
    assert_eq!(moved("rowstream_rows_total", &[]), 750.0);
    assert_eq!(moved("rowstream_rows_total", &["format=\"csv\""]), 250.0);
    assert_eq!(
        moved(
            "rowstream_streams_total",
            &["outcome=\"completed\"", "source=\"n\""]
        ),
        3.0
    );
    assert_eq!(
        moved("rowstream_streams_total", &["outcome=\"failed\""]),
        0.0
    );
    assert_eq!(moved("rowstream_stream_duration_seconds_count", &[]), 3.0);
    assert!(
        after
            .keys()
            .any(|k| k.starts_with("rowstream_db_connections{"))
    );
    assert!(moved("rowstream_http_requests_total", &["status=\"200\""]) >= 4.0);
    server.stop().await;
}
