//! Without axum: a plain hyper 1 server that streams rows in the format the client
//! accepts, with `rowstream::http` (feature `http`).
//!
//! - `GET /squares?rows=N` (default 1000): `{"n":…,"square":…}` rows, in the format
//!   negotiated from `Accept` or `?format=` (406 problem+json if none fits), trailers
//!   for `TE: trailers`; `HEAD` answers the same headers without running anything.
//! - `GET /broken`: a source that fails before its first row: a 503 problem+json.
//! - anything else: a 404 or 405 problem+json.
//!
//! Run: `cargo run -p rowstream --example hyper_service --features http`
//! then `curl -H 'Accept: application/x-ndjson' 'localhost:3002/squares?rows=5'`.

use std::convert::Infallible;

use http::request::Parts;
use http::{Method, Request, Response, StatusCode};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rowstream::http::{Problem, StreamBody, StreamResponse, negotiate_request};
use rowstream::{AnyEncoder, Encoder, Format, Identity, JsonArray, Streamer, fetch};
use serde::Serialize;
use tokio::net::TcpListener;

/// One row of `/squares`.
#[derive(Debug, Serialize)]
pub struct Square {
    n: u64,
    square: u64,
}

/// Answers one request; every response, streamed or not, has a [`StreamBody`].
pub async fn handle<B>(request: Request<B>) -> Result<Response<StreamBody>, Infallible> {
    // The request body is not read: drop it, keep the head.
    let (request, _) = request.into_parts();
    let response = match (&request.method, request.uri.path()) {
        (&Method::GET | &Method::HEAD, "/squares") => squares(&request).await,
        (&Method::GET, "/broken") => broken().await,
        (_, "/squares" | "/broken") => {
            Problem::new(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed").to_response()
        }
        (_, path) => Problem::new(StatusCode::NOT_FOUND, "Not Found")
            .with_detail(format!("no route for {path}"))
            .to_response(),
    };
    Ok(response)
}

async fn squares(request: &Parts) -> Response<StreamBody> {
    let query = request.uri.query();
    let offered: Vec<Format> = Format::available().collect();
    let format = match negotiate_request(&request.headers, query, &offered) {
        Ok(format) => format,
        Err(not_acceptable) => return not_acceptable.to_response(),
    };
    let rows = match query_value(query, "rows").map(str::parse::<u64>) {
        None => 1000,
        Some(Ok(rows)) => rows,
        Some(Err(_)) => {
            return Problem::new(StatusCode::BAD_REQUEST, "Bad Request")
                .with_detail("rows must be a non-negative integer")
                .to_response();
        }
    };
    // Negotiation only picks formats this build can encode.
    let encoder = AnyEncoder::new(format).unwrap_or_else(|_| JsonArray::new().into());
    let response = StreamResponse::for_request(&request.headers);
    if request.method == Method::HEAD {
        return response.head(encoder.content_type());
    }
    let squares = fetch::from_iter((1..=rows).map(|n| Square { n, square: n * n }));
    let chunks = Streamer::default().stream(squares, Identity, encoder);
    response.respond(chunks).await
}

async fn broken() -> Response<StreamBody> {
    let failing = futures_util::stream::iter([Err::<Square, _>(
        Problem::new(StatusCode::SERVICE_UNAVAILABLE, "Upstream unavailable")
            .with_detail("the source refused the connection"),
    )]);
    let chunks = Streamer::default().stream(failing, Identity, JsonArray::new());
    StreamResponse::new().respond(chunks).await
}

/// The first value of `name` in a query string (not percent-decoded: numbers only here).
fn query_value<'a>(query: Option<&'a str>, name: &str) -> Option<&'a str> {
    query?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find_map(|(key, value)| (key == name).then_some(value))
}

/// Serves [`handle`] on every connection `listener` accepts, each on its own task.
pub async fn serve(listener: TcpListener) -> std::io::Result<()> {
    loop {
        let (socket, _) = listener.accept().await?;
        // Best effort: small chunks should not wait on Nagle's algorithm.
        let _ = socket.set_nodelay(true);
        tokio::spawn(async move {
            let connection = http1::Builder::new().serve_connection(
                TokioIo::new(socket),
                service_fn(handle::<hyper::body::Incoming>),
            );
            if let Err(err) = connection.await {
                eprintln!("connection: {err}");
            }
        });
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:3002").await?;
    println!("listening on http://{}", listener.local_addr()?);
    serve(listener).await
}
