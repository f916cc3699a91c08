//! Rows → messages of a [`MessageSchema`]: serde's calls for one struct or map item
//! written as the message's fields with prost's encoding helpers.

use std::collections::HashMap;
use std::fmt;

use serde::ser::{self, Impossible, Serialize};

use super::schema::{FieldSchema, FieldType, MessageSchema};
use super::value::{ValueSerializer, write_text};
use crate::EncodeError;

/// A schema with its columns by name: what encodes one row.
#[derive(Debug)]
pub(super) struct Rows {
    pub(super) schema: MessageSchema,
    names: HashMap<String, usize>,
}

impl Rows {
    pub(super) fn new(schema: MessageSchema) -> Self {
        let names = schema
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| (f.column.clone(), i))
            .collect();
        Self { schema, names }
    }

    /// Writes `item`, a struct or map of column → value, as one message (without its
    /// length) into `out`; `seen` is scratch space.
    pub(super) fn encode<T: Serialize + ?Sized>(
        &self,
        item: &T,
        seen: &mut Vec<bool>,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        seen.clear();
        seen.resize(self.schema.fields().len(), false);
        item.serialize(RowSerializer {
            rows: self,
            seen: &mut *seen,
            out: &mut *out,
        })?;
        // Columns the item left out are unset; refused for a field that is not optional.
        if let Some(missing) = self
            .schema
            .fields()
            .iter()
            .zip(seen.iter())
            .find(|(f, seen)| !**seen && !f.optional)
        {
            return Err(column_error(missing.0, "the row has no value for it"));
        }
        Ok(())
    }

    fn field(&self, position: usize, name: &str) -> Result<usize, Error> {
        match self.schema.fields().get(position) {
            Some(field) if field.column == name => Ok(position),
            _ => self.names.get(name).copied().ok_or_else(|| {
                Error::Msg(EncodeError::msg(format!(
                    "field `{name}` is not a column of the message {}",
                    self.schema.full_name()
                )))
            }),
        }
    }
}

pub(super) fn column_error(field: &FieldSchema, what: &str) -> EncodeError {
    EncodeError::msg(format!(
        "column `{}` (protobuf {} field {} = {}): {what}",
        field.column,
        field.kind.proto_name(),
        field.name,
        field.number
    ))
}

/// The error of the serializers here.
#[derive(Debug)]
pub(super) enum Error {
    /// A sequence or map where a single value was expected: its JSON text, if the field
    /// is a string.
    Compound,
    Msg(EncodeError),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Compound => f.write_str("a sequence or map as a column value"),
            Self::Msg(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for Error {}

impl ser::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self::Msg(EncodeError::msg(msg.to_string()))
    }
}

impl From<Error> for EncodeError {
    fn from(e: Error) -> Self {
        match e {
            Error::Msg(e) => e,
            Error::Compound => EncodeError::msg(e.to_string()),
        }
    }
}

/// A struct or map per row.
struct RowSerializer<'a> {
    rows: &'a Rows,
    seen: &'a mut Vec<bool>,
    out: &'a mut Vec<u8>,
}

/// The fields of one row, with the position of the next one.
struct Fields<'a> {
    row: RowSerializer<'a>,
    position: usize,
    key: Option<String>,
}

impl Fields<'_> {
    fn value<T: Serialize + ?Sized>(&mut self, name: &str, value: &T) -> Result<(), Error> {
        let rows: &Rows = self.row.rows;
        let index = rows.field(self.position, name)?;
        self.position += 1;
        let field = &rows.schema.fields()[index];
        match self.row.seen.get_mut(index) {
            Some(seen @ false) => *seen = true,
            _ => {
                return Err(Error::Msg(EncodeError::msg(format!(
                    "field `{name}` appears twice in one item"
                ))));
            }
        }
        let compound = std::cell::Cell::new(false);
        let written = value.serialize(ValueSerializer {
            field,
            compound: &compound,
            out: &mut *self.row.out,
        });
        match written {
            Err(_) if compound.get() && field.kind == FieldType::String => {
                let text = serde_json::to_string(value).map_err(|e| {
                    Error::Msg(EncodeError::wrap("cannot write a value as JSON", e))
                })?;
                write_text(field, &text, self.row.out);
                Ok(())
            }
            Err(_) if compound.get() => Err(Error::Msg(column_error(
                field,
                "a sequence or map is not a scalar",
            ))),
            other => other,
        }
    }
}

fn not_a_row(what: &str) -> Error {
    Error::Msg(EncodeError::msg(format!(
        "a protobuf row must be a struct or a map of column names, not {what}"
    )))
}

macro_rules! refuse_row {
    ($($method:ident($($arg:ty),*) => $what:literal;)*) => {
        $(fn $method(self, $(_: $arg),*) -> Result<(), Error> {
            Err(not_a_row($what))
        })*
    };
}

impl<'a> ser::Serializer for RowSerializer<'a> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Impossible<(), Error>;
    type SerializeTuple = Impossible<(), Error>;
    type SerializeTupleStruct = Impossible<(), Error>;
    type SerializeTupleVariant = Impossible<(), Error>;
    type SerializeMap = Fields<'a>;
    type SerializeStruct = Fields<'a>;
    type SerializeStructVariant = Impossible<(), Error>;

    refuse_row! {
        serialize_bool(bool) => "a boolean";
        serialize_i8(i8) => "an integer";
        serialize_i16(i16) => "an integer";
        serialize_i32(i32) => "an integer";
        serialize_i64(i64) => "an integer";
        serialize_u8(u8) => "an integer";
        serialize_u16(u16) => "an integer";
        serialize_u32(u32) => "an integer";
        serialize_u64(u64) => "an integer";
        serialize_f32(f32) => "a float";
        serialize_f64(f64) => "a float";
        serialize_char(char) => "a character";
        serialize_str(&str) => "a string";
        serialize_bytes(&[u8]) => "bytes";
        serialize_unit_struct(&'static str) => "a unit struct";
    }

    fn serialize_none(self) -> Result<(), Error> {
        Err(not_a_row("null"))
    }
    fn serialize_unit(self) -> Result<(), Error> {
        Err(not_a_row("null"))
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, _: &'static str) -> Result<(), Error> {
        Err(not_a_row("an enum variant"))
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
        Err(not_a_row("an enum variant"))
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Error> {
        Err(not_a_row("a sequence"))
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Error> {
        Err(not_a_row("a tuple"))
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, Error> {
        Err(not_a_row("a tuple struct"))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Error> {
        Err(not_a_row("an enum variant"))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Error> {
        Ok(Fields {
            row: self,
            position: 0,
            key: None,
        })
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, Error> {
        Ok(Fields {
            row: self,
            position: 0,
            key: None,
        })
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Error> {
        Err(not_a_row("an enum variant"))
    }
}

impl ser::SerializeStruct for Fields<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.value(key, value)
    }

    fn end(self) -> Result<(), Error> {
        Ok(())
    }
}

impl ser::SerializeMap for Fields<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        self.key = Some(key.serialize(KeySerializer)?);
        Ok(())
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        let key = self.key.take().unwrap_or_default();
        self.value(&key, value)
    }

    fn end(self) -> Result<(), Error> {
        Ok(())
    }
}

/// A map key: a string.
struct KeySerializer;

fn not_a_key() -> Error {
    Error::Msg(EncodeError::msg("a column name must be a string"))
}

macro_rules! refuse_key {
    ($($method:ident($($arg:ty),*);)*) => {
        $(fn $method(self, $(_: $arg),*) -> Result<String, Error> {
            Err(not_a_key())
        })*
    };
}

impl ser::Serializer for KeySerializer {
    type Ok = String;
    type Error = Error;
    type SerializeSeq = Impossible<String, Error>;
    type SerializeTuple = Impossible<String, Error>;
    type SerializeTupleStruct = Impossible<String, Error>;
    type SerializeTupleVariant = Impossible<String, Error>;
    type SerializeMap = Impossible<String, Error>;
    type SerializeStruct = Impossible<String, Error>;
    type SerializeStructVariant = Impossible<String, Error>;

    fn serialize_str(self, v: &str) -> Result<String, Error> {
        Ok(v.to_owned())
    }
    fn serialize_char(self, v: char) -> Result<String, Error> {
        Ok(v.to_string())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<String, Error> {
        value.serialize(self)
    }
    refuse_key! {
        serialize_bool(bool);
        serialize_i8(i8);
        serialize_i16(i16);
        serialize_i32(i32);
        serialize_i64(i64);
        serialize_u8(u8);
        serialize_u16(u16);
        serialize_u32(u32);
        serialize_u64(u64);
        serialize_f32(f32);
        serialize_f64(f64);
        serialize_bytes(&[u8]);
        serialize_none();
        serialize_unit();
        serialize_unit_struct(&'static str);
        serialize_unit_variant(&'static str, u32, &'static str);
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<String, Error> {
        Err(not_a_key())
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<String, Error> {
        Err(not_a_key())
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Error> {
        Err(not_a_key())
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Error> {
        Err(not_a_key())
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, Error> {
        Err(not_a_key())
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Error> {
        Err(not_a_key())
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Error> {
        Err(not_a_key())
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, Error> {
        Err(not_a_key())
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Error> {
        Err(not_a_key())
    }
}
