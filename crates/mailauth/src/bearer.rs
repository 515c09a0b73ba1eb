//! [`BearerValidator`]: validates identity's JWT access tokens for this mail instance.
//!
//! Keys come from identity's JWKS (found through `<issuer>/.well-known/openid-configuration`
//! → `jwks_uri`, or a configured JWKS URL), fetched over HTTPS (trusting a configured CA
//! file besides the system roots), parsed once and cached. A token signed with a `kid` the
//! cached set does not know triggers one refetch, at most once per
//! [`BearerConfig::refetch_min_interval`], so a stream of garbage `kid`s cannot make us
//! hammer identity. The key set is also refetched on use once it is older than
//! [`BearerConfig::max_key_age`].
//!
//! Checks ([`mailward_tokens::JwksVerifier::verify`] does the first five): algorithm
//! (ES256/RS256 only, never `none`/HMAC), signature, `iss`, `aud` (this instance's resource
//! URI), `exp`/`nbf` with [`BearerConfig::leeway_secs`] of skew; then here: a user token
//! (`oid`, `upn` or `preferred_username`) and the protocol's scope in `scp`
//! ([`required_scopes`]).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use mailward_authpolicy::Protocol;
use mailward_tokens::{Expect, JwksVerifier, VerifyError, peek_kid};
use mailward_types::model::TokenAlg;
use serde_json::Value;
use time::{Duration, OffsetDateTime};
use tokio::sync::{Mutex, RwLock};
use uuid::Uuid;

/// How to reach and trust identity's keys, and what tokens must say.
#[derive(Debug, Clone)]
pub struct BearerConfig {
    /// Exact `iss` of accepted tokens (identity's `<url>/<tenant>/v2.0`).
    pub issuer: String,
    /// This instance's resource URI: the required `aud`.
    pub audience: String,
    /// The JWKS URL; `None` = discover it from `<issuer>/.well-known/openid-configuration`.
    pub jwks_url: Option<String>,
    /// A PEM file of extra trusted CA certificates (mailward's local CA).
    pub ca_file: Option<PathBuf>,
    /// Clock skew tolerated on `exp`/`nbf`.
    pub leeway_secs: i64,
    /// At most one refetch for an unknown `kid` per this interval.
    pub refetch_min_interval: Duration,
    /// Refetch the key set on use once it is this old.
    pub max_key_age: Duration,
    /// Timeout of each HTTPS request to identity.
    pub http_timeout: std::time::Duration,
}

impl BearerConfig {
    /// Defaults: discovery, 60 s skew, unknown-`kid` refetch at most every 5 minutes, keys
    /// refreshed after 24 hours, 10 s HTTP timeout.
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> BearerConfig {
        BearerConfig {
            issuer: issuer.into(),
            audience: audience.into(),
            jwks_url: None,
            ca_file: None,
            leeway_secs: 60,
            refetch_min_interval: Duration::minutes(5),
            max_key_age: Duration::hours(24),
            http_timeout: std::time::Duration::from_secs(10),
        }
    }

    /// The discovery document URL, which `OAUTHBEARER` error challenges name.
    pub fn openid_configuration_url(&self) -> String {
        format!(
            "{}/.well-known/openid-configuration",
            self.issuer.trim_end_matches('/')
        )
    }
}

/// Why a validator could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading CA file {path}: {source}")]
    CaFile {
        path: String,
        source: std::io::Error,
    },
    #[error("CA file {path}: {reason}")]
    CaPem { path: String, reason: String },
    #[error("HTTP client: {0}")]
    Http(String),
}

/// The facts of a verified user token the mail role uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    /// `oid`: the identity user's object id.
    pub oid: Uuid,
    /// `upn`, else `preferred_username`.
    pub upn: String,
    pub name: Option<String>,
    /// `email` when present (identity's access tokens carry none; the UPN is the address).
    pub email: Option<String>,
    /// `scp`, split on spaces.
    pub scopes: Vec<String>,
    /// `exp` in Unix seconds.
    pub exp: i64,
    /// `iat` in Unix seconds (compared with revocations).
    pub iat: i64,
}

impl VerifiedToken {
    /// Whether the token is still acceptable at `now` with `leeway_secs` of skew.
    pub fn live_at(&self, now: OffsetDateTime, leeway_secs: i64) -> bool {
        now.unix_timestamp() < self.exp.saturating_add(leeway_secs.max(0))
    }

    /// The earliest instant (Unix ms) the token can have been issued at: `iat` has whole
    /// seconds, so a token of the same second as a revocation counts as issued before it
    /// (refused; the client fetches another).
    pub fn issued_ms(&self) -> i64 {
        self.iat.saturating_mul(1000)
    }

    /// Whether the token carries a scope `protocol` accepts.
    pub fn has_scope_for(&self, protocol: Protocol) -> bool {
        let required = required_scopes(protocol);
        self.scopes
            .iter()
            .any(|s| required.iter().any(|r| r.eq_ignore_ascii_case(s)))
    }

    /// Whether `user` (the SASL `user=` / `a=`) names this token's subject.
    pub fn names(&self, user: &str) -> bool {
        user.eq_ignore_ascii_case(&self.upn)
            || self
                .email
                .as_deref()
                .is_some_and(|e| e.eq_ignore_ascii_case(user))
    }
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Malformed, unknown key, bad signature, wrong issuer or audience, expired, not yet
    /// valid, not a user token. The code is [`VerifyError::code`] or a local one.
    #[error("token refused: {0}")]
    Invalid(&'static str),
    /// The key set could not be fetched and none is cached.
    #[error("identity's key set is unavailable: {0}")]
    KeysUnavailable(String),
}

/// The scopes (bare names, as in `scp`) that let a token use `protocol`; any one suffices.
pub fn required_scopes(protocol: Protocol) -> &'static [&'static str] {
    match protocol {
        Protocol::Imap => &["IMAP.AccessAsUser.All"],
        Protocol::Pop => &["POP.AccessAsUser.All"],
        Protocol::Smtp => &["SMTP.Send"],
        Protocol::Rest => &["Mail.ReadWrite", "Mail.Send"],
        Protocol::WebServices => &["EWS.AccessAsUser.All"],
        // Autodiscover only tells a mail client where to go: any mail scope will do.
        Protocol::Autodiscover => &[
            "IMAP.AccessAsUser.All",
            "POP.AccessAsUser.All",
            "SMTP.Send",
            "Mail.ReadWrite",
            "Mail.Send",
            "EWS.AccessAsUser.All",
        ],
        _ => &[],
    }
}

/// Validates bearer tokens against identity's published keys.
#[derive(Debug)]
pub struct BearerValidator {
    cfg: BearerConfig,
    http: reqwest::Client,
    keys: RwLock<Option<Arc<JwksVerifier>>>,
    fetch: Mutex<FetchState>,
    signature_checks: AtomicU64,
    jwks_fetches: AtomicU64,
}

#[derive(Debug, Default)]
struct FetchState {
    /// When the cached set was fetched.
    fetched_at: Option<OffsetDateTime>,
    /// When the last refetch for an unknown `kid` happened.
    unknown_kid_refetch: Option<OffsetDateTime>,
    /// `jwks_uri` from discovery, once known.
    jwks_uri: Option<String>,
}

impl BearerValidator {
    pub fn new(cfg: BearerConfig) -> Result<BearerValidator, ConfigError> {
        let mut builder = reqwest::Client::builder()
            .https_only(true)
            .timeout(cfg.http_timeout)
            .redirect(reqwest::redirect::Policy::none());
        if let Some(path) = &cfg.ca_file {
            builder = builder.add_root_certificate(load_ca(path)?);
        }
        let http = builder
            .build()
            .map_err(|e| ConfigError::Http(e.to_string()))?;
        let fetch = FetchState {
            jwks_uri: cfg.jwks_url.clone(),
            ..FetchState::default()
        };
        Ok(BearerValidator {
            cfg,
            http,
            keys: RwLock::new(None),
            fetch: Mutex::new(fetch),
            signature_checks: AtomicU64::new(0),
            jwks_fetches: AtomicU64::new(0),
        })
    }

    pub fn config(&self) -> &BearerConfig {
        &self.cfg
    }

    /// Signature verifications so far.
    pub fn signature_checks(&self) -> u64 {
        self.signature_checks.load(Ordering::Relaxed)
    }

    /// JWKS documents fetched so far.
    pub fn jwks_fetches(&self) -> u64 {
        self.jwks_fetches.load(Ordering::Relaxed)
    }

    /// Verifies `token` at `now`: signature and registered claims, then that it is a user
    /// token. The protocol's scope is the caller's check ([`VerifiedToken::has_scope_for`]).
    pub async fn verify(
        &self,
        token: &str,
        now: OffsetDateTime,
    ) -> Result<VerifiedToken, TokenError> {
        let kid = peek_kid(token).ok_or(TokenError::Invalid(VerifyError::Malformed.code()))?;
        let mut keys = self.current_keys(now).await?;
        if !keys.has_kid(&kid) {
            keys = self
                .refetch_for_unknown_kid(&kid, now)
                .await
                .unwrap_or(keys);
        }
        let expect = Expect {
            issuer: self.cfg.issuer.clone(),
            audience: Some(self.cfg.audience.clone()),
            algs: vec![TokenAlg::ES256, TokenAlg::RS256],
            leeway_secs: self.cfg.leeway_secs,
        };
        if keys.has_kid(&kid) {
            self.signature_checks.fetch_add(1, Ordering::Relaxed);
        }
        let claims = keys
            .verify(token, &expect, now)
            .map_err(|e| TokenError::Invalid(e.code()))?;
        user_token(&claims)
    }

    /// The cached key set, fetched when there is none or it is older than `max_key_age`.
    async fn current_keys(&self, now: OffsetDateTime) -> Result<Arc<JwksVerifier>, TokenError> {
        let cached = self.keys.read().await.clone();
        if let Some(keys) = cached {
            let fresh = {
                let state = self.fetch.lock().await;
                state
                    .fetched_at
                    .is_some_and(|at| now - at < self.cfg.max_key_age)
            };
            if fresh {
                return Ok(keys);
            }
            // Stale: try to refresh, keep using the old set if identity is unreachable.
            return Ok(self.fetch_now(now, None).await.unwrap_or(keys));
        }
        self.fetch_now(now, None).await
    }

    /// One refetch for an unknown `kid`, unless one happened within the minimum interval.
    async fn refetch_for_unknown_kid(
        &self,
        kid: &str,
        now: OffsetDateTime,
    ) -> Option<Arc<JwksVerifier>> {
        {
            let state = self.fetch.lock().await;
            if state
                .unknown_kid_refetch
                .is_some_and(|at| now - at < self.cfg.refetch_min_interval)
            {
                return None;
            }
        }
        self.fetch_now(now, Some(kid)).await.ok()
    }

    /// Fetches the key set (serialised: concurrent callers wait for one fetch and reuse its
    /// result when it is recent enough).
    async fn fetch_now(
        &self,
        now: OffsetDateTime,
        kid: Option<&str>,
    ) -> Result<Arc<JwksVerifier>, TokenError> {
        let unknown_kid = kid.is_some();
        let mut state = self.fetch.lock().await;
        // Another caller may have fetched while we waited.
        let cached = self.keys.read().await.clone();
        if let (Some(at), Some(keys)) = (state.fetched_at, &cached)
            && at >= now
            && kid.is_none_or(|kid| keys.has_kid(kid))
        {
            return Ok(keys.clone());
        }
        if unknown_kid {
            if state
                .unknown_kid_refetch
                .is_some_and(|at| now - at < self.cfg.refetch_min_interval)
            {
                return cached.ok_or_else(|| TokenError::KeysUnavailable("no key set".into()));
            }
            state.unknown_kid_refetch = Some(now);
        }
        let jwks_uri = match &state.jwks_uri {
            Some(u) => u.clone(),
            None => {
                let uri = self.discover().await?;
                state.jwks_uri = Some(uri.clone());
                uri
            }
        };
        self.jwks_fetches.fetch_add(1, Ordering::Relaxed);
        let doc = self.get_json(&jwks_uri).await?;
        let verifier = JwksVerifier::from_jwks(&doc)
            .map_err(|e| TokenError::KeysUnavailable(e.to_string()))?;
        let verifier = Arc::new(verifier);
        *self.keys.write().await = Some(verifier.clone());
        state.fetched_at = Some(now);
        tracing::debug!(jwks_uri, keys = ?verifier, "fetched identity's key set");
        Ok(verifier)
    }

    async fn discover(&self) -> Result<String, TokenError> {
        let doc = self.get_json(&self.cfg.openid_configuration_url()).await?;
        if doc.get("issuer").and_then(Value::as_str) != Some(self.cfg.issuer.as_str()) {
            return Err(TokenError::KeysUnavailable(
                "discovery document names another issuer".into(),
            ));
        }
        doc.get("jwks_uri")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| TokenError::KeysUnavailable("discovery document has no jwks_uri".into()))
    }

    async fn get_json(&self, url: &str) -> Result<Value, TokenError> {
        let unavailable = |e: reqwest::Error| {
            tracing::warn!(url, error = %e, "fetching from identity failed");
            TokenError::KeysUnavailable(e.to_string())
        };
        let res = self.http.get(url).send().await.map_err(unavailable)?;
        let res = res.error_for_status().map_err(unavailable)?;
        res.json::<Value>().await.map_err(unavailable)
    }
}

/// The user facts of verified claims; app-only tokens (no `oid`/`upn`) are refused.
fn user_token(claims: &Value) -> Result<VerifiedToken, TokenError> {
    let str_claim = |name: &str| claims.get(name).and_then(Value::as_str);
    let oid = str_claim("oid")
        .and_then(|s| Uuid::parse_str(s).ok())
        .ok_or(TokenError::Invalid("token_not_a_user_token"))?;
    let upn = str_claim("upn")
        .or_else(|| str_claim("preferred_username"))
        .filter(|s| !s.is_empty())
        .ok_or(TokenError::Invalid("token_not_a_user_token"))?
        .to_string();
    let scopes = str_claim("scp")
        .map(|s| {
            s.split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let number = |name: &str| {
        claims
            .get(name)
            .and_then(|v| v.as_i64().or_else(|| v.as_f64().map(|f| f.floor() as i64)))
            .ok_or(TokenError::Invalid("token_missing_claim"))
    };
    let exp = number("exp")?;
    let iat = number("iat")?;
    Ok(VerifiedToken {
        oid,
        upn,
        name: str_claim("name").map(str::to_string),
        email: str_claim("email").map(str::to_string),
        scopes,
        exp,
        iat,
    })
}

pub(crate) fn load_ca(path: &std::path::Path) -> Result<reqwest::Certificate, ConfigError> {
    let pem = std::fs::read(path).map_err(|source| ConfigError::CaFile {
        path: path.display().to_string(),
        source,
    })?;
    reqwest::Certificate::from_pem(&pem).map_err(|e| ConfigError::CaPem {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}
