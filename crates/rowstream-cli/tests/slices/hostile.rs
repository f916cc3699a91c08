//! Hostile slices: SQL in names and values, huge `in` lists, 10,000 filters, unknown
//! operators, wrong types. Each is a `400` naming its parameter, or runs with its values
//! bound and matches the hand-written query; never a `5xx`.

use super::{Kind, Row, Server, get, served_rows};

/// A table whose columns are named like the server's parameters.
pub(crate) const RESERVED_TABLE: &str = "CREATE TABLE reserved (id INTEGER PRIMARY KEY, \
     lim INTEGER, ord VARCHAR(8), sel INTEGER)";
pub(crate) const RESERVED_ROWS: &str = "INSERT INTO reserved VALUES \
     (1, 1, 'a', 3), (2, 2, 'b', 1), (3, 3, 'c', 2), (4, NULL, 'd', 3)";

/// The reserved table's columns renamed to `limit`, `order`, `select` — done here, as
/// each database quotes them differently.
pub(crate) fn rename(kind: Kind) -> Vec<String> {
    let q = |name: &str| match kind {
        Kind::MariaDb => format!("`{name}`"),
        _ => format!("\"{name}\""),
    };
    [("lim", "limit"), ("ord", "order"), ("sel", "select")]
        .iter()
        .map(|(from, to)| format!("ALTER TABLE reserved RENAME COLUMN {from} TO {}", q(to)))
        .collect()
}

/// Asserts a `400` problem+json naming `parameter`.
async fn refused(server: &Server, path: &str, parameter: &str) {
    let (status, content_type, body) = get(server, path).await;
    let shown = if path.len() > 120 { &path[..120] } else { path };
    assert_eq!(
        (status, content_type.as_str()),
        (400, "application/problem+json"),
        "{shown}: {}",
        String::from_utf8_lossy(&body)
    );
    let problem: serde_json::Value = serde_json::from_slice(&body).expect("problem+json");
    assert_eq!(problem["parameter"], parameter, "{shown}: {problem}");
    let head = reqwest::Client::new()
        .head(server.url(path))
        .send()
        .await
        .expect("HEAD");
    assert_eq!(head.status(), 400, "HEAD {shown}");
}

/// The status of `GET path` sent as raw HTTP/1.1 (no client-side URL limit).
async fn raw_status(server: &Server, path: &str) -> u16 {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("send the request");
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .await
        .expect("read the response");
    let head = String::from_utf8_lossy(&response[..response.len().min(12)]).into_owned();
    head.get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {head:?}"))
}

pub(crate) async fn check(
    server: &Server,
    kind: Kind,
    hand: &mut impl AsyncFnMut(String) -> Vec<Row>,
) {
    let before = hand("SELECT COUNT(*) AS n FROM small".to_owned()).await;
    for (path, parameter) in [
        ("/tables/small?select=id;DROP TABLE small", "select"),
        (
            "/tables/small?select=id,carrier%20FROM%20small;--",
            "select",
        ),
        (
            "/tables/small?id%3B%20DROP%20TABLE%20small=eq.1",
            "id; DROP TABLE small",
        ),
        ("/tables/small?%22id%22%22%3B--%22=eq.1", "\"id\"\";--\""),
        ("/tables/small?order=id;DROP TABLE small", "order"),
        ("/tables/small?dep_delay=drop.1", "dep_delay"),
        ("/tables/small?dep_delay=eq.1%20OR%201=1", "dep_delay"),
        ("/tables/small?dep_delay=eq.abc", "dep_delay"),
        ("/tables/small?dep_delay=in.(1,x)", "dep_delay"),
        ("/tables/small?dep_delay=gt.1.5", "dep_delay"),
        ("/tables/small?dep_delay=5", "dep_delay"),
        ("/tables/small?dep_delay=not.nope.5", "dep_delay"),
        ("/tables/small?carrier=is.true", "carrier"),
        ("/tables/small?carrier=is.maybe", "carrier"),
        ("/tables/small?dep_delay=like.1*", "dep_delay"),
        ("/tables/small?carrier=eq.a%00b", "carrier"),
        ("/tables/small?carrier=in.(%22a)", "carrier"),
        ("/tables/small?limit=-1", "limit"),
        ("/tables/small?limit=0", "limit"),
        ("/tables/small?order=dep_delay.sideways", "order"),
        ("/tables/small?order=nope", "order"),
        ("/tables/small?select=", "select"),
        ("/tables/small?select=id,id", "select"),
        ("/tables/small?order=dep_delay&after=5", "after"),
        ("/tables/small?nope=eq.1", "nope"),
        ("/tables/reserved?limit=eq.1", "limit"),
    ] {
        refused(server, path, parameter).await;
    }
    // 101 filters: refused above 100, naming the first one over.
    let many = vec!["dep_delay=gt.1"; 101].join("&");
    refused(server, &format!("/tables/small?{many}"), "dep_delay").await;
    // 10,000 filters are over the 32 KiB the server reads of a request's line and headers:
    // 431 before the router, as for any such request; never a 5xx. 3,000 fit: 400.
    let many = vec!["dep_delay=gt.1"; 10_000].join("&");
    assert_eq!(
        raw_status(server, &format!("/tables/small?{many}")).await,
        431
    );
    let many = vec!["day=eq.1"; 3_000].join("&");
    assert_eq!(
        raw_status(server, &format!("/tables/small?{many}")).await,
        400
    );
    // 10,001 values in one list: refused. (One digit each, so that the list fits in the
    // 32 KiB of a request line.)
    let values: Vec<String> = (1..=10_001).map(|n| (n % 10).to_string()).collect();
    refused(
        server,
        &format!("/tables/small?id=in.({})", values.join(",")),
        "id",
    )
    .await;
    // 10,000 values: run, each bound, and the same rows as by hand.
    let list = values[..10_000].join(",");
    let (status, _, body) = get(server, &format!("/tables/small?select=id&id=in.({list})")).await;
    assert_eq!(status, 200, "{kind:?}: {}", String::from_utf8_lossy(&body));
    let expected = hand(format!(
        "SELECT id FROM small WHERE id IN ({list}) ORDER BY id"
    ))
    .await;
    let served = served_rows("json", &body);
    assert!(!served.is_empty());
    assert_eq!(served, expected, "{kind:?}: 10,000 values");

    // Columns named like the server's parameters, in double quotes.
    let path = "/tables/reserved?%22limit%22=gte.2&select=%22order%22,id,%22select%22\
                &order=%22select%22.desc&limit=10";
    let (status, _, body) = get(server, path).await;
    assert_eq!(status, 200, "{kind:?}: {}", String::from_utf8_lossy(&body));
    let q = |name: &str| match kind {
        Kind::MariaDb => format!("`{name}`"),
        _ => format!("\"{name}\""),
    };
    let expected = hand(format!(
        "SELECT {o}, id, {s} FROM reserved WHERE {l} >= 2 ORDER BY {s} DESC, id LIMIT 10",
        o = q("order"),
        s = q("select"),
        l = q("limit")
    ))
    .await;
    assert_eq!(
        served_rows("json", &body),
        expected,
        "{kind:?}: reserved names"
    );
    assert_eq!(expected.len(), 2);

    // Nothing from the requests ran: the rows are all there.
    assert_eq!(
        hand("SELECT COUNT(*) AS n FROM small".to_owned()).await,
        before
    );
}
