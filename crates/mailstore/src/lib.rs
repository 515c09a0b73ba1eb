//! Mailboxes for the mail role: accounts, folders with special-use roles, messages whose
//! bodies are stored once by content hash, the per-message metadata IMAP/POP3 need (UID,
//! UIDVALIDITY, flags, internal date, size, modseq), the outbound relay queue, and the
//! mail role's authentication-policy data (policies, per-account assignment, organization
//! default).
//!
//! [`MailStore`] is the contract; [`MailDb`] implements it once over the SQL layer
//! (`mailward-sql`) for every [`MailDialect`], and its two instances are the backends:
//! [`sqlite::SqliteMailStore`] (embedded: metadata in SQLite, bodies as files) and
//! [`postgres::PgMailStore`] (several nodes on one database: bodies in the database too,
//! changes announced with `NOTIFY`). One conformance suite runs against both.
//!
//! **Architecture invariants**
//! - Durability: [`MailStore::append`] and [`MailStore::deliver`] return only after the body
//!   and the metadata transaction are durable (SQLite: the body file written to a temporary
//!   file, fsynced, renamed, directory fsynced, then the commit; PostgreSQL: one commit
//!   holding both). A failure in between leaves at most an unreferenced blob, never a row
//!   pointing at a missing body.
//! - Statements are written once (`sql/`); a backend supplies only its DDL and the
//!   statements that cannot be shared ([`MailDialect`]), and where bodies live.
//! - UIDs in a folder strictly increase and are never reused for a given UIDVALIDITY.
//! - Every change to a folder (append, flags, expunge, copy/move in) bumps the folder's
//!   `highest_modseq`; each message keeps the modseq of its last change (CONDSTORE).
//! - No clock reads: times that matter are parameters.

pub mod conformance;
mod flags;
pub mod model;
mod names;
pub mod postgres;
mod sql;
pub mod sqlite;
mod watchers;

pub use model::*;
pub use sql::{MailDb, MailDialect};

use async_trait::async_trait;
use mailward_authpolicy::AuthenticationPolicy;
use std::time::Duration;
use time::OffsetDateTime;
use uuid::Uuid;

/// Default largest message: 50 MiB.
pub const DEFAULT_MAX_MESSAGE_SIZE: u32 = 50 * 1024 * 1024;
/// Default time an unreferenced body is kept before [`BlobGc::gc_blobs`] deletes it.
pub const DEFAULT_BLOB_GRACE: Duration = Duration::from_secs(60 * 60);
/// How long an entry handed out by [`MailStore::due`] is claimed by the caller: no other
/// call (on any node) gets it before the claim runs out, unless
/// [`MailStore::outbound_retry`] or [`MailStore::outbound_reschedule`] releases it first.
/// A node that dies mid-delivery thus delays its entries by at most this much; it is long
/// enough for a relay round over a full batch whose every attempt runs into the network
/// timeout once (50 × 60 s by default), so a slow smarthost does not get a message twice.
pub const OUTBOUND_LEASE: Duration = Duration::from_secs(60 * 60);

/// Tunables of a mail store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MailStoreConfig {
    /// Largest message `append`, `deliver` and `enqueue` accept, in octets
    /// ([`StoreError::TooLarge`] beyond). Default [`DEFAULT_MAX_MESSAGE_SIZE`].
    pub max_message_size: u32,
    /// How long a body must have been unreferenced (or, for a body file without a row,
    /// unmodified) before [`BlobGc::gc_blobs`] deletes it. Default [`DEFAULT_BLOB_GRACE`].
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

/// What one [`BlobGc::gc_blobs`] run deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Bodies whose last reference went at least the grace period ago.
    pub blobs: u64,
    /// Body files that never got a row (SQLite: writes cut short by a crash or an error).
    pub orphan_files: u64,
    /// Leftover temporary files (SQLite).
    pub temporary_files: u64,
    /// Octets freed by the above.
    pub bytes: u64,
}

/// Blob garbage collection, run periodically by the mail role (not part of [`MailStore`]:
/// no protocol session needs it).
#[async_trait]
pub trait BlobGc: Send + Sync + std::fmt::Debug + 'static {
    /// Deletes bodies nothing references any more. Mark and sweep, so a body survives at
    /// least [`MailStoreConfig::blob_grace`] after it was last referenced (an IMAP session
    /// may still fetch a message another session just expunged): blobs with no references
    /// are marked with `now` the first time a run sees them and deleted by a later run at
    /// least the grace period after. Safe with several processes or nodes at once. Call it
    /// periodically (say hourly) with the clock read at the edge.
    async fn gc_blobs(&self, now: OffsetDateTime) -> Result<GcReport>;
}

/// What can go wrong in a store call.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found: {0}")]
    NotFound(&'static str),
    /// A name or address already in use.
    #[error("already exists: {0}")]
    Exists(&'static str),
    /// The request breaks a rule (e.g. deleting INBOX, renaming onto a child of itself).
    #[error("{0}")]
    Invalid(String),
    /// The message exceeds the configured size limit.
    #[error("message too large")]
    TooLarge,
    #[error("storage: {0}")]
    Backend(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The mail store. Every method is one transaction.
#[async_trait]
pub trait MailStore: Send + Sync + std::fmt::Debug + 'static {
    // ---- accounts -------------------------------------------------------------------

    /// The account for an identity user, creating it (with the six special-use folders)
    /// on first use. `address` is the user's primary SMTP address (stored lowercase).
    async fn ensure_account(&self, new: NewAccount) -> Result<Account>;
    async fn account(&self, id: Uuid) -> Result<Option<Account>>;
    /// By any of the account's addresses (case-insensitive).
    async fn account_by_address(&self, address: &str) -> Result<Option<Account>>;
    /// By the identity user's UPN (case-insensitive): the name basic authentication
    /// checks credentials for.
    async fn account_by_upn(&self, upn: &str) -> Result<Option<Account>>;
    /// By the identity user's object id (`oid` claim).
    async fn account_by_user(&self, user_oid: Uuid) -> Result<Option<Account>>;
    async fn list_accounts(&self) -> Result<Vec<Account>>;
    /// Deletes the account, its folders and message rows (bodies shared with other
    /// messages stay).
    async fn delete_account(&self, id: Uuid) -> Result<()>;
    /// Assigns an authentication policy by name (`None` = use the organization default).
    /// `NotFound("authentication policy")` when the name does not exist.
    async fn set_account_policy(&self, id: Uuid, policy: Option<&str>) -> Result<()>;

    // ---- folders --------------------------------------------------------------------

    async fn folders(&self, account: Uuid) -> Result<Vec<Folder>>;
    /// By full name; `INBOX` matches case-insensitively (RFC 3501 §5.1).
    async fn folder(&self, account: Uuid, name: &str) -> Result<Option<Folder>>;
    async fn folder_by_role(&self, account: Uuid, role: SpecialUse) -> Result<Option<Folder>>;
    /// Creates a folder (and missing parents, RFC 3501 §6.3.3). `Exists` if present.
    async fn create_folder(
        &self,
        account: Uuid,
        name: &str,
        role: Option<SpecialUse>,
    ) -> Result<Folder>;
    /// Deletes a folder and its messages. INBOX cannot be deleted (`Invalid`).
    async fn delete_folder(&self, account: Uuid, name: &str) -> Result<()>;
    /// Renames a folder and its children. Renaming INBOX moves its messages to the new
    /// folder and leaves INBOX empty (RFC 3501 §6.3.5).
    async fn rename_folder(&self, account: Uuid, from: &str, to: &str) -> Result<()>;
    async fn set_subscribed(&self, account: Uuid, name: &str, subscribed: bool) -> Result<()>;
    async fn status(&self, folder: FolderId) -> Result<FolderStatus>;

    // ---- messages -------------------------------------------------------------------

    /// Stores a message durably in a folder; returns its UID and the folder's UIDVALIDITY.
    async fn append(&self, folder: FolderId, msg: NewMessage<'_>) -> Result<Appended>;
    /// Local delivery: appends the same body (stored once) to the INBOX of each account.
    async fn deliver(
        &self,
        accounts: &[Uuid],
        raw: &[u8],
        internal_date: OffsetDateTime,
    ) -> Result<Vec<Appended>>;
    /// Metadata of every message in the folder, in UID order.
    async fn messages(&self, folder: FolderId) -> Result<Vec<MessageMeta>>;
    /// Metadata of the given UIDs (missing ones skipped), in UID order.
    async fn messages_by_uid(&self, folder: FolderId, uids: &[u32]) -> Result<Vec<MessageMeta>>;
    /// The raw RFC 5322 bytes of a stored body.
    async fn body(&self, blob: &BlobId) -> Result<Vec<u8>>;
    /// Changes flags of the given UIDs. With `unchanged_since` (CONDSTORE), messages whose
    /// modseq is greater are left alone and reported in [`FlagUpdate::conflicts`].
    async fn store_flags(
        &self,
        folder: FolderId,
        uids: &[u32],
        op: FlagOp,
        flags: &Flags,
        unchanged_since: Option<u64>,
    ) -> Result<FlagUpdate>;
    /// Copies messages into another folder of the same account, keeping flags and
    /// internal dates; returns (source UID, new UID) pairs and the target UIDVALIDITY.
    async fn copy(&self, from: FolderId, uids: &[u32], to: FolderId) -> Result<Copied>;
    /// Copy then remove from the source, atomically (RFC 6851).
    async fn move_messages(&self, from: FolderId, uids: &[u32], to: FolderId) -> Result<Copied>;
    /// Removes messages flagged `\Deleted` (restricted to `uids` when given, UID EXPUNGE);
    /// returns the removed UIDs in ascending order.
    async fn expunge(&self, folder: FolderId, uids: Option<&[u32]>) -> Result<Vec<u32>>;
    /// Removes the given messages whatever their flags (POP3 `DELE` + `QUIT`, REST delete).
    async fn remove(&self, folder: FolderId, uids: &[u32]) -> Result<Vec<u32>>;
    /// A receiver that changes whenever something in the account changes (new mail, flags,
    /// expunge), for IMAP IDLE. Changes made through this store change it before the call
    /// returns; changes made by other nodes on a shared database (PostgreSQL) change it
    /// shortly after they commit (and it also changes, for every account, after the
    /// store's notification connection was lost and re-established).
    fn watch(&self, account: Uuid) -> tokio::sync::watch::Receiver<u64>;

    // ---- outbound queue -------------------------------------------------------------

    /// Queues a message for relay (durably, like [`MailStore::append`]).
    async fn enqueue(&self, msg: NewOutbound<'_>) -> Result<Uuid>;
    /// Up to `limit` queued messages whose next attempt is due at `now` and that nobody has
    /// claimed, claimed by this call for [`OUTBOUND_LEASE`] (so several relay workers, on
    /// one node or many, never send one entry at once; the claim of a worker that died
    /// runs out and another retries it). [`MailStore::outbound_retry`] and
    /// [`MailStore::outbound_reschedule`] release the claim.
    async fn due(&self, now: OffsetDateTime, limit: u32) -> Result<Vec<Outbound>>;
    /// Delivered to the smarthost, or deleted by an admin: removed from the queue.
    async fn outbound_done(&self, id: Uuid) -> Result<()>;
    /// A failed attempt: records the error and when to try next (`None` = give up; the
    /// entry stays with state `failed` for the admin to see).
    async fn outbound_retry(
        &self,
        id: Uuid,
        error: &str,
        next_attempt: Option<OffsetDateTime>,
    ) -> Result<()>;
    /// An admin's retry: the entry is `queued` and due at `now` (a `failed` one too);
    /// attempts and the last error are kept.
    async fn outbound_reschedule(&self, id: Uuid, now: OffsetDateTime) -> Result<()>;
    /// Every entry, oldest first.
    async fn queue(&self) -> Result<Vec<Outbound>>;

    // ---- authentication policies (Exchange's model) --------------------------------

    /// Creates or replaces a policy by name.
    async fn put_auth_policy(&self, policy: &AuthenticationPolicy) -> Result<()>;
    async fn auth_policy(&self, name: &str) -> Result<Option<AuthenticationPolicy>>;
    async fn auth_policies(&self) -> Result<Vec<AuthenticationPolicy>>;
    /// `Invalid` when the policy is assigned to an account or is the organization default.
    async fn delete_auth_policy(&self, name: &str) -> Result<()>;
    async fn default_auth_policy(&self) -> Result<Option<String>>;
    async fn set_default_auth_policy(&self, name: Option<&str>) -> Result<()>;
    /// The policy that decides for an account: its own assignment, else the organization
    /// default (never merged), resolved in one read.
    async fn effective_auth_policy(&self, account: Uuid) -> Result<EffectivePolicy>;
}
