//! Relayed basic authentication: a registered mail instance (a confidential client holding
//! the `LegacyAuth.Relay` application role) forwards a user name, password, protocol and
//! client IP. Identity runs smart lockout, the password check and the policy step as client
//! app type `other`, logs the protocol, and answers allow or deny with the error code.
//!
//! The mail instance applies its authentication policy *before* calling this, so blocked
//! protocols never reach the password check or a lockout counter.

use super::{Meta, oauth_err};
use crate::authn::{self, AuthnError};
use crate::conditional_access::{self, StepInput};
use crate::signin_log::Entry;
use crate::state::Ctx;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use mailward_oauth::OAuthError;
use mailward_oauth::token_request::{self, Params};
use mailward_signin::flow::{Lookup, MfaFacts, SignInState};
use mailward_types::model::{Amr, ClientAppType, well_known};
use mailward_types::{ErrorCode, Secret, Upn};
use serde::Deserialize;
use serde_json::json;
use std::net::IpAddr;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    username: String,
    password: Secret<String>,
    /// `IMAP4`, `POP3`, `SMTP`, `ActiveSync`, ...
    protocol: String,
    client_ip: Option<IpAddr>,
    user_agent: Option<String>,
}

pub async fn handle_legacy_authenticate(
    State(ctx): State<Ctx>,
    meta: Meta,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let now = mailward_types::clock::now();
    let err = oauth_err(&meta);
    let authz = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let client = match token_request::client_auth(&Params::default(), authz) {
        Ok(c) => c,
        Err(e) => return err(e).into_response(),
    };
    let app = match super::token::authenticate_client(&ctx, &client).await {
        Ok(a) => a,
        Err(e) => return err(e).into_response(),
    };
    if !app
        .app_roles
        .iter()
        .any(|r| r == well_known::LEGACY_RELAY_ROLE)
    {
        return err(OAuthError::unauthorized_client(format!(
            "The application does not hold the '{}' role.",
            well_known::LEGACY_RELAY_ROLE
        )))
        .into_response();
    }
    let req: Request = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return err(OAuthError::invalid_request(format!(
                "The body is not a valid request: {e}"
            )))
            .into_response();
        }
    };
    if req.protocol.is_empty()
        || req.protocol.len() > 32
        || req.username.len() > 256
        || req.password.expose_secret().len() > 1024
    {
        return err(OAuthError::invalid_request("A field is empty or too long.")).into_response();
    }
    let ip = req.client_ip;
    let mut entry = Entry::new(
        "basic",
        ClientAppType::Other,
        ip,
        req.user_agent.as_deref(),
        meta.correlation_id,
        now,
    );
    entry
        .app(app.client_id.as_str(), Some(&app.display_name))
        .protocol(&req.protocol)
        .user(None, &req.username);

    let user = match Upn::try_from(req.username.as_str()) {
        Ok(upn) => match ctx.store().user_by_upn(&upn).await {
            Ok(u) => u,
            Err(e) => return err(crate::issue::internal(&e)).into_response(),
        },
        Err(_) => None,
    };
    if let Some(u) = &user {
        entry.user(Some(u.id), u.upn.as_str());
    }
    let lookup = match &user {
        Some(u) => Lookup::Found {
            user: u.id,
            enabled: u.enabled,
        },
        None => Lookup::NotFound,
    };
    let state = SignInState::identify(&req.username, lookup);
    if let SignInState::Denied { code } = state {
        return deny(&ctx, entry, code, &meta).await;
    }
    let check = match authn::check_password(&ctx, user.as_ref(), &req.password, ip, now).await {
        Ok(c) => c,
        Err(AuthnError::Busy(_)) => return err(OAuthError::busy()).into_response(),
        Err(AuthnError::Store(e)) => return err(crate::issue::internal(&e)).into_response(),
    };
    entry.steps(check.steps.clone()).location(check.class);
    let state = state.first_factor(check.result, now);
    let (user, state) = match (user, state) {
        (_, SignInState::Denied { code }) => return deny(&ctx, entry, code, &meta).await,
        (Some(u), s) => (u, s),
        (None, _) => return deny(&ctx, entry, ErrorCode::InvalidCredentials, &meta).await,
    };
    // The relaying mail service is the application the user signs in to.
    let result = match conditional_access::step(
        &ctx,
        &StepInput {
            user: &user,
            app_id: well_known::MAIL_RESOURCE_APP_ID.to_string(),
            client_app_type: ClientAppType::Other,
            ip,
            user_agent: req.user_agent.as_deref(),
            amr: &[Amr::Pwd],
            auth_time: None,
            mfa_time: None,
            now,
        },
    )
    .await
    {
        Ok(r) => r,
        Err(e) => return err(crate::issue::internal(&e)).into_response(),
    };
    entry.policies(result.outcomes.clone());
    match state.policy(
        &result.decision,
        MfaFacts {
            registered: true,
            interactive: false,
        },
    ) {
        SignInState::Complete(done) => {
            ctx.log().record(entry.success(&done.amr)).await;
            Json(json!({
                "result": "allow",
                "user": {
                    "id": user.id.to_string(),
                    "upn": user.upn.as_str(),
                    "mail": user.mail.clone().unwrap_or_else(|| user.upn.to_string()),
                    "displayName": user.display_name,
                },
                "correlation_id": meta.correlation_id.to_string(),
            }))
            .into_response()
        }
        SignInState::Denied { code } => deny(&ctx, entry, code, &meta).await,
        _ => deny(&ctx, entry, ErrorCode::MfaRequired, &meta).await,
    }
}

/// Logs the real code and answers what the client may learn (a locked account looks like
/// a wrong password).
async fn deny(ctx: &Ctx, entry: Entry, code: ErrorCode, meta: &Meta) -> Response {
    ctx.log().record(entry.failure(code)).await;
    let code = mailward_signin::flow::answered(code);
    Json(json!({
        "result": "deny",
        "error": match code { ErrorCode::InvalidCredentials | ErrorCode::LockedOut | ErrorCode::UserDisabled => "invalid_grant", _ => "access_denied" },
        "error_codes": [code.number()],
        "error_description": format!("MW{}: {}", code.number(), code.description()),
        "correlation_id": meta.correlation_id.to_string(),
    }))
    .into_response()
}
