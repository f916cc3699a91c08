//! [`Negotiated`]: what one request negotiated — format, trailers, content coding — and
//! the response that answers it.

use futures_core::Stream;
use http::{HeaderMap, Response};

use super::{StreamBody, StreamResponse};
#[cfg(feature = "compression")]
use crate::negotiate::negotiate_encoding;
use crate::negotiate::{negotiate_request, wants_trailers};
use crate::{AnyEncoder, BoxError, Format, Identity, JsonArray, NotAcceptable, Streamer};

/// The format a request negotiated (RFC 9110 §12.5.1) from its `format` query value and
/// `Accept` header(s), whether it accepts trailers (`TE: trailers`) and, with the
/// `compression` feature, the content coding its `Accept-Encoding` asks for; and the
/// response that answers it ([`respond`](Self::respond), [`head`](Self::head)).
///
/// [`from_headers`](Self::from_headers) negotiates among the formats a server offers, for
/// hyper, tower or any `http` server. With the `axum` feature it is also an extractor
/// (`rowstream::axum::Negotiated`, the same type) that offers every format this build can
/// encode ([`Format::available`]) and rejects the request with **406 Not Acceptable**
/// (problem+json listing the supported media types) when none is acceptable; see
/// [`negotiate_among`](crate::negotiate_among) for the rules. Its responses are
/// `http::Response<`[`StreamBody`]`>`, which an axum handler returns as they are
/// (`impl IntoResponse`).
///
/// ```no_run
/// use axum::{Router, routing::get, response::IntoResponse};
/// use rowstream::axum::Negotiated;
/// use rowstream::fetch;
///
/// // GET /numbers                         -> JSON array
/// // GET /numbers?format=csv              -> CSV (with the `csv` feature)
/// // GET /numbers  Accept: application/x-ndjson -> NDJSON
/// async fn numbers(negotiated: Negotiated) -> impl IntoResponse {
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
    /// ```
    /// use http::{HeaderMap, HeaderValue, header};
    /// use rowstream::Format;
    /// use rowstream::http::Negotiated;
    ///
    /// let mut headers = HeaderMap::new();
    /// headers.insert(header::ACCEPT, HeaderValue::from_static("text/csv, application/x-ndjson;q=0.5"));
    /// headers.insert(header::TE, HeaderValue::from_static("trailers"));
    /// let negotiated = Negotiated::from_headers(&headers, None, &[Format::Json, Format::Ndjson])?;
    /// assert_eq!(negotiated.format(), Format::Ndjson);
    /// assert!(negotiated.trailers());
    /// # Ok::<(), rowstream::NotAcceptable>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`NotAcceptable`] when the `format` value names no offered format or `Accept`
    /// accepts none of them; answer it with
    /// [`NotAcceptable::to_response`](crate::NotAcceptable::to_response) (406).
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
    /// request too. Take the [`Method`](http::Method) to answer it here instead:
    ///
    /// ```no_run
    /// use axum::{extract::State, http::{Method, Response}};
    /// use rowstream::axum::{Negotiated, StreamBody};
    /// use sqlx::SqlitePool;
    ///
    /// async fn tickets(method: Method, State(pool): State<SqlitePool>, negotiated: Negotiated) -> Response<StreamBody> {
    ///     if method == Method::HEAD {
    ///         return negotiated.head();
    ///     }
    ///     negotiated.respond(rowstream::sqlite::rows(pool, "SELECT * FROM tickets")).await
    /// }
    /// ```
    pub fn head(&self) -> Response<StreamBody> {
        use crate::Encoder as _;
        self.stream_response().head(self.encoder().content_type())
    }

    /// Streams `fetcher` in the chosen format with the default [`Streamer`] and encoder
    /// options, trailers if asked for; see [`StreamResponse::respond`].
    ///
    /// With a [`Streamer`] of your own (another [`ChunkConfig`](crate::ChunkConfig),
    /// [`Limits`](crate::Limits), an observer), use [`respond_with`](Self::respond_with).
    /// With a transformer, stream with the streamer and the negotiated
    /// [`encoder`](Self::encoder), and answer with
    /// [`stream_response`](Self::stream_response) — what these methods do without one:
    ///
    /// ```no_run
    /// use axum::{extract::State, response::IntoResponse};
    /// use rowstream::axum::Negotiated;
    /// use rowstream::{Identity, Streamer, fetch};
    ///
    /// // Router::new().route("/numbers", get(numbers)).with_state(streamer)
    /// async fn numbers(State(streamer): State<Streamer>, negotiated: Negotiated) -> impl IntoResponse {
    ///     let chunks = streamer.stream(fetch::from_iter(0..1_000_000u64), Identity, negotiated.encoder());
    ///     negotiated.stream_response().respond(chunks).await
    /// }
    /// ```
    ///
    /// # Panics
    ///
    /// As [`Streamer::stream`]: outside a tokio runtime with timers.
    pub async fn respond<S, T, E>(self, fetcher: S) -> Response<StreamBody>
    where
        S: Stream<Item = Result<T, E>> + Send + 'static,
        T: serde::Serialize + Send + 'static,
        E: Into<BoxError> + Send + 'static,
    {
        self.respond_with(&Streamer::default(), fetcher).await
    }

    /// Streams `fetcher` in the chosen format with `streamer` — the service's one
    /// configured [`Streamer`]: its [`ChunkConfig`](crate::ChunkConfig),
    /// [`Limits`](crate::Limits), observers and buffer pool — and the encoder's default
    /// options, trailers if asked for; see [`StreamResponse::respond`].
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use axum::{Router, extract::{Path, State}, response::IntoResponse, routing::get};
    /// use rowstream::axum::Negotiated;
    /// use rowstream::{Limits, Streamer};
    ///
    /// #[derive(Clone)]
    /// struct App { pool: sqlx::PgPool, streamer: Streamer }
    ///
    /// async fn tickets(State(app): State<App>, Path(tenant): Path<i64>, negotiated: Negotiated) -> impl IntoResponse {
    ///     let query = sqlx::query_as::<_, (i64, String)>("SELECT id, subject FROM tickets WHERE tenant = $1").bind(tenant);
    ///     negotiated.respond_with(&app.streamer, rowstream::postgres::fetch_as(app.pool.clone(), query)).await
    /// }
    ///
    /// # fn app(pool: sqlx::PgPool) -> Router {
    /// let streamer = Streamer::default().with_limits(Limits::default().deadline(Duration::from_secs(600)));
    /// Router::new().route("/tenants/{tenant}/tickets", get(tickets)).with_state(App { pool, streamer })
    /// # }
    /// ```
    ///
    /// # Panics
    ///
    /// As [`Streamer::stream`]: outside a tokio runtime with timers.
    pub async fn respond_with<S, T, E>(
        self,
        streamer: &Streamer,
        fetcher: S,
    ) -> Response<StreamBody>
    where
        S: Stream<Item = Result<T, E>> + Send + 'static,
        T: serde::Serialize + Send + 'static,
        E: Into<BoxError> + Send + 'static,
    {
        let chunks = streamer.stream(fetcher, Identity, self.encoder());
        self.stream_response().respond(chunks).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderValue, header};

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
}
