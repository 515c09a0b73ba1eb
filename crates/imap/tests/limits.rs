//! Bad input and limits: over-long lines, oversized literals (synchronizing and not), a
//! disconnect in the middle of an APPEND literal (nothing stored), pipelined commands,
//! autologout, and the connection limit.

mod common;

use common::*;
use mailward_mailstore::MailStore;
use std::time::Duration;

#[tokio::test]
async fn oversized_lines_and_literals() {
    let e = env_with(|l| {
        l.max_message_size = 4096;
        l.max_line = 4096;
        l.max_literal = 512;
    })
    .await;
    let alice = e.user("alice").await;
    let mut c = e.login(&alice).await;

    // An over-long line is refused and the connection goes on.
    let long = format!("l1 NOOP {}\r\n", "x".repeat(10_000));
    c.send(long.as_bytes()).await;
    assert_eq!(
        c.until_tagged("l1").await,
        vec!["l1 BAD Command line too long"]
    );
    c.ok("l2", "NOOP").await;

    // APPEND larger than the limit: NO [TOOBIG] before any data is sent.
    c.send(b"a1 APPEND INBOX {5000}\r\n").await;
    assert_eq!(
        c.until_tagged("a1").await,
        vec!["a1 NO [TOOBIG] Literal of 5000 octets exceeds the limit of 4096"]
    );
    // Non-synchronizing and too large: read, thrown away, BAD.
    let mut big = b"a2 APPEND INBOX {5000+}\r\n".to_vec();
    big.extend_from_slice(&vec![b'y'; 5000]);
    big.extend_from_slice(b"\r\n");
    c.send(&big).await;
    assert_eq!(c.until_tagged("a2").await, vec!["a2 BAD Literal too large"]);
    // A command literal over the command limit.
    c.send(b"a3 SELECT {600}\r\n").await;
    let r = c.until_tagged("a3").await;
    assert!(r[0].starts_with("a3 BAD Literal of 600 octets"), "{r:?}");
    c.ok("a4", "SELECT INBOX").await;
    let r = c.ok("a5", "STATUS INBOX (MESSAGES)").await;
    assert_eq!(r[0], "* STATUS \"INBOX\" (MESSAGES 0)");
    // An empty message is refused.
    let r = c.append("a6", "INBOX", "", b"").await;
    assert!(r.last().expect("tagged").starts_with("a6 NO"), "{r:?}");
    // A literal with a NUL byte is not a valid IMAP literal.
    let r = c
        .append("a7", "INBOX", "", b"Subject: x\r\n\r\n\0\r\n")
        .await;
    assert!(r.last().expect("tagged").starts_with("a7 BAD"), "{r:?}");
}

#[tokio::test]
async fn disconnect_mid_append_stores_nothing() {
    let e = env().await;
    let alice = e.user("alice").await;
    let account = e.account(&alice).await;
    let mut c = e.login(&alice).await;
    c.send(b"a1 APPEND INBOX {1000}\r\n").await;
    assert!(c.read().await.expect("continuation").starts_with("+ "));
    c.send(&vec![b'z'; 400]).await;
    drop(c);
    e.sessions_ended().await;
    let inbox = e
        .store
        .folder(account.id, "INBOX")
        .await
        .expect("folder")
        .expect("INBOX");
    assert!(
        e.store
            .messages(inbox.id)
            .await
            .expect("messages")
            .is_empty()
    );
}

#[tokio::test]
async fn pipelined_commands_answer_in_order() {
    let e = env().await;
    let alice = e.user("alice").await;
    let mut c = e.login(&alice).await;
    let msg = message("p", "pipelined");
    let mut batch = Vec::new();
    batch.extend_from_slice(b"p1 SELECT INBOX\r\n");
    batch.extend_from_slice(format!("p2 APPEND INBOX {{{}+}}\r\n", msg.len()).as_bytes());
    batch.extend_from_slice(&msg);
    batch.extend_from_slice(
        b"\r\np3 FETCH 1 (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])\r\np4 BOGUS\r\np5 NOOP\r\n",
    );
    c.send(&batch).await;
    let mut tags = Vec::new();
    for t in ["p1", "p2", "p3", "p4", "p5"] {
        let r = c.until_tagged(t).await;
        tags.push(r.last().expect("tagged").clone());
    }
    assert!(tags[0].starts_with("p1 OK"));
    assert!(tags[1].starts_with("p2 OK [APPENDUID"));
    assert!(tags[2].starts_with("p3 OK"));
    assert!(tags[3].starts_with("p4 BAD"));
    assert!(tags[4].starts_with("p5 OK"));
}

#[tokio::test]
async fn autologout_and_connection_limit() {
    let e = env_with(|l| {
        l.idle_timeout = Duration::from_millis(300);
        l.max_connections = 2;
    })
    .await;
    let alice = e.user("alice").await;
    let mut c1 = e.login(&alice).await;
    let _c2 = e.connect().await;
    // A third connection is turned away.
    let mut c3 = tokio::net::TcpStream::connect(e.plain)
        .await
        .expect("connect");
    let mut buf = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut c3, &mut buf)
        .await
        .expect("read");
    assert!(
        String::from_utf8_lossy(&buf).starts_with("* BYE Too many connections"),
        "{buf:?}"
    );
    // An idle authenticated connection is logged out.
    let r = c1.closed().await;
    assert_eq!(r, vec!["* BYE Autologout; idle for too long"]);
    // Its slot frees up again once the server has ended the session.
    let c4 = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let mut c = e.connect().await;
            if c.greeting.starts_with("* OK") {
                return c;
            }
            let _ = c.closed().await;
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("a slot frees up");
    assert!(c4.greeting.starts_with("* OK"));
}

#[tokio::test]
async fn unauthenticated_connections_are_closed_after_the_login_timeout() {
    let e = env_with(|l| l.login_timeout = Duration::from_millis(300)).await;
    let mut c = e.connect().await;
    c.ok("n1", "NOOP").await;
    // No sleep: the server closes, `closed` waits (with a generous deadline) for it.
    let r = c.closed().await;
    assert_eq!(r, vec!["* BYE Autologout; not authenticated in time"]);
    // Over TLS too.
    let mut c = e.connect_tls().await;
    assert_eq!(
        c.closed().await,
        vec!["* BYE Autologout; not authenticated in time"]
    );
}

#[tokio::test]
async fn connections_over_the_per_address_cap_are_refused() {
    let e = env_with(|l| l.max_connections_per_address = 2).await;
    let _c1 = e.connect().await;
    let _c2 = e.connect_tls().await;
    let mut c3 = tokio::net::TcpStream::connect(e.plain)
        .await
        .expect("connect");
    let mut buf = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut c3, &mut buf)
        .await
        .expect("read");
    assert_eq!(
        String::from_utf8_lossy(&buf),
        "* BYE Too many connections, try again later\r\n"
    );
    // Over implicit TLS the refusal comes after the handshake.
    let c4 = Client::tls(e.tls, &e.ca_pem).await;
    assert_eq!(c4.greeting, "* BYE Too many connections, try again later");
    // Another client address is served.
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind("127.0.0.2:0".parse().expect("addr"))
        .expect("bind 127.0.0.2");
    let mut other = socket.connect(e.plain).await.expect("connect");
    let mut greeting = [0u8; 4];
    tokio::io::AsyncReadExt::read_exact(&mut other, &mut greeting)
        .await
        .expect("greeting");
    assert_eq!(&greeting, b"* OK");
}

/// Before authentication nothing large is taken: an APPEND literal is refused before it
/// is sent (no `+`), LOGIN literals are capped, a non-synchronizing literal over the cap
/// ends the connection unread, and lines are capped at the SASL limit. After
/// authentication the ordinary limits apply again.
#[tokio::test]
async fn nothing_large_is_taken_before_authentication() {
    let e = env().await;
    let mut c = e.connect_tls().await;
    c.send(b"a1 APPEND INBOX {34000000}\r\n").await;
    assert_eq!(
        c.until_tagged("a1").await,
        vec!["a1 BAD Literal of 34000000 octets exceeds the limit of 0 before authentication"]
    );
    c.send(b"a2 APPEND INBOX {10}\r\n").await;
    let r = c.until_tagged("a2").await;
    assert!(r[0].starts_with("a2 BAD Literal of 10 octets"), "{r:?}");
    let over = mailward_imap::LOGIN_MAX_LITERAL + 1;
    c.send(format!("a3 LOGIN {{{over}}}\r\n").as_bytes()).await;
    let r = c.until_tagged("a3").await;
    assert_eq!(
        r,
        vec![format!(
            "a3 BAD Literal of {over} octets exceeds the limit of {} before authentication",
            mailward_imap::LOGIN_MAX_LITERAL
        )]
    );
    // A login-sized literal is still taken (and the login fails as usual).
    c.send(b"a4 LOGIN {5}\r\n").await;
    assert!(c.read().await.expect("continuation").starts_with("+ "));
    c.send(b"alice {5}\r\n").await;
    assert!(c.read().await.expect("continuation").starts_with("+ "));
    c.send(b"wrong\r\n").await;
    let r = c.until_tagged("a4").await;
    assert!(r.last().expect("tagged").starts_with("a4 NO"), "{r:?}");
    // A line over the limit.
    let long = format!("a5 NOOP {}\r\n", "x".repeat(mailward_imap::LOGIN_MAX_LINE));
    c.send(long.as_bytes()).await;
    assert_eq!(
        c.until_tagged("a5").await,
        vec!["a5 BAD Command line too long"]
    );
    // A non-synchronizing literal over the limit: BYE, nothing read.
    c.send(b"a6 APPEND INBOX {34000000+}\r\n").await;
    assert_eq!(
        c.closed().await,
        vec!["* BYE Literal too large before authentication"]
    );

    // Authenticated: the message size limit applies.
    let alice = e.user("alice").await;
    let mut c = e.login(&alice).await;
    c.send(b"b1 APPEND INBOX {20000}\r\n").await;
    assert!(c.read().await.expect("continuation").starts_with("+ "));
    let msg = message("big", &"y".repeat(19_000));
    let mut data = msg.clone();
    data.resize(20_000, b'z');
    c.send(&data).await;
    c.send(b"\r\n").await;
    let r = c.until_tagged("b1").await;
    assert!(r.last().expect("tagged").starts_with("b1 OK"), "{r:?}");
}

/// A client that pipelines commands before authentication and never reads the answers
/// cannot hold the session past the login timeout: the server stops writing to it.
#[tokio::test]
async fn an_unauthenticated_client_that_never_reads_is_dropped_at_the_login_timeout() {
    let e = env_with(|l| l.login_timeout = Duration::from_millis(500)).await;
    let tcp = tokio::net::TcpStream::connect(e.plain)
        .await
        .expect("connect");
    let (_read, mut write) = tcp.into_split();
    let batch = b"a NOOP\r\n".repeat(8192);
    // Sends until the server has closed the connection (the write fails), far more than
    // the socket buffers hold; the reading half is never read.
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
