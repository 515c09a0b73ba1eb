//! Evaluation: which policies apply to a sign-in, what each demands, and the combined
//! decision (microsoft.md §3.5–§3.8).
//!
//! Rules, in the order they act:
//! - `disabled` policies are reported `notEnabled` and otherwise ignored.
//! - A policy applies when every configured condition matches (conditions are ANDed):
//!   users, applications, client app types, locations, platforms, sign-in risk, user risk,
//!   checked in that order; the first that fails is the What-If reason. Within a condition
//!   exclusion beats inclusion. Service principals (no user) match no policy.
//! - Every applicable policy applies. `block` (or a control that cannot be satisfied for
//!   this sign-in) blocks, and block wins over every grant. Otherwise the unmet grant
//!   controls of all applicable policies are required together: `AND` needs each control,
//!   `OR` is met by any one and, when none is met, asks for the first mailward can prompt
//!   (MFA, authentication strength, password change: Entra's prompt order).
//! - Legacy client app types (`other`, `exchangeActiveSync`) can satisfy no interactive
//!   control, so a policy demanding MFA blocks them (code 50076 as Entra; `block` gives
//!   53003).
//! - `compliantDevice`, `domainJoinedDevice`, `approvedApplication` and
//!   `compliantApplication` are never satisfied: mailward manages no devices or app
//!   protection. Alone or under `AND` they block; under `OR` another control can satisfy.
//! - `signInFrequency` demands fresh authentication: when `now - auth_time` exceeds the
//!   strictest applying frequency (`secondaryAuthentication`: `now - mfa_time`), earlier
//!   factors no longer count and reauthentication (or MFA) is required. `everyTime`
//!   allows five minutes, as Entra does. Legacy clients send their password every time and
//!   are never stale.
//! - Report-only policies go through the same steps, are reported `reportOnly*`, and never
//!   change the decision or the session limits.

use crate::compile::{
    AppKey, CLIENT_BROWSER, CLIENT_EAS, CLIENT_EAS_SUPPORTED, CLIENT_MOBILE, CLIENT_OTHER,
    CompiledPolicy, Frequency, LocationKind, PolicySet, Posting, has_bit, intersects, platform_bit,
    risk_bit, role_bit, set_bit,
};
use crate::context::{Platform, SignInContext, UserFacts};
use crate::model::{FrequencyAuthenticationType, Operator, PersistentBrowserMode, PolicyState};
use mailward_types::ErrorCode;
use mailward_types::model::{Amr, ClientAppType};
use mailward_types::records::PolicyOutcome;
use std::fmt;
use std::net::IpAddr;
use time::OffsetDateTime;

/// The combined verdict of the enabled policies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// The sign-in may continue once these are satisfied.
    RequireControls(RequiredControls),
    /// Refused. `policies` are the ids of the enabled policies that block; `code` is the
    /// sign-in error to return: 53003 (`BlockedByPolicy`) for `block` and unsatisfiable
    /// controls, 50076 (`MfaRequired`) for a legacy client that a policy asks for MFA.
    Block {
        policies: Vec<String>,
        code: ErrorCode,
    },
}

/// What the user still has to do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequiredControls {
    /// A second factor (any MFA method).
    pub mfa: bool,
    /// Specifically a phishing-resistant one (passkey / security key, `amr` `hwk`).
    pub phishing_resistant: bool,
    pub password_change: bool,
    /// Sign in again from scratch (`signInFrequency` exceeded).
    pub reauthentication: bool,
}

/// The per-policy result, with Graph's `appliedConditionalAccessPolicy.result` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyResult {
    Success,
    Failure,
    NotApplied,
    NotEnabled,
    ReportOnlySuccess,
    ReportOnlyFailure,
    ReportOnlyNotApplied,
    /// Report-only: the user would have been prompted ("user action required").
    ReportOnlyInterrupted,
}

impl PolicyResult {
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyResult::Success => "success",
            PolicyResult::Failure => "failure",
            PolicyResult::NotApplied => "notApplied",
            PolicyResult::NotEnabled => "notEnabled",
            PolicyResult::ReportOnlySuccess => "reportOnlySuccess",
            PolicyResult::ReportOnlyFailure => "reportOnlyFailure",
            PolicyResult::ReportOnlyNotApplied => "reportOnlyNotApplied",
            PolicyResult::ReportOnlyInterrupted => "reportOnlyInterrupted",
        }
    }
}

/// The condition that kept a policy from applying (What-If's reason), named by its
/// Graph path under `conditions`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Condition {
    /// No user: a service principal sign-in.
    Users,
    UsersIncludeUsers,
    UsersIncludeGroups,
    UsersIncludeRoles,
    /// Also `GuestsOrExternalUsers` in `excludeUsers`.
    UsersExcludeUsers,
    UsersExcludeGroups,
    UsersExcludeRoles,
    ApplicationsIncludeApplications,
    ApplicationsExcludeApplications,
    ClientAppTypes,
    LocationsIncludeLocations,
    LocationsExcludeLocations,
    PlatformsIncludePlatforms,
    PlatformsExcludePlatforms,
    SignInRiskLevels,
    UserRiskLevels,
}

impl Condition {
    pub fn as_str(self) -> &'static str {
        match self {
            Condition::Users => "users",
            Condition::UsersIncludeUsers => "users.includeUsers",
            Condition::UsersIncludeGroups => "users.includeGroups",
            Condition::UsersIncludeRoles => "users.includeRoles",
            Condition::UsersExcludeUsers => "users.excludeUsers",
            Condition::UsersExcludeGroups => "users.excludeGroups",
            Condition::UsersExcludeRoles => "users.excludeRoles",
            Condition::ApplicationsIncludeApplications => "applications.includeApplications",
            Condition::ApplicationsExcludeApplications => "applications.excludeApplications",
            Condition::ClientAppTypes => "clientAppTypes",
            Condition::LocationsIncludeLocations => "locations.includeLocations",
            Condition::LocationsExcludeLocations => "locations.excludeLocations",
            Condition::PlatformsIncludePlatforms => "platforms.includePlatforms",
            Condition::PlatformsExcludePlatforms => "platforms.excludePlatforms",
            Condition::SignInRiskLevels => "signInRiskLevels",
            Condition::UserRiskLevels => "userRiskLevels",
        }
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A grant control as evaluation sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GrantControl {
    Block,
    Mfa,
    /// `authenticationStrength` 00000000-0000-0000-0000-000000000002.
    MfaStrength,
    /// `authenticationStrength` 00000000-0000-0000-0000-000000000004 (passkey, `hwk`).
    PhishingResistantStrength,
    PasswordChange,
    CompliantDevice,
    DomainJoinedDevice,
    ApprovedApplication,
    CompliantApplication,
}

impl GrantControl {
    const ALL: [GrantControl; 9] = [
        GrantControl::Block,
        GrantControl::Mfa,
        GrantControl::MfaStrength,
        GrantControl::PhishingResistantStrength,
        GrantControl::PasswordChange,
        GrantControl::CompliantDevice,
        GrantControl::DomainJoinedDevice,
        GrantControl::ApprovedApplication,
        GrantControl::CompliantApplication,
    ];

    fn bit(self) -> u16 {
        1 << (self as u16)
    }

    /// The Graph name (`authenticationStrength` for both strengths).
    pub fn as_str(self) -> &'static str {
        match self {
            GrantControl::Block => "block",
            GrantControl::Mfa => "mfa",
            GrantControl::MfaStrength | GrantControl::PhishingResistantStrength => {
                "authenticationStrength"
            }
            GrantControl::PasswordChange => "passwordChange",
            GrantControl::CompliantDevice => "compliantDevice",
            GrantControl::DomainJoinedDevice => "domainJoinedDevice",
            GrantControl::ApprovedApplication => "approvedApplication",
            GrantControl::CompliantApplication => "compliantApplication",
        }
    }
}

/// A set of [`GrantControl`]s.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ControlSet(u16);

impl ControlSet {
    pub const EMPTY: ControlSet = ControlSet(0);

    /// What a modern client can be prompted for, in Entra's prompt order.
    const PROMPTABLE: [GrantControl; 4] = [
        GrantControl::Mfa,
        GrantControl::MfaStrength,
        GrantControl::PhishingResistantStrength,
        GrantControl::PasswordChange,
    ];

    #[must_use]
    pub fn with(self, c: GrantControl) -> ControlSet {
        ControlSet(self.0 | c.bit())
    }

    pub fn contains(self, c: GrantControl) -> bool {
        self.0 & c.bit() != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = GrantControl> {
        GrantControl::ALL
            .into_iter()
            .filter(move |c| self.contains(*c))
    }

    fn and(self, o: ControlSet) -> ControlSet {
        ControlSet(self.0 & o.0)
    }

    fn or(self, o: ControlSet) -> ControlSet {
        ControlSet(self.0 | o.0)
    }

    fn minus(self, o: ControlSet) -> ControlSet {
        ControlSet(self.0 & !o.0)
    }

    fn of(list: &[GrantControl]) -> ControlSet {
        list.iter().fold(ControlSet::EMPTY, |s, c| s.with(*c))
    }
}

impl fmt::Debug for ControlSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

/// One policy's result for one sign-in.
#[derive(Debug, Clone)]
pub struct Outcome<'a> {
    pub state: PolicyState,
    pub result: PolicyResult,
    /// Why it did not apply (the first failing condition); `None` if it applied or is
    /// disabled.
    pub not_applied: Option<Condition>,
    /// The policy's grant controls (when it applies).
    pub grant_controls: ControlSet,
    /// Controls still to be satisfied for this policy.
    pub required: ControlSet,
    /// Controls this sign-in can never satisfy (device/app controls, anything for a
    /// legacy client).
    pub unsatisfiable: ControlSet,
    /// The policy blocks (`block`, or unsatisfiable controls leave no way through).
    pub blocks: bool,
    /// Its `signInFrequency` is exceeded: full reauthentication needed.
    pub reauthentication: bool,
    policy: &'a CompiledPolicy,
}

impl<'a> Outcome<'a> {
    /// The policy id.
    pub fn id(&self) -> &'a str {
        &self.policy.info.id
    }

    pub fn display_name(&self) -> &'a str {
        &self.policy.info.display_name
    }

    pub fn applies(&self) -> bool {
        !matches!(
            self.result,
            PolicyResult::NotApplied
                | PolicyResult::NotEnabled
                | PolicyResult::ReportOnlyNotApplied
        )
    }

    /// The session controls this policy turns on (when it applies).
    pub fn sign_in_frequency(&self) -> Option<Frequency> {
        self.policy.frequency
    }

    pub fn persistent_browser(&self) -> Option<PersistentBrowserMode> {
        self.policy.persistent_browser
    }

    /// The sign-in log record. Controls are listed only when the policy applies, by their
    /// Graph names; a control mailward cannot satisfy here carries ` (unsatisfiable)`.
    pub fn to_record(&self) -> PolicyOutcome {
        let (grant, session) = if self.applies() {
            (
                self.policy
                    .info
                    .grant_names
                    .iter()
                    .map(|(c, name)| {
                        if self.unsatisfiable.contains(*c) {
                            format!("{name} (unsatisfiable)")
                        } else {
                            (*name).to_string()
                        }
                    })
                    .collect(),
                self.policy
                    .info
                    .session_names
                    .iter()
                    .map(|s| (*s).to_string())
                    .collect(),
            )
        } else {
            (Vec::new(), Vec::new())
        };
        PolicyOutcome {
            id: self.id().to_string(),
            display_name: self.display_name().to_string(),
            result: self.result.as_str().to_string(),
            enforced_grant_controls: grant,
            enforced_session_controls: session,
        }
    }
}

/// Session limits from the enabled policies that apply (strictest wins).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionEffect {
    /// Strictest `primaryAndSecondaryAuthentication` frequency: how long the session and
    /// its refresh tokens may go without a full sign-in.
    pub sign_in_frequency: Option<Frequency>,
    /// Strictest `secondaryAuthentication` frequency: how long MFA stays valid.
    pub mfa_frequency: Option<Frequency>,
    /// `never` beats `always`.
    pub persistent_browser: Option<PersistentBrowserMode>,
}

/// The result of evaluating every policy against one sign-in.
#[derive(Debug, Clone)]
pub struct Evaluation<'a> {
    pub decision: Decision,
    /// One per policy, in the set's order (disabled ones as `notEnabled`).
    pub outcomes: Vec<Outcome<'a>>,
    pub session: SessionEffect,
}

impl Evaluation<'_> {
    /// The sign-in log records (`SignInEvent::policies`).
    pub fn records(&self) -> Vec<PolicyOutcome> {
        self.outcomes.iter().map(Outcome::to_record).collect()
    }

    pub fn outcome(&self, id: &str) -> Option<&Outcome<'_>> {
        self.outcomes.iter().find(|o| o.id() == id)
    }
}

/// What-If: the same evaluation, split into the enabled and report-only policies that
/// apply (with their controls) and those that do not (with the first condition that
/// excluded them). Disabled policies are left out, as in Entra.
#[derive(Debug, Clone)]
pub struct WhatIf<'a> {
    pub decision: Decision,
    pub session: SessionEffect,
    pub applying: Vec<Outcome<'a>>,
    pub not_applying: Vec<Outcome<'a>>,
}

/// Evaluates every policy of `set` against `ctx` at `now`.
pub fn evaluate<'a>(
    set: &'a PolicySet,
    ctx: &SignInContext,
    now: OffsetDateTime,
) -> Evaluation<'a> {
    let view = View::new(set, ctx);
    let mut outcomes = Vec::with_capacity(set.policies.len());
    let mut session = SessionEffect::default();
    let mut stale = Stale::Fresh;

    // Pass 1: applicability, and session limits of enforced policies.
    for (k, p) in set.policies.iter().enumerate() {
        let not_applied = if p.state == PolicyState::Disabled {
            None
        } else {
            applies(p, k, &view).err()
        };
        let result = match (p.state, not_applied) {
            (PolicyState::Disabled, _) => PolicyResult::NotEnabled,
            (PolicyState::Enabled, Some(_)) => PolicyResult::NotApplied,
            (PolicyState::EnabledForReportingButNotEnforced, Some(_)) => {
                PolicyResult::ReportOnlyNotApplied
            }
            // Provisional; pass 2 decides.
            (PolicyState::Enabled, None) => PolicyResult::Success,
            (PolicyState::EnabledForReportingButNotEnforced, None) => {
                PolicyResult::ReportOnlySuccess
            }
        };
        if p.state == PolicyState::Enabled && not_applied.is_none() {
            if let Some(f) = p.frequency {
                stale = stale.max(view.staleness(&f, now));
                let slot = match f.authentication_type {
                    FrequencyAuthenticationType::SecondaryAuthentication => {
                        &mut session.mfa_frequency
                    }
                    _ => &mut session.sign_in_frequency,
                };
                if slot.is_none_or(|s| f.max_age < s.max_age) {
                    *slot = Some(f);
                }
            }
            if let Some(m) = p.persistent_browser {
                session.persistent_browser = match (session.persistent_browser, m) {
                    (Some(PersistentBrowserMode::Never), _) => Some(PersistentBrowserMode::Never),
                    _ => Some(m),
                };
            }
        }
        outcomes.push(Outcome {
            state: p.state,
            result,
            not_applied,
            grant_controls: ControlSet::EMPTY,
            required: ControlSet::EMPTY,
            unsatisfiable: ControlSet::EMPTY,
            blocks: false,
            reauthentication: false,
            policy: p,
        });
    }

    // Pass 2: grant controls of the applying policies.
    let mut blockers: Vec<String> = Vec::new();
    let mut hard_block = false;
    let mut required = ControlSet::EMPTY;
    let mut reauthentication = false;
    for o in outcomes.iter_mut().filter(|o| o.applies()) {
        let p = o.policy;
        let enforced = p.state == PolicyState::Enabled;
        let own = if enforced {
            stale
        } else {
            p.frequency
                .map_or(Stale::Fresh, |f| stale.max(view.staleness(&f, now)))
        };
        let g = grant(p, view.satisfied(own), view.promptable);
        let policy_stale = p
            .frequency
            .is_some_and(|f| view.staleness(&f, now) != Stale::Fresh);
        o.grant_controls = if p.block {
            p.controls.with(GrantControl::Block)
        } else {
            p.controls
        };
        o.required = g.required;
        o.unsatisfiable = g.unsatisfiable;
        o.blocks = g.blocks;
        o.reauthentication = policy_stale && own == Stale::Full;
        if !o.blocks && policy_stale && own == Stale::Mfa {
            o.required = o.required.with(GrantControl::Mfa);
        }
        let interrupted = !o.required.is_empty() || o.reauthentication;
        o.result = match (enforced, o.blocks, interrupted) {
            (true, true, _) | (true, false, true) => PolicyResult::Failure,
            (true, false, false) => PolicyResult::Success,
            (false, true, _) => PolicyResult::ReportOnlyFailure,
            (false, false, true) => PolicyResult::ReportOnlyInterrupted,
            (false, false, false) => PolicyResult::ReportOnlySuccess,
        };
        if enforced {
            if o.blocks {
                hard_block |= p.block;
                blockers.push(p.info.id.clone());
            } else {
                required = required.or(o.required);
                reauthentication |= o.reauthentication;
            }
        }
    }

    let decision = if !blockers.is_empty() {
        let code = if !hard_block && view.legacy {
            ErrorCode::MfaRequired
        } else {
            ErrorCode::BlockedByPolicy
        };
        Decision::Block {
            policies: blockers,
            code,
        }
    } else if required.is_empty() && !reauthentication {
        Decision::Allow
    } else {
        let phishing_resistant = required.contains(GrantControl::PhishingResistantStrength);
        Decision::RequireControls(RequiredControls {
            mfa: phishing_resistant
                || required.contains(GrantControl::Mfa)
                || required.contains(GrantControl::MfaStrength),
            phishing_resistant,
            password_change: required.contains(GrantControl::PasswordChange),
            reauthentication,
        })
    };
    Evaluation {
        decision,
        outcomes,
        session,
    }
}

/// What-If over the same evaluation (see [`WhatIf`]).
pub fn what_if<'a>(set: &'a PolicySet, ctx: &SignInContext, now: OffsetDateTime) -> WhatIf<'a> {
    let ev = evaluate(set, ctx, now);
    let (applying, not_applying) = ev
        .outcomes
        .into_iter()
        .filter(|o| o.state != PolicyState::Disabled)
        .partition(Outcome::applies);
    WhatIf {
        decision: ev.decision,
        session: ev.session,
        applying,
        not_applying,
    }
}

impl PolicySet {
    /// [`evaluate`] as a method.
    pub fn evaluate<'a>(&'a self, ctx: &SignInContext, now: OffsetDateTime) -> Evaluation<'a> {
        evaluate(self, ctx, now)
    }

    /// [`what_if`] as a method.
    pub fn what_if<'a>(&'a self, ctx: &SignInContext, now: OffsetDateTime) -> WhatIf<'a> {
        what_if(self, ctx, now)
    }
}

/// How stale the earlier authentication is, by the strictest frequency seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Stale {
    Fresh,
    /// MFA too old (`secondaryAuthentication`).
    Mfa,
    /// The whole sign-in too old.
    Full,
}

/// The sign-in, reduced to what the compiled conditions compare against.
struct View<'c> {
    user: Option<&'c UserFacts>,
    /// Per-policy bits (see [`Hits`]): which policies name this user, their groups, the
    /// application and the matched named locations, in include and exclude lists.
    hits: Hits,
    roles: u8,
    client: u8,
    platform: u8,
    sign_in_risk: u8,
    user_risk: u8,
    in_trusted: bool,
    legacy: bool,
    /// Factors already proven (before staleness).
    mfa_done: bool,
    phish_done: bool,
    password_changed: bool,
    auth_time: Option<OffsetDateTime>,
    mfa_time: Option<OffsetDateTime>,
    promptable: ControlSet,
}

impl<'c> View<'c> {
    fn new(set: &PolicySet, ctx: &'c SignInContext) -> Self {
        let user = match ctx.client_app_type {
            ClientAppType::ServicePrincipal => None,
            _ => ctx.user.as_ref(),
        };
        let platform = ctx.platform.map_or(0, platform_bit);
        let eas_supported = matches!(
            ctx.platform,
            Some(Platform::Android | Platform::IOS | Platform::WindowsPhone)
        );
        let client = match ctx.client_app_type {
            ClientAppType::Browser => CLIENT_BROWSER,
            ClientAppType::MobileAppsAndDesktopClients => CLIENT_MOBILE,
            ClientAppType::ExchangeActiveSync if eas_supported => CLIENT_EAS | CLIENT_EAS_SUPPORTED,
            ClientAppType::ExchangeActiveSync => CLIENT_EAS,
            ClientAppType::Other => CLIENT_OTHER,
            ClientAppType::ServicePrincipal => 0,
        };
        let ip = ctx.ip.map(|ip| match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        });
        let mut locations = vec![0u64; set.words];
        for (i, l) in set.locations.iter().enumerate() {
            let hit = match &l.kind {
                LocationKind::Ip { v4, v6 } => match ip {
                    Some(IpAddr::V4(a)) => {
                        let a = u32::from(a);
                        v4.iter().any(|(net, mask)| a & mask == *net)
                    }
                    Some(IpAddr::V6(a)) => {
                        let a = u128::from(a);
                        v6.iter().any(|(net, mask)| a & mask == *net)
                    }
                    None => false,
                },
                LocationKind::Country {
                    codes,
                    include_unknown,
                } => match ctx.country {
                    Some(c) => codes.contains(&c),
                    None => *include_unknown,
                },
            };
            if hit {
                set_bit(&mut locations, i);
            }
        }
        let in_trusted = intersects(&locations, &set.trusted);
        let legacy = matches!(
            ctx.client_app_type,
            ClientAppType::Other | ClientAppType::ExchangeActiveSync
        );
        let has = |a: Amr| ctx.amr.contains(&a);
        let phish_done = has(Amr::Hwk);
        let mut hits = Hits::new(set.policies.len());
        let ids = &set.ids;
        if let Some(u) = user {
            if let Some(p) = ids.users.get(&u.id.as_u128()) {
                hits.add(Hits::USERS, p);
            }
            for g in &u.groups {
                if let Some(p) = ids.groups.get(&g.as_u128()) {
                    hits.add(Hits::GROUPS, p);
                }
            }
        }
        if let Some(p) = ids.apps.get(&AppKey::of(&ctx.app_id)) {
            hits.add(Hits::APPS, p);
        }
        for (i, p) in ids.locations.iter().enumerate() {
            if has_bit(&locations, i) {
                hits.add(Hits::LOCATIONS, p);
            }
        }
        View {
            user,
            hits,
            roles: user.map_or(0, |u| u.roles.iter().fold(0, |m, r| m | role_bit(*r))),
            client,
            platform,
            sign_in_risk: risk_bit(ctx.sign_in_risk),
            user_risk: risk_bit(ctx.user_risk),
            in_trusted,
            legacy,
            mfa_done: has(Amr::Mfa) || phish_done || ctx.mfa_time.is_some(),
            phish_done,
            password_changed: ctx.password_changed,
            auth_time: ctx.auth_time,
            mfa_time: ctx.mfa_time,
            promptable: if legacy {
                ControlSet::EMPTY
            } else {
                ControlSet::of(&ControlSet::PROMPTABLE)
            },
        }
    }

    fn staleness(&self, f: &Frequency, now: OffsetDateTime) -> Stale {
        if self.legacy {
            return Stale::Fresh;
        }
        let older = |t: Option<OffsetDateTime>| {
            t.is_some_and(|t| {
                t.checked_add(f.max_age)
                    .is_some_and(|fresh_until| fresh_until < now)
            })
        };
        match f.authentication_type {
            FrequencyAuthenticationType::SecondaryAuthentication => {
                let mfa_at = self
                    .mfa_time
                    .or(if self.mfa_done { self.auth_time } else { None });
                if older(mfa_at) {
                    Stale::Mfa
                } else {
                    Stale::Fresh
                }
            }
            _ => {
                if older(self.auth_time) {
                    Stale::Full
                } else {
                    Stale::Fresh
                }
            }
        }
    }

    /// Controls already satisfied, given how stale the earlier authentication is.
    fn satisfied(&self, stale: Stale) -> ControlSet {
        if self.legacy {
            return ControlSet::EMPTY;
        }
        let mut s = ControlSet::EMPTY;
        if self.password_changed {
            s = s.with(GrantControl::PasswordChange);
        }
        if stale == Stale::Fresh {
            if self.mfa_done {
                s = s.with(GrantControl::Mfa).with(GrantControl::MfaStrength);
            }
            if self.phish_done {
                s = s.with(GrantControl::PhishingResistantStrength);
            }
        }
        s
    }
}

/// Per-policy bits for one sign-in, four lists (users, groups, applications, named
/// locations) times include/exclude, each a bit set over policy positions.
struct Hits {
    words: usize,
    bits: Vec<u64>,
}

impl Hits {
    const USERS: usize = 0;
    const GROUPS: usize = 1;
    const APPS: usize = 2;
    const LOCATIONS: usize = 3;

    fn new(policies: usize) -> Self {
        let words = policies.div_ceil(64);
        Hits {
            words,
            bits: vec![0; words * 8],
        }
    }

    fn add(&mut self, list: usize, p: &Posting) {
        for (exclude, src) in [(false, &p.include), (true, &p.exclude)] {
            let start = (list * 2 + usize::from(exclude)) * self.words;
            if let Some(dst) = self.bits.get_mut(start..start + self.words) {
                for (d, s) in dst.iter_mut().zip(src) {
                    *d |= *s;
                }
            }
        }
    }

    fn test(&self, list: usize, exclude: bool, policy: usize) -> bool {
        let word = (list * 2 + usize::from(exclude)) * self.words + policy / 64;
        self.bits
            .get(word)
            .is_some_and(|w| w & (1 << (policy % 64)) != 0)
    }
}

/// Whether a compiled policy (at position `k`) applies, or the first condition that keeps
/// it from applying.
fn applies(p: &CompiledPolicy, k: usize, v: &View<'_>) -> Result<(), Condition> {
    let Some(user) = v.user else {
        return Err(Condition::Users);
    };
    let h = &v.hits;
    let u = &p.users;
    let included = u.all
        || (u.guests && user.guest)
        || h.test(Hits::USERS, false, k)
        || h.test(Hits::GROUPS, false, k)
        || u.roles & v.roles != 0;
    if !included {
        return Err(u.not_included);
    }
    if (u.ex_guests && user.guest) || h.test(Hits::USERS, true, k) {
        return Err(Condition::UsersExcludeUsers);
    }
    if h.test(Hits::GROUPS, true, k) {
        return Err(Condition::UsersExcludeGroups);
    }
    if u.ex_roles & v.roles != 0 {
        return Err(Condition::UsersExcludeRoles);
    }
    if !(p.apps.all || h.test(Hits::APPS, false, k)) {
        return Err(Condition::ApplicationsIncludeApplications);
    }
    if h.test(Hits::APPS, true, k) {
        return Err(Condition::ApplicationsExcludeApplications);
    }
    if p.client_types & v.client == 0 {
        return Err(Condition::ClientAppTypes);
    }
    let l = &p.locations;
    if !(l.all || (l.trusted && v.in_trusted) || h.test(Hits::LOCATIONS, false, k)) {
        return Err(Condition::LocationsIncludeLocations);
    }
    if (l.ex_trusted && v.in_trusted) || h.test(Hits::LOCATIONS, true, k) {
        return Err(Condition::LocationsExcludeLocations);
    }
    let pl = &p.platforms;
    if !(pl.all || pl.include & v.platform != 0) {
        return Err(Condition::PlatformsIncludePlatforms);
    }
    if pl.exclude & v.platform != 0 {
        return Err(Condition::PlatformsExcludePlatforms);
    }
    if p.sign_in_risk & v.sign_in_risk == 0 {
        return Err(Condition::SignInRiskLevels);
    }
    if p.user_risk & v.user_risk == 0 {
        return Err(Condition::UserRiskLevels);
    }
    Ok(())
}

struct Grant {
    required: ControlSet,
    unsatisfiable: ControlSet,
    blocks: bool,
}

fn grant(p: &CompiledPolicy, satisfied: ControlSet, promptable: ControlSet) -> Grant {
    if p.block {
        return Grant {
            required: ControlSet::EMPTY,
            unsatisfiable: ControlSet::EMPTY,
            blocks: true,
        };
    }
    let controls = p.controls;
    let unsatisfiable = controls.minus(promptable).minus(satisfied);
    let met = |required: ControlSet| Grant {
        required,
        unsatisfiable,
        blocks: false,
    };
    if controls.is_empty() {
        return met(ControlSet::EMPTY);
    }
    match p.operator {
        Operator::And => {
            let unmet = controls.minus(satisfied);
            if unmet.is_empty() {
                met(ControlSet::EMPTY)
            } else if !unmet.minus(promptable).is_empty() {
                Grant {
                    required: ControlSet::EMPTY,
                    unsatisfiable,
                    blocks: true,
                }
            } else {
                met(unmet)
            }
        }
        Operator::Or => {
            if !controls.and(satisfied).is_empty() {
                return met(ControlSet::EMPTY);
            }
            let options = controls.and(promptable);
            match ControlSet::PROMPTABLE
                .into_iter()
                .find(|c| options.contains(*c))
            {
                Some(first) => met(ControlSet::EMPTY.with(first)),
                None => Grant {
                    required: ControlSet::EMPTY,
                    unsatisfiable,
                    blocks: true,
                },
            }
        }
    }
}
