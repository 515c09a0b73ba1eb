//! [`MailDb`]: the mail store written once over the SQL layer ([`mailward_sql`]) for every
//! [`MailDialect`]: [`SqliteMailStore`](crate::sqlite::SqliteMailStore) and
//! [`PgMailStore`](crate::postgres::PgMailStore) are its two instances.
//!
//! Every statement lives here (`sql/*.rs`) except the schema and the few that cannot be
//! shared, which the dialect supplies ([`MailDialect`]): the statements over UID sets (one
//! JSON parameter read with SQLite's `json_each` or PostgreSQL's `jsonb_array_elements`),
//! the listing (one aggregated text value: `group_concat` / `string_agg`), the UPN lookup
//! and the outbound claim (PostgreSQL's `FOR UPDATE SKIP LOCKED`). Where bodies live, and
//! how an append commits, is the backend's too: files and a group-commit task on SQLite,
//! rows and a transaction per append on PostgreSQL.
//!
//! # Concurrency
//!
//! On SQLite every write transaction holds the database's write lock (`BEGIN IMMEDIATE`),
//! so nothing below needs row locks there. On PostgreSQL several nodes write at once, so:
//! - a transaction that changes a folder's messages locks the folder row first
//!   ([`messages::lock_folder`], `FOR NO KEY UPDATE`; several folders in ascending id
//!   order), then message rows, then blob rows (the counters' triggers lock them in hash
//!   order), so writers of one folder queue and no two transactions lock in opposite orders;
//! - UIDs and modseqs are handed out by `UPDATE folders … RETURNING` in the transaction that
//!   inserts the messages, so a second appender waits for the first to commit and then
//!   reads the bumped row;
//! - account and folder creation lock the `organization` row (the UIDVALIDITY counter).
//!
//! A transaction that changes an account's mail announces it with the dialect's
//! [`MailDialect::ANNOUNCE`] statement before committing (PostgreSQL: `pg_notify`, delivered
//! to other nodes only if it commits), and bumps this process's watchers after the commit.

mod accounts;
pub(crate) mod append;
pub(crate) mod codec;
mod folders;
pub(crate) mod gc;
pub(crate) mod messages;
mod policies;
pub(crate) mod queue;

pub use append::{Dest, Target};

use crate::watchers::Watchers;
use crate::{
    Account, Appended, BlobGc, BlobId, Copied, EffectivePolicy, FlagOp, FlagUpdate, Flags, Folder,
    FolderId, FolderStatus, GcReport, MailStore, MailStoreConfig, MessageMeta, NewAccount,
    NewMessage, NewOutbound, Outbound, Result, SpecialUse, StoreError,
};
use async_trait::async_trait;
use codec::backend;
use mailward_authpolicy::AuthenticationPolicy;
use mailward_sql::{Conn, Dialect, SqlStore, query};
use sqlx::Transaction;
use std::future::Future;
use std::ops::Deref;
use std::sync::Arc;
use time::OffsetDateTime;
use tokio::sync::watch;
use uuid::Uuid;

/// Attempts at storing a body that garbage collection removed mid-append.
pub(crate) const BLOB_ATTEMPTS: usize = 3;

/// What the mail store needs of a dialect beyond the shared layer: its schema, the
/// statements that cannot be written the same way for both backends, and where message
/// bodies live.
///
/// The statements over UID sets take `$1` the folder and `$2` a JSON text: ranges
/// `[[first, last], …]` (`*_RANGES`) or a list `[uid, …]`.
pub trait MailDialect: Dialect {
    /// The schema's migrations, `(version, sql)` ascending.
    const MIGRATIONS: &'static [(i64, &'static str)];

    /// Every message of folder `$1` as one text column `listing`: one line per message,
    /// `uid blob size internal_date flags modseq keywords…` joined by newlines (NULL when
    /// there is none). One value instead of a row per message: handing rows over one by
    /// one costs more than the rest of listing a large folder.
    const LIST: &'static str;
    /// [`MailDialect::LIST`] restricted to the UID ranges `$2`.
    const LIST_RANGES: &'static str;
    /// `uid, flags, keywords, modseq` of the messages in ranges `$2`, by UID.
    const FLAGS_IN_RANGES: &'static str;
    /// `uid` of the messages in ranges `$2`, ascending.
    const UIDS_IN_RANGES: &'static str;
    /// `uid` of the `\Deleted` messages in ranges `$2`, ascending.
    const DELETED_IN_RANGES: &'static str;
    /// Sets `flags = $3, keywords = $4, modseq = $5` of the UID list `$2`.
    const SET_FLAGS: &'static str;
    /// Copies into folder `$1` the messages of folder `$3` named by `$2`
    /// (`[[source uid, target uid], …]`), with modseq `$4`.
    const COPY: &'static str;
    /// Deletes the UID list `$2`.
    const DELETE: &'static str;
    /// An account (the columns of `codec::SELECT_ACCOUNT`) by UPN `$1`, ignoring case;
    /// the newest if several.
    const ACCOUNT_BY_UPN: &'static str;
    /// Claims up to `$3` outbound entries due at `$1` and not claimed (or whose claim ran
    /// out), setting `claimed_until = $2`, and returns them (`codec::OUTBOUND_COLUMNS`).
    const CLAIM_DUE: &'static str;
    /// Run with `$1` = an account id inside a transaction that changed that account's
    /// mail, to tell other nodes once it commits; `None` when nothing else can see the
    /// database's changes live (SQLite: the processes on one file are the CLI and a server).
    const ANNOUNCE: Option<&'static str>;

    /// Where this backend keeps bodies, and the tasks it runs.
    type Backend: std::fmt::Debug + Send + Sync + 'static;

    /// Prepares a body for [`MailDialect::put_body_row`]: returns its hash (`known` skips
    /// hashing again) after doing what must precede the transaction (SQLite: writing the
    /// file durably).
    fn prepare_body(
        db: &MailDb<Self>,
        data: Arc<[u8]>,
        known: Option<String>,
    ) -> impl Future<Output = Result<String>> + Send;

    /// Inside the transaction on `conn` that will reference it: makes sure the body's row
    /// exists (inserting it if new; an existing body is not written again) and stays until
    /// the commit. `false` when the body went missing meanwhile (garbage collection): call
    /// [`MailDialect::prepare_body`] again and start over.
    fn put_body_row(
        db: &MailDb<Self>,
        conn: &mut Conn<Self>,
        hash: &str,
        data: &[u8],
    ) -> impl Future<Output = Result<bool, sqlx::Error>> + Send;

    /// Commits the messages of one append or delivery (body already prepared): one
    /// transaction of [`MailDialect::put_body_row`] and the shared inserts (`sql/append.rs`).
    fn commit_messages(
        db: &MailDb<Self>,
        job: append::Job,
    ) -> impl Future<Output = Result<Vec<Appended>, append::JobError>> + Send;

    /// The raw bytes of a stored body (`hash` already validated).
    fn read_body(db: &MailDb<Self>, hash: &str) -> impl Future<Output = Result<Vec<u8>>> + Send;

    /// [`BlobGc::gc_blobs`].
    fn gc_blobs(
        db: &MailDb<Self>,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<GcReport>> + Send;
}

/// The mail store on the SQL layer. Cheap to clone.
#[derive(Debug)]
pub struct MailDb<D: MailDialect> {
    pub(crate) inner: Arc<Inner<D>>,
}

#[derive(Debug)]
pub(crate) struct Inner<D: MailDialect> {
    pub db: SqlStore<D>,
    pub config: MailStoreConfig,
    pub watchers: Arc<Watchers>,
    pub backend: D::Backend,
}

impl<D: MailDialect> Clone for MailDb<D> {
    fn clone(&self) -> Self {
        MailDb {
            inner: self.inner.clone(),
        }
    }
}

impl<D: MailDialect> Deref for MailDb<D> {
    type Target = SqlStore<D>;
    fn deref(&self) -> &SqlStore<D> {
        &self.inner.db
    }
}

impl<D: MailDialect> MailDb<D> {
    /// Wraps a migrated database: raises the UIDVALIDITY counter to the wall-clock seconds
    /// `now_secs` (so a store rebuilt from scratch does not repeat old values).
    pub(crate) async fn new(
        db: SqlStore<D>,
        config: MailStoreConfig,
        watchers: Arc<Watchers>,
        backend: D::Backend,
        now_secs: i64,
    ) -> Result<MailDb<D>> {
        query::<D>(
            "UPDATE organization SET next_uid_validity = $1 \
             WHERE id = 1 AND next_uid_validity < $1",
        )
        .bind(now_secs)
        .execute(&db.writer)
        .await
        .map_err(codec::backend)?;
        Ok(MailDb {
            inner: Arc::new(Inner {
                db,
                config,
                watchers,
                backend,
            }),
        })
    }

    /// The tunables this store was opened with.
    pub fn config(&self) -> MailStoreConfig {
        self.inner.config
    }

    /// [`BlobGc::gc_blobs`], callable without the trait in scope.
    pub async fn gc_blobs(&self, now: OffsetDateTime) -> Result<GcReport> {
        let report = D::gc_blobs(self, now).await?;
        if report != GcReport::default() {
            tracing::info!(
                ?report,
                backend = D::NAME,
                "mail store blob garbage collection"
            );
        }
        Ok(report)
    }

    /// Closes the connection pools, waiting for connections in use to be returned.
    pub async fn close(&self) {
        self.inner.db.close().await;
    }

    pub(crate) async fn begin(&self) -> Result<Transaction<'static, D::DB>> {
        self.inner.db.begin_write().await.map_err(backend)
    }

    pub(crate) fn backend(&self) -> &D::Backend {
        &self.inner.backend
    }

    /// Wakes this process's watchers of `account` (after a commit).
    pub(crate) fn bump(&self, account: Uuid) {
        self.inner.watchers.bump(account);
    }

    pub(crate) fn check_size(&self, len: usize) -> Result<u32> {
        u32::try_from(len)
            .ok()
            .filter(|&n| n <= self.inner.config.max_message_size)
            .ok_or(StoreError::TooLarge)
    }

    /// Appends and deliveries: the body, then one transaction for every target, again
    /// if the body went missing before the commit.
    async fn store_messages(&self, raw: &[u8], targets: Vec<Target>) -> Result<Vec<Appended>> {
        let size = self.check_size(raw.len())?;
        let data: Arc<[u8]> = Arc::from(raw);
        let mut hash = D::prepare_body(self, data.clone(), None).await?;
        for _ in 0..BLOB_ATTEMPTS {
            let job = append::Job {
                hash: hash.clone(),
                size,
                data: data.clone(),
                targets: targets.clone(),
            };
            match D::commit_messages(self, job).await {
                Ok(appended) => return Ok(appended),
                Err(append::JobError::Store(e)) => return Err(e),
                Err(append::JobError::BlobMissing) => {
                    hash = D::prepare_body(self, data.clone(), Some(hash)).await?;
                }
            }
        }
        Err(StoreError::Backend(
            "message body kept disappearing while being stored".to_owned(),
        ))
    }
}

/// Tells other nodes that `account` changed, in the transaction on `conn` (see
/// [`MailDialect::ANNOUNCE`]).
pub(crate) async fn announce<D: MailDialect>(conn: &mut Conn<D>, account: Uuid) -> Result<()> {
    if let Some(sql) = D::ANNOUNCE {
        query::<D>(sql)
            .bind(account.to_string())
            .execute(conn)
            .await
            .map_err(backend)?;
    }
    Ok(())
}

/// Announces `account`'s change, commits, and wakes this process's watchers.
pub(crate) async fn commit_change<D: MailDialect>(
    s: &MailDb<D>,
    mut tx: Transaction<'static, D::DB>,
    account: Uuid,
) -> Result<()> {
    announce::<D>(&mut tx, account).await?;
    commit(tx).await?;
    s.bump(account);
    Ok(())
}

pub(crate) async fn commit<DB: sqlx::Database>(tx: Transaction<'static, DB>) -> Result<()> {
    tx.commit().await.map_err(backend)
}

#[async_trait]
impl<D: MailDialect> BlobGc for MailDb<D> {
    async fn gc_blobs(&self, now: OffsetDateTime) -> Result<GcReport> {
        MailDb::gc_blobs(self, now).await
    }
}

#[async_trait]
impl<D: MailDialect> MailStore for MailDb<D> {
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
        self.store_messages(msg.raw, vec![target])
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
        self.store_messages(raw, targets).await
    }

    async fn messages(&self, folder: FolderId) -> Result<Vec<MessageMeta>> {
        messages::messages(self, folder).await
    }

    async fn messages_by_uid(&self, folder: FolderId, uids: &[u32]) -> Result<Vec<MessageMeta>> {
        messages::messages_by_uid(self, folder, uids).await
    }

    async fn body(&self, blob: &BlobId) -> Result<Vec<u8>> {
        if !codec::valid_hash(&blob.0) {
            return Err(StoreError::Invalid(format!(
                "{:?} is not a blob id",
                blob.0
            )));
        }
        D::read_body(self, &blob.0).await
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
