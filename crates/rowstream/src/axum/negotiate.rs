//! The [`Negotiated`] extractor: content negotiation for axum handlers.

use std::borrow::Cow;

use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};
use futures_core::Stream;
use http::request::Parts;
use http::{HeaderMap, HeaderValue, StatusCode, header};

use super::{Problem, StreamResponse};
use crate::{
    AnyEncoder, BoxError, Format, Identity, JsonArray, NotAcceptable, Streamer, negotiate_among,
};

/// The format a request negotiated (RFC 9110 §12.5.1) from its `format` query value and
/// `Accept` header(s), and whether it accepts trailers (`TE: trailers`).
///
/// As an extractor it offers every format this build can encode ([`Format::available`])
/// and rejects the request with **406 Not Acceptable** (problem+json listing the supported
/// media types) when none is acceptable; see [`negotiate_among`] for the rules. Use
/// [`Negotiated::from_headers`] to offer fewer formats.
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
        let accept = accept_header(headers);
        let format_value = query.and_then(format_query_value);
        let format = negotiate_among(accept.as_deref(), format_value.as_deref(), offered)?;
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
    pub fn head(&self) -> Response {
        use crate::Encoder as _;
        self.stream_response().head(self.encoder().content_type())
    }

    /// Streams `fetcher` in the chosen format with the default [`Streamer`] and encoder
    /// options, trailers if asked for; see [`StreamResponse::respond`].
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
    /// the offered media types as the extension member `supported`; `Vary: Accept`.
    fn into_response(self) -> Response {
        let supported: Vec<serde_json::Value> =
            self.supported_media_types().map(Into::into).collect();
        let mut response = Problem::new(StatusCode::NOT_ACCEPTABLE, "Not Acceptable")
            .with_detail(self.to_string())
            .with_extension("supported", supported)
            .into_response();
        response
            .headers_mut()
            .insert(header::VARY, HeaderValue::from_static("Accept"));
        response
    }
}

/// The content coding for a request: [`ContentCoding::negotiate`](crate::compress::ContentCoding::negotiate)
/// over every `Accept-Encoding` line, among all codings this crate has.
#[cfg(feature = "compression")]
pub fn negotiate_encoding(headers: &HeaderMap) -> crate::compress::ContentCoding {
    let lines: Vec<&str> = headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    crate::compress::ContentCoding::negotiate(&lines.join(","), crate::compress::ContentCoding::ALL)
}

/// Whether `TE` (every line) lists `trailers` (RFC 9110 §10.1.4).
pub fn wants_trailers(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::TE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|line| line.split(','))
        .any(|token| {
            token
                .split(';')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case("trailers"))
        })
}

/// Every `Accept` line joined with `, `; lines that are not visible ASCII are left out.
fn accept_header(headers: &HeaderMap) -> Option<Cow<'_, str>> {
    let mut lines = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok());
    let first = lines.next()?;
    match lines.next() {
        None => Some(Cow::Borrowed(first)),
        Some(second) => {
            let mut joined = format!("{first}, {second}");
            for line in lines {
                joined.push_str(", ");
                joined.push_str(line);
            }
            Some(Cow::Owned(joined))
        }
    }
}

/// The first `format` value of a query string, percent-decoded (`+` is a space).
fn format_query_value(query: &str) -> Option<Cow<'_, str>> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(key) == "format").then(|| percent_decode(value))
    })
}

fn percent_decode(s: &str) -> Cow<'_, str> {
    if !s.bytes().any(|b| b == b'%' || b == b'+') {
        return Cow::Borrowed(s);
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                if let Some(byte) = hex {
                    out.push(byte);
                    i += 3;
                    continue;
                }
                out.push(b'%');
            }
            b => out.push(b),
        }
        i += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values() {
        assert_eq!(format_query_value("format=csv").as_deref(), Some("csv"));
        assert_eq!(
            format_query_value("a=1&format=ndjson&format=csv").as_deref(),
            Some("ndjson")
        );
        assert_eq!(
            format_query_value("%66ormat=json%2Dseq").as_deref(),
            Some("json-seq")
        );
        assert_eq!(format_query_value("format").as_deref(), Some(""));
        assert_eq!(format_query_value("formats=csv"), None);
        assert_eq!(format_query_value("format=%zz%").as_deref(), Some("%zz%"));
        assert_eq!(
            format_query_value("format=%ff").as_deref(),
            Some("\u{fffd}")
        );
    }

    #[test]
    fn trailers_token() {
        let mut headers = HeaderMap::new();
        assert!(!wants_trailers(&headers));
        headers.append(header::TE, HeaderValue::from_static("gzip;q=0.5"));
        assert!(!wants_trailers(&headers));
        headers.append(header::TE, HeaderValue::from_static("deflate, Trailers"));
        assert!(wants_trailers(&headers));
    }

    #[test]
    fn several_accept_lines_count_together() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::ACCEPT,
            HeaderValue::from_static("application/json;q=0.1"),
        );
        headers.append(
            header::ACCEPT,
            HeaderValue::from_static("application/x-ndjson"),
        );
        let negotiated = Negotiated::from_headers(&headers, None, &Format::ALL).unwrap();
        assert_eq!(negotiated.format(), Format::Ndjson);
        let negotiated =
            Negotiated::from_headers(&headers, Some("format=jsonseq"), &Format::ALL).unwrap();
        assert_eq!(negotiated.format(), Format::JsonSeq);
        assert!(!negotiated.trailers());
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
