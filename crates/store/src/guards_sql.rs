//! The statements of the guards against guessing and flooding, written once for both
//! backends (the SQL is portable: `$n` placeholders, millisecond integer timestamps, and
//! `INSERT … ON CONFLICT … DO UPDATE … WHERE … RETURNING`, which SQLite and PostgreSQL both
//! evaluate atomically against the latest row).
//!
//! Each reservation is ONE conditional statement: it either takes a slot and returns a row,
//! or changes nothing and returns none. Two requests (or two nodes) can therefore never both
//! take the last slot.

/// Reserves one password attempt on a lockout counter. Parameters: `$1` user id, `$2`
/// location class, `$3` now, `$4` threshold, `$5` failures at or before this instant are
/// forgotten (now − failure window), `$6` reservations at or before this instant are stale
/// (now − reservation lifetime).
///
/// Refused while the counter is locked, or while the failures still counted plus the
/// attempts in flight have reached the threshold. A stale count of attempts in flight (left
/// by a process that died between reserving and settling) starts afresh.
pub(crate) const RESERVE_PASSWORD_ATTEMPT: &str = "
INSERT INTO lockout (user_id, location_class, failures, locked_until, lockouts, recent_bad,
                     last_failure_at, pending, pending_at)
VALUES ($1, $2, 0, NULL, 0, '[]', NULL, 1, $3)
ON CONFLICT (user_id, location_class) DO UPDATE SET
    pending = CASE WHEN lockout.pending_at IS NULL OR lockout.pending_at <= $6 THEN 1
                   ELSE lockout.pending + 1 END,
    pending_at = $3
WHERE (lockout.locked_until IS NULL OR lockout.locked_until <= $3)
  AND (CASE WHEN lockout.last_failure_at IS NULL OR lockout.last_failure_at < $5 THEN 0
            ELSE lockout.failures END)
    + (CASE WHEN lockout.pending_at IS NULL OR lockout.pending_at <= $6 THEN 0
            ELSE lockout.pending END) < $4
RETURNING pending";

/// The counter as the settling transaction reads it.
pub(crate) const SELECT_LOCKOUT: &str = "
SELECT failures, locked_until, lockouts, recent_bad, last_failure_at
FROM lockout WHERE user_id = $1 AND location_class = $2";

/// Writes the settled counter and gives one reserved slot back.
pub(crate) const SETTLE_PASSWORD_ATTEMPT: &str = "
INSERT INTO lockout (user_id, location_class, failures, locked_until, lockouts, recent_bad,
                     last_failure_at, pending, pending_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, 0, NULL)
ON CONFLICT (user_id, location_class) DO UPDATE SET
    failures = excluded.failures, locked_until = excluded.locked_until,
    lockouts = excluded.lockouts, recent_bad = excluded.recent_bad,
    last_failure_at = excluded.last_failure_at,
    pending = CASE WHEN lockout.pending > 0 THEN lockout.pending - 1 ELSE 0 END";

/// Counts one submission of a user code and returns the record with the attempt number.
/// Parameters: `$1` user code hash.
pub(crate) const DEVICE_CODE_ATTEMPT: &str = concat!(
    "UPDATE device_codes SET attempts = attempts + 1 WHERE user_code_hash = $1 RETURNING attempts, ",
    crate::columns::device_code_cols!()
);

/// Takes one unit from a fixed-window counter. Parameters: `$1` key, `$2` now, `$3` end of
/// a window starting now, `$4` limit. Nothing is written when the limit is reached.
pub(crate) const TAKE_RATE_LIMIT: &str = "
INSERT INTO rate_limits (key, taken, expires_at) VALUES ($1, 1, $3)
ON CONFLICT (key) DO UPDATE SET
    taken = CASE WHEN rate_limits.expires_at <= $2 THEN 1 ELSE rate_limits.taken + 1 END,
    expires_at = CASE WHEN rate_limits.expires_at <= $2 THEN $3 ELSE rate_limits.expires_at END
WHERE rate_limits.expires_at <= $2 OR rate_limits.taken < $4
RETURNING taken";

/// Reserves one second-factor attempt for a user. Parameters: `$1` user id, `$2` now, `$3`
/// threshold (at least 2), `$4` first lock window, `$5` longest lock window (ms), `$6` the
/// `locked_until` of a lock only `reset_mfa` ends.
///
/// Refused (no row) while the user is locked; otherwise the attempt counts as a failure at
/// once, and the one that reaches the threshold starts the next lock window (doubling; past
/// the longest, until a reset).
pub(crate) const RESERVE_SECOND_FACTOR: &str = "
INSERT INTO second_factor_failures (user_id, failures, lock_ms, locked_until)
VALUES ($1, 1, 0, 0)
ON CONFLICT (user_id) DO UPDATE SET
    failures = CASE WHEN second_factor_failures.failures + 1 >= $3 THEN 0
                    ELSE second_factor_failures.failures + 1 END,
    lock_ms = CASE WHEN second_factor_failures.failures + 1 < $3
                       THEN second_factor_failures.lock_ms
                   WHEN second_factor_failures.lock_ms = 0 THEN $4
                   WHEN second_factor_failures.lock_ms * 2 > $5 THEN $5
                   ELSE second_factor_failures.lock_ms * 2 END,
    locked_until = CASE WHEN second_factor_failures.failures + 1 < $3
                            THEN second_factor_failures.locked_until
                        WHEN second_factor_failures.lock_ms = 0 THEN $2 + $4
                        WHEN second_factor_failures.lock_ms * 2 > $5 THEN $6
                        ELSE $2 + second_factor_failures.lock_ms * 2 END
WHERE second_factor_failures.locked_until <= $2
RETURNING locked_until";

/// The end of a user's current second-factor lock.
pub(crate) const SECOND_FACTOR_LOCKED_UNTIL: &str =
    "SELECT locked_until FROM second_factor_failures WHERE user_id = $1";
