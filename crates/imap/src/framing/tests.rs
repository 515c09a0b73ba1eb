//! Tests of command framing and decoding.

use super::*;

fn limits() -> FrameLimits {
    FrameLimits {
        max_line: 100,
        max_literal: 50,
        max_append_literal: 1000,
        max_message: 400,
    }
}

/// Feeds `input` in chunks of `chunk` bytes, collecting events and messages.
fn run(input: &[u8], chunk: usize) -> Vec<(Event, Option<Vec<u8>>)> {
    let mut r = CommandReader::new(limits());
    let mut out = Vec::new();
    for part in input.chunks(chunk.max(1)) {
        r.push(part);
        while let Some(ev) = r.next_event() {
            let msg = (ev == Event::Command).then(|| r.take_message());
            out.push((ev, msg));
        }
    }
    out
}

#[test]
fn simple_commands_in_any_chunking() {
    let input = b"a1 NOOP\r\nA2 CAPABILITY\r\n\r\nb LOGOUT\n";
    for chunk in [1, 2, 3, 7, 100] {
        let ev = run(input, chunk);
        let msgs: Vec<_> = ev.iter().filter_map(|(_, m)| m.clone()).collect();
        assert_eq!(
            msgs,
            vec![
                b"a1 NOOP\r\n".to_vec(),
                b"A2 CAPABILITY\r\n".to_vec(),
                b"b LOGOUT\r\n".to_vec()
            ],
            "chunk {chunk}"
        );
    }
}

#[test]
fn synchronizing_literal_asks_for_continuation() {
    let ev = run(b"a LOGIN {5}\r\nalice {3}\r\npwd\r\n", 4);
    assert_eq!(ev[0].0, Event::Continue);
    assert_eq!(ev[1].0, Event::Continue);
    assert_eq!(ev[2].0, Event::Command);
    let msg = ev[2].1.clone().expect("message");
    assert_eq!(msg, b"a LOGIN {5}\r\nalice {3}\r\npwd\r\n");
    let cmd = decode_command(&msg).expect("decodes");
    assert_eq!(cmd.tag.inner(), "a");
    assert_eq!(cmd.body.name(), "LOGIN");
}

#[test]
fn non_synchronizing_literal_needs_no_continuation() {
    let ev = run(b"a LOGIN {5+}\r\nalice pwd\r\n", 100);
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].0, Event::Command);
}

#[test]
fn literal_bytes_are_never_commands() {
    // The literal contains something that looks like a command line.
    let ev = run(b"a LOGIN {11+}\r\nb LOGOUT\r\n pwd\r\nc NOOP\r\n", 3);
    let msgs: Vec<_> = ev.iter().filter_map(|(_, m)| m.clone()).collect();
    assert_eq!(msgs.len(), 2);
    assert!(msgs[0].starts_with(b"a LOGIN"));
    assert_eq!(msgs[1], b"c NOOP\r\n");
}

#[test]
fn oversized_sync_literal_is_refused_before_data() {
    let ev = run(b"a LOGIN {51}\r\nb NOOP\r\n", 100);
    assert_eq!(
        ev[0].0,
        Event::LiteralRefused {
            tag: Some("a".into()),
            length: 51,
            append: false
        }
    );
    // The next line is a fresh command.
    assert_eq!(ev[1].1.as_deref(), Some(&b"b NOOP\r\n"[..]));
}

#[test]
fn append_literal_uses_the_message_limit() {
    let ev = run(b"t append INBOX {900}\r\n", 100);
    assert_eq!(ev[0].0, Event::Continue);
    let ev = run(b"t APPEND INBOX {1001}\r\n", 100);
    assert_eq!(
        ev[0].0,
        Event::LiteralRefused {
            tag: Some("t".into()),
            length: 1001,
            append: true
        }
    );
}

#[test]
fn oversized_non_sync_literal_is_swallowed() {
    let mut input = b"a LOGIN {60+}\r\n".to_vec();
    input.extend_from_slice(&[b'x'; 60]);
    input.extend_from_slice(b" pwd\r\nb NOOP\r\n");
    for chunk in [1, 5, 1000] {
        let ev = run(&input, chunk);
        assert_eq!(
            ev[0].0,
            Event::Discarded {
                tag: Some("a".into()),
                why: Discard::LiteralTooBig
            }
        );
        assert_eq!(ev[1].1.as_deref(), Some(&b"b NOOP\r\n"[..]));
        assert_eq!(ev.len(), 2);
    }
}

#[test]
fn over_long_line_is_discarded_with_its_literal() {
    let mut input = b"a1 NOOP ".to_vec();
    input.extend_from_slice(&[b'y'; 200]);
    input.extend_from_slice(b" {8+}\r\nb LOGOUT\r\nc NOOP\r\n");
    for chunk in [1, 9, 64, 1000] {
        let ev = run(&input, chunk);
        assert_eq!(
            ev[0].0,
            Event::Discarded {
                tag: Some("a1".into()),
                why: Discard::LineTooLong
            },
            "chunk {chunk}"
        );
        assert_eq!(
            ev[1].1.as_deref(),
            Some(&b"c NOOP\r\n"[..]),
            "chunk {chunk}"
        );
        assert_eq!(ev.len(), 2);
    }
}

#[test]
fn message_total_is_capped() {
    // Eight literals of 50 bytes exceed the 400-byte message limit.
    let mut input = b"a ID (".to_vec();
    for i in 0..8 {
        input.extend_from_slice(format!("\"k{i}\" {{50+}}\r\n").as_bytes());
        input.extend_from_slice(&[b'v'; 50]);
        input.push(b' ');
    }
    input.extend_from_slice(b")\r\nb NOOP\r\n");
    let ev = run(&input, 33);
    assert_eq!(
        ev[0].0,
        Event::Discarded {
            tag: Some("a".into()),
            why: Discard::MessageTooBig
        }
    );
    assert_eq!(ev[1].1.as_deref(), Some(&b"b NOOP\r\n"[..]));
}

#[test]
fn raw_lines_for_sasl_and_idle() {
    let mut r = CommandReader::new(limits());
    r.push(b"dXNlcg==\r\nDONE\r\na NOOP\r\n");
    assert_eq!(r.next_line(100), Some(Ok(b"dXNlcg==".to_vec())));
    assert_eq!(r.next_line(100), Some(Ok(b"DONE".to_vec())));
    assert_eq!(r.next_event(), Some(Event::Command));
    assert_eq!(r.take_message(), b"a NOOP\r\n");
    assert_eq!(r.next_line(100), None);
}

#[test]
fn discard_buffered_drops_pipelined_plaintext() {
    let mut r = CommandReader::new(limits());
    r.push(b"a STARTTLS\r\nb LOGIN x y\r\n");
    assert_eq!(r.next_event(), Some(Event::Command));
    let _ = r.take_message();
    r.discard_buffered();
    assert_eq!(r.next_event(), None);
    assert_eq!(r.buffered(), 0);
}

#[test]
fn shrink_releases_large_buffers() {
    let mut r = CommandReader::new(FrameLimits::default());
    let mut input = b"a APPEND INBOX {100000+}\r\n".to_vec();
    input.extend_from_slice(&vec![b'z'; 100_000]);
    input.extend_from_slice(b"\r\n");
    r.push(&input);
    assert_eq!(r.next_event(), Some(Event::Command));
    let msg = r.take_message();
    assert!(decode_command(&msg).is_ok());
    drop(msg);
    r.shrink();
    assert!(r.capacity() <= 4096, "{}", r.capacity());
}

#[test]
fn decode_failures_keep_the_tag() {
    let f = decode_command(b"x1 FROBNICATE 1\r\n").expect_err("unknown command");
    assert_eq!(f.tag.as_deref(), Some("x1"));
    assert_eq!(f.command.as_deref(), Some("FROBNICATE"));
    let f = decode_command(b"* NOOP\r\n").expect_err("bad tag");
    assert_eq!(f.tag, None);
}

#[test]
fn literal_announcement_parsing() {
    assert_eq!(literal_announcement(b"a {5}"), Some((5, true)));
    assert_eq!(literal_announcement(b"a {5+}"), Some((5, false)));
    assert_eq!(literal_announcement(b"a {}"), None);
    assert_eq!(literal_announcement(b"a {+}"), None);
    assert_eq!(literal_announcement(b"a {99999999999}"), None);
    assert_eq!(literal_announcement(b"a {4294967296}"), None);
    assert_eq!(literal_announcement(b"a 5}"), None);
}

#[test]
fn raw_line_after_a_partial_scan() {
    // Fuzz finding: a raw line consumed after next_event had scanned part of it.
    let mut r = CommandReader::new(limits());
    r.push(b"'");
    assert_eq!(r.next_event(), None);
    r.push(b"\n");
    assert_eq!(r.next_line(64), Some(Ok(b"'".to_vec())));
    assert_eq!(r.next_event(), None);
    r.push(b"a NOOP\r\n");
    assert_eq!(r.next_event(), Some(Event::Command));
}

#[test]
fn abort_mode_ends_oversized_non_synchronizing_literals_unread() {
    let mut r = CommandReader::new(limits());
    r.set_abort_oversized(true);
    let mut input = b"a1 LOGIN {200+}\r\n".to_vec();
    input.extend_from_slice(&[b'x'; 200]);
    r.push(&input);
    assert_eq!(
        r.next_event(),
        Some(Event::Overflow {
            tag: Some("a1".into()),
            length: 200
        })
    );
    // Nothing of the literal was kept.
    assert!(r.capacity() <= input.len() + 64, "{}", r.capacity());
    // A literal announced by an over-long line ends it too.
    let mut r = CommandReader::new(limits());
    r.set_abort_oversized(true);
    let mut line = b"a2 LOGIN ".to_vec();
    line.extend_from_slice(&[b'y'; 600]);
    line.extend_from_slice(b" {10+}\r\n");
    r.push(&line);
    assert!(matches!(r.next_event(), Some(Event::Overflow { .. })));
    // Synchronizing literals are still refused before they are sent.
    let mut r = CommandReader::new(limits());
    r.set_abort_oversized(true);
    r.push(b"a3 LOGIN {200}\r\n");
    assert!(matches!(
        r.next_event(),
        Some(Event::LiteralRefused { length: 200, .. })
    ));
    // After set_limits the larger literal is taken.
    r.set_abort_oversized(false);
    r.set_limits(FrameLimits {
        max_literal: 1000,
        ..limits()
    });
    r.push(b"a4 LOGIN {200}\r\n");
    assert_eq!(r.next_event(), Some(Event::Continue));
}
