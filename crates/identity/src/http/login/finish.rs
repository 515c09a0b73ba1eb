//! The end of a sign-in: recovery codes after a registration, then the single sign-on
//! session, the sign-in log entry and the authorization code (or the device approval).

use super::{Meta, Res, entry_for, render, to_page};
use crate::flows::{self, Flow, Purpose};
use crate::mfa_methods;
use crate::state::Ctx;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use mailward_oauth::authorize::{ResponseMode, redirect_url, response_params};
use mailward_oauth::random;
use mailward_signin::flow::Completed;
use mailward_types::ErrorCode;
use mailward_types::model::Amr;
use mailward_types::records::{AuthCode, DeviceStatus, Session};
use minijinja::context;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// After a method was registered during sign-in: issue recovery codes (when the user has
/// none left) and show them once; `continue` finishes.
pub(super) async fn registered(
    ctx: &Ctx,
    mut flow: Flow,
    user: Uuid,
    amr: Amr,
    now: OffsetDateTime,
) -> Res {
    let codes = if ctx.store().unused_recovery_codes(user).await? == 0 {
        mfa_methods::new_recovery_codes(ctx, user).await?
    } else {
        vec![]
    };
    flow.state = flow.state.clone().second_factor(Some(amr), now);
    flow.save(ctx, now).await?;
    if codes.is_empty() {
        return Ok(to_page(&flow));
    }
    Ok(render::recovery_codes(ctx, &flow, &codes))
}

/// Ends a successful sign-in: session cookie, log entry, then the code or the device
/// approval.
pub(crate) async fn finish(
    ctx: &Ctx,
    meta: &Meta,
    headers: &HeaderMap,
    flow: Flow,
    done: Completed,
    now: OffsetDateTime,
) -> Res {
    let store = ctx.store();
    let user = store
        .user_by_id(done.user)
        .await?
        .ok_or("user vanished during sign-in")?;
    // Single sign-on session: reuse the browser's session for this user, else a new one.
    let existing =
        match flows::cookie(headers, flows::SESSION_COOKIE).and_then(parse_session_cookie) {
            Some((id, secret)) => store.session(id).await?.filter(|s| {
                s.user_id == user.id && s.secret_hash == random::hash(&secret) && s.expires_at > now
            }),
            None => None,
        };
    let mut set_cookie = None;
    let session_id = match existing {
        Some(s) => {
            let amr = done.amr.clone();
            let mfa = done.mfa_time;
            let auth_time = done.auth_time;
            store
                .update_session(
                    s.id,
                    Box::new(move |mut s| {
                        s.amr = amr;
                        s.auth_time = auth_time;
                        if mfa.is_some() {
                            s.mfa_time = mfa;
                        }
                        Ok(s)
                    }),
                )
                .await?;
            s.id
        }
        None => {
            let secret = random::token();
            let session = Session {
                id: Uuid::new_v4(),
                secret_hash: random::hash(&secret),
                user_id: user.id,
                amr: done.amr.clone(),
                auth_time: done.auth_time,
                mfa_time: done.mfa_time,
                created_at: now,
                expires_at: now + Duration::seconds(ctx.cfg().tokens.session_secs),
            };
            store.insert_session(&session).await?;
            set_cookie = Some(flows::set_cookie(
                flows::SESSION_COOKIE,
                &format!("{}.{}", session.id, secret),
                flow.persistent_browser
                    .then_some(ctx.cfg().tokens.session_secs),
            ));
            session.id
        }
    };

    let mut entry = entry_for(&flow, meta, now);
    entry
        .user(Some(user.id), user.upn.as_str())
        .steps(flow.steps.clone())
        .policies(flow.policies.clone())
        .location(flow.location_class);
    flow.delete(ctx).await?;

    let mut response = match &flow.purpose {
        Purpose::Authorize { request } => {
            let code = random::token();
            let scopes: Vec<String> = request
                .scope
                .split_ascii_whitespace()
                .map(str::to_string)
                .collect();
            store
                .insert_auth_code(&AuthCode {
                    code_hash: random::hash(&code),
                    client_id: request.client_id.clone(),
                    user_id: user.id,
                    redirect_uri: request.redirect_uri.clone(),
                    scopes,
                    resource: mailward_oauth::scope::parse(
                        &request.scope,
                        request.resource.as_deref(),
                    )
                    .ok()
                    .and_then(|s| s.resource),
                    code_challenge: request.code_challenge.clone(),
                    nonce: request.nonce.clone(),
                    amr: done.amr.clone(),
                    auth_time: done.auth_time,
                    mfa_time: done.mfa_time,
                    session_id: Some(session_id),
                    client_app_type: flow.client_app_type,
                    ip: meta.ip.map(|i| i.to_string()),
                    family_id: Uuid::new_v4(),
                    created_at: now,
                    expires_at: now + Duration::seconds(ctx.cfg().tokens.authorization_code_secs),
                    redeemed_at: None,
                })
                .await?;
            ctx.log().record(entry.success(&done.amr)).await;
            let params = response_params(request.state.as_deref(), Ok(&code), ctx.issuer());
            respond_to_client(ctx, &request.redirect_uri, request.response_mode, &params)
        }
        Purpose::Device { device_code_hash } => {
            let approved = DeviceStatus::Approved {
                user_id: user.id,
                amr: done.amr.clone(),
                auth_time: done.auth_time,
                mfa_time: done.mfa_time,
                session_id: Some(session_id),
            };
            let result = store
                .update_device_code(
                    device_code_hash,
                    Box::new(move |mut d| {
                        if d.status != DeviceStatus::Pending || d.expires_at <= now {
                            return Err(mailward_store::StoreError::Rejected(
                                "the device code is no longer pending".into(),
                            ));
                        }
                        d.status = approved;
                        Ok(d)
                    }),
                )
                .await;
            match result {
                Ok(_) => {
                    ctx.log().record(entry.success(&done.amr)).await;
                    ctx.templates()
                        .render("device_done.html", context! { organization => ctx.cfg().organization.clone(), app_name => flow.app_name.clone() })
                        .into_response()
                }
                Err(mailward_store::StoreError::Rejected(_))
                | Err(mailward_store::StoreError::NotFound { .. }) => {
                    ctx.log()
                        .record(entry.failure(ErrorCode::DeviceCodeExpired))
                        .await;
                    render::error_page(ctx, ErrorCode::DeviceCodeExpired, flow.correlation_id)
                }
                Err(e) => return Err(e.into()),
            }
        }
    };
    if let Some(c) = set_cookie
        && let Ok(v) = HeaderValue::from_str(&c)
    {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(response)
}

/// Sends the authorization response to the client: a redirect, or an auto-posting form.
pub(crate) fn respond_to_client(
    ctx: &Ctx,
    redirect_uri: &str,
    mode: ResponseMode,
    params: &[(String, String)],
) -> Response {
    match mode {
        ResponseMode::Query => Redirect::to(&redirect_url(redirect_uri, params)).into_response(),
        ResponseMode::FormPost => ctx
            .templates()
            .render(
                "form_post.html",
                context! { organization => ctx.cfg().organization.clone(), action => redirect_uri, params => params.to_vec() },
            )
            .into_response(),
    }
}

pub(crate) fn parse_session_cookie(v: &str) -> Option<(Uuid, String)> {
    let (id, secret) = v.split_once('.')?;
    Some((Uuid::parse_str(id).ok()?, secret.to_string()))
}
