//! The server's URLs: the query parameters it reads itself, how a name becomes a path
//! segment, and which query strings it accepts. Depends on nothing else of the crate.

/// Query parameters every export endpoint (`/tables/{table}`, `/queries/{name}`) takes,
/// read by the server itself: they pick the format, the completion record, how
/// values that formats disagree on are written (over the server's `--non-finite`,
/// `--big-integers` and `--formula-guard`), a download file name (`download`) and the
/// CSV options (`bom`, `header`, `delimiter`), and whether the export is spooled to a
/// file and served with `Content-Length` and byte ranges (`spool`). A named
/// query may not declare them; any other parameter, unless the named query declares it,
/// is refused with `400` ([`unknown_param`]). This is the one list: a new export
/// parameter is added here.
pub const RESERVED_PARAMS: &[&str] = &[
    "format",
    "complete",
    "non_finite",
    "big_integers",
    "formula_guard",
    "download",
    "bom",
    "header",
    "delimiter",
    "spool",
];

/// Query parameters `/tables/{table}` takes besides [`RESERVED_PARAMS`]: `limit`, the
/// most rows to send (a preview), `after`, the key after which a keyset table's
/// export starts (a resumed export), `select`, the columns, and `order`, the sort
/// ([`crate::slice`]). Every other parameter of a table export is a filter on the column
/// of its name; a column named like one of these or of [`RESERVED_PARAMS`] is written in
/// double quotes (`"limit"=eq.5`).
pub const TABLE_PARAMS: &[&str] = &["limit", "after", "select", "order"];

/// The query parameter that filters `column` (`column=op.value`): its name, or in double
/// quotes (inner quotes doubled) when it is one of [`RESERVED_PARAMS`] or
/// [`TABLE_PARAMS`] or holds a quote, as the slice syntax reads it.
pub fn filter_param(column: &str) -> String {
    let reserved = RESERVED_PARAMS
        .iter()
        .chain(TABLE_PARAMS)
        .any(|p| *p == column);
    if reserved || column.contains('"') {
        format!("\"{}\"", column.replace('"', "\"\""))
    } else {
        column.to_owned()
    }
}

/// The last value of the parameter `name` in `params`, if any.
pub fn last<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .rev()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

/// The most rows `?limit=` may ask for (the largest keyset page,
/// [`rowstream::MAX_BATCH_SIZE`] is the same number).
pub const MAX_LIMIT: u64 = 1_000_000;

/// The `limit` in `params` (the last one; a second is refused before: [`repeated`]):
/// `None` without one.
///
/// # Errors
///
/// A value that is not a whole number from 1 to [`MAX_LIMIT`]; the message says so.
pub fn limit(params: &[(String, String)]) -> Result<Option<u64>, String> {
    let Some((_, value)) = params.iter().rev().find(|(name, _)| name == "limit") else {
        return Ok(None);
    };
    match value.parse::<u64>() {
        Ok(n) if (1..=MAX_LIMIT).contains(&n) && !value.starts_with('+') => Ok(Some(n)),
        _ => Err(format!(
            "limit must be a whole number of rows from 1 to {MAX_LIMIT}, not \"{value}\""
        )),
    }
}

/// The first parameter in `params` given more than once among those `own` picks (a
/// filter may repeat, a parameter of the server's own may not): which one would win is a
/// guess neither the server (`400 Repeated parameter`) nor `rowstream export --slice`
/// makes.
pub fn repeated(params: &[(String, String)], own: impl Fn(&str) -> bool) -> Option<&str> {
    let mut seen = std::collections::HashSet::new();
    params
        .iter()
        .map(|(name, _)| name.as_str())
        .filter(|name| own(name))
        .find(|name| !seen.insert(*name))
}

/// The first name in `params` that is neither one of [`RESERVED_PARAMS`] nor in
/// `declared` (a named query's parameters); names are case-sensitive.
pub fn unknown_param<'a>(params: &'a [(String, String)], declared: &[&str]) -> Option<&'a str> {
    params
        .iter()
        .map(|(name, _)| name.as_str())
        .find(|name| !RESERVED_PARAMS.contains(name) && !declared.contains(name))
}

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
    fn limits() {
        let params = |v: &str| vec![("limit".to_owned(), v.to_owned())];
        assert_eq!(limit(&[]), Ok(None));
        assert_eq!(limit(&params("1")), Ok(Some(1)));
        assert_eq!(limit(&params("1000000")), Ok(Some(MAX_LIMIT)));
        for bad in [
            "0",
            "-1",
            "+5",
            "1000001",
            "",
            "ten",
            "1.5",
            "99999999999999999999",
        ] {
            assert!(limit(&params(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn encodes_segments() {
        assert_eq!(percent_encode_segment("tickets"), "tickets");
        assert_eq!(percent_encode_segment("a b/\"é"), "a%20b%2F%22%C3%A9");
    }

    #[test]
    fn unknown_params_are_the_ones_nobody_reads() {
        let params = |names: &[&str]| -> Vec<(String, String)> {
            names
                .iter()
                .map(|n| ((*n).to_owned(), "1".to_owned()))
                .collect()
        };
        assert_eq!(unknown_param(&params(&["format", "complete"]), &[]), None);
        assert_eq!(
            unknown_param(&params(&["format", "fromat", "limit"]), &[]),
            Some("fromat")
        );
        assert_eq!(unknown_param(&params(&["Format"]), &[]), Some("Format"));
        assert_eq!(
            unknown_param(&params(&["start", "format"]), &["start"]),
            None
        );
        assert_eq!(
            unknown_param(&params(&["start", "n"]), &["start"]),
            Some("n")
        );
        assert_eq!(unknown_param(&params(&[""]), &[]), Some(""));
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
