//! The list grammar `Accept` and `Accept-Encoding` share (RFC 9110 §5.6, §12.4.2,
//! §12.5.1, §12.5.3): elements separated by `,`, each a value with `;`-separated
//! parameters and an optional weight `q`. One parser for both, which never panics:
//! malformed elements are skipped, the rest still counts.

/// One element of a list header: a media range of `Accept` (`text/csv;charset=utf-8`) or
/// a content coding of `Accept-Encoding` (`gzip`), with its weight.
#[derive(Debug, PartialEq)]
pub(super) struct Element<'a> {
    /// What comes before the first `;`, trimmed (not checked: a media range is not a
    /// token).
    pub(super) value: &'a str,
    /// The parameters before `q`, names as written and values unquoted.
    pub(super) params: Vec<(&'a str, String)>,
    /// The weight (`q`) in thousandths, 0 to 1000; 1000 when absent.
    pub(super) q: u16,
}

/// The elements of a list header value (several header lines may be joined with `,`),
/// in order. Malformed elements are left out: empty ones, a parameter that is not
/// `token=value` (a token or a quoted string), a `q` that is not a qvalue, an
/// unterminated quoted string. Parameters after `q` (accept extensions) are ignored.
pub(super) fn elements(header: &str) -> impl Iterator<Item = Element<'_>> {
    split_unquoted(header, b',').filter_map(|text| element(text.trim()))
}

fn element(text: &str) -> Option<Element<'_>> {
    if text.is_empty() {
        return None;
    }
    let mut parts = split_unquoted(text, b';');
    let value = parts.next()?.trim();
    let mut params = Vec::new();
    let mut q = 1000;
    for part in parts {
        let part = part.trim();
        if part.is_empty() {
            continue; // "type/sub;" or ";;" — tolerated
        }
        let (name, value) = part.split_once('=')?;
        let (name, value) = (name.trim(), value.trim());
        if !is_token(name) {
            return None;
        }
        if name.eq_ignore_ascii_case("q") {
            q = parse_q(value)?;
            break; // what follows q are accept extensions
        }
        params.push((name, parse_value(value)?));
    }
    Some(Element { value, params, q })
}

/// `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`, in thousandths.
pub(super) fn parse_q(value: &str) -> Option<u16> {
    let (int, frac) = match value.split_once('.') {
        Some((int, frac)) => (int, frac),
        None => (value, ""),
    };
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths = frac
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(3)
        .fold(0u16, |acc, b| acc * 10 + u16::from(b - b'0'));
    match int {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// A parameter value: a token, or a quoted string (with `\` escapes) unquoted.
fn parse_value(value: &str) -> Option<String> {
    let Some(inner) = value.strip_prefix('"') else {
        return is_token(value).then(|| value.to_owned());
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '"' => return chars.as_str().is_empty().then_some(out),
            c => out.push(c),
        }
    }
    None // unterminated
}

/// RFC 9110 §5.6.2 `token`: one or more `tchar`.
pub(super) fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        })
}

/// Splits `s` at `sep` outside double-quoted strings (honouring `\` escapes inside
/// them).
fn split_unquoted(s: &str, sep: u8) -> impl Iterator<Item = &str> {
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    let mut quoted = false;
    let mut done = false;
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        while i < bytes.len() {
            let b = bytes[i];
            if quoted && b == b'\\' {
                i += 2;
                continue;
            }
            if b == b'"' {
                quoted = !quoted;
            } else if b == sep && !quoted {
                let part = &s[start..i];
                i += 1;
                start = i;
                return Some(part);
            }
            i += 1;
        }
        done = true;
        Some(s.get(start..).unwrap_or(""))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q_values() {
        assert_eq!(parse_q("1"), Some(1000));
        assert_eq!(parse_q("1."), Some(1000));
        assert_eq!(parse_q("1.000"), Some(1000));
        assert_eq!(parse_q("1.001"), None);
        assert_eq!(parse_q("0.5"), Some(500));
        assert_eq!(parse_q("0.05"), Some(50));
        assert_eq!(parse_q("0"), Some(0));
        assert_eq!(parse_q("0.0001"), None);
        assert_eq!(parse_q(".5"), None);
        assert_eq!(parse_q(""), None);
        assert_eq!(parse_q("0.a"), None);
    }

    #[test]
    fn elements_and_their_weights() {
        let parsed: Vec<Element<'_>> = elements(
            r#" gzip;q=0.5 , ,br, a/b;x="1,2\";3";Q=1.0;ext, bad;x, zstd;q=2, c;q=0.1;q=0.9"#,
        )
        .collect();
        let values: Vec<(&str, u16)> = parsed.iter().map(|e| (e.value, e.q)).collect();
        assert_eq!(
            values,
            [("gzip", 500), ("br", 1000), ("a/b", 1000), ("c", 100)]
        );
        assert_eq!(parsed[2].params, vec![("x", "1,2\";3".to_owned())]);
    }
}
