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
    tokio::time::sleep(Duration::from_millis(200)).await;
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
    let mut c1 = e.connect().await;
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
    // An idle connection is logged out.
    let r = c1.closed().await;
    assert_eq!(r, vec!["* BYE Autologout; idle for too long"]);
    // Slots free up again.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let c4 = e.connect().await;
    assert!(c4.greeting.starts_with("* OK"));
}
