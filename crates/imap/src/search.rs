//! SEARCH evaluation (RFC 3501 §6.4.4): a pure function of one message's metadata, its
//! cached header summary and, for BODY/TEXT/HEADER, its raw bytes.

use imap_codec::imap_types::core::AString;
use imap_codec::imap_types::datetime::NaiveDate;
use imap_codec::imap_types::search::SearchKey;
use mailward_mailstore::MessageMeta;
use std::cell::OnceCell;

use crate::mime::{self, Summary};
use crate::seqset;

/// What the keys need beyond the metadata.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Needs {
    pub summary: bool,
    pub raw: bool,
}

/// What a set of keys needs loaded.
pub fn needs<'a>(keys: impl IntoIterator<Item = &'a SearchKey<'a>>) -> Needs {
    let mut n = Needs::default();
    for k in keys {
        add_needs(k, &mut n);
    }
    n
}

fn add_needs(k: &SearchKey<'_>, n: &mut Needs) {
    match k {
        SearchKey::And(keys) => keys.as_ref().iter().for_each(|k| add_needs(k, n)),
        SearchKey::Not(k) => add_needs(k, n),
        SearchKey::Or(a, b) => {
            add_needs(a, n);
            add_needs(b, n);
        }
        SearchKey::From(_)
        | SearchKey::To(_)
        | SearchKey::Cc(_)
        | SearchKey::Bcc(_)
        | SearchKey::Subject(_)
        | SearchKey::SentBefore(_)
        | SearchKey::SentOn(_)
        | SearchKey::SentSince(_) => n.summary = true,
        SearchKey::Body(_) | SearchKey::Text(_) | SearchKey::Header(..) => n.raw = true,
        _ => {}
    }
}

/// One message as SEARCH sees it.
#[derive(Debug)]
pub struct Candidate<'a> {
    pub seq: u32,
    pub meta: &'a MessageMeta,
    pub recent: bool,
    pub summary: Option<&'a Summary>,
    pub raw: Option<&'a [u8]>,
    body_text: OnceCell<String>,
    header_text: OnceCell<String>,
}

impl<'a> Candidate<'a> {
    pub fn new(
        seq: u32,
        meta: &'a MessageMeta,
        recent: bool,
        summary: Option<&'a Summary>,
        raw: Option<&'a [u8]>,
    ) -> Candidate<'a> {
        Candidate {
            seq,
            meta,
            recent,
            summary,
            raw,
            body_text: OnceCell::new(),
            header_text: OnceCell::new(),
        }
    }

    fn body_text(&self) -> &str {
        self.body_text
            .get_or_init(|| self.raw.map(mime::body_text).unwrap_or_default())
    }

    fn header_text(&self) -> &str {
        self.header_text.get_or_init(|| {
            self.raw
                .map(|r| String::from_utf8_lossy(&r[..mime::header_len(r)]).to_lowercase())
                .unwrap_or_default()
        })
    }
}

/// The mailbox-wide facts keys refer to.
#[derive(Debug, Clone, Copy)]
pub struct Scope {
    /// Number of messages (`*` in a sequence set).
    pub count: u32,
    /// Highest UID (`*` in a UID set).
    pub max_uid: u32,
}

fn needle(s: &AString<'_>) -> String {
    String::from_utf8_lossy(s.as_ref()).to_lowercase()
}

fn date(d: &NaiveDate) -> time::Date {
    use chrono::Datelike;
    let d = d.as_ref();
    time::Month::try_from(d.month() as u8)
        .ok()
        .and_then(|m| time::Date::from_calendar_date(d.year(), m, d.day() as u8).ok())
        .unwrap_or(time::Date::MIN)
}

/// Whether the message matches all `keys`.
pub fn matches_all<'k>(
    keys: impl IntoIterator<Item = &'k SearchKey<'k>>,
    m: &Candidate<'_>,
    scope: Scope,
) -> bool {
    keys.into_iter().all(|k| matches(k, m, scope))
}

/// Whether the message matches `key`.
pub fn matches(key: &SearchKey<'_>, m: &Candidate<'_>, scope: Scope) -> bool {
    let f = &m.meta.flags;
    let summary_has = |pick: fn(&Summary) -> &str, s: &AString<'_>| {
        m.summary.is_some_and(|sum| pick(sum).contains(&needle(s)))
    };
    let internal = m.meta.internal_date.date();
    match key {
        SearchKey::And(keys) => keys.as_ref().iter().all(|k| matches(k, m, scope)),
        SearchKey::Or(a, b) => matches(a, m, scope) || matches(b, m, scope),
        SearchKey::Not(k) => !matches(k, m, scope),
        SearchKey::SequenceSet(set) => seqset::contains(set, m.seq, scope.count),
        SearchKey::Uid(set) => seqset::contains(set, m.meta.uid, scope.max_uid),
        SearchKey::All => true,
        SearchKey::Answered => f.answered,
        SearchKey::Unanswered => !f.answered,
        SearchKey::Deleted => f.deleted,
        SearchKey::Undeleted => !f.deleted,
        SearchKey::Draft => f.draft,
        SearchKey::Undraft => !f.draft,
        SearchKey::Flagged => f.flagged,
        SearchKey::Unflagged => !f.flagged,
        SearchKey::Seen => f.seen,
        SearchKey::Unseen => !f.seen,
        SearchKey::Recent => m.recent,
        SearchKey::New => m.recent && !f.seen,
        SearchKey::Old => !m.recent,
        SearchKey::Keyword(k) => f.keywords.iter().any(|x| x.eq_ignore_ascii_case(k.inner())),
        SearchKey::Unkeyword(k) => !f.keywords.iter().any(|x| x.eq_ignore_ascii_case(k.inner())),
        SearchKey::Larger(n) => m.meta.size > *n,
        SearchKey::Smaller(n) => m.meta.size < *n,
        SearchKey::Before(d) => internal < date(d),
        SearchKey::On(d) => internal == date(d),
        SearchKey::Since(d) => internal >= date(d),
        SearchKey::SentBefore(d) => m.summary.and_then(|s| s.sent).is_some_and(|s| s < date(d)),
        SearchKey::SentOn(d) => m.summary.and_then(|s| s.sent).is_some_and(|s| s == date(d)),
        SearchKey::SentSince(d) => m.summary.and_then(|s| s.sent).is_some_and(|s| s >= date(d)),
        SearchKey::From(s) => summary_has(|x| &x.from, s),
        SearchKey::To(s) => summary_has(|x| &x.to, s),
        SearchKey::Cc(s) => summary_has(|x| &x.cc, s),
        SearchKey::Bcc(s) => summary_has(|x| &x.bcc, s),
        SearchKey::Subject(s) => summary_has(|x| &x.subject, s),
        SearchKey::Body(s) => m.body_text().contains(&needle(s)),
        SearchKey::Text(s) => {
            let n = needle(s);
            m.header_text().contains(&n) || m.body_text().contains(&n)
        }
        SearchKey::Header(name, value) => m
            .raw
            .is_some_and(|raw| header_matches(raw, name.as_ref(), &needle(value))),
        SearchKey::ModSequence { modseq, .. } => m.meta.modseq >= *modseq,
        #[allow(unreachable_patterns)]
        _ => false,
    }
}

/// Whether a header field named `name` exists whose (unfolded) value contains `value`.
fn header_matches(raw: &[u8], name: &[u8], value: &str) -> bool {
    let header = &raw[..mime::header_len(raw)];
    let mut lines = header.split(|&b| b == b'\n').peekable();
    while let Some(line) = lines.next() {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        if !line[..colon].trim_ascii_end().eq_ignore_ascii_case(name) {
            continue;
        }
        let mut v = String::from_utf8_lossy(&line[colon + 1..]).into_owned();
        while let Some(next) = lines.peek() {
            if matches!(next.first(), Some(b' ' | b'\t')) {
                v.push_str(&String::from_utf8_lossy(next));
                lines.next();
            } else {
                break;
            }
        }
        if value.is_empty() || v.to_lowercase().contains(value) {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests;
