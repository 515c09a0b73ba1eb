//! [`CredentialCheck`]: the password check behind basic authentication, and
//! [`RelayedCheck`], which hands it to identity's relayed legacy sign-in endpoint
//! (`POST <identity>/legacy/v1/authenticate`). Identity runs smart lockout, the password
//! hash and its policy step there (client app type `other`) and logs the sign-in; this
//! instance authenticates as a confidential client holding the `LegacyAuth.Relay`
//! application role (HTTP Basic, RFC 6749 §2.3.1).
//!
//! The pipeline calls a credential check only after the authentication policy allowed
//! basic authentication for the protocol.

use std::net::IpAddr;
use std::path::PathBuf;

use async_trait::async_trait;
use mailward_authpolicy::Protocol;
use mailward_types::Secret;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::AuthFailure;
use crate::bearer::ConfigError;

/// The user a successful password check names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedUser {
    pub user_oid: Uuid,
    pub upn: String,
    /// Primary SMTP address.
    pub address: String,
    pub display_name: String,
}

/// Checks a user name and password. Errors are [`AuthFailure::Denied`] (wrong password,
/// locked, disabled, refused by identity's policy) or [`AuthFailure::Unavailable`].
#[async_trait]
pub trait CredentialCheck: Send + Sync + std::fmt::Debug + 'static {
    async fn check(
        &self,
        username: &str,
        password: &Secret<String>,
        protocol: Protocol,
        client_ip: IpAddr,
        user_agent: Option<&str>,
    ) -> Result<CheckedUser, AuthFailure>;
}

/// Where identity is and how this instance authenticates to it.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Identity's base URL, e.g. `https://localhost:8443`.
    pub identity_url: String,
    /// Client id of this instance's confidential application.
    pub client_id: String,
    pub client_secret: Secret<String>,
    /// Extra trusted CA certificates (PEM), e.g. mailward's local CA.
    pub ca_file: Option<PathBuf>,
    pub http_timeout: std::time::Duration,
}

/// Identity's relayed legacy sign-in.
#[derive(Debug)]
pub struct RelayedCheck {
    url: String,
    client_id: String,
    client_secret: Secret<String>,
    http: reqwest::Client,
}

#[derive(Deserialize)]
struct RelayResponse {
    result: String,
    user: Option<RelayUser>,
    #[serde(default)]
    error_codes: Vec<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RelayUser {
    id: Uuid,
    upn: String,
    mail: Option<String>,
    display_name: Option<String>,
}

impl RelayedCheck {
    pub fn new(cfg: RelayConfig) -> Result<RelayedCheck, ConfigError> {
        let mut builder = reqwest::Client::builder()
            .https_only(true)
            .timeout(cfg.http_timeout)
            .redirect(reqwest::redirect::Policy::none());
        if let Some(path) = &cfg.ca_file {
            let pem = std::fs::read(path).map_err(|source| ConfigError::CaFile {
                path: path.display().to_string(),
                source,
            })?;
            let cert = reqwest::Certificate::from_pem(&pem).map_err(|e| ConfigError::CaPem {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
            builder = builder.add_root_certificate(cert);
        }
        Ok(RelayedCheck {
            url: format!(
                "{}/legacy/v1/authenticate",
                cfg.identity_url.trim_end_matches('/')
            ),
            client_id: cfg.client_id,
            client_secret: cfg.client_secret,
            http: builder
                .build()
                .map_err(|e| ConfigError::Http(e.to_string()))?,
        })
    }
}

/// The protocol name identity logs (`IMAP4`, `POP3`, `SMTP`, else the policy name).
pub fn relay_protocol_name(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Imap => "IMAP4",
        Protocol::Pop => "POP3",
        Protocol::Smtp => "SMTP",
        other => other.name(),
    }
}

fn form_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[async_trait]
impl CredentialCheck for RelayedCheck {
    async fn check(
        &self,
        username: &str,
        password: &Secret<String>,
        protocol: Protocol,
        client_ip: IpAddr,
        user_agent: Option<&str>,
    ) -> Result<CheckedUser, AuthFailure> {
        let body = json!({
            "username": username,
            "password": password.expose_secret(),
            "protocol": relay_protocol_name(protocol),
            "client_ip": client_ip,
            "user_agent": user_agent,
        });
        let res = self
            .http
            .post(&self.url)
            .basic_auth(
                form_encode(&self.client_id),
                Some(form_encode(self.client_secret.expose_secret())),
            )
            .json(&body)
            .send()
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "identity's relayed sign-in is unreachable");
                AuthFailure::Unavailable
            })?;
        let status = res.status();
        if !status.is_success() {
            // 503 when identity's password pool is full; 4xx when this instance's client
            // registration is wrong: either way not the user's fault.
            tracing::error!(%status, "identity refused the relayed sign-in request");
            return Err(AuthFailure::Unavailable);
        }
        let reply: RelayResponse = res.json().await.map_err(|e| {
            tracing::error!(error = %e, "identity's relayed sign-in answer is not understood");
            AuthFailure::Unavailable
        })?;
        match (reply.result.as_str(), reply.user) {
            ("allow", Some(user)) => Ok(CheckedUser {
                user_oid: user.id,
                address: user.mail.unwrap_or_else(|| user.upn.clone()).to_lowercase(),
                display_name: user.display_name.unwrap_or_else(|| user.upn.clone()),
                upn: user.upn,
            }),
            _ => {
                tracing::info!(codes = ?reply.error_codes, "relayed sign-in denied");
                Err(AuthFailure::Denied)
            }
        }
    }
}
