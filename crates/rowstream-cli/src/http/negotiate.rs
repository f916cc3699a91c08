//! What a request asks of an export ([`Wanted`]): the negotiated format, coding and
//! trailers, and the completion record; and how an export's end is logged.

use std::sync::Arc;

use axum::extract::Query;
use axum::extract::rejection::QueryRejection;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use rowstream::axum::{Negotiated, Problem, StreamResponse};
use rowstream::compress::Level;
use rowstream::metrics::MetricsObserver;
use rowstream::{AnyEncoder, ChunkStream, Csv, Encoder as _, Format, Protobuf};

use rowstream::tower::StreamPermit;

use super::download::{self, CsvOptions};
use super::spool::Started;
use crate::config::Param;
use crate::db::catalog::Table;
use crate::db::columns::ExportRows;
use crate::db::{Database, column_names};
use crate::settings::ValueArgs;
use crate::url::{RESERVED_PARAMS, query_is_utf8, unknown_param};

/// Logs the end of each export in a `stream` span (a child of its request's span, so the
/// request id goes with it): outcome, rows, bytes, chunks, duration and time to first
/// byte; errors at `warn`.
#[derive(Debug)]
struct LogObserver {
    span: tracing::Span,
}

impl rowstream::StreamObserver for LogObserver {
    fn on_error(&self, error: &rowstream::StreamError) {
        let _entered = self.span.enter();
        tracing::warn!(kind = error.kind().as_str(), %error, "export failed");
    }

    fn on_complete(&self, summary: &rowstream::StreamSummary) {
        // Entered, so the line carries the request's span (and its id) too.
        let _entered = self.span.enter();
        tracing::info!(
            outcome = summary.outcome.as_str(),
            rows = summary.items,
            bytes = summary.bytes,
            chunks = summary.chunks,
            duration_ms = summary.duration.as_secs_f64() * 1e3,
            ttfb_ms = summary.time_to_first_byte.map(|t| t.as_secs_f64() * 1e3),
            "export ended"
        );
    }
}

/// What a request asks of an export: its format, completion record, trailers, coding.
pub(super) struct Wanted {
    negotiated: Negotiated,
    complete: bool,
    values: ValueArgs,
    csv: CsvOptions,
    /// The file name of `?download`, for `Content-Disposition`.
    download: Option<String>,
    /// A table's message type (`messageType=` of the protobuf media type).
    message_type: Option<String>,
}

impl Wanted {
    /// The request's query parameters, and what it asks of the export; the error is the
    /// response to send: `400` for a query string that does not parse, or for a
    /// parameter that is neither one of [`RESERVED_PARAMS`] nor in `declared` (a named
    /// query's parameters), before anything else is looked at; for a `table`'s export any
    /// other parameter is the caller's, a filter, and may repeat, and the columnar formats
    /// (which need the column types a table has) are offered too. `values` are the
    /// server's value settings, which the request's parameters override; `source` is the
    /// table or query name, the file name of `?download` without a value.
    #[allow(clippy::result_large_err)]
    pub(super) fn read(
        source: &str,
        headers: &HeaderMap,
        uri: &Uri,
        params: Result<Query<Vec<(String, String)>>, QueryRejection>,
        declared: &[&str],
        table: bool,
        values: ValueArgs,
    ) -> Result<(Self, Vec<(String, String)>), Response> {
        let (filters, columnar) = (table, table);
        let Query(params) = params.map_err(|rejection| {
            Problem::new(StatusCode::BAD_REQUEST, "Invalid query string")
                .with_detail(rejection.body_text())
                .into_response()
        })?;
        let unknown = if filters {
            None
        } else {
            unknown_param(&params, declared)
        };
        if let Some(name) = unknown {
            let known: Vec<&str> = declared.iter().chain(RESERVED_PARAMS).copied().collect();
            return Err(Problem::new(StatusCode::BAD_REQUEST, "Unknown parameter")
                .with_detail(format!(
                    "unknown parameter \"{name}\"; this endpoint takes {}",
                    known.join(", ")
                ))
                .with_extension("parameter", name)
                .with_extension("known", known)
                .into_response());
        }
        let own =
            |name: &str| !filters || declared.contains(&name) || RESERVED_PARAMS.contains(&name);
        if let Some(name) = crate::url::repeated(&params, own) {
            return Err(repeated_problem(name));
        }
        let mut wanted = Self::from_request(headers, uri, &params, columnar)?;
        let invalid = |(name, detail): (&'static str, String)| {
            Problem::new(StatusCode::BAD_REQUEST, "Invalid parameter")
                .with_detail(detail)
                .with_extension("parameter", name)
                .into_response()
        };
        wanted.values = values.with_params(&params).map_err(invalid)?;
        wanted.csv = CsvOptions::read(&params, wanted.format()).map_err(invalid)?;
        wanted.download =
            download::file_name(&params, source, wanted.format(), wanted.csv).map_err(invalid)?;
        wanted.message_type = table.then(|| crate::db::proto::message_type(source));
        Ok((wanted, params))
    }

    /// Negotiates the format and reads `complete`; the error is the response to send.
    #[allow(clippy::result_large_err)]
    fn from_request(
        headers: &HeaderMap,
        uri: &Uri,
        params: &[(String, String)],
        columnar: bool,
    ) -> Result<Self, Response> {
        if !query_is_utf8(uri.query().unwrap_or("")) {
            return Err(
                Problem::new(StatusCode::BAD_REQUEST, "Invalid query string")
                    .with_detail("the query string must be UTF-8 once percent-decoded")
                    .into_response(),
            );
        }
        // Arrow, Parquet and protobuf need column types: a table's come from the catalog;
        // a named query's result has none to read before it runs.
        let offered: Vec<Format> = if columnar {
            Format::available_with_schema().collect()
        } else {
            Format::available().collect()
        };
        let negotiated = Negotiated::from_headers(headers, uri.query(), &offered)
            .map_err(IntoResponse::into_response)?;
        let complete = match params.iter().rev().find(|(k, _)| k == "complete") {
            None => false,
            Some((_, v)) => match v.as_str() {
                "" | "true" | "1" => true,
                "false" | "0" => false,
                _ => {
                    return Err(Problem::new(StatusCode::BAD_REQUEST, "Invalid parameter")
                        .with_detail(format!(
                            "complete must be true or false (1 and 0 too; empty means true), \
                             not \"{v}\""
                        ))
                        .with_extension("parameter", "complete")
                        .into_response());
                }
            },
        };
        let whole_when = match negotiated.format() {
            // The formats that can end with a completion record.
            Format::Ndjson | Format::JsonSeq | Format::Csv => None,
            Format::Json => Some(
                "a JSON array is complete exactly when it parses: a failed export is never \
                 closed",
            ),
            Format::Msgpack => Some(
                "a failed MessagePack export is cut: curl exits non-zero, and with TE: \
                 trailers the rowstream-outcome trailer says error",
            ),
            Format::Arrow => Some(
                "an Arrow stream has its end-of-stream marker only on success: readers \
                 refuse a failed one",
            ),
            Format::Parquet => {
                Some("a Parquet file has its footer only on success: readers refuse a failed one")
            }
            Format::Protobuf => {
                Some("a failed protobuf export ends with a cut message that readers refuse")
            }
            _ => Some("the format has no completion record"),
        };
        if let (true, Some(why)) = (complete, whole_when) {
            return Err(Problem::new(StatusCode::BAD_REQUEST, "Invalid parameter")
                .with_detail(format!(
                    "complete=true is for ndjson, jsonseq and csv; {} has no records to \
                     end with one ({why})",
                    negotiated.format().name(),
                ))
                .with_extension("parameter", "complete")
                .into_response());
        }
        let span = tracing::Span::current();
        span.record("format", negotiated.format().name());
        span.record("encoding", negotiated.coding().as_str());
        Ok(Self {
            negotiated,
            complete,
            values: ValueArgs::default(),
            csv: CsvOptions::default(),
            download: None,
            message_type: None,
        })
    }

    fn format(&self) -> Format {
        self.negotiated.format()
    }

    /// The encoder; a CSV one with the column names of `sql`'s result as its header
    /// ([`column_names`], with `params`' types) unless `header=false`.
    pub(super) async fn encoder_for(
        &self,
        db: &Database,
        sql: &str,
        params: Option<&[Param]>,
    ) -> Result<AnyEncoder, sqlx::Error> {
        let columns = if self.format() == Format::Csv && self.csv.header {
            Some(column_names(db, sql, params).await?)
        } else {
            None
        };
        Ok(self.encoder(columns))
    }

    /// The encoder of a table's export whose result has the columns of `header_sql`
    /// (`select`: those the slice selects, in order; `reads`: the rows it reads): for
    /// Arrow and Parquet with the schema from the catalog's column types
    /// ([`crate::db::columns`]) of those columns, for protobuf with the table's message
    /// ([`crate::db::proto`]; a row of selected columns sets only their fields), else as
    /// [`encoder_for`](Self::encoder_for).
    pub(super) async fn encoder_for_table(
        &self,
        db: &Database,
        table: &Table,
        header_sql: &str,
        select: Option<&[String]>,
        reads: Option<ExportRows<'_>>,
    ) -> Result<AnyEncoder, Response> {
        if !self.format().needs_schema() {
            return self
                .encoder_for(db, header_sql, None)
                .await
                .map_err(|err| super::database_problem(&err));
        }
        if self.format() == Format::Protobuf {
            let message = crate::db::proto::message_schema(db, table)
                .await
                .map_err(|err| super::database_problem(&err))?;
            let message = match select {
                None => message,
                Some(names) => message.select(names),
            };
            return Ok(AnyEncoder::from(Protobuf::with_schema(message)));
        }
        let schema = crate::db::columns::arrow_schema(db, table, reads)
            .await
            .map_err(|err| super::database_problem(&err))?;
        let schema = match select {
            None => schema,
            Some(names) => {
                let indices: Vec<usize> = names
                    .iter()
                    .filter_map(|name| schema.index_of(name).ok())
                    .collect();
                schema.project(&indices).map_err(|err| {
                    Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "Unsupported column type")
                        .with_detail(err.to_string())
                        .into_response()
                })?
            }
        };
        AnyEncoder::with_schema(self.format(), Arc::new(schema)).map_err(|err| {
            Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "Unsupported column type")
                .with_detail(err.to_string())
                .into_response()
        })
    }

    /// The encoder; a CSV one with the request's [`CsvOptions`] and `columns` as its
    /// header.
    fn encoder(&self, columns: Option<Vec<String>>) -> AnyEncoder {
        let encoder = match self.format() {
            Format::Csv => AnyEncoder::from(
                self.csv
                    .apply(Csv::new(), columns.unwrap_or_default())
                    .completion_record(self.complete),
            ),
            _ => self.negotiated.encoder().completion_record(self.complete),
        };
        self.values.apply(encoder)
    }

    fn response(&self, level: Level) -> StreamResponse {
        StreamResponse::new()
            .trailers(self.negotiated.trailers())
            .compression(self.negotiated.coding(), level)
    }

    /// The answer to `HEAD`.
    pub(super) fn head(&self, level: Level) -> Response {
        let content_type =
            if let (Format::Protobuf, Some(name)) = (self.format(), &self.message_type) {
                Protobuf::new().message_type(name).content_type().to_owned()
            } else if self.format().needs_schema() {
                self.format().media_type().to_owned()
            } else {
                self.encoder(Some(Vec::new())).content_type().to_owned()
            };
        let response = self.response(level).head(&content_type).into_response();
        self.disposition(response)
    }

    /// `response` with `Content-Disposition: attachment` if `?download` asked for it.
    fn disposition(&self, mut response: Response) -> Response {
        if let Some(name) = &self.download {
            response.headers_mut().insert(
                header::CONTENT_DISPOSITION,
                download::content_disposition(name),
            );
        }
        response
    }

    /// `chunks`, observed by a metrics observer and a [`LogObserver`].
    fn observed(&self, source: &str, chunks: ChunkStream) -> ChunkStream {
        let observer = MetricsObserver::new([
            ("source", source.to_owned()),
            ("format", self.format().name().to_owned()),
        ]);
        let log = LogObserver {
            span: tracing::info_span!(
                "stream",
                source,
                format = self.format().name(),
                encoding = self.negotiated.coding().as_str(),
            ),
        };
        chunks.with_observer(Arc::new((observer, log)))
    }

    /// Sends `chunks`, observed by a metrics observer and a [`LogObserver`].
    pub(super) async fn respond(
        &self,
        source: &str,
        chunks: ChunkStream,
        level: Level,
    ) -> Response {
        let chunks = self.observed(source, chunks);
        let response = self.response(level).respond(chunks).await.into_response();
        self.disposition(response)
    }

    /// `chunks`, observed as [`respond`](Self::respond) observes them, to be spooled
    /// while they hold `permit`.
    pub(super) fn spooled(
        &self,
        source: &str,
        chunks: ChunkStream,
        permit: StreamPermit,
    ) -> Started {
        Started {
            chunks: self.observed(source, chunks),
            permit,
            disposition: self.download.as_deref().map(download::content_disposition),
        }
    }

    /// The spool key of this export at `uri` with `params` ([`super::spool::key`]).
    pub(super) fn spool_key(&self, uri: &Uri, params: &[(String, String)]) -> String {
        super::spool::key(self.format().name(), uri.path(), params)
    }
}

/// `400 Repeated parameter` naming `name`, given more than once where it takes one value
/// ([`crate::url::repeated`]).
pub(super) fn repeated_problem(name: &str) -> Response {
    Problem::new(StatusCode::BAD_REQUEST, "Repeated parameter")
        .with_detail(format!(
            "\"{name}\" is given more than once; give each parameter once"
        ))
        .with_extension("parameter", name)
        .into_response()
}
