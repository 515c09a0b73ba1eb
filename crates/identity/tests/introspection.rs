//! Token introspection (RFC 7662) over real HTTPS by a confidential client: genuine access
//! tokens are active with their claims; tampered payloads, `alg: none`, HMAC with a random
//! key, expired tokens and tokens of disabled users are inactive; refresh tokens are active
//! until used; public clients are refused. Only clients entitled to a token's resource (or
//! the client it was issued to) learn about it, and an ID token is never an active access
//! token.

mod common;

use common::*;
use mailward_testkit::TestIdentity;
use mailward_types::model::TokenAlg;
use mailward_types::model::well_known::MAIL_CLIENT_ID;
use rand::RngCore;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

async fn introspect(t: &TestIdentity, app: &(String, String), token: &str) -> Value {
    let (status, body) = post_form(
        t,
        &t.client(),
        "/oauth2/v2.0/introspect",
        &[("token", token)],
        Some((&app.0, &app.1)),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

/// A confidential client entitled to the mail resource (it holds one of its app roles).
async fn resource_server(t: &TestIdentity) -> (String, String) {
    confidential_app(t, None, &["Mail.ReadWrite.All"]).await
}

fn hmac_sha256(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut k = [0u8; 64];
    k[..key.len()].copy_from_slice(key);
    let pad = |b: u8| k.iter().map(|x| x ^ b).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(msg)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .to_vec()
}

#[tokio::test]
async fn genuine_and_forged_access_tokens() {
    let t = TestIdentity::start().await;
    let rs = resource_server(&t).await;
    let m = mfa_user(&t, "alice").await;
    let tokens = mail_tokens(&t, &m).await;
    let at = tokens["access_token"].as_str().unwrap();

    let v = introspect(&t, &rs, at).await;
    assert_eq!(v["active"], true, "{v}");
    assert_eq!(v["sub"], m.user.id.to_string());
    assert_eq!(v["aud"], MAIL_RESOURCE);
    assert_eq!(v["scope"], "IMAP.AccessAsUser.All");
    assert_eq!(v["username"], m.upn.as_str());
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["client_id"], MAIL_CLIENT_ID);

    let parts: Vec<&str> = at.split('.').collect();
    let (header, mut payload) = jwt(at);

    // Payload tampered, original signature kept.
    payload["upn"] = json!("mallory@contoso.test");
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        b64(payload.to_string().as_bytes()),
        parts[2]
    );
    assert_eq!(
        introspect(&t, &rs, &forged).await,
        json!({ "active": false })
    );

    // alg: none, with and without the real key id, signature empty.
    for h in [
        json!({ "alg": "none" }),
        json!({ "alg": "none", "kid": header["kid"], "typ": "at+jwt" }),
    ] {
        let none = format!("{}.{}.", b64(h.to_string().as_bytes()), parts[1]);
        assert_eq!(
            introspect(&t, &rs, &none).await,
            json!({ "active": false }),
            "{h}"
        );
    }

    // HS256 with a random key (and with the public key's kid, the classic confusion).
    let mut key = [0u8; 32];
    rand::rng().fill_bytes(&mut key);
    for h in [
        json!({ "alg": "HS256", "typ": "JWT" }),
        json!({ "alg": "HS256", "kid": header["kid"] }),
    ] {
        let input = format!("{}.{}", b64(h.to_string().as_bytes()), parts[1]);
        let sig = hmac_sha256(&key, input.as_bytes());
        let hs = format!("{input}.{}", b64(&sig));
        assert_eq!(
            introspect(&t, &rs, &hs).await,
            json!({ "active": false }),
            "{h}"
        );
    }

    // Not a JWT at all, and an oversized value.
    assert_eq!(introspect(&t, &rs, "garbage").await["active"], false);
    assert_eq!(
        introspect(&t, &rs, &"a.".repeat(9000)).await["active"],
        false
    );
}

#[tokio::test]
async fn expired_access_token_is_inactive() {
    let t = TestIdentity::start().await;
    let rs = resource_server(&t).await;
    let m = mfa_user(&t, "bob").await;
    let now = mailward_types::clock::now().unix_timestamp();
    // Signed with identity's real key, but an hour past its expiry.
    let claims = json!({
        "iss": t.issuer, "aud": MAIL_RESOURCE, "sub": m.user.id.to_string(), "oid": m.user.id.to_string(),
        "tid": t.ctx.tenant_id().to_string(), "scp": "IMAP.AccessAsUser.All",
        "iat": now - 7200, "nbf": now - 7200, "exp": now - 3600,
    });
    let expired = t
        .ctx
        .keys()
        .sign(TokenAlg::ES256, "at+jwt", &claims)
        .unwrap();
    assert_eq!(
        introspect(&t, &rs, &expired).await,
        json!({ "active": false })
    );
    // The same claims, unexpired: active (so it was the expiry that mattered).
    let mut fresh = claims.clone();
    fresh["iat"] = json!(now);
    fresh["nbf"] = json!(now);
    fresh["exp"] = json!(now + 600);
    let fresh = t
        .ctx
        .keys()
        .sign(TokenAlg::ES256, "at+jwt", &fresh)
        .unwrap();
    assert_eq!(introspect(&t, &rs, &fresh).await["active"], true);
    // Another issuer, genuinely signed: inactive.
    let mut other = claims;
    other["iss"] = json!("https://elsewhere.example");
    other["exp"] = json!(now + 600);
    let other = t
        .ctx
        .keys()
        .sign(TokenAlg::ES256, "at+jwt", &other)
        .unwrap();
    assert_eq!(introspect(&t, &rs, &other).await["active"], false);
}

#[tokio::test]
async fn tokens_of_a_disabled_user_are_inactive() {
    let t = TestIdentity::start().await;
    let rs = resource_server(&t).await;
    let m = mfa_user(&t, "carol").await;
    let tokens = mail_tokens(&t, &m).await;
    let at = tokens["access_token"].as_str().unwrap();
    assert_eq!(introspect(&t, &rs, at).await["active"], true);
    mailward_identity::directory_for(&t.ctx)
        .update_user(
            &m.upn,
            mailward_identity::directory::UserPatch {
                account_enabled: Some(false),
                ..Default::default()
            },
            mailward_types::clock::now(),
        )
        .await
        .unwrap();
    assert_eq!(introspect(&t, &rs, at).await["active"], false);
    let rt = tokens["refresh_token"].as_str().unwrap();
    assert_eq!(introspect(&t, &rs, rt).await["active"], false);
}

#[tokio::test]
async fn refresh_token_active_until_used() {
    let t = TestIdentity::start().await;
    let rs = resource_server(&t).await;
    let m = mfa_user(&t, "dave").await;
    let tokens = mail_tokens(&t, &m).await;
    let rt = tokens["refresh_token"].as_str().unwrap();
    let v = introspect(&t, &rs, rt).await;
    assert_eq!(v["active"], true, "{v}");
    assert_eq!(v["token_type"], "refresh_token");
    assert_eq!(v["client_id"], MAIL_CLIENT_ID);
    assert_eq!(v["sub"], m.user.id.to_string());
    let (status, _) = token(
        &t,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", MAIL_CLIENT_ID),
            ("refresh_token", rt),
        ],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(introspect(&t, &rs, rt).await, json!({ "active": false }));
}

#[tokio::test]
async fn only_confidential_clients_may_introspect() {
    let t = TestIdentity::start().await;
    let m = mfa_user(&t, "erin").await;
    let tokens = mail_tokens(&t, &m).await;
    let at = tokens["access_token"].as_str().unwrap();
    let r = post_form(
        &t,
        &t.client(),
        "/oauth2/v2.0/introspect",
        &[("client_id", MAIL_CLIENT_ID), ("token", at)],
        None,
    )
    .await;
    assert_error(&r, 401, "invalid_client", 7000218);
    let r = post_form(
        &t,
        &t.client(),
        "/oauth2/v2.0/introspect",
        &[("token", at)],
        None,
    )
    .await;
    assert_error(&r, 400, "invalid_request", 900144);
    let rs = resource_server(&t).await;
    let r = post_form(
        &t,
        &t.client(),
        "/oauth2/v2.0/introspect",
        &[("token", at)],
        Some((&rs.0, "wrong")),
    )
    .await;
    assert_error(&r, 401, "invalid_client", 7000215);
    let r = post_form(
        &t,
        &t.client(),
        "/oauth2/v2.0/introspect",
        &[],
        Some((&rs.0, &rs.1)),
    )
    .await;
    assert_error(&r, 400, "invalid_request", 900144);
}

#[tokio::test]
async fn clients_not_entitled_to_the_resource_learn_nothing() {
    let t = TestIdentity::start().await;
    let m = mfa_user(&t, "frank").await;
    let tokens = mail_tokens(&t, &m).await;
    let at = tokens["access_token"].as_str().unwrap();
    let rt = tokens["refresh_token"].as_str().unwrap();

    // Any other confidential client: the tokens might as well not exist.
    let stranger = confidential_app(&t, None, &[]).await;
    assert_eq!(
        introspect(&t, &stranger, at).await,
        json!({ "active": false })
    );
    assert_eq!(
        introspect(&t, &stranger, rt).await,
        json!({ "active": false })
    );

    // A role of another resource (identity's own) does not entitle it to mail tokens.
    let other = confidential_app(&t, None, &["Directory.Read.All"]).await;
    assert_eq!(introspect(&t, &other, at).await, json!({ "active": false }));

    // The mail resource's servers do learn about them: a client holding a mail app role,
    // and a mail instance (LegacyAuth.Relay).
    let rs = resource_server(&t).await;
    assert_eq!(introspect(&t, &rs, at).await["active"], true);
    assert_eq!(introspect(&t, &rs, rt).await["active"], true);
    let mail_instance = confidential_app(&t, None, &["LegacyAuth.Relay"]).await;
    assert_eq!(introspect(&t, &mail_instance, at).await["active"], true);
}

#[tokio::test]
async fn a_client_learns_about_its_own_tokens() {
    let t = TestIdentity::start().await;
    let app = confidential_app(&t, Some(&["client_credentials"]), &[]).await;
    let scope = format!("{MAIL_RESOURCE}/.default");
    let (status, body) = post_form(
        &t,
        &t.client(),
        "/oauth2/v2.0/token",
        &[("grant_type", "client_credentials"), ("scope", &scope)],
        Some((&app.0, &app.1)),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let at = body["access_token"].as_str().unwrap();
    let v = introspect(&t, &app, at).await;
    assert_eq!(v["active"], true, "{v}");
    assert_eq!(v["client_id"], app.0);
    let stranger = confidential_app(&t, None, &[]).await;
    assert_eq!(
        introspect(&t, &stranger, at).await,
        json!({ "active": false })
    );
}

#[tokio::test]
async fn an_id_token_is_not_an_active_access_token() {
    let t = TestIdentity::start().await;
    let m = mfa_user(&t, "grace").await;
    let tokens = mail_tokens(&t, &m).await;
    let id = tokens["id_token"]
        .as_str()
        .expect("the mail sign-in asks for openid");
    // Genuine, unexpired and signed by identity, yet not an access token: inactive for the
    // mail resource's server and for a client holding every role.
    let rs = resource_server(&t).await;
    assert_eq!(introspect(&t, &rs, id).await, json!({ "active": false }));
    let all = confidential_app(
        &t,
        None,
        &[
            "Mail.ReadWrite.All",
            "LegacyAuth.Relay",
            "Directory.Read.All",
        ],
    )
    .await;
    assert_eq!(introspect(&t, &all, id).await, json!({ "active": false }));
    // The access token of the same response is active.
    let at = tokens["access_token"].as_str().unwrap();
    assert_eq!(introspect(&t, &rs, at).await["active"], true);
}

#[tokio::test]
async fn tokens_issued_before_revocation_are_inactive() {
    let t = TestIdentity::start().await;
    let rs = resource_server(&t).await;
    let m = mfa_user(&t, "heidi").await;
    let tokens = mail_tokens(&t, &m).await;
    let at = tokens["access_token"].as_str().unwrap();
    assert_eq!(introspect(&t, &rs, at).await["active"], true);
    mailward_identity::directory_for(&t.ctx)
        .revoke_sessions(m.user.id, mailward_types::clock::now())
        .await
        .unwrap();
    assert_eq!(introspect(&t, &rs, at).await, json!({ "active": false }));
}
