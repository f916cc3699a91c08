//! The MessagePack encoder (feature `msgpack`): concatenated values, or one array of a
//! declared length.

use bytes::BytesMut;
use serde::Serialize;

use super::policy::NativeFloats;
use super::{BytesWriter, Encoder, Scratch, ValuePolicy, WithPolicy};
use crate::EncodeError;

/// Encodes a stream as MessagePack, `application/vnd.msgpack`.
///
/// **Shape.** By default each item is one complete MessagePack value, written one after
/// the other (a *stream* of values, as `rmp_serde::Deserializer` and msgpack's
/// `Unpacker`/`decodeMulti` read them); an empty stream is an empty body.
///
/// **One array** ([`Msgpack::array`]): MessagePack has no indefinite-length array — an
/// array header carries its element count, and it has to be written before the first
/// element, which leaves in the first chunk. The streamer cannot know the count then
/// without holding every row back, which flat memory forbids. So one array is offered
/// when the caller knows the count up front (from a `SELECT COUNT(*)` in the same
/// snapshot, a page size, a finished file): the header carries the declared length, and
/// a stream that yields a different number of items fails (an encode error on the item
/// past the length, or at the end if items are missing) — the client gets a truncated
/// array that does not decode, never a complete array with the wrong rows.
///
/// **Values.** Structs are written as maps keyed by field name (not as positional
/// arrays), so every item is self-describing like the JSON formats; integers use the
/// smallest MessagePack integer that holds them; floats stay `float 64`/`float 32`;
/// byte buffers are `bin`. The [`ValuePolicy`] applies as in every format, except that
/// NaN and ±Infinity are written as the IEEE 754 floats they are (MessagePack carries
/// them) unless the policy is [`NonFinite::Error`](crate::NonFinite::Error), which fails
/// the item as in every format.
///
/// MessagePack has no record structure a client could skip, so there is no completion
/// record: a failed stream is cut and its last value is truncated or missing.
///
/// ```
/// use bytes::BytesMut;
/// use rowstream::{Encoder, Msgpack};
///
/// #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
/// struct Ticket { id: u32, subject: String }
///
/// let mut enc = Msgpack::new();
/// let mut out = BytesMut::new();
/// enc.item(&Ticket { id: 1, subject: "Hi".into() }, &mut out)?;
/// enc.item(&Ticket { id: 2, subject: "Yo".into() }, &mut out)?;
///
/// let mut reader = &out[..];
/// let first: Ticket = rmp_serde::from_read(&mut reader).unwrap();
/// let second: Ticket = rmp_serde::from_read(&mut reader).unwrap();
/// assert_eq!((first.id, second.subject.as_str()), (1, "Yo"));
///
/// // One array of a known length.
/// let mut enc = Msgpack::array(2);
/// let mut out = BytesMut::new();
/// enc.begin(&mut out)?;
/// enc.item(&1, &mut out)?;
/// enc.item(&2, &mut out)?;
/// assert!(enc.item(&3, &mut out).is_err()); // more than declared
/// enc.end(2, &mut out)?;
/// assert_eq!(rmp_serde::from_slice::<Vec<u8>>(&out).unwrap(), vec![1, 2]);
/// # Ok::<(), rowstream::EncodeError>(())
/// ```
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct Msgpack {
    policy: ValuePolicy,
    array_len: Option<u32>,
    items: u64,
    scratch: Scratch,
}

impl Msgpack {
    /// `application/vnd.msgpack`.
    pub const MEDIA_TYPE: &'static str = "application/vnd.msgpack";

    /// A stream of concatenated MessagePack values with the default [`ValuePolicy`].
    pub fn new() -> Self {
        Self::default()
    }

    /// One MessagePack array of exactly `len` items (see the type docs for why the
    /// length must be known up front).
    pub fn array(len: u32) -> Self {
        Self {
            array_len: Some(len),
            ..Self::default()
        }
    }

    /// Sets the value policy. Default [`ValuePolicy::default`].
    pub fn policy(mut self, policy: ValuePolicy) -> Self {
        self.policy = policy;
        self
    }
}

impl Encoder for Msgpack {
    fn content_type(&self) -> &str {
        Self::MEDIA_TYPE
    }

    /// Writes the array header when the encoder was made by [`Msgpack::array`].
    fn begin(&mut self, out: &mut BytesMut) -> Result<(), EncodeError> {
        self.items = 0;
        if let Some(len) = self.array_len {
            rmp::encode::write_array_len(&mut BytesWriter(out), len)
                .map_err(|e| EncodeError::wrap("cannot write the MessagePack array header", e))?;
        }
        Ok(())
    }

    /// Appends one MessagePack value.
    ///
    /// # Errors
    ///
    /// An [`EncodeError`] if the item cannot be encoded, violates the value policy, or is
    /// one more than a declared array length.
    #[inline]
    fn item<T: Serialize + ?Sized>(
        &mut self,
        item: &T,
        out: &mut BytesMut,
    ) -> Result<(), EncodeError> {
        if let Some(len) = self.array_len {
            if self.items >= u64::from(len) {
                return Err(EncodeError::msg(format!(
                    "item {} is beyond the declared MessagePack array length {len}",
                    self.items + 1
                )));
            }
        }
        let value = WithPolicy::new(item, self.policy.native_floats(NativeFloats::Everywhere));
        self.scratch.write(out, |buf| {
            let mut ser = rmp_serde::Serializer::new(buf).with_struct_map();
            value.serialize(&mut ser).map_err(|e| {
                value.map_err(EncodeError::wrap(
                    format!("cannot encode item as MessagePack: {e}"),
                    e,
                ))
            })
        })?;
        self.items += 1;
        Ok(())
    }

    /// Checks that a declared array got exactly its length.
    ///
    /// # Errors
    ///
    /// An [`EncodeError`] if fewer items than a declared array length were encoded; the
    /// stream then fails and the array stays truncated.
    fn end(&mut self, items: u64, _out: &mut BytesMut) -> Result<(), EncodeError> {
        match self.array_len {
            Some(len) if items != u64::from(len) => Err(EncodeError::msg(format!(
                "the stream ended after {items} items, but the MessagePack array declared {len}"
            ))),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NonFinite;

    #[test]
    fn non_finite_follows_the_policy() {
        let mut out = BytesMut::new();
        // MessagePack carries IEEE 754 floats: NaN and ±Infinity are written as they
        // are under the null and string policies, at any depth.
        for policy in [NonFinite::Null, NonFinite::String] {
            out.clear();
            let policy = ValuePolicy::default().non_finite(policy);
            Msgpack::new()
                .policy(policy)
                .item(&(f64::NAN, vec![f32::INFINITY]), &mut out)
                .unwrap();
            let (nan, inf): (f64, Vec<f32>) = rmp_serde::from_slice(&out).unwrap();
            assert!(nan.is_nan());
            assert_eq!(inf, [f32::INFINITY]);
        }
        out.clear();
        let strict = ValuePolicy::default().non_finite(NonFinite::Error);
        let err = Msgpack::new()
            .policy(strict)
            .item(&[1.0, f64::INFINITY], &mut out)
            .unwrap_err();
        assert_eq!(err.to_string(), "non-finite float Infinity in field [1]");
    }

    #[test]
    fn short_array_fails_at_the_end() {
        let mut enc = Msgpack::array(3);
        let mut out = BytesMut::new();
        enc.begin(&mut out).unwrap();
        enc.item(&1, &mut out).unwrap();
        assert!(enc.end(1, &mut out).is_err());
        assert!(rmp_serde::from_slice::<Vec<u8>>(&out).is_err());
    }

    #[test]
    fn empty_array_of_zero() {
        let mut enc = Msgpack::array(0);
        let mut out = BytesMut::new();
        enc.begin(&mut out).unwrap();
        enc.end(0, &mut out).unwrap();
        assert_eq!(&out[..], [0x90]);
    }
}
