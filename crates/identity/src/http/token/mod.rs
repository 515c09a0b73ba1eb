//! The token endpoint (RFC 6749 §3.2). The request is parsed once; client authentication,
//! the user checks, the policy step, issuance and the sign-in log run here for every grant,
//! and each grant (one file each) only supplies its own step — so none can skip a shared
//! check.

mod authorization_code;
mod client_credentials;
mod device_code;
mod password;
mod refresh_token;

use super::{Meta, oauth_err};
use crate::conditional_access::{self, StepInput};
use crate::issue::{self, IssueRequest, internal};
use crate::signin_log::Entry;
use crate::state::Ctx;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use mailward_oauth::OAuthError;
use mailward_oauth::scope::RequestedScopes;
use mailward_oauth::token_request::{self, ClientAuth, ClientAuthMethod, Grant, Params};
use mailward_signin::policy::Decision;
use mailward_types::ErrorCode;
use mailward_types::model::{Amr, Application, ClientAppType, ClientKind, GrantType, User};
use mailward_types::records::{AuthStep, PolicyOutcome};
use time::OffsetDateTime;
use uuid::Uuid;

/// What a grant step established.
#[derive(Debug)]
pub(crate) struct Granted {
    pub user: Option<User>,
    pub scopes: RequestedScopes,
    pub amr: Vec<Amr>,
    pub auth_time: OffsetDateTime,
    pub mfa_time: Option<OffsetDateTime>,
    pub session_id: Option<Uuid>,
    pub nonce: Option<String>,
    pub family_id: Uuid,
    pub client_app_type: ClientAppType,
    pub steps: Vec<AuthStep>,
    /// The policy step already ran in this grant (refresh with conditional access active,
    /// before rotating); its results are in `policies`.
    pub policy_done: bool,
    pub policies: Vec<PolicyOutcome>,
    pub location_class: Option<mailward_types::records::LocationClass>,
    /// The refresh grant already stored the successor token; this is its secret.
    pub rotated_refresh_token: Option<String>,
}

/// A grant failure, with the user it concerned (for the log).
#[derive(Debug)]
pub(crate) struct Denied {
    pub error: OAuthError,
    pub user: Option<User>,
    pub username: Option<String>,
    pub steps: Vec<AuthStep>,
    /// Polling answers (`authorization_pending`, `slow_down`) are not sign-in attempts.
    pub log: bool,
    /// Policy results, when the policy step refused.
    pub policies: Vec<PolicyOutcome>,
    /// Logged as interrupted (MFA needed) rather than failed.
    pub interrupted: bool,
}

impl From<OAuthError> for Denied {
    fn from(error: OAuthError) -> Self {
        Denied {
            error,
            user: None,
            username: None,
            steps: vec![],
            log: true,
            policies: vec![],
            interrupted: false,
        }
    }
}

pub async fn handle_token(
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
    let req = match Params::parse(&body).and_then(|p| token_request::parse(&p, authz)) {
        Ok(r) => r,
        Err(e) => return err(e).into_response(),
    };
    let grant_name = req.grant.name();
    let mut entry = Entry::new(
        grant_name,
        ClientAppType::MobileAppsAndDesktopClients,
        meta.ip,
        meta.user_agent.as_deref(),
        meta.correlation_id,
        now,
    );
    entry.app(&req.client.client_id, None);

    let app = match authenticate_client(&ctx, &req.client).await {
        Ok(app) => app,
        Err(e) => {
            entry.steps([crate::authn::step(
                "clientAuthentication",
                false,
                &e.description(),
            )]);
            ctx.log().record(entry.failure(e.code)).await;
            return err(e).into_response();
        }
    };
    entry.app(app.client_id.as_str(), Some(&app.display_name));
    entry.steps([crate::authn::step(
        "clientAuthentication",
        true,
        method_name(req.client.method),
    )]);
    let grant_type = match &req.grant {
        Grant::AuthorizationCode { .. } => GrantType::AuthorizationCode,
        Grant::RefreshToken { .. } => GrantType::RefreshToken,
        Grant::DeviceCode { .. } => GrantType::DeviceCode,
        Grant::ClientCredentials { .. } => GrantType::ClientCredentials,
        Grant::Password { .. } => GrantType::Password,
    };
    if !app.allows(grant_type)
        || (grant_type == GrantType::ClientCredentials && app.kind != ClientKind::Confidential)
    {
        let e = OAuthError::unauthorized_client(format!(
            "The application is not allowed to use the '{}' grant.",
            grant_type.as_str()
        ));
        ctx.log().record(entry.failure(e.code)).await;
        return err(e).into_response();
    }

    let step = match req.grant {
        Grant::AuthorizationCode {
            code,
            redirect_uri,
            code_verifier,
        } => {
            authorization_code::step(
                &ctx,
                &app,
                &code,
                redirect_uri.as_deref(),
                code_verifier.as_deref(),
                now,
            )
            .await
        }
        Grant::RefreshToken {
            refresh_token,
            scope,
        } => {
            refresh_token::step(
                &ctx,
                &app,
                &refresh_token,
                scope.as_deref(),
                req.resource.as_deref(),
                &meta,
                now,
            )
            .await
        }
        Grant::DeviceCode { device_code } => device_code::step(&ctx, &app, &device_code, now).await,
        Grant::ClientCredentials { scope } => {
            client_credentials::step(&app, scope.as_deref(), req.resource.as_deref(), now)
        }
        Grant::Password {
            username,
            password,
            scope,
        } => {
            password::step(
                &ctx,
                &app,
                &username,
                &password,
                scope.as_deref(),
                req.resource.as_deref(),
                &meta,
                now,
            )
            .await
        }
    };
    let granted = match step {
        Ok(g) => g,
        Err(d) => {
            if let Some(u) = &d.user {
                entry.user(Some(u.id), u.upn.as_str());
            } else if let Some(name) = &d.username {
                entry.user(None, name);
            }
            entry.steps(d.steps);
            entry.policies(d.policies);
            if d.log {
                let logged = if d.interrupted {
                    entry.interrupted(d.error.code)
                } else {
                    entry.failure(d.error.code)
                };
                ctx.log().record(logged).await;
            }
            // The log keeps the real code; the client is told what it may learn (a locked
            // account looks like a wrong password).
            let mut error = d.error;
            error.code = mailward_signin::flow::answered(error.code);
            return err(error).into_response();
        }
    };
    entry.event.client_app_used = granted.client_app_type;
    entry.location(granted.location_class);
    entry.steps(granted.steps.clone());

    if let Some(user) = &granted.user {
        entry.user(Some(user.id), user.upn.as_str());
        if let Err(e) = user_checks(user, granted.auth_time) {
            ctx.log().record(entry.failure(e.code)).await;
            return err(e).into_response();
        }
        if granted.policy_done {
            entry.policies(granted.policies.clone());
        } else {
            let gate = match policy_gate(
                &ctx,
                &PolicyFacts {
                    client_id: app.client_id.as_str(),
                    user,
                    resource: granted.scopes.resource.as_deref(),
                    client_app_type: granted.client_app_type,
                    amr: &granted.amr,
                    auth_time: granted.auth_time,
                    mfa_time: granted.mfa_time,
                },
                &meta,
                now,
            )
            .await
            {
                Ok(g) => g,
                Err(e) => {
                    ctx.log().record(entry.failure(e.code)).await;
                    return err(e).into_response();
                }
            };
            entry.policies(gate.outcomes);
            if let Some(refusal) = gate.refusal {
                let code = refusal.error.code;
                let logged = if refusal.interrupted {
                    entry.interrupted(code)
                } else {
                    entry.failure(code)
                };
                ctx.log().record(logged).await;
                return err(refusal.error).into_response();
            }
        }
    }

    let resource = granted.scopes.resource.clone();
    let issued = issue::issue(
        &ctx,
        IssueRequest {
            app: &app,
            user: granted.user.as_ref(),
            scopes: &granted.scopes,
            amr: &granted.amr,
            auth_time: granted.auth_time,
            mfa_time: granted.mfa_time,
            session_id: granted.session_id,
            nonce: granted.nonce.clone(),
            family_id: granted.family_id,
            client_app_type: granted.client_app_type,
            ip: meta.ip,
            rotated_refresh_token: granted.rotated_refresh_token.clone(),
            now,
        },
    )
    .await;
    entry.resource(resource.as_deref().or(Some(ctx.base_url())));
    match issued {
        Ok(body) => {
            ctx.log().record(entry.success(&granted.amr)).await;
            Json(body).into_response()
        }
        Err(e) => {
            ctx.log().record(entry.failure(e.code)).await;
            err(e).into_response()
        }
    }
}

/// What the policy step of a token grant looks at.
pub(crate) struct PolicyFacts<'a> {
    pub client_id: &'a str,
    pub user: &'a User,
    /// The resource URI the token is for (`None`: the client itself).
    pub resource: Option<&'a str>,
    pub client_app_type: ClientAppType,
    pub amr: &'a [Amr],
    pub auth_time: OffsetDateTime,
    pub mfa_time: Option<OffsetDateTime>,
}

/// The policy step's answer for a grant: what to log, and the error if it refuses.
#[derive(Debug)]
pub(crate) struct Gate {
    pub outcomes: Vec<PolicyOutcome>,
    pub refusal: Option<Refusal>,
}

#[derive(Debug)]
pub(crate) struct Refusal {
    pub error: OAuthError,
    /// MFA or a fresh sign-in would get through (logged as interrupted, not failed).
    pub interrupted: bool,
}

/// Runs the policy step (conditional access, or the configured rule) for a token grant.
/// A grant cannot prompt, so anything but "allow" refuses: 53003 for a block, 50076 /
/// 50079 when MFA is needed, 70044 when `signInFrequency` wants a fresh sign-in.
pub(crate) async fn policy_gate(
    ctx: &Ctx,
    f: &PolicyFacts<'_>,
    meta: &Meta,
    now: OffsetDateTime,
) -> Result<Gate, OAuthError> {
    let target = conditional_access::target_app(ctx, f.resource, f.client_id).await;
    let result = conditional_access::step(
        ctx,
        &StepInput {
            user: f.user,
            app_id: target,
            client_app_type: f.client_app_type,
            ip: meta.ip,
            user_agent: meta.user_agent.as_deref(),
            amr: f.amr,
            auth_time: Some(f.auth_time),
            mfa_time: f.mfa_time,
            now,
        },
    )
    .await
    .map_err(|e| internal(&e))?;
    let refusal = if result.reauthenticate {
        Some(Refusal {
            error: OAuthError::new("invalid_grant", ErrorCode::SignInFrequency),
            interrupted: true,
        })
    } else {
        match result.decision {
            Decision::Allow => None,
            Decision::RequireMfa => {
                let code = match crate::mfa_methods::has_any(ctx, f.user.id).await {
                    Ok(false) => ErrorCode::MfaRegistrationRequired,
                    _ => ErrorCode::MfaRequired,
                };
                Some(Refusal {
                    error: OAuthError::new("invalid_grant", code).with_detail(
                        "Sign in interactively to complete multifactor authentication.",
                    ),
                    interrupted: true,
                })
            }
            Decision::Block(code) => Some(Refusal {
                error: OAuthError::new("invalid_grant", code),
                interrupted: false,
            }),
        }
    };
    Ok(Gate {
        outcomes: result.outcomes,
        refusal,
    })
}

/// A user may receive tokens: enabled, and not signed out everywhere since `auth_time`.
pub(crate) fn user_checks(user: &User, auth_time: OffsetDateTime) -> Result<(), OAuthError> {
    if !user.enabled {
        return Err(OAuthError::invalid_grant(ErrorCode::UserDisabled));
    }
    // Millisecond precision end to end (flows, codes, refresh tokens and sessions keep it),
    // so a sign-in just after a revocation counts and one just before does not.
    if auth_time < user.tokens_valid_from {
        return Err(OAuthError::invalid_grant(ErrorCode::FreshAuthRequired)
            .with_detail("The user's sessions were revoked; sign in again."));
    }
    Ok(())
}

/// Parses a form body and authenticates the client it names — the shared start of the
/// endpoints that take client authentication besides the token endpoint (device
/// authorization, revocation, introspection).
pub(crate) async fn form_and_client(
    ctx: &Ctx,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(Params, Application), OAuthError> {
    let authz = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let params = Params::parse(body)?;
    let client = token_request::client_auth(&params, authz)?;
    let app = authenticate_client(ctx, &client).await?;
    Ok((params, app))
}

/// RFC 6749 §2.3: public clients present no secret; confidential clients must.
pub(crate) async fn authenticate_client(
    ctx: &Ctx,
    client: &ClientAuth,
) -> Result<Application, OAuthError> {
    let app = ctx
        .app(&client.client_id)
        .await
        .map_err(|e| internal(&e))?
        .ok_or_else(|| {
            OAuthError::invalid_client(ErrorCode::UnknownClient).with_detail(format!(
                "Application with identifier '{}' was not found in the directory.",
                client.client_id.chars().take(128).collect::<String>()
            ))
        })?;
    match (app.kind, &client.secret) {
        (ClientKind::Public, None) => Ok(app),
        (ClientKind::Public, Some(_)) => Err(OAuthError::invalid_client(
            ErrorCode::PublicClientWithSecret,
        )),
        (ClientKind::Confidential, None) => {
            Err(OAuthError::invalid_client(ErrorCode::ClientAuthRequired))
        }
        (ClientKind::Confidential, Some(secret)) => {
            let presented = mailward_oauth::random::hash(secret.expose_secret());
            let ok = app
                .secret_hash
                .as_deref()
                .is_some_and(|stored| constant_time_eq(stored.as_bytes(), presented.as_bytes()));
            if ok {
                Ok(app)
            } else {
                Err(OAuthError::invalid_client(ErrorCode::InvalidClientSecret))
            }
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The method the client used, for the sign-in log.
pub(crate) fn method_name(m: ClientAuthMethod) -> &'static str {
    match m {
        ClientAuthMethod::None => "none",
        ClientAuthMethod::ClientSecretPost => "client_secret_post",
        ClientAuthMethod::ClientSecretBasic => "client_secret_basic",
    }
}
