//! Client credentials grant over real HTTPS: app tokens for `<resource>/.default` carrying
//! only the app roles the resource offers; public clients, apps without the grant and bad
//! scopes refused.

mod common;

use common::*;
use mailward_testkit::TestIdentity;
use mailward_types::model::well_known::MAIL_CLIENT_ID;

const DEFAULT: &str = "https://localhost:8446/.default";

#[tokio::test]
async fn app_token_with_roles_the_resource_offers() {
    let t = TestIdentity::start().await;
    let (id, secret) = confidential_app(&t, None, &["Mail.ReadWrite.All", "Made.Up.Role"]).await;
    let (status, body) = post_form(
        &t,
        &t.client(),
        "/oauth2/v2.0/token",
        &[("grant_type", "client_credentials"), ("scope", DEFAULT)],
        Some((&id, &secret)),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], DEFAULT);
    assert!(
        body.get("refresh_token").is_none() && body.get("id_token").is_none(),
        "{body}"
    );
    let (h, c) = jwt(body["access_token"].as_str().unwrap());
    assert_eq!(h["alg"], "ES256");
    assert_eq!(c["aud"], MAIL_RESOURCE);
    assert_eq!(c["iss"], t.issuer.as_str());
    assert_eq!(c["sub"], id.as_str());
    assert_eq!(c["azp"], id.as_str());
    assert_eq!(c["idtyp"], "app");
    assert_eq!(c["roles"], serde_json::json!(["Mail.ReadWrite.All"]));
    assert!(
        c.get("scp").is_none() && c.get("oid").is_none() && c.get("upn").is_none(),
        "{c}"
    );

    // With client_secret_post and the legacy resource parameter.
    let (status, body) = token(
        &t,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", &secret),
            ("resource", MAIL_RESOURCE),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");

    // A resource that offers none of the app's roles: an empty list.
    let (status, body) = token(
        &t,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", &secret),
            ("scope", &format!("{}/.default", t.url)),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (_, c) = jwt(body["access_token"].as_str().unwrap());
    assert_eq!(c["roles"], serde_json::json!([]));
    assert_eq!(c["aud"], t.url.as_str());

    t.flush_log().await;
    let log = t
        .ctx
        .store()
        .signins(&mailward_types::records::SignInFilter {
            app_id: Some(id.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        log.iter()
            .all(|e| e.client_app_used.as_str() == "servicePrincipal" && e.user_id.is_none()),
        "{log:?}"
    );
}

#[tokio::test]
async fn refused_for_public_clients_and_apps_without_the_grant() {
    let t = TestIdentity::start().await;
    let r = token(
        &t,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", MAIL_CLIENT_ID),
            ("scope", DEFAULT),
        ],
    )
    .await;
    assert_error(&r, 400, "unauthorized_client", 65001);
    let (id, secret) = confidential_app(&t, Some(&["authorization_code"]), &[]).await;
    let r = token(
        &t,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", &secret),
            ("scope", DEFAULT),
        ],
    )
    .await;
    assert_error(&r, 400, "unauthorized_client", 65001);
}

#[tokio::test]
async fn bad_scopes() {
    let t = TestIdentity::start().await;
    let (id, secret) = confidential_app(&t, None, &[]).await;
    for (scope, code) in [
        ("https://localhost:8446/IMAP.AccessAsUser.All", 70011),
        ("openid", 70011),
        ("", 70011),
        (
            "https://localhost:8446/.default https://other.example/.default",
            70011,
        ),
        ("bad\u{7f}scope", 70011),
        ("https://unknown.example/.default", 500011),
    ] {
        let mut form = vec![
            ("grant_type", "client_credentials"),
            ("client_id", id.as_str()),
            ("client_secret", secret.as_str()),
        ];
        if !scope.is_empty() {
            form.push(("scope", scope));
        }
        let r = token(&t, &form).await;
        assert_error(&r, 400, "invalid_scope", code);
    }
}
