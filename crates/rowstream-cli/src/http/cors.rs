//! Cross-origin reads (CORS, `--cors-origin`): tower-http's layer with the headers a
//! rowstream client sends and reads.

use axum::http::{HeaderValue, header};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// Request headers a cross-origin client may send: the bearer token, `Accept`, a
/// request id, `Prefer` (a row count), and `Range`, `If-Range` and `If-None-Match` (a
/// spooled export's byte ranges).
const CORS_REQUEST_HEADERS: [header::HeaderName; 7] = [
    header::AUTHORIZATION,
    header::ACCEPT,
    header::HeaderName::from_static(super::REQUEST_ID),
    header::HeaderName::from_static("prefer"),
    header::RANGE,
    header::IF_RANGE,
    header::IF_NONE_MATCH,
];

/// Response headers a cross-origin script may read besides the CORS-safelisted ones:
/// the download's file name, the request id, `Retry-After` of a `503`, and the
/// `rowstream-outcome`, `rowstream-rows`, `rowstream-error` and `rowstream-last-key`
/// trailers, the row count of `Prefer: count=…` with its `Preference-Applied`, and a
/// spooled export's `ETag`, `Content-Range` and `Accept-Ranges`.
pub const CORS_EXPOSED_HEADERS: [&str; 12] = [
    "content-disposition",
    super::REQUEST_ID,
    "retry-after",
    rowstream::axum::TRAILER_OUTCOME,
    rowstream::axum::TRAILER_ROWS,
    rowstream::axum::TRAILER_ERROR,
    rowstream::http::TRAILER_LAST_KEY,
    super::exports::COUNT_HEADER,
    "preference-applied",
    "etag",
    "content-range",
    "accept-ranges",
];

/// The CORS layer (tower-http) for `origins`: `GET` and `HEAD` from those origins, with
/// [`CORS_REQUEST_HEADERS`] allowed and [`CORS_EXPOSED_HEADERS`] exposed; preflights
/// (`OPTIONS` with `Access-Control-Request-Method`) answered by the layer, cached an hour.
/// A request from another origin gets no `Access-Control-Allow-Origin`, so its browser
/// keeps the response from the page.
pub(super) fn cors_layer(origins: Vec<HeaderValue>) -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([axum::http::Method::GET, axum::http::Method::HEAD])
        .allow_headers(CORS_REQUEST_HEADERS)
        .expose_headers(CORS_EXPOSED_HEADERS.map(header::HeaderName::from_static))
        .max_age(std::time::Duration::from_secs(3600))
}
