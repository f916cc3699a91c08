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

    /// PEM file of the certificate authorities the database server's certificate must
    /// chain to, besides the Mozilla roots built in (a managed database's CA bundle);
    /// replaces the URL's `sslrootcert` / `ssl-ca`. Checked with `sslmode=verify-ca` or
    /// `verify-full` (MySQL: `ssl-mode=VERIFY_CA` or `VERIFY_IDENTITY`) in the URL.
    #[arg(long, env = "ROWSTREAM_DB_CA", value_name = "FILE")]
    pub db_ca: Option<PathBuf>,

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

    /// How values that formats disagree on are written.
    #[command(flatten)]
    pub values: ValueArgs,

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
    /// If the file cannot be read or is invalid, the `--db-ca` file does not exist, the
    /// pool has fewer than 2 connections,
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
        if let Some(path) = &self.db_ca {
            // Now, not at the first TLS handshake: a typo must not wait for a server.
            std::fs::metadata(path)
                .map_err(|err| anyhow::anyhow!("cannot read --db-ca {}: {err}", path.display()))?;
        }
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
                ca_file: self.db_ca.clone(),
            },
            max_streams,
            batch_size,
            config,
        })
    }
}

/// How values that formats disagree on are written: the server's defaults
/// (`--non-finite`, `--big-integers`, `--formula-guard`), which a request may override
/// with the query parameters of the same names (`?non_finite=string`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Args)]
pub struct ValueArgs {
    /// NaN and ±Infinity in the JSON formats: `null` (the default: every JSON parser
    /// reads it and a numeric column stays numeric), `string` ("NaN", "Infinity",
    /// "-Infinity"), or `error` (the export fails at that row, naming the column).
    /// MessagePack and CSV write them as they are unless `error`.
    #[arg(
        long,
        env = "ROWSTREAM_NON_FINITE",
        value_enum,
        default_value_t,
        value_name = "POLICY"
    )]
    pub non_finite: NonFiniteArg,

    /// Integers beyond ±(2^53 − 1) in the JSON formats and MessagePack: `number` (exact
    /// digits, the default) or `string` (for JavaScript clients, whose numbers round
    /// them). CSV writes the digits either way.
    #[arg(
        long,
        env = "ROWSTREAM_BIG_INTEGERS",
        value_enum,
        default_value_t,
        value_name = "POLICY"
    )]
    pub big_integers: BigIntegersArg,

    /// CSV formula guard: `true` prefixes text fields that start with `=`, `+`, `-`, `@`,
    /// TAB or CR with `'`, so spreadsheets show them as text instead of running them.
    /// Default `false` (the data as it is).
    #[arg(
        long,
        env = "ROWSTREAM_FORMULA_GUARD",
        value_name = "BOOL",
        default_value_t = false,
        action = clap::ArgAction::Set
    )]
    pub formula_guard: bool,
}

/// `--non-finite`: [`rowstream::NonFinite`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum NonFiniteArg {
    /// `null`.
    #[default]
    Null,
    /// `"NaN"`, `"Infinity"`, `"-Infinity"`.
    String,
    /// The export fails.
    Error,
}

/// `--big-integers`: [`rowstream::BigIntegers`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum BigIntegersArg {
    /// Exact digits as a number.
    #[default]
    Number,
    /// Exact digits as a string.
    String,
}

impl ValueArgs {
    /// An encoder for `format` under these settings.
    ///
    /// # Errors
    ///
    /// The format is not built into this binary.
    pub fn encoder(
        &self,
        format: rowstream::Format,
    ) -> Result<rowstream::AnyEncoder, rowstream::UnavailableFormat> {
        let encoder = rowstream::AnyEncoder::new(format)?;
        Ok(self.apply(encoder))
    }

    /// `encoder` under these settings: the value policy, and the formula guard if it is
    /// a CSV encoder.
    pub fn apply(&self, encoder: rowstream::AnyEncoder) -> rowstream::AnyEncoder {
        encoder
            .policy(self.policy())
            .formula_guard(self.formula_guard)
    }

    /// The library's value policy for these settings.
    pub fn policy(&self) -> rowstream::ValuePolicy {
        rowstream::ValuePolicy::default()
            .non_finite(match self.non_finite {
                NonFiniteArg::Null => rowstream::NonFinite::Null,
                NonFiniteArg::String => rowstream::NonFinite::String,
                NonFiniteArg::Error => rowstream::NonFinite::Error,
            })
            .big_integers(match self.big_integers {
                BigIntegersArg::Number => rowstream::BigIntegers::Number,
                BigIntegersArg::String => rowstream::BigIntegers::String,
            })
    }

    /// These settings with the request's query parameters `non_finite`, `big_integers`
    /// and `formula_guard` (the last of each wins) over them.
    ///
    /// # Errors
    ///
    /// A parameter with a value it does not take: the message names the parameter and
    /// the values it takes.
    pub fn with_params(
        mut self,
        params: &[(String, String)],
    ) -> Result<Self, (&'static str, String)> {
        use clap::ValueEnum as _;
        for (name, value) in params {
            match name.as_str() {
                "non_finite" => {
                    self.non_finite = NonFiniteArg::from_str(value, false).map_err(|_| {
                        (
                            "non_finite",
                            format!("non_finite must be null, string or error, not \"{value}\""),
                        )
                    })?;
                }
                "big_integers" => {
                    self.big_integers = BigIntegersArg::from_str(value, false).map_err(|_| {
                        (
                            "big_integers",
                            format!("big_integers must be number or string, not \"{value}\""),
                        )
                    })?;
                }
                "formula_guard" => {
                    self.formula_guard = match value.as_str() {
                        "true" => true,
                        "false" => false,
                        _ => {
                            return Err((
                                "formula_guard",
                                format!("formula_guard must be true or false, not \"{value}\""),
                            ));
                        }
                    };
                }
                _ => {}
            }
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn request_parameters_override_the_server_defaults() {
        let server = ValueArgs {
            non_finite: NonFiniteArg::Error,
            big_integers: BigIntegersArg::String,
            formula_guard: true,
        };
        assert_eq!(server.with_params(&[]), Ok(server));
        let request = server
            .with_params(&params(&[
                ("non_finite", "string"),
                ("big_integers", "number"),
                ("formula_guard", "false"),
                ("format", "csv"),
            ]))
            .unwrap();
        assert_eq!(
            request,
            ValueArgs {
                non_finite: NonFiniteArg::String,
                big_integers: BigIntegersArg::Number,
                formula_guard: false,
            }
        );
        assert_eq!(
            request.policy(),
            rowstream::ValuePolicy::default().non_finite(rowstream::NonFinite::String)
        );
        assert_eq!(
            ValueArgs::default().with_params(&params(&[("non_finite", "NaN")])),
            Err((
                "non_finite",
                "non_finite must be null, string or error, not \"NaN\"".to_owned()
            ))
        );
        // Only `true` and `false`: an empty value or `1` is not a guess the server makes.
        for value in ["yes", "", "1", "TRUE"] {
            assert_eq!(
                ValueArgs::default()
                    .with_params(&params(&[("formula_guard", value)]))
                    .map_err(|(name, _)| name),
                Err("formula_guard"),
                "{value:?}"
            );
        }
    }
}
