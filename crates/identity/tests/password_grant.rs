//! Resource owner password credentials grant over real HTTPS: off unless the application
//! allows it, answered 50079/50076 under the default "MFA for everyone" rule (the grant
//! cannot prompt), and issuing tokens when the rule is "none"; credential errors.

mod common;

use common::*;
use mailward_signin::policy::{MfaKeyword, MfaRule};
use mailward_testkit::TestIdentity;
use mailward_types::model::well_known::MAIL_CLIENT_ID;
use mailward_types::records::SignInResult;

async fn ropc(
    t: &TestIdentity,
    client_id: &str,
    username: &str,
    password: &str,
) -> (u16, serde_json::Value) {
    token(
        t,
        &[
            ("grant_type", "password"),
            ("client_id", client_id),
            ("username", username),
            ("password", password),
            ("scope", MAIL_SCOPE),
        ],
    )
    .await
}

#[tokio::test]
async fn off_by_default() {
    let t = TestIdentity::start().await;
    let u = user(&t, "alice").await;
    let r = ropc(&t, MAIL_CLIENT_ID, u.upn.as_str(), PW).await;
    assert_error(&r, 400, "unauthorized_client", 65001);
}

#[tokio::test]
async fn default_rule_requires_mfa_which_the_grant_cannot_do() {
    let t = TestIdentity::start().await;
    let app = public_app(&t, &["password"]).await;
    // Without a registered method: registration required.
    let u = user(&t, "bob").await;
    let r = ropc(&t, &app, u.upn.as_str(), PW).await;
    assert_error(&r, 400, "invalid_grant", 50079);
    // With one: MFA required.
    let m = mfa_user(&t, "carol").await;
    let r = ropc(&t, &app, &m.upn, PW).await;
    assert_error(&r, 400, "invalid_grant", 50076);
    // The password is checked before the policy: a wrong one says so.
    let r = ropc(&t, &app, &m.upn, "wrong password").await;
    assert_error(&r, 400, "invalid_grant", 50126);
}

#[tokio::test]
async fn succeeds_when_the_rule_is_none() {
    let t = TestIdentity::start_with(|c| c.policy.require_mfa = MfaRule::Keyword(MfaKeyword::None))
        .await;
    let app = public_app(&t, &["password", "refresh_token"]).await;
    let u = user(&t, "dave").await;
    let (status, body) = ropc(&t, &app, u.upn.as_str(), PW).await;
    assert_eq!(status, 200, "{body}");
    let (_, claims) = jwt(body["access_token"].as_str().unwrap());
    assert_eq!(claims["aud"], MAIL_RESOURCE);
    assert_eq!(claims["upn"], u.upn.as_str());
    assert_eq!(claims["amr"], serde_json::json!(["pwd"]));
    assert_eq!(claims["ipaddr"], "127.0.0.1");
    assert!(body["refresh_token"].is_string(), "{body}");
    let log = signins(&t, u.upn.as_str()).await;
    assert_eq!(log[0].result, SignInResult::Success, "{log:?}");
    assert_eq!(log[0].flow, "password");
}

#[tokio::test]
async fn credential_errors() {
    let t = TestIdentity::start_with(|c| c.policy.require_mfa = MfaRule::Keyword(MfaKeyword::None))
        .await;
    let app = public_app(&t, &["password"]).await;
    let u = user(&t, "erin").await;
    let r = ropc(&t, &app, u.upn.as_str(), "wrong password").await;
    assert_error(&r, 400, "invalid_grant", 50126);
    let r = ropc(&t, &app, &upn("nobody"), PW).await;
    assert_error(&r, 400, "invalid_grant", 50126);
    let r = ropc(&t, &app, "not a user name", PW).await;
    assert_error(&r, 400, "invalid_grant", 50126);
    let d = user_with(&t, "off", &[], false).await;
    let r = ropc(&t, &app, d.upn.as_str(), PW).await;
    assert_error(&r, 400, "invalid_grant", 50057);
    // Missing password.
    let r = token(
        &t,
        &[
            ("grant_type", "password"),
            ("client_id", &app),
            ("username", u.upn.as_str()),
        ],
    )
    .await;
    assert_error(&r, 400, "invalid_request", 900144);
    let log = signins(&t, u.upn.as_str()).await;
    assert_eq!(log[0].error_code, Some(50126), "{log:?}");
}
