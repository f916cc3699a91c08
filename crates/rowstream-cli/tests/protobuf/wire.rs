//! The test's own reader of what the server sends: the `.proto` it writes, and the
//! Protocol Buffers wire format (varints, length-delimited messages), independent of the
//! library's encoder.

use serde_json::Value;

/// One field of the served message.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Field {
    /// The column, from the `// column "…"` comment above a renamed field.
    pub(crate) column: String,
    pub(crate) name: String,
    pub(crate) number: u64,
    pub(crate) ty: String,
    pub(crate) optional: bool,
}

/// The served `.proto`: package, message name, fields.
#[derive(Debug)]
pub(crate) struct Message {
    pub(crate) package: String,
    pub(crate) name: String,
    pub(crate) fields: Vec<Field>,
}

/// Reads the `.proto` the server writes: `package x;`, one `message X {`, one field per
/// line (`[optional] type name = N;`), `//` comments.
pub(crate) fn parse_proto(text: &str) -> Message {
    assert!(text.starts_with("syntax = \"proto3\";\n"), "{text}");
    let mut message = Message {
        package: String::new(),
        name: String::new(),
        fields: Vec::new(),
    };
    let mut column = None;
    for line in text.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix("// column ") {
            column = Some(serde_json::from_str::<String>(name).expect("a quoted name"));
            continue;
        }
        if line.is_empty() || line.starts_with("//") || line.starts_with("syntax") || line == "}" {
            continue;
        }
        if let Some(package) = line.strip_prefix("package ") {
            message.package = package.trim_end_matches(';').to_owned();
        } else if let Some(name) = line.strip_prefix("message ") {
            message.name = name.trim_end_matches(" {").to_owned();
        } else {
            let words: Vec<&str> = line.trim_end_matches(';').split_whitespace().collect();
            let (optional, words) = match words.first() {
                Some(&"optional") => (true, &words[1..]),
                _ => (false, &words[..]),
            };
            let [ty, name, "=", number] = words else {
                panic!("not a field: {line:?}");
            };
            message.fields.push(Field {
                column: column.take().unwrap_or_else(|| (*name).to_owned()),
                name: (*name).to_owned(),
                number: number.parse().expect("a field number"),
                ty: (*ty).to_owned(),
                optional,
            });
        }
    }
    message
}

/// A base-128 varint at the start of `buf`, and the rest; `None` if it is cut.
pub(crate) fn varint(buf: &[u8]) -> Option<(u64, &[u8])> {
    let mut value = 0u64;
    for (i, byte) in buf.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((value, &buf[i + 1..]));
        }
    }
    None
}

/// The length-delimited messages of `body`, and whether it ends inside one (a length
/// without all its bytes).
pub(crate) fn frames(mut body: &[u8]) -> (Vec<&[u8]>, bool) {
    let mut messages = Vec::new();
    while !body.is_empty() {
        let Some((len, rest)) = varint(body) else {
            return (messages, true);
        };
        let len = usize::try_from(len).expect("a length");
        if rest.len() < len {
            return (messages, true);
        }
        messages.push(&rest[..len]);
        body = &rest[len..];
    }
    (messages, false)
}

/// A decoded value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Decoded {
    Int(i128),
    Double(f64),
    Text(String),
    Bytes(Vec<u8>),
    Bool(bool),
}

/// One message's fields by the `.proto`'s order: `None` for an unset optional field, the
/// type's default for an unset plain one. Panics on a field number the message lacks, a
/// wire type that is not the field's, a field given twice, or bytes left over.
pub(crate) fn decode(mut buf: &[u8], message: &Message) -> Vec<Option<Decoded>> {
    let mut values: Vec<Option<Decoded>> = vec![None; message.fields.len()];
    while !buf.is_empty() {
        let (key, rest) = varint(buf).expect("a key");
        let (number, wire) = (key >> 3, key & 7);
        let index = message
            .fields
            .iter()
            .position(|f| f.number == number)
            .unwrap_or_else(|| panic!("field number {number} is not in the .proto"));
        let field = &message.fields[index];
        let (value, rest) = match (field.ty.as_str(), wire) {
            ("double", 1) => (
                Decoded::Double(f64::from_le_bytes(rest[..8].try_into().unwrap())),
                &rest[8..],
            ),
            ("string" | "bytes", 2) => {
                let (len, rest) = varint(rest).expect("a length");
                let (bytes, rest) = rest.split_at(usize::try_from(len).unwrap());
                let value = if field.ty == "string" {
                    Decoded::Text(String::from_utf8(bytes.to_vec()).expect("UTF-8"))
                } else {
                    Decoded::Bytes(bytes.to_vec())
                };
                (value, rest)
            }
            (ty, 0) => {
                let (v, rest) = varint(rest).expect("a varint");
                #[allow(clippy::cast_possible_wrap, clippy::cast_possible_truncation)]
                let value = match ty {
                    "int64" => Decoded::Int(i128::from(v as i64)),
                    "int32" => Decoded::Int(i128::from(v as i64 as i32)),
                    "uint32" => Decoded::Int(i128::from(u32::try_from(v).expect("32 bits"))),
                    "uint64" => Decoded::Int(i128::from(v)),
                    "bool" => Decoded::Bool(match v {
                        0 => false,
                        1 => true,
                        other => panic!("bool {other}"),
                    }),
                    other => panic!("a varint for a {other} field"),
                };
                (value, rest)
            }
            (ty, wire) => panic!("wire type {wire} for the {ty} field {}", field.name),
        };
        assert!(
            values[index].is_none(),
            "field {} twice in a message",
            field.name
        );
        values[index] = Some(value);
        buf = rest;
    }
    for (value, field) in values.iter_mut().zip(&message.fields) {
        if value.is_none() && !field.optional {
            *value = Some(match field.ty.as_str() {
                "double" => Decoded::Double(0.0),
                "string" => Decoded::Text(String::new()),
                "bytes" => Decoded::Bytes(Vec::new()),
                "bool" => Decoded::Bool(false),
                _ => Decoded::Int(0),
            });
        }
    }
    values
}

/// A decoded value as the JSON export writes it (`non_finite=string`; bytes as base64
/// are compared apart).
pub(crate) fn to_json(value: Option<&Decoded>) -> Value {
    match value {
        None => Value::Null,
        Some(Decoded::Int(v)) => serde_json::from_str(&v.to_string()).expect("a number"),
        Some(Decoded::Double(v)) if v.is_nan() => "NaN".into(),
        Some(Decoded::Double(v)) if v.is_infinite() => {
            (if *v > 0.0 { "Infinity" } else { "-Infinity" }).into()
        }
        Some(Decoded::Double(v)) => (*v).into(),
        Some(Decoded::Text(v)) => v.as_str().into(),
        Some(Decoded::Bool(v)) => (*v).into(),
        Some(Decoded::Bytes(_)) => panic!("bytes have no JSON form here"),
    }
}
