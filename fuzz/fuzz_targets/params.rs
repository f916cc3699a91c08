//! The CLI's named-query parameters: the TOML configuration, durations, and a request's
//! query string turned into typed SQL parameters, as the server does it (the
//! `x-www-form-urlencoded` pairs axum's `Query` reads, without the reserved `format` and
//! `complete`, through `NamedQuery::bind_values`).
//!
//! Checks, besides "never panics":
//! - raw query strings: `bind_values` succeeds exactly when an independent reading of
//!   the pairs says it should (every name known and given once, every value valid for its
//!   type, dates checked against a day-count calendar), with the first error in the
//!   documented order, and the bound values are the values of the text;
//! - round trip: typed values (int, finite float, text, bool, date) of a query that
//!   passes the configuration check, written into a query string as a client would, come
//!   back bound as the same values;
//! - durations: `N`, `Nms`, `Ns`, `Nm`, `Nh` give exactly N of the unit.
#![no_main]

use std::collections::BTreeMap;
use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use rowstream_cli::config::{ConfigFile, NamedQuery, Param, ParamError, ParamType, Value};
use rowstream_cli::url::RESERVED_PARAMS;

const TYPES: [ParamType; 5] = [
    ParamType::Int,
    ParamType::Float,
    ParamType::Text,
    ParamType::Bool,
    ParamType::Date,
];

fn query(params: Vec<Param>) -> NamedQuery {
    NamedQuery {
        sql: "SELECT 1".to_owned(),
        params,
        description: None,
        rate_items: None,
        rate_bytes: None,
        max_rows: None,
        deadline: None,
    }
}

/// The pairs the server binds: the form-decoded query string without reserved names.
fn request_pairs(query_string: &str) -> Option<Vec<(String, String)>> {
    let mut pairs: Vec<(String, String)> = serde_urlencoded::from_str(query_string).ok()?;
    pairs.retain(|(key, _)| !RESERVED_PARAMS.contains(&key.as_str()));
    Some(pairs)
}

/// Days from 0001-01-01 to `y-m-d` by counting, then back: a real date survives.
fn reference_is_date(text: &str) -> bool {
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        b[r].iter().try_fold(0u32, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    let (Some(y), Some(m), Some(d)) = (digits(0..4), digits(5..7), digits(8..10)) else {
        return false;
    };
    if y == 0 || !(1..=12).contains(&m) || d == 0 {
        return false;
    }
    // The day after y-m-(d-1) must still be in month m: walk from the 1st.
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let feb = if leap { 29 } else { 28 };
    let lengths = [31, feb, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    d <= lengths[(m - 1) as usize]
}

fn reference_parse(ty: ParamType, text: &str) -> Option<Value> {
    match ty {
        ParamType::Int => {
            let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let magnitude = digits.bytes().try_fold(0i128, |acc, b| {
                acc.checked_mul(10)?.checked_add(i128::from(b - b'0'))
            })?;
            let v = if text.starts_with('-') {
                -magnitude
            } else {
                magnitude
            };
            i64::try_from(v).ok().map(Value::Int)
        }
        ParamType::Float => text
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(Value::Float),
        ParamType::Text => (!text.contains('\0')).then(|| Value::Text(text.to_owned())),
        ParamType::Bool => match text {
            "true" | "1" => Some(Value::Bool(true)),
            "false" | "0" => Some(Value::Bool(false)),
            _ => None,
        },
        ParamType::Date => reference_is_date(text).then(|| Value::Text(text.to_owned())),
    }
}

/// What `bind_values` should answer, read independently; errors by kind and name.
fn reference_bind(
    params: &[Param],
    pairs: &[(String, String)],
) -> Result<Vec<Value>, (u8, String)> {
    let mut given: BTreeMap<&str, &str> = BTreeMap::new();
    for (name, value) in pairs {
        if !params.iter().any(|p| p.name == *name) {
            return Err((0, name.clone()));
        }
        if given.insert(name, value).is_some() {
            return Err((1, name.clone()));
        }
    }
    params
        .iter()
        .map(|p| {
            let text = given.get(p.name.as_str()).ok_or((2, p.name.clone()))?;
            reference_parse(p.ty, text).ok_or((3, p.name.clone()))
        })
        .collect()
}

fn kind(err: &ParamError) -> (u8, String) {
    let code = match err {
        ParamError::Unknown { .. } => 0,
        ParamError::Repeated { .. } => 1,
        ParamError::Missing { .. } => 2,
        ParamError::Invalid { .. } => 3,
    };
    (code, err.name().to_owned())
}

#[derive(Arbitrary, Debug)]
struct Raw {
    params: Vec<(String, u8)>,
    query: String,
}

fn raw(raw: Raw) {
    let params: Vec<Param> = raw
        .params
        .into_iter()
        .map(|(name, t)| Param {
            name,
            ty: TYPES[usize::from(t) % TYPES.len()],
        })
        .collect();
    let named = query(params.clone());
    let Some(pairs) = request_pairs(&raw.query) else {
        return;
    };
    let got = named.bind_values(&pairs);
    let want = reference_bind(&params, &pairs);
    match (&got, &want) {
        (Ok(values), Ok(expected)) => assert_eq!(values, expected, "{pairs:?}"),
        (Err(err), Err(expected)) => {
            assert_eq!(&kind(err), expected, "{pairs:?}");
            let _ = err.to_string();
        }
        _ => panic!("bind_values {got:?}, expected {want:?} for {pairs:?} of {params:?}"),
    }
}

#[derive(Debug, Clone)]
enum Typed {
    Int(i64),
    Float(f64),
    Text(String),
    Bool(bool),
    Date(u32, u32, u32),
}

fn typed(u: &mut Unstructured<'_>) -> arbitrary::Result<Typed> {
    Ok(match u.int_in_range(0..=4)? {
        0 => Typed::Int(u.arbitrary()?),
        1 => {
            let f: f64 = u.arbitrary()?;
            Typed::Float(if f.is_finite() { f } else { 0.5 })
        }
        2 => Typed::Text(u.arbitrary::<String>()?.replace('\0', "")),
        3 => Typed::Bool(u.arbitrary()?),
        _ => {
            let y = u.int_in_range(1..=9999)?;
            let m = u.int_in_range(1..=12)?;
            let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
            let len = match m {
                2 if leap => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            };
            Typed::Date(y, m, u.int_in_range(1..=len)?)
        }
    })
}

impl Typed {
    fn ty(&self) -> ParamType {
        match self {
            Self::Int(_) => ParamType::Int,
            Self::Float(_) => ParamType::Float,
            Self::Text(_) => ParamType::Text,
            Self::Bool(_) => ParamType::Bool,
            Self::Date(..) => ParamType::Date,
        }
    }

    fn text(&self, alt: bool) -> String {
        match self {
            Self::Int(i) => i.to_string(),
            Self::Float(f) if alt => format!("{f:e}"),
            Self::Float(f) => f.to_string(),
            Self::Text(t) => t.clone(),
            Self::Bool(b) if alt => if *b { "1" } else { "0" }.to_owned(),
            Self::Bool(b) => b.to_string(),
            Self::Date(y, m, d) => format!("{y:04}-{m:02}-{d:02}"),
        }
    }

    fn value(&self) -> Value {
        match self {
            Self::Int(i) => Value::Int(*i),
            Self::Float(f) => Value::Float(*f),
            Self::Text(t) => Value::Text(t.clone()),
            Self::Bool(b) => Value::Bool(*b),
            Self::Date(..) => Value::Text(self.text(false)),
        }
    }
}

fn round_trip(u: &mut Unstructured<'_>) -> arbitrary::Result<()> {
    let n = u.int_in_range(0..=5)?;
    let mut named: Vec<(String, Typed)> = Vec::new();
    for _ in 0..n {
        let name: String = u.arbitrary()?;
        let value = typed(u)?;
        if !named.iter().any(|(k, _)| *k == name) {
            named.push((name, value));
        }
    }
    // The parameters, in placeholder order; a name may be listed twice.
    let mut params = Vec::new();
    let mut expected = Vec::new();
    if !named.is_empty() {
        for _ in 0..u.int_in_range(named.len()..=named.len() + 2)? {
            let (name, value) = &named[u.choose_index(named.len())?];
            params.push(Param {
                name: name.clone(),
                ty: value.ty(),
            });
            expected.push(value.value());
        }
    }
    let named: Vec<_> = named
        .into_iter()
        .filter(|(name, _)| params.iter().any(|p| p.name == *name))
        .collect();
    let config = ConfigFile {
        queries: [("q".to_owned(), query(params))].into_iter().collect(),
        ..ConfigFile::default()
    };
    if config.check().is_err() {
        return Ok(());
    }
    let alt: bool = u.arbitrary()?;
    let mut form = form_urlencoded::Serializer::new(String::new());
    if u.arbitrary()? {
        form.append_pair("format", "csv");
    }
    for (name, value) in &named {
        form.append_pair(name, &value.text(alt));
    }
    if u.arbitrary()? {
        form.append_pair("complete", "1");
    }
    let query_string = form.finish();
    let pairs = request_pairs(&query_string).expect("a form-encoded query string parses");
    let values = config.queries["q"]
        .bind_values(&pairs)
        .unwrap_or_else(|e| panic!("{query_string:?} of a checked config: {e}"));
    assert_eq!(values, expected, "{query_string:?}");
    Ok(())
}

fn durations(u: &mut Unstructured<'_>) -> arbitrary::Result<()> {
    let n: u32 = u.arbitrary()?;
    let n64 = u64::from(n);
    for (unit, want) in [
        ("", Duration::from_secs(n64)),
        ("s", Duration::from_secs(n64)),
        ("ms", Duration::from_millis(n64)),
        ("m", Duration::from_secs(n64 * 60)),
        ("h", Duration::from_secs(n64 * 3600)),
    ] {
        let text = format!("{n}{unit}");
        assert_eq!(
            rowstream_cli::config::parse_duration(&text),
            Ok(want),
            "{text}"
        );
    }
    let text: String = u.arbitrary()?;
    let _ = rowstream_cli::config::parse_duration(&text);
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let _ = match u.int_in_range(0..=3u8) {
        Ok(0) => u.arbitrary::<Raw>().map(raw),
        Ok(1) => round_trip(&mut u),
        Ok(2) => durations(&mut u),
        _ => {
            if let Ok(text) = std::str::from_utf8(u.take_rest())
                && let Ok(config) = ConfigFile::parse(text)
            {
                let _ = config.timeout();
                for q in config.queries.values() {
                    let _ = q.limits(rowstream::Limits::default());
                }
            }
            Ok(())
        }
    };
});
