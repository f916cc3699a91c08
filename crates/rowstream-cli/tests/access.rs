//! Access: the bearer token on every endpoint but `/healthz`, tables allowed and denied by
//! the config file, and the startup warning for a server reachable from other hosts
//! without a token (from the real binary).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::Server;
use common::binary::Binary;
use rowstream_cli::access::Token;
use rowstream_cli::config::ConfigFile;
use rowstream_cli::{Settings, router_with};
use serde_json::{Value, json};

const TOKEN: &str = "s3cret-token_0123456789";

/// A database with a public table, a secret one, a view and a table named like markup.
async fn fixture(dir: &Path) -> PathBuf {
    common::sqlite_file(
        dir.join("access.sqlite"),
        &[
            "CREATE TABLE public (id INTEGER PRIMARY KEY, v TEXT)",
            "INSERT INTO public VALUES (1, 'a'), (2, 'b')",
            "CREATE TABLE secret (id INTEGER PRIMARY KEY, password TEXT)",
            "INSERT INTO secret VALUES (1, 'hunter2')",
            "CREATE TABLE other (x INTEGER)",
            "CREATE VIEW public_view AS SELECT v FROM public",
        ],
    )
    .await
}

async fn start(dir: &Path, config: &str, token: Option<&str>) -> Server {
    let pool = rowstream_cli::open_readonly_path(&fixture(dir).await)
        .await
        .expect("open");
    let config = ConfigFile::parse(config).expect("config");
    let settings = Settings {
        queries: config.queries,
        tables: config.tables,
        token: token.map(|t| Token::new(t).expect("token")),
        metrics: Some(rowstream_cli::server::install_metrics().expect("recorder")),
        ..Settings::default()
    };
    Server::start_app(router_with(pool, settings)).await
}

/// Status, headers and body of a request with the given `Authorization` values.
async fn fetch(
    method: reqwest::Method,
    url: &str,
    authorization: &[&str],
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let mut request = reqwest::Client::new().request(method, url);
    for value in authorization {
        request = request.header("authorization", *value);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.bytes().await.expect("body").to_vec();
    (status, headers, body)
}

const QUERIES: &str = "[queries.all_public]\nsql = \"SELECT v FROM public ORDER BY id\"\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_guards_every_endpoint_but_healthz() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(dir.path(), QUERIES, Some(TOKEN)).await;
    let bearer = format!("Bearer {TOKEN}");
    let paths = [
        "/",
        "/tables",
        "/tables/public",
        "/tables/public?format=csv",
        "/tables/nope",
        "/queries",
        "/queries/all_public",
        "/metrics",
        "/nope",
    ];
    for path in paths {
        let url = server.url(path);
        for (authorization, error) in [
            (&[][..], None),
            (&["Bearer wrong"][..], Some("invalid_token")),
            (
                &[format!("Bearer {TOKEN}x").as_str()][..],
                Some("invalid_token"),
            ),
            (
                &[format!("Bearer {}", &TOKEN[..TOKEN.len() - 1]).as_str()][..],
                Some("invalid_token"),
            ),
            (&[format!("Basic {TOKEN}").as_str()][..], None),
            (&[TOKEN][..], Some("invalid_request")),
            (&["Bearer "][..], Some("invalid_request")),
            (
                &[bearer.as_str(), "Bearer wrong"][..],
                Some("invalid_request"),
            ),
        ] {
            let (status, headers, body) = fetch(reqwest::Method::GET, &url, authorization).await;
            assert_eq!(status, 401, "{path} {authorization:?}");
            let challenge = headers["www-authenticate"].to_str().expect("ASCII");
            assert!(
                challenge.starts_with("Bearer realm=\"rowstream\""),
                "{challenge}"
            );
            match error {
                Some(error) => assert!(
                    challenge.contains(&format!("error=\"{error}\"")),
                    "{path} {authorization:?}: {challenge}"
                ),
                None => assert!(!challenge.contains("error="), "{challenge}"),
            }
            assert_eq!(headers["content-type"], "application/problem+json");
            assert!(headers.contains_key("x-request-id"));
            let problem: Value = serde_json::from_slice(&body).expect("problem");
            assert_eq!(problem["status"], 401);
            assert_eq!(problem["title"], "Unauthorized");
            let body = String::from_utf8_lossy(&body);
            assert!(!body.contains("hunter2") && !body.contains(TOKEN), "{body}");
        }
        let (status, headers, _) = fetch(reqwest::Method::HEAD, &url, &[]).await;
        assert_eq!(status, 401, "HEAD {path}");
        assert!(headers.contains_key("www-authenticate"));

        // The right token, whatever the case of the scheme.
        for authorization in [
            bearer.clone(),
            format!("bearer {TOKEN}"),
            format!("BEARER  {TOKEN}"),
        ] {
            let (status, _, _) = fetch(reqwest::Method::GET, &url, &[authorization.as_str()]).await;
            let expected = if matches!(path, "/nope" | "/tables/nope") {
                404
            } else {
                200
            };
            assert_eq!(status, expected, "{path} {authorization}");
        }
    }
    let (_, _, body) = fetch(
        reqwest::Method::GET,
        &server.url("/tables/public"),
        &[bearer.as_str()],
    )
    .await;
    assert_eq!(
        serde_json::from_slice::<Value>(&body).expect("rows"),
        json!([{"id": 1, "v": "a"}, {"id": 2, "v": "b"}])
    );

    // Health checks need no token.
    let (status, _, body) = fetch(reqwest::Method::GET, &server.url("/healthz"), &[]).await;
    assert_eq!((status, body.as_slice()), (200, &b"ok"[..]));
    let (status, _, _) = fetch(
        reqwest::Method::GET,
        &server.url("/healthz"),
        &["Bearer wrong"],
    )
    .await;
    assert_eq!(status, 200);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denied_tables_look_exactly_like_missing_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = format!(
        "{QUERIES}\n[tables]\nallow = [\"public\", \"public_view\", \"secret\", \"not_there\"]\ndeny = [\"secret\"]\n"
    );
    let server = start(dir.path(), &config, None).await;

    let (status, _, body) = fetch(reqwest::Method::GET, &server.url("/tables"), &[]).await;
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_slice::<Value>(&body).expect("names"),
        json!(["public", "public_view"])
    );
    let (status, _, body) = fetch(reqwest::Method::GET, &server.url("/tables/public"), &[]).await;
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_slice::<Value>(&body).expect("rows"),
        json!([{"id": 1, "v": "a"}, {"id": 2, "v": "b"}])
    );

    // Denied (`secret`), not allowed (`other`) and missing (`missing`, `not_there`) answer
    // byte for byte the same, in every format and for HEAD.
    for suffix in ["", "?format=csv", "?format=ndjson&complete=true"] {
        for method in [reqwest::Method::GET, reqwest::Method::HEAD] {
            let missing = fetch(
                method.clone(),
                &server.url(&format!("/tables/missing{suffix}")),
                &[],
            )
            .await;
            assert_eq!(missing.0, 404);
            for name in ["secret", "other", "not_there"] {
                let (status, headers, body) = fetch(
                    method.clone(),
                    &server.url(&format!("/tables/{name}{suffix}")),
                    &[],
                )
                .await;
                assert_eq!(status, missing.0, "{method} {name}{suffix}");
                assert_eq!(body, missing.2, "{method} {name}{suffix}");
                for header in ["content-type", "content-length"] {
                    assert_eq!(headers.get(header), missing.1.get(header), "{header}");
                }
            }
        }
    }
    // The index page does not name them either.
    let (status, _, body) = fetch(reqwest::Method::GET, &server.url("/"), &[]).await;
    assert_eq!(status, 200);
    let page = String::from_utf8(body).expect("UTF-8");
    assert!(page.contains("tables/public?format=json"), "{page}");
    for hidden in ["secret", "other", "not_there"] {
        assert!(!page.contains(hidden), "{hidden} on the index page");
    }
    server.stop().await;
}

/// `rowstream serve` on `db`, bound to `bind`, with `token` in `ROWSTREAM_TOKEN`.
fn serve(db: &Path, bind: &str, token: Option<&str>) -> Binary {
    let db = format!("sqlite://{}", db.display());
    let env: Vec<(&str, &str)> = token.map(|t| ("ROWSTREAM_TOKEN", t)).into_iter().collect();
    Binary::serve(&["--bind", bind, "--db", &db], &env)
}

fn warnings(log: &[String]) -> Vec<&String> {
    log.iter()
        .filter(|l| l.contains("WARN") && l.contains("without a token"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_warns_when_reachable_from_other_hosts_without_a_token() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = fixture(dir.path()).await;

    // Loopback, the default: no warning.
    let server = serve(&db, "127.0.0.1:0", None);
    let log = server.startup_log();
    assert!(warnings(&log).is_empty(), "{log:#?}");
    drop(server);

    // All interfaces without a token: a warning at startup.
    let server = serve(&db, "0.0.0.0:0", None);
    let log = server.startup_log();
    let warned = warnings(&log);
    assert_eq!(warned.len(), 1, "{log:#?}");
    assert!(warned[0].contains("0.0.0.0:"), "{}", warned[0]);
    assert!(warned[0].contains("--token"), "{}", warned[0]);
    let response = reqwest::get(format!("{}/tables", server.base))
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    drop(server);

    // All interfaces with a token: no warning, and the token is required.
    let server = serve(&db, "0.0.0.0:0", Some(TOKEN));
    let log = server.startup_log();
    assert!(warnings(&log).is_empty(), "{log:#?}");
    assert!(
        !log.iter().any(|l| l.contains(TOKEN)),
        "the token is never logged"
    );
    let client = reqwest::Client::new();
    let url = format!("{}/tables", server.base);
    let response = client.get(&url).send().await.expect("request");
    assert_eq!(response.status(), 401);
    let response = client
        .get(&url)
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    assert_eq!(
        serde_json::from_slice::<Value>(&response.bytes().await.expect("body")).expect("names"),
        json!(["other", "public", "public_view", "secret"])
    );
    drop(server);
}

#[test]
fn an_empty_or_malformed_token_is_refused_at_startup() {
    let dir = tempfile::tempdir().expect("tempdir");
    for token in ["", "two words"] {
        let output = Command::new(env!("CARGO_BIN_EXE_rowstream"))
            .args(["serve", "--bind", "127.0.0.1:0", "--db"])
            .arg(format!(
                "sqlite://{}",
                dir.path().join("none.sqlite").display()
            ))
            .args(["--token", token])
            .env_remove("ROWSTREAM_TOKEN")
            .stdin(Stdio::null())
            .output()
            .expect("run rowstream");
        assert!(!output.status.success(), "{token:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("token"), "{token:?}: {stderr}");
    }
}
