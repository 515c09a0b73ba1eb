//! TOTP: RFC 6238 Appendix B known answers, the ±1 step window, input rules, the otpauth
//! URI and the manual key.

use mailward_mfa::totp::{self, DIGITS, STEP_SECS};
use proptest::prelude::*;

/// The SHA-1 seed of RFC 6238 Appendix B.
const RFC_SECRET: &[u8] = b"12345678901234567890";

/// RFC 6238 Appendix B, SHA-1 column: (time, 8-digit TOTP). Truncation is mod 10^digits, so
/// the 6-digit code is the last six digits.
const RFC_VECTORS: &[(i64, &str)] = &[
    (59, "94287082"),
    (1_111_111_109, "07081804"),
    (1_111_111_111, "14050471"),
    (1_234_567_890, "89005924"),
    (2_000_000_000, "69279037"),
    (20_000_000_000, "65353130"),
];

#[test]
fn rfc6238_appendix_b_sha1() {
    for &(time, eight) in RFC_VECTORS {
        let expected = &eight[eight.len() - DIGITS..];
        assert_eq!(totp::code_at(RFC_SECRET, time), expected, "time {time}");
        assert_eq!(
            totp::verify(RFC_SECRET, expected, time),
            Some(time / STEP_SECS),
            "time {time}"
        );
    }
}

#[test]
fn accepts_one_step_either_side() {
    let now = 1_111_111_111;
    let step = now / STEP_SECS;
    let previous = totp::code_at(RFC_SECRET, now - STEP_SECS);
    let next = totp::code_at(RFC_SECRET, now + STEP_SECS);
    assert_eq!(totp::verify(RFC_SECRET, &previous, now), Some(step - 1));
    assert_eq!(totp::verify(RFC_SECRET, &next, now), Some(step + 1));
}

#[test]
fn refuses_two_steps_either_side() {
    let now = 1_111_111_111;
    for offset in [
        -2 * STEP_SECS,
        2 * STEP_SECS,
        -3 * STEP_SECS,
        10 * STEP_SECS,
    ] {
        let code = totp::code_at(RFC_SECRET, now + offset);
        assert_eq!(
            totp::verify(RFC_SECRET, &code, now),
            None,
            "offset {offset}"
        );
    }
}

#[test]
fn window_edges_follow_step_boundaries() {
    // 59 is the last second of step 1; 60 starts step 2, where step 0's code is too old.
    let step0 = totp::code_at(RFC_SECRET, 0);
    assert_eq!(totp::verify(RFC_SECRET, &step0, 59), Some(0));
    assert_eq!(totp::verify(RFC_SECRET, &step0, 60), None);
}

#[test]
fn strips_spaces_inside_the_code() {
    assert_eq!(totp::verify(RFC_SECRET, "287 082", 59), Some(1));
    assert_eq!(totp::verify(RFC_SECRET, " 28 70 82 ", 59), Some(1));
    assert_eq!(totp::verify(RFC_SECRET, "287\u{a0}082", 59), Some(1));
}

#[test]
fn refuses_malformed_codes() {
    for code in [
        "",
        "28708",
        "2870822",
        "94287082",
        "28708a",
        "+87082",
        "-87082",
        "287-082",
        "28708２",
        "٢٨٧٠٨٢",
        "      ",
    ] {
        assert_eq!(totp::verify(RFC_SECRET, code, 59), None, "{code:?}");
    }
}

#[test]
fn refuses_wrong_code_and_wrong_secret() {
    assert_eq!(totp::verify(RFC_SECRET, "287083", 59), None);
    assert_eq!(totp::verify(b"another secret value", "287082", 59), None);
}

#[test]
fn times_before_the_epoch_verify_nothing() {
    let code = totp::code_at(RFC_SECRET, 0);
    assert_eq!(totp::verify(RFC_SECRET, &code, -1), None);
    assert_eq!(totp::verify(RFC_SECRET, &code, i64::MIN), None);
}

#[test]
fn extreme_times_do_not_overflow() {
    let code = totp::code_at(RFC_SECRET, i64::MAX);
    assert_eq!(
        totp::verify(RFC_SECRET, &code, i64::MAX),
        Some(i64::MAX / STEP_SECS)
    );
}

#[test]
fn generated_secrets_are_160_random_bits() {
    let a = totp::generate_secret();
    let b = totp::generate_secret();
    assert_eq!(a.expose_secret().len(), 20);
    assert_ne!(a.expose_secret(), b.expose_secret());
    assert_eq!(format!("{a:?}"), "Secret(***)");
}

#[test]
fn manual_key_is_grouped_base32() {
    assert_eq!(
        totp::manual_key(RFC_SECRET),
        "GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ"
    );
    // RFC 4648 §10 test vector, without padding.
    assert_eq!(totp::manual_key(b"foobar"), "MZXW 6YTB OI");
}

#[test]
fn otpauth_uri_is_percent_encoded() {
    assert_eq!(
        totp::otpauth_uri(RFC_SECRET, "Mail Ward", "alice@example.com"),
        "otpauth://totp/Mail%20Ward:alice%40example.com\
         ?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Mail%20Ward\
         &algorithm=SHA1&digits=6&period=30"
    );
    // A colon or an ampersand cannot split the label or inject a parameter.
    let uri = totp::otpauth_uri(RFC_SECRET, "a:b&secret=x", "c:d");
    assert!(uri.starts_with("otpauth://totp/a%3Ab%26secret%3Dx:c%3Ad?secret=GEZD"));
}

#[test]
fn otpauth_uri_is_read_back_by_another_implementation() {
    let uri = totp::otpauth_uri(RFC_SECRET, "Mailward", "alice@example.com");
    let parsed = totp_rs::Totp::from_url(&uri).unwrap();
    assert_eq!(parsed.issuer(), Some("Mailward"));
    assert_eq!(parsed.account_name(), "alice@example.com");
    assert_eq!(parsed.generate(59).to_string(), "287082");
}

proptest! {
    #[test]
    fn code_at_verifies_at_its_own_time(
        secret in proptest::collection::vec(any::<u8>(), 0..64),
        t in 0i64..=i64::MAX,
    ) {
        let code = totp::code_at(&secret, t);
        prop_assert_eq!(code.len(), DIGITS);
        prop_assert_eq!(totp::verify(&secret, &code, t), Some(t / STEP_SECS));
    }

    #[test]
    fn verify_never_panics(
        secret in proptest::collection::vec(any::<u8>(), 0..64),
        code in ".{0,12}",
        t in any::<i64>(),
    ) {
        let _ = totp::verify(&secret, &code, t);
    }
}
