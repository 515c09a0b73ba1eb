//! The admin API and the sign-in log API over real HTTPS with bearer tokens: an admin
//! user's token for identity's resource with `Directory.AccessAsUser.All` may list and
//! create users; a non-admin gets 403, a token without the scope 403, no token 401; the
//! sign-in log filters by user and result. Admin tiers: a UserAdministrator cannot change
//! or delete a user who holds an admin role, nor grant roles; groups that conditional access
//! policies name are changed only by Global or Security Administrators and are not deleted
//! while named. A token issued before the user's sessions were revoked is refused at once.
//! Security defaults and the coverage check over HTTPS.

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

/// A user with `roles`, enrolled, and their admin API token.
async fn admin_with(t: &TestIdentity, local: &str, roles: &[&str]) -> (MfaUser, String) {
    let u = user_with(t, local, roles, true).await;
    let m = enroll(t, u).await;
    let tok = bearer(t, &m, "Directory.AccessAsUser.All").await;
    (m, tok)
}

/// Sends `method path` with a bearer token and an optional JSON body.
async fn call(
    t: &TestIdentity,
    method: &str,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut r = t.client().request(method, t.at(path)).bearer_auth(token);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let res = r.send().await.unwrap_or_else(|e| panic!("{path}: {e}"));
    let status = res.status().as_u16();
    let text = res.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Every change a UserAdministrator may make to a plain user but not to an admin, as
/// (method, path, body); paths use the object id, so the UPN change does not break the
/// ones after it.
fn sensitive_changes(
    target: &mailward_types::model::User,
) -> Vec<(&'static str, String, Option<Value>)> {
    let u = format!("/v1.0/users/{}", target.id);
    vec![
        (
            "PATCH",
            u.clone(),
            Some(json!({ "password": "a brand new long password" })),
        ),
        ("PATCH", u.clone(), Some(json!({ "accountEnabled": false }))),
        (
            "PATCH",
            u.clone(),
            Some(json!({ "mail": "elsewhere@contoso.test" })),
        ),
        (
            "PATCH",
            u.clone(),
            Some(json!({ "userPrincipalName": format!("renamed-{}", target.upn) })),
        ),
        ("POST", format!("{u}/resetMfa"), None),
        ("POST", format!("{u}/revokeSignInSessions"), None),
        ("DELETE", u, None),
    ]
}

#[tokio::test]
async fn a_user_administrator_cannot_take_over_an_admin() {
    let t = TestIdentity::start().await;
    let (_, ua) = admin_with(&t, "useradmin", &["UserAdministrator"]).await;
    let ga = user_with(&t, "global", &["GlobalAdministrator"], true).await;
    let sec = user_with(&t, "secadmin", &["SecurityAdministrator"], true).await;
    let peer = user_with(&t, "peer", &["UserAdministrator"], true).await;
    let reader = user_with(&t, "reader", &["GlobalReader"], true).await;

    for target in [&ga, &sec, &peer, &reader] {
        for (method, path, body) in sensitive_changes(target) {
            let (status, v) = call(&t, method, &path, &ua, body.clone()).await;
            assert_eq!(status, 403, "{method} {path} {body:?}: {v}");
            assert_eq!(v["error"]["code"], "Authorization_RequestDenied", "{v}");
        }
        // Nothing changed: still enabled, same UPN, and the password still works.
        let stored = t
            .ctx
            .store()
            .user_by_id(target.id)
            .await
            .unwrap()
            .expect("not deleted");
        assert!(stored.enabled && stored.upn == target.upn, "{stored:?}");
        assert_eq!(stored.tokens_valid_from, target.tokens_valid_from);
    }
    // The refused reset did not set the password: it is still wrong (50126), where the
    // right one would get as far as MFA registration (50079).
    let ropc = public_app(&t, &["password"]).await;
    for (password, code) in [("a brand new long password", 50126), (PW, 50079)] {
        let r = token(
            &t,
            &[
                ("grant_type", "password"),
                ("client_id", &ropc),
                ("username", ga.upn.as_str()),
                ("password", password),
                ("scope", MAIL_SCOPE),
            ],
        )
        .await;
        assert_error(&r, 400, "invalid_grant", code);
    }

    // Role assignment: a UserAdministrator grants no role, least of all GlobalAdministrator.
    let plain = user(&t, "plain").await;
    let (status, _) = call(
        &t,
        "PATCH",
        &format!("/v1.0/users/{}", enc(plain.upn.as_str())),
        &ua,
        Some(json!({ "roles": ["GlobalAdministrator"] })),
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = call(
        &t,
        "POST",
        "/v1.0/users",
        &ua,
        Some(json!({ "userPrincipalName": upn("sneaky"), "password": "a long enough password", "roles": ["GlobalAdministrator"] })),
    )
    .await;
    assert_eq!(status, 403);
    assert!(
        t.ctx
            .store()
            .user_by_upn(&upn("sneaky").as_str().try_into().unwrap())
            .await
            .unwrap()
            .is_none()
    );

    // Allowed: the display name of an admin, and everything on a plain user.
    let (status, v) = call(
        &t,
        "PATCH",
        &format!("/v1.0/users/{}", enc(ga.upn.as_str())),
        &ua,
        Some(json!({ "displayName": "The Boss" })),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["displayName"], "The Boss");
    for (method, path, body) in sensitive_changes(&plain) {
        let (status, v) = call(&t, method, &path, &ua, body.clone()).await;
        assert!(
            status == 200 || status == 204,
            "{method} {path} {body:?}: {status} {v}"
        );
    }
    assert!(t.ctx.store().user_by_id(plain.id).await.unwrap().is_none());
}

#[tokio::test]
async fn a_global_administrator_may_change_other_admins() {
    let t = TestIdentity::start().await;
    let (_, ga) = admin_with(&t, "global", &["GlobalAdministrator"]).await;
    let ua = user_with(&t, "useradmin", &["UserAdministrator"], true).await;
    let other = user_with(&t, "global2", &["GlobalAdministrator"], true).await;
    for target in [&ua, &other] {
        for (method, path, body) in sensitive_changes(target) {
            let (status, v) = call(&t, method, &path, &ga, body.clone()).await;
            assert!(
                status == 200 || status == 204,
                "{method} {path} {body:?}: {status} {v}"
            );
        }
        assert!(t.ctx.store().user_by_id(target.id).await.unwrap().is_none());
    }
    // And grants roles.
    let plain = user(&t, "plain").await;
    let (status, v) = call(
        &t,
        "PATCH",
        &format!("/v1.0/users/{}", enc(plain.upn.as_str())),
        &ga,
        Some(json!({ "roles": ["UserAdministrator"] })),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["roles"], json!(["UserAdministrator"]));
}

#[tokio::test]
async fn groups_named_by_policies_are_changed_only_by_policy_admins() {
    let t = TestIdentity::start().await;
    let (_, ga) = admin_with(&t, "global", &["GlobalAdministrator"]).await;
    let (_, ua) = admin_with(&t, "useradmin", &["UserAdministrator"]).await;
    let (_, sa) = admin_with(&t, "secadmin", &["SecurityAdministrator"]).await;
    let alice = user(&t, "alice").await;
    let mut groups = vec![];
    for name in ["Sales", "Break glass", "Plain"] {
        let (status, v) = call(
            &t,
            "POST",
            "/v1.0/groups",
            &ga,
            Some(json!({ "displayName": name })),
        )
        .await;
        assert_eq!(status, 201, "{v}");
        groups.push(v["id"].as_str().unwrap().to_string());
    }
    let (sales, glass, plain) = (&groups[0], &groups[1], &groups[2]);
    let (status, v) = call(
        &t,
        "POST",
        "/v1.0/identity/conditionalAccess/policies",
        &ga,
        Some(json!({
            "displayName": "Sales: require MFA",
            "state": "enabled",
            "conditions": {
                "users": { "includeGroups": [sales], "excludeGroups": [glass] },
                "applications": { "includeApplications": ["All"] },
                "clientAppTypes": ["all"],
            },
            "grantControls": { "operator": "OR", "builtInControls": ["mfa"] },
        })),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let policy = v["id"].as_str().unwrap().to_string();
    let member = json!({ "user": alice.upn.as_str() });

    // A UserAdministrator may not change the named groups (included or excluded)...
    for g in [sales, glass] {
        let (status, v) = call(
            &t,
            "POST",
            &format!("/v1.0/groups/{g}/members"),
            &ua,
            Some(member.clone()),
        )
        .await;
        assert_eq!(status, 403, "{v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .contains("Sales: require MFA"),
            "{v}"
        );
        let (status, _) = call(
            &t,
            "PATCH",
            &format!("/v1.0/groups/{g}"),
            &ua,
            Some(json!({ "displayName": "Renamed" })),
        )
        .await;
        assert_eq!(status, 403);
    }
    // ...but may change the others; a SecurityAdministrator only the named ones.
    let (status, _) = call(
        &t,
        "POST",
        &format!("/v1.0/groups/{plain}/members"),
        &ua,
        Some(member.clone()),
    )
    .await;
    assert_eq!(status, 204);
    let (status, _) = call(
        &t,
        "POST",
        &format!("/v1.0/groups/{plain}/members"),
        &sa,
        Some(json!({ "user": upn("global") })),
    )
    .await;
    assert_eq!(status, 403);
    let (status, v) = call(
        &t,
        "POST",
        &format!("/v1.0/groups/{sales}/members"),
        &sa,
        Some(member.clone()),
    )
    .await;
    assert_eq!(status, 204, "{v}");
    let (status, _) = call(
        &t,
        "DELETE",
        &format!("/v1.0/groups/{sales}/members/{}", enc(alice.upn.as_str())),
        &ua,
        None,
    )
    .await;
    assert_eq!(status, 403);
    let (status, v) = call(
        &t,
        "PATCH",
        &format!("/v1.0/groups/{glass}"),
        &sa,
        Some(json!({ "displayName": "Emergency access" })),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["displayName"], "Emergency access");
    let (status, _) = call(
        &t,
        "DELETE",
        &format!("/v1.0/groups/{sales}/members/{}", enc(alice.upn.as_str())),
        &ga,
        None,
    )
    .await;
    assert_eq!(status, 204);

    // Nobody deletes a named group: 409 naming the policy. Once unnamed, it goes.
    for tok in [&ga, &ua] {
        let (status, v) = call(&t, "DELETE", &format!("/v1.0/groups/{sales}"), tok, None).await;
        assert_eq!(status, 409, "{v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .contains("Sales: require MFA"),
            "{v}"
        );
    }
    let (status, _) = call(&t, "DELETE", &format!("/v1.0/groups/{plain}"), &ua, None).await;
    assert_eq!(status, 204);
    let (status, _) = call(
        &t,
        "DELETE",
        &format!("/v1.0/identity/conditionalAccess/policies/{policy}"),
        &ga,
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, _) = call(&t, "DELETE", &format!("/v1.0/groups/{sales}"), &ua, None).await;
    assert_eq!(status, 204);
}

#[tokio::test]
async fn a_token_issued_before_revocation_is_refused_at_once() {
    let t = TestIdentity::start().await;
    let d = mailward_identity::directory_for(&t.ctx);
    let now = mailward_types::clock::now;

    // Sessions revoked.
    let (m, tok) = admin(&t).await;
    assert_eq!(
        get(&t, "/v1.0/users", Some(&tok)).await.status().as_u16(),
        200
    );
    d.revoke_sessions(m.user.id, now()).await.unwrap();
    let res = get(&t, "/v1.0/users", Some(&tok)).await;
    assert_eq!(res.status().as_u16(), 401);
    let challenge = res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(challenge.contains("invalid_token"), "{challenge}");

    // Password reset.
    let (m, tok) = admin_with(&t, "second", &["GlobalAdministrator"]).await;
    assert_eq!(
        get(&t, "/v1.0/users", Some(&tok)).await.status().as_u16(),
        200
    );
    d.update_user(
        &m.upn,
        mailward_identity::directory::UserPatch {
            password: Some("another long password".to_string().into()),
            ..Default::default()
        },
        now(),
    )
    .await
    .unwrap();
    assert_eq!(
        get(&t, "/v1.0/users", Some(&tok)).await.status().as_u16(),
        401
    );

    // Disabled and enabled again: the old token stays dead.
    let (m, tok) = admin_with(&t, "third", &["GlobalAdministrator"]).await;
    for enabled in [false, true] {
        d.update_user(
            &m.upn,
            mailward_identity::directory::UserPatch {
                account_enabled: Some(enabled),
                ..Default::default()
            },
            now(),
        )
        .await
        .unwrap();
    }
    assert_eq!(
        get(&t, "/v1.0/users", Some(&tok)).await.status().as_u16(),
        401
    );

    // The same check on userinfo.
    let (m, tok) = admin_with(&t, "fourth", &["GlobalAdministrator"]).await;
    d.revoke_sessions(m.user.id, now()).await.unwrap();
    assert_eq!(
        get(&t, "/oidc/userinfo", Some(&tok))
            .await
            .status()
            .as_u16(),
        401
    );
}

#[tokio::test]
async fn security_defaults_and_coverage_over_https() {
    let t = TestIdentity::start().await;
    let (_, ga) = admin_with(&t, "global", &["GlobalAdministrator"]).await;
    let (_, reader) = admin_with(&t, "reader", &["GlobalReader"]).await;
    let (_, sa) = admin_with(&t, "secadmin", &["SecurityAdministrator"]).await;
    let alice = user(&t, "alice").await;
    const SD: &str = "/v1.0/policies/identitySecurityDefaultsEnforcementPolicy";
    const COVERAGE: &str = "/v1.0/identity/conditionalAccess/coverage";

    // On from the start; everyone covered.
    let (status, v) = call(&t, "GET", SD, &reader, None).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["isEnabled"], true);
    assert_eq!(v["id"], "00000000-0000-0000-0000-000000000005");
    let (status, v) = call(&t, "GET", COVERAGE, &reader, None).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["fullyCovered"], true, "{v}");
    assert_eq!(v["securityDefaultsEnabled"], true);
    assert_eq!(v["usersChecked"], 4);

    // Only policy admins toggle it; bad bodies are 400.
    let (status, _) = call(
        &t,
        "PATCH",
        SD,
        &reader,
        Some(json!({ "isEnabled": false })),
    )
    .await;
    assert_eq!(status, 403);
    let (status, v) = call(&t, "PATCH", SD, &sa, Some(json!({ "enabled": false }))).await;
    assert_eq!(status, 400, "{v}");
    let (status, v) = call(&t, "PATCH", SD, &sa, Some(json!({ "isEnabled": false }))).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["isEnabled"], false);

    // Off with no policy: everyone signs in with a password, legacy clients included.
    let (_, v) = call(&t, "GET", COVERAGE, &reader, None).await;
    assert_eq!(v["fullyCovered"], false, "{v}");
    let without: Vec<&str> = v["usersWithoutMfa"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|u| u["userPrincipalName"].as_str())
        .collect();
    assert!(without.contains(&alice.upn.as_str()), "{v}");
    assert_eq!(v["legacyClients"][0]["clientAppType"], "exchangeActiveSync");
    assert_eq!(v["legacyClients"][0]["blocked"], false);
    assert_eq!(v["legacyClients"][1]["clientAppType"], "other");
    assert_eq!(v["legacyClients"][1]["blocked"], false);
    let admins: Vec<&str> = v["adminsWithPasswordOnly"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|u| u["userPrincipalName"].as_str())
        .collect();
    assert_eq!(admins.len(), 3, "{v}");
    assert!(admins.contains(&upn("global").as_str()), "{v}");

    // Policies for MFA everywhere and a legacy block cover it again without defaults.
    for (name, clients, control) in [
        (
            "MFA for everyone",
            json!(["browser", "mobileAppsAndDesktopClients"]),
            "mfa",
        ),
        (
            "Block legacy authentication",
            json!(["exchangeActiveSync", "other"]),
            "block",
        ),
    ] {
        let (status, v) = call(
            &t,
            "POST",
            "/v1.0/identity/conditionalAccess/policies",
            &sa,
            Some(json!({
                "displayName": name,
                "state": "enabled",
                "conditions": {
                    "users": { "includeUsers": ["All"] },
                    "applications": { "includeApplications": ["All"] },
                    "clientAppTypes": clients,
                },
                "grantControls": { "operator": "OR", "builtInControls": [control] },
            })),
        )
        .await;
        assert_eq!(status, 201, "{v}");
    }
    let (_, v) = call(&t, "GET", COVERAGE, &ga, None).await;
    assert_eq!(v["fullyCovered"], true, "{v}");
    assert_eq!(v["enabledPolicies"], 2);

    // Back on.
    let (status, v) = call(&t, "PATCH", SD, &ga, Some(json!({ "isEnabled": true }))).await;
    assert_eq!(status, 200, "{v}");
    let (_, v) = call(&t, "GET", SD, &ga, None).await;
    assert_eq!(v["isEnabled"], true);
    // No token: 401.
    let res = get(&t, COVERAGE, None).await;
    assert_eq!(res.status().as_u16(), 401);
}
