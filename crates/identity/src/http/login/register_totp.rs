//! `register_totp`: the first code of the authenticator app offered on the registration
//! page proves the user holds the secret; it is stored and the flow goes on.

use super::{Req, Res, finish, render, second_factor::PASSKEY_NEEDED, to_page};
use crate::authn::step;
use crate::flows::Flow;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use mailward_mfa::totp;
use mailward_signin::flow::{SignInState, Strength};
use mailward_types::Secret;
use mailward_types::model::Amr;
use mailward_types::records::TotpRecord;

pub(super) async fn handle_register_totp(
    req: &Req<'_>,
    mut flow: Flow,
    code: &Secret<String>,
) -> Res {
    let Req { ctx, now, .. } = *req;
    let SignInState::RegisterMfa {
        user,
        required,
        pending_totp,
        ..
    } = flow.state.clone()
    else {
        return Ok(to_page(&flow));
    };
    if required == Strength::PhishingResistant {
        return render::register_passkey(ctx, &mut flow, Some(PASSKEY_NEEDED), now).await;
    }
    let Some(sealed_b64) = pending_totp else {
        return Ok(to_page(&flow));
    };
    let sealed = STANDARD.decode(&sealed_b64)?;
    let secret = ctx.sealer().open(&sealed)?;
    let Some(step_no) = totp::verify(&secret, code.expose_secret(), now.unix_timestamp()) else {
        return render::register_totp(
            ctx,
            &mut flow,
            Some("That code didn't work. Check the time on your device and try again."),
            now,
        )
        .await;
    };
    ctx.store()
        .put_totp(&TotpRecord {
            user_id: user,
            sealed_secret: sealed,
            confirmed: true,
            last_step: Some(step_no),
            created_at: now,
        })
        .await?;
    flow.steps.push(step("totpRegistration", true, ""));
    finish::registered(ctx, flow, user, Amr::Otp, now).await
}
