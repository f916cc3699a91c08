//! What is served, described: `GET /tables/{table}/schema` (a table's columns) and
//! `GET /openapi.json` (an OpenAPI 3.1 document of every endpoint, with each table's row
//! shape as a JSON Schema, draft 2020-12 as OpenAPI 3.1 uses it).

use std::collections::BTreeMap;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Json, Response};
use rowstream::Format;
use rowstream::axum::Problem;
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::{AppState, database_problem};
use crate::config::{NamedQuery, ParamType};
use crate::db::catalog::{self, Plan, Table};
use crate::db::{Database, slice};

/// `GET /tables/{table}/schema`: the table's columns ([`TableDoc`] as JSON), or `404` as
/// for its export; a query parameter is a `400` ([`takes_no_params`]).
pub(super) async fn table_schema(
    State(state): State<AppState>,
    table: Result<Path<String>, PathRejection>,
    uri: Uri,
) -> Response {
    let Ok(Path(name)) = table else {
        return Problem::new(StatusCode::BAD_REQUEST, "Invalid table name").into_response();
    };
    if let Err(refused) = takes_no_params(&uri) {
        return refused;
    }
    let resolved = if state.tables.allows(&name) {
        catalog::resolve(&state.db, &name).await
    } else {
        Ok(None)
    };
    match resolved {
        Err(err) => database_problem(&err),
        Ok(None) => Problem::new(StatusCode::NOT_FOUND, "No such table")
            .with_detail("no table or view has this name; GET /tables lists them")
            .into_response(),
        Ok(Some(table)) => match table_doc(&state.db, &table).await {
            Ok(doc) => Json(doc).into_response(),
            Err(err) => database_problem(&err),
        },
    }
}

/// For an endpoint that takes no query parameters: `400 Unknown parameter` (problem+json
/// with `parameter` and an empty `known`) for the first one, as the exports answer a
/// parameter they do not take, so a typo is refused rather than ignored. An empty query
/// (`?`, `?&`) is none.
#[allow(clippy::result_large_err)] // the error is the response itself, built once
fn takes_no_params(uri: &Uri) -> Result<(), Response> {
    let query = uri.query().unwrap_or("");
    let Some((name, _)) = form_urlencoded::parse(query.as_bytes()).next() else {
        return Ok(());
    };
    Err(Problem::new(StatusCode::BAD_REQUEST, "Unknown parameter")
        .with_detail(format!(
            "unknown parameter \"{name}\"; this endpoint takes no parameters"
        ))
        .with_extension("parameter", name.into_owned())
        .with_extension("known", Vec::<&str>::new())
        .into_response())
}

/// `GET /openapi.json`: the OpenAPI 3.1 document of what this server serves (one catalog
/// lookup per served table); a query parameter is a `400` ([`takes_no_params`]).
pub(super) async fn openapi(State(state): State<AppState>, uri: Uri) -> Response {
    if let Err(refused) = takes_no_params(&uri) {
        return refused;
    }
    let names = match state.tables().await {
        Ok(names) => names,
        Err(err) => return database_problem(&err),
    };
    let mut tables = Vec::with_capacity(names.len());
    for name in &names {
        match catalog::resolve(&state.db, name).await {
            Ok(Some(table)) => match table_doc(&state.db, &table).await {
                Ok(doc) => tables.push(doc),
                Err(err) => return database_problem(&err),
            },
            // Dropped since it was listed.
            Ok(None) => {}
            Err(err) => return database_problem(&err),
        }
    }
    let formats = |all: &mut dyn Iterator<Item = Format>| -> Vec<(&'static str, &'static str)> {
        all.map(|f| (f.name(), f.media_type())).collect()
    };
    // Tables have column types, so also the columnar formats; named queries do not.
    let table_formats = formats(&mut Format::available_with_schema());
    let query_formats = formats(&mut Format::available());
    Json(document(
        &tables,
        &state.queries,
        &table_formats,
        &query_formats,
        state.metrics.is_some(),
    ))
    .into_response()
}

/// The description of `table` from the catalog.
async fn table_doc(db: &Database, table: &Table) -> Result<TableDoc, sqlx::Error> {
    let columns = slice::columns(db, table).await?;
    let (order, keyset) = match &table.plan {
        Plan::Keyset { key } => (vec![key.clone()], true),
        Plan::Single { order_by } => (order_by.clone(), false),
    };
    let columns = columns
        .into_iter()
        .map(|c| ColumnDoc {
            json_type: json_type(
                db.kind(),
                &c.type_name,
                table.json_columns.contains(&c.name),
            ),
            key: order.contains(&c.name),
            nullable: c.nullable,
            db_type: c.type_name,
            name: c.name,
        })
        .collect();
    Ok(TableDoc {
        name: table.name.clone(),
        order,
        keyset,
        columns,
    })
}

/// A served table, as the documents describe it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(super) struct TableDoc {
    /// The name, as the catalog spells it.
    #[serde(rename = "table")]
    pub(super) name: String,
    /// The columns that order an export by default (the keyset key, the primary key, or
    /// SQLite's rowid alias); empty when the database's own order is used.
    pub(super) order: Vec<String>,
    /// Whether the export is read by keyset pagination on `order`'s one column (then
    /// `?after=` works).
    pub(super) keyset: bool,
    /// The columns in table order.
    pub(super) columns: Vec<ColumnDoc>,
}

/// A column, as the documents describe it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(super) struct ColumnDoc {
    /// The name, as the catalog spells it.
    pub(super) name: String,
    /// The type's name in the database's catalog.
    #[serde(rename = "type")]
    pub(super) db_type: String,
    /// The JSON type of its values in the JSON formats: `integer`, `number`, `string`,
    /// `boolean`, `array`, or `any` (JSON columns, SQLite columns of no affinity).
    pub(super) json_type: &'static str,
    /// Whether it may hold NULL (views: always, as the catalog cannot say).
    pub(super) nullable: bool,
    /// Whether it is (part of) the primary key.
    pub(super) key: bool,
}

/// The JSON type of a column of `db_type` on database `kind` (`sqlite`, `postgres`,
/// `mysql`, `mariadb`), and whether its values are JSON embedded as is.
pub(super) fn json_type(kind: &str, db_type: &str, json_column: bool) -> &'static str {
    if json_column {
        return "any";
    }
    let ty = db_type.to_ascii_lowercase();
    match kind {
        "postgres" => {
            if ty.ends_with("[]") {
                "array"
            } else if matches!(ty.as_str(), "smallint" | "integer" | "bigint" | "oid") {
                "integer"
            } else if matches!(ty.as_str(), "real" | "double precision") {
                "number"
            } else if ty == "boolean" {
                "boolean"
            } else if matches!(ty.as_str(), "json" | "jsonb") {
                "any"
            } else {
                // numeric (exact digits), dates and times, bytea (base64), uuid, text,
                // and every type read through its text form.
                "string"
            }
        }
        "sqlite" => {
            if ty.contains("int") {
                "integer"
            } else if ["char", "clob", "text"].iter().any(|t| ty.contains(t)) || ty.contains("blob")
            {
                "string"
            } else if ["real", "floa", "doub"].iter().any(|t| ty.contains(t)) {
                "number"
            } else {
                "any"
            }
        }
        _ => match ty.as_str() {
            // TINYINT(1), MySQL's BOOLEAN: true/false (a value other than 0 and 1 as a
            // number).
            "tinyint(1)" => "boolean",
            "tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint" | "year"
            | "bit" => "integer",
            "float" | "double" | "real" => "number",
            "json" => "any",
            _ => "string",
        },
    }
}

/// The JSON Schema of one value of `column`.
fn value_schema(column: &ColumnDoc) -> Value {
    let mut schema = Map::new();
    let base: Option<&str> = match column.json_type {
        "any" => None,
        // NaN and ±Infinity are null by default (`non_finite`).
        "number" => {
            schema.insert("type".into(), json!(["number", "null"]));
            None
        }
        other => Some(other),
    };
    if let Some(base) = base {
        if column.nullable {
            schema.insert("type".into(), json!([base, "null"]));
        } else {
            schema.insert("type".into(), json!(base));
        }
    }
    schema.insert(
        "description".into(),
        json!(format!("{} ({})", column.name, column.db_type)),
    );
    Value::Object(schema)
}

/// The JSON Schema of one row of `table`: an object with every column, in order.
fn row_schema(table: &TableDoc) -> Value {
    let properties: Map<String, Value> = table
        .columns
        .iter()
        .map(|c| (c.name.clone(), value_schema(c)))
        .collect();
    let required: Vec<&str> = table.columns.iter().map(|c| c.name.as_str()).collect();
    json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    })
}

/// The media types an export answers, with the schema of each body.
fn contents(row: &Value, formats: &[(&str, &str)]) -> Value {
    let mut map = Map::new();
    for (name, media_type) in formats {
        let schema = match *name {
            "json" => json!({ "type": "array", "items": row }),
            // One row per line (NDJSON), per record (JSON-seq): the schema of each.
            "ndjson" | "jsonseq" => row.clone(),
            "csv" => {
                json!({ "type": "string", "description": "RFC 4180, a header row of the column names" })
            }
            _ => {
                json!({ "type": "string", "contentMediaType": media_type, "description": "binary" })
            }
        };
        map.insert((*media_type).to_owned(), json!({ "schema": schema }));
    }
    Value::Object(map)
}

fn param(name: &str, description: &str, schema: Value) -> Value {
    json!({ "name": name, "in": "query", "required": false, "description": description, "schema": schema })
}

/// The export parameters every export endpoint takes.
fn export_params(formats: &[(&str, &str)]) -> Vec<Value> {
    let names: Vec<&str> = formats.iter().map(|(name, _)| *name).collect();
    vec![
        param(
            "format",
            "the format, over Accept",
            json!({ "type": "string", "enum": names }),
        ),
        param(
            "complete",
            "end NDJSON, JSON-seq and CSV with a completion record",
            json!({ "type": "boolean" }),
        ),
        param(
            "non_finite",
            "NaN and ±Infinity in JSON",
            json!({ "type": "string", "enum": ["null", "string", "error"] }),
        ),
        param(
            "big_integers",
            "integers beyond 2^53 − 1 in JSON and MessagePack",
            json!({ "type": "string", "enum": ["number", "string"] }),
        ),
        param(
            "formula_guard",
            "CSV: prefix formula-like fields with '",
            json!({ "type": "boolean" }),
        ),
        param(
            "download",
            "Content-Disposition: attachment, with this file name (RFC 6266)",
            json!({ "type": "string" }),
        ),
        param(
            "bom",
            "CSV: a UTF-8 byte order mark first",
            json!({ "type": "boolean" }),
        ),
        param(
            "header",
            "CSV: the header row",
            json!({ "type": "boolean" }),
        ),
        param(
            "delimiter",
            "CSV: the field delimiter",
            json!({ "type": "string", "enum": [",", ";", "tab"] }),
        ),
        param(
            "spool",
            "write the export to a file first, then serve it with Content-Length and byte ranges",
            json!({ "type": "boolean" }),
        ),
    ]
}

fn problem_responses() -> Value {
    let problem = json!({ "$ref": "#/components/responses/Problem" });
    json!({
        "400": problem, "404": problem, "406": problem, "500": problem, "503": problem,
    })
}

fn param_schema(ty: ParamType) -> Value {
    match ty {
        ParamType::Int => json!({ "type": "integer", "format": "int64" }),
        ParamType::Float => json!({ "type": "number" }),
        ParamType::Text => json!({ "type": "string" }),
        ParamType::Bool => json!({ "type": "boolean" }),
        ParamType::Date => json!({ "type": "string", "format": "date" }),
    }
}

/// (name, media type) of each format an export answers.
type Formats<'a> = &'a [(&'a str, &'a str)];

/// The OpenAPI 3.1 document: `tables` with their rows' schemas, `queries`, and the
/// fixed endpoints; the formats the table exports and the named queries answer.
pub(super) fn document(
    tables: &[TableDoc],
    queries: &BTreeMap<String, NamedQuery>,
    table_formats: Formats<'_>,
    query_formats: Formats<'_>,
    metrics: bool,
) -> Value {
    let mut paths = Map::new();
    let mut schemas = Map::new();
    let text = |description: &str, media: &str| json!({ "description": description, "content": { media: { "schema": { "type": "string" } } } });
    paths.insert("/".into(), json!({ "get": { "summary": "The index page", "responses": { "200": text("tables and named queries", "text/html") } } }));
    paths.insert("/healthz".into(), json!({ "get": { "summary": "Liveness", "responses": { "200": text("ok", "text/plain") } } }));
    paths.insert("/readyz".into(), json!({ "get": { "summary": "Readiness: the database answers and the server is not stopping", "responses": { "200": text("ready", "text/plain"), "503": { "$ref": "#/components/responses/Problem" } } } }));
    paths.insert("/openapi.json".into(), json!({ "get": { "summary": "This document", "responses": { "200": { "description": "OpenAPI 3.1", "content": { "application/json": { "schema": { "type": "object" } } } } } } }));
    paths.insert("/tables".into(), json!({ "get": { "summary": "The served tables and views", "responses": { "200": { "description": "their names, sorted", "content": { "application/json": { "schema": { "type": "array", "items": { "type": "string" } } } } } } } }));
    paths.insert("/queries".into(), json!({ "get": { "summary": "The named queries and their parameters", "responses": { "200": { "description": "name, description, params", "content": { "application/json": { "schema": { "type": "array", "items": { "type": "object" } } } } } } } }));
    let form_fields: Vec<Value> = [
        "table", "select", "column", "not", "op", "value", "order", "limit", "format", "download",
    ]
    .iter()
    .map(|name| param(name, "a field of the form", json!({ "type": "string" })))
    .collect();
    paths.insert("/slice".into(), json!({ "get": {
        "summary": "The index page's slice form: a redirect to the export URL its fields make",
        "parameters": form_fields,
        "responses": {
            "303": { "description": "Location: tables/NAME?…", "headers": { "Location": { "schema": { "type": "string" } } } },
            "400": { "$ref": "#/components/responses/Problem" },
        },
    } }));
    if metrics {
        paths.insert("/metrics".into(), json!({ "get": { "summary": "Prometheus text exposition", "responses": { "200": text("metrics", "text/plain") } } }));
    }
    for table in tables {
        let schema_name = format!("table.{}", component_name(&table.name));
        schemas.insert(schema_name.clone(), row_schema(table));
        let row = json!({ "$ref": format!("#/components/schemas/{schema_name}") });
        let mut params = export_params(table_formats);
        params.push(param(
            "limit",
            "the most rows to send",
            json!({ "type": "integer", "minimum": 1 }),
        ));
        params.push(param(
            "select",
            "the columns, in this order: a,b,c",
            json!({ "type": "string" }),
        ));
        params.push(param(
            "order",
            "the order: a.desc,b.asc.nullslast (the key last)",
            json!({ "type": "string" }),
        ));
        for column in &table.columns {
            params.push(param(
                &crate::url::filter_param(&column.name),
                "a filter: [not.]op.value, op one of eq, neq, gt, gte, lt, lte, like, ilike (* any text), in.(a,b), is.null|true|false; repeatable",
                json!({ "type": "string" }),
            ));
        }
        params.push(json!({
            "name": "Prefer", "in": "header", "required": false,
            "description": "count=exact or count=estimated: the row count in the rowstream-count header",
            "schema": { "type": "string" },
        }));
        if table.keyset {
            params.push(param(
                "after",
                "the key after which the export starts (a resumed export)",
                json!({ "type": "string" }),
            ));
        }
        let mut responses = problem_responses();
        responses["200"] = json!({ "description": "the rows, streamed", "content": contents(&row, table_formats) });
        let segment = crate::url::percent_encode_segment(&table.name);
        paths.insert(
            format!("/tables/{segment}"),
            json!({ "get": {
                "summary": format!("Every row of {}", table.name),
                "operationId": format!("table.{}", component_name(&table.name)),
                "parameters": params,
                "responses": responses,
            } }),
        );
        paths.insert(
            format!("/tables/{segment}/schema"),
            json!({ "get": {
                "summary": format!("The columns of {}", table.name),
                "operationId": format!("schema.{}", component_name(&table.name)),
                "responses": {
                    "200": { "description": "name, type, JSON type, nullable, key of each column", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/TableSchema" } } } },
                    "404": { "$ref": "#/components/responses/Problem" },
                },
            } }),
        );
        paths.insert(
            format!("/tables/{segment}.proto"),
            json!({ "get": {
                "summary": format!("The proto3 message of the rows of {} (format=protobuf)", table.name),
                "operationId": format!("proto.{}", component_name(&table.name)),
                "responses": {
                    "200": text("a .proto file", "text/plain"),
                    "404": { "$ref": "#/components/responses/Problem" },
                },
            } }),
        );
    }
    for (name, query) in queries {
        let mut params = export_params(query_formats);
        let mut seen = Vec::new();
        for p in &query.params {
            if !seen.contains(&p.name) {
                seen.push(p.name.clone());
                let mut declared = param(
                    &p.name,
                    &format!("a parameter of type {}", p.ty),
                    param_schema(p.ty),
                );
                declared["required"] = json!(true);
                params.push(declared);
            }
        }
        let mut responses = problem_responses();
        responses["200"] = json!({ "description": "the rows, streamed", "content": contents(&json!({ "type": "object" }), query_formats) });
        let mut operation = json!({
            "summary": query.description.clone().unwrap_or_else(|| format!("The named query {name}")),
            "operationId": format!("query.{}", component_name(name)),
            "parameters": params,
            "responses": responses,
        });
        if let Some(description) = &query.description {
            operation["description"] = json!(description);
        }
        paths.insert(
            format!("/queries/{}", crate::url::percent_encode_segment(name)),
            json!({ "get": operation }),
        );
    }
    schemas.insert("TableSchema".into(), json!({
        "type": "object",
        "required": ["table", "order", "keyset", "columns"],
        "properties": {
            "table": { "type": "string" },
            "order": { "type": "array", "items": { "type": "string" } },
            "keyset": { "type": "boolean" },
            "columns": { "type": "array", "items": {
                "type": "object",
                "required": ["name", "type", "json_type", "nullable", "key"],
                "properties": {
                    "name": { "type": "string" },
                    "type": { "type": "string" },
                    "json_type": { "type": "string", "enum": ["integer", "number", "string", "boolean", "array", "any"] },
                    "nullable": { "type": "boolean" },
                    "key": { "type": "boolean" },
                },
            } },
        },
    }));
    schemas.insert(
        "Problem".into(),
        json!({
            "type": "object",
            "description": "RFC 9457 problem details",
            "required": ["type", "title", "status"],
            "properties": {
                "type": { "type": "string" },
                "title": { "type": "string" },
                "status": { "type": "integer" },
                "detail": { "type": "string" },
                "parameter": { "type": "string" },
            },
        }),
    );
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "rowstream",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Tables and named queries of one database, streamed as JSON, NDJSON, JSON-seq, CSV or MessagePack. A failure after the first byte cuts the body (no final chunk), sends a rowstream-outcome: error trailer (TE: trailers) or resets the stream (HTTP/2).",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "responses": {
                "Problem": {
                    "description": "an error before the first byte",
                    "content": { "application/problem+json": { "schema": { "$ref": "#/components/schemas/Problem" } } },
                },
            },
        },
    })
}

/// `name` as an OpenAPI component name (`^[a-zA-Z0-9._-]+$`): other characters as
/// `_XX` hex escapes of their UTF-8 bytes (and `_` itself as `_5F`), so distinct names
/// stay distinct.
fn component_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || b".-".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("_{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_types() {
        assert_eq!(json_type("postgres", "bigint", false), "integer");
        assert_eq!(json_type("postgres", "numeric(10,2)", false), "string");
        assert_eq!(json_type("postgres", "double precision", false), "number");
        assert_eq!(json_type("postgres", "text[]", false), "array");
        assert_eq!(json_type("postgres", "jsonb", false), "any");
        assert_eq!(json_type("sqlite", "VARCHAR(3)", false), "string");
        assert_eq!(json_type("sqlite", "", false), "any");
        assert_eq!(json_type("sqlite", "DOUBLE", false), "number");
        assert_eq!(json_type("mariadb", "decimal", false), "string");
        assert_eq!(json_type("mariadb", "longtext", true), "any");
        assert_eq!(json_type("mysql", "int", false), "integer");
    }

    #[test]
    fn component_names_are_distinct_and_valid() {
        assert_eq!(component_name("flights"), "flights");
        assert_eq!(component_name("vols été"), "vols_20_C3_A9t_C3_A9");
        assert_ne!(component_name("a_20"), component_name("a "));
        assert!(
            component_name("x/y\"z")
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        );
    }
}
