//! The main path end to end over real HTTPS: authorization code with PKCE through the
//! sign-in pages, MFA registration on first need, token redemption and refresh.

use mailward_testkit::{Browser, TestIdentity, pages, pkce_pair, totp_now};
use mailward_types::model::well_known::MAIL_CLIENT_ID;

#[tokio::test]
async fn authorization_code_with_mfa_registration_and_refresh() {
    let t = TestIdentity::start().await;
    t.add_user("alice", "correct horse battery").await;
    let b = Browser::new(&t);
    let (verifier, challenge) = pkce_pair();
    let redirect = "http://127.0.0.1:53000";
    let scope = "openid profile offline_access https://localhost:8446/IMAP.AccessAsUser.All";
    let url = format!(
        "{}/oauth2/v2.0/authorize?client_id={MAIL_CLIENT_ID}&response_type=code&redirect_uri={}&scope={}&code_challenge={challenge}&code_challenge_method=S256&state=xyz&nonce=n1",
        t.url,
        url::form_urlencoded::byte_serialize(redirect.as_bytes()).collect::<String>(),
        url::form_urlencoded::byte_serialize(scope.as_bytes()).collect::<String>(),
    );
    let page = b.get(&url).await;
    assert!(page.html().contains("name=\"username\""), "{}", page.html());
    let page = b
        .submit(
            page.html(),
            "identify",
            &[("username", "alice@contoso.test")],
        )
        .await;
    assert!(page.html().contains("name=\"password\""), "{}", page.html());
    let page = b
        .submit(
            page.html(),
            "password",
            &[("password", "correct horse battery")],
        )
        .await;
    let secret = pages::totp_secret(page.html())
        .unwrap_or_else(|| panic!("no TOTP registration page:\n{}", page.html()));
    let page = b
        .submit(
            page.html(),
            "register_totp",
            &[("code", &totp_now(&secret))],
        )
        .await;
    let codes = pages::recovery_codes(page.html());
    assert_eq!(codes.len(), 10, "{}", page.html());
    let done = b.submit(page.html(), "continue", &[]).await;
    assert_eq!(done.param("state").as_deref(), Some("xyz"));
    assert_eq!(done.param("iss").as_deref(), Some(t.issuer.as_str()));
    let code = done
        .param("code")
        .unwrap_or_else(|| panic!("no code: {done:?}"));

    let client = t.client();
    let tokens: serde_json::Value = client
        .post(t.at("/oauth2/v2.0/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", MAIL_CLIENT_ID),
            ("code", &code),
            ("redirect_uri", redirect),
            ("code_verifier", &verifier),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(tokens["access_token"].is_string(), "{tokens}");
    assert!(tokens["id_token"].is_string(), "{tokens}");
    let rt = tokens["refresh_token"].as_str().unwrap().to_string();

    let refreshed: serde_json::Value = client
        .post(t.at("/oauth2/v2.0/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", MAIL_CLIENT_ID),
            ("refresh_token", &rt),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(refreshed["access_token"].is_string(), "{refreshed}");
    assert_ne!(refreshed["refresh_token"].as_str(), Some(rt.as_str()));
}
