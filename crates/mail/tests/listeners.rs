//! The protocol listeners [`mailward_mail::Mail::run`] serves, end to end over real TLS:
//! SMTP submission (XOAUTH2) delivers to another local mailbox, IMAP (OAUTHBEARER) and
//! POP3 (XOAUTH2) read it, the REST API sees it; the STARTTLS listeners greet; basic
//! authentication is refused by the first start's default policy; shutdown stops the
//! listeners.

mod common;

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::env;
use mailward_mail::Listener;
use mailward_testkit::{DOMAIN, mail};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

type Tls = BufReader<tokio_rustls::client::TlsStream<TcpStream>>;

async fn tls(ca: &std::path::Path, port: u16) -> Tls {
    let pem = std::fs::read(ca).expect("CA");
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(&pem) {
        roots.add(c.expect("cert")).expect("root");
    }
    let cfg = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let s = TlsConnector::from(Arc::new(cfg))
        .connect(ServerName::try_from("localhost").expect("name"), tcp)
        .await
        .expect("TLS handshake");
    BufReader::new(s)
}

async fn line<S: tokio::io::AsyncBufRead + Unpin>(s: &mut S) -> String {
    let mut l = String::new();
    s.read_line(&mut l).await.expect("read");
    l
}

/// Sends a command and reads until a line starting with `done` (returns every line).
async fn cmd(s: &mut Tls, text: &str, done: &str) -> Vec<String> {
    s.get_mut()
        .write_all(format!("{text}\r\n").as_bytes())
        .await
        .expect("write");
    let mut out = vec![];
    loop {
        let l = line(s).await;
        assert!(!l.is_empty(), "connection closed after {text:?}: {out:?}");
        let finished = l.starts_with(done);
        out.push(l);
        if finished {
            return out;
        }
    }
}

fn xoauth2(user: &str, token: &str) -> String {
    STANDARD.encode(format!("user={user}\x01auth=Bearer {token}\x01\x01"))
}

fn oauthbearer(user: &str, token: &str) -> String {
    STANDARD.encode(format!("n,a={user},\x01auth=Bearer {token}\x01\x01"))
}

#[tokio::test]
async fn smtp_delivers_imap_and_pop3_read_over_implicit_tls() {
    let e = env().await;
    let alice = mail::add_user(&e.t, "sam").await;
    let bob = mail::add_user(&e.t, "rita").await;
    e.mailbox(&bob).await;
    let a = e
        .token(&alice, &["SMTP.Send", "IMAP.AccessAsUser.All"])
        .await;
    let b = e
        .token(&bob, &["IMAP.AccessAsUser.All", "POP.AccessAsUser.All"])
        .await;
    let ca = e.t.ca_pem.clone();

    let mut smtp = tls(&ca, e.port(Listener::Submissions)).await;
    assert!(line(&mut smtp).await.starts_with("220 "));
    let ehlo = cmd(&mut smtp, "EHLO client.test", "250 ").await.join("");
    assert!(
        ehlo.contains("AUTH XOAUTH2 OAUTHBEARER") || ehlo.contains("XOAUTH2"),
        "{ehlo}"
    );
    assert!(
        !ehlo.contains("PLAIN"),
        "basic is blocked by default: {ehlo}"
    );
    let r = cmd(
        &mut smtp,
        &format!("AUTH XOAUTH2 {}", xoauth2(alice.upn.as_str(), &a)),
        "2",
    )
    .await;
    assert!(r[0].starts_with("235"), "{r:?}");
    cmd(&mut smtp, &format!("MAIL FROM:<{}>", alice.upn), "250").await;
    cmd(&mut smtp, &format!("RCPT TO:<rita@{DOMAIN}>"), "250").await;
    let r = cmd(&mut smtp, &format!("RCPT TO:<nobody@{DOMAIN}>"), "5").await;
    assert!(r[0].starts_with("550"), "{r:?}");
    cmd(&mut smtp, "DATA", "354").await;
    let r = cmd(
        &mut smtp,
        "Subject: over smtp\r\n\r\nhello rita\r\n.",
        "250",
    )
    .await;
    assert!(r[0].starts_with("250"), "{r:?}");
    cmd(&mut smtp, "QUIT", "221").await;

    let mut imap = tls(&ca, e.port(Listener::Imaps)).await;
    assert!(line(&mut imap).await.starts_with("* OK"));
    let r = cmd(&mut imap, "a CAPABILITY", "a ").await.join("");
    assert!(
        r.contains("LOGINDISABLED") && r.contains("AUTH=OAUTHBEARER"),
        "{r}"
    );
    let r = cmd(
        &mut imap,
        &format!(
            "b AUTHENTICATE OAUTHBEARER {}",
            oauthbearer(bob.upn.as_str(), &b)
        ),
        "b ",
    )
    .await;
    assert!(r.last().is_some_and(|l| l.starts_with("b OK")), "{r:?}");
    let r = cmd(&mut imap, "c SELECT INBOX", "c ").await.join("");
    assert!(r.contains("* 1 EXISTS"), "{r}");
    let r = cmd(&mut imap, "d FETCH 1 BODY[HEADER.FIELDS (SUBJECT)]", "d ")
        .await
        .join("");
    assert!(r.contains("Subject: over smtp"), "{r}");
    cmd(&mut imap, "e LOGOUT", "e ").await;

    let mut pop = tls(&ca, e.port(Listener::Pop3s)).await;
    assert!(line(&mut pop).await.starts_with("+OK"));
    let r = cmd(
        &mut pop,
        &format!("AUTH XOAUTH2 {}", xoauth2(bob.upn.as_str(), &b)),
        "",
    )
    .await;
    assert!(r[0].starts_with("+OK"), "{r:?}");
    let r = cmd(&mut pop, "STAT", "").await;
    assert!(r[0].starts_with("+OK 1 "), "{r:?}");
    let r = cmd(&mut pop, "USER x", "").await;
    assert!(r[0].starts_with("-ERR"), "{r:?}");
    cmd(&mut pop, "QUIT", "+OK").await;

    // Basic authentication is refused by the default policy, before identity is asked.
    let mut imap = tls(&ca, e.port(Listener::Imaps)).await;
    line(&mut imap).await;
    let r = cmd(
        &mut imap,
        &format!("a LOGIN {} \"{}\"", bob.upn, mail::PASSWORD),
        "a ",
    )
    .await;
    assert!(r[0].starts_with("a NO [AUTHENTICATIONFAILED]"), "{r:?}");

    // The message is visible through the REST API too.
    let rest = e.token(&bob, &["Mail.ReadWrite"]).await;
    let body: serde_json::Value = e
        .client()
        .get(e.at("/v1.0/me/mailFolders/inbox/messages"))
        .bearer_auth(&rest)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(body["value"][0]["subject"], "over smtp");
    assert_eq!(
        body["value"][0]["from"],
        serde_json::Value::Null,
        "no From header was sent"
    );
}

#[tokio::test]
async fn starttls_listeners_greet_in_plaintext() {
    let e = env().await;
    for (l, greeting) in [
        (Listener::Imap, "* OK"),
        (Listener::Pop3, "+OK"),
        (Listener::Submission, "220 "),
    ] {
        let tcp = TcpStream::connect(("127.0.0.1", e.port(l)))
            .await
            .expect("connect");
        let mut r = BufReader::new(tcp);
        let g = line(&mut r).await;
        assert!(g.starts_with(greeting), "{l:?}: {g}");
    }
}

#[tokio::test]
async fn shutdown_stops_the_listeners() {
    let e = env().await;
    let ports: Vec<u16> = e.addrs.values().map(|a| a.port()).collect();
    assert_eq!(ports.len(), 7);
    for p in &ports {
        TcpStream::connect(("127.0.0.1", *p))
            .await
            .expect("listening");
    }
    e.shutdown().await;
    for p in ports {
        assert!(
            TcpStream::connect(("127.0.0.1", p)).await.is_err(),
            "port {p} still accepts after shutdown"
        );
    }
}

/// The SASL mechanisms a fresh connection advertises: SMTP's `AUTH` line after EHLO and
/// POP3's `SASL` line of CAPA, both over implicit TLS.
async fn advertised(e: &common::Env) -> (String, String) {
    let mut smtp = tls(&e.t.ca_pem, e.port(Listener::Submissions)).await;
    line(&mut smtp).await;
    let ehlo = cmd(&mut smtp, "EHLO client.test", "250 ").await;
    let auth = ehlo
        .iter()
        .find(|l| l[4..].starts_with("AUTH "))
        .cloned()
        .unwrap_or_default();
    let mut pop = tls(&e.t.ca_pem, e.port(Listener::Pop3s)).await;
    line(&mut pop).await;
    let capa = cmd(&mut pop, "CAPA", ".").await;
    let sasl = capa
        .iter()
        .find(|l| l.starts_with("SASL "))
        .cloned()
        .unwrap_or_default();
    (auth.trim().to_string(), sasl.trim().to_string())
}

#[tokio::test]
async fn a_policy_change_by_another_process_is_advertised_on_the_next_connection() {
    let e = env().await;
    let (auth, sasl) = advertised(&e).await;
    assert!(!auth.contains("PLAIN"), "blocked by default: {auth}");
    assert!(!sasl.contains("PLAIN"), "blocked by default: {sasl}");

    // What `mailward authpolicy` and `org set` do: their own store on the data directory.
    let cli = mailward_mailstore::sqlite::SqliteMailStore::open(&e.dir.path().join("mail"))
        .await
        .expect("second store on the same data");
    use mailward_authpolicy::{AuthenticationPolicy, PolicyName, Protocol, Switch, SwitchKind};
    use mailward_mailstore::MailStore;
    let mut policy = AuthenticationPolicy::new(PolicyName::try_from("AllowPopSmtp").expect("name"));
    for p in [Protocol::Pop, Protocol::Smtp] {
        policy.set(
            Switch::new(SwitchKind::AllowBasicAuth, p).expect("switch"),
            true,
        );
    }
    cli.put_auth_policy(&policy).await.expect("put policy");
    cli.set_default_auth_policy(Some("AllowPopSmtp"))
        .await
        .expect("default");

    let (auth, sasl) = advertised(&e).await;
    assert!(auth.contains("PLAIN") && auth.contains("LOGIN"), "{auth}");
    assert!(sasl.contains("PLAIN"), "{sasl}");
}
