//! axum integration (feature `axum`): what is specific to axum — the [`Negotiated`]
//! extractor, [`Problem`] and [`NotAcceptable`] as `IntoResponse`,
//! [`into_response`] and [`json_array`] for handlers that return axum's `Response`, and
//! the [`WriteTimeoutListener`] for `axum::serve`.
//!
//! Everything else is the [`http`](crate::http) module's, re-exported here: axum answers
//! any `http::Response<B: http_body::Body>`, so a handler returns
//! [`StreamResponse::respond`]'s `http::Response<`[`StreamBody`]`>` as it is (declare the
//! handler `-> impl IntoResponse`, or call `.into_response()` to mix it with other
//! responses). The status, headers, body, trailers and early errors are described in
//! [the http module](crate::http#what-a-client-sees): a failure before the first chunk is
//! a 4xx/5xx `application/problem+json` response (RFC 9457) whose `detail` is the error's
//! text, the database's message included (see [the http module](crate::http#error-text)
//! for hiding it); a failure after it cuts the response.
//!
//! ```no_run
//! use axum::{Router, http::HeaderMap, response::{IntoResponse, Response}, routing::get};
//! use rowstream::axum::StreamResponse;
//! use rowstream::{Identity, Ndjson, Streamer, fetch};
//!
//! async fn numbers() -> Response {
//!     rowstream::axum::json_array(fetch::from_iter(0..1_000_000u64)).await
//! }
//!
//! async fn export(headers: HeaderMap) -> impl IntoResponse {
//!     let chunks = Streamer::default().stream(
//!         fetch::from_iter(0..100u32),
//!         Identity,
//!         Ndjson::new().completion_record(true),
//!     );
//!     StreamResponse::for_request(&headers).respond(chunks).await
//! }
//!
//! let app: Router = Router::new().route("/numbers", get(numbers)).route("/export", get(export));
//! ```

mod listener;

use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};
use futures_core::Stream;
use http::request::Parts;

use crate::{BoxError, ChunkStream, Format, Identity, JsonArray, NotAcceptable, Streamer};

#[cfg(feature = "compression")]
pub use crate::http::negotiate_encoding;
pub use crate::http::{
    MIN_COMPRESSED_BODY, Negotiated, PROBLEM_JSON, Problem, StreamBody, StreamResponse,
    TRAILER_ERROR, TRAILER_OUTCOME, TRAILER_ROWS, wants_trailers,
};
pub use listener::WriteTimeoutListener;

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

/// Turns a [`ChunkStream`] into axum's `Response` without trailers, waiting for its first
/// chunk to choose the status: [`http::into_response`](crate::http::into_response) with
/// axum's body type.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use axum::response::Response;
/// use rowstream::{Identity, Ndjson, Streamer, fetch};
///
/// let chunks = Streamer::default().stream(fetch::from_iter(0..3u8), Identity, Ndjson::new());
/// let response: Response = rowstream::axum::into_response(chunks).await;
/// assert_eq!(response.status(), 200);
/// assert_eq!(response.headers()["content-type"], "application/x-ndjson");
/// let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
/// assert_eq!(&body[..], b"0\n1\n2\n");
/// # }
/// ```
pub async fn into_response(chunks: ChunkStream) -> Response {
    crate::http::into_response(chunks).await.into_response()
}

impl<S: Send + Sync> FromRequestParts<S> for Negotiated {
    type Rejection = NotAcceptable;

    /// Negotiates among every format this build can encode ([`Format::available`]);
    /// rejects the request with 406 when none is acceptable.
    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, NotAcceptable> {
        let offered: Vec<Format> = Format::available().collect();
        Self::from_headers(&parts.headers, parts.uri.query(), &offered)
    }
}

impl IntoResponse for NotAcceptable {
    /// `406 Not Acceptable`, `application/problem+json`, with the reason as `detail` and
    /// the offered media types as the extension member `supported`; `Vary: Accept`
    /// ([`NotAcceptable::to_response`]).
    fn into_response(self) -> Response {
        self.to_response::<Body>()
    }
}

impl IntoResponse for Problem {
    /// [`Problem::to_response`] with axum's body.
    fn into_response(self) -> Response {
        self.to_response::<Body>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;

    #[test]
    fn not_acceptable_is_a_406_problem() {
        let err = crate::negotiate_among(Some("image/png"), None, &[Format::Json]).unwrap_err();
        let response = err.into_response();
        assert_eq!(response.status(), StatusCode::NOT_ACCEPTABLE);
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        assert_eq!(response.headers()["vary"], "Accept");
    }
}
