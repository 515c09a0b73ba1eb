//! Basic authentication through the pipeline: the authentication policy decides before
//! any password check (a blocked attempt never reaches identity: no sign-in log entry, no
//! lockout count, no credential-check call); a user's policy replaces the organization
//! default entirely; allowed attempts are checked by identity's relayed sign-in.

mod common;

use common::*;
use mailward_authpolicy::{Method, Protocol};
use mailward_mailauth::{AuthFailure, AuthRequest, Authenticator};
use mailward_mailstore::MailStore;
use mailward_testkit::mail;

#[tokio::test]
async fn blocked_by_default_policy_before_any_password_check() {
    let e = env().await;
    block_by_default(&e.store).await;
    let u = mail::add_user(&e.t, "alice").await;
    let upn = u.upn.to_string();
    assert!(!e.pipeline.basic_possible(Protocol::Imap).await);
    assert!(!e.pipeline.basic_possible(Protocol::Smtp).await);

    // Unknown to the mail store (no account yet): the organization default applies.
    for pw in [mail::PASSWORD, "wrong password", "wrong password 2", "x"] {
        let r = auth(&e.pipeline, Protocol::Imap, &password(&upn, pw)).await;
        assert_eq!(r.unwrap_err(), AuthFailure::Denied);
    }
    // With an account (no policy of its own): the default still applies.
    e.account(&u).await;
    for proto in [Protocol::Imap, Protocol::Pop, Protocol::Smtp] {
        let r = auth(&e.pipeline, proto, &password(&upn, "wrong password")).await;
        assert_eq!(r.unwrap_err(), AuthFailure::Denied);
    }
    // Nobody at all.
    let r = auth(
        &e.pipeline,
        Protocol::Imap,
        &password("nobody@contoso.test", "pw"),
    )
    .await;
    assert_eq!(r.unwrap_err(), AuthFailure::Denied);

    let m = e.pipeline.metrics();
    assert_eq!(
        m.password_checks, 0,
        "the credential check was never called"
    );
    assert_eq!(m.blocked_by_policy, 8);
    assert_eq!(m.attempts_for(Protocol::Imap, "basic"), 6);
    // identity saw nothing: no sign-in, no lockout counter.
    assert!(e.signins(&upn).await.is_empty());
    assert_eq!(e.lockout_failures(&u).await, 0);

    // Bearer still works under a block-all-basic policy (cloud flavour).
    let token = e.token(&u, &["IMAP.AccessAsUser.All"]).await;
    auth(
        &e.pipeline,
        Protocol::Imap,
        &bearer(mailward_sasl::Mechanism::XOAuth2, Some(&upn), &token),
    )
    .await
    .expect("bearer allowed");
}

#[tokio::test]
async fn user_policy_replaces_the_default_entirely() {
    let e = env().await;
    // Default: basic for POP only. Alice's own policy: basic for IMAP only.
    e.store
        .put_auth_policy(&allow_basic("Default POP", &[Protocol::Pop]))
        .await
        .unwrap();
    e.store
        .set_default_auth_policy(Some("Default POP"))
        .await
        .unwrap();
    e.store
        .put_auth_policy(&allow_basic("IMAP only", &[Protocol::Imap]))
        .await
        .unwrap();
    let alice = mail::add_user(&e.t, "alice").await;
    let bob = mail::add_user(&e.t, "bob").await;
    let a = e.account(&alice).await;
    e.store
        .set_account_policy(a.id, Some("IMAP only"))
        .await
        .unwrap();

    assert!(e.pipeline.basic_possible(Protocol::Imap).await);
    assert!(e.pipeline.basic_possible(Protocol::Pop).await);
    assert!(!e.pipeline.basic_possible(Protocol::Smtp).await);

    // Alice: IMAP succeeds through identity's relayed check.
    let p = auth(
        &e.pipeline,
        Protocol::Imap,
        &password(alice.upn.as_str(), mail::PASSWORD),
    )
    .await
    .expect("IMAP basic allowed by alice's policy");
    assert_eq!(p.method, Method::Basic);
    assert_eq!(p.account.id, a.id);
    assert!(p.scopes.is_empty());
    assert_eq!(e.pipeline.metrics().password_checks, 1);
    // ... and POP fails although the default allows it: her policy replaces it.
    let r = auth(
        &e.pipeline,
        Protocol::Pop,
        &password(alice.upn.as_str(), mail::PASSWORD),
    )
    .await;
    assert_eq!(r.unwrap_err(), AuthFailure::Denied);
    assert_eq!(
        e.pipeline.metrics().password_checks,
        1,
        "POP refused before the password check"
    );

    // Bob has no policy: the default's POP works, IMAP does not.
    let p = auth(
        &e.pipeline,
        Protocol::Pop,
        &password(bob.upn.as_str(), mail::PASSWORD),
    )
    .await
    .expect("POP basic allowed by the default");
    assert_eq!(
        p.account.user_oid, bob.id,
        "account created on first basic sign-in"
    );
    let r = auth(
        &e.pipeline,
        Protocol::Imap,
        &password(bob.upn.as_str(), mail::PASSWORD),
    )
    .await;
    assert_eq!(r.unwrap_err(), AuthFailure::Denied);

    // A wrong password where basic is allowed: identity checks it and logs it.
    let r = auth(
        &e.pipeline,
        Protocol::Imap,
        &password(alice.upn.as_str(), "wrong password"),
    )
    .await;
    assert_eq!(r.unwrap_err(), AuthFailure::Denied);
    assert_eq!(e.pipeline.metrics().password_checks, 3);
    let log = e.signins(alice.upn.as_str()).await;
    assert_eq!(log.len(), 2, "{log:?}");
    assert!(
        log.iter().all(|s| s.protocol.as_deref() == Some("IMAP4")),
        "{log:?}"
    );
    assert_eq!(e.lockout_failures(&alice).await, 1);

    // Basic without TLS is refused before anything else.
    let creds = password(alice.upn.as_str(), mail::PASSWORD);
    let r = e
        .pipeline
        .authenticate(AuthRequest {
            protocol: Protocol::Imap,
            credentials: &creds,
            remote_ip: CLIENT_IP,
            tls: false,
            user_agent: None,
        })
        .await;
    assert_eq!(r.unwrap_err(), AuthFailure::Denied);
    assert_eq!(e.pipeline.metrics().password_checks, 3);

    // Removing alice's policy puts her back on the default.
    e.store.set_account_policy(a.id, None).await.unwrap();
    auth(
        &e.pipeline,
        Protocol::Pop,
        &password(alice.upn.as_str(), mail::PASSWORD),
    )
    .await
    .expect("default applies again");
}

#[tokio::test]
async fn basic_possible_is_cached_until_invalidated() {
    let e = env().await;
    let mut cfg = pipeline_config();
    cfg.basic_possible_ttl = time::Duration::minutes(5);
    let p = mailward_mailauth::Pipeline::new(
        e.store.clone(),
        mailward_mailauth::BearerValidator::new(bearer_config(&e.t)).unwrap(),
        std::sync::Arc::new(
            mailward_mailauth::RelayedCheck::new(relay_config(&e.t, &e.relay)).unwrap(),
        ),
        cfg,
    );
    // No policy at all: Exchange's semantics allow basic.
    assert!(p.basic_possible(Protocol::Smtp).await);
    block_by_default(&e.store).await;
    assert!(p.basic_possible(Protocol::Smtp).await, "cached answer");
    p.invalidate_policy_cache();
    assert!(!p.basic_possible(Protocol::Smtp).await);
}

/// The policy is looked up for the name the password is checked for (the UPN), not for a
/// mailbox address: a mailbox whose address differs from its UPN gets its own policy, and
/// another mailbox whose address happens to be that UPN lends none of its policy.
#[tokio::test]
async fn policy_lookup_uses_the_upn_the_password_is_checked_for() {
    let e = env().await;
    block_by_default(&e.store).await;
    e.store
        .put_auth_policy(&allow_basic("IMAP only", &[Protocol::Imap]))
        .await
        .unwrap();
    let alice = mail::add_user(&e.t, "alice").await;
    let upn = alice.upn.to_string();
    // Alice's mailbox address is not her UPN.
    let a = e
        .store
        .ensure_account(mailward_mailstore::NewAccount {
            user_oid: alice.id,
            upn: upn.clone(),
            address: "alice.mailbox@mail.contoso.test".into(),
            display_name: "Alice".into(),
            now: mailward_types::clock::now(),
        })
        .await
        .unwrap();
    e.store
        .set_account_policy(a.id, Some("IMAP only"))
        .await
        .unwrap();
    let p = auth(&e.pipeline, Protocol::Imap, &password(&upn, mail::PASSWORD))
        .await
        .expect("alice's own policy allows IMAP");
    assert_eq!(p.account.id, a.id);

    // Bob's UPN is another mailbox's address; that mailbox's policy is not his.
    let bob = mail::add_user(&e.t, "bob").await;
    let bob_upn = bob.upn.to_string();
    let other = e
        .store
        .ensure_account(mailward_mailstore::NewAccount {
            user_oid: uuid::Uuid::new_v4(),
            upn: "someone.else@contoso.test".into(),
            address: bob_upn.clone(),
            display_name: "Someone else".into(),
            now: mailward_types::clock::now(),
        })
        .await
        .unwrap();
    e.store
        .set_account_policy(other.id, Some("IMAP only"))
        .await
        .unwrap();
    let checks = e.pipeline.metrics().password_checks;
    let r = auth(
        &e.pipeline,
        Protocol::Imap,
        &password(&bob_upn, mail::PASSWORD),
    )
    .await;
    assert_eq!(r.unwrap_err(), AuthFailure::Denied);
    assert_eq!(
        e.pipeline.metrics().password_checks,
        checks,
        "refused by the default before the password check"
    );
}
