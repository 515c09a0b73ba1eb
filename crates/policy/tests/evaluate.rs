//! Table-driven evaluation tests: one line per condition, control and semantic rule.
//! `check(policies, ctx, expect)` renders the decision and every policy's result
//! (`allow | p1:notApplied[users.excludeGroups]`).

// Table rows read best as `&[policy.clone()]`, the same shape as multi-policy rows.
#![allow(clippy::cloned_ref_to_slice_refs)]

mod common;

use common::*;
use mailward_policy::{
    Condition, Decision, Platform, PolicyResult, RiskLevel, SignInContext, UserFacts, what_if,
};
use mailward_types::model::{Amr, ClientAppType, Role, well_known};
use uuid::Uuid;

/// The default context with one edit.
fn c(f: impl FnOnce(&mut SignInContext)) -> SignInContext {
    let mut x = ctx();
    f(&mut x);
    x
}

/// The MFA-done context with one edit.
fn m(f: impl FnOnce(&mut SignInContext)) -> SignInContext {
    let mut x = mfa_ctx();
    f(&mut x);
    x
}

fn ip(s: &str) -> Option<std::net::IpAddr> {
    Some(s.parse().expect("ip"))
}

fn country(s: &str) -> Option<mailward_policy::CountryCode> {
    mailward_policy::CountryCode::parse(s)
}

fn role(r: Role) -> impl FnOnce(&mut SignInContext) {
    move |x| x.user.as_mut().expect("user").roles = vec![r]
}

fn guest(x: &mut SignInContext) {
    x.user.as_mut().expect("user").guest = true;
}

#[test]
fn users() {
    check(&[p("p1", "{}")], ctx(), "require(mfa) | p1:failure");
    check(&[p("p1", "{}")], mfa_ctx(), "allow | p1:success");
    let inc = |users: &str| p("p1", &format!(r#"{{"conditions":{{"users":{users}}}}}"#));
    check(
        &[inc(r#"{"includeUsers":["None"]}"#)],
        ctx(),
        "allow | p1:notApplied[users.includeUsers]",
    );
    check(
        &[inc(r#"{"includeUsers":["$USER"]}"#)],
        ctx(),
        "require(mfa) | p1:failure",
    );
    check(
        &[inc(r#"{"includeUsers":["$OTHER_USER"]}"#)],
        ctx(),
        "allow | p1:notApplied[users.includeUsers]",
    );
    check(
        &[inc(r#"{"excludeUsers":["$USER"]}"#)],
        ctx(),
        "allow | p1:notApplied[users.excludeUsers]",
    );
    check(
        &[inc(r#"{"excludeUsers":["$OTHER_USER"]}"#)],
        ctx(),
        "require(mfa) | p1:failure",
    );
    check(
        &[inc(r#"{"includeUsers":[],"includeGroups":["$G1"]}"#)],
        ctx(),
        "require(mfa) | p1:failure",
    );
    check(
        &[inc(r#"{"includeUsers":[],"includeGroups":["$G2"]}"#)],
        ctx(),
        "allow | p1:notApplied[users.includeGroups]",
    );
    check(
        &[inc(r#"{"excludeGroups":["$G1"]}"#)],
        ctx(),
        "allow | p1:notApplied[users.excludeGroups]",
    );
    check(
        &[inc(r#"{"excludeGroups":["$G2"]}"#)],
        ctx(),
        "require(mfa) | p1:failure",
    );
    // Exclusion beats inclusion, whichever list includes.
    check(
        &[inc(
            r#"{"includeUsers":["$USER"],"excludeUsers":["$USER"]}"#,
        )],
        ctx(),
        "allow | p1:notApplied[users.excludeUsers]",
    );
    check(
        &[inc(
            r#"{"includeUsers":[],"includeGroups":["$G1"],"excludeGroups":["$G1"]}"#,
        )],
        ctx(),
        "allow | p1:notApplied[users.excludeGroups]",
    );
    // Roles: template id or mailward name.
    let roles = |r: &str| inc(&format!(r#"{{"includeUsers":[],"includeRoles":["{r}"]}}"#));
    check(
        &[roles("$GA")],
        c(role(Role::GlobalAdministrator)),
        "require(mfa) | p1:failure",
    );
    check(
        &[roles("GlobalAdministrator")],
        c(role(Role::GlobalAdministrator)),
        "require(mfa) | p1:failure",
    );
    check(
        &[roles("$GA")],
        c(role(Role::GlobalReader)),
        "allow | p1:notApplied[users.includeRoles]",
    );
    check(
        &[roles("f2ef992c-3afb-46b9-b7cf-a126ee74c451")],
        c(role(Role::GlobalReader)),
        "require(mfa) | p1:failure",
    );
    check(
        &[roles("fe930be7-5e62-47db-91af-98c3a49a38b1")],
        c(role(Role::UserAdministrator)),
        "require(mfa) | p1:failure",
    );
    check(
        &[roles("$GA")],
        ctx(),
        "allow | p1:notApplied[users.includeRoles]",
    );
    check(
        &[inc(r#"{"excludeRoles":["$SECADMIN"]}"#)],
        c(role(Role::SecurityAdministrator)),
        "allow | p1:notApplied[users.excludeRoles]",
    );
    check(
        &[inc(r#"{"excludeRoles":["SecurityAdministrator"]}"#)],
        c(role(Role::GlobalReader)),
        "require(mfa) | p1:failure",
    );
    // Guests.
    check(
        &[inc(r#"{"includeUsers":["GuestsOrExternalUsers"]}"#)],
        c(guest),
        "require(mfa) | p1:failure",
    );
    check(
        &[inc(r#"{"includeUsers":["GuestsOrExternalUsers"]}"#)],
        ctx(),
        "allow | p1:notApplied[users.includeUsers]",
    );
    check(
        &[inc(r#"{"excludeUsers":["GuestsOrExternalUsers"]}"#)],
        c(guest),
        "allow | p1:notApplied[users.excludeUsers]",
    );
    // Unknown (well-formed) ids simply never match.
    check(
        &[inc(
            r#"{"includeUsers":[],"includeGroups":["99999999-9999-4999-8999-999999999999"]}"#,
        )],
        ctx(),
        "allow | p1:notApplied[users.includeGroups]",
    );
    check(
        &[inc(
            r#"{"includeUsers":[],"includeRoles":["9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3"]}"#,
        )],
        c(role(Role::GlobalAdministrator)),
        "allow | p1:notApplied[users.includeRoles]",
    );
    // Service principals: no user-scoped policy applies.
    check(
        &[p("p1", "{}")],
        c(|x| x.client_app_type = ClientAppType::ServicePrincipal),
        "allow | p1:notApplied[users]",
    );
    check(
        &[p(
            "p1",
            r#"{"grantControls":{"builtInControls":["block"]}}"#,
        )],
        c(|x| x.user = None),
        "allow | p1:notApplied[users]",
    );
}

#[test]
fn applications() {
    let apps = |a: &str| p("p1", &format!(r#"{{"conditions":{{"applications":{a}}}}}"#));
    check(
        &[apps(r#"{"includeApplications":["$EXO"]}"#)],
        ctx(),
        "require(mfa) | p1:failure",
    );
    check(
        &[apps(
            r#"{"includeApplications":["00000002-0000-0FF1-CE00-000000000000"]}"#,
        )],
        ctx(),
        "require(mfa) | p1:failure",
    );
    check(
        &[apps(r#"{"includeApplications":["$APP2"]}"#)],
        ctx(),
        "allow | p1:notApplied[applications.includeApplications]",
    );
    check(
        &[apps(r#"{"includeApplications":["Office365"]}"#)],
        ctx(),
        "require(mfa) | p1:failure",
    );
    check(
        &[apps(r#"{"includeApplications":["Office365"]}"#)],
        c(|x| x.app_id = well_known::MAIL_CLIENT_ID.into()),
        "require(mfa) | p1:failure",
    );
    check(
        &[apps(r#"{"includeApplications":["Office365"]}"#)],
        c(|x| x.app_id = APP2.into()),
        "allow | p1:notApplied[applications.includeApplications]",
    );
    check(
        &[apps(r#"{"excludeApplications":["Office365"]}"#)],
        ctx(),
        "allow | p1:notApplied[applications.excludeApplications]",
    );
    check(
        &[apps(r#"{"excludeApplications":["$EXO"]}"#)],
        ctx(),
        "allow | p1:notApplied[applications.excludeApplications]",
    );
    check(
        &[apps(r#"{"excludeApplications":["$APP2"]}"#)],
        ctx(),
        "require(mfa) | p1:failure",
    );
    // Non-GUID client ids are compared verbatim; unknown ids never match.
    check(
        &[apps(r#"{"includeApplications":["my-app.local"]}"#)],
        c(|x| x.app_id = "my-app.local".into()),
        "require(mfa) | p1:failure",
    );
    check(
        &[apps(
            r#"{"includeApplications":["99999999-9999-4999-8999-999999999999"]}"#,
        )],
        ctx(),
        "allow | p1:notApplied[applications.includeApplications]",
    );
    check(
        &[apps(r#"{"includeApplications":["MicrosoftAdminPortals"]}"#)],
        ctx(),
        "allow | p1:notApplied[applications.includeApplications]",
    );
}

#[test]
fn client_app_types() {
    use ClientAppType::*;
    let types = |t: &str| {
        p(
            "p1",
            &format!(r#"{{"conditions":{{"clientAppTypes":{t}}}}}"#),
        )
    };
    let kind = |k: ClientAppType| c(move |x| x.client_app_type = k);
    check(
        &[types(r#"["browser"]"#)],
        ctx(),
        "require(mfa) | p1:failure",
    );
    check(
        &[types(r#"["browser"]"#)],
        kind(MobileAppsAndDesktopClients),
        "allow | p1:notApplied[clientAppTypes]",
    );
    check(
        &[types(r#"["mobileAppsAndDesktopClients"]"#)],
        kind(MobileAppsAndDesktopClients),
        "require(mfa) | p1:failure",
    );
    check(
        &[types(r#"["mobileAppsAndDesktopClients","browser"]"#)],
        kind(Browser),
        "require(mfa) | p1:failure",
    );
    check(
        &[types(r#"["mobileAppsAndDesktopClients"]"#)],
        kind(Other),
        "allow | p1:notApplied[clientAppTypes]",
    );
    check(
        &[types(r#"["other"]"#)],
        kind(Other),
        "block(50076:p1) | p1:failure",
    );
    check(
        &[types(r#"["exchangeActiveSync"]"#)],
        kind(ExchangeActiveSync),
        "block(50076:p1) | p1:failure",
    );
    check(
        &[types(r#"["exchangeActiveSync"]"#)],
        kind(Other),
        "allow | p1:notApplied[clientAppTypes]",
    );
    let eas_on = |pl: Platform| {
        c(move |x| {
            x.client_app_type = ExchangeActiveSync;
            x.platform = Some(pl);
        })
    };
    check(
        &[types(r#"["easSupported"]"#)],
        eas_on(Platform::Android),
        "block(50076:p1) | p1:failure",
    );
    check(
        &[types(r#"["easSupported"]"#)],
        eas_on(Platform::IOS),
        "block(50076:p1) | p1:failure",
    );
    check(
        &[types(r#"["easSupported"]"#)],
        eas_on(Platform::Linux),
        "allow | p1:notApplied[clientAppTypes]",
    );
    check(
        &[types(r#"["easSupported"]"#)],
        kind(Browser),
        "allow | p1:notApplied[clientAppTypes]",
    );
    check(
        &[types(r#"["all"]"#)],
        kind(Other),
        "block(50076:p1) | p1:failure",
    );
    // Absent or empty means all.
    check(
        &[types("null")],
        kind(MobileAppsAndDesktopClients),
        "require(mfa) | p1:failure",
    );
    check(&[types("[]")], kind(Other), "block(50076:p1) | p1:failure");
}

#[test]
fn locations() {
    let loc = |l: &str| p("p1", &format!(r#"{{"conditions":{{"locations":{l}}}}}"#));
    let outside_trusted = loc(r#"{"includeLocations":["All"],"excludeLocations":["AllTrusted"]}"#);
    check(
        &[outside_trusted.clone()],
        ctx(),
        "require(mfa) | p1:failure",
    );
    check(
        &[outside_trusted.clone()],
        c(|x| x.ip = ip("10.1.2.3")),
        "allow | p1:notApplied[locations.excludeLocations]",
    );
    check(
        &[outside_trusted.clone()],
        c(|x| x.ip = ip("2001:db8::1")),
        "allow | p1:notApplied[locations.excludeLocations]",
    );
    check(
        &[outside_trusted.clone()],
        c(|x| x.ip = ip("::ffff:10.9.9.9")),
        "allow | p1:notApplied[locations.excludeLocations]",
    );
    check(
        &[outside_trusted.clone()],
        c(|x| x.ip = ip("192.0.2.7")),
        "require(mfa) | p1:failure",
    );
    check(
        &[outside_trusted],
        c(|x| x.ip = None),
        "require(mfa) | p1:failure",
    );
    check(
        &[loc(r#"{"includeLocations":["AllTrusted"]}"#)],
        c(|x| x.ip = ip("10.1.2.3")),
        "require(mfa) | p1:failure",
    );
    check(
        &[loc(r#"{"includeLocations":["AllTrusted"]}"#)],
        c(|x| x.ip = ip("192.0.2.7")),
        "allow | p1:notApplied[locations.includeLocations]",
    );
    check(
        &[loc(r#"{"includeLocations":["$LOC_VPN"]}"#)],
        c(|x| x.ip = ip("192.0.2.7")),
        "require(mfa) | p1:failure",
    );
    check(
        &[loc(r#"{"includeLocations":["$LOC_VPN"]}"#)],
        ctx(),
        "allow | p1:notApplied[locations.includeLocations]",
    );
    check(
        &[loc(
            r#"{"includeLocations":["All"],"excludeLocations":["$LOC_VPN"]}"#,
        )],
        c(|x| x.ip = ip("192.0.2.200")),
        "allow | p1:notApplied[locations.excludeLocations]",
    );
    // Countries, and unknown countries.
    check(
        &[loc(r#"{"includeLocations":["$LOC_COUNTRIES"]}"#)],
        c(|x| x.country = country("us")),
        "require(mfa) | p1:failure",
    );
    check(
        &[loc(r#"{"includeLocations":["$LOC_COUNTRIES"]}"#)],
        c(|x| x.country = country("FR")),
        "allow | p1:notApplied[locations.includeLocations]",
    );
    check(
        &[loc(r#"{"includeLocations":["$LOC_COUNTRIES"]}"#)],
        ctx(),
        "allow | p1:notApplied[locations.includeLocations]",
    );
    check(
        &[loc(r#"{"includeLocations":["$LOC_UNKNOWN"]}"#)],
        ctx(),
        "require(mfa) | p1:failure",
    );
    check(
        &[loc(r#"{"includeLocations":["$LOC_UNKNOWN"]}"#)],
        c(|x| x.country = country("FR")),
        "require(mfa) | p1:failure",
    );
    check(
        &[loc(r#"{"includeLocations":["$LOC_UNKNOWN"]}"#)],
        c(|x| x.country = country("DE")),
        "allow | p1:notApplied[locations.includeLocations]",
    );
    check(
        &[loc(
            r#"{"includeLocations":["All"],"excludeLocations":["$LOC_COUNTRIES"]}"#,
        )],
        c(|x| x.country = country("CA")),
        "allow | p1:notApplied[locations.excludeLocations]",
    );
}

#[test]
fn platforms() {
    let plat = |pl: &str| p("p1", &format!(r#"{{"conditions":{{"platforms":{pl}}}}}"#));
    let on = |pl: Option<Platform>| c(move |x| x.platform = pl);
    check(
        &[plat(r#"{"includePlatforms":["android"]}"#)],
        on(Some(Platform::Android)),
        "require(mfa) | p1:failure",
    );
    check(
        &[plat(r#"{"includePlatforms":["android"]}"#)],
        ctx(),
        "allow | p1:notApplied[platforms.includePlatforms]",
    );
    check(
        &[plat(r#"{"includePlatforms":["iOS","macOS"]}"#)],
        on(Some(Platform::MacOS)),
        "require(mfa) | p1:failure",
    );
    check(
        &[plat(r#"{"includePlatforms":["linux","windowsPhone"]}"#)],
        on(Some(Platform::WindowsPhone)),
        "require(mfa) | p1:failure",
    );
    check(
        &[plat(
            r#"{"includePlatforms":["all"],"excludePlatforms":["iOS"]}"#,
        )],
        on(Some(Platform::IOS)),
        "allow | p1:notApplied[platforms.excludePlatforms]",
    );
    check(
        &[plat(
            r#"{"includePlatforms":["all"],"excludePlatforms":["iOS"]}"#,
        )],
        on(Some(Platform::Linux)),
        "require(mfa) | p1:failure",
    );
    // Unknown platform: only `all` includes it; no exclusion matches it.
    check(
        &[plat(
            r#"{"includePlatforms":["all"],"excludePlatforms":["windows"]}"#,
        )],
        on(None),
        "require(mfa) | p1:failure",
    );
    check(
        &[plat(r#"{"includePlatforms":["windows"]}"#)],
        on(None),
        "allow | p1:notApplied[platforms.includePlatforms]",
    );
}

#[test]
fn risk_levels() {
    let risk = |k: &str, l: &str| p("p1", &format!(r#"{{"conditions":{{"{k}":{l}}}}}"#));
    check(
        &[risk("signInRiskLevels", r#"["high","medium"]"#)],
        ctx(),
        "allow | p1:notApplied[signInRiskLevels]",
    );
    check(
        &[risk("signInRiskLevels", r#"["high","medium"]"#)],
        c(|x| x.sign_in_risk = RiskLevel::High),
        "require(mfa) | p1:failure",
    );
    check(
        &[risk("signInRiskLevels", r#"["none"]"#)],
        ctx(),
        "require(mfa) | p1:failure",
    );
    check(
        &[risk("signInRiskLevels", "[]")],
        ctx(),
        "require(mfa) | p1:failure",
    );
    check(
        &[risk("userRiskLevels", r#"["high"]"#)],
        ctx(),
        "allow | p1:notApplied[userRiskLevels]",
    );
    check(
        &[risk("userRiskLevels", r#"["high"]"#)],
        c(|x| x.user_risk = RiskLevel::High),
        "require(mfa) | p1:failure",
    );
    check(
        &[risk("userRiskLevels", r#"["low"]"#)],
        c(|x| x.sign_in_risk = RiskLevel::Low),
        "allow | p1:notApplied[userRiskLevels]",
    );
}

#[test]
fn grant_controls() {
    let g = |ctl: &str| p("p1", &format!(r#"{{"grantControls":{ctl}}}"#));
    let block = g(r#"{"builtInControls":["block"]}"#);
    check(&[block.clone()], ctx(), "block(53003:p1) | p1:failure");
    check(&[block], mfa_ctx(), "block(53003:p1) | p1:failure");
    // OR: one satisfiable control is enough; unsatisfiable ones do not block.
    let mfa_or_device = g(r#"{"operator":"OR","builtInControls":["mfa","compliantDevice"]}"#);
    check(&[mfa_or_device.clone()], ctx(), "require(mfa) | p1:failure");
    check(&[mfa_or_device], mfa_ctx(), "allow | p1:success");
    // AND: an unsatisfiable control blocks.
    let mfa_and_device = g(r#"{"operator":"AND","builtInControls":["mfa","compliantDevice"]}"#);
    check(
        &[mfa_and_device.clone()],
        ctx(),
        "block(53003:p1) | p1:failure",
    );
    check(&[mfa_and_device], mfa_ctx(), "block(53003:p1) | p1:failure");
    for device in [
        "compliantDevice",
        "domainJoinedDevice",
        "approvedApplication",
        "compliantApplication",
    ] {
        check(
            &[g(&format!(r#"{{"builtInControls":["{device}"]}}"#))],
            mfa_ctx(),
            "block(53003:p1) | p1:failure",
        );
    }
    check(
        &[g(
            r#"{"operator":"OR","builtInControls":["compliantDevice","domainJoinedDevice"]}"#,
        )],
        mfa_ctx(),
        "block(53003:p1) | p1:failure",
    );
    // Authentication strengths.
    let strength = |id: &str| {
        g(&format!(
            r#"{{"builtInControls":[],"authenticationStrength":{{"id":"{id}"}}}}"#
        ))
    };
    let mfa_strength = strength("00000000-0000-0000-0000-000000000002");
    let phish = strength("00000000-0000-0000-0000-000000000004");
    check(&[mfa_strength.clone()], ctx(), "require(mfa) | p1:failure");
    check(&[mfa_strength], mfa_ctx(), "allow | p1:success");
    check(&[phish.clone()], ctx(), "require(mfa,phish) | p1:failure");
    check(
        &[phish.clone()],
        mfa_ctx(),
        "require(mfa,phish) | p1:failure",
    );
    check(
        &[phish.clone()],
        m(|x| x.amr = vec![Amr::Hwk, Amr::Mfa]),
        "allow | p1:success",
    );
    check(
        &[phish],
        c(|x| x.amr = vec![Amr::Hwk]),
        "allow | p1:success",
    );
    // Password change (with MFA under AND, as Graph requires).
    let pwd = g(r#"{"operator":"AND","builtInControls":["mfa","passwordChange"]}"#);
    check(&[pwd.clone()], ctx(), "require(mfa,pwd) | p1:failure");
    check(&[pwd.clone()], mfa_ctx(), "require(pwd) | p1:failure");
    check(
        &[pwd],
        m(|x| x.password_changed = true),
        "allow | p1:success",
    );
    // Session controls only: applies, nothing to satisfy.
    let session_only = p(
        "p1",
        r#"{"grantControls":null,"sessionControls":{"persistentBrowser":{"mode":"never","isEnabled":true}}}"#,
    );
    check(&[session_only], ctx(), "allow | p1:success");
    // An MFA done earlier in the session (mfa_time) counts.
    check(
        &[p("p1", "{}")],
        c(|x| x.mfa_time = Some(NOW - time::Duration::minutes(5))),
        "allow | p1:success",
    );
}

#[test]
fn legacy_clients_cannot_do_mfa() {
    use ClientAppType::*;
    let legacy = |k: ClientAppType| m(move |x| x.client_app_type = k);
    check(
        &[p("p1", "{}")],
        legacy(Other),
        "block(50076:p1) | p1:failure",
    );
    check(
        &[p("p1", "{}")],
        legacy(ExchangeActiveSync),
        "block(50076:p1) | p1:failure",
    );
    check(
        &[p(
            "p1",
            r#"{"grantControls":{"operator":"OR","builtInControls":["mfa","compliantDevice"]}}"#,
        )],
        legacy(Other),
        "block(50076:p1) | p1:failure",
    );
    check(
        &[p(
            "p1",
            r#"{"grantControls":{"builtInControls":[],"authenticationStrength":{"id":"00000000-0000-0000-0000-000000000002"}}}"#,
        )],
        legacy(Other),
        "block(50076:p1) | p1:failure",
    );
    // A `block` control makes it 53003.
    check(
        &[
            p("p1", "{}"),
            p("p2", r#"{"grantControls":{"builtInControls":["block"]}}"#),
        ],
        legacy(Other),
        "block(53003:p1,p2) | p1:failure p2:failure",
    );
    // Modern clients are prompted instead.
    check(
        &[p("p1", "{}")],
        c(|x| x.client_app_type = MobileAppsAndDesktopClients),
        "require(mfa) | p1:failure",
    );
}

#[test]
fn semantics() {
    let block = p("p2", r#"{"grantControls":{"builtInControls":["block"]}}"#);
    // Every applicable policy applies; block wins over a satisfied grant.
    check(
        &[p("p1", "{}"), block.clone()],
        mfa_ctx(),
        "block(53003:p2) | p1:success p2:failure",
    );
    check(
        &[p("p1", "{}"), block.clone()],
        ctx(),
        "block(53003:p2) | p1:failure p2:failure",
    );
    // Controls of several policies add up.
    let phish = p(
        "p2",
        r#"{"grantControls":{"builtInControls":[],"authenticationStrength":{"id":"00000000-0000-0000-0000-000000000004"}}}"#,
    );
    let pwd = p(
        "p3",
        r#"{"grantControls":{"operator":"AND","builtInControls":["mfa","passwordChange"]}}"#,
    );
    check(
        &[p("p1", "{}"), phish, pwd],
        ctx(),
        "require(mfa,phish,pwd) | p1:failure p2:failure p3:failure",
    );
    // A block that does not apply does not block.
    let block_vpn = p(
        "p2",
        r#"{"conditions":{"locations":{"includeLocations":["$LOC_VPN"]}},"grantControls":{"builtInControls":["block"]}}"#,
    );
    check(
        &[p("p1", "{}"), block_vpn.clone()],
        mfa_ctx(),
        "allow | p1:success p2:notApplied[locations.includeLocations]",
    );
    check(
        &[p("p1", "{}"), block_vpn],
        m(|x| x.ip = ip("192.0.2.1")),
        "block(53003:p2) | p1:success p2:failure",
    );
    // Disabled policies are reported and ignored.
    let disabled = p(
        "p3",
        r#"{"state":"disabled","grantControls":{"builtInControls":["block"]}}"#,
    );
    check(&[disabled.clone()], ctx(), "allow | p3:notEnabled");
    check(
        &[p("p1", "{}"), disabled],
        mfa_ctx(),
        "allow | p1:success p3:notEnabled",
    );
    // No policies: allow.
    check(&[], ctx(), "allow |");
}

#[test]
fn report_only_never_changes_the_outcome() {
    let ro = |id: &str, overlay: &str| {
        let mut pol = p(id, overlay);
        pol.state = mailward_policy::PolicyState::EnabledForReportingButNotEnforced.into();
        pol
    };
    let ro_block = ro("r1", r#"{"grantControls":{"builtInControls":["block"]}}"#);
    let ro_mfa = ro("r2", "{}");
    let ro_elsewhere = ro(
        "r3",
        r#"{"conditions":{"users":{"excludeGroups":["$G1"]}}}"#,
    );
    check(&[ro_block.clone()], ctx(), "allow | r1:reportOnlyFailure");
    check(&[ro_mfa.clone()], ctx(), "allow | r2:reportOnlyInterrupted");
    check(&[ro_mfa.clone()], mfa_ctx(), "allow | r2:reportOnlySuccess");
    check(
        &[ro_elsewhere.clone()],
        ctx(),
        "allow | r3:reportOnlyNotApplied[users.excludeGroups]",
    );
    check(
        &[ro_mfa.clone()],
        c(|x| x.client_app_type = ClientAppType::Other),
        "allow | r2:reportOnlyFailure",
    );
    check(
        &[p("p1", "{}"), ro_block.clone(), ro_mfa.clone()],
        ctx(),
        "require(mfa) | p1:failure r1:reportOnlyFailure r2:reportOnlyInterrupted",
    );
    check(
        &[p("p1", "{}"), ro_block, ro_mfa, ro_elsewhere],
        mfa_ctx(),
        "allow | p1:success r1:reportOnlyFailure r2:reportOnlySuccess r3:reportOnlyNotApplied[users.excludeGroups]",
    );
    // A report-only sign-in frequency is reported, not enforced.
    let ro_freq = ro(
        "r4",
        r#"{"grantControls":null,"sessionControls":{"signInFrequency":{"value":1,"type":"hours","isEnabled":true}}}"#,
    );
    check(
        &[ro_freq.clone()],
        c(|x| x.auth_time = Some(NOW - time::Duration::hours(3))),
        "allow | r4:reportOnlyInterrupted",
    );
    let set = compile(&[ro_freq]);
    assert_eq!(set.evaluate(&ctx(), NOW).session.sign_in_frequency, None);
}

#[test]
fn sign_in_frequency() {
    let freq = |f: &str| {
        p(
            "p1",
            &format!(r#"{{"grantControls":null,"sessionControls":{{"signInFrequency":{f}}}}}"#),
        )
    };
    let auth_ago = |mins: i64| c(move |x| x.auth_time = Some(NOW - time::Duration::minutes(mins)));
    let four_hours = freq(r#"{"value":4,"type":"hours","isEnabled":true}"#);
    check(&[four_hours.clone()], auth_ago(60), "allow | p1:success");
    check(
        &[four_hours.clone()],
        auth_ago(5 * 60),
        "require(reauth) | p1:failure",
    );
    check(
        &[four_hours.clone()],
        c(|x| x.auth_time = None),
        "allow | p1:success",
    );
    let one_day = freq(
        r#"{"value":1,"type":"days","authenticationType":"primaryAndSecondaryAuthentication","frequencyInterval":"timeBased","isEnabled":true}"#,
    );
    check(&[one_day.clone()], auth_ago(23 * 60), "allow | p1:success");
    check(
        &[one_day],
        auth_ago(25 * 60),
        "require(reauth) | p1:failure",
    );
    let every_time =
        freq(r#"{"value":null,"type":null,"frequencyInterval":"everyTime","isEnabled":true}"#);
    check(&[every_time.clone()], auth_ago(2), "allow | p1:success");
    check(&[every_time], auth_ago(10), "require(reauth) | p1:failure");
    let disabled = p(
        "p1",
        r#"{"sessionControls":{"signInFrequency":{"value":1,"type":"hours","isEnabled":false}}}"#,
    );
    check(
        &[disabled],
        m(|x| x.auth_time = Some(NOW - time::Duration::hours(9))),
        "allow | p1:success",
    );
    // A stale sign-in no longer satisfies MFA from another policy.
    check(
        &[p("p1", "{}"), four_hours.with_id("p2")],
        m(|x| x.auth_time = Some(NOW - time::Duration::hours(5))),
        "require(mfa,reauth) | p1:failure p2:failure",
    );
    check(
        &[p("p1", "{}"), four_hours.with_id("p2")],
        mfa_ctx(),
        "allow | p1:success p2:success",
    );
    // secondaryAuthentication: MFA must be fresh, the password need not be.
    let mfa_hourly = freq(
        r#"{"value":1,"type":"hours","authenticationType":"secondaryAuthentication","isEnabled":true}"#,
    );
    check(
        &[p("p1", "{}"), mfa_hourly.with_id("p2")],
        m(|x| x.mfa_time = Some(NOW - time::Duration::minutes(30))),
        "allow | p1:success p2:success",
    );
    check(
        &[p("p1", "{}"), mfa_hourly.with_id("p2")],
        m(|x| x.mfa_time = Some(NOW - time::Duration::minutes(90))),
        "require(mfa) | p1:failure p2:failure",
    );
    // Legacy clients send their password every time: never stale.
    check(
        &[four_hours],
        c(|x| {
            x.client_app_type = ClientAppType::Other;
            x.auth_time = Some(NOW - time::Duration::days(3));
        }),
        "allow | p1:success",
    );
}

trait WithId {
    fn with_id(&self, id: &str) -> Self;
}

impl WithId for mailward_policy::ConditionalAccessPolicy {
    fn with_id(&self, id: &str) -> Self {
        let mut p = self.clone();
        p.id = id.to_string().into();
        p
    }
}

#[test]
fn session_effect_takes_the_strictest() {
    let freq = |id: &str, v: u32, unit: &str, mode: &str| {
        p(
            id,
            &format!(
                r#"{{"grantControls":null,"sessionControls":{{"signInFrequency":{{"value":{v},"type":"{unit}","isEnabled":true}},"persistentBrowser":{{"mode":"{mode}","isEnabled":true}}}}}}"#
            ),
        )
    };
    let set = compile(&[
        freq("a", 8, "hours", "always"),
        freq("b", 4, "hours", "never"),
        freq("c", 1, "days", "always"),
    ]);
    let ev = set.evaluate(&ctx(), NOW);
    let f = ev.session.sign_in_frequency.expect("frequency");
    assert_eq!(f.max_age, time::Duration::hours(4));
    assert!(!f.every_time);
    assert_eq!(
        ev.session.persistent_browser,
        Some(mailward_policy::model::PersistentBrowserMode::Never)
    );
    assert_eq!(ev.session.mfa_frequency, None);
}

#[test]
fn what_if_lists_reasons_and_controls() {
    let set = compile(&[
        p(
            "mfa",
            r#"{"conditions":{"clientAppTypes":["mobileAppsAndDesktopClients"]}}"#,
        ),
        p(
            "ex",
            r#"{"conditions":{"users":{"excludeGroups":["$G1"]}}}"#,
        ),
        p(
            "block",
            r#"{"conditions":{"locations":{"includeLocations":["All"],"excludeLocations":["AllTrusted"]}},"grantControls":{"builtInControls":["block"]}}"#,
        ),
        p("off", r#"{"state":"disabled"}"#),
        p(
            "ro",
            r#"{"state":"enabledForReportingButNotEnforced","grantControls":{"operator":"OR","builtInControls":["mfa","compliantDevice"]}}"#,
        ),
    ]);
    let w = what_if(&set, &c(|x| x.ip = ip("10.0.0.5")), NOW);
    let applying: Vec<_> = w.applying.iter().map(|o| (o.id(), o.result)).collect();
    assert_eq!(applying, [("ro", PolicyResult::ReportOnlyInterrupted)]);
    let reasons: Vec<_> = w
        .not_applying
        .iter()
        .map(|o| (o.id(), o.not_applied))
        .collect();
    assert_eq!(
        reasons,
        [
            ("mfa", Some(Condition::ClientAppTypes)),
            ("ex", Some(Condition::UsersExcludeGroups)),
            ("block", Some(Condition::LocationsExcludeLocations)),
        ]
    );
    assert_eq!(w.decision, Decision::Allow);
    let ro = &w.applying[0];
    assert!(
        ro.grant_controls
            .contains(mailward_policy::GrantControl::CompliantDevice)
    );
    assert!(ro.required.contains(mailward_policy::GrantControl::Mfa));
    assert!(
        ro.unsatisfiable
            .contains(mailward_policy::GrantControl::CompliantDevice)
    );
}

#[test]
fn sign_in_log_records() {
    let set = compile(&[
        p(
            "p1",
            r#"{"displayName":"MFA or device","grantControls":{"operator":"OR","builtInControls":["mfa","compliantDevice"]},"sessionControls":{"signInFrequency":{"value":8,"type":"hours","isEnabled":true}}}"#,
        ),
        p(
            "p2",
            r#"{"conditions":{"users":{"excludeUsers":["$USER"]}}}"#,
        ),
    ]);
    let records = set.evaluate(&mfa_ctx(), NOW).records();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].id, "p1");
    assert_eq!(records[0].display_name, "MFA or device");
    assert_eq!(records[0].result, "success");
    assert_eq!(
        records[0].enforced_grant_controls,
        ["mfa", "compliantDevice (unsatisfiable)"]
    );
    assert_eq!(records[0].enforced_session_controls, ["signInFrequency"]);
    assert_eq!(records[1].result, "notApplied");
    assert!(records[1].enforced_grant_controls.is_empty());
}

#[test]
fn platform_from_user_agent() {
    use mailward_policy::platform_from_user_agent as ua;
    let cases = [
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
            Some(Platform::Windows),
        ),
        (
            "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17029; Pro)",
            Some(Platform::Windows),
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
            Some(Platform::MacOS),
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
            Some(Platform::IOS),
        ),
        (
            "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15",
            Some(Platform::IOS),
        ),
        ("iOS/17.0 (21A329) dataaccessd/1.0", Some(Platform::IOS)),
        (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/120.0 Mobile Safari/537.36",
            Some(Platform::Android),
        ),
        (
            "Mozilla/5.0 (Windows Phone 10.0; Android 6.0.1; Microsoft; Lumia 950) AppleWebKit/537.36 Edge/15.15063",
            Some(Platform::WindowsPhone),
        ),
        (
            "Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Thunderbird/115.5.0",
            Some(Platform::Linux),
        ),
        (
            "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
            Some(Platform::Linux),
        ),
        (
            "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36",
            None,
        ),
        ("curl/8.5.0", None),
        ("", None),
    ];
    for (agent, want) in cases {
        assert_eq!(ua(agent), want, "{agent}");
    }
}

#[test]
fn user_facts_of_member() {
    let id = Uuid::nil();
    let u = UserFacts::member(id);
    assert!(u.groups.is_empty() && u.roles.is_empty() && !u.guest);
}
