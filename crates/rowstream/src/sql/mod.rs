//! The SQL backends: fetchers for SQLite, PostgreSQL and MySQL through sqlx, keyset
//! pagination, and the value helpers their record encoders share. The public modules are
//! re-exported at the crate root (`rowstream::sqlite`, `rowstream::postgres`,
//! `rowstream::mysql`, `rowstream::keyset`).

#[cfg(any(feature = "postgres", feature = "mysql"))]
mod json_text;
pub mod keyset;
#[cfg(feature = "mysql")]
pub mod mysql;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "sqlite")]
pub mod sqlite;
#[cfg(any(feature = "postgres", feature = "mysql"))]
mod temporal;
