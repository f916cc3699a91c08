//! [`WriteTimeoutListener`]: a TCP listener for `axum::serve` that closes connections whose
//! client stops reading.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio_io_timeout::TimeoutStream;

/// A TCP listener whose connections fail a write that makes no progress for `timeout`,
/// and have `TCP_NODELAY` set.
///
/// An HTTP server does not poll the response body while the socket is full, so a stalled
/// client would keep its connection — and the stream behind it — open forever. With this
/// listener the blocked write fails after `timeout`, hyper closes the connection, the
/// [`ChunkStream`](crate::ChunkStream) is dropped and its fetcher (a database statement)
/// stops. The timeout is measured between writes that make progress, so a slow but
/// reading client is never cut. Use the same value as
/// [`Limits::write_timeout`](crate::Limits::write_timeout).
///
/// `TCP_NODELAY` is set because small chunks on kept-alive connections otherwise wait
/// about 40 ms on Nagle's algorithm and delayed acknowledgements.
///
/// ```no_run
/// # async fn run(app: axum::Router) -> std::io::Result<()> {
/// use std::time::Duration;
/// use rowstream::axum::WriteTimeoutListener;
///
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
/// axum::serve(WriteTimeoutListener::new(listener, Duration::from_secs(30)), app).await
/// # }
/// ```
#[derive(Debug)]
pub struct WriteTimeoutListener {
    listener: TcpListener,
    timeout: Duration,
}

impl WriteTimeoutListener {
    /// Wraps `listener`; writes that make no progress for `timeout` fail.
    pub fn new(listener: TcpListener, timeout: Duration) -> Self {
        Self { listener, timeout }
    }
}

impl axum::serve::Listener for WriteTimeoutListener {
    type Io = Pin<Box<TimeoutStream<TcpStream>>>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (io, addr) = axum::serve::Listener::accept(&mut self.listener).await;
        // Best effort: a socket that refuses TCP_NODELAY still works, only slower.
        let _ = io.set_nodelay(true);
        let mut io = TimeoutStream::new(io);
        io.set_write_timeout(Some(self.timeout));
        (Box::pin(io), addr)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}
