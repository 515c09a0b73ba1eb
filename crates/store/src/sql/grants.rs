//! What the token endpoint consumes,: authorization codes, refresh tokens,
//! device authorizations, browser sessions and in-progress sign-in flows. Single-use items
//! are claimed with one conditional `UPDATE ... RETURNING`.

use super::codec::*;
use super::{IdentityDb, IdentityDialect, apply, commit, user_missing};
use crate::{Result, UpdateFn};
use mailward_sql::{Lock, Row, query, query_locked};
use mailward_types::records::{AuthCode, DeviceCode, Redeem, RefreshToken, Session};
use time::OffsetDateTime;
use uuid::Uuid;

// ---- authorization codes ----

pub(super) async fn insert_auth_code<D: IdentityDialect>(
    s: &IdentityDb<D>,
    code: &AuthCode,
) -> Result<()> {
    query::<D>(
        "INSERT INTO auth_codes (code_hash, client_id, user_id, redirect_uri, scopes, resource,
                                 code_challenge, nonce, amr, auth_time, mfa_time, session_id,
                                 client_app_type, ip, family_id, created_at, expires_at,
                                 redeemed_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
                 $18)",
    )
    .bind(&code.code_hash)
    .bind(&code.client_id)
    .bind(id(code.user_id))
    .bind(&code.redirect_uri)
    .bind(list(&code.scopes)?)
    .bind(&code.resource)
    .bind(&code.code_challenge)
    .bind(&code.nonce)
    .bind(amr_list(&code.amr)?)
    .bind(ms(code.auth_time))
    .bind(opt_ms(code.mfa_time))
    .bind(opt_id(code.session_id))
    .bind(code.client_app_type.as_str())
    .bind(&code.ip)
    .bind(id(code.family_id))
    .bind(ms(code.created_at))
    .bind(ms(code.expires_at))
    .bind(opt_ms(code.redeemed_at))
    .execute(&s.writer)
    .await
    .map_err(|e| {
        write_err(
            e,
            |_| "authorization code".to_owned(),
            user_missing(code.user_id),
        )
    })?;
    Ok(())
}

pub(super) async fn redeem_auth_code<D: IdentityDialect>(
    s: &IdentityDb<D>,
    code_hash: &str,
    now: OffsetDateTime,
) -> Result<Redeem<AuthCode>> {
    let claimed = query::<D>(concat!(
        "UPDATE auth_codes SET redeemed_at = $2
         WHERE code_hash = $1 AND redeemed_at IS NULL AND expires_at > $2
         RETURNING ",
        auth_code_cols!()
    ))
    .bind(code_hash)
    .bind(ms(now))
    .fetch_all(&s.writer)
    .await
    .map_err(backend)?;
    if let Some(row) = one(claimed) {
        return Ok(Redeem::Fresh(auth_code_from_row(&row)?));
    }
    let row = query::<D>(concat!(
        "SELECT ",
        auth_code_cols!(),
        " FROM auth_codes WHERE code_hash = $1"
    ))
    .bind(code_hash)
    .fetch_optional(&s.reader)
    .await
    .map_err(backend)?;
    let Some(row) = row else {
        return Ok(Redeem::NotFound);
    };
    let code = auth_code_from_row(&row)?;
    Ok(if code.expires_at <= now || code.redeemed_at.is_none() {
        // Expired, or inserted after the claim above looked: not ours to hand out.
        Redeem::NotFound
    } else {
        Redeem::Reused(code)
    })
}

// ---- refresh tokens ----

pub(super) async fn insert_refresh_token<D: IdentityDialect>(
    s: &IdentityDb<D>,
    token: &RefreshToken,
) -> Result<()> {
    query::<D>(
        "INSERT INTO refresh_tokens (token_hash, family_id, client_id, user_id, scopes,
                                     resource, amr, auth_time, mfa_time, session_id,
                                     client_app_type, created_at, expires_at, used_at,
                                     revoked_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
    )
    .bind(&token.token_hash)
    .bind(id(token.family_id))
    .bind(&token.client_id)
    .bind(id(token.user_id))
    .bind(list(&token.scopes)?)
    .bind(&token.resource)
    .bind(amr_list(&token.amr)?)
    .bind(ms(token.auth_time))
    .bind(opt_ms(token.mfa_time))
    .bind(opt_id(token.session_id))
    .bind(token.client_app_type.as_str())
    .bind(ms(token.created_at))
    .bind(ms(token.expires_at))
    .bind(opt_ms(token.used_at))
    .bind(opt_ms(token.revoked_at))
    .execute(&s.writer)
    .await
    .map_err(|e| {
        write_err(
            e,
            |_| "refresh token".to_owned(),
            user_missing(token.user_id),
        )
    })?;
    Ok(())
}

/// Consumes `old_hash` and inserts its successor in one statement (the dialect's
/// [`IdentityDialect::ROTATE_REFRESH`]). Two rotations of one token serialise (on SQLite's
/// single writer, on PostgreSQL's row lock of the parent), and the second finds the parent
/// used and inserts nothing.
pub(super) async fn rotate_refresh_token<D: IdentityDialect>(
    s: &IdentityDb<D>,
    old_hash: &str,
    new_hash: &str,
    now: OffsetDateTime,
    expires_at: OffsetDateTime,
) -> Result<Redeem<crate::Rotation>> {
    let inserted = match &s.rotations {
        Some(queue) => {
            queue
                .rotate(new_hash, old_hash, ms(now), ms(expires_at))
                .await
        }
        None => {
            query::<D>(D::ROTATE_REFRESH)
                .bind(new_hash)
                .bind(old_hash)
                .bind(ms(now))
                .bind(ms(expires_at))
                .fetch_all(&s.writer)
                .await
        }
    }
    .map_err(|e| {
        write_err(
            e,
            |_| "refresh token".to_owned(),
            || "refresh token".to_owned(),
        )
    })?;
    if let Some(row) = one(inserted) {
        let token = refresh_token_from_row(&row)?;
        let has_user: Option<String> = row.get("u_id").map_err(backend)?;
        let user = match has_user {
            Some(_) => Some(user_from_prefixed_row(&row, "u_")?),
            None => None,
        };
        return Ok(Redeem::Fresh(crate::Rotation { token, user }));
    }
    let Some(token) = refresh_token(s, old_hash).await? else {
        return Ok(Redeem::NotFound);
    };
    let spent = token.used_at.is_some() || token.revoked_at.is_some();
    Ok(if token.expires_at <= now || !spent {
        Redeem::NotFound
    } else {
        Redeem::Reused(crate::Rotation { token, user: None })
    })
}

pub(super) async fn use_refresh_token<D: IdentityDialect>(
    s: &IdentityDb<D>,
    token_hash: &str,
    now: OffsetDateTime,
) -> Result<Redeem<RefreshToken>> {
    let claimed = query::<D>(concat!(
        "UPDATE refresh_tokens SET used_at = $2
         WHERE token_hash = $1 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $2
         RETURNING ",
        refresh_token_cols!()
    ))
    .bind(token_hash)
    .bind(ms(now))
    .fetch_all(&s.writer)
    .await
    .map_err(backend)?;
    if let Some(row) = one(claimed) {
        return Ok(Redeem::Fresh(refresh_token_from_row(&row)?));
    }
    let Some(token) = refresh_token(s, token_hash).await? else {
        return Ok(Redeem::NotFound);
    };
    let spent = token.used_at.is_some() || token.revoked_at.is_some();
    Ok(if token.expires_at <= now || !spent {
        Redeem::NotFound
    } else {
        Redeem::Reused(token)
    })
}

pub(super) async fn revoke_family<D: IdentityDialect>(
    s: &IdentityDb<D>,
    family_id: Uuid,
    now: OffsetDateTime,
) -> Result<u64> {
    let mut tx = s.begin().await?;
    let live = query::<D>(
        "UPDATE refresh_tokens SET revoked_at = $2
         WHERE family_id = $1 AND revoked_at IS NULL AND used_at IS NULL AND expires_at > $2",
    )
    .bind(id(family_id))
    .bind(ms(now))
    .execute(&mut *tx)
    .await
    .map_err(backend)?
    .rows_affected();
    query::<D>(
        "UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL",
    )
    .bind(id(family_id))
    .bind(ms(now))
    .execute(&mut *tx)
    .await
    .map_err(backend)?;
    commit(tx).await?;
    Ok(live)
}

pub(super) async fn revoke_user_tokens<D: IdentityDialect>(
    s: &IdentityDb<D>,
    user_id: Uuid,
    now: OffsetDateTime,
) -> Result<u64> {
    let mut tx = s.begin().await?;
    let live = query::<D>(
        "UPDATE refresh_tokens SET revoked_at = $2
         WHERE user_id = $1 AND revoked_at IS NULL AND used_at IS NULL AND expires_at > $2",
    )
    .bind(id(user_id))
    .bind(ms(now))
    .execute(&mut *tx)
    .await
    .map_err(backend)?
    .rows_affected();
    query::<D>(
        "UPDATE refresh_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
    )
    .bind(id(user_id))
    .bind(ms(now))
    .execute(&mut *tx)
    .await
    .map_err(backend)?;
    commit(tx).await?;
    Ok(live)
}

pub(super) async fn refresh_token<D: IdentityDialect>(
    s: &IdentityDb<D>,
    token_hash: &str,
) -> Result<Option<RefreshToken>> {
    query::<D>(concat!(
        "SELECT ",
        refresh_token_cols!(),
        " FROM refresh_tokens WHERE token_hash = $1"
    ))
    .bind(token_hash)
    .fetch_optional(&s.reader)
    .await
    .map_err(backend)?
    .map(|r| refresh_token_from_row(&r))
    .transpose()
}

// ---- device authorization ----

/// A request whose user code expired at or before `code.created_at` gives its user code
/// up to the new one.
pub(super) async fn insert_device_code<D: IdentityDialect>(
    s: &IdentityDb<D>,
    code: &DeviceCode,
) -> Result<()> {
    let (status, user, amr, auth_time, mfa_time, session) = device_status_cols(&code.status)?;
    let mut tx = s.begin().await?;
    query::<D>("DELETE FROM device_codes WHERE user_code_hash = $1 AND expires_at <= $2")
        .bind(&code.user_code_hash)
        .bind(ms(code.created_at))
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    query::<D>(
        "INSERT INTO device_codes (device_code_hash, user_code_hash, client_id, scopes,
                                   resource, status, approved_user_id, approved_amr,
                                   approved_auth_time, approved_mfa_time,
                                   approved_session_id, interval_secs, created_at,
                                   expires_at, last_poll_at, ip)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
    )
    .bind(&code.device_code_hash)
    .bind(&code.user_code_hash)
    .bind(&code.client_id)
    .bind(list(&code.scopes)?)
    .bind(&code.resource)
    .bind(status)
    .bind(user)
    .bind(amr)
    .bind(auth_time)
    .bind(mfa_time)
    .bind(session)
    .bind(code.interval_secs)
    .bind(ms(code.created_at))
    .bind(ms(code.expires_at))
    .bind(opt_ms(code.last_poll_at))
    .bind(&code.ip)
    .execute(&mut *tx)
    .await
    .map_err(|e| write_err(e, device_conflict, || "device code".to_owned()))?;
    commit(tx).await
}

pub(super) async fn device_code_by_user_code<D: IdentityDialect>(
    s: &IdentityDb<D>,
    user_code_hash: &str,
) -> Result<Option<DeviceCode>> {
    query::<D>(concat!(
        "SELECT ",
        device_code_cols!(),
        " FROM device_codes WHERE user_code_hash = $1"
    ))
    .bind(user_code_hash)
    .fetch_optional(&s.reader)
    .await
    .map_err(backend)?
    .map(|r| device_code_from_row(&r))
    .transpose()
}

pub(super) async fn update_device_code<D: IdentityDialect>(
    s: &IdentityDb<D>,
    device_code_hash: &str,
    f: UpdateFn<DeviceCode>,
) -> Result<DeviceCode> {
    let mut tx = s.begin().await?;
    let old = query_locked::<D>(
        concat!(
            "SELECT ",
            device_code_cols!(),
            " FROM device_codes WHERE device_code_hash = $1"
        ),
        Lock::Update,
    )
    .bind(device_code_hash)
    .fetch_optional(&mut *tx)
    .await
    .map_err(backend)?
    .map(|r| device_code_from_row(&r))
    .transpose()?
    .ok_or_else(|| not_found("device code"))?;
    let new = apply(
        old,
        f,
        |c| c.device_code_hash.clone(),
        "device code of a device authorization",
    )?;
    let (status, user, amr, auth_time, mfa_time, session) = device_status_cols(&new.status)?;
    query::<D>(
        "UPDATE device_codes SET user_code_hash = $2, client_id = $3, scopes = $4,
                                 resource = $5, status = $6, approved_user_id = $7,
                                 approved_amr = $8, approved_auth_time = $9,
                                 approved_mfa_time = $10, approved_session_id = $11,
                                 interval_secs = $12, created_at = $13, expires_at = $14,
                                 last_poll_at = $15, ip = $16
         WHERE device_code_hash = $1",
    )
    .bind(device_code_hash)
    .bind(&new.user_code_hash)
    .bind(&new.client_id)
    .bind(list(&new.scopes)?)
    .bind(&new.resource)
    .bind(status)
    .bind(user)
    .bind(amr)
    .bind(auth_time)
    .bind(mfa_time)
    .bind(session)
    .bind(new.interval_secs)
    .bind(ms(new.created_at))
    .bind(ms(new.expires_at))
    .bind(opt_ms(new.last_poll_at))
    .bind(&new.ip)
    .execute(&mut *tx)
    .await
    .map_err(|e| write_err(e, device_conflict, || "device code".to_owned()))?;
    commit(tx).await?;
    Ok(new)
}

// ---- browser sessions ----

pub(super) async fn insert_session<D: IdentityDialect>(
    s: &IdentityDb<D>,
    session: &Session,
) -> Result<()> {
    query::<D>(
        "INSERT INTO sessions (id, secret_hash, user_id, amr, auth_time, mfa_time, created_at,
                               expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(id(session.id))
    .bind(&session.secret_hash)
    .bind(id(session.user_id))
    .bind(amr_list(&session.amr)?)
    .bind(ms(session.auth_time))
    .bind(opt_ms(session.mfa_time))
    .bind(ms(session.created_at))
    .bind(ms(session.expires_at))
    .execute(&s.writer)
    .await
    .map_err(|e| {
        write_err(
            e,
            |_| format!("session {}", session.id),
            user_missing(session.user_id),
        )
    })?;
    Ok(())
}

pub(super) async fn session<D: IdentityDialect>(
    s: &IdentityDb<D>,
    session: Uuid,
) -> Result<Option<Session>> {
    query::<D>(concat!(
        "SELECT ",
        session_cols!(),
        " FROM sessions WHERE id = $1"
    ))
    .bind(id(session))
    .fetch_optional(&s.reader)
    .await
    .map_err(backend)?
    .map(|r| session_from_row(&r))
    .transpose()
}

pub(super) async fn update_session<D: IdentityDialect>(
    s: &IdentityDb<D>,
    session: Uuid,
    f: UpdateFn<Session>,
) -> Result<Session> {
    let mut tx = s.begin().await?;
    let old = query_locked::<D>(
        concat!("SELECT ", session_cols!(), " FROM sessions WHERE id = $1"),
        Lock::Update,
    )
    .bind(id(session))
    .fetch_optional(&mut *tx)
    .await
    .map_err(backend)?
    .map(|r| session_from_row(&r))
    .transpose()?
    .ok_or_else(|| not_found(format!("session {session}")))?;
    let new = apply(old, f, |s| (s.id, s.user_id), "id or user of a session")?;
    query::<D>(
        "UPDATE sessions SET secret_hash = $2, amr = $3, auth_time = $4, mfa_time = $5,
                             created_at = $6, expires_at = $7
         WHERE id = $1",
    )
    .bind(id(session))
    .bind(&new.secret_hash)
    .bind(amr_list(&new.amr)?)
    .bind(ms(new.auth_time))
    .bind(opt_ms(new.mfa_time))
    .bind(ms(new.created_at))
    .bind(ms(new.expires_at))
    .execute(&mut *tx)
    .await
    .map_err(backend)?;
    commit(tx).await?;
    Ok(new)
}

pub(super) async fn delete_session<D: IdentityDialect>(
    s: &IdentityDb<D>,
    session: Uuid,
) -> Result<bool> {
    let done = query::<D>("DELETE FROM sessions WHERE id = $1")
        .bind(id(session))
        .execute(&s.writer)
        .await
        .map_err(backend)?;
    Ok(done.rows_affected() > 0)
}

pub(super) async fn delete_user_sessions<D: IdentityDialect>(
    s: &IdentityDb<D>,
    user_id: Uuid,
) -> Result<u64> {
    let done = query::<D>("DELETE FROM sessions WHERE user_id = $1")
        .bind(id(user_id))
        .execute(&s.writer)
        .await
        .map_err(backend)?;
    Ok(done.rows_affected())
}

// ---- in-progress sign-in flows ----

pub(super) async fn put_flow<D: IdentityDialect>(
    s: &IdentityDb<D>,
    flow: Uuid,
    state: &str,
    expires_at: OffsetDateTime,
) -> Result<()> {
    query::<D>(
        "INSERT INTO flows (id, state, expires_at) VALUES ($1, $2, $3)
         ON CONFLICT (id) DO UPDATE SET state = excluded.state,
                                        expires_at = excluded.expires_at",
    )
    .bind(id(flow))
    .bind(state)
    .bind(ms(expires_at))
    .execute(&s.writer)
    .await
    .map_err(backend)?;
    Ok(())
}

pub(super) async fn flow<D: IdentityDialect>(
    s: &IdentityDb<D>,
    flow: Uuid,
    now: OffsetDateTime,
) -> Result<Option<String>> {
    query::<D>("SELECT state FROM flows WHERE id = $1 AND expires_at > $2")
        .bind(id(flow))
        .bind(ms(now))
        .fetch_optional(&s.reader)
        .await
        .map_err(backend)?
        .map(|r| get(&r, "state"))
        .transpose()
}

pub(super) async fn delete_flow<D: IdentityDialect>(s: &IdentityDb<D>, flow: Uuid) -> Result<()> {
    query::<D>("DELETE FROM flows WHERE id = $1")
        .bind(id(flow))
        .execute(&s.writer)
        .await
        .map_err(backend)?;
    Ok(())
}

fn one<D: mailward_sql::Dialect>(rows: Vec<Row<D>>) -> Option<Row<D>> {
    rows.into_iter().next()
}

fn device_conflict(msg: &str) -> String {
    if msg.contains("user_code_hash") {
        "live device authorization with this user code".to_owned()
    } else {
        "device code".to_owned()
    }
}
