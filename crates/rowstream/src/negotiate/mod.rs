//! Content negotiation (RFC 9110 §12.5): which [`Format`] to answer a request with, from
//! its `Accept` header and an optional `format` query value (this file); which content
//! coding, from `Accept-Encoding` (`coding.rs`, feature `compression`); both read from a
//! request's headers and query string (`request.rs`, feature `http`).
//!
//! One parser (`header.rs`) reads the list grammar both headers share — elements,
//! parameters, quoted strings, q-values. It works on plain strings and never panics:
//! malformed parts of a header are skipped, the rest still counts.

#[cfg(feature = "compression")]
mod coding;
mod header;
#[cfg(feature = "http")]
mod request;

use std::fmt;

#[cfg(feature = "compression")]
pub use coding::ContentCoding;
use header::{Element, is_token};

use crate::Format;
#[cfg(feature = "compression")]
pub use request::negotiate_encoding;
#[cfg(feature = "http")]
pub use request::{negotiate_request, wants_trailers};

/// Chooses the format of a response among the formats this build can encode
/// ([`Format::available`]); see [`negotiate_among`] for the rules.
///
/// ```
/// use rowstream::{Format, negotiate};
///
/// assert_eq!(negotiate(None, None)?, Format::Json);
/// assert_eq!(negotiate(Some("application/x-ndjson, application/json;q=0.5"), None)?, Format::Ndjson);
/// assert_eq!(negotiate(Some("application/json;q=0, */*"), None)?, Format::Ndjson);
/// assert_eq!(negotiate(Some("application/json"), Some("jsonseq"))?, Format::JsonSeq);
/// assert!(negotiate(Some("image/png"), None).is_err());
/// # Ok::<(), rowstream::NotAcceptable>(())
/// ```
///
/// # Errors
///
/// [`NotAcceptable`] when the `format` value names no available format, or `Accept`
/// accepts none of them.
pub fn negotiate(accept: Option<&str>, format: Option<&str>) -> Result<Format, NotAcceptable> {
    let available: Vec<Format> = Format::available().collect();
    negotiate_among(accept, format, &available)
}

/// Chooses the format of a response among `offered` (in the server's order of
/// preference), from the request's `Accept` header value(s) and its `format` query value.
///
/// 1. A `format` value (`json`, `ndjson`, `jsonseq`, `csv`, `msgpack`, or the aliases of
///    [`Format::from_name`]) overrides `Accept`: it must name an offered format. An empty
///    value counts as absent.
/// 2. No `Accept` (or an empty one, or one where no element parses) accepts anything:
///    the first offered format.
/// 3. Otherwise each offered format gets the quality (`q`, 0 to 1, default 1) of the
///    **most specific** media range that matches it — `type/subtype` with parameters over
///    `type/subtype` over `type/*` over `*/*` — so `text/*;q=0.3, text/csv` gives CSV q=1.
///    Among equally specific matches the highest `q` counts. `q=0` means "not
///    acceptable". NDJSON also answers `application/jsonl`, MessagePack
///    `application/msgpack` and `application/x-msgpack`.
/// 4. Parameters: a media range's parameters must agree with the format's (`charset`
///    must be `utf-8` — every format here is UTF-8 — and `text/csv;header=absent` does
///    not match CSV's `header=present`); parameters a format does not define are ignored.
///    Parameters after `q` (accept extensions) are ignored.
/// 5. The highest quality above 0 wins; ties go to the more specific match, then to the
///    range listed first in `Accept`, then to the server's order.
/// 6. Malformed elements (no `/`, a wildcard type with a concrete subtype, characters not
///    allowed in a token, a `q` that is not a number from 0 to 1 with at most three
///    decimals, an unterminated quoted string) are skipped.
///
/// # Errors
///
/// [`NotAcceptable`] (to be answered with 406) when the `format` value names no offered
/// format, or no offered format has a quality above 0.
pub fn negotiate_among(
    accept: Option<&str>,
    format: Option<&str>,
    offered: &[Format],
) -> Result<Format, NotAcceptable> {
    if let Some(name) = format.map(str::trim).filter(|name| !name.is_empty()) {
        return match Format::from_name(name) {
            Some(format) if offered.contains(&format) => Ok(format),
            _ => Err(NotAcceptable::new(
                offered,
                Reason::UnknownFormat(name.chars().take(64).collect()),
            )),
        };
    }
    let ranges = accept.map(parse_accept).unwrap_or_default();
    if ranges.is_empty() {
        return offered
            .first()
            .copied()
            .ok_or_else(|| NotAcceptable::new(offered, Reason::NoneAcceptable));
    }
    let mut best: Option<(Score, Format)> = None;
    for (preference, &format) in offered.iter().enumerate() {
        let Some(mut score) = score(format, &ranges) else {
            continue;
        };
        if score.q == 0 {
            continue;
        }
        score.preference = preference;
        if best.as_ref().is_none_or(|(b, _)| score.beats(b)) {
            best = Some((score, format));
        }
    }
    best.map(|(_, format)| format)
        .ok_or_else(|| NotAcceptable::new(offered, Reason::NoneAcceptable))
}

/// The request accepts none of the offered formats: answer `406 Not Acceptable` with the
/// supported media types (as problem+json: the `http` feature's `NotAcceptable::to_response`,
/// the `axum` feature's `IntoResponse`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotAcceptable {
    offered: Vec<Format>,
    reason: Reason,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Reason {
    UnknownFormat(String),
    NoneAcceptable,
}

impl NotAcceptable {
    fn new(offered: &[Format], reason: Reason) -> Self {
        Self {
            offered: offered.to_vec(),
            reason,
        }
    }

    /// The formats the server offered.
    pub fn supported(&self) -> &[Format] {
        &self.offered
    }

    /// The media types of the offered formats, for the 406 response.
    pub fn supported_media_types(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.offered.iter().map(|f| f.media_type())
    }

    /// The `format` query value that named no offered format (its first 64 characters),
    /// if that was the reason.
    pub fn unknown_format(&self) -> Option<&str> {
        match &self.reason {
            Reason::UnknownFormat(name) => Some(name),
            Reason::NoneAcceptable => None,
        }
    }
}

impl fmt::Display for NotAcceptable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.reason {
            Reason::UnknownFormat(name) => {
                write!(
                    f,
                    "unknown or unsupported format `{name}`; supported formats: "
                )?;
                join(f, self.offered.iter().map(|f| f.name()))
            }
            Reason::NoneAcceptable => {
                f.write_str("none of the supported media types is acceptable: ")?;
                join(f, self.supported_media_types())
            }
        }
    }
}

fn join<'a>(f: &mut fmt::Formatter<'_>, items: impl Iterator<Item = &'a str>) -> fmt::Result {
    for (i, item) in items.enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        f.write_str(item)?;
    }
    Ok(())
}

impl std::error::Error for NotAcceptable {}

/// One parsed element of `Accept`.
#[derive(Debug, PartialEq)]
struct MediaRange<'a> {
    kind: &'a str,
    subtype: &'a str,
    /// Media type parameters (before `q`), names and values as written.
    params: Vec<(&'a str, String)>,
    /// Quality in thousandths: 0 to 1000.
    q: u16,
    position: usize,
}

impl MediaRange<'_> {
    /// 3 for `type/subtype`, 2 for `type/*`, 1 for `*/*`, times 100 plus the number of
    /// parameters.
    fn specificity(&self) -> usize {
        let level = match (self.kind, self.subtype) {
            ("*", _) => 1,
            (_, "*") => 2,
            _ => 3,
        };
        level * 100 + self.params.len()
    }

    fn matches(&self, media: &crate::encode::MediaType) -> bool {
        let kind_ok = self.kind == "*" || self.kind.eq_ignore_ascii_case(media.kind);
        let subtype_ok = self.subtype == "*" || self.subtype.eq_ignore_ascii_case(media.subtype);
        kind_ok
            && subtype_ok
            && self.params.iter().all(|(name, value)| {
                if name.eq_ignore_ascii_case("charset") {
                    return value.eq_ignore_ascii_case("utf-8");
                }
                match media
                    .params
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(name))
                {
                    Some((_, ours)) => value.eq_ignore_ascii_case(ours),
                    None => true,
                }
            })
    }
}

/// How well `Accept` accepts one format.
#[derive(Debug, Clone, Copy)]
struct Score {
    q: u16,
    specificity: usize,
    position: usize,
    preference: usize,
}

impl Score {
    fn beats(&self, other: &Score) -> bool {
        (
            self.q,
            self.specificity,
            usize::MAX - self.position,
            usize::MAX - self.preference,
        ) > (
            other.q,
            other.specificity,
            usize::MAX - other.position,
            usize::MAX - other.preference,
        )
    }
}

/// The quality of `format` under `ranges`: for each media type the format answers to,
/// the most specific matching ranges decide (the highest `q` among them); the best of
/// the format's media types counts. `None` when no range matches.
fn score(format: Format, ranges: &[MediaRange<'_>]) -> Option<Score> {
    let mut best: Option<Score> = None;
    for media in format.media_types() {
        let mut chosen: Option<Score> = None;
        for range in ranges.iter().filter(|r| r.matches(media)) {
            let candidate = Score {
                q: range.q,
                specificity: range.specificity(),
                position: range.position,
                preference: 0,
            };
            let replace = match &chosen {
                None => true,
                Some(c) => {
                    candidate.specificity > c.specificity
                        || (candidate.specificity == c.specificity && candidate.q > c.q)
                }
            };
            if replace {
                chosen = Some(candidate);
            }
        }
        if let Some(chosen) = chosen {
            if best.as_ref().is_none_or(|b| chosen.beats(b)) {
                best = Some(chosen);
            }
        }
    }
    best
}

/// Parses an `Accept` value (several header lines may be joined with `,`); malformed
/// elements are left out.
fn parse_accept(header: &str) -> Vec<MediaRange<'_>> {
    header::elements(header)
        .filter_map(media_range)
        .enumerate()
        .map(|(position, mut range)| {
            range.position = position;
            range
        })
        .collect()
}

/// An element of `Accept` as a media range: `type/subtype`, or `type/*`, or `*/*`.
fn media_range(element: Element<'_>) -> Option<MediaRange<'_>> {
    let (kind, subtype) = element.value.split_once('/')?;
    let (kind, subtype) = (kind.trim(), subtype.trim());
    if !is_token(kind) || !is_token(subtype) || (kind == "*" && subtype != "*") {
        return None;
    }
    Some(MediaRange {
        kind,
        subtype,
        params: element.params,
        q: element.q,
        position: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: &[Format] = &Format::ALL;

    fn pick(accept: &str) -> Option<Format> {
        negotiate_among(Some(accept), None, ALL).ok()
    }

    #[test]
    fn accept_table() {
        use Format::*;
        let table: &[(&str, Option<Format>)] = &[
            // Exact types and the aliases.
            ("application/json", Some(Json)),
            ("application/x-ndjson", Some(Ndjson)),
            ("application/jsonl", Some(Ndjson)),
            ("application/json-seq", Some(JsonSeq)),
            ("text/csv", Some(Csv)),
            ("application/vnd.msgpack", Some(Msgpack)),
            ("application/x-msgpack", Some(Msgpack)),
            ("APPLICATION/JSON", Some(Json)),
            // Wildcards: the server's order among equals.
            ("*/*", Some(Json)),
            ("text/*", Some(Csv)),
            ("application/*", Some(Json)),
            // q-values.
            ("application/json;q=0.5, text/csv", Some(Csv)),
            ("application/json;q=0.5, text/csv;q=0.4", Some(Json)),
            ("text/csv;q=1.000, application/json;q=0.999", Some(Csv)),
            // q=0 excludes, even under a wildcard that would accept.
            ("application/json;q=0, */*", Some(Ndjson)),
            ("application/json;q=0", None),
            ("*/*;q=0", None),
            ("*/*;q=0, application/json-seq", Some(JsonSeq)),
            // Specificity: the most specific range decides, whatever the order.
            (
                "application/*;q=0.9, application/x-ndjson;q=0.2",
                Some(Json),
            ),
            ("text/*;q=0.3, text/csv;q=0.7, */*;q=0.5", Some(Csv)),
            ("text/csv;charset=utf-8;q=0, text/csv;q=1", None),
            ("text/csv;q=0, text/csv;charset=utf-8", Some(Csv)),
            // Ties: the more specific match, then the client's order.
            ("*/*, application/x-ndjson", Some(Ndjson)),
            ("text/csv, application/json", Some(Csv)),
            ("application/json-seq, application/json", Some(JsonSeq)),
            // Parameters.
            ("application/json; charset=utf-8", Some(Json)),
            ("application/json; charset=\"UTF-8\"", Some(Json)),
            ("application/json; charset=latin1", None),
            ("text/csv;header=absent", None),
            ("text/csv;header=present;charset=utf-8", Some(Csv)),
            ("application/json;profile=\"a,b;c\"", Some(Json)),
            ("application/json;q=0.8;level=1, text/csv;q=0.9", Some(Csv)),
            // Malformed elements are skipped; an all-malformed header accepts anything.
            ("application", Some(Json)),
            ("/json, text/csv", Some(Csv)),
            ("*/json, text/csv;q=0.1", Some(Csv)),
            ("application/json;q=2, text/csv;q=0.1", Some(Csv)),
            ("application/json;q=abc, text/csv;q=0.1", Some(Csv)),
            ("application/json;q=0.1234, text/csv;q=0.1", Some(Csv)),
            ("application/json;q=-1", Some(Json)),
            ("text/csv;charset=\"utf-8, application/json", Some(Json)),
            (",,, ;;; ,", Some(Json)),
            ("", Some(Json)),
            ("tex t/csv, application/x-ndjson", Some(Ndjson)),
            ("text/csv;=x, application/x-ndjson", Some(Ndjson)),
            // Nothing we have.
            ("image/png", None),
            ("text/html, application/xml;q=0.9", None),
        ];
        for (accept, expected) in table {
            assert_eq!(pick(accept), *expected, "Accept: {accept}");
        }
    }

    #[test]
    fn format_value_overrides_accept() {
        assert_eq!(
            negotiate_among(Some("text/csv"), Some("msgpack"), ALL),
            Ok(Format::Msgpack)
        );
        assert_eq!(
            negotiate_among(Some("image/png"), Some("NDJSON"), ALL),
            Ok(Format::Ndjson)
        );
        assert_eq!(
            negotiate_among(Some("text/csv"), Some(""), ALL),
            Ok(Format::Csv)
        );
        let err = negotiate_among(None, Some("xml"), ALL).unwrap_err();
        assert_eq!(err.unknown_format(), Some("xml"));
        assert!(
            err.to_string()
                .contains("json, ndjson, jsonseq, csv, msgpack")
        );
        // A format the server does not offer is refused like an unknown one.
        let err = negotiate_among(None, Some("csv"), &[Format::Json]).unwrap_err();
        assert_eq!(err.supported(), &[Format::Json]);
    }

    #[test]
    fn offered_order_is_the_default_and_the_tie_break() {
        let offered = [Format::Csv, Format::Json];
        assert_eq!(negotiate_among(None, None, &offered), Ok(Format::Csv));
        assert_eq!(
            negotiate_among(Some("*/*"), None, &offered),
            Ok(Format::Csv)
        );
        assert!(negotiate_among(None, None, &[]).is_err());
    }

    #[test]
    fn not_acceptable_lists_media_types() {
        let err = negotiate_among(Some("image/png"), None, ALL).unwrap_err();
        let types: Vec<_> = err.supported_media_types().collect();
        assert_eq!(types.len(), 8);
        assert!(types.contains(&"text/csv; charset=utf-8; header=present"));
        assert!(types.contains(&"application/vnd.apache.arrow.stream"));
        assert!(types.contains(&"application/x-protobuf; delimited=true"));
        // Protocol Buffers answers its media types, but only delimited.
        for accept in [
            "application/x-protobuf",
            "application/protobuf; delimited=true",
            "application/vnd.google.protobuf, application/json;q=0.5",
        ] {
            assert_eq!(
                negotiate_among(Some(accept), None, ALL).ok(),
                Some(Format::Protobuf),
                "{accept}"
            );
        }
        assert!(
            negotiate_among(Some("application/x-protobuf; delimited=false"), None, ALL).is_err()
        );
        assert!(
            err.to_string()
                .starts_with("none of the supported media types")
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics_and_picks_only_offered(
            accept in "[ -~]{0,80}",
            tokens in proptest::collection::vec(
                "(\\*|text|application|[a-z]{1,4})/(\\*|csv|json|x-ndjson|json-seq|vnd\\.msgpack|[a-z]{1,4})(;(q|charset|header)=(0(\\.[0-9]{0,4})?|1|utf-8|present|\"[ -~]{0,5}))?",
                0..6,
            ),
            format in proptest::option::of("[ -~]{0,12}"),
        ) {
            let offered = [Format::Csv, Format::Json];
            for header in [accept, tokens.join(", ")] {
                if let Ok(chosen) = negotiate_among(Some(&header), format.as_deref(), &offered) {
                    proptest::prop_assert!(offered.contains(&chosen));
                }
            }
        }
    }

    #[test]
    fn quoted_strings_split_correctly() {
        let ranges = parse_accept(r#"a/b;x="1,2\";3", c/d;q=0.5"#);
        assert_eq!(ranges.len(), 2);
        assert_eq!(ranges[0].params, vec![("x", "1,2\";3".to_owned())]);
        assert_eq!(
            (ranges[1].kind, ranges[1].q, ranges[1].position),
            ("c", 500, 1)
        );
    }
}
