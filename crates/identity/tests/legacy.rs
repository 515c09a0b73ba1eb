//! Relayed basic authentication (`POST /legacy/v1/authenticate`) over real HTTPS: only apps
//! holding the `LegacyAuth.Relay` role may call it; allow under the "none" MFA rule, deny
//! 50076 under the default rule (legacy protocols cannot do MFA), deny 50126 for a wrong
//! password; hostile bodies are refused with 400; the sign-in log records the protocol and
//! client app type `other`.

mod common;

use common::*;
use mailward_signin::policy::{MfaKeyword, MfaRule};
use mailward_testkit::TestIdentity;
use mailward_types::model::ClientAppType;
use mailward_types::model::well_known::LEGACY_RELAY_ROLE;
use mailward_types::records::SignInResult;
use serde_json::{Value, json};

async fn relay_app(t: &TestIdentity) -> (String, String) {
    confidential_app(t, Some(&["client_credentials"]), &[LEGACY_RELAY_ROLE]).await
}

async fn relay(t: &TestIdentity, app: &(String, String), body: impl Into<String>) -> (u16, Value) {
    let res = t
        .client()
        .post(t.at("/legacy/v1/authenticate"))
        .basic_auth(&app.0, Some(&app.1))
        .header("content-type", "application/json")
        .body(body.into())
        .send()
        .await
        .unwrap_or_else(|e| panic!("relay: {e}"));
    let status = res.status().as_u16();
    let text = res.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn req(username: &str, password: &str) -> String {
    json!({ "username": username, "password": password, "protocol": "IMAP4", "client_ip": "198.51.100.7", "user_agent": "Thunderbird" })
        .to_string()
}

#[tokio::test]
async fn allow_when_no_mfa_is_required() {
    let t = TestIdentity::start_with(|c| c.policy.require_mfa = MfaRule::Keyword(MfaKeyword::None))
        .await;
    let app = relay_app(&t).await;
    let u = user(&t, "alice").await;
    let (status, v) = relay(&t, &app, req(u.upn.as_str(), PW)).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["result"], "allow", "{v}");
    assert_eq!(v["user"]["id"], u.id.to_string());
    assert_eq!(v["user"]["upn"], u.upn.as_str());

    let (status, v) = relay(&t, &app, req(u.upn.as_str(), "wrong password")).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["result"], "deny");
    assert_eq!(v["error_codes"], json!([50126]));

    let log = signins(&t, u.upn.as_str()).await;
    assert_eq!(log.len(), 2, "{log:?}");
    for e in &log {
        assert_eq!(e.protocol.as_deref(), Some("IMAP4"));
        assert_eq!(e.client_app_used, ClientAppType::Other);
        assert_eq!(e.flow, "basic");
        assert_eq!(e.ip_address.as_deref(), Some("198.51.100.7"));
        assert_eq!(e.user_agent.as_deref(), Some("Thunderbird"));
        assert_eq!(e.app_id.as_deref(), Some(app.0.as_str()));
    }
    assert_eq!(log[0].result, SignInResult::Failure);
    assert_eq!(log[0].error_code, Some(50126));
    assert_eq!(log[1].result, SignInResult::Success);

    // The same filter through the stored client app type.
    t.flush_log().await;
    let other = t
        .ctx
        .store()
        .signins(&mailward_types::records::SignInFilter {
            client_app_type: Some(ClientAppType::Other),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(other.len(), 2);
}

#[tokio::test]
async fn default_rule_denies_with_mfa_required() {
    let t = TestIdentity::start().await;
    let app = relay_app(&t).await;
    let u = user(&t, "bob").await;
    let (status, v) = relay(&t, &app, req(u.upn.as_str(), PW)).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["result"], "deny");
    assert_eq!(v["error_codes"], json!([50076]));
    assert!(v.get("user").is_none(), "{v}");
    let (_, v) = relay(&t, &app, req(u.upn.as_str(), "wrong password")).await;
    assert_eq!(v["error_codes"], json!([50126]), "{v}");
    let (_, v) = relay(&t, &app, req(&upn("nobody"), PW)).await;
    assert_eq!(v["error_codes"], json!([50126]), "{v}");
    let d = user_with(&t, "off", &[], false).await;
    let (_, v) = relay(&t, &app, req(d.upn.as_str(), PW)).await;
    assert_eq!(v["error_codes"], json!([50057]), "{v}");
    let log = signins(&t, u.upn.as_str()).await;
    assert_eq!(log.len(), 2, "{log:?}");
    assert!(
        log.iter().all(|e| e.result == SignInResult::Failure),
        "{log:?}"
    );
    assert!(log.iter().any(|e| e.error_code == Some(50076)), "{log:?}");
}

#[tokio::test]
async fn only_apps_with_the_relay_role() {
    let t = TestIdentity::start_with(|c| c.policy.require_mfa = MfaRule::Keyword(MfaKeyword::None))
        .await;
    let u = user(&t, "carol").await;
    let plain = confidential_app(&t, None, &[]).await;
    let r = relay(&t, &plain, req(u.upn.as_str(), PW)).await;
    assert_error(&r, 400, "unauthorized_client", 65001);
    // Wrong secret.
    let app = relay_app(&t).await;
    let r = relay(
        &t,
        &(app.0.clone(), "wrong".into()),
        req(u.upn.as_str(), PW),
    )
    .await;
    assert_error(&r, 401, "invalid_client", 7000215);
    // No client authentication at all.
    let res = t
        .client()
        .post(t.at("/legacy/v1/authenticate"))
        .body(req(u.upn.as_str(), PW))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 400);
    // The public mail app cannot relay either (it has no secret to authenticate with).
    let r = relay(
        &t,
        &(
            mailward_types::model::well_known::MAIL_CLIENT_ID.into(),
            "x".into(),
        ),
        req(u.upn.as_str(), PW),
    )
    .await;
    assert_error(&r, 401, "invalid_client", 700025);
    // None of these reached the password check.
    assert!(signins(&t, u.upn.as_str()).await.is_empty());
}

#[tokio::test]
async fn hostile_bodies_are_refused() {
    let t = TestIdentity::start_with(|c| c.policy.require_mfa = MfaRule::Keyword(MfaKeyword::None))
        .await;
    let app = relay_app(&t).await;
    let u = user(&t, "dave").await;
    let name = u.upn.as_str();
    let huge = "x".repeat(20_000);
    let bodies = [
        json!({ "username": name, "password": PW, "protocol": "IMAP4", "admin": true }).to_string(),
        json!({ "username": name, "password": PW }).to_string(),
        json!({ "username": name, "password": PW, "protocol": "" }).to_string(),
        json!({ "username": name, "password": PW, "protocol": huge }).to_string(),
        json!({ "username": huge, "password": PW, "protocol": "IMAP4" }).to_string(),
        json!({ "username": name, "password": huge, "protocol": "IMAP4" }).to_string(),
        json!({ "username": name, "password": PW, "protocol": "IMAP4", "client_ip": "not an ip" })
            .to_string(),
        json!({ "username": 42, "password": PW, "protocol": "IMAP4" }).to_string(),
        json!([name, PW, "IMAP4"]).to_string(),
        "username=dave&password=x&protocol=IMAP4".to_string(),
        "{\"username\": \"dave".to_string(),
        String::new(),
        "null".to_string(),
    ];
    for body in bodies {
        let (status, v) = relay(&t, &app, body.clone()).await;
        assert_eq!(
            status,
            400,
            "{}: {v}",
            body.chars().take(80).collect::<String>()
        );
        assert_eq!(v["error"], "invalid_request", "{v}");
    }
    // Over the request size limit.
    let (status, _) = relay(
        &t,
        &app,
        json!({ "username": "x".repeat(100_000) }).to_string(),
    )
    .await;
    assert_eq!(status, 413);
    // Nothing was attempted for the user.
    assert!(signins(&t, name).await.is_empty());
    // A well-formed request still works.
    let (_, v) = relay(&t, &app, req(name, PW)).await;
    assert_eq!(v["result"], "allow", "{v}");
}
