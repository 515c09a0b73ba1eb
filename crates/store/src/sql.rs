//! [`IdentityDb`]: identity's store, written once over the SQL layer ([`mailward_sql`])
//! for every [`Dialect`]: [`SqliteStore`](crate::SqliteStore) and
//! [`PgStore`](crate::PgStore) are its two instances.
//!
//! Read-modify-write operations read the row locked for update (`FOR UPDATE` on
//! PostgreSQL; SQLite's `BEGIN IMMEDIATE` already holds the write lock), run the caller's
//! closure and write inside one transaction. Single-use markers (codes, refresh tokens, TOTP
//! steps, recovery codes) are claimed with one conditional `UPDATE ... RETURNING`, and a
//! refresh-token rotation is a single statement (the dialect's [`IdentityDialect::ROTATE_REFRESH`]),
//! so all of them stay race-free with several processes on one SQLite file or any number of
//! nodes on one PostgreSQL database.
//!
//! Conventions of the stored data: timestamps are unix milliseconds, ids hyphenated UUID
//! text, lists JSON arrays in TEXT, case-insensitive keys pre-normalised `*_key` columns.
//! Expiry is reached when `now >= expires_at`; refresh tokens are purged
//! [`REFRESH_TOKEN_RETENTION_MS`] after they expire; the sign-in log keeps events of deleted
//! users; the `since` filter of the sign-in log is inclusive and `until` exclusive.

mod codec;
mod directory;
mod grants;
mod guards;
mod housekeeping;
mod mfa;
mod rotation;
mod second_factor;

use crate::{
    AttemptLimit, Document, IdentityStore, Result, SecondFactorLimits, SecondFactorReservation,
    StoreError, UpdateFn,
};
use async_trait::async_trait;
use codec::backend;
use mailward_sql::{Conn, Dialect, SqlStore, UpdateError};
use mailward_types::Upn;
use mailward_types::model::{Application, Domain, Group, Resource, User};
use mailward_types::records::{
    AuthCode, DeviceCode, LocationClass, LockoutState, PasskeyRecord, Redeem, RefreshToken,
    Session, SignInEvent, SignInFilter, SigningKey, TotpRecord,
};
use sqlx::Transaction;
use std::net::IpAddr;
use std::ops::Deref;
use std::sync::Arc;
use time::OffsetDateTime;
use uuid::Uuid;

/// How long an expired refresh token is kept before `purge_expired` removes it, so that
/// investigations of a reused token still find its family for a while.
pub const REFRESH_TOKEN_RETENTION_MS: i64 = 7 * 24 * 60 * 60 * 1000;

/// What identity needs of a dialect beyond the shared layer: its schema and the one
/// statement that cannot be written the same way for both backends.
pub trait IdentityDialect: Dialect {
    /// The schema's migrations, `(version, sql)` ascending.
    const MIGRATIONS: &'static [(i64, &'static str)];

    /// Refresh rotation in one statement (`$1` successor hash, `$2` parent hash, `$3` now,
    /// `$4` successor expiry): claims the parent if it is live, inserts the successor with
    /// the parent's grant and returns the successor's columns plus the user's as `u_*`
    /// (all NULL for a deleted user); no row when the parent was not live.
    const ROTATE_REFRESH: &'static str;

    /// Whether rotations waiting for the writer are committed together (one writer
    /// connection: SQLite). See `sql/rotation.rs`.
    const GROUP_COMMIT: bool;

    /// Sign-in events per multi-row INSERT (a power of two; 10 parameters each).
    const SIGNIN_INSERT_CHUNK: usize;
}

/// Identity's store on the SQL layer. Cheap to clone.
#[derive(Debug)]
pub struct IdentityDb<D: IdentityDialect> {
    db: SqlStore<D>,
    /// Group commit of refresh rotations ([`IdentityDialect::GROUP_COMMIT`]).
    rotations: Option<Arc<rotation::RotationQueue<D>>>,
}

impl<D: IdentityDialect> Clone for IdentityDb<D> {
    fn clone(&self) -> Self {
        IdentityDb {
            db: self.db.clone(),
            rotations: self.rotations.clone(),
        }
    }
}

impl<D: IdentityDialect> Deref for IdentityDb<D> {
    type Target = SqlStore<D>;
    fn deref(&self) -> &SqlStore<D> {
        &self.db
    }
}

impl<D: IdentityDialect> IdentityDb<D> {
    /// Wraps a migrated database (starting the rotation group commit where the dialect
    /// has one writer).
    pub(crate) fn new(db: SqlStore<D>) -> IdentityDb<D> {
        let rotations =
            D::GROUP_COMMIT.then(|| Arc::new(rotation::RotationQueue::start(db.clone())));
        IdentityDb { db, rotations }
    }

    async fn begin(&self) -> Result<Transaction<'static, D::DB>> {
        self.db.begin_write().await.map_err(backend)
    }
}

async fn commit<DB: sqlx::Database>(tx: Transaction<'static, DB>) -> Result<()> {
    tx.commit().await.map_err(backend)
}

/// Runs `f` on `old`, refusing a result whose key differs.
fn apply<T, K: PartialEq>(
    old: T,
    f: UpdateFn<T>,
    key: impl Fn(&T) -> K,
    what: &'static str,
) -> Result<T> {
    mailward_sql::apply(old, f, key, what).map_err(|e| match e {
        UpdateError::Refused(e) => e,
        UpdateError::KeyChanged(what) => StoreError::Rejected(format!("the {what} cannot change")),
    })
}

fn user_missing(user: Uuid) -> impl FnOnce() -> String {
    move || format!("user {user}")
}

/// Whether `sql` (which locks what it reads as the dialect requires) finds a row for `key`.
async fn exists<D: Dialect>(
    conn: &mut Conn<D>,
    q: mailward_sql::Q<D>,
    key: String,
) -> Result<bool> {
    Ok(q.bind(key)
        .fetch_optional(conn)
        .await
        .map_err(backend)?
        .is_some())
}

#[async_trait]
impl<D: IdentityDialect> IdentityStore for IdentityDb<D> {
    // ---- settings ----

    async fn get_setting(&self, key: &str) -> Result<Option<String>> {
        directory::get_setting(self, key).await
    }

    async fn put_setting(&self, key: &str, value: &str) -> Result<()> {
        directory::put_setting(self, key, value).await
    }

    async fn documents(&self, kind: &str) -> Result<Vec<Document>> {
        directory::documents(self, kind).await
    }

    async fn document(&self, kind: &str, id: &str) -> Result<Option<Document>> {
        directory::document(self, kind, id).await
    }

    async fn put_document(&self, doc: &Document) -> Result<()> {
        directory::put_document(self, doc).await
    }

    async fn delete_document(&self, kind: &str, id: &str) -> Result<bool> {
        directory::delete_document(self, kind, id).await
    }

    // ---- users ----

    async fn create_user(&self, user: &User, password_hash: Option<&str>) -> Result<()> {
        directory::create_user(self, user, password_hash).await
    }

    async fn user_by_id(&self, user: Uuid) -> Result<Option<User>> {
        directory::user_by_id(self, user).await
    }

    async fn user_by_upn(&self, upn: &Upn) -> Result<Option<User>> {
        directory::user_by_upn(self, upn).await
    }

    async fn list_users(&self) -> Result<Vec<User>> {
        directory::list_users(self).await
    }

    async fn update_user(&self, user: Uuid, f: UpdateFn<User>) -> Result<User> {
        directory::update_user(self, user, f).await
    }

    async fn delete_user(&self, user: Uuid) -> Result<bool> {
        directory::delete_user(self, user).await
    }

    async fn users_revoked_since(&self, since: OffsetDateTime) -> Result<Vec<User>> {
        directory::users_revoked_since(self, since).await
    }

    async fn password_hash(&self, user: Uuid) -> Result<Option<String>> {
        directory::password_hash(self, user).await
    }

    async fn set_password_hash(&self, user: Uuid, hash: Option<&str>) -> Result<()> {
        directory::set_password_hash(self, user, hash).await
    }

    // ---- groups ----

    async fn create_group(&self, group: &Group) -> Result<()> {
        directory::create_group(self, group).await
    }

    async fn group_by_id(&self, group: Uuid) -> Result<Option<Group>> {
        directory::group_by_id(self, group).await
    }

    async fn group_by_name(&self, name: &str) -> Result<Option<Group>> {
        directory::group_by_name(self, name).await
    }

    async fn list_groups(&self) -> Result<Vec<Group>> {
        directory::list_groups(self).await
    }

    async fn update_group(&self, group: Uuid, f: UpdateFn<Group>) -> Result<Group> {
        directory::update_group(self, group, f).await
    }

    async fn delete_group(&self, group: Uuid) -> Result<bool> {
        directory::delete_group(self, group).await
    }

    async fn add_member(&self, group: Uuid, user: Uuid) -> Result<()> {
        directory::add_member(self, group, user).await
    }

    async fn remove_member(&self, group: Uuid, user: Uuid) -> Result<bool> {
        directory::remove_member(self, group, user).await
    }

    async fn group_members(&self, group: Uuid) -> Result<Vec<Uuid>> {
        directory::group_members(self, group).await
    }

    async fn groups_of_user(&self, user: Uuid) -> Result<Vec<Uuid>> {
        directory::groups_of_user(self, user).await
    }

    // ---- domains ----

    async fn create_domain(&self, domain: &Domain) -> Result<()> {
        directory::create_domain(self, domain).await
    }

    async fn domain(&self, name: &str) -> Result<Option<Domain>> {
        directory::domain(self, name).await
    }

    async fn list_domains(&self) -> Result<Vec<Domain>> {
        directory::list_domains(self).await
    }

    async fn update_domain(&self, name: &str, f: UpdateFn<Domain>) -> Result<Domain> {
        directory::update_domain(self, name, f).await
    }

    async fn delete_domain(&self, name: &str) -> Result<bool> {
        directory::delete_domain(self, name).await
    }

    // ---- applications ----

    async fn create_app(&self, app: &Application, secret_hash: Option<&str>) -> Result<()> {
        directory::create_app(self, app, secret_hash).await
    }

    async fn app(&self, client_id: &str) -> Result<Option<Application>> {
        directory::app(self, client_id).await
    }

    async fn list_apps(&self) -> Result<Vec<Application>> {
        directory::list_apps(self).await
    }

    async fn update_app(&self, client_id: &str, f: UpdateFn<Application>) -> Result<Application> {
        directory::update_app(self, client_id, f).await
    }

    async fn delete_app(&self, client_id: &str) -> Result<bool> {
        directory::delete_app(self, client_id).await
    }

    // ---- resources ----

    async fn create_resource(&self, resource: &Resource) -> Result<()> {
        directory::create_resource(self, resource).await
    }

    async fn resource_by_uri(&self, uri: &str) -> Result<Option<Resource>> {
        directory::resource_by_uri(self, uri).await
    }

    async fn resource_by_id(&self, resource: Uuid) -> Result<Option<Resource>> {
        directory::resource_by_id(self, resource).await
    }

    async fn list_resources(&self) -> Result<Vec<Resource>> {
        directory::list_resources(self).await
    }

    async fn update_resource(&self, resource: Uuid, f: UpdateFn<Resource>) -> Result<Resource> {
        directory::update_resource(self, resource, f).await
    }

    async fn delete_resource(&self, resource: Uuid) -> Result<bool> {
        directory::delete_resource(self, resource).await
    }

    // ---- signing keys ----

    async fn list_signing_keys(&self) -> Result<Vec<SigningKey>> {
        directory::list_signing_keys(self).await
    }

    async fn insert_signing_key(&self, key: &SigningKey) -> Result<()> {
        directory::insert_signing_key(self, key).await
    }

    async fn update_signing_key(&self, kid: &str, f: UpdateFn<SigningKey>) -> Result<SigningKey> {
        directory::update_signing_key(self, kid, f).await
    }

    async fn delete_signing_key(&self, kid: &str) -> Result<bool> {
        directory::delete_signing_key(self, kid).await
    }

    // ---- authorization codes ----

    async fn insert_auth_code(&self, code: &AuthCode) -> Result<()> {
        grants::insert_auth_code(self, code).await
    }

    async fn redeem_auth_code(
        &self,
        code_hash: &str,
        now: OffsetDateTime,
    ) -> Result<Redeem<AuthCode>> {
        grants::redeem_auth_code(self, code_hash, now).await
    }

    // ---- refresh tokens ----

    async fn insert_refresh_token(&self, token: &RefreshToken) -> Result<()> {
        grants::insert_refresh_token(self, token).await
    }

    async fn rotate_refresh_token(
        &self,
        old_hash: &str,
        new_hash: &str,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<Redeem<crate::Rotation>> {
        grants::rotate_refresh_token(self, old_hash, new_hash, now, expires_at).await
    }

    async fn use_refresh_token(
        &self,
        token_hash: &str,
        now: OffsetDateTime,
    ) -> Result<Redeem<RefreshToken>> {
        grants::use_refresh_token(self, token_hash, now).await
    }

    async fn revoke_family(&self, family_id: Uuid, now: OffsetDateTime) -> Result<u64> {
        grants::revoke_family(self, family_id, now).await
    }

    async fn revoke_user_tokens(&self, user_id: Uuid, now: OffsetDateTime) -> Result<u64> {
        grants::revoke_user_tokens(self, user_id, now).await
    }

    async fn refresh_token(&self, token_hash: &str) -> Result<Option<RefreshToken>> {
        grants::refresh_token(self, token_hash).await
    }

    // ---- device authorization ----

    async fn insert_device_code(&self, code: &DeviceCode) -> Result<()> {
        grants::insert_device_code(self, code).await
    }

    async fn device_code_by_user_code(&self, user_code_hash: &str) -> Result<Option<DeviceCode>> {
        grants::device_code_by_user_code(self, user_code_hash).await
    }

    async fn update_device_code(
        &self,
        device_code_hash: &str,
        f: UpdateFn<DeviceCode>,
    ) -> Result<DeviceCode> {
        grants::update_device_code(self, device_code_hash, f).await
    }

    // ---- browser sessions ----

    async fn insert_session(&self, session: &Session) -> Result<()> {
        grants::insert_session(self, session).await
    }

    async fn session(&self, session: Uuid) -> Result<Option<Session>> {
        grants::session(self, session).await
    }

    async fn update_session(&self, session: Uuid, f: UpdateFn<Session>) -> Result<Session> {
        grants::update_session(self, session, f).await
    }

    async fn delete_session(&self, session: Uuid) -> Result<bool> {
        grants::delete_session(self, session).await
    }

    async fn delete_user_sessions(&self, user_id: Uuid) -> Result<u64> {
        grants::delete_user_sessions(self, user_id).await
    }

    // ---- in-progress sign-in flows ----

    async fn put_flow(&self, flow: Uuid, state: &str, expires_at: OffsetDateTime) -> Result<()> {
        grants::put_flow(self, flow, state, expires_at).await
    }

    async fn flow(&self, flow: Uuid, now: OffsetDateTime) -> Result<Option<String>> {
        grants::flow(self, flow, now).await
    }

    async fn delete_flow(&self, flow: Uuid) -> Result<()> {
        grants::delete_flow(self, flow).await
    }

    // ---- MFA: TOTP ----

    async fn put_totp(&self, record: &TotpRecord) -> Result<()> {
        mfa::put_totp(self, record).await
    }

    async fn totp(&self, user_id: Uuid) -> Result<Option<TotpRecord>> {
        mfa::totp(self, user_id).await
    }

    async fn accept_totp_step(&self, user_id: Uuid, step: i64) -> Result<bool> {
        mfa::accept_totp_step(self, user_id, step).await
    }

    // ---- MFA: recovery codes ----

    async fn replace_recovery_codes(&self, user_id: Uuid, hashes: &[String]) -> Result<()> {
        mfa::replace_recovery_codes(self, user_id, hashes).await
    }

    async fn use_recovery_code(
        &self,
        user_id: Uuid,
        hash: &str,
        now: OffsetDateTime,
    ) -> Result<bool> {
        mfa::use_recovery_code(self, user_id, hash, now).await
    }

    async fn unused_recovery_codes(&self, user_id: Uuid) -> Result<u32> {
        mfa::unused_recovery_codes(self, user_id).await
    }

    // ---- MFA: passkeys ----

    async fn add_passkey(&self, record: &PasskeyRecord) -> Result<()> {
        mfa::add_passkey(self, record).await
    }

    async fn passkeys(&self, user_id: Uuid) -> Result<Vec<PasskeyRecord>> {
        mfa::passkeys(self, user_id).await
    }

    async fn update_passkey(
        &self,
        passkey: Uuid,
        f: UpdateFn<PasskeyRecord>,
    ) -> Result<PasskeyRecord> {
        mfa::update_passkey(self, passkey, f).await
    }

    async fn reset_mfa(&self, user_id: Uuid) -> Result<()> {
        mfa::reset_mfa(self, user_id).await
    }

    // ---- smart lockout ----

    async fn lockout(&self, user_id: Uuid, class: LocationClass) -> Result<LockoutState> {
        mfa::lockout(self, user_id, class).await
    }

    async fn update_lockout(
        &self,
        user_id: Uuid,
        class: LocationClass,
        f: UpdateFn<LockoutState>,
    ) -> Result<LockoutState> {
        mfa::update_lockout(self, user_id, class, f).await
    }

    async fn reserve_second_factor(
        &self,
        user_id: Uuid,
        now: OffsetDateTime,
        limits: SecondFactorLimits,
    ) -> Result<SecondFactorReservation> {
        second_factor::reserve_second_factor(self, user_id, now, limits).await
    }

    async fn clear_second_factor_failures(&self, user_id: Uuid) -> Result<()> {
        second_factor::clear_second_factor_failures(self, user_id).await
    }

    async fn familiar_ips(&self, user_id: Uuid) -> Result<Vec<IpAddr>> {
        mfa::familiar_ips(self, user_id).await
    }

    async fn record_familiar_ip(
        &self,
        user_id: Uuid,
        ip: IpAddr,
        now: OffsetDateTime,
        keep: u32,
    ) -> Result<()> {
        mfa::record_familiar_ip(self, user_id, ip, now, keep).await
    }

    // ---- sign-in log ----

    async fn append_signin(&self, event: &SignInEvent) -> Result<()> {
        housekeeping::append_signin(self, event).await
    }

    async fn append_signins(&self, events: &[SignInEvent]) -> Result<()> {
        housekeeping::append_signins(self, events).await
    }

    async fn signins(&self, filter: &SignInFilter) -> Result<Vec<SignInEvent>> {
        housekeeping::signins(self, filter).await
    }

    // ---- housekeeping ----

    async fn purge_expired(&self, now: OffsetDateTime) -> Result<u64> {
        housekeeping::purge_expired(self, now).await
    }

    // ---- guards against guessing and flooding ----

    async fn reserve_password_attempt(
        &self,
        user_id: Uuid,
        class: LocationClass,
        limit: &AttemptLimit,
        now: OffsetDateTime,
    ) -> Result<bool> {
        guards::reserve_password_attempt(self, user_id, class, limit, now).await
    }

    async fn settle_password_attempt(
        &self,
        user_id: Uuid,
        class: LocationClass,
        f: UpdateFn<LockoutState>,
    ) -> Result<LockoutState> {
        guards::settle_password_attempt(self, user_id, class, f).await
    }

    async fn device_code_attempt(&self, user_code_hash: &str) -> Result<Option<(DeviceCode, u32)>> {
        guards::device_code_attempt(self, user_code_hash).await
    }

    async fn take_rate_limit(
        &self,
        key: &str,
        limit: u32,
        window: time::Duration,
        now: OffsetDateTime,
    ) -> Result<bool> {
        guards::take_rate_limit(self, key, limit, window, now).await
    }
}
