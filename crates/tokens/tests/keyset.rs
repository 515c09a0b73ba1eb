//! Key generation, [`KeySet`] construction, signing, JWKS publication and the failure modes
//! of stored key records.

mod common;

use common::*;
use mailward_tokens::claims::{IdClaims, TYP_ACCESS_TOKEN, TYP_ID_TOKEN, VERSION, at_hash};
use mailward_tokens::{JwksVerifier, KeyError, KeySet, Sealer, peek_kid};
use mailward_types::Secret;
use mailward_types::model::TokenAlg;
use mailward_types::records::SigningKey;
use serde_json::{Value, json};

const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

fn jwk_of(key: &SigningKey) -> Value {
    serde_json::from_str(&key.public_jwk).expect("stored JWK is JSON")
}

fn member_names(jwk: &Value) -> Vec<String> {
    let mut names: Vec<String> = jwk
        .as_object()
        .expect("JWK is an object")
        .keys()
        .cloned()
        .collect();
    names.sort();
    names
}

#[test]
fn generated_records_have_the_documented_shape() {
    let f = fixture();
    for (key, alg) in [(&f.es_a, TokenAlg::ES256), (&f.rs_a, TokenAlg::RS256)] {
        assert_eq!(key.alg, alg);
        assert_eq!(key.created_at, T0);
        assert_eq!(key.active_from, T0);
        assert_eq!(key.retired_at, None);
        assert_eq!(key.expires_at, None);
        // 16 bytes of thumbprint, unpadded base64url.
        assert_eq!(key.kid.len(), 22);
        assert_eq!(unb64(&key.kid).len(), 16);

        let jwk = jwk_of(key);
        assert_eq!(jwk["kid"], key.kid.as_str());
        assert_eq!(jwk["alg"], alg.as_str());
        assert_eq!(jwk["use"], "sig");
        for private in PRIVATE_MEMBERS {
            assert!(jwk.get(private).is_none(), "{private} in {jwk}");
        }
        // The sealed private key is PKCS#8 and never appears in the clear.
        let pkcs8 = private_pkcs8(key);
        assert!(
            !key.sealed_private_key
                .windows(16)
                .any(|w| w == &pkcs8[40..56])
        );
    }
    let es = jwk_of(&f.es_a);
    assert_eq!(
        member_names(&es),
        ["alg", "crv", "kid", "kty", "use", "x", "y"]
    );
    assert_eq!(es["kty"], "EC");
    assert_eq!(es["crv"], "P-256");
    assert_eq!(unb64(es["x"].as_str().unwrap()).len(), 32);
    assert_eq!(unb64(es["y"].as_str().unwrap()).len(), 32);

    let rs = jwk_of(&f.rs_a);
    assert_eq!(member_names(&rs), ["alg", "e", "kid", "kty", "n", "use"]);
    assert_eq!(rs["kty"], "RSA");
    assert_eq!(rs["e"], "AQAB");
    assert_eq!(unb64(rs["n"].as_str().unwrap()).len(), 256);

    assert_ne!(f.es_a.kid, f.es_b.kid);
    assert_ne!(f.rs_a.kid, f.rs_b.kid);
}

#[test]
fn kid_is_the_truncated_rfc7638_thumbprint() {
    let f = fixture();
    for key in [&f.es_a, &f.rs_a] {
        let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_str(&key.public_jwk).unwrap();
        let full = jwk
            .thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256)
            .unwrap();
        assert_eq!(key.kid, b64(&unb64(&full)[..16]));
    }
}

#[test]
fn sign_and_verify_both_algorithms() {
    let ks = keyset();
    let f = fixture();
    for (alg, kid) in [
        (TokenAlg::ES256, &f.es_a.kid),
        (TokenAlg::RS256, &f.rs_a.kid),
    ] {
        assert_eq!(ks.signing_kid(alg), Some(kid.as_str()));
        let token = ks.sign(alg, TYP_ACCESS_TOKEN, &claims(T0)).unwrap();
        assert_eq!(
            header_of(&token),
            json!({"alg": alg.as_str(), "kid": kid, "typ": "at+jwt"})
        );
        assert_eq!(peek_kid(&token).as_deref(), Some(kid.as_str()));
        let verified = ks.verify(&token, &expect(), T0 + minutes(5)).unwrap();
        assert_eq!(verified, serde_json::to_value(claims(T0)).unwrap());
        let signature = unb64(&parts(&token)[2]);
        assert_eq!(
            signature.len(),
            if alg == TokenAlg::ES256 { 64 } else { 256 }
        );
    }
}

#[test]
fn id_tokens_carry_at_hash() {
    let ks = keyset();
    let access = ks
        .sign(TokenAlg::RS256, TYP_ACCESS_TOKEN, &claims(T0))
        .unwrap();
    let id = IdClaims {
        iss: ISSUER.to_string(),
        aud: "client-1".to_string(),
        sub: "s".to_string(),
        oid: "o".to_string(),
        tid: "t".to_string(),
        upn: None,
        preferred_username: "alice@example.com".to_string(),
        name: None,
        email: None,
        nonce: Some("n-0S6_WzA2Mj".to_string()),
        amr: vec!["pwd".to_string()],
        auth_time: T0.unix_timestamp(),
        iat: T0.unix_timestamp(),
        nbf: T0.unix_timestamp(),
        exp: T0.unix_timestamp() + 300,
        sid: None,
        at_hash: Some(at_hash(&access)),
        ver: VERSION.to_string(),
    };
    let token = ks.sign(TokenAlg::RS256, TYP_ID_TOKEN, &id).unwrap();
    assert_eq!(header_of(&token)["typ"], "JWT");
    let mut expect = expect();
    expect.audience = Some("client-1".to_string());
    let verified = ks.verify(&token, &expect, T0).unwrap();
    let back: IdClaims = serde_json::from_value(verified).unwrap();
    assert_eq!(back, id);
}

#[test]
fn typ_is_escaped_not_injected() {
    let ks = keyset();
    let token = ks
        .sign(TokenAlg::ES256, r#"x","alg":"none"#, &claims(T0))
        .unwrap();
    let header = header_of(&token);
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["typ"], r#"x","alg":"none"#);
    assert!(ks.verify(&token, &expect(), T0).is_ok());
}

#[test]
fn no_signer_for_an_algorithm_without_keys() {
    let f = fixture();
    let ks = KeySet::from_records(std::slice::from_ref(&f.es_a), &f.sealer, T0).unwrap();
    let err = ks.sign(TokenAlg::RS256, "JWT", &claims(T0)).unwrap_err();
    assert!(matches!(err, KeyError::NoSigner(TokenAlg::RS256)));
    assert_eq!(err.code(), "key_no_signer");
    let empty = KeySet::from_records(&[], &f.sealer, T0).unwrap();
    assert!(empty.sign(TokenAlg::ES256, "JWT", &claims(T0)).is_err());
    assert_eq!(empty.jwks(), json!({"keys": []}));
}

#[test]
fn signer_is_newest_active_unretired_key() {
    let f = fixture();
    let mut older = f.es_a.clone();
    older.active_from = T0 - minutes(60);
    let newer = f.es_b.clone(); // active from T0

    let ks = KeySet::from_records(&[newer.clone(), older.clone()], &f.sealer, T0).unwrap();
    assert_eq!(ks.signing_kid(TokenAlg::ES256), Some(newer.kid.as_str()));

    // Before the newer key's activation the older one signs, but both are published.
    let ks =
        KeySet::from_records(&[newer.clone(), older.clone()], &f.sealer, T0 - minutes(1)).unwrap();
    assert_eq!(ks.signing_kid(TokenAlg::ES256), Some(older.kid.as_str()));
    assert_eq!(ks.jwks()["keys"].as_array().unwrap().len(), 2);

    // A retired key never signs, even if newest; a retirement in the future has not happened.
    let mut retired = newer.clone();
    retired.retired_at = Some(T0);
    let ks = KeySet::from_records(&[retired.clone(), older.clone()], &f.sealer, T0).unwrap();
    assert_eq!(ks.signing_kid(TokenAlg::ES256), Some(older.kid.as_str()));
    retired.retired_at = Some(T0 + minutes(1));
    let ks = KeySet::from_records(&[retired, older.clone()], &f.sealer, T0).unwrap();
    assert_eq!(ks.signing_kid(TokenAlg::ES256), Some(newer.kid.as_str()));

    // An expired key neither signs nor is published.
    let mut expired = newer;
    expired.expires_at = Some(T0);
    let ks = KeySet::from_records(&[expired, older.clone()], &f.sealer, T0).unwrap();
    assert_eq!(ks.signing_kid(TokenAlg::ES256), Some(older.kid.as_str()));
    assert_eq!(ks.jwks()["keys"].as_array().unwrap().len(), 1);
}

#[test]
fn jwks_holds_exactly_the_published_keys_and_only_public_members() {
    let f = fixture();
    let active = f.es_a.clone();
    let mut retired = f.rs_a.clone();
    retired.retired_at = Some(T0 - minutes(10));
    retired.expires_at = Some(T0 + minutes(10));
    let mut expired = f.es_b.clone();
    expired.retired_at = Some(T0 - minutes(20));
    expired.expires_at = Some(T0);
    let mut waiting = f.rs_b.clone();
    waiting.active_from = T0 + minutes(5);
    // A stored JWK that (wrongly) carries private members must not leak them.
    let mut leaky: Value = serde_json::from_str(&waiting.public_jwk).unwrap();
    leaky["d"] = json!("c2VjcmV0");
    leaky["p"] = json!("c2VjcmV0");
    leaky["q"] = json!("c2VjcmV0");
    waiting.public_jwk = leaky.to_string();

    let ks = KeySet::from_records(
        &[
            active.clone(),
            retired.clone(),
            expired.clone(),
            waiting.clone(),
        ],
        &f.sealer,
        T0,
    )
    .unwrap();
    let jwks = ks.jwks();
    assert_eq!(member_names(&jwks), ["keys"]);
    let keys = jwks["keys"].as_array().unwrap();
    let mut kids: Vec<&str> = keys.iter().map(|k| k["kid"].as_str().unwrap()).collect();
    // Newest first: the waiting key, then the two activated at T0 (ties broken by kid).
    assert_eq!(kids[0], waiting.kid);
    kids.sort_unstable();
    let mut want = vec![
        active.kid.as_str(),
        retired.kid.as_str(),
        waiting.kid.as_str(),
    ];
    want.sort_unstable();
    assert_eq!(kids, want);
    for jwk in keys {
        for private in PRIVATE_MEMBERS {
            assert!(jwk.get(private).is_none(), "{private} published in {jwk}");
        }
        let stored = [&active, &retired, &waiting]
            .into_iter()
            .find(|k| k.kid == jwk["kid"])
            .unwrap();
        let mut stored_jwk = jwk_of(stored);
        for private in PRIVATE_MEMBERS {
            stored_jwk.as_object_mut().unwrap().remove(private);
        }
        assert_eq!(jwk, &stored_jwk);
    }
    // Nothing retired signs: RS256 has only a retired and a not-yet-active key.
    assert_eq!(ks.signing_kid(TokenAlg::RS256), None);
    assert_eq!(ks.signing_kid(TokenAlg::ES256), Some(active.kid.as_str()));

    // The JWKS, read back by a resource server, knows exactly the same keys.
    let remote = JwksVerifier::from_jwks(&jwks).unwrap();
    assert!(remote.has_kid(&active.kid));
    assert!(remote.has_kid(&retired.kid));
    assert!(remote.has_kid(&waiting.kid));
    assert!(!remote.has_kid(&expired.kid));
}

#[test]
fn tampered_sealed_key_is_an_error() {
    let f = fixture();
    let mut tampered = f.es_a.clone();
    let last = tampered.sealed_private_key.len() - 1;
    tampered.sealed_private_key[last] ^= 1;
    let err = KeySet::from_records(&[tampered.clone()], &f.sealer, T0).unwrap_err();
    assert!(matches!(&err, KeyError::Unseal { kid, .. } if *kid == f.es_a.kid));
    assert_eq!(err.code(), "key_unseal");

    let mut truncated = f.rs_a.clone();
    truncated.sealed_private_key.truncate(10);
    assert!(matches!(
        KeySet::from_records(&[truncated], &f.sealer, T0),
        Err(KeyError::Unseal { .. })
    ));

    // Another master key cannot open it either.
    let other = Sealer::new(Secret::new([7u8; 32]));
    assert!(matches!(
        KeySet::from_records(std::slice::from_ref(&f.es_a), &other, T0),
        Err(KeyError::Unseal { .. })
    ));

    // A key that will never sign again is not opened, so it still verifies tokens.
    tampered.retired_at = Some(T0);
    tampered.expires_at = Some(T0 + minutes(60));
    let ks = KeySet::from_records(&[tampered], &f.sealer, T0).unwrap();
    assert!(ks.verifier().has_kid(&f.es_a.kid));
}

#[test]
fn inconsistent_records_are_errors() {
    let f = fixture();
    // Private key of one key with the public JWK of another.
    let mut swapped = f.es_a.clone();
    swapped.public_jwk = f.es_b.public_jwk.replace(&f.es_b.kid, &f.es_a.kid);
    let err = KeySet::from_records(&[swapped], &f.sealer, T0).unwrap_err();
    assert!(
        matches!(err, KeyError::InvalidKey { reason, .. } if reason.contains("does not match"))
    );

    // JWK kid differs from the record's kid.
    let mut renamed = f.es_a.clone();
    renamed.kid = "other".to_string();
    assert!(matches!(
        KeySet::from_records(&[renamed], &f.sealer, T0),
        Err(KeyError::InvalidKey { .. })
    ));

    // Record says RS256 but holds an EC key.
    let mut wrong_alg = f.es_a.clone();
    wrong_alg.alg = TokenAlg::RS256;
    assert!(matches!(
        KeySet::from_records(&[wrong_alg], &f.sealer, T0),
        Err(KeyError::InvalidKey { .. })
    ));

    // Unreadable JWK.
    let mut garbage = f.rs_a.clone();
    garbage.public_jwk = "{".to_string();
    assert!(matches!(
        KeySet::from_records(&[garbage], &f.sealer, T0),
        Err(KeyError::InvalidKey { .. })
    ));

    // Duplicate kid.
    let err = KeySet::from_records(&[f.es_a.clone(), f.es_a.clone()], &f.sealer, T0).unwrap_err();
    assert!(matches!(
        err,
        KeyError::InvalidKey {
            reason: "duplicate kid",
            ..
        }
    ));
}

#[test]
fn key_set_is_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<KeySet>();
    assert_send_sync::<JwksVerifier>();
    assert_send_sync::<Sealer>();

    let ks = std::sync::Arc::new(keyset());
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let ks = ks.clone();
            std::thread::spawn(move || {
                let alg = if i % 2 == 0 {
                    TokenAlg::ES256
                } else {
                    TokenAlg::RS256
                };
                let token = ks.sign(alg, "JWT", &claims(T0)).unwrap();
                ks.verify(&token, &expect(), T0).unwrap();
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

#[test]
fn debug_output_has_no_secrets() {
    let ks = keyset();
    let text = format!("{ks:?}");
    assert!(text.contains(&fixture().es_a.kid));
    assert!(!text.contains("PRIVATE"));
    let sealer = format!("{:?}", fixture().sealer);
    assert!(!sealer.contains("42"));
}
