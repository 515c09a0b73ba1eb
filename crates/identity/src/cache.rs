//! A short-lived in-memory cache of applications and resources, the two directory objects
//! every token request reads and admins rarely change. Entries live [`TTL`]; admin API
//! changes on this node clear the cache at once, changes made elsewhere (another node, the
//! local CLI process) are seen within [`TTL`]. Users are never cached: disabling a user or
//! revoking their sessions must take effect on the next request.

use mailward_store::{DynStore, StoreError};
use mailward_types::model::{Application, Resource};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long an entry is trusted.
pub const TTL: Duration = Duration::from_secs(30);
/// Entries kept at most (a flood of distinct ids cannot grow memory without bound).
const MAX_ENTRIES: usize = 4096;

#[derive(Debug, Default)]
pub struct DirectoryCache {
    apps: Mutex<HashMap<String, (Instant, Application)>>,
    resources: Mutex<HashMap<String, (Instant, Resource)>>,
}

impl DirectoryCache {
    pub async fn app(
        &self,
        store: &DynStore,
        client_id: &str,
    ) -> Result<Option<Application>, StoreError> {
        if let Some(hit) = lookup(&self.apps, client_id) {
            return Ok(Some(hit));
        }
        let found = store.app(client_id).await?;
        if let Some(app) = &found {
            insert(&self.apps, client_id, app.clone());
        }
        Ok(found)
    }

    pub async fn resource(
        &self,
        store: &DynStore,
        uri: &str,
    ) -> Result<Option<Resource>, StoreError> {
        if let Some(hit) = lookup(&self.resources, uri) {
            return Ok(Some(hit));
        }
        let found = store.resource_by_uri(uri).await?;
        if let Some(r) = &found {
            insert(&self.resources, uri, r.clone());
        }
        Ok(found)
    }

    /// Forgets everything (after an admin change).
    pub fn clear(&self) {
        if let Ok(mut m) = self.apps.lock() {
            m.clear();
        }
        if let Ok(mut m) = self.resources.lock() {
            m.clear();
        }
    }
}

fn lookup<T: Clone>(map: &Mutex<HashMap<String, (Instant, T)>>, key: &str) -> Option<T> {
    let m = map.lock().ok()?;
    let (at, v) = m.get(key)?;
    (at.elapsed() < TTL).then(|| v.clone())
}

fn insert<T>(map: &Mutex<HashMap<String, (Instant, T)>>, key: &str, value: T) {
    if let Ok(mut m) = map.lock() {
        if m.len() >= MAX_ENTRIES {
            m.retain(|_, (at, _)| at.elapsed() < TTL);
            if m.len() >= MAX_ENTRIES {
                m.clear();
            }
        }
        m.insert(key.to_string(), (Instant::now(), value));
    }
}
