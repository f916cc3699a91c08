//! Readiness: `GET /readyz`, and the refusal of new exports once the server is stopping.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use rowstream::axum::Problem;

use super::{AppState, RETRY_AFTER_SECS};

/// Longest `GET /readyz` waits for the database to answer a ping: 1 second.
pub const READY_TIMEOUT: Duration = Duration::from_secs(1);

/// Whether the server takes new exports. Cloned into the router ([`super::Settings`]);
/// [`Readiness::stop`] (on a shutdown signal) makes `/readyz` answer `503` and refuses new
/// exports with `503` from then on.
#[derive(Debug, Clone, Default)]
pub struct Readiness {
    stopping: Arc<AtomicBool>,
}

impl Readiness {
    /// From now on: not ready, no new export.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::Relaxed);
    }

    /// Whether [`Readiness::stop`] was called.
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }
}

/// `503` problem+json titled `title`, with `Retry-After`.
fn unavailable(title: &'static str, detail: String) -> Response {
    let mut response = Problem::new(StatusCode::SERVICE_UNAVAILABLE, title)
        .with_detail(detail)
        .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
    response
}

/// `GET /readyz`: `200 ready` while the database answers a ping within
/// [`READY_TIMEOUT`] and the server is not stopping; else `503` problem+json saying which.
pub(super) async fn readyz(State(state): State<AppState>) -> Response {
    if state.readiness.is_stopping() {
        return unavailable("Shutting down", "the server is stopping".to_owned());
    }
    match tokio::time::timeout(READY_TIMEOUT, state.db.ping()).await {
        Ok(Ok(())) => "ready".into_response(),
        Ok(Err(err)) => {
            tracing::warn!(%err, "not ready: the database does not answer");
            unavailable("The database is unavailable", err.to_string())
        }
        Err(_) => {
            tracing::warn!("not ready: the database did not answer in time");
            unavailable(
                "The database is unavailable",
                format!("no answer to a ping within {READY_TIMEOUT:?}"),
            )
        }
    }
}

/// Middleware on the export endpoints: once the server is stopping, `503` problem+json
/// with `Retry-After` (another instance behind the balancer takes the retry).
pub(super) async fn refuse_when_stopping(
    State(readiness): State<Readiness>,
    request: Request,
    next: Next,
) -> Response {
    if readiness.is_stopping() {
        metrics::counter!("rowstream_requests_rejected_total", "reason" => "shutting_down")
            .increment(1);
        return unavailable(
            "Shutting down",
            "the server is stopping and takes no new export; retry on another instance".to_owned(),
        );
    }
    next.run(request).await
}
