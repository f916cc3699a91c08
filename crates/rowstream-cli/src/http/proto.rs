//! `GET /tables/{table}.proto`: the proto3 message of a table's rows
//! ([`crate::db::proto`]), the schema of its `?format=protobuf` export.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rowstream::axum::Problem;

use super::{AppState, database_problem};
use crate::db::catalog;

/// The `Content-Type` of a `.proto` file: `text/plain; charset=utf-8` (the Protocol
/// Buffers language has no registered media type).
pub(super) const PROTO_CONTENT_TYPE: &str = "text/plain; charset=utf-8";

/// The `.proto` of the served table `name`; `404` as for its export when there is none.
pub(super) async fn table_proto(state: &AppState, name: &str) -> Result<Response, Response> {
    let resolved = if state.tables.allows(name) {
        catalog::resolve(&state.db, name).await
    } else {
        Ok(None)
    };
    let Some(table) = resolved.map_err(|err| database_problem(&err))? else {
        return Err(Problem::new(StatusCode::NOT_FOUND, "No such table")
            .with_detail("no table or view has this name; GET /tables lists them")
            .into_response());
    };
    let message = crate::db::proto::message_schema(&state.db, &table)
        .await
        .map_err(|err| database_problem(&err))?;
    let mut response = message.to_proto().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(PROTO_CONTENT_TYPE),
    );
    Ok(response)
}
