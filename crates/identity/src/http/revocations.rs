//! What identity answers mail instances, beside relayed basic authentication:
//!
//! - the revocation feed, `GET /mail/v1/revocations?since=<ms>`: the users whose
//!   `tokens_valid_from` moved past `since` (Unix milliseconds) — disabling, signing out
//!   everywhere and a password reset all move it — with the new instant. A mail instance
//!   refuses every token (and ends every session) of such a user that was issued or
//!   authenticated before that instant. The answer's `cursor` is identity's clock when the
//!   list was read; a follower asks next with a `since` somewhat before it, because a
//!   change is stamped with the time its request started, which may be before it was
//!   committed. Deleted users are listed too, from the tombstone `Directory::delete_user`
//!   leaves (kept 48 hours), so their unexpired tokens end like a disabled user's;
//! - a directory lookup, `GET /mail/v1/users/{id or UPN}`: the user's id, UPN, mail,
//!   display name, enabled state and admin roles, which a mail instance needs to authorize
//!   its own admin API and to create a mailbox for the right user (it never trusts a
//!   caller's word for them).
//!
//! Callers are mail instances: a confidential client holding the `LegacyAuth.Relay`
//! application role (HTTP Basic, RFC 6749 §2.3.1), the same credentials they relay basic
//! authentication with.
//!
//! ```json
//! {"cursor": 1733480000123,
//!  "value": [{"id": "…", "tokensValidFrom": 1733479990001, "accountEnabled": false}]}
//! ```

use super::{Meta, oauth_err};
use crate::state::Ctx;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mailward_oauth::OAuthError;
use mailward_oauth::token_request::{self, Params};
use mailward_types::Upn;
use mailward_types::clock::{from_millis, millis};
use mailward_types::model::well_known;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

/// Furthest back a follower may ask: older changes cannot concern a live access token.
const MAX_LOOKBACK_MS: i64 = 48 * 3600 * 1000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedQuery {
    /// Unix milliseconds; changes after this instant are listed.
    since: i64,
}

/// Authenticates the calling mail instance; the error is the response to send.
async fn mail_instance(ctx: &Ctx, meta: &Meta, headers: &HeaderMap) -> Result<(), Response> {
    let err = oauth_err(meta);
    let authz = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let client = token_request::client_auth(&Params::default(), authz)
        .map_err(|e| err(e).into_response())?;
    let app = super::token::authenticate_client(ctx, &client)
        .await
        .map_err(|e| err(e).into_response())?;
    if !app
        .app_roles
        .iter()
        .any(|r| r == well_known::LEGACY_RELAY_ROLE)
    {
        return Err(err(OAuthError::unauthorized_client(format!(
            "The application does not hold the '{}' role.",
            well_known::LEGACY_RELAY_ROLE
        )))
        .into_response());
    }
    Ok(())
}

pub async fn handle_revocations(
    State(ctx): State<Ctx>,
    meta: Meta,
    headers: HeaderMap,
    query: Result<Query<FeedQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if let Err(res) = mail_instance(&ctx, &meta, &headers).await {
        return res;
    }
    let err = oauth_err(&meta);
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
    let tombstones = match ctx.store().documents(crate::directory::REVOKED_USER).await {
        Ok(d) => d,
        Err(e) => return err(crate::issue::internal(&e)).into_response(),
    };
    let mut value: Vec<_> = users
        .iter()
        .map(|u| {
            json!({
                "id": u.id,
                "tokensValidFrom": millis(u.tokens_valid_from),
                "accountEnabled": u.enabled,
            })
        })
        .collect();
    // Deleted users: their tombstones, so their unexpired tokens end as well.
    for t in tombstones.iter().filter(|t| millis(t.modified) > since) {
        let Ok(body) = serde_json::from_str::<serde_json::Value>(&t.body) else {
            continue;
        };
        let (Ok(id), Some(valid_from)) = (Uuid::parse_str(&t.id), body["tokensValidFrom"].as_i64())
        else {
            continue;
        };
        value.push(json!({
            "id": id,
            "tokensValidFrom": valid_from,
            "accountEnabled": false,
        }));
    }
    Json(json!({"cursor": cursor, "value": value})).into_response()
}

pub async fn handle_mail_user(
    State(ctx): State<Ctx>,
    meta: Meta,
    headers: HeaderMap,
    Path(key): Path<String>,
) -> Response {
    if let Err(res) = mail_instance(&ctx, &meta, &headers).await {
        return res;
    }
    let store = ctx.store();
    let found = match Uuid::parse_str(&key) {
        Ok(id) => store.user_by_id(id).await,
        Err(_) => match Upn::try_from(key.as_str()) {
            Ok(upn) => store.user_by_upn(&upn).await,
            Err(_) => Ok(None),
        },
    };
    match found {
        Ok(Some(u)) => Json(json!({
            "id": u.id,
            "userPrincipalName": u.upn.as_str(),
            "mail": u.mail,
            "displayName": u.display_name,
            "accountEnabled": u.enabled,
            "roles": u.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
        }))
        .into_response(),
        Ok(None) => (
            StatusCode::NOT_FOUND,
            Json(
                json!({"error": {"code": "Request_ResourceNotFound", "message": "No such user."}}),
            ),
        )
            .into_response(),
        Err(e) => oauth_err(&meta)(crate::issue::internal(&e)).into_response(),
    }
}
