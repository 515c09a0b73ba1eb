//! [`Pipeline`]: the [`Authenticator`] every mail protocol front uses.
//!
//! Bearer: cache lookup by SHA-256 of the token (no signature check on a hit), else
//! [`BearerValidator::verify`]; then the protocol's scope, the SASL `user` against the
//! token's subject, the on-premises `BlockModernAuth<Protocol>` switch, and the account
//! (created on first use from the token's `oid`, `upn`, `name`).
//!
//! Both: a user identity has revoked since the token was issued (or, for basic, a later
//! revocation) is refused, and the [`Principal`]'s [`crate::RevocationWatch`] ends the
//! session when a revocation arrives later ([`Revocations`]).
//!
//! Basic: the authentication policy decides first, from the mail store alone (the account
//! by UPN — the name identity checks the password for —, its policy, else the
//! organization default). A refused protocol fails there:
//! the [`CredentialCheck`] is never called, so no password is hashed and no lockout
//! counter moves. Only then the password check.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use mailward_authpolicy::{AuthenticationPolicy, Decision, Flavour, Method, Protocol, decide};
use mailward_mailstore::{Account, MailStore, NewAccount};
use mailward_sasl::{BearerError, BearerStatus, Credentials, Mechanism};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use crate::bearer::{BearerValidator, TokenError, VerifiedToken, required_scopes};
use crate::metrics::{Metrics, MetricsSnapshot};
use crate::relay::CredentialCheck;
use crate::revocation::{Revocations, Standing};
use crate::{AuthFailure, AuthRequest, Authenticator, Principal};

/// Settings of the pipeline beyond its three collaborators.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// Which authentication-policy switches apply.
    pub flavour: Flavour,
    /// Most verified tokens kept in the cache.
    pub token_cache_capacity: usize,
    /// How long a [`Authenticator::basic_possible`] answer is reused.
    pub basic_possible_ttl: Duration,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            flavour: Flavour::Cloud,
            token_cache_capacity: 10_000,
            basic_possible_ttl: Duration::seconds(30),
        }
    }
}

/// The mail role's authentication pipeline.
#[derive(Debug)]
pub struct Pipeline {
    store: Arc<dyn MailStore>,
    bearer: BearerValidator,
    credentials: Arc<dyn CredentialCheck>,
    cfg: PipelineConfig,
    tokens: Mutex<TokenCache>,
    basic_possible: Mutex<HashMap<Protocol, (OffsetDateTime, bool)>>,
    revocations: Arc<Revocations>,
    metrics: Metrics,
}

/// A verified token and the account it maps to.
#[derive(Debug, Clone)]
struct CachedToken {
    token: VerifiedToken,
    account: Account,
}

/// Verified tokens by SHA-256 of the token text, bounded; the oldest entry goes first.
#[derive(Debug, Default)]
struct TokenCache {
    map: HashMap<[u8; 32], CachedToken>,
    order: VecDeque<[u8; 32]>,
}

impl TokenCache {
    fn get(&self, key: &[u8; 32]) -> Option<CachedToken> {
        self.map.get(key).cloned()
    }

    fn insert(&mut self, key: [u8; 32], value: CachedToken, capacity: usize, now: OffsetDateTime) {
        if capacity == 0 {
            return;
        }
        if self.map.len() >= capacity {
            // Drop expired entries first, then the oldest ones.
            let now = now.unix_timestamp();
            self.map.retain(|_, v| v.token.exp > now);
            let map = &self.map;
            self.order.retain(|k| map.contains_key(k));
            while self.map.len() >= capacity {
                match self.order.pop_front() {
                    Some(k) => {
                        self.map.remove(&k);
                    }
                    None => break,
                }
            }
        }
        if self.map.insert(key, value).is_none() {
            self.order.push_back(key);
        }
    }

    fn remove(&mut self, key: &[u8; 32]) {
        if self.map.remove(key).is_some() {
            self.order.retain(|k| k != key);
        }
    }
}

fn mechanism_index(credentials: &Credentials) -> usize {
    match credentials {
        Credentials::Password { .. } => 0,
        Credentials::Bearer {
            mechanism: Mechanism::OAuthBearer,
            ..
        } => 2,
        Credentials::Bearer { .. } => 1,
    }
}

impl Pipeline {
    pub fn new(
        store: Arc<dyn MailStore>,
        bearer: BearerValidator,
        credentials: Arc<dyn CredentialCheck>,
        cfg: PipelineConfig,
    ) -> Pipeline {
        Pipeline {
            store,
            bearer,
            credentials,
            cfg,
            tokens: Mutex::new(TokenCache::default()),
            basic_possible: Mutex::new(HashMap::new()),
            revocations: Arc::new(Revocations::unfed()),
            metrics: Metrics::default(),
        }
    }

    /// Uses `revocations` (kept current by a [`crate::RevocationFeed`]) for every check.
    pub fn with_revocations(mut self, revocations: Arc<Revocations>) -> Pipeline {
        self.revocations = revocations;
        self
    }

    /// The revocations this pipeline applies.
    pub fn revocations(&self) -> &Arc<Revocations> {
        &self.revocations
    }

    /// The counters as of now.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.metrics
            .snapshot(self.bearer.signature_checks(), self.bearer.jwks_fetches())
    }

    /// Forgets cached [`Authenticator::basic_possible`] answers (after a policy change).
    pub fn invalidate_policy_cache(&self) {
        lock(&self.basic_possible).clear();
    }

    /// The bearer validator (for the HTTP front's challenge parameters).
    pub fn bearer(&self) -> &BearerValidator {
        &self.bearer
    }

    /// [`Authenticator::authenticate`] at a given time.
    pub async fn authenticate_at(
        &self,
        req: AuthRequest<'_>,
        now: OffsetDateTime,
    ) -> Result<Principal, AuthFailure> {
        self.metrics
            .attempt(req.protocol, mechanism_index(req.credentials));
        let result = match req.credentials {
            Credentials::Bearer { user, token, .. } => {
                self.bearer_auth(req.protocol, user.as_deref(), token.expose_secret(), now)
                    .await
            }
            Credentials::Password {
                username, password, ..
            } => self.basic_auth(&req, username, password, now).await,
        };
        match &result {
            Ok(p) => {
                Metrics::inc(&self.metrics.successes);
                tracing::info!(protocol = %req.protocol, account = %p.account.address, method = ?p.method, "authenticated");
            }
            Err(AuthFailure::Unavailable) => Metrics::inc(&self.metrics.unavailable),
            Err(_) => Metrics::inc(&self.metrics.failures),
        }
        result
    }

    fn bearer_error(&self, status: BearerStatus, protocol: Protocol) -> AuthFailure {
        AuthFailure::Bearer(BearerError {
            status,
            scope: Some(required_scopes(protocol).join(" ")).filter(|s| !s.is_empty()),
            openid_configuration: Some(self.bearer.config().openid_configuration_url()),
        })
    }

    async fn bearer_auth(
        &self,
        protocol: Protocol,
        user: Option<&str>,
        token: &str,
        now: OffsetDateTime,
    ) -> Result<Principal, AuthFailure> {
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let leeway = self.bearer.config().leeway_secs;
        let cached = lock(&self.tokens).get(&key);
        let entry = match cached {
            Some(c) if c.token.live_at(now, leeway) => {
                Metrics::inc(&self.metrics.token_cache_hits);
                c
            }
            stale => {
                if stale.is_some() {
                    lock(&self.tokens).remove(&key);
                }
                let verified = match self.bearer.verify(token, now).await {
                    Ok(v) => v,
                    Err(TokenError::KeysUnavailable(reason)) => {
                        tracing::warn!(%reason, "bearer token not checked: no key set");
                        return Err(AuthFailure::Unavailable);
                    }
                    Err(TokenError::Invalid(code)) => {
                        tracing::info!(%protocol, code, "bearer token refused");
                        return Err(self.bearer_error(BearerStatus::InvalidToken, protocol));
                    }
                };
                let account = self
                    .store
                    .ensure_account(NewAccount {
                        user_oid: verified.oid,
                        upn: verified.upn.clone(),
                        address: verified
                            .email
                            .clone()
                            .unwrap_or_else(|| verified.upn.clone())
                            .to_lowercase(),
                        display_name: verified
                            .name
                            .clone()
                            .unwrap_or_else(|| verified.upn.clone()),
                        now,
                    })
                    .await
                    .map_err(|e| {
                        tracing::error!(error = %e, "mail store: ensure_account failed");
                        AuthFailure::Unavailable
                    })?;
                let entry = CachedToken {
                    token: verified,
                    account,
                };
                lock(&self.tokens).insert(key, entry.clone(), self.cfg.token_cache_capacity, now);
                entry
            }
        };
        let issued_ms = entry.token.issued_ms();
        match self.revocations.standing(entry.token.oid, issued_ms, now) {
            Standing::Valid => {}
            Standing::Revoked => {
                lock(&self.tokens).remove(&key);
                Metrics::inc(&self.metrics.revoked);
                tracing::info!(%protocol, "bearer token refused: revoked by identity");
                return Err(self.bearer_error(BearerStatus::InvalidToken, protocol));
            }
            Standing::Unknown => {
                tracing::warn!(%protocol, "bearer token not accepted: identity's revocation feed is silent");
                return Err(AuthFailure::Unavailable);
            }
        }
        if !entry.token.has_scope_for(protocol) {
            tracing::info!(%protocol, scopes = ?entry.token.scopes, "bearer token lacks the protocol's scope");
            return Err(self.bearer_error(BearerStatus::InsufficientScope, protocol));
        }
        if let Some(user) = user
            && !entry.token.names(user)
            && !user.eq_ignore_ascii_case(&entry.account.address)
        {
            tracing::info!(%protocol, "SASL user does not name the token's subject");
            return Err(self.bearer_error(BearerStatus::InvalidToken, protocol));
        }
        if self.cfg.flavour == Flavour::OnPremises {
            let policy = self
                .store
                .effective_auth_policy(entry.account.id)
                .await
                .map_err(|e| {
                    tracing::error!(error = %e, "mail store: effective_auth_policy failed");
                    AuthFailure::Unavailable
                })?;
            if let Decision::Deny(reason) = decide(
                policy.user.as_ref(),
                policy.default.as_ref(),
                self.cfg.flavour,
                protocol,
                Method::Modern,
            ) {
                Metrics::inc(&self.metrics.blocked_by_policy);
                tracing::info!(%protocol, %reason, "modern authentication refused by policy");
                return Err(AuthFailure::Denied);
            }
        }
        let revocation = self.revocations.watch(entry.token.oid, issued_ms);
        Ok(Principal {
            account: entry.account,
            method: Method::Modern,
            scopes: entry.token.scopes,
            revocation,
        })
    }

    /// The authentication policy's decision for basic auth by `username`, from the mail
    /// store alone.
    async fn basic_decision(
        &self,
        username: &str,
        protocol: Protocol,
    ) -> Result<Decision, AuthFailure> {
        let store_err = |e: mailward_mailstore::StoreError| {
            tracing::error!(error = %e, "mail store: reading authentication policy failed");
            AuthFailure::Unavailable
        };
        // The account of the user the credential check will name: identity checks the
        // password of the UPN, so the policy is the UPN's account's (never that of another
        // mailbox whose address happens to be this name).
        let account = self
            .store
            .account_by_upn(username)
            .await
            .map_err(store_err)?;
        let (user, default) = match account {
            Some(a) => {
                let p = self
                    .store
                    .effective_auth_policy(a.id)
                    .await
                    .map_err(store_err)?;
                (p.user, p.default)
            }
            None => (None, self.default_policy().await.map_err(store_err)?),
        };
        Ok(decide(
            user.as_ref(),
            default.as_ref(),
            self.cfg.flavour,
            protocol,
            Method::Basic,
        ))
    }

    async fn default_policy(
        &self,
    ) -> Result<Option<AuthenticationPolicy>, mailward_mailstore::StoreError> {
        match self.store.default_auth_policy().await? {
            Some(name) => self.store.auth_policy(&name).await,
            None => Ok(None),
        }
    }

    async fn basic_auth(
        &self,
        req: &AuthRequest<'_>,
        username: &str,
        password: &mailward_types::Secret<String>,
        now: OffsetDateTime,
    ) -> Result<Principal, AuthFailure> {
        let protocol = req.protocol;
        if !req.tls {
            tracing::info!(%protocol, "basic authentication refused without TLS");
            return Err(AuthFailure::Denied);
        }
        if let Decision::Deny(reason) = self.basic_decision(username, protocol).await? {
            Metrics::inc(&self.metrics.blocked_by_policy);
            tracing::info!(%protocol, %reason, "basic authentication refused by policy");
            return Err(AuthFailure::Denied);
        }
        Metrics::inc(&self.metrics.password_checks);
        let user = self
            .credentials
            .check(username, password, protocol, req.remote_ip, req.user_agent)
            .await?;
        let account = self
            .store
            .ensure_account(NewAccount {
                user_oid: user.user_oid,
                upn: user.upn,
                address: user.address,
                display_name: user.display_name,
                now,
            })
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "mail store: ensure_account failed");
                AuthFailure::Unavailable
            })?;
        let revocation = self
            .revocations
            .watch(account.user_oid, mailward_types::clock::millis(now));
        Ok(Principal {
            account,
            method: Method::Basic,
            scopes: Vec::new(),
            revocation,
        })
    }

    /// [`Authenticator::basic_possible`] at a given time.
    pub async fn basic_possible_at(&self, protocol: Protocol, now: OffsetDateTime) -> bool {
        if let Some((at, answer)) = lock(&self.basic_possible).get(&protocol).copied()
            && now - at < self.cfg.basic_possible_ttl
        {
            return answer;
        }
        let answer = match self.compute_basic_possible(protocol).await {
            Ok(a) => a,
            Err(e) => {
                tracing::error!(error = %e, "mail store: reading authentication policies failed");
                // Do not advertise what probably cannot succeed; retry next time.
                return false;
            }
        };
        lock(&self.basic_possible).insert(protocol, (now, answer));
        answer
    }

    async fn compute_basic_possible(
        &self,
        protocol: Protocol,
    ) -> Result<bool, mailward_mailstore::StoreError> {
        let allows = |user: Option<&AuthenticationPolicy>,
                      default: Option<&AuthenticationPolicy>| {
            decide(user, default, self.cfg.flavour, protocol, Method::Basic).is_allowed()
        };
        if allows(None, self.default_policy().await?.as_ref()) {
            return Ok(true);
        }
        Ok(self
            .store
            .auth_policies()
            .await?
            .iter()
            .any(|p| allows(Some(p), None)))
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[async_trait]
impl Authenticator for Pipeline {
    async fn authenticate(&self, req: AuthRequest<'_>) -> Result<Principal, AuthFailure> {
        self.authenticate_at(req, mailward_types::clock::now())
            .await
    }

    async fn basic_possible(&self, protocol: Protocol) -> bool {
        self.basic_possible_at(protocol, mailward_types::clock::now())
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(exp: i64) -> CachedToken {
        CachedToken {
            token: VerifiedToken {
                oid: uuid::Uuid::nil(),
                upn: "a@b".into(),
                name: None,
                email: None,
                scopes: vec![],
                exp,
                iat: 0,
            },
            account: Account {
                id: uuid::Uuid::nil(),
                user_oid: uuid::Uuid::nil(),
                upn: "a@b".into(),
                address: "a@b".into(),
                display_name: "a".into(),
                auth_policy: None,
                created: OffsetDateTime::UNIX_EPOCH,
            },
        }
    }

    #[test]
    fn token_cache_is_bounded_and_drops_expired_entries_first() {
        let now = OffsetDateTime::UNIX_EPOCH + Duration::seconds(1000);
        let mut c = TokenCache::default();
        c.insert([1; 32], entry(500), 2, now); // already expired
        c.insert([2; 32], entry(2000), 2, now);
        c.insert([3; 32], entry(2000), 2, now);
        assert!(c.get(&[1; 32]).is_none());
        assert!(c.get(&[2; 32]).is_some());
        assert!(c.get(&[3; 32]).is_some());
        c.insert([4; 32], entry(2000), 2, now);
        assert!(c.get(&[2; 32]).is_none(), "oldest goes first");
        assert_eq!(c.map.len(), 2);
        assert_eq!(c.order.len(), 2);
        c.remove(&[3; 32]);
        assert_eq!(c.order.len(), 1);
        c.insert([5; 32], entry(2000), 0, now);
        assert!(c.get(&[5; 32]).is_none(), "capacity 0 caches nothing");
    }
}
