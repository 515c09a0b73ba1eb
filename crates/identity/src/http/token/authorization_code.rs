//! Authorization code grant (RFC 6749 §4.1.3) with PKCE (RFC 7636 §4.6). A code is single
//! use; presenting it again revokes every token issued from it (RFC 6749 §4.1.2).

use super::{Denied, Granted};
use crate::issue::internal;
use crate::state::Ctx;
use mailward_oauth::OAuthError;
use mailward_oauth::{pkce, random, scope};
use mailward_types::model::Application;
use mailward_types::records::Redeem;
use mailward_types::{ErrorCode, Secret};
use time::OffsetDateTime;

pub(super) async fn step(
    ctx: &Ctx,
    app: &Application,
    code: &Secret<String>,
    redirect_uri: Option<&str>,
    code_verifier: Option<&str>,
    now: OffsetDateTime,
) -> Result<Granted, Denied> {
    let store = ctx.store();
    let hash = random::hash(code.expose_secret());
    let record = match store
        .redeem_auth_code(&hash, now)
        .await
        .map_err(|e| internal(&e))?
    {
        Redeem::Fresh(c) => c,
        Redeem::Reused(c) => {
            let revoked = store
                .revoke_family(c.family_id, now)
                .await
                .map_err(|e| internal(&e))?;
            tracing::warn!(client_id = %c.client_id, revoked, "authorization code replayed; tokens issued from it revoked");
            let user = store.user_by_id(c.user_id).await.ok().flatten();
            return Err(Denied {
                error: OAuthError::invalid_grant(ErrorCode::CodeAlreadyRedeemed),
                user,
                username: None,
                steps: vec![crate::authn::step(
                    "authorizationCode",
                    false,
                    "code replayed; issued tokens revoked",
                )],
                log: true,
                policies: vec![],
                interrupted: false,
            });
        }
        Redeem::NotFound => {
            return Err(OAuthError::invalid_grant(ErrorCode::InvalidGrant)
                .with_detail("The authorization code is unknown or expired.")
                .into());
        }
    };
    let user = store
        .user_by_id(record.user_id)
        .await
        .map_err(|e| internal(&e))?;
    let fail = |error: OAuthError, detail: &str| Denied {
        error,
        user: user.clone(),
        username: None,
        steps: vec![crate::authn::step("authorizationCode", false, detail)],
        log: true,
        policies: vec![],
        interrupted: false,
    };
    if record.client_id != app.client_id.as_str() {
        return Err(fail(
            OAuthError::invalid_grant(ErrorCode::InvalidGrant)
                .with_detail("The code was issued to another client."),
            "client mismatch",
        ));
    }
    if redirect_uri != Some(record.redirect_uri.as_str()) {
        return Err(fail(
            OAuthError::invalid_grant(ErrorCode::RedirectUriMismatch),
            "redirect_uri mismatch",
        ));
    }
    match (&record.code_challenge, code_verifier) {
        (Some(challenge), Some(verifier)) if pkce::verify_s256(verifier, challenge) => {}
        (Some(_), _) => {
            return Err(fail(
                OAuthError::invalid_grant(ErrorCode::PkceMismatch),
                "PKCE verification failed",
            ));
        }
        (None, Some(_)) => {
            return Err(fail(
                OAuthError::invalid_grant(ErrorCode::PkceMismatch).with_detail(
                    "code_verifier sent but the authorization request had no code_challenge.",
                ),
                "unexpected code_verifier",
            ));
        }
        (None, None) => {}
    }
    let Some(user) = user else {
        return Err(OAuthError::invalid_grant(ErrorCode::UserNotFound).into());
    };
    let scopes =
        scope::parse(&record.scopes.join(" "), record.resource.as_deref()).map_err(Denied::from)?;
    Ok(Granted {
        user: Some(user),
        scopes,
        amr: record.amr.clone(),
        auth_time: record.auth_time,
        mfa_time: record.mfa_time,
        session_id: record.session_id,
        nonce: record.nonce.clone(),
        family_id: record.family_id,
        client_app_type: record.client_app_type,
        steps: vec![crate::authn::step("authorizationCode", true, "")],
        policy_done: false,
        policies: vec![],
        location_class: None,
        rotated_refresh_token: None,
    })
}
