//! Directory administration: users, groups, applications, resources and domains, with
//! the validation an admin expects (password length, UPN domain registered, first-party
//! objects protected). The admin API calls these; so does the CLI, through that API.

use crate::password::{Busy, PasswordPool};
use mailward_store::{DynStore, StoreError};
use mailward_types::model::{
    Application, AuthenticationMode, ClientKind, Domain, GrantType, Group, Resource, Role,
    TokenAlg, User, UserSource,
};
use mailward_types::{ClientId, RedirectUri, Secret, Upn};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// Document kind of a deleted user's tombstone: `{"tokensValidFrom": <unix ms>}` by user id,
/// listed by the revocation feed.
pub const REVOKED_USER: &str = "revoked_user";

/// How long a tombstone is kept: the revocation feed's look-back, longer than any access
/// token lives.
pub const TOMBSTONE_LIFETIME: time::Duration = time::Duration::hours(48);

/// Admin operation failures, each with a stable code for the API and CLI.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    #[error("password hashing is busy; try again")]
    Busy,
    #[error(transparent)]
    Store(StoreError),
}

impl AdminError {
    pub fn code(&self) -> &'static str {
        match self {
            AdminError::NotFound(_) => "Request_ResourceNotFound",
            AdminError::Conflict(_) => "Request_Conflict",
            AdminError::Invalid(_) => "Request_BadRequest",
            AdminError::Busy => "Service_Busy",
            AdminError::Store(_) => "Service_InternalError",
        }
    }
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict { what } => AdminError::Conflict(format!("{what} already exists")),
            StoreError::NotFound { what } => AdminError::NotFound(what),
            StoreError::Rejected(r) => AdminError::Invalid(r),
            other => AdminError::Store(other),
        }
    }
}

impl From<Busy> for AdminError {
    fn from(_: Busy) -> Self {
        AdminError::Busy
    }
}

pub type Result<T> = std::result::Result<T, AdminError>;

/// Directory operations over a store.
#[derive(Debug, Clone)]
pub struct Directory {
    pub store: DynStore,
    pub passwords: PasswordPool,
    pub min_password_length: usize,
}

/// A new user.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewUser {
    pub user_principal_name: String,
    pub display_name: Option<String>,
    pub mail: Option<String>,
    pub password: Option<Secret<String>>,
    #[serde(default)]
    pub roles: Vec<String>,
    pub account_enabled: Option<bool>,
    pub on_premises_immutable_id: Option<String>,
}

/// Changes to a user; absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserPatch {
    pub display_name: Option<String>,
    pub mail: Option<String>,
    pub account_enabled: Option<bool>,
    pub password: Option<Secret<String>>,
    pub roles: Option<Vec<String>>,
    pub user_principal_name: Option<String>,
}

impl UserPatch {
    /// Whether the patch changes nothing but the display name (the one change a
    /// UserAdministrator may make to an admin).
    pub fn display_name_only(&self) -> bool {
        let UserPatch {
            display_name: _,
            mail,
            account_enabled,
            password,
            roles,
            user_principal_name,
        } = self;
        mail.is_none()
            && account_enabled.is_none()
            && password.is_none()
            && roles.is_none()
            && user_principal_name.is_none()
    }
}

/// A new application registration.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewApp {
    pub display_name: String,
    /// `public` or `confidential`.
    pub kind: String,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// Grant names; default: authorization_code + refresh_token (+ client_credentials for
    /// confidential clients).
    pub grants: Option<Vec<String>>,
    #[serde(default)]
    pub app_roles: Vec<String>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
}

/// Changes to an application.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AppPatch {
    pub display_name: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    pub grants: Option<Vec<String>>,
    pub app_roles: Option<Vec<String>>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
}

/// A new resource (API).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewResource {
    pub uri: String,
    pub display_name: String,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub app_roles: Vec<String>,
    /// `ES256` (default) or `RS256`.
    pub token_alg: Option<String>,
    pub access_token_lifetime: Option<i64>,
}

/// A created application; `client_secret` is shown once.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatedApp {
    pub application: AppView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

/// The API shape of a user (Graph-like).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    pub id: Uuid,
    pub user_principal_name: String,
    pub display_name: String,
    pub mail: Option<String>,
    pub account_enabled: bool,
    pub on_premises_immutable_id: Option<String>,
    pub source: String,
    pub roles: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_date_time: OffsetDateTime,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        UserView {
            id: u.id,
            user_principal_name: u.upn.to_string(),
            display_name: u.display_name.clone(),
            mail: u.mail.clone(),
            account_enabled: u.enabled,
            on_premises_immutable_id: u.immutable_id.clone(),
            source: u.source.as_str().to_string(),
            roles: u.roles.iter().map(|r| r.as_str().to_string()).collect(),
            created_date_time: u.created_at,
        }
    }
}

/// The API shape of an application.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppView {
    pub app_id: String,
    pub display_name: String,
    pub kind: String,
    pub redirect_uris: Vec<String>,
    pub grants: Vec<String>,
    pub app_roles: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub first_party: bool,
    pub has_secret: bool,
}

impl From<&Application> for AppView {
    fn from(a: &Application) -> Self {
        AppView {
            app_id: a.client_id.to_string(),
            display_name: a.display_name.clone(),
            kind: a.kind.as_str().to_string(),
            redirect_uris: a
                .redirect_uris
                .iter()
                .map(|r| r.as_str().to_string())
                .collect(),
            grants: a.grants.iter().map(|g| g.as_str().to_string()).collect(),
            app_roles: a.app_roles.clone(),
            post_logout_redirect_uris: a
                .post_logout_redirect_uris
                .iter()
                .map(|r| r.as_str().to_string())
                .collect(),
            first_party: a.first_party,
            has_secret: a.secret_hash.is_some(),
        }
    }
}

/// The API shape of a group with its members' UPNs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupView {
    pub id: Uuid,
    pub display_name: String,
    pub description: Option<String>,
    pub source: String,
    pub members: Vec<String>,
}

fn parse_roles(names: &[String]) -> Result<Vec<Role>> {
    let mut out = vec![];
    for n in names {
        let r = Role::parse(n).ok_or_else(|| {
            AdminError::Invalid(format!(
                "unknown role '{n}'; valid roles: {}",
                Role::ALL.map(|r| r.as_str()).join(", ")
            ))
        })?;
        if !out.contains(&r) {
            out.push(r);
        }
    }
    Ok(out)
}

fn parse_grants(names: &[String]) -> Result<Vec<GrantType>> {
    names
        .iter()
        .map(|n| {
            GrantType::parse(n).ok_or_else(|| {
                AdminError::Invalid(format!(
                    "unknown grant '{n}'; valid grants: {}",
                    GrantType::ALL.map(|g| g.as_str()).join(", ")
                ))
            })
        })
        .collect()
}

fn parse_uris(list: &[String]) -> Result<Vec<RedirectUri>> {
    list.iter()
        .map(|u| RedirectUri::try_from(u.as_str()).map_err(|e| AdminError::Invalid(e.to_string())))
        .collect()
}

impl Directory {
    /// Finds a user by object id or UPN.
    pub async fn find_user(&self, key: &str) -> Result<User> {
        let found = match Uuid::parse_str(key) {
            Ok(id) => self.store.user_by_id(id).await?,
            Err(_) => match Upn::try_from(key) {
                Ok(upn) => self.store.user_by_upn(&upn).await?,
                Err(_) => None,
            },
        };
        found.ok_or_else(|| AdminError::NotFound(format!("user '{key}'")))
    }

    async fn check_password(&self, pw: &Secret<String>) -> Result<String> {
        let len = pw.expose_secret().chars().count();
        if len < self.min_password_length {
            return Err(AdminError::Invalid(format!(
                "password must be at least {} characters",
                self.min_password_length
            )));
        }
        if len > 256 {
            return Err(AdminError::Invalid(
                "password must be at most 256 characters".into(),
            ));
        }
        Ok(self.passwords.hash(pw).await?)
    }

    pub async fn add_user(
        &self,
        new: NewUser,
        source: UserSource,
        now: OffsetDateTime,
    ) -> Result<User> {
        let upn = Upn::try_from(new.user_principal_name.as_str())
            .map_err(|e| AdminError::Invalid(e.to_string()))?;
        if self.store.domain(upn.domain()).await?.is_none() {
            return Err(AdminError::Invalid(format!(
                "the domain '{}' is not registered in this tenant (add it with `mailward domain add`)",
                upn.domain()
            )));
        }
        let hash = match &new.password {
            Some(pw) => Some(self.check_password(pw).await?),
            None => None,
        };
        let user = User {
            id: Uuid::new_v4(),
            display_name: new
                .display_name
                .unwrap_or_else(|| upn.as_str().split('@').next().unwrap_or("").to_string()),
            mail: new.mail.or_else(|| Some(upn.to_string())),
            upn,
            enabled: new.account_enabled.unwrap_or(true),
            immutable_id: new.on_premises_immutable_id,
            source,
            roles: parse_roles(&new.roles)?,
            created_at: now,
            tokens_valid_from: now,
        };
        self.store.create_user(&user, hash.as_deref()).await?;
        Ok(user)
    }

    pub async fn update_user(
        &self,
        key: &str,
        patch: UserPatch,
        now: OffsetDateTime,
    ) -> Result<User> {
        let user = self.find_user(key).await?;
        let roles = patch.roles.as_deref().map(parse_roles).transpose()?;
        let new_upn = match &patch.user_principal_name {
            Some(u) => {
                let upn =
                    Upn::try_from(u.as_str()).map_err(|e| AdminError::Invalid(e.to_string()))?;
                if self.store.domain(upn.domain()).await?.is_none() {
                    return Err(AdminError::Invalid(format!(
                        "the domain '{}' is not registered",
                        upn.domain()
                    )));
                }
                Some(upn)
            }
            None => None,
        };
        if let Some(pw) = &patch.password {
            let hash = self.check_password(pw).await?;
            self.store.set_password_hash(user.id, Some(&hash)).await?;
        }
        let password_changed = patch.password.is_some();
        let disabled = patch.account_enabled == Some(false);
        let updated = self
            .store
            .update_user(
                user.id,
                Box::new(move |mut u| {
                    if let Some(v) = patch.display_name {
                        u.display_name = v;
                    }
                    if let Some(v) = patch.mail {
                        u.mail = Some(v);
                    }
                    if let Some(v) = patch.account_enabled {
                        u.enabled = v;
                    }
                    if let Some(v) = roles {
                        u.roles = v;
                    }
                    if let Some(v) = new_upn {
                        u.upn = v;
                    }
                    if password_changed || disabled {
                        u.tokens_valid_from = now;
                    }
                    Ok(u)
                }),
            )
            .await?;
        if password_changed || disabled {
            self.revoke_sessions(updated.id, now).await?;
        }
        Ok(updated)
    }

    /// Signs the user out everywhere: refresh tokens and browser sessions end.
    pub async fn revoke_sessions(&self, user: Uuid, now: OffsetDateTime) -> Result<()> {
        self.store.revoke_user_tokens(user, now).await?;
        self.store.delete_user_sessions(user).await?;
        self.store
            .update_user(
                user,
                Box::new(move |mut u| {
                    u.tokens_valid_from = now;
                    Ok(u)
                }),
            )
            .await?;
        Ok(())
    }

    /// Removes every MFA method; the user registers again at next sign-in.
    pub async fn reset_mfa(&self, key: &str, now: OffsetDateTime) -> Result<User> {
        let user = self.find_user(key).await?;
        self.store.reset_mfa(user.id).await?;
        self.revoke_sessions(user.id, now).await?;
        Ok(user)
    }

    /// Deletes a user. A tombstone (document kind [`REVOKED_USER`]) is written first, so the
    /// revocation feed still tells mail instances to refuse the user's unexpired tokens once
    /// the row is gone; tombstones older than the feed's look-back are dropped here.
    pub async fn delete_user(&self, key: &str, now: OffsetDateTime) -> Result<()> {
        let user = self.find_user(key).await?;
        let body = serde_json::json!({
            "tokensValidFrom": mailward_types::clock::millis(now),
        });
        self.store
            .put_document(&mailward_store::Document {
                kind: REVOKED_USER.into(),
                id: user.id.to_string(),
                body: body.to_string(),
                created: now,
                modified: now,
            })
            .await?;
        self.store.delete_user(user.id).await?;
        for old in self.store.documents(REVOKED_USER).await? {
            if old.modified < now - TOMBSTONE_LIFETIME {
                self.store.delete_document(REVOKED_USER, &old.id).await?;
            }
        }
        Ok(())
    }

    // ---- groups ----

    pub async fn find_group(&self, key: &str) -> Result<Group> {
        let found = match Uuid::parse_str(key) {
            Ok(id) => self.store.group_by_id(id).await?,
            Err(_) => self.store.group_by_name(key).await?,
        };
        found.ok_or_else(|| AdminError::NotFound(format!("group '{key}'")))
    }

    pub async fn add_group(
        &self,
        name: &str,
        description: Option<String>,
        now: OffsetDateTime,
    ) -> Result<Group> {
        let name = name.trim();
        if name.is_empty() || name.len() > 256 {
            return Err(AdminError::Invalid(
                "group name must be 1-256 characters".into(),
            ));
        }
        let g = Group {
            id: Uuid::new_v4(),
            display_name: name.to_string(),
            description,
            source: UserSource::Cloud,
            created_at: now,
        };
        self.store.create_group(&g).await?;
        Ok(g)
    }

    /// Renames a group or changes its description.
    pub async fn update_group(
        &self,
        id: Uuid,
        display_name: Option<String>,
        description: Option<String>,
    ) -> Result<Group> {
        let display_name = match display_name {
            Some(n) => {
                let n = n.trim().to_string();
                if n.is_empty() || n.len() > 256 {
                    return Err(AdminError::Invalid(
                        "group name must be 1-256 characters".into(),
                    ));
                }
                if let Some(other) = self.store.group_by_name(&n).await?
                    && other.id != id
                {
                    return Err(AdminError::Conflict(format!("group '{n}' already exists")));
                }
                Some(n)
            }
            None => None,
        };
        Ok(self
            .store
            .update_group(
                id,
                Box::new(move |mut g| {
                    if let Some(n) = display_name {
                        g.display_name = n;
                    }
                    if let Some(d) = description {
                        g.description = Some(d);
                    }
                    Ok(g)
                }),
            )
            .await?)
    }

    pub async fn group_view(&self, g: &Group) -> Result<GroupView> {
        let mut members = vec![];
        for id in self.store.group_members(g.id).await? {
            if let Some(u) = self.store.user_by_id(id).await? {
                members.push(u.upn.to_string());
            }
        }
        members.sort();
        Ok(GroupView {
            id: g.id,
            display_name: g.display_name.clone(),
            description: g.description.clone(),
            source: g.source.as_str().to_string(),
            members,
        })
    }

    pub async fn add_member(&self, group: &str, user: &str) -> Result<()> {
        let g = self.find_group(group).await?;
        let u = self.find_user(user).await?;
        self.store.add_member(g.id, u.id).await?;
        Ok(())
    }

    pub async fn remove_member(&self, group: &str, user: &str) -> Result<()> {
        let g = self.find_group(group).await?;
        let u = self.find_user(user).await?;
        if !self.store.remove_member(g.id, u.id).await? {
            return Err(AdminError::NotFound(format!("'{user}' in group '{group}'")));
        }
        Ok(())
    }

    pub async fn delete_group(&self, key: &str) -> Result<()> {
        let g = self.find_group(key).await?;
        self.store.delete_group(g.id).await?;
        Ok(())
    }

    // ---- applications ----

    pub async fn find_app(&self, client_id: &str) -> Result<Application> {
        self.store
            .app(client_id)
            .await?
            .ok_or_else(|| AdminError::NotFound(format!("application '{client_id}'")))
    }

    pub async fn add_app(&self, new: NewApp, now: OffsetDateTime) -> Result<CreatedApp> {
        let kind = ClientKind::parse(&new.kind)
            .ok_or_else(|| AdminError::Invalid("kind must be 'public' or 'confidential'".into()))?;
        let grants = match &new.grants {
            Some(g) => parse_grants(g)?,
            None if kind == ClientKind::Confidential => {
                vec![
                    GrantType::AuthorizationCode,
                    GrantType::RefreshToken,
                    GrantType::ClientCredentials,
                ]
            }
            None => vec![
                GrantType::AuthorizationCode,
                GrantType::RefreshToken,
                GrantType::DeviceCode,
            ],
        };
        if kind == ClientKind::Public && grants.contains(&GrantType::ClientCredentials) {
            return Err(AdminError::Invalid(
                "public clients cannot use client_credentials".into(),
            ));
        }
        if grants.contains(&GrantType::AuthorizationCode) && new.redirect_uris.is_empty() {
            return Err(AdminError::Invalid(
                "the authorization_code grant needs at least one redirect URI".into(),
            ));
        }
        let (secret, secret_hash) = if kind == ClientKind::Confidential {
            let s = mailward_oauth::random::token();
            let h = mailward_oauth::random::hash(&s);
            (Some(s), Some(h))
        } else {
            (None, None)
        };
        let app = Application {
            client_id: ClientId::try_from(Uuid::new_v4().to_string())
                .map_err(|e| AdminError::Invalid(e.to_string()))?,
            display_name: new.display_name,
            kind,
            secret_hash: secret_hash.clone(),
            redirect_uris: parse_uris(&new.redirect_uris)?,
            grants,
            first_party: false,
            post_logout_redirect_uris: parse_uris(&new.post_logout_redirect_uris)?,
            app_roles: new.app_roles,
            created_at: now,
        };
        self.store.create_app(&app, secret_hash.as_deref()).await?;
        Ok(CreatedApp {
            application: AppView::from(&app),
            client_secret: secret,
        })
    }

    pub async fn update_app(&self, client_id: &str, patch: AppPatch) -> Result<Application> {
        let app = self.find_app(client_id).await?;
        let grants = patch.grants.as_deref().map(parse_grants).transpose()?;
        if app.kind == ClientKind::Public
            && grants
                .as_ref()
                .is_some_and(|g| g.contains(&GrantType::ClientCredentials))
        {
            return Err(AdminError::Invalid(
                "public clients cannot use client_credentials".into(),
            ));
        }
        let redirects = patch.redirect_uris.as_deref().map(parse_uris).transpose()?;
        let logouts = patch
            .post_logout_redirect_uris
            .as_deref()
            .map(parse_uris)
            .transpose()?;
        Ok(self
            .store
            .update_app(
                app.client_id.as_str(),
                Box::new(move |mut a| {
                    if let Some(v) = patch.display_name {
                        a.display_name = v;
                    }
                    if let Some(v) = grants {
                        a.grants = v;
                    }
                    if let Some(v) = redirects {
                        a.redirect_uris = v;
                    }
                    if let Some(v) = logouts {
                        a.post_logout_redirect_uris = v;
                    }
                    if let Some(v) = patch.app_roles {
                        a.app_roles = v;
                    }
                    Ok(a)
                }),
            )
            .await?)
    }

    /// Replaces a confidential client's secret; the new one is returned once.
    pub async fn new_app_secret(&self, client_id: &str) -> Result<String> {
        let app = self.find_app(client_id).await?;
        if app.kind != ClientKind::Confidential {
            return Err(AdminError::Invalid(
                "only confidential clients have secrets".into(),
            ));
        }
        let s = mailward_oauth::random::token();
        let h = mailward_oauth::random::hash(&s);
        self.store
            .update_app(
                app.client_id.as_str(),
                Box::new(move |mut a| {
                    a.secret_hash = Some(h);
                    Ok(a)
                }),
            )
            .await?;
        Ok(s)
    }

    pub async fn delete_app(&self, client_id: &str) -> Result<()> {
        let app = self.find_app(client_id).await?;
        if app.first_party {
            return Err(AdminError::Invalid(
                "first-party applications cannot be deleted".into(),
            ));
        }
        self.store.delete_app(app.client_id.as_str()).await?;
        Ok(())
    }

    pub async fn add_resource(&self, new: NewResource, now: OffsetDateTime) -> Result<Resource> {
        if url::Url::parse(&new.uri).is_err() {
            return Err(AdminError::Invalid(format!(
                "resource URI '{}' is not an absolute URI",
                new.uri
            )));
        }
        let token_alg = match new.token_alg.as_deref() {
            None => TokenAlg::ES256,
            Some(a) => TokenAlg::parse(a).ok_or_else(|| {
                AdminError::Invalid("token algorithm must be ES256 or RS256".into())
            })?,
        };
        let r = Resource {
            id: Uuid::new_v4(),
            uri: new.uri.trim_end_matches('/').to_string(),
            display_name: new.display_name,
            scopes: new.scopes,
            app_roles: new.app_roles,
            token_alg,
            access_token_lifetime: new.access_token_lifetime.unwrap_or(3600).clamp(300, 86400),
            first_party: false,
            created_at: now,
        };
        self.store.create_resource(&r).await?;
        Ok(r)
    }

    // ---- domains ----

    pub async fn add_domain(&self, name: &str, now: OffsetDateTime) -> Result<Domain> {
        let name = name.trim().to_ascii_lowercase();
        if Upn::try_from(format!("x@{name}").as_str()).is_err() {
            return Err(AdminError::Invalid(format!(
                "'{name}' is not a valid domain name"
            )));
        }
        let is_default = self.store.list_domains().await?.is_empty();
        let d = Domain {
            name,
            verified: true,
            authentication: AuthenticationMode::Managed,
            is_default,
            created_at: now,
        };
        self.store.create_domain(&d).await?;
        Ok(d)
    }

    pub async fn set_default_domain(&self, name: &str) -> Result<Domain> {
        let target = self
            .store
            .domain(name)
            .await?
            .ok_or_else(|| AdminError::NotFound(format!("domain '{name}'")))?;
        for d in self.store.list_domains().await? {
            if d.is_default && d.name != target.name {
                self.store
                    .update_domain(
                        &d.name,
                        Box::new(|mut d| {
                            d.is_default = false;
                            Ok(d)
                        }),
                    )
                    .await?;
            }
        }
        Ok(self
            .store
            .update_domain(
                &target.name,
                Box::new(|mut d| {
                    d.is_default = true;
                    Ok(d)
                }),
            )
            .await?)
    }

    pub async fn delete_domain(&self, name: &str) -> Result<()> {
        let name = name.to_ascii_lowercase();
        let users = self.store.list_users().await?;
        let in_use = users.iter().filter(|u| u.upn.domain() == name).count();
        if in_use > 0 {
            return Err(AdminError::Conflict(format!(
                "{in_use} user(s) still use the domain '{name}'"
            )));
        }
        if !self.store.delete_domain(&name).await? {
            return Err(AdminError::NotFound(format!("domain '{name}'")));
        }
        Ok(())
    }
}
