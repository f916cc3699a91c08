//! One CSV field: the serde serializer of a field's value (scalars as text, `null` as the
//! empty field, nested arrays and objects as their compact JSON text).

use serde::Serialize;
use serde::ser;

use super::field_format::FieldFormat;
use super::record::CsvError;

/// The struct name by which `serde_json::value::RawValue` (JSON text kept as it is)
/// identifies itself to a serializer.
const RAW_JSON: &str = "$serde_json::private::RawValue";

/// Writes one field's content; `Ok(true)` when the field is NULL (empty).
pub(super) struct FieldSerializer<'a> {
    out: &'a mut Vec<u8>,
    format: &'a FieldFormat,
    json: &'a mut Vec<u8>,
}

impl<'a> FieldSerializer<'a> {
    /// A serializer writing one field into `out` in `format`, with `json` as scratch space
    /// for nested values.
    pub(super) fn new(
        out: &'a mut Vec<u8>,
        format: &'a FieldFormat,
        json: &'a mut Vec<u8>,
    ) -> Self {
        Self { out, format, json }
    }

    #[inline]
    fn number(self, digits: &str) -> Result<bool, CsvError> {
        // Digits, '-', '.', 'e' and '+' never need quotes with any supported delimiter.
        self.out.extend_from_slice(digits.as_bytes());
        Ok(false)
    }

    fn nested(self, open: &[u8], close: &'static [u8]) -> NestedJson<'a> {
        self.json.clear();
        self.json.extend_from_slice(open);
        NestedJson {
            field: self,
            first: true,
            close,
            raw: false,
        }
    }
}

/// `{"<variant>":` and `then`, the opening of a nested enum variant.
fn variant_open(variant: &str, then: &[u8]) -> Result<Vec<u8>, CsvError> {
    let mut open = Vec::with_capacity(variant.len() + 4 + then.len());
    open.push(b'{');
    serde_json::to_writer(&mut open, variant)?;
    open.push(b':');
    open.extend_from_slice(then);
    Ok(open)
}

macro_rules! integer_fields {
    ($($method:ident($ty:ty)),*) => {$(
        #[inline]
        fn $method(self, v: $ty) -> Result<bool, CsvError> {
            self.number(itoa::Buffer::new().format(v))
        }
    )*};
}

impl<'a> ser::Serializer for FieldSerializer<'a> {
    type Ok = bool;
    type Error = CsvError;
    type SerializeSeq = NestedJson<'a>;
    type SerializeTuple = NestedJson<'a>;
    type SerializeTupleStruct = NestedJson<'a>;
    type SerializeTupleVariant = NestedJson<'a>;
    type SerializeMap = NestedJson<'a>;
    type SerializeStruct = NestedJson<'a>;
    type SerializeStructVariant = NestedJson<'a>;

    #[inline]
    fn serialize_bool(self, v: bool) -> Result<bool, CsvError> {
        self.number(if v { "true" } else { "false" })
    }

    integer_fields!(
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_i128(i128),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_u128(u128)
    );

    #[inline]
    fn serialize_f32(self, v: f32) -> Result<bool, CsvError> {
        if !v.is_finite() {
            return self.serialize_f64(f64::from(v));
        }
        self.number(ryu::Buffer::new().format_finite(v))
    }
    #[inline]
    fn serialize_f64(self, v: f64) -> Result<bool, CsvError> {
        if v.is_nan() {
            return self.number("NaN");
        }
        if v.is_infinite() {
            return self.number(if v > 0.0 { "Infinity" } else { "-Infinity" });
        }
        self.number(ryu::Buffer::new().format_finite(v))
    }
    fn serialize_char(self, v: char) -> Result<bool, CsvError> {
        self.serialize_str(v.encode_utf8(&mut [0; 4]))
    }
    #[inline]
    fn serialize_str(self, v: &str) -> Result<bool, CsvError> {
        self.format.write_text(self.out, v);
        Ok(false)
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<bool, CsvError> {
        self.json.clear();
        serde_json::to_writer(&mut *self.json, v)?;
        self.format.write_raw(self.out, self.json);
        Ok(false)
    }
    #[inline]
    fn serialize_none(self) -> Result<bool, CsvError> {
        Ok(true)
    }
    #[inline]
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<bool, CsvError> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<bool, CsvError> {
        Ok(true)
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<bool, CsvError> {
        Ok(true)
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<bool, CsvError> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<bool, CsvError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<bool, CsvError> {
        self.json.clear();
        self.json.push(b'{');
        serde_json::to_writer(&mut *self.json, variant)?;
        self.json.push(b':');
        serde_json::to_writer(&mut *self.json, value)?;
        self.json.push(b'}');
        self.format.write_raw(self.out, self.json);
        Ok(false)
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<NestedJson<'a>, CsvError> {
        Ok(self.nested(b"[", b"]"))
    }
    fn serialize_tuple(self, _len: usize) -> Result<NestedJson<'a>, CsvError> {
        Ok(self.nested(b"[", b"]"))
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<NestedJson<'a>, CsvError> {
        Ok(self.nested(b"[", b"]"))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<NestedJson<'a>, CsvError> {
        let open = variant_open(variant, b"[")?;
        Ok(self.nested(&open, b"]}"))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<NestedJson<'a>, CsvError> {
        Ok(self.nested(b"{", b"}"))
    }
    fn serialize_struct(self, name: &'static str, _len: usize) -> Result<NestedJson<'a>, CsvError> {
        if name == RAW_JSON {
            // JSON text (a JSON column): its text is the field, written by serde_json's
            // own raw value path.
            let mut nested = self.nested(b"", b"");
            nested.raw = true;
            return Ok(nested);
        }
        Ok(self.nested(b"{", b"}"))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<NestedJson<'a>, CsvError> {
        let open = variant_open(variant, b"{")?;
        Ok(self.nested(&open, b"}}"))
    }
}

/// A nested array or object inside a field, written as compact JSON (the same text
/// `serde_json` writes) into scratch space and then as one field.
pub(super) struct NestedJson<'a> {
    field: FieldSerializer<'a>,
    first: bool,
    close: &'static [u8],
    /// A `serde_json` raw value: the one field is JSON text, written as it is.
    raw: bool,
}

impl NestedJson<'_> {
    #[inline]
    fn separator(&mut self) {
        if !self.first {
            self.field.json.push(b',');
        }
        self.first = false;
    }

    #[inline]
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), CsvError> {
        self.separator();
        serde_json::to_writer(&mut *self.field.json, value)?;
        Ok(())
    }

    /// A map key as a JSON string: strings as they are, numbers and booleans quoted (as
    /// `serde_json` does for map keys), anything else an error.
    fn key<K: Serialize + ?Sized>(&mut self, key: &K) -> Result<(), CsvError> {
        self.separator();
        let json = &mut *self.field.json;
        let start = json.len();
        serde_json::to_writer(&mut *json, key)?;
        match json.get(start) {
            Some(b'"') => {}
            Some(b'-' | b'0'..=b'9' | b't' | b'f') => {
                json.insert(start, b'"');
                json.push(b'"');
            }
            _ => return Err(CsvError("a map key must be a string or a number".into())),
        }
        json.push(b':');
        Ok(())
    }

    fn finish(self) -> Result<bool, CsvError> {
        let field = self.field;
        field.json.extend_from_slice(self.close);
        field.format.write_raw(field.out, field.json);
        Ok(false)
    }
}

macro_rules! nested_elements {
    ($($trait:ident :: $method:ident),*) => {$(
        impl ser::$trait for NestedJson<'_> {
            type Ok = bool;
            type Error = CsvError;
            #[inline]
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), CsvError> {
                self.element(value)
            }
            fn end(self) -> Result<bool, CsvError> {
                self.finish()
            }
        }
    )*};
}

nested_elements!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

macro_rules! nested_fields {
    ($($trait:ident),*) => {$(
        impl ser::$trait for NestedJson<'_> {
            type Ok = bool;
            type Error = CsvError;
            #[inline]
            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                key: &'static str,
                value: &T,
            ) -> Result<(), CsvError> {
                if self.raw {
                    use ser::Serializer as _;
                    let mut json = serde_json::Serializer::new(&mut *self.field.json);
                    let mut raw = (&mut json).serialize_struct(RAW_JSON, 1)?;
                    ser::SerializeStruct::serialize_field(&mut raw, key, value)?;
                    return Ok(ser::SerializeStruct::end(raw)?);
                }
                self.key(key)?;
                serde_json::to_writer(&mut *self.field.json, value)?;
                Ok(())
            }
            fn end(self) -> Result<bool, CsvError> {
                self.finish()
            }
        }
    )*};
}

nested_fields!(SerializeStruct, SerializeStructVariant);

impl ser::SerializeMap for NestedJson<'_> {
    type Ok = bool;
    type Error = CsvError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), CsvError> {
        self.key(key)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), CsvError> {
        serde_json::to_writer(&mut *self.field.json, value)?;
        Ok(())
    }
    fn end(self) -> Result<bool, CsvError> {
        self.finish()
    }
}
