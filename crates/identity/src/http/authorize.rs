//! The authorization endpoint (RFC 6749 §3.1, OpenID Connect Core §3.1.2). Validates the
//! client and redirect URI first (errors about them are shown, never redirected), then the
//! rest (errors redirected to the client), then starts a sign-in flow — or finishes it at
//! once from the browser's single sign-on session when policy allows. Starting a flow is
//! rate-limited per client address (`[identity.limits] signin_flows`; beyond it HTTP 429).

use super::Meta;
use super::login::{self, error_page, respond_to_client, server_error};
use crate::conditional_access;
use crate::flows::{self, Flow, Purpose};
use crate::issue;
use crate::limits::{self, Limit};
use crate::state::Ctx;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use mailward_oauth::authorize::{self, AuthorizeRequest, Prompt, ResponseMode, response_params};
use mailward_oauth::token_request::Params;
use mailward_oauth::{OAuthError, random, scope};
use mailward_signin::flow::SignInState;
use mailward_types::ErrorCode;
use mailward_types::model::{ClientAppType, ClientKind, GrantType};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

pub async fn handle_authorize(
    State(ctx): State<Ctx>,
    meta: Meta,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let params = Params::parse(q.unwrap_or_default().as_bytes());
    authorize(ctx, meta, headers, params).await
}

pub async fn handle_authorize_post(
    State(ctx): State<Ctx>,
    meta: Meta,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    authorize(ctx, meta, headers, Params::parse(&body)).await
}

async fn authorize(
    ctx: Ctx,
    meta: Meta,
    headers: HeaderMap,
    params: Result<Params, OAuthError>,
) -> Response {
    let now = mailward_types::clock::now();
    let params = match params {
        Ok(p) => p,
        Err(e) => return error_page(&ctx, e.code, meta.correlation_id),
    };
    let (client_id, redirect_uri) = match authorize::client_and_redirect(&params) {
        Ok(v) => v,
        Err(e) => return error_page(&ctx, e.code, meta.correlation_id),
    };
    let app = match ctx.store().app(client_id).await {
        Ok(Some(a)) => a,
        Ok(None) => return error_page(&ctx, ErrorCode::UnknownClient, meta.correlation_id),
        Err(e) => return server_error(&ctx, &meta, &e),
    };
    if !app.redirect_uris.iter().any(|r| r.matches(redirect_uri)) {
        return error_page(&ctx, ErrorCode::RedirectUriMismatch, meta.correlation_id);
    }
    let redirect_uri = redirect_uri.to_string();
    let mode = match params.get("response_mode") {
        Some("form_post") => ResponseMode::FormPost,
        _ => ResponseMode::Query,
    };
    let state_param = params.get("state").map(str::to_string);
    let fail = |e: OAuthError| {
        let p = response_params(state_param.as_deref(), Err(&e), ctx.issuer());
        respond_to_client(&ctx, &redirect_uri, mode, &p)
    };
    if !app.allows(GrantType::AuthorizationCode) {
        return fail(OAuthError::unauthorized_client(
            "The application may not use the authorization code flow.",
        ));
    }
    let request = match AuthorizeRequest::parse(&params) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    if app.kind == ClientKind::Public && request.code_challenge.is_none() {
        return fail(OAuthError::invalid_request(
            "Public clients must use PKCE: send code_challenge with code_challenge_method=S256.",
        ));
    }
    // Scopes must name a registered resource and scopes it offers.
    let requested = match scope::parse(&request.scope, request.resource.as_deref()) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let target_app = match issue::resolve_resource(&ctx, &requested).await {
        Ok(resource) => {
            if let Err(e) = issue::delegated_scopes(&resource, &requested) {
                return fail(e);
            }
            if requested.resource.is_some() {
                conditional_access::resource_app_id(&ctx, &resource)
            } else {
                app.client_id.to_string()
            }
        }
        Err(e) => return fail(e),
    };
    let client_app_type = match app.kind {
        ClientKind::Confidential => ClientAppType::Browser,
        ClientKind::Public => ClientAppType::MobileAppsAndDesktopClients,
    };

    let (binding, new_binding) = match flows::cookie(&headers, flows::BINDING_COOKIE) {
        Some(b) if b.len() >= 32 => (b.to_string(), false),
        _ => (random::token(), true),
    };
    let mut flow = Flow {
        id: Uuid::new_v4(),
        binding_hash: random::hash(&binding),
        purpose: Purpose::Authorize {
            request: request.clone(),
        },
        client_id: app.client_id.to_string(),
        app_name: app.display_name.clone(),
        client_app_type,
        state: SignInState::Identify,
        correlation_id: meta.correlation_id,
        steps: vec![],
        policies: vec![],
        location_class: None,
        target_app,
        persistent_browser: false,
        judged_user: None,
    };

    // Single sign-on from an existing session.
    if request.prompt != Some(Prompt::Login) {
        match usable_session(
            &ctx,
            &headers,
            request.max_age,
            request.login_hint.as_deref(),
            now,
        )
        .await
        {
            Ok(Some((session, user))) => {
                if let Err(e) =
                    login::from_session(&ctx, &mut flow, &session, &user, &meta, now).await
                {
                    return server_error(&ctx, &meta, &e);
                }
            }
            Ok(None) => {}
            Err(e) => return server_error(&ctx, &meta, &e),
        }
    }
    if request.prompt == Some(Prompt::None) {
        match &flow.state {
            SignInState::Complete(_) => {}
            SignInState::Identify => {
                return fail(OAuthError::new(
                    "login_required",
                    ErrorCode::InteractionRequired,
                ));
            }
            SignInState::Denied { code } => return fail(OAuthError::new("access_denied", *code)),
            _ => {
                return fail(OAuthError::new(
                    "interaction_required",
                    ErrorCode::MfaRequired,
                ));
            }
        }
    }
    let mut response = match flow.state.clone() {
        SignInState::Complete(done) => {
            match login::finish(&ctx, &meta, &headers, flow, done, now).await {
                Ok(r) => r,
                Err(e) => return server_error(&ctx, &meta, &e),
            }
        }
        _ => {
            // A new flow is a row an anonymous client makes us write: bounded per address.
            match limits::take(&ctx, Limit::SignInFlows, meta.ip, now).await {
                Ok(true) => {}
                Ok(false) => {
                    let mut page = error_page(&ctx, ErrorCode::Throttled, meta.correlation_id);
                    *page.status_mut() = StatusCode::TOO_MANY_REQUESTS;
                    return page;
                }
                Err(e) => return server_error(&ctx, &meta, &e),
            }
            if let Err(e) = flow.save(&ctx, now).await {
                return server_error(&ctx, &meta, &e);
            }
            let hint = request
                .login_hint
                .as_deref()
                .map(|h| {
                    format!(
                        "&login_hint={}",
                        url::form_urlencoded::byte_serialize(h.as_bytes()).collect::<String>()
                    )
                })
                .unwrap_or_default();
            Redirect::to(&format!("/login?flow={}{hint}", flow.id)).into_response()
        }
    };
    if new_binding
        && let Ok(v) =
            HeaderValue::from_str(&flows::set_cookie(flows::BINDING_COOKIE, &binding, None))
    {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

/// The browser's session, if it may be used for this request.
async fn usable_session(
    ctx: &Ctx,
    headers: &HeaderMap,
    max_age: Option<i64>,
    login_hint: Option<&str>,
    now: OffsetDateTime,
) -> Result<
    Option<(
        mailward_types::records::Session,
        mailward_types::model::User,
    )>,
    mailward_store::StoreError,
> {
    let Some((id, secret)) =
        flows::cookie(headers, flows::SESSION_COOKIE).and_then(login::parse_session_cookie)
    else {
        return Ok(None);
    };
    let Some(session) = ctx.store().session(id).await? else {
        return Ok(None);
    };
    if session.secret_hash != random::hash(&secret) || session.expires_at <= now {
        return Ok(None);
    }
    if max_age.is_some_and(|m| now - session.auth_time > Duration::seconds(m)) {
        return Ok(None);
    }
    let Some(user) = ctx.store().user_by_id(session.user_id).await? else {
        return Ok(None);
    };
    if !user.enabled || session.auth_time < user.tokens_valid_from {
        return Ok(None);
    }
    if login_hint.is_some_and(|h| !h.eq_ignore_ascii_case(user.upn.as_str())) {
        return Ok(None);
    }
    Ok(Some((session, user)))
}
