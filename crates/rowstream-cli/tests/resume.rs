//! Resumable exports on SQLite, PostgreSQL and MariaDB, through the binary: `?after=KEY`
//! returns exactly the rows after the key (typed: a key that does not parse is a `400`
//! naming `after`), and `rowstream export --resume` turns a partial NDJSON or CSV file —
//! cut anywhere, even inside a record — into the complete export, byte for byte.

mod common;

use std::path::Path;
use std::process::Command;

use common::binary::{Binary, command};
use common::sql::{self, Scratch};

/// Rows of the `items` table: ids 1 to [`ROWS`].
const ROWS: i64 = 2500;

/// `items (id, name)` with [`ROWS`] rows (a name with a comma, a quote and a line break
/// every 100th row), `loose (v)` without a key; `statements` in this database's dialect.
fn fixtures(int: &str, text: &str) -> Vec<String> {
    let mut statements = vec![
        format!("CREATE TABLE items (id {int} PRIMARY KEY, name {text})"),
        format!("CREATE TABLE loose (v {int})"),
        "INSERT INTO loose VALUES (1)".to_owned(),
    ];
    for start in (1..=ROWS).step_by(500) {
        let values: Vec<String> = (start..start + 500)
            .map(|id| {
                if id % 100 == 0 {
                    format!("({id}, 'row {id}, \"quoted\"\nnext line')")
                } else {
                    format!("({id}, 'row {id}')")
                }
            })
            .collect();
        statements.push(format!("INSERT INTO items VALUES {}", values.join(", ")));
    }
    statements
}

/// `curl -sS URL`: the exit code, the status and the body.
fn curl(url: &str) -> (i32, u16, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "60", "-w", "\n%{http_code}", url])
        .output()
        .expect("run curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').expect("a status line");
    (
        out.status.code().unwrap_or(-1),
        status.parse().expect("a status"),
        body.to_owned(),
    )
}

/// `?after=` through `rowstream serve --db URL`.
fn assert_after(label: &str, url: &str) {
    let server = Binary::serve(
        &["--db", url, "--bind", "127.0.0.1:0", "--batch-size", "300"],
        &[],
    );
    let table = format!("{}/tables/items?format=ndjson", server.base);
    for after in [0, 1, 299, 300, 1234, 2499] {
        let (exit, status, body) = curl(&format!("{table}&after={after}"));
        assert_eq!((exit, status), (0, 200), "{label}: after={after}");
        let ids: Vec<i64> = body
            .lines()
            .map(|line| {
                let row: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
                row["id"].as_i64().expect("an id")
            })
            .collect();
        let expected: Vec<i64> = (after + 1..=ROWS).collect();
        assert_eq!(ids, expected, "{label}: after={after}");
    }
    let (_, status, body) = curl(&format!("{table}&after={ROWS}"));
    assert_eq!(
        (status, body.as_str()),
        (200, ""),
        "{label}: nothing after the last key"
    );
    for bad in ["abc", "1.5", "%2B7", "99999999999999999999"] {
        let (_, status, body) = curl(&format!("{table}&after={bad}"));
        assert_eq!(status, 400, "{label}: after={bad}: {body}");
        let problem: serde_json::Value = serde_json::from_str(&body).expect("problem+json");
        assert_eq!(problem["parameter"], "after", "{label}: {body}");
    }
    let (_, status, body) = curl(&format!("{}/tables/loose?after=1", server.base));
    assert_eq!(status, 400, "{label}: {body}");
    assert!(body.contains("not read in key order"), "{label}: {body}");

    // The position: `last_key` in the completion record and the trailer.
    let (_, _, body) = curl(&format!("{table}&after=1234&complete=true"));
    let end: serde_json::Value =
        serde_json::from_str(body.lines().last().expect("a record")).expect("JSON");
    assert_eq!(
        end,
        serde_json::json!({"$rowstream": {"complete": true, "rows": 1266, "last_key": "2500"}}),
        "{label}"
    );
    let raw = Command::new("curl")
        .args(["-sS", "--raw", "-H", "TE: trailers"])
        .arg(format!("{table}&limit=10"))
        .output()
        .expect("run curl");
    let raw = String::from_utf8_lossy(&raw.stdout).into_owned();
    assert!(
        raw.ends_with("rowstream-last-key: 10\r\n\r\n"),
        "{label}: {raw}"
    );
    // A cut export says where it stopped.
    let limited = Binary::serve(
        &[
            "--db",
            url,
            "--bind",
            "127.0.0.1:0",
            "--batch-size",
            "300",
            "--max-rows",
            "700",
        ],
        &[],
    );
    let (exit, _, body) = curl(&format!(
        "{}/tables/items?format=csv&complete=true&after=1000",
        limited.base
    ));
    assert_ne!(exit, 0, "{label}: the cut is detectable");
    let end = body.lines().last().expect("a record");
    assert!(
        end.contains(r#"""complete"":false,""rows"":700,""last_key"":""1700"","#),
        "{label}: {end}"
    );
}

/// `rowstream export --db URL --table items --format FORMAT -o PATH [--resume]`.
fn export(url: &str, format: &str, path: &Path, resume: bool) -> std::process::Output {
    let path = path.to_str().expect("a UTF-8 path");
    let mut args = vec![
        "export", "--db", url, "--table", "items", "--format", format, "-o", path,
    ];
    if resume {
        args.push("--resume");
    }
    args.extend(["--batch-size", "300"]);
    command(&args).output().expect("run rowstream export")
}

/// `--resume` turns every cut of the full export into the full export.
fn assert_resume(label: &str, url: &str) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    for format in ["ndjson", "csv"] {
        let full_path = dir.path().join(format!("full.{format}"));
        let out = export(url, format, &full_path, false);
        assert!(out.status.success(), "{label}: {out:?}");
        let full = std::fs::read(&full_path).expect("the full export");
        let lines = full.iter().filter(|&&b| b == b'\n').count();
        assert!(lines as i64 >= ROWS, "{label} {format}: {lines} lines");
        // Cuts: nothing, inside the first record (the CSV header), inside a quoted line
        // break, right after a record, in the middle, one byte short, complete.
        let quoted = full
            .windows(9)
            .position(|w| w == b"next line")
            .expect("a quoted line break");
        let line_end = full.iter().position(|&b| b == b'\n').expect("a line");
        let cuts = [
            0,
            3,
            quoted - 2,
            quoted + 3,
            line_end + 1,
            full.len() / 2,
            full.len() - 1,
            full.len(),
        ];
        for cut in cuts {
            let part = dir.path().join(format!("part.{format}"));
            std::fs::write(&part, &full[..cut]).expect("write the partial file");
            let out = export(url, format, &part, true);
            assert!(
                out.status.success(),
                "{label} {format} cut at {cut}: {out:?}"
            );
            let resumed = std::fs::read(&part).expect("the resumed file");
            assert!(
                resumed == full,
                "{label} {format} cut at {cut}: not the full export"
            );
        }
        // Without the file, --resume starts it.
        let fresh = dir.path().join(format!("fresh.{format}"));
        assert!(export(url, format, &fresh, true).status.success());
        assert!(
            std::fs::read(&fresh).expect("written") == full,
            "{label} {format}: fresh"
        );
    }
    // What does not resume says why, and leaves the file alone.
    let json = dir.path().join("items.json");
    std::fs::write(&json, b"[{\"id\":1").expect("write");
    let out = export(url, "json", &json, true);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--resume continues NDJSON or CSV files"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(&json).expect("kept"), b"[{\"id\":1");
    let foreign = dir.path().join("foreign.ndjson");
    std::fs::write(&foreign, b"{\"other\":1}\n").expect("write");
    let out = export(url, "ndjson", &foreign, true);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not an export of this table"), "{stderr}");
}

#[test]
fn sqlite_after_and_resume() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join("items.db");
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let statements = fixtures("INTEGER", "TEXT");
    let statements: Vec<&str> = statements.iter().map(String::as_str).collect();
    runtime.block_on(common::sqlite_file(path.clone(), &statements));
    let url = format!("sqlite://{}", path.display());
    assert_after("sqlite", &url);
    assert_resume("sqlite", &url);
}

#[test]
fn postgres_after_and_resume() {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let Some(scratch) = runtime.block_on(Scratch::postgres("rowstream_resume")) else {
        return;
    };
    runtime.block_on(async {
        let pool = scratch.pg_pool(1).await;
        for sql in fixtures("integer", "text") {
            sqlx::query(&sql).execute(&pool).await.expect("fixture");
        }
        pool.close().await;
    });
    let base = sql::postgres_url().expect("the URL");
    let joiner = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{joiner}options[search_path]={}", scratch.name);
    assert_after("postgres", &url);
    assert_resume("postgres", &url);
}

#[test]
fn mariadb_after_and_resume() {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let Some(scratch) = runtime.block_on(Scratch::mysql("rowstream_resume")) else {
        return;
    };
    runtime.block_on(async {
        let pool = scratch.mysql_pool(1).await;
        for sql in fixtures("INT", "TEXT") {
            sqlx::query(&sql).execute(&pool).await.expect("fixture");
        }
        pool.close().await;
    });
    let base = sql::mysql_url().expect("the URL");
    let (server, _) = base.rsplit_once('/').expect("a database in the URL");
    let url = format!("{server}/{}", scratch.name);
    assert_after("mariadb", &url);
    assert_resume("mariadb", &url);
}
