//! Fuzzes IMAP command framing and decoding: arbitrary client bytes, split into arbitrary
//! chunks, go through the framing layer (lines, literals, limits, raw SASL/IDLE lines) and
//! every complete message through imap-codec's command decoder; APPEND literals also go
//! through the ENVELOPE/BODYSTRUCTURE analysis. Checks that buffers stay bounded.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mailward_imap::framing::{CommandReader, Event, FrameLimits, decode_command};
use mailward_imap::imap_types::command::CommandBody;
use mailward_imap::imap_types::extensions::binary::LiteralOrLiteral8;
use mailward_imap::mime;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let limits = FrameLimits {
        max_line: 256,
        max_literal: 128,
        max_append_literal: 2048,
        max_message: 1024,
    };
    let chunk = usize::from(selector & 31) + 1;
    let raw_lines = selector & 32 != 0;
    let mut reader = CommandReader::new(limits);
    for part in rest.chunks(chunk) {
        reader.push(part);
        if raw_lines {
            // As during AUTHENTICATE or IDLE.
            while let Some(line) = reader.next_line(64) {
                if let Ok(l) = line {
                    assert!(l.len() <= 64);
                }
            }
        }
        while let Some(event) = reader.next_event() {
            if event == Event::Command {
                let msg = reader.take_message();
                assert!(msg.len() <= limits.max_message + limits.max_append_literal as usize);
                if let Ok(cmd) = decode_command(&msg) {
                    if let CommandBody::Append { message, .. } = &cmd.body {
                        let raw: &[u8] = match message {
                            LiteralOrLiteral8::Literal(l) => l.as_ref(),
                            LiteralOrLiteral8::Literal8(l) => l.data.as_ref(),
                        };
                        let _ = mime::summarize(raw);
                        let _ = mime::structure(raw);
                        let _ = mime::section(raw, None);
                    }
                }
            }
        }
        // Never more than a bounded amount buffered for a message being assembled.
        assert!(reader.capacity() <= 64 * 1024 + 4 * rest.len());
    }
});
