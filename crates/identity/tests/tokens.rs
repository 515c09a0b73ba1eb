//! What identity issues and publishes, over real HTTPS: access and ID token claims and
//! headers, signatures checked against the published JWKS, the discovery document,
//! userinfo with and without a bearer token, revocation (RFC 7009) and RP-initiated logout.

mod common;

use common::*;
use mailward_testkit::{Browser, Landing, TestIdentity};
use mailward_tokens::keyset::Expect;
use mailward_tokens::verify::JwksVerifier;
use mailward_types::model::TokenAlg;
use mailward_types::model::well_known::MAIL_CLIENT_ID;
use serde_json::Value;

fn strs(v: &Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// Tokens for identity's own resource (userinfo), from the mail app.
async fn identity_tokens(t: &TestIdentity, b: &Browser, m: &MfaUser, scope: &str) -> Value {
    let p = pkce();
    let url = authorize_url(
        t,
        MAIL_CLIENT_ID,
        LOOPBACK,
        scope,
        &[
            ("code_challenge", &p.challenge),
            ("code_challenge_method", "S256"),
        ],
    );
    let done = if has_sso(t, b).await {
        b.get(&url).await
    } else {
        sign_in(t, b, &url, m).await
    };
    let code = done.param("code").unwrap_or_else(|| panic!("{done:?}"));
    let (status, body) = redeem_mail_code(t, &code, &p).await;
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test]
async fn access_and_id_token_claims_and_signatures() {
    let t = TestIdentity::start().await;
    let m = mfa_user(&t, "alice").await;
    let body = mail_tokens(&t, &m).await;
    let at = body["access_token"].as_str().unwrap();
    let idt = body["id_token"].as_str().unwrap();
    assert_eq!(body["expires_in"], 3600);

    let (h, c) = jwt(at);
    assert_eq!(h["alg"], "ES256");
    assert_eq!(h["typ"], "at+jwt");
    let kid = h["kid"].as_str().expect("kid");
    let keys = jwks(&t).await;
    let verifier = JwksVerifier::from_jwks(&keys).unwrap();
    assert!(verifier.has_kid(kid), "{keys}");

    let now = mailward_types::clock::now();
    let verified = verifier
        .verify(
            at,
            &Expect {
                issuer: t.issuer.clone(),
                audience: Some(MAIL_RESOURCE.to_string()),
                algs: vec![TokenAlg::ES256],
                leeway_secs: 0,
            },
            now,
        )
        .unwrap_or_else(|e| panic!("access token does not verify: {e}"));
    assert_eq!(verified, c);

    let oid = m.user.id.to_string();
    assert_eq!(c["iss"], t.issuer.as_str());
    assert_eq!(c["aud"], MAIL_RESOURCE);
    assert_eq!(c["sub"], oid.as_str());
    assert_eq!(c["oid"], oid.as_str());
    assert_eq!(c["tid"], t.ctx.tenant_id().to_string());
    assert_eq!(c["upn"], m.upn.as_str());
    assert_eq!(c["scp"], "IMAP.AccessAsUser.All");
    assert_eq!(c["azp"], MAIL_CLIENT_ID);
    assert_eq!(c["ipaddr"], "127.0.0.1");
    let amr = strs(&c["amr"]);
    for a in ["pwd", "otp", "mfa"] {
        assert!(amr.contains(&a), "{amr:?}");
    }
    let iat = c["iat"].as_i64().unwrap();
    assert_eq!(c["nbf"].as_i64(), Some(iat));
    assert_eq!(c["exp"].as_i64(), Some(iat + 3600));
    let auth_time = c["auth_time"].as_i64().unwrap();
    assert!(
        auth_time <= iat && iat - auth_time < 3600,
        "auth_time {auth_time} iat {iat}"
    );
    assert!((iat - now.unix_timestamp()).abs() < 3600);
    assert!(c["sid"].is_string());

    let (h, id) = jwt(idt);
    assert_eq!(h["alg"], "RS256");
    assert!(verifier.has_kid(h["kid"].as_str().expect("kid")));
    verifier
        .verify(
            idt,
            &Expect {
                issuer: t.issuer.clone(),
                audience: Some(MAIL_CLIENT_ID.to_string()),
                algs: vec![TokenAlg::RS256],
                leeway_secs: 0,
            },
            now,
        )
        .unwrap_or_else(|e| panic!("ID token does not verify: {e}"));
    assert_eq!(id["aud"], MAIL_CLIENT_ID);
    assert_eq!(id["iss"], t.issuer.as_str());
    assert_eq!(id["sub"], oid.as_str());
    assert_eq!(id["tid"], c["tid"]);
    assert_eq!(id["nonce"], "n1");
    assert_eq!(id["at_hash"], mailward_tokens::claims::at_hash(at).as_str());
    assert_eq!(id["auth_time"].as_i64(), Some(auth_time));
    assert_eq!(id["preferred_username"], m.upn.as_str());
    assert_eq!(strs(&id["amr"]), amr);

    // A token refused for the wrong audience or algorithm list.
    let wrong_aud = verifier.verify(
        at,
        &Expect {
            issuer: t.issuer.clone(),
            audience: Some(t.url.clone()),
            algs: vec![TokenAlg::ES256],
            leeway_secs: 0,
        },
        now,
    );
    assert!(wrong_aud.is_err());
    let wrong_alg = verifier.verify(
        at,
        &Expect {
            issuer: t.issuer.clone(),
            audience: None,
            algs: vec![TokenAlg::RS256],
            leeway_secs: 0,
        },
        now,
    );
    assert!(wrong_alg.is_err());

    // A refreshed access token keeps the sign-in facts.
    let rt = body["refresh_token"].as_str().unwrap();
    let (status, refreshed) = token(
        &t,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", MAIL_CLIENT_ID),
            ("refresh_token", rt),
        ],
    )
    .await;
    assert_eq!(status, 200, "{refreshed}");
    let (_, rc) = jwt(refreshed["access_token"].as_str().unwrap());
    assert_eq!(rc["auth_time"].as_i64(), Some(auth_time));
    assert_eq!(strs(&rc["amr"]), amr);
    assert_eq!(rc["aud"], MAIL_RESOURCE);
}

#[tokio::test]
async fn discovery_document() {
    let t = TestIdentity::start().await;
    let res = t
        .client()
        .get(t.at("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let d: Value = res.json().await.unwrap();
    assert_eq!(d["issuer"], t.issuer.as_str());
    for (k, path) in [
        ("authorization_endpoint", "/oauth2/v2.0/authorize"),
        ("token_endpoint", "/oauth2/v2.0/token"),
        ("device_authorization_endpoint", "/oauth2/v2.0/devicecode"),
        ("userinfo_endpoint", "/oidc/userinfo"),
        ("end_session_endpoint", "/oauth2/v2.0/logout"),
        ("revocation_endpoint", "/oauth2/v2.0/revoke"),
        ("introspection_endpoint", "/oauth2/v2.0/introspect"),
        ("jwks_uri", "/discovery/v2.0/keys"),
    ] {
        assert_eq!(d[k], format!("{}{path}", t.url), "{k}");
    }
    assert_eq!(
        d["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert!(
        strs(&d["grant_types_supported"]).contains(&"urn:ietf:params:oauth:grant-type:device_code")
    );
    assert_eq!(d["authorization_response_iss_parameter_supported"], true);
    // The same document under the issuer path, as clients derive it from the authority.
    let res = t
        .client()
        .get(format!("{}/.well-known/openid-configuration", t.issuer))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let under_issuer: Value = res.json().await.unwrap();
    assert_eq!(under_issuer, d);
    let res = t
        .client()
        .get(t.at("/00000000-0000-0000-0000-000000000000/v2.0/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 404);
    // The JWKS document it points to has usable keys of both algorithms.
    let keys: Value = t
        .client()
        .get(d["jwks_uri"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let list = keys["keys"].as_array().unwrap();
    assert!(list.iter().all(|k| k["kid"].is_string()), "{keys}");
    assert!(list.iter().any(|k| k["kty"] == "EC"), "{keys}");
    assert!(list.iter().any(|k| k["kty"] == "RSA"), "{keys}");
    assert!(
        list.iter().all(|k| k.get("d").is_none()),
        "private key material published: {keys}"
    );
    JwksVerifier::from_jwks(&keys).unwrap();
}

#[tokio::test]
async fn userinfo_with_and_without_bearer() {
    let t = TestIdentity::start().await;
    let m = mfa_user(&t, "bob").await;
    let b = Browser::new(&t);
    let body = identity_tokens(&t, &b, &m, "openid profile").await;
    let at = body["access_token"].as_str().unwrap();
    let (_, c) = jwt(at);
    assert_eq!(c["aud"], t.url.as_str());

    let res = t
        .client()
        .get(t.at("/oidc/userinfo"))
        .bearer_auth(at)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let info: Value = res.json().await.unwrap();
    assert_eq!(info["sub"], m.user.id.to_string());
    assert_eq!(info["upn"], m.upn.as_str());
    assert_eq!(info["preferred_username"], m.upn.as_str());

    let res = t.client().get(t.at("/oidc/userinfo")).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 401);
    let challenge = res
        .headers()
        .get("www-authenticate")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(challenge.starts_with("Bearer"), "{challenge}");

    // A token for another resource (the mail service) is not for userinfo.
    let mail = mail_tokens(&t, &m).await;
    let res = t
        .client()
        .get(t.at("/oidc/userinfo"))
        .bearer_auth(mail["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 401);
    let challenge = res
        .headers()
        .get("www-authenticate")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(challenge.contains("invalid_token"), "{challenge}");

    // Garbage.
    let res = t
        .client()
        .get(t.at("/oidc/userinfo"))
        .bearer_auth("a.b.c")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 401);
}

#[tokio::test]
async fn revocation_kills_the_family() {
    let t = TestIdentity::start().await;
    let m = mfa_user(&t, "carol").await;
    let body = mail_tokens(&t, &m).await;
    let rt1 = body["refresh_token"].as_str().unwrap().to_string();
    let (status, body) = token(
        &t,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", MAIL_CLIENT_ID),
            ("refresh_token", &rt1),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let rt2 = body["refresh_token"].as_str().unwrap().to_string();

    // Revoking the old (already rotated) token ends the whole family, rt2 included.
    let (status, _) = post_form(
        &t,
        &t.client(),
        "/oauth2/v2.0/revoke",
        &[("client_id", MAIL_CLIENT_ID), ("token", &rt1)],
        None,
    )
    .await;
    assert_eq!(status, 200);
    let r = token(
        &t,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", MAIL_CLIENT_ID),
            ("refresh_token", &rt2),
        ],
    )
    .await;
    assert_eq!(r.0, 400, "{}", r.1);
    assert_eq!(r.1["error"], "invalid_grant");

    // Unknown tokens and access tokens: 200, nothing revealed.
    let (status, _) = post_form(
        &t,
        &t.client(),
        "/oauth2/v2.0/revoke",
        &[("client_id", MAIL_CLIENT_ID), ("token", "nonsense")],
        None,
    )
    .await;
    assert_eq!(status, 200);
    // Missing token parameter.
    let r = post_form(
        &t,
        &t.client(),
        "/oauth2/v2.0/revoke",
        &[("client_id", MAIL_CLIENT_ID)],
        None,
    )
    .await;
    assert_error(&r, 400, "invalid_request", 900144);
}

#[tokio::test]
async fn revocation_by_another_client_has_no_effect() {
    let t = TestIdentity::start().await;
    let m = mfa_user(&t, "dan").await;
    let body = mail_tokens(&t, &m).await;
    let rt = body["refresh_token"].as_str().unwrap().to_string();
    let (id, secret) = confidential_app(&t, None, &[]).await;
    let (status, _) = post_form(
        &t,
        &t.client(),
        "/oauth2/v2.0/revoke",
        &[("token", &rt)],
        Some((&id, &secret)),
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = token(
        &t,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", MAIL_CLIENT_ID),
            ("refresh_token", &rt),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // Wrong client secret at the revocation endpoint.
    let r = post_form(
        &t,
        &t.client(),
        "/oauth2/v2.0/revoke",
        &[("token", &rt)],
        Some((&id, "wrong")),
    )
    .await;
    assert_error(&r, 401, "invalid_client", 7000215);
}

/// Opens an end-session URL: a page asking to confirm, which changes nothing; then posts
/// the confirmation as the browser would. Returns where that lands.
async fn confirm_end_session(t: &TestIdentity, b: &Browser, url: &str) -> Landing {
    let page = b.get(url).await;
    assert!(
        matches!(&page, Landing::Page { status: 200, html } if html.contains("Sign out?")),
        "{page:?}"
    );
    assert!(has_sso(t, b).await, "the GET ends nothing");
    let fields = hidden_fields(page.html());
    let form: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    b.post_form("/oauth2/v2.0/logout", &form).await
}

#[tokio::test]
async fn end_session_clears_the_session_and_returns_to_the_client() {
    let t = TestIdentity::start().await;
    let m = mfa_user(&t, "erin").await;
    let (id, _secret) = confidential_app(&t, None, &[]).await;
    let b = Browser::new(&t);
    let _ = mail_code(&t, &b, &pkce(), &m).await;
    assert!(has_sso(&t, &b).await);

    let url = format!(
        "{}/oauth2/v2.0/logout?client_id={id}&post_logout_redirect_uri={}&state=bye",
        t.url,
        enc("https://app.example/signed-out")
    );
    // The GET asks; the confirmation's POST signs out.
    let l = confirm_end_session(&t, &b, &url).await;
    let loc = l.location().unwrap_or_else(|| panic!("{l:?}"));
    assert!(loc.starts_with("https://app.example/signed-out"), "{loc}");
    assert_eq!(l.param("state").as_deref(), Some("bye"));

    // The next authorize asks for the password again.
    let l = b.get(&mail_authorize_url(&t, &pkce(), &[])).await;
    assert!(l.html().contains("name=\"username\""), "{l:?}");
}

#[tokio::test]
async fn end_session_with_id_token_hint_and_unregistered_uri() {
    let t = TestIdentity::start().await;
    let m = mfa_user(&t, "fay").await;
    let b = Browser::new(&t);
    let p = pkce();
    let code = mail_code(&t, &b, &p, &m).await;
    let (_, body) = redeem_mail_code(&t, &code, &p).await;
    let idt = body["id_token"].as_str().unwrap();

    // Unregistered post-logout URI: the signed-out page, and the session is gone anyway.
    let url = format!(
        "{}/oauth2/v2.0/logout?id_token_hint={idt}&post_logout_redirect_uri={}",
        t.url,
        enc("https://evil.example/")
    );
    let l = confirm_end_session(&t, &b, &url).await;
    let Landing::Page { status, html } = &l else {
        panic!("redirected to an unregistered URI: {l:?}")
    };
    assert_eq!(*status, 200);
    assert!(html.contains("signed out"), "{html}");
    assert!(!has_sso(&t, &b).await);

    // The mail app's loopback redirect is an accepted return address via the hint.
    let _ = mail_code(&t, &b, &pkce(), &m).await;
    let url = format!(
        "{}/oauth2/v2.0/logout?id_token_hint={idt}&post_logout_redirect_uri={}",
        t.url,
        enc(LOOPBACK)
    );
    let l = confirm_end_session(&t, &b, &url).await;
    assert!(
        l.location().is_some_and(|u| u.starts_with(LOOPBACK)),
        "{l:?}"
    );
    assert!(!has_sso(&t, &b).await);
}

#[tokio::test]
async fn access_token_typ_can_be_jwt_for_relying_parties_that_require_it() {
    let t = TestIdentity::start_with(|c| {
        c.tokens.access_token_typ = mailward_identity::config::AccessTokenTyp::Jwt;
        c.policy.require_mfa =
            mailward_signin::policy::MfaRule::Keyword(mailward_signin::policy::MfaKeyword::None);
    })
    .await;
    let (app, secret) = confidential_app(&t, None, &["Mail.ReadWrite.All"]).await;
    let (status, body) = post_form(
        &t,
        &t.client(),
        "/oauth2/v2.0/token",
        &[
            ("grant_type", "client_credentials"),
            ("scope", "https://localhost:8446/.default"),
        ],
        Some((&app, &secret)),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (h, _) = jwt(body["access_token"].as_str().expect("access token"));
    assert_eq!(h["typ"], "JWT");
}
