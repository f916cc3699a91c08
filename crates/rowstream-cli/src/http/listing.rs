//! The endpoints that say what is served: the index page, `/tables`, `/queries`, and
//! `/healthz` and `/metrics`.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};

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
