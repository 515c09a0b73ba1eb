//! Attacks and malformed input against verification: `alg: none`, algorithm confusion,
//! unknown keys, tampering, claim checks, size limits, and random input (proptest).

mod common;

use common::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use mailward_tokens::{Expect, JwksVerifier, KeySet, MAX_TOKEN_LEN, VerifyError, peek_kid};
use mailward_types::model::TokenAlg;
use proptest::prelude::*;
use serde_json::{Value, json};
use time::OffsetDateTime;

/// Verifies with both the key set and a JWKS-based verifier built from its JWKS, and checks
/// that they agree.
fn verify_both(
    ks: &KeySet,
    token: &str,
    expect: &Expect,
    now: OffsetDateTime,
) -> Result<Value, VerifyError> {
    let remote = JwksVerifier::from_jwks(&ks.jwks()).expect("JWKS loads");
    let a = ks.verify(token, expect, now);
    let b = remote.verify(token, expect, now);
    assert_eq!(
        a.as_ref().map_err(VerifyError::code),
        b.as_ref().map_err(VerifyError::code)
    );
    a
}

fn code(result: Result<Value, VerifyError>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(e) => e.code(),
    }
}

fn es_token() -> String {
    keyset()
        .sign(TokenAlg::ES256, "at+jwt", &claims(T0))
        .expect("sign")
}

fn rs_token() -> String {
    keyset()
        .sign(TokenAlg::RS256, "at+jwt", &claims(T0))
        .expect("sign")
}

/// Signs arbitrary claims JSON with the fixture's ES256 key.
fn es_token_with(payload: Value) -> String {
    keyset()
        .sign(TokenAlg::ES256, "JWT", &payload)
        .expect("sign")
}

fn valid_payload() -> Value {
    serde_json::to_value(claims(T0)).expect("claims to JSON")
}

#[test]
fn alg_none_is_refused() {
    let ks = keyset();
    let kid = &fixture().es_a.kid;
    for alg in ["none", "None", "NONE", "nOnE"] {
        let header = json!({"alg": alg, "kid": kid, "typ": "JWT"});
        let unsigned = forge(&header, &valid_payload(), b"");
        assert_eq!(
            code(verify_both(&ks, &unsigned, &expect(), T0)),
            "token_alg_not_allowed"
        );
        // With the real signature of a valid token attached.
        let real = parts(&es_token())[2].clone();
        let token = format!("{}.{}", &unsigned[..unsigned.len() - 1], real);
        assert_eq!(
            code(verify_both(&ks, &token, &expect(), T0)),
            "token_alg_not_allowed"
        );
    }
}

#[test]
fn hs256_signed_with_public_key_is_refused() {
    let ks = keyset();
    let f = fixture();
    for key in [&f.rs_a, &f.es_a] {
        let jwk: Value = serde_json::from_str(&key.public_jwk).unwrap();
        let material = if jwk["kty"] == "RSA" {
            unb64(jwk["n"].as_str().unwrap())
        } else {
            unb64(jwk["x"].as_str().unwrap())
        };
        let secrets: Vec<Vec<u8>> = vec![
            key.public_jwk.clone().into_bytes(),
            ks.jwks().to_string().into_bytes(),
            material,
        ];
        for secret in secrets {
            for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
                let mut header = Header::new(alg);
                header.kid = Some(key.kid.clone());
                let token =
                    jsonwebtoken::encode(&header, &claims(T0), &EncodingKey::from_secret(&secret))
                        .unwrap();
                assert_eq!(
                    code(verify_both(&ks, &token, &expect(), T0)),
                    "token_alg_not_allowed"
                );
            }
        }
    }
}

#[test]
fn header_alg_must_match_the_keys_algorithm() {
    let ks = keyset();
    let f = fixture();
    // An ES256 signature presented as RS256 with the RSA key's kid, and the reverse.
    for (token, other_kid, other_alg) in [
        (es_token(), &f.rs_a.kid, "RS256"),
        (rs_token(), &f.es_a.kid, "ES256"),
    ] {
        let [_, payload, signature] = parts(&token);
        let header = b64(json!({"alg": other_alg, "kid": other_kid}).to_string());
        let swapped = format!("{header}.{payload}.{signature}");
        assert_eq!(
            code(verify_both(&ks, &swapped, &expect(), T0)),
            "token_bad_signature"
        );
        // Same key, other algorithm in the header.
        let own_kid = &header_of(&token)["kid"];
        let header = b64(json!({"alg": other_alg, "kid": own_kid}).to_string());
        let confused = format!("{header}.{payload}.{signature}");
        assert_eq!(
            code(verify_both(&ks, &confused, &expect(), T0)),
            "token_alg_not_allowed"
        );
    }
}

#[test]
fn algorithms_outside_the_allow_list_are_refused() {
    let ks = keyset();
    let only_rs = Expect {
        algs: vec![TokenAlg::RS256],
        ..expect()
    };
    assert_eq!(
        code(verify_both(&ks, &es_token(), &only_rs, T0)),
        "token_alg_not_allowed"
    );
    assert_eq!(code(verify_both(&ks, &rs_token(), &only_rs, T0)), "ok");
    let nothing = Expect {
        algs: vec![],
        ..expect()
    };
    assert_eq!(
        code(verify_both(&ks, &rs_token(), &nothing, T0)),
        "token_alg_not_allowed"
    );
    // Case matters: "es256" is not "ES256".
    let [_, payload, signature] = parts(&es_token());
    let header = b64(json!({"alg": "es256", "kid": fixture().es_a.kid}).to_string());
    let lower = format!("{header}.{payload}.{signature}");
    assert_eq!(
        code(verify_both(&ks, &lower, &expect(), T0)),
        "token_alg_not_allowed"
    );
    for alg in ["PS256", "ES384", "EdDSA", "RS512"] {
        let header = b64(json!({"alg": alg, "kid": fixture().es_a.kid}).to_string());
        let token = format!("{header}.{payload}.{signature}");
        assert_eq!(
            code(verify_both(&ks, &token, &expect(), T0)),
            "token_alg_not_allowed"
        );
    }
}

#[test]
fn unknown_or_missing_kid_is_refused() {
    let ks = keyset();
    let [_, payload, signature] = parts(&es_token());
    for header in [
        json!({"alg": "ES256", "kid": "no-such-key"}),
        json!({"alg": "ES256", "kid": fixture().es_b.kid}),
        json!({"alg": "ES256", "kid": ""}),
        json!({"alg": "ES256"}),
    ] {
        let token = format!("{}.{payload}.{signature}", b64(header.to_string()));
        assert_eq!(
            code(verify_both(&ks, &token, &expect(), T0)),
            "token_unknown_key"
        );
    }
    // A kid that is not a string makes the header unreadable.
    let header = json!({"alg": "ES256", "kid": 5});
    let token = format!("{}.{payload}.{signature}", b64(header.to_string()));
    assert_eq!(
        code(verify_both(&ks, &token, &expect(), T0)),
        "token_malformed"
    );
}

#[test]
fn tampering_breaks_the_signature() {
    let ks = keyset();
    for token in [es_token(), rs_token()] {
        let [header, payload, signature] = parts(&token);
        // Payload: a different subject.
        let mut claims = payload_of(&token);
        claims["sub"] = json!("mallory");
        let forged = format!("{header}.{}.{signature}", b64(claims.to_string()));
        assert_eq!(
            code(verify_both(&ks, &forged, &expect(), T0)),
            "token_bad_signature"
        );
        // Header: a different typ.
        let mut h = header_of(&token);
        h["typ"] = json!("JWT");
        let forged = format!("{}.{payload}.{signature}", b64(h.to_string()));
        assert_eq!(
            code(verify_both(&ks, &forged, &expect(), T0)),
            "token_bad_signature"
        );
        // Signature: one flipped bit, truncated, extended, empty, another key's.
        let sig = unb64(&signature);
        let mut flipped = sig.clone();
        flipped[10] ^= 0x04;
        let mut extended = sig.clone();
        extended.push(0);
        for bad in [flipped, sig[..sig.len() - 1].to_vec(), extended, Vec::new()] {
            let forged = format!("{header}.{payload}.{}", b64(bad));
            assert_eq!(
                code(verify_both(&ks, &forged, &expect(), T0)),
                "token_bad_signature"
            );
        }
    }
    // Signed by another key of the same algorithm under our kid.
    let f = fixture();
    let other = KeySet::from_records(std::slice::from_ref(&f.es_b), &f.sealer, T0).unwrap();
    let theirs = other.sign(TokenAlg::ES256, "at+jwt", &claims(T0)).unwrap();
    let [_, payload, signature] = parts(&theirs);
    let [header, _, _] = parts(&es_token());
    let forged = format!("{header}.{payload}.{signature}");
    assert_eq!(
        code(verify_both(&ks, &forged, &expect(), T0)),
        "token_bad_signature"
    );
}

#[test]
fn claims_are_checked_only_after_the_signature() {
    let ks = keyset();
    let mut claims = valid_payload();
    claims["iss"] = json!("https://evil.example");
    claims["exp"] = json!(0);
    let token = es_token_with(claims);
    assert_eq!(
        code(verify_both(&ks, &token, &expect(), T0)),
        "token_wrong_issuer"
    );
    let [header, payload, _] = parts(&token);
    let unsigned = format!("{header}.{payload}.{}", b64([1u8; 64]));
    assert_eq!(
        code(verify_both(&ks, &unsigned, &expect(), T0)),
        "token_bad_signature"
    );
}

#[test]
fn issuer_must_match_exactly() {
    let ks = keyset();
    for iss in [
        json!("https://evil.example"),
        json!(format!("{ISSUER}/")),
        json!(null),
        json!([ISSUER]),
        json!(1),
    ] {
        let mut claims = valid_payload();
        claims["iss"] = iss;
        assert_eq!(
            code(verify_both(&ks, &es_token_with(claims), &expect(), T0)),
            "token_wrong_issuer"
        );
    }
    let mut claims = valid_payload();
    claims.as_object_mut().unwrap().remove("iss");
    assert_eq!(
        code(verify_both(&ks, &es_token_with(claims), &expect(), T0)),
        "token_wrong_issuer"
    );
}

#[test]
fn audience_must_match_when_expected() {
    let ks = keyset();
    let cases = [
        (json!(AUDIENCE), "ok"),
        (json!(["https://other.example", AUDIENCE]), "ok"),
        (json!("https://other.example"), "token_wrong_audience"),
        (json!(["https://other.example"]), "token_wrong_audience"),
        (json!([]), "token_wrong_audience"),
        (json!(format!("{AUDIENCE} ")), "token_wrong_audience"),
        (json!(null), "token_wrong_audience"),
        (json!({"aud": AUDIENCE}), "token_wrong_audience"),
    ];
    for (aud, want) in cases {
        let mut claims = valid_payload();
        claims["aud"] = aud.clone();
        assert_eq!(
            code(verify_both(&ks, &es_token_with(claims), &expect(), T0)),
            want,
            "{aud}"
        );
    }
    let mut claims = valid_payload();
    claims.as_object_mut().unwrap().remove("aud");
    let token = es_token_with(claims);
    assert_eq!(
        code(verify_both(&ks, &token, &expect(), T0)),
        "token_wrong_audience"
    );
    let any_audience = Expect {
        audience: None,
        ..expect()
    };
    assert_eq!(code(verify_both(&ks, &token, &any_audience, T0)), "ok");
}

#[test]
fn expiry_honours_the_leeway() {
    let ks = keyset();
    let token = es_token(); // exp = T0 + 3600
    let exp = T0 + time::Duration::seconds(3600);
    let s = time::Duration::seconds;
    let cases = [
        (exp - s(1), "ok"),
        (exp, "ok"),
        (exp + s(LEEWAY - 1), "ok"),
        (exp + s(LEEWAY), "token_expired"),
        (exp + s(LEEWAY + 1), "token_expired"),
        (exp + time::Duration::days(365), "token_expired"),
    ];
    for (now, want) in cases {
        assert_eq!(
            code(verify_both(&ks, &token, &expect(), now)),
            want,
            "at {now}"
        );
    }
    let no_leeway = Expect {
        leeway_secs: 0,
        ..expect()
    };
    assert_eq!(
        code(verify_both(&ks, &token, &no_leeway, exp)),
        "token_expired"
    );
    let negative = Expect {
        leeway_secs: -1000,
        ..expect()
    };
    assert_eq!(code(verify_both(&ks, &token, &negative, exp - s(1))), "ok");
}

#[test]
fn exp_is_required_and_numeric() {
    let ks = keyset();
    for exp in [json!(null), json!("99999999999"), json!(true)] {
        let mut claims = valid_payload();
        claims["exp"] = exp;
        assert_eq!(
            code(verify_both(&ks, &es_token_with(claims), &expect(), T0)),
            "token_missing_claim"
        );
    }
    let mut claims = valid_payload();
    claims.as_object_mut().unwrap().remove("exp");
    assert_eq!(
        code(verify_both(&ks, &es_token_with(claims), &expect(), T0)),
        "token_missing_claim"
    );
    // Fractional NumericDates are accepted.
    let mut claims = valid_payload();
    claims["exp"] = json!(T0.unix_timestamp() as f64 + 10.5);
    claims["nbf"] = json!(T0.unix_timestamp() as f64 - 0.5);
    assert_eq!(
        code(verify_both(&ks, &es_token_with(claims), &expect(), T0)),
        "ok"
    );
    // Absurd values saturate instead of overflowing.
    let mut claims = valid_payload();
    claims["exp"] = json!(u64::MAX);
    claims["nbf"] = json!(i64::MIN);
    assert_eq!(
        code(verify_both(&ks, &es_token_with(claims), &expect(), T0)),
        "ok"
    );
    let mut claims = valid_payload();
    claims["exp"] = json!(i64::MIN);
    assert_eq!(
        code(verify_both(&ks, &es_token_with(claims), &expect(), T0)),
        "token_expired"
    );
}

#[test]
fn not_before_honours_the_leeway() {
    let ks = keyset();
    let s = time::Duration::seconds;
    let nbf = T0 + s(600);
    let mut claims = valid_payload();
    claims["nbf"] = json!(nbf.unix_timestamp());
    let token = es_token_with(claims);
    let cases = [
        (T0, "token_not_yet_valid"),
        (nbf - s(LEEWAY + 1), "token_not_yet_valid"),
        (nbf - s(LEEWAY), "ok"),
        (nbf, "ok"),
    ];
    for (now, want) in cases {
        assert_eq!(
            code(verify_both(&ks, &token, &expect(), now)),
            want,
            "at {now}"
        );
    }
    let mut claims = valid_payload();
    claims["nbf"] = json!("soon");
    assert_eq!(
        code(verify_both(&ks, &es_token_with(claims), &expect(), T0)),
        "token_missing_claim"
    );
    // nbf is optional.
    let mut claims = valid_payload();
    claims.as_object_mut().unwrap().remove("nbf");
    assert_eq!(
        code(verify_both(&ks, &es_token_with(claims), &expect(), T0)),
        "ok"
    );
}

#[test]
fn malformed_tokens() {
    let ks = keyset();
    let token = es_token();
    let [header, payload, signature] = parts(&token);
    let cases = [
        String::new(),
        ".".to_string(),
        "..".to_string(),
        "...".to_string(),
        "not a token".to_string(),
        header.clone(),
        format!("{header}.{payload}"),
        format!("{token}.{signature}"),
        format!("{header}..{signature}"),
        format!(".{payload}.{signature}"),
        format!("{header}.{payload}.{signature}="),
        format!("{header}.{payload}.+{signature}"),
        format!("{header}.{payload}.{signature}!"),
        format!("{header}.{payload}.{signature}\n"),
        format!(" {token}"),
        format!("{}.{payload}.{signature}", b64("not json")),
        format!(
            "{}.{payload}.{signature}",
            b64(r#"{"alg":"ES256","crit":["x"]}"#)
        ),
        format!(
            "{}.{payload}.{signature}",
            b64(r#"{"alg":"ES256","alg":"RS256"}"#)
        ),
    ];
    for bad in &cases {
        let got = code(verify_both(&ks, bad, &expect(), T0));
        assert_eq!(got, "token_malformed", "for {bad:.60}");
    }
    // Padding in the payload changes the signed bytes, so the signature check refuses it
    // before the payload is decoded.
    let padded = format!("{header}.{payload}==.{signature}");
    assert_eq!(
        code(verify_both(&ks, &padded, &expect(), T0)),
        "token_bad_signature"
    );
    // Validly signed but the payload is not a JSON object.
    for payload in [json!("a string"), json!([1, 2]), json!(null)] {
        assert_eq!(
            code(verify_both(&ks, &es_token_with(payload), &expect(), T0)),
            "token_malformed"
        );
    }
}

#[test]
fn oversized_input_is_refused_before_decoding() {
    let ks = keyset();
    let token = es_token();
    // Pad the payload with an (otherwise fine) claim until the token is just too long.
    let mut claims = valid_payload();
    claims["pad"] = json!("");
    let base = es_token_with(claims.clone()).len();
    let padding = (MAX_TOKEN_LEN + 1 - base) * 3 / 4 + 2;
    claims["pad"] = json!("x".repeat(padding));
    let big = es_token_with(claims);
    assert!(big.len() > MAX_TOKEN_LEN);
    assert_eq!(
        code(verify_both(&ks, &big, &expect(), T0)),
        "token_malformed"
    );
    assert_eq!(peek_kid(&big), None);

    let huge = format!("{token}{}", "A".repeat(10 * 1024 * 1024));
    assert_eq!(
        code(verify_both(&ks, &huge, &expect(), T0)),
        "token_malformed"
    );
    let dots = ".".repeat(MAX_TOKEN_LEN + 1);
    assert_eq!(
        code(verify_both(&ks, &dots, &expect(), T0)),
        "token_malformed"
    );

    // Just under the limit is fine.
    let mut claims = valid_payload();
    claims["pad"] = json!("");
    let base = es_token_with(claims.clone()).len();
    claims["pad"] = json!("x".repeat((MAX_TOKEN_LEN - base) * 3 / 4 - 4));
    let fits = es_token_with(claims);
    assert!(fits.len() <= MAX_TOKEN_LEN);
    assert_eq!(code(verify_both(&ks, &fits, &expect(), T0)), "ok");
}

#[test]
fn peek_kid_reads_without_verifying() {
    let [_, payload, _] = parts(&es_token());
    let header = b64(json!({"alg": "none", "kid": "anything"}).to_string());
    assert_eq!(
        peek_kid(&format!("{header}.{payload}.")).as_deref(),
        Some("anything")
    );
    let header = b64(json!({"alg": "ES256"}).to_string());
    assert_eq!(peek_kid(&format!("{header}.{payload}.c2ln")), None);
    assert_eq!(peek_kid("garbage"), None);
}

#[test]
fn jwks_verifier_skips_unusable_keys() {
    let ks = keyset();
    let f = fixture();
    let mut jwks = ks.jwks();
    let keys = jwks["keys"].as_array_mut().unwrap();
    keys.push(json!({"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"}));
    keys.push(json!({"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA", "kid": "broken"}));
    let mut no_kid: Value = serde_json::from_str(&f.es_b.public_jwk).unwrap();
    no_kid.as_object_mut().unwrap().remove("kid");
    keys.push(no_kid);
    let mut enc: Value = serde_json::from_str(&f.rs_b.public_jwk).unwrap();
    enc["use"] = json!("enc");
    keys.push(enc);
    // A second key under an existing kid does not replace the first.
    let mut shadow: Value = serde_json::from_str(&f.es_b.public_jwk).unwrap();
    shadow["kid"] = json!(f.es_a.kid);
    keys.push(shadow);

    let remote = JwksVerifier::from_jwks(&jwks).unwrap();
    assert!(remote.has_kid(&f.es_a.kid));
    assert!(remote.has_kid(&f.rs_a.kid));
    for kid in ["hmac", "broken", f.rs_b.kid.as_str()] {
        assert!(!remote.has_kid(kid), "{kid}");
    }
    assert!(remote.verify(&es_token(), &expect(), T0).is_ok());
    assert!(remote.verify(&rs_token(), &expect(), T0).is_ok());

    for bad in [json!({}), json!({"keys": {}}), json!([]), json!(null)] {
        let err = JwksVerifier::from_jwks(&bad).unwrap_err();
        assert_eq!(err.code(), "jwks_invalid");
    }
    let empty = JwksVerifier::from_jwks(&json!({"keys": []})).unwrap();
    assert_eq!(
        code(empty.verify(&es_token(), &expect(), T0)),
        "token_unknown_key"
    );
}

#[test]
fn error_codes_are_distinct() {
    let all = [
        VerifyError::Malformed,
        VerifyError::UnknownKey,
        VerifyError::AlgorithmNotAllowed,
        VerifyError::BadSignature,
        VerifyError::Expired,
        VerifyError::NotYetValid,
        VerifyError::WrongIssuer,
        VerifyError::WrongAudience,
        VerifyError::MissingClaim("exp"),
        VerifyError::InvalidJwks("x"),
    ];
    let mut codes: Vec<&str> = all.iter().map(VerifyError::code).collect();
    codes.sort_unstable();
    codes.dedup();
    assert_eq!(codes.len(), all.len());
}

const B64URL: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_input_never_verifies(input in "[A-Za-z0-9_.=+/ -]{0,300}") {
        let ks = keyset();
        prop_assert!(ks.verify(&input, &expect(), T0).is_err());
        let _ = peek_kid(&input);
    }

    #[test]
    fn any_changed_character_fails(pos in any::<prop::sample::Index>(), sub in 0usize..B64URL.len(), rsa in any::<bool>()) {
        let ks = keyset();
        let token = if rsa { rs_token() } else { es_token() };
        let positions: Vec<usize> = token.char_indices().filter(|(_, c)| *c != '.').map(|(i, _)| i).collect();
        let i = positions[pos.index(positions.len())];
        let replacement = B64URL[sub];
        prop_assume!(token.as_bytes()[i] != replacement);
        let mut bytes = token.into_bytes();
        bytes[i] = replacement;
        let tampered = String::from_utf8(bytes).unwrap();
        prop_assert!(ks.verify(&tampered, &expect(), T0).is_err());
    }
}
