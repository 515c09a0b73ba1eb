//! Server side of the SASL mechanisms that mailward's IMAP, POP3 and SMTP fronts offer:
//! `PLAIN` (RFC 4616), `LOGIN` (draft-murchison-sasl-login), `XOAUTH2` (Google's and
//! Microsoft's bearer mechanism) and `OAUTHBEARER` (RFC 7628).
//!
//! Sans-IO: an [`Exchange`] takes client lines exactly as they arrive on the wire (base64
//! text, `*` to cancel, `=` for an empty initial response) and answers with a [`Step`]:
//! a challenge to send (raw bytes; the protocol front base64-encodes it, e.g. with
//! [`encode`], and frames it as `+ ` / `334 ` / `+ `), the [`Credentials`] the client
//! presented, or a [`SaslError`]. The crate never checks a password or a token: that is the
//! caller's authentication pipeline. When a bearer token turns out to be invalid the caller
//! asks the exchange for the mechanism's error challenge with [`Exchange::bearer_failure`].
//!
//! **Architecture invariant:** no I/O, no clock, no knowledge of users, policies or tokens.

mod bearer;
pub mod client;
mod error;
mod exchange;
mod login;
mod oauthbearer;
mod plain;
mod text;
mod xoauth2;

#[cfg(test)]
mod tests;

use std::fmt;

use base64::Engine as _;
use mailward_types::Secret;

pub use bearer::{BearerError, BearerStatus};
pub use error::SaslError;
pub use exchange::Exchange;

/// Largest decoded client response accepted, in bytes. Large enough for any real bearer
/// token (Entra access tokens are a few KiB), small enough that a hostile client cannot
/// make a connection hold much memory.
pub const MAX_DECODED_LEN: usize = 16 * 1024;

/// Largest base64 client line accepted (the encoding of [`MAX_DECODED_LEN`] bytes).
pub const MAX_ENCODED_LEN: usize = MAX_DECODED_LEN.div_ceil(3) * 4;

/// A SASL mechanism mailward implements (RFC 4422 §3.1 names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mechanism {
    /// RFC 4616: `[authzid] NUL authcid NUL passwd` in one message.
    Plain,
    /// draft-murchison-sasl-login: `Username:` and `Password:` challenges.
    Login,
    /// Google/Microsoft: `user=<u>^Aauth=Bearer <t>^A^A`.
    XOAuth2,
    /// RFC 7628: GS2 header then `^A`-separated key/value pairs with `auth=Bearer <t>`.
    OAuthBearer,
}

impl Mechanism {
    /// Every mechanism, in the order [`advertised`] lists them.
    pub const ALL: [Mechanism; 4] = [
        Mechanism::OAuthBearer,
        Mechanism::XOAuth2,
        Mechanism::Plain,
        Mechanism::Login,
    ];

    /// Looks a mechanism name up, ignoring ASCII case (RFC 3501 §6.2.2 and RFC 4954 §4
    /// compare mechanism names case-insensitively).
    pub fn parse(name: &str) -> Option<Mechanism> {
        Mechanism::ALL
            .into_iter()
            .find(|m| m.name().eq_ignore_ascii_case(name))
    }

    /// The registered name, as advertised in `CAPABILITY` / `EHLO` / `CAPA`.
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::Login => "LOGIN",
            Mechanism::XOAuth2 => "XOAUTH2",
            Mechanism::OAuthBearer => "OAUTHBEARER",
        }
    }

    /// True for the mechanisms that carry a password (basic authentication in Exchange's
    /// terms, subject to authentication policies); false for the bearer mechanisms.
    pub fn is_password(self) -> bool {
        matches!(self, Mechanism::Plain | Mechanism::Login)
    }
}

impl fmt::Display for Mechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The mechanisms to advertise on a connection.
///
/// `PLAIN` and `LOGIN` send the password in the clear inside the session, so they are listed
/// only once TLS is active (RFC 4616 §6, RFC 3501 §6.2.3's `LOGINDISABLED` spirit, RFC 4954
/// §4) and only when basic authentication could succeed for somebody on this listener
/// (`basic_possible`: some authentication policy allows it for the protocol). The bearer
/// mechanisms are always listed: a token is useless to an eavesdropper only with TLS too,
/// but refusing to say which mechanisms exist helps nobody, and the caller decides whether
/// to accept `AUTHENTICATE` before TLS.
pub fn advertised(tls: bool, basic_possible: bool) -> Vec<Mechanism> {
    Mechanism::ALL
        .into_iter()
        .filter(|m| !m.is_password() || (tls && basic_possible))
        .collect()
}

/// What the client presented at the end of a successful exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// `PLAIN` or `LOGIN`. The password is not checked here.
    Password {
        /// The authorization identity, when the client sent one. `PLAIN` only accepts an
        /// authzid equal to the username (ASCII case ignored), so this never names a
        /// different account.
        authzid: Option<String>,
        /// The authentication identity (authcid / `Username:` answer).
        username: String,
        password: Secret<String>,
    },
    /// `XOAUTH2` or `OAUTHBEARER`. The token is not validated here.
    Bearer {
        /// `user=` (XOAUTH2) or the GS2 `a=` authzid (OAUTHBEARER), when non-empty. The
        /// caller must check it names the token's subject.
        user: Option<String>,
        /// The `b64token` of RFC 6750 §2.1.
        token: Secret<String>,
        mechanism: Mechanism,
    },
}

impl Credentials {
    /// The identity the client claims, if it named one (for logs and lookups).
    pub fn claimed_user(&self) -> Option<&str> {
        match self {
            Credentials::Password { username, .. } => Some(username),
            Credentials::Bearer { user, .. } => user.as_deref(),
        }
    }
}

/// The result of feeding the exchange one client message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Send this challenge (raw bytes, possibly empty) and feed the client's answer to
    /// [`Exchange::step`].
    Challenge(Vec<u8>),
    /// The client presented credentials; check them. For the bearer mechanisms a rejected
    /// token continues with [`Exchange::bearer_failure`].
    Done(Credentials),
    /// The exchange is over and failed; answer with the protocol's failure response.
    Failed(SaslError),
}

/// Base64-encodes a challenge for the wire (RFC 4648 §4 with padding, as RFC 4954 §4,
/// RFC 3501 §6.2.2 and RFC 5034 §4 require).
pub fn encode(challenge: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(challenge)
}
