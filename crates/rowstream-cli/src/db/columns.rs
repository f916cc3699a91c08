//! A table's columns typed from the catalog, and its Arrow schema, for the Arrow and
//! Parquet formats (every column nullable: NULLs are validity bits) and Protocol Buffers
//! (`db/proto.rs`, which maps these types to fields).
//!
//! | database | column type | Arrow type |
//! |---|---|---|
//! | PostgreSQL | `smallint`, `integer`, `bigint` | `Int16`, `Int32`, `Int64` |
//! | | `oid` | `UInt32` |
//! | | `real`, `double precision` | `Float32`, `Float64` |
//! | | `numeric(p, s)`, p ≤ 38 | `Decimal128(p, s)`, exact |
//! | | `numeric` without a precision, or wider than 38 digits | `Utf8`, the exact digits |
//! | | `boolean` | `Boolean` |
//! | | `bytea` | `Binary` |
//! | | `date` | `Date32` (`infinity` fails the export) |
//! | | `timestamp` | `Timestamp(Microsecond)` without a zone |
//! | | `timestamptz` | `Timestamp(Microsecond, "UTC")` |
//! | | anything else (text, uuid, json, arrays, time, interval …) | `Utf8`, as in the JSON export (JSON and arrays as JSON text) |
//! | MySQL/MariaDB | `tinyint(1)` (`BOOLEAN`) | `Boolean`, as the JSON formats write it (a value other than 0 and 1 fails the export, naming the column) |
//! | | `tinyint` … `bigint`, and `unsigned` | `Int8` … `Int64`, `UInt8` … `UInt64` (`mediumint` as 32 bits) |
//! | | `float`, `double` | `Float32`, `Float64` |
//! | | `decimal(p, s)`, p ≤ 38 | `Decimal128(p, s)`; wider as `Utf8` |
//! | | `date` | `Date32` (a zero date fails the export) |
//! | | `datetime` | `Timestamp(Microsecond)` without a zone |
//! | | `timestamp` | `Timestamp(Microsecond, "UTC")` |
//! | | `binary`, `varbinary`, `blob` types | `Binary` |
//! | | anything else | `Utf8` |
//! | SQLite | a column holding only `INTEGER` values | `Int64` |
//! | | only `REAL` values | `Float64` |
//! | | only `BLOB` values | `Binary` |
//! | | only `TEXT` values, more than one storage class, or no values | `Utf8` (an empty column: `Int64`/`Float64` by an `INTEGER`/`REAL` affinity of its declared type) |
//!
//! SQLite has no column types, only a declared type's affinity, which converts values on
//! the way in but lets others through: the storage classes a column actually holds are
//! read first, in one pass over the rows the export reads (its filters and, with
//! `limit=`, only its first rows in its order: a preview of a large table does not wait
//! for a scan of the whole table; a whole-table export reads the table twice), and a
//! column that mixes them is `Utf8`, each value as its text.

use arrow_schema::{DataType, Field, Schema, TimeUnit};
use rowstream::keyset::Key;

use super::Database;
use super::catalog::{Table, quote_ident};
use super::slice::SliceQuery;
use crate::slice::Slice;

/// The rows an export reads: its query and the key it resumes after. On SQLite the
/// storage classes are read from these rows only.
#[derive(Debug, Clone, Copy)]
pub struct ExportRows<'a> {
    /// The export's statement (filters, order, limit).
    pub query: &'a SliceQuery,
    /// The key the export resumes after, if any.
    pub after: Option<&'a Key>,
}

/// The Arrow schema of `table`'s export; on SQLite from the storage classes of the rows
/// `reads` says the export reads (every row of the table when `None`).
///
/// # Errors
///
/// If a catalog query fails.
pub async fn arrow_schema(
    db: &Database,
    table: &Table,
    reads: Option<ExportRows<'_>>,
) -> Result<Schema, sqlx::Error> {
    Ok(Schema::new(
        columns(db, table, reads)
            .await?
            .into_iter()
            .map(|c| Field::new(c.name, c.data_type, true))
            .collect::<Vec<_>>(),
    ))
}

/// One column of a table as the typed formats see it.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// Its name.
    pub name: String,
    /// Its type, as the table above maps it.
    pub data_type: DataType,
    /// Whether the catalog says `NOT NULL` (a view's columns never do).
    pub not_null: bool,
}

/// The columns of `table`'s export, in order, typed as the table above says; on SQLite
/// from the storage classes of the rows `reads` says the export reads (every row of the
/// table when `None`).
///
/// # Errors
///
/// If a catalog query fails.
pub async fn columns(
    db: &Database,
    table: &Table,
    reads: Option<ExportRows<'_>>,
) -> Result<Vec<Column>, sqlx::Error> {
    let fields: Vec<(String, DataType, bool)> = match db {
        Database::Postgres(pool) => {
            let rows: Vec<(String, i64, i32, bool)> = sqlx::query_as(PG_TYPES)
                .bind(&table.schema)
                .bind(&table.name)
                .fetch_all(pool)
                .await?;
            let as_text = |name: &str| {
                table
                    .select_list
                    .as_deref()
                    .is_some_and(|list| list.contains(&format!("AS {}", quote_ident(name))))
            };
            rows.into_iter()
                .map(|(name, oid, typmod, not_null)| {
                    let ty = if as_text(&name) {
                        DataType::Utf8
                    } else {
                        pg_type(oid, typmod)
                    };
                    (name, ty, not_null)
                })
                .collect()
        }
        Database::MySql { pool, .. } => {
            let rows: Vec<MySqlColumn> = sqlx::query_as(MYSQL_TYPES)
                .bind(&table.schema)
                .bind(&table.name)
                .fetch_all(pool)
                .await?;
            rows.into_iter()
                .map(
                    |(name, data_type, column_type, precision, scale, nullable)| {
                        let ty = if table.json_columns.contains(&name) {
                            DataType::Utf8
                        } else {
                            mysql_type(&data_type, &column_type, precision, scale)
                        };
                        (name, ty, nullable.eq_ignore_ascii_case("NO"))
                    },
                )
                .collect()
        }
        Database::Sqlite(pool) => {
            let columns: Vec<(String, String, i64)> =
                sqlx::query_as("SELECT name, type, \"notnull\" FROM pragma_table_xinfo(?1, 'main') WHERE hidden IN (0, 2, 3) ORDER BY cid")
                    .bind(&table.name)
                    .fetch_all(pool)
                    .await?;
            let names: Vec<String> = columns.iter().map(|(name, _, _)| name.clone()).collect();
            let whole;
            let reads = match reads {
                Some(reads) => reads,
                None => {
                    // No filter, no limit, no key: cannot fail.
                    whole = super::slice::build(db, table, &[], &Slice::default(), None, None)
                        .map_err(|err| sqlx::Error::Protocol(err.detail))?;
                    ExportRows {
                        query: &whole,
                        after: None,
                    }
                }
            };
            let classes =
                super::slice::sqlite_classes(pool, reads.query, reads.after, &names).await?;
            columns
                .into_iter()
                .zip(classes)
                .map(|((name, declared, not_null), classes)| {
                    (name, sqlite_type(&declared, classes), not_null != 0)
                })
                .collect()
        }
    };
    Ok(fields
        .into_iter()
        .map(|(name, data_type, not_null)| Column {
            name,
            data_type,
            not_null,
        })
        .collect())
}

/// Columns of `$1.$2` in order: name, the type's oid (a domain's base type), its
/// modifier, NOT NULL.
const PG_TYPES: &str = "SELECT a.attname::text, \
       (CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END)::int8, \
       (CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END)::int4, a.attnotnull \
     FROM pg_catalog.pg_attribute AS a \
     JOIN pg_catalog.pg_class AS c ON c.oid = a.attrelid \
     JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace \
     JOIN pg_catalog.pg_type AS t ON t.oid = a.atttypid \
     WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped \
     ORDER BY a.attnum";

fn pg_type(oid: i64, typmod: i32) -> DataType {
    match oid {
        16 => DataType::Boolean,
        17 => DataType::Binary,
        20 => DataType::Int64,
        21 => DataType::Int16,
        23 => DataType::Int32,
        26 => DataType::UInt32,
        700 => DataType::Float32,
        701 => DataType::Float64,
        1082 => DataType::Date32,
        1114 => DataType::Timestamp(TimeUnit::Microsecond, None),
        1184 => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        1700 if typmod >= 4 => {
            let precision = ((typmod - 4) >> 16) & 0xffff;
            let scale = (typmod - 4) & 0xffff;
            decimal(u64::try_from(precision).ok(), u64::try_from(scale).ok())
        }
        _ => DataType::Utf8,
    }
}

/// `Decimal128(p, s)` for 1 ≤ p ≤ 38 and 0 ≤ s ≤ p, else `Utf8`.
fn decimal(precision: Option<u64>, scale: Option<u64>) -> DataType {
    match (
        precision.and_then(|p| u8::try_from(p).ok()),
        scale.and_then(|s| i8::try_from(s).ok()),
    ) {
        (Some(p @ 1..=38), Some(s)) if s >= 0 && i16::from(s) <= i16::from(p) => {
            DataType::Decimal128(p, s)
        }
        _ => DataType::Utf8,
    }
}

/// Columns of `?.?` in order: name, `DATA_TYPE`, `COLUMN_TYPE`, numeric precision and
/// scale, `IS_NULLABLE` (`YES`/`NO`).
const MYSQL_TYPES: &str = "SELECT CAST(COLUMN_NAME AS CHAR), CAST(DATA_TYPE AS CHAR), \
       CAST(COLUMN_TYPE AS CHAR), CAST(NUMERIC_PRECISION AS UNSIGNED), \
       CAST(NUMERIC_SCALE AS UNSIGNED), CAST(IS_NULLABLE AS CHAR) \
     FROM information_schema.COLUMNS \
     WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION";

/// `(name, DATA_TYPE, COLUMN_TYPE, NUMERIC_PRECISION, NUMERIC_SCALE, IS_NULLABLE)`.
type MySqlColumn = (String, String, String, Option<u64>, Option<u64>, String);

fn mysql_type(
    data_type: &str,
    column_type: &str,
    precision: Option<u64>,
    scale: Option<u64>,
) -> DataType {
    if super::slice::mysql_boolean(data_type, column_type) {
        return DataType::Boolean;
    }
    let unsigned = column_type.to_ascii_lowercase().contains("unsigned");
    match (data_type.to_ascii_lowercase().as_str(), unsigned) {
        ("tinyint", false) => DataType::Int8,
        ("tinyint", true) => DataType::UInt8,
        ("smallint" | "year", false) => DataType::Int16,
        ("smallint" | "year", true) => DataType::UInt16,
        ("mediumint" | "int" | "integer", false) => DataType::Int32,
        ("mediumint" | "int" | "integer", true) => DataType::UInt32,
        ("bigint", false) => DataType::Int64,
        ("bigint", true) | ("bit", _) => DataType::UInt64,
        ("float", _) => DataType::Float32,
        ("double" | "real", _) => DataType::Float64,
        ("decimal" | "numeric", _) => decimal(precision, scale),
        ("date", _) => DataType::Date32,
        ("datetime", _) => DataType::Timestamp(TimeUnit::Microsecond, None),
        ("timestamp", _) => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        ("binary" | "varbinary" | "tinyblob" | "blob" | "mediumblob" | "longblob", _) => {
            DataType::Binary
        }
        _ => DataType::Utf8,
    }
}

/// The Arrow type of an SQLite column from the storage classes it holds (`classes`:
/// 1 integer, 2 real, 4 text, 8 blob) and, when it holds none, its declared type.
fn sqlite_type(declared: &str, classes: i64) -> DataType {
    match classes {
        1 => DataType::Int64,
        2 => DataType::Float64,
        8 => DataType::Binary,
        0 => {
            let declared = declared.to_ascii_uppercase();
            if declared.contains("INT") {
                DataType::Int64
            } else if ["REAL", "FLOA", "DOUB"]
                .iter()
                .any(|t| declared.contains(t))
            {
                DataType::Float64
            } else {
                DataType::Utf8
            }
        }
        _ => DataType::Utf8,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types() {
        // numeric(38,10): typmod = (38 << 16 | 10) + 4.
        assert_eq!(
            pg_type(1700, (38 << 16 | 10) + 4),
            DataType::Decimal128(38, 10)
        );
        assert_eq!(pg_type(1700, -1), DataType::Utf8);
        assert_eq!(pg_type(1700, (40 << 16) + 4), DataType::Utf8);
        assert_eq!(
            mysql_type("decimal", "decimal(65,2)", Some(65), Some(2)),
            DataType::Utf8
        );
        assert_eq!(
            mysql_type("int", "int(10) unsigned", None, None),
            DataType::UInt32
        );
        assert_eq!(
            mysql_type("tinyint", "tinyint(1)", Some(3), Some(0)),
            DataType::Boolean
        );
        assert_eq!(
            mysql_type("tinyint", "tinyint(4)", Some(3), Some(0)),
            DataType::Int8
        );
        assert_eq!(sqlite_type("INTEGER", 1 | 2), DataType::Utf8);
        assert_eq!(sqlite_type("REAL", 0), DataType::Float64);
        assert_eq!(sqlite_type("", 8), DataType::Binary);
    }
}
