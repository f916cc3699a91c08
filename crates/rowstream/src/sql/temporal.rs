//! Date and time text for the SQL type mappings: RFC 3339 / ISO 8601, written without a
//! date-time library. Shared by the PostgreSQL and MySQL value encoders.

use std::fmt::Write as _;

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

/// Appends `YYYY-MM-DD` (ISO 8601; years outside 0..=9999 with a sign, as ISO 8601's
/// expanded form, e.g. `-0044-03-15`, `+12345-01-01`).
pub(crate) fn write_date(out: &mut String, year: i64, month: u32, day: u32) {
    if (0..=9999).contains(&year) {
        let _ = write!(out, "{year:04}-{month:02}-{day:02}");
    } else {
        let _ = write!(out, "{year:+05}-{month:02}-{day:02}");
    }
}

/// Appends `HH:MM:SS` and, when `micros` is not 0, a fraction without trailing zeros.
pub(crate) fn write_time(out: &mut String, hour: u64, minute: u64, second: u64, micros: u64) {
    let _ = write!(out, "{hour:02}:{minute:02}:{second:02}");
    write_fraction(out, micros);
}

/// Appends `HH:MM:SS[.ffffff]` from microseconds since midnight.
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
pub(crate) fn write_time_of_day(out: &mut String, micros: u64) {
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
pub(crate) fn write_fraction(out: &mut String, micros: u64) {
    if micros == 0 {
        return;
    }
    let mut digits = format!("{micros:06}");
    while digits.ends_with('0') {
        digits.pop();
    }
    out.push('.');
    out.push_str(&digits);
}

/// Appends a date-time from microseconds since the midnight that starts day `epoch_days`
/// (days since 1970-01-01), as `YYYY-MM-DDTHH:MM:SS[.ffffff]` followed by `suffix` (`"Z"`
/// for UTC, `""` for none). Every `i64` of microseconds is exact: the days are counted
/// apart, so no sum overflows.
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
pub(crate) fn write_datetime_micros(out: &mut String, epoch_days: i64, micros: i64, suffix: &str) {
    const DAY: i64 = 86_400_000_000;
    let (y, m, d) = civil_from_days(epoch_days + micros.div_euclid(DAY));
    write_date(out, y, m, d);
    out.push('T');
    write_time_of_day(out, micros.rem_euclid(DAY) as u64);
    out.push_str(suffix);
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
