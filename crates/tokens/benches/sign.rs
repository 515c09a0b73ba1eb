//! Throughput of token signing and verification (ES256, RS256) with a [`KeySet`] built once,
//! plus the same operations through `jsonwebtoken` for comparison (it re-parses the private
//! key inside every `encode`).
//!
//! Run with `cargo bench -p mailward-tokens --bench sign`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use mailward_tokens::claims::{AccessClaims, IDTYP_USER, VERSION};
use mailward_tokens::{Expect, JwksVerifier, KeySet, Sealer, generate};
use mailward_types::Secret;
use mailward_types::model::TokenAlg;
use time::OffsetDateTime;
use time::macros::datetime;

const NOW: OffsetDateTime = datetime!(2026-03-01 12:00 UTC);
const ISSUER: &str = "https://id.example/8f0c/v2.0";
const AUDIENCE: &str = "https://mail.example";

fn claims() -> AccessClaims {
    let iat = NOW.unix_timestamp();
    AccessClaims {
        iss: ISSUER.to_string(),
        aud: AUDIENCE.to_string(),
        sub: "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ".to_string(),
        oid: Some("00000000-0000-0000-66f3-3332eca7ea81".to_string()),
        tid: "8f0c".to_string(),
        upn: Some("alice@example.com".to_string()),
        preferred_username: Some("alice@example.com".to_string()),
        name: Some("Alice Example".to_string()),
        scp: Some("IMAP.AccessAsUser.All SMTP.Send POP.AccessAsUser.All".to_string()),
        scope: Some("IMAP.AccessAsUser.All SMTP.Send POP.AccessAsUser.All".to_string()),
        roles: None,
        amr: Some(vec!["pwd".to_string(), "mfa".to_string()]),
        azp: "9e5f94bc-e8a4-4e73-b8be-63364c29d753".to_string(),
        client_id: "9e5f94bc-e8a4-4e73-b8be-63364c29d753".to_string(),
        appid: "9e5f94bc-e8a4-4e73-b8be-63364c29d753".to_string(),
        ipaddr: Some("192.0.2.1".to_string()),
        auth_time: Some(iat),
        iat,
        nbf: iat,
        exp: iat + 3600,
        jti: "0b6c5a0e-5f3e-4d0b-9d1a-3c8f0e1d2b4a".to_string(),
        idtyp: IDTYP_USER.to_string(),
        ver: VERSION.to_string(),
        sid: Some("7a1c2e3f-0000-4000-8000-000000000001".to_string()),
    }
}

fn expect() -> Expect {
    Expect {
        issuer: ISSUER.to_string(),
        audience: Some(AUDIENCE.to_string()),
        algs: vec![TokenAlg::ES256, TokenAlg::RS256],
        leeway_secs: 60,
    }
}

fn bench(c: &mut Criterion) {
    let sealer = Sealer::new(Secret::new([42u8; 32]));
    let records = [
        generate(TokenAlg::ES256, &sealer, NOW).expect("ES256 key"),
        generate(TokenAlg::RS256, &sealer, NOW).expect("RS256 key"),
    ];
    let ks = KeySet::from_records(&records, &sealer, NOW).expect("key set");
    let remote = JwksVerifier::from_jwks(&ks.jwks()).expect("jwks");
    let claims = claims();
    let expect = expect();

    let mut group = c.benchmark_group("tokens");
    group.throughput(Throughput::Elements(1));
    for (alg, name) in [(TokenAlg::ES256, "ES256"), (TokenAlg::RS256, "RS256")] {
        group.bench_function(format!("sign/{name}"), |b| {
            b.iter(|| {
                ks.sign(black_box(alg), "at+jwt", black_box(&claims))
                    .expect("sign")
            })
        });
        let token = ks.sign(alg, "at+jwt", &claims).expect("sign");
        group.bench_function(format!("verify/{name}"), |b| {
            b.iter(|| {
                ks.verify(black_box(&token), black_box(&expect), NOW)
                    .expect("verify")
            })
        });
        group.bench_function(format!("verify_jwks/{name}"), |b| {
            b.iter(|| {
                remote
                    .verify(black_box(&token), black_box(&expect), NOW)
                    .expect("verify")
            })
        });
    }

    // jsonwebtoken with a cached EncodingKey/DecodingKey, for comparison.
    let pkcs8 = sealer
        .open(&records[0].sealed_private_key)
        .expect("open ES256 key");
    let encoding = EncodingKey::from_ec_der(&pkcs8);
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(records[0].kid.clone());
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_str(&records[0].public_jwk).expect("jwk");
    let decoding = DecodingKey::from_jwk(&jwk).expect("decoding key");
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[AUDIENCE]);
    validation.validate_exp = false;
    group.bench_function("jsonwebtoken_sign/ES256", |b| {
        b.iter(|| jsonwebtoken::encode(&header, black_box(&claims), &encoding).expect("encode"))
    });
    let token = jsonwebtoken::encode(&header, &claims, &encoding).expect("encode");
    group.bench_function("jsonwebtoken_verify/ES256", |b| {
        b.iter(|| {
            jsonwebtoken::decode::<serde_json::Value>(black_box(&token), &decoding, &validation)
                .expect("decode")
        })
    });
    group.finish();

    c.bench_function("keyset_from_records", |b| {
        b.iter(|| KeySet::from_records(black_box(&records), &sealer, NOW).expect("key set"))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
