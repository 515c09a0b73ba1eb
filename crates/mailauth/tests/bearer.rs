//! Bearer tokens through the pipeline against a real identity and mail store: a valid
//! token maps to a mail account; the same token again is answered from the cache (no
//! second signature check); expired, forged, wrong-audience, wrong-issuer, wrong-scope,
//! app-only and mismatched-user tokens are refused with the right bearer status; an
//! unknown `kid` triggers one JWKS refetch, rate limited; identity unreachable gives
//! `Unavailable`.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::*;
use mailward_authpolicy::{Method, Protocol};
use mailward_mailauth::{AuthFailure, BearerValidator, Pipeline, RelayedCheck};
use mailward_mailstore::MailStore;
use mailward_sasl::{BearerStatus, Mechanism};
use mailward_testkit::mail;
use std::sync::Arc;
use time::Duration;

fn status(r: &Result<mailward_mailauth::Principal, AuthFailure>) -> BearerStatus {
    match r {
        Err(AuthFailure::Bearer(e)) => e.status,
        other => panic!("expected a bearer failure, got {other:?}"),
    }
}

#[tokio::test]
async fn valid_token_then_cache_hit_without_signature_check() {
    let e = env().await;
    let u = mail::add_user(&e.t, "alice").await;
    let token = e.token(&u, &["IMAP.AccessAsUser.All", "SMTP.Send"]).await;

    let creds = bearer(Mechanism::XOAuth2, Some("ALICE@contoso.test"), &token);
    let p = auth(&e.pipeline, Protocol::Imap, &creds)
        .await
        .expect("token accepted");
    assert_eq!(p.method, Method::Modern);
    assert_eq!(p.account.user_oid, u.id);
    assert_eq!(p.account.address, "alice@contoso.test");
    assert!(
        p.scopes.iter().any(|s| s == "IMAP.AccessAsUser.All"),
        "{:?}",
        p.scopes
    );
    let stored = e
        .store
        .account_by_user(u.id)
        .await
        .unwrap()
        .expect("account created");
    assert_eq!(stored.id, p.account.id);
    let m = e.pipeline.metrics();
    assert_eq!(m.signature_checks, 1);
    assert_eq!(m.token_cache_hits, 0);
    assert_eq!(m.jwks_fetches, 1);

    // Reconnect with the same token (other mechanism, other protocol it is scoped for).
    let again = bearer(Mechanism::OAuthBearer, None, &token);
    let p2 = auth(&e.pipeline, Protocol::Smtp, &again)
        .await
        .expect("cached token accepted");
    assert_eq!(p2.account.id, p.account.id);
    let m = e.pipeline.metrics();
    assert_eq!(m.signature_checks, 1, "no second signature check");
    assert_eq!(m.token_cache_hits, 1);
    assert_eq!(m.jwks_fetches, 1);
    assert_eq!(m.attempts_for(Protocol::Imap, "xoauth2"), 1);
    assert_eq!(m.attempts_for(Protocol::Smtp, "oauthbearer"), 1);
    assert_eq!(m.successes, 2);

    // The cached token still gets the per-protocol checks: no POP scope.
    let r = auth(&e.pipeline, Protocol::Pop, &again).await;
    assert_eq!(status(&r), BearerStatus::InsufficientScope);
    // And the user check.
    let r = auth(
        &e.pipeline,
        Protocol::Imap,
        &bearer(Mechanism::XOAuth2, Some("bob@contoso.test"), &token),
    )
    .await;
    assert_eq!(status(&r), BearerStatus::InvalidToken);

    // Once expired (beyond the skew), the cached entry is not used.
    let later = mailward_types::clock::now() + Duration::hours(2);
    let r = auth_at(&e.pipeline, Protocol::Imap, &again, later).await;
    assert_eq!(status(&r), BearerStatus::InvalidToken);
    assert_eq!(e.pipeline.metrics().signature_checks, 2);

    let text = e.pipeline.metrics().render_prometheus();
    assert!(
        text.contains(
            "mailward_mail_auth_attempts_total{protocol=\"imap\",mechanism=\"xoauth2\"} 2"
        ),
        "{text}"
    );
    assert!(
        text.contains("mailward_mail_auth_token_cache_hits_total 3"),
        "{text}"
    );
}

#[tokio::test]
async fn refused_tokens() {
    let e = env().await;
    let u = mail::add_user(&e.t, "carol").await;
    let now = mailward_types::clock::now();
    let base = mail::access_claims(&e.t, &u, &["IMAP.AccessAsUser.All"], now);
    let check = |claims: serde_json::Value| {
        let token = mail::sign(&e.t, &claims);
        let e = &e;
        async move {
            auth(
                &e.pipeline,
                Protocol::Imap,
                &bearer(Mechanism::OAuthBearer, None, &token),
            )
            .await
        }
    };

    // The base claims are fine.
    check(base.clone())
        .await
        .expect("well-formed token accepted");

    // Expired beyond the 60 s skew; expired within it is still accepted.
    let mut c = base.clone();
    c["exp"] = (now - Duration::seconds(120)).unix_timestamp().into();
    assert_eq!(status(&check(c).await), BearerStatus::InvalidToken);
    let mut c = base.clone();
    c["exp"] = (now - Duration::seconds(20)).unix_timestamp().into();
    check(c).await.expect("within skew");
    // Not yet valid.
    let mut c = base.clone();
    c["nbf"] = (now + Duration::seconds(600)).unix_timestamp().into();
    assert_eq!(status(&check(c).await), BearerStatus::InvalidToken);
    // Another resource.
    let mut c = base.clone();
    c["aud"] = "https://mail.other.example".into();
    assert_eq!(status(&check(c).await), BearerStatus::InvalidToken);
    // Another issuer.
    let mut c = base.clone();
    c["iss"] = format!("{}/other/v2.0", e.t.url).into();
    assert_eq!(status(&check(c).await), BearerStatus::InvalidToken);
    // Wrong scope: POP and SMTP scopes do not open IMAP; full-URI or empty scp neither.
    for scp in ["POP.AccessAsUser.All SMTP.Send", "", "Mail.Read"] {
        let mut c = base.clone();
        c["scp"] = scp.into();
        assert_eq!(
            status(&check(c).await),
            BearerStatus::InsufficientScope,
            "{scp}"
        );
    }
    // An app-only token (no user).
    let mut c = base.clone();
    c.as_object_mut().unwrap().remove("oid");
    c.as_object_mut().unwrap().remove("upn");
    c.as_object_mut().unwrap().remove("preferred_username");
    assert_eq!(status(&check(c).await), BearerStatus::InvalidToken);

    // Forged: claims changed after signing.
    let token = mail::sign(&e.t, &base);
    let parts: Vec<&str> = token.split('.').collect();
    let mut forged_claims = base.clone();
    forged_claims["upn"] = "admin@contoso.test".into();
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(forged_claims.to_string()),
        parts[2]
    );
    let r = auth(
        &e.pipeline,
        Protocol::Imap,
        &bearer(Mechanism::XOAuth2, None, &forged),
    )
    .await;
    assert_eq!(status(&r), BearerStatus::InvalidToken);
    // `alg: none`.
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"at+jwt"}"#),
        parts[1]
    );
    let r = auth(
        &e.pipeline,
        Protocol::Imap,
        &bearer(Mechanism::XOAuth2, None, &none),
    )
    .await;
    assert_eq!(status(&r), BearerStatus::InvalidToken);
    // Garbage.
    for junk in ["", "abc", "a.b.c", &"x".repeat(20_000)] {
        let r = auth(
            &e.pipeline,
            Protocol::Imap,
            &bearer(Mechanism::XOAuth2, None, junk),
        )
        .await;
        assert_eq!(status(&r), BearerStatus::InvalidToken, "{junk:.20}");
    }

    // The error challenge names the scope and the discovery document.
    match check({
        let mut c = base.clone();
        c["scp"] = "SMTP.Send".into();
        c
    })
    .await
    {
        Err(AuthFailure::Bearer(err)) => {
            assert_eq!(err.scope.as_deref(), Some("IMAP.AccessAsUser.All"));
            assert_eq!(
                err.openid_configuration.as_deref(),
                Some(format!("{}/.well-known/openid-configuration", e.t.issuer).as_str())
            );
        }
        other => panic!("{other:?}"),
    }
    let m = e.pipeline.metrics();
    assert_eq!(
        m.jwks_fetches, 1,
        "refused tokens with a known kid cause no refetch"
    );
    assert!(m.failures >= 10, "{m:?}");
}

#[tokio::test]
async fn unknown_kid_refetches_once_per_interval() {
    let e = env().await;
    let u = mail::add_user(&e.t, "dave").await;
    let now = mailward_types::clock::now();
    let scopes = ["POP.AccessAsUser.All"];
    let first = mail::sign(&e.t, &mail::access_claims(&e.t, &u, &scopes, now));
    auth_at(
        &e.pipeline,
        Protocol::Pop,
        &bearer(Mechanism::XOAuth2, None, &first),
        now,
    )
    .await
    .expect("first token");
    assert_eq!(e.pipeline.metrics().jwks_fetches, 1);

    // identity rotates its keys; a token with the new kid makes us refetch once.
    mail::rotate_signing_keys(&e.t).await;
    let rotated = mail::sign(&e.t, &mail::access_claims(&e.t, &u, &scopes, now));
    assert_ne!(
        rotated.split('.').next(),
        first.split('.').next(),
        "new kid"
    );
    auth_at(
        &e.pipeline,
        Protocol::Pop,
        &bearer(Mechanism::XOAuth2, None, &rotated),
        now,
    )
    .await
    .expect("token signed with the rotated key");
    assert_eq!(e.pipeline.metrics().jwks_fetches, 2);

    // Garbage kids within the interval: refused without another fetch.
    let payload = rotated.split('.').nth(1).unwrap().to_string();
    let sig = rotated.split('.').nth(2).unwrap().to_string();
    for i in 0..5 {
        let header = URL_SAFE_NO_PAD.encode(format!(
            r#"{{"alg":"ES256","kid":"garbage-{i}","typ":"at+jwt"}}"#
        ));
        let token = format!("{header}.{payload}.{sig}");
        let r = auth_at(
            &e.pipeline,
            Protocol::Pop,
            &bearer(Mechanism::XOAuth2, None, &token),
            now,
        )
        .await;
        assert_eq!(status(&r), BearerStatus::InvalidToken);
    }
    assert_eq!(e.pipeline.metrics().jwks_fetches, 2, "rate limited");
    // After the interval one more refetch is allowed.
    let later = now + Duration::minutes(6);
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"ES256","kid":"garbage-late","typ":"at+jwt"}"#);
    let token = format!("{header}.{payload}.{sig}");
    let r = auth_at(
        &e.pipeline,
        Protocol::Pop,
        &bearer(Mechanism::XOAuth2, None, &token),
        later,
    )
    .await;
    assert_eq!(status(&r), BearerStatus::InvalidToken);
    assert_eq!(e.pipeline.metrics().jwks_fetches, 3);
    assert_eq!(
        e.pipeline.metrics().signature_checks,
        2,
        "unknown kids never reach a signature check"
    );
}

#[tokio::test]
async fn identity_unreachable_is_unavailable() {
    let e = env().await;
    let u = mail::add_user(&e.t, "erin").await;
    let token = e.token(&u, &["IMAP.AccessAsUser.All"]).await;
    // A port nothing listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut cfg = bearer_config(&e.t);
    cfg.issuer = format!("https://localhost:{port}/tenant/v2.0");
    cfg.http_timeout = std::time::Duration::from_secs(3);
    let mut relay = relay_config(&e.t, &e.relay);
    relay.identity_url = format!("https://localhost:{port}");
    let p = Pipeline::new(
        e.store.clone(),
        BearerValidator::new(cfg).unwrap(),
        Arc::new(RelayedCheck::new(relay).unwrap()),
        pipeline_config(),
    );
    let r = auth(
        &p,
        Protocol::Imap,
        &bearer(Mechanism::XOAuth2, None, &token),
    )
    .await;
    assert_eq!(r.unwrap_err(), AuthFailure::Unavailable);
    // Basic allowed by the (absent) policy, but identity cannot check the password.
    let r = auth(
        &p,
        Protocol::Imap,
        &password(u.upn.as_str(), mail::PASSWORD),
    )
    .await;
    assert_eq!(r.unwrap_err(), AuthFailure::Unavailable);
    let m = p.metrics();
    assert_eq!(m.unavailable, 2);
    assert_eq!(m.password_checks, 1);
}
