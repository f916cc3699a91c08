//! The export endpoints, `GET /tables/{table}` and `GET /queries/{name}`: each takes an
//! export slot, negotiates ([`super::negotiate`]) and streams.

use axum::body::Body;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use rowstream::axum::Problem;
use rowstream::tower::StreamPermit;

use super::negotiate::Wanted;
use super::{AppState, RETRY_AFTER_SECS, database_problem};
use crate::db::catalog;
use crate::url::{RESERVED_PARAMS, TABLE_PARAMS};

/// `GET /tables/{table}`; the error is the response to send.
pub(super) async fn export_table(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    uri: Uri,
    table: Result<Path<String>, PathRejection>,
    params: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, Response> {
    let name = path_name(table, "Invalid table name")?;
    tracing::Span::current().record("source", name.as_str());
    let (wanted, params) = Wanted::read(
        &name,
        &headers,
        &uri,
        params,
        TABLE_PARAMS,
        state.values,
        true,
    )?;
    let limit = crate::url::limit(&params).map_err(|detail| {
        Problem::new(StatusCode::BAD_REQUEST, "Invalid parameter")
            .with_detail(detail)
            .with_extension("parameter", "limit")
            .into_response()
    })?;
    let permit = if method == Method::HEAD {
        None
    } else {
        Some(state.permit().ok_or_else(|| busy(state.max_streams))?)
    };
    let resolved = if state.tables.allows(&name) {
        catalog::resolve(&state.db, &name).await
    } else {
        // Not served: the same answer as a missing table, and no query with this name.
        Ok(None)
    };
    let Some(table) = resolved.map_err(|err| database_problem(&err))? else {
        return Err(Problem::new(StatusCode::NOT_FOUND, "No such table")
            .with_detail("no table or view has this name; GET /tables lists them")
            .into_response());
    };
    let after = match (crate::url::last(&params, "after"), table.key_type) {
        (None, _) => None,
        (Some(text), Some(key_type)) => Some(
            key_type
                .parse(text)
                .map_err(|detail| invalid_after(&format!("after: {detail}")))?,
        ),
        (Some(_), None) => {
            return Err(invalid_after(
                "after: this table is not read in key order (no single-column integer or \
                 text primary key), so an export of it cannot resume",
            ));
        }
    };
    let Some(permit) = permit else {
        return Ok(wanted.head(state.compression_level));
    };
    let encoder = wanted.encoder_for_table(&state.db, &table).await?;
    let chunks = state.table_chunks(&table, encoder, limit, after);
    let response = wanted
        .respond(&table.name, chunks, state.compression_level)
        .await;
    Ok(hold(response, permit))
}

/// `GET /queries/{name}`; the error is the response to send.
pub(super) async fn run_query(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    uri: Uri,
    name: Result<Path<String>, PathRejection>,
    params: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, Response> {
    let name = path_name(name, "Invalid query name")?;
    let Some(query) = state.queries.get(&name) else {
        return Err(Problem::new(StatusCode::NOT_FOUND, "No such query")
            .with_detail("no named query has this name; GET /queries lists them")
            .into_response());
    };
    tracing::Span::current().record("source", name.as_str());
    let (wanted, mut params) = Wanted::read(
        &name,
        &headers,
        &uri,
        params,
        &query.param_names(),
        state.values,
        false,
    )?;
    params.retain(|(key, _)| !RESERVED_PARAMS.contains(&key.as_str()));
    let values = query.bind_values(&params).map_err(|err| {
        Problem::new(StatusCode::BAD_REQUEST, "Invalid parameter")
            .with_detail(err.to_string())
            .into_response()
    })?;
    if method == Method::HEAD {
        return Ok(wanted.head(state.compression_level));
    }
    let permit = state.permit().ok_or_else(|| busy(state.max_streams))?;
    let encoder = wanted
        .encoder_for(&state.db, &query.sql, Some(&query.params))
        .await
        .map_err(|err| database_problem(&err))?;
    let chunks = state.query_chunks(query, &values, encoder).map_err(|err| {
        Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "A parameter could not be bound",
        )
        .with_detail(err.to_string())
        .into_response()
    })?;
    let response = wanted.respond(&name, chunks, state.compression_level).await;
    Ok(hold(response, permit))
}

/// `400` problem+json about `?after=`.
fn invalid_after(detail: &str) -> Response {
    Problem::new(StatusCode::BAD_REQUEST, "Invalid parameter")
        .with_detail(detail.to_owned())
        .with_extension("parameter", "after")
        .into_response()
}

/// The name in the request's path, or `400` titled `title`.
#[allow(clippy::result_large_err)] // the error is the response itself, built once
fn path_name(
    path: Result<Path<String>, PathRejection>,
    title: &'static str,
) -> Result<String, Response> {
    match path {
        Ok(Path(name)) => Ok(name),
        Err(rejection) => Err(Problem::new(StatusCode::BAD_REQUEST, title)
            .with_detail(rejection.body_text())
            .into_response()),
    }
}

/// `503` with `Retry-After`: every export slot is taken.
fn busy(max_streams: usize) -> Response {
    metrics::counter!("rowstream_requests_rejected_total", "reason" => "max_streams").increment(1);
    let mut response = Problem::new(StatusCode::SERVICE_UNAVAILABLE, "Too many exports")
        .with_detail(format!(
            "{max_streams} exports are in flight, the most this server runs at once; \
             retry in {RETRY_AFTER_SECS} s"
        ))
        .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
    response
}

/// Keeps `permit` until the response body is finished or dropped (the client left).
/// Every frame passes through as it is, trailers included: a failed export's
/// `rowstream-outcome: error` must reach a client that asked for trailers.
fn hold(response: Response, permit: StreamPermit) -> Response {
    permit.hold(response).map(Body::new)
}
