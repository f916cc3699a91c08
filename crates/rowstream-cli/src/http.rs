//! The HTTP side: the [`router`] with its endpoints, and [`serve`] with `TCP_NODELAY` and
//! graceful shutdown.

use std::collections::BTreeMap;
use std::future::{Future, IntoFuture as _};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, BodyDataStream, Bytes};
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use axum::serve::ListenerExt as _;
use futures_util::{Stream, StreamExt as _};
use rowstream::axum::Problem;
use rowstream::keyset::Keyset;
use rowstream::mysql::RecordOptions;
use rowstream::{ChunkStream, Identity, JsonArray, Streamer};
use sqlx::Arguments;
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub use crate::catalog::quote_ident;
use crate::catalog::{self, Plan, Table};
use crate::config::{NamedQuery, Value};
use crate::db::Database;

/// Seconds a client is asked to wait (`Retry-After`) when every export slot is taken.
pub const RETRY_AFTER_SECS: u32 = 1;

/// How the [`router`] serves: the streamer, the keyset page size, the concurrency limit and
/// the named queries.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Chunking and buffers of every export. Default: [`Streamer::default`].
    pub streamer: Streamer,
    /// Rows per keyset page; `0` for the default, 1,000.
    pub batch_size: usize,
    /// Exports (tables and named queries) in flight at once; `None` for the pool size
    /// less one (at least 1), so catalog queries always find a connection.
    pub max_streams: Option<usize>,
    /// The named queries, by name.
    pub queries: BTreeMap<String, NamedQuery>,
}

/// Shared state of the handlers.
#[derive(Debug, Clone)]
struct AppState {
    db: Database,
    streamer: Streamer,
    batch_size: usize,
    max_streams: usize,
    streams: Arc<Semaphore>,
    queries: Arc<BTreeMap<String, NamedQuery>>,
}

/// The application with default [`Settings`]; see [`router_with`].
pub fn router(db: impl Into<Database>) -> Router {
    router_with(db, Settings::default())
}

/// The application:
///
/// - `GET /healthz` answers `200 ok`.
/// - `GET /tables` lists the tables and views of the current schema (PostgreSQL), database
///   (MySQL) or `main` (SQLite, without its `sqlite_*` tables) as a JSON array of names,
///   sorted.
/// - `GET /tables/{table}` streams every row of that table or view as a JSON array of
///   objects (column name → value, in column order). The name must match a catalog entry
///   exactly, else `404`. A table with a single-column integer or text primary key (in
///   SQLite an `INTEGER PRIMARY KEY`, or the key of a `WITHOUT ROWID` table) is read by
///   keyset pagination, `batch_size` rows per query, in key order; other tables in one
///   query, in primary key order (SQLite: rowid order) when they have one; views in the
///   order the database yields.
/// - `GET /queries` lists the named queries with their parameters.
/// - `GET /queries/{name}?param=value…` streams a named query with its parameters bound;
///   an unknown name is a `404`, a missing, malformed, repeated or unknown parameter a
///   `400` naming it, before anything runs.
///
/// Exports hold one of `max_streams` slots from the request until the response body ends
/// or the client leaves; without a free slot a request gets `503` with `Retry-After` at
/// once, before any query runs. `/healthz`, `/tables` and `/queries` take no slot.
/// Every error before the first byte is an `application/problem+json` body.
pub fn router_with(db: impl Into<Database>, settings: Settings) -> Router {
    let db = db.into();
    let pool_size = usize::try_from(db.pool_size()).unwrap_or(usize::MAX);
    let max_streams = settings
        .max_streams
        .unwrap_or_else(|| pool_size.saturating_sub(1))
        .max(1);
    Router::new()
        .route("/healthz", get(healthz))
        .route("/tables", get(list_tables))
        .route("/tables/{table}", get(export_table))
        .route("/queries", get(list_queries))
        .route("/queries/{name}", get(run_query))
        .with_state(AppState {
            db,
            streamer: settings.streamer,
            batch_size: settings.batch_size,
            max_streams,
            streams: Arc::new(Semaphore::new(max_streams)),
            queries: Arc::new(settings.queries),
        })
}

async fn healthz() -> &'static str {
    "ok"
}

async fn list_tables(State(state): State<AppState>) -> Response {
    match catalog::list(&state.db).await {
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
    let Some(permit) = state.permit() else {
        return busy(state.max_streams);
    };
    let table = match catalog::resolve(&state.db, &name).await {
        Ok(Some(table)) => table,
        Ok(None) => {
            return Problem::new(StatusCode::NOT_FOUND, "No such table")
                .with_detail("no table or view has this name; GET /tables lists them")
                .into_response();
        }
        Err(err) => return database_problem(&err),
    };
    let chunks = state.table_chunks(&table);
    hold(rowstream::axum::into_response(chunks).await, permit)
}

impl AppState {
    /// An export slot, if one is free.
    fn permit(&self) -> Option<OwnedSemaphorePermit> {
        self.streams.clone().try_acquire_owned().ok()
    }

    fn keyset(&self, table: &Table, key: &str) -> Keyset {
        Keyset::new(&table.name, key)
            .schema(&table.schema)
            .batch_size(self.batch_size)
    }

    /// Starts the export of `table`.
    fn table_chunks(&self, table: &Table) -> ChunkStream {
        let (streamer, encoder) = (&self.streamer, JsonArray::new());
        match (&self.db, &table.plan) {
            (Database::Sqlite(pool), Plan::Keyset { key }) => {
                let pages = rowstream::sqlite::keyset(pool.clone(), self.keyset(table, key));
                streamer.stream_batches(pages, Identity, encoder)
            }
            (Database::Postgres(pool), Plan::Keyset { key }) => {
                let pages = rowstream::postgres::keyset(pool.clone(), self.keyset(table, key));
                streamer.stream_batches(pages, Identity, encoder)
            }
            (Database::MySql { pool, .. }, Plan::Keyset { key }) => {
                let options = RecordOptions::default().json_columns(table.json_columns.clone());
                let pages =
                    rowstream::mysql::keyset(pool.clone(), self.keyset(table, key), options);
                streamer.stream_batches(pages, Identity, encoder)
            }
            (Database::Sqlite(pool), Plan::Single { .. }) => {
                let rows = rowstream::sqlite::rows(pool.clone(), table.select_sql(&self.db));
                streamer.stream(rows, Identity, encoder)
            }
            (Database::Postgres(pool), Plan::Single { .. }) => {
                let rows = rowstream::postgres::rows(pool.clone(), table.select_sql(&self.db));
                streamer.stream(rows, Identity, encoder)
            }
            (Database::MySql { pool, .. }, Plan::Single { .. }) => {
                let options = RecordOptions::default().json_columns(table.json_columns.clone());
                let rows = rowstream::mysql::rows_with(
                    pool.clone(),
                    table.select_sql(&self.db),
                    Default::default(),
                    options,
                );
                streamer.stream(rows, Identity, encoder)
            }
        }
    }

    /// Starts a named query with its values bound.
    fn query_chunks(
        &self,
        query: &NamedQuery,
        values: &[Value],
    ) -> Result<ChunkStream, sqlx::error::BoxDynError> {
        let (streamer, encoder) = (&self.streamer, JsonArray::new());
        Ok(match &self.db {
            Database::Sqlite(pool) => {
                let args = bind::<sqlx::sqlite::SqliteArguments<'static>>(values)?;
                let rows = rowstream::sqlite::rows_with(pool.clone(), query.sql.clone(), args);
                streamer.stream(rows, Identity, encoder)
            }
            Database::Postgres(pool) => {
                let args = bind::<sqlx::postgres::PgArguments>(values)?;
                let rows = rowstream::postgres::rows_with(pool.clone(), query.sql.clone(), args);
                streamer.stream(rows, Identity, encoder)
            }
            Database::MySql { pool, .. } => {
                let args = bind::<sqlx::mysql::MySqlArguments>(values)?;
                let rows = rowstream::mysql::rows_with(
                    pool.clone(),
                    query.sql.clone(),
                    args,
                    RecordOptions::default(),
                );
                streamer.stream(rows, Identity, encoder)
            }
        })
    }
}

/// Binds parsed values, in order, as a database's arguments.
fn bind<'q, A>(values: &[Value]) -> Result<A, sqlx::error::BoxDynError>
where
    A: Arguments<'q>,
    i64: sqlx::Encode<'q, A::Database> + sqlx::Type<A::Database>,
    f64: sqlx::Encode<'q, A::Database> + sqlx::Type<A::Database>,
    bool: sqlx::Encode<'q, A::Database> + sqlx::Type<A::Database>,
    String: sqlx::Encode<'q, A::Database> + sqlx::Type<A::Database>,
{
    let mut args = A::default();
    for value in values {
        match value {
            Value::Int(v) => args.add(*v)?,
            Value::Float(v) => args.add(*v)?,
            Value::Bool(v) => args.add(*v)?,
            Value::Text(v) => args.add(v.clone())?,
        }
    }
    Ok(args)
}

async fn list_queries(State(state): State<AppState>) -> Response {
    #[derive(serde::Serialize)]
    struct Listed<'a> {
        name: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        description: Option<&'a str>,
        params: Vec<ListedParam<'a>>,
    }
    #[derive(serde::Serialize)]
    struct ListedParam<'a> {
        name: &'a str,
        r#type: String,
    }
    let listed: Vec<Listed<'_>> = state
        .queries
        .iter()
        .map(|(name, query)| {
            let mut params: Vec<ListedParam<'_>> = Vec::new();
            for param in &query.params {
                if !params.iter().any(|p| p.name == param.name) {
                    params.push(ListedParam {
                        name: &param.name,
                        r#type: param.ty.to_string(),
                    });
                }
            }
            Listed {
                name,
                description: query.description.as_deref(),
                params,
            }
        })
        .collect();
    Json(listed).into_response()
}

async fn run_query(
    State(state): State<AppState>,
    name: Result<Path<String>, PathRejection>,
    params: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Response {
    let name = match name {
        Ok(Path(name)) => name,
        Err(rejection) => {
            return Problem::new(StatusCode::BAD_REQUEST, "Invalid query name")
                .with_detail(rejection.body_text())
                .into_response();
        }
    };
    let Some(query) = state.queries.get(&name) else {
        return Problem::new(StatusCode::NOT_FOUND, "No such query")
            .with_detail("no named query has this name; GET /queries lists them")
            .into_response();
    };
    let params = match params {
        Ok(Query(params)) => params,
        Err(rejection) => {
            return Problem::new(StatusCode::BAD_REQUEST, "Invalid query string")
                .with_detail(rejection.body_text())
                .into_response();
        }
    };
    let values = match query.bind_values(&params) {
        Ok(values) => values,
        Err(err) => {
            return Problem::new(StatusCode::BAD_REQUEST, "Invalid parameter")
                .with_detail(err.to_string())
                .into_response();
        }
    };
    let Some(permit) = state.permit() else {
        return busy(state.max_streams);
    };
    match state.query_chunks(query, &values) {
        Ok(chunks) => hold(rowstream::axum::into_response(chunks).await, permit),
        Err(err) => Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "A parameter could not be bound",
        )
        .with_detail(err.to_string())
        .into_response(),
    }
}

/// `503` with `Retry-After`: every export slot is taken.
fn busy(max_streams: usize) -> Response {
    let mut response = Problem::new(StatusCode::SERVICE_UNAVAILABLE, "Too many exports")
        .with_detail(format!(
            "{max_streams} exports are in flight, the most this server runs at once; \
             retry in {RETRY_AFTER_SECS} s"
        ))
        .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
    response
}

/// Keeps `permit` until the response body is finished or dropped (the client left).
fn hold(response: Response, permit: OwnedSemaphorePermit) -> Response {
    response.map(|body| {
        Body::from_stream(Held {
            body: body.into_data_stream(),
            _permit: permit,
        })
    })
}

/// A response body that holds an export slot for as long as it lives.
struct Held {
    body: BodyDataStream,
    _permit: OwnedSemaphorePermit,
}

impl Stream for Held {
    type Item = Result<Bytes, axum::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.body.poll_next_unpin(cx)
    }
}

fn database_problem(err: &sqlx::Error) -> Response {
    tracing::error!(%err, "catalog query failed");
    Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "The database failed")
        .with_detail(err.to_string())
        .into_response()
}

/// Checks each named query against the database before serving: it must prepare (on
/// PostgreSQL with its parameters' types, so a type mismatch shows now), and take as many
/// parameters as it lists.
///
/// # Errors
///
/// Names the first query that does not prepare or whose parameter count differs.
pub async fn check_queries(
    db: &Database,
    queries: &BTreeMap<String, NamedQuery>,
) -> anyhow::Result<()> {
    use sqlx::{ConnectOptions as _, Connection as _, Executor as _, Statement as _};
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
        let count = match (db, pg.as_mut()) {
            (Database::Postgres(_), Some(conn)) => {
                let types: Vec<_> = query.params.iter().map(|p| pg_type(p.ty)).collect();
                conn.prepare_with(query.sql.as_str(), &types)
                    .await
                    .map(|s| s.parameters().map(params_len))
            }
            (Database::Sqlite(pool), _) => pool
                .prepare(query.sql.as_str())
                .await
                .map(|s| s.parameters().map(params_len)),
            (Database::MySql { pool, .. }, _) => pool
                .prepare(query.sql.as_str())
                .await
                .map(|s| s.parameters().map(params_len)),
            (Database::Postgres(_), None) => Ok(None),
        }
        .map_err(|err| anyhow::anyhow!("named query {name:?} does not prepare: {err}"))?;
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
