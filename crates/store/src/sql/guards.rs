//! The guards against guessing and flooding: password-attempt reservations on the
//! lockout counters, device user-code submission counts and fixed-window rate limits. The
//! statements are shared with PostgreSQL (`guards_sql.rs`); a reservation is one statement
//! on the single writer, settling one `BEGIN IMMEDIATE` transaction.

use super::codec::*;
use super::{IdentityDb, IdentityDialect, commit, user_missing};
use crate::guards_sql::*;
use crate::{AttemptLimit, Result, UpdateFn};
use mailward_sql::{Lock, query, query_locked};
use mailward_types::records::{DeviceCode, LocationClass, LockoutState};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

pub(super) async fn reserve_password_attempt<D: IdentityDialect>(
    s: &IdentityDb<D>,
    user_id: Uuid,
    class: LocationClass,
    limit: &AttemptLimit,
    now: OffsetDateTime,
) -> Result<bool> {
    let row = query::<D>(RESERVE_PASSWORD_ATTEMPT)
        .bind(id(user_id))
        .bind(class.as_str())
        .bind(ms(now))
        .bind(i64::from(limit.threshold))
        .bind(ms(now - limit.failure_window))
        .bind(ms(now - limit.reservation_ttl))
        .fetch_optional(&s.writer)
        .await
        .map_err(|e| write_err(e, |_| "lockout state".to_owned(), user_missing(user_id)))?;
    Ok(row.is_some())
}

pub(super) async fn settle_password_attempt<D: IdentityDialect>(
    s: &IdentityDb<D>,
    user_id: Uuid,
    class: LocationClass,
    f: UpdateFn<LockoutState>,
) -> Result<LockoutState> {
    let mut tx = s.begin().await?;
    let old = match query_locked::<D>(SELECT_LOCKOUT, Lock::Update)
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
    query::<D>(SETTLE_PASSWORD_ATTEMPT)
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

pub(super) async fn device_code_attempt<D: IdentityDialect>(
    s: &IdentityDb<D>,
    user_code_hash: &str,
) -> Result<Option<(DeviceCode, u32)>> {
    let Some(row) = query::<D>(DEVICE_CODE_ATTEMPT)
        .bind(user_code_hash)
        .fetch_optional(&s.writer)
        .await
        .map_err(backend)?
    else {
        return Ok(None);
    };
    let attempts: i64 = get(&row, "attempts")?;
    Ok(Some((
        device_code_from_row(&row)?,
        u32::try_from(attempts).unwrap_or(u32::MAX),
    )))
}

pub(super) async fn take_rate_limit<D: IdentityDialect>(
    s: &IdentityDb<D>,
    key: &str,
    limit: u32,
    window: Duration,
    now: OffsetDateTime,
) -> Result<bool> {
    let row = query::<D>(TAKE_RATE_LIMIT)
        .bind(key)
        .bind(ms(now))
        .bind(ms(now + window))
        .bind(i64::from(limit))
        .fetch_optional(&s.writer)
        .await
        .map_err(backend)?;
    Ok(row.is_some())
}
