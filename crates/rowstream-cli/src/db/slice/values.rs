//! A filter's text read as its column's [`Class`], into the value bound for it.

use super::columns::Class;

/// A value bound as a query parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum Bound {
    /// Bound as `i64`.
    Int(i64),
    /// Bound as `f64` (finite).
    Float(f64),
    /// Bound as a bool.
    Bool(bool),
    /// Bound as text (cast to the column's type in the SQL where the class says so).
    Text(String),
}

/// `text` read as a value of `class`; `utc_only` for MySQL/MariaDB timestamps (a zone
/// other than UTC is refused). The error says why, for people.
pub(super) fn read(class: Class, text: &str, utc_only: bool) -> Result<Bound, String> {
    if text.contains('\0') {
        return Err("a value may not contain NUL".to_owned());
    }
    let bad = |what: &str| Err(format!("\"{text}\" is not {what}"));
    match class {
        Class::Int => match int(text) {
            Some(n) => Ok(Bound::Int(n)),
            None => bad("a whole number (the column holds integers)"),
        },
        Class::Float => match float(text) {
            Some(x) => Ok(Bound::Float(x)),
            None => bad("a finite number"),
        },
        Class::Bool => match text {
            "true" => Ok(Bound::Bool(true)),
            "false" => Ok(Bound::Bool(false)),
            _ => bad("true or false"),
        },
        Class::Text => Ok(Bound::Text(text.to_owned())),
        Class::Dynamic => Ok(match (int(text), float(text)) {
            (Some(n), _) => Bound::Int(n),
            (None, Some(x)) => Bound::Float(x),
            (None, None) => Bound::Text(text.to_owned()),
        }),
        Class::Date => match date(text) {
            Some("") => Ok(Bound::Text(text.to_owned())),
            _ => bad("a date, YYYY-MM-DD"),
        },
        Class::Timestamp => timestamp(text, utc_only).map(Bound::Text).ok_or_else(|| {
            format!(
                "\"{text}\" is not a timestamp, YYYY-MM-DDTHH:MM[:SS[.fraction]]{}",
                if utc_only {
                    " in UTC (no zone, Z or +00:00)"
                } else {
                    " with an optional zone (Z, +HH:MM)"
                }
            )
        }),
        Class::Time => match time(text) {
            Some("") => Ok(Bound::Text(text.to_owned())),
            _ => bad("a time of day, HH:MM[:SS[.fraction]]"),
        },
        Class::Decimal => {
            let digits = text.strip_prefix('-').unwrap_or(text);
            let (whole, fraction) = digits.split_once('.').unwrap_or((digits, "0"));
            let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
            if all_digits(whole) && all_digits(fraction) && digits.len() <= 1000 {
                Ok(Bound::Text(text.to_owned()))
            } else {
                bad("a decimal number, [-]digits[.digits]")
            }
        }
        Class::Uuid => {
            let groups: Vec<&str> = text.split('-').collect();
            let lengths: Vec<usize> = groups.iter().map(|g| g.len()).collect();
            if lengths == [8, 4, 4, 4, 12]
                && groups
                    .iter()
                    .all(|g| g.bytes().all(|b| b.is_ascii_hexdigit()))
            {
                Ok(Bound::Text(text.to_owned()))
            } else {
                bad("a UUID, 8-4-4-4-12 hex digits")
            }
        }
        Class::Other => Err("filters on a column of this type are not supported".to_owned()),
    }
}

fn int(text: &str) -> Option<i64> {
    text.parse().ok().filter(|_| !text.starts_with('+'))
}

fn float(text: &str) -> Option<f64> {
    // Digits, a sign, a point, an exponent: no `inf`, `NaN` or hex.
    if !text
        .bytes()
        .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b))
    {
        return None;
    }
    text.parse::<f64>().ok().filter(|x| x.is_finite())
}

/// `n` ASCII digits at the start of `text`, as a number, and the rest.
fn digits(text: &str, n: usize) -> Option<(u32, &str)> {
    let head = text.get(..n)?;
    if !head.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((head.parse().ok()?, &text[n..]))
}

/// A calendar date at the start of `text` (`YYYY-MM-DD`, a real day); the rest.
fn date(text: &str) -> Option<&str> {
    let (year, rest) = digits(text, 4)?;
    let (month, rest) = digits(rest.strip_prefix('-')?, 2)?;
    let (day, rest) = digits(rest.strip_prefix('-')?, 2)?;
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    (year >= 1 && (1..=days).contains(&day)).then_some(rest)
}

/// A time of day at the start of `text` (`HH:MM[:SS[.fraction]]`); the rest.
fn time(text: &str) -> Option<&str> {
    let (hour, rest) = digits(text, 2)?;
    let (minute, mut rest) = digits(rest.strip_prefix(':')?, 2)?;
    if let Some(after) = rest.strip_prefix(':') {
        let (second, after) = digits(after, 2)?;
        if second > 59 {
            return None;
        }
        rest = after;
        if let Some(fraction) = rest.strip_prefix('.') {
            let n = fraction.bytes().take_while(u8::is_ascii_digit).count();
            if n == 0 || n > 9 {
                return None;
            }
            rest = &fraction[n..];
        }
    }
    (hour <= 23 && minute <= 59).then_some(rest)
}

/// A timestamp as bound: the text itself, or for `utc_only` without its UTC zone.
fn timestamp(text: &str, utc_only: bool) -> Option<String> {
    let rest = date(text)?;
    let rest = rest.strip_prefix(['T', ' '])?;
    let zone = time(rest)?;
    let local = &text[..text.len() - zone.len()];
    match zone {
        "" => Some(text.to_owned()),
        "Z" | "+00:00" | "+00" if utc_only => Some(local.to_owned()),
        _ if utc_only => None,
        "Z" => Some(text.to_owned()),
        _ => {
            let sign = zone.strip_prefix(['+', '-'])?;
            let (hours, rest) = digits(sign, 2)?;
            let minutes = match rest {
                "" => 0,
                _ => {
                    digits(rest.strip_prefix(':')?, 2)
                        .filter(|(_, r)| r.is_empty())?
                        .0
                }
            };
            (hours <= 15 && minutes <= 59).then(|| text.to_owned())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_by_class() {
        assert_eq!(read(Class::Int, "-5", false), Ok(Bound::Int(-5)));
        for bad in ["+5", "1.5", "", "9223372036854775808", "x"] {
            assert!(read(Class::Int, bad, false).is_err(), "{bad}");
        }
        assert_eq!(read(Class::Float, "1e3", false), Ok(Bound::Float(1000.0)));
        for bad in ["inf", "NaN", "1e999", "0x10", ""] {
            assert!(read(Class::Float, bad, false).is_err(), "{bad}");
        }
        assert_eq!(read(Class::Dynamic, "7", false), Ok(Bound::Int(7)));
        assert_eq!(read(Class::Dynamic, "7.5", false), Ok(Bound::Float(7.5)));
        assert_eq!(
            read(Class::Dynamic, "EWR", false),
            Ok(Bound::Text("EWR".into()))
        );
        assert!(read(Class::Text, "a\0b", false).is_err());
        assert!(read(Class::Date, "2024-02-29", false).is_ok());
        for bad in [
            "2023-02-29",
            "2024-13-01",
            "2024-1-01",
            "2024-01-01x",
            "0000-01-01",
        ] {
            assert!(read(Class::Date, bad, false).is_err(), "{bad}");
        }
        for ok in [
            "2013-01-01T05:00:00Z",
            "2013-01-01 05:00",
            "2013-01-01T05:00:00.123456+01:00",
            "2013-01-01T05:00:00-05",
        ] {
            assert!(read(Class::Timestamp, ok, false).is_ok(), "{ok}");
        }
        assert_eq!(
            read(Class::Timestamp, "2013-01-01T05:00:00Z", true),
            Ok(Bound::Text("2013-01-01T05:00:00".into()))
        );
        assert!(read(Class::Timestamp, "2013-01-01T05:00:00+01:00", true).is_err());
        for bad in [
            "2013-01-01",
            "2013-01-01T25:00",
            "2013-01-01T05:00:00+1",
            "x",
        ] {
            assert!(read(Class::Timestamp, bad, false).is_err(), "{bad}");
        }
        assert!(read(Class::Decimal, "-12.50", false).is_ok());
        for bad in ["1e5", ".5", "5.", "--1", "1,5"] {
            assert!(read(Class::Decimal, bad, false).is_err(), "{bad}");
        }
        assert!(read(Class::Uuid, "123e4567-e89b-12d3-a456-426614174000", false).is_ok());
        assert!(read(Class::Uuid, "123e4567e89b12d3a456426614174000", false).is_err());
        assert!(read(Class::Other, "x", false).is_err());
        assert_eq!(read(Class::Bool, "true", false), Ok(Bound::Bool(true)));
        assert!(read(Class::Bool, "yes", false).is_err());
    }
}
