//! The mail admin API (`/admin/v1/...`), Exchange's cmdlets as JSON:
//!
//! | request | cmdlet |
//! |---|---|
//! | `GET/POST /authenticationPolicies`, `GET/PATCH/DELETE /authenticationPolicies/{name}` | `Get-/New-/Set-/Remove-AuthenticationPolicy` |
//! | `GET/POST /mailboxes`, `GET/PATCH /mailboxes/{address}` (`authenticationPolicy`) | `Get-/Enable-Mailbox`, `Set-User -AuthenticationPolicy` |
//! | `GET/PATCH /organization` (`defaultAuthenticationPolicy`) | `Get-/Set-OrganizationConfig -DefaultAuthenticationPolicy` |
//! | `GET /queue`, `GET/DELETE /queue/{id}`, `POST /queue/{id}/retry` (`queue.rs`) | `Get-Queue`, `Remove-Message`, `Retry-Queue` |
//!
//! Policies are the JSON `Get-AuthenticationPolicy | ConvertTo-Json` prints (what
//! `mailward-authpolicy` imports and exports). Every change applies to the next
//! authentication (the pipeline's cached answers are dropped).
//!
//! Callers: an admin's bearer token for this mail instance (audience = its resource URI,
//! scope `Exchange.Manage`) — a token for identity or for another resource is refused, so
//! this instance never holds a token it could replay elsewhere. The caller's admin roles
//! and enabled state are read live from identity's directory lookup for mail instances
//! (`GET <identity>/mail/v1/users/{id}`, with this instance's own client credentials), as
//! is the user a new mailbox belongs to: the directory, not the caller, says who a
//! `userId` is and what their address is. Or the local CLI, which runs this router
//! in-process and marks requests with [`LocalAdmin`] (an extension no network request can
//! carry); filesystem access to the data directory is its authority.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use mailward_authpolicy::AuthenticationPolicy;
use mailward_mailauth::{
    BearerConfig, BearerValidator, Pipeline, Revocations, Standing, TokenError,
};
use mailward_mailstore::{Account, MailStore, NewAccount};
use mailward_types::Secret;
use mailward_types::model::well_known;
use serde_json::{Map, Value, json};

use super::{GraphError, Shared};
use crate::role::IdentityLink;

/// Marks an in-process request from the local CLI (filesystem access to the data
/// directory is the authority).
#[derive(Debug, Clone, Copy)]
pub struct LocalAdmin;

/// What an admin may do here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Permission {
    Read,
    /// Authentication policies, their assignment and the organization default.
    ManagePolicies,
    /// Creating mailboxes.
    ManageMailboxes,
    /// Retrying and deleting queued outbound mail (Global Administrators only).
    ManageQueue,
}

/// The authenticated caller of the admin API.
#[derive(Debug, Clone)]
pub(crate) struct AdminCaller {
    pub name: String,
    roles: Vec<String>,
    /// The local CLI (trusted with what it says about directory users).
    local: bool,
}

impl AdminCaller {
    fn local() -> AdminCaller {
        AdminCaller {
            name: "local administrator".into(),
            roles: vec!["GlobalAdministrator".into()],
            local: true,
        }
    }

    pub fn may(&self, p: Permission) -> bool {
        self.roles.iter().any(|r| {
            matches!(
                (r.as_str(), p),
                ("GlobalAdministrator", _)
                    | ("GlobalReader", Permission::Read)
                    | (
                        "SecurityAdministrator",
                        Permission::Read | Permission::ManagePolicies
                    )
                    | (
                        "UserAdministrator",
                        Permission::Read | Permission::ManageMailboxes
                    )
            )
        })
    }

    pub fn require(self, p: Permission) -> Result<AdminCaller, Response> {
        if self.may(p) {
            Ok(self)
        } else {
            Err(GraphError::new(
                StatusCode::FORBIDDEN,
                "Authorization_RequestDenied",
                "Insufficient privileges to complete the operation.",
            )
            .into_response())
        }
    }

    /// Authenticates the caller of a request.
    pub async fn from_parts(parts: &mut Parts, s: &Shared) -> Result<AdminCaller, Response> {
        caller(parts, s.admin.as_deref()).await
    }
}

async fn caller(parts: &Parts, tokens: Option<&TokenCheck>) -> Result<AdminCaller, Response> {
    if parts.extensions.get::<LocalAdmin>().is_some() {
        return Ok(AdminCaller::local());
    }
    let token = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let (Some(token), Some(tokens)) = (token, tokens) else {
        return Err(admin_challenge(None));
    };
    tokens.check(token).await
}

fn admin_challenge(error: Option<&str>) -> Response {
    let mut res = GraphError::new(
        StatusCode::UNAUTHORIZED,
        "InvalidAuthenticationToken",
        "An administrator's access token for this mail instance (scope Exchange.Manage) is required.",
    )
    .into_response();
    let value = match error {
        Some(e) => format!("Bearer realm=\"mailward\", error=\"{e}\""),
        None => "Bearer realm=\"mailward\"".to_string(),
    };
    if let Ok(v) = HeaderValue::from_str(&value) {
        res.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    res
}

/// Checks admin tokens: identity's signature, issuer and audience (this instance's
/// resource), revocation, the admin scope, then the user's roles and enabled state, asked
/// of identity's directory lookup for mail instances.
#[derive(Debug)]
pub(crate) struct TokenCheck {
    validator: BearerValidator,
    revocations: Arc<Revocations>,
    directory: Option<Directory>,
}

/// Identity's directory lookup for mail instances, with this instance's credentials.
#[derive(Debug)]
struct Directory {
    url: String,
    client_id: String,
    client_secret: Secret<String>,
    http: reqwest::Client,
}

/// A directory user as identity describes it to mail instances.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DirectoryUser {
    id: uuid::Uuid,
    user_principal_name: String,
    mail: Option<String>,
    display_name: String,
    account_enabled: bool,
    #[serde(default)]
    roles: Vec<String>,
}

impl TokenCheck {
    pub fn new(
        id: &IdentityLink,
        resource_uri: &str,
        revocations: Arc<Revocations>,
    ) -> Result<TokenCheck, String> {
        let mut cfg = BearerConfig::new(id.issuer.clone(), resource_uri.to_string());
        cfg.ca_file = id.ca_file.clone();
        let directory = match &id.relay {
            Some((client_id, secret)) => Some(Directory {
                url: format!("{}/mail/v1/users", id.url.trim_end_matches('/')),
                client_id: client_id.clone(),
                client_secret: secret.clone(),
                http: super::https_client(id.ca_file.as_deref())?,
            }),
            None => None,
        };
        Ok(TokenCheck {
            validator: BearerValidator::new(cfg).map_err(|e| e.to_string())?,
            revocations,
            directory,
        })
    }

    async fn check(&self, token: &str) -> Result<AdminCaller, Response> {
        let now = mailward_types::clock::now();
        let verified = match self.validator.verify(token, now).await {
            Ok(v) => v,
            Err(TokenError::Invalid(code)) => {
                tracing::info!(code, "admin token refused");
                return Err(admin_challenge(Some("invalid_token")));
            }
            Err(TokenError::KeysUnavailable(e)) => {
                tracing::warn!(error = %e, "admin token not checked: identity's keys unavailable");
                return Err(GraphError::unavailable().into_response());
            }
        };
        match self
            .revocations
            .standing(verified.oid, verified.issued_ms(), now)
        {
            Standing::Valid => {}
            Standing::Revoked => {
                tracing::info!("admin token refused: revoked by identity");
                return Err(admin_challenge(Some("invalid_token")));
            }
            Standing::Unknown => {
                tracing::warn!("admin token not accepted: identity's revocation feed is silent");
                return Err(GraphError::unavailable().into_response());
            }
        }
        if !verified
            .scopes
            .iter()
            .any(|s| s.eq_ignore_ascii_case(well_known::MAIL_ADMIN_SCOPE))
        {
            return Err(GraphError::new(
                StatusCode::FORBIDDEN,
                "Authorization_RequestDenied",
                "The token lacks the Exchange.Manage scope.",
            )
            .into_response());
        }
        let user = self.directory_user(&verified.oid.to_string()).await?;
        if !user.account_enabled {
            tracing::info!("admin token refused: the user is disabled");
            return Err(admin_challenge(Some("invalid_token")));
        }
        if user.roles.is_empty() {
            return Err(GraphError::new(
                StatusCode::FORBIDDEN,
                "Authorization_RequestDenied",
                "The user holds no admin role.",
            )
            .into_response());
        }
        Ok(AdminCaller {
            name: verified.upn,
            roles: user.roles,
            local: false,
        })
    }

    /// A user from identity's directory, by id or UPN.
    pub(crate) async fn directory_user(&self, key: &str) -> Result<DirectoryUser, Response> {
        let Some(d) = &self.directory else {
            tracing::error!(
                "the admin API needs identity's directory, but no relay application is configured (mail.identity.relay_client_id)"
            );
            return Err(GraphError::unavailable().into_response());
        };
        let key: String = url::form_urlencoded::byte_serialize(key.as_bytes()).collect();
        let res = d
            .http
            .get(format!("{}/{key}", d.url))
            .basic_auth(
                form_encode(&d.client_id),
                Some(form_encode(d.client_secret.expose_secret())),
            )
            .send()
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "identity's directory is unreachable");
                GraphError::unavailable().into_response()
            })?;
        match res.status().as_u16() {
            200 => res.json().await.map_err(|e| {
                tracing::error!(error = %e, "identity's directory answer is not understood");
                GraphError::unavailable().into_response()
            }),
            404 => Err(GraphError::not_found("No such user in the directory.").into_response()),
            status => {
                tracing::warn!(status, "identity's directory lookup failed");
                Err(GraphError::unavailable().into_response())
            }
        }
    }
}

fn form_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// What the admin handlers share.
#[derive(Debug, Clone)]
pub(crate) struct AdminState {
    pub(super) store: Arc<dyn MailStore>,
    /// Dropped policy caches after a change (none for the local CLI router).
    pipeline: Option<Arc<Pipeline>>,
    tokens: Option<Arc<TokenCheck>>,
}

impl AdminState {
    fn changed(&self) {
        if let Some(p) = &self.pipeline {
            p.invalidate_policy_cache();
        }
    }
}

impl FromRequestParts<AdminState> for AdminCaller {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, s: &AdminState) -> Result<Self, Response> {
        caller(parts, s.tokens.as_deref()).await
    }
}

/// The admin API as mounted on the HTTP front.
pub(crate) fn routes(shared: Arc<Shared>) -> Router {
    admin_routes(AdminState {
        store: shared.store.clone(),
        pipeline: Some(shared.pipeline.clone()),
        tokens: shared.admin.clone(),
    })
}

/// The admin API over a mail store, for the local CLI: requests must carry
/// [`LocalAdmin`]; nothing else is accepted.
pub fn local_admin_router(store: Arc<dyn MailStore>) -> Router {
    admin_routes(AdminState {
        store,
        pipeline: None,
        tokens: None,
    })
}

fn admin_routes(state: AdminState) -> Router {
    Router::new()
        .route(
            "/admin/v1/authenticationPolicies",
            get(list_policies).post(create_policy),
        )
        .route(
            "/admin/v1/authenticationPolicies/{name}",
            get(get_policy).patch(patch_policy).delete(delete_policy),
        )
        .route("/admin/v1/mailboxes", get(list_mailboxes).post(add_mailbox))
        .route(
            "/admin/v1/mailboxes/{address}",
            get(get_mailbox).patch(patch_mailbox),
        )
        .route(
            "/admin/v1/organization",
            get(get_organization).patch(patch_organization),
        )
        .merge(super::queue::routes())
        .with_state(state)
}

type Answer = Result<Response, Response>;

fn err(e: impl Into<GraphError>) -> Response {
    e.into().into_response()
}

fn json_object(body: &[u8]) -> Result<Map<String, Value>, Response> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(err(GraphError::bad_request(
            "Request_BadRequest",
            "The request body must be a JSON object.",
        ))),
        Err(e) => Err(err(GraphError::bad_request(
            "Request_BadRequest",
            format!("The request body is not valid JSON: {e}"),
        ))),
    }
}

fn import_error(e: mailward_authpolicy::ImportError) -> Response {
    let code = e
        .errors
        .first()
        .map_or("AUTHPOLICY_INVALID", |f| f.kind.code());
    err(GraphError::bad_request(code, e.to_string()))
}

fn policy_json(p: &AuthenticationPolicy) -> Value {
    serde_json::to_value(p).unwrap_or(Value::Null)
}

async fn list_policies(State(s): State<AdminState>, who: AdminCaller) -> Answer {
    who.require(Permission::Read)?;
    let policies = s.store.auth_policies().await.map_err(err)?;
    let default = s.store.default_auth_policy().await.map_err(err)?;
    Ok(Json(json!({
        "value": policies.iter().map(policy_json).collect::<Vec<_>>(),
        "defaultAuthenticationPolicy": default,
    }))
    .into_response())
}

async fn get_policy(
    State(s): State<AdminState>,
    who: AdminCaller,
    Path(name): Path<String>,
) -> Answer {
    who.require(Permission::Read)?;
    let p = s
        .store
        .auth_policy(&name)
        .await
        .map_err(err)?
        .ok_or_else(|| {
            err(GraphError::not_found(format!(
                "No authentication policy named '{name}'."
            )))
        })?;
    Ok(Json(policy_json(&p)).into_response())
}

async fn create_policy(State(s): State<AdminState>, who: AdminCaller, body: Bytes) -> Answer {
    let who = who.require(Permission::ManagePolicies)?;
    let text = std::str::from_utf8(&body).map_err(|_| {
        err(GraphError::bad_request(
            "Request_BadRequest",
            "The body is not UTF-8.",
        ))
    })?;
    let policy = AuthenticationPolicy::from_json(text).map_err(import_error)?;
    if s.store
        .auth_policy(policy.name().as_str())
        .await
        .map_err(err)?
        .is_some()
    {
        return Err(err(GraphError::new(
            StatusCode::CONFLICT,
            "ErrorAlreadyExists",
            format!(
                "An authentication policy named '{}' already exists.",
                policy.name()
            ),
        )));
    }
    s.store.put_auth_policy(&policy).await.map_err(err)?;
    s.changed();
    tracing::info!(by = %who.name, policy = %policy.name(), "authentication policy created");
    Ok((StatusCode::CREATED, Json(policy_json(&policy))).into_response())
}

async fn patch_policy(
    State(s): State<AdminState>,
    who: AdminCaller,
    Path(name): Path<String>,
    body: Bytes,
) -> Answer {
    let who = who.require(Permission::ManagePolicies)?;
    let patch = json_object(&body)?;
    let current = s
        .store
        .auth_policy(&name)
        .await
        .map_err(err)?
        .ok_or_else(|| {
            err(GraphError::not_found(format!(
                "No authentication policy named '{name}'."
            )))
        })?;
    let Value::Object(mut merged) = policy_json(&current) else {
        return Err(err(GraphError::internal("policy export is not an object")));
    };
    for (key, value) in patch {
        if key.eq_ignore_ascii_case("Name") {
            if value
                .as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case(current.name().as_str()))
            {
                continue;
            }
            return Err(err(GraphError::bad_request(
                "AUTHPOLICY_INVALID",
                "A policy cannot be renamed (Set-AuthenticationPolicy has no -Name).",
            )));
        }
        // Switch names are case-insensitive: replace the stored spelling.
        let existing = merged
            .keys()
            .find(|k| k.eq_ignore_ascii_case(&key))
            .cloned();
        merged.insert(existing.unwrap_or(key), value);
    }
    let updated = AuthenticationPolicy::from_json(&Value::Object(merged).to_string())
        .map_err(import_error)?;
    s.store.put_auth_policy(&updated).await.map_err(err)?;
    s.changed();
    tracing::info!(by = %who.name, policy = %updated.name(), "authentication policy changed");
    Ok(Json(policy_json(&updated)).into_response())
}

async fn delete_policy(
    State(s): State<AdminState>,
    who: AdminCaller,
    Path(name): Path<String>,
) -> Answer {
    let who = who.require(Permission::ManagePolicies)?;
    s.store
        .delete_auth_policy(&name)
        .await
        .map_err(|e| match e {
            mailward_mailstore::StoreError::Invalid(msg) => err(GraphError::new(
                StatusCode::CONFLICT,
                "ErrorPolicyInUse",
                format!("{msg}; assign another policy first."),
            )),
            other => err(other),
        })?;
    s.changed();
    tracing::info!(by = %who.name, policy = %name, "authentication policy removed");
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn mailbox_json(a: &Account) -> Value {
    json!({
        "id": a.id,
        "userId": a.user_oid,
        "userPrincipalName": a.upn,
        "address": a.address,
        "displayName": a.display_name,
        "authenticationPolicy": a.auth_policy,
        "createdDateTime": crate::graph::rfc3339(a.created),
    })
}

async fn find_mailbox(s: &AdminState, key: &str) -> Result<Account, Response> {
    let found = match uuid::Uuid::parse_str(key) {
        Ok(id) => match s.store.account(id).await.map_err(err)? {
            Some(a) => Some(a),
            None => s.store.account_by_user(id).await.map_err(err)?,
        },
        Err(_) => match s.store.account_by_address(key).await.map_err(err)? {
            Some(a) => Some(a),
            // A UPN that is not also an address of the mailbox.
            None => s
                .store
                .list_accounts()
                .await
                .map_err(err)?
                .into_iter()
                .find(|a| a.upn.eq_ignore_ascii_case(key)),
        },
    };
    found.ok_or_else(|| err(GraphError::not_found(format!("No mailbox for '{key}'."))))
}

async fn list_mailboxes(State(s): State<AdminState>, who: AdminCaller) -> Answer {
    who.require(Permission::Read)?;
    let accounts = s.store.list_accounts().await.map_err(err)?;
    Ok(
        Json(json!({"value": accounts.iter().map(mailbox_json).collect::<Vec<_>>()}))
            .into_response(),
    )
}

async fn get_mailbox(
    State(s): State<AdminState>,
    who: AdminCaller,
    Path(address): Path<String>,
) -> Answer {
    who.require(Permission::Read)?;
    let a = find_mailbox(&s, &address).await?;
    Ok(Json(mailbox_json(&a)).into_response())
}

fn string_field(m: &Map<String, Value>, key: &str) -> Result<Option<String>, Response> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(v)) => Ok(Some(v.trim().to_string()).filter(|v| !v.is_empty())),
        Some(_) => Err(err(GraphError::bad_request(
            "Request_BadRequest",
            format!("{key} must be a string."),
        ))),
    }
}

fn only_keys(m: &Map<String, Value>, allowed: &[&str]) -> Result<(), Response> {
    match m.keys().find(|k| !allowed.contains(&k.as_str())) {
        None => Ok(()),
        Some(k) => Err(err(GraphError::bad_request(
            "Request_BadRequest",
            format!("Unknown property '{k}' (known: {}).", allowed.join(", ")),
        ))),
    }
}

/// `POST /admin/v1/mailboxes` `{userPrincipalName, userId?, displayName?, mail?}`: creates
/// the mailbox of an identity user. Over the network the user is always looked up in
/// identity's directory (by `userId`, else the UPN) and the directory's UPN, address and
/// name are used; a `userId` or `mail` that disagrees with it is refused. The local CLI
/// passes what it read from identity's data itself.
async fn add_mailbox(State(s): State<AdminState>, who: AdminCaller, body: Bytes) -> Answer {
    let who = who.require(Permission::ManageMailboxes)?;
    let m = json_object(&body)?;
    only_keys(&m, &["userPrincipalName", "userId", "displayName", "mail"])?;
    let upn = string_field(&m, "userPrincipalName")?.ok_or_else(|| {
        err(GraphError::bad_request(
            "Request_BadRequest",
            "userPrincipalName is required.",
        ))
    })?;
    let user_id = string_field(&m, "userId")?
        .map(|id| {
            uuid::Uuid::parse_str(&id).map_err(|_| {
                err(GraphError::bad_request(
                    "Request_BadRequest",
                    "userId must be a GUID.",
                ))
            })
        })
        .transpose()?;
    let given_mail = string_field(&m, "mail")?;
    let (user_oid, upn, display_name, mail) = match (who.local, s.tokens.as_deref()) {
        (false, Some(tokens)) => {
            let key = user_id.map_or_else(|| upn.clone(), |id| id.to_string());
            let u = tokens.directory_user(&key).await?;
            let disagrees = |what: &str| {
                err(GraphError::bad_request(
                    "Request_BadRequest",
                    format!("{what} does not match the directory's user {}.", u.id),
                ))
            };
            if !u.user_principal_name.eq_ignore_ascii_case(&upn) {
                return Err(disagrees("userPrincipalName"));
            }
            if user_id.is_some_and(|id| id != u.id) {
                return Err(disagrees("userId"));
            }
            if let Some(given) = &given_mail
                && !u
                    .mail
                    .as_deref()
                    .unwrap_or(&u.user_principal_name)
                    .eq_ignore_ascii_case(given)
            {
                return Err(disagrees("mail"));
            }
            (u.id, u.user_principal_name, u.display_name, u.mail)
        }
        (true, _) => {
            let Some(id) = user_id else {
                return Err(err(GraphError::bad_request(
                    "Request_BadRequest",
                    "userId is required when the directory cannot be asked.",
                )));
            };
            (
                id,
                upn.clone(),
                string_field(&m, "displayName")?.unwrap_or_else(|| upn.clone()),
                given_mail,
            )
        }
        (false, None) => return Err(err(GraphError::unavailable())),
    };
    let address = mail.unwrap_or_else(|| upn.clone()).to_lowercase();
    if !crate::graph::valid_address(&address) {
        return Err(err(GraphError::bad_request(
            "Request_BadRequest",
            format!("'{address}' is not a valid mail address."),
        )));
    }
    if s.store
        .account_by_user(user_oid)
        .await
        .map_err(err)?
        .is_some()
    {
        return Err(err(GraphError::new(
            StatusCode::CONFLICT,
            "ErrorAlreadyExists",
            format!("{upn} already has a mailbox."),
        )));
    }
    let account = s
        .store
        .ensure_account(NewAccount {
            user_oid,
            upn,
            address,
            display_name,
            now: mailward_types::clock::now(),
        })
        .await
        .map_err(err)?;
    tracing::info!(by = %who.name, mailbox = %account.address, "mailbox created");
    Ok((StatusCode::CREATED, Json(mailbox_json(&account))).into_response())
}

async fn patch_mailbox(
    State(s): State<AdminState>,
    who: AdminCaller,
    Path(address): Path<String>,
    body: Bytes,
) -> Answer {
    let who = who.require(Permission::ManagePolicies)?;
    let m = json_object(&body)?;
    only_keys(&m, &["authenticationPolicy"])?;
    let account = find_mailbox(&s, &address).await?;
    if m.contains_key("authenticationPolicy") {
        let policy = string_field(&m, "authenticationPolicy")?;
        s.store
            .set_account_policy(account.id, policy.as_deref())
            .await
            .map_err(err)?;
        s.changed();
        tracing::info!(by = %who.name, mailbox = %account.address, policy = ?policy, "mailbox authentication policy set");
    }
    let account = find_mailbox(&s, &account.id.to_string()).await?;
    Ok(Json(mailbox_json(&account)).into_response())
}

async fn get_organization(State(s): State<AdminState>, who: AdminCaller) -> Answer {
    who.require(Permission::Read)?;
    let default = s.store.default_auth_policy().await.map_err(err)?;
    Ok(Json(json!({"defaultAuthenticationPolicy": default})).into_response())
}

async fn patch_organization(State(s): State<AdminState>, who: AdminCaller, body: Bytes) -> Answer {
    let who = who.require(Permission::ManagePolicies)?;
    let m = json_object(&body)?;
    only_keys(&m, &["defaultAuthenticationPolicy"])?;
    if m.contains_key("defaultAuthenticationPolicy") {
        let policy = string_field(&m, "defaultAuthenticationPolicy")?;
        s.store
            .set_default_auth_policy(policy.as_deref())
            .await
            .map_err(err)?;
        s.changed();
        tracing::info!(by = %who.name, policy = ?policy, "organization default authentication policy set");
    }
    let default = s.store.default_auth_policy().await.map_err(err)?;
    Ok(Json(json!({"defaultAuthenticationPolicy": default})).into_response())
}
