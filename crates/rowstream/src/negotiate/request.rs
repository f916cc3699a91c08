//! Content negotiation from a request's headers and query string: the [`Format`]
//! ([`negotiate_request`]), trailers ([`wants_trailers`]) and, with the `compression`
//! feature, the content coding ([`negotiate_encoding`]).

use std::borrow::Cow;

use http::{HeaderMap, header};

use crate::{Format, NotAcceptable, negotiate_among};

/// Chooses the format of a response among `offered` (in the server's order of
/// preference) from a request's `Accept` header(s) and the `format` value of its URI
/// query string (the part after `?`, if any; percent-decoded, `+` is a space): the rules
/// of [`negotiate_among`], with several `Accept` lines counted together.
///
/// ```
/// use http::{HeaderMap, HeaderValue, header};
/// use rowstream::Format;
/// use rowstream::http::negotiate_request;
///
/// let mut headers = HeaderMap::new();
/// headers.insert(header::ACCEPT, HeaderValue::from_static("application/x-ndjson"));
/// assert_eq!(negotiate_request(&headers, None, &Format::ALL)?, Format::Ndjson);
/// assert_eq!(negotiate_request(&headers, Some("a=1&format=jsonseq"), &Format::ALL)?, Format::JsonSeq);
/// assert!(negotiate_request(&headers, Some("format=xml"), &Format::ALL).is_err());
/// # Ok::<(), rowstream::NotAcceptable>(())
/// ```
///
/// # Errors
///
/// [`NotAcceptable`] when the `format` value names no offered format or `Accept`
/// accepts none of them; answer it with
/// [`NotAcceptable::to_response`](crate::NotAcceptable::to_response) (406).
pub fn negotiate_request(
    headers: &HeaderMap,
    query: Option<&str>,
    offered: &[Format],
) -> Result<Format, NotAcceptable> {
    let accept = accept_header(headers);
    let format_value = query.and_then(format_query_value);
    negotiate_among(accept.as_deref(), format_value.as_deref(), offered)
}

/// The content coding for a request: [`ContentCoding::negotiate`](crate::compress::ContentCoding::negotiate)
/// over every `Accept-Encoding` line, among all codings this crate has.
#[cfg(feature = "compression")]
pub fn negotiate_encoding(headers: &HeaderMap) -> crate::compress::ContentCoding {
    let lines: Vec<&str> = headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    crate::compress::ContentCoding::negotiate(&lines.join(","), crate::compress::ContentCoding::ALL)
}

/// Whether `TE` (every line) lists `trailers` (RFC 9110 §10.1.4).
pub fn wants_trailers(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::TE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|line| line.split(','))
        .any(|token| {
            token
                .split(';')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case("trailers"))
        })
}

/// Every `Accept` line joined with `, `; lines that are not visible ASCII are left out.
fn accept_header(headers: &HeaderMap) -> Option<Cow<'_, str>> {
    let mut lines = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok());
    let first = lines.next()?;
    match lines.next() {
        None => Some(Cow::Borrowed(first)),
        Some(second) => {
            let mut joined = format!("{first}, {second}");
            for line in lines {
                joined.push_str(", ");
                joined.push_str(line);
            }
            Some(Cow::Owned(joined))
        }
    }
}

/// The first `format` value of a query string, percent-decoded (`+` is a space).
fn format_query_value(query: &str) -> Option<Cow<'_, str>> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(key) == "format").then(|| percent_decode(value))
    })
}

fn percent_decode(s: &str) -> Cow<'_, str> {
    if !s.bytes().any(|b| b == b'%' || b == b'+') {
        return Cow::Borrowed(s);
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                // Two hex digits exactly: `from_str_radix` alone would also take a sign.
                let hex = bytes
                    .get(i + 1..i + 3)
                    .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                if let Some(byte) = hex {
                    out.push(byte);
                    i += 3;
                    continue;
                }
                out.push(b'%');
            }
            b => out.push(b),
        }
        i += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn query_values() {
        assert_eq!(format_query_value("format=csv").as_deref(), Some("csv"));
        assert_eq!(
            format_query_value("a=1&format=ndjson&format=csv").as_deref(),
            Some("ndjson")
        );
        assert_eq!(
            format_query_value("%66ormat=json%2Dseq").as_deref(),
            Some("json-seq")
        );
        assert_eq!(format_query_value("format").as_deref(), Some(""));
        assert_eq!(format_query_value("formats=csv"), None);
        assert_eq!(format_query_value("format=%zz%").as_deref(), Some("%zz%"));
        assert_eq!(
            format_query_value("format=%ff").as_deref(),
            Some("\u{fffd}")
        );
    }

    #[test]
    fn a_percent_escape_is_two_hex_digits() {
        // `%` followed by anything but two hex digits stays as it is, as form decoders
        // read it; a sign is not a digit (`u8::from_str_radix` would take "+1").
        assert_eq!(
            format_query_value("format=%+1csv").as_deref(),
            Some("% 1csv")
        );
        assert_eq!(
            format_query_value("format=%+Fcsv").as_deref(),
            Some("% Fcsv")
        );
        assert_eq!(format_query_value("format=%2bcsv").as_deref(), Some("+csv"));
    }

    #[test]
    fn trailers_token() {
        let mut headers = HeaderMap::new();
        assert!(!wants_trailers(&headers));
        headers.append(header::TE, HeaderValue::from_static("gzip;q=0.5"));
        assert!(!wants_trailers(&headers));
        headers.append(header::TE, HeaderValue::from_static("deflate, Trailers"));
        assert!(wants_trailers(&headers));
    }

    #[test]
    fn several_accept_lines_count_together() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::ACCEPT,
            HeaderValue::from_static("application/json;q=0.1"),
        );
        headers.append(
            header::ACCEPT,
            HeaderValue::from_static("application/x-ndjson"),
        );
        let format = negotiate_request(&headers, None, &Format::ALL).unwrap();
        assert_eq!(format, Format::Ndjson);
        let format = negotiate_request(&headers, Some("format=jsonseq"), &Format::ALL).unwrap();
        assert_eq!(format, Format::JsonSeq);
    }
}
