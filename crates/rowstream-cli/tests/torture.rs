//! Type-torture tables: a table with every type (and its extreme values) per database,
//! exported by the real `rowstream serve` in every format, under the default value
//! policy and under `?non_finite=string&big_integers=string`, and read back by
//! independent decoders (Python's `json`, `csv` and `msgpack`). Each value is compared
//! with the text the database's own client prints (`psql`, `mariadb`, `sqlite3`), as the
//! README's type mapping says it is written. The checker is `tests/torture/check.py`;
//! its Python environment (with `msgpack`) is made under the target directory.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::binary::Binary;
use common::sql::{self, Scratch};

fn checker() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/torture/check.py")
}

/// A Python with `msgpack`: the system's, or a virtual environment made once under the
/// target directory.
fn python() -> PathBuf {
    let system = PathBuf::from("python3");
    if has_msgpack(&system) {
        return system;
    }
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("torture-venv");
    let python = venv.join("bin/python");
    if !has_msgpack(&python) {
        // Another test process may be making it too: a venv and pip are idempotent.
        run(Command::new("python3").arg("-m").arg("venv").arg(&venv));
        run(Command::new(&python).args(["-m", "pip", "install", "-q", "msgpack"]));
    }
    assert!(
        has_msgpack(&python),
        "msgpack installs in {}",
        venv.display()
    );
    python
}

fn has_msgpack(python: &Path) -> bool {
    Command::new(python)
        .args(["-c", "import msgpack"])
        .output()
        .is_ok_and(|out| out.status.success())
}

fn run(command: &mut Command) -> Output {
    let out = command.output().expect("run a command");
    assert!(
        out.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The SQL that creates the `kind` torture table.
fn setup_sql(kind: &str) -> String {
    let out = run(Command::new("python3")
        .arg(checker())
        .args(["--setup", kind]));
    String::from_utf8(out.stdout).expect("UTF-8 SQL")
}

/// Runs the checker against `server` with the database client `client`; its report.
fn check(kind: &str, server: &Binary, client: &[&str], env: &[(&str, &str)]) -> String {
    let out = Command::new(python())
        .arg(checker())
        .arg(kind)
        .arg(&server.base)
        .args(client)
        .envs(env.iter().copied())
        .output()
        .expect("run the checker");
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    eprintln!("{report}{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{kind}: values differ:\n{report}");
    assert!(report.contains(", 0 mismatches"), "{report}");
    report
}

/// `psql` with SQL on stdin, in `schema`.
fn psql(url: &str, schema: &str, sql: &str) {
    use std::io::Write as _;
    let mut child = Command::new("psql")
        .args([url, "-qX", "-v", "ON_ERROR_STOP=1"])
        .env("PGOPTIONS", format!("-c search_path={schema}"))
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("run psql");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(sql.as_bytes())
        .expect("write SQL");
    assert!(child.wait().expect("psql ends").success(), "psql failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_torture_table() {
    let Some(url) = sql::postgres_url() else {
        return;
    };
    let Some(scratch) = Scratch::postgres("rowstream_torture").await else {
        return;
    };
    psql(&url, &scratch.name, &setup_sql("postgres"));
    let separator = if url.contains('?') { '&' } else { '?' };
    let db = format!("{url}{separator}options[search_path]={}", scratch.name);
    let server = Binary::serve(&["--bind", "127.0.0.1:0", "--db", &db], &[]);
    let options = format!(
        "-c search_path={} -c timezone=UTC -c datestyle=ISO -c intervalstyle=iso_8601",
        scratch.name
    );
    let report = check(
        "postgres",
        &server,
        &["psql", &url],
        &[("PGOPTIONS", &options)],
    );
    assert!(report.contains("postgres: "), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_torture_table() {
    let Some(url) = sql::mysql_url() else {
        return;
    };
    let Some(scratch) = Scratch::mysql("rowstream_torture").await else {
        return;
    };
    // mysql://user[:password]@host:port/db → the client's flags.
    let rest = url.strip_prefix("mysql://").expect("a mysql:// URL");
    let (auth, rest) = rest.split_once('@').expect("user@host");
    let (user, password) = auth.split_once(':').unwrap_or((auth, ""));
    let host_port = rest.split('/').next().expect("host:port");
    let (host, port) = host_port.split_once(':').unwrap_or((host_port, "3306"));
    let mut client = vec![
        "mariadb".to_owned(),
        format!("--host={host}"),
        format!("--port={port}"),
        format!("--user={user}"),
    ];
    if !password.is_empty() {
        client.push(format!("--password={password}"));
    }
    client.push(scratch.name.clone());
    let client: Vec<&str> = client.iter().map(String::as_str).collect();
    let sql = setup_sql("mysql");
    run(Command::new(client[0])
        .args(&client[1..])
        .args(["-e", &sql]));
    let db = format!("mysql://{auth}@{host_port}/{}", scratch.name);
    let server = Binary::serve(&["--bind", "127.0.0.1:0", "--db", &db], &[]);
    check("mysql", &server, &client, &[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_torture_table() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(sql::unique("torture"));
    std::fs::create_dir_all(&dir).expect("a directory");
    let file = dir.join("torture.sqlite");
    let path = file.to_str().expect("a UTF-8 path");
    run(Command::new("sqlite3").args([path, &setup_sql("sqlite")]));
    let server = Binary::serve(
        &["--bind", "127.0.0.1:0", "--db", &format!("sqlite://{path}")],
        &[],
    );
    check("sqlite", &server, &["sqlite3", path], &[]);
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
