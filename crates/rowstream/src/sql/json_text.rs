//! JSON held as text in a database column, embedded as JSON in any output format.

use std::cell::Cell;

use serde::Serialize;
use serde::Serializer;
use serde::ser::{Error as _, SerializeMap, SerializeSeq};

/// How deep arrays and objects may nest (serde_json's own limit).
const MAX_DEPTH: usize = 128;

/// Embeds JSON text as JSON: verbatim (exact, no re-parse of numbers) for human-readable
/// formats, written as the format's own maps, arrays and scalars otherwise (MessagePack).
///
/// Numbers in the non-human-readable form: integers within `i64`/`u64` as integers;
/// integers beyond 64 bits as a string of their digits (MessagePack has no wider
/// integer, and a float would change them); other numbers as `f64`, or as a string of
/// their text when they are beyond `f64`'s range.
pub(crate) fn serialize_json<S: Serializer>(serializer: S, json: &str) -> Result<S::Ok, S::Error> {
    if serializer.is_human_readable() {
        let raw: &serde_json::value::RawValue = serde_json::from_str(json)
            .map_err(|e| S::Error::custom(format_args!("invalid JSON value: {e}")))?;
        raw.serialize(serializer)
    } else {
        // Validate first: the walker below trusts the grammar.
        serde_json::from_str::<&serde_json::value::RawValue>(json)
            .map_err(|e| S::Error::custom(format_args!("invalid JSON value: {e}")))?;
        let at = Cell::new(0);
        Walk {
            text: json.as_bytes(),
            json,
            at: &at,
            depth: 0,
        }
        .serialize(serializer)
    }
}

/// The JSON value starting at `at` in valid JSON `text`; serializing it moves `at` past
/// the value.
struct Walk<'a> {
    text: &'a [u8],
    json: &'a str,
    at: &'a Cell<usize>,
    depth: usize,
}

impl Walk<'_> {
    fn skip_ws(&self) {
        let mut i = self.at.get();
        while matches!(self.text.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            i += 1;
        }
        self.at.set(i);
    }

    /// Skips whitespace and then `byte` if it comes next; whether it did.
    fn eat(&self, byte: u8) -> bool {
        self.skip_ws();
        if self.text.get(self.at.get()) == Some(&byte) {
            self.at.set(self.at.get() + 1);
            true
        } else {
            false
        }
    }

    /// The string token at `at` (quotes included), moving past it.
    fn string_token(&self) -> &str {
        let start = self.at.get();
        let mut i = start + 1;
        while let Some(&b) = self.text.get(i) {
            match b {
                b'\\' => i += 2,
                b'"' => break,
                _ => i += 1,
            }
        }
        let end = (i + 1).min(self.text.len());
        self.at.set(end);
        self.json.get(start..end).unwrap_or("")
    }

    fn nested(&self) -> Walk<'_> {
        Walk {
            text: self.text,
            json: self.json,
            at: self.at,
            depth: self.depth + 1,
        }
    }
}

/// A string token (with its quotes) as the string it denotes.
fn unescape<E: serde::ser::Error>(token: &str) -> Result<std::borrow::Cow<'_, str>, E> {
    match token.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        Some(inner) if !inner.contains('\\') => Ok(inner.into()),
        _ => serde_json::from_str::<String>(token)
            .map(Into::into)
            .map_err(|e| E::custom(format_args!("invalid JSON string: {e}"))),
    }
}

impl Serialize for Walk<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.depth > MAX_DEPTH {
            return Err(S::Error::custom("JSON value nested too deeply"));
        }
        self.skip_ws();
        let start = self.at.get();
        match self.text.get(start) {
            Some(b'{') => {
                self.at.set(start + 1);
                let mut map = serializer.serialize_map(None)?;
                if !self.eat(b'}') {
                    loop {
                        self.skip_ws();
                        let key = unescape::<S::Error>(self.string_token())?;
                        self.eat(b':');
                        map.serialize_entry(key.as_ref(), &self.nested())?;
                        if !self.eat(b',') {
                            self.eat(b'}');
                            break;
                        }
                    }
                }
                map.end()
            }
            Some(b'[') => {
                self.at.set(start + 1);
                let mut seq = serializer.serialize_seq(None)?;
                if !self.eat(b']') {
                    loop {
                        seq.serialize_element(&self.nested())?;
                        if !self.eat(b',') {
                            self.eat(b']');
                            break;
                        }
                    }
                }
                seq.end()
            }
            Some(b'"') => serializer.serialize_str(&unescape::<S::Error>(self.string_token())?),
            Some(b't') => {
                self.at.set(start + 4);
                serializer.serialize_bool(true)
            }
            Some(b'f') => {
                self.at.set(start + 5);
                serializer.serialize_bool(false)
            }
            Some(b'n') => {
                self.at.set(start + 4);
                serializer.serialize_unit()
            }
            Some(_) => {
                let mut end = start;
                while matches!(
                    self.text.get(end),
                    Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                ) {
                    end += 1;
                }
                self.at.set(end);
                let number = self.json.get(start..end).unwrap_or("");
                serialize_number(serializer, number)
            }
            None => Err(S::Error::custom("JSON value ends early")),
        }
    }
}

/// A JSON number token: an integer within 64 bits as an integer, a wider one as a string
/// of its digits, anything else as `f64` (a string of its text beyond `f64`'s range).
fn serialize_number<S: Serializer>(serializer: S, number: &str) -> Result<S::Ok, S::Error> {
    let integer = !number.contains(['.', 'e', 'E']);
    if integer {
        if let Ok(v) = number.parse::<i64>() {
            return serializer.serialize_i64(v);
        }
        if let Ok(v) = number.parse::<u64>() {
            return serializer.serialize_u64(v);
        }
        return serializer.serialize_str(number);
    }
    match number.parse::<f64>() {
        Ok(v) if v.is_finite() => serializer.serialize_f64(v),
        _ => serializer.serialize_str(number),
    }
}

#[cfg(test)]
mod tests {
    use serde::Serialize;

    struct Json(&'static str);

    impl Serialize for Json {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            super::serialize_json(serializer, self.0)
        }
    }

    fn msgpack(json: &'static str) -> serde_json::Value {
        let bytes = rmp_serde::to_vec_named(&Json(json)).unwrap();
        rmp_serde::from_slice(&bytes).unwrap()
    }

    #[test]
    fn integers_stay_exact_in_msgpack() {
        let value = msgpack(
            r#"{"big": 12345678901234567890123, "neg": -98765432109876543210,
                "u64": 18446744073709551615, "i64": -9223372036854775808,
                "f": 1.5, "e": 1e400, "s": "a\"b\u00e9", "a": [1, [true, null]], "o": {}}"#,
        );
        assert_eq!(
            value,
            serde_json::json!({
                "big": "12345678901234567890123", "neg": "-98765432109876543210",
                "u64": 18446744073709551615u64, "i64": -9223372036854775808i64,
                "f": 1.5, "e": "1e400", "s": "a\"bé", "a": [1, [true, null]], "o": {}
            })
        );
    }

    #[test]
    fn text_formats_embed_the_text_verbatim() {
        let text = r#"{"big": 12345678901234567890123}"#;
        assert_eq!(serde_json::to_string(&Json(text)).unwrap(), text);
    }

    #[test]
    fn invalid_json_is_an_error() {
        assert!(rmp_serde::to_vec_named(&Json(r#"{"a": }"#)).is_err());
        assert!(rmp_serde::to_vec_named(&Json("[1] 2")).is_err());
        assert!(serde_json::to_string(&Json("nul")).is_err());
    }
}
