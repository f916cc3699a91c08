//! [`StreamResponse`]: how a [`ChunkStream`] is sent as an
//! `http::Response<`[`StreamBody`]`>` — the status chosen at the first chunk, the headers,
//! trailers and compression.

use std::collections::VecDeque;

use bytes::Bytes;
use futures_util::StreamExt;
use http::{HeaderMap, HeaderValue, Response, header};

use super::body::{TRAILER_DECLARATION, TRAILER_DECLARATION_LAST_KEY};
use super::{Problem, StreamBody, wants_trailers};
#[cfg(doc)]
use super::{TRAILER_ERROR, TRAILER_OUTCOME, TRAILER_ROWS};
use crate::ChunkStream;
#[cfg(feature = "compression")]
use crate::negotiate::negotiate_encoding;

/// Responses whose whole body fits in fewer bytes than this (1 KiB) are not compressed:
/// the coding's framing would outweigh the saving.
pub const MIN_COMPRESSED_BODY: usize = 1024;

/// Turns a [`ChunkStream`] into a response without trailers, waiting for its first chunk
/// to choose the status (see the [module docs](crate::http)); the same as
/// `StreamResponse::new().respond(chunks)`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use http_body_util::BodyExt;
/// use rowstream::{Identity, JsonArray, Streamer, fetch};
///
/// let chunks = Streamer::default().stream(fetch::from_iter(1..=3u8), Identity, JsonArray::new());
/// let response = rowstream::http::into_response(chunks).await;
/// assert_eq!(response.status(), 200);
/// assert_eq!(response.headers()["content-type"], "application/json");
/// let body = response.into_body().collect().await.unwrap().to_bytes();
/// assert_eq!(&body[..], b"[1,2,3]");
/// # }
/// ```
pub async fn into_response(chunks: ChunkStream) -> Response<StreamBody> {
    StreamResponse::new().respond(chunks).await
}

/// How a [`ChunkStream`] is sent as an `http::Response<`[`StreamBody`]`>`: whether it
/// ends with trailers and, with the `compression` feature, its content coding.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use http::{HeaderMap, HeaderValue, header};
/// use http_body_util::BodyExt;
/// use rowstream::http::{StreamResponse, TRAILER_OUTCOME, TRAILER_ROWS};
/// use rowstream::{Identity, Ndjson, Streamer, fetch};
///
/// let mut request_headers = HeaderMap::new();
/// request_headers.insert(header::TE, HeaderValue::from_static("trailers"));
///
/// let chunks = Streamer::default().stream(fetch::from_iter(0..3u8), Identity, Ndjson::new());
/// let response = StreamResponse::for_request(&request_headers).respond(chunks).await;
/// assert_eq!(response.headers()["content-type"], "application/x-ndjson");
/// let collected = response.into_body().collect().await.unwrap();
/// let trailers = collected.trailers().cloned().unwrap();
/// assert_eq!(trailers[TRAILER_OUTCOME], "complete");
/// assert_eq!(trailers[TRAILER_ROWS], "3");
/// assert_eq!(&collected.to_bytes()[..], b"0\n1\n2\n");
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default)]
#[must_use]
pub struct StreamResponse {
    trailers: bool,
    #[cfg(feature = "compression")]
    compression: Option<(crate::compress::ContentCoding, crate::compress::Level)>,
}

impl StreamResponse {
    /// A response without trailers and without compression.
    pub fn new() -> Self {
        Self::default()
    }

    /// A response with trailers when the request's `TE` header lists `trailers`
    /// ([`wants_trailers`]).
    ///
    /// With the `compression` feature it also negotiates a content coding from
    /// `Accept-Encoding` ([`ContentCoding::negotiate`](crate::compress::ContentCoding::negotiate))
    /// at [`DEFAULT_LEVEL`](crate::compress::DEFAULT_LEVEL).
    pub fn for_request(headers: &HeaderMap) -> Self {
        let response = Self::new().trailers(wants_trailers(headers));
        #[cfg(feature = "compression")]
        let response =
            response.compression(negotiate_encoding(headers), crate::compress::DEFAULT_LEVEL);
        response
    }

    /// Compresses the body with `coding` at `level`, flushed at every chunk
    /// (`Content-Encoding` and `Vary: Accept-Encoding` set), unless the whole body is
    /// smaller than [`MIN_COMPRESSED_BODY`]. [`ContentCoding::Identity`](crate::compress::ContentCoding::Identity)
    /// turns compression off. Default: off.
    #[cfg(feature = "compression")]
    pub fn compression(
        mut self,
        coding: crate::compress::ContentCoding,
        level: crate::compress::Level,
    ) -> Self {
        self.compression =
            (coding != crate::compress::ContentCoding::Identity).then_some((coding, level));
        self
    }

    /// Ends the body with the trailers [`TRAILER_OUTCOME`], [`TRAILER_ROWS`] and, on
    /// failure, [`TRAILER_ERROR`] (declared in a `Trailer` header). Only turn this on
    /// for requests with `TE: trailers`: a failed export then completes at the HTTP level
    /// and the trailer is the signal (see the [module docs](crate::http)). Default `false`.
    pub fn trailers(mut self, on: bool) -> Self {
        self.trailers = on;
        self
    }

    /// Waits for the first chunk and answers: problem+json if the stream failed before
    /// it, otherwise `200 OK` with the streamed body. With compression and a first chunk
    /// under [`MIN_COMPRESSED_BODY`], it waits for up to two more chunks, at most
    /// [`ChunkStream::flush_interval`] in all, and a failure among them is a problem
    /// response too.
    ///
    /// Headers of a streamed response: `Content-Type` (the encoder's),
    /// `X-Accel-Buffering: no` (so nginx-style proxies do not buffer the stream),
    /// `Cache-Control: no-store`, `Vary: Accept`, and with trailers `Trailer`. An early
    /// failure's status is the [`Problem`]'s own if the error's source is one, otherwise
    /// `500 Internal Server Error`.
    pub async fn respond(self, mut chunks: ChunkStream) -> Response<StreamBody> {
        let first = match chunks.next().await {
            Some(Ok(first)) => first,
            Some(Err(err)) => return Problem::for_stream_error(&err).to_response(),
            None => Bytes::new(),
        };
        #[allow(unused_mut)]
        let mut lead = VecDeque::from([first]);
        #[allow(unused_mut)]
        let mut ended: Option<Result<(), crate::StreamError>> = None;
        #[cfg(feature = "compression")]
        let compression = match self.compression {
            // A small start: look at up to two more chunks, for at most flush_interval, to
            // tell a tiny body, not worth compressing, from the start of a large one. A
            // source that is still working by then is taken for a large one: row 1 does
            // not wait for it.
            Some(compression) if lead[0].len() < MIN_COMPRESSED_BODY => {
                let until = tokio::time::Instant::now() + chunks.flush_interval();
                let mut total = lead[0].len();
                for _ in 0..2 {
                    if total >= MIN_COMPRESSED_BODY || ended.is_some() {
                        break;
                    }
                    match tokio::time::timeout_at(until, chunks.next()).await {
                        Err(_) => break,
                        Ok(None) => ended = Some(Ok(())),
                        Ok(Some(Ok(chunk))) => {
                            total += chunk.len();
                            lead.push_back(chunk);
                        }
                        // Nothing has been sent: the failure can still be a status.
                        Ok(Some(Err(err))) => return Problem::for_stream_error(&err).to_response(),
                    }
                }
                (ended.is_none() || total >= MIN_COMPRESSED_BODY).then_some(compression)
            }
            other => other,
        };
        #[cfg(feature = "compression")]
        let compressor = compression
            .and_then(|(coding, level)| crate::compress::ChunkCompressor::new(coding, level));
        #[cfg(not(feature = "compression"))]
        let compressor = None;
        let content_type = chunks.content_type().to_owned();
        let declare_last_key = self.trailers && chunks.last_key().is_some();
        let body = StreamBody::with_lead(lead, chunks, self.trailers, compressor, ended);
        #[allow(unused_mut)]
        let mut response = self.with_headers(Response::new(body), &content_type);
        if declare_last_key {
            response.headers_mut().insert(
                header::TRAILER,
                HeaderValue::from_static(TRAILER_DECLARATION_LAST_KEY),
            );
        }
        #[cfg(feature = "compression")]
        if let Some((coding, _)) = compression {
            response.headers_mut().insert(
                header::CONTENT_ENCODING,
                HeaderValue::from_static(coding.as_str()),
            );
        }
        response
    }

    /// The answer to a `HEAD` request (RFC 9110 §9.3.2): `200 OK` with the headers
    /// [`respond`](Self::respond) sends for a response of `content_type` (e.g. an
    /// encoder's [`content_type`](crate::Encoder::content_type) or
    /// [`Format::media_type`](crate::Format::media_type)), an empty body
    /// ([`StreamBody::empty`]), and no query run.
    ///
    /// ```
    /// use rowstream::http::StreamResponse;
    ///
    /// let response = StreamResponse::new().head("application/x-ndjson");
    /// assert_eq!(response.status(), 200);
    /// assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    /// assert_eq!(response.headers()["vary"], "Accept");
    /// ```
    pub fn head(self, content_type: &str) -> Response<StreamBody> {
        // A body of unknown length, as the GET's: hyper then announces the same framing
        // (chunked) instead of `content-length: 0`, and sends no body for a HEAD.
        self.with_headers(Response::new(StreamBody::empty()), content_type)
    }

    fn with_headers<B>(self, mut response: Response<B>, content_type: &str) -> Response<B> {
        let content_type = HeaderValue::from_str(content_type)
            .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, content_type);
        headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::VARY, HeaderValue::from_static("Accept"));
        #[cfg(feature = "compression")]
        if self.compression.is_some() {
            headers.insert(
                header::VARY,
                HeaderValue::from_static("Accept, Accept-Encoding"),
            );
        }
        if self.trailers {
            headers.insert(
                header::TRAILER,
                HeaderValue::from_static(TRAILER_DECLARATION),
            );
        }
        response
    }
}
