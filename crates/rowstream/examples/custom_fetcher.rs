//! A custom fetcher: a paginated source (here a simulated remote API returning pages of
//! 100 records behind a cursor) fed through `fetch::from_channel`, streamed as NDJSON.
//!
//! Run: `cargo run -p rowstream --example custom_fetcher`

use futures_util::TryStreamExt;
use rowstream::{Identity, Ndjson, Streamer, fetch};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Order {
    id: u64,
    total_cents: i64,
}

/// One page of the "remote API": up to 100 orders after `cursor`, and the next cursor.
async fn fetch_page(cursor: u64, last: u64) -> (Vec<Order>, Option<u64>) {
    tokio::task::yield_now().await; // a network round trip in real life
    let end = (cursor + 100).min(last);
    let page = (cursor + 1..=end)
        .map(|id| Order {
            id,
            total_cents: (id as i64 * 1_999) % 100_000,
        })
        .collect();
    (page, (end < last).then_some(end))
}

/// Every order up to `last`, page by page: the producer task stops when the stream is
/// dropped, and a full channel pauses it (backpressure).
pub async fn orders_ndjson(last: u64) -> Result<Vec<u8>, rowstream::StreamError> {
    let orders = fetch::from_channel(256, move |tx| async move {
        let mut cursor = Some(0);
        while let Some(after) = cursor {
            let (page, next) = fetch_page(after, last).await;
            for order in page {
                tx.send(order).await?;
            }
            cursor = next;
        }
        Ok::<_, fetch::Closed>(())
    });
    Streamer::default()
        .stream(orders, Identity, Ndjson::new())
        .map_ok(Vec::from)
        .try_concat()
        .await
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), rowstream::StreamError> {
    let body = orders_ndjson(250).await?;
    println!(
        "{} orders, first line: {}",
        body.split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .count(),
        String::from_utf8_lossy(body.split(|b| *b == b'\n').next().unwrap_or_default())
    );
    Ok(())
}
