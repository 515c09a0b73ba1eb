//! The user's second factors as identity uses them: which are registered, and checking a
//! TOTP code (replays refused atomically in the store), a recovery code or a passkey.

use crate::state::Ctx;
use mailward_mfa::{recovery, totp};
use mailward_store::StoreError;
use mailward_types::model::Amr;
use time::OffsetDateTime;
use uuid::Uuid;

/// Methods a user can use as a second factor.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Methods {
    pub totp: bool,
    pub recovery_codes: u32,
    pub passkeys: usize,
}

impl Methods {
    /// Recovery codes alone are a fallback, not a registered method.
    pub fn any(&self) -> bool {
        self.totp || self.passkeys > 0
    }
}

pub async fn methods(ctx: &Ctx, user: Uuid) -> Result<Methods, StoreError> {
    let store = ctx.store();
    Ok(Methods {
        totp: store.totp(user).await?.is_some_and(|t| t.confirmed),
        recovery_codes: store.unused_recovery_codes(user).await?,
        passkeys: store.passkeys(user).await?.len(),
    })
}

pub async fn has_any(ctx: &Ctx, user: Uuid) -> Result<bool, StoreError> {
    Ok(methods(ctx, user).await?.any())
}

/// Checks a TOTP code; a code for a step already used (or earlier) is refused.
pub async fn check_totp(
    ctx: &Ctx,
    user: Uuid,
    code: &str,
    now: OffsetDateTime,
) -> Result<Option<Amr>, StoreError> {
    let Some(rec) = ctx.store().totp(user).await?.filter(|t| t.confirmed) else {
        return Ok(None);
    };
    let secret = ctx
        .sealer()
        .open(&rec.sealed_secret)
        .map_err(|e| StoreError::Backend(format!("TOTP secret cannot be opened: {e}")))?;
    let Some(step) = totp::verify(&secret, code, now.unix_timestamp()) else {
        return Ok(None);
    };
    let fresh = ctx.store().accept_totp_step(user, step).await?;
    Ok(fresh.then_some(Amr::Otp))
}

/// Consumes a recovery code.
pub async fn check_recovery(
    ctx: &Ctx,
    user: Uuid,
    code: &str,
    now: OffsetDateTime,
) -> Result<Option<Amr>, StoreError> {
    let hash = recovery::hash(user, code);
    let ok = ctx.store().use_recovery_code(user, &hash, now).await?;
    Ok(ok.then_some(Amr::Otp))
}

/// Issues a fresh set of recovery codes (replacing any old ones) and returns them for
/// showing once.
pub async fn new_recovery_codes(ctx: &Ctx, user: Uuid) -> Result<Vec<String>, StoreError> {
    let codes: Vec<String> = recovery::generate()
        .into_iter()
        .map(|c| c.into_exposed())
        .collect();
    let hashes: Vec<String> = codes.iter().map(|c| recovery::hash(user, c)).collect();
    ctx.store().replace_recovery_codes(user, &hashes).await?;
    Ok(codes)
}
