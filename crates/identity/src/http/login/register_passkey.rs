//! `register_passkey`: the WebAuthn attestation for the ceremony started on the
//! registration page; the new passkey is stored and the flow goes on.

use super::{Req, Res, finish, render, to_page};
use crate::authn::step;
use crate::flows::Flow;
use mailward_signin::flow::SignInState;
use mailward_types::model::Amr;
use mailward_types::records::PasskeyRecord;
use uuid::Uuid;

pub(super) async fn handle_register_passkey(
    req: &Req<'_>,
    mut flow: Flow,
    credential: Option<&str>,
) -> Res {
    let Req { ctx, now, .. } = *req;
    let SignInState::RegisterMfa { user, username, .. } = flow.state.clone() else {
        return Ok(to_page(&flow));
    };
    let (Some(state), Some(cred)) = (flow.state.take_ceremony(), credential) else {
        return Ok(to_page(&flow));
    };
    let Ok(response) = serde_json::from_str::<serde_json::Value>(cred) else {
        return render::register_passkey(
            ctx,
            &mut flow,
            Some("The passkey response was not readable."),
            now,
        )
        .await;
    };
    let (credential_id, passkey_json) = match ctx.passkeys().finish_registration(&state, &response)
    {
        Ok(r) => r,
        Err(e) => {
            tracing::info!(error = %e, "passkey registration failed");
            return render::register_passkey(
                ctx,
                &mut flow,
                Some("The passkey could not be registered. Try again."),
                now,
            )
            .await;
        }
    };
    let store = ctx.store();
    if store
        .passkeys(user)
        .await?
        .iter()
        .any(|p| p.credential_id == credential_id)
    {
        return render::register_passkey(
            ctx,
            &mut flow,
            Some("This passkey is already registered."),
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
            return render::register_passkey(
                ctx,
                &mut flow,
                Some("This passkey is already registered to an account."),
                now,
            )
            .await;
        }
        Err(e) => return Err(e.into()),
    }
    flow.steps.push(step("passkeyRegistration", true, ""));
    finish::registered(ctx, flow, user, Amr::Hwk, now).await
}
