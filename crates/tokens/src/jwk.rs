//! Public JSON Web Keys (RFC 7517, RFC 7518 §6) for the two supported algorithms:
//! the public parameters of a key, the published JWK built from them, the RFC 7638
//! thumbprint that names them, and the parsed aws-lc-rs verification key.
//!
//! Only public members are ever read or written here, so a published JWK cannot carry
//! private fields (`d`, `p`, `q`, `dp`, `dq`, `qi`) even if a stored record did.

use aws_lc_rs::digest;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mailward_types::model::TokenAlg;
use serde_json::{Map, Value, json};

/// Length in bytes of a P-256 field element (`x`, `y`).
const P256_COORD_LEN: usize = 32;
/// Smallest accepted RSA modulus, in bytes (2048 bits).
const RSA_MIN_MODULUS_LEN: usize = 256;
/// Largest accepted RSA modulus, in bytes (8192 bits).
const RSA_MAX_MODULUS_LEN: usize = 1024;

/// The public half of a signing key.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum PublicParams {
    /// P-256 point, affine coordinates, big-endian, each exactly 32 bytes.
    Ec {
        x: [u8; P256_COORD_LEN],
        y: [u8; P256_COORD_LEN],
    },
    /// RSA modulus and public exponent, big-endian without leading zeros.
    Rsa { n: Vec<u8>, e: Vec<u8> },
}

/// A JWK that was read from JSON: its `kid` (if any), algorithm and public parameters.
pub(crate) struct ParsedJwk {
    pub kid: Option<String>,
    pub alg: TokenAlg,
    pub params: PublicParams,
}

impl PublicParams {
    /// From an uncompressed SEC1 point (`0x04 || x || y`) as aws-lc-rs returns it.
    pub fn from_ec_point(point: &[u8]) -> Option<Self> {
        let rest = point.strip_prefix(&[0x04])?;
        if rest.len() != 2 * P256_COORD_LEN {
            return None;
        }
        let (x, y) = rest.split_at(P256_COORD_LEN);
        Some(PublicParams::Ec {
            x: x.try_into().ok()?,
            y: y.try_into().ok()?,
        })
    }

    /// From RSA components (leading zero bytes are removed).
    pub fn from_rsa(n: &[u8], e: &[u8]) -> Self {
        PublicParams::Rsa {
            n: strip_leading_zeros(n).to_vec(),
            e: strip_leading_zeros(e).to_vec(),
        }
    }

    /// The one algorithm this key is used with.
    pub fn alg(&self) -> TokenAlg {
        match self {
            PublicParams::Ec { .. } => TokenAlg::ES256,
            PublicParams::Rsa { .. } => TokenAlg::RS256,
        }
    }

    /// The RFC 7638 JWK thumbprint (SHA-256 over the required members in lexicographic
    /// order, no whitespace).
    pub fn thumbprint(&self) -> [u8; 32] {
        let canonical = match self {
            PublicParams::Ec { x, y } => format!(
                r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
                b64(x),
                b64(y)
            ),
            PublicParams::Rsa { n, e } => {
                format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, b64(e), b64(n))
            }
        };
        let mut out = [0u8; 32];
        out.copy_from_slice(digest::digest(&digest::SHA256, canonical.as_bytes()).as_ref());
        out
    }

    /// The key id: base64url of the first 16 bytes of the RFC 7638 thumbprint.
    pub fn kid(&self) -> String {
        b64(&self.thumbprint()[..16])
    }

    /// The JWK as published in JWKS: public members plus `kid`, `alg` and `use: sig`.
    pub fn to_jwk(&self, kid: &str) -> Value {
        let alg = self.alg().as_str();
        match self {
            PublicParams::Ec { x, y } => json!({
                "kty": "EC", "crv": "P-256", "x": b64(x), "y": b64(y),
                "kid": kid, "alg": alg, "use": "sig",
            }),
            PublicParams::Rsa { n, e } => json!({
                "kty": "RSA", "n": b64(n), "e": b64(e),
                "kid": kid, "alg": alg, "use": "sig",
            }),
        }
    }

    /// The parsed aws-lc-rs key, ready for repeated verification.
    pub fn verification_key(&self) -> Result<ParsedPublicKey, &'static str> {
        match self {
            PublicParams::Ec { x, y } => {
                let mut point = Vec::with_capacity(1 + 2 * P256_COORD_LEN);
                point.push(0x04);
                point.extend_from_slice(x);
                point.extend_from_slice(y);
                ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
                    .map_err(|_| "EC point is not on P-256")
            }
            PublicParams::Rsa { n, e } => {
                if n.len() < RSA_MIN_MODULUS_LEN || n.len() > RSA_MAX_MODULUS_LEN {
                    return Err("RSA modulus must be 2048 to 8192 bits");
                }
                RsaPublicKeyComponents {
                    n: n.as_slice(),
                    e: e.as_slice(),
                }
                .to_parsed_public_key(&RSA_PKCS1_2048_8192_SHA256)
                .map_err(|_| "invalid RSA public key")
            }
        }
    }
}

impl ParsedJwk {
    /// Reads a JWK. Accepts `kty: EC` with `crv: P-256` (ES256) and `kty: RSA` (RS256);
    /// `alg`, if present, must agree; `use`, if present, must be `sig`. Private members are
    /// ignored, never copied.
    pub fn from_value(jwk: &Value) -> Result<Self, &'static str> {
        let obj = jwk.as_object().ok_or("JWK is not an object")?;
        if obj
            .get("use")
            .is_some_and(|usage| usage.as_str() != Some("sig"))
        {
            return Err("JWK is not for signatures");
        }
        let kid = match obj.get("kid") {
            None => None,
            Some(Value::String(kid)) => Some(kid.clone()),
            Some(_) => return Err("JWK kid is not a string"),
        };
        let params = match str_member(obj, "kty")? {
            "EC" => {
                if str_member(obj, "crv")? != "P-256" {
                    return Err("unsupported EC curve");
                }
                let x = b64_member(obj, "x")?;
                let y = b64_member(obj, "y")?;
                PublicParams::Ec {
                    x: x.try_into().map_err(|_| "EC x is not 32 bytes")?,
                    y: y.try_into().map_err(|_| "EC y is not 32 bytes")?,
                }
            }
            "RSA" => PublicParams::from_rsa(&b64_member(obj, "n")?, &b64_member(obj, "e")?),
            _ => return Err("unsupported key type"),
        };
        let alg = params.alg();
        if obj
            .get("alg")
            .is_some_and(|declared| declared.as_str() != Some(alg.as_str()))
        {
            return Err("JWK alg does not match its key type");
        }
        Ok(ParsedJwk { kid, alg, params })
    }
}

/// Unpadded base64url (RFC 7515 §2).
pub(crate) fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn str_member<'a>(
    obj: &'a Map<String, Value>,
    name: &'static str,
) -> Result<&'a str, &'static str> {
    obj.get(name)
        .and_then(Value::as_str)
        .ok_or("JWK lacks a required member")
}

fn b64_member(obj: &Map<String, Value>, name: &'static str) -> Result<Vec<u8>, &'static str> {
    URL_SAFE_NO_PAD
        .decode(str_member(obj, name)?)
        .map_err(|_| "JWK member is not base64url")
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7638 §3.1: the example RSA key and its thumbprint.
    #[test]
    fn rfc7638_known_answer() {
        let jwk = json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        });
        let parsed = ParsedJwk::from_value(&jwk).unwrap();
        assert_eq!(parsed.kid.as_deref(), Some("2011-04-29"));
        assert_eq!(parsed.alg, TokenAlg::RS256);
        assert_eq!(
            b64(&parsed.params.thumbprint()),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
        assert_eq!(parsed.params.kid(), b64(&parsed.params.thumbprint()[..16]));
        assert!(parsed.params.verification_key().is_ok());
    }

    #[test]
    fn published_jwk_round_trips_and_has_no_private_members() {
        let jwk = json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "d": "secret", "p": "secret", "q": "secret",
        });
        let parsed = ParsedJwk::from_value(&jwk).unwrap();
        let out = parsed.params.to_jwk("k1");
        let keys: Vec<&str> = out
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut sorted = keys.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, ["alg", "e", "kid", "kty", "n", "use"]);
        assert!(ParsedJwk::from_value(&out).unwrap().params == parsed.params);
    }

    fn rejects(jwk: Value) {
        let result = ParsedJwk::from_value(&jwk).and_then(|p| p.params.verification_key());
        assert!(result.is_err(), "accepted {jwk}");
    }

    #[test]
    fn bad_jwks_are_rejected() {
        let x = b64(&[1u8; 32]);
        rejects(json!("string"));
        rejects(json!({"kty": "oct", "k": "AAAA"}));
        rejects(json!({"kty": "OKP", "crv": "Ed25519", "x": x}));
        rejects(json!({"kty": "EC", "crv": "P-384", "x": x, "y": x}));
        rejects(json!({"kty": "EC", "crv": "P-256", "x": x}));
        rejects(json!({"kty": "EC", "crv": "P-256", "x": b64(&[1u8; 31]), "y": x}));
        // Not on the curve.
        rejects(json!({"kty": "EC", "crv": "P-256", "x": x, "y": x}));
        rejects(json!({"kty": "EC", "crv": "P-256", "x": "!!", "y": x}));
        // Too small an RSA modulus.
        rejects(json!({"kty": "RSA", "n": b64(&[0xC5; 128]), "e": "AQAB"}));
        rejects(json!({"kty": "RSA", "n": b64(&[0xC5; 256]), "e": "AQAB", "alg": "ES256"}));
        rejects(json!({"kty": "RSA", "n": b64(&[0xC5; 256]), "e": "AQAB", "use": "enc"}));
        rejects(json!({"kty": "RSA", "n": b64(&[0xC5; 256]), "e": "AQAB", "kid": 5}));
    }
}
