//! The JSON text sequence encoder (RFC 7464): RS, a JSON text, LF — per item.

use bytes::{BufMut, BytesMut};
use serde::Serialize;

use super::{Encoder, Scratch, ValuePolicy, terminal, write_json_with};
use crate::{EncodeError, StreamError};

/// The record separator, `0x1E`, that starts every text of a JSON text sequence.
const RS: u8 = 0x1e;

/// Encodes a stream as a JSON text sequence (RFC 7464), `application/json-seq`.
///
/// Each item is written as RS (`0x1E`), one compact JSON text (RFC 8259), LF (`0x0A`).
/// The LF after every text also ends top-level numbers unambiguously, as RFC 7464 §2.2
/// asks, and a reader can resynchronise at the next RS after a damaged text. An empty
/// stream is an empty body. Values follow the encoder's [`ValuePolicy`].
///
/// **Completion record** (off by default, [`completion_record`](Self::completion_record)):
/// a last text `{"$rowstream":{"complete":true,"rows":N}}` after a complete stream, or
/// `{"$rowstream":{"complete":false,"rows":N,"error":{…}}}` before a failed stream is cut;
/// see [`COMPLETION_KEY`](crate::COMPLETION_KEY).
///
/// ```
/// use bytes::BytesMut;
/// use rowstream::{Encoder, JsonSeq};
///
/// let mut enc = JsonSeq::new();
/// let mut out = BytesMut::new();
/// enc.item(&serde_json::json!({"id": 1}), &mut out)?;
/// enc.item(&2, &mut out)?;
/// assert_eq!(&out[..], b"\x1e{\"id\":1}\n\x1e2\n");
/// # Ok::<(), rowstream::EncodeError>(())
/// ```
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct JsonSeq {
    policy: ValuePolicy,
    completion_record: bool,
    scratch: Scratch,
}

impl JsonSeq {
    /// `application/json-seq`.
    pub const MEDIA_TYPE: &'static str = "application/json-seq";

    /// A JSON text sequence encoder with the default [`ValuePolicy`] and no completion
    /// record.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the value policy. Default [`ValuePolicy::default`].
    pub fn policy(mut self, policy: ValuePolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Writes a terminal `$rowstream` text at the end (success) or before the cut
    /// (failure). Default `false`.
    pub fn completion_record(mut self, on: bool) -> Self {
        self.completion_record = on;
        self
    }
}

impl Encoder for JsonSeq {
    fn content_type(&self) -> &str {
        Self::MEDIA_TYPE
    }

    #[inline]
    fn item<T: Serialize + ?Sized>(
        &mut self,
        item: &T,
        out: &mut BytesMut,
    ) -> Result<(), EncodeError> {
        out.put_u8(RS);
        write_json_with(item, self.policy, &mut self.scratch, out)?;
        out.put_u8(b'\n');
        Ok(())
    }

    fn end(&mut self, items: u64, out: &mut BytesMut) -> Result<(), EncodeError> {
        if self.completion_record {
            out.put_u8(RS);
            terminal::write_complete(items, out)?;
            out.put_u8(b'\n');
        }
        Ok(())
    }

    fn error(&mut self, error: &StreamError, out: &mut BytesMut) -> Result<(), EncodeError> {
        if self.completion_record {
            out.put_u8(RS);
            terminal::write_failed(error, out)?;
            out.put_u8(b'\n');
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completion_record_is_one_more_text() {
        let mut enc = JsonSeq::new().completion_record(true);
        let mut out = BytesMut::new();
        enc.begin(&mut out).unwrap();
        enc.end(0, &mut out).unwrap();
        assert_eq!(
            &out[..],
            b"\x1e{\"$rowstream\":{\"complete\":true,\"rows\":0}}\n"
        );
    }
}
