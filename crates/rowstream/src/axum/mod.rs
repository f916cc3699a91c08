//! axum integration (feature `axum`): a [`ChunkStream`] as an HTTP response, content
//! negotiation as an extractor ([`Negotiated`]), and RFC 9457 problem details.
//!
//! It is the [`http`](crate::http) module's responses with axum's body type: the same
//! status, headers, body and trailers, in an [`axum::response::Response`].
//!
//! The status line is committed with the first body bytes, and an error after that can
//! only cut the response. So [`into_response`] waits for the first chunk (which the
//! streamer sends as soon as the first item is encoded, or after `flush_interval` for a
//! slow source) before it decides:
//!
//! - the stream failed before its first chunk → a real 4xx/5xx with an
//!   `application/problem+json` body (RFC 9457) whose `detail` is the error's text, the
//!   database's message included (see [the http module](crate::http#error-text) for
//!   hiding it);
//! - otherwise → `200 OK`, `Content-Type` from the encoder, `X-Accel-Buffering: no`,
//!   `Cache-Control: no-store`, `Vary: Accept`, and the chunks as the body.
//!
//! # What a client sees
//!
//! | outcome | without `TE: trailers` | with `TE: trailers` ([`StreamResponse::trailers`]) |
//! |---|---|---|
//! | complete | every chunk, then the terminating zero-length chunk | the same, then the trailers `rowstream-outcome: complete`, `rowstream-rows: N` |
//! | fails after the first chunk | every chunk before the failure (and the format's error record, if on), then the connection closes **without** the terminating chunk (HTTP/1.1: an incomplete transfer, curl exit 18; HTTP/2: a reset stream) | every chunk before the failure (and the error record, if on), the terminating chunk, then `rowstream-outcome: error`, `rowstream-rows: N`, `rowstream-error: <kind> error after N items: <message>` |
//! | fails before the first chunk | a 4xx/5xx problem+json response | the same |
//!
//! With trailers the transfer of a failed export is complete at the HTTP level, as in
//! gRPC: a client that sends `TE: trailers` promises to read them, and the document itself
//! is still visibly incomplete (a JSON array is never closed; a record format without
//! its completion record lacks it). The trailer fields are declared in a
//! `Trailer: rowstream-outcome, rowstream-rows, rowstream-error` header, as hyper
//! requires; hyper sends trailers over HTTP/1.1 only on chunked responses to requests
//! with `TE: trailers`, and always over HTTP/2.
//!
//! ```no_run
//! use axum::{Router, routing::get, response::Response};
//! use rowstream::fetch;
//!
//! async fn numbers() -> Response {
//!     rowstream::axum::json_array(fetch::from_iter(0..1_000_000u64)).await
//! }
//!
//! let app: Router = Router::new().route("/numbers", get(numbers));
//! ```

mod listener;
mod negotiate;
mod problem;

use axum::body::Body;
use axum::response::Response;
use futures_core::Stream;

use crate::{BoxError, ChunkStream, Identity, JsonArray, Streamer};

#[cfg(feature = "compression")]
pub use crate::http::negotiate_encoding;
pub use crate::http::{
    MIN_COMPRESSED_BODY, PROBLEM_JSON, Problem, TRAILER_ERROR, TRAILER_OUTCOME, TRAILER_ROWS,
    wants_trailers,
};
pub use listener::WriteTimeoutListener;
pub use negotiate::Negotiated;

/// Streams `fetcher` as a JSON array with the default [`Streamer`]; see
/// [`into_response`] for the status and error contract.
///
/// # Panics
///
/// As [`Streamer::stream`]: outside a tokio runtime with timers.
pub async fn json_array<S, T, E>(fetcher: S) -> Response
where
    S: Stream<Item = Result<T, E>> + Send + 'static,
    T: serde::Serialize + Send + 'static,
    E: Into<BoxError> + Send + 'static,
{
    into_response(Streamer::default().stream(fetcher, Identity, JsonArray::new())).await
}

/// Turns a [`ChunkStream`] into a response without trailers, waiting for its first chunk
/// to choose the status (see the [module docs](self)); the same as
/// `StreamResponse::new().respond(chunks)`.
pub async fn into_response(chunks: ChunkStream) -> Response {
    StreamResponse::new().respond(chunks).await
}

/// How a [`ChunkStream`] is sent as an axum response: whether it ends with trailers and,
/// with the `compression` feature, its content coding. It is
/// [`http::StreamResponse`](crate::http::StreamResponse) answering with axum's body type.
///
/// ```no_run
/// use axum::{http::HeaderMap, response::Response};
/// use rowstream::axum::StreamResponse;
/// use rowstream::{Identity, Ndjson, Streamer, fetch};
///
/// async fn export(headers: HeaderMap) -> Response {
///     let chunks = Streamer::default().stream(
///         fetch::from_iter(0..100u32),
///         Identity,
///         Ndjson::new().completion_record(true),
///     );
///     StreamResponse::for_request(&headers).respond(chunks).await
/// }
/// ```
#[derive(Debug, Clone, Copy, Default)]
#[must_use]
pub struct StreamResponse(crate::http::StreamResponse);

impl StreamResponse {
    /// A response without trailers and without compression.
    pub fn new() -> Self {
        Self::default()
    }

    /// A response with trailers when the request's `TE` header lists `trailers`
    /// ([`wants_trailers`]).
    ///
    /// With the `compression` feature it also negotiates a content coding from
    /// `Accept-Encoding` ([`ContentCoding::negotiate`](crate::compress::ContentCoding::negotiate))
    /// at [`DEFAULT_LEVEL`](crate::compress::DEFAULT_LEVEL).
    pub fn for_request(headers: &http::HeaderMap) -> Self {
        Self(crate::http::StreamResponse::for_request(headers))
    }

    /// Compresses the body with `coding` at `level`, flushed at every chunk
    /// (`Content-Encoding` and `Vary: Accept-Encoding` set), unless the whole body is
    /// smaller than [`MIN_COMPRESSED_BODY`]. [`ContentCoding::Identity`](crate::compress::ContentCoding::Identity)
    /// turns compression off. Default: off.
    #[cfg(feature = "compression")]
    pub fn compression(
        self,
        coding: crate::compress::ContentCoding,
        level: crate::compress::Level,
    ) -> Self {
        Self(self.0.compression(coding, level))
    }

    /// Ends the body with the trailers [`TRAILER_OUTCOME`], [`TRAILER_ROWS`] and, on
    /// failure, [`TRAILER_ERROR`] (declared in a `Trailer` header). Only turn this on
    /// for requests with `TE: trailers`: a failed export then completes at the HTTP level
    /// and the trailer is the signal (see the [module docs](self)). Default `false`.
    pub fn trailers(self, on: bool) -> Self {
        Self(self.0.trailers(on))
    }

    /// Waits for the first chunk and answers: problem+json if the stream failed before
    /// it, otherwise `200 OK` with the streamed body
    /// ([`http::StreamResponse::respond`](crate::http::StreamResponse::respond)).
    ///
    /// Headers of a streamed response: `Content-Type` (the encoder's),
    /// `X-Accel-Buffering: no` (so nginx-style proxies do not buffer the stream),
    /// `Cache-Control: no-store`, `Vary: Accept`, and with trailers `Trailer`. An early
    /// failure's status is the [`Problem`]'s own if the error's source is one, otherwise
    /// `500 Internal Server Error`.
    pub async fn respond(self, chunks: ChunkStream) -> Response {
        self.0.respond(chunks).await.map(Body::new)
    }

    /// The answer to a `HEAD` request (RFC 9110 §9.3.2): `200 OK` with the headers
    /// [`respond`](Self::respond) sends for a response of `content_type` (e.g. an
    /// encoder's [`content_type`](crate::Encoder::content_type) or
    /// [`Format::media_type`](crate::Format::media_type)), an empty body, and no query run.
    ///
    /// ```
    /// use rowstream::axum::StreamResponse;
    ///
    /// let response = StreamResponse::new().head("application/x-ndjson");
    /// assert_eq!(response.status(), 200);
    /// assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    /// assert_eq!(response.headers()["vary"], "Accept");
    /// ```
    pub fn head(self, content_type: &str) -> Response {
        self.0.head(content_type).map(Body::new)
    }
}

impl From<crate::http::StreamResponse> for StreamResponse {
    fn from(response: crate::http::StreamResponse) -> Self {
        Self(response)
    }
}
