//! The per-user second-factor failure counter in PostgreSQL: one conditional upsert (shared
//! with the other backend in `guards_sql.rs`) reserves an attempt, or refuses it while the
//! user is locked, before any code is checked. A lock window that would pass `max_lock_ms`
//! becomes a lock until an administrator resets the user's methods (`locked_until` =
//! [`UNTIL_RESET`]).

use super::PgStore;
use super::codec::*;
use crate::guards_sql::{RESERVE_SECOND_FACTOR, SECOND_FACTOR_LOCKED_UNTIL};
use crate::{Result, SecondFactorLimits, SecondFactorReservation, UNTIL_RESET};
use mailward_types::clock::from_millis;
use sqlx::Row;
use time::OffsetDateTime;
use uuid::Uuid;

pub(super) async fn reserve_second_factor(
    s: &PgStore,
    user_id: Uuid,
    now: OffsetDateTime,
    limits: SecondFactorLimits,
) -> Result<SecondFactorReservation> {
    let reserved = sqlx::query(RESERVE_SECOND_FACTOR)
        .bind(id(user_id))
        .bind(ms(now))
        .bind(i64::from(limits.threshold.max(2)))
        .bind(limits.first_lock_ms)
        .bind(limits.max_lock_ms)
        .bind(UNTIL_RESET)
        .fetch_optional(&s.pool)
        .await
        .map_err(backend)?;
    if reserved.is_some() {
        return Ok(SecondFactorReservation::Allowed);
    }
    // Locked: when it ends is only for the page; the refusal above is what counts.
    let until: i64 = sqlx::query(SECOND_FACTOR_LOCKED_UNTIL)
        .bind(id(user_id))
        .fetch_optional(&s.pool)
        .await
        .map_err(backend)?
        .map(|r| r.try_get::<i64, _>(0))
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

pub(super) async fn clear_second_factor_failures(s: &PgStore, user_id: Uuid) -> Result<()> {
    sqlx::query("DELETE FROM second_factor_failures WHERE user_id = $1")
        .bind(id(user_id))
        .execute(&s.pool)
        .await
        .map_err(backend)?;
    Ok(())
}
