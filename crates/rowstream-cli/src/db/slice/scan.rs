//! The SQLite storage classes an export will meet, read before its first row (an Arrow
//! schema is written first): one aggregate over the rows the export reads, not the table.

use rowstream::keyset::Key;
use sqlx::sqlite::SqlitePool;

use super::SliceQuery;
use super::read::arguments;

/// For each of `columns` (names in the table), the storage classes it holds among the rows
/// `query` reads (after the key `after` when it is read by keyset pagination), as bits:
/// 1 integer, 2 real, 4 text, 8 blob; `0` for a column of only NULLs. With a `limit`
/// only those rows are read (their order, then the limit); without one, the rows the
/// filters keep.
///
/// # Errors
///
/// If the query fails.
pub async fn sqlite_classes(
    pool: &SqlitePool,
    query: &SliceQuery,
    after: Option<&Key>,
    columns: &[String],
) -> Result<Vec<i64>, sqlx::Error> {
    if columns.is_empty() {
        return Ok(Vec::new());
    }
    let paged_after = after.filter(|_| query.paged());
    let sql = format!(
        "SELECT {} FROM ({})",
        columns
            .iter()
            .map(|name| flags(&crate::db::catalog::quote_ident(name)))
            .collect::<Vec<_>>()
            .join(", "),
        query.rows_sql(paged_after.is_some())
    );
    let args = arguments::<sqlx::sqlite::SqliteArguments<'static>>(query.binds(), paged_after)?;
    let row = sqlx::query_with(&sql, args).fetch_one(pool).await?;
    (0..columns.len())
        .map(|i| sqlx::Row::try_get::<i64, _>(&row, i))
        .collect()
}

/// The storage-class bits of the quoted column `c` over the rows of an aggregate.
fn flags(c: &str) -> String {
    format!(
        "coalesce(max(typeof({c}) = 'integer'), 0) + 2 * coalesce(max(typeof({c}) = 'real'), 0) \
         + 4 * coalesce(max(typeof({c}) = 'text'), 0) + 8 * coalesce(max(typeof({c}) = 'blob'), 0)"
    )
}
