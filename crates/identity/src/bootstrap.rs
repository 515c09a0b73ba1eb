//! First-start setup of a tenant: tenant id, the default domain, identity's own resource,
//! the mail resource, the first-party public clients and the admin center's web client.
//! Idempotent: a second start finds everything in place and changes nothing. Also the
//! bootstrap admin of `mailward up`, whose generated password is kept sealed and shown
//! until it has been used.

use crate::config::IdentityConfig;
use mailward_store::{DynStore, StoreError};
use mailward_types::model::{
    Application, AuthenticationMode, ClientKind, Domain, GrantType, Resource, TokenAlg, well_known,
};
use mailward_types::{ClientId, RedirectUri, Secret};
use time::OffsetDateTime;
use uuid::Uuid;

/// Client id of the admin center (`/admin`), a first-party confidential web client of
/// identity itself (the familiar id of the Azure portal). Its secret is generated and kept
/// sealed by the admin center on first use.
pub const ADMIN_CENTER_CLIENT_ID: &str = "c44b4083-3bb0-49c1-b47d-974e53cbdf3c";

/// Scopes of identity's own resource (userinfo and the admin API).
pub const IDENTITY_SCOPES: &[&str] = &["User.Read", well_known::ADMIN_SCOPE];

/// Ensures the tenant exists; returns its id.
pub async fn ensure_tenant(
    store: &DynStore,
    cfg: &IdentityConfig,
    default_domain: Option<&str>,
    now: OffsetDateTime,
) -> Result<Uuid, StoreError> {
    let tenant = match store.get_setting("tenant_id").await? {
        Some(t) => {
            Uuid::parse_str(&t).map_err(|e| StoreError::Backend(format!("tenant_id: {e}")))?
        }
        None => {
            let id = Uuid::new_v4();
            store.put_setting("tenant_id", &id.to_string()).await?;
            id
        }
    };
    if let Some(d) = default_domain
        && store.domain(d).await?.is_none()
    {
        let is_default = store.list_domains().await?.is_empty();
        store
            .create_domain(&Domain {
                name: d.to_ascii_lowercase(),
                verified: true,
                authentication: AuthenticationMode::Managed,
                is_default,
                created_at: now,
            })
            .await?;
    }
    ensure_resource(
        store,
        &cfg.public_url,
        "mailward identity",
        IDENTITY_SCOPES,
        now,
    )
    .await?;
    ensure_resource(
        store,
        &cfg.mail_resource_uri,
        well_known::MAIL_RESOURCE_NAME,
        well_known::MAIL_SCOPES,
        now,
    )
    .await?;
    ensure_app(
        store,
        well_known::MAIL_CLIENT_ID,
        "Mail desktop and mobile apps",
        &[
            "http://localhost",
            "http://127.0.0.1",
            "http://[::1]",
            &format!("{}/oauth2/nativeclient", cfg.public_url),
        ],
        now,
    )
    .await?;
    ensure_app(
        store,
        well_known::CLI_CLIENT_ID,
        "mailward CLI",
        &["http://localhost"],
        now,
    )
    .await?;
    ensure_admin_center(store, cfg, now).await?;
    Ok(tenant)
}

/// The admin center's client: confidential (so its sign-ins are `browser` sign-ins), the
/// authorization code grant only, redirected to `<public_url>/admin/callback`. When the
/// public URL changes, the new callback is added.
async fn ensure_admin_center(
    store: &DynStore,
    cfg: &IdentityConfig,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let callback = RedirectUri::try_from(format!("{}/admin/callback", cfg.public_url).as_str())
        .map_err(|e| StoreError::Backend(format!("admin center redirect URI: {e}")))?;
    match store.app(ADMIN_CENTER_CLIENT_ID).await? {
        Some(app) if app.redirect_uris.contains(&callback) => Ok(()),
        Some(_) => store
            .update_app(
                ADMIN_CENTER_CLIENT_ID,
                Box::new(move |mut a| {
                    a.redirect_uris.push(callback);
                    Ok(a)
                }),
            )
            .await
            .map(|_| ()),
        None => {
            let client_id = ClientId::try_from(ADMIN_CENTER_CLIENT_ID)
                .map_err(|e| StoreError::Backend(e.to_string()))?;
            store
                .create_app(
                    &Application {
                        client_id,
                        display_name: "mailward admin center".to_string(),
                        kind: ClientKind::Confidential,
                        secret_hash: None,
                        redirect_uris: vec![callback],
                        grants: vec![GrantType::AuthorizationCode],
                        first_party: true,
                        post_logout_redirect_uris: vec![],
                        app_roles: vec![],
                        created_at: now,
                    },
                    None,
                )
                .await
        }
    }
}

async fn ensure_resource(
    store: &DynStore,
    uri: &str,
    name: &str,
    scopes: &[&str],
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    if let Some(existing) = store.resource_by_uri(uri).await? {
        // A first-party resource gains the scopes a newer version defines.
        let missing: Vec<String> = scopes
            .iter()
            .filter(|s| !existing.scopes.iter().any(|e| e == *s))
            .map(|s| s.to_string())
            .collect();
        if existing.first_party && !missing.is_empty() {
            store
                .update_resource(
                    existing.id,
                    Box::new(move |mut r| {
                        r.scopes.extend(missing);
                        Ok(r)
                    }),
                )
                .await?;
        }
        return Ok(());
    }
    let mut app_roles = vec![];
    if scopes.contains(&"IMAP.AccessAsUser.All") {
        app_roles.push("Mail.ReadWrite.All".to_string());
    }
    if uri.starts_with("https://") && scopes.contains(&well_known::ADMIN_SCOPE) {
        app_roles.push(well_known::LEGACY_RELAY_ROLE.to_string());
        app_roles.push("Directory.Read.All".to_string());
    }
    store
        .create_resource(&Resource {
            id: Uuid::new_v4(),
            uri: uri.to_string(),
            display_name: name.to_string(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            app_roles,
            token_alg: TokenAlg::ES256,
            access_token_lifetime: 3600,
            first_party: true,
            created_at: now,
        })
        .await
}

async fn ensure_app(
    store: &DynStore,
    client_id: &str,
    name: &str,
    redirects: &[&str],
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    if store.app(client_id).await?.is_some() {
        return Ok(());
    }
    let client_id =
        ClientId::try_from(client_id).map_err(|e| StoreError::Backend(e.to_string()))?;
    let redirect_uris = redirects
        .iter()
        .map(|r| RedirectUri::try_from(*r))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| StoreError::Backend(e.to_string()))?;
    store
        .create_app(
            &Application {
                client_id,
                display_name: name.to_string(),
                kind: ClientKind::Public,
                secret_hash: None,
                redirect_uris,
                grants: vec![
                    GrantType::AuthorizationCode,
                    GrantType::RefreshToken,
                    GrantType::DeviceCode,
                ],
                first_party: true,
                post_logout_redirect_uris: vec![],
                app_roles: vec![],
                created_at: now,
            },
            None,
        )
        .await
}

/// Settings key of the bootstrap admin's object id (set once, on creation).
const BOOTSTRAP_ADMIN: &str = "bootstrap_admin";
/// Settings key of the bootstrap admin's generated password, sealed with the master key
/// (base64); emptied once the admin has used or replaced it.
const BOOTSTRAP_PASSWORD: &str = "bootstrap_admin_password";

/// The first administrator `mailward up` creates, as the banner shows it.
#[derive(Debug)]
pub struct BootstrapAdmin {
    pub upn: String,
    /// Created by this call.
    pub created: bool,
    /// The generated password while it is still the admin's password and nobody has
    /// signed in with it; `None` afterwards.
    pub password: Option<Secret<String>>,
}

/// Why the bootstrap admin could not be created or read.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("creating the bootstrap admin: {0}")]
    Create(#[from] crate::directory::AdminError),
    #[error("the bootstrap admin's password: {0}")]
    Sealed(String),
}

/// Creates the first Global Administrator `admin@<domain>` with `password` on the first
/// call. The password is kept sealed and returned by every later call until the admin has
/// signed in (a successful sign-in or a registered MFA method) or the password changed, so
/// a first start that fails after this point (a port in use) does not lose it.
pub async fn bootstrap_admin(
    ctx: &crate::Ctx,
    domain: &str,
    password: Secret<String>,
    now: OffsetDateTime,
) -> Result<BootstrapAdmin, BootstrapError> {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    let store = ctx.store();
    let Some(id) = store.get_setting(BOOTSTRAP_ADMIN).await? else {
        let upn = format!("admin@{domain}");
        let user = crate::directory_for(ctx)
            .add_user(
                crate::directory::NewUser {
                    user_principal_name: upn.clone(),
                    display_name: Some("Administrator".into()),
                    mail: None,
                    password: Some(password.clone()),
                    roles: vec![
                        mailward_types::model::Role::GlobalAdministrator
                            .as_str()
                            .to_string(),
                    ],
                    account_enabled: Some(true),
                    on_premises_immutable_id: None,
                },
                mailward_types::model::UserSource::Cloud,
                now,
            )
            .await?;
        let sealed = ctx
            .sealer()
            .try_seal(password.expose_secret().as_bytes())
            .map_err(|e| BootstrapError::Sealed(e.to_string()))?;
        store
            .put_setting(BOOTSTRAP_PASSWORD, &STANDARD.encode(sealed))
            .await?;
        store
            .put_setting(BOOTSTRAP_ADMIN, &user.id.to_string())
            .await?;
        return Ok(BootstrapAdmin {
            upn,
            created: true,
            password: Some(password),
        });
    };
    let user = match Uuid::parse_str(&id) {
        Ok(id) => store.user_by_id(id).await?,
        Err(_) => None,
    };
    let Some(user) = user else {
        return Ok(BootstrapAdmin {
            upn: format!("admin@{domain}"),
            created: false,
            password: None,
        });
    };
    let upn = user.upn.as_str().to_string();
    let kept = store
        .get_setting(BOOTSTRAP_PASSWORD)
        .await?
        .filter(|v| !v.is_empty());
    let Some(kept) = kept else {
        return Ok(BootstrapAdmin {
            upn,
            created: false,
            password: None,
        });
    };
    let opened = STANDARD
        .decode(kept)
        .map_err(|e| BootstrapError::Sealed(e.to_string()))
        .and_then(|sealed| {
            ctx.sealer()
                .open(&sealed)
                .map_err(|e| BootstrapError::Sealed(e.to_string()))
        })
        .and_then(|raw| {
            String::from_utf8(raw).map_err(|e| BootstrapError::Sealed(e.to_string()))
        })?;
    let password = Secret::new(opened);
    if admin_used_password(ctx, &user, &password).await? {
        store.put_setting(BOOTSTRAP_PASSWORD, "").await?;
        return Ok(BootstrapAdmin {
            upn,
            created: false,
            password: None,
        });
    }
    Ok(BootstrapAdmin {
        upn,
        created: false,
        password: Some(password),
    })
}

/// Whether the bootstrap admin has signed in or no longer has the generated password.
async fn admin_used_password(
    ctx: &crate::Ctx,
    user: &mailward_types::model::User,
    password: &Secret<String>,
) -> Result<bool, BootstrapError> {
    let store = ctx.store();
    let signed_in = !store
        .signins(&mailward_types::records::SignInFilter {
            user: Some(user.upn.as_str().to_string()),
            result: Some(mailward_types::records::SignInResult::Success),
            limit: Some(1),
            ..Default::default()
        })
        .await?
        .is_empty();
    if signed_in
        || store.totp(user.id).await?.is_some()
        || !store.passkeys(user.id).await?.is_empty()
    {
        return Ok(true);
    }
    let Some(hash) = store.password_hash(user.id).await? else {
        return Ok(true);
    };
    match ctx.passwords().verify(&hash, password).await {
        Ok(same) => Ok(!same),
        // The pool is idle at start; if it is not, show the password once more.
        Err(_) => Ok(false),
    }
}
