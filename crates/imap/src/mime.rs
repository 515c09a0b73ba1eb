//! Message analysis for FETCH and SEARCH: ENVELOPE (from the header only), BODY and
//! BODYSTRUCTURE (from the MIME tree, mail-parser), `BODY[section]` extraction with
//! `HEADER.FIELDS`, and the decoded header fields SEARCH compares against.
//!
//! Rendered ENVELOPE/BODYSTRUCTURE text is IMAP wire syntax, ready to be cached and copied
//! into responses.
//!
//! Strings are sent as the message has them (RFC 2047 encoded words stay encoded, as RFC
//! 3501 §7.4.2 expects clients to decode them), except where mail-parser only gives decoded
//! text (address display names, RFC 2231 parameter values): non-ASCII text is then sent
//! re-encoded as a UTF-8 encoded word, so responses stay 7-bit.

use base64::Engine as _;
use imap_codec::imap_types::fetch::Section;
use mail_parser::{
    Address, HeaderName, HeaderValue, Message, MessageParser, MessagePart, PartType,
};
use std::borrow::Cow;
use std::sync::OnceLock;

use crate::wire;

/// What ENVELOPE and the header-based SEARCH keys need, computed from the header alone.
#[derive(Debug)]
pub struct Summary {
    /// The ENVELOPE structure in wire syntax, `(...)`.
    pub envelope: Box<[u8]>,
    /// Lower-cased decoded address text (names and addresses) of each field.
    pub from: Box<str>,
    pub to: Box<str>,
    pub cc: Box<str>,
    pub bcc: Box<str>,
    /// Lower-cased decoded subject.
    pub subject: Box<str>,
    /// The `Date:` header's calendar date (SENTBEFORE/SENTON/SENTSINCE ignore time and
    /// zone, RFC 3501 §6.4.4).
    pub sent: Option<time::Date>,
    /// BODY and BODYSTRUCTURE, filled on first use (needs the whole message).
    pub structure: OnceLock<Structure>,
}

/// BODY (non-extensible) and BODYSTRUCTURE in wire syntax.
#[derive(Debug)]
pub struct Structure {
    pub body: Box<[u8]>,
    pub bodystructure: Box<[u8]>,
}

impl Summary {
    /// Approximate heap size, for the cache's byte budget.
    pub fn weight(&self) -> usize {
        let s = self
            .structure
            .get()
            .map_or(0, |s| s.body.len() + s.bodystructure.len());
        std::mem::size_of::<Summary>()
            + self.envelope.len()
            + self.from.len()
            + self.to.len()
            + self.cc.len()
            + self.bcc.len()
            + self.subject.len()
            + s
    }
}

fn parser() -> &'static MessageParser {
    static P: OnceLock<MessageParser> = OnceLock::new();
    P.get_or_init(MessageParser::new)
}

/// Parses the header of `raw` (never the body).
pub fn summarize(raw: &[u8]) -> Summary {
    let header_end = header_len(raw);
    let header = &raw[..header_end];
    let parsed = parser().parse_headers(header);
    let mut envelope = Vec::with_capacity(256);
    match &parsed {
        Some(m) => write_envelope(&mut envelope, m, header),
        None => envelope.extend_from_slice(b"(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"),
    }
    let text = |a: Option<&Address>| -> Box<str> { address_text(a).into_boxed_str() };
    let (from, to, cc, bcc, subject, sent) = match &parsed {
        Some(m) => (
            text(m.from()),
            text(m.to()),
            text(m.cc()),
            text(m.bcc()),
            m.subject()
                .unwrap_or_default()
                .to_lowercase()
                .into_boxed_str(),
            m.date().and_then(|d| {
                let month = time::Month::try_from(d.month).ok()?;
                time::Date::from_calendar_date(i32::from(d.year), month, d.day).ok()
            }),
        ),
        None => Default::default(),
    };
    Summary {
        envelope: envelope.into_boxed_slice(),
        from,
        to,
        cc,
        bcc,
        subject,
        sent,
        structure: OnceLock::new(),
    }
}

/// BODY and BODYSTRUCTURE of the whole message.
pub fn structure(raw: &[u8]) -> Structure {
    let mut body = Vec::with_capacity(256);
    let mut bodystructure = Vec::with_capacity(512);
    match parser().parse(raw) {
        Some(m) if !m.parts.is_empty() => {
            write_body(&mut body, &m, raw, 0, false, 0);
            write_body(&mut bodystructure, &m, raw, 0, true, 0);
        }
        _ => {
            // No header at all: the whole thing is a plain text body.
            let lines = count_lines(raw);
            for (out, ext) in [(&mut body, false), (&mut bodystructure, true)] {
                out.extend_from_slice(
                    b"(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" ",
                );
                wire::number(out, raw.len() as u64);
                out.push(b' ');
                wire::number(out, lines);
                if ext {
                    out.extend_from_slice(b" NIL NIL NIL NIL");
                }
                out.push(b')');
            }
        }
    }
    Structure {
        body: body.into_boxed_slice(),
        bodystructure: bodystructure.into_boxed_slice(),
    }
}

/// Length of the header section including the blank line that ends it (the whole message
/// when there is no blank line).
pub fn header_len(raw: &[u8]) -> usize {
    let mut i = 0;
    // An empty first line means an empty header.
    if raw.starts_with(b"\r\n") {
        return 2;
    }
    if raw.starts_with(b"\n") {
        return 1;
    }
    while let Some(p) = raw[i..].iter().position(|&b| b == b'\n') {
        let next = i + p + 1;
        if raw[next..].starts_with(b"\r\n") {
            return next + 2;
        }
        if raw[next..].starts_with(b"\n") {
            return next + 1;
        }
        i = next;
    }
    raw.len()
}

// ---- ENVELOPE ---------------------------------------------------------------------------

fn write_envelope(out: &mut Vec<u8>, m: &Message<'_>, raw: &[u8]) {
    let root = &m.parts[0];
    out.push(b'(');
    raw_header(out, raw, root, &HeaderName::Date);
    out.push(b' ');
    raw_header(out, raw, root, &HeaderName::Subject);
    out.push(b' ');
    let from = header_value(root, &HeaderName::From).and_then(HeaderValue::as_address);
    address_list(out, from);
    out.push(b' ');
    let sender = header_value(root, &HeaderName::Sender).and_then(HeaderValue::as_address);
    address_list(out, sender.or(from));
    out.push(b' ');
    let reply_to = header_value(root, &HeaderName::ReplyTo).and_then(HeaderValue::as_address);
    address_list(out, reply_to.or(from));
    for name in [HeaderName::To, HeaderName::Cc, HeaderName::Bcc] {
        out.push(b' ');
        address_list(
            out,
            header_value(root, &name).and_then(HeaderValue::as_address),
        );
    }
    out.push(b' ');
    raw_header(out, raw, root, &HeaderName::InReplyTo);
    out.push(b' ');
    raw_header(out, raw, root, &HeaderName::MessageId);
    out.push(b')');
}

fn header_value<'a>(
    part: &'a MessagePart<'_>,
    name: &HeaderName<'_>,
) -> Option<&'a HeaderValue<'a>> {
    part.headers
        .iter()
        .find(|h| &h.name == name)
        .map(|h| &h.value)
}

/// The raw (unfolded, trimmed) value of the first `name` header of `part`.
fn raw_value<'r>(
    raw: &'r [u8],
    part: &MessagePart<'_>,
    name: &HeaderName<'_>,
) -> Option<Cow<'r, [u8]>> {
    let h = part.headers.iter().find(|h| &h.name == name)?;
    let v = raw.get(h.offset_start as usize..h.offset_end as usize)?;
    Some(unfold(v))
}

fn raw_header(out: &mut Vec<u8>, raw: &[u8], part: &MessagePart<'_>, name: &HeaderName<'_>) {
    match raw_value(raw, part, name) {
        Some(v) if !v.is_empty() => wire::string(out, &v),
        _ => out.extend_from_slice(b"NIL"),
    }
}

/// Removes CR LF line breaks of a folded header value and trims surrounding white space.
fn unfold(v: &[u8]) -> Cow<'_, [u8]> {
    let v = v.trim_ascii();
    if v.iter().any(|&b| b == b'\r' || b == b'\n') {
        Cow::Owned(
            v.iter()
                .copied()
                .filter(|&b| b != b'\r' && b != b'\n')
                .collect(),
        )
    } else {
        Cow::Borrowed(v)
    }
}

fn address_list(out: &mut Vec<u8>, a: Option<&Address<'_>>) {
    let Some(a) = a else {
        out.extend_from_slice(b"NIL");
        return;
    };
    let start = out.len();
    out.push(b'(');
    match a {
        Address::List(list) => {
            for addr in list {
                address(out, addr.name(), addr.address());
            }
        }
        Address::Group(groups) => {
            for g in groups {
                match &g.name {
                    Some(name) => {
                        // RFC 3501 §7.4.2: group start (NIL NIL name NIL), members, end.
                        out.extend_from_slice(b"(NIL NIL ");
                        wire::string(out, name.as_bytes());
                        out.extend_from_slice(b" NIL)");
                        for addr in &g.addresses {
                            address(out, addr.name(), addr.address());
                        }
                        out.extend_from_slice(b"(NIL NIL NIL NIL)");
                    }
                    None => {
                        for addr in &g.addresses {
                            address(out, addr.name(), addr.address());
                        }
                    }
                }
            }
        }
    }
    if out.len() == start + 1 {
        out.truncate(start);
        out.extend_from_slice(b"NIL");
    } else {
        out.push(b')');
    }
}

fn address(out: &mut Vec<u8>, name: Option<&str>, addr: Option<&str>) {
    let Some(addr) = addr.filter(|a| !a.is_empty()) else {
        return;
    };
    let (mailbox, host) = match addr.rfind('@') {
        Some(i) => (&addr[..i], &addr[i + 1..]),
        None => (addr, "MISSING_DOMAIN"),
    };
    out.push(b'(');
    match name.filter(|n| !n.is_empty()) {
        Some(n) => wire::string(out, &encode_word(n)),
        None => out.extend_from_slice(b"NIL"),
    }
    out.extend_from_slice(b" NIL ");
    wire::string(out, mailbox.as_bytes());
    out.push(b' ');
    wire::string(out, host.as_bytes());
    out.push(b')');
}

/// ASCII text as is; anything else as one RFC 2047 `B` encoded word in UTF-8.
fn encode_word(s: &str) -> Cow<'_, [u8]> {
    if s.is_ascii() && !s.contains("=?") {
        Cow::Borrowed(s.as_bytes())
    } else {
        let b64 = base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
        Cow::Owned(format!("=?utf-8?b?{b64}?=").into_bytes())
    }
}

/// `name <address>` pairs, lower-cased, for SEARCH FROM/TO/CC/BCC.
fn address_text(a: Option<&Address<'_>>) -> String {
    let mut s = String::new();
    if let Some(a) = a {
        for addr in a.iter() {
            if !s.is_empty() {
                s.push_str(", ");
            }
            if let Some(n) = addr.name() {
                s.push_str(n);
                s.push(' ');
            }
            if let Some(x) = addr.address() {
                s.push('<');
                s.push_str(x);
                s.push('>');
            }
        }
        if let Address::Group(groups) = a {
            for g in groups {
                if let Some(n) = &g.name {
                    s.push(' ');
                    s.push_str(n);
                }
            }
        }
    }
    s.to_lowercase()
}

// ---- BODY / BODYSTRUCTURE ---------------------------------------------------------------

/// Deepest MIME nesting rendered (mail-parser stops earlier in practice).
const MAX_DEPTH: usize = 32;

/// The bytes a nested message's offsets refer to: mail-parser keeps the offsets of an
/// encapsulated message absolute in the outer message unless it had to decode it first
/// (a base64 or quoted-printable message/rfc822 part), when they are relative to the
/// decoded bytes.
fn base_of<'a>(outer: &'a [u8], nested: &'a Message<'_>) -> &'a [u8] {
    let inner = nested.raw_message();
    if outer.as_ptr_range().contains(&inner.as_ptr()) {
        outer
    } else {
        inner
    }
}

fn write_body(out: &mut Vec<u8>, m: &Message<'_>, raw: &[u8], idx: usize, ext: bool, depth: usize) {
    let Some(part) = m.parts.get(idx) else {
        empty_text_part(out, ext);
        return;
    };
    let ct = header_value(part, &HeaderName::ContentType).and_then(HeaderValue::as_content_type);
    match &part.body {
        PartType::Multipart(children) if depth < MAX_DEPTH => {
            out.push(b'(');
            if children.is_empty() {
                empty_text_part(out, ext);
            }
            for &c in children {
                write_body(out, m, raw, c as usize, ext, depth + 1);
            }
            out.push(b' ');
            let subtype = ct.and_then(|c| c.subtype()).unwrap_or("mixed");
            wire::string(out, subtype.as_bytes());
            if ext {
                out.push(b' ');
                params(out, ct.and_then(|c| c.attributes()));
                out.push(b' ');
                extension_tail(out, raw, part);
            }
            out.push(b')');
        }
        body => {
            let (ctype, subtype) = match ct {
                Some(c) => (c.ctype(), c.subtype().unwrap_or("")),
                None => ("text", "plain"),
            };
            let nested = match body {
                PartType::Message(nested)
                    if depth < MAX_DEPTH
                        && ctype.eq_ignore_ascii_case("message")
                        && !nested.parts.is_empty() =>
                {
                    Some(nested)
                }
                _ => None,
            };
            // message/rfc822 without a parseable message, or a part without a usable
            // type, is described as a plain attachment, keeping the grammar valid.
            let unparsed_message = nested.is_none()
                && ctype.eq_ignore_ascii_case("message")
                && subtype.eq_ignore_ascii_case("rfc822");
            let (ctype, subtype) = if unparsed_message || ctype.is_empty() || subtype.is_empty() {
                ("application", "octet-stream")
            } else {
                (ctype, subtype)
            };
            let is_text = ctype.eq_ignore_ascii_case("text");
            out.push(b'(');
            wire::string(out, ctype.as_bytes());
            out.push(b' ');
            wire::string(out, subtype.as_bytes());
            out.push(b' ');
            match ct.and_then(|c| c.attributes()) {
                Some(a) if !a.is_empty() => params(out, Some(a)),
                _ if is_text => out.extend_from_slice(b"(\"charset\" \"us-ascii\")"),
                _ => out.extend_from_slice(b"NIL"),
            }
            out.push(b' ');
            raw_header(out, raw, part, &HeaderName::ContentId);
            out.push(b' ');
            raw_header(out, raw, part, &HeaderName::ContentDescription);
            out.push(b' ');
            match raw_value(raw, part, &HeaderName::ContentTransferEncoding) {
                Some(v) if !v.is_empty() => wire::string(out, &v),
                _ => out.extend_from_slice(b"\"7bit\""),
            }
            out.push(b' ');
            let body_bytes = raw
                .get(part.offset_body as usize..part.offset_end as usize)
                .unwrap_or_default();
            wire::number(out, body_bytes.len() as u64);
            if let Some(nested) = nested {
                let base = base_of(raw, nested);
                out.push(b' ');
                write_envelope(out, nested, base);
                out.push(b' ');
                write_body(out, nested, base, 0, ext, depth + 1);
                out.push(b' ');
                wire::number(out, count_lines(body_bytes));
            } else if is_text {
                out.push(b' ');
                wire::number(out, count_lines(body_bytes));
            }
            if ext {
                out.push(b' ');
                raw_header(out, raw, part, &HeaderName::ContentMd5);
                out.push(b' ');
                extension_tail(out, raw, part);
            }
            out.push(b')');
        }
    }
}

fn empty_text_part(out: &mut Vec<u8>, ext: bool) {
    out.extend_from_slice(b"(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0");
    if ext {
        out.extend_from_slice(b" NIL NIL NIL NIL");
    }
    out.push(b')');
}

/// `body-fld-dsp SP body-fld-lang SP body-fld-loc`.
fn extension_tail(out: &mut Vec<u8>, raw: &[u8], part: &MessagePart<'_>) {
    match header_value(part, &HeaderName::ContentDisposition).and_then(HeaderValue::as_content_type)
    {
        Some(d) if !d.ctype().is_empty() => {
            out.push(b'(');
            wire::string(out, d.ctype().as_bytes());
            out.push(b' ');
            params(out, d.attributes());
            out.push(b')');
        }
        _ => out.extend_from_slice(b"NIL"),
    }
    out.push(b' ');
    match raw_value(raw, part, &HeaderName::ContentLanguage) {
        Some(v) if !v.is_empty() => {
            let langs: Vec<&[u8]> = v
                .split(|&b| b == b',')
                .map(<[u8]>::trim_ascii)
                .filter(|l| !l.is_empty())
                .collect();
            if langs.len() == 1 {
                wire::string(out, langs[0]);
            } else {
                out.push(b'(');
                for (i, l) in langs.iter().enumerate() {
                    if i > 0 {
                        out.push(b' ');
                    }
                    wire::string(out, l);
                }
                out.push(b')');
            }
        }
        _ => out.extend_from_slice(b"NIL"),
    }
    out.push(b' ');
    raw_header(out, raw, part, &HeaderName::ContentLocation);
}

fn params(out: &mut Vec<u8>, attrs: Option<&[mail_parser::Attribute<'_>]>) {
    match attrs {
        Some(a) if !a.is_empty() => {
            out.push(b'(');
            for (i, attr) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                wire::string(out, attr.name.as_bytes());
                out.push(b' ');
                wire::string(out, &encode_word(&attr.value));
            }
            out.push(b')');
        }
        _ => out.extend_from_slice(b"NIL"),
    }
}

/// Text lines of a body: line breaks, plus one for an unterminated last line.
pub fn count_lines(body: &[u8]) -> u64 {
    let n = body.iter().filter(|&&b| b == b'\n').count() as u64;
    if body.last().is_some_and(|&b| b != b'\n') {
        n + 1
    } else {
        n
    }
}

// ---- BODY[section] ----------------------------------------------------------------------

/// The bytes of `BODY[section]` (`None` section = the whole message). `None` when the
/// section does not exist (the caller answers with an empty string, as other servers do).
pub fn section<'r>(raw: &'r [u8], section: Option<&Section<'_>>) -> Option<Cow<'r, [u8]>> {
    let Some(section) = section else {
        return Some(Cow::Borrowed(raw));
    };
    let parsed = parser().parse(raw);
    let Some(m) = parsed.as_ref().filter(|m| !m.parts.is_empty()) else {
        // Unparseable: only the top-level sections make sense.
        let h = header_len(raw);
        return match section {
            Section::Header(None) => Some(Cow::Borrowed(&raw[..h])),
            Section::Text(None) => Some(Cow::Borrowed(&raw[h..])),
            Section::Part(p) if p.0.as_ref().len() == 1 && p.0.as_ref()[0].get() == 1 => {
                Some(Cow::Borrowed(&raw[h..]))
            }
            _ => None,
        };
    };
    let owned = |c: Cow<'_, [u8]>| Cow::<'r, [u8]>::Owned(c.into_owned());
    let top = header_of(m, raw, raw.len());
    let out = match section {
        Section::Header(None) => top.map(|(h, _)| h.to_vec()),
        Section::Text(None) => top.map(|(_, t)| t.to_vec()),
        Section::HeaderFields(None, names) => {
            top.map(|(h, _)| filter_fields(h, names.as_ref(), true).into_owned())
        }
        Section::HeaderFieldsNot(None, names) => {
            top.map(|(h, _)| filter_fields(h, names.as_ref(), false).into_owned())
        }
        Section::Part(p) => resolve(m, raw, p.0.as_ref()).map(|t| t.body().to_vec()),
        Section::Mime(p) => resolve(m, raw, p.0.as_ref()).map(|t| t.mime().to_vec()),
        Section::Header(Some(p)) => resolve(m, raw, p.0.as_ref())
            .and_then(|t| t.encapsulated())
            .map(|(h, _)| h.to_vec()),
        Section::Text(Some(p)) => resolve(m, raw, p.0.as_ref())
            .and_then(|t| t.encapsulated())
            .map(|(_, t)| t.to_vec()),
        Section::HeaderFields(Some(p), names) => resolve(m, raw, p.0.as_ref())
            .and_then(|t| t.encapsulated())
            .map(|(h, _)| filter_fields(h, names.as_ref(), true).into_owned()),
        Section::HeaderFieldsNot(Some(p), names) => resolve(m, raw, p.0.as_ref())
            .and_then(|t| t.encapsulated())
            .map(|(h, _)| filter_fields(h, names.as_ref(), false).into_owned()),
    };
    out.map(|v| owned(Cow::Owned(v)))
}

/// The header (with its blank line) and text of message `m` (offsets into `raw`), whose
/// text ends at `end`.
fn header_of<'m>(m: &Message<'_>, raw: &'m [u8], end: usize) -> Option<(&'m [u8], &'m [u8])> {
    let root = m.parts.first()?;
    let hs = (root.offset_header as usize).min(raw.len());
    let he = (root.offset_body as usize).clamp(hs, raw.len());
    let end = end.clamp(he, raw.len());
    Some((&raw[hs..he], &raw[he..end]))
}

/// A part found by its section number.
struct Target<'m, 'x> {
    msg: &'m Message<'x>,
    /// What the offsets of `msg`'s parts refer to.
    raw: &'m [u8],
    idx: usize,
}

impl<'m, 'x> Target<'m, 'x> {
    fn part(&self) -> &'m MessagePart<'x> {
        &self.msg.parts[self.idx]
    }

    fn body(&self) -> &'m [u8] {
        let p = self.part();
        self.raw
            .get(p.offset_body as usize..p.offset_end as usize)
            .unwrap_or_default()
    }

    fn mime(&self) -> &'m [u8] {
        let p = self.part();
        self.raw
            .get(p.offset_header as usize..p.offset_body as usize)
            .unwrap_or_default()
    }

    /// For a message/rfc822 part: the encapsulated message's header and text.
    fn encapsulated(&self) -> Option<(&'m [u8], &'m [u8])> {
        let PartType::Message(nested) = &self.part().body else {
            return None;
        };
        let base = base_of(self.raw, nested);
        let end = if std::ptr::eq(base, self.raw) {
            self.part().offset_end as usize
        } else {
            base.len()
        };
        header_of(nested, base, end)
    }
}

/// Finds a part by its number path (RFC 3501 §6.4.5).
fn resolve<'m, 'x>(
    m: &'m Message<'x>,
    raw: &'m [u8],
    path: &[std::num::NonZeroU32],
) -> Option<Target<'m, 'x>> {
    let mut msg = m;
    let mut raw = raw;
    let mut cur: Option<usize> = None; // None: at the message level
    for n in path {
        let n = n.get() as usize;
        let here = match cur {
            None => 0,
            Some(i) => match &msg.parts[i].body {
                PartType::Multipart(children) => {
                    let &c = children.get(n - 1)?;
                    cur = Some(c as usize);
                    continue;
                }
                PartType::Message(nested) if !nested.parts.is_empty() => {
                    raw = base_of(raw, nested);
                    msg = nested;
                    0
                }
                _ => return None,
            },
        };
        // At a message level: its root part.
        match &msg.parts.get(here)?.body {
            PartType::Multipart(children) => {
                let &c = children.get(n - 1)?;
                cur = Some(c as usize);
            }
            _ if n == 1 => cur = Some(here),
            _ => return None,
        }
    }
    Some(Target {
        msg,
        raw,
        idx: cur?,
    })
}

/// The header lines whose names are (or, with `include` false, are not) in `names`, plus
/// the terminating blank line.
pub fn filter_fields<'h>(
    header: &'h [u8],
    names: &[imap_codec::imap_types::core::AString<'_>],
    include: bool,
) -> Cow<'h, [u8]> {
    let wanted: Vec<&[u8]> = names.iter().map(|n| n.as_ref()).collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < header.len() {
        // One field: its first line and continuation lines.
        let mut end = i;
        loop {
            match header[end..].iter().position(|&b| b == b'\n') {
                Some(p) => end += p + 1,
                None => {
                    end = header.len();
                    break;
                }
            }
            if !matches!(header.get(end), Some(b' ' | b'\t')) {
                break;
            }
        }
        let field = &header[i..end];
        i = end;
        if field == b"\r\n" || field == b"\n" {
            break;
        }
        let name = field
            .iter()
            .position(|&b| b == b':')
            .map(|c| field[..c].trim_ascii_end());
        let Some(name) = name else { continue };
        let listed = wanted.iter().any(|w| w.eq_ignore_ascii_case(name));
        if listed == include {
            out.extend_from_slice(field);
            if !field.ends_with(b"\n") {
                out.extend_from_slice(b"\r\n");
            }
        }
    }
    out.extend_from_slice(b"\r\n");
    Cow::Owned(out)
}

/// Decoded text of the message for SEARCH BODY/TEXT: every text part, lower-cased.
pub fn body_text(raw: &[u8]) -> String {
    let mut s = String::new();
    if let Some(m) = parser().parse(raw) {
        collect_text(&m, &mut s, 0);
    }
    s.to_lowercase()
}

fn collect_text(m: &Message<'_>, s: &mut String, depth: usize) {
    for part in &m.parts {
        match &part.body {
            PartType::Text(t) | PartType::Html(t) => {
                s.push_str(t);
                s.push('\n');
            }
            PartType::Message(nested) if depth < 4 => collect_text(nested, s, depth + 1),
            _ => {}
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
