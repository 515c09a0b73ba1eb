//! Fuzzes every SASL mechanism with arbitrary initial responses and client lines, through
//! both the wire (base64) and the decoded entry points, including bearer failures.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mailward_sasl::{BearerError, BearerStatus, Exchange, Mechanism, Step};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let mechanism = Mechanism::ALL[usize::from(selector & 3)];
    let decoded = selector & 4 != 0;
    let with_initial = selector & 8 != 0;
    let fail_bearer = selector & 16 != 0;
    // Newline-separated messages: the first is the initial response when present.
    let mut parts = rest.split(|&b| b == b'\n');
    let initial = if with_initial { parts.next() } else { None };
    let (mut exchange, mut step) = if decoded {
        Exchange::start_decoded(mechanism, initial)
    } else {
        Exchange::start(mechanism, initial)
    };
    for part in parts {
        if let Step::Done(_) = step {
            if fail_bearer {
                step = exchange.bearer_failure(BearerError {
                    status: BearerStatus::InvalidToken,
                    scope: Some("IMAP.AccessAsUser.All".into()),
                    openid_configuration: None,
                });
                assert!(matches!(step, Step::Challenge(_) | Step::Failed(_)));
            }
        }
        let finished = exchange.is_finished();
        step = if decoded {
            exchange.step_decoded(part)
        } else {
            exchange.step(part)
        };
        if finished {
            assert!(matches!(step, Step::Failed(_)));
        }
    }
});
