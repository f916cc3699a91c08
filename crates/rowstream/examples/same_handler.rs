//! One handler, two servers: the same `async fn` answers under axum and under plain
//! hyper 1, because it takes an `http::Request` and returns an
//! `http::Response<StreamBody>` (features `axum` and `http`).
//!
//! `GET /numbers?format=…` (or `Accept`): `{"n":…,"square":…}` for n in 1..=100, in the
//! negotiated format, streamed with one shared `Streamer`.
//!
//! Run: `cargo run -p rowstream --example same_handler --features axum` then
//! `curl -H 'Accept: application/x-ndjson' localhost:3005/numbers` (axum) or
//! `curl -H 'Accept: application/x-ndjson' localhost:3006/numbers` (hyper).

use std::convert::Infallible;
use std::sync::Arc;

use http::{Request, Response};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rowstream::http::{Negotiated, StreamBody};
use rowstream::{Format, Streamer, fetch};
use serde::Serialize;
use tokio::net::TcpListener;

/// One row.
#[derive(Debug, Serialize)]
pub struct Square {
    n: u64,
    square: u64,
}

/// The handler both servers call: negotiation from the request's headers and query
/// string, the rows streamed with `streamer`.
pub async fn numbers<B>(streamer: &Streamer, request: Request<B>) -> Response<StreamBody> {
    let offered: Vec<Format> = Format::available().collect();
    let negotiated =
        match Negotiated::from_headers(request.headers(), request.uri().query(), &offered) {
            Ok(negotiated) => negotiated,
            Err(not_acceptable) => return not_acceptable.to_response(),
        };
    let rows = fetch::from_iter((1..=100_u64).map(|n| Square { n, square: n * n }));
    negotiated.respond_with(streamer, rows).await
}

/// The handler under axum, at `/numbers`.
pub fn axum_app(streamer: Arc<Streamer>) -> axum::Router {
    axum::Router::new().route(
        "/numbers",
        axum::routing::get(move |request: axum::extract::Request| async move {
            numbers(&streamer, request).await
        }),
    )
}

/// The handler under plain hyper, for every path, on each connection `listener` accepts.
pub async fn serve_hyper(listener: TcpListener, streamer: Arc<Streamer>) -> std::io::Result<()> {
    loop {
        let (socket, _) = listener.accept().await?;
        let streamer = streamer.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                let streamer = streamer.clone();
                async move { Ok::<_, Infallible>(numbers(&streamer, request).await) }
            });
            if let Err(err) = http1::Builder::new()
                .serve_connection(TokioIo::new(socket), service)
                .await
            {
                eprintln!("connection: {err}");
            }
        });
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let streamer = Arc::new(Streamer::default());
    let axum_listener = TcpListener::bind("127.0.0.1:3005").await?;
    let hyper_listener = TcpListener::bind("127.0.0.1:3006").await?;
    println!("axum on http://127.0.0.1:3005/numbers, hyper on http://127.0.0.1:3006/numbers");
    let app = axum_app(streamer.clone());
    tokio::spawn(async move { axum::serve(axum_listener, app).await });
    serve_hyper(hyper_listener, streamer).await
}
