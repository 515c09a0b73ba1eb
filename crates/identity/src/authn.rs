//! The first factor, shared by the sign-in pages, the password grant and relayed basic
//! authentication. Smart lockout comes first: the attempt is reserved on the counter of the
//! location class the sign-in came from, in one conditional statement in the store, before
//! any password is hashed, so a parallel burst (on one node or several) gets at most the
//! threshold checked. The reservation is then settled: a new wrong password is counted, the
//! right one resets the counter, a repeated wrong password or a check that could not be
//! made gives the slot back.
//!
//! Unknown, disabled and locked accounts are answered like a wrong password until a
//! password has been verified: an unknown name costs the same Argon2 work against a dummy
//! hash, a disabled account has its password checked (and is told it is disabled only if
//! the password was right), and a refused reservation is reported as [`FirstFactor::Locked`]
//! whose code the edges answer as 50126 (see `mailward_signin::flow::answered`).

use crate::password::Busy;
use crate::state::Ctx;
use mailward_signin::flow::FirstFactor;
use mailward_signin::lockout::{self, FailureEffect};
use mailward_store::{AttemptLimit, StoreError};
use mailward_types::Secret;
use mailward_types::model::User;
use mailward_types::records::{AuthStep, LocationClass};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use time::{Duration, OffsetDateTime};

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
    let cfg = ctx.cfg().lockout.clone();
    let familiar = store.familiar_ips(user.id).await?;
    let class = lockout::classify(ip, &familiar);
    let limit = AttemptLimit {
        threshold: cfg.threshold,
        failure_window: Duration::seconds(cfg.failure_window_secs),
        reservation_ttl: Duration::seconds(lockout::RESERVATION_SECS),
    };
    if !store
        .reserve_password_attempt(user.id, class, &limit, now)
        .await?
    {
        let state = store.lockout(user.id, class).await?;
        let detail = match lockout::locked_until(&state, now) {
            Some(until) => format!("{} locations locked until {until}", class.as_str()),
            None => format!(
                "{} locations: {} attempts already in flight; password not checked",
                class.as_str(),
                cfg.threshold
            ),
        };
        return Ok(PasswordCheck {
            result: FirstFactor::Locked,
            class: Some(class),
            steps: vec![step("lockoutCheck", false, &detail)],
        });
    }
    let ok = match verify(ctx, user, password).await {
        Ok(ok) => ok,
        Err(e) => {
            // No answer about the password: the slot goes back uncounted.
            store
                .settle_password_attempt(user.id, class, Box::new(Ok))
                .await?;
            return Err(e);
        }
    };
    if ok && !user.enabled {
        store
            .settle_password_attempt(user.id, class, Box::new(Ok))
            .await?;
        return Ok(PasswordCheck {
            result: FirstFactor::Disabled,
            class: Some(class),
            steps: vec![step("password", true, "account disabled")],
        });
    }
    if ok {
        store
            .settle_password_attempt(user.id, class, Box::new(|s| Ok(lockout::on_success(s))))
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
    let effect = Arc::new(Mutex::new(None));
    let slot = effect.clone();
    store
        .settle_password_attempt(
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

/// The Argon2 check against the stored hash, or against the dummy when there is none (the
/// same work either way).
async fn verify(ctx: &Ctx, user: &User, password: &Secret<String>) -> Result<bool, AuthnError> {
    let hash = ctx.store().password_hash(user.id).await?;
    Ok(match &hash {
        Some(h) => ctx.passwords().verify(h, password).await?,
        None => ctx.passwords().verify_dummy(password).await?,
    })
}

pub(crate) fn step(method: &str, ok: bool, detail: &str) -> AuthStep {
    AuthStep {
        method: method.to_string(),
        succeeded: ok,
        detail: (!detail.is_empty()).then(|| detail.to_string()),
    }
}
