//! Key rotation end to end: plan, apply, rebuild the key set, and check which tokens verify
//! and which keys are published over time.

mod common;

use common::*;
use mailward_tokens::{
    JwksVerifier, KeySet, RotationAction, RotationPolicy, generate, peek_kid, plan_rotation,
};
use mailward_types::model::TokenAlg;
use mailward_types::records::SigningKey;
use serde::Serialize;
use time::{Duration, OffsetDateTime};

/// Applies a plan the way the identity role does.
fn apply(keys: &mut Vec<SigningKey>, actions: &[RotationAction], now: OffsetDateTime) {
    let sealer = &fixture().sealer;
    for action in actions {
        match action {
            RotationAction::Generate(alg) => {
                keys.push(generate(*alg, sealer, now).expect("generate"))
            }
            RotationAction::Retire {
                kid,
                at,
                expires_at,
            } => {
                let key = keys
                    .iter_mut()
                    .find(|k| &k.kid == kid)
                    .expect("planned kid exists");
                key.retired_at = Some(*at);
                key.expires_at = Some(*expires_at);
            }
            RotationAction::Delete { kid } => keys.retain(|k| &k.kid != kid),
        }
    }
}

fn kids(ks: &KeySet) -> Vec<String> {
    let mut kids: Vec<String> = ks.jwks()["keys"]
        .as_array()
        .expect("keys array")
        .iter()
        .map(|k| k["kid"].as_str().expect("kid").to_string())
        .collect();
    kids.sort();
    kids
}

#[derive(Serialize)]
struct Short {
    iss: &'static str,
    aud: &'static str,
    exp: i64,
}

/// A token valid for `lifetime` from `now`.
fn token(ks: &KeySet, now: OffsetDateTime, lifetime: Duration) -> String {
    let claims = Short {
        iss: ISSUER,
        aud: AUDIENCE,
        exp: (now + lifetime).unix_timestamp(),
    };
    ks.sign(TokenAlg::ES256, "at+jwt", &claims).expect("sign")
}

#[test]
fn tokens_survive_rotation_until_the_old_key_expires() {
    let policy = RotationPolicy {
        rotate_after: Duration::days(1),
        publish_after_retire: Duration::hours(2),
    };
    let lifetime = Duration::hours(1);
    let sealer = &fixture().sealer;
    let algs = [TokenAlg::ES256];
    let mut keys = Vec::new();

    // Day 0: the first key.
    let plan = plan_rotation(&keys, &algs, &policy, T0);
    assert_eq!(plan, [RotationAction::Generate(TokenAlg::ES256)]);
    apply(&mut keys, &plan, T0);
    let old_kid = keys[0].kid.clone();

    // Just before rotation, a token is issued with the old key.
    let t1 = T0 + Duration::days(1);
    let before = t1 - minutes(1);
    assert!(plan_rotation(&keys, &algs, &policy, before).is_empty());
    let ks = KeySet::from_records(&keys, sealer, before).unwrap();
    let old_token = token(&ks, before, lifetime);
    assert_eq!(peek_kid(&old_token).as_deref(), Some(old_kid.as_str()));

    // Rotation: a new key, the old one retired; applying it again changes nothing.
    let plan = plan_rotation(&keys, &algs, &policy, t1);
    assert_eq!(plan.len(), 2);
    assert_eq!(plan[0], RotationAction::Generate(TokenAlg::ES256));
    assert_eq!(
        plan[1],
        RotationAction::Retire {
            kid: old_kid.clone(),
            at: t1,
            expires_at: t1 + Duration::hours(2),
        }
    );
    apply(&mut keys, &plan, t1);
    assert!(plan_rotation(&keys, &algs, &policy, t1).is_empty());
    let new_kid = keys[1].kid.clone();

    // The new key signs at once; both keys are published; the old token still verifies,
    // with the key set and with a resource server's copy of the JWKS.
    let ks = KeySet::from_records(&keys, sealer, t1).unwrap();
    assert_eq!(ks.signing_kid(TokenAlg::ES256), Some(new_kid.as_str()));
    let mut both = vec![old_kid.clone(), new_kid.clone()];
    both.sort();
    assert_eq!(kids(&ks), both);
    let new_token = token(&ks, t1, lifetime);
    assert_eq!(peek_kid(&new_token).as_deref(), Some(new_kid.as_str()));
    let remote = JwksVerifier::from_jwks(&ks.jwks()).unwrap();
    for at in [t1, t1 + minutes(30), before + lifetime - minutes(1)] {
        assert!(ks.verify(&old_token, &expect(), at).is_ok());
        assert!(remote.verify(&old_token, &expect(), at).is_ok());
        assert!(ks.verify(&new_token, &expect(), at).is_ok());
    }

    // A resource server that cached the JWKS from before the rotation sees an unknown kid
    // and knows to refresh.
    let stale = JwksVerifier::from_jwks(
        &KeySet::from_records(&keys[..1], sealer, before)
            .unwrap()
            .jwks(),
    )
    .unwrap();
    assert!(!stale.has_kid(peek_kid(&new_token).as_deref().unwrap()));

    // After the retirement window the old key is gone from JWKS; its tokens no longer verify
    // even with a generous leeway.
    let t2 = t1 + Duration::hours(2);
    let ks = KeySet::from_records(&keys, sealer, t2).unwrap();
    assert_eq!(kids(&ks), std::slice::from_ref(&new_kid));
    let lenient = mailward_tokens::Expect {
        leeway_secs: 86_400,
        ..expect()
    };
    let err = ks.verify(&old_token, &lenient, t2).unwrap_err();
    assert_eq!(err.code(), "token_unknown_key");
    assert!(ks.verify(&new_token, &lenient, t2).is_ok());

    // The next plan deletes it.
    let plan = plan_rotation(&keys, &algs, &policy, t2);
    assert_eq!(plan, [RotationAction::Delete { kid: old_kid }]);
    apply(&mut keys, &plan, t2);
    assert_eq!(keys.len(), 1);
}

#[test]
fn rotating_one_algorithm_leaves_the_other_signing() {
    let policy = RotationPolicy {
        rotate_after: Duration::days(30),
        publish_after_retire: Duration::days(1),
    };
    let f = fixture();
    let mut rs = f.rs_a.clone();
    rs.active_from = T0 - Duration::days(31);
    let mut keys = vec![f.es_a.clone(), rs.clone()];
    let plan = plan_rotation(&keys, &[TokenAlg::ES256, TokenAlg::RS256], &policy, T0);
    assert_eq!(plan[0], RotationAction::Generate(TokenAlg::RS256));
    assert!(matches!(&plan[1], RotationAction::Retire { kid, .. } if *kid == rs.kid));
    apply(&mut keys, &plan, T0);
    let ks = KeySet::from_records(&keys, &f.sealer, T0).unwrap();
    assert_eq!(ks.signing_kid(TokenAlg::ES256), Some(f.es_a.kid.as_str()));
    let rs_signer = ks.signing_kid(TokenAlg::RS256).unwrap();
    assert_ne!(rs_signer, rs.kid);
    assert_eq!(ks.jwks()["keys"].as_array().unwrap().len(), 3);
}
