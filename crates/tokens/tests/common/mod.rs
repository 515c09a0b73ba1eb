//! Shared fixtures for the integration tests: one master key, a few generated keys (RSA
//! generation is slow, so each key is made once per test binary), claims and expectations.

#![allow(dead_code)]

use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mailward_tokens::claims::{AccessClaims, IDTYP_USER, VERSION};
use mailward_tokens::{Expect, KeySet, Sealer, generate};
use mailward_types::Secret;
use mailward_types::model::TokenAlg;
use mailward_types::records::SigningKey;
use serde_json::Value;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

pub const ISSUER: &str = "https://id.example/8f0c/v2.0";
pub const AUDIENCE: &str = "https://mail.example";
pub const T0: OffsetDateTime = datetime!(2026-03-01 12:00 UTC);
pub const LEEWAY: i64 = 60;

pub struct Fixture {
    pub sealer: Sealer,
    /// Two keys per algorithm, all generated at `T0`.
    pub es_a: SigningKey,
    pub es_b: SigningKey,
    pub rs_a: SigningKey,
    pub rs_b: SigningKey,
}

pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let sealer = Sealer::new(Secret::new([42u8; 32]));
        let es_a = generate(TokenAlg::ES256, &sealer, T0).expect("generate ES256 key");
        let es_b = generate(TokenAlg::ES256, &sealer, T0).expect("generate ES256 key");
        let rs_a = generate(TokenAlg::RS256, &sealer, T0).expect("generate RS256 key");
        let rs_b = generate(TokenAlg::RS256, &sealer, T0).expect("generate RS256 key");
        Fixture {
            sealer,
            es_a,
            es_b,
            rs_a,
            rs_b,
        }
    })
}

/// A key set signing with `es_a` and `rs_a` at `T0`.
pub fn keyset() -> KeySet {
    let f = fixture();
    KeySet::from_records(&[f.es_a.clone(), f.rs_a.clone()], &f.sealer, T0).expect("build key set")
}

pub fn expect() -> Expect {
    Expect {
        issuer: ISSUER.to_string(),
        audience: Some(AUDIENCE.to_string()),
        algs: vec![TokenAlg::ES256, TokenAlg::RS256],
        leeway_secs: LEEWAY,
    }
}

/// Access token claims issued at `now`, valid for an hour.
pub fn claims(now: OffsetDateTime) -> AccessClaims {
    let iat = now.unix_timestamp();
    AccessClaims {
        iss: ISSUER.to_string(),
        aud: AUDIENCE.to_string(),
        sub: "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ".to_string(),
        oid: Some("00000000-0000-0000-66f3-3332eca7ea81".to_string()),
        tid: "8f0c".to_string(),
        upn: Some("alice@example.com".to_string()),
        preferred_username: Some("alice@example.com".to_string()),
        name: Some("Alice".to_string()),
        scp: Some("IMAP.AccessAsUser.All SMTP.Send".to_string()),
        scope: Some("IMAP.AccessAsUser.All SMTP.Send".to_string()),
        roles: None,
        amr: Some(vec!["pwd".to_string(), "mfa".to_string()]),
        azp: "client-1".to_string(),
        client_id: "client-1".to_string(),
        appid: "client-1".to_string(),
        ipaddr: Some("192.0.2.1".to_string()),
        auth_time: Some(iat),
        iat,
        nbf: iat,
        exp: iat + 3600,
        jti: "jti-1".to_string(),
        idtyp: IDTYP_USER.to_string(),
        ver: VERSION.to_string(),
        sid: None,
    }
}

pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn unb64(part: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(part).expect("base64url")
}

/// Splits a token into its three parts.
pub fn parts(token: &str) -> [String; 3] {
    let v: Vec<&str> = token.split('.').collect();
    assert_eq!(v.len(), 3);
    [v[0].to_string(), v[1].to_string(), v[2].to_string()]
}

pub fn header_of(token: &str) -> Value {
    serde_json::from_slice(&unb64(&parts(token)[0])).expect("JSON header")
}

pub fn payload_of(token: &str) -> Value {
    serde_json::from_slice(&unb64(&parts(token)[1])).expect("JSON payload")
}

/// Re-assembles a token from JSON header and payload and raw signature bytes.
pub fn forge(header: &Value, payload: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        b64(header.to_string()),
        b64(payload.to_string()),
        b64(signature)
    )
}

pub fn minutes(n: i64) -> Duration {
    Duration::minutes(n)
}

/// The PKCS#8 private key inside a stored record.
pub fn private_pkcs8(key: &SigningKey) -> Vec<u8> {
    fixture()
        .sealer
        .open(&key.sealed_private_key)
        .expect("open sealed key")
}
