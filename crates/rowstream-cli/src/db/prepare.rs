//! Preparing SQL before it runs: the named queries at start-up ([`check_queries`]), and the
//! column names of a result for a CSV header ([`column_names`]).

use std::collections::BTreeMap;

use super::Database;
use crate::config::NamedQuery;

/// Checks each named query against the database before serving: it must prepare (on
/// PostgreSQL with its parameters' types, so a type mismatch shows now), take as many
/// parameters as it lists, and name each of its result's columns once — a row is an
/// object keyed by column name (JSON, MessagePack), where a second column of one name
/// would hide the first from whoever reads the object.
///
/// # Errors
///
/// Names the first query that does not prepare, whose parameter count differs, or whose
/// result has two columns of one name.
pub async fn check_queries(
    db: &Database,
    queries: &BTreeMap<String, NamedQuery>,
) -> anyhow::Result<()> {
    use sqlx::{ConnectOptions as _, Connection as _, Executor as _};
    fn shape<'q, S: sqlx::Statement<'q>>(statement: &S) -> (Option<usize>, Option<String>) {
        let mut seen = std::collections::HashSet::new();
        let twice = statement
            .columns()
            .iter()
            .map(sqlx::Column::name)
            .find(|name| !seen.insert(*name));
        (
            statement.parameters().map(params_len),
            twice.map(str::to_owned),
        )
    }
    if queries.is_empty() {
        return Ok(());
    }
    // A connection of its own: PostgreSQL statements prepared here must not stay in the
    // statement cache of a pooled connection with types inferred without the parameters.
    let mut pg = match db {
        Database::Postgres(pool) => Some(pool.connect_options().connect().await?),
        _ => None,
    };
    for (name, query) in queries {
        let (count, twice) = match (db, pg.as_mut()) {
            (Database::Postgres(_), Some(conn)) => {
                let types: Vec<_> = query.params.iter().map(|p| pg_type(p.ty)).collect();
                conn.prepare_with(query.sql.as_str(), &types)
                    .await
                    .map(|s| shape(&s))
            }
            (Database::Sqlite(pool), _) => {
                pool.prepare(query.sql.as_str()).await.map(|s| shape(&s))
            }
            (Database::MySql { pool, .. }, _) => {
                pool.prepare(query.sql.as_str()).await.map(|s| shape(&s))
            }
            (Database::Postgres(_), None) => Ok((None, None)),
        }
        .map_err(|err| anyhow::anyhow!("named query {name:?} does not prepare: {err}"))?;
        if let Some(column) = twice {
            anyhow::bail!(
                "named query {name:?} returns two columns named {column:?}; a row is an \
                 object keyed by column name, so give each column a name of its own (AS)"
            );
        }
        if let Some(count) = count {
            if count != query.params.len() {
                anyhow::bail!(
                    "named query {name:?} has {count} placeholder(s) but lists {} parameter(s)",
                    query.params.len()
                );
            }
        }
    }
    if let Some(conn) = pg {
        conn.close().await?;
    }
    Ok(())
}

/// The PostgreSQL type a parameter is bound as.
fn pg_type(ty: crate::config::ParamType) -> sqlx::postgres::PgTypeInfo {
    use crate::config::ParamType;
    use sqlx::{Postgres, Type};
    match ty {
        ParamType::Int => <i64 as Type<Postgres>>::type_info(),
        ParamType::Float => <f64 as Type<Postgres>>::type_info(),
        ParamType::Bool => <bool as Type<Postgres>>::type_info(),
        ParamType::Text | ParamType::Date => <String as Type<Postgres>>::type_info(),
    }
}

fn params_len<T>(params: sqlx::Either<&[T], usize>) -> usize {
    match params {
        sqlx::Either::Left(types) => types.len(),
        sqlx::Either::Right(count) => count,
    }
}

/// The column names of `sql`'s result, from preparing it afresh (on PostgreSQL with
/// `params`' types, so the cached statement matches what is bound later): a statement
/// the connection prepared before an `ALTER TABLE … RENAME COLUMN` still names the old
/// column, so the connection's statement cache is cleared first.
///
/// # Errors
///
/// If the statement does not prepare.
pub async fn column_names(
    db: &Database,
    sql: &str,
    params: Option<&[crate::config::Param]>,
) -> Result<Vec<String>, sqlx::Error> {
    use sqlx::{Connection as _, Executor as _, Statement as _};
    fn names<C: sqlx::Column>(columns: &[C]) -> Vec<String> {
        columns.iter().map(|c| c.name().to_owned()).collect()
    }
    Ok(match db {
        Database::Sqlite(pool) => {
            let mut conn = pool.acquire().await?;
            conn.clear_cached_statements().await?;
            names(conn.prepare(sql).await?.columns())
        }
        Database::Postgres(pool) => {
            let types: Vec<_> = params
                .unwrap_or_default()
                .iter()
                .map(|p| pg_type(p.ty))
                .collect();
            let mut conn = pool.acquire().await?;
            conn.clear_cached_statements().await?;
            names(conn.prepare_with(sql, &types).await?.columns())
        }
        Database::MySql { pool, .. } => {
            let mut conn = pool.acquire().await?;
            conn.clear_cached_statements().await?;
            names(conn.prepare(sql).await?.columns())
        }
    })
}
