//! SEARCH evaluation on sample messages.

use super::*;
use crate::mime::tests::{MULTI, SIMPLE};
use imap_codec::imap_types::sequence::SequenceSet;
use mailward_mailstore::{BlobId, Flags};

fn meta(uid: u32, flags: Flags, size: u32) -> MessageMeta {
    MessageMeta {
        uid,
        blob: BlobId("0".repeat(64)),
        size,
        internal_date: time::macros::datetime!(2024-03-06 23:30 +00:00),
        flags,
        modseq: u64::from(uid) * 10,
    }
}

fn key(s: &str) -> SearchKey<'static> {
    // Parse through a real SEARCH command so the test reads like the protocol.
    let line = format!("a SEARCH {s}\r\n");
    let cmd = crate::framing::decode_command(line.as_bytes()).expect("valid search");
    match cmd.body {
        imap_codec::imap_types::command::CommandBody::Search { criteria, .. } => {
            let mut keys: Vec<SearchKey<'_>> = criteria.into_iter().collect();
            let k = if keys.len() == 1 {
                keys.remove(0)
            } else {
                SearchKey::And(keys.try_into().expect("non-empty"))
            };
            imap_codec::imap_types::IntoStatic::into_static(k)
        }
        other => panic!("{other:?}"),
    }
}

fn check(expr: &str, m: &Candidate<'_>) -> bool {
    let scope = Scope {
        count: 10,
        max_uid: 100,
    };
    matches(&key(expr), m, scope)
}

#[test]
fn flags_sizes_dates_and_sets() {
    let flags = Flags {
        seen: true,
        flagged: true,
        keywords: vec!["$Work".into()],
        ..Flags::default()
    };
    let meta = meta(42, flags, 1500);
    let m = Candidate::new(3, &meta, true, None, None);
    for (expr, want) in [
        ("ALL", true),
        ("SEEN", true),
        ("UNSEEN", false),
        ("FLAGGED", true),
        ("UNFLAGGED", false),
        ("DELETED", false),
        ("UNDELETED", true),
        ("ANSWERED", false),
        ("DRAFT", false),
        ("RECENT", true),
        ("NEW", false),
        ("OLD", false),
        ("KEYWORD $work", true),
        ("UNKEYWORD $Work", false),
        ("KEYWORD $Other", false),
        ("LARGER 1499", true),
        ("LARGER 1500", false),
        ("SMALLER 1501", true),
        ("BEFORE 7-Mar-2024", true),
        ("BEFORE 6-Mar-2024", false),
        ("ON 6-Mar-2024", true),
        ("SINCE 6-Mar-2024", true),
        ("SINCE 7-Mar-2024", false),
        ("UID 40:45", true),
        ("UID 42:*", true),
        ("UID 43:*", false),
        ("UID 1:41", false),
        ("3", true),
        ("1:2,4:*", false),
        ("NOT SEEN", false),
        ("OR DELETED FLAGGED", true),
        ("OR DELETED ANSWERED", false),
        ("SEEN FLAGGED LARGER 100", true),
        ("SEEN (FLAGGED DELETED)", false),
        ("MODSEQ 420", true),
        ("MODSEQ 421", false),
    ] {
        assert_eq!(check(expr, &m), want, "{expr}");
    }
}

#[test]
fn header_keys_use_the_summary() {
    let summary = mime::summarize(SIMPLE);
    let meta = meta(1, Flags::default(), 100);
    let m = Candidate::new(1, &meta, false, Some(&summary), Some(SIMPLE));
    for (expr, want) in [
        ("FROM pirard", true),
        ("FROM {6+}\r\nAndré", true),
        ("FROM nobody", false),
        ("TO jane@example.com", true),
        ("CC team", true),
        ("BCC x", false),
        ("SUBJECT {7+}\r\ngrüße", true),
        ("SUBJECT {5+}\r\nKÖLN", true),
        ("SUBJECT report", false),
        ("SENTON 5-Mar-2024", true),
        ("SENTBEFORE 5-Mar-2024", false),
        ("SENTSINCE 5-Mar-2024", true),
        ("HEADER Message-ID 1234@local", true),
        ("HEADER message-id \"\"", true),
        ("HEADER X-Missing \"\"", false),
        ("BODY \"this is a TEST\"", true),
        ("BODY pirard", false),
        ("TEXT pirard", true),
        ("TEXT hello", true),
    ] {
        assert_eq!(check(expr, &m), want, "{expr}");
    }
    assert_eq!(
        needs([&key("FROM x")]),
        Needs {
            summary: true,
            raw: false
        }
    );
    assert_eq!(
        needs([&key("NOT BODY x")]),
        Needs {
            summary: false,
            raw: true
        }
    );
    assert_eq!(needs([&key("SEEN")]), Needs::default());
}

#[test]
fn body_search_decodes_parts() {
    let summary = mime::summarize(MULTI);
    let meta = meta(1, Flags::default(), 100);
    let m = Candidate::new(1, &meta, false, Some(&summary), Some(MULTI));
    assert!(check("BODY {5+}\r\ncafé", &m));
    assert!(check("BODY \"html text\"", &m));
    assert!(!check("BODY JVBERi0x", &m));
    let _ = SequenceSet::try_from("1").expect("set");
}
