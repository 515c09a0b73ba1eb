//! Token introspection (RFC 7662) for resource servers. Callers authenticate as a
//! confidential client. Access tokens are verified (signature with a published key,
//! algorithm allow-list — `none` and HMAC never —, issuer, expiry) and checked against the
//! user's current state; refresh tokens are looked up by hash.

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
use mailward_types::model::{ClientKind, TokenAlg};
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
        if let Some(oid) = claims["oid"].as_str().and_then(|s| Uuid::parse_str(s).ok()) {
            match ctx.store().user_by_id(oid).await {
                Ok(Some(u))
                    if u.enabled
                        && claims["iat"].as_i64().unwrap_or(0)
                            >= u.tokens_valid_from.unix_timestamp() => {}
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
    match ctx.store().refresh_token(&random::hash(token)).await {
        Ok(Some(rt)) if rt.used_at.is_none() && rt.revoked_at.is_none() && rt.expires_at > now => {
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
        Ok(_) => inactive(),
        Err(e) => err(crate::issue::internal(&e)).into_response(),
    }
}
