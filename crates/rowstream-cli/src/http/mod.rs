//! The HTTP side: the [`router`] with its endpoints; [`crate::server`] serves it.
//!
//! The export endpoints live in `exports.rs`, what a request asks of an export (format,
//! coding, trailers, completion record) in `negotiate.rs`, the endpoints that list what is
//! served (index page, tables, queries, health, metrics) in `listing.rs`.

mod cors;
mod download;
mod exports;
mod listing;
mod negotiate;
mod openapi;
mod proto;
mod ready;
mod spool;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Version, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use rowstream::axum::Problem;
use rowstream::compress::Level;
use rowstream::tower::{StreamPermit, StreamSlots};
use rowstream::{AnyEncoder, ChunkStream, Streamer};
use tracing::Instrument as _;

pub use self::cors::CORS_EXPOSED_HEADERS;
pub use self::exports::COUNT_HEADER;
use self::exports::{export_table, run_query};
use self::listing::{healthz, index, list_queries, list_tables, render_metrics, slice_redirect};
pub use self::ready::{READY_TIMEOUT, Readiness};
pub use self::spool::{DEFAULT_SPOOL_MAX_BYTES, DEFAULT_SPOOL_TTL, SpoolSettings};
use crate::access::{self, TableFilter, Token};
use crate::config::{NamedQuery, Value};
use crate::db::catalog::{self, Table};
use crate::db::{Database, chunks};
use crate::settings::ValueArgs;

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
    /// Web origins whose pages may read the exports (CORS through tower-http's
    /// `CorsLayer`: `GET` and `HEAD`, `Authorization`, `Accept` and `X-Request-Id`
    /// allowed, [`CORS_EXPOSED_HEADERS`] exposed, preflights cached an hour); none by
    /// default.
    pub cors_origins: Vec<HeaderValue>,
    /// How values that formats disagree on are written, unless a request says otherwise
    /// (`?non_finite=`, `?big_integers=`, `?formula_guard=`). Default: the library's
    /// defaults, no formula guard.
    pub values: ValueArgs,
    /// Whether the server takes new exports; the server's shutdown stops it. Default:
    /// ready.
    pub readiness: Readiness,
    /// Where spooled exports (`?spool`, `Range`) go, how much room they have and how
    /// long they are kept. Default: [`SpoolSettings::default`].
    pub spool: SpoolSettings,
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
            values: ValueArgs::default(),
            readiness: Readiness::default(),
            cors_origins: Vec::new(),
            spool: SpoolSettings::default(),
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
    streams: StreamSlots,
    queries: Arc<BTreeMap<String, NamedQuery>>,
    compression_level: Level,
    metrics: Option<PrometheusHandle>,
    tables: Arc<TableFilter>,
    values: ValueArgs,
    readiness: Readiness,
    spool: spool::Spool,
}

/// The application with default [`Settings`]; see [`router_with`].
pub fn router(db: impl Into<Database>) -> Router {
    router_with(db, Settings::default())
}

/// The application:
///
/// - `GET /` is an HTML page listing the tables and named queries with a link per format.
/// - `GET /healthz` answers `200 ok` while the process serves (liveness).
/// - `GET /readyz` answers `200 ready` while the database answers a ping within
///   [`READY_TIMEOUT`], else `503` problem+json; from [`Readiness::stop`] on, `503`
///   (readiness, for balancers).
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
/// - `GET /tables/{table}.proto` is the proto3 message of a table's rows
///   ([`crate::db::proto`]), as `text/plain`: what `?format=protobuf` encodes (a table
///   whose own name ends in `.proto` is exported there, and its message is at
///   `{table}.proto.proto`; `404` as for an export).
/// - `GET /tables/{table}/schema` describes a table: its default order, whether it is
///   read by keyset pagination, and each column's name, database type, JSON type,
///   nullability and whether it is in the key (`404` as for its export).
/// - `GET /openapi.json` is an OpenAPI 3.1 document of every endpoint, each served table
///   with its parameters, filters and row shape (a JSON Schema), each named query with
///   its parameters.
/// - `GET /slice?table=…` answers the index page's slice form with a `303` to the export
///   URL its fields make.
/// - `GET /queries` lists the named queries with their parameters.
/// - `GET /queries/{name}?param=value…` streams a named query with its parameters bound;
///   an unknown name is a `404`, a missing, malformed, repeated or unknown parameter a
///   `400` naming it, before anything runs.
/// - `GET /metrics` (with [`Settings::metrics`]): Prometheus text exposition.
///
/// With [`Settings::cors_origins`], pages from those origins may read every endpoint;
/// preflights are answered without the token.
/// With [`Settings::token`], every request but `/healthz` and `/readyz` needs `Authorization: Bearer
/// <token>`, else `401` with `WWW-Authenticate: Bearer`. Tables that
/// [`Settings::tables`] does not serve are absent from the lists and answer `404` exactly
/// as a missing table does. Unknown paths are `404` and other methods `405`, as
/// problem+json.
///
/// Exports are negotiated ([`Negotiated`](rowstream::axum::Negotiated)): `Accept` with q-values, or
/// `?format=json|ndjson|jsonseq|csv|msgpack` (tables also `arrow|parquet|protobuf`,
/// typed from the catalog; a named query answers them with `406`), else `406`; CSV has a header row from the
/// column names, even when empty. `?complete=true` ends NDJSON, JSON-seq and CSV with a
/// completion record, and is a `400` for JSON and MessagePack, which have no records (a
/// JSON array is complete exactly when it parses: a failed export is never closed);
/// `?non_finite=null|string|error`, `?big_integers=number|string` and
/// `?formula_guard=true|false` override the server's [`Settings::values`] for the request;
/// `?download[=NAME]` adds `Content-Disposition: attachment` (RFC 6266) with the table or
/// query name, or NAME, plus the format's extension; CSV takes `bom=true`, `header=false`
/// and `delimiter=,|;|tab` (a `400` with another format);
/// `?limit=N` (1 to [`crate::url::MAX_LIMIT`]) sends the first N rows of a table, else `400`;
/// `?after=KEY` sends the rows of a keyset table whose key comes after `KEY` (read as the
/// key column's type and bound as a parameter), else `400` naming `after`; `?spool`, and
/// any `GET` with a `Range` header, writes the export to a file first and serves it with
/// `Content-Length`, `ETag` and byte ranges (RFC 9110 §14; see [`SpoolSettings`]);
/// `TE: trailers` adds the outcome and row count as trailers. Any
/// other query parameter (`?fromat=csv`, `?limit=2`) that a named query does not declare
/// is a `400` naming it, with the endpoint's parameters in the problem's `known` member
/// ([`crate::url::RESERVED_PARAMS`]), before anything runs.
/// Responses are compressed per `Accept-Encoding` (gzip, zstd, br), flushed at every
/// chunk. `HEAD` answers the headers of the `GET` without running the export.
///
/// Exports hold one of `max_streams` slots from the request until the response body ends
/// or the client leaves; without a free slot a request gets `503` with `Retry-After` at
/// once, before any query runs. `/healthz`, `/tables` and `/queries` take no slot. Once
/// [`Settings::readiness`] is stopped, new exports get `503` with `Retry-After`.
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
    let readiness = settings.readiness.clone();
    let mut router = Router::new()
        .route("/tables/{table}", get(export_table))
        .route("/queries/{name}", get(run_query))
        .route_layer(middleware::from_fn_with_state(
            readiness,
            ready::refuse_when_stopping,
        ))
        .route("/", get(index))
        .route(access::HEALTH_PATH, get(healthz))
        .route(access::READY_PATH, get(ready::readyz))
        .route("/tables", get(list_tables))
        .route("/slice", get(slice_redirect))
        .route("/tables/{table}/schema", get(openapi::table_schema))
        .route("/openapi.json", get(openapi::openapi))
        .route("/queries", get(list_queries));
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
            streams: StreamSlots::new(max_streams),
            queries: Arc::new(settings.queries),
            compression_level: settings.compression_level,
            metrics: settings.metrics,
            tables: Arc::new(settings.tables),
            values: settings.values,
            readiness: settings.readiness,
            spool: spool::Spool::new(settings.spool),
        });
    if let Some(token) = settings.token {
        router = router.layer(middleware::from_fn(move |request, next| {
            access::require_token(token.clone(), request, next)
        }));
    }
    if !settings.cors_origins.is_empty() {
        // Outside the token check: a preflight carries no credentials.
        router = router.layer(cors::cors_layer(settings.cors_origins));
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
    let version = request.version();
    let mut response = next.run(request).instrument(span.clone()).await;
    if version == Version::HTTP_10 && !response.headers().contains_key(header::CONTENT_LENGTH) {
        // An HTTP/1.0 client cannot read chunked bodies: a stream's end is the
        // connection's, so it is not kept alive whatever the request asked.
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    let status = response.status();
    span.record("status", status.as_u16());
    span.in_scope(|| tracing::debug!(status = status.as_u16(), "responded"));
    metrics::counter!("rowstream_http_requests_total", "status" => status.as_str().to_owned())
        .increment(1);
    response.headers_mut().insert(REQUEST_ID, id);
    response
}

impl AppState {
    /// The served tables, sorted.
    async fn tables(&self) -> Result<Vec<String>, sqlx::Error> {
        let mut names = catalog::list(&self.db).await?;
        self.tables.retain(&mut names);
        Ok(names)
    }

    /// An export slot, if one is free.
    fn permit(&self) -> Option<StreamPermit> {
        self.streams.try_acquire()
    }

    /// Starts the export of `table`.
    fn table_chunks(
        &self,
        table: &Table,
        encoder: AnyEncoder,
        limit: Option<u64>,
        after: Option<rowstream::keyset::Key>,
    ) -> ChunkStream {
        chunks::table_chunks(
            &self.db,
            &self.streamer,
            table,
            self.batch_size,
            limit,
            after,
            encoder,
        )
    }

    /// Starts the export of a slice of `table`.
    fn slice_chunks(
        &self,
        table: &Table,
        query: &crate::db::slice::SliceQuery,
        encoder: AnyEncoder,
        after: Option<rowstream::keyset::Key>,
    ) -> ChunkStream {
        crate::db::slice::slice_chunks(
            &self.db,
            &self.streamer,
            table,
            query,
            self.batch_size,
            after,
            encoder,
        )
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

fn database_problem(err: &sqlx::Error) -> Response {
    tracing::error!(%err, "catalog query failed");
    Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "The database failed")
        .with_detail(err.to_string())
        .into_response()
}
