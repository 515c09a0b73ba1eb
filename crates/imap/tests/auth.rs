//! Connection setup and authentication over real TCP and TLS: capabilities before and
//! after STARTTLS, the STARTTLS injection defense, XOAUTH2/OAUTHBEARER with and without
//! SASL-IR, the bearer error challenge, LOGIN and AUTHENTICATE PLAIN where a policy allows
//! basic authentication, failure limits, and wrong-state commands.

mod common;

use base64::Engine as _;
use common::*;
use mailward_testkit::mail;

#[tokio::test]
async fn capabilities_before_and_after_starttls() {
    let e = env().await;
    let mut c = e.connect().await;
    assert!(
        c.greeting.starts_with("* OK [CAPABILITY IMAP4rev1"),
        "{}",
        c.greeting
    );
    for cap in [
        "STARTTLS",
        "LOGINDISABLED",
        "AUTH=OAUTHBEARER",
        "AUTH=XOAUTH2",
        "SASL-IR",
        "IDLE",
        "UIDPLUS",
        "MOVE",
    ] {
        assert!(c.greeting.contains(cap), "{cap} missing: {}", c.greeting);
    }
    assert!(!c.greeting.contains("AUTH=PLAIN"));

    // No password before TLS, whatever the policy.
    allow_basic_imap(&e.store).await;
    let r = c.cmd("a1", "LOGIN alice@contoso.test secret").await;
    assert!(r[0].starts_with("a1 NO [PRIVACYREQUIRED]"), "{r:?}");
    let r = c.cmd("a2", "AUTHENTICATE PLAIN").await;
    assert!(r[0].starts_with("a2 NO [PRIVACYREQUIRED]"), "{r:?}");

    // STARTTLS with a command pipelined behind it in the clear: that command never runs.
    c.send(b"a3 STARTTLS\r\na4 LOGIN injected x\r\n").await;
    let r = c.until_tagged("a3").await;
    assert_eq!(r, vec!["a3 OK Begin TLS negotiation now"]);
    c.handshake().await;
    let r = c.cmd("a5", "CAPABILITY").await;
    assert_eq!(r.len(), 2, "the injected command was answered: {r:?}");
    assert!(r[0].starts_with("* CAPABILITY IMAP4rev1"));
    for cap in [
        "AUTH=PLAIN",
        "AUTH=LOGIN",
        "AUTH=XOAUTH2",
        "AUTH=OAUTHBEARER",
    ] {
        assert!(r[0].contains(cap), "{cap} missing after TLS: {}", r[0]);
    }
    assert!(!r[0].contains("STARTTLS"));
    assert!(!r[0].contains("LOGINDISABLED"));
    let r = c.cmd("a6", "STARTTLS").await;
    assert!(r[0].starts_with("a6 BAD"), "{r:?}");
}

#[tokio::test]
async fn basic_mechanisms_hidden_when_no_policy_allows_them() {
    let e = env().await;
    block_basic_by_default(&e.store).await;
    let c = e.connect_tls().await;
    assert!(c.greeting.contains("LOGINDISABLED"), "{}", c.greeting);
    assert!(!c.greeting.contains("AUTH=PLAIN"));
    assert!(c.greeting.contains("AUTH=XOAUTH2"));
    assert!(!c.greeting.contains("STARTTLS"));
}

#[tokio::test]
async fn bearer_mechanisms() {
    let e = env().await;
    let alice = e.user("alice").await;
    let upn = alice.upn.to_string();
    let token = e.token(&alice).await;

    // XOAUTH2 with SASL-IR.
    let mut c = e.connect_tls().await;
    let ir = mailward_sasl::encode(&mailward_sasl::client::xoauth2(&upn, &token));
    let r = c.cmd("a1", &format!("AUTHENTICATE XOAUTH2 {ir}")).await;
    assert!(r[0].starts_with("a1 OK [CAPABILITY IMAP4rev1"), "{r:?}");
    assert!(
        !r[0].contains("AUTH="),
        "no AUTH= after authentication: {r:?}"
    );
    let r = c.cmd("a2", "LOGIN x y").await;
    assert!(r[0].starts_with("a2 BAD"), "{r:?}");
    c.ok("a3", "SELECT INBOX").await;

    // OAUTHBEARER without an initial response: empty challenge first (imaplib's way).
    let mut c = e.connect_tls().await;
    c.send(b"b1 AUTHENTICATE OAUTHBEARER\r\n").await;
    let cont = c.read().await.expect("continuation");
    assert_eq!(cont, "+ ");
    let msg = mailward_sasl::client::oauthbearer(Some(&upn), Some("localhost"), Some(993), &token);
    c.send(format!("{}\r\n", mailward_sasl::encode(&msg)).as_bytes())
        .await;
    let r = c.until_tagged("b1").await;
    assert!(r[0].starts_with("b1 OK"), "{r:?}");

    // A bad token: the JSON error challenge, the client's dummy answer, then NO.
    let mut c = e.connect_tls().await;
    let bad = mailward_sasl::client::oauthbearer(Some(&upn), None, None, "not.a.token");
    c.send(
        format!(
            "c1 AUTHENTICATE OAUTHBEARER {}\r\n",
            mailward_sasl::encode(&bad)
        )
        .as_bytes(),
    )
    .await;
    let challenge = c.read().await.expect("error challenge");
    let json = base64::engine::general_purpose::STANDARD
        .decode(challenge.strip_prefix("+ ").expect("continuation"))
        .expect("base64");
    let json: serde_json::Value = serde_json::from_slice(&json).expect("json");
    assert_eq!(json["status"], "invalid_token");
    c.send(b"AQ==\r\n").await;
    let r = c.until_tagged("c1").await;
    assert_eq!(
        r,
        vec!["c1 NO [AUTHENTICATIONFAILED] Authentication failed"]
    );

    // XOAUTH2 bad token, and a cancelled exchange.
    let bad = mailward_sasl::client::xoauth2(&upn, "garbage");
    c.send(
        format!(
            "c2 AUTHENTICATE XOAUTH2 {}\r\n",
            mailward_sasl::encode(&bad)
        )
        .as_bytes(),
    )
    .await;
    let challenge = c.read().await.expect("error challenge");
    assert!(challenge.starts_with("+ ey"), "{challenge}");
    c.send(b"\r\n").await;
    let r = c.until_tagged("c2").await;
    assert!(r[0].starts_with("c2 NO [AUTHENTICATIONFAILED]"), "{r:?}");
    c.send(b"c3 AUTHENTICATE XOAUTH2\r\n").await;
    assert_eq!(c.read().await.as_deref(), Some("+ "));
    c.send(b"*\r\n").await;
    let r = c.until_tagged("c3").await;
    assert!(r[0].starts_with("c3 BAD"), "{r:?}");
    // Garbage that is not base64.
    c.send(b"c4 AUTHENTICATE XOAUTH2\r\n").await;
    assert_eq!(c.read().await.as_deref(), Some("+ "));
    c.send(b"%%%not base64%%%\r\n").await;
    let r = c.until_tagged("c4").await;
    // Third failure on this connection: NO, then BYE and close.
    assert!(r.iter().any(|l| l.starts_with("* BYE")), "{r:?}");
    assert!(
        r.last()
            .expect("tagged")
            .starts_with("c4 NO [AUTHENTICATIONFAILED]"),
        "{r:?}"
    );
    assert!(c.closed().await.is_empty());

    let r = e
        .connect_tls()
        .await
        .cmd("d1", "AUTHENTICATE CRAM-MD5")
        .await;
    assert!(r[0].starts_with("d1 NO"), "{r:?}");
}

#[tokio::test]
async fn login_and_plain_where_policy_allows() {
    let e = env().await;
    allow_basic_imap(&e.store).await;
    let bob = e.user("bob").await;
    let upn = bob.upn.to_string();

    let mut c = e.connect_tls().await;
    let r = c
        .cmd("a1", &format!("LOGIN {upn} \"{}\"", mail::PASSWORD))
        .await;
    assert!(r[0].starts_with("a1 OK"), "{r:?}");
    c.ok("a2", "LOGOUT").await;

    let mut c = e.connect_tls().await;
    let r = c
        .cmd("b1", &format!("LOGIN {upn} \"wrong password\""))
        .await;
    assert_eq!(
        r,
        vec!["b1 NO [AUTHENTICATIONFAILED] Authentication failed"]
    );
    // Unknown users get the same answer.
    let r = c
        .cmd("b2", "LOGIN nobody@contoso.test \"wrong password\"")
        .await;
    assert_eq!(
        r,
        vec!["b2 NO [AUTHENTICATIONFAILED] Authentication failed"]
    );
    // AUTHENTICATE PLAIN with SASL-IR still works on this connection...
    let ir = mailward_sasl::encode(&mailward_sasl::client::plain("", &upn, mail::PASSWORD));
    let r = c.cmd("b3", &format!("AUTHENTICATE PLAIN {ir}")).await;
    assert!(r[0].starts_with("b3 OK"), "{r:?}");

    // LOGIN mechanism, step by step.
    let mut c = e.connect_tls().await;
    c.send(b"c1 AUTHENTICATE LOGIN\r\n").await;
    assert_eq!(c.read().await.as_deref(), Some("+ VXNlcm5hbWU6"));
    c.send(format!("{}\r\n", mailward_sasl::encode(upn.as_bytes())).as_bytes())
        .await;
    assert_eq!(c.read().await.as_deref(), Some("+ UGFzc3dvcmQ6"));
    c.send(format!("{}\r\n", mailward_sasl::encode(mail::PASSWORD.as_bytes())).as_bytes())
        .await;
    let r = c.until_tagged("c1").await;
    assert!(r[0].starts_with("c1 OK"), "{r:?}");

    // Three failures: BYE.
    let mut c = e.connect_tls().await;
    for i in 0..2 {
        let r = c
            .cmd(&format!("d{i}"), &format!("LOGIN {upn} bad{i}"))
            .await;
        assert!(r[0].contains("AUTHENTICATIONFAILED"), "{r:?}");
    }
    let r = c.cmd("d2", &format!("LOGIN {upn} bad2")).await;
    assert!(r[0].starts_with("* BYE"), "{r:?}");
    assert!(c.closed().await.is_empty());
}

#[tokio::test]
async fn wrong_state_and_bad_commands() {
    let e = env().await;
    let mut c = e.connect_tls().await;
    for (cmd, want) in [
        ("SELECT INBOX", "BAD"),
        ("LIST \"\" *", "BAD"),
        ("FETCH 1 FLAGS", "BAD"),
        ("IDLE", "BAD"),
        ("FROBNICATE", "BAD Unknown command"),
        ("FETCH", "BAD"),
        ("SELECT", "BAD Syntax error in SELECT arguments"),
        ("NOOP", "OK"),
        ("ID (\"name\" \"test\")", "OK"),
    ] {
        let r = c.cmd("w", cmd).await;
        assert!(
            r.last().expect("tagged").starts_with(&format!("w {want}")),
            "{cmd}: {r:?}"
        );
    }
    c.send(b"* NOOP\r\n").await;
    assert_eq!(c.read().await.as_deref(), Some("* BAD Syntax error"));
    c.send(b"\r\n\r\n").await; // blank lines are ignored
    c.ok("x", "NOOP").await;

    let alice = e.user("alice").await;
    let mut c = e.login(&alice).await;
    for (cmd, want) in [
        ("FETCH 1 FLAGS", "BAD No mailbox selected"),
        ("EXPUNGE", "BAD"),
        ("CLOSE", "BAD"),
        ("UID STORE 1 +FLAGS (\\Seen)", "BAD"),
        ("AUTHENTICATE PLAIN", "BAD"),
        ("STARTTLS", "BAD"),
        ("SELECT Nonexistent", "NO [NONEXISTENT]"),
        ("ENABLE CONDSTORE", "OK"),
        ("NAMESPACE", "OK"),
    ] {
        let r = c.cmd("w", cmd).await;
        assert!(
            r.last().expect("tagged").starts_with(&format!("w {want}")),
            "{cmd}: {r:?}"
        );
    }
    let r = c.ok("l", "LOGOUT").await;
    assert!(r[0].starts_with("* BYE"));
    assert!(c.closed().await.is_empty());
}

#[tokio::test]
async fn identity_unreachable_is_unavailable() {
    let e = env().await;
    let alice = e.user("alice").await;
    let token = e.token(&alice).await;
    let ir = mailward_sasl::encode(&mailward_sasl::client::xoauth2(alice.upn.as_str(), &token));
    // Stop identity before the first token check, so its signing keys cannot be fetched.
    let port = e.t.port;
    let Env {
        t,
        tls,
        ca_pem,
        server: _server,
        store: _store,
        dir: _dir,
        ..
    } = e;
    drop(t);
    // Identity is gone once its port refuses connections.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_ok()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "identity still listening"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await; // polling interval
    }
    let mut c = Client::tls(tls, &ca_pem).await;
    let r = c.cmd("a1", &format!("AUTHENTICATE XOAUTH2 {ir}")).await;
    assert_eq!(
        r,
        vec!["a1 NO [UNAVAILABLE] Authentication is temporarily unavailable"]
    );
}
