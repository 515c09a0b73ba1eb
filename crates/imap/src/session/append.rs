//! APPEND (RFC 3501 §6.3.11) with the UIDPLUS `APPENDUID` code (RFC 4315). The framing
//! layer already refused literals over the size limit before they were sent, and a client
//! that disconnects mid-literal never gets here, so nothing half-written can be stored.

use imap_codec::imap_types::datetime::DateTime;
use imap_codec::imap_types::extensions::binary::LiteralOrLiteral8;
use imap_codec::imap_types::flag::Flag;
use imap_codec::imap_types::mailbox::Mailbox;
use mailward_mailstore::NewMessage;

use super::mailbox::mailbox_name;
use super::messages::to_flags;
use super::{Session, store_error};
use crate::respond::Reply;

impl Session {
    pub(crate) async fn handle_append(
        &mut self,
        mailbox: Mailbox<'_>,
        flags: &[Flag<'_>],
        date: Option<&DateTime>,
        message: LiteralOrLiteral8<'_>,
    ) -> Reply {
        let Some(account) = self.authed().map(|a| a.account.id) else {
            return Reply::bad(super::NOT_AUTHENTICATED);
        };
        let raw: &[u8] = match &message {
            LiteralOrLiteral8::Literal(l) => l.as_ref(),
            LiteralOrLiteral8::Literal8(_) => return Reply::bad("BINARY is not supported"),
        };
        if raw.is_empty() {
            return Reply::no("Empty messages are not stored").code("CANNOT");
        }
        if raw.len() > self.server.limits.max_message_size as usize {
            return Reply::no("Message too large").code("TOOBIG");
        }
        let flags = match to_flags(flags) {
            Ok(f) => f,
            Err(r) => return r,
        };
        let internal_date = match date {
            Some(d) => match to_time(d) {
                Some(t) => t,
                None => return Reply::bad("Invalid date-time"),
            },
            None => mailward_types::clock::now(),
        };
        let Some(name) = mailbox_name(&mailbox) else {
            return Reply::no("Invalid mailbox name").code("CANNOT");
        };
        let store = self.server.store.clone();
        let folder = match store.folder(account, &name).await {
            Ok(Some(f)) => f,
            Ok(None) => return Reply::no("No such mailbox").code("TRYCREATE"),
            Err(e) => return store_error(e),
        };
        match store
            .append(
                folder.id,
                NewMessage {
                    raw,
                    flags,
                    internal_date,
                },
            )
            .await
        {
            Ok(a) => Reply::ok("APPEND completed")
                .code(format!("APPENDUID {} {}", a.uid_validity, a.uid)),
            Err(e) => store_error(e),
        }
    }
}

/// An IMAP date-time as a `time` value with its zone.
pub(crate) fn to_time(d: &DateTime) -> Option<time::OffsetDateTime> {
    let c = d.as_ref();
    let offset = time::UtcOffset::from_whole_seconds(c.offset().local_minus_utc()).ok()?;
    let t = time::OffsetDateTime::from_unix_timestamp(c.timestamp()).ok()?;
    Some(t.to_offset(offset))
}
