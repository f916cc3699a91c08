//! The TOML configuration file (`--config`): server settings and named queries.
//!
//! ```toml
//! # Every setting is optional; a command-line flag or environment variable wins.
//! batch_size = 1000          # rows per keyset page
//! max_streams = 8            # exports in flight at once (below pool_size)
//! pool_size = 10             # database connections
//! statement_timeout = "30s"  # per statement: "250ms", "30s", "5m", "1h"; "0" for none
//!
//! [queries.delayed]
//! description = "Flights from an airport delayed at least min_delay minutes"
//! sql = "SELECT * FROM flights WHERE origin = $1 AND dep_delay >= $2 ORDER BY id"
//! params = [
//!   { name = "origin", type = "text" },
//!   { name = "min_delay", type = "int" },
//! ]
//! # Optional limits of this query's exports; each wins over the server-wide flag.
//! rate_items = 5000          # rows per second
//! rate_bytes = 1048576       # encoded bytes per second
//! max_rows = 1000000         # more rows cut the export
//! deadline = "10m"           # longest one export may take
//! ```
//!
//! A named query is served at `GET /queries/{name}?param=value&…`. Its parameters are bound
//! in the order listed — `$1`, `$2` … on PostgreSQL, each `?` in turn on MySQL/MariaDB and
//! SQLite (list a parameter twice to use it twice there) — and never pasted into the SQL.
//! Types: `int` (64-bit integer), `float` (finite 64-bit float), `text`, `bool` (`true`/
//! `false`/`1`/`0`), `date` (`YYYY-MM-DD`, checked, bound as text: on PostgreSQL write
//! `$1::date`).

mod query;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde::Deserialize;

pub use query::{NamedQuery, Param, ParamError, ParamType, Value};

/// The parsed configuration file.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Rows per keyset page.
    pub batch_size: Option<usize>,
    /// Exports in flight at once.
    pub max_streams: Option<usize>,
    /// Database connections.
    pub pool_size: Option<u32>,
    /// Statement timeout, as [`parse_duration`] reads it.
    pub statement_timeout: Option<String>,
    /// Named queries by name.
    #[serde(default)]
    pub queries: BTreeMap<String, NamedQuery>,
    /// The `[tables]` section: which tables are served.
    #[serde(default)]
    pub tables: crate::access::TableFilter,
}

/// Parses a duration: a number with a unit `ms`, `s`, `m` or `h` (`"250ms"`, `"1.5s"`,
/// `"5m"`), or a bare number of seconds. `0` means none. The decimal number is read
/// exactly (no float rounding), to the nearest nanosecond.
///
/// # Errors
///
/// If the text is not such a duration, or is negative or too large.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    const NANOS_PER_SEC: u128 = 1_000_000_000;
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let unit_nanos: u128 = match unit.trim() {
        "ms" => 1_000_000,
        "" | "s" => NANOS_PER_SEC,
        "m" | "min" => 60 * NANOS_PER_SEC,
        "h" => 3600 * NANOS_PER_SEC,
        other => {
            return Err(format!(
                "unknown unit {other:?} in {text:?} (use ms, s, m or h)"
            ));
        }
    };
    let malformed = || format!("{text:?} is not a duration such as 250ms, 30s or 5m");
    let out_of_range = || format!("{text:?} is out of range");
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if (whole.is_empty() && fraction.is_empty()) || fraction.contains('.') {
        return Err(malformed());
    }
    let whole: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| out_of_range())?
    };
    // Digits past the 18th are below a nanosecond even in hours.
    let fraction = &fraction[..fraction.len().min(18)];
    let scale = 10u128.pow(u32::try_from(fraction.len()).unwrap_or(18));
    let fraction: u128 = if fraction.is_empty() {
        0
    } else {
        fraction.parse().map_err(|_| malformed())?
    };
    let nanos = whole
        .checked_mul(unit_nanos)
        .and_then(|n| n.checked_add((fraction * unit_nanos + scale / 2) / scale))
        .ok_or_else(out_of_range)?;
    let secs = u64::try_from(nanos / NANOS_PER_SEC).map_err(|_| out_of_range())?;
    let subsec = u32::try_from(nanos % NANOS_PER_SEC).map_err(|_| out_of_range())?;
    Ok(Duration::new(secs, subsec))
}

impl ConfigFile {
    /// Reads and checks the file at `path`.
    ///
    /// # Errors
    ///
    /// If it cannot be read, is not valid TOML of this shape, or fails [`Self::check`].
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the config file {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("invalid config file {}", path.display()))
    }

    /// Parses and checks TOML text.
    ///
    /// # Errors
    ///
    /// As [`Self::load`].
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let config: Self = toml::from_str(text)?;
        config.check()?;
        Ok(config)
    }

    /// Checks names, parameters and the timeout.
    ///
    /// # Errors
    ///
    /// A query name that is not `[A-Za-z0-9_-]+`, empty SQL, a parameter name that is not
    /// `[A-Za-z0-9_]+` or is reserved ([`crate::url::RESERVED_PARAMS`]: `format`,
    /// `complete` …), one name listed with two types, or an unreadable timeout.
    pub fn check(&self) -> anyhow::Result<()> {
        if let Some(timeout) = &self.statement_timeout {
            parse_duration(timeout).map_err(|e| anyhow::anyhow!("statement_timeout: {e}"))?;
        }
        for (name, query) in &self.queries {
            let name_ok = |name: &str, extra: &[u8]| {
                !name.is_empty()
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || extra.contains(&b))
            };
            if !name_ok(name, b"-") {
                bail!("query name {name:?}: use letters, digits, '_' and '-'");
            }
            if query.sql.trim().is_empty() {
                bail!("query {name:?}: empty sql");
            }
            if query.rate_items == Some(0) || query.rate_bytes == Some(0) {
                bail!("query {name:?}: a rate must be at least 1 (leave it out for no limit)");
            }
            if query.max_rows == Some(0) {
                bail!("query {name:?}: max_rows must be at least 1");
            }
            if let Some(deadline) = &query.deadline {
                match parse_duration(deadline) {
                    Ok(d) if d.is_zero() => bail!("query {name:?}: deadline must not be zero"),
                    Ok(_) => {}
                    Err(e) => bail!("query {name:?}: deadline: {e}"),
                }
            }
            let mut types: BTreeMap<&str, ParamType> = BTreeMap::new();
            for param in &query.params {
                if !name_ok(&param.name, b"") {
                    bail!(
                        "query {name:?}: parameter name {:?}: use letters, digits and '_'",
                        param.name
                    );
                }
                if crate::url::RESERVED_PARAMS.contains(&param.name.as_str()) {
                    bail!(
                        "query {name:?}: parameter name {:?} is reserved: the server reads \
                         {} itself",
                        param.name,
                        crate::url::RESERVED_PARAMS.join(", ")
                    );
                }
                if let Some(ty) = types.insert(&param.name, param.ty) {
                    if ty != param.ty {
                        bail!(
                            "query {name:?}: parameter {:?} is listed as {ty} and as {}",
                            param.name,
                            param.ty
                        );
                    }
                }
            }
        }
        Ok(())
    }

    /// The statement timeout, if set and not zero.
    pub fn timeout(&self) -> Option<Duration> {
        self.statement_timeout
            .as_deref()
            .and_then(|t| parse_duration(t).ok())
            .filter(|t| !t.is_zero())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
batch_size = 500
max_streams = 3
statement_timeout = "1.5s"

[queries.by_origin]
description = "flights from an airport"
sql = "SELECT * FROM flights WHERE origin = $1 AND dep_delay >= $2"
params = [
  { name = "origin", type = "text" },
  { name = "min_delay", type = "int" },
]

[queries.all]
sql = "SELECT 1"
"#;

    #[test]
    fn parses_the_example() {
        let config = ConfigFile::parse(EXAMPLE).unwrap();
        assert_eq!(config.batch_size, Some(500));
        assert_eq!(config.max_streams, Some(3));
        assert_eq!(config.timeout(), Some(Duration::from_millis(1500)));
        let query = &config.queries["by_origin"];
        assert_eq!(query.params.len(), 2);
        assert_eq!(query.params[1].ty, ParamType::Int);
        assert!(config.queries["all"].params.is_empty());
    }

    #[test]
    fn the_module_example_parses() {
        let docs = include_str!("mod.rs");
        let example: String = docs
            .lines()
            .skip_while(|l| !l.starts_with("//! ```toml"))
            .skip(1)
            .take_while(|l| !l.starts_with("//! ```"))
            .map(|l| format!("{}\n", l.trim_start_matches("//!").trim_start()))
            .collect();
        let config = ConfigFile::parse(&example).unwrap();
        assert_eq!(config.queries["delayed"].params.len(), 2);
        assert_eq!(config.timeout(), Some(Duration::from_secs(30)));
    }

    #[test]
    fn the_readme_example_parses() {
        let readme = include_str!("../../../../README.md");
        // The config file example: the TOML block with named queries (the README has
        // other TOML blocks, such as the library's `[dependencies]`).
        let example: String = readme
            .split("```toml\n")
            .skip(1)
            .filter_map(|block| block.split_once("\n```").map(|(toml, _)| toml))
            .find(|toml| toml.contains("[queries."))
            .map(|toml| format!("{toml}\n"))
            .unwrap();
        let config = ConfigFile::parse(&example).unwrap();
        assert_eq!(config.queries.len(), 2);
        assert_eq!(config.queries["on_day"].params[0].ty, ParamType::Date);
    }

    #[test]
    fn rejects_bad_files() {
        for (toml, needle) in [
            ("unknown = 1", "unknown"),
            ("[queries.\"a b\"]\nsql = \"SELECT 1\"", "query name"),
            ("[queries.q]\nsql = \" \"", "empty sql"),
            (
                "[queries.q]\nsql = \"x\"\nparams = [{ name = \"a\", type = \"uuid\" }]",
                "uuid",
            ),
            (
                "[queries.q]\nsql = \"x\"\nparams = [{ name = \"a-b\", type = \"int\" }]",
                "parameter name",
            ),
            (
                "[queries.q]\nsql = \"x\"\nparams = [{ name = \"a\", type = \"int\" }, { name = \"a\", type = \"text\" }]",
                "listed as int and as text",
            ),
            ("statement_timeout = \"soon\"", "statement_timeout"),
            (
                "[queries.q]\nsql = \"x\"\nrate_items = 0",
                "rate must be at least 1",
            ),
            (
                "[queries.q]\nsql = \"x\"\nrate_bytes = 0",
                "rate must be at least 1",
            ),
            ("[queries.q]\nsql = \"x\"\nmax_rows = 0", "max_rows"),
            (
                "[queries.q]\nsql = \"x\"\ndeadline = \"0\"",
                "deadline must not be zero",
            ),
            ("[queries.q]\nsql = \"x\"\ndeadline = \"later\"", "deadline"),
            ("[queries.q]\nsql = \"x\"\nrate_items = -5", "rate_items"),
        ] {
            let err = format!("{:#}", ConfigFile::parse(toml).unwrap_err());
            assert!(err.contains(needle), "{toml}: {err}");
        }
        // The same name twice with one type is how MySQL's `?` reuses a value.
        ConfigFile::parse(
            "[queries.q]\nsql = \"x\"\nparams = [{ name = \"a\", type = \"int\" }, { name = \"a\", type = \"int\" }]",
        )
        .unwrap();
    }

    #[test]
    fn reserved_parameter_names_are_refused() {
        // The server reads `format` and `complete` itself and never binds them: a query
        // with such a parameter could never run.
        for reserved in crate::url::RESERVED_PARAMS {
            let toml = format!(
                "[queries.q]\nsql = \"x\"\nparams = [{{ name = \"{reserved}\", type = \"text\" }}]"
            );
            let err = format!("{:#}", ConfigFile::parse(&toml).unwrap_err());
            assert!(err.contains("is reserved"), "{toml}: {err}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("5 days").is_err());
        assert!(parse_duration("1e400").is_err());
    }

    #[test]
    fn durations_are_exact() {
        // Scaling through a float gave 4281389.367000001s here.
        assert_eq!(
            parse_duration("4281389367ms"),
            Ok(Duration::from_millis(4_281_389_367))
        );
        assert_eq!(
            parse_duration("4294967295h"),
            Ok(Duration::from_secs(4_294_967_295 * 3600))
        );
        assert_eq!(
            parse_duration("12345678.123456789s"),
            Ok(Duration::new(12_345_678, 123_456_789))
        );
        assert_eq!(parse_duration("1.1h"), Ok(Duration::from_secs(3960)));
        assert_eq!(parse_duration(".5s"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2."), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("0.0000000004s"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("0.0000000005s"), Ok(Duration::from_nanos(1)));
        assert!(parse_duration(".").is_err());
        assert!(parse_duration("1.2.3s").is_err());
        assert!(parse_duration("18446744073709551616").is_err());
        assert!(parse_duration("99999999999999999999999999999999999999999h").is_err());
    }

    #[test]
    fn binding_checks_every_parameter() {
        let config = ConfigFile::parse(EXAMPLE).unwrap();
        let query = &config.queries["by_origin"];
        let pairs = |p: &[(&str, &str)]| -> Vec<(String, String)> {
            p.iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect()
        };
        assert_eq!(
            query.bind_values(&pairs(&[("min_delay", "30"), ("origin", "JFK")])),
            Ok(vec![Value::Text("JFK".into()), Value::Int(30)])
        );
        let err = query.bind_values(&pairs(&[("origin", "JFK")])).unwrap_err();
        assert_eq!(err.name(), "min_delay");
        assert!(matches!(err, ParamError::Missing { .. }));
        let err = query
            .bind_values(&pairs(&[
                ("origin", "JFK"),
                ("min_delay", "1; DROP TABLE flights"),
            ]))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "parameter \"min_delay\" (int) must be an integer (64-bit, decimal digits)"
        );
        let err = query
            .bind_values(&pairs(&[
                ("origin", "JFK"),
                ("min_delay", "1"),
                ("sql", "x"),
            ]))
            .unwrap_err();
        assert_eq!(err, ParamError::Unknown { name: "sql".into() });
        let err = query
            .bind_values(&pairs(&[
                ("origin", "JFK"),
                ("origin", "LGA"),
                ("min_delay", "1"),
            ]))
            .unwrap_err();
        assert_eq!(
            err,
            ParamError::Repeated {
                name: "origin".into()
            }
        );
    }
}
