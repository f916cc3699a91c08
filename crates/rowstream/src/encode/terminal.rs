//! The completion signal of record formats: one final record that tells a client whether
//! the export is complete, and how many rows it holds.

use std::fmt::{self, Write as _};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::BytesMut;
use serde::Serialize;

use super::write_json;
use crate::{EncodeError, StreamError};

/// The key of the terminal record that record formats (NDJSON, JSON-seq, CSV) write last
/// when their completion record is on: `$rowstream`.
///
/// On success the record is `{"$rowstream":{"complete":true,"rows":N}}`; on failure
/// `{"$rowstream":{"complete":false,"rows":N,"error":{"kind":K,"message":M}}}`; with a
/// [`LastKey`], `"last_key":"K"` follows `rows` (the key of row N, as text), where `N`
/// counts the data records before it, `K` is a
/// [`StreamErrorKind`](crate::StreamErrorKind) name (`fetch`, `transform`, `encode`,
/// `panic`, `cancelled`, `timed_out`, `limit_reached`) and `M` the error's text. A client reads the last record: if it
/// is not an object with this key, or `complete` is not `true`, the export is incomplete.
pub const COMPLETION_KEY: &str = "$rowstream";

#[derive(Serialize)]
struct Record<'a> {
    #[serde(rename = "$rowstream")]
    body: Body<'a>,
}

#[derive(Serialize)]
struct Body<'a> {
    complete: bool,
    rows: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_key: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<ErrorBody<'a>>,
}

/// The key of the last row an export encoded, for exports in key order: the position a
/// client resumes from. Shared (cloning shares it) between the step that sees each row's
/// key — a transformer that calls [`LastKey::record`] once per row, in order — and what
/// reports it: the completion record of NDJSON, JSON-seq and CSV encoders given it
/// (`"last_key"`), and the `rowstream-last-key` trailer of a
/// [`StreamBody`](crate::http::StreamBody) given it.
///
/// It is reported only when it is the key of the last row encoded: after an error that
/// struck between the record and the encoding of a row, it is left out rather than name
/// a row the client did not get.
///
/// ```
/// let last = rowstream::LastKey::new();
/// last.record(&41);
/// last.record(&42);
/// assert_eq!(last.of(2).as_deref(), Some("42"));
/// assert_eq!(last.of(1), None);
/// ```
#[derive(Debug, Clone, Default)]
pub struct LastKey(Arc<Mutex<Recorded>>);

#[derive(Debug, Default)]
struct Recorded {
    rows: u64,
    key: String,
}

impl LastKey {
    /// Nothing recorded yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the key of the next row (the first call is row 1), as its `Display` text.
    pub fn record(&self, key: &dyn fmt::Display) {
        let mut recorded = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        recorded.rows += 1;
        recorded.key.clear();
        // Writing to a String does not fail.
        let _ = write!(recorded.key, "{key}");
    }

    /// The key of row `rows` (counted from 1), if it is the last one recorded.
    pub fn of(&self, rows: u64) -> Option<String> {
        let recorded = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        (rows > 0 && recorded.rows == rows).then(|| recorded.key.clone())
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    kind: &'a str,
    message: String,
}

/// Writes `{"$rowstream":{"complete":true,"rows":N}}` (with `"last_key"` when `last`
/// knows row N's key).
pub(crate) fn write_complete(
    rows: u64,
    last: Option<&LastKey>,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    let key = last.and_then(|last| last.of(rows));
    write_json(
        &Record {
            body: Body {
                complete: true,
                rows,
                last_key: key.as_deref(),
                error: None,
            },
        },
        out,
    )
}

/// Writes `{"$rowstream":{"complete":false,"rows":N,"error":{"kind":K,"message":M}}}`
/// (with `"last_key"` when `last` knows row N's key).
pub(crate) fn write_failed(
    err: &StreamError,
    last: Option<&LastKey>,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    let key = last.and_then(|last| last.of(err.items_before()));
    write_json(
        &Record {
            body: Body {
                complete: false,
                rows: err.items_before(),
                last_key: key.as_deref(),
                error: Some(ErrorBody {
                    kind: err.kind().as_str(),
                    message: err.to_string(),
                }),
            },
        },
        out,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StreamErrorKind;

    #[test]
    fn shapes() {
        let mut out = BytesMut::new();
        write_complete(42, None, &mut out).unwrap();
        assert_eq!(&out[..], br#"{"$rowstream":{"complete":true,"rows":42}}"#);
        out.clear();
        let last = LastKey::new();
        for key in ["a", "b\"c"] {
            last.record(&key);
        }
        write_complete(2, Some(&last), &mut out).unwrap();
        assert_eq!(
            &out[..],
            br#"{"$rowstream":{"complete":true,"rows":2,"last_key":"b\"c"}}"#
        );
        out.clear();
        // Row 3 was recorded but not encoded: no key rather than a wrong one.
        last.record(&"d");
        let err = StreamError::new(StreamErrorKind::Encode, 2, None);
        write_failed(&err, Some(&last), &mut out).unwrap();
        assert!(!String::from_utf8_lossy(&out).contains("last_key"));
        out.clear();
        let err = StreamError::new(StreamErrorKind::Fetch, 7, Some("disk \"gone\"".into()));
        write_failed(&err, None, &mut out).unwrap();
        assert_eq!(
            &out[..],
            br#"{"$rowstream":{"complete":false,"rows":7,"error":{"kind":"fetch","message":"fetch error after 7 items: disk \"gone\""}}}"#
        );
    }
}
