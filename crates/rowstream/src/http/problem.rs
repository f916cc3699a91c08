//! [`Problem`]: RFC 9457 problem details as an HTTP response.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};

use crate::{NotAcceptable, StreamError, StreamErrorKind};

/// The `application/problem+json` media type (RFC 9457).
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An RFC 9457 problem details object, served as `application/problem+json`.
///
/// Return it as an error from a fetcher or transformer (boxed) to choose the status of a
/// stream that fails before its first byte; answer with it directly for errors found
/// before streaming starts (unknown table, bad parameter): [`to_response`](Self::to_response)
/// with any body type, or, with the `axum` feature, as an `IntoResponse` from a handler.
///
/// The body is `{"type":"about:blank","title":…,"status":…,"detail":…}` plus any
/// extension members ([`with_extension`](Self::with_extension)).
///
/// ```
/// use http::StatusCode;
/// use rowstream::http::{Problem, StreamBody};
///
/// let response = Problem::new(StatusCode::NOT_FOUND, "No such table")
///     .with_detail("table \"nope\" does not exist")
///     .with_extension("table", "nope")
///     .to_response::<StreamBody>();
/// assert_eq!(response.status(), 404);
/// assert_eq!(response.headers()["content-type"], "application/problem+json");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    status: StatusCode,
    title: String,
    detail: Option<String>,
    extensions: Vec<(String, serde_json::Value)>,
}

impl Problem {
    /// A problem with an HTTP `status` and a short human-readable `title`.
    pub fn new(status: StatusCode, title: impl Into<String>) -> Self {
        Self {
            status,
            title: title.into(),
            detail: None,
            extensions: Vec::new(),
        }
    }

    /// Adds an explanation specific to this occurrence.
    #[must_use]
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Adds an extension member (RFC 9457 §3.2), e.g. `"supported": [...]` on a 406.
    /// Names of the standard members (`type`, `title`, `status`, `detail`, `instance`)
    /// are ignored.
    #[must_use]
    pub fn with_extension(
        mut self,
        name: impl Into<String>,
        value: impl Into<serde_json::Value>,
    ) -> Self {
        let name = name.into();
        if !matches!(
            name.as_str(),
            "type" | "title" | "status" | "detail" | "instance"
        ) {
            self.extensions.retain(|(n, _)| *n != name);
            self.extensions.push((name, value.into()));
        }
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

    /// The extension member `name`, if set.
    pub fn extension(&self, name: &str) -> Option<&serde_json::Value> {
        self.extensions
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }

    /// The response: the problem's status, `Content-Type: application/problem+json`, and
    /// the JSON object as the body, in any body type that can be made from [`Bytes`]
    /// ([`StreamBody`](super::StreamBody), `http_body_util::Full<Bytes>`, axum's `Body` …).
    pub fn to_response<B: From<Bytes>>(&self) -> Response<B> {
        let body = serde_json::to_vec(&Body(self)).unwrap_or_else(|_| b"{}".to_vec());
        let mut response = Response::new(B::from(Bytes::from(body)));
        *response.status_mut() = self.status;
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        response
    }

    /// The problem details for a stream that failed before its first byte — the answer
    /// [`StreamResponse::respond`](super::StreamResponse::respond) gives, for code that
    /// reads a [`ChunkStream`](crate::ChunkStream) itself (to spool or buffer it): the
    /// [`Problem`] the error carries as its source, else `500 Internal Server Error`
    /// titled after the failed stage (fetch, transform, encode, timeout, limit …) with
    /// the error as `detail`.
    pub fn for_stream_error(err: &StreamError) -> Problem {
        if let Some(problem) = err.source_ref().and_then(|s| s.downcast_ref::<Problem>()) {
            return problem.clone();
        }
        let title = match err.kind() {
            StreamErrorKind::Fetch => "The data source failed",
            StreamErrorKind::Transform => "An item could not be transformed",
            StreamErrorKind::Encode => "An item could not be encoded",
            StreamErrorKind::Panic => "The export failed unexpectedly",
            StreamErrorKind::TimedOut => "The export timed out",
            StreamErrorKind::LimitReached => "The export passed a limit",
            _ => "The export was cancelled",
        };
        Problem::new(StatusCode::INTERNAL_SERVER_ERROR, title).with_detail(err.to_string())
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

impl From<&NotAcceptable> for Problem {
    /// `406 Not Acceptable` with the reason as `detail` and the offered media types as
    /// the extension member `supported`.
    fn from(err: &NotAcceptable) -> Self {
        let supported: Vec<serde_json::Value> =
            err.supported_media_types().map(Into::into).collect();
        Problem::new(StatusCode::NOT_ACCEPTABLE, "Not Acceptable")
            .with_detail(err.to_string())
            .with_extension("supported", supported)
    }
}

impl NotAcceptable {
    /// The `406 Not Acceptable` response (feature `http`): an `application/problem+json`
    /// body with the reason as `detail` and the offered media types as the extension
    /// member `supported`, and `Vary: Accept`; in any body type that can be made from
    /// [`Bytes`].
    ///
    /// ```
    /// use rowstream::http::StreamBody;
    /// use rowstream::{Format, negotiate_among};
    ///
    /// let err = negotiate_among(Some("image/png"), None, &[Format::Json]).unwrap_err();
    /// let response = err.to_response::<StreamBody>();
    /// assert_eq!(response.status(), 406);
    /// assert_eq!(response.headers()["vary"], "Accept");
    /// ```
    pub fn to_response<B: From<Bytes>>(&self) -> Response<B> {
        let mut response = Problem::from(self).to_response();
        response
            .headers_mut()
            .insert(header::VARY, HeaderValue::from_static("Accept"));
        response
    }
}

/// The JSON body: the standard members in RFC 9457's order, then the extensions.
struct Body<'a>(&'a Problem);

impl serde::Serialize for Body<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let problem = self.0;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("type", "about:blank")?;
        map.serialize_entry("title", &problem.title)?;
        map.serialize_entry("status", &problem.status.as_u16())?;
        if let Some(detail) = &problem.detail {
            map.serialize_entry("detail", detail)?;
        }
        for (name, value) in &problem.extensions {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_early_failure_is_titled_by_its_kind() {
        let limit = StreamError::new(
            StreamErrorKind::LimitReached,
            0,
            Some("a value of 9 bytes exceeds max_item_size (4 bytes)".into()),
        );
        let problem = Problem::for_stream_error(&limit);
        assert_eq!(problem.title, "The export passed a limit");
        assert!(
            problem
                .detail
                .as_deref()
                .is_some_and(|d| d.contains("max_item_size")),
            "{problem}"
        );
        let timed_out = StreamError::new(StreamErrorKind::TimedOut, 0, None);
        assert_eq!(
            Problem::for_stream_error(&timed_out).title,
            "The export timed out"
        );
        let cancelled = StreamError::new(StreamErrorKind::Cancelled, 0, None);
        assert_eq!(
            Problem::for_stream_error(&cancelled).title,
            "The export was cancelled"
        );
    }
}
