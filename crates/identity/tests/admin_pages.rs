//! The admin center (`/admin`) over real HTTPS, driven like a browser: the sign-in through
//! identity's own pages (password and TOTP), the policy editor with server-side validation,
//! state toggles, named locations, What-If, the sign-in log, and the refusals — no admin
//! role, a role that does not allow the change, a form without the session's CSRF token.

mod common;

use common::*;
use mailward_identity::bootstrap::ADMIN_CENTER_CLIENT_ID;
use mailward_identity::conditional_access::{LOCATION_KIND, POLICY_KIND};
use mailward_testkit::{Browser, Landing, TestIdentity, pages};
use mailward_types::model::well_known::MAIL_RESOURCE_APP_ID;
use serde_json::{Value, json};
use tower::ServiceExt;

/// Signs `m` in to the admin center through the pages; returns the landing page.
async fn admin_sign_in(t: &TestIdentity, b: &Browser, m: &MfaUser) -> Landing {
    sign_in(t, b, &t.at("/admin"), m).await
}

/// A user with the given roles and a registered authenticator, signed in to the admin
/// center in a fresh browser.
async fn admin(t: &TestIdentity, local: &str, roles: &[&str]) -> (Browser, MfaUser, Landing) {
    let u = user_with(t, local, roles, true).await;
    let m = enroll(t, u).await;
    let b = Browser::new(t);
    let landing = admin_sign_in(t, &b, &m).await;
    (b, m, landing)
}

/// The sign-in log entries of the log page.
fn entries(html: &str) -> Vec<String> {
    html.split("<details class=\"entry\">")
        .skip(1)
        .map(|e| e[..e.find("</details>").unwrap_or(e.len())].to_string())
        .collect()
}

fn status(l: &Landing) -> u16 {
    match l {
        Landing::Page { status, .. } => *status,
        Landing::Redirect(_) => 0,
    }
}

/// A page's HTML with the escaping undone, for looking for text.
fn text(l: &Landing) -> String {
    unescape(l.html())
}

/// The CSRF token of an admin center page.
fn csrf(html: &str) -> String {
    pages::hidden(html, "csrf").unwrap_or_else(|| panic!("no CSRF token in:\n{html}"))
}

/// The text of a page's `<textarea id="…">`, unescaped.
fn textarea(html: &str, id: &str) -> Option<String> {
    let start = html.find(&format!("<textarea id=\"{id}\""))?;
    let open = html[start..].find('>')? + start + 1;
    let end = html[open..].find("</textarea>")? + open;
    Some(unescape(&html[open..end]))
}

/// Calls the admin API in-process as the local administrator.
async fn admin_call(
    t: &TestIdentity,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let req = axum::http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .extension(mailward_identity::LocalAdmin)
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
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// Stored documents of a kind (policies or named locations), as JSON.
async fn stored(t: &TestIdentity, kind: &str) -> Vec<Value> {
    t.ctx
        .store()
        .documents(kind)
        .await
        .expect("documents")
        .iter()
        .map(|d| serde_json::from_str(&d.body).expect("stored JSON"))
        .collect()
}

fn block_policy(name: &str, user_id: &str) -> Value {
    json!({
        "displayName": name,
        "state": "enabled",
        "conditions": {
            "users": { "includeUsers": [user_id] },
            "applications": { "includeApplications": ["All"] },
            "clientAppTypes": ["all"],
        },
        "grantControls": { "operator": "OR", "builtInControls": ["block"] },
    })
}

/// Creates a policy through the editor; returns the page after saving.
async fn create_through_editor(b: &Browser, t: &TestIdentity, text: &str) -> Landing {
    let editor = b.get(&t.at("/admin/policies/new")).await;
    assert_eq!(status(&editor), 200, "{editor:?}");
    b.post_form(
        "/admin/policies/new",
        &[("csrf", &csrf(editor.html())), ("json", text)],
    )
    .await
}

#[tokio::test]
async fn unauthenticated_requests_go_to_sign_in_and_nothing_else() {
    let t = TestIdentity::start().await;
    let c = t.client();

    let res = c.get(t.at("/admin")).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 303);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let location = res.headers()["location"].to_str().unwrap().to_string();
    assert!(
        location.starts_with("/oauth2/v2.0/authorize?"),
        "{location}"
    );
    let url = url::Url::parse(&t.at(&location)).unwrap();
    let q: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(q["client_id"], ADMIN_CENTER_CLIENT_ID);
    assert_eq!(q["redirect_uri"], t.at("/admin/callback"));
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["code_challenge"].len(), 43);
    assert!(q["state"].len() >= 43 && q["nonce"].len() >= 43, "{q:?}");
    assert!(
        q["scope"].starts_with("openid ")
            && q["scope"].ends_with(&format!("{}/Directory.AccessAsUser.All", t.url)),
        "{q:?}"
    );
    let login_cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("__Host-mw_admin_login="))
        .expect("sign-in state cookie")
        .to_string();
    assert_host_cookie(&login_cookie);

    // Every page asks for a sign-in; a form post without a session changes nothing.
    for path in ["/admin/policies", "/admin/whatif", "/admin/signins?user=x"] {
        let res = c.get(t.at(path)).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 303, "{path}");
        let loc = res.headers()["location"].to_str().unwrap();
        assert!(loc.starts_with("/oauth2/v2.0/authorize?"), "{path}: {loc}");
    }
    let res = c
        .post(t.at("/admin/policies/new"))
        .form(&[
            ("csrf", "x"),
            ("json", &block_policy("Sneaky", "All").to_string()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 303);
    assert_eq!(res.headers()["location"], "/admin");
    assert!(stored(&t, POLICY_KIND).await.is_empty());

    // A forged or foreign session cookie is no session.
    let res = c
        .get(t.at("/admin"))
        .header(
            "cookie",
            "__Host-mw_admin=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 303);
    assert!(
        res.headers()
            .get_all("set-cookie")
            .iter()
            .any(|v| v.to_str().unwrap().starts_with("__Host-mw_admin=;")),
        "the bad cookie is cleared"
    );

    // A callback that does not match a sign-in this browser started is refused.
    let res = c
        .get(t.at("/admin/callback?code=abc&state=forged"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 400);
    assert!(res.text().await.unwrap().contains("no longer valid"));
}

#[tokio::test]
async fn an_admin_signs_in_through_identity_and_gets_a_scoped_session() {
    let t = TestIdentity::start().await;
    let u = user_with(&t, "ada", &["GlobalAdministrator"], true).await;
    let m = enroll(&t, u).await;
    let b = Browser::new(&t);

    // Up to the TOTP page as a browser would, then step through the redirects by hand to
    // look at the cookies the callback sets.
    let page = password_pages(&b, &t.at("/admin"), &m.upn, PW).await;
    let flow = pages::flow_id(page.html()).expect("TOTP page");
    let code = fresh_totp(&t, &m).await;
    let res = b
        .client
        .post(t.at("/login"))
        .form(&[("flow", flow.as_str()), ("action", "totp"), ("code", &code)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 303);
    let callback = res.headers()["location"].to_str().unwrap().to_string();
    assert!(
        callback.starts_with(&t.at("/admin/callback?code=")),
        "{callback}"
    );
    let res = b.client.get(&callback).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 303);
    assert_eq!(res.headers()["location"], "/admin");
    let cookies: Vec<String> = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    let session = cookies
        .iter()
        .find(|c| c.starts_with("__Host-mw_admin=") && !c.starts_with("__Host-mw_admin=;"))
        .unwrap_or_else(|| panic!("no session cookie: {cookies:?}"));
    assert_host_cookie(session);
    assert!(session.contains("Max-Age="), "{session}");
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("__Host-mw_admin_login=;")),
        "the sign-in state is spent: {cookies:?}"
    );

    // The callback cannot be replayed: its sign-in state is spent.
    let again = b.client.get(&callback).send().await.unwrap();
    assert_ne!(again.status().as_u16(), 303);

    let res = b.client.get(t.at("/admin")).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    assert_eq!(res.headers()["x-frame-options"], "DENY");
    let csp = res.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    let html = res.text().await.unwrap();
    assert!(html.contains("Overview") && html.contains(&m.upn), "{html}");
    assert!(html.contains("GlobalAdministrator"), "{html}");

    // The sign-in is in the log as a browser sign-in of the admin center.
    let events = signins(&t, &m.upn).await;
    let ev = events
        .iter()
        .find(|e| {
            e.app_id.as_deref() == Some(ADMIN_CENTER_CLIENT_ID) && e.flow == "authorization_code"
        })
        .unwrap_or_else(|| panic!("no code redemption logged: {events:?}"));
    assert_eq!(ev.client_app_used.as_str(), "browser");

    // Signing out is a POST with the CSRF token: no GET route changes anything.
    let res = b.client.get(t.at("/admin/signout")).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 405);
    let res = b
        .client
        .post(t.at("/admin/signout"))
        .form(&[("csrf", "wrong")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 403);
    let res = b
        .client
        .post(t.at("/admin/signout"))
        .header("origin", "null")
        .form(&[("csrf", csrf(&html).as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 403, "Origin: null is refused");
    assert_eq!(
        status(&b.get(&t.at("/admin")).await),
        200,
        "a refused sign-out changes nothing"
    );
    let res = b
        .client
        .post(t.at("/admin/signout"))
        .header("origin", t.url.as_str())
        .header("sec-fetch-site", "same-origin")
        .form(&[("csrf", csrf(&html).as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 303);
    assert_eq!(res.headers()["location"], "/admin/signedout");
    let cleared: Vec<&str> = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert!(
        cleared.iter().any(|c| c.starts_with("__Host-mw_admin=;")),
        "{cleared:?}"
    );
    assert!(
        cleared.iter().any(|c| c.starts_with("__Host-mw_session=;")),
        "{cleared:?}"
    );
    let page = b.get(&t.at("/admin/signedout")).await;
    assert!(text(&page).contains("You signed out"), "{page:?}");
    // Both sessions are over: a new sign-in asks for the password again.
    let page = b.get(&t.at("/admin")).await;
    assert!(
        page.html().contains("name=\"username\""),
        "signed out: a new sign-in starts: {page:?}"
    );
}

/// A `__Host-` cookie: Secure, `Path=/`, no `Domain` (else the browser drops it).
fn assert_host_cookie(c: &str) {
    assert!(c.starts_with("__Host-"), "{c}");
    let attrs: Vec<&str> = c.split(';').skip(1).map(str::trim).collect();
    for attr in ["Path=/", "HttpOnly", "Secure", "SameSite=Lax"] {
        assert!(attrs.contains(&attr), "{attr} missing: {c}");
    }
    assert!(
        !attrs
            .iter()
            .any(|a| a.to_ascii_lowercase().starts_with("domain")),
        "{c}"
    );
}

#[tokio::test]
async fn identity_cookies_carry_the_host_prefix() {
    let t = TestIdentity::start().await;
    let m = mfa_user(&t, "hank").await;
    let b = Browser::new(&t);
    // The binding cookie is set by the authorize request, the session cookie by the
    // sign-in's last step; collect both as a browser sees them.
    let res = b
        .client
        .get(mail_authorize_url(&t, &pkce(), &[]))
        .send()
        .await
        .unwrap();
    let bind = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("__Host-mw_bind="))
        .expect("binding cookie");
    assert_host_cookie(&bind);
    let page = password_pages(&b, &mail_authorize_url(&t, &pkce(), &[]), &m.upn, PW).await;
    let flow = pages::flow_id(page.html()).expect("TOTP page");
    let code = fresh_totp(&t, &m).await;
    let res = b
        .client
        .post(t.at("/login"))
        .form(&[("flow", flow.as_str()), ("action", "totp"), ("code", &code)])
        .send()
        .await
        .unwrap();
    let session = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("__Host-mw_session="))
        .expect("session cookie");
    assert_host_cookie(&session);
    assert!(has_sso(&t, &b).await);

    // Identity's end-session endpoint changes nothing on a GET: it asks, and only the
    // confirmation's POST (with a token from the session) ends the session.
    let page = b.get(&t.at("/oauth2/v2.0/logout")).await;
    assert_eq!(status(&page), 200);
    assert!(has_sso(&t, &b).await, "a GET ends nothing");
    let token = pages::hidden(page.html(), "confirm").expect("confirmation token");
    let page = b
        .post_form("/oauth2/v2.0/logout", &[("confirm", "forged")])
        .await;
    assert!(page.html().contains("name=\"confirm\""), "{page:?}");
    assert!(has_sso(&t, &b).await, "a forged confirmation ends nothing");
    let page = b
        .post_form("/oauth2/v2.0/logout", &[("confirm", &token)])
        .await;
    assert!(text(&page).contains("signed out"), "{page:?}");
    assert!(!has_sso(&t, &b).await);
}

#[tokio::test]
async fn policies_are_created_validated_toggled_edited_and_deleted_in_the_editor() {
    let t = TestIdentity::start().await;
    let (b, _m, landing) = admin(&t, "ada", &["GlobalAdministrator"]).await;
    assert_eq!(status(&landing), 200, "{landing:?}");
    assert!(landing.html().contains("Overview"), "{landing:?}");
    let mallory = user(&t, "mallory").await;

    // A valid policy is stored and listed.
    let page = create_through_editor(
        &b,
        &t,
        &block_policy("Block mallory", &mallory.id.to_string()).to_string(),
    )
    .await;
    assert_eq!(status(&page), 200, "{page:?}");
    let html = page.html();
    assert!(
        html.contains("Block mallory") && html.contains("Block access"),
        "{html}"
    );
    assert!(html.contains("Created."), "{html}");
    let docs = stored(&t, POLICY_KIND).await;
    assert_eq!(docs.len(), 1);
    let id = docs[0]["id"].as_str().unwrap().to_string();

    // Invalid documents are shown again with every problem, naming the member; nothing is
    // stored.
    let bad = r#"{
  "displayName": "Broken <b>policy</b>",
  "state": "enabled",
  "conditions": {
    "users": { "includeUsers": ["All"] },
    "applications": { "includeApplications": ["All"] },
    "bogusCondition": true
  },
  "grantControls": { "operator": "OR", "builtInControls": ["mfa"] }
}"#;
    let page = create_through_editor(&b, &t, bad).await;
    assert_eq!(status(&page), 400, "{page:?}");
    let html = page.html();
    assert!(
        html.contains("<code>conditions.bogusCondition</code>"),
        "{html}"
    );
    assert!(
        !html.contains(" at line "),
        "no positions in text the admin did not type: {html}"
    );
    assert!(
        html.contains("Broken &lt;b&gt;policy&lt;&#x2f;b&gt;") && !html.contains("<b>policy"),
        "the text comes back, escaped: {html}"
    );
    // Every problem of a document at once.
    let bad = json!({
        "displayName": "",
        "state": "enabled",
        "conditions": {
            "users": { "includeUsers": ["All"] },
            "applications": { "includeApplications": ["All"] },
            "clientAppTypes": ["all"],
        },
        "grantControls": { "operator": "OR", "builtInControls": ["block", "mfa"] },
    });
    let page = create_through_editor(&b, &t, &bad.to_string()).await;
    assert_eq!(status(&page), 400, "{page:?}");
    let html = page.html();
    assert!(html.matches("<li><code>").count() >= 2, "{html}");
    assert!(
        html.contains("<code>grantControls.builtInControls</code>"),
        "{html}"
    );
    let page = create_through_editor(&b, &t, "{ \"displayName\": ").await;
    assert_eq!(status(&page), 400, "{page:?}");
    assert!(page.html().contains("Invalid JSON body"), "{page:?}");
    assert_eq!(stored(&t, POLICY_KIND).await.len(), 1, "nothing stored");

    // The state toggle.
    let list = b.get(&t.at("/admin/policies")).await;
    let token = csrf(list.html());
    let page = b
        .post_form(
            &format!("/admin/policies/{id}/state"),
            &[
                ("csrf", &token),
                ("state", "enabledForReportingButNotEnforced"),
            ],
        )
        .await;
    assert_eq!(status(&page), 200, "{page:?}");
    assert!(page.html().contains("Report-only"), "{page:?}");
    assert_eq!(
        stored(&t, POLICY_KIND).await[0]["state"],
        "enabledForReportingButNotEnforced"
    );
    let page = b
        .post_form(
            &format!("/admin/policies/{id}/state"),
            &[("csrf", &token), ("state", "maybe")],
        )
        .await;
    assert_eq!(status(&page), 400, "{page:?}");
    b.post_form(
        &format!("/admin/policies/{id}/state"),
        &[("csrf", &token), ("state", "enabled")],
    )
    .await;
    assert_eq!(stored(&t, POLICY_KIND).await[0]["state"], "enabled");

    // Editing: the page shows the stored JSON; a removed member is cleared, an invalid edit
    // is refused with the text kept, a valid one saved.
    let page = b.get(&t.at(&format!("/admin/policies/{id}"))).await;
    assert_eq!(status(&page), 200, "{page:?}");
    assert!(
        page.html()
            .contains("&quot;displayName&quot;: &quot;Block mallory&quot;"),
        "{page:?}"
    );
    let mut edited = docs[0].clone();
    edited["displayName"] = json!("Block mallory everywhere");
    edited["conditions"]
        .as_object_mut()
        .unwrap()
        .remove("clientAppTypes");
    let mut broken = edited.clone();
    broken["grantControls"]["builtInControls"] = json!(["block", "mfa"]);
    let page = b
        .post_form(
            &format!("/admin/policies/{id}"),
            &[("csrf", &token), ("json", &broken.to_string())],
        )
        .await;
    assert_eq!(status(&page), 400, "{page:?}");
    assert!(page.html().contains("grantControls"), "{page:?}");
    assert_eq!(
        stored(&t, POLICY_KIND).await[0]["displayName"],
        "Block mallory"
    );
    let page = b
        .post_form(
            &format!("/admin/policies/{id}"),
            &[
                ("csrf", &token),
                ("json", &serde_json::to_string_pretty(&edited).unwrap()),
            ],
        )
        .await;
    assert_eq!(status(&page), 200, "{page:?}");
    assert!(page.html().contains("Block mallory everywhere"), "{page:?}");
    let now = &stored(&t, POLICY_KIND).await[0];
    assert_eq!(now["displayName"], "Block mallory everywhere");
    assert_eq!(now["id"], id.as_str(), "server members kept");
    assert!(
        now["conditions"]["clientAppTypes"]
            .as_array()
            .is_none_or(|a| a.is_empty() || a == &vec![json!("all")]),
        "removed member cleared: {now}"
    );

    // Delete: a confirmation page, then the POST.
    let confirm = b.get(&t.at(&format!("/admin/policies/{id}/delete"))).await;
    assert_eq!(status(&confirm), 200);
    assert!(
        confirm.html().contains("Block mallory everywhere"),
        "{confirm:?}"
    );
    let page = b
        .post_form(
            &format!("/admin/policies/{id}/delete"),
            &[("csrf", &csrf(confirm.html()))],
        )
        .await;
    assert!(page.html().contains("Deleted."), "{page:?}");
    assert!(stored(&t, POLICY_KIND).await.is_empty());
    let page = b.get(&t.at(&format!("/admin/policies/{id}"))).await;
    assert_eq!(status(&page), 404, "{page:?}");
}

#[tokio::test]
async fn the_policy_form_writes_graph_json_and_keeps_what_it_does_not_show() {
    let t = TestIdentity::start().await;
    let (b, _m, _) = admin(&t, "ada", &["GlobalAdministrator"]).await;
    let mallory = user(&t, "mallory").await;
    let (s, office) = admin_call(
        &t,
        "POST",
        "/v1.0/identity/conditionalAccess/namedLocations",
        Some(json!({
            "@odata.type": "#microsoft.graph.ipNamedLocation",
            "displayName": "Office",
            "isTrusted": true,
            "ipRanges": [{ "@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": "198.51.100.0/24" }],
        })),
    )
    .await;
    assert_eq!(s, 201, "{office}");
    let office_id = office["id"].as_str().unwrap().to_string();

    // The new-policy page shows the form beside the JSON view, the named location among
    // the choices.
    let editor = b.get(&t.at("/admin/policies/new")).await;
    let html = editor.html();
    assert!(
        html.contains("name=\"conditions.users.includeUsers\"")
            && html.contains("name=\"grantControls.operator\"")
            && html.contains(&format!("value=\"{office_id}\""))
            && html.contains("id=\"json\""),
        "{html}"
    );
    assert!(
        html.contains("<script src=\"/admin/assets/admin.js\"></script>"),
        "{html}"
    );
    let token = csrf(html);

    // A plain form submit (no script): the form's members over an empty JSON view.
    let mallory_id = mallory.id.to_string();
    let page = b
        .post_form(
            "/admin/policies/new",
            &[
                ("csrf", &token),
                ("from", "form"),
                ("json", ""),
                ("displayName", "Mallory: MFA outside the office"),
                ("state", "enabledForReportingButNotEnforced"),
                ("conditions.users.includeUsers", &mallory_id),
                ("conditions.applications.includeApplications", "All"),
                ("conditions.clientAppTypes", "browser"),
                ("conditions.clientAppTypes", "mobileAppsAndDesktopClients"),
                ("conditions.locations.includeLocations", "All"),
                ("conditions.locations.excludeLocations", &office_id),
                ("grantControls.builtInControls", "mfa"),
                ("grantControls.builtInControls", "passwordChange"),
                ("grantControls.operator", "AND"),
            ],
        )
        .await;
    assert_eq!(status(&page), 200, "{page:?}");
    assert!(page.html().contains("Created."), "{page:?}");
    let docs = stored(&t, POLICY_KIND).await;
    assert_eq!(docs.len(), 1);
    let p = &docs[0];
    assert_eq!(p["displayName"], "Mallory: MFA outside the office");
    assert_eq!(p["state"], "enabledForReportingButNotEnforced");
    assert_eq!(
        p["conditions"]["users"]["includeUsers"],
        json!([mallory_id])
    );
    assert_eq!(
        p["conditions"]["clientAppTypes"],
        json!(["browser", "mobileAppsAndDesktopClients"])
    );
    assert_eq!(
        p["conditions"]["locations"],
        json!({ "includeLocations": ["All"], "excludeLocations": [office_id] })
    );
    assert_eq!(
        p["grantControls"],
        json!({ "builtInControls": ["mfa", "passwordChange"], "operator": "AND" })
    );
    let id = p["id"].as_str().unwrap().to_string();

    // A member the form does not show (platforms) is added in the JSON view; then the form
    // edits the rest and the platforms stay.
    let (s, v) = admin_call(
        &t,
        "PATCH",
        &format!("/v1.0/identity/conditionalAccess/policies/{id}"),
        Some(json!({ "conditions": { "platforms": { "includePlatforms": ["android"] } } })),
    )
    .await;
    assert!((200..300).contains(&s), "{v}");
    let edit = b.get(&t.at(&format!("/admin/policies/{id}"))).await;
    let html = edit.html();
    assert!(
        html.contains("Mallory: MFA outside the office") && html.contains("includePlatforms"),
        "{html}"
    );
    let json_view = textarea(html, "json").expect("JSON view");
    let page = b
        .post_form(
            &format!("/admin/policies/{id}"),
            &[
                ("csrf", &csrf(html)),
                ("from", "form"),
                ("json", &json_view),
                ("displayName", "Mallory: MFA"),
                ("state", "enabled"),
                ("conditions.users.includeUsers", &mallory_id),
                ("conditions.applications.includeApplications", "Office365"),
                ("conditions.clientAppTypes", "all"),
                ("grantControls.builtInControls", "mfa"),
                ("grantControls.operator", "OR"),
            ],
        )
        .await;
    assert_eq!(status(&page), 200, "{page:?}");
    let p = &stored(&t, POLICY_KIND).await[0];
    assert_eq!(p["displayName"], "Mallory: MFA");
    assert_eq!(p["state"], "enabled");
    assert_eq!(
        p["conditions"]["applications"]["includeApplications"],
        json!(["Office365"])
    );
    assert_eq!(
        p["conditions"]["platforms"]["includePlatforms"],
        json!(["android"]),
        "kept: {p}"
    );
    assert!(
        p["conditions"]["locations"].is_null()
            || p["conditions"]["locations"]["excludeLocations"]
                .as_array()
                .is_none_or(Vec::is_empty),
        "cleared locations: {p}"
    );
    assert_eq!(p["grantControls"]["builtInControls"], json!(["mfa"]));

    // The JSON view saved on its own wins over the form (an edit without script).
    let edit = b.get(&t.at(&format!("/admin/policies/{id}"))).await;
    let mut doc: Value = serde_json::from_str(&textarea(edit.html(), "json").unwrap()).unwrap();
    doc["displayName"] = json!("From the JSON view");
    let page = b
        .post_form(
            &format!("/admin/policies/{id}"),
            &[
                ("csrf", &csrf(edit.html())),
                ("from", "json"),
                ("json", &doc.to_string()),
                ("displayName", "Ignored"),
            ],
        )
        .await;
    assert_eq!(status(&page), 200, "{page:?}");
    assert_eq!(
        stored(&t, POLICY_KIND).await[0]["displayName"],
        "From the JSON view"
    );

    // Saving the form over a JSON view that does not parse is refused, the text kept.
    let page = b
        .post_form(
            &format!("/admin/policies/{id}"),
            &[
                ("csrf", &token),
                ("from", "form"),
                ("json", "{ \"displayName\": "),
                ("displayName", "Nope"),
            ],
        )
        .await;
    assert_eq!(status(&page), 400, "{page:?}");
    assert!(
        text(&page).contains("The JSON view is not valid JSON"),
        "{page:?}"
    );
    assert_eq!(
        stored(&t, POLICY_KIND).await[0]["displayName"],
        "From the JSON view"
    );
}

#[tokio::test]
async fn named_locations_are_edited_and_a_used_one_cannot_be_deleted() {
    let t = TestIdentity::start().await;
    let (b, _m, _) = admin(&t, "ada", &["SecurityAdministrator"]).await;
    let editor = b.get(&t.at("/admin/locations/new")).await;
    assert!(
        editor.html().contains("ipNamedLocation"),
        "a sample to start from: {editor:?}"
    );
    let token = csrf(editor.html());
    let location = json!({
        "@odata.type": "#microsoft.graph.ipNamedLocation",
        "displayName": "Branch office",
        "isTrusted": true,
        "ipRanges": [{ "@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": "198.51.100.0/24" }],
    });
    let page = b
        .post_form(
            "/admin/locations/new",
            &[("csrf", &token), ("json", &location.to_string())],
        )
        .await;
    assert_eq!(status(&page), 200, "{page:?}");
    assert!(
        text(&page).contains("Branch office") && text(&page).contains("198.51.100.0/24"),
        "{page:?}"
    );
    let mut bad = location.clone();
    bad["ipRanges"][0]["cidrAddress"] = json!("300.1.2.3/40");
    let page = b
        .post_form(
            "/admin/locations/new",
            &[("csrf", &token), ("json", &bad.to_string())],
        )
        .await;
    assert_eq!(status(&page), 400, "{page:?}");
    assert!(
        page.html().contains("<code>ipRanges[0].cidrAddress</code>"),
        "{page:?}"
    );
    let locs = stored(&t, LOCATION_KIND).await;
    assert_eq!(locs.len(), 1);
    let loc_id = locs[0]["id"].as_str().unwrap().to_string();

    // A policy that uses it, then the refused delete.
    let policy = json!({
        "displayName": "Block outside the branch",
        "state": "enabledForReportingButNotEnforced",
        "conditions": {
            "users": { "includeUsers": ["All"] },
            "applications": { "includeApplications": ["All"] },
            "locations": { "includeLocations": ["All"], "excludeLocations": [loc_id] },
        },
        "grantControls": { "operator": "OR", "builtInControls": ["block"] },
    });
    let page = create_through_editor(&b, &t, &policy.to_string()).await;
    assert_eq!(status(&page), 200, "{page:?}");
    let confirm = b
        .get(&t.at(&format!("/admin/locations/{loc_id}/delete")))
        .await;
    let page = b
        .post_form(
            &format!("/admin/locations/{loc_id}/delete"),
            &[("csrf", &csrf(confirm.html()))],
        )
        .await;
    assert_eq!(status(&page), 409, "{page:?}");
    assert!(page.html().contains("Block outside the branch"), "{page:?}");
    assert_eq!(stored(&t, LOCATION_KIND).await.len(), 1);
}

#[tokio::test]
async fn what_if_and_the_sign_in_log_show_every_policy() {
    let t = TestIdentity::start().await;
    let (b, m, _) = admin(&t, "ada", &["GlobalAdministrator"]).await;
    let mallory = mfa_user(&t, "mallory").await;
    let page = create_through_editor(
        &b,
        &t,
        &block_policy("Block mallory", &mallory.user.id.to_string()).to_string(),
    )
    .await;
    assert_eq!(status(&page), 200, "{page:?}");
    let report_only = json!({
        "displayName": "MFA for mail apps",
        "state": "enabledForReportingButNotEnforced",
        "conditions": {
            "users": { "includeUsers": ["All"] },
            "applications": { "includeApplications": ["Office365"] },
            "clientAppTypes": ["mobileAppsAndDesktopClients"],
        },
        "grantControls": { "operator": "OR", "builtInControls": ["mfa"] },
    });
    let page = create_through_editor(&b, &t, &report_only.to_string()).await;
    assert_eq!(status(&page), 200, "{page:?}");

    // What-If: mallory is blocked; the admin is not, and the block policy says why not.
    let form = b.get(&t.at("/admin/whatif")).await;
    let html = form.html();
    assert!(html.contains(MAIL_RESOURCE_APP_ID), "{html}");
    let token = csrf(html);
    let page = b
        .post_form(
            "/admin/whatif",
            &[
                ("csrf", token.as_str()),
                ("user", mallory.upn.as_str()),
                ("app", MAIL_RESOURCE_APP_ID),
                ("clientAppType", "mobileAppsAndDesktopClients"),
                ("ipAddress", "203.0.113.7"),
                ("platform", "windows"),
                ("country", ""),
            ],
        )
        .await;
    assert_eq!(status(&page), 200, "{page:?}");
    let html = page.html();
    assert!(html.contains("Blocked") && html.contains("53003"), "{html}");
    assert!(html.contains("blocked by Block mallory"), "{html}");
    assert!(
        html.contains("MFA for mail apps"),
        "report-only applies too: {html}"
    );
    let page = b
        .post_form(
            "/admin/whatif",
            &[
                ("csrf", token.as_str()),
                ("user", m.upn.as_str()),
                ("app", MAIL_RESOURCE_APP_ID),
                ("clientAppType", "browser"),
                ("mfaDone", "true"),
            ],
        )
        .await;
    let html = page.html();
    assert!(
        html.contains("Decision: <span class=\"result allow\">Allowed"),
        "{html}"
    );
    let not_applying = &html[html.find("Policies that do not apply").expect("section")..];
    assert!(not_applying.contains("Block mallory"), "{html}");
    let page = b
        .post_form(
            "/admin/whatif",
            &[("csrf", token.as_str()), ("user", "nobody@contoso.test")],
        )
        .await;
    assert_eq!(status(&page), 404, "{page:?}");
    assert!(page.html().contains("user was not found"), "{page:?}");

    // Mallory tries the mail app and is blocked; the log shows it with both policies.
    let mb = Browser::new(&t);
    let p = pkce();
    let blocked = password_pages(&mb, &mail_authorize_url(&t, &p, &[]), &mallory.upn, PW).await;
    assert!(blocked.html().contains("53003"), "{blocked:?}");
    let page = b.get(&t.at("/admin/signins")).await;
    assert_eq!(status(&page), 200, "{page:?}");
    let all = entries(page.html());
    let blocked = all
        .iter()
        .find(|e| e.contains("53003"))
        .unwrap_or_else(|| panic!("the blocked sign-in is listed: {all:?}"));
    assert!(blocked.contains("Mail desktop and mobile apps") && blocked.contains("failure"));
    assert!(
        blocked.contains("<td>Block mallory</td><td>failure</td><td>block</td>"),
        "{blocked}"
    );
    assert!(
        blocked.contains("<td>MFA for mail apps</td><td>reportOnlyInterrupted</td><td>mfa</td>"),
        "{blocked}"
    );
    assert!(
        blocked.contains("<td>password</td><td>yes</td>"),
        "steps are shown: {blocked}"
    );
    let own = all
        .iter()
        .find(|e| {
            e.contains(&format!("<span>{}</span>", m.upn)) && e.contains("authorization_code")
        })
        .unwrap_or_else(|| panic!("the admin's own sign-in is listed: {all:?}"));
    assert!(
        own.contains("<span>browser</span>") && own.contains("success"),
        "{own}"
    );

    // Filters.
    let page = b
        .get(&t.at(&format!("/admin/signins?user={}", enc(&m.upn))))
        .await;
    let listed = entries(page.html());
    assert!(!listed.is_empty());
    assert!(
        listed
            .iter()
            .all(|e| e.contains(&format!("<span>{}</span>", m.upn))),
        "{listed:?}"
    );
    assert!(
        page.html().contains(&format!("value=\"{}\"", m.upn)),
        "the filter is kept"
    );
    let page = b.get(&t.at("/admin/signins?result=failure")).await;
    let listed = entries(page.html());
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert!(listed[0].contains("53003"));
    let page = b
        .get(&t.at(&format!(
            "/admin/signins?user={}&result=failure",
            enc(&m.upn)
        )))
        .await;
    assert!(page.html().contains("No sign-in matches."), "{page:?}");
    let page = b.get(&t.at("/admin/signins?result=bogus")).await;
    assert_eq!(status(&page), 400, "{page:?}");
}

#[tokio::test]
async fn users_without_an_admin_role_get_403() {
    let t = TestIdentity::start().await;
    let plain = mfa_user(&t, "pat").await;
    let b = Browser::new(&t);
    let page = admin_sign_in(&t, &b, &plain).await;
    assert_eq!(status(&page), 403, "{page:?}");
    assert!(page.html().contains("don&#x27;t have access"), "{page:?}");
    // No session was opened: every page still answers 403 (via single sign-on).
    let page = b.get(&t.at("/admin/policies")).await;
    assert_eq!(status(&page), 403, "{page:?}");

    // An admin who loses the role is refused at the next request.
    let (b, m, _) = admin(&t, "ada", &["GlobalAdministrator"]).await;
    assert_eq!(status(&b.get(&t.at("/admin/policies")).await), 200);
    let (s, v) = admin_call(
        &t,
        "PATCH",
        &format!("/v1.0/users/{}", m.upn),
        Some(json!({"roles": []})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let page = b.get(&t.at("/admin/policies")).await;
    assert_eq!(status(&page), 403, "{page:?}");

    // A disabled admin's session is over.
    let (b, m, _) = admin(&t, "bob", &["GlobalAdministrator"]).await;
    let (s, v) = admin_call(
        &t,
        "PATCH",
        &format!("/v1.0/users/{}", m.upn),
        Some(json!({"accountEnabled": false})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let res = b.client.get(t.at("/admin/policies")).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 303);
    assert!(
        res.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/oauth2/v2.0/authorize"),
    );
}

#[tokio::test]
async fn roles_limit_what_the_pages_allow() {
    let t = TestIdentity::start().await;
    let (reader, _, _) = admin(&t, "gina", &["GlobalReader"]).await;
    let page = reader.get(&t.at("/admin/policies")).await;
    assert_eq!(status(&page), 200, "{page:?}");
    assert!(!page.html().contains("New policy"), "{page:?}");
    let token = csrf(page.html());
    let page = reader
        .post_form(
            "/admin/policies/new",
            &[
                ("csrf", &token),
                ("json", &block_policy("Nope", "All").to_string()),
            ],
        )
        .await;
    assert_eq!(status(&page), 403, "{page:?}");
    assert!(stored(&t, POLICY_KIND).await.is_empty());
    assert_eq!(status(&reader.get(&t.at("/admin/signins")).await), 200);

    let (users_admin, _, _) = admin(&t, "uma", &["UserAdministrator"]).await;
    assert_eq!(
        status(&users_admin.get(&t.at("/admin/policies")).await),
        200
    );
    let page = users_admin.get(&t.at("/admin/signins")).await;
    assert_eq!(status(&page), 403, "{page:?}");
    assert!(
        !users_admin
            .get(&t.at("/admin"))
            .await
            .html()
            .contains("/admin/signins")
    );
}

#[tokio::test]
async fn forms_without_the_sessions_csrf_token_are_refused() {
    let t = TestIdentity::start().await;
    let (b, _, landing) = admin(&t, "ada", &["GlobalAdministrator"]).await;
    let token = csrf(landing.html());
    let policy = block_policy("Via CSRF", "All").to_string();

    for form in [
        vec![("json", policy.as_str())],
        vec![("csrf", ""), ("json", policy.as_str())],
        vec![
            ("csrf", "not-the-token-not-the-token-not-the-token-xx"),
            ("json", policy.as_str()),
        ],
    ] {
        let res = b
            .client
            .post(t.at("/admin/policies/new"))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 403, "{form:?}");
        assert!(res.text().await.unwrap().contains("could not be accepted"));
    }
    // The right token from another site's page is refused too.
    let res = b
        .client
        .post(t.at("/admin/policies/new"))
        .header("origin", "https://evil.example")
        .form(&[("csrf", token.as_str()), ("json", policy.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 403);
    assert!(stored(&t, POLICY_KIND).await.is_empty(), "nothing stored");

    // What a browser says about where a post came from counts too: `Origin: null` (sent
    // for opaque origins, or under a no-referrer policy) and a cross-site or same-site
    // `Sec-Fetch-Site` are refused even with the right token.
    for (name, value) in [
        ("origin", "null"),
        ("sec-fetch-site", "cross-site"),
        ("sec-fetch-site", "same-site"),
        ("sec-fetch-site", "none"),
    ] {
        let res = b
            .client
            .post(t.at("/admin/policies/new"))
            .header(name, value)
            .form(&[("csrf", token.as_str()), ("json", policy.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 403, "{name}: {value}");
    }
    assert!(stored(&t, POLICY_KIND).await.is_empty(), "nothing stored");

    // Another admin's token does not fit this session.
    let (other, _, other_landing) = admin(&t, "bob", &["GlobalAdministrator"]).await;
    let res = other
        .client
        .post(t.at("/admin/policies/new"))
        .form(&[("csrf", token.as_str()), ("json", policy.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 403);

    // With the session's own token, from its own origin as Chromium says it (the pages
    // send `Referrer-Policy: same-origin`, so the browser keeps the real `Origin`), it works.
    let page = other.client.get(t.at("/admin")).send().await.unwrap();
    assert_eq!(page.headers()["referrer-policy"], "same-origin");
    let res = other
        .client
        .post(t.at("/admin/policies/new"))
        .header("origin", t.url.as_str())
        .header("sec-fetch-site", "same-origin")
        .header("sec-fetch-mode", "navigate")
        .form(&[
            ("csrf", csrf(other_landing.html()).as_str()),
            ("json", policy.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 303);
    let docs = stored(&t, POLICY_KIND).await;
    assert_eq!(docs.len(), 1);

    // The state toggle and delete need it as well.
    let id = docs[0]["id"].as_str().unwrap();
    for path in [
        format!("/admin/policies/{id}/state"),
        format!("/admin/policies/{id}/delete"),
    ] {
        let res = b
            .client
            .post(t.at(&path))
            .form(&[("state", "disabled")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 403, "{path}");
    }
    let docs = stored(&t, POLICY_KIND).await;
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0]["state"], "enabled");
}

#[tokio::test]
async fn conditional_access_sees_a_browser_sign_in_to_the_admin_portals() {
    let t = TestIdentity::start().await;
    let u = user_with(&t, "eve", &["GlobalAdministrator"], true).await;
    let eve = enroll(&t, u).await;
    let (s, v) = admin_call(
        &t,
        "POST",
        "/v1.0/identity/conditionalAccess/policies",
        Some(json!({
            "displayName": "No admin portals for eve",
            "state": "enabled",
            "conditions": {
                "users": { "includeUsers": [eve.user.id.to_string()] },
                "applications": { "includeApplications": ["MicrosoftAdminPortals"] },
                "clientAppTypes": ["browser"],
            },
            "grantControls": { "operator": "OR", "builtInControls": ["block"] },
        })),
    )
    .await;
    assert_eq!(s, 201, "{v}");

    // The admin center is refused by the policy ...
    let b = Browser::new(&t);
    let page = password_pages(&b, &t.at("/admin"), &eve.upn, PW).await;
    assert_eq!(status(&page), 403, "{page:?}");
    assert!(page.html().contains("53003"), "{page:?}");
    let res = b.client.get(t.at("/admin/policies")).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 303, "no session was opened");

    // ... while the same user's mail app, not an admin portal, is not: it goes on to the
    // second factor security defaults ask of an administrator.
    let p = pkce();
    let page = password_pages(
        &Browser::new(&t),
        &mail_authorize_url(&t, &p, &[]),
        &eve.upn,
        PW,
    )
    .await;
    assert_eq!(status(&page), 200, "{page:?}");
    assert!(page.html().contains("value=\"totp\""), "{page:?}");
}
