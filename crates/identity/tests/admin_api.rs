//! The admin API and the sign-in log API over real HTTPS with bearer tokens: an admin
//! user's token for identity's resource with `Directory.AccessAsUser.All` may list and
//! create users; a non-admin gets 403, a token without the scope 403, no token 401; the
//! sign-in log filters by user and result.

mod common;

use common::*;
use mailward_testkit::reqwest;
use mailward_testkit::{Browser, TestIdentity};
use mailward_types::model::well_known::MAIL_CLIENT_ID;
use serde_json::{Value, json};

/// An access token for identity's resource with `scope` (names on that resource).
async fn bearer(t: &TestIdentity, m: &MfaUser, scope: &str) -> String {
    let b = Browser::new(t);
    let p = pkce();
    let scope = format!("openid {}/{scope}", t.url);
    let url = authorize_url(
        t,
        MAIL_CLIENT_ID,
        LOOPBACK,
        &scope,
        &[
            ("code_challenge", &p.challenge),
            ("code_challenge_method", "S256"),
        ],
    );
    let done = sign_in(t, &b, &url, m).await;
    let code = done.param("code").unwrap_or_else(|| panic!("{done:?}"));
    let (status, body) = redeem_mail_code(t, &code, &p).await;
    assert_eq!(status, 200, "{body}");
    body["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no access token: {body}"))
        .to_string()
}

async fn get(t: &TestIdentity, path: &str, token: Option<&str>) -> reqwest::Response {
    let mut r = t.client().get(t.at(path));
    if let Some(tok) = token {
        r = r.bearer_auth(tok);
    }
    r.send().await.unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

async fn admin(t: &TestIdentity) -> (MfaUser, String) {
    let u = user_with(t, "admin", &["GlobalAdministrator"], true).await;
    let m = enroll(t, u).await;
    let tok = bearer(t, &m, "Directory.AccessAsUser.All").await;
    (m, tok)
}

#[tokio::test]
async fn admin_lists_and_creates_users() {
    let t = TestIdentity::start().await;
    let _bob = user(&t, "bob").await;
    let (_, tok) = admin(&t).await;
    let (_, c) = jwt(&tok);
    assert_eq!(c["aud"], t.url.as_str());
    assert_eq!(c["scp"], "Directory.AccessAsUser.All");

    let res = get(&t, "/v1.0/users", Some(&tok)).await;
    assert_eq!(res.status().as_u16(), 200);
    let v: Value = res.json().await.unwrap();
    let names: Vec<&str> = v["value"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|u| u["userPrincipalName"].as_str())
        .collect();
    assert!(
        names.contains(&upn("bob").as_str()) && names.contains(&upn("admin").as_str()),
        "{names:?}"
    );

    let res = t
        .client()
        .post(t.at("/v1.0/users"))
        .bearer_auth(&tok)
        .json(&json!({ "userPrincipalName": upn("newbie"), "password": "a long enough password" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 201);
    let res = get(&t, &format!("/v1.0/users/{}", upn("newbie")), Some(&tok)).await;
    assert_eq!(res.status().as_u16(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["authenticationMethods"]["totp"], false, "{v}");

    // Bad JSON is a 400 with a Graph-shaped error.
    let res = t
        .client()
        .post(t.at("/v1.0/users"))
        .bearer_auth(&tok)
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 400);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["error"]["code"], "Request_BadRequest");
}

#[tokio::test]
async fn non_admins_missing_scope_and_missing_token() {
    let t = TestIdentity::start().await;
    let plain = mfa_user(&t, "plain").await;
    let tok = bearer(&t, &plain, "Directory.AccessAsUser.All").await;
    let res = get(&t, "/v1.0/users", Some(&tok)).await;
    assert_eq!(res.status().as_u16(), 403);
    let res = get(&t, "/v1.0/auditLogs/signIns", Some(&tok)).await;
    assert_eq!(res.status().as_u16(), 403);

    // An admin's token without the admin scope.
    let u = user_with(&t, "admin", &["GlobalAdministrator"], true).await;
    let m = enroll(&t, u).await;
    let read_only = bearer(&t, &m, "User.Read").await;
    let res = get(&t, "/v1.0/users", Some(&read_only)).await;
    assert_eq!(res.status().as_u16(), 403);
    let challenge = res
        .headers()
        .get("www-authenticate")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(challenge.contains("insufficient_scope"), "{challenge}");

    // No token, and a token for another resource.
    let res = get(&t, "/v1.0/users", None).await;
    assert_eq!(res.status().as_u16(), 401);
    assert!(
        res.headers()
            .get("www-authenticate")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    let mail = mail_tokens(&t, &m).await;
    let res = get(&t, "/v1.0/users", mail["access_token"].as_str()).await;
    assert_eq!(res.status().as_u16(), 401);

    // A GlobalReader may read but not write.
    let r = user_with(&t, "reader", &["GlobalReader"], true).await;
    let r = enroll(&t, r).await;
    let tok = bearer(&t, &r, "Directory.AccessAsUser.All").await;
    assert_eq!(
        get(&t, "/v1.0/users", Some(&tok)).await.status().as_u16(),
        200
    );
    let res = t
        .client()
        .post(t.at("/v1.0/users"))
        .bearer_auth(&tok)
        .json(&json!({ "userPrincipalName": upn("x"), "password": "a long enough password" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 403);
}

#[tokio::test]
async fn admin_role_is_checked_live() {
    let t = TestIdentity::start().await;
    let (m, tok) = admin(&t).await;
    assert_eq!(
        get(&t, "/v1.0/users", Some(&tok)).await.status().as_u16(),
        200
    );
    mailward_identity::directory_for(&t.ctx)
        .update_user(
            &m.upn,
            mailward_identity::directory::UserPatch {
                roles: Some(vec![]),
                ..Default::default()
            },
            mailward_types::clock::now(),
        )
        .await
        .unwrap();
    assert_eq!(
        get(&t, "/v1.0/users", Some(&tok)).await.status().as_u16(),
        403
    );
}

#[tokio::test]
async fn sign_in_log_api_filters() {
    let t = TestIdentity::start().await;
    let bob = mfa_user(&t, "bob").await;
    // One failure and one success for bob, one failure for someone unknown.
    let b = Browser::new(&t);
    let url = mail_authorize_url(&t, &pkce(), &[]);
    let page = password_pages(&b, &url, &bob.upn, "wrong password").await;
    let page = b.submit(page.html(), "password", &[("password", PW)]).await;
    let done = b
        .submit(
            page.html(),
            "totp",
            &[("code", &fresh_totp(&t, &bob).await)],
        )
        .await;
    assert!(done.param("code").is_some(), "{done:?}");
    let _ = password_pages(&Browser::new(&t), &url, &upn("ghost"), "whatever").await;

    let (_, tok) = admin(&t).await;
    let q = format!(
        "/v1.0/auditLogs/signIns?user={}&result=failure",
        enc(&bob.upn)
    );
    let res = get(&t, &q, Some(&tok)).await;
    assert_eq!(res.status().as_u16(), 200);
    let v: Value = res.json().await.unwrap();
    let entries = v["value"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{v}");
    assert_eq!(entries[0]["userPrincipalName"], bob.upn.as_str(), "{v}");
    assert_eq!(entries[0]["result"], "failure");
    assert_eq!(entries[0]["errorCode"], 50126);

    let res = get(
        &t,
        &format!("/v1.0/auditLogs/signIns?user={}", enc(&bob.upn)),
        Some(&tok),
    )
    .await;
    let v: Value = res.json().await.unwrap();
    let results: Vec<&str> = v["value"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["result"].as_str())
        .collect();
    assert_eq!(results, vec!["success", "failure"], "newest first: {v}");

    let res = get(&t, "/v1.0/auditLogs/signIns?errorCode=50126", Some(&tok)).await;
    assert_eq!(res.status().as_u16(), 400, "unknown parameters are refused");
    let res = get(
        &t,
        "/v1.0/auditLogs/signIns?error_code=50126&top=10",
        Some(&tok),
    )
    .await;
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["value"].as_array().unwrap().len(), 2, "{v}");
    let res = get(&t, "/v1.0/auditLogs/signIns?result=maybe", Some(&tok)).await;
    assert_eq!(res.status().as_u16(), 400);
    let res = get(&t, "/v1.0/auditLogs/signIns?since=yesterday", Some(&tok)).await;
    assert_eq!(res.status().as_u16(), 400);
    let res = get(&t, "/v1.0/auditLogs/signIns", None).await;
    assert_eq!(res.status().as_u16(), 401);
}
