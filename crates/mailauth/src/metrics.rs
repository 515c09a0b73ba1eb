//! Counters of the authentication pipeline: attempts by protocol and mechanism, attempts
//! refused by an authentication policy, password verifications handed to the credential
//! check, token signature checks, token-cache hits and JWKS fetches. Plain atomics; a
//! [`MetricsSnapshot`] copies them out and renders the Prometheus text format.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use mailward_authpolicy::Protocol;

/// The protocols counted separately; everything else is `other`.
pub const PROTOCOL_LABELS: [&str; 5] = ["imap", "pop", "smtp", "rest", "other"];
/// Mechanism labels: `basic` (any password method), `xoauth2`, `oauthbearer`.
pub const MECHANISM_LABELS: [&str; 3] = ["basic", "xoauth2", "oauthbearer"];

pub(crate) fn protocol_index(p: Protocol) -> usize {
    match p {
        Protocol::Imap => 0,
        Protocol::Pop => 1,
        Protocol::Smtp => 2,
        Protocol::Rest => 3,
        _ => 4,
    }
}

/// The live counters.
#[derive(Debug, Default)]
pub struct Metrics {
    attempts: [[AtomicU64; 3]; 5],
    pub(crate) successes: AtomicU64,
    pub(crate) failures: AtomicU64,
    pub(crate) unavailable: AtomicU64,
    pub(crate) blocked_by_policy: AtomicU64,
    pub(crate) password_checks: AtomicU64,
    pub(crate) token_cache_hits: AtomicU64,
    pub(crate) revoked: AtomicU64,
}

impl Metrics {
    pub(crate) fn attempt(&self, protocol: Protocol, mechanism: usize) {
        self.attempts[protocol_index(protocol)][mechanism].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self, signature_checks: u64, jwks_fetches: u64) -> MetricsSnapshot {
        let mut attempts = [[0u64; 3]; 5];
        for (row, counters) in attempts.iter_mut().zip(&self.attempts) {
            for (cell, counter) in row.iter_mut().zip(counters) {
                *cell = counter.load(Ordering::Relaxed);
            }
        }
        MetricsSnapshot {
            attempts,
            successes: self.successes.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
            unavailable: self.unavailable.load(Ordering::Relaxed),
            blocked_by_policy: self.blocked_by_policy.load(Ordering::Relaxed),
            password_checks: self.password_checks.load(Ordering::Relaxed),
            signature_checks,
            token_cache_hits: self.token_cache_hits.load(Ordering::Relaxed),
            jwks_fetches,
            revoked: self.revoked.load(Ordering::Relaxed),
        }
    }
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MetricsSnapshot {
    /// `[protocol][mechanism]`, indexed as [`PROTOCOL_LABELS`] × [`MECHANISM_LABELS`].
    pub attempts: [[u64; 3]; 5],
    pub successes: u64,
    /// Refused attempts (bad credentials, rejected tokens, blocked by policy).
    pub failures: u64,
    /// Attempts that failed because identity or the key set could not be reached.
    pub unavailable: u64,
    /// Basic attempts refused by an authentication policy before any password check.
    pub blocked_by_policy: u64,
    /// Calls to the credential check (each one a password verification at identity).
    pub password_checks: u64,
    /// JWT signature verifications.
    pub signature_checks: u64,
    /// Bearer attempts answered from the verified-token cache.
    pub token_cache_hits: u64,
    /// JWKS documents fetched from identity.
    pub jwks_fetches: u64,
    /// Bearer tokens refused because identity revoked their user's access.
    pub revoked: u64,
}

impl MetricsSnapshot {
    /// Attempts for one protocol and mechanism label (`"basic"`, `"xoauth2"`,
    /// `"oauthbearer"`).
    pub fn attempts_for(&self, protocol: Protocol, mechanism: &str) -> u64 {
        MECHANISM_LABELS
            .iter()
            .position(|m| *m == mechanism)
            .map_or(0, |m| self.attempts[protocol_index(protocol)][m])
    }

    /// The Prometheus text exposition format (version 0.0.4).
    pub fn render_prometheus(&self) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP mailward_mail_auth_attempts_total Authentication attempts by protocol and mechanism.\n\
             # TYPE mailward_mail_auth_attempts_total counter\n",
        );
        for (p, row) in PROTOCOL_LABELS.iter().zip(&self.attempts) {
            for (m, value) in MECHANISM_LABELS.iter().zip(row) {
                let _ = writeln!(
                    out,
                    "mailward_mail_auth_attempts_total{{protocol=\"{p}\",mechanism=\"{m}\"}} {value}"
                );
            }
        }
        let singles: [(&str, &str, u64); 9] = [
            (
                "mailward_mail_auth_success_total",
                "Successful authentications.",
                self.successes,
            ),
            (
                "mailward_mail_auth_failure_total",
                "Refused authentications.",
                self.failures,
            ),
            (
                "mailward_mail_auth_unavailable_total",
                "Authentications that failed because a peer was unreachable.",
                self.unavailable,
            ),
            (
                "mailward_mail_auth_blocked_by_policy_total",
                "Basic authentication refused by an authentication policy.",
                self.blocked_by_policy,
            ),
            (
                "mailward_mail_auth_password_checks_total",
                "Password verifications requested from identity.",
                self.password_checks,
            ),
            (
                "mailward_mail_auth_token_signature_checks_total",
                "JWT signature verifications.",
                self.signature_checks,
            ),
            (
                "mailward_mail_auth_token_cache_hits_total",
                "Bearer tokens answered from the verified-token cache.",
                self.token_cache_hits,
            ),
            (
                "mailward_mail_auth_jwks_fetches_total",
                "JWKS documents fetched from identity.",
                self.jwks_fetches,
            ),
            (
                "mailward_mail_auth_revoked_total",
                "Bearer tokens refused because identity revoked the user's access.",
                self.revoked,
            ),
        ];
        for (name, help, value) in singles {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        }
        out
    }
}
