//! A multi-tenant export on PostgreSQL: typed rows of a query with a bound tenant id,
//! negotiated format, and one configured `Streamer` — shared limits and the `metrics`
//! observer — for every handler. Dropping the response (the client left) cancels the
//! statement in the server.
//!
//! - `GET /tenants/{tenant}/tickets`: that tenant's tickets, in the format negotiated from
//!   `Accept` or `?format=`; at most [`MAX_ROWS`] rows (the next one fails the export).
//!
//! Run: `DATABASE_URL=postgres://… cargo run -p rowstream --example tenant_export --features axum,postgres,metrics`
//! then `curl -H 'Accept: application/x-ndjson' localhost:3003/tenants/7/tickets`.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::response::IntoResponse;
use axum::routing::get;
use rowstream::axum::Negotiated;
use rowstream::metrics::MetricsObserver;
use rowstream::{Limits, Streamer};
use serde::Serialize;
use sqlx::postgres::{PgPool, PgRow};
use sqlx::{FromRow, Row};

/// Most rows one export may carry.
pub const MAX_ROWS: u64 = 10_000;

/// One ticket, as read and as sent.
#[derive(Debug, Serialize)]
pub struct Ticket {
    id: i64,
    tenant: i64,
    subject: String,
}

// With sqlx's `derive` feature: `#[derive(sqlx::FromRow)]` on `Ticket` instead.
impl<'r> FromRow<'r, PgRow> for Ticket {
    fn from_row(row: &'r PgRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: row.try_get("id")?,
            tenant: row.try_get("tenant")?,
            subject: row.try_get("subject")?,
        })
    }
}

/// What every handler shares: the pool, the one configured streamer, and the query.
#[derive(Debug, Clone)]
pub struct App {
    pool: PgPool,
    streamer: Streamer,
    tickets_sql: Arc<str>,
}

async fn tickets(
    State(app): State<App>,
    Path(tenant): Path<i64>,
    negotiated: Negotiated,
) -> impl IntoResponse {
    let query = sqlx::query_as::<_, Ticket>(&app.tickets_sql).bind(tenant);
    let rows = rowstream::postgres::fetch_as(app.pool.clone(), query);
    negotiated.respond_with(&app.streamer, rows).await
}

/// The service on `pool`, reading the tickets of `table`.
pub fn app(pool: PgPool, table: &str) -> Router {
    let streamer = Streamer::default()
        .with_limits(
            Limits::default()
                .max_items(MAX_ROWS)
                .deadline(Duration::from_secs(600)),
        )
        // Install a `metrics` recorder (Prometheus exporter …) before this line.
        .with_observer(Arc::new(MetricsObserver::new([(
            "export",
            "tickets".to_owned(),
        )])));
    let tickets_sql =
        format!("SELECT id, tenant, subject FROM {table} WHERE tenant = $1 ORDER BY id").into();
    Router::new()
        .route("/tenants/{tenant}/tickets", get(tickets))
        .with_state(App {
            pool,
            streamer,
            tickets_sql,
        })
}

/// Creates `table` with `per_tenant` tickets for each of the tenants 1, 2 and 3.
///
/// # Errors
///
/// A database error.
pub async fn seed(pool: &PgPool, table: &str, per_tenant: i64) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(&format!(
        "CREATE TABLE {table} (id bigserial PRIMARY KEY, tenant int8 NOT NULL, subject text NOT NULL);
         INSERT INTO {table} (tenant, subject)
           SELECT t, 'ticket ' || n FROM generate_series(1, 3) t, generate_series(1, {per_tenant}) n
           ORDER BY n, t;"
    ))
    .execute(pool)
    .await?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let pool = PgPool::connect(&std::env::var("DATABASE_URL")?).await?;
    sqlx::raw_sql("DROP TABLE IF EXISTS tenant_tickets")
        .execute(&pool)
        .await?;
    seed(&pool, "tenant_tickets", 100).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3003").await?;
    println!(
        "listening on http://{}/tenants/1/tickets",
        listener.local_addr()?
    );
    axum::serve(listener, app(pool, "tenant_tickets")).await?;
    Ok(())
}
