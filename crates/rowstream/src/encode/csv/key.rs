//! [`KeyCapture`]: a map key, the name of a CSV column, as text.

use serde::Serialize;
use serde::ser::{self, Impossible};

use super::record::CsvError;

/// Captures a map key (a column name) as text — or, for a string key equal to the
/// header's column `expected`, only notes the match in `matched`, without copying it.
pub(super) struct KeyCapture<'a> {
    pub(super) key: &'a mut String,
    pub(super) expected: Option<&'a str>,
    pub(super) matched: &'a mut bool,
}

/// `a == b`, compared inline 8 bytes a step: column names are short, and a call to
/// `memcmp` per field cost more than the comparison itself.
#[inline]
fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (mut a8, mut b8) = (a.chunks_exact(8), b.chunks_exact(8));
    for (x, y) in (&mut a8).zip(&mut b8) {
        let word = |c: &[u8]| u64::from_ne_bytes(c.try_into().unwrap_or([0; 8]));
        if word(x) != word(y) {
            return false;
        }
    }
    a8.remainder()
        .iter()
        .zip(b8.remainder())
        .fold(true, |equal, (x, y)| equal & (x == y))
}

macro_rules! key_display {
    ($($method:ident($ty:ty)),*) => {$(
        fn $method(self, v: $ty) -> Result<(), CsvError> {
            use std::fmt::Write as _;
            let _ = write!(self.key, "{v}");
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
        if self
            .expected
            .is_some_and(|name| same(name.as_bytes(), v.as_bytes()))
        {
            *self.matched = true;
        } else {
            self.key.push_str(v);
        }
        Ok(())
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), CsvError> {
        self.key.push_str(variant);
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

#[cfg(test)]
mod tests {
    #[test]
    fn same_compares_every_byte() {
        let names = [
            "",
            "a",
            "ab",
            "dep_time",
            "sched_dep_time",
            "time_hour",
            "é",
            "abcdefgh",
            "abcdefghi",
        ];
        for a in names {
            for b in names {
                assert_eq!(
                    super::same(a.as_bytes(), b.as_bytes()),
                    a == b,
                    "{a:?} {b:?}"
                );
            }
        }
        assert!(!super::same(b"sched_dep_timf", b"sched_dep_time"));
        assert!(!super::same(b"xched_dep_time", b"sched_dep_time"));
    }
}
