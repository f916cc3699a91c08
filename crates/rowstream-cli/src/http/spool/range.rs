//! The `Range` request header (RFC 9110 §14.2), for the one unit a spooled export offers,
//! `bytes` (§14.1.2).

use std::ops::RangeInclusive;

/// What a `Range` header asks of a representation `len` bytes long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Wanted {
    /// The whole representation: no `Range`, another unit than `bytes` (which a server
    /// must ignore, §14.2), or several ranges (which a server may answer with the whole,
    /// §14.2).
    Whole,
    /// One satisfiable range, `first..=last` with `last < len`: `206 Partial Content`.
    Part(RangeInclusive<u64>),
    /// A range that is malformed or starts at or after the end: `416 Range Not
    /// Satisfiable` with `Content-Range: bytes */len` (§15.5.17).
    Unsatisfiable,
}

/// Reads `header` (the `Range` value) against a representation `len` bytes long.
///
/// The grammar (§14.1.1, §14.1.2): `bytes=` then a comma-separated range set of
/// `first-last`, `first-` and `-suffix`, with optional whitespace around the commas; the
/// unit is case-insensitive. A last position past the end is the end; a suffix longer
/// than the representation is all of it.
pub(super) fn wanted(header: Option<&str>, len: u64) -> Wanted {
    let Some(header) = header else {
        return Wanted::Whole;
    };
    let Some((unit, set)) = header.trim().split_once('=') else {
        return Wanted::Unsatisfiable;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return Wanted::Whole;
    }
    let specs: Vec<&str> = set
        .split(',')
        .map(|s| s.trim_matches([' ', '\t']))
        .filter(|s| !s.is_empty())
        .collect();
    match specs.as_slice() {
        [one] => match parse_spec(one) {
            Some(spec) => spec.resolve(len),
            None => Wanted::Unsatisfiable,
        },
        [] => Wanted::Unsatisfiable,
        many => {
            // Several ranges: answered with the whole representation if they are well
            // formed and one of them is satisfiable, as a server may.
            let parsed: Option<Vec<Spec>> = many.iter().map(|s| parse_spec(s)).collect();
            match parsed {
                Some(specs)
                    if specs
                        .iter()
                        .any(|s| s.resolve(len) != Wanted::Unsatisfiable) =>
                {
                    Wanted::Whole
                }
                _ => Wanted::Unsatisfiable,
            }
        }
    }
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
    fn resolve(self, len: u64) -> Wanted {
        match self {
            Self::From { first, .. } if first >= len => Wanted::Unsatisfiable,
            Self::From { first, last } => {
                let last = last.map_or(len - 1, |last| last.min(len - 1));
                Wanted::Part(first..=last)
            }
            Self::Suffix(0) => Wanted::Unsatisfiable,
            Self::Suffix(_) if len == 0 => Wanted::Unsatisfiable,
            Self::Suffix(suffix) => Wanted::Part(len.saturating_sub(suffix)..=len - 1),
        }
    }
}

/// `first-last`, `first-` or `-suffix` (digits only, no sign or space), with `first <=
/// last`; else `None`.
fn parse_spec(spec: &str) -> Option<Spec> {
    let (first, last) = spec.split_once('-')?;
    let number = |s: &str| -> Option<u64> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    if first.is_empty() {
        return number(last).map(Spec::Suffix);
    }
    let first = number(first)?;
    if last.is_empty() {
        return Some(Spec::From { first, last: None });
    }
    let last = number(last)?;
    (first <= last).then_some(Spec::From {
        first,
        last: Some(last),
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
    fn unsatisfiable_and_malformed() {
        for header in [
            "bytes=100-",
            "bytes=100-200",
            "bytes=-0",
            "bytes=5-4",
            "bytes=a-b",
            "bytes=+1-2",
            "bytes= - ",
            "bytes=",
            "bytes",
            "bytes=1-2-3",
            "bytes=99999999999999999999-",
        ] {
            assert_eq!(wanted(Some(header), 100), Wanted::Unsatisfiable, "{header}");
        }
        assert_eq!(wanted(Some("bytes=0-"), 0), Wanted::Unsatisfiable);
        assert_eq!(wanted(Some("bytes=-5"), 0), Wanted::Unsatisfiable);
    }

    #[test]
    fn other_units_and_several_ranges_are_the_whole() {
        assert_eq!(wanted(Some("items=0-9"), 100), Wanted::Whole);
        assert_eq!(wanted(Some("bytes=0-9,20-29"), 100), Wanted::Whole);
        assert_eq!(wanted(Some("bytes=200-300, 0-9"), 100), Wanted::Whole);
        assert_eq!(
            wanted(Some("bytes=200-300, 400-"), 100),
            Wanted::Unsatisfiable
        );
        assert_eq!(wanted(Some("bytes=0-9, x"), 100), Wanted::Unsatisfiable);
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
