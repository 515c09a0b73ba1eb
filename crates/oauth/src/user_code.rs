//! Device-flow user codes (RFC 8628 §6.1): eight characters from a 20-letter consonant
//! alphabet shown as `XXXX-XXXX` (about 34.5 bits), entered case-insensitively with or
//! without the dash.

use rand::Rng;

const ALPHABET: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";

/// A new user code for display, e.g. `WDJB-MJHT`.
pub fn generate() -> String {
    let mut rng = rand::rng();
    let mut s = String::with_capacity(9);
    for i in 0..8 {
        if i == 4 {
            s.push('-');
        }
        s.push(ALPHABET[rng.random_range(0..ALPHABET.len())] as char);
    }
    s
}

/// Canonical form for lookup: upper-case, separators and spaces removed. `None` if the
/// input cannot be a user code.
pub fn normalize(input: &str) -> Option<String> {
    let s: String = input
        .chars()
        .filter(|c| !matches!(c, '-' | ' ' | '\t'))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (s.len() == 8 && s.bytes().all(|b| ALPHABET.contains(&b))).then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_codes_normalize() {
        for _ in 0..100 {
            let c = generate();
            assert_eq!(c.len(), 9);
            assert_eq!(normalize(&c).unwrap(), c.replace('-', ""));
            assert_eq!(normalize(&c.to_lowercase()), normalize(&c));
        }
        assert_eq!(normalize("wdjb mjht").as_deref(), Some("WDJBMJHT"));
        assert_eq!(normalize("WDJB-MJHA"), None);
        assert_eq!(normalize("WDJB"), None);
    }
}
