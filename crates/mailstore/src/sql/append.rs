//! The statements of an append or a local delivery, shared by both backends' commit paths
//! (SQLite's group-commit task, PostgreSQL's transaction per append): a job is one body for
//! one or more folders, and [`insert_messages`] runs it inside a transaction whose body row
//! is already in place ([`MailDialect::put_body_row`]).
//!
//! Every target folder's row is bumped (`uid_next`, `highest_modseq`) before any message is
//! inserted, in folder order, so a delivery to many inboxes locks them in the same order as
//! every other writer and only then touches the body's row (through the counters' triggers).

use super::codec::get;
use super::messages::{Bumped, bump_modseq};
use super::{MailDialect, codec::backend};
use crate::{Appended, FolderId, Result, StoreError};
use mailward_sql::{Conn, query};
use std::sync::Arc;
use uuid::Uuid;

/// Where a message goes.
#[derive(Debug, Clone)]
pub enum Dest {
    Folder(FolderId),
    /// The INBOX of an account (local delivery).
    InboxOf(Uuid),
}

/// One message of a job: where, with which flags and date.
#[derive(Debug, Clone)]
pub struct Target {
    pub dest: Dest,
    pub flags: i64,
    pub keywords: Option<String>,
    pub internal_date: i64,
}

/// One append or delivery: a body (already prepared) for every target.
#[derive(Debug, Clone)]
pub struct Job {
    pub hash: String,
    pub size: u32,
    pub data: Arc<[u8]>,
    pub targets: Vec<Target>,
}

/// Why a job was not committed.
#[derive(Debug)]
pub enum JobError {
    /// The body vanished before its row was committed: prepare it again and resubmit.
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

/// What a committed job answers, and which accounts it changed.
pub(crate) type Outcome = Result<(Vec<Appended>, Vec<Uuid>), JobError>;

/// Inserts the job's messages on `conn` (inside the transaction that put the body's row):
/// resolves and bumps every target folder, in folder order, then inserts the messages.
/// Answers in the order of `job.targets`.
pub(crate) async fn insert_messages<D: MailDialect>(conn: &mut Conn<D>, job: &Job) -> Outcome {
    // Resolve the folders (an account's INBOX by name), then bump them in id order.
    let mut folders: Vec<(FolderId, usize)> = Vec::with_capacity(job.targets.len());
    for (i, target) in job.targets.iter().enumerate() {
        let folder = match target.dest {
            Dest::Folder(id) => id,
            // Not locked here: the bump below locks, in folder order.
            Dest::InboxOf(account) => {
                query::<D>("SELECT id FROM folders WHERE account = $1 AND name = 'INBOX'")
                    .bind(account.to_string())
                    .fetch_optional(&mut *conn)
                    .await?
                    .map(|row| get(&row, "id"))
                    .transpose()?
                    .ok_or(StoreError::NotFound("account"))?
            }
        };
        folders.push((folder, i));
    }
    folders.sort_unstable();
    let mut slots: Vec<Option<(FolderId, Bumped)>> = vec![None; job.targets.len()];
    for &(folder, i) in &folders {
        let bumped = match bump_modseq::<D>(conn, folder, 1).await {
            Err(StoreError::NotFound(_)) => {
                return Err(JobError::Store(StoreError::NotFound(
                    match job.targets[i].dest {
                        Dest::Folder(_) => "folder",
                        Dest::InboxOf(_) => "account",
                    },
                )));
            }
            other => other?,
        };
        slots[i] = Some((folder, bumped));
    }
    let mut appended = Vec::with_capacity(job.targets.len());
    let mut accounts = Vec::with_capacity(job.targets.len());
    for (target, slot) in job.targets.iter().zip(slots) {
        let Some((folder, bumped)) = slot else {
            return Err(JobError::Store(StoreError::Backend(
                "append target left unresolved".to_owned(),
            )));
        };
        query::<D>(
            "INSERT INTO messages (folder, uid, blob, size, internal_date, flags, keywords, \
             modseq) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(folder)
        .bind(i64::from(bumped.first_uid))
        .bind(&job.hash)
        .bind(i64::from(job.size))
        .bind(target.internal_date)
        .bind(target.flags)
        .bind(target.keywords.as_deref())
        .bind(bumped.modseq)
        .execute(&mut *conn)
        .await?;
        let account = bumped.account;
        appended.push(Appended {
            folder,
            uid_validity: bumped.uid_validity,
            uid: bumped.first_uid,
        });
        if !accounts.contains(&account) {
            accounts.push(account);
        }
    }
    Ok((appended, accounts))
}
