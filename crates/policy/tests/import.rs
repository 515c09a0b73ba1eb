//! Import/export: Graph documentation-style fixtures round-trip equal as JSON; every
//! unsupported feature and every Graph rule violation is refused naming the member.

mod common;

use common::*;
use mailward_policy::{
    Config, ErrorKind, PolicySet, export_named_location, export_policy, import_named_location,
    import_named_location_list, import_policy, import_policy_list,
};
use serde_json::{Value, json};

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

const POLICY_FIXTURES: [&str; 5] = [
    "require-mfa-all-users.json",
    "block-legacy-authentication.json",
    "exo-mfa-outside-trusted.json",
    "report-only-block-untrusted-countries.json",
    "admins-sign-in-frequency.json",
];

#[test]
fn policy_fixtures_round_trip() {
    for name in POLICY_FIXTURES {
        let text = fixture(name);
        let policy = import_policy(text.as_bytes()).unwrap_or_else(|e| panic!("{name}: {e}"));
        let exported = export_policy(&policy);
        let original: Value = serde_json::from_str(&text).expect("fixture is JSON");
        let back: Value = serde_json::from_str(&exported).expect("export is JSON");
        assert_eq!(original, back, "{name}");
        // And the export imports to the same model.
        assert_eq!(
            import_policy(exported.as_bytes()).expect("re-import"),
            policy,
            "{name}"
        );
    }
}

#[test]
fn export_keeps_graph_key_order() {
    let policy = import_policy(fixture("require-mfa-all-users.json").as_bytes()).expect("import");
    let out = export_policy(&policy);
    let keys = [
        "\"@odata.context\"",
        "\"id\"",
        "\"templateId\"",
        "\"displayName\"",
        "\"createdDateTime\"",
        "\"modifiedDateTime\"",
        "\"state\"",
        "\"sessionControls\"",
        "\"conditions\"",
        "\"grantControls\"",
    ];
    let positions: Vec<usize> = keys.iter().map(|k| out.find(k).expect(k)).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{out}");
    assert!(out.contains("\"devices\":null"), "nulls are kept: {out}");
}

#[test]
fn named_location_fixtures_round_trip() {
    for name in ["named-location-ip.json", "named-location-country.json"] {
        let text = fixture(name);
        let loc = import_named_location(text.as_bytes()).unwrap_or_else(|e| panic!("{name}: {e}"));
        let original: Value = serde_json::from_str(&text).expect("json");
        let back: Value = serde_json::from_str(&export_named_location(&loc)).expect("json");
        assert_eq!(original, back, "{name}");
    }
}

#[test]
fn fixtures_compile_together_and_evaluate() {
    let policies =
        import_policy_list(format!("[{}]", POLICY_FIXTURES.map(fixture).join(",")).as_bytes())
            .expect("list");
    let locations = import_named_location_list(
        format!(
            r#"{{"@odata.context":"x","value":[{},{}]}}"#,
            fixture("named-location-ip.json"),
            fixture("named-location-country.json")
        )
        .as_bytes(),
    )
    .expect("locations");
    let set = PolicySet::compile(&policies, &locations, &config()).expect("compile");
    assert_eq!(set.len(), 5);
    // A legacy client: blocked by "Block legacy authentication".
    let legacy = mailward_policy::SignInContext {
        client_app_type: mailward_types::model::ClientAppType::Other,
        ..mfa_ctx()
    };
    let ev = set.evaluate(&legacy, NOW);
    assert_eq!(
        ev.decision,
        mailward_policy::Decision::Block {
            // "Require MFA" blocks a legacy client too (it cannot do MFA).
            policies: vec![
                "3c1b1f3e-4f3a-4a59-9b1c-0d5e2b8f6a11".into(),
                "a7f0c3d2-1b2c-4d5e-8f90-1a2b3c4d5e6f".into()
            ],
            code: mailward_types::ErrorCode::BlockedByPolicy
        }
    );
    // An unknown location reference is refused at compile time.
    let err =
        PolicySet::compile(&policies, &locations[..1], &config()).expect_err("missing location");
    assert!(
        err.has_path("policies[3].conditions.locations.includeLocations[0]"),
        "{err}"
    );
    assert_eq!(err.errors[0].kind, ErrorKind::UnknownReference);
}

/// Merges `overlay` into a valid policy and returns the import errors as `path: message`.
fn reject(overlay: Value) -> Vec<String> {
    let mut v = base_policy("p1");
    merge(&mut v, overlay);
    match import_policy(v.to_string().as_bytes()) {
        Ok(_) => vec!["<accepted>".to_string()],
        Err(e) => e.errors.iter().map(ToString::to_string).collect(),
    }
}

#[track_caller]
fn check_reject(overlay: Value, expect: &str) {
    let errors = reject(overlay.clone());
    assert!(
        errors.iter().any(|e| e.starts_with(expect)),
        "overlay {overlay}\n  want {expect}\n  got {errors:?}"
    );
}

#[test]
fn unsupported_features_are_refused_by_name() {
    let cases = [
        (
            json!({"conditions": {"devices": {"includeDevices": [], "deviceFilter": {"mode": "include", "rule": "device.isCompliant -eq True"}}}}),
            "conditions.devices.deviceFilter: not supported",
        ),
        (
            json!({"conditions": {"applications": {"applicationFilter": {"mode": "include", "rule": "CustomSecurityAttribute.x -eq \"y\""}}}}),
            "conditions.applications.applicationFilter: not supported",
        ),
        (
            json!({"conditions": {"applications": {"includeAuthenticationContextClassReferences": ["c1"]}}}),
            "conditions.applications.includeAuthenticationContextClassReferences: not supported",
        ),
        (
            json!({"conditions": {"applications": {"includeUserActions": ["urn:user:registersecurityinfo"]}}}),
            "conditions.applications.includeUserActions: not supported",
        ),
        (
            json!({"conditions": {"insiderRiskLevels": "elevated"}}),
            "conditions.insiderRiskLevels: not supported",
        ),
        (
            json!({"conditions": {"servicePrincipalRiskLevels": ["high"]}}),
            "conditions.servicePrincipalRiskLevels: not supported",
        ),
        (
            json!({"conditions": {"clientApplications": {"includeServicePrincipals": ["All"]}}}),
            "conditions.clientApplications: not supported",
        ),
        (
            json!({"conditions": {"deviceStates": {"includeStates": ["All"], "excludeStates": ["Compliant"]}}}),
            "conditions.deviceStates.includeStates: not supported",
        ),
        (
            json!({"conditions": {"authenticationFlows": {"transferMethods": "deviceCodeFlow"}}}),
            "conditions.authenticationFlows: not supported",
        ),
        (
            json!({"conditions": {"users": {"includeGuestsOrExternalUsers": {"guestOrExternalUserTypes": "b2bCollaborationGuest"}}}}),
            "conditions.users.includeGuestsOrExternalUsers: not supported",
        ),
        (
            json!({"conditions": {"signInRiskLevels": ["hidden"]}}),
            "conditions.signInRiskLevels[0]: `hidden` not supported",
        ),
        (
            json!({"conditions": {"clientAppTypes": ["easUnsupported"]}}),
            "conditions.clientAppTypes[0]: `easUnsupported` not supported",
        ),
        (
            json!({"conditions": {"platforms": {"includePlatforms": ["unknownFutureValue"]}}}),
            "conditions.platforms.includePlatforms[0]: `unknownFutureValue` not supported",
        ),
        (
            json!({"grantControls": {"termsOfUse": ["ce580154-086a-40fd-91df-8a60abac81a0"]}}),
            "grantControls.termsOfUse: not supported",
        ),
        (
            json!({"grantControls": {"customAuthenticationFactors": ["duo"]}}),
            "grantControls.customAuthenticationFactors: not supported",
        ),
        (
            json!({"grantControls": {"builtInControls": ["riskRemediation"]}}),
            "grantControls.builtInControls[0]: `riskRemediation` not supported",
        ),
        (
            json!({"grantControls": {"builtInControls": [], "authenticationStrength": {"id": "4d2a5c9e-0000-4000-8000-000000000000"}}}),
            "grantControls.authenticationStrength.id: not supported",
        ),
        (
            json!({"sessionControls": {"cloudAppSecurity": {"cloudAppSecurityType": "blockDownloads", "isEnabled": true}}}),
            "sessionControls.cloudAppSecurity: not supported",
        ),
        (
            json!({"sessionControls": {"applicationEnforcedRestrictions": {"isEnabled": true}}}),
            "sessionControls.applicationEnforcedRestrictions: not supported",
        ),
        (
            json!({"sessionControls": {"disableResilienceDefaults": true}}),
            "sessionControls.disableResilienceDefaults: not supported",
        ),
        (
            json!({"sessionControls": {"continuousAccessEvaluation": {"mode": "strictLocation"}}}),
            "sessionControls.continuousAccessEvaluation: not supported",
        ),
        (
            json!({"sessionControls": {"signInFrequency": {"value": 1, "type": "hours", "authenticationType": "unknownFutureValue", "isEnabled": true}}}),
            "sessionControls.signInFrequency.authenticationType: `unknownFutureValue` not supported",
        ),
        (
            json!({"partialEnablementStrategy": {"mode": "x"}}),
            "partialEnablementStrategy: not supported",
        ),
    ];
    for (overlay, expect) in cases {
        check_reject(overlay, expect);
    }
}

#[test]
fn inert_unsupported_members_are_accepted() {
    let ok = [
        json!({"conditions": {"devices": {"includeDevices": [], "excludeDevices": [], "deviceFilter": null}}}),
        json!({"sessionControls": {"cloudAppSecurity": {"cloudAppSecurityType": "blockDownloads", "isEnabled": false}, "disableResilienceDefaults": false}}),
        json!({"conditions": {"insiderRiskLevels": null, "servicePrincipalRiskLevels": []}}),
        json!({"grantControls": {"termsOfUse": [], "customAuthenticationFactors": [], "authenticationStrength": null}}),
    ];
    for overlay in ok {
        assert_eq!(reject(overlay.clone()), ["<accepted>"], "{overlay}");
    }
}

#[test]
fn graph_rules_are_enforced() {
    let cases = [
        (json!({"state": "on"}), "state: unknown variant `on`"),
        (json!({"state": null}), "state: required"),
        (
            json!({"grantControls": {"operator": "XOR"}}),
            "grantControls.operator: unknown variant `XOR`",
        ),
        (
            json!({"grantControls": {"operator": null}}),
            "grantControls.operator: required",
        ),
        (
            json!({"grantControls": {"builtInControls": ["block", "mfa"]}}),
            "grantControls.builtInControls: `block` cannot be combined",
        ),
        (
            json!({"grantControls": {"operator": "OR", "builtInControls": ["mfa", "passwordChange"]}}),
            "grantControls.builtInControls: `passwordChange` requires `mfa` with operator `AND`",
        ),
        (
            json!({"grantControls": {"operator": "AND", "builtInControls": ["passwordChange"]}}),
            "grantControls.builtInControls: `passwordChange` requires",
        ),
        (
            json!({"grantControls": {"builtInControls": ["mfa"], "authenticationStrength": {"id": "00000000-0000-0000-0000-000000000002"}}}),
            "grantControls.authenticationStrength: cannot be combined with `mfa`",
        ),
        (
            json!({"grantControls": {"builtInControls": []}}),
            "grantControls: at least one grant control or session control is required",
        ),
        (
            json!({"grantControls": null, "sessionControls": {"signInFrequency": {"value": 1, "type": "hours", "isEnabled": false}}}),
            "grantControls: at least one",
        ),
        (
            json!({"sessionControls": {"signInFrequency": {"value": 30, "type": "hours", "isEnabled": true}}}),
            "sessionControls.signInFrequency.value: must be between 1 and 23",
        ),
        (
            json!({"sessionControls": {"signInFrequency": {"value": 4, "isEnabled": true}}}),
            "sessionControls.signInFrequency.type: required",
        ),
        (
            json!({"sessionControls": {"signInFrequency": {"value": 4, "type": "hours", "frequencyInterval": "everyTime", "isEnabled": true}}}),
            "sessionControls.signInFrequency.value: `value` and `type` must be null",
        ),
        (
            json!({"sessionControls": {"persistentBrowser": {"isEnabled": true}}}),
            "sessionControls.persistentBrowser.mode: required",
        ),
        (json!({"displayName": ""}), "displayName: required"),
        (json!({"id": null}), "id: must not be null"),
        (
            json!({"createdDateTime": "yesterday"}),
            "createdDateTime: `yesterday` is not an ISO 8601 date-time",
        ),
        (
            json!({"@odata.type": "#microsoft.graph.somethingElse"}),
            "@odata.type: expected",
        ),
        (
            json!({"conditions": {"users": {"includeUsers": []}}}),
            "conditions.users.includeUsers: required",
        ),
        (
            json!({"conditions": {"users": {"includeUsers": ["alice@contoso.com"]}}}),
            "conditions.users.includeUsers[0]: `alice@contoso.com` is not a user id",
        ),
        (
            json!({"conditions": {"users": {"excludeUsers": ["All"]}}}),
            "conditions.users.excludeUsers[0]",
        ),
        (
            json!({"conditions": {"users": {"includeGroups": ["admins"]}}}),
            "conditions.users.includeGroups[0]: `admins` is not a group id",
        ),
        (
            json!({"conditions": {"users": {"includeRoles": ["Janitor"]}}}),
            "conditions.users.includeRoles[0]",
        ),
        (
            json!({"conditions": {"users": null}}),
            "conditions.users: required",
        ),
        (
            json!({"conditions": {"applications": {"includeApplications": []}}}),
            "conditions.applications.includeApplications: required",
        ),
        (
            json!({"conditions": {"applications": {"excludeApplications": ["All"]}}}),
            "conditions.applications.excludeApplications[0]: `All` cannot be excluded",
        ),
        (
            json!({"conditions": {"applications": {"includeApplications": ["has space"]}}}),
            "conditions.applications.includeApplications[0]",
        ),
        (
            json!({"conditions": {"locations": {"includeLocations": [], "excludeLocations": ["AllTrusted"]}}}),
            "conditions.locations.includeLocations: required",
        ),
        (
            json!({"conditions": {"locations": {"includeLocations": ["All"], "excludeLocations": ["All"]}}}),
            "conditions.locations.excludeLocations[0]: `All` cannot be excluded",
        ),
        (
            json!({"conditions": {"platforms": {"excludePlatforms": ["iOS"]}}}),
            "conditions.platforms.includePlatforms: required",
        ),
        (
            json!({"conditions": {"platforms": {"includePlatforms": ["all"], "excludePlatforms": ["all"]}}}),
            "conditions.platforms.excludePlatforms[0]: `all` cannot be excluded",
        ),
        (
            json!({"conditions": {"platforms": {"includePlatforms": ["ios"]}}}),
            "conditions.platforms.includePlatforms[0]: unknown variant `ios`",
        ),
        (
            json!({"conditions": {"users": {"includeUsers": ["All"], "colour": "blue"}}}),
            "conditions.users.colour: unknown field `colour`",
        ),
        (
            json!({"conditions": {"clientAppTypes": "browser"}}),
            "conditions.clientAppTypes: invalid type",
        ),
        (
            json!({"somethingNew": 1}),
            "somethingNew: unknown field `somethingNew`",
        ),
    ];
    for (overlay, expect) in cases {
        check_reject(overlay, expect);
    }
}

#[test]
fn all_problems_are_reported_at_once() {
    let text = fixture("graph-demo-unsupported.json");
    let err = import_policy(text.as_bytes()).expect_err("unsupported");
    let paths: Vec<&str> = err.errors.iter().map(|e| e.path.as_str()).collect();
    for want in [
        "conditions.deviceStates.includeStates",
        "grantControls.termsOfUse",
        "sessionControls.cloudAppSecurity",
    ] {
        assert!(paths.contains(&want), "{want} in {paths:?}");
    }
    assert!(
        err.errors.iter().all(|e| e.kind == ErrorKind::Unsupported),
        "{err}"
    );
}

#[test]
fn syntax_errors() {
    for (bad, path) in [
        (&b"not json"[..], ""),
        (b"{\"displayName\": 5}", "displayName"),
        (b"{} trailing", ""),
        (b"[]", ""),
        (b"{\"displayName\":\"x\",\"state\":\"enabled\",\"conditions\":{\"users\":[[\"All\"]],\"applications\":{\"includeApplications\":[\"All\"]}},\"grantControls\":{\"operator\":\"OR\",\"builtInControls\":[\"mfa\"]}}", "conditions.users"),
    ] {
        let err = import_policy(bad).expect_err("bad");
        assert_eq!(err.errors[0].path, path, "{}", String::from_utf8_lossy(bad));
        assert_eq!(err.errors[0].kind.code(), "CA_SYNTAX");
    }
}

fn reject_location(v: Value) -> Vec<String> {
    match import_named_location(v.to_string().as_bytes()) {
        Ok(_) => vec!["<accepted>".into()],
        Err(e) => e.errors.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn named_location_rules() {
    let ip = |ranges: Value| json!({"@odata.type": "#microsoft.graph.ipNamedLocation", "displayName": "x", "ipRanges": ranges});
    let cases = [
        (
            ip(
                json!([{"@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": "10.0.0.0/33"}]),
            ),
            "ipRanges[0].cidrAddress: `10.0.0.0/33` is not a CIDR range",
        ),
        (
            ip(
                json!([{"@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": "10.0.0.1"}]),
            ),
            "ipRanges[0].cidrAddress",
        ),
        (
            ip(
                json!([{"@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": "2001:db8::/32"}]),
            ),
            "ipRanges[0].@odata.type: `#microsoft.graph.iPv4CidrRange` does not match",
        ),
        (
            ip(json!([{"@odata.type": "#microsoft.graph.iPv6CidrRange"}])),
            "ipRanges[0].cidrAddress: required",
        ),
        (ip(json!([])), "ipRanges: required"),
        (
            json!({"@odata.type": "#microsoft.graph.countryNamedLocation", "displayName": "x", "countriesAndRegions": ["USA"]}),
            "countriesAndRegions[0]: `USA` is not an ISO 3166-1 alpha-2 code",
        ),
        (
            json!({"@odata.type": "#microsoft.graph.countryNamedLocation", "displayName": "x", "countriesAndRegions": ["US"], "countryLookupMethod": "authenticatorAppGps"}),
            "countryLookupMethod: not supported",
        ),
        (
            json!({"@odata.type": "#microsoft.graph.countryNamedLocation", "displayName": "x", "countriesAndRegions": ["US"], "isTrusted": true}),
            "isTrusted: not allowed on a countryNamedLocation",
        ),
        (
            json!({"@odata.type": "#microsoft.graph.countryNamedLocation", "displayName": "x"}),
            "countriesAndRegions: required",
        ),
        (
            json!({"@odata.type": "#microsoft.graph.compliantNetworkNamedLocation", "displayName": "x"}),
            "@odata.type: `#microsoft.graph.compliantNetworkNamedLocation` not supported",
        ),
        (
            json!({"displayName": "x", "ipRanges": []}),
            "@odata.type: required",
        ),
        (
            json!({"@odata.type": "#microsoft.graph.ipNamedLocation", "displayName": "x", "ipRanges": [{"cidrAddress": "10.0.0.0/8"}], "countriesAndRegions": []}),
            "countriesAndRegions: not allowed on an ipNamedLocation",
        ),
    ];
    for (v, expect) in cases {
        let got = reject_location(v.clone());
        assert!(
            got.iter().any(|e| e.starts_with(expect)),
            "{v}\n  want {expect}\n  got {got:?}"
        );
    }
}

#[test]
fn compile_checks_ids() {
    let a = p("same", "{}");
    let b = p("SAME", "{}");
    let err = PolicySet::compile(&[a, b], &[], &Config::default()).expect_err("duplicate");
    assert_eq!(err.errors[0].path, "policies[1].id");
    assert_eq!(err.errors[0].kind, ErrorKind::Duplicate);

    let mut no_id = p("x", "{}");
    no_id.id = mailward_policy::Prop::Absent;
    let err = PolicySet::compile(&[no_id], &[], &Config::default()).expect_err("no id");
    assert_eq!(err.to_string(), "policies[0].id: required");

    let locs = named_locations();
    let dup = [locs[0].clone(), locs[0].clone()];
    let err = PolicySet::compile(&[], &dup, &Config::default()).expect_err("dup loc");
    assert_eq!(err.errors[0].path, "namedLocations[1].id");

    let unknown = p(
        "u",
        r#"{"conditions":{"locations":{"includeLocations":["All"],"excludeLocations":["99999999-9999-4999-8999-999999999999"]}}}"#,
    );
    let err = PolicySet::compile(&[unknown], &locs, &Config::default()).expect_err("unknown loc");
    assert_eq!(
        err.to_string(),
        "policies[0].conditions.locations.excludeLocations[0]: unknown named location `99999999-9999-4999-8999-999999999999`"
    );
}
