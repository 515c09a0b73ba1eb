//! Signing keys: generating a new key as a storable [`SigningKey`] record, the private-key
//! handle used for signing, and the pure rotation plan ([`plan_rotation`]).

mod rotation;

use std::fmt;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair, RSA_PKCS1_SHA256, RsaKeyPair,
    RsaPublicKeyComponents,
};
use mailward_types::model::TokenAlg;
use mailward_types::records::SigningKey;
use time::OffsetDateTime;

use crate::jwk::PublicParams;
use crate::seal::{SealError, Sealer};

pub(crate) use rotation::signing_order;
pub use rotation::{RotationAction, RotationPolicy, plan_rotation};

/// Why generating, loading or using a signing key failed.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key generator failed.
    #[error("cannot generate a {} key: {reason}", alg.as_str())]
    Generate { alg: TokenAlg, reason: String },
    /// Sealing a new private key failed.
    #[error("cannot seal the new private key: {0}")]
    Seal(#[source] SealError),
    /// A stored private key could not be opened (tampered, or another master key).
    #[error("signing key {kid}: cannot open the sealed private key: {source}")]
    Unseal {
        kid: String,
        #[source]
        source: SealError,
    },
    /// A stored key record is inconsistent or unusable.
    #[error("signing key {kid}: {reason}")]
    InvalidKey { kid: String, reason: &'static str },
    /// No key may sign for this algorithm now.
    #[error("no active signing key for {}", .0.as_str())]
    NoSigner(TokenAlg),
    /// The claims could not be serialized to JSON.
    #[error("cannot serialize token claims: {0}")]
    Serialize(#[from] serde_json::Error),
    /// The signature operation failed.
    #[error("signing with key {kid} failed")]
    Sign { kid: String },
}

impl KeyError {
    /// A stable, greppable code.
    pub fn code(&self) -> &'static str {
        match self {
            KeyError::Generate { .. } => "key_generate",
            KeyError::Seal(_) => "key_seal",
            KeyError::Unseal { .. } => "key_unseal",
            KeyError::InvalidKey { .. } => "key_invalid",
            KeyError::NoSigner(_) => "key_no_signer",
            KeyError::Serialize(_) => "key_serialize",
            KeyError::Sign { .. } => "key_sign",
        }
    }
}

/// Generates a new key for `alg`: ES256 is a P-256 key, RS256 an RSA 2048-bit key (rcgen
/// with the aws-lc-rs backend).
///
/// The record holds the PKCS#8 private key sealed with `sealer` and the public JWK (with
/// `kid`, `alg` and `use: sig`). `kid` is the base64url of the first 16 bytes of the RFC 7638
/// SHA-256 thumbprint. The key signs from `now` on (`active_from = created_at = now`); it is
/// neither retired nor expiring.
pub fn generate(
    alg: TokenAlg,
    sealer: &Sealer,
    now: OffsetDateTime,
) -> Result<SigningKey, KeyError> {
    let rcgen_alg = match alg {
        TokenAlg::ES256 => &rcgen::PKCS_ECDSA_P256_SHA256,
        TokenAlg::RS256 => &rcgen::PKCS_RSA_SHA256,
    };
    let generated = rcgen::KeyPair::generate_for(rcgen_alg).map_err(|e| KeyError::Generate {
        alg,
        reason: e.to_string(),
    })?;
    let pkcs8 = generated.serialized_der();
    let private = PrivateKey::from_pkcs8(alg, pkcs8).ok_or_else(|| KeyError::Generate {
        alg,
        reason: "generated key cannot be loaded".to_string(),
    })?;
    let params = private.public_params().ok_or_else(|| KeyError::Generate {
        alg,
        reason: "generated key has no usable public key".to_string(),
    })?;
    let kid = params.kid();
    let sealed_private_key = sealer.try_seal(pkcs8).map_err(KeyError::Seal)?;
    Ok(SigningKey {
        public_jwk: params.to_jwk(&kid).to_string(),
        kid,
        alg,
        sealed_private_key,
        created_at: now,
        active_from: now,
        retired_at: None,
        expires_at: None,
    })
}

/// A loaded private key, parsed once and reused for every signature.
pub(crate) enum PrivateKey {
    Ec(EcdsaKeyPair),
    Rsa(RsaKeyPair),
}

impl PrivateKey {
    /// Parses an unencrypted PKCS#8 private key of the given algorithm.
    pub fn from_pkcs8(alg: TokenAlg, pkcs8: &[u8]) -> Option<Self> {
        match alg {
            TokenAlg::ES256 => EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8)
                .ok()
                .map(PrivateKey::Ec),
            TokenAlg::RS256 => RsaKeyPair::from_pkcs8(pkcs8).ok().map(PrivateKey::Rsa),
        }
    }

    /// The public half, as published.
    pub fn public_params(&self) -> Option<PublicParams> {
        match self {
            PrivateKey::Ec(key) => PublicParams::from_ec_point(key.public_key().as_ref()),
            PrivateKey::Rsa(key) => {
                let components = RsaPublicKeyComponents::<Vec<u8>>::from(key.public_key());
                Some(PublicParams::from_rsa(&components.n, &components.e))
            }
        }
    }

    /// Signs `message`: ES256 gives the 64-byte `r || s` form JWS requires (RFC 7518
    /// §3.4), RS256 is RSASSA-PKCS1-v1_5 with SHA-256.
    pub fn sign(&self, message: &[u8]) -> Option<Vec<u8>> {
        let rng = SystemRandom::new();
        match self {
            PrivateKey::Ec(key) => key.sign(&rng, message).ok().map(|s| s.as_ref().to_vec()),
            PrivateKey::Rsa(key) => {
                let mut signature = vec![0u8; key.public_modulus_len()];
                key.sign(&RSA_PKCS1_SHA256, &rng, message, &mut signature)
                    .ok()?;
                Some(signature)
            }
        }
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PrivateKey::Ec(_) => "PrivateKey(ES256, ***)",
            PrivateKey::Rsa(_) => "PrivateKey(RS256, ***)",
        })
    }
}
