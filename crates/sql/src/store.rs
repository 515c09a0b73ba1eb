//! [`SqlStore`]: the pools of one database, and [`apply`], the check of every
//! `update(id, |old| new)` primitive.

use crate::dialect::Dialect;
use crate::sqlite::Checkpointer;
use sqlx::{Pool, Transaction};
use std::sync::Arc;

/// The connection pools of one database. Cheap to clone.
///
/// SQLite: `writer` is exactly one connection (every write and read-modify-write; SQLite
/// has one writer at a time and queueing in the pool beats spinning on the file lock),
/// `reader` a pool of connections that WAL lets run beside it, and a background task
/// checkpoints the WAL. PostgreSQL: both are the same pool.
#[derive(Debug)]
pub struct SqlStore<D: Dialect> {
    /// Writes and read-modify-writes.
    pub writer: Pool<D::DB>,
    /// Plain reads.
    pub reader: Pool<D::DB>,
    /// Background WAL checkpoints (SQLite files); stopped with the last clone.
    pub(crate) checkpointer: Option<Arc<Checkpointer>>,
}

impl<D: Dialect> Clone for SqlStore<D> {
    fn clone(&self) -> Self {
        SqlStore {
            writer: self.writer.clone(),
            reader: self.reader.clone(),
            checkpointer: self.checkpointer.clone(),
        }
    }
}

impl<D: Dialect> SqlStore<D> {
    /// One pool for both reads and writes.
    pub fn single(pool: Pool<D::DB>) -> SqlStore<D> {
        SqlStore {
            writer: pool.clone(),
            reader: pool,
            checkpointer: None,
        }
    }

    /// Begins a write transaction ([`Dialect::begin_write`]).
    pub async fn begin_write(&self) -> Result<Transaction<'static, D::DB>, sqlx::Error> {
        D::begin_write(&self.writer).await
    }

    /// Closes both pools, waiting for connections in use to be returned.
    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }
}

/// Why [`apply`] refused an update.
#[derive(Debug)]
pub enum UpdateError<E> {
    /// The closure refused.
    Refused(E),
    /// The closure changed the record's key (named).
    KeyChanged(&'static str),
}

/// Runs an update closure `f` on `old`, refusing a result whose key (`key`) differs from
/// the old one. Every `update(id, |old| new)` primitive reads the row (locked, in a write
/// transaction), calls this and writes the result in the same transaction.
pub fn apply<T, K: PartialEq, E>(
    old: T,
    f: impl FnOnce(T) -> Result<T, E>,
    key: impl Fn(&T) -> K,
    what: &'static str,
) -> Result<T, UpdateError<E>> {
    let before = key(&old);
    let new = f(old).map_err(UpdateError::Refused)?;
    if key(&new) != before {
        return Err(UpdateError::KeyChanged(what));
    }
    Ok(new)
}
