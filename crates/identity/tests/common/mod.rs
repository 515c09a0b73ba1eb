//! Helpers shared by identity's integration tests: building authorization requests,
//! driving the sign-in pages through MFA, calling the token endpoint, decoding tokens and
//! reading the sign-in log. Everything goes over real HTTPS to a `TestIdentity`.

#![allow(dead_code)]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mailward_identity::directory::{NewApp, NewUser};
use mailward_testkit::reqwest;
use mailward_testkit::{Browser, DOMAIN, Landing, TestIdentity, pkce_pair};
use mailward_types::model::{User, UserSource, well_known::MAIL_CLIENT_ID};
use mailward_types::records::{SignInEvent, SignInFilter, TotpRecord};
use serde_json::Value;

/// The password every test user gets.
pub const PW: &str = "correct horse battery";
/// Loopback redirect of the first-party mail app (RFC 8252: any port).
pub const LOOPBACK: &str = "http://127.0.0.1:53000";
/// Redirect URI of the confidential web app tests register.
pub const WEB_REDIRECT: &str = "https://app.example/callback";
/// The mail resource.
pub const MAIL_RESOURCE: &str = "https://localhost:8446";
/// Scopes the mail app asks for.
pub const MAIL_SCOPE: &str =
    "openid profile offline_access https://localhost:8446/IMAP.AccessAsUser.All";

/// `application/x-www-form-urlencoded` encoding of one value.
pub fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// `local@contoso.test`.
pub fn upn(local: &str) -> String {
    format!("{local}@{DOMAIN}")
}

/// An authorization request URL.
pub fn authorize_url(
    t: &TestIdentity,
    client_id: &str,
    redirect: &str,
    scope: &str,
    extra: &[(&str, &str)],
) -> String {
    let mut url = format!(
        "{}/oauth2/v2.0/authorize?client_id={}&response_type=code&redirect_uri={}&scope={}",
        t.url,
        enc(client_id),
        enc(redirect),
        enc(scope)
    );
    for (k, v) in extra {
        url.push('&');
        url.push_str(k);
        url.push('=');
        url.push_str(&enc(v));
    }
    url
}

/// A PKCE pair.
#[derive(Debug, Clone)]
pub struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

pub fn pkce() -> Pkce {
    let (verifier, challenge) = pkce_pair();
    Pkce {
        verifier,
        challenge,
    }
}

/// The mail app's authorization request with PKCE, state `st` and nonce `n1`.
pub fn mail_authorize_url(t: &TestIdentity, p: &Pkce, extra: &[(&str, &str)]) -> String {
    let mut all: Vec<(&str, &str)> = vec![
        ("code_challenge", p.challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("state", "st"),
        ("nonce", "n1"),
    ];
    all.extend_from_slice(extra);
    authorize_url(t, MAIL_CLIENT_ID, LOOPBACK, MAIL_SCOPE, &all)
}

/// A user with a registered authenticator app and recovery codes.
#[derive(Debug, Clone)]
pub struct MfaUser {
    pub user: User,
    pub upn: String,
    pub secret: Vec<u8>,
    pub recovery: Vec<String>,
}

/// Creates a user with password [`PW`].
pub async fn user(t: &TestIdentity, local: &str) -> User {
    t.add_user(local, PW).await
}

/// Creates a user through the directory with extra settings.
pub async fn user_with(t: &TestIdentity, local: &str, roles: &[&str], enabled: bool) -> User {
    mailward_identity::directory_for(&t.ctx)
        .add_user(
            NewUser {
                user_principal_name: upn(local),
                display_name: Some(local.to_string()),
                mail: None,
                password: Some(PW.to_string().into()),
                roles: roles.iter().map(|r| r.to_string()).collect(),
                account_enabled: Some(enabled),
                on_premises_immutable_id: None,
            },
            UserSource::Cloud,
            mailward_types::clock::now(),
        )
        .await
        .unwrap_or_else(|e| panic!("add user: {e}"))
}

/// Registers an authenticator app (confirmed, no step used yet) and recovery codes for
/// `user` through identity's own MFA code, as the registration page would have.
pub async fn enroll(t: &TestIdentity, user: User) -> MfaUser {
    let secret = mailward_mfa::totp::generate_secret().into_exposed();
    t.ctx
        .store()
        .put_totp(&TotpRecord {
            user_id: user.id,
            sealed_secret: t.ctx.sealer().seal(&secret),
            confirmed: true,
            last_step: None,
            created_at: mailward_types::clock::now(),
        })
        .await
        .unwrap_or_else(|e| panic!("put_totp: {e}"));
    let recovery = mailward_identity::mfa_methods::new_recovery_codes(&t.ctx, user.id)
        .await
        .unwrap_or_else(|e| panic!("recovery codes: {e}"));
    MfaUser {
        upn: user.upn.to_string(),
        user,
        secret,
        recovery,
    }
}

/// Creates and enrolls a user.
pub async fn mfa_user(t: &TestIdentity, local: &str) -> MfaUser {
    let u = user(t, local).await;
    enroll(t, u).await
}

/// A TOTP code the server will accept now: the step after the last one used (within the
/// ±1 step window). When the last used step is already ahead of the clock, the record's
/// step is moved back, simulating the passing of time.
pub async fn fresh_totp(t: &TestIdentity, m: &MfaUser) -> String {
    let now = mailward_types::clock::now().unix_timestamp();
    let current = now / 30;
    let mut rec = t
        .ctx
        .store()
        .totp(m.user.id)
        .await
        .unwrap_or_else(|e| panic!("totp: {e}"))
        .unwrap_or_else(|| panic!("{} has no TOTP registered", m.upn));
    let step = match rec.last_step {
        None => current,
        Some(last) if last < current => current,
        Some(last) if last < current + 1 => last + 1,
        Some(_) => {
            rec.last_step = Some(current - 1);
            t.ctx
                .store()
                .put_totp(&rec)
                .await
                .unwrap_or_else(|e| panic!("put_totp: {e}"));
            current
        }
    };
    mailward_mfa::totp::code_at(&m.secret, step * 30)
}

/// Username and password pages; returns where the password page led.
pub async fn password_pages(b: &Browser, url: &str, username: &str, password: &str) -> Landing {
    let page = b.get(url).await;
    assert!(
        page.html().contains("name=\"username\""),
        "no username page: {page:?}"
    );
    let page = b
        .submit(page.html(), "identify", &[("username", username)])
        .await;
    assert!(
        page.html().contains("name=\"password\""),
        "no password page: {page:?}"
    );
    b.submit(page.html(), "password", &[("password", password)])
        .await
}

/// Signs in through the pages with password and TOTP; returns the final landing.
pub async fn sign_in(t: &TestIdentity, b: &Browser, url: &str, m: &MfaUser) -> Landing {
    let page = password_pages(b, url, &m.upn, PW).await;
    assert!(
        page.html().contains("name=\"action\" value=\"totp\""),
        "no TOTP page: {page:?}"
    );
    let code = fresh_totp(t, m).await;
    b.submit(page.html(), "totp", &[("code", &code)]).await
}

/// Signs in with the mail app and returns the authorization code.
pub async fn mail_code(t: &TestIdentity, b: &Browser, p: &Pkce, m: &MfaUser) -> String {
    let done = sign_in(t, b, &mail_authorize_url(t, p, &[]), m).await;
    assert_eq!(done.param("state").as_deref(), Some("st"), "{done:?}");
    done.param("code")
        .unwrap_or_else(|| panic!("no code: {done:?}"))
}

/// Redeems a mail app code.
pub async fn redeem_mail_code(t: &TestIdentity, code: &str, p: &Pkce) -> (u16, Value) {
    token(
        t,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", MAIL_CLIENT_ID),
            ("code", code),
            ("redirect_uri", LOOPBACK),
            ("code_verifier", &p.verifier),
        ],
    )
    .await
}

/// The whole mail app sign-in: pages, MFA, code redemption. Returns the token response.
pub async fn mail_tokens(t: &TestIdentity, m: &MfaUser) -> Value {
    let b = Browser::new(t);
    let p = pkce();
    let code = mail_code(t, &b, &p, m).await;
    let (status, body) = redeem_mail_code(t, &code, &p).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// POSTs a form to the token endpoint.
pub async fn token(t: &TestIdentity, form: &[(&str, &str)]) -> (u16, Value) {
    post_form(t, &t.client(), "/oauth2/v2.0/token", form, None).await
}

/// POSTs a form to identity, optionally with HTTP Basic client authentication.
pub async fn post_form(
    t: &TestIdentity,
    client: &reqwest::Client,
    path: &str,
    form: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> (u16, Value) {
    let mut req = client.post(t.at(path)).form(form);
    if let Some((id, secret)) = basic {
        req = req.basic_auth(enc(id), Some(enc(secret)));
    }
    let res = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {path}: {e}"));
    let status = res.status().as_u16();
    let text = res.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// POSTs a raw body (for bodies `form()` cannot express, e.g. duplicate keys).
pub async fn post_raw(t: &TestIdentity, path: &str, body: &str) -> (u16, Value) {
    let res = t
        .client()
        .post(t.at(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_string())
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {path}: {e}"));
    let status = res.status().as_u16();
    let text = res.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// The first numeric code of an error response.
pub fn code_of(v: &Value) -> u64 {
    v["error_codes"][0]
        .as_u64()
        .unwrap_or_else(|| panic!("no error code in {v}"))
}

/// Asserts an OAuth error response.
#[track_caller]
pub fn assert_error(resp: &(u16, Value), status: u16, error: &str, code: u64) {
    let (s, v) = resp;
    assert_eq!(*s, status, "{v}");
    assert_eq!(v["error"], error, "{v}");
    assert_eq!(code_of(v), code, "{v}");
}

/// Registers a confidential app; returns (client_id, secret).
pub async fn confidential_app(
    t: &TestIdentity,
    grants: Option<&[&str]>,
    roles: &[&str],
) -> (String, String) {
    let created = t
        .add_app(NewApp {
            display_name: "Web app".into(),
            kind: "confidential".into(),
            redirect_uris: vec![WEB_REDIRECT.into()],
            grants: grants.map(|g| g.iter().map(|s| s.to_string()).collect()),
            app_roles: roles.iter().map(|s| s.to_string()).collect(),
            post_logout_redirect_uris: vec!["https://app.example/signed-out".into()],
        })
        .await;
    (
        created.application.app_id,
        created
            .client_secret
            .expect("confidential apps get a secret"),
    )
}

/// Registers a public app with the given grants; returns its client id.
pub async fn public_app(t: &TestIdentity, grants: &[&str]) -> String {
    t.add_app(NewApp {
        display_name: "Native app".into(),
        kind: "public".into(),
        redirect_uris: vec!["http://localhost".into()],
        grants: Some(grants.iter().map(|s| s.to_string()).collect()),
        app_roles: vec![],
        post_logout_redirect_uris: vec![],
    })
    .await
    .application
    .app_id
}

/// Decodes a JWT's header and payload without verifying it.
pub fn jwt(token: &str) -> (Value, Value) {
    let mut parts = token.split('.');
    let mut next = || {
        let part = parts.next().unwrap_or_else(|| panic!("not a JWT: {token}"));
        let raw = URL_SAFE_NO_PAD
            .decode(part)
            .unwrap_or_else(|e| panic!("base64 {e}: {token}"));
        serde_json::from_slice::<Value>(&raw).unwrap_or_else(|e| panic!("JSON {e}: {token}"))
    };
    let h = next();
    let p = next();
    (h, p)
}

/// base64url without padding.
pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The published JWKS.
pub async fn jwks(t: &TestIdentity) -> Value {
    t.client()
        .get(t.at("/discovery/v2.0/keys"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("JWKS: {e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("JWKS: {e}"))
}

/// Sign-in log entries for a user (newest first), after flushing the queue.
pub async fn signins(t: &TestIdentity, upn: &str) -> Vec<SignInEvent> {
    t.flush_log().await;
    t.ctx
        .store()
        .signins(&SignInFilter {
            user: Some(upn.to_string()),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("signins: {e}"))
}

/// Reverses the HTML escaping of attribute values in rendered pages.
pub fn unescape(s: &str) -> String {
    s.replace("&#x2f;", "/")
        .replace("&#x27;", "'")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The hidden inputs of a page, unescaped.
pub fn hidden_fields(html: &str) -> Vec<(String, String)> {
    let mut out = vec![];
    let mut rest = html;
    while let Some(i) = rest.find("type=\"hidden\" name=\"") {
        rest = &rest[i + "type=\"hidden\" name=\"".len()..];
        let Some(end) = rest.find('"') else { break };
        let name = unescape(&rest[..end]);
        rest = &rest[end..];
        let Some(v) = rest.find("value=\"") else {
            break;
        };
        rest = &rest[v + "value=\"".len()..];
        let Some(end) = rest.find('"') else { break };
        out.push((name, unescape(&rest[..end])));
        rest = &rest[end..];
    }
    out
}

/// A session cookie present in the browser? Tells by asking for SSO with `prompt=none`.
pub async fn has_sso(t: &TestIdentity, b: &Browser) -> bool {
    let p = pkce();
    let l = b
        .get(&mail_authorize_url(t, &p, &[("prompt", "none")]))
        .await;
    l.param("code").is_some()
}

/// A response's status and JSON body (the text as a JSON string when it is not JSON).
pub async fn json_of(res: reqwest::Response) -> (u16, Value) {
    let status = res.status().as_u16();
    let text = res.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Runs `test` with the URL of a fresh PostgreSQL schema (`MAILWARD_TEST_POSTGRES_URL`, by
/// default the local server's `test` database), dropped afterwards even when the test
/// panics. An unreachable server fails the test: PostgreSQL is a required peer.
pub async fn with_pg_schema<F, Fut>(test: F)
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    use sqlx::Connection;
    let base = std::env::var("MAILWARD_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let mut admin = match sqlx::PgConnection::connect(&base).await {
        Ok(c) => c,
        Err(e) => panic!(
            "PostgreSQL is unreachable at {base} ({e}); this test needs a server \
             (set MAILWARD_TEST_POSTGRES_URL to use another one)"
        ),
    };
    let schema = format!("mw_test_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&mut admin)
        .await
        .expect("create the test schema");
    let sep = if base.contains('?') { '&' } else { '?' };
    let run = tokio::spawn(test(format!("{base}{sep}options[search_path]={schema}"))).await;
    // Background writers of the finished test (a sign-in log batch written as its last
    // sender goes away) may still hold locks in the schema: a deadlock with the drop is
    // retried, anything else fails.
    let mut attempt = 0;
    loop {
        match sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
            .execute(&mut admin)
            .await
        {
            Ok(_) => break,
            Err(sqlx::Error::Database(e))
                if e.code().as_deref() == Some("40P01") && attempt < 10 =>
            {
                attempt += 1;
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(e) => panic!("drop the test schema: {e:?}"),
        }
    }
    if let Err(e) = run {
        std::panic::resume_unwind(e.into_panic());
    }
}
