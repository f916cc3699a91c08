//! The settings `rowstream serve` and `rowstream export` share, settled by one function
//! ([`SourceArgs::resolve`]): flags and environment first, then the config file, then the
//! defaults, each checked against its bounds.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use clap::Args;

use crate::config::{ConfigFile, parse_duration};
use crate::db::{DEFAULT_DEMO_ROWS, DEFAULT_POOL_SIZE, OpenOptions};

/// The flags both commands take: which database, the config file, and how rows are read.
#[derive(Debug, Clone, Args)]
pub struct SourceArgs {
    /// Database URL, opened read-only: `postgres://…`, `mysql://…` (MySQL and MariaDB) or
    /// `sqlite://PATH`. Without it, an embedded demo database is created (and seeded on
    /// first use) at `$ROWSTREAM_DEMO_DB`, else
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

    /// Longest wait for a PostgreSQL or MySQL/MariaDB server to accept a connection,
    /// answer and authenticate before the command fails, naming the address and the
    /// cause: `5s` by default; `0` for none.
    #[arg(long, env = "ROWSTREAM_CONNECT_TIMEOUT", value_name = "DURATION", value_parser = parse_duration, default_value = "5s")]
    pub connect_timeout: Duration,

    /// Rows per keyset page. Default 1,000.
    #[arg(long, env = "ROWSTREAM_BATCH_SIZE", value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub batch_size: Option<u32>,

    /// Tickets in the demo database (without `--db`); a different count reseeds it.
    #[arg(
        long,
        env = "ROWSTREAM_DEMO_ROWS",
        default_value_t = DEFAULT_DEMO_ROWS,
        value_parser = clap::value_parser!(u64).range(0..=i32::MAX as u64),
        value_name = "N"
    )]
    pub demo_rows: u64,

    /// Largest encoded size of one row, in bytes (`1048576`) or with a unit (`64KiB`,
    /// `1MiB`, `1GiB`): a larger row fails the export as soon as it passes the limit,
    /// before it is read into a buffer of its size — a `500` problem+json naming the
    /// limit when it is the first row, a cut transfer after. Default: none; `0` for none.
    #[arg(long, env = "ROWSTREAM_MAX_ITEM_SIZE", value_name = "BYTES", value_parser = parse_size)]
    pub max_item_size: Option<usize>,
}

/// Parses a size in bytes: a whole number with an optional unit `B`, `KiB`, `MiB` or
/// `GiB` (powers of 1,024; `K`, `M`, `G`, `KB`, `MB`, `GB` mean the same).
///
/// # Errors
///
/// If the text is not such a size, or is too large for this machine.
pub fn parse_size(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let scale: usize = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => {
            return Err(format!(
                "{text:?} is not a size such as 65536, 64KiB or 1MiB"
            ));
        }
    };
    if number.is_empty() {
        return Err(format!(
            "{text:?} is not a size such as 65536, 64KiB or 1MiB"
        ));
    }
    number
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .ok_or_else(|| format!("{text:?} is out of range"))
}

/// What a command runs with: flags and environment first, then the config file, then the
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

impl SourceArgs {
    /// `limits` with `--max-item-size` applied (`0` leaves it off).
    pub fn limits(&self, limits: rowstream::Limits) -> rowstream::Limits {
        match self.max_item_size {
            Some(bytes) => limits.max_item_size(bytes),
            None => limits,
        }
    }

    /// Reads the config file, if any, and settles every setting; `pool_size` and
    /// `max_streams` are the command's own (flags of `serve`, fixed for `export`), and
    /// win over the config file's.
    ///
    /// # Errors
    ///
    /// If the file cannot be read or is invalid, the pool has fewer than 2 connections,
    /// `max_streams` is not between 1 and the pool size less one, or `batch_size` is not
    /// between 1 and [`rowstream::MAX_BATCH_SIZE`].
    pub fn resolve(
        &self,
        pool_size: Option<u32>,
        max_streams: Option<u32>,
    ) -> anyhow::Result<Resolved> {
        let config = match &self.config {
            Some(path) => ConfigFile::load(path)?,
            None => ConfigFile::default(),
        };
        let pool_size = pool_size.or(config.pool_size).unwrap_or(DEFAULT_POOL_SIZE);
        if pool_size < 2 {
            bail!("pool_size must be at least 2 (exports stay below it)");
        }
        let max_streams = max_streams
            .map(|n| n as usize)
            .or(config.max_streams)
            .unwrap_or(pool_size as usize - 1);
        if max_streams == 0 || max_streams >= pool_size as usize {
            bail!(
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
            bail!(
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
                connect_timeout: Some(self.connect_timeout).filter(|t| !t.is_zero()),
            },
            max_streams,
            batch_size,
            config,
        })
    }
}
