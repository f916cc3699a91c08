//! Value policies: what every encoder writes for values that formats disagree on —
//! non-finite floats and integers beyond what a JavaScript number holds exactly.
//!
//! One serde adapter, [`WithPolicy`], applies a [`ValuePolicy`] to any `Serialize` value by
//! wrapping the serializer it is given; every built-in encoder passes each item through it,
//! so a value is written the same way in JSON, NDJSON, JSON-seq, CSV and MessagePack.

mod serializer;
mod trace;

use std::fmt;

use serde::ser::{Serialize, Serializer};

use crate::EncodeError;
use trace::Trace;

/// The largest integer magnitude a JavaScript number (an IEEE 754 double) holds exactly:
/// 2^53 − 1 = 9,007,199,254,740,991 (`Number.MAX_SAFE_INTEGER`).
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// What to write for a float that is NaN, +Infinity or −Infinity, which JSON (RFC 8259
/// §6) cannot represent as a number.
///
/// It decides what the JSON formats (JSON, NDJSON, JSON-seq, and the JSON text of nested
/// values in CSV) write. Formats that carry non-finite floats write them as they are
/// under [`Null`](Self::Null) and [`String`](Self::String): MessagePack as IEEE 754
/// floats, CSV fields as the text `NaN`, `Infinity`, `-Infinity`. [`Error`](Self::Error)
/// fails the item in every format.
///
/// `Null` is the default because it keeps every JSON document readable by every JSON
/// parser and a numeric column numeric (it is what JavaScript's `JSON.stringify` and
/// `serde_json` write); the cost is that NaN and NULL look the same in JSON. Choose
/// `String` when the difference matters, `Error` when such a value is a bug.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NonFinite {
    /// `null` in JSON formats (native in MessagePack and CSV). The default.
    #[default]
    Null,
    /// The strings `"NaN"`, `"Infinity"` and `"-Infinity"` in JSON formats (native in
    /// MessagePack and CSV; the spellings JavaScript's
    /// `Number()` and Python's `float()` read back).
    String,
    /// The item fails with an [`EncodeError`] naming the field, e.g.
    /// `non-finite float NaN in field price`; the stream fails as for any encode error.
    Error,
}

/// What to write for an integer whose magnitude is above [`MAX_SAFE_INTEGER`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BigIntegers {
    /// A number with its exact digits (RFC 8259 allows it; JavaScript's `JSON.parse`
    /// rounds it). The default.
    #[default]
    Number,
    /// A string of its exact digits, e.g. `"9007199254740993"`, for JavaScript clients.
    /// Integers within ±(2^53 − 1) stay numbers. CSV has no types, so there the digits
    /// are written as they are either way.
    String,
}

/// How values that formats disagree on are written; the same policy gives the same
/// values in every format.
///
/// | value | default | options |
/// |---|---|---|
/// | NaN, ±Infinity | `null` ([`NonFinite::Null`]) in JSON formats, native in MessagePack and CSV | strings `"NaN"`, `"Infinity"`, `"-Infinity"`; or an item error naming the field |
/// | integers with \|v\| > 2^53 − 1 (`i64`, `u64`, `i128`, `u128`) | exact digits ([`BigIntegers::Number`]) | strings of the digits |
///
/// **Timestamps** are written as RFC 3339 text with an offset (e.g.
/// `2013-01-01T05:15:00+00:00`), never as arrays or epoch numbers: values that arrive as
/// text (SQLite stores them so) are written as they are, and typed values should
/// serialize to RFC 3339 (as `chrono` and `time` with their `serde` RFC 3339 support do).
/// Map keys are written as they are.
///
/// ```
/// use bytes::BytesMut;
/// use rowstream::{Encoder, Ndjson, NonFinite, BigIntegers, ValuePolicy};
///
/// let policy = ValuePolicy::default()
///     .non_finite(NonFinite::String)
///     .big_integers(BigIntegers::String);
/// let mut enc = Ndjson::new().policy(policy);
/// let mut out = BytesMut::new();
/// enc.item(&(f64::NEG_INFINITY, u64::MAX, 42), &mut out)?;
/// assert_eq!(&out[..], b"[\"-Infinity\",\"18446744073709551615\",42]\n");
/// # Ok::<(), rowstream::EncodeError>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[must_use]
pub struct ValuePolicy {
    non_finite: NonFinite,
    big_integers: BigIntegers,
    native_floats: NativeFloats,
}

/// Where an encoder writes NaN and ±Infinity as floats of its own format rather than by
/// the [`NonFinite`] policy (which still applies with [`NonFinite::Error`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[cfg_attr(not(all(feature = "csv", feature = "msgpack")), allow(dead_code))]
pub(crate) enum NativeFloats {
    /// Nowhere: the JSON formats.
    #[default]
    Never,
    /// At any depth: MessagePack's IEEE 754 floats.
    Everywhere,
    /// In the item and its direct fields, not in nested values: CSV, whose fields are
    /// text (`NaN`, `Infinity`, `-Infinity`) but whose nested arrays and objects are JSON.
    Fields,
}

impl ValuePolicy {
    /// The default policy: non-finite floats as `null`, big integers as exact numbers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets what NaN and ±Infinity become. Default [`NonFinite::Null`].
    pub fn non_finite(mut self, policy: NonFinite) -> Self {
        self.non_finite = policy;
        self
    }

    /// Sets what integers beyond ±(2^53 − 1) become. Default [`BigIntegers::Number`].
    pub fn big_integers(mut self, policy: BigIntegers) -> Self {
        self.big_integers = policy;
        self
    }

    /// Sets where the encoder writes non-finite floats natively.
    #[cfg_attr(not(any(feature = "csv", feature = "msgpack")), allow(dead_code))]
    pub(crate) fn native_floats(mut self, native: NativeFloats) -> Self {
        self.native_floats = native;
        self
    }

    /// Whether a non-finite float `depth` levels into the item (0: the item, 1: its
    /// fields) is written as it is.
    #[inline]
    pub(crate) fn writes_natively(&self, depth: usize) -> bool {
        self.non_finite != NonFinite::Error
            && match self.native_floats {
                NativeFloats::Never => false,
                NativeFloats::Everywhere => true,
                NativeFloats::Fields => depth <= 1,
            }
    }

    /// The non-finite float policy.
    pub fn get_non_finite(&self) -> NonFinite {
        self.non_finite
    }

    /// The big integer policy.
    pub fn get_big_integers(&self) -> BigIntegers {
        self.big_integers
    }

    /// True when `serde_json` on its own already writes what this policy asks for
    /// (non-finite floats as `null`, integers as exact digits), so JSON encoders may skip
    /// the adapter.
    #[inline]
    pub(crate) fn is_json_native(&self) -> bool {
        self.non_finite == NonFinite::Null
            && self.big_integers == BigIntegers::Number
            && self.native_floats == NativeFloats::Never
    }
}

/// A value serialized under a [`ValuePolicy`]: the one adapter every built-in encoder uses,
/// and the way to give a custom [`Encoder`](crate::Encoder) the same value policies.
///
/// It wraps the serializer it is given, rewriting non-finite floats and big integers at
/// any depth (struct fields, map values, sequence elements, `Option`s, enum variants) and
/// passing everything else through unchanged, without allocating. After a failed
/// serialization, [`violation`](Self::violation) tells whether the policy caused it
/// ([`NonFinite::Error`]) and names the field.
///
/// ```
/// use rowstream::{NonFinite, ValuePolicy, WithPolicy};
///
/// #[derive(serde::Serialize)]
/// struct Reading { sensor: &'static str, values: Vec<f64> }
///
/// let reading = Reading { sensor: "t1", values: vec![1.5, f64::NAN] };
/// let strict = ValuePolicy::default().non_finite(NonFinite::Error);
/// let wrapped = WithPolicy::new(&reading, strict);
/// assert!(serde_json::to_string(&wrapped).is_err());
/// let err = wrapped.violation().expect("the policy rejected the NaN");
/// assert_eq!(err.to_string(), "non-finite float NaN in field values[1]");
///
/// let lenient = WithPolicy::new(&reading, ValuePolicy::default());
/// assert_eq!(serde_json::to_string(&lenient)?, r#"{"sensor":"t1","values":[1.5,null]}"#);
/// # Ok::<(), serde_json::Error>(())
/// ```
pub struct WithPolicy<'a, T: ?Sized> {
    value: &'a T,
    policy: ValuePolicy,
    trace: Trace,
}

impl<T: ?Sized> fmt::Debug for WithPolicy<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WithPolicy")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl<'a, T: Serialize + ?Sized> WithPolicy<'a, T> {
    /// Wraps `value` to be serialized under `policy`.
    pub fn new(value: &'a T, policy: ValuePolicy) -> Self {
        Self {
            value,
            policy,
            trace: Trace::default(),
        }
    }

    /// The policy violation that made the last serialization fail, naming the field
    /// path (`price`, `items[2].price`, or `the item` for a top-level float); `None` if
    /// the policy did not reject anything.
    pub fn violation(&self) -> Option<EncodeError> {
        self.trace.violation().map(EncodeError::msg)
    }

    /// Turns a serializer's error into an [`EncodeError`], preferring the policy
    /// violation (which names the field) when there was one.
    pub(crate) fn map_err(&self, err: impl Into<EncodeError>) -> EncodeError {
        self.violation().unwrap_or_else(|| err.into())
    }
}

impl<T: Serialize + ?Sized> Serialize for WithPolicy<'_, T> {
    #[inline]
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.trace.clear();
        serializer::serialize(self.value, serializer, self.policy, &self.trace)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn json<T: Serialize>(value: &T, policy: ValuePolicy) -> String {
        serde_json::to_string(&WithPolicy::new(value, policy)).unwrap()
    }

    #[test]
    fn default_policy_writes_null_and_exact_digits() {
        let value = (
            f64::NAN,
            f32::INFINITY,
            -f64::INFINITY,
            u64::MAX,
            i64::MIN,
            1.5,
        );
        assert_eq!(
            json(&value, ValuePolicy::default()),
            "[null,null,null,18446744073709551615,-9223372036854775808,1.5]"
        );
    }

    #[test]
    fn string_policies() {
        let policy = ValuePolicy::default()
            .non_finite(NonFinite::String)
            .big_integers(BigIntegers::String);
        let value = (
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            MAX_SAFE_INTEGER,
            MAX_SAFE_INTEGER + 1,
            -(MAX_SAFE_INTEGER as i64),
            -(MAX_SAFE_INTEGER as i64) - 1,
            i128::MAX,
            5u128,
        );
        assert_eq!(
            json(&value, policy),
            r#"["NaN","Infinity","-Infinity",9007199254740991,"9007199254740992",-9007199254740991,"-9007199254740992","170141183460469231731687303715884105727",5]"#
        );
    }

    #[test]
    fn policy_reaches_every_depth() {
        #[derive(serde::Serialize)]
        enum E {
            V(f64),
            S { x: f64 },
        }
        let mut map = BTreeMap::new();
        map.insert("k", vec![Some(f64::NAN)]);
        let value = (map, E::V(f64::INFINITY), E::S { x: f64::NAN });
        let policy = ValuePolicy::default().non_finite(NonFinite::String);
        assert_eq!(
            json(&value, policy),
            r#"[{"k":["NaN"]},{"V":"Infinity"},{"S":{"x":"NaN"}}]"#
        );
    }

    #[test]
    fn error_policy_names_the_field_path() {
        #[derive(serde::Serialize)]
        struct Line {
            price: f64,
        }
        #[derive(serde::Serialize)]
        struct Order {
            id: u32,
            lines: Vec<Line>,
        }
        let order = Order {
            id: 1,
            lines: vec![
                Line { price: 1.0 },
                Line {
                    price: -f64::INFINITY,
                },
            ],
        };
        let strict = ValuePolicy::default().non_finite(NonFinite::Error);
        let wrapped = WithPolicy::new(&order, strict);
        assert!(serde_json::to_vec(&wrapped).is_err());
        assert_eq!(
            wrapped.violation().unwrap().to_string(),
            "non-finite float -Infinity in field lines[1].price"
        );

        let mut map = BTreeMap::new();
        map.insert("a \"b\"", f64::NAN);
        let wrapped = WithPolicy::new(&map, strict);
        assert!(serde_json::to_vec(&wrapped).is_err());
        assert_eq!(
            wrapped.violation().unwrap().to_string(),
            "non-finite float NaN in field a \"b\""
        );

        let wrapped = WithPolicy::new(&f64::NAN, strict);
        assert!(serde_json::to_vec(&wrapped).is_err());
        assert_eq!(
            wrapped.violation().unwrap().to_string(),
            "non-finite float NaN as the item"
        );

        // A later successful serialization clears the violation.
        let fine = WithPolicy::new(&1.0, strict);
        assert!(serde_json::to_vec(&fine).is_ok());
        assert!(fine.violation().is_none());
    }

    #[test]
    fn json_native_matches_the_adapter() {
        let value = (f64::NAN, u64::MAX, i64::MIN, "x", vec![f32::NEG_INFINITY]);
        assert_eq!(
            serde_json::to_string(&value).unwrap(),
            json(&value, ValuePolicy::default())
        );
        assert!(ValuePolicy::default().is_json_native());
    }
}
