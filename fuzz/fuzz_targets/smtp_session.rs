//! Fuzzes the SMTP submission protocol layer end to end: arbitrary bytes, fed in
//! arbitrary chunks, through line framing into the session state machine, with the socket
//! loop's part (authentication, recipient classification, delivery, STARTTLS) chosen by
//! the input. Checks that replies are CRLF-terminated, buffering stays bounded, a
//! delivered message never exceeds the size limit and has only CRLF line ends, and a
//! closed session stays closed.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mailward_sasl::{BearerError, BearerStatus};
use mailward_smtp::line::LineBuffer;
use mailward_smtp::session::{
    Action, AuthOutcome, DeliverOutcome, RcptOutcome, Session, SessionConfig,
};

const MAX_SIZE: u64 = 4096;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let mut session = Session::new(SessionConfig {
        hostname: "mail.example".into(),
        max_message_size: MAX_SIZE,
        max_recipients: 3,
        tls: selector & 1 != 0,
        starttls_available: selector & 2 != 0,
        basic_possible: selector & 4 != 0,
    });
    let mut lines = LineBuffer::new(session.max_line());
    let mut choice = selector;
    let chunk = usize::from(selector >> 4) * 3 + 1;
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
                        assert!(bytes.is_empty() || bytes.ends_with(b"\r\n"));
                        break;
                    }
                    Action::Close(_) => {
                        assert!(session.is_closed());
                        return;
                    }
                    Action::StartTls(bytes) => {
                        assert!(bytes.starts_with(b"220"));
                        lines.clear();
                        session.tls_started();
                        break;
                    }
                    Action::Authenticate(_) => session.auth_result(match choice % 4 {
                        0 => AuthOutcome::Success {
                            senders: vec!["a@b.example".into()],
                        },
                        1 => AuthOutcome::Denied,
                        2 => AuthOutcome::Unavailable,
                        _ => AuthOutcome::Bearer(BearerError {
                            status: BearerStatus::InsufficientScope,
                            scope: Some("SMTP.Send".into()),
                            openid_configuration: None,
                        }),
                    }),
                    Action::CheckRecipient(to) => {
                        assert!(to.contains('@'));
                        session.rcpt_result(match choice % 5 {
                            0 => RcptOutcome::Local,
                            1 => RcptOutcome::Remote,
                            2 => RcptOutcome::Unknown,
                            3 => RcptOutcome::NoRoute,
                            _ => RcptOutcome::Unavailable,
                        })
                    }
                    Action::Deliver(envelope) => {
                        assert!(envelope.data.len() as u64 <= MAX_SIZE);
                        assert!(!envelope.recipients.is_empty());
                        assert!(envelope.data.is_empty() || envelope.data.ends_with(b"\r\n"));
                        session.deliver_result(match choice % 3 {
                            0 => DeliverOutcome::Stored,
                            1 => DeliverOutcome::TooLarge,
                            _ => DeliverOutcome::Failed,
                        })
                    }
                };
            }
        }
    }
});
