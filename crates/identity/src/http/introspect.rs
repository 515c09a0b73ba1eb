//! Token introspection (RFC 7662) for resource servers. Callers authenticate as a
//! confidential client. Access tokens are verified (signature with a published key,
//! algorithm allow-list — `none` and HMAC never —, issuer, expiry, an audience that is a
//! registered resource, so an ID token is never reported as an access token) and checked
//! against the user's current state; refresh tokens are looked up by hash.
//!
//! RFC 7662 §4: a caller learns about a token only if it is entitled to it — it is the
//! client the token was issued to, it holds an application role the token's resource
//! defines, or the resource is the mail service and the caller is a mail instance (holds
//! `LegacyAuth.Relay`). Anyone else gets `{"active": false}`, exactly as for a token that
//! does not exist.

use super::{Meta, oauth_err};
use crate::state::Ctx;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use mailward_oauth::{OAuthError, random};
use mailward_tokens::keyset::Expect;
use mailward_types::ErrorCode;
use mailward_types::model::{Application, ClientKind, Resource, TokenAlg, well_known};
use serde_json::{Value, json};
use uuid::Uuid;

pub async fn handle_introspect(
    State(ctx): State<Ctx>,
    meta: Meta,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let now = mailward_types::clock::now();
    let err = oauth_err(&meta);
    let (params, app) = match super::token::form_and_client(&ctx, &headers, &body).await {
        Ok(v) => v,
        Err(e) => return err(e).into_response(),
    };
    if app.kind != ClientKind::Confidential {
        return err(OAuthError::invalid_client(ErrorCode::ClientAuthRequired)
            .with_detail("Introspection is for confidential clients (resource servers)."))
        .into_response();
    }
    let token = match params.require("token") {
        Ok(t) => t,
        Err(e) => return err(e).into_response(),
    };
    let inactive = || Json(json!({ "active": false })).into_response();
    if token.len() > 16 * 1024 {
        return inactive();
    }
    if token.matches('.').count() == 2 {
        let expect = Expect {
            issuer: ctx.issuer().to_string(),
            audience: None,
            algs: vec![TokenAlg::ES256, TokenAlg::RS256],
            leeway_secs: 0,
        };
        let Ok(mut claims) = ctx.keys().verify(token, &expect, now) else {
            return inactive();
        };
        // An access token's audience is a resource; an ID token's is a client id.
        let resource = match claims["aud"].as_str() {
            Some(aud) => match ctx.resource(aud).await {
                Ok(Some(r)) => r,
                Ok(None) => return inactive(),
                Err(e) => return err(crate::issue::internal(&e)).into_response(),
            },
            None => return inactive(),
        };
        let token_client = claims["azp"].as_str().or(claims["client_id"].as_str());
        if !entitled(
            ctx.cfg().mail_resource_uri.as_str(),
            &app,
            token_client,
            Some(&resource),
        ) {
            return inactive();
        }
        if let Some(oid) = claims["oid"].as_str().and_then(|s| Uuid::parse_str(s).ok()) {
            match ctx.store().user_by_id(oid).await {
                Ok(Some(u)) if u.enabled && super::bearer::issued_after_revocation(&claims, &u) => {
                }
                Ok(_) => return inactive(),
                Err(e) => return err(crate::issue::internal(&e)).into_response(),
            }
        }
        if let Value::Object(map) = &mut claims {
            map.insert("active".into(), Value::Bool(true));
            map.insert("token_type".into(), Value::String("Bearer".into()));
            if let Some(scp) = map.get("scp").cloned() {
                map.insert("scope".into(), scp);
            }
            if let Some(upn) = map.get("upn").cloned() {
                map.insert("username".into(), upn);
            }
        }
        return Json(claims).into_response();
    }
    let found = match ctx.store().refresh_token(&random::hash(token)).await {
        Ok(found) => found,
        Err(e) => return err(crate::issue::internal(&e)).into_response(),
    };
    let resource = match found.as_ref().and_then(|rt| rt.resource.as_deref()) {
        Some(uri) => match ctx.resource(uri).await {
            Ok(r) => r,
            Err(e) => return err(crate::issue::internal(&e)).into_response(),
        },
        None => None,
    };
    match found {
        Some(rt)
            if rt.used_at.is_none()
                && rt.revoked_at.is_none()
                && rt.expires_at > now
                && entitled(
                    ctx.cfg().mail_resource_uri.as_str(),
                    &app,
                    Some(rt.client_id.as_str()),
                    resource.as_ref(),
                ) =>
        {
            Json(json!({
                "active": true,
                "token_type": "refresh_token",
                "client_id": rt.client_id,
                "sub": rt.user_id.to_string(),
                "scope": rt.scopes.join(" "),
                "exp": rt.expires_at.unix_timestamp(),
                "iat": rt.created_at.unix_timestamp(),
                "iss": ctx.issuer(),
            }))
            .into_response()
        }
        _ => inactive(),
    }
}

/// Whether `caller` may learn about a token issued to `token_client` for `resource`.
fn entitled(
    mail_resource_uri: &str,
    caller: &Application,
    token_client: Option<&str>,
    resource: Option<&Resource>,
) -> bool {
    if token_client == Some(caller.client_id.as_str()) {
        return true;
    }
    let Some(resource) = resource else {
        return false;
    };
    let holds = |role: &str| {
        caller
            .app_roles
            .iter()
            .any(|r| r.eq_ignore_ascii_case(role))
    };
    resource.app_roles.iter().any(|r| holds(r))
        || (resource.uri == mail_resource_uri && holds(well_known::LEGACY_RELAY_ROLE))
}
