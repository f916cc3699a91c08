//! The HTTP side: the [`router`] with its endpoints, and [`serve`] with `TCP_NODELAY` and
//! graceful shutdown.

use std::future::{Future, IntoFuture as _};
use std::time::Duration;

use axum::Router;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use axum::serve::ListenerExt as _;
use rowstream::axum::Problem;
use rowstream::{Identity, JsonArray, Streamer};
use sqlx::SqlitePool;
use tokio::net::TcpListener;

/// Shared state of the handlers.
#[derive(Debug, Clone)]
struct AppState {
    pool: SqlitePool,
    streamer: Streamer,
}

/// The application: `GET /healthz`, `GET /tables`, `GET /tables/{table}`.
///
/// - `/healthz` answers `200 ok`.
/// - `/tables` lists the tables and views of the `main` schema (without SQLite's own
///   `sqlite_*` tables) as a JSON array of names, sorted.
/// - `/tables/{table}` streams every row of that table or view as a JSON array of objects
///   (column name → value, in column order); rowid tables in rowid order, `WITHOUT ROWID`
///   tables in primary key order, views in the order SQLite yields. The name must match a
///   catalog entry exactly, else `404` with an `application/problem+json` body.
pub fn router(pool: SqlitePool) -> Router {
    router_with(pool, Streamer::default())
}

/// [`router`] with a configured [`Streamer`] (chunk threshold, buffers, flush interval).
pub fn router_with(pool: SqlitePool, streamer: Streamer) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/tables", get(list_tables))
        .route("/tables/{table}", get(export_table))
        .with_state(AppState { pool, streamer })
}

async fn healthz() -> &'static str {
    "ok"
}

/// Tables and views of `main`, without SQLite's reserved `sqlite_*` names.
const CATALOG_FILTER: &str = "type IN ('table', 'view') AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'";

/// One catalog entry by exact name, with its kind from `pragma_table_list` (`table`,
/// `view`, `virtual`, `shadow`) and whether it is a `WITHOUT ROWID` table.
const RESOLVE_SQL: &str = "SELECT s.name, coalesce(l.type, s.type), coalesce(l.wr, 0) \
     FROM main.sqlite_schema AS s \
     LEFT JOIN pragma_table_list AS l ON l.schema = 'main' AND l.name = s.name \
     WHERE s.name = ?1 AND s.type IN ('table', 'view') \
     AND s.name NOT LIKE 'sqlite\\_%' ESCAPE '\\'";

async fn list_tables(State(state): State<AppState>) -> Response {
    let sql = format!("SELECT name FROM main.sqlite_schema WHERE {CATALOG_FILTER} ORDER BY name");
    match sqlx::query_scalar::<_, String>(&sql)
        .fetch_all(&state.pool)
        .await
    {
        Ok(names) => Json(names).into_response(),
        Err(err) => database_problem(&err),
    }
}

async fn export_table(
    State(state): State<AppState>,
    table: Result<Path<String>, PathRejection>,
) -> Response {
    let name = match table {
        Ok(Path(name)) => name,
        Err(rejection) => {
            return Problem::new(StatusCode::BAD_REQUEST, "Invalid table name")
                .with_detail(rejection.body_text())
                .into_response();
        }
    };
    let table = match resolve(&state.pool, &name).await {
        Ok(Some(table)) => table,
        Ok(None) => {
            return Problem::new(StatusCode::NOT_FOUND, "No such table")
                .with_detail("no table or view has this name; GET /tables lists them")
                .into_response();
        }
        Err(err) => return database_problem(&err),
    };
    let sql = table.select_sql();
    tracing::debug!(%sql, "export");
    let rows = rowstream::sqlite::rows(state.pool.clone(), sql);
    rowstream::axum::into_response(state.streamer.stream(rows, Identity, JsonArray::new())).await
}

fn database_problem(err: &sqlx::Error) -> Response {
    tracing::error!(%err, "catalog query failed");
    Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "The database failed")
        .with_detail(err.to_string())
        .into_response()
}

/// A catalog entry that may be exported, and how to order it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Table {
    /// The exact name from the catalog.
    name: String,
    /// The `ORDER BY` expression, already quoted; `None` for views and virtual tables.
    order_by: Option<String>,
}

impl Table {
    fn select_sql(&self) -> String {
        let mut sql = format!("SELECT * FROM main.{}", quote_ident(&self.name));
        if let Some(order_by) = &self.order_by {
            sql.push_str(" ORDER BY ");
            sql.push_str(order_by);
        }
        sql
    }
}

/// Looks `name` up in the catalog (exact, case-sensitive match). Only catalog names ever
/// reach SQL text, and always quoted.
async fn resolve(pool: &SqlitePool, name: &str) -> Result<Option<Table>, sqlx::Error> {
    let Some((name, kind, without_rowid)) =
        sqlx::query_as::<_, (String, String, bool)>(RESOLVE_SQL)
            .bind(name)
            .fetch_optional(pool)
            .await?
    else {
        return Ok(None);
    };
    if kind != "table" {
        return Ok(Some(Table {
            name,
            order_by: None,
        }));
    }
    let columns: Vec<(String, i64)> =
        sqlx::query_as("SELECT name, pk FROM pragma_table_info(?1, 'main') ORDER BY cid")
            .bind(&name)
            .fetch_all(pool)
            .await?;
    let order_by = if without_rowid {
        primary_key_order(&columns)
    } else {
        rowid_alias(&columns).map(str::to_owned)
    };
    Ok(Some(Table { name, order_by }))
}

/// The primary key columns, quoted, in key order.
fn primary_key_order(columns: &[(String, i64)]) -> Option<String> {
    let mut key: Vec<&(String, i64)> = columns.iter().filter(|(_, pk)| *pk > 0).collect();
    key.sort_by_key(|(_, pk)| *pk);
    (!key.is_empty()).then(|| {
        key.iter()
            .map(|(name, _)| quote_ident(name))
            .collect::<Vec<_>>()
            .join(", ")
    })
}

/// A name for the rowid that no column shadows (`rowid`, `_rowid_` or `oid`).
fn rowid_alias(columns: &[(String, i64)]) -> Option<&'static str> {
    ["rowid", "_rowid_", "oid"].into_iter().find(|alias| {
        !columns
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case(alias))
    })
}

/// Quotes an SQL identifier: wrapped in double quotes, inner double quotes doubled.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Serves `app` on `listener` until `shutdown` completes, then stops accepting and lets
/// open requests finish for up to `grace` before dropping them.
///
/// Accepted sockets get `TCP_NODELAY`, so small chunks are not held back by Nagle's
/// algorithm against delayed ACKs.
///
/// # Errors
///
/// If the server fails.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<()> {
    let listener = listener.tap_io(|tcp| {
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::warn!(%err, "cannot set TCP_NODELAY");
        }
    });
    let (stopping_tx, mut stopping) = tokio::sync::watch::channel(false);
    let server = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!("shutting down; waiting for open requests");
            let _ = stopping_tx.send(true);
        })
        .into_future();
    let deadline = async move {
        if stopping.wait_for(|stopping| *stopping).await.is_ok() {
            tokio::time::sleep(grace).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        result = server => result,
        () = deadline => {
            tracing::warn!(?grace, "open requests did not finish in time; closing them");
            Ok(())
        }
    }
}

/// Completes on Ctrl-C (SIGINT) or, on Unix, SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::warn!(%err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(err) => {
                tracing::warn!(%err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols(names: &[(&str, i64)]) -> Vec<(String, i64)> {
        names.iter().map(|(n, pk)| ((*n).to_owned(), *pk)).collect()
    }

    #[test]
    fn quoting() {
        assert_eq!(quote_ident("t"), r#""t""#);
        assert_eq!(
            quote_ident(r#"x"; DROP TABLE t; --"#),
            r#""x""; DROP TABLE t; --""#
        );
        assert_eq!(quote_ident(r#""""#), r#""""""""#);
    }

    #[test]
    fn rowid_alias_avoids_shadowing_columns() {
        assert_eq!(rowid_alias(&cols(&[("id", 1)])), Some("rowid"));
        assert_eq!(rowid_alias(&cols(&[("RowID", 0)])), Some("_rowid_"));
        assert_eq!(
            rowid_alias(&cols(&[("rowid", 0), ("_rowid_", 0)])),
            Some("oid")
        );
        assert_eq!(
            rowid_alias(&cols(&[("rowid", 0), ("_rowid_", 0), ("OID", 0)])),
            None
        );
    }

    #[test]
    fn primary_key_in_key_order() {
        assert_eq!(
            primary_key_order(&cols(&[("a", 2), ("b", 0), ("c\"", 1)])),
            Some(r#""c""", "a""#.to_owned())
        );
        assert_eq!(primary_key_order(&cols(&[("a", 0)])), None);
    }
}
