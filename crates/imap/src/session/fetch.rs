//! FETCH and UID FETCH (RFC 3501 §6.4.5), with CONDSTORE's MODSEQ item and CHANGEDSINCE
//! modifier (RFC 7162).
//!
//! The hot path — `FETCH 1:* (FLAGS ENVELOPE)` over a large folder — reads the folder's
//! metadata in one store call, takes ENVELOPE text from the shared summary cache (one lock
//! for all messages) and writes every line into one buffer that is flushed in large chunks.
//! Bodies are read only for what needs them (cache misses, BODY[...], RFC822*), a few at a
//! time and in order, so memory stays bounded by the flush threshold plus those bodies.

use futures::StreamExt as _;
use imap_codec::imap_types::command::FetchModifier;
use imap_codec::imap_types::core::AString;
use imap_codec::imap_types::fetch::{MacroOrMessageDataItemNames, MessageDataItemName, Section};
use imap_codec::imap_types::sequence::SequenceSet;
use mailward_mailstore::{FlagOp, Flags, MessageMeta, StoreError};
use std::sync::Arc;

use super::messages::positions;
use super::{FLUSH_AT, Result, Session, store_error};
use crate::mime::{self, Summary};
use crate::respond::Reply;
use crate::wire;

/// Bodies read concurrently while fetching.
const PREFETCH: usize = 8;

/// What the items need per message.
#[derive(Debug, Clone, Copy)]
struct Need {
    summary: bool,
    structure: bool,
    raw: bool,
}

/// Loads what one message needs: its body when a section is asked for or the summary
/// (or its BODYSTRUCTURE) is not cached yet.
async fn load(
    server: Arc<crate::server::ImapServer>,
    blob: mailward_mailstore::BlobId,
    summary: Option<Arc<Summary>>,
    need: Need,
) -> std::result::Result<Loaded, StoreError> {
    let need_raw = need.raw
        || (need.summary && summary.is_none())
        || (need.structure && summary.as_ref().is_none_or(|s| s.structure.get().is_none()));
    if !need_raw {
        return Ok(Loaded { summary, raw: None });
    }
    let raw = server.store.body(&blob).await?;
    let summary = if need.summary {
        let s = match summary {
            Some(s) => s,
            None => server.cache.insert(blob, Arc::new(mime::summarize(&raw))),
        };
        if need.structure {
            s.structure.get_or_init(|| mime::structure(&raw));
        }
        Some(s)
    } else {
        None
    };
    Ok(Loaded {
        summary,
        raw: need.raw.then_some(raw),
    })
}

/// One requested item, normalised.
#[derive(Debug, Clone)]
enum Item {
    Flags,
    Uid,
    InternalDate,
    Size,
    Envelope,
    Body,
    BodyStructure,
    ModSeq,
    /// RFC822, RFC822.HEADER, RFC822.TEXT and BODY[...]: `label` is what the response
    /// names it.
    Section {
        label: Vec<u8>,
        section: Option<Section<'static>>,
        partial: Option<(u32, u32)>,
        /// Whether fetching it sets `\Seen`.
        sets_seen: bool,
    },
}

impl Item {
    fn needs_raw(&self) -> bool {
        matches!(self, Item::Section { .. })
    }
}

fn items_of(names: MacroOrMessageDataItemNames<'_>) -> std::result::Result<Vec<Item>, Reply> {
    let names = match names {
        MacroOrMessageDataItemNames::Macro(m) => m
            .expand()
            .into_iter()
            .map(imap_codec::imap_types::IntoStatic::into_static)
            .collect(),
        MacroOrMessageDataItemNames::MessageDataItemNames(v) => v
            .into_iter()
            .map(imap_codec::imap_types::IntoStatic::into_static)
            .collect::<Vec<MessageDataItemName<'static>>>(),
    };
    let mut items = Vec::with_capacity(names.len());
    for n in names {
        items.push(match n {
            MessageDataItemName::Flags => Item::Flags,
            MessageDataItemName::Uid => Item::Uid,
            MessageDataItemName::InternalDate => Item::InternalDate,
            MessageDataItemName::Rfc822Size => Item::Size,
            MessageDataItemName::Envelope => Item::Envelope,
            MessageDataItemName::Body => Item::Body,
            MessageDataItemName::BodyStructure => Item::BodyStructure,
            MessageDataItemName::ModSeq => Item::ModSeq,
            MessageDataItemName::Rfc822 => Item::Section {
                label: b"RFC822".to_vec(),
                section: None,
                partial: None,
                sets_seen: true,
            },
            MessageDataItemName::Rfc822Header => Item::Section {
                label: b"RFC822.HEADER".to_vec(),
                section: Some(Section::Header(None)),
                partial: None,
                sets_seen: false,
            },
            MessageDataItemName::Rfc822Text => Item::Section {
                label: b"RFC822.TEXT".to_vec(),
                section: Some(Section::Text(None)),
                partial: None,
                sets_seen: true,
            },
            MessageDataItemName::BodyExt {
                section,
                partial,
                peek,
            } => {
                let mut label = b"BODY[".to_vec();
                if let Some(s) = &section {
                    write_section(&mut label, s);
                }
                label.push(b']');
                if let Some((origin, _)) = partial {
                    label.push(b'<');
                    wire::number(&mut label, u64::from(origin));
                    label.push(b'>');
                }
                Item::Section {
                    label,
                    section,
                    partial: partial.map(|(o, n)| (o, n.get())),
                    sets_seen: !peek,
                }
            }
            MessageDataItemName::Binary { .. } | MessageDataItemName::BinarySize { .. } => {
                return Err(Reply::bad("BINARY is not supported"));
            }
        });
    }
    Ok(items)
}

/// The section text as the response repeats it (`1.2.HEADER.FIELDS (A B)`).
fn write_section(out: &mut Vec<u8>, s: &Section<'_>) {
    let part = |out: &mut Vec<u8>, p: &imap_codec::imap_types::fetch::Part| {
        for (i, n) in p.0.as_ref().iter().enumerate() {
            if i > 0 {
                out.push(b'.');
            }
            wire::number(out, u64::from(n.get()));
        }
    };
    let names = |out: &mut Vec<u8>, v: &[AString<'_>]| {
        out.extend_from_slice(b" (");
        for (i, n) in v.iter().enumerate() {
            if i > 0 {
                out.push(b' ');
            }
            let b: &[u8] = n.as_ref();
            if !b.is_empty()
                && b.iter()
                    .all(|&c| c.is_ascii_graphic() && !b"(){%*\"\\]".contains(&c))
            {
                out.extend_from_slice(b);
            } else {
                wire::string(out, b);
            }
        }
        out.push(b')');
    };
    let prefixed = |out: &mut Vec<u8>, p: &Option<imap_codec::imap_types::fetch::Part>| {
        if let Some(p) = p {
            part(out, p);
            out.push(b'.');
        }
    };
    match s {
        Section::Part(p) => part(out, p),
        Section::Header(p) => {
            prefixed(out, p);
            out.extend_from_slice(b"HEADER");
        }
        Section::HeaderFields(p, v) => {
            prefixed(out, p);
            out.extend_from_slice(b"HEADER.FIELDS");
            names(out, v.as_ref());
        }
        Section::HeaderFieldsNot(p, v) => {
            prefixed(out, p);
            out.extend_from_slice(b"HEADER.FIELDS.NOT");
            names(out, v.as_ref());
        }
        Section::Text(p) => {
            prefixed(out, p);
            out.extend_from_slice(b"TEXT");
        }
        Section::Mime(p) => {
            part(out, p);
            out.extend_from_slice(b".MIME");
        }
    }
}

/// What one message needs loaded before its line can be written.
struct Loaded {
    summary: Option<Arc<Summary>>,
    raw: Option<Vec<u8>>,
}

impl Session {
    pub(crate) async fn handle_fetch(
        &mut self,
        set: &SequenceSet,
        names: MacroOrMessageDataItemNames<'_>,
        uid: bool,
        modifiers: &[FetchModifier],
    ) -> Result<Reply> {
        let mut items = match items_of(names) {
            Ok(i) => i,
            Err(r) => return Ok(r),
        };
        let mut changed_since = None;
        for m in modifiers {
            match m {
                FetchModifier::ChangedSince(n) => changed_since = Some(n.get()),
                FetchModifier::Vanished => return Ok(Reply::bad("QRESYNC is not supported")),
            }
        }
        if changed_since.is_some() || items.iter().any(|i| matches!(i, Item::ModSeq)) {
            self.condstore = true;
        }
        if changed_since.is_some() && !items.iter().any(|i| matches!(i, Item::ModSeq)) {
            items.push(Item::ModSeq);
        }
        if uid && !items.iter().any(|i| matches!(i, Item::Uid)) {
            items.insert(0, Item::Uid);
        }
        let store = self.server.store.clone();
        let Some(sel) = self.selected() else {
            return Ok(Reply::bad(super::NOT_SELECTED));
        };
        let pos = match positions(sel, set, uid) {
            Ok(p) => p,
            Err(r) => return Ok(r),
        };
        if pos.is_empty() {
            return Ok(Reply::ok("FETCH completed"));
        }
        let folder = sel.folder;
        let read_only = sel.read_only;
        let wanted: Vec<u32> = pos.iter().map(|&p| sel.uids[p]).collect();
        let all = pos.len() == sel.uids.len();
        let metas = if all {
            store.messages(folder).await
        } else {
            store.messages_by_uid(folder, &wanted).await
        };
        let mut metas = match metas {
            Ok(m) => m,
            Err(e) => return Ok(store_error(e)),
        };
        if !all {
            // messages_by_uid returns UID order; nothing else to do.
        } else {
            metas.retain(|m| wanted.binary_search(&m.uid).is_ok());
        }
        if let Some(since) = changed_since {
            metas.retain(|m| m.modseq > since);
        }

        // Setting \Seen as a side effect (RFC 3501 §6.4.5), before writing, so the FLAGS
        // written are the new ones.
        let sets_seen = !read_only
            && items.iter().any(|i| {
                matches!(
                    i,
                    Item::Section {
                        sets_seen: true,
                        ..
                    }
                )
            });
        let mut seen_changed = Vec::new();
        if sets_seen {
            let unseen: Vec<u32> = metas
                .iter()
                .filter(|m| !m.flags.seen)
                .map(|m| m.uid)
                .collect();
            if !unseen.is_empty() {
                let seen = Flags {
                    seen: true,
                    ..Flags::default()
                };
                match store
                    .store_flags(folder, &unseen, FlagOp::Add, &seen, None)
                    .await
                {
                    Ok(update) => {
                        for (u, f, modseq) in update.updated {
                            if let Ok(i) = metas.binary_search_by_key(&u, |m| m.uid) {
                                metas[i].flags = f;
                                metas[i].modseq = modseq;
                            }
                            seen_changed.push(u);
                            if let Some(sel) = self.selected_mut() {
                                sel.own.push((u, modseq));
                            }
                        }
                    }
                    Err(e) => return Ok(store_error(e)),
                }
            }
        }
        seen_changed.sort_unstable();
        let add_flags = !seen_changed.is_empty() && !items.iter().any(|i| matches!(i, Item::Flags));

        let need_summary = items
            .iter()
            .any(|i| matches!(i, Item::Envelope | Item::Body | Item::BodyStructure));
        let need_structure = items
            .iter()
            .any(|i| matches!(i, Item::Body | Item::BodyStructure));
        let need_raw_always = items.iter().any(Item::needs_raw);
        let cached: Vec<Option<Arc<Summary>>> = if need_summary {
            self.server.cache.get_many(metas.iter().map(|m| &m.blob))
        } else {
            vec![None; metas.len()]
        };

        let need = Need {
            summary: need_summary,
            structure: need_structure,
            raw: need_raw_always,
        };
        let loads: Vec<_> = metas
            .iter()
            .zip(cached)
            .map(|(m, summary)| load(self.server.clone(), m.blob.clone(), summary, need))
            .collect();
        let mut loads = futures::stream::iter(loads).buffered(PREFETCH);
        let mut i = 0;
        while let Some(loaded) = loads.next().await {
            let m = &metas[i];
            i += 1;
            let loaded = match loaded {
                Ok(l) => l,
                Err(StoreError::NotFound(_)) => continue,
                Err(e) => return Ok(store_error(e)),
            };
            let Some(sel) = self.selected() else {
                return Ok(Reply::bad(super::NOT_SELECTED));
            };
            let Ok(p) = sel.uids.binary_search(&m.uid) else {
                continue;
            };
            let recent = sel.is_recent(m.uid);
            let mut out = std::mem::take(&mut self.out);
            write_message(
                &mut out,
                p as u32 + 1,
                m,
                recent,
                &items,
                &loaded,
                add_flags && seen_changed.binary_search(&m.uid).is_ok(),
            );
            self.out = out;
            if self.out.len() > FLUSH_AT {
                self.flush().await?;
            }
        }
        Ok(Reply::ok("FETCH completed"))
    }
}

fn write_message(
    out: &mut Vec<u8>,
    seq: u32,
    m: &MessageMeta,
    recent: bool,
    items: &[Item],
    loaded: &Loaded,
    add_flags: bool,
) {
    out.extend_from_slice(b"* ");
    wire::number(out, u64::from(seq));
    out.extend_from_slice(b" FETCH (");
    let start = out.len();
    let sep = |out: &mut Vec<u8>| {
        if out.len() > start {
            out.push(b' ');
        }
    };
    for item in items {
        sep(out);
        match item {
            Item::Flags => {
                out.extend_from_slice(b"FLAGS ");
                wire::flag_list(out, &m.flags, recent);
            }
            Item::Uid => {
                out.extend_from_slice(b"UID ");
                wire::number(out, u64::from(m.uid));
            }
            Item::InternalDate => {
                out.extend_from_slice(b"INTERNALDATE ");
                wire::date_time(out, m.internal_date);
            }
            Item::Size => {
                out.extend_from_slice(b"RFC822.SIZE ");
                wire::number(out, u64::from(m.size));
            }
            Item::ModSeq => {
                out.extend_from_slice(b"MODSEQ (");
                wire::number(out, m.modseq);
                out.push(b')');
            }
            Item::Envelope => {
                out.extend_from_slice(b"ENVELOPE ");
                match &loaded.summary {
                    Some(s) => out.extend_from_slice(&s.envelope),
                    None => out.extend_from_slice(b"(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"),
                }
            }
            Item::Body | Item::BodyStructure => {
                let ext = matches!(item, Item::BodyStructure);
                out.extend_from_slice(if ext { b"BODYSTRUCTURE " } else { b"BODY " });
                match loaded.summary.as_ref().and_then(|s| s.structure.get()) {
                    Some(st) => {
                        out.extend_from_slice(if ext { &st.bodystructure } else { &st.body })
                    }
                    None => out.extend_from_slice(
                        b"(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0)",
                    ),
                }
            }
            Item::Section {
                label,
                section,
                partial,
                ..
            } => {
                out.extend_from_slice(label);
                out.push(b' ');
                let raw = loaded.raw.as_deref().unwrap_or_default();
                let data = mime::section(raw, section.as_ref()).unwrap_or_default();
                let data: &[u8] = match partial {
                    Some((origin, len)) => {
                        let o = (*origin as usize).min(data.len());
                        let e = o.saturating_add(*len as usize).min(data.len());
                        &data[o..e]
                    }
                    None => &data,
                };
                wire::literal(out, data);
            }
        }
    }
    if add_flags {
        sep(out);
        out.extend_from_slice(b"FLAGS ");
        wire::flag_list(out, &m.flags, recent);
    }
    out.extend_from_slice(b")\r\n");
}
