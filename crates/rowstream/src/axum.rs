//! axum integration (feature `axum`): a [`ChunkStream`] as an HTTP response.
//!
//! The status line is committed with the first body bytes, and an error after that can
//! only cut the response. So [`into_response`] waits for the first chunk (which the
//! streamer sends as soon as the first item is encoded, or after `flush_interval` for a
//! slow source) before it decides:
//!
//! - the stream failed before its first chunk → a real 4xx/5xx with an
//!   `application/problem+json` body (RFC 9457);
//! - otherwise → `200 OK`, `Content-Type` from the encoder, `X-Accel-Buffering: no`, and
//!   the chunks as the body. If the stream fails later, the body ends with an error:
//!   hyper closes an HTTP/1.1 connection without the terminating zero-length chunk (the
//!   client sees an incomplete transfer, e.g. curl exit 18) and resets an HTTP/2 stream.
//!   A JSON array is then never closed with `]`, so it does not parse.
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

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use futures_core::Stream;
use futures_util::StreamExt;
use http::{HeaderValue, StatusCode, header};

use crate::{BoxError, ChunkStream, Identity, JsonArray, StreamError, StreamErrorKind, Streamer};

/// The `application/problem+json` media type (RFC 9457).
pub const PROBLEM_JSON: &str = "application/problem+json";

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

/// Turns a [`ChunkStream`] into a response, waiting for its first chunk to choose the
/// status (see the [module docs](self)).
///
/// Headers of a streamed response: `Content-Type` (the encoder's), `X-Accel-Buffering: no`
/// (so nginx-style proxies do not buffer the stream) and `Cache-Control: no-store`.
/// An early failure's status is the [`Problem`]'s own if the error's source is one,
/// otherwise `500 Internal Server Error`.
pub async fn into_response(mut chunks: ChunkStream) -> Response {
    let first = match chunks.next().await {
        Some(Ok(first)) => first,
        Some(Err(err)) => return problem_for(&err).into_response(),
        None => bytes::Bytes::new(),
    };
    let content_type = HeaderValue::from_str(chunks.content_type())
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
    let body = Body::from_stream(FlushBeforeError {
        first: Some(first),
        chunks,
        error: None,
    });
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, content_type);
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The response body: the first chunk, then the rest of the [`ChunkStream`].
///
/// hyper buffers body chunks while the body is ready and flushes when it is not; an error
/// from the body drops the connection together with whatever is still buffered, head
/// included. So on an error this body first answers `Pending` once (waking itself at
/// once): hyper flushes what it holds, then sees the error and cuts the transfer. The
/// client receives the status, the headers and every chunk before the failure.
#[derive(Debug)]
struct FlushBeforeError {
    first: Option<bytes::Bytes>,
    chunks: ChunkStream,
    error: Option<StreamError>,
}

impl Stream for FlushBeforeError {
    type Item = Result<bytes::Bytes, StreamError>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::task::Poll;
        if let Some(first) = self.first.take() {
            return Poll::Ready(Some(Ok(first)));
        }
        if let Some(err) = self.error.take() {
            return Poll::Ready(Some(Err(err)));
        }
        match self.chunks.poll_next_unpin(cx) {
            Poll::Ready(Some(Err(err))) => {
                self.error = Some(err);
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            other => other,
        }
    }
}

/// The problem details for a stream that failed before its first byte.
fn problem_for(err: &StreamError) -> Problem {
    if let Some(problem) = err.source_ref().and_then(|s| s.downcast_ref::<Problem>()) {
        return problem.clone();
    }
    let title = match err.kind() {
        StreamErrorKind::Fetch => "The data source failed",
        StreamErrorKind::Transform => "An item could not be transformed",
        StreamErrorKind::Encode => "An item could not be encoded",
        StreamErrorKind::Panic => "The export failed unexpectedly",
        _ => "The export was cancelled",
    };
    Problem::new(StatusCode::INTERNAL_SERVER_ERROR, title).with_detail(err.to_string())
}

/// An RFC 9457 problem details object, served as `application/problem+json`.
///
/// Return it as an error from a fetcher or transformer (boxed) to choose the status of a
/// stream that fails before its first byte; return it directly from a handler for errors
/// found before streaming starts (unknown table, bad parameter).
///
/// ```
/// use axum::response::IntoResponse;
/// use http::StatusCode;
/// use rowstream::axum::Problem;
///
/// let response = Problem::new(StatusCode::NOT_FOUND, "No such table")
///     .with_detail("table \"nope\" does not exist")
///     .into_response();
/// assert_eq!(response.status(), 404);
/// assert_eq!(response.headers()["content-type"], "application/problem+json");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    status: StatusCode,
    title: String,
    detail: Option<String>,
}

impl Problem {
    /// A problem with an HTTP `status` and a short human-readable `title`.
    pub fn new(status: StatusCode, title: impl Into<String>) -> Self {
        Self {
            status,
            title: title.into(),
            detail: None,
        }
    }

    /// Adds an explanation specific to this occurrence.
    #[must_use]
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The short title.
    pub fn title(&self) -> &str {
        &self.title
    }

    /// The occurrence-specific detail, if any.
    pub fn detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.title)?;
        if let Some(detail) = &self.detail {
            write!(f, ": {detail}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problem {}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        #[derive(serde::Serialize)]
        struct Body<'a> {
            r#type: &'static str,
            title: &'a str,
            status: u16,
            #[serde(skip_serializing_if = "Option::is_none")]
            detail: Option<&'a str>,
        }
        let body = serde_json::to_vec(&Body {
            r#type: "about:blank",
            title: &self.title,
            status: self.status.as_u16(),
            detail: self.detail.as_deref(),
        })
        .unwrap_or_else(|_| b"{}".to_vec());
        let mut response = (self.status, body).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        response
    }
}
