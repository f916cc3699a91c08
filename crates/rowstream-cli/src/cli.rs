//! Command-line interface: `rowstream serve` and `rowstream export`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use tokio::net::TcpListener;

use crate::config::{ConfigFile, parse_duration};
use crate::db::{self, DEFAULT_DEMO_ROWS, DEFAULT_POOL_SIZE, Database, OpenOptions};
use crate::{access, catalog, http};

/// How long open streams may run on after a shutdown signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

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
            .with_writer(std::io::stderr);
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
    /// Database URL, opened read-only: `postgres://…`, `mysql://…` (MySQL and MariaDB) or
    /// `sqlite://PATH`. Without it, an embedded demo database is created (and seeded on
    /// first start) at `$ROWSTREAM_DEMO_DB`, else
    /// `${XDG_DATA_HOME:-$HOME/.local/share}/rowstream/demo.sqlite`.
    #[arg(long, env = "DATABASE_URL", value_name = "URL", hide_env_values = true)]
    pub db: Option<String>,

    /// TOML file with settings and named queries (see the README).
    #[arg(long, env = "ROWSTREAM_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Longest a statement may run: `250ms`, `30s`, `5m`; `0` for no limit (the default).
    /// Applies to each keyset page, and to the whole of a single-query export.
    #[arg(long, env = "ROWSTREAM_STATEMENT_TIMEOUT", value_name = "DURATION", value_parser = parse_duration)]
    pub statement_timeout: Option<Duration>,

    /// Exports in flight at once; more get `503` with `Retry-After`. Default: the pool
    /// size less one. Must be below the pool size.
    #[arg(long, env = "ROWSTREAM_MAX_STREAMS", value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_streams: Option<u32>,

    /// Database connections in the pool. Default 10.
    #[arg(long, env = "ROWSTREAM_POOL_SIZE", value_name = "N", value_parser = clap::value_parser!(u32).range(2..))]
    pub pool_size: Option<u32>,

    /// Rows per keyset page. Default 1,000.
    #[arg(long, env = "ROWSTREAM_BATCH_SIZE", value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub batch_size: Option<u32>,

    /// Address to listen on.
    #[arg(
        long,
        env = "ROWSTREAM_BIND",
        default_value = "127.0.0.1:3000",
        value_name = "ADDR"
    )]
    pub bind: String,

    /// Tickets in the demo database (without `--db`); a different count reseeds it.
    #[arg(
        long,
        env = "ROWSTREAM_DEMO_ROWS",
        default_value_t = DEFAULT_DEMO_ROWS,
        value_parser = clap::value_parser!(u64).range(0..=i32::MAX as u64),
        value_name = "N"
    )]
    pub demo_rows: u64,

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
        limits
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

/// What `serve` runs with: flags and environment first, then the config file, then the
/// defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    /// How the pool is opened.
    pub open: OpenOptions,
    /// Exports in flight at once.
    pub max_streams: usize,
    /// Rows per keyset page.
    pub batch_size: usize,
    /// The config file's contents (named queries), or empty.
    pub config: ConfigFile,
}

impl ServeArgs {
    /// Reads the config file, if any, and settles every setting.
    ///
    /// # Errors
    ///
    /// If the file cannot be read or is invalid, or `max_streams` is not below the pool
    /// size.
    pub fn resolve(&self) -> anyhow::Result<Resolved> {
        let config = match &self.config {
            Some(path) => ConfigFile::load(path)?,
            None => ConfigFile::default(),
        };
        let pool_size = self
            .pool_size
            .or(config.pool_size)
            .unwrap_or(DEFAULT_POOL_SIZE);
        if pool_size < 2 {
            anyhow::bail!("pool_size must be at least 2 (exports stay below it)");
        }
        let max_streams = self
            .max_streams
            .map(|n| n as usize)
            .or(config.max_streams)
            .unwrap_or(pool_size as usize - 1);
        if max_streams == 0 || max_streams >= pool_size as usize {
            anyhow::bail!(
                "max_streams ({max_streams}) must be at least 1 and below the pool size ({pool_size}), \
                 so the catalog and health checks always find a connection"
            );
        }
        let batch_size = self
            .batch_size
            .map(|n| n as usize)
            .or(config.batch_size)
            .unwrap_or(rowstream::DEFAULT_BATCH_SIZE);
        if batch_size == 0 || batch_size > rowstream::MAX_BATCH_SIZE {
            anyhow::bail!(
                "batch_size ({batch_size}) must be between 1 and {}",
                rowstream::MAX_BATCH_SIZE
            );
        }
        let statement_timeout = self
            .statement_timeout
            .or_else(|| config.timeout())
            .filter(|t| !t.is_zero());
        Ok(Resolved {
            open: OpenOptions {
                pool_size,
                statement_timeout,
            },
            max_streams,
            batch_size,
            config,
        })
    }
}

/// `rowstream serve`: opens (or seeds) the database, listens, prints how to reach it,
/// and serves until Ctrl-C or SIGTERM.
///
/// # Errors
///
/// If the settings are invalid, the database cannot be seeded or opened, a named query
/// does not prepare, or the address cannot be bound.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let resolved = args.resolve()?;
    let token = args
        .token
        .as_deref()
        .map(access::Token::new)
        .transpose()
        .context("invalid --token (ROWSTREAM_TOKEN)")?;
    let db: Database = match &args.db {
        Some(url) => db::open(url, &resolved.open).await?,
        None => {
            let path = db::demo_db_path()?;
            println!("Demo database: {}", path.display());
            let seeded = tokio::select! {
                seeded = db::seed_demo(&path, args.demo_rows) => seeded?,
                () = http::shutdown_signal() => {
                    anyhow::bail!("interrupted while seeding; {} was left as it was", path.display());
                }
            };
            match seeded.rows_per_sec() {
                Some(rate) => println!(
                    "Seeded {} tickets in {:.2?} ({:.0} rows/s)",
                    seeded.rows, seeded.elapsed, rate
                ),
                None => println!("Reusing {} tickets (seeded earlier)", seeded.rows),
            }
            Database::Sqlite(db::open_readonly_path_with(&path, resolved.open.pool_size).await?)
        }
    };
    http::check_queries(&db, &resolved.config.queries).await?;

    let listener = TcpListener::bind(&args.bind)
        .await
        .with_context(|| format!("cannot listen on {}", args.bind))?;
    let addr = listener.local_addr()?;
    print_banner(addr, &db, &resolved, token.is_some()).await;
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
        metrics: Some(http::install_metrics()?),
        token,
        tables: resolved.config.tables.clone(),
    };
    let options = http::ServeOptions {
        grace: SHUTDOWN_GRACE,
        write_timeout: args.write_timeout,
        header_read_timeout: args.header_timeout,
        ..http::ServeOptions::default()
    };
    http::serve_with(
        listener,
        http::router_with(db.clone(), settings),
        http::shutdown_signal(),
        options,
    )
    .await
    .context("the server failed")?;
    db.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Prints the URL and a few `curl` lines to try.
async fn print_banner(addr: SocketAddr, db: &Database, resolved: &Resolved, token: bool) {
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
    println!(
        "rowstream listening on {base} ({} database, {} tables, at most {} exports at once)",
        db.kind(),
        tables.len(),
        resolved.max_streams
    );
    println!("  {base}/ in a browser: the tables and queries, a link per format");
    println!("  {curl} {base}/tables");
    if let Some(table) = first_table {
        let url = format!("{base}/tables/{}", percent_encode_segment(&table));
        println!("  {curl} {url} | head -c 1000");
        println!(
            "  {curl} -o /dev/null -w '%{{size_download}} bytes, first byte %{{time_starttransfer}}s, total %{{time_total}}s\\n' {url}"
        );
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
        println!("  {curl} '{base}/queries/{name}{query_string}'");
    }
    println!("  curl -s {base}/healthz");
    println!("Press Ctrl-C to stop.");
}

/// Percent-encodes everything but unreserved characters (RFC 3986) in a path segment.
pub(crate) fn percent_encode_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_segments() {
        assert_eq!(percent_encode_segment("tickets"), "tickets");
        assert_eq!(percent_encode_segment("a b/\"é"), "a%20b%2F%22%C3%A9");
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
        assert_eq!(args.db.as_deref(), Some("sqlite://x.db"));
        assert_eq!(args.demo_rows, 5);
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
