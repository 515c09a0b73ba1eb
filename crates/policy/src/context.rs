//! What evaluation knows about a sign-in ([`SignInContext`]) and about the tenant
//! ([`Config`]): who signs in, to which application, from where, with which client, and
//! what has already been proven. The caller resolves everything (groups, country, risk);
//! this crate only compares.

use crate::model::RiskLevel;
use mailward_types::model::{Amr, ClientAppType, Role};
use std::net::IpAddr;
use time::OffsetDateTime;
use uuid::Uuid;

/// Tenant facts policies are compiled against.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    /// App ids the `Office365` keyword stands for: the mail resource
    /// (`00000002-0000-0ff1-ce00-000000000000`) and its first-party clients.
    pub office365_app_ids: Vec<String>,
    /// App ids the `MicrosoftAdminPortals` keyword stands for (the admin center).
    pub admin_portal_app_ids: Vec<String>,
}

/// The sign-in being evaluated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInContext {
    /// The signing-in user; `None` for a service principal (client credentials), to which
    /// no user-scoped policy applies.
    pub user: Option<UserFacts>,
    /// The target application: the resource a token is requested for (e.g. the mail
    /// resource), or the client itself when it signs in to itself.
    pub app_id: String,
    pub client_app_type: ClientAppType,
    /// Client IP; `None` matches no IP named location.
    pub ip: Option<IpAddr>,
    /// Country of the client IP (from the admin-supplied database); `None` = unknown,
    /// which matches country locations with `includeUnknownCountriesAndRegions`.
    pub country: Option<CountryCode>,
    /// From [`platform_from_user_agent`]; `None` = unknown, matched only by `all`.
    pub platform: Option<Platform>,
    /// Sign-in risk. mailward has no risk detection yet, so callers pass
    /// [`RiskLevel::None`]; policies with `signInRiskLevels` then apply only if they list
    /// `none`.
    pub sign_in_risk: RiskLevel,
    /// User risk; [`RiskLevel::None`] without a signal, as for `sign_in_risk`.
    pub user_risk: RiskLevel,
    /// Methods already used in this sign-in, or in the session / token being refreshed.
    pub amr: Vec<Amr>,
    /// When the user last authenticated (primary factor); `None` = authenticating now.
    pub auth_time: Option<OffsetDateTime>,
    /// When MFA was last completed; `Some` counts as MFA done (until `signInFrequency`).
    pub mfa_time: Option<OffsetDateTime>,
    /// The user changed their password during this sign-in (satisfies `passwordChange`).
    pub password_changed: bool,
}

/// The directory facts about the user that conditions look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserFacts {
    pub id: Uuid,
    /// Ids of every group the user is a member of (transitively, if groups nest).
    pub groups: Vec<Uuid>,
    pub roles: Vec<Role>,
    /// Matches `GuestsOrExternalUsers`.
    pub guest: bool,
}

impl SignInContext {
    /// A context for `user` signing in to `app_id`, with no IP, country, platform or
    /// factors yet and no risk; set the rest with struct update syntax.
    pub fn new(user: UserFacts, app_id: impl Into<String>, client_app_type: ClientAppType) -> Self {
        SignInContext {
            user: Some(user),
            app_id: app_id.into(),
            client_app_type,
            ip: None,
            country: None,
            platform: None,
            sign_in_risk: RiskLevel::None,
            user_risk: RiskLevel::None,
            amr: Vec::new(),
            auth_time: None,
            mfa_time: None,
            password_changed: false,
        }
    }
}

impl UserFacts {
    /// A member user with no groups and no roles.
    pub fn member(id: Uuid) -> Self {
        UserFacts {
            id,
            groups: Vec::new(),
            roles: Vec::new(),
            guest: false,
        }
    }
}

/// A device platform as conditional access names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Platform {
    Android,
    IOS,
    Windows,
    WindowsPhone,
    MacOS,
    Linux,
}

impl Platform {
    pub const ALL: [Platform; 6] = [
        Platform::Android,
        Platform::IOS,
        Platform::Windows,
        Platform::WindowsPhone,
        Platform::MacOS,
        Platform::Linux,
    ];

    /// The Graph value (`android`, `iOS`, `windows`, `windowsPhone`, `macOS`, `linux`).
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Android => "android",
            Platform::IOS => "iOS",
            Platform::Windows => "windows",
            Platform::WindowsPhone => "windowsPhone",
            Platform::MacOS => "macOS",
            Platform::Linux => "linux",
        }
    }

    /// Parses a Graph value (case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        Platform::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(s))
    }
}

/// The platform a `User-Agent` claims (unverified, as in Entra). Order matters: Windows
/// Phone user agents also mention Android and Windows, Android ones mention Linux, iPadOS
/// in desktop mode claims `Macintosh` and is reported as macOS.
pub fn platform_from_user_agent(ua: &str) -> Option<Platform> {
    let ua = ua.to_ascii_lowercase();
    let has = |s: &str| ua.contains(s);
    if has("windows phone") || has("windowsphone") || has("windows mobile") {
        Some(Platform::WindowsPhone)
    } else if has("android") {
        Some(Platform::Android)
    } else if has("iphone") || has("ipad") || has("ipod") || has("ios/") || has("ios ") {
        Some(Platform::IOS)
    } else if has("windows") {
        Some(Platform::Windows)
    } else if has("macintosh") || has("mac os x") || has("macos") {
        Some(Platform::MacOS)
    } else if has("cros") {
        // ChromeOS has no platform value in Graph v1.0.
        None
    } else if has("linux") || has("x11") {
        Some(Platform::Linux)
    } else {
        None
    }
}

/// An ISO 3166-1 alpha-2 country or region code, upper-case (`US`, `CA`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CountryCode([u8; 2]);

impl CountryCode {
    /// Two ASCII letters, any case.
    pub fn parse(s: &str) -> Option<Self> {
        match s.as_bytes() {
            [a, b] if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() => Some(CountryCode([
                a.to_ascii_uppercase(),
                b.to_ascii_uppercase(),
            ])),
            _ => None,
        }
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("")
    }
}
