//! The HTTP side: the [`router`] with its endpoints; [`crate::server`] serves it.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use axum::Router;
use axum::body::{Body, BodyDataStream, Bytes};
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use futures_util::{Stream, StreamExt as _};
use metrics_exporter_prometheus::PrometheusHandle;
use rowstream::axum::{Negotiated, Problem, StreamResponse};
use rowstream::compress::Level;
use rowstream::metrics::MetricsObserver;
use rowstream::{AnyEncoder, ChunkStream, Csv, Encoder as _, Format, Streamer};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::Instrument as _;

use crate::access::{self, TableFilter, Token};
use crate::config::{NamedQuery, Value};
use crate::db::catalog::{self, Table};
use crate::db::{Database, chunks, column_names};
use crate::url::{RESERVED_PARAMS, query_is_utf8};

/// Seconds a client is asked to wait (`Retry-After`) when every export slot is taken.
pub const RETRY_AFTER_SECS: u32 = 1;

/// The request header carrying a request id, echoed in every response.
pub const REQUEST_ID: &str = "x-request-id";

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
    /// The Prometheus recorder's handle ([`crate::server::install_metrics`]); with one, `GET /metrics`
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
    let connections = state.db.connections();
    metrics::gauge!("rowstream_db_connections", "state" => "idle").set(f64::from(connections.idle));
    metrics::gauge!("rowstream_db_connections", "state" => "in_use")
        .set(f64::from(connections.in_use));
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
        self.response(level).head(encoder.content_type())
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
        hold(self.response(level).respond(chunks).await, permit)
    }
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
