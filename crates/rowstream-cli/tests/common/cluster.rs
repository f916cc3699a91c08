//! A throwaway PostgreSQL cluster of the machine's own binaries (`initdb`, `pg_ctl`) in a
//! temporary folder, on a free loopback port, without TLS, trusting local connections:
//! a database the test may stop and start. Run as the `postgres` user when the test runs
//! as root (PostgreSQL refuses to run as root). Stopped and removed on drop.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The folder holding `initdb` and `pg_ctl`: `$PG_BIN`, else the newest
/// `/usr/lib/postgresql/*/bin`.
fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("PG_BIN") {
        return dir.into();
    }
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL's binaries under /usr/lib/postgresql (or set PG_BIN)")
        .filter_map(|entry| Some(entry.ok()?.path().join("bin")))
        .filter(|dir| dir.join("pg_ctl").exists())
        .collect();
    dirs.sort_by_key(|dir| {
        dir.parent()
            .and_then(|v| v.file_name()?.to_str()?.parse::<u32>().ok())
            .unwrap_or(0)
    });
    dirs.pop().expect("pg_ctl under /usr/lib/postgresql/*/bin")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.trim_ascii() == b"0")
}

/// `program args…`, as the `postgres` user when this process is root.
fn run(program: &Path, args: &[&str]) -> Output {
    let mut command = if is_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    };
    command
        .args(args)
        .output()
        .unwrap_or_else(|err| panic!("run {}: {err}", program.display()))
}

/// A port nothing listens on now.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("an address").port()
}

/// A running throwaway cluster.
pub struct Cluster {
    /// Its data folder.
    pub dir: PathBuf,
    /// Its TCP port on 127.0.0.1.
    pub port: u16,
    bin: PathBuf,
}

impl Cluster {
    /// Creates and starts a cluster; the superuser `postgres` logs in without a password
    /// to the database `postgres`.
    pub fn start() -> Self {
        let bin = bin_dir();
        // A folder the postgres user owns, under /tmp.
        let made = run(Path::new("mktemp"), &["-d", "/tmp/rowstream-pg-XXXXXX"]);
        assert!(made.status.success(), "mktemp: {made:?}");
        let dir = PathBuf::from(String::from_utf8(made.stdout).expect("a path").trim());
        let data = dir.to_str().expect("a UTF-8 path").to_owned();
        let init = run(
            &bin.join("initdb"),
            &[
                "-D",
                &data,
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        );
        assert!(init.status.success(), "initdb: {init:?}");
        let cluster = Self {
            dir,
            port: free_port(),
            bin,
        };
        cluster.resume();
        cluster
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the server again (after [`Cluster::stop`]), on the same port; waits until
    /// it accepts connections.
    pub fn resume(&self) {
        let data = self.dir.to_str().expect("a UTF-8 path");
        let options = format!(
            "-p {} -k {data} -c listen_addresses=127.0.0.1 -c ssl=off -c fsync=off",
            self.port
        );
        let log = format!("{data}/server.log");
        let started = run(
            &self.bin.join("pg_ctl"),
            &["-D", data, "-o", &options, "-l", &log, "-w", "start"],
        );
        assert!(
            started.status.success(),
            "pg_ctl start: {started:?}; log: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// Stops the server (`-m fast`: sessions are ended), and waits until it is down.
    pub fn stop(&self) {
        let data = self.dir.to_str().expect("a UTF-8 path");
        let stopped = run(
            &self.bin.join("pg_ctl"),
            &["-D", data, "-m", "fast", "-w", "stop"],
        );
        assert!(stopped.status.success(), "pg_ctl stop: {stopped:?}");
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.dir.to_str().unwrap_or_default().to_owned();
        let _ = run(
            &self.bin.join("pg_ctl"),
            &["-D", &data, "-m", "immediate", "-w", "stop"],
        );
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
