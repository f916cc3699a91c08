//! Spooled exports through the real `rowstream serve`: `?spool` and `Range` requests get
//! the export written to a file first, then `Content-Length`, `ETag` and byte ranges
//! (RFC 9110 §14); failures are statuses, the spool is bounded and emptied.

mod common;

use std::path::Path;
use std::time::Duration;

use common::binary::Binary;
use reqwest::header::HeaderMap;
use serde_json::Value;

/// A SQLite database with `events` (2,000 rows with text that needs CSV quoting and JSON
/// escaping) and a config with the named query `since`; the `--db` URL and config path.
async fn database(dir: &Path) -> (String, String) {
    let path = common::sqlite_file(
        dir.join("spool.sqlite"),
        &[
            "CREATE TABLE events (id INTEGER PRIMARY KEY, name TEXT, score REAL)",
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) \
             INSERT INTO events SELECT i, 'event \"' || i || '\", été', i * 0.5 FROM n",
        ],
    )
    .await;
    let config = dir.join("rowstream.toml");
    std::fs::write(
        &config,
        "[queries.since]\n\
         sql = \"SELECT id, name FROM events WHERE id > ? ORDER BY id\"\n\
         params = [{ name = \"id\", type = \"int\" }]\n",
    )
    .expect("write config");
    (
        format!("sqlite://{}", path.display()),
        config.display().to_string(),
    )
}

struct Got {
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Got {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(name)
            .map(|v| v.to_str().expect("visible ASCII"))
    }
}

async fn send(request: reqwest::RequestBuilder) -> Got {
    let response = request.send().await.expect("request");
    Got {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body: response.bytes().await.expect("body").to_vec(),
    }
}

async fn get(url: &str, headers: &[(&str, &str)]) -> Got {
    let mut request = reqwest::Client::new().get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    send(request).await
}

fn serve(db: &str, config: &str, extra: &[&str]) -> Binary {
    let mut args = vec!["--bind", "127.0.0.1:0", "--db", db, "--config", config];
    args.extend_from_slice(extra);
    Binary::serve(&args, &[])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spooled_exports_have_a_length_and_ranges() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (db, config) = database(dir.path()).await;
    let server = serve(&db, &config, &[]);
    let url = format!("{}/tables/events?format=csv", server.base);

    // The streamed export, the reference: no length, chunked.
    let streamed = get(&url, &[]).await;
    assert_eq!(streamed.status, 200);
    assert_eq!(streamed.header("content-length"), None);
    assert_eq!(streamed.header("accept-ranges"), None);
    let len = streamed.body.len();
    assert!(len > 40_000, "{len} bytes");

    // HEAD ?spool runs the export and says its length, as readers of files ask first.
    let head = send(reqwest::Client::new().head(format!("{url}&spool"))).await;
    assert_eq!(head.status, 200);
    assert_eq!(
        head.header("content-length"),
        Some(len.to_string().as_str())
    );
    assert_eq!(head.header("accept-ranges"), Some("bytes"));
    assert_eq!(head.header("content-type"), streamed.header("content-type"));
    let etag = head.header("etag").expect("an ETag").to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    // A random number per process first: a restarted server never repeats a tag.
    let nonce = etag.trim_matches('"').split('-').next().expect("nonce");
    assert_eq!(nonce.len(), 16, "{etag}");

    // GET ?spool: the same bytes, with the length; the same file (ETag).
    let whole = get(&format!("{url}&spool"), &[]).await;
    assert_eq!(whole.status, 200);
    assert_eq!(whole.body, streamed.body);
    assert_eq!(
        whole.header("content-length"),
        Some(len.to_string().as_str())
    );
    assert_eq!(whole.header("etag"), Some(etag.as_str()));
    assert_eq!(whole.header("content-encoding"), None);

    // A Range request alone spools (same file), in any parameter order.
    let url_reordered = format!("{}/tables/events?spool=true&format=csv", server.base);
    for (range, first, last) in [
        ("bytes=0-99", 0, 99),
        ("bytes=1000-1999", 1000, 1999),
        (&*format!("bytes={}-", len - 10), len - 10, len - 1),
        ("bytes=-25", len - 25, len - 1),
        (&*format!("bytes=100-{}", len + 500), 100, len - 1),
    ] {
        for target in [&url, &url_reordered] {
            let part = get(target, &[("range", range)]).await;
            assert_eq!(part.status, 206, "{range}");
            assert_eq!(part.body, streamed.body[first..=last], "{range}");
            assert_eq!(
                part.header("content-range"),
                Some(format!("bytes {first}-{last}/{len}").as_str()),
                "{range}"
            );
            assert_eq!(
                part.header("content-length"),
                Some((last - first + 1).to_string().as_str())
            );
            assert_eq!(part.header("etag"), Some(etag.as_str()));
        }
    }

    // Past the end: 416 with the length; several ranges: the whole.
    let past = get(&url, &[("range", &format!("bytes={len}-"))]).await;
    assert_eq!(past.status, 416);
    assert_eq!(
        past.header("content-range"),
        Some(format!("bytes */{len}").as_str())
    );
    assert_eq!(
        past.header("content-type"),
        Some("application/problem+json")
    );
    let several = get(&url, &[("range", "bytes=0-9,20-29")]).await;
    assert_eq!(several.status, 200);
    assert_eq!(several.body, streamed.body);

    // A Range the server does not understand or that is not valid syntax is ignored
    // (RFC 9110 §14.2): the whole export, 200, with `?spool` or without.
    for range in [
        "bytes=abc",
        "items=0-5",
        "bytes=5-2",
        "bytes=",
        "bytes",
        "bytes=0-9, x",
        "bytes=+1-2",
        "bytes=1-2-3",
    ] {
        for target in [&url, &format!("{url}&spool")] {
            let ignored = get(target, &[("range", range)]).await;
            assert_eq!(ignored.status, 200, "{range} {target}");
            assert_eq!(ignored.body, streamed.body, "{range} {target}");
            assert_eq!(ignored.header("content-range"), None, "{range}");
        }
    }
    // A valid set none of whose ranges overlaps the export: 416.
    let none_overlap = get(
        &format!("{url}&spool"),
        &[("range", &format!("bytes={}-{}, -0", len, len + 9))],
    )
    .await;
    assert_eq!(none_overlap.status, 416);
    assert_eq!(
        none_overlap.header("content-range"),
        Some(format!("bytes */{len}").as_str())
    );

    // If-Range: the range only for this very file; If-None-Match: 304.
    let stale = get(&url, &[("range", "bytes=0-9"), ("if-range", "\"other\"")]).await;
    assert_eq!(stale.status, 200);
    assert_eq!(stale.body, streamed.body);
    let fresh = get(&url, &[("range", "bytes=0-9"), ("if-range", &etag)]).await;
    assert_eq!(fresh.status, 206);
    assert_eq!(fresh.body, streamed.body[..10]);
    let cached = get(&format!("{url}&spool"), &[("if-none-match", &etag)]).await;
    assert_eq!(cached.status, 304);
    assert!(cached.body.is_empty());

    // ?spool=false: the Range is ignored and the export streamed.
    let streamed_again = get(&format!("{url}&spool=false"), &[("range", "bytes=0-9")]).await;
    assert_eq!(streamed_again.status, 200);
    assert_eq!(streamed_again.header("content-length"), None);
    assert_eq!(streamed_again.body, streamed.body);

    // Another format is another file.
    let json = get(
        &format!("{}/tables/events?format=json&spool", server.base),
        &[],
    )
    .await;
    assert_eq!(json.status, 200);
    assert_ne!(json.header("etag"), Some(etag.as_str()));
    let rows: Vec<Value> = serde_json::from_slice(&json.body).expect("a JSON array");
    assert_eq!(rows.len(), 2000);
    assert_eq!(rows[1999]["name"], "event \"2000\", été");

    // A named query, with its parameter and ?download.
    let since = get(
        &format!(
            "{}/queries/since?id=1990&format=ndjson&spool&download",
            server.base
        ),
        &[],
    )
    .await;
    assert_eq!(since.status, 200);
    assert_eq!(
        since.header("content-disposition"),
        Some("attachment; filename=\"since.ndjson\"")
    );
    let lines: Vec<Value> = since
        .body
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).expect("JSON"))
        .collect();
    let ids: Vec<i64> = lines
        .iter()
        .map(|l| l["id"].as_i64().expect("id"))
        .collect();
    assert_eq!(ids, (1991..=2000).collect::<Vec<_>>());
    assert_eq!(
        since.header("content-length"),
        Some(since.body.len().to_string().as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_range_reads_share_one_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (db, config) = database(dir.path()).await;
    let server = serve(&db, &config, &[]);
    let url = format!("{}/tables/events?format=ndjson", server.base);
    let streamed = get(&url, &[]).await.body;
    let client = reqwest::Client::new();
    let reads = (0..8).map(|i| {
        let client = client.clone();
        let url = url.clone();
        async move {
            let first = i * 1000;
            let response = client
                .get(&url)
                .header("range", format!("bytes={first}-{}", first + 999))
                .send()
                .await
                .expect("request");
            let etag = response.headers()["etag"]
                .to_str()
                .expect("ASCII")
                .to_owned();
            (first, etag, response.bytes().await.expect("body"))
        }
    });
    let got = futures_util::future::join_all(reads).await;
    let etag = &got[0].1;
    for (first, tag, body) in &got {
        assert_eq!(tag, etag, "every read is of the same file");
        assert_eq!(body[..], streamed[*first..*first + 1000]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_statuses_and_the_spool_is_bounded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (db, config) = database(dir.path()).await;
    let spool_dir = dir.path().join("spool");
    std::fs::create_dir(&spool_dir).expect("mkdir");
    let spool_arg = spool_dir.display().to_string();
    // Room for the small export, not for the whole table; files kept 300 ms.
    let server = serve(
        &db,
        &config,
        &[
            "--spool-max-bytes",
            "20KiB",
            "--spool-ttl",
            "300ms",
            "--spool-dir",
            &spool_arg,
        ],
    );
    let base = &server.base;

    let spooled = get(&format!("{base}/tables/events?format=ndjson&spool"), &[]).await;
    assert_eq!(
        spooled.status,
        507,
        "{}",
        String::from_utf8_lossy(&spooled.body)
    );
    assert_eq!(
        spooled.header("content-type"),
        Some("application/problem+json")
    );
    let problem: Value = serde_json::from_slice(&spooled.body).expect("JSON");
    assert!(
        problem["detail"]
            .as_str()
            .expect("detail")
            .contains("--spool-max-bytes"),
        "{problem}"
    );
    let cut = get(&format!("{base}/queries/since?id=0&format=csv&spool"), &[]).await;
    assert_eq!(cut.status, 507);
    let limited = get(
        &format!("{base}/tables/events?format=csv&limit=100&spool"),
        &[],
    )
    .await;
    assert_eq!(limited.status, 200);
    assert_eq!(
        limited.body.iter().filter(|b| **b == b'\n').count(),
        101,
        "a header and 100 rows"
    );

    // The file is in the spool folder while in use, and gone once the TTL has passed.
    let files = || -> usize {
        std::fs::read_dir(&spool_dir)
            .expect("read spool dir")
            .map(|d| {
                let d = d.expect("entry").path();
                if d.is_dir() {
                    std::fs::read_dir(d).expect("read").count()
                } else {
                    1
                }
            })
            .sum()
    };
    assert_eq!(
        files(),
        1,
        "the one spooled export, and no file of the failed ones"
    );
    // Private to the server's user: the folder 0700, the file 0600.
    {
        use std::os::unix::fs::PermissionsExt as _;
        let folder = std::fs::read_dir(&spool_dir)
            .expect("read spool dir")
            .next()
            .expect("the private folder")
            .expect("entry")
            .path();
        let mode = |p: &Path| std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777;
        assert_eq!(mode(&folder), 0o700);
        for file in std::fs::read_dir(&folder).expect("read folder") {
            assert_eq!(mode(&file.expect("entry").path()), 0o600);
        }
    }
    let etag = limited.header("etag").expect("etag").to_owned();
    let until = std::time::Instant::now() + Duration::from_secs(10);
    while files() > 0 {
        assert!(
            std::time::Instant::now() < until,
            "the spool file is removed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let again = get(
        &format!("{base}/tables/events?format=csv&limit=100&spool"),
        &[],
    )
    .await;
    assert_eq!(again.body, limited.body);
    assert_ne!(again.header("etag"), Some(etag.as_str()), "a new file");

    // A bad value names the parameter.
    let bad = get(&format!("{base}/tables/events?spool=maybe"), &[]).await;
    assert_eq!(bad.status, 400);
    let problem: Value = serde_json::from_slice(&bad.body).expect("JSON");
    assert_eq!(problem["parameter"], "spool");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_export_is_a_status_not_a_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (db, config) = database(dir.path()).await;
    let server = serve(&db, &config, &["--max-rows", "1500"]);
    let url = format!("{}/tables/events?format=csv", server.base);
    // Streamed, the export is cut mid-stream: a 200, then no terminating chunk ...
    let streamed = reqwest::get(&url).await.expect("request");
    assert_eq!(streamed.status(), 200);
    assert!(streamed.bytes().await.is_err(), "a cut body is an error");
    // ... spooled, nothing has been sent when it fails: a 500, for HEAD and GET alike.
    for head in [true, false] {
        let client = reqwest::Client::new();
        let request = if head {
            client.head(format!("{url}&spool"))
        } else {
            client.get(&url).header("range", "bytes=0-99")
        };
        let got = send(request).await;
        assert_eq!(got.status, 500, "head: {head}");
        assert_eq!(got.header("content-type"), Some("application/problem+json"));
        assert_eq!(got.header("content-range"), None);
        if !head {
            let problem: Value = serde_json::from_slice(&got.body).expect("JSON");
            assert_eq!(problem["title"], "The export passed a limit", "{problem}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spooling_can_be_turned_off() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (db, config) = database(dir.path()).await;
    let server = serve(&db, &config, &["--spool-max-bytes", "0"]);
    let url = format!("{}/tables/events?format=csv", server.base);
    let refused = get(&format!("{url}&spool"), &[]).await;
    assert_eq!(refused.status, 400);
    let problem: Value = serde_json::from_slice(&refused.body).expect("JSON");
    assert_eq!(problem["parameter"], "spool");
    // A Range is ignored: the whole export, streamed.
    let whole = get(&url, &[("range", "bytes=0-9")]).await;
    assert_eq!(whole.status, 200);
    assert_eq!(whole.header("content-length"), None);
    assert!(whole.body.len() > 40_000);
}
