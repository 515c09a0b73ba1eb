//! Refresh token grant (RFC 6749 §6) with rotation: every use returns a new refresh token
//! of the same family; presenting a used one revokes the whole family (RFC 9700 §4.14.2).

use super::{Denied, Granted};
use crate::conditional_access;
use crate::http::Meta;
use crate::issue::internal;
use crate::state::Ctx;
use mailward_oauth::OAuthError;
use mailward_oauth::{random, scope};
use mailward_types::model::Application;
use mailward_types::records::Redeem;
use mailward_types::{ErrorCode, Secret};
use time::OffsetDateTime;

pub(super) async fn step(
    ctx: &Ctx,
    app: &Application,
    token: &Secret<String>,
    scope_param: Option<&str>,
    resource_param: Option<&str>,
    meta: &Meta,
    now: OffsetDateTime,
) -> Result<Granted, Denied> {
    let store = ctx.store();
    let hash = random::hash(token.expose_secret());
    // With conditional access in charge, judge the refresh before rotating: a refresh
    // refused by policy (a blocked network, MFA now required) must leave the token usable
    // once the user is back where policy allows, instead of spending it.
    let mut pre_checked = None;
    let active = conditional_access::load(ctx)
        .await
        .map_err(|e| internal(&e))?
        .active();
    if active
        && let Some(record) = store.refresh_token(&hash).await.map_err(|e| internal(&e))?
        && record.used_at.is_none()
        && record.client_id == app.client_id.as_str()
        && let Some(user) = store
            .user_by_id(record.user_id)
            .await
            .map_err(|e| internal(&e))?
    {
        let resource = match scope_param {
            Some(s) => {
                scope::parse(s, resource_param)
                    .map_err(Denied::from)?
                    .resource
            }
            None => record.resource.clone(),
        };
        let gate = super::policy_gate(
            ctx,
            &super::PolicyFacts {
                client_id: app.client_id.as_str(),
                user: &user,
                resource: resource.as_deref(),
                client_app_type: record.client_app_type,
                amr: &record.amr,
                auth_time: record.auth_time,
                mfa_time: record.mfa_time,
            },
            meta,
            now,
        )
        .await?;
        if let Some(refusal) = gate.refusal {
            return Err(Denied {
                error: refusal.error,
                user: Some(user),
                username: None,
                steps: vec![crate::authn::step("refreshToken", true, "")],
                log: true,
                policies: gate.outcomes,
                interrupted: refusal.interrupted,
            });
        }
        pre_checked = Some(gate.outcomes);
    }
    let successor = random::token();
    let expires_at = now + time::Duration::seconds(ctx.cfg().tokens.refresh_token_secs);
    let rotated = store
        .rotate_refresh_token(&hash, &random::hash(&successor), now, expires_at)
        .await
        .map_err(|e| internal(&e))?;
    let (record, user) = match rotated {
        // The user comes back from the rotation statement itself: no second round trip.
        Redeem::Fresh(r) => (r.token, r.user),
        Redeem::Reused(r) => {
            let r = r.token;
            let revoked = store
                .revoke_family(r.family_id, now)
                .await
                .map_err(|e| internal(&e))?;
            tracing::warn!(client_id = %r.client_id, revoked, family = %r.family_id, "refresh token reused; family revoked");
            let user = store.user_by_id(r.user_id).await.ok().flatten();
            return Err(Denied {
                error: OAuthError::invalid_grant(ErrorCode::RefreshTokenReused),
                user,
                username: None,
                steps: vec![crate::authn::step(
                    "refreshToken",
                    false,
                    "reused; family revoked",
                )],
                log: true,
                policies: vec![],
                interrupted: false,
            });
        }
        Redeem::NotFound => {
            return Err(OAuthError::invalid_grant(ErrorCode::InvalidGrant)
                .with_detail("The refresh token is unknown, expired or revoked.")
                .into());
        }
    };
    if record.client_id != app.client_id.as_str() {
        // Another client holding this token means it leaked: stop the family.
        let _ = store.revoke_family(record.family_id, now).await;
        return Err(Denied {
            error: OAuthError::invalid_grant(ErrorCode::InvalidGrant)
                .with_detail("The refresh token was issued to another client."),
            user,
            username: None,
            steps: vec![crate::authn::step(
                "refreshToken",
                false,
                "client mismatch; family revoked",
            )],
            log: true,
            policies: vec![],
            interrupted: false,
        });
    }
    let Some(user) = user else {
        return Err(OAuthError::invalid_grant(ErrorCode::UserNotFound).into());
    };
    // A refresh may ask for another resource (one token per resource); without `scope`
    // it gets what the original request had.
    let scopes = match scope_param {
        Some(s) => {
            let mut parsed = scope::parse(s, resource_param).map_err(Denied::from)?;
            for o in record
                .scopes
                .iter()
                .filter(|o| scope::OIDC_SCOPES.contains(&o.as_str()))
            {
                if o == "offline_access" {
                    parsed.oidc.insert(o.clone());
                }
            }
            parsed
        }
        None => scope::parse(&record.scopes.join(" "), record.resource.as_deref())
            .map_err(Denied::from)?,
    };
    Ok(Granted {
        user: Some(user),
        scopes,
        amr: record.amr.clone(),
        auth_time: record.auth_time,
        mfa_time: record.mfa_time,
        session_id: record.session_id,
        nonce: None,
        family_id: record.family_id,
        client_app_type: record.client_app_type,
        steps: vec![crate::authn::step("refreshToken", true, "")],
        policy_done: pre_checked.is_some(),
        policies: pre_checked.unwrap_or_default(),
        location_class: None,
        rotated_refresh_token: Some(successor),
    })
}
