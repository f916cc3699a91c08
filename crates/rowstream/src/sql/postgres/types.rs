//! PostgreSQL values in the binary wire format → serde, without a value per row.

use std::fmt::Write as _;

use serde::ser::{Error as _, SerializeSeq};
use serde::{Serialize, Serializer};
use sqlx::TypeInfo;
use sqlx::postgres::{PgTypeInfo, PgTypeKind};

use crate::encode::item_limit::admit;
use crate::sql::temporal::{self, StackText};

/// Room for a date, time or timestamp's text (at most 32 bytes: `+5874897-12-31`,
/// `-4713-11-24T00:00:00.000001Z`, `24:00:00+15:59`).
const TEXT: usize = 48;

/// Days between 1970-01-01 and 2000-01-01.
const PG_EPOCH_DAYS: i64 = 10_957;

/// One non-NULL value of type `ty` in binary format.
pub(crate) struct PgBinary<'a> {
    pub(crate) ty: &'a PgTypeInfo,
    pub(crate) bytes: &'a [u8],
}

impl Serialize for PgBinary<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_value(serializer, self.ty, self.bytes)
    }
}

/// An element of an array: `None` is SQL NULL.
struct Element<'a> {
    ty: &'a PgTypeInfo,
    bytes: Option<&'a [u8]>,
}

impl Serialize for Element<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.bytes {
            None => serializer.serialize_unit(),
            Some(bytes) => serialize_value(serializer, self.ty, bytes),
        }
    }
}

fn short<E: serde::ser::Error>(ty: &PgTypeInfo, need: usize, got: usize) -> E {
    E::custom(format_args!(
        "malformed {} value: {got} bytes, expected {need}",
        ty.name()
    ))
}

fn fixed<const N: usize, E: serde::ser::Error>(
    ty: &PgTypeInfo,
    bytes: &[u8],
) -> Result<[u8; N], E> {
    bytes.try_into().map_err(|_| short(ty, N, bytes.len()))
}

fn be_i64<E: serde::ser::Error>(ty: &PgTypeInfo, bytes: &[u8]) -> Result<i64, E> {
    Ok(i64::from_be_bytes(fixed::<8, E>(ty, bytes)?))
}

fn be_i32<E: serde::ser::Error>(ty: &PgTypeInfo, bytes: &[u8]) -> Result<i32, E> {
    Ok(i32::from_be_bytes(fixed::<4, E>(ty, bytes)?))
}

fn text<'b, E: serde::ser::Error>(ty: &PgTypeInfo, bytes: &'b [u8]) -> Result<&'b str, E> {
    std::str::from_utf8(bytes)
        .map_err(|e| E::custom(format_args!("{} value is not UTF-8: {e}", ty.name())))
}

/// Serializes one binary value of type `ty`; see the module table in
/// [`crate::postgres`] for the mapping.
pub(crate) fn serialize_value<S: Serializer>(
    serializer: S,
    ty: &PgTypeInfo,
    bytes: &[u8],
) -> Result<S::Ok, S::Error> {
    match ty.kind() {
        PgTypeKind::Enum(_) => {
            admit::<S::Error>(bytes.len())?;
            return serializer.serialize_str(text::<S::Error>(ty, bytes)?);
        }
        PgTypeKind::Domain(base) => return serialize_value(serializer, base, bytes),
        PgTypeKind::Array(elem) => return serialize_array(serializer, ty, elem, bytes),
        _ => {}
    }
    let Some(oid) = ty.oid() else {
        return Err(unsupported(ty));
    };
    match oid.0 {
        // void (e.g. the result of pg_sleep): no value
        2278 => serializer.serialize_unit(),
        // bool
        16 => serializer.serialize_bool(fixed::<1, S::Error>(ty, bytes)?[0] != 0),
        // bytea
        17 => {
            use base64::Engine as _;
            admit::<S::Error>(bytes.len())?;
            serializer.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
        }
        // "char" (one byte), name, text, bpchar, varchar, xml, citext-like unknown text
        18 | 19 | 25 | 142 | 1042 | 1043 | 705 => {
            admit::<S::Error>(bytes.len())?;
            serializer.serialize_str(text::<S::Error>(ty, bytes)?)
        }
        // int8, int2, int4, oid
        20 => serializer.serialize_i64(be_i64::<S::Error>(ty, bytes)?),
        21 => serializer.serialize_i16(i16::from_be_bytes(fixed::<2, S::Error>(ty, bytes)?)),
        23 => serializer.serialize_i32(be_i32::<S::Error>(ty, bytes)?),
        26 => serializer.serialize_u32(u32::from_be_bytes(fixed::<4, S::Error>(ty, bytes)?)),
        // float4, float8
        700 => serializer.serialize_f32(f32::from_be_bytes(fixed::<4, S::Error>(ty, bytes)?)),
        701 => serializer.serialize_f64(f64::from_be_bytes(fixed::<8, S::Error>(ty, bytes)?)),
        // json
        114 => crate::sql::json_text::serialize_json(serializer, text::<S::Error>(ty, bytes)?),
        // jsonb: a version byte (1), then the JSON text
        3802 => match bytes.split_first() {
            Some((1, json)) => {
                crate::sql::json_text::serialize_json(serializer, text::<S::Error>(ty, json)?)
            }
            _ => Err(S::Error::custom("unknown jsonb binary version")),
        },
        // date: days since 2000-01-01
        1082 => {
            let days = be_i32::<S::Error>(ty, bytes)?;
            match days {
                i32::MAX => serializer.serialize_str("infinity"),
                i32::MIN => serializer.serialize_str("-infinity"),
                _ => {
                    let (y, m, d) = temporal::civil_from_days(i64::from(days) + PG_EPOCH_DAYS);
                    let mut s = StackText::<TEXT>::new();
                    temporal::write_date(&mut s, y, m, d);
                    serializer.serialize_str(s.as_str())
                }
            }
        }
        // time: microseconds since midnight
        1083 => {
            let us = be_i64::<S::Error>(ty, bytes)?.max(0) as u64;
            let mut s = StackText::<TEXT>::new();
            temporal::write_time_of_day(&mut s, us);
            serializer.serialize_str(s.as_str())
        }
        // timetz: microseconds since midnight, then the zone as seconds WEST of UTC
        1266 => {
            let raw = fixed::<12, S::Error>(ty, bytes)?;
            let us = i64::from_be_bytes([
                raw[0], raw[1], raw[2], raw[3], raw[4], raw[5], raw[6], raw[7],
            ])
            .max(0) as u64;
            let west = i32::from_be_bytes([raw[8], raw[9], raw[10], raw[11]]);
            let mut s = StackText::<TEXT>::new();
            temporal::write_time_of_day(&mut s, us);
            let east = -i64::from(west);
            let sign = if east < 0 { '-' } else { '+' };
            let abs = east.unsigned_abs();
            let _ = write!(s, "{sign}{:02}:{:02}", abs / 3600, abs % 3600 / 60);
            serializer.serialize_str(s.as_str())
        }
        // timestamp (no zone): local date-time without an offset
        1114 => serialize_timestamp(serializer, be_i64::<S::Error>(ty, bytes)?, ""),
        // timestamptz: UTC
        1184 => serialize_timestamp(serializer, be_i64::<S::Error>(ty, bytes)?, "Z"),
        // interval: microseconds, days, months
        1186 => {
            let raw = fixed::<16, S::Error>(ty, bytes)?;
            let micros = i64::from_be_bytes([
                raw[0], raw[1], raw[2], raw[3], raw[4], raw[5], raw[6], raw[7],
            ]);
            let days = i32::from_be_bytes([raw[8], raw[9], raw[10], raw[11]]);
            let months = i32::from_be_bytes([raw[12], raw[13], raw[14], raw[15]]);
            let mut s = String::with_capacity(24);
            temporal::write_iso_duration(&mut s, months, days, micros);
            serializer.serialize_str(&s)
        }
        // numeric
        1700 => match numeric_text(bytes) {
            Ok(Numeric::Text(text)) => serializer.serialize_str(&text),
            Ok(Numeric::Special(f)) => serializer.serialize_f64(f),
            Err(why) => Err(S::Error::custom(format_args!(
                "malformed numeric value: {why}"
            ))),
        },
        // uuid
        2950 => {
            let raw = fixed::<16, S::Error>(ty, bytes)?;
            serializer.serialize_str(&uuid_text(&raw))
        }
        _ => Err(unsupported(ty)),
    }
}

fn unsupported<E: serde::ser::Error>(ty: &PgTypeInfo) -> E {
    E::custom(format_args!("unsupported PostgreSQL type {}", ty.name()))
}

fn serialize_timestamp<S: Serializer>(
    serializer: S,
    pg_micros: i64,
    suffix: &str,
) -> Result<S::Ok, S::Error> {
    match pg_micros {
        i64::MAX => serializer.serialize_str("infinity"),
        i64::MIN => serializer.serialize_str("-infinity"),
        _ => {
            let mut s = StackText::<TEXT>::new();
            temporal::write_datetime_micros(&mut s, PG_EPOCH_DAYS, pg_micros, suffix);
            serializer.serialize_str(s.as_str())
        }
    }
}

fn uuid_text(raw: &[u8; 16]) -> String {
    let mut s = String::with_capacity(36);
    for (i, b) in raw.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// A decoded NUMERIC: exact decimal text, or NaN/±Infinity.
pub(crate) enum Numeric {
    Text(String),
    Special(f64),
}

/// NUMERIC binary format: `ndigits: i16, weight: i16, sign: u16, dscale: u16`, then
/// `ndigits` base-10000 digits; the value is `Σ digit[i] × 10000^(weight − i)`, shown with
/// `dscale` digits after the point.
pub(crate) fn numeric_text(bytes: &[u8]) -> Result<Numeric, &'static str> {
    if bytes.len() < 8 {
        return Err("header too short");
    }
    let ndigits = u16::from_be_bytes([bytes[0], bytes[1]]) as usize;
    let weight = i16::from_be_bytes([bytes[2], bytes[3]]) as i64;
    let sign = u16::from_be_bytes([bytes[4], bytes[5]]);
    let dscale = u16::from_be_bytes([bytes[6], bytes[7]]) as i64;
    match sign {
        0x0000 | 0x4000 => {}
        0xC000 => return Ok(Numeric::Special(f64::NAN)),
        0xD000 => return Ok(Numeric::Special(f64::INFINITY)),
        0xF000 => return Ok(Numeric::Special(f64::NEG_INFINITY)),
        _ => return Err("unknown sign"),
    }
    if bytes.len() != 8 + 2 * ndigits {
        return Err("digit count does not match the length");
    }
    let digit = |i: i64| -> u16 {
        if i < 0 || i as usize >= ndigits {
            0
        } else {
            let at = 8 + 2 * i as usize;
            u16::from_be_bytes([bytes[at], bytes[at + 1]])
        }
    };
    let mut out = String::new();
    if sign == 0x4000 {
        out.push('-');
    }
    // Integer part: base-10000 groups 0..=weight.
    if weight < 0 {
        out.push('0');
    } else {
        for i in 0..=weight {
            let d = digit(i);
            if i == 0 {
                out.push_str(&d.to_string());
            } else {
                out.push_str(&format!("{d:04}"));
            }
        }
    }
    if dscale > 0 {
        out.push('.');
        let mut written = 0;
        let mut i = weight + 1;
        while written < dscale {
            let group = format!("{:04}", digit(i));
            for ch in group.chars() {
                if written == dscale {
                    break;
                }
                out.push(ch);
                written += 1;
            }
            i += 1;
        }
    }
    if out == "-0" || (out.starts_with("-0") && out[1..].chars().all(|c| c == '0' || c == '.')) {
        out.remove(0);
    }
    Ok(Numeric::Text(out))
}

/// Array binary format: `ndim: i32, has_null: i32, elem_oid: u32`, `ndim × (len: i32,
/// lower_bound: i32)`, then each element as `len: i32` (−1 for NULL) and its bytes.
fn serialize_array<S: Serializer>(
    serializer: S,
    ty: &PgTypeInfo,
    elem: &PgTypeInfo,
    bytes: &[u8],
) -> Result<S::Ok, S::Error> {
    let bad = || S::Error::custom(format_args!("malformed {} value", ty.name()));
    let read_i32 = |at: usize| -> Option<i32> {
        bytes
            .get(at..at + 4)
            .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    let ndim = read_i32(0).ok_or_else(bad)?;
    if ndim == 0 {
        return serializer.serialize_seq(Some(0))?.end();
    }
    let ndim = usize::try_from(ndim).map_err(|_| bad())?;
    if ndim > 6 {
        return Err(bad());
    }
    let mut dims = Vec::with_capacity(ndim);
    let mut at = 12;
    for _ in 0..ndim {
        let len = usize::try_from(read_i32(at).ok_or_else(bad)?).map_err(|_| bad())?;
        dims.push(len);
        at += 8;
    }
    let total: usize = dims.iter().product();
    let mut elements = Vec::with_capacity(total.min(bytes.len() / 4));
    for _ in 0..total {
        let len = read_i32(at).ok_or_else(bad)?;
        at += 4;
        if len < 0 {
            elements.push(None);
        } else {
            let len = len as usize;
            let value = bytes.get(at..at + len).ok_or_else(bad)?;
            elements.push(Some(value));
            at += len;
        }
    }
    Nested {
        elem,
        dims: &dims,
        elements: &elements,
    }
    .serialize(serializer)
}

/// The elements of an array of `dims.len()` dimensions, as nested sequences.
struct Nested<'a> {
    elem: &'a PgTypeInfo,
    dims: &'a [usize],
    elements: &'a [Option<&'a [u8]>],
}

impl Serialize for Nested<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (&len, inner) = self
            .dims
            .split_first()
            .ok_or_else(|| S::Error::custom("array without dimensions"))?;
        let mut seq = serializer.serialize_seq(Some(len))?;
        if inner.is_empty() {
            for bytes in self.elements {
                seq.serialize_element(&Element {
                    ty: self.elem,
                    bytes: *bytes,
                })?;
            }
        } else {
            let stride = inner.iter().product::<usize>().max(1);
            for part in self.elements.chunks(stride) {
                seq.serialize_element(&Nested {
                    elem: self.elem,
                    dims: inner,
                    elements: part,
                })?;
            }
        }
        seq.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric(ndigits: &[u16], weight: i16, sign: u16, dscale: u16) -> String {
        let mut b = Vec::new();
        b.extend((ndigits.len() as u16).to_be_bytes());
        b.extend(weight.to_be_bytes());
        b.extend(sign.to_be_bytes());
        b.extend(dscale.to_be_bytes());
        for d in ndigits {
            b.extend(d.to_be_bytes());
        }
        match numeric_text(&b).unwrap() {
            Numeric::Text(t) => t,
            Numeric::Special(f) => f.to_string(),
        }
    }

    #[test]
    fn numeric_text_is_exact() {
        assert_eq!(numeric(&[], 0, 0, 0), "0");
        assert_eq!(numeric(&[], 0, 0, 2), "0.00");
        assert_eq!(numeric(&[1, 2345], 1, 0, 0), "12345");
        assert_eq!(numeric(&[1, 2345, 6700], 1, 0x4000, 3), "-12345.670");
        assert_eq!(numeric(&[5000], -1, 0, 1), "0.5");
        assert_eq!(numeric(&[12], -2, 0, 8), "0.00000012");
        assert_eq!(numeric(&[1], 2, 0, 0), "100000000");
        assert_eq!(numeric(&[], 0, 0xC000, 0), "NaN");
    }

    #[test]
    fn uuid() {
        let raw = [
            0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0, 1, 2, 3, 4, 5, 6, 7,
        ];
        assert_eq!(uuid_text(&raw), "12345678-9abc-def0-0001-020304050607");
    }

    fn timestamp(pg_micros: i64, suffix: &str) -> String {
        serialize_timestamp(serde_json::value::Serializer, pg_micros, suffix)
            .unwrap()
            .as_str()
            .unwrap()
            .to_owned()
    }

    #[test]
    fn timestamps_at_the_ends_of_postgresql_range_are_exact() {
        // timestamptz '294276-12-31 23:59:59.999999+00', PostgreSQL's last instant.
        assert_eq!(
            timestamp(9_223_371_331_199_999_999, "Z"),
            "+294276-12-31T23:59:59.999999Z"
        );
        // timestamp '4714-11-24 00:00:00 BC', the first: ISO 8601 year -4713.
        assert_eq!(
            timestamp(-211_813_488_000_000_000, ""),
            "-4713-11-24T00:00:00"
        );
        assert_eq!(timestamp(i64::MAX, "Z"), "infinity");
        assert_eq!(timestamp(i64::MIN, ""), "-infinity");
        assert_eq!(timestamp(0, "Z"), "2000-01-01T00:00:00Z");
    }
}
