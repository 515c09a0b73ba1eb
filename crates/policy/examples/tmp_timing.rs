//! Evaluation time for 1 and 200 policies against a typical sign-in (a user in a handful
//! of groups, a browser, an IP to match against 20 named locations), plus compile time.
//! Target: under 5 µs for 200 policies on one core.

use mailward_policy::{
    ConditionalAccessPolicy, Config, NamedLocation, PolicySet, SignInContext, UserFacts,
    import_named_location, import_policy,
};
use mailward_types::model::{Amr, ClientAppType, well_known};
use serde_json::json;
use std::hint::black_box;
use time::macros::datetime;
use uuid::Uuid;

fn guid(kind: u32, i: u32) -> String {
    format!("{kind:08x}-0000-4000-8000-{i:012x}")
}

fn locations() -> Vec<NamedLocation> {
    (0..20u32)
        .map(|i| {
            let v = if i % 4 == 3 {
                json!({
                    "@odata.type": "#microsoft.graph.countryNamedLocation",
                    "id": guid(3, i), "displayName": format!("countries {i}"),
                    "countriesAndRegions": ["US", "CA", "GB"], "includeUnknownCountriesAndRegions": false
                })
            } else {
                json!({
                    "@odata.type": "#microsoft.graph.ipNamedLocation",
                    "id": guid(3, i), "displayName": format!("ip {i}"), "isTrusted": i % 2 == 0,
                    "ipRanges": [
                        {"@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": format!("10.{i}.0.0/16")},
                        {"@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": format!("172.16.{i}.0/24")},
                        {"@odata.type": "#microsoft.graph.iPv6CidrRange", "cidrAddress": format!("2001:db8:{i:x}::/48")}
                    ]
                })
            };
            import_named_location(v.to_string().as_bytes()).expect("location")
        })
        .collect()
}

/// A realistic mix: group- and role-scoped MFA, legacy blocks, location rules,
/// platform rules, report-only copies, session controls.
fn policy(i: u32) -> ConditionalAccessPolicy {
    let users = match i % 5 {
        0 => json!({"includeUsers": ["All"], "excludeGroups": [guid(1, 90), guid(1, i)]}),
        1 => json!({"includeUsers": [], "includeGroups": [guid(1, i % 7), guid(1, 50 + i % 3)]}),
        2 => {
            json!({"includeUsers": [], "includeRoles": ["62e90394-69f5-4237-9190-012177145e10", "194ae4cb-b126-40b2-bd5b-6091b380977d"]})
        }
        3 => json!({"includeUsers": [guid(2, i), guid(2, i + 1), guid(2, i + 2)]}),
        _ => json!({"includeUsers": ["All"], "excludeUsers": [guid(2, 999)]}),
    };
    let apps = match i % 3 {
        0 => json!({"includeApplications": ["All"], "excludeApplications": [guid(4, i)]}),
        1 => json!({"includeApplications": ["Office365"]}),
        _ => json!({"includeApplications": [well_known::MAIL_RESOURCE_APP_ID, guid(4, i)]}),
    };
    let types = match i % 4 {
        0 => json!(["all"]),
        1 => json!(["browser", "mobileAppsAndDesktopClients"]),
        2 => json!(["exchangeActiveSync", "other"]),
        _ => json!(["mobileAppsAndDesktopClients"]),
    };
    let locations = match i % 3 {
        0 => json!(null),
        1 => {
            json!({"includeLocations": ["All"], "excludeLocations": ["AllTrusted", guid(3, i % 20)]})
        }
        _ => json!({"includeLocations": [guid(3, (i + 3) % 20), guid(3, (i + 7) % 20)]}),
    };
    let platforms = match i % 4 {
        0 => json!({"includePlatforms": ["all"], "excludePlatforms": ["iOS"]}),
        1 => json!({"includePlatforms": ["android", "iOS"]}),
        _ => json!(null),
    };
    let grant = match i % 6 {
        0 => json!({"operator": "OR", "builtInControls": ["block"]}),
        1 | 2 => json!({"operator": "OR", "builtInControls": ["mfa"]}),
        3 => json!({"operator": "OR", "builtInControls": ["mfa", "compliantDevice"]}),
        4 => {
            json!({"operator": "OR", "builtInControls": [], "authenticationStrength": {"id": "00000000-0000-0000-0000-000000000002"}})
        }
        _ => json!({"operator": "AND", "builtInControls": ["mfa", "passwordChange"]}),
    };
    let session = if i.is_multiple_of(7) {
        json!({"signInFrequency": {"value": 8, "type": "hours", "isEnabled": true}})
    } else {
        json!(null)
    };
    let state = if i % 5 == 4 {
        "enabledForReportingButNotEnforced"
    } else {
        "enabled"
    };
    let v = json!({
        "id": guid(9, i),
        "displayName": format!("policy {i}"),
        "state": state,
        "conditions": {
            "users": users, "applications": apps, "clientAppTypes": types,
            "locations": locations, "platforms": platforms,
            "signInRiskLevels": [], "userRiskLevels": []
        },
        "grantControls": grant,
        "sessionControls": session
    });
    import_policy(v.to_string().as_bytes()).expect("policy")
}

fn context() -> SignInContext {
    let mut user = UserFacts::member(Uuid::parse_str(&guid(2, 5)).expect("uuid"));
    user.groups = (0..6)
        .map(|g| Uuid::parse_str(&guid(1, g * 3)).expect("uuid"))
        .collect();
    let now = datetime!(2026-03-01 12:00 UTC);
    SignInContext {
        ip: Some("10.5.3.4".parse().expect("ip")),
        country: mailward_policy::CountryCode::parse("US"),
        platform: Some(mailward_policy::Platform::Windows),
        amr: vec![Amr::Pwd, Amr::Otp, Amr::Mfa],
        auth_time: Some(now - time::Duration::hours(1)),
        mfa_time: Some(now - time::Duration::hours(1)),
        ..SignInContext::new(
            user,
            well_known::MAIL_RESOURCE_APP_ID,
            ClientAppType::Browser,
        )
    }
}

fn config() -> Config {
    Config {
        office365_app_ids: vec![
            well_known::MAIL_RESOURCE_APP_ID.to_string(),
            well_known::MAIL_CLIENT_ID.to_string(),
        ],
        admin_portal_app_ids: vec![],
    }
}

fn main() {
    let locs = locations();
    let ctx = context();
    let now = datetime!(2026-03-01 12:00 UTC);
    for n in [1u32, 200] {
        let policies: Vec<_> = (0..n).map(|i| policy(i + 1)).collect();
        let set = PolicySet::compile(&policies, &locs, &config()).expect("compile");
        let mut best = f64::MAX;
        for _ in 0..300 {
            let t = std::time::Instant::now();
            for _ in 0..200 {
                black_box(set.evaluate(black_box(&ctx), now).decision.clone());
            }
            best = best.min(t.elapsed().as_nanos() as f64 / 200.0);
        }
        println!("evaluate/{n}: best {best:.0} ns");
    }
}
