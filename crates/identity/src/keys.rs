//! Signing key lifecycle: applies the pure rotation plan from `mailward-tokens` to the
//! store and rebuilds the in-memory [`KeySet`]. Runs at start and periodically.

use crate::config::KeyConfig;
use mailward_store::{DynStore, StoreError};
use mailward_tokens::keys::{RotationAction, RotationPolicy, generate, plan_rotation};
use mailward_tokens::keyset::KeySet;
use mailward_tokens::seal::Sealer;
use mailward_types::model::TokenAlg;
use time::{Duration, OffsetDateTime};

/// Errors while maintaining keys.
#[derive(Debug, thiserror::Error)]
pub enum KeyMaintenanceError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("signing keys: {0}")]
    Keys(String),
}

/// ES256 signs access tokens by default; RS256 signs ID tokens and resources that ask for it.
pub const ALGS: [TokenAlg; 2] = [TokenAlg::ES256, TokenAlg::RS256];

/// Brings stored keys in line with the rotation policy and returns the key set to use.
pub async fn maintain(
    store: &DynStore,
    sealer: &Sealer,
    cfg: &KeyConfig,
    now: OffsetDateTime,
) -> Result<KeySet, KeyMaintenanceError> {
    let policy = RotationPolicy {
        rotate_after: Duration::days(cfg.rotate_after_days),
        publish_after_retire: Duration::hours(cfg.publish_after_retire_hours),
    };
    let existing = store.list_signing_keys().await?;
    for action in plan_rotation(&existing, &ALGS, &policy, now) {
        match action {
            RotationAction::Generate(alg) => {
                let key = generate(alg, sealer, now)
                    .map_err(|e| KeyMaintenanceError::Keys(e.to_string()))?;
                tracing::info!(kid = %key.kid, alg = alg.as_str(), "generated signing key");
                store.insert_signing_key(&key).await?;
            }
            RotationAction::Retire {
                kid,
                at,
                expires_at,
            } => {
                tracing::info!(%kid, "retiring signing key");
                store
                    .update_signing_key(
                        &kid,
                        Box::new(move |mut k| {
                            k.retired_at = Some(at);
                            k.expires_at = Some(expires_at);
                            Ok(k)
                        }),
                    )
                    .await?;
            }
            RotationAction::Delete { kid } => {
                tracing::info!(%kid, "deleting expired signing key");
                store.delete_signing_key(&kid).await?;
            }
        }
    }
    let keys = store.list_signing_keys().await?;
    KeySet::from_records(&keys, sealer, now).map_err(|e| KeyMaintenanceError::Keys(e.to_string()))
}
