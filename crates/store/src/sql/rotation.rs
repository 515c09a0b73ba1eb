//! Group commit of refresh-token rotations, for dialects with one writer connection
//! ([`IdentityDialect::GROUP_COMMIT`]: SQLite).
//!
//! Under a refresh storm every rotation used to be its own commit, and each commit wrote
//! every page it touched to the WAL again (the table's newest page, the expiry and user
//! indexes, the parent's row): about 40 KiB of WAL per rotation, a checkpoint that could
//! not keep up, and the writer held while the WAL was truncated. Here rotations waiting
//! for the writer are run in one `BEGIN IMMEDIATE … COMMIT`: each is still one statement
//! (so two rotations of one token still serialise, and the second finds the parent spent),
//! a statement that fails is undone alone (SQLite's statement journal) and answered with
//! its error, and no caller is answered before the commit that holds its rotation.

use super::IdentityDialect;
use mailward_sql::{Row, SqlStore, query};
use tokio::sync::{mpsc, oneshot};

/// Rotations committed together at most.
const BATCH: usize = 128;

/// One rotation waiting for the writer: the statement's four arguments and where its rows
/// go.
struct Job<D: IdentityDialect> {
    new_hash: String,
    old_hash: String,
    now_ms: i64,
    expires_ms: i64,
    reply: oneshot::Sender<std::result::Result<Vec<Row<D>>, sqlx::Error>>,
}

/// The queue in front of the writer; the task ends when the last handle is dropped.
pub(super) struct RotationQueue<D: IdentityDialect> {
    tx: mpsc::UnboundedSender<Job<D>>,
}

impl<D: IdentityDialect> std::fmt::Debug for RotationQueue<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RotationQueue")
    }
}

impl<D: IdentityDialect> RotationQueue<D> {
    /// Starts the group-commit task on `db`'s writer.
    pub(super) fn start(db: SqlStore<D>) -> RotationQueue<D> {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(db, rx));
        RotationQueue { tx }
    }

    /// Runs one rotation in the next group commit; the rows are the statement's.
    pub(super) async fn rotate(
        &self,
        new_hash: &str,
        old_hash: &str,
        now_ms: i64,
        expires_ms: i64,
    ) -> std::result::Result<Vec<Row<D>>, sqlx::Error> {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            new_hash: new_hash.to_owned(),
            old_hash: old_hash.to_owned(),
            now_ms,
            expires_ms,
            reply,
        };
        if self.tx.send(job).is_err() {
            return Err(sqlx::Error::PoolClosed);
        }
        answer.await.unwrap_or(Err(sqlx::Error::PoolClosed))
    }
}

async fn run<D: IdentityDialect>(db: SqlStore<D>, mut rx: mpsc::UnboundedReceiver<Job<D>>) {
    let mut jobs = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut jobs, BATCH).await > 0 {
        let results = commit_batch(&db, &jobs).await;
        match results {
            Ok(results) => {
                for (job, result) in jobs.drain(..).zip(results) {
                    let _ = job.reply.send(result);
                }
            }
            Err(e) => {
                // The commit failed: none of the batch happened. Each caller gets the error.
                let text = e.to_string();
                for job in jobs.drain(..) {
                    let _ = job.reply.send(Err(sqlx::Error::Protocol(text.clone())));
                }
            }
        }
    }
}

type Answers<D> = Vec<std::result::Result<Vec<Row<D>>, sqlx::Error>>;

/// Runs every job's statement in one transaction; the outer error is the transaction's.
async fn commit_batch<D: IdentityDialect>(
    db: &SqlStore<D>,
    jobs: &[Job<D>],
) -> std::result::Result<Answers<D>, sqlx::Error> {
    let mut tx = db.begin_write().await?;
    let mut answers = Vec::with_capacity(jobs.len());
    for job in jobs {
        let rows = query::<D>(D::ROTATE_REFRESH)
            .bind(job.new_hash.as_str())
            .bind(job.old_hash.as_str())
            .bind(job.now_ms)
            .bind(job.expires_ms)
            .fetch_all(&mut *tx)
            .await;
        answers.push(rows);
    }
    tx.commit().await?;
    Ok(answers)
}
