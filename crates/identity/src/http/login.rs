//! The sign-in pages: `GET /login?flow=…` renders the page for the flow's current state;
//! `POST /login` applies one action (identify, password, second factor, registration) by
//! running the pure transitions of `mailward_signin::flow` on facts gathered here, then
//! either shows the next page or finishes the flow (authorization code or device approval).

use super::Meta;
use crate::authn::{self, AuthnError, step};
use crate::conditional_access::{self, StepInput};
use crate::flows::{self, Flow, Purpose};
use crate::mfa_methods;
use crate::signin_log::Entry;
use crate::state::Ctx;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use mailward_mfa::{qr, totp};
use mailward_oauth::authorize::{ResponseMode, redirect_url, response_params};
use mailward_oauth::random;
use mailward_signin::flow::{Completed, Lookup, MfaFacts, SignInState};
use mailward_types::model::{Amr, User};
use mailward_types::records::{AuthCode, DeviceStatus, PasskeyRecord, Session, TotpRecord};
use mailward_types::{ErrorCode, Secret, Upn};
use minijinja::context;
use serde::Deserialize;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// Wrong second-factor attempts allowed in one flow.
const MAX_MFA_FAILURES: u32 = 5;

#[derive(Debug, Deserialize)]
pub struct PageQuery {
    flow: Uuid,
    method: Option<String>,
    login_hint: Option<String>,
}

#[derive(Deserialize)]
pub struct LoginForm {
    flow: Uuid,
    action: String,
    username: Option<String>,
    password: Option<String>,
    code: Option<String>,
    credential: Option<String>,
}

impl std::fmt::Debug for LoginForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginForm")
            .field("flow", &self.flow)
            .field("action", &self.action)
            .finish_non_exhaustive()
    }
}

pub async fn handle_login_page(
    State(ctx): State<Ctx>,
    meta: Meta,
    headers: HeaderMap,
    Query(q): Query<PageQuery>,
) -> Response {
    let now = mailward_types::clock::now();
    let binding = flows::cookie(&headers, flows::BINDING_COOKIE);
    let mut flow = match Flow::load(&ctx, q.flow, binding, now).await {
        Ok(Some(f)) => f,
        Ok(None) => return expired_page(&ctx, &meta),
        Err(e) => return server_error(&ctx, &meta, &e),
    };
    if let (SignInState::Identify, Some(hint)) = (&flow.state, q.login_hint.as_deref()) {
        return render_username(&ctx, &flow, Some(hint), None)
            .unwrap_or_else(|e| server_error(&ctx, &meta, &e));
    }
    match render_state(&ctx, &mut flow, q.method.as_deref(), None, now).await {
        Ok(r) => r,
        Err(e) => server_error(&ctx, &meta, &e),
    }
}

pub async fn handle_login_post(
    State(ctx): State<Ctx>,
    meta: Meta,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let now = mailward_types::clock::now();
    let binding = flows::cookie(&headers, flows::BINDING_COOKIE);
    let flow = match Flow::load(&ctx, form.flow, binding, now).await {
        Ok(Some(f)) => f,
        Ok(None) => return expired_page(&ctx, &meta),
        Err(e) => return server_error(&ctx, &meta, &e),
    };
    match apply(&ctx, &meta, &headers, flow, form, now).await {
        Ok(r) => r,
        Err(e) => server_error(&ctx, &meta, &e),
    }
}

type Res = Result<Response, Box<dyn std::error::Error + Send + Sync>>;

async fn apply(
    ctx: &Ctx,
    meta: &Meta,
    headers: &HeaderMap,
    mut flow: Flow,
    form: LoginForm,
    now: OffsetDateTime,
) -> Res {
    let store = ctx.store();
    match (form.action.as_str(), flow.state.clone()) {
        ("restart", SignInState::Identify | SignInState::FirstFactor { .. }) => {
            flow.state = SignInState::Identify;
            flow.save(ctx, now).await?;
            Ok(to_page(&flow))
        }
        ("identify", SignInState::Identify | SignInState::FirstFactor { .. }) => {
            let name = form.username.unwrap_or_default();
            let Ok(upn) = Upn::try_from(name.as_str()) else {
                return render_username(
                    ctx,
                    &flow,
                    Some(&name),
                    Some("Enter a valid email address or user name."),
                );
            };
            let user = store.user_by_upn(&upn).await?;
            let lookup = match &user {
                Some(u) => Lookup::Found {
                    user: u.id,
                    enabled: u.enabled,
                },
                None => Lookup::NotFound,
            };
            flow.state = SignInState::identify(upn.as_str(), lookup);
            if let SignInState::Denied { code } = flow.state {
                let mut entry = entry_for(&flow, meta, now);
                entry.user(user.as_ref().map(|u| u.id), upn.as_str());
                ctx.log().record(entry.failure(code)).await;
                flow.delete(ctx).await?;
                return Ok(error_page(ctx, code, flow.correlation_id));
            }
            flow.save(ctx, now).await?;
            Ok(to_page(&flow))
        }
        (
            "password",
            SignInState::FirstFactor {
                username,
                user: user_id,
            },
        ) => {
            let password = Secret::new(form.password.unwrap_or_default());
            let user = match user_id {
                Some(id) => store.user_by_id(id).await?,
                None => None,
            };
            let check =
                match authn::check_password(ctx, user.as_ref(), &password, meta.ip, now).await {
                    Ok(c) => c,
                    Err(AuthnError::Busy(_)) => {
                        return Ok(render_password(
                            ctx,
                            &flow,
                            &username,
                            Some("The service is busy. Try again in a moment."),
                            StatusCode::SERVICE_UNAVAILABLE,
                        ));
                    }
                    Err(AuthnError::Store(e)) => return Err(e.into()),
                };
            flow.location_class = check.class;
            let next = flow.state.clone().first_factor(check.result, now);
            let mut entry = entry_for(&flow, meta, now);
            entry
                .user(user.as_ref().map(|u| u.id), &username)
                .location(check.class);
            match next {
                SignInState::Denied { code } => {
                    entry.steps(check.steps);
                    ctx.log().record(entry.failure(code)).await;
                    let msg = match mailward_signin::flow::answered(code) {
                        ErrorCode::UserDisabled => {
                            "Your account has been disabled. Contact your administrator."
                        }
                        _ => "Your account or password is incorrect.",
                    };
                    return Ok(render_password(
                        ctx,
                        &flow,
                        &username,
                        Some(msg),
                        StatusCode::OK,
                    ));
                }
                next => {
                    flow.steps.extend(check.steps);
                    let Some(user) = user else {
                        return Err("first factor verified without a user".into());
                    };
                    flow.state = run_policy(ctx, &mut flow, &user, next, meta, None, now).await?;
                }
            }
            continue_flow(ctx, meta, headers, flow, now).await
        }
        ("totp" | "recovery", SignInState::SecondFactor { .. }) if flow.require_passkey => {
            render_mfa(
                ctx,
                &mut flow,
                Some("passkey"),
                Some("This sign-in needs a passkey or security key."),
                now,
            )
            .await
        }
        ("register_totp", SignInState::RegisterMfa { .. }) if flow.require_passkey => {
            render_register_passkey(
                ctx,
                &mut flow,
                Some("This sign-in needs a passkey or security key."),
                now,
            )
            .await
        }
        ("totp" | "recovery", SignInState::SecondFactor { user, username, .. }) => {
            let code = form.code.unwrap_or_default();
            let method = if form.action == "totp" {
                "totp"
            } else {
                "recoveryCode"
            };
            let used = if form.action == "totp" {
                mfa_methods::check_totp(ctx, user, &code, now).await?
            } else {
                mfa_methods::check_recovery(ctx, user, &code, now).await?
            };
            second_factor_result(ctx, meta, headers, flow, user, &username, method, used, now).await
        }
        ("passkey", SignInState::SecondFactor { user, username, .. }) => {
            let used =
                finish_passkey_auth(ctx, &mut flow, user, form.credential.as_deref(), now).await?;
            second_factor_result(
                ctx, meta, headers, flow, user, &username, "passkey", used, now,
            )
            .await
        }
        ("register_totp", SignInState::RegisterMfa { user, .. }) => {
            let code = form.code.unwrap_or_default();
            let Some(sealed_b64) = flow.pending_totp.clone() else {
                return Ok(to_page(&flow));
            };
            let sealed = STANDARD.decode(&sealed_b64)?;
            let secret = ctx.sealer().open(&sealed)?;
            let Some(step_no) = totp::verify(&secret, &code, now.unix_timestamp()) else {
                return render_register_totp(
                    ctx,
                    &mut flow,
                    Some("That code didn't work. Check the time on your device and try again."),
                    now,
                )
                .await;
            };
            store
                .put_totp(&TotpRecord {
                    user_id: user,
                    sealed_secret: sealed,
                    confirmed: true,
                    last_step: Some(step_no),
                    created_at: now,
                })
                .await?;
            flow.pending_totp = None;
            flow.steps.push(step("totpRegistration", true, ""));
            registered(ctx, flow, user, Amr::Otp, now).await
        }
        ("register_passkey", SignInState::RegisterMfa { user, username, .. }) => {
            let (Some(state), Some(cred)) = (flow.passkey_state.take(), form.credential.as_deref())
            else {
                return Ok(to_page(&flow));
            };
            let response: serde_json::Value = match serde_json::from_str(cred) {
                Ok(v) => v,
                Err(_) => {
                    return render_register_error(
                        ctx,
                        &mut flow,
                        "The passkey response was not readable.",
                        now,
                    )
                    .await;
                }
            };
            match ctx.passkeys().finish_registration(&state, &response) {
                Ok((credential_id, passkey_json)) => {
                    if store
                        .passkeys(user)
                        .await?
                        .iter()
                        .any(|p| p.credential_id == credential_id)
                    {
                        return render_register_error(
                            ctx,
                            &mut flow,
                            "This passkey is already registered.",
                            now,
                        )
                        .await;
                    }
                    let added = store
                        .add_passkey(&PasskeyRecord {
                            id: Uuid::new_v4(),
                            user_id: user,
                            name: format!("Passkey for {username}"),
                            credential_id,
                            passkey_json,
                            created_at: now,
                            last_used_at: Some(now),
                        })
                        .await;
                    match added {
                        Ok(()) => {}
                        // The same authenticator credential belongs to another account.
                        Err(mailward_store::StoreError::Conflict { .. }) => {
                            return render_register_error(
                                ctx,
                                &mut flow,
                                "This passkey is already registered to an account.",
                                now,
                            )
                            .await;
                        }
                        Err(e) => return Err(e.into()),
                    }
                    flow.steps.push(step("passkeyRegistration", true, ""));
                    registered(ctx, flow, user, Amr::Hwk, now).await
                }
                Err(e) => {
                    tracing::info!(error = %e, "passkey registration failed");
                    render_register_error(
                        ctx,
                        &mut flow,
                        "The passkey could not be registered. Try again.",
                        now,
                    )
                    .await
                }
            }
        }
        ("continue", SignInState::Complete(done)) if flow.awaiting_continue => {
            finish(ctx, meta, headers, flow, done, now).await
        }
        _ => {
            // A form that does not fit the flow's state: a replay, a second tab, or a
            // forgery. Show the current page again.
            Ok(to_page(&flow))
        }
    }
}

/// The policy step after a first factor (or on an existing session).
#[allow(clippy::too_many_arguments)]
async fn run_policy(
    ctx: &Ctx,
    flow: &mut Flow,
    user: &User,
    state: SignInState,
    meta: &Meta,
    session: Option<&Session>,
    now: OffsetDateTime,
) -> Result<SignInState, mailward_store::StoreError> {
    let amr = match &state {
        SignInState::SecondFactor { amr, .. } => amr.clone(),
        _ => vec![],
    };
    let target_app = if flow.target_app.is_empty() {
        flow.client_id.clone()
    } else {
        flow.target_app.clone()
    };
    let result = conditional_access::step(
        ctx,
        &StepInput {
            user,
            app_id: target_app,
            client_app_type: flow.client_app_type,
            ip: meta.ip,
            user_agent: meta.user_agent.as_deref(),
            amr: &amr,
            // A session's sign-in counts from when it happened; a password just entered
            // is "now".
            auth_time: session.map(|s| s.auth_time),
            mfa_time: session.and_then(|s| s.mfa_time),
            now,
        },
    )
    .await?;
    if result.reauthenticate
        && let SignInState::SecondFactor { username, .. } = &state
    {
        // signInFrequency: the session is too old to count; ask for the password again.
        flow.policies = result.outcomes;
        flow.steps.push(step(
            "session",
            false,
            "sign-in frequency requires a fresh sign-in",
        ));
        return Ok(SignInState::FirstFactor {
            username: username.clone(),
            user: Some(user.id),
        });
    }
    flow.policies = result.outcomes;
    flow.judged_user = Some((user.id, user.upn.to_string()));
    flow.require_passkey = result.phishing_resistant;
    flow.persistent_browser = result.session.persistent_browser
        == Some(mailward_policy::model::PersistentBrowserMode::Always);
    let methods = mfa_methods::methods(ctx, user.id).await?;
    let registered = if flow.require_passkey {
        methods.passkeys > 0
    } else {
        methods.any()
    };
    Ok(state.policy(
        &result.decision,
        MfaFacts {
            registered,
            interactive: true,
        },
    ))
}

/// Runs the flow on from a session (called by authorize); `None` when the session
/// cannot be used.
pub(crate) async fn from_session(
    ctx: &Ctx,
    flow: &mut Flow,
    session: &Session,
    user: &User,
    meta: &Meta,
    now: OffsetDateTime,
) -> Result<(), mailward_store::StoreError> {
    let state = SignInState::SecondFactor {
        user: user.id,
        username: user.upn.to_string(),
        amr: session.amr.clone(),
        auth_time: session.auth_time,
    };
    flow.steps
        .push(step("session", true, "single sign-on session"));
    flow.state = run_policy(ctx, flow, user, state, meta, Some(session), now).await?;
    if let SignInState::Complete(done) = &mut flow.state {
        done.mfa_time = session.mfa_time;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn second_factor_result(
    ctx: &Ctx,
    meta: &Meta,
    headers: &HeaderMap,
    mut flow: Flow,
    user: Uuid,
    username: &str,
    method: &str,
    used: Option<Amr>,
    now: OffsetDateTime,
) -> Res {
    if used.is_some() {
        flow.steps.push(step(method, true, ""));
        flow.state = flow.state.clone().second_factor(used, now);
        return continue_flow(ctx, meta, headers, flow, now).await;
    }
    flow.mfa_failures += 1;
    let mut entry = entry_for(&flow, meta, now);
    entry
        .user(Some(user), username)
        .steps(flow.steps.clone())
        .steps([step(method, false, "wrong or reused code")]);
    ctx.log()
        .record(entry.failure(ErrorCode::MfaRequired))
        .await;
    if flow.mfa_failures >= MAX_MFA_FAILURES {
        flow.delete(ctx).await?;
        return Ok(error_page(ctx, ErrorCode::MfaRequired, flow.correlation_id));
    }
    flow.save(ctx, now).await?;
    let msg = match method {
        "passkey" => "The passkey was not accepted. Try again or use another method.",
        "recoveryCode" => "That recovery code is not valid or was already used.",
        _ => "That code didn't work. Codes can be used only once; wait for the next one.",
    };
    let m = if method == "recoveryCode" {
        "recovery"
    } else {
        method
    };
    render_mfa(ctx, &mut flow, Some(m), Some(msg), now).await
}

/// After a method was registered during sign-in: issue recovery codes and show them once.
async fn registered(ctx: &Ctx, mut flow: Flow, user: Uuid, amr: Amr, now: OffsetDateTime) -> Res {
    let codes = if ctx.store().unused_recovery_codes(user).await? == 0 {
        mfa_methods::new_recovery_codes(ctx, user).await?
    } else {
        vec![]
    };
    flow.state = flow.state.clone().second_factor(Some(amr), now);
    flow.awaiting_continue = true;
    flow.save(ctx, now).await?;
    if codes.is_empty() {
        return Ok(to_page(&flow));
    }
    Ok(ctx
        .templates()
        .render("recovery_codes.html", context! { organization => ctx.cfg().organization.clone(), flow => flow.id.to_string(), codes => codes })
        .into_response())
}

/// Shows the next page or finishes.
async fn continue_flow(
    ctx: &Ctx,
    meta: &Meta,
    headers: &HeaderMap,
    mut flow: Flow,
    now: OffsetDateTime,
) -> Res {
    match flow.state.clone() {
        SignInState::Complete(done) => finish(ctx, meta, headers, flow, done, now).await,
        SignInState::Denied { code } => {
            let mut entry = entry_for(&flow, meta, now);
            if let Some((id, upn)) = &flow.judged_user {
                entry.user(Some(*id), upn);
            }
            entry
                .steps(flow.steps.clone())
                .policies(std::mem::take(&mut flow.policies));
            ctx.log().record(entry.failure(code)).await;
            flow.delete(ctx).await?;
            Ok(error_page(ctx, code, flow.correlation_id))
        }
        _ => {
            flow.save(ctx, now).await?;
            Ok(to_page(&flow))
        }
    }
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
                    error_page(ctx, ErrorCode::DeviceCodeExpired, flow.correlation_id)
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

fn entry_for(flow: &Flow, meta: &Meta, now: OffsetDateTime) -> Entry {
    let kind = match flow.purpose {
        Purpose::Authorize { .. } => "interactive",
        Purpose::Device { .. } => "device_code_interactive",
    };
    let mut e = Entry::new(
        kind,
        flow.client_app_type,
        meta.ip,
        meta.user_agent.as_deref(),
        flow.correlation_id,
        now,
    );
    e.app(&flow.client_id, Some(&flow.app_name));
    e
}

fn to_page(flow: &Flow) -> Response {
    Redirect::to(&format!("/login?flow={}", flow.id)).into_response()
}

async fn render_state(
    ctx: &Ctx,
    flow: &mut Flow,
    method: Option<&str>,
    error: Option<&str>,
    now: OffsetDateTime,
) -> Res {
    match flow.state.clone() {
        SignInState::Identify => render_username(ctx, flow, None, error),
        SignInState::FirstFactor { username, .. } => Ok(render_password(ctx, flow, &username, error, StatusCode::OK)),
        SignInState::SecondFactor { .. } => render_mfa(ctx, flow, method, error, now).await,
        SignInState::RegisterMfa { .. } => {
            if method == Some("passkey") || flow.require_passkey {
                render_register_passkey(ctx, flow, error, now).await
            } else {
                render_register_totp(ctx, flow, error, now).await
            }
        }
        SignInState::Complete(_) => Ok(ctx
            .templates()
            .render("recovery_codes.html", context! { organization => ctx.cfg().organization.clone(), flow => flow.id.to_string(), codes => Vec::<String>::new() })
            .into_response()),
        SignInState::Denied { code } => Ok(error_page(ctx, code, flow.correlation_id)),
    }
}

fn render_username(ctx: &Ctx, flow: &Flow, username: Option<&str>, error: Option<&str>) -> Res {
    Ok(ctx
        .templates()
        .render(
            "username.html",
            context! { organization => ctx.cfg().organization.clone(), flow => flow.id.to_string(), app_name => flow.app_name.clone(), username => username, error => error },
        )
        .into_response())
}

fn render_password(
    ctx: &Ctx,
    flow: &Flow,
    username: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let page = ctx.templates().render(
        "password.html",
        context! { organization => ctx.cfg().organization.clone(), flow => flow.id.to_string(), username => username, error => error },
    );
    (status, page).into_response()
}

async fn render_mfa(
    ctx: &Ctx,
    flow: &mut Flow,
    method: Option<&str>,
    error: Option<&str>,
    now: OffsetDateTime,
) -> Res {
    let SignInState::SecondFactor { user, username, .. } = flow.state.clone() else {
        return Ok(to_page(flow));
    };
    let methods = mfa_methods::methods(ctx, user).await?;
    let mut available = vec![];
    if methods.totp && !flow.require_passkey {
        available.push(("totp", "Authenticator app code"));
    }
    if methods.passkeys > 0 {
        available.push(("passkey", "Passkey or security key"));
    }
    if methods.recovery_codes > 0 && !flow.require_passkey {
        available.push(("recovery", "Recovery code"));
    }
    let chosen = method
        .filter(|m| available.iter().any(|(id, _)| id == m))
        .or(available.first().map(|(id, _)| *id))
        .unwrap_or("totp");
    let mut passkey_options = serde_json::Value::Null;
    if chosen == "passkey" {
        let stored: Vec<String> = ctx
            .store()
            .passkeys(user)
            .await?
            .into_iter()
            .map(|p| p.passkey_json)
            .collect();
        let (options, state) = ctx.passkeys().start_authentication(&stored)?;
        flow.passkey_state = Some(state);
        flow.save(ctx, now).await?;
        passkey_options = options;
    }
    let others: Vec<_> = available
        .iter()
        .filter(|(id, _)| *id != chosen)
        .map(|(id, label)| context! { id => *id, label => *label })
        .collect();
    Ok(ctx
        .templates()
        .render(
            "mfa.html",
            context! {
                organization => ctx.cfg().organization.clone(), flow => flow.id.to_string(), username => username,
                method => chosen, other_methods => others, error => error, passkey_options => minijinja::Value::from(minijinja::value::Serde(&passkey_options)),
            },
        )
        .into_response())
}

async fn render_register_totp(
    ctx: &Ctx,
    flow: &mut Flow,
    error: Option<&str>,
    now: OffsetDateTime,
) -> Res {
    let SignInState::RegisterMfa { username, .. } = flow.state.clone() else {
        return Ok(to_page(flow));
    };
    let secret = match &flow.pending_totp {
        Some(b64) => ctx.sealer().open(&STANDARD.decode(b64)?)?,
        None => {
            let s = totp::generate_secret().into_exposed();
            flow.pending_totp = Some(STANDARD.encode(ctx.sealer().seal(&s)));
            flow.save(ctx, now).await?;
            s
        }
    };
    let uri = totp::otpauth_uri(&secret, &ctx.cfg().organization, &username);
    Ok(ctx
        .templates()
        .render(
            "register.html",
            context! {
                organization => ctx.cfg().organization.clone(), flow => flow.id.to_string(), method => "totp",
                qr_svg => qr::svg(&uri), manual_key => totp::manual_key(&secret), otpauth_uri => uri, error => error,
            },
        )
        .into_response())
}

async fn render_register_passkey(
    ctx: &Ctx,
    flow: &mut Flow,
    error: Option<&str>,
    now: OffsetDateTime,
) -> Res {
    let SignInState::RegisterMfa { user, username, .. } = flow.state.clone() else {
        return Ok(to_page(flow));
    };
    let user_obj = ctx.store().user_by_id(user).await?.ok_or("user vanished")?;
    let exclude: Vec<String> = ctx
        .store()
        .passkeys(user)
        .await?
        .into_iter()
        .map(|p| p.credential_id)
        .collect();
    let (options, state) =
        ctx.passkeys()
            .start_registration(user, &username, &user_obj.display_name, &exclude)?;
    flow.passkey_state = Some(state);
    flow.save(ctx, now).await?;
    Ok(ctx
        .templates()
        .render(
            "register.html",
            context! { organization => ctx.cfg().organization.clone(), flow => flow.id.to_string(), method => "passkey", passkey_options => minijinja::Value::from(minijinja::value::Serde(&options)), error => error },
        )
        .into_response())
}

async fn render_register_error(ctx: &Ctx, flow: &mut Flow, msg: &str, now: OffsetDateTime) -> Res {
    render_register_passkey(ctx, flow, Some(msg), now).await
}

async fn finish_passkey_auth(
    ctx: &Ctx,
    flow: &mut Flow,
    user: Uuid,
    credential: Option<&str>,
    now: OffsetDateTime,
) -> Result<Option<Amr>, Box<dyn std::error::Error + Send + Sync>> {
    let (Some(state), Some(cred)) = (flow.passkey_state.take(), credential) else {
        return Ok(None);
    };
    let Ok(response) = serde_json::from_str::<serde_json::Value>(cred) else {
        return Ok(None);
    };
    let stored = ctx.store().passkeys(user).await?;
    let jsons: Vec<String> = stored.iter().map(|p| p.passkey_json.clone()).collect();
    match ctx
        .passkeys()
        .finish_authentication(&state, &jsons, &response)
    {
        Ok((cred_id, updates)) => {
            for rec in &stored {
                let updated = updates
                    .iter()
                    .find(|(id, _)| *id == rec.credential_id)
                    .map(|(_, j)| j.clone());
                if rec.credential_id == cred_id || updated.is_some() {
                    ctx.store()
                        .update_passkey(
                            rec.id,
                            Box::new(move |mut p| {
                                if let Some(j) = updated {
                                    p.passkey_json = j;
                                }
                                p.last_used_at = Some(now);
                                Ok(p)
                            }),
                        )
                        .await?;
                }
            }
            Ok(Some(Amr::Hwk))
        }
        Err(e) => {
            tracing::info!(error = %e, "passkey authentication failed");
            Ok(None)
        }
    }
}

pub(crate) fn error_page(ctx: &Ctx, code: ErrorCode, correlation_id: Uuid) -> Response {
    let message = match code {
        ErrorCode::UserDisabled => "Your account has been disabled. Contact your administrator.",
        ErrorCode::LockedOut => {
            "Your account is temporarily locked to prevent unauthorized use. Try again later."
        }
        ErrorCode::BlockedByPolicy => {
            "You cannot access this right now: your sign-in was blocked by your organization's policy."
        }
        ErrorCode::MfaRequired => "Too many wrong verification attempts. Start the sign-in again.",
        other => other.description(),
    };
    let status = match code {
        ErrorCode::InvalidRequest
        | ErrorCode::RedirectUriMismatch
        | ErrorCode::UnknownClient
        | ErrorCode::MissingParameter => StatusCode::BAD_REQUEST,
        _ => StatusCode::FORBIDDEN,
    };
    let page = ctx.templates().render(
        "error.html",
        context! { organization => ctx.cfg().organization.clone(), message => message, code => code.number(), correlation_id => correlation_id.to_string() },
    );
    (status, page).into_response()
}

fn expired_page(ctx: &Ctx, meta: &Meta) -> Response {
    let page = ctx.templates().render(
        "error.html",
        context! {
            organization => ctx.cfg().organization.clone(), title => "This sign-in has expired",
            message => "The sign-in page is no longer valid in this browser. Go back to the application and start again.",
            correlation_id => meta.correlation_id.to_string(),
        },
    );
    (StatusCode::BAD_REQUEST, page).into_response()
}

pub(crate) fn server_error(ctx: &Ctx, meta: &Meta, e: &dyn std::fmt::Display) -> Response {
    tracing::error!(error = %e, correlation_id = %meta.correlation_id, "sign-in page failed");
    let page = ctx.templates().render(
        "error.html",
        context! {
            organization => ctx.cfg().organization.clone(), title => "Something went wrong",
            message => "An internal error occurred. Try again; if it persists, give your administrator the correlation ID.",
            correlation_id => meta.correlation_id.to_string(),
        },
    );
    (StatusCode::INTERNAL_SERVER_ERROR, page).into_response()
}

/// Used by the page handlers to hand out HTML directly.
#[allow(dead_code)]
fn html(s: String) -> Html<String> {
    Html(s)
}
