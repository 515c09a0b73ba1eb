//! The key rotation plan: a pure function of the stored keys, the configured algorithms,
//! the policy and `now`, returning the actions for the caller to persist.
//!
//! Policy:
//! - Each configured algorithm has exactly one signing key: the newest key that is active
//!   (`active_from <= now`) and not retired. Any other active, unretired key of that
//!   algorithm is retired.
//! - When the signing key is older than `rotate_after`, the plan holds a
//!   [`RotationAction::Generate`] for the algorithm followed by a [`RotationAction::Retire`]
//!   of the old key, both at `now`. The new key signs at once and is published at once; the
//!   old key stops signing and stays published. If a newer key is already waiting
//!   (`active_from > now`), the old key keeps signing until that key takes over.
//! - A retired key stays published for `publish_after_retire` (`expires_at = retired_at +
//!   publish_after_retire`), then the plan deletes it. A retired key without `expires_at` is
//!   given one.
//! - Unretired keys of algorithms that are no longer configured are retired.
//!
//! `publish_after_retire` must cover the longest token lifetime plus the longest time an
//! instance may keep signing with a key set built before the retirement (its reload
//! interval); otherwise a token can outlive the key that verifies it.

use std::cmp::Ordering;

use mailward_types::model::TokenAlg;
use mailward_types::records::SigningKey;
use time::{Duration, OffsetDateTime};

/// How often keys rotate and how long retired keys stay published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RotationPolicy {
    /// A signing key older than this (since `active_from`) is replaced.
    pub rotate_after: Duration,
    /// A retired key stays in JWKS this long; at least the longest token lifetime.
    pub publish_after_retire: Duration,
}

/// One change to the stored keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RotationAction {
    /// Generate a key for this algorithm with [`crate::keys::generate`] at the same `now`
    /// and store it; it becomes the signer immediately.
    Generate(TokenAlg),
    /// Set `retired_at = at` and `expires_at` on the key.
    Retire {
        kid: String,
        at: OffsetDateTime,
        expires_at: OffsetDateTime,
    },
    /// Delete the key: it has expired and no live token can need it.
    Delete { kid: String },
}

/// Plans rotation for `keys` (all stored keys) so that each algorithm in `algs` has one
/// fresh signing key. Actions come in this order: deletions, expiries for retired keys,
/// then per algorithm (in the order of `algs`) generation and retirements, then
/// retirements for algorithms no longer configured. Applying the actions and planning again
/// at the same `now` yields no actions.
pub fn plan_rotation(
    keys: &[SigningKey],
    algs: &[TokenAlg],
    policy: &RotationPolicy,
    now: OffsetDateTime,
) -> Vec<RotationAction> {
    let mut actions = Vec::new();
    let retire = |key: &SigningKey| RotationAction::Retire {
        kid: key.kid.clone(),
        at: now,
        expires_at: now + policy.publish_after_retire,
    };

    let (expired, live): (Vec<&SigningKey>, Vec<&SigningKey>) = keys
        .iter()
        .partition(|k| k.expires_at.is_some_and(|e| e <= now));
    for key in expired {
        actions.push(RotationAction::Delete {
            kid: key.kid.clone(),
        });
    }

    for key in &live {
        if let (Some(at), None) = (key.retired_at, key.expires_at) {
            actions.push(RotationAction::Retire {
                kid: key.kid.clone(),
                at,
                expires_at: at + policy.publish_after_retire,
            });
        }
    }

    let mut planned: Vec<TokenAlg> = Vec::with_capacity(algs.len());
    for &alg in algs {
        if planned.contains(&alg) {
            continue;
        }
        planned.push(alg);

        let mut unretired: Vec<&SigningKey> = live
            .iter()
            .copied()
            .filter(|k| k.alg == alg && k.retired_at.is_none())
            .collect();
        unretired.sort_by(|a, b| signing_order(a, b));
        let (active, waiting): (Vec<&SigningKey>, Vec<&SigningKey>) =
            unretired.into_iter().partition(|k| k.active_from <= now);

        match active.split_last() {
            None => actions.push(RotationAction::Generate(alg)),
            Some((current, older)) => {
                actions.extend(older.iter().map(|k| retire(k)));
                let due = now - current.active_from >= policy.rotate_after;
                if due && waiting.is_empty() {
                    actions.push(RotationAction::Generate(alg));
                    actions.push(retire(current));
                }
            }
        }
    }

    for key in &live {
        if key.retired_at.is_none() && !algs.contains(&key.alg) {
            actions.push(retire(key));
        }
    }
    actions
}

/// Orders keys of one algorithm so that the one that signs comes last: by `active_from`,
/// then `created_at`, then `kid`. [`crate::keyset::KeySet`] picks its signer the same way.
pub(crate) fn signing_order(a: &SigningKey, b: &SigningKey) -> Ordering {
    (a.active_from, a.created_at, &a.kid).cmp(&(b.active_from, b.created_at, &b.kid))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-01-01 00:00 UTC);

    fn policy() -> RotationPolicy {
        RotationPolicy {
            rotate_after: Duration::days(30),
            publish_after_retire: Duration::days(2),
        }
    }

    fn key(kid: &str, alg: TokenAlg, active_days: i64) -> SigningKey {
        let at = T0 + Duration::days(active_days);
        SigningKey {
            kid: kid.to_string(),
            alg,
            sealed_private_key: Vec::new(),
            public_jwk: String::new(),
            created_at: at,
            active_from: at,
            retired_at: None,
            expires_at: None,
        }
    }

    fn retired(mut k: SigningKey, at_days: i64, expires_days: Option<i64>) -> SigningKey {
        k.retired_at = Some(T0 + Duration::days(at_days));
        k.expires_at = expires_days.map(|d| T0 + Duration::days(d));
        k
    }

    fn plan(keys: &[SigningKey], algs: &[TokenAlg], now_days: i64) -> Vec<RotationAction> {
        plan_rotation(keys, algs, &policy(), T0 + Duration::days(now_days))
    }

    fn retire_at(kid: &str, now_days: i64) -> RotationAction {
        RotationAction::Retire {
            kid: kid.to_string(),
            at: T0 + Duration::days(now_days),
            expires_at: T0 + Duration::days(now_days + 2),
        }
    }

    fn delete(kid: &str) -> RotationAction {
        RotationAction::Delete {
            kid: kid.to_string(),
        }
    }

    use RotationAction::Generate;
    use TokenAlg::{ES256, RS256};

    /// Applies a plan the way a caller would (generated keys get kid "new-<alg>").
    fn apply(keys: &mut Vec<SigningKey>, actions: &[RotationAction], now_days: i64) {
        for action in actions {
            match action {
                Generate(alg) => keys.push(key(&format!("new-{}", alg.as_str()), *alg, now_days)),
                RotationAction::Retire {
                    kid,
                    at,
                    expires_at,
                } => {
                    let k = keys.iter_mut().find(|k| &k.kid == kid).unwrap();
                    k.retired_at = Some(*at);
                    k.expires_at = Some(*expires_at);
                }
                RotationAction::Delete { kid } => keys.retain(|k| &k.kid != kid),
            }
        }
    }

    #[test]
    fn empty_store_generates_each_alg_once() {
        assert_eq!(
            plan(&[], &[ES256, RS256, ES256], 0),
            [Generate(ES256), Generate(RS256)]
        );
        assert_eq!(plan(&[], &[], 0), []);
    }

    #[test]
    fn fresh_key_needs_nothing() {
        let keys = [key("a", ES256, 0)];
        assert_eq!(plan(&keys, &[ES256], 0), []);
        assert_eq!(plan(&keys, &[ES256], 29), []);
    }

    #[test]
    fn old_key_is_replaced_then_retired() {
        let keys = [key("a", ES256, 0)];
        assert_eq!(
            plan(&keys, &[ES256], 30),
            [Generate(ES256), retire_at("a", 30)]
        );
        assert_eq!(
            plan(&keys, &[ES256], 100),
            [Generate(ES256), retire_at("a", 100)]
        );
    }

    #[test]
    fn waiting_newer_key_defers_rotation() {
        let keys = [key("a", ES256, 0), key("b", ES256, 40)];
        // "b" is not active yet: "a" keeps signing.
        assert_eq!(plan(&keys, &[ES256], 35), []);
        // Once "b" is active, "a" is an older active key and is retired.
        assert_eq!(plan(&keys, &[ES256], 40), [retire_at("a", 40)]);
    }

    #[test]
    fn only_waiting_keys_means_generate() {
        let keys = [key("b", ES256, 10)];
        assert_eq!(plan(&keys, &[ES256], 5), [Generate(ES256)]);
    }

    #[test]
    fn extra_active_keys_are_retired_newest_kept() {
        let keys = [key("b", ES256, 2), key("a", ES256, 1), key("c", ES256, 3)];
        assert_eq!(
            plan(&keys, &[ES256], 5),
            [retire_at("a", 5), retire_at("b", 5)]
        );
    }

    #[test]
    fn ties_on_time_break_on_kid() {
        let keys = [key("y", ES256, 1), key("x", ES256, 1)];
        assert_eq!(plan(&keys, &[ES256], 5), [retire_at("x", 5)]);
    }

    #[test]
    fn retired_keys_expire_and_are_deleted() {
        let keys = [
            key("new", ES256, 30),
            retired(key("old", ES256, 0), 30, Some(32)),
        ];
        assert_eq!(plan(&keys, &[ES256], 31), []);
        assert_eq!(plan(&keys, &[ES256], 32), [delete("old")]);
    }

    #[test]
    fn retired_without_expiry_gets_one() {
        let keys = [
            key("new", ES256, 30),
            retired(key("old", ES256, 0), 31, None),
        ];
        assert_eq!(
            plan(&keys, &[ES256], 33),
            [RotationAction::Retire {
                kid: "old".to_string(),
                at: T0 + Duration::days(31),
                expires_at: T0 + Duration::days(33),
            }]
        );
    }

    #[test]
    fn retired_key_is_not_a_signer() {
        // The only key is retired: a new one is needed.
        let keys = [retired(key("old", ES256, 0), 3, Some(5))];
        assert_eq!(plan(&keys, &[ES256], 4), [Generate(ES256)]);
    }

    #[test]
    fn unconfigured_algs_are_retired() {
        let keys = [key("e", ES256, 0), key("r", RS256, 0)];
        assert_eq!(plan(&keys, &[ES256], 1), [retire_at("r", 1)]);
    }

    #[test]
    fn algs_are_independent() {
        let keys = [key("e", ES256, 0), key("r", RS256, 20)];
        assert_eq!(
            plan(&keys, &[RS256, ES256], 30),
            [Generate(ES256), retire_at("e", 30)]
        );
    }

    #[test]
    fn plans_converge_over_a_year() {
        let algs = [ES256, RS256];
        let mut keys = Vec::new();
        for day in 0..365 {
            let actions = plan(&keys, &algs, day);
            apply(&mut keys, &actions, day);
            for k in &mut keys {
                // Give generated keys unique names so later lookups stay unambiguous.
                if k.kid.starts_with("new-") {
                    k.kid = format!("{}-{day}", k.alg.as_str());
                }
            }
            assert_eq!(plan(&keys, &algs, day), [], "day {day}");
            for alg in algs {
                let now = T0 + Duration::days(day);
                let signers = keys
                    .iter()
                    .filter(|k| k.alg == alg && k.active_from <= now && k.retired_at.is_none())
                    .count();
                assert_eq!(signers, 1, "day {day}");
            }
            // At most the signer and one retired predecessor per alg stay published.
            assert!(keys.len() <= 4, "day {day}: {}", keys.len());
        }
    }
}
