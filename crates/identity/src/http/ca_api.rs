//! The conditional access admin API, in Microsoft Graph's shape:
//! `/v1.0/identity/conditionalAccess/policies` and `.../namedLocations` (list, get, create,
//! update, delete), plus two mailward additions under the same prefix: `whatIf` (evaluate a
//! hypothetical sign-in against the stored policies) and `backtest` (replay the sign-in log
//! against a proposed policy), and `coverage` (where a password alone signs in). Security
//! defaults are Graph's `/v1.0/policies/identitySecurityDefaultsEnforcementPolicy`
//! (`isEnabled`).
//!
//! Objects are stored as the JSON Graph exchanges, so a policy exported from Graph imports
//! unchanged and exports back equal. Every write is validated in full before it is stored:
//! the document on its own (unsupported members are named, never dropped) and the whole set
//! it would join (a policy naming a missing location is refused, as is deleting a location
//! a policy uses).

use super::admin_api::{AdminUser, Permission, api_error};
use crate::conditional_access::{self, LOCATION_KIND, POLICY_KIND};
use crate::state::Ctx;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use mailward_policy::{
    ConditionalAccessPolicy, CountryCode, ImportError, NamedLocation, Platform, PolicySet,
    PolicyState, SignInContext, export_named_location, export_policy, import_named_location,
    import_policy,
};
use mailward_store::Document;
use mailward_types::model::{Amr, ClientAppType, User};
use mailward_types::records::{SignInFilter, SignInResult, parse_ip};
use mailward_types::{Upn, clock};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

pub(crate) fn routes() -> axum::Router<Ctx> {
    axum::Router::new()
        .route(
            "/v1.0/identity/conditionalAccess/policies",
            get(list_policies).post(create_policy),
        )
        .route(
            "/v1.0/identity/conditionalAccess/policies/{id}",
            get(get_policy).patch(patch_policy).delete(delete_policy),
        )
        .route(
            "/v1.0/identity/conditionalAccess/namedLocations",
            get(list_locations).post(create_location),
        )
        .route(
            "/v1.0/identity/conditionalAccess/namedLocations/{id}",
            get(get_location)
                .patch(patch_location)
                .delete(delete_location),
        )
        .route("/v1.0/identity/conditionalAccess/whatIf", post(what_if))
        .route("/v1.0/identity/conditionalAccess/backtest", post(backtest))
        .route("/v1.0/identity/conditionalAccess/coverage", get(coverage))
        .route(
            "/v1.0/policies/identitySecurityDefaultsEnforcementPolicy",
            get(get_security_defaults).patch(patch_security_defaults),
        )
}

type R = Result<Response, Response>;

fn store_err(e: mailward_store::StoreError) -> Response {
    tracing::error!(error = %e, "conditional access storage failed");
    api_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "generalException",
        "An internal error occurred.",
    )
}

/// A validation failure, with every problem and its JSON path.
fn invalid(e: &ImportError) -> Response {
    let details: Vec<Value> = e
        .errors
        .iter()
        .map(|f| json!({ "code": f.kind.code(), "target": f.path, "message": f.message }))
        .collect();
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": {
            "code": "BadRequest",
            "message": e.to_string(),
            "details": details,
        }})),
    )
        .into_response()
}

fn not_found(what: &str) -> Response {
    api_error(
        StatusCode::NOT_FOUND,
        "ResourceNotFound",
        &format!("The {what} was not found."),
    )
}

/// Graph's timestamp format (seven fractional digits, `Z`).
fn graph_time(t: OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:07}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.nanosecond() / 100
    )
}

fn raw_list(docs: &[Document], what: &str) -> Response {
    let items: Vec<Value> = docs
        .iter()
        .filter_map(|d| serde_json::from_str(&d.body).ok())
        .collect();
    Json(json!({
        "@odata.context": format!("https://graph.microsoft.com/v1.0/$metadata#identity/conditionalAccess/{what}"),
        "value": items,
    }))
    .into_response()
}

fn raw_one(doc: &Document) -> Response {
    match serde_json::from_str::<Value>(&doc.body) {
        Ok(v) => Json(v).into_response(),
        Err(_) => store_err(mailward_store::StoreError::Backend(
            "stored document is not JSON".into(),
        )),
    }
}

async fn load_all(
    ctx: &Ctx,
) -> Result<(Vec<ConditionalAccessPolicy>, Vec<NamedLocation>), Response> {
    let policies = ctx
        .store()
        .documents(POLICY_KIND)
        .await
        .map_err(store_err)?
        .iter()
        .filter_map(|d| import_policy(d.body.as_bytes()).ok())
        .collect();
    let locations = ctx
        .store()
        .documents(LOCATION_KIND)
        .await
        .map_err(store_err)?
        .iter()
        .filter_map(|d| import_named_location(d.body.as_bytes()).ok())
        .collect();
    Ok((policies, locations))
}

/// Checks that the set still compiles with `policy` in place of the one with its id (or
/// added), and with `locations` as given.
fn check_set(
    mut policies: Vec<ConditionalAccessPolicy>,
    policy: Option<&ConditionalAccessPolicy>,
    locations: &[NamedLocation],
) -> Result<(), Response> {
    if let Some(p) = policy {
        let id = p.id.get().cloned();
        policies.retain(|q| q.id.get() != id.as_ref());
        policies.push(p.clone());
    }
    PolicySet::compile(&policies, locations, &conditional_access::tenant_config())
        .map(|_| ())
        .map_err(|e| invalid(&e))
}

/// RFC 7396-style merge (a `null` member sets the property to `null`, as Graph's PATCH
/// does for nullable properties).
fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                match t.get_mut(k) {
                    Some(existing) if existing.is_object() && v.is_object() => merge(existing, v),
                    _ => {
                        t.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

fn parse_body(bytes: &[u8]) -> Result<Value, Response> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| {
        api_error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            &format!("Invalid JSON body: {e}"),
        )
    })?;
    if !v.is_object() {
        return Err(api_error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "The body must be a JSON object.",
        ));
    }
    Ok(v)
}

/// Fills what the server assigns (id and timestamps). On create (`creating`) supplied
/// values are kept so an export from Graph imports unchanged; an update always stamps
/// `modifiedDateTime`.
fn assign(v: &mut Value, now: OffsetDateTime, creating: bool) {
    let Some(obj) = v.as_object_mut() else { return };
    if obj.get("id").is_none_or(Value::is_null) {
        obj.insert("id".into(), Value::String(Uuid::new_v4().to_string()));
    }
    if !obj.contains_key("createdDateTime") {
        obj.insert("createdDateTime".into(), Value::String(graph_time(now)));
    }
    if !creating || !obj.contains_key("modifiedDateTime") {
        obj.insert("modifiedDateTime".into(), Value::String(graph_time(now)));
    }
}

async fn save(ctx: &Ctx, kind: &str, id: &str, body: String, now: OffsetDateTime) -> R {
    let created = ctx
        .store()
        .document(kind, id)
        .await
        .map_err(store_err)?
        .map_or(now, |d| d.created);
    ctx.store()
        .put_document(&Document {
            kind: kind.to_string(),
            id: id.to_string(),
            body,
            created,
            modified: now,
        })
        .await
        .map_err(store_err)?;
    conditional_access::changed(ctx).await.map_err(store_err)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---- policies ----

async fn list_policies(State(ctx): State<Ctx>, admin: AdminUser) -> R {
    admin.require(Permission::Read)?;
    let docs = ctx
        .store()
        .documents(POLICY_KIND)
        .await
        .map_err(store_err)?;
    Ok(raw_list(&docs, "policies"))
}

async fn get_policy(State(ctx): State<Ctx>, admin: AdminUser, Path(id): Path<String>) -> R {
    admin.require(Permission::Read)?;
    match ctx
        .store()
        .document(POLICY_KIND, &id)
        .await
        .map_err(store_err)?
    {
        Some(d) => Ok(raw_one(&d)),
        None => Err(not_found("conditional access policy")),
    }
}

async fn create_policy(State(ctx): State<Ctx>, admin: AdminUser, body: Bytes) -> R {
    admin.require(Permission::ManagePolicies)?;
    let now = clock::now();
    let mut v = parse_body(&body)?;
    assign(&mut v, now, true);
    let text = v.to_string();
    let policy = import_policy(text.as_bytes()).map_err(|e| invalid(&e))?;
    let id = policy.id.get().cloned().unwrap_or_default();
    if ctx
        .store()
        .document(POLICY_KIND, &id)
        .await
        .map_err(store_err)?
        .is_some()
    {
        return Err(api_error(
            StatusCode::CONFLICT,
            "Conflict",
            &format!("A conditional access policy with id '{id}' already exists."),
        ));
    }
    let (policies, locations) = load_all(&ctx).await?;
    check_set(policies, Some(&policy), &locations)?;
    let body = export_policy(&policy);
    save(&ctx, POLICY_KIND, &id, body.clone(), now).await?;
    tracing::info!(admin = %admin.name, policy = %id, "conditional access policy created");
    Ok((
        StatusCode::CREATED,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response())
}

async fn patch_policy(
    State(ctx): State<Ctx>,
    admin: AdminUser,
    Path(id): Path<String>,
    body: Bytes,
) -> R {
    admin.require(Permission::ManagePolicies)?;
    let now = clock::now();
    let patch = parse_body(&body)?;
    if patch
        .get("id")
        .is_some_and(|v| v.as_str() != Some(id.as_str()))
    {
        return Err(api_error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "id: cannot be changed",
        ));
    }
    let Some(doc) = ctx
        .store()
        .document(POLICY_KIND, &id)
        .await
        .map_err(store_err)?
    else {
        return Err(not_found("conditional access policy"));
    };
    let mut v: Value = serde_json::from_str(&doc.body).map_err(|_| {
        store_err(mailward_store::StoreError::Backend(
            "stored policy is not JSON".into(),
        ))
    })?;
    merge(&mut v, &patch);
    assign(&mut v, now, false);
    let policy = import_policy(v.to_string().as_bytes()).map_err(|e| invalid(&e))?;
    let (policies, locations) = load_all(&ctx).await?;
    check_set(policies, Some(&policy), &locations)?;
    tracing::info!(admin = %admin.name, policy = %id, "conditional access policy updated");
    save(&ctx, POLICY_KIND, &id, export_policy(&policy), now).await
}

async fn delete_policy(State(ctx): State<Ctx>, admin: AdminUser, Path(id): Path<String>) -> R {
    admin.require(Permission::ManagePolicies)?;
    if !ctx
        .store()
        .delete_document(POLICY_KIND, &id)
        .await
        .map_err(store_err)?
    {
        return Err(not_found("conditional access policy"));
    }
    conditional_access::changed(&ctx).await.map_err(store_err)?;
    tracing::info!(admin = %admin.name, policy = %id, "conditional access policy deleted");
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---- named locations ----

async fn list_locations(State(ctx): State<Ctx>, admin: AdminUser) -> R {
    admin.require(Permission::Read)?;
    let docs = ctx
        .store()
        .documents(LOCATION_KIND)
        .await
        .map_err(store_err)?;
    Ok(raw_list(&docs, "namedLocations"))
}

async fn get_location(State(ctx): State<Ctx>, admin: AdminUser, Path(id): Path<String>) -> R {
    admin.require(Permission::Read)?;
    match ctx
        .store()
        .document(LOCATION_KIND, &id)
        .await
        .map_err(store_err)?
    {
        Some(d) => Ok(raw_one(&d)),
        None => Err(not_found("named location")),
    }
}

async fn create_location(State(ctx): State<Ctx>, admin: AdminUser, body: Bytes) -> R {
    admin.require(Permission::ManagePolicies)?;
    let now = clock::now();
    let mut v = parse_body(&body)?;
    assign(&mut v, now, true);
    let loc = import_named_location(v.to_string().as_bytes()).map_err(|e| invalid(&e))?;
    let id = loc.id.get().cloned().unwrap_or_default();
    if ctx
        .store()
        .document(LOCATION_KIND, &id)
        .await
        .map_err(store_err)?
        .is_some()
    {
        return Err(api_error(
            StatusCode::CONFLICT,
            "Conflict",
            &format!("A named location with id '{id}' already exists."),
        ));
    }
    let body = export_named_location(&loc);
    save(&ctx, LOCATION_KIND, &id, body.clone(), now).await?;
    tracing::info!(admin = %admin.name, location = %id, "named location created");
    Ok((
        StatusCode::CREATED,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response())
}

async fn patch_location(
    State(ctx): State<Ctx>,
    admin: AdminUser,
    Path(id): Path<String>,
    body: Bytes,
) -> R {
    admin.require(Permission::ManagePolicies)?;
    let now = clock::now();
    let patch = parse_body(&body)?;
    let Some(doc) = ctx
        .store()
        .document(LOCATION_KIND, &id)
        .await
        .map_err(store_err)?
    else {
        return Err(not_found("named location"));
    };
    let mut v: Value = serde_json::from_str(&doc.body).map_err(|_| {
        store_err(mailward_store::StoreError::Backend(
            "stored location is not JSON".into(),
        ))
    })?;
    // Lists (ipRanges, countriesAndRegions) are replaced whole by `merge`.
    merge(&mut v, &patch);
    if v.get("id").and_then(Value::as_str) != Some(id.as_str()) {
        return Err(api_error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "id: cannot be changed",
        ));
    }
    assign(&mut v, now, false);
    let loc = import_named_location(v.to_string().as_bytes()).map_err(|e| invalid(&e))?;
    let (policies, mut locations) = load_all(&ctx).await?;
    locations.retain(|l| l.id.get() != Some(&id));
    locations.push(loc.clone());
    check_set(policies, None, &locations)?;
    save(&ctx, LOCATION_KIND, &id, export_named_location(&loc), now).await
}

async fn delete_location(State(ctx): State<Ctx>, admin: AdminUser, Path(id): Path<String>) -> R {
    admin.require(Permission::ManagePolicies)?;
    // A policy uses the location if it compiles with it and not without it (a policy
    // naming an unknown location is a compile error).
    let (policies, locations) = load_all(&ctx).await?;
    let remaining: Vec<NamedLocation> = locations
        .iter()
        .filter(|l| l.id.get() != Some(&id))
        .cloned()
        .collect();
    let cfg = conditional_access::tenant_config();
    let users: Vec<String> = policies
        .iter()
        .filter(|p| {
            let one = std::slice::from_ref(*p);
            PolicySet::compile(one, &locations, &cfg).is_ok()
                && PolicySet::compile(one, &remaining, &cfg).is_err()
        })
        .filter_map(|p| p.display_name.get().cloned())
        .collect();
    if !users.is_empty() {
        return Err(api_error(
            StatusCode::CONFLICT,
            "Conflict",
            &format!(
                "The named location is used by conditional access policies: {}",
                users.join(", ")
            ),
        ));
    }
    if !ctx
        .store()
        .delete_document(LOCATION_KIND, &id)
        .await
        .map_err(store_err)?
    {
        return Err(not_found("named location"));
    }
    conditional_access::changed(&ctx).await.map_err(store_err)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---- What-If ----

/// A hypothetical sign-in.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct WhatIfRequest {
    /// UPN or object id.
    user: String,
    /// Application id (client or resource app id); defaults to the mail service.
    app: Option<String>,
    client_app_type: Option<ClientAppType>,
    ip_address: Option<String>,
    platform: Option<String>,
    country: Option<String>,
    /// The sign-in already satisfied MFA.
    #[serde(default)]
    mfa_done: bool,
}

async fn find_user(ctx: &Ctx, key: &str) -> Result<User, Response> {
    let user = if let Ok(id) = Uuid::parse_str(key) {
        ctx.store().user_by_id(id).await.map_err(store_err)?
    } else if let Ok(upn) = Upn::try_from(key) {
        ctx.store().user_by_upn(&upn).await.map_err(store_err)?
    } else {
        None
    };
    user.ok_or_else(|| not_found("user"))
}

fn bad(msg: &str) -> Response {
    api_error(StatusCode::BAD_REQUEST, "BadRequest", msg)
}

async fn what_if(State(ctx): State<Ctx>, admin: AdminUser, body: Bytes) -> R {
    admin.require(Permission::Read)?;
    let req: WhatIfRequest =
        serde_json::from_slice(&body).map_err(|e| bad(&format!("Invalid JSON body: {e}")))?;
    let user = find_user(&ctx, &req.user).await?;
    let now = clock::now();
    let mut sign_in = SignInContext::new(
        conditional_access::user_facts(&ctx, &user)
            .await
            .map_err(store_err)?,
        req.app
            .clone()
            .unwrap_or_else(|| mailward_types::model::well_known::MAIL_RESOURCE_APP_ID.into()),
        req.client_app_type
            .unwrap_or(ClientAppType::MobileAppsAndDesktopClients),
    );
    if let Some(ip) = &req.ip_address {
        sign_in.ip = Some(parse_ip(ip).ok_or_else(|| bad("ipAddress: not an IP address"))?);
    }
    if let Some(p) = &req.platform {
        sign_in.platform = Some(Platform::parse(p).ok_or_else(|| {
            bad("platform: expected android, iOS, windows, windowsPhone, macOS or linux")
        })?);
    }
    sign_in.country = match &req.country {
        Some(c) => Some(
            CountryCode::parse(c).ok_or_else(|| bad("country: expected a two-letter ISO code"))?,
        ),
        None => ctx.conditional_access().country(sign_in.ip),
    };
    sign_in.amr = vec![Amr::Pwd];
    if req.mfa_done {
        sign_in.amr.extend([Amr::Otp, Amr::Mfa]);
        sign_in.mfa_time = Some(now);
    }
    let loaded = conditional_access::load(&ctx).await.map_err(store_err)?;
    let set = match &loaded.set {
        Ok(s) => s,
        Err(e) => {
            return Err(api_error(
                StatusCode::CONFLICT,
                "InvalidPolicySet",
                &format!("The stored policies do not compile: {e}"),
            ));
        }
    };
    let w = set.what_if(&sign_in, now);
    let mut decision = w.decision.clone();
    let baseline = if loaded.security_defaults {
        let (d, o) =
            conditional_access::security_defaults(&ctx.cfg().policy.require_mfa).evaluate(&sign_in);
        decision = mailward_policy::combine(decision, d);
        json!({ "isEnabled": true, "result": o.result, "grantControls": o.enforced_grant_controls })
    } else {
        json!({ "isEnabled": false })
    };
    let applying: Vec<Value> = w
        .applying
        .iter()
        .map(|o| {
            let r = o.to_record();
            json!({
                "id": r.id, "displayName": r.display_name, "state": o.state.as_str(),
                "result": r.result, "grantControls": r.enforced_grant_controls,
                "sessionControls": r.enforced_session_controls,
            })
        })
        .collect();
    let not_applying: Vec<Value> = w
        .not_applying
        .iter()
        .map(|o| {
            json!({
                "id": o.id(), "displayName": o.display_name(), "state": o.state.as_str(),
                "reason": o.not_applied.map(|c| c.as_str()),
            })
        })
        .collect();
    Ok(Json(json!({
        "decision": decision_json(&decision),
        "securityDefaults": baseline,
        "applying": applying,
        "notApplying": not_applying,
        "country": sign_in.country.map(|c| c.as_str().to_string()),
    }))
    .into_response())
}

fn decision_json(d: &mailward_policy::Decision) -> Value {
    use mailward_policy::Decision;
    match d {
        Decision::Allow => json!({ "result": "allow" }),
        Decision::Block { policies, code } => {
            json!({ "result": "block", "errorCode": code.number(), "policies": policies })
        }
        Decision::RequireControls(c) => json!({
            "result": "requireControls",
            "mfa": c.mfa,
            "phishingResistant": c.phishing_resistant,
            "passwordChange": c.password_change,
            "reauthentication": c.reauthentication,
        }),
    }
}

// ---- security defaults ----

/// Graph's fixed id of the tenant's security defaults policy.
const SECURITY_DEFAULTS_ID: &str = "00000000-0000-0000-0000-000000000005";

fn security_defaults_json(on: bool) -> Value {
    json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#policies/identitySecurityDefaultsEnforcementPolicy/$entity",
        "id": SECURITY_DEFAULTS_ID,
        "displayName": "Security Defaults",
        "description": "Security defaults is a set of basic identity security mechanisms recommended by Microsoft. When enabled, these recommendations will be automatically enforced in your organization. Administrators and users will be better protected from common identity related attacks.",
        "isEnabled": on,
    })
}

async fn get_security_defaults(State(ctx): State<Ctx>, admin: AdminUser) -> R {
    admin.require(Permission::Read)?;
    let loaded = conditional_access::load(&ctx).await.map_err(store_err)?;
    Ok(Json(security_defaults_json(loaded.security_defaults)).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SecurityDefaultsPatch {
    is_enabled: bool,
}

async fn patch_security_defaults(State(ctx): State<Ctx>, admin: AdminUser, body: Bytes) -> R {
    admin.require(Permission::ManagePolicies)?;
    let patch: SecurityDefaultsPatch =
        serde_json::from_slice(&body).map_err(|e| bad(&format!("Invalid JSON body: {e}")))?;
    conditional_access::set_security_defaults(&ctx, patch.is_enabled)
        .await
        .map_err(store_err)?;
    if patch.is_enabled {
        tracing::info!(admin = %admin.name, "security defaults turned on");
    } else {
        tracing::warn!(admin = %admin.name, "security defaults turned off");
    }
    Ok(Json(security_defaults_json(patch.is_enabled)).into_response())
}

// ---- coverage ----

async fn coverage(State(ctx): State<Ctx>, admin: AdminUser) -> R {
    admin.require(Permission::Read)?;
    let report = conditional_access::coverage(&ctx, clock::now())
        .await
        .map_err(|e| match e {
            conditional_access::CoverageError::Store(e) => store_err(e),
            conditional_access::CoverageError::Invalid(e) => api_error(
                StatusCode::CONFLICT,
                "InvalidPolicySet",
                &format!("The stored policies do not compile: {e}"),
            ),
        })?;
    Ok(Json(report).into_response())
}

// ---- backtest ----

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct BacktestRequest {
    policy: Value,
    /// `30d`, `12h`, or an RFC 3339 instant; default 30 days.
    since: Option<String>,
}

#[derive(Debug, Deserialize)]
struct BacktestQuery {
    limit: Option<u32>,
}

/// Parses `30d` / `12h` / `45m` or an RFC 3339 instant.
pub(crate) fn parse_since(s: &str, now: OffsetDateTime) -> Option<OffsetDateTime> {
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Some(t);
    }
    let (n, unit) = s.split_at(s.len().checked_sub(1)?);
    let n: i64 = n.parse().ok()?;
    let d = match unit {
        "d" => time::Duration::days(n),
        "h" => time::Duration::hours(n),
        "m" => time::Duration::minutes(n),
        _ => return None,
    };
    (n >= 0).then(|| now - d)
}

async fn backtest(
    State(ctx): State<Ctx>,
    admin: AdminUser,
    Query(q): Query<BacktestQuery>,
    body: Bytes,
) -> R {
    admin.require(Permission::ReadLogs)?;
    let req: BacktestRequest =
        serde_json::from_slice(&body).map_err(|e| bad(&format!("Invalid JSON body: {e}")))?;
    let now = clock::now();
    let since = match &req.since {
        Some(s) => parse_since(s, now)
            .ok_or_else(|| bad("since: expected 30d, 12h, 45m or an RFC 3339 time"))?,
        None => now - time::Duration::days(30),
    };
    let mut v = req.policy;
    assign(&mut v, now, true);
    let mut policy = import_policy(v.to_string().as_bytes()).map_err(|e| invalid(&e))?;
    // The proposal is judged as if it were enabled.
    policy.state = PolicyState::Enabled.into();
    let (_, locations) = load_all(&ctx).await?;
    let set = PolicySet::compile(
        std::slice::from_ref(&policy),
        &locations,
        &conditional_access::tenant_config(),
    )
    .map_err(|e| invalid(&e))?;
    let events = ctx
        .store()
        .signins(&SignInFilter {
            since: Some(since),
            limit: Some(q.limit.unwrap_or(10_000).min(100_000)),
            ..SignInFilter::default()
        })
        .await
        .map_err(store_err)?;

    #[derive(Default)]
    struct PerUser {
        blocked: u32,
        prompted: u32,
        unaffected: u32,
    }
    let mut per_user: BTreeMap<String, PerUser> = BTreeMap::new();
    let mut users: BTreeMap<Uuid, Option<User>> = BTreeMap::new();
    let (mut replayed, mut blocked, mut prompted) = (0u32, 0u32, 0u32);
    for ev in &events {
        // Only sign-ins that got through (or were only interrupted) can change outcome.
        if !matches!(ev.result, SignInResult::Success | SignInResult::Interrupted) {
            continue;
        }
        let Some(uid) = ev.user_id else { continue };
        let user = match users.get(&uid) {
            Some(u) => u.clone(),
            None => {
                let u = ctx.store().user_by_id(uid).await.map_err(store_err)?;
                users.insert(uid, u.clone());
                u
            }
        };
        let Some(user) = &user else {
            continue;
        };
        let target = match &ev.resource {
            Some(uri) => {
                conditional_access::target_app(&ctx, Some(uri), ev.app_id.as_deref().unwrap_or(""))
                    .await
            }
            None => ev.app_id.clone().unwrap_or_default(),
        };
        let mut sign_in = SignInContext::new(
            conditional_access::user_facts(&ctx, user)
                .await
                .map_err(store_err)?,
            target,
            ev.client_app_used,
        );
        sign_in.ip = ev.ip_address.as_deref().and_then(parse_ip);
        sign_in.country = ctx.conditional_access().country(sign_in.ip);
        sign_in.platform = ev
            .user_agent
            .as_deref()
            .and_then(mailward_policy::platform_from_user_agent);
        sign_in.amr = if ev.amr.is_empty() {
            vec![Amr::Pwd]
        } else {
            ev.amr.clone()
        };
        let ev_time = ev.created_date_time;
        if sign_in.amr.contains(&Amr::Mfa) {
            sign_in.mfa_time = Some(ev_time);
        }
        replayed += 1;
        let entry = per_user
            .entry(
                ev.user_principal_name
                    .clone()
                    .unwrap_or_else(|| uid.to_string()),
            )
            .or_default();
        match set.evaluate(&sign_in, ev_time).decision {
            mailward_policy::Decision::Block { .. } => {
                blocked += 1;
                entry.blocked += 1;
            }
            mailward_policy::Decision::RequireControls(_) => {
                prompted += 1;
                entry.prompted += 1;
            }
            mailward_policy::Decision::Allow => entry.unaffected += 1,
        }
    }
    let users: Vec<Value> = per_user
        .into_iter()
        .filter(|(_, p)| p.blocked + p.prompted > 0)
        .map(|(upn, p)| {
            json!({ "userPrincipalName": upn, "blocked": p.blocked, "prompted": p.prompted, "unaffected": p.unaffected })
        })
        .collect();
    Ok(Json(json!({
        "policy": policy.display_name.get(),
        "since": since.format(&Rfc3339).unwrap_or_default(),
        "signInsReplayed": replayed,
        "wouldBlock": blocked,
        "wouldPrompt": prompted,
        "users": users,
    }))
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_forms() {
        let now = OffsetDateTime::UNIX_EPOCH + time::Duration::days(100);
        assert_eq!(
            parse_since("30d", now),
            Some(now - time::Duration::days(30))
        );
        assert_eq!(
            parse_since("12h", now),
            Some(now - time::Duration::hours(12))
        );
        assert_eq!(
            parse_since("1970-01-02T00:00:00Z", now),
            Some(OffsetDateTime::UNIX_EPOCH + time::Duration::days(1))
        );
        for bad in ["", "d", "30x", "-3d", "soon"] {
            assert_eq!(parse_since(bad, now), None, "{bad}");
        }
    }

    #[test]
    fn merge_is_deep_for_objects_and_replaces_lists() {
        let mut v = json!({"a": {"b": 1, "c": [1, 2]}, "d": 1});
        merge(&mut v, &json!({"a": {"c": [3]}, "d": null}));
        assert_eq!(v, json!({"a": {"b": 1, "c": [3]}, "d": null}));
    }

    #[test]
    fn graph_timestamps_have_seven_digits() {
        let t = OffsetDateTime::UNIX_EPOCH + time::Duration::milliseconds(1_234);
        assert_eq!(graph_time(t), "1970-01-01T00:00:01.2340000Z");
    }
}
