//! POP3 over real TCP and TLS against a real identity, mail store and authentication
//! pipeline: XOAUTH2 and OAUTHBEARER (initial response and continuation), the bearer
//! error challenge, basic authentication blocked by the default policy and then allowed
//! by a user's policy, STLS (with pipelined plaintext discarded), the TRANSACTION
//! commands with byte-stuffing, deletions applied only at QUIT, and bad input.

mod common;

use common::*;
use mailward_authpolicy::Protocol;
use mailward_mailstore::{MailStore, SpecialUse};
use mailward_testkit::mail;

const MSG1: &[u8] = b"From: bob@contoso.test\r\nSubject: one\r\n\r\nfirst line\r\n.dotted line\r\n..two dots\r\nlast\r\n";
const MSG2: &[u8] = b"From: bob@contoso.test\r\nSubject: two\r\n\r\nsecond\r\n";

async fn inbox_uids(e: &Env, account: uuid::Uuid) -> Vec<u32> {
    let inbox = e
        .store
        .folder_by_role(account, SpecialUse::Inbox)
        .await
        .expect("inbox")
        .expect("inbox");
    e.store
        .messages(inbox.id)
        .await
        .expect("inbox")
        .iter()
        .map(|m| m.uid)
        .collect()
}

#[tokio::test]
async fn bearer_sessions_and_transaction_commands() {
    let e = env().await;
    block_by_default(&e.store).await;
    let u = mail::add_user(&e.t, "alice").await;
    let a = e.account(&u).await;
    let now = mailward_types::clock::now();
    e.store.deliver(&[a.id], MSG1, now).await.unwrap();
    e.store.deliver(&[a.id], MSG2, now).await.unwrap();
    let token = e.token(&u, &["POP.AccessAsUser.All"]).await;
    let upn = u.upn.as_str();

    let mut c = e.tls().await;
    assert!(c.line().await.starts_with("+OK"));
    c.send("CAPA\r\n").await;
    assert_eq!(c.line().await, "+OK Capability list follows");
    let capa = c.multiline().await;
    assert!(
        capa.contains(&"SASL OAUTHBEARER XOAUTH2".to_string()),
        "{capa:?}"
    );
    assert!(!capa.iter().any(|l| l == "USER" || l == "STLS"), "{capa:?}");
    assert!(capa.contains(&"RESP-CODES".to_string()));

    // XOAUTH2 with an initial response.
    let r = c
        .cmd(&format!("AUTH XOAUTH2 {}", xoauth2(upn, &token)))
        .await;
    assert!(r.starts_with("+OK maildrop has 2 messages"), "{r}");
    assert_eq!(
        c.cmd("STAT").await,
        format!("+OK 2 {}", MSG1.len() + MSG2.len())
    );
    c.send("LIST\r\n").await;
    assert!(c.line().await.starts_with("+OK"));
    assert_eq!(
        c.multiline().await,
        vec![format!("1 {}", MSG1.len()), format!("2 {}", MSG2.len())]
    );
    assert_eq!(c.cmd("LIST 2").await, format!("+OK 2 {}", MSG2.len()));
    c.send("UIDL\r\n").await;
    assert!(c.line().await.starts_with("+OK"));
    let uidl = c.multiline().await;
    assert_eq!(uidl.len(), 2);
    // RETR is byte-stuffed.
    c.send("RETR 1\r\n").await;
    assert_eq!(c.line().await, format!("+OK {} octets", MSG1.len()));
    let body = c.multiline().await;
    assert!(body.contains(&"..dotted line".to_string()), "{body:?}");
    assert!(body.contains(&"...two dots".to_string()), "{body:?}");
    // TOP n 0: headers and the blank line.
    c.send("TOP 1 0\r\n").await;
    assert!(c.line().await.starts_with("+OK"));
    assert_eq!(
        c.multiline().await,
        vec!["From: bob@contoso.test", "Subject: one", ""]
    );
    // DELE, RSET, DELE again; nothing removed before QUIT.
    assert!(c.cmd("DELE 1").await.starts_with("+OK"));
    assert!(c.cmd("DELE 1").await.starts_with("-ERR"), "already deleted");
    assert!(c.cmd("RETR 1").await.starts_with("-ERR"));
    assert_eq!(c.cmd("STAT").await, format!("+OK 1 {}", MSG2.len()));
    assert!(c.cmd("RSET").await.starts_with("+OK maildrop has 2"));
    assert!(c.cmd("DELE 1").await.starts_with("+OK"));
    assert_eq!(inbox_uids(&e, a.id).await.len(), 2, "nothing removed yet");
    assert!(c.cmd("NOOP").await.starts_with("+OK"));
    assert!(c.cmd("QUIT").await.starts_with("+OK"), "UPDATE state");
    assert!(c.closed().await);
    assert_eq!(inbox_uids(&e, a.id).await.len(), 1, "removed at QUIT");

    // OAUTHBEARER through a continuation; the UIDL of the remaining message is stable.
    let mut c = e.tls().await;
    c.line().await;
    assert_eq!(c.cmd("AUTH OAUTHBEARER").await, "+ ");
    let r = c.cmd(&oauthbearer(upn, &token)).await;
    assert!(r.starts_with("+OK maildrop has 1 messages"), "{r}");
    c.send("UIDL\r\n").await;
    c.line().await;
    assert_eq!(
        c.multiline().await,
        vec![format!("1 {}", uidl[1].split(' ').nth(1).unwrap())]
    );
    // A disconnect after DELE removes nothing (checked once the server has closed too).
    assert!(c.cmd("DELE 1").await.starts_with("+OK"));
    c.hang_up().await;
    assert_eq!(inbox_uids(&e, a.id).await.len(), 1);
    let m = e.pipeline.metrics();
    assert_eq!(
        m.signature_checks, 1,
        "second session answered from the token cache"
    );
    assert_eq!(m.token_cache_hits, 1);
}

#[tokio::test]
async fn rejected_token_gets_the_error_challenge() {
    let e = env().await;
    let u = mail::add_user(&e.t, "bob").await;
    // An IMAP token is not a POP token.
    let token = e.token(&u, &["IMAP.AccessAsUser.All"]).await;
    let mut c = e.tls().await;
    c.line().await;
    let r = c
        .cmd(&format!("AUTH XOAUTH2 {}", xoauth2(u.upn.as_str(), &token)))
        .await;
    let challenge = r.strip_prefix("+ ").expect("error challenge");
    let json = String::from_utf8(
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, challenge).unwrap(),
    )
    .unwrap();
    assert!(json.contains("\"status\":\"403\""), "{json}");
    assert!(json.contains("POP.AccessAsUser.All"), "{json}");
    assert_eq!(c.cmd("").await, "-ERR [AUTH] Authentication failed");
    // OAUTHBEARER: RFC 7628 JSON with the discovery URL; the client answers ^A.
    let r = c
        .cmd(&format!(
            "AUTH OAUTHBEARER {}",
            oauthbearer(u.upn.as_str(), "not-a-jwt")
        ))
        .await;
    let json = String::from_utf8(
        base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            r.strip_prefix("+ ").unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    assert!(json.contains("\"status\":\"invalid_token\""), "{json}");
    assert!(json.contains("openid-configuration"), "{json}");
    assert_eq!(c.cmd("AQ==").await, "-ERR [AUTH] Authentication failed");
    // Third failure closes the connection.
    c.send(&format!("AUTH XOAUTH2 {}\r\n", xoauth2("x", "y")))
        .await;
    assert!(c.line().await.starts_with("+ "));
    assert!(c.cmd("").await.starts_with("-ERR [AUTH] Too many"));
    assert!(c.closed().await);
}

#[tokio::test]
async fn basic_blocked_by_default_then_allowed_by_user_policy() {
    let e = env().await;
    block_by_default(&e.store).await;
    let u = mail::add_user(&e.t, "carol").await;
    let a = e.account(&u).await;
    let upn = u.upn.as_str();

    let mut c = e.tls().await;
    c.line().await;
    c.send("CAPA\r\n").await;
    c.line().await;
    let capa = c.multiline().await;
    assert!(!capa.contains(&"USER".to_string()), "{capa:?}");
    assert!(
        capa.contains(&"SASL OAUTHBEARER XOAUTH2".to_string()),
        "{capa:?}"
    );
    assert!(
        c.cmd(&format!("USER {upn}"))
            .await
            .starts_with("-ERR [AUTH]")
    );
    assert!(
        c.cmd(&format!("AUTH PLAIN {}", plain(upn, mail::PASSWORD)))
            .await
            .starts_with("-ERR")
    );
    assert_eq!(e.pipeline.metrics().password_checks, 0);
    assert_eq!(
        e.signin_count(upn).await,
        0,
        "identity saw no password attempt"
    );
    drop(c);

    // A policy for carol that allows POP basic.
    e.store
        .put_auth_policy(&allow_basic("POP basic", &[Protocol::Pop]))
        .await
        .unwrap();
    e.store
        .set_account_policy(a.id, Some("POP basic"))
        .await
        .unwrap();
    let mut c = e.tls().await;
    c.line().await;
    c.send("CAPA\r\n").await;
    c.line().await;
    let capa = c.multiline().await;
    assert!(capa.contains(&"USER".to_string()), "{capa:?}");
    assert!(
        capa.contains(&"SASL OAUTHBEARER XOAUTH2 PLAIN LOGIN".to_string()),
        "{capa:?}"
    );
    assert_eq!(c.cmd("PASS x").await, "-ERR USER first");
    assert_eq!(c.cmd(&format!("USER {upn}")).await, "+OK send PASS");
    let r = c.cmd(&format!("PASS {}", mail::PASSWORD)).await;
    assert!(r.starts_with("+OK maildrop has 0 messages"), "{r}");
    assert!(c.cmd("QUIT").await.starts_with("+OK"));

    // AUTH PLAIN and LOGIN; a wrong password fails with [AUTH].
    let mut c = e.tls().await;
    c.line().await;
    assert_eq!(
        c.cmd(&format!("AUTH PLAIN {}", plain(upn, "wrong password")))
            .await,
        "-ERR [AUTH] Authentication failed"
    );
    assert_eq!(
        c.cmd("AUTH LOGIN").await,
        format!("+ {}", b64(b"Username:"))
    );
    assert_eq!(
        c.cmd(&b64(upn.as_bytes())).await,
        format!("+ {}", b64(b"Password:"))
    );
    assert!(
        c.cmd(&b64(mail::PASSWORD.as_bytes()))
            .await
            .starts_with("+OK")
    );
    // Another user without a policy is still blocked by the default.
    let d = mail::add_user(&e.t, "dave").await;
    let mut c = e.tls().await;
    c.line().await;
    c.cmd(&format!("USER {}", d.upn)).await;
    assert_eq!(
        c.cmd(&format!("PASS {}", mail::PASSWORD)).await,
        "-ERR [AUTH] Authentication failed"
    );
    assert_eq!(e.signin_count(d.upn.as_str()).await, 0);
}

#[tokio::test]
async fn stls_discards_pipelined_plaintext() {
    let e = env().await;
    let u = mail::add_user(&e.t, "erin").await;
    let token = e.token(&u, &["POP.AccessAsUser.All"]).await;
    let mut c = e.plain().await;
    c.line().await;
    c.send("CAPA\r\n").await;
    c.line().await;
    let capa = c.multiline().await;
    assert!(capa.contains(&"STLS".to_string()), "{capa:?}");
    assert!(
        !capa.iter().any(|l| l.starts_with("SASL") || l == "USER"),
        "{capa:?}"
    );
    // No credentials in the clear.
    assert!(
        c.cmd(&format!("AUTH XOAUTH2 {}", xoauth2(u.upn.as_str(), &token)))
            .await
            .starts_with("-ERR [AUTH] Authentication requires TLS")
    );
    assert!(c.cmd("USER erin").await.starts_with("-ERR"));
    // STLS with a command pipelined behind it: the command must not run.
    c.send("STLS\r\nQUIT\r\n").await;
    assert_eq!(c.line().await, "+OK Begin TLS negotiation");
    let mut c = c.tls(&e.connector).await;
    c.send("CAPA\r\n").await;
    assert_eq!(
        c.line().await,
        "+OK Capability list follows",
        "QUIT sent before TLS was dropped"
    );
    let capa = c.multiline().await;
    assert!(!capa.contains(&"STLS".to_string()));
    assert!(c.cmd("STLS").await.starts_with("-ERR"));
    assert!(
        c.cmd(&format!("AUTH XOAUTH2 {}", xoauth2(u.upn.as_str(), &token)))
            .await
            .starts_with("+OK")
    );
}

#[tokio::test]
async fn bad_input() {
    let e = env().await;
    let u = mail::add_user(&e.t, "frank").await;
    let token = e.token(&u, &["POP.AccessAsUser.All"]).await;
    let mut c = e.tls().await;
    c.line().await;
    assert_eq!(c.cmd("HELO there").await, "-ERR Unknown command");
    assert!(c.cmd("STAT").await.starts_with("-ERR Command not valid"));
    assert!(c.cmd("RETR one").await.starts_with("-ERR"));
    assert!(c.cmd("APOP frank abc").await.starts_with("-ERR"));
    assert!(c.cmd("AUTH CRAM-MD5").await.starts_with("-ERR Unsupported"));
    assert!(c.cmd("AUTH PLAIN !!!not-base64").await.starts_with("-ERR"));
    assert_eq!(c.cmd("AUTH XOAUTH2").await, "+ ");
    assert_eq!(c.cmd("*").await, "-ERR Authentication cancelled");
    // An over-long line is refused and the session goes on.
    assert_eq!(c.cmd(&"X".repeat(30_000)).await, "-ERR Line too long");
    c.send_bytes(b"NOOP \xff\xfe\r\n").await;
    assert!(c.line().await.starts_with("-ERR"));
    // Pipelined commands are answered in order.
    c.send(&format!(
        "AUTH XOAUTH2 {}\r\nSTAT\r\nLIST\r\nUSER again\r\nNOOP\r\n",
        xoauth2(u.upn.as_str(), &token)
    ))
    .await;
    assert!(c.line().await.starts_with("+OK maildrop"));
    assert_eq!(c.line().await, "+OK 0 0");
    assert!(c.line().await.starts_with("+OK"));
    assert!(c.multiline().await.is_empty());
    assert!(
        c.line()
            .await
            .starts_with("-ERR Command not valid in the TRANSACTION state")
    );
    assert_eq!(c.line().await, "+OK");
    assert!(c.cmd("RETR 1").await.starts_with("-ERR No such message"));
    assert!(c.cmd("TOP 0 1").await.starts_with("-ERR"));
    // Too many errors end the session.
    let mut last = String::new();
    for _ in 0..30 {
        last = c.cmd("BOGUS").await;
        if !last.starts_with("-ERR Unknown") {
            break;
        }
    }
    assert_eq!(last, "-ERR Too many errors, closing connection");
    assert!(c.closed().await);
    // An abrupt disconnect in AUTHORIZATION, mid-SASL.
    let mut c = e.tls().await;
    c.line().await;
    assert_eq!(c.cmd("AUTH OAUTHBEARER").await, "+ ");
    drop(c);
    // The server is still fine.
    let mut c = e.tls().await;
    assert!(c.line().await.starts_with("+OK"));
}
