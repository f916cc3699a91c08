//! The real `rowstream` binary: a command with a clean environment, and a running
//! `rowstream serve` with its address and log lines.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// `rowstream ARGS…` with none of the `ROWSTREAM_*` or `DATABASE_URL` variables of the
/// test's environment, `RUST_LOG=warn`, and stdin closed.
pub fn command(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rowstream"));
    command.args(args);
    clean(&mut command);
    command
}

/// Removes the `ROWSTREAM_*` and `DATABASE_URL` variables of the test's environment from
/// `command`, sets `RUST_LOG=warn` and closes its stdin.
pub fn clean(command: &mut Command) {
    command.env("RUST_LOG", "warn").stdin(Stdio::null());
    for (name, _) in std::env::vars_os() {
        let text = name.to_string_lossy();
        if text.starts_with("ROWSTREAM_") || text == "DATABASE_URL" {
            command.env_remove(&name);
        }
    }
}

/// A running `rowstream serve`, killed on drop, with its stderr lines arriving on a
/// channel and the address it printed.
pub struct Binary {
    child: Child,
    /// Its log lines.
    pub stderr: mpsc::Receiver<String>,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Binary {
    /// `rowstream serve ARGS…` ([`command`], with `RUST_LOG=info` and `env` on top), once
    /// it says where it listens.
    pub fn serve(args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut command = command(&["serve"]);
        command
            .args(args)
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("run rowstream");
        let (tx, stderr) = mpsc::channel();
        let err = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            // Read to the end even when nobody listens: a closed pipe would fail the
            // server's next write.
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let (tx, stdout) = mpsc::channel();
        let out = child.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        // "rowstream listening on http://HOST:PORT (…)"
        let base = loop {
            let line = stdout
                .recv_timeout(Duration::from_secs(60))
                .expect("the server starts");
            if let Some(rest) = line.strip_prefix("rowstream listening on ") {
                let url = rest.split(' ').next().expect("a URL");
                let port = url.rsplit(':').next().expect("a port");
                break format!("http://127.0.0.1:{port}");
            }
        };
        Self {
            child,
            stderr,
            base,
        }
    }

    /// Sends SIGTERM, as an orchestrator stopping it does.
    pub fn terminate(&self) {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM");
    }

    /// Its exit status, once it has exited within `within`; `None` if it still runs.
    pub fn exit_within(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let until = std::time::Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return Some(status);
            }
            if std::time::Instant::now() >= until {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The log lines up to and including the one saying it listens, and any that follow
    /// within half a second.
    pub fn startup_log(&self) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let line = self
                .stderr
                .recv_timeout(Duration::from_secs(30))
                .expect("a log line");
            let listening = line.contains("listening");
            lines.push(line);
            if listening {
                break;
            }
        }
        while let Ok(line) = self.stderr.recv_timeout(Duration::from_millis(500)) {
            lines.push(line);
        }
        lines
    }
}
