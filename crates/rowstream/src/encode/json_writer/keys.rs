//! Map keys: JSON object keys are strings, so keys that are numbers, booleans, chars or
//! unit variants are written quoted, and anything else is refused, as serde_json does.

use serde::ser::{self, Impossible, Serialize};

use super::{JsonBuf, JsonError, JsonSerializer, Storage, key_must_be_a_string, write_key};

/// Serializes one map key as a JSON string, with the comma before it (when `comma` is
/// set) and the colon after it.
pub(super) struct KeySerializer<'a, S> {
    pub(super) out: &'a mut JsonBuf<S>,
    pub(super) comma: bool,
}

impl<S: Storage> KeySerializer<'_, S> {
    /// Writes `write`'s output (a number or a boolean) between quotes.
    #[inline]
    fn quoted(
        self,
        write: impl FnOnce(JsonSerializer<'_, S>) -> Result<(), JsonError>,
    ) -> Result<(), JsonError> {
        if self.comma {
            self.out.put_u8(b',');
        }
        self.out.put_u8(b'"');
        write(JsonSerializer { out: self.out })?;
        self.out.put_array(b"\":");
        Ok(())
    }
}

fn float_key_must_be_finite() -> JsonError {
    JsonError("float key must be finite (got NaN or +/-inf)".into())
}

/// Integer keys, written quoted.
macro_rules! quoted_integers {
    ($($name:ident($ty:ty);)*) => {
        $(
            fn $name(self, v: $ty) -> Result<(), JsonError> {
                self.quoted(|s| ser::Serializer::$name(s, v))
            }
        )*
    };
}

impl<S: Storage> ser::Serializer for KeySerializer<'_, S> {
    type Ok = ();
    type Error = JsonError;
    type SerializeSeq = Impossible<(), JsonError>;
    type SerializeTuple = Impossible<(), JsonError>;
    type SerializeTupleStruct = Impossible<(), JsonError>;
    type SerializeTupleVariant = Impossible<(), JsonError>;
    type SerializeMap = Impossible<(), JsonError>;
    type SerializeStruct = Impossible<(), JsonError>;
    type SerializeStructVariant = Impossible<(), JsonError>;

    #[inline]
    fn serialize_str(self, v: &str) -> Result<(), JsonError> {
        write_key(self.out, self.comma, v);
        Ok(())
    }
    fn serialize_char(self, v: char) -> Result<(), JsonError> {
        self.serialize_str(v.encode_utf8(&mut [0u8; 4]))
    }
    fn serialize_bool(self, v: bool) -> Result<(), JsonError> {
        self.quoted(|s| ser::Serializer::serialize_bool(s, v))
    }
    quoted_integers! {
        serialize_i8(i8); serialize_i16(i16); serialize_i32(i32); serialize_i64(i64);
        serialize_i128(i128); serialize_u8(u8); serialize_u16(u16); serialize_u32(u32);
        serialize_u64(u64); serialize_u128(u128);
    }
    fn serialize_f32(self, v: f32) -> Result<(), JsonError> {
        if !v.is_finite() {
            return Err(float_key_must_be_finite());
        }
        self.quoted(|s| ser::Serializer::serialize_f32(s, v))
    }
    fn serialize_f64(self, v: f64) -> Result<(), JsonError> {
        if !v.is_finite() {
            return Err(float_key_must_be_finite());
        }
        self.quoted(|s| ser::Serializer::serialize_f64(s, v))
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), JsonError> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), JsonError> {
        value.serialize(self)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), JsonError> {
        value.serialize(self)
    }
    refuse! {
        key_must_be_a_string();
        serialize_bytes(&[u8]) -> ();
        serialize_none() -> ();
        serialize_unit() -> ();
        serialize_unit_struct(&'static str) -> ();
        serialize_seq(Option<usize>) -> Self::SerializeSeq;
        serialize_tuple(usize) -> Self::SerializeTuple;
        serialize_tuple_struct(&'static str, usize) -> Self::SerializeTupleStruct;
        serialize_tuple_variant(&'static str, u32, &'static str, usize) -> Self::SerializeTupleVariant;
        serialize_map(Option<usize>) -> Self::SerializeMap;
        serialize_struct(&'static str, usize) -> Self::SerializeStruct;
        serialize_struct_variant(&'static str, u32, &'static str, usize) -> Self::SerializeStructVariant;
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<(), JsonError> {
        Err(key_must_be_a_string())
    }
}
