//! IDLE (RFC 2177): after the continuation, changes to the account (new mail, flags,
//! expunges by other sessions) are pushed as they happen until the client sends `DONE`.
//! The wake-up comes from [`mailward_mailstore::MailStore::watch`].

use tokio::io::AsyncReadExt;

use super::{Result, Session, State};
use crate::respond::{self, Reply};

/// Longest line accepted while idling (`DONE` is four bytes).
const MAX_IDLE_LINE: usize = 1024;

enum Wake {
    Revoked,
    Changed,
    Read(std::io::Result<usize>),
    Timeout,
}

impl Session {
    pub(crate) async fn handle_idle(&mut self, _tag: &str) -> Result<Reply> {
        // Report what is pending before idling.
        if let Err(e) = self.refresh(true, false).await {
            tracing::warn!(error = %e, "IMAP refresh before IDLE failed");
        }
        self.out.extend_from_slice(b"+ idling\r\n");
        self.flush().await?;
        let timeout = self.server.limits.idle_timeout;
        loop {
            match self.reader.next_line(MAX_IDLE_LINE) {
                Some(Ok(line)) if line.eq_ignore_ascii_case(b"DONE") => {
                    return Ok(Reply::ok("IDLE terminated"));
                }
                Some(_) => return Ok(Reply::bad("Expected DONE")),
                None => {}
            }
            self.reader.shrink();
            let wake = {
                let (watch, revocation) = match &mut self.state {
                    State::Authenticated(a) => (Some(&mut a.watch), Some(&mut a.revocation)),
                    _ => (None, None),
                };
                let input = self.reader.input_mut();
                input.reserve(64);
                let stream = &mut self.stream;
                tokio::select! {
                    biased;
                    () = super::revoked(revocation) => Wake::Revoked,
                    r = async {
                        match watch {
                            Some(w) => {
                                if w.changed().await.is_err() {
                                    std::future::pending::<()>().await;
                                }
                            }
                            None => std::future::pending::<()>().await,
                        }
                    } => {
                        let () = r;
                        Wake::Changed
                    }
                    r = stream.read_buf(input) => Wake::Read(r),
                    _ = tokio::time::sleep(timeout) => Wake::Timeout,
                }
            };
            match wake {
                Wake::Revoked => {
                    self.end_revoked().await;
                    return Err(super::Gone);
                }
                Wake::Changed => {
                    if let Err(e) = self.refresh(true, true).await {
                        tracing::warn!(error = %e, "IMAP refresh during IDLE failed");
                    }
                    self.flush().await?;
                }
                Wake::Read(Ok(0)) | Wake::Read(Err(_)) => return Err(super::Gone),
                Wake::Read(Ok(_)) => {}
                Wake::Timeout => {
                    respond::bye(&mut self.out, "Autologout; idle for too long");
                    self.flush().await?;
                    return Err(super::Gone);
                }
            }
        }
    }
}
