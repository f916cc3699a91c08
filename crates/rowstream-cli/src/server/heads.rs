//! The requests of a connection still waiting for their response head. hyper's graceful
//! shutdown of an HTTP/1 connection drops a request whose response has not started (an
//! export still waiting for its first rows), which would cut an export in flight at the
//! signal instead of after the grace: the server waits for these heads before it asks a
//! connection to shut down.

use std::future::Future;

use tokio::sync::watch;

/// The count of requests of one connection whose response head is not ready yet.
#[derive(Debug, Clone)]
pub(super) struct Heads(std::sync::Arc<watch::Sender<usize>>);

/// Counts one request until it is dropped.
struct Waiting(std::sync::Arc<watch::Sender<usize>>);

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

impl Heads {
    pub(super) fn new() -> Self {
        Self(std::sync::Arc::new(watch::channel(0).0))
    }

    /// `response` (the service's future for one request), counted from now until it
    /// completes or is dropped.
    pub(super) fn track<F: Future>(&self, response: F) -> impl Future<Output = F::Output> + use<F> {
        self.0.send_modify(|n| *n += 1);
        let waiting = Waiting(self.0.clone());
        async move {
            let output = response.await;
            drop(waiting);
            output
        }
    }

    /// Completes once no request waits for its head.
    pub(super) async fn ready(&self) {
        let mut count = self.0.subscribe();
        // The sender lives in `self`: the channel cannot close while this waits.
        let _ = count.wait_for(|n| *n == 0).await;
    }
}
