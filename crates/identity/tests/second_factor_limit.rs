//! The per-user second-factor failure limit over real HTTPS: wrong codes posted in parallel
//! from several sign-in flows of one user, released together behind a barrier, get at most
//! the limit checked; the rest are refused with 500121 and logged; a new flow (the password
//! again) does not start the count over, and neither does a correct password.

mod common;

use common::*;
use mailward_testkit::{Browser, Landing, TestIdentity};
use std::sync::Arc;
use tokio::sync::Barrier;

/// The limit `http/login/second_factor.rs` applies.
const LIMIT: usize = 10;
const FLOWS: usize = 6;
const PER_FLOW: usize = 4;

async fn totp_page(t: &TestIdentity, m: &MfaUser) -> (Browser, Landing) {
    let b = Browser::new(t);
    let p = pkce();
    let page = password_pages(&b, &mail_authorize_url(t, &p, &[]), &m.upn, PW).await;
    assert!(
        page.html().contains("name=\"action\" value=\"totp\""),
        "no TOTP page: {page:?}"
    );
    (b, page)
}

#[tokio::test]
async fn a_parallel_burst_of_wrong_codes_across_flows_never_checks_more_than_the_limit() {
    let t = TestIdentity::start().await;
    let m = mfa_user(&t, "gus").await;
    let mut pages = vec![];
    for _ in 0..FLOWS {
        pages.push(totp_page(&t, &m).await);
    }
    let barrier = Arc::new(Barrier::new(FLOWS * PER_FLOW));
    let mut tasks = vec![];
    for (b, page) in pages {
        let b = Arc::new(b);
        let html = page.html().to_string();
        for n in 0..PER_FLOW {
            let (b, html, barrier) = (b.clone(), html.clone(), barrier.clone());
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                let wrong = format!("{:06}", 100_000 + n);
                b.submit(&html, "totp", &[("code", &wrong)]).await
            }));
        }
    }
    let mut locked_pages = 0;
    for task in tasks {
        let page = task.await.expect("task");
        if page.html().contains("500121") {
            locked_pages += 1;
        }
    }
    let log = signins(&t, &m.upn).await;
    let checked = log.iter().filter(|e| e.error_code == Some(50076)).count();
    let refused = log.iter().filter(|e| e.error_code == Some(500121)).count();
    assert!(checked <= LIMIT, "{checked} wrong codes were checked");
    assert_eq!(
        checked + refused,
        FLOWS * PER_FLOW,
        "every attempt is logged"
    );
    assert_eq!(locked_pages, refused);
    assert!(refused >= FLOWS * PER_FLOW - LIMIT);

    // A new flow costs the password, which is right, and the count stays: even the right
    // code is not checked while the user is locked.
    let (b, page) = totp_page(&t, &m).await;
    let code = fresh_totp(&t, &m).await;
    let locked = b.submit(page.html(), "totp", &[("code", &code)]).await;
    assert!(locked.html().contains("500121"), "{locked:?}");
    assert_eq!(locked.param("code"), None);
}

#[tokio::test]
async fn a_correct_code_clears_the_count() {
    let t = TestIdentity::start().await;
    let m = mfa_user(&t, "cal").await;
    // Just under the limit, spread over flows (each flow allows a few).
    let mut wrong = 0;
    while wrong < LIMIT - 1 {
        let (b, mut page) = totp_page(&t, &m).await;
        for _ in 0..3 {
            if wrong == LIMIT - 1 {
                break;
            }
            page = b.submit(page.html(), "totp", &[("code", "000000")]).await;
            assert!(!page.html().contains("500121"), "{page:?}");
            wrong += 1;
        }
    }
    let (b, page) = totp_page(&t, &m).await;
    let code = fresh_totp(&t, &m).await;
    let done = b.submit(page.html(), "totp", &[("code", &code)]).await;
    assert!(done.param("code").is_some(), "{done:?}");
    // The count started over: the limit again before a lock.
    let mut wrong = 0;
    while wrong < LIMIT {
        let (b, mut page) = totp_page(&t, &m).await;
        for _ in 0..3 {
            if wrong == LIMIT {
                break;
            }
            page = b.submit(page.html(), "totp", &[("code", "000000")]).await;
            assert!(!page.html().contains("500121"), "attempt {wrong}: {page:?}");
            wrong += 1;
        }
    }
    let (b, page) = totp_page(&t, &m).await;
    let locked = b.submit(page.html(), "totp", &[("code", "000000")]).await;
    assert!(locked.html().contains("500121"), "{locked:?}");
}
