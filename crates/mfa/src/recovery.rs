//! One-time recovery codes: a user's way back in when the second factor is lost.
//!
//! Codes are shown once and stored only as [`hash`]es; the caller deletes a hash when its
//! code is used. Each code is 12 characters from a 31-letter alphabet (59 bits), which is
//! out of reach of online guessing and makes a fast salted hash adequate.

use mailward_types::Secret;
use rand::Rng;
use sha2::{Digest, Sha256};

/// Number of codes in a set.
pub const COUNT: usize = 10;

/// Lower-case letters and digits without the look-alikes `0 o 1 l i`.
const ALPHABET: &[u8] = b"23456789abcdefghjkmnpqrstuvwxyz";
/// Characters per code: 12 × log2(31) ≈ 59.4 bits.
const CODE_LEN: usize = 12;
/// Characters between dashes in the displayed form.
const GROUP_LEN: usize = 4;

/// Ten random codes, human friendly, at least 50 bits of entropy each, e.g. "k7p2-9xq4-mw3r"
/// (lowercase base32-ish alphabet without ambiguous characters).
///
/// The ten codes are distinct: a duplicate (chance about 2^-53) is drawn again.
pub fn generate() -> Vec<Secret<String>> {
    let mut rng = rand::rng();
    let mut codes: Vec<Secret<String>> = Vec::with_capacity(COUNT);
    while codes.len() < COUNT {
        let mut code = String::with_capacity(CODE_LEN + CODE_LEN / GROUP_LEN);
        for i in 0..CODE_LEN {
            if i > 0 && i % GROUP_LEN == 0 {
                code.push('-');
            }
            code.push(char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]));
        }
        if codes.iter().all(|c| c.expose_secret() != &code) {
            codes.push(Secret::new(code));
        }
    }
    codes
}

/// Normalise user input (case, spaces, dashes) before hashing: lower-cases ASCII and drops
/// whitespace and dashes (including the typographic dashes that copy and paste produces),
/// so `" K7P2 9XQ4–MW3R "` becomes `"k7p29xq4mw3r"`.
pub fn normalize(code: &str) -> String {
    code.chars()
        .filter(|c| !c.is_whitespace() && !is_dash(*c))
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// Hash for storage: hex SHA-256 over (user id bytes || normalized code). Codes carry
/// enough entropy that a slow hash is unnecessary; the salt stops cross-user lookups.
///
/// The code is normalised here, so raw user input can be passed in directly.
pub fn hash(user_id: uuid::Uuid, code: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(user_id.as_bytes());
    hasher.update(normalize(code).as_bytes());
    hex::encode(hasher.finalize())
}

/// Hyphen-minus and the Unicode dashes people paste instead of it.
fn is_dash(c: char) -> bool {
    matches!(
        c,
        '-' | '\u{2010}' | '\u{2011}' | '\u{2012}' | '\u{2013}' | '\u{2014}' | '\u{2212}'
    )
}
