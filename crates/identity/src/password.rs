//! Argon2id password hashing on a bounded pool: at most `workers` hashes run at once (each
//! holds `memory_kib` of memory) and at most `queue` wait; beyond that callers get
//! [`Busy`] at once, so a flood of sign-ins cannot exhaust memory or starve other requests.

use crate::config::PasswordConfig;
use argon2::{
    Algorithm, Argon2, Params, PasswordHash, PasswordHasher as _, PasswordVerifier, Version,
};
use mailward_types::Secret;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::Semaphore;

/// The pool is saturated; try again shortly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("password verification is busy")]
pub struct Busy;

/// Hashes and verifies passwords off the async runtime.
#[derive(Debug, Clone)]
pub struct PasswordPool {
    workers: Arc<Semaphore>,
    admission: Arc<Semaphore>,
    params: Params,
    dummy_hash: Arc<String>,
    /// Passwords verified against a stored hash (not the dummy) since start.
    verified: Arc<AtomicU64>,
}

impl PasswordPool {
    pub fn new(cfg: &PasswordConfig) -> Result<Self, String> {
        let workers = if cfg.workers == 0 {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
        } else {
            cfg.workers
        };
        let params = Params::new(cfg.memory_kib, cfg.iterations, cfg.parallelism, None)
            .map_err(|e| format!("identity.passwords: invalid Argon2 parameters: {e}"))?;
        let dummy = hash_blocking(&params, "mailward-dummy-password-for-timing")
            .map_err(|e| format!("argon2: {e}"))?;
        Ok(Self {
            workers: Arc::new(Semaphore::new(workers)),
            admission: Arc::new(Semaphore::new(workers + cfg.queue)),
            params,
            dummy_hash: Arc::new(dummy),
            verified: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Hashes a new password (PHC string).
    pub async fn hash(&self, password: &Secret<String>) -> Result<String, Busy> {
        let params = self.params.clone();
        let pw = password.clone();
        self.run(move || hash_blocking(&params, pw.expose_secret()).ok())
            .await?
            .ok_or(Busy)
    }

    /// Verifies a password against a PHC hash. A malformed hash verifies as false.
    pub async fn verify(&self, hash: &str, password: &Secret<String>) -> Result<bool, Busy> {
        let hash = hash.to_string();
        let pw = password.clone();
        let verified = self.verified.clone();
        self.run(move || {
            verified.fetch_add(1, Ordering::Relaxed);
            verify_blocking(&hash, pw.expose_secret())
        })
        .await
    }

    /// How many passwords were verified against a stored hash (not the dummy) since the
    /// pool was created: what a guessing burst actually got checked.
    pub fn verified(&self) -> u64 {
        self.verified.load(Ordering::Relaxed)
    }

    /// Spends the same effort as a real verification and answers false, so that unknown
    /// users take as long as known ones.
    pub async fn verify_dummy(&self, password: &Secret<String>) -> Result<bool, Busy> {
        let hash = self.dummy_hash.clone();
        let pw = password.clone();
        self.run(move || {
            verify_blocking(&hash, pw.expose_secret());
            false
        })
        .await
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Busy> {
        let _admitted = self
            .admission
            .clone()
            .try_acquire_owned()
            .map_err(|_| Busy)?;
        let permit = self
            .workers
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Busy)?;
        let out = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            f()
        })
        .await
        .map_err(|_| Busy)?;
        Ok(out)
    }
}

fn argon(params: &Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
}

fn hash_blocking(params: &Params, password: &str) -> Result<String, argon2::password_hash::Error> {
    argon(params)
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
}

fn verify_blocking(hash: &str, password: &str) -> bool {
    match PasswordHash::new(hash) {
        // Parameters come from the stored hash, so old hashes keep verifying after a
        // parameter change.
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> PasswordConfig {
        PasswordConfig {
            memory_kib: 8192,
            iterations: 1,
            workers: 1,
            queue: 1,
            ..PasswordConfig::default()
        }
    }

    #[tokio::test]
    async fn hash_and_verify() {
        let pool = PasswordPool::new(&cheap()).unwrap();
        let pw = Secret::new("correct horse battery".to_string());
        let h = pool.hash(&pw).await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(pool.verify(&h, &pw).await.unwrap());
        assert!(!pool.verify(&h, &Secret::new("wrong".into())).await.unwrap());
        assert!(!pool.verify("not a hash", &pw).await.unwrap());
        assert!(!pool.verify_dummy(&pw).await.unwrap());
    }

    #[tokio::test]
    async fn refuses_beyond_queue() {
        let pool = PasswordPool::new(&cheap()).unwrap();
        let pw = Secret::new("x".to_string());
        let h = pool.hash(&pw).await.unwrap();
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..20 {
            let p = pool.clone();
            let h = h.clone();
            let pw = pw.clone();
            set.spawn(async move { p.verify(&h, &pw).await });
        }
        let mut busy = 0;
        while let Some(r) = set.join_next().await {
            if r.unwrap().is_err() {
                busy += 1;
            }
        }
        assert!(busy > 0, "a flood beyond workers+queue must be refused");
    }
}
