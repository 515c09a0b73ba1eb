//! Known-answer and malformed-input tests for every mechanism. Vectors are the published
//! ones (RFC 4616 §4, RFC 7628 §4.1/§4.3, Google's and Microsoft's XOAUTH2 pages), kept as
//! the base64 the specifications print so that decoding is tested too.

use mailward_types::Secret;

use super::*;

/// RFC 7628 §4.1, the IMAP initial client response.
const RFC7628_IMAP: &str = "bixhPXVzZXJAZXhhbXBsZS5jb20sAWhvc3Q9c2VydmVyLmV4YW1wbGUuY29tAXBvcnQ9MTQzAWF1dGg9QmVhcmVyIHZGOWRmdDRxbVRjMk52YjNSbGNrQmhiSFJoZG1semRHRXVZMjl0Q2c9PQEB";
const RFC7628_TOKEN: &str = "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==";
/// RFC 7628 §4.3, the server's error challenge.
const RFC7628_ERROR: &str = "eyJzdGF0dXMiOiJpbnZhbGlkX3Rva2VuIiwic2NvcGUiOiJleGFtcGxlX3Njb3BlIiwib3BlbmlkLWNvbmZpZ3VyYXRpb24iOiJodHRwczovL2V4YW1wbGUuY29tLy53ZWxsLWtub3duL29wZW5pZC1jb25maWd1cmF0aW9uIn0=";
/// Google's XOAUTH2 example: `user=someuser@example.com^Aauth=Bearer ya29.vF9d...^A^A`.
const GOOGLE_XOAUTH2: &str = "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ==";
const GOOGLE_TOKEN: &str = "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg";

fn b64(raw: &[u8]) -> Vec<u8> {
    encode(raw).into_bytes()
}

/// Runs a whole exchange: the initial response (wire form), then each client line; returns
/// every step in order.
fn run(mech: Mechanism, initial: Option<&[u8]>, lines: &[&[u8]]) -> Vec<Step> {
    let (mut ex, first) = Exchange::start(mech, initial);
    let mut steps = vec![first];
    for line in lines {
        steps.push(ex.step(line));
    }
    steps
}

/// The last step of an exchange.
fn last(mech: Mechanism, initial: Option<&[u8]>, lines: &[&[u8]]) -> Step {
    run(mech, initial, lines).pop().unwrap()
}

fn password(authzid: Option<&str>, username: &str, pw: &str) -> Step {
    Step::Done(Credentials::Password {
        authzid: authzid.map(str::to_owned),
        username: username.to_owned(),
        password: Secret::new(pw.to_owned()),
    })
}

fn bearer(mech: Mechanism, user: Option<&str>, token: &str) -> Step {
    Step::Done(Credentials::Bearer {
        user: user.map(str::to_owned),
        token: Secret::new(token.to_owned()),
        mechanism: mech,
    })
}

fn malformed(mechanism: Mechanism) -> impl Fn(&Step) -> bool {
    move |s| matches!(s, Step::Failed(SaslError::Malformed { mechanism: m, .. }) if *m == mechanism)
}

// ---------------------------------------------------------------- mechanism names

#[test]
fn mechanism_names_are_case_insensitive() {
    assert_eq!(Mechanism::parse("plain"), Some(Mechanism::Plain));
    assert_eq!(Mechanism::parse("Login"), Some(Mechanism::Login));
    assert_eq!(Mechanism::parse("xoauth2"), Some(Mechanism::XOAuth2));
    assert_eq!(
        Mechanism::parse("OAuthBearer"),
        Some(Mechanism::OAuthBearer)
    );
    assert_eq!(Mechanism::parse("CRAM-MD5"), None);
    assert_eq!(Mechanism::parse(""), None);
    for m in Mechanism::ALL {
        assert_eq!(Mechanism::parse(m.name()), Some(m));
        assert_eq!(m.to_string(), m.name());
    }
}

#[test]
fn advertised_mechanisms() {
    use Mechanism::*;
    assert_eq!(advertised(false, false), vec![OAuthBearer, XOAuth2]);
    assert_eq!(advertised(false, true), vec![OAuthBearer, XOAuth2]);
    assert_eq!(advertised(true, false), vec![OAuthBearer, XOAuth2]);
    assert_eq!(
        advertised(true, true),
        vec![OAuthBearer, XOAuth2, Plain, Login]
    );
}

// ---------------------------------------------------------------- PLAIN

#[test]
fn plain_rfc4616_example_without_initial_response() {
    // RFC 4616 §4: `+ ""`, then `<NUL>tim<NUL>tanstaaftanstaaf`.
    let steps = run(Mechanism::Plain, None, &[&b64(b"\0tim\0tanstaaftanstaaf")]);
    assert_eq!(steps[0], Step::Challenge(Vec::new()));
    assert_eq!(steps[1], password(None, "tim", "tanstaaftanstaaf"));
}

#[test]
fn plain_rfc4616_example_other_authzid_is_refused() {
    // RFC 4616 §4: authzid "Ursel", authcid "Kurt" ends in NO.
    let step = last(Mechanism::Plain, Some(&b64(b"Ursel\0Kurt\0xipj3plmq")), &[]);
    assert_eq!(step, Step::Failed(SaslError::AuthzidNotPermitted));
}

#[test]
fn plain_with_initial_response_and_equal_authzid() {
    let ir = b64(b"Kurt@Example.com\0kurt@example.com\0xipj3plmq");
    let step = last(Mechanism::Plain, Some(&ir), &[]);
    assert_eq!(
        step,
        password(Some("Kurt@Example.com"), "kurt@example.com", "xipj3plmq")
    );
}

#[test]
fn plain_keeps_unicode_and_odd_password_characters() {
    let ir = b64("\0jörg@example.com\0pa ss\tw=rd€".as_bytes());
    assert_eq!(
        last(Mechanism::Plain, Some(&ir), &[]),
        password(None, "jörg@example.com", "pa ss\tw=rd€")
    );
}

#[test]
fn plain_malformed_messages() {
    let cases: &[&[u8]] = &[
        b"",                 // empty initial response `=`
        b"tim",              // no NUL at all
        b"\0tim",            // one NUL
        b"\0tim\0pw\0extra", // three NULs
        b"\0\0pw",           // empty authcid
        b"\0tim\0",          // empty password
        b"\0t\rim\0pw",      // control character in authcid
    ];
    for case in cases {
        let ir = if case.is_empty() {
            b"=".to_vec()
        } else {
            b64(case)
        };
        let step = last(Mechanism::Plain, Some(&ir), &[]);
        assert!(malformed(Mechanism::Plain)(&step), "{case:?} -> {step:?}");
    }
}

#[test]
fn plain_invalid_utf8() {
    let step = last(Mechanism::Plain, Some(&b64(b"\0tim\xff\0pw")), &[]);
    assert_eq!(
        step,
        Step::Failed(SaslError::InvalidUtf8 {
            field: "authentication identity"
        })
    );
    let step = last(Mechanism::Plain, Some(&b64(b"\0tim\0p\xc3w")), &[]);
    assert_eq!(
        step,
        Step::Failed(SaslError::InvalidUtf8 { field: "password" })
    );
    let step = last(Mechanism::Plain, Some(&b64(b"\xff\0tim\0pw")), &[]);
    assert_eq!(
        step,
        Step::Failed(SaslError::InvalidUtf8 {
            field: "authorization identity"
        })
    );
}

// ---------------------------------------------------------------- LOGIN

#[test]
fn login_two_challenges() {
    let steps = run(
        Mechanism::Login,
        None,
        &[b"dGlt", b"dGFuc3RhYWZ0YW5zdGFhZg=="],
    );
    assert_eq!(steps[0], Step::Challenge(b"Username:".to_vec()));
    assert_eq!(steps[1], Step::Challenge(b"Password:".to_vec()));
    assert_eq!(steps[2], password(None, "tim", "tanstaaftanstaaf"));
    // As they appear on the wire.
    assert_eq!(encode(b"Username:"), "VXNlcm5hbWU6");
    assert_eq!(encode(b"Password:"), "UGFzc3dvcmQ6");
}

#[test]
fn login_username_as_initial_response() {
    let steps = run(Mechanism::Login, Some(b"dGlt"), &[b"cHc="]);
    assert_eq!(steps[0], Step::Challenge(b"Password:".to_vec()));
    assert_eq!(steps[1], password(None, "tim", "pw"));
}

#[test]
fn login_empty_initial_response_asks_for_the_username() {
    let steps = run(Mechanism::Login, Some(b"="), &[b"dGlt", b"cHc="]);
    assert_eq!(steps[0], Step::Challenge(b"Username:".to_vec()));
    assert_eq!(steps[2], password(None, "tim", "pw"));
}

#[test]
fn login_malformed() {
    // Empty username, empty password, NUL in password, NUL in username.
    assert!(malformed(Mechanism::Login)(&last(
        Mechanism::Login,
        None,
        &[b""]
    )));
    assert!(malformed(Mechanism::Login)(&last(
        Mechanism::Login,
        None,
        &[b"dGlt", b""]
    )));
    assert!(malformed(Mechanism::Login)(&last(
        Mechanism::Login,
        None,
        &[b"dGlt", &b64(b"p\0w")]
    )));
    assert!(malformed(Mechanism::Login)(&last(
        Mechanism::Login,
        None,
        &[&b64(b"t\0m")]
    )));
    assert_eq!(
        last(Mechanism::Login, None, &[&b64(b"\xfe")]),
        Step::Failed(SaslError::InvalidUtf8 { field: "username" })
    );
}

// ---------------------------------------------------------------- XOAUTH2

#[test]
fn xoauth2_google_example() {
    let step = last(Mechanism::XOAuth2, Some(GOOGLE_XOAUTH2.as_bytes()), &[]);
    assert_eq!(
        step,
        bearer(
            Mechanism::XOAuth2,
            Some("someuser@example.com"),
            GOOGLE_TOKEN
        )
    );
    assert_eq!(
        encode(&client::xoauth2("someuser@example.com", GOOGLE_TOKEN)),
        GOOGLE_XOAUTH2
    );
}

#[test]
fn xoauth2_microsoft_example_as_imaplib_sends_it() {
    // Microsoft's page: `user=test@contoso.onmicrosoft.com^Aauth=Bearer EwBAAl3BAAUFFpUAo7J3Ve0bjLBWZWCclRC3EoAA^A^A`;
    // imaplib sends it after an empty `+` continuation, not inline.
    let msg = b"user=test@contoso.onmicrosoft.com\x01auth=Bearer EwBAAl3BAAUFFpUAo7J3Ve0bjLBWZWCclRC3EoAA\x01\x01";
    assert_eq!(
        encode(msg),
        "dXNlcj10ZXN0QGNvbnRvc28ub25taWNyb3NvZnQuY29tAWF1dGg9QmVhcmVyIEV3QkFBbDNCQUFVRkZwVUFvN0ozVmUwYmpMQldaV0NjbFJDM0VvQUEBAQ=="
    );
    let steps = run(Mechanism::XOAuth2, None, &[&b64(msg)]);
    assert_eq!(steps[0], Step::Challenge(Vec::new()));
    assert_eq!(
        steps[1],
        bearer(
            Mechanism::XOAuth2,
            Some("test@contoso.onmicrosoft.com"),
            "EwBAAl3BAAUFFpUAo7J3Ve0bjLBWZWCclRC3EoAA"
        )
    );
}

#[test]
fn xoauth2_lenient_but_valid_forms() {
    // No user, empty user, lower-case scheme, extra spaces, unknown keys, JWT-shaped token.
    let cases: &[(&[u8], Option<&str>, &str)] = &[
        (b"auth=Bearer abc\x01\x01", None, "abc"),
        (b"user=\x01auth=Bearer abc\x01\x01", None, "abc"),
        (
            b"user=u@x\x01auth=bearer   abc==\x01\x01",
            Some("u@x"),
            "abc==",
        ),
        (
            b"auth=Bearer a.b-c_d~e+f/g\x01user=u\x01foo=bar\x01\x01",
            Some("u"),
            "a.b-c_d~e+f/g",
        ),
    ];
    for (msg, user, token) in cases {
        assert_eq!(
            last(Mechanism::XOAuth2, Some(&b64(msg)), &[]),
            bearer(Mechanism::XOAuth2, *user, token),
            "{msg:?}"
        );
    }
}

#[test]
fn xoauth2_malformed() {
    let m = Mechanism::XOAuth2;
    let cases: &[(&[u8], SaslError)] = &[
        (
            b"",
            SaslError::Malformed {
                mechanism: m,
                reason: "empty response",
            },
        ),
        (
            b"user=u\x01auth=Bearer t\x01",
            SaslError::Malformed {
                mechanism: m,
                reason: "missing the final ^A separator",
            },
        ),
        (
            b"user=u\x01auth=Bearer t",
            SaslError::Malformed {
                mechanism: m,
                reason: "key/value pair not terminated by ^A",
            },
        ),
        (
            b"user=u auth=Bearer t\x01\x01",
            SaslError::MissingAuth { mechanism: m },
        ),
        (b"user=u\x01\x01", SaslError::MissingAuth { mechanism: m }),
        (
            b"user=u\x01auth=Basic dTpw\x01\x01",
            SaslError::UnsupportedScheme { mechanism: m },
        ),
        (
            b"user=u\x01auth=Bearer\x01\x01",
            SaslError::UnsupportedScheme { mechanism: m },
        ),
        (
            b"user=u\x01auth=Bearer \x01\x01",
            SaslError::UnsupportedScheme { mechanism: m },
        ),
        (
            b"user=u\x01auth=Bearer a b\x01\x01",
            SaslError::UnsupportedScheme { mechanism: m },
        ),
        (
            b"user=u\x01auth=Bearer a=b\x01\x01",
            SaslError::UnsupportedScheme { mechanism: m },
        ),
        (
            b"user=u\x01auth=Bearer t\x01\x01trailing",
            SaslError::Malformed {
                mechanism: m,
                reason: "data after the final ^A separator",
            },
        ),
        (
            b"user=u\x01user=v\x01auth=Bearer t\x01\x01",
            SaslError::Malformed {
                mechanism: m,
                reason: "duplicate key",
            },
        ),
        (
            b"us3r=u\x01auth=Bearer t\x01\x01",
            SaslError::Malformed {
                mechanism: m,
                reason: "key is not 1*ALPHA",
            },
        ),
        (
            b"user\x01auth=Bearer t\x01\x01",
            SaslError::Malformed {
                mechanism: m,
                reason: "key/value pair without =",
            },
        ),
        (
            b"user=\xff\x01auth=Bearer t\x01\x01",
            SaslError::InvalidUtf8 { field: "user" },
        ),
        (
            b"user=a\nb\x01auth=Bearer t\x01\x01",
            SaslError::Malformed {
                mechanism: m,
                reason: "control character in identity",
            },
        ),
    ];
    for (msg, err) in cases {
        let ir = if msg.is_empty() {
            b"=".to_vec()
        } else {
            b64(msg)
        };
        assert_eq!(
            last(m, Some(&ir), &[]),
            Step::Failed(err.clone()),
            "{:?}",
            String::from_utf8_lossy(msg)
        );
    }
}

#[test]
fn xoauth2_failure_challenge_then_empty_line() {
    let (mut ex, step) = Exchange::start(Mechanism::XOAuth2, Some(GOOGLE_XOAUTH2.as_bytes()));
    assert!(matches!(step, Step::Done(_)));
    let challenge = ex.bearer_failure(BearerError {
        status: BearerStatus::InvalidToken,
        scope: Some("IMAP.AccessAsUser.All".into()),
        openid_configuration: Some("https://ignored".into()),
    });
    assert_eq!(
        challenge,
        Step::Challenge(
            br#"{"status":"401","schemes":"Bearer","scope":"IMAP.AccessAsUser.All"}"#.to_vec()
        )
    );
    assert_eq!(ex.step(b""), Step::Failed(SaslError::TokenRejected));
    assert!(ex.is_finished());
    assert_eq!(ex.step(b""), Step::Failed(SaslError::OutOfSequence));
}

#[test]
fn xoauth2_failure_status_codes() {
    for (status, http) in [
        (BearerStatus::InvalidRequest, "400"),
        (BearerStatus::InvalidToken, "401"),
        (BearerStatus::InsufficientScope, "403"),
    ] {
        let (mut ex, _) = Exchange::start(Mechanism::XOAuth2, Some(GOOGLE_XOAUTH2.as_bytes()));
        let step = ex.bearer_failure(BearerError {
            status,
            scope: None,
            openid_configuration: None,
        });
        let expected = format!(r#"{{"status":"{http}","schemes":"Bearer"}}"#);
        assert_eq!(step, Step::Challenge(expected.into_bytes()));
    }
}

// ---------------------------------------------------------------- OAUTHBEARER

#[test]
fn oauthbearer_rfc7628_imap_example() {
    let step = last(Mechanism::OAuthBearer, Some(RFC7628_IMAP.as_bytes()), &[]);
    assert_eq!(
        step,
        bearer(
            Mechanism::OAuthBearer,
            Some("user@example.com"),
            RFC7628_TOKEN
        )
    );
    let built = client::oauthbearer(
        Some("user@example.com"),
        Some("server.example.com"),
        Some(143),
        RFC7628_TOKEN,
    );
    assert_eq!(encode(&built), RFC7628_IMAP);
}

#[test]
fn oauthbearer_rfc7628_failure_example() {
    let (mut ex, step) = Exchange::start(Mechanism::OAuthBearer, Some(RFC7628_IMAP.as_bytes()));
    assert!(matches!(step, Step::Done(_)));
    let Step::Challenge(json) = ex.bearer_failure(BearerError {
        status: BearerStatus::InvalidToken,
        scope: Some("example_scope".into()),
        openid_configuration: Some("https://example.com/.well-known/openid-configuration".into()),
    }) else {
        panic!("expected a challenge");
    };
    assert_eq!(encode(&json), RFC7628_ERROR);
    // RFC 7628 §4.3: the client answers `AQ==` (a lone ^A).
    assert_eq!(ex.step(b"AQ=="), Step::Failed(SaslError::TokenRejected));
}

#[test]
fn oauthbearer_minimal_error_json() {
    let (mut ex, _) = Exchange::start(Mechanism::OAuthBearer, Some(RFC7628_IMAP.as_bytes()));
    let step = ex.bearer_failure(BearerError {
        status: BearerStatus::InsufficientScope,
        scope: None,
        openid_configuration: None,
    });
    assert_eq!(
        step,
        Step::Challenge(br#"{"status":"insufficient_scope"}"#.to_vec())
    );
    assert_eq!(ex.step(b"*"), Step::Failed(SaslError::Cancelled));
}

#[test]
fn oauthbearer_valid_forms() {
    let cases: &[(&[u8], Option<&str>)] = &[
        (b"n,,\x01auth=Bearer t\x01\x01", None),
        (b"y,,\x01auth=Bearer t\x01\x01", None),
        (
            b"n,a=a=2Cb=3Dc@x,\x01auth=Bearer t\x01\x01",
            Some("a,b=c@x"),
        ),
        (
            b"n,a=u,\x01host=h\x01port=993\x01auth=Bearer t\x01mfa=ok\x01\x01",
            Some("u"),
        ),
    ];
    for (msg, user) in cases {
        assert_eq!(
            last(Mechanism::OAuthBearer, None, &[&b64(msg)]),
            bearer(Mechanism::OAuthBearer, *user, "t"),
            "{msg:?}"
        );
    }
    assert_eq!(
        client::oauthbearer(Some("a,b=c@x"), None, None, "t"),
        b"n,a=a=2Cb=3Dc@x,\x01auth=Bearer t\x01\x01"
    );
}

#[test]
fn oauthbearer_malformed() {
    let m = Mechanism::OAuthBearer;
    let bad = |reason| SaslError::Malformed {
        mechanism: m,
        reason,
    };
    let cases: &[(&[u8], SaslError)] = &[
        (
            b"p=tls-unique,,\x01auth=Bearer t\x01\x01",
            SaslError::ChannelBindingNotSupported,
        ),
        (b"\x01", bad("GS2 header must start with n, or y,")),
        (
            b"x,,\x01auth=Bearer t\x01\x01",
            bad("GS2 header must start with n, or y,"),
        ),
        (
            b"n,a=u\x01auth=Bearer t\x01\x01",
            bad("GS2 header not terminated by ,"),
        ),
        (
            b"n,u=x,\x01auth=Bearer t\x01\x01",
            bad("GS2 authzid must be a=saslname"),
        ),
        (b"n,a=,\x01auth=Bearer t\x01\x01", bad("empty identity")),
        (
            b"n,a=u=2,\x01auth=Bearer t\x01\x01",
            bad("authzid is not a valid saslname"),
        ),
        (
            b"n,a=u=41,\x01auth=Bearer t\x01\x01",
            bad("authzid is not a valid saslname"),
        ),
        (
            b"n,,auth=Bearer t\x01\x01",
            bad("missing ^A after the GS2 header"),
        ),
        (
            b"n,,\x01auth=Bearer t\x01",
            bad("missing the final ^A separator"),
        ),
        (
            b"n,,\x01host=h\x01\x01",
            SaslError::MissingAuth { mechanism: m },
        ),
        (b"n,,\x01\x01", SaslError::MissingAuth { mechanism: m }),
        (
            b"n,,\x01auth=Basic dTpw\x01\x01",
            SaslError::UnsupportedScheme { mechanism: m },
        ),
        (
            b"n,a=\xc0,\x01auth=Bearer t\x01\x01",
            SaslError::InvalidUtf8 {
                field: "authorization identity",
            },
        ),
    ];
    for (msg, err) in cases {
        assert_eq!(
            last(m, Some(&b64(msg)), &[]),
            Step::Failed(err.clone()),
            "{:?}",
            String::from_utf8_lossy(msg)
        );
    }
    assert_eq!(
        last(m, Some(b"="), &[]),
        Step::Failed(bad("empty response"))
    );
}

// ---------------------------------------------------------------- framing, for all mechanisms

#[test]
fn cancel_at_every_challenge() {
    for mech in Mechanism::ALL {
        let steps = run(mech, None, &[b"*"]);
        assert!(matches!(steps[0], Step::Challenge(_)), "{mech}");
        assert_eq!(steps[1], Step::Failed(SaslError::Cancelled), "{mech}");
    }
    // Mid-LOGIN, and with a trailing CR LF.
    assert_eq!(
        last(Mechanism::Login, None, &[b"dGlt", b"*\r\n"]),
        Step::Failed(SaslError::Cancelled)
    );
}

#[test]
fn star_is_not_an_initial_response() {
    for mech in Mechanism::ALL {
        assert_eq!(
            last(mech, Some(b"*"), &[]),
            Step::Failed(SaslError::InvalidBase64),
            "{mech}"
        );
    }
}

#[test]
fn bad_base64_everywhere() {
    for mech in Mechanism::ALL {
        for line in [&b"dGlt!"[..], b"dG lt", b"=", b"\xff\xfe", b"d==="] {
            assert_eq!(
                last(mech, None, &[line]),
                Step::Failed(SaslError::InvalidBase64),
                "{mech} {line:?}"
            );
        }
        assert_eq!(
            last(mech, Some(b"dGlt!"), &[]),
            Step::Failed(SaslError::InvalidBase64)
        );
    }
}

#[test]
fn padding_is_optional_and_crlf_tolerated() {
    let msg = b"\0tim\0pw";
    let padded = encode(msg);
    let unpadded = padded.trim_end_matches('=');
    assert_ne!(padded, unpadded);
    for line in [padded.clone(), unpadded.to_owned(), format!("{padded}\r\n")] {
        assert_eq!(
            last(Mechanism::Plain, Some(line.as_bytes()), &[]),
            password(None, "tim", "pw")
        );
    }
}

#[test]
fn oversized_lines_are_refused() {
    let limit = SaslError::TooLong {
        limit: MAX_DECODED_LEN,
    };
    let big = vec![b'A'; MAX_ENCODED_LEN + 4];
    for mech in Mechanism::ALL {
        assert_eq!(last(mech, Some(&big), &[]), Step::Failed(limit.clone()));
        assert_eq!(last(mech, None, &[&big]), Step::Failed(limit.clone()));
    }
    // Exactly at the limit is fine for the framing (PLAIN then rejects the shape).
    let token = "a".repeat(MAX_DECODED_LEN - "user=u\x01auth=Bearer \x01\x01".len());
    let msg = client::xoauth2("u", &token);
    assert_eq!(msg.len(), MAX_DECODED_LEN);
    assert_eq!(
        last(Mechanism::XOAuth2, Some(&b64(&msg)), &[]),
        bearer(Mechanism::XOAuth2, Some("u"), &token)
    );
    let msg = client::xoauth2("u", &format!("{token}a"));
    assert_eq!(
        last(Mechanism::XOAuth2, Some(&b64(&msg)), &[]),
        Step::Failed(limit.clone())
    );
    // Decoded input has the same limit.
    let (_, step) = Exchange::start_decoded(Mechanism::XOAuth2, Some(&msg));
    assert_eq!(step, Step::Failed(limit.clone()));
    let (mut ex, _) = Exchange::start_decoded(Mechanism::XOAuth2, None);
    assert_eq!(ex.step_decoded(&msg), Step::Failed(limit));
}

#[test]
fn decoded_entry_points() {
    let (_, step) = Exchange::start_decoded(Mechanism::Plain, Some(b"\0tim\0pw"));
    assert_eq!(step, password(None, "tim", "pw"));
    let (mut ex, step) = Exchange::start_decoded(Mechanism::Login, None);
    assert_eq!(step, Step::Challenge(b"Username:".to_vec()));
    assert_eq!(
        ex.step_decoded(b"tim"),
        Step::Challenge(b"Password:".to_vec())
    );
    assert_eq!(ex.step_decoded(b"pw"), password(None, "tim", "pw"));
    assert_eq!(
        ex.step_decoded(b"pw"),
        Step::Failed(SaslError::OutOfSequence)
    );
}

#[test]
fn out_of_sequence_calls() {
    // bearer_failure on a password exchange, before any token, after a failure.
    let (mut ex, _) = Exchange::start(Mechanism::Plain, Some(&b64(b"\0tim\0pw")));
    assert!(ex.is_finished());
    assert_eq!(
        ex.bearer_failure(BearerError {
            status: BearerStatus::InvalidToken,
            scope: None,
            openid_configuration: None
        }),
        Step::Failed(SaslError::OutOfSequence)
    );
    let (mut ex, _) = Exchange::start(Mechanism::XOAuth2, None);
    assert!(!ex.is_finished());
    assert_eq!(
        ex.bearer_failure(BearerError {
            status: BearerStatus::InvalidToken,
            scope: None,
            openid_configuration: None
        }),
        Step::Failed(SaslError::OutOfSequence)
    );
    // A line after bearer credentials without a failure is out of sequence.
    let (mut ex, _) = Exchange::start(Mechanism::OAuthBearer, Some(RFC7628_IMAP.as_bytes()));
    assert_eq!(ex.mechanism(), Mechanism::OAuthBearer);
    assert_eq!(ex.step(b"AQ=="), Step::Failed(SaslError::OutOfSequence));
}

#[test]
fn secrets_are_redacted_in_debug() {
    let step = last(Mechanism::Plain, Some(&b64(b"\0tim\0hunter2")), &[]);
    let debug = format!("{step:?}");
    assert!(!debug.contains("hunter2"), "{debug}");
    let step = last(Mechanism::XOAuth2, Some(GOOGLE_XOAUTH2.as_bytes()), &[]);
    assert!(!format!("{step:?}").contains(GOOGLE_TOKEN));
}

#[test]
fn error_codes_are_distinct() {
    let m = Mechanism::Plain;
    let errors = [
        SaslError::Cancelled,
        SaslError::InvalidBase64,
        SaslError::TooLong { limit: 1 },
        SaslError::InvalidUtf8 { field: "x" },
        SaslError::Malformed {
            mechanism: m,
            reason: "x",
        },
        SaslError::AuthzidNotPermitted,
        SaslError::ChannelBindingNotSupported,
        SaslError::MissingAuth { mechanism: m },
        SaslError::UnsupportedScheme { mechanism: m },
        SaslError::TokenRejected,
        SaslError::OutOfSequence,
    ];
    let mut codes: Vec<_> = errors.iter().map(SaslError::code).collect();
    codes.sort_unstable();
    codes.dedup();
    assert_eq!(codes.len(), errors.len());
    assert_eq!(
        SaslError::Malformed {
            mechanism: m,
            reason: "x"
        }
        .to_string(),
        "malformed PLAIN response: x"
    );
}

#[test]
fn claimed_user() {
    let Step::Done(c) = last(Mechanism::Plain, Some(&b64(b"\0tim\0pw")), &[]) else {
        panic!()
    };
    assert_eq!(c.claimed_user(), Some("tim"));
    let Step::Done(c) = last(
        Mechanism::OAuthBearer,
        Some(&b64(b"n,,\x01auth=Bearer t\x01\x01")),
        &[],
    ) else {
        panic!()
    };
    assert_eq!(c.claimed_user(), None);
}
