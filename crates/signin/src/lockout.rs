//! Smart lockout: separate counters for familiar locations (IPs of the user's recent
//! successful sign-ins) and unfamiliar ones, so an attacker elsewhere cannot lock the user
//! out of their usual places. The lock is checked before any password is verified; a wrong
//! password repeated does not count again; each lockout lasts longer than the last.
//!
//! Every attempt first reserves a slot on its counter in the store (one conditional
//! statement: refused while locked, or while the failures still counted plus the attempts
//! in flight have reached the threshold), so a parallel burst gets at most `threshold`
//! passwords checked per lockout, however many requests or nodes it is spread over. The
//! reservation is then settled: [`on_failure`] for a new wrong password, [`on_success`]
//! after the right one, and unchanged (slot given back) for a repeated wrong password or a
//! check that could not be made.

use mailward_types::records::{LocationClass, LockoutState};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::net::IpAddr;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// Lockout settings (`[identity.lockout]` in the config).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LockoutConfig {
    /// Failed attempts (distinct wrong passwords) before a lockout.
    pub threshold: u32,
    /// First lockout duration in seconds.
    pub duration_secs: i64,
    /// Each further lockout lasts this many times longer...
    pub growth_factor: u32,
    /// ...up to this many seconds.
    pub max_duration_secs: i64,
    /// How many recent successful sign-in IPs count as familiar.
    pub familiar_locations: u32,
    /// How many recent wrong passwords are remembered so repeating one does not count.
    pub remembered_bad_passwords: usize,
    /// Failures older than this are forgotten (seconds).
    pub failure_window_secs: i64,
}

impl Default for LockoutConfig {
    fn default() -> Self {
        Self {
            threshold: 10,
            duration_secs: 60,
            growth_factor: 2,
            max_duration_secs: 3600,
            familiar_locations: 20,
            remembered_bad_passwords: 3,
            failure_window_secs: 3600,
        }
    }
}

impl LockoutConfig {
    /// Problems with the values, each with its key name.
    pub fn validate(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.threshold == 0 {
            out.push("threshold: must be at least 1".to_string());
        }
        if self.duration_secs <= 0 {
            out.push("duration_secs: must be positive".to_string());
        }
        if self.growth_factor == 0 {
            out.push("growth_factor: must be at least 1".to_string());
        }
        if self.max_duration_secs < self.duration_secs {
            out.push("max_duration_secs: must be at least duration_secs".to_string());
        }
        if self.familiar_locations == 0 {
            out.push("familiar_locations: must be at least 1".to_string());
        }
        out
    }
}

/// How long a reserved attempt may stay unsettled before the store gives it back (the
/// process that reserved it died). Longer than any password check takes, queue included.
pub const RESERVATION_SECS: i64 = 60;

/// Which counter applies to a sign-in from `ip`.
pub fn classify(ip: Option<IpAddr>, familiar: &[IpAddr]) -> LocationClass {
    match ip {
        Some(ip) if familiar.contains(&ip) => LocationClass::Familiar,
        _ => LocationClass::Unfamiliar,
    }
}

/// `Some(until)` if the counter is locked at `now`.
pub fn locked_until(state: &LockoutState, now: OffsetDateTime) -> Option<OffsetDateTime> {
    state.locked_until.filter(|until| *until > now)
}

/// A keyed fingerprint of a wrong password: enough to recognise a repeat, useless to
/// recover it (the pepper is an instance secret; the user id salts it).
pub fn fingerprint(pepper: &[u8], user_id: Uuid, password: &str) -> String {
    let mut h = Sha256::new();
    h.update(pepper);
    h.update(user_id.as_bytes());
    h.update(password.as_bytes());
    hex::encode(&h.finalize()[..12])
}

/// What a failed attempt did to the counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureEffect {
    /// A repeat of a recently tried wrong password: not counted.
    Repeated,
    /// Counted; `remaining` attempts before a lockout.
    Counted { remaining: u32 },
    /// This failure locked the account until the given time.
    Locked { until: OffsetDateTime },
}

/// Applies a failed password attempt.
pub fn on_failure(
    mut state: LockoutState,
    fingerprint: &str,
    now: OffsetDateTime,
    cfg: &LockoutConfig,
) -> (LockoutState, FailureEffect) {
    if state
        .last_failure_at
        .is_some_and(|t| now - t > Duration::seconds(cfg.failure_window_secs))
    {
        state.failures = 0;
        state.recent_bad.clear();
    }
    if state.recent_bad.iter().any(|f| f == fingerprint) {
        return (state, FailureEffect::Repeated);
    }
    state.recent_bad.push(fingerprint.to_string());
    let keep = cfg.remembered_bad_passwords;
    if state.recent_bad.len() > keep {
        let excess = state.recent_bad.len() - keep;
        state.recent_bad.drain(..excess);
    }
    state.failures += 1;
    state.last_failure_at = Some(now);
    if state.failures >= cfg.threshold {
        state.lockouts += 1;
        let until = now + lockout_duration(state.lockouts, cfg);
        state.locked_until = Some(until);
        state.failures = 0;
        (state, FailureEffect::Locked { until })
    } else {
        let remaining = cfg.threshold - state.failures;
        (state, FailureEffect::Counted { remaining })
    }
}

/// Applies a successful sign-in: the counter starts afresh.
pub fn on_success(state: LockoutState) -> LockoutState {
    LockoutState {
        lockouts: state.lockouts.saturating_sub(1),
        ..LockoutState::default()
    }
}

/// Duration of the `n`-th lockout (1-based): `duration × growth^(n-1)`, capped.
pub fn lockout_duration(n: u32, cfg: &LockoutConfig) -> Duration {
    let mut secs = cfg.duration_secs;
    for _ in 1..n {
        secs = secs.saturating_mul(i64::from(cfg.growth_factor));
        if secs >= cfg.max_duration_secs {
            break;
        }
    }
    Duration::seconds(secs.min(cfg.max_duration_secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000 + s).unwrap()
    }

    #[test]
    fn locks_at_threshold_and_grows() {
        let cfg = LockoutConfig::default();
        let mut st = LockoutState::default();
        for i in 0..9 {
            let (s, eff) = on_failure(st, &format!("fp{i}"), t(i), &cfg);
            st = s;
            assert_eq!(
                eff,
                FailureEffect::Counted {
                    remaining: 9 - i as u32
                }
            );
        }
        let (s, eff) = on_failure(st, "fp9", t(9), &cfg);
        assert_eq!(eff, FailureEffect::Locked { until: t(69) });
        assert_eq!(locked_until(&s, t(10)), Some(t(69)));
        assert_eq!(locked_until(&s, t(69)), None);
        assert_eq!(lockout_duration(2, &cfg), Duration::seconds(120));
        assert_eq!(lockout_duration(3, &cfg), Duration::seconds(240));
        assert_eq!(lockout_duration(30, &cfg), Duration::seconds(3600));
    }

    #[test]
    fn repeated_password_does_not_count() {
        let cfg = LockoutConfig::default();
        let (st, _) = on_failure(LockoutState::default(), "same", t(0), &cfg);
        let (st, eff) = on_failure(st, "same", t(1), &cfg);
        assert_eq!(eff, FailureEffect::Repeated);
        assert_eq!(st.failures, 1);
    }

    #[test]
    fn remembers_only_recent_bad_passwords() {
        let cfg = LockoutConfig::default();
        let mut st = LockoutState::default();
        for fp in ["a", "b", "c", "d"] {
            st = on_failure(st, fp, t(0), &cfg).0;
        }
        assert_eq!(st.recent_bad, vec!["b", "c", "d"]);
        let (st, eff) = on_failure(st, "a", t(1), &cfg);
        assert!(matches!(eff, FailureEffect::Counted { .. }));
        assert_eq!(st.failures, 5);
    }

    #[test]
    fn old_failures_are_forgotten_and_success_resets() {
        let cfg = LockoutConfig::default();
        let (st, _) = on_failure(LockoutState::default(), "a", t(0), &cfg);
        let (st, _) = on_failure(st, "b", t(4000), &cfg);
        assert_eq!(st.failures, 1);
        assert_eq!(on_success(st).failures, 0);
    }

    #[test]
    fn classification() {
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        assert_eq!(classify(Some(a), &[a]), LocationClass::Familiar);
        assert_eq!(classify(Some(b), &[a]), LocationClass::Unfamiliar);
        assert_eq!(classify(None, &[a]), LocationClass::Unfamiliar);
    }

    #[test]
    fn fingerprints_differ_per_user_and_pepper() {
        let u1 = Uuid::from_u128(1);
        let u2 = Uuid::from_u128(2);
        assert_ne!(fingerprint(b"p", u1, "x"), fingerprint(b"p", u2, "x"));
        assert_ne!(fingerprint(b"p", u1, "x"), fingerprint(b"q", u1, "x"));
        assert_eq!(fingerprint(b"p", u1, "x"), fingerprint(b"p", u1, "x"));
    }
}
