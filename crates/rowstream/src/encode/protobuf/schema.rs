//! [`MessageSchema`]: one proto3 message for rows of named columns, its `.proto` text,
//! and the rules that turn table and column names into Protocol Buffers identifiers.

use std::collections::HashSet;
use std::fmt::Write as _;

use crate::EncodeError;

/// The scalar type of a field of a [`MessageSchema`], with the values it takes from a row
/// (as serde writes them; see [`Protobuf::with_schema`](crate::Protobuf::with_schema)).
///
/// | type | `.proto` | wire type | takes |
/// |---|---|---|---|
/// | [`Bool`](Self::Bool) | `bool` | varint | booleans; the integers 0 and 1 |
/// | [`Int32`](Self::Int32) | `int32` | varint | integers from −2³¹ to 2³¹ − 1; booleans as 0/1 |
/// | [`Int64`](Self::Int64) | `int64` | varint | integers from −2⁶³ to 2⁶³ − 1; booleans as 0/1 |
/// | [`Uint32`](Self::Uint32) | `uint32` | varint | integers from 0 to 2³² − 1 |
/// | [`Uint64`](Self::Uint64) | `uint64` | varint | integers from 0 to 2⁶⁴ − 1 |
/// | [`Double`](Self::Double) | `double` | 64-bit | floats (NaN and ±Infinity as they are; `float` widened exactly); integers up to 2⁵³ in magnitude |
/// | [`String`](Self::String) | `string` | length-delimited | strings; any other scalar as its text (bytes as standard base64); a sequence or map as its JSON text |
/// | [`Bytes`](Self::Bytes) | `bytes` | length-delimited | bytes (`serialize_bytes`); a string as standard base64 (RFC 4648 §4), as the SQL records write bytes |
///
/// A value outside the list (a string for an `int64`, 2⁶³ for an `int64`, 2⁵³ + 1 for a
/// `double`) fails the row, naming the column: a value is never rounded or cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FieldType {
    /// `bool`.
    Bool,
    /// `int32`.
    Int32,
    /// `int64`.
    Int64,
    /// `uint32`.
    Uint32,
    /// `uint64`.
    Uint64,
    /// `double`.
    Double,
    /// `string` (UTF-8).
    String,
    /// `bytes`.
    Bytes,
}

impl FieldType {
    /// The type's name in a `.proto` file: `bool`, `int32`, `int64`, `uint32`, `uint64`,
    /// `double`, `string`, `bytes`.
    pub fn proto_name(self) -> &'static str {
        match self {
            Self::Bool => "bool",
            Self::Int32 => "int32",
            Self::Int64 => "int64",
            Self::Uint32 => "uint32",
            Self::Uint64 => "uint64",
            Self::Double => "double",
            Self::String => "string",
            Self::Bytes => "bytes",
        }
    }
}

/// One field of a [`MessageSchema`]: the column it is read from, its identifier, number
/// and type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldSchema {
    /// The column (the row's field or map key) whose values the field carries.
    pub column: String,
    /// The field's identifier in the `.proto` ([`field_name`], made unique).
    pub name: String,
    /// The field number: the column's position, from 1.
    pub number: u32,
    /// The scalar type.
    pub kind: FieldType,
    /// `optional` (explicit presence): a NULL is an unset field. A field that is not
    /// optional cannot carry NULL (the row fails); its zero value is not written, as
    /// proto3 writes implicit-presence fields.
    pub optional: bool,
    /// A comment written above the field in the `.proto` (what the text of a `string`
    /// holds, say), if any.
    pub note: Option<String>,
}

/// A proto3 message for rows of named columns: a package, a message name, one field per
/// column numbered by the column's position. [`to_proto`](Self::to_proto) writes it as a
/// `.proto` file; [`Protobuf::with_schema`](crate::Protobuf::with_schema) encodes rows as
/// this message.
///
/// **Names.** Protocol Buffers identifiers are ASCII letters, digits and `_`, starting
/// with a letter. The message name is the table name in upper camel case
/// ([`message_name`]: `flight_legs` → `FlightLegs`); a field name is the column name with
/// every other character replaced by `_` ([`field_name`]: `dep time` → `dep_time`), a
/// name that would not start with a letter is prefixed with `c_` (`2nd` → `c_2nd`,
/// `_x` → `c__x`). Two field names clash when they differ only in case and underscores
/// (`dep_time`, `depTime` and `DEP_TIME`: `protoc` refuses fields whose proto3 JSON names,
/// `depTime`, are the same, and some languages' generated names differ only in case), so
/// the later of two clashing columns gets `_2` (then `_3` …) appended. A field whose name differs from its
/// column says the column's name in a comment of the `.proto`.
///
/// ```
/// use rowstream::protobuf::{FieldType, MessageSchema};
///
/// let schema = MessageSchema::new("shop", "order lines")?
///     .field("id", FieldType::Int64, false)
///     .field("unit price", FieldType::String, true)
///     .note("numeric(10,2): the exact decimal digits")
///     .field("unit_price", FieldType::Double, true);
/// assert_eq!(schema.full_name(), "shop.OrderLines");
/// let proto = schema.to_proto();
/// assert!(proto.contains("  int64 id = 1;\n"));
/// assert!(proto.contains("  optional string unit_price = 2;\n"));
/// assert!(proto.contains("  optional double unit_price_2 = 3;\n"));
/// # Ok::<(), rowstream::EncodeError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageSchema {
    package: String,
    name: String,
    source: String,
    fields: Vec<FieldSchema>,
    /// The [`clash_key`]s of the field names taken so far.
    taken: HashSet<String>,
}

/// The first field number the Protocol Buffers implementation reserves (19000–19999).
const FIRST_RESERVED: u32 = 19_000;

impl MessageSchema {
    /// A message without fields for rows of `table`, named by [`message_name`], in
    /// `package` (dot-separated identifiers, `shop.v1`; empty for none).
    ///
    /// # Errors
    ///
    /// An [`EncodeError`] for a package that is not dot-separated identifiers.
    pub fn new(package: &str, table: &str) -> Result<Self, EncodeError> {
        if !package.is_empty() && !package.split('.').all(is_identifier) {
            return Err(EncodeError::msg(format!(
                "\"{package}\" is not a Protocol Buffers package (identifiers separated by dots)"
            )));
        }
        Ok(Self {
            package: package.to_owned(),
            name: message_name(table),
            source: table.to_owned(),
            fields: Vec::new(),
            taken: HashSet::new(),
        })
    }

    /// Adds the field of the next column, `column`: numbered by its position (the first
    /// is 1), named by [`field_name`] made unique.
    ///
    /// A column whose position is 19,000 or more (numbers the Protocol Buffers
    /// implementation reserves from 19,000 to 19,999, and beyond them more columns than
    /// any database here allows) takes the number after 19,999 plus its distance
    /// from 19,000.
    pub fn field(mut self, column: &str, kind: FieldType, optional: bool) -> Self {
        let position = u32::try_from(self.fields.len() + 1).unwrap_or(u32::MAX);
        let number = if position >= FIRST_RESERVED {
            position.saturating_add(1000)
        } else {
            position
        };
        let base = field_name(column);
        let mut name = base.clone();
        let mut n = 1;
        while self.taken.contains(&clash_key(&name)) {
            n += 1;
            name = format!("{base}_{n}");
        }
        self.taken.insert(clash_key(&name));
        self.fields.push(FieldSchema {
            column: column.to_owned(),
            name,
            number,
            kind,
            optional,
            note: None,
        });
        self
    }

    /// Sets the comment of the last field added (none if there is no field yet).
    pub fn note(mut self, note: &str) -> Self {
        if let Some(field) = self.fields.last_mut() {
            field.note = Some(note.to_owned());
        }
        self
    }

    /// The same message with only the fields of `columns` (in the message's order, with
    /// their numbers and names): the message a row of those columns is, for a reader
    /// of the whole message. Names that are no column of it are left out.
    pub fn select(&self, columns: &[String]) -> Self {
        let mut selected = self.clone();
        selected.fields.retain(|f| columns.contains(&f.column));
        selected
    }

    /// The package, `""` for none.
    pub fn package(&self) -> &str {
        &self.package
    }

    /// The message name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The fully qualified message name, `package.Name` (`Name` without a package): what
    /// `messageType=` names in the media type.
    pub fn full_name(&self) -> String {
        if self.package.is_empty() {
            self.name.clone()
        } else {
            format!("{}.{}", self.package, self.name)
        }
    }

    /// The fields, in order.
    pub fn fields(&self) -> &[FieldSchema] {
        &self.fields
    }

    /// The message as a proto3 `.proto` file: `syntax = "proto3";`, the `package` line,
    /// the message with one line per field (`optional int64 dep_delay = 6;`), comments
    /// saying the table, each renamed column and each field's note.
    pub fn to_proto(&self) -> String {
        let mut out = String::from("syntax = \"proto3\";\n\n");
        if !self.package.is_empty() {
            let _ = writeln!(out, "package {};\n", self.package);
        }
        let _ = writeln!(
            out,
            "// The rows of \"{}\", one message per row, length-delimited (each message \
             preceded by its size as a varint).\n// Field numbers are column positions; \
             a NULL is an unset optional field.",
            comment_text(&self.source)
        );
        let _ = writeln!(out, "message {} {{", self.name);
        for field in &self.fields {
            if field.name != field.column {
                let _ = writeln!(out, "  // column \"{}\"", comment_text(&field.column));
            }
            if let Some(note) = &field.note {
                let _ = writeln!(out, "  // {}", comment_text(note));
            }
            let _ = writeln!(
                out,
                "  {}{} {} = {};",
                if field.optional { "optional " } else { "" },
                field.kind.proto_name(),
                field.name,
                field.number
            );
        }
        out.push_str("}\n");
        out
    }
}

/// `text` for a `//` comment: control characters (a newline would end it) as spaces.
fn comment_text(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Whether `name` is a Protocol Buffers identifier: an ASCII letter, then ASCII letters,
/// digits and `_`.
pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The field name of `column`: every character other than an ASCII letter, digit or `_`
/// replaced by `_`, and `c_` in front when the result does not start with a letter
/// (`dep time` → `dep_time`, `2nd` → `c_2nd`, `é` → `c__`, `""` → `c_`). Unique within a
/// message only once [`MessageSchema::field`] has resolved clashes.
pub fn field_name(column: &str) -> String {
    let name: String = column
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        name
    } else {
        format!("c_{name}")
    }
}

/// The message name of `table`: split at every character other than an ASCII letter or
/// digit, each part with its first letter upper-cased, joined; `T` in front when the
/// result does not start with a letter (`flights` → `Flights`, `flight_legs` and
/// `flight legs` → `FlightLegs`, `2024` → `T2024`, `""` → `T`).
pub fn message_name(table: &str) -> String {
    let mut name = String::with_capacity(table.len() + 1);
    for part in table.split(|c: char| !c.is_ascii_alphanumeric()) {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            name.push(first.to_ascii_uppercase());
            name.extend(chars);
        }
    }
    if name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        name
    } else {
        format!("T{name}")
    }
}

/// What two field names that clash share: the name lower-cased without `_`. proto3's
/// JSON name (`dep_time` → `depTime`) and the names several languages generate differ
/// only in case and underscores, and `protoc` refuses fields whose JSON names clash.
fn clash_key(name: &str) -> String {
    name.chars()
        .filter(|&c| c != '_')
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(message_name("flights"), "Flights");
        assert_eq!(message_name("flight_legs"), "FlightLegs");
        assert_eq!(message_name("a\"b c"), "ABC");
        assert_eq!(message_name("2024"), "T2024");
        assert_eq!(message_name(""), "T");
        assert_eq!(field_name("dep time"), "dep_time");
        assert_eq!(field_name("2nd"), "c_2nd");
        assert_eq!(field_name("_x"), "c__x");
        assert_eq!(field_name("été"), "c__t_");
        assert_eq!(field_name(""), "c_");
        for name in ["x", "c_2nd", "Flights", "a_b1"] {
            assert!(is_identifier(name), "{name}");
        }
        for name in ["", "_a", "1a", "a-b", "é"] {
            assert!(!is_identifier(name), "{name}");
        }
    }

    #[test]
    fn clashes_get_a_number() {
        let schema = MessageSchema::new("p", "t")
            .unwrap()
            .field("dep_time", FieldType::Int64, true)
            .field("depTime", FieldType::Int64, true)
            .field("dep time", FieldType::Int64, true)
            .field("DEP_TIME", FieldType::Int64, true)
            .field("dep_time_2", FieldType::Int64, true);
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "dep_time",
                "depTime_2",
                "dep_time_3",
                "DEP_TIME_4",
                "dep_time_2_2"
            ]
        );
        let numbers: Vec<u32> = schema.fields().iter().map(|f| f.number).collect();
        assert_eq!(numbers, [1, 2, 3, 4, 5]);
        // No two names the same once case and underscores are set aside.
        let mut seen = HashSet::new();
        for f in schema.fields() {
            assert!(seen.insert(clash_key(&f.name)), "{}", f.name);
        }
    }

    #[test]
    fn proto_text() {
        let schema = MessageSchema::new("rowstream", "a b")
            .unwrap()
            .field("id", FieldType::Int64, false)
            .field("when\nthen", FieldType::String, true)
            .note("timestamptz: RFC 3339");
        assert_eq!(
            schema.to_proto(),
            "syntax = \"proto3\";\n\npackage rowstream;\n\n\
             // The rows of \"a b\", one message per row, length-delimited (each message \
             preceded by its size as a varint).\n// Field numbers are column positions; a \
             NULL is an unset optional field.\n\
             message AB {\n  int64 id = 1;\n  // column \"when then\"\n  // timestamptz: RFC 3339\n  \
             optional string when_then = 2;\n}\n"
        );
        assert_eq!(schema.select(&["when\nthen".into()]).fields()[0].number, 2);
        assert!(MessageSchema::new("a..b", "t").is_err());
        assert!(MessageSchema::new("", "t").is_ok());
    }
}
