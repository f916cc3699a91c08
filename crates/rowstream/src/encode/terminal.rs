//! The completion signal of record formats: one final record that tells a client whether
//! the export is complete, and how many rows it holds.

use bytes::BytesMut;
use serde::Serialize;

use super::write_json;
use crate::{EncodeError, StreamError};

/// The key of the terminal record that record formats (NDJSON, JSON-seq, CSV) write last
/// when their completion record is on: `$rowstream`.
///
/// On success the record is `{"$rowstream":{"complete":true,"rows":N}}`; on failure
/// `{"$rowstream":{"complete":false,"rows":N,"error":{"kind":K,"message":M}}}`, where `N`
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
    error: Option<ErrorBody<'a>>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    kind: &'a str,
    message: String,
}

/// Writes `{"$rowstream":{"complete":true,"rows":N}}`.
pub(crate) fn write_complete(rows: u64, out: &mut BytesMut) -> Result<(), EncodeError> {
    write_json(
        &Record {
            body: Body {
                complete: true,
                rows,
                error: None,
            },
        },
        out,
    )
}

/// Writes `{"$rowstream":{"complete":false,"rows":N,"error":{"kind":K,"message":M}}}`.
pub(crate) fn write_failed(err: &StreamError, out: &mut BytesMut) -> Result<(), EncodeError> {
    write_json(
        &Record {
            body: Body {
                complete: false,
                rows: err.items_before(),
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
        write_complete(42, &mut out).unwrap();
        assert_eq!(&out[..], br#"{"$rowstream":{"complete":true,"rows":42}}"#);
        out.clear();
        let err = StreamError::new(StreamErrorKind::Fetch, 7, Some("disk \"gone\"".into()));
        write_failed(&err, &mut out).unwrap();
        assert_eq!(
            &out[..],
            br#"{"$rowstream":{"complete":false,"rows":7,"error":{"kind":"fetch","message":"fetch error after 7 items: disk \"gone\""}}}"#
        );
    }
}
