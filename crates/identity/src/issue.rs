//! Token issuance shared by every grant: resolves the resource and scopes, signs the access
//! token (ES256 by default, RS256 where the resource asks), the ID token (RS256) and stores
//! a rotating refresh token. Grants only decide *whether* to issue; this decides *what*.

use crate::bootstrap::IDENTITY_SCOPES;
use crate::state::Ctx;
use mailward_oauth::OAuthError;
use mailward_oauth::scope::{self, RequestedScopes};
use mailward_tokens::claims::{AccessClaims, IdClaims, at_hash};
use mailward_types::ErrorCode;
use mailward_types::model::{Amr, Application, ClientAppType, GrantType, Resource, TokenAlg, User};
use mailward_types::records::RefreshToken;
use serde::Serialize;
use std::net::IpAddr;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// What a grant asks to be issued.
#[derive(Debug)]
pub struct IssueRequest<'a> {
    pub app: &'a Application,
    /// `None` for client credentials (an app token).
    pub user: Option<&'a User>,
    pub scopes: &'a RequestedScopes,
    pub amr: &'a [Amr],
    pub auth_time: OffsetDateTime,
    pub mfa_time: Option<OffsetDateTime>,
    pub session_id: Option<Uuid>,
    pub nonce: Option<String>,
    /// Refresh token family to continue (refresh grant), or a new one.
    pub family_id: Uuid,
    pub client_app_type: ClientAppType,
    pub ip: Option<IpAddr>,
    /// Set by the refresh grant, which stores the successor token itself (in the same
    /// statement that spends the old one); issuance returns it instead of minting one.
    pub rotated_refresh_token: Option<String>,
    pub now: OffsetDateTime,
}

/// The token endpoint's success body (RFC 6749 §5.1).
#[derive(Debug, Clone, Serialize)]
pub struct TokenResponse {
    pub token_type: &'static str,
    pub scope: String,
    pub expires_in: i64,
    pub ext_expires_in: i64,
    pub access_token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

/// Finds the resource a request is for: the named one, or identity's own resource.
pub async fn resolve_resource(
    ctx: &Ctx,
    requested: &RequestedScopes,
) -> Result<Resource, OAuthError> {
    let uri = requested.resource.as_deref().unwrap_or(ctx.base_url());
    let found = ctx.resource(uri).await.map_err(|e| internal(&e))?;
    found.ok_or_else(|| {
        OAuthError::invalid_scope(format!(
            "The resource '{uri}' is not registered in this tenant."
        ))
        .with_code(ErrorCode::UnknownResource)
    })
}

/// Which of the resource's scopes a user token carries.
pub fn delegated_scopes(
    resource: &Resource,
    requested: &RequestedScopes,
) -> Result<Vec<String>, OAuthError> {
    if requested.default || (requested.scopes.is_empty() && requested.resource.is_some()) {
        return Ok(resource.scopes.clone());
    }
    if requested.scopes.is_empty() {
        // Only OpenID scopes: a token for identity's userinfo.
        return Ok(vec![IDENTITY_SCOPES[0].to_string()]);
    }
    scope::resolve(&requested.scopes, &resource.scopes)
}

/// Issues tokens.
pub async fn issue(ctx: &Ctx, req: IssueRequest<'_>) -> Result<TokenResponse, OAuthError> {
    let resource = resolve_resource(ctx, req.scopes).await?;
    let cfg = &ctx.cfg().tokens;
    let now = req.now;
    let lifetime = resource
        .access_token_lifetime
        .clamp(60, 86400)
        .min(cfg.access_token_secs.max(60));
    let exp = now + Duration::seconds(lifetime);
    let (scp, roles, granted) = match req.user {
        Some(_) => {
            let s = delegated_scopes(&resource, req.scopes)?;
            (Some(s.join(" ")), None, s)
        }
        None => {
            let roles: Vec<String> = req
                .app
                .app_roles
                .iter()
                .filter(|r| resource.app_roles.iter().any(|a| a.eq_ignore_ascii_case(r)))
                .cloned()
                .collect();
            (None, Some(roles), vec![".default".to_string()])
        }
    };
    let client_id = req.app.client_id.as_str().to_string();
    let amr: Vec<String> = req.amr.iter().map(|a| a.as_str().to_string()).collect();
    let sid = req.session_id.map(|s| s.to_string());
    let access = AccessClaims {
        iss: ctx.issuer().to_string(),
        aud: resource.uri.clone(),
        sub: req
            .user
            .map(|u| u.id.to_string())
            .unwrap_or_else(|| client_id.clone()),
        oid: req.user.map(|u| u.id.to_string()),
        tid: ctx.tenant_id().to_string(),
        upn: req.user.map(|u| u.upn.to_string()),
        preferred_username: req.user.map(|u| u.upn.to_string()),
        name: req.user.map(|u| u.display_name.clone()),
        scope: scp.clone(),
        scp,
        roles,
        amr: req.user.map(|_| amr.clone()),
        azp: client_id.clone(),
        client_id: client_id.clone(),
        appid: client_id.clone(),
        ipaddr: req.ip.map(|i| i.to_string()),
        auth_time: req.user.map(|_| req.auth_time.unix_timestamp()),
        iat: now.unix_timestamp(),
        nbf: now.unix_timestamp(),
        exp: exp.unix_timestamp(),
        jti: Uuid::new_v4().to_string(),
        idtyp: if req.user.is_some() { "user" } else { "app" }.to_string(),
        ver: "2.0".to_string(),
        sid: sid.clone(),
    };
    let keys = ctx.keys();
    let access_token = keys
        .sign(
            resource.token_alg,
            ctx.cfg().tokens.access_token_typ.as_str(),
            &access,
        )
        .map_err(|e| internal(&e))?;

    let id_token = match req.user {
        Some(user) if req.scopes.wants("openid") => {
            let id = IdClaims {
                iss: ctx.issuer().to_string(),
                aud: client_id.clone(),
                sub: user.id.to_string(),
                oid: user.id.to_string(),
                tid: ctx.tenant_id().to_string(),
                upn: Some(user.upn.to_string()),
                preferred_username: user.upn.to_string(),
                name: req
                    .scopes
                    .wants("profile")
                    .then(|| user.display_name.clone())
                    .or(Some(user.display_name.clone())),
                email: user.mail.clone().or_else(|| Some(user.upn.to_string())),
                nonce: req.nonce.clone(),
                amr: amr.clone(),
                auth_time: req.auth_time.unix_timestamp(),
                iat: now.unix_timestamp(),
                nbf: now.unix_timestamp(),
                exp: (now + Duration::seconds(cfg.id_token_secs)).unix_timestamp(),
                sid: sid.clone(),
                at_hash: Some(at_hash(&access_token)),
                ver: "2.0".to_string(),
            };
            Some(
                keys.sign(TokenAlg::RS256, "JWT", &id)
                    .map_err(|e| internal(&e))?,
            )
        }
        _ => None,
    };

    let refresh_token = match (req.user, req.rotated_refresh_token) {
        (Some(_), Some(successor)) => Some(successor),
        (Some(user), None)
            if req.scopes.wants("offline_access") && req.app.allows(GrantType::RefreshToken) =>
        {
            let secret = mailward_oauth::random::token();
            let record = RefreshToken {
                token_hash: mailward_oauth::random::hash(&secret),
                family_id: req.family_id,
                client_id: client_id.clone(),
                user_id: user.id,
                scopes: refresh_scopes(req.scopes, &resource),
                resource: Some(resource.uri.clone()),
                amr: req.amr.to_vec(),
                auth_time: req.auth_time,
                mfa_time: req.mfa_time,
                session_id: req.session_id,
                client_app_type: req.client_app_type,
                created_at: now,
                expires_at: now + Duration::seconds(cfg.refresh_token_secs),
                used_at: None,
                revoked_at: None,
            };
            ctx.store()
                .insert_refresh_token(&record)
                .await
                .map_err(|e| internal(&e))?;
            Some(secret)
        }
        _ => None,
    };

    let scope = granted
        .iter()
        .map(|s| format!("{}/{}", resource.uri, s))
        .collect::<Vec<_>>()
        .join(" ");
    Ok(TokenResponse {
        token_type: "Bearer",
        scope,
        expires_in: lifetime,
        ext_expires_in: lifetime,
        access_token,
        refresh_token,
        id_token,
    })
}

/// The scope string a refresh token remembers, so a refresh without `scope` gets the same.
fn refresh_scopes(requested: &RequestedScopes, resource: &Resource) -> Vec<String> {
    let mut out: Vec<String> = requested.oidc.iter().cloned().collect();
    if requested.default {
        out.push(format!("{}/.default", resource.uri));
    } else {
        out.extend(
            requested
                .scopes
                .iter()
                .map(|s| format!("{}/{}", resource.uri, s)),
        );
    }
    out
}

/// Logs an internal error and returns the opaque server error.
pub(crate) fn internal(e: &dyn std::fmt::Display) -> OAuthError {
    tracing::error!(error = %e, "internal error");
    OAuthError::server_error()
}

/// Extension for setting the numeric code on an error built from a helper.
pub(crate) trait WithCode {
    fn with_code(self, code: ErrorCode) -> Self;
}

impl WithCode for OAuthError {
    fn with_code(mut self, code: ErrorCode) -> Self {
        self.code = code;
        self
    }
}
