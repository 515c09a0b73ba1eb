//! Tokens for mailward: signing keys and their rotation, JWT signing and verification,
//! the published JWKS, the access and ID token claim sets, and sealing of secrets at rest.
//!
//! - [`seal`]: AES-256-GCM with the instance master key (the only file access in this crate).
//! - [`keys`]: generating keys as storable records; the pure rotation plan.
//! - [`keyset`]: the identity role's in-memory keys: sign, publish JWKS, verify.
//! - [`verify`]: the verification checks and [`verify::JwksVerifier`] for resource servers.
//! - [`claims`]: [`claims::AccessClaims`], [`claims::IdClaims`], `at_hash`.
//!
//! **Architecture invariant:** no clock reads; every decision takes `now`. All cryptography
//! is aws-lc-rs (rcgen uses it for key generation); keys are parsed once into a
//! [`keyset::KeySet`] or [`verify::JwksVerifier`] and reused for every token.

pub mod claims;
pub mod keys;
pub mod keyset;
pub mod seal;
pub mod verify;

mod jwk;
mod jws;

pub use claims::{AccessClaims, IdClaims, at_hash};
pub use keys::{KeyError, RotationAction, RotationPolicy, generate, plan_rotation};
pub use keyset::{Expect, KeySet};
pub use seal::{SealError, Sealer};
pub use verify::{JwksVerifier, MAX_TOKEN_LEN, VerifyError, peek_kid};
