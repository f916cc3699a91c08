use proptest::prelude::*;

use super::*;

fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn one(name: &str, value: &str) -> Result<Filter, SliceError> {
    let slice = parse(&params(&[(name, value)]))?;
    Ok(slice.filters.into_iter().next().expect("a filter"))
}

#[test]
fn the_servers_own_parameters_are_no_filters() {
    let slice = parse(&params(&[
        ("format", "csv"),
        ("limit", "5"),
        ("after", "3"),
        ("download", ""),
    ]))
    .unwrap();
    assert!(slice.is_empty());
}

#[test]
fn every_operator() {
    let cases = [
        ("eq.5", false, Op::Cmp(Cmp::Eq, "5".into())),
        ("neq.a.b", false, Op::Cmp(Cmp::Neq, "a.b".into())),
        ("gt.-1", false, Op::Cmp(Cmp::Gt, "-1".into())),
        ("gte.", false, Op::Cmp(Cmp::Gte, String::new())),
        ("lt.x", false, Op::Cmp(Cmp::Lt, "x".into())),
        ("not.lte.2", true, Op::Cmp(Cmp::Lte, "2".into())),
        (
            "like.A*_b%",
            false,
            Op::Like {
                pattern: "A%_b%".into(),
                case_insensitive: false,
            },
        ),
        (
            "not.ilike.*!\\*\\_\\",
            true,
            Op::Like {
                pattern: "%!!*!_\\".into(),
                case_insensitive: true,
            },
        ),
        ("in.()", false, Op::In(vec![])),
        (
            r#"in.(1,"a,b",,"q\"\\",x y)"#,
            false,
            Op::In(vec![
                "1".into(),
                "a,b".into(),
                String::new(),
                "q\"\\".into(),
                "x y".into(),
            ]),
        ),
        ("is.null", false, Op::Is(Is::Null)),
        ("not.is.true", true, Op::Is(Is::True)),
        ("is.false", false, Op::Is(Is::False)),
    ];
    for (value, negated, op) in cases {
        let filter = one("c", value).unwrap_or_else(|e| panic!("{value}: {e:?}"));
        assert_eq!(filter.column, "c");
        assert_eq!((filter.negated, filter.op), (negated, op), "{value}");
    }
}

#[test]
fn bad_filters_name_their_parameter() {
    for (name, value) in [
        ("c", "5"),
        ("c", "equals.5"),
        ("c", "not.5"),
        ("c", "is.maybe"),
        ("c", "in.1,2"),
        ("c", "in.(1,2"),
        ("c", r#"in.("a"b)"#),
        ("c", r#"in.("a)"#),
        ("c", "in.(a(b)"),
        ("\"c", "eq.1"),
        ("c\"d", "eq.1"),
        ("\"\"", "eq.1"),
        ("", "eq.1"),
    ] {
        let err = parse(&params(&[("format", "csv"), (name, value)])).unwrap_err();
        assert_eq!(err.parameter, name, "{name}={value}");
    }
}

#[test]
fn reserved_names_are_reached_in_quotes() {
    let slice = parse(&params(&[
        ("\"limit\"", "eq.1"),
        ("select", "\"order\",\"a,b\",\"q\"\"\""),
        ("order", "\"limit\".desc,\"x.y\""),
    ]))
    .unwrap();
    assert_eq!(slice.filters[0].column, "limit");
    assert_eq!(
        slice.select,
        Some(vec!["order".into(), "a,b".into(), "q\"".into()])
    );
    assert_eq!(slice.order[0].column, "limit");
    assert_eq!(slice.order[1].column, "x.y");
}

#[test]
fn orders() {
    let slice = parse(&params(&[(
        "order",
        "a,b.desc,c.asc.nullsfirst,d.desc.nullslast,e.nullsfirst",
    )]))
    .unwrap();
    let terms: Vec<(&str, bool, Nulls)> = slice
        .order
        .iter()
        .map(|t| (t.column.as_str(), t.descending, t.nulls))
        .collect();
    assert_eq!(
        terms,
        [
            ("a", false, Nulls::Last),
            ("b", true, Nulls::First),
            ("c", false, Nulls::First),
            ("d", true, Nulls::Last),
            ("e", false, Nulls::First),
        ]
    );
    for bad in [
        "",
        "a,",
        "a.up",
        "a.desc.asc",
        "a.nullslast.desc",
        "a.nullsfirst.nullslast",
        "\"a\"desc",
        "\"a",
    ] {
        let err = parse(&params(&[("order", bad)])).unwrap_err();
        assert_eq!(err.parameter, "order", "{bad}");
    }
    assert!(parse(&params(&[("order", "a"), ("order", "b")])).is_err());
}

#[test]
fn selects() {
    let slice = parse(&params(&[("select", "b,a")])).unwrap();
    assert_eq!(slice.select, Some(vec!["b".into(), "a".into()]));
    for bad in ["", "a,,b", "a,a", "a,\"a\""] {
        let err = parse(&params(&[("select", bad)])).unwrap_err();
        assert_eq!(err.parameter, "select", "{bad}");
    }
}

#[test]
fn limits_on_filters_and_values() {
    let many: Vec<(String, String)> = (0..=MAX_FILTERS)
        .map(|i| (format!("c{i}"), "eq.1".to_owned()))
        .collect();
    assert_eq!(
        parse(&many[..MAX_FILTERS]).unwrap().filters.len(),
        MAX_FILTERS
    );
    let err = parse(&many).unwrap_err();
    assert_eq!(err.parameter, format!("c{MAX_FILTERS}"));

    let list = |n: usize| format!("in.({})", vec!["1"; n].join(","));
    assert_eq!(
        parse(&params(&[("c", &list(MAX_VALUES))]))
            .unwrap()
            .values(),
        MAX_VALUES
    );
    assert!(parse(&params(&[("c", &list(MAX_VALUES + 1))])).is_err());
}

#[test]
fn like_patterns() {
    assert_eq!(like_pattern("a*b"), "a%b");
    assert_eq!(like_pattern("100\\%"), "100!%");
    assert_eq!(like_pattern("a!b"), "a!!b");
    assert_eq!(like_pattern("\\*"), "*");
    assert_eq!(like_pattern("\\a"), "a");
}

proptest! {
    #[test]
    fn parse_never_panics(pairs in proptest::collection::vec((".{0,12}", ".{0,40}"), 0..8)) {
        let _ = parse(&pairs);
    }

    #[test]
    fn parse_never_panics_on_filter_shapes(
        name in "(\"?[a-z\",.]{0,6}\"?)",
        value in "(not\\.)?(eq|in|is|like|ilike|gt|x)\\.[(),\"\\\\a-z*!%_.]{0,20}",
        order in "[a-z\",.]{0,20}",
        select in "[a-z\",]{0,20}",
    ) {
        let _ = parse(&[
            (name, value),
            ("order".to_owned(), order),
            ("select".to_owned(), select),
        ]);
    }

    #[test]
    fn quoted_in_values_come_back(values in proptest::collection::vec(".{0,8}", 1..6)) {
        let quoted: Vec<String> = values
            .iter()
            .map(|v| format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
            .collect();
        let filter = one("c", &format!("in.({})", quoted.join(","))).unwrap();
        prop_assert_eq!(filter.op, Op::In(values));
    }
}
