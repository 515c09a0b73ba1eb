//! The identity directory model: users, groups, domains, applications and resources, and
//! the admin roles mailward knows. Plain data; storage and rules live elsewhere.

use crate::ids::{ClientId, RedirectUri, Upn};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// Where a user object came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UserSource {
    /// Created in identity (CLI, admin API, `up`).
    Cloud,
    /// Copied from the organization's directory by `sync`.
    Synced,
}

impl UserSource {
    pub fn as_str(self) -> &'static str {
        match self {
            UserSource::Cloud => "cloud",
            UserSource::Synced => "synced",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "cloud" => Some(UserSource::Cloud),
            "synced" => Some(UserSource::Synced),
            _ => None,
        }
    }
}

/// Directory roles. Names follow the familiar built-in role names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Role {
    /// Everything, including other admins.
    GlobalAdministrator,
    /// Users and groups, not applications or policies.
    UserAdministrator,
    /// Conditional access and authentication policies.
    SecurityAdministrator,
    /// Read-only view of everything including logs.
    GlobalReader,
}

impl Role {
    pub const ALL: [Role; 4] = [
        Role::GlobalAdministrator,
        Role::UserAdministrator,
        Role::SecurityAdministrator,
        Role::GlobalReader,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::GlobalAdministrator => "GlobalAdministrator",
            Role::UserAdministrator => "UserAdministrator",
            Role::SecurityAdministrator => "SecurityAdministrator",
            Role::GlobalReader => "GlobalReader",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(s))
    }
}

/// A user in the tenant directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    /// Object id (`oid` claim), stable for the life of the object.
    pub id: Uuid,
    pub upn: Upn,
    pub display_name: String,
    /// Primary SMTP address; defaults to the UPN.
    pub mail: Option<String>,
    pub enabled: bool,
    /// The source anchor (base64 of the on-premises objectGUID for synced users).
    pub immutable_id: Option<String>,
    pub source: UserSource,
    pub roles: Vec<Role>,
    pub created_at: OffsetDateTime,
    /// Refresh tokens and sessions issued before this instant are no longer valid
    /// (`revokeSignInSessions`, password reset, MFA reset).
    pub tokens_valid_from: OffsetDateTime,
}

impl User {
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    pub fn is_admin(&self) -> bool {
        self.roles.iter().any(|r| *r != Role::GlobalReader)
    }
}

/// A security group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    pub id: Uuid,
    pub display_name: String,
    pub description: Option<String>,
    pub source: UserSource,
    pub created_at: OffsetDateTime,
}

/// How users of a domain authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthenticationMode {
    /// Identity checks the password itself.
    Managed,
}

impl AuthenticationMode {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthenticationMode::Managed => "managed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "managed" => Some(AuthenticationMode::Managed),
            _ => None,
        }
    }
}

/// A DNS domain users sign in with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Domain {
    pub name: String,
    pub verified: bool,
    pub authentication: AuthenticationMode,
    pub is_default: bool,
    pub created_at: OffsetDateTime,
}

/// Public clients cannot keep a secret (native, mobile, CLI); confidential ones can.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientKind {
    Public,
    Confidential,
}

impl ClientKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientKind::Public => "public",
            ClientKind::Confidential => "confidential",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "public" => Some(ClientKind::Public),
            "confidential" => Some(ClientKind::Confidential),
            _ => None,
        }
    }
}

/// OAuth grant types an application may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    DeviceCode,
    ClientCredentials,
    /// Resource-owner password credentials: off unless explicitly allowed.
    Password,
}

impl GrantType {
    pub const ALL: [GrantType; 5] = [
        GrantType::AuthorizationCode,
        GrantType::RefreshToken,
        GrantType::DeviceCode,
        GrantType::ClientCredentials,
        GrantType::Password,
    ];

    /// The wire name (`grant_type` value).
    pub fn wire(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::RefreshToken => "refresh_token",
            GrantType::DeviceCode => "urn:ietf:params:oauth:grant-type:device_code",
            GrantType::ClientCredentials => "client_credentials",
            GrantType::Password => "password",
        }
    }

    /// Short name used in the CLI and storage.
    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::RefreshToken => "refresh_token",
            GrantType::DeviceCode => "device_code",
            GrantType::ClientCredentials => "client_credentials",
            GrantType::Password => "password",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        GrantType::ALL
            .into_iter()
            .find(|g| g.as_str() == s || g.wire() == s)
    }
}

/// A registered application (OAuth client).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Application {
    pub client_id: ClientId,
    pub display_name: String,
    pub kind: ClientKind,
    /// SHA-256 (hex) of the client secret (confidential clients only). Secrets are
    /// 256-bit random values generated by mailward, so a fast hash is enough.
    #[serde(skip)]
    pub secret_hash: Option<String>,
    pub redirect_uris: Vec<RedirectUri>,
    pub grants: Vec<GrantType>,
    /// Shipped with mailward (mail apps, CLI); cannot be deleted.
    pub first_party: bool,
    /// Sign-out landing pages accepted by end-session.
    pub post_logout_redirect_uris: Vec<RedirectUri>,
    /// Application roles granted to this client for client-credentials tokens
    /// (e.g. `LegacyAuth.Relay` for mail instances).
    pub app_roles: Vec<String>,
    pub created_at: OffsetDateTime,
}

impl Application {
    pub fn allows(&self, grant: GrantType) -> bool {
        self.grants.contains(&grant)
    }
}

/// Signing algorithm of access tokens for a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TokenAlg {
    ES256,
    RS256,
}

impl TokenAlg {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenAlg::ES256 => "ES256",
            TokenAlg::RS256 => "RS256",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "ES256" => Some(TokenAlg::ES256),
            "RS256" => Some(TokenAlg::RS256),
            _ => None,
        }
    }
}

/// A protected resource (API) that access tokens are issued for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    pub id: Uuid,
    /// The audience (`aud`) of its tokens, e.g. `https://localhost:8446`.
    pub uri: String,
    pub display_name: String,
    /// Delegated scopes (`scp`), e.g. `IMAP.AccessAsUser.All`.
    pub scopes: Vec<String>,
    /// Application roles clients may be granted (`roles` claim).
    pub app_roles: Vec<String>,
    pub token_alg: TokenAlg,
    /// Access token lifetime in seconds.
    pub access_token_lifetime: i64,
    pub first_party: bool,
    pub created_at: OffsetDateTime,
}

/// Client application type of a sign-in, as conditional access sees it (DESIGN.md §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ClientAppType {
    Browser,
    MobileAppsAndDesktopClients,
    ExchangeActiveSync,
    /// Basic (legacy) authentication relayed by a mail instance.
    Other,
    /// Service principals (client credentials): no user.
    ServicePrincipal,
}

impl ClientAppType {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientAppType::Browser => "browser",
            ClientAppType::MobileAppsAndDesktopClients => "mobileAppsAndDesktopClients",
            ClientAppType::ExchangeActiveSync => "exchangeActiveSync",
            ClientAppType::Other => "other",
            ClientAppType::ServicePrincipal => "servicePrincipal",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            ClientAppType::Browser,
            ClientAppType::MobileAppsAndDesktopClients,
            ClientAppType::ExchangeActiveSync,
            ClientAppType::Other,
            ClientAppType::ServicePrincipal,
        ]
        .into_iter()
        .find(|c| c.as_str().eq_ignore_ascii_case(s))
    }
}

/// Authentication methods reference values (RFC 8176) as they appear in `amr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Amr {
    /// Password.
    Pwd,
    /// One-time password (TOTP or recovery code).
    Otp,
    /// Hardware-bound key (WebAuthn).
    Hwk,
    /// Multiple factors were used.
    Mfa,
    /// Federated (arrives with the federation role).
    Fed,
}

impl Amr {
    pub fn as_str(self) -> &'static str {
        match self {
            Amr::Pwd => "pwd",
            Amr::Otp => "otp",
            Amr::Hwk => "hwk",
            Amr::Mfa => "mfa",
            Amr::Fed => "fed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pwd" => Some(Amr::Pwd),
            "otp" => Some(Amr::Otp),
            "hwk" => Some(Amr::Hwk),
            "mfa" => Some(Amr::Mfa),
            "fed" => Some(Amr::Fed),
            _ => None,
        }
    }
}

/// Well-known ids of the objects every tenant starts with.
pub mod well_known {
    /// The first-party public client for desktop and mobile mail apps.
    pub const MAIL_CLIENT_ID: &str = "d3590ed6-52b3-4102-aeff-aad2292ab01c";
    /// The first-party public client of the `mailward` CLI (device code login).
    pub const CLI_CLIENT_ID: &str = "1950a258-227b-4e31-a9cf-717495945fc2";
    /// Display name of the mail resource.
    pub const MAIL_RESOURCE_NAME: &str = "Office 365 Exchange Online";
    /// App id of the mail resource (the familiar Exchange principal id).
    pub const MAIL_RESOURCE_APP_ID: &str = "00000002-0000-0ff1-ce00-000000000000";
    /// Delegated scopes of the mail resource.
    pub const MAIL_SCOPES: &[&str] = &[
        "IMAP.AccessAsUser.All",
        "POP.AccessAsUser.All",
        "SMTP.Send",
        "Mail.ReadWrite",
        "Mail.Send",
        "EWS.AccessAsUser.All",
        MAIL_ADMIN_SCOPE,
    ];
    /// Delegated scope of a mail instance's admin API (Exchange's `Exchange.Manage`); the
    /// caller's admin roles still decide what it may do.
    pub const MAIL_ADMIN_SCOPE: &str = "Exchange.Manage";
    /// Application role a mail instance needs to call the relayed basic-auth endpoint.
    pub const LEGACY_RELAY_ROLE: &str = "LegacyAuth.Relay";
    /// Scope of the admin API (identity's own resource).
    pub const ADMIN_SCOPE: &str = "Directory.AccessAsUser.All";
}
