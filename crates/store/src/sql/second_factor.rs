//! The per-user second-factor failure counter: one conditional upsert (shared
//! with the other backend in `guards_sql.rs`) reserves an attempt, or refuses it while the
//! user is locked, before any code is checked. A lock window that would pass `max_lock_ms`
//! becomes a lock until an administrator resets the user's methods (`locked_until` =
//! [`UNTIL_RESET`]).

use super::codec::*;
use super::{IdentityDb, IdentityDialect};
use crate::guards_sql::{RESERVE_SECOND_FACTOR, SECOND_FACTOR_LOCKED_UNTIL};
use crate::{Result, SecondFactorLimits, SecondFactorReservation, UNTIL_RESET};
use mailward_sql::query;
use mailward_types::clock::from_millis;
use time::OffsetDateTime;
use uuid::Uuid;

pub(super) async fn reserve_second_factor<D: IdentityDialect>(
    s: &IdentityDb<D>,
    user_id: Uuid,
    now: OffsetDateTime,
    limits: SecondFactorLimits,
) -> Result<SecondFactorReservation> {
    let reserved = query::<D>(RESERVE_SECOND_FACTOR)
        .bind(id(user_id))
        .bind(ms(now))
        .bind(i64::from(limits.threshold.max(2)))
        .bind(limits.first_lock_ms)
        .bind(limits.max_lock_ms)
        .bind(UNTIL_RESET)
        .fetch_optional(&s.writer)
        .await
        .map_err(backend)?;
    if reserved.is_some() {
        return Ok(SecondFactorReservation::Allowed);
    }
    // Locked: when it ends is only for the page; the refusal above is what counts.
    let until: i64 = query::<D>(SECOND_FACTOR_LOCKED_UNTIL)
        .bind(id(user_id))
        .fetch_optional(&s.writer)
        .await
        .map_err(backend)?
        .map(|r| r.get::<i64>("locked_until"))
        .transpose()
        .map_err(backend)?
        .unwrap_or(0);
    Ok(if until >= UNTIL_RESET {
        SecondFactorReservation::LockedUntilReset
    } else {
        SecondFactorReservation::Locked {
            until: if until > 0 { from_millis(until) } else { now },
        }
    })
}

pub(super) async fn clear_second_factor_failures<D: IdentityDialect>(
    s: &IdentityDb<D>,
    user_id: Uuid,
) -> Result<()> {
    query::<D>("DELETE FROM second_factor_failures WHERE user_id = $1")
        .bind(id(user_id))
        .execute(&s.writer)
        .await
        .map_err(backend)?;
    Ok(())
}
