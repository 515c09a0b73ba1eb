//! Limits before authentication: the login timeout, the per-address connection cap, line
//! and AUTH continuation limits, and no way into DATA or BDAT, against real listeners.

mod common;

use common::*;
use std::time::Duration;

#[tokio::test]
async fn unauthenticated_connections_are_closed_after_the_login_timeout() {
    let e = env_with(|c| c.login_timeout = Duration::from_millis(300)).await;
    let mut c = e.plain().await;
    assert!(c.line().await.starts_with("220 "));
    c.send("EHLO client.example\r\n").await;
    c.reply().await;
    // No sleep: the server closes; `line` waits for it with a generous deadline.
    assert_eq!(
        c.line().await,
        "421 4.4.2 Idle for too long, closing connection"
    );
    assert!(c.closed().await);
    let mut c = e.tls().await;
    assert!(c.line().await.starts_with("220 "));
    assert_eq!(
        c.line().await,
        "421 4.4.2 Idle for too long, closing connection"
    );
    assert!(c.closed().await);
}

#[tokio::test]
async fn connections_over_the_per_address_cap_are_refused() {
    let e = env_with(|c| c.max_connections_per_address = 1).await;
    let mut first = e.plain().await;
    assert!(first.line().await.starts_with("220 "));
    let mut second = e.plain().await;
    assert_eq!(
        second.line().await,
        "421 4.7.0 mail.contoso.test Too many connections, try again later"
    );
    assert!(second.closed().await);
    let mut tls = e.tls().await;
    assert!(tls.line().await.starts_with("220 "));
    let mut tls2 = e.tls().await;
    assert_eq!(
        tls2.line().await,
        "421 4.7.0 mail.contoso.test Too many connections, try again later"
    );
    assert!(first.cmd("NOOP").await.starts_with("250"));
}

#[tokio::test]
async fn nothing_large_is_taken_before_authentication() {
    let e = env().await;
    let mut c = e.tls().await;
    assert!(c.line().await.starts_with("220 "));
    c.send("EHLO client.example\r\n").await;
    c.reply().await;
    // No transaction, so no message data, before authentication.
    assert!(
        c.cmd("MAIL FROM:<a@contoso.test>")
            .await
            .starts_with("530 ")
    );
    assert!(c.cmd("DATA").await.starts_with("503 "));
    assert!(c.cmd("BDAT 34000000 LAST").await.starts_with("502 "));
    // The bytes a client pushes anyway are read as over-long command lines: refused,
    // not buffered.
    for _ in 0..16 {
        c.send_bytes(&[b'x'; 64 * 1024]).await;
    }
    c.send("\r\n").await;
    assert_eq!(c.line().await, "500 5.5.6 Line too long");
    assert!(c.cmd("NOOP").await.starts_with("250"));
    // An AUTH continuation over the SASL limit.
    assert!(c.cmd("AUTH XOAUTH2").await.starts_with("334"));
    c.send_bytes(&vec![b'A'; mailward_sasl::MAX_ENCODED_LEN + 100])
        .await;
    c.send("\r\n").await;
    assert_eq!(
        c.line().await,
        "500 5.5.6 Authentication exchange line too long"
    );
}
