//! Value policies: what every encoder writes for values that formats disagree on —
//! non-finite floats and integers beyond what a JavaScript number holds exactly.
//!
//! One serde adapter, [`WithPolicy`], applies a [`ValuePolicy`] to any `Serialize` value by
//! wrapping the serializer it is given; every built-in encoder passes each item through it,
//! so a value is written the same way in JSON, NDJSON, JSON-seq, CSV and MessagePack.

use std::cell::RefCell;
use std::fmt;

use serde::ser::{
    self, Serialize, SerializeMap, SerializeSeq, SerializeStruct, SerializeStructVariant,
    SerializeTuple, SerializeTupleStruct, SerializeTupleVariant, Serializer,
};

use crate::EncodeError;

/// The largest integer magnitude a JavaScript number (an IEEE 754 double) holds exactly:
/// 2^53 − 1 = 9,007,199,254,740,991 (`Number.MAX_SAFE_INTEGER`).
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// What to write for a float that is NaN, +Infinity or −Infinity, which JSON (RFC 8259
/// §6) cannot represent as a number.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NonFinite {
    /// `null` in JSON formats, an empty field (NULL) in CSV, `nil` in MessagePack.
    /// The default.
    #[default]
    Null,
    /// The strings `"NaN"`, `"Infinity"` and `"-Infinity"` (the spellings JavaScript's
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
/// | NaN, ±Infinity | `null` ([`NonFinite::Null`]) | strings `"NaN"`, `"Infinity"`, `"-Infinity"`; or an item error naming the field |
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
        self.non_finite == NonFinite::Null && self.big_integers == BigIntegers::Number
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
        self.trace
            .0
            .borrow()
            .as_ref()
            .map(|v| EncodeError::msg(v.to_string()))
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
        *self.trace.0.borrow_mut() = None;
        self.value.serialize(PolicySerializer {
            inner: serializer,
            ctx: Ctx {
                policy: self.policy,
                trace: &self.trace,
            },
        })
    }
}

/// Where a [`NonFinite::Error`] violation happened; filled in while the error unwinds, so
/// a successful serialization never touches it.
#[derive(Default)]
struct Trace(RefCell<Option<Box<Violation>>>);

struct Violation {
    value: f64,
    /// Innermost segment first.
    path: Vec<Segment>,
}

enum Segment {
    Field(String),
    Index(usize),
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = if self.value.is_nan() {
            "NaN"
        } else if self.value > 0.0 {
            "Infinity"
        } else {
            "-Infinity"
        };
        write!(f, "non-finite float {name} ")?;
        if self.path.is_empty() {
            return f.write_str("as the item");
        }
        f.write_str("in field ")?;
        for (i, segment) in self.path.iter().rev().enumerate() {
            match segment {
                Segment::Field(name) if i == 0 => f.write_str(name)?,
                Segment::Field(name) => write!(f, ".{name}")?,
                Segment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

impl Trace {
    /// Adds a path segment if a violation is unwinding; called only on error paths.
    #[cold]
    fn push(&self, segment: impl FnOnce() -> Segment) {
        if let Some(violation) = self.0.borrow_mut().as_mut() {
            violation.path.push(segment());
        }
    }

    #[cold]
    fn record(&self, value: f64) {
        *self.0.borrow_mut() = Some(Box::new(Violation {
            value,
            path: Vec::new(),
        }));
    }
}

/// The text of a map key, for a violation's path (error path only).
#[cold]
fn key_text<K: Serialize + ?Sized>(key: &K) -> String {
    match serde_json::to_string(key) {
        Ok(json) => serde_json::from_str::<String>(&json).unwrap_or(json),
        Err(_) => "?".to_owned(),
    }
}

#[derive(Clone, Copy)]
struct Ctx<'a> {
    policy: ValuePolicy,
    trace: &'a Trace,
}

impl<'a> Ctx<'a> {
    #[inline]
    fn wrap<'v, T: ?Sized>(self, value: &'v T) -> Policed<'v, 'a, T> {
        Policed { value, ctx: self }
    }
}

/// A nested value under the same policy and trace as its parent.
struct Policed<'v, 'a, T: ?Sized> {
    value: &'v T,
    ctx: Ctx<'a>,
}

impl<T: Serialize + ?Sized> Serialize for Policed<'_, '_, T> {
    #[inline]
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(PolicySerializer {
            inner: serializer,
            ctx: self.ctx,
        })
    }
}

struct PolicySerializer<'a, S> {
    inner: S,
    ctx: Ctx<'a>,
}

/// A compound (sequence, map, struct …) whose elements are serialized under the policy.
struct Compound<'a, C> {
    inner: C,
    ctx: Ctx<'a>,
    index: usize,
}

impl<'a, C> Compound<'a, C> {
    #[inline]
    fn new(inner: C, ctx: Ctx<'a>) -> Self {
        Self {
            inner,
            ctx,
            index: 0,
        }
    }

    /// Runs `f` for the next positional element, naming its index if it fails.
    #[inline]
    fn element<R, E>(&mut self, f: impl FnOnce(&mut C, Ctx<'a>) -> Result<R, E>) -> Result<R, E> {
        let index = self.index;
        self.index += 1;
        let ctx = self.ctx;
        f(&mut self.inner, ctx).inspect_err(|_| ctx.trace.push(|| Segment::Index(index)))
    }

    /// Runs `f` for a named field, naming it if it fails.
    #[inline]
    fn field<R, E>(
        &mut self,
        name: impl FnOnce() -> String,
        f: impl FnOnce(&mut C, Ctx<'a>) -> Result<R, E>,
    ) -> Result<R, E> {
        let ctx = self.ctx;
        f(&mut self.inner, ctx).inspect_err(|_| ctx.trace.push(|| Segment::Field(name())))
    }
}

impl<S: Serializer> PolicySerializer<'_, S> {
    #[inline]
    fn non_finite(self, value: f64) -> Result<S::Ok, S::Error> {
        match self.ctx.policy.non_finite {
            NonFinite::Null => self.inner.serialize_unit(),
            NonFinite::String => self.inner.serialize_str(if value.is_nan() {
                "NaN"
            } else if value > 0.0 {
                "Infinity"
            } else {
                "-Infinity"
            }),
            NonFinite::Error => {
                self.ctx.trace.record(value);
                Err(ser::Error::custom(format_args!(
                    "non-finite float {value} rejected by the value policy"
                )))
            }
        }
    }

    #[inline]
    fn big_as_string(&self, magnitude: u128) -> bool {
        self.ctx.policy.big_integers == BigIntegers::String && magnitude > MAX_SAFE_INTEGER as u128
    }

    fn digits(self, value: impl itoa::Integer) -> Result<S::Ok, S::Error> {
        let mut buf = itoa::Buffer::new();
        self.inner.serialize_str(buf.format(value))
    }
}

impl<'a, S: Serializer> Serializer for PolicySerializer<'a, S> {
    type Ok = S::Ok;
    type Error = S::Error;
    type SerializeSeq = Compound<'a, S::SerializeSeq>;
    type SerializeTuple = Compound<'a, S::SerializeTuple>;
    type SerializeTupleStruct = Compound<'a, S::SerializeTupleStruct>;
    type SerializeTupleVariant = Compound<'a, S::SerializeTupleVariant>;
    type SerializeMap = Compound<'a, S::SerializeMap>;
    type SerializeStruct = Compound<'a, S::SerializeStruct>;
    type SerializeStructVariant = Compound<'a, S::SerializeStructVariant>;

    #[inline]
    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }

    #[inline]
    fn serialize_bool(self, v: bool) -> Result<S::Ok, S::Error> {
        self.inner.serialize_bool(v)
    }
    #[inline]
    fn serialize_i8(self, v: i8) -> Result<S::Ok, S::Error> {
        self.inner.serialize_i8(v)
    }
    #[inline]
    fn serialize_i16(self, v: i16) -> Result<S::Ok, S::Error> {
        self.inner.serialize_i16(v)
    }
    #[inline]
    fn serialize_i32(self, v: i32) -> Result<S::Ok, S::Error> {
        self.inner.serialize_i32(v)
    }
    #[inline]
    fn serialize_i64(self, v: i64) -> Result<S::Ok, S::Error> {
        if self.big_as_string(u128::from(v.unsigned_abs())) {
            return self.digits(v);
        }
        self.inner.serialize_i64(v)
    }
    #[inline]
    fn serialize_i128(self, v: i128) -> Result<S::Ok, S::Error> {
        if self.big_as_string(v.unsigned_abs()) {
            return self.digits(v);
        }
        match i64::try_from(v) {
            Ok(small) => self.inner.serialize_i64(small),
            Err(_) => self.inner.serialize_i128(v),
        }
    }
    #[inline]
    fn serialize_u8(self, v: u8) -> Result<S::Ok, S::Error> {
        self.inner.serialize_u8(v)
    }
    #[inline]
    fn serialize_u16(self, v: u16) -> Result<S::Ok, S::Error> {
        self.inner.serialize_u16(v)
    }
    #[inline]
    fn serialize_u32(self, v: u32) -> Result<S::Ok, S::Error> {
        self.inner.serialize_u32(v)
    }
    #[inline]
    fn serialize_u64(self, v: u64) -> Result<S::Ok, S::Error> {
        if self.big_as_string(u128::from(v)) {
            return self.digits(v);
        }
        self.inner.serialize_u64(v)
    }
    #[inline]
    fn serialize_u128(self, v: u128) -> Result<S::Ok, S::Error> {
        if self.big_as_string(v) {
            return self.digits(v);
        }
        match u64::try_from(v) {
            Ok(small) => self.inner.serialize_u64(small),
            Err(_) => self.inner.serialize_u128(v),
        }
    }
    #[inline]
    fn serialize_f32(self, v: f32) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            self.inner.serialize_f32(v)
        } else {
            self.non_finite(f64::from(v))
        }
    }
    #[inline]
    fn serialize_f64(self, v: f64) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            self.inner.serialize_f64(v)
        } else {
            self.non_finite(v)
        }
    }
    #[inline]
    fn serialize_char(self, v: char) -> Result<S::Ok, S::Error> {
        self.inner.serialize_char(v)
    }
    #[inline]
    fn serialize_str(self, v: &str) -> Result<S::Ok, S::Error> {
        self.inner.serialize_str(v)
    }
    #[inline]
    fn serialize_bytes(self, v: &[u8]) -> Result<S::Ok, S::Error> {
        self.inner.serialize_bytes(v)
    }
    #[inline]
    fn serialize_none(self) -> Result<S::Ok, S::Error> {
        self.inner.serialize_none()
    }
    #[inline]
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<S::Ok, S::Error> {
        self.inner.serialize_some(&self.ctx.wrap(value))
    }
    #[inline]
    fn serialize_unit(self) -> Result<S::Ok, S::Error> {
        self.inner.serialize_unit()
    }
    #[inline]
    fn serialize_unit_struct(self, name: &'static str) -> Result<S::Ok, S::Error> {
        self.inner.serialize_unit_struct(name)
    }
    #[inline]
    fn serialize_unit_variant(
        self,
        name: &'static str,
        variant_index: u32,
        variant: &'static str,
    ) -> Result<S::Ok, S::Error> {
        self.inner
            .serialize_unit_variant(name, variant_index, variant)
    }
    #[inline]
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        self.inner
            .serialize_newtype_struct(name, &self.ctx.wrap(value))
    }
    #[inline]
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        variant_index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        let ctx = self.ctx;
        self.inner
            .serialize_newtype_variant(name, variant_index, variant, &ctx.wrap(value))
            .inspect_err(|_| ctx.trace.push(|| Segment::Field(variant.to_owned())))
    }
    #[inline]
    fn serialize_seq(self, len: Option<usize>) -> Result<Self::SerializeSeq, S::Error> {
        Ok(Compound::new(self.inner.serialize_seq(len)?, self.ctx))
    }
    #[inline]
    fn serialize_tuple(self, len: usize) -> Result<Self::SerializeTuple, S::Error> {
        Ok(Compound::new(self.inner.serialize_tuple(len)?, self.ctx))
    }
    #[inline]
    fn serialize_tuple_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleStruct, S::Error> {
        Ok(Compound::new(
            self.inner.serialize_tuple_struct(name, len)?,
            self.ctx,
        ))
    }
    #[inline]
    fn serialize_tuple_variant(
        self,
        name: &'static str,
        variant_index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleVariant, S::Error> {
        Ok(Compound::new(
            self.inner
                .serialize_tuple_variant(name, variant_index, variant, len)?,
            self.ctx,
        ))
    }
    #[inline]
    fn serialize_map(self, len: Option<usize>) -> Result<Self::SerializeMap, S::Error> {
        Ok(Compound::new(self.inner.serialize_map(len)?, self.ctx))
    }
    #[inline]
    fn serialize_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStruct, S::Error> {
        Ok(Compound::new(
            self.inner.serialize_struct(name, len)?,
            self.ctx,
        ))
    }
    #[inline]
    fn serialize_struct_variant(
        self,
        name: &'static str,
        variant_index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStructVariant, S::Error> {
        Ok(Compound::new(
            self.inner
                .serialize_struct_variant(name, variant_index, variant, len)?,
            self.ctx,
        ))
    }
    #[inline]
    fn collect_str<T: fmt::Display + ?Sized>(self, value: &T) -> Result<S::Ok, S::Error> {
        self.inner.collect_str(value)
    }
}

impl<C: SerializeSeq> SerializeSeq for Compound<'_, C> {
    type Ok = C::Ok;
    type Error = C::Error;
    #[inline]
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), C::Error> {
        self.element(|inner, ctx| inner.serialize_element(&ctx.wrap(value)))
    }
    #[inline]
    fn end(self) -> Result<C::Ok, C::Error> {
        self.inner.end()
    }
}

impl<C: SerializeTuple> SerializeTuple for Compound<'_, C> {
    type Ok = C::Ok;
    type Error = C::Error;
    #[inline]
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), C::Error> {
        self.element(|inner, ctx| inner.serialize_element(&ctx.wrap(value)))
    }
    #[inline]
    fn end(self) -> Result<C::Ok, C::Error> {
        self.inner.end()
    }
}

impl<C: SerializeTupleStruct> SerializeTupleStruct for Compound<'_, C> {
    type Ok = C::Ok;
    type Error = C::Error;
    #[inline]
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), C::Error> {
        self.element(|inner, ctx| inner.serialize_field(&ctx.wrap(value)))
    }
    #[inline]
    fn end(self) -> Result<C::Ok, C::Error> {
        self.inner.end()
    }
}

impl<C: SerializeTupleVariant> SerializeTupleVariant for Compound<'_, C> {
    type Ok = C::Ok;
    type Error = C::Error;
    #[inline]
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), C::Error> {
        self.element(|inner, ctx| inner.serialize_field(&ctx.wrap(value)))
    }
    #[inline]
    fn end(self) -> Result<C::Ok, C::Error> {
        self.inner.end()
    }
}

impl<C: SerializeMap> SerializeMap for Compound<'_, C> {
    type Ok = C::Ok;
    type Error = C::Error;
    #[inline]
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), C::Error> {
        self.inner.serialize_key(key)
    }
    #[inline]
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), C::Error> {
        self.field(
            || "(map value)".to_owned(),
            |inner, ctx| inner.serialize_value(&ctx.wrap(value)),
        )
    }
    #[inline]
    fn serialize_entry<K: Serialize + ?Sized, V: Serialize + ?Sized>(
        &mut self,
        key: &K,
        value: &V,
    ) -> Result<(), C::Error> {
        self.field(
            || key_text(key),
            |inner, ctx| inner.serialize_entry(key, &ctx.wrap(value)),
        )
    }
    #[inline]
    fn end(self) -> Result<C::Ok, C::Error> {
        self.inner.end()
    }
}

impl<C: SerializeStruct> SerializeStruct for Compound<'_, C> {
    type Ok = C::Ok;
    type Error = C::Error;
    #[inline]
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), C::Error> {
        self.field(
            || key.to_owned(),
            |inner, ctx| inner.serialize_field(key, &ctx.wrap(value)),
        )
    }
    #[inline]
    fn skip_field(&mut self, key: &'static str) -> Result<(), C::Error> {
        self.inner.skip_field(key)
    }
    #[inline]
    fn end(self) -> Result<C::Ok, C::Error> {
        self.inner.end()
    }
}

impl<C: SerializeStructVariant> SerializeStructVariant for Compound<'_, C> {
    type Ok = C::Ok;
    type Error = C::Error;
    #[inline]
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), C::Error> {
        self.field(
            || key.to_owned(),
            |inner, ctx| inner.serialize_field(key, &ctx.wrap(value)),
        )
    }
    #[inline]
    fn skip_field(&mut self, key: &'static str) -> Result<(), C::Error> {
        self.inner.skip_field(key)
    }
    #[inline]
    fn end(self) -> Result<C::Ok, C::Error> {
        self.inner.end()
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
