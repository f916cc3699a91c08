//! A tickets service: axum + sqlx on SQLite, typed rows, a transformer that redacts the
//! reporter's e-mail address, and content negotiation (JSON array, NDJSON, CSV, … by
//! `Accept` or `?format=`).
//!
//! Run: `cargo run -p rowstream --example tickets_service --features axum,sqlite,csv`
//! then `curl -H 'Accept: text/csv' localhost:3001/tickets`.

use axum::Router;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;
use rowstream::Streamer;
use rowstream::axum::Negotiated;
use serde::Serialize;
use sqlx::SqlitePool;

/// A ticket as stored: `(id, subject, reporter)`.
type Row = (i64, String, String);

/// A ticket as published: the reporter's address is reduced to its domain.
#[derive(Debug, Serialize)]
pub struct PublicTicket {
    id: i64,
    subject: String,
    reporter_domain: String,
}

fn redact((id, subject, reporter): Row) -> Result<PublicTicket, std::convert::Infallible> {
    let reporter_domain = reporter
        .rsplit_once('@')
        .map(|(_, d)| d.to_owned())
        .unwrap_or_default();
    Ok(PublicTicket {
        id,
        subject,
        reporter_domain,
    })
}

async fn tickets(State(pool): State<SqlitePool>, negotiated: Negotiated) -> impl IntoResponse {
    let rows = rowstream::sqlite::query_as::<Row>(
        pool,
        "SELECT id, subject, reporter FROM tickets ORDER BY id",
    );
    let chunks = Streamer::default().stream(rows, redact, negotiated.encoder());
    negotiated.stream_response().respond(chunks).await
}

/// The service's router over `pool`.
pub fn app(pool: SqlitePool) -> Router {
    Router::new()
        .route("/tickets", get(tickets))
        .with_state(pool)
}

/// An in-memory database with `count` tickets.
pub async fn demo_pool(count: i64) -> Result<SqlitePool, sqlx::Error> {
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect("sqlite::memory:")
        .await?;
    sqlx::query("CREATE TABLE tickets (id INTEGER PRIMARY KEY, subject TEXT NOT NULL, reporter TEXT NOT NULL)")
        .execute(&pool)
        .await?;
    for id in 1..=count {
        sqlx::query("INSERT INTO tickets (subject, reporter) VALUES (?, ?)")
            .bind(format!(
                "Printer on floor {id} says \"PC LOAD LETTER\", again"
            ))
            .bind(format!("user{id}@example.org"))
            .execute(&pool)
            .await?;
    }
    Ok(pool)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3001").await?;
    println!("listening on http://{}/tickets", listener.local_addr()?);
    axum::serve(listener, app(demo_pool(1000).await?)).await?;
    Ok(())
}
