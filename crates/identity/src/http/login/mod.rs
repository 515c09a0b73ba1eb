//! The sign-in pages: `GET /login?flow=…` renders the page for the flow's current state;
//! `POST /login` parses the form once into a typed [`Action`] and applies it to the flow's
//! [`SignInState`] by running the pure transitions of `mailward_signin::flow` on facts
//! gathered here, then either shows the next page or finishes the flow (authorization code
//! or device approval). One file per action, as the token endpoint has one file per grant;
//! an action that does not fit the flow's state only shows the current page again.

mod finish;
mod identify;
mod password;
mod policy;
mod register_passkey;
mod register_totp;
mod render;
mod second_factor;

pub(crate) use finish::{finish, parse_session_cookie, respond_to_client};
pub(crate) use policy::from_session;
pub(crate) use render::{error_page, server_error};

use super::Meta;
use crate::flows::{self, Flow, Purpose};
use crate::signin_log::Entry;
use crate::state::Ctx;
use axum::Form;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use mailward_signin::flow::SignInState;
use mailward_types::Secret;
use serde::Deserialize;
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Debug, Deserialize)]
pub struct PageQuery {
    flow: Uuid,
    method: Option<String>,
    login_hint: Option<String>,
}

/// A sign-in form: the flow it belongs to and what the user did.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    flow: Uuid,
    #[serde(flatten)]
    action: Action,
}

/// What a sign-in page posted, by its `action` field. Codes and passwords are [`Secret`]s
/// so they never reach a log.
#[derive(Debug, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
enum Action {
    /// Back to the user name.
    Restart,
    /// The user name.
    Identify {
        #[serde(default)]
        username: String,
    },
    /// The password.
    Password {
        #[serde(default)]
        password: Secret<String>,
    },
    /// A code from the authenticator app.
    Totp {
        #[serde(default)]
        code: Secret<String>,
    },
    /// A recovery code.
    Recovery {
        #[serde(default)]
        code: Secret<String>,
    },
    /// A WebAuthn assertion (JSON, from `webauthn.js`).
    Passkey {
        #[serde(default)]
        credential: Option<String>,
    },
    /// The first code of an authenticator app being registered.
    RegisterTotp {
        #[serde(default)]
        code: Secret<String>,
    },
    /// A WebAuthn attestation (JSON) for a passkey being registered.
    RegisterPasskey {
        #[serde(default)]
        credential: Option<String>,
    },
    /// Past the recovery codes page.
    Continue,
    /// Anything else: shows the current page again.
    #[serde(other)]
    Unknown,
}

type Res = Result<Response, Box<dyn std::error::Error + Send + Sync>>;

pub async fn handle_login_page(
    State(ctx): State<Ctx>,
    meta: Meta,
    headers: HeaderMap,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Response {
    let Ok(Query(q)) = query else {
        return render::no_flow_page(&ctx, &meta);
    };
    let now = mailward_types::clock::now();
    let binding = flows::cookie(&headers, flows::BINDING_COOKIE);
    let mut flow = match Flow::load(&ctx, q.flow, binding, now).await {
        Ok(Some(f)) => f,
        Ok(None) => return render::expired_page(&ctx, &meta),
        Err(e) => return server_error(&ctx, &meta, &e),
    };
    if let (SignInState::Identify, Some(hint)) = (&flow.state, q.login_hint.as_deref()) {
        return render::username(&ctx, &flow, Some(hint), None)
            .unwrap_or_else(|e| server_error(&ctx, &meta, &e));
    }
    match render::state(&ctx, &mut flow, q.method.as_deref(), None, now).await {
        Ok(r) => r,
        Err(e) => server_error(&ctx, &meta, &e),
    }
}

pub async fn handle_login_post(
    State(ctx): State<Ctx>,
    meta: Meta,
    headers: HeaderMap,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return render::no_flow_page(&ctx, &meta);
    };
    let now = mailward_types::clock::now();
    let binding = flows::cookie(&headers, flows::BINDING_COOKIE);
    let flow = match Flow::load(&ctx, form.flow, binding, now).await {
        Ok(Some(f)) => f,
        Ok(None) => return render::expired_page(&ctx, &meta),
        Err(e) => return server_error(&ctx, &meta, &e),
    };
    match apply(&ctx, &meta, &headers, flow, form.action, now).await {
        Ok(r) => r,
        Err(e) => server_error(&ctx, &meta, &e),
    }
}

/// Runs one action on the flow. Each arm hands the action's input and the state's data to
/// that action's file.
async fn apply(
    ctx: &Ctx,
    meta: &Meta,
    headers: &HeaderMap,
    flow: Flow,
    action: Action,
    now: OffsetDateTime,
) -> Res {
    use SignInState as S;
    let req = Req {
        ctx,
        meta,
        headers,
        now,
    };
    match (action, flow.state.clone()) {
        (Action::Restart, S::Identify | S::FirstFactor { .. }) => {
            identify::handle_restart(&req, flow).await
        }
        (Action::Identify { username }, S::Identify | S::FirstFactor { .. }) => {
            identify::handle_identify(&req, flow, &username).await
        }
        (Action::Password { password }, S::FirstFactor { username, user }) => {
            password::handle_password(&req, flow, &username, user, &password).await
        }
        (Action::Totp { code }, S::SecondFactor { .. }) => {
            second_factor::handle_totp(&req, flow, &code).await
        }
        (Action::Recovery { code }, S::SecondFactor { .. }) => {
            second_factor::handle_recovery(&req, flow, &code).await
        }
        (Action::Passkey { credential }, S::SecondFactor { .. }) => {
            second_factor::handle_passkey(&req, flow, credential.as_deref()).await
        }
        (Action::RegisterTotp { code }, S::RegisterMfa { .. }) => {
            register_totp::handle_register_totp(&req, flow, &code).await
        }
        (Action::RegisterPasskey { credential }, S::RegisterMfa { .. }) => {
            register_passkey::handle_register_passkey(&req, flow, credential.as_deref()).await
        }
        (Action::Continue, S::Registered(done)) => {
            finish(ctx, meta, headers, flow, done, now).await
        }
        // A form that does not fit the flow's state: a replay, a second tab, or a forgery.
        // Show the current page again.
        _ => Ok(to_page(&flow)),
    }
}

/// What every action gets from the request.
struct Req<'a> {
    ctx: &'a Ctx,
    meta: &'a Meta,
    headers: &'a HeaderMap,
    now: OffsetDateTime,
}

/// Shows the next page or finishes.
async fn continue_flow(req: &Req<'_>, mut flow: Flow) -> Res {
    let Req { ctx, meta, now, .. } = *req;
    match flow.state.clone() {
        SignInState::Complete(done) => finish(ctx, meta, req.headers, flow, done, now).await,
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

/// A sign-in log entry for this flow's application.
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

/// Post/redirect/get: the flow's current page.
fn to_page(flow: &Flow) -> Response {
    Redirect::to(&format!("/login?flow={}", flow.id)).into_response()
}
