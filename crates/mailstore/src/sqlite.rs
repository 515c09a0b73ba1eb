//! [`SqliteMailStore`]: the embedded backend — metadata in SQLite (`mail.db`, WAL), bodies
//! as files under `blobs/` named by their SHA-256. It is [`MailDb`] on [`Sqlite`]: the
//! statements are the shared ones (`sql/`); this module holds the schema, the statements
//! SQLite needs of its own ([`MailDialect`]), the body files, the group-commit appender and
//! garbage collection of files.
//!
//! # Layout
//!
//! ```text
//! <dir>/mail.db            accounts, addresses, folders, messages, blobs, outbound,
//!                          auth_policies, organization (see `schema.rs` for every column)
//! <dir>/blobs/ab/abcdef…   one file per distinct body, named by its SHA-256 hex
//! <dir>/blobs/tmp/         bodies being written
//! ```
//!
//! # Schema (`schema.rs` has every column)
//!
//! - `accounts` (UUID text key, UNIQUE `user_oid`) and `addresses` (lowercase, PRIMARY KEY,
//!   so an address belongs to one account).
//! - `folders`: `INTEGER PRIMARY KEY AUTOINCREMENT` ids (never reused), UNIQUE
//!   `(account, name)` with the canonical name, at most one folder per special-use role,
//!   `uid_validity`, `uid_next`, `highest_modseq`, `subscribed`, and the `STATUS` counters
//!   `messages` / `unseen` / `size` kept by triggers on `messages`.
//! - `messages`: `WITHOUT ROWID`, primary key `(folder, uid)`, so a folder is one contiguous
//!   range in UID order; `blob` (SHA-256 hex), `size`, `internal_date` (unix ms), `flags`
//!   (bitmask: 1 `\Seen`, 2 `\Answered`, 4 `\Flagged`, 8 `\Deleted`, 16 `\Draft`),
//!   `keywords` (sorted, space-separated, NULL when none), `modseq`.
//! - `blobs`: one row per stored body with `refs` (messages plus queue entries, kept by
//!   triggers, which also refuse a message whose body has no row) and `orphaned_at` for
//!   garbage collection.
//! - `outbound`: the relay queue (with the `claimed_until` lease of [`MailStore::due`]);
//!   `auth_policies` (JSON export by case-folded name); `organization`: the default policy
//!   and the UIDVALIDITY counter.
//!
//! # Connections
//!
//! As in identity's store ([`mailward_sql::sqlite::open`]): every write goes through a pool
//! of exactly one connection (SQLite has one writer at a time; queueing in the pool beats
//! spinning on the file lock), reads through a pool of up to eight that WAL lets run beside
//! it, and a background task runs passive WAL checkpoints so no committing request pays for
//! one. Unlike identity's, the database runs with `synchronous=FULL`: a commit has reached
//! the disk when it returns.
//!
//! # Durability order
//!
//! 1. The body is written to `blobs/tmp/`, fsynced, renamed to `blobs/ab/<hash>`, and the
//!    directory fsynced (skipped, except the directory sync, when the body is already
//!    there: identical bodies are stored once).
//! 2. Only then the metadata transaction runs: the blob's row (with a reference count kept by
//!    triggers) and the message rows. Appends and deliveries go through a group-commit task
//!    (`appender.rs`) that commits every waiting append in one transaction.
//! 3. The call returns after the commit's WAL fsync.
//!
//! A crash between 1 and 3 leaves a body file without a row, which garbage collection
//! ([`BlobGc::gc_blobs`](crate::BlobGc::gc_blobs)) removes once it is older than the grace
//! period; a row never points at a missing file.
//!
//! # Counters
//!
//! UIDs come from each folder's `uid_next`, bumped in the transaction that inserts the
//! message. Every change to a folder's messages bumps its `highest_modseq` by one and gives
//! the changed messages that value (one value for all messages a single `store_flags`, copy
//! or move changes). UIDVALIDITY comes from one store-wide counter, raised to the wall-clock
//! seconds when the store opens and when an account is created, so a folder created again
//! under an old name never gets an old value. `\Recent` is not stored: [`FolderStatus`]
//! reports `recent: 0`, and sessions that want it track it themselves.
//!
//! [`MailStore::due`]: crate::MailStore::due
//! [`FolderStatus`]: crate::FolderStatus

mod appender;
mod blobs;
mod gc;
mod schema;

pub use crate::{DEFAULT_BLOB_GRACE, DEFAULT_MAX_MESSAGE_SIZE, GcReport, MailStoreConfig};

use crate::sql::append::{Job, JobError};
use crate::sql::codec::{self, select_account};
use crate::sql::{MailDb, MailDialect};
use crate::watchers::Watchers;
use crate::{Appended, Result, StoreError};
use appender::AppendJob;
use blobs::BlobDir;
use mailward_sql::sqlite::SqliteSettings;
use mailward_sql::{Conn, Sqlite};
use mailward_types::clock;
use std::path::Path;
use std::sync::Arc;
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};

/// The SQLite mail store. Cheap to clone.
pub type SqliteMailStore = MailDb<Sqlite>;

/// One message of `messages m` as a line of text for the listing:
/// `uid blob size internal_date flags modseq keywords…` (keywords last, space-separated,
/// possibly none), `group_concat`enated into one value.
macro_rules! message_line {
    () => {
        "printf('%d %s %d %d %d %d %s', m.uid, m.blob, m.size, m.internal_date, m.flags, \
         m.modseq, ifnull(m.keywords, ''))"
    };
}

/// UID sets are read with `json_each`, joined to the `(folder, uid)` primary key (`CROSS
/// JOIN` keeps the ranges as the outer loop, so each range is one index seek). Bulk changes
/// use `uid IN (SELECT value FROM json_each(…))`: `UPDATE … FROM json_each` is avoided
/// because SQLite plans it as a scan of the folder per JSON element. `tests.rs` checks
/// every plan.
impl MailDialect for Sqlite {
    const MIGRATIONS: &'static [(i64, &'static str)] = schema::MIGRATIONS;

    const LIST: &'static str = concat!(
        "SELECT group_concat(",
        message_line!(),
        ", char(10)) AS listing FROM messages m WHERE m.folder = $1"
    );
    const LIST_RANGES: &'static str = concat!(
        "SELECT group_concat(",
        message_line!(),
        ", char(10)) AS listing FROM json_each($2) r CROSS JOIN messages m \
         ON m.folder = $1 AND m.uid BETWEEN r.value ->> 0 AND r.value ->> 1"
    );
    const FLAGS_IN_RANGES: &'static str = "SELECT m.uid, m.flags, m.keywords, m.modseq \
         FROM json_each($2) r CROSS JOIN messages m \
         ON m.folder = $1 AND m.uid BETWEEN r.value ->> 0 AND r.value ->> 1 ORDER BY m.uid";
    const UIDS_IN_RANGES: &'static str = "SELECT m.uid FROM json_each($2) r \
         CROSS JOIN messages m \
         ON m.folder = $1 AND m.uid BETWEEN r.value ->> 0 AND r.value ->> 1 ORDER BY m.uid";
    const DELETED_IN_RANGES: &'static str = "SELECT m.uid FROM json_each($2) r \
         CROSS JOIN messages m ON m.folder = $1 AND m.uid BETWEEN r.value ->> 0 \
         AND r.value ->> 1 WHERE (m.flags & 8) != 0 ORDER BY m.uid";
    const SET_FLAGS: &'static str = "UPDATE messages SET flags = $3, keywords = $4, modseq = $5 \
         WHERE folder = $1 AND uid IN (SELECT value FROM json_each($2))";
    const COPY: &'static str = "INSERT INTO messages \
         (folder, uid, blob, size, internal_date, flags, keywords, modseq) \
         SELECT $1, p.value ->> 1, m.blob, m.size, m.internal_date, m.flags, m.keywords, $4 \
         FROM json_each($2) p CROSS JOIN messages m ON m.folder = $3 AND m.uid = p.value ->> 0";
    const DELETE: &'static str =
        "DELETE FROM messages WHERE folder = $1 AND uid IN (SELECT value FROM json_each($2))";
    // `accounts_upn` (migration 2) is on `upn COLLATE NOCASE`.
    const ACCOUNT_BY_UPN: &'static str = concat!(
        select_account!(),
        "WHERE a.upn = $1 COLLATE NOCASE ORDER BY a.created DESC LIMIT 1"
    );
    // The write transaction already excludes every other claimer.
    const CLAIM_DUE: &'static str = concat!(
        "UPDATE outbound SET claimed_until = $2 WHERE id IN (SELECT id FROM outbound \
         WHERE state = 'queued' AND next_attempt <= $1 \
         AND (claimed_until IS NULL OR claimed_until <= $1) \
         ORDER BY next_attempt, queued LIMIT $3) RETURNING ",
        crate::sql::codec::outbound_columns!()
    );
    const ANNOUNCE: Option<&'static str> = None;

    type Backend = SqliteBackend;

    async fn prepare_body(
        db: &SqliteMailStore,
        data: Arc<[u8]>,
        known: Option<String>,
    ) -> Result<String> {
        let blobs = db.backend().blobs.clone();
        tokio::task::spawn_blocking(move || {
            let hash = known.unwrap_or_else(|| codec::hash(&data));
            blobs.write(&hash, &data).map(|()| hash)
        })
        .await
        .map_err(|e| StoreError::Backend(e.to_string()))?
        .map_err(|e| StoreError::Backend(format!("cannot store message body: {e}")))
    }

    async fn put_body_row(
        db: &SqliteMailStore,
        conn: &mut Conn<Sqlite>,
        hash: &str,
        data: &[u8],
    ) -> Result<bool, sqlx::Error> {
        appender::ensure_blob_row(conn, &db.backend().blobs, hash, data.len()).await
    }

    async fn commit_messages(db: &SqliteMailStore, job: Job) -> Result<Vec<Appended>, JobError> {
        let (reply, answer) = oneshot::channel();
        db.backend()
            .appender
            .send(AppendJob { job, reply })
            .map_err(|_| appender_gone())?;
        answer.await.map_err(|_| appender_gone())?
    }

    async fn read_body(db: &SqliteMailStore, hash: &str) -> Result<Vec<u8>> {
        match tokio::fs::read(db.backend().blobs.path(hash)).await {
            Ok(body) => Ok(body),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(StoreError::NotFound("message body"))
            }
            Err(e) => Err(StoreError::Backend(format!(
                "cannot read message body: {e}"
            ))),
        }
    }

    async fn gc_blobs(db: &SqliteMailStore, now: OffsetDateTime) -> Result<GcReport> {
        gc::gc_blobs(db, now).await
    }
}

/// Where the SQLite store keeps bodies: the `blobs/` directory, and the group-commit task
/// that commits appends.
#[derive(Debug)]
pub struct SqliteBackend {
    blobs: BlobDir,
    /// The group-commit task's queue; the task ends when this is dropped.
    appender: mpsc::UnboundedSender<AppendJob>,
}

impl MailDb<Sqlite> {
    /// Opens (creating if missing) the store in `dir`: `dir/mail.db` and `dir/blobs/`, with
    /// the default [`MailStoreConfig`]. Brings the schema up to date.
    pub async fn open(dir: &Path) -> Result<SqliteMailStore> {
        SqliteMailStore::open_with(dir, MailStoreConfig::default()).await
    }

    /// [`SqliteMailStore::open`] with explicit tunables.
    pub async fn open_with(dir: &Path, config: MailStoreConfig) -> Result<SqliteMailStore> {
        let blob_root = dir.join("blobs");
        let blobs = tokio::task::spawn_blocking(move || BlobDir::create(&blob_root))
            .await
            .map_err(|e| StoreError::Backend(e.to_string()))?
            .map_err(|e| {
                StoreError::Backend(format!(
                    "cannot create blob directory in {}: {e}",
                    dir.display()
                ))
            })?;
        let settings = SqliteSettings {
            migrations: schema::MIGRATIONS,
            full_sync: true,
            what: "mail",
        };
        let now = clock::now();
        let db = mailward_sql::sqlite::open(&dir.join("mail.db"), settings, clock::millis(now))
            .await
            .map_err(|e| StoreError::Backend(format!("mail store: {e}")))?;
        let watchers = Arc::new(Watchers::default());
        let appender = appender::spawn(db.writer.clone(), blobs.clone(), watchers.clone());
        MailDb::new(
            db,
            config,
            watchers,
            SqliteBackend { blobs, appender },
            clock::secs(now),
        )
        .await
    }
}

fn appender_gone() -> JobError {
    JobError::Store(StoreError::Backend(
        "the mail store's writer has stopped".to_owned(),
    ))
}

#[cfg(test)]
mod tests;
