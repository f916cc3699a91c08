//! Command-line interface: `rowstream serve`.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use sqlx::SqlitePool;
use tokio::net::TcpListener;

use crate::db::{self, DEFAULT_DEMO_ROWS};
use crate::http;

/// How long open streams may run on after a shutdown signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Serve database tables as streaming HTTP exports.
#[derive(Debug, Parser)]
#[command(name = "rowstream", version, about)]
pub struct Cli {
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve every table and view of a database over HTTP.
    Serve(ServeArgs),
}

/// Options of `rowstream serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Database URL, `sqlite://PATH`, opened read-only. Without it, an embedded demo
    /// database is created (and seeded on first start) at `$ROWSTREAM_DEMO_DB`, else
    /// `${XDG_DATA_HOME:-$HOME/.local/share}/rowstream/demo.sqlite`.
    #[arg(long, env = "DATABASE_URL", value_name = "URL")]
    pub db: Option<String>,

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
            // No subcommand: `serve` with its defaults and environment.
            None => match Cli::try_parse_from(["rowstream", "serve"])?.command {
                Some(Command::Serve(args)) => serve(args).await,
                None => Ok(()),
            },
        }
    }
}

/// `rowstream serve`: opens (or seeds) the database, listens, prints how to reach it,
/// and serves until Ctrl-C or SIGTERM.
///
/// # Errors
///
/// If the database cannot be seeded or opened, or the address cannot be bound.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let pool = match &args.db {
        Some(url) => db::open_readonly(url).await?,
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
            db::open_readonly_path(&path).await?
        }
    };

    let listener = TcpListener::bind(&args.bind)
        .await
        .with_context(|| format!("cannot listen on {}", args.bind))?;
    let addr = listener.local_addr()?;
    print_banner(addr, &pool).await;
    tracing::info!(%addr, "listening");

    http::serve(
        listener,
        http::router(pool.clone()),
        http::shutdown_signal(),
        SHUTDOWN_GRACE,
    )
    .await
    .context("the server failed")?;
    pool.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Prints the URL and a few `curl` lines to try.
async fn print_banner(addr: SocketAddr, pool: &SqlitePool) {
    let host = if addr.ip().is_unspecified() {
        format!("localhost:{}", addr.port())
    } else {
        addr.to_string()
    };
    let base = format!("http://{host}");
    let first_table: Option<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_schema WHERE type IN ('table', 'view') \
         AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name <> 'tickets', name LIMIT 1",
    )
    .fetch_optional(pool)
    .await
    .ok()
    .flatten();
    println!("rowstream listening on {base}");
    println!("  curl -s {base}/tables");
    if let Some(table) = first_table {
        let url = format!("{base}/tables/{}", percent_encode_segment(&table));
        println!("  curl -s {url} | head -c 1000");
        println!(
            "  curl -s -o /dev/null -w '%{{size_download}} bytes, first byte %{{time_starttransfer}}s, total %{{time_total}}s\\n' {url}"
        );
    }
    println!("  curl -s {base}/healthz");
    println!("Press Ctrl-C to stop.");
}

/// Percent-encodes everything but unreserved characters (RFC 3986) in a path segment.
fn percent_encode_segment(segment: &str) -> String {
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
}
