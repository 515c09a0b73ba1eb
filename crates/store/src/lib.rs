//! Identity's storage: the [`IdentityStore`] trait, its SQLite ([`SqliteStore`]) and
//! PostgreSQL ([`PgStore`]) implementations, and the conformance suite both must pass.
//!
//! **Architecture invariant:** callers see only the trait. Atomic read-modify-write goes
//! through the `update_*` primitives (closure applied inside one transaction), never through
//! ad-hoc transactions in handlers.

mod columns;
pub mod conformance;
mod guards_sql;
mod postgres;
mod sql;
mod sqlite;

pub use postgres::PgStore;
pub use sql::{IdentityDb, IdentityDialect};
pub use sqlite::SqliteStore;

use async_trait::async_trait;
use mailward_types::Upn;
use mailward_types::model::{Application, Domain, Group, Resource, User};
use mailward_types::records::{
    AuthCode, DeviceCode, LocationClass, LockoutState, PasskeyRecord, Redeem, RefreshToken,
    Session, SignInEvent, SignInFilter, SigningKey, TotpRecord,
};
use std::net::IpAddr;
use std::sync::Arc;
use time::OffsetDateTime;
use uuid::Uuid;

/// Storage errors, converted to wire errors once at each edge.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique key already exists (UPN, client id, domain name, resource URI, ...).
    #[error("{what} already exists")]
    Conflict { what: String },
    /// The object to update or link does not exist.
    #[error("{what} not found")]
    NotFound { what: String },
    /// An update closure refused the change; nothing was written.
    #[error("{0}")]
    Rejected(String),
    /// The database failed or holds data this version cannot read.
    #[error("storage failure: {0}")]
    Backend(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A read-modify-write step: gets the current value, returns the new one (or an error,
/// which aborts the transaction).
pub type UpdateFn<T> = Box<dyn FnOnce(T) -> Result<T> + Send>;

/// A refresh token with the user it belongs to, as read together.
#[derive(Debug, Clone, PartialEq)]
pub struct Rotation {
    pub token: RefreshToken,
    pub user: Option<User>,
}

/// A JSON document the store keeps verbatim, by kind and id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub kind: String,
    pub id: String,
    pub body: String,
    pub created: OffsetDateTime,
    pub modified: OffsetDateTime,
}

/// The bounds of a password-attempt reservation (see
/// [`IdentityStore::reserve_password_attempt`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptLimit {
    /// Failures still counted plus attempts in flight may not exceed this.
    pub threshold: u32,
    /// Failures older than this no longer count.
    pub failure_window: time::Duration,
    /// A reservation not settled within this long (its process died) is given back.
    pub reservation_ttl: time::Duration,
}

/// Shared handle to a store.
pub type DynStore = Arc<dyn IdentityStore>;

/// Everything identity persists. All methods are atomic on their own.
/// The per-user second-factor failure limits (see
/// [`IdentityStore::reserve_second_factor`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecondFactorLimits {
    /// Attempts checked before a lock window starts (at least 2).
    pub threshold: u32,
    /// The first lock window, in milliseconds.
    pub first_lock_ms: i64,
    /// The longest lock window, in milliseconds. The lock after it is not a window: no
    /// code is checked until an administrator resets the user's methods (`reset_mfa`), so
    /// the consecutive failures an account can see are bounded (NIST SP 800-63B §5.2.2).
    pub max_lock_ms: i64,
}

/// `locked_until` of a second-factor lock that only `reset_mfa` ends (9999-12-31, unix ms).
pub const UNTIL_RESET: i64 = 253_402_300_799_000;

/// The answer to a second-factor reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecondFactorReservation {
    /// Check the code.
    Allowed,
    /// Too many wrong codes: no code is checked before `until`.
    Locked { until: OffsetDateTime },
    /// The last lock window passed: no code is checked until an administrator resets the
    /// user's methods.
    LockedUntilReset,
}

#[async_trait]
pub trait IdentityStore: Send + Sync + std::fmt::Debug + 'static {
    // ---- settings (tenant id, bootstrap markers, schema facts) ----
    async fn get_setting(&self, key: &str) -> Result<Option<String>>;
    async fn put_setting(&self, key: &str, value: &str) -> Result<()>;

    // ---- documents (JSON objects kept as text: conditional access policies, named
    // locations) ----
    /// Every document of a kind, ordered by id.
    async fn documents(&self, kind: &str) -> Result<Vec<Document>>;
    async fn document(&self, kind: &str, id: &str) -> Result<Option<Document>>;
    /// Creates or replaces a document.
    async fn put_document(&self, doc: &Document) -> Result<()>;
    async fn delete_document(&self, kind: &str, id: &str) -> Result<bool>;

    // ---- users ----
    /// Conflict if the UPN or id exists.
    async fn create_user(&self, user: &User, password_hash: Option<&str>) -> Result<()>;
    async fn user_by_id(&self, id: Uuid) -> Result<Option<User>>;
    async fn user_by_upn(&self, upn: &Upn) -> Result<Option<User>>;
    /// Ordered by UPN.
    async fn list_users(&self) -> Result<Vec<User>>;
    /// NotFound if absent; Conflict if the new UPN is taken. The id cannot change.
    async fn update_user(&self, id: Uuid, f: UpdateFn<User>) -> Result<User>;
    /// Deletes the user and everything hanging off it (memberships, tokens, MFA, lockout).
    async fn delete_user(&self, id: Uuid) -> Result<bool>;
    /// Users whose `tokens_valid_from` is later than `since` and than their creation,
    /// earliest first: the revocation feed mail instances follow (disabling, signing out
    /// everywhere and a password reset all move it).
    async fn users_revoked_since(&self, since: OffsetDateTime) -> Result<Vec<User>>;
    async fn password_hash(&self, id: Uuid) -> Result<Option<String>>;
    async fn set_password_hash(&self, id: Uuid, hash: Option<&str>) -> Result<()>;

    // ---- groups ----
    async fn create_group(&self, group: &Group) -> Result<()>;
    async fn group_by_id(&self, id: Uuid) -> Result<Option<Group>>;
    /// Case-insensitive display name lookup (names are unique).
    async fn group_by_name(&self, name: &str) -> Result<Option<Group>>;
    async fn list_groups(&self) -> Result<Vec<Group>>;
    async fn update_group(&self, id: Uuid, f: UpdateFn<Group>) -> Result<Group>;
    async fn delete_group(&self, id: Uuid) -> Result<bool>;
    /// Idempotent. NotFound if either side is missing.
    async fn add_member(&self, group: Uuid, user: Uuid) -> Result<()>;
    async fn remove_member(&self, group: Uuid, user: Uuid) -> Result<bool>;
    async fn group_members(&self, group: Uuid) -> Result<Vec<Uuid>>;
    async fn groups_of_user(&self, user: Uuid) -> Result<Vec<Uuid>>;

    // ---- domains ----
    async fn create_domain(&self, domain: &Domain) -> Result<()>;
    async fn domain(&self, name: &str) -> Result<Option<Domain>>;
    async fn list_domains(&self) -> Result<Vec<Domain>>;
    async fn update_domain(&self, name: &str, f: UpdateFn<Domain>) -> Result<Domain>;
    async fn delete_domain(&self, name: &str) -> Result<bool>;

    // ---- applications ----
    async fn create_app(&self, app: &Application, secret_hash: Option<&str>) -> Result<()>;
    /// Includes `secret_hash`.
    async fn app(&self, client_id: &str) -> Result<Option<Application>>;
    async fn list_apps(&self) -> Result<Vec<Application>>;
    /// The closure sees and may change `secret_hash` too.
    async fn update_app(&self, client_id: &str, f: UpdateFn<Application>) -> Result<Application>;
    async fn delete_app(&self, client_id: &str) -> Result<bool>;

    // ---- resources ----
    async fn create_resource(&self, resource: &Resource) -> Result<()>;
    async fn resource_by_uri(&self, uri: &str) -> Result<Option<Resource>>;
    async fn resource_by_id(&self, id: Uuid) -> Result<Option<Resource>>;
    async fn list_resources(&self) -> Result<Vec<Resource>>;
    async fn update_resource(&self, id: Uuid, f: UpdateFn<Resource>) -> Result<Resource>;
    async fn delete_resource(&self, id: Uuid) -> Result<bool>;

    // ---- signing keys ----
    /// Ordered by `active_from`.
    async fn list_signing_keys(&self) -> Result<Vec<SigningKey>>;
    async fn insert_signing_key(&self, key: &SigningKey) -> Result<()>;
    async fn update_signing_key(&self, kid: &str, f: UpdateFn<SigningKey>) -> Result<SigningKey>;
    async fn delete_signing_key(&self, kid: &str) -> Result<bool>;

    // ---- authorization codes ----
    async fn insert_auth_code(&self, code: &AuthCode) -> Result<()>;
    /// Atomically marks the code redeemed at `now`. An expired code is `NotFound`.
    async fn redeem_auth_code(
        &self,
        code_hash: &str,
        now: OffsetDateTime,
    ) -> Result<Redeem<AuthCode>>;

    // ---- refresh tokens ----
    async fn insert_refresh_token(&self, token: &RefreshToken) -> Result<()>;
    /// Atomically marks the token used at `now` and returns `Fresh`. A token that was
    /// already used or revoked is `Reused` (the caller revokes its family); an unknown or
    /// expired one is `NotFound`.
    async fn use_refresh_token(
        &self,
        token_hash: &str,
        now: OffsetDateTime,
    ) -> Result<Redeem<RefreshToken>>;
    /// Rotation in one step: consumes `old_hash` and stores its successor under `new_hash`
    /// (same family, client, user, scopes and authentication facts), created at `now` and
    /// expiring at `expires_at`. `Fresh` carries the successor and the user's record as it
    /// is at that moment (read in the same statement, so callers need no second trip to
    /// check that the user is still enabled); `Reused` carries the old token (and no user)
    /// if it was already used or revoked; `NotFound` if unknown or expired.
    async fn rotate_refresh_token(
        &self,
        old_hash: &str,
        new_hash: &str,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<Redeem<Rotation>>;
    /// Revokes every token of the family. Returns how many were live.
    async fn revoke_family(&self, family_id: Uuid, now: OffsetDateTime) -> Result<u64>;
    /// Revokes every refresh token of the user.
    async fn revoke_user_tokens(&self, user_id: Uuid, now: OffsetDateTime) -> Result<u64>;
    /// Looks a token up without using it (revocation endpoint, introspection).
    async fn refresh_token(&self, token_hash: &str) -> Result<Option<RefreshToken>>;

    // ---- device authorization (RFC 8628) ----
    /// Conflict if the user code hash is in use by a live request.
    async fn insert_device_code(&self, code: &DeviceCode) -> Result<()>;
    async fn device_code_by_user_code(&self, user_code_hash: &str) -> Result<Option<DeviceCode>>;
    async fn update_device_code(
        &self,
        device_code_hash: &str,
        f: UpdateFn<DeviceCode>,
    ) -> Result<DeviceCode>;

    // ---- browser sessions ----
    async fn insert_session(&self, session: &Session) -> Result<()>;
    async fn session(&self, id: Uuid) -> Result<Option<Session>>;
    async fn update_session(&self, id: Uuid, f: UpdateFn<Session>) -> Result<Session>;
    async fn delete_session(&self, id: Uuid) -> Result<bool>;
    async fn delete_user_sessions(&self, user_id: Uuid) -> Result<u64>;

    // ---- in-progress sign-in flows (opaque JSON owned by identity) ----
    async fn put_flow(&self, id: Uuid, state: &str, expires_at: OffsetDateTime) -> Result<()>;
    /// Expired flows are `None`.
    async fn flow(&self, id: Uuid, now: OffsetDateTime) -> Result<Option<String>>;
    async fn delete_flow(&self, id: Uuid) -> Result<()>;

    // ---- MFA: TOTP ----
    async fn put_totp(&self, record: &TotpRecord) -> Result<()>;
    async fn totp(&self, user_id: Uuid) -> Result<Option<TotpRecord>>;
    /// Atomically accepts `step` if it is later than the last accepted one; returns false
    /// (and changes nothing) for a replay.
    async fn accept_totp_step(&self, user_id: Uuid, step: i64) -> Result<bool>;

    // ---- MFA: recovery codes ----
    /// Replaces all of the user's codes.
    async fn replace_recovery_codes(&self, user_id: Uuid, hashes: &[String]) -> Result<()>;
    /// Atomically consumes a code; false if unknown or already used.
    async fn use_recovery_code(
        &self,
        user_id: Uuid,
        hash: &str,
        now: OffsetDateTime,
    ) -> Result<bool>;
    async fn unused_recovery_codes(&self, user_id: Uuid) -> Result<u32>;

    // ---- MFA: passkeys ----
    /// Conflict if the credential id is registered.
    async fn add_passkey(&self, record: &PasskeyRecord) -> Result<()>;
    async fn passkeys(&self, user_id: Uuid) -> Result<Vec<PasskeyRecord>>;
    async fn update_passkey(&self, id: Uuid, f: UpdateFn<PasskeyRecord>) -> Result<PasskeyRecord>;

    /// Removes every MFA method of the user (TOTP, recovery codes, passkeys).
    async fn reset_mfa(&self, user_id: Uuid) -> Result<()>;

    // ---- second-factor failures (per user, across flows) ----
    /// Reserves one second-factor attempt for the user before the code is checked, in one
    /// conditional statement: refused while the user is locked; otherwise counted as a
    /// failure at once (a correct code clears it with
    /// [`clear_second_factor_failures`](Self::clear_second_factor_failures)). The attempt
    /// that reaches `limits.threshold` starts a lock window, which doubles at each lock up
    /// to `limits.max_lock_ms`. So however many attempts arrive at once, from however many
    /// flows or nodes, at most `threshold` codes are checked per window.
    async fn reserve_second_factor(
        &self,
        user_id: Uuid,
        now: OffsetDateTime,
        limits: SecondFactorLimits,
    ) -> Result<SecondFactorReservation>;
    /// A correct second factor: the count and the lock window start over.
    async fn clear_second_factor_failures(&self, user_id: Uuid) -> Result<()>;

    // ---- smart lockout ----
    async fn lockout(&self, user_id: Uuid, class: LocationClass) -> Result<LockoutState>;
    async fn update_lockout(
        &self,
        user_id: Uuid,
        class: LocationClass,
        f: UpdateFn<LockoutState>,
    ) -> Result<LockoutState>;
    /// Most recent first.
    async fn familiar_ips(&self, user_id: Uuid) -> Result<Vec<IpAddr>>;
    /// Records a successful sign-in location, keeping only the `keep` most recent.
    async fn record_familiar_ip(
        &self,
        user_id: Uuid,
        ip: IpAddr,
        now: OffsetDateTime,
        keep: u32,
    ) -> Result<()>;

    // ---- sign-in log ----
    async fn append_signin(&self, event: &SignInEvent) -> Result<()>;
    /// Appends several events atomically (all or none); the log writer batches bursts.
    async fn append_signins(&self, events: &[SignInEvent]) -> Result<()> {
        for e in events {
            self.append_signin(e).await?;
        }
        Ok(())
    }
    /// Newest first.
    async fn signins(&self, filter: &SignInFilter) -> Result<Vec<SignInEvent>>;

    // ---- housekeeping ----
    /// Deletes expired codes, device codes, flows, sessions and long-expired refresh
    /// tokens. Returns rows removed.
    async fn purge_expired(&self, now: OffsetDateTime) -> Result<u64>;

    // ---- guards against guessing and flooding: reserved before the check, in one
    // conditional statement, so parallel requests and several nodes share one count ----
    /// Reserves one password attempt on the user's lockout counter for `class`, before the
    /// password is verified. Refused (false, nothing written) while the counter is locked
    /// at `now`, or while the failures still counted plus the attempts in flight have
    /// reached `limit.threshold`. Every reservation is settled with
    /// [`IdentityStore::settle_password_attempt`]. NotFound if the user does not exist.
    async fn reserve_password_attempt(
        &self,
        user_id: Uuid,
        class: LocationClass,
        limit: &AttemptLimit,
        now: OffsetDateTime,
    ) -> Result<bool>;
    /// Settles a reservation: applies `f` to the counter (count the failure, reset after a
    /// success, or leave it) and gives the reserved slot back, in one transaction.
    async fn settle_password_attempt(
        &self,
        user_id: Uuid,
        class: LocationClass,
        f: UpdateFn<LockoutState>,
    ) -> Result<LockoutState>;
    /// Looks a device user code up for the verification page and counts the submission in
    /// the same statement: the record and which submission of this code this is (1-based),
    /// whatever its status or expiry; `None` for an unknown code.
    async fn device_code_attempt(&self, user_code_hash: &str) -> Result<Option<(DeviceCode, u32)>>;
    /// Takes one unit from the fixed-window counter `key`: true if taken, false (nothing
    /// written) once `limit` units were taken in the current window. A window starts with
    /// the first unit taken after the previous one ended and lasts `window`. Expired
    /// counters are removed by `purge_expired`.
    async fn take_rate_limit(
        &self,
        key: &str,
        limit: u32,
        window: time::Duration,
        now: OffsetDateTime,
    ) -> Result<bool>;
}
