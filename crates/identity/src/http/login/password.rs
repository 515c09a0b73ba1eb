//! `password`: the first factor (lockout and the Argon2id check in `authn.rs`), then the
//! policy step.

use super::{Req, Res, continue_flow, entry_for, policy, render};
use crate::authn::{self, AuthnError};
use crate::flows::Flow;
use axum::http::StatusCode;
use mailward_types::{ErrorCode, Secret};
use uuid::Uuid;

pub(super) async fn handle_password(
    req: &Req<'_>,
    mut flow: Flow,
    username: &str,
    user_id: Option<Uuid>,
    password: &Secret<String>,
) -> Res {
    let Req { ctx, meta, now, .. } = *req;
    let user = match user_id {
        Some(id) => ctx.store().user_by_id(id).await?,
        None => None,
    };
    let check = match authn::check_password(ctx, user.as_ref(), password, meta.ip, now).await {
        Ok(c) => c,
        Err(AuthnError::Busy(_)) => {
            return Ok(render::password(
                ctx,
                &flow,
                username,
                Some("The service is busy. Try again in a moment."),
                StatusCode::SERVICE_UNAVAILABLE,
            ));
        }
        Err(AuthnError::Store(e)) => return Err(e.into()),
    };
    flow.location_class = check.class;
    let next = flow.state.clone().first_factor(check.result, now);
    let mut entry = entry_for(&flow, meta, now);
    entry
        .user(user.as_ref().map(|u| u.id), username)
        .location(check.class);
    if let mailward_signin::flow::SignInState::Denied { code } = next {
        entry.steps(check.steps);
        ctx.log().record(entry.failure(code)).await;
        // The client hears `answered(code)`: a locked account sounds like a wrong password
        // (the log keeps the real code); "disabled" only after the right password.
        let msg = match mailward_signin::flow::answered(code) {
            ErrorCode::LockedOut => {
                return render::restartable_error(ctx, &mut flow, code, now).await;
            }
            ErrorCode::UserDisabled => {
                "Your account has been disabled. Contact your administrator."
            }
            _ => "Your account or password is incorrect.",
        };
        return Ok(render::password(
            ctx,
            &flow,
            username,
            Some(msg),
            StatusCode::OK,
        ));
    }
    flow.steps.extend(check.steps);
    let Some(user) = user else {
        return Err("first factor verified without a user".into());
    };
    flow.state = policy::run(ctx, &mut flow, &user, next, meta, None, now).await?;
    continue_flow(req, flow).await
}
