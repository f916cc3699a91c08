//! serde → one row of column values: a struct or map item, each field to the column of
//! its name.

use std::collections::HashMap;
use std::fmt;

use serde::ser::{self, Impossible, Serialize};

use super::columns::{Columns, Value};
use crate::EncodeError;

/// One value as serde gave it, before it is checked against its column.
#[derive(Debug)]
pub(super) enum Cell {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    F32(f32),
    F64(f64),
    Text(String),
    Bytes(Vec<u8>),
}

impl Cell {
    /// What the value is, for error messages.
    pub(super) fn kind(&self) -> &'static str {
        match self {
            Self::Null => "null",
            Self::Bool(_) => "a boolean",
            Self::Int(_) | Self::UInt(_) => "an integer",
            Self::F32(_) | Self::F64(_) => "a float",
            Self::Text(_) => "text",
            Self::Bytes(_) => "bytes",
        }
    }
}

/// The error of the serializers here.
#[derive(Debug)]
pub(super) enum SerError {
    /// A sequence or map where a single value was expected: written as its JSON text.
    Compound,
    Msg(EncodeError),
}

impl fmt::Display for SerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Compound => f.write_str("a sequence or map as a column value"),
            Self::Msg(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for SerError {}

impl ser::Error for SerError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self::Msg(EncodeError::msg(msg.to_string()))
    }
}

impl From<EncodeError> for SerError {
    fn from(e: EncodeError) -> Self {
        Self::Msg(e)
    }
}

impl From<SerError> for EncodeError {
    fn from(e: SerError) -> Self {
        match e {
            SerError::Msg(e) => e,
            SerError::Compound => EncodeError::msg(e.to_string()),
        }
    }
}

/// One value as a [`Cell`]; a sequence, map or struct becomes its JSON text.
fn cell<T: Serialize + ?Sized>(value: &T) -> Result<Cell, SerError> {
    // Whether a compound was met: the error that says so may come back wrapped by the
    // value's own `Serialize` (an SQL cell adds its column's name), no longer `Compound`.
    let compound = std::cell::Cell::new(false);
    match value.serialize(CellSerializer {
        compound: &compound,
    }) {
        Err(_) if compound.get() => serde_json::to_string(value)
            .map(Cell::Text)
            .map_err(|e| SerError::Msg(EncodeError::wrap("cannot write a value as JSON", e))),
        other => other,
    }
}

/// Where the fields of one row go.
pub(super) struct RowWriter<'a> {
    pub(super) columns: &'a Columns,
    pub(super) names: &'a HashMap<String, usize>,
    pub(super) values: &'a mut Vec<Option<Value>>,
}

impl RowWriter<'_> {
    fn field<T: Serialize + ?Sized>(
        &mut self,
        position: usize,
        name: &str,
        value: &T,
    ) -> Result<(), SerError> {
        let fields = self.columns.schema().fields();
        let index = match fields.get(position) {
            Some(field) if field.name() == name => position,
            _ => *self.names.get(name).ok_or_else(|| {
                SerError::Msg(EncodeError::msg(format!(
                    "field `{name}` is not a column of the Arrow schema"
                )))
            })?,
        };
        let value = self.columns.check(index, cell(value)?)?;
        match self.values.get_mut(index) {
            Some(slot @ None) => {
                *slot = Some(value);
                Ok(())
            }
            _ => Err(SerError::Msg(EncodeError::msg(format!(
                "field `{name}` appears twice in one item"
            )))),
        }
    }
}

/// The row serializer: a struct or a map per item.
pub(super) struct RowSerializer<'a, 'b> {
    pub(super) row: &'b mut RowWriter<'a>,
}

/// The fields of a struct or map being written, with the position of the next one.
pub(super) struct Fields<'a, 'b> {
    row: &'b mut RowWriter<'a>,
    position: usize,
    key: Option<String>,
}

fn not_a_row(what: &str) -> SerError {
    SerError::Msg(EncodeError::msg(format!(
        "an Arrow row must be a struct or a map of column names, not {what}"
    )))
}

macro_rules! refuse {
    ($($method:ident($($arg:ty),*) => $what:literal;)*) => {
        $(fn $method(self, $(_: $arg),*) -> Result<(), SerError> {
            Err(not_a_row($what))
        })*
    };
}

impl<'a, 'b> ser::Serializer for RowSerializer<'a, 'b> {
    type Ok = ();
    type Error = SerError;
    type SerializeSeq = Impossible<(), SerError>;
    type SerializeTuple = Impossible<(), SerError>;
    type SerializeTupleStruct = Impossible<(), SerError>;
    type SerializeTupleVariant = Impossible<(), SerError>;
    type SerializeMap = Fields<'a, 'b>;
    type SerializeStruct = Fields<'a, 'b>;
    type SerializeStructVariant = Impossible<(), SerError>;

    refuse! {
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

    fn serialize_none(self) -> Result<(), SerError> {
        Err(not_a_row("null"))
    }
    fn serialize_unit(self) -> Result<(), SerError> {
        Err(not_a_row("null"))
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), SerError> {
        value.serialize(self)
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
    ) -> Result<(), SerError> {
        Err(not_a_row("an enum variant"))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), SerError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), SerError> {
        Err(not_a_row("an enum variant"))
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, SerError> {
        Err(not_a_row("a sequence"))
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, SerError> {
        Err(not_a_row("a tuple"))
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, SerError> {
        Err(not_a_row("a tuple struct"))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, SerError> {
        Err(not_a_row("an enum variant"))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, SerError> {
        Ok(Fields {
            row: self.row,
            position: 0,
            key: None,
        })
    }
    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStruct, SerError> {
        Ok(Fields {
            row: self.row,
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
    ) -> Result<Self::SerializeStructVariant, SerError> {
        Err(not_a_row("an enum variant"))
    }
}

impl ser::SerializeStruct for Fields<'_, '_> {
    type Ok = ();
    type Error = SerError;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), SerError> {
        self.row.field(self.position, key, value)?;
        self.position += 1;
        Ok(())
    }

    fn end(self) -> Result<(), SerError> {
        Ok(())
    }
}

impl ser::SerializeMap for Fields<'_, '_> {
    type Ok = ();
    type Error = SerError;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), SerError> {
        match cell(key)? {
            Cell::Text(name) => {
                self.key = Some(name);
                Ok(())
            }
            other => Err(SerError::Msg(EncodeError::msg(format!(
                "a column name must be a string, not {}",
                other.kind()
            )))),
        }
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), SerError> {
        let key = self.key.take().unwrap_or_default();
        self.row.field(self.position, &key, value)?;
        self.position += 1;
        Ok(())
    }

    fn end(self) -> Result<(), SerError> {
        Ok(())
    }
}

/// One value → [`Cell`].
struct CellSerializer<'a> {
    /// Set when a sequence, map or struct is met.
    compound: &'a std::cell::Cell<bool>,
}

impl CellSerializer<'_> {
    fn compound(&self) -> SerError {
        self.compound.set(true);
        SerError::Compound
    }
}

impl ser::Serializer for CellSerializer<'_> {
    type Ok = Cell;
    type Error = SerError;
    type SerializeSeq = Impossible<Cell, SerError>;
    type SerializeTuple = Impossible<Cell, SerError>;
    type SerializeTupleStruct = Impossible<Cell, SerError>;
    type SerializeTupleVariant = Impossible<Cell, SerError>;
    type SerializeMap = Impossible<Cell, SerError>;
    type SerializeStruct = Impossible<Cell, SerError>;
    type SerializeStructVariant = Impossible<Cell, SerError>;

    fn serialize_bool(self, v: bool) -> Result<Cell, SerError> {
        Ok(Cell::Bool(v))
    }
    fn serialize_i8(self, v: i8) -> Result<Cell, SerError> {
        Ok(Cell::Int(v.into()))
    }
    fn serialize_i16(self, v: i16) -> Result<Cell, SerError> {
        Ok(Cell::Int(v.into()))
    }
    fn serialize_i32(self, v: i32) -> Result<Cell, SerError> {
        Ok(Cell::Int(v.into()))
    }
    fn serialize_i64(self, v: i64) -> Result<Cell, SerError> {
        Ok(Cell::Int(v))
    }
    fn serialize_i128(self, v: i128) -> Result<Cell, SerError> {
        match i64::try_from(v) {
            Ok(v) => Ok(Cell::Int(v)),
            Err(_) => u64::try_from(v)
                .map(Cell::UInt)
                .or(Ok(Cell::Text(v.to_string()))),
        }
    }
    fn serialize_u8(self, v: u8) -> Result<Cell, SerError> {
        Ok(Cell::Int(v.into()))
    }
    fn serialize_u16(self, v: u16) -> Result<Cell, SerError> {
        Ok(Cell::Int(v.into()))
    }
    fn serialize_u32(self, v: u32) -> Result<Cell, SerError> {
        Ok(Cell::Int(v.into()))
    }
    fn serialize_u64(self, v: u64) -> Result<Cell, SerError> {
        Ok(Cell::UInt(v))
    }
    fn serialize_u128(self, v: u128) -> Result<Cell, SerError> {
        Ok(u64::try_from(v).map_or_else(|_| Cell::Text(v.to_string()), Cell::UInt))
    }
    fn serialize_f32(self, v: f32) -> Result<Cell, SerError> {
        Ok(Cell::F32(v))
    }
    fn serialize_f64(self, v: f64) -> Result<Cell, SerError> {
        Ok(Cell::F64(v))
    }
    fn serialize_char(self, v: char) -> Result<Cell, SerError> {
        Ok(Cell::Text(v.to_string()))
    }
    fn serialize_str(self, v: &str) -> Result<Cell, SerError> {
        Ok(Cell::Text(v.to_owned()))
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<Cell, SerError> {
        Ok(Cell::Bytes(v.to_vec()))
    }
    fn serialize_none(self) -> Result<Cell, SerError> {
        Ok(Cell::Null)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Cell, SerError> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<Cell, SerError> {
        Ok(Cell::Null)
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<Cell, SerError> {
        Ok(Cell::Null)
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<Cell, SerError> {
        Ok(Cell::Text(variant.to_owned()))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<Cell, SerError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<Cell, SerError> {
        Err(self.compound())
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, SerError> {
        Err(self.compound())
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, SerError> {
        Err(self.compound())
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, SerError> {
        Err(self.compound())
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, SerError> {
        Err(self.compound())
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, SerError> {
        Err(self.compound())
    }
    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStruct, SerError> {
        Err(self.compound())
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, SerError> {
        Err(self.compound())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A value whose `Serialize` wraps the serializer's errors with its column's name, as
    /// the SQL cells do.
    struct Wrapping(serde_json::Value);

    impl Serialize for Wrapping {
        fn serialize<S: ser::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            self.0
                .serialize(serializer)
                .map_err(|e| ser::Error::custom(format!("column \"j\" (JSON): {e}")))
        }
    }

    #[test]
    fn compounds_are_json_text_even_when_their_error_is_wrapped() {
        let value = serde_json::json!({"a": [1, 2, {"b": null}], "c": "d"});
        match cell(&Wrapping(value.clone())).expect("a cell") {
            Cell::Text(text) => {
                assert_eq!(
                    serde_json::from_str::<serde_json::Value>(&text).unwrap(),
                    value
                );
            }
            other => panic!("not text: {}", other.kind()),
        }
        match cell(&vec![1, 2, 3]).expect("a cell") {
            Cell::Text(text) => assert_eq!(text, "[1,2,3]"),
            other => panic!("not text: {}", other.kind()),
        }
        // A scalar is itself.
        assert!(matches!(
            cell(&Wrapping(serde_json::json!(5))),
            Ok(Cell::UInt(5))
        ));
    }
}
