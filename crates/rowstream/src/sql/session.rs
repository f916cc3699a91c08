//! One pooled connection for the length of a stream, which stops its statement in the
//! server when the stream is dropped in the middle of it.

use std::sync::Arc;

use sqlx::Pool;
use sqlx::pool::PoolConnection;

use super::{Backend, ConnectOptions, OnDrop};

/// How long a connection whose statement was stopped may take to become ready again (to
/// answer a ping after the cancelled statement's end) before it is closed instead of
/// going back to the pool.
const RELEASE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// A pooled connection with its server-side id. Dropped while a statement may be running
/// on it (after [`conn`](Session::conn), before [`finish`](Session::finish)), it stops the
/// statement as the backend's [`OnDrop`] says; dropped between statements, it returns the
/// connection to the pool as it is.
pub(crate) struct Session<DB: Backend> {
    conn: Option<PoolConnection<DB>>,
    id: DB::Id,
    options: Arc<ConnectOptions<DB>>,
    busy: bool,
    on_drop: OnDrop,
}

impl<DB: Backend> Session<DB> {
    /// Acquires a connection from `pool` and prepares it ([`Backend::open`]).
    ///
    /// # Errors
    ///
    /// The pool has no connection for us within its `acquire_timeout`, or preparing the
    /// connection fails.
    pub(crate) async fn open(pool: &Pool<DB>) -> Result<Self, sqlx::Error> {
        let mut conn = pool.acquire().await?;
        let id = DB::open(&mut conn).await?;
        Ok(Self {
            conn: Some(conn),
            id,
            options: pool.connect_options(),
            busy: false,
            on_drop: DB::ON_DROP,
        })
    }

    /// Dropped in the middle of a statement, this session does as `on_drop` says instead
    /// of the backend's [`Backend::ON_DROP`]: for a statement whose end a ping cannot read
    /// reliably (PostgreSQL's `COPY … TO STDOUT`), the connection is closed.
    #[cfg(feature = "postgres")]
    pub(crate) fn with_on_drop(mut self, on_drop: OnDrop) -> Self {
        self.on_drop = on_drop;
        self
    }

    /// The connection, for a statement: from now until [`finish`](Self::finish) a drop
    /// stops the statement.
    pub(crate) fn conn(&mut self) -> &mut DB::Connection {
        self.busy = true;
        match self.conn.as_mut() {
            Some(conn) => conn,
            None => unreachable!("the connection is only taken on drop"),
        }
    }

    /// The statement ran to its end: nothing to stop. A read buffer the driver grew for
    /// a large row is let go (`shrink_buffers`): it is freed at the connection's next read
    /// instead of being kept, and reused, for the connection's life.
    pub(crate) fn finish(&mut self) {
        use sqlx::Connection as _;
        self.busy = false;
        if let Some(conn) = self.conn.as_mut() {
            conn.shrink_buffers();
        }
    }

    /// Ends the session after its last statement ran to its end, letting go of the memory
    /// its connection's buffers grew to for a large row before the connection rests in the
    /// pool: the driver's read buffer keeps the allocation of the largest message it ever
    /// read (a 64 MiB value: 64 MiB per pooled connection, for as long as it lives) until
    /// it is shrunk ([`finish`](Self::finish)) and one more message is read. Costs one
    /// round trip (a ping) per stream; a connection that fails it is closed instead of
    /// pooled.
    pub(crate) async fn end(mut self) {
        use sqlx::Connection as _;
        self.finish();
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        if conn.ping().await.is_err() {
            conn.close_on_drop();
        }
    }
}

impl<DB: Backend> Drop for Session<DB> {
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        if !self.busy {
            return; // back to the pool as usual
        }
        let (id, options) = (self.id, self.options.clone());
        match self.on_drop {
            OnDrop::Release => drop(conn),
            OnDrop::CancelThenRelease => {
                let Ok(runtime) = tokio::runtime::Handle::try_current() else {
                    // No runtime to run the cancel on: close the connection instead of
                    // returning a busy one.
                    drop(conn.detach());
                    return;
                };
                runtime.spawn(async move {
                    use sqlx::Connection as _;
                    if DB::cancel(&options, id).await.is_err() {
                        // The cancel did not get through: never hand out a busy connection.
                        let _ = tokio::time::timeout(RELEASE_TIMEOUT, conn.close()).await;
                        return;
                    }
                    // Read the cancelled statement's end here, within a bound: the pool's
                    // own check on release waits without one, and a connection that never
                    // answers would hold its pool slot for good. Only then are the read
                    // buffers shrunk: shrunk while the statement's rows were still
                    // arriving, a TLS connection lost its place in the stream and never
                    // became ready again.
                    match tokio::time::timeout(RELEASE_TIMEOUT, conn.ping()).await {
                        Ok(Ok(())) => {
                            conn.shrink_buffers();
                            drop(conn);
                        }
                        // Closed here, out of the pool, which opens another when needed.
                        _ => drop(conn.detach()),
                    }
                });
            }
            OnDrop::CancelThenClose => {
                // Out of the pool at once: it is never handed to another request.
                let conn = conn.detach();
                let Ok(runtime) = tokio::runtime::Handle::try_current() else {
                    drop(conn);
                    return;
                };
                runtime.spawn(async move {
                    // Cancel first, so the server stops computing; then drop the socket.
                    let _ = DB::cancel(&options, id).await;
                    drop(conn);
                });
            }
        }
    }
}

/// Streams the rows of `statement` on a [`Session`] of its own, each row through `map`;
/// the stream ends after its first error (an argument that failed to bind is that error,
/// before any connection is taken). Dropped in the middle of
/// the statement, the session stops it in the server.
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub(crate) fn fetch<DB, A, T>(
    pool: Pool<DB>,
    statement: super::Statement<A>,
    mut map: impl FnMut(DB::Row) -> Result<T, sqlx::Error> + Send + 'static,
) -> impl futures_core::Stream<Item = Result<T, sqlx::Error>> + Send + 'static
where
    DB: Backend + sqlx::database::HasStatementCache,
    A: for<'q> sqlx::IntoArguments<'q, DB> + 'static,
    T: Send + 'static,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
{
    use futures_util::StreamExt as _;
    let super::Statement {
        sql,
        args,
        persistent,
    } = statement;
    async_stream::stream! {
        let args = match args {
            Ok(args) => args,
            Err(err) => {
                yield Err(err);
                return;
            }
        };
        let mut session = match Session::open(&pool).await {
            Ok(session) => session,
            Err(err) => {
                yield Err(err);
                return;
            }
        };
        {
            let mut rows = sqlx::query_with(&sql, args)
                .persistent(persistent)
                .fetch(session.conn());
            while let Some(row) = rows.next().await {
                let item = row.and_then(&mut map);
                let failed = item.is_err();
                yield item;
                if failed {
                    break;
                }
            }
        }
        session.end().await;
    }
}
