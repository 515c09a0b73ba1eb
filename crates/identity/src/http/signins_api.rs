//! The sign-in log API (`GET /v1.0/auditLogs/signIns`), newest first, with filters.

use super::AdminUser;
use super::admin_api::{Permission, api_error};
use crate::state::Ctx;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use mailward_types::model::ClientAppType;
use mailward_types::records::{SignInFilter, SignInResult};
use serde::Deserialize;
use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Query parameters (all optional).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignInQuery {
    /// RFC 3339 lower bound (inclusive).
    since: Option<String>,
    until: Option<String>,
    user: Option<String>,
    app: Option<String>,
    /// `success`, `failure`, `interrupted`.
    result: Option<String>,
    error_code: Option<u32>,
    client_app_type: Option<String>,
    ip: Option<String>,
    top: Option<u32>,
}

pub async fn handle_list_signins(
    State(ctx): State<Ctx>,
    admin: AdminUser,
    q: Result<Query<SignInQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if let Err(r) = admin.require(Permission::ReadLogs) {
        return r;
    }
    let Query(q) = match q {
        Ok(q) => q,
        Err(e) => {
            return api_error(
                StatusCode::BAD_REQUEST,
                "Request_BadRequest",
                &e.body_text(),
            );
        }
    };
    let time = |s: &Option<String>, name: &str| -> Result<Option<OffsetDateTime>, Response> {
        s.as_deref()
            .map(|v| OffsetDateTime::parse(v, &Rfc3339))
            .transpose()
            .map_err(|_| {
                api_error(
                    StatusCode::BAD_REQUEST,
                    "Request_BadRequest",
                    &format!("{name} must be an RFC 3339 time"),
                )
            })
    };
    let filter = match (|| -> Result<SignInFilter, Response> {
        Ok(SignInFilter {
            since: time(&q.since, "since")?,
            until: time(&q.until, "until")?,
            user: q.user.clone(),
            app_id: q.app.clone(),
            result: match q.result.as_deref() {
                None => None,
                Some(r) => Some(SignInResult::parse(r).ok_or_else(|| {
                    api_error(
                        StatusCode::BAD_REQUEST,
                        "Request_BadRequest",
                        "result must be success, failure or interrupted",
                    )
                })?),
            },
            error_code: q.error_code,
            client_app_type: match q.client_app_type.as_deref() {
                None => None,
                Some(c) => Some(ClientAppType::parse(c).ok_or_else(|| {
                    api_error(
                        StatusCode::BAD_REQUEST,
                        "Request_BadRequest",
                        "unknown client app type",
                    )
                })?),
            },
            ip: q.ip.clone(),
            limit: Some(q.top.unwrap_or(100).min(1000)),
        })
    })() {
        Ok(f) => f,
        Err(r) => return r,
    };
    ctx.log().flush().await;
    match ctx.store().signins(&filter).await {
        Ok(events) => Json(json!({ "value": events })).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "sign-in log query failed");
            api_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Service_InternalError",
                "An internal error occurred.",
            )
        }
    }
}
