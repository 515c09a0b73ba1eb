//! Decision table for every protocol × flavour × method, and precedence between the
//! user's policy and the organization default.

use mailward_authpolicy::*;

fn name(s: &str) -> PolicyName {
    PolicyName::try_from(s).expect("a valid name")
}

/// Every switch off (a fresh `New-AuthenticationPolicy`).
fn all_off() -> AuthenticationPolicy {
    AuthenticationPolicy::new(name("Off"))
}

/// Every switch on.
fn all_on() -> AuthenticationPolicy {
    let mut p = AuthenticationPolicy::new(name("On"));
    for s in Switch::all() {
        p.set(s, true);
    }
    p
}

fn short(d: &Decision) -> &'static str {
    match d {
        Decision::Allow => "allow",
        Decision::Deny(_) => "DENY",
    }
}

/// One line per protocol, flavour and method: the decision with no policy, with every
/// switch off, with every switch on.
fn table() -> String {
    let (off, on) = (all_off(), all_on());
    let mut out = String::new();
    for protocol in Protocol::ALL {
        for (flavour, f) in [(Flavour::Cloud, "cloud"), (Flavour::OnPremises, "onprem")] {
            for (method, m) in [(Method::Basic, "basic"), (Method::Modern, "modern")] {
                let none = decide(None, None, flavour, protocol, method);
                let d_off = decide(None, Some(&off), flavour, protocol, method);
                let d_on = decide(None, Some(&on), flavour, protocol, method);
                out.push_str(&format!(
                    "{:<21}{f:<7}{m:<7} none={:<6}off={:<6}on={}\n",
                    protocol.name(),
                    short(&none),
                    short(&d_off),
                    short(&d_on)
                ));
            }
        }
    }
    out
}

#[test]
fn decision_table() {
    let expected = "\
ActiveSync           cloud  basic   none=allow off=DENY  on=allow
ActiveSync           cloud  modern  none=allow off=allow on=allow
ActiveSync           onprem basic   none=allow off=allow on=DENY
ActiveSync           onprem modern  none=allow off=allow on=DENY
Autodiscover         cloud  basic   none=allow off=DENY  on=allow
Autodiscover         cloud  modern  none=allow off=allow on=allow
Autodiscover         onprem basic   none=allow off=allow on=DENY
Autodiscover         onprem modern  none=allow off=allow on=DENY
Imap                 cloud  basic   none=allow off=DENY  on=allow
Imap                 cloud  modern  none=allow off=allow on=allow
Imap                 onprem basic   none=allow off=allow on=DENY
Imap                 onprem modern  none=allow off=allow on=DENY
Mapi                 cloud  basic   none=allow off=DENY  on=allow
Mapi                 cloud  modern  none=allow off=allow on=allow
Mapi                 onprem basic   none=allow off=allow on=DENY
Mapi                 onprem modern  none=allow off=allow on=DENY
OfflineAddressBook   cloud  basic   none=allow off=DENY  on=allow
OfflineAddressBook   cloud  modern  none=allow off=allow on=allow
OfflineAddressBook   onprem basic   none=allow off=allow on=DENY
OfflineAddressBook   onprem modern  none=allow off=allow on=DENY
OutlookService       cloud  basic   none=allow off=DENY  on=allow
OutlookService       cloud  modern  none=allow off=allow on=allow
OutlookService       onprem basic   none=allow off=allow on=allow
OutlookService       onprem modern  none=allow off=allow on=allow
Pop                  cloud  basic   none=allow off=DENY  on=allow
Pop                  cloud  modern  none=allow off=allow on=allow
Pop                  onprem basic   none=allow off=allow on=DENY
Pop                  onprem modern  none=allow off=allow on=DENY
PowerShell           cloud  basic   none=allow off=DENY  on=allow
PowerShell           cloud  modern  none=allow off=allow on=allow
PowerShell           onprem basic   none=allow off=allow on=allow
PowerShell           onprem modern  none=allow off=allow on=allow
ReportingWebServices cloud  basic   none=allow off=DENY  on=allow
ReportingWebServices cloud  modern  none=allow off=allow on=allow
ReportingWebServices onprem basic   none=allow off=allow on=allow
ReportingWebServices onprem modern  none=allow off=allow on=allow
Rest                 cloud  basic   none=allow off=DENY  on=allow
Rest                 cloud  modern  none=allow off=allow on=allow
Rest                 onprem basic   none=allow off=allow on=allow
Rest                 onprem modern  none=allow off=allow on=allow
Rpc                  cloud  basic   none=allow off=DENY  on=allow
Rpc                  cloud  modern  none=allow off=allow on=allow
Rpc                  onprem basic   none=allow off=allow on=DENY
Rpc                  onprem modern  none=allow off=allow on=DENY
Smtp                 cloud  basic   none=allow off=DENY  on=allow
Smtp                 cloud  modern  none=allow off=allow on=allow
Smtp                 onprem basic   none=allow off=allow on=allow
Smtp                 onprem modern  none=allow off=allow on=allow
WebServices          cloud  basic   none=allow off=DENY  on=allow
WebServices          cloud  modern  none=allow off=allow on=allow
WebServices          onprem basic   none=allow off=allow on=DENY
WebServices          onprem modern  none=allow off=allow on=DENY
";
    let actual = table();
    if actual != expected {
        panic!("decision table changed:\n{actual}");
    }
}

#[test]
fn block_all_basic_blocks_basic_where_a_switch_exists_and_never_modern() {
    let p = AuthenticationPolicy::block_all_basic(name("Block Basic Auth"));
    for protocol in Protocol::ALL {
        let cloud = decide(None, Some(&p), Flavour::Cloud, protocol, Method::Basic);
        assert!(!cloud.is_allowed(), "{protocol}");
        let onprem = decide(None, Some(&p), Flavour::OnPremises, protocol, Method::Basic);
        assert_eq!(
            onprem.is_allowed(),
            !protocol.has_on_premises_switches(),
            "{protocol}"
        );
        for flavour in [Flavour::Cloud, Flavour::OnPremises] {
            assert!(decide(None, Some(&p), flavour, protocol, Method::Modern).is_allowed());
        }
    }
}

#[test]
fn user_policy_replaces_the_default_entirely() {
    // Default allows IMAP and POP basic; the user's policy allows only SMTP.
    let mut default = AuthenticationPolicy::new(name("Default"));
    default
        .set_protocols(
            SwitchKind::AllowBasicAuth,
            parse_protocol_list("imap,pop").unwrap(),
        )
        .unwrap();
    let mut user = AuthenticationPolicy::new(name("Smtp only"));
    user.set(
        Switch::new(SwitchKind::AllowBasicAuth, Protocol::Smtp).unwrap(),
        true,
    );

    let d = |u: Option<&AuthenticationPolicy>, p| {
        decide(u, Some(&default), Flavour::Cloud, p, Method::Basic)
    };
    // Without a user policy the default decides.
    assert!(d(None, Protocol::Imap).is_allowed());
    assert!(d(None, Protocol::Pop).is_allowed());
    assert!(!d(None, Protocol::Smtp).is_allowed());
    // With one, nothing of the default is left: IMAP is no longer allowed.
    assert!(!d(Some(&user), Protocol::Imap).is_allowed());
    assert!(!d(Some(&user), Protocol::Pop).is_allowed());
    assert!(d(Some(&user), Protocol::Smtp).is_allowed());

    // An empty user policy blocks everything even if the default allows it.
    let empty = AuthenticationPolicy::new(name("Nothing"));
    let Decision::Deny(reason) = d(Some(&empty), Protocol::Imap) else {
        panic!("expected a denial");
    };
    assert_eq!(reason.policy.as_str(), "Nothing");
    assert_eq!(reason.assignment, Assignment::User);

    // On-premises: the user's empty policy unblocks what the default blocks.
    let blocking = AuthenticationPolicy::block_all_basic(name("Block"));
    let od = decide(
        Some(&empty),
        Some(&blocking),
        Flavour::OnPremises,
        Protocol::Imap,
        Method::Basic,
    );
    assert!(od.is_allowed());
    let od = decide(
        None,
        Some(&blocking),
        Flavour::OnPremises,
        Protocol::Imap,
        Method::Basic,
    );
    assert!(!od.is_allowed());
}

#[test]
fn reasons_name_policy_assignment_and_switch() {
    let default = AuthenticationPolicy::block_all_basic(name("Block Basic Auth"));
    let cases = [
        (
            Flavour::Cloud,
            Method::Basic,
            "AUTHPOLICY_BASIC_NOT_ALLOWED: authentication policy \"Block Basic Auth\" \
             (organization default): AllowBasicAuthImap is off",
        ),
        (
            Flavour::OnPremises,
            Method::Basic,
            "AUTHPOLICY_LEGACY_BLOCKED: authentication policy \"Block Basic Auth\" \
             (organization default): BlockLegacyAuthImap is on",
        ),
    ];
    for (flavour, method, text) in cases {
        let Decision::Deny(r) = decide(None, Some(&default), flavour, Protocol::Imap, method)
        else {
            panic!("expected a denial");
        };
        assert_eq!(r.to_string(), text);
        assert_eq!(r.assignment, Assignment::OrganizationDefault);
    }
    let mut user = AuthenticationPolicy::new(name("No OAuth"));
    user.set(
        Switch::new(SwitchKind::BlockModernAuth, Protocol::Pop).unwrap(),
        true,
    );
    let Decision::Deny(r) = decide(
        Some(&user),
        Some(&default),
        Flavour::OnPremises,
        Protocol::Pop,
        Method::Modern,
    ) else {
        panic!("expected a denial");
    };
    assert_eq!(r.code(), "AUTHPOLICY_MODERN_BLOCKED");
    assert_eq!(r.switch.name(), "BlockModernAuthPop");
    assert_eq!(r.assignment, Assignment::User);
}

#[test]
fn effective_policy() {
    let a = AuthenticationPolicy::new(name("A"));
    let b = AuthenticationPolicy::new(name("B"));
    assert!(effective(None, None).is_none());
    assert_eq!(
        effective(None, Some(&b)).unwrap().1,
        Assignment::OrganizationDefault
    );
    let (p, how) = effective(Some(&a), Some(&b)).unwrap();
    assert_eq!((p.name().as_str(), how), ("A", Assignment::User));
}
