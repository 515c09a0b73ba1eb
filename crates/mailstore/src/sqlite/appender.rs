//! Group commit for appends and local deliveries.
//!
//! One task takes append jobs off a queue. Whenever it is free it takes every job waiting
//! (up to [`MAX_BATCH`]) and runs them in one `BEGIN IMMEDIATE` transaction on the writer
//! connection, each inside its own savepoint so one failing job (a folder deleted meanwhile)
//! does not fail the others, then commits once: one WAL fsync for the whole batch. While a
//! batch commits the next one gathers, so the batch size follows the load by itself and a
//! lone append waits for nobody.
//!
//! The statements of a job are the shared ones ([`insert_messages`]); what is SQLite's own
//! is the batching, and the body's row. A job arrives with its body already durable in the
//! blob directory. Inserting the blob's
//! row is where the "a row exists only while its file does" rule is enforced: if the row is
//! new, the file is checked for (garbage collection may have removed an orphan file between
//! the caller's write and now; it runs on the same writer connection, so it cannot do so
//! between this check and the commit), and a missing file sends the job back with
//! [`JobError::BlobMissing`] for the caller to write the body again.

use super::blobs::BlobDir;
use crate::StoreError;
use crate::sql::append::{Job, JobError, Outcome, insert_messages};
use crate::watchers::Watchers;
use mailward_sql::Sqlite;
use sqlx::{Connection, SqliteConnection, SqlitePool};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Most jobs committed in one transaction.
const MAX_BATCH: usize = 256;

/// A job and where its answer goes.
#[derive(Debug)]
pub(crate) struct AppendJob {
    pub job: Job,
    pub reply: oneshot::Sender<Result<Vec<crate::Appended>, JobError>>,
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
    let job = &job.job;
    if !ensure_blob_row(conn, blobs, &job.hash, job.data.len()).await? {
        return Err(JobError::BlobMissing);
    }
    insert_messages::<Sqlite>(conn, job).await
}

/// Inserts the blob's row if it is new; `false` when it is new but its file is gone.
/// Must run on the writer connection, inside the transaction that references the blob.
pub(super) async fn ensure_blob_row(
    conn: &mut SqliteConnection,
    blobs: &BlobDir,
    hash: &str,
    size: usize,
) -> Result<bool, sqlx::Error> {
    let inserted =
        sqlx::query("INSERT INTO blobs (hash, size) VALUES ($1, $2) ON CONFLICT (hash) DO NOTHING")
            .bind(hash)
            .bind(i64::try_from(size).unwrap_or(i64::MAX))
            .execute(&mut *conn)
            .await?
            .rows_affected();
    // A known row guarantees the file; a new one needs a look (a stat, microseconds).
    Ok(inserted == 0 || blobs.exists(hash))
}
