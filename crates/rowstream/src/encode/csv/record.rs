//! Flattening one item into one CSV record: the serde serializer of the record (a
//! struct, map or tuple; a scalar is a record of one field), which checks or collects the
//! column names and hands each field to a [`FieldSerializer`].

use std::fmt;

use serde::Serialize;
use serde::ser::{self, Impossible};

use super::field::FieldSerializer;
use super::field_format::FieldFormat;
use super::key::KeyCapture;

/// The error of the CSV serializers; the encoder turns it into an
/// [`EncodeError`](crate::EncodeError).
#[derive(Debug)]
pub(super) struct CsvError(pub(super) String);

impl fmt::Display for CsvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CsvError {}

impl ser::Error for CsvError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self(msg.to_string())
    }
}

impl From<serde_json::Error> for CsvError {
    fn from(err: serde_json::Error) -> Self {
        Self(err.to_string())
    }
}

/// Buffers reused across records.
#[derive(Debug, Clone, Default)]
pub(super) struct Scratch {
    /// The first record's column names while they are collected.
    names: Vec<String>,
    /// The current map key.
    key: String,
    /// JSON text of a nested value.
    json: Vec<u8>,
}

impl Scratch {
    pub(super) fn take_names(&mut self) -> Vec<String> {
        std::mem::take(&mut self.names)
    }
}

/// Serializes one item as one record.
pub(super) struct RecordSerializer<'a> {
    out: &'a mut Vec<u8>,
    format: &'a FieldFormat,
    scratch: &'a mut Scratch,
    /// The header's columns to check against; `None` while the first record's names
    /// are being collected into `scratch.names`.
    expect: Option<&'a [String]>,
}

impl<'a> RecordSerializer<'a> {
    pub(super) fn new(
        out: &'a mut Vec<u8>,
        format: &'a FieldFormat,
        scratch: &'a mut Scratch,
        expect: Option<&'a [String]>,
    ) -> Self {
        scratch.names.clear();
        Self {
            out,
            format,
            scratch,
            expect,
        }
    }

    fn record(self) -> Record<'a> {
        Record {
            out: self.out,
            format: self.format,
            scratch: self.scratch,
            expect: self.expect,
            index: 0,
            last_null: false,
            key_matched: false,
        }
    }

    /// A record of one field named `value`.
    fn single(
        self,
        write: impl FnOnce(FieldSerializer<'_>) -> Result<bool, CsvError>,
    ) -> Result<(), CsvError> {
        let mut record = self.record();
        record.field(Name::Static("value"), write)?;
        record.finish()
    }
}

/// A field's name, to collect or check.
#[derive(Clone, Copy)]
enum Name {
    /// A struct field.
    Static(&'static str),
    /// The map key in `scratch.key`.
    Key,
    /// A tuple or sequence element: named by its 1-based position.
    Position,
}

/// The fields of one record being written.
pub(super) struct Record<'a> {
    out: &'a mut Vec<u8>,
    format: &'a FieldFormat,
    scratch: &'a mut Scratch,
    expect: Option<&'a [String]>,
    index: usize,
    last_null: bool,
    /// The current map key is the header's column at `index`: compared while it was
    /// serialized, and not copied into `scratch.key`.
    key_matched: bool,
}

impl Record<'_> {
    fn field(
        &mut self,
        name: Name,
        write: impl FnOnce(FieldSerializer<'_>) -> Result<bool, CsvError>,
    ) -> Result<(), CsvError> {
        let index = self.index;
        let scratch = &mut *self.scratch;
        let name_text: Option<&str> = match name {
            Name::Static(name) => Some(name),
            // Already checked against the header's column: nothing to collect or compare.
            Name::Key if self.key_matched => None,
            Name::Key => Some(&scratch.key),
            Name::Position => None,
        };
        match self.expect {
            None => scratch.names.push(match name_text {
                Some(name) => name.to_owned(),
                None => (index + 1).to_string(),
            }),
            Some(columns) => {
                let Some(column) = columns.get(index) else {
                    return Err(CsvError(format!(
                        "the record has more fields than the header's {} columns",
                        columns.len()
                    )));
                };
                if let Some(name) = name_text {
                    if name != column {
                        return Err(CsvError(format!(
                            "field `{name}` where the header has `{column}` (column {})",
                            index + 1
                        )));
                    }
                }
            }
        }
        if index > 0 {
            self.out.push(self.format.delimiter);
        }
        self.last_null = write(FieldSerializer::new(
            self.out,
            self.format,
            &mut scratch.json,
        ))?;
        self.index += 1;
        Ok(())
    }

    fn finish(self) -> Result<(), CsvError> {
        if let Some(columns) = self.expect {
            if self.index != columns.len() {
                return Err(CsvError(format!(
                    "the record has {} fields, the header has {} columns",
                    self.index,
                    columns.len()
                )));
            }
        }
        // An empty line would be skipped by readers: one empty-or-NULL field is `""`.
        if self.index == 0 || (self.index == 1 && self.last_null) {
            self.out.extend_from_slice(b"\"\"");
        }
        self.out.extend_from_slice(b"\r\n");
        Ok(())
    }

    fn map_key<K: Serialize + ?Sized>(&mut self, key: &K) -> Result<(), CsvError> {
        self.scratch.key.clear();
        self.key_matched = false;
        let expected = self.expect.and_then(|columns| columns.get(self.index));
        key.serialize(KeyCapture {
            key: &mut self.scratch.key,
            expected: expected.map(String::as_str),
            matched: &mut self.key_matched,
        })
    }
}

impl ser::SerializeStruct for Record<'_> {
    type Ok = ();
    type Error = CsvError;
    #[inline]
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), CsvError> {
        self.field(Name::Static(key), |f| value.serialize(f))
    }
    fn skip_field(&mut self, key: &'static str) -> Result<(), CsvError> {
        self.field(Name::Static(key), |_| Ok(true))
    }
    fn end(self) -> Result<(), CsvError> {
        self.finish()
    }
}

impl ser::SerializeMap for Record<'_> {
    type Ok = ();
    type Error = CsvError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), CsvError> {
        self.map_key(key)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), CsvError> {
        self.field(Name::Key, |f| value.serialize(f))
    }
    #[inline]
    fn serialize_entry<K: Serialize + ?Sized, V: Serialize + ?Sized>(
        &mut self,
        key: &K,
        value: &V,
    ) -> Result<(), CsvError> {
        self.map_key(key)?;
        self.field(Name::Key, |f| value.serialize(f))
    }
    fn end(self) -> Result<(), CsvError> {
        self.finish()
    }
}

macro_rules! positional_record {
    ($($trait:ident :: $method:ident),*) => {$(
        impl ser::$trait for Record<'_> {
            type Ok = ();
            type Error = CsvError;
            #[inline]
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), CsvError> {
                self.field(Name::Position, |f| value.serialize(f))
            }
            fn end(self) -> Result<(), CsvError> {
                self.finish()
            }
        }
    )*};
}

positional_record!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field
);

/// Scalars at the top level: one-field records, written by [`FieldSerializer`].
macro_rules! single_field {
    ($($method:ident($ty:ty)),*) => {$(
        fn $method(self, v: $ty) -> Result<(), CsvError> {
            self.single(|f| ser::Serializer::$method(f, v))
        }
    )*};
}

impl<'a> ser::Serializer for RecordSerializer<'a> {
    type Ok = ();
    type Error = CsvError;
    type SerializeSeq = Record<'a>;
    type SerializeTuple = Record<'a>;
    type SerializeTupleStruct = Record<'a>;
    type SerializeTupleVariant = Impossible<(), CsvError>;
    type SerializeMap = Record<'a>;
    type SerializeStruct = Record<'a>;
    type SerializeStructVariant = Impossible<(), CsvError>;

    single_field!(
        serialize_bool(bool),
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_i128(i128),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_u128(u128),
        serialize_f32(f32),
        serialize_f64(f64),
        serialize_char(char),
        serialize_str(&str),
        serialize_bytes(&[u8])
    );

    fn serialize_none(self) -> Result<(), CsvError> {
        self.single(|_| Ok(true))
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), CsvError> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), CsvError> {
        self.single(|_| Ok(true))
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), CsvError> {
        self.single(|_| Ok(true))
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), CsvError> {
        self.single(|f| ser::Serializer::serialize_str(f, variant))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), CsvError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), CsvError> {
        self.single(|f| ser::Serializer::serialize_newtype_variant(f, name, index, variant, value))
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Record<'a>, CsvError> {
        Ok(self.record())
    }
    fn serialize_tuple(self, _len: usize) -> Result<Record<'a>, CsvError> {
        Ok(self.record())
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Record<'a>, CsvError> {
        Ok(self.record())
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, CsvError> {
        Err(not_a_record(variant))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Record<'a>, CsvError> {
        Ok(self.record())
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Record<'a>, CsvError> {
        Ok(self.record())
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, CsvError> {
        Err(not_a_record(variant))
    }
}

fn not_a_record(variant: &str) -> CsvError {
    CsvError(format!(
        "enum variant `{variant}` with fields cannot be a CSV record; use a struct, map or tuple"
    ))
}
