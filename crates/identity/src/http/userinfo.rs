//! The UserInfo endpoint (OpenID Connect Core §5.3).

use super::bearer::bearer_user;
use crate::state::Ctx;
use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::json;

pub async fn handle_userinfo(State(ctx): State<Ctx>, headers: HeaderMap) -> Response {
    let now = mailward_types::clock::now();
    let b = match bearer_user(&ctx, &headers, now).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let u = &b.user;
    Json(json!({
        "sub": u.id.to_string(),
        "oid": u.id.to_string(),
        "tid": ctx.tenant_id().to_string(),
        "name": u.display_name,
        "preferred_username": u.upn.as_str(),
        "upn": u.upn.as_str(),
        "email": u.mail.clone().unwrap_or_else(|| u.upn.to_string()),
    }))
    .into_response()
}
