//! Readiness and drain through `rowstream serve` with curl: `/readyz` follows the
//! database (a throwaway PostgreSQL cluster stopped and started again) while `/healthz`
//! stays up; on SIGTERM `/readyz` and new exports answer `503` at once, exports in flight
//! run to their end within `--shutdown-grace`, and those still running after it are cut,
//! which their clients see.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::binary::Binary;
use common::cluster::Cluster;
use common::sql;

/// What curl saw: its exit code, the status, the content type, the body.
#[derive(Debug)]
struct Seen {
    exit: i32,
    status: u16,
    content_type: String,
    body: String,
}

fn curl(url: &str) -> Seen {
    let out = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "60",
            "-w",
            "\n%{http_code} %{content_type}",
            url,
        ])
        .output()
        .expect("run curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, tail) = text.rsplit_once('\n').unwrap_or(("", &text));
    let (status, content_type) = tail.split_once(' ').unwrap_or((tail, ""));
    Seen {
        exit: out.status.code().unwrap_or(-1),
        status: status.parse().unwrap_or(0),
        content_type: content_type.to_owned(),
        body: body.to_owned(),
    }
}

/// A problem+json `503` titled `title`.
fn assert_unavailable(seen: &Seen, title: &str) {
    assert_eq!(seen.status, 503, "{seen:?}");
    assert_eq!(seen.content_type, "application/problem+json", "{seen:?}");
    let problem: serde_json::Value = serde_json::from_str(&seen.body).expect("JSON");
    assert_eq!(problem["title"], title, "{seen:?}");
}

#[test]
fn readyz_follows_the_database_and_healthz_stays_up() {
    if sql::postgres_url().is_none() {
        return;
    }
    let cluster = Cluster::start();
    let server = Binary::serve(&["--db", &cluster.url(), "--bind", "127.0.0.1:0"], &[]);
    let ready = curl(&format!("{}/readyz", server.base));
    assert_eq!(
        (ready.status, ready.body.as_str()),
        (200, "ready"),
        "{ready:?}"
    );

    cluster.stop();
    let started = Instant::now();
    let down = curl(&format!("{}/readyz", server.base));
    assert_unavailable(&down, "The database is unavailable");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let live = curl(&format!("{}/healthz", server.base));
    assert_eq!((live.status, live.body.as_str()), (200, "ok"), "{live:?}");

    cluster.resume();
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let seen = curl(&format!("{}/readyz", server.base));
        if seen.status == 200 {
            assert_eq!(seen.body, "ready");
            break;
        }
        assert!(Instant::now() < until, "not ready again: {seen:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `rowstream serve` on the machine's PostgreSQL with a named query `slow` of `rows`
/// rows, 10 ms each, and `flags`.
fn slow_server(rows: u32, flags: &[&str]) -> Option<(Binary, tempfile::TempDir)> {
    let url = sql::postgres_url()?;
    let dir = tempfile::tempdir().expect("a temporary folder");
    let config = dir.path().join("rowstream.toml");
    std::fs::write(
        &config,
        format!(
            "[queries.slow]\nsql = \"SELECT i, pg_sleep(0.01)::text AS pause \
             FROM generate_series(1, {rows}) i\"\n"
        ),
    )
    .expect("write the config");
    let mut args = vec![
        "--db",
        &url,
        "--config",
        config.to_str().expect("a UTF-8 path"),
        "--bind",
        "127.0.0.1:0",
    ];
    args.extend_from_slice(flags);
    Some((Binary::serve(&args, &[]), dir))
}

#[test]
fn sigterm_drains_exports_in_flight_and_refuses_new_ones() {
    let Some((mut server, _dir)) =
        slow_server(200, &["--shutdown-grace", "20s", "--drain-delay", "1500ms"])
    else {
        return;
    };
    let export = format!("{}/queries/slow?format=ndjson&complete=true", server.base);
    let in_flight = {
        let export = export.clone();
        std::thread::spawn(move || curl(&export))
    };
    std::thread::sleep(Duration::from_millis(500));
    let signalled = Instant::now();
    server.terminate();
    std::thread::sleep(Duration::from_millis(100));
    assert_unavailable(&curl(&format!("{}/readyz", server.base)), "Shutting down");
    assert_unavailable(&curl(&export), "Shutting down");
    let live = curl(&format!("{}/healthz", server.base));
    assert_eq!(live.status, 200, "{live:?}");
    assert!(
        signalled.elapsed() < Duration::from_millis(1500),
        "inside the drain delay"
    );

    let seen = in_flight.join().expect("the client");
    assert_eq!((seen.exit, seen.status), (0, 200), "{seen:?}");
    let lines: Vec<&str> = seen.body.lines().collect();
    assert_eq!(lines.len(), 201, "200 rows and the completion record");
    assert_eq!(lines[199], r#"{"i":200,"pause":""}"#);
    assert_eq!(lines[200], r#"{"$rowstream":{"complete":true,"rows":200}}"#);
    let status = server
        .exit_within(Duration::from_secs(15))
        .expect("it stops once the export is done");
    assert!(status.success(), "{status:?}");
    // After the drain delay the listener is closed.
    assert_ne!(curl(&format!("{}/healthz", server.base)).exit, 0);
}

#[test]
fn exports_still_running_after_the_grace_are_cut() {
    let Some((mut server, _dir)) =
        slow_server(2000, &["--shutdown-grace", "1s", "--drain-delay", "0s"])
    else {
        return;
    };
    let export = format!("{}/queries/slow?format=ndjson&complete=true", server.base);
    let in_flight = std::thread::spawn(move || curl(&export));
    std::thread::sleep(Duration::from_millis(500));
    let signalled = Instant::now();
    server.terminate();
    let seen = in_flight.join().expect("the client");
    assert_ne!(seen.exit, 0, "the cut is detectable: {seen:?}");
    assert!(!seen.body.contains(r#""complete":true"#), "{seen:?}");
    let status = server
        .exit_within(Duration::from_secs(10))
        .expect("it stops after the grace");
    assert!(status.success(), "{status:?}");
    let took = signalled.elapsed();
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(6),
        "stopped {took:?} after the signal"
    );
}
