//! The Protocol Buffers encoder (feature `protobuf`): each item a `prost::Message`, or a
//! row encoded as the message of a [`MessageSchema`], written length-delimited.

mod rows;
mod schema;
mod value;

use std::sync::Arc;

use bytes::{BufMut as _, BytesMut};
use serde::Serialize;
use serde::ser::{self, Impossible};

use self::rows::Rows;
pub use self::schema::{
    FieldSchema, FieldType, MessageSchema, field_name, is_identifier, message_name,
};
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
/// it — unless the encoder has one: made by [`with_schema`](Self::with_schema), it
/// encodes rows (structs or maps of column → value, as the SQL records are) as the
/// message of a [`MessageSchema`], the message whose `.proto`
/// ([`MessageSchema::to_proto`]) `protoc` compiles for any language.
///
/// **A failed stream** ends, once its first chunk is sent, with a message that is cut
/// and invalid: its length says 2 bytes and one follows, `0x00` (a tag of field
/// number 0, which no parser accepts). A reader of delimited messages that checks
/// lengths fails on the truncated last message; one that decodes whatever bytes are
/// left (slicing a short buffer) fails to parse it; neither takes the stream for
/// complete or reads an empty message. Over HTTP the transfer is cut as well (no final
/// chunk, an error trailer, or `RST_STREAM`).
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
    /// With a schema: rows, encoded as its message.
    rows: Option<Arc<Rows>>,
    /// One row's message, before its length is known.
    scratch: Vec<u8>,
    /// Which fields one row has given.
    seen: Vec<bool>,
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
            rows: None,
            scratch: Vec::new(),
            seen: Vec::new(),
        }
    }

    /// The encoder of rows as the message of `schema`, named in the media type
    /// (`messageType="pkg.Name"`).
    ///
    /// Each item is a struct or a map of column name → value (as serde writes them; the
    /// SQL records of [`crate::postgres`], [`crate::mysql`] and [`crate::sqlite`] are
    /// maps), encoded as one message: each value into the field of its column, checked
    /// against the field's type ([`FieldType`] lists what each takes), fields in the
    /// order the row gives them. A NULL (`None`, `()`) leaves an `optional` field unset;
    /// a column the row leaves out is unset too. The item fails (and so the stream),
    /// naming the column, on a field that is not a column of the schema, a value the
    /// field cannot hold exactly, or a NULL (or no value) for a field that is not
    /// optional. A `string` or `bytes` field that is not optional writes nothing for an
    /// empty value, numbers nothing for zero (proto3's implicit presence); `-0.0` is
    /// written.
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use rowstream::protobuf::{FieldType, MessageSchema};
    /// use rowstream::{Encoder, Protobuf};
    ///
    /// let schema = MessageSchema::new("shop", "tickets")?
    ///     .field("id", FieldType::Int64, false)
    ///     .field("subject", FieldType::String, true);
    /// let mut enc = Protobuf::with_schema(schema);
    /// assert_eq!(
    ///     enc.content_type(),
    ///     "application/x-protobuf; delimited=true; messageType=\"shop.Tickets\""
    /// );
    /// let mut out = BytesMut::new();
    /// enc.item(&serde_json::json!({"id": 150, "subject": "Hi"}), &mut out)?;
    /// enc.item(&serde_json::json!({"id": 1, "subject": null}), &mut out)?;
    /// // Length 7: field 1 (varint) 150, field 2 (length-delimited) "Hi"; length 2.
    /// assert_eq!(&out[..], b"\x07\x08\x96\x01\x12\x02Hi\x02\x08\x01");
    /// # Ok::<(), rowstream::EncodeError>(())
    /// ```
    pub fn with_schema(schema: MessageSchema) -> Self {
        let encoder = Self::new().message_type(&schema.full_name());
        Self {
            rows: Some(Arc::new(Rows::new(schema))),
            ..encoder
        }
    }

    /// The message schema of [`with_schema`](Self::with_schema), if any.
    pub fn schema(&self) -> Option<&MessageSchema> {
        self.rows.as_deref().map(|rows| &rows.schema)
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
        if let Some(rows) = &self.rows {
            self.scratch.clear();
            rows.encode(item, &mut self.seen, &mut self.scratch)?;
            prost::encoding::encode_varint(self.scratch.len() as u64, out);
            out.extend_from_slice(&self.scratch);
            return Ok(());
        }
        item.serialize(Delimited { out, inside: false })
            .map_err(|err| EncodeError::msg(err.0))
    }

    fn error(&mut self, _error: &StreamError, out: &mut BytesMut) -> Result<(), EncodeError> {
        // A message of two bytes announced and one sent, 0x00: a reader that checks
        // lengths fails on the truncated message, and one that does not fails to parse
        // it (field number 0 is illegal), instead of reading an empty message.
        out.put_slice(&[2, 0]);
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
        prost::encoding::encode_varint(bytes.len() as u64, self.out);
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

    #[derive(Clone, PartialEq, prost::Message)]
    struct Typed {
        #[prost(int64, tag = "1")]
        id: i64,
        #[prost(int32, optional, tag = "2")]
        small: Option<i32>,
        #[prost(uint64, optional, tag = "3")]
        big: Option<u64>,
        #[prost(double, optional, tag = "4")]
        x: Option<f64>,
        #[prost(string, optional, tag = "5")]
        s: Option<String>,
        #[prost(bytes = "vec", optional, tag = "6")]
        b: Option<Vec<u8>>,
        #[prost(bool, tag = "7")]
        ok: bool,
        #[prost(double, tag = "8")]
        z: f64,
    }

    fn typed_schema() -> MessageSchema {
        MessageSchema::new("t", "typed")
            .unwrap()
            .field("id", FieldType::Int64, false)
            .field("small", FieldType::Int32, true)
            .field("big", FieldType::Uint64, true)
            .field("x", FieldType::Double, true)
            .field("s", FieldType::String, true)
            .field("b", FieldType::Bytes, true)
            .field("ok", FieldType::Bool, false)
            .field("z", FieldType::Double, false)
    }

    #[test]
    fn rows_are_messages_of_their_schema() {
        use serde_json::json;
        let mut enc = Protobuf::with_schema(typed_schema());
        let mut out = BytesMut::new();
        let rows = [
            json!({"id": 0, "small": i32::MIN, "big": u64::MAX, "x": null, "s": "",
                   "b": "AP8=", "ok": false, "z": -0.0}),
            json!({"id": -1, "s": [1, {"a": null}], "ok": true, "z": 0.0, "x": f64::MAX}),
        ];
        for row in &rows {
            enc.item(row, &mut out).unwrap();
        }
        let mut buf = &out[..];
        let first = Typed::decode_length_delimited(&mut buf).unwrap();
        let second = Typed::decode_length_delimited(&mut buf).unwrap();
        assert!(buf.is_empty());
        assert_eq!(
            (first.id, first.small, first.big, first.x),
            (0, Some(i32::MIN), Some(u64::MAX), None)
        );
        assert_eq!(
            (first.s.as_deref(), first.b.as_deref(), first.ok),
            (Some(""), Some(&[0, 255][..]), false)
        );
        assert_eq!(first.z.to_bits(), (-0.0f64).to_bits());
        assert_eq!(second.s.as_deref(), Some("[1,{\"a\":null}]"));
        assert_eq!(
            (second.id, second.big, second.x, second.ok),
            (-1, None, Some(f64::MAX), true)
        );
        // A struct item, fields in column order, a column left out unset.
        #[derive(serde::Serialize)]
        struct Row {
            id: i64,
            small: Option<i16>,
            ok: bool,
            z: f32,
        }
        out.clear();
        enc.item(
            &Row {
                id: 7,
                small: None,
                ok: true,
                z: 0.1,
            },
            &mut out,
        )
        .unwrap();
        let row = Typed::decode_length_delimited(&mut &out[..]).unwrap();
        assert_eq!((row.id, row.small, row.z), (7, None, f64::from(0.1f32)));
    }

    #[test]
    fn values_a_field_cannot_hold_fail_the_row() {
        use serde_json::json;
        let mut enc = Protobuf::with_schema(typed_schema());
        let mut out = BytesMut::new();
        for (row, says) in [
            (json!({"id": null}), "not optional"),
            (json!({"ok": true}), "no value"),
            (
                json!({"id": 1, "small": 2_147_483_648_i64}),
                "out of the field's range",
            ),
            (json!({"id": 1, "big": -1}), "out of the field's range"),
            (
                json!({"id": 1, "x": 9_007_199_254_740_993_i64}),
                "no exact double",
            ),
            (json!({"id": 1, "nope": 1}), "not a column"),
            (json!({"id": "1"}), "text is not"),
            (json!({"id": 1, "b": "!!"}), "base64"),
            (json!({"id": 1, "x": [1]}), "not a scalar"),
            (json!([1]), "struct or a map"),
        ] {
            let err = enc.item(&row, &mut out).unwrap_err().to_string();
            assert!(err.contains(says), "{row}: {err}");
            assert!(out.is_empty(), "{row} left bytes");
        }
        let err = enc
            .item(&json!({"small": 1, "id": null}), &mut out)
            .unwrap_err();
        assert!(err.to_string().contains("column `id`"), "{err}");
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
