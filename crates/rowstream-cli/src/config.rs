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

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde::Deserialize;

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

/// One named query.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamedQuery {
    /// The SQL, with placeholders for the parameters.
    pub sql: String,
    /// The parameters, in placeholder order.
    #[serde(default)]
    pub params: Vec<Param>,
    /// What it returns, for people.
    #[serde(default)]
    pub description: Option<String>,
    /// Most rows per second of one export of this query; wins over `--rate-items`.
    #[serde(default)]
    pub rate_items: Option<u32>,
    /// Most encoded bytes per second of one export of this query; wins over
    /// `--rate-bytes`.
    #[serde(default)]
    pub rate_bytes: Option<u32>,
    /// Most rows one export of this query may carry; wins over `--max-rows`.
    #[serde(default)]
    pub max_rows: Option<u64>,
    /// Longest one export of this query may take, as [`parse_duration`] reads it; wins
    /// over `--deadline`.
    #[serde(default)]
    pub deadline: Option<String>,
}

/// A parameter of a named query.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Param {
    /// Its name in the request's query string.
    pub name: String,
    /// Its type.
    #[serde(rename = "type")]
    pub ty: ParamType,
}

/// The type of a parameter, which decides how its text is parsed and bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamType {
    /// A 64-bit signed integer, bound as `i64`.
    Int,
    /// A finite 64-bit float, bound as `f64`.
    Float,
    /// Any text, bound as a string.
    Text,
    /// `true`/`false` (or `1`/`0`), bound as a boolean.
    Bool,
    /// A calendar date `YYYY-MM-DD`, checked, bound as text.
    Date,
}

impl fmt::Display for ParamType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Int => "int",
            Self::Float => "float",
            Self::Text => "text",
            Self::Bool => "bool",
            Self::Date => "date",
        })
    }
}

/// A parameter value, parsed from its text.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// From `int`.
    Int(i64),
    /// From `float`.
    Float(f64),
    /// From `text` and `date`.
    Text(String),
    /// From `bool`.
    Bool(bool),
}

impl ParamType {
    /// Parses a request's text as this type.
    ///
    /// # Errors
    ///
    /// A short explanation of what was expected.
    pub fn parse(self, text: &str) -> Result<Value, String> {
        match self {
            Self::Int => text
                .parse::<i64>()
                .map(Value::Int)
                .map_err(|_| "must be an integer (64-bit, decimal digits)".to_owned()),
            Self::Float => match text.parse::<f64>() {
                Ok(v) if v.is_finite() => Ok(Value::Float(v)),
                _ => Err("must be a finite number".to_owned()),
            },
            // PostgreSQL refuses NUL in text, and no other database stores it usefully.
            Self::Text if text.contains('\0') => Err("must not contain NUL".to_owned()),
            Self::Text => Ok(Value::Text(text.to_owned())),
            Self::Bool => match text {
                "true" | "1" => Ok(Value::Bool(true)),
                "false" | "0" => Ok(Value::Bool(false)),
                _ => Err("must be true or false".to_owned()),
            },
            Self::Date => {
                if is_date(text) {
                    Ok(Value::Text(text.to_owned()))
                } else {
                    Err("must be a date, YYYY-MM-DD".to_owned())
                }
            }
        }
    }
}

/// `YYYY-MM-DD`, a real day of the proleptic Gregorian calendar, year 0001–9999.
fn is_date(text: &str) -> bool {
    let bytes = text.as_bytes();
    if !text.is_ascii() || bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return false;
    }
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        let digits = &text[range];
        digits
            .bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| digits.parse().ok())
            .flatten()
    };
    let (Some(year), Some(month), Some(day)) = (number(0..4), number(5..7), number(8..10)) else {
        return false;
    };
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    year >= 1 && (1..=days).contains(&day)
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
    /// `[A-Za-z0-9_]+` or is reserved (`format`, `complete`), one name listed with two
    /// types, or an unreadable timeout.
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
                         `format` and `complete` itself",
                        param.name
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

/// Why a request's parameters were refused; each names the parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamError {
    /// A parameter of the query is not in the request.
    Missing {
        /// The parameter.
        name: String,
        /// Its type.
        ty: ParamType,
    },
    /// A parameter's text does not parse as its type.
    Invalid {
        /// The parameter.
        name: String,
        /// Its type.
        ty: ParamType,
        /// What was expected.
        reason: String,
    },
    /// The request has a parameter the query does not take.
    Unknown {
        /// The parameter.
        name: String,
    },
    /// The request gives a parameter more than once.
    Repeated {
        /// The parameter.
        name: String,
    },
}

impl ParamError {
    /// The parameter's name.
    pub fn name(&self) -> &str {
        match self {
            Self::Missing { name, .. }
            | Self::Invalid { name, .. }
            | Self::Unknown { name }
            | Self::Repeated { name } => name,
        }
    }
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing { name, ty } => write!(f, "missing parameter \"{name}\" ({ty})"),
            Self::Invalid { name, ty, reason } => {
                write!(f, "parameter \"{name}\" ({ty}) {reason}")
            }
            Self::Unknown { name } => write!(f, "unknown parameter \"{name}\""),
            Self::Repeated { name } => write!(f, "parameter \"{name}\" is given more than once"),
        }
    }
}

impl NamedQuery {
    /// `base` (the server-wide limits) with this query's own limits put over it.
    pub fn limits(&self, base: rowstream::Limits) -> rowstream::Limits {
        let mut limits = base;
        if let Some(rate) = self.rate_items {
            limits = limits.items_per_second(rate);
        }
        if let Some(rate) = self.rate_bytes {
            limits = limits.bytes_per_second(rate);
        }
        if let Some(rows) = self.max_rows {
            limits = limits.max_items(rows);
        }
        if let Some(deadline) = self
            .deadline
            .as_deref()
            .and_then(|d| parse_duration(d).ok())
        {
            limits = limits.deadline(deadline);
        }
        limits
    }

    /// The values to bind, in placeholder order, parsed from a request's `(name, value)`
    /// pairs; nothing runs before this succeeds.
    ///
    /// # Errors
    ///
    /// The first [`ParamError`]: an unknown or repeated parameter in the request, then a
    /// missing or malformed one in the query's order.
    pub fn bind_values(&self, request: &[(String, String)]) -> Result<Vec<Value>, ParamError> {
        let mut given: BTreeMap<&str, &str> = BTreeMap::new();
        for (name, value) in request {
            if !self.params.iter().any(|p| p.name == *name) {
                return Err(ParamError::Unknown { name: name.clone() });
            }
            if given.insert(name, value).is_some() {
                return Err(ParamError::Repeated { name: name.clone() });
            }
        }
        self.params
            .iter()
            .map(|param| {
                let Some(text) = given.get(param.name.as_str()) else {
                    return Err(ParamError::Missing {
                        name: param.name.clone(),
                        ty: param.ty,
                    });
                };
                param.ty.parse(text).map_err(|reason| ParamError::Invalid {
                    name: param.name.clone(),
                    ty: param.ty,
                    reason,
                })
            })
            .collect()
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
        let docs = include_str!("config.rs");
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
        let readme = include_str!("../../../README.md");
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
    fn query_limits_go_over_the_server_wide_ones() {
        let config = ConfigFile::parse(
            "[queries.q]\nsql = \"x\"\nrate_items = 50\nmax_rows = 7\ndeadline = \"2m\"\n\
             [queries.plain]\nsql = \"y\"",
        )
        .unwrap();
        let base = rowstream::Limits::default()
            .max_items(1_000)
            .bytes_per_second(4096)
            .deadline(Duration::from_secs(10));
        assert_eq!(
            config.queries["q"].limits(base),
            base.items_per_second(50)
                .max_items(7)
                .deadline(Duration::from_secs(120))
        );
        assert_eq!(config.queries["plain"].limits(base), base);
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
    fn parameter_types() {
        assert_eq!(ParamType::Int.parse("-42"), Ok(Value::Int(-42)));
        assert!(ParamType::Int.parse("9223372036854775808").is_err());
        assert!(ParamType::Int.parse("1.0").is_err());
        assert!(ParamType::Int.parse("").is_err());
        assert_eq!(ParamType::Float.parse("2.5e3"), Ok(Value::Float(2500.0)));
        assert!(ParamType::Float.parse("NaN").is_err());
        assert!(ParamType::Float.parse("inf").is_err());
        assert_eq!(
            ParamType::Text.parse("x'; DROP TABLE t; --"),
            Ok(Value::Text("x'; DROP TABLE t; --".into()))
        );
        assert!(ParamType::Text.parse("a\0b").is_err());
        assert_eq!(ParamType::Bool.parse("1"), Ok(Value::Bool(true)));
        assert!(ParamType::Bool.parse("yes").is_err());
        assert_eq!(
            ParamType::Date.parse("2024-02-29"),
            Ok(Value::Text("2024-02-29".into()))
        );
        for bad in [
            "2023-02-29",
            "2024-13-01",
            "2024-1-01",
            "0000-01-01",
            "2024-01-32",
            "+024-01-01",
        ] {
            assert!(ParamType::Date.parse(bad).is_err(), "{bad}");
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
