//! The NDJSON encoder: one compact JSON text per line.

use bytes::{BufMut, BytesMut};
use serde::Serialize;

use super::{Encoder, Scratch, ValuePolicy, terminal, write_json_with};
use crate::{EncodeError, StreamError};

/// Encodes a stream as newline-delimited JSON (NDJSON, also known as JSON Lines),
/// `application/x-ndjson`.
///
/// Each item is one compact JSON text (RFC 8259) followed by `\n`. A record never holds a
/// raw newline: compact JSON has no whitespace between tokens and strings escape line
/// breaks as `\n`. An empty stream is an empty body. Values follow the encoder's
/// [`ValuePolicy`] (default: NaN/±Infinity as `null`, exact 64-bit integers).
///
/// **Completion record** (off by default, [`completion_record`](Self::completion_record)):
/// a last line `{"$rowstream":{"complete":true,"rows":N}}` after a complete stream, or
/// `{"$rowstream":{"complete":false,"rows":N,"error":{"kind":"fetch","message":"…"}}}`
/// before a failed stream is cut (see [`COMPLETION_KEY`](crate::COMPLETION_KEY)), so a
/// client that cannot see transport errors (`curl | jq`) can tell a complete export from a
/// cut one. Without it, a failed stream simply stops after the last complete line and
/// the transfer is cut.
///
/// ```
/// use bytes::BytesMut;
/// use rowstream::{Encoder, Ndjson};
///
/// let mut enc = Ndjson::new().completion_record(true);
/// let mut out = BytesMut::new();
/// enc.begin(&mut out)?;
/// enc.item(&serde_json::json!({"id": 1, "note": "two\nlines"}), &mut out)?;
/// enc.item(&f64::NAN, &mut out)?;
/// enc.end(2, &mut out)?;
/// assert_eq!(
///     &out[..],
///     b"{\"id\":1,\"note\":\"two\\nlines\"}\nnull\n{\"$rowstream\":{\"complete\":true,\"rows\":2}}\n"
/// );
/// # Ok::<(), rowstream::EncodeError>(())
/// ```
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct Ndjson {
    policy: ValuePolicy,
    completion_record: bool,
    scratch: Scratch,
}

impl Ndjson {
    /// `application/x-ndjson`.
    pub const MEDIA_TYPE: &'static str = "application/x-ndjson";

    /// An NDJSON encoder with the default [`ValuePolicy`] and no completion record.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the value policy. Default [`ValuePolicy::default`].
    pub fn policy(mut self, policy: ValuePolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Writes a terminal `$rowstream` record at the end (success) or before the cut
    /// (failure). Default `false`.
    pub fn completion_record(mut self, on: bool) -> Self {
        self.completion_record = on;
        self
    }
}

impl Encoder for Ndjson {
    fn content_type(&self) -> &str {
        Self::MEDIA_TYPE
    }

    #[inline]
    fn item<T: Serialize + ?Sized>(
        &mut self,
        item: &T,
        out: &mut BytesMut,
    ) -> Result<(), EncodeError> {
        write_json_with(item, self.policy, &mut self.scratch, out)?;
        out.put_u8(b'\n');
        Ok(())
    }

    fn end(&mut self, items: u64, out: &mut BytesMut) -> Result<(), EncodeError> {
        if self.completion_record {
            terminal::write_complete(items, out)?;
            out.put_u8(b'\n');
        }
        Ok(())
    }

    fn error(&mut self, error: &StreamError, out: &mut BytesMut) -> Result<(), EncodeError> {
        if self.completion_record {
            terminal::write_failed(error, out)?;
            out.put_u8(b'\n');
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StreamErrorKind;

    #[test]
    fn no_raw_newline_inside_a_record() {
        let mut enc = Ndjson::new();
        let mut out = BytesMut::new();
        let text: String = (0u8..=0x7f).map(char::from).collect::<String>() + "\u{2028}\u{2029}";
        enc.item(&serde_json::json!({"t": text, "k\nk": [text]}), &mut out)
            .unwrap();
        assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1);
        assert_eq!(out.last(), Some(&b'\n'));
        assert!(!out.contains(&b'\r'));
    }

    #[test]
    fn error_record_only_when_asked() {
        let err = StreamError::new(StreamErrorKind::Transform, 3, Some("bad".into()));
        let mut out = BytesMut::new();
        Ndjson::new().error(&err, &mut out).unwrap();
        Ndjson::new().end(3, &mut out).unwrap();
        assert!(out.is_empty());
        Ndjson::new()
            .completion_record(true)
            .error(&err, &mut out)
            .unwrap();
        let line: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(line["$rowstream"]["complete"], false);
        assert_eq!(line["$rowstream"]["rows"], 3);
        assert_eq!(line["$rowstream"]["error"]["kind"], "transform");
    }
}
