//! The **identity** role: OAuth 2.0 / OpenID Connect token issuer with the tenant
//! directory, sign-in pages, MFA (TOTP, passkeys, recovery codes), the policy step, smart
//! lockout, relayed basic authentication, the sign-in log and the admin API.
//!
//! [`open`] builds the context from configuration and a store; [`router`] gives the HTTP
//! front; the binary serves it (TLS from `mailward-net`) and runs [`maintain`]
//! periodically.
//!
//! **Architecture invariant:** identity reads and writes only its own store; other roles
//! reach it over HTTP (OIDC, JWKS, the relay and admin APIs).

pub mod authn;
pub mod bootstrap;
pub mod cache;
pub mod conditional_access;
pub mod config;
pub mod directory;
pub mod flows;
pub mod http;
pub mod issue;
pub mod keys;
pub mod limits;
pub mod mfa_methods;
pub mod pages;
pub mod password;
pub mod signin_log;
pub mod state;

pub use config::IdentityConfig;
pub use http::router;
pub use state::Ctx;

use mailward_mfa::passkey::PasskeyService;
use mailward_store::{DynStore, StoreError};
use mailward_tokens::seal::Sealer;
use rand::RngCore;
use std::sync::{Arc, RwLock};
use time::OffsetDateTime;

pub use http::admin_api_local::LocalAdmin;

/// Why identity could not start.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("configuration: {0}")]
    Config(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Keys(#[from] keys::KeyMaintenanceError),
}

/// Builds identity's context: bootstraps the tenant on first start, brings signing keys
/// up to date, starts the sign-in log writer.
pub async fn open(
    cfg: IdentityConfig,
    store: DynStore,
    sealer: Sealer,
    default_domain: Option<&str>,
    now: OffsetDateTime,
) -> Result<Ctx, OpenError> {
    let problems = cfg.validate();
    if !problems.is_empty() {
        return Err(OpenError::Config(problems.join("; ")));
    }
    let tenant_id = bootstrap::ensure_tenant(&store, &cfg, default_domain, now).await?;
    let pepper = load_pepper(&store, &sealer).await?;
    let keyset = keys::maintain(&store, &sealer, &cfg.keys, now).await?;
    let passwords = password::PasswordPool::new(&cfg.passwords).map_err(OpenError::Config)?;
    let origin = url::Url::parse(&cfg.public_url)
        .map_err(|e| OpenError::Config(format!("identity.public_url: {e}")))?;
    let passkeys = PasskeyService::new(&cfg.rp_id(), &origin, &cfg.organization)
        .map_err(|e| OpenError::Config(format!("identity.webauthn: {e}")))?;
    let templates = pages::Templates::new().map_err(OpenError::Config)?;
    let log = signin_log::SignInLog::start(store.clone(), &cfg.limits);
    let issuer = format!("{}/{tenant_id}/v2.0", cfg.public_url);
    let geo = match &cfg.policy.geoip_database {
        Some(path) => Some(conditional_access::GeoDb::open(path).map_err(OpenError::Config)?),
        None => None,
    };
    Ok(Ctx(Arc::new(state::Inner {
        cfg,
        store,
        sealer,
        keys: RwLock::new(Arc::new(keyset)),
        passwords,
        passkeys,
        templates,
        tenant_id,
        issuer,
        cache: cache::DirectoryCache::default(),
        log,
        pepper,
        conditional_access: conditional_access::Engine::new(geo),
    })))
}

/// Periodic housekeeping: key rotation and purging expired codes, flows and sessions.
pub async fn maintain(ctx: &Ctx, now: OffsetDateTime) -> Result<(), OpenError> {
    let keyset = keys::maintain(ctx.store(), ctx.sealer(), &ctx.cfg().keys, now).await?;
    ctx.set_keys(keyset);
    let purged = ctx.store().purge_expired(now).await?;
    if purged > 0 {
        tracing::debug!(purged, "expired records purged");
    }
    Ok(())
}

/// The directory service over this context's store.
pub fn directory_for(ctx: &Ctx) -> directory::Directory {
    directory::Directory {
        store: ctx.store().clone(),
        passwords: ctx.passwords().clone(),
        min_password_length: ctx.cfg().passwords.min_length,
    }
}

async fn load_pepper(store: &DynStore, sealer: &Sealer) -> Result<[u8; 32], StoreError> {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    if let Some(v) = store.get_setting("lockout_pepper").await? {
        let sealed = STANDARD
            .decode(v)
            .map_err(|e| StoreError::Backend(format!("lockout_pepper: {e}")))?;
        let raw = sealer
            .open(&sealed)
            .map_err(|e| StoreError::Backend(format!("lockout_pepper: {e}")))?;
        let mut out = [0u8; 32];
        if raw.len() == 32 {
            out.copy_from_slice(&raw);
            return Ok(out);
        }
        return Err(StoreError::Backend(
            "lockout_pepper has the wrong length".into(),
        ));
    }
    let mut out = [0u8; 32];
    rand::rng().fill_bytes(&mut out);
    store
        .put_setting("lockout_pepper", &STANDARD.encode(sealer.seal(&out)))
        .await?;
    Ok(out)
}
