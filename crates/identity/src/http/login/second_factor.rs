//! `totp`, `recovery`, `passkey`: the second factor. Every attempt first reserves a place
//! in the user's second-factor failure count in the store (one conditional statement, so
//! parallel posts from any number of flows cannot exceed it); while the user is locked no
//! code is checked and the answer is 500121. A correct method clears the count. A wrong
//! code is also counted in the flow; too many end the flow.

use super::{Req, Res, continue_flow, entry_for, render};
use crate::authn::step;
use crate::flows::Flow;
use crate::mfa_methods;
use crate::state::Ctx;
use mailward_signin::flow::SignInState;
use mailward_store::{SecondFactorLimits, SecondFactorReservation};
use mailward_types::model::Amr;
use mailward_types::{ErrorCode, Secret};
use time::OffsetDateTime;
use uuid::Uuid;

/// Per-user second-factor limits: 10 wrong codes (TOTP, recovery codes or failed passkey
/// assertions), then a lock of 1 minute that doubles at each further lock; at 100
/// consecutive failures the lock lasts until an administrator resets the user's methods.
pub(crate) const LIMITS: SecondFactorLimits = SecondFactorLimits {
    threshold: 10,
    first_lock_ms: 60_000,
    // Windows of 1, 2, 4, ... 256 minutes after each ten wrong codes; the tenth lock, at 100
    // consecutive failures (NIST SP 800-63B §5.2.2), lasts until an administrator resets
    // the user's methods (`mailward user reset-mfa`).
    max_lock_ms: 256 * 60_000,
};

/// Shown when a sign-in that needs a passkey gets another method.
pub(super) const PASSKEY_NEEDED: &str = "This sign-in needs a passkey or security key.";

pub(super) async fn handle_totp(req: &Req<'_>, flow: Flow, code: &Secret<String>) -> Res {
    code_method(req, flow, Method::Totp, code).await
}

pub(super) async fn handle_recovery(req: &Req<'_>, flow: Flow, code: &Secret<String>) -> Res {
    code_method(req, flow, Method::Recovery, code).await
}

pub(super) async fn handle_passkey(req: &Req<'_>, mut flow: Flow, credential: Option<&str>) -> Res {
    let Some((user, _)) = who(&flow) else {
        return Ok(super::to_page(&flow));
    };
    if let Some(locked) = reserve(req, &mut flow, Method::Passkey).await? {
        return Ok(locked);
    }
    let used = finish_passkey_auth(req.ctx, &mut flow, user, credential, req.now).await?;
    result(req, flow, Method::Passkey, used).await
}

/// The second-factor methods, as the log and the pages name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Totp,
    Recovery,
    Passkey,
}

impl Method {
    /// The method's name in the sign-in log.
    fn log_name(self) -> &'static str {
        match self {
            Method::Totp => "totp",
            Method::Recovery => "recoveryCode",
            Method::Passkey => "passkey",
        }
    }

    /// The `method` query parameter of its page.
    fn page(self) -> &'static str {
        match self {
            Method::Totp => "totp",
            Method::Recovery => "recovery",
            Method::Passkey => "passkey",
        }
    }

    fn wrong(self) -> &'static str {
        match self {
            Method::Passkey => "The passkey was not accepted. Try again or use another method.",
            Method::Recovery => "That recovery code is not valid or was already used.",
            Method::Totp => {
                "That code didn't work. Codes can be used only once; wait for the next one."
            }
        }
    }
}

fn who(flow: &Flow) -> Option<(Uuid, String)> {
    match &flow.state {
        SignInState::SecondFactor { user, username, .. } => Some((*user, username.clone())),
        _ => None,
    }
}

async fn code_method(req: &Req<'_>, mut flow: Flow, method: Method, code: &Secret<String>) -> Res {
    let Req { ctx, now, .. } = *req;
    let Some((user, _)) = who(&flow) else {
        return Ok(super::to_page(&flow));
    };
    if flow.state.passkey_only() {
        return render::mfa(ctx, &mut flow, Some("passkey"), Some(PASSKEY_NEEDED), now).await;
    }
    if let Some(locked) = reserve(req, &mut flow, method).await? {
        return Ok(locked);
    }
    let code = code.expose_secret();
    let used = match method {
        Method::Recovery => mfa_methods::check_recovery(ctx, user, code, now).await?,
        _ => mfa_methods::check_totp(ctx, user, code, now).await?,
    };
    result(req, flow, method, used).await
}

async fn result(req: &Req<'_>, mut flow: Flow, method: Method, used: Option<Amr>) -> Res {
    let Req { ctx, meta, now, .. } = *req;
    let Some((user, username)) = who(&flow) else {
        return Ok(super::to_page(&flow));
    };
    if used.is_some() {
        ctx.store().clear_second_factor_failures(user).await?;
        flow.steps.push(step(method.log_name(), true, ""));
        flow.state = flow.state.clone().second_factor(used, now);
        return continue_flow(req, flow).await;
    }
    let mut entry = entry_for(&flow, meta, now);
    entry
        .user(Some(user), &username)
        .steps(flow.steps.clone())
        .steps([step(method.log_name(), false, "wrong or reused code")]);
    ctx.log()
        .record(entry.failure(ErrorCode::MfaRequired))
        .await;
    flow.state = flow.state.clone().second_factor(None, now);
    if let SignInState::Denied { code } = flow.state {
        return render::restartable_error(ctx, &mut flow, code, now).await;
    }
    flow.save(ctx, now).await?;
    render::mfa(
        ctx,
        &mut flow,
        Some(method.page()),
        Some(method.wrong()),
        now,
    )
    .await
}

async fn finish_passkey_auth(
    ctx: &Ctx,
    flow: &mut Flow,
    user: Uuid,
    credential: Option<&str>,
    now: OffsetDateTime,
) -> Result<Option<Amr>, Box<dyn std::error::Error + Send + Sync>> {
    let (Some(state), Some(cred)) = (flow.state.take_ceremony(), credential) else {
        return Ok(None);
    };
    let Ok(response) = serde_json::from_str::<serde_json::Value>(cred) else {
        return Ok(None);
    };
    let stored = ctx.store().passkeys(user).await?;
    let jsons: Vec<String> = stored.iter().map(|p| p.passkey_json.clone()).collect();
    match ctx
        .passkeys()
        .finish_authentication(&state, &jsons, &response)
    {
        Ok((cred_id, updates)) => {
            for rec in &stored {
                let updated = updates
                    .iter()
                    .find(|(id, _)| *id == rec.credential_id)
                    .map(|(_, j)| j.clone());
                if rec.credential_id == cred_id || updated.is_some() {
                    ctx.store()
                        .update_passkey(
                            rec.id,
                            Box::new(move |mut p| {
                                if let Some(j) = updated {
                                    p.passkey_json = j;
                                }
                                p.last_used_at = Some(now);
                                Ok(p)
                            }),
                        )
                        .await?;
                }
            }
            Ok(Some(Amr::Hwk))
        }
        Err(e) => {
            tracing::info!(error = %e, "passkey authentication failed");
            Ok(None)
        }
    }
}

/// Reserves the attempt in the user's second-factor failure count before anything is
/// checked; when the user is locked, logs the refusal and returns the error page.
async fn reserve(
    req: &Req<'_>,
    flow: &mut Flow,
    method: Method,
) -> Result<Option<axum::response::Response>, Box<dyn std::error::Error + Send + Sync>> {
    let Req { ctx, meta, now, .. } = *req;
    let Some((user, username)) = who(flow) else {
        return Ok(None);
    };
    match ctx.store().reserve_second_factor(user, now, LIMITS).await? {
        SecondFactorReservation::Allowed => Ok(None),
        reservation @ (SecondFactorReservation::Locked { .. }
        | SecondFactorReservation::LockedUntilReset) => {
            let until = match reservation {
                SecondFactorReservation::Locked { until } => until.to_string(),
                _ => "an administrator resets the user's methods".to_owned(),
            };
            let code = ErrorCode::SecondFactorLocked;
            let mut entry = entry_for(flow, meta, now);
            entry
                .user(Some(user), &username)
                .steps(flow.steps.clone())
                .steps([step(
                    method.log_name(),
                    false,
                    &format!("second factor locked until {until}"),
                )]);
            ctx.log().record(entry.failure(code)).await;
            render::restartable_error(ctx, flow, code, now)
                .await
                .map(Some)
        }
    }
}
