//! The server's URLs: the query parameters it reads itself, how a name becomes a path
//! segment, and which query strings it accepts. Depends on nothing else of the crate.

/// Query parameters the server reads itself: they pick the format and the completion
/// record, and are never bound to a named query.
pub const RESERVED_PARAMS: [&str; 2] = ["format", "complete"];

/// Percent-encodes everything but unreserved characters (RFC 3986) in a path segment.
pub fn percent_encode_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Whether `query` percent-decodes to UTF-8 (the form decoder would silently replace
/// invalid bytes with U+FFFD, and a parameter would be bound with another value).
pub fn query_is_utf8(query: &str) -> bool {
    let hex = |b: u8| char::from(b).to_digit(16);
    let bytes = query.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            if let Some(&[high, low]) = bytes.get(i + 1..i + 3) {
                if let (Some(high), Some(low)) = (hex(high), hex(low)) {
                    // Two hex digits: at most 0xFF.
                    decoded.push(u8::try_from(high * 16 + low).unwrap_or(u8::MAX));
                    i += 3;
                    continue;
                }
            }
        }
        decoded.push(bytes[i]);
        i += 1;
    }
    std::str::from_utf8(&decoded).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_segments() {
        assert_eq!(percent_encode_segment("tickets"), "tickets");
        assert_eq!(percent_encode_segment("a b/\"é"), "a%20b%2F%22%C3%A9");
    }

    #[test]
    fn query_strings_must_decode_to_utf8() {
        for ok in [
            "",
            "a=b",
            "a=%C3%A9",
            "a=%e9%9b%aa",
            "a=%",
            "a=%Z9",
            "a=%4",
            "a=%%41",
            "q=é",
        ] {
            assert!(query_is_utf8(ok), "{ok}");
        }
        for bad in ["a=%FF", "a=%C3", "a=%C3%28", "%80=x", "a=b&c=%e9"] {
            assert!(!query_is_utf8(bad), "{bad}");
        }
    }
}
