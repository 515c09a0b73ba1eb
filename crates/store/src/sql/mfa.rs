//! Second factors and smart lockout: TOTP registrations and replay guards,
//! recovery codes, passkeys, lockout counters and familiar IP addresses.

use super::codec::*;
use super::{IdentityDb, IdentityDialect, apply, commit, exists, user_missing};
use crate::{Result, StoreError, UpdateFn};
use mailward_sql::{Lock, query, query_locked};
use mailward_types::records::{LocationClass, LockoutState, PasskeyRecord, TotpRecord};
use std::net::IpAddr;
use time::OffsetDateTime;
use uuid::Uuid;

// ---- MFA: TOTP ----

pub(super) async fn put_totp<D: IdentityDialect>(
    s: &IdentityDb<D>,
    record: &TotpRecord,
) -> Result<()> {
    query::<D>(
        "INSERT INTO totp (user_id, sealed_secret, confirmed, last_step, created_at)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (user_id) DO UPDATE SET sealed_secret = excluded.sealed_secret,
                                             confirmed = excluded.confirmed,
                                             last_step = excluded.last_step,
                                             created_at = excluded.created_at",
    )
    .bind(id(record.user_id))
    .bind(&record.sealed_secret)
    .bind(flag(record.confirmed))
    .bind(record.last_step)
    .bind(ms(record.created_at))
    .execute(&s.writer)
    .await
    .map_err(|e| {
        write_err(
            e,
            |_| "TOTP registration".to_owned(),
            user_missing(record.user_id),
        )
    })?;
    Ok(())
}

pub(super) async fn totp<D: IdentityDialect>(
    s: &IdentityDb<D>,
    user_id: Uuid,
) -> Result<Option<TotpRecord>> {
    query::<D>(
        "SELECT user_id, sealed_secret, confirmed, last_step, created_at
         FROM totp WHERE user_id = $1",
    )
    .bind(id(user_id))
    .fetch_optional(&s.reader)
    .await
    .map_err(backend)?
    .map(|r| totp_from_row(&r))
    .transpose()
}

pub(super) async fn accept_totp_step<D: IdentityDialect>(
    s: &IdentityDb<D>,
    user_id: Uuid,
    step: i64,
) -> Result<bool> {
    let done = query::<D>(
        "UPDATE totp SET last_step = $2
         WHERE user_id = $1 AND (last_step IS NULL OR last_step < $2)",
    )
    .bind(id(user_id))
    .bind(step)
    .execute(&s.writer)
    .await
    .map_err(backend)?;
    Ok(done.rows_affected() == 1)
}

// ---- MFA: recovery codes ----

pub(super) async fn replace_recovery_codes<D: IdentityDialect>(
    s: &IdentityDb<D>,
    user_id: Uuid,
    hashes: &[String],
) -> Result<()> {
    let mut tx = s.begin().await?;
    let user_row = query_locked::<D>("SELECT 1 FROM users WHERE id = $1", Lock::KeyShare);
    if !exists::<D>(&mut tx, user_row, id(user_id)).await? {
        return Err(not_found(format!("user {user_id}")));
    }
    query::<D>("DELETE FROM recovery_codes WHERE user_id = $1")
        .bind(id(user_id))
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    for hash in hashes {
        query::<D>(
            "INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)
             ON CONFLICT (user_id, code_hash) DO NOTHING",
        )
        .bind(id(user_id))
        .bind(hash)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    }
    commit(tx).await
}

pub(super) async fn use_recovery_code<D: IdentityDialect>(
    s: &IdentityDb<D>,
    user_id: Uuid,
    hash: &str,
    now: OffsetDateTime,
) -> Result<bool> {
    let done = query::<D>(
        "UPDATE recovery_codes SET used_at = $3
         WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
    )
    .bind(id(user_id))
    .bind(hash)
    .bind(ms(now))
    .execute(&s.writer)
    .await
    .map_err(backend)?;
    Ok(done.rows_affected() == 1)
}

pub(super) async fn unused_recovery_codes<D: IdentityDialect>(
    s: &IdentityDb<D>,
    user_id: Uuid,
) -> Result<u32> {
    let row = query::<D>(
        "SELECT COUNT(*) AS n FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL",
    )
    .bind(id(user_id))
    .fetch_one(&s.reader)
    .await
    .map_err(backend)?;
    let n: i64 = get(&row, "n")?;
    u32::try_from(n).map_err(|_| StoreError::Backend(format!("{n} recovery codes")))
}

// ---- MFA: passkeys ----

pub(super) async fn add_passkey<D: IdentityDialect>(
    s: &IdentityDb<D>,
    record: &PasskeyRecord,
) -> Result<()> {
    query::<D>(
        "INSERT INTO passkeys (id, user_id, name, credential_id, passkey_json, created_at,
                               last_used_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id(record.id))
    .bind(id(record.user_id))
    .bind(&record.name)
    .bind(&record.credential_id)
    .bind(&record.passkey_json)
    .bind(ms(record.created_at))
    .bind(opt_ms(record.last_used_at))
    .execute(&s.writer)
    .await
    .map_err(|e| write_err(e, passkey_conflict(record), user_missing(record.user_id)))?;
    Ok(())
}

pub(super) async fn passkeys<D: IdentityDialect>(
    s: &IdentityDb<D>,
    user_id: Uuid,
) -> Result<Vec<PasskeyRecord>> {
    query::<D>(concat!(
        "SELECT ",
        passkey_cols!(),
        " FROM passkeys WHERE user_id = $1 ORDER BY created_at, id"
    ))
    .bind(id(user_id))
    .fetch_all(&s.reader)
    .await
    .map_err(backend)?
    .iter()
    .map(passkey_from_row)
    .collect()
}

pub(super) async fn update_passkey<D: IdentityDialect>(
    s: &IdentityDb<D>,
    passkey: Uuid,
    f: UpdateFn<PasskeyRecord>,
) -> Result<PasskeyRecord> {
    let mut tx = s.begin().await?;
    let old = query_locked::<D>(
        concat!("SELECT ", passkey_cols!(), " FROM passkeys WHERE id = $1"),
        Lock::Update,
    )
    .bind(id(passkey))
    .fetch_optional(&mut *tx)
    .await
    .map_err(backend)?
    .map(|r| passkey_from_row(&r))
    .transpose()?
    .ok_or_else(|| not_found(format!("passkey {passkey}")))?;
    let new = apply(old, f, |p| (p.id, p.user_id), "id or user of a passkey")?;
    query::<D>(
        "UPDATE passkeys SET name = $2, credential_id = $3, passkey_json = $4,
                             created_at = $5, last_used_at = $6
         WHERE id = $1",
    )
    .bind(id(passkey))
    .bind(&new.name)
    .bind(&new.credential_id)
    .bind(&new.passkey_json)
    .bind(ms(new.created_at))
    .bind(opt_ms(new.last_used_at))
    .execute(&mut *tx)
    .await
    .map_err(|e| write_err(e, passkey_conflict(&new), user_missing(new.user_id)))?;
    commit(tx).await?;
    Ok(new)
}

pub(super) async fn reset_mfa<D: IdentityDialect>(s: &IdentityDb<D>, user_id: Uuid) -> Result<()> {
    let mut tx = s.begin().await?;
    for sql in [
        "DELETE FROM totp WHERE user_id = $1",
        "DELETE FROM recovery_codes WHERE user_id = $1",
        "DELETE FROM passkeys WHERE user_id = $1",
        "DELETE FROM second_factor_failures WHERE user_id = $1",
    ] {
        query::<D>(sql)
            .bind(id(user_id))
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
    }
    commit(tx).await
}

// ---- smart lockout ----

pub(super) async fn lockout<D: IdentityDialect>(
    s: &IdentityDb<D>,
    user_id: Uuid,
    class: LocationClass,
) -> Result<LockoutState> {
    let row = query::<D>(
        "SELECT failures, locked_until, lockouts, recent_bad, last_failure_at
         FROM lockout WHERE user_id = $1 AND location_class = $2",
    )
    .bind(id(user_id))
    .bind(class.as_str())
    .fetch_optional(&s.reader)
    .await
    .map_err(backend)?;
    match row {
        Some(r) => lockout_from_row(&r),
        None => Ok(LockoutState::default()),
    }
}

pub(super) async fn update_lockout<D: IdentityDialect>(
    s: &IdentityDb<D>,
    user_id: Uuid,
    class: LocationClass,
    f: UpdateFn<LockoutState>,
) -> Result<LockoutState> {
    let mut tx = s.begin().await?;
    // A missing row is created first so that the read below can lock it: two concurrent
    // updates of a fresh counter then serialise instead of both starting from zero. The
    // transaction is rolled back (and the row gone) if the closure refuses.
    query::<D>(
        "INSERT INTO lockout (user_id, location_class, failures, locked_until, lockouts,
                              recent_bad, last_failure_at)
         VALUES ($1, $2, 0, NULL, 0, '[]', NULL)
         ON CONFLICT (user_id, location_class) DO NOTHING",
    )
    .bind(id(user_id))
    .bind(class.as_str())
    .execute(&mut *tx)
    .await
    .map_err(|e| write_err(e, |_| "lockout state".to_owned(), user_missing(user_id)))?;
    let old = match query_locked::<D>(
        "SELECT failures, locked_until, lockouts, recent_bad, last_failure_at
         FROM lockout WHERE user_id = $1 AND location_class = $2",
        Lock::Update,
    )
    .bind(id(user_id))
    .bind(class.as_str())
    .fetch_optional(&mut *tx)
    .await
    .map_err(backend)?
    {
        Some(r) => lockout_from_row(&r)?,
        None => LockoutState::default(),
    };
    let new = f(old)?;
    query::<D>(
        "INSERT INTO lockout (user_id, location_class, failures, locked_until, lockouts,
                              recent_bad, last_failure_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (user_id, location_class) DO UPDATE SET
             failures = excluded.failures, locked_until = excluded.locked_until,
             lockouts = excluded.lockouts, recent_bad = excluded.recent_bad,
             last_failure_at = excluded.last_failure_at",
    )
    .bind(id(user_id))
    .bind(class.as_str())
    .bind(i64::from(new.failures))
    .bind(opt_ms(new.locked_until))
    .bind(i64::from(new.lockouts))
    .bind(list(&new.recent_bad)?)
    .bind(opt_ms(new.last_failure_at))
    .execute(&mut *tx)
    .await
    .map_err(|e| write_err(e, |_| "lockout state".to_owned(), user_missing(user_id)))?;
    commit(tx).await?;
    Ok(new)
}

pub(super) async fn familiar_ips<D: IdentityDialect>(
    s: &IdentityDb<D>,
    user_id: Uuid,
) -> Result<Vec<IpAddr>> {
    query::<D>("SELECT ip FROM familiar_ips WHERE user_id = $1 ORDER BY seq DESC")
        .bind(id(user_id))
        .fetch_all(&s.reader)
        .await
        .map_err(backend)?
        .iter()
        .map(|r| {
            let s: String = get(r, "ip")?;
            s.parse()
                .map_err(|_| StoreError::Backend(format!("stored IP address {s:?} is invalid")))
        })
        .collect()
}

/// Recency is a per-user sequence number rather than `now`, so two sign-ins in the same
/// millisecond (or a clock step back) still order correctly.
pub(super) async fn record_familiar_ip<D: IdentityDialect>(
    s: &IdentityDb<D>,
    user_id: Uuid,
    ip: IpAddr,
    now: OffsetDateTime,
    keep: u32,
) -> Result<()> {
    let mut tx = s.begin().await?;
    // Serialises recordings for one user, so each takes a distinct sequence number. A
    // missing user is reported by the foreign key of the insert below.
    query_locked::<D>("SELECT 1 FROM users WHERE id = $1", Lock::NoKeyUpdate)
        .bind(id(user_id))
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    query::<D>(
        "INSERT INTO familiar_ips (user_id, ip, last_seen, seq)
         VALUES ($1, $2, $3,
                 (SELECT COALESCE(MAX(seq), 0) + 1 FROM familiar_ips WHERE user_id = $1))
         ON CONFLICT (user_id, ip) DO UPDATE SET last_seen = excluded.last_seen,
                                                 seq = excluded.seq",
    )
    .bind(id(user_id))
    .bind(ip.to_string())
    .bind(ms(now))
    .execute(&mut *tx)
    .await
    .map_err(|e| write_err(e, |_| "familiar IP".to_owned(), user_missing(user_id)))?;
    query::<D>(
        "DELETE FROM familiar_ips
         WHERE user_id = $1
           AND seq <= (SELECT seq FROM familiar_ips WHERE user_id = $1
                       ORDER BY seq DESC LIMIT 1 OFFSET $2)",
    )
    .bind(id(user_id))
    .bind(i64::from(keep))
    .execute(&mut *tx)
    .await
    .map_err(backend)?;
    commit(tx).await
}

fn passkey_conflict(record: &PasskeyRecord) -> impl FnOnce(&str) -> String + '_ {
    move |msg| {
        if msg.contains("credential_id") {
            format!("passkey credential {}", record.credential_id)
        } else {
            format!("passkey {}", record.id)
        }
    }
}
