//! STORE, COPY, MOVE and EXPUNGE with their UID forms, UIDPLUS `COPYUID` (RFC 4315),
//! MOVE (RFC 6851) and CONDSTORE's `UNCHANGEDSINCE` (RFC 7162).

use imap_codec::imap_types::command::StoreModifier;
use imap_codec::imap_types::flag::{Flag, StoreResponse, StoreType};
use imap_codec::imap_types::mailbox::Mailbox;
use imap_codec::imap_types::sequence::SequenceSet;
use mailward_mailstore::{FlagOp, Flags};

use super::mailbox::mailbox_name;
use super::{Selected, Session, store_error};
use crate::respond::Reply;
use crate::{seqset, wire};

/// Store flags from IMAP flags. Unknown system flags (`\Foo`) are refused.
pub(crate) fn to_flags(flags: &[Flag<'_>]) -> Result<Flags, Reply> {
    let mut f = Flags::default();
    for flag in flags {
        match flag {
            Flag::Seen => f.seen = true,
            Flag::Answered => f.answered = true,
            Flag::Flagged => f.flagged = true,
            Flag::Deleted => f.deleted = true,
            Flag::Draft => f.draft = true,
            Flag::Keyword(k) => {
                let k = k.inner();
                if !f.keywords.iter().any(|x| x.eq_ignore_ascii_case(k)) {
                    f.keywords.push(k.to_owned());
                }
            }
            Flag::Extension(_) => return Err(Reply::bad("Unsupported system flag")),
        }
    }
    if f.keywords.len() > 64 {
        return Err(Reply::no("Too many keywords").code("LIMIT"));
    }
    f.keywords.sort_by_key(|k| k.to_ascii_lowercase());
    Ok(f)
}

/// Positions in the selected mailbox a set names, or the BAD answer.
pub(crate) fn positions(sel: &Selected, set: &SequenceSet, uid: bool) -> Result<Vec<usize>, Reply> {
    if uid {
        Ok(seqset::by_uid(set, &sel.uids))
    } else {
        seqset::by_seq(set, sel.uids.len())
            .map_err(|_| Reply::bad("Invalid message sequence number"))
    }
}

impl Session {
    pub(crate) async fn handle_store(
        &mut self,
        set: &SequenceSet,
        kind: StoreType,
        response: StoreResponse,
        flags: &[Flag<'_>],
        uid: bool,
        modifiers: &[StoreModifier],
    ) -> Reply {
        let condstore_now = !modifiers.is_empty();
        if condstore_now {
            self.condstore = true;
        }
        let unchanged_since = modifiers
            .iter()
            .map(|StoreModifier::UnchangedSince(n)| *n)
            .next();
        let store = self.server.store.clone();
        let condstore = self.condstore;
        let Some(sel) = self.selected() else {
            return Reply::bad(super::NOT_SELECTED);
        };
        if sel.read_only {
            return Reply::no("Mailbox is read-only").code("READ-ONLY");
        }
        let pos = match positions(sel, set, uid) {
            Ok(p) => p,
            Err(r) => return r,
        };
        let flags = match to_flags(flags) {
            Ok(f) => f,
            Err(r) => return r,
        };
        let op = match kind {
            StoreType::Add => FlagOp::Add,
            StoreType::Remove => FlagOp::Remove,
            StoreType::Replace => FlagOp::Replace,
        };
        let uids: Vec<u32> = pos.iter().map(|&p| sel.uids[p]).collect();
        let folder = sel.folder;
        if uids.is_empty() {
            return Reply::ok("STORE completed");
        }
        let update = match store
            .store_flags(folder, &uids, op, &flags, unchanged_since)
            .await
        {
            Ok(u) => u,
            Err(e) => return store_error(e),
        };
        let silent = matches!(response, StoreResponse::Silent);
        let mut out = std::mem::take(&mut self.out);
        if let Some(sel) = self.selected_mut() {
            for (u, f, modseq) in &update.updated {
                sel.own.push((*u, *modseq));
                // RFC 7162 §3.2: with UNCHANGEDSINCE the FETCH is sent even for .SILENT.
                if silent && unchanged_since.is_none() {
                    continue;
                }
                let Ok(p) = sel.uids.binary_search(u) else {
                    continue;
                };
                out.extend_from_slice(b"* ");
                wire::number(&mut out, p as u64 + 1);
                out.extend_from_slice(b" FETCH (");
                if uid {
                    out.extend_from_slice(b"UID ");
                    wire::number(&mut out, u64::from(*u));
                    out.push(b' ');
                }
                if !silent {
                    out.extend_from_slice(b"FLAGS ");
                    wire::flag_list(&mut out, f, sel.is_recent(*u));
                }
                if condstore {
                    if !silent {
                        out.push(b' ');
                    }
                    out.extend_from_slice(b"MODSEQ (");
                    wire::number(&mut out, *modseq);
                    out.push(b')');
                }
                if out.ends_with(b" ") {
                    out.pop();
                }
                out.extend_from_slice(b")\r\n");
            }
        }
        self.out = out;
        if update.conflicts.is_empty() {
            return Reply::ok("STORE completed");
        }
        // RFC 7162 §3.2: MODIFIED lists the messages left alone (UIDs for UID STORE,
        // sequence numbers otherwise).
        let Some(sel) = self.selected() else {
            return Reply::ok("STORE completed");
        };
        let mut nums: Vec<u32> = if uid {
            update.conflicts.clone()
        } else {
            update
                .conflicts
                .iter()
                .filter_map(|u| sel.uids.binary_search(u).ok().map(|p| p as u32 + 1))
                .collect()
        };
        nums.sort_unstable();
        Reply::ok("Conditional STORE failed for some messages")
            .code(format!("MODIFIED {}", seqset::compact(&nums)))
    }

    pub(crate) async fn handle_copy(
        &mut self,
        set: &SequenceSet,
        mailbox: Mailbox<'_>,
        uid: bool,
        moving: bool,
    ) -> Reply {
        let verb = if moving { "MOVE" } else { "COPY" };
        let store = self.server.store.clone();
        let Some(account) = self.authed().map(|a| a.account.id) else {
            return Reply::bad(super::NOT_AUTHENTICATED);
        };
        let Some(name) = mailbox_name(&mailbox) else {
            return Reply::no("Invalid mailbox name").code("CANNOT");
        };
        let Some(sel) = self.selected() else {
            return Reply::bad(super::NOT_SELECTED);
        };
        if moving && sel.read_only {
            return Reply::no("Mailbox is read-only").code("READ-ONLY");
        }
        let pos = match positions(sel, set, uid) {
            Ok(p) => p,
            Err(r) => return r,
        };
        let uids: Vec<u32> = pos.iter().map(|&p| sel.uids[p]).collect();
        let from = sel.folder;
        let target = match store.folder(account, &name).await {
            Ok(Some(f)) => f,
            Ok(None) => return Reply::no("No such mailbox").code("TRYCREATE"),
            Err(e) => return store_error(e),
        };
        if uids.is_empty() {
            return Reply::ok(format!("{verb} completed"));
        }
        if moving && target.id == from {
            return Reply::no("Cannot move messages into the same mailbox").code("CANNOT");
        }
        let copied = if moving {
            store.move_messages(from, &uids, target.id).await
        } else {
            store.copy(from, &uids, target.id).await
        };
        let copied = match copied {
            Ok(c) => c,
            Err(e) => return store_error(e),
        };
        let code = if copied.pairs.is_empty() {
            None
        } else {
            let src: Vec<u32> = copied.pairs.iter().map(|p| p.0).collect();
            let dst: Vec<u32> = copied.pairs.iter().map(|p| p.1).collect();
            // COPYUID pairs the two sets in order, so they are listed unsorted-safe: the
            // source is ascending and the destination follows it.
            Some(format!(
                "COPYUID {} {} {}",
                copied.uid_validity,
                seqset::compact(&src),
                seqset::compact(&dst)
            ))
        };
        if !moving {
            let r = Reply::ok("COPY completed");
            return match code {
                Some(c) => r.code(c),
                None => r,
            };
        }
        // RFC 6851 §4.3: COPYUID in an untagged OK before the EXPUNGEs.
        if let Some(c) = &code {
            crate::respond::status(
                &mut self.out,
                None,
                crate::respond::Kind::Ok,
                Some(c),
                "Moved",
            );
        }
        let moved: Vec<u32> = copied.pairs.iter().map(|p| p.0).collect();
        self.expunged(&moved);
        Reply::ok("MOVE completed")
    }

    /// Sends EXPUNGE for `uids` (removed by this session) and drops them from the map.
    pub(crate) fn expunged(&mut self, uids: &[u32]) {
        let mut out = std::mem::take(&mut self.out);
        if let Some(sel) = self.selected_mut() {
            super::remove_uids(sel, uids, &mut out);
        }
        self.out = out;
    }

    pub(crate) async fn handle_expunge(&mut self, set: Option<&SequenceSet>) -> Reply {
        let store = self.server.store.clone();
        let Some(sel) = self.selected() else {
            return Reply::bad(super::NOT_SELECTED);
        };
        if sel.read_only {
            return Reply::no("Mailbox is read-only").code("READ-ONLY");
        }
        let folder = sel.folder;
        let restrict: Option<Vec<u32>> = set.map(|s| {
            seqset::by_uid(s, &sel.uids)
                .into_iter()
                .map(|p| sel.uids[p])
                .collect()
        });
        if restrict.as_ref().is_some_and(Vec::is_empty) {
            return Reply::ok("EXPUNGE completed");
        }
        match store.expunge(folder, restrict.as_deref()).await {
            Ok(removed) => {
                self.expunged(&removed);
                Reply::ok("EXPUNGE completed")
            }
            Err(e) => store_error(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_from_imap() {
        let flags = [
            Flag::Seen,
            Flag::keyword("Work".try_into().expect("atom")),
            Flag::keyword("work".try_into().expect("atom")),
            Flag::Deleted,
        ];
        let f = to_flags(&flags).expect("valid");
        assert!(f.seen && f.deleted && !f.flagged);
        assert_eq!(f.keywords, vec!["Work".to_owned()]);
        let bad = [Flag::system("Foo".try_into().expect("atom"))];
        assert!(to_flags(&bad).is_err());
    }
}
