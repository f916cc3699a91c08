//! The [`Negotiated`] extractor: content negotiation for axum handlers.

use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};
use futures_core::Stream;
use http::HeaderMap;
use http::request::Parts;

use super::StreamResponse;
#[cfg(feature = "compression")]
use crate::http::negotiate_encoding;
use crate::http::{negotiate_request, wants_trailers};
use crate::{AnyEncoder, BoxError, Format, Identity, JsonArray, NotAcceptable, Streamer};

/// The format a request negotiated (RFC 9110 §12.5.1) from its `format` query value and
/// `Accept` header(s), and whether it accepts trailers (`TE: trailers`).
///
/// As an extractor it offers every format this build can encode ([`Format::available`])
/// and rejects the request with **406 Not Acceptable** (problem+json listing the supported
/// media types) when none is acceptable; see [`negotiate_among`](crate::negotiate_among)
/// for the rules. Use [`Negotiated::from_headers`] to offer fewer formats.
///
/// ```no_run
/// use axum::{Router, routing::get, response::Response};
/// use rowstream::axum::Negotiated;
/// use rowstream::fetch;
///
/// // GET /numbers                         -> JSON array
/// // GET /numbers?format=csv              -> CSV (with the `csv` feature)
/// // GET /numbers  Accept: application/x-ndjson -> NDJSON
/// async fn numbers(negotiated: Negotiated) -> Response {
///     negotiated.respond(fetch::from_iter(0..1_000_000u64)).await
/// }
///
/// let app: Router = Router::new().route("/numbers", get(numbers));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    format: Format,
    trailers: bool,
    #[cfg(feature = "compression")]
    coding: crate::compress::ContentCoding,
}

impl Negotiated {
    /// Negotiates among `offered` (in the server's order of preference) from a request's
    /// headers and its URI query string (the part after `?`, if any).
    ///
    /// # Errors
    ///
    /// [`NotAcceptable`] when the `format` value names no offered format or `Accept`
    /// accepts none of them; it answers 406 as a response.
    pub fn from_headers(
        headers: &HeaderMap,
        query: Option<&str>,
        offered: &[Format],
    ) -> Result<Self, NotAcceptable> {
        let format = negotiate_request(headers, query, offered)?;
        Ok(Self {
            format,
            trailers: wants_trailers(headers),
            #[cfg(feature = "compression")]
            coding: negotiate_encoding(headers),
        })
    }

    /// The chosen format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Whether the request carried `TE: trailers`.
    pub fn trailers(&self) -> bool {
        self.trailers
    }

    /// The encoder of the chosen format with its defaults (configure it further, e.g.
    /// [`AnyEncoder::completion_record`]).
    pub fn encoder(&self) -> AnyEncoder {
        // A negotiated format is always available; the fallback is never taken.
        AnyEncoder::new(self.format).unwrap_or_else(|_| AnyEncoder::from(JsonArray::new()))
    }

    /// The content coding negotiated from `Accept-Encoding` (feature `compression`).
    #[cfg(feature = "compression")]
    pub fn coding(&self) -> crate::compress::ContentCoding {
        self.coding
    }

    /// A [`StreamResponse`] that sends trailers if the client asked for them and, with
    /// the `compression` feature, compresses with the negotiated coding at
    /// [`DEFAULT_LEVEL`](crate::compress::DEFAULT_LEVEL).
    pub fn stream_response(&self) -> StreamResponse {
        let response = StreamResponse::new().trailers(self.trailers);
        #[cfg(feature = "compression")]
        let response = response.compression(self.coding, crate::compress::DEFAULT_LEVEL);
        response
    }

    /// The answer to a `HEAD` request in the chosen format: the headers of the `GET`
    /// response, no body, no query run ([`StreamResponse::head`]).
    ///
    /// axum routes `HEAD` to the `GET` handler (and drops the body it returns), so a
    /// handler that always calls [`respond`](Self::respond) starts its query for a `HEAD`
    /// request too. Take the [`Method`](axum::http::Method) to answer it here instead:
    ///
    /// ```no_run
    /// use axum::{extract::State, http::Method, response::Response};
    /// use rowstream::axum::Negotiated;
    /// use sqlx::SqlitePool;
    ///
    /// async fn tickets(method: Method, State(pool): State<SqlitePool>, negotiated: Negotiated) -> Response {
    ///     if method == Method::HEAD {
    ///         return negotiated.head();
    ///     }
    ///     negotiated.respond(rowstream::sqlite::rows(pool, "SELECT * FROM tickets")).await
    /// }
    /// ```
    pub fn head(&self) -> Response {
        use crate::Encoder as _;
        self.stream_response().head(self.encoder().content_type())
    }

    /// Streams `fetcher` in the chosen format with the default [`Streamer`] and encoder
    /// options, trailers if asked for; see [`StreamResponse::respond`].
    ///
    /// With a [`Streamer`] of your own (another [`ChunkConfig`](crate::ChunkConfig),
    /// [`Limits`](crate::Limits), an observer) or a transformer, stream with it and the
    /// negotiated [`encoder`](Self::encoder), and answer with
    /// [`stream_response`](Self::stream_response) — what this method does with the defaults:
    ///
    /// ```no_run
    /// use axum::{extract::State, response::Response};
    /// use rowstream::axum::Negotiated;
    /// use rowstream::{Identity, Streamer, fetch};
    ///
    /// // Router::new().route("/numbers", get(numbers)).with_state(streamer)
    /// async fn numbers(State(streamer): State<Streamer>, negotiated: Negotiated) -> Response {
    ///     let chunks = streamer.stream(fetch::from_iter(0..1_000_000u64), Identity, negotiated.encoder());
    ///     negotiated.stream_response().respond(chunks).await
    /// }
    /// ```
    ///
    /// # Panics
    ///
    /// As [`Streamer::stream`]: outside a tokio runtime with timers.
    pub async fn respond<S, T, E>(self, fetcher: S) -> Response
    where
        S: Stream<Item = Result<T, E>> + Send + 'static,
        T: serde::Serialize + Send + 'static,
        E: Into<BoxError> + Send + 'static,
    {
        let chunks = Streamer::default().stream(fetcher, Identity, self.encoder());
        self.stream_response().respond(chunks).await
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Negotiated {
    type Rejection = NotAcceptable;

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

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderValue, StatusCode, header};

    #[test]
    fn negotiated_from_headers() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::ACCEPT,
            HeaderValue::from_static("application/x-ndjson"),
        );
        let negotiated = Negotiated::from_headers(&headers, None, &Format::ALL).unwrap();
        assert_eq!(negotiated.format(), Format::Ndjson);
        assert!(!negotiated.trailers());
        headers.append(header::TE, HeaderValue::from_static("trailers"));
        let negotiated =
            Negotiated::from_headers(&headers, Some("format=jsonseq"), &Format::ALL).unwrap();
        assert_eq!(negotiated.format(), Format::JsonSeq);
        assert!(negotiated.trailers());
    }

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
