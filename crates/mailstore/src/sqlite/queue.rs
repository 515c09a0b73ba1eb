//! The outbound relay queue. Entries reference their body like messages do (the blob's
//! reference count includes them), are due when `next_attempt <= now`, and on giving up stay
//! with state `failed` and no next attempt until an admin reschedules or deletes them.

use super::appender::ensure_blob_row;
use super::codec::{self, backend, get, get_time, get_uuid, to_u32};
use super::{BLOB_ATTEMPTS, SqliteMailStore, commit};
use crate::{BlobId, NewOutbound, Outbound, Result, StoreError};
use sqlx::sqlite::SqliteRow;
use std::sync::Arc;
use time::OffsetDateTime;
use uuid::Uuid;

macro_rules! select_outbound {
    () => {
        "SELECT id, sender, recipients, blob, size, queued, attempts, next_attempt, \
         last_error, state FROM outbound "
    };
}

pub(super) async fn enqueue(store: &SqliteMailStore, msg: NewOutbound<'_>) -> Result<Uuid> {
    if msg.recipients.is_empty() {
        return Err(StoreError::Invalid(
            "an outbound message needs at least one recipient".to_owned(),
        ));
    }
    let size = store.check_size(msg.raw.len())?;
    let recipients =
        serde_json::to_string(msg.recipients).map_err(|e| StoreError::Backend(e.to_string()))?;
    let data: Arc<[u8]> = Arc::from(msg.raw);
    let mut hash = store.write_blob(data.clone(), None).await?;
    let id = Uuid::new_v4();
    let now = codec::millis(msg.now);
    for _ in 0..BLOB_ATTEMPTS {
        let mut tx = store.begin().await?;
        if !ensure_blob_row(&mut tx, &store.inner.blobs, &hash, size)
            .await
            .map_err(backend)?
        {
            tx.rollback().await.map_err(backend)?;
            hash = store.write_blob(data.clone(), Some(hash)).await?;
            continue;
        }
        sqlx::query(
            "INSERT INTO outbound (id, sender, recipients, blob, size, queued, attempts, \
             next_attempt, last_error, state) VALUES ($1, $2, $3, $4, $5, $6, 0, $6, NULL, 'queued')",
        )
        .bind(id.to_string())
        .bind(msg.from)
        .bind(&recipients)
        .bind(&hash)
        .bind(i64::from(size))
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        commit(tx).await?;
        return Ok(id);
    }
    Err(StoreError::Backend(
        "message body kept disappearing while being queued".to_owned(),
    ))
}

pub(super) async fn due(
    store: &SqliteMailStore,
    now: OffsetDateTime,
    limit: u32,
) -> Result<Vec<Outbound>> {
    sqlx::query(concat!(
        select_outbound!(),
        "WHERE state = 'queued' AND next_attempt <= $1 ORDER BY next_attempt, queued LIMIT $2"
    ))
    .bind(codec::millis(now))
    .bind(i64::from(limit))
    .fetch_all(store.reader())
    .await
    .map_err(backend)?
    .iter()
    .map(outbound)
    .collect()
}

pub(super) async fn outbound_done(store: &SqliteMailStore, id: Uuid) -> Result<()> {
    let mut tx = store.begin().await?;
    let deleted = sqlx::query("DELETE FROM outbound WHERE id = $1")
        .bind(id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(backend)?
        .rows_affected();
    if deleted == 0 {
        return Err(StoreError::NotFound("outbound message"));
    }
    commit(tx).await
}

pub(super) async fn outbound_retry(
    store: &SqliteMailStore,
    id: Uuid,
    error: &str,
    next_attempt: Option<OffsetDateTime>,
) -> Result<()> {
    let mut tx = store.begin().await?;
    let changed = sqlx::query(
        "UPDATE outbound SET attempts = attempts + 1, last_error = $2, next_attempt = $3, \
         state = CASE WHEN $3 IS NULL THEN 'failed' ELSE 'queued' END WHERE id = $1",
    )
    .bind(id.to_string())
    .bind(error)
    .bind(next_attempt.map(codec::millis))
    .execute(&mut *tx)
    .await
    .map_err(backend)?
    .rows_affected();
    if changed == 0 {
        return Err(StoreError::NotFound("outbound message"));
    }
    commit(tx).await
}

pub(super) async fn outbound_reschedule(
    store: &SqliteMailStore,
    id: Uuid,
    now: OffsetDateTime,
) -> Result<()> {
    let mut tx = store.begin().await?;
    let changed =
        sqlx::query("UPDATE outbound SET state = 'queued', next_attempt = $2 WHERE id = $1")
            .bind(id.to_string())
            .bind(codec::millis(now))
            .execute(&mut *tx)
            .await
            .map_err(backend)?
            .rows_affected();
    if changed == 0 {
        return Err(StoreError::NotFound("outbound message"));
    }
    commit(tx).await
}

pub(super) async fn queue(store: &SqliteMailStore) -> Result<Vec<Outbound>> {
    sqlx::query(concat!(select_outbound!(), "ORDER BY queued, id"))
        .fetch_all(store.reader())
        .await
        .map_err(backend)?
        .iter()
        .map(outbound)
        .collect()
}

fn outbound(row: &SqliteRow) -> Result<Outbound> {
    let recipients: &str = get(row, 2)?;
    let next_attempt: Option<i64> = get(row, 7)?;
    Ok(Outbound {
        id: get_uuid(row, 0)?,
        from: get(row, 1)?,
        recipients: serde_json::from_str(recipients)
            .map_err(|e| StoreError::Backend(format!("bad recipients in database: {e}")))?,
        blob: BlobId(get(row, 3)?),
        size: to_u32(get(row, 4)?, "size")?,
        queued: get_time(row, 5)?,
        attempts: to_u32(get(row, 6)?, "attempts")?,
        next_attempt: next_attempt.map(mailward_types::clock::from_millis),
        last_error: get(row, 8)?,
        state: get(row, 9)?,
    })
}
