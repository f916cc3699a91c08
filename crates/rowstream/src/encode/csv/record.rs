//! Flattening one item into one CSV record: a serde serializer for the record (struct,
//! map or tuple), one for each field (scalars as text, nested values as JSON text), and
//! one for map keys (column names).

use std::fmt;

use csv_core::{QuoteStyle, Terminator, WriteResult, WriterBuilder};
use serde::Serialize;
use serde::ser::{self, Impossible};

/// The error of the CSV serializers; the encoder turns it into an
/// [`EncodeError`](crate::EncodeError).
#[derive(Debug)]
pub(super) struct CsvError(String);

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

/// First bytes that make a spreadsheet read a cell as a formula.
const FORMULA_TRIGGERS: [u8; 6] = [b'=', b'+', b'-', b'@', b'\t', b'\r'];

/// How fields are written: the `csv_core` writer decides which fields need quotes (the
/// delimiter, `"`, CR, LF) and escapes them; built once per encoder.
#[derive(Debug, Clone)]
pub(super) struct FieldFormat {
    core: csv_core::Writer,
    delimiter: u8,
    guard: bool,
}

impl FieldFormat {
    pub(super) fn new(delimiter: u8, guard: bool) -> Self {
        let core = WriterBuilder::new()
            .delimiter(delimiter)
            .terminator(Terminator::CRLF)
            .quote_style(QuoteStyle::Necessary)
            .quote(b'"')
            .double_quote(true)
            .build();
        Self {
            core,
            delimiter,
            guard,
        }
    }

    pub(super) fn guard(&self) -> bool {
        self.guard
    }

    /// Writes a field that is not text (a number, JSON): quoted only if it must be,
    /// never guarded, nothing for empty input.
    pub(super) fn write_raw(&self, out: &mut Vec<u8>, bytes: &[u8]) {
        if self.core.should_quote(bytes) {
            self.write_quoted(out, None, bytes);
        } else {
            out.extend_from_slice(bytes);
        }
    }

    /// Writes a text field: `""` when empty (NULL is the empty field), the formula guard's
    /// `'` when on and needed, quotes when needed.
    #[inline]
    pub(super) fn write_text(&self, out: &mut Vec<u8>, text: &str) {
        let bytes = text.as_bytes();
        let Some(&first) = bytes.first() else {
            out.extend_from_slice(b"\"\"");
            return;
        };
        let prefix = (self.guard && FORMULA_TRIGGERS.contains(&first)).then_some(b'\'');
        if self.core.should_quote(bytes) {
            self.write_quoted(out, prefix, bytes);
        } else {
            if let Some(prefix) = prefix {
                out.push(prefix);
            }
            out.extend_from_slice(bytes);
        }
    }

    /// `"` + prefix + the bytes with every `"` doubled + `"`, escaped by `csv_core`.
    fn write_quoted(&self, out: &mut Vec<u8>, prefix: Option<u8>, bytes: &[u8]) {
        out.push(b'"');
        if let Some(prefix) = prefix {
            out.push(prefix);
        }
        let mut input = bytes;
        while !input.is_empty() {
            let start = out.len();
            // Doubling every byte is the worst case, so one round always suffices.
            out.resize(start + input.len() * 2, 0);
            let (result, read, written) =
                csv_core::quote(input, &mut out[start..], b'"', b'"', true);
            out.truncate(start + written);
            input = &input[read..];
            if result == WriteResult::InputEmpty || read == 0 {
                break;
            }
        }
        out.push(b'"');
    }

    /// Writes the header row: the names as text fields, CRLF.
    pub(super) fn write_header(&self, out: &mut Vec<u8>, names: &[String]) {
        for (i, name) in names.iter().enumerate() {
            if i > 0 {
                out.push(self.delimiter);
            }
            self.write_text(out, name);
        }
        if names.is_empty() {
            out.extend_from_slice(b"\"\""); // not an empty line, which readers skip
        }
        out.extend_from_slice(b"\r\n");
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
        self.last_null = write(FieldSerializer {
            out: self.out,
            format: self.format,
            json: &mut scratch.json,
        })?;
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
        key.serialize(KeyCapture(&mut self.scratch.key))
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

/// Writes one field's content; `Ok(true)` when the field is NULL (empty).
pub(super) struct FieldSerializer<'a> {
    out: &'a mut Vec<u8>,
    format: &'a FieldFormat,
    json: &'a mut Vec<u8>,
}

impl<'a> FieldSerializer<'a> {
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
            return Ok(true); // the value policy has already rewritten these
        }
        self.number(ryu::Buffer::new().format_finite(v))
    }
    #[inline]
    fn serialize_f64(self, v: f64) -> Result<bool, CsvError> {
        if !v.is_finite() {
            return Ok(true);
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
    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<NestedJson<'a>, CsvError> {
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

/// Captures a map key (a column name) as text.
struct KeyCapture<'a>(&'a mut String);

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
