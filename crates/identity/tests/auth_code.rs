//! Authorization code grant over real HTTPS: PKCE with the first-party mail app and RFC 8252
//! loopback port flexibility, a confidential web client (client_secret_post and
//! client_secret_basic), `response_mode=form_post`, single sign-on (`prompt=login`,
//! `prompt=none`, `max_age`), and every error of the authorize and token endpoints for
//! this grant and for client authentication, plus refresh token rotation and reuse.

mod common;

use common::*;
use mailward_testkit::{Browser, TestIdentity};
use mailward_types::model::well_known::MAIL_CLIENT_ID;
use time::Duration;

/// A code from single sign-on in a browser that already signed in (no pages shown).
async fn sso_code(t: &TestIdentity, b: &Browser, p: &Pkce) -> String {
    let l = b.get(&mail_authorize_url(t, p, &[])).await;
    l.param("code")
        .unwrap_or_else(|| panic!("expected SSO to answer with a code: {l:?}"))
}

#[tokio::test]
async fn pkce_flow_accepts_any_loopback_port() {
    let t = TestIdentity::start().await;
    let m = mfa_user(&t, "alice").await;
    let b = Browser::new(&t);
    for redirect in ["http://localhost:61234", "http://127.0.0.1:1234"] {
        let p = pkce();
        let url = authorize_url(
            &t,
            MAIL_CLIENT_ID,
            redirect,
            MAIL_SCOPE,
            &[
                ("code_challenge", &p.challenge),
                ("code_challenge_method", "S256"),
                ("state", "s1"),
            ],
        );
        let done = if has_sso(&t, &b).await {
            b.get(&url).await
        } else {
            sign_in(&t, &b, &url, &m).await
        };
        let location = done
            .location()
            .unwrap_or_else(|| panic!("no redirect: {done:?}"));
        assert!(location.starts_with(redirect), "{location}");
        assert_eq!(done.param("iss").as_deref(), Some(t.issuer.as_str()));
        let code = done.param("code").unwrap();
        let (status, body) = token(
            &t,
            &[
                ("grant_type", "authorization_code"),
                ("client_id", MAIL_CLIENT_ID),
                ("code", &code),
                ("redirect_uri", redirect),
                ("code_verifier", &p.verifier),
            ],
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["token_type"], "Bearer");
        assert!(
            body["access_token"].is_string()
                && body["id_token"].is_string()
                && body["refresh_token"].is_string()
        );
        assert!(
            body["scope"]
                .as_str()
                .unwrap()
                .contains("https://localhost:8446/IMAP.AccessAsUser.All"),
            "{body}"
        );
    }
}

#[tokio::test]
async fn redirect_uri_mismatch_at_authorize_is_shown_not_redirected() {
    let t = TestIdentity::start().await;
    let b = Browser::new(&t);
    let p = pkce();
    for bad in [
        "https://evil.example/cb",
        "http://127.0.0.1:53000/other-path",
        "http://localhost.evil.example",
    ] {
        let url = authorize_url(
            &t,
            MAIL_CLIENT_ID,
            bad,
            MAIL_SCOPE,
            &[
                ("code_challenge", &p.challenge),
                ("code_challenge_method", "S256"),
                ("state", "s"),
            ],
        );
        match b.get(&url).await {
            mailward_testkit::Landing::Page { status, html } => {
                assert_eq!(status, 400, "{html}");
                assert!(html.contains("MW50011"), "{html}");
            }
            other => panic!("redirected to an unregistered URI: {other:?}"),
        }
    }
}

#[tokio::test]
async fn unknown_client_at_authorize_is_an_error_page() {
    let t = TestIdentity::start().await;
    let b = Browser::new(&t);
    let url = authorize_url(
        &t,
        "00000000-0000-0000-0000-000000000000",
        LOOPBACK,
        "openid",
        &[],
    );
    match b.get(&url).await {
        mailward_testkit::Landing::Page { status, html } => {
            assert_eq!(status, 400);
            assert!(html.contains("MW700016"), "{html}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn public_client_without_pkce_gets_redirected_invalid_request() {
    let t = TestIdentity::start().await;
    let b = Browser::new(&t);
    let url = authorize_url(
        &t,
        MAIL_CLIENT_ID,
        LOOPBACK,
        MAIL_SCOPE,
        &[("state", "nopkce")],
    );
    let l = b.get(&url).await;
    assert!(
        l.location().is_some_and(|u| u.starts_with(LOOPBACK)),
        "{l:?}"
    );
    assert_eq!(l.param("error").as_deref(), Some("invalid_request"));
    assert_eq!(l.param("state").as_deref(), Some("nopkce"));
    assert_eq!(l.param("iss").as_deref(), Some(t.issuer.as_str()));
    assert!(l.param("code").is_none());
}

#[tokio::test]
async fn duplicate_parameters_are_refused() {
    let t = TestIdentity::start().await;
    // At authorize: before the client is trusted, so an error page.
    let b = Browser::new(&t);
    let url = format!(
        "{}&client_id={MAIL_CLIENT_ID}",
        authorize_url(&t, MAIL_CLIENT_ID, LOOPBACK, "openid", &[])
    );
    match b.get(&url).await {
        mailward_testkit::Landing::Page { status, html } => {
            assert_eq!(status, 400, "{html}");
            assert!(html.contains("MW9002313"), "{html}");
        }
        other => panic!("{other:?}"),
    }
    // At the token endpoint.
    let body =
        format!("grant_type=authorization_code&code=abc&code=def&client_id={MAIL_CLIENT_ID}");
    let r = post_raw(&t, "/oauth2/v2.0/token", &body).await;
    assert_error(&r, 400, "invalid_request", 9002313);
}

#[tokio::test]
async fn unsupported_grant_type() {
    let t = TestIdentity::start().await;
    let r = token(
        &t,
        &[("grant_type", "implicit"), ("client_id", MAIL_CLIENT_ID)],
    )
    .await;
    assert_eq!(r.0, 400, "{}", r.1);
    assert_eq!(r.1["error"], "unsupported_grant_type");
    let r = token(&t, &[("client_id", MAIL_CLIENT_ID)]).await;
    assert_error(&r, 400, "invalid_request", 900144);
}

#[tokio::test]
async fn confidential_client_with_secret_post_and_basic() {
    let t = TestIdentity::start().await;
    let m = mfa_user(&t, "bob").await;
    let (id, secret) = confidential_app(&t, None, &[]).await;
    let b = Browser::new(&t);
    let url = authorize_url(
        &t,
        &id,
        WEB_REDIRECT,
        "openid profile offline_access",
        &[("state", "w1"), ("nonce", "n")],
    );
    let done = sign_in(&t, &b, &url, &m).await;
    assert!(
        done.location().unwrap().starts_with(WEB_REDIRECT),
        "{done:?}"
    );
    let code = done.param("code").unwrap();
    // client_secret_post
    let (status, body) = token(
        &t,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &id),
            ("client_secret", &secret),
            ("code", &code),
            ("redirect_uri", WEB_REDIRECT),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (_, id_claims) = jwt(body["id_token"].as_str().unwrap());
    assert_eq!(id_claims["aud"], id.as_str());
    assert_eq!(id_claims["nonce"], "n");

    // client_secret_basic, after single sign-on.
    let l = b.get(&url).await;
    let code = l.param("code").unwrap_or_else(|| panic!("{l:?}"));
    let (status, body) = post_form(
        &t,
        &t.client(),
        "/oauth2/v2.0/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", WEB_REDIRECT),
        ],
        Some((&id, &secret)),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // Refresh with basic auth too.
    let rt = body["refresh_token"].as_str().unwrap();
    let (status, body) = post_form(
        &t,
        &t.client(),
        "/oauth2/v2.0/token",
        &[("grant_type", "refresh_token"), ("refresh_token", rt)],
        Some((&id, &secret)),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn client_authentication_errors() {
    let t = TestIdentity::start().await;
    let (id, secret) = confidential_app(&t, None, &[]).await;
    // Unknown client.
    let r = token(
        &t,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", "11111111-2222-3333-4444-555555555555"),
            ("code", "x"),
        ],
    )
    .await;
    assert_error(&r, 401, "invalid_client", 700016);
    assert!(
        r.1["error_description"]
            .as_str()
            .unwrap()
            .starts_with("MW700016"),
        "{}",
        r.1
    );
    // Public client sending a secret.
    let r = token(
        &t,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", MAIL_CLIENT_ID),
            ("client_secret", "s"),
            ("code", "x"),
        ],
    )
    .await;
    assert_error(&r, 401, "invalid_client", 700025);
    // Confidential client without a secret.
    let r = token(
        &t,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &id),
            ("code", "x"),
        ],
    )
    .await;
    assert_error(&r, 401, "invalid_client", 7000218);
    // Wrong secret, in the body and in the header.
    let r = token(
        &t,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &id),
            ("client_secret", "wrong"),
            ("code", "x"),
        ],
    )
    .await;
    assert_error(&r, 401, "invalid_client", 7000215);
    let res = t
        .client()
        .post(t.at("/oauth2/v2.0/token"))
        .basic_auth(&id, Some("wrong"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "https://localhost:8446/.default"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 401);
    assert!(res.headers().get("www-authenticate").is_some());
    let v: serde_json::Value = res.json().await.unwrap();
    assert_eq!(code_of(&v), 7000215, "{v}");
    // Both methods at once.
    let r = post_form(
        &t,
        &t.client(),
        "/oauth2/v2.0/token",
        &[
            ("grant_type", "client_credentials"),
            ("client_secret", &secret),
        ],
        Some((&id, &secret)),
    )
    .await;
    assert_error(&r, 400, "invalid_request", 9002313);
    // Failures are in the sign-in log.
    t.flush_log().await;
    let failures = t
        .ctx
        .store()
        .signins(&mailward_types::records::SignInFilter {
            app_id: Some(id.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        failures.iter().any(|e| e.error_code == Some(7000218)),
        "{failures:?}"
    );
    assert!(
        failures.iter().any(|e| e.error_code == Some(7000215)),
        "{failures:?}"
    );
}

#[tokio::test]
async fn form_post_response_mode() {
    let t = TestIdentity::start().await;
    let m = mfa_user(&t, "carol").await;
    let b = Browser::new(&t);
    let p = pkce();
    let done = sign_in(
        &t,
        &b,
        &mail_authorize_url(&t, &p, &[("response_mode", "form_post")]),
        &m,
    )
    .await;
    let html = done.html();
    assert!(html.contains("method=\"post\""), "{done:?}");
    assert!(
        unescape(html).contains(&format!("action=\"{LOOPBACK}\"")),
        "{html}"
    );
    let fields = hidden_fields(html);
    let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    assert_eq!(get("state").as_deref(), Some("st"), "{fields:?}");
    assert_eq!(get("iss").as_deref(), Some(t.issuer.as_str()));
    let code = get("code").expect("code field");
    let (status, body) = redeem_mail_code(&t, &code, &p).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn single_sign_on_and_prompt_login() {
    let t = TestIdentity::start().await;
    let m = mfa_user(&t, "dave").await;
    let b = Browser::new(&t);
    let p = pkce();
    let first = mail_code(&t, &b, &p, &m).await;
    let (status, _) = redeem_mail_code(&t, &first, &p).await;
    assert_eq!(status, 200);

    // Second authorize: the session answers, no password asked.
    let p2 = pkce();
    let code = sso_code(&t, &b, &p2).await;
    let (status, body) = redeem_mail_code(&t, &code, &p2).await;
    assert_eq!(status, 200, "{body}");
    let (_, claims) = jwt(body["access_token"].as_str().unwrap());
    assert!(
        claims["amr"].as_array().unwrap().iter().any(|a| a == "mfa"),
        "{claims}"
    );

    // prompt=login asks for the password again.
    let l = b
        .get(&mail_authorize_url(&t, &pkce(), &[("prompt", "login")]))
        .await;
    assert!(l.html().contains("name=\"username\""), "{l:?}");

    // A different browser has no session.
    let other = Browser::new(&t);
    assert!(!has_sso(&t, &other).await);
}

#[tokio::test]
async fn prompt_none_without_session_is_login_required() {
    let t = TestIdentity::start().await;
    let b = Browser::new(&t);
    let l = b
        .get(&mail_authorize_url(&t, &pkce(), &[("prompt", "none")]))
        .await;
    assert!(
        l.location().is_some_and(|u| u.starts_with(LOOPBACK)),
        "{l:?}"
    );
    assert_eq!(l.param("error").as_deref(), Some("login_required"));
    assert_eq!(l.param("error_codes").as_deref(), Some("50058"));
    assert_eq!(l.param("state").as_deref(), Some("st"));
    assert!(l.param("code").is_none());
}

#[tokio::test]
async fn max_age_forces_a_fresh_sign_in() {
    let t = TestIdentity::start().await;
    let m = mfa_user(&t, "erin").await;
    let body = {
        let b = Browser::new(&t);
        let p = pkce();
        let code = mail_code(&t, &b, &p, &m).await;
        let (status, body) = redeem_mail_code(&t, &code, &p).await;
        assert_eq!(status, 200, "{body}");
        // Same browser continues below.
        (b, body)
    };
    let (b, tokens) = body;
    // Simulate ten minutes passing since the sign-in: move the session's auth_time back
    // (and the user's creation with it, so the session is not older than the user).
    t.ctx
        .store()
        .update_user(
            m.user.id,
            Box::new(|mut u| {
                u.tokens_valid_from -= Duration::hours(1);
                Ok(u)
            }),
        )
        .await
        .unwrap();
    let rt = tokens["refresh_token"].as_str().unwrap();
    let record = t
        .ctx
        .store()
        .refresh_token(&mailward_oauth::random::hash(rt))
        .await
        .unwrap()
        .unwrap();
    let sid = record.session_id.expect("session id on the refresh token");
    t.ctx
        .store()
        .update_session(
            sid,
            Box::new(|mut s| {
                s.auth_time -= Duration::minutes(10);
                Ok(s)
            }),
        )
        .await
        .unwrap();
    // Within max_age: single sign-on.
    let l = b
        .get(&mail_authorize_url(&t, &pkce(), &[("max_age", "3600")]))
        .await;
    assert!(l.param("code").is_some(), "{l:?}");
    // Older than max_age: the password is asked again.
    let l = b
        .get(&mail_authorize_url(&t, &pkce(), &[("max_age", "60")]))
        .await;
    assert!(l.html().contains("name=\"username\""), "{l:?}");
    // prompt=none with a too-old session: login_required.
    let l = b
        .get(&mail_authorize_url(
            &t,
            &pkce(),
            &[("max_age", "60"), ("prompt", "none")],
        ))
        .await;
    assert_eq!(l.param("error").as_deref(), Some("login_required"), "{l:?}");
}

#[tokio::test]
async fn reused_code_is_refused_and_revokes_its_tokens() {
    let t = TestIdentity::start().await;
    let m = mfa_user(&t, "frank").await;
    let b = Browser::new(&t);
    let p = pkce();
    let code = mail_code(&t, &b, &p, &m).await;
    let (status, body) = redeem_mail_code(&t, &code, &p).await;
    assert_eq!(status, 200, "{body}");
    let rt = body["refresh_token"].as_str().unwrap().to_string();

    let r = redeem_mail_code(&t, &code, &p).await;
    assert_error(&r, 400, "invalid_grant", 54005);

    // The refresh token obtained from the code is dead now.
    let r = token(
        &t,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", MAIL_CLIENT_ID),
            ("refresh_token", &rt),
        ],
    )
    .await;
    assert_eq!(r.0, 400, "{}", r.1);
    assert_eq!(r.1["error"], "invalid_grant");
    let log = signins(&t, &m.upn).await;
    assert!(log.iter().any(|e| e.error_code == Some(54005)), "{log:?}");
}

#[tokio::test]
async fn code_redemption_errors() {
    let t = TestIdentity::start().await;
    let m = mfa_user(&t, "gina").await;
    let b = Browser::new(&t);
    let p = pkce();
    let _ = mail_code(&t, &b, &p, &m).await;

    // Wrong verifier.
    let code = sso_code(&t, &b, &p).await;
    let wrong = pkce();
    let r = redeem_mail_code(&t, &code, &wrong).await;
    assert_error(&r, 400, "invalid_grant", 50148);

    // Missing verifier for a public client.
    let code = sso_code(&t, &b, &p).await;
    let r = token(
        &t,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", MAIL_CLIENT_ID),
            ("code", &code),
            ("redirect_uri", LOOPBACK),
        ],
    )
    .await;
    assert_error(&r, 400, "invalid_grant", 50148);

    // Redirect URI different from the authorization request's.
    let code = sso_code(&t, &b, &p).await;
    let r = token(
        &t,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", MAIL_CLIENT_ID),
            ("code", &code),
            ("redirect_uri", "http://127.0.0.1:53001"),
            ("code_verifier", &p.verifier),
        ],
    )
    .await;
    assert_error(&r, 400, "invalid_grant", 50011);

    // A code presented by another client.
    let (id, secret) = confidential_app(&t, None, &[]).await;
    let code = sso_code(&t, &b, &p).await;
    let r = token(
        &t,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &id),
            ("client_secret", &secret),
            ("code", &code),
            ("redirect_uri", LOOPBACK),
            ("code_verifier", &p.verifier),
        ],
    )
    .await;
    assert_error(&r, 400, "invalid_grant", 70000);

    // An unknown code.
    let r = redeem_mail_code(&t, "not-a-code", &p).await;
    assert_error(&r, 400, "invalid_grant", 70000);
}

#[tokio::test]
async fn refresh_token_rotation_and_reuse_revokes_the_family() {
    let t = TestIdentity::start().await;
    let m = mfa_user(&t, "hank").await;
    let tokens = mail_tokens(&t, &m).await;
    let rt1 = tokens["refresh_token"].as_str().unwrap().to_string();
    let refresh = |rt: String| {
        let t = &t;
        async move {
            token(
                t,
                &[
                    ("grant_type", "refresh_token"),
                    ("client_id", MAIL_CLIENT_ID),
                    ("refresh_token", &rt),
                ],
            )
            .await
        }
    };
    let (status, body) = refresh(rt1.clone()).await;
    assert_eq!(status, 200, "{body}");
    let rt2 = body["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(rt1, rt2);
    let (status, body) = refresh(rt2.clone()).await;
    assert_eq!(status, 200, "{body}");
    let rt3 = body["refresh_token"].as_str().unwrap().to_string();

    // rt1 again: reuse detected, the family is revoked.
    let r = refresh(rt1).await;
    assert_error(&r, 400, "invalid_grant", 70043);
    // Even the newest token of the family no longer works.
    let r = refresh(rt3).await;
    assert_eq!(r.0, 400, "{}", r.1);
    assert_eq!(r.1["error"], "invalid_grant");
    let log = signins(&t, &m.upn).await;
    assert!(log.iter().any(|e| e.error_code == Some(70043)), "{log:?}");
}

#[tokio::test]
async fn refresh_token_of_another_client_is_refused() {
    let t = TestIdentity::start().await;
    let m = mfa_user(&t, "ivy").await;
    let tokens = mail_tokens(&t, &m).await;
    let rt = tokens["refresh_token"].as_str().unwrap();
    let other = public_app(&t, &["authorization_code", "refresh_token"]).await;
    let r = token(
        &t,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &other),
            ("refresh_token", rt),
        ],
    )
    .await;
    assert_error(&r, 400, "invalid_grant", 70000);
    // The leak stopped the family for the rightful client too.
    let r = token(
        &t,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", MAIL_CLIENT_ID),
            ("refresh_token", rt),
        ],
    )
    .await;
    assert_eq!(r.0, 400, "{}", r.1);
}
