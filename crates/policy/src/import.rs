//! Import (strict parse + validation) and export of policies and named locations.
//!
//! Import accepts exactly the Graph JSON of the supported subset: unknown members are
//! refused by the parser, known-but-unsupported members are refused unless inert (`null`,
//! empty list, `isEnabled: false`), and Graph's own rules are checked (state and operator
//! values, CIDRs, at least one control, `block` alone, `passwordChange` only with `mfa`
//! under `AND`). Nothing is ever silently dropped: what imports, exports back equal.

use crate::error::{ErrorKind, Errors, FieldError, ImportError};
use crate::location::{
    COUNTRY_NAMED_LOCATION, CountryLookupMethod, IP_NAMED_LOCATION, IPV4_CIDR_RANGE,
    IPV6_CIDR_RANGE, NamedLocation,
};
use crate::model::{
    Applications, BuiltInControl, ClientAppTypeValue, ConditionSet, ConditionalAccessPolicy,
    FrequencyAuthenticationType, FrequencyInterval, FrequencyUnit, GrantControls, Locations,
    Operator, PlatformValue, Platforms, RiskLevel, SessionControls, Users,
};
use crate::prop::{Prop, list};
use mailward_types::model::Role;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use uuid::Uuid;

/// `@odata.type` of a policy, when present.
pub const POLICY_ODATA_TYPE: &str = "#microsoft.graph.conditionalAccessPolicy";
/// Built-in authentication strength "Multifactor authentication".
pub const STRENGTH_MFA: &str = "00000000-0000-0000-0000-000000000002";
/// Built-in authentication strength "Phishing-resistant MFA" (passkeys / security keys).
pub const STRENGTH_PHISHING_RESISTANT: &str = "00000000-0000-0000-0000-000000000004";

/// Role template ids of the mailward roles (the familiar built-in role ids).
pub const ROLE_TEMPLATE_IDS: [(Role, &str); 4] = [
    (
        Role::GlobalAdministrator,
        "62e90394-69f5-4237-9190-012177145e10",
    ),
    (
        Role::UserAdministrator,
        "fe930be7-5e62-47db-91af-98c3a49a38b1",
    ),
    (
        Role::SecurityAdministrator,
        "194ae4cb-b126-40b2-bd5b-6091b380977d",
    ),
    (Role::GlobalReader, "f2ef992c-3afb-46b9-b7cf-a126ee74c451"),
];

/// The role template id of a mailward role.
pub fn role_template_id(role: Role) -> &'static str {
    match role {
        Role::GlobalAdministrator => ROLE_TEMPLATE_IDS[0].1,
        Role::UserAdministrator => ROLE_TEMPLATE_IDS[1].1,
        Role::SecurityAdministrator => ROLE_TEMPLATE_IDS[2].1,
        Role::GlobalReader => ROLE_TEMPLATE_IDS[3].1,
    }
}

/// A role named in `includeRoles`/`excludeRoles`: a template id (any case) or a mailward
/// role name (`GlobalAdministrator`). `None` for other (valid but unknown) role ids.
pub fn role_from_graph(s: &str) -> Option<Role> {
    ROLE_TEMPLATE_IDS
        .iter()
        .find(|(_, id)| id.eq_ignore_ascii_case(s))
        .map(|(r, _)| *r)
        .or_else(|| Role::parse(s))
}

/// Parses and validates one policy (a Graph GET response or a create/update body).
pub fn import_policy(json: &[u8]) -> Result<ConditionalAccessPolicy, ImportError> {
    let policy: ConditionalAccessPolicy = parse(json)?;
    validate_policy(&policy)?;
    Ok(policy)
}

/// Parses and validates a list of policies: a JSON array or Graph's list response
/// (`{"@odata.context": ..., "value": [...]}`). Errors are prefixed `value[i].`.
pub fn import_policy_list(json: &[u8]) -> Result<Vec<ConditionalAccessPolicy>, ImportError> {
    import_list(json, import_policy_value)
}

/// Parses and validates one named location.
pub fn import_named_location(json: &[u8]) -> Result<NamedLocation, ImportError> {
    let loc: NamedLocation = parse(json)?;
    validate_named_location(&loc)?;
    Ok(loc)
}

/// Parses and validates a list of named locations (array or Graph list response).
pub fn import_named_location_list(json: &[u8]) -> Result<Vec<NamedLocation>, ImportError> {
    import_list(json, import_named_location_value)
}

/// The policy as Graph JSON, members in Graph's order, absent members left out.
pub fn export_policy(policy: &ConditionalAccessPolicy) -> String {
    // Serializing plain structs of strings, numbers and `Value`s cannot fail.
    serde_json::to_string(policy).unwrap_or_default()
}

/// [`export_policy`], indented.
pub fn export_policy_pretty(policy: &ConditionalAccessPolicy) -> String {
    serde_json::to_string_pretty(policy).unwrap_or_default()
}

/// The named location as Graph JSON.
pub fn export_named_location(loc: &NamedLocation) -> String {
    serde_json::to_string(loc).unwrap_or_default()
}

/// Checks a policy against Graph's rules and the supported subset (all problems at once).
pub fn validate_policy(p: &ConditionalAccessPolicy) -> Result<(), ImportError> {
    let mut e = Errors::default();
    check_policy(p, &mut e);
    e.into_result()
}

/// Checks a named location (all problems at once).
pub fn validate_named_location(loc: &NamedLocation) -> Result<(), ImportError> {
    let mut e = Errors::default();
    check_location(loc, &mut e);
    e.into_result()
}

/// Parses a Graph object strictly: besides serde's checks (types, unknown members), the
/// result must serialize back to the same JSON, which refuses the shapes serde would
/// quietly accept (a struct written as an array, say).
fn parse<T: DeserializeOwned + Serialize>(json: &[u8]) -> Result<T, ImportError> {
    let value: T = parse_raw(json)?;
    let original: Value = parse_raw(json)?;
    let back = serde_json::to_value(&value)
        .map_err(|err| single("", ErrorKind::Syntax, err.to_string()))?;
    if let Some(path) = first_difference(&original, &back, String::new()) {
        return Err(single(path, ErrorKind::Syntax, "not in Graph's JSON form"));
    }
    Ok(value)
}

/// The path of the first place where `a` and `b` differ.
fn first_difference(a: &Value, b: &Value, path: String) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, va) in x {
                let sub = join(&path, k);
                match y.get(k) {
                    Some(vb) => {
                        if let Some(p) = first_difference(va, vb, sub) {
                            return Some(p);
                        }
                    }
                    None => return Some(sub),
                }
            }
            y.keys()
                .find(|k| !x.contains_key(*k))
                .map(|k| join(&path, k))
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (va, vb))| first_difference(va, vb, format!("{path}[{i}]"))),
        _ if a == b => None,
        _ => Some(path),
    }
}

fn parse_raw<T: DeserializeOwned>(json: &[u8]) -> Result<T, ImportError> {
    let mut de = serde_json::Deserializer::from_slice(json);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let path = err.path().to_string();
        let path = if path == "." { String::new() } else { path };
        let inner = err.into_inner();
        let kind = if inner.to_string().starts_with("unknown field") {
            ErrorKind::UnknownField
        } else {
            ErrorKind::Syntax
        };
        single(path, kind, inner.to_string())
    })?;
    de.end()
        .map_err(|err| single("", ErrorKind::Syntax, err.to_string()))?;
    Ok(value)
}

fn single(path: impl Into<String>, kind: ErrorKind, msg: impl Into<String>) -> ImportError {
    ImportError {
        errors: vec![FieldError::new(path, kind, msg)],
    }
}

fn import_list<T>(
    json: &[u8],
    one: fn(Value) -> Result<T, ImportError>,
) -> Result<Vec<T>, ImportError> {
    let value: Value = parse_raw(json)?;
    let (items, prefix) = match value {
        Value::Array(items) => (items, ""),
        Value::Object(mut map) => match map.remove("value") {
            Some(Value::Array(items)) => (items, "value"),
            _ => return Err(single("value", ErrorKind::Required, "required (a list)")),
        },
        _ => return Err(single("", ErrorKind::Syntax, "expected a list")),
    };
    let mut out = Vec::with_capacity(items.len());
    let mut errors = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        match one(item) {
            Ok(v) => out.push(v),
            Err(err) => errors.extend(err.errors.into_iter().map(|mut fe| {
                fe.path = join(&format!("{prefix}[{i}]"), &fe.path);
                fe
            })),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(ImportError { errors })
    }
}

fn import_policy_value(v: Value) -> Result<ConditionalAccessPolicy, ImportError> {
    let bytes = serde_json::to_vec(&v).unwrap_or_default();
    import_policy(&bytes)
}

fn import_named_location_value(v: Value) -> Result<NamedLocation, ImportError> {
    let bytes = serde_json::to_vec(&v).unwrap_or_default();
    import_named_location(&bytes)
}

pub(crate) fn join(prefix: &str, path: &str) -> String {
    match (prefix.is_empty(), path.is_empty()) {
        (true, _) => path.to_string(),
        (false, true) => prefix.to_string(),
        (false, false) if path.starts_with('[') => format!("{prefix}{path}"),
        (false, false) => format!("{prefix}.{path}"),
    }
}

/// `null`, `false`, `""`, `[]`, `{}`, an object with `isEnabled: false`, or an object of
/// inert members: a setting that turns nothing on.
fn inert(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::String(s) => s.is_empty(),
        Value::Number(_) => false,
        Value::Array(a) => a.is_empty(),
        Value::Object(m) => {
            m.get("isEnabled") == Some(&Value::Bool(false)) || m.values().all(inert)
        }
    }
}

/// An unsupported member: fine while inert, refused (at `path`) otherwise.
fn unsupported_value(p: &Prop<Value>, path: &str, e: &mut Errors) {
    if let Some(v) = p.get()
        && !inert(v)
    {
        e.unsupported(path);
    }
}

/// An unsupported container (`devices`): refused naming each active member.
fn unsupported_members(p: &Prop<Value>, path: &str, e: &mut Errors) {
    let Some(v) = p.get() else { return };
    if inert(v) {
        return;
    }
    match v {
        Value::Object(m) => {
            for (k, _) in m.iter().filter(|(_, v)| !inert(v)) {
                e.unsupported(format!("{path}.{k}"));
            }
        }
        _ => e.unsupported(path),
    }
}

fn unsupported_list(p: &Prop<Vec<String>>, path: &str, e: &mut Errors) {
    if !list(p).is_empty() {
        e.unsupported(path);
    }
}

fn check_date(p: &Prop<String>, path: &str, e: &mut Errors) {
    if let Some(s) = p.get()
        && time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).is_err()
    {
        e.push(
            path,
            ErrorKind::Invalid,
            format!("`{s}` is not an ISO 8601 date-time"),
        );
    }
}

fn is_guid(s: &str) -> bool {
    s.len() == 36 && Uuid::parse_str(s).is_ok()
}

fn check_policy(p: &ConditionalAccessPolicy, e: &mut Errors) {
    if let Some(t) = p.odata_type.get()
        && t != POLICY_ODATA_TYPE
    {
        e.push(
            "@odata.type",
            ErrorKind::Invalid,
            format!("expected `{POLICY_ODATA_TYPE}`"),
        );
    }
    match &p.id {
        Prop::Value(id) if id.trim().is_empty() => {
            e.push("id", ErrorKind::Invalid, "must not be empty")
        }
        Prop::Null => e.push("id", ErrorKind::Invalid, "must not be null"),
        _ => {}
    }
    match p.display_name.get() {
        Some(n) if !n.trim().is_empty() => {}
        _ => e.required("displayName"),
    }
    check_date(&p.created_date_time, "createdDateTime", e);
    check_date(&p.modified_date_time, "modifiedDateTime", e);
    if p.state.get().is_none() {
        e.required("state");
    }
    unsupported_value(
        &p.partial_enablement_strategy,
        "partialEnablementStrategy",
        e,
    );
    match p.conditions.get() {
        Some(c) => check_conditions(c, e),
        None => e.required("conditions"),
    }
    let grants = p
        .grant_controls
        .get()
        .map(|g| check_grant(g, e))
        .unwrap_or(false);
    let sessions = p
        .session_controls
        .get()
        .map(|s| check_session(s, e))
        .unwrap_or(false);
    if !grants && !sessions {
        e.push(
            "grantControls",
            ErrorKind::Required,
            "at least one grant control or session control is required",
        );
    }
}

fn check_conditions(c: &ConditionSet, e: &mut Errors) {
    check_risk(&c.user_risk_levels, "conditions.userRiskLevels", e);
    check_risk(&c.sign_in_risk_levels, "conditions.signInRiskLevels", e);
    for (i, t) in list(&c.client_app_types).iter().enumerate() {
        if matches!(
            t,
            ClientAppTypeValue::EasUnsupported | ClientAppTypeValue::UnknownFutureValue
        ) {
            e.push(
                format!("conditions.clientAppTypes[{i}]"),
                ErrorKind::Unsupported,
                format!("`{}` not supported", t.as_str()),
            );
        }
    }
    unsupported_value(
        &c.service_principal_risk_levels,
        "conditions.servicePrincipalRiskLevels",
        e,
    );
    unsupported_value(&c.insider_risk_levels, "conditions.insiderRiskLevels", e);
    if let Some(pl) = c.platforms.get() {
        check_platforms(pl, e);
    }
    if let Some(l) = c.locations.get() {
        check_locations(l, e);
    }
    unsupported_value(&c.times, "conditions.times", e);
    unsupported_members(&c.device_states, "conditions.deviceStates", e);
    unsupported_members(&c.devices, "conditions.devices", e);
    unsupported_value(&c.client_applications, "conditions.clientApplications", e);
    match c.applications.get() {
        Some(a) => check_applications(a, e),
        None => e.required("conditions.applications"),
    }
    match c.users.get() {
        Some(u) => check_users(u, e),
        None => e.required("conditions.users"),
    }
    unsupported_value(&c.authentication_flows, "conditions.authenticationFlows", e);
    unsupported_value(&c.clients, "conditions.clients", e);
}

fn check_risk(p: &Prop<Vec<RiskLevel>>, path: &str, e: &mut Errors) {
    for (i, r) in list(p).iter().enumerate() {
        if matches!(r, RiskLevel::Hidden | RiskLevel::UnknownFutureValue) {
            e.push(
                format!("{path}[{i}]"),
                ErrorKind::Unsupported,
                format!("`{}` not supported", r.as_str()),
            );
        }
    }
}

fn check_platforms(p: &Platforms, e: &mut Errors) {
    let include = list(&p.include_platforms);
    let exclude = list(&p.exclude_platforms);
    if include.is_empty() && !exclude.is_empty() {
        e.required("conditions.platforms.includePlatforms");
    }
    for (name, values) in [("includePlatforms", include), ("excludePlatforms", exclude)] {
        for (i, v) in values.iter().enumerate() {
            let path = format!("conditions.platforms.{name}[{i}]");
            if *v == PlatformValue::UnknownFutureValue {
                e.push(
                    path,
                    ErrorKind::Unsupported,
                    "`unknownFutureValue` not supported",
                );
            } else if *v == PlatformValue::All && name == "excludePlatforms" {
                e.push(path, ErrorKind::Invalid, "`all` cannot be excluded");
            }
        }
    }
}

fn check_locations(l: &Locations, e: &mut Errors) {
    let include = list(&l.include_locations);
    let exclude = list(&l.exclude_locations);
    if include.is_empty() && !exclude.is_empty() {
        e.required("conditions.locations.includeLocations");
    }
    for (name, values) in [("includeLocations", include), ("excludeLocations", exclude)] {
        for (i, v) in values.iter().enumerate() {
            let path = format!("conditions.locations.{name}[{i}]");
            if v == "All" && name == "excludeLocations" {
                e.push(path, ErrorKind::Invalid, "`All` cannot be excluded");
            } else if v.trim().is_empty() {
                e.push(path, ErrorKind::Invalid, "empty named location id");
            }
        }
    }
}

fn check_applications(a: &Applications, e: &mut Errors) {
    let include = list(&a.include_applications);
    if include.is_empty() {
        e.required("conditions.applications.includeApplications");
    }
    for (name, values) in [
        ("includeApplications", include),
        ("excludeApplications", list(&a.exclude_applications)),
    ] {
        for (i, v) in values.iter().enumerate() {
            let path = format!("conditions.applications.{name}[{i}]");
            if v == "All" && name == "excludeApplications" {
                e.push(path, ErrorKind::Invalid, "`All` cannot be excluded");
            } else if mailward_types::ClientId::try_from(v.as_str()).is_err() {
                e.push(
                    path,
                    ErrorKind::Invalid,
                    format!("`{v}` is not an application id"),
                );
            }
        }
    }
    unsupported_list(
        &a.include_user_actions,
        "conditions.applications.includeUserActions",
        e,
    );
    unsupported_list(
        &a.include_authentication_context_class_references,
        "conditions.applications.includeAuthenticationContextClassReferences",
        e,
    );
    unsupported_value(
        &a.application_filter,
        "conditions.applications.applicationFilter",
        e,
    );
    unsupported_value(
        &a.network_access,
        "conditions.applications.networkAccess",
        e,
    );
    unsupported_value(
        &a.global_secure_access,
        "conditions.applications.globalSecureAccess",
        e,
    );
}

fn check_users(u: &Users, e: &mut Errors) {
    if list(&u.include_users).is_empty()
        && list(&u.include_groups).is_empty()
        && list(&u.include_roles).is_empty()
    {
        e.push(
            "conditions.users.includeUsers",
            ErrorKind::Required,
            "required (or includeGroups / includeRoles)",
        );
    }
    let user_lists = [
        (
            "includeUsers",
            &u.include_users,
            &["All", "None", "GuestsOrExternalUsers"][..],
        ),
        (
            "excludeUsers",
            &u.exclude_users,
            &["GuestsOrExternalUsers"][..],
        ),
    ];
    for (name, p, keywords) in user_lists {
        for (i, v) in list(p).iter().enumerate() {
            if !keywords.contains(&v.as_str()) && !is_guid(v) {
                e.push(
                    format!("conditions.users.{name}[{i}]"),
                    ErrorKind::Invalid,
                    format!("`{v}` is not a user id or one of {keywords:?}"),
                );
            }
        }
    }
    for (name, p) in [
        ("includeGroups", &u.include_groups),
        ("excludeGroups", &u.exclude_groups),
    ] {
        for (i, v) in list(p).iter().enumerate() {
            if !is_guid(v) {
                e.push(
                    format!("conditions.users.{name}[{i}]"),
                    ErrorKind::Invalid,
                    format!("`{v}` is not a group id"),
                );
            }
        }
    }
    for (name, p) in [
        ("includeRoles", &u.include_roles),
        ("excludeRoles", &u.exclude_roles),
    ] {
        for (i, v) in list(p).iter().enumerate() {
            if !is_guid(v) && role_from_graph(v).is_none() {
                e.push(
                    format!("conditions.users.{name}[{i}]"),
                    ErrorKind::Invalid,
                    format!("`{v}` is not a role template id or role name"),
                );
            }
        }
    }
    unsupported_value(
        &u.include_guests_or_external_users,
        "conditions.users.includeGuestsOrExternalUsers",
        e,
    );
    unsupported_value(
        &u.exclude_guests_or_external_users,
        "conditions.users.excludeGuestsOrExternalUsers",
        e,
    );
}

/// Returns whether the grant controls demand anything.
fn check_grant(g: &GrantControls, e: &mut Errors) -> bool {
    let controls = list(&g.built_in_controls);
    for (i, c) in controls.iter().enumerate() {
        if matches!(
            c,
            BuiltInControl::RiskRemediation | BuiltInControl::UnknownFutureValue
        ) {
            e.push(
                format!("grantControls.builtInControls[{i}]"),
                ErrorKind::Unsupported,
                format!("`{}` not supported", c.as_str()),
            );
        }
    }
    unsupported_list(
        &g.custom_authentication_factors,
        "grantControls.customAuthenticationFactors",
        e,
    );
    unsupported_list(&g.terms_of_use, "grantControls.termsOfUse", e);
    let strength = match g.authentication_strength.get() {
        None => false,
        Some(Value::Object(m)) => match m.get("id").and_then(Value::as_str) {
            Some(id)
                if id.eq_ignore_ascii_case(STRENGTH_MFA)
                    || id.eq_ignore_ascii_case(STRENGTH_PHISHING_RESISTANT) =>
            {
                true
            }
            Some(_) => {
                e.push(
                    "grantControls.authenticationStrength.id",
                    ErrorKind::Unsupported,
                    "not supported (only the built-in strengths \
                     00000000-0000-0000-0000-000000000002 and \
                     00000000-0000-0000-0000-000000000004)",
                );
                true
            }
            None => {
                e.required("grantControls.authenticationStrength.id");
                true
            }
        },
        Some(_) => {
            e.push(
                "grantControls.authenticationStrength",
                ErrorKind::Syntax,
                "expected an object with an `id`",
            );
            true
        }
    };
    let any = !controls.is_empty() || strength;
    if any && g.operator.get().is_none() {
        e.required("grantControls.operator");
    }
    let count = controls.len() + usize::from(strength);
    if controls.contains(&BuiltInControl::Block) && count > 1 {
        e.push(
            "grantControls.builtInControls",
            ErrorKind::Invalid,
            "`block` cannot be combined with other controls",
        );
    }
    if controls.contains(&BuiltInControl::PasswordChange)
        && !(controls.contains(&BuiltInControl::Mfa) && g.operator.get() == Some(&Operator::And))
    {
        e.push(
            "grantControls.builtInControls",
            ErrorKind::Invalid,
            "`passwordChange` requires `mfa` with operator `AND`",
        );
    }
    if strength && controls.contains(&BuiltInControl::Mfa) {
        e.push(
            "grantControls.authenticationStrength",
            ErrorKind::Invalid,
            "cannot be combined with `mfa`",
        );
    }
    any
}

/// Returns whether some session control is on.
fn check_session(s: &SessionControls, e: &mut Errors) -> bool {
    let mut any = false;
    unsupported_value(
        &s.disable_resilience_defaults,
        "sessionControls.disableResilienceDefaults",
        e,
    );
    unsupported_value(
        &s.application_enforced_restrictions,
        "sessionControls.applicationEnforcedRestrictions",
        e,
    );
    unsupported_value(&s.cloud_app_security, "sessionControls.cloudAppSecurity", e);
    unsupported_value(
        &s.continuous_access_evaluation,
        "sessionControls.continuousAccessEvaluation",
        e,
    );
    unsupported_value(
        &s.secure_sign_in_session,
        "sessionControls.secureSignInSession",
        e,
    );
    unsupported_value(
        &s.network_access_security,
        "sessionControls.networkAccessSecurity",
        e,
    );
    unsupported_value(
        &s.global_secure_access_filtering_profile,
        "sessionControls.globalSecureAccessFilteringProfile",
        e,
    );
    if let Some(pb) = s.persistent_browser.get()
        && pb.is_enabled.get() != Some(&false)
    {
        any = true;
        if pb.mode.get().is_none() {
            e.required("sessionControls.persistentBrowser.mode");
        }
    }
    if let Some(f) = s.sign_in_frequency.get() {
        let path = "sessionControls.signInFrequency";
        if f.authentication_type.get() == Some(&FrequencyAuthenticationType::UnknownFutureValue) {
            e.push(
                format!("{path}.authenticationType"),
                ErrorKind::Unsupported,
                "`unknownFutureValue` not supported",
            );
        }
        if f.is_enabled.get() != Some(&false) {
            any = true;
            match f.frequency_interval.get() {
                Some(FrequencyInterval::UnknownFutureValue) => e.push(
                    format!("{path}.frequencyInterval"),
                    ErrorKind::Unsupported,
                    "`unknownFutureValue` not supported",
                ),
                Some(FrequencyInterval::EveryTime) => {
                    if f.value.get().is_some() || f.kind.get().is_some() {
                        e.push(
                            format!("{path}.value"),
                            ErrorKind::Invalid,
                            "`value` and `type` must be null with `everyTime`",
                        );
                    }
                }
                Some(FrequencyInterval::TimeBased) | None => match (f.value.get(), f.kind.get()) {
                    (Some(v), Some(unit)) => {
                        let max = match unit {
                            FrequencyUnit::Hours => 23,
                            FrequencyUnit::Days => 365,
                        };
                        if !(1..=max).contains(v) {
                            e.push(
                                format!("{path}.value"),
                                ErrorKind::Invalid,
                                format!("must be between 1 and {max}"),
                            );
                        }
                    }
                    (None, _) => e.required(format!("{path}.value")),
                    (_, None) => e.required(format!("{path}.type")),
                },
            }
        }
    }
    any
}

fn check_location(l: &NamedLocation, e: &mut Errors) {
    match &l.id {
        Prop::Value(id) if id.trim().is_empty() => {
            e.push("id", ErrorKind::Invalid, "must not be empty")
        }
        Prop::Null => e.push("id", ErrorKind::Invalid, "must not be null"),
        _ => {}
    }
    match l.display_name.get() {
        Some(n) if !n.trim().is_empty() => {}
        _ => e.required("displayName"),
    }
    check_date(&l.created_date_time, "createdDateTime", e);
    check_date(&l.modified_date_time, "modifiedDateTime", e);
    let kind = l.odata_type.get().map(String::as_str);
    match kind {
        Some(IP_NAMED_LOCATION) => {
            for (set, name) in [
                (!l.countries_and_regions.is_absent(), "countriesAndRegions"),
                (
                    !l.include_unknown_countries_and_regions.is_absent(),
                    "includeUnknownCountriesAndRegions",
                ),
                (!l.country_lookup_method.is_absent(), "countryLookupMethod"),
            ] {
                if set {
                    e.push(name, ErrorKind::Invalid, "not allowed on an ipNamedLocation");
                }
            }
            let ranges = list(&l.ip_ranges);
            if ranges.is_empty() {
                e.required("ipRanges");
            }
            for (i, r) in ranges.iter().enumerate() {
                let path = format!("ipRanges[{i}]");
                let Some(cidr) = r.cidr_address.get() else {
                    e.required(format!("{path}.cidrAddress"));
                    continue;
                };
                let Ok(net) = parse_cidr(cidr) else {
                    e.push(
                        format!("{path}.cidrAddress"),
                        ErrorKind::Invalid,
                        format!("`{cidr}` is not a CIDR range"),
                    );
                    continue;
                };
                match r.odata_type.get().map(String::as_str) {
                    None => {}
                    Some(IPV4_CIDR_RANGE) if net.addr().is_ipv4() => {}
                    Some(IPV6_CIDR_RANGE) if net.addr().is_ipv6() => {}
                    Some(t @ (IPV4_CIDR_RANGE | IPV6_CIDR_RANGE)) => e.push(
                        format!("{path}.@odata.type"),
                        ErrorKind::Invalid,
                        format!("`{t}` does not match `{cidr}`"),
                    ),
                    Some(t) => e.push(
                        format!("{path}.@odata.type"),
                        ErrorKind::Invalid,
                        format!("`{t}`: expected `{IPV4_CIDR_RANGE}` or `{IPV6_CIDR_RANGE}`"),
                    ),
                }
            }
        }
        Some(COUNTRY_NAMED_LOCATION) => {
            for (set, name) in [
                (!l.is_trusted.is_absent(), "isTrusted"),
                (!l.ip_ranges.is_absent(), "ipRanges"),
            ] {
                if set {
                    e.push(name, ErrorKind::Invalid, "not allowed on a countryNamedLocation");
                }
            }
            if l.countries_and_regions.get().is_none() {
                e.required("countriesAndRegions");
            }
            for (i, c) in list(&l.countries_and_regions).iter().enumerate() {
                if crate::context::CountryCode::parse(c).is_none() {
                    e.push(
                        format!("countriesAndRegions[{i}]"),
                        ErrorKind::Invalid,
                        format!("`{c}` is not an ISO 3166-1 alpha-2 code"),
                    );
                }
            }
            if let Some(m) = l.country_lookup_method.get()
                && *m != CountryLookupMethod::ClientIpAddress
            {
                e.unsupported("countryLookupMethod");
            }
        }
        Some(other) => e.push(
            "@odata.type",
            ErrorKind::Unsupported,
            format!("`{other}` not supported (expected `{IP_NAMED_LOCATION}` or `{COUNTRY_NAMED_LOCATION}`)"),
        ),
        None => e.required("@odata.type"),
    }
}

/// A CIDR range as Graph writes it: `address/prefix`, host bits allowed.
pub(crate) fn parse_cidr(s: &str) -> Result<ipnet::IpNet, ipnet::AddrParseError> {
    s.parse::<ipnet::IpNet>()
}
