//! Stream millions of rows to HTTP clients as one document — with memory that stays flat
//! whatever the row count or the client's speed, and with the database work stopped the
//! moment the client leaves.
//!
//! # The pipeline
//!
//! ```text
//!  fetcher ──▶ transformer ──▶ encoder ──▶ pooled buffer ──▶ chunk ──▶ bounded channel ──▶ client
//!  Stream<     Fn(T) ->         JsonArray   BytesMut, cut at   Bytes    channel_buffer     axum
//!  Result<T>>  Result<U>        …           chunk_threshold    (no copy) slots             response
//! ```
//!
//! A [`Streamer`] pulls items from a **fetcher** (any `Stream<Item = Result<T, E>>`: a sqlx
//! query, [`fetch::from_iter`], [`fetch::from_channel`]), passes each through a
//! **transformer** (any `Fn(T) -> Result<U, E>` with `U: Serialize`, or [`Identity`]),
//! **encodes** it into a pooled buffer, and hands the buffer out as a **chunk** each time it
//! passes the **chunk threshold** (32 KiB by default, see [`ChunkConfig`]). The result is a
//! [`ChunkStream`]: `Stream<Item = Result<Bytes, StreamError>>`.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), rowstream::StreamError> {
//! use futures_util::TryStreamExt;
//! use rowstream::{JsonArray, Streamer, fetch};
//!
//! #[derive(serde::Serialize)]
//! struct Ticket { id: u64, subject: String }
//!
//! let tickets = fetch::from_iter((1..=3).map(|id| (id, format!("ticket {id}"))));
//! let to_json = |(id, subject): (u64, String)| Ok::<_, std::convert::Infallible>(Ticket { id, subject });
//! let body = Streamer::default().stream(tickets, to_json, JsonArray::new()).map_ok(Vec::from).try_concat().await?;
//! assert_eq!(
//!     &body[..],
//!     br#"[{"id":1,"subject":"ticket 1"},{"id":2,"subject":"ticket 2"},{"id":3,"subject":"ticket 3"}]"#
//! );
//! # Ok(()) }
//! ```
//!
//! With the `axum` and `sqlite` features, a handler that streams a query in whatever
//! format the client accepts is three lines:
//!
//! ```no_run
//! # #[cfg(all(feature = "axum", feature = "sqlite"))]
//! # mod handler {
//! use axum::{extract::State, response::IntoResponse};
//! use rowstream::axum::Negotiated;
//! use sqlx::SqlitePool;
//!
//! async fn tickets(State(pool): State<SqlitePool>, negotiated: Negotiated) -> impl IntoResponse {
//!     let rows = rowstream::sqlite::rows(pool, "SELECT * FROM tickets ORDER BY id");
//!     negotiated.respond(rows).await
//! }
//! # }
//! ```
//!
//! The response is an `http::Response<`[`http::StreamBody`]`>` (the `http` feature's,
//! which axum answers as it is); without axum, the same responses serve hyper or tower
//! services (see [`http`] and the example `hyper_service`).
//!
//! # Formats and content negotiation
//!
//! Every format is an [`Encoder`] in its own module, streaming item by item into the
//! pooled buffer; all of them write values under one [`ValuePolicy`] (NaN/±Infinity,
//! integers beyond 2^53 − 1, RFC 3339 timestamps), so an export holds the same values in
//! every format — except that MessagePack and CSV, which can carry NaN and ±Infinity,
//! write them as they are unless the policy refuses them ([`NonFinite`]).
//!
//! | [`Format`] | encoder | media type | standard |
//! |---|---|---|---|
//! | `json` | [`JsonArray`], or [`JsonEnvelope`] (`{"meta":…,"data":[…]}`) | `application/json` | RFC 8259 |
//! | `ndjson` | [`Ndjson`] | `application/x-ndjson` (also answers `application/jsonl`) | NDJSON |
//! | `jsonseq` | [`JsonSeq`] | `application/json-seq` | RFC 7464 |
#![cfg_attr(
    feature = "csv",
    doc = "| `csv` | [`Csv`] (feature `csv`) | `text/csv; charset=utf-8; header=present` | RFC 4180 |"
)]
#![cfg_attr(
    not(feature = "csv"),
    doc = "| `csv` | `Csv` (feature `csv`, not enabled in this build) | `text/csv; charset=utf-8; header=present` | RFC 4180 |"
)]
#![cfg_attr(
    feature = "msgpack",
    doc = "| `msgpack` | [`Msgpack`] (feature `msgpack`) | `application/vnd.msgpack` | MessagePack |"
)]
#![cfg_attr(
    not(feature = "msgpack"),
    doc = "| `msgpack` | `Msgpack` (feature `msgpack`, not enabled in this build) | `application/vnd.msgpack` | MessagePack |"
)]
//! | `arrow` | `Arrow` (feature `arrow`; made with a schema) | `application/vnd.apache.arrow.stream` | Arrow IPC streaming format |
//! | `parquet` | `Parquet` (feature `parquet`; made with a schema) | `application/vnd.apache.parquet` | Apache Parquet |
//!
//! [`negotiate`] picks a [`Format`] from a request's `Accept` header (RFC 9110 §12.5.1:
//! q-values, wildcards, specificity) and a `format` query value, or returns
//! [`NotAcceptable`] (a 406 with the supported media types); [`AnyEncoder`] is the
//! encoder of a format chosen at run time; with the `axum` feature the
//! [`axum::Negotiated`] extractor does both, and with the `http` feature
//! [`http::negotiate_request`] reads a request's headers and query string.
//!
//! Which formats a build can encode depends on its features: the JSON formats always,
//! CSV with `csv`, MessagePack with `msgpack` ([`Format::available`]). Negotiation only
//! picks available formats, so a client that asks for a format the build lacks
//! (`Accept: text/csv` alone, or `?format=csv`, without the `csv` feature) gets a 406
//! problem+json listing the media types it can have; [`AnyEncoder::new`] of an
//! unavailable format is an [`UnavailableFormat`] error.
//!
//! # Invariants
//!
//! 1. Every item the fetcher yields reaches the client exactly once, in order.
//! 2. A stream that completes is a valid document of its format, for any input.
//! 3. A stream that fails is never a valid complete document, and the client can tell.
//! 4. Memory per stream is bounded by [`ValidConfig::memory_bound`] plus the largest single
//!    item, however slowly the client reads: a full channel stops the fetcher.
//! 5. Dropping the [`ChunkStream`] (the client left) aborts the work and drops the fetcher.
//! 6. The first chunk leaves as soon as the first item and what else is ready at that
//!    moment are encoded; data never waits longer than `flush_interval` in a buffer.
//! 7. A panicking fetcher, transformer or encoder fails its own stream only.
//!
//! # Errors, and what a client sees
//!
//! A stream ends with exactly one [`StreamError`] when the fetcher, the transformer or the
//! encoder fails, or when one of them panics. Over HTTP ([`http::into_response`],
//! [`axum::into_response`]):
//!
//! | when | the client sees |
//! |---|---|
//! | before the first chunk | a 4xx/5xx with an `application/problem+json` body (RFC 9457) |
//! | after the first chunk, HTTP/1.1 | the connection closes without the terminating zero-length chunk: an incomplete transfer (curl exit 18), and a JSON array without its closing `]` |
//! | after the first chunk, HTTP/2 | the stream is reset |
//!
//! Two opt-in signals reach clients that cannot see transport errors:
//!
//! - **Completion record** (NDJSON, JSON-seq, CSV; `completion_record(true)`): the last
//!   record is `{"$rowstream":{"complete":true,"rows":N}}` after a complete export, or
//!   `{"$rowstream":{"complete":false,"rows":N,"error":{"kind":…,"message":…}}}` written
//!   just before a failed one is cut ([`COMPLETION_KEY`]; in CSV, the first field of a
//!   last row).
//! - **HTTP trailers** when the request carried `TE: trailers`
//!   ([`http::StreamResponse::trailers`]): `rowstream-outcome: complete|error`,
//!   `rowstream-rows: N` and, on failure, `rowstream-error`.
//! - For exports in key order, both can carry the key of row N — `"last_key"` in the
//!   completion record, a `rowstream-last-key` trailer — where a resumed export starts:
//!   a transformer records each row's key in a [`LastKey`] given to the encoder
//!   (`last_key(…)`) and the stream ([`ChunkStream::with_last_key`]).
//!
//! # Cargo features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `http` | no | [`http::StreamResponse`], [`http::into_response`]: a [`ChunkStream`] as an `http::Response<`[`http::StreamBody`]`>` (an `http_body::Body`) for axum, hyper or tower, with the status, headers, trailers and problem+json early errors; [`http::Negotiated`], [`http::Problem`], [`http::negotiate_request`], [`NotAcceptable::to_response`]; pulls in `http` and `http-body` only |
//! | `axum` | no | (implies `http`) the [`axum::Negotiated`] extractor, [`axum::into_response`] and [`axum::json_array`] (axum's `Response`), [`axum::Problem`] and [`NotAcceptable`] as `IntoResponse`, [`axum::WriteTimeoutListener`]; the `http` types re-exported ([`axum::StreamResponse`] is [`http::StreamResponse`]); pulls in axum (`http1`, `tokio`) and `tokio-io-timeout` |
//! | `sqlite` | no | [`sqlite::rows`] and [`sqlite::rows_with`] (dynamic rows, with bound parameters), [`sqlite::query_as`] (typed rows), [`sqlite::fetch_as`] and [`sqlite::fetch`] (a sqlx query with its `.bind(…)`s), [`sqlite::keyset()`] (keyset pagination), [`sqlite::direct::rows`] (a database file read in batches on its own connection); pulls in sqlx (`sqlite`, `runtime-tokio`) and rusqlite (the same SQLite) |
#![cfg_attr(
    feature = "csv",
    doc = "| `csv` | no | the [`Csv`] encoder (RFC 4180); [`Format::Csv`] becomes available; pulls in `csv-core` and `ryu` |"
)]
#![cfg_attr(
    not(feature = "csv"),
    doc = "| `csv` | no | the `Csv` encoder (RFC 4180; not in this build); [`Format::Csv`] becomes available; pulls in `csv-core` and `ryu` |"
)]
#![cfg_attr(
    feature = "msgpack",
    doc = "| `msgpack` | no | the [`Msgpack`] encoder; [`Format::Msgpack`] becomes available; pulls in `rmp` and `rmp-serde` |"
)]
#![cfg_attr(
    not(feature = "msgpack"),
    doc = "| `msgpack` | no | the `Msgpack` encoder (not in this build); [`Format::Msgpack`] becomes available; pulls in `rmp` and `rmp-serde` |"
)]
//! | `arrow` | no | the [`Arrow`] encoder (Arrow IPC stream, typed columns from an [`arrow::Schema`]); [`Format::Arrow`] becomes available; pulls in `arrow-array`, `arrow-buffer`, `arrow-ipc`, `arrow-schema` (arrow-rs, no default features) and `base64` |
//! | `parquet` | no | (implies `arrow`) the [`Parquet`] encoder (zstd columns, footer only on success); [`Format::Parquet`] becomes available; pulls in `parquet` with its `arrow` and `zstd` features only |
//! | `protobuf` | no | the [`Protobuf`] encoder (length-delimited messages): [`Proto`]`(prost message)` items, or rows as the message of a [`protobuf::MessageSchema`] (whose `.proto` it writes); [`Format::Protobuf`] becomes available; pulls in `prost` (no derive) and `base64` |
//! | `postgres` | no | [`postgres::rows`], [`postgres::query_as`], [`postgres::fetch_as`] and [`postgres::fetch`] (a sqlx query with its `.bind(…)`s), [`postgres::keyset()`], [`postgres::copy_rows`] (`COPY … TO STDOUT` in binary, for queries without parameters): exact binary values, `pg_cancel_backend` when dropped; the type mapping table is in [`postgres`]; pulls in sqlx (`postgres`) |
//! | `mysql` | no | [`mysql::rows`], [`mysql::query_as`], [`mysql::fetch_as`] and [`mysql::fetch`] (a sqlx query with its `.bind(…)`s), [`mysql::keyset()`] for MySQL and MariaDB: exact binary values, `KILL QUERY` when dropped; the type mapping table is in [`mysql`]; pulls in sqlx (`mysql`) |
//! | `compression` | no | [`compress`]: gzip, zstd and brotli negotiated from `Accept-Encoding`, flushed at every chunk; used by [`http::StreamResponse::for_request`] and [`http::Negotiated`]; implies `http`; pulls in `async-compression` |
//! | `metrics` | no | [`metrics::MetricsObserver`]: stream, row, byte, duration and time-to-first-byte metrics through the `metrics` facade; pulls in `metrics` |
//! | `tower` | no | [`tower::StreamLimitLayer`]: a cap on concurrent streams whose slot lives as long as the response body, a 503 problem+json with `Retry-After` over it; implies `http`; pulls in `tower-layer` and `tower-service` |
//!
//! The JSON formats (array, envelope, NDJSON, JSON-seq) are always available. Without
//! features the crate depends on neither http, axum, hyper, sqlx, csv nor rmp.

#![deny(missing_docs)]
// The docs link to the items of every feature, and a build with fewer features cannot
// resolve them all. They are checked with `--all-features` (CI, docs.rs), where every
// link must resolve.
#![cfg_attr(
    not(all(
        feature = "http",
        feature = "axum",
        feature = "sqlite",
        feature = "postgres",
        feature = "mysql",
        feature = "csv",
        feature = "msgpack",
        feature = "compression",
        feature = "metrics",
        feature = "tower",
        feature = "arrow",
        feature = "parquet",
        feature = "protobuf"
    )),
    allow(rustdoc::broken_intra_doc_links)
)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]
// docs.rs builds on nightly with `--cfg docsrs_nightly` (see `[package.metadata.docs.rs]`):
// `doc_cfg` then marks each item with the features it needs. The cfg is not `docsrs`,
// which docs.rs and users also pass on stable, where `#![feature]` is an error.
#![cfg_attr(docsrs_nightly, feature(doc_cfg))]

mod config;
mod encode;
pub mod fetch;
mod negotiate;
mod observe;
mod pool;
mod streamer;
mod transform;

#[cfg(feature = "axum")]
pub mod axum;
#[cfg(feature = "http")]
pub mod http;
#[cfg(any(feature = "postgres", feature = "mysql", feature = "sqlite"))]
mod sql;
#[cfg(feature = "tower")]
pub mod tower;

/// The library examples of the README, compiled and run as doc tests so they stay true.
#[cfg(all(doctest, feature = "axum", feature = "sqlite", feature = "postgres"))]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;

pub use config::{
    ChunkConfig, ConfigError, DEFAULT_BATCH_SIZE, DEFAULT_CHANNEL_BUFFER, DEFAULT_CHUNK_THRESHOLD,
    DEFAULT_FLUSH_INTERVAL, DEFAULT_WRITE_TIMEOUT, Limits, MAX_BATCH_SIZE, MAX_BUFFER_SIZE,
    MAX_CHANNEL_BUFFER, MAX_CHUNK_THRESHOLD, MAX_FLUSH_INTERVAL, SCRATCH_BYTES, ValidConfig,
};
#[cfg(feature = "msgpack")]
pub use encode::Msgpack;
pub use encode::{
    AnyEncoder, BigIntegers, COMPLETION_KEY, Encoder, Format, Framing, JsonArray, JsonEnvelope,
    JsonSeq, JsonSeqFraming, LastKey, LineDelimited, MAX_SAFE_INTEGER, Ndjson, NdjsonFraming,
    NonFinite, UnavailableFormat, UnknownFormat, ValuePolicy, WithPolicy, write_json,
};
#[cfg(feature = "arrow")]
pub use encode::{Arrow, DEFAULT_BATCH_ROWS};
#[cfg(feature = "csv")]
pub use encode::{Csv, Delimiter};
#[cfg(feature = "parquet")]
pub use encode::{DEFAULT_ROW_GROUP_BYTES, DEFAULT_ROW_GROUP_ROWS, Parquet};
#[cfg(feature = "protobuf")]
pub use encode::{PROTOBUF_MEDIA_TYPE, Proto, Protobuf};
pub use negotiate::{NotAcceptable, negotiate, negotiate_among};
pub use observe::{Outcome, StreamObserver, StreamSummary};
pub use pool::{BoundedPool, BufferPool, DEFAULT_MAX_IDLE, default_pool};
pub use streamer::{BoxError, ChunkStream, EncodeError, StreamError, StreamErrorKind, Streamer};
pub use transform::{Identity, Transformer};

#[cfg(feature = "compression")]
pub use http::compress;
#[cfg(feature = "metrics")]
pub use observe::metrics;

/// The Arrow schema types the [`Arrow`] and [`Parquet`] encoders take (re-exported from
/// `arrow-schema`, so a schema is built without naming that crate).
#[cfg(feature = "arrow")]
pub mod arrow {
    pub use crate::encode::arrow::{DataType, Field, Schema, SchemaRef, TimeUnit};
}
/// The message schema the [`Protobuf`] encoder takes for rows, and the naming rules of
/// its `.proto`.
#[cfg(feature = "protobuf")]
pub mod protobuf {
    pub use crate::encode::protobuf::{
        FieldSchema, FieldType, MessageSchema, field_name, is_identifier, message_name,
    };
}
#[cfg(any(feature = "postgres", feature = "mysql", feature = "sqlite"))]
pub use sql::keyset;
#[cfg(feature = "mysql")]
pub use sql::mysql;
#[cfg(feature = "postgres")]
pub use sql::postgres;
#[cfg(feature = "sqlite")]
pub use sql::sqlite;
