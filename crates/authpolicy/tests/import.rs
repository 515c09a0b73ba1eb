//! JSON import and export: policies as `Get-AuthenticationPolicy | ConvertTo-Json` shows
//! them round-trip, and every bad property is reported by name.

use mailward_authpolicy::*;

/// Shaped like an Exchange Online export (PascalCase switches, read-only metadata).
const CLOUD_EXPORT: &str = r#"{
    "RunspaceId": "9c1a7a7e-64b4-4a4c-9d3f-1f5b3e1a0c11",
    "AllowBasicAuthActiveSync": false,
    "AllowBasicAuthAutodiscover": false,
    "AllowBasicAuthImap": true,
    "AllowBasicAuthMapi": false,
    "AllowBasicAuthOfflineAddressBook": false,
    "AllowBasicAuthOutlookService": false,
    "AllowBasicAuthPop": false,
    "AllowBasicAuthReportingWebServices": false,
    "AllowBasicAuthRest": false,
    "AllowBasicAuthRpc": false,
    "AllowBasicAuthSmtp": true,
    "AllowBasicAuthWebServices": false,
    "AllowBasicAuthPowershell": false,
    "AdminDisplayName": "",
    "ExchangeVersion": "0.20 (15.0.0.0)",
    "Name": "Allow Basic Auth Imap Smtp",
    "DistinguishedName": "CN=Allow Basic Auth Imap Smtp,CN=Auth Policies,CN=Configuration,CN=contoso.onmicrosoft.com,CN=ConfigurationUnits,DC=EXAMPLE,DC=PROD,DC=OUTLOOK,DC=COM",
    "Identity": "Allow Basic Auth Imap Smtp",
    "ObjectCategory": "EXAMPLE.PROD.OUTLOOK.COM/Configuration/Schema/ms-Exch-Auth-Policy",
    "ObjectClass": ["top", "msExchAuthPolicy"],
    "WhenChanged": "\/Date(1589540000000)\/",
    "WhenCreated": "\/Date(1589540000000)\/",
    "WhenChangedUTC": "\/Date(1589540000000)\/",
    "WhenCreatedUTC": "\/Date(1589540000000)\/",
    "ExchangeObjectId": "0b7d5c8e-0d52-4a1f-8c8e-2b0f7f6d1e2a",
    "OrganizationId": "EXAMPLE.PROD.OUTLOOK.COM/Microsoft Exchange Hosted Organizations/contoso.onmicrosoft.com - EXAMPLE.PROD.OUTLOOK.COM/ConfigurationUnits/contoso.onmicrosoft.com/Configuration",
    "Id": "Allow Basic Auth Imap Smtp",
    "Guid": "0b7d5c8e-0d52-4a1f-8c8e-2b0f7f6d1e2a",
    "OriginatingServer": "EX1PR01A001DC01.EXAMPLE.PROD.OUTLOOK.COM",
    "IsValid": true,
    "ObjectState": "Unchanged"
}"#;

/// Shaped like an Exchange Server 2019 export; unset switches print as null.
const ONPREM_EXPORT: &str = r#"{
    "BlockLegacyAuthActiveSync": true,
    "BlockLegacyAuthAutodiscover": true,
    "BlockLegacyAuthImap": true,
    "BlockLegacyAuthMapi": false,
    "BlockLegacyAuthOfflineAddressBook": null,
    "BlockLegacyAuthPop": true,
    "BlockLegacyAuthRpc": false,
    "BlockLegacyAuthWebServices": true,
    "BlockModernAuthActiveSync": false,
    "BlockModernAuthAutodiscover": false,
    "BlockModernAuthImap": false,
    "BlockModernAuthMapi": false,
    "BlockModernAuthOfflineAddressBook": false,
    "BlockModernAuthPop": false,
    "BlockModernAuthRpc": true,
    "BlockModernAuthWebServices": false,
    "Name": "Block Legacy Auth",
    "Identity": "Block Legacy Auth",
    "IsValid": true
}"#;

fn set(list: &str) -> ProtocolSet {
    parse_protocol_list(list).expect("a valid list")
}

#[test]
fn cloud_export_imports() {
    let p = AuthenticationPolicy::from_json(CLOUD_EXPORT).unwrap();
    assert_eq!(p.name().as_str(), "Allow Basic Auth Imap Smtp");
    assert_eq!(p.allow_basic_auth(), set("imap,smtp"));
    assert!(p.block_legacy_auth().is_empty());
    assert!(p.block_modern_auth().is_empty());
}

#[test]
fn onprem_export_imports() {
    let p = AuthenticationPolicy::from_json(ONPREM_EXPORT).unwrap();
    assert_eq!(
        p.block_legacy_auth(),
        set("activesync,autodiscover,imap,pop,ews")
    );
    assert_eq!(p.block_modern_auth(), set("rpc"));
    assert!(p.allow_basic_auth().is_empty());
}

#[test]
fn export_round_trips() {
    for json in [CLOUD_EXPORT, ONPREM_EXPORT] {
        let p = AuthenticationPolicy::from_json(json).unwrap();
        let exported = p.to_json();
        assert_eq!(AuthenticationPolicy::from_json(&exported).unwrap(), p);
        // Through serde too.
        let value = serde_json::to_value(&p).unwrap();
        let back: AuthenticationPolicy = serde_json::from_value(value).unwrap();
        assert_eq!(back, p);
    }
}

#[test]
fn export_shape() {
    let mut p = AuthenticationPolicy::new(PolicyName::try_from("P").unwrap());
    p.set(Switch::parse("AllowBasicAuthPowerShell").unwrap(), true);
    let v = serde_json::to_value(&p).unwrap();
    let obj = v.as_object().unwrap();
    // Name + 13 AllowBasicAuth + 8 BlockLegacyAuth + 8 BlockModernAuth.
    assert_eq!(obj.len(), 1 + 13 + 8 + 8);
    assert_eq!(obj["Name"], "P");
    assert_eq!(obj["AllowBasicAuthPowershell"], true);
    assert_eq!(obj["AllowBasicAuthImap"], false);
    assert_eq!(obj["BlockLegacyAuthImap"], false);
    assert!(!obj.contains_key("BlockLegacyAuthSmtp"));
    // Name first, then the switches in Exchange's order.
    assert!(
        p.to_json()
            .starts_with("{\n  \"Name\": \"P\",\n  \"AllowBasicAuthActiveSync\": false,\n"),
        "{}",
        p.to_json()
    );
}

#[test]
fn array_of_policies() {
    let json = format!("[{CLOUD_EXPORT}, {ONPREM_EXPORT}]");
    let ps = import_policies(&json).unwrap();
    assert_eq!(ps.len(), 2);
    assert_eq!(import_policies(CLOUD_EXPORT).unwrap().len(), 1);
    assert_eq!(import_policies("[]").unwrap(), vec![]);
}

#[test]
fn duplicate_names_in_an_array() {
    let err = import_policies(r#"[{"Name":"A"},{"Name":"b"},{"Name":"a"}]"#).unwrap_err();
    assert_eq!(err.errors.len(), 1);
    assert_eq!(err.at("[2].Name").unwrap().kind, ErrorKind::Duplicate);
}

#[test]
fn property_names_ignore_case_but_not_twice() {
    let p = AuthenticationPolicy::from_json(r#"{"name":"x","allowbasicauthIMAP":true}"#).unwrap();
    assert!(p.allows_basic(Protocol::Imap));
    let err = AuthenticationPolicy::from_json(
        r#"{"Name":"x","AllowBasicAuthImap":false,"AllowBasicAuthIMAP":true}"#,
    )
    .unwrap_err();
    assert_eq!(
        err.at("AllowBasicAuthIMAP").unwrap().kind,
        ErrorKind::Duplicate
    );
    let err = AuthenticationPolicy::from_json(
        r#"{"Name":"x","AllowBasicAuthImap":false,"AllowBasicAuthImap":true}"#,
    )
    .unwrap_err();
    assert_eq!(err.errors[0].kind, ErrorKind::Duplicate);
}

/// One helper per kind of problem: the property path and the error kind.
fn check_error(json: &str, path: &str, kind: ErrorKind) {
    let Err(err) = AuthenticationPolicy::from_json(json) else {
        panic!("{json} imported without error");
    };
    let e = err
        .at(path)
        .unwrap_or_else(|| panic!("no error at {path:?} in {err}"));
    assert_eq!(e.kind, kind, "{err}");
}

#[test]
fn validation_errors_name_the_property() {
    use ErrorKind::*;
    check_error(
        r#"{"Name":"x","BlockLegacyAuthSmtp":true}"#,
        "BlockLegacyAuthSmtp",
        UnknownSwitch,
    );
    check_error(
        r#"{"Name":"x","BlockModernAuthRest":true}"#,
        "BlockModernAuthRest",
        UnknownSwitch,
    );
    check_error(
        r#"{"Name":"x","BlockLegacyAuthReportingWebServices":false}"#,
        "BlockLegacyAuthReportingWebServices",
        UnknownSwitch,
    );
    check_error(
        r#"{"Name":"x","AllowBasicAuthFax":true}"#,
        "AllowBasicAuthFax",
        UnknownSwitch,
    );
    check_error(
        r#"{"Name":"x","AllowLegacyExchangeTokens":true}"#,
        "AllowLegacyExchangeTokens",
        UnknownField,
    );
    check_error(r#"{"Name":"x","Colour":"blue"}"#, "Colour", UnknownField);
    check_error(
        r#"{"Name":"x","AllowBasicAuthImap":"True"}"#,
        "AllowBasicAuthImap",
        Syntax,
    );
    check_error(
        r#"{"Name":"x","AllowBasicAuthImap":1}"#,
        "AllowBasicAuthImap",
        Syntax,
    );
    check_error(r#"{"AllowBasicAuthImap":true}"#, "Name", Required);
    check_error(r#"{"Name":""}"#, "Name", Invalid);
    check_error(r#"{"Name":" padded"}"#, "Name", Invalid);
    check_error(r#"{"Name":"tab\there"}"#, "Name", Invalid);
    check_error(
        &format!(r#"{{"Name":"{}"}}"#, "n".repeat(65)),
        "Name",
        Invalid,
    );
    check_error(r#"{"Name":42}"#, "Name", Syntax);
    check_error(r#"["not an object"]"#, "", Syntax);
    check_error("{", "", Syntax);
    check_error("null", "", Syntax);
}

#[test]
fn unknown_switch_message_lists_the_valid_protocols() {
    let err =
        AuthenticationPolicy::from_json(r#"{"Name":"x","BlockLegacyAuthSmtp":true}"#).unwrap_err();
    assert_eq!(
        err.to_string(),
        "AUTHPOLICY_UNKNOWN_SWITCH: BlockLegacyAuthSmtp: AUTHPOLICY_UNKNOWN_SWITCH: \
         BlockLegacyAuthSmtp does not exist; BlockLegacyAuth exists for ActiveSync, \
         Autodiscover, Imap, Mapi, OfflineAddressBook, Pop, Rpc, WebServices"
    );
}

#[test]
fn all_problems_are_reported_together() {
    let err = AuthenticationPolicy::from_json(
        r#"{"BlockLegacyAuthSmtp":true,"Colour":1,"AllowBasicAuthPop":"yes"}"#,
    )
    .unwrap_err();
    let paths: Vec<&str> = err.errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        ["BlockLegacyAuthSmtp", "Colour", "AllowBasicAuthPop", "Name"]
    );
    let err = import_policies(r#"[{"Name":"a"},{"Name":"b","Nope":true},{}]"#).unwrap_err();
    assert!(err.has_path("[1].Nope"));
    assert!(err.has_path("[2].Name"));
}

#[test]
fn names() {
    assert!(PolicyName::try_from("n".repeat(64)).is_ok());
    assert!(
        PolicyName::try_from("ü".repeat(64)).is_ok(),
        "64 characters, not bytes"
    );
    assert_eq!(
        PolicyName::try_from("n".repeat(65)),
        Err(NameError::TooLong)
    );
    assert_eq!(PolicyName::try_from(""), Err(NameError::Empty));
    assert_eq!(
        PolicyName::try_from("a\nb"),
        Err(NameError::ControlCharacter)
    );
    assert_eq!(PolicyName::try_from("a "), Err(NameError::Whitespace));
    assert_eq!(
        PolicyName::try_from("Block Basic").unwrap().key(),
        "block basic"
    );
}
