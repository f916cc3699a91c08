//! JSON held as text in a database column, embedded as JSON in any output format.

use serde::Serialize;
use serde::Serializer;
use serde::ser::Error as _;

/// Embeds JSON text as JSON: verbatim (exact, no re-parse of numbers) for human-readable
/// formats, transcoded into the format's own maps and arrays otherwise (MessagePack).
pub(crate) fn serialize_json<S: Serializer>(serializer: S, json: &str) -> Result<S::Ok, S::Error> {
    if serializer.is_human_readable() {
        let raw: &serde_json::value::RawValue = serde_json::from_str(json)
            .map_err(|e| S::Error::custom(format_args!("invalid JSON value: {e}")))?;
        raw.serialize(serializer)
    } else {
        let mut de = serde_json::Deserializer::from_str(json);
        serde_transcode::transcode(&mut de, serializer)
    }
}
