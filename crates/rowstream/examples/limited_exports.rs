//! An axum service whose exports share a cap on concurrent streams
//! (`rowstream::tower::StreamLimitLayer`, feature `tower`): each export holds its slot
//! until its body ends or its client leaves; over the cap a request gets a 503
//! problem+json with `Retry-After` at once, before its handler runs. Other routes are not
//! counted.
//!
//! - `GET /export?rows=N` (default 1,000,000): `{"n":…}` rows in the negotiated format,
//!   a millisecond's pause every 100 rows, so a stream lasts long enough to see the cap.
//! - `GET /healthz`: `ok`, never limited.
//!
//! Run: `cargo run -p rowstream --example limited_exports --features axum,tower`
//! then `for i in 1 2 3; do curl -s localhost:3004/export > /dev/null & done; curl -i localhost:3004/export`.

use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::Uri;
use axum::response::IntoResponse;
use axum::routing::get;
use rowstream::axum::Negotiated;
use rowstream::tower::StreamLimitLayer;
use rowstream::{Streamer, fetch};
use serde::Serialize;

/// One row of `/export`.
#[derive(Debug, Serialize)]
pub struct Row {
    n: u64,
}

async fn export(
    State(streamer): State<Streamer>,
    uri: Uri,
    negotiated: Negotiated,
) -> impl IntoResponse {
    // `?rows=N`; anything else (or nothing) is the default.
    let rows = uri
        .query()
        .and_then(|query| query.split('&').find_map(|pair| pair.strip_prefix("rows=")))
        .and_then(|rows| rows.parse().ok())
        .unwrap_or(1_000_000_u64);
    // A slow source: a channel fed by a producer that pauses between batches.
    let source = fetch::from_channel(64, move |tx| async move {
        for n in 0..rows {
            if n % 100 == 99 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            tx.send(Row { n }).await?;
        }
        Ok::<_, fetch::Closed>(())
    });
    negotiated.respond_with(&streamer, source).await
}

/// The service: `/export` under a cap of `max_streams`, `/healthz` outside it.
pub fn app(layer: StreamLimitLayer) -> Router {
    Router::new()
        .route("/export", get(export))
        .route_layer(layer)
        .route("/healthz", get(|| async { "ok" }))
        .with_state(Streamer::default())
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3004").await?;
    println!("listening on http://{}/export", listener.local_addr()?);
    axum::serve(listener, app(StreamLimitLayer::new(2))).await
}
