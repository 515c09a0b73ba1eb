//! Checks shared by the mechanisms for the text fields they carry.

use crate::{Mechanism, SaslError};

/// An identity (username, authzid, `user=`): UTF-8, non-empty, no control characters.
///
/// RFC 4616 §2 only excludes NUL; control characters are refused as well because an
/// identity ends up in logs and lookups, where CR or LF could forge a line.
pub(crate) fn identity(
    bytes: &[u8],
    field: &'static str,
    mechanism: Mechanism,
) -> Result<String, SaslError> {
    let s = std::str::from_utf8(bytes).map_err(|_| SaslError::InvalidUtf8 { field })?;
    if s.is_empty() {
        return Err(SaslError::Malformed {
            mechanism,
            reason: "empty identity",
        });
    }
    if s.chars().any(char::is_control) {
        return Err(SaslError::Malformed {
            mechanism,
            reason: "control character in identity",
        });
    }
    Ok(s.to_owned())
}

/// A password: UTF-8, non-empty, no NUL (RFC 4616 §2 `passwd = 1*SAFE`). Other control
/// characters are the password's business.
pub(crate) fn password(bytes: &[u8], mechanism: Mechanism) -> Result<String, SaslError> {
    let s = std::str::from_utf8(bytes).map_err(|_| SaslError::InvalidUtf8 { field: "password" })?;
    if s.is_empty() {
        return Err(SaslError::Malformed {
            mechanism,
            reason: "empty password",
        });
    }
    if s.contains('\0') {
        return Err(SaslError::Malformed {
            mechanism,
            reason: "NUL in password",
        });
    }
    Ok(s.to_owned())
}
