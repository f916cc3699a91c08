//! [`StreamBody`]: the response body of a streamed export — the chunks, then, when the
//! client asked for them, trailers with the outcome and the row count.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::StreamExt;
use http::{HeaderMap, HeaderValue};
use http_body::{Body, Frame, SizeHint};

use crate::{ChunkStream, StreamError};

/// Trailer field with the outcome of the export: `complete` or `error`.
pub const TRAILER_OUTCOME: &str = "rowstream-outcome";
/// Trailer field with the number of rows (items) in the document, or before the error.
pub const TRAILER_ROWS: &str = "rowstream-rows";
/// Trailer field with the error of a failed export: its kind, the rows before it and the
/// message (`fetch error after 1000 items: …`), in visible ASCII, at most 256 bytes.
pub const TRAILER_ERROR: &str = "rowstream-error";
/// Trailer field with the key of the last row sent (of the row count's last row), as
/// text, for an export whose [`ChunkStream`] carries a [`LastKey`](crate::LastKey): where
/// a resumed export starts (`?after=`). Left out when that row's key is not known.
pub const TRAILER_LAST_KEY: &str = "rowstream-last-key";
/// The value of the `Trailer` response header that declares the trailer fields (hyper
/// sends only declared fields).
pub(crate) const TRAILER_DECLARATION: &str = "rowstream-outcome, rowstream-rows, rowstream-error";
/// [`TRAILER_DECLARATION`] for a stream with a [`LastKey`](crate::LastKey).
pub(crate) const TRAILER_DECLARATION_LAST_KEY: &str =
    "rowstream-outcome, rowstream-rows, rowstream-error, rowstream-last-key";

/// The chunks of a [`ChunkStream`] as an [`http_body::Body`] (`Data = Bytes`,
/// `Error = StreamError`), compressed if asked, with an optional trailers frame: the body
/// of every response this crate builds, for hyper, tower or axum.
///
/// Build it with [`StreamResponse::respond`](super::StreamResponse::respond), which also
/// sets the status and the headers; [`StreamBody::new`] wraps a stream as it is.
///
/// How it ends:
///
/// - **Complete**: the last chunk, the end of the compressed stream if compressing, then
///   (with trailers) a trailers frame `rowstream-outcome: complete`, `rowstream-rows: N`.
/// - **Failed, without trailers**: the body yields the [`StreamError`], and the server
///   cuts the transfer (HTTP/1.1: no terminating zero-length chunk; HTTP/2: a reset).
///   hyper buffers body chunks while the body is ready and flushes when it is not, and an
///   error drops whatever is still buffered, head included; over HTTP/2 the reset drops
///   the data frames still queued for the stream. So on an error this body waits
///   [`CUT_LINGER`] (answering `Pending`) before it yields the error: hyper flushes what
///   it holds and HTTP/2 sends the queued frames, and the client receives the status, the
///   headers and every chunk before the failure. The wait also serves clients that
///   decompress on a pipeline of their own (Node's `fetch`), which drop what their
///   decoder still holds when the connection closes under it, the error record included.
/// - **Failed, with trailers**: a trailers frame `rowstream-outcome: error`,
///   `rowstream-rows: N`, `rowstream-error: …` instead of an error: the transfer
///   completes at the HTTP level, and the trailer is the client's signal.
///
/// With a compressor, every chunk leaves as one flushed compressed block, and the
/// compressed stream is finished (gzip trailer, zstd frame end) only when the stream
/// completes: a failed export never decodes as complete.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use http_body_util::BodyExt;
/// use rowstream::http::StreamBody;
/// use rowstream::{Identity, Ndjson, Streamer, fetch};
///
/// let chunks = Streamer::default().stream(fetch::from_iter(1..=3u8), Identity, Ndjson::new());
/// let body = StreamBody::new(chunks).collect().await.unwrap().to_bytes();
/// assert_eq!(&body[..], b"1\n2\n3\n");
/// # }
/// ```
#[derive(Debug)]
pub struct StreamBody {
    /// Chunks already taken from the stream before the response was built, or the whole
    /// of a fixed body.
    lead: VecDeque<Bytes>,
    /// `None` for a fixed body ([`StreamBody::full`], [`StreamBody::empty`]).
    chunks: Option<ChunkStream>,
    trailers: bool,
    compressor: Option<Compressor>,
    /// A fixed body of known length: its size hint is exact.
    fixed_length: bool,
    state: State,
}

/// How long a body that failed waits, after its last bytes were handed to the server,
/// before the transfer is cut: 50 ms.
pub const CUT_LINGER: std::time::Duration = std::time::Duration::from_millis(50);

#[cfg(feature = "compression")]
type Compressor = crate::compress::ChunkCompressor;
/// Without the `compression` feature there is no compressor.
#[cfg(not(feature = "compression"))]
#[derive(Debug)]
pub(crate) enum Compressor {}

#[derive(Debug)]
enum State {
    Streaming,
    /// The stream completed: finish the compressor, then trailers or the end.
    Finishing,
    /// Trailers (if any), then the end.
    Finished,
    /// An error to hand over: to hyper after [`CUT_LINGER`] (no trailers), or as the
    /// error trailers.
    Failed(StreamError),
    /// A failed body's error, after [`CUT_LINGER`].
    Lingering(StreamError, Pin<Box<tokio::time::Sleep>>),
    Done,
}

impl StreamBody {
    /// Every chunk of `chunks` as it comes, without trailers or compression. A failure
    /// cuts the transfer (see above), even one before the first chunk, when the status
    /// line is not sent yet: use [`StreamResponse::respond`](super::StreamResponse::respond)
    /// to answer those with a problem+json error instead.
    pub fn new(chunks: ChunkStream) -> Self {
        Self::with_lead(VecDeque::new(), chunks, false, None, None)
    }

    /// A fixed body of `bytes`, with an exact size hint (so a `Content-Length`): for
    /// responses that are not streamed, such as a [`Problem`](super::Problem).
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        let bytes = bytes.into();
        Self {
            lead: VecDeque::from([bytes]),
            chunks: None,
            trailers: false,
            compressor: None,
            fixed_length: true,
            state: State::Finished,
        }
    }

    /// An empty body of unknown length: the body of a `HEAD` answer, framed as the `GET`
    /// response would be (HTTP/1.1: chunked, not `Content-Length: 0`).
    pub fn empty() -> Self {
        Self {
            lead: VecDeque::new(),
            chunks: None,
            trailers: false,
            compressor: None,
            fixed_length: false,
            state: State::Finished,
        }
    }

    /// A body that first sends `lead` (chunks taken already), then the rest of `chunks`;
    /// `ended` is `Some(Ok(()))` if the stream already completed, `Some(Err(_))` if it
    /// already failed.
    pub(crate) fn with_lead(
        lead: VecDeque<Bytes>,
        chunks: ChunkStream,
        trailers: bool,
        compressor: Option<Compressor>,
        ended: Option<Result<(), StreamError>>,
    ) -> Self {
        let state = match ended {
            None => State::Streaming,
            Some(Ok(())) => State::Finishing,
            Some(Err(err)) => State::Failed(err),
        };
        Self {
            lead,
            chunks: Some(chunks),
            trailers,
            compressor,
            fixed_length: false,
            state,
        }
    }

    /// Adds `rowstream-last-key` to `trailers` when the stream's [`LastKey`] knows the key
    /// of row `rows` and it is a valid field value.
    ///
    /// [`LastKey`]: crate::LastKey
    fn add_last_key(&self, trailers: &mut HeaderMap, rows: u64) {
        let key = self
            .chunks
            .as_ref()
            .and_then(ChunkStream::last_key)
            .and_then(|last| last.of(rows))
            .and_then(|key| HeaderValue::from_str(&key).ok());
        if let Some(key) = key {
            trailers.insert(TRAILER_LAST_KEY, key);
        }
    }

    /// The bytes to send for `chunk`: compressed and flushed, or as they are.
    fn encode(&mut self, chunk: Bytes) -> Result<Bytes, StreamError> {
        match &mut self.compressor {
            None => Ok(chunk),
            #[cfg(feature = "compression")]
            Some(compressor) => compressor.compress(&chunk).map_err(compression_failed),
            #[cfg(not(feature = "compression"))]
            Some(never) => match *never {},
        }
    }

    /// The compressed stream's end, if compressing.
    fn finish(&mut self) -> Result<Bytes, StreamError> {
        match &mut self.compressor {
            None => Ok(Bytes::new()),
            #[cfg(feature = "compression")]
            Some(compressor) => compressor.finish().map_err(compression_failed),
            #[cfg(not(feature = "compression"))]
            Some(never) => match *never {},
        }
    }
}

#[cfg(feature = "compression")]
fn compression_failed(err: std::io::Error) -> StreamError {
    StreamError::new(crate::StreamErrorKind::Encode, 0, Some(Box::new(err)))
}

impl Body for StreamBody {
    type Data = Bytes;
    type Error = StreamError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, StreamError>>> {
        let this = self.get_mut();
        loop {
            if let Some(chunk) = this.lead.pop_front() {
                match this.encode(chunk) {
                    Ok(data) if data.is_empty() => continue,
                    Ok(data) => return Poll::Ready(Some(Ok(Frame::data(data)))),
                    Err(err) => {
                        this.lead.clear();
                        this.state = State::Failed(err);
                        continue;
                    }
                }
            }
            match std::mem::replace(&mut this.state, State::Done) {
                State::Done => return Poll::Ready(None),
                State::Failed(err) if this.trailers => {
                    let mut trailers = failed_trailers(&err);
                    this.add_last_key(&mut trailers, err.items_before());
                    return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
                }
                State::Failed(err) => {
                    this.state = State::Lingering(err, Box::pin(tokio::time::sleep(CUT_LINGER)));
                }
                State::Lingering(err, mut linger) => {
                    if linger.as_mut().poll(cx).is_ready() {
                        return Poll::Ready(Some(Err(err)));
                    }
                    this.state = State::Lingering(err, linger);
                    return Poll::Pending;
                }
                State::Finishing => {
                    this.state = State::Finished;
                    match this.finish() {
                        Ok(end) if end.is_empty() => continue,
                        Ok(end) => return Poll::Ready(Some(Ok(Frame::data(end)))),
                        Err(err) => this.state = State::Failed(err),
                    }
                }
                State::Finished if this.trailers => {
                    let rows = this
                        .chunks
                        .as_ref()
                        .and_then(ChunkStream::completed_items)
                        .unwrap_or(0);
                    let mut trailers = complete_trailers(rows);
                    this.add_last_key(&mut trailers, rows);
                    return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
                }
                State::Finished => return Poll::Ready(None),
                State::Streaming => match this.chunks.as_mut().map(|c| c.poll_next_unpin(cx)) {
                    Some(Poll::Pending) => {
                        this.state = State::Streaming;
                        return Poll::Pending;
                    }
                    Some(Poll::Ready(Some(Ok(chunk)))) => {
                        this.state = State::Streaming;
                        this.lead.push_back(chunk);
                    }
                    Some(Poll::Ready(Some(Err(err)))) => this.state = State::Failed(err),
                    Some(Poll::Ready(None)) | None => this.state = State::Finishing,
                },
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.lead.is_empty() && matches!(self.state, State::Done)
    }

    fn size_hint(&self) -> SizeHint {
        if self.fixed_length {
            SizeHint::with_exact(self.lead.iter().map(|b| b.len() as u64).sum())
        } else {
            SizeHint::default()
        }
    }
}

impl From<Bytes> for StreamBody {
    /// [`StreamBody::full`].
    fn from(bytes: Bytes) -> Self {
        Self::full(bytes)
    }
}

fn complete_trailers(rows: u64) -> HeaderMap {
    let mut map = HeaderMap::with_capacity(2);
    map.insert(TRAILER_OUTCOME, HeaderValue::from_static("complete"));
    map.insert(TRAILER_ROWS, HeaderValue::from(rows));
    map
}

fn failed_trailers(err: &StreamError) -> HeaderMap {
    let mut map = HeaderMap::with_capacity(3);
    map.insert(TRAILER_OUTCOME, HeaderValue::from_static("error"));
    map.insert(TRAILER_ROWS, HeaderValue::from(err.items_before()));
    let text: String = err
        .to_string()
        .chars()
        .map(|c| {
            if c == ' ' || c.is_ascii_graphic() {
                c
            } else {
                '?'
            }
        })
        .take(256)
        .collect();
    if let Ok(value) = HeaderValue::from_str(text.trim()) {
        map.insert(TRAILER_ERROR, value);
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Identity, Ndjson, StreamErrorKind, Streamer, fetch};
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn complete_body_ends_with_outcome_and_rows() {
        let chunks = Streamer::default().stream(fetch::from_iter(0..3u8), Identity, Ndjson::new());
        let body = StreamBody::with_lead(VecDeque::new(), chunks, true, None, None);
        let collected = body.collect().await.unwrap();
        let trailers = collected.trailers().cloned().unwrap();
        assert_eq!(&collected.to_bytes()[..], b"0\n1\n2\n");
        assert_eq!(trailers[TRAILER_OUTCOME], "complete");
        assert_eq!(trailers[TRAILER_ROWS], "3");
        assert!(trailers.get(TRAILER_ERROR).is_none());
    }

    #[tokio::test]
    async fn failed_body_with_trailers_ends_with_the_error() {
        let items = futures_util::stream::iter(vec![
            Ok(1u8),
            Ok(2),
            Err(std::io::Error::other("disk\ngone é")),
        ]);
        let chunks = Streamer::default().stream(items, Identity, Ndjson::new());
        let body = StreamBody::with_lead(VecDeque::new(), chunks, true, None, None);
        let collected = body.collect().await.unwrap();
        let trailers = collected.trailers().cloned().unwrap();
        assert_eq!(&collected.to_bytes()[..], b"1\n2\n");
        assert_eq!(trailers[TRAILER_OUTCOME], "error");
        assert_eq!(trailers[TRAILER_ROWS], "2");
        assert_eq!(
            trailers[TRAILER_ERROR],
            "fetch error after 2 items: disk?gone ?"
        );
    }

    #[tokio::test]
    async fn fixed_bodies_have_their_length() {
        let full = StreamBody::full(Bytes::from_static(b"{}"));
        assert_eq!(full.size_hint().exact(), Some(2));
        assert_eq!(&full.collect().await.unwrap().to_bytes()[..], b"{}");
        let empty = StreamBody::empty();
        assert_eq!(empty.size_hint().exact(), None);
        let collected = empty.collect().await.unwrap();
        assert!(collected.trailers().is_none());
        assert!(collected.to_bytes().is_empty());
    }

    #[tokio::test]
    async fn failed_body_without_trailers_ends_with_an_error() {
        let items = futures_util::stream::iter(vec![Ok(1u8), Err(std::io::Error::other("x"))]);
        let chunks = Streamer::default().stream(items, Identity, Ndjson::new());
        let err = StreamBody::new(chunks).collect().await.unwrap_err();
        assert_eq!(err.kind(), StreamErrorKind::Fetch);
    }
}
