//! The line-delimited JSON encoders: one compact JSON text per line, after a record
//! separator — NDJSON (none) and JSON text sequences (RFC 7464: RS).

use std::fmt;
use std::marker::PhantomData;

use bytes::{BufMut, BytesMut};
use serde::Serialize;

use super::terminal::{self, LastKey};
use super::{Encoder, JsonScratch, ValuePolicy, write_json_with};
use crate::{EncodeError, StreamError};

/// How a line-delimited JSON format frames each text: its media type and the record
/// separator written before the text (the text always ends with LF). Implemented by
/// [`NdjsonFraming`] and [`JsonSeqFraming`]; sealed.
pub trait Framing:
    sealed::Sealed + fmt::Debug + Clone + Copy + Default + Send + Sync + 'static
{
    /// The media type of the document, e.g. `application/x-ndjson`.
    const MEDIA_TYPE: &'static str;
    /// The byte written before every text, if any: RS (`0x1E`) in a JSON text sequence.
    const RECORD_SEPARATOR: Option<u8>;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::NdjsonFraming {}
    impl Sealed for super::JsonSeqFraming {}
}

/// The framing of [`Ndjson`]: no record separator, `application/x-ndjson`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NdjsonFraming;

impl Framing for NdjsonFraming {
    const MEDIA_TYPE: &'static str = "application/x-ndjson";
    const RECORD_SEPARATOR: Option<u8> = None;
}

/// The framing of [`JsonSeq`]: RS (`0x1E`) before every text, `application/json-seq`
/// (RFC 7464).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JsonSeqFraming;

impl Framing for JsonSeqFraming {
    const MEDIA_TYPE: &'static str = "application/json-seq";
    const RECORD_SEPARATOR: Option<u8> = Some(0x1e);
}

/// A line-delimited JSON encoder: each item is the framing's record separator (if any),
/// one compact JSON text (RFC 8259), and LF. Use it through its two formats, [`Ndjson`]
/// and [`JsonSeq`].
///
/// A record never holds a raw newline: compact JSON has no whitespace between tokens and
/// strings escape line breaks as `\n`. An empty stream is an empty body. Values follow the
/// encoder's [`ValuePolicy`] (default: NaN/±Infinity as `null`, exact 64-bit integers).
///
/// **Completion record** (off by default, [`completion_record`](Self::completion_record)):
/// a last record `{"$rowstream":{"complete":true,"rows":N}}` after a complete stream, or
/// `{"$rowstream":{"complete":false,"rows":N,"error":{"kind":"fetch","message":"…"}}}`
/// before a failed stream is cut (see [`COMPLETION_KEY`](crate::COMPLETION_KEY)), so a
/// client that cannot see transport errors (`curl | jq`) can tell a complete export from a
/// cut one. Without it, a failed stream simply stops after the last complete record and
/// the transfer is cut.
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct LineDelimited<F: Framing> {
    policy: ValuePolicy,
    completion_record: bool,
    last_key: Option<LastKey>,
    scratch: JsonScratch,
    framing: PhantomData<F>,
}

/// Encodes a stream as newline-delimited JSON (NDJSON, also known as JSON Lines),
/// `application/x-ndjson`: each item is one compact JSON text followed by `\n`
/// (a [`LineDelimited`] encoder without a record separator; see it for the completion
/// record and the value policy).
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
pub type Ndjson = LineDelimited<NdjsonFraming>;

/// Encodes a stream as a JSON text sequence (RFC 7464), `application/json-seq`: each item
/// is RS (`0x1E`), one compact JSON text, LF (a [`LineDelimited`] encoder with RS as its
/// record separator; see it for the completion record and the value policy).
///
/// The LF after every text also ends top-level numbers unambiguously, as RFC 7464 §2.2
/// asks, and a reader can resynchronise at the next RS after a damaged text.
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
pub type JsonSeq = LineDelimited<JsonSeqFraming>;

impl<F: Framing> LineDelimited<F> {
    /// The media type: `application/x-ndjson` for [`Ndjson`], `application/json-seq` for
    /// [`JsonSeq`].
    pub const MEDIA_TYPE: &'static str = F::MEDIA_TYPE;

    /// An encoder with the default [`ValuePolicy`] and no completion record.
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

    /// Adds `"last_key"` to the completion record, from `last` (see [`LastKey`]).
    /// Default: none.
    pub fn last_key(mut self, last: LastKey) -> Self {
        self.last_key = Some(last);
        self
    }

    /// Writes one record: the separator, what `text` writes, LF.
    #[inline]
    fn record(
        out: &mut BytesMut,
        text: impl FnOnce(&mut BytesMut) -> Result<(), EncodeError>,
    ) -> Result<(), EncodeError> {
        if let Some(separator) = F::RECORD_SEPARATOR {
            out.put_u8(separator);
        }
        text(out)?;
        out.put_u8(b'\n');
        Ok(())
    }
}

impl<F: Framing> Encoder for LineDelimited<F> {
    fn content_type(&self) -> &str {
        F::MEDIA_TYPE
    }

    #[inline]
    fn item<T: Serialize + ?Sized>(
        &mut self,
        item: &T,
        out: &mut BytesMut,
    ) -> Result<(), EncodeError> {
        let (policy, scratch) = (self.policy, &mut self.scratch);
        Self::record(out, |out| write_json_with(item, policy, scratch, out))
    }

    fn end(&mut self, items: u64, out: &mut BytesMut) -> Result<(), EncodeError> {
        if self.completion_record {
            Self::record(out, |out| {
                terminal::write_complete(items, self.last_key.as_ref(), out)
            })?;
        }
        Ok(())
    }

    fn error(&mut self, error: &StreamError, out: &mut BytesMut) -> Result<(), EncodeError> {
        if self.completion_record {
            Self::record(out, |out| {
                terminal::write_failed(error, self.last_key.as_ref(), out)
            })?;
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

    /// One item and a failure's record, in framing `F`.
    fn framed<F: Framing>(err: &StreamError) -> BytesMut {
        let mut enc = LineDelimited::<F>::new().completion_record(true);
        let mut out = BytesMut::new();
        enc.item(&(1, "a"), &mut out).unwrap();
        enc.error(err, &mut out).unwrap();
        out
    }

    #[test]
    fn the_two_framings_differ_only_in_the_separator_and_media_type() {
        let err = StreamError::new(StreamErrorKind::Fetch, 1, Some("gone".into()));
        let ndjson = framed::<NdjsonFraming>(&err);
        let seq = framed::<JsonSeqFraming>(&err);
        assert_eq!(seq.iter().filter(|&&b| b == 0x1e).count(), 2);
        let unframed: Vec<u8> = seq.iter().copied().filter(|&b| b != 0x1e).collect();
        assert_eq!(unframed, &ndjson[..]);
        assert!(ndjson.starts_with(b"[1,\"a\"]\n{\"$rowstream\":"));
        assert_eq!(Ndjson::new().content_type(), "application/x-ndjson");
        assert_eq!(JsonSeq::new().content_type(), "application/json-seq");
        assert_eq!(Ndjson::MEDIA_TYPE, "application/x-ndjson");
        assert_eq!(JsonSeq::MEDIA_TYPE, "application/json-seq");
    }
}
