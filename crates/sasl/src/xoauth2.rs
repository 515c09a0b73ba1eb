//! `XOAUTH2` (Google's "XOAUTH2 protocol" page; Microsoft's "Authenticate an IMAP, POP or
//! SMTP connection using OAuth"): `user=<user>^Aauth=Bearer <token>^A^A`.
//!
//! `auth` is required. `user` is what the published format always carries, but the token
//! alone identifies the user, so an absent or empty `user` is accepted and reported as
//! `None`; the caller checks a present one against the token. Other keys are ignored.
//! On a rejected token the server sends `{"status":"401","schemes":"Bearer","scope":...}`
//! and the client answers with an empty line before the failure.

use crate::bearer::{find, parse_auth, parse_pairs};
use crate::text;
use crate::{Credentials, Mechanism, SaslError};

const MECH: Mechanism = Mechanism::XOAuth2;

/// Parses one decoded `XOAUTH2` message.
pub(crate) fn parse(message: &[u8]) -> Result<Credentials, SaslError> {
    if message.is_empty() {
        return Err(SaslError::Malformed {
            mechanism: MECH,
            reason: "empty response",
        });
    }
    let pairs = parse_pairs(MECH, message)?;
    let auth = find(&pairs, "auth").ok_or(SaslError::MissingAuth { mechanism: MECH })?;
    let token = parse_auth(MECH, auth)?;
    let user = match find(&pairs, "user") {
        None | Some([]) => None,
        Some(user) => Some(text::identity(user, "user", MECH)?),
    };
    Ok(Credentials::Bearer {
        user,
        token,
        mechanism: MECH,
    })
}
