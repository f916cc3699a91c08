//! [`ContentCoding`]: the content codings this crate can apply (feature `compression`),
//! and the one `Accept-Encoding` asks for (RFC 9110 §12.5.3).

use super::header::{self, Element};

/// A content coding (RFC 9110 §8.4.1) this crate can apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ContentCoding {
    /// `gzip` (RFC 1952).
    Gzip,
    /// `zstd` (RFC 8878).
    Zstd,
    /// `br`, brotli (RFC 7932).
    Brotli,
    /// `identity`: no compression.
    Identity,
}

impl ContentCoding {
    /// Every coding, in the server's order of preference when the client's q-values tie:
    /// zstd, brotli, gzip, identity.
    pub const ALL: &'static [ContentCoding] = &[
        ContentCoding::Zstd,
        ContentCoding::Brotli,
        ContentCoding::Gzip,
        ContentCoding::Identity,
    ];

    /// The token for `Content-Encoding`: `gzip`, `zstd`, `br` or `identity`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Gzip => "gzip",
            Self::Zstd => "zstd",
            Self::Brotli => "br",
            Self::Identity => "identity",
        }
    }

    /// Chooses a coding from an `Accept-Encoding` header value (RFC 9110 §12.5.3), among
    /// `supported` (in the server's order of preference).
    ///
    /// - The highest q-value wins; ties go to the earlier entry of `supported`.
    /// - `*` gives its q-value to every coding not listed; `q=0` excludes a coding.
    /// - `identity` is acceptable unless excluded (`identity;q=0`, or `*;q=0` without an
    ///   `identity` entry); if everything is excluded the answer is still `Identity`: a
    ///   server may always send an unencoded body rather than fail (§12.5.3).
    /// - The header is read with the list grammar `Accept` uses too (one parser): malformed
    ///   elements (a parameter that is not `name=value`, a `q` that is not a qvalue, an
    ///   unterminated quoted string) and unknown codings are ignored, as are parameters
    ///   other than `q`; `x-gzip` counts as `gzip`.
    /// - An empty or absent header means `Identity`.
    pub fn negotiate(accept_encoding: &str, supported: &[ContentCoding]) -> ContentCoding {
        let mut listed: Vec<(ContentCoding, u16)> = Vec::new();
        let mut star: Option<u16> = None;
        for Element { value, q, .. } in header::elements(accept_encoding) {
            if value == "*" {
                star = Some(q);
            } else if let Some(coding) = Self::from_token(value) {
                listed.push((coding, q));
            }
        }
        let weight = |coding: ContentCoding| -> u16 {
            if let Some(&(_, q)) = listed.iter().find(|(c, _)| *c == coding) {
                return q;
            }
            match (coding, star) {
                (_, Some(q)) => q,
                // identity is acceptable by default, with the lowest preference.
                (ContentCoding::Identity, None) => 1,
                (_, None) => 0,
            }
        };
        let mut best = (ContentCoding::Identity, 0u16);
        for &coding in supported {
            let q = weight(coding);
            if q > best.1 {
                best = (coding, q);
            }
        }
        best.0
    }

    /// The coding a token names, ASCII case-insensitively; `x-gzip` is `gzip`.
    fn from_token(token: &str) -> Option<ContentCoding> {
        Self::ALL
            .iter()
            .copied()
            .find(|coding| coding.as_str().eq_ignore_ascii_case(token))
            .or_else(|| token.eq_ignore_ascii_case("x-gzip").then_some(Self::Gzip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ContentCoding::*;

    #[test]
    fn negotiation() {
        let all = ContentCoding::ALL;
        let cases: &[(&str, ContentCoding)] = &[
            ("", Identity),
            ("gzip", Gzip),
            ("x-gzip", Gzip),
            ("gzip, deflate, br", Brotli),
            ("gzip, deflate, br, zstd", Zstd),
            ("gzip;q=1.0, br;q=0.9", Gzip),
            ("br;q=0.5, gzip;q=0.50", Brotli),
            ("*", Zstd),
            ("*;q=0.5, zstd;q=0", Brotli),
            ("gzip;q=0", Identity),
            ("identity;q=0, gzip;q=0.1", Gzip),
            ("*;q=0", Identity),
            ("deflate", Identity),
            ("gzip;q=2", Identity),
            ("gzip;q=abc, br", Brotli),
            ("GZIP;Q=0.8", Gzip),
            (" , ;, gzip ;q=0.001", Gzip),
            ("zstd;q=0.1, identity", Identity),
            // The list grammar of Accept: quoted strings, parameters, malformed elements.
            ("gzip;x=\"a,br\", zstd;q=0.1", Gzip),
            ("gzip;foo, br;q=0.5", Brotli),
            ("gzip;level=1;q=0.2, br;q=0.1", Gzip),
            ("br;q=0.9;q=0.1, gzip;q=0.5", Brotli),
        ];
        for (header, expected) in cases {
            assert_eq!(
                ContentCoding::negotiate(header, all),
                *expected,
                "{header:?}"
            );
        }
        assert_eq!(
            ContentCoding::negotiate("zstd, gzip", &[Gzip, Identity]),
            Gzip
        );
    }
}
