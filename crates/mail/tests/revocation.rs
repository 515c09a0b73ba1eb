//! Revocation reaches every place the mail role accepts a token: after identity's admin API
//! disables a user, signs them out everywhere, resets their password or deletes them, the
//! mail role (which reaches identity only over HTTPS, as on its own host) learns it from
//! identity's revocation feed; then the old token no longer authenticates IMAP, POP3, SMTP or the
//! REST API (401 with the bearer challenge), and the sessions it opened — one IMAP
//! session idle between commands, one in IDLE, a POP3 and an SMTP session — are ended.

mod common;

use std::time::Duration;

use common::{Env, challenges, env_with, parts};
use mailward_mail::Listener;
use mailward_testkit::mail;
use mailward_testkit::mailnet::{Client, connector, xoauth2};
use mailward_types::clock::{millis, now};
use mailward_types::model::{User, well_known};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

type Conn = Client<TlsStream<TcpStream>>;

const SCOPES: &[&str] = &[
    "IMAP.AccessAsUser.All",
    "POP.AccessAsUser.All",
    "SMTP.Send",
    "Mail.ReadWrite",
];

/// A fresh environment polling identity's feed every second.
async fn env() -> Env {
    env_with(|c| c.identity.revocation_poll_secs = 1).await
}

/// An implicit-TLS connection to `listener`, greeting read.
async fn connect(e: &Env, listener: Listener) -> Conn {
    let mut c = Client::plain(e.port(listener))
        .await
        .tls(&connector(&e.t.ca_pem))
        .await;
    let greeting = c.line().await;
    if listener == Listener::Submissions {
        assert!(greeting.starts_with("220"), "{greeting}");
        c.send("EHLO client.test\r\n").await;
        c.reply().await;
    }
    c
}

/// Sends an `XOAUTH2` authentication (with initial response) and returns the final line;
/// an error challenge is answered with the empty response the mechanism expects.
async fn authenticate(c: &mut Conn, command: &str, user: &User, token: &str) -> String {
    let first = c
        .cmd(&format!(
            "{command} XOAUTH2 {}",
            xoauth2(user.upn.as_str(), token)
        ))
        .await;
    if first.starts_with("+ ") || first.starts_with("334 ") {
        return c.cmd("").await;
    }
    first
}

async fn imap(e: &Env, user: &User, token: &str) -> (Conn, String) {
    let mut c = connect(e, Listener::Imaps).await;
    let reply = authenticate(&mut c, "a AUTHENTICATE", user, token).await;
    (c, reply)
}

async fn pop3(e: &Env, user: &User, token: &str) -> (Conn, String) {
    let mut c = connect(e, Listener::Pop3s).await;
    let reply = authenticate(&mut c, "AUTH", user, token).await;
    (c, reply)
}

async fn smtp(e: &Env, user: &User, token: &str) -> (Conn, String) {
    let mut c = connect(e, Listener::Submissions).await;
    let reply = authenticate(&mut c, "AUTH", user, token).await;
    (c, reply)
}

async fn rest(e: &Env, token: &str) -> reqwest::Response {
    e.client()
        .get(e.at("/v1.0/me/mailFolders"))
        .bearer_auth(token)
        .send()
        .await
        .expect("REST request")
}

#[derive(Debug, Clone, Copy)]
enum Change {
    Disable,
    RevokeSessions,
    ResetPassword,
    Delete,
}

/// Makes `change` to `user` through identity's admin API over HTTPS, as `mailward user`
/// does remotely.
async fn change_at_identity(e: &Env, user: &User, change: Change) {
    let admin = e.add_admin("revoker", "GlobalAdministrator").await;
    let token = e.identity_token(&admin, well_known::ADMIN_SCOPE).await;
    let http = e.t.client();
    let users = e.t.at(&format!("/v1.0/users/{}", user.id));
    let req = match change {
        Change::Disable => http.patch(&users).json(&json!({"accountEnabled": false})),
        Change::RevokeSessions => http.post(format!("{users}/revokeSignInSessions")),
        Change::ResetPassword => http
            .patch(&users)
            .json(&json!({"password": "a brand new password 42"})),
        Change::Delete => http.delete(&users),
    };
    let res = req.bearer_auth(token).send().await.expect("admin request");
    let (status, _, body) = parts(res).await;
    assert!((200..300).contains(&status), "{change:?}: {status} {body}");
}

/// Waits until the mail role has applied a revocation of `user` made at or after `since`
/// (Unix ms): the feed's change notification, with a generous deadline against a hang.
async fn until_revoked(e: &Env, user: &User, since: i64) {
    let revocations = e.pipeline.revocations().clone();
    let mut changes = revocations.subscribe();
    tokio::time::timeout(Duration::from_secs(60), async {
        while revocations.valid_from(user.id).is_none_or(|v| v < since) {
            changes.changed().await.expect("feed alive");
        }
    })
    .await
    .expect("the mail role applies the revocation");
}

async fn scenario(change: Change) {
    let e = env().await;
    let bob = mail::add_user(&e.t, "bob").await;
    let token = e.token(&bob, SCOPES).await;

    // Everything works with the token.
    let (mut open_imap, reply) = imap(&e, &bob, &token).await;
    assert!(reply.starts_with("a OK"), "{reply}");
    let (mut idling, reply) = imap(&e, &bob, &token).await;
    assert!(reply.starts_with("a OK"), "{reply}");
    assert!(idling.cmd("b SELECT INBOX").await.starts_with('*'));
    while !idling.line().await.starts_with("b OK") {}
    assert_eq!(idling.cmd("c IDLE").await, "+ idling");
    let (mut open_pop3, reply) = pop3(&e, &bob, &token).await;
    assert!(reply.starts_with("+OK"), "{reply}");
    let (mut open_smtp, reply) = smtp(&e, &bob, &token).await;
    assert!(reply.starts_with("235"), "{reply}");
    assert_eq!(rest(&e, &token).await.status(), 200);

    let since = millis(now());
    change_at_identity(&e, &bob, change).await;
    until_revoked(&e, &bob, since).await;

    // Open sessions end with their protocol's goodbye.
    let bye = open_imap.line().await;
    assert!(bye.starts_with("* BYE"), "{change:?}: {bye}");
    assert!(open_imap.closed().await);
    let bye = idling.line().await;
    assert!(bye.starts_with("* BYE"), "{change:?} (IDLE): {bye}");
    assert!(idling.closed().await);
    let bye = open_pop3.line().await;
    assert!(bye.starts_with("-ERR"), "{change:?}: {bye}");
    assert!(open_pop3.closed().await);
    let bye = open_smtp.line().await;
    assert!(bye.starts_with("421"), "{change:?}: {bye}");
    assert!(open_smtp.closed().await);

    // New authentications with the old token fail.
    let (_, reply) = imap(&e, &bob, &token).await;
    assert!(reply.starts_with("a NO"), "{change:?}: {reply}");
    let (_, reply) = pop3(&e, &bob, &token).await;
    assert!(reply.starts_with("-ERR"), "{change:?}: {reply}");
    let (_, reply) = smtp(&e, &bob, &token).await;
    assert!(reply.starts_with("535"), "{change:?}: {reply}");
    let (status, headers, body) = parts(rest(&e, &token).await).await;
    assert_eq!(status, 401, "{change:?}: {body}");
    let bearer = challenges(&headers)
        .into_iter()
        .find(|c| c.starts_with("Bearer "))
        .expect("bearer challenge");
    assert!(bearer.contains("error=\"invalid_token\""), "{bearer}");
    assert!(bearer.contains("authorization_uri="), "{bearer}");
    assert!(e.pipeline.metrics().revoked >= 4);

    // Someone else is not affected.
    let alice = mail::add_user(&e.t, "alice").await;
    let other = e.token(&alice, SCOPES).await;
    assert_eq!(rest(&e, &other).await.status(), 200);
}

#[tokio::test]
async fn disabling_a_user_ends_their_token_everywhere() {
    scenario(Change::Disable).await;
}

#[tokio::test]
async fn signing_out_everywhere_ends_the_token_everywhere() {
    scenario(Change::RevokeSessions).await;
}

#[tokio::test]
async fn a_password_reset_ends_the_token_everywhere() {
    scenario(Change::ResetPassword).await;
}

/// A deleted user has no row left: the feed lists the tombstone deletion leaves.
#[tokio::test]
async fn deleting_a_user_ends_their_token_everywhere() {
    scenario(Change::Delete).await;
}

/// `iat` has whole seconds: a token of the second after the revocation works, one of the
/// same second does not (it may have been issued before the revocation).
#[tokio::test]
async fn a_token_issued_after_the_revocation_works() {
    let e = env().await;
    let bob = mail::add_user(&e.t, "bob").await;
    let old = e.token(&bob, SCOPES).await;
    let since = millis(now());
    change_at_identity(&e, &bob, Change::RevokeSessions).await;
    until_revoked(&e, &bob, since).await;
    assert_eq!(rest(&e, &old).await.status(), 401);
    let revoked_at = e
        .pipeline
        .revocations()
        .valid_from(bob.id)
        .expect("revoked");
    let issued = |secs: i64| {
        let mut claims = mail::access_claims(&e.t, &bob, SCOPES, now());
        claims["iat"] = json!(secs);
        mail::sign(&e.t, &claims)
    };
    let same_second = issued(revoked_at.div_euclid(1000));
    assert_eq!(rest(&e, &same_second).await.status(), 401);
    let next_second = issued(revoked_at.div_euclid(1000) + 1);
    assert_eq!(rest(&e, &next_second).await.status(), 200);
    let (_, reply) = imap(&e, &bob, &next_second).await;
    assert!(reply.starts_with("a OK"), "{reply}");
}

/// The feed answers only a mail instance's application.
#[tokio::test]
async fn the_feed_needs_the_mail_instance_credentials() {
    let e = env().await;
    let http = e.t.client();
    let url = e.t.at("/mail/v1/revocations?since=0");
    let res = http.get(&url).send().await.expect("feed request");
    assert!(
        matches!(res.status().as_u16(), 400 | 401),
        "{}",
        res.status()
    );
    // An application without the mail instance's role.
    let (status, _, body) = parts(
        http.get(&url)
            .basic_auth(&e.ropc_client, Some("no secret"))
            .send()
            .await
            .expect("feed request"),
    )
    .await;
    assert!(matches!(status, 400 | 401), "{status} {body}");
    let relay = mail::relay_client(&e.t).await;
    let (status, _, body) = parts(
        http.get(&url)
            .basic_auth(&relay.0, Some(&relay.1))
            .send()
            .await
            .expect("feed request"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["cursor"].is_i64(), "{body}");
    assert!(body["value"].is_array(), "{body}");
    let bad = http
        .get(e.t.at("/mail/v1/revocations?since=yesterday"))
        .basic_auth(&relay.0, Some(&relay.1))
        .send()
        .await
        .expect("feed request");
    assert_eq!(bad.status(), 400);
    let v: Value = bad.json().await.expect("error body");
    assert_eq!(v["error"], "invalid_request");
}
