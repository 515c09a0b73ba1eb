//! Device authorization (RFC 8628): the device authorization endpoint (§3.1–3.2) and the
//! verification page where the user enters the code and signs in (§3.3).
//!
//! Both are open to anonymous clients, so both are bounded before any work (§5.1, §5.2):
//! device authorization requests per client address (`[identity.limits] device_codes`,
//! HTTP 429 with the OAuth error body), user codes entered per client address
//! (`user_code_attempts`, counted before the code is looked up, right or wrong), and
//! submissions per user code from anywhere (`user_code_submissions`, counted in the same
//! statement that looks the code up), so neither guessing nor a code seen over someone's
//! shoulder can be tried without bound.

use super::login::{self, server_error};
use super::{Meta, oauth_err};
use crate::conditional_access;
use crate::flows::{self, Flow, Purpose};
use crate::issue;
use crate::limits::{self, Limit};
use crate::state::Ctx;
use axum::Form;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use mailward_oauth::{OAuthError, random, scope, user_code};
use mailward_signin::flow::SignInState;
use mailward_store::StoreError;
use mailward_types::model::{ClientAppType, GrantType};
use mailward_types::records::{DeviceCode, DeviceStatus};
use minijinja::context;
use serde::Deserialize;
use serde_json::json;
use time::Duration;
use uuid::Uuid;

pub async fn handle_device_authorization(
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
    if !app.allows(GrantType::DeviceCode) {
        return err(OAuthError::unauthorized_client(
            "The application may not use the device code flow.",
        ))
        .into_response();
    }
    let scope_str = params.get("scope").unwrap_or("openid").to_string();
    let requested = match scope::parse(&scope_str, params.get("resource")) {
        Ok(s) => s,
        Err(e) => return err(e).into_response(),
    };
    match issue::resolve_resource(&ctx, &requested).await {
        Ok(resource) => {
            if let Err(e) = issue::delegated_scopes(&resource, &requested) {
                return err(e).into_response();
            }
        }
        Err(e) => return err(e).into_response(),
    }
    match limits::take(&ctx, Limit::DeviceCodes, meta.ip, now).await {
        Ok(true) => {}
        Ok(false) => return err(OAuthError::throttled()).into_response(),
        Err(e) => return err(crate::issue::internal(&e)).into_response(),
    }
    let cfg = &ctx.cfg().tokens;
    let device_code = random::token();
    let mut code = String::new();
    for attempt in 0..5 {
        code = user_code::generate();
        let normalized = user_code::normalize(&code).unwrap_or_default();
        let record = DeviceCode {
            device_code_hash: random::hash(&device_code),
            user_code_hash: random::hash(&normalized),
            client_id: app.client_id.to_string(),
            scopes: scope_str
                .split_ascii_whitespace()
                .map(str::to_string)
                .collect(),
            resource: requested.resource.clone(),
            status: DeviceStatus::Pending,
            interval_secs: cfg.device_poll_interval_secs,
            created_at: now,
            expires_at: now + Duration::seconds(cfg.device_code_secs),
            last_poll_at: None,
            ip: meta.ip.map(|i| i.to_string()),
        };
        match ctx.store().insert_device_code(&record).await {
            Ok(()) => break,
            Err(StoreError::Conflict { .. }) if attempt < 4 => continue,
            Err(e) => return err(crate::issue::internal(&e)).into_response(),
        }
    }
    let uri = format!("{}/devicelogin", ctx.base_url());
    Json(json!({
        "device_code": device_code,
        "user_code": code,
        "verification_uri": uri,
        "verification_uri_complete": format!("{uri}?user_code={code}"),
        "expires_in": cfg.device_code_secs,
        "interval": cfg.device_poll_interval_secs,
        "message": format!("To sign in, use a web browser to open the page {uri} and enter the code {code} to authenticate."),
    }))
    .into_response()
}

#[derive(Debug, Deserialize)]
pub struct DeviceQuery {
    user_code: Option<String>,
}

pub async fn handle_device_page(State(ctx): State<Ctx>, Query(q): Query<DeviceQuery>) -> Response {
    code_page(&ctx, q.user_code.as_deref(), None, StatusCode::OK)
}

fn code_page(ctx: &Ctx, code: Option<&str>, error: Option<&str>, status: StatusCode) -> Response {
    let page = ctx.templates().render(
        "device_code.html",
        context! { organization => ctx.cfg().organization.clone(), user_code => code, error => error },
    );
    (status, page).into_response()
}

#[derive(Debug, Deserialize)]
pub struct DeviceForm {
    user_code: String,
}

pub async fn handle_device_submit(
    State(ctx): State<Ctx>,
    meta: Meta,
    headers: HeaderMap,
    Form(form): Form<DeviceForm>,
) -> Response {
    let now = mailward_types::clock::now();
    let bad = || {
        code_page(
            &ctx,
            Some(&form.user_code),
            Some("That code didn't work. Check the code and try again."),
            StatusCode::BAD_REQUEST,
        )
    };
    match limits::take(&ctx, Limit::UserCodeAttempts, meta.ip, now).await {
        Ok(true) => {}
        Ok(false) => {
            return code_page(
                &ctx,
                Some(&form.user_code),
                Some("Too many codes were entered from your network. Wait a minute and try again."),
                StatusCode::TOO_MANY_REQUESTS,
            );
        }
        Err(e) => return server_error(&ctx, &meta, &e),
    }
    let Some(normalized) = user_code::normalize(&form.user_code) else {
        return bad();
    };
    let record = match ctx
        .store()
        .device_code_attempt(&random::hash(&normalized))
        .await
    {
        Ok(Some((_, n))) if n > ctx.cfg().limits.user_code_submissions => {
            tracing::warn!(submissions = n, "device user code entered too often");
            return code_page(
                &ctx,
                None,
                Some(
                    "This code has been entered too many times. Start again on your device to get a new code.",
                ),
                StatusCode::TOO_MANY_REQUESTS,
            );
        }
        Ok(Some((r, _))) if r.status == DeviceStatus::Pending && r.expires_at > now => r,
        Ok(_) => return bad(),
        Err(e) => return server_error(&ctx, &meta, &e),
    };
    let app = match ctx.store().app(&record.client_id).await {
        Ok(Some(a)) => a,
        Ok(None) => return bad(),
        Err(e) => return server_error(&ctx, &meta, &e),
    };
    let (binding, new_binding) = match flows::cookie(&headers, flows::BINDING_COOKIE) {
        Some(b) if b.len() >= 32 => (b.to_string(), false),
        _ => (random::token(), true),
    };
    let target_app =
        conditional_access::target_app(&ctx, record.resource.as_deref(), &record.client_id).await;
    let flow = Flow {
        id: Uuid::new_v4(),
        binding_hash: random::hash(&binding),
        purpose: Purpose::Device {
            device_code_hash: record.device_code_hash.clone(),
        },
        client_id: app.client_id.to_string(),
        app_name: app.display_name.clone(),
        client_app_type: ClientAppType::MobileAppsAndDesktopClients,
        state: SignInState::Identify,
        correlation_id: meta.correlation_id,
        steps: vec![],
        policies: vec![],
        location_class: None,
        target_app,
        persistent_browser: false,
        judged_user: None,
    };
    // No single sign-on here: the device flow is a common phishing vector (someone else's
    // code pasted into a signed-in browser), so the user always signs in explicitly and
    // sees the application name before the device is approved.
    let mut response = match flow.state.clone() {
        SignInState::Complete(done) => {
            match login::finish(&ctx, &meta, &headers, flow, done, now).await {
                Ok(r) => r,
                Err(e) => return server_error(&ctx, &meta, &e),
            }
        }
        _ => {
            if let Err(e) = flow.save(&ctx, now).await {
                return server_error(&ctx, &meta, &e);
            }
            Redirect::to(&format!("/login?flow={}", flow.id)).into_response()
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
