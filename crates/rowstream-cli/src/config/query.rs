//! Named queries: their SQL and typed parameters, how a request's parameters are checked
//! and bound ([`NamedQuery::bind_values`]), and the limits of their exports.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;

use super::parse_duration;

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
    /// The names of its parameters, in order, each once (a name may be listed twice to
    /// bind it twice).
    pub fn param_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::with_capacity(self.params.len());
        for param in &self.params {
            if !names.contains(&param.name.as_str()) {
                names.push(&param.name);
            }
        }
        names
    }

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
    use std::time::Duration;

    use super::*;
    use crate::config::ConfigFile;

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
}
