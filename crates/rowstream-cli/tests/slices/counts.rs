//! `Prefer: count=exact|estimated`: the row count in `rowstream-count` before the first
//! row, compared with `COUNT(*)` and the catalog's statistics read by hand.

use rowstream_cli::http::COUNT_HEADER;

use super::{Kind, Row, Server, served_rows};

/// The one integer of a hand query's one row.
fn number(rows: &[Row]) -> u64 {
    rows[0][0].1.as_u64().expect("a count")
}

/// `method path` with `Prefer: prefer` (none when empty): status, count header,
/// `Preference-Applied`, body.
async fn fetch(
    server: &Server,
    method: reqwest::Method,
    path: &str,
    prefer: &str,
) -> (u16, Option<u64>, Option<String>, Vec<u8>) {
    let mut request = reqwest::Client::new().request(method, server.url(path));
    if !prefer.is_empty() {
        request = request.header("prefer", prefer);
    }
    let response = request.send().await.expect("a response");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().expect("ASCII").to_owned())
    };
    let count = header(COUNT_HEADER).map(|v| v.parse().expect("a number"));
    let applied = header("preference-applied");
    let status = response.status().as_u16();
    let body = response.bytes().await.expect("a body").to_vec();
    (status, count, applied, body)
}

pub(crate) async fn check(
    server: &Server,
    kind: Kind,
    hand: &mut impl AsyncFnMut(String) -> Vec<Row>,
) {
    use reqwest::Method;
    for (query, filter) in [
        ("", ""),
        (
            "origin=eq.EWR&dep_delay=gt.0",
            " WHERE origin = 'EWR' AND dep_delay > 0",
        ),
        (
            "select=carrier,id&carrier=eq.UA&order=dep_delay.desc",
            " WHERE carrier = 'UA'",
        ),
        (
            "select=id&dest=in.(LAX,SFO)&after=500",
            " WHERE dest IN ('LAX', 'SFO') AND id > 500",
        ),
        (
            "select=dest&dest=in.(LAX,SFO)&after=500",
            " WHERE dest IN ('LAX', 'SFO') AND id > 500",
        ),
        ("dep_time=is.null", " WHERE dep_time IS NULL"),
    ] {
        let expected = number(&hand(format!("SELECT COUNT(*) AS n FROM small{filter}")).await);
        let path = format!("/tables/small?{query}");
        for prefer in ["count=exact", "return=minimal, count=estimated"] {
            let (status, count, applied, body) = fetch(server, Method::GET, &path, prefer).await;
            assert_eq!(status, 200, "{kind:?} {path}");
            assert_eq!(count, Some(expected), "{kind:?} {path} {prefer}");
            let rows = served_rows("json", &body).len() as u64;
            assert_eq!(rows, expected, "{kind:?} {path}");
            // With filters (or on SQLite, which keeps no estimate) the count is exact.
            if !query.is_empty() || kind == Kind::Sqlite {
                assert_eq!(applied.as_deref(), Some("count=exact"), "{kind:?} {path}");
            }
        }
        let (status, count, _, body) = fetch(server, Method::HEAD, &path, "count=exact").await;
        assert_eq!(
            (status, count),
            (200, Some(expected)),
            "HEAD {kind:?} {path}"
        );
        assert!(body.is_empty());
    }
    // The limit caps the count; no Prefer, no count; a refused request, no count.
    let (_, count, _, _) = fetch(
        server,
        Method::GET,
        "/tables/small?origin=eq.EWR&limit=5",
        "count=exact",
    )
    .await;
    assert_eq!(count, Some(5));
    let (_, count, applied, _) = fetch(server, Method::GET, "/tables/small?limit=5", "").await;
    assert_eq!((count, applied), (None, None));
    let (status, count, _, _) = fetch(
        server,
        Method::GET,
        "/tables/small?dep_delay=eq.x",
        "count=exact",
    )
    .await;
    assert_eq!((status, count), (400, None));

    // Estimated, the whole flights table: the catalog's number, as read by hand.
    let (status, count, applied, _) =
        fetch(server, Method::HEAD, "/tables/flights", "count=estimated").await;
    assert_eq!(status, 200);
    let (sql, how) = match kind {
        Kind::Sqlite => ("SELECT COUNT(*) FROM flights", "count=exact"),
        Kind::Postgres => (
            "SELECT reltuples::int8 FROM pg_class \
             WHERE relname = 'flights' AND relnamespace = current_schema()::regnamespace",
            "count=estimated",
        ),
        Kind::MariaDb => (
            "SELECT CAST(TABLE_ROWS AS SIGNED) FROM information_schema.TABLES \
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'flights'",
            "count=estimated",
        ),
    };
    let expected = number(&hand(sql.to_owned()).await);
    assert!(expected > 300_000, "{kind:?}: {expected}");
    assert_eq!(
        (count, applied.as_deref()),
        (Some(expected), Some(how)),
        "{kind:?}"
    );
}
