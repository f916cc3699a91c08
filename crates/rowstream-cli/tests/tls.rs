//! TLS to the database through `rowstream serve`: `sslmode` / `ssl-mode` in the URL as
//! `psql` and `mysql` read them. The machine's PostgreSQL has TLS on (the session is
//! checked in `pg_stat_ssl`); a URL that asks for TLS from a server without it, or for a
//! certificate check that fails, stops the command at start with one line and exit 1.

mod common;

use std::process::Output;

use common::binary::{Binary, command};
use common::cluster::Cluster;
use common::sql;

/// `url` with `param` added to its query string.
fn with_param(url: &str, param: &str) -> String {
    let joiner = if url.contains('?') { '&' } else { '?' };
    format!("{url}{joiner}{param}")
}

/// A config file with one named query, `name`, in a temporary folder.
fn config(name: &str, sql: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join("rowstream.toml");
    std::fs::write(&path, format!("[queries.{name}]\nsql = \"{sql}\"\n")).expect("write");
    let path = path.to_str().expect("a UTF-8 path").to_owned();
    (dir, path)
}

/// `GET url` as JSON.
fn get_json(url: &str) -> serde_json::Value {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async {
        let response = reqwest::get(url).await.expect("a response");
        assert_eq!(response.status(), 200, "{url}");
        let body = response.bytes().await.expect("a body");
        serde_json::from_slice(&body).expect("JSON")
    })
}

/// `rowstream serve ARGS…` expected to fail at start: its one stderr line.
fn fails_at_start(args: &[&str]) -> String {
    let mut argv = vec!["serve", "--bind", "127.0.0.1:0"];
    argv.extend_from_slice(args);
    let Output {
        status,
        stdout,
        stderr,
    } = command(&argv).output().expect("run rowstream");
    let stderr = String::from_utf8_lossy(&stderr).into_owned();
    assert_eq!(status.code(), Some(1), "stderr: {stderr}");
    assert!(
        !String::from_utf8_lossy(&stdout).contains("listening"),
        "it must not start"
    );
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    lines[0].to_owned()
}

const PG_SSL: &str = "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()";

#[test]
fn postgres_sslmode_require_encrypts_the_session() {
    let Some(url) = sql::postgres_url() else {
        return;
    };
    let (_dir, config) = config("ssl", PG_SSL);
    let session = |mode: &str| {
        let server = Binary::serve(
            &[
                "--db",
                &with_param(&url, &format!("sslmode={mode}")),
                "--config",
                &config,
                "--bind",
                "127.0.0.1:0",
            ],
            &[],
        );
        get_json(&format!("{}/queries/ssl?format=json", server.base))
    };
    let required = session("require");
    assert_eq!(required[0]["ssl"], true, "{required}");
    let version = required[0]["version"].as_str().expect("a TLS version");
    assert!(version.starts_with("TLSv1."), "{version}");
    // The same query tells a plain session apart.
    let plain = session("disable");
    assert_eq!(plain[0]["ssl"], false, "{plain}");
}

#[test]
fn postgres_certificates_are_checked_when_asked() {
    let Some(url) = sql::postgres_url() else {
        return;
    };
    // The machine's server has a self-signed certificate: no built-in root vouches for it.
    let line = fails_at_start(&["--db", &with_param(&url, "sslmode=verify-full")]);
    assert!(
        line.starts_with("error: cannot connect to PostgreSQL at 127.0.0.1:5432: TLS failed: "),
        "{line}"
    );
    assert!(line.contains("certificate"), "{line}");
    let line = fails_at_start(&[
        "--db",
        &with_param(&url, "sslmode=verify-ca"),
        "--db-ca",
        "/nonexistent/ca.pem",
    ]);
    assert!(
        line.starts_with("error: cannot read --db-ca /nonexistent/ca.pem: "),
        "{line}"
    );
    let line = fails_at_start(&["--db", &with_param(&url, "sslmode=sometimes")]);
    assert!(line.starts_with("error: invalid PostgreSQL URL"), "{line}");
}

#[test]
fn postgres_without_tls_refuses_a_url_that_requires_it() {
    if sql::postgres_url().is_none() {
        return;
    }
    let cluster = Cluster::start();
    let line = fails_at_start(&["--db", &with_param(&cluster.url(), "sslmode=require")]);
    assert_eq!(
        line,
        format!(
            "error: cannot connect to PostgreSQL at 127.0.0.1:{}: TLS failed: server does not \
             support TLS",
            cluster.port
        )
    );
    // `prefer`, the default, falls back to a plain session.
    let (_dir, config) = config("ssl", PG_SSL);
    let server = Binary::serve(
        &[
            "--db",
            &cluster.url(),
            "--config",
            &config,
            "--bind",
            "127.0.0.1:0",
        ],
        &[],
    );
    let plain = get_json(&format!("{}/queries/ssl?format=json", server.base));
    assert_eq!(plain[0]["ssl"], false, "{plain}");
}

#[test]
fn mariadb_ssl_mode_required() {
    let Some(url) = sql::mysql_url() else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let have_ssl: String = runtime.block_on(async {
        let pool = sqlx::MySqlPool::connect(&url).await.expect("connect");
        let row: (String, String) = sqlx::query_as("SHOW VARIABLES LIKE 'have_ssl'")
            .fetch_one(&pool)
            .await
            .expect("have_ssl");
        row.1
    });
    let required = with_param(&url, "ssl-mode=REQUIRED");
    if have_ssl == "YES" {
        let (_dir, config) = config(
            "cipher",
            "SELECT VARIABLE_VALUE AS cipher FROM information_schema.SESSION_STATUS \
             WHERE VARIABLE_NAME = 'Ssl_cipher'",
        );
        let server = Binary::serve(
            &[
                "--db",
                &required,
                "--config",
                &config,
                "--bind",
                "127.0.0.1:0",
            ],
            &[],
        );
        let seen = get_json(&format!("{}/queries/cipher?format=json", server.base));
        let cipher = seen[0]["cipher"].as_str().expect("a cipher");
        assert!(!cipher.is_empty(), "{seen}");
    } else {
        // This server has no TLS: the URL that requires it stops the command.
        let line = fails_at_start(&["--db", &required]);
        assert!(
            line.starts_with("error: cannot connect to MySQL/MariaDB at ")
                && line.ends_with(": TLS failed: server does not support TLS"),
            "{line}"
        );
    }
}
