//! Interoperability with an independent JOSE implementation (the `jsonwebtoken` crate,
//! aws-lc-rs backend): our tokens verify there, its tokens verify here, and our JWKs load
//! there. Also records which DER its key constructors expect.

mod common;

use common::*;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use mailward_tokens::claims::AccessClaims;
use mailward_types::model::TokenAlg;

fn validation(alg: Algorithm) -> Validation {
    let mut v = Validation::new(alg);
    v.set_issuer(&[ISSUER]);
    v.set_audience(&[AUDIENCE]);
    // Its expiry check reads the system clock; our claims are dated T0.
    v.validate_exp = false;
    v.required_spec_claims.clear();
    v
}

#[test]
fn our_tokens_verify_with_jsonwebtoken() {
    let ks = keyset();
    let jwks: JwkSet = serde_json::from_value(ks.jwks()).unwrap();
    for (alg, jalg) in [
        (TokenAlg::ES256, Algorithm::ES256),
        (TokenAlg::RS256, Algorithm::RS256),
    ] {
        let token = ks.sign(alg, "at+jwt", &claims(T0)).unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.alg, jalg);
        assert_eq!(header.typ.as_deref(), Some("at+jwt"));
        let jwk = jwks.find(header.kid.as_deref().unwrap()).unwrap();
        let key = DecodingKey::from_jwk(jwk).unwrap();
        let data = jsonwebtoken::decode::<AccessClaims>(&token, &key, &validation(jalg)).unwrap();
        assert_eq!(data.claims, claims(T0));
    }
}

#[test]
fn jsonwebtoken_tokens_verify_with_ours() {
    let ks = keyset();
    let f = fixture();

    // EC: PKCS#8 DER is what `from_ec_der` takes.
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(f.es_a.kid.clone());
    let ec = EncodingKey::from_ec_der(&private_pkcs8(&f.es_a));
    let token = jsonwebtoken::encode(&header, &claims(T0), &ec).unwrap();
    assert!(ks.verify(&token, &expect(), T0).is_ok());

    // RSA: `from_rsa_der` takes PKCS#1 RSAPrivateKey, not the PKCS#8 rcgen produces.
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(f.rs_a.kid.clone());
    let pkcs8 = private_pkcs8(&f.rs_a);
    let wrong = EncodingKey::from_rsa_der(&pkcs8);
    assert!(jsonwebtoken::encode(&header, &claims(T0), &wrong).is_err());
    let rsa = EncodingKey::from_rsa_der(pkcs1_from_pkcs8(&pkcs8));
    let token = jsonwebtoken::encode(&header, &claims(T0), &rsa).unwrap();
    assert!(ks.verify(&token, &expect(), T0).is_ok());
}

#[test]
fn our_jwks_load_as_jsonwebtoken_keys() {
    let f = fixture();
    for key in [&f.es_a, &f.rs_a] {
        let jwk: Jwk = serde_json::from_str(&key.public_jwk).unwrap();
        assert_eq!(jwk.common.key_id.as_deref(), Some(key.kid.as_str()));
        assert!(DecodingKey::from_jwk(&jwk).is_ok());
    }
}

/// The `privateKey` OCTET STRING of a PKCS#8 `PrivateKeyInfo` (RFC 5208), which for RSA is
/// the PKCS#1 `RSAPrivateKey`. Minimal DER walking, enough for the keys generated here.
fn pkcs1_from_pkcs8(der: &[u8]) -> &[u8] {
    fn tlv(input: &[u8]) -> (u8, &[u8], &[u8]) {
        let tag = input[0];
        let (len, header) = match input[1] {
            n if n < 0x80 => (n as usize, 2),
            0x81 => (input[2] as usize, 3),
            0x82 => (((input[2] as usize) << 8) | input[3] as usize, 4),
            other => panic!("unsupported DER length form {other:#x}"),
        };
        (tag, &input[header..header + len], &input[header + len..])
    }
    let (tag, body, _) = tlv(der);
    assert_eq!(tag, 0x30);
    let (tag, _version, rest) = tlv(body);
    assert_eq!(tag, 0x02);
    let (tag, _algorithm, rest) = tlv(rest);
    assert_eq!(tag, 0x30);
    let (tag, private_key, _) = tlv(rest);
    assert_eq!(tag, 0x04);
    private_key
}
