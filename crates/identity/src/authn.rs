//! The first factor, shared by the sign-in pages, the password grant and relayed basic
//! authentication: smart lockout is checked before the password is verified, failures and
//! successes update the counter of the location class the sign-in came from.

use crate::password::Busy;
use crate::state::Ctx;
use mailward_signin::flow::FirstFactor;
use mailward_signin::lockout::{self, FailureEffect};
use mailward_store::StoreError;
use mailward_types::Secret;
use mailward_types::model::User;
use mailward_types::records::{AuthStep, LocationClass};
use std::net::IpAddr;
use time::OffsetDateTime;

/// Why a check could not be made at all.
#[derive(Debug, thiserror::Error)]
pub enum AuthnError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Busy(#[from] Busy),
}

/// Result of a password check with what to log.
#[derive(Debug, Clone)]
pub struct PasswordCheck {
    pub result: FirstFactor,
    pub class: Option<LocationClass>,
    pub steps: Vec<AuthStep>,
}

/// Checks `password` for `user` (or spends the same time for an unknown user).
pub async fn check_password(
    ctx: &Ctx,
    user: Option<&User>,
    password: &Secret<String>,
    ip: Option<IpAddr>,
    now: OffsetDateTime,
) -> Result<PasswordCheck, AuthnError> {
    let Some(user) = user else {
        ctx.passwords().verify_dummy(password).await?;
        return Ok(PasswordCheck {
            result: FirstFactor::Wrong,
            class: None,
            steps: vec![step("password", false, "unknown user")],
        });
    };
    let store = ctx.store();
    let familiar = store.familiar_ips(user.id).await?;
    let class = lockout::classify(ip, &familiar);
    let state = store.lockout(user.id, class).await?;
    if let Some(until) = lockout::locked_until(&state, now) {
        return Ok(PasswordCheck {
            result: FirstFactor::Locked,
            class: Some(class),
            steps: vec![step(
                "lockoutCheck",
                false,
                &format!("{} locations locked until {until}", class.as_str()),
            )],
        });
    }
    let hash = store.password_hash(user.id).await?;
    let ok = match &hash {
        Some(h) => ctx.passwords().verify(h, password).await?,
        None => ctx.passwords().verify_dummy(password).await?,
    };
    let cfg = ctx.cfg().lockout.clone();
    if ok {
        store
            .update_lockout(user.id, class, Box::new(|s| Ok(lockout::on_success(s))))
            .await?;
        if let Some(ip) = ip {
            store
                .record_familiar_ip(user.id, ip, now, cfg.familiar_locations)
                .await?;
        }
        return Ok(PasswordCheck {
            result: FirstFactor::Verified,
            class: Some(class),
            steps: vec![step("password", true, class.as_str())],
        });
    }
    let fp = lockout::fingerprint(ctx.pepper(), user.id, password.expose_secret());
    let effect = std::sync::Arc::new(std::sync::Mutex::new(None));
    let slot = effect.clone();
    store
        .update_lockout(
            user.id,
            class,
            Box::new(move |s| {
                let (next, eff) = lockout::on_failure(s, &fp, now, &cfg);
                if let Ok(mut g) = slot.lock() {
                    *g = Some(eff);
                }
                Ok(next)
            }),
        )
        .await?;
    let detail = match effect.lock().ok().and_then(|g| *g) {
        Some(FailureEffect::Repeated) => "wrong password (repeat, not counted)".to_string(),
        Some(FailureEffect::Counted { remaining }) => {
            format!(
                "wrong password ({} locations, {remaining} before lockout)",
                class.as_str()
            )
        }
        Some(FailureEffect::Locked { until }) => {
            format!(
                "wrong password; {} locations locked until {until}",
                class.as_str()
            )
        }
        None => "wrong password".to_string(),
    };
    Ok(PasswordCheck {
        result: FirstFactor::Wrong,
        class: Some(class),
        steps: vec![step("password", false, &detail)],
    })
}

pub(crate) fn step(method: &str, ok: bool, detail: &str) -> AuthStep {
    AuthStep {
        method: method.to_string(),
        succeeded: ok,
        detail: (!detail.is_empty()).then(|| detail.to_string()),
    }
}
