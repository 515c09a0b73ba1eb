//! Property: adding an exclusion (`excludeUsers`, `excludeGroups`, `excludeApplications`,
//! `excludeLocations`, `excludePlatforms`) to a policy never makes a sign-in worse: an
//! allowed sign-in stays allowed, a prompted one is never asked for more, and a sign-in is
//! blocked afterwards only if it was blocked before (by the same or more policies).

mod common;

use common::*;
use mailward_policy::{Decision, Platform, RiskLevel, SignInContext, import_policy};
use mailward_types::model::{Amr, ClientAppType, Role};
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Value, json};
use uuid::Uuid;

fn policy_strategy() -> impl Strategy<Value = Value> {
    (
        select(vec!["enabled", "enabled", "enabledForReportingButNotEnforced", "disabled"]),
        select(vec![
            json!({"includeUsers": ["All"]}),
            json!({"includeUsers": [USER]}),
            json!({"includeUsers": [], "includeGroups": [G1]}),
            json!({"includeUsers": [], "includeGroups": [G2]}),
            json!({"includeUsers": [], "includeRoles": ["GlobalAdministrator"]}),
            json!({"includeUsers": ["GuestsOrExternalUsers"]}),
        ]),
        select(vec!["All", "$EXO", "Office365", "$APP2"]),
        proptest::collection::vec(
            select(vec!["all", "browser", "mobileAppsAndDesktopClients", "exchangeActiveSync", "easSupported", "other"]),
            0..3,
        ),
        select(vec![
            Value::Null,
            json!({"includeLocations": ["All"]}),
            json!({"includeLocations": ["AllTrusted"]}),
            json!({"includeLocations": ["$LOC_VPN", "$LOC_COUNTRIES"]}),
            json!({"includeLocations": ["$LOC_UNKNOWN"]}),
        ]),
        select(vec![
            Value::Null,
            json!({"includePlatforms": ["all"]}),
            json!({"includePlatforms": ["android", "iOS"]}),
            json!({"includePlatforms": ["windows", "macOS", "linux"]}),
        ]),
        select(vec![json!([]), json!(["none"]), json!(["high", "medium"])]),
        select(vec![
            json!({"operator": "OR", "builtInControls": ["block"]}),
            json!({"operator": "OR", "builtInControls": ["mfa"]}),
            json!({"operator": "OR", "builtInControls": ["mfa", "compliantDevice"]}),
            json!({"operator": "AND", "builtInControls": ["mfa", "compliantDevice"]}),
            json!({"operator": "AND", "builtInControls": ["mfa", "passwordChange"]}),
            json!({"operator": "OR", "builtInControls": ["domainJoinedDevice"]}),
            json!({"operator": "OR", "builtInControls": [], "authenticationStrength": {"id": "00000000-0000-0000-0000-000000000004"}}),
            json!({"operator": "OR", "builtInControls": [], "authenticationStrength": {"id": "00000000-0000-0000-0000-000000000002"}}),
        ]),
        select(vec![
            Value::Null,
            json!({"signInFrequency": {"value": 1, "type": "hours", "isEnabled": true}}),
            json!({"signInFrequency": {"value": 2, "type": "hours", "authenticationType": "secondaryAuthentication", "isEnabled": true}}),
            json!({"persistentBrowser": {"mode": "never", "isEnabled": true}}),
        ]),
    )
        .prop_map(|(state, users, app, types, locations, platforms, risk, grant, session)| {
            json!({
                "displayName": "generated",
                "state": state,
                "conditions": {
                    "users": users,
                    "applications": {"includeApplications": [app]},
                    "clientAppTypes": types,
                    "locations": locations,
                    "platforms": platforms,
                    "signInRiskLevels": risk,
                },
                "grantControls": grant,
                "sessionControls": session,
            })
        })
}

/// (which list, value to add).
fn exclusion_strategy() -> impl Strategy<Value = (&'static str, &'static str)> {
    select(vec![
        ("users.excludeUsers", "$USER"),
        ("users.excludeUsers", "GuestsOrExternalUsers"),
        ("users.excludeUsers", "$OTHER_USER"),
        ("users.excludeGroups", "$G1"),
        ("users.excludeGroups", "$G2"),
        ("users.excludeRoles", "$GA"),
        ("applications.excludeApplications", "$EXO"),
        ("applications.excludeApplications", "Office365"),
        ("applications.excludeApplications", "$APP2"),
        ("locations.excludeLocations", "AllTrusted"),
        ("locations.excludeLocations", "$LOC_OFFICE"),
        ("locations.excludeLocations", "$LOC_VPN"),
        ("locations.excludeLocations", "$LOC_COUNTRIES"),
        ("locations.excludeLocations", "$LOC_UNKNOWN"),
        ("platforms.excludePlatforms", "iOS"),
        ("platforms.excludePlatforms", "windows"),
        ("platforms.excludePlatforms", "linux"),
    ])
}

fn context_strategy() -> impl Strategy<Value = SignInContext> {
    (
        select(vec![
            ClientAppType::Browser,
            ClientAppType::MobileAppsAndDesktopClients,
            ClientAppType::ExchangeActiveSync,
            ClientAppType::Other,
        ]),
        select(vec![
            Some("10.1.1.1"),
            Some("192.0.2.9"),
            Some("203.0.113.1"),
            None,
        ]),
        select(vec![Some("US"), Some("FR"), Some("DE"), None]),
        select(vec![
            None,
            Some(Platform::Windows),
            Some(Platform::IOS),
            Some(Platform::Android),
            Some(Platform::Linux),
        ]),
        (any::<bool>(), any::<bool>(), any::<bool>()),
        select(vec![
            vec![Amr::Pwd],
            vec![Amr::Pwd, Amr::Otp, Amr::Mfa],
            vec![Amr::Hwk, Amr::Mfa],
        ]),
        (0i64..300, any::<bool>()),
        select(vec!["$EXO", "$MAILAPP", "$APP2"]),
        select(vec![RiskLevel::None, RiskLevel::High]),
    )
        .prop_map(
            |(kind, ip, country, platform, (g1, admin, guest), amr, (mins, pwd), app, risk)| {
                let base = ctx();
                let mut user = base.user.clone().expect("user");
                user.groups = if g1 {
                    vec![Uuid::parse_str(G1).expect("uuid")]
                } else {
                    vec![]
                };
                user.roles = if admin {
                    vec![Role::GlobalAdministrator]
                } else {
                    vec![]
                };
                user.guest = guest;
                let mfa = amr.contains(&Amr::Mfa);
                SignInContext {
                    user: Some(user),
                    app_id: subst(app),
                    client_app_type: kind,
                    ip: ip.map(|s| s.parse().expect("ip")),
                    country: country.and_then(mailward_policy::CountryCode::parse),
                    platform,
                    sign_in_risk: risk,
                    auth_time: Some(NOW - time::Duration::minutes(mins)),
                    mfa_time: mfa.then(|| NOW - time::Duration::minutes(mins / 2)),
                    amr,
                    password_changed: pwd,
                    ..base
                }
            },
        )
}

fn add_exclusion(policy: &mut Value, (list, value): (&str, &str)) {
    let (section, key) = list.split_once('.').expect("dotted");
    let conditions = &mut policy["conditions"];
    // An exclusion needs an inclusion; "all" adds no restriction.
    if section == "locations" && conditions["locations"].is_null() {
        conditions["locations"] = json!({"includeLocations": ["All"]});
    }
    if section == "platforms" && conditions["platforms"].is_null() {
        conditions["platforms"] = json!({"includePlatforms": ["all"]});
    }
    let slot = &mut conditions[section][key];
    if slot.is_null() {
        *slot = json!([]);
    }
    if let Value::Array(items) = slot {
        items.push(Value::String(subst(value)));
    }
}

fn import(i: usize, v: &Value) -> mailward_policy::ConditionalAccessPolicy {
    let mut v = v.clone();
    v["id"] = json!(format!("p{i}"));
    import_policy(subst(&v.to_string()).as_bytes()).unwrap_or_else(|e| panic!("{e}\n{v}"))
}

/// `true` if `after` is no worse than `before`.
fn no_worse(before: &Decision, after: &Decision) -> bool {
    match (before, after) {
        (_, Decision::Allow) => true,
        (Decision::Allow, _) => false,
        (Decision::RequireControls(b), Decision::RequireControls(a)) => {
            (!a.mfa || b.mfa)
                && (!a.phishing_resistant || b.phishing_resistant)
                && (!a.password_change || b.password_change)
                && (!a.reauthentication || b.reauthentication)
        }
        (Decision::RequireControls(_), Decision::Block { .. }) => false,
        (Decision::Block { .. }, Decision::RequireControls(_)) => true,
        (Decision::Block { policies: b, .. }, Decision::Block { policies: a, .. }) => {
            a.iter().all(|id| b.contains(id))
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn adding_an_exclusion_never_makes_a_sign_in_worse(
        policies in proptest::collection::vec(policy_strategy(), 1..5),
        target in any::<proptest::sample::Index>(),
        exclusion in exclusion_strategy(),
        ctx in context_strategy(),
    ) {
        let before: Vec<_> = policies.iter().enumerate().map(|(i, v)| import(i, v)).collect();
        let t = target.index(policies.len());
        let mut changed = policies.clone();
        add_exclusion(&mut changed[t], exclusion);
        let after: Vec<_> = changed.iter().enumerate().map(|(i, v)| import(i, v)).collect();
        let (sb, sa) = (compile(&before), compile(&after));
        let (db, da) = (sb.evaluate(&ctx, NOW).decision, sa.evaluate(&ctx, NOW).decision);
        prop_assert!(no_worse(&db, &da), "before {:?}\nafter {:?}\nexclusion {:?} on p{}", db, da, exclusion, t);
    }
}
