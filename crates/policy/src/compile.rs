//! The compiled form: a [`PolicySet`] holds policies and named locations with every list
//! turned into what evaluation compares cheaply (bit masks for client app types,
//! platforms, risks and roles; parsed ids; parsed CIDRs; named locations as bit sets),
//! so that evaluating 200 policies stays in the low microseconds. Compiling also checks
//! what one policy alone cannot: unique ids and references to named locations.

use crate::context::{Config, CountryCode, Platform};
use crate::error::{ErrorKind, Errors, ImportError};
use crate::evaluate::{Condition, ControlSet, GrantControl};
use crate::import::{
    STRENGTH_MFA, STRENGTH_PHISHING_RESISTANT, join, parse_cidr, role_from_graph,
    validate_named_location, validate_policy,
};
use crate::location::{IP_NAMED_LOCATION, NamedLocation};
use crate::model::{
    BuiltInControl, ClientAppTypeValue, ConditionalAccessPolicy, FrequencyAuthenticationType,
    FrequencyInterval, FrequencyUnit, Operator, PersistentBrowserMode, PlatformValue, PolicyState,
    RiskLevel,
};
use crate::prop::list;
use mailward_types::model::Role;
use std::collections::HashMap;
use uuid::Uuid;

/// Validated, compiled policies and named locations, ready to evaluate.
#[derive(Debug, Clone)]
pub struct PolicySet {
    pub(crate) policies: Vec<CompiledPolicy>,
    pub(crate) locations: Vec<CompiledLocation>,
    /// Words in every location bit set.
    pub(crate) words: usize,
    /// Bit set of the trusted named locations (`AllTrusted`).
    pub(crate) trusted: Vec<u64>,
    /// Every user, group and application id some policy names, numbered: policies hold
    /// bit sets over these numbers, and a sign-in is mapped onto them once.
    pub(crate) ids: Ids,
}

/// Inverted index: for every user, group and application id some policy names, and for
/// every named location, the set of policies (by position) that include or exclude it. A
/// sign-in is turned into per-policy bits once; each policy then only tests bits.
#[derive(Debug, Clone, Default)]
pub(crate) struct Ids {
    pub(crate) users: HashMap<u128, Posting, IdHash>,
    pub(crate) groups: HashMap<u128, Posting, IdHash>,
    pub(crate) apps: HashMap<AppKey, Posting, IdHash>,
    /// Indexed like [`PolicySet::locations`].
    pub(crate) locations: Vec<Posting>,
}

/// The policies that include and that exclude one id, as bit sets over policy positions.
#[derive(Debug, Clone, Default)]
pub(crate) struct Posting {
    pub(crate) include: Vec<u64>,
    pub(crate) exclude: Vec<u64>,
}

impl Posting {
    fn add(&mut self, policy: usize, exclude: bool) {
        grow_set(
            if exclude {
                &mut self.exclude
            } else {
                &mut self.include
            },
            policy,
        );
    }
}

/// Hashing for random 128-bit ids (GUIDs): folding the halves is enough.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct IdHash;

impl std::hash::BuildHasher for IdHash {
    type Hasher = IdHasher;
    fn build_hasher(&self) -> IdHasher {
        IdHasher(0)
    }
}

#[derive(Debug)]
pub(crate) struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 =
                (self.0.rotate_left(5) ^ u64::from(*b)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
    fn write_u128(&mut self, v: u128) {
        // Truncation intended: fold the two halves.
        self.0 = ((v as u64) ^ ((v >> 64) as u64)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

pub(crate) fn has_bit(bits: &[u64], i: usize) -> bool {
    bits.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
}

impl PolicySet {
    /// Validates every policy and named location and compiles them. Errors name the
    /// member as `policies[i].<path>` or `namedLocations[i].<path>`; all are reported.
    ///
    /// Every policy and named location needs an `id`, unique (case-insensitively) within
    /// its kind. A policy naming a named location id that is not in `named_locations` is an
    /// error ([`ErrorKind::UnknownReference`]): silently ignoring it would make an
    /// `includeLocations` block never apply. Unknown user, group, role and application ids
    /// are not errors: they just never match.
    pub fn compile(
        policies: &[ConditionalAccessPolicy],
        named_locations: &[NamedLocation],
        config: &Config,
    ) -> Result<PolicySet, ImportError> {
        let mut e = Errors::default();
        let mut loc_index: HashMap<String, usize> = HashMap::new();
        let mut locations = Vec::with_capacity(named_locations.len());
        for (i, loc) in named_locations.iter().enumerate() {
            let prefix = format!("namedLocations[{i}]");
            if let Err(err) = validate_named_location(loc) {
                prefixed(&mut e, &prefix, err);
                continue;
            }
            let Some(id) = loc.id.get() else {
                e.required(join(&prefix, "id"));
                continue;
            };
            if loc_index
                .insert(id.to_ascii_lowercase(), locations.len())
                .is_some()
            {
                e.push(
                    join(&prefix, "id"),
                    ErrorKind::Duplicate,
                    format!("duplicate named location id `{id}`"),
                );
                continue;
            }
            locations.push(compile_location(loc));
        }
        let words = locations.len().div_ceil(64);
        let mut trusted = vec![0u64; words];
        for (i, l) in locations.iter().enumerate() {
            if l.trusted {
                set_bit(&mut trusted, i);
            }
        }
        let mut policy_ids = HashMap::new();
        let mut ids = Ids {
            locations: vec![Posting::default(); locations.len()],
            ..Ids::default()
        };
        let mut compiled = Vec::with_capacity(policies.len());
        for (i, p) in policies.iter().enumerate() {
            let prefix = format!("policies[{i}]");
            if let Err(err) = validate_policy(p) {
                prefixed(&mut e, &prefix, err);
                continue;
            }
            let Some(id) = p.id.get() else {
                e.required(join(&prefix, "id"));
                continue;
            };
            if policy_ids.insert(id.to_ascii_lowercase(), i).is_some() {
                e.push(
                    join(&prefix, "id"),
                    ErrorKind::Duplicate,
                    format!("duplicate policy id `{id}`"),
                );
                continue;
            }
            if let Some(c) = compile_policy(
                p,
                id,
                config,
                &loc_index,
                &mut ids,
                compiled.len(),
                &prefix,
                &mut e,
            ) {
                compiled.push(c);
            }
        }
        e.into_result()?;
        Ok(PolicySet {
            policies: compiled,
            locations,
            words,
            trusted,
            ids,
        })
    }

    /// Number of policies (all states).
    pub fn len(&self) -> usize {
        self.policies.len()
    }

    pub fn is_empty(&self) -> bool {
        self.policies.is_empty()
    }

    /// Whether some policy includes or excludes a group: only then do a user's group
    /// memberships matter to [`PolicySet::evaluate`] (callers may skip looking them up).
    pub fn names_groups(&self) -> bool {
        !self.ids.groups.is_empty()
    }
}

fn prefixed(e: &mut Errors, prefix: &str, err: ImportError) {
    for mut fe in err.errors {
        fe.path = join(prefix, &fe.path);
        e.list.push(fe);
    }
}

pub(crate) fn set_bit(bits: &mut [u64], i: usize) {
    if let Some(w) = bits.get_mut(i / 64) {
        *w |= 1 << (i % 64);
    }
}

fn grow_set(bits: &mut Vec<u64>, i: usize) {
    if bits.len() <= i / 64 {
        bits.resize(i / 64 + 1, 0);
    }
    set_bit(bits, i);
}

pub(crate) fn intersects(a: &[u64], b: &[u64]) -> bool {
    a.iter().zip(b).any(|(x, y)| x & y != 0)
}

#[derive(Debug, Clone)]
pub(crate) struct CompiledLocation {
    pub(crate) kind: LocationKind,
    pub(crate) trusted: bool,
}

#[derive(Debug, Clone)]
pub(crate) enum LocationKind {
    /// `(network, mask)` pairs, host bits cleared.
    Ip {
        v4: Vec<(u32, u32)>,
        v6: Vec<(u128, u128)>,
    },
    Country {
        codes: Vec<CountryCode>,
        include_unknown: bool,
    },
}

fn compile_location(loc: &NamedLocation) -> CompiledLocation {
    if loc.odata_type.get().map(String::as_str) == Some(IP_NAMED_LOCATION) {
        let (mut v4, mut v6) = (Vec::new(), Vec::new());
        for net in list(&loc.ip_ranges)
            .iter()
            .filter_map(|r| r.cidr_address.get())
            .filter_map(|c| parse_cidr(c).ok())
        {
            match net {
                ipnet::IpNet::V4(n) => {
                    let mask = u32::from(n.netmask());
                    v4.push((u32::from(n.network()) & mask, mask));
                }
                ipnet::IpNet::V6(n) => {
                    let mask = u128::from(n.netmask());
                    v6.push((u128::from(n.network()) & mask, mask));
                }
            }
        }
        CompiledLocation {
            kind: LocationKind::Ip { v4, v6 },
            trusted: loc.is_trusted.get().copied().unwrap_or(false),
        }
    } else {
        CompiledLocation {
            kind: LocationKind::Country {
                codes: list(&loc.countries_and_regions)
                    .iter()
                    .filter_map(|c| CountryCode::parse(c))
                    .collect(),
                include_unknown: loc
                    .include_unknown_countries_and_regions
                    .get()
                    .copied()
                    .unwrap_or(false),
            },
            // Only IP locations can be marked trusted.
            trusted: false,
        }
    }
}

/// An application id as compared: GUIDs by value (any case), other ids verbatim.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum AppKey {
    Guid(u128),
    Text(Box<str>),
}

impl AppKey {
    pub(crate) fn of(s: &str) -> AppKey {
        match Uuid::try_parse(s) {
            Ok(u) if s.len() == 36 => AppKey::Guid(u.as_u128()),
            _ => AppKey::Text(s.into()),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct CompiledPolicy {
    pub(crate) state: PolicyState,
    pub(crate) users: UserCond,
    pub(crate) apps: AppCond,
    /// Bits of [`client_bit`]; all bits when the condition is absent.
    pub(crate) client_types: u8,
    /// Not configured = `All`.
    pub(crate) locations: LocCond,
    /// Not configured = `all`.
    pub(crate) platforms: PlatCond,
    /// Bits of [`risk_bit`]; all bits when the condition is absent or empty.
    pub(crate) sign_in_risk: u8,
    pub(crate) user_risk: u8,
    pub(crate) operator: Operator,
    pub(crate) block: bool,
    pub(crate) controls: ControlSet,
    pub(crate) frequency: Option<Frequency>,
    pub(crate) persistent_browser: Option<PersistentBrowserMode>,
    /// What only reporting reads, kept apart so the conditions stay dense in memory.
    pub(crate) info: Box<PolicyInfo>,
}

/// The cold part of a compiled policy.
#[derive(Debug, Clone)]
pub(crate) struct PolicyInfo {
    pub(crate) id: String,
    pub(crate) display_name: String,
    /// Names for the sign-in log, in the policy's order.
    pub(crate) grant_names: Vec<(GrantControl, &'static str)>,
    pub(crate) session_names: Vec<&'static str>,
}

#[derive(Debug, Clone)]
pub(crate) struct UserCond {
    pub(crate) all: bool,
    pub(crate) guests: bool,
    pub(crate) roles: u8,
    pub(crate) ex_guests: bool,
    pub(crate) ex_roles: u8,
    /// The reason reported when the user is not included.
    pub(crate) not_included: Condition,
}

/// `includeApplications: All`; the listed ids are in [`Ids::apps`].
#[derive(Debug, Clone)]
pub(crate) struct AppCond {
    pub(crate) all: bool,
}

/// `All` / `AllTrusted`; the listed named locations are in [`Ids::locations`].
#[derive(Debug, Clone)]
pub(crate) struct LocCond {
    pub(crate) all: bool,
    pub(crate) trusted: bool,
    pub(crate) ex_trusted: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct PlatCond {
    pub(crate) all: bool,
    pub(crate) include: u8,
    pub(crate) exclude: u8,
}

/// A sign-in frequency limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frequency {
    /// The longest an authentication stays fresh.
    pub max_age: time::Duration,
    /// `frequencyInterval: everyTime` (then `max_age` is the five-minute skew allowance).
    pub every_time: bool,
    /// Which authentication must be fresh.
    pub authentication_type: FrequencyAuthenticationType,
}

pub(crate) const CLIENT_BROWSER: u8 = 1;
pub(crate) const CLIENT_MOBILE: u8 = 2;
pub(crate) const CLIENT_EAS: u8 = 4;
pub(crate) const CLIENT_EAS_SUPPORTED: u8 = 8;
pub(crate) const CLIENT_OTHER: u8 = 16;
pub(crate) const CLIENT_ALL: u8 = 0xff;

fn client_bit(v: ClientAppTypeValue) -> u8 {
    match v {
        ClientAppTypeValue::All => CLIENT_ALL,
        ClientAppTypeValue::Browser => CLIENT_BROWSER,
        ClientAppTypeValue::MobileAppsAndDesktopClients => CLIENT_MOBILE,
        ClientAppTypeValue::ExchangeActiveSync => CLIENT_EAS,
        ClientAppTypeValue::EasSupported => CLIENT_EAS_SUPPORTED,
        ClientAppTypeValue::Other => CLIENT_OTHER,
        // Refused by validation.
        ClientAppTypeValue::EasUnsupported | ClientAppTypeValue::UnknownFutureValue => 0,
    }
}

pub(crate) fn risk_bit(r: RiskLevel) -> u8 {
    match r {
        RiskLevel::None => 1,
        RiskLevel::Low => 2,
        RiskLevel::Medium => 4,
        RiskLevel::High => 8,
        RiskLevel::Hidden => 16,
        RiskLevel::UnknownFutureValue => 32,
    }
}

pub(crate) fn platform_bit(p: Platform) -> u8 {
    match p {
        Platform::Android => 1,
        Platform::IOS => 2,
        Platform::Windows => 4,
        Platform::WindowsPhone => 8,
        Platform::MacOS => 16,
        Platform::Linux => 32,
    }
}

fn platform_value_bit(p: PlatformValue) -> u8 {
    match p {
        PlatformValue::Android => platform_bit(Platform::Android),
        PlatformValue::IOS => platform_bit(Platform::IOS),
        PlatformValue::Windows => platform_bit(Platform::Windows),
        PlatformValue::WindowsPhone => platform_bit(Platform::WindowsPhone),
        PlatformValue::MacOS => platform_bit(Platform::MacOS),
        PlatformValue::Linux => platform_bit(Platform::Linux),
        PlatformValue::All | PlatformValue::UnknownFutureValue => 0,
    }
}

pub(crate) fn role_bit(r: Role) -> u8 {
    match r {
        Role::GlobalAdministrator => 1,
        Role::UserAdministrator => 2,
        Role::SecurityAdministrator => 4,
        Role::GlobalReader => 8,
    }
}

fn roles_mask(ids: &[String]) -> u8 {
    ids.iter()
        .filter_map(|s| role_from_graph(s))
        .fold(0, |m, r| m | role_bit(r))
}

fn risk_mask(levels: &[RiskLevel]) -> u8 {
    if levels.is_empty() {
        0xff
    } else {
        levels.iter().fold(0, |m, r| m | risk_bit(*r))
    }
}

fn post_guids(
    ids: &[String],
    map: &mut HashMap<u128, Posting, IdHash>,
    index: usize,
    exclude: bool,
) {
    for u in ids.iter().filter_map(|s| Uuid::try_parse(s).ok()) {
        map.entry(u.as_u128()).or_default().add(index, exclude);
    }
}

/// Posts the listed applications; returns whether `All` was among them.
fn post_apps(
    ids: &[String],
    config: &Config,
    map: &mut HashMap<AppKey, Posting, IdHash>,
    index: usize,
    exclude: bool,
) -> bool {
    let mut all = false;
    let mut keys = Vec::new();
    for id in ids {
        match id.as_str() {
            "All" => all = true,
            "Office365" => keys.extend(config.office365_app_ids.iter().map(|a| AppKey::of(a))),
            "MicrosoftAdminPortals" => {
                keys.extend(config.admin_portal_app_ids.iter().map(|a| AppKey::of(a)))
            }
            other => keys.push(AppKey::of(other)),
        }
    }
    for k in keys {
        map.entry(k).or_default().add(index, exclude);
    }
    all
}

// One call site; the arguments are the compile loop's state.
#[allow(clippy::too_many_arguments)]
fn compile_policy(
    p: &ConditionalAccessPolicy,
    id: &str,
    config: &Config,
    loc_index: &HashMap<String, usize>,
    ids: &mut Ids,
    index: usize,
    prefix: &str,
    e: &mut Errors,
) -> Option<CompiledPolicy> {
    let c = p.conditions.get()?;
    let u = c.users.get()?;
    let a = c.applications.get()?;

    let include_users = list(&u.include_users);
    let exclude_users = list(&u.exclude_users);
    let not_included = if !include_users.is_empty() {
        Condition::UsersIncludeUsers
    } else if !list(&u.include_groups).is_empty() {
        Condition::UsersIncludeGroups
    } else {
        Condition::UsersIncludeRoles
    };
    let users = UserCond {
        all: include_users.iter().any(|s| s == "All"),
        guests: include_users.iter().any(|s| s == "GuestsOrExternalUsers"),
        roles: roles_mask(list(&u.include_roles)),
        ex_guests: exclude_users.iter().any(|s| s == "GuestsOrExternalUsers"),
        ex_roles: roles_mask(list(&u.exclude_roles)),
        not_included,
    };
    post_guids(include_users, &mut ids.users, index, false);
    post_guids(exclude_users, &mut ids.users, index, true);
    post_guids(list(&u.include_groups), &mut ids.groups, index, false);
    post_guids(list(&u.exclude_groups), &mut ids.groups, index, true);

    let apps = AppCond {
        all: post_apps(
            list(&a.include_applications),
            config,
            &mut ids.apps,
            index,
            false,
        ),
    };
    post_apps(
        list(&a.exclude_applications),
        config,
        &mut ids.apps,
        index,
        true,
    );

    let types = list(&c.client_app_types);
    let client_types = if types.is_empty() {
        CLIENT_ALL
    } else {
        types.iter().fold(0, |m, t| m | client_bit(*t))
    };

    let locations = c
        .locations
        .get()
        .and_then(|l| {
            let include = list(&l.include_locations);
            let exclude = list(&l.exclude_locations);
            if include.is_empty() && exclude.is_empty() {
                return None;
            }
            let mut cond = LocCond {
                all: false,
                trusted: false,
                ex_trusted: false,
            };
            for (name, values, excl) in [
                ("includeLocations", include, false),
                ("excludeLocations", exclude, true),
            ] {
                for (j, v) in values.iter().enumerate() {
                    match (v.as_str(), excl) {
                        ("All", false) => cond.all = true,
                        ("AllTrusted", false) => cond.trusted = true,
                        ("AllTrusted", true) => cond.ex_trusted = true,
                        (id, _) => match loc_index.get(&id.to_ascii_lowercase()) {
                            Some(&i) => {
                                if let Some(posting) = ids.locations.get_mut(i) {
                                    posting.add(index, excl);
                                }
                            }
                            None => e.push(
                                join(prefix, &format!("conditions.locations.{name}[{j}]")),
                                ErrorKind::UnknownReference,
                                format!("unknown named location `{id}`"),
                            ),
                        },
                    }
                }
            }
            Some(cond)
        })
        .unwrap_or(LocCond {
            all: true,
            trusted: false,
            ex_trusted: false,
        });

    let platforms = c
        .platforms
        .get()
        .and_then(|pl| {
            let include = list(&pl.include_platforms);
            let exclude = list(&pl.exclude_platforms);
            if include.is_empty() && exclude.is_empty() {
                return None;
            }
            Some(PlatCond {
                all: include.contains(&PlatformValue::All),
                include: include.iter().fold(0, |m, v| m | platform_value_bit(*v)),
                exclude: exclude.iter().fold(0, |m, v| m | platform_value_bit(*v)),
            })
        })
        .unwrap_or(PlatCond {
            all: true,
            include: 0,
            exclude: 0,
        });

    let mut operator = Operator::And;
    let mut block = false;
    let mut controls = ControlSet::EMPTY;
    let mut grant_names = Vec::new();
    if let Some(g) = p.grant_controls.get() {
        operator = g.operator.get().copied().unwrap_or(Operator::And);
        for b in list(&g.built_in_controls) {
            let control = match b {
                BuiltInControl::Block => {
                    block = true;
                    GrantControl::Block
                }
                BuiltInControl::Mfa => GrantControl::Mfa,
                BuiltInControl::CompliantDevice => GrantControl::CompliantDevice,
                BuiltInControl::DomainJoinedDevice => GrantControl::DomainJoinedDevice,
                BuiltInControl::ApprovedApplication => GrantControl::ApprovedApplication,
                BuiltInControl::CompliantApplication => GrantControl::CompliantApplication,
                BuiltInControl::PasswordChange => GrantControl::PasswordChange,
                BuiltInControl::RiskRemediation | BuiltInControl::UnknownFutureValue => continue,
            };
            if control != GrantControl::Block {
                controls = controls.with(control);
            }
            grant_names.push((control, b.as_str()));
        }
        if let Some(id) = g
            .authentication_strength
            .get()
            .and_then(|v| v.get("id"))
            .and_then(|v| v.as_str())
        {
            let control = if id.eq_ignore_ascii_case(STRENGTH_PHISHING_RESISTANT) {
                GrantControl::PhishingResistantStrength
            } else if id.eq_ignore_ascii_case(STRENGTH_MFA) {
                GrantControl::MfaStrength
            } else {
                // Refused by validation; the stricter reading if it ever got here.
                GrantControl::PhishingResistantStrength
            };
            controls = controls.with(control);
            grant_names.push((control, "authenticationStrength"));
        }
    }

    let mut frequency = None;
    let mut persistent_browser = None;
    let mut session_names = Vec::new();
    if let Some(s) = p.session_controls.get() {
        if let Some(f) = s.sign_in_frequency.get()
            && f.is_enabled.get() != Some(&false)
        {
            let authentication_type = f
                .authentication_type
                .get()
                .copied()
                .unwrap_or(FrequencyAuthenticationType::PrimaryAndSecondaryAuthentication);
            frequency = if f.frequency_interval.get() == Some(&FrequencyInterval::EveryTime) {
                Some(Frequency {
                    max_age: time::Duration::minutes(5),
                    every_time: true,
                    authentication_type,
                })
            } else {
                let v = f.value.get().copied().unwrap_or(0);
                let max_age = match f.kind.get() {
                    Some(FrequencyUnit::Days) => time::Duration::days(v),
                    _ => time::Duration::hours(v),
                };
                Some(Frequency {
                    max_age,
                    every_time: false,
                    authentication_type,
                })
            };
            session_names.push("signInFrequency");
        }
        if let Some(pb) = s.persistent_browser.get()
            && pb.is_enabled.get() != Some(&false)
        {
            persistent_browser = pb.mode.get().copied();
            session_names.push("persistentBrowser");
        }
    }

    Some(CompiledPolicy {
        state: p.state.get().copied().unwrap_or(PolicyState::Disabled),
        users,
        apps,
        client_types,
        locations,
        platforms,
        sign_in_risk: risk_mask(list(&c.sign_in_risk_levels)),
        user_risk: risk_mask(list(&c.user_risk_levels)),
        operator,
        block,
        controls,
        frequency,
        persistent_browser,
        info: Box::new(PolicyInfo {
            id: id.to_string(),
            display_name: p.display_name.get().cloned().unwrap_or_default(),
            grant_names,
            session_names,
        }),
    })
}
