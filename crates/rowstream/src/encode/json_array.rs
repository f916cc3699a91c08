//! The JSON array encoder (RFC 8259): `[item,item,…]`.

use bytes::{BufMut, BytesMut};
use serde::Serialize;

use super::{Encoder, JsonScratch, ValuePolicy, write_json_with};
use crate::EncodeError;

/// Encodes a stream as one JSON array (RFC 8259), `application/json`.
///
/// Items are compact JSON separated by `,`; an empty stream is `[]`. A stream that fails
/// is never closed with `]`, so a client's JSON parser rejects a cut document. Values
/// follow the encoder's [`ValuePolicy`] (default: NaN/±Infinity as `null`, exact 64-bit
/// integers). To put the array inside an object with other fields, use
/// [`JsonEnvelope`](crate::JsonEnvelope).
///
/// ```
/// use bytes::BytesMut;
/// use rowstream::{Encoder, JsonArray};
///
/// let mut enc = JsonArray::new();
/// let mut out = BytesMut::new();
/// enc.begin(&mut out)?;
/// enc.item(&serde_json::json!({"id": 1, "subject": "Hi \"there\""}), &mut out)?;
/// enc.item(&f64::NAN, &mut out)?;
/// enc.end(2, &mut out)?;
/// assert_eq!(&out[..], br#"[{"id":1,"subject":"Hi \"there\""},null]"#);
/// # Ok::<(), rowstream::EncodeError>(())
/// ```
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct JsonArray {
    policy: ValuePolicy,
    separator_due: bool,
    scratch: JsonScratch,
}

impl JsonArray {
    /// `application/json`.
    pub const MEDIA_TYPE: &'static str = "application/json";

    /// A new JSON array encoder with the default [`ValuePolicy`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the value policy. Default [`ValuePolicy::default`].
    pub fn policy(mut self, policy: ValuePolicy) -> Self {
        self.policy = policy;
        self
    }
}

impl JsonArray {
    /// Writes `value` (not an item: no separator) under this encoder's policy, e.g. the
    /// meta field of a [`JsonEnvelope`](crate::JsonEnvelope).
    pub(super) fn write_value<T: Serialize + ?Sized>(
        &mut self,
        value: &T,
        out: &mut BytesMut,
    ) -> Result<(), EncodeError> {
        write_json_with(value, self.policy, &mut self.scratch, out)
    }
}

impl Encoder for JsonArray {
    fn content_type(&self) -> &str {
        Self::MEDIA_TYPE
    }

    fn begin(&mut self, out: &mut BytesMut) -> Result<(), EncodeError> {
        self.separator_due = false;
        out.put_u8(b'[');
        Ok(())
    }

    #[inline]
    fn item<T: Serialize + ?Sized>(
        &mut self,
        item: &T,
        out: &mut BytesMut,
    ) -> Result<(), EncodeError> {
        if self.separator_due {
            out.put_u8(b',');
        }
        write_json_with(item, self.policy, &mut self.scratch, out)?;
        self.separator_due = true;
        Ok(())
    }

    fn end(&mut self, _items: u64, out: &mut BytesMut) -> Result<(), EncodeError> {
        out.put_u8(b']');
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn empty_array() {
        let mut enc = JsonArray::new();
        let mut out = BytesMut::new();
        enc.begin(&mut out).unwrap();
        enc.end(0, &mut out).unwrap();
        assert_eq!(&out[..], b"[]");
    }

    #[test]
    fn failed_item_does_not_move_separator_state() {
        // A map with non-string keys cannot be JSON.
        let mut bad = BTreeMap::new();
        bad.insert(vec![1u8], 1);
        let mut enc = JsonArray::new();
        let mut out = BytesMut::new();
        enc.begin(&mut out).unwrap();
        let before = out.len();
        assert!(enc.item(&bad, &mut out).is_err());
        out.truncate(before);
        enc.item(&1, &mut out).unwrap();
        enc.end(0, &mut out).unwrap();
        assert_eq!(&out[..], b"[1]");
    }
}
