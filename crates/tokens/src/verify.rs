//! JWT verification: the checks every token goes through ([`VerifyError`] names each way it
//! can fail), and [`JwksVerifier`] for resource servers that only hold a JWKS document
//! fetched from the identity role. [`crate::keyset::KeySet::verify`] runs the same checks.
//!
//! Order of checks: size and shape, header, algorithm allow-list, key by `kid`, algorithm
//! against the key's own algorithm, signature, and only then the claims (`iss`, `aud`,
//! `exp`, `nbf`), so claim errors are reported only for authentic tokens.

use std::collections::HashMap;
use std::fmt;

use aws_lc_rs::signature::ParsedPublicKey;
use mailward_types::model::TokenAlg;
use serde_json::Value;
use time::OffsetDateTime;

use crate::jwk::{ParsedJwk, PublicParams};
use crate::jws::{Compact, decode_b64};
use crate::keyset::Expect;

pub use crate::jws::MAX_TOKEN_LEN;

/// Why a token was refused. [`VerifyError::code`] gives a stable code for logs and
/// introspection responses.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// Not a compact JWS: wrong number of parts, bad base64url, a header or payload that is
    /// not a JSON object, a `crit` header, or longer than [`MAX_TOKEN_LEN`].
    #[error("token is malformed")]
    Malformed,
    /// No published key has the token's `kid` (or the header has none).
    #[error("token is signed with an unknown key")]
    UnknownKey,
    /// `alg` is `none`, unsupported, not in the caller's list, or not the key's algorithm.
    #[error("token algorithm is not allowed")]
    AlgorithmNotAllowed,
    /// The signature does not verify with the named key.
    #[error("token signature is invalid")]
    BadSignature,
    /// `exp` is in the past, beyond the leeway.
    #[error("token has expired")]
    Expired,
    /// `nbf` is in the future, beyond the leeway.
    #[error("token is not valid yet")]
    NotYetValid,
    /// `iss` is missing or not the expected issuer.
    #[error("token issuer is not accepted")]
    WrongIssuer,
    /// `aud` is missing or does not contain the expected audience.
    #[error("token audience is not accepted")]
    WrongAudience,
    /// A required claim is missing or has the wrong type.
    #[error("token claim {0} is missing or invalid")]
    MissingClaim(&'static str),
    /// The JWKS document is not of the form `{"keys": [...]}`.
    #[error("JWKS document is invalid: {0}")]
    InvalidJwks(&'static str),
}

impl VerifyError {
    /// A stable, greppable code.
    pub fn code(&self) -> &'static str {
        match self {
            VerifyError::Malformed => "token_malformed",
            VerifyError::UnknownKey => "token_unknown_key",
            VerifyError::AlgorithmNotAllowed => "token_alg_not_allowed",
            VerifyError::BadSignature => "token_bad_signature",
            VerifyError::Expired => "token_expired",
            VerifyError::NotYetValid => "token_not_yet_valid",
            VerifyError::WrongIssuer => "token_wrong_issuer",
            VerifyError::WrongAudience => "token_wrong_audience",
            VerifyError::MissingClaim(_) => "token_missing_claim",
            VerifyError::InvalidJwks(_) => "jwks_invalid",
        }
    }
}

/// Verification keys by `kid`, parsed once.
pub struct JwksVerifier {
    keys: HashMap<String, VerifyKey>,
}

/// One parsed public key and the only algorithm it may be used with.
pub(crate) struct VerifyKey {
    alg: TokenAlg,
    key: ParsedPublicKey,
}

impl VerifyKey {
    pub(crate) fn new(alg: TokenAlg, params: &PublicParams) -> Result<Self, &'static str> {
        Ok(VerifyKey {
            alg,
            key: params.verification_key()?,
        })
    }
}

impl JwksVerifier {
    /// Builds a verifier from a JWKS document (`{"keys": [...]}`).
    ///
    /// Keys that cannot be used are skipped rather than failing the whole document: keys
    /// without a `kid`, with `use` other than `sig`, of other types or curves, with an `alg`
    /// that does not fit the key, or with invalid material. Of two keys with the same `kid`
    /// the first wins. A token naming a skipped key fails with [`VerifyError::UnknownKey`].
    pub fn from_jwks(jwks: &Value) -> Result<Self, VerifyError> {
        let keys = jwks
            .get("keys")
            .and_then(Value::as_array)
            .ok_or(VerifyError::InvalidJwks("no \"keys\" array"))?;
        let mut map = HashMap::with_capacity(keys.len());
        for jwk in keys {
            let Ok(ParsedJwk {
                kid: Some(kid),
                alg,
                params,
            }) = ParsedJwk::from_value(jwk)
            else {
                continue;
            };
            if map.contains_key(&kid) {
                continue;
            }
            if let Ok(key) = VerifyKey::new(alg, &params) {
                map.insert(kid, key);
            }
        }
        Ok(JwksVerifier { keys: map })
    }

    pub(crate) fn from_keys(keys: HashMap<String, VerifyKey>) -> Self {
        JwksVerifier { keys }
    }

    /// Whether a key with this `kid` is known (if not, the caller may refresh the JWKS).
    pub fn has_kid(&self, kid: &str) -> bool {
        self.keys.contains_key(kid)
    }

    /// Verifies `token` against these keys and `expect` at `now`; returns the claims.
    ///
    /// See [`crate::keyset::KeySet::verify`] for the checks.
    pub fn verify(
        &self,
        token: &str,
        expect: &Expect,
        now: OffsetDateTime,
    ) -> Result<Value, VerifyError> {
        let compact = Compact::parse(token)?;
        let alg = TokenAlg::parse(&compact.header.alg)
            .filter(|alg| alg.as_str() == compact.header.alg && expect.algs.contains(alg))
            .ok_or(VerifyError::AlgorithmNotAllowed)?;
        let key = compact
            .header
            .kid
            .as_deref()
            .and_then(|kid| self.keys.get(kid))
            .ok_or(VerifyError::UnknownKey)?;
        if key.alg != alg {
            return Err(VerifyError::AlgorithmNotAllowed);
        }
        let signature = decode_b64(compact.signature_b64)?;
        key.key
            .verify_sig(compact.signing_input, &signature)
            .map_err(|_| VerifyError::BadSignature)?;

        let claims: Value = serde_json::from_slice(&decode_b64(compact.payload_b64)?)
            .map_err(|_| VerifyError::Malformed)?;
        check_claims(&claims, expect, now)?;
        Ok(claims)
    }
}

impl fmt::Debug for JwksVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut kids: Vec<(&str, &str)> = self
            .keys
            .iter()
            .map(|(kid, key)| (kid.as_str(), key.alg.as_str()))
            .collect();
        kids.sort_unstable();
        f.debug_struct("JwksVerifier").field("keys", &kids).finish()
    }
}

/// Reads the `kid` from a token's header without verifying anything, to decide whether the
/// JWKS needs refreshing. `None` for malformed tokens and tokens without a `kid`.
pub fn peek_kid(token: &str) -> Option<String> {
    Compact::parse(token).ok()?.header.kid
}

/// The registered claims checks (RFC 7519 §4.1) for an authentically signed payload.
fn check_claims(claims: &Value, expect: &Expect, now: OffsetDateTime) -> Result<(), VerifyError> {
    let claims = claims.as_object().ok_or(VerifyError::Malformed)?;

    if claims.get("iss").and_then(Value::as_str) != Some(expect.issuer.as_str()) {
        return Err(VerifyError::WrongIssuer);
    }

    if let Some(audience) = &expect.audience {
        let matches = match claims.get("aud") {
            Some(Value::String(aud)) => aud == audience,
            Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(audience)),
            _ => false,
        };
        if !matches {
            return Err(VerifyError::WrongAudience);
        }
    }

    let now = now.unix_timestamp();
    let leeway = expect.leeway_secs.max(0);
    let exp = numeric_date(claims.get("exp"), f64::floor)
        .ok_or(VerifyError::MissingClaim("exp"))?
        .ok_or(VerifyError::MissingClaim("exp"))?;
    // RFC 7519 §4.1.4: the token must not be accepted on or after `exp`.
    if now >= exp.saturating_add(leeway) {
        return Err(VerifyError::Expired);
    }
    let nbf = numeric_date(claims.get("nbf"), f64::ceil).ok_or(VerifyError::MissingClaim("nbf"))?;
    // RFC 7519 §4.1.5: the token must not be accepted before `nbf`.
    if nbf.is_some_and(|nbf| now.saturating_add(leeway) < nbf) {
        return Err(VerifyError::NotYetValid);
    }
    Ok(())
}

/// A NumericDate (RFC 7519 §2) in whole seconds: `Some(None)` if absent, `None` if present
/// but not a number. A fractional value is rounded with `round` (callers round towards the
/// stricter side: `exp` down, `nbf` up); out-of-range values saturate.
fn numeric_date(value: Option<&Value>, round: fn(f64) -> f64) -> Option<Option<i64>> {
    match value {
        None => Some(None),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(i) => Some(Some(i)),
            None => n.as_f64().map(|f| Some(round(f) as i64)),
        },
        Some(_) => None,
    }
}
