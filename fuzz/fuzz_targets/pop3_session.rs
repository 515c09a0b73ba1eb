//! Fuzzes the POP3 protocol layer end to end: arbitrary bytes, fed in arbitrary chunks,
//! through line framing into the session state machine, with the socket loop's part
//! (authentication outcomes, message bodies, UPDATE results, STLS) chosen by the input.
//! Checks that every reply is CRLF-terminated, buffering stays bounded, and a closed
//! session stays closed.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mailward_pop3::line::LineBuffer;
use mailward_pop3::session::{
    Action, AuthOutcome, DropEntry, Maildrop, Session, SessionConfig, retrieve_reply,
};
use mailward_sasl::{BearerError, BearerStatus};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let mut session = Session::new(SessionConfig {
        tls: selector & 1 != 0,
        stls_available: selector & 2 != 0,
        basic_possible: selector & 4 != 0,
    });
    let mut lines = LineBuffer::new(session.max_line());
    let mut choice = selector;
    let chunk = usize::from(selector >> 4) + 1;
    for piece in rest.chunks(chunk) {
        lines.feed(piece);
        loop {
            lines.set_max(session.max_line());
            assert!(lines.pending().len() <= session.max_line() + chunk + 2);
            let Some(line) = lines.next_line() else { break };
            let mut action = session.handle(line);
            loop {
                choice = choice.wrapping_mul(31).wrapping_add(7);
                action = match action {
                    Action::Send(bytes) => {
                        assert!(bytes.ends_with(b"\r\n"));
                        break;
                    }
                    Action::Close(_) => {
                        assert!(session.is_closed());
                        return;
                    }
                    Action::StartTls(bytes) => {
                        assert!(bytes.starts_with(b"+OK"));
                        lines.clear();
                        session.tls_started();
                        break;
                    }
                    Action::Authenticate(_) => session.auth_result(match choice % 4 {
                        0 => AuthOutcome::Success(Maildrop::new(
                            7,
                            (1..=u32::from(choice % 5))
                                .map(|uid| DropEntry {
                                    uid,
                                    size: u64::from(uid) * 10,
                                })
                                .collect(),
                        )),
                        1 => AuthOutcome::Denied,
                        2 => AuthOutcome::Unavailable,
                        _ => AuthOutcome::Bearer(BearerError {
                            status: BearerStatus::InvalidToken,
                            scope: Some("POP.AccessAsUser.All".into()),
                            openid_configuration: None,
                        }),
                    }),
                    Action::Retrieve { top, .. } => {
                        let reply = retrieve_reply(piece, top);
                        assert!(reply.ends_with(b".\r\n"));
                        break;
                    }
                    Action::Update { .. } => session.update_result(choice % 2 == 0),
                };
            }
        }
    }
});
