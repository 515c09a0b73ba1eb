//! [`SqliteStore`]: the embedded SQLite implementation of [`IdentityStore`].
//!
//! One file in WAL mode, `synchronous=NORMAL`, foreign keys on. Writes go through a pool of
//! exactly one connection (SQLite allows one writer at a time; queueing writers in the pool
//! is much faster than letting them spin on the file lock), reads through a pool of up to
//! eight connections that WAL lets run alongside the writer. Read-modify-write operations
//! run their read, the caller's closure and the write inside one `BEGIN IMMEDIATE`
//! transaction on the writer; single-use markers (codes, refresh tokens, TOTP steps,
//! recovery codes) are claimed with one conditional `UPDATE`, so they stay race-free even
//! with several processes on the same file.
//!
//! Conventions of the stored data (shared with the PostgreSQL schema to come): expiry is
//! reached when `now >= expires_at`; refresh tokens are purged [`REFRESH_TOKEN_RETENTION_MS`]
//! after they expire; the sign-in log keeps events of deleted users; the `since` filter of
//! the sign-in log is inclusive and `until` exclusive.

mod codec;
mod directory;
mod grants;
mod guards;
mod housekeeping;
mod mfa;
mod schema;
mod second_factor;

use crate::{
    AttemptLimit, Document, IdentityStore, Result, SecondFactorLimits, SecondFactorReservation,
    StoreError, UpdateFn,
};
use async_trait::async_trait;
use codec::backend;
use mailward_types::Upn;
use mailward_types::clock;
use mailward_types::model::{Application, Domain, Group, Resource, User};
use mailward_types::records::{
    AuthCode, DeviceCode, LocationClass, LockoutState, PasskeyRecord, Redeem, RefreshToken,
    Session, SignInEvent, SignInFilter, SigningKey, TotpRecord,
};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};
use std::net::IpAddr;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use uuid::Uuid;

/// How long an expired refresh token is kept before `purge_expired` removes it, so that
/// investigations of a reused token still find its family for a while.
pub const REFRESH_TOKEN_RETENTION_MS: i64 = 7 * 24 * 60 * 60 * 1000;

/// Connections of the read pool.
const READERS: u32 = 8;
/// How long a statement waits for a lock held by another process.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Prepared statements kept per connection (the store uses about a hundred).
const STATEMENT_CACHE: usize = 256;

/// The SQLite identity store. Cheap to clone (two pool handles).
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// Exactly one connection: every write and every read-modify-write.
    writer: SqlitePool,
    /// Plain reads. The same pool as `writer` for in-memory stores.
    reader: SqlitePool,
    /// Background WAL checkpoints; stopped when the last clone of the store is dropped.
    _checkpointer: Option<Arc<mailward_sqlite::Checkpointer>>,
}

impl SqliteStore {
    /// Opens (creating if missing) the database file at `path` and brings its schema up to
    /// date.
    pub async fn open(path: &Path) -> Result<SqliteStore> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Backend(format!("cannot create directory {}: {e}", dir.display()))
            })?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            .statement_cache_capacity(STATEMENT_CACHE);
        let open_err = |e: sqlx::Error| {
            StoreError::Backend(format!("cannot open database {}: {e}", path.display()))
        };
        // WAL is a property of the file: the writer switches it on once, readers inherit it.
        // The writer never checkpoints on commit (that would put an fsync of the database
        // file in the path of whichever request committed); a background task checkpoints
        // from a reader connection instead.
        let writer_options = options
            .clone()
            .journal_mode(SqliteJournalMode::Wal)
            .pragma("wal_autocheckpoint", "0");
        // Switching a new file to WAL takes an exclusive lock and does not wait for the busy
        // timeout, so two processes opening the same new file at once can see "database is
        // locked": retry briefly instead of failing the start.
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
        schema::migrate(&writer, clock::millis(clock::now())).await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(READERS)
            // A local file cannot hang up; a ping before every statement only costs time.
            .test_before_acquire(false)
            .connect_with(options)
            .await
            .map_err(open_err)?;
        let checkpointer = Arc::new(mailward_sqlite::Checkpointer::start(
            reader.clone(),
            "identity",
        ));
        Ok(SqliteStore {
            writer,
            reader,
            _checkpointer: Some(checkpointer),
        })
    }

    /// A private in-memory database (for tests): one connection that lives as long as the
    /// store.
    pub async fn open_memory() -> Result<SqliteStore> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")
            .map_err(backend)?
            .foreign_keys(true)
            .statement_cache_capacity(STATEMENT_CACHE);
        let pool = writer_pool().connect_with(options).await.map_err(backend)?;
        schema::migrate(&pool, clock::millis(clock::now())).await?;
        Ok(SqliteStore {
            writer: pool.clone(),
            reader: pool,
            _checkpointer: None,
        })
    }

    /// Closes both pools, waiting for connections in use to be returned.
    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }

    async fn begin(&self) -> Result<Transaction<'static, Sqlite>> {
        self.writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(backend)
    }
}

/// One connection, kept open for the life of the store (so its prepared statements stay
/// warm, and an in-memory database is not lost).
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

/// Runs `f` on `old`, refusing a result whose key differs.
fn apply<T, K: PartialEq>(old: T, f: UpdateFn<T>, key: impl Fn(&T) -> K, what: &str) -> Result<T> {
    let before = key(&old);
    let new = f(old)?;
    if key(&new) != before {
        return Err(StoreError::Rejected(format!("the {what} cannot change")));
    }
    Ok(new)
}

fn user_missing(user: Uuid) -> impl FnOnce() -> String {
    move || format!("user {user}")
}

async fn exists(conn: &mut sqlx::SqliteConnection, sql: &'static str, key: String) -> Result<bool> {
    Ok(sqlx::query(sql)
        .bind(key)
        .fetch_optional(conn)
        .await
        .map_err(backend)?
        .is_some())
}

#[async_trait]
impl IdentityStore for SqliteStore {
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
