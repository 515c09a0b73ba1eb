//! Limits before authentication: the login timeout, the per-address connection cap, and
//! over-long lines, against real listeners.

mod common;

use common::*;
use std::time::Duration;

#[tokio::test]
async fn unauthenticated_connections_are_closed_after_the_login_timeout() {
    let e = env_with(|l| l.login_timeout = Duration::from_millis(300)).await;
    let mut c = e.plain().await;
    assert!(c.line().await.starts_with("+OK"));
    assert!(c.cmd("CAPA").await.starts_with("+OK"));
    c.multiline().await;
    // No sleep: the server closes; `line` waits for it with a generous deadline.
    assert_eq!(c.line().await, "-ERR Autologout: idle for too long");
    assert!(c.closed().await);
    let mut c = e.tls().await;
    assert!(c.line().await.starts_with("+OK"));
    assert_eq!(c.line().await, "-ERR Autologout: idle for too long");
    assert!(c.closed().await);
}

#[tokio::test]
async fn connections_over_the_per_address_cap_are_refused() {
    let e = env_with(|l| l.max_connections_per_address = 1).await;
    let mut first = e.plain().await;
    assert!(first.line().await.starts_with("+OK"));
    let mut second = e.plain().await;
    assert_eq!(
        second.line().await,
        "-ERR [SYS/TEMP] Too many connections, try again later"
    );
    assert!(second.closed().await);
    // The cap is per listener: the implicit-TLS one still admits this address...
    let mut tls = e.tls().await;
    assert!(tls.line().await.starts_with("+OK"));
    // ...once, then refuses after the handshake.
    let mut tls2 = e.tls().await;
    assert_eq!(
        tls2.line().await,
        "-ERR [SYS/TEMP] Too many connections, try again later"
    );
    // The first connection still works.
    assert!(first.cmd("NOOP").await.starts_with("-ERR"));
    assert!(first.cmd("QUIT").await.starts_with("+OK"));
}

#[tokio::test]
async fn long_lines_before_authentication_are_refused_unbuffered() {
    let e = env().await;
    let mut c = e.tls().await;
    assert!(c.line().await.starts_with("+OK"));
    // A megabyte without a line end, then the end: one error, nothing kept.
    c.send_bytes(b"USER ").await;
    for _ in 0..16 {
        c.send_bytes(&[b'x'; 64 * 1024]).await;
    }
    c.send("\r\n").await;
    assert!(c.line().await.starts_with("-ERR"));
    assert!(c.cmd("CAPA").await.starts_with("+OK"));
    c.multiline().await;
    // An AUTH continuation over the SASL limit.
    assert_eq!(c.cmd("AUTH XOAUTH2").await, "+ ");
    c.send_bytes(&vec![b'A'; mailward_sasl::MAX_ENCODED_LEN + 100])
        .await;
    c.send("\r\n").await;
    assert_eq!(
        c.line().await,
        "-ERR [AUTH] Authentication response too long"
    );
}

/// A client that pipelines commands before authentication and never reads the replies
/// cannot hold the connection past the login timeout.
#[tokio::test]
async fn an_unauthenticated_client_that_never_reads_is_dropped_at_the_login_timeout() {
    let e = env_with(|l| l.login_timeout = Duration::from_millis(500)).await;
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", e.plain_port))
        .await
        .expect("connect");
    let (_read, mut write) = tcp.into_split();
    let batch = b"CAPA\r\n".repeat(8192);
    tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            if tokio::io::AsyncWriteExt::write_all(&mut write, &batch)
                .await
                .is_err()
            {
                return;
            }
        }
    })
    .await
    .expect("the server must give up on the connection");
}
