//! One value of a row → one field of the message: checked against the field's type and
//! written with prost's encoding helpers.

use base64::Engine as _;
use prost::encoding::{self as wire, WireType};
use serde::ser::{self, Impossible, Serialize};

use super::rows::{Error, column_error};
use super::schema::{FieldSchema, FieldType};

/// Writes a `string` field (length-delimited); an empty one only if the field is
/// optional.
pub(super) fn write_text(field: &FieldSchema, text: &str, out: &mut Vec<u8>) {
    write_bytes(field, text.as_bytes(), out);
}

/// Writes a length-delimited field; an empty one only if the field is optional.
fn write_bytes(field: &FieldSchema, bytes: &[u8], out: &mut Vec<u8>) {
    if bytes.is_empty() && !field.optional {
        return;
    }
    wire::encode_key(field.number, WireType::LengthDelimited, out);
    wire::encode_varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

/// One value of one field, checked against its type and written.
pub(super) struct ValueSerializer<'a> {
    pub(super) field: &'a FieldSchema,
    /// Set when a sequence, map or struct is met.
    pub(super) compound: &'a std::cell::Cell<bool>,
    pub(super) out: &'a mut Vec<u8>,
}

impl ValueSerializer<'_> {
    fn fail(&self, what: &str) -> Error {
        Error::Msg(column_error(self.field, what))
    }

    fn compound(&self) -> Error {
        self.compound.set(true);
        Error::Compound
    }

    /// An integer, into a field of any integer type, `double` (when exact), `bool` (0 or
    /// 1) or `string` (its digits).
    fn integer(self, v: i128) -> Result<(), Error> {
        let Self { field, out, .. } = self;
        let (tag, optional) = (field.number, field.optional);
        let fail = |what: String| Error::Msg(column_error(field, &what));
        let range = || fail(format!("{v} is out of the field's range"));
        match field.kind {
            FieldType::Bool => match v {
                0 if !optional => {}
                0 | 1 => wire::bool::encode(tag, &(v == 1), out),
                _ => return Err(fail(format!("{v} is not a boolean"))),
            },
            FieldType::Int32 => {
                let v = i32::try_from(v).map_err(|_| range())?;
                if v != 0 || optional {
                    wire::int32::encode(tag, &v, out);
                }
            }
            FieldType::Int64 => {
                let v = i64::try_from(v).map_err(|_| range())?;
                if v != 0 || optional {
                    wire::int64::encode(tag, &v, out);
                }
            }
            FieldType::Uint32 => {
                let v = u32::try_from(v).map_err(|_| range())?;
                if v != 0 || optional {
                    wire::uint32::encode(tag, &v, out);
                }
            }
            FieldType::Uint64 => {
                let v = u64::try_from(v).map_err(|_| range())?;
                if v != 0 || optional {
                    wire::uint64::encode(tag, &v, out);
                }
            }
            FieldType::Double => {
                // Exact only up to 2^53 in magnitude.
                if v.unsigned_abs() > 1 << 53 {
                    return Err(fail(format!("{v} has no exact double")));
                }
                #[allow(clippy::cast_precision_loss)]
                write_double(field, v as f64, out);
            }
            FieldType::String => write_text(field, &v.to_string(), out),
            FieldType::Bytes => return Err(fail("an integer is not bytes".to_owned())),
        }
        Ok(())
    }

    fn float(self, v: f64, text: String) -> Result<(), Error> {
        match self.field.kind {
            FieldType::Double => {
                write_double(self.field, v, self.out);
                Ok(())
            }
            FieldType::String => {
                write_text(self.field, &text, self.out);
                Ok(())
            }
            _ => Err(self.fail("a float is not of this type")),
        }
    }
}

/// Writes a `double` field; -0.0 too (only the zero of all-zero bits is the default of
/// a field that is not optional).
fn write_double(field: &FieldSchema, v: f64, out: &mut Vec<u8>) {
    if v.to_bits() != 0 || field.optional {
        wire::double::encode(field.number, &v, out);
    }
}

impl ser::Serializer for ValueSerializer<'_> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Impossible<(), Error>;
    type SerializeTuple = Impossible<(), Error>;
    type SerializeTupleStruct = Impossible<(), Error>;
    type SerializeTupleVariant = Impossible<(), Error>;
    type SerializeMap = Impossible<(), Error>;
    type SerializeStruct = Impossible<(), Error>;
    type SerializeStructVariant = Impossible<(), Error>;

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        match self.field.kind {
            FieldType::Bool => {
                if v || self.field.optional {
                    wire::bool::encode(self.field.number, &v, self.out);
                }
                Ok(())
            }
            FieldType::String => {
                write_text(self.field, if v { "true" } else { "false" }, self.out);
                Ok(())
            }
            FieldType::Bytes | FieldType::Double | FieldType::Uint32 | FieldType::Uint64 => {
                Err(self.fail("a boolean is not of this type"))
            }
            _ => self.integer(i128::from(v)),
        }
    }
    fn serialize_i8(self, v: i8) -> Result<(), Error> {
        self.integer(v.into())
    }
    fn serialize_i16(self, v: i16) -> Result<(), Error> {
        self.integer(v.into())
    }
    fn serialize_i32(self, v: i32) -> Result<(), Error> {
        self.integer(v.into())
    }
    fn serialize_i64(self, v: i64) -> Result<(), Error> {
        self.integer(v.into())
    }
    fn serialize_i128(self, v: i128) -> Result<(), Error> {
        self.integer(v)
    }
    fn serialize_u8(self, v: u8) -> Result<(), Error> {
        self.integer(v.into())
    }
    fn serialize_u16(self, v: u16) -> Result<(), Error> {
        self.integer(v.into())
    }
    fn serialize_u32(self, v: u32) -> Result<(), Error> {
        self.integer(v.into())
    }
    fn serialize_u64(self, v: u64) -> Result<(), Error> {
        self.integer(v.into())
    }
    fn serialize_u128(self, v: u128) -> Result<(), Error> {
        match i128::try_from(v) {
            Ok(v) => self.integer(v),
            Err(_) if self.field.kind == FieldType::String => {
                write_text(self.field, &v.to_string(), self.out);
                Ok(())
            }
            Err(_) => Err(self.fail(&format!("{v} is out of the field's range"))),
        }
    }
    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        self.float(f64::from(v), v.to_string())
    }
    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        self.float(v, v.to_string())
    }
    fn serialize_char(self, v: char) -> Result<(), Error> {
        self.serialize_str(v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_str(self, v: &str) -> Result<(), Error> {
        match self.field.kind {
            FieldType::String => write_text(self.field, v, self.out),
            FieldType::Bytes => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(v)
                    .map_err(|_| self.fail("text that is not standard base64 (RFC 4648 §4)"))?;
                write_bytes(self.field, &bytes, self.out);
            }
            _ => return Err(self.fail("text is not of this type")),
        }
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), Error> {
        match self.field.kind {
            FieldType::Bytes => write_bytes(self.field, v, self.out),
            FieldType::String => write_text(
                self.field,
                &base64::engine::general_purpose::STANDARD.encode(v),
                self.out,
            ),
            _ => return Err(self.fail("bytes are not of this type")),
        }
        Ok(())
    }
    fn serialize_none(self) -> Result<(), Error> {
        if self.field.optional {
            Ok(())
        } else {
            Err(self.fail("NULL in a field that is not optional (a NOT NULL column)"))
        }
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Error> {
        self.serialize_none()
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Error> {
        self.serialize_none()
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), Error> {
        Err(self.compound())
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Error> {
        Err(self.compound())
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Error> {
        Err(self.compound())
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, Error> {
        Err(self.compound())
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Error> {
        Err(self.compound())
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Error> {
        Err(self.compound())
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, Error> {
        Err(self.compound())
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Error> {
        Err(self.compound())
    }
}
