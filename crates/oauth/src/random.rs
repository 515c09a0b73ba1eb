//! Opaque secrets (codes, refresh tokens, session cookies) and their storage hashes.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// A fresh 256-bit secret, base64url without padding (43 characters).
pub fn token() -> String {
    let mut buf = [0u8; 32];
    rand::rng().fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// How secrets are stored: hex SHA-256. The secrets carry 256 bits of entropy, so a fast
/// hash is enough; the database never holds a usable code or token.
pub fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_and_hash_is_stable() {
        let a = token();
        let b = token();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(hash("x"), hash("x"));
        assert_eq!(hash("x").len(), 64);
    }
}
