//! SEARCH and UID SEARCH (RFC 3501 §6.4.4): metadata keys from one store read; header
//! keys from the summary cache; BODY/TEXT/HEADER read each candidate's body.

use imap_codec::imap_types::search::SearchKey;
use mailward_mailstore::StoreError;
use std::sync::Arc;

use super::Session;
use super::store_error;
use crate::mime;
use crate::respond::Reply;
use crate::search::{Candidate, Scope, matches_all, needs};
use crate::wire;

impl Session {
    pub(crate) async fn handle_search(
        &mut self,
        charset: Option<&str>,
        keys: &[SearchKey<'_>],
        uid: bool,
    ) -> Reply {
        if let Some(c) = charset
            && !c.eq_ignore_ascii_case("UTF-8")
            && !c.eq_ignore_ascii_case("US-ASCII")
        {
            return Reply::no("Unsupported charset").code("BADCHARSET (UTF-8 US-ASCII)");
        }
        if keys.iter().any(uses_modseq) {
            self.condstore = true;
        }
        let store = self.server.store.clone();
        let Some(sel) = self.selected() else {
            return Reply::bad(super::NOT_SELECTED);
        };
        let folder = sel.folder;
        let metas = match store.messages(folder).await {
            Ok(m) => m,
            Err(e) => return store_error(e),
        };
        let need = needs(keys);
        let Some(sel) = self.selected() else {
            return Reply::bad(super::NOT_SELECTED);
        };
        let scope = Scope {
            count: sel.uids.len() as u32,
            max_uid: sel.uids.last().copied().unwrap_or(0),
        };
        // Only messages the client knows (new ones get their EXISTS first).
        let known: Vec<(u32, usize)> = metas
            .iter()
            .enumerate()
            .filter_map(|(i, m)| {
                sel.uids
                    .binary_search(&m.uid)
                    .ok()
                    .map(|p| (p as u32 + 1, i))
            })
            .collect();
        let recent: Vec<bool> = known
            .iter()
            .map(|&(_, i)| sel.is_recent(metas[i].uid))
            .collect();
        let summaries: Vec<Option<Arc<mime::Summary>>> = if need.summary {
            self.server
                .cache
                .get_many(known.iter().map(|&(_, i)| &metas[i].blob))
        } else {
            vec![None; known.len()]
        };
        let mut hits: Vec<u32> = Vec::new();
        let mut max_modseq = 0u64;
        for (k, &(seq, i)) in known.iter().enumerate() {
            let m = &metas[i];
            let mut summary = summaries[k].clone();
            let mut raw = None;
            if need.raw || (need.summary && summary.is_none()) {
                match store.body(&m.blob).await {
                    Ok(r) => {
                        if need.summary && summary.is_none() {
                            summary = Some(
                                self.server
                                    .cache
                                    .insert(m.blob.clone(), Arc::new(mime::summarize(&r))),
                            );
                        }
                        raw = Some(r);
                    }
                    Err(StoreError::NotFound(_)) => continue,
                    Err(e) => return store_error(e),
                }
            }
            let c = Candidate::new(seq, m, recent[k], summary.as_deref(), raw.as_deref());
            if matches_all(keys, &c, scope) {
                hits.push(if uid { m.uid } else { seq });
                max_modseq = max_modseq.max(m.modseq);
            }
        }
        hits.sort_unstable();
        self.out.extend_from_slice(b"* SEARCH");
        for h in &hits {
            self.out.push(b' ');
            wire::number(&mut self.out, u64::from(*h));
        }
        if keys.iter().any(uses_modseq) && !hits.is_empty() {
            // RFC 7162 §3.1.5.
            self.out.extend_from_slice(b" (MODSEQ ");
            wire::number(&mut self.out, max_modseq);
            self.out.push(b')');
        }
        self.out.extend_from_slice(b"\r\n");
        Reply::ok("SEARCH completed")
    }
}

fn uses_modseq(k: &SearchKey<'_>) -> bool {
    match k {
        SearchKey::ModSequence { .. } => true,
        SearchKey::And(v) => v.as_ref().iter().any(uses_modseq),
        SearchKey::Not(k) => uses_modseq(k),
        SearchKey::Or(a, b) => uses_modseq(a) || uses_modseq(b),
        _ => false,
    }
}
