//! Shared fixtures for the evaluation tests: a fixed tenant (user, groups, apps, named
//! locations), policies written as small JSON overlays on a base policy, contexts built by
//! small edits of a default sign-in, and a one-line rendering of an evaluation.

#![allow(dead_code)]

use mailward_policy::{
    ConditionalAccessPolicy, Config, Decision, Evaluation, NamedLocation, PolicySet, SignInContext,
    UserFacts, import_named_location, import_policy,
};
use mailward_types::model::{Amr, ClientAppType, well_known};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::datetime;
use uuid::Uuid;

pub const NOW: OffsetDateTime = datetime!(2026-03-01 12:00 UTC);

pub const USER: &str = "11111111-1111-4111-8111-111111111111";
pub const OTHER_USER: &str = "22222222-2222-4222-8222-222222222222";
pub const G1: &str = "aaaaaaaa-0000-4000-8000-000000000001";
pub const G2: &str = "aaaaaaaa-0000-4000-8000-000000000002";
pub const APP2: &str = "bbbbbbbb-0000-4000-8000-000000000002";
pub const LOC_OFFICE: &str = "cccccccc-0000-4000-8000-000000000001";
pub const LOC_VPN: &str = "cccccccc-0000-4000-8000-000000000002";
pub const LOC_COUNTRIES: &str = "cccccccc-0000-4000-8000-000000000003";
pub const LOC_UNKNOWN: &str = "cccccccc-0000-4000-8000-000000000004";

/// Replaces `$USER`, `$G1`, `$EXO`, `$LOC_OFFICE`, ... in test JSON.
pub fn subst(s: &str) -> String {
    s.replace("$OTHER_USER", OTHER_USER)
        .replace("$USER", USER)
        .replace("$G1", G1)
        .replace("$G2", G2)
        .replace("$EXO", well_known::MAIL_RESOURCE_APP_ID)
        .replace("$MAILAPP", well_known::MAIL_CLIENT_ID)
        .replace("$APP2", APP2)
        .replace("$LOC_OFFICE", LOC_OFFICE)
        .replace("$LOC_VPN", LOC_VPN)
        .replace("$LOC_COUNTRIES", LOC_COUNTRIES)
        .replace("$LOC_UNKNOWN", LOC_UNKNOWN)
        .replace("$GA", "62e90394-69f5-4237-9190-012177145e10")
        .replace("$SECADMIN", "194ae4cb-b126-40b2-bd5b-6091b380977d")
}

/// Deep-merges `overlay` into `base` (objects merge, everything else replaces).
pub fn merge(base: &mut Value, overlay: Value) {
    match (base, overlay) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                merge(b.entry(k).or_insert(Value::Null), v);
            }
        }
        (b, o) => *b = o,
    }
}

/// The base policy: enabled, all users, all apps, all client app types, require MFA.
pub fn base_policy(id: &str) -> Value {
    json!({
        "id": id,
        "displayName": format!("policy {id}"),
        "state": "enabled",
        "conditions": {
            "clientAppTypes": ["all"],
            "applications": { "includeApplications": ["All"] },
            "users": { "includeUsers": ["All"] }
        },
        "grantControls": { "operator": "OR", "builtInControls": ["mfa"] }
    })
}

/// A policy: the base with `overlay` (JSON with `$` placeholders) merged in.
pub fn p(id: &str, overlay: &str) -> ConditionalAccessPolicy {
    let mut v = base_policy(id);
    let overlay: Value = serde_json::from_str(&subst(overlay)).expect("overlay is JSON");
    merge(&mut v, overlay);
    import_policy(v.to_string().as_bytes()).unwrap_or_else(|e| panic!("policy {id}: {e}"))
}

pub fn named_locations() -> Vec<NamedLocation> {
    let locs = [
        json!({
            "@odata.type": "#microsoft.graph.ipNamedLocation",
            "id": LOC_OFFICE, "displayName": "Office", "isTrusted": true,
            "ipRanges": [
                {"@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": "10.0.0.0/8"},
                {"@odata.type": "#microsoft.graph.iPv6CidrRange", "cidrAddress": "2001:db8::/32"}
            ]
        }),
        json!({
            "@odata.type": "#microsoft.graph.ipNamedLocation",
            "id": LOC_VPN, "displayName": "VPN", "isTrusted": false,
            "ipRanges": [{"@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": "192.0.2.0/24"}]
        }),
        json!({
            "@odata.type": "#microsoft.graph.countryNamedLocation",
            "id": LOC_COUNTRIES, "displayName": "North America",
            "countriesAndRegions": ["US", "CA"], "includeUnknownCountriesAndRegions": false
        }),
        json!({
            "@odata.type": "#microsoft.graph.countryNamedLocation",
            "id": LOC_UNKNOWN, "displayName": "France or unknown",
            "countriesAndRegions": ["FR"], "includeUnknownCountriesAndRegions": true
        }),
    ];
    locs.iter()
        .map(|l| import_named_location(l.to_string().as_bytes()).expect("location"))
        .collect()
}

pub fn config() -> Config {
    Config {
        office365_app_ids: vec![
            well_known::MAIL_RESOURCE_APP_ID.to_string(),
            well_known::MAIL_CLIENT_ID.to_string(),
        ],
        admin_portal_app_ids: vec![],
    }
}

pub fn compile(policies: &[ConditionalAccessPolicy]) -> PolicySet {
    PolicySet::compile(policies, &named_locations(), &config()).expect("compiles")
}

/// The default sign-in: `USER` (member of `G1`, no roles) to the mail resource from a
/// browser on Windows at 203.0.113.9 (no named location), password only, an hour ago.
pub fn ctx() -> SignInContext {
    let mut user = UserFacts::member(Uuid::parse_str(USER).expect("uuid"));
    user.groups = vec![Uuid::parse_str(G1).expect("uuid")];
    SignInContext {
        ip: Some("203.0.113.9".parse().expect("ip")),
        platform: Some(mailward_policy::Platform::Windows),
        amr: vec![Amr::Pwd],
        auth_time: Some(NOW - time::Duration::hours(1)),
        ..SignInContext::new(
            user,
            well_known::MAIL_RESOURCE_APP_ID,
            ClientAppType::Browser,
        )
    }
}

/// The same sign-in with MFA done an hour ago.
pub fn mfa_ctx() -> SignInContext {
    SignInContext {
        amr: vec![Amr::Pwd, Amr::Otp, Amr::Mfa],
        mfa_time: Some(NOW - time::Duration::hours(1)),
        ..ctx()
    }
}

/// `allow`, `require(mfa,phish,pwd,reauth)` or `block(53003:p1,p2)`, then
/// ` | id:result[reason]` for every policy.
pub fn render(ev: &Evaluation<'_>) -> String {
    let mut s = render_decision(&ev.decision);
    s.push_str(" |");
    for o in &ev.outcomes {
        s.push(' ');
        s.push_str(o.id());
        s.push(':');
        s.push_str(o.result.as_str());
        if let Some(c) = o.not_applied {
            s.push('[');
            s.push_str(c.as_str());
            s.push(']');
        }
    }
    s
}

pub fn render_decision(d: &Decision) -> String {
    match d {
        Decision::Allow => "allow".to_string(),
        Decision::RequireControls(r) => {
            let mut parts = Vec::new();
            for (on, name) in [
                (r.mfa, "mfa"),
                (r.phishing_resistant, "phish"),
                (r.password_change, "pwd"),
                (r.reauthentication, "reauth"),
            ] {
                if on {
                    parts.push(name);
                }
            }
            format!("require({})", parts.join(","))
        }
        Decision::Block { policies, code } => {
            format!("block({}:{})", code.number(), policies.join(","))
        }
    }
}

/// Compiles `policies`, evaluates `ctx` at [`NOW`] and compares the rendering.
#[track_caller]
pub fn check(policies: &[ConditionalAccessPolicy], ctx: SignInContext, expect: &str) {
    let set = compile(policies);
    let got = render(&set.evaluate(&ctx, NOW));
    assert_eq!(got, expect, "\n  ctx: {ctx:?}");
}
