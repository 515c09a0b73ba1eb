//! The mail admin API: the first start's secure default, policies (create, get, patch,
//! delete, import errors, no renames, no deleting a policy in use), mailboxes (add from
//! the directory, assign a policy), the organization default — in-process as the local
//! CLI uses it, and over HTTPS with admin tokens whose roles identity confirms.

mod common;

use axum::body::Body;
use common::{env, parts};
use http_body_util::BodyExt;
use mailward_authpolicy::Protocol;
use mailward_mail::{DEFAULT_POLICY_NAME, LocalAdmin};
use mailward_mailauth::{AuthFailure, AuthRequest, Authenticator};
use mailward_sasl::Credentials;
use mailward_testkit::{DOMAIN, mail};
use serde_json::{Value, json};
use tower::ServiceExt;

/// One request to the local admin router, as the CLI sends it.
async fn local(
    router: &axum::Router,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = axum::http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .body(match &body {
            Some(b) => Body::from(serde_json::to_vec(b).expect("json")),
            None => Body::empty(),
        })
        .expect("request");
    req.extensions_mut().insert(LocalAdmin);
    let res = router.clone().oneshot(req).await.expect("response");
    let status = res.status().as_u16();
    let bytes = res.into_body().collect().await.expect("body").to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn local_admin_manages_policies_mailboxes_and_the_default() {
    let e = env().await;
    let r = mailward_mail::local_admin_router(e.store.clone());

    // First start: the secure default.
    let (status, org) = local(&r, "GET", "/admin/v1/organization", None).await;
    assert_eq!(status, 200);
    assert_eq!(
        org,
        json!({"defaultAuthenticationPolicy": DEFAULT_POLICY_NAME})
    );
    let (_, p) = local(
        &r,
        "GET",
        "/admin/v1/authenticationPolicies/block%20basic%20auth",
        None,
    )
    .await;
    assert_eq!(p["Name"], DEFAULT_POLICY_NAME);
    assert!(
        p.as_object()
            .expect("policy")
            .iter()
            .filter(|(k, _)| k.starts_with("AllowBasicAuth"))
            .all(|(_, v)| v == false),
        "{p}"
    );

    // Create, duplicates, bad documents.
    let (status, created) = local(
        &r,
        "POST",
        "/admin/v1/authenticationPolicies",
        Some(json!({"Name": "AllowImap", "AllowBasicAuthImap": true})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["AllowBasicAuthImap"], true);
    assert_eq!(created["AllowBasicAuthPop"], false);
    let (status, body) = local(
        &r,
        "POST",
        "/admin/v1/authenticationPolicies",
        Some(json!({"Name": "allowimap"})),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    for (bad, code) in [
        (json!({"AllowBasicAuthImap": true}), "AUTHPOLICY_REQUIRED"),
        (
            json!({"Name": "X", "BlockLegacyAuthSmtp": true}),
            "AUTHPOLICY_UNKNOWN_SWITCH",
        ),
        (
            json!({"Name": "X", "Colour": "red"}),
            "AUTHPOLICY_UNKNOWN_FIELD",
        ),
        (
            json!({"Name": "X", "AllowBasicAuthImap": "yes"}),
            "AUTHPOLICY_SYNTAX",
        ),
    ] {
        let (status, body) = local(
            &r,
            "POST",
            "/admin/v1/authenticationPolicies",
            Some(bad.clone()),
        )
        .await;
        assert_eq!(status, 400, "{bad}");
        assert_eq!(body["error"]["code"], code, "{bad}: {body}");
    }
    let (_, list) = local(&r, "GET", "/admin/v1/authenticationPolicies", None).await;
    assert_eq!(
        list["value"].as_array().map(Vec::len),
        Some(2),
        "nothing half-created: {list}"
    );

    // Patch: switches by any case; no renames.
    let (status, patched) = local(
        &r,
        "PATCH",
        "/admin/v1/authenticationPolicies/AllowImap",
        Some(json!({"allowbasicauthsmtp": true, "AllowBasicAuthImap": false})),
    )
    .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["AllowBasicAuthSmtp"], true);
    assert_eq!(patched["AllowBasicAuthImap"], false);
    let (status, _) = local(
        &r,
        "PATCH",
        "/admin/v1/authenticationPolicies/AllowImap",
        Some(json!({"Name": "Other"})),
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) = local(
        &r,
        "PATCH",
        "/admin/v1/authenticationPolicies/Missing",
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 404);

    // Mailboxes.
    let user = mail::add_user(&e.t, "mbx").await;
    let (status, body) = local(
        &r,
        "POST",
        "/admin/v1/mailboxes",
        Some(json!({"userPrincipalName": user.upn.as_str()})),
    )
    .await;
    assert_eq!(
        status, 400,
        "the local router cannot ask the directory: {body}"
    );
    let (status, mbx) = local(
        &r,
        "POST",
        "/admin/v1/mailboxes",
        Some(json!({"userPrincipalName": user.upn.as_str(), "userId": user.id, "displayName": "Mail Box"})),
    )
    .await;
    assert_eq!(status, 201, "{mbx}");
    assert_eq!(mbx["address"], format!("mbx@{DOMAIN}"));
    assert_eq!(mbx["authenticationPolicy"], Value::Null);
    let (status, _) = local(
        &r,
        "POST",
        "/admin/v1/mailboxes",
        Some(json!({"userPrincipalName": user.upn.as_str(), "userId": user.id})),
    )
    .await;
    assert_eq!(status, 409);
    let path = format!("/admin/v1/mailboxes/{}", user.upn.as_str());
    let (status, body) = local(
        &r,
        "PATCH",
        &path,
        Some(json!({"authenticationPolicy": "Nope"})),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = local(
        &r,
        "PATCH",
        &path,
        Some(json!({"authenticationPolicy": "allowimap", "x": 1})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = local(
        &r,
        "PATCH",
        &path,
        Some(json!({"authenticationPolicy": "allowimap"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["authenticationPolicy"], "AllowImap");
    let (_, list) = local(&r, "GET", "/admin/v1/mailboxes", None).await;
    assert_eq!(list["value"][0]["authenticationPolicy"], "AllowImap");

    // A policy in use cannot go; the default neither.
    let (status, body) = local(
        &r,
        "DELETE",
        "/admin/v1/authenticationPolicies/AllowImap",
        None,
    )
    .await;
    assert_eq!(status, 409, "{body}");
    let (status, _) = local(
        &r,
        "DELETE",
        &format!(
            "/admin/v1/authenticationPolicies/{}",
            "Block%20Basic%20Auth"
        ),
        None,
    )
    .await;
    assert_eq!(status, 409);
    let (status, _) = local(
        &r,
        "PATCH",
        &path,
        Some(json!({"authenticationPolicy": null})),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = local(
        &r,
        "DELETE",
        "/admin/v1/authenticationPolicies/AllowImap",
        None,
    )
    .await;
    assert_eq!(status, 204);

    // Organization default.
    let (status, body) = local(
        &r,
        "PATCH",
        "/admin/v1/organization",
        Some(json!({"defaultAuthenticationPolicy": "nope"})),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = local(
        &r,
        "PATCH",
        "/admin/v1/organization",
        Some(json!({"defaultAuthenticationPolicy": null})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"defaultAuthenticationPolicy": null}));

    // Garbage bodies are refused with the reason, and change nothing.
    for (method, path) in [
        ("POST", "/admin/v1/authenticationPolicies"),
        ("POST", "/admin/v1/mailboxes"),
        ("PATCH", "/admin/v1/organization"),
        (
            "PATCH",
            "/admin/v1/authenticationPolicies/Block%20Basic%20Auth",
        ),
    ] {
        for raw in ["not json", "[1, 2]", "{\"defaultAuthenticationPolicy\": 5}"] {
            let mut req = axum::http::Request::builder()
                .method(method)
                .uri(path)
                .body(Body::from(raw))
                .expect("request");
            req.extensions_mut().insert(LocalAdmin);
            let res = r.clone().oneshot(req).await.expect("response");
            assert_eq!(res.status(), 400, "{method} {path} {raw}");
        }
    }
    let (_, org) = local(&r, "GET", "/admin/v1/organization", None).await;
    assert_eq!(org, json!({"defaultAuthenticationPolicy": null}));

    // Without the LocalAdmin mark the local router refuses everything.
    let res = r
        .clone()
        .oneshot(
            axum::http::Request::builder()
                .uri("/admin/v1/organization")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("response");
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn network_admin_api_needs_an_admin_token_and_roles_from_identity() {
    let e = env().await;
    let c = e.client();
    let admin = e.add_admin("boss", "GlobalAdministrator").await;
    let reader = e.add_admin("auditor", "GlobalReader").await;
    let nobody = mail::add_user(&e.t, "plain").await;
    let target = mail::add_user(&e.t, "target").await;

    let admin_token = e.token(&admin, &["Exchange.Manage"]).await;
    let reader_token = e.token(&reader, &["Exchange.Manage"]).await;
    let nobody_token = e.token(&nobody, &["Exchange.Manage"]).await;
    let wrong_scope = e.token(&admin, &["Mail.ReadWrite"]).await;
    // A token for identity's own admin API is not a token for this instance.
    let identity_token = e.identity_token(&admin, "Directory.AccessAsUser.All").await;

    let get = |token: Option<&str>| {
        let mut r = c.get(e.at("/admin/v1/organization"));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send()
    };
    assert_eq!(get(None).await.expect("request").status(), 401);
    assert_eq!(
        get(Some(&identity_token)).await.expect("request").status(),
        401,
        "a token for identity's audience is refused"
    );
    assert_eq!(
        get(Some(&wrong_scope)).await.expect("request").status(),
        403
    );
    assert_eq!(
        get(Some(&nobody_token)).await.expect("request").status(),
        403
    );
    assert_eq!(
        get(Some(&reader_token)).await.expect("request").status(),
        200
    );
    assert_eq!(
        get(Some(&admin_token)).await.expect("request").status(),
        200
    );

    // A reader may not change anything.
    let res = c
        .post(e.at("/admin/v1/authenticationPolicies"))
        .bearer_auth(&reader_token)
        .json(&json!({"Name": "AllowPop", "AllowBasicAuthPop": true}))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 403);

    // An admin adds a mailbox by UPN alone: identity's directory says who that is.
    let (status, _, mbx) = parts(
        c.post(e.at("/admin/v1/mailboxes"))
            .bearer_auth(&admin_token)
            .json(&json!({"userPrincipalName": target.upn.as_str()}))
            .send()
            .await
            .expect("request"),
    )
    .await;
    assert_eq!(status, 201, "{mbx}");
    assert_eq!(mbx["userId"], target.id.to_string());
    let (status, _, body) = parts(
        c.post(e.at("/admin/v1/mailboxes"))
            .bearer_auth(&admin_token)
            .json(&json!({"userPrincipalName": format!("ghost@{DOMAIN}")}))
            .send()
            .await
            .expect("request"),
    )
    .await;
    assert_eq!(status, 404, "{body}");

    // Policy + assignment through the API apply to the next authentication.
    let password = Credentials::Password {
        authzid: None,
        username: target.upn.to_string(),
        password: mail::PASSWORD.to_string().into(),
    };
    let attempt = |protocol| {
        let p = e.pipeline.clone();
        let creds = password.clone();
        async move {
            p.authenticate(AuthRequest {
                protocol,
                credentials: &creds,
                remote_ip: std::net::IpAddr::from([127, 0, 0, 1]),
                tls: true,
                user_agent: None,
            })
            .await
        }
    };
    assert_eq!(
        attempt(Protocol::Imap).await.err(),
        Some(AuthFailure::Denied)
    );
    let res = c
        .post(e.at("/admin/v1/authenticationPolicies"))
        .bearer_auth(&admin_token)
        .json(&json!({"Name": "AllowImap", "AllowBasicAuthImap": true}))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 201);
    let res = c
        .patch(e.at(&format!("/admin/v1/mailboxes/{}", target.upn.as_str())))
        .bearer_auth(&admin_token)
        .json(&json!({"authenticationPolicy": "AllowImap"}))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 200);
    let ok = attempt(Protocol::Imap)
        .await
        .expect("IMAP basic allowed now");
    assert_eq!(ok.account.address, format!("target@{DOMAIN}"));
    assert_eq!(
        attempt(Protocol::Pop).await.err(),
        Some(AuthFailure::Denied)
    );
    assert!(e.pipeline.basic_possible(Protocol::Imap).await);
    assert!(!e.pipeline.basic_possible(Protocol::Pop).await);
}

/// Over the network, the directory decides whose mailbox is created and at which address:
/// a caller cannot bind another user's id, or an address of their choosing, to a mailbox.
#[tokio::test]
async fn network_admin_api_does_not_trust_a_callers_user_id_or_mail() {
    let e = env().await;
    let c = e.client();
    let admin = e.add_admin("mbxadmin", "UserAdministrator").await;
    let token = e.token(&admin, &["Exchange.Manage"]).await;
    let victim = mail::add_user(&e.t, "victim").await;
    let target = mail::add_user(&e.t, "newbie").await;
    let post = |body: Value| {
        c.post(e.at("/admin/v1/mailboxes"))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };

    // Another user's id under this UPN.
    let (status, _, body) = parts(
        post(json!({"userPrincipalName": target.upn.as_str(), "userId": victim.id}))
            .await
            .expect("request"),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    // An address that is not the user's.
    let (status, _, body) = parts(
        post(json!({"userPrincipalName": target.upn.as_str(), "mail": format!("ceo@{DOMAIN}")}))
            .await
            .expect("request"),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    // An id that is nobody's.
    let (status, _, body) = parts(
        post(json!({"userPrincipalName": target.upn.as_str(), "userId": uuid::Uuid::new_v4()}))
            .await
            .expect("request"),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    assert!(
        e.store
            .account_by_user(target.id)
            .await
            .expect("store")
            .is_none()
    );
    assert!(
        e.store
            .account_by_user(victim.id)
            .await
            .expect("store")
            .is_none()
    );
    assert!(
        e.store
            .account_by_address(&format!("ceo@{DOMAIN}"))
            .await
            .expect("store")
            .is_none()
    );

    // With the directory's own facts (or none but the UPN) it works, named as the
    // directory names the user.
    let (status, _, mbx) = parts(
        post(json!({"userPrincipalName": target.upn.as_str(), "userId": target.id, "displayName": "Somebody Else"}))
            .await
            .expect("request"),
    )
    .await;
    assert_eq!(status, 201, "{mbx}");
    assert_eq!(mbx["userId"], target.id.to_string());
    assert_eq!(mbx["address"], target.upn.as_str());
    assert_eq!(mbx["displayName"], target.display_name.as_str());
}

/// A revoked admin token stops working at the mail admin API too.
#[tokio::test]
async fn network_admin_api_refuses_a_revoked_admin_token() {
    let e = common::env_with(|c| c.identity.revocation_poll_secs = 1).await;
    let c = e.client();
    let admin = e.add_admin("leaver", "GlobalAdministrator").await;
    let token = e.token(&admin, &["Exchange.Manage"]).await;
    let get = || {
        c.get(e.at("/admin/v1/organization"))
            .bearer_auth(&token)
            .send()
    };
    assert_eq!(get().await.expect("request").status(), 200);
    let since = mailward_types::clock::now();
    mailward_identity::directory_for(&e.t.ctx)
        .revoke_sessions(admin.id, since)
        .await
        .expect("revoke");
    let since = mailward_types::clock::millis(since);
    let revocations = e.pipeline.revocations().clone();
    let mut changes = revocations.subscribe();
    tokio::time::timeout(std::time::Duration::from_secs(60), async {
        while revocations.valid_from(admin.id).is_none_or(|v| v < since) {
            changes.changed().await.expect("feed alive");
        }
    })
    .await
    .expect("the mail role applies the revocation");
    assert_eq!(get().await.expect("request").status(), 401);
}
