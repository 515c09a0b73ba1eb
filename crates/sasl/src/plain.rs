//! `PLAIN` (RFC 4616 §2): `message = [authzid] UTF8NUL authcid UTF8NUL passwd`.
//!
//! mailward does not implement proxy authorization: a non-empty authzid must equal the
//! authcid (ASCII case ignored, as user principal names are), otherwise the exchange fails
//! with [`SaslError::AuthzidNotPermitted`] — RFC 4616 §4's own `Ursel`/`Kurt` example ends
//! in `NO` for the same reason. No SASLprep (RFC 4013) is applied: the strings are passed
//! on exactly as the client sent them.

use mailward_types::Secret;

use crate::text;
use crate::{Credentials, Mechanism, SaslError};

const MECH: Mechanism = Mechanism::Plain;

/// Parses one decoded `PLAIN` message.
pub(crate) fn parse(message: &[u8]) -> Result<Credentials, SaslError> {
    let mut parts = message.split(|&b| b == 0);
    let (Some(authzid), Some(authcid), Some(passwd), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(SaslError::Malformed {
            mechanism: MECH,
            reason: "expected [authzid] NUL authcid NUL password",
        });
    };
    let username = text::identity(authcid, "authentication identity", MECH)?;
    let password = text::password(passwd, MECH)?;
    let authzid = if authzid.is_empty() {
        None
    } else {
        let authzid = text::identity(authzid, "authorization identity", MECH)?;
        if !authzid.eq_ignore_ascii_case(&username) {
            return Err(SaslError::AuthzidNotPermitted);
        }
        Some(authzid)
    };
    Ok(Credentials::Password {
        authzid,
        username,
        password: Secret::new(password),
    })
}
