//! The sign-in pages, rendered from the flow's state, and the error pages.

use super::{Meta, Res, to_page};
use crate::flows::Flow;
use crate::mfa_methods;
use crate::state::Ctx;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use mailward_mfa::{qr, totp};
use mailward_signin::flow::SignInState;
use mailward_types::ErrorCode;
use minijinja::context;
use time::OffsetDateTime;
use uuid::Uuid;

/// The page for the flow's current state; `method` picks among second factors.
pub(super) async fn state(
    ctx: &Ctx,
    flow: &mut Flow,
    method: Option<&str>,
    error: Option<&str>,
    now: OffsetDateTime,
) -> Res {
    match flow.state.clone() {
        SignInState::Identify => username(ctx, flow, None, error),
        SignInState::FirstFactor { username, .. } => {
            Ok(password(ctx, flow, &username, error, StatusCode::OK))
        }
        SignInState::SecondFactor { .. } => mfa(ctx, flow, method, error, now).await,
        SignInState::RegisterMfa { .. } => {
            if method == Some("passkey") || flow.state.passkey_only() {
                register_passkey(ctx, flow, error, now).await
            } else {
                register_totp(ctx, flow, error, now).await
            }
        }
        SignInState::Registered(_) | SignInState::Complete(_) => Ok(recovery_codes(ctx, flow, &[])),
        SignInState::Denied { code } => Ok(error_page(ctx, code, flow.correlation_id)),
    }
}

pub(super) fn username(ctx: &Ctx, flow: &Flow, username: Option<&str>, error: Option<&str>) -> Res {
    Ok(ctx
        .templates()
        .render(
            "username.html",
            context! { organization => ctx.cfg().organization.clone(), flow => flow.id.to_string(), app_name => flow.app_name.clone(), username => username, error => error },
        )
        .into_response())
}

pub(super) fn password(
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

/// The second-factor page; starts a passkey ceremony when the passkey is the method shown.
pub(super) async fn mfa(
    ctx: &Ctx,
    flow: &mut Flow,
    method: Option<&str>,
    error: Option<&str>,
    now: OffsetDateTime,
) -> Res {
    let SignInState::SecondFactor {
        user,
        username,
        then_register,
        ..
    } = flow.state.clone()
    else {
        return Ok(to_page(flow));
    };
    let passkey_only = flow.state.passkey_only();
    let methods = mfa_methods::methods(ctx, user).await?;
    let mut available = vec![];
    if methods.totp && !passkey_only {
        available.push(("totp", "Authenticator app code"));
    }
    if methods.passkeys > 0 {
        available.push(("passkey", "Passkey or security key"));
    }
    if methods.recovery_codes > 0 && !passkey_only {
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
        flow.state.set_ceremony(state);
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
                step_up => then_register, method => chosen, other_methods => others, error => error, passkey_options => minijinja::Value::from(minijinja::value::Serde(&passkey_options)),
            },
        )
        .into_response())
}

/// The authenticator app registration page; the secret offered is kept (sealed) in the
/// state until its first code comes back.
pub(super) async fn register_totp(
    ctx: &Ctx,
    flow: &mut Flow,
    error: Option<&str>,
    now: OffsetDateTime,
) -> Res {
    let SignInState::RegisterMfa {
        username,
        pending_totp,
        ..
    } = &mut flow.state
    else {
        return Ok(to_page(flow));
    };
    let username = username.clone();
    let secret = match pending_totp {
        Some(b64) => ctx.sealer().open(&STANDARD.decode(b64)?)?,
        None => {
            let s = totp::generate_secret().into_exposed();
            *pending_totp = Some(STANDARD.encode(ctx.sealer().seal(&s)));
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

/// The passkey registration page; starts the WebAuthn ceremony.
pub(super) async fn register_passkey(
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
    flow.state.set_ceremony(state);
    flow.save(ctx, now).await?;
    Ok(ctx
        .templates()
        .render(
            "register.html",
            context! { organization => ctx.cfg().organization.clone(), flow => flow.id.to_string(), method => "passkey", passkey_only => flow.state.passkey_only(), passkey_options => minijinja::Value::from(minijinja::value::Serde(&options)), error => error },
        )
        .into_response())
}

/// Recovery codes, shown once after a registration (none when the user still had some).
pub(super) fn recovery_codes(ctx: &Ctx, flow: &Flow, codes: &[String]) -> Response {
    ctx.templates()
        .render(
            "recovery_codes.html",
            context! { organization => ctx.cfg().organization.clone(), flow => flow.id.to_string(), codes => codes.to_vec() },
        )
        .into_response()
}

pub(crate) fn error_page(ctx: &Ctx, code: ErrorCode, correlation_id: Uuid) -> Response {
    error_page_with(ctx, code, correlation_id, None)
}

/// The error page for `code`; with `restart`, a "Start again" link to that flow.
fn error_page_with(
    ctx: &Ctx,
    code: ErrorCode,
    correlation_id: Uuid,
    restart: Option<Uuid>,
) -> Response {
    let status = match code {
        ErrorCode::InvalidRequest
        | ErrorCode::RedirectUriMismatch
        | ErrorCode::UnknownClient
        | ErrorCode::MissingParameter => StatusCode::BAD_REQUEST,
        _ => StatusCode::FORBIDDEN,
    };
    let page = ctx.templates().render(
        "error.html",
        context! {
            organization => ctx.cfg().organization.clone(), message => error_message(code),
            code => code.number(), correlation_id => correlation_id.to_string(),
            restart => restart.map(|id| id.to_string()),
        },
    );
    (status, page).into_response()
}

fn error_message(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::UserDisabled => "Your account has been disabled. Contact your administrator.",
        ErrorCode::LockedOut => {
            "Your account is temporarily locked to prevent unauthorized use. Try again later."
        }
        ErrorCode::BlockedByPolicy => {
            "You cannot access this right now: your sign-in was blocked by your organization's policy."
        }
        ErrorCode::MfaRequired => "Too many wrong verification attempts. Start the sign-in again.",
        ErrorCode::SecondFactorLocked => {
            "Too many wrong verification codes for this account. Verification is locked to protect it: try again later, or ask your administrator to reset your sign-in methods."
        }
        other => other.description(),
    }
}

/// An error that ends this attempt but not the flow: the flow goes back to the user name,
/// and the page (with the error code and correlation id) offers to start again.
pub(super) async fn restartable_error(
    ctx: &Ctx,
    flow: &mut Flow,
    code: ErrorCode,
    now: OffsetDateTime,
) -> Res {
    flow.state = SignInState::Identify;
    flow.save(ctx, now).await?;
    Ok(error_page_with(
        ctx,
        code,
        flow.correlation_id,
        Some(flow.id),
    ))
}

pub(super) fn expired_page(ctx: &Ctx, meta: &Meta) -> Response {
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

/// `/login` without a usable flow (no `flow` parameter, or a form that is not a sign-in
/// form): sign-ins start at the application.
pub(super) fn no_flow_page(ctx: &Ctx, meta: &Meta) -> Response {
    let page = ctx.templates().render(
        "error.html",
        context! {
            organization => ctx.cfg().organization.clone(), title => "Start from your application",
            message => "This page signs you in to an application. Open the application (or the link it gave you) to start signing in.",
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
