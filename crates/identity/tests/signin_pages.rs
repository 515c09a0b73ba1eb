//! The sign-in pages' error paths over real HTTPS: wrong password and unknown user (same
//! answer, 50126, logged), disabled user (50057), wrong and replayed TOTP codes, single-use
//! recovery codes, the limit on wrong second-factor attempts, and TOTP registration on
//! first need.

mod common;

use common::*;
use mailward_testkit::{Browser, Landing, TestIdentity, pages, totp_now};
use mailward_types::records::SignInResult;

const WRONG_PASSWORD_MSG: &str = "Your account or password is incorrect.";

#[tokio::test]
async fn wrong_password_shows_an_error_and_is_logged() {
    let t = TestIdentity::start().await;
    let m = mfa_user(&t, "alice").await;
    let b = Browser::new(&t);
    let page = password_pages(
        &b,
        &mail_authorize_url(&t, &pkce(), &[]),
        &m.upn,
        "not the password",
    )
    .await;
    let Landing::Page { status, html } = &page else {
        panic!("{page:?}")
    };
    assert_eq!(*status, 200);
    assert!(html.contains(WRONG_PASSWORD_MSG), "{html}");
    assert!(
        html.contains("name=\"password\""),
        "the password page is shown again: {html}"
    );
    // The same page accepts the right password afterwards.
    let page = b.submit(page.html(), "password", &[("password", PW)]).await;
    assert!(page.html().contains("value=\"totp\""), "{page:?}");

    let log = signins(&t, &m.upn).await;
    let failure = log
        .iter()
        .find(|e| e.result == SignInResult::Failure)
        .expect("a failure entry");
    assert_eq!(failure.error_code, Some(50126));
    assert_eq!(failure.user_id, Some(m.user.id));
    assert_eq!(failure.flow, "interactive");
    assert!(
        failure
            .steps
            .iter()
            .any(|s| s.method == "password" && !s.succeeded),
        "{failure:?}"
    );
}

#[tokio::test]
async fn unknown_user_gets_the_same_answer() {
    let t = TestIdentity::start().await;
    let b = Browser::new(&t);
    let nobody = upn("nobody");
    let page = password_pages(
        &b,
        &mail_authorize_url(&t, &pkce(), &[]),
        &nobody,
        "whatever password",
    )
    .await;
    assert!(page.html().contains(WRONG_PASSWORD_MSG), "{page:?}");
    let log = signins(&t, &nobody).await;
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0].error_code, Some(50126));
    assert_eq!(log[0].user_id, None);
    assert_eq!(log[0].user_principal_name.as_deref(), Some(nobody.as_str()));
}

/// A disabled account looks like any other until its password verified: the name leads
/// to the password page, a wrong password is "incorrect", and only the right one is told
/// that the account is disabled.
#[tokio::test]
async fn disabled_user_is_refused_after_the_password() {
    let t = TestIdentity::start().await;
    let u = user_with(&t, "disabled", &[], false).await;
    let b = Browser::new(&t);
    let page = password_pages(
        &b,
        &mail_authorize_url(&t, &pkce(), &[]),
        u.upn.as_str(),
        "wrong pw",
    )
    .await;
    assert!(
        page.html()
            .contains("Your account or password is incorrect."),
        "{page:?}"
    );
    assert!(!page.html().contains("has been disabled"), "{page:?}");
    let page = b.submit(page.html(), "password", &[("password", PW)]).await;
    assert!(
        page.html().contains("Your account has been disabled."),
        "{page:?}"
    );
    assert!(page.location().is_none(), "{page:?}");
    let log = signins(&t, u.upn.as_str()).await;
    assert_eq!(log[0].error_code, Some(50057), "{log:?}");
    assert_eq!(log[1].error_code, Some(50126), "{log:?}");
}

#[tokio::test]
async fn wrong_totp_code_is_refused_then_the_right_one_works() {
    let t = TestIdentity::start().await;
    let m = mfa_user(&t, "bob").await;
    let b = Browser::new(&t);
    let page = password_pages(&b, &mail_authorize_url(&t, &pkce(), &[]), &m.upn, PW).await;
    let right = fresh_totp(&t, &m).await;
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    let page = b.submit(page.html(), "totp", &[("code", wrong)]).await;
    assert!(
        page.html().contains("That code didn&#x27;t work")
            || page.html().contains("That code didn't work"),
        "{page:?}"
    );
    let done = b.submit(page.html(), "totp", &[("code", &right)]).await;
    assert!(done.param("code").is_some(), "{done:?}");
    let log = signins(&t, &m.upn).await;
    assert!(
        log.iter().any(|e| e.result == SignInResult::Failure
            && e.steps.iter().any(|s| s.method == "totp" && !s.succeeded)),
        "{log:?}"
    );
    assert!(log.iter().any(|e| e.result == SignInResult::Success && e.amr.iter().any(|a| a.as_str() == "mfa")), "{log:?}");
}

#[tokio::test]
async fn replayed_totp_code_is_refused() {
    let t = TestIdentity::start().await;
    let m = mfa_user(&t, "carol").await;
    let code = fresh_totp(&t, &m).await;

    let first = Browser::new(&t);
    let page = password_pages(&first, &mail_authorize_url(&t, &pkce(), &[]), &m.upn, PW).await;
    let done = first.submit(page.html(), "totp", &[("code", &code)]).await;
    assert!(done.param("code").is_some(), "{done:?}");

    // The same code in another browser, at once: refused as a replay.
    let second = Browser::new(&t);
    let page = password_pages(&second, &mail_authorize_url(&t, &pkce(), &[]), &m.upn, PW).await;
    let page = second.submit(page.html(), "totp", &[("code", &code)]).await;
    assert!(
        page.location().is_none(),
        "a replayed code signed in: {page:?}"
    );
    assert!(page.html().contains("value=\"totp\""), "{page:?}");
    // The next step's code is accepted.
    let next = fresh_totp(&t, &m).await;
    assert_ne!(next, code);
    let done = second.submit(page.html(), "totp", &[("code", &next)]).await;
    assert!(done.param("code").is_some(), "{done:?}");
}

#[tokio::test]
async fn recovery_code_works_once() {
    let t = TestIdentity::start().await;
    let m = mfa_user(&t, "dave").await;
    let rc = m.recovery[0].clone();

    let b = Browser::new(&t);
    let url = mail_authorize_url(&t, &pkce(), &[]);
    let page = password_pages(&b, &url, &m.upn, PW).await;
    assert!(
        page.html().contains("method=recovery"),
        "recovery offered: {page:?}"
    );
    let done = b.submit(page.html(), "recovery", &[("code", &rc)]).await;
    assert!(done.param("code").is_some(), "{done:?}");

    let b2 = Browser::new(&t);
    let page = password_pages(&b2, &url, &m.upn, PW).await;
    let page = b2.submit(page.html(), "recovery", &[("code", &rc)]).await;
    assert!(
        page.location().is_none(),
        "a used recovery code signed in again: {page:?}"
    );
    assert!(page.html().contains("already used"), "{page:?}");
    // Another unused code still works.
    let done = b2
        .submit(page.html(), "recovery", &[("code", &m.recovery[1])])
        .await;
    assert!(done.param("code").is_some(), "{done:?}");
    assert_eq!(
        t.ctx
            .store()
            .unused_recovery_codes(m.user.id)
            .await
            .unwrap(),
        8
    );
}

#[tokio::test]
async fn too_many_wrong_second_factor_attempts_end_the_flow() {
    let t = TestIdentity::start().await;
    let m = mfa_user(&t, "erin").await;
    let b = Browser::new(&t);
    let mut page = password_pages(&b, &mail_authorize_url(&t, &pkce(), &[]), &m.upn, PW).await;
    let html = page.html().to_string();
    let right = fresh_totp(&t, &m).await;
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    for _ in 0..4 {
        page = b.submit(page.html(), "totp", &[("code", wrong)]).await;
        assert!(page.html().contains("value=\"totp\""), "{page:?}");
    }
    let last = b.submit(page.html(), "totp", &[("code", wrong)]).await;
    let Landing::Page { status, html: err } = &last else {
        panic!("{last:?}")
    };
    assert_eq!(*status, 403);
    assert!(
        err.contains("Too many wrong verification attempts"),
        "{err}"
    );
    // The page gives the code and a way to start again; the flow is back at the user
    // name, so even the right code is not accepted on it any more.
    assert!(err.contains("MW50076"), "{err}");
    assert!(err.contains("Start again"), "{err}");
    let after = b.submit(&html, "totp", &[("code", &right)]).await;
    assert!(after.location().is_none(), "{after:?}");
    assert!(after.html().contains("name=\"username\""), "{after:?}");
    let log = signins(&t, &m.upn).await;
    assert_eq!(
        log.iter()
            .filter(|e| e.result == SignInResult::Failure)
            .count(),
        5,
        "{log:?}"
    );
}

#[tokio::test]
async fn flow_is_bound_to_the_browser_that_started_it() {
    let t = TestIdentity::start().await;
    let m = mfa_user(&t, "fay").await;
    let b = Browser::new(&t);
    let page = b.get(&mail_authorize_url(&t, &pkce(), &[])).await;
    // Another browser submitting the same flow id gets nowhere.
    let thief = Browser::new(&t);
    let page2 = thief
        .submit(page.html(), "identify", &[("username", &m.upn)])
        .await;
    let Landing::Page { status, html } = &page2 else {
        panic!("{page2:?}")
    };
    assert_eq!(*status, 400);
    assert!(html.contains("expired"), "{html}");
}

#[tokio::test]
async fn first_sign_in_registers_an_authenticator_with_retry() {
    let t = TestIdentity::start().await;
    let u = user(&t, "gus").await;
    let b = Browser::new(&t);
    let p = pkce();
    let page = password_pages(&b, &mail_authorize_url(&t, &p, &[]), u.upn.as_str(), PW).await;
    let secret = pages::totp_secret(page.html()).unwrap_or_else(|| panic!("{page:?}"));
    let page = b
        .submit(page.html(), "register_totp", &[("code", "12345")])
        .await;
    assert!(
        pages::totp_secret(page.html()).as_deref() == Some(secret.as_slice()),
        "same secret offered again: {page:?}"
    );
    let page = b
        .submit(
            page.html(),
            "register_totp",
            &[("code", &totp_now(&secret))],
        )
        .await;
    let codes = pages::recovery_codes(page.html());
    assert_eq!(codes.len(), 10, "{page:?}");
    let done = b.submit(page.html(), "continue", &[]).await;
    let code = done.param("code").unwrap_or_else(|| panic!("{done:?}"));
    let (status, body) = redeem_mail_code(&t, &code, &p).await;
    assert_eq!(status, 200, "{body}");
    let (_, claims) = jwt(body["access_token"].as_str().unwrap());
    let amr: Vec<&str> = claims["amr"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(
        amr.contains(&"pwd") && amr.contains(&"otp") && amr.contains(&"mfa"),
        "{amr:?}"
    );
    assert!(
        t.ctx
            .store()
            .totp(u.id)
            .await
            .unwrap()
            .is_some_and(|r| r.confirmed)
    );
}

#[tokio::test]
async fn login_without_a_flow_shows_a_page() {
    let t = TestIdentity::start().await;
    for res in [
        t.client().get(t.at("/login")).send().await,
        t.client()
            .post(t.at("/login"))
            .form(&[("action", "totp")])
            .send()
            .await,
    ] {
        let res = res.expect("request");
        assert_eq!(res.status().as_u16(), 400);
        let html = res.text().await.expect("body");
        assert!(html.contains("Start from your application"), "{html}");
        assert!(!html.contains("deserialize"), "{html}");
    }
}
