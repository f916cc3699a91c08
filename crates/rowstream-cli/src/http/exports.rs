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
use crate::db::slice::{CountKind, RowCount};
use crate::db::{self, catalog};
use crate::slice::Slice;
use crate::url::{RESERVED_PARAMS, TABLE_PARAMS};

/// The response header with the row count of `Prefer: count=exact|estimated`: the rows
/// the export will send (a whole number, capped at `limit`), before the first byte.
pub const COUNT_HEADER: &str = "rowstream-count";

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
    if let Some(base) = name.strip_suffix(".proto") {
        // A table of that very name is exported; else the message of `base`.
        let exact = state.tables.allows(&name)
            && catalog::resolve(&state.db, &name)
                .await
                .map_err(|err| database_problem(&err))?
                .is_some();
        if !exact {
            return super::proto::table_proto(&state, base).await;
        }
    }
    tracing::Span::current().record("source", name.as_str());
    let (wanted, params) = Wanted::read(
        &name,
        &headers,
        &uri,
        params,
        TABLE_PARAMS,
        true,
        state.values,
    )?;
    let limit = crate::url::limit(&params).map_err(|detail| invalid("limit", detail))?;
    if let (Some(limit), Some(max)) = (limit, state.streamer.limits().get_max_items()) {
        if limit > max {
            return Err(invalid(
                "limit",
                format!("limit={limit} is above this server's --max-rows, {max}"),
            ));
        }
    }
    // The slice parses before any table is looked up; a filter that does not parse is
    // reported once the table's columns say whether it names one.
    let parsed = crate::slice::parse(&params);
    if let Err(err) = &parsed {
        if err.column.is_none() {
            return Err(slice_problem(err));
        }
    }
    let spooled = state.spool.requested(&params, &headers)?;
    let permit = if method == Method::HEAD || spooled {
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
                .map_err(|detail| invalid("after", format!("after: {detail}")))?,
        ),
        (Some(_), None) => {
            return Err(invalid(
                "after",
                "after: this table is not read in key order (no single-column integer or \
                 text primary key), so an export of it cannot resume"
                    .to_owned(),
            ));
        }
    };
    // Every name checked against the catalog, every value read, before any query runs.
    // The columns `select=` asks for, in order (the Arrow schema keeps only them).
    let parsed_select: Option<Vec<String>> = parsed.as_ref().ok().and_then(|s| s.select.clone());
    let sliced = match parsed {
        Ok(slice) if slice.is_empty() => None,
        parsed => {
            let columns = db::slice::columns(&state.db, &table)
                .await
                .map_err(|err| database_problem(&err))?;
            let slice = parsed
                .map_err(|err| slice_problem(&db::slice::unknown_or(err, &table, &columns)))?;
            Some(
                db::slice::build(&state.db, &table, &columns, &slice, limit, after.as_ref())
                    .map_err(|err| slice_problem(&err))?,
            )
        }
    };
    // Prefer: count=… — counted before the first byte, with the export's filters.
    let count = match CountKind::from_prefer(
        headers
            .get_all("prefer")
            .iter()
            .filter_map(|v| v.to_str().ok()),
    ) {
        None => None,
        Some(kind) => {
            let whole;
            let query = match &sliced {
                Some(query) => query,
                None => {
                    whole = db::slice::build(
                        &state.db,
                        &table,
                        &[],
                        &Slice::default(),
                        limit,
                        after.as_ref(),
                    )
                    .map_err(|err| slice_problem(&err))?;
                    &whole
                }
            };
            Some(
                db::slice::count(&state.db, &table, query, after.as_ref(), kind)
                    .await
                    .map_err(|err| database_problem(&err))?,
            )
        }
    };
    if spooled {
        let key = wanted.spool_key(&uri, &params);
        let start = || async {
            let permit = state.permit().ok_or_else(|| busy(state.max_streams))?;
            let select = sliced.as_ref().and(parsed_select.as_deref());
            let chunks = table_export(
                &state,
                &wanted,
                &table,
                sliced.as_ref(),
                select,
                limit,
                after.clone(),
            )
            .await?;
            Ok(wanted.spooled(&table.name, chunks, permit))
        };
        let head = method == Method::HEAD;
        let response = state.spool.respond(key, &headers, head, start).await;
        return Ok(with_count(response, count));
    }
    let Some(permit) = permit else {
        return Ok(with_count(wanted.head(state.compression_level), count));
    };
    let select = sliced.as_ref().and(parsed_select.as_deref());
    let chunks = table_export(
        &state,
        &wanted,
        &table,
        sliced.as_ref(),
        select,
        limit,
        after,
    )
    .await?;
    let response = wanted
        .respond(&table.name, chunks, state.compression_level)
        .await;
    Ok(hold(with_count(response, count), permit))
}

/// Starts the export of `table`, whole or `sliced` (`select`: the columns it selects),
/// with the encoder the request wants; the error is the response to send.
async fn table_export(
    state: &AppState,
    wanted: &Wanted,
    table: &catalog::Table,
    sliced: Option<&db::slice::SliceQuery>,
    select: Option<&[String]>,
    limit: Option<u64>,
    after: Option<rowstream::keyset::Key>,
) -> Result<rowstream::ChunkStream, Response> {
    let header_sql = match sliced {
        Some(query) => query.header_sql(),
        None => table.select_sql(&state.db),
    };
    // The rows the export reads, whose SQLite storage classes make the Arrow schema.
    let whole = match sliced {
        Some(_) => None,
        None => db::slice::build(
            &state.db,
            table,
            &[],
            &Slice::default(),
            limit,
            after.as_ref(),
        )
        .ok(),
    };
    let reads = sliced
        .or(whole.as_ref())
        .map(|query| db::columns::ExportRows {
            query,
            after: after.as_ref(),
        });
    let encoder = wanted
        .encoder_for_table(&state.db, table, &header_sql, select, reads)
        .await?;
    Ok(match sliced {
        Some(query) => state.slice_chunks(table, query, encoder, after),
        None => state.table_chunks(table, encoder, limit, after),
    })
}

/// `response` with the row count in `rowstream-count` and what was counted in
/// `Preference-Applied` (RFC 7240), when the export started (a problem response gets
/// neither).
fn with_count(mut response: Response, count: Option<RowCount>) -> Response {
    if let (Some(count), true) = (count, response.status().is_success()) {
        let headers = response.headers_mut();
        headers.insert(COUNT_HEADER, HeaderValue::from(count.rows));
        headers.insert(
            "preference-applied",
            HeaderValue::from_static(count.applied()),
        );
    }
    response
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
        false,
        state.values,
    )?;
    let all_params = params.clone();
    params.retain(|(key, _)| !RESERVED_PARAMS.contains(&key.as_str()));
    let values = query.bind_values(&params).map_err(|err| {
        Problem::new(StatusCode::BAD_REQUEST, "Invalid parameter")
            .with_detail(err.to_string())
            .into_response()
    })?;
    if state.spool.requested(&all_params, &headers)? {
        let key = wanted.spool_key(&uri, &all_params);
        let start = || async {
            let permit = state.permit().ok_or_else(|| busy(state.max_streams))?;
            let encoder = wanted
                .encoder_for(&state.db, &query.sql, Some(&query.params))
                .await
                .map_err(|err| database_problem(&err))?;
            let chunks = state
                .query_chunks(query, &values, encoder)
                .map_err(|err| unbound(&err))?;
            Ok(wanted.spooled(&name, chunks, permit))
        };
        let head = method == Method::HEAD;
        return Ok(state.spool.respond(key, &headers, head, start).await);
    }
    if method == Method::HEAD {
        return Ok(wanted.head(state.compression_level));
    }
    let permit = state.permit().ok_or_else(|| busy(state.max_streams))?;
    let encoder = wanted
        .encoder_for(&state.db, &query.sql, Some(&query.params))
        .await
        .map_err(|err| database_problem(&err))?;
    let chunks = state
        .query_chunks(query, &values, encoder)
        .map_err(|err| unbound(&err))?;
    let response = wanted.respond(&name, chunks, state.compression_level).await;
    Ok(hold(response, permit))
}

/// `500` problem+json: a named query's parameter could not be bound.
fn unbound(err: &sqlx::error::BoxDynError) -> Response {
    Problem::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "A parameter could not be bound",
    )
    .with_detail(err.to_string())
    .into_response()
}

/// `400` problem+json about the parameter `name`.
fn invalid(name: &str, detail: String) -> Response {
    Problem::new(StatusCode::BAD_REQUEST, "Invalid parameter")
        .with_detail(detail)
        .with_extension("parameter", name)
        .into_response()
}

/// `400` problem+json about a slice's parameter: `Unknown parameter` with the known ones
/// for a filter on no column (a misspelt parameter looks the same), else `Invalid
/// parameter`.
fn slice_problem(err: &crate::slice::SliceError) -> Response {
    if !err.unknown {
        return invalid(&err.parameter, err.detail.clone());
    }
    let known: Vec<&str> = TABLE_PARAMS
        .iter()
        .chain(RESERVED_PARAMS)
        .copied()
        .collect();
    Problem::new(StatusCode::BAD_REQUEST, "Unknown parameter")
        .with_detail(format!(
            "unknown parameter \"{}\": {}; this endpoint takes {} and filters on the \
             table's columns",
            err.parameter,
            err.detail,
            known.join(", ")
        ))
        .with_extension("parameter", err.parameter.clone())
        .with_extension("known", known)
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
