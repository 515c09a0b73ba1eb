//! Recovery codes: format, distinctness, normalisation and per-user hashing.

use std::collections::HashSet;

use mailward_mfa::recovery::{self, COUNT};
use proptest::prelude::*;

const ALPHABET: &str = "23456789abcdefghjkmnpqrstuvwxyz";

fn user(n: u128) -> uuid::Uuid {
    uuid::Uuid::from_u128(n)
}

#[test]
fn ten_distinct_well_formed_codes() {
    let codes = recovery::generate();
    assert_eq!(codes.len(), COUNT);
    let distinct: HashSet<&String> = codes.iter().map(|c| c.expose_secret()).collect();
    assert_eq!(distinct.len(), COUNT);
    for code in &codes {
        let code = code.expose_secret();
        let groups: Vec<&str> = code.split('-').collect();
        assert_eq!(groups.len(), 3, "{code}");
        for group in groups {
            assert_eq!(group.len(), 4, "{code}");
            assert!(group.chars().all(|c| ALPHABET.contains(c)), "{code}");
        }
    }
}

#[test]
fn codes_carry_at_least_50_bits() {
    let bits = 12.0 * (ALPHABET.len() as f64).log2();
    assert!(bits >= 50.0, "{bits}");
}

#[test]
fn two_sets_do_not_overlap() {
    let a: HashSet<String> = recovery::generate()
        .into_iter()
        .map(|c| c.into_exposed())
        .collect();
    assert!(
        recovery::generate()
            .iter()
            .all(|c| !a.contains(c.expose_secret()))
    );
}

#[test]
fn normalize_strips_case_spaces_and_dashes() {
    for input in [
        "k7p2-9xq4-mw3r",
        "K7P2-9XQ4-MW3R",
        " k7p2 9xq4 mw3r ",
        "k7p29xq4mw3r",
        "k7p2\u{2013}9xq4\u{2014}mw3r",
        "K7P2 - 9XQ4 - MW3R\n",
    ] {
        assert_eq!(recovery::normalize(input), "k7p29xq4mw3r", "{input:?}");
    }
}

#[test]
fn generated_codes_round_trip_through_user_typing() {
    for code in recovery::generate() {
        let code = code.expose_secret();
        let typed = code.to_uppercase().replace('-', " ");
        assert_eq!(recovery::normalize(&typed), recovery::normalize(code));
        assert_eq!(
            recovery::hash(user(1), &typed),
            recovery::hash(user(1), code)
        );
    }
}

#[test]
fn hash_is_hex_sha256_of_user_id_and_normalized_code() {
    let hash = recovery::hash(user(0), "K7P2-9XQ4-MW3R");
    assert_eq!(hash.len(), 64);
    assert!(
        hash.chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    );
    use sha2::Digest;
    let mut input = vec![0u8; 16];
    input.extend_from_slice(b"k7p29xq4mw3r");
    assert_eq!(hash, hex::encode(sha2::Sha256::digest(&input)));
}

#[test]
fn hash_differs_per_user_and_per_code() {
    let code = "k7p2-9xq4-mw3r";
    assert_ne!(recovery::hash(user(1), code), recovery::hash(user(2), code));
    assert_ne!(
        recovery::hash(user(1), code),
        recovery::hash(user(1), "k7p2-9xq4-mw3s")
    );
}

proptest! {
    #[test]
    fn normalize_is_idempotent(input in "\\PC{0,40}") {
        let once = recovery::normalize(&input);
        prop_assert_eq!(recovery::normalize(&once), once);
    }
}
