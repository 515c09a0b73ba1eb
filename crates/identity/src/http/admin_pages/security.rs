//! The security page: security defaults (on or off, with the toggle; turning them off asks
//! for confirmation after saying what stops applying) and the coverage check — users and
//! applications a password alone signs in to, legacy clients, administrators without MFA.
//! Both come from the admin API (`identitySecurityDefaultsEnforcementPolicy`,
//! `conditionalAccess/coverage`).

use super::{Form, Page, SignedIn, api, api_failure, check_post, query_value, render, require};
use crate::conditional_access::SECURITY_DEFAULTS_OFF_WARNING;
use crate::http::admin_api::Permission;
use crate::state::Ctx;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Redirect};
use serde_json::{Value, json};

const SECURITY_DEFAULTS: &str = "/v1.0/policies/identitySecurityDefaultsEnforcementPolicy";
const COVERAGE: &str = "/v1.0/identity/conditionalAccess/coverage";

/// `Browser`, `Mobile and desktop apps`, … for the sign-ins of one coverage entry, grouped
/// by application.
fn sign_ins(user: &Value) -> Vec<Value> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for h in user["signIns"].as_array().into_iter().flatten() {
        let app = h["displayName"].as_str().unwrap_or_default().to_string();
        let cat = label(h["clientAppType"].as_str().unwrap_or_default()).to_string();
        match out.iter_mut().find(|(a, _)| *a == app) {
            Some((_, c)) => c.push(cat),
            None => out.push((app, vec![cat])),
        }
    }
    out.into_iter()
        .map(|(app, cats)| json!({ "app": app, "clients": cats.join(", ") }))
        .collect()
}

fn label(client_app_type: &str) -> &str {
    match client_app_type {
        "browser" => "Browser",
        "mobileAppsAndDesktopClients" => "Mobile and desktop apps",
        "exchangeActiveSync" => "Exchange ActiveSync",
        "other" => "Other clients (basic authentication)",
        other => other,
    }
}

pub(super) async fn security(State(ctx): State<Ctx>, who: SignedIn, RawQuery(q): RawQuery) -> Page {
    require(&ctx, &who, Permission::Read)?;
    let sd = api(&ctx, &who, Method::GET, SECURITY_DEFAULTS, None).await?;
    if !sd.status.is_success() {
        return Err(api_failure(&ctx, &who, &sd, "/admin"));
    }
    let cov = api(&ctx, &who, Method::GET, COVERAGE, None).await?;
    if !cov.status.is_success() {
        return Err(api_failure(&ctx, &who, &cov, "/admin"));
    }
    let c = &cov.body;
    let users: Vec<Value> = c["usersWithoutMfa"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|u| json!({ "upn": u["userPrincipalName"], "sign_ins": sign_ins(u) }))
        .collect();
    let admins: Vec<Value> = c["adminsWithPasswordOnly"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|u| {
            json!({
                "upn": u["userPrincipalName"],
                "roles": u["roles"].as_array().into_iter().flatten().filter_map(Value::as_str).collect::<Vec<_>>().join(", "),
                "sign_ins": sign_ins(u),
            })
        })
        .collect();
    let legacy: Vec<Value> = c["legacyClients"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| {
            json!({
                "label": label(l["clientAppType"].as_str().unwrap_or_default()),
                "blocked": l["blocked"],
                "open_for": l["openFor"].as_array().into_iter().flatten().filter_map(Value::as_str).collect::<Vec<_>>().join(", "),
            })
        })
        .collect();
    let apps: Vec<Value> = c["applicationsWithoutMfa"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| a["displayName"].clone())
        .collect();
    let notice = match query_value(&q, "done").as_deref() {
        Some("on") => Some("Security defaults are on."),
        Some("off") => Some("Security defaults are off."),
        _ => None,
    };
    Ok(render(
        &ctx,
        &who,
        StatusCode::OK,
        "admin/security.html",
        "security",
        json!({
            "notice": notice,
            "enabled": sd.body["isEnabled"] == json!(true),
            "warning": SECURITY_DEFAULTS_OFF_WARNING,
            "coverage": {
                "fully_covered": c["fullyCovered"],
                "enabled_policies": c["enabledPolicies"],
                "users_checked": c["usersChecked"],
                "apps_checked": c["applicationsChecked"].as_array().map_or(0, Vec::len),
                "users": users,
                "apps": apps,
                "legacy": legacy,
                "admins": admins,
            },
        }),
    ))
}

/// Turns security defaults on, or off once confirmed (the first POST without `confirm`
/// shows the warning and asks again).
pub(super) async fn set_defaults(
    State(ctx): State<Ctx>,
    who: SignedIn,
    headers: HeaderMap,
    body: Bytes,
) -> Page {
    let form = Form::parse(&body);
    check_post(&ctx, &who, &headers, &form, Permission::ManagePolicies)?;
    let on = match form.get("enabled") {
        Some("on") => true,
        Some("off") => false,
        _ => {
            return Ok(render(
                &ctx,
                &who,
                StatusCode::BAD_REQUEST,
                "admin/error.html",
                "security",
                json!({ "title": "The request was refused", "message": "Choose on or off.", "back": "/admin/security" }),
            ));
        }
    };
    if !on && form.get("confirm") != Some("yes") {
        return Ok(render(
            &ctx,
            &who,
            StatusCode::OK,
            "admin/security_off.html",
            "security",
            json!({ "warning": SECURITY_DEFAULTS_OFF_WARNING }),
        ));
    }
    let reply = api(
        &ctx,
        &who,
        Method::PATCH,
        SECURITY_DEFAULTS,
        Some(json!({ "isEnabled": on }).to_string()),
    )
    .await?;
    if !reply.status.is_success() {
        return Err(api_failure(&ctx, &who, &reply, "/admin/security"));
    }
    let done = if on { "on" } else { "off" };
    Ok(Redirect::to(&format!("/admin/security?done={done}")).into_response())
}
