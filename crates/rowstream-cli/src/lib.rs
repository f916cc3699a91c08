//! The `rowstream` server: serves the tables of a SQLite database as streaming exports.

pub mod demo;
