//! Untagged updates between sessions: IDLE woken by delivery, EXISTS/FETCH/EXPUNGE after
//! another session's changes, and no EXPUNGE in the middle of a FETCH.

mod common;

use common::*;
use mailward_mailstore::MailStore;
use std::time::Duration;

#[tokio::test]
async fn idle_wakes_on_delivery_and_flag_changes() {
    let e = env().await;
    let alice = e.user("alice").await;
    let mut a = e.login(&alice).await;
    let account = e.account(&alice).await;
    a.ok("s", "SELECT INBOX").await;
    a.send(b"i1 IDLE\r\n").await;
    assert_eq!(a.read().await.as_deref(), Some("+ idling"));

    e.store
        .deliver(
            &[account.id],
            &message("new", "mail"),
            mailward_types::clock::now(),
        )
        .await
        .expect("deliver");
    assert_eq!(a.read().await.as_deref(), Some("* 1 EXISTS"));
    assert_eq!(a.read().await.as_deref(), Some("* 1 RECENT"));

    // Another session changes flags: pushed too.
    let mut b = e.login(&alice).await;
    b.ok("s", "SELECT INBOX").await;
    b.ok("t", "STORE 1 +FLAGS.SILENT (\\Flagged)").await;
    assert_eq!(
        a.read().await.as_deref(),
        Some("* 1 FETCH (UID 1 FLAGS (\\Flagged \\Recent))")
    );

    a.send(b"DONE\r\n").await;
    assert_eq!(a.until_tagged("i1").await, vec!["i1 OK IDLE terminated"]);

    // IDLE in the authenticated state, ended by something else than DONE.
    a.ok("u", "UNSELECT").await;
    a.send(b"i2 IDLE\r\n").await;
    assert_eq!(a.read().await.as_deref(), Some("+ idling"));
    a.send(b"NOPE\r\n").await;
    assert_eq!(a.until_tagged("i2").await, vec!["i2 BAD Expected DONE"]);
}

#[tokio::test]
async fn updates_between_commands() {
    let e = env().await;
    let alice = e.user("alice").await;
    let mut a = e.login(&alice).await;
    let mut b = e.login(&alice).await;
    for i in 1..=3 {
        a.append(
            &format!("a{i}"),
            "INBOX",
            "",
            &message(&format!("m{i}"), "x"),
        )
        .await;
    }
    a.ok("s", "SELECT INBOX").await;
    b.ok("s", "SELECT INBOX").await;

    // B flags and deletes message 2 and expunges it; B adds one.
    b.ok("t", "STORE 1 +FLAGS (\\Answered)").await;
    b.ok("d", "STORE 2 +FLAGS.SILENT (\\Deleted)").await;
    let r = b.ok("x", "EXPUNGE").await;
    assert_eq!(r[0], "* 2 EXPUNGE");
    b.append("ap", "INBOX", "", &message("m4", "x")).await;

    // A's FETCH (non-UID) must not see an EXPUNGE; the message is still number 2 there.
    let r = a.ok("f", "FETCH 1:3 UID").await;
    assert!(r.iter().all(|l| !l.contains("EXPUNGE")), "{r:?}");
    assert!(r.contains(&"* 1 FETCH (UID 1)".to_owned()), "{r:?}");
    assert!(r.contains(&"* 3 FETCH (UID 3)".to_owned()), "{r:?}");
    assert!(r.contains(&"* 4 EXISTS".to_owned()), "{r:?}");
    assert!(
        r.iter()
            .any(|l| l.starts_with("* 1 FETCH (UID 1 FLAGS (\\Answered))")),
        "{r:?}"
    );
    // NOOP delivers the EXPUNGE.
    let r = a.ok("n", "NOOP").await;
    assert_eq!(r[0], "* 2 EXPUNGE");
    let r = a.ok("f2", "FETCH 1:* UID").await;
    assert_eq!(
        r[..3],
        [
            "* 1 FETCH (UID 1)".to_owned(),
            "* 2 FETCH (UID 3)".to_owned(),
            "* 3 FETCH (UID 4)".to_owned()
        ]
    );
    // Nothing more pending.
    let r = a.ok("n2", "NOOP").await;
    assert_eq!(r.len(), 1, "{r:?}");
    // Own changes are not echoed twice. B's later change to another message is the
    // barrier: once A has been told about it, every earlier change has reached A.
    let r = a.ok("t2", "STORE 1 +FLAGS (\\Seen)").await;
    assert_eq!(r.len(), 2, "{r:?}");
    b.ok("t3", "UID STORE 3 +FLAGS.SILENT (\\Flagged)").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let r = a.ok("n3", "NOOP").await;
        assert!(
            r.iter().all(|l| !l.contains("(UID 1 ")),
            "own change echoed: {r:?}"
        );
        if r.iter()
            .any(|l| l.starts_with("* 2 FETCH (UID 3 FLAGS (\\Flagged"))
        {
            assert_eq!(r.len(), 2, "{r:?}");
            break;
        }
        assert!(r.len() == 1, "{r:?}");
        assert!(
            tokio::time::Instant::now() < deadline,
            "B's change never reached A"
        );
        tokio::time::sleep(Duration::from_millis(2)).await; // polling interval
    }
}
