//! Without HTTP: stream chunks into a file (or stdout), with flat memory.
//!
//! Run: `cargo run -p rowstream --example to_file -- /tmp/numbers.ndjson`

use futures_util::StreamExt;
use rowstream::{Identity, Ndjson, Streamer, fetch};
use tokio::io::AsyncWriteExt;

/// Writes `rows` records as NDJSON into `out`; returns the bytes written.
pub async fn export<W: tokio::io::AsyncWrite + Unpin>(
    rows: u64,
    out: &mut W,
) -> std::io::Result<u64> {
    let records = fetch::from_iter((0..rows).map(|i| serde_json::json!({"n": i, "square": i * i})));
    let mut chunks = Streamer::default().stream(records, Identity, Ndjson::new());
    let mut written = 0;
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(std::io::Error::other)?;
        out.write_all(&chunk).await?;
        written += chunk.len() as u64;
    }
    out.flush().await?;
    Ok(written)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    match std::env::args().nth(1) {
        Some(path) => {
            let mut file = tokio::fs::File::create(&path).await?;
            let bytes = export(1_000_000, &mut file).await?;
            eprintln!("wrote {bytes} bytes to {path}");
        }
        None => {
            export(10, &mut tokio::io::stdout()).await?;
        }
    }
    Ok(())
}
