//! The statements of blob garbage collection, shared by both backends (what happens to a
//! body file is SQLite's business): mark newly unreferenced blobs, delete those marked long
//! enough ago.
//!
//! Deletion is one conditional statement: it removes only rows that still have no
//! reference and were marked at or before the cutoff when the row is deleted, so a
//! reference taken meanwhile (on PostgreSQL by another node: the appender's row lock makes
//! the `DELETE` wait and re-check) always wins.

use super::MailDialect;
use super::codec::{backend, get, millis};
use crate::Result;
use mailward_sql::{Ex, query};
use time::OffsetDateTime;

/// Marks blobs without references that are not marked yet with `now`.
pub(crate) async fn mark_unreferenced<'e, D: MailDialect>(
    ex: impl Into<Ex<'e, D>>,
    now: OffsetDateTime,
) -> Result<()> {
    query::<D>("UPDATE blobs SET orphaned_at = $1 WHERE refs = 0 AND orphaned_at IS NULL")
        .bind(millis(now))
        .execute(ex)
        .await
        .map_err(backend)?;
    Ok(())
}

/// Deletes up to `limit` blobs without references marked at or before `cutoff`; returns
/// their hashes and sizes.
pub(crate) async fn delete_unreferenced<'e, D: MailDialect>(
    ex: impl Into<Ex<'e, D>>,
    cutoff: OffsetDateTime,
    limit: usize,
) -> Result<Vec<(String, i64)>> {
    query::<D>(
        "DELETE FROM blobs WHERE hash IN (SELECT hash FROM blobs \
         WHERE refs = 0 AND orphaned_at <= $1 LIMIT $2) \
         AND refs = 0 AND orphaned_at <= $1 RETURNING hash, size",
    )
    .bind(millis(cutoff))
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .fetch_all(ex)
    .await
    .map_err(backend)?
    .iter()
    .map(|row| Ok((get(row, "hash")?, get(row, "size")?)))
    .collect()
}
