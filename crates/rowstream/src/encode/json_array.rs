//! The JSON array encoder (RFC 8259): `[item,item,…]`.

use bytes::{BufMut, BytesMut};
use serde::Serialize;

use super::{Encoder, write_json};
use crate::EncodeError;

/// Encodes a stream as one JSON array (RFC 8259), `application/json`.
///
/// Items are compact JSON separated by `,`; an empty stream is `[]`. A stream that fails
/// is never closed with `]`, so a client's JSON parser rejects a cut document.
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
pub struct JsonArray {
    separator_due: bool,
}

impl JsonArray {
    /// A new JSON array encoder.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Encoder for JsonArray {
    fn content_type(&self) -> &str {
        "application/json"
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
        write_json(item, out)?;
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
