//! HTTP responses (feature `http`): a [`ChunkStream`](crate::ChunkStream) as an
//! `http::Response<`[`StreamBody`]`>` for axum, hyper, tower or any server built on the
//! `http` and `http-body` crates. axum answers these responses as they are; the
//! [`axum`](crate::axum) module adds only what is axum's own (the [`Negotiated`]
//! extractor, `IntoResponse` for [`Problem`], a listener).
//!
//! | file | what |
//! |---|---|
//! | `response.rs` | [`StreamResponse`]: status at the first chunk, headers, trailers, compression |
//! | `body.rs` | [`StreamBody`]: the `http_body::Body` of the chunks, with trailers |
//! | `negotiated.rs` | [`Negotiated`]: what a request negotiated, and the response that answers it |
//! | `problem.rs` | [`Problem`]: RFC 9457 problem details |
//! | `compress.rs` | [`compress`] (feature `compression`): content codings flushed at every chunk |
//!
//! The status line is committed with the first body bytes, and an error after that can
//! only cut the response. So [`StreamResponse::respond`] (and [`into_response`]) waits for
//! the first chunk before it decides. The streamer sends the first chunk as soon as the
//! first item and whatever else the fetcher has ready are encoded, or at the end of a
//! document without items; the format's
//! framing alone (`[`, a CSV header) never leaves before then, so a query that fails
//! before its first row, however late, still gets a real status. With compression the
//! response also looks at up to two more chunks, for at most `flush_interval`, to tell a
//! tiny body (sent uncompressed) from a large one; a failure seen then is still a
//! problem response, since nothing has been sent:
//!
//! - the stream failed before its first row → a real 4xx/5xx with an
//!   `application/problem+json` body (RFC 9457, [`Problem`]);
//! - otherwise → `200 OK`, `Content-Type` from the encoder, `X-Accel-Buffering: no`,
//!   `Cache-Control: no-store`, `Vary: Accept`, and the chunks as the body.
//!
//! # Error text
//!
//! An early failure's problem is the [`Problem`] the error carries, if the fetcher's or
//! transformer's error is one; otherwise a `500` whose `detail` is the text of the
//! [`StreamError`](crate::StreamError), which includes the error's own message — for a
//! sqlx error, the database's (`error returned from database: … no such table: tickets`).
//! The same message reaches the `rowstream-error` trailer and a completion record's
//! `message`. To keep such messages from clients, log the error and map it to a
//! [`Problem`] of your own (`TryStreamExt::map_err` from `futures-util`):
//!
//! ```
//! use futures_util::{TryStreamExt, stream};
//! use http::StatusCode;
//! use rowstream::http::Problem;
//! use rowstream::{Identity, JsonArray, Streamer};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! // A fetcher whose first item is an error with a message clients should not see.
//! let failing = stream::iter([Err::<u32, _>(std::io::Error::other("password authentication failed"))]);
//! let hidden = failing.map_err(|err| {
//!     eprintln!("export failed: {err}"); // the server's log keeps the message
//!     Problem::new(StatusCode::SERVICE_UNAVAILABLE, "The export failed")
//! });
//! let chunks = Streamer::default().stream(hidden, Identity, JsonArray::new());
//! let response = rowstream::http::into_response(chunks).await;
//! assert_eq!(response.status(), 503);
//! # }
//! ```
//!
//! # What a client sees
//!
//! | outcome | without `TE: trailers` | with `TE: trailers` ([`StreamResponse::trailers`]) |
//! |---|---|---|
//! | complete | every chunk, then the terminating zero-length chunk | the same, then the trailers `rowstream-outcome: complete`, `rowstream-rows: N` |
//! | fails after the first chunk | every chunk before the failure (and the format's error record, if on), then the connection closes **without** the terminating chunk (HTTP/1.1: an incomplete transfer, curl exit 18; HTTP/2: a reset stream) | every chunk before the failure (and the error record, if on), the terminating chunk, then `rowstream-outcome: error`, `rowstream-rows: N`, `rowstream-error: <kind> error after N items: <message>` |
//! | fails before the first chunk | a 4xx/5xx problem+json response | the same |
//!
//! With trailers the transfer of a failed export is complete at the HTTP level, as in
//! gRPC: a client that sends `TE: trailers` promises to read them, and the document itself
//! is still visibly incomplete (a JSON array is never closed; a record format without
//! its completion record lacks it). The trailer fields are declared in a
//! `Trailer: rowstream-outcome, rowstream-rows, rowstream-error` header, as hyper
//! requires; hyper sends trailers over HTTP/1.1 only on chunked responses to requests
//! with `TE: trailers`, and always over HTTP/2.
//!
//! # Serving with hyper
//!
//! A hyper 1 service negotiates the format ([`negotiate_request`], or a 406 from
//! [`NotAcceptable::to_response`](crate::NotAcceptable::to_response)), streams with
//! the negotiated [`AnyEncoder`](crate::AnyEncoder), and answers with
//! [`StreamResponse::for_request`] (trailers if the request asked for them, and with the
//! `compression` feature a content coding from `Accept-Encoding`). Every response of the
//! service is an `http::Response<StreamBody>`: a [`Problem`] becomes one with
//! [`Problem::to_response`]. The same handler works as a `tower::Service` (through
//! `tower::service_fn`) and behind tower-http layers, since [`StreamBody`] is an
//! [`http_body::Body`] with `Data = Bytes` and `Error = StreamError`.
//!
//! ```no_run
//! use std::convert::Infallible;
//!
//! use http::{Request, Response};
//! use hyper::server::conn::http1;
//! use hyper::service::service_fn;
//! use hyper_util::rt::TokioIo;
//! use rowstream::http::{StreamBody, StreamResponse, negotiate_request};
//! use rowstream::{AnyEncoder, Format, Identity, Streamer, fetch};
//!
//! async fn numbers(request: Request<hyper::body::Incoming>) -> Result<Response<StreamBody>, Infallible> {
//!     let offered: Vec<Format> = Format::available().collect();
//!     let format = match negotiate_request(request.headers(), request.uri().query(), &offered) {
//!         Ok(format) => format,
//!         Err(not_acceptable) => return Ok(not_acceptable.to_response()),
//!     };
//!     let encoder = AnyEncoder::new(format).expect("a negotiated format is available");
//!     let chunks = Streamer::default().stream(fetch::from_iter(0..1_000_000u64), Identity, encoder);
//!     Ok(StreamResponse::for_request(request.headers()).respond(chunks).await)
//! }
//!
//! # async fn serve() -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! loop {
//!     let (socket, _) = listener.accept().await?;
//!     tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(socket), service_fn(numbers)));
//! }
//! # }
//! ```
//!
//! The example `hyper_service` (`crates/rowstream/examples/hyper_service.rs`) is a
//! complete server with `HEAD` answers and early errors.
//!
//! A stalled client keeps its connection, and the stream behind it, open as long as the
//! server does not time the write out: with plain hyper, wrap each accepted socket in
//! `tokio_io_timeout::TimeoutStream` with a write timeout, as the `axum` feature's
//! [`WriteTimeoutListener`](crate::axum::WriteTimeoutListener) does.

mod body;
#[cfg(feature = "compression")]
pub mod compress;
mod negotiated;
mod problem;
mod response;

#[cfg(feature = "compression")]
pub use crate::negotiate::negotiate_encoding;
pub use crate::negotiate::{negotiate_request, wants_trailers};
pub use body::{
    CUT_LINGER, StreamBody, TRAILER_ERROR, TRAILER_LAST_KEY, TRAILER_OUTCOME, TRAILER_ROWS,
};
pub use negotiated::Negotiated;
pub use problem::{PROBLEM_JSON, Problem};
pub use response::{MIN_COMPRESSED_BODY, StreamResponse, into_response};
