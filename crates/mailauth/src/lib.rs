//! The mail role's one authentication pipeline, shared by IMAP, POP3, SMTP and the HTTP
//! front (REST API, autodiscover): a protocol front finishes a SASL exchange (or reads an
//! `Authorization` header), hands the [`mailward_sasl::Credentials`] to an
//! [`Authenticator`] and gets a [`Principal`] (the mail account) or an [`AuthFailure`] it
//! turns into its own protocol's answer.
//!
//! - Bearer: the JWT is checked against identity's JWKS (cached, refetched on an unknown
//!   `kid`), `iss`, `aud` (this instance's resource URI), `exp`/`nbf` with small skew and
//!   the protocol's scope; verified tokens are cached until they expire.
//! - Revocation: identity's revocation feed, polled every few seconds, lists users whose
//!   tokens identity revoked; their older tokens are refused and their open sessions end
//!   ([`Revocations`], [`RevocationWatch`]).
//! - Basic: the authentication policy decides first; a refused protocol fails right there
//!   (no directory call, no password hash, no lockout counter). Only then are the
//!   credentials checked through a [`CredentialCheck`] (identity's relayed legacy sign-in
//!   in the cloud flavour; a directory bind arrives with federation).
//!
//! **Architecture invariant:** a failure tells the client nothing about whether the account
//! exists or why basic auth was refused; the reason goes to logs and metrics only.

mod bearer;
mod metrics;
mod pipeline;
mod relay;
mod revocation;

pub use bearer::{
    BearerConfig, BearerValidator, ConfigError, TokenError, VerifiedToken, required_scopes,
};
pub use metrics::{MECHANISM_LABELS, MetricsSnapshot, PROTOCOL_LABELS};
pub use pipeline::{Pipeline, PipelineConfig};
pub use relay::{CheckedUser, CredentialCheck, RelayConfig, RelayedCheck, relay_protocol_name};
pub use revocation::{
    FeedConfig, FeedError, RevocationFeed, RevocationWatch, Revocations, Standing,
};

use async_trait::async_trait;
use mailward_authpolicy::{Method, Protocol};
use mailward_mailstore::Account;
use mailward_sasl::{BearerError, Credentials};
use std::net::IpAddr;

/// One authentication attempt as a protocol front sees it.
#[derive(Debug)]
pub struct AuthRequest<'a> {
    pub protocol: Protocol,
    pub credentials: &'a Credentials,
    pub remote_ip: IpAddr,
    /// Whether the connection is TLS-protected (implicit or after STARTTLS).
    pub tls: bool,
    /// IMAP `ID` name/version, HTTP `User-Agent`, ... for the sign-in log.
    pub user_agent: Option<&'a str>,
}

/// Who authenticated.
#[derive(Debug, Clone)]
pub struct Principal {
    pub account: Account,
    pub method: Method,
    /// Scopes granted (bearer) — empty for basic.
    pub scopes: Vec<String>,
    /// Fires when identity revokes the user's access after this authentication: the
    /// session ends then.
    pub revocation: RevocationWatch,
}

/// Why an attempt failed, in the terms a protocol front needs to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthFailure {
    /// The bearer token was rejected: send the mechanism's error challenge
    /// ([`mailward_sasl::Exchange::bearer_failure`]) or an HTTP 401/403 with this error,
    /// then fail.
    Bearer(BearerError),
    /// Generic failure: IMAP `NO [AUTHENTICATIONFAILED]`, SMTP `535 5.7.8`, POP3 `-ERR
    /// [AUTH]`, HTTP 401. Also used when the authentication policy refuses basic auth.
    Denied,
    /// A peer the check needs (identity, the directory) did not answer: IMAP
    /// `NO [UNAVAILABLE]`, SMTP `454 4.7.0`, POP3 `-ERR [SYS/TEMP]`, HTTP 503.
    Unavailable,
}

/// The pipeline, as protocol fronts use it.
#[async_trait]
pub trait Authenticator: Send + Sync + std::fmt::Debug + 'static {
    async fn authenticate(&self, req: AuthRequest<'_>) -> Result<Principal, AuthFailure>;

    /// Whether some authentication policy could allow basic auth for `protocol` (decides
    /// whether `PLAIN`/`LOGIN`/`USER` are advertised, with TLS; see
    /// [`mailward_sasl::advertised`]).
    async fn basic_possible(&self, protocol: Protocol) -> bool;
}
