//! Second factors for mailward: TOTP (RFC 6238), QR codes for enrolment, one-time recovery
//! codes and passkeys (WebAuthn, through webauthn-rs).
//!
//! **Architecture invariant:** this crate is pure. It does no I/O, keeps no storage and never
//! reads the clock: time arrives as unix seconds, and every piece of state that must survive
//! between two requests (a TOTP secret, a recovery-code hash, a passkey, a ceremony state) is
//! handed back to the caller as plain bytes or strings for it to store.
//!
//! The browser half of passkey ceremonies is [`WEBAUTHN_JS`], a dependency-free script that
//! server-rendered pages include.

pub mod passkey;
pub mod qr;
pub mod recovery;
pub mod totp;

/// Browser script for passkey registration and sign-in; see the comment at the top of
/// `assets/webauthn.js` for the page contract. Serve it as `text/javascript` from the same
/// origin so pages can keep a strict Content-Security-Policy.
pub const WEBAUTHN_JS: &str = include_str!("../assets/webauthn.js");
