//! The `Range` request header (RFC 9110 §14.2), for the one unit a spooled export offers,
//! `bytes` (§14.1.2).

use std::ops::RangeInclusive;

/// What a `Range` header asks of a representation `len` bytes long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Wanted {
    /// The whole representation, `200 OK`: no `Range`, one in another unit than `bytes`
    /// or not valid syntax (all of which a server must ignore, §14.2), or several
    /// ranges one of which is satisfiable (which a server may answer with the whole,
    /// §14.2).
    Whole,
    /// One satisfiable range, `first..=last` with `last < len`: `206 Partial Content`.
    Part(RangeInclusive<u64>),
    /// A valid range set none of whose ranges overlaps the representation (a first
    /// position at or after the end, a zero suffix, or any range of an empty
    /// representation): `416 Range Not Satisfiable` with `Content-Range: bytes */len`
    /// (§14.1.1, §15.5.17).
    Unsatisfiable,
}

/// Reads `header` (the `Range` value) against a representation `len` bytes long.
///
/// The grammar (§14.1.1, §14.1.2): `bytes=` then a comma-separated range set of
/// `first-last` (`first <= last`), `first-` and `-suffix`, with optional whitespace
/// around the commas and empty list elements allowed (§5.6.1); the unit is
/// case-insensitive. A last position past the end is the end; a suffix longer than the
/// representation is all of it. A header that does not follow the grammar is ignored:
/// [`Wanted::Whole`].
pub(super) fn wanted(header: Option<&str>, len: u64) -> Wanted {
    let Some(specs) = header.and_then(range_set) else {
        return Wanted::Whole;
    };
    let mut satisfiable = specs.iter().filter_map(|spec| spec.resolve(len));
    match (satisfiable.next(), specs.as_slice()) {
        (None, _) => Wanted::Unsatisfiable,
        (Some(part), [_]) => Wanted::Part(part),
        // Several ranges: answered with the whole representation, as a server may.
        (Some(_), _) => Wanted::Whole,
    }
}

/// The range set of a `bytes` `Range` header; `None` for another unit or for anything
/// that is not valid syntax (no `=`, no range, a malformed range, `first > last`).
fn range_set(header: &str) -> Option<Vec<Spec>> {
    let (unit, set) = header.trim().split_once('=')?;
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return None;
    }
    let specs: Vec<Spec> = set
        .split(',')
        .map(|s| s.trim_matches([' ', '\t']))
        .filter(|s| !s.is_empty())
        .map(parse_spec)
        .collect::<Option<_>>()?;
    (!specs.is_empty()).then_some(specs)
}

/// One range spec as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Spec {
    /// `first-last` or `first-` (`last` is `None`).
    From { first: u64, last: Option<u64> },
    /// `-suffix`: the last `suffix` bytes.
    Suffix(u64),
}

impl Spec {
    /// The bytes this spec selects of a representation `len` bytes long, `None` if it
    /// is not satisfiable.
    fn resolve(self, len: u64) -> Option<RangeInclusive<u64>> {
        match self {
            Self::From { first, .. } if first >= len => None,
            Self::From { first, last } => {
                Some(first..=last.map_or(len - 1, |last| last.min(len - 1)))
            }
            Self::Suffix(0) => None,
            Self::Suffix(_) if len == 0 => None,
            Self::Suffix(suffix) => Some(len.saturating_sub(suffix)..=len - 1),
        }
    }
}

/// `first-last`, `first-` or `-suffix` (digits only, no sign or space), with `first <=
/// last`; else `None`. A position too large for a `u64` is `u64::MAX`, past the end of
/// any representation; `first <= last` is compared on the digits as written.
fn parse_spec(spec: &str) -> Option<Spec> {
    let (first, last) = spec.split_once('-')?;
    let digits = |s: &str| -> Option<String> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let trimmed = s.trim_start_matches('0');
        Some(if trimmed.is_empty() { "0" } else { trimmed }.to_owned())
    };
    let number = |d: &str| d.parse::<u64>().unwrap_or(u64::MAX);
    if first.is_empty() {
        return digits(last).map(|d| Spec::Suffix(number(&d)));
    }
    let first = digits(first)?;
    if last.is_empty() {
        return Some(Spec::From {
            first: number(&first),
            last: None,
        });
    }
    let last = digits(last)?;
    // Without leading zeros, the shorter string is the smaller number.
    let in_order = (first.len(), first.as_str()) <= (last.len(), last.as_str());
    in_order.then(|| Spec::From {
        first: number(&first),
        last: Some(number(&last)),
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn single_ranges() {
        let part = |r: RangeInclusive<u64>| Wanted::Part(r);
        assert_eq!(wanted(None, 100), Wanted::Whole);
        assert_eq!(wanted(Some("bytes=0-9"), 100), part(0..=9));
        assert_eq!(wanted(Some("bytes=90-"), 100), part(90..=99));
        assert_eq!(wanted(Some("bytes=90-1000"), 100), part(90..=99));
        assert_eq!(wanted(Some("bytes=-10"), 100), part(90..=99));
        assert_eq!(wanted(Some("bytes=-1000"), 100), part(0..=99));
        assert_eq!(wanted(Some("Bytes = 5-5"), 100), part(5..=5));
        assert_eq!(wanted(Some("bytes=0-0, "), 1), part(0..=0));
    }

    #[test]
    fn unsatisfiable() {
        for header in [
            "bytes=100-",
            "bytes=100-200",
            "bytes=-0",
            "bytes=99999999999999999999-",
            "bytes=99999999999999999999-199999999999999999999",
            "bytes=200-300, 400-",
            "bytes=200-300, -0",
        ] {
            assert_eq!(wanted(Some(header), 100), Wanted::Unsatisfiable, "{header}");
        }
        assert_eq!(wanted(Some("bytes=0-"), 0), Wanted::Unsatisfiable);
        assert_eq!(wanted(Some("bytes=-5"), 0), Wanted::Unsatisfiable);
    }

    #[test]
    fn malformed_and_other_units_are_ignored() {
        for header in [
            "bytes=5-4",
            "bytes=a-b",
            "bytes=abc",
            "bytes=+1-2",
            "bytes= - ",
            "bytes=",
            "bytes= , ",
            "bytes",
            "bytes=1-2-3",
            "bytes=0-9, x",
            "bytes=200-300, 5-4",
            "bytes=00010-9",
            "bytes=199999999999999999999-99999999999999999999",
            "items=0-9",
            "items=100-",
            "=0-9",
        ] {
            assert_eq!(wanted(Some(header), 100), Wanted::Whole, "{header}");
        }
    }

    #[test]
    fn several_ranges_are_the_whole() {
        assert_eq!(wanted(Some("bytes=0-9,20-29"), 100), Wanted::Whole);
        assert_eq!(wanted(Some("bytes=200-300, 0-9"), 100), Wanted::Whole);
        assert_eq!(wanted(Some("bytes=0010-0019"), 100), Wanted::Part(10..=19));
    }

    proptest! {
        /// Whatever the header, a part lies inside the representation, and never panics.
        #[test]
        fn parts_lie_inside(header in "\\PC{0,40}", len in 0u64..10_000) {
            if let Wanted::Part(range) = wanted(Some(&header), len) {
                prop_assert!(range.start() <= range.end());
                prop_assert!(*range.end() < len);
            }
        }

        /// `bytes=a-b` is exactly the bytes a to min(b, len - 1) when a < len.
        #[test]
        fn first_last(a in 0u64..2_000, extra in 0u64..2_000, len in 1u64..2_000) {
            let b = a + extra;
            let got = wanted(Some(&format!("bytes={a}-{b}")), len);
            if a < len {
                prop_assert_eq!(got, Wanted::Part(a..=b.min(len - 1)));
            } else {
                prop_assert_eq!(got, Wanted::Unsatisfiable);
            }
        }
    }
}
