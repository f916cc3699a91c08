//! How many rows an export will send, before it starts: `Prefer: count=exact` (a
//! `COUNT(*)` with the slice's filters) or `count=estimated` (the catalog's statistics).

use rowstream::keyset::Key;

use super::super::Database;
use super::super::catalog::{self, Table};
use super::SliceQuery;
use super::read::arguments;

/// What a client asked to count (RFC 7240 `Prefer: count=…`, as PostgREST spells it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountKind {
    /// `count=exact`: `SELECT COUNT(*)` with the export's filters.
    Exact,
    /// `count=estimated`: the catalog's row estimate of the table when the export has no
    /// filter and the database keeps one (PostgreSQL `pg_class.reltuples` once analyzed,
    /// MySQL/MariaDB `information_schema.TABLES.TABLE_ROWS`); an exact count otherwise.
    Estimated,
}

impl CountKind {
    /// The count preference in `Prefer` header values (`count=exact`,
    /// `count=estimated`; `count=planned` is read as `estimated`), if any. Other
    /// preferences are ignored, as RFC 7240 says.
    pub fn from_prefer<'a>(values: impl Iterator<Item = &'a str>) -> Option<Self> {
        values
            .flat_map(|value| value.split([',', ';']))
            .filter_map(|token| {
                let (name, value) = token.split_once('=')?;
                (name.trim().eq_ignore_ascii_case("count")).then(|| value.trim())
            })
            .find_map(|value| match value.to_ascii_lowercase().as_str() {
                "exact" => Some(Self::Exact),
                "estimated" | "planned" => Some(Self::Estimated),
                _ => None,
            })
    }
}

/// A row count and how it was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowCount {
    /// The rows (no more than the export's limit).
    pub rows: u64,
    /// `true` for a `COUNT(*)`, `false` for the catalog's estimate.
    pub exact: bool,
}

impl RowCount {
    /// What the count applied, for `Preference-Applied`: `count=exact` or
    /// `count=estimated`.
    pub fn applied(self) -> &'static str {
        if self.exact {
            "count=exact"
        } else {
            "count=estimated"
        }
    }
}

/// Counts the rows of `query`, a slice of `table` (after the key `after` when it is read
/// by keyset pagination), as `kind` asks; capped at the slice's limit.
///
/// # Errors
///
/// If the count or the catalog query fails.
pub async fn count(
    db: &Database,
    table: &Table,
    query: &SliceQuery,
    after: Option<&Key>,
    kind: CountKind,
) -> Result<RowCount, sqlx::Error> {
    let cap = |rows: u64| query.limit.map_or(rows, |limit| rows.min(limit));
    let paged_after = after.filter(|_| query.paged());
    if kind == CountKind::Estimated && query.conditions.is_empty() && paged_after.is_none() {
        if let Some(rows) = catalog::row_estimates(db).await?.get(&table.name) {
            return Ok(RowCount {
                rows: cap(*rows),
                exact: false,
            });
        }
    }
    let sql = query.count_sql(paged_after.is_some());
    let binds = query.binds();
    let rows: i64 = match db {
        Database::Sqlite(pool) => {
            let args = arguments::<sqlx::sqlite::SqliteArguments<'static>>(binds, paged_after)?;
            sqlx::query_scalar_with(&sql, args).fetch_one(pool).await?
        }
        Database::Postgres(pool) => {
            let args = arguments::<sqlx::postgres::PgArguments>(binds, paged_after)?;
            sqlx::query_scalar_with(&sql, args).fetch_one(pool).await?
        }
        Database::MySql { pool, .. } => {
            let args = arguments::<sqlx::mysql::MySqlArguments>(binds, paged_after)?;
            sqlx::query_scalar_with(&sql, args).fetch_one(pool).await?
        }
    };
    Ok(RowCount {
        rows: cap(u64::try_from(rows).unwrap_or(0)),
        exact: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefer_headers() {
        let read = |values: &[&str]| CountKind::from_prefer(values.iter().copied());
        assert_eq!(read(&["count=exact"]), Some(CountKind::Exact));
        assert_eq!(
            read(&["return=minimal, count=estimated"]),
            Some(CountKind::Estimated)
        );
        assert_eq!(
            read(&["handling=lenient", "Count=Planned"]),
            Some(CountKind::Estimated)
        );
        assert_eq!(read(&["count=sometimes"]), None);
        assert_eq!(read(&["return=minimal"]), None);
        assert_eq!(read(&[]), None);
    }
}
