//! Passkeys (WebAuthn Level 3) on top of webauthn-rs 0.6.
//!
//! A ceremony has two halves separated by a browser round trip. Everything that must survive
//! between them, and every registered passkey, crosses this API as a JSON string so the
//! caller can keep it in its database: this module stores nothing and reads no clock.
//!
//! Credential ids cross it as unpadded base64url (RFC 4648 §5), the form browsers use for
//! `PublicKeyCredential.id`. User verification is always required.

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use webauthn_rs::prelude::{
    Passkey, PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, WebauthnError,
};
use webauthn_rs::{Webauthn, WebauthnBuilder};

/// Unpadded base64url that also accepts padded input.
const BASE64URL: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The relying party: checks and produces WebAuthn ceremonies for one origin.
#[derive(Debug, Clone)]
pub struct PasskeyService {
    webauthn: Webauthn,
}

/// Why a passkey operation failed.
#[derive(Debug, thiserror::Error)]
pub enum PasskeyError {
    /// The relying party settings are unusable.
    #[error(
        "passkey configuration is invalid: the rp id must be the origin's host or a parent domain of it"
    )]
    Config,
    /// The browser's JSON is not a WebAuthn credential of the expected shape.
    #[error("passkey response is malformed: {0}")]
    InvalidResponse(String),
    /// The response is well formed but was refused (wrong challenge, origin, signature,
    /// counter, user verification missing, unknown credential, ...).
    #[error("passkey verification failed: {0}")]
    Verification(String),
    /// Stored state, a stored passkey or a stored credential id could not be read or written.
    #[error("passkey data could not be (de)serialised: {0}")]
    Serialization(String),
    /// Authentication was started for a user without any passkey.
    #[error("the user has no passkey")]
    NoPasskeys,
}

impl PasskeyService {
    /// rp_id e.g. "localhost", origin e.g. https://localhost:8443
    pub fn new(rp_id: &str, origin: &url::Url, rp_name: &str) -> Result<Self, PasskeyError> {
        let webauthn = WebauthnBuilder::new(rp_id, origin)
            .map_err(|_| PasskeyError::Config)?
            .rp_name(rp_name)
            .build()
            .map_err(|_| PasskeyError::Config)?;
        Ok(Self { webauthn })
    }

    /// Returns (options JSON for navigator.credentials.create — the `CreationChallengeResponse`, state JSON).
    /// `exclude` = base64url credential ids already registered for the user.
    pub fn start_registration(
        &self,
        user_id: uuid::Uuid,
        user_name: &str,
        display_name: &str,
        exclude: &[String],
    ) -> Result<(serde_json::Value, String), PasskeyError> {
        let exclude = exclude
            .iter()
            .map(|id| {
                BASE64URL
                    .decode(id)
                    .map_err(|e| PasskeyError::Serialization(format!("credential id: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let exclude = (!exclude.is_empty()).then_some(exclude);
        let (options, state) = self
            .webauthn
            .start_passkey_registration(user_id, user_name, display_name, exclude)
            .map_err(verification)?;
        Ok((to_value(&options)?, to_string(&state)?))
    }

    /// `response` = the JSON the browser script posts (RegisterPublicKeyCredential).
    /// Returns (credential id base64url, passkey JSON to store).
    ///
    /// The caller must still check that the credential id is not registered to anyone yet.
    pub fn finish_registration(
        &self,
        state: &str,
        response: &serde_json::Value,
    ) -> Result<(String, String), PasskeyError> {
        let state: PasskeyRegistration = from_str(state)?;
        let response: RegisterPublicKeyCredential = from_response(response)?;
        let passkey = self
            .webauthn
            .finish_passkey_registration(&response, &state)
            .map_err(verification)?;
        Ok((BASE64URL.encode(passkey.cred_id()), to_string(&passkey)?))
    }

    /// `passkeys` = stored passkey JSONs of the user. Returns (options JSON for navigator.credentials.get, state JSON).
    pub fn start_authentication(
        &self,
        passkeys: &[String],
    ) -> Result<(serde_json::Value, String), PasskeyError> {
        let passkeys = parse_passkeys(passkeys)?;
        if passkeys.is_empty() {
            return Err(PasskeyError::NoPasskeys);
        }
        let (options, state) = self
            .webauthn
            .start_passkey_authentication(&passkeys)
            .map_err(verification)?;
        Ok((to_value(&options)?, to_string(&state)?))
    }

    /// Returns the credential id (base64url) used, and for each stored passkey whose counter/backup state changed, its updated JSON: Vec<(credential_id, new_passkey_json)>.
    ///
    /// `passkeys` should be the same list given to [`Self::start_authentication`]; the
    /// credentials allowed to answer are fixed by `state`.
    pub fn finish_authentication(
        &self,
        state: &str,
        passkeys: &[String],
        response: &serde_json::Value,
    ) -> Result<(String, Vec<(String, String)>), PasskeyError> {
        let state: PasskeyAuthentication = from_str(state)?;
        let response: PublicKeyCredential = from_response(response)?;
        let result = self
            .webauthn
            .finish_passkey_authentication(&response, &state)
            .map_err(verification)?;
        let mut updated = Vec::new();
        for mut passkey in parse_passkeys(passkeys)? {
            if passkey.update_credential(&result) == Some(true) {
                updated.push((BASE64URL.encode(passkey.cred_id()), to_string(&passkey)?));
            }
        }
        Ok((BASE64URL.encode(result.cred_id()), updated))
    }
}

fn parse_passkeys(passkeys: &[String]) -> Result<Vec<Passkey>, PasskeyError> {
    passkeys.iter().map(|p| from_str(p)).collect()
}

fn verification(error: WebauthnError) -> PasskeyError {
    PasskeyError::Verification(error.to_string())
}

fn from_response<T: serde::de::DeserializeOwned>(
    response: &serde_json::Value,
) -> Result<T, PasskeyError> {
    T::deserialize(response).map_err(|e| PasskeyError::InvalidResponse(e.to_string()))
}

fn from_str<T: serde::de::DeserializeOwned>(json: &str) -> Result<T, PasskeyError> {
    serde_json::from_str(json).map_err(|e| PasskeyError::Serialization(e.to_string()))
}

fn to_string<T: serde::Serialize>(value: &T) -> Result<String, PasskeyError> {
    serde_json::to_string(value).map_err(|e| PasskeyError::Serialization(e.to_string()))
}

fn to_value<T: serde::Serialize>(value: &T) -> Result<serde_json::Value, PasskeyError> {
    serde_json::to_value(value).map_err(|e| PasskeyError::Serialization(e.to_string()))
}
