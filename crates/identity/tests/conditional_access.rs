//! Conditional access through real sign-ins over HTTPS: policies and named locations created
//! through the Graph-shaped admin API, then device code, client credentials, authorization
//! code and refresh grants judged by them, with the per-policy results in the sign-in log.
//! Admin calls go through the admin API in-process as the local CLI makes them, and one
//! test goes over HTTPS with an admin's bearer token. Security defaults stay on beside the
//! policies until turned off, require MFA of administrators whatever the configured rule,
//! and appear in the sign-in log and What-If as the pseudo-policy "Security defaults".

mod common;

use common::*;
use mailward_signin::policy::{MfaKeyword, MfaRule};
use mailward_testkit::{Browser, TestIdentity};
use serde_json::{Value, json};
use std::net::{IpAddr, Ipv4Addr};
use tower::ServiceExt;

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
const OTHER_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

/// Identity with the fixed rule off, so only conditional access asks for MFA.
async fn start() -> TestIdentity {
    TestIdentity::start_with(|c| c.policy.require_mfa = MfaRule::Keyword(MfaKeyword::None)).await
}

/// Calls the admin API as the local administrator.
async fn admin_call(
    t: &TestIdentity,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = axum::http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json");
    req = req.extension(mailward_identity::LocalAdmin);
    let req = req
        .body(axum::body::Body::from(
            body.map(|b| b.to_string()).unwrap_or_default(),
        ))
        .expect("request");
    let resp = mailward_identity::router(t.ctx.clone())
        .oneshot(req)
        .await
        .expect("router answers");
    let status = resp.status().as_u16();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .expect("body");
    let v = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, v)
}

fn policy(name: &str, state: &str, conditions: Value, grant: Value) -> Value {
    json!({
        "displayName": name,
        "state": state,
        "conditions": conditions,
        "grantControls": grant,
    })
}

fn users_all() -> Value {
    json!({ "includeUsers": ["All"] })
}

async fn create_policy(t: &TestIdentity, p: Value) -> String {
    let (status, body) = admin_call(
        t,
        "POST",
        "/v1.0/identity/conditionalAccess/policies",
        Some(p),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().expect("id").to_string()
}

async fn create_location(t: &TestIdentity, cidr: &str, trusted: bool) -> String {
    let (status, body) = admin_call(
        t,
        "POST",
        "/v1.0/identity/conditionalAccess/namedLocations",
        Some(json!({
            "@odata.type": "#microsoft.graph.ipNamedLocation",
            "displayName": format!("range {cidr}"),
            "isTrusted": trusted,
            "ipRanges": [{ "@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": cidr }],
        })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().expect("id").to_string()
}

async fn start_device(t: &TestIdentity) -> Value {
    let (status, body) = post_form(
        t,
        &t.client(),
        "/oauth2/v2.0/devicecode",
        &[
            (
                "client_id",
                mailward_types::model::well_known::MAIL_CLIENT_ID,
            ),
            ("scope", MAIL_SCOPE),
        ],
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Enters the user code and the password; returns the page after the password.
async fn device_password(t: &TestIdentity, b: &Browser, user_code: &str, upn: &str) -> String {
    b.get(&format!(
        "{}/devicelogin?user_code={}",
        t.url,
        enc(user_code)
    ))
    .await;
    let page = b
        .post_form("/devicelogin", &[("user_code", user_code)])
        .await;
    let page = b
        .submit(page.html(), "identify", &[("username", upn)])
        .await;
    let page = b.submit(page.html(), "password", &[("password", PW)]).await;
    page.html().to_string()
}

/// The mail app's sign-in with the password alone (no policy asks for more); returns the
/// token response.
async fn mail_tokens_pwd(t: &TestIdentity, upn: &str) -> Value {
    let b = Browser::new(t);
    let p = pkce();
    let done = password_pages(&b, &mail_authorize_url(t, &p, &[]), upn, PW).await;
    let code = done
        .param("code")
        .unwrap_or_else(|| panic!("no code: {done:?}"));
    let (status, body) = redeem_mail_code(t, &code, &p).await;
    assert_eq!(status, 200, "{body}");
    body
}

fn policy_result<'a>(ev: &'a mailward_types::records::SignInEvent, id: &str) -> Option<&'a str> {
    ev.policies
        .iter()
        .find(|p| p.id == id)
        .map(|p| p.result.as_str())
}

#[tokio::test]
async fn mfa_for_desktop_apps_prompts_device_code_but_not_client_credentials() {
    let t = start().await;
    let m = mfa_user(&t, "dora").await;

    // Without a policy the device flow finishes on the password.
    let d = start_device(&t).await;
    let page = device_password(
        &t,
        &Browser::new(&t),
        d["user_code"].as_str().unwrap(),
        &m.upn,
    )
    .await;
    assert!(!page.contains("value=\"totp\""), "{page}");

    let id = create_policy(
        &t,
        policy(
            "MFA for mail from desktop and mobile apps",
            "enabled",
            json!({
                "users": users_all(),
                "applications": { "includeApplications": ["Office365"] },
                "clientAppTypes": ["mobileAppsAndDesktopClients"],
            }),
            json!({ "operator": "OR", "builtInControls": ["mfa"] }),
        ),
    )
    .await;

    // Now the device flow asks for the second factor, and the device gets tokens after it.
    let d = start_device(&t).await;
    let b = Browser::new(&t);
    let page = device_password(&t, &b, d["user_code"].as_str().unwrap(), &m.upn).await;
    assert!(
        page.contains("value=\"totp\""),
        "MFA prompt expected: {page}"
    );
    let code = fresh_totp(&t, &m).await;
    b.submit(&page, "totp", &[("code", &code)]).await;
    let (status, body) = token(
        &t,
        &[
            ("grant_type", DEVICE_GRANT),
            (
                "client_id",
                mailward_types::model::well_known::MAIL_CLIENT_ID,
            ),
            ("device_code", d["device_code"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (_, claims) = jwt(body["access_token"].as_str().unwrap());
    assert!(
        claims["amr"].as_array().unwrap().contains(&json!("mfa")),
        "{claims}"
    );

    // A client-credentials app is not a user sign-in: the policy does not apply.
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

    // The interactive device sign-in logged the policy's result.
    t.flush_log().await;
    let log = signins(&t, &m.upn).await;
    assert!(
        log.iter().any(|e| policy_result(e, &id) == Some("success")
            && e.amr.contains(&mailward_types::model::Amr::Mfa)),
        "{log:#?}"
    );
}

#[tokio::test]
async fn report_only_block_lets_the_sign_in_through_and_logs_report_only_failure() {
    let t = start().await;
    let m = mfa_user(&t, "rory").await;
    let id = create_policy(
        &t,
        policy(
            "Block everything (report-only)",
            "enabledForReportingButNotEnforced",
            json!({
                "users": users_all(),
                "applications": { "includeApplications": ["All"] },
                "clientAppTypes": ["all"],
            }),
            json!({ "operator": "OR", "builtInControls": ["block"] }),
        ),
    )
    .await;
    let tokens = mail_tokens_pwd(&t, &m.upn).await;
    assert!(tokens["access_token"].is_string());
    t.flush_log().await;
    let log = signins(&t, &m.upn).await;
    let successes: Vec<_> = log
        .iter()
        .filter(|e| e.result == mailward_types::records::SignInResult::Success)
        .collect();
    assert!(!successes.is_empty(), "{log:#?}");
    assert!(
        successes
            .iter()
            .all(|e| policy_result(e, &id) == Some("reportOnlyFailure")),
        "{successes:#?}"
    );
}

#[tokio::test]
async fn a_trusted_named_location_exempts_the_sign_in() {
    let t = start().await;
    let _m = mfa_user(&t, "tess").await;
    let _office = create_location(&t, "127.0.0.1/32", true).await;
    let id = create_policy(
        &t,
        policy(
            "Block outside trusted locations",
            "enabled",
            json!({
                "users": users_all(),
                "applications": { "includeApplications": ["All"] },
                "clientAppTypes": ["all"],
                "locations": { "includeLocations": ["All"], "excludeLocations": ["AllTrusted"] },
            }),
            json!({ "operator": "OR", "builtInControls": ["block"] }),
        ),
    )
    .await;
    let (app_id, secret) = confidential_app(&t, Some(&["password"]), &[]).await;
    let password_grant = |client: mailward_testkit::reqwest::Client| {
        let t = &t;
        let (app_id, secret) = (app_id.clone(), secret.clone());
        async move {
            post_form(
                t,
                &client,
                "/oauth2/v2.0/token",
                &[
                    ("grant_type", "password"),
                    ("username", &upn("tess")),
                    ("password", PW),
                    ("scope", "openid"),
                ],
                Some((&app_id, &secret)),
            )
            .await
        }
    };
    let (status, body) = password_grant(t.client()).await;
    assert_eq!(status, 200, "trusted location is exempt: {body}");
    // From elsewhere: blocked by the policy.
    let resp = password_grant(t.client_from(OTHER_IP)).await;
    assert_error(&resp, 400, "invalid_grant", 53003);
    t.flush_log().await;
    let log = signins(&t, &upn("tess")).await;
    assert!(
        log.iter()
            .any(|e| policy_result(e, &id) == Some("notApplied")),
        "{log:#?}"
    );
    assert!(
        log.iter()
            .any(|e| policy_result(e, &id) == Some("failure") && e.error_code == Some(53003)),
        "{log:#?}"
    );
}

#[tokio::test]
async fn a_refresh_from_a_blocked_range_is_refused_with_53003() {
    let t = start().await;
    let m = mfa_user(&t, "remy").await;
    let tokens = mail_tokens_pwd(&t, &m.upn).await;
    let rt = tokens["refresh_token"]
        .as_str()
        .expect("refresh token")
        .to_string();
    let blocked = create_location(&t, "127.0.0.2/32", false).await;
    create_policy(
        &t,
        policy(
            "Block the lab network",
            "enabled",
            json!({
                "users": users_all(),
                "applications": { "includeApplications": ["All"] },
                "clientAppTypes": ["all"],
                "locations": { "includeLocations": [blocked] },
            }),
            json!({ "operator": "OR", "builtInControls": ["block"] }),
        ),
    )
    .await;
    let refresh = |client: mailward_testkit::reqwest::Client, rt: String| {
        let t = &t;
        async move {
            post_form(
                t,
                &client,
                "/oauth2/v2.0/token",
                &[
                    ("grant_type", "refresh_token"),
                    (
                        "client_id",
                        mailward_types::model::well_known::MAIL_CLIENT_ID,
                    ),
                    ("refresh_token", &rt),
                ],
                None,
            )
            .await
        }
    };
    let resp = refresh(t.client_from(OTHER_IP), rt.clone()).await;
    assert_error(&resp, 400, "invalid_grant", 53003);
    // The same token still works from an allowed address.
    let (status, body) = refresh(t.client(), rt).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn graph_documents_round_trip_and_bad_ones_are_refused_by_field() {
    let t = start().await;
    // A named location and a policy in the form Graph returns them.
    let loc = include_str!("../../policy/tests/fixtures/named-location-ip.json");
    let loc: Value = serde_json::from_str(loc).expect("fixture");
    let (status, created) = admin_call(
        &t,
        "POST",
        "/v1.0/identity/conditionalAccess/namedLocations",
        Some(loc.clone()),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created, loc);
    let text = include_str!("../../policy/tests/fixtures/exo-mfa-outside-trusted.json");
    let graph: Value = serde_json::from_str(text).expect("fixture");
    let (status, created) = admin_call(
        &t,
        "POST",
        "/v1.0/identity/conditionalAccess/policies",
        Some(graph.clone()),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = graph["id"].as_str().expect("fixture has an id");
    let (status, got) = admin_call(
        &t,
        "GET",
        &format!("/v1.0/identity/conditionalAccess/policies/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(got, graph, "exports back equal");

    // Same id again: conflict.
    let (status, _) = admin_call(
        &t,
        "POST",
        "/v1.0/identity/conditionalAccess/policies",
        Some(graph.clone()),
    )
    .await;
    assert_eq!(status, 409);

    // Unsupported member: refused, naming it.
    let mut bad = graph.clone();
    bad["id"] = json!("another");
    bad["conditions"]["devices"] = json!({ "deviceFilter": { "mode": "include", "rule": "x" } });
    let (status, body) = admin_call(
        &t,
        "POST",
        "/v1.0/identity/conditionalAccess/policies",
        Some(bad),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("conditions.devices"),
        "{body}"
    );
    // Hostile JSON: not an object, unknown member, wrong type.
    for body in [
        json!([1, 2]),
        json!({"displayName": 5}),
        json!({"stat": "enabled"}),
    ] {
        let (status, resp) = admin_call(
            &t,
            "POST",
            "/v1.0/identity/conditionalAccess/policies",
            Some(body.clone()),
        )
        .await;
        assert_eq!(status, 400, "{body} -> {resp}");
    }
    // Nothing half-written: still exactly one policy.
    let (_, list) = admin_call(&t, "GET", "/v1.0/identity/conditionalAccess/policies", None).await;
    assert_eq!(list["value"].as_array().unwrap().len(), 1, "{list}");

    // A policy naming a missing location is refused; a used location cannot be deleted.
    let (status, body) = admin_call(
        &t,
        "POST",
        "/v1.0/identity/conditionalAccess/policies",
        Some(policy(
            "uses a missing location",
            "enabled",
            json!({
                "users": users_all(),
                "applications": { "includeApplications": ["All"] },
                "clientAppTypes": ["all"],
                "locations": { "includeLocations": ["3f2504e0-4f89-11d3-9a0c-0305e82c3301"] },
            }),
            json!({ "operator": "OR", "builtInControls": ["block"] }),
        )),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let loc_id = loc["id"].as_str().unwrap();
    let user_of_loc = create_policy(
        &t,
        policy(
            "Block the listed range",
            "enabled",
            json!({
                "users": users_all(),
                "applications": { "includeApplications": ["All"] },
                "clientAppTypes": ["all"],
                "locations": { "includeLocations": [loc_id] },
            }),
            json!({ "operator": "OR", "builtInControls": ["block"] }),
        ),
    )
    .await;
    let (status, body) = admin_call(
        &t,
        "DELETE",
        &format!("/v1.0/identity/conditionalAccess/namedLocations/{loc_id}"),
        None,
    )
    .await;
    assert_eq!(status, 409, "{body}");

    // PATCH the state, then delete.
    let (status, _) = admin_call(
        &t,
        "PATCH",
        &format!("/v1.0/identity/conditionalAccess/policies/{id}"),
        Some(json!({ "state": "disabled" })),
    )
    .await;
    assert_eq!(status, 204);
    let (_, got) = admin_call(
        &t,
        "GET",
        &format!("/v1.0/identity/conditionalAccess/policies/{id}"),
        None,
    )
    .await;
    assert_eq!(got["state"], "disabled");
    assert_eq!(got["conditions"], graph["conditions"]);
    let (status, _) = admin_call(
        &t,
        "DELETE",
        &format!("/v1.0/identity/conditionalAccess/policies/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, _) = admin_call(
        &t,
        "DELETE",
        &format!("/v1.0/identity/conditionalAccess/policies/{user_of_loc}"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, _) = admin_call(
        &t,
        "DELETE",
        &format!("/v1.0/identity/conditionalAccess/namedLocations/{loc_id}"),
        None,
    )
    .await;
    assert_eq!(status, 204);
}

#[tokio::test]
async fn what_if_names_applying_policies_and_why_others_do_not_apply() {
    let t = start().await;
    let _u = user(&t, "wanda").await;
    let browsers = create_policy(
        &t,
        policy(
            "MFA for browsers",
            "enabled",
            json!({
                "users": users_all(),
                "applications": { "includeApplications": ["All"] },
                "clientAppTypes": ["browser"],
            }),
            json!({ "operator": "OR", "builtInControls": ["mfa"] }),
        ),
    )
    .await;
    let legacy = create_policy(
        &t,
        policy(
            "Block legacy clients",
            "enabled",
            json!({
                "users": users_all(),
                "applications": { "includeApplications": ["All"] },
                "clientAppTypes": ["other", "exchangeActiveSync"],
            }),
            json!({ "operator": "OR", "builtInControls": ["block"] }),
        ),
    )
    .await;
    let (status, w) = admin_call(
        &t,
        "POST",
        "/v1.0/identity/conditionalAccess/whatIf",
        Some(
            json!({ "user": upn("wanda"), "clientAppType": "other", "ipAddress": "198.51.100.7" }),
        ),
    )
    .await;
    assert_eq!(status, 200, "{w}");
    assert_eq!(w["decision"]["result"], "block");
    assert_eq!(w["decision"]["errorCode"], 53003);
    assert_eq!(w["applying"][0]["id"], legacy.as_str());
    assert_eq!(w["notApplying"][0]["id"], browsers.as_str());
    assert_eq!(w["notApplying"][0]["reason"], "clientAppTypes");

    let (status, w) = admin_call(
        &t,
        "POST",
        "/v1.0/identity/conditionalAccess/whatIf",
        Some(json!({ "user": upn("wanda"), "clientAppType": "browser", "platform": "iOS" })),
    )
    .await;
    assert_eq!(status, 200, "{w}");
    assert_eq!(w["decision"]["result"], "requireControls");
    assert_eq!(w["decision"]["mfa"], true);

    // Bad input is named.
    let (status, w) = admin_call(
        &t,
        "POST",
        "/v1.0/identity/conditionalAccess/whatIf",
        Some(json!({ "user": upn("wanda"), "platform": "amiga" })),
    )
    .await;
    assert_eq!(status, 400, "{w}");
    let (status, _) = admin_call(
        &t,
        "POST",
        "/v1.0/identity/conditionalAccess/whatIf",
        Some(json!({ "user": "nobody@contoso.test" })),
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn backtest_replays_the_log_against_a_proposed_policy() {
    let t = start().await;
    let m = mfa_user(&t, "bart").await;
    let _ = mail_tokens_pwd(&t, &m.upn).await;
    t.flush_log().await;
    let proposal = policy(
        "Block mail apps",
        "disabled",
        json!({
            "users": users_all(),
            "applications": { "includeApplications": ["Office365"] },
            "clientAppTypes": ["mobileAppsAndDesktopClients"],
        }),
        json!({ "operator": "OR", "builtInControls": ["block"] }),
    );
    let (status, r) = admin_call(
        &t,
        "POST",
        "/v1.0/identity/conditionalAccess/backtest",
        Some(json!({ "policy": proposal, "since": "1d" })),
    )
    .await;
    assert_eq!(status, 200, "{r}");
    assert!(r["wouldBlock"].as_u64().unwrap() >= 1, "{r}");
    assert_eq!(r["users"][0]["userPrincipalName"], m.upn.as_str());
    // Nothing was stored.
    let (_, list) = admin_call(&t, "GET", "/v1.0/identity/conditionalAccess/policies", None).await;
    assert_eq!(list["value"], json!([]));
}

#[tokio::test]
async fn only_policy_admins_may_write_over_https() {
    let t = start().await;
    let reader = user_with(&t, "reader", &["GlobalReader"], true).await;
    let reader = enroll(&t, reader).await;
    let b = Browser::new(&t);
    let p = pkce();
    let scope = format!("openid {}/Directory.AccessAsUser.All", t.url);
    let url = authorize_url(
        &t,
        mailward_types::model::well_known::MAIL_CLIENT_ID,
        LOOPBACK,
        &scope,
        &[
            ("code_challenge", &p.challenge),
            ("code_challenge_method", "S256"),
        ],
    );
    // An administrator: security defaults ask for MFA even with the rule off.
    let done = sign_in(&t, &b, &url, &reader).await;
    let code = done.param("code").unwrap_or_else(|| panic!("{done:?}"));
    let (status, body) = redeem_mail_code(&t, &code, &p).await;
    assert_eq!(status, 200, "{body}");
    let tok = body["access_token"].as_str().unwrap().to_string();
    let list = t
        .client()
        .get(t.at("/v1.0/identity/conditionalAccess/policies"))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap();
    assert_eq!(list.status(), 200);
    let create = t
        .client()
        .post(t.at("/v1.0/identity/conditionalAccess/policies"))
        .bearer_auth(&tok)
        .json(&policy(
            "x",
            "enabled",
            json!({"users": users_all(), "applications": {"includeApplications": ["All"]}, "clientAppTypes": ["all"]}),
            json!({"operator": "OR", "builtInControls": ["block"]}),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(create.status(), 403);
    let anonymous = t
        .client()
        .get(t.at("/v1.0/identity/conditionalAccess/policies"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
}

#[tokio::test]
async fn relayed_basic_auth_is_client_app_type_other_and_a_legacy_block_stops_it() {
    let t = start().await;
    let u = user(&t, "lena").await;
    let (app, secret) = confidential_app(
        &t,
        Some(&["client_credentials"]),
        &[mailward_types::model::well_known::LEGACY_RELAY_ROLE],
    )
    .await;
    let relay = || async {
        let res = t
            .client()
            .post(t.at("/legacy/v1/authenticate"))
            .basic_auth(&app, Some(&secret))
            .json(&json!({
                "username": u.upn.as_str(), "password": PW, "protocol": "IMAP4",
                "client_ip": "198.51.100.7", "user_agent": "Thunderbird",
            }))
            .send()
            .await
            .expect("relay");
        let status = res.status().as_u16();
        (status, res.json::<Value>().await.unwrap_or(Value::Null))
    };
    let (status, body) = relay().await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"], "allow");

    // A report-only block changes nothing; an enforced one blocks with 53003.
    let id = create_policy(
        &t,
        policy(
            "Block legacy authentication",
            "enabledForReportingButNotEnforced",
            json!({
                "users": users_all(),
                "applications": { "includeApplications": ["Office365"] },
                "clientAppTypes": ["exchangeActiveSync", "other"],
            }),
            json!({ "operator": "OR", "builtInControls": ["block"] }),
        ),
    )
    .await;
    let (_, body) = relay().await;
    assert_eq!(body["result"], "allow", "{body}");
    let (status, _) = admin_call(
        &t,
        "PATCH",
        &format!("/v1.0/identity/conditionalAccess/policies/{id}"),
        Some(json!({ "state": "enabled" })),
    )
    .await;
    assert_eq!(status, 204);
    let (_, body) = relay().await;
    assert_ne!(body["result"], "allow", "{body}");
    assert!(body.to_string().contains("53003"), "{body}");

    t.flush_log().await;
    let log = signins(&t, u.upn.as_str()).await;
    let results: Vec<_> = log.iter().filter_map(|e| policy_result(e, &id)).collect();
    assert!(results.contains(&"reportOnlyFailure"), "{log:#?}");
    assert!(results.contains(&"failure"), "{log:#?}");
    assert!(
        log.iter()
            .all(|e| e.client_app_used == mailward_types::model::ClientAppType::Other),
        "{log:#?}"
    );
}

#[tokio::test]
async fn an_interactive_sign_in_blocked_by_policy_is_logged_for_the_user() {
    let t = start().await;
    let u = user(&t, "ivan").await;
    let id = create_policy(
        &t,
        policy(
            "Block desktop apps",
            "enabled",
            json!({
                "users": users_all(),
                "applications": { "includeApplications": ["Office365"] },
                "clientAppTypes": ["mobileAppsAndDesktopClients"],
            }),
            json!({ "operator": "OR", "builtInControls": ["block"] }),
        ),
    )
    .await;
    let b = Browser::new(&t);
    let p = pkce();
    let page = password_pages(&b, &mail_authorize_url(&t, &p, &[]), u.upn.as_str(), PW).await;
    assert!(page.param("code").is_none(), "{page:?}");
    assert!(page.html().contains("53003"), "{page:?}");
    t.flush_log().await;
    let log = signins(&t, u.upn.as_str()).await;
    assert!(
        log.iter().any(|e| e.error_code == Some(53003)
            && e.user_id == Some(u.id)
            && policy_result(e, &id) == Some("failure")),
        "{log:#?}"
    );
}

const SECURITY_DEFAULTS: &str = "/v1.0/policies/identitySecurityDefaultsEnforcementPolicy";

async fn set_security_defaults(t: &TestIdentity, on: bool) {
    let (status, v) = admin_call(
        t,
        "PATCH",
        SECURITY_DEFAULTS,
        Some(json!({ "isEnabled": on })),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["isEnabled"], on);
}

/// Whether the mail app's sign-in asks for the second factor after the password.
async fn prompts_for_mfa(t: &TestIdentity, upn: &str) -> bool {
    let b = Browser::new(t);
    let page = password_pages(&b, &mail_authorize_url(t, &pkce(), &[]), upn, PW).await;
    if page.param("code").is_some() {
        return false;
    }
    assert!(page.html().contains("value=\"totp\""), "{}", page.html());
    true
}

#[tokio::test]
async fn a_narrow_policy_leaves_security_defaults_on_for_everyone_else() {
    // The default configuration: security defaults with MFA for everyone.
    let t = TestIdentity::start().await;
    let alice = mfa_user(&t, "alice").await;
    let (status, g) = admin_call(
        &t,
        "POST",
        "/v1.0/groups",
        Some(json!({ "displayName": "Sales" })),
    )
    .await;
    assert_eq!(status, 201, "{g}");
    let sales = create_policy(
        &t,
        policy(
            "Sales: require MFA",
            "enabled",
            json!({
                "users": { "includeGroups": [g["id"]] },
                "applications": { "includeApplications": ["All"] },
            }),
            json!({ "operator": "OR", "builtInControls": ["mfa"] }),
        ),
    )
    .await;

    // Alice is not in Sales, yet still asked for MFA; the log says by whom.
    assert!(prompts_for_mfa(&t, &alice.upn).await);
    let tokens = mail_tokens(&t, &alice).await;
    assert!(tokens["access_token"].is_string());
    t.flush_log().await;
    let log = signins(&t, &alice.upn).await;
    let done = log
        .iter()
        .find(|e| e.amr.contains(&mailward_types::model::Amr::Mfa))
        .expect("an MFA sign-in");
    let sd = done
        .policies
        .iter()
        .find(|p| p.id == "securityDefaults")
        .expect("security defaults logged");
    assert_eq!(sd.display_name, "Security defaults");
    assert_eq!(sd.result, "success");
    assert_eq!(sd.enforced_grant_controls, vec!["mfa".to_string()]);
    assert_eq!(policy_result(done, &sales), Some("notApplied"));

    // Turned off, the policies alone decide: the password is enough for alice.
    set_security_defaults(&t, false).await;
    let (_, v) = admin_call(&t, "GET", SECURITY_DEFAULTS, None).await;
    assert_eq!(v["isEnabled"], false);
    assert!(!prompts_for_mfa(&t, &alice.upn).await);
    mail_tokens_pwd(&t, &alice.upn).await;
    t.flush_log().await;
    let log = signins(&t, &alice.upn).await;
    assert!(
        log[0].policies.iter().all(|p| p.id != "securityDefaults"),
        "{:?}",
        log[0]
    );

    // And on again.
    set_security_defaults(&t, true).await;
    assert!(prompts_for_mfa(&t, &alice.upn).await);
}

#[tokio::test]
async fn security_defaults_require_mfa_of_admins_whatever_the_rule() {
    // Rule "none": users sign in on a password, administrators never do.
    let t = start().await;
    let plain = mfa_user(&t, "pat").await;
    let admin = enroll(
        &t,
        user_with(&t, "boss", &["UserAdministrator"], true).await,
    )
    .await;
    assert!(!prompts_for_mfa(&t, &plain.upn).await);
    assert!(prompts_for_mfa(&t, &admin.upn).await);

    // Relayed basic auth (legacy, cannot do MFA): allowed for the user, blocked for the
    // administrator with 50076.
    let (app, secret) = confidential_app(
        &t,
        Some(&["client_credentials"]),
        &[mailward_types::model::well_known::LEGACY_RELAY_ROLE],
    )
    .await;
    let relay = |upn: String| {
        let t = &t;
        let (app, secret) = (app.clone(), secret.clone());
        async move {
            let res = t
                .client()
                .post(t.at("/legacy/v1/authenticate"))
                .basic_auth(&app, Some(&secret))
                .json(&json!({
                    "username": upn, "password": PW, "protocol": "IMAP4",
                    "client_ip": "198.51.100.7", "user_agent": "Thunderbird",
                }))
                .send()
                .await
                .expect("relay");
            res.json::<Value>().await.unwrap_or(Value::Null)
        }
    };
    assert_eq!(relay(plain.upn.clone()).await["result"], "allow");
    let v = relay(admin.upn.clone()).await;
    assert_ne!(v["result"], "allow", "{v}");
    assert!(v.to_string().contains("50076"), "{v}");

    // What-If shows the baseline beside the policies.
    let (status, w) = admin_call(
        &t,
        "POST",
        "/v1.0/identity/conditionalAccess/whatIf",
        Some(json!({ "user": admin.upn, "clientAppType": "browser" })),
    )
    .await;
    assert_eq!(status, 200, "{w}");
    assert_eq!(w["decision"]["result"], "requireControls");
    assert_eq!(w["decision"]["mfa"], true);
    assert_eq!(w["securityDefaults"]["isEnabled"], true);
    assert_eq!(w["securityDefaults"]["result"], "failure");
    let (_, w) = admin_call(
        &t,
        "POST",
        "/v1.0/identity/conditionalAccess/whatIf",
        Some(json!({ "user": plain.upn, "clientAppType": "browser" })),
    )
    .await;
    assert_eq!(w["decision"]["result"], "allow", "{w}");
    assert_eq!(w["securityDefaults"]["result"], "notApplied");

    // Off: the administrator too signs in on a password (which coverage reports).
    set_security_defaults(&t, false).await;
    assert!(!prompts_for_mfa(&t, &admin.upn).await);
    let (status, c) =
        admin_call(&t, "GET", "/v1.0/identity/conditionalAccess/coverage", None).await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(
        c["adminsWithPasswordOnly"][0]["userPrincipalName"],
        admin.upn.as_str(),
        "{c}"
    );
}
