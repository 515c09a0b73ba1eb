//! Token revocation (RFC 7009). Revoking a refresh token ends its whole family. Access
//! tokens are self-contained JWTs that expire on their own; they are accepted and answered
//! with 200 as §2.2 allows, without effect.

use super::{Meta, oauth_err};
use crate::state::Ctx;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use mailward_oauth::random;

pub async fn handle_revoke(
    State(ctx): State<Ctx>,
    meta: Meta,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let now = mailward_types::clock::now();
    let err = oauth_err(&meta);
    let (params, app) = match super::token::form_and_client(&ctx, &headers, &body).await {
        Ok(v) => v,
        Err(e) => return err(e).into_response(),
    };
    let token = match params.require("token") {
        Ok(t) => t,
        Err(e) => return err(e).into_response(),
    };
    match ctx.store().refresh_token(&random::hash(token)).await {
        // §2.1: only tokens issued to the requesting client are revoked; others are
        // ignored silently so the endpoint reveals nothing.
        Ok(Some(rt)) if rt.client_id == app.client_id.as_str() => {
            if let Err(e) = ctx.store().revoke_family(rt.family_id, now).await {
                return err(crate::issue::internal(&e)).into_response();
            }
            tracing::info!(client_id = %rt.client_id, family = %rt.family_id, "refresh token family revoked by client");
        }
        Ok(_) => {}
        Err(e) => return err(crate::issue::internal(&e)).into_response(),
    }
    StatusCode::OK.into_response()
}
