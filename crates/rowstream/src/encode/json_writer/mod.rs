//! rowstream's own serde serializer for compact JSON (RFC 8259), byte for byte what
//! `serde_json::to_writer` writes, only faster.
//!
//! What makes it faster: output goes to a [`JsonBuf`] ([`buf`]), initialized bytes and a
//! write position, where short writes of a length known only at run time (digits, short
//! strings, keys) are fixed-size stores rather than `memcpy` calls, with no `io::Write`
//! layer and no error paths for writes that cannot fail; strings are scanned and copied
//! sixteen bytes a step ([`escape`]); an object key is written with its comma, quotes and
//! colon in one step ([`write_key`]); numbers go through `itoa` and `zmij` (serde_json's
//! own) for what is not an integer of up to 64 bits or an integral `f64` ([`numbers`]). What it keeps from serde_json: every serde data model case written the same way
//! (bytes as an array of numbers, enums externally tagged, NaN/±Infinity as `null`, map
//! keys that are numbers or booleans quoted), the same errors for keys that cannot be
//! JSON, and `serde_json::value::RawValue` written verbatim (its private token), so JSON
//! columns stay exact.

mod buf;
mod escape;
mod numbers;

use std::fmt;

use serde::ser::{self, Serialize};

pub(crate) use buf::{AppendTo, JsonBuf, Storage};
pub(crate) use escape::{write_key, write_str};
use numbers::{write_f32, write_f64, write_u64, write_wide};

/// The struct name serde_json's `RawValue` serializes under; its one field is the raw JSON.
const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

/// An error of the JSON serializer: a map key that JSON cannot hold, or a `Serialize`
/// implementation's own error.
#[derive(Debug)]
pub(crate) struct JsonError(String);

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for JsonError {}

impl ser::Error for JsonError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self(msg.to_string())
    }
}

impl From<JsonError> for crate::EncodeError {
    fn from(err: JsonError) -> Self {
        Self::wrap(format!("cannot encode item as JSON: {err}"), err)
    }
}

fn key_must_be_a_string() -> JsonError {
    JsonError("key must be a string".into())
}

/// Serializes `value` as compact JSON onto the end of `out`. On an error, `out` may hold
/// part of the value: callers write into scratch space they discard.
#[inline]
pub(crate) fn to_buf<S: Storage, T: Serialize + ?Sized>(
    out: &mut JsonBuf<S>,
    value: &T,
) -> Result<(), JsonError> {
    value.serialize(JsonSerializer { out })
}

/// The serializer: a borrowed output buffer.
pub(crate) struct JsonSerializer<'a, S> {
    out: &'a mut JsonBuf<S>,
}

/// Integers up to 64 bits: the magnitude's digits, after a sign.
macro_rules! integers {
    ($($name:ident($ty:ty);)*) => {
        $(
            #[inline]
            fn $name(self, v: $ty) -> Result<(), JsonError> {
                write_u64(self.out, v < 0, u64::from(v.unsigned_abs()));
                Ok(())
            }
        )*
    };
}

/// Unsigned integers up to 64 bits.
macro_rules! unsigned {
    ($($name:ident($ty:ty);)*) => {
        $(
            #[inline]
            fn $name(self, v: $ty) -> Result<(), JsonError> {
                write_u64(self.out, false, u64::from(v));
                Ok(())
            }
        )*
    };
}

impl<'a, S: Storage> ser::Serializer for JsonSerializer<'a, S> {
    type Ok = ();
    type Error = JsonError;
    type SerializeSeq = Compound<'a, S>;
    type SerializeTuple = Compound<'a, S>;
    type SerializeTupleStruct = Compound<'a, S>;
    type SerializeTupleVariant = Compound<'a, S>;
    type SerializeMap = Compound<'a, S>;
    type SerializeStruct = Compound<'a, S>;
    type SerializeStructVariant = Compound<'a, S>;

    #[inline]
    fn serialize_bool(self, v: bool) -> Result<(), JsonError> {
        if v {
            self.out.put_array(b"true");
        } else {
            self.out.put_array(b"false");
        }
        Ok(())
    }
    integers! {
        serialize_i8(i8); serialize_i16(i16); serialize_i32(i32); serialize_i64(i64);
    }
    unsigned! {
        serialize_u8(u8); serialize_u16(u16); serialize_u32(u32); serialize_u64(u64);
    }
    #[inline]
    fn serialize_i128(self, v: i128) -> Result<(), JsonError> {
        write_wide(self.out, v);
        Ok(())
    }
    #[inline]
    fn serialize_u128(self, v: u128) -> Result<(), JsonError> {
        write_wide(self.out, v);
        Ok(())
    }
    #[inline]
    fn serialize_f32(self, v: f32) -> Result<(), JsonError> {
        write_f32(self.out, v);
        Ok(())
    }
    #[inline]
    fn serialize_f64(self, v: f64) -> Result<(), JsonError> {
        write_f64(self.out, v);
        Ok(())
    }
    #[inline]
    fn serialize_char(self, v: char) -> Result<(), JsonError> {
        write_str(self.out, v.encode_utf8(&mut [0u8; 4]));
        Ok(())
    }
    #[inline]
    fn serialize_str(self, v: &str) -> Result<(), JsonError> {
        write_str(self.out, v);
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), JsonError> {
        self.out.put_u8(b'[');
        for (i, byte) in v.iter().enumerate() {
            if i > 0 {
                self.out.put_u8(b',');
            }
            write_u64(self.out, false, u64::from(*byte));
        }
        self.out.put_u8(b']');
        Ok(())
    }
    #[inline]
    fn serialize_none(self) -> Result<(), JsonError> {
        self.out.put_array(b"null");
        Ok(())
    }
    #[inline]
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), JsonError> {
        value.serialize(self)
    }
    #[inline]
    fn serialize_unit(self) -> Result<(), JsonError> {
        self.serialize_none()
    }
    #[inline]
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), JsonError> {
        self.serialize_none()
    }
    #[inline]
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), JsonError> {
        self.serialize_str(variant)
    }
    #[inline]
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), JsonError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), JsonError> {
        self.out.put_u8(b'{');
        write_str(self.out, variant);
        self.out.put_u8(b':');
        value.serialize(JsonSerializer { out: self.out })?;
        self.out.put_u8(b'}');
        Ok(())
    }
    #[inline]
    fn serialize_seq(self, _len: Option<usize>) -> Result<Compound<'a, S>, JsonError> {
        self.out.put_u8(b'[');
        Ok(Compound::new(self.out, Close::Array))
    }
    #[inline]
    fn serialize_tuple(self, len: usize) -> Result<Compound<'a, S>, JsonError> {
        self.serialize_seq(Some(len))
    }
    #[inline]
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<Compound<'a, S>, JsonError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'a, S>, JsonError> {
        self.out.put_u8(b'{');
        write_str(self.out, variant);
        self.out.put_array(b":[");
        Ok(Compound::new(self.out, Close::ArrayInObject))
    }
    #[inline]
    fn serialize_map(self, _len: Option<usize>) -> Result<Compound<'a, S>, JsonError> {
        self.out.put_u8(b'{');
        Ok(Compound::new(self.out, Close::Object))
    }
    #[inline]
    fn serialize_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Compound<'a, S>, JsonError> {
        if name == RAW_VALUE_TOKEN {
            return Ok(Compound::new(self.out, Close::Raw));
        }
        self.serialize_map(Some(len))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'a, S>, JsonError> {
        self.out.put_u8(b'{');
        write_str(self.out, variant);
        self.out.put_array(b":{");
        Ok(Compound::new(self.out, Close::ObjectInObject))
    }
}

/// What ends a compound value.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Close {
    Array,
    Object,
    /// `]}`: a tuple variant.
    ArrayInObject,
    /// `}}`: a struct variant.
    ObjectInObject,
    /// serde_json's `RawValue`: nothing around its one field, which is written verbatim.
    Raw,
}

/// A sequence, map or struct being written.
pub(crate) struct Compound<'a, S> {
    out: &'a mut JsonBuf<S>,
    close: Close,
    first: bool,
}

impl<'a, S: Storage> Compound<'a, S> {
    #[inline]
    fn new(out: &'a mut JsonBuf<S>, close: Close) -> Self {
        Self {
            out,
            close,
            first: true,
        }
    }

    #[inline]
    fn separator(&mut self) {
        if self.first {
            self.first = false;
        } else {
            self.out.put_u8(b',');
        }
    }

    #[inline]
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), JsonError> {
        self.separator();
        value.serialize(JsonSerializer { out: self.out })
    }

    #[inline]
    fn field<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> Result<(), JsonError> {
        if self.close == Close::Raw {
            return value.serialize(RawJson { out: self.out });
        }
        let comma = !std::mem::replace(&mut self.first, false);
        write_key(self.out, comma, key);
        value.serialize(JsonSerializer { out: self.out })
    }

    #[inline]
    fn finish(self) -> Result<(), JsonError> {
        match self.close {
            Close::Array => self.out.put_u8(b']'),
            Close::Object => self.out.put_u8(b'}'),
            Close::ArrayInObject => self.out.put_array(b"]}"),
            Close::ObjectInObject => self.out.put_array(b"}}"),
            Close::Raw => {}
        }
        Ok(())
    }
}

/// The sequence-like compounds: each element after a separator.
macro_rules! elements {
    ($($trait:ident :: $method:ident;)*) => {
        $(
            impl<S: Storage> ser::$trait for Compound<'_, S> {
                type Ok = ();
                type Error = JsonError;
                #[inline]
                fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), JsonError> {
                    self.element(value)
                }
                #[inline]
                fn end(self) -> Result<(), JsonError> {
                    self.finish()
                }
            }
        )*
    };
}

elements! {
    SerializeSeq::serialize_element;
    SerializeTuple::serialize_element;
    SerializeTupleStruct::serialize_field;
    SerializeTupleVariant::serialize_field;
}

impl<S: Storage> ser::SerializeMap for Compound<'_, S> {
    type Ok = ();
    type Error = JsonError;
    #[inline]
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), JsonError> {
        let comma = !std::mem::replace(&mut self.first, false);
        key.serialize(KeySerializer {
            out: self.out,
            comma,
        })
    }
    #[inline]
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), JsonError> {
        value.serialize(JsonSerializer { out: self.out })
    }
    #[inline]
    fn end(self) -> Result<(), JsonError> {
        self.finish()
    }
}

impl<S: Storage> ser::SerializeStruct for Compound<'_, S> {
    type Ok = ();
    type Error = JsonError;
    #[inline]
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), JsonError> {
        self.field(key, value)
    }
    #[inline]
    fn end(self) -> Result<(), JsonError> {
        self.finish()
    }
}

impl<S: Storage> ser::SerializeStructVariant for Compound<'_, S> {
    type Ok = ();
    type Error = JsonError;
    #[inline]
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), JsonError> {
        self.field(key, value)
    }
    #[inline]
    fn end(self) -> Result<(), JsonError> {
        self.finish()
    }
}

/// Implements the listed `Serializer` methods as refusals returning `$err`.
macro_rules! refuse {
    ($err:expr; $($name:ident($($arg:ty),*) -> $ret:ty;)*) => {
        $(
            fn $name(self, $(_: $arg),*) -> Result<$ret, JsonError> {
                Err($err)
            }
        )*
    };
}

mod keys;
mod raw;

use keys::KeySerializer;
use raw::RawJson;

#[cfg(test)]
mod tests;
