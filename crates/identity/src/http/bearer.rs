//! Bearer tokens presented to identity's own resource (userinfo, admin API): RFC 6750
//! extraction and verification, with the RFC 6750 §3 challenge on failure.

use crate::state::Ctx;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mailward_tokens::keyset::Expect;
use mailward_types::model::{TokenAlg, User};
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

/// A verified user token for identity's resource.
#[derive(Debug, Clone)]
pub struct BearerUser {
    pub user: User,
    pub claims: Value,
}

impl BearerUser {
    pub fn scopes(&self) -> Vec<&str> {
        self.claims["scp"]
            .as_str()
            .unwrap_or("")
            .split(' ')
            .filter(|s| !s.is_empty())
            .collect()
    }
}

/// RFC 6750 §3 challenge.
pub fn challenge(error: Option<(&str, &str)>, status: StatusCode) -> Response {
    let value = match error {
        Some((code, desc)) => {
            format!("Bearer realm=\"mailward\", error=\"{code}\", error_description=\"{desc}\"")
        }
        None => "Bearer realm=\"mailward\"".to_string(),
    };
    let mut res = (status, axum::Json(serde_json::json!({
        "error": { "code": error.map(|e| e.0).unwrap_or("unauthorized"), "message": error.map(|e| e.1).unwrap_or("A bearer token is required.") }
    })))
    .into_response();
    if let Ok(v) = HeaderValue::from_str(&value) {
        res.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    res
}

/// Extracts and verifies the bearer token, and loads its (enabled) user.
pub async fn bearer_user(
    ctx: &Ctx,
    headers: &HeaderMap,
    now: OffsetDateTime,
) -> Result<BearerUser, Response> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| challenge(None, StatusCode::UNAUTHORIZED))?;
    let expect = Expect {
        issuer: ctx.issuer().to_string(),
        audience: Some(ctx.base_url().to_string()),
        algs: vec![TokenAlg::ES256, TokenAlg::RS256],
        leeway_secs: 60,
    };
    let claims = ctx.keys().verify(token, &expect, now).map_err(|e| {
        challenge(
            Some(("invalid_token", &e.to_string())),
            StatusCode::UNAUTHORIZED,
        )
    })?;
    let oid = claims["oid"]
        .as_str()
        .and_then(|s| Uuid::parse_str(s).ok())
        .ok_or_else(|| {
            challenge(
                Some(("invalid_token", "The token has no user.")),
                StatusCode::UNAUTHORIZED,
            )
        })?;
    let user = ctx
        .store()
        .user_by_id(oid)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "bearer user lookup failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        })?
        .filter(|u| u.enabled)
        .ok_or_else(|| {
            challenge(
                Some(("invalid_token", "The user is disabled or no longer exists.")),
                StatusCode::UNAUTHORIZED,
            )
        })?;
    if !issued_after_revocation(&claims, &user) {
        return Err(challenge(
            Some((
                "invalid_token",
                "The token was issued before the user's sessions were revoked.",
            )),
            StatusCode::UNAUTHORIZED,
        ));
    }
    Ok(BearerUser { user, claims })
}

/// Whether a token's `iat` is at or after the user's `tokens_valid_from` (set when sessions
/// are revoked, the password is reset or the account is disabled; equal to `created_at`
/// until then). `iat` has whole seconds while `tokens_valid_from` has milliseconds, so a
/// token issued in the same second as a revocation counts as issued before it: refusing
/// one token too many (its client signs in again) is the safe side.
pub fn issued_after_revocation(claims: &Value, user: &User) -> bool {
    if user.tokens_valid_from <= user.created_at {
        return true;
    }
    claims["iat"]
        .as_i64()
        .and_then(|iat| OffsetDateTime::from_unix_timestamp(iat).ok())
        .is_some_and(|iat| iat >= user.tokens_valid_from)
}
