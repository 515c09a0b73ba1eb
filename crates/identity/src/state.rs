//! [`Ctx`]: the handles identity's handlers need (store, keys, password pool, passkeys,
//! templates, configuration). Cheap to clone; no business logic.

use crate::config::IdentityConfig;
use crate::password::PasswordPool;
use mailward_mfa::passkey::PasskeyService;
use mailward_store::DynStore;
use mailward_tokens::keyset::KeySet;
use mailward_tokens::seal::Sealer;
use std::sync::{Arc, RwLock};
use uuid::Uuid;

/// Shared identity context.
#[derive(Clone, Debug)]
pub struct Ctx(pub(crate) Arc<Inner>);

#[derive(Debug)]
pub(crate) struct Inner {
    pub cfg: IdentityConfig,
    pub store: DynStore,
    pub sealer: Sealer,
    pub keys: RwLock<Arc<KeySet>>,
    pub passwords: PasswordPool,
    pub passkeys: PasskeyService,
    pub templates: crate::pages::Templates,
    pub tenant_id: Uuid,
    /// `<public_url>/<tenant id>/v2.0`.
    pub issuer: String,
    pub cache: crate::cache::DirectoryCache,
    pub log: crate::signin_log::SignInLog,
    /// Instance secret mixed into wrong-password fingerprints.
    pub pepper: [u8; 32],
    pub conditional_access: crate::conditional_access::Engine,
}

impl Ctx {
    pub fn cfg(&self) -> &IdentityConfig {
        &self.0.cfg
    }

    pub fn store(&self) -> &DynStore {
        &self.0.store
    }

    pub fn sealer(&self) -> &Sealer {
        &self.0.sealer
    }

    pub fn tenant_id(&self) -> Uuid {
        self.0.tenant_id
    }

    pub fn log(&self) -> &crate::signin_log::SignInLog {
        &self.0.log
    }

    pub fn passwords(&self) -> &PasswordPool {
        &self.0.passwords
    }

    pub fn passkeys(&self) -> &PasskeyService {
        &self.0.passkeys
    }

    pub(crate) fn templates(&self) -> &crate::pages::Templates {
        &self.0.templates
    }

    pub(crate) fn pepper(&self) -> &[u8] {
        &self.0.pepper
    }

    /// The current key set (replaced atomically on rotation).
    pub fn keys(&self) -> Arc<KeySet> {
        match self.0.keys.read() {
            Ok(k) => k.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub(crate) fn set_keys(&self, keys: KeySet) {
        let mut guard = match self.0.keys.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        *guard = Arc::new(keys);
    }

    /// The OIDC issuer (`iss`), `<public_url>/<tenant id>/v2.0`.
    pub fn issuer(&self) -> &str {
        &self.0.issuer
    }

    /// Where identity's endpoints live; also the URI of identity's own resource.
    /// An application by client id, through the directory cache.
    pub async fn app(
        &self,
        client_id: &str,
    ) -> Result<Option<mailward_types::model::Application>, mailward_store::StoreError> {
        self.0.cache.app(&self.0.store, client_id).await
    }

    /// A resource by URI, through the directory cache.
    pub async fn resource(
        &self,
        uri: &str,
    ) -> Result<Option<mailward_types::model::Resource>, mailward_store::StoreError> {
        self.0.cache.resource(&self.0.store, uri).await
    }

    /// Drops cached directory objects after an admin change.
    pub fn invalidate_cache(&self) {
        self.0.cache.clear();
        self.0.conditional_access.invalidate();
    }

    pub fn conditional_access(&self) -> &crate::conditional_access::Engine {
        &self.0.conditional_access
    }

    pub fn base_url(&self) -> &str {
        &self.0.cfg.public_url
    }
}
