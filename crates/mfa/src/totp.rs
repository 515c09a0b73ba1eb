//! Time-based one-time passwords (RFC 6238) with the parameters authenticator apps support:
//! HMAC-SHA-1, 6 digits, 30-second steps, T0 = 0.
//!
//! Code generation is done by `totp-rs`; this module owns the policy around it: how secrets
//! are made and shown, which input is accepted, the ±1 step window and which step a code
//! matched (so the caller can refuse replays, RFC 6238 §5.2).

use mailward_types::Secret;
use rand::RngCore;
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};

/// Length of a time step in seconds (RFC 6238 §5.2 recommends 30).
pub const STEP_SECS: i64 = 30;
/// Number of digits in a code (RFC 4226 §5.3 minimum, what every app shows).
pub const DIGITS: usize = 6;

/// Length of a generated secret in bytes: 160 bits, the RFC 4226 §4 recommendation and the
/// output size of HMAC-SHA-1.
const SECRET_LEN: usize = 20;

/// 20 random bytes (160 bits, RFC 4226 §4 recommendation).
pub fn generate_secret() -> Secret<Vec<u8>> {
    let mut bytes = vec![0u8; SECRET_LEN];
    rand::rng().fill_bytes(&mut bytes);
    Secret::new(bytes)
}

/// Base32 (RFC 4648, no padding) of the secret, grouped in blocks of 4 for manual entry,
/// e.g. `GEZD GNBV GY3T QOJQ`.
pub fn manual_key(secret: &[u8]) -> String {
    let encoded = base32(secret);
    let mut out = String::with_capacity(encoded.len() + encoded.len() / 4);
    for (i, c) in encoded.chars().enumerate() {
        if i > 0 && i % 4 == 0 {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

/// `otpauth://totp/Issuer:account?secret=...&issuer=...&algorithm=SHA1&digits=6&period=30`
/// in the Key URI Format authenticator apps read. Issuer and account are percent-encoded
/// (RFC 3986 unreserved characters are kept), so a `:` inside either cannot split the label.
pub fn otpauth_uri(secret: &[u8], issuer: &str, account: &str) -> String {
    let issuer = percent_encode(issuer);
    format!(
        "otpauth://totp/{issuer}:{account}?secret={secret}&issuer={issuer}\
         &algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        account = percent_encode(account),
        secret = base32(secret),
    )
}

/// Verify a code at `now_unix` within ±1 step; returns the matched step (the caller stores
/// it to refuse replays of that step or earlier). Constant-time comparison; rejects
/// anything that is not exactly 6 ASCII digits (spaces inside are stripped first).
///
/// When a code happens to be valid for several steps of the window, the current step wins,
/// then the next one, then the previous one. Times before the unix epoch verify nothing.
pub fn verify(secret: &[u8], code: &str, now_unix: i64) -> Option<i64> {
    let candidate: Vec<u8> = code
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| u8::try_from(c).unwrap_or(0))
        .collect();
    if candidate.len() != DIGITS || !candidate.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if now_unix < 0 {
        return None;
    }
    let generator = Generator::new(secret);
    let step = now_unix / STEP_SECS;
    let mut found = Choice::from(0);
    let mut matched = 0i64;
    // Later entries override earlier ones, so the order is the preference, lowest first.
    for candidate_step in [step - 1, step + 1, step] {
        let Ok(counter) = u64::try_from(candidate_step) else {
            continue;
        };
        let expected = generator.code(counter);
        let equal = expected.as_bytes().ct_eq(&candidate);
        matched.conditional_assign(&candidate_step, equal);
        found |= equal;
    }
    bool::from(found).then_some(matched)
}

/// The code for a given unix time (used by tests and test drivers). Times before the unix
/// epoch give the code of step 0.
pub fn code_at(secret: &[u8], unix: i64) -> String {
    let counter = u64::try_from(unix / STEP_SECS).unwrap_or(0);
    Generator::new(secret).code(counter)
}

/// HOTP (RFC 4226) over a step counter, with this module's fixed parameters.
struct Generator(totp_rs::Totp);

impl Generator {
    fn new(secret: &[u8]) -> Self {
        // `build_noncompliant` because the length policy belongs to `generate_secret`;
        // every parameter set here is the RFC default, so nothing can panic later.
        let totp = totp_rs::Builder::new()
            .with_algorithm(totp_rs::Algorithm::SHA1)
            .with_digits(DIGITS as u8)
            .with_step_duration(STEP_SECS as u64)
            .with_skew(0)
            .with_secret(secret)
            .build_noncompliant();
        Self(totp)
    }

    /// The zero-padded code of step `counter`.
    fn code(&self, counter: u64) -> String {
        // `counter` is at most i64::MAX / 30 + 1, so the product stays far below u64::MAX.
        self.0
            .generate(counter.saturating_mul(STEP_SECS as u64))
            .to_string()
    }
}

/// RFC 4648 base32, upper case, no padding.
fn base32(bytes: &[u8]) -> String {
    totp_rs::Secret::from(bytes).to_base32()
}

/// Percent-encodes everything but RFC 3986 unreserved characters (so spaces become `%20`,
/// which authenticator apps expect in the label, not `+`).
fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
