//! Conversions between rows and the model and record types, for every dialect:
//! timestamps as unix milliseconds, ids as hyphenated UUID text, booleans in the dialect's
//! encoding (bound as `bool`), lists as JSON arrays of stable names, and the mapping of
//! database errors to [`StoreError`]. One source of truth for how a stored row becomes a
//! model value.

use crate::{Result, StoreError};
use mailward_sql::{Column, Dialect, Row};
use mailward_types::clock;
use mailward_types::model::{
    Amr, Application, AuthenticationMode, ClientAppType, ClientKind, Domain, GrantType, Group,
    Resource, Role, TokenAlg, User, UserSource,
};
use mailward_types::records::{
    AuthCode, DeviceCode, DeviceStatus, PasskeyRecord, RefreshToken, Session, SignInEvent,
    SigningKey, TotpRecord,
};
use mailward_types::{ClientId, RedirectUri, Upn};
use time::OffsetDateTime;
use uuid::Uuid;

pub(super) use crate::columns::*;

/// Booleans are bound as `bool`: SQLite stores 0/1, PostgreSQL `BOOLEAN`.
pub(super) fn flag(b: bool) -> bool {
    b
}

fn get_bool<D: Dialect>(row: &Row<D>, col: &str) -> Result<bool> {
    row.get_bool(col).map_err(backend)
}

// ---- errors ----

pub(super) fn backend(e: sqlx::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// Maps the error of a write: a unique violation becomes `Conflict` (described by `conflict`,
/// which gets the database message so it can tell which key collided), a foreign-key
/// violation `NotFound` (described by `missing`), anything else `Backend`.
pub(super) fn write_err(
    e: sqlx::Error,
    conflict: impl FnOnce(&str) -> String,
    missing: impl FnOnce() -> String,
) -> StoreError {
    if let Some(db) = e.as_database_error() {
        if db.is_unique_violation() {
            return StoreError::Conflict {
                what: conflict(db.message()),
            };
        }
        if db.is_foreign_key_violation() {
            return StoreError::NotFound { what: missing() };
        }
    }
    backend(e)
}

pub(super) fn not_found(what: impl Into<String>) -> StoreError {
    StoreError::NotFound { what: what.into() }
}

fn unreadable(what: &str, value: impl std::fmt::Debug) -> StoreError {
    StoreError::Backend(format!(
        "stored {what} {value:?} cannot be read by this version"
    ))
}

// ---- scalar encodings ----

pub(super) fn ms(t: OffsetDateTime) -> i64 {
    clock::millis(t)
}

pub(super) fn opt_ms(t: Option<OffsetDateTime>) -> Option<i64> {
    t.map(clock::millis)
}

pub(super) fn id(u: Uuid) -> String {
    u.hyphenated().to_string()
}

pub(super) fn opt_id(u: Option<Uuid>) -> Option<String> {
    u.map(id)
}

/// A JSON array of strings.
pub(super) fn list<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> Result<String> {
    let v: Vec<String> = items.into_iter().map(|s| s.as_ref().to_owned()).collect();
    serde_json::to_string(&v).map_err(|e| StoreError::Backend(format!("encoding a list: {e}")))
}

pub(super) fn amr_list(amr: &[Amr]) -> Result<String> {
    list(amr.iter().map(|a| a.as_str()))
}

/// Lower-case key of a case-insensitive name (group names, domain names, UPN filters).
pub(super) fn name_key(name: &str) -> String {
    name.to_lowercase()
}

// ---- row access ----

pub(super) fn get<'r, T: Column<'r>, D: Dialect>(row: &'r Row<D>, col: &str) -> Result<T> {
    row.get(col).map_err(backend)
}

fn get_time<D: Dialect>(row: &Row<D>, col: &str) -> Result<OffsetDateTime> {
    Ok(clock::from_millis(get::<i64, _>(row, col)?))
}

fn get_opt_time<D: Dialect>(row: &Row<D>, col: &str) -> Result<Option<OffsetDateTime>> {
    Ok(get::<Option<i64>, _>(row, col)?.map(clock::from_millis))
}

pub(super) fn get_uuid<D: Dialect>(row: &Row<D>, col: &str) -> Result<Uuid> {
    let s: String = get(row, col)?;
    Uuid::parse_str(&s).map_err(|_| unreadable(col, s))
}

fn get_opt_uuid<D: Dialect>(row: &Row<D>, col: &str) -> Result<Option<Uuid>> {
    match get::<Option<String>, _>(row, col)? {
        None => Ok(None),
        Some(s) => Uuid::parse_str(&s)
            .map(Some)
            .map_err(|_| unreadable(col, s)),
    }
}

fn get_u32<D: Dialect>(row: &Row<D>, col: &str) -> Result<u32> {
    let v: i64 = get(row, col)?;
    u32::try_from(v).map_err(|_| unreadable(col, v))
}

pub(super) fn get_list<D: Dialect>(row: &Row<D>, col: &str) -> Result<Vec<String>> {
    let s: String = get(row, col)?;
    serde_json::from_str(&s).map_err(|_| unreadable(col, s))
}

fn get_parsed_list<T, D: Dialect>(
    row: &Row<D>,
    col: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<Vec<T>> {
    get_list(row, col)?
        .into_iter()
        .map(|s| parse(&s).ok_or_else(|| unreadable(col, s)))
        .collect()
}

fn get_parsed<T, D: Dialect>(
    row: &Row<D>,
    col: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<T> {
    let s: String = get(row, col)?;
    parse(&s).ok_or_else(|| unreadable(col, s))
}

fn get_amr<D: Dialect>(row: &Row<D>, col: &str) -> Result<Vec<Amr>> {
    get_parsed_list(row, col, Amr::parse)
}

fn get_redirect_uris<D: Dialect>(row: &Row<D>, col: &str) -> Result<Vec<RedirectUri>> {
    get_parsed_list(row, col, |s| RedirectUri::try_from(s).ok())
}

// ---- column lists and row decoders ----

pub(super) fn document_from_row<D: Dialect>(row: &Row<D>) -> Result<crate::Document> {
    Ok(crate::Document {
        kind: get(row, "kind")?,
        id: get(row, "id")?,
        body: get(row, "body")?,
        created: get_time(row, "created_at")?,
        modified: get_time(row, "modified_at")?,
    })
}

pub(super) fn user_from_row<D: Dialect>(row: &Row<D>) -> Result<User> {
    user_from_prefixed_row(row, "")
}

/// A user whose columns carry a name prefix (e.g. `u_id`, `u_upn`, ... next to another
/// table's columns).
pub(super) fn user_from_prefixed_row<D: Dialect>(row: &Row<D>, prefix: &str) -> Result<User> {
    let c = |name: &str| format!("{prefix}{name}");
    Ok(User {
        id: get_uuid(row, &c("id"))?,
        upn: get_parsed(row, &c("upn"), |s| Upn::try_from(s).ok())?,
        display_name: get(row, &c("display_name"))?,
        mail: get(row, &c("mail"))?,
        enabled: get_bool(row, &c("enabled"))?,
        immutable_id: get(row, &c("immutable_id"))?,
        source: get_parsed(row, &c("source"), UserSource::parse)?,
        roles: get_parsed_list(row, &c("roles"), Role::parse)?,
        created_at: get_time(row, &c("created_at"))?,
        tokens_valid_from: get_time(row, &c("tokens_valid_from"))?,
    })
}

pub(super) fn group_from_row<D: Dialect>(row: &Row<D>) -> Result<Group> {
    Ok(Group {
        id: get_uuid(row, "id")?,
        display_name: get(row, "display_name")?,
        description: get(row, "description")?,
        source: get_parsed(row, "source", UserSource::parse)?,
        created_at: get_time(row, "created_at")?,
    })
}

pub(super) fn domain_from_row<D: Dialect>(row: &Row<D>) -> Result<Domain> {
    Ok(Domain {
        name: get(row, "name")?,
        verified: get_bool(row, "verified")?,
        authentication: get_parsed(row, "authentication", AuthenticationMode::parse)?,
        is_default: get_bool(row, "is_default")?,
        created_at: get_time(row, "created_at")?,
    })
}

pub(super) fn app_from_row<D: Dialect>(row: &Row<D>) -> Result<Application> {
    Ok(Application {
        client_id: get_parsed(row, "client_id", |s| ClientId::try_from(s).ok())?,
        display_name: get(row, "display_name")?,
        kind: get_parsed(row, "kind", ClientKind::parse)?,
        secret_hash: get(row, "secret_hash")?,
        redirect_uris: get_redirect_uris(row, "redirect_uris")?,
        grants: get_parsed_list(row, "grants", GrantType::parse)?,
        first_party: get_bool(row, "first_party")?,
        post_logout_redirect_uris: get_redirect_uris(row, "post_logout_redirect_uris")?,
        app_roles: get_list(row, "app_roles")?,
        created_at: get_time(row, "created_at")?,
    })
}

pub(super) fn resource_from_row<D: Dialect>(row: &Row<D>) -> Result<Resource> {
    Ok(Resource {
        id: get_uuid(row, "id")?,
        uri: get(row, "uri")?,
        display_name: get(row, "display_name")?,
        scopes: get_list(row, "scopes")?,
        app_roles: get_list(row, "app_roles")?,
        token_alg: get_parsed(row, "token_alg", TokenAlg::parse)?,
        access_token_lifetime: get(row, "access_token_lifetime")?,
        first_party: get_bool(row, "first_party")?,
        created_at: get_time(row, "created_at")?,
    })
}

pub(super) fn signing_key_from_row<D: Dialect>(row: &Row<D>) -> Result<SigningKey> {
    Ok(SigningKey {
        kid: get(row, "kid")?,
        alg: get_parsed(row, "alg", TokenAlg::parse)?,
        sealed_private_key: get(row, "sealed_private_key")?,
        public_jwk: get(row, "public_jwk")?,
        created_at: get_time(row, "created_at")?,
        active_from: get_time(row, "active_from")?,
        retired_at: get_opt_time(row, "retired_at")?,
        expires_at: get_opt_time(row, "expires_at")?,
    })
}

pub(super) fn auth_code_from_row<D: Dialect>(row: &Row<D>) -> Result<AuthCode> {
    Ok(AuthCode {
        code_hash: get(row, "code_hash")?,
        client_id: get(row, "client_id")?,
        user_id: get_uuid(row, "user_id")?,
        redirect_uri: get(row, "redirect_uri")?,
        scopes: get_list(row, "scopes")?,
        resource: get(row, "resource")?,
        code_challenge: get(row, "code_challenge")?,
        nonce: get(row, "nonce")?,
        amr: get_amr(row, "amr")?,
        auth_time: get_time(row, "auth_time")?,
        mfa_time: get_opt_time(row, "mfa_time")?,
        session_id: get_opt_uuid(row, "session_id")?,
        client_app_type: get_parsed(row, "client_app_type", ClientAppType::parse)?,
        ip: get(row, "ip")?,
        family_id: get_uuid(row, "family_id")?,
        created_at: get_time(row, "created_at")?,
        expires_at: get_time(row, "expires_at")?,
        redeemed_at: get_opt_time(row, "redeemed_at")?,
    })
}

pub(super) fn refresh_token_from_row<D: Dialect>(row: &Row<D>) -> Result<RefreshToken> {
    Ok(RefreshToken {
        token_hash: get(row, "token_hash")?,
        family_id: get_uuid(row, "family_id")?,
        client_id: get(row, "client_id")?,
        user_id: get_uuid(row, "user_id")?,
        scopes: get_list(row, "scopes")?,
        resource: get(row, "resource")?,
        amr: get_amr(row, "amr")?,
        auth_time: get_time(row, "auth_time")?,
        mfa_time: get_opt_time(row, "mfa_time")?,
        session_id: get_opt_uuid(row, "session_id")?,
        client_app_type: get_parsed(row, "client_app_type", ClientAppType::parse)?,
        created_at: get_time(row, "created_at")?,
        expires_at: get_time(row, "expires_at")?,
        used_at: get_opt_time(row, "used_at")?,
        revoked_at: get_opt_time(row, "revoked_at")?,
    })
}

/// The status columns of a device code: `(status, user_id, amr, auth_time, mfa_time,
/// session_id)`, the last five set only for `approved`.
pub(super) type StatusCols = (
    &'static str,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<String>,
);

pub(super) fn device_status_cols(status: &DeviceStatus) -> Result<StatusCols> {
    Ok(match status {
        DeviceStatus::Pending => ("pending", None, None, None, None, None),
        DeviceStatus::Denied => ("denied", None, None, None, None, None),
        DeviceStatus::Redeemed => ("redeemed", None, None, None, None, None),
        DeviceStatus::Approved {
            user_id,
            amr,
            auth_time,
            mfa_time,
            session_id,
        } => (
            "approved",
            Some(id(*user_id)),
            Some(amr_list(amr)?),
            Some(ms(*auth_time)),
            opt_ms(*mfa_time),
            opt_id(*session_id),
        ),
    })
}

pub(super) fn device_code_from_row<D: Dialect>(row: &Row<D>) -> Result<DeviceCode> {
    let status: String = get(row, "status")?;
    let status = match status.as_str() {
        "pending" => DeviceStatus::Pending,
        "denied" => DeviceStatus::Denied,
        "redeemed" => DeviceStatus::Redeemed,
        "approved" => DeviceStatus::Approved {
            user_id: get_uuid(row, "approved_user_id")?,
            amr: get_amr(row, "approved_amr")?,
            auth_time: get_time(row, "approved_auth_time")?,
            mfa_time: get_opt_time(row, "approved_mfa_time")?,
            session_id: get_opt_uuid(row, "approved_session_id")?,
        },
        other => return Err(unreadable("device status", other)),
    };
    Ok(DeviceCode {
        device_code_hash: get(row, "device_code_hash")?,
        user_code_hash: get(row, "user_code_hash")?,
        client_id: get(row, "client_id")?,
        scopes: get_list(row, "scopes")?,
        resource: get(row, "resource")?,
        status,
        interval_secs: get(row, "interval_secs")?,
        created_at: get_time(row, "created_at")?,
        expires_at: get_time(row, "expires_at")?,
        last_poll_at: get_opt_time(row, "last_poll_at")?,
        ip: get(row, "ip")?,
    })
}

pub(super) fn session_from_row<D: Dialect>(row: &Row<D>) -> Result<Session> {
    Ok(Session {
        id: get_uuid(row, "id")?,
        secret_hash: get(row, "secret_hash")?,
        user_id: get_uuid(row, "user_id")?,
        amr: get_amr(row, "amr")?,
        auth_time: get_time(row, "auth_time")?,
        mfa_time: get_opt_time(row, "mfa_time")?,
        created_at: get_time(row, "created_at")?,
        expires_at: get_time(row, "expires_at")?,
    })
}

pub(super) fn totp_from_row<D: Dialect>(row: &Row<D>) -> Result<TotpRecord> {
    Ok(TotpRecord {
        user_id: get_uuid(row, "user_id")?,
        sealed_secret: get(row, "sealed_secret")?,
        confirmed: get_bool(row, "confirmed")?,
        last_step: get(row, "last_step")?,
        created_at: get_time(row, "created_at")?,
    })
}

pub(super) fn passkey_from_row<D: Dialect>(row: &Row<D>) -> Result<PasskeyRecord> {
    Ok(PasskeyRecord {
        id: get_uuid(row, "id")?,
        user_id: get_uuid(row, "user_id")?,
        name: get(row, "name")?,
        credential_id: get(row, "credential_id")?,
        passkey_json: get(row, "passkey_json")?,
        created_at: get_time(row, "created_at")?,
        last_used_at: get_opt_time(row, "last_used_at")?,
    })
}

pub(super) fn lockout_from_row<D: Dialect>(
    row: &Row<D>,
) -> Result<mailward_types::records::LockoutState> {
    Ok(mailward_types::records::LockoutState {
        failures: get_u32(row, "failures")?,
        locked_until: get_opt_time(row, "locked_until")?,
        lockouts: get_u32(row, "lockouts")?,
        recent_bad: get_list(row, "recent_bad")?,
        last_failure_at: get_opt_time(row, "last_failure_at")?,
    })
}

/// Sign-in events are stored whole as JSON next to the columns the filters use; the
/// `created_at` column is authoritative for the timestamp.
pub(super) fn signin_json(event: &SignInEvent) -> Result<String> {
    serde_json::to_string(event)
        .map_err(|e| StoreError::Backend(format!("encoding a sign-in event: {e}")))
}

pub(super) fn signin_from_row<D: Dialect>(row: &Row<D>) -> Result<SignInEvent> {
    let json: String = get(row, "event")?;
    let mut event: SignInEvent = serde_json::from_str(&json)
        .map_err(|e| StoreError::Backend(format!("stored sign-in event cannot be read: {e}")))?;
    event.created_date_time = get_time(row, "created_at")?;
    Ok(event)
}
