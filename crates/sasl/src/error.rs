//! [`SaslError`]: why an exchange failed. Each variant has a stable, greppable code for
//! logs; none of them is meant to be shown to the client verbatim (the protocol fronts
//! answer with their generic failure, RFC 4954 §6 `535 5.7.8`, RFC 3501 `NO`, RFC 5034 `-ERR`).

use crate::Mechanism;

/// Why an exchange failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SaslError {
    /// The client answered a challenge with `*` (RFC 4954 §4, RFC 3501 §6.2.2, RFC 5034 §4).
    #[error("the client cancelled the authentication exchange")]
    Cancelled,
    /// A client line is not base64 (RFC 4648 §4).
    #[error("the client response is not valid base64")]
    InvalidBase64,
    /// A client line is longer than [`crate::MAX_ENCODED_LEN`] or decodes to more than
    /// [`crate::MAX_DECODED_LEN`] bytes.
    #[error("the client response is longer than {limit} bytes")]
    TooLong { limit: usize },
    /// A field that must be UTF-8 is not.
    #[error("the {field} is not valid UTF-8")]
    InvalidUtf8 { field: &'static str },
    /// The decoded message does not have the mechanism's shape.
    #[error("malformed {mechanism} response: {reason}")]
    Malformed {
        mechanism: Mechanism,
        reason: &'static str,
    },
    /// `PLAIN` with an authorization identity that is not the authentication identity
    /// (RFC 4616 §2: the server decides whether authcid may act as authzid; mailward never
    /// lets one user act as another).
    #[error("the authorization identity differs from the authentication identity")]
    AuthzidNotPermitted,
    /// `OAUTHBEARER` with the GS2 `p=` flag: RFC 7628 §3.1 defines no channel binding.
    #[error("channel binding is not supported")]
    ChannelBindingNotSupported,
    /// A bearer message without `auth=` (RFC 7628 §3.1 makes it REQUIRED).
    #[error("{mechanism} response has no auth= value")]
    MissingAuth { mechanism: Mechanism },
    /// `auth=` with a scheme other than `Bearer` (RFC 6750 §2.1), or a malformed token.
    #[error("{mechanism} auth= value is not \"Bearer <b64token>\"")]
    UnsupportedScheme { mechanism: Mechanism },
    /// The caller rejected the bearer token and the client acknowledged the error challenge
    /// (RFC 7628 §3.2.3).
    #[error("the bearer token was rejected")]
    TokenRejected,
    /// The exchange was already over, or [`crate::Exchange::bearer_failure`] was called when
    /// no bearer token was pending.
    #[error("the authentication exchange is already finished")]
    OutOfSequence,
}

impl SaslError {
    /// A stable code for logs and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            SaslError::Cancelled => "SASL_CANCELLED",
            SaslError::InvalidBase64 => "SASL_BAD_BASE64",
            SaslError::TooLong { .. } => "SASL_TOO_LONG",
            SaslError::InvalidUtf8 { .. } => "SASL_BAD_UTF8",
            SaslError::Malformed { .. } => "SASL_MALFORMED",
            SaslError::AuthzidNotPermitted => "SASL_AUTHZID_NOT_PERMITTED",
            SaslError::ChannelBindingNotSupported => "SASL_CHANNEL_BINDING",
            SaslError::MissingAuth { .. } => "SASL_MISSING_AUTH",
            SaslError::UnsupportedScheme { .. } => "SASL_UNSUPPORTED_SCHEME",
            SaslError::TokenRejected => "SASL_TOKEN_REJECTED",
            SaslError::OutOfSequence => "SASL_OUT_OF_SEQUENCE",
        }
    }
}
