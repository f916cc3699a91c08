//! The CSV encoder (RFC 4180, feature `csv`).
//!
//! [`Csv`] flattens each item — a struct, a map such as
//! [`SqliteRecord`](crate::sqlite::SqliteRecord), or a tuple — into one record, with a
//! small serde serializer that writes each field straight into the output buffer through
//! the quoting rules of the `csv` crate's writer core (`csv_core`), built once per encoder
//! and reused for every row: `record.rs` (the record, its column names), `field.rs` (a
//! field's value), `key.rs` (a map key as a column name), `field_format.rs` (quoting, the
//! formula guard, the header row).

mod field;
mod field_format;
mod key;
mod record;

use bytes::BytesMut;
use serde::Serialize;

use super::policy::NativeFloats;
use super::terminal::{self, LastKey};
use super::{BigIntegers, Encoder, Scratch as ItemScratch, ValuePolicy, WithPolicy};
use crate::{EncodeError, StreamError};
use field_format::FieldFormat;
use record::{RecordSerializer, Scratch};

/// The field delimiter of a [`Csv`] encoder.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Delimiter {
    /// `,` — RFC 4180's delimiter. The default.
    #[default]
    Comma,
    /// `;` — what spreadsheets expect in locales whose decimal separator is `,`.
    Semicolon,
    /// TAB (`\t`), tab-separated values.
    Tab,
}

impl Delimiter {
    /// The delimiter byte.
    pub fn byte(self) -> u8 {
        match self {
            Self::Comma => b',',
            Self::Semicolon => b';',
            Self::Tab => b'\t',
        }
    }
}

/// Where the header row comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Header {
    /// From the first record's field or column names.
    FromFirstRecord,
    /// Given up front: written at the start, also for an empty result.
    Names(Vec<String>),
    /// No header row.
    Absent,
}

/// Encodes a stream as CSV (RFC 4180), `text/csv; charset=utf-8; header=present`.
///
/// **Records.** Each item becomes one record (one line):
///
/// | item | fields | header names |
/// |---|---|---|
/// | a struct | its fields, in order | the field names |
/// | a map (e.g. [`SqliteRecord`](crate::sqlite::SqliteRecord), `serde_json` objects) | its values, in order | the keys |
/// | a tuple, tuple struct or sequence | its elements | `1`, `2`, … (or [`header`](Self::header)) |
/// | anything else (a number, a string …) | one field | `value` |
///
/// Every record must have the header's columns, in the header's order: a record with a
/// different number of fields, or a struct field / map key other than the header's name
/// at that position, fails as an encode error instead of shifting columns. A field
/// skipped with `#[serde(skip_serializing_if = …)]` is written as NULL.
///
/// **Header row** from the first record's names, written just before it. An empty
/// stream has no first record, so its body is empty — unless the names are given up
/// front with [`header`](Self::header) (e.g. from the table's catalog), which writes the
/// header row at the start. [`without_header`](Self::without_header) writes none
/// (`header=absent`).
///
/// **Fields**, written with the `csv` crate's writer core:
///
/// | value | field |
/// |---|---|
/// | string | the text; quoted (`"…"`, inner `"` doubled) when it holds the delimiter, `"`, CR or LF; leading and trailing spaces kept |
/// | empty string | `""` |
/// | NULL (`None`, `()`, SQL NULL) | empty (nothing between the delimiters) |
/// | integer | its exact digits |
/// | float | shortest round-trip form (`1.5`, `1e16`); NaN/±Infinity as `NaN`, `Infinity`, `-Infinity` (what PostgreSQL prints and Python's `float()`, pandas and JavaScript's `Number()` read), or an error with [`NonFinite::Error`](crate::NonFinite::Error) |
/// | bool | `true` / `false` |
/// | array, object, enum variant with data, bytes | its compact JSON text (quoted as any field); non-finite floats inside by the [`ValuePolicy`] |
/// | JSON text (`serde_json::value::RawValue`, e.g. a JSON column) | the text as it is, one field |
///
/// Lines end with CRLF. In a record with exactly one field a NULL is written as `""`,
/// the same as the empty string, because an empty line is skipped by most readers and
/// the row would be lost. Integers beyond 2^53 − 1 are digits whatever the
/// [`BigIntegers`] policy, since CSV has no types.
///
/// **Formula injection guard** ([`formula_guard`](Self::formula_guard), off by default):
/// text fields — and header names — that start with `=`, `+`, `-`, `@`, TAB or CR get a
/// leading `'`, so a spreadsheet shows them as text instead of running them (OWASP
/// "CSV injection"). Numeric fields are untouched, so `-5` stays `-5`.
///
/// **Completion record** ([`completion_record`](Self::completion_record), off by
/// default): a last row whose first field is the JSON text
/// `{"$rowstream":{"complete":true,"rows":N}}` on success, or
/// `{"$rowstream":{"complete":false,"rows":N,"error":{"kind":"…","message":"…"}}}` before
/// a failed stream is cut (see [`COMPLETION_KEY`](crate::COMPLETION_KEY)); its other
/// fields are empty, so the row has the header's number of fields. For example:
///
/// ```text
/// id,subject\r\n
/// 1,Printer on fire\r\n
/// "{""$rowstream"":{""complete"":true,""rows"":1}}",\r\n
/// ```
///
/// ```
/// use bytes::BytesMut;
/// use rowstream::{Csv, Encoder};
///
/// #[derive(serde::Serialize)]
/// struct Ticket { id: i64, subject: &'static str, note: Option<&'static str>, tags: Vec<&'static str> }
///
/// let mut enc = Csv::new().formula_guard(true);
/// let mut out = BytesMut::new();
/// enc.begin(&mut out)?;
/// enc.item(&Ticket { id: 1, subject: "Hi, \"you\"", note: None, tags: vec!["a"] }, &mut out)?;
/// enc.item(&Ticket { id: -2, subject: "=SUM(A1)", note: Some(""), tags: vec![] }, &mut out)?;
/// enc.end(2, &mut out)?;
/// assert_eq!(
///     std::str::from_utf8(&out).unwrap(),
///     "id,subject,note,tags\r\n\
///      1,\"Hi, \"\"you\"\"\",,\"[\"\"a\"\"]\"\r\n\
///      -2,'=SUM(A1),\"\",[]\r\n"
/// );
/// # Ok::<(), rowstream::EncodeError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct Csv {
    header: Header,
    delimiter: Delimiter,
    byte_order_mark: bool,
    completion_record: bool,
    last_key: Option<LastKey>,
    policy: ValuePolicy,
    format: FieldFormat,
    /// The columns, once known: from [`Header::Names`] at the start, or from the first
    /// record.
    columns: Option<Vec<String>>,
    scratch: Scratch,
    /// The record being written, appended to the output once complete.
    record: ItemScratch,
}

impl Default for Csv {
    fn default() -> Self {
        Self::new()
    }
}

impl Csv {
    /// `text/csv; charset=utf-8; header=present` (RFC 4180 §3, RFC 7111).
    pub const MEDIA_TYPE: &'static str = "text/csv; charset=utf-8; header=present";
    /// `text/csv; charset=utf-8; header=absent`, for [`without_header`](Self::without_header).
    pub const MEDIA_TYPE_NO_HEADER: &'static str = "text/csv; charset=utf-8; header=absent";

    /// A CSV encoder: comma-delimited, header row from the first record, no formula
    /// guard, no completion record, the default [`ValuePolicy`].
    pub fn new() -> Self {
        Self {
            header: Header::FromFirstRecord,
            delimiter: Delimiter::Comma,
            byte_order_mark: false,
            completion_record: false,
            last_key: None,
            policy: ValuePolicy::default(),
            format: FieldFormat::new(Delimiter::Comma.byte(), false),
            columns: None,
            scratch: Scratch::default(),
            record: ItemScratch::default(),
        }
    }

    /// Gives the header's column names up front: the header row is written at the start
    /// (so an empty result still has one), and every record is checked against these
    /// names (struct fields and map keys) or their number (tuples).
    pub fn header<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.header = Header::Names(names.into_iter().map(Into::into).collect());
        self
    }

    /// Writes no header row; the media type says `header=absent`. Records are still
    /// checked against the first record's columns.
    pub fn without_header(mut self) -> Self {
        self.header = Header::Absent;
        self
    }

    /// Sets the field delimiter. Default [`Delimiter::Comma`].
    pub fn delimiter(mut self, delimiter: Delimiter) -> Self {
        self.delimiter = delimiter;
        self.format = FieldFormat::new(delimiter.byte(), self.format.guard());
        self
    }

    /// Starts the body with the UTF-8 byte order mark (`EF BB BF`), before the header
    /// row: Excel then reads the file as UTF-8 instead of the system's code page.
    /// Default `false`.
    pub fn byte_order_mark(mut self, on: bool) -> Self {
        self.byte_order_mark = on;
        self
    }

    /// Prefixes text fields starting with `=`, `+`, `-`, `@`, TAB or CR with `'`.
    /// Default `false`.
    pub fn formula_guard(mut self, on: bool) -> Self {
        self.format = FieldFormat::new(self.delimiter.byte(), on);
        self
    }

    /// Writes a terminal `$rowstream` row at the end (success) or before the cut
    /// (failure). Default `false`.
    pub fn completion_record(mut self, on: bool) -> Self {
        self.completion_record = on;
        self
    }

    /// Adds `"last_key"` to the completion record, from `last` (see [`LastKey`]).
    /// Default: none.
    pub fn last_key(mut self, last: LastKey) -> Self {
        self.last_key = Some(last);
        self
    }

    /// Sets the value policy. Default [`ValuePolicy::default`].
    pub fn policy(mut self, policy: ValuePolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The column names, once known (given up front, or after the first record).
    pub fn columns(&self) -> Option<&[String]> {
        self.columns.as_deref()
    }

    /// The policy applied to fields: CSV has no types, so big integers stay digits, and
    /// non-finite floats are written as the text `NaN`, `Infinity`, `-Infinity` (except
    /// inside nested JSON, and with [`NonFinite::Error`](crate::NonFinite::Error)).
    fn field_policy(&self) -> ValuePolicy {
        self.policy
            .big_integers(BigIntegers::Number)
            .native_floats(NativeFloats::Fields)
    }

    /// Writes the terminal row: the JSON record as the first field, then empty fields.
    fn write_terminal(
        &mut self,
        out: &mut BytesMut,
        record: impl FnOnce(&mut BytesMut) -> Result<(), EncodeError>,
    ) -> Result<(), EncodeError> {
        let mut json = BytesMut::new();
        record(&mut json)?;
        let columns = self.columns.as_ref().map_or(1, Vec::len).max(1);
        let (format, delimiter) = (&self.format, self.delimiter.byte());
        self.record.write(out, |row| {
            format.write_raw(row, &json);
            for _ in 1..columns {
                row.push(delimiter);
            }
            row.extend_from_slice(b"\r\n");
            Ok(())
        })
    }
}

impl Encoder for Csv {
    fn content_type(&self) -> &str {
        match self.header {
            Header::Absent => Self::MEDIA_TYPE_NO_HEADER,
            _ => Self::MEDIA_TYPE,
        }
    }

    /// Writes the byte order mark if asked for, and the header row if the names were
    /// given up front.
    fn begin(&mut self, out: &mut BytesMut) -> Result<(), EncodeError> {
        self.columns = None;
        if self.byte_order_mark {
            out.extend_from_slice("\u{feff}".as_bytes());
        }
        if let Header::Names(names) = &self.header {
            let format = &self.format;
            self.record.write(out, |row| {
                format.write_header(row, names);
                Ok::<_, EncodeError>(())
            })?;
            self.columns = Some(names.clone());
        }
        Ok(())
    }

    /// Appends one record (and, before the first one, the header row).
    ///
    /// # Errors
    ///
    /// An [`EncodeError`] if a field cannot be written (a map key that is not a string or
    /// number), the record's columns differ from the header's, or the value policy
    /// rejects a value.
    fn item<T: Serialize + ?Sized>(
        &mut self,
        item: &T,
        out: &mut BytesMut,
    ) -> Result<(), EncodeError> {
        let value = WithPolicy::new(item, self.field_policy());
        let capturing = self.columns.is_none();
        let Self {
            header,
            format,
            columns,
            scratch,
            record,
            ..
        } = self;
        record.write(out, |row| {
            let serializer = RecordSerializer::new(row, format, scratch, columns.as_deref());
            value.serialize(serializer).map_err(|e| {
                value.map_err(EncodeError::msg(format!("cannot encode item as CSV: {e}")))
            })?;
            if capturing {
                let names = scratch.take_names();
                if *header == Header::FromFirstRecord {
                    // The header row goes before the first record: once per stream.
                    let mut header_row = Vec::new();
                    format.write_header(&mut header_row, &names);
                    row.splice(0..0, header_row);
                }
                *columns = Some(names);
            }
            Ok(())
        })
    }

    fn end(&mut self, items: u64, out: &mut BytesMut) -> Result<(), EncodeError> {
        if self.completion_record {
            let last = self.last_key.clone();
            self.write_terminal(out, |json| {
                terminal::write_complete(items, last.as_ref(), json)
            })?;
        }
        Ok(())
    }

    fn error(&mut self, error: &StreamError, out: &mut BytesMut) -> Result<(), EncodeError> {
        if self.completion_record {
            let last = self.last_key.clone();
            self.write_terminal(out, |json| {
                terminal::write_failed(error, last.as_ref(), json)
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn encode<T: Serialize>(enc: &mut Csv, items: &[T]) -> Result<String, EncodeError> {
        let mut out = BytesMut::new();
        enc.begin(&mut out)?;
        for item in items {
            let mark = out.len();
            if let Err(e) = enc.item(item, &mut out) {
                out.truncate(mark);
                return Err(e);
            }
        }
        enc.end(items.len() as u64, &mut out)?;
        Ok(String::from_utf8(out.to_vec()).unwrap())
    }

    #[derive(Serialize)]
    struct Row {
        a: Option<&'static str>,
        b: f64,
    }

    #[test]
    fn null_empty_and_quoting() {
        let rows = [
            Row { a: None, b: 1.5 },
            Row {
                a: Some(""),
                b: -0.0,
            },
            Row {
                a: Some(" x\r\ny, \"z\" "),
                b: f64::NAN,
            },
        ];
        assert_eq!(
            encode(&mut Csv::new(), &rows).unwrap(),
            "a,b\r\n,1.5\r\n\"\",-0.0\r\n\" x\r\ny, \"\"z\"\" \",NaN\r\n"
        );
    }

    #[test]
    fn single_column_null_is_not_an_empty_line() {
        assert_eq!(
            encode(&mut Csv::new(), &[None, Some("x"), Some("")]).unwrap(),
            "value\r\n\"\"\r\nx\r\n\"\"\r\n"
        );
    }

    #[test]
    fn header_given_up_front_and_empty_result() {
        let mut enc = Csv::new().header(["id", "=name"]).formula_guard(true);
        assert_eq!(
            encode::<(i32, &str)>(&mut enc, &[]).unwrap(),
            "id,'=name\r\n"
        );
        assert_eq!(
            encode(&mut Csv::new(), &Vec::<Row>::new()).unwrap(),
            "",
            "no names, no rows: nothing to write"
        );
        let mut enc = Csv::new().header(["x", "y"]);
        assert_eq!(
            encode(&mut enc, &[(1, "a"), (2, "b")]).unwrap(),
            "x,y\r\n1,a\r\n2,b\r\n"
        );
    }

    #[test]
    fn byte_order_mark_comes_first() {
        let rows = [Row {
            a: Some("é"),
            b: 1.0,
        }];
        let mut enc = Csv::new().byte_order_mark(true);
        assert_eq!(encode(&mut enc, &rows).unwrap(), "\u{feff}a,b\r\né,1.0\r\n");
        let mut enc = Csv::new().without_header().byte_order_mark(true);
        assert_eq!(encode(&mut enc, &rows).unwrap(), "\u{feff}é,1.0\r\n");
    }

    #[test]
    fn mismatched_columns_fail_the_item() {
        let mut enc = Csv::new().header(["a", "c"]);
        let err = encode(&mut enc, &[Row { a: None, b: 1.0 }]).unwrap_err();
        assert!(err.to_string().contains("`b`"), "{err}");

        let mut first = BTreeMap::new();
        first.insert("k1", 1);
        let mut second = BTreeMap::new();
        second.insert("k1", 1);
        second.insert("k2", 2);
        let err = encode(&mut Csv::new(), &[first, second]).unwrap_err();
        assert!(
            err.to_string()
                .contains("more fields than the header's 1 columns"),
            "{err}"
        );
        let mut enc = Csv::new().header(["a", "b", "c"]);
        let err = encode(&mut enc, &[(1, 2)]).unwrap_err();
        assert!(
            err.to_string()
                .contains("the record has 2 fields, the header has 3 columns"),
            "{err}"
        );
    }

    #[test]
    fn failed_first_record_leaves_no_header_behind() {
        let strict = ValuePolicy::default().non_finite(crate::NonFinite::Error);
        let mut enc = Csv::new().policy(strict);
        let mut out = BytesMut::new();
        enc.begin(&mut out).unwrap();
        let err = enc
            .item(
                &Row {
                    a: None,
                    b: f64::NAN,
                },
                &mut out,
            )
            .unwrap_err();
        assert_eq!(err.to_string(), "non-finite float NaN in field b");
        assert!(enc.columns().is_none());
        out.clear();
        enc.item(
            &Row {
                a: Some("x"),
                b: 1.0,
            },
            &mut out,
        )
        .unwrap();
        assert_eq!(&out[..], b"a,b\r\nx,1.0\r\n");
    }

    #[test]
    fn delimiters_and_guard() {
        let mut enc = Csv::new()
            .delimiter(Delimiter::Semicolon)
            .formula_guard(true);
        let rows = [("a;b", "+1", -1, "@x"), ("\tt", "-", 0, "\rr")];
        assert_eq!(
            encode(&mut enc, &rows).unwrap(),
            "1;2;3;4\r\n\"a;b\";'+1;-1;'@x\r\n'\tt;'-;0;\"'\rr\"\r\n"
        );
        let mut enc = Csv::new().delimiter(Delimiter::Tab);
        assert_eq!(
            encode(&mut enc, &[("a\tb", "c,d")]).unwrap(),
            "1\t2\r\n\"a\tb\"\tc,d\r\n"
        );
    }

    #[test]
    fn nested_values_are_json_text() {
        #[derive(Serialize)]
        enum Shape {
            Dot,
            Circle(f64),
            Rect { w: u8, h: u8 },
            Pair(i8, i8),
        }
        #[derive(Serialize)]
        struct Item {
            list: Vec<Option<u8>>,
            map: BTreeMap<u32, &'static str>,
            shapes: (Shape, Shape, Shape, Shape),
            bytes: serde_bytes_like::Bytes,
        }
        mod serde_bytes_like {
            pub(super) struct Bytes(pub(super) Vec<u8>);
            impl serde::Serialize for Bytes {
                fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                    s.serialize_bytes(&self.0)
                }
            }
        }
        let mut map = BTreeMap::new();
        map.insert(7, "seven");
        let item = Item {
            list: vec![Some(1), None],
            map,
            shapes: (
                Shape::Dot,
                Shape::Circle(f64::INFINITY),
                Shape::Rect { w: 1, h: 2 },
                Shape::Pair(-1, 1),
            ),
            bytes: serde_bytes_like::Bytes(vec![0, 255]),
        };
        assert_eq!(
            encode(&mut Csv::new(), &[item]).unwrap(),
            "list,map,shapes,bytes\r\n\
             \"[1,null]\",\"{\"\"7\"\":\"\"seven\"\"}\",\
             \"[\"\"Dot\"\",{\"\"Circle\"\":null},{\"\"Rect\"\":{\"\"w\"\":1,\"\"h\"\":2}},{\"\"Pair\"\":[-1,1]}]\",\
             \"[0,255]\"\r\n"
        );
    }

    #[test]
    fn skipped_fields_are_null() {
        #[derive(Serialize)]
        struct Sparse {
            a: u8,
            #[serde(skip_serializing_if = "Option::is_none")]
            b: Option<u8>,
            c: u8,
        }
        let rows = [
            Sparse {
                a: 1,
                b: None,
                c: 3,
            },
            Sparse {
                a: 1,
                b: Some(2),
                c: 3,
            },
        ];
        assert_eq!(
            encode(&mut Csv::new(), &rows).unwrap(),
            "a,b,c\r\n1,,3\r\n1,2,3\r\n"
        );
    }

    #[test]
    fn completion_rows_have_the_header_width() {
        let mut enc = Csv::new().completion_record(true);
        assert_eq!(
            encode(&mut enc, &[(1, 2, 3)]).unwrap(),
            "1,2,3\r\n1,2,3\r\n\"{\"\"$rowstream\"\":{\"\"complete\"\":true,\"\"rows\"\":1}}\",,\r\n"
        );
        let mut enc = Csv::new().completion_record(true);
        let mut out = BytesMut::new();
        enc.begin(&mut out).unwrap();
        let err = StreamError::new(crate::StreamErrorKind::Fetch, 0, Some("boom".into()));
        enc.error(&err, &mut out).unwrap();
        let mut reader = ::csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(&out[..]);
        let row = reader.records().next().unwrap().unwrap();
        let record: serde_json::Value = serde_json::from_str(&row[0]).unwrap();
        assert_eq!(record["$rowstream"]["complete"], false);
        assert_eq!(record["$rowstream"]["error"]["kind"], "fetch");
    }

    #[test]
    fn big_integers_stay_digits_and_strings_policy_is_ignored() {
        let policy = ValuePolicy::default()
            .big_integers(BigIntegers::String)
            .non_finite(crate::NonFinite::String);
        let mut enc = Csv::new().policy(policy).formula_guard(true);
        assert_eq!(
            encode(
                &mut enc,
                &[(i64::MIN, u64::MAX, f64::NEG_INFINITY, f64::NAN)]
            )
            .unwrap(),
            "1,2,3,4\r\n-9223372036854775808,18446744073709551615,-Infinity,NaN\r\n"
        );
    }

    #[test]
    fn non_finite_fields_are_written_natively_and_nested_ones_by_the_policy() {
        let row = (f64::INFINITY, Some(f32::NEG_INFINITY), vec![f64::NAN], 1.5);
        assert_eq!(
            encode(&mut Csv::new(), std::slice::from_ref(&row)).unwrap(),
            "1,2,3,4\r\nInfinity,-Infinity,[null],1.5\r\n"
        );
        let strings = ValuePolicy::default().non_finite(crate::NonFinite::String);
        assert_eq!(
            encode(&mut Csv::new().policy(strings), std::slice::from_ref(&row)).unwrap(),
            "1,2,3,4\r\nInfinity,-Infinity,\"[\"\"NaN\"\"]\",1.5\r\n"
        );
        #[derive(Serialize, Clone, Copy)]
        enum Reading {
            Value(f64),
        }
        assert_eq!(
            encode(
                &mut Csv::new().policy(strings),
                &[(Reading::Value(f64::NAN),)]
            )
            .unwrap(),
            "1\r\n\"{\"\"Value\"\":\"\"NaN\"\"}\"\r\n",
            "variant data is nested JSON"
        );
        let strict = ValuePolicy::default().non_finite(crate::NonFinite::Error);
        let err = encode(&mut Csv::new().policy(strict), &[row]).unwrap_err();
        assert_eq!(err.to_string(), "non-finite float Infinity in field [0]");
    }

    #[test]
    fn json_text_is_one_field_of_its_json() {
        #[derive(Serialize)]
        struct Doc {
            id: u32,
            doc: Box<serde_json::value::RawValue>,
            docs: Vec<Box<serde_json::value::RawValue>>,
        }
        let raw = |s: &str| serde_json::value::RawValue::from_string(s.to_owned()).unwrap();
        let doc = Doc {
            id: 1,
            doc: raw(r#"{"a": 1, "b": [12345678901234567890123, "x,y"]}"#),
            docs: vec![raw("1"), raw(r#"{"c":null}"#)],
        };
        assert_eq!(
            encode(&mut Csv::new(), &[doc]).unwrap(),
            "id,doc,docs\r\n1,\"{\"\"a\"\": 1, \"\"b\"\": [12345678901234567890123, \"\"x,y\"\"]}\",\"[1,{\"\"c\"\":null}]\"\r\n"
        );
    }
}
