//! Encoders: how items become bytes of one document format.
//!
//! An [`Encoder`] writes into a buffer the caller owns (push style, as in `tokio-util`'s
//! codecs): [`begin`](Encoder::begin) once, [`item`](Encoder::item) per item,
//! [`end`](Encoder::end) once on success. The [`Streamer`](crate::Streamer) decides where
//! chunks are cut; an encoder never sees chunk boundaries.
//!
//! **All or nothing per item.** If [`item`](Encoder::item) returns an error, the streamer
//! truncates the buffer back to its length before the call, so a failed item never leaves
//! half a record in the output. An encoder must therefore change its own state (such as
//! "a separator is due") only once an item has encoded completely.
//!
//! Built-in encoders, all streaming item by item into the caller's buffer (none holds the
//! document in memory), all writing values under one [`ValuePolicy`]:
//!
//! | encoder | module | media type | standard |
//! |---|---|---|---|
//! | [`JsonArray`] | `json_array` | `application/json` | RFC 8259 |
//! | [`JsonEnvelope`] (the array inside an object) | `envelope` | `application/json` | RFC 8259 |
//! | [`Ndjson`] ([`LineDelimited`] without a record separator) | `line_delimited` | `application/x-ndjson` | NDJSON / JSON Lines |
//! | [`JsonSeq`] ([`LineDelimited`] with RS) | `line_delimited` | `application/json-seq` | RFC 7464 |
//! | `Csv` (feature `csv`) | `csv` | `text/csv; charset=utf-8; header=present` | RFC 4180 |
//! | `Msgpack` (feature `msgpack`) | `msgpack` | `application/vnd.msgpack` | MessagePack spec |
//! | `Protobuf` (feature `protobuf`; items `Proto(message)`, or rows as the message of a schema) | `protobuf` | `application/x-protobuf; delimited=true` | Protocol Buffers wire format, length-delimited |
//! | `Arrow` (feature `arrow`) | `arrow` | `application/vnd.apache.arrow.stream` | Arrow IPC streaming format |
//! | `Parquet` (feature `parquet`) | `parquet` | `application/vnd.apache.parquet` | Apache Parquet |
//!
//! The columnar encoders (Arrow, Parquet) gather rows in column builders of a given
//! schema and write them in blocks ([`Encoder::held`], [`Encoder::flush`]); memory stays
//! bounded by one chunk (Arrow) or one row group (Parquet).
//!
//! [`AnyEncoder`](crate::AnyEncoder) picks one of them at run time.

#[cfg(feature = "arrow")]
pub(crate) mod arrow;
#[cfg(feature = "csv")]
mod csv;
mod envelope;
mod format;
pub(crate) mod item_limit;
mod json_array;
mod json_writer;
mod line_delimited;
#[cfg(feature = "msgpack")]
mod msgpack;
#[cfg(feature = "parquet")]
mod parquet;
mod policy;
#[cfg(feature = "protobuf")]
pub(crate) mod protobuf;
mod terminal;

#[cfg(feature = "arrow")]
pub use arrow::{Arrow, DEFAULT_BATCH_ROWS};
#[cfg(feature = "csv")]
pub use csv::{Csv, Delimiter};
pub use envelope::JsonEnvelope;
pub(crate) use format::MediaType;
pub use format::{AnyEncoder, Format, UnavailableFormat, UnknownFormat};
pub use json_array::JsonArray;
pub use line_delimited::{Framing, JsonSeq, JsonSeqFraming, LineDelimited, Ndjson, NdjsonFraming};
#[cfg(feature = "msgpack")]
pub use msgpack::Msgpack;
#[cfg(feature = "parquet")]
pub use parquet::{DEFAULT_ROW_GROUP_BYTES, DEFAULT_ROW_GROUP_ROWS, Parquet};
pub use policy::{BigIntegers, MAX_SAFE_INTEGER, NonFinite, ValuePolicy, WithPolicy};
#[cfg(feature = "protobuf")]
pub use protobuf::{PROTOBUF_MEDIA_TYPE, Proto, Protobuf};
pub use terminal::{COMPLETION_KEY, LastKey};

use bytes::BytesMut;
use serde::Serialize;

use crate::{EncodeError, StreamError};

/// Turns items into the bytes of one document format.
///
/// Implement it for your own format and pass it to
/// [`Streamer::stream`](crate::Streamer::stream). A tab-separated format, for example:
///
/// ```
/// use bytes::{BufMut, BytesMut};
/// use rowstream::{EncodeError, Encoder};
/// use serde::Serialize;
///
/// /// Each item as one line of its JSON text, prefixed by its line number.
/// #[derive(Debug, Default)]
/// struct Numbered {
///     line: u64,
/// }
///
/// impl Encoder for Numbered {
///     fn content_type(&self) -> &str {
///         "text/plain; charset=utf-8"
///     }
///     fn item<T: Serialize + ?Sized>(&mut self, item: &T, out: &mut BytesMut) -> Result<(), EncodeError> {
///         out.put_slice(format!("{}\t", self.line + 1).as_bytes());
///         serde_json::to_writer(out.writer(), item)?;
///         out.put_u8(b'\n');
///         self.line += 1; // state changes only after success
///         Ok(())
///     }
/// }
///
/// let mut enc = Numbered::default();
/// let mut out = BytesMut::new();
/// enc.item(&"a", &mut out)?;
/// enc.item(&2, &mut out)?;
/// assert_eq!(&out[..], b"1\t\"a\"\n2\t2\n");
/// # Ok::<(), EncodeError>(())
/// ```
pub trait Encoder: Send + 'static {
    /// The media type of the document, for a `Content-Type` header, e.g.
    /// `application/json`.
    fn content_type(&self) -> &str;

    /// Writes what comes before the first item (e.g. `[`). Default: nothing.
    ///
    /// # Errors
    ///
    /// An [`EncodeError`] if the preamble cannot be written.
    fn begin(&mut self, out: &mut BytesMut) -> Result<(), EncodeError> {
        let _ = out;
        Ok(())
    }

    /// Appends one item, with any separator it needs.
    ///
    /// # Errors
    ///
    /// An [`EncodeError`] if the item cannot be represented in this format. The caller
    /// then truncates `out` to its length before the call.
    fn item<T: Serialize + ?Sized>(
        &mut self,
        item: &T,
        out: &mut BytesMut,
    ) -> Result<(), EncodeError>;

    /// Writes what comes after the last item (e.g. `]`) when the stream completes;
    /// `items` is how many items were encoded, for a terminal record that carries the
    /// count. Never called on a stream that fails. Default: nothing.
    ///
    /// # Errors
    ///
    /// An [`EncodeError`] if the epilogue cannot be written.
    fn end(&mut self, items: u64, out: &mut BytesMut) -> Result<(), EncodeError> {
        let _ = (items, out);
        Ok(())
    }

    /// How many bytes of encoded items the encoder holds back instead of writing them
    /// into the buffer: columnar formats ([`Arrow`](crate::Arrow), `Parquet`) gather rows
    /// into column builders and write them as one block. The streamer cuts a chunk when
    /// the buffer and this together reach the chunk threshold, and calls
    /// [`flush`](Encoder::flush) before every cut. `usize::MAX` asks for a cut now (a
    /// row-count bound). Default: 0 (every item is written at once).
    fn held(&self) -> usize {
        0
    }

    /// Writes what the encoder holds back (see [`held`](Encoder::held)), just before the
    /// streamer cuts a chunk; it may write nothing (Parquet, until a row group fills).
    /// [`end`](Encoder::end) must write what is still held; with nothing held, `flush`
    /// writes nothing. Default: nothing.
    ///
    /// # Errors
    ///
    /// An [`EncodeError`] if the held items cannot be written; the stream then fails.
    fn flush(&mut self, out: &mut BytesMut) -> Result<(), EncodeError> {
        let _ = out;
        Ok(())
    }

    /// Writes a final record describing `error` when a stream fails after its first chunk
    /// was sent, just before the transfer is cut. Record formats (NDJSON, JSON-seq, CSV)
    /// may write a tagged error record here when asked to; the document stays invalid or
    /// visibly failed either way. Default: nothing.
    ///
    /// # Errors
    ///
    /// An [`EncodeError`] if the record cannot be written; the stream fails all the same.
    fn error(&mut self, error: &StreamError, out: &mut BytesMut) -> Result<(), EncodeError> {
        let _ = (error, out);
        Ok(())
    }
}

/// Serializes `value` as compact JSON straight into `out`.
///
/// Strings are escaped as RFC 8259 requires (quotes, backslash, control characters);
/// non-ASCII text, including characters outside the BMP, is written as UTF-8. Floats that
/// are NaN or infinite are written as `null`, as the default [`ValuePolicy`] asks; wrap
/// `value` in [`WithPolicy`] for another policy.
///
/// # Errors
///
/// An [`EncodeError`] if `value`'s `Serialize` implementation fails or produces something
/// JSON cannot hold (a map with non-string keys).
pub fn write_json<T: Serialize + ?Sized>(value: &T, out: &mut BytesMut) -> Result<(), EncodeError> {
    json_writer::to_buf(&mut json_writer::AppendTo::new(out).0, value)?;
    Ok(())
}

/// Serializes `value` as compact JSON into `out` under `policy` (see [`ValuePolicy`]),
/// through `scratch`.
///
/// # Errors
///
/// As [`write_json`], and the policy's own error ([`NonFinite::Error`]) naming the field.
#[inline]
pub(crate) fn write_json_with<T: Serialize + ?Sized>(
    value: &T,
    policy: ValuePolicy,
    scratch: &mut JsonScratch,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    scratch.write(out, |buf| {
        if policy.is_json_native() {
            // The JSON writer alone already writes NaN/±Infinity as null and exact digits.
            json_writer::to_buf(buf, value)?;
            return Ok(());
        }
        let value = WithPolicy::new(value, policy);
        json_writer::to_buf(buf, &value).map_err(|e| value.map_err(e))
    })
}

/// [`Scratch`] for the JSON writer: its bytes stay initialized between items, so the
/// writer's fixed-size stores need no zeroing per item.
#[derive(Clone, Default)]
pub(crate) struct JsonScratch(json_writer::JsonBuf<Vec<u8>>);

impl std::fmt::Debug for JsonScratch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonScratch")
            .field("len", &self.0.storage_len())
            .finish()
    }
}

impl JsonScratch {
    /// Runs `write` on the cleared scratch space and appends what it wrote to `out` if
    /// it succeeded; an item whose storage grew past [`Scratch::KEEP`] is handed over as
    /// [`Scratch::write`] does.
    #[inline]
    pub(crate) fn write<E>(
        &mut self,
        out: &mut BytesMut,
        write: impl FnOnce(&mut json_writer::JsonBuf<Vec<u8>>) -> Result<(), E>,
    ) -> Result<(), E> {
        self.0.clear();
        let result = write(&mut self.0);
        if self.0.storage_len() > Scratch::KEEP {
            let (mut item, len) = std::mem::take(&mut self.0).into_parts();
            if result.is_ok() {
                item.truncate(len);
                Scratch::hand_over(item, out);
            }
        } else if result.is_ok() {
            out.extend_from_slice(self.0.written());
        }
        result
    }
}

/// Scratch space an item is serialized into before one copy into the output buffer.
///
/// Serializers write many pieces of a few bytes (a marker, a quote, a separator); a
/// `Vec<u8>` takes those measurably faster than a `BytesMut` (MessagePack encodes about
/// 1.4× faster this way, JSON a few percent), and the single `extend_from_slice` per item
/// is cheap. A failed item never reaches the output. An item larger than
/// [`Scratch::KEEP`] bytes is not copied: its allocation becomes the output buffer
/// ([`Scratch::hand_over`]) and the scratch space starts afresh, so a rare huge row is
/// neither held for the rest of the stream nor copied.
#[derive(Clone, Default)]
pub(crate) struct Scratch(Vec<u8>);

impl std::fmt::Debug for Scratch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scratch")
            .field("capacity", &self.0.capacity())
            .finish()
    }
}

impl Scratch {
    /// Capacity kept between items: 64 KiB.
    pub(crate) const KEEP: usize = crate::config::SCRATCH_BYTES;

    /// Runs `write` on the cleared scratch space and appends what it wrote to `out` if
    /// it succeeded.
    #[inline]
    #[cfg_attr(not(any(feature = "csv", feature = "msgpack")), allow(dead_code))]
    pub(crate) fn write<E>(
        &mut self,
        out: &mut BytesMut,
        write: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
    ) -> Result<(), E> {
        self.0.clear();
        let result = write(&mut self.0);
        if self.0.capacity() > Self::KEEP {
            let item = std::mem::take(&mut self.0);
            if result.is_ok() {
                Self::hand_over(item, out);
            }
        } else if result.is_ok() {
            out.extend_from_slice(&self.0);
        }
        result
    }
}

impl Scratch {
    /// Appends a large item to `out` without copying it: what `out` held moves in front
    /// of the item in its own allocation (a move of the item within it, no second
    /// allocation of the item's size), which becomes `out`. A huge value then costs one
    /// buffer of its encoded size, not two.
    fn hand_over(mut item: Vec<u8>, out: &mut BytesMut) {
        if !out.is_empty() {
            item.splice(0..0, out.iter().copied());
        }
        // Unique, so the conversion keeps the allocation (`Bytes::try_into_mut`).
        *out = BytesMut::from(bytes::Bytes::from(item));
    }
}

/// An `io::Write` that appends to a `BytesMut` without the bookkeeping of
/// `bytes::buf::Writer`.
#[cfg(feature = "msgpack")]
struct BytesWriter<'a>(&'a mut BytesMut);

#[cfg(feature = "msgpack")]
impl std::io::Write for BytesWriter<'_> {
    #[inline]
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    #[inline]
    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.0.extend_from_slice(buf);
        Ok(())
    }

    #[inline]
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_item_becomes_the_output_buffer_without_a_copy() {
        let mut scratch = Scratch::default();
        let mut out = BytesMut::from(&b"[1,"[..]);
        let mut written = std::ptr::null();
        scratch
            .write(&mut out, |buf| {
                buf.extend_from_slice(&vec![b'x'; 1 << 20]);
                written = buf.as_ptr();
                Ok::<(), ()>(())
            })
            .unwrap();
        // The item's allocation, with what `out` held moved in front of it.
        assert_eq!(out.as_ptr(), written);
        assert_eq!(out.len(), 3 + (1 << 20));
        assert_eq!(&out[..4], b"[1,x");
        assert!(out[3..].iter().all(|&b| b == b'x'));
        // The scratch space starts afresh.
        assert_eq!(scratch.0.capacity(), 0);

        // A small item is copied, and the scratch space kept.
        scratch
            .write(&mut out, |buf| {
                buf.extend_from_slice(b",2");
                Ok::<(), ()>(())
            })
            .unwrap();
        assert!(out.ends_with(b"x,2"));
        assert!(scratch.0.capacity() > 0);

        // A failed large item leaves `out` as it was.
        let before = out.len();
        let failed = scratch.write(&mut out, |buf| {
            buf.extend_from_slice(&vec![b'y'; 1 << 20]);
            Err(())
        });
        assert_eq!(failed, Err(()));
        assert_eq!(out.len(), before);
    }

    #[test]
    fn json_scratch_hands_a_large_item_over_and_starts_afresh() {
        let mut scratch = JsonScratch::default();
        let mut out = BytesMut::from(&b"[1,"[..]);
        let big = "x".repeat(1 << 20);
        write_json_with(&big, ValuePolicy::default(), &mut scratch, &mut out).unwrap();
        assert_eq!(out.len(), 3 + 2 + (1 << 20));
        assert_eq!(&out[..5], b"[1,\"x");
        assert_eq!(scratch.0.storage_len(), 0);

        out.extend_from_slice(b",");
        write_json_with("a\"b", ValuePolicy::default(), &mut scratch, &mut out).unwrap();
        assert!(out.ends_with(b"x\",\"a\\\"b\""));
        assert!(scratch.0.storage_len() > 0);

        // A failed item leaves `out` as it was.
        let before = out.len();
        let bad = std::collections::BTreeMap::from([(vec![1u8], 1)]);
        assert!(write_json_with(&bad, ValuePolicy::default(), &mut scratch, &mut out).is_err());
        assert_eq!(out.len(), before);
    }

    #[test]
    fn write_json_appends_to_what_out_holds() {
        let mut out = BytesMut::from(&b"prefix "[..]);
        write_json(&("a\nb", 1, None::<u8>), &mut out).unwrap();
        assert_eq!(&out[..], b"prefix [\"a\\nb\",1,null]");
        let bad = std::collections::BTreeMap::from([(vec![1u8], 1)]);
        assert!(write_json(&bad, &mut out).is_err());
        // What was written before the error may stay, but none of the writer's scratch bytes.
        assert!(out.starts_with(b"prefix [\"a\\nb\",1,null]"));
        assert!(out.len() < 40 && !out.contains(&0));
    }
}
