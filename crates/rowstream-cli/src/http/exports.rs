//! The export endpoints, `GET /tables/{table}` and `GET /queries/{name}`: each takes an
//! export slot, negotiates ([`super::negotiate`]) and streams.

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, BodyDataStream, Bytes};
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use futures_util::{Stream, StreamExt as _};
use rowstream::Format;
use rowstream::axum::Problem;
use tokio::sync::OwnedSemaphorePermit;

use super::negotiate::Wanted;
use super::{AppState, RETRY_AFTER_SECS, database_problem, invalid_query_string};
use crate::db::{catalog, column_names};
use crate::url::RESERVED_PARAMS;

pub(super) async fn export_table(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    uri: Uri,
    table: Result<Path<String>, PathRejection>,
    params: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Response {
    let name = match table {
        Ok(Path(name)) => name,
        Err(rejection) => {
            return Problem::new(StatusCode::BAD_REQUEST, "Invalid table name")
                .with_detail(rejection.body_text())
                .into_response();
        }
    };
    tracing::Span::current().record("source", name.as_str());
    let params = match params {
        Ok(Query(params)) => params,
        Err(rejection) => return invalid_query_string(&rejection),
    };
    let wanted = match Wanted::from_request(&headers, &uri, &params) {
        Ok(wanted) => wanted,
        Err(response) => return response,
    };
    let permit = if method == Method::HEAD {
        None
    } else {
        match state.permit() {
            Some(permit) => Some(permit),
            None => return busy(state.max_streams),
        }
    };
    let resolved = if state.tables.allows(&name) {
        catalog::resolve(&state.db, &name).await
    } else {
        // Not served: the same answer as a missing table, and no query with this name.
        Ok(None)
    };
    let table = match resolved {
        Ok(Some(table)) => table,
        Ok(None) => {
            return Problem::new(StatusCode::NOT_FOUND, "No such table")
                .with_detail("no table or view has this name; GET /tables lists them")
                .into_response();
        }
        Err(err) => return database_problem(&err),
    };
    let Some(permit) = permit else {
        return wanted.head(state.compression_level);
    };
    let columns = if wanted.format() == Format::Csv {
        match column_names(&state.db, &table.select_sql(&state.db), None).await {
            Ok(columns) => Some(columns),
            Err(err) => return database_problem(&err),
        }
    } else {
        None
    };
    let chunks = state.table_chunks(&table, wanted.encoder(columns));
    wanted
        .respond(&table.name, chunks, permit, state.compression_level)
        .await
}

pub(super) async fn run_query(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    uri: Uri,
    name: Result<Path<String>, PathRejection>,
    params: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Response {
    let name = match name {
        Ok(Path(name)) => name,
        Err(rejection) => {
            return Problem::new(StatusCode::BAD_REQUEST, "Invalid query name")
                .with_detail(rejection.body_text())
                .into_response();
        }
    };
    let Some(query) = state.queries.get(&name) else {
        return Problem::new(StatusCode::NOT_FOUND, "No such query")
            .with_detail("no named query has this name; GET /queries lists them")
            .into_response();
    };
    tracing::Span::current().record("source", name.as_str());
    let mut params = match params {
        Ok(Query(params)) => params,
        Err(rejection) => return invalid_query_string(&rejection),
    };
    let wanted = match Wanted::from_request(&headers, &uri, &params) {
        Ok(wanted) => wanted,
        Err(response) => return response,
    };
    params.retain(|(key, _)| !RESERVED_PARAMS.contains(&key.as_str()));
    let values = match query.bind_values(&params) {
        Ok(values) => values,
        Err(err) => {
            return Problem::new(StatusCode::BAD_REQUEST, "Invalid parameter")
                .with_detail(err.to_string())
                .into_response();
        }
    };
    if method == Method::HEAD {
        return wanted.head(state.compression_level);
    }
    let Some(permit) = state.permit() else {
        return busy(state.max_streams);
    };
    let columns = if wanted.format() == Format::Csv {
        match column_names(&state.db, &query.sql, Some(&query.params)).await {
            Ok(columns) => Some(columns),
            Err(err) => return database_problem(&err),
        }
    } else {
        None
    };
    match state.query_chunks(query, &values, wanted.encoder(columns)) {
        Ok(chunks) => {
            wanted
                .respond(&name, chunks, permit, state.compression_level)
                .await
        }
        Err(err) => Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "A parameter could not be bound",
        )
        .with_detail(err.to_string())
        .into_response(),
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
pub(super) fn hold(response: Response, permit: OwnedSemaphorePermit) -> Response {
    response.map(|body| {
        Body::from_stream(Held {
            body: body.into_data_stream(),
            _permit: permit,
        })
    })
}

/// A response body that holds an export slot for as long as it lives.
struct Held {
    body: BodyDataStream,
    _permit: OwnedSemaphorePermit,
}

impl Stream for Held {
    type Item = Result<Bytes, axum::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.body.poll_next_unpin(cx)
    }
}
