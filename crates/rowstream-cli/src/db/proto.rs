//! A table's Protocol Buffers message from the catalog's column types
//! ([`super::columns`]), for `GET /tables/{table}.proto` and the `protobuf` format.
//!
//! One proto3 message per table in package [`PACKAGE`], named after the table and with one
//! field per column, numbered by the column's position (the naming rules are
//! [`MessageSchema`]'s). A column that may hold NULL is an `optional` field (unset for
//! NULL); a `NOT NULL` column a plain one.
//!
//! | column type ([`super::columns`]) | field |
//! |---|---|
//! | `Boolean` | `bool` |
//! | `Int8`, `Int16`, `Int32` | `int32` |
//! | `Int64` | `int64` |
//! | `UInt8`, `UInt16`, `UInt32` | `uint32` |
//! | `UInt64` | `uint64` |
//! | `Float32`, `Float64` | `double` (a `real` widened exactly; NaN and ±Infinity as they are) |
//! | `Binary` | `bytes` |
//! | `Decimal128(p, s)` | `string`: the exact digits, as the JSON export writes them (`-12.50`) |
//! | `Date32` | `string`: `YYYY-MM-DD` (PostgreSQL's `infinity` and years beyond 9999 as the JSON export writes them) |
//! | `Timestamp` with a zone | `string`: RFC 3339 in UTC, as the JSON export writes it |
//! | `Timestamp` without a zone | `string`: ISO 8601 date and time without an offset, as the JSON export writes it |
//! | `Utf8` (text, numeric without a precision, uuid, json, arrays, time, interval …) | `string`: the text of the JSON export (JSON and arrays as JSON text) |

use arrow_schema::DataType;
use rowstream::protobuf::{FieldType, MessageSchema};

use super::Database;
use super::catalog::Table;
use super::columns::columns;

/// The package of every generated message: `rowstream`.
pub const PACKAGE: &str = "rowstream";

/// The fully qualified message name of `table`'s rows, `rowstream.Name`, without a
/// database (the name depends on the table's name only).
pub fn message_type(table: &str) -> String {
    format!("{PACKAGE}.{}", rowstream::protobuf::message_name(table))
}

/// The message of `table`'s rows.
///
/// # Errors
///
/// If a catalog query fails.
pub async fn message_schema(db: &Database, table: &Table) -> Result<MessageSchema, sqlx::Error> {
    let mut schema = MessageSchema::new(PACKAGE, &table.name)
        .map_err(|err| sqlx::Error::Protocol(err.to_string()))?;
    for column in columns(db, table, None).await? {
        let (kind, note) = field_type(&column.data_type);
        schema = schema.field(&column.name, kind, !column.not_null);
        if let Some(note) = note {
            schema = schema.note(&note);
        }
    }
    Ok(schema)
}

/// The field type of a column type, and what the `.proto` says of its values.
fn field_type(data_type: &DataType) -> (FieldType, Option<String>) {
    match data_type {
        DataType::Boolean => (FieldType::Bool, None),
        DataType::Int8 | DataType::Int16 | DataType::Int32 => (FieldType::Int32, None),
        DataType::Int64 => (FieldType::Int64, None),
        DataType::UInt8 | DataType::UInt16 | DataType::UInt32 => (FieldType::Uint32, None),
        DataType::UInt64 => (FieldType::Uint64, None),
        DataType::Float32 => (
            FieldType::Double,
            Some("a 32-bit float, widened exactly".to_owned()),
        ),
        DataType::Float64 => (FieldType::Double, None),
        DataType::Binary => (FieldType::Bytes, None),
        DataType::Decimal128(p, s) => (
            FieldType::String,
            Some(format!(
                "decimal({p},{s}): the exact digits, as the JSON export writes them"
            )),
        ),
        DataType::Date32 => (
            FieldType::String,
            Some("date: YYYY-MM-DD, as the JSON export writes it".to_owned()),
        ),
        DataType::Timestamp(_, Some(_)) => (
            FieldType::String,
            Some(
                "timestamp with time zone: RFC 3339 in UTC, as the JSON export writes it"
                    .to_owned(),
            ),
        ),
        DataType::Timestamp(_, None) => (
            FieldType::String,
            Some(
                "timestamp without time zone: ISO 8601 date and time without an offset, as \
                 the JSON export writes it"
                    .to_owned(),
            ),
        ),
        _ => (FieldType::String, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_types() {
        assert_eq!(message_type("flight legs"), "rowstream.FlightLegs");
        assert!(MessageSchema::new(PACKAGE, "t").is_ok());
        assert_eq!(field_type(&DataType::Int16).0, FieldType::Int32);
        assert_eq!(field_type(&DataType::UInt64).0, FieldType::Uint64);
        assert_eq!(field_type(&DataType::Float32).0, FieldType::Double);
        assert_eq!(
            field_type(&DataType::Decimal128(38, 10)).0,
            FieldType::String
        );
        assert_eq!(field_type(&DataType::Binary).0, FieldType::Bytes);
    }
}
