//! Content negotiation: `Accept` (and the `format` query value) and `Accept-Encoding`,
//! through the plain-string functions and the `http` header-map functions.
//!
//! Checks, besides "never panics":
//! - the chosen format is one of the offered ones; the chosen coding is a supported one
//!   or `identity`;
//! - header names, tokens and parameter values compare case-insensitively, so changing
//!   the case of the whole header never changes the answer;
//! - a malformed element (`foo`, no `/`) appended to `Accept` changes nothing;
//! - several header lines count as one joined line;
//! - the `format` value read from a query string is the one a standard
//!   `application/x-www-form-urlencoded` parser (`form_urlencoded`) reads.
#![no_main]

use arbitrary::Arbitrary;
use http::{HeaderMap, HeaderValue, header};
use libfuzzer_sys::fuzz_target;
use rowstream::compress::ContentCoding;
use rowstream::http::{negotiate_encoding, negotiate_request};
use rowstream::{Format, negotiate_among};

#[derive(Arbitrary, Debug)]
struct Input {
    accept: Vec<String>,
    accept_encoding: Vec<String>,
    query: Option<String>,
    format: Option<String>,
    offered: u8,
    supported: u8,
}

fn pick<T: Copy>(all: &[T], mask: u8) -> Vec<T> {
    all.iter()
        .enumerate()
        .filter(|(i, _)| mask & (1 << i) != 0)
        .map(|(_, &x)| x)
        .collect()
}

fn headers(name: header::HeaderName, lines: &[String]) -> (HeaderMap, Option<String>) {
    let mut map = HeaderMap::new();
    let mut visible = Vec::new();
    for line in lines {
        if let Ok(value) = HeaderValue::from_str(line) {
            if value.to_str().is_ok() {
                visible.push(line.as_str());
            }
            map.append(name.clone(), value);
        }
    }
    let joined = (!visible.is_empty()).then(|| visible.join(", "));
    (map, joined)
}

fuzz_target!(|input: Input| {
    let offered = pick(&Format::ALL, input.offered);
    let format = input.format.as_deref();

    // Accept.
    let accept = input.accept.join(", ");
    let chosen = negotiate_among(Some(&accept), format, &offered);
    if let Ok(f) = &chosen {
        assert!(offered.contains(f), "{f:?} not offered: {offered:?}");
    }
    if format.is_none_or(|f| f.trim().is_empty()) {
        for changed in [accept.to_ascii_uppercase(), accept.to_ascii_lowercase()] {
            assert_eq!(
                negotiate_among(Some(&changed), format, &offered),
                chosen,
                "case changed the answer: {accept:?} vs {changed:?}"
            );
        }
        let extended = format!("{accept}, foo");
        assert_eq!(
            negotiate_among(Some(&extended), format, &offered),
            chosen,
            "a malformed element changed the answer: {accept:?}"
        );
    }
    let _ = negotiate_among(Some(&accept), format, &Format::ALL);

    // Accept through a header map and a query string.
    let (map, joined) = headers(header::ACCEPT, &input.accept);
    let query = input.query.as_deref();
    let form_format = query.and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "format")
            .map(|(_, v)| v.into_owned())
    });
    assert_eq!(
        negotiate_request(&map, query, &offered),
        negotiate_among(joined.as_deref(), form_format.as_deref(), &offered),
        "query {query:?}"
    );

    // Accept-Encoding.
    let supported = pick(ContentCoding::ALL, input.supported);
    let encoding = input.accept_encoding.join(",");
    let coding = ContentCoding::negotiate(&encoding, &supported);
    assert!(
        coding == ContentCoding::Identity || supported.contains(&coding),
        "{coding:?} not supported: {supported:?}"
    );
    for changed in [encoding.to_ascii_uppercase(), encoding.to_ascii_lowercase()] {
        assert_eq!(
            ContentCoding::negotiate(&changed, &supported),
            coding,
            "case changed the coding: {encoding:?}"
        );
    }
    let (map, _) = headers(header::ACCEPT_ENCODING, &input.accept_encoding);
    let lines: Vec<&str> = map
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    assert_eq!(
        negotiate_encoding(&map),
        ContentCoding::negotiate(&lines.join(","), ContentCoding::ALL)
    );

    // Format names.
    if let Some(name) = format
        && let Some(f) = Format::from_name(name)
    {
        assert_eq!(Format::from_name(f.name()), Some(f));
    }
});
