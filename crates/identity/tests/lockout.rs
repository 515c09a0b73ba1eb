//! Smart lockout over real HTTPS from two loopback "locations": distinct wrong passwords
//! from an unfamiliar address lock that address class (50053 even with the right password)
//! while the user's familiar address still signs in; a repeated wrong password does not
//! count; the sign-in log shows each step. Also the locked message on the sign-in page.

mod common;

use common::*;
use mailward_signin::policy::{MfaKeyword, MfaRule};
use mailward_testkit::reqwest;
use mailward_testkit::{Browser, TestIdentity};
use mailward_types::records::{LocationClass, SignInResult};
use std::net::IpAddr;

fn home() -> IpAddr {
    IpAddr::from([127, 0, 0, 1])
}

fn away() -> IpAddr {
    IpAddr::from([127, 0, 0, 2])
}

async fn start() -> TestIdentity {
    TestIdentity::start_with(|c| {
        c.lockout.threshold = 3;
        c.policy.require_mfa = MfaRule::Keyword(MfaKeyword::None);
    })
    .await
}

async fn ropc(
    t: &TestIdentity,
    client: &reqwest::Client,
    app: &str,
    username: &str,
    password: &str,
) -> (u16, serde_json::Value) {
    post_form(
        t,
        client,
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
async fn unfamiliar_location_locks_while_familiar_one_works() {
    let t = start().await;
    let app = public_app(&t, &["password"]).await;
    let u = user(&t, "alice").await;
    let name = u.upn.to_string();
    let at_home = t.client_from(home());
    let abroad = t.client_from(away());

    // A success from home makes 127.0.0.1 familiar.
    let (status, body) = ropc(&t, &at_home, &app, &name, PW).await;
    assert_eq!(status, 200, "{body}");

    // From 127.0.0.2: two distinct wrong passwords, then the first one again. Had the repeat
    // counted, that third failure would have locked the account.
    for pw in ["wrong one", "wrong two", "wrong one"] {
        let r = ropc(&t, &abroad, &app, &name, pw).await;
        assert_error(&r, 400, "invalid_grant", 50126);
    }
    // The third distinct wrong password is checked (50126) and locks the unfamiliar class.
    let r = ropc(&t, &abroad, &app, &name, "wrong three").await;
    assert_error(&r, 400, "invalid_grant", 50126);
    // Locked: even the right password is refused from there.
    let r = ropc(&t, &abroad, &app, &name, PW).await;
    assert_error(&r, 400, "invalid_grant", 50053);
    // Locked attempts do not reach the password check: a wrong one is also 50053.
    let r = ropc(&t, &abroad, &app, &name, "wrong six").await;
    assert_error(&r, 400, "invalid_grant", 50053);

    // Home still works.
    let (status, body) = ropc(&t, &at_home, &app, &name, PW).await;
    assert_eq!(status, 200, "{body}");

    let log = signins(&t, &name).await;
    let abroad_entries: Vec<_> = log
        .iter()
        .filter(|e| e.ip_address.as_deref() == Some("127.0.0.2"))
        .collect();
    assert_eq!(abroad_entries.len(), 6, "{abroad_entries:?}");
    let locked: Vec<_> = abroad_entries
        .iter()
        .filter(|e| e.error_code == Some(50053))
        .collect();
    assert_eq!(locked.len(), 2, "{log:?}");
    assert!(
        locked.iter().all(|e| e
            .steps
            .iter()
            .any(|s| s.method == "lockoutCheck" && !s.succeeded)),
        "{locked:?}"
    );
    let repeat = abroad_entries
        .iter()
        .filter(|e| {
            e.steps.iter().any(|s| {
                s.detail
                    .as_deref()
                    .is_some_and(|d| d.contains("not counted"))
            })
        })
        .count();
    assert_eq!(repeat, 1, "{abroad_entries:?}");
    assert!(
        abroad_entries.iter().any(|e| e.steps.iter().any(|s| s
            .detail
            .as_deref()
            .is_some_and(|d| d.contains("locked until")))),
        "{abroad_entries:?}"
    );
    let home_ok = log
        .iter()
        .filter(|e| {
            e.ip_address.as_deref() == Some("127.0.0.1") && e.result == SignInResult::Success
        })
        .count();
    assert_eq!(home_ok, 2, "{log:?}");
    assert!(
        log.iter()
            .rev()
            .find(|e| e.ip_address.as_deref() == Some("127.0.0.1"))
            .is_some_and(|first| first.location_class == Some(LocationClass::Unfamiliar)),
        "the very first sign-in came from an unfamiliar place: {log:?}"
    );
}

#[tokio::test]
async fn locked_message_on_the_sign_in_page() {
    let t = TestIdentity::start_with(|c| c.lockout.threshold = 3).await;
    let m = mfa_user(&t, "bob").await;
    let url = mail_authorize_url(&t, &pkce(), &[]);
    // A first sign-in from home (with MFA, the default rule) makes it familiar.
    let home_browser = Browser::with_client(&t, t.client_from(home()));
    let done = sign_in(&t, &home_browser, &url, &m).await;
    assert!(done.param("code").is_some(), "{done:?}");

    let b = Browser::with_client(&t, t.client_from(away()));
    let mut page = password_pages(&b, &url, &m.upn, "wrong 1").await;
    for pw in ["wrong 2", "wrong 3"] {
        assert!(
            page.html()
                .contains("Your account or password is incorrect."),
            "{page:?}"
        );
        page = b.submit(page.html(), "password", &[("password", pw)]).await;
    }
    // Locked now: the right password is refused with the lockout message.
    let page = b.submit(page.html(), "password", &[("password", PW)]).await;
    assert!(page.html().contains("temporarily locked"), "{page:?}");
    assert!(page.html().contains("MW50053"), "{page:?}");
    assert!(page.html().contains("Correlation ID"), "{page:?}");
    assert!(page.html().contains("Start again"), "{page:?}");
    assert!(page.location().is_none());
    let log = signins(&t, &m.upn).await;
    assert_eq!(log[0].error_code, Some(50053), "{log:?}");
    assert_eq!(log[0].ip_address.as_deref(), Some("127.0.0.2"));

    // From home, in a fresh browser, the password is still accepted.
    let home_again = Browser::with_client(&t, t.client_from(home()));
    let page = password_pages(&home_again, &url, &m.upn, PW).await;
    assert!(page.html().contains("value=\"totp\""), "{page:?}");
}
