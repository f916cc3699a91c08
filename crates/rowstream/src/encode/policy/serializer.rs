//! The serde serializer adapter behind [`WithPolicy`](super::WithPolicy): it wraps any
//! serializer, rewrites non-finite floats and big integers at any depth under a
//! [`ValuePolicy`], and passes everything else through unchanged, without allocating.

use std::fmt;

use serde::ser::{
    self, Serialize, SerializeMap, SerializeSeq, SerializeStruct, SerializeStructVariant,
    SerializeTuple, SerializeTupleStruct, SerializeTupleVariant, Serializer,
};

use super::trace::{Segment, Trace, key_text};
use super::{BigIntegers, MAX_SAFE_INTEGER, NonFinite, ValuePolicy};

/// Serializes `value` into `serializer` under `policy`, recording a violation in `trace`.
#[inline]
pub(super) fn serialize<T: Serialize + ?Sized, S: Serializer>(
    value: &T,
    serializer: S,
    policy: ValuePolicy,
    trace: &Trace,
) -> Result<S::Ok, S::Error> {
    value.serialize(PolicySerializer {
        inner: serializer,
        ctx: Ctx {
            policy,
            trace,
            depth: 0,
        },
    })
}

#[derive(Clone, Copy)]
struct Ctx<'a> {
    policy: ValuePolicy,
    trace: &'a Trace,
    /// How many sequences, maps or structs the value is inside (0: the item itself).
    depth: usize,
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
            ctx: Ctx {
                depth: ctx.depth + 1,
                ..ctx
            },
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

/// `Serializer` methods the policy leaves alone: the inner serializer's.
macro_rules! pass_through {
    ($($method:ident($($arg:ident: $ty:ty),*);)*) => {$(
        #[inline]
        fn $method(self, $($arg: $ty),*) -> Result<S::Ok, S::Error> {
            self.inner.$method($($arg),*)
        }
    )*};
}

/// `Serializer` methods that open a compound: the inner serializer's compound, whose
/// elements are serialized under the policy.
macro_rules! compound {
    ($($method:ident($($arg:ident: $ty:ty),*) -> $compound:ident;)*) => {$(
        #[inline]
        fn $method(self, $($arg: $ty),*) -> Result<Self::$compound, S::Error> {
            Ok(Compound::new(self.inner.$method($($arg),*)?, self.ctx))
        }
    )*};
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

    pass_through! {
        serialize_bool(v: bool);
        serialize_i8(v: i8);
        serialize_i16(v: i16);
        serialize_i32(v: i32);
        serialize_u8(v: u8);
        serialize_u16(v: u16);
        serialize_u32(v: u32);
        serialize_char(v: char);
        serialize_str(v: &str);
        serialize_bytes(v: &[u8]);
        serialize_none();
        serialize_unit();
        serialize_unit_struct(name: &'static str);
        serialize_unit_variant(name: &'static str, variant_index: u32, variant: &'static str);
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
        if v.is_finite() || self.ctx.policy.writes_natively(self.ctx.depth) {
            self.inner.serialize_f32(v)
        } else {
            self.non_finite(f64::from(v))
        }
    }
    #[inline]
    fn serialize_f64(self, v: f64) -> Result<S::Ok, S::Error> {
        if v.is_finite() || self.ctx.policy.writes_natively(self.ctx.depth) {
            self.inner.serialize_f64(v)
        } else {
            self.non_finite(v)
        }
    }
    #[inline]
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<S::Ok, S::Error> {
        self.inner.serialize_some(&self.ctx.wrap(value))
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
        // The variant's data is nested, inside `{"variant": …}`.
        let inner = Ctx {
            depth: ctx.depth + 1,
            ..ctx
        };
        self.inner
            .serialize_newtype_variant(name, variant_index, variant, &inner.wrap(value))
            .inspect_err(|_| ctx.trace.push(|| Segment::Field(variant.to_owned())))
    }

    compound! {
        serialize_seq(len: Option<usize>) -> SerializeSeq;
        serialize_tuple(len: usize) -> SerializeTuple;
        serialize_tuple_struct(name: &'static str, len: usize) -> SerializeTupleStruct;
        serialize_tuple_variant(
            name: &'static str, variant_index: u32, variant: &'static str, len: usize
        ) -> SerializeTupleVariant;
        serialize_map(len: Option<usize>) -> SerializeMap;
        serialize_struct(name: &'static str, len: usize) -> SerializeStruct;
        serialize_struct_variant(
            name: &'static str, variant_index: u32, variant: &'static str, len: usize
        ) -> SerializeStructVariant;
    }

    #[inline]
    fn collect_str<T: fmt::Display + ?Sized>(self, value: &T) -> Result<S::Ok, S::Error> {
        self.inner.collect_str(value)
    }
}

/// The positional compounds: each element under the policy, named by its index.
macro_rules! positional {
    ($($trait:ident::$method:ident;)*) => {$(
        impl<C: $trait> $trait for Compound<'_, C> {
            type Ok = C::Ok;
            type Error = C::Error;
            #[inline]
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), C::Error> {
                self.element(|inner, ctx| inner.$method(&ctx.wrap(value)))
            }
            #[inline]
            fn end(self) -> Result<C::Ok, C::Error> {
                self.inner.end()
            }
        }
    )*};
}

positional! {
    SerializeSeq::serialize_element;
    SerializeTuple::serialize_element;
    SerializeTupleStruct::serialize_field;
    SerializeTupleVariant::serialize_field;
}

/// The struct compounds: each field under the policy, named by its key.
macro_rules! named {
    ($($trait:ident;)*) => {$(
        impl<C: $trait> $trait for Compound<'_, C> {
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
    )*};
}

named! {
    SerializeStruct;
    SerializeStructVariant;
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
