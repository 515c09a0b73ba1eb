//! [`KeySet`]: the signing and verification material of the identity role, built from the
//! stored [`SigningKey`] records at one instant. Private keys are opened and parsed once
//! here; signing and verifying never re-parse a key.

use std::collections::HashMap;
use std::fmt;

use mailward_types::model::TokenAlg;
use mailward_types::records::SigningKey;
use serde::Serialize;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::jwk::{ParsedJwk, PublicParams};
use crate::jws;
use crate::keys::{KeyError, PrivateKey, signing_order};
use crate::seal::Sealer;
use crate::verify::{JwksVerifier, VerifyError, VerifyKey};

/// What a verified token must satisfy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expect {
    /// Exact value of `iss`.
    pub issuer: String,
    /// If set, `aud` must be this string or an array containing it.
    pub audience: Option<String>,
    /// Algorithms accepted in the header; anything else (including `none`) is refused.
    pub algs: Vec<TokenAlg>,
    /// Clock skew tolerated for `exp` and `nbf`, in seconds (negative counts as 0).
    pub leeway_secs: i64,
}

/// Signing keys (one per algorithm at most) and every published verification key.
pub struct KeySet {
    signers: Vec<Signer>,
    verifier: JwksVerifier,
    /// Published JWKs, newest first.
    published: Vec<Value>,
}

struct Signer {
    kid: String,
    alg: TokenAlg,
    key: PrivateKey,
}

impl KeySet {
    /// Builds the key set as of `now`.
    ///
    /// - Published (in JWKS and accepted for verification): every key with `expires_at` unset
    ///   or after `now`, including keys whose `active_from` is still ahead.
    /// - Signer per algorithm: the newest published key with `active_from <= now` that is not
    ///   retired (`retired_at` unset or after `now`); newest by `active_from`, then
    ///   `created_at`, then `kid`. Only signers' private keys are opened.
    ///
    /// Fails on a sealed private key that does not open (tampered, or another master key),
    /// on a private key that does not match its published JWK, on a public JWK that cannot be
    /// read or whose `kid`/`alg` disagree with the record, and on duplicate `kid`s.
    pub fn from_records(
        keys: &[SigningKey],
        sealer: &Sealer,
        now: OffsetDateTime,
    ) -> Result<KeySet, KeyError> {
        let mut published_records: Vec<&SigningKey> = keys
            .iter()
            .filter(|k| k.expires_at.is_none_or(|e| e > now))
            .collect();
        published_records.sort_by(|a, b| signing_order(b, a));

        let mut verify_keys = HashMap::with_capacity(published_records.len());
        let mut published = Vec::with_capacity(published_records.len());
        let mut params_by_kid = HashMap::with_capacity(published_records.len());
        for record in &published_records {
            let params = stored_public_params(record)?;
            let key =
                VerifyKey::new(record.alg, &params).map_err(|reason| invalid(record, reason))?;
            if verify_keys.insert(record.kid.clone(), key).is_some() {
                return Err(invalid(record, "duplicate kid"));
            }
            published.push(params.to_jwk(&record.kid));
            params_by_kid.insert(record.kid.as_str(), params);
        }

        let mut signers = Vec::new();
        for record in &published_records {
            let can_sign = record.active_from <= now && record.retired_at.is_none_or(|r| r > now);
            if !can_sign || signers.iter().any(|s: &Signer| s.alg == record.alg) {
                continue;
            }
            let pkcs8 =
                sealer
                    .open(&record.sealed_private_key)
                    .map_err(|source| KeyError::Unseal {
                        kid: record.kid.clone(),
                        source,
                    })?;
            let key = PrivateKey::from_pkcs8(record.alg, &pkcs8).ok_or_else(|| {
                invalid(record, "private key is not a PKCS#8 key of its algorithm")
            })?;
            if key.public_params().as_ref() != params_by_kid.get(record.kid.as_str()) {
                return Err(invalid(
                    record,
                    "private key does not match the published JWK",
                ));
            }
            signers.push(Signer {
                kid: record.kid.clone(),
                alg: record.alg,
                key,
            });
        }

        Ok(KeySet {
            signers,
            verifier: JwksVerifier::from_keys(verify_keys),
            published,
        })
    }

    /// Signs `claims` as a JWT with the signer for `alg`. The header is
    /// `{"alg", "kid", "typ"}` with `typ` as given (e.g. `"JWT"`, `"at+jwt"`).
    pub fn sign<T: Serialize>(
        &self,
        alg: TokenAlg,
        typ: &str,
        claims: &T,
    ) -> Result<String, KeyError> {
        let signer = self
            .signers
            .iter()
            .find(|s| s.alg == alg)
            .ok_or(KeyError::NoSigner(alg))?;
        let header = serde_json::to_vec(&jws::OutHeader {
            alg: alg.as_str(),
            kid: &signer.kid,
            typ,
        })?;
        let payload = serde_json::to_vec(claims)?;
        jws::encode(&header, &payload, |input| {
            signer.key.sign(input).ok_or_else(|| KeyError::Sign {
                kid: signer.kid.clone(),
            })
        })
    }

    /// The JWKS document, `{"keys": [...]}`, newest key first. Only public members appear.
    pub fn jwks(&self) -> Value {
        json!({ "keys": self.published })
    }

    /// Verifies `token` and returns its claims.
    ///
    /// Checks, in order: at most [`crate::verify::MAX_TOKEN_LEN`] bytes and three base64url
    /// parts; header `alg` is one of `expect.algs` (`none` and every other algorithm are
    /// refused); `kid` names a published key; `alg` is that key's algorithm (so an HS256
    /// token "signed" with a public key is refused); the signature; `iss` equals
    /// `expect.issuer`; `aud` is or contains `expect.audience` if set; `exp` is present and
    /// `now < exp + leeway`; `nbf`, if present, `nbf <= now + leeway`.
    pub fn verify(
        &self,
        token: &str,
        expect: &Expect,
        now: OffsetDateTime,
    ) -> Result<Value, VerifyError> {
        self.verifier.verify(token, expect, now)
    }

    /// The `kid` that signs for `alg`, if any.
    pub fn signing_kid(&self, alg: TokenAlg) -> Option<&str> {
        self.signers
            .iter()
            .find(|s| s.alg == alg)
            .map(|s| s.kid.as_str())
    }

    /// The verification half alone (same keys as [`KeySet::jwks`]).
    pub fn verifier(&self) -> &JwksVerifier {
        &self.verifier
    }
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let signers: Vec<(&str, &str)> = self
            .signers
            .iter()
            .map(|s| (s.alg.as_str(), s.kid.as_str()))
            .collect();
        f.debug_struct("KeySet")
            .field("signers", &signers)
            .field("verifier", &self.verifier)
            .finish()
    }
}

/// The public parameters of a stored key, checked against the record.
fn stored_public_params(record: &SigningKey) -> Result<PublicParams, KeyError> {
    let value: Value = serde_json::from_str(&record.public_jwk)
        .map_err(|_| invalid(record, "public JWK is not JSON"))?;
    let jwk = ParsedJwk::from_value(&value).map_err(|reason| invalid(record, reason))?;
    if jwk.kid.as_deref().is_some_and(|kid| kid != record.kid) {
        return Err(invalid(record, "public JWK kid differs from the record"));
    }
    if jwk.alg != record.alg {
        return Err(invalid(
            record,
            "public JWK key type differs from the record's alg",
        ));
    }
    Ok(jwk.params)
}

fn invalid(record: &SigningKey, reason: &'static str) -> KeyError {
    KeyError::InvalidKey {
        kid: record.kid.clone(),
        reason,
    }
}
