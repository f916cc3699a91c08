//! Processes under measurement: servers started fresh per case (so `VmHWM` is the case's
//! own peak) and command-line tools timed with `/usr/bin/time`.

use std::io::Read as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

/// A server process, killed when dropped.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
}

impl Server {
    /// Starts `command` (which must listen on `addr`) with its output in `log`, and waits
    /// until it answers `/healthz`.
    pub async fn start(mut command: Command, addr: SocketAddr, log: &Path) -> anyhow::Result<Self> {
        let out =
            std::fs::File::create(log).with_context(|| format!("create {}", log.display()))?;
        let child = command
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| format!("start {command:?}"))?;
        let mut server = Self { child, addr };
        // A server that cannot listen (the port taken, say by a client socket of the
        // ephemeral range) exits at once: say so rather than wait out the limit.
        let child = &mut server.child;
        let exited = move || match child.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            Ok(None) => None,
            Err(err) => Some(err.to_string()),
        };
        crate::client::wait_healthy(addr, Duration::from_secs(120), exited)
            .await
            .with_context(|| format!("{command:?}; its log: {}", log.display()))?;
        Ok(server)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory now and at its peak, in KiB.
    pub fn rss_kib(&self) -> anyhow::Result<Memory> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))?;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|kib| kib.parse::<u64>().ok())
                .with_context(|| format!("{name} in /proc/{}/status", self.pid()))
        };
        Ok(Memory {
            rss_kib: field("VmRSS:")?,
            hwm_kib: field("VmHWM:")?,
        })
    }

    /// CPU time used so far (user + system), in seconds.
    pub fn cpu_secs(&self) -> anyhow::Result<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid()))?;
        // The command name (field 2) may hold spaces: count fields after its `)`.
        let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
        let fields: Vec<&str> = after.split_whitespace().collect();
        // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after `)`.
        let ticks = |i: usize| -> anyhow::Result<u64> {
            Ok(fields.get(i).context("a short /proc/PID/stat")?.parse()?)
        };
        Ok((ticks(11)? + ticks(12)?) as f64 / clock_ticks() as f64)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Memory {
    pub rss_kib: u64,
    pub hwm_kib: u64,
}

/// `getconf CLK_TCK`: the unit of the CPU times in `/proc/PID/stat`.
fn clock_ticks() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100)
    })
}

/// What a command-line tool run took.
#[derive(Debug, Clone, Copy, Default)]
pub struct ToolRun {
    pub wall: Duration,
    /// From the start to the first stdout byte; `None` when stdout is not read.
    pub ttfb: Option<Duration>,
    /// Bytes on stdout; `None` when stdout is not read.
    pub bytes: Option<u64>,
    /// Lines on stdout.
    pub lines: Option<u64>,
    pub peak_rss_kib: u64,
    pub cpu_secs: f64,
}

/// Runs `program args…` under `/usr/bin/time`, reading and counting its stdout (when
/// `read_stdout`) or sending it to /dev/null; fails when it exits non-zero.
pub fn run_tool(
    program: &str,
    args: &[&str],
    read_stdout: bool,
    scratch: &Path,
) -> anyhow::Result<ToolRun> {
    let times: PathBuf = scratch.join("time.out");
    let mut command = Command::new("/usr/bin/time");
    command
        .args(["-f", "%M %U %S", "-o"])
        .arg(&times)
        .arg(program)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .stdout(if read_stdout {
            Stdio::piped()
        } else {
            Stdio::null()
        });
    let started = Instant::now();
    let mut child = command
        .spawn()
        .with_context(|| format!("start {program}"))?;
    let mut run = ToolRun::default();
    if let Some(mut stdout) = child.stdout.take() {
        let mut buf = vec![0u8; 256 * 1024];
        let (mut bytes, mut lines) = (0u64, 0u64);
        loop {
            let n = stdout.read(&mut buf)?;
            if n == 0 {
                break;
            }
            if bytes == 0 {
                run.ttfb = Some(started.elapsed());
            }
            bytes += n as u64;
            lines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
        }
        run.bytes = Some(bytes);
        run.lines = Some(lines);
    }
    let status = child.wait()?;
    run.wall = started.elapsed();
    if !status.success() {
        bail!("{program} {args:?}: {status}");
    }
    let times = std::fs::read_to_string(&times)?;
    let fields: Vec<&str> = times
        .lines()
        .last()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let [rss, user, system] = fields[..] else {
        bail!("unexpected /usr/bin/time output: {times:?}");
    };
    run.peak_rss_kib = rss.parse()?;
    run.cpu_secs = user.parse::<f64>()? + system.parse::<f64>()?;
    Ok(run)
}
