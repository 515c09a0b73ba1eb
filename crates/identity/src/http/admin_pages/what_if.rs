//! The What-If page: a form for a hypothetical sign-in (user, application, client app,
//! IP, platform, country, MFA done) and the API's answer — the decision, the policies that
//! apply with their controls, and why each other policy does not.

use super::{Form, Page, SignedIn, api, check_post, failure, render, require};
use crate::conditional_access::{IDENTITY_RESOURCE_APP_ID, resource_app_id};
use crate::http::admin_api::Permission;
use crate::state::Ctx;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use mailward_types::model::well_known;
use serde::Serialize;
use serde_json::{Map, Value, json};

const CLIENT_APP_TYPES: &[(&str, &str)] = &[
    ("browser", "Browser"),
    (
        "mobileAppsAndDesktopClients",
        "Mobile apps and desktop clients",
    ),
    ("exchangeActiveSync", "Exchange ActiveSync"),
    ("other", "Other clients (basic authentication)"),
];

const PLATFORMS: &[(&str, &str)] = &[
    ("", "Unknown"),
    ("android", "Android"),
    ("iOS", "iOS"),
    ("windows", "Windows"),
    ("windowsPhone", "Windows Phone"),
    ("macOS", "macOS"),
    ("linux", "Linux"),
];

/// The What-If form's fields, named as the API's request members.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
struct WhatIfForm {
    user: String,
    app: String,
    client_app_type: String,
    ip_address: String,
    platform: String,
    country: String,
    mfa_done: bool,
}

/// The applications a What-If can name: the well-known ones, then the tenant's resources
/// and clients.
async fn known_apps(ctx: &Ctx) -> Result<Vec<Value>, Response> {
    let mut out: Vec<(String, String)> = vec![
        (
            well_known::MAIL_RESOURCE_APP_ID.into(),
            well_known::MAIL_RESOURCE_NAME.into(),
        ),
        (
            IDENTITY_RESOURCE_APP_ID.into(),
            "Admin center and admin API".into(),
        ),
    ];
    for r in ctx
        .store()
        .list_resources()
        .await
        .map_err(|e| failure(ctx, &e))?
    {
        let id = resource_app_id(ctx, &r);
        if !out.iter().any(|(k, _)| *k == id) {
            out.push((id, r.display_name));
        }
    }
    for a in ctx
        .store()
        .list_apps()
        .await
        .map_err(|e| failure(ctx, &e))?
    {
        let id = a.client_id.to_string();
        if !out.iter().any(|(k, _)| *k == id) {
            out.push((id, a.display_name));
        }
    }
    Ok(out
        .into_iter()
        .map(|(id, name)| json!({ "id": id, "name": name }))
        .collect())
}

async fn what_if_page(
    ctx: &Ctx,
    who: &SignedIn,
    status: StatusCode,
    form: &WhatIfForm,
    result: Option<Value>,
    error: Option<&str>,
) -> Page {
    let options = |list: &[(&str, &str)]| -> Vec<Value> {
        list.iter()
            .map(|(v, l)| json!({ "value": v, "label": l }))
            .collect()
    };
    Ok(render(
        ctx,
        who,
        status,
        "admin/whatif.html",
        "whatif",
        json!({
            "form": form,
            "apps": known_apps(ctx).await?,
            "client_app_types": options(CLIENT_APP_TYPES),
            "platforms": options(PLATFORMS),
            "result": result,
            "error": error,
        }),
    ))
}

pub(super) async fn what_if_form(State(ctx): State<Ctx>, who: SignedIn) -> Page {
    require(&ctx, &who, Permission::Read)?;
    let form = WhatIfForm {
        app: well_known::MAIL_RESOURCE_APP_ID.into(),
        client_app_type: "browser".into(),
        ..WhatIfForm::default()
    };
    what_if_page(&ctx, &who, StatusCode::OK, &form, None, None).await
}

pub(super) async fn what_if_run(
    State(ctx): State<Ctx>,
    who: SignedIn,
    headers: HeaderMap,
    body: Bytes,
) -> Page {
    let raw = Form::parse(&body);
    check_post(&ctx, &who, &headers, &raw, Permission::Read)?;
    let field = |k: &str| raw.get(k).unwrap_or_default().trim().to_string();
    let form = WhatIfForm {
        user: field("user"),
        app: field("app"),
        client_app_type: field("clientAppType"),
        ip_address: field("ipAddress"),
        platform: field("platform"),
        country: field("country"),
        mfa_done: raw.get("mfaDone").is_some_and(|v| v == "true" || v == "on"),
    };
    let mut request = Map::new();
    request.insert("user".into(), json!(form.user));
    request.insert("mfaDone".into(), json!(form.mfa_done));
    for (name, value) in [
        ("app", &form.app),
        ("clientAppType", &form.client_app_type),
        ("ipAddress", &form.ip_address),
        ("platform", &form.platform),
        ("country", &form.country),
    ] {
        if !value.is_empty() {
            request.insert(name.into(), json!(value));
        }
    }
    let reply = api(
        &ctx,
        &who,
        Method::POST,
        "/v1.0/identity/conditionalAccess/whatIf",
        Some(Value::Object(request).to_string()),
    )
    .await?;
    if !reply.status.is_success() {
        let status = if reply.status.is_client_error() {
            reply.status
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        };
        return what_if_page(&ctx, &who, status, &form, None, Some(reply.message())).await;
    }
    let mut result = reply.body;
    let decision = result["decision"].clone();
    let label = match decision["result"].as_str() {
        Some("allow") => "Allowed",
        Some("block") => "Blocked",
        Some("requireControls") => "Allowed once the controls are met",
        _ => "Unknown",
    };
    let required: Vec<&str> = [
        ("mfa", "multifactor authentication"),
        ("phishingResistant", "phishing-resistant MFA (passkey)"),
        ("passwordChange", "password change"),
        ("reauthentication", "a fresh sign-in"),
    ]
    .into_iter()
    .filter(|(k, _)| decision[*k] == true)
    .map(|(_, l)| l)
    .collect();
    let blocked_by: Vec<String> = decision["policies"]
        .as_array()
        .map(|ids| {
            ids.iter()
                .filter_map(Value::as_str)
                .map(|id| {
                    result["applying"]
                        .as_array()
                        .and_then(|a| a.iter().find(|p| p["id"] == id))
                        .and_then(|p| p["displayName"].as_str())
                        .unwrap_or(id)
                        .to_string()
                })
                .collect()
        })
        .unwrap_or_default();
    result["decision_label"] = json!(label);
    result["required"] = json!(required);
    result["blocked_by"] = json!(blocked_by);
    what_if_page(&ctx, &who, StatusCode::OK, &form, Some(result), None).await
}
