//! The serializer writes exactly what serde_json writes, for every case of serde's data
//! model, and refuses what serde_json refuses.

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::{JsonBuf, to_buf};

fn ours<T: Serialize + ?Sized>(value: &T) -> Result<String, String> {
    let mut out = JsonBuf::append_to(Vec::new());
    to_buf(&mut out, value).map_err(|e| e.to_string())?;
    Ok(String::from_utf8(out.written().to_vec()).expect("UTF-8"))
}

fn theirs<T: Serialize + ?Sized>(value: &T) -> Result<String, String> {
    serde_json::to_string(value).map_err(|e| e.to_string())
}

fn same<T: Serialize + ?Sized>(value: &T) {
    assert_eq!(ours(value), theirs(value));
}

#[derive(Serialize)]
struct Unit;

#[derive(Serialize)]
struct Newtype(i32);

#[derive(Serialize)]
struct Tuple(i32, &'static str);

#[derive(Serialize)]
enum Kind {
    Plain,
    Wrapped(u8),
    Pair(i8, bool),
    Named { x: f32, label: char },
}

#[derive(Serialize)]
struct Everything<'a> {
    b: bool,
    i8: i8,
    i16: i16,
    i32: i32,
    i64: i64,
    i128: i128,
    u8: u8,
    u16: u16,
    u32: u32,
    u64: u64,
    u128: u128,
    f32: f32,
    f64: f64,
    nan: f64,
    inf: f32,
    ch: char,
    text: &'a str,
    #[serde(with = "serde_bytes_as_bytes")]
    bytes: &'a [u8],
    none: Option<u8>,
    some: Option<&'a str>,
    unit: (),
    unit_struct: Unit,
    newtype: Newtype,
    tuple: Tuple,
    kinds: Vec<Kind>,
    empty_seq: Vec<u8>,
    empty_map: BTreeMap<String, u8>,
    raw: &'a RawValue,
    #[serde(rename = "weird \"key\"\n")]
    weird_key: u8,
}

mod serde_bytes_as_bytes {
    pub(super) fn serialize<S: serde::Serializer>(v: &&[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }
}

#[test]
fn every_case_of_the_data_model_matches_serde_json() {
    let raw = RawValue::from_string(r#"{"a": [1, 2.50, "x"]}"#.into()).unwrap();
    let value = Everything {
        b: true,
        i8: i8::MIN,
        i16: i16::MIN,
        i32: i32::MIN,
        i64: i64::MIN,
        i128: i128::MIN,
        u8: u8::MAX,
        u16: u16::MAX,
        u32: u32::MAX,
        u64: u64::MAX,
        u128: u128::MAX,
        f32: 0.1,
        f64: -1.5e300,
        nan: f64::NAN,
        inf: f32::NEG_INFINITY,
        ch: '\u{1f600}',
        text: "tab\there \"quoted\" \\ \u{7} é",
        bytes: &[0, 1, 255],
        none: None,
        some: Some("x"),
        unit: (),
        unit_struct: Unit,
        newtype: Newtype(-7),
        tuple: Tuple(3, "three"),
        kinds: vec![
            Kind::Plain,
            Kind::Wrapped(9),
            Kind::Pair(-1, false),
            Kind::Named { x: 2.5, label: '"' },
        ],
        empty_seq: vec![],
        empty_map: BTreeMap::new(),
        raw: &raw,
        weird_key: 1,
    };
    same(&value);
}

#[test]
fn keys_that_are_not_strings_are_quoted_or_refused_as_serde_json_does() {
    same(&BTreeMap::from([(1i64, "a"), (-2, "b")]));
    same(&BTreeMap::from([(true, 1), (false, 2)]));
    same(&BTreeMap::from([('k', 1)]));
    same(&BTreeMap::from([(u128::MAX, 1)]));
    let mut floats = Vec::new();
    floats.push((1.5f64, 1));
    let as_map = |v: &Vec<(f64, i32)>| -> Result<String, String> {
        struct M<'a>(&'a [(f64, i32)]);
        impl Serialize for M<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_map(self.0.iter().map(|(k, v)| (k, v)))
            }
        }
        assert_eq!(ours(&M(v)), theirs(&M(v)));
        ours(&M(v))
    };
    assert_eq!(as_map(&floats).unwrap(), r#"{"1.5":1}"#);
    floats.push((f64::NAN, 2));
    assert_eq!(
        as_map(&floats).unwrap_err(),
        "float key must be finite (got NaN or +/-inf)"
    );
    let bad = BTreeMap::from([(vec![1u8], 1)]);
    assert_eq!(ours(&bad).unwrap_err(), "key must be a string");
    assert!(theirs(&bad).is_err());
    let none_key = BTreeMap::from([(None::<u8>, 1)]);
    assert_eq!(ours(&none_key).unwrap_err(), "key must be a string");
}

/// Struct field names on both sides of the short-key path (under sixteen bytes, nothing
/// to escape).
#[derive(Serialize)]
struct Keys {
    #[serde(rename = "")]
    empty: u8,
    #[serde(rename = "a")]
    one: u8,
    #[serde(rename = "fifteen_bytes__")]
    fifteen: u8,
    #[serde(rename = "sixteen_bytes___")]
    sixteen: u8,
    #[serde(rename = "a key that is rather longer than thirty-two bytes")]
    long: u8,
    #[serde(rename = "clé")]
    non_ascii: u8,
    #[serde(rename = "\u{1f600}")]
    emoji: u8,
    #[serde(rename = "tab\tkey")]
    tab: u8,
    #[serde(rename = "a\\")]
    backslash: u8,
    #[serde(rename = "\"")]
    quote: u8,
}

#[test]
fn struct_keys_short_long_and_escaped_match_serde_json() {
    same(&Keys {
        empty: 0,
        one: 1,
        fifteen: 15,
        sixteen: 16,
        long: 2,
        non_ascii: 3,
        emoji: 4,
        tab: 5,
        backslash: 6,
        quote: 7,
    });
}

#[test]
fn integers_and_integral_floats_match_serde_json() {
    let mut floats = vec![0.0, -0.0, 1.0, -1.0, 1400.0, -4.0, 2.5, 0.1];
    for k in 0..=17 {
        let p = 10f64.powi(k);
        floats.extend([p, -p, p - 1.0, p + 1.0, 2.0 * p, p / 2.0]);
    }
    floats.extend([
        (1u64 << 53) as f64,
        -((1u64 << 53) as f64),
        i64::MAX as f64,
        i64::MIN as f64,
        f64::MAX,
        f64::MIN_POSITIVE,
    ]);
    for value in floats {
        same(&value);
    }
    for k in 0..=19 {
        let p = 10u64.pow(k);
        same(&(
            p,
            p - 1,
            p + 1,
            -(p as i128),
            p as i64,
            -(p as i64).wrapping_sub(1),
        ));
    }
    same(&(
        u64::MAX,
        i64::MIN,
        i64::MAX,
        i8::MIN,
        u8::MAX,
        i16::MIN,
        i32::MIN,
        u32::MAX,
    ));
    same(&(i128::MIN, u128::MAX, 0u128, -1i128));
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any::<String>().prop_map(Value::String),
        "[\"\\\\\\x00-\\x1f a-z😀]{0,24}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map(any::<String>(), inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_json_value_is_written_as_serde_json_writes_it(value in json_value()) {
        prop_assert_eq!(ours(&value), theirs(&value));
    }

    #[test]
    fn any_map_keys_are_written_as_serde_json_writes_them(
        keys in prop::collection::vec(
            prop_oneof![
                any::<String>(),
                "[\"\\\\\\x00-\\x1f a-zé😀]{0,20}",
                "[a-z_]{0,17}",
            ],
            0..8,
        )
    ) {
        let map: BTreeMap<String, usize> =
            keys.into_iter().enumerate().map(|(i, key)| (key, i)).collect();
        prop_assert_eq!(ours(&map), theirs(&map));
    }

    #[test]
    fn long_escape_heavy_strings_are_written_as_serde_json_writes_them(
        text in "[\"\\\\\\x00-\\x1f a-zé€😀]{0,300}"
    ) {
        prop_assert_eq!(ours(&text), theirs(&text));
    }

    #[test]
    fn any_integer_and_integral_float_is_written_as_serde_json_writes_it(
        int in any::<i64>(),
        small in -(1i64 << 53)..(1i64 << 53),
        shift in 0u32..64,
    ) {
        let value = (int, int as u64, int as f64, small as f64, (int >> shift) as f64, int >> shift);
        prop_assert_eq!(ours(&value), theirs(&value));
    }

    #[test]
    fn any_float_is_written_as_serde_json_writes_it(bits in any::<u64>(), bits32 in any::<u32>()) {
        let (wide, narrow) = (f64::from_bits(bits), f32::from_bits(bits32));
        prop_assert_eq!(ours(&(wide, narrow)), theirs(&(wide, narrow)));
    }
}
