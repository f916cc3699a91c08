//! The response body of a streamed export: the chunks, then — when the client asked for
//! them — trailers with the outcome and the row count.

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
/// The value of the `Trailer` response header that declares the trailer fields (hyper
/// sends only declared fields).
pub(super) const TRAILER_DECLARATION: &str = "rowstream-outcome, rowstream-rows, rowstream-error";

/// Chunks of a [`ChunkStream`] as an `http_body::Body`, with an optional trailers frame.
///
/// hyper buffers body chunks while the body is ready and flushes when it is not; an error
/// from the body drops the connection together with whatever is still buffered, head
/// included. So without trailers, on an error this body first answers `Pending` once
/// (waking itself at once): hyper flushes what it holds, then sees the error and cuts the
/// transfer. The client receives the status, the headers and every chunk before the
/// failure.
///
/// With trailers, the body ends with a trailers frame instead — `complete` or `error`
/// — and the transfer is completed at the HTTP level: the trailer is the client's signal.
#[derive(Debug)]
pub(super) struct StreamBody {
    first: Option<Bytes>,
    chunks: ChunkStream,
    trailers: bool,
    state: State,
}

#[derive(Debug)]
enum State {
    Streaming,
    /// An error to hand to hyper on the next poll, after it flushed.
    Error(StreamError),
    Done,
}

impl StreamBody {
    pub(super) fn new(first: Bytes, chunks: ChunkStream, trailers: bool) -> Self {
        Self {
            first: Some(first),
            chunks,
            trailers,
            state: State::Streaming,
        }
    }
}

impl Body for StreamBody {
    type Data = Bytes;
    type Error = StreamError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, StreamError>>> {
        let this = self.get_mut();
        if let Some(first) = this.first.take() {
            if !first.is_empty() {
                return Poll::Ready(Some(Ok(Frame::data(first))));
            }
        }
        match std::mem::replace(&mut this.state, State::Done) {
            State::Done => Poll::Ready(None),
            State::Error(err) => Poll::Ready(Some(Err(err))),
            State::Streaming => match this.chunks.poll_next_unpin(cx) {
                Poll::Pending => {
                    this.state = State::Streaming;
                    Poll::Pending
                }
                Poll::Ready(Some(Ok(chunk))) => {
                    this.state = State::Streaming;
                    Poll::Ready(Some(Ok(Frame::data(chunk))))
                }
                Poll::Ready(Some(Err(err))) if this.trailers => {
                    Poll::Ready(Some(Ok(Frame::trailers(failed_trailers(&err)))))
                }
                Poll::Ready(Some(Err(err))) => {
                    this.state = State::Error(err);
                    cx.waker().wake_by_ref();
                    Poll::Pending
                }
                Poll::Ready(None) if this.trailers => {
                    let rows = this.chunks.completed_items().unwrap_or(0);
                    Poll::Ready(Some(Ok(Frame::trailers(complete_trailers(rows)))))
                }
                Poll::Ready(None) => Poll::Ready(None),
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.first.is_none() && matches!(self.state, State::Done)
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
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
        let body = StreamBody::new(Bytes::new(), chunks, true);
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
        let body = StreamBody::new(Bytes::new(), chunks, true);
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
    async fn failed_body_without_trailers_ends_with_an_error() {
        let items = futures_util::stream::iter(vec![Ok(1u8), Err(std::io::Error::other("x"))]);
        let chunks = Streamer::default().stream(items, Identity, Ndjson::new());
        let err = StreamBody::new(Bytes::new(), chunks, false)
            .collect()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), StreamErrorKind::Fetch);
    }
}
