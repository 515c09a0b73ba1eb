//! The SQL layer every role's store sits on: one source of statements for SQLite and
//! PostgreSQL.
//!
//! A store is written once, generic over a [`Dialect`]; the dialect supplies the database
//! type, the row-lock suffixes of a read-modify-write ([`Lock`]), how booleans are read,
//! and how a write transaction begins. Statements use `$n` placeholders (both backends
//! accept them), unix-millisecond `BIGINT`/`INTEGER` timestamps and hyphenated UUID text,
//! so the same text runs on both; the few statements that truly differ live in the role's
//! own extension of [`Dialect`] (identity's refresh rotation, for example).
//!
//! - [`SqlStore`]: the connection pools of one database (a single writer connection and a
//!   pool of readers for SQLite, one pool for PostgreSQL), [`SqlStore::begin_write`] and
//!   the SQLite WAL [`Checkpointer`](sqlite::Checkpointer).
//! - [`query`] / [`Q`]: a statement with its arguments, run on a pool or a transaction
//!   ([`Ex`]); rows come back as [`Row`], read with [`Row::get`] / [`Row::get_bool`].
//! - [`migrate`]: the versioned migration runner (each migration once, even with several
//!   processes starting at once; a newer database is refused).
//! - [`apply`]: the check every `update(id, |old| new)` primitive runs on the closure's
//!   result.
//!
//! A role adds its store by writing its statements against `SqlStore<D>` in one module
//! tree, its DDL once per dialect (the only text written twice: types and triggers differ),
//! and an extension trait for any statement that cannot be shared.

mod dialect;
mod migrate;
pub mod postgres;
mod query;
pub mod sqlite;
mod store;

pub use dialect::{Dialect, Lock, Postgres, Sqlite};
pub use migrate::{MigrateError, migrate};
pub use query::{Column, Conn, DbRow, Done, Ex, Q, Row, Value, query, query_locked};
pub use store::{SqlStore, UpdateError, apply};

/// Re-exported so stores name one sqlx.
pub use sqlx;
