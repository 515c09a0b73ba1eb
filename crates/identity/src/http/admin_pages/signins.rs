//! The sign-in log page: the latest 100 sign-ins from `/v1.0/auditLogs/signIns`, filtered
//! by user and result, each opening (`<details>`) onto its steps and every policy's result.

use super::{Page, SignedIn, api, api_failure, query_value, render, require, short_time};
use crate::http::admin_api::Permission;
use crate::state::Ctx;
use axum::extract::{RawQuery, State};
use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

const RESULTS: &[(&str, &str)] = &[
    ("", "Any result"),
    ("success", "Success"),
    ("failure", "Failure"),
    ("interrupted", "Interrupted"),
];

pub(super) async fn signins(State(ctx): State<Ctx>, who: SignedIn, RawQuery(q): RawQuery) -> Page {
    require(&ctx, &who, Permission::ReadLogs)?;
    let user = query_value(&q, "user")
        .map(|u| u.trim().to_string())
        .unwrap_or_default();
    let result = query_value(&q, "result").unwrap_or_default();
    let uri = {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query.append_pair("top", "100");
        if !user.is_empty() {
            query.append_pair("user", &user);
        }
        if !result.is_empty() {
            query.append_pair("result", &result);
        }
        format!("/v1.0/auditLogs/signIns?{}", query.finish())
    };
    let reply = api(&ctx, &who, Method::GET, &uri, None).await?;
    let (status, entries, error) = if reply.status.is_success() {
        let entries: Vec<Value> = reply.body["value"]
            .as_array()
            .map(|a| a.iter())
            .into_iter()
            .flatten()
            .map(|e| {
                let mut e = e.clone();
                e["time"] = json!(short_time(&e["createdDateTime"]));
                e["user"] = json!(e["userPrincipalName"].as_str().unwrap_or("(unknown)"));
                // Graph's name for the per-policy results.
                e["policy_results"] = match &e["appliedConditionalAccessPolicies"] {
                    Value::Null => e["policies"].clone(),
                    results => results.clone(),
                };
                e["app"] = json!(
                    e["appDisplayName"]
                        .as_str()
                        .or(e["appId"].as_str())
                        .unwrap_or("(unknown)")
                );
                e
            })
            .collect();
        (StatusCode::OK, entries, None)
    } else if reply.status.is_client_error() {
        (reply.status, vec![], Some(reply.message().to_string()))
    } else {
        return Err(api_failure(&ctx, &who, &reply, "/admin"));
    };
    let results: Vec<Value> = RESULTS
        .iter()
        .map(|(v, l)| json!({ "value": v, "label": l }))
        .collect();
    Ok(render(
        &ctx,
        &who,
        status,
        "admin/signins.html",
        "signins",
        json!({
            "entries": entries,
            "filter": { "user": user, "result": result },
            "results": results,
            "error": error,
        }),
    ))
}
