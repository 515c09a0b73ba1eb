//! `LOGIN` (draft-murchison-sasl-login-00 §2): the server asks `Username:`, then
//! `Password:`; each answer is one base64 line. A client may send the username as an
//! initial response (as Outlook's `AUTH LOGIN <b64>` does), which skips the first
//! challenge; an empty initial response is treated as none.

use mailward_types::Secret;

use crate::text;
use crate::{Mechanism, SaslError};

const MECH: Mechanism = Mechanism::Login;

/// The answer to `Username:`.
pub(crate) fn parse_username(data: &[u8]) -> Result<String, SaslError> {
    text::identity(data, "username", MECH)
}

/// The answer to `Password:`.
pub(crate) fn parse_password(data: &[u8]) -> Result<Secret<String>, SaslError> {
    text::password(data, MECH).map(Secret::new)
}
