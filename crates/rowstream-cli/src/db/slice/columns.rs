//! The columns of a table with their types, as filters read values: each type falls in a
//! [`Class`] that says how a request's text is parsed and bound.

use sqlx::mysql::MySqlPool;
use sqlx::postgres::PgPool;
use sqlx::sqlite::SqlitePool;

use super::super::Database;
use super::super::catalog::{PG_DECODED_TYPES, Table};

/// A column of a served table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// The name, as the catalog spells it.
    pub name: String,
    /// The type's name in the catalog: PostgreSQL's `format_type` (a domain's base
    /// type), MySQL's `DATA_TYPE` (`tinyint(1)` for a `TINYINT(1)`, MySQL's `BOOLEAN`),
    /// SQLite's declared type (maybe empty).
    pub type_name: String,
    /// How a filter's value is read for it.
    pub class: Class,
    /// Whether it may hold NULL: not declared `NOT NULL` (and, on SQLite, not part of the
    /// primary key). A view's columns on PostgreSQL are always nullable (the catalog
    /// cannot say).
    pub nullable: bool,
    /// PostgreSQL columns the library does not decode are read through their text form;
    /// this is their select-list entry.
    pub select_expr: Option<String>,
}

/// How a filter value is read and bound for a column's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Integer types: a whole number within `i64`, bound as `i64`.
    Int,
    /// Floating point types: a finite decimal number, bound as `f64`.
    Float,
    /// `boolean` (PostgreSQL), `tinyint(1)` (MySQL/MariaDB's `BOOLEAN`): `true` or
    /// `false`, bound as a bool (1 or 0 on MySQL/MariaDB).
    Bool,
    /// Text types: any text without NUL, bound as text.
    Text,
    /// SQLite columns of no declared type, or of NUMERIC affinity: an integer if the
    /// value reads as one, else a real, else text (as SQLite stores a value).
    Dynamic,
    /// `date`: `YYYY-MM-DD`, bound as text cast to the column's type.
    Date,
    /// `timestamp`, `datetime`: `YYYY-MM-DD[T| ]HH:MM[:SS[.f]]` and, on PostgreSQL, a
    /// zone (`Z`, `±HH[:MM]`); on MySQL/MariaDB only `Z` or `+00:00` (the session is
    /// UTC). Bound as text cast to the column's type.
    Timestamp,
    /// `time`: `HH:MM[:SS[.f]]`, bound as text cast to the column's type.
    Time,
    /// `numeric`, `decimal`: `[-]digits[.digits]`, bound as text cast to the column's
    /// type, so no digit is lost to a float.
    Decimal,
    /// `uuid` (PostgreSQL): `8-4-4-4-12` hex digits, bound as text cast to `uuid`.
    Uuid,
    /// Any other type (binary, JSON, arrays, enums …): filters and order on it are a
    /// `400`; it may still be selected.
    Other,
}

impl Class {
    /// PostgreSQL's class of a `format_type` name.
    fn postgres(type_name: &str) -> Self {
        match type_name {
            "smallint" | "integer" | "bigint" => Self::Int,
            "real" | "double precision" => Self::Float,
            "numeric" => Self::Decimal,
            "boolean" => Self::Bool,
            "text" | "character varying" | "character" | "name" | "citext" => Self::Text,
            "date" => Self::Date,
            "timestamp without time zone" | "timestamp with time zone" => Self::Timestamp,
            "time without time zone" | "time with time zone" => Self::Time,
            "uuid" => Self::Uuid,
            _ => Self::Other,
        }
    }

    /// MySQL/MariaDB's class of a `DATA_TYPE`.
    fn mysql(data_type: &str) -> Self {
        match data_type.to_ascii_lowercase().as_str() {
            "tinyint(1)" => Self::Bool,
            "tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint" | "year" => {
                Self::Int
            }
            "float" | "double" | "real" => Self::Float,
            "decimal" | "numeric" => Self::Decimal,
            "char" | "varchar" | "tinytext" | "text" | "mediumtext" | "longtext" | "enum"
            | "set" => Self::Text,
            "date" => Self::Date,
            "datetime" | "timestamp" => Self::Timestamp,
            "time" => Self::Time,
            _ => Self::Other,
        }
    }

    /// SQLite's class of a declared type, by its affinity rules (section 3.1 of
    /// "Datatypes In SQLite").
    fn sqlite(declared: &str) -> Self {
        let upper = declared.to_ascii_uppercase();
        if upper.contains("INT") {
            Self::Int
        } else if ["CHAR", "CLOB", "TEXT"].iter().any(|t| upper.contains(t)) {
            Self::Text
        } else if upper.is_empty() || upper.contains("BLOB") {
            Self::Dynamic
        } else if ["REAL", "FLOA", "DOUB"].iter().any(|t| upper.contains(t)) {
            Self::Float
        } else {
            Self::Dynamic
        }
    }
}

/// The columns of `table` in table order.
///
/// # Errors
///
/// If the catalog query fails.
pub async fn columns(db: &Database, table: &Table) -> Result<Vec<Column>, sqlx::Error> {
    match db {
        Database::Sqlite(pool) => sqlite_columns(pool, table).await,
        Database::Postgres(pool) => postgres_columns(pool, table).await,
        Database::MySql { pool, .. } => mysql_columns(pool, table).await,
    }
}

async fn sqlite_columns(pool: &SqlitePool, table: &Table) -> Result<Vec<Column>, sqlx::Error> {
    let rows: Vec<(String, String, bool, i64)> = sqlx::query_as(
        "SELECT name, type, \"notnull\", pk FROM pragma_table_info(?1, 'main') ORDER BY cid",
    )
    .bind(&table.name)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(name, type_name, not_null, pk)| Column {
            class: Class::sqlite(&type_name),
            name,
            type_name,
            select_expr: None,
            nullable: !not_null && pk == 0,
        })
        .collect())
}

/// The columns of relation `$2` in schema `$1`: name, type (a domain's base type),
/// whether it is read as text (the rule of `catalog::PG_COLUMNS`, the decoded types `$3`),
/// and whether it may hold NULL.
const PG_COLUMNS: &str = "SELECT a.attname::text, \
       pg_catalog.format_type(b.oid, NULL), \
       NOT (b.oid::int8 = ANY($3) OR b.typtype = 'e' \
         OR (b.typcategory = 'A' AND e.oid IS NOT NULL \
             AND (e.oid::int8 = ANY($3) OR e.typtype = 'e'))), \
       NOT a.attnotnull \
     FROM pg_catalog.pg_attribute AS a \
     JOIN pg_catalog.pg_class AS c ON c.oid = a.attrelid \
     JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace \
     JOIN pg_catalog.pg_type AS t ON t.oid = a.atttypid \
     JOIN pg_catalog.pg_type AS b \
       ON b.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END \
     LEFT JOIN pg_catalog.pg_type AS e ON e.oid = b.typelem AND b.typelem <> 0 \
     WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped \
     ORDER BY a.attnum";

async fn postgres_columns(pool: &PgPool, table: &Table) -> Result<Vec<Column>, sqlx::Error> {
    let rows: Vec<(String, String, bool, bool)> = sqlx::query_as(PG_COLUMNS)
        .bind(&table.schema)
        .bind(&table.name)
        .bind(PG_DECODED_TYPES)
        .fetch_all(pool)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(name, type_name, as_text, nullable)| {
            let quoted = super::super::catalog::quote_ident(&name);
            Column {
                class: if as_text {
                    Class::Other
                } else {
                    Class::postgres(&type_name)
                },
                select_expr: as_text.then(|| {
                    format!(
                        "CASE WHEN {quoted} IS NULL THEN NULL ELSE format('%s', {quoted}) END \
                         AS {quoted}"
                    )
                }),
                name,
                type_name,
                nullable,
            }
        })
        .collect())
}

const MYSQL_COLUMNS: &str = "SELECT CAST(COLUMN_NAME AS CHAR), CAST(DATA_TYPE AS CHAR), \
     CAST(COLUMN_TYPE AS CHAR), IS_NULLABLE = 'YES' \
     FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? \
     ORDER BY ORDINAL_POSITION";

/// Whether a MySQL/MariaDB column of `DATA_TYPE` `data_type` and `COLUMN_TYPE`
/// `column_type` is a `BOOLEAN`: a `TINYINT(1)` (`BOOLEAN` is its alias), which the
/// driver reports as `BOOLEAN` and the JSON formats write as `true`/`false`.
pub fn mysql_boolean(data_type: &str, column_type: &str) -> bool {
    data_type.eq_ignore_ascii_case("tinyint")
        && column_type
            .get(..10)
            .is_some_and(|t| t.eq_ignore_ascii_case("tinyint(1)"))
}

async fn mysql_columns(pool: &MySqlPool, table: &Table) -> Result<Vec<Column>, sqlx::Error> {
    let rows: Vec<(String, String, String, bool)> = sqlx::query_as(MYSQL_COLUMNS)
        .bind(&table.schema)
        .bind(&table.name)
        .fetch_all(pool)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(name, data_type, column_type, nullable)| {
            let type_name = if mysql_boolean(&data_type, &column_type) {
                "tinyint(1)".to_owned()
            } else {
                data_type
            };
            Column {
                class: Class::mysql(&type_name),
                name,
                type_name,
                select_expr: None,
                nullable,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        assert_eq!(Class::sqlite(""), Class::Dynamic);
        assert_eq!(Class::sqlite("BIGINT"), Class::Int);
        assert_eq!(Class::sqlite("varchar(8)"), Class::Text);
        assert_eq!(Class::sqlite("double"), Class::Float);
        assert_eq!(Class::sqlite("DATETIME"), Class::Dynamic);
        assert_eq!(Class::sqlite("blob"), Class::Dynamic);
        assert_eq!(
            Class::postgres("timestamp with time zone"),
            Class::Timestamp
        );
        assert_eq!(Class::postgres("bytea"), Class::Other);
        assert_eq!(Class::mysql("VARCHAR"), Class::Text);
        assert_eq!(Class::mysql("json"), Class::Other);
        assert_eq!(Class::mysql("tinyint(1)"), Class::Bool);
        assert_eq!(Class::mysql("tinyint"), Class::Int);
        assert!(mysql_boolean("tinyint", "tinyint(1)"));
        assert!(mysql_boolean("TINYINT", "tinyint(1) unsigned"));
        assert!(!mysql_boolean("tinyint", "tinyint(4)"));
        assert!(!mysql_boolean("tinyint", "tinyint"));
        assert!(!mysql_boolean("int", "int(1)"));
    }
}
