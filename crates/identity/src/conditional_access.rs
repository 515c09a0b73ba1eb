//! Conditional access in identity: the stored Graph policies and named locations, compiled
//! once into a [`PolicySet`] and shared by every sign-in, and the policy step that every
//! interactive sign-in and every token grant runs.
//!
//! - Policies and named locations are stored verbatim as the JSON Graph exchanges
//!   (documents of kind [`POLICY_KIND`] / [`LOCATION_KIND`]), so they export back exactly.
//! - The compiled set is cached. Every change through the admin API also writes a new
//!   version marker ([`VERSION_KEY`]); a node compares the marker at most every
//!   [`RECHECK`] and rebuilds when it changed, so changes made on another node or by the
//!   local CLI apply within about a second, and a full reload happens at least every
//!   [`RELOAD`] regardless.
//! - Security defaults ([`mailward_policy::baseline`]) are on until an admin turns them
//!   off (the setting [`SECURITY_DEFAULTS_KEY`], changed through the Graph-shaped
//!   `/v1.0/policies/identitySecurityDefaultsEnforcementPolicy`). While on they apply in
//!   addition to the policies and the stricter decision wins: MFA for everyone on the
//!   client app types `[identity.policy] require_mfa` names (all by default), MFA for
//!   administrators always, legacy clients blocked wherever MFA is required of them. The
//!   sign-in log shows them as the pseudo-policy "Security defaults". Off, the policies
//!   alone decide.
//! - A stored set that no longer compiles (edited by hand in the database, say) fails
//!   closed: every user sign-in is refused with 53003 until an admin fixes it.

use crate::state::Ctx;
use mailward_policy::{
    ConditionalAccessPolicy, Config, CountryCode, Decision, NamedLocation, PolicySet,
    SecurityDefaults, SessionEffect, SignInContext, UserFacts, combine, import_named_location,
    import_policy, platform_from_user_agent,
};
use mailward_signin::policy as rule;
use mailward_store::StoreError;
use mailward_types::ErrorCode;
use mailward_types::model::{Amr, ClientAppType, Resource, User, well_known};
use mailward_types::records::PolicyOutcome;
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use time::OffsetDateTime;

/// Document kind of conditional access policies.
pub const POLICY_KIND: &str = "conditionalAccessPolicy";
/// Document kind of named locations.
pub const LOCATION_KIND: &str = "namedLocation";
/// A full reload at least this often, whatever the version marker says.
pub const RELOAD: Duration = Duration::from_secs(60);
/// How often the version marker is compared.
pub const RECHECK: Duration = Duration::from_secs(1);
/// Setting that changes with every conditional access change.
pub const VERSION_KEY: &str = "conditional_access.version";
/// Setting holding `"false"` once an admin has turned security defaults off; absent or
/// anything else means on.
pub const SECURITY_DEFAULTS_KEY: &str = "security_defaults.enabled";
/// What turning security defaults off stops, shown by the CLI and the admin center.
pub const SECURITY_DEFAULTS_OFF_WARNING: &str = "Turning security defaults off stops requiring MFA for every user and for administrators, and stops blocking legacy clients (exchangeActiveSync, other) for everyone. From then on only your conditional access policies protect sign-ins; users and applications no enabled policy covers sign in with a password alone (see `mailward ca coverage`).";

/// The tenant's policies as evaluation needs them.
#[derive(Debug)]
pub struct Loaded {
    /// `Err` with the compile error when the stored set is inconsistent.
    pub set: Result<PolicySet, String>,
    pub policies: Vec<ConditionalAccessPolicy>,
    pub locations: Vec<NamedLocation>,
    /// Whether security defaults are on.
    pub security_defaults: bool,
}

impl Loaded {
    /// Whether some policy exists, so that the network, the time or the policies' own
    /// conditions may refuse a sign-in the security defaults alone would let through (the
    /// refresh grant then judges before rotating).
    pub fn active(&self) -> bool {
        !self.policies.is_empty()
    }

    /// The display names (ids when unnamed) of the policies naming a group in their
    /// include or exclude lists, whatever their state.
    pub fn policies_naming_group(&self, group: uuid::Uuid) -> Vec<String> {
        let id = group.to_string();
        self.policies
            .iter()
            .filter(|p| {
                p.conditions
                    .get()
                    .and_then(|c| c.users.get())
                    .is_some_and(|u| {
                        [&u.include_groups, &u.exclude_groups]
                            .iter()
                            .filter_map(|l| l.get())
                            .flatten()
                            .any(|g| g.eq_ignore_ascii_case(&id))
                    })
            })
            .map(|p| {
                p.display_name
                    .get()
                    .or(p.id.get())
                    .cloned()
                    .unwrap_or_default()
            })
            .collect()
    }
}

/// Security defaults as evaluation needs them, from the configured MFA rule.
pub fn security_defaults(configured: &rule::MfaRule) -> SecurityDefaults {
    use rule::{MfaKeyword, MfaRule};
    match configured {
        MfaRule::Keyword(MfaKeyword::Everyone) => SecurityDefaults::everyone(),
        MfaRule::Keyword(MfaKeyword::None) => SecurityDefaults {
            mfa_client_app_types: vec![],
        },
        MfaRule::ClientAppTypes(list) => SecurityDefaults {
            mfa_client_app_types: list.clone(),
        },
    }
}

/// The policies naming a group (see [`Loaded::policies_naming_group`]).
pub async fn policies_naming_group(
    ctx: &Ctx,
    group: uuid::Uuid,
) -> Result<Vec<String>, StoreError> {
    Ok(load(ctx).await?.policies_naming_group(group))
}

/// Turns security defaults on or off (a conditional access change: every node rebuilds).
pub async fn set_security_defaults(ctx: &Ctx, on: bool) -> Result<(), StoreError> {
    ctx.store()
        .put_setting(SECURITY_DEFAULTS_KEY, if on { "true" } else { "false" })
        .await?;
    changed(ctx).await
}

/// The cached compiled set and the optional country database.
#[derive(Debug, Default)]
pub struct Engine {
    loaded: RwLock<Option<Cached>>,
    geo: Option<GeoDb>,
}

#[derive(Debug)]
struct Cached {
    loaded_at: Instant,
    checked_at: Instant,
    version: Option<String>,
    set: Arc<Loaded>,
}

/// An admin-supplied MaxMind-format (GeoIP2/GeoLite2 Country, DB-IP) database.
pub struct GeoDb(maxminddb::Reader<Vec<u8>>);

impl std::fmt::Debug for GeoDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GeoDb")
    }
}

impl GeoDb {
    pub fn open(path: &Path) -> Result<GeoDb, String> {
        maxminddb::Reader::open_readfile(path)
            .map(GeoDb)
            .map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The ISO country code of an address, when the database knows it.
    pub fn country(&self, ip: IpAddr) -> Option<CountryCode> {
        use maxminddb::PathElement::Key;
        let found = self.0.lookup(ip).ok()?;
        let iso: Option<String> = found
            .decode_path(&[Key("country"), Key("iso_code")])
            .ok()
            .flatten();
        iso.as_deref().and_then(CountryCode::parse)
    }
}

impl Engine {
    pub fn new(geo: Option<GeoDb>) -> Engine {
        Engine {
            loaded: RwLock::new(None),
            geo,
        }
    }

    /// Forgets the compiled set (after an admin change on this node).
    pub fn invalidate(&self) {
        *self.write() = None;
    }

    pub fn country(&self, ip: Option<IpAddr>) -> Option<CountryCode> {
        self.geo.as_ref().zip(ip).and_then(|(g, ip)| g.country(ip))
    }

    /// The cached set if it is fresh; `Err` with the version it was built from when the
    /// marker must be compared first.
    fn cached(&self) -> Result<Arc<Loaded>, Option<Option<String>>> {
        let guard = match self.loaded.read() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        match guard.as_ref() {
            Some(c) if c.loaded_at.elapsed() < RELOAD && c.checked_at.elapsed() < RECHECK => {
                Ok(c.set.clone())
            }
            Some(c) if c.loaded_at.elapsed() < RELOAD => Err(Some(c.version.clone())),
            _ => Err(None),
        }
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Option<Cached>> {
        match self.loaded.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }
}

/// Records a change (after an admin API write): a new version marker for every node, and
/// this node's cache dropped at once.
pub async fn changed(ctx: &Ctx) -> Result<(), StoreError> {
    ctx.store()
        .put_setting(VERSION_KEY, &uuid::Uuid::new_v4().to_string())
        .await?;
    ctx.invalidate_cache();
    Ok(())
}

/// The keyword `Office365` stands for the mail resource and its first-party clients;
/// `MicrosoftAdminPortals` for identity's own resource and the CLI.
pub fn tenant_config() -> Config {
    Config {
        office365_app_ids: vec![
            well_known::MAIL_RESOURCE_APP_ID.to_string(),
            well_known::MAIL_CLIENT_ID.to_string(),
        ],
        admin_portal_app_ids: vec![
            IDENTITY_RESOURCE_APP_ID.to_string(),
            well_known::CLI_CLIENT_ID.to_string(),
        ],
    }
}

/// App id policies use for identity's own resource (the admin API), Microsoft Graph's.
pub const IDENTITY_RESOURCE_APP_ID: &str = "00000003-0000-0000-c000-000000000000";

/// The application id conditional access sees for a resource: the familiar ids for the mail
/// resource and identity's own API, the resource's object id otherwise.
pub fn resource_app_id(ctx: &Ctx, resource: &Resource) -> String {
    if resource.uri == ctx.cfg().mail_resource_uri {
        well_known::MAIL_RESOURCE_APP_ID.to_string()
    } else if resource.uri == ctx.base_url() {
        IDENTITY_RESOURCE_APP_ID.to_string()
    } else {
        resource.id.to_string()
    }
}

/// The current policies (from cache, or read and compiled).
pub async fn load(ctx: &Ctx) -> Result<Arc<Loaded>, StoreError> {
    let engine = ctx.conditional_access();
    let store = ctx.store();
    let version = match engine.cached() {
        Ok(l) => return Ok(l),
        Err(built_from) => {
            let current = store.get_setting(VERSION_KEY).await?;
            if let Some(built_from) = built_from
                && built_from == current
            {
                let mut guard = engine.write();
                if let Some(c) = guard.as_mut() {
                    c.checked_at = Instant::now();
                    return Ok(c.set.clone());
                }
            }
            current
        }
    };
    let mut policies = Vec::new();
    let mut problems = Vec::new();
    for doc in store.documents(POLICY_KIND).await? {
        match import_policy(doc.body.as_bytes()) {
            Ok(p) => policies.push(p),
            Err(e) => problems.push(format!("policy {}: {e}", doc.id)),
        }
    }
    let mut locations = Vec::new();
    for doc in store.documents(LOCATION_KIND).await? {
        match import_named_location(doc.body.as_bytes()) {
            Ok(l) => locations.push(l),
            Err(e) => problems.push(format!("named location {}: {e}", doc.id)),
        }
    }
    let set = if problems.is_empty() {
        PolicySet::compile(&policies, &locations, &tenant_config()).map_err(|e| e.to_string())
    } else {
        Err(problems.join("; "))
    };
    if let Err(e) = &set {
        tracing::error!(error = %e, "stored conditional access policies do not compile; user sign-ins are refused until fixed");
    }
    let security_defaults =
        store.get_setting(SECURITY_DEFAULTS_KEY).await?.as_deref() != Some("false");
    let loaded = Arc::new(Loaded {
        set,
        policies,
        locations,
        security_defaults,
    });
    let now = Instant::now();
    *engine.write() = Some(Cached {
        loaded_at: now,
        checked_at: now,
        version,
        set: loaded.clone(),
    });
    Ok(loaded)
}

/// What the policy step knows about a user sign-in or token grant.
#[derive(Debug, Clone)]
pub struct StepInput<'a> {
    pub user: &'a User,
    /// The application the sign-in is for (see [`resource_app_id`]), or the client id.
    pub app_id: String,
    pub client_app_type: ClientAppType,
    pub ip: Option<IpAddr>,
    pub user_agent: Option<&'a str>,
    /// Methods already used (this sign-in, the session, or the token being refreshed).
    pub amr: &'a [Amr],
    /// When the user last signed in with a first factor; `None` = right now.
    pub auth_time: Option<OffsetDateTime>,
    /// When MFA was last done; `Some` counts as done until `signInFrequency` says otherwise.
    pub mfa_time: Option<OffsetDateTime>,
    pub now: OffsetDateTime,
}

/// The policy step's verdict and what to log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepResult {
    pub decision: rule::Decision,
    /// The second factor must be phishing-resistant (a passkey).
    pub phishing_resistant: bool,
    /// `signInFrequency` is exceeded: the earlier sign-in no longer counts.
    pub reauthenticate: bool,
    pub outcomes: Vec<PolicyOutcome>,
    pub session: SessionEffect,
}

/// Runs the policy step: the conditional access policies, and security defaults while on.
pub async fn step(ctx: &Ctx, input: &StepInput<'_>) -> Result<StepResult, StoreError> {
    let loaded = load(ctx).await?;
    let set = match &loaded.set {
        Ok(set) => set,
        Err(_) => {
            return Ok(StepResult {
                decision: rule::Decision::Block(ErrorCode::BlockedByPolicy),
                phishing_resistant: false,
                reauthenticate: false,
                outcomes: vec![],
                session: SessionEffect::default(),
            });
        }
    };
    let sign_in = context(ctx, input, set.names_groups()).await?;
    let ev = set.evaluate(&sign_in, input.now);
    let mut outcomes = ev.records();
    let mut decision = ev.decision;
    if loaded.security_defaults {
        let (baseline, outcome) =
            security_defaults(&ctx.cfg().policy.require_mfa).evaluate(&sign_in);
        decision = combine(decision, baseline);
        outcomes.insert(0, outcome);
    }
    let (decision, phishing_resistant, reauthenticate) = match decision {
        Decision::Allow => (rule::Decision::Allow, false, false),
        Decision::Block { code, .. } => (rule::Decision::Block(code), false, false),
        Decision::RequireControls(c) if c.password_change => {
            // mailward has no password-change step in the sign-in yet: a policy that
            // demands one cannot be satisfied here.
            (
                rule::Decision::Block(ErrorCode::BlockedByPolicy),
                false,
                false,
            )
        }
        Decision::RequireControls(c) => {
            let d = if c.mfa || c.phishing_resistant {
                rule::Decision::RequireMfa
            } else {
                rule::Decision::Allow
            };
            (d, c.phishing_resistant, c.reauthentication)
        }
    };
    Ok(StepResult {
        decision,
        phishing_resistant,
        reauthenticate,
        outcomes,
        session: ev.session,
    })
}

/// The user's facts for evaluation: groups and roles from the directory.
pub async fn user_facts(ctx: &Ctx, user: &User) -> Result<UserFacts, StoreError> {
    Ok(UserFacts {
        id: user.id,
        groups: ctx.store().groups_of_user(user.id).await?,
        roles: user.roles.clone(),
        guest: false,
    })
}

/// The sign-in as policies see it. Group memberships are looked up only when some policy
/// names a group (`need_groups`): otherwise they cannot change the outcome, and a refresh
/// saves a query.
async fn context(
    ctx: &Ctx,
    input: &StepInput<'_>,
    need_groups: bool,
) -> Result<SignInContext, StoreError> {
    let facts = if need_groups {
        user_facts(ctx, input.user).await?
    } else {
        UserFacts {
            id: input.user.id,
            groups: Vec::new(),
            roles: input.user.roles.clone(),
            guest: false,
        }
    };
    let mut sign_in = SignInContext::new(facts, input.app_id.clone(), input.client_app_type);
    sign_in.ip = input.ip;
    sign_in.country = ctx.conditional_access().country(input.ip);
    sign_in.platform = input.user_agent.and_then(platform_from_user_agent);
    sign_in.amr = input.amr.to_vec();
    sign_in.auth_time = input.auth_time;
    sign_in.mfa_time = input
        .mfa_time
        .or_else(|| input.amr.contains(&Amr::Mfa).then_some(input.now));
    Ok(sign_in)
}

/// The application a request targets: the resource its scopes name, or the client itself
/// when it asks only for OpenID scopes.
pub async fn target_app(ctx: &Ctx, resource_uri: Option<&str>, client_id: &str) -> String {
    match resource_uri {
        Some(uri) => match ctx.resource(uri).await {
            Ok(Some(r)) => resource_app_id(ctx, &r),
            _ => client_id.to_string(),
        },
        None => client_id.to_string(),
    }
}

/// Why a coverage report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CoverageError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The stored policies do not compile.
    #[error("{0}")]
    Invalid(String),
}

/// An application as the coverage report names it.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CoverageApp {
    pub app_id: String,
    pub display_name: String,
}

/// One sign-in a password alone completes.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CoverageHole {
    pub app_id: String,
    pub display_name: String,
    pub client_app_type: ClientAppType,
}

/// A user with the sign-ins a password alone completes.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CoverageUser {
    pub id: uuid::Uuid,
    pub user_principal_name: String,
    pub roles: Vec<String>,
    pub sign_ins: Vec<CoverageHole>,
}

/// Whether one legacy client app type is blocked for every user and application.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LegacyCoverage {
    pub client_app_type: ClientAppType,
    pub blocked: bool,
    /// Users it signs in for with a password.
    pub open_for: Vec<String>,
}

/// The coverage check's answer (`GET .../conditionalAccess/coverage`).
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CoverageReport {
    pub security_defaults_enabled: bool,
    pub enabled_policies: usize,
    pub users_checked: usize,
    pub applications_checked: Vec<CoverageApp>,
    /// Users with a browser or mobile/desktop sign-in that needs no MFA.
    pub users_without_mfa: Vec<CoverageUser>,
    /// Applications some user reaches from a modern client without MFA.
    pub applications_without_mfa: Vec<CoverageApp>,
    pub legacy_clients: Vec<LegacyCoverage>,
    /// Administrators with any sign-in (legacy included) a password alone completes.
    pub admins_with_password_only: Vec<CoverageUser>,
    /// Nothing above is open.
    pub fully_covered: bool,
}

/// The applications sign-ins target: every resource (as conditional access names it) and
/// every application users sign in to (the target when only OpenID scopes are asked).
async fn coverage_apps(ctx: &Ctx) -> Result<Vec<CoverageApp>, StoreError> {
    let mut apps = Vec::new();
    for r in ctx.store().list_resources().await? {
        apps.push(CoverageApp {
            app_id: resource_app_id(ctx, &r),
            display_name: r.display_name,
        });
    }
    for a in ctx.store().list_apps().await? {
        let user_facing = a.grants.iter().any(|g| {
            !matches!(
                g,
                mailward_types::model::GrantType::ClientCredentials
                    | mailward_types::model::GrantType::RefreshToken
            )
        });
        if user_facing {
            apps.push(CoverageApp {
                app_id: a.client_id.to_string(),
                display_name: a.display_name,
            });
        }
    }
    Ok(apps)
}

/// Runs the coverage check over every enabled user and application (see
/// [`mailward_policy::coverage`]).
pub async fn coverage(ctx: &Ctx, now: OffsetDateTime) -> Result<CoverageReport, CoverageError> {
    use mailward_policy::coverage as cov;
    let loaded = load(ctx).await?;
    let set = loaded
        .set
        .as_ref()
        .map_err(|e| CoverageError::Invalid(e.clone()))?;
    let users: Vec<User> = ctx
        .store()
        .list_users()
        .await?
        .into_iter()
        .filter(|u| u.enabled)
        .collect();
    let mut facts = Vec::with_capacity(users.len());
    for u in &users {
        facts.push(user_facts(ctx, u).await?);
    }
    let apps = coverage_apps(ctx).await?;
    let app_ids: Vec<String> = apps.iter().map(|a| a.app_id.clone()).collect();
    let baseline = loaded
        .security_defaults
        .then(|| security_defaults(&ctx.cfg().policy.require_mfa));
    let c = cov::check(set, baseline.as_ref(), &facts, &app_ids, now);
    let hole = |h: &mailward_policy::Hole| CoverageHole {
        app_id: apps[h.app].app_id.clone(),
        display_name: apps[h.app].display_name.clone(),
        client_app_type: h.client_app_type,
    };
    let user_entry = |i: usize, holes: Vec<CoverageHole>| CoverageUser {
        id: users[i].id,
        user_principal_name: users[i].upn.to_string(),
        roles: users[i]
            .roles
            .iter()
            .map(|r| r.as_str().to_string())
            .collect(),
        sign_ins: holes,
    };
    let modern = |h: &&mailward_policy::Hole| {
        !matches!(
            h.client_app_type,
            ClientAppType::ExchangeActiveSync | ClientAppType::Other
        )
    };
    let users_without_mfa = c
        .users_without_mfa()
        .into_iter()
        .map(|i| {
            user_entry(
                i,
                c.holes
                    .iter()
                    .filter(|h| h.user == i)
                    .filter(modern)
                    .map(hole)
                    .collect(),
            )
        })
        .collect();
    let applications_without_mfa = c
        .apps_without_mfa()
        .into_iter()
        .map(|a| apps[a].clone())
        .collect();
    let legacy_clients = [ClientAppType::ExchangeActiveSync, ClientAppType::Other]
        .into_iter()
        .map(|cat| {
            let open: Vec<String> = c
                .legacy_open(cat)
                .into_iter()
                .map(|i| users[i].upn.to_string())
                .collect();
            LegacyCoverage {
                client_app_type: cat,
                blocked: open.is_empty(),
                open_for: open,
            }
        })
        .collect();
    let admin_holes = c.admin_holes(|i| !users[i].roles.is_empty());
    let mut admins = Vec::new();
    for (i, _) in users.iter().enumerate() {
        let mine: Vec<CoverageHole> = admin_holes
            .iter()
            .filter(|h| h.user == i)
            .map(hole)
            .collect();
        if !mine.is_empty() {
            admins.push(user_entry(i, mine));
        }
    }
    Ok(CoverageReport {
        security_defaults_enabled: loaded.security_defaults,
        enabled_policies: loaded
            .policies
            .iter()
            .filter(|p| p.state.get() == Some(&mailward_policy::PolicyState::Enabled))
            .count(),
        users_checked: users.len(),
        applications_checked: apps.clone(),
        fully_covered: c.holes.is_empty(),
        users_without_mfa,
        applications_without_mfa,
        legacy_clients,
        admins_with_password_only: admins,
    })
}
