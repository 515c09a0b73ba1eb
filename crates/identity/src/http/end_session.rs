//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): ends the browser's
//! single sign-on session and returns to a registered post-logout URI, or shows a
//! signed-out page.
//!
//! A GET never changes anything: with a session to end, it answers with a page that asks
//! the user to confirm (§2: the OP asks the End-User whether to log out), whose POST
//! carries a token derived from the session's own secret. Only that POST ends the session,
//! so another site can neither sign the user out by a link or an image nor by posting the
//! form itself. Without a session there is nothing to end and the request goes straight on.

use super::Meta;
use super::login::parse_session_cookie;
use crate::flows;
use crate::state::Ctx;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::{IntoResponse, Redirect, Response};
use mailward_oauth::random;
use mailward_oauth::token_request::Params;
use mailward_tokens::keyset::Expect;
use mailward_types::model::TokenAlg;
use minijinja::context;
use uuid::Uuid;

/// The parameters a confirmation page carries over to its POST.
const CARRIED: &[&str] = &[
    "client_id",
    "id_token_hint",
    "post_logout_redirect_uri",
    "state",
];

/// The browser's live single sign-on session: its id and the token that confirms ending it.
pub(super) async fn current_session(ctx: &Ctx, headers: &HeaderMap) -> Option<(Uuid, String)> {
    let (id, secret) =
        flows::cookie(headers, flows::SESSION_COOKIE).and_then(parse_session_cookie)?;
    match ctx.store().session(id).await {
        Ok(Some(s)) if s.secret_hash == random::hash(&secret) => {
            Some((id, random::hash(&format!("end session {secret}"))))
        }
        _ => None,
    }
}

/// Ends a single sign-on session; the caller has checked that the user asked for it.
pub(super) async fn end(ctx: &Ctx, id: Uuid, meta: &Meta) {
    match ctx.store().delete_session(id).await {
        Ok(_) => tracing::info!(session = %id, "signed out"),
        Err(e) => {
            tracing::error!(error = %e, correlation_id = %meta.correlation_id, "session delete failed");
        }
    }
}

/// The `Set-Cookie` value that removes the session cookie.
pub(super) fn clear_session_cookie() -> Option<HeaderValue> {
    HeaderValue::from_str(&flows::clear_cookie(flows::SESSION_COOKIE)).ok()
}

pub async fn handle_end_session(
    State(ctx): State<Ctx>,
    meta: Meta,
    method: Method,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let now = mailward_types::clock::now();
    let raw = if method == Method::POST {
        body.to_vec()
    } else {
        q.unwrap_or_default().into_bytes()
    };
    let params = Params::parse(&raw).unwrap_or_default();
    if let Some((id, confirm)) = current_session(&ctx, &headers).await {
        let confirmed = method == Method::POST
            && params
                .get("confirm")
                // Compared as hashes, so the time taken says nothing about the token.
                .is_some_and(|c| random::hash(c) == random::hash(&confirm));
        if !confirmed {
            let carried: Vec<(String, String)> = CARRIED
                .iter()
                .filter_map(|k| params.get(k).map(|v| (k.to_string(), v.to_string())))
                .collect();
            return ctx
                .templates()
                .render(
                    "end_session.html",
                    context! {
                        organization => ctx.cfg().organization.clone(),
                        confirm => confirm,
                        carried => carried,
                    },
                )
                .into_response();
        }
        end(&ctx, id, &meta).await;
    }
    // Which client asked: explicit client_id, else the audience of id_token_hint
    // (signature checked; expiry ignored, as the hint is usually an old token).
    let client_id = params.get("client_id").map(str::to_string).or_else(|| {
        let hint = params.get("id_token_hint")?;
        let expect = Expect {
            issuer: ctx.issuer().to_string(),
            audience: None,
            algs: vec![TokenAlg::RS256],
            leeway_secs: 365 * 86400,
        };
        let claims = ctx.keys().verify(hint, &expect, now).ok()?;
        claims["aud"].as_str().map(str::to_string)
    });
    let target = match (client_id, params.get("post_logout_redirect_uri")) {
        (Some(cid), Some(uri)) => match ctx.store().app(&cid).await {
            Ok(Some(app))
                if app
                    .post_logout_redirect_uris
                    .iter()
                    .chain(app.redirect_uris.iter())
                    .any(|r| r.matches(uri)) =>
            {
                let mut u = uri.to_string();
                if let Some(state) = params.get("state") {
                    u = mailward_oauth::authorize::redirect_url(
                        uri,
                        &[("state".to_string(), state.to_string())],
                    );
                }
                Some(u)
            }
            _ => None,
        },
        _ => None,
    };
    let mut res = match target {
        Some(u) => Redirect::to(&u).into_response(),
        None => ctx
            .templates()
            .render(
                "signed_out.html",
                context! { organization => ctx.cfg().organization.clone() },
            )
            .into_response(),
    };
    if let Some(v) = clear_session_cookie() {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}
