//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): ends the browser's
//! single sign-on session and returns to a registered post-logout URI, or shows a
//! signed-out page.

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
    if let Some((id, secret)) =
        flows::cookie(&headers, flows::SESSION_COOKIE).and_then(parse_session_cookie)
        && let Ok(Some(s)) = ctx.store().session(id).await
        && s.secret_hash == random::hash(&secret)
    {
        if let Err(e) = ctx.store().delete_session(id).await {
            tracing::error!(error = %e, correlation_id = %meta.correlation_id, "session delete failed");
        }
        tracing::info!(user = %s.user_id, "signed out");
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
    if let Ok(v) = HeaderValue::from_str(&flows::clear_cookie(flows::SESSION_COOKIE)) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}
