//! The catalog: which tables may be exported, and how each is read.
//!
//! Only names read back from the database's own catalog ever reach SQL text, and always
//! quoted. Each database lists the tables and views of its *current* schema or database
//! only: `main` for SQLite, `current_schema()` for PostgreSQL, `DATABASE()` for MySQL.

use std::collections::BTreeMap;

use sqlx::mysql::MySqlPool;
use sqlx::postgres::PgPool;
use sqlx::sqlite::SqlitePool;

use super::Database;

/// A table or view that may be exported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// The schema (PostgreSQL), database (MySQL) or `main` (SQLite) it lives in.
    pub schema: String,
    /// The exact name from the catalog.
    pub name: String,
    /// How it is read.
    pub plan: Plan,
    /// Text columns that hold JSON (MariaDB `JSON` columns), to embed as JSON.
    pub json_columns: Vec<String>,
    /// The select list when it is not `*`: PostgreSQL columns of types the library does
    /// not decode are read as their text form (`format('%s', "c") AS "c"`).
    pub select_list: Option<String>,
    /// The type of a [`Plan::Keyset`] table's key; `None` for other plans.
    pub key_type: Option<KeyType>,
}

/// The type of a keyset table's key, as a key given in a request (`?after=`) is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    /// An integer column, bound as `i64`.
    Int,
    /// A text column, bound as text.
    Text,
}

impl KeyType {
    /// From the key column's type name: an integer type when the name contains `int`
    /// (`integer`, `bigint`, `tinyint`; SQLite's integer affinity rule), else text.
    fn of(type_name: &str) -> Self {
        if type_name.to_ascii_lowercase().contains("int") {
            Self::Int
        } else {
            Self::Text
        }
    }

    /// `text` read as a key of this type.
    ///
    /// # Errors
    ///
    /// For an integer key, text that is not a whole number within `i64`; the message
    /// says so.
    pub fn parse(self, text: &str) -> Result<rowstream::keyset::Key, String> {
        match self {
            Self::Int => text
                .parse::<i64>()
                .ok()
                .filter(|_| !text.starts_with('+'))
                .map(rowstream::keyset::Key::Int)
                .ok_or_else(|| {
                    format!("the key is an integer column: \"{text}\" is not a whole number")
                }),
            Self::Text => Ok(rowstream::keyset::Key::Text(text.to_owned())),
        }
    }
}

/// The key type of `plan`'s key column, whose type name `type_of` gives.
fn key_type_of<'a>(plan: &Plan, type_of: impl Fn(&str) -> Option<&'a str>) -> Option<KeyType> {
    match plan {
        Plan::Keyset { key } => Some(KeyType::of(type_of(key).unwrap_or_default())),
        Plan::Single { .. } => None,
    }
}

/// How a table is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Keyset pagination over a single-column key (the primary key), in key order.
    Keyset {
        /// The key column, as the catalog spells it.
        key: String,
    },
    /// One query, ordered by these columns (the primary key, or SQLite's rowid alias) or,
    /// when empty, in the order the database yields (views, tables without a key).
    Single {
        /// The `ORDER BY` columns, as the catalog spells them.
        order_by: Vec<String>,
    },
}

/// Quotes an SQL identifier for PostgreSQL and SQLite: wrapped in double quotes, inner
/// double quotes doubled.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Quotes an SQL identifier for MySQL/MariaDB: wrapped in backticks, inner backticks
/// doubled.
pub fn quote_mysql_ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

impl Table {
    /// The single query of a [`Plan::Single`] table (or of any table, ignoring its key):
    /// `SELECT * FROM schema.name [ORDER BY …]`, quoted for `db`.
    pub fn select_sql(&self, db: &Database) -> String {
        let quote = |name: &str| db.quote_ident(name);
        let mut sql = format!(
            "SELECT {} FROM {}.{}",
            self.select_list.as_deref().unwrap_or("*"),
            quote(&self.schema),
            quote(&self.name)
        );
        let order_by: Vec<String> = match &self.plan {
            Plan::Keyset { key } => vec![quote(key)],
            Plan::Single { order_by } => order_by.iter().map(|c| quote(c)).collect(),
        };
        if !order_by.is_empty() {
            sql.push_str(" ORDER BY ");
            sql.push_str(&order_by.join(", "));
        }
        sql
    }
}

/// The names of the exportable tables and views, sorted by their UTF-8 bytes.
///
/// # Errors
///
/// If the catalog query fails.
pub async fn list(db: &Database) -> Result<Vec<String>, sqlx::Error> {
    let mut names: Vec<String> = match db {
        Database::Sqlite(pool) => sqlx::query_scalar(SQLITE_LIST).fetch_all(pool).await?,
        Database::Postgres(pool) => sqlx::query_scalar(PG_LIST).fetch_all(pool).await?,
        Database::MySql { pool, .. } => sqlx::query_scalar(MYSQL_LIST).fetch_all(pool).await?,
    };
    names.sort_unstable();
    names.dedup();
    Ok(names)
}

/// Row counts the database keeps without counting, by table name: PostgreSQL's
/// `pg_class.reltuples` (tables that were never analyzed or vacuumed are left out),
/// MySQL/MariaDB's `information_schema.TABLES.TABLE_ROWS`. Estimates, not counts; views
/// are left out. SQLite keeps none: the map is empty.
///
/// # Errors
///
/// If the catalog query fails.
pub async fn row_estimates(db: &Database) -> Result<BTreeMap<String, u64>, sqlx::Error> {
    Ok(match db {
        Database::Sqlite(_) => BTreeMap::new(),
        Database::Postgres(pool) => {
            let rows: Vec<(String, f64)> = sqlx::query_as(PG_ESTIMATES).fetch_all(pool).await?;
            rows.into_iter()
                // PostgreSQL 14+ says -1 for a table never analyzed: unknown, not empty.
                .filter(|(_, rows)| rows.is_finite() && *rows >= 0.0)
                .map(|(name, rows)| {
                    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                    (name, rows.round() as u64)
                })
                .collect()
        }
        Database::MySql { pool, .. } => {
            let rows: Vec<(String, Option<u64>)> =
                sqlx::query_as(MYSQL_ESTIMATES).fetch_all(pool).await?;
            rows.into_iter()
                .filter_map(|(name, rows)| Some((name, rows?)))
                .collect()
        }
    })
}

/// Where [`row_estimates`] come from, for people; `None` when the database keeps none.
pub fn estimate_source(db: &Database) -> Option<&'static str> {
    match db {
        Database::Sqlite(_) => None,
        Database::Postgres(_) => Some("pg_class.reltuples"),
        Database::MySql { .. } => Some("information_schema.TABLES.TABLE_ROWS"),
    }
}

/// Looks `name` up in the catalog: an exact, case-sensitive match, or `None`.
///
/// # Errors
///
/// If a catalog query fails.
pub async fn resolve(db: &Database, name: &str) -> Result<Option<Table>, sqlx::Error> {
    // No catalog holds such names, and PostgreSQL rejects NUL in text.
    if name.is_empty() || name.contains('\0') {
        return Ok(None);
    }
    match db {
        Database::Sqlite(pool) => resolve_sqlite(pool, name).await,
        Database::Postgres(pool) => resolve_postgres(pool, name).await,
        Database::MySql { pool, mariadb } => resolve_mysql(pool, *mariadb, name).await,
    }
}

// --- SQLite ----------------------------------------------------------------------------

/// Tables and views of `main`, without SQLite's reserved `sqlite_*` names.
const SQLITE_LIST: &str = "SELECT name FROM main.sqlite_schema \
     WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'";

/// One catalog entry by exact name, with its kind from `pragma_table_list` (`table`,
/// `view`, `virtual`, `shadow`) and whether it is a `WITHOUT ROWID` table.
const SQLITE_RESOLVE: &str = "SELECT s.name, coalesce(l.type, s.type), coalesce(l.wr, 0) \
     FROM main.sqlite_schema AS s \
     LEFT JOIN pragma_table_list AS l ON l.schema = 'main' AND l.name = s.name \
     WHERE s.name = ?1 AND s.type IN ('table', 'view') \
     AND s.name NOT LIKE 'sqlite\\_%' ESCAPE '\\'";

async fn resolve_sqlite(pool: &SqlitePool, name: &str) -> Result<Option<Table>, sqlx::Error> {
    let Some((name, kind, without_rowid)) =
        sqlx::query_as::<_, (String, String, bool)>(SQLITE_RESOLVE)
            .bind(name)
            .fetch_optional(pool)
            .await?
    else {
        return Ok(None);
    };
    let schema = "main".to_owned();
    if kind != "table" {
        return Ok(Some(Table {
            schema,
            name,
            plan: Plan::Single { order_by: vec![] },
            json_columns: vec![],
            select_list: None,
            key_type: None,
        }));
    }
    let columns: Vec<SqliteColumn> =
        sqlx::query_as("SELECT name, type, pk FROM pragma_table_info(?1, 'main') ORDER BY cid")
            .bind(&name)
            .fetch_all(pool)
            .await?;
    let plan = sqlite_plan(&columns, without_rowid);
    let key_type = key_type_of(&plan, |key| {
        columns
            .iter()
            .find(|(name, _, _)| name == key)
            .map(|(_, ty, _)| ty.as_str())
    });
    Ok(Some(Table {
        schema,
        name,
        plan,
        json_columns: vec![],
        select_list: None,
        key_type,
    }))
}

/// `(name, declared type, position in the primary key or 0)` from `pragma_table_info`.
type SqliteColumn = (String, String, i64);

/// Keyset over an `INTEGER PRIMARY KEY` (the rowid) or the single-column key of a
/// `WITHOUT ROWID` table — keys that are never NULL. Other rowid tables: one query in
/// rowid order; other `WITHOUT ROWID` tables: one query in key order.
fn sqlite_plan(columns: &[SqliteColumn], without_rowid: bool) -> Plan {
    let mut key: Vec<&SqliteColumn> = columns.iter().filter(|(_, _, pk)| *pk > 0).collect();
    key.sort_by_key(|(_, _, pk)| *pk);
    if let [(name, declared, _)] = key.as_slice() {
        if without_rowid || declared.eq_ignore_ascii_case("INTEGER") {
            return Plan::Keyset { key: name.clone() };
        }
    }
    if without_rowid {
        return Plan::Single {
            order_by: key.iter().map(|(name, _, _)| name.clone()).collect(),
        };
    }
    Plan::Single {
        order_by: rowid_alias(columns)
            .map(|alias| vec![alias.to_owned()])
            .unwrap_or_default(),
    }
}

/// A name for the rowid that no column shadows (`rowid`, `_rowid_` or `oid`).
fn rowid_alias(columns: &[SqliteColumn]) -> Option<&'static str> {
    ["rowid", "_rowid_", "oid"].into_iter().find(|alias| {
        !columns
            .iter()
            .any(|(name, _, _)| name.eq_ignore_ascii_case(alias))
    })
}

// --- PostgreSQL ------------------------------------------------------------------------

const PG_LIST: &str = "SELECT table_name::text FROM information_schema.tables \
     WHERE table_schema = current_schema() \
     AND table_type IN ('BASE TABLE', 'VIEW', 'FOREIGN')";

const PG_ESTIMATES: &str = "SELECT c.relname::text, c.reltuples::float8 \
     FROM pg_catalog.pg_class AS c \
     JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace \
     WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')";

/// A table, view or foreign table of the current schema by exact name, visible to the
/// user under the same rule as `information_schema.tables` (owner, or any privilege on
/// the table or one of its columns). `pg_catalog` rather than `information_schema`: the
/// latter's views cost tens of milliseconds per lookup, and every export does one.
const PG_RESOLVE: &str = "SELECT n.nspname::text, c.relname::text, c.oid::int8 \
     FROM pg_catalog.pg_class AS c \
     JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace \
     WHERE n.nspname = current_schema() AND c.relname = $1 \
     AND c.relkind IN ('r', 'p', 'v', 'f') \
     AND (pg_catalog.pg_has_role(c.relowner, 'USAGE') \
       OR pg_catalog.has_table_privilege(c.oid, \
            'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER') \
       OR pg_catalog.has_any_column_privilege(c.oid, 'SELECT, INSERT, UPDATE, REFERENCES'))";

/// The primary key's columns of the relation with oid `$1`, in key order, with their
/// types as `information_schema.columns.data_type` names them for the keyset types.
const PG_PRIMARY_KEY: &str = "SELECT a.attname::text, pg_catalog.format_type(a.atttypid, NULL) \
     FROM pg_catalog.pg_index AS i \
     CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) \
     JOIN pg_catalog.pg_attribute AS a ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
     WHERE i.indrelid = $1::int8::oid AND i.indisprimary \
     ORDER BY k.ord";

/// The oids of the types `rowstream::postgres` decodes from the binary format (see its
/// value mapping): bool, bytea, "char", name, int8, int2, int4, text, oid, json, xml,
/// float4, float8, unknown, bpchar, varchar, date, time, timestamp, timestamptz,
/// interval, timetz, numeric, void, uuid, jsonb.
pub(super) const PG_DECODED_TYPES: &[i64] = &[
    16, 17, 18, 19, 20, 21, 23, 25, 26, 114, 142, 700, 701, 705, 1042, 1043, 1082, 1083, 1114,
    1184, 1186, 1266, 1700, 2278, 2950, 3802,
];

/// The columns of the relation with oid `$1` in order, each with whether it must be read
/// as text: its type (a domain's base type) is none of the decoded types `$2`, not an
/// enum, and not an array of those.
const PG_COLUMNS: &str = "SELECT a.attname::text, NOT (b.oid::int8 = ANY($2) OR b.typtype = 'e' \
       OR (b.typcategory = 'A' AND e.oid IS NOT NULL \
           AND (e.oid::int8 = ANY($2) OR e.typtype = 'e'))) \
     FROM pg_catalog.pg_attribute AS a \
     JOIN pg_catalog.pg_type AS t ON t.oid = a.atttypid \
     JOIN pg_catalog.pg_type AS b \
       ON b.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END \
     LEFT JOIN pg_catalog.pg_type AS e ON e.oid = b.typelem AND b.typelem <> 0 \
     WHERE a.attrelid = $1::int8::oid AND a.attnum > 0 AND NOT a.attisdropped \
     ORDER BY a.attnum";

/// The select list reading `columns` (name, as text?) — `None` (`*`) when none is read as
/// text; else every column by name, the text ones as `format('%s', "c") AS "c"` (NULL
/// kept): PostgreSQL's own output function writes them (`inet`, `money`, ranges,
/// composites …), exactly as psql shows them.
fn pg_select_list(columns: &[(String, bool)]) -> Option<String> {
    if !columns.iter().any(|(_, as_text)| *as_text) {
        return None;
    }
    let list: Vec<String> = columns
        .iter()
        .map(|(name, as_text)| {
            let quoted = quote_ident(name);
            if *as_text {
                // format('%s') runs the type's output function, as psql shows the value
                // (`::text` differs for inet: `::1/128` for `::1`); it makes NULL ''.
                format!("CASE WHEN {quoted} IS NULL THEN NULL ELSE format('%s', {quoted}) END AS {quoted}")
            } else {
                quoted
            }
        })
        .collect();
    Some(list.join(", "))
}

/// Key types keyset pagination binds: integers as `i64`, text as text.
const PG_KEYSET_TYPES: [&str; 5] = ["smallint", "integer", "bigint", "text", "character varying"];

async fn resolve_postgres(pool: &PgPool, name: &str) -> Result<Option<Table>, sqlx::Error> {
    let Some((schema, name, oid)) = sqlx::query_as::<_, (String, String, i64)>(PG_RESOLVE)
        .bind(name)
        .fetch_optional(pool)
        .await?
    else {
        return Ok(None);
    };
    let key: Vec<(String, String)> = sqlx::query_as(PG_PRIMARY_KEY)
        .bind(oid)
        .fetch_all(pool)
        .await?;
    let columns: Vec<(String, bool)> = sqlx::query_as(PG_COLUMNS)
        .bind(oid)
        .bind(PG_DECODED_TYPES)
        .fetch_all(pool)
        .await?;
    let plan = key_plan(key.clone(), &PG_KEYSET_TYPES);
    let key_type = key_type_of(&plan, |_| key.first().map(|(_, ty)| ty.as_str()));
    Ok(Some(Table {
        schema,
        name,
        plan,
        json_columns: vec![],
        select_list: pg_select_list(&columns),
        key_type,
    }))
}

/// Keyset over a single-column key of a supported type, else one query in key order.
fn key_plan(key: Vec<(String, String)>, keyset_types: &[&str]) -> Plan {
    match key.as_slice() {
        [(column, ty)] if keyset_types.contains(&ty.as_str()) => Plan::Keyset {
            key: column.clone(),
        },
        _ => Plan::Single {
            order_by: key.into_iter().map(|(column, _)| column).collect(),
        },
    }
}

// --- MySQL / MariaDB -------------------------------------------------------------------

const MYSQL_LIST: &str = "SELECT CAST(TABLE_NAME AS CHAR) FROM information_schema.TABLES \
     WHERE TABLE_SCHEMA = DATABASE() \
     AND TABLE_TYPE IN ('BASE TABLE', 'VIEW', 'SYSTEM VERSIONED')";

const MYSQL_ESTIMATES: &str = "SELECT CAST(TABLE_NAME AS CHAR), TABLE_ROWS \
     FROM information_schema.TABLES \
     WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED')";

/// Candidates for a name: the comparison may ignore case or trailing spaces, so the exact
/// match is picked afterwards.
const MYSQL_RESOLVE: &str = "SELECT CAST(TABLE_SCHEMA AS CHAR), CAST(TABLE_NAME AS CHAR) \
     FROM information_schema.TABLES \
     WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? \
     AND TABLE_TYPE IN ('BASE TABLE', 'VIEW', 'SYSTEM VERSIONED')";

/// The primary key's columns, in key order, with their types (`bigint unsigned` spelled
/// out, so it is not taken for an `i64` key); prefix-indexed columns are marked.
const MYSQL_PRIMARY_KEY: &str = "SELECT CAST(s.COLUMN_NAME AS CHAR), \
       CAST(CASE WHEN s.SUB_PART IS NOT NULL THEN 'prefix' \
                 WHEN c.DATA_TYPE = 'bigint' AND c.COLUMN_TYPE LIKE '%unsigned%' THEN 'bigint unsigned' \
                 ELSE c.DATA_TYPE END AS CHAR) \
     FROM information_schema.STATISTICS AS s \
     JOIN information_schema.COLUMNS AS c \
       ON c.TABLE_SCHEMA = s.TABLE_SCHEMA AND c.TABLE_NAME = s.TABLE_NAME \
      AND c.COLUMN_NAME = s.COLUMN_NAME \
     WHERE s.TABLE_SCHEMA = ? AND s.TABLE_NAME = ? AND s.INDEX_NAME = 'PRIMARY' \
     ORDER BY s.SEQ_IN_INDEX";

/// MariaDB's `JSON` columns: `LONGTEXT` with the `json_valid(col)` check it adds.
const MARIADB_JSON_COLUMNS: &str = "SELECT CAST(c.COLUMN_NAME AS CHAR) \
     FROM information_schema.COLUMNS AS c \
     WHERE c.TABLE_SCHEMA = ? AND c.TABLE_NAME = ? \
     AND (c.DATA_TYPE = 'json' OR EXISTS ( \
       SELECT 1 FROM information_schema.CHECK_CONSTRAINTS AS k \
       WHERE k.CONSTRAINT_SCHEMA = c.TABLE_SCHEMA AND k.TABLE_NAME = c.TABLE_NAME \
       AND k.CHECK_CLAUSE = CONCAT('json_valid(`', REPLACE(c.COLUMN_NAME, '`', '``'), '`)'))) \
     ORDER BY c.ORDINAL_POSITION";

const MYSQL_KEYSET_TYPES: [&str; 7] = [
    "tinyint",
    "smallint",
    "mediumint",
    "int",
    "bigint",
    "varchar",
    "char",
];

async fn resolve_mysql(
    pool: &MySqlPool,
    mariadb: bool,
    name: &str,
) -> Result<Option<Table>, sqlx::Error> {
    let candidates: Vec<(String, String)> = sqlx::query_as(MYSQL_RESOLVE)
        .bind(name)
        .fetch_all(pool)
        .await?;
    let Some((schema, name)) = candidates.into_iter().find(|(_, found)| found == name) else {
        return Ok(None);
    };
    let key: Vec<(String, String)> = sqlx::query_as(MYSQL_PRIMARY_KEY)
        .bind(&schema)
        .bind(&name)
        .fetch_all(pool)
        .await?;
    let json_columns = if mariadb {
        sqlx::query_scalar(MARIADB_JSON_COLUMNS)
            .bind(&schema)
            .bind(&name)
            .fetch_all(pool)
            .await?
    } else {
        vec![]
    };
    let plan = key_plan(key.clone(), &MYSQL_KEYSET_TYPES);
    let key_type = key_type_of(&plan, |_| key.first().map(|(_, ty)| ty.as_str()));
    Ok(Some(Table {
        schema,
        name,
        plan,
        json_columns,
        select_list: None,
        key_type,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols(columns: &[(&str, &str, i64)]) -> Vec<SqliteColumn> {
        columns
            .iter()
            .map(|(n, t, pk)| ((*n).to_owned(), (*t).to_owned(), *pk))
            .collect()
    }

    #[test]
    fn quoting() {
        assert_eq!(quote_ident("t"), r#""t""#);
        assert_eq!(
            quote_ident(r#"x"; DROP TABLE t; --"#),
            r#""x""; DROP TABLE t; --""#
        );
        assert_eq!(quote_ident(r#""""#), r#""""""""#);
        assert_eq!(quote_mysql_ident("a`b"), "`a``b`");
    }

    #[test]
    fn rowid_alias_avoids_shadowing_columns() {
        assert_eq!(rowid_alias(&cols(&[("id", "", 1)])), Some("rowid"));
        assert_eq!(rowid_alias(&cols(&[("RowID", "", 0)])), Some("_rowid_"));
        assert_eq!(
            rowid_alias(&cols(&[("rowid", "", 0), ("_rowid_", "", 0)])),
            Some("oid")
        );
        assert_eq!(
            rowid_alias(&cols(&[
                ("rowid", "", 0),
                ("_rowid_", "", 0),
                ("OID", "", 0)
            ])),
            None
        );
    }

    #[test]
    fn sqlite_plans() {
        let keyset = |key: &str| Plan::Keyset { key: key.into() };
        let single = |cols: &[&str]| Plan::Single {
            order_by: cols.iter().map(|c| (*c).to_owned()).collect(),
        };
        // INTEGER PRIMARY KEY: the rowid itself.
        assert_eq!(
            sqlite_plan(&cols(&[("id", "integer", 1), ("v", "", 0)]), false),
            keyset("id")
        );
        // A text key of a rowid table may hold NULLs: rowid order.
        assert_eq!(
            sqlite_plan(&cols(&[("k", "TEXT", 1)]), false),
            single(&["rowid"])
        );
        // WITHOUT ROWID: its key, single or composite.
        assert_eq!(sqlite_plan(&cols(&[("k", "TEXT", 1)]), true), keyset("k"));
        assert_eq!(
            sqlite_plan(&cols(&[("a", "", 2), ("b", "", 0), ("c\"", "", 1)]), true),
            single(&["c\"", "a"])
        );
        // No key.
        assert_eq!(
            sqlite_plan(&cols(&[("a", "", 0)]), false),
            single(&["rowid"])
        );
    }

    #[test]
    fn key_plans() {
        let key = |cols: &[(&str, &str)]| -> Vec<(String, String)> {
            cols.iter()
                .map(|(c, t)| ((*c).to_owned(), (*t).to_owned()))
                .collect()
        };
        assert_eq!(
            key_plan(key(&[("id", "bigint")]), &PG_KEYSET_TYPES),
            Plan::Keyset { key: "id".into() }
        );
        assert_eq!(
            key_plan(key(&[("id", "uuid")]), &PG_KEYSET_TYPES),
            Plan::Single {
                order_by: vec!["id".into()]
            }
        );
        assert_eq!(
            key_plan(key(&[("id", "bigint unsigned")]), &MYSQL_KEYSET_TYPES),
            Plan::Single {
                order_by: vec!["id".into()]
            }
        );
        assert_eq!(
            key_plan(key(&[("a", "int"), ("b", "int")]), &MYSQL_KEYSET_TYPES),
            Plan::Single {
                order_by: vec!["a".into(), "b".into()]
            }
        );
        assert_eq!(
            key_plan(key(&[]), &MYSQL_KEYSET_TYPES),
            Plan::Single { order_by: vec![] }
        );
    }
}
