//! What a first-time user meets, through the real binary: an unreachable database fails
//! at once in one line naming where and why; a closed stdout (`| head`) ends a command
//! quietly; `--bind` is checked before any database is touched; errors stay one line
//! whatever `RUST_BACKTRACE` says; unknown query parameters are refused.

mod common;

use std::io::{BufRead as _, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

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

/// A local port nothing listens on.
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("local addr").port()
}

/// `child`'s output once it exits; killed (and the test failed) if it runs on for 30 s.
fn exited(mut child: Child) -> Output {
    let started = Instant::now();
    while child.try_wait().expect("try_wait").is_none() {
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("still running after 30 s: {:?}", child.wait_with_output());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("the output")
}

#[tokio::test]
async fn a_closed_stdout_ends_an_export_quietly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = sqlite_url(&numbers(dir.path()).await);
    for extra in [&[][..], &["--compress", "gzip"][..]] {
        // `rowstream export … | head -1`: one line read, then the pipe is closed.
        let mut args = vec!["export", "--db", &db, "--table", "numbers"];
        args.extend_from_slice(&["--format", "ndjson"]);
        args.extend_from_slice(extra);
        let mut child = command(&args)
            .env("RUST_BACKTRACE", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run rowstream export");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut first = Vec::new();
        stdout.read_until(b'\n', &mut first).expect("read");
        assert!(!first.is_empty(), "{extra:?}: some output");
        drop(stdout);
        let output = exited(child);
        assert_eq!(
            (
                output.status.code(),
                String::from_utf8_lossy(&output.stderr)
            ),
            (Some(0), "".into()),
            "{extra:?}"
        );
    }
}

#[tokio::test]
async fn a_closed_stdout_ends_serve_quietly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = sqlite_url(&numbers(dir.path()).await);
    let serve = ["serve", "--bind", "127.0.0.1:0", "--db", &db];

    // `rowstream serve | head -0`: stdout is closed before the banner is written.
    let mut child = command(&serve)
        .env("RUST_BACKTRACE", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run rowstream serve");
    drop(child.stdout.take());
    let output = exited(child);
    assert_eq!(
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr)
        ),
        (Some(0), "".into())
    );

    // `rowstream serve 2>&1 | head -0`, with a warning logged before the banner: the
    // lost log line is no reason to panic either.
    let mut shell = std::process::Command::new("sh");
    shell
        .args([
            "-c",
            "exec \"$0\" \"$@\" 2>&1",
            env!("CARGO_BIN_EXE_rowstream"),
        ])
        .args(serve)
        .args(["--statement-timeout", "1s"]);
    common::binary::clean(&mut shell);
    let mut child = shell
        .env("RUST_BACKTRACE", "1")
        .stdout(Stdio::piped())
        .spawn()
        .expect("run rowstream serve");
    drop(child.stdout.take());
    assert_eq!(exited(child).status.code(), Some(0));

    // `rowstream serve | head -2`, which leaves once the banner is out: the server
    // stops, though it has nothing more to write.
    let mut child = command(&serve)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run rowstream serve");
    let stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let banner: Vec<String> = stdout
        .lines()
        .map(|line| line.expect("a line"))
        .take_while(|line| line != "Press Ctrl-C to stop.")
        .collect();
    assert!(
        banner[0].starts_with("rowstream listening on "),
        "{banner:?}"
    );
    let output = exited(child);
    assert_eq!(
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr)
        ),
        (Some(0), "".into())
    );
}

#[tokio::test]
async fn bind_is_checked_before_any_database_is_touched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let demo = dir.path().join("demo.sqlite");
    let demo_env = demo.to_str().expect("UTF-8 path");
    let line = one_error_line(
        &command(&["serve", "--bind", "nonsense:abc", "--demo-rows", "10"])
            .env("ROWSTREAM_DEMO_DB", demo_env)
            .env("RUST_BACKTRACE", "1")
            .output()
            .expect("run rowstream serve"),
    );
    assert!(
        line.starts_with("error: cannot listen on nonsense:abc: "),
        "{line}"
    );
    assert!(!demo.exists(), "the demo database was seeded");

    // A taken address wins over an unreachable database: nothing is opened.
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("local addr").to_string();
    let unreachable = format!("postgres://u@127.0.0.1:{}/db", closed_port());
    let line = one_error_line(&run(&["serve", "--bind", &addr, "--db", &unreachable]));
    assert!(
        line.starts_with(&format!("error: cannot listen on {addr}: ")),
        "{line}"
    );
}
