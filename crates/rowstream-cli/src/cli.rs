//! Command-line interface: `rowstream serve` and `rowstream export`.

use std::io::Write as _;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use tokio::net::TcpListener;

use crate::config::parse_duration;
use crate::db::{self, Database, catalog};
use crate::settings::{Resolved, SourceArgs};
use crate::url::percent_encode_segment;
use crate::{access, http, server, stdout};

/// How long exports in flight may run on after a shutdown signal (`--shutdown-grace`):
/// 30 seconds.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// How long the listener stays open after SIGTERM, answering `/readyz` with `503` and
/// new exports with `503`, so that balancers notice before connections are refused
/// (`--drain-delay`): 2 seconds.
pub const DRAIN_DELAY: Duration = Duration::from_secs(2);

/// Serve database tables as streaming HTTP exports.
#[derive(Debug, Parser)]
#[command(name = "rowstream", version, about)]
pub struct Cli {
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// How log lines on stderr are written: `text` for people, `json` (one object per
    /// line) for log pipelines. Levels come from `RUST_LOG` (default `info`).
    #[arg(
        long,
        global = true,
        env = "ROWSTREAM_LOG_FORMAT",
        value_name = "FORMAT",
        default_value = "text"
    )]
    pub log_format: LogFormat,
}

/// The form of log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event, coloured on a terminal.
    Text,
    /// One JSON object per event: `timestamp`, `level`, `fields` (with `message`),
    /// `target` and the current `span`/`spans` (request id, table, format …).
    Json,
}

impl LogFormat {
    /// Installs the global `tracing` subscriber writing to stderr, filtered by `RUST_LOG`
    /// (default `info`).
    ///
    /// # Errors
    ///
    /// If a global subscriber is already installed.
    pub fn init(self) -> anyhow::Result<()> {
        use std::io::IsTerminal as _;
        use tracing_subscriber::EnvFilter;

        let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
        let builder = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            // A closed stderr (`2>&1 | head`) loses log lines; reporting that on stderr
            // would panic.
            .log_internal_errors(false);
        let installed = match self {
            Self::Text => builder
                .with_ansi(std::io::stderr().is_terminal())
                .try_init(),
            Self::Json => builder
                .json()
                .with_current_span(true)
                .with_span_list(true)
                .try_init(),
        };
        installed.map_err(|err| anyhow::anyhow!("cannot install the logger: {err}"))
    }
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve every table and view of a database over HTTP.
    Serve(ServeArgs),
    /// Export one table or named query to a file or stdout.
    Export(crate::export::ExportArgs),
}

/// Options of `rowstream serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// The database, the config file and how rows are read.
    #[command(flatten)]
    pub source: SourceArgs,

    /// Exports in flight at once; more get `503` with `Retry-After`. Default: the pool
    /// size less one. Must be below the pool size.
    #[arg(long, env = "ROWSTREAM_MAX_STREAMS", value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_streams: Option<u32>,

    /// Database connections in the pool. Default 10.
    #[arg(long, env = "ROWSTREAM_POOL_SIZE", value_name = "N", value_parser = clap::value_parser!(u32).range(2..))]
    pub pool_size: Option<u32>,

    /// Address to listen on.
    #[arg(
        long,
        env = "ROWSTREAM_BIND",
        default_value = "127.0.0.1:3000",
        value_name = "ADDR"
    )]
    pub bind: String,

    /// Longest a write to a client may make no progress before the connection is closed
    /// (a stalled client): `30s` by default; `0` for none.
    #[arg(long, env = "ROWSTREAM_WRITE_TIMEOUT", value_name = "DURATION", value_parser = parse_duration, default_value = "30s")]
    pub write_timeout: Duration,

    /// Longest one export may take; longer ones are cut. Default: none.
    #[arg(long, env = "ROWSTREAM_DEADLINE", value_name = "DURATION", value_parser = parse_duration)]
    pub deadline: Option<Duration>,

    /// Most rows one export may carry; the next one cuts it. Default: none.
    #[arg(long, env = "ROWSTREAM_MAX_ROWS", value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_rows: Option<u64>,

    /// Most rows per second per export. Default: unlimited.
    #[arg(long, env = "ROWSTREAM_RATE_ITEMS", value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_items: Option<u32>,

    /// Most encoded bytes per second per export. Default: unlimited.
    #[arg(long, env = "ROWSTREAM_RATE_BYTES", value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_bytes: Option<u32>,

    /// Bearer token every request but `/healthz` must present (`Authorization: Bearer
    /// TOKEN`); prefer the environment variable, which other users cannot see in `ps`.
    /// Without it, anyone who can connect may read every served table.
    #[arg(
        long,
        env = "ROWSTREAM_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,

    /// A web origin (`https://app.example.com`) whose pages may read the exports across
    /// origins (CORS; preflights answered); repeat for more, or separate them with commas
    /// in the environment variable. Default: none.
    #[arg(long = "cors-origin", env = "ROWSTREAM_CORS_ORIGIN", value_name = "ORIGIN", value_delimiter = ',', value_parser = access::parse_origin)]
    pub cors_origins: Vec<axum::http::HeaderValue>,

    /// Longest a client may take to send a request's line and headers before it is
    /// disconnected (slow or idle clients): `10s` by default; `0` for none.
    #[arg(long, env = "ROWSTREAM_HEADER_TIMEOUT", value_name = "DURATION", value_parser = parse_duration, default_value = "10s")]
    pub header_timeout: Duration,

    /// Compression level of compressed responses (gzip, zstd, br per Accept-Encoding).
    #[arg(
        long,
        env = "ROWSTREAM_COMPRESSION_LEVEL",
        value_name = "LEVEL",
        default_value = "fastest"
    )]
    pub compression_level: CompressionLevel,

    /// Also serve HTTP/2 without TLS (prior knowledge, RFC 9113 §3.3) on the same port,
    /// told apart from HTTP/1 by the connection preface: a failed export resets its
    /// stream (RST_STREAM), a complete one ends normally. Default: HTTP/1 only.
    #[arg(long, env = "ROWSTREAM_HTTP2")]
    pub http2: bool,

    /// How long exports in flight may run on after SIGTERM or Ctrl-C; those still running
    /// then are cut (a failure their clients detect). From the signal on, `/readyz`
    /// answers `503` and new exports get `503`.
    #[arg(long, env = "ROWSTREAM_SHUTDOWN_GRACE", value_name = "DURATION", value_parser = parse_duration, default_value = "30s")]
    pub shutdown_grace: Duration,

    /// After SIGTERM, how long the listener stays open (answering `/readyz` and new
    /// exports with `503`) before it closes, so that balancers notice; part of the
    /// grace. Ctrl-C closes it at once.
    #[arg(long, env = "ROWSTREAM_DRAIN_DELAY", value_name = "DURATION", value_parser = parse_duration, default_value = "2s")]
    pub drain_delay: Duration,

    /// Bytes that spooled exports (`?spool`, or a `Range` request: written to a file, then
    /// served with `Content-Length` and byte ranges) may take on disk at once; a larger
    /// export gets `507`. `0` turns spooling off.
    #[arg(long, env = "ROWSTREAM_SPOOL_MAX_BYTES", value_name = "BYTES", value_parser = crate::settings::parse_size, default_value = "1GiB")]
    pub spool_max_bytes: usize,

    /// How long a spooled export is kept after its last request, for the next range
    /// reads of the same URL.
    #[arg(long, env = "ROWSTREAM_SPOOL_TTL", value_name = "DURATION", value_parser = parse_duration, default_value = "60s")]
    pub spool_ttl: Duration,

    /// The folder in which spool files are written (in a private folder removed at
    /// exit). Default: the system's temporary folder (`TMPDIR`).
    #[arg(long, env = "ROWSTREAM_SPOOL_DIR", value_name = "DIR")]
    pub spool_dir: Option<std::path::PathBuf>,
}

/// A compression level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CompressionLevel {
    /// Fastest (gzip 1, zstd 1, brotli 0).
    Fastest,
    /// Each coding's default for dynamic content (gzip 6, zstd 3, brotli 4).
    Default,
    /// Smallest output, slowest.
    Best,
}

impl From<CompressionLevel> for rowstream::compress::Level {
    fn from(level: CompressionLevel) -> Self {
        match level {
            CompressionLevel::Fastest => Self::Fastest,
            CompressionLevel::Default => Self::Default,
            CompressionLevel::Best => Self::Best,
        }
    }
}

impl ServeArgs {
    /// The per-export limits from the flags.
    pub fn limits(&self) -> rowstream::Limits {
        // `--write-timeout 0` is none: the library reads a zero duration as its default.
        let write_timeout = (!self.write_timeout.is_zero()).then_some(self.write_timeout);
        let mut limits = rowstream::Limits::default().write_timeout(write_timeout);
        if let Some(deadline) = self.deadline.filter(|d| !d.is_zero()) {
            limits = limits.deadline(deadline);
        }
        if let Some(rows) = self.max_rows {
            limits = limits.max_items(rows);
        }
        if let Some(rate) = self.rate_items {
            limits = limits.items_per_second(rate);
        }
        if let Some(rate) = self.rate_bytes {
            limits = limits.bytes_per_second(rate);
        }
        self.source.limits(limits)
    }
}

impl Cli {
    /// Runs the chosen command.
    ///
    /// # Errors
    ///
    /// Whatever the command fails with.
    pub async fn run(self) -> anyhow::Result<()> {
        match self.command {
            Some(Command::Serve(args)) => serve(args).await,
            Some(Command::Export(args)) => crate::export::export(args).await,
            // No subcommand: `serve` with its defaults and environment.
            None => match Cli::try_parse_from(["rowstream", "serve"])?.command {
                Some(Command::Serve(args)) => serve(args).await,
                _ => Ok(()),
            },
        }
    }
}

/// How the process ends after a command: exit code `0` when it succeeded or stopped
/// because stdout was closed ([`stdout::Closed`], `| head`); else `1`, with the error and
/// its causes on one line of stderr (`error: what: why`). Never a backtrace, whatever
/// `RUST_BACKTRACE` says: these are the user's errors (a table that does not exist, a
/// database that cannot be reached), not the program's.
pub fn finish(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if stdout::is_closed(&err) => ExitCode::SUCCESS,
        Err(err) => {
            // Nothing more to do if stderr is gone too.
            let _ = writeln!(std::io::stderr(), "error: {}", one_line(&err));
            ExitCode::FAILURE
        }
    }
}

/// `err` and its causes as `what: why: …`, leaving out a cause whose text the message
/// before it already ends with (errors that print their source in their own message).
fn one_line(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if line.ends_with(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

impl ServeArgs {
    /// Reads the config file, if any, and settles every setting
    /// ([`SourceArgs::resolve`] with `--pool-size` and `--max-streams`).
    ///
    /// # Errors
    ///
    /// As [`SourceArgs::resolve`].
    pub fn resolve(&self) -> anyhow::Result<Resolved> {
        self.source.resolve(self.pool_size, self.max_streams)
    }
}

/// `rowstream serve`: opens (or seeds) the database, listens, prints how to reach it,
/// and serves until Ctrl-C or SIGTERM, or until the reader of a piped stdout leaves
/// ([`stdout::closed`]).
///
/// # Errors
///
/// If the settings are invalid, the address cannot be bound (checked before any
/// database is touched), the database cannot be seeded or opened, or a named query does
/// not prepare.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let resolved = args.resolve()?;
    let token = args
        .token
        .as_deref()
        .map(access::Token::new)
        .transpose()
        .context("invalid --token (ROWSTREAM_TOKEN)")?;
    // The address first: a typo in it must not wait for a database to be seeded or
    // reached. Connections that arrive meanwhile wait in the listen queue.
    let listener = TcpListener::bind(&args.bind)
        .await
        .with_context(|| format!("cannot listen on {}", args.bind))?;
    let db: Database = match &args.source.db {
        Some(url) => db::open(url, &resolved.open).await?,
        None => {
            let path = db::demo_db_path()?;
            stdout::line(format_args!("Demo database: {}", path.display()))?;
            let seeded = tokio::select! {
                seeded = db::seed_demo(&path, args.source.demo_rows) => seeded?,
                () = server::shutdown_signal() => {
                    anyhow::bail!("interrupted while seeding; {} was left as it was", path.display());
                }
            };
            match seeded.rows_per_sec() {
                Some(rate) => stdout::line(format_args!(
                    "Seeded {} tickets in {:.2?} ({:.0} rows/s)",
                    seeded.rows, seeded.elapsed, rate
                ))?,
                None => stdout::line(format_args!(
                    "Reusing {} tickets (seeded earlier)",
                    seeded.rows
                ))?,
            }
            db::open_demo(&path, resolved.open.pool_size).await?
        }
    };
    db::check_queries(&db, &resolved.config.queries).await?;

    let addr = listener.local_addr()?;
    print_banner(addr, &db, &resolved, token.is_some()).await?;
    tracing::info!(%addr, database = db.kind(), max_streams = resolved.max_streams, token = token.is_some(), "listening");
    if let Some(warning) = access::exposure_warning(addr, token.is_some()) {
        tracing::warn!("{warning}");
    }

    let settings = http::Settings {
        streamer: rowstream::Streamer::default().with_limits(args.limits()),
        batch_size: resolved.batch_size,
        max_streams: Some(resolved.max_streams),
        queries: resolved.config.queries.clone(),
        compression_level: args.compression_level.into(),
        metrics: Some(server::install_metrics()?),
        token,
        tables: resolved.config.tables.clone(),
        values: args.source.values,
        readiness: http::Readiness::default(),
        spool: http::SpoolSettings {
            dir: args.spool_dir.clone(),
            max_bytes: args.spool_max_bytes as u64,
            ttl: args.spool_ttl,
        },
        cors_origins: args.cors_origins.clone(),
    };
    let readiness = settings.readiness.clone();
    // The grace runs from the signal; the drain delay is part of it.
    let drain_delay = args.drain_delay.min(args.shutdown_grace);
    let options = server::ServeOptions {
        grace: args.shutdown_grace.saturating_sub(drain_delay),
        write_timeout: args.write_timeout,
        header_read_timeout: args.header_timeout,
        http2: args.http2,
        ..server::ServeOptions::default()
    };
    let shutdown = async move {
        let signal = tokio::select! {
            signal = server::stop_signal() => Some(signal),
            () = stdout::closed() => {
                tracing::info!("stdout was closed; stopping");
                None
            }
        };
        readiness.stop();
        if signal == Some(server::Signal::Terminate) && !drain_delay.is_zero() {
            tracing::info!(
                ?drain_delay,
                "stopping: not ready, no new export; the listener closes after the drain delay"
            );
            tokio::time::sleep(drain_delay).await;
        }
    };
    let trimmer = tokio::spawn(server::give_back_memory());
    let served = server::serve_with(
        listener,
        http::router_with(db.clone(), settings),
        shutdown,
        options,
    )
    .await;
    trimmer.abort();
    served.context("the server failed")?;
    db.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Prints the URL and a few `curl` lines to try.
///
/// # Errors
///
/// As [`stdout::line`].
async fn print_banner(
    addr: SocketAddr,
    db: &Database,
    resolved: &Resolved,
    token: bool,
) -> anyhow::Result<()> {
    let host = if addr.ip().is_unspecified() {
        format!("localhost:{}", addr.port())
    } else {
        addr.to_string()
    };
    let base = format!("http://{host}");
    let mut tables = catalog::list(db).await.unwrap_or_default();
    resolved.config.tables.retain(&mut tables);
    let curl = if token {
        "curl -s -H \"Authorization: Bearer $ROWSTREAM_TOKEN\""
    } else {
        "curl -s"
    };
    let first_table = tables
        .iter()
        .find(|name| *name == "tickets")
        .or_else(|| tables.first())
        .cloned();
    stdout::line(format_args!(
        "rowstream listening on {base} ({} database, {} tables, at most {} exports at once)",
        db.kind(),
        tables.len(),
        resolved.max_streams
    ))?;
    stdout::line(format_args!(
        "  {base}/ in a browser: the tables and queries, a link per format"
    ))?;
    stdout::line(format_args!("  {curl} {base}/tables"))?;
    if let Some(table) = first_table {
        let url = format!("{base}/tables/{}", percent_encode_segment(&table));
        stdout::line(format_args!("  {curl} {url} | head -c 1000"))?;
        stdout::line(format_args!(
            "  {curl} -o /dev/null -w '%{{size_download}} bytes, first byte %{{time_starttransfer}}s, total %{{time_total}}s\\n' {url}"
        ))?;
    }
    if let Some((name, query)) = resolved.config.queries.iter().next() {
        let params: Vec<String> = query
            .params
            .iter()
            .map(|p| format!("{}=<{}>", p.name, p.ty))
            .collect();
        let query_string = if params.is_empty() {
            String::new()
        } else {
            format!("?{}", params.join("&"))
        };
        stdout::line(format_args!(
            "  {curl} '{base}/queries/{name}{query_string}'"
        ))?;
    }
    stdout::line(format_args!("  curl -s {base}/healthz {base}/readyz"))?;
    stdout::line("Press Ctrl-C to stop.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_line_says_each_cause_once() {
        #[derive(Debug)]
        struct Outer(std::io::Error);
        impl std::fmt::Display for Outer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "fetch error after 3 items: {}", self.0)
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let err = anyhow::Error::new(Outer(std::io::Error::other("division by zero")))
            .context("out.ndjson was not written");
        assert_eq!(
            one_line(&err),
            "out.ndjson was not written: fetch error after 3 items: division by zero"
        );
        let plain = anyhow::anyhow!("no such table").context("cannot export");
        assert_eq!(one_line(&plain), "cannot export: no such table");
    }

    #[test]
    fn parses_serve() {
        let cli = Cli::try_parse_from([
            "rowstream",
            "serve",
            "--db",
            "sqlite://x.db",
            "--demo-rows",
            "5",
        ])
        .expect("valid arguments");
        let Some(Command::Serve(args)) = cli.command else {
            panic!("serve expected");
        };
        assert_eq!(args.source.db.as_deref(), Some("sqlite://x.db"));
        assert_eq!(args.source.demo_rows, 5);
        assert!(Cli::try_parse_from(["rowstream", "serve", "--demo-rows", "3000000000"]).is_err());
    }

    fn serve_args(extra: &[&str]) -> ServeArgs {
        let mut argv = vec!["rowstream", "serve"];
        argv.extend_from_slice(extra);
        match Cli::try_parse_from(argv).expect("valid arguments").command {
            Some(Command::Serve(args)) => args,
            _ => panic!("serve expected"),
        }
    }

    #[test]
    fn settings_defaults_and_limits() {
        let resolved = serve_args(&[]).resolve().unwrap();
        assert_eq!(resolved.open.pool_size, 10);
        assert_eq!(resolved.max_streams, 9);
        assert_eq!(resolved.batch_size, 1000);
        assert_eq!(resolved.open.statement_timeout, None);
        assert_eq!(resolved.open.connect_timeout, Some(Duration::from_secs(5)));
        let no_limit = serve_args(&["--connect-timeout", "0"]).resolve().unwrap();
        assert_eq!(no_limit.open.connect_timeout, None);

        let resolved = serve_args(&["--pool-size", "4", "--statement-timeout", "250ms"])
            .resolve()
            .unwrap();
        assert_eq!((resolved.open.pool_size, resolved.max_streams), (4, 3));
        assert_eq!(
            resolved.open.statement_timeout,
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            serve_args(&["--statement-timeout", "0"])
                .resolve()
                .unwrap()
                .open
                .statement_timeout,
            None
        );

        let err = serve_args(&["--pool-size", "4", "--max-streams", "4"])
            .resolve()
            .unwrap_err();
        assert!(err.to_string().contains("below the pool size"), "{err}");
        assert!(Cli::try_parse_from(["rowstream", "serve", "--pool-size", "1"]).is_err());
        assert!(Cli::try_parse_from(["rowstream", "serve", "--max-streams", "0"]).is_err());
        assert!(
            Cli::try_parse_from(["rowstream", "serve", "--statement-timeout", "soon"]).is_err()
        );
    }

    #[test]
    fn flags_win_over_the_config_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rowstream.toml");
        std::fs::write(
            &path,
            "pool_size = 6\nmax_streams = 2\nbatch_size = 10\nstatement_timeout = \"5s\"\n",
        )
        .unwrap();
        let config = path.to_str().unwrap();
        let resolved = serve_args(&["--config", config]).resolve().unwrap();
        assert_eq!(
            (
                resolved.open.pool_size,
                resolved.max_streams,
                resolved.batch_size
            ),
            (6, 2, 10)
        );
        assert_eq!(
            resolved.open.statement_timeout,
            Some(Duration::from_secs(5))
        );
        let resolved = serve_args(&[
            "--config",
            config,
            "--max-streams",
            "5",
            "--batch-size",
            "7",
        ])
        .resolve()
        .unwrap();
        assert_eq!((resolved.max_streams, resolved.batch_size), (5, 7));
        assert!(
            serve_args(&["--config", "/nonexistent/rowstream.toml"])
                .resolve()
                .is_err()
        );
    }
}
