//! Mailboxes and messages over IMAP against the real SQLite store: SELECT/EXAMINE, APPEND
//! with APPENDUID, FETCH (flags, envelope, bodystructure, sections, partials, the \Seen
//! side effect), STORE, COPY/MOVE with COPYUID, EXPUNGE and the UID forms, SEARCH, LIST
//! with special-use attributes, STATUS, CREATE/RENAME/DELETE, SUBSCRIBE/LSUB, CONDSTORE.

mod common;

use common::*;

const MULTI: &[u8] = b"From: Alice <alice@contoso.test>\r\n\
To: bob@contoso.test\r\n\
Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n\
Date: Wed, 06 Mar 2024 12:00:00 +0000\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/alternative; boundary=\"b\"\r\n\
\r\n\
--b\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
\r\n\
Hello plain\r\n\
--b\r\n\
Content-Type: text/html; charset=utf-8\r\n\
\r\n\
<p>Hello html</p>\r\n\
--b--\r\n";

#[tokio::test]
async fn select_append_fetch_store() {
    let e = env().await;
    let alice = e.user("alice").await;
    let mut c = e.login(&alice).await;

    let r = c.ok("s1", "SELECT INBOX").await;
    assert!(r.contains(&"* 0 EXISTS".to_owned()), "{r:?}");
    assert!(
        r.iter().any(|l| l.starts_with("* OK [UIDVALIDITY ")),
        "{r:?}"
    );
    assert!(r.iter().any(|l| l.starts_with("* OK [UIDNEXT 1]")), "{r:?}");
    assert!(
        r.iter().any(|l| l.starts_with("* OK [PERMANENTFLAGS (")),
        "{r:?}"
    );
    assert!(r.last().expect("tagged").starts_with("s1 OK [READ-WRITE]"));
    // FETCH on an empty mailbox.
    c.ok("f0", "UID FETCH 1:* FLAGS").await;
    let r = c.cmd("f0b", "FETCH 1 FLAGS").await;
    assert!(r[0].starts_with("f0b BAD"), "{r:?}");

    // APPEND with a synchronizing literal, flags and a date.
    let r = c
        .append(
            "a1",
            "INBOX",
            " (\\Flagged $Work) \"05-Mar-2024 10:00:00 +0100\"",
            MULTI,
        )
        .await;
    let tagged = r.last().expect("tagged");
    assert!(tagged.starts_with("a1 OK [APPENDUID "), "{r:?}");
    // The new message shows up in the selected mailbox.
    assert!(r.contains(&"* 1 EXISTS".to_owned()), "{r:?}");
    // Non-synchronizing literal (LITERAL+), no continuation expected.
    let plain = message("second", "Second body");
    let mut cmd = format!("a2 APPEND INBOX {{{}+}}\r\n", plain.len()).into_bytes();
    cmd.extend_from_slice(&plain);
    cmd.extend_from_slice(b"\r\n");
    c.send(&cmd).await;
    let r = c.until_tagged("a2").await;
    assert!(
        r.last().expect("tagged").starts_with("a2 OK [APPENDUID"),
        "{r:?}"
    );
    assert!(r.contains(&"* 2 EXISTS".to_owned()), "{r:?}");

    let r = c
        .ok("f1", "FETCH 1:* (UID FLAGS RFC822.SIZE INTERNALDATE)")
        .await;
    assert_eq!(r.len(), 3, "{r:?}");
    assert!(
        r[1].starts_with("* 2 FETCH (UID 2 FLAGS (\\Recent) "),
        "{r:?}"
    );
    // Re-selecting ends this session's \Recent.
    c.ok("s2", "SELECT INBOX").await;
    let r = c
        .ok("f1b", "FETCH 1:* (UID FLAGS RFC822.SIZE INTERNALDATE)")
        .await;
    assert_eq!(r.len(), 3, "{r:?}");
    assert!(
        r[0].starts_with("* 1 FETCH (UID 1 FLAGS (\\Flagged $Work) RFC822.SIZE "),
        "{r:?}"
    );
    // The same instant (the store keeps internal dates in UTC).
    assert!(
        r[0].contains("INTERNALDATE \"05-Mar-2024 09:00:00 +0000\""),
        "{r:?}"
    );
    assert!(r[1].starts_with("* 2 FETCH (UID 2 FLAGS () "), "{r:?}");

    let r = c.ok("f2", "FETCH 1 (ENVELOPE BODYSTRUCTURE)").await;
    assert!(r[0].contains("ENVELOPE (\"Wed, 06 Mar 2024 12:00:00 +0000\" \"=?utf-8?q?Gr=C3=BC=C3=9Fe?=\" ((\"Alice\" NIL \"alice\" \"contoso.test\"))"), "{r:?}");
    assert!(r[0].contains("BODYSTRUCTURE ((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 11 1 NIL NIL NIL NIL)"), "{r:?}");
    assert!(
        r[0].contains("\"alternative\" (\"boundary\" \"b\") NIL NIL NIL)"),
        "{r:?}"
    );

    // PEEK keeps \Seen off; partial fetch.
    let r = c.ok("f3", "FETCH 1 (BODY.PEEK[1] BODY.PEEK[2.MIME] BODY.PEEK[]<0.10> BODY.PEEK[HEADER.FIELDS (Subject)])").await;
    assert!(r[0].contains("BODY[1] {11}\r\nHello plain"), "{r:?}");
    assert!(
        r[0].contains("BODY[2.MIME] {42}\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"),
        "{r:?}"
    );
    assert!(r[0].contains("BODY[]<0> {10}\r\nFrom: Alic"), "{r:?}");
    assert!(
        r[0].contains(
            "BODY[HEADER.FIELDS (Subject)] {40}\r\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n\r\n"
        ),
        "{r:?}"
    );
    assert!(!r[0].contains("\\Seen"), "{r:?}");
    // Partials past the end are empty; partials inside a part are cut.
    let r = c
        .ok(
            "f3b",
            "FETCH 1 (BODY.PEEK[]<100000.5> BODY.PEEK[1]<6.100> BODY.PEEK[9])",
        )
        .await;
    assert_eq!(
        r[0],
        "* 1 FETCH (BODY[]<100000> {0}\r\n BODY[1]<6> {5}\r\nplain BODY[9] {0}\r\n)"
    );
    // UID FETCH always includes UID; BODY[TEXT] without PEEK sets \Seen and reports it.
    let r = c.ok("f4", "UID FETCH 2 BODY[TEXT]").await;
    assert!(
        r[0].starts_with("* 2 FETCH (UID 2 BODY[TEXT] {13}\r\nSecond body\r\n FLAGS (\\Seen))"),
        "{r:?}"
    );
    let r = c.ok("f5", "FETCH 2 (FLAGS RFC822.HEADER)").await;
    assert!(r[0].contains("FLAGS (\\Seen)"), "{r:?}");
    let r = c.ok("f6", "FETCH 1 FAST").await;
    assert!(
        r[0].starts_with("* 1 FETCH (FLAGS (\\Flagged $Work) INTERNALDATE"),
        "{r:?}"
    );
    let r = c.ok("f7", "FETCH 1 BODY").await;
    assert!(r[0].contains("BODY ((\"text\" \"plain\""), "{r:?}");
    let r = c.cmd("f8", "FETCH 3 FLAGS").await;
    assert!(r[0].starts_with("f8 BAD"), "{r:?}");

    // STORE forms.
    let r = c.ok("t1", "STORE 1 +FLAGS (\\Seen \\Answered)").await;
    assert_eq!(
        r[0],
        "* 1 FETCH (FLAGS (\\Seen \\Answered \\Flagged $Work))"
    );
    let r = c.ok("t2", "STORE 1 -FLAGS.SILENT ($Work)").await;
    assert_eq!(r.len(), 1, "silent: {r:?}");
    let r = c.ok("t3", "UID STORE 1:2 FLAGS (\\Draft)").await;
    assert_eq!(r[0], "* 1 FETCH (UID 1 FLAGS (\\Draft))");
    assert_eq!(r[1], "* 2 FETCH (UID 2 FLAGS (\\Draft))");
    let r = c.cmd("t4", "STORE 1 +FLAGS (\\Bogus)").await;
    assert!(r[0].starts_with("t4 BAD"), "{r:?}");

    // SEARCH.
    let r = c.ok("q1", "SEARCH DRAFT").await;
    assert_eq!(r[0], "* SEARCH 1 2");
    let r = c.ok("q2", "UID SEARCH SUBJECT second").await;
    assert_eq!(r[0], "* SEARCH 2");
    let r = c.ok("q3", "SEARCH CHARSET UTF-8 BODY {5+}\r\nhello").await;
    assert_eq!(r[0], "* SEARCH 1");
    let r = c
        .ok("q4", "SEARCH OR FROM alice TO nobody NOT LARGER 100000")
        .await;
    assert_eq!(r[0], "* SEARCH 1 2");
    let r = c.cmd("q5", "SEARCH CHARSET KOI8-R ALL").await;
    assert!(r[0].starts_with("q5 NO [BADCHARSET"), "{r:?}");
    let r = c.ok("q6", "SEARCH SENTON 6-Mar-2024").await;
    assert_eq!(r[0], "* SEARCH 1");
}

#[tokio::test]
async fn copy_move_expunge_and_folders() {
    let e = env().await;
    let alice = e.user("alice").await;
    let mut c = e.login(&alice).await;
    for i in 1..=5 {
        c.append(
            &format!("a{i}"),
            "INBOX",
            "",
            &message(&format!("m{i}"), "x"),
        )
        .await;
    }
    let r = c.ok("l1", "LIST \"\" *").await;
    for want in [
        "* LIST (\\HasNoChildren) \"/\" \"INBOX\"",
        "* LIST (\\HasNoChildren \\Sent) \"/\" \"Sent\"",
        "* LIST (\\HasNoChildren \\Trash) \"/\" \"Trash\"",
        "* LIST (\\HasNoChildren \\Drafts) \"/\" \"Drafts\"",
        "* LIST (\\HasNoChildren \\Junk) \"/\" \"Junk\"",
        "* LIST (\\HasNoChildren \\Archive) \"/\" \"Archive\"",
    ] {
        assert!(r.contains(&want.to_owned()), "{want} missing: {r:?}");
    }
    let r = c.ok("l2", "LIST \"\" \"\"").await;
    assert_eq!(r[0], "* LIST (\\Noselect) \"/\" \"\"");

    // Folders: create (with a non-ASCII name), rename, subscribe, delete.
    c.ok("c1", "CREATE Projects/Entw&APw-rfe").await;
    let r = c.cmd("c2", "CREATE Projects").await;
    assert!(r[0].starts_with("c2 NO [ALREADYEXISTS]"), "{r:?}");
    let r = c.ok("c3", "LIST Projects/ %").await;
    assert_eq!(
        r[0],
        "* LIST (\\HasNoChildren) \"/\" \"Projects/Entw&APw-rfe\""
    );
    let r = c.ok("c4", "LIST \"\" %").await;
    assert!(
        r.contains(&"* LIST (\\HasChildren) \"/\" \"Projects\"".to_owned()),
        "{r:?}"
    );
    c.ok("c5", "RENAME Projects/Entw&APw-rfe Projects/Done")
        .await;
    c.ok("c6", "SUBSCRIBE Projects/Done").await;
    let r = c.ok("c7", "LSUB \"\" *").await;
    assert!(
        r.contains(&"* LSUB (\\HasNoChildren) \"/\" \"Projects/Done\"".to_owned()),
        "{r:?}"
    );
    c.ok("c8", "UNSUBSCRIBE Projects/Done").await;
    let r = c.cmd("c9", "DELETE INBOX").await;
    assert!(r[0].starts_with("c9 NO"), "{r:?}");
    let r = c.cmd("c10", "CREATE &Jjo").await;
    assert!(r[0].starts_with("c10 NO"), "{r:?}");

    let r = c
        .ok(
            "st",
            "STATUS INBOX (MESSAGES UIDNEXT UNSEEN UIDVALIDITY HIGHESTMODSEQ)",
        )
        .await;
    assert!(
        r[0].starts_with("* STATUS \"INBOX\" (MESSAGES 5 UIDNEXT 6 UNSEEN 5 UIDVALIDITY "),
        "{r:?}"
    );

    c.ok("s", "SELECT INBOX").await;
    // COPY with COPYUID.
    let r = c.ok("k1", "COPY 1:2 Projects/Done").await;
    assert!(
        r[0].starts_with("k1 OK [COPYUID ") && r[0].contains(" 1:2 1:2]"),
        "{r:?}"
    );
    let r = c.cmd("k2", "COPY 1 Nowhere").await;
    assert!(r[0].starts_with("k2 NO [TRYCREATE]"), "{r:?}");
    // UID MOVE: untagged COPYUID, EXPUNGE, then OK.
    let r = c.ok("m1", "UID MOVE 4 Archive").await;
    assert!(
        r[0].starts_with("* OK [COPYUID ") && r[0].ends_with(" 4 1] Moved"),
        "{r:?}"
    );
    assert_eq!(r[1], "* 4 EXPUNGE");
    let r = c.ok("m2", "MOVE 1,2 Trash").await;
    assert_eq!(
        &r[1..3],
        &["* 2 EXPUNGE".to_owned(), "* 1 EXPUNGE".to_owned()]
    );
    let r = c.ok("f", "FETCH 1:* UID").await;
    assert_eq!(
        r[..2],
        [
            "* 1 FETCH (UID 3)".to_owned(),
            "* 2 FETCH (UID 5)".to_owned()
        ]
    );

    // EXPUNGE and UID EXPUNGE.
    c.ok("x1", "STORE 1:2 +FLAGS.SILENT (\\Deleted)").await;
    let r = c.ok("x2", "UID EXPUNGE 5").await;
    assert_eq!(r[0], "* 2 EXPUNGE");
    let r = c.ok("x3", "EXPUNGE").await;
    assert_eq!(r[0], "* 1 EXPUNGE");
    let r = c.ok("x4", "STATUS Trash (MESSAGES)").await;
    assert_eq!(r[0], "* STATUS \"Trash\" (MESSAGES 2)");

    // EXAMINE is read-only; CLOSE there expunges nothing.
    let r = c.ok("e1", "EXAMINE Trash").await;
    assert!(
        r.iter()
            .any(|l| l == "* OK [CLOSED] Previous mailbox closed"),
        "{r:?}"
    );
    assert!(r.last().expect("tagged").contains("[READ-ONLY]"), "{r:?}");
    let r = c.cmd("e2", "STORE 1 +FLAGS (\\Deleted)").await;
    assert!(r[0].starts_with("e2 NO"), "{r:?}");
    let r = c.ok("e3", "FETCH 1 BODY[]").await;
    assert!(
        !r[0].contains("\\Seen"),
        "read-only FETCH must not set \\Seen: {r:?}"
    );
    c.ok("e4", "CLOSE").await;
    let r = c.cmd("e5", "FETCH 1 FLAGS").await;
    assert!(r[0].starts_with("e5 BAD"), "{r:?}");
    c.ok("e6", "SELECT Trash").await;
    c.ok("e7", "UNSELECT").await;
    c.ok("d1", "DELETE Projects/Done").await;
}

#[tokio::test]
async fn condstore() {
    let e = env().await;
    let alice = e.user("alice").await;
    let mut c = e.login(&alice).await;
    for i in 1..=3 {
        c.append(
            &format!("a{i}"),
            "INBOX",
            "",
            &message(&format!("m{i}"), "x"),
        )
        .await;
    }
    let r = c.ok("s", "SELECT INBOX (CONDSTORE)").await;
    let hms = r
        .iter()
        .find_map(|l| l.strip_prefix("* OK [HIGHESTMODSEQ "))
        .and_then(|l| l.split(']').next())
        .and_then(|n| n.parse::<u64>().ok())
        .expect("HIGHESTMODSEQ");
    let r = c.ok("t", "STORE 2 +FLAGS (\\Flagged)").await;
    assert!(
        r[0].starts_with("* 2 FETCH (FLAGS (\\Flagged) MODSEQ ("),
        "{r:?}"
    );
    let r = c
        .ok("f", &format!("FETCH 1:* (FLAGS) (CHANGEDSINCE {hms})"))
        .await;
    assert_eq!(r.len(), 2, "only the changed message: {r:?}");
    assert!(
        r[0].starts_with("* 2 FETCH (FLAGS (\\Flagged) MODSEQ ("),
        "{r:?}"
    );
    let r = c
        .ok(
            "u",
            &format!("UID STORE 1:3 (UNCHANGEDSINCE {hms}) +FLAGS (\\Seen)"),
        )
        .await;
    assert!(
        r.last().expect("tagged").starts_with("u OK [MODIFIED 2]"),
        "{r:?}"
    );
    let r = c.ok("q", &format!("SEARCH MODSEQ {}", hms + 1)).await;
    assert!(r[0].starts_with("* SEARCH 1 2 3 (MODSEQ "), "{r:?}");
}
