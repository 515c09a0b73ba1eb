//! The HTTP front without the REST API: the 401 challenge (empty bearer, bad tokens,
//! insufficient scope, Basic only where a policy could allow it), autodiscover v2 and v1,
//! Thunderbird autoconfig, the ActiveSync probe and metrics.

mod common;

use common::{challenges, env, parts};
use mailward_mail::Listener;
use mailward_testkit::mail;
use serde_json::json;

#[tokio::test]
async fn unauthenticated_and_empty_bearer_requests_get_the_challenge_naming_identity() {
    let e = env().await;
    let c = e.client();
    for auth in [
        None,
        Some("Bearer"),
        Some("Bearer   "),
        Some("Negotiate abc"),
        Some("Basic !!!"),
    ] {
        let mut req = c.get(e.at("/v1.0/me/messages"));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let (status, headers, body) = parts(req.send().await.expect("request")).await;
        assert_eq!(status, 401, "{auth:?}");
        let ch = challenges(&headers);
        assert_eq!(
            ch.len(),
            1,
            "no Basic challenge while basic is blocked: {ch:?}"
        );
        assert_eq!(
            ch[0],
            format!(
                "Bearer authorization_uri=\"{}/oauth2/v2.0/authorize\", client_id=\"00000002-0000-0ff1-ce00-000000000000\", trusted_issuers=\"{}\"",
                e.t.url, e.t.issuer
            )
        );
        assert_eq!(body["error"]["code"], "InvalidAuthenticationToken");
        assert!(headers.get("request-id").is_some());
    }
    // Any path answers the probe, with an empty body outside the REST API.
    for path in [
        "/Microsoft-Server-ActiveSync",
        "/owa/",
        "/EWS/Exchange.asmx",
    ] {
        let res = c
            .post(e.at(path))
            .header("authorization", "Bearer")
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), 401, "{path}");
        assert!(challenges(res.headers())[0].starts_with("Bearer authorization_uri="));
        assert_eq!(res.text().await.unwrap_or_default(), "", "{path}");
    }
}

#[tokio::test]
async fn refused_tokens_get_invalid_token_or_insufficient_scope() {
    let e = env().await;
    let c = e.client();
    let user = mail::add_user(&e.t, "tokens").await;
    let now = mailward_types::clock::now();

    let mut wrong_aud = mail::access_claims(&e.t, &user, &["Mail.ReadWrite"], now);
    wrong_aud["aud"] = json!("https://other.example");
    let mut expired = mail::access_claims(&e.t, &user, &["Mail.ReadWrite"], now);
    expired["exp"] = json!(now.unix_timestamp() - 3600);
    for (what, token) in [
        ("garbage", "not.a.jwt".to_string()),
        ("wrong audience", mail::sign(&e.t, &wrong_aud)),
        ("expired", mail::sign(&e.t, &expired)),
    ] {
        let (status, headers, body) = parts(
            c.get(e.at("/v1.0/me/messages"))
                .bearer_auth(&token)
                .send()
                .await
                .expect("request"),
        )
        .await;
        assert_eq!(status, 401, "{what}");
        let ch = challenges(&headers);
        assert!(
            ch[0].ends_with(", error=\"invalid_token\""),
            "{what}: {ch:?}"
        );
        assert!(
            headers["x-ms-diagnostics"]
                .to_str()
                .unwrap_or_default()
                .contains("error_category=\"invalid_token\""),
            "{what}"
        );
        assert_eq!(
            body["error"]["code"], "InvalidAuthenticationToken",
            "{what}"
        );
    }

    // A real token for IMAP only is not a REST token.
    let imap_only = e.token(&user, &["IMAP.AccessAsUser.All"]).await;
    let (status, headers, body) = parts(
        c.get(e.at("/v1.0/me/messages"))
            .bearer_auth(&imap_only)
            .send()
            .await
            .expect("request"),
    )
    .await;
    assert_eq!(status, 403);
    let ch = challenges(&headers);
    assert!(ch[0].contains("error=\"insufficient_scope\""), "{ch:?}");
    assert!(
        ch[0].contains(
            "scope=\"https://localhost:8446/Mail.ReadWrite https://localhost:8446/Mail.Send\""
        ),
        "{ch:?}"
    );
    assert_eq!(body["error"]["code"], "ErrorAccessDenied");

    // Mail.Send alone may send but not read.
    let send_only = e.token(&user, &["Mail.Send"]).await;
    let res = c
        .get(e.at("/v1.0/me/mailFolders"))
        .bearer_auth(&send_only)
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 403);
}

#[tokio::test]
async fn basic_challenge_and_basic_auth_only_where_a_policy_allows_rest() {
    let e = env().await;
    let c = e.client();
    let user = mail::add_user(&e.t, "basicrest").await;
    let basic = |u: &str, p: &str| {
        use base64::Engine;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
        )
    };
    // Blocked by the default policy: refused before identity is asked.
    let res = c
        .get(e.at("/v1.0/me/mailFolders"))
        .header("authorization", basic(user.upn.as_str(), mail::PASSWORD))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 401);
    assert_eq!(challenges(res.headers()).len(), 1);
    e.t.flush_log().await;
    let log =
        e.t.ctx
            .store()
            .signins(&mailward_types::records::SignInFilter {
                user: Some(user.upn.to_string()),
                ..Default::default()
            })
            .await
            .expect("sign-in log");
    assert!(
        log.is_empty(),
        "a blocked attempt never reaches identity: {log:?}"
    );

    // The local admin allows basic for REST in the organization default: the next
    // request sees it (the pipeline's cached answer was dropped).
    let allow = json!({"AllowBasicAuthRest": true});
    let res = c
        .patch(e.at("/admin/v1/authenticationPolicies/Block%20Basic%20Auth"))
        .json(&allow)
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 401, "the network admin API needs a token");
    let who = e.add_admin("ops", "GlobalAdministrator").await;
    let token = e.token(&who, &["Exchange.Manage"]).await;
    let (status, _, body) = parts(
        c.patch(e.at("/admin/v1/authenticationPolicies/block%20basic%20auth"))
            .bearer_auth(&token)
            .json(&allow)
            .send()
            .await
            .expect("request"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["AllowBasicAuthRest"], true);
    assert_eq!(body["Name"], "Block Basic Auth");

    let res = c
        .get(e.at("/v1.0/me/mailFolders"))
        .send()
        .await
        .expect("request");
    let ch = challenges(res.headers());
    assert_eq!(ch.len(), 2, "{ch:?}");
    assert_eq!(ch[1], "Basic realm=\"localhost\"");

    let (status, _, body) = parts(
        c.get(e.at("/v1.0/me/mailFolders"))
            .header("authorization", basic(user.upn.as_str(), mail::PASSWORD))
            .send()
            .await
            .expect("request"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["value"].as_array().is_some_and(|v| v.len() == 6),
        "{body}"
    );
    let res = c
        .get(e.at("/v1.0/me/mailFolders"))
        .header("authorization", basic(user.upn.as_str(), "wrong password"))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn autodiscover_v2_answers_like_exchange_online() {
    let e = env().await;
    let c = e.client();
    let cases = [
        (
            "/autodiscover/autodiscover.json?email=a%40contoso.test&protocol=AutodiscoverV1",
            "AutodiscoverV1",
            "/autodiscover/autodiscover.xml",
        ),
        (
            "/autodiscover/autodiscover.json/v1.0/a@contoso.test?Protocol=Rest",
            "Rest",
            "/api",
        ),
        (
            "/Autodiscover/Autodiscover.json/v1.0/a%40contoso.test?Protocol=Rest",
            "Rest",
            "/api",
        ),
    ];
    for (path, protocol, url_path) in cases {
        let (status, _, body) = parts(
            c.get(e.at(path))
                .header("accept", "application/json")
                .send()
                .await
                .expect("request"),
        )
        .await;
        assert_eq!(status, 200, "{path}: {body}");
        assert_eq!(
            body,
            json!({"Protocol": protocol, "Url": format!("{}{url_path}", e.url)}),
            "{path}"
        );
    }
    for (path, code) in [
        (
            "/autodiscover/autodiscover.json?Email=a%40contoso.test&Protocol=Imap",
            "InvalidProtocol",
        ),
        // ActiveSync is not served (its endpoint answers 501), so it is not advertised.
        (
            "/autodiscover/autodiscover.json?Email=a%40contoso.test&Protocol=activesync&RedirectCount=3",
            "InvalidProtocol",
        ),
        (
            "/Autodiscover/Autodiscover.json/v1.0/a%40contoso.test?Protocol=ActiveSync",
            "InvalidProtocol",
        ),
        (
            "/autodiscover/autodiscover.json?Email=a%40contoso.test",
            "InvalidProtocol",
        ),
        (
            "/autodiscover/autodiscover.json?Protocol=Rest",
            "InvalidUser",
        ),
        (
            "/autodiscover/autodiscover.json/v1.0/not-an-address?Protocol=Rest",
            "InvalidUser",
        ),
    ] {
        let (status, _, body) = parts(c.get(e.at(path)).send().await.expect("request")).await;
        assert_eq!(status, 400, "{path}");
        assert_eq!(body["ErrorCode"], code, "{path}: {body}");
    }
    let (_, _, body) = parts(
        c.get(e.at("/autodiscover/autodiscover.json?Email=a%40b.test&Protocol=Ews"))
            .send()
            .await
            .expect("request"),
    )
    .await;
    assert_eq!(
        body["ErrorMessage"],
        "The given protocol value 'Ews' is invalid. Supported values are 'AutodiscoverV1,Rest'."
    );
}

#[tokio::test]
async fn autodiscover_v1_needs_a_token_and_answers_imap_pop_smtp() {
    let e = env().await;
    let c = e.client();
    let request = "<?xml version=\"1.0\"?><Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006\"><Request><EMailAddress>pox@contoso.test</EMailAddress><AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema></Request></Autodiscover>";
    let res = c
        .post(e.at("/autodiscover/autodiscover.xml"))
        .header("authorization", "Bearer")
        .body(request)
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 401);
    assert!(challenges(res.headers())[0].contains("trusted_issuers="));

    let user = mail::add_user(&e.t, "pox").await;
    let token = e.token(&user, &["IMAP.AccessAsUser.All"]).await;
    let res = c
        .post(e.at("/Autodiscover/Autodiscover.xml"))
        .bearer_auth(&token)
        .body(request)
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap_or_default()
            .starts_with("application/xml")
    );
    let xml = res.text().await.expect("body");
    for want in [
        "<AutoDiscoverSMTPAddress>pox@contoso.test</AutoDiscoverSMTPAddress>".to_string(),
        format!(
            "<Type>IMAP</Type>\n        <Server>localhost</Server>\n        <Port>{}</Port>",
            e.port(Listener::Imaps)
        ),
        format!(
            "<Type>POP3</Type>\n        <Server>localhost</Server>\n        <Port>{}</Port>",
            e.port(Listener::Pop3s)
        ),
        format!(
            "<Type>SMTP</Type>\n        <Server>localhost</Server>\n        <Port>{}</Port>",
            e.port(Listener::Submissions)
        ),
        "<SSL>on</SSL>".to_string(),
    ] {
        assert!(xml.contains(&want), "{want} missing in\n{xml}");
    }
    let res = c
        .post(e.at("/autodiscover/autodiscover.xml"))
        .bearer_auth(&token)
        .body("<Autodiscover/>")
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 400);
}

#[tokio::test]
async fn thunderbird_autoconfig_announces_oauth2_for_every_protocol() {
    let e = env().await;
    let c = e.client();
    for path in [
        "/.well-known/autoconfig/mail/config-v1.1.xml".to_string(),
        format!(
            "/mail/config-v1.1.xml?emailaddress=alice%40{}",
            mailward_testkit::DOMAIN
        ),
    ] {
        let res = c.get(e.at(&path)).send().await.expect("request");
        assert_eq!(res.status(), 200, "{path}");
        let xml = res.text().await.expect("body");
        assert!(xml.contains("<clientConfig version=\"1.1\">"), "{xml}");
        assert!(
            xml.contains(&format!("<domain>{}</domain>", mailward_testkit::DOMAIN)),
            "{xml}"
        );
        assert_eq!(
            xml.matches("<authentication>OAuth2</authentication>")
                .count(),
            6,
            "{xml}"
        );
        for (kind, l, socket) in [
            ("imap", Listener::Imaps, "SSL"),
            ("imap", Listener::Imap, "STARTTLS"),
            ("pop3", Listener::Pop3s, "SSL"),
            ("pop3", Listener::Pop3, "STARTTLS"),
            ("smtp", Listener::Submissions, "SSL"),
            ("smtp", Listener::Submission, "STARTTLS"),
        ] {
            let want = format!(
                "type=\"{kind}\">\n      <hostname>localhost</hostname>\n      <port>{}</port>\n      <socketType>{socket}</socketType>",
                e.port(l)
            );
            assert!(xml.contains(&want), "{want} missing in\n{xml}");
        }
        assert!(xml.contains("<issuer>localhost</issuer>"), "{xml}");
        assert!(xml.contains("<scope>https://localhost:8446/IMAP.AccessAsUser.All https://localhost:8446/POP.AccessAsUser.All https://localhost:8446/SMTP.Send offline_access</scope>"), "{xml}");
        assert!(
            xml.contains(&format!(
                "<authURL>{}/oauth2/v2.0/authorize</authURL>",
                e.t.url
            )),
            "{xml}"
        );
        assert!(
            xml.contains(&format!(
                "<tokenURL>{}/oauth2/v2.0/token</tokenURL>",
                e.t.url
            )),
            "{xml}"
        );
    }
    for bad in ["someone%40elsewhere.test", "not-an-address"] {
        let res = c
            .get(e.at(&format!("/mail/config-v1.1.xml?emailaddress={bad}")))
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), 404, "{bad}");
    }
}

#[tokio::test]
async fn metrics_count_attempts_and_are_open_to_loopback() {
    let e = env().await;
    let c = e.client();
    let user = mail::add_user(&e.t, "metrics").await;
    let token = e.token(&user, &["Mail.ReadWrite"]).await;
    for _ in 0..2 {
        let res = c
            .get(e.at("/v1.0/me/mailFolders"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), 200);
    }
    let res = c.get(e.at("/metrics")).send().await.expect("request");
    assert_eq!(res.status(), 200);
    let text = res.text().await.expect("body");
    assert!(
        text.contains(
            "mailward_mail_auth_attempts_total{protocol=\"rest\",mechanism=\"oauthbearer\"} 2"
        ),
        "{text}"
    );
    assert!(
        text.contains("mailward_mail_auth_token_cache_hits_total 1"),
        "{text}"
    );
    assert!(
        text.contains("mailward_mail_auth_success_total 2"),
        "{text}"
    );
}

#[tokio::test]
async fn the_activesync_endpoint_is_only_a_probe() {
    let e = env().await;
    let c = e.client();
    let res = c
        .request(
            reqwest::Method::OPTIONS,
            e.at("/Microsoft-Server-ActiveSync"),
        )
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 401);
    let res = c
        .post(e.at("/Microsoft-Server-ActiveSync"))
        .bearer_auth("x")
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 501);
}
