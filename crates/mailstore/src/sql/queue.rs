//! The outbound relay queue. Entries reference their body like messages do (the blob's
//! reference count includes them), are due when `next_attempt <= now`, and on giving up stay
//! with state `failed` and no next attempt until an admin reschedules or deletes them.
//!
//! [`due`] claims what it hands out: `claimed_until` is set to `now +`
//! [`OUTBOUND_LEASE`](crate::OUTBOUND_LEASE) in the same statement that picks the entries
//! (on PostgreSQL skipping rows another node is claiming right now), so two relay workers
//! never get one entry at once, and the entries of a worker that died come back when the
//! claim runs out. A retry or a reschedule clears the claim.

use super::codec::{self, backend, get, get_time, get_uuid, outbound_columns, to_u32};
use super::{BLOB_ATTEMPTS, MailDb, MailDialect, commit};
use crate::{BlobId, NewOutbound, OUTBOUND_LEASE, Outbound, Result, StoreError};
use mailward_sql::{Row, query};
use std::sync::Arc;
use time::OffsetDateTime;
use uuid::Uuid;

pub(super) async fn enqueue<D: MailDialect>(s: &MailDb<D>, msg: NewOutbound<'_>) -> Result<Uuid> {
    if msg.recipients.is_empty() {
        return Err(StoreError::Invalid(
            "an outbound message needs at least one recipient".to_owned(),
        ));
    }
    let size = s.check_size(msg.raw.len())?;
    let recipients =
        serde_json::to_string(msg.recipients).map_err(|e| StoreError::Backend(e.to_string()))?;
    let data: Arc<[u8]> = Arc::from(msg.raw);
    let mut hash = D::prepare_body(s, data.clone(), None).await?;
    let id = Uuid::new_v4();
    let now = codec::millis(msg.now);
    for _ in 0..BLOB_ATTEMPTS {
        let mut tx = s.begin().await?;
        if !D::put_body_row(s, &mut tx, &hash, &data)
            .await
            .map_err(backend)?
        {
            tx.rollback().await.map_err(backend)?;
            hash = D::prepare_body(s, data.clone(), Some(hash)).await?;
            continue;
        }
        query::<D>(
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

pub(super) async fn due<D: MailDialect>(
    s: &MailDb<D>,
    now: OffsetDateTime,
    limit: u32,
) -> Result<Vec<Outbound>> {
    let lease = time::Duration::try_from(OUTBOUND_LEASE)
        .map_err(|e| StoreError::Backend(format!("outbound lease: {e}")))?;
    let mut tx = s.begin().await?;
    let mut due = query::<D>(D::CLAIM_DUE)
        .bind(codec::millis(now))
        .bind(codec::millis(now + lease))
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await
        .map_err(backend)?
        .iter()
        .map(outbound)
        .collect::<Result<Vec<_>>>()?;
    commit(tx).await?;
    // RETURNING promises no order.
    due.sort_by_key(|o| (o.next_attempt, o.queued, o.id));
    Ok(due)
}

pub(super) async fn outbound_done<D: MailDialect>(s: &MailDb<D>, id: Uuid) -> Result<()> {
    let mut tx = s.begin().await?;
    let deleted = query::<D>("DELETE FROM outbound WHERE id = $1")
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

pub(super) async fn outbound_retry<D: MailDialect>(
    s: &MailDb<D>,
    id: Uuid,
    error: &str,
    next_attempt: Option<OffsetDateTime>,
) -> Result<()> {
    let mut tx = s.begin().await?;
    let changed = query::<D>(
        "UPDATE outbound SET attempts = attempts + 1, last_error = $2, next_attempt = $3, \
         claimed_until = NULL, \
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

pub(super) async fn outbound_reschedule<D: MailDialect>(
    s: &MailDb<D>,
    id: Uuid,
    now: OffsetDateTime,
) -> Result<()> {
    let mut tx = s.begin().await?;
    let changed = query::<D>(
        "UPDATE outbound SET state = 'queued', next_attempt = $2, claimed_until = NULL \
         WHERE id = $1",
    )
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

pub(super) async fn queue<D: MailDialect>(s: &MailDb<D>) -> Result<Vec<Outbound>> {
    query::<D>(concat!(
        "SELECT ",
        outbound_columns!(),
        " FROM outbound ORDER BY queued, id"
    ))
    .fetch_all(&s.reader)
    .await
    .map_err(backend)?
    .iter()
    .map(outbound)
    .collect()
}

fn outbound<D: MailDialect>(row: &Row<D>) -> Result<Outbound> {
    let recipients: String = get(row, "recipients")?;
    let next_attempt: Option<i64> = get(row, "next_attempt")?;
    Ok(Outbound {
        id: get_uuid(row, "id")?,
        from: get(row, "sender")?,
        recipients: serde_json::from_str(&recipients)
            .map_err(|e| StoreError::Backend(format!("bad recipients in database: {e}")))?,
        blob: BlobId(get(row, "blob")?),
        size: to_u32(get(row, "size")?, "size")?,
        queued: get_time(row, "queued")?,
        attempts: to_u32(get(row, "attempts")?, "attempts")?,
        next_attempt: next_attempt.map(mailward_types::clock::from_millis),
        last_error: get(row, "last_error")?,
        state: get(row, "state")?,
    })
}
