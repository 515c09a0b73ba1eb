//! SELECT, EXAMINE, CLOSE and UNSELECT: entering and leaving the selected state.

use imap_codec::imap_types::command::SelectParameter;
use imap_codec::imap_types::mailbox::Mailbox;

use super::mailbox::mailbox_name;
use super::{Result, Selected, Session, store_error};
use crate::respond::Reply;
use crate::wire;

impl Session {
    pub(crate) async fn handle_select(
        &mut self,
        mailbox: Mailbox<'_>,
        read_only: bool,
        parameters: Vec<SelectParameter>,
    ) -> Result<Reply> {
        let verb = if read_only { "EXAMINE" } else { "SELECT" };
        // A failed SELECT leaves no mailbox selected (RFC 3501 §6.3.1); a successful one
        // tells a CONDSTORE client the old mailbox is closed (RFC 7162 §3.2.11).
        let Some(auth) = self.authed() else {
            return Ok(Reply::bad(super::NOT_AUTHENTICATED));
        };
        let was_selected = auth.selected.take().is_some();
        if was_selected {
            self.out
                .extend_from_slice(b"* OK [CLOSED] Previous mailbox closed\r\n");
        }
        for p in &parameters {
            match p {
                SelectParameter::CondStore => self.condstore = true,
                _ => return Ok(Reply::bad("QRESYNC is not supported")),
            }
        }
        let Some(name) = mailbox_name(&mailbox) else {
            return Ok(Reply::no("Invalid mailbox name").code("CANNOT"));
        };
        let store = self.server.store.clone();
        let Some(auth) = self.authed() else {
            return Ok(Reply::bad(super::NOT_AUTHENTICATED));
        };
        let account = auth.account.id;
        // Mark everything up to now as seen: this SELECT reports the current state.
        auth.watch.borrow_and_update();
        let folder = match store.folder(account, &name).await {
            Ok(Some(f)) => f,
            Ok(None) => return Ok(Reply::no("No such mailbox").code("NONEXISTENT")),
            Err(e) => return Ok(store_error(e)),
        };
        let status = match store.status(folder.id).await {
            Ok(s) => s,
            Err(e) => return Ok(store_error(e)),
        };
        let metas = match store.messages(folder.id).await {
            Ok(m) => m,
            Err(e) => return Ok(store_error(e)),
        };
        let uids: Vec<u32> = metas.iter().map(|m| m.uid).collect();
        let first_unseen = metas.iter().position(|m| !m.flags.seen);
        let highest = metas
            .iter()
            .map(|m| m.modseq)
            .max()
            .unwrap_or(0)
            .max(status.highest_modseq);
        drop(metas);
        let out = &mut self.out;
        out.extend_from_slice(b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n");
        if read_only {
            out.extend_from_slice(b"* OK [PERMANENTFLAGS ()] No permanent flags permitted\r\n");
        } else {
            out.extend_from_slice(
                b"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags permitted\r\n",
            );
        }
        out.extend_from_slice(b"* ");
        wire::number(out, uids.len() as u64);
        out.extend_from_slice(b" EXISTS\r\n* 0 RECENT\r\n");
        if let Some(i) = first_unseen {
            out.extend_from_slice(b"* OK [UNSEEN ");
            wire::number(out, i as u64 + 1);
            out.extend_from_slice(b"] First unseen\r\n");
        }
        out.extend_from_slice(b"* OK [UIDVALIDITY ");
        wire::number(out, u64::from(status.uid_validity));
        out.extend_from_slice(b"] UIDs valid\r\n* OK [UIDNEXT ");
        wire::number(out, u64::from(status.uid_next));
        out.extend_from_slice(b"] Predicted next UID\r\n");
        out.extend_from_slice(b"* OK [HIGHESTMODSEQ ");
        wire::number(out, highest.max(1));
        out.extend_from_slice(b"] Highest\r\n");
        if let Some(auth) = self.authed() {
            auth.selected = Some(Selected {
                folder: folder.id,
                read_only,
                uids,
                recent: Vec::new(),
                last_modseq: highest,
                uid_next: status.uid_next,
                own: Vec::new(),
                gone: Vec::new(),
            });
        }
        let code = if read_only { "READ-ONLY" } else { "READ-WRITE" };
        Ok(Reply::ok(format!("{verb} completed")).code(code))
    }

    /// CLOSE (`expunge` true: silently removes `\Deleted` messages when read-write) and
    /// UNSELECT (RFC 3691).
    pub(crate) async fn handle_close(&mut self, expunge: bool) -> Reply {
        let store = self.server.store.clone();
        let Some(sel) = self.authed().and_then(|a| a.selected.take()) else {
            return Reply::bad(super::NOT_SELECTED);
        };
        if expunge
            && !sel.read_only
            && let Err(e) = store.expunge(sel.folder, None).await
        {
            return store_error(e);
        }
        Reply::ok(if expunge {
            "CLOSE completed"
        } else {
            "UNSELECT completed"
        })
    }
}
