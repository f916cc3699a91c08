//! Text → Arrow values: exact decimals, dates and timestamps in the forms rowstream's SQL
//! records write them (ISO 8601 / RFC 3339, PostgreSQL's and MySQL's decimal text).

/// Days from 1970-01-01 to the proleptic Gregorian date `y-m-d` (H. Hinnant's
/// `days_from_civil`), for any year `i64` holds without overflow of the result.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// `n` ASCII digits at the start of `s` as a number, and the rest.
fn digits(s: &str, n: usize) -> Option<(u32, &str)> {
    let head = s.get(..n)?;
    if !head.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((head.parse().ok()?, &s[n..]))
}

/// `[+-]YYYY[Y…]-MM-DD` at the start of `s` as days since 1970-01-01, and the rest.
fn date_prefix(s: &str) -> Option<(i64, &str)> {
    let (sign, body) = match s.as_bytes().first()? {
        b'-' => (-1, &s[1..]),
        b'+' => (1, &s[1..]),
        _ => (1, s),
    };
    let year_len = body.bytes().take_while(u8::is_ascii_digit).count();
    if !(4..=9).contains(&year_len) {
        return None;
    }
    let year = sign * body[..year_len].parse::<i64>().ok()?;
    let rest = body[year_len..].strip_prefix('-')?;
    let (month, rest) = digits(rest, 2)?;
    let rest = rest.strip_prefix('-')?;
    let (day, rest) = digits(rest, 2)?;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    Some((days_from_civil(year, month, day), rest))
}

/// A date `[+-]YYYY-MM-DD` as days since 1970-01-01 (Arrow `date32`).
pub(super) fn date32(s: &str) -> Option<i32> {
    match date_prefix(s)? {
        (days, "") => i32::try_from(days).ok(),
        _ => None,
    }
}

/// A date-time `YYYY-MM-DD[T ]HH:MM:SS[.f…][Z|±HH[:MM]]` as microseconds since the Unix
/// epoch: an offset is applied (the instant in UTC), a time without one is taken as it is
/// (UTC for a zoned column, the wall clock for a zoneless one). `None` for anything else,
/// and for digits below the microsecond that are not zero (the value would change).
pub(super) fn timestamp_micros(s: &str) -> Option<i64> {
    let (days, rest) = date_prefix(s)?;
    let rest = rest.strip_prefix(['T', ' '])?;
    let (h, rest) = digits(rest, 2)?;
    let (m, rest) = digits(rest.strip_prefix(':')?, 2)?;
    let (sec, mut rest) = digits(rest.strip_prefix(':')?, 2)?;
    if h > 23 || m > 59 || sec > 59 {
        return None;
    }
    let mut micros: i64 = 0;
    if let Some(frac) = rest.strip_prefix('.') {
        let len = frac.bytes().take_while(u8::is_ascii_digit).count();
        if len == 0 {
            return None;
        }
        let (digits, after) = frac.split_at(len);
        for (i, b) in digits.bytes().enumerate() {
            let d = i64::from(b - b'0');
            if i < 6 {
                micros += d * 10_i64.pow(5 - i as u32);
            } else if d != 0 {
                return None;
            }
        }
        rest = after;
    }
    let offset_secs: i64 = match rest {
        "" | "Z" | "z" => 0,
        _ => {
            let (sign, off) = match rest.as_bytes()[0] {
                b'+' => (1, &rest[1..]),
                b'-' => (-1, &rest[1..]),
                _ => return None,
            };
            let (oh, off) = digits(off, 2)?;
            let off = off.strip_prefix(':').unwrap_or(off);
            let (om, off) = if off.is_empty() {
                (0, off)
            } else {
                digits(off, 2)?
            };
            if !off.is_empty() || oh > 23 || om > 59 {
                return None;
            }
            sign * i64::from(oh * 3600 + om * 60)
        }
    };
    let secs = days
        .checked_mul(86_400)?
        .checked_add(i64::from(h * 3600 + m * 60 + sec))?
        .checked_sub(offset_secs)?;
    secs.checked_mul(1_000_000)?.checked_add(micros)
}

/// Decimal text `[+-]digits[.digits]` as the unscaled integer of a `decimal128(p, s)`:
/// exact, so more fraction digits than `s` are refused unless they are zeros, and a value
/// of more than `p` digits is refused. `None` for anything else.
pub(super) fn decimal(s: &str, precision: u8, scale: i8) -> Option<i128> {
    let scale = usize::try_from(scale).ok()?;
    let (negative, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    if (int.is_empty() && frac.is_empty())
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let (kept, dropped) = frac.split_at(frac.len().min(scale));
    if dropped.bytes().any(|b| b != b'0') {
        return None;
    }
    let mut value: i128 = 0;
    let mut count = 0usize;
    let pad = scale - kept.len();
    for b in int
        .bytes()
        .chain(kept.bytes())
        .chain(std::iter::repeat_n(b'0', pad))
    {
        value = value.checked_mul(10)?.checked_add(i128::from(b - b'0'))?;
        if value != 0 {
            count += 1;
        }
    }
    if count > usize::from(precision) {
        return None;
    }
    Some(if negative { -value } else { value })
}

/// An integer as the unscaled value of a `decimal128(p, s)`, `None` past `p` digits.
pub(super) fn decimal_from_int(v: i128, precision: u8, scale: i8) -> Option<i128> {
    let scale = u32::try_from(scale).ok()?;
    let scaled = v.checked_mul(10_i128.checked_pow(scale)?)?;
    let limit = 10_i128.checked_pow(u32::from(precision))?;
    (scaled.abs() < limit).then_some(scaled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_timestamps() {
        assert_eq!(date32("1970-01-01"), Some(0));
        assert_eq!(date32("2013-01-01"), Some(15_706));
        assert_eq!(date32("0000-03-01"), Some(-719_468));
        assert_eq!(date32("2023-02-29"), None);
        assert_eq!(date32("infinity"), None);
        assert_eq!(timestamp_micros("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            timestamp_micros("2013-01-01T05:15:00.5+01:00"),
            Some(1_357_013_700_500_000)
        );
        assert_eq!(
            timestamp_micros("2013-01-01 05:15:00.123456"),
            Some(1_357_017_300_123_456)
        );
        assert_eq!(timestamp_micros("1969-12-31T23:59:59.999999Z"), Some(-1));
        assert_eq!(timestamp_micros("2013-01-01T05:15:00.0000001"), None);
        assert_eq!(
            timestamp_micros("2013-01-01T05:15:00.1234560"),
            Some(1_357_017_300_123_456)
        );
    }

    #[test]
    fn decimals_are_exact() {
        assert_eq!(decimal("12.50", 10, 2), Some(1250));
        assert_eq!(decimal("-0.5", 10, 3), Some(-500));
        assert_eq!(decimal("12.501", 10, 2), None);
        assert_eq!(decimal("12.500", 10, 2), Some(1250));
        assert_eq!(decimal("123", 2, 0), None);
        assert_eq!(decimal("NaN", 10, 2), None);
        assert_eq!(decimal(".", 10, 2), None);
        assert_eq!(
            decimal("9999999999999999999999999999.9999999999", 38, 10),
            Some(99_999_999_999_999_999_999_999_999_999_999_999_999)
        );
        assert_eq!(decimal_from_int(-7, 5, 2), Some(-700));
        assert_eq!(decimal_from_int(1000, 5, 2), None);
    }
}
