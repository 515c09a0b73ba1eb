//! Fuzzes JWT verification against a fixed JWKS: arbitrary tokens must be refused
//! without panicking.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mailward_tokens::keyset::Expect;
use mailward_tokens::verify::{JwksVerifier, peek_kid};
use mailward_types::model::TokenAlg;

fuzz_target!(|data: &[u8]| {
    let jwks = serde_json::json!({"keys": [{
        "kty": "EC", "crv": "P-256", "kid": "k1", "alg": "ES256", "use": "sig",
        "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
        "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"
    }]});
    let Ok(v) = JwksVerifier::from_jwks(&jwks) else { return };
    if let Ok(token) = std::str::from_utf8(data) {
        let _ = peek_kid(token);
        let expect = Expect {
            issuer: "https://id.example".into(),
            audience: Some("https://mail.example".into()),
            algs: vec![TokenAlg::ES256, TokenAlg::RS256],
            leeway_secs: 60,
        };
        let now = time::OffsetDateTime::UNIX_EPOCH;
        assert!(v.verify(token, &expect, now).is_err());
    }
});
