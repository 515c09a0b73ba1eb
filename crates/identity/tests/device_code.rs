//! Device authorization grant (RFC 8628) over real HTTPS: the device authorization
//! endpoint, polling (`authorization_pending`, `slow_down`), the user completing
//! `/devicelogin` through the sign-in pages with MFA, redemption (once), expiry and wrong
//! user codes. Time is simulated by editing the stored device code, never by sleeping.

mod common;

use common::*;
use mailward_testkit::{Browser, Landing, TestIdentity};
use mailward_types::model::well_known::MAIL_CLIENT_ID;
use serde_json::Value;
use time::Duration;

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

async fn start(t: &TestIdentity) -> Value {
    let (status, body) = post_form(
        t,
        &t.client(),
        "/oauth2/v2.0/devicecode",
        &[("client_id", MAIL_CLIENT_ID), ("scope", MAIL_SCOPE)],
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn poll(t: &TestIdentity, device_code: &str) -> (u16, Value) {
    token(
        t,
        &[
            ("grant_type", DEVICE_GRANT),
            ("client_id", MAIL_CLIENT_ID),
            ("device_code", device_code),
        ],
    )
    .await
}

fn hash(s: &str) -> String {
    mailward_oauth::random::hash(s)
}

/// Sets the record's last poll time (to simulate polling too fast or politely).
async fn shift_last_poll(t: &TestIdentity, device_code: &str, to: Option<time::OffsetDateTime>) {
    t.ctx
        .store()
        .update_device_code(
            &hash(device_code),
            Box::new(move |mut d| {
                d.last_poll_at = to;
                Ok(d)
            }),
        )
        .await
        .unwrap_or_else(|e| panic!("update_device_code: {e}"));
}

/// The user enters the code on /devicelogin and signs in with password and TOTP.
async fn approve(t: &TestIdentity, b: &Browser, user_code: &str, m: &MfaUser) -> Landing {
    let page = b
        .get(&format!(
            "{}/devicelogin?user_code={}",
            t.url,
            enc(user_code)
        ))
        .await;
    assert!(page.html().contains(user_code), "{page:?}");
    let page = b
        .post_form("/devicelogin", &[("user_code", user_code)])
        .await;
    assert!(page.html().contains("name=\"username\""), "{page:?}");
    let page = b
        .submit(page.html(), "identify", &[("username", &m.upn)])
        .await;
    let page = b.submit(page.html(), "password", &[("password", PW)]).await;
    assert!(page.html().contains("value=\"totp\""), "{page:?}");
    let code = fresh_totp(t, m).await;
    b.submit(page.html(), "totp", &[("code", &code)]).await
}

#[tokio::test]
async fn full_device_flow() {
    let t = TestIdentity::start().await;
    let m = mfa_user(&t, "alice").await;
    let d = start(&t).await;
    let device_code = d["device_code"].as_str().unwrap().to_string();
    let user_code = d["user_code"].as_str().unwrap().to_string();
    assert_eq!(d["verification_uri"], format!("{}/devicelogin", t.url));
    assert_eq!(d["expires_in"], 900);
    assert_eq!(d["interval"], 1);
    assert!(d["message"].as_str().unwrap().contains(&user_code));

    let r = poll(&t, &device_code).await;
    assert_error(&r, 400, "authorization_pending", 70016);

    // Polled again "too fast": the last poll is placed in the future of this one.
    shift_last_poll(
        &t,
        &device_code,
        Some(mailward_types::clock::now() + Duration::minutes(1)),
    )
    .await;
    let r = poll(&t, &device_code).await;
    assert_eq!(r.0, 400, "{}", r.1);
    assert_eq!(r.1["error"], "slow_down");
    // Back at a polite pace: pending again.
    shift_last_poll(
        &t,
        &device_code,
        Some(mailward_types::clock::now() - Duration::minutes(1)),
    )
    .await;
    let r = poll(&t, &device_code).await;
    assert_eq!(r.1["error"], "authorization_pending", "{}", r.1);

    let b = Browser::new(&t);
    let done = approve(&t, &b, &user_code, &m).await;
    let Landing::Page { status, html } = &done else {
        panic!("{done:?}")
    };
    assert_eq!(*status, 200);
    assert!(
        html.contains("You're signed in") || html.contains("You&#x27;re signed in"),
        "{html}"
    );

    let (status, body) = poll(&t, &device_code).await;
    assert_eq!(status, 200, "{body}");
    let (_, claims) = jwt(body["access_token"].as_str().unwrap());
    assert_eq!(claims["aud"], MAIL_RESOURCE);
    assert_eq!(claims["oid"], m.user.id.to_string());
    let amr: Vec<&str> = claims["amr"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(amr.contains(&"mfa"), "{amr:?}");
    assert!(body["refresh_token"].is_string());

    // Redeemed once only.
    let r = poll(&t, &device_code).await;
    assert_error(&r, 400, "invalid_grant", 70000);

    let log = signins(&t, &m.upn).await;
    assert!(
        log.iter().any(|e| e.flow == "device_code_interactive"),
        "{log:?}"
    );
    assert!(log.iter().any(|e| e.flow == "device_code"), "{log:?}");
}

#[tokio::test]
async fn user_code_is_accepted_in_lower_case_without_dash() {
    let t = TestIdentity::start().await;
    let m = mfa_user(&t, "bob").await;
    let d = start(&t).await;
    let user_code = d["user_code"]
        .as_str()
        .unwrap()
        .to_ascii_lowercase()
        .replace('-', "");
    let b = Browser::new(&t);
    let page = b
        .post_form("/devicelogin", &[("user_code", &user_code)])
        .await;
    assert!(page.html().contains("name=\"username\""), "{page:?}");
    let page = b
        .submit(page.html(), "identify", &[("username", &m.upn)])
        .await;
    let page = b.submit(page.html(), "password", &[("password", PW)]).await;
    let done = b
        .submit(page.html(), "totp", &[("code", &fresh_totp(&t, &m).await)])
        .await;
    assert!(done.html().contains("signed in"), "{done:?}");
    let (status, body) = poll(&t, d["device_code"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn wrong_user_code_on_the_page() {
    let t = TestIdentity::start().await;
    let _ = start(&t).await;
    let b = Browser::new(&t);
    for bad in ["ZZZZ-ZZZZ", "", "not a code at all!!", &"A".repeat(5000)] {
        let page = b.post_form("/devicelogin", &[("user_code", bad)]).await;
        let Landing::Page { status, html } = &page else {
            panic!("{page:?}")
        };
        assert!(*status == 400 || *status == 422, "{status} {html}");
        if *status == 400 {
            assert!(html.contains("That code didn"), "{html}");
        }
    }
}

#[tokio::test]
async fn expired_device_code() {
    let t = TestIdentity::start_with(|c| c.tokens.device_code_secs = 60).await;
    let d = start(&t).await;
    assert_eq!(d["expires_in"], 60);
    let device_code = d["device_code"].as_str().unwrap().to_string();
    let user_code = d["user_code"].as_str().unwrap().to_string();
    // Simulate the minute passing.
    t.ctx
        .store()
        .update_device_code(
            &hash(&device_code),
            Box::new(|mut d| {
                d.expires_at = mailward_types::clock::now() - Duration::seconds(1);
                Ok(d)
            }),
        )
        .await
        .unwrap();
    let r = poll(&t, &device_code).await;
    assert_error(&r, 400, "expired_token", 70019);
    // The page no longer accepts the user code either.
    let b = Browser::new(&t);
    let page = b
        .post_form("/devicelogin", &[("user_code", &user_code)])
        .await;
    let Landing::Page { status, .. } = &page else {
        panic!("{page:?}")
    };
    assert_eq!(*status, 400);
}

#[tokio::test]
async fn code_expiring_during_sign_in_is_not_approved() {
    let t = TestIdentity::start().await;
    let m = mfa_user(&t, "dan").await;
    let d = start(&t).await;
    let device_code = d["device_code"].as_str().unwrap().to_string();
    let b = Browser::new(&t);
    let page = b
        .post_form(
            "/devicelogin",
            &[("user_code", d["user_code"].as_str().unwrap())],
        )
        .await;
    let page = b
        .submit(page.html(), "identify", &[("username", &m.upn)])
        .await;
    let page = b.submit(page.html(), "password", &[("password", PW)]).await;
    t.ctx
        .store()
        .update_device_code(
            &hash(&device_code),
            Box::new(|mut d| {
                d.expires_at = mailward_types::clock::now() - Duration::seconds(1);
                Ok(d)
            }),
        )
        .await
        .unwrap();
    let done = b
        .submit(page.html(), "totp", &[("code", &fresh_totp(&t, &m).await)])
        .await;
    let Landing::Page { status, html } = &done else {
        panic!("{done:?}")
    };
    assert_eq!(*status, 403);
    assert!(html.contains("MW70019"), "{html}");
    let r = poll(&t, &device_code).await;
    assert_error(&r, 400, "expired_token", 70019);
}

#[tokio::test]
async fn device_endpoint_errors() {
    let t = TestIdentity::start().await;
    // A client without the device grant.
    let (id, secret) = confidential_app(&t, None, &[]).await;
    let r = post_form(
        &t,
        &t.client(),
        "/oauth2/v2.0/devicecode",
        &[("client_id", &id), ("client_secret", &secret)],
        None,
    )
    .await;
    assert_error(&r, 400, "unauthorized_client", 65001);
    // Unknown client.
    let r = post_form(
        &t,
        &t.client(),
        "/oauth2/v2.0/devicecode",
        &[("client_id", "nobody")],
        None,
    )
    .await;
    assert_error(&r, 401, "invalid_client", 700016);
    // Unknown scope on the mail resource.
    let r = post_form(
        &t,
        &t.client(),
        "/oauth2/v2.0/devicecode",
        &[
            ("client_id", MAIL_CLIENT_ID),
            ("scope", "https://localhost:8446/Nope.All"),
        ],
        None,
    )
    .await;
    assert_eq!(r.0, 400, "{}", r.1);
    assert_eq!(r.1["error"], "invalid_scope");
    // An unknown device code.
    let r = poll(&t, "no-such-device-code").await;
    assert_error(&r, 400, "invalid_grant", 70000);
    // A device code polled by another client.
    let d = start(&t).await;
    let other = public_app(&t, &["device_code"]).await;
    let r = token(
        &t,
        &[
            ("grant_type", DEVICE_GRANT),
            ("client_id", &other),
            ("device_code", d["device_code"].as_str().unwrap()),
        ],
    )
    .await;
    assert_error(&r, 400, "invalid_grant", 70000);
}
