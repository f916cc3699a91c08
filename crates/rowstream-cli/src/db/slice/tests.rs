use super::*;
use crate::slice::parse;

fn sqlite() -> Database {
    Database::Sqlite(
        sqlx::sqlite::SqlitePoolOptions::new()
            .connect_lazy("sqlite::memory:")
            .expect("a lazy pool"),
    )
}

fn postgres() -> Database {
    Database::Postgres(
        sqlx::postgres::PgPoolOptions::new()
            .connect_lazy("postgres://nobody@127.0.0.1:1/none")
            .expect("a lazy pool"),
    )
}

fn mysql() -> Database {
    Database::MySql {
        pool: sqlx::mysql::MySqlPoolOptions::new()
            .connect_lazy("mysql://nobody@127.0.0.1:1/none")
            .expect("a lazy pool"),
        mariadb: true,
    }
}

fn table() -> Table {
    Table {
        schema: "s".into(),
        name: "t".into(),
        plan: Plan::Keyset { key: "id".into() },
        json_columns: vec![],
        select_list: None,
        key_type: None,
    }
}

fn column(name: &str, type_name: &str, class: Class) -> Column {
    Column {
        name: name.into(),
        type_name: type_name.into(),
        class,
        select_expr: None,
        nullable: true,
    }
}

fn columns() -> Vec<Column> {
    vec![
        column("id", "integer", Class::Int),
        column("a\"b", "text", Class::Text),
        column("limit", "integer", Class::Int),
        column("at", "timestamp with time zone", Class::Timestamp),
        column("blob", "bytea", Class::Other),
    ]
}

fn query(db: &Database, q: &str) -> Result<SliceQuery, SliceError> {
    let params: Vec<(String, String)> = form_urlencoded::parse(q.as_bytes()).into_owned().collect();
    let slice = parse(&params)?;
    build(db, &table(), &columns(), &slice, None, None)
}

#[tokio::test]
async fn key_order_pages_with_the_filters() {
    let q = query(
        &postgres(),
        "id=gt.5&%22a%22%22b%22=in.(x,%22y,z%22)&%22limit%22=is.null",
    )
    .unwrap();
    assert!(q.paged());
    assert_eq!(
        q.sql(Some((10, true))),
        r#"SELECT * FROM "s"."t" WHERE "id" > $1 AND "a""b" IN ($2, $3) AND "limit" IS NULL AND "id" > $4 ORDER BY "id" LIMIT 10"#
    );
    assert_eq!(
        q.binds(),
        [
            Bound::Int(5),
            Bound::Text("x".into()),
            Bound::Text("y,z".into())
        ]
    );
    let q = query(&mysql(), "id=not.eq.5").unwrap();
    assert_eq!(
        q.sql(Some((10, false))),
        "SELECT * FROM `s`.`t` WHERE NOT (`id` = ?) ORDER BY `id` LIMIT 10"
    );
}

#[tokio::test]
async fn another_order_is_one_statement_with_the_key_last() {
    let q = query(
        &sqlite(),
        "order=limit.desc,at&select=at,id&%22limit%22=eq.1",
    )
    .unwrap();
    assert!(!q.paged());
    assert_eq!(
        q.sql(None),
        r#"SELECT "at", "id" FROM "s"."t" WHERE "limit" = ? ORDER BY "limit" DESC NULLS FIRST, "at" ASC NULLS LAST, "id""#
    );
    let q = query(&mysql(), "order=at.asc.nullsfirst").unwrap();
    assert_eq!(
        q.sql(None),
        "SELECT * FROM `s`.`t` ORDER BY (`at` IS NULL) DESC, `at` ASC, `id`"
    );
    // The key not selected: one statement, in key order.
    assert!(!query(&sqlite(), "select=at").unwrap().paged());
}

#[tokio::test]
async fn values_are_typed_and_cast_in_postgres() {
    let q = query(
        &postgres(),
        "at=gte.2013-01-01T00:00:00Z&%22a%22%22b%22=ilike.*x*",
    )
    .unwrap();
    assert_eq!(
        q.sql(None),
        r#"SELECT * FROM "s"."t" WHERE "at" >= CAST($1 AS timestamp with time zone) AND "a""b" ILIKE $2 ESCAPE '!' ORDER BY "id""#
    );
    let q = query(&sqlite(), "%22a%22%22b%22=like.a*%3F[").unwrap();
    assert_eq!(q.binds(), [Bound::Text("a*[?][[]".into())]);
    assert!(q.sql(None).contains(r#""a""b" GLOB ?"#));
    let q = query(&mysql(), "at=lt.2013-01-01T05:00:00Z&%22a%22%22b%22=like.x").unwrap();
    assert_eq!(
        q.binds(),
        [
            Bound::Text("2013-01-01T05:00:00".into()),
            Bound::Text("x".into())
        ]
    );
}

#[tokio::test]
async fn refusals_name_the_parameter() {
    for (q, parameter, unknown) in [
        ("nope=eq.1", "nope", true),
        ("select=id,nope", "select", false),
        ("order=nope", "order", false),
        ("order=blob", "order", false),
        ("id=eq.x", "id", false),
        ("id=like.1", "id", false),
        ("%22a%22%22b%22=is.true", "\"a\"\"b\"", false),
        ("blob=eq.x", "blob", false),
        ("at=eq.yesterday", "at", false),
    ] {
        let err = query(&postgres(), q).unwrap_err();
        assert_eq!(
            (err.parameter.as_str(), err.unknown),
            (parameter, unknown),
            "{q}"
        );
    }
    // A quoted reserved name is a column.
    assert!(query(&postgres(), "%22limit%22=eq.3").is_ok());
    // after with an order other than the key's.
    let slice = parse(&[("order".into(), "at".into())]).unwrap();
    let err = build(
        &postgres(),
        &table(),
        &columns(),
        &slice,
        None,
        Some(&rowstream::keyset::Key::Int(1)),
    )
    .unwrap_err();
    assert_eq!(err.parameter, "after");
}
