//! The Protocol Buffers encoder (feature `protobuf`): each item a `prost::Message`,
//! written length-delimited.

use bytes::{BufMut as _, BytesMut};
use serde::Serialize;
use serde::ser::{self, Impossible};

use super::Encoder;
use crate::{EncodeError, StreamError};

/// The media type of [`Protobuf`]: `application/x-protobuf; delimited=true`.
pub const PROTOBUF_MEDIA_TYPE: &str = "application/x-protobuf; delimited=true";

/// Encodes a stream of Protocol Buffers messages, each preceded by its length:
/// `application/x-protobuf; delimited=true` (with `; messageType="pkg.Name"` from
/// [`Protobuf::message_type`]).
///
/// **Framing.** Every item is one message in the binary wire format, preceded by its
/// length in bytes as a base-128 varint — the framing of Java's `writeDelimitedTo` /
/// `parseDelimitedFrom`, C++'s `SerializeDelimitedToOstream`, Python's
/// `google.protobuf.internal.decoder._DecodeVarint` loop, and prost's
/// [`encode_length_delimited`](prost::Message::encode_length_delimited) /
/// [`decode_length_delimited`](prost::Message::decode_length_delimited). An empty stream
/// is an empty body. There is no header and no end marker (the format has none).
///
/// **Items** are [`Proto`]`(message)`: a `prost::Message` wrapped so that it passes
/// through the streamer's [`Serialize`] bound as its encoded bytes. Any other item (a
/// struct, a map, a number) is an [`EncodeError`]: a message type is needed to encode
/// it.
///
/// **A failed stream** ends, once its first chunk is sent, with the length of a message
/// that never comes (a varint of 1 and no byte after it): a reader of delimited messages
/// fails on the truncated last message instead of taking the stream for complete. Over
/// HTTP the transfer is cut as well (no final chunk, an error trailer, or `RST_STREAM`).
///
/// ```
/// use bytes::BytesMut;
/// use prost::Message as _;
/// use rowstream::{Encoder, Proto, Protobuf};
///
/// #[derive(Clone, PartialEq, prost::Message)]
/// struct Ticket {
///     #[prost(int64, tag = "1")]
///     id: i64,
///     #[prost(string, tag = "2")]
///     subject: String,
/// }
///
/// let mut enc = Protobuf::new();
/// let mut out = BytesMut::new();
/// enc.item(&Proto(Ticket { id: 1, subject: "Hi".into() }), &mut out)?;
/// enc.item(&Proto(Ticket { id: 2, subject: "Yo".into() }), &mut out)?;
///
/// let mut buf = &out[..];
/// let first = Ticket::decode_length_delimited(&mut buf).unwrap();
/// let second = Ticket::decode_length_delimited(&mut buf).unwrap();
/// assert_eq!((first.id, second.subject.as_str()), (1, "Yo"));
/// assert!(buf.is_empty());
/// # Ok::<(), rowstream::EncodeError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Protobuf {
    content_type: String,
}

impl Default for Protobuf {
    fn default() -> Self {
        Self::new()
    }
}

impl Protobuf {
    /// The encoder, `application/x-protobuf; delimited=true`.
    pub fn new() -> Self {
        Self {
            content_type: PROTOBUF_MEDIA_TYPE.to_owned(),
        }
    }

    /// Names the message type in the media type, `messageType="NAME"` (the fully
    /// qualified name, `pkg.Ticket`), as the de facto `application/x-protobuf`
    /// parameter says it. A name with a `"` or `\` or a control character is left out.
    #[must_use]
    pub fn message_type(mut self, name: &str) -> Self {
        self.content_type = PROTOBUF_MEDIA_TYPE.to_owned();
        if !name.is_empty()
            && !name
                .chars()
                .any(|c| c == '"' || c == '\\' || c.is_control())
        {
            self.content_type
                .push_str(&format!("; messageType=\"{name}\""));
        }
        self
    }
}

/// A `prost::Message` as an item of a [`Protobuf`] stream: serialized as its encoded
/// bytes (`Message::encode_to_vec`), which the encoder frames with their length.
///
/// With another encoder the item is those bytes (a JSON array of numbers, a MessagePack
/// `bin`): use it with [`Protobuf`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Proto<M>(pub M);

/// The newtype name under which [`Proto`] hands its bytes to the encoder.
const PROTO_NEWTYPE: &str = "$rowstream::Proto";

impl<M: prost::Message> Serialize for Proto<M> {
    fn serialize<S: ser::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_newtype_struct(PROTO_NEWTYPE, &Encoded(&self.0.encode_to_vec()))
    }
}

/// Encoded bytes, serialized as bytes.
struct Encoded<'a>(&'a [u8]);

impl Serialize for Encoded<'_> {
    fn serialize<S: ser::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(self.0)
    }
}

impl Encoder for Protobuf {
    fn content_type(&self) -> &str {
        &self.content_type
    }

    fn item<T: Serialize + ?Sized>(
        &mut self,
        item: &T,
        out: &mut BytesMut,
    ) -> Result<(), EncodeError> {
        item.serialize(Delimited { out, inside: false })
            .map_err(|err| EncodeError::msg(err.0))
    }

    fn error(&mut self, _error: &StreamError, out: &mut BytesMut) -> Result<(), EncodeError> {
        // A message of one byte announced, none sent: readers fail on it.
        out.put_u8(1);
        Ok(())
    }
}

/// Writes the bytes of a [`Proto`] with their length; refuses everything else.
struct Delimited<'a> {
    out: &'a mut BytesMut,
    /// Inside `Proto`'s newtype: the bytes are the message.
    inside: bool,
}

fn not_a_message(what: &str) -> ProtoError {
    ProtoError(format!(
        "Protobuf encodes prost messages wrapped in rowstream::Proto, not {what}"
    ))
}

/// The serializer's error (serde needs `serde::ser::Error`); an [`EncodeError`] to the
/// streamer.
#[derive(Debug)]
struct ProtoError(String);

impl ser::Error for ProtoError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        Self(msg.to_string())
    }
}

impl std::fmt::Display for ProtoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ProtoError {}

macro_rules! refuse {
    ($($method:ident($($arg:ty),*) -> $ok:ty, $what:literal;)*) => {
        $(
            fn $method(self, $(_: $arg),*) -> Result<$ok, Self::Error> {
                Err(not_a_message($what))
            }
        )*
    };
}

impl ser::Serializer for Delimited<'_> {
    type Ok = ();
    type Error = ProtoError;
    type SerializeSeq = Impossible<(), ProtoError>;
    type SerializeTuple = Impossible<(), ProtoError>;
    type SerializeTupleStruct = Impossible<(), ProtoError>;
    type SerializeTupleVariant = Impossible<(), ProtoError>;
    type SerializeMap = Impossible<(), ProtoError>;
    type SerializeStruct = Impossible<(), ProtoError>;
    type SerializeStructVariant = Impossible<(), ProtoError>;

    fn serialize_bytes(self, bytes: &[u8]) -> Result<(), ProtoError> {
        if !self.inside {
            return Err(not_a_message("a byte string"));
        }
        let mut len = bytes.len() as u64;
        while len >= 0x80 {
            // The low 7 bits, with the continuation bit.
            self.out.put_u8((len & 0x7f) as u8 | 0x80);
            len >>= 7;
        }
        self.out.put_u8(len as u8);
        self.out.extend_from_slice(bytes);
        Ok(())
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<(), ProtoError> {
        if name != PROTO_NEWTYPE || self.inside {
            return Err(not_a_message("a newtype struct"));
        }
        value.serialize(Delimited {
            out: self.out,
            inside: true,
        })
    }

    refuse! {
        serialize_bool(bool) -> (), "a bool";
        serialize_i8(i8) -> (), "an integer";
        serialize_i16(i16) -> (), "an integer";
        serialize_i32(i32) -> (), "an integer";
        serialize_i64(i64) -> (), "an integer";
        serialize_i128(i128) -> (), "an integer";
        serialize_u8(u8) -> (), "an integer";
        serialize_u16(u16) -> (), "an integer";
        serialize_u32(u32) -> (), "an integer";
        serialize_u64(u64) -> (), "an integer";
        serialize_u128(u128) -> (), "an integer";
        serialize_f32(f32) -> (), "a float";
        serialize_f64(f64) -> (), "a float";
        serialize_char(char) -> (), "a char";
        serialize_str(&str) -> (), "a string";
        serialize_none() -> (), "a none";
        serialize_unit() -> (), "a unit";
        serialize_unit_struct(&'static str) -> (), "a unit struct";
        serialize_unit_variant(&'static str, u32, &'static str) -> (), "an enum";
        serialize_seq(Option<usize>) -> Self::SerializeSeq, "a sequence";
        serialize_tuple(usize) -> Self::SerializeTuple, "a tuple";
        serialize_tuple_struct(&'static str, usize) -> Self::SerializeTupleStruct, "a tuple struct";
        serialize_tuple_variant(&'static str, u32, &'static str, usize) -> Self::SerializeTupleVariant, "an enum";
        serialize_map(Option<usize>) -> Self::SerializeMap, "a map";
        serialize_struct(&'static str, usize) -> Self::SerializeStruct, "a struct";
        serialize_struct_variant(&'static str, u32, &'static str, usize) -> Self::SerializeStructVariant, "an enum";
    }

    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<(), ProtoError> {
        Err(not_a_message("an option"))
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), ProtoError> {
        Err(not_a_message("an enum"))
    }
}

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use super::*;

    #[derive(Clone, PartialEq, prost::Message)]
    struct Row {
        #[prost(int64, tag = "1")]
        id: i64,
        #[prost(string, optional, tag = "2")]
        name: Option<String>,
        #[prost(bytes = "vec", tag = "3")]
        blob: Vec<u8>,
    }

    #[test]
    fn messages_round_trip_with_their_lengths() {
        let rows = vec![
            Row {
                id: 0,
                name: None,
                blob: vec![],
            },
            Row {
                id: -1,
                name: Some(String::new()),
                blob: vec![0, 255],
            },
            Row {
                id: i64::MAX,
                name: Some("é".repeat(100)),
                blob: vec![7; 300],
            },
        ];
        let mut enc = Protobuf::new();
        let mut out = BytesMut::new();
        for row in &rows {
            enc.item(&Proto(row.clone()), &mut out).unwrap();
        }
        let mut buf = &out[..];
        let mut back = Vec::new();
        while !buf.is_empty() {
            back.push(Row::decode_length_delimited(&mut buf).unwrap());
        }
        assert_eq!(back, rows);
        // The default message encodes to nothing: a length of 0.
        assert_eq!(out[0], 0);
    }

    #[test]
    fn other_items_are_refused() {
        let mut enc = Protobuf::new();
        let mut out = BytesMut::new();
        let err = enc
            .item(&serde_json::json!({"id": 1}), &mut out)
            .unwrap_err();
        assert!(err.to_string().contains("rowstream::Proto"), "{err}");
        assert!(enc.item(&b"raw"[..], &mut out).is_err());
        assert!(out.is_empty());
    }

    #[test]
    fn a_failed_stream_ends_inside_a_message() {
        let mut enc = Protobuf::new();
        let mut out = BytesMut::new();
        enc.item(
            &Proto(Row {
                id: 5,
                name: None,
                blob: vec![],
            }),
            &mut out,
        )
        .unwrap();
        let err = StreamError::new(crate::StreamErrorKind::Fetch, 1, None);
        enc.error(&err, &mut out).unwrap();
        let mut buf = &out[..];
        assert_eq!(Row::decode_length_delimited(&mut buf).unwrap().id, 5);
        assert!(Row::decode_length_delimited(&mut buf).is_err());
    }

    #[test]
    fn media_types() {
        assert_eq!(Protobuf::new().content_type(), PROTOBUF_MEDIA_TYPE);
        assert_eq!(
            Protobuf::new().message_type("shop.Ticket").content_type(),
            "application/x-protobuf; delimited=true; messageType=\"shop.Ticket\""
        );
        assert_eq!(
            Protobuf::new().message_type("a\"b").content_type(),
            PROTOBUF_MEDIA_TYPE
        );
    }
}
