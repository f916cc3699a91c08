//! [`Problem`]: RFC 9457 problem details as an axum response.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};

use crate::{StreamError, StreamErrorKind};

/// The `application/problem+json` media type (RFC 9457).
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An RFC 9457 problem details object, served as `application/problem+json`.
///
/// Return it as an error from a fetcher or transformer (boxed) to choose the status of a
/// stream that fails before its first byte; return it directly from a handler for errors
/// found before streaming starts (unknown table, bad parameter).
///
/// The body is `{"type":"about:blank","title":…,"status":…,"detail":…}` plus any
/// extension members ([`with_extension`](Self::with_extension)).
///
/// ```
/// use axum::response::IntoResponse;
/// use http::StatusCode;
/// use rowstream::axum::Problem;
///
/// let response = Problem::new(StatusCode::NOT_FOUND, "No such table")
///     .with_detail("table \"nope\" does not exist")
///     .with_extension("table", "nope")
///     .into_response();
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

    /// The problem details for a stream that failed before its first byte: the
    /// [`Problem`] the error carries as its source, else a 500 naming the failed stage.
    pub(super) fn for_stream_error(err: &StreamError) -> Problem {
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
        let body = serde_json::to_vec(&Body(&self)).unwrap_or_else(|_| b"{}".to_vec());
        let mut response = (self.status, body).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
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
