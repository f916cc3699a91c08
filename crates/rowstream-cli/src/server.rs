//! The server around the [`crate::http`] router: [`serve_with`] accepts connections over
//! HTTP/1.1 with `TCP_NODELAY`, a header read timeout, a header size limit, a write
//! timeout and graceful shutdown; [`shutdown_signal`] is Ctrl-C or SIGTERM;
//! [`install_metrics`] installs the Prometheus recorder that `GET /metrics` renders.

use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use axum::Router;
use axum::serve::ListenerExt as _;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use rowstream::axum::WriteTimeoutListener;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

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
    /// How long open requests may run on after the shutdown signal before their
    /// connections are closed.
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
    /// [`MAX_HEADER_BYTES`].
    pub max_header_bytes: usize,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            grace: Duration::from_secs(10),
            write_timeout: rowstream::DEFAULT_WRITE_TIMEOUT,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            max_header_bytes: MAX_HEADER_BYTES,
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
        run_server(listener, app, shutdown, options).await
    } else {
        let listener =
            WriteTimeoutListener::new(listener, options.write_timeout + CONNECTION_CLOSE_MARGIN);
        run_server(listener, app, shutdown, options).await
    }
}

async fn run_server<L>(
    mut listener: L,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    options: ServeOptions,
) -> std::io::Result<()>
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
{
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(
            (!options.header_read_timeout.is_zero()).then_some(options.header_read_timeout),
        )
        // Bounds what a client can make the server buffer (hyper's default is ~400 KiB per
        // connection); responses still queue two 32 KiB chunks.
        .max_buf_size(options.max_header_bytes.saturating_add(64 * 1024))
        .max_header_size(options.max_header_bytes);
    let (stopping_tx, stopping) = tokio::sync::watch::channel(false);
    let mut connections = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            (io, addr) = listener.accept() => {
                let service = TowerToHyperService::new(app.clone());
                let connection = http.serve_connection(TokioIo::new(io), service);
                let mut stopping = stopping.clone();
                connections.spawn(async move {
                    let mut connection = std::pin::pin!(connection);
                    tokio::select! {
                        result = connection.as_mut() => {
                            if let Err(err) = result {
                                tracing::debug!(?addr, %err, "connection ended with an error");
                            }
                            return;
                        }
                        _ = stopping.wait_for(|stopping| *stopping) => {}
                    }
                    // Finish the request in flight, if any, then close.
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                });
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

/// Completes on Ctrl-C (SIGINT) or, on Unix, SIGTERM.
pub async fn shutdown_signal() {
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
        () = ctrl_c => {}
        () = terminate => {}
    }
}
