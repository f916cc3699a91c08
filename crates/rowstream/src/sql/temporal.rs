//! Date and time text for the SQL type mappings: RFC 3339 / ISO 8601, written without a
//! date-time library. Shared by the PostgreSQL and MySQL value encoders.

use std::fmt::Write;

/// Days since 1970-01-01 to a proleptic Gregorian `(year, month, day)` (Howard Hinnant's
/// `civil_from_days`), valid for every `i64` day count PostgreSQL and MySQL produce.
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Text of at most `N` bytes on the stack: a value's text written without an allocation
/// (`fmt::Write`; writing past `N` bytes fails).
pub(crate) struct StackText<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> StackText<N> {
    pub(crate) fn new() -> Self {
        Self {
            buf: [0; N],
            len: 0,
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        // Only whole `&str`s are written: always valid UTF-8.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default()
    }
}

impl<const N: usize> Write for StackText<N> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        let Some(dst) = self.buf.get_mut(self.len..end) else {
            return Err(std::fmt::Error);
        };
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Appends the `width` last decimal digits of `n` (`n < 10^width`, zero-padded), without
/// the formatting machinery.
fn digits<W: Write>(out: &mut W, mut n: u64, width: usize) {
    let mut buf = [b'0'; 20];
    let width = width.min(buf.len());
    for slot in buf[..width].iter_mut().rev() {
        *slot = b'0' + (n % 10) as u8;
        n /= 10;
    }
    let _ = out.write_str(std::str::from_utf8(&buf[..width]).unwrap_or_default());
}

/// Appends `YYYY-MM-DD` (ISO 8601; years outside 0..=9999 with a sign, as ISO 8601's
/// expanded form, e.g. `-0044-03-15`, `+12345-01-01`).
pub(crate) fn write_date<W: Write>(out: &mut W, year: i64, month: u32, day: u32) {
    if (0..=9999).contains(&year) {
        digits(out, year as u64, 4);
        let _ = out.write_char('-');
        digits(out, u64::from(month % 100), 2);
        let _ = out.write_char('-');
        digits(out, u64::from(day % 100), 2);
    } else {
        let _ = write!(out, "{year:+05}-{month:02}-{day:02}");
    }
}

/// Appends `HH:MM:SS` and, when `micros` is not 0, a fraction without trailing zeros.
pub(crate) fn write_time<W: Write>(out: &mut W, hour: u64, minute: u64, second: u64, micros: u64) {
    if hour < 100 && minute < 100 && second < 100 {
        digits(out, hour, 2);
        let _ = out.write_char(':');
        digits(out, minute, 2);
        let _ = out.write_char(':');
        digits(out, second, 2);
    } else {
        let _ = write!(out, "{hour:02}:{minute:02}:{second:02}");
    }
    write_fraction(out, micros);
}

/// Appends `HH:MM:SS[.ffffff]` from microseconds since midnight.
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
pub(crate) fn write_time_of_day<W: Write>(out: &mut W, micros: u64) {
    let secs = micros / 1_000_000;
    write_time(
        out,
        secs / 3600,
        secs % 3600 / 60,
        secs % 60,
        micros % 1_000_000,
    );
}

/// Appends `.ffffff` without trailing zeros, nothing for 0.
pub(crate) fn write_fraction<W: Write>(out: &mut W, micros: u64) {
    if micros == 0 {
        return;
    }
    if micros >= 1_000_000 {
        let _ = write!(out, ".{micros}");
        return;
    }
    let mut micros = micros;
    let mut width = 6;
    while micros % 10 == 0 && width > 1 {
        micros /= 10;
        width -= 1;
    }
    let _ = out.write_char('.');
    digits(out, micros, width);
}

/// Appends a date-time from microseconds since the midnight that starts day `epoch_days`
/// (days since 1970-01-01), as `YYYY-MM-DDTHH:MM:SS[.ffffff]` followed by `suffix` (`"Z"`
/// for UTC, `""` for none). Every `i64` of microseconds is exact: the days are counted
/// apart, so no sum overflows.
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
pub(crate) fn write_datetime_micros<W: Write>(
    out: &mut W,
    epoch_days: i64,
    micros: i64,
    suffix: &str,
) {
    const DAY: i64 = 86_400_000_000;
    let (y, m, d) = civil_from_days(epoch_days + micros.div_euclid(DAY));
    write_date(out, y, m, d);
    let _ = out.write_char('T');
    write_time_of_day(out, micros.rem_euclid(DAY) as u64);
    let _ = out.write_str(suffix);
}

/// Appends an ISO 8601 duration from PostgreSQL's interval parts, in the form PostgreSQL's
/// `IntervalStyle = iso_8601` writes: `P1Y2M3DT4H5M6.5S`, signs on each part, `PT0S` for
/// zero.
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
pub(crate) fn write_iso_duration(out: &mut String, months: i32, days: i32, micros: i64) {
    out.push('P');
    let (years, months) = (months / 12, months % 12);
    if years != 0 {
        let _ = write!(out, "{years}Y");
    }
    if months != 0 {
        let _ = write!(out, "{months}M");
    }
    if days != 0 {
        let _ = write!(out, "{days}D");
    }
    if micros != 0 {
        out.push('T');
        let negative = micros < 0;
        let abs = micros.unsigned_abs();
        let (hours, rem) = (abs / 3_600_000_000, abs % 3_600_000_000);
        let (minutes, rem) = (rem / 60_000_000, rem % 60_000_000);
        let (seconds, frac) = (rem / 1_000_000, rem % 1_000_000);
        let sign = if negative { "-" } else { "" };
        if hours != 0 {
            let _ = write!(out, "{sign}{hours}H");
        }
        if minutes != 0 {
            let _ = write!(out, "{sign}{minutes}M");
        }
        if seconds != 0 || frac != 0 {
            let _ = write!(out, "{sign}{seconds}");
            write_fraction(out, frac);
            out.push('S');
        }
    }
    if out.ends_with('P') {
        out.push_str("T0S");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dt(micros: i64, suffix: &str) -> String {
        let mut s = String::new();
        write_datetime_micros(&mut s, 0, micros, suffix);
        s
    }

    #[test]
    fn fractions_and_stack_text() {
        let mut s = StackText::<32>::new();
        write_time(&mut s, 1, 2, 3, 120_000);
        assert_eq!(s.as_str(), "01:02:03.12");
        let mut s = StackText::<32>::new();
        write_time_of_day(&mut s, 86_399_000_001);
        assert_eq!(s.as_str(), "23:59:59.000001");
        let mut s = StackText::<4>::new();
        assert!(std::fmt::Write::write_str(&mut s, "12345").is_err());
        assert_eq!(s.as_str(), "");
    }

    #[test]
    fn datetimes() {
        assert_eq!(dt(0, "Z"), "1970-01-01T00:00:00Z");
        assert_eq!(dt(-1, "Z"), "1969-12-31T23:59:59.999999Z");
        assert_eq!(dt(951_782_400_500_000, ""), "2000-02-29T00:00:00.5");
        // After 2038 and far before 1970.
        assert_eq!(dt(4_102_444_800_000_000, "Z"), "2100-01-01T00:00:00Z");
        assert_eq!(dt(-62_135_596_800_000_000, "Z"), "0001-01-01T00:00:00Z");
        assert_eq!(dt(-62_198_755_200_000_000, "Z"), "-0001-01-01T00:00:00Z");
    }

    #[test]
    fn durations() {
        let d = |m, d, us| {
            let mut s = String::new();
            write_iso_duration(&mut s, m, d, us);
            s
        };
        assert_eq!(d(0, 0, 0), "PT0S");
        assert_eq!(d(14, 3, 14_706_500_000), "P1Y2M3DT4H5M6.5S");
        assert_eq!(d(-1, -2, -3_000_000), "P-1M-2DT-3S");
        assert_eq!(d(0, 0, 60_000_000), "PT1M");
    }
}
