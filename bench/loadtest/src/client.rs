//! A small HTTP/1.1 client over hyper: one request per connection or many on one kept-alive
//! connection, counting body bytes without keeping them.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// What one response took.
#[derive(Debug, Clone, Copy, Default)]
pub struct Fetch {
    /// From sending the request to the end of the body.
    pub wall: Duration,
    /// From sending the request to the first body byte.
    pub ttfb: Duration,
    /// Body bytes.
    pub bytes: u64,
    /// The first and the last body byte (`[` and `]` for a JSON array).
    pub first_last: (u8, u8),
}

/// A kept-alive HTTP/1.1 connection.
pub struct Connection {
    sender: SendRequest<Empty<Bytes>>,
    host: String,
}

impl Connection {
    pub async fn open(addr: SocketAddr) -> anyhow::Result<Self> {
        let tcp = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connect to {addr}"))?;
        tcp.set_nodelay(true)?;
        let (sender, conn) = http1::handshake(TokioIo::new(tcp)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Self {
            sender,
            host: addr.to_string(),
        })
    }

    /// `GET path`: the whole body is read and counted; a status other than 200 is an error.
    pub async fn get(&mut self, path: &str) -> anyhow::Result<Fetch> {
        self.get_with(path, |_| {}).await
    }

    /// As [`get`](Self::get), handing every body chunk to `sink`.
    pub async fn get_with(
        &mut self,
        path: &str,
        mut sink: impl FnMut(&[u8]),
    ) -> anyhow::Result<Fetch> {
        let request = hyper::Request::get(path)
            .header(hyper::header::HOST, &self.host)
            .body(Empty::<Bytes>::new())?;
        self.sender.ready().await?;
        let started = Instant::now();
        let response = self.sender.send_request(request).await?;
        if response.status() != hyper::StatusCode::OK {
            bail!("GET {path}: {}", response.status());
        }
        let mut body = response.into_body();
        let mut fetch = Fetch::default();
        let mut first = true;
        while let Some(frame) = body.frame().await {
            let frame = frame.with_context(|| format!("GET {path}: the body"))?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            if data.is_empty() {
                continue;
            }
            if first {
                fetch.ttfb = started.elapsed();
                fetch.first_last.0 = data[0];
                first = false;
            }
            fetch.first_last.1 = data[data.len() - 1];
            fetch.bytes += data.len() as u64;
            sink(&data);
        }
        fetch.wall = started.elapsed();
        Ok(fetch)
    }
}

/// `GET path` on a new connection, keeping the body.
pub async fn get_body(addr: SocketAddr, path: &str) -> anyhow::Result<Vec<u8>> {
    let mut body = Vec::new();
    Connection::open(addr)
        .await?
        .get_with(path, |chunk| body.extend_from_slice(chunk))
        .await?;
    Ok(body)
}

/// Waits until `GET /healthz` answers 200, for at most `limit`; fails at once when
/// `exited` says how the server ended.
pub async fn wait_healthy(
    addr: SocketAddr,
    limit: Duration,
    mut exited: impl FnMut() -> Option<String>,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(mut conn) = Connection::open(addr).await {
            if conn.get("/healthz").await.is_ok() {
                return Ok(());
            }
        }
        if let Some(how) = exited() {
            bail!("the server for {addr} exited ({how}) before answering /healthz");
        }
        if Instant::now() > deadline {
            bail!("{addr} did not answer /healthz within {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
