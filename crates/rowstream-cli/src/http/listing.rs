//! The endpoints that say what is served: the index page, `/tables`, `/queries`, and
//! `/healthz` and `/metrics`.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use rowstream::axum::Problem;

use super::{AppState, database_problem};
use crate::db::catalog;

pub(super) async fn healthz() -> &'static str {
    "ok"
}

pub(super) async fn render_metrics(State(state): State<AppState>) -> Response {
    let Some(handle) = &state.metrics else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let connections = state.db.connections();
    metrics::gauge!("rowstream_db_connections", "state" => "idle").set(f64::from(connections.idle));
    metrics::gauge!("rowstream_db_connections", "state" => "in_use")
        .set(f64::from(connections.in_use));
    let per_stream = state.streamer.config().memory_bound() + state.db.reader_memory_bound();
    metrics::gauge!("rowstream_stream_memory_bound_bytes").set(per_stream as f64);
    metrics::gauge!("rowstream_memory_bound_bytes")
        .set(per_stream.saturating_mul(state.max_streams) as f64);
    if let Some(memory) = crate::server::ProcessMemory::read() {
        metrics::gauge!("process_resident_memory_bytes").set(memory.resident as f64);
        metrics::gauge!("process_resident_memory_peak_bytes").set(memory.peak as f64);
    }
    let mut response = handle.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

pub(super) async fn list_tables(State(state): State<AppState>) -> Response {
    match state.tables().await {
        Ok(names) => Json(names).into_response(),
        Err(err) => database_problem(&err),
    }
}

/// The index page: tables and named queries, with a link per format.
pub(super) async fn index(State(state): State<AppState>) -> Response {
    let tables = match state.tables().await {
        Ok(names) => names,
        Err(err) => return database_problem(&err),
    };
    // Estimates are a nicety: without them the page still lists everything.
    let estimates = catalog::row_estimates(&state.db)
        .await
        .inspect_err(|err| tracing::warn!(%err, "cannot read row estimates"))
        .ok();
    let page = crate::index::Page {
        database: state.db.kind(),
        tables: &tables,
        estimates: estimates.as_ref(),
        estimate_source: catalog::estimate_source(&state.db),
        queries: &state.queries,
    };
    let mut response = axum::response::Html(page.render()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(crate::index::CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

pub(super) async fn list_queries(State(state): State<AppState>) -> Response {
    #[derive(serde::Serialize)]
    struct Listed<'a> {
        name: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        description: Option<&'a str>,
        params: Vec<ListedParam<'a>>,
    }
    #[derive(serde::Serialize)]
    struct ListedParam<'a> {
        name: &'a str,
        r#type: String,
    }
    let listed: Vec<Listed<'_>> = state
        .queries
        .iter()
        .map(|(name, query)| {
            let mut params: Vec<ListedParam<'_>> = Vec::new();
            for param in &query.params {
                if !params.iter().any(|p| p.name == param.name) {
                    params.push(ListedParam {
                        name: &param.name,
                        r#type: param.ty.to_string(),
                    });
                }
            }
            Listed {
                name,
                description: query.description.as_deref(),
                params,
            }
        })
        .collect();
    Json(listed).into_response()
}

/// The fields of the index page's slice form ([`crate::index::SLICE_PATH`]).
const SLICE_FORM_FIELDS: [&str; 10] = [
    "table", "select", "column", "not", "op", "value", "order", "limit", "format", "download",
];

/// `GET /slice`: the index page's slice form. Answers `303 See Other` with the export URL
/// its fields make (relative: `tables/NAME?select=…&COLUMN=[not.]OP.VALUE&order=…&limit=…
/// &format=…[&download]`), empty fields left out, a column named like one of the server's
/// parameters written in double quotes; the export itself checks every name and value.
/// No `table`, an unknown field or operator, a field given twice (`400 Repeated
/// parameter`, as the exports answer), or a filter `value` or `not` without a `column`
/// (which would be dropped): `400` naming it.
pub(super) async fn slice_redirect(
    params: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Response {
    let bad = |name: &str, detail: String| {
        Problem::new(StatusCode::BAD_REQUEST, "Invalid parameter")
            .with_detail(detail)
            .with_extension("parameter", name)
            .into_response()
    };
    let Ok(Query(params)) = params else {
        return bad("", "the query string does not parse".to_owned());
    };
    if let Some((name, _)) = params
        .iter()
        .find(|(name, _)| !SLICE_FORM_FIELDS.contains(&name.as_str()))
    {
        return bad(
            name,
            format!(
                "unknown field \"{name}\"; the slice form has {}",
                SLICE_FORM_FIELDS.join(", ")
            ),
        );
    }
    if let Some(name) = crate::url::repeated(&params, |_| true) {
        return super::negotiate::repeated_problem(name);
    }
    let field = |name: &str| crate::url::last(&params, name).unwrap_or("").trim();
    let table = field("table");
    if table.is_empty() {
        return bad("table", "the slice form needs a table".to_owned());
    }
    let mut query: Vec<(String, String)> = Vec::new();
    if !field("select").is_empty() {
        query.push(("select".into(), field("select").into()));
    }
    let column = field("column");
    // The operator has a default in the form; a value or `not` is a filter asked for.
    if let Some(name) = ["value", "not"]
        .into_iter()
        .find(|name| column.is_empty() && !field(name).is_empty())
    {
        return bad(
            name,
            format!(
                "the filter's {name} \"{}\" needs a column: give one, or leave {name} empty",
                field(name)
            ),
        );
    }
    if !column.is_empty() {
        let op = field("op");
        if !crate::index::FILTER_OPS.contains(&op) {
            return bad(
                "op",
                format!(
                    "the operator must be one of {}, not \"{op}\"",
                    crate::index::FILTER_OPS.join(", ")
                ),
            );
        }
        let value = field("value");
        // `in` takes a list in parentheses; one value typed alone is a list of one.
        let value = if op == "in" && !value.starts_with('(') {
            format!("({value})")
        } else {
            value.to_owned()
        };
        let not = if field("not") == "true" { "not." } else { "" };
        query.push((
            crate::url::filter_param(column),
            format!("{not}{op}.{value}"),
        ));
    }
    for name in ["order", "limit", "format"] {
        if !field(name).is_empty() {
            query.push((name.into(), field(name).into()));
        }
    }
    if field("download") == "true" {
        query.push(("download".into(), String::new()));
    }
    let mut location = format!("tables/{}", crate::url::percent_encode_segment(table));
    if !query.is_empty() {
        location.push('?');
        location.push_str(&serde_urlencoded::to_string(&query).unwrap_or_default());
    }
    match HeaderValue::from_str(&location) {
        Ok(location) => (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response(),
        Err(_) => bad("table", "the table name cannot be a URL".to_owned()),
    }
}
