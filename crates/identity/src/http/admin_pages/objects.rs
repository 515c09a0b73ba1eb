//! Conditional access policies and named locations in the admin center: the lists (with the
//! state toggle), the editor (for policies a form beside the JSON view, see `policy_form`)
//! that shows every validation problem the API names, and deletion behind a confirmation
//! page. All through the Graph-shaped API in-process.

use super::{
    Form, Page, Reply, SignedIn, api, api_failure, check_post, notice, policy_form, query_value,
    render, require, seg, short_time, without_position,
};
use crate::http::admin_api::Permission;
use crate::state::Ctx;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::{Map, Value, json};

/// Members the server assigns; leaving them out of an edited document keeps them.
const SERVER_MEMBERS: &[&str] = &["id", "createdDateTime", "modifiedDateTime"];

/// A policy's states: Graph value, label, and the toggle button that sets it.
const POLICY_STATES: &[(&str, &str, &str)] = &[
    ("enabled", "On", "Turn on"),
    (
        "enabledForReportingButNotEnforced",
        "Report-only",
        "Report-only",
    ),
    ("disabled", "Off", "Turn off"),
];

/// Which kind of conditional access object a page edits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Policy,
    Location,
}

impl Kind {
    pub(super) fn api(self) -> &'static str {
        match self {
            Kind::Policy => "/v1.0/identity/conditionalAccess/policies",
            Kind::Location => "/v1.0/identity/conditionalAccess/namedLocations",
        }
    }

    fn pages(self) -> &'static str {
        match self {
            Kind::Policy => "/admin/policies",
            Kind::Location => "/admin/locations",
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Kind::Policy => "policy",
            Kind::Location => "named location",
        }
    }

    fn section(self) -> &'static str {
        match self {
            Kind::Policy => "policies",
            Kind::Location => "locations",
        }
    }

    fn sample(self) -> &'static str {
        match self {
            Kind::Policy => {
                r#"{
  "displayName": "Require MFA for mail",
  "state": "enabledForReportingButNotEnforced",
  "conditions": {
    "users": { "includeUsers": ["All"] },
    "applications": { "includeApplications": ["Office365"] },
    "clientAppTypes": ["all"]
  },
  "grantControls": { "operator": "OR", "builtInControls": ["mfa"] }
}"#
            }
            Kind::Location => {
                r##"{
  "@odata.type": "#microsoft.graph.ipNamedLocation",
  "displayName": "Head office",
  "isTrusted": true,
  "ipRanges": [
    { "@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": "203.0.113.0/24" }
  ]
}"##
            }
        }
    }

    fn help(self) -> &'static str {
        match self {
            Kind::Policy => {
                "The conditionalAccessPolicy shape of Microsoft Graph: a policy exported from Graph imports unchanged. id, createdDateTime and modifiedDateTime are assigned by the server; a member you remove is cleared."
            }
            Kind::Location => {
                "An ipNamedLocation (ipRanges) or countryNamedLocation (countriesAndRegions) in Microsoft Graph's shape. A member you remove is cleared."
            }
        }
    }
}

fn grant_summary(p: &Value) -> String {
    let g = &p["grantControls"];
    if g.is_null() {
        return "None".into();
    }
    let controls: Vec<&str> = g["builtInControls"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if controls.contains(&"block") {
        return "Block access".into();
    }
    let mut parts: Vec<String> = controls
        .iter()
        .map(|c| match *c {
            "mfa" => "Require MFA".to_string(),
            "passwordChange" => "Require password change".to_string(),
            "compliantDevice" => "Require compliant device".to_string(),
            "domainJoinedDevice" => "Require hybrid joined device".to_string(),
            "approvedApplication" => "Require approved app".to_string(),
            "compliantApplication" => "Require app protection policy".to_string(),
            other => other.to_string(),
        })
        .collect();
    let strength = &g["authenticationStrength"];
    if let Some(name) = strength["displayName"]
        .as_str()
        .or_else(|| strength["id"].as_str())
    {
        parts.push(format!("Require authentication strength {name}"));
    }
    if parts.is_empty() {
        return "None".into();
    }
    let joiner = if g["operator"] == "AND" {
        " and "
    } else {
        " or "
    };
    parts.join(joiner)
}

fn session_summary(p: &Value) -> String {
    let s = &p["sessionControls"];
    let mut parts = vec![];
    let f = &s["signInFrequency"];
    if f["isEnabled"] == true {
        if f["frequencyInterval"] == "everyTime" {
            parts.push("Sign-in every time".to_string());
        } else {
            parts.push(format!(
                "Sign-in frequency {} {}",
                f["value"],
                f["type"].as_str().unwrap_or_default()
            ));
        }
    }
    let b = &s["persistentBrowser"];
    if b["isEnabled"] == true {
        parts.push(format!(
            "Persistent browser: {}",
            b["mode"].as_str().unwrap_or_default()
        ));
    }
    parts.join("; ")
}

pub(super) async fn policies(State(ctx): State<Ctx>, who: SignedIn, RawQuery(q): RawQuery) -> Page {
    require(&ctx, &who, Permission::Read)?;
    let reply = api(&ctx, &who, Method::GET, Kind::Policy.api(), None).await?;
    if !reply.status.is_success() {
        return Err(api_failure(&ctx, &who, &reply, "/admin"));
    }
    let mut rows: Vec<Value> = reply.body["value"]
        .as_array()
        .map(|a| a.iter())
        .into_iter()
        .flatten()
        .map(|p| {
            let state = p["state"].as_str().unwrap_or_default();
            let id = p["id"].as_str().unwrap_or_default();
            json!({
                "href": format!("/admin/policies/{}", seg(id)),
                "name": p["displayName"],
                "state": state,
                "state_label": POLICY_STATES.iter().find(|s| s.0 == state).map_or(state, |s| s.1),
                "grant": grant_summary(p),
                "session": session_summary(p),
                "modified": short_time(if p["modifiedDateTime"].is_null() { &p["createdDateTime"] } else { &p["modifiedDateTime"] }),
            })
        })
        .collect();
    rows.sort_by_key(|r| r["name"].as_str().unwrap_or_default().to_lowercase());
    let states: Vec<Value> = POLICY_STATES
        .iter()
        .map(|(value, _, action)| json!({ "value": value, "action": action }))
        .collect();
    Ok(render(
        &ctx,
        &who,
        StatusCode::OK,
        "admin/policies.html",
        "policies",
        json!({ "policies": rows, "states": states, "notice": notice(query_value(&q, "done")) }),
    ))
}

pub(super) async fn locations(
    State(ctx): State<Ctx>,
    who: SignedIn,
    RawQuery(q): RawQuery,
) -> Page {
    require(&ctx, &who, Permission::Read)?;
    let reply = api(&ctx, &who, Method::GET, Kind::Location.api(), None).await?;
    if !reply.status.is_success() {
        return Err(api_failure(&ctx, &who, &reply, "/admin"));
    }
    let mut rows: Vec<Value> = reply.body["value"]
        .as_array()
        .map(|a| a.iter())
        .into_iter()
        .flatten()
        .map(|l| {
            let id = l["id"].as_str().unwrap_or_default();
            let country = l["@odata.type"]
                .as_str()
                .is_some_and(|t| t.ends_with("countryNamedLocation"));
            let members: Vec<String> = if country {
                let mut c: Vec<String> = l["countriesAndRegions"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
                    .unwrap_or_default();
                if l["includeUnknownCountriesAndRegions"] == true {
                    c.push("unknown".into());
                }
                c
            } else {
                l["ipRanges"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|r| r["cidrAddress"].as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default()
            };
            json!({
                "href": format!("/admin/locations/{}", seg(id)),
                "name": l["displayName"],
                "kind": if country { "Countries" } else { "IP ranges" },
                "trusted": l["isTrusted"] == true,
                "members": members.join(", "),
                "modified": short_time(if l["modifiedDateTime"].is_null() { &l["createdDateTime"] } else { &l["modifiedDateTime"] }),
            })
        })
        .collect();
    rows.sort_by_key(|r| r["name"].as_str().unwrap_or_default().to_lowercase());
    Ok(render(
        &ctx,
        &who,
        StatusCode::OK,
        "admin/locations.html",
        "locations",
        json!({ "locations": rows, "notice": notice(query_value(&q, "done")) }),
    ))
}

/// What an editor page shows.
struct Editor<'a> {
    kind: Kind,
    /// `None` for a new object.
    id: Option<&'a str>,
    name: Option<&'a str>,
    text: &'a str,
    /// The API's refusal: message and `error.details[]`.
    refusal: Option<&'a Reply>,
}

async fn editor(ctx: &Ctx, who: &SignedIn, e: Editor<'_>) -> Response {
    let kind = e.kind;
    let heading = match (e.id, e.name) {
        (None, _) => format!("New {}", kind.noun()),
        (Some(_), Some(name)) => name.to_string(),
        (Some(_), None) => format!("Edit {}", kind.noun()),
    };
    let action = match e.id {
        None => format!("{}/new", kind.pages()),
        Some(id) => format!("{}/{}", kind.pages(), seg(id)),
    };
    let (status, error, details) = match e.refusal {
        None => (StatusCode::OK, None, vec![]),
        Some(r) => {
            let details: Vec<Value> = r.body["error"]["details"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|d| {
                            let message = d["message"].as_str().unwrap_or_default();
                            json!({ "target": d["target"], "message": without_position(message) })
                        })
                        .collect()
                })
                .unwrap_or_default();
            let message = if details.is_empty() {
                r.message().to_string()
            } else {
                format!("The {} was not saved:", kind.noun())
            };
            (r.status, Some(message), details)
        }
    };
    let form = match kind {
        Kind::Policy => {
            let doc = serde_json::from_str::<Value>(e.text)
                .ok()
                .filter(Value::is_object);
            Some(policy_form::view(
                doc.as_ref(),
                &location_names(ctx, who).await,
            ))
        }
        Kind::Location => None,
    };
    render(
        ctx,
        who,
        status,
        "admin/editor.html",
        kind.section(),
        json!({
            "heading": heading,
            "action": action,
            "text": e.text,
            "noun": kind.noun(),
            "help": kind.help(),
            "back": kind.pages(),
            "error": error,
            "details": details,
            "form": form,
        }),
    )
}

/// The named locations as (id, display name), for the policy form's location choices.
async fn location_names(ctx: &Ctx, who: &SignedIn) -> Vec<(String, String)> {
    let reply = match api(ctx, who, Method::GET, Kind::Location.api(), None).await {
        Ok(r) if r.status.is_success() => r,
        _ => return vec![],
    };
    let mut out: Vec<(String, String)> = reply.body["value"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|l| {
                    let id = l["id"].as_str()?;
                    let name = l["displayName"].as_str().unwrap_or(id);
                    Some((id.to_string(), name.to_string()))
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort_by_key(|(_, name)| name.to_lowercase());
    out
}

/// The document a save sends: the JSON view as typed, or — when the policy form was saved
/// ("from" = "form") — the JSON view with the form's members set. A JSON view that is not a
/// JSON object cannot take the form's members: that is a refusal like the API's.
fn submitted(kind: Kind, form: &Form) -> Result<String, Reply> {
    let text = form.get("json").unwrap_or_default();
    if kind != Kind::Policy || form.get("from") != Some("form") {
        return Ok(text.to_string());
    }
    let mut doc = if text.trim().is_empty() {
        Map::new()
    } else {
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(m)) => m,
            Ok(_) => return Err(form_refusal("The JSON view does not hold a JSON object.")),
            Err(e) => {
                return Err(form_refusal(&format!(
                    "The JSON view is not valid JSON ({e}). Correct it, or save the JSON view."
                )));
            }
        }
    };
    policy_form::apply(&mut doc, form);
    Ok(serde_json::to_string_pretty(&Value::Object(doc)).unwrap_or_default())
}

fn form_refusal(message: &str) -> Reply {
    Reply {
        status: StatusCode::BAD_REQUEST,
        body: json!({ "error": { "code": "BadRequest", "message": message } }),
    }
}

async fn new_page(ctx: Ctx, who: SignedIn, kind: Kind) -> Page {
    require(&ctx, &who, Permission::ManagePolicies)?;
    Ok(editor(
        &ctx,
        &who,
        Editor {
            kind,
            id: None,
            name: None,
            text: kind.sample(),
            refusal: None,
        },
    )
    .await)
}

async fn create(ctx: Ctx, who: SignedIn, kind: Kind, headers: HeaderMap, body: Bytes) -> Page {
    let form = Form::parse(&body);
    check_post(&ctx, &who, &headers, &form, Permission::ManagePolicies)?;
    let text = match submitted(kind, &form) {
        Ok(t) => t,
        Err(refusal) => {
            let text = form.get("json").unwrap_or_default();
            return Ok(editor(
                &ctx,
                &who,
                Editor {
                    kind,
                    id: None,
                    name: None,
                    text,
                    refusal: Some(&refusal),
                },
            )
            .await);
        }
    };
    let reply = api(&ctx, &who, Method::POST, kind.api(), Some(text.clone())).await?;
    match reply.status {
        StatusCode::CREATED => {
            Ok(Redirect::to(&format!("{}?done=created", kind.pages())).into_response())
        }
        StatusCode::BAD_REQUEST | StatusCode::CONFLICT => Ok(editor(
            &ctx,
            &who,
            Editor {
                kind,
                id: None,
                name: None,
                text: &text,
                refusal: Some(&reply),
            },
        )
        .await),
        _ => Err(api_failure(&ctx, &who, &reply, kind.pages())),
    }
}

async fn fetch(ctx: &Ctx, who: &SignedIn, kind: Kind, id: &str) -> Result<Value, Response> {
    let reply = api(
        ctx,
        who,
        Method::GET,
        &format!("{}/{}", kind.api(), seg(id)),
        None,
    )
    .await?;
    if reply.status.is_success() {
        Ok(reply.body)
    } else {
        Err(api_failure(ctx, who, &reply, kind.pages()))
    }
}

async fn edit_page(ctx: Ctx, who: SignedIn, kind: Kind, id: String) -> Page {
    require(&ctx, &who, Permission::Read)?;
    let current = fetch(&ctx, &who, kind, &id).await?;
    let text = serde_json::to_string_pretty(&current).unwrap_or_default();
    Ok(editor(
        &ctx,
        &who,
        Editor {
            kind,
            id: Some(&id),
            name: current["displayName"].as_str(),
            text: &text,
            refusal: None,
        },
    )
    .await)
}

/// The PATCH that turns `stored` into `edited`: the edited document, with `null` for every
/// member it no longer has (Graph's PATCH merges objects and clears members set to `null`).
fn replacement_patch(stored: &Value, edited: &Value, top: bool) -> Value {
    match (stored, edited) {
        (Value::Object(s), Value::Object(e)) => {
            let mut out = Map::new();
            for (k, v) in e {
                let patched = match s.get(k) {
                    Some(old) => replacement_patch(old, v, false),
                    None => v.clone(),
                };
                out.insert(k.clone(), patched);
            }
            for k in s.keys() {
                let kept_by_server = top && SERVER_MEMBERS.contains(&k.as_str());
                if !e.contains_key(k) && !kept_by_server {
                    out.insert(k.clone(), Value::Null);
                }
            }
            Value::Object(out)
        }
        (_, e) => e.clone(),
    }
}

async fn update(
    ctx: Ctx,
    who: SignedIn,
    kind: Kind,
    id: String,
    headers: HeaderMap,
    body: Bytes,
) -> Page {
    let form = Form::parse(&body);
    check_post(&ctx, &who, &headers, &form, Permission::ManagePolicies)?;
    let current = fetch(&ctx, &who, kind, &id).await?;
    let text = match submitted(kind, &form) {
        Ok(t) => t,
        Err(refusal) => {
            let text = form.get("json").unwrap_or_default();
            return Ok(editor(
                &ctx,
                &who,
                Editor {
                    kind,
                    id: Some(&id),
                    name: current["displayName"].as_str(),
                    text,
                    refusal: Some(&refusal),
                },
            )
            .await);
        }
    };
    let patch = match serde_json::from_str::<Value>(&text) {
        Ok(edited @ Value::Object(_)) => replacement_patch(&current, &edited, true).to_string(),
        // Not a JSON object: the API says what is wrong with it.
        _ => text.clone(),
    };
    let uri = format!("{}/{}", kind.api(), seg(&id));
    let reply = api(&ctx, &who, Method::PATCH, &uri, Some(patch)).await?;
    match reply.status {
        s if s.is_success() => {
            Ok(Redirect::to(&format!("{}?done=saved", kind.pages())).into_response())
        }
        StatusCode::BAD_REQUEST | StatusCode::CONFLICT => Ok(editor(
            &ctx,
            &who,
            Editor {
                kind,
                id: Some(&id),
                name: current["displayName"].as_str(),
                text: &text,
                refusal: Some(&reply),
            },
        )
        .await),
        _ => Err(api_failure(&ctx, &who, &reply, kind.pages())),
    }
}

async fn delete_page(ctx: Ctx, who: SignedIn, kind: Kind, id: String) -> Page {
    require(&ctx, &who, Permission::ManagePolicies)?;
    let current = fetch(&ctx, &who, kind, &id).await?;
    Ok(render(
        &ctx,
        &who,
        StatusCode::OK,
        "admin/confirm_delete.html",
        kind.section(),
        json!({
            "noun": kind.noun(),
            "name": current["displayName"],
            "action": format!("{}/{}/delete", kind.pages(), seg(&id)),
            "back": kind.pages(),
        }),
    ))
}

async fn delete(
    ctx: Ctx,
    who: SignedIn,
    kind: Kind,
    id: String,
    headers: HeaderMap,
    body: Bytes,
) -> Page {
    let form = Form::parse(&body);
    check_post(&ctx, &who, &headers, &form, Permission::ManagePolicies)?;
    let uri = format!("{}/{}", kind.api(), seg(&id));
    let reply = api(&ctx, &who, Method::DELETE, &uri, None).await?;
    if reply.status.is_success() {
        Ok(Redirect::to(&format!("{}?done=deleted", kind.pages())).into_response())
    } else {
        Err(api_failure(&ctx, &who, &reply, kind.pages()))
    }
}

pub(super) async fn policy_state(
    State(ctx): State<Ctx>,
    who: SignedIn,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Page {
    let form = Form::parse(&body);
    check_post(&ctx, &who, &headers, &form, Permission::ManagePolicies)?;
    let Some(state) = form
        .get("state")
        .filter(|s| POLICY_STATES.iter().any(|p| p.0 == *s))
    else {
        return Err(render(
            &ctx,
            &who,
            StatusCode::BAD_REQUEST,
            "admin/error.html",
            "policies",
            json!({
                "title": "Unknown state",
                "message": "A policy's state is enabled, enabledForReportingButNotEnforced or disabled.",
                "back": "/admin/policies",
            }),
        ));
    };
    let uri = format!("{}/{}", Kind::Policy.api(), seg(&id));
    let patch = json!({ "state": state }).to_string();
    let reply = api(&ctx, &who, Method::PATCH, &uri, Some(patch)).await?;
    if reply.status.is_success() {
        Ok(Redirect::to("/admin/policies?done=state").into_response())
    } else {
        Err(api_failure(&ctx, &who, &reply, "/admin/policies"))
    }
}

// The routes' handlers: each names its kind and hands over.

pub(super) async fn policy_new(State(ctx): State<Ctx>, who: SignedIn) -> Page {
    new_page(ctx, who, Kind::Policy).await
}

pub(super) async fn location_new(State(ctx): State<Ctx>, who: SignedIn) -> Page {
    new_page(ctx, who, Kind::Location).await
}

pub(super) async fn policy_create(
    State(ctx): State<Ctx>,
    who: SignedIn,
    headers: HeaderMap,
    body: Bytes,
) -> Page {
    create(ctx, who, Kind::Policy, headers, body).await
}

pub(super) async fn location_create(
    State(ctx): State<Ctx>,
    who: SignedIn,
    headers: HeaderMap,
    body: Bytes,
) -> Page {
    create(ctx, who, Kind::Location, headers, body).await
}

pub(super) async fn policy_edit(
    State(ctx): State<Ctx>,
    who: SignedIn,
    Path(id): Path<String>,
) -> Page {
    edit_page(ctx, who, Kind::Policy, id).await
}

pub(super) async fn location_edit(
    State(ctx): State<Ctx>,
    who: SignedIn,
    Path(id): Path<String>,
) -> Page {
    edit_page(ctx, who, Kind::Location, id).await
}

pub(super) async fn policy_update(
    State(ctx): State<Ctx>,
    who: SignedIn,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Page {
    update(ctx, who, Kind::Policy, id, headers, body).await
}

pub(super) async fn location_update(
    State(ctx): State<Ctx>,
    who: SignedIn,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Page {
    update(ctx, who, Kind::Location, id, headers, body).await
}

pub(super) async fn policy_delete_confirm(
    State(ctx): State<Ctx>,
    who: SignedIn,
    Path(id): Path<String>,
) -> Page {
    delete_page(ctx, who, Kind::Policy, id).await
}

pub(super) async fn location_delete_confirm(
    State(ctx): State<Ctx>,
    who: SignedIn,
    Path(id): Path<String>,
) -> Page {
    delete_page(ctx, who, Kind::Location, id).await
}

pub(super) async fn policy_delete(
    State(ctx): State<Ctx>,
    who: SignedIn,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Page {
    delete(ctx, who, Kind::Policy, id, headers, body).await
}

pub(super) async fn location_delete(
    State(ctx): State<Ctx>,
    who: SignedIn,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Page {
    delete(ctx, who, Kind::Location, id, headers, body).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replacement_patch_clears_removed_members_but_keeps_server_ones() {
        let stored = json!({
            "id": "p1", "createdDateTime": "t", "modifiedDateTime": "t",
            "displayName": "a", "sessionControls": { "signInFrequency": { "value": 1 } },
            "conditions": { "users": { "includeUsers": ["All"], "excludeUsers": ["x"] } },
        });
        let edited = json!({
            "displayName": "b",
            "conditions": { "users": { "includeUsers": ["All"] } },
        });
        assert_eq!(
            replacement_patch(&stored, &edited, true),
            json!({
                "displayName": "b",
                "sessionControls": null,
                "conditions": { "users": { "includeUsers": ["All"], "excludeUsers": null } },
            })
        );
    }

    #[test]
    fn grant_summaries() {
        assert_eq!(
            grant_summary(
                &json!({"grantControls": {"operator": "OR", "builtInControls": ["block"]}})
            ),
            "Block access"
        );
        assert_eq!(
            grant_summary(
                &json!({"grantControls": {"operator": "AND", "builtInControls": ["mfa", "passwordChange"]}})
            ),
            "Require MFA and Require password change"
        );
        assert_eq!(grant_summary(&json!({"grantControls": null})), "None");
    }
}
