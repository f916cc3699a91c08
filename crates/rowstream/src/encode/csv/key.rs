//! [`KeyCapture`]: a map key, the name of a CSV column, as text.

use serde::Serialize;
use serde::ser::{self, Impossible};

use super::record::CsvError;

/// Captures a map key (a column name) as text.
pub(super) struct KeyCapture<'a>(pub(super) &'a mut String);

macro_rules! key_display {
    ($($method:ident($ty:ty)),*) => {$(
        fn $method(self, v: $ty) -> Result<(), CsvError> {
            use std::fmt::Write as _;
            let _ = write!(self.0, "{v}");
            Ok(())
        }
    )*};
}

macro_rules! key_unsupported {
    ($($method:ident($($arg:ty),*) -> $ret:ty),*) => {$(
        fn $method(self, $(_: $arg),*) -> Result<$ret, CsvError> {
            Err(CsvError("a CSV column name (map key) must be a string or a number".into()))
        }
    )*};
}

impl ser::Serializer for KeyCapture<'_> {
    type Ok = ();
    type Error = CsvError;
    type SerializeSeq = Impossible<(), CsvError>;
    type SerializeTuple = Impossible<(), CsvError>;
    type SerializeTupleStruct = Impossible<(), CsvError>;
    type SerializeTupleVariant = Impossible<(), CsvError>;
    type SerializeMap = Impossible<(), CsvError>;
    type SerializeStruct = Impossible<(), CsvError>;
    type SerializeStructVariant = Impossible<(), CsvError>;

    key_display!(
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
        serialize_char(char)
    );

    #[inline]
    fn serialize_str(self, v: &str) -> Result<(), CsvError> {
        self.0.push_str(v);
        Ok(())
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), CsvError> {
        self.0.push_str(variant);
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), CsvError> {
        value.serialize(self)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), CsvError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<(), CsvError> {
        Err(CsvError(
            "a CSV column name (map key) must be a string or a number".into(),
        ))
    }

    key_unsupported!(
        serialize_bytes(&[u8]) -> (),
        serialize_none() -> (),
        serialize_unit() -> (),
        serialize_unit_struct(&'static str) -> (),
        serialize_seq(Option<usize>) -> Self::SerializeSeq,
        serialize_tuple(usize) -> Self::SerializeTuple,
        serialize_tuple_struct(&'static str, usize) -> Self::SerializeTupleStruct,
        serialize_tuple_variant(&'static str, u32, &'static str, usize) -> Self::SerializeTupleVariant,
        serialize_map(Option<usize>) -> Self::SerializeMap,
        serialize_struct(&'static str, usize) -> Self::SerializeStruct,
        serialize_struct_variant(&'static str, u32, &'static str, usize) -> Self::SerializeStructVariant
    );
}
