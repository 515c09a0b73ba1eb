//! `identify`: the user name; `restart`: back to it from the password page.

use super::{Req, Res, entry_for, render, to_page};
use crate::flows::Flow;
use mailward_signin::flow::{Lookup, SignInState};
use mailward_types::Upn;

pub(super) async fn handle_restart(req: &Req<'_>, mut flow: Flow) -> Res {
    flow.state = SignInState::Identify;
    flow.save(req.ctx, req.now).await?;
    Ok(to_page(&flow))
}

pub(super) async fn handle_identify(req: &Req<'_>, mut flow: Flow, name: &str) -> Res {
    let ctx = req.ctx;
    let Ok(upn) = Upn::try_from(name) else {
        return render::username(
            ctx,
            &flow,
            Some(name),
            Some("Enter a valid email address or user name."),
        );
    };
    let user = ctx.store().user_by_upn(&upn).await?;
    let lookup = match &user {
        Some(u) => Lookup::Found {
            user: u.id,
            enabled: u.enabled,
        },
        None => Lookup::NotFound,
    };
    flow.state = SignInState::identify(upn.as_str(), lookup);
    if let SignInState::Denied { code } = flow.state {
        let mut entry = entry_for(&flow, req.meta, req.now);
        entry.user(user.as_ref().map(|u| u.id), upn.as_str());
        ctx.log().record(entry.failure(code)).await;
        flow.delete(ctx).await?;
        return Ok(render::error_page(ctx, code, flow.correlation_id));
    }
    flow.save(ctx, req.now).await?;
    Ok(to_page(&flow))
}
