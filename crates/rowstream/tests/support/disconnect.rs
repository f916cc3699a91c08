//! A server for one route and a client that leaves in the middle of its response: what
//! the cancellation tests of the database fetchers (`postgres.rs`, `postgres_copy.rs`,
//! `mysql.rs`) share.

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Serves `app` on a free loopback port, on a task of its own; its address.
pub async fn serve_app(app: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// Connects, sends a GET, and closes the connection: after the first body chunk when
/// `after_first_chunk`, else after 300 ms (while the statement computes its first row).
pub async fn leave_early(addr: SocketAddr, after_first_chunk: bool) {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    if after_first_chunk {
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = tcp.read(&mut buf).await.unwrap();
            assert!(n > 0, "the server closed first");
            seen.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&seen);
            assert!(text.starts_with("HTTP/1.1 200"), "{text}");
            // The head, then a chunk-size line and at least one byte of data.
            if let Some((_, body)) = text.split_once("\r\n\r\n") {
                if body
                    .split_once("\r\n")
                    .is_some_and(|(_, data)| !data.is_empty())
                {
                    break;
                }
            }
        }
    } else {
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    drop(tcp);
}

/// Waits up to 2 s until `running` (how many statements of the test still run, asked of
/// the server) is 0 and the pool has no connection in use (`pool_size`: its size and idle
/// count); how long it took.
async fn assert_let_go<F, Fut>(mut running: F, pool_size: impl Fn() -> (u32, usize)) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = i64>,
{
    let start = std::time::Instant::now();
    loop {
        let running = running().await;
        let (size, idle) = pool_size();
        let in_use = size as usize - idle;
        if running == 0 && in_use == 0 {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "after 2 s: {running} statements still running, {in_use} connections in use"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits up to 2 s until no PostgreSQL backend runs a statement containing `marker` and
/// `pool` has no connection in use; how long it took.
#[cfg(feature = "postgres")]
pub async fn assert_cancelled(
    observer: &sqlx::PgPool,
    pool: &sqlx::PgPool,
    marker: &str,
) -> Duration {
    let query = "SELECT count(*) FROM pg_stat_activity \
                 WHERE state = 'active' AND query LIKE $1 AND pid <> pg_backend_pid()";
    let running = || async {
        sqlx::query_scalar(query)
            .bind(format!("%{marker}%"))
            .fetch_one(observer)
            .await
            .unwrap()
    };
    assert_let_go(running, || (pool.size(), pool.num_idle())).await
}

/// Waits up to 2 s until no MySQL/MariaDB connection runs a statement containing `marker`
/// and `pool` has no connection in use; how long it took.
#[cfg(feature = "mysql")]
pub async fn assert_killed(
    observer: &sqlx::MySqlPool,
    pool: &sqlx::MySqlPool,
    marker: &str,
) -> Duration {
    let query = "SELECT COUNT(*) FROM information_schema.PROCESSLIST \
                 WHERE INFO LIKE ? AND ID <> CONNECTION_ID()";
    let running = || async {
        sqlx::query_scalar(query)
            .bind(format!("%{marker}%"))
            .fetch_one(observer)
            .await
            .unwrap()
    };
    assert_let_go(running, || (pool.size(), pool.num_idle())).await
}
