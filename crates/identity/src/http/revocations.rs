//! The revocation feed mail instances follow: `GET /mail/v1/revocations?since=<ms>` lists
//! the users whose `tokens_valid_from` moved past `since` (Unix milliseconds) — disabling,
//! signing out everywhere and a password reset all move it — with the new instant. A mail
//! instance refuses every token (and ends every session) of such a user that was issued or
//! authenticated before that instant.
//!
//! Callers are mail instances: a confidential client holding the `LegacyAuth.Relay`
//! application role (HTTP Basic, RFC 6749 §2.3.1), the same credentials they relay basic
//! authentication with. The answer's `cursor` is identity's clock when the list was read;
//! a follower asks next with a `since` somewhat before it, because a change is stamped
//! with the time its request started, which may be before it was committed.
//!
//! ```json
//! {"cursor": 1733480000123,
//!  "value": [{"id": "…", "tokensValidFrom": 1733479990001, "accountEnabled": false}]}
//! ```

use super::{Meta, oauth_err};
use crate::state::Ctx;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use mailward_oauth::OAuthError;
use mailward_oauth::token_request::{self, Params};
use mailward_types::clock::{from_millis, millis};
use mailward_types::model::well_known;
use serde::Deserialize;
use serde_json::json;

/// Furthest back a follower may ask: older changes cannot concern a live access token.
const MAX_LOOKBACK_MS: i64 = 48 * 3600 * 1000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedQuery {
    /// Unix milliseconds; changes after this instant are listed.
    since: i64,
}

pub async fn handle_revocations(
    State(ctx): State<Ctx>,
    meta: Meta,
    headers: HeaderMap,
    query: Result<Query<FeedQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let err = oauth_err(&meta);
    let authz = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let client = match token_request::client_auth(&Params::default(), authz) {
        Ok(c) => c,
        Err(e) => return err(e).into_response(),
    };
    let app = match super::token::authenticate_client(&ctx, &client).await {
        Ok(a) => a,
        Err(e) => return err(e).into_response(),
    };
    if !app
        .app_roles
        .iter()
        .any(|r| r == well_known::LEGACY_RELAY_ROLE)
    {
        return err(OAuthError::unauthorized_client(format!(
            "The application does not hold the '{}' role.",
            well_known::LEGACY_RELAY_ROLE
        )))
        .into_response();
    }
    let Ok(Query(query)) = query else {
        return err(OAuthError::invalid_request(
            "The query must be since=<Unix milliseconds>.",
        ))
        .into_response();
    };
    let now = mailward_types::clock::now();
    let cursor = millis(now);
    let since = query.since.clamp(cursor - MAX_LOOKBACK_MS, cursor);
    let users = match ctx.store().users_revoked_since(from_millis(since)).await {
        Ok(u) => u,
        Err(e) => return err(crate::issue::internal(&e)).into_response(),
    };
    let value: Vec<_> = users
        .iter()
        .map(|u| {
            json!({
                "id": u.id,
                "tokensValidFrom": millis(u.tokens_valid_from),
                "accountEnabled": u.enabled,
            })
        })
        .collect();
    Json(json!({"cursor": cursor, "value": value})).into_response()
}
