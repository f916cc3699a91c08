//! A cap on concurrent *streams* for tower and axum services (feature `tower`).
//!
//! tower's own `ConcurrencyLimitLayer` holds its permit until the response *future*
//! resolves, that is until the response's headers leave; a streamed body then runs for
//! minutes without holding anything, so it never bounds exports. [`StreamLimitLayer`]
//! holds its permit in the response body: until the body has sent its last frame, failed,
//! or been dropped (the client left). Over the cap, a request is answered at once, before
//! the inner service (the handler) runs, with **503 Service Unavailable**, an
//! `application/problem+json` body (RFC 9457) and `Retry-After` (RFC 9110 §10.2.3, in
//! whole seconds).
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use rowstream::axum::Negotiated;
//! use rowstream::tower::StreamLimitLayer;
//!
//! async fn numbers(negotiated: Negotiated) -> impl axum::response::IntoResponse {
//!     negotiated.respond(rowstream::fetch::from_iter(0..1_000_000u64)).await
//! }
//!
//! // At most 8 exports at once; `route_layer` leaves other routes (and 404s) uncounted.
//! let app: Router = Router::new()
//!     .route("/numbers", get(numbers))
//!     .route_layer(StreamLimitLayer::new(8));
//! ```
//!
//! A service that must answer some requests of a route before taking a slot (a `HEAD`, a
//! `400` for a bad parameter) takes one itself: [`StreamSlots::try_acquire`] and
//! [`StreamPermit::hold`], the pieces the layer is made of.
//!
//! The inner service's `poll_ready` is passed through; a request rejected over the cap
//! does not call the inner service after it reported ready, so a readiness it reserved
//! (another limit inside) waits for the next request.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower_layer::Layer;
use tower_service::Service;

use crate::http::Problem;

/// The `Retry-After` of a rejected request unless set ([`StreamLimitLayer::retry_after`]):
/// 1 second.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// A fixed number of stream slots, shared by its clones.
#[derive(Debug, Clone)]
pub struct StreamSlots {
    semaphore: Arc<Semaphore>,
    max_streams: usize,
}

impl StreamSlots {
    /// `max_streams` slots (at least 1: `0` is taken as 1).
    pub fn new(max_streams: usize) -> Self {
        let max_streams = max_streams.clamp(1, Semaphore::MAX_PERMITS);
        Self {
            semaphore: Arc::new(Semaphore::new(max_streams)),
            max_streams,
        }
    }

    /// How many streams may run at once.
    pub fn max_streams(&self) -> usize {
        self.max_streams
    }

    /// Slots free now.
    pub fn available(&self) -> usize {
        self.semaphore.available_permits()
    }

    /// A slot, if one is free now; never waits.
    pub fn try_acquire(&self) -> Option<StreamPermit> {
        self.semaphore
            .clone()
            .try_acquire_owned()
            .ok()
            .map(|slot| StreamPermit { _slot: slot })
    }
}

/// One taken slot; dropping it frees the slot.
#[derive(Debug)]
pub struct StreamPermit {
    _slot: OwnedSemaphorePermit,
}

impl StreamPermit {
    /// `response` with its body holding this slot until the body ends or is dropped.
    /// Every frame passes through as it is, trailers included.
    pub fn hold<B>(self, response: Response<B>) -> Response<HeldBody<B>> {
        response.map(|body| HeldBody {
            body,
            permit: Some(self),
        })
    }
}

pin_project! {
    /// A response body holding a [`StreamPermit`]: released after the last frame (or an
    /// error), or when the body is dropped. Made by [`StreamPermit::hold`].
    #[derive(Debug)]
    pub struct HeldBody<B> {
        #[pin]
        body: B,
        permit: Option<StreamPermit>,
    }
}

impl<B: Body> Body for HeldBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let mut this = self.project();
        let frame = ready!(this.body.as_mut().poll_frame(cx));
        if !matches!(frame, Some(Ok(_))) || this.body.is_end_stream() {
            // The end, or a failure, which ends the body too: the slot is free again
            // while the connection finishes writing.
            *this.permit = None;
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// Caps the streams in flight through the services it wraps; see the [module docs](self).
#[derive(Debug, Clone)]
#[must_use]
pub struct StreamLimitLayer {
    slots: StreamSlots,
    retry_after: Duration,
}

impl StreamLimitLayer {
    /// At most `max_streams` streams at once (at least 1), over every service this layer
    /// (or a clone of it) wraps.
    pub fn new(max_streams: usize) -> Self {
        Self::with_slots(StreamSlots::new(max_streams))
    }

    /// A layer over `slots`, shared with whatever else takes them.
    pub fn with_slots(slots: StreamSlots) -> Self {
        Self {
            slots,
            retry_after: DEFAULT_RETRY_AFTER,
        }
    }

    /// The `Retry-After` of a rejected request, rounded up to whole seconds, at least 1.
    /// Default: [`DEFAULT_RETRY_AFTER`].
    pub fn retry_after(mut self, wait: Duration) -> Self {
        self.retry_after = wait;
        self
    }

    /// The slots, to read how many are free.
    pub fn slots(&self) -> &StreamSlots {
        &self.slots
    }
}

impl<S> Layer<S> for StreamLimitLayer {
    type Service = StreamLimit<S>;

    fn layer(&self, inner: S) -> StreamLimit<S> {
        StreamLimit {
            inner,
            slots: self.slots.clone(),
            retry_after: self.retry_after,
        }
    }
}

/// The service made by [`StreamLimitLayer`].
#[derive(Debug, Clone)]
pub struct StreamLimit<S> {
    inner: S,
    slots: StreamSlots,
    retry_after: Duration,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for StreamLimit<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: Body<Data = Bytes>,
{
    type Response = Response<LimitedBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        match self.slots.try_acquire() {
            Some(permit) => ResponseFuture {
                state: Admission::Admitted {
                    future: self.inner.call(request),
                    permit: Some(permit),
                },
            },
            None => ResponseFuture {
                state: Admission::Rejected {
                    max_streams: self.slots.max_streams(),
                    retry_after: self.retry_after,
                },
            },
        }
    }
}

pin_project! {
    /// The response future of [`StreamLimit`].
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        state: Admission<F>,
    }
}

pin_project! {
    #[project = AdmissionProj]
    #[derive(Debug)]
    enum Admission<F> {
        // A slot was free: the inner service's response, its body holding the slot.
        Admitted {
            #[pin]
            future: F,
            permit: Option<StreamPermit>,
        },
        // Every slot was taken: a 503.
        Rejected {
            max_streams: usize,
            retry_after: Duration,
        },
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<LimitedBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            AdmissionProj::Admitted { future, permit } => {
                let response = ready!(future.poll(cx))?;
                let Some(permit) = permit.take() else {
                    unreachable!("a response future is not polled after it is ready");
                };
                Poll::Ready(Ok(permit.hold(response).map(|body| LimitedBody {
                    inner: Inner::Admitted { body },
                })))
            }
            AdmissionProj::Rejected {
                max_streams,
                retry_after,
            } => Poll::Ready(Ok(busy(*max_streams, *retry_after))),
        }
    }
}

/// `503` problem+json with `Retry-After`.
fn busy<B>(max_streams: usize, retry_after: Duration) -> Response<LimitedBody<B>> {
    let seconds = retry_after
        .as_secs()
        .saturating_add(u64::from(retry_after.subsec_nanos() > 0))
        .max(1);
    let mut response = Problem::new(StatusCode::SERVICE_UNAVAILABLE, "Too many streams")
        .with_detail(format!(
            "{max_streams} streams are in flight, the most this service runs at once; \
             retry in {seconds} s"
        ))
        .to_response::<Bytes>()
        .map(|data| LimitedBody {
            inner: Inner::Rejected { data: Some(data) },
        });
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}

pin_project! {
    /// The body of a [`StreamLimit`] response: the inner body holding its slot, or the
    /// problem+json of a rejected request.
    #[derive(Debug)]
    pub struct LimitedBody<B> {
        #[pin]
        inner: Inner<B>,
    }
}

pin_project! {
    #[project = InnerProj]
    #[derive(Debug)]
    enum Inner<B> {
        // The inner service's body, holding its slot.
        Admitted {
            #[pin]
            body: HeldBody<B>,
        },
        // A rejection's problem+json, until it is sent.
        Rejected {
            data: Option<Bytes>,
        },
    }
}

impl<B: Body<Data = Bytes>> Body for LimitedBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        match self.project().inner.project() {
            InnerProj::Admitted { body } => body.poll_frame(cx),
            InnerProj::Rejected { data } => Poll::Ready(data.take().map(Frame::data).map(Ok)),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            Inner::Admitted { body } => body.is_end_stream(),
            Inner::Rejected { data } => data.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Inner::Admitted { body } => body.size_hint(),
            Inner::Rejected { data } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |data| data.len() as u64))
            }
        }
    }
}
