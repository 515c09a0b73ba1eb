//! The guards an anonymous client meets before any password is right: unknown, disabled
//! and locked accounts answered exactly like a wrong password (page, password grant,
//! relayed basic auth); attempt limits on device user codes per address and per code
//! (parallel bursts); rate limits on sign-in flows, device authorization requests and
//! failed sign-in log rows per address (HTTP 429); and `X-Forwarded-For` entries that do
//! not parse ending the walk behind a trusted proxy.

mod common;

use common::*;
use mailward_identity::IdentityConfig;
use mailward_signin::policy::{MfaKeyword, MfaRule};
use mailward_testkit::{Browser, Landing, TestIdentity};
use mailward_types::model::well_known::{LEGACY_RELAY_ROLE, MAIL_CLIENT_ID};
use mailward_types::records::LocationClass;
use serde_json::{Value, json};
use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use tokio::sync::Barrier;

fn no_mfa(c: &mut IdentityConfig) {
    c.lockout.threshold = 2;
    c.policy.require_mfa = MfaRule::Keyword(MfaKeyword::None);
}

fn from(last: u8) -> IpAddr {
    IpAddr::from([127, 0, 0, last])
}

/// Runs `n` requests at once behind one barrier.
async fn burst<F, Fut, T>(n: usize, make: F) -> Vec<T>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let barrier = Arc::new(Barrier::new(n));
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let request = make(i);
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                request.await
            })
        })
        .collect();
    let mut out = Vec::with_capacity(n);
    for t in tasks {
        out.push(t.await.unwrap_or_else(|e| panic!("burst task: {e}")));
    }
    out
}

/// The parts of an OAuth error body that do not vary per request.
fn stable(body: &Value) -> Value {
    let description = body["error_description"]
        .as_str()
        .unwrap_or_default()
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    json!({ "error": body["error"], "error_codes": body["error_codes"], "description": description })
}

/// Four accounts that must look alike until a password verifies: a wrong password on a
/// normal account, an unknown name, a disabled account (wrong password), and a locked
/// account (even with its right password).
struct Cast {
    normal: String,
    unknown: String,
    disabled: String,
    locked: String,
}

async fn cast(t: &TestIdentity, app: &str) -> Cast {
    let normal = user(t, "normal").await.upn.to_string();
    let disabled = user_with(t, "disabled", &[], false).await.upn.to_string();
    let locked = user(t, "locked").await.upn.to_string();
    for pw in ["wrong 1", "wrong 2"] {
        let r = ropc(t, app, &locked, pw).await;
        assert_error(&r, 400, "invalid_grant", 50126);
    }
    Cast {
        normal,
        unknown: upn("nobody"),
        disabled,
        locked,
    }
}

async fn ropc(t: &TestIdentity, app: &str, username: &str, password: &str) -> (u16, Value) {
    post_form(
        t,
        &t.client(),
        "/oauth2/v2.0/token",
        &[
            ("grant_type", "password"),
            ("client_id", app),
            ("username", username),
            ("password", password),
        ],
        None,
    )
    .await
}

#[tokio::test]
async fn unknown_disabled_and_locked_look_like_a_wrong_password() {
    let t = TestIdentity::start_with(no_mfa).await;
    let app = public_app(&t, &["password"]).await;
    let c = cast(&t, &app).await;

    // The password grant.
    let wrong = ropc(&t, &app, &c.normal, "wrong").await;
    assert_error(&wrong, 400, "invalid_grant", 50126);
    let before = t.ctx.passwords().verified();
    for (name, pw) in [
        (&c.unknown, "wrong"),
        (&c.disabled, "wrong"),
        (&c.locked, PW),
    ] {
        let r = ropc(&t, &app, name, pw).await;
        assert_eq!(r.0, wrong.0, "{name}: {}", r.1);
        assert_eq!(stable(&r.1), stable(&wrong.1), "{name}");
    }
    // The disabled account's password was checked (same work as any account); the locked
    // one's was not.
    assert_eq!(t.ctx.passwords().verified() - before, 1);
    // Only the right password tells a disabled account what it is.
    let r = ropc(&t, &app, &c.disabled, PW).await;
    assert_error(&r, 400, "invalid_grant", 50057);
    // The log tells the administrator what happened.
    assert_eq!(signins(&t, &c.locked).await[0].error_code, Some(50053));
    assert_eq!(signins(&t, &c.disabled).await[1].error_code, Some(50126));

    // Relayed basic auth.
    let relay = confidential_app(&t, Some(&["client_credentials"]), &[LEGACY_RELAY_ROLE]).await;
    let relayed = |name: String, pw: &'static str| {
        let client = t.client();
        let url = t.at("/legacy/v1/authenticate");
        let relay = relay.clone();
        async move {
            let res = client
                .post(url)
                .basic_auth(&relay.0, Some(&relay.1))
                .json(&json!({ "username": name, "password": pw, "protocol": "IMAP4", "client_ip": "198.51.100.9" }))
                .send()
                .await
                .expect("relay");
            let status = res.status().as_u16();
            let mut body: Value = res.json().await.expect("json");
            body.as_object_mut().map(|o| o.remove("correlation_id"));
            (status, body)
        }
    };
    let wrong = relayed(c.normal.clone(), "wrong").await;
    assert_eq!(wrong.1["error_codes"], json!([50126]), "{}", wrong.1);
    for (name, pw) in [
        (&c.unknown, "wrong"),
        (&c.disabled, "wrong"),
        (&c.locked, PW),
    ] {
        assert_eq!(relayed(name.clone(), pw).await, wrong, "{name}");
    }

    // The sign-in page: the same page and message at the password step.
    let page_for = |name: String, pw: &'static str| {
        let b = Browser::new(&t);
        let url = mail_authorize_url(&t, &pkce(), &[]);
        async move { password_pages(&b, &url, &name, pw).await }
    };
    let wrong = page_for(c.normal.clone(), "wrong").await;
    for (name, pw) in [
        (&c.unknown, "wrong"),
        (&c.disabled, "wrong"),
        (&c.locked, PW),
    ] {
        let page = page_for(name.clone(), pw).await;
        let (
            Landing::Page {
                status: s1,
                html: h1,
            },
            Landing::Page {
                status: s2,
                html: h2,
            },
        ) = (&wrong, &page)
        else {
            panic!("{page:?}")
        };
        assert_eq!(s1, s2);
        assert!(
            h2.contains("Your account or password is incorrect."),
            "{name}: {h2}"
        );
        // Identical but for the flow id and the name shown.
        let scrub = |h: &str, n: &str| {
            let flow = mailward_testkit::pages::flow_id(h).unwrap_or_default();
            h.replace(&flow, "FLOW").replace(n, "NAME")
        };
        assert_eq!(scrub(h1, &c.normal), scrub(h2, name), "{name}");
    }
}

// ---- device user codes ----

async fn device_authorization(
    t: &TestIdentity,
    client: &mailward_testkit::reqwest::Client,
) -> (u16, Value) {
    post_form(
        t,
        client,
        "/oauth2/v2.0/devicecode",
        &[("client_id", MAIL_CLIENT_ID), ("scope", MAIL_SCOPE)],
        None,
    )
    .await
}

async fn enter_code(b: Browser, code: String) -> Landing {
    b.post_form("/devicelogin", &[("user_code", &code)]).await
}

fn status(l: &Landing) -> u16 {
    match l {
        Landing::Page { status, .. } => *status,
        Landing::Redirect(_) => 302,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn user_codes_are_limited_per_address() {
    let t = TestIdentity::start_with(|c| c.limits.user_code_attempts = 5).await;
    let guesses = burst(20, |i| {
        let b = Browser::with_client(&t, t.client_from(from(2)));
        enter_code(
            b,
            format!("BCDF-GH{:02}", i % 100).replace(|c: char| c.is_ascii_digit(), "K"),
        )
    })
    .await;
    let refused: Vec<_> = guesses.iter().filter(|l| status(l) == 429).collect();
    let tried: Vec<_> = guesses.iter().filter(|l| status(l) == 400).collect();
    assert_eq!(tried.len(), 5, "{guesses:?}");
    assert_eq!(refused.len(), 15, "{guesses:?}");
    assert!(refused[0].html().contains("Too many codes"), "{refused:?}");
    // Even the right code is refused from that address for the rest of the window...
    let (s, body) = device_authorization(&t, &t.client()).await;
    assert_eq!(s, 200, "{body}");
    let code = body["user_code"].as_str().expect("user_code").to_string();
    let b = Browser::with_client(&t, t.client_from(from(2)));
    assert_eq!(status(&enter_code(b, code.clone()).await), 429);
    // ...while another address may enter it.
    let b = Browser::with_client(&t, t.client_from(from(3)));
    let page = enter_code(b, code).await;
    assert!(page.html().contains("name=\"username\""), "{page:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_user_code_is_accepted_a_bounded_number_of_times() {
    let t = TestIdentity::start_with(|c| {
        c.limits.user_code_submissions = 3;
        c.limits.user_code_attempts = 1000;
    })
    .await;
    let (s, body) = device_authorization(&t, &t.client()).await;
    assert_eq!(s, 200, "{body}");
    let code = body["user_code"].as_str().expect("user_code").to_string();
    let entries = burst(12, |i| {
        let b = Browser::with_client(&t, t.client_from(from(10 + i as u8)));
        enter_code(b, code.clone())
    })
    .await;
    let accepted = entries
        .iter()
        .filter(|l| l.html().contains("name=\"username\""))
        .count();
    let refused: Vec<_> = entries.iter().filter(|l| status(l) == 429).collect();
    assert_eq!(accepted, 3, "{entries:?}");
    assert_eq!(refused.len(), 9, "{entries:?}");
    assert!(
        refused[0].html().contains("entered too many times"),
        "{refused:?}"
    );
}

// ---- rate limits on anonymous writes ----

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sign_in_flows_are_limited_per_address() {
    let t = TestIdentity::start_with(|c| c.limits.signin_flows = 5).await;
    let url = mail_authorize_url(&t, &pkce(), &[]);
    let starts = burst(12, |_| {
        let client = t.client_from(from(2));
        let url = url.clone();
        async move {
            let res = client.get(url).send().await.expect("authorize");
            (res.status().as_u16(), res.text().await.unwrap_or_default())
        }
    })
    .await;
    let started = starts
        .iter()
        .filter(|(s, _)| *s == 303 || *s == 302)
        .count();
    let refused: Vec<_> = starts.iter().filter(|(s, _)| *s == 429).collect();
    assert_eq!(started, 5, "{starts:?}");
    assert_eq!(refused.len(), 7, "{starts:?}");
    assert!(refused[0].1.contains("MW90055"), "{}", refused[0].1);
    // Another address is not affected.
    let page = Browser::with_client(&t, t.client_from(from(3)))
        .get(&url)
        .await;
    assert!(page.html().contains("name=\"username\""), "{page:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn device_authorizations_are_limited_per_address() {
    let t = TestIdentity::start_with(|c| c.limits.device_codes = 3).await;
    let answers = burst(8, |_| {
        let client = t.client_from(from(2));
        let url = t.at("/oauth2/v2.0/devicecode");
        async move {
            let res = client
                .post(url)
                .form(&[("client_id", MAIL_CLIENT_ID), ("scope", MAIL_SCOPE)])
                .send()
                .await
                .expect("devicecode");
            let status = res.status().as_u16();
            (status, res.json::<Value>().await.unwrap_or(Value::Null))
        }
    })
    .await;
    assert_eq!(
        answers.iter().filter(|(s, _)| *s == 200).count(),
        3,
        "{answers:?}"
    );
    let refused: Vec<_> = answers.iter().filter(|(s, _)| *s == 429).collect();
    assert_eq!(refused.len(), 5, "{answers:?}");
    assert_error(refused[0], 429, "temporarily_unavailable", 90055);
    let (s, body) = device_authorization(&t, &t.client_from(from(3))).await;
    assert_eq!(s, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failed_sign_ins_logged_per_address_are_bounded() {
    let t = TestIdentity::start_with(|c| {
        no_mfa(c);
        c.limits.signin_log_failures = 3;
    })
    .await;
    let app = public_app(&t, &["password"]).await;
    let nobody = upn("nobody");
    for i in 0..8 {
        let r = post_form(
            &t,
            &t.client_from(from(2)),
            "/oauth2/v2.0/token",
            &[
                ("grant_type", "password"),
                ("client_id", &app),
                ("username", &nobody),
                ("password", &format!("guess {i}")),
            ],
            None,
        )
        .await;
        // The answer does not change; only the log stops growing.
        assert_error(&r, 400, "invalid_grant", 50126);
    }
    let log = signins(&t, &nobody).await;
    assert_eq!(log.len(), 3, "{log:?}");
    // Another address is logged, and successes always are.
    let r = post_form(
        &t,
        &t.client_from(from(3)),
        "/oauth2/v2.0/token",
        &[
            ("grant_type", "password"),
            ("client_id", &app),
            ("username", &nobody),
            ("password", "guess"),
        ],
        None,
    )
    .await;
    assert_error(&r, 400, "invalid_grant", 50126);
    assert_eq!(signins(&t, &nobody).await.len(), 4);
    let alice = user(&t, "alice").await;
    for _ in 0..5 {
        let r = post_form(
            &t,
            &t.client_from(from(2)),
            "/oauth2/v2.0/token",
            &[
                ("grant_type", "password"),
                ("client_id", &app),
                ("username", alice.upn.as_str()),
                ("password", PW),
            ],
            None,
        )
        .await;
        assert_eq!(r.0, 200, "{}", r.1);
    }
    assert_eq!(signins(&t, alice.upn.as_str()).await.len(), 5);
}

// ---- X-Forwarded-For ----

/// Behind a trusted proxy that appends `ip:port`, a client that puts a victim's familiar
/// address in front of it must not be taken for that address.
#[tokio::test]
async fn forwarded_for_entry_that_does_not_parse_ends_the_walk() {
    let t = TestIdentity::start_with(|c| {
        no_mfa(c);
        c.trusted_proxies = vec!["127.0.0.0/8".parse().expect("cidr")];
    })
    .await;
    let app = public_app(&t, &["password"]).await;
    let u = user(&t, "victim").await;
    let name = u.upn.to_string();
    let sign_in = |xff: &'static str, pw: &'static str| {
        let client = t.client();
        let url = t.at("/oauth2/v2.0/token");
        let app = app.clone();
        let name = name.clone();
        async move {
            let res = client
                .post(url)
                .header("x-forwarded-for", xff)
                .form(&[
                    ("grant_type", "password"),
                    ("client_id", app.as_str()),
                    ("username", name.as_str()),
                    ("password", pw),
                ])
                .send()
                .await
                .expect("token");
            res.status().as_u16()
        }
    };
    // The victim signs in from 198.51.100.7 (the proxy appended `ip:port`): familiar now.
    assert_eq!(sign_in("198.51.100.7:40000", PW).await, 200);
    let log = signins(&t, &name).await;
    assert_eq!(
        log[0].ip_address.as_deref(),
        Some("198.51.100.7"),
        "{log:?}"
    );
    // An attacker claims the victim's address in front of what the proxy appended.
    assert_eq!(sign_in("198.51.100.7, garbage:port", "wrong").await, 400);
    let log = signins(&t, &name).await;
    assert_eq!(log[0].ip_address, None, "{log:?}");
    assert!(
        log[0].steps.iter().any(|s| s
            .detail
            .as_deref()
            .is_some_and(|d| d.contains("unfamiliar locations"))),
        "{log:?}"
    );
    // And the victim's familiar address still signs in.
    assert_eq!(sign_in("198.51.100.7:40001", PW).await, 200);
    let log = signins(&t, &name).await;
    assert_eq!(
        log[0].location_class,
        Some(LocationClass::Familiar),
        "{log:?}"
    );
}
