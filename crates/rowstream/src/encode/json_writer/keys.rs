//! Map keys: JSON object keys are strings, so keys that are numbers, booleans, chars or
//! unit variants are written quoted, and anything else is refused, as serde_json does.

use bytes::BufMut;
use serde::ser::{self, Impossible, Serialize};

use super::{JsonError, JsonSerializer, key_must_be_a_string, write_str};

/// Serializes one map key as a JSON string.
pub(super) struct KeySerializer<'a, B> {
    pub(super) out: &'a mut B,
}

impl<B: BufMut> KeySerializer<'_, B> {
    /// Writes `write`'s output (a number or a boolean) between quotes.
    #[inline]
    fn quoted(
        self,
        write: impl FnOnce(JsonSerializer<'_, B>) -> Result<(), JsonError>,
    ) -> Result<(), JsonError> {
        self.out.put_u8(b'"');
        write(JsonSerializer { out: self.out })?;
        self.out.put_u8(b'"');
        Ok(())
    }
}

fn float_key_must_be_finite() -> JsonError {
    JsonError("float key must be finite (got NaN or +/-inf)".into())
}

impl<B: BufMut> ser::Serializer for KeySerializer<'_, B> {
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
        write_str(self.out, v);
        Ok(())
    }
    fn serialize_char(self, v: char) -> Result<(), JsonError> {
        self.serialize_str(v.encode_utf8(&mut [0u8; 4]))
    }
    fn serialize_bool(self, v: bool) -> Result<(), JsonError> {
        self.quoted(|s| ser::Serializer::serialize_bool(s, v))
    }
    fn serialize_i8(self, v: i8) -> Result<(), JsonError> {
        self.quoted(|s| ser::Serializer::serialize_i8(s, v))
    }
    fn serialize_i16(self, v: i16) -> Result<(), JsonError> {
        self.quoted(|s| ser::Serializer::serialize_i16(s, v))
    }
    fn serialize_i32(self, v: i32) -> Result<(), JsonError> {
        self.quoted(|s| ser::Serializer::serialize_i32(s, v))
    }
    fn serialize_i64(self, v: i64) -> Result<(), JsonError> {
        self.quoted(|s| ser::Serializer::serialize_i64(s, v))
    }
    fn serialize_i128(self, v: i128) -> Result<(), JsonError> {
        self.quoted(|s| ser::Serializer::serialize_i128(s, v))
    }
    fn serialize_u8(self, v: u8) -> Result<(), JsonError> {
        self.quoted(|s| ser::Serializer::serialize_u8(s, v))
    }
    fn serialize_u16(self, v: u16) -> Result<(), JsonError> {
        self.quoted(|s| ser::Serializer::serialize_u16(s, v))
    }
    fn serialize_u32(self, v: u32) -> Result<(), JsonError> {
        self.quoted(|s| ser::Serializer::serialize_u32(s, v))
    }
    fn serialize_u64(self, v: u64) -> Result<(), JsonError> {
        self.quoted(|s| ser::Serializer::serialize_u64(s, v))
    }
    fn serialize_u128(self, v: u128) -> Result<(), JsonError> {
        self.quoted(|s| ser::Serializer::serialize_u128(s, v))
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
    fn serialize_bytes(self, _v: &[u8]) -> Result<(), JsonError> {
        Err(key_must_be_a_string())
    }
    fn serialize_none(self) -> Result<(), JsonError> {
        Err(key_must_be_a_string())
    }
    fn serialize_unit(self) -> Result<(), JsonError> {
        Err(key_must_be_a_string())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), JsonError> {
        Err(key_must_be_a_string())
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
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, JsonError> {
        Err(key_must_be_a_string())
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, JsonError> {
        Err(key_must_be_a_string())
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, JsonError> {
        Err(key_must_be_a_string())
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, JsonError> {
        Err(key_must_be_a_string())
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, JsonError> {
        Err(key_must_be_a_string())
    }
    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStruct, JsonError> {
        Err(key_must_be_a_string())
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, JsonError> {
        Err(key_must_be_a_string())
    }
}
