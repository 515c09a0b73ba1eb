//! Resource owner password credentials grant (RFC 6749 §4.3). Off unless the application
//! allows it. Non-interactive: when policy requires MFA the answer is 50076 (or 50079 when
//! the user has no method), never a prompt.

use super::{Denied, Granted};
use crate::authn::{self, AuthnError};
use crate::http::Meta;
use crate::issue::internal;
use crate::state::Ctx;
use mailward_oauth::OAuthError;
use mailward_oauth::scope;
use mailward_signin::flow::{Lookup, SignInState};
use mailward_types::model::{Application, ClientAppType, ClientKind};
use mailward_types::{ErrorCode, Secret, Upn};
use time::OffsetDateTime;

#[allow(clippy::too_many_arguments)]
pub(super) async fn step(
    ctx: &Ctx,
    app: &Application,
    username: &str,
    password: &Secret<String>,
    scope_param: Option<&str>,
    resource_param: Option<&str>,
    meta: &Meta,
    now: OffsetDateTime,
) -> Result<Granted, Denied> {
    let scopes =
        scope::parse(scope_param.unwrap_or("openid"), resource_param).map_err(Denied::from)?;
    let client_app_type = match app.kind {
        ClientKind::Public => ClientAppType::MobileAppsAndDesktopClients,
        ClientKind::Confidential => ClientAppType::Browser,
    };
    let user = match Upn::try_from(username) {
        Ok(upn) => ctx
            .store()
            .user_by_upn(&upn)
            .await
            .map_err(|e| internal(&e))?,
        Err(_) => None,
    };
    let lookup = match &user {
        Some(u) => Lookup::Found {
            user: u.id,
            enabled: u.enabled,
        },
        None => Lookup::NotFound,
    };
    let deny = |code: ErrorCode, steps| Denied {
        error: OAuthError::invalid_grant(code),
        user: user.clone(),
        username: Some(username.to_string()),
        steps,
        log: true,
        policies: vec![],
        interrupted: false,
    };
    let state = SignInState::identify(username, lookup);
    if let SignInState::Denied { code } = state {
        return Err(deny(code, vec![]));
    }
    let check = authn::check_password(ctx, user.as_ref(), password, meta.ip, now)
        .await
        .map_err(|e| match e {
            AuthnError::Busy(_) => Denied::from(OAuthError::busy()),
            AuthnError::Store(e) => Denied::from(internal(&e)),
        })?;
    let state = state.first_factor(check.result, now);
    if let SignInState::Denied { code } = state {
        return Err(deny(code, check.steps));
    }
    let Some(user) = user.clone() else {
        return Err(deny(ErrorCode::InvalidCredentials, check.steps));
    };
    // The policy step (conditional access, or the configured rule) runs in the token
    // endpoint like for every other grant, so its results reach the sign-in log.
    let SignInState::SecondFactor { amr, auth_time, .. } = state else {
        return Err(deny(ErrorCode::InvalidCredentials, check.steps));
    };
    Ok(Granted {
        user: Some(user),
        scopes,
        amr,
        auth_time,
        mfa_time: None,
        session_id: None,
        nonce: None,
        family_id: uuid::Uuid::new_v4(),
        client_app_type,
        steps: check.steps,
        policy_done: false,
        policies: vec![],
        location_class: check.class,
        rotated_refresh_token: None,
    })
}
