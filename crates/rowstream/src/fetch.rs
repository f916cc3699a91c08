//! Fetchers: where items come from.
//!
//! A fetcher is any [`Stream`] of `Result<T, E>`: a sqlx query, a paginated remote API, a
//! file reader. The stream ends when the data ends; an `Err` fails the export after the
//! items before it. Cancellation is drop: when the client leaves, the streamer drops the
//! fetcher, and whatever it owns (a database statement, a producer task) stops.
//!
//! Two helpers build fetchers from other shapes: [`from_iter`] for data already in memory
//! and [`from_channel`] for a producer that pushes items from its own task.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures_core::Stream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::BoxError;

/// A fetcher over an iterator: every item is `Ok`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use futures_util::StreamExt;
///
/// let items: Vec<_> = rowstream::fetch::from_iter(1..=3).collect().await;
/// assert_eq!(items.into_iter().map(Result::unwrap).collect::<Vec<_>>(), [1, 2, 3]);
/// # }
/// ```
pub fn from_iter<I>(iter: I) -> futures_util::stream::Iter<OkIter<I::IntoIter>>
where
    I: IntoIterator,
{
    futures_util::stream::iter(OkIter(iter.into_iter()))
}

/// An iterator adapter that wraps each item in `Ok`; made by [`from_iter`].
#[derive(Debug, Clone)]
pub struct OkIter<I>(I);

impl<I: Iterator> Iterator for OkIter<I> {
    type Item = Result<I::Item, Infallible>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(Ok)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

/// The sending half handed to a [`from_channel`] producer.
#[derive(Debug)]
pub struct Sender<T> {
    tx: mpsc::Sender<Result<T, BoxError>>,
}

impl<T> Sender<T> {
    /// Sends one item, waiting while the channel is full (backpressure).
    ///
    /// # Errors
    ///
    /// [`Closed`] if the fetcher was dropped: the producer should stop. It is usually
    /// aborted before it could see this, at its next `.await`.
    pub async fn send(&self, item: T) -> Result<(), Closed> {
        self.tx.send(Ok(item)).await.map_err(|_| Closed)
    }
}

/// The fetcher of a [`from_channel`] producer was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the fetcher was dropped")]
pub struct Closed;

/// A fetcher fed by a producer task through a bounded channel of `capacity` items.
///
/// `produce` gets a [`Sender`] and runs on its own tokio task. When it returns `Err`, the
/// fetcher yields that error after the items already sent; when it panics, the fetcher
/// yields an error saying so. Dropping the fetcher aborts the producer task at its next
/// `.await`, so a producer waiting on a database or a full channel stops at once.
///
/// # Panics
///
/// If called outside a tokio runtime, or if `capacity` is 0.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use futures_util::StreamExt;
///
/// let fetcher = rowstream::fetch::from_channel(16, |tx| async move {
///     for page in 0..3 {
///         tx.send(page).await?; // e.g. one call to a paginated API
///     }
///     Ok::<_, rowstream::fetch::Closed>(())
/// });
/// let pages: Vec<_> = fetcher.map(Result::unwrap).collect().await;
/// assert_eq!(pages, [0, 1, 2]);
/// # }
/// ```
pub fn from_channel<T, E, F, Fut>(capacity: usize, produce: F) -> ChannelFetcher<T>
where
    T: Send + 'static,
    E: Into<BoxError> + Send + 'static,
    F: FnOnce(Sender<T>) -> Fut,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(capacity);
    let error_tx = tx.clone();
    let fut = produce(Sender { tx });
    let task = tokio::spawn(async move {
        if let Err(err) = fut.await {
            // If the receiver is gone nobody needs the error.
            let _ = error_tx.send(Err(err.into())).await;
        }
    });
    ChannelFetcher {
        rx,
        task: Some(task),
    }
}

/// The fetcher made by [`from_channel`]. Dropping it aborts the producer task.
#[derive(Debug)]
pub struct ChannelFetcher<T> {
    rx: mpsc::Receiver<Result<T, BoxError>>,
    task: Option<JoinHandle<()>>,
}

impl<T> Stream for ChannelFetcher<T> {
    type Item = Result<T, BoxError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(item) = ready!(self.rx.poll_recv(cx)) {
            return Poll::Ready(Some(item));
        }
        // The channel closed: the producer returned or panicked.
        let Some(task) = self.task.as_mut() else {
            return Poll::Ready(None);
        };
        let joined = ready!(Pin::new(task).poll(cx));
        self.task = None;
        Poll::Ready(match joined {
            Ok(()) => None,
            Err(err) if err.is_panic() => Some(Err("the fetcher's producer task panicked".into())),
            Err(_) => Some(Err("the fetcher's producer task was cancelled".into())),
        })
    }
}

impl<T> Drop for ChannelFetcher<T> {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    #[tokio::test]
    async fn producer_error_comes_last() {
        let fetcher = from_channel(2, |tx| async move {
            tx.send(1).await?;
            tx.send(2).await?;
            Err::<(), BoxError>("boom".into())
        });
        let items: Vec<_> = fetcher.collect().await;
        assert_eq!(items.len(), 3);
        assert_eq!(*items[0].as_ref().unwrap(), 1);
        assert_eq!(*items[1].as_ref().unwrap(), 2);
        assert_eq!(items[2].as_ref().unwrap_err().to_string(), "boom");
    }

    #[tokio::test]
    async fn producer_panic_is_an_error() {
        let fetcher = from_channel(2, |tx: Sender<i32>| async move {
            tx.send(1).await?;
            panic!("producer bug");
            #[allow(unreachable_code)]
            Ok::<(), Closed>(())
        });
        let items: Vec<_> = fetcher.collect().await;
        assert_eq!(items.len(), 2);
        assert!(
            items[1]
                .as_ref()
                .unwrap_err()
                .to_string()
                .contains("panicked")
        );
    }

    #[tokio::test]
    async fn dropping_the_fetcher_stops_the_producer() {
        struct Flag(Arc<AtomicBool>);
        impl Drop for Flag {
            fn drop(&mut self) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let stopped = Arc::new(AtomicBool::new(false));
        let flag = Flag(stopped.clone());
        let mut fetcher = from_channel(1, move |tx| async move {
            let _flag = flag;
            let mut i = 0u64;
            loop {
                tx.send(i).await?;
                i += 1;
            }
            #[allow(unreachable_code)]
            Ok::<(), Closed>(())
        });
        assert_eq!(fetcher.next().await.unwrap().unwrap(), 0);
        drop(fetcher);
        for _ in 0..100 {
            if stopped.load(Ordering::SeqCst) {
                return;
            }
            tokio::task::yield_now().await;
        }
        panic!("producer still running after the fetcher was dropped");
    }
}
