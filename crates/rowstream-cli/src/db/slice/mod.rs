//! A [`Slice`] of a table as SQL for one database: every column name checked against the
//! catalog ([`columns()`]) and quoted, every value read as its column's type
//! ([`values::read`]) and bound as a parameter. Nothing from the request is written into
//! the SQL but numbers (`LIMIT`).
//!
//! A keyset table ([`Plan::Keyset`]) in key order whose selection holds the key is read
//! by keyset pagination, the filters in every page's `WHERE`; any other slice is one
//! statement, `ORDER BY` the asked terms then the key (or the table's own order) as the
//! last tiebreaker, with `LIMIT` when there is one.

mod columns;
mod count;
mod read;
mod scan;
mod values;

pub use columns::{Class, Column, columns, mysql_boolean};
pub use count::{CountKind, RowCount, count};
pub use read::slice_chunks;
pub use scan::sqlite_classes;
pub use values::Bound;

use super::Database;
use super::catalog::{Plan, Table};
use crate::slice::{Cmp, Filter, Is, Nulls, Op, Slice, SliceError};

/// `err`, a filter that did not parse, as an unknown parameter when the table has no
/// column of the name it gives (`?fromat=csv` is a misspelt `format`, not a bad filter).
pub fn unknown_or(err: SliceError, table: &Table, columns: &[Column]) -> SliceError {
    match &err.column {
        Some(name) if !columns.iter().any(|c| c.name == *name) => {
            let known: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
            SliceError {
                detail: format!(
                    "no column \"{name}\" in {}; its columns are {}",
                    table.name,
                    known.join(", ")
                ),
                unknown: true,
                ..err
            }
        }
        _ => err,
    }
}

/// A slice of a table, ready to run: SQL pieces and the values to bind in order.
#[derive(Debug, Clone, PartialEq)]
pub struct SliceQuery {
    select_list: String,
    from: String,
    conditions: Vec<String>,
    binds: Vec<Bound>,
    order_by: Vec<String>,
    /// The key column when the slice is read by keyset pagination.
    keyset: Option<String>,
    limit: Option<u64>,
    numbered: bool,
}

/// Which SQL a database speaks, for building.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    Sqlite,
    Postgres,
    MySql,
}

impl SliceQuery {
    /// `SELECT <columns> FROM <table>`: the statement whose result columns are the
    /// slice's (for a CSV header), without filters or parameters.
    pub fn header_sql(&self) -> String {
        format!("SELECT {} FROM {}", self.select_list, self.from)
    }

    /// Whether the slice is read by keyset pagination.
    pub fn paged(&self) -> bool {
        self.keyset.is_some()
    }

    /// The values bound, in placeholder order (a page's key after them).
    pub fn binds(&self) -> &[Bound] {
        &self.binds
    }

    /// The SQL of the single statement, or of a keyset page (`page` rows; `with_key`:
    /// after the previous page's last key, bound after [`binds`](Self::binds)).
    pub fn sql(&self, page: Option<(usize, bool)>) -> String {
        let mut conditions = self.conditions.clone();
        if let (Some(key), Some((_, true))) = (&self.keyset, page) {
            let n = self.binds.len() + 1;
            conditions.push(format!("{key} > {}", self.placeholder(n)));
        }
        let mut sql = format!("SELECT {} FROM {}", self.select_list, self.from);
        if !conditions.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&conditions.join(" AND "));
        }
        if !self.order_by.is_empty() {
            sql.push_str(" ORDER BY ");
            sql.push_str(&self.order_by.join(", "));
        }
        // Numbers, not text from the request.
        match page {
            Some((rows, _)) => sql.push_str(&format!(" LIMIT {rows}")),
            None => {
                if let Some(limit) = self.limit {
                    sql.push_str(&format!(" LIMIT {limit}"));
                }
            }
        }
        sql
    }

    /// `SELECT COUNT(*)` of the rows the slice selects (without its limit); `with_key`:
    /// after a key bound after [`binds`](Self::binds).
    pub fn count_sql(&self, with_key: bool) -> String {
        let mut conditions = self.conditions.clone();
        if let (Some(key), true) = (&self.keyset, with_key) {
            let n = self.binds.len() + 1;
            conditions.push(format!("{key} > {}", self.placeholder(n)));
        }
        let mut sql = format!("SELECT COUNT(*) FROM {}", self.from);
        if !conditions.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&conditions.join(" AND "));
        }
        sql
    }

    /// `SELECT *` of the rows the export reads (`with_key`: after a key bound after
    /// [`binds`](Self::binds)): its filters, and with a limit its order and limit (without
    /// one, the order does not change which rows are read). For SQLite's scan of the
    /// storage classes an export will meet ([`sqlite_classes`]).
    pub fn rows_sql(&self, with_key: bool) -> String {
        let mut conditions = self.conditions.clone();
        if let (Some(key), true) = (&self.keyset, with_key) {
            let n = self.binds.len() + 1;
            conditions.push(format!("{key} > {}", self.placeholder(n)));
        }
        let mut sql = format!("SELECT * FROM {}", self.from);
        if !conditions.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&conditions.join(" AND "));
        }
        if let Some(limit) = self.limit {
            if !self.order_by.is_empty() {
                sql.push_str(" ORDER BY ");
                sql.push_str(&self.order_by.join(", "));
            }
            // A number, not text from the request.
            sql.push_str(&format!(" LIMIT {limit}"));
        }
        sql
    }

    fn placeholder(&self, n: usize) -> String {
        if self.numbered {
            format!("${n}")
        } else {
            "?".to_owned()
        }
    }
}

/// `slice` of `table` (whose columns are `columns`) as SQL for `db`: the first `limit`
/// rows when there is one; in key order, after the key `after` when there is one.
///
/// # Errors
///
/// A `400` naming the parameter: an unknown column (in `select`, `order` or a filter), a
/// value that does not read as its column's type, an operator the column's type does not
/// take, `after` with an order other than the key's.
pub fn build(
    db: &Database,
    table: &Table,
    columns: &[Column],
    slice: &Slice,
    limit: Option<u64>,
    after: Option<&rowstream::keyset::Key>,
) -> Result<SliceQuery, SliceError> {
    let dialect = match db {
        Database::Sqlite(_) => Dialect::Sqlite,
        Database::Postgres(_) => Dialect::Postgres,
        Database::MySql { .. } => Dialect::MySql,
    };
    let quote = |name: &str| db.quote_ident(name);
    let find = |name: &str, parameter: &str| {
        columns.iter().find(|c| c.name == name).ok_or_else(|| {
            let known: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
            SliceError {
                parameter: parameter.to_owned(),
                detail: format!(
                    "no column \"{name}\" in {}; its columns are {}",
                    table.name,
                    known.join(", ")
                ),
                unknown: parameter != "select" && parameter != "order",
                column: None,
            }
        })
    };
    let select_entry = |column: &Column| {
        column
            .select_expr
            .clone()
            .unwrap_or_else(|| quote(&column.name))
    };
    let select_list = match &slice.select {
        None => match &table.select_list {
            Some(list) => list.clone(),
            None => "*".to_owned(),
        },
        Some(names) => {
            let mut list = Vec::with_capacity(names.len());
            for name in names {
                list.push(select_entry(find(name, "select")?));
            }
            list.join(", ")
        }
    };
    let mut query = SliceQuery {
        select_list,
        from: format!("{}.{}", quote(&table.schema), quote(&table.name)),
        conditions: Vec::with_capacity(slice.filters.len() + 1),
        binds: Vec::new(),
        order_by: Vec::new(),
        keyset: None,
        limit,
        numbered: dialect == Dialect::Postgres,
    };
    for filter in &slice.filters {
        let column = find(&filter.column, &filter.param)?;
        let condition = condition(dialect, &mut query, column, filter, &quote(&column.name))
            .map_err(|detail| {
                SliceError::new(&filter.param, format!("{}: {detail}", filter.column))
            })?;
        query.conditions.push(if filter.negated {
            format!("NOT ({condition})")
        } else {
            condition
        });
    }
    // The table's own order: its key, or the catalog's order columns.
    let tiebreak: Vec<String> = match &table.plan {
        Plan::Keyset { key } => vec![key.clone()],
        Plan::Single { order_by } => order_by.clone(),
    };
    let key_order = match (&table.plan, slice.order.as_slice()) {
        (Plan::Keyset { .. }, []) => true,
        (Plan::Keyset { key }, [term]) => {
            term.column == *key && !term.descending && find(key, "order").is_ok()
        }
        _ => false,
    };
    for term in &slice.order {
        let column = find(&term.column, "order")?;
        if column.class == Class::Other {
            return Err(SliceError::new(
                "order",
                format!(
                    "rows cannot be ordered by \"{}\", of type {}",
                    column.name, column.type_name
                ),
            ));
        }
        let name = quote(&column.name);
        let direction = if term.descending { "DESC" } else { "ASC" };
        let nulls = match term.nulls {
            Nulls::First => "FIRST",
            Nulls::Last => "LAST",
        };
        query.order_by.push(match dialect {
            // No NULLS FIRST/LAST: NULLs sort first ascending, so `IS NULL` (0 or 1)
            // decides first.
            Dialect::MySql => format!(
                "({name} IS NULL) {}, {name} {direction}",
                if term.nulls == Nulls::Last {
                    "ASC"
                } else {
                    "DESC"
                }
            ),
            Dialect::Sqlite | Dialect::Postgres => format!("{name} {direction} NULLS {nulls}"),
        });
    }
    for column in tiebreak {
        if !slice.order.iter().any(|t| t.column == column) {
            query.order_by.push(quote(&column));
        }
    }
    if let Some(after) = after {
        let Plan::Keyset { key } = &table.plan else {
            return Err(SliceError::new(
                "after",
                "this table is not read in key order",
            ));
        };
        if !key_order {
            return Err(SliceError::new(
                "after",
                format!(
                    "a resumed export is read in key order: it cannot go with order= \
                     other than {key}"
                ),
            ));
        }
        if !selects(slice, key) {
            // One statement: the key is a condition like the filters.
            let n = query.binds.len() + 1;
            query
                .conditions
                .push(format!("{} > {}", quote(key), query.placeholder(n)));
            query.binds.push(match after {
                rowstream::keyset::Key::Int(n) => Bound::Int(*n),
                rowstream::keyset::Key::Text(t) => Bound::Text(t.clone()),
            });
        }
    }
    if let Plan::Keyset { key } = &table.plan {
        if key_order && selects(slice, key) {
            query.keyset = Some(quote(key));
        }
    }
    Ok(query)
}

/// Whether the slice's rows carry the column `key`.
fn selects(slice: &Slice, key: &str) -> bool {
    slice
        .select
        .as_ref()
        .is_none_or(|names| names.iter().any(|n| n == key))
}

/// The SQL of one filter (before `not.`), its values pushed to `query`'s binds.
fn condition(
    dialect: Dialect,
    query: &mut SliceQuery,
    column: &Column,
    filter: &Filter,
    name: &str,
) -> Result<String, String> {
    let utc_only = dialect == Dialect::MySql;
    let bind = |query: &mut SliceQuery, text: &str| -> Result<String, String> {
        let value = values::read(column.class, text, utc_only)?;
        query.binds.push(value);
        let placeholder = query.placeholder(query.binds.len());
        let cast = matches!(
            column.class,
            Class::Date | Class::Timestamp | Class::Time | Class::Decimal | Class::Uuid
        );
        Ok(if cast && dialect == Dialect::Postgres {
            // The type's name from the catalog, not from the request.
            format!("CAST({placeholder} AS {})", column.type_name)
        } else {
            placeholder
        })
    };
    Ok(match &filter.op {
        Op::Cmp(cmp, text) => {
            let value = bind(query, text)?;
            format!("{name} {} {value}", Cmp::sql(*cmp))
        }
        Op::In(values) => {
            if values.is_empty() {
                return Ok("1 = 0".to_owned());
            }
            let mut list = Vec::with_capacity(values.len());
            for text in values {
                list.push(bind(query, text)?);
            }
            format!("{name} IN ({})", list.join(", "))
        }
        Op::Is(Is::Null) => format!("{name} IS NULL"),
        Op::Is(is) => {
            let boolean = column.class == Class::Bool
                || (dialect != Dialect::Postgres
                    && matches!(column.class, Class::Int | Class::Dynamic));
            if !boolean {
                return Err(format!(
                    "is.true and is.false are for boolean columns, not {}",
                    column.type_name
                ));
            }
            let word = if *is == Is::True { "TRUE" } else { "FALSE" };
            format!("{name} IS {word}")
        }
        Op::Like {
            pattern,
            case_insensitive,
        } => {
            if !matches!(column.class, Class::Text | Class::Dynamic) {
                return Err(format!(
                    "like and ilike are for text columns, not {}",
                    column.type_name
                ));
            }
            if pattern.contains('\0') {
                return Err("a value may not contain NUL".to_owned());
            }
            let (sql, pattern) = match (dialect, case_insensitive) {
                (Dialect::Postgres, false) => ("{c} LIKE {p} ESCAPE '!'", pattern.clone()),
                (Dialect::Postgres, true) => ("{c} ILIKE {p} ESCAPE '!'", pattern.clone()),
                // SQLite's LIKE ignores ASCII case; GLOB does not.
                (Dialect::Sqlite, false) => ("{c} GLOB {p}", glob(pattern)),
                (Dialect::Sqlite, true) => ("{c} LIKE {p} ESCAPE '!'", pattern.clone()),
                // A binary pattern compares bytes, whatever the column's collation.
                (Dialect::MySql, false) => {
                    ("{c} LIKE CAST({p} AS BINARY) ESCAPE '!'", pattern.clone())
                }
                (Dialect::MySql, true) => {
                    ("LOWER({c}) LIKE LOWER({p}) ESCAPE '!'", pattern.clone())
                }
            };
            query.binds.push(Bound::Text(pattern));
            let placeholder = query.placeholder(query.binds.len());
            // The placeholder first: a quoted name may hold `{p}`.
            sql.replacen("{p}", &placeholder, 1).replace("{c}", name)
        }
    })
}

/// A `LIKE` pattern (escape `!`) as a SQLite `GLOB` pattern: `%` → `*`, `_` → `?`, and
/// the characters special to GLOB in brackets.
fn glob(like: &str) -> String {
    let mut out = String::with_capacity(like.len());
    let mut chars = like.chars();
    while let Some(c) = chars.next() {
        let literal = match c {
            '%' => {
                out.push('*');
                continue;
            }
            '_' => {
                out.push('?');
                continue;
            }
            '!' => chars.next().unwrap_or('!'),
            c => c,
        };
        match literal {
            '*' | '?' | '[' => {
                out.push('[');
                out.push(literal);
                out.push(']');
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests;
