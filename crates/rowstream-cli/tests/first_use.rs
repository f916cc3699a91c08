//! What a first-time user meets, through the real binary: an unreachable database fails
//! at once in one line naming where and why; a closed stdout (`| head`) ends a command
//! quietly; `--bind` is checked before any database is touched; errors stay one line
//! whatever `RUST_BACKTRACE` says; unknown query parameters are refused.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::binary::command;

/// Rows of the `numbers` table: a few megabytes as NDJSON, far more than a pipe holds.
const NUMBERS: u64 = 100_000;

/// A SQLite file with the table `numbers (n INTEGER PRIMARY KEY, label TEXT)`.
async fn numbers(dir: &Path) -> PathBuf {
    common::sqlite_file(
        dir.join("numbers.sqlite"),
        &[
            "CREATE TABLE numbers (n INTEGER PRIMARY KEY, label TEXT)",
            &format!(
                "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {NUMBERS}) \
                 INSERT INTO numbers SELECT i, 'row ' || i FROM s"
            ),
        ],
    )
    .await
}

fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

/// `rowstream ARGS…` with backtraces asked for in every way Rust knows, waited for.
fn run(args: &[&str]) -> Output {
    command(args)
        .env("RUST_BACKTRACE", "full")
        .env("RUST_LIB_BACKTRACE", "1")
        .output()
        .expect("run rowstream")
}

/// The only line of `output`'s stderr, after checking that it failed with exit code 1.
fn one_error_line(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line expected: {stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    lines[0].to_owned()
}

#[tokio::test]
async fn user_errors_are_one_line_whatever_rust_backtrace_says() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = sqlite_url(&numbers(dir.path()).await);
    let output = run(&["export", "--db", &db, "--table", "nope"]);
    assert_eq!(
        one_error_line(&output),
        "error: no table or view named \"nope\" in the database"
    );
    let missing = sqlite_url(&dir.path().join("missing.sqlite"));
    let line = one_error_line(&run(&["export", "--db", &missing, "--table", "t"]));
    assert!(
        line.starts_with(&format!("error: cannot open {missing}: ")),
        "{line}"
    );
}
