//! The server over the real PostgreSQL and MariaDB servers: the catalog (current schema
//! only, exact names, quoting, keyset or one query), MariaDB JSON columns, read-only
//! sessions, the statement timeout, named queries, and the limit on exports in flight.

mod common;

use std::time::{Duration, Instant};

use common::Server;
use common::sql::{self, Scratch};
use rowstream_cli::config::ConfigFile;
use rowstream_cli::db::catalog::{self, Plan};
use rowstream_cli::db::{self, OpenOptions};
use rowstream_cli::{Database, Settings};
use serde_json::{Value, json};

/// GET: status, content type and JSON body.
async fn get_json(url: &str) -> (u16, String, Value) {
    let response = reqwest::get(url).await.expect("request");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = response.bytes().await.expect("body");
    let value = serde_json::from_slice(&body).unwrap_or_else(|err| {
        panic!(
            "{url}: invalid JSON ({err}): {}",
            String::from_utf8_lossy(&body)
        )
    });
    (status, content_type, value)
}

/// The URL of `/tables/{name}`, with `name` percent-encoded as one path segment.
fn table_url(server: &Server, name: &str) -> String {
    let mut url = reqwest::Url::parse(&server.url("/tables/x")).expect("url");
    url.path_segments_mut().expect("base").pop().push(name);
    url.to_string()
}

async fn assert_not_found(server: &Server, name: &str) {
    let url = table_url(server, name);
    let (status, content_type, body) = get_json(&url).await;
    assert_eq!(status, 404, "{name:?}: {body}");
    assert_eq!(content_type, "application/problem+json", "{name:?}");
    assert_eq!(body["title"], "No such table", "{name:?}");
}

/// Names no catalog entry matches exactly.
const HOSTILE: [&str; 8] = [
    "nope",
    "T_INT",
    "t_int ",
    "t_int\"",
    "t_int`",
    "x\"; DROP TABLE t_int; --",
    "t_int\0",
    "../t_int",
];

fn settings(config: &str) -> Settings {
    let config = ConfigFile::parse(config).expect("a valid config");
    Settings {
        queries: config.queries,
        batch_size: 2,
        ..Settings::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_catalog_quoting_and_plans() {
    let Some(scratch) = Scratch::postgres("rowstream_catalog").await else {
        return;
    };
    let Some(other) = Scratch::postgres("rowstream_other").await else {
        return;
    };
    let fixtures = scratch.pg_pool(1).await;
    let weird = r#"we"ird name, with "quotes""#;
    sqlx::raw_sql(&format!(
        r#"CREATE TABLE t_int (id int PRIMARY KEY, v text);
        INSERT INTO t_int VALUES (5, 'e'), (1, 'a'), (3, 'c'), (2, 'b'), (4, 'd');
        CREATE TABLE "we""ird name, with ""quotes""" (k varchar(10) PRIMARY KEY, v int);
        INSERT INTO "we""ird name, with ""quotes""" VALUES ('b', 2), ('a', 1), ('B', 3), ('é', 4), ('', 5);
        CREATE TABLE composite (a int, b int, PRIMARY KEY (a, b));
        INSERT INTO composite VALUES (2, 1), (1, 2), (1, 1);
        CREATE TABLE uuid_key (k uuid PRIMARY KEY);
        INSERT INTO uuid_key VALUES ('00000000-0000-0000-0000-000000000002'), ('00000000-0000-0000-0000-000000000001');
        CREATE TABLE nokey (a int);
        INSERT INTO nokey VALUES (7);
        CREATE VIEW v_big AS SELECT id FROM t_int WHERE id > 3;
        CREATE TABLE {other}.hidden (a int);"#,
        other = other.name
    ))
    .execute(&fixtures)
    .await
    .expect("fixtures");

    let db = Database::Postgres(
        db::open_postgres(scratch.pg_options(), &OpenOptions::default())
            .await
            .expect("open"),
    );
    // Single-column integer and text keys are read by keyset; the others in one query.
    let plan = async |name: &str| {
        catalog::resolve(&db, name)
            .await
            .expect("resolve")
            .map(|t| t.plan)
    };
    assert_eq!(plan("t_int").await, Some(Plan::Keyset { key: "id".into() }));
    assert_eq!(plan(weird).await, Some(Plan::Keyset { key: "k".into() }));
    let single = |cols: &[&str]| Plan::Single {
        order_by: cols.iter().map(|c| (*c).to_owned()).collect(),
    };
    assert_eq!(plan("composite").await, Some(single(&["a", "b"])));
    assert_eq!(plan("uuid_key").await, Some(single(&["k"])));
    assert_eq!(plan("nokey").await, Some(single(&[])));
    assert_eq!(plan("v_big").await, Some(single(&[])));
    assert_eq!(plan("hidden").await, None);

    let server = Server::start_app(rowstream_cli::router_with(db.clone(), settings(""))).await;
    let (status, _, tables) = get_json(&server.url("/tables")).await;
    assert_eq!(status, 200);
    assert_eq!(
        tables,
        json!(["composite", "nokey", "t_int", "uuid_key", "v_big", weird]),
        "the current schema only"
    );

    // Keyset pages of 2 rows: every row once, in key order.
    let (status, content_type, rows) = get_json(&table_url(&server, "t_int")).await;
    assert_eq!((status, content_type.as_str()), (200, "application/json"));
    assert_eq!(
        rows,
        json!([{"id": 1, "v": "a"}, {"id": 2, "v": "b"}, {"id": 3, "v": "c"}, {"id": 4, "v": "d"}, {"id": 5, "v": "e"}])
    );
    let expected: Vec<String> =
        sqlx::query_scalar(r#"SELECT k FROM "we""ird name, with ""quotes""" ORDER BY k"#)
            .fetch_all(&fixtures)
            .await
            .expect("order");
    let (_, _, rows) = get_json(&table_url(&server, weird)).await;
    let served: Vec<&str> = rows
        .as_array()
        .expect("an array")
        .iter()
        .filter_map(|row| row["k"].as_str())
        .collect();
    assert_eq!(served, expected, "text keys in the column's collation");
    let (_, _, rows) = get_json(&table_url(&server, "composite")).await;
    assert_eq!(
        rows,
        json!([{"a": 1, "b": 1}, {"a": 1, "b": 2}, {"a": 2, "b": 1}])
    );
    let (_, _, rows) = get_json(&table_url(&server, "uuid_key")).await;
    assert_eq!(rows[0]["k"], "00000000-0000-0000-0000-000000000001");
    let (_, _, rows) = get_json(&table_url(&server, "v_big")).await;
    assert_eq!(rows.as_array().map(Vec::len), Some(2));

    for name in HOSTILE
        .into_iter()
        .chain(["hidden", "pg_class", "information_schema.tables"])
    {
        assert_not_found(&server, name).await;
    }
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM t_int")
        .fetch_one(&fixtures)
        .await
        .expect("count");
    assert_eq!(count, 5, "nothing was dropped");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_catalog_quoting_plans_and_json_columns() {
    let Some(scratch) = Scratch::mysql("rowstream_catalog").await else {
        return;
    };
    let Some(other) = Scratch::mysql("rowstream_other").await else {
        return;
    };
    let fixtures = scratch.mysql_pool(1).await;
    let weird = "we`ird name, with \"quotes\"";
    for statement in [
        "CREATE TABLE t_int (id INT PRIMARY KEY, v TEXT, doc JSON, plain LONGTEXT)".to_owned(),
        r#"INSERT INTO t_int VALUES (5, 'e', '{"n": 12345678901234567890}', '{"x": 1}'), (1, 'a', '[1, {"b": null}]', NULL), (3, 'c', NULL, 'x'), (2, 'b', '"s"', ''), (4, 'd', '1.50', '1.50')"#.to_owned(),
        "CREATE TABLE `we``ird name, with \"quotes\"` (k VARCHAR(10) PRIMARY KEY, v INT)".to_owned(),
        "INSERT INTO `we``ird name, with \"quotes\"` VALUES ('b', 2), ('a', 1), ('C', 3), ('é', 4), ('', 5)".to_owned(),
        "CREATE TABLE composite (a INT, b INT, PRIMARY KEY (a, b))".to_owned(),
        "INSERT INTO composite VALUES (2, 1), (1, 2), (1, 1)".to_owned(),
        "CREATE TABLE big_unsigned (k BIGINT UNSIGNED PRIMARY KEY)".to_owned(),
        "INSERT INTO big_unsigned VALUES (18446744073709551615), (1)".to_owned(),
        "CREATE TABLE nokey (a INT)".to_owned(),
        "INSERT INTO nokey VALUES (7)".to_owned(),
        "CREATE VIEW v_big AS SELECT id, doc FROM t_int WHERE id > 3".to_owned(),
        format!("CREATE TABLE {}.hidden (a INT)", other.name),
    ] {
        sqlx::query(&statement)
            .execute(&fixtures)
            .await
            .unwrap_or_else(|err| panic!("{statement}: {err}"));
    }

    let (pool, mariadb) = db::open_mysql(scratch.mysql_options(), &OpenOptions::default())
        .await
        .expect("open");
    assert!(mariadb, "the test server is MariaDB");
    let db = Database::MySql { pool, mariadb };
    let resolve = async |name: &str| catalog::resolve(&db, name).await.expect("resolve");
    let t_int = resolve("t_int").await.expect("t_int");
    assert_eq!(t_int.plan, Plan::Keyset { key: "id".into() });
    assert_eq!(t_int.json_columns, ["doc"], "JSON, not every LONGTEXT");
    assert_eq!(
        resolve(weird).await.map(|t| t.plan),
        Some(Plan::Keyset { key: "k".into() })
    );
    let single = |cols: &[&str]| Plan::Single {
        order_by: cols.iter().map(|c| (*c).to_owned()).collect(),
    };
    assert_eq!(
        resolve("composite").await.map(|t| t.plan),
        Some(single(&["a", "b"]))
    );
    assert_eq!(
        resolve("big_unsigned").await.map(|t| t.plan),
        Some(single(&["k"])),
        "beyond i64: one query"
    );
    assert_eq!(resolve("nokey").await.map(|t| t.plan), Some(single(&[])));
    assert_eq!(resolve("hidden").await, None);

    let server = Server::start_app(rowstream_cli::router_with(db.clone(), settings(""))).await;
    let (status, _, tables) = get_json(&server.url("/tables")).await;
    assert_eq!(status, 200);
    assert_eq!(
        tables,
        json!([
            "big_unsigned",
            "composite",
            "nokey",
            "t_int",
            "v_big",
            weird
        ])
    );
    let (status, _, rows) = get_json(&table_url(&server, "t_int")).await;
    assert_eq!(status, 200);
    assert_eq!(
        rows,
        json!([
            {"id": 1, "v": "a", "doc": [1, {"b": null}], "plain": null},
            {"id": 2, "v": "b", "doc": "s", "plain": ""},
            {"id": 3, "v": "c", "doc": null, "plain": "x"},
            {"id": 4, "v": "d", "doc": 1.50, "plain": "1.50"},
            {"id": 5, "v": "e", "doc": {"n": 12345678901234567890_u64}, "plain": "{\"x\": 1}"},
        ])
    );
    let expected: Vec<String> =
        sqlx::query_scalar("SELECT k FROM `we``ird name, with \"quotes\"` ORDER BY k")
            .fetch_all(&fixtures)
            .await
            .expect("order");
    let (_, _, rows) = get_json(&table_url(&server, weird)).await;
    let served: Vec<&str> = rows
        .as_array()
        .expect("an array")
        .iter()
        .filter_map(|row| row["k"].as_str())
        .collect();
    assert_eq!(served, expected, "text keys in the column's collation");
    let (_, _, rows) = get_json(&table_url(&server, "big_unsigned")).await;
    assert_eq!(rows, json!([{"k": 1}, {"k": 18446744073709551615_u64}]));
    let (_, _, rows) = get_json(&table_url(&server, "composite")).await;
    assert_eq!(
        rows,
        json!([{"a": 1, "b": 1}, {"a": 1, "b": 2}, {"a": 2, "b": 1}])
    );

    for name in HOSTILE.into_iter().chain([
        "hidden",
        "TABLES",
        "information_schema.TABLES",
        "mysql.user",
    ]) {
        assert_not_found(&server, name).await;
    }
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM t_int")
        .fetch_one(&fixtures)
        .await
        .expect("count");
    assert_eq!(count, 5, "nothing was dropped");
    server.stop().await;
}

/// Each write must fail with the database's read-only error.
async fn assert_writes_fail<F>(label: &str, mut write: impl AsyncFnMut(&str) -> Result<(), F>)
where
    F: std::fmt::Display,
{
    for sql in [
        "INSERT INTO ro_t VALUES (2)",
        "UPDATE ro_t SET a = 3",
        "DELETE FROM ro_t",
        "DROP TABLE ro_t",
        "CREATE TABLE ro_new (a INT)",
    ] {
        match write(sql).await {
            Ok(()) => panic!("{label}: {sql} succeeded on a read-only pool"),
            Err(err) => {
                let message = err.to_string().to_lowercase();
                assert!(
                    message.contains("read-only") || message.contains("read only"),
                    "{label}: {sql}: {err}"
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_sessions_are_read_only() {
    let Some(url) = sql::postgres_url() else {
        return;
    };
    let Some(scratch) = Scratch::postgres("rowstream_ro").await else {
        return;
    };
    sqlx::raw_sql("CREATE TABLE ro_t (a INT); INSERT INTO ro_t VALUES (1)")
        .execute(&scratch.pg_pool(1).await)
        .await
        .expect("fixture");
    // Through the URL, as `rowstream serve --db` opens it: even a URL asking for
    // read-write sessions gets read-only ones.
    let separator = if url.contains('?') { '&' } else { '?' };
    let url = format!(
        "{url}{separator}options[search_path]={}&options[default_transaction_read_only]=off",
        scratch.name
    );
    let Database::Postgres(pool) = db::open(&url, &OpenOptions::default()).await.expect("open")
    else {
        panic!("a PostgreSQL pool");
    };
    assert_writes_fail("postgres", async |sql| {
        sqlx::query(sql).execute(&pool).await.map(|_| ())
    })
    .await;

    // And through a named query that tries to write.
    let config = "[queries.write]\nsql = \"INSERT INTO ro_t VALUES (9) RETURNING a\"\n";
    let server = Server::start_app(rowstream_cli::router_with(
        Database::Postgres(pool.clone()),
        settings(config),
    ))
    .await;
    let (status, content_type, body) = get_json(&server.url("/queries/write")).await;
    assert_eq!(
        (status, content_type.as_str()),
        (500, "application/problem+json")
    );
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("read-only")),
        "{body}"
    );
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM ro_t")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(count, 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_sessions_are_read_only() {
    let Some(scratch) = Scratch::mysql("rowstream_ro").await else {
        return;
    };
    for sql in ["CREATE TABLE ro_t (a INT)", "INSERT INTO ro_t VALUES (1)"] {
        sqlx::query(sql)
            .execute(&scratch.mysql_pool(1).await)
            .await
            .expect("fixture");
    }
    // Through a URL, as `rowstream serve --db` opens it (mariadb:// works too).
    let Some(url) = sql::mysql_url() else { return };
    let url = url.replacen("mysql://", "mariadb://", 1);
    let base = url
        .rsplit_once('/')
        .map(|(base, _)| base)
        .expect("a database path");
    let url = format!("{base}/{}", scratch.name);
    let Database::MySql { pool, .. } = db::open(&url, &OpenOptions::default()).await.expect("open")
    else {
        panic!("a MySQL pool");
    };
    assert_writes_fail("mariadb", async |sql| {
        sqlx::query(sql).execute(&pool).await.map(|_| ())
    })
    .await;
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM ro_t")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(count, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statement_timeout_cancels_long_statements() {
    let timeout = OpenOptions {
        statement_timeout: Some(Duration::from_millis(50)),
        ..OpenOptions::default()
    };
    let mut servers = Vec::new();
    if let Some(scratch) = Scratch::postgres("rowstream_timeout").await {
        let pool = db::open_postgres(scratch.pg_options(), &timeout)
            .await
            .expect("open");
        let config = "[queries.slow]\nsql = \"SELECT pg_sleep(3)::text AS slept\"\n\
                      [queries.quick]\nsql = \"SELECT pg_sleep(0.01)::text AS slept\"\n";
        servers.push(("postgres", Database::Postgres(pool), config, scratch));
    }
    if let Some(scratch) = Scratch::mysql("rowstream_timeout").await {
        let (pool, mariadb) = db::open_mysql(scratch.mysql_options(), &timeout)
            .await
            .expect("open");
        let config = "[queries.slow]\nsql = \"SELECT SLEEP(3) AS slept\"\n\
                      [queries.quick]\nsql = \"SELECT SLEEP(0.01) AS slept\"\n";
        servers.push((
            "mariadb",
            Database::MySql { pool, mariadb },
            config,
            scratch,
        ));
    }
    for (label, db, config, _scratch) in servers {
        let server = Server::start_app(rowstream_cli::router_with(db, settings(config))).await;
        let started = Instant::now();
        let response = reqwest::get(server.url("/queries/slow"))
            .await
            .expect("request");
        let status = response.status().as_u16();
        let body = response.bytes().await;
        let took = started.elapsed();
        // The server cancels the statement after 50 ms, usually before the response
        // commits its status (after the first row or the 100 ms flush interval): a 500
        // naming the timeout. On a loaded machine the 200 may commit first; then the body
        // is cut. Either way the 3 s statement does not run to its end.
        match (status, body) {
            (500, Ok(body)) => {
                let detail = String::from_utf8_lossy(&body).to_lowercase();
                assert!(
                    detail.contains("statement timeout") || detail.contains("max_statement_time"),
                    "{label}: {detail}"
                );
            }
            (200, Err(err)) => eprintln!("{label}: the 200 had committed; the body was cut: {err}"),
            // MariaDB's SLEEP() returns 1 when it is interrupted (its documented result),
            // which the timeout sometimes does instead of failing the statement: the
            // sleep still ended early, as the time check below asserts.
            (200, Ok(body)) if label == "mariadb" && body.as_ref() == b"[{\"slept\":1}]" => {
                eprintln!("{label}: SLEEP was interrupted and returned 1");
            }
            (status, body) => panic!("{label}: {status} with {body:?}"),
        }
        assert!(took < Duration::from_secs(2), "{label}: took {took:?}");
        let (status, _, _) = get_json(&server.url("/queries/quick")).await;
        assert_eq!(status, 200, "{label}: a short statement runs");
        server.stop().await;
    }
}

/// A PostgreSQL table without a key is exported through `COPY … TO STDOUT`; the statement
/// timeout stops it all the same — a 500 naming the timeout, or, once rows have gone out
/// with the 200, a cut body (no terminating chunk) — and the export of a table that fits
/// in the timeout runs to its end, in the read-only session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statement_timeout_stops_a_postgres_copy_export() {
    let Some(scratch) = Scratch::postgres("rowstream_copy_timeout").await else {
        return;
    };
    let fixtures = scratch.pg_pool(1).await;
    sqlx::raw_sql(
        "CREATE VIEW slow_v AS SELECT g, pg_sleep(0.01)::text AS pause FROM generate_series(1, 1000) g;
         CREATE TABLE quick (a int, b text);
         INSERT INTO quick SELECT g, 'row ' || g FROM generate_series(1, 3000) g;",
    )
    .execute(&fixtures)
    .await
    .expect("fixtures");
    let timeout = OpenOptions {
        statement_timeout: Some(Duration::from_millis(300)),
        ..OpenOptions::default()
    };
    let pool = db::open_postgres(scratch.pg_options(), &timeout)
        .await
        .expect("open");
    let db = Database::Postgres(pool);
    let plan = catalog::resolve(&db, "slow_v").await.expect("resolve");
    assert_eq!(
        plan.map(|t| t.plan),
        Some(Plan::Single { order_by: vec![] })
    );
    let server = Server::start_app(rowstream_cli::router_with(db, settings(""))).await;
    for format in ["json", "csv"] {
        let started = Instant::now();
        let response = reqwest::get(server.url(&format!("/tables/slow_v?format={format}")))
            .await
            .expect("request");
        let status = response.status().as_u16();
        let body = response.bytes().await;
        match (status, body) {
            (500, Ok(body)) => {
                let detail = String::from_utf8_lossy(&body).to_lowercase();
                assert!(detail.contains("statement timeout"), "{format}: {detail}");
            }
            (200, Err(err)) => {
                eprintln!("{format}: the 200 had committed; the body was cut: {err}")
            }
            (status, body) => panic!("{format}: {status} with {body:?}"),
        }
        assert!(started.elapsed() < Duration::from_secs(5), "{format}");
    }
    let (status, _, rows) = get_json(&server.url("/tables/quick")).await;
    assert_eq!(status, 200);
    let rows = rows.as_array().expect("an array");
    assert_eq!(rows.len(), 3000);
    assert_eq!(rows[2999], json!({"a": 3000, "b": "row 3000"}));
    server.stop().await;
}

/// Exports through `COPY` follow the table as it is now: after `ALTER TABLE` changes a
/// column's type or name, a table export and a named query (with a trailing `;` and
/// comment) on the same pooled connection read the values by the new types, in every
/// format.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_copy_exports_follow_a_changed_table() {
    let Some(scratch) = Scratch::postgres("rowstream_copy_alter").await else {
        return;
    };
    let fixtures = scratch.pg_pool(1).await;
    sqlx::raw_sql(
        "CREATE TABLE evo (a int4, t timestamp, b int8);
         INSERT INTO evo VALUES (1, '2020-01-01 00:00', 5), (2, '2021-06-15 12:00', 6);",
    )
    .execute(&fixtures)
    .await
    .expect("fixtures");
    // A small pool: every request below runs on one of its three connections.
    let options = OpenOptions {
        pool_size: 3,
        ..OpenOptions::default()
    };
    let pool = db::open_postgres(scratch.pg_options(), &options)
        .await
        .expect("open");
    let config = "[queries.evo]\nsql = \"SELECT * FROM evo ORDER BY a; -- every row\"\n";
    let server = Server::start_app(rowstream_cli::router_with(
        Database::Postgres(pool),
        settings(config),
    ))
    .await;
    let csv = async |path: &str| {
        let response = reqwest::get(server.url(path)).await.expect("request");
        let status = response.status().as_u16();
        let body = response.text().await.expect("a body");
        assert_eq!(status, 200, "{path}: {body}");
        body
    };
    for _ in 0..3 {
        for path in ["/tables/evo", "/queries/evo"] {
            let (status, _, rows) = get_json(&server.url(path)).await;
            assert_eq!(status, 200, "{path}: {rows}");
            assert_eq!(
                rows[1],
                json!({"a": 2, "t": "2021-06-15T12:00:00", "b": 6}),
                "{path}"
            );
        }
    }
    // Both connections of the pool prepare the CSV header's statement, at the same time.
    for _ in 0..3 {
        let (one, two) = tokio::join!(
            csv("/tables/evo?format=csv"),
            csv("/queries/evo?format=csv")
        );
        assert!(
            one.starts_with("a,t,b\r\n") && two.starts_with("a,t,b\r\n"),
            "{one} {two}"
        );
    }
    sqlx::raw_sql(
        "ALTER TABLE evo ALTER COLUMN a TYPE float4 USING a::float4,
           ALTER COLUMN t TYPE timestamptz USING t AT TIME ZONE 'UTC',
           ALTER COLUMN b TYPE float8 USING b::float8;
         ALTER TABLE evo RENAME COLUMN b TO renamed_b;",
    )
    .execute(&fixtures)
    .await
    .expect("alter");
    for _ in 0..3 {
        for path in ["/tables/evo", "/queries/evo"] {
            let (status, _, rows) = get_json(&server.url(path)).await;
            assert_eq!(status, 200, "{path}: {rows}");
            assert_eq!(
                rows[1],
                json!({"a": 2.0, "t": "2021-06-15T12:00:00Z", "renamed_b": 6.0}),
                "{path}"
            );
            let text = csv(&format!("{path}?format=csv")).await;
            assert!(
                text.ends_with("2.0,2021-06-15T12:00:00Z,6.0\r\n")
                    && text.starts_with("a,t,renamed_b\r\n"),
                "{path}: {text:?}"
            );
        }
    }
    server.stop().await;
}

/// Named queries over `db`: bound values, SQL-looking values, 400s and 404s.
async fn assert_named_queries(label: &str, db: Database, config: &str) {
    let server = Server::start_app(rowstream_cli::router_with(db, settings(config))).await;
    let get = async |path: &str| get_json(&server.url(path)).await;

    let (status, _, list) = get("/queries").await;
    assert_eq!(status, 200, "{label}");
    let items = list
        .as_array()
        .and_then(|list| list.iter().find(|q| q["name"] == "items"))
        .unwrap_or_else(|| panic!("{label}: items is not listed: {list}"));
    assert_eq!(
        items["params"],
        json!([{"name": "name", "type": "text"}, {"name": "min_qty", "type": "int"},
               {"name": "max_price", "type": "float"}, {"name": "active", "type": "bool"},
               {"name": "since", "type": "date"}]),
        "{label}"
    );

    let (status, content_type, rows) =
        get("/queries/items?name=bolt&min_qty=2&max_price=9.5&active=true&since=2024-01-01").await;
    assert_eq!(
        (status, content_type.as_str()),
        (200, "application/json"),
        "{label}: {rows}"
    );
    assert_eq!(rows, json!([{"id": 2}, {"id": 3}]), "{label}");
    let (_, _, rows) =
        get("/queries/items?since=2024-03-01&active=1&max_price=100&min_qty=0&name=bolt").await;
    assert_eq!(rows, json!([{"id": 3}]), "{label}: parameters in any order");

    // SQL-looking values are only values: nothing matches, nothing is dropped.
    for hostile in [
        "bolt' OR '1'='1",
        "x'; DROP TABLE items; --",
        "bolt\" OR \"1\"=\"1",
        "$1",
        "?",
    ] {
        let mut url = reqwest::Url::parse(&server.url("/queries/items")).expect("url");
        url.query_pairs_mut()
            .append_pair("name", hostile)
            .append_pair("min_qty", "0")
            .append_pair("max_price", "100")
            .append_pair("active", "true")
            .append_pair("since", "2000-01-01");
        let (status, _, rows) = get_json(url.as_str()).await;
        assert_eq!((status, rows), (200, json!([])), "{label}: {hostile}");
    }
    let (_, _, rows) = get("/queries/echo?text=x%27%3B%20DROP%20TABLE%20items%3B%20--").await;
    assert_eq!(rows, json!([{"t": "x'; DROP TABLE items; --"}]), "{label}");

    // Missing or malformed parameters: 400 naming the parameter, before anything runs.
    let ok = "name=bolt&min_qty=2&max_price=9.5&active=true&since=2024-01-01";
    for (query, parameter) in [
        ("name=bolt&min_qty=2&max_price=9.5&active=true", "since"),
        (
            "min_qty=2&max_price=9.5&active=true&since=2024-01-01",
            "name",
        ),
        (
            "name=bolt&min_qty=two&max_price=9.5&active=true&since=2024-01-01",
            "min_qty",
        ),
        (
            "name=bolt&min_qty=1%3B%20DROP%20TABLE%20items&max_price=9.5&active=true&since=2024-01-01",
            "min_qty",
        ),
        (
            "name=bolt&min_qty=2&max_price=NaN&active=true&since=2024-01-01",
            "max_price",
        ),
        (
            "name=bolt&min_qty=2&max_price=9.5&active=yes&since=2024-01-01",
            "active",
        ),
        (
            "name=bolt&min_qty=2&max_price=9.5&active=true&since=2024-02-30",
            "since",
        ),
        (&format!("{ok}&sql=SELECT%201"), "sql"),
        (&format!("{ok}&name=nut"), "name"),
    ] {
        let (status, content_type, body) = get(&format!("/queries/items?{query}")).await;
        assert_eq!(
            (status, content_type.as_str()),
            (400, "application/problem+json"),
            "{label}: {query}: {body}"
        );
        let detail = body["detail"].as_str().unwrap_or_default();
        assert!(
            detail.contains(&format!("\"{parameter}\"")),
            "{label}: {query}: {detail}"
        );
    }

    for path in [
        "/queries/nope",
        "/queries/ITEMS",
        "/queries/items%3B",
        "/queries/SELECT%201",
    ] {
        let (status, content_type, body) = get(path).await;
        assert_eq!(
            (status, content_type.as_str()),
            (404, "application/problem+json"),
            "{label}: {path}: {body}"
        );
        assert_eq!(body["title"], "No such query", "{label}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_named_queries() {
    let Some(scratch) = Scratch::postgres("rowstream_named").await else {
        return;
    };
    sqlx::raw_sql(
        "CREATE TABLE items (id int PRIMARY KEY, name text, qty int, price float8, active bool, added date);
         INSERT INTO items VALUES (1, 'bolt', 1, 1.5, true, '2024-02-01'), (2, 'bolt', 5, 9.5, true, '2024-02-01'),
           (3, 'bolt', 9, 2.0, true, '2024-03-05'), (4, 'bolt', 9, 2.0, false, '2024-03-05'), (5, 'nut', 9, 1.0, true, '2024-03-05');",
    )
    .execute(&scratch.pg_pool(1).await)
    .await
    .expect("fixture");
    let pool = db::open_postgres(scratch.pg_options(), &OpenOptions::default())
        .await
        .expect("open");
    let config = r#"
[queries.items]
sql = "SELECT id FROM items WHERE name = $1 AND qty >= $2 AND price <= $3 AND active = $4 AND added >= $5::date ORDER BY id"
params = [
  { name = "name", type = "text" },
  { name = "min_qty", type = "int" },
  { name = "max_price", type = "float" },
  { name = "active", type = "bool" },
  { name = "since", type = "date" },
]

[queries.echo]
sql = "SELECT $1::text AS t"
params = [{ name = "text", type = "text" }]
"#;
    let db = Database::Postgres(pool);
    let parsed = ConfigFile::parse(config).expect("config");
    rowstream_cli::db::check_queries(&db, &parsed.queries)
        .await
        .expect("the queries prepare");
    assert_named_queries("postgres", db.clone(), config).await;

    // A query whose placeholders and parameters disagree is refused before serving.
    let mismatched = ConfigFile::parse(
        "[queries.q]\nsql = \"SELECT * FROM items WHERE id = $1 AND qty = $2\"\nparams = [{ name = \"id\", type = \"int\" }]",
    )
    .expect("config");
    let err = rowstream_cli::db::check_queries(&db, &mismatched.queries)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("\"q\""), "{err}");
    let mistyped = ConfigFile::parse(
        "[queries.q]\nsql = \"SELECT * FROM items WHERE added = $1\"\nparams = [{ name = \"d\", type = \"date\" }]",
    )
    .expect("config");
    let err = rowstream_cli::db::check_queries(&db, &mistyped.queries)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("date = text"), "{err}");
    let twice = ConfigFile::parse("[queries.q]\nsql = \"SELECT id, qty AS id FROM items\"")
        .expect("config");
    let err = rowstream_cli::db::check_queries(&db, &twice.queries)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("two columns named \"id\""),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_named_queries() {
    let Some(scratch) = Scratch::mysql("rowstream_named").await else {
        return;
    };
    let fixtures = scratch.mysql_pool(1).await;
    for sql in [
        "CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(10), qty INT, price DOUBLE, active BOOLEAN, added DATE)",
        "INSERT INTO items VALUES (1, 'bolt', 1, 1.5, true, '2024-02-01'), (2, 'bolt', 5, 9.5, true, '2024-02-01'),
           (3, 'bolt', 9, 2.0, true, '2024-03-05'), (4, 'bolt', 9, 2.0, false, '2024-03-05'), (5, 'nut', 9, 1.0, true, '2024-03-05')",
    ] {
        sqlx::query(sql).execute(&fixtures).await.expect("fixture");
    }
    let (pool, mariadb) = db::open_mysql(scratch.mysql_options(), &OpenOptions::default())
        .await
        .expect("open");
    let config = r#"
[queries.items]
sql = "SELECT id FROM items WHERE name = ? AND qty >= ? AND price <= ? AND active = ? AND added >= ? ORDER BY id"
params = [
  { name = "name", type = "text" },
  { name = "min_qty", type = "int" },
  { name = "max_price", type = "float" },
  { name = "active", type = "bool" },
  { name = "since", type = "date" },
]

[queries.echo]
sql = "SELECT CAST(? AS CHAR) AS t"
params = [{ name = "text", type = "text" }]
"#;
    let db = Database::MySql { pool, mariadb };
    let parsed = ConfigFile::parse(config).expect("config");
    rowstream_cli::db::check_queries(&db, &parsed.queries)
        .await
        .expect("the queries prepare");
    assert_named_queries("mariadb", db, config).await;
}

/// Starts a GET and returns once the response head has arrived (the export is streaming);
/// the body is left unread, so the export stays in flight.
async fn start_export(url: &str) -> reqwest::Response {
    let response = reqwest::get(url).await.expect("request");
    assert_eq!(response.status(), 200, "{url}");
    response
}

/// With 2 slots: two slow exports in flight, a third gets 503 + Retry-After at once while
/// `/healthz` and `/tables` still answer; when the two clients leave, exports run again.
async fn assert_stream_limit(label: &str, db: Database, slow: &str) {
    let config = format!("[queries.slow]\nsql = \"{slow}\"\n");
    let settings = Settings {
        max_streams: Some(2),
        ..settings(&config)
    };
    let server = Server::start_app(rowstream_cli::router_with(db, settings)).await;
    let slow_url = server.url("/queries/slow");
    let first = start_export(&slow_url).await;
    let second = start_export(&slow_url).await;

    for path in ["/queries/slow", "/tables/items"] {
        let started = Instant::now();
        let response = reqwest::get(server.url(path)).await.expect("request");
        let took = started.elapsed();
        assert_eq!(response.status(), 503, "{label}: {path}");
        assert!(
            took < Duration::from_millis(100),
            "{label}: {path}: 503 after {took:?}"
        );
        assert_eq!(response.headers()["retry-after"], "1", "{label}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json",
            "{label}"
        );
    }
    let health = reqwest::get(server.url("/healthz")).await.expect("healthz");
    assert_eq!(health.status(), 200, "{label}");
    let (status, _, tables) = get_json(&server.url("/tables")).await;
    assert_eq!((status, tables), (200, json!(["items"])), "{label}");

    // The clients leave: their slots come back once the server notices.
    drop(first);
    drop(second);
    let started = Instant::now();
    loop {
        let response = reqwest::get(server.url("/tables/items"))
            .await
            .expect("request");
        if response.status() == 200 {
            assert_eq!(
                response.bytes().await.expect("body").as_ref(),
                b"[{\"id\":1}]"
            );
            break;
        }
        assert_eq!(response.status(), 503, "{label}");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{label}: the slots did not come back"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_limit_on_exports_in_flight() {
    let Some(scratch) = Scratch::postgres("rowstream_limit").await else {
        return;
    };
    sqlx::raw_sql("CREATE TABLE items (id int PRIMARY KEY); INSERT INTO items VALUES (1)")
        .execute(&scratch.pg_pool(1).await)
        .await
        .expect("fixture");
    let pool = db::open_postgres(
        scratch.pg_options(),
        &OpenOptions {
            pool_size: 3,
            ..OpenOptions::default()
        },
    )
    .await
    .expect("open");
    assert_stream_limit(
        "postgres",
        Database::Postgres(pool),
        "SELECT g, pg_sleep(0.01)::text AS pause FROM generate_series(1, 3000) g",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_limit_on_exports_in_flight() {
    let Some(scratch) = Scratch::mysql("rowstream_limit").await else {
        return;
    };
    let fixtures = scratch.mysql_pool(1).await;
    for sql in [
        "CREATE TABLE items (id INT PRIMARY KEY)",
        "INSERT INTO items VALUES (1)",
    ] {
        sqlx::query(sql).execute(&fixtures).await.expect("fixture");
    }
    let (pool, mariadb) = db::open_mysql(
        scratch.mysql_options(),
        &OpenOptions {
            pool_size: 3,
            ..OpenOptions::default()
        },
    )
    .await
    .expect("open");
    assert_stream_limit(
        "mariadb",
        Database::MySql { pool, mariadb },
        "SELECT seq, SLEEP(0.01) AS pause FROM seq_1_to_3000",
    )
    .await;
}

#[tokio::test]
async fn unsupported_urls_are_refused() {
    for url in [
        "",
        "oracle://x",
        "http://localhost",
        "postgres",
        "sqlite-ish://x",
    ] {
        assert!(
            db::open(url, &OpenOptions::default()).await.is_err(),
            "{url}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_failing_midway_is_cut_not_completed() {
    let Some(scratch) = Scratch::postgres("rowstream_cut").await else {
        return;
    };
    let pool = db::open_postgres(scratch.pg_options(), &OpenOptions::default())
        .await
        .expect("open");
    let config = "[queries.fails]\n\
                  sql = \"SELECT g, 1 / (100000 - g) AS x FROM generate_series(1, 100000) g\"\n\
                  [queries.one]\nsql = \"SELECT 1 AS one\"\n";
    let settings = Settings {
        max_streams: Some(1),
        ..settings(config)
    };
    let server = Server::start_app(rowstream_cli::router_with(
        Database::Postgres(pool),
        settings,
    ))
    .await;
    let response = reqwest::get(server.url("/queries/fails"))
        .await
        .expect("request");
    assert_eq!(response.status(), 200, "rows came before the failure");
    let mut received = Vec::new();
    let mut stream = response.bytes_stream();
    let mut failed = false;
    while let Some(chunk) = futures_util::StreamExt::next(&mut stream).await {
        match chunk {
            Ok(chunk) => received.extend_from_slice(&chunk),
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    assert!(failed, "the transfer must end as incomplete");
    assert!(received.starts_with(b"[{\"g\":1,\"x\":0}"));
    assert!(!received.ends_with(b"]"), "never a complete JSON array");
    assert!(serde_json::from_slice::<Value>(&received).is_err());
    // The only slot comes back with the failed response.
    let started = Instant::now();
    loop {
        let response = reqwest::get(server.url("/queries/one"))
            .await
            .expect("request");
        if response.status() == 200 {
            break;
        }
        assert_eq!(response.status(), 503);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "the slot was not released"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.stop().await;
}

/// The index page's row counts: estimates the database keeps, labelled as such.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_page_shows_row_estimates() {
    if let Some(scratch) = Scratch::postgres("rowstream_index").await {
        let fixtures = scratch.pg_pool(1).await;
        sqlx::raw_sql(
            "CREATE TABLE analyzed (id int PRIMARY KEY); \
             INSERT INTO analyzed SELECT generate_series(1, 1234); ANALYZE analyzed; \
             CREATE TABLE \"never <analyzed>\" (id int); \
             CREATE VIEW v AS SELECT id FROM analyzed",
        )
        .execute(&fixtures)
        .await
        .expect("fixture");
        let pool = db::open_postgres(scratch.pg_options(), &OpenOptions::default())
            .await
            .expect("open");
        let estimates = catalog::row_estimates(&Database::Postgres(pool.clone()))
            .await
            .expect("estimates");
        assert_eq!(estimates.get("analyzed"), Some(&1234), "{estimates:?}");
        assert_eq!(estimates.get("v"), None, "views have no estimate");
        let server = Server::start(pool).await;
        let page = reqwest::get(server.url("/"))
            .await
            .expect("index")
            .text()
            .await
            .expect("body");
        assert!(
            page.contains("rows (estimate from <code>pg_class.reltuples</code>)"),
            "{page}"
        );
        assert!(
            page.contains("<td>analyzed</td><td class=\"n\">≈&nbsp;1,234</td>"),
            "{page}"
        );
        assert!(
            page.contains("<td>never &lt;analyzed&gt;</td><td class=\"n\">—</td>"),
            "{page}"
        );
        assert!(page.contains("<td>v</td><td class=\"n\">—</td>"), "{page}");
        assert!(page.contains("href=\"tables/never%20%3Canalyzed%3E?format=csv\""));
        server.stop().await;
    }
    if let Some(scratch) = Scratch::mysql("rowstream_index").await {
        let fixtures = scratch.mysql_pool(1).await;
        for sql in [
            "CREATE TABLE counted (id INT PRIMARY KEY)",
            "INSERT INTO counted VALUES (1), (2), (3)",
            "ANALYZE TABLE counted",
        ] {
            sqlx::query(sql).execute(&fixtures).await.expect(sql);
        }
        let (pool, mariadb) = db::open_mysql(scratch.mysql_options(), &OpenOptions::default())
            .await
            .expect("open");
        let server = Server::start(Database::MySql { pool, mariadb }).await;
        let page = reqwest::get(server.url("/"))
            .await
            .expect("index")
            .text()
            .await
            .expect("body");
        assert!(
            page.contains("rows (estimate from <code>information_schema.TABLES.TABLE_ROWS</code>)"),
            "{page}"
        );
        assert!(
            page.contains("<td>counted</td><td class=\"n\">≈&nbsp;3</td>"),
            "{page}"
        );
        server.stop().await;
    }
}
