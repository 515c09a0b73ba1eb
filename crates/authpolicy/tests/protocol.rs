//! Protocol names, the CLI list syntax, and switch names.

use mailward_authpolicy::*;

fn check_list(input: &str, expected: &str) {
    let got = parse_protocol_list(input).expect("a valid list");
    assert_eq!(got.to_string(), expected, "{input:?}");
    // What Display prints reads back.
    assert_eq!(parse_protocol_list(&got.to_string()).ok(), Some(got));
}

#[test]
fn protocol_lists() {
    check_list("imap,smtp,pop", "Imap,Pop,Smtp");
    check_list("IMAP4, Pop3 ,SMTP", "Imap,Pop,Smtp");
    check_list("ews,eas,oab", "ActiveSync,OfflineAddressBook,WebServices");
    check_list(
        "webservices,ActiveSync,OfflineAddressBook",
        "ActiveSync,OfflineAddressBook,WebServices",
    );
    check_list("rest,rest", "Rest");
    check_list("", "");
    check_list("   ", "");
    check_list(
        "activesync,autodiscover,imap,mapi,offlineaddressbook,outlookservice,pop,powershell,\
         reportingwebservices,rest,rpc,smtp,webservices",
        "ActiveSync,Autodiscover,Imap,Mapi,OfflineAddressBook,OutlookService,Pop,PowerShell,\
         ReportingWebServices,Rest,Rpc,Smtp,WebServices",
    );
}

#[test]
fn bad_protocol_lists_name_the_item() {
    for (input, item) in [
        ("imap,fax", "fax"),
        ("imap,,pop", ""),
        ("imap,", ""),
        ("smtp, ldap ", "ldap"),
    ] {
        let err = parse_protocol_list(input).unwrap_err();
        assert_eq!(err.item, item, "{input:?}");
        let msg = err.to_string();
        assert!(msg.contains("valid: activesync (eas)"), "{msg}");
        assert!(msg.starts_with("AUTHPOLICY_UNKNOWN_PROTOCOL"), "{msg}");
    }
    assert_eq!(
        "fax".parse::<Protocol>().unwrap_err().to_string(),
        format!(
            "AUTHPOLICY_UNKNOWN_PROTOCOL: \"fax\" is not a protocol; valid: {}",
            valid_protocol_names()
        )
    );
}

#[test]
fn protocol_facts() {
    let served: Vec<_> = Protocol::ALL
        .into_iter()
        .filter(|p| p.served_by_mailward())
        .collect();
    assert_eq!(
        served,
        [
            Protocol::Autodiscover,
            Protocol::Imap,
            Protocol::Pop,
            Protocol::Rest,
            Protocol::Smtp
        ]
    );
    assert_eq!(
        ProtocolSet::on_premises().to_string(),
        "ActiveSync,Autodiscover,Imap,Mapi,OfflineAddressBook,Pop,Rpc,WebServices"
    );
    assert_eq!(ProtocolSet::all().len(), 13);
    for p in Protocol::ALL {
        assert_eq!(Protocol::parse(p.name()), Some(p));
        assert_eq!(p.name().parse::<Protocol>().unwrap(), p);
    }
}

#[test]
fn switch_names() {
    let names: Vec<String> = Switch::all().map(Switch::name).collect();
    assert_eq!(names.len(), 29);
    assert_eq!(names[0], "AllowBasicAuthActiveSync");
    assert!(names.contains(&"AllowBasicAuthPowershell".to_owned()));
    assert!(names.contains(&"AllowBasicAuthRest".to_owned()));
    assert!(names.contains(&"BlockModernAuthWebServices".to_owned()));
    for n in &names {
        assert_eq!(Switch::parse(n).unwrap().name(), *n);
        assert_eq!(Switch::parse(&n.to_uppercase()).unwrap().name(), *n);
    }
    assert_eq!(
        Switch::parse("AllowBasicAuthPowerShell").unwrap(),
        Switch::new(SwitchKind::AllowBasicAuth, Protocol::PowerShell).unwrap()
    );
    assert!(matches!(
        Switch::parse("BlockLegacyAuthSmtp"),
        Err(SwitchError::NotForProtocol { .. })
    ));
    assert!(matches!(
        Switch::parse("BlockLegacyAuth"),
        Err(SwitchError::NotForProtocol { .. })
    ));
    assert!(matches!(
        Switch::parse("Name"),
        Err(SwitchError::Unknown { .. })
    ));
    assert!(matches!(
        Switch::parse("Allow"),
        Err(SwitchError::Unknown { .. })
    ));
    assert!(matches!(
        Switch::parse("AllowBasicAuthé"),
        Err(SwitchError::NotForProtocol { .. })
    ));
    assert!(Switch::new(SwitchKind::BlockModernAuth, Protocol::Smtp).is_none());
}

#[test]
fn set_protocols_refuses_missing_switches_and_changes_nothing() {
    let mut p = AuthenticationPolicy::new(PolicyName::try_from("P").unwrap());
    p.set_protocols(
        SwitchKind::BlockLegacyAuth,
        parse_protocol_list("imap").unwrap(),
    )
    .unwrap();
    let err = p
        .set_protocols(
            SwitchKind::BlockLegacyAuth,
            parse_protocol_list("pop,smtp").unwrap(),
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "AUTHPOLICY_UNKNOWN_SWITCH: BlockLegacyAuthSmtp does not exist; BlockLegacyAuth exists \
         for ActiveSync, Autodiscover, Imap, Mapi, OfflineAddressBook, Pop, Rpc, WebServices"
    );
    assert_eq!(p.block_legacy_auth().to_string(), "Imap");
    p.set_protocols(SwitchKind::AllowBasicAuth, ProtocolSet::all())
        .unwrap();
    assert_eq!(p.allow_basic_auth(), ProtocolSet::all());
}
