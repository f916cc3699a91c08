//! The servers under test. Each serves `GET /tickets?n=N`: the demo tickets `1..=N`
//! (`rowstream_cli::demo::tickets`) as one JSON array, generated while the response is
//! written (or, for `vec_json`, before), and `GET /healthz`.

use std::convert::Infallible;
use std::net::SocketAddr;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use axum::serve::ListenerExt as _;
use axum_streams::{StreamBodyAs, StreamBodyAsOptions};
use futures_util::stream;
use rowstream::axum::StreamResponse;
use rowstream::{Identity, JsonArray, Streamer, fetch};
use rowstream_cli::demo;
use serde::Deserialize;
use tokio::sync::mpsc;

/// One server design; its name is the case name in the results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// `rowstream::Streamer` (JsonArray, default config: 32 KiB chunks) and
    /// `rowstream::http::StreamResponse`.
    #[value(name = "rowstream")]
    Rowstream,
    /// Every ticket collected into a `Vec`, answered with `axum::Json`.
    #[value(name = "vec-json")]
    VecJson,
    /// `axum_streams::StreamBodyAs::json_array` with its defaults (no buffering).
    #[value(name = "axum-streams")]
    AxumStreams,
    /// `axum_streams` with `buffering_bytes(32 KiB)`.
    #[value(name = "axum-streams-32k")]
    AxumStreams32k,
    /// One `Bytes` per ticket through `Body::from_stream`.
    #[value(name = "bytes-per-item")]
    BytesPerItem,
    /// A task serializes into one reused buffer and sends a copy of it every 32 KiB
    /// through a bounded channel (4 chunks): the design of the Go service the library
    /// replaces.
    #[value(name = "go-design")]
    GoDesign,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::Rowstream,
        Kind::VecJson,
        Kind::AxumStreams,
        Kind::AxumStreams32k,
        Kind::BytesPerItem,
        Kind::GoDesign,
    ];

    /// The case name, as on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Rowstream => "rowstream",
            Kind::VecJson => "vec-json",
            Kind::AxumStreams => "axum-streams",
            Kind::AxumStreams32k => "axum-streams-32k",
            Kind::BytesPerItem => "bytes-per-item",
            Kind::GoDesign => "go-design",
        }
    }

    /// Whether the response is written while the tickets are generated (memory
    /// independent of N).
    pub fn streams(self) -> bool {
        self != Kind::VecJson
    }
}

/// Bytes after which the buffering designs hand a chunk on.
const CHUNK: usize = 32 * 1024;

#[derive(Debug, Deserialize)]
struct Params {
    n: u64,
}

/// Serves `kind` on `127.0.0.1:port` until killed, on a multi-threaded runtime (one
/// worker per core), with `TCP_NODELAY` on every connection when `nodelay` (off, it is a
/// plain `axum::serve`, as most services run).
pub async fn serve(kind: Kind, port: u16, nodelay: bool) -> anyhow::Result<()> {
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/tickets", get(tickets))
        .with_state(kind);
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port)))
        .await?
        .tap_io(move |tcp| {
            if nodelay {
                let _ = tcp.set_nodelay(true);
            }
        });
    axum::serve(listener, app).await?;
    Ok(())
}

async fn tickets(State(kind): State<Kind>, Query(Params { n }): Query<Params>) -> Response {
    match kind {
        Kind::Rowstream => rowstream_response(n).await,
        Kind::VecJson => Json(demo::tickets(n).collect::<Vec<_>>()).into_response(),
        Kind::AxumStreams => {
            StreamBodyAs::json_array(stream::iter(demo::tickets(n))).into_response()
        }
        Kind::AxumStreams32k => StreamBodyAsOptions::new()
            .buffering_bytes(CHUNK)
            .json_array(stream::iter(demo::tickets(n)))
            .into_response(),
        Kind::BytesPerItem => json_response(Body::from_stream(bytes_per_item(n))),
        Kind::GoDesign => json_response(Body::from_stream(go_design(n))),
    }
}

async fn rowstream_response(n: u64) -> Response {
    // One streamer per process, as a service holds it: its buffer pool is shared.
    static STREAMER: std::sync::OnceLock<Streamer> = std::sync::OnceLock::new();
    let streamer = STREAMER.get_or_init(Streamer::default);
    let chunks = streamer.stream(
        fetch::from_iter(demo::tickets(n)),
        Identity,
        JsonArray::new(),
    );
    StreamResponse::new().respond(chunks).await.into_response()
}

fn json_response(body: Body) -> Response {
    ([("content-type", "application/json")], body).into_response()
}

/// `[`, then each ticket as its own `Bytes` (with a leading `,` after the first), then `]`.
fn bytes_per_item(
    n: u64,
) -> impl futures_util::Stream<Item = Result<Bytes, Infallible>> + Send + 'static {
    let items = demo::tickets(n).enumerate().map(|(i, ticket)| {
        let mut buf = Vec::with_capacity(512);
        buf.push(if i == 0 { b'[' } else { b',' });
        serde_json::to_writer(&mut buf, &ticket).expect("tickets serialize");
        Ok(Bytes::from(buf))
    });
    let close = if n == 0 { &b"[]"[..] } else { &b"]"[..] };
    stream::iter(items.chain(std::iter::once(Ok(Bytes::from_static(close)))))
}

/// The Go service's loop: one reused buffer, a copy sent every 32 KiB through a channel
/// of 4 chunks, on its own task; the task stops when the client leaves.
fn go_design(n: u64) -> impl futures_util::Stream<Item = Result<Bytes, Infallible>> + Send {
    let (tx, rx) = mpsc::channel::<Bytes>(4);
    tokio::spawn(async move {
        let mut buf = Vec::with_capacity(CHUNK + CHUNK / 2);
        buf.push(b'[');
        for (i, ticket) in demo::tickets(n).enumerate() {
            if i > 0 {
                buf.push(b',');
            }
            serde_json::to_writer(&mut buf, &ticket).expect("tickets serialize");
            if buf.len() >= CHUNK {
                if tx.send(Bytes::copy_from_slice(&buf)).await.is_err() {
                    return;
                }
                buf.clear();
            }
        }
        buf.push(b']');
        let _ = tx.send(Bytes::copy_from_slice(&buf)).await;
    });
    stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (Ok(chunk), rx))
    })
}
