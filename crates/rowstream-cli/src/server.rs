//! The server around the [`crate::http`] router: [`serve_with`] accepts connections over
//! HTTP/1.1 (and HTTP/2 with prior knowledge when asked) with `TCP_NODELAY`, a header read timeout, a header size limit, a write
//! timeout and graceful shutdown; [`shutdown_signal`] is Ctrl-C or SIGTERM
//! ([`stop_signal`] says which);
//! [`install_metrics`] installs the Prometheus recorder that `GET /metrics` renders.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::serve::ListenerExt as _;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use rowstream::axum::WriteTimeoutListener;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

mod drain;
mod heads;

/// Longest a client may take to send a request's line and headers (from the moment the
/// server starts reading them, which on a kept-alive connection is the end of the
/// previous response) before the connection is closed: slow or idle clients cannot hold
/// connections open.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Most bytes a request's line and headers may take; larger requests get `431`.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// Installs the process-wide Prometheus recorder (once; later calls return the same
/// handle) with histogram buckets for stream durations.
///
/// # Errors
///
/// If another `metrics` recorder was installed first.
pub fn install_metrics() -> anyhow::Result<PrometheusHandle> {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    if let Some(handle) = HANDLE.get() {
        return Ok(handle.clone());
    }
    let recorder = PrometheusBuilder::new()
        .set_buckets(&[
            0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0,
        ])?
        .build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder)
        .map_err(|err| anyhow::anyhow!("cannot install the metrics recorder: {err}"))?;
    rowstream::metrics::describe();
    metrics::describe_counter!(
        "rowstream_http_requests_total",
        metrics::Unit::Count,
        "HTTP requests answered, by status code."
    );
    metrics::describe_gauge!(
        "rowstream_db_connections",
        metrics::Unit::Count,
        "Database pool connections, by state: in_use or idle (sampled at each scrape)."
    );
    metrics::describe_gauge!(
        "rowstream_stream_memory_bound_bytes",
        metrics::Unit::Bytes,
        "What one export may hold: its buffers, channel slots and encoder scratch \
         (ValidConfig::memory_bound) plus its reader's batches and page cache."
    );
    metrics::describe_gauge!(
        "rowstream_memory_bound_bytes",
        metrics::Unit::Bytes,
        "rowstream_stream_memory_bound_bytes times max_streams: what the exports in flight \
         may hold at once."
    );
    metrics::describe_gauge!(
        "process_resident_memory_bytes",
        metrics::Unit::Bytes,
        "Resident memory of the process (VmRSS, sampled at each scrape)."
    );
    metrics::describe_gauge!(
        "process_resident_memory_peak_bytes",
        metrics::Unit::Bytes,
        "Highest resident memory of the process since it started (VmHWM)."
    );
    metrics::describe_counter!(
        "rowstream_requests_rejected_total",
        metrics::Unit::Count,
        "Exports refused before running, by reason (max_streams: 503 with Retry-After)."
    );
    Ok(HANDLE.get_or_init(|| handle).clone())
}

/// The process's resident memory, from `/proc/self/status` (Linux).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessMemory {
    /// Resident now (`VmRSS`), in bytes.
    pub resident: u64,
    /// Highest resident since the process started (`VmHWM`), in bytes.
    pub peak: u64,
}

impl ProcessMemory {
    /// Reads it; `None` where `/proc/self/status` does not exist or lacks the fields.
    pub fn read() -> Option<Self> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let kib = |key: &str| -> Option<u64> {
            let line = status.lines().find(|line| line.starts_with(key))?;
            let value = line[key.len()..].trim().strip_suffix("kB")?.trim();
            value.parse::<u64>().ok()?.checked_mul(1024)
        };
        Some(Self {
            resident: kib("VmRSS:")?,
            peak: kib("VmHWM:")?,
        })
    }
}

/// How often [`give_back_memory`] looks at the resident memory: every second.
pub const TRIM_PERIOD: Duration = Duration::from_secs(1);

/// Resident memory above the lowest seen after a trim that makes [`give_back_memory`]
/// trim again: 4 MiB.
pub const TRIM_SLACK: u64 = 4 * 1024 * 1024;

/// Gives the memory the allocator holds free back to the system, for as long as it runs
/// (spawn it beside the server).
///
/// glibc's allocator keeps what a thread freed in that thread's arena, and returns pages
/// only from the top of a heap: after a burst of exports — each SQLite export reads on a
/// blocking thread of its own, with an arena of its own — tens of MiB stayed resident
/// for good (69 MiB resident against 13 MiB idle after 12 concurrent flights exports). Every
/// [`TRIM_PERIOD`], when the resident memory is more than [`TRIM_SLACK`] above the lowest
/// it was after a trim, this asks glibc to return every free page of every arena
/// (`malloc_trim(0)`, on a blocking thread). Other allocators (musl, macOS) return memory
/// themselves: there it returns at once. The measurements behind the choice, against
/// mimalloc and `MALLOC_ARENA_MAX=2`, are in RELIABILITY.md.
pub async fn give_back_memory() {
    if !allocator::CAN_TRIM {
        return;
    }
    let mut floor = u64::MAX;
    let mut ticks = tokio::time::interval(TRIM_PERIOD);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(now) = ProcessMemory::read() else {
            return;
        };
        if now.resident <= floor.saturating_add(TRIM_SLACK) {
            floor = floor.min(now.resident);
            continue;
        }
        let trimmed = tokio::task::spawn_blocking(|| {
            allocator::trim();
            ProcessMemory::read()
        })
        .await;
        match trimmed {
            Ok(Some(after)) => floor = floor.min(after.resident),
            _ => return,
        }
    }
}

/// The system allocator's `malloc_trim`, where there is one.
mod allocator {
    /// Whether [`trim`] does anything here: glibc only.
    pub(super) const CAN_TRIM: bool = cfg!(all(target_os = "linux", target_env = "gnu"));

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[allow(unsafe_code)]
    mod glibc {
        unsafe extern "C" {
            /// `int malloc_trim(size_t pad)`, glibc ≥ 2.0.
            safe fn malloc_trim(pad: usize) -> std::ffi::c_int;
        }

        pub(in super::super) fn trim() {
            // `safe fn` above: malloc_trim takes no pointers and locks each arena while it
            // walks it, so any thread may call it at any time.
            malloc_trim(0);
        }
    }

    /// Returns the free pages of every arena to the system.
    pub(super) fn trim() {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        glibc::trim();
    }
}

/// How [`serve_with`] treats connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeOptions {
    /// How long open requests may run on after the shutdown future completes (the
    /// listener is closed then) before their connections are closed: an export still
    /// running then is cut, a failure its client detects. Default 30 s.
    pub grace: Duration,
    /// A write that makes no progress for this long closes its connection (a stalled
    /// client); `Duration::ZERO` for none. Default [`rowstream::DEFAULT_WRITE_TIMEOUT`].
    pub write_timeout: Duration,
    /// A client that has not sent a request's line and headers this long after the server
    /// started reading them (on a new connection: after it was accepted; on a kept-alive
    /// one: after the previous response) is disconnected without an answer;
    /// `Duration::ZERO` for none. Default [`DEFAULT_HEADER_READ_TIMEOUT`].
    pub header_read_timeout: Duration,
    /// Most bytes of a request's line and headers; more get `431`. Default
    /// [`MAX_HEADER_BYTES`]. With `http2`, HTTP/1 requests are bounded by the read
    /// buffer instead (this plus 64 KiB), HTTP/2 ones by their header list size.
    pub max_header_bytes: usize,
    /// Also serve HTTP/2 with prior knowledge (RFC 9113 §3.3) beside HTTP/1, told apart
    /// by the connection preface. Default `false`.
    pub http2: bool,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            grace: Duration::from_secs(30),
            write_timeout: rowstream::DEFAULT_WRITE_TIMEOUT,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            max_header_bytes: MAX_HEADER_BYTES,
            http2: false,
        }
    }
}

/// Serves `app` on `listener` until `shutdown` completes, then stops accepting and lets
/// open requests finish for up to `grace` before closing them; the other
/// [`ServeOptions`] are the defaults. See [`serve_with`].
///
/// # Errors
///
/// If the server fails.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<()> {
    let options = ServeOptions {
        grace,
        ..ServeOptions::default()
    };
    serve_with(listener, app, shutdown, options).await
}

/// How much longer than the write timeout a stalled connection is kept before it is
/// closed: the export stops first (its outcome is `timed_out`), then the socket goes.
pub const CONNECTION_CLOSE_MARGIN: Duration = Duration::from_secs(1);

/// As [`serve`], with connections whose writes make no progress for `write_timeout` plus
/// [`CONNECTION_CLOSE_MARGIN`] closed (`Duration::ZERO` for none), so an export whose own
/// write timeout is `write_timeout` stops before its connection is closed.
///
/// # Errors
///
/// If the server fails.
pub async fn serve_with_write_timeout(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
    write_timeout: Duration,
) -> std::io::Result<()> {
    let options = ServeOptions {
        grace,
        write_timeout,
        ..ServeOptions::default()
    };
    serve_with(listener, app, shutdown, options).await
}

/// Serves `app` on `listener` over HTTP/1.1 until `shutdown` completes, then stops
/// accepting, lets open requests finish for up to `options.grace`, and closes the
/// connections still open.
///
/// Accepted sockets get `TCP_NODELAY`, so small chunks are not held back by Nagle's
/// algorithm against delayed ACKs. Writes that make no progress for
/// `options.write_timeout` plus [`CONNECTION_CLOSE_MARGIN`] close their connection
/// ([`WriteTimeoutListener`]). A client
/// that does not send its request line and headers within `options.header_read_timeout`
/// is disconnected, so slow or idle connections cannot pile up (`axum::serve` sets no such
/// timeout). Requests whose line and headers exceed `options.max_header_bytes` get `431`.
///
/// # Errors
///
/// If the server fails.
pub async fn serve_with(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    options: ServeOptions,
) -> std::io::Result<()> {
    if options.write_timeout.is_zero() {
        let listener = listener.tap_io(|tcp| {
            if let Err(err) = tcp.set_nodelay(true) {
                tracing::warn!(%err, "cannot set TCP_NODELAY");
            }
        });
        run_server(listener, |tcp| tcp, app, shutdown, options).await
    } else {
        let listener =
            WriteTimeoutListener::new(listener, options.write_timeout + CONNECTION_CLOSE_MARGIN);
        run_server(listener, |io| io.get_ref(), app, shutdown, options).await
    }
}

async fn run_server<L>(
    mut listener: L,
    tcp_of: fn(&L::Io) -> &TcpStream,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    options: ServeOptions,
) -> std::io::Result<()>
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
{
    let header_read_timeout =
        (!options.header_read_timeout.is_zero()).then_some(options.header_read_timeout);
    // Bounds what a client can make the server buffer (hyper's default is ~400 KiB per
    // connection); responses still queue two 32 KiB chunks.
    let max_buf_size = options.max_header_bytes.saturating_add(64 * 1024);
    let mut http1 = hyper::server::conn::http1::Builder::new();
    http1
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout)
        .max_buf_size(max_buf_size)
        .max_header_size(options.max_header_bytes);
    let auto = options.http2.then(|| {
        let mut auto = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
        auto.http1()
            .timer(TokioTimer::new())
            .header_read_timeout(header_read_timeout)
            .max_buf_size(max_buf_size);
        auto.http2()
            .timer(TokioTimer::new())
            .max_header_list_size(u32::try_from(options.max_header_bytes).unwrap_or(u32::MAX));
        auto
    });
    let (stopping_tx, stopping) = tokio::sync::watch::channel(false);
    let mut connections = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            (io, addr) = listener.accept() => {
                let io = Resettable::new(io, tcp_of);
                let cut = Cut {
                    reset: io.reset.clone(),
                    ends: io.ends(),
                    close_delimited: Arc::new(AtomicBool::new(false)),
                    heads: heads::Heads::new(),
                };
                let tower = TowerToHyperService::new(app.clone());
                let close_delimited = cut.close_delimited.clone();
                let tracked = cut.heads.clone();
                let service = hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                    // An HTTP/1.0 client reads a streamed body to the connection's close.
                    if request.version() == hyper::Version::HTTP_10 {
                        close_delimited.store(true, Ordering::Relaxed);
                    }
                    tracked.track(hyper::service::Service::call(&tower, request))
                });
                let stopping = stopping.clone();
                match &auto {
                    Some(auto) => {
                        let connection = auto.serve_connection(TokioIo::new(io), service).into_owned();
                        connections.spawn(drive(connection, cut, addr, stopping));
                    }
                    None => {
                        let connection = http1.serve_connection(TokioIo::new(io), service);
                        connections.spawn(drive(connection, cut, addr, stopping));
                    }
                }
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    tracing::info!("shutting down; waiting for open requests");
    let _ = stopping_tx.send(true);
    let drained = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(options.grace, drained).await.is_err() {
        tracing::warn!(grace = ?options.grace, "open requests did not finish in time; closing them");
        connections.shutdown().await;
    }
    Ok(())
}

/// A connection being served: HTTP/1 alone, or HTTP/1 and HTTP/2 by preface.
trait Served: Future<Output = Result<(), Self::Error>> + Send {
    type Error: std::fmt::Display + Send;

    /// Finish the request in flight, if any, then close.
    fn graceful(self: std::pin::Pin<&mut Self>);

    /// Whether the connection ended because a response body failed (an export cut
    /// after its status was sent).
    fn body_failed(err: &Self::Error) -> bool;
}

/// Whether `err` (or an error it wraps) is hyper's error for a failed response body.
fn is_body_error(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(err);
    while let Some(err) = next {
        if let Some(hyper) = err.downcast_ref::<hyper::Error>() {
            return hyper.is_user();
        }
        next = err.source();
    }
    false
}

impl<I, S, B> Served for hyper::server::conn::http1::Connection<I, S>
where
    S: hyper::service::HttpService<hyper::body::Incoming, ResBody = B> + Send,
    S::Future: Send,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Error = hyper::Error;

    fn graceful(self: std::pin::Pin<&mut Self>) {
        self.graceful_shutdown();
    }

    fn body_failed(err: &hyper::Error) -> bool {
        is_body_error(err)
    }
}

impl<I, S, B> Served for hyper_util::server::conn::auto::Connection<'static, I, S, TokioExecutor>
where
    S: hyper::service::Service<
            hyper::Request<hyper::body::Incoming>,
            Response = hyper::Response<B>,
        > + Send,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn graceful(self: std::pin::Pin<&mut Self>) {
        self.graceful_shutdown();
    }

    fn body_failed(err: &Self::Error) -> bool {
        is_body_error(err.as_ref())
    }
}

/// How a connection whose response body fails is closed.
struct Cut {
    /// Set to close the socket with a reset.
    reset: Arc<AtomicBool>,
    /// The socket's local and peer addresses, to watch its send queue.
    ends: Option<(SocketAddr, SocketAddr)>,
    /// Set when the connection carried an HTTP/1.0 request: its streamed bodies end with
    /// the connection, so a failed one must end with a reset. (HTTP/1.1 bodies are
    /// chunked, and the missing terminating chunk is the signal; HTTP/2 resets the stream.)
    close_delimited: Arc<AtomicBool>,
    /// Its requests still waiting for their response head.
    heads: heads::Heads,
}

/// Serves one connection until it ends, or until the server stops (then gracefully).
/// A close-delimited (HTTP/1.0) connection that ends because a response body failed is
/// closed with a reset, once what was written has reached the client.
async fn drive<C: Served, A: std::fmt::Debug>(
    connection: C,
    cut: Cut,
    addr: A,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) {
    let mut connection = std::pin::pin!(connection);
    let ended = tokio::select! {
        result = connection.as_mut() => Some(result),
        _ = stopping.wait_for(|stopping| *stopping) => None,
    };
    // Stopping: a request still waiting for its head gets it first (see `heads.rs`).
    let ended = match ended {
        Some(result) => Some(result),
        None => tokio::select! {
            result = connection.as_mut() => Some(result),
            () = cut.heads.ready() => None,
        },
    };
    let result = match ended {
        Some(result) => result,
        None => {
            connection.as_mut().graceful();
            connection.as_mut().await
        }
    };
    if let Err(err) = result {
        tracing::debug!(?addr, %err, "connection ended with an error");
        if C::body_failed(&err) && cut.close_delimited.load(Ordering::Relaxed) {
            if let Some((local, peer)) = cut.ends {
                drain::wait(local, peer, RESET_DRAIN).await;
            }
            cut.reset.store(true, Ordering::Relaxed);
        }
    }
}

/// The longest a cut connection waits for its written bytes to reach the client before
/// the reset that ends it (which discards what is still unsent).
pub const RESET_DRAIN: Duration = Duration::from_secs(5);

/// A connection's socket that ends with a reset (RST, `SO_LINGER` 0) instead of a clean
/// close (FIN) when `reset` is set: on a close-delimited HTTP/1.0 body the close is the
/// only signal left, and a FIN would make a cut export look complete (RFC 9112 §6.3).
///
/// Whoever sets `reset` first waits, up to [`RESET_DRAIN`], for the socket's send queue
/// to empty, so the bytes before the failure still reach the client.
struct Resettable<I> {
    io: I,
    tcp_of: fn(&I) -> &TcpStream,
    reset: Arc<AtomicBool>,
}

impl<I> Resettable<I> {
    fn new(io: I, tcp_of: fn(&I) -> &TcpStream) -> Self {
        Self {
            io,
            tcp_of,
            reset: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The socket's local and peer addresses.
    fn ends(&self) -> Option<(SocketAddr, SocketAddr)> {
        let tcp = (self.tcp_of)(&self.io);
        Some((tcp.local_addr().ok()?, tcp.peer_addr().ok()?))
    }
}

impl<I> Drop for Resettable<I> {
    fn drop(&mut self) {
        if !self.reset.load(Ordering::Relaxed) {
            return;
        }
        let tcp = (self.tcp_of)(&self.io);
        if let Err(err) = socket2::SockRef::from(tcp).set_linger(Some(Duration::ZERO)) {
            tracing::debug!(%err, "cannot set SO_LINGER for a reset");
        }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Resettable<I> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Resettable<I> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

/// Which signal asked the process to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Ctrl-C (SIGINT): a person at a terminal.
    Interrupt,
    /// SIGTERM: an orchestrator, a service manager, a deploy.
    Terminate,
}

/// Completes on Ctrl-C (SIGINT) or, on Unix, SIGTERM.
pub async fn shutdown_signal() {
    stop_signal().await;
}

/// Completes on Ctrl-C (SIGINT) or, on Unix, SIGTERM, saying which.
pub async fn stop_signal() -> Signal {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::warn!(%err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(err) => {
                tracing::warn!(%err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => Signal::Interrupt,
        () = terminate => Signal::Terminate,
    }
}
