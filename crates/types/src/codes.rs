//! Numeric sign-in error codes, mirroring the familiar identity-platform numbers so that
//! admins and client libraries recognise them (DESIGN.md §3).

use serde::{Deserialize, Serialize};

/// A sign-in or token error with its stable numeric code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "u32", try_from = "u32")]
pub enum ErrorCode {
    /// 50034: the user account does not exist.
    UserNotFound,
    /// 50053: account locked by smart lockout.
    LockedOut,
    /// 50055: password expired.
    PasswordExpired,
    /// 50057: the account is disabled.
    UserDisabled,
    /// 50058: silent sign-in requested but no session.
    InteractionRequired,
    /// 50076: multifactor authentication required.
    MfaRequired,
    /// 50079: the user must register a multifactor method first.
    MfaRegistrationRequired,
    /// 50126: invalid username or password.
    InvalidCredentials,
    /// 50011: redirect URI mismatch.
    RedirectUriMismatch,
    /// 50148: PKCE code verifier does not match the challenge.
    PkceMismatch,
    /// 53003: blocked by conditional access / policy.
    BlockedByPolicy,
    /// 54005: authorization code already redeemed.
    CodeAlreadyRedeemed,
    /// 70000: invalid grant (unknown, expired or revoked code/token).
    InvalidGrant,
    /// 70002 / 7000215: invalid client credentials.
    InvalidClientSecret,
    /// 70008: the refresh token or code has expired.
    Expired,
    /// 70011: invalid scope.
    InvalidScope,
    /// 70016: device code authorization pending.
    AuthorizationPending,
    /// 70019: device code expired.
    DeviceCodeExpired,
    /// 70000 with a reused refresh token (family revoked).
    RefreshTokenReused,
    /// 700016: application not found.
    UnknownClient,
    /// 900144: a required request parameter is missing.
    MissingParameter,
    /// 9002313: malformed request.
    InvalidRequest,
    /// 7000218: the request needs client authentication.
    ClientAuthRequired,
    /// 700025: public clients must not present a secret.
    PublicClientWithSecret,
    /// 65001: grant type not allowed for this client.
    UnauthorizedClient,
    /// 50020 / 50173: the session was revoked or needs fresh authentication.
    FreshAuthRequired,
    /// 90000: service temporarily busy (bounded pool full).
    Busy,
    /// 90055: too many requests from this client address; try again after the window.
    Throttled,
    /// 500011: resource not found.
    UnknownResource,
    /// 50140 etc.: the user declined.
    AccessDenied,
    /// 70044: conditional access `signInFrequency` says the sign-in is too old.
    SignInFrequency,
    /// 500121: too many wrong second-factor codes for this user (across sign-ins); no code
    /// is checked until the lock window ends.
    SecondFactorLocked,
}

impl ErrorCode {
    /// The numeric code.
    pub fn number(self) -> u32 {
        use ErrorCode::*;
        match self {
            UserNotFound => 50034,
            LockedOut => 50053,
            PasswordExpired => 50055,
            UserDisabled => 50057,
            InteractionRequired => 50058,
            MfaRequired => 50076,
            MfaRegistrationRequired => 50079,
            InvalidCredentials => 50126,
            RedirectUriMismatch => 50011,
            PkceMismatch => 50148,
            BlockedByPolicy => 53003,
            CodeAlreadyRedeemed => 54005,
            InvalidGrant => 70000,
            InvalidClientSecret => 7000215,
            Expired => 70008,
            InvalidScope => 70011,
            AuthorizationPending => 70016,
            DeviceCodeExpired => 70019,
            RefreshTokenReused => 70043,
            UnknownClient => 700016,
            MissingParameter => 900144,
            InvalidRequest => 9002313,
            ClientAuthRequired => 7000218,
            PublicClientWithSecret => 700025,
            UnauthorizedClient => 65001,
            FreshAuthRequired => 50173,
            Busy => 90000,
            Throttled => 90055,
            UnknownResource => 500011,
            AccessDenied => 50140,
            SignInFrequency => 70044,
            SecondFactorLocked => 500121,
        }
    }

    /// A short, user-safe description (never reveals more than the code does).
    pub fn description(self) -> &'static str {
        use ErrorCode::*;
        match self {
            UserNotFound => "The user account does not exist in this directory.",
            LockedOut => {
                "The account is locked because of too many sign-in attempts. Try again later."
            }
            PasswordExpired => "The password has expired.",
            UserDisabled => "The user account is disabled.",
            InteractionRequired => "Interactive sign-in is required.",
            MfaRequired => "Multifactor authentication is required.",
            MfaRegistrationRequired => {
                "The user must register a multifactor authentication method."
            }
            InvalidCredentials => "Invalid username or password.",
            RedirectUriMismatch => {
                "The redirect URI does not match the URIs registered for the application."
            }
            PkceMismatch => {
                "The code_verifier does not match the code_challenge supplied in the authorization request."
            }
            BlockedByPolicy => "Access has been blocked by policy.",
            CodeAlreadyRedeemed => "The authorization code has already been redeemed.",
            InvalidGrant => "The provided grant is invalid, expired or revoked.",
            InvalidClientSecret => "Invalid client secret provided.",
            Expired => "The provided grant has expired.",
            InvalidScope => "The requested scope is invalid, unknown or malformed.",
            AuthorizationPending => "The user has not finished authenticating.",
            DeviceCodeExpired => "The device code has expired.",
            RefreshTokenReused => {
                "The refresh token was already used; every token in its family has been revoked."
            }
            UnknownClient => "The application was not found in the directory.",
            MissingParameter => "A required request parameter is missing.",
            InvalidRequest => "The request is malformed.",
            ClientAuthRequired => {
                "The request body must contain client authentication (client_secret or client_assertion)."
            }
            PublicClientWithSecret => "Public clients must not send a client secret.",
            UnauthorizedClient => "The application is not allowed to use this grant type.",
            FreshAuthRequired => "Fresh authentication is required.",
            Busy => "The service is busy. Try again shortly.",
            Throttled => "There are too many requests from this address. Try again later.",
            UnknownResource => "The resource was not found in the directory.",
            AccessDenied => "The user or administrator declined the request.",
            SignInFrequency => {
                "The session has expired because of the sign-in frequency set by conditional access; sign in again."
            }
            SecondFactorLocked => {
                "Authentication failed during the strong authentication request: too many wrong verification codes. Try again later."
            }
        }
    }

    pub fn from_number(n: u32) -> Option<Self> {
        use ErrorCode::*;
        ALL.iter().copied().find(|c| c.number() == n).or(match n {
            70002 => Some(InvalidClientSecret),
            _ => None,
        })
    }
}

const ALL: &[ErrorCode] = {
    use ErrorCode::*;
    &[
        UserNotFound,
        LockedOut,
        PasswordExpired,
        UserDisabled,
        InteractionRequired,
        MfaRequired,
        MfaRegistrationRequired,
        InvalidCredentials,
        RedirectUriMismatch,
        PkceMismatch,
        BlockedByPolicy,
        CodeAlreadyRedeemed,
        InvalidGrant,
        InvalidClientSecret,
        Expired,
        InvalidScope,
        AuthorizationPending,
        DeviceCodeExpired,
        RefreshTokenReused,
        UnknownClient,
        MissingParameter,
        InvalidRequest,
        ClientAuthRequired,
        PublicClientWithSecret,
        UnauthorizedClient,
        FreshAuthRequired,
        Busy,
        Throttled,
        UnknownResource,
        AccessDenied,
        SignInFrequency,
        SecondFactorLocked,
    ]
};

impl From<ErrorCode> for u32 {
    fn from(c: ErrorCode) -> u32 {
        c.number()
    }
}

impl TryFrom<u32> for ErrorCode {
    type Error = String;
    fn try_from(n: u32) -> Result<Self, String> {
        ErrorCode::from_number(n).ok_or_else(|| format!("unknown error code {n}"))
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.number())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn familiar_numbers() {
        assert_eq!(ErrorCode::MfaRequired.number(), 50076);
        assert_eq!(ErrorCode::MfaRegistrationRequired.number(), 50079);
        assert_eq!(ErrorCode::BlockedByPolicy.number(), 53003);
        assert_eq!(ErrorCode::InvalidCredentials.number(), 50126);
        assert_eq!(ErrorCode::LockedOut.number(), 50053);
        assert_eq!(ErrorCode::UserDisabled.number(), 50057);
        assert_eq!(ErrorCode::AuthorizationPending.number(), 70016);
        assert_eq!(ErrorCode::DeviceCodeExpired.number(), 70019);
    }

    #[test]
    fn numbers_are_unique_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for c in ALL {
            assert!(seen.insert(c.number()), "duplicate {}", c.number());
            assert_eq!(ErrorCode::from_number(c.number()), Some(*c));
        }
    }
}
