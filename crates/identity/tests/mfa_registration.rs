//! Registration of second factors during sign-in, over real HTTPS: a user with no method
//! registers one on first need; a user who has a method proves it first (step-up) and only
//! then may register the stronger one a policy asks for, so the password alone never
//! enrols a method — on the authorization code pages and on the device code pages.

mod common;

use common::*;
use mailward_signin::policy::{MfaKeyword, MfaRule};
use mailward_testkit::{Browser, Landing, TestIdentity};
use mailward_types::model::well_known::MAIL_CLIENT_ID;
use serde_json::{Value, json};
use tower::ServiceExt;

/// The built-in phishing-resistant authentication strength.
const PHISHING_RESISTANT: &str = "00000000-0000-0000-0000-000000000004";

/// Identity with the fixed rule off and one conditional access policy: every user, every
/// application, phishing-resistant MFA.
async fn start_phishing_resistant() -> TestIdentity {
    let t = TestIdentity::start_with(|c| c.policy.require_mfa = MfaRule::Keyword(MfaKeyword::None))
        .await;
    let req = axum::http::Request::builder()
        .method("POST")
        .uri("/v1.0/identity/conditionalAccess/policies")
        .header("content-type", "application/json")
        .extension(mailward_identity::LocalAdmin)
        .body(axum::body::Body::from(
            json!({
                "displayName": "Passkeys for everyone",
                "state": "enabled",
                "conditions": {
                    "users": { "includeUsers": ["All"] },
                    "applications": { "includeApplications": ["All"] },
                    "clientAppTypes": ["all"],
                },
                "grantControls": {
                    "operator": "OR",
                    "builtInControls": [],
                    "authenticationStrength": { "id": PHISHING_RESISTANT },
                },
            })
            .to_string(),
        ))
        .expect("request");
    let resp = mailward_identity::router(t.ctx.clone())
        .oneshot(req)
        .await
        .expect("router answers");
    let status = resp.status().as_u16();
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .expect("body");
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    t
}

fn offers(page: &Landing, action: &str) -> bool {
    page.html()
        .contains(&format!("name=\"action\" value=\"{action}\""))
}

async fn passkeys(t: &TestIdentity, m: &MfaUser) -> usize {
    t.ctx
        .store()
        .passkeys(m.user.id)
        .await
        .unwrap_or_else(|e| panic!("passkeys: {e}"))
        .len()
}

/// From the page after the password of a TOTP-only user under a phishing-resistant policy:
/// no registration until the authenticator app is proven, then the passkey registration
/// page (and nothing else).
async fn step_up_then_register(t: &TestIdentity, b: &Browser, page: Landing, m: &MfaUser) {
    assert!(
        offers(&page, "totp"),
        "the user must prove the authenticator app first: {page:?}"
    );
    assert!(
        !offers(&page, "register_passkey") && !offers(&page, "register_totp"),
        "registration offered after the password alone: {page:?}"
    );
    // Posting a registration anyway (a forged form) changes nothing.
    let forged = b
        .submit(
            page.html(),
            "register_passkey",
            &[("credential", r#"{"id":"x","type":"public-key"}"#)],
        )
        .await;
    assert!(offers(&forged, "totp"), "{forged:?}");
    let forged = b
        .submit(page.html(), "register_totp", &[("code", "123456")])
        .await;
    assert!(offers(&forged, "totp"), "{forged:?}");
    assert_eq!(passkeys(t, m).await, 0);
    assert_eq!(forged.param("code"), None);

    // A wrong code keeps the user at the step-up.
    let wrong = b.submit(page.html(), "totp", &[("code", "000000")]).await;
    assert!(offers(&wrong, "totp"), "{wrong:?}");
    assert!(!offers(&wrong, "register_passkey"), "{wrong:?}");

    // Proven: now the passkey may be registered, and only a passkey.
    let code = fresh_totp(t, m).await;
    let register = b.submit(wrong.html(), "totp", &[("code", &code)]).await;
    assert!(offers(&register, "register_passkey"), "{register:?}");
    assert!(
        !register.html().contains("method=totp"),
        "an authenticator app does not meet the policy: {register:?}"
    );
    assert_eq!(register.param("code"), None);
    // The authenticator app cannot be registered in its place.
    let again = b
        .submit(register.html(), "register_totp", &[("code", "123456")])
        .await;
    assert!(offers(&again, "register_passkey"), "{again:?}");
    assert_eq!(again.param("code"), None);
}

#[tokio::test]
async fn a_totp_user_proves_totp_before_registering_the_passkey_a_policy_requires() {
    let t = start_phishing_resistant().await;
    let m = mfa_user(&t, "tina").await;
    let b = Browser::new(&t);
    let p = pkce();
    let page = password_pages(&b, &mail_authorize_url(&t, &p, &[]), &m.upn, PW).await;
    step_up_then_register(&t, &b, page, &m).await;
}

#[tokio::test]
async fn a_totp_user_proves_totp_before_registering_a_passkey_on_the_device_code_pages() {
    let t = start_phishing_resistant().await;
    let m = mfa_user(&t, "dora").await;
    let (status, device) = post_form(
        &t,
        &t.client(),
        "/oauth2/v2.0/devicecode",
        &[("client_id", MAIL_CLIENT_ID), ("scope", MAIL_SCOPE)],
        None,
    )
    .await;
    assert_eq!(status, 200, "{device}");
    let user_code = device["user_code"].as_str().expect("user_code");
    let b = Browser::new(&t);
    b.get(&format!("{}/devicelogin", t.url)).await;
    let page = b
        .post_form("/devicelogin", &[("user_code", user_code)])
        .await;
    let page = b
        .submit(page.html(), "identify", &[("username", &m.upn)])
        .await;
    let page = b.submit(page.html(), "password", &[("password", PW)]).await;
    step_up_then_register(&t, &b, page, &m).await;
    // The device is still waiting: nothing was approved.
    let (status, body) = token(
        &t,
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("client_id", MAIL_CLIENT_ID),
            ("device_code", device["device_code"].as_str().expect("code")),
        ],
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "authorization_pending", "{body}");
}

#[tokio::test]
async fn a_user_without_any_method_registers_a_passkey_on_first_need() {
    let t = start_phishing_resistant().await;
    let u = user(&t, "nell").await;
    let b = Browser::new(&t);
    let p = pkce();
    let page = password_pages(&b, &mail_authorize_url(&t, &p, &[]), u.upn.as_str(), PW).await;
    assert!(offers(&page, "register_passkey"), "{page:?}");
}

#[tokio::test]
async fn a_user_with_only_recovery_codes_proves_one_before_registering() {
    // The default rule: MFA for everyone.
    let t = TestIdentity::start().await;
    let mut m = mfa_user(&t, "rory").await;
    // The authenticator app is gone (unconfirmed); the recovery codes remain.
    let mut rec = t
        .ctx
        .store()
        .totp(m.user.id)
        .await
        .unwrap_or_else(|e| panic!("totp: {e}"))
        .expect("TOTP record");
    rec.confirmed = false;
    t.ctx
        .store()
        .put_totp(&rec)
        .await
        .unwrap_or_else(|e| panic!("put_totp: {e}"));
    let b = Browser::new(&t);
    let p = pkce();
    let page = password_pages(&b, &mail_authorize_url(&t, &p, &[]), &m.upn, PW).await;
    assert!(offers(&page, "recovery"), "{page:?}");
    assert!(
        !offers(&page, "register_totp") && !offers(&page, "register_passkey"),
        "registration offered after the password alone: {page:?}"
    );
    let forged = b
        .submit(page.html(), "register_totp", &[("code", "123456")])
        .await;
    assert!(offers(&forged, "recovery"), "{forged:?}");

    let recovery = m.recovery.remove(0);
    let register = b
        .submit(page.html(), "recovery", &[("code", &recovery)])
        .await;
    assert!(offers(&register, "register_totp"), "{register:?}");
    let secret = mailward_testkit::pages::totp_secret(register.html()).expect("TOTP secret");
    let done = b
        .submit(
            register.html(),
            "register_totp",
            &[("code", &mailward_testkit::totp_now(&secret))],
        )
        .await;
    // The user still has recovery codes: none are shown, the sign-in finishes.
    let done = if done.param("code").is_none() {
        b.submit(done.html(), "continue", &[]).await
    } else {
        done
    };
    let code = done
        .param("code")
        .unwrap_or_else(|| panic!("no code: {done:?}"));
    let (status, body) = redeem_mail_code(&t, &code, &p).await;
    assert_eq!(status, 200, "{body}");
    let (_, claims) = jwt(body["access_token"].as_str().expect("access token"));
    let amr: Vec<Value> = claims["amr"].as_array().cloned().unwrap_or_default();
    assert!(amr.contains(&json!("mfa")), "{claims}");
}
