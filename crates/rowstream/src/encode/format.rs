//! [`Format`]: the document formats a client can ask for, and [`AnyEncoder`], the encoder
//! for a format chosen at run time.

use std::fmt;
use std::str::FromStr;

use bytes::BytesMut;
use serde::Serialize;

#[cfg(feature = "arrow")]
use crate::Arrow;
#[cfg(feature = "csv")]
use crate::Csv;
#[cfg(feature = "msgpack")]
use crate::Msgpack;
#[cfg(feature = "parquet")]
use crate::Parquet;
#[cfg(feature = "protobuf")]
use crate::Protobuf;
use crate::{
    EncodeError, Encoder, JsonArray, JsonEnvelope, JsonSeq, LastKey, Ndjson, StreamError,
    ValuePolicy,
};

/// A document format with its media type, as chosen by content negotiation
/// ([`negotiate`](crate::negotiate)) or a `format` query value.
///
/// | format | `format=` | media type | also answers `Accept` for | standard | cargo feature |
/// |---|---|---|---|---|---|
/// | [`Json`](Self::Json) | `json` | `application/json` | | RFC 8259 | |
/// | [`Ndjson`](Self::Ndjson) | `ndjson` (`jsonl`) | `application/x-ndjson` | `application/jsonl` | NDJSON | |
/// | [`JsonSeq`](Self::JsonSeq) | `jsonseq` (`json-seq`) | `application/json-seq` | | RFC 7464 | |
/// | [`Csv`](Self::Csv) | `csv` | `text/csv; charset=utf-8; header=present` | | RFC 4180 | `csv` |
/// | [`Msgpack`](Self::Msgpack) | `msgpack` | `application/vnd.msgpack` | `application/msgpack`, `application/x-msgpack` | MessagePack | `msgpack` |
/// | [`Arrow`](Self::Arrow) | `arrow` | `application/vnd.apache.arrow.stream` | | Arrow IPC streaming format | `arrow` |
/// | [`Parquet`](Self::Parquet) | `parquet` | `application/vnd.apache.parquet` | | Apache Parquet | `parquet` |
/// | [`Protobuf`](Self::Protobuf) | `protobuf` | `application/x-protobuf; delimited=true` | `application/protobuf`, `application/vnd.google.protobuf` (without `delimited=false`) | Protocol Buffers, length-delimited | `protobuf` |
///
/// The typed formats ([`needs_schema`](Self::needs_schema)) need a schema of the rows,
/// so their encoders are not made by [`AnyEncoder::new`]: the columnar ones write typed
/// columns ([`AnyEncoder::with_schema`]), Protocol Buffers a message
/// (`AnyEncoder::from(Protobuf::with_schema(…))`).
///
/// Every variant exists whatever the features; [`is_available`](Self::is_available) says
/// whether this build can encode it, and negotiation only ever picks available formats.
///
/// ```
/// use rowstream::Format;
///
/// let format: Format = "ndjson".parse()?;
/// assert_eq!(format, Format::Ndjson);
/// assert_eq!(format.media_type(), "application/x-ndjson");
/// assert_eq!(format.to_string(), "ndjson");
/// assert!(Format::Json.is_available());
/// # Ok::<(), rowstream::UnknownFormat>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// One JSON array, [`JsonArray`].
    Json,
    /// Newline-delimited JSON, [`Ndjson`].
    Ndjson,
    /// JSON text sequences (RFC 7464), [`JsonSeq`].
    JsonSeq,
    #[cfg_attr(feature = "csv", doc = "CSV (RFC 4180), [`Csv`] (feature `csv`).")]
    #[cfg_attr(
        not(feature = "csv"),
        doc = "CSV (RFC 4180), `Csv` (feature `csv`, not in this build)."
    )]
    Csv,
    #[cfg_attr(
        feature = "msgpack",
        doc = "MessagePack values, [`Msgpack`] (feature `msgpack`)."
    )]
    #[cfg_attr(
        not(feature = "msgpack"),
        doc = "MessagePack values, `Msgpack` (feature `msgpack`, not in this build)."
    )]
    Msgpack,
    #[cfg_attr(
        feature = "arrow",
        doc = "The Arrow IPC streaming format, [`Arrow`] (feature `arrow`)."
    )]
    #[cfg_attr(
        not(feature = "arrow"),
        doc = "The Arrow IPC streaming format, `Arrow` (feature `arrow`, not in this build)."
    )]
    Arrow,
    #[cfg_attr(
        feature = "parquet",
        doc = "Apache Parquet, [`Parquet`] (feature `parquet`)."
    )]
    #[cfg_attr(
        not(feature = "parquet"),
        doc = "Apache Parquet, `Parquet` (feature `parquet`, not in this build)."
    )]
    Parquet,
    #[cfg_attr(
        feature = "protobuf",
        doc = "Length-delimited Protocol Buffers messages of a schema, [`Protobuf`] (feature `protobuf`)."
    )]
    #[cfg_attr(
        not(feature = "protobuf"),
        doc = "Length-delimited Protocol Buffers messages of a schema, `Protobuf` (feature `protobuf`, not in this build)."
    )]
    Protobuf,
}

impl Format {
    /// Every format, in the server's order of preference (used when a client accepts
    /// several equally).
    pub const ALL: [Format; 8] = [
        Format::Json,
        Format::Ndjson,
        Format::JsonSeq,
        Format::Csv,
        Format::Msgpack,
        Format::Arrow,
        Format::Parquet,
        Format::Protobuf,
    ];

    /// The `Content-Type` of a response in this format.
    pub fn media_type(self) -> &'static str {
        match self {
            Self::Json => JsonArray::MEDIA_TYPE,
            Self::Ndjson => Ndjson::MEDIA_TYPE,
            Self::JsonSeq => JsonSeq::MEDIA_TYPE,
            Self::Csv => "text/csv; charset=utf-8; header=present",
            Self::Msgpack => "application/vnd.msgpack",
            Self::Arrow => "application/vnd.apache.arrow.stream",
            Self::Parquet => "application/vnd.apache.parquet",
            Self::Protobuf => "application/x-protobuf; delimited=true",
        }
    }

    /// The name used by `format=` query values: `json`, `ndjson`, `jsonseq`, `csv`,
    /// `msgpack`, `arrow`, `parquet`, `protobuf`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Ndjson => "ndjson",
            Self::JsonSeq => "jsonseq",
            Self::Csv => "csv",
            Self::Msgpack => "msgpack",
            Self::Arrow => "arrow",
            Self::Parquet => "parquet",
            Self::Protobuf => "protobuf",
        }
    }

    /// A file extension for an export in this format: `json`, `ndjson`, `json-seq`, `csv`,
    /// `msgpack`, `arrows` (the Arrow IPC stream's registered extension), `parquet`,
    /// `binpb` (Protocol Buffers' extension for the binary wire format).
    pub fn extension(self) -> &'static str {
        match self {
            Self::JsonSeq => "json-seq",
            Self::Arrow => "arrows",
            Self::Protobuf => "binpb",
            other => other.name(),
        }
    }

    /// The format a `format=` value names, ASCII case-insensitively: a [`name`](Self::name),
    /// or the aliases `jsonl` (NDJSON) and `json-seq`. `None` for anything else.
    pub fn from_name(name: &str) -> Option<Self> {
        let name = name.trim();
        Self::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(name))
            .or_else(|| {
                if name.eq_ignore_ascii_case("jsonl") {
                    Some(Self::Ndjson)
                } else if name.eq_ignore_ascii_case("json-seq") {
                    Some(Self::JsonSeq)
                } else {
                    None
                }
            })
    }

    /// Whether this build can encode the format (`Csv` needs the `csv` feature,
    /// `Msgpack` the `msgpack` feature, `Arrow` the `arrow` feature, `Parquet` the
    /// `parquet` feature, `Protobuf` the `protobuf` feature; the JSON formats are always
    /// there).
    pub fn is_available(self) -> bool {
        if self == Self::Protobuf {
            return cfg!(feature = "protobuf");
        }
        if self == Self::Arrow {
            return cfg!(feature = "arrow");
        }
        if self == Self::Parquet {
            return cfg!(feature = "parquet");
        }
        if self == Self::Csv {
            return cfg!(feature = "csv");
        }
        if self == Self::Msgpack {
            return cfg!(feature = "msgpack");
        }
        true
    }

    /// The formats this build can encode without a schema ([`AnyEncoder::new`]), in
    /// [`ALL`](Self::ALL)'s order: what [`negotiate`](crate::negotiate) and the
    /// extractors offer by default. The formats that [need a schema](Self::needs_schema)
    /// are left out — a handler offers them, with
    /// [`negotiate_among`](crate::negotiate_among), where it has one
    /// ([`available_with_schema`](Self::available_with_schema)).
    pub fn available() -> impl Iterator<Item = Format> {
        Self::ALL
            .into_iter()
            .filter(|f| f.is_available() && !f.needs_schema())
    }

    /// Every format this build can encode, those that [need a
    /// schema](Self::needs_schema) included, in [`ALL`](Self::ALL)'s order.
    pub fn available_with_schema() -> impl Iterator<Item = Format> {
        Self::ALL.into_iter().filter(|f| f.is_available())
    }

    /// Whether the format is made of records a client can read one by one, and so can
    /// carry a completion record (NDJSON, JSON-seq, CSV).
    pub fn has_records(self) -> bool {
        matches!(self, Self::Ndjson | Self::JsonSeq | Self::Csv)
    }

    /// Whether the format's encoder needs a schema of the rows: typed columns (Arrow,
    /// Parquet) or a message type (Protocol Buffers).
    pub fn needs_schema(self) -> bool {
        matches!(self, Self::Arrow | Self::Parquet | Self::Protobuf)
    }

    /// The media types (type, subtype, parameters) the format answers `Accept` for, the
    /// first being its own.
    pub(crate) fn media_types(self) -> &'static [MediaType] {
        const JSON: &[MediaType] = &[MediaType::new("application", "json", &[])];
        const NDJSON: &[MediaType] = &[
            MediaType::new("application", "x-ndjson", &[]),
            MediaType::new("application", "jsonl", &[]),
        ];
        const JSON_SEQ: &[MediaType] = &[MediaType::new("application", "json-seq", &[])];
        const CSV: &[MediaType] = &[MediaType::new(
            "text",
            "csv",
            &[("charset", "utf-8"), ("header", "present")],
        )];
        const MSGPACK: &[MediaType] = &[
            MediaType::new("application", "vnd.msgpack", &[]),
            MediaType::new("application", "msgpack", &[]),
            MediaType::new("application", "x-msgpack", &[]),
        ];
        const ARROW: &[MediaType] = &[MediaType::new(
            "application",
            "vnd.apache.arrow.stream",
            &[],
        )];
        const PARQUET: &[MediaType] = &[MediaType::new("application", "vnd.apache.parquet", &[])];
        const PROTOBUF: &[MediaType] = &[
            MediaType::new("application", "x-protobuf", &[("delimited", "true")]),
            MediaType::new("application", "protobuf", &[("delimited", "true")]),
            MediaType::new(
                "application",
                "vnd.google.protobuf",
                &[("delimited", "true")],
            ),
        ];
        match self {
            Self::Json => JSON,
            Self::Ndjson => NDJSON,
            Self::JsonSeq => JSON_SEQ,
            Self::Csv => CSV,
            Self::Msgpack => MSGPACK,
            Self::Arrow => ARROW,
            Self::Parquet => PARQUET,
            Self::Protobuf => PROTOBUF,
        }
    }
}

/// A media type a format answers to: lowercase type, subtype and parameters.
#[derive(Debug)]
pub(crate) struct MediaType {
    pub(crate) kind: &'static str,
    pub(crate) subtype: &'static str,
    pub(crate) params: &'static [(&'static str, &'static str)],
}

impl MediaType {
    const fn new(
        kind: &'static str,
        subtype: &'static str,
        params: &'static [(&'static str, &'static str)],
    ) -> Self {
        Self {
            kind,
            subtype,
            params,
        }
    }
}

impl fmt::Display for Format {
    /// The [`name`](Format::name).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = UnknownFormat;

    /// As [`Format::from_name`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_name(s).ok_or_else(|| UnknownFormat(s.to_owned()))
    }
}

/// A format name that [`Format::from_name`] does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown format `{0}`; known formats: json, ndjson, jsonseq, csv, msgpack, arrow, parquet, protobuf"
)]
pub struct UnknownFormat(pub String);

/// A [`Format`] this build cannot encode, because its cargo feature is off — or, for a
/// format that [needs a schema](Format::needs_schema), asked of [`AnyEncoder::new`],
/// which has none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{}", unavailable_message(*format))]
pub struct UnavailableFormat {
    /// The format asked for.
    pub format: Format,
}

fn unavailable_message(format: Format) -> String {
    if format.is_available() && format == Format::Protobuf {
        "the protobuf format encodes rows as a message: make its encoder with \
         Protobuf::with_schema"
            .to_owned()
    } else if format.is_available() && format.needs_schema() {
        format!("the {format} format writes typed columns: make its encoder with a schema")
    } else {
        format!("the {format} format needs the `{format}` cargo feature of rowstream")
    }
}

/// The encoder of a [`Format`] chosen at run time.
///
/// [`Encoder::item`] is generic, so encoders cannot be boxed as trait objects; this enum
/// dispatches to the concrete encoder instead, at the cost of one `match` per item. Make
/// one from a [`Format`] with the encoder's defaults ([`AnyEncoder::new`]), or from a
/// configured encoder (`AnyEncoder::from(Csv::new().header(…))`); the options shared by
/// several formats can be set on the `AnyEncoder` itself.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use futures_util::TryStreamExt;
/// use rowstream::{AnyEncoder, Format, Identity, Streamer, fetch};
///
/// let format: Format = "ndjson".parse()?; // e.g. from `negotiate`
/// let encoder = AnyEncoder::new(format)?.completion_record(true);
/// let body = Streamer::default()
///     .stream(fetch::from_iter([1, 2]), Identity, encoder)
///     .map_ok(Vec::from)
///     .try_concat()
///     .await?;
/// assert_eq!(body, b"1\n2\n{\"$rowstream\":{\"complete\":true,\"rows\":2}}\n");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct AnyEncoder(Inner);

#[derive(Debug, Clone)]
enum Inner {
    Json(JsonArray),
    Envelope(JsonEnvelope<serde_json::Value>),
    Ndjson(Ndjson),
    JsonSeq(JsonSeq),
    /// Boxed: the CSV encoder carries its writer tables and scratch buffers.
    #[cfg(feature = "csv")]
    Csv(Box<Csv>),
    #[cfg(feature = "msgpack")]
    Msgpack(Msgpack),
    #[cfg(feature = "arrow")]
    Arrow(Box<Arrow>),
    #[cfg(feature = "parquet")]
    Parquet(Box<Parquet>),
    #[cfg(feature = "protobuf")]
    Protobuf(Box<Protobuf>),
}

/// Calls `$body` with the concrete encoder bound to `$enc`.
macro_rules! dispatch {
    ($self:expr, $enc:ident => $body:expr) => {
        match $self {
            Inner::Json($enc) => $body,
            Inner::Envelope($enc) => $body,
            Inner::Ndjson($enc) => $body,
            Inner::JsonSeq($enc) => $body,
            #[cfg(feature = "csv")]
            Inner::Csv($enc) => $body,
            #[cfg(feature = "msgpack")]
            Inner::Msgpack($enc) => $body,
            #[cfg(feature = "arrow")]
            Inner::Arrow($enc) => $body,
            #[cfg(feature = "parquet")]
            Inner::Parquet($enc) => $body,
            #[cfg(feature = "protobuf")]
            Inner::Protobuf($enc) => $body,
        }
    };
}

impl AnyEncoder {
    /// The encoder of `format` with that encoder's defaults.
    ///
    /// # Errors
    ///
    /// [`UnavailableFormat`] for `Csv` without the `csv` feature and `Msgpack` without the
    /// `msgpack` feature, and for the formats that [need a
    /// schema](Format::needs_schema) (see [`with_schema`](Self::with_schema)).
    pub fn new(format: Format) -> Result<Self, UnavailableFormat> {
        Ok(Self(match format {
            Format::Json => Inner::Json(JsonArray::new()),
            Format::Ndjson => Inner::Ndjson(Ndjson::new()),
            Format::JsonSeq => Inner::JsonSeq(JsonSeq::new()),
            #[cfg(feature = "csv")]
            Format::Csv => Inner::Csv(Box::default()),
            #[cfg(feature = "msgpack")]
            Format::Msgpack => Inner::Msgpack(Msgpack::new()),
            #[allow(unreachable_patterns)]
            format => return Err(UnavailableFormat { format }),
        }))
    }

    /// The encoder of `format`, with `schema` for the columnar formats (Arrow, Parquet;
    /// the other formats ignore it), each with its defaults.
    ///
    /// # Errors
    ///
    /// An [`EncodeError`] for a format this build cannot encode, or a schema with a
    /// column type the columnar encoders do not write.
    #[cfg(feature = "arrow")]
    pub fn with_schema(
        format: Format,
        schema: crate::arrow::SchemaRef,
    ) -> Result<Self, EncodeError> {
        match format {
            Format::Arrow => Ok(Self::from(Arrow::new(schema)?)),
            #[cfg(feature = "parquet")]
            Format::Parquet => Ok(Self::from(Parquet::new(schema)?)),
            other => Self::new(other).map_err(|e| EncodeError::msg(e.to_string())),
        }
    }

    /// The format this encoder writes (an envelope is [`Format::Json`]).
    pub fn format(&self) -> Format {
        match &self.0 {
            Inner::Json(_) | Inner::Envelope(_) => Format::Json,
            Inner::Ndjson(_) => Format::Ndjson,
            Inner::JsonSeq(_) => Format::JsonSeq,
            #[cfg(feature = "csv")]
            Inner::Csv(_) => Format::Csv,
            #[cfg(feature = "msgpack")]
            Inner::Msgpack(_) => Format::Msgpack,
            #[cfg(feature = "arrow")]
            Inner::Arrow(_) => Format::Arrow,
            #[cfg(feature = "parquet")]
            Inner::Parquet(_) => Format::Parquet,
            #[cfg(feature = "protobuf")]
            Inner::Protobuf(_) => Format::Protobuf,
        }
    }

    /// Sets the [`ValuePolicy`] of the encoder, whatever its format.
    pub fn policy(self, policy: ValuePolicy) -> Self {
        Self(match self.0 {
            Inner::Json(e) => Inner::Json(e.policy(policy)),
            Inner::Envelope(e) => Inner::Envelope(e.policy(policy)),
            Inner::Ndjson(e) => Inner::Ndjson(e.policy(policy)),
            Inner::JsonSeq(e) => Inner::JsonSeq(e.policy(policy)),
            #[cfg(feature = "csv")]
            Inner::Csv(e) => Inner::Csv(Box::new(e.policy(policy))),
            #[cfg(feature = "msgpack")]
            Inner::Msgpack(e) => Inner::Msgpack(e.policy(policy)),
            // Typed columns hold values as they are; NaN and ±Infinity are floats there.
            #[cfg(feature = "arrow")]
            other @ Inner::Arrow(_) => other,
            #[cfg(feature = "parquet")]
            other @ Inner::Parquet(_) => other,
            // Typed fields too: a double holds NaN, an int64 every digit.
            #[cfg(feature = "protobuf")]
            other @ Inner::Protobuf(_) => other,
        })
    }

    /// Turns the completion record on or off for record formats (NDJSON, JSON-seq,
    /// CSV); formats without records (JSON, MessagePack) have none and ignore this.
    pub fn completion_record(self, on: bool) -> Self {
        Self(match self.0 {
            Inner::Ndjson(e) => Inner::Ndjson(e.completion_record(on)),
            Inner::JsonSeq(e) => Inner::JsonSeq(e.completion_record(on)),
            #[cfg(feature = "csv")]
            Inner::Csv(e) => Inner::Csv(Box::new(e.completion_record(on))),
            other => other,
        })
    }

    /// Adds `"last_key"` to the completion record of record formats (NDJSON, JSON-seq,
    /// CSV) from `last` ([`LastKey`]); the other formats have no record and ignore this.
    pub fn last_key(self, last: LastKey) -> Self {
        Self(match self.0 {
            Inner::Ndjson(e) => Inner::Ndjson(e.last_key(last)),
            Inner::JsonSeq(e) => Inner::JsonSeq(e.last_key(last)),
            #[cfg(feature = "csv")]
            Inner::Csv(e) => Inner::Csv(Box::new(e.last_key(last))),
            other => other,
        })
    }

    /// Turns CSV's formula guard ([`Csv::formula_guard`](crate::Csv::formula_guard)) on
    /// or off; the other formats hold no spreadsheet cells and ignore this.
    pub fn formula_guard(self, on: bool) -> Self {
        #[cfg(not(feature = "csv"))]
        let _ = on;
        Self(match self.0 {
            #[cfg(feature = "csv")]
            Inner::Csv(e) => Inner::Csv(Box::new(e.formula_guard(on))),
            other => other,
        })
    }
}

impl From<JsonArray> for AnyEncoder {
    fn from(encoder: JsonArray) -> Self {
        Self(Inner::Json(encoder))
    }
}

impl From<JsonEnvelope<serde_json::Value>> for AnyEncoder {
    fn from(encoder: JsonEnvelope<serde_json::Value>) -> Self {
        Self(Inner::Envelope(encoder))
    }
}

impl From<Ndjson> for AnyEncoder {
    fn from(encoder: Ndjson) -> Self {
        Self(Inner::Ndjson(encoder))
    }
}

impl From<JsonSeq> for AnyEncoder {
    fn from(encoder: JsonSeq) -> Self {
        Self(Inner::JsonSeq(encoder))
    }
}

#[cfg(feature = "csv")]
impl From<Csv> for AnyEncoder {
    fn from(encoder: Csv) -> Self {
        Self(Inner::Csv(Box::new(encoder)))
    }
}

#[cfg(feature = "arrow")]
impl From<Arrow> for AnyEncoder {
    fn from(encoder: Arrow) -> Self {
        Self(Inner::Arrow(Box::new(encoder)))
    }
}

#[cfg(feature = "parquet")]
impl From<Parquet> for AnyEncoder {
    fn from(encoder: Parquet) -> Self {
        Self(Inner::Parquet(Box::new(encoder)))
    }
}

#[cfg(feature = "protobuf")]
impl From<Protobuf> for AnyEncoder {
    fn from(encoder: Protobuf) -> Self {
        Self(Inner::Protobuf(Box::new(encoder)))
    }
}

#[cfg(feature = "msgpack")]
impl From<Msgpack> for AnyEncoder {
    fn from(encoder: Msgpack) -> Self {
        Self(Inner::Msgpack(encoder))
    }
}

impl Encoder for AnyEncoder {
    fn content_type(&self) -> &str {
        dispatch!(&self.0, e => e.content_type())
    }

    fn begin(&mut self, out: &mut BytesMut) -> Result<(), EncodeError> {
        dispatch!(&mut self.0, e => e.begin(out))
    }

    #[inline]
    fn item<T: Serialize + ?Sized>(
        &mut self,
        item: &T,
        out: &mut BytesMut,
    ) -> Result<(), EncodeError> {
        dispatch!(&mut self.0, e => e.item(item, out))
    }

    fn end(&mut self, items: u64, out: &mut BytesMut) -> Result<(), EncodeError> {
        dispatch!(&mut self.0, e => e.end(items, out))
    }

    fn error(&mut self, error: &StreamError, out: &mut BytesMut) -> Result<(), EncodeError> {
        dispatch!(&mut self.0, e => e.error(error, out))
    }

    #[inline]
    fn held(&self) -> usize {
        dispatch!(&self.0, e => e.held())
    }

    fn flush(&mut self, out: &mut BytesMut) -> Result<(), EncodeError> {
        dispatch!(&mut self.0, e => e.flush(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for format in Format::ALL {
            assert_eq!(Format::from_name(format.name()), Some(format));
            assert_eq!(format.name().parse::<Format>(), Ok(format));
            assert_eq!(
                format.media_types()[0].subtype,
                format.media_type().split(['/', ';']).nth(1).unwrap().trim()
            );
        }
        assert_eq!(Format::from_name(" JSONL "), Some(Format::Ndjson));
        assert_eq!(Format::from_name("json-seq"), Some(Format::JsonSeq));
        assert!("xml".parse::<Format>().is_err());
    }

    #[test]
    fn any_encoder_content_types_match_formats() {
        for format in Format::available().filter(|f| !f.needs_schema()) {
            let enc = AnyEncoder::new(format).unwrap();
            assert_eq!(enc.content_type(), format.media_type());
            assert_eq!(enc.format(), format);
        }
    }

    #[test]
    fn unavailable_formats_say_which_feature() {
        for format in Format::ALL {
            match AnyEncoder::new(format) {
                Ok(_) => assert!(format.is_available()),
                Err(err) if format.needs_schema() && format.is_available() => {
                    assert!(err.to_string().contains("schema"), "{err}");
                    assert!(err.to_string().contains("with"), "{err}");
                }
                Err(err) => {
                    assert!(!format.is_available());
                    assert!(err.to_string().contains(format.name()));
                }
            }
        }
    }
}
