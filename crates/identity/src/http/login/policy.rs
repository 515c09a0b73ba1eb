//! The policy step of a page sign-in: after the first factor, or on an existing session
//! (single sign-on from `authorize`).

use super::Meta;
use crate::authn::step;
use crate::conditional_access::{self, StepInput};
use crate::flows::Flow;
use crate::mfa_methods;
use crate::state::Ctx;
use mailward_signin::flow::{Enrolment, SignInState, Strength};
use mailward_types::model::User;
use mailward_types::records::Session;
use time::OffsetDateTime;

/// Runs conditional access (or the configured rule) on `state` and returns the next
/// state: complete, denied, a second factor, or registration.
pub(super) async fn run(
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
    flow.persistent_browser = result.session.persistent_browser
        == Some(mailward_policy::model::PersistentBrowserMode::Always);
    let required = if result.phishing_resistant {
        Strength::PhishingResistant
    } else {
        Strength::Mfa
    };
    let methods = mfa_methods::methods(ctx, user.id).await?;
    let sufficient = match required {
        Strength::PhishingResistant => methods.passkeys > 0,
        Strength::Mfa => methods.any(),
    };
    Ok(state.prompt(
        &result.decision,
        Enrolment {
            required,
            sufficient,
            any: methods.any() || methods.recovery_codes > 0,
        },
    ))
}

/// Runs the flow on from a session (called by authorize).
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
        required: Strength::Mfa,
        then_register: false,
        ceremony: None,
        failures: 0,
    };
    flow.steps
        .push(step("session", true, "single sign-on session"));
    flow.state = run(ctx, flow, user, state, meta, Some(session), now).await?;
    if let SignInState::Complete(done) = &mut flow.state {
        done.mfa_time = session.mfa_time;
    }
    Ok(())
}
