//! Passkeys: full registration and authentication ceremonies against a software
//! authenticator (ES256 key, `none` attestation, CTAP authenticator data built by hand),
//! plus the refusals that matter: wrong challenge, origin, signature, counter, garbage.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use mailward_mfa::passkey::{PasskeyError, PasskeyService};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const RP_ID: &str = "localhost";
const ORIGIN: &str = "https://localhost:8443";

fn service() -> PasskeyService {
    let origin = url::Url::parse(ORIGIN).expect("test origin is a URL");
    PasskeyService::new(RP_ID, &origin, "Mailward").expect("test relying party is valid")
}

fn user() -> uuid::Uuid {
    uuid::Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef)
}

/// Authenticator data flags (WebAuthn §6.1).
const UP: u8 = 0x01;
const UV: u8 = 0x04;
const AT: u8 = 0x40;

/// A platform authenticator in software: one ES256 credential, a signature counter.
struct SoftAuthenticator {
    key: EcdsaKeyPair,
    cred_id: Vec<u8>,
    counter: u32,
    rp_id: String,
    origin: String,
    flags: u8,
}

impl SoftAuthenticator {
    fn new() -> Self {
        Self {
            key: EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING)
                .expect("P-256 key generation"),
            cred_id: (0u8..32)
                .map(|i| i.wrapping_mul(7).wrapping_add(3))
                .collect(),
            counter: 0,
            rp_id: RP_ID.to_owned(),
            origin: ORIGIN.to_owned(),
            flags: UP | UV,
        }
    }

    fn client_data(&self, kind: &str, options: &Value) -> Vec<u8> {
        let challenge = options["publicKey"]["challenge"]
            .as_str()
            .expect("options carry a challenge");
        json!({
            "type": kind,
            "challenge": challenge,
            "origin": self.origin,
            "crossOrigin": false,
        })
        .to_string()
        .into_bytes()
    }

    fn auth_data_prefix(&self, flags: u8) -> Vec<u8> {
        let mut data = Sha256::digest(self.rp_id.as_bytes()).to_vec();
        data.push(flags);
        data.extend_from_slice(&self.counter.to_be_bytes());
        data
    }

    /// COSE_Key (RFC 9053 §7.1.1) for the EC2 P-256 public key, alg ES256.
    fn cose_key(&self) -> Vec<u8> {
        let point = self.key.public_key().as_ref();
        assert_eq!(point.len(), 65);
        assert_eq!(point[0], 0x04, "uncompressed point");
        let mut cbor = vec![0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21, 0x58, 0x20];
        cbor.extend_from_slice(&point[1..33]);
        cbor.extend_from_slice(&[0x22, 0x58, 0x20]);
        cbor.extend_from_slice(&point[33..65]);
        cbor
    }

    /// navigator.credentials.create(), serialised the way `webauthn.js` posts it.
    fn create(&mut self, options: &Value) -> Value {
        let client_data = self.client_data("webauthn.create", options);
        let mut auth_data = self.auth_data_prefix(self.flags | AT);
        auth_data.extend_from_slice(&[0u8; 16]); // AAGUID
        auth_data.extend_from_slice(
            &u16::try_from(self.cred_id.len())
                .expect("short credential id")
                .to_be_bytes(),
        );
        auth_data.extend_from_slice(&self.cred_id);
        auth_data.extend_from_slice(&self.cose_key());

        // {"fmt": "none", "attStmt": {}, "authData": h'...'}
        let mut attestation = vec![0xa3];
        attestation.extend_from_slice(b"\x63fmt\x64none\x67attStmt\xa0\x68authData");
        attestation.push(0x59);
        attestation.extend_from_slice(
            &u16::try_from(auth_data.len())
                .expect("short authenticator data")
                .to_be_bytes(),
        );
        attestation.extend_from_slice(&auth_data);

        json!({
            "id": B64.encode(&self.cred_id),
            "rawId": B64.encode(&self.cred_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": B64.encode(&client_data),
                "attestationObject": B64.encode(&attestation),
                "transports": ["internal"],
            },
            "extensions": {"credProps": {"rk": true}},
        })
    }

    /// navigator.credentials.get(), serialised the way `webauthn.js` posts it.
    fn get(&mut self, options: &Value) -> Value {
        self.counter += 1;
        let client_data = self.client_data("webauthn.get", options);
        let auth_data = self.auth_data_prefix(self.flags);
        let mut signed = auth_data.clone();
        signed.extend_from_slice(&Sha256::digest(&client_data));
        let signature = self
            .key
            .sign(&SystemRandom::new(), &signed)
            .expect("ECDSA signing");
        json!({
            "id": B64.encode(&self.cred_id),
            "rawId": B64.encode(&self.cred_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": B64.encode(&client_data),
                "authenticatorData": B64.encode(&auth_data),
                "signature": B64.encode(signature.as_ref()),
                "userHandle": B64.encode(user().as_bytes()),
            },
            "extensions": {},
        })
    }
}

/// Registers a passkey and returns (credential id, passkey JSON).
fn register(service: &PasskeyService, authenticator: &mut SoftAuthenticator) -> (String, String) {
    let (options, state) = service
        .start_registration(user(), "alice@example.com", "Alice", &[])
        .expect("registration starts");
    let response = authenticator.create(&options);
    service
        .finish_registration(&state, &response)
        .expect("registration finishes")
}

#[test]
fn full_registration_and_authentication_ceremony() {
    let service = service();
    let mut authenticator = SoftAuthenticator::new();

    let (cred_id, passkey) = register(&service, &mut authenticator);
    assert_eq!(cred_id, B64.encode(&authenticator.cred_id));

    let stored = vec![passkey];
    let (options, state) = service.start_authentication(&stored).unwrap();
    let allowed = options["publicKey"]["allowCredentials"].as_array().unwrap();
    assert_eq!(allowed.len(), 1);
    assert_eq!(allowed[0]["id"], json!(cred_id));
    assert_eq!(options["publicKey"]["rpId"], json!(RP_ID));
    assert_eq!(options["publicKey"]["userVerification"], json!("required"));

    let response = authenticator.get(&options);
    let (used, updated) = service
        .finish_authentication(&state, &stored, &response)
        .unwrap();
    assert_eq!(used, cred_id);
    // The counter went from 0 to 1, so the stored passkey must be replaced.
    assert_eq!(updated.len(), 1);
    assert_eq!(updated[0].0, cred_id);
    assert_ne!(updated[0].1, stored[0]);

    // A second sign-in with the updated passkey works and bumps the counter again.
    let stored = vec![updated[0].1.clone()];
    let (options, state) = service.start_authentication(&stored).unwrap();
    let response = authenticator.get(&options);
    let (used, updated) = service
        .finish_authentication(&state, &stored, &response)
        .unwrap();
    assert_eq!(used, cred_id);
    assert_eq!(updated.len(), 1);
}

#[test]
fn counter_that_does_not_advance_is_refused() {
    let service = service();
    let mut authenticator = SoftAuthenticator::new();
    let (_, passkey) = register(&service, &mut authenticator);

    let stored = vec![passkey];
    let (options, state) = service.start_authentication(&stored).unwrap();
    let response = authenticator.get(&options);
    let (_, updated) = service
        .finish_authentication(&state, &stored, &response)
        .unwrap();

    // A clone of the authenticator still at counter 0 signs with counter 1 again.
    let stored = vec![updated[0].1.clone()];
    let (options, state) = service.start_authentication(&stored).unwrap();
    authenticator.counter -= 1;
    let response = authenticator.get(&options);
    let error = service
        .finish_authentication(&state, &stored, &response)
        .unwrap_err();
    assert!(matches!(error, PasskeyError::Verification(_)), "{error}");
}

#[test]
fn registration_options_have_the_expected_shape() {
    let service = service();
    let excluded = B64.encode([9u8; 16]);
    let (options, state) = service
        .start_registration(
            user(),
            "alice@example.com",
            "Alice",
            std::slice::from_ref(&excluded),
        )
        .unwrap();
    let public_key = &options["publicKey"];
    assert_eq!(public_key["rp"]["id"], json!(RP_ID));
    assert_eq!(public_key["rp"]["name"], json!("Mailward"));
    assert_eq!(
        public_key["user"]["id"],
        json!(B64.encode(user().as_bytes()))
    );
    assert_eq!(public_key["user"]["name"], json!("alice@example.com"));
    assert_eq!(public_key["user"]["displayName"], json!("Alice"));
    assert!(public_key["challenge"].as_str().unwrap().len() >= 22);
    assert_eq!(public_key["excludeCredentials"][0]["id"], json!(excluded));
    assert_eq!(
        public_key["authenticatorSelection"]["userVerification"],
        json!("required")
    );
    assert!(
        public_key["pubKeyCredParams"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["alg"] == json!(-7))
    );
    serde_json::from_str::<Value>(&state).unwrap();

    // Two ceremonies never share a challenge.
    let (again, _) = service
        .start_registration(user(), "alice@example.com", "Alice", &[])
        .unwrap();
    assert_ne!(again["publicKey"]["challenge"], public_key["challenge"]);
    assert!(again["publicKey"].get("excludeCredentials").is_none());
}

#[test]
fn registration_is_refused_for_the_wrong_challenge_origin_or_rp() {
    let service = service();
    let (options, _) = service
        .start_registration(user(), "alice", "Alice", &[])
        .unwrap();
    let (_, other_state) = service
        .start_registration(user(), "alice", "Alice", &[])
        .unwrap();

    // Answer to another ceremony's challenge.
    let response = SoftAuthenticator::new().create(&options);
    assert!(matches!(
        service.finish_registration(&other_state, &response),
        Err(PasskeyError::Verification(_))
    ));

    let mut phishing = SoftAuthenticator::new();
    phishing.origin = "https://evil.example".to_owned();
    let (options, state) = service
        .start_registration(user(), "alice", "Alice", &[])
        .unwrap();
    let response = phishing.create(&options);
    assert!(matches!(
        service.finish_registration(&state, &response),
        Err(PasskeyError::Verification(_))
    ));

    let mut wrong_rp = SoftAuthenticator::new();
    wrong_rp.rp_id = "example.com".to_owned();
    let (options, state) = service
        .start_registration(user(), "alice", "Alice", &[])
        .unwrap();
    let response = wrong_rp.create(&options);
    assert!(matches!(
        service.finish_registration(&state, &response),
        Err(PasskeyError::Verification(_))
    ));

    // Without user verification a passkey is refused.
    let mut no_uv = SoftAuthenticator::new();
    no_uv.flags = UP;
    let (options, state) = service
        .start_registration(user(), "alice", "Alice", &[])
        .unwrap();
    let response = no_uv.create(&options);
    assert!(matches!(
        service.finish_registration(&state, &response),
        Err(PasskeyError::Verification(_))
    ));
}

#[test]
fn authentication_is_refused_for_a_bad_signature_or_unknown_key() {
    let service = service();
    let mut authenticator = SoftAuthenticator::new();
    let (_, passkey) = register(&service, &mut authenticator);
    let stored = vec![passkey];

    // Signed by another key that claims the same credential id.
    let (options, state) = service.start_authentication(&stored).unwrap();
    let mut impostor = SoftAuthenticator::new();
    let response = impostor.get(&options);
    assert!(matches!(
        service.finish_authentication(&state, &stored, &response),
        Err(PasskeyError::Verification(_))
    ));

    // A signature that does not cover the data.
    let (options, state) = service.start_authentication(&stored).unwrap();
    let mut response = authenticator.get(&options);
    let mut signature = B64
        .decode(response["response"]["signature"].as_str().unwrap())
        .unwrap();
    let last = signature.len() - 1;
    signature[last] ^= 0x01;
    response["response"]["signature"] = json!(B64.encode(&signature));
    assert!(matches!(
        service.finish_authentication(&state, &stored, &response),
        Err(PasskeyError::Verification(_))
    ));

    // A credential that was not offered.
    let (options, state) = service.start_authentication(&stored).unwrap();
    let mut stranger = SoftAuthenticator::new();
    stranger.cred_id = vec![0xee; 32];
    let response = stranger.get(&options);
    assert!(matches!(
        service.finish_authentication(&state, &stored, &response),
        Err(PasskeyError::Verification(_))
    ));

    // The right key at the wrong origin.
    let (options, state) = service.start_authentication(&stored).unwrap();
    authenticator.origin = "https://evil.example".to_owned();
    let response = authenticator.get(&options);
    assert!(matches!(
        service.finish_authentication(&state, &stored, &response),
        Err(PasskeyError::Verification(_))
    ));
}

#[test]
fn garbage_is_refused_with_the_right_error() {
    let service = service();
    let (_, reg_state) = service
        .start_registration(user(), "alice", "Alice", &[])
        .unwrap();
    for garbage in [
        json!(null),
        json!("x"),
        json!({}),
        json!({"id": "a", "rawId": "!!", "type": "public-key", "response": {}}),
    ] {
        assert!(matches!(
            service.finish_registration(&reg_state, &garbage),
            Err(PasskeyError::InvalidResponse(_))
        ));
    }
    // Well-formed JSON whose attestation object is not CBOR.
    let garbage = json!({
        "id": "AAAA", "rawId": "AAAA", "type": "public-key",
        "response": {"clientDataJSON": "AAAA", "attestationObject": "AAAA"},
    });
    assert!(matches!(
        service.finish_registration(&reg_state, &garbage),
        Err(PasskeyError::Verification(_))
    ));
    assert!(matches!(
        service.finish_registration("not json", &garbage),
        Err(PasskeyError::Serialization(_))
    ));

    let mut authenticator = SoftAuthenticator::new();
    let (_, passkey) = register(&service, &mut authenticator);
    let stored = vec![passkey];
    let (_, auth_state) = service.start_authentication(&stored).unwrap();
    assert!(matches!(
        service.finish_authentication(&auth_state, &stored, &json!({"id": 1})),
        Err(PasskeyError::InvalidResponse(_))
    ));
    assert!(matches!(
        service.finish_authentication(&reg_state, &stored, &json!({})),
        Err(PasskeyError::Serialization(_) | PasskeyError::InvalidResponse(_))
    ));
    assert!(matches!(
        service.start_authentication(&["{}".to_owned()]),
        Err(PasskeyError::Serialization(_))
    ));
    assert!(matches!(
        service.start_authentication(&[]),
        Err(PasskeyError::NoPasskeys)
    ));
    assert!(matches!(
        service.start_registration(user(), "alice", "Alice", &["*not base64*".to_owned()]),
        Err(PasskeyError::Serialization(_))
    ));
}

#[test]
fn rp_id_must_match_the_origin() {
    let origin = url::Url::parse("https://mail.example.com").unwrap();
    assert!(PasskeyService::new("example.com", &origin, "Mailward").is_ok());
    assert!(PasskeyService::new("mail.example.com", &origin, "Mailward").is_ok());
    assert!(matches!(
        PasskeyService::new("other.com", &origin, "Mailward"),
        Err(PasskeyError::Config)
    ));
}

#[test]
fn browser_script_is_exported() {
    let js = mailward_mfa::WEBAUTHN_JS;
    assert!(js.contains("window.mailwardPasskeyRegister"));
    assert!(js.contains("window.mailwardPasskeyAuthenticate"));
    assert!(js.contains("passkey-error"));
    assert!(!js.contains("http://") && !js.contains("https://"));
}
