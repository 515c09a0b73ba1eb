//! SMTP submission over real TCP and TLS against a real identity, mail store and
//! authentication pipeline: XOAUTH2/OAUTHBEARER and the bearer error challenge, basic
//! authentication blocked by default and allowed by policy, sender ownership, SIZE and
//! the DATA size limit, local delivery read back over POP3, a remote recipient queued and
//! relayed (with a retry) to an SMTP sink started by the test, STARTTLS discarding
//! pipelined plaintext, and bad input.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use mailward_authpolicy::Protocol;
use mailward_mailstore::MailStore;
use mailward_smtp::{Relay, RelayConfig};
use mailward_testkit::mail;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// EHLO; returns the keywords of the reply (without `250-` / `250 `).
async fn ehlo<S: AsyncRead + AsyncWrite + Unpin>(c: &mut Client<S>) -> Vec<String> {
    c.send("EHLO client.example\r\n").await;
    let lines = c.reply().await;
    assert!(lines.iter().all(|l| l.starts_with("250")), "{lines:?}");
    lines.iter().map(|l| l[4..].to_string()).collect()
}

async fn authed(
    e: &Env,
    upn: &str,
    token: &str,
) -> Client<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let mut c = e.tls().await;
    assert!(c.line().await.starts_with("220 "));
    ehlo(&mut c).await;
    let r = c
        .cmd(&format!("AUTH XOAUTH2 {}", xoauth2(upn, token)))
        .await;
    assert_eq!(r, "235 2.7.0 Authentication successful");
    c
}

#[tokio::test]
async fn bearer_auth_and_local_delivery_read_back_over_pop3() {
    let e = env().await;
    block_by_default(&e.store).await;
    let alice = mail::add_user(&e.t, "alice").await;
    let bob = mail::add_user(&e.t, "bob").await;
    e.account(&bob).await;
    let token = e.token(&alice, &["SMTP.Send"]).await;

    let mut c = e.tls().await;
    assert_eq!(c.line().await, "220 mail.contoso.test ESMTP mailward ready");
    let caps = ehlo(&mut c).await;
    assert!(
        caps.contains(&"AUTH OAUTHBEARER XOAUTH2".to_string()),
        "{caps:?}"
    );
    assert!(caps.contains(&"SIZE 65536".to_string()), "{caps:?}");
    for ext in ["8BITMIME", "PIPELINING"] {
        assert!(caps.iter().any(|l| l.ends_with(ext)), "{caps:?}");
    }
    assert!(caps.contains(&"ENHANCEDSTATUSCODES".to_string()));
    assert!(!caps.iter().any(|l| l.contains("STARTTLS")));
    // MAIL before AUTH.
    assert!(
        c.cmd("MAIL FROM:<alice@contoso.test>")
            .await
            .starts_with("530 5.7.0")
    );
    // OAUTHBEARER through a continuation.
    assert_eq!(c.cmd("AUTH OAUTHBEARER").await, "334 ");
    assert_eq!(
        c.cmd(&oauthbearer(alice.upn.as_str(), &token)).await,
        "235 2.7.0 Authentication successful"
    );
    assert!(
        c.cmd("AUTH PLAIN AGEAYg==").await.starts_with("503"),
        "already authenticated"
    );
    // Not her address.
    assert!(
        c.cmd("MAIL FROM:<bob@contoso.test>")
            .await
            .starts_with("553 5.7.1")
    );
    assert!(c.cmd("MAIL FROM:<>").await.starts_with("553 5.7.1"));
    // SIZE over the limit.
    assert!(
        c.cmd("MAIL FROM:<alice@contoso.test> SIZE=100000")
            .await
            .starts_with("552 5.3.4")
    );
    assert_eq!(
        c.cmd("MAIL FROM:<Alice@Contoso.test> SIZE=500 BODY=8BITMIME")
            .await,
        "250 2.1.0 Sender OK"
    );
    assert!(
        c.cmd("MAIL FROM:<alice@contoso.test>")
            .await
            .starts_with("503"),
        "nested MAIL"
    );
    assert_eq!(
        c.cmd("RCPT TO:<bob@contoso.test>").await,
        "250 2.1.5 Recipient OK"
    );
    assert!(
        c.cmd("RCPT TO:<nobody@contoso.test>")
            .await
            .starts_with("550 5.1.1")
    );
    assert!(c.cmd("VRFY bob").await.starts_with("502"));
    assert!(c.cmd("DATA").await.starts_with("354"));
    c.send("Subject: hello\r\nFrom: alice@contoso.test\r\n\r\nHi Bob,\r\n..a dotted line\r\n.\r\n")
        .await;
    assert_eq!(c.line().await, "250 2.0.0 Message accepted for delivery");
    assert_eq!(c.cmd("QUIT").await, "221 2.0.0 Bye");

    // Bob reads it over POP3.
    let pop_token = e.token(&bob, &["POP.AccessAsUser.All"]).await;
    let mut p = e.pop().await;
    p.line().await;
    assert!(
        p.cmd(&format!(
            "AUTH XOAUTH2 {}",
            xoauth2(bob.upn.as_str(), &pop_token)
        ))
        .await
        .starts_with("+OK maildrop has 1 messages")
    );
    p.send("RETR 1\r\n").await;
    assert!(p.line().await.starts_with("+OK"));
    let lines = p.multiline().await;
    assert!(
        lines[0].starts_with("Received: from client.example ([127.0.0.1])"),
        "{lines:?}"
    );
    assert!(lines.contains(&"Subject: hello".to_string()), "{lines:?}");
    assert!(
        lines.contains(&"..a dotted line".to_string()),
        "unstuffed once by SMTP, stuffed again by POP3: {lines:?}"
    );
    // Nothing was queued for relay; alice's own mailbox got no copy.
    assert!(e.store.queue().await.unwrap().is_empty());
}

#[tokio::test]
async fn rejected_token_gets_the_error_challenge_then_535() {
    let e = env().await;
    let u = mail::add_user(&e.t, "carol").await;
    let token = e.token(&u, &["IMAP.AccessAsUser.All"]).await;
    let mut c = e.tls().await;
    c.line().await;
    ehlo(&mut c).await;
    let r = c
        .cmd(&format!("AUTH XOAUTH2 {}", xoauth2(u.upn.as_str(), &token)))
        .await;
    let challenge = r.strip_prefix("334 ").expect("error challenge");
    let json = String::from_utf8(
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, challenge).unwrap(),
    )
    .unwrap();
    assert!(
        json.contains("\"status\":\"403\"") && json.contains("SMTP.Send"),
        "{json}"
    );
    assert_eq!(
        c.cmd("").await,
        "535 5.7.8 Authentication credentials invalid"
    );
    // Garbage SASL.
    assert!(c.cmd("AUTH XOAUTH2 %%%").await.starts_with("501"));
    assert!(c.cmd("AUTH CRAM-MD5").await.starts_with("504"));
    assert_eq!(c.cmd("AUTH OAUTHBEARER").await, "334 ");
    assert!(c.cmd("*").await.starts_with("501 5.0.0"));
}

#[tokio::test]
async fn basic_blocked_by_default_then_allowed_for_smtp() {
    let e = env().await;
    block_by_default(&e.store).await;
    let u = mail::add_user(&e.t, "dave").await;
    let a = e.account(&u).await;
    let upn = u.upn.as_str();
    let mut c = e.tls().await;
    c.line().await;
    let caps = ehlo(&mut c).await;
    assert!(
        caps.contains(&"AUTH OAUTHBEARER XOAUTH2".to_string()),
        "{caps:?}"
    );
    assert!(
        c.cmd(&format!("AUTH PLAIN {}", plain(upn, mail::PASSWORD)))
            .await
            .starts_with("504")
    );
    assert_eq!(e.pipeline.metrics().password_checks, 0);
    assert_eq!(e.signin_count(upn).await, 0);

    // Allowed for IMAP only: SMTP still offers no password mechanism.
    e.store
        .put_auth_policy(&allow_basic("IMAP", &[Protocol::Imap]))
        .await
        .unwrap();
    e.store
        .set_account_policy(a.id, Some("IMAP"))
        .await
        .unwrap();
    let mut c = e.tls().await;
    c.line().await;
    assert!(
        ehlo(&mut c)
            .await
            .contains(&"AUTH OAUTHBEARER XOAUTH2".to_string())
    );
    // Allowed for SMTP.
    e.store
        .put_auth_policy(&allow_basic("SMTP", &[Protocol::Smtp]))
        .await
        .unwrap();
    e.store
        .set_account_policy(a.id, Some("SMTP"))
        .await
        .unwrap();
    let mut c = e.tls().await;
    c.line().await;
    let caps = ehlo(&mut c).await;
    assert!(
        caps.contains(&"AUTH OAUTHBEARER XOAUTH2 PLAIN LOGIN".to_string()),
        "{caps:?}"
    );
    assert!(
        c.cmd(&format!("AUTH PLAIN {}", plain(upn, "wrong password")))
            .await
            .starts_with("535 5.7.8")
    );
    assert_eq!(
        c.cmd(&format!("AUTH PLAIN {}", plain(upn, mail::PASSWORD)))
            .await,
        "235 2.7.0 Authentication successful"
    );
    assert_eq!(
        c.cmd(&format!("MAIL FROM:<{upn}>")).await,
        "250 2.1.0 Sender OK"
    );
}

#[tokio::test]
async fn starttls_discards_pipelined_plaintext_and_auth_needs_tls() {
    let e = env().await;
    let u = mail::add_user(&e.t, "erin").await;
    let token = e.token(&u, &["SMTP.Send"]).await;
    let mut c = e.plain().await;
    c.line().await;
    let caps = ehlo(&mut c).await;
    assert!(caps.contains(&"STARTTLS".to_string()), "{caps:?}");
    assert!(!caps.iter().any(|l| l.contains("AUTH")), "{caps:?}");
    assert!(
        c.cmd(&format!("AUTH XOAUTH2 {}", xoauth2(u.upn.as_str(), &token)))
            .await
            .starts_with("538 5.7.11")
    );
    c.send("STARTTLS\r\nMAIL FROM:<erin@contoso.test>\r\n")
        .await;
    assert_eq!(c.line().await, "220 2.0.0 Ready to start TLS");
    let mut c = c.tls(&e.connector).await;
    // The session starts over: EHLO first; the pipelined MAIL was dropped.
    assert!(c.cmd("NOOP").await.starts_with("250"));
    assert!(
        c.cmd(&format!("AUTH XOAUTH2 {}", xoauth2(u.upn.as_str(), &token)))
            .await
            .starts_with("503 5.5.1 Send EHLO")
    );
    let caps = ehlo(&mut c).await;
    assert!(!caps.iter().any(|l| l.contains("STARTTLS")), "{caps:?}");
    assert_eq!(
        c.cmd(&format!("AUTH XOAUTH2 {}", xoauth2(u.upn.as_str(), &token)))
            .await,
        "235 2.7.0 Authentication successful"
    );
}

#[tokio::test]
async fn size_limit_disconnect_and_bad_input_store_nothing() {
    let e = env().await;
    let alice = mail::add_user(&e.t, "frank").await;
    let bob = mail::add_user(&e.t, "gina").await;
    let b = e.account(&bob).await;
    let token = e.token(&alice, &["SMTP.Send"]).await;
    let inbox_count = || async {
        let inbox = e
            .store
            .folder_by_role(b.id, mailward_mailstore::SpecialUse::Inbox)
            .await
            .unwrap()
            .unwrap();
        e.store.messages(inbox.id).await.unwrap().len()
    };

    let mut c = authed(&e, alice.upn.as_str(), &token).await;
    // Unknown commands, wrong state, syntax.
    assert!(c.cmd("FROB").await.starts_with("500 5.5.2"));
    assert!(
        c.cmd("RCPT TO:<gina@contoso.test>")
            .await
            .starts_with("503")
    );
    assert!(c.cmd("DATA").await.starts_with("503"));
    assert!(
        c.cmd("MAIL FROM:frank@contoso.test")
            .await
            .starts_with("501")
    );
    assert!(
        c.cmd("MAIL FROM:<frank@contoso.test> FOO=BAR")
            .await
            .starts_with("555")
    );
    assert!(c.cmd("BDAT 10 LAST").await.starts_with("502"));
    assert!(
        c.cmd(&format!("NOOP {}", "x".repeat(30_000)))
            .await
            .starts_with("500 5.5.6")
    );
    // Pipelined transaction: MAIL, RCPT (one bad), DATA in one write.
    c.send("MAIL FROM:<frank@contoso.test>\r\nRCPT TO:<nobody@contoso.test>\r\nRCPT TO:<gina@contoso.test>\r\nDATA\r\n").await;
    assert!(c.line().await.starts_with("250 2.1.0"));
    assert!(c.line().await.starts_with("550 5.1.1"));
    assert!(c.line().await.starts_with("250 2.1.5"));
    assert!(c.line().await.starts_with("354"));
    // Too large: read to the end, refused, nothing stored.
    let big = format!(
        "Subject: big\r\n\r\n{}",
        "0123456789abcdef\r\n".repeat(5000)
    );
    c.send(&big).await;
    c.send(".\r\n").await;
    assert!(c.line().await.starts_with("552 5.3.4"));
    assert_eq!(inbox_count().await, 0);
    // The session goes on: RSET, and a message whose connection drops mid-DATA.
    assert_eq!(c.cmd("RSET").await, "250 2.0.0 OK");
    c.send("MAIL FROM:<frank@contoso.test>\r\nRCPT TO:<gina@contoso.test>\r\nDATA\r\n")
        .await;
    for _ in 0..3 {
        c.line().await;
    }
    c.send("Subject: cut\r\n\r\nthe connection drops before the dot\r\n")
        .await;
    c.hang_up().await;
    assert_eq!(inbox_count().await, 0, "disconnect mid-DATA stores nothing");
    assert!(e.store.queue().await.unwrap().is_empty());
    // A bare "." line with dot-stuffing stays in content; a complete message gets stored.
    let mut c = authed(&e, alice.upn.as_str(), &token).await;
    c.send("MAIL FROM:<frank@contoso.test>\r\nRCPT TO:<gina@contoso.test>\r\nDATA\r\nSubject: ok\r\n\r\n..\r\n.\r\n").await;
    for _ in 0..3 {
        c.line().await;
    }
    assert_eq!(c.line().await, "250 2.0.0 Message accepted for delivery");
    assert_eq!(inbox_count().await, 1);
    // Too many errors close the connection.
    let mut last = String::new();
    for _ in 0..30 {
        last = c.cmd("FROB").await;
        if !last.starts_with("500") {
            break;
        }
    }
    assert!(last.starts_with("421"), "{last}");
    assert!(c.closed().await);
}

/// What the SMTP sink received.
#[derive(Debug, Clone, Default)]
struct Sink {
    messages: Vec<(String, Vec<String>, String)>,
    /// Reply to RCPT (e.g. `451 4.3.0 try later`).
    rcpt_reply: String,
}

/// A minimal SMTP server standing in for the smarthost (an external peer): EHLO,
/// STARTTLS, MAIL, RCPT, DATA, QUIT.
async fn start_sink(tls: Arc<rustls::ServerConfig>, state: Arc<Mutex<Sink>>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("sink");
    let port = listener.local_addr().expect("sink").port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let state = state.clone();
            let acceptor = tokio_rustls::TlsAcceptor::from(tls.clone());
            tokio::spawn(async move {
                let mut io = BufReader::new(tcp);
                io.get_mut()
                    .write_all(b"220 sink ready\r\n")
                    .await
                    .expect("sink");
                if sink_session(&mut io, &state).await {
                    let tls = acceptor.accept(io.into_inner()).await.expect("sink");
                    let mut io = BufReader::new(tls);
                    sink_session(&mut io, &state).await;
                }
            });
        }
    });
    port
}

/// Returns true when the client asked for STARTTLS.
async fn sink_session<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut BufReader<S>,
    state: &Arc<Mutex<Sink>>,
) -> bool {
    let (mut from, mut rcpts) = (String::new(), Vec::new());
    loop {
        let mut line = String::new();
        if io.read_line(&mut line).await.unwrap_or(0) == 0 {
            return false;
        }
        let line = line.trim_end().to_string();
        let upper = line.to_ascii_uppercase();
        let reply = if upper.starts_with("EHLO") {
            "250-sink\r\n250 STARTTLS".to_string()
        } else if upper == "STARTTLS" {
            io.get_mut()
                .write_all(b"220 go ahead\r\n")
                .await
                .expect("sink");
            return true;
        } else if let Some(f) = upper.strip_prefix("MAIL FROM:") {
            from = f.to_string();
            "250 ok".into()
        } else if upper.starts_with("RCPT TO:") {
            let r = state.lock().expect("sink").rcpt_reply.clone();
            if r.starts_with('2') {
                rcpts.push(line[8..].to_string());
            }
            r
        } else if upper == "DATA" {
            io.get_mut().write_all(b"354 go\r\n").await.expect("sink");
            let mut data = String::new();
            loop {
                let mut l = String::new();
                io.read_line(&mut l).await.expect("sink");
                if l == ".\r\n" {
                    break;
                }
                data.push_str(&l);
            }
            state
                .lock()
                .expect("sink")
                .messages
                .push((from.clone(), rcpts.clone(), data));
            "250 queued".into()
        } else if upper == "QUIT" {
            io.get_mut().write_all(b"221 bye\r\n").await.expect("sink");
            return false;
        } else {
            "250 ok".into()
        };
        io.get_mut()
            .write_all(format!("{reply}\r\n").as_bytes())
            .await
            .expect("sink");
    }
}

#[tokio::test]
async fn remote_recipient_is_queued_and_relayed_with_retry() {
    let e = env().await;
    let u = mail::add_user(&e.t, "hank").await;
    let token = e.token(&u, &["SMTP.Send"]).await;
    let mut c = authed(&e, u.upn.as_str(), &token).await;
    c.send("MAIL FROM:<hank@contoso.test>\r\nRCPT TO:<friend@example.net>\r\nDATA\r\nSubject: out\r\n\r\n..hidden dot\r\nbye\r\n.\r\n").await;
    assert!(c.line().await.starts_with("250"));
    assert_eq!(c.line().await, "250 2.1.5 Recipient OK");
    assert!(c.line().await.starts_with("354"));
    assert_eq!(c.line().await, "250 2.0.0 Message accepted for delivery");
    let queue = e.store.queue().await.unwrap();
    assert_eq!(queue.len(), 1);
    assert_eq!(queue[0].recipients, vec!["friend@example.net".to_string()]);
    assert_eq!(queue[0].from, "hank@contoso.test");

    let ca = mailward_net::ca::ensure(e.dir.path(), &[], mailward_types::clock::now()).unwrap();
    let tls = mailward_net::server_config(&ca.server_cert, &ca.server_key).unwrap();
    let sink = Arc::new(Mutex::new(Sink {
        rcpt_reply: "451 4.3.0 try later".into(),
        ..Sink::default()
    }));
    let port = start_sink(tls, sink.clone()).await;
    let mut cfg = RelayConfig::new("localhost", port, "mail.contoso.test");
    cfg.ca_file = Some(e.ca_pem.clone());
    cfg.timeout = std::time::Duration::from_secs(10);
    let store: Arc<dyn MailStore> = e.store.clone();
    let relay = Relay::new(store, cfg).unwrap();

    let now = mailward_types::clock::now();
    let r = relay.run_once(now).await;
    assert_eq!((r.delivered, r.retried, r.failed), (0, 1, 0));
    let q = e.store.queue().await.unwrap();
    assert_eq!(q[0].attempts, 1);
    assert!(
        q[0].last_error.as_deref().unwrap_or("").contains("451"),
        "{q:?}"
    );
    assert_eq!(q[0].next_attempt, Some(now + time::Duration::minutes(1)));
    // Not due yet.
    assert_eq!(relay.run_once(now).await, Default::default());

    sink.lock().unwrap().rcpt_reply = "250 ok".into();
    let r = relay.run_once(now + time::Duration::minutes(2)).await;
    assert_eq!((r.delivered, r.retried, r.failed), (1, 0, 0));
    assert!(e.store.queue().await.unwrap().is_empty());
    let got = sink.lock().unwrap().messages.clone();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, "<HANK@CONTOSO.TEST>");
    assert_eq!(got[0].1, vec!["<friend@example.net>".to_string()]);
    assert!(got[0].2.contains("Subject: out\r\n"), "{:?}", got[0].2);
    assert!(
        got[0].2.contains("\r\n..hidden dot\r\n"),
        "dot-stuffed on the wire: {:?}",
        got[0].2
    );
}

#[tokio::test]
async fn without_a_relay_a_remote_recipient_is_refused_at_rcpt() {
    let e = env_with(|c| c.relay = false).await;
    let u = mail::add_user(&e.t, "jack").await;
    let token = e.token(&u, &["SMTP.Send"]).await;
    e.account(&u).await;
    let mut c = authed(&e, u.upn.as_str(), &token).await;
    assert_eq!(
        c.cmd("MAIL FROM:<jack@contoso.test>").await,
        "250 2.1.0 Sender OK"
    );
    assert_eq!(
        c.cmd("RCPT TO:<friend@example.net>").await,
        "550 5.4.4 Recipient address rejected: no route to other domains (no smarthost is configured)"
    );
    // Local recipients still work in the same transaction.
    assert_eq!(
        c.cmd("RCPT TO:<jack@contoso.test>").await,
        "250 2.1.5 Recipient OK"
    );
    assert!(c.cmd("DATA").await.starts_with("354"));
    c.send("Subject: only local\r\n\r\nx\r\n.\r\n").await;
    assert_eq!(c.line().await, "250 2.0.0 Message accepted for delivery");
    // A transaction with only the remote recipient has none to send to.
    assert_eq!(
        c.cmd("MAIL FROM:<jack@contoso.test>").await,
        "250 2.1.0 Sender OK"
    );
    assert!(
        c.cmd("RCPT TO:<x@example.org>")
            .await
            .starts_with("550 5.4.4")
    );
    assert!(c.cmd("DATA").await.starts_with("554 5.5.1"));
    assert!(e.store.queue().await.unwrap().is_empty(), "nothing queued");
}

#[tokio::test]
async fn permanent_relay_failure_gives_up() {
    let e = env().await;
    let u = mail::add_user(&e.t, "ivy").await;
    let token = e.token(&u, &["SMTP.Send"]).await;
    let mut c = authed(&e, u.upn.as_str(), &token).await;
    c.send("MAIL FROM:<ivy@contoso.test>\r\nRCPT TO:<x@example.org>\r\nDATA\r\nSubject: x\r\n\r\nx\r\n.\r\n").await;
    for _ in 0..4 {
        c.line().await;
    }
    let ca = mailward_net::ca::ensure(e.dir.path(), &[], mailward_types::clock::now()).unwrap();
    let tls = mailward_net::server_config(&ca.server_cert, &ca.server_key).unwrap();
    let sink = Arc::new(Mutex::new(Sink {
        rcpt_reply: "550 5.1.1 no such user".into(),
        ..Sink::default()
    }));
    let port = start_sink(tls, sink.clone()).await;
    let mut cfg = RelayConfig::new("localhost", port, "mail.contoso.test");
    cfg.ca_file = Some(e.ca_pem.clone());
    let relay = Relay::new(e.store.clone(), cfg).unwrap();
    let r = relay.run_once(mailward_types::clock::now()).await;
    assert_eq!((r.delivered, r.retried, r.failed), (0, 0, 1));
    let q = e.store.queue().await.unwrap();
    assert_eq!(q[0].state, "failed", "{q:?}");
    assert_eq!(q[0].next_attempt, None);
    assert!(sink.lock().unwrap().messages.is_empty());
}
