//! The HTTP side: the [`router`] with its endpoints, and [`serve`] with `TCP_NODELAY`, a
//! header read timeout, a header size limit and graceful shutdown.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, BodyDataStream, Bytes};
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use axum::serve::ListenerExt as _;
use futures_util::{Stream, StreamExt as _};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use rowstream::axum::{Negotiated, Problem, StreamResponse, WriteTimeoutListener};
use rowstream::compress::Level;
use rowstream::metrics::MetricsObserver;
use rowstream::{AnyEncoder, ChunkStream, Csv, Encoder as _, Format, Streamer};
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tracing::Instrument as _;

use crate::access::{self, TableFilter, Token};
pub use crate::catalog::quote_ident;
use crate::catalog::{self, Table};
use crate::chunks;
use crate::config::{NamedQuery, Value};
use crate::db::Database;

/// Seconds a client is asked to wait (`Retry-After`) when every export slot is taken.
pub const RETRY_AFTER_SECS: u32 = 1;

/// The request header carrying a request id, echoed in every response.
pub const REQUEST_ID: &str = "x-request-id";

/// Query parameters the server reads itself: they pick the format and the completion
/// record, and are never bound to a named query.
pub const RESERVED_PARAMS: [&str; 2] = ["format", "complete"];

/// Longest a client may take to send a request's line and headers (from the moment the
/// server starts reading them, which on a kept-alive connection is the end of the
/// previous response) before the connection is closed: slow or idle clients cannot hold
/// connections open.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Most bytes a request's line and headers may take; larger requests get `431`.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// How the [`router`] serves: the streamer, the keyset page size, the concurrency limit and
/// the named queries.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Chunking, buffers and [`Limits`](rowstream::Limits) of every export. Default:
    /// [`Streamer::default`].
    pub streamer: Streamer,
    /// Rows per keyset page; `0` for the default, 1,000.
    pub batch_size: usize,
    /// Exports (tables and named queries) in flight at once; `None` for the pool size
    /// less one (at least 1), so catalog queries always find a connection.
    pub max_streams: Option<usize>,
    /// The named queries, by name.
    pub queries: BTreeMap<String, NamedQuery>,
    /// Compression level of compressed responses. Default
    /// [`rowstream::compress::DEFAULT_LEVEL`].
    pub compression_level: Level,
    /// The Prometheus recorder's handle ([`install_metrics`]); with one, `GET /metrics`
    /// renders it.
    pub metrics: Option<PrometheusHandle>,
    /// With a token, every request but `GET /healthz` must carry `Authorization: Bearer
    /// <token>`, else `401`.
    pub token: Option<Token>,
    /// The tables served; the others answer as if they did not exist.
    pub tables: TableFilter,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            streamer: Streamer::default(),
            batch_size: 0,
            max_streams: None,
            queries: BTreeMap::new(),
            compression_level: rowstream::compress::DEFAULT_LEVEL,
            metrics: None,
            token: None,
            tables: TableFilter::default(),
        }
    }
}

/// Installs the process-wide Prometheus recorder (once; later calls return the same
/// handle) with histogram buckets for stream durations.
///
/// # Errors
///
/// If another `metrics` recorder was installed first.
pub fn install_metrics() -> anyhow::Result<PrometheusHandle> {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    if let Some(handle) = HANDLE.get() {
        return Ok(handle.clone());
    }
    let recorder = PrometheusBuilder::new()
        .set_buckets(&[
            0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0,
        ])?
        .build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder)
        .map_err(|err| anyhow::anyhow!("cannot install the metrics recorder: {err}"))?;
    rowstream::metrics::describe();
    metrics::describe_counter!(
        "rowstream_http_requests_total",
        metrics::Unit::Count,
        "HTTP requests answered, by status code."
    );
    metrics::describe_gauge!(
        "rowstream_db_connections",
        metrics::Unit::Count,
        "Database pool connections, by state: in_use or idle (sampled at each scrape)."
    );
    metrics::describe_counter!(
        "rowstream_requests_rejected_total",
        metrics::Unit::Count,
        "Exports refused before running, by reason (max_streams: 503 with Retry-After)."
    );
    Ok(HANDLE.get_or_init(|| handle).clone())
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
    compression_level: Level,
    metrics: Option<PrometheusHandle>,
    tables: Arc<TableFilter>,
}

/// The application with default [`Settings`]; see [`router_with`].
pub fn router(db: impl Into<Database>) -> Router {
    router_with(db, Settings::default())
}

/// The application:
///
/// - `GET /` is an HTML page listing the tables and named queries with a link per format.
/// - `GET /healthz` answers `200 ok`.
/// - `GET /tables` lists the tables and views of the current schema (PostgreSQL), database
///   (MySQL) or `main` (SQLite, without its `sqlite_*` tables) as a JSON array of names,
///   sorted.
/// - `GET /tables/{table}` streams every row of that table or view (column name → value,
///   in column order). The name must match a catalog entry exactly, else `404`. A table
///   with a single-column integer or text primary key (in SQLite an `INTEGER PRIMARY
///   KEY`, or the key of a `WITHOUT ROWID` table) is read by keyset pagination,
///   `batch_size` rows per query, in key order; other tables in one query, in primary key
///   order (SQLite: rowid order) when they have one; views in the order the database
///   yields.
/// - `GET /queries` lists the named queries with their parameters.
/// - `GET /queries/{name}?param=value…` streams a named query with its parameters bound;
///   an unknown name is a `404`, a missing, malformed, repeated or unknown parameter a
///   `400` naming it, before anything runs.
/// - `GET /metrics` (with [`Settings::metrics`]): Prometheus text exposition.
///
/// With [`Settings::token`], every request but `/healthz` needs `Authorization: Bearer
/// <token>`, else `401` with `WWW-Authenticate: Bearer`. Tables that
/// [`Settings::tables`] does not serve are absent from the lists and answer `404` exactly
/// as a missing table does. Unknown paths are `404` and other methods `405`, as
/// problem+json.
///
/// Exports are negotiated ([`Negotiated`]): `Accept` with q-values, or
/// `?format=json|ndjson|jsonseq|csv|msgpack`, else `406`; CSV has a header row from the
/// column names, even when empty. `?complete=true` ends NDJSON, JSON-seq and CSV with a
/// completion record; `TE: trailers` adds the outcome and row count as trailers.
/// Responses are compressed per `Accept-Encoding` (gzip, zstd, br), flushed at every
/// chunk. `HEAD` answers the headers of the `GET` without running the export.
///
/// Exports hold one of `max_streams` slots from the request until the response body ends
/// or the client leaves; without a free slot a request gets `503` with `Retry-After` at
/// once, before any query runs. `/healthz`, `/tables` and `/queries` take no slot.
/// Every error before the first byte is an `application/problem+json` body. Every
/// response carries `X-Request-Id` (the request's, or a new one) and each request runs
/// in a tracing span with it.
pub fn router_with(db: impl Into<Database>, settings: Settings) -> Router {
    let db = db.into();
    let pool_size = usize::try_from(db.pool_size()).unwrap_or(usize::MAX);
    let max_streams = settings
        .max_streams
        .unwrap_or_else(|| pool_size.saturating_sub(1))
        .max(1);
    let mut router = Router::new()
        .route("/", get(index))
        .route(access::HEALTH_PATH, get(healthz))
        .route("/tables", get(list_tables))
        .route("/tables/{table}", get(export_table))
        .route("/queries", get(list_queries))
        .route("/queries/{name}", get(run_query));
    if settings.metrics.is_some() {
        router = router.route("/metrics", get(render_metrics));
    }
    let mut router = router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(AppState {
            db,
            streamer: settings.streamer,
            batch_size: settings.batch_size,
            max_streams,
            streams: Arc::new(Semaphore::new(max_streams)),
            queries: Arc::new(settings.queries),
            compression_level: settings.compression_level,
            metrics: settings.metrics,
            tables: Arc::new(settings.tables),
        });
    if let Some(token) = settings.token {
        router = router.layer(middleware::from_fn(move |request, next| {
            access::require_token(token.clone(), request, next)
        }));
    }
    router.layer(middleware::from_fn(request_span))
}

async fn not_found() -> Response {
    Problem::new(StatusCode::NOT_FOUND, "Not found")
        .with_detail("no such endpoint; GET /tables and GET /queries list what is served")
        .into_response()
}

async fn method_not_allowed() -> Response {
    Problem::new(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed")
        .with_detail("this server only reads: use GET or HEAD")
        .into_response()
}

/// A request id: the request's `X-Request-Id` if it is 1–128 visible ASCII characters,
/// else a new one.
fn request_id(headers: &HeaderMap) -> HeaderValue {
    if let Some(id) = headers.get(REQUEST_ID) {
        let bytes = id.as_bytes();
        if (1..=128).contains(&bytes.len()) && bytes.iter().all(u8::is_ascii_graphic) {
            return id.clone();
        }
    }
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let random = {
        use std::hash::BuildHasher as _;
        std::collections::hash_map::RandomState::new().hash_one(n)
    };
    HeaderValue::from_str(&format!("{random:016x}{n:08x}"))
        .unwrap_or_else(|_| HeaderValue::from_static("0"))
}

/// Logs the end of each export in a `stream` span (a child of its request's span, so the
/// request id goes with it): outcome, rows, bytes, chunks, duration and time to first
/// byte; errors at `warn`.
#[derive(Debug)]
struct LogObserver {
    span: tracing::Span,
}

impl rowstream::StreamObserver for LogObserver {
    fn on_error(&self, error: &rowstream::StreamError) {
        let _entered = self.span.enter();
        tracing::warn!(kind = error.kind().as_str(), %error, "export failed");
    }

    fn on_complete(&self, summary: &rowstream::StreamSummary) {
        // Entered, so the line carries the request's span (and its id) too.
        let _entered = self.span.enter();
        tracing::info!(
            outcome = summary.outcome.as_str(),
            rows = summary.items,
            bytes = summary.bytes,
            chunks = summary.chunks,
            duration_ms = summary.duration.as_secs_f64() * 1e3,
            ttfb_ms = summary.time_to_first_byte.map(|t| t.as_secs_f64() * 1e3),
            "export ended"
        );
    }
}

/// Runs a request in a span with its id, echoes the id, counts the status.
async fn request_span(request: Request, next: Next) -> Response {
    let id = request_id(request.headers());
    let span = tracing::info_span!(
        "request",
        request_id = id.to_str().unwrap_or_default(),
        method = %request.method(),
        path = request.uri().path(),
        source = tracing::field::Empty,
        format = tracing::field::Empty,
        encoding = tracing::field::Empty,
        status = tracing::field::Empty,
    );
    let mut response = next.run(request).instrument(span.clone()).await;
    let status = response.status();
    span.record("status", status.as_u16());
    span.in_scope(|| tracing::debug!(status = status.as_u16(), "responded"));
    metrics::counter!("rowstream_http_requests_total", "status" => status.as_str().to_owned())
        .increment(1);
    response.headers_mut().insert(REQUEST_ID, id);
    response
}

async fn healthz() -> &'static str {
    "ok"
}

async fn render_metrics(State(state): State<AppState>) -> Response {
    let Some(handle) = &state.metrics else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let (size, idle) = match &state.db {
        Database::Sqlite(pool) => (pool.size(), pool.num_idle()),
        Database::Postgres(pool) => (pool.size(), pool.num_idle()),
        Database::MySql { pool, .. } => (pool.size(), pool.num_idle()),
    };
    let idle = u32::try_from(idle).unwrap_or(u32::MAX);
    metrics::gauge!("rowstream_db_connections", "state" => "idle").set(f64::from(idle));
    metrics::gauge!("rowstream_db_connections", "state" => "in_use")
        .set(f64::from(size.saturating_sub(idle)));
    let mut response = handle.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

async fn list_tables(State(state): State<AppState>) -> Response {
    match state.tables().await {
        Ok(names) => Json(names).into_response(),
        Err(err) => database_problem(&err),
    }
}

/// The index page: tables and named queries, with a link per format.
async fn index(State(state): State<AppState>) -> Response {
    let tables = match state.tables().await {
        Ok(names) => names,
        Err(err) => return database_problem(&err),
    };
    // Estimates are a nicety: without them the page still lists everything.
    let estimates = catalog::row_estimates(&state.db)
        .await
        .inspect_err(|err| tracing::warn!(%err, "cannot read row estimates"))
        .ok();
    let page = crate::index::Page {
        database: state.db.kind(),
        tables: &tables,
        estimates: estimates.as_ref(),
        estimate_source: catalog::estimate_source(&state.db),
        queries: &state.queries,
    };
    let mut response = axum::response::Html(page.render()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(crate::index::CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// What a request asks of an export: its format, completion record, trailers, coding.
struct Wanted {
    negotiated: Negotiated,
    complete: bool,
}

impl Wanted {
    /// Negotiates the format and reads `complete`; the error is the response to send.
    #[allow(clippy::result_large_err)]
    fn from_request(
        headers: &HeaderMap,
        uri: &Uri,
        params: &[(String, String)],
    ) -> Result<Self, Response> {
        if !query_is_utf8(uri.query().unwrap_or("")) {
            return Err(
                Problem::new(StatusCode::BAD_REQUEST, "Invalid query string")
                    .with_detail("the query string must be UTF-8 once percent-decoded")
                    .into_response(),
            );
        }
        let offered: Vec<Format> = Format::available().collect();
        let negotiated = Negotiated::from_headers(headers, uri.query(), &offered)
            .map_err(IntoResponse::into_response)?;
        let complete = match params.iter().rev().find(|(k, _)| k == "complete") {
            None => false,
            Some((_, v)) => match v.as_str() {
                "" | "true" | "1" => true,
                "false" | "0" => false,
                _ => {
                    return Err(Problem::new(StatusCode::BAD_REQUEST, "Invalid parameter")
                        .with_detail("complete must be true or false")
                        .into_response());
                }
            },
        };
        let span = tracing::Span::current();
        span.record("format", negotiated.format().name());
        span.record("encoding", negotiated.coding().as_str());
        Ok(Self {
            negotiated,
            complete,
        })
    }

    fn format(&self) -> Format {
        self.negotiated.format()
    }

    /// The encoder; a CSV one with `columns` as its header.
    fn encoder(&self, columns: Option<Vec<String>>) -> AnyEncoder {
        match (self.format(), columns) {
            (Format::Csv, Some(columns)) => {
                AnyEncoder::from(Csv::new().header(columns).completion_record(self.complete))
            }
            _ => self.negotiated.encoder().completion_record(self.complete),
        }
    }

    fn response(&self, level: Level) -> StreamResponse {
        StreamResponse::new()
            .trailers(self.negotiated.trailers())
            .compression(self.negotiated.coding(), level)
    }

    /// The answer to `HEAD`.
    fn head(&self, level: Level) -> Response {
        let encoder = self.encoder(Some(Vec::new()));
        self.response(level)
            .head(encoder.content_type())
            .into_response()
    }

    /// Sends `chunks`, observed by a metrics observer, holding `permit`.
    async fn respond(
        &self,
        source: &str,
        chunks: ChunkStream,
        permit: OwnedSemaphorePermit,
        level: Level,
    ) -> Response {
        let observer = MetricsObserver::new([
            ("source", source.to_owned()),
            ("format", self.format().name().to_owned()),
        ]);
        let log = LogObserver {
            span: tracing::info_span!(
                "stream",
                source,
                format = self.format().name(),
                encoding = self.negotiated.coding().as_str(),
            ),
        };
        let chunks = chunks.with_observer(Arc::new((observer, log)));
        hold(
            self.response(level).respond(chunks).await.into_response(),
            permit,
        )
    }
}

/// Whether `query` percent-decodes to UTF-8 (the form decoder would silently replace
/// invalid bytes with U+FFFD, and a parameter would be bound with another value).
fn query_is_utf8(query: &str) -> bool {
    let hex = |b: u8| char::from(b).to_digit(16);
    let bytes = query.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            if let Some(&[high, low]) = bytes.get(i + 1..i + 3) {
                if let (Some(high), Some(low)) = (hex(high), hex(low)) {
                    // Two hex digits: at most 0xFF.
                    decoded.push(u8::try_from(high * 16 + low).unwrap_or(u8::MAX));
                    i += 3;
                    continue;
                }
            }
        }
        decoded.push(bytes[i]);
        i += 1;
    }
    std::str::from_utf8(&decoded).is_ok()
}

async fn export_table(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    uri: Uri,
    table: Result<Path<String>, PathRejection>,
    params: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Response {
    let name = match table {
        Ok(Path(name)) => name,
        Err(rejection) => {
            return Problem::new(StatusCode::BAD_REQUEST, "Invalid table name")
                .with_detail(rejection.body_text())
                .into_response();
        }
    };
    tracing::Span::current().record("source", name.as_str());
    let params = match params {
        Ok(Query(params)) => params,
        Err(rejection) => return invalid_query_string(&rejection),
    };
    let wanted = match Wanted::from_request(&headers, &uri, &params) {
        Ok(wanted) => wanted,
        Err(response) => return response,
    };
    let permit = if method == Method::HEAD {
        None
    } else {
        match state.permit() {
            Some(permit) => Some(permit),
            None => return busy(state.max_streams),
        }
    };
    let resolved = if state.tables.allows(&name) {
        catalog::resolve(&state.db, &name).await
    } else {
        // Not served: the same answer as a missing table, and no query with this name.
        Ok(None)
    };
    let table = match resolved {
        Ok(Some(table)) => table,
        Ok(None) => {
            return Problem::new(StatusCode::NOT_FOUND, "No such table")
                .with_detail("no table or view has this name; GET /tables lists them")
                .into_response();
        }
        Err(err) => return database_problem(&err),
    };
    let Some(permit) = permit else {
        return wanted.head(state.compression_level);
    };
    let columns = if wanted.format() == Format::Csv {
        match column_names(&state.db, &table.select_sql(&state.db), None).await {
            Ok(columns) => Some(columns),
            Err(err) => return database_problem(&err),
        }
    } else {
        None
    };
    let chunks = state.table_chunks(&table, wanted.encoder(columns));
    wanted
        .respond(&table.name, chunks, permit, state.compression_level)
        .await
}

/// The column names of `sql`'s result, from preparing it (on PostgreSQL with `params`'
/// types, so the cached statement matches what is bound later).
async fn column_names(
    db: &Database,
    sql: &str,
    params: Option<&[crate::config::Param]>,
) -> Result<Vec<String>, sqlx::Error> {
    use sqlx::{Executor as _, Statement as _};
    fn names<C: sqlx::Column>(columns: &[C]) -> Vec<String> {
        columns.iter().map(|c| c.name().to_owned()).collect()
    }
    Ok(match db {
        Database::Sqlite(pool) => names(pool.prepare(sql).await?.columns()),
        Database::Postgres(pool) => {
            let types: Vec<_> = params
                .unwrap_or_default()
                .iter()
                .map(|p| pg_type(p.ty))
                .collect();
            names(pool.prepare_with(sql, &types).await?.columns())
        }
        Database::MySql { pool, .. } => names(pool.prepare(sql).await?.columns()),
    })
}

impl AppState {
    /// The served tables, sorted.
    async fn tables(&self) -> Result<Vec<String>, sqlx::Error> {
        let mut names = catalog::list(&self.db).await?;
        self.tables.retain(&mut names);
        Ok(names)
    }

    /// An export slot, if one is free.
    fn permit(&self) -> Option<OwnedSemaphorePermit> {
        self.streams.clone().try_acquire_owned().ok()
    }

    /// Starts the export of `table`.
    fn table_chunks(&self, table: &Table, encoder: AnyEncoder) -> ChunkStream {
        chunks::table_chunks(&self.db, &self.streamer, table, self.batch_size, encoder)
    }

    /// Starts a named query with its values bound.
    fn query_chunks(
        &self,
        query: &NamedQuery,
        values: &[Value],
        encoder: AnyEncoder,
    ) -> Result<ChunkStream, sqlx::error::BoxDynError> {
        chunks::query_chunks(&self.db, &self.streamer, query, values, encoder)
    }
}

fn invalid_query_string(rejection: &QueryRejection) -> Response {
    Problem::new(StatusCode::BAD_REQUEST, "Invalid query string")
        .with_detail(rejection.body_text())
        .into_response()
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
    method: Method,
    headers: HeaderMap,
    uri: Uri,
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
    tracing::Span::current().record("source", name.as_str());
    let mut params = match params {
        Ok(Query(params)) => params,
        Err(rejection) => return invalid_query_string(&rejection),
    };
    let wanted = match Wanted::from_request(&headers, &uri, &params) {
        Ok(wanted) => wanted,
        Err(response) => return response,
    };
    params.retain(|(key, _)| !RESERVED_PARAMS.contains(&key.as_str()));
    let values = match query.bind_values(&params) {
        Ok(values) => values,
        Err(err) => {
            return Problem::new(StatusCode::BAD_REQUEST, "Invalid parameter")
                .with_detail(err.to_string())
                .into_response();
        }
    };
    if method == Method::HEAD {
        return wanted.head(state.compression_level);
    }
    let Some(permit) = state.permit() else {
        return busy(state.max_streams);
    };
    let columns = if wanted.format() == Format::Csv {
        match column_names(&state.db, &query.sql, Some(&query.params)).await {
            Ok(columns) => Some(columns),
            Err(err) => return database_problem(&err),
        }
    } else {
        None
    };
    match state.query_chunks(query, &values, wanted.encoder(columns)) {
        Ok(chunks) => {
            wanted
                .respond(&name, chunks, permit, state.compression_level)
                .await
        }
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
    metrics::counter!("rowstream_requests_rejected_total", "reason" => "max_streams").increment(1);
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

/// How [`serve_with`] treats connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeOptions {
    /// How long open requests may run on after the shutdown signal before their
    /// connections are closed.
    pub grace: Duration,
    /// A write that makes no progress for this long closes its connection (a stalled
    /// client); `Duration::ZERO` for none. Default [`rowstream::DEFAULT_WRITE_TIMEOUT`].
    pub write_timeout: Duration,
    /// A client that has not sent a request's line and headers this long after the server
    /// started reading them (on a new connection: after it was accepted; on a kept-alive
    /// one: after the previous response) is disconnected without an answer;
    /// `Duration::ZERO` for none. Default [`DEFAULT_HEADER_READ_TIMEOUT`].
    pub header_read_timeout: Duration,
    /// Most bytes of a request's line and headers; more get `431`. Default
    /// [`MAX_HEADER_BYTES`].
    pub max_header_bytes: usize,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            grace: Duration::from_secs(10),
            write_timeout: rowstream::DEFAULT_WRITE_TIMEOUT,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            max_header_bytes: MAX_HEADER_BYTES,
        }
    }
}

/// Serves `app` on `listener` until `shutdown` completes, then stops accepting and lets
/// open requests finish for up to `grace` before closing them; the other
/// [`ServeOptions`] are the defaults. See [`serve_with`].
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
    let options = ServeOptions {
        grace,
        ..ServeOptions::default()
    };
    serve_with(listener, app, shutdown, options).await
}

/// How much longer than the write timeout a stalled connection is kept before it is
/// closed: the export stops first (its outcome is `timed_out`), then the socket goes.
pub const CONNECTION_CLOSE_MARGIN: Duration = Duration::from_secs(1);

/// As [`serve`], with connections whose writes make no progress for `write_timeout` plus
/// [`CONNECTION_CLOSE_MARGIN`] closed (`Duration::ZERO` for none), so an export whose own
/// write timeout is `write_timeout` stops before its connection is closed.
///
/// # Errors
///
/// If the server fails.
pub async fn serve_with_write_timeout(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
    write_timeout: Duration,
) -> std::io::Result<()> {
    let options = ServeOptions {
        grace,
        write_timeout,
        ..ServeOptions::default()
    };
    serve_with(listener, app, shutdown, options).await
}

/// Serves `app` on `listener` over HTTP/1.1 until `shutdown` completes, then stops
/// accepting, lets open requests finish for up to `options.grace`, and closes the
/// connections still open.
///
/// Accepted sockets get `TCP_NODELAY`, so small chunks are not held back by Nagle's
/// algorithm against delayed ACKs. Writes that make no progress for
/// `options.write_timeout` plus [`CONNECTION_CLOSE_MARGIN`] close their connection
/// ([`WriteTimeoutListener`]). A client
/// that does not send its request line and headers within `options.header_read_timeout`
/// is disconnected, so slow or idle connections cannot pile up (`axum::serve` sets no such
/// timeout). Requests whose line and headers exceed `options.max_header_bytes` get `431`.
///
/// # Errors
///
/// If the server fails.
pub async fn serve_with(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    options: ServeOptions,
) -> std::io::Result<()> {
    if options.write_timeout.is_zero() {
        let listener = listener.tap_io(|tcp| {
            if let Err(err) = tcp.set_nodelay(true) {
                tracing::warn!(%err, "cannot set TCP_NODELAY");
            }
        });
        run_server(listener, app, shutdown, options).await
    } else {
        let listener =
            WriteTimeoutListener::new(listener, options.write_timeout + CONNECTION_CLOSE_MARGIN);
        run_server(listener, app, shutdown, options).await
    }
}

async fn run_server<L>(
    mut listener: L,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    options: ServeOptions,
) -> std::io::Result<()>
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
{
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(
            (!options.header_read_timeout.is_zero()).then_some(options.header_read_timeout),
        )
        // Bounds what a client can make the server buffer (hyper's default is ~400 KiB per
        // connection); responses still queue two 32 KiB chunks.
        .max_buf_size(options.max_header_bytes.saturating_add(64 * 1024))
        .max_header_size(options.max_header_bytes);
    let (stopping_tx, stopping) = tokio::sync::watch::channel(false);
    let mut connections = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            (io, addr) = listener.accept() => {
                let service = TowerToHyperService::new(app.clone());
                let connection = http.serve_connection(TokioIo::new(io), service);
                let mut stopping = stopping.clone();
                connections.spawn(async move {
                    let mut connection = std::pin::pin!(connection);
                    tokio::select! {
                        result = connection.as_mut() => {
                            if let Err(err) = result {
                                tracing::debug!(?addr, %err, "connection ended with an error");
                            }
                            return;
                        }
                        _ = stopping.wait_for(|stopping| *stopping) => {}
                    }
                    // Finish the request in flight, if any, then close.
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    tracing::info!("shutting down; waiting for open requests");
    let _ = stopping_tx.send(true);
    let drained = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(options.grace, drained).await.is_err() {
        tracing::warn!(grace = ?options.grace, "open requests did not finish in time; closing them");
        connections.shutdown().await;
    }
    Ok(())
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
    use super::query_is_utf8;

    #[test]
    fn query_strings_must_decode_to_utf8() {
        for ok in [
            "",
            "a=b",
            "a=%C3%A9",
            "a=%e9%9b%aa",
            "a=%",
            "a=%Z9",
            "a=%4",
            "a=%%41",
            "q=é",
        ] {
            assert!(query_is_utf8(ok), "{ok}");
        }
        for bad in ["a=%FF", "a=%C3", "a=%C3%28", "%80=x", "a=b&c=%e9"] {
            assert!(!query_is_utf8(bad), "{bad}");
        }
    }
}
