//! Records that identity persists besides the directory: codes, tokens, sessions, keys,
//! MFA material, lockout counters and the sign-in log. Secrets appear here only as hashes
//! (codes, tokens, recovery codes) or sealed bytes (TOTP secrets, private keys).

use crate::model::{Amr, ClientAppType, TokenAlg};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use time::OffsetDateTime;
use uuid::Uuid;

/// An issued authorization code (RFC 6749 §4.1.2), single use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthCode {
    /// SHA-256 (hex) of the code.
    pub code_hash: String,
    pub client_id: String,
    pub user_id: Uuid,
    /// The redirect URI exactly as sent in the authorization request.
    pub redirect_uri: String,
    pub scopes: Vec<String>,
    /// Resource URI the access token is for (`aud`).
    pub resource: Option<String>,
    /// PKCE S256 challenge (RFC 7636).
    pub code_challenge: Option<String>,
    pub nonce: Option<String>,
    pub amr: Vec<Amr>,
    pub auth_time: OffsetDateTime,
    pub mfa_time: Option<OffsetDateTime>,
    pub session_id: Option<Uuid>,
    pub client_app_type: ClientAppType,
    pub ip: Option<String>,
    /// Refresh-token family created when the code is redeemed; revoked if the code is
    /// presented again (RFC 6749 §4.1.2).
    pub family_id: Uuid,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub redeemed_at: Option<OffsetDateTime>,
}

/// Outcome of presenting an authorization code.
#[derive(Debug, Clone, PartialEq)]
pub enum Redeem<T> {
    /// First presentation: now marked used.
    Fresh(T),
    /// Presented before: the caller must revoke what it produced.
    Reused(T),
    NotFound,
}

/// A refresh token (stored by hash), one member of a rotation family.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RefreshToken {
    pub token_hash: String,
    pub family_id: Uuid,
    pub client_id: String,
    pub user_id: Uuid,
    pub scopes: Vec<String>,
    pub resource: Option<String>,
    pub amr: Vec<Amr>,
    pub auth_time: OffsetDateTime,
    pub mfa_time: Option<OffsetDateTime>,
    pub session_id: Option<Uuid>,
    pub client_app_type: ClientAppType,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub used_at: Option<OffsetDateTime>,
    pub revoked_at: Option<OffsetDateTime>,
}

/// State of a device authorization (RFC 8628).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum DeviceStatus {
    Pending,
    Approved {
        user_id: Uuid,
        amr: Vec<Amr>,
        auth_time: OffsetDateTime,
        mfa_time: Option<OffsetDateTime>,
        session_id: Option<Uuid>,
    },
    Denied,
    /// Tokens were issued; the device code cannot be used again.
    Redeemed,
}

/// A device authorization request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceCode {
    /// SHA-256 (hex) of the device code.
    pub device_code_hash: String,
    /// SHA-256 (hex) of the normalised user code (upper-case, no separators).
    pub user_code_hash: String,
    pub client_id: String,
    pub scopes: Vec<String>,
    pub resource: Option<String>,
    pub status: DeviceStatus,
    pub interval_secs: i64,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub last_poll_at: Option<OffsetDateTime>,
    pub ip: Option<String>,
}

/// A browser single sign-on session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub id: Uuid,
    /// SHA-256 (hex) of the cookie value.
    pub secret_hash: String,
    pub user_id: Uuid,
    pub amr: Vec<Amr>,
    pub auth_time: OffsetDateTime,
    pub mfa_time: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

/// A token-signing key. Private keys are sealed (encrypted) by identity before storage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SigningKey {
    pub kid: String,
    pub alg: TokenAlg,
    /// PKCS#8 DER, sealed with the instance master key.
    pub sealed_private_key: Vec<u8>,
    /// The public JWK (JSON) as published in JWKS.
    pub public_jwk: String,
    pub created_at: OffsetDateTime,
    /// From this instant the key signs new tokens (until retired).
    pub active_from: OffsetDateTime,
    /// No longer signs after this instant; still published until `expires_at`.
    pub retired_at: Option<OffsetDateTime>,
    /// Removed from JWKS after this instant (no live token can need it).
    pub expires_at: Option<OffsetDateTime>,
}

/// A TOTP authenticator registration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TotpRecord {
    pub user_id: Uuid,
    /// The shared secret, sealed with the instance master key.
    pub sealed_secret: Vec<u8>,
    /// False until the user proves possession with a first code.
    pub confirmed: bool,
    /// Highest time step accepted so far; a code for this or an earlier step is refused.
    pub last_step: Option<i64>,
    pub created_at: OffsetDateTime,
}

/// A WebAuthn passkey registration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PasskeyRecord {
    pub id: Uuid,
    pub user_id: Uuid,
    pub name: String,
    /// base64url credential id (unique).
    pub credential_id: String,
    /// The serialised `webauthn_rs::prelude::Passkey`.
    pub passkey_json: String,
    pub created_at: OffsetDateTime,
    pub last_used_at: Option<OffsetDateTime>,
}

/// Smart-lockout counter for one user and one location class.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockoutState {
    /// Failures counted since the last success or lockout.
    pub failures: u32,
    /// Locked until this instant (exclusive).
    pub locked_until: Option<OffsetDateTime>,
    /// Lockouts so far; each one lasts longer.
    pub lockouts: u32,
    /// Fingerprints of the most recent wrong passwords, so repeating one does not count.
    pub recent_bad: Vec<String>,
    pub last_failure_at: Option<OffsetDateTime>,
}

/// Whether the client IP is one of the user's familiar locations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LocationClass {
    Familiar,
    Unfamiliar,
}

impl LocationClass {
    pub fn as_str(self) -> &'static str {
        match self {
            LocationClass::Familiar => "familiar",
            LocationClass::Unfamiliar => "unfamiliar",
        }
    }
}

/// Overall result of a sign-in attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SignInResult {
    Success,
    Failure,
    /// Stopped for more input (MFA prompt, registration) — not a failure.
    Interrupted,
}

impl SignInResult {
    pub fn as_str(self) -> &'static str {
        match self {
            SignInResult::Success => "success",
            SignInResult::Failure => "failure",
            SignInResult::Interrupted => "interrupted",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "success" => Some(SignInResult::Success),
            "failure" => Some(SignInResult::Failure),
            "interrupted" => Some(SignInResult::Interrupted),
            _ => None,
        }
    }
}

/// One authentication step of a sign-in (`authenticationDetails` in the familiar log).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthStep {
    /// `password`, `totp`, `recoveryCode`, `passkey`, `session`, `refreshToken`,
    /// `clientSecret`, `lockoutCheck`, `policy`.
    pub method: String,
    pub succeeded: bool,
    pub detail: Option<String>,
}

/// A policy's verdict for one sign-in (`appliedConditionalAccessPolicies`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyOutcome {
    pub id: String,
    pub display_name: String,
    /// Graph values: `success`, `failure`, `notApplied`, `notEnabled`, `reportOnly...`.
    pub result: String,
    pub enforced_grant_controls: Vec<String>,
    pub enforced_session_controls: Vec<String>,
}

/// One row of the sign-in log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignInEvent {
    pub id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub created_date_time: OffsetDateTime,
    pub user_id: Option<Uuid>,
    /// The user name as presented (also for unknown users).
    pub user_principal_name: Option<String>,
    pub app_id: Option<String>,
    pub app_display_name: Option<String>,
    pub resource: Option<String>,
    pub client_app_used: ClientAppType,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    /// Legacy protocol for relayed basic auth (`IMAP4`, `POP3`, `SMTP`, ...).
    pub protocol: Option<String>,
    /// `authorization_code`, `refresh_token`, `device_code`, `password`, `basic`, ...
    pub flow: String,
    pub steps: Vec<AuthStep>,
    pub result: SignInResult,
    pub error_code: Option<u32>,
    pub failure_reason: Option<String>,
    /// Graph's `appliedConditionalAccessPolicies`: every policy's result.
    #[serde(rename = "appliedConditionalAccessPolicies", alias = "policies")]
    pub policies: Vec<PolicyOutcome>,
    pub amr: Vec<Amr>,
    pub location_class: Option<LocationClass>,
    pub correlation_id: Uuid,
}

/// Filter for reading the sign-in log. Empty fields match everything.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SignInFilter {
    pub since: Option<OffsetDateTime>,
    pub until: Option<OffsetDateTime>,
    /// Exact (case-insensitive) user principal name.
    pub user: Option<String>,
    pub app_id: Option<String>,
    pub result: Option<SignInResult>,
    pub error_code: Option<u32>,
    pub client_app_type: Option<ClientAppType>,
    pub ip: Option<String>,
    /// Newest first, at most this many (default 100, capped at 1000).
    pub limit: Option<u32>,
}

/// Parse an IP address from a record field.
pub fn parse_ip(s: &str) -> Option<IpAddr> {
    s.parse().ok()
}
