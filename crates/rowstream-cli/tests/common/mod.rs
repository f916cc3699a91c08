//! Helpers shared by the integration tests: a real server on 127.0.0.1:0.

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::time::Duration;

use sqlx::SqlitePool;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running server; call [`Server::stop`] at the end of the test.
pub struct Server {
    pub addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Server {
    /// Serves `rowstream_cli::router(pool)` on an ephemeral port.
    pub async fn start(pool: SqlitePool) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(rowstream_cli::serve(
            listener,
            rowstream_cli::router(pool),
            async move {
                let _ = stopped.await;
            },
            Duration::from_secs(5),
        ));
        Self { addr, stop, task }
    }

    /// `http://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Shuts the server down and waits for it.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        self.task
            .await
            .expect("server task")
            .expect("server ended cleanly");
    }
}
