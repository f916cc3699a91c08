//! The JSON envelope encoder: the items as an array inside an object with other fields.

use std::borrow::Cow;

use bytes::{BufMut, BytesMut};
use serde::Serialize;

use super::{Encoder, JsonArray, ValuePolicy, write_json};
use crate::EncodeError;

/// Encodes a stream as one JSON object (RFC 8259) that holds the items as an array next to
/// other fields, `application/json`:
///
/// ```text
/// {"meta":<meta>,"data":[item,item,…]}            default
/// {"meta":<meta>,"data":[item,item,…],"count":N}  with count_key("count")
/// ```
///
/// `meta` is any `Serialize` value (a struct, a `serde_json::Value`, `()` for `null`),
/// encoded once at the start of the document under the encoder's [`ValuePolicy`]; if it
/// cannot be encoded the stream fails before its first byte. The key names are options
/// ([`meta_key`](Self::meta_key), [`data_key`](Self::data_key)), and
/// [`count_key`](Self::count_key) adds a trailing field with the number of items, written
/// after the array once the count is known. As with [`JsonArray`](crate::JsonArray), a
/// failed stream is never closed, so it does not parse.
///
/// ```
/// use bytes::BytesMut;
/// use rowstream::{Encoder, JsonEnvelope};
///
/// #[derive(serde::Serialize)]
/// struct Meta { table: &'static str, columns: [&'static str; 2] }
///
/// let meta = Meta { table: "tickets", columns: ["id", "subject"] };
/// let mut enc = JsonEnvelope::new(meta).count_key("count");
/// let mut out = BytesMut::new();
/// enc.begin(&mut out)?;
/// enc.item(&(1, "Printer on fire"), &mut out)?;
/// enc.item(&(2, "Coffee"), &mut out)?;
/// enc.end(2, &mut out)?;
/// assert_eq!(
///     std::str::from_utf8(&out).unwrap(),
///     r#"{"meta":{"table":"tickets","columns":["id","subject"]},"data":[[1,"Printer on fire"],[2,"Coffee"]],"count":2}"#
/// );
/// # Ok::<(), rowstream::EncodeError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct JsonEnvelope<M> {
    meta: M,
    meta_key: Cow<'static, str>,
    data_key: Cow<'static, str>,
    count_key: Option<Cow<'static, str>>,
    /// The `data` array: its framing, separators and value policy.
    array: JsonArray,
}

impl<M: Serialize + Send + 'static> JsonEnvelope<M> {
    /// An envelope `{"meta":<meta>,"data":[…]}` with the default [`ValuePolicy`] and no
    /// count field.
    pub fn new(meta: M) -> Self {
        Self {
            meta,
            meta_key: Cow::Borrowed("meta"),
            data_key: Cow::Borrowed("data"),
            count_key: None,
            array: JsonArray::new(),
        }
    }

    /// The key of the meta field. Default `meta`.
    pub fn meta_key(mut self, key: impl Into<Cow<'static, str>>) -> Self {
        self.meta_key = key.into();
        self
    }

    /// The key of the items array. Default `data`.
    pub fn data_key(mut self, key: impl Into<Cow<'static, str>>) -> Self {
        self.data_key = key.into();
        self
    }

    /// Adds a trailing field `"<key>":N` after the array with the number of items.
    /// Default: none.
    pub fn count_key(mut self, key: impl Into<Cow<'static, str>>) -> Self {
        self.count_key = Some(key.into());
        self
    }

    /// Sets the value policy, for `meta` and the items. Default [`ValuePolicy::default`].
    pub fn policy(mut self, policy: ValuePolicy) -> Self {
        self.array = self.array.policy(policy);
        self
    }

    /// The meta value.
    pub fn meta(&self) -> &M {
        &self.meta
    }
}

impl<M: Serialize + Send + 'static> Encoder for JsonEnvelope<M> {
    fn content_type(&self) -> &str {
        JsonArray::MEDIA_TYPE
    }

    /// Writes `{"<meta_key>":<meta>,"<data_key>":[`.
    ///
    /// # Errors
    ///
    /// An [`EncodeError`] if `meta` cannot be encoded as JSON under the value policy.
    fn begin(&mut self, out: &mut BytesMut) -> Result<(), EncodeError> {
        out.put_u8(b'{');
        write_json(&*self.meta_key, out)?;
        out.put_u8(b':');
        self.array.write_value(&self.meta, out)?;
        out.put_u8(b',');
        write_json(&*self.data_key, out)?;
        out.put_u8(b':');
        self.array.begin(out)
    }

    #[inline]
    fn item<T: Serialize + ?Sized>(
        &mut self,
        item: &T,
        out: &mut BytesMut,
    ) -> Result<(), EncodeError> {
        self.array.item(item, out)
    }

    /// Writes `]`, the count field if asked for, and `}`.
    fn end(&mut self, items: u64, out: &mut BytesMut) -> Result<(), EncodeError> {
        self.array.end(items, out)?;
        if let Some(key) = &self.count_key {
            out.put_u8(b',');
            write_json(&**key, out)?;
            out.put_u8(b':');
            out.put_slice(itoa::Buffer::new().format(items).as_bytes());
        }
        out.put_u8(b'}');
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{NonFinite, StreamError, StreamErrorKind};

    #[test]
    fn empty_envelope_with_escaped_keys() {
        let mut enc = JsonEnvelope::new(serde_json::json!({"q": "a\"b"}))
            .meta_key("m\"")
            .data_key("rows")
            .count_key("n");
        let mut out = BytesMut::new();
        enc.begin(&mut out).unwrap();
        enc.end(0, &mut out).unwrap();
        assert_eq!(&out[..], br#"{"m\"":{"q":"a\"b"},"rows":[],"n":0}"#);
        let parsed: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(parsed["rows"], serde_json::json!([]));
    }

    #[test]
    fn meta_follows_the_policy_and_can_fail_the_start() {
        let strict = ValuePolicy::default().non_finite(NonFinite::Error);
        let mut enc = JsonEnvelope::new(f64::NAN).policy(strict);
        let err = enc.begin(&mut BytesMut::new()).unwrap_err();
        assert_eq!(err.to_string(), "non-finite float NaN as the item");
    }

    #[test]
    fn failed_stream_is_not_closed() {
        let mut enc = JsonEnvelope::new(());
        let mut out = BytesMut::new();
        enc.begin(&mut out).unwrap();
        enc.item(&1, &mut out).unwrap();
        let err = StreamError::new(StreamErrorKind::Fetch, 1, None);
        enc.error(&err, &mut out).unwrap();
        assert_eq!(&out[..], br#"{"meta":null,"data":[1"#);
        assert!(serde_json::from_slice::<serde_json::Value>(&out).is_err());
    }
}
