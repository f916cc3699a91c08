//! Download affordances through the real `rowstream serve`: `?download[=NAME]` and its
//! `Content-Disposition` (RFC 6266, `filename*` per RFC 8187), the CSV options `bom`,
//! `header` and `delimiter`, and `--cors-origin`.

mod common;

use std::path::Path;

use common::binary::Binary;
use serde_json::Value;

/// A SQLite database with `flights`, a table with a non-ASCII name, and a config file
/// with the named query `late`; the `--db` URL and the config path.
async fn database(dir: &Path) -> (String, String) {
    let path = common::sqlite_file(
        dir.join("downloads.sqlite"),
        &[
            "CREATE TABLE flights (id INTEGER PRIMARY KEY, origin TEXT, delay REAL)",
            "INSERT INTO flights VALUES (1, 'JFK', 12.5), (2, 'Zürich; \"ZRH\"', NULL), \
             (3, 'A\tB', -3.0)",
            "CREATE TABLE \"vols été\" (id INTEGER PRIMARY KEY)",
            "INSERT INTO \"vols été\" VALUES (1)",
        ],
    )
    .await;
    let config = dir.join("rowstream.toml");
    std::fs::write(
        &config,
        "[queries.late]\n\
         sql = \"SELECT id, origin FROM flights WHERE delay > ? ORDER BY id\"\n\
         params = [{ name = \"min\", type = \"float\" }]\n",
    )
    .expect("write config");
    (
        format!("sqlite://{}", path.display()),
        config.display().to_string(),
    )
}

struct Got {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Got {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(name)
            .map(|v| v.to_str().expect("visible ASCII"))
    }

    /// The problem's `parameter`, after checking it is a `400` problem+json.
    fn bad_parameter(&self) -> String {
        assert_eq!(self.status, 400, "{}", String::from_utf8_lossy(&self.body));
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json")
        );
        let problem: Value = serde_json::from_slice(&self.body).expect("JSON");
        problem["parameter"].as_str().expect("parameter").to_owned()
    }
}

async fn get(url: &str) -> Got {
    send(reqwest::Client::new().get(url)).await
}

async fn send(request: reqwest::RequestBuilder) -> Got {
    let response = request.send().await.expect("request");
    Got {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body: response.bytes().await.expect("body").to_vec(),
    }
}

fn serve(db: &str, config: &str, extra: &[&str]) -> Binary {
    let mut args = vec!["--bind", "127.0.0.1:0", "--db", db, "--config", config];
    args.extend_from_slice(extra);
    Binary::serve(&args, &[])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_names_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (db, config) = database(dir.path()).await;
    let server = serve(&db, &config, &[]);
    let base = &server.base;

    let plain = get(&format!("{base}/tables/flights?format=csv")).await;
    assert_eq!(plain.status, 200);
    assert_eq!(plain.header("content-disposition"), None);

    for (query, file) in [
        ("format=csv&download", "flights.csv"),
        ("format=json&download=", "flights.json"),
        ("format=ndjson&download", "flights.ndjson"),
        ("format=jsonseq&download", "flights.json-seq"),
        ("format=msgpack&download", "flights.msgpack"),
        ("format=csv&delimiter=tab&download", "flights.tsv"),
        ("format=csv&download=june", "june.csv"),
        ("format=csv&download=june.csv", "june.csv"),
        (
            "format=ndjson&download=june%20flights",
            "june flights.ndjson",
        ),
    ] {
        let got = get(&format!("{base}/tables/flights?{query}")).await;
        assert_eq!(got.status, 200, "{query}");
        assert_eq!(
            got.header("content-disposition"),
            Some(format!("attachment; filename=\"{file}\"").as_str()),
            "{query}"
        );
    }

    // HEAD says the same.
    let head = send(reqwest::Client::new().head(format!("{base}/tables/flights?download"))).await;
    assert_eq!(head.status, 200);
    assert_eq!(
        head.header("content-disposition"),
        Some("attachment; filename=\"flights.json\"")
    );

    // A named query: its name.
    let got = get(&format!("{base}/queries/late?min=0&format=csv&download")).await;
    assert_eq!(got.status, 200);
    assert_eq!(
        got.header("content-disposition"),
        Some("attachment; filename=\"late.csv\"")
    );
    assert_eq!(got.body, b"id,origin\r\n1,JFK\r\n");

    // Non-ASCII: an ASCII fallback and filename* (RFC 8187).
    let got = get(&format!(
        "{base}/tables/vols%20%C3%A9t%C3%A9?format=csv&download"
    ))
    .await;
    assert_eq!(got.status, 200);
    assert_eq!(
        got.header("content-disposition"),
        Some("attachment; filename=\"vols _t_.csv\"; filename*=UTF-8''vols%20%C3%A9t%C3%A9.csv")
    );
    let got = get(&format!("{base}/tables/flights?download=d%C3%A9parts")).await;
    assert_eq!(
        got.header("content-disposition"),
        Some("attachment; filename=\"d_parts.json\"; filename*=UTF-8''d%C3%A9parts.json")
    );

    // A name with a path separator, a quote or a control character is refused.
    for name in ["a/b", "..%2Fetc", "a%5Cb", "a%22b", "a%0Ab", "a%7F"] {
        let got = get(&format!("{base}/tables/flights?download={name}")).await;
        assert_eq!(got.bad_parameter(), "download", "{name}");
        assert_eq!(got.header("content-disposition"), None);
    }
    let long = "x".repeat(201);
    let got = get(&format!("{base}/tables/flights?download={long}")).await;
    assert_eq!(got.bad_parameter(), "download");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_options() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (db, config) = database(dir.path()).await;
    let server = serve(&db, &config, &[]);
    let table = format!("{}/tables/flights?format=csv", server.base);

    let plain = get(&table).await;
    assert_eq!(
        String::from_utf8(plain.body).unwrap(),
        "id,origin,delay\r\n1,JFK,12.5\r\n2,\"Zürich; \"\"ZRH\"\"\",\r\n3,A\tB,-3.0\r\n"
    );

    let bom = get(&format!("{table}&bom=true")).await;
    assert_eq!(bom.status, 200);
    assert_eq!(&bom.body[..3], [0xEF, 0xBB, 0xBF]);
    assert_eq!(&bom.body[3..18], b"id,origin,delay");
    assert_eq!(get(&format!("{table}&bom=false")).await.body[0], b'i');

    let headless = get(&format!("{table}&header=false")).await;
    assert_eq!(
        headless.header("content-type"),
        Some("text/csv; charset=utf-8; header=absent")
    );
    assert_eq!(
        String::from_utf8(headless.body).unwrap(),
        "1,JFK,12.5\r\n2,\"Zürich; \"\"ZRH\"\"\",\r\n3,A\tB,-3.0\r\n"
    );

    let semicolon = get(&format!("{table}&delimiter=%3B&bom=true&header=false")).await;
    assert_eq!(
        semicolon.body,
        "\u{feff}1;JFK;12.5\r\n2;\"Zürich; \"\"ZRH\"\"\";\r\n3;A\tB;-3.0\r\n".as_bytes()
    );

    let tab = get(&format!("{table}&delimiter=tab")).await;
    assert_eq!(tab.status, 200);
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(b'\t')
        .from_reader(tab.body.as_slice());
    assert_eq!(
        reader.headers().expect("header"),
        vec!["id", "origin", "delay"]
    );
    let records: Vec<Vec<String>> = reader
        .records()
        .map(|r| r.expect("record").iter().map(str::to_owned).collect())
        .collect();
    assert_eq!(
        records,
        [
            ["1", "JFK", "12.5"],
            ["2", "Zürich; \"ZRH\"", ""],
            ["3", "A\tB", "-3.0"]
        ]
    );

    // Named queries take them too.
    let got = get(&format!(
        "{}/queries/late?min=0&format=csv&header=false&delimiter=tab",
        server.base
    ))
    .await;
    assert_eq!(got.body, b"1\tJFK\r\n");

    for (query, parameter) in [
        ("delimiter=%7C", "delimiter"),
        ("delimiter=", "delimiter"),
        ("delimiter=TAB", "delimiter"),
        ("bom=yes", "bom"),
        ("bom=", "bom"),
        ("header=0", "header"),
    ] {
        let got = get(&format!("{table}&{query}")).await;
        assert_eq!(got.bad_parameter(), parameter, "{query}");
    }
    for format in ["json", "ndjson", "jsonseq", "msgpack"] {
        for (option, value) in [("bom", "true"), ("header", "false"), ("delimiter", "tab")] {
            let got = get(&format!(
                "{}/tables/flights?format={format}&{option}={value}",
                server.base
            ))
            .await;
            assert_eq!(got.bad_parameter(), option, "{format} {option}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_origins() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (db, config) = database(dir.path()).await;
    let allowed = "https://app.example.com";
    let server = serve(
        &db,
        &config,
        &[
            "--cors-origin",
            "https://APP.example.com/",
            "--cors-origin",
            "http://localhost:8080",
            "--token",
            "s3cret",
        ],
    );
    let url = format!("{}/tables/flights?format=csv&download", server.base);
    let client = reqwest::Client::new();

    // A preflight, as a browser sends it before a GET with Authorization: answered by
    // the CORS layer, no token needed.
    let preflight = |origin: &str| {
        client
            .request(reqwest::Method::OPTIONS, &url)
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
    };
    let got = send(preflight(allowed)).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.header("access-control-allow-origin"), Some(allowed));
    assert_eq!(got.header("access-control-allow-methods"), Some("GET,HEAD"));
    assert_eq!(
        got.header("access-control-allow-headers"),
        Some("authorization,accept,x-request-id,prefer,range,if-range,if-none-match")
    );
    assert_eq!(got.header("access-control-max-age"), Some("3600"));
    let got = send(preflight("http://localhost:8080")).await;
    assert_eq!(
        got.header("access-control-allow-origin"),
        Some("http://localhost:8080")
    );
    let got = send(preflight("https://evil.example.com")).await;
    assert_eq!(got.header("access-control-allow-origin"), None);

    // The GET itself, from an allowed origin: readable, with the headers a client needs.
    let got = send(
        client
            .get(&url)
            .header("origin", allowed)
            .header("authorization", "Bearer s3cret"),
    )
    .await;
    assert_eq!(got.status, 200);
    assert_eq!(got.header("access-control-allow-origin"), Some(allowed));
    assert_eq!(
        got.header("access-control-expose-headers"),
        Some(
            "content-disposition,x-request-id,retry-after,rowstream-outcome,rowstream-rows,\
             rowstream-error,rowstream-last-key,rowstream-count,preference-applied,etag,\
             content-range,accept-ranges"
        )
    );
    assert_eq!(
        got.header("content-disposition"),
        Some("attachment; filename=\"flights.csv\"")
    );
    assert!(got.body.starts_with(b"id,origin,delay\r\n"));

    // From another origin: answered (CORS is the browser's to enforce) but without
    // Access-Control-Allow-Origin, so no page of that origin can read it.
    let got = send(
        client
            .get(&url)
            .header("origin", "https://evil.example.com")
            .header("authorization", "Bearer s3cret"),
    )
    .await;
    assert_eq!(got.status, 200);
    assert_eq!(got.header("access-control-allow-origin"), None);

    // The token is still required for the data.
    let got = send(client.get(&url).header("origin", allowed)).await;
    assert_eq!(got.status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_cors_origins_there_are_no_cors_headers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (db, config) = database(dir.path()).await;
    let server = serve(&db, &config, &[]);
    let url = format!("{}/tables/flights", server.base);
    let got = send(
        reqwest::Client::new()
            .request(reqwest::Method::OPTIONS, &url)
            .header("origin", "https://app.example.com")
            .header("access-control-request-method", "GET"),
    )
    .await;
    assert_eq!(got.status, 405);
    assert_eq!(got.header("access-control-allow-origin"), None);
    let got = send(
        reqwest::Client::new()
            .get(&url)
            .header("origin", "https://app.example.com"),
    )
    .await;
    assert_eq!(got.status, 200);
    assert_eq!(got.header("access-control-allow-origin"), None);
}

#[test]
fn a_cors_origin_with_a_path_is_refused() {
    for bad in [
        "https://app.example.com/x",
        "*",
        "ftp://x",
        "app.example.com",
    ] {
        let output = common::binary::command(&["serve", "--cors-origin", bad])
            .output()
            .expect("run rowstream");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{bad}: {stderr}");
        assert!(stderr.contains("is not a web origin"), "{bad}: {stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_takes_the_csv_options() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (db, _) = database(dir.path()).await;
    let export = |extra: &[&str]| {
        let mut args = vec!["export", "--db", &db, "--table", "flights"];
        args.extend_from_slice(extra);
        common::binary::command(&args)
            .output()
            .expect("run rowstream")
    };
    let output = export(&[
        "--format",
        "csv",
        "--bom",
        "--no-header",
        "--delimiter",
        ";",
    ]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        output.stdout,
        "\u{feff}1;JFK;12.5\r\n2;\"Zürich; \"\"ZRH\"\"\";\r\n3;A\tB;-3.0\r\n".as_bytes()
    );
    let output = export(&["--format", "csv", "--delimiter", "tab"]);
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        "id\torigin\tdelay\r\n1\tJFK\t12.5\r\n2\t\"Zürich; \"\"ZRH\"\"\"\t\r\n3\t\"A\tB\"\t-3.0\r\n"
    );
    let output = export(&["--format", "ndjson", "--bom"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "error: --bom, --no-header and --delimiter are for --format csv\n"
    );
    let output = export(&["--format", "csv", "--delimiter", "|"]);
    assert_eq!(output.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_slice_form_redirects_to_the_export_url() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (db, config) = database(dir.path()).await;
    let server = serve(&db, &config, &[]);
    let base = &server.base;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let location = |got: &Got| got.header("location").map(str::to_owned);

    // Every field: empty ones left out, the filter composed, a list of one in parentheses.
    let got = send(client.get(format!(
        "{base}/slice?table=flights&select=id%2Corigin&column=origin&not=true&op=in\
         &value=JFK&order=&limit=10&format=csv&download=true"
    )))
    .await;
    assert_eq!(got.status, 303);
    assert_eq!(
        location(&got).as_deref(),
        Some(
            "tables/flights?select=id%2Corigin&origin=not.in.%28JFK%29&limit=10&format=csv&download="
        )
    );
    // The bare minimum; a column named like a parameter is quoted; a name needing escapes.
    let got = send(client.get(format!(
        "{base}/slice?table=vols%20%C3%A9t%C3%A9&column=limit&op=eq&value=5&download="
    )))
    .await;
    assert_eq!(got.status, 303);
    assert_eq!(
        location(&got).as_deref(),
        Some("tables/vols%20%C3%A9t%C3%A9?%22limit%22=eq.5")
    );
    // No filter: the operator's default alone is none.
    let got = send(client.get(format!(
        "{base}/slice?table=flights&select=&column=&op=eq&value=+&order=&limit="
    )))
    .await;
    assert_eq!(got.status, 303);
    assert_eq!(location(&got).as_deref(), Some("tables/flights"));
    // Bad forms: a 400 naming the field.
    for (query, field) in [
        ("select=a", "table"),
        ("table=flights&column=id&op=drop&value=1", "op"),
        ("table=flights&sql=1", "sql"),
        // A filter without its column, which would be dropped.
        ("table=flights&column=&op=eq&value=5", "value"),
        ("table=flights&op=gt&value=5", "value"),
        ("table=flights&column=+&not=true&op=eq&value=", "not"),
        // A field given twice: which one was meant is not the server's guess.
        ("table=flights&table=events", "table"),
        ("table=flights&limit=1&select=id&limit=2", "limit"),
        ("table=flights&column=id&op=eq&value=1&value=2", "value"),
    ] {
        let got = send(client.get(format!("{base}/slice?{query}"))).await;
        assert_eq!(got.bad_parameter(), field, "{query}");
    }
    let got = send(client.get(format!("{base}/slice?table=a&table=b"))).await;
    let problem: Value = serde_json::from_slice(&got.body).expect("problem+json");
    assert_eq!(problem["title"], "Repeated parameter");
}
