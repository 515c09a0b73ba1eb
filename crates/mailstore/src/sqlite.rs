//! [`SqliteMailStore`]: the embedded backend — metadata in SQLite (`mail.db`, WAL), bodies
//! as files under `blobs/` named by their SHA-256.
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
//! - `outbound`: the relay queue; `auth_policies` (JSON export by case-folded name);
//!   `organization`: the default policy and the UIDVALIDITY counter.
//!
//! # Connections
//!
//! As in identity's store: every write goes through a pool of exactly one connection
//! (SQLite has one writer at a time; queueing in the pool beats spinning on the file lock),
//! reads through a pool of up to eight that WAL lets run beside it, and a background task
//! runs passive WAL checkpoints so no committing request pays for one. Unlike identity's,
//! the database runs with `synchronous=FULL`: a commit has reached the disk when it returns.
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
//! A crash between 1 and 3 leaves a body file without a row, which [`SqliteMailStore::gc_blobs`]
//! removes once it is older than the grace period; a row never points at a missing file.
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

mod accounts;
mod appender;
mod blobs;
mod codec;
mod folders;
mod gc;
mod messages;
mod policies;
mod queue;
mod schema;
mod watchers;

pub use gc::GcReport;

use crate::{
    Account, Appended, BlobId, Copied, EffectivePolicy, FlagOp, FlagUpdate, Flags, Folder,
    FolderId, FolderStatus, MailStore, MessageMeta, NewAccount, NewMessage, NewOutbound, Outbound,
    Result, SpecialUse, StoreError,
};
use appender::{AppendJob, Dest, JobError, Target};
use async_trait::async_trait;
use blobs::BlobDir;
use codec::backend;
use mailward_authpolicy::AuthenticationPolicy;
use mailward_types::clock;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot, watch};
use uuid::Uuid;
use watchers::Watchers;

/// Default largest message: 50 MiB.
pub const DEFAULT_MAX_MESSAGE_SIZE: u32 = 50 * 1024 * 1024;
/// Default time an unreferenced body is kept before [`SqliteMailStore::gc_blobs`] deletes it.
pub const DEFAULT_BLOB_GRACE: Duration = Duration::from_secs(60 * 60);

/// Connections of the read pool.
const READERS: u32 = 8;
/// How long a statement waits for a lock held by another process.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Prepared statements kept per connection.
const STATEMENT_CACHE: usize = 128;
/// Attempts at storing a body whose file garbage collection removed mid-append.
const BLOB_ATTEMPTS: usize = 3;

/// Tunables of [`SqliteMailStore::open_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MailStoreConfig {
    /// Largest message `append`, `deliver` and `enqueue` accept, in octets
    /// ([`StoreError::TooLarge`] beyond). Default [`DEFAULT_MAX_MESSAGE_SIZE`].
    pub max_message_size: u32,
    /// How long a body must have been unreferenced (or, for a file without a row, unmodified)
    /// before [`SqliteMailStore::gc_blobs`] deletes it. Default [`DEFAULT_BLOB_GRACE`].
    pub blob_grace: Duration,
}

impl Default for MailStoreConfig {
    fn default() -> Self {
        MailStoreConfig {
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            blob_grace: DEFAULT_BLOB_GRACE,
        }
    }
}

/// The SQLite mail store. Cheap to clone.
#[derive(Debug, Clone)]
pub struct SqliteMailStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Exactly one connection: every write.
    writer: SqlitePool,
    /// Plain reads.
    reader: SqlitePool,
    blobs: BlobDir,
    config: MailStoreConfig,
    watchers: Arc<Watchers>,
    /// The group-commit task's queue; the task ends when this is dropped.
    appender: mpsc::UnboundedSender<AppendJob>,
    _checkpointer: mailward_sql::sqlite::Checkpointer,
}

impl SqliteMailStore {
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

        let path = dir.join("mail.db");
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            .statement_cache_capacity(STATEMENT_CACHE);
        let open_err = |e: sqlx::Error| {
            StoreError::Backend(format!("cannot open database {}: {e}", path.display()))
        };
        // WAL is a property of the file: the writer switches it on, readers inherit it. The
        // writer never checkpoints on commit; the background task does.
        let writer_options = options
            .clone()
            .journal_mode(SqliteJournalMode::Wal)
            .pragma("wal_autocheckpoint", "0");
        // Switching a new file to WAL takes an exclusive lock without waiting for the busy
        // timeout, so two processes opening one new file can see "database is locked".
        let mut attempt = 0;
        let writer = loop {
            match writer_pool().connect_with(writer_options.clone()).await {
                Ok(pool) => break pool,
                Err(e) if attempt < 50 && e.to_string().contains("locked") => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => return Err(open_err(e)),
            }
        };
        let now = clock::now();
        schema::migrate(&writer, clock::millis(now)).await?;
        sqlx::query(
            "UPDATE organization SET next_uid_validity = MAX(next_uid_validity, $1) WHERE id = 1",
        )
        .bind(clock::secs(now))
        .execute(&writer)
        .await
        .map_err(backend)?;
        let reader = SqlitePoolOptions::new()
            .max_connections(READERS)
            .test_before_acquire(false)
            .connect_with(options)
            .await
            .map_err(open_err)?;
        let watchers = Arc::new(Watchers::default());
        let appender = appender::spawn(writer.clone(), blobs.clone(), watchers.clone());
        let checkpointer = mailward_sql::sqlite::Checkpointer::start(reader.clone(), "mail");
        Ok(SqliteMailStore {
            inner: Arc::new(Inner {
                writer,
                reader,
                blobs,
                config,
                watchers,
                appender,
                _checkpointer: checkpointer,
            }),
        })
    }

    /// Closes both pools, waiting for connections in use to be returned.
    pub async fn close(&self) {
        self.inner.reader.close().await;
        self.inner.writer.close().await;
    }

    /// The tunables this store was opened with.
    pub fn config(&self) -> MailStoreConfig {
        self.inner.config
    }

    /// Deletes bodies nothing references any more. Mark and sweep, so a body survives at
    /// least [`MailStoreConfig::blob_grace`] after it was last referenced (an IMAP session
    /// may still fetch a message another session just expunged):
    /// - blobs with no references get marked with `now` the first time a run sees them, and
    ///   are deleted (row, then file) by a later run at least the grace period after;
    /// - body files without a row (a crash between writing a body and committing its
    ///   message) and leftover temporary files are deleted once their modification time
    ///   is the grace period older than `now`.
    ///
    /// Call it periodically (say hourly) with the clock read at the edge.
    pub async fn gc_blobs(&self, now: OffsetDateTime) -> Result<GcReport> {
        gc::gc_blobs(self, now).await
    }

    async fn begin(&self) -> Result<Transaction<'static, Sqlite>> {
        self.inner
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(backend)
    }

    fn reader(&self) -> &SqlitePool {
        &self.inner.reader
    }

    fn bump(&self, account: Uuid) {
        self.inner.watchers.bump(account);
    }

    fn check_size(&self, len: usize) -> Result<u32> {
        u32::try_from(len)
            .ok()
            .filter(|&n| n <= self.inner.config.max_message_size)
            .ok_or(StoreError::TooLarge)
    }

    /// Hashes the body and makes it durable under its hash (step 1 of the durability
    /// order) on the blocking pool; returns the hash (`known_hash` skips hashing again).
    async fn write_blob(&self, data: Arc<[u8]>, known_hash: Option<String>) -> Result<String> {
        let blobs = self.inner.blobs.clone();
        tokio::task::spawn_blocking(move || {
            let hash = known_hash.unwrap_or_else(|| blobs::hash(&data));
            blobs.write(&hash, &data).map(|()| hash)
        })
        .await
        .map_err(|e| StoreError::Backend(e.to_string()))?
        .map_err(|e| StoreError::Backend(format!("cannot store message body: {e}")))
    }

    /// Steps 1 to 3 for appends and deliveries: body, then one group-committed
    /// transaction for every target.
    async fn store_and_commit(&self, raw: &[u8], targets: Vec<Target>) -> Result<Vec<Appended>> {
        let size = self.check_size(raw.len())?;
        let data: Arc<[u8]> = Arc::from(raw);
        let mut hash = self.write_blob(data.clone(), None).await?;
        for _ in 0..BLOB_ATTEMPTS {
            let (reply, answer) = oneshot::channel();
            let job = AppendJob {
                hash: hash.clone(),
                size,
                targets: targets.clone(),
                reply,
            };
            self.inner.appender.send(job).map_err(|_| appender_gone())?;
            match answer.await.map_err(|_| appender_gone())? {
                Ok(appended) => return Ok(appended),
                Err(JobError::Store(e)) => return Err(e),
                Err(JobError::BlobMissing) => {
                    hash = self.write_blob(data.clone(), Some(hash)).await?;
                }
            }
        }
        Err(StoreError::Backend(
            "message body kept disappearing while being stored".to_owned(),
        ))
    }
}

fn appender_gone() -> StoreError {
    StoreError::Backend("the mail store's writer has stopped".to_owned())
}

/// One connection, kept open for the life of the store.
fn writer_pool() -> SqlitePoolOptions {
    SqlitePoolOptions::new()
        .max_connections(1)
        .min_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .test_before_acquire(false)
}

async fn commit(tx: Transaction<'static, Sqlite>) -> Result<()> {
    tx.commit().await.map_err(backend)
}

#[async_trait]
impl MailStore for SqliteMailStore {
    async fn ensure_account(&self, new: NewAccount) -> Result<Account> {
        accounts::ensure_account(self, new).await
    }

    async fn account(&self, id: Uuid) -> Result<Option<Account>> {
        accounts::account(self, id).await
    }

    async fn account_by_address(&self, address: &str) -> Result<Option<Account>> {
        accounts::account_by_address(self, address).await
    }

    async fn account_by_upn(&self, upn: &str) -> Result<Option<Account>> {
        accounts::account_by_upn(self, upn).await
    }

    async fn account_by_user(&self, user_oid: Uuid) -> Result<Option<Account>> {
        accounts::account_by_user(self, user_oid).await
    }

    async fn list_accounts(&self) -> Result<Vec<Account>> {
        accounts::list_accounts(self).await
    }

    async fn delete_account(&self, id: Uuid) -> Result<()> {
        accounts::delete_account(self, id).await
    }

    async fn set_account_policy(&self, id: Uuid, policy: Option<&str>) -> Result<()> {
        policies::set_account_policy(self, id, policy).await
    }

    async fn folders(&self, account: Uuid) -> Result<Vec<Folder>> {
        folders::folders(self, account).await
    }

    async fn folder(&self, account: Uuid, name: &str) -> Result<Option<Folder>> {
        folders::folder(self, account, name).await
    }

    async fn folder_by_role(&self, account: Uuid, role: SpecialUse) -> Result<Option<Folder>> {
        folders::folder_by_role(self, account, role).await
    }

    async fn create_folder(
        &self,
        account: Uuid,
        name: &str,
        role: Option<SpecialUse>,
    ) -> Result<Folder> {
        folders::create_folder(self, account, name, role).await
    }

    async fn delete_folder(&self, account: Uuid, name: &str) -> Result<()> {
        folders::delete_folder(self, account, name).await
    }

    async fn rename_folder(&self, account: Uuid, from: &str, to: &str) -> Result<()> {
        folders::rename_folder(self, account, from, to).await
    }

    async fn set_subscribed(&self, account: Uuid, name: &str, subscribed: bool) -> Result<()> {
        folders::set_subscribed(self, account, name, subscribed).await
    }

    async fn status(&self, folder: FolderId) -> Result<FolderStatus> {
        folders::status(self, folder).await
    }

    async fn append(&self, folder: FolderId, msg: NewMessage<'_>) -> Result<Appended> {
        let flags = crate::flags::normalize(&msg.flags)?;
        let target = Target {
            dest: Dest::Folder(folder),
            flags: crate::flags::bits(&flags),
            keywords: crate::flags::join_keywords(&flags.keywords),
            internal_date: codec::millis(msg.internal_date),
        };
        self.store_and_commit(msg.raw, vec![target])
            .await?
            .pop()
            .ok_or_else(|| StoreError::Backend("append stored nothing".to_owned()))
    }

    async fn deliver(
        &self,
        accounts: &[Uuid],
        raw: &[u8],
        internal_date: OffsetDateTime,
    ) -> Result<Vec<Appended>> {
        if accounts.is_empty() {
            self.check_size(raw.len())?;
            return Ok(Vec::new());
        }
        let targets = accounts
            .iter()
            .map(|&account| Target {
                dest: Dest::InboxOf(account),
                flags: 0,
                keywords: None,
                internal_date: codec::millis(internal_date),
            })
            .collect();
        self.store_and_commit(raw, targets).await
    }

    async fn messages(&self, folder: FolderId) -> Result<Vec<MessageMeta>> {
        messages::messages(self, folder).await
    }

    async fn messages_by_uid(&self, folder: FolderId, uids: &[u32]) -> Result<Vec<MessageMeta>> {
        messages::messages_by_uid(self, folder, uids).await
    }

    async fn body(&self, blob: &BlobId) -> Result<Vec<u8>> {
        if !blobs::valid_hash(&blob.0) {
            return Err(StoreError::Invalid(format!(
                "{:?} is not a blob id",
                blob.0
            )));
        }
        match tokio::fs::read(self.inner.blobs.path(&blob.0)).await {
            Ok(body) => Ok(body),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(StoreError::NotFound("message body"))
            }
            Err(e) => Err(StoreError::Backend(format!(
                "cannot read message body: {e}"
            ))),
        }
    }

    async fn store_flags(
        &self,
        folder: FolderId,
        uids: &[u32],
        op: FlagOp,
        flags: &Flags,
        unchanged_since: Option<u64>,
    ) -> Result<FlagUpdate> {
        messages::store_flags(self, folder, uids, op, flags, unchanged_since).await
    }

    async fn copy(&self, from: FolderId, uids: &[u32], to: FolderId) -> Result<Copied> {
        messages::copy(self, from, uids, to, false).await
    }

    async fn move_messages(&self, from: FolderId, uids: &[u32], to: FolderId) -> Result<Copied> {
        messages::copy(self, from, uids, to, true).await
    }

    async fn expunge(&self, folder: FolderId, uids: Option<&[u32]>) -> Result<Vec<u32>> {
        messages::expunge(self, folder, uids).await
    }

    async fn remove(&self, folder: FolderId, uids: &[u32]) -> Result<Vec<u32>> {
        messages::remove(self, folder, uids).await
    }

    fn watch(&self, account: Uuid) -> watch::Receiver<u64> {
        self.inner.watchers.subscribe(account)
    }

    async fn enqueue(&self, msg: NewOutbound<'_>) -> Result<Uuid> {
        queue::enqueue(self, msg).await
    }

    async fn due(&self, now: OffsetDateTime, limit: u32) -> Result<Vec<Outbound>> {
        queue::due(self, now, limit).await
    }

    async fn outbound_done(&self, id: Uuid) -> Result<()> {
        queue::outbound_done(self, id).await
    }

    async fn outbound_retry(
        &self,
        id: Uuid,
        error: &str,
        next_attempt: Option<OffsetDateTime>,
    ) -> Result<()> {
        queue::outbound_retry(self, id, error, next_attempt).await
    }

    async fn outbound_reschedule(&self, id: Uuid, now: OffsetDateTime) -> Result<()> {
        queue::outbound_reschedule(self, id, now).await
    }

    async fn queue(&self) -> Result<Vec<Outbound>> {
        queue::queue(self).await
    }

    async fn put_auth_policy(&self, policy: &AuthenticationPolicy) -> Result<()> {
        policies::put_auth_policy(self, policy).await
    }

    async fn auth_policy(&self, name: &str) -> Result<Option<AuthenticationPolicy>> {
        policies::auth_policy(self, name).await
    }

    async fn auth_policies(&self) -> Result<Vec<AuthenticationPolicy>> {
        policies::auth_policies(self).await
    }

    async fn delete_auth_policy(&self, name: &str) -> Result<()> {
        policies::delete_auth_policy(self, name).await
    }

    async fn default_auth_policy(&self) -> Result<Option<String>> {
        policies::default_auth_policy(self).await
    }

    async fn set_default_auth_policy(&self, name: Option<&str>) -> Result<()> {
        policies::set_default_auth_policy(self, name).await
    }

    async fn effective_auth_policy(&self, account: Uuid) -> Result<EffectivePolicy> {
        policies::effective_auth_policy(self, account).await
    }
}

#[cfg(test)]
mod tests;
