//! The admin API: a Graph-shaped subset for users, groups, applications, resources and
//! domains. Callers are an admin user's bearer token for identity's resource (scope
//! `Directory.AccessAsUser.All`, role checked live), or the local CLI, which runs this same
//! router in-process and marks requests with [`LocalAdmin`] (an extension no network
//! request can carry).
//!
//! Admin tiers (Entra's rule): only a GlobalAdministrator may change the password, MFA
//! methods, sessions, UPN, mail or enabled state of a user who holds any admin role, or
//! delete one, and only a GlobalAdministrator grants roles; so a UserAdministrator cannot
//! take over a higher admin. Groups that conditional access policies name are changed
//! (members, name) only by Global or Security Administrators and cannot be deleted while
//! named (409 naming the policies).

use super::bearer::{bearer_user, challenge};
use crate::directory::{
    AdminError, AppPatch, AppView, Directory, GroupView, NewApp, NewResource, NewUser, UserPatch,
    UserView,
};
use crate::state::Ctx;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use mailward_types::model::{Group, Role, User, UserSource, well_known};
use serde::Deserialize;
use serde_json::{Value, json};

/// Marks an in-process request from the local CLI (filesystem access to the data
/// directory is the authority).
#[derive(Debug, Clone, Copy)]
pub struct LocalAdmin;

/// What an admin may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    Read,
    ManageUsers,
    ManageApps,
    ManageDomains,
    ReadLogs,
    /// Conditional access policies and named locations.
    ManagePolicies,
}

/// The authenticated caller of the admin API.
#[derive(Debug, Clone)]
pub struct AdminUser {
    pub name: String,
    pub roles: Vec<Role>,
}

impl AdminUser {
    pub fn may(&self, p: Permission) -> bool {
        self.roles.iter().any(|r| {
            matches!(
                (r, p),
                (Role::GlobalAdministrator, _)
                    | (Role::GlobalReader, Permission::Read | Permission::ReadLogs)
                    | (
                        Role::UserAdministrator,
                        Permission::Read | Permission::ManageUsers
                    )
                    | (
                        Role::SecurityAdministrator,
                        Permission::Read | Permission::ReadLogs | Permission::ManagePolicies
                    )
            )
        })
    }

    pub fn is_global(&self) -> bool {
        self.roles.contains(&Role::GlobalAdministrator)
    }

    /// Refuses changes to a user who holds an admin role unless the caller is a
    /// GlobalAdministrator.
    pub fn require_tier(&self, target: &User) -> Result<(), Response> {
        if target.roles.is_empty() || self.is_global() {
            Ok(())
        } else {
            Err(api_error(
                StatusCode::FORBIDDEN,
                "Authorization_RequestDenied",
                &format!(
                    "'{}' holds an admin role ({}); only a GlobalAdministrator may change it.",
                    target.upn,
                    target
                        .roles
                        .iter()
                        .map(|r| r.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ))
        }
    }

    pub fn require(&self, p: Permission) -> Result<(), Response> {
        if self.may(p) {
            Ok(())
        } else {
            Err(api_error(
                StatusCode::FORBIDDEN,
                "Authorization_RequestDenied",
                "Insufficient privileges to complete the operation.",
            ))
        }
    }
}

impl FromRequestParts<Ctx> for AdminUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, ctx: &Ctx) -> Result<Self, Self::Rejection> {
        if parts.extensions.get::<LocalAdmin>().is_some() {
            return Ok(AdminUser {
                name: "local administrator".into(),
                roles: vec![Role::GlobalAdministrator],
            });
        }
        let now = mailward_types::clock::now();
        let b = bearer_user(ctx, &parts.headers, now).await?;
        if !b.scopes().contains(&well_known::ADMIN_SCOPE) {
            return Err(challenge(
                Some((
                    "insufficient_scope",
                    "The token lacks the Directory.AccessAsUser.All scope.",
                )),
                StatusCode::FORBIDDEN,
            ));
        }
        if b.user.roles.is_empty() {
            return Err(api_error(
                StatusCode::FORBIDDEN,
                "Authorization_RequestDenied",
                "The user holds no admin role.",
            ));
        }
        Ok(AdminUser {
            name: b.user.upn.to_string(),
            roles: b.user.roles.clone(),
        })
    }
}

pub(crate) fn routes() -> Router<Ctx> {
    Router::new()
        .route("/v1.0/users", get(list_users).post(create_user))
        .route(
            "/v1.0/users/{key}",
            get(get_user).patch(patch_user).delete(delete_user),
        )
        .route("/v1.0/users/{key}/resetMfa", post(reset_mfa))
        .route(
            "/v1.0/users/{key}/revokeSignInSessions",
            post(revoke_sessions),
        )
        .route("/v1.0/groups", get(list_groups).post(create_group))
        .route(
            "/v1.0/groups/{key}",
            get(get_group).patch(patch_group).delete(delete_group),
        )
        .route("/v1.0/groups/{key}/members", post(add_member))
        .route(
            "/v1.0/groups/{key}/members/{user}",
            axum::routing::delete(remove_member),
        )
        .route("/v1.0/applications", get(list_apps).post(create_app))
        .route(
            "/v1.0/applications/{id}",
            get(get_app).patch(patch_app).delete(delete_app),
        )
        .route("/v1.0/applications/{id}/secret", post(new_secret))
        .route("/v1.0/resources", get(list_resources).post(create_resource))
        .route("/v1.0/domains", get(list_domains).post(create_domain))
        .route(
            "/v1.0/domains/{name}",
            axum::routing::patch(patch_domain).delete(delete_domain),
        )
}

pub(crate) fn api_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({ "error": { "code": code, "message": message } })),
    )
        .into_response()
}

fn admin_error(e: AdminError) -> Response {
    let status = match &e {
        AdminError::NotFound(_) => StatusCode::NOT_FOUND,
        AdminError::Conflict(_) => StatusCode::CONFLICT,
        AdminError::Invalid(_) => StatusCode::BAD_REQUEST,
        AdminError::Busy => StatusCode::SERVICE_UNAVAILABLE,
        AdminError::Store(inner) => {
            tracing::error!(error = %inner, "admin operation failed");
            StatusCode::INTERNAL_SERVER_ERROR
        }
    };
    let message = match &e {
        AdminError::Store(_) => "An internal error occurred.".to_string(),
        other => other.to_string(),
    };
    api_error(status, e.code(), &message)
}

/// Parses a JSON body with a clear error instead of axum's plain-text rejection.
fn body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, Response> {
    serde_json::from_slice(bytes).map_err(|e| {
        api_error(
            StatusCode::BAD_REQUEST,
            "Request_BadRequest",
            &format!("Invalid JSON body: {e}"),
        )
    })
}

fn dir(ctx: &Ctx) -> Directory {
    crate::directory_for(ctx)
}

type R = Result<Response, Response>;

fn list<T: serde::Serialize>(items: Vec<T>) -> Response {
    Json(json!({ "value": items })).into_response()
}

async fn list_users(State(ctx): State<Ctx>, admin: AdminUser) -> R {
    admin.require(Permission::Read)?;
    let users = ctx
        .store()
        .list_users()
        .await
        .map_err(|e| admin_error(e.into()))?;
    Ok(list(users.iter().map(UserView::from).collect()))
}

async fn create_user(State(ctx): State<Ctx>, admin: AdminUser, raw: axum::body::Bytes) -> R {
    admin.require(Permission::ManageUsers)?;
    let new: NewUser = body(&raw)?;
    if !new.roles.is_empty() && !admin.is_global() {
        return Err(api_error(
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
            "Only a GlobalAdministrator may grant roles.",
        ));
    }
    let now = mailward_types::clock::now();
    let user = dir(&ctx)
        .add_user(new, UserSource::Cloud, now)
        .await
        .map_err(admin_error)?;
    tracing::info!(admin = %admin.name, user = %user.upn, "user created");
    Ok((StatusCode::CREATED, Json(UserView::from(&user))).into_response())
}

async fn get_user(State(ctx): State<Ctx>, admin: AdminUser, Path(key): Path<String>) -> R {
    admin.require(Permission::Read)?;
    let d = dir(&ctx);
    let user = d.find_user(&key).await.map_err(admin_error)?;
    let methods = crate::mfa_methods::methods(&ctx, user.id)
        .await
        .map_err(|e| admin_error(e.into()))?;
    let groups = ctx
        .store()
        .groups_of_user(user.id)
        .await
        .map_err(|e| admin_error(e.into()))?;
    let mut names = vec![];
    for g in groups {
        if let Ok(Some(g)) = ctx.store().group_by_id(g).await {
            names.push(g.display_name);
        }
    }
    let mut v = serde_json::to_value(UserView::from(&user)).unwrap_or(Value::Null);
    v["authenticationMethods"] = json!({
        "totp": methods.totp, "passkeys": methods.passkeys, "unusedRecoveryCodes": methods.recovery_codes,
    });
    v["memberOf"] = json!(names);
    Ok(Json(v).into_response())
}

async fn patch_user(
    State(ctx): State<Ctx>,
    admin: AdminUser,
    Path(key): Path<String>,
    raw: axum::body::Bytes,
) -> R {
    admin.require(Permission::ManageUsers)?;
    let patch: UserPatch = body(&raw)?;
    if patch.roles.is_some() && !admin.is_global() {
        return Err(api_error(
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
            "Only a GlobalAdministrator may change roles.",
        ));
    }
    let d = dir(&ctx);
    let target = d.find_user(&key).await.map_err(admin_error)?;
    if !patch.display_name_only() {
        admin.require_tier(&target)?;
    }
    let now = mailward_types::clock::now();
    let user = d
        .update_user(&target.id.to_string(), patch, now)
        .await
        .map_err(admin_error)?;
    tracing::info!(admin = %admin.name, user = %user.upn, "user updated");
    Ok(Json(UserView::from(&user)).into_response())
}

async fn delete_user(State(ctx): State<Ctx>, admin: AdminUser, Path(key): Path<String>) -> R {
    admin.require(Permission::ManageUsers)?;
    let d = dir(&ctx);
    let target = d.find_user(&key).await.map_err(admin_error)?;
    admin.require_tier(&target)?;
    d.delete_user(&target.id.to_string(), mailward_types::clock::now())
        .await
        .map_err(admin_error)?;
    tracing::info!(admin = %admin.name, user = %key, "user deleted");
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn reset_mfa(State(ctx): State<Ctx>, admin: AdminUser, Path(key): Path<String>) -> R {
    admin.require(Permission::ManageUsers)?;
    let d = dir(&ctx);
    let target = d.find_user(&key).await.map_err(admin_error)?;
    admin.require_tier(&target)?;
    let now = mailward_types::clock::now();
    let user = d
        .reset_mfa(&target.id.to_string(), now)
        .await
        .map_err(admin_error)?;
    tracing::info!(admin = %admin.name, user = %user.upn, "MFA methods reset");
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn revoke_sessions(State(ctx): State<Ctx>, admin: AdminUser, Path(key): Path<String>) -> R {
    admin.require(Permission::ManageUsers)?;
    let now = mailward_types::clock::now();
    let d = dir(&ctx);
    let user = d.find_user(&key).await.map_err(admin_error)?;
    admin.require_tier(&user)?;
    d.revoke_sessions(user.id, now).await.map_err(admin_error)?;
    tracing::info!(admin = %admin.name, user = %user.upn, "sessions revoked");
    Ok(Json(json!({ "value": true })).into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct NewGroup {
    display_name: String,
    description: Option<String>,
}

async fn list_groups(State(ctx): State<Ctx>, admin: AdminUser) -> R {
    admin.require(Permission::Read)?;
    let d = dir(&ctx);
    let mut out: Vec<GroupView> = vec![];
    for g in ctx
        .store()
        .list_groups()
        .await
        .map_err(|e| admin_error(e.into()))?
    {
        out.push(d.group_view(&g).await.map_err(admin_error)?);
    }
    Ok(list(out))
}

async fn create_group(State(ctx): State<Ctx>, admin: AdminUser, raw: axum::body::Bytes) -> R {
    admin.require(Permission::ManageUsers)?;
    let new: NewGroup = body(&raw)?;
    let d = dir(&ctx);
    let g = d
        .add_group(
            &new.display_name,
            new.description,
            mailward_types::clock::now(),
        )
        .await
        .map_err(admin_error)?;
    Ok((
        StatusCode::CREATED,
        Json(d.group_view(&g).await.map_err(admin_error)?),
    )
        .into_response())
}

async fn get_group(State(ctx): State<Ctx>, admin: AdminUser, Path(key): Path<String>) -> R {
    admin.require(Permission::Read)?;
    let d = dir(&ctx);
    let g = d.find_group(&key).await.map_err(admin_error)?;
    Ok(Json(d.group_view(&g).await.map_err(admin_error)?).into_response())
}

/// The policies that name a group (display names), for the tier and delete checks.
async fn naming_policies(ctx: &Ctx, g: &Group) -> Result<Vec<String>, Response> {
    crate::conditional_access::policies_naming_group(ctx, g.id)
        .await
        .map_err(|e| admin_error(e.into()))
}

/// Changing a group that conditional access policies name changes who they apply to, so
/// it takes the permission to manage policies; other groups take `ManageUsers`.
async fn require_group_change(ctx: &Ctx, admin: &AdminUser, g: &Group) -> Result<(), Response> {
    let named = naming_policies(ctx, g).await?;
    if named.is_empty() {
        return admin.require(Permission::ManageUsers);
    }
    if admin.may(Permission::ManagePolicies) {
        return Ok(());
    }
    Err(api_error(
        StatusCode::FORBIDDEN,
        "Authorization_RequestDenied",
        &format!(
            "The group '{}' is named by conditional access policies ({}); only a Global or Security Administrator may change it.",
            g.display_name,
            named.join(", ")
        ),
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct GroupPatch {
    display_name: Option<String>,
    description: Option<String>,
}

async fn patch_group(
    State(ctx): State<Ctx>,
    admin: AdminUser,
    Path(key): Path<String>,
    raw: axum::body::Bytes,
) -> R {
    admin.require(Permission::Read)?;
    let patch: GroupPatch = body(&raw)?;
    let d = dir(&ctx);
    let g = d.find_group(&key).await.map_err(admin_error)?;
    require_group_change(&ctx, &admin, &g).await?;
    let g = d
        .update_group(g.id, patch.display_name, patch.description)
        .await
        .map_err(admin_error)?;
    tracing::info!(admin = %admin.name, group = %g.display_name, "group updated");
    Ok(Json(d.group_view(&g).await.map_err(admin_error)?).into_response())
}

async fn delete_group(State(ctx): State<Ctx>, admin: AdminUser, Path(key): Path<String>) -> R {
    admin.require(Permission::ManageUsers)?;
    let d = dir(&ctx);
    let g = d.find_group(&key).await.map_err(admin_error)?;
    let named = naming_policies(&ctx, &g).await?;
    if !named.is_empty() {
        return Err(api_error(
            StatusCode::CONFLICT,
            "Request_Conflict",
            &format!(
                "The group is used by conditional access policies: {}",
                named.join(", ")
            ),
        ));
    }
    d.delete_group(&g.id.to_string())
        .await
        .map_err(admin_error)?;
    tracing::info!(admin = %admin.name, group = %g.display_name, "group deleted");
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MemberRef {
    user: String,
}

async fn add_member(
    State(ctx): State<Ctx>,
    admin: AdminUser,
    Path(key): Path<String>,
    raw: axum::body::Bytes,
) -> R {
    admin.require(Permission::Read)?;
    let m: MemberRef = body(&raw)?;
    let d = dir(&ctx);
    let g = d.find_group(&key).await.map_err(admin_error)?;
    require_group_change(&ctx, &admin, &g).await?;
    d.add_member(&g.id.to_string(), &m.user)
        .await
        .map_err(admin_error)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn remove_member(
    State(ctx): State<Ctx>,
    admin: AdminUser,
    Path((key, user)): Path<(String, String)>,
) -> R {
    admin.require(Permission::Read)?;
    let d = dir(&ctx);
    let g = d.find_group(&key).await.map_err(admin_error)?;
    require_group_change(&ctx, &admin, &g).await?;
    d.remove_member(&g.id.to_string(), &user)
        .await
        .map_err(admin_error)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_apps(State(ctx): State<Ctx>, admin: AdminUser) -> R {
    admin.require(Permission::Read)?;
    let apps = ctx
        .store()
        .list_apps()
        .await
        .map_err(|e| admin_error(e.into()))?;
    Ok(list(apps.iter().map(AppView::from).collect()))
}

async fn create_app(State(ctx): State<Ctx>, admin: AdminUser, raw: axum::body::Bytes) -> R {
    admin.require(Permission::ManageApps)?;
    ctx.invalidate_cache();
    let new: NewApp = body(&raw)?;
    let created = dir(&ctx)
        .add_app(new, mailward_types::clock::now())
        .await
        .map_err(admin_error)?;
    tracing::info!(admin = %admin.name, app = %created.application.app_id, "application created");
    // Again after the change: a request may have cached the old object meanwhile.
    ctx.invalidate_cache();
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

async fn get_app(State(ctx): State<Ctx>, admin: AdminUser, Path(id): Path<String>) -> R {
    admin.require(Permission::Read)?;
    let app = dir(&ctx).find_app(&id).await.map_err(admin_error)?;
    Ok(Json(AppView::from(&app)).into_response())
}

async fn patch_app(
    State(ctx): State<Ctx>,
    admin: AdminUser,
    Path(id): Path<String>,
    raw: axum::body::Bytes,
) -> R {
    admin.require(Permission::ManageApps)?;
    ctx.invalidate_cache();
    let patch: AppPatch = body(&raw)?;
    let app = dir(&ctx)
        .update_app(&id, patch)
        .await
        .map_err(admin_error)?;
    // Again after the change: a request may have cached the old object meanwhile.
    ctx.invalidate_cache();
    Ok(Json(AppView::from(&app)).into_response())
}

async fn delete_app(State(ctx): State<Ctx>, admin: AdminUser, Path(id): Path<String>) -> R {
    admin.require(Permission::ManageApps)?;
    ctx.invalidate_cache();
    dir(&ctx).delete_app(&id).await.map_err(admin_error)?;
    // Again after the change: a request may have cached the old object meanwhile.
    ctx.invalidate_cache();
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn new_secret(State(ctx): State<Ctx>, admin: AdminUser, Path(id): Path<String>) -> R {
    admin.require(Permission::ManageApps)?;
    ctx.invalidate_cache();
    let secret = dir(&ctx).new_app_secret(&id).await.map_err(admin_error)?;
    // Again after the change: a request may have cached the old object meanwhile.
    ctx.invalidate_cache();
    Ok(Json(json!({ "clientSecret": secret })).into_response())
}

async fn list_resources(State(ctx): State<Ctx>, admin: AdminUser) -> R {
    admin.require(Permission::Read)?;
    let rs = ctx
        .store()
        .list_resources()
        .await
        .map_err(|e| admin_error(e.into()))?;
    Ok(list(rs))
}

async fn create_resource(State(ctx): State<Ctx>, admin: AdminUser, raw: axum::body::Bytes) -> R {
    admin.require(Permission::ManageApps)?;
    ctx.invalidate_cache();
    let new: NewResource = body(&raw)?;
    let r = dir(&ctx)
        .add_resource(new, mailward_types::clock::now())
        .await
        .map_err(admin_error)?;
    // Again after the change: a request may have cached the old object meanwhile.
    ctx.invalidate_cache();
    Ok((StatusCode::CREATED, Json(r)).into_response())
}

async fn list_domains(State(ctx): State<Ctx>, admin: AdminUser) -> R {
    admin.require(Permission::Read)?;
    let ds = ctx
        .store()
        .list_domains()
        .await
        .map_err(|e| admin_error(e.into()))?;
    Ok(list(ds))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewDomain {
    name: String,
}

async fn create_domain(State(ctx): State<Ctx>, admin: AdminUser, raw: axum::body::Bytes) -> R {
    admin.require(Permission::ManageDomains)?;
    let new: NewDomain = body(&raw)?;
    let d = dir(&ctx)
        .add_domain(&new.name, mailward_types::clock::now())
        .await
        .map_err(admin_error)?;
    Ok((StatusCode::CREATED, Json(d)).into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DomainPatch {
    is_default: Option<bool>,
}

async fn patch_domain(
    State(ctx): State<Ctx>,
    admin: AdminUser,
    Path(name): Path<String>,
    raw: axum::body::Bytes,
) -> R {
    admin.require(Permission::ManageDomains)?;
    let patch: DomainPatch = body(&raw)?;
    if patch.is_default != Some(true) {
        return Err(api_error(
            StatusCode::BAD_REQUEST,
            "Request_BadRequest",
            "Only {\"isDefault\": true} can be set.",
        ));
    }
    let d = dir(&ctx)
        .set_default_domain(&name)
        .await
        .map_err(admin_error)?;
    Ok(Json(d).into_response())
}

async fn delete_domain(State(ctx): State<Ctx>, admin: AdminUser, Path(name): Path<String>) -> R {
    admin.require(Permission::ManageDomains)?;
    dir(&ctx).delete_domain(&name).await.map_err(admin_error)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
