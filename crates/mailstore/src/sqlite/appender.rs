//! Group commit for appends and local deliveries.
//!
//! One task takes append jobs off a queue. Whenever it is free it takes every job waiting
//! (up to [`MAX_BATCH`]) and runs them in one `BEGIN IMMEDIATE` transaction on the writer
//! connection, each inside its own savepoint so one failing job (a folder deleted meanwhile)
//! does not fail the others, then commits once: one WAL fsync for the whole batch. While a
//! batch commits the next one gathers, so the batch size follows the load by itself and a
//! lone append waits for nobody.
//!
//! A job arrives with its body already durable in the blob directory. Inserting the blob's
//! row is where the "a row exists only while its file does" rule is enforced: if the row is
//! new, the file is checked for (garbage collection may have removed an orphan file between
//! the caller's write and now; it runs on the same writer connection, so it cannot do so
//! between this check and the commit), and a missing file sends the job back with
//! [`JobError::BlobMissing`] for the caller to write the body again.

use super::blobs::BlobDir;
use super::codec::{backend, to_u32};
use super::watchers::Watchers;
use crate::{Appended, FolderId, Result, StoreError};
use sqlx::{Connection, Row, SqliteConnection, SqlitePool};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

/// Most jobs committed in one transaction.
const MAX_BATCH: usize = 256;

/// Where a message goes.
#[derive(Debug, Clone)]
pub(super) enum Dest {
    Folder(FolderId),
    /// The INBOX of an account (local delivery).
    InboxOf(Uuid),
}

#[derive(Debug, Clone)]
pub(super) struct Target {
    pub dest: Dest,
    pub flags: i64,
    pub keywords: Option<String>,
    pub internal_date: i64,
}

#[derive(Debug)]
pub(super) struct AppendJob {
    pub hash: String,
    pub size: u32,
    pub targets: Vec<Target>,
    pub reply: oneshot::Sender<Result<Vec<Appended>, JobError>>,
}

#[derive(Debug)]
pub(super) enum JobError {
    /// The body's file vanished before its row was committed: write it again and resubmit.
    BlobMissing,
    Store(StoreError),
}

impl From<StoreError> for JobError {
    fn from(e: StoreError) -> Self {
        JobError::Store(e)
    }
}

impl From<sqlx::Error> for JobError {
    fn from(e: sqlx::Error) -> Self {
        JobError::Store(backend(e))
    }
}

/// Starts the appender; it stops when the last sender is dropped.
pub(super) fn spawn(
    writer: SqlitePool,
    blobs: BlobDir,
    watchers: Arc<Watchers>,
) -> mpsc::UnboundedSender<AppendJob> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(run(rx, writer, blobs, watchers));
    tx
}

async fn run(
    mut rx: mpsc::UnboundedReceiver<AppendJob>,
    writer: SqlitePool,
    blobs: BlobDir,
    watchers: Arc<Watchers>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        commit_batch(&writer, &blobs, &watchers, &mut batch).await;
    }
}

/// One job's effect before commit: what to answer and which accounts changed.
type Outcome = Result<(Vec<Appended>, Vec<Uuid>), JobError>;

async fn commit_batch(
    writer: &SqlitePool,
    blobs: &BlobDir,
    watchers: &Watchers,
    batch: &mut Vec<AppendJob>,
) {
    match run_batch(writer, blobs, batch).await {
        Ok(outcomes) => {
            for (job, outcome) in batch.drain(..).zip(outcomes) {
                let reply = outcome.map(|(appended, accounts)| {
                    watchers.bump_all(accounts);
                    appended
                });
                // The caller may have gone away; the message is stored all the same.
                let _ = job.reply.send(reply);
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, jobs = batch.len(), "append batch failed");
            for job in batch.drain(..) {
                let _ = job
                    .reply
                    .send(Err(JobError::Store(StoreError::Backend(e.to_string()))));
            }
        }
    }
}

async fn run_batch(
    writer: &SqlitePool,
    blobs: &BlobDir,
    batch: &[AppendJob],
) -> Result<Vec<Outcome>, sqlx::Error> {
    let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
    let mut outcomes = Vec::with_capacity(batch.len());
    if let [job] = batch {
        // Alone: no savepoint needed, a failure rolls the whole transaction back.
        let outcome = apply(&mut tx, blobs, job).await;
        if outcome.is_err() {
            tx.rollback().await?;
            return Ok(vec![outcome]);
        }
        outcomes.push(outcome);
    } else {
        for job in batch {
            let mut savepoint = tx.begin().await?;
            let outcome = apply(&mut savepoint, blobs, job).await;
            if outcome.is_ok() {
                savepoint.commit().await?;
            } else {
                savepoint.rollback().await?;
            }
            outcomes.push(outcome);
        }
    }
    tx.commit().await?;
    Ok(outcomes)
}

async fn apply(conn: &mut SqliteConnection, blobs: &BlobDir, job: &AppendJob) -> Outcome {
    if !ensure_blob_row(conn, blobs, &job.hash, job.size).await? {
        return Err(JobError::BlobMissing);
    }
    let mut appended = Vec::with_capacity(job.targets.len());
    let mut accounts = Vec::with_capacity(job.targets.len());
    for target in &job.targets {
        let row = match target.dest {
            Dest::Folder(id) => {
                sqlx::query(
                    "UPDATE folders SET uid_next = uid_next + 1, \
                     highest_modseq = highest_modseq + 1 WHERE id = $1 \
                     RETURNING id, account, uid_next - 1, uid_validity, highest_modseq",
                )
                .bind(id)
                .fetch_optional(&mut *conn)
                .await?
            }
            Dest::InboxOf(account) => {
                sqlx::query(
                    "UPDATE folders SET uid_next = uid_next + 1, \
                 highest_modseq = highest_modseq + 1 WHERE account = $1 AND name = 'INBOX' \
                 RETURNING id, account, uid_next - 1, uid_validity, highest_modseq",
                )
                .bind(account.to_string())
                .fetch_optional(&mut *conn)
                .await?
            }
        };
        let Some(row) = row else {
            return Err(JobError::Store(StoreError::NotFound(match target.dest {
                Dest::Folder(_) => "folder",
                Dest::InboxOf(_) => "account",
            })));
        };
        let folder: i64 = row.try_get(0)?;
        let account = super::codec::get_uuid(&row, 1)?;
        let uid: i64 = row.try_get(2)?;
        let uid = u32::try_from(uid)
            .map_err(|_| StoreError::Invalid("the folder has run out of UIDs".to_owned()))?;
        let uid_validity = to_u32(row.try_get(3)?, "UIDVALIDITY")?;
        let modseq: i64 = row.try_get(4)?;
        sqlx::query(
            "INSERT INTO messages (folder, uid, blob, size, internal_date, flags, keywords, \
             modseq) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(folder)
        .bind(i64::from(uid))
        .bind(&job.hash)
        .bind(i64::from(job.size))
        .bind(target.internal_date)
        .bind(target.flags)
        .bind(target.keywords.as_deref())
        .bind(modseq)
        .execute(&mut *conn)
        .await?;
        appended.push(Appended {
            folder,
            uid_validity,
            uid,
        });
        if !accounts.contains(&account) {
            accounts.push(account);
        }
    }
    Ok((appended, accounts))
}

/// Inserts the blob's row if it is new; `false` when it is new but its file is gone.
/// Must run on the writer connection, inside the transaction that references the blob.
pub(super) async fn ensure_blob_row(
    conn: &mut SqliteConnection,
    blobs: &BlobDir,
    hash: &str,
    size: u32,
) -> Result<bool, sqlx::Error> {
    let inserted =
        sqlx::query("INSERT INTO blobs (hash, size) VALUES ($1, $2) ON CONFLICT (hash) DO NOTHING")
            .bind(hash)
            .bind(i64::from(size))
            .execute(&mut *conn)
            .await?
            .rows_affected();
    // A known row guarantees the file; a new one needs a look (a stat, microseconds).
    Ok(inserted == 0 || blobs.exists(hash))
}
