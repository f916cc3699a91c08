//! Who may read what: the bearer token every data endpoint asks for, the tables the
//! config file allows or denies, the web origins allowed to read across origins (CORS),
//! and the warning for a server reachable from other hosts without a token.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use rowstream::axum::Problem;
use serde::Deserialize;
use subtle::ConstantTimeEq as _;

/// The liveness path, open without a token, for load balancers and orchestrators.
pub const HEALTH_PATH: &str = "/healthz";

/// The readiness path, open without a token, for load balancers and orchestrators.
pub const READY_PATH: &str = "/readyz";

/// Which tables are served, from the config file's `[tables]` section:
///
/// ```toml
/// [tables]
/// allow = ["flights", "airports"]   # only these (omit to serve every table)
/// deny = ["users"]                  # never these, even when allowed
/// ```
///
/// Names are exact, case-sensitive catalog names. A table that is not served is absent
/// from `GET /tables` and the index page, and `GET /tables/{name}` answers exactly as for
/// a table that does not exist; its name never reaches a database query.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableFilter {
    /// Only these tables, when set (an empty list serves none).
    #[serde(default)]
    pub allow: Option<BTreeSet<String>>,
    /// Never these tables.
    #[serde(default)]
    pub deny: BTreeSet<String>,
}

impl TableFilter {
    /// Whether `name` may be served.
    pub fn allows(&self, name: &str) -> bool {
        !self.deny.contains(name) && self.allow.as_ref().is_none_or(|allow| allow.contains(name))
    }

    /// Keeps the names that may be served.
    pub fn retain(&self, names: &mut Vec<String>) {
        names.retain(|name| self.allows(name));
    }
}

/// A bearer token (RFC 6750) that requests must present.
#[derive(Clone)]
pub struct Token(Arc<str>);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(…)")
    }
}

impl Token {
    /// A token: 1–4096 visible ASCII characters (what an `Authorization` header can carry
    /// unchanged).
    ///
    /// # Errors
    ///
    /// If `token` is empty, too long, or holds spaces, control or non-ASCII characters.
    pub fn new(token: &str) -> anyhow::Result<Self> {
        if token.is_empty() {
            anyhow::bail!("the token is empty; set a token or leave --token/ROWSTREAM_TOKEN unset");
        }
        if token.len() > 4096 || !token.bytes().all(|b| b.is_ascii_graphic()) {
            anyhow::bail!(
                "the token must be at most 4096 visible ASCII characters (no spaces or control characters)"
            );
        }
        Ok(Self(token.into()))
    }

    /// Whether `presented` is this token, compared in constant time (the length alone may
    /// show).
    pub fn matches(&self, presented: &[u8]) -> bool {
        self.0.as_bytes().ct_eq(presented).into()
    }
}

/// What an `Authorization` header presents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Presented<'a> {
    /// No `Authorization` header, or another scheme.
    Nothing,
    /// `Bearer <credentials>`.
    Bearer(&'a [u8]),
    /// Several `Authorization` headers, or a malformed one.
    Malformed,
}

fn presented(headers: &axum::http::HeaderMap) -> Presented<'_> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Presented::Nothing;
    };
    if values.next().is_some() {
        return Presented::Malformed;
    }
    let bytes = value.as_bytes();
    let Some(space) = bytes.iter().position(|b| *b == b' ') else {
        return Presented::Malformed;
    };
    let (scheme, rest) = bytes.split_at(space);
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return Presented::Nothing;
    }
    let credentials = rest.trim_ascii();
    if credentials.is_empty() {
        Presented::Malformed
    } else {
        Presented::Bearer(credentials)
    }
}

/// Middleware: every request but [`HEALTH_PATH`] and [`READY_PATH`] must carry
/// `Authorization: Bearer <token>`; others get `401` problem+json with
/// `WWW-Authenticate: Bearer` (RFC 6750).
pub async fn require_token(token: Token, request: Request, next: Next) -> Response {
    if matches!(request.uri().path(), HEALTH_PATH | READY_PATH) {
        return next.run(request).await;
    }
    let challenge = match presented(request.headers()) {
        Presented::Bearer(credentials) if token.matches(credentials) => {
            return next.run(request).await;
        }
        Presented::Nothing => r#"Bearer realm="rowstream""#,
        Presented::Bearer(_) => {
            r#"Bearer realm="rowstream", error="invalid_token", error_description="the token is not valid""#
        }
        Presented::Malformed => r#"Bearer realm="rowstream", error="invalid_request""#,
    };
    metrics::counter!("rowstream_requests_rejected_total", "reason" => "unauthorized").increment(1);
    let mut response = Problem::new(StatusCode::UNAUTHORIZED, "Unauthorized")
        .with_detail("this server requires an Authorization: Bearer <token> header")
        .into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(challenge),
    );
    response
}

/// Whether `ip` can only be reached from this host (`127.0.0.0/8`, `::1`, or an
/// IPv4-mapped loopback address).
pub fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map_or_else(|| v6.is_loopback(), |v4| v4.is_loopback()),
    }
}

/// The warning to log when the server listens on `addr`: `Some` when other hosts can reach
/// it and no token is required.
pub fn exposure_warning(addr: SocketAddr, token: bool) -> Option<String> {
    (!token && !is_loopback(addr.ip())).then(|| {
        format!(
            "listening on {addr}, reachable from other hosts, without a token: anyone who can \
             connect can read every served table; set --token (or ROWSTREAM_TOKEN), or bind \
             to 127.0.0.1"
        )
    })
}

/// A `--cors-origin`: a web origin (RFC 6454) `http://host[:port]` or `https://…`, as a
/// browser sends it in `Origin` (scheme and host lowercased, no trailing `/`).
///
/// # Errors
///
/// Anything else (a path, a query, another scheme, `*`), in words.
pub fn parse_origin(text: &str) -> Result<HeaderValue, String> {
    let lower = text.trim_end_matches('/').to_ascii_lowercase();
    let valid = lower
        .strip_prefix("http://")
        .or_else(|| lower.strip_prefix("https://"))
        .is_some_and(|host| {
            !host.is_empty()
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
        });
    if !valid {
        return Err(format!(
            "\"{text}\" is not a web origin: http://HOST[:PORT] or https://HOST[:PORT], \
             no path"
        ));
    }
    HeaderValue::from_str(&lower).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderMap;

    #[test]
    fn filters_tables() {
        let all = TableFilter::default();
        assert!(all.allows("t") && all.allows(""));
        let filter: TableFilter = toml::from_str(
            "allow = [\"flights\", \"users\", \"a<b\"]\ndeny = [\"users\", \"secrets\"]",
        )
        .unwrap();
        assert!(filter.allows("flights"));
        assert!(filter.allows("a<b"));
        assert!(!filter.allows("users"), "deny wins over allow");
        assert!(!filter.allows("secrets"));
        assert!(!filter.allows("Flights"), "names are exact");
        assert!(!filter.allows("airports"), "not in allow");
        let mut names = vec!["airports".into(), "flights".into(), "users".into()];
        filter.retain(&mut names);
        assert_eq!(names, ["flights"]);

        let deny_only: TableFilter = toml::from_str("deny = [\"users\"]").unwrap();
        assert!(deny_only.allows("flights") && !deny_only.allows("users"));
        let none: TableFilter = toml::from_str("allow = []").unwrap();
        assert!(!none.allows("flights"));
        assert!(toml::from_str::<TableFilter>("allw = []").is_err());
    }

    #[test]
    fn tokens() {
        assert!(Token::new("").is_err());
        assert!(Token::new("has space").is_err());
        assert!(Token::new("tab\there").is_err());
        assert!(Token::new("é-not-ascii").is_err());
        assert!(Token::new(&"x".repeat(4097)).is_err());
        let token = Token::new("s3cret-Token_value.~+/=").unwrap();
        assert!(token.matches(b"s3cret-Token_value.~+/="));
        assert!(!token.matches(b"s3cret-Token_value.~+/"));
        assert!(!token.matches(b"s3cret-Token_value.~+/=x"));
        assert!(!token.matches(b"S3cret-Token_value.~+/="));
        assert!(!token.matches(b""));
        assert_eq!(format!("{token:?}"), "Token(…)", "never printed");
    }

    #[test]
    fn reads_authorization() {
        let headers = |values: &[&str]| {
            let mut map = HeaderMap::new();
            for v in values {
                map.append(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
            }
            map
        };
        assert_eq!(presented(&headers(&[])), Presented::Nothing);
        assert_eq!(
            presented(&headers(&["Bearer abc"])),
            Presented::Bearer(b"abc")
        );
        assert_eq!(
            presented(&headers(&["bEaReR   abc "])),
            Presented::Bearer(b"abc")
        );
        assert_eq!(
            presented(&headers(&["Basic dXNlcjpwYXNz"])),
            Presented::Nothing
        );
        assert_eq!(presented(&headers(&["Bearer"])), Presented::Malformed);
        assert_eq!(presented(&headers(&["Bearer "])), Presented::Malformed);
        assert_eq!(
            presented(&headers(&["Bearer a", "Bearer b"])),
            Presented::Malformed
        );
    }

    #[test]
    fn warns_only_when_exposed_without_a_token() {
        let addr = |s: &str| s.parse::<SocketAddr>().unwrap();
        for loopback in [
            "127.0.0.1:3000",
            "127.1.2.3:80",
            "[::1]:3000",
            "[::ffff:127.0.0.1]:1",
        ] {
            assert_eq!(exposure_warning(addr(loopback), false), None, "{loopback}");
        }
        for exposed in [
            "0.0.0.0:3000",
            "[::]:3000",
            "192.168.1.5:80",
            "[::ffff:10.0.0.1]:1",
        ] {
            let warning = exposure_warning(addr(exposed), false).expect(exposed);
            assert!(warning.contains(exposed), "{warning}");
            assert!(warning.contains("--token"), "{warning}");
            assert_eq!(exposure_warning(addr(exposed), true), None, "{exposed}");
        }
    }
}
